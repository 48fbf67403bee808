namespace FastBft.Transport.Tests;

public class InMemoryTransportTests
{
    private sealed class ScriptedPolicy(Func<uint, uint, byte, InMemoryFaultDecision> decide) : IInMemoryFaultPolicy
    {
        public InMemoryFaultDecision Decide(uint sender, uint destination, Span<byte> message) => decide(sender, destination, message[0]);
    }

    [Fact]
    public void Deterministic_delivery_after_flush_in_order()
    {
        var net = new InMemoryNetwork();
        using var r0 = net.CreateTransport(0);
        using var clients = net.CreateTransport(1000, 1001);
        clients.Send(0, 1000, new byte[] { 1 });
        clients.Send(0, 1001, new byte[] { 2 });
        var rx = new Collector();
        Assert.Equal(0, r0.Poll(rx, 1000)); // nothing before Flush; never waits
        clients.Flush();
        Assert.Equal(2, r0.Poll(rx, 0));
        Assert.Equal(new uint[] { 1000, 1001 }, rx.Messages.Select(m => m.Sender));

        r0.Send(1001, 0, new byte[] { 3 });
        r0.Send(4242, 0, new byte[] { 3 });
        r0.Flush();
        var crx = new Collector();
        Assert.Equal(1, clients.Poll(crx, 0));
        Assert.Equal(1001u, crx.Messages[0].Destination);
        Assert.Equal(1, r0.Stats.UnknownDestinationDropped);
    }

    [Fact]
    public void Fault_policy_drops_duplicates_delays_and_reorders()
    {
        var net = new InMemoryNetwork();
        using var a = net.CreateTransport(0);
        using var b = net.CreateTransport(1);
        net.FaultPolicy = new ScriptedPolicy((_, _, first) => first switch
        {
            1 => InMemoryFaultDecision.Drop,
            2 => InMemoryFaultDecision.Duplicate,
            3 => InMemoryFaultDecision.Delay(10),
            4 => InMemoryFaultDecision.Delay(5),
            _ => InMemoryFaultDecision.Deliver,
        });
        for (byte i = 1; i <= 5; i++) a.Send(1, 0, new byte[] { i });
        a.Flush();
        var rx = new Collector();
        b.Poll(rx, 0);
        Assert.Equal(new byte[] { 2, 2, 5 }, rx.Messages.Select(m => m.Message[0]));
        Assert.Equal(2, net.DelayedCount);
        Assert.Equal(1, net.Advance(5));
        Assert.Equal(1, net.Advance(5));
        b.Poll(rx, 0);
        Assert.Equal(new byte[] { 2, 2, 5, 4, 3 }, rx.Messages.Select(m => m.Message[0]));
        Assert.Equal(1, net.DroppedCount);
        Assert.Equal(1, net.DuplicatedCount);
    }

    [Fact]
    public void Concurrent_mode_works_across_threads()
    {
        var net = new InMemoryNetwork(InMemoryNetworkMode.Concurrent);
        using var server = net.CreateTransport(0);
        using var client = net.CreateTransport(1000);
        const int n = 2000;
        var echo = new EchoHandler(server);
        var thread = new Thread(() =>
        {
            while (echo.Count < n) { server.Poll(echo, 100); server.Flush(); }
        });
        thread.Start();
        var rx = new Counter();
        for (int i = 0; i < n; i++) client.Send(0, 1000, BitConverter.GetBytes(i));
        client.Flush();
        Assert.True(Wait.Until(() => rx.Count == n, () => client.Poll(rx, 100), 20_000));
        thread.Join();
    }

    private sealed class EchoHandler(ITransport t) : IMessageHandler
    {
        public int Count;
        public void OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message)
        {
            Count++;
            t.Send(sender, destination, message);
        }
    }

    [Fact]
    public void Duplicate_node_id_is_rejected()
    {
        var net = new InMemoryNetwork();
        net.CreateTransport(1);
        Assert.Throws<ArgumentException>(() => net.CreateTransport(2, 1));
    }
}
