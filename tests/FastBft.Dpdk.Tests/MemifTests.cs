using System.Buffers.Binary;
using FastBft.Transport;
using FastBft.Transport.Dpdk;

namespace FastBft.Dpdk.Tests;

/// <summary>DPDK tests share one EAL (once per process) and run one at a time.</summary>
[CollectionDefinition("dpdk", DisableParallelization = true)]
public sealed class DpdkCollection;

/// <summary>Two processes over net_memif: this test process (memif server, node 0) and an echo peer
/// process (`fastbft ping echo`, memif client, node 1), through the whole DatagramTransport stack.</summary>
[Collection("dpdk")]
public class MemifTests(ITestOutputHelper output)
{
    private static byte[] Message(int seq, int size)
    {
        var m = new byte[size];
        for (int i = 0; i < size; i++) m[i] = (byte)(seq * 31 + i);
        if (size >= 4) BinaryPrimitives.WriteInt32LittleEndian(m, seq);
        return m;
    }

    /// <summary>
    /// Right after a memif connect the server's first transmits can find no free descriptor (the client has
    /// not provisioned its rx ring yet) and are dropped (counted in TxDropped). Like a protocol would, probe
    /// until one echo comes back before asserting loss-free exchange.
    /// </summary>
    private void Handshake(DatagramTransport t)
    {
        var c = new Collector();
        var sw = System.Diagnostics.Stopwatch.StartNew();
        int probes = 0;
        while (c.Messages.Count == 0 && sw.Elapsed < TimeSpan.FromSeconds(10))
        {
            probes++;
            t.Send(EchoPeer.PeerNode, EchoPeer.ServerNode, Message(-1, 8));
            t.Flush();
            var until = sw.Elapsed + TimeSpan.FromMilliseconds(100);
            while (c.Messages.Count == 0 && sw.Elapsed < until) t.Poll(c, 10);
        }
        Assert.True(c.Messages.Count > 0, $"no echo to {probes} probes; {((DpdkLink)t.Link).DpdkStats}");
        while (t.Poll(c, 50) > 0) { } // late echoes of earlier probes
        output.WriteLine($"handshake after {probes} probe(s), {sw.ElapsedMilliseconds} ms");
    }

    /// <summary>Sends messages of the given sizes one window at a time and checks every echo byte for byte.
    /// The transport is unreliable: with <paramref name="retries"/> &gt; 0 a window whose echoes are not all back
    /// within 2 s is sent again (as the protocols would); with 0 every loss fails the test.</summary>
    private int Exchange(DatagramTransport t, int[] sizes, int window, int retries = 0)
    {
        var c = new Collector();
        int resent = 0;
        for (int start = 0; start < sizes.Length; start += window)
        {
            int end = Math.Min(sizes.Length, start + window);
            c.Messages.Clear();
            bool complete = false;
            for (int attempt = 0; attempt <= retries && !complete; attempt++)
            {
                if (attempt > 0) resent++;
                for (int i = start; i < end; i++) t.Send(EchoPeer.PeerNode, EchoPeer.ServerNode, Message(i, sizes[i]));
                t.Flush();
                var expected = Enumerable.Range(start, end - start).ToHashSet();
                var sw = System.Diagnostics.Stopwatch.StartNew();
                while (sw.Elapsed < TimeSpan.FromSeconds(retries > 0 ? 2 : 10))
                {
                    t.Poll(c, 20);
                    if (expected.All(i => c.Messages.Any(m => m.Message.Length >= 4 && BinaryPrimitives.ReadInt32LittleEndian(m.Message) == i))) { complete = true; break; }
                }
            }
            if (!complete) Thread.Sleep(1500); // let the echo peer report its counters
            Assert.True(complete, $"only {c.Messages.Count} of {end - start} echoes arrived (window at {start}); stats: {((DpdkLink)t.Link).DpdkStats}; device: {((DpdkLink)t.Link).ReadDeviceStats()}");
            var bySeq = c.Messages.GroupBy(m => BinaryPrimitives.ReadInt32LittleEndian(m.Message)).ToDictionary(g => g.Key, g => g.First());
            for (int i = start; i < end; i++)
            {
                if (sizes[i] < 4) continue;
                Assert.True(bySeq.TryGetValue(i, out var got), $"echo of message {i} missing");
                Assert.Equal(EchoPeer.PeerNode, got.Sender);
                Assert.Equal(EchoPeer.ServerNode, got.Destination);
                Assert.Equal(Message(i, sizes[i]), got.Message);
            }
        }
        return resent;
    }

    [Fact]
    public void TwoProcesses_ExchangeMessages_SmallBundledAndFragmented()
    {
        if (!DpdkGate.Available(output)) return;
        var (device, socket) = EchoPeer.NewMemifServer();
        using var t = DpdkTransport.Create(EchoPeer.ServerOptions(device));
        var link = (DpdkLink)t.Link;
        output.WriteLine($"driver={link.Driver} mac={link.LocalMac} offload={link.ChecksumOffload} rxIntr={link.RxInterruptAvailable} poll={link.EffectivePollMode}");
        Assert.Equal("net_memif", link.Driver);
        using var peer = EchoPeer.Start(socket, output);
        Assert.True(link.WaitForLinkUp(TimeSpan.FromSeconds(10)), "memif link did not come up");
        Handshake(t);

        var rng = new Random(7);
        int[] sizes = Enumerable.Range(0, 400).Select(i => i switch
        {
            < 200 => rng.Next(4, 200),          // bundled
            < 300 => rng.Next(1400, 1500),      // around one datagram (1472 B)
            < 390 => rng.Next(2000, 30000),     // fragmented
            _ => rng.Next(100_000, 300_000),    // many fragments
        }).ToArray();
        Exchange(t, sizes[..390], window: 10);
        Exchange(t, sizes[390..], window: 1); // ~100-200 frames each: one at a time, within the memif ring
        output.WriteLine($"link stats: {link.DpdkStats}; transport: sent={t.Stats.DatagramsSent} recv={t.Stats.DatagramsReceived}");
        Assert.Equal(0, t.Stats.MalformedDropped);
        Assert.Equal(0, link.DpdkStats.RxDropped);
        Assert.Equal(0, t.Stats.ReassemblyDropped);
        Assert.True(t.Stats.DatagramsReceived > 400);
    }

    [Fact]
    public void LinkDownAndUpAgain_WhenThePeerStopsAndStarts()
    {
        if (!DpdkGate.Available(output)) return;
        var (device, socket) = EchoPeer.NewMemifServer();
        using var t = DpdkTransport.Create(EchoPeer.ServerOptions(device));
        var link = (DpdkLink)t.Link;
        Assert.False(link.IsLinkUp); // no client yet

        var peer = EchoPeer.Start(socket, output);
        Assert.True(link.WaitForLinkUp(TimeSpan.FromSeconds(10)), "link not up with the first peer");
        Handshake(t);
        Exchange(t, [64, 100, 5000], window: 3);

        peer.Dispose(); // stop the peer process
        Assert.True(link.WaitForLinkDown(TimeSpan.FromSeconds(10)), "link still up after the peer stopped");
        long errorsBefore = t.Stats.SendErrors;
        t.Send(EchoPeer.PeerNode, EchoPeer.ServerNode, Message(1, 64)); // must not throw while down
        t.Flush();
        output.WriteLine($"while down: sendErrors {errorsBefore} -> {t.Stats.SendErrors}, {link.DpdkStats}");

        using var peer2 = EchoPeer.Start(socket, output);
        Assert.True(link.WaitForLinkUp(TimeSpan.FromSeconds(10)), "link not up again with the restarted peer");
        Handshake(t);
        // After a reconnect the memif server occasionally finds its tx ring full for a frame (TxDropped):
        // retransmit like a protocol would, and require every message to arrive intact.
        int resent = Exchange(t, [64, 1000, 20000, 64, 3000, 64], window: 3, retries: 3);
        output.WriteLine($"after the restart: {resent} window(s) re-sent; {link.DpdkStats}");
    }

    [Fact]
    public void MalformedFramesOnTheWire_AreDroppedAndCountedByReason()
    {
        if (!DpdkGate.Available(output)) return;
        var (device, socket) = EchoPeer.NewMemifServer();
        using var t = DpdkTransport.Create(EchoPeer.ServerOptions(device));
        var link = (DpdkLink)t.Link;
        // A second port in this process as the memif client: it sends raw frames to the first.
        var client = EchoPeer.ServerOptions($"net_memif{Environment.ProcessId % 1000 + 100},role=client,socket={socket}");
        client.LocalMac = EchoPeer.PeerMac;
        client.LocalIp = EchoPeer.PeerIp;
        client.LocalPort = EchoPeer.PeerPort;
        client.Neighbors = [new DpdkNeighbor(EchoPeer.ServerIp, EchoPeer.ServerPort, EchoPeer.ServerMac, EchoPeer.ServerNode)];
        using var sender = new DpdkLink(client);
        Assert.True(link.WaitForLinkUp(TimeSpan.FromSeconds(10)) && sender.WaitForLinkUp(TimeSpan.FromSeconds(10)), "in-process memif pair not up");

        // Warm up the server->client direction (see Handshake) with datagrams the client counts.
        var warm = new RawSink();
        for (int i = 0; i < 200 && warm.Count == 0; i++)
        {
            link.SendDatagram(0, new byte[] { 9 });
            link.FlushDatagrams();
            Thread.Sleep(5);
            sender.ReceiveDatagrams(warm, 0);
        }
        Assert.True(warm.Count > 0, "server->client direction never carried a datagram");
        while (sender.ReceiveDatagrams(warm, 20) > 0) { }

        var names = CodecTests.Malformed().Select(row => row.Data.Item1).ToArray();
        var good = new byte[106];
        EthernetUdpCodec.WriteUdp(good, MacAddress.Parse(EchoPeer.PeerMac), MacAddress.Parse(EchoPeer.ServerMac), 0x0AFB0002, 0x0AFB0001,
            (ushort)EchoPeer.PeerPort, (ushort)EchoPeer.ServerPort, new byte[64], 1, EthernetUdpCodec.ChecksumMode.Software);
        foreach (var name in names)
        {
            var f = CodecTests.MakeMalformed(name, (byte[])good.Clone());
            if (f.Length < 14) continue; // not sendable as a frame
            sender.SendRawFrame(f);
        }
        sender.FlushDatagrams();
        int sent = names.Count(n => CodecTests.MakeMalformed(n, (byte[])good.Clone()).Length >= 14);
        var c = new Collector();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (link.DpdkStats.RxFrames < sent && DateTime.UtcNow < deadline) t.Poll(c, 20);
        output.WriteLine($"sent {sent} malformed frames; {link.DpdkStats}");
        Assert.Empty(c.Messages);
        Assert.Equal(sent, link.DpdkStats.RxDropped);
        Assert.Equal(sent, t.Stats.MalformedDropped);
        Assert.Equal(2, link.DpdkStats.RxWrongEthertype);
        Assert.Equal(1, link.DpdkStats.RxBadIpChecksum);
        Assert.Equal(2, link.DpdkStats.RxBadUdpChecksum);
        Assert.Equal(3, link.DpdkStats.RxBadUdpLength);
        Assert.Equal(2, link.DpdkStats.RxWrongDestinationMac);
        Assert.Equal(1, link.DpdkStats.RxWrongDestinationIp);
        Assert.Equal(1, link.DpdkStats.RxWrongDestinationPort);
        Assert.True(link.DpdkStats.RxShortFrame >= 2);

        // A good datagram still passes afterwards, and an ARP request for us is answered.
        sender.SendDatagram(0, new byte[] { 1, 2, 3 });
        var arp = new byte[60];
        EthernetUdpCodec.WriteArpRequest(arp, MacAddress.Parse(EchoPeer.PeerMac), 0x0AFB0002, 0x0AFB0001);
        sender.SendRawFrame(arp);
        sender.FlushDatagrams();
        var sink = new RawSink();
        deadline = DateTime.UtcNow.AddSeconds(10);
        while ((link.DpdkStats.ArpRepliesSent == 0 || sender.DpdkStats.ArpIgnored == 0) && DateTime.UtcNow < deadline)
        {
            link.ReceiveDatagrams(sink, 10);
            sender.ReceiveDatagrams(sink, 0);
        }
        output.WriteLine($"after ARP: server {link.DpdkStats}; client {sender.DpdkStats}");
        Assert.Equal(1, link.DpdkStats.ArpRepliesSent);
        Assert.Equal(1, sender.DpdkStats.ArpIgnored); // the reply reached the requester
        Assert.Equal(1, sink.Count);
    }

    private sealed class RawSink : IDatagramSink
    {
        public int Count;
        public void OnDatagram(int peer, ReadOnlySpan<byte> datagram) => Count++;
    }
}
