using System.Net;
using FastBft.Transport;

namespace FastBft.Integration.Tests;

/// <summary>
/// Client return routes in a real cell (issue 9, item 8, "client route hijack"): a replica answers a client
/// where its last fresh <em>authenticated</em> REQUEST came from, never where a frame merely claiming the
/// client's id came from; a client restarted on another port is reachable after its first new request.
/// </summary>
public class ReturnRouteTests
{
    private sealed class Collector : IMessageHandler
    {
        public int Count;
        public void OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message) => Count++;
    }

    /// <summary>Invokes and returns on a pool thread: the reply completes on the client's I/O thread, which must not go on to dispose its own endpoint.</summary>
    private static async Task<ReadOnlyMemory<byte>> InvokeAsync(FastBft.Client.BftClient client, byte[] operation)
    {
        var result = await client.InvokeAsync(operation).AsTask().WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        var copy = result.ToArray();
        await Task.Yield();
        return copy;
    }

    [Fact]
    public async Task ForgedFramesClaimingAClientIdDoNotRedirectItsReplies()
    {
        using var cell = new UdpCell();
        using var endpoint = cell.NewClientEndpoint();
        uint id = cell.Config.FirstClientId;
        var client = endpoint.CreateClient(id);
        endpoint.Start();
        await InvokeAsync(client, BitConverter.GetBytes(1L));

        // The attacker, on its own socket, sends every replica frames claiming to come from the client
        // (a REQUEST-shaped message that does not authenticate), then waits for the replies it hopes to steal.
        using var attacker = UdpTransport.Create(new UdpTransportOptions { Peers = cell.Peers() });
        var forged = new byte[64];
        forged[0] = 0x42; forged[1] = 0xFB; forged[2] = 1; forged[3] = 1;
        for (uint r = 0; r < cell.Config.N; r++) attacker.Send(r, id, forged);
        attacker.Flush();
        long dropped(int i) => cell.Hosts[i].Verifier.DroppedTotal;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Enumerable.Range(0, cell.Config.N).Any(i => dropped(i) == 0) && DateTime.UtcNow < deadline) await Task.Delay(10, TestContext.Current.CancellationToken);
        Assert.All(Enumerable.Range(0, cell.Config.N), i => Assert.True(dropped(i) > 0, $"replica {i} did not see the forged frame"));

        var result = await InvokeAsync(client, BitConverter.GetBytes(2L));
        Assert.Equal(1L * 31 + 2, BitConverter.ToInt64(result.Span));
        var stolen = new Collector();
        for (int i = 0; i < 10; i++) attacker.Poll(stolen, 20);
        Assert.Equal(0, stolen.Count);
        Assert.Empty(cell.Failures);
    }

    [Fact]
    public async Task ClientRestartedOnANewPortIsAnsweredThereAfterItsFirstNewRequest()
    {
        using var cell = new UdpCell();
        uint id = cell.Config.FirstClientId;
        ulong lastRid;
        int oldPort;
        var firstTransport = UdpTransport.Create(new UdpTransportOptions { LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0), Peers = cell.Peers() });
        using (var first = new FastBft.Client.ClientEndpoint(cell.Config, firstTransport))
        {
            var c = first.CreateClient(id);
            first.Start();
            await InvokeAsync(c, BitConverter.GetBytes(5L));
            lastRid = c.RequestId;
            oldPort = ((UdpLink)firstTransport.Link).LocalEndPoint.Port;
        }
        var secondTransport = UdpTransport.Create(new UdpTransportOptions { LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0), Peers = cell.Peers() });
        using var second = new FastBft.Client.ClientEndpoint(cell.Config, secondTransport);
        Assert.NotEqual(oldPort, ((UdpLink)secondTransport.Link).LocalEndPoint.Port);
        var restarted = second.CreateClient(id, firstRequestId: lastRid);
        second.Start();
        var result = await InvokeAsync(restarted, BitConverter.GetBytes(7L));
        Assert.Equal(5L * 31 + 7, BitConverter.ToInt64(result.Span));
        Assert.Empty(cell.Failures);
    }
}
