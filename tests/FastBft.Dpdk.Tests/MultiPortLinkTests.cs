using System.Net;
using FastBft.Transport;
using FastBft.Transport.Dpdk;

namespace FastBft.Dpdk.Tests;

/// <summary>
/// One <see cref="DpdkLink"/> polling two net_memif ports (the shape of a DPDK replica in a cell): each
/// configured neighbour is reached through its own port, and a source learned on a port is answered on
/// that port. Three links in this process: A (two memif servers) and B, C (one memif client each).
/// </summary>
[Collection("dpdk")]
public class MultiPortLinkTests(ITestOutputHelper output)
{
    private const string MacA = "02:fb:0a:00:00:01", MacB = "02:fb:0a:00:00:02", MacC = "02:fb:0a:00:00:03";

    private sealed class Inbox : IDatagramSink
    {
        public readonly List<(int Peer, string Text)> Items = new();
        public void OnDatagram(int peer, ReadOnlySpan<byte> datagram) => Items.Add((peer, System.Text.Encoding.ASCII.GetString(datagram)));
    }

    private static DpdkOptions Options(string device, string mac, string ip, int port) => new()
    {
        Device = device, LocalMac = mac, LocalIp = ip, LocalPort = port,
        MempoolSize = 2048, RxDescriptors = 256, TxDescriptors = 256,
    };

    /// <summary>Sends from <paramref name="from"/> until <paramref name="to"/> has received <paramref name="text"/> (memif may drop the first frames after connecting).</summary>
    private static (int Peer, string Text) Deliver(DpdkLink from, int handle, DpdkLink to, Inbox inbox, string text)
    {
        for (int i = 0; i < 400; i++)
        {
            from.SendDatagram(handle, System.Text.Encoding.ASCII.GetBytes(text));
            from.FlushDatagrams();
            Thread.Sleep(5);
            inbox.Items.Clear();
            while (to.ReceiveDatagrams(inbox, 0) > 0) { }
            var hit = inbox.Items.FirstOrDefault(x => x.Text == text);
            if (hit.Text is not null) return hit;
        }
        throw new Xunit.Sdk.XunitException($"'{text}' never arrived");
    }

    [Fact]
    public void NeighboursAreReachedThroughTheirPortAndLearnedSourcesAreAnsweredOnTheirs()
    {
        if (!DpdkGate.Available(output)) return;
        int k = Environment.ProcessId % 1000 * 10 + 5000;
        string s1 = $"/tmp/fbmp-{Environment.ProcessId}-1.sock", s2 = $"/tmp/fbmp-{Environment.ProcessId}-2.sock";
        File.Delete(s1);
        File.Delete(s2);
        var a = Options($"net_memif{k},role=server,socket={s1}", MacA, "10.252.0.1", 7000);
        a.AdditionalDevices.Add($"net_memif{k + 1},role=server,socket={s2}");
        a.Neighbors.Add(new DpdkNeighbor("10.252.0.2", 7000, MacB, 1) { Via = 0 });
        a.Neighbors.Add(new DpdkNeighbor("10.252.0.3", 7000, MacC, 2) { Via = 1 });
        using var linkA = new DpdkLink(a);
        var b = Options($"net_memif{k + 2},role=client,socket={s1}", MacB, "10.252.0.2", 7000);
        b.Neighbors.Add(new DpdkNeighbor("10.252.0.1", 7000, MacA, 0));
        using var linkB = new DpdkLink(b);
        // C uses a port A does not know: A learns it on its second port.
        var c = Options($"net_memif{k + 3},role=client,socket={s2}", MacC, "10.252.0.3", 7099);
        c.Neighbors.Add(new DpdkNeighbor("10.252.0.1", 7000, MacA, 0));
        using var linkC = new DpdkLink(c);

        Assert.Equal(2, linkA.PortCount);
        Assert.True(linkA.WaitForLinkUp(TimeSpan.FromSeconds(10)), "A's two ports not up");
        Assert.True(linkA.IsPortUp(0) && linkA.IsPortUp(1));
        Assert.True(linkB.WaitForLinkUp(TimeSpan.FromSeconds(10)) && linkC.WaitForLinkUp(TimeSpan.FromSeconds(10)));

        var inboxA = new Inbox();
        var inboxB = new Inbox();
        var inboxC = new Inbox();
        // A → B through port 0.
        var atB = Deliver(linkA, 0, linkB, inboxB, "to-b");
        Assert.Equal(0, atB.Peer); // B's handle of A is its neighbour 0
        // C → A: A learns C (10.252.0.3:7099) on port 1.
        var atA = Deliver(linkC, 0, linkA, inboxA, "from-c");
        Assert.True(atA.Peer >= 2, "a learned handle (beyond the two configured neighbours)");
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.252.0.3"), 7099), linkA.GetEndPoint(atA.Peer));
        // A answers the learned handle: the frame must leave on port 1 (B never sees it).
        var atC = Deliver(linkA, atA.Peer, linkC, inboxC, "reply-c");
        Assert.Equal(0, atC.Peer);
        inboxB.Items.Clear();
        while (linkB.ReceiveDatagrams(inboxB, 0) > 0) { }
        Assert.DoesNotContain(inboxB.Items, x => x.Text.StartsWith("reply-c", StringComparison.Ordinal));
        output.WriteLine($"A: rx={linkA.DpdkStats.RxFrames} tx={linkA.DpdkStats.TxFrames} learned={linkA.LearnedPeerCount}; B malformed={linkB.Stats.MalformedDropped}; C malformed={linkC.Stats.MalformedDropped}");
        Assert.Equal(0, linkB.Stats.MalformedDropped); // nothing meant for C reached B
        Assert.Equal(1, linkA.LearnedPeerCount);
    }

    [Fact]
    public void ASleepingLinkIsWokenByItsPeersDoorbell()
    {
        if (!DpdkGate.Available(output)) return;
        int k = Environment.ProcessId % 1000 * 10 + 5007;
        string sock = $"/tmp/fbdb-{Environment.ProcessId}.sock", bellA = $"/tmp/fbdb-{Environment.ProcessId}-a.bell", bellB = $"/tmp/fbdb-{Environment.ProcessId}-b.bell";
        foreach (var f in new[] { sock, bellA, bellB }) File.Delete(f);
        try
        {
            var a = Options($"net_memif{k},role=server,socket={sock}", MacA, "10.253.0.1", 7000);
            a.Neighbors.Add(new DpdkNeighbor("10.253.0.2", 7000, MacB, 1));
            a.Doorbell = bellA;
            a.PeerDoorbells.Add(bellB);
            using var linkA = new DpdkLink(a);
            var b = Options($"net_memif{k + 1},role=client,socket={sock}", MacB, "10.253.0.2", 7000);
            b.Neighbors.Add(new DpdkNeighbor("10.253.0.1", 7000, MacA, 0));
            b.Doorbell = bellB;
            b.PeerDoorbells.Add(bellA);
            b.SpinMicroseconds = 0;
            b.MaxSleepMicroseconds = 100_000; // safety cap 5 s: only the doorbell can wake B early
            using var linkB = new DpdkLink(b);
            Assert.True(linkA.WaitForLinkUp(TimeSpan.FromSeconds(10)) && linkB.WaitForLinkUp(TimeSpan.FromSeconds(10)));
            Deliver(linkA, 0, linkB, new Inbox(), "warm-up");

            var inbox = new Inbox();
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var sleeper = new Thread(() => linkB.ReceiveDatagrams(inbox, 4000));
            sleeper.Start();
            Thread.Sleep(300); // B is asleep on its doorbell by now
            linkA.SendDatagram(0, "ding"u8);
            linkA.FlushDatagrams();
            sleeper.Join();
            output.WriteLine($"woken after {sw.ElapsedMilliseconds} ms; B doorbell waits {linkB.DpdkStats.DoorbellWaits}, A rang {linkA.DpdkStats.DoorbellsRung}");
            Assert.Contains(inbox.Items, x => x.Text == "ding");
            Assert.True(sw.ElapsedMilliseconds < 2000, $"B slept {sw.ElapsedMilliseconds} ms: not woken by the doorbell");
            Assert.True(linkB.DpdkStats.DoorbellWaits >= 1);
            Assert.True(linkA.DpdkStats.DoorbellsRung >= 1);
        }
        finally
        {
            foreach (var f in new[] { sock, bellA, bellB }) File.Delete(f);
        }
    }
}
