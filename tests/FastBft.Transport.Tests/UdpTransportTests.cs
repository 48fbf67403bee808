using System.Net;

namespace FastBft.Transport.Tests;

public class UdpTransportTests(ITestOutputHelper output)
{
    private const uint Replica = 0;
    private const uint Client = 1000;

    /// <summary>A replica (node 0) on an ephemeral port and a client process (ids from 1000) configured with the replica's address.</summary>
    private static (DatagramTransport Replica, DatagramTransport Client) Pair(Action<UdpTransportOptions>? tweak = null)
    {
        var ro = new UdpTransportOptions();
        tweak?.Invoke(ro);
        DatagramTransport replica = UdpTransport.Create(ro);
        IPEndPoint ep = ((UdpLink)replica.Link).LocalEndPoint;
        var co = new UdpTransportOptions { Peers = new Dictionary<uint, IPEndPoint> { [Replica] = ep } };
        tweak?.Invoke(co);
        co.Peers = new Dictionary<uint, IPEndPoint> { [Replica] = ep };
        DatagramTransport client = UdpTransport.Create(co);
        return (replica, client);
    }

    [Fact]
    public void Binds_ephemeral_port_and_reports_buffers()
    {
        using DatagramTransport t = UdpTransport.Create(new UdpTransportOptions());
        var link = (UdpLink)t.Link;
        Assert.NotEqual(0, link.LocalEndPoint.Port);
        Assert.Equal(IPAddress.Loopback, link.LocalEndPoint.Address);
        output.WriteLine($"SO_RCVBUF effective {link.EffectiveReceiveBufferSize} B, SO_SNDBUF effective {link.EffectiveSendBufferSize} B");
        Assert.True(link.EffectiveReceiveBufferSize > 0);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(64_980)]      // exactly one datagram: 65,000 - 8 - 12
    [InlineData(64_981)]      // one byte over: two fragments
    [InlineData(260 * 1024)]  // a 64-request batch of 4 KiB requests
    [InlineData(4 * 1024 * 1024)]
    public void Message_round_trip_over_loopback(int size)
    {
        var (replica, client) = Pair();
        using (replica)
        using (client)
        {
            byte[] msg = Wait.Pattern(size, size);
            var rx = new Collector { ConfirmOn = replica };
            bool got = false;
            // The protocols retransmit; so does this test if a loopback burst overflowed the socket buffer.
            for (int attempt = 0; attempt < 5 && !got; attempt++)
            {
                client.Send(Replica, Client, msg);
                client.Flush();
                got = Wait.Until(() => rx.Messages.Count > 0, () => replica.Poll(rx, 50), 3000);
            }
            Assert.True(got, $"message of {size} B not received; stats: dropped={replica.Stats.ReassemblyDropped} malformed={replica.Stats.MalformedDropped}");
            Assert.Equal(Client, rx.Messages[0].Sender);
            Assert.Equal(Replica, rx.Messages[0].Destination);
            Assert.Equal(msg, rx.Messages[0].Message);
            Assert.Equal(0, replica.Stats.MalformedDropped);

            // The replica confirmed the client's route and can answer with a message of the same size.
            rx.Messages.Clear();
            rx.ConfirmOn = null;
            got = false;
            for (int attempt = 0; attempt < 5 && !got; attempt++)
            {
                replica.Send(Client, Replica, msg);
                replica.Flush();
                got = Wait.Until(() => rx.Messages.Count > 0, () => client.Poll(rx, 50), 3000);
            }
            Assert.True(got);
            Assert.Equal(msg, rx.Messages[0].Message);
            Assert.Equal(Client, rx.Messages[0].Destination);
        }
    }

    [Fact]
    public void Many_client_ids_behind_one_endpoint_share_reply_datagrams()
    {
        var (replica, client) = Pair();
        using (replica)
        using (client)
        {
            var rx = new Collector { ConfirmOn = replica };
            for (uint c = 0; c < 32; c++) client.Send(Replica, Client + c, new byte[] { (byte)c, 1, 2, 3 });
            client.Flush();
            Assert.Equal(1, client.Stats.DatagramsSent);
            Assert.True(Wait.Until(() => rx.Messages.Count == 32, () => replica.Poll(rx, 50)));
            Assert.Equal(32, replica.LearnedNodeCount);
            Assert.Equal(1, ((UdpLink)replica.Link).LearnedEndpointCount);

            long before = replica.Stats.DatagramsSent;
            for (uint c = 0; c < 32; c++) replica.Send(Client + c, Replica, new byte[100]);
            replica.Flush();
            Assert.Equal(1, replica.Stats.DatagramsSent - before);

            var replies = new Collector();
            Assert.True(Wait.Until(() => replies.Messages.Count == 32, () => client.Poll(replies, 50)));
            for (int i = 0; i < 32; i++) Assert.Equal(Client + (uint)i, replies.Messages[i].Destination);
        }
    }

    [Fact]
    public void Learned_address_is_replaced_when_a_client_moves()
    {
        var (replica, client) = Pair();
        IPEndPoint ep = ((UdpLink)replica.Link).LocalEndPoint;
        using var moved = UdpTransport.Create(new UdpTransportOptions { Peers = new Dictionary<uint, IPEndPoint> { [Replica] = ep } });
        using (replica)
        using (client)
        {
            var rx = new Collector { ConfirmOn = replica };
            client.Send(Replica, Client, new byte[] { 1 });
            client.Flush();
            Assert.True(Wait.Until(() => rx.Messages.Count == 1, () => replica.Poll(rx, 50)));
            moved.Send(Replica, Client, new byte[] { 2 });
            moved.Flush();
            Assert.True(Wait.Until(() => rx.Messages.Count == 2, () => replica.Poll(rx, 50)));

            replica.Send(Client, Replica, new byte[] { 3 });
            replica.Flush();
            var got = new Collector();
            Assert.True(Wait.Until(() => got.Messages.Count == 1, () => moved.Poll(got, 50)));
            Assert.Equal(0, client.Poll(got, 0));
        }
    }

    [Fact]
    public void Forged_frame_from_another_socket_does_not_redirect_replies()
    {
        var (replica, client) = Pair();
        IPEndPoint ep = ((UdpLink)replica.Link).LocalEndPoint;
        using var attacker = UdpTransport.Create(new UdpTransportOptions { Peers = new Dictionary<uint, IPEndPoint> { [Replica] = ep } });
        using (replica)
        using (client)
        {
            var authenticated = new Collector { ConfirmOn = replica };
            client.Send(Replica, Client, new byte[] { 1 });
            client.Flush();
            Assert.True(Wait.Until(() => authenticated.Messages.Count == 1, () => replica.Poll(authenticated, 50)));

            // The attacker claims the client's id; its message does not authenticate, so the handler confirms nothing.
            var unauthenticated = new Collector();
            attacker.Send(Replica, Client, new byte[] { 2 });
            attacker.Flush();
            Assert.True(Wait.Until(() => unauthenticated.Messages.Count == 1, () => replica.Poll(unauthenticated, 50)));

            replica.Send(Client, Replica, new byte[] { 3 });
            replica.Flush();
            var got = new Collector();
            Assert.True(Wait.Until(() => got.Messages.Count == 1, () => client.Poll(got, 50)));
            Assert.Equal(0, attacker.Poll(got, 100));
            Assert.Single(got.Messages);
        }
    }

    [Fact]
    public void Steady_state_send_flush_poll_allocates_nothing()
    {
        var (replica, client) = Pair();
        using (replica)
        using (client)
        {
            var rx = new Counter { ConfirmOn = replica };
            var crx = new Counter();
            byte[] msg = new byte[200];
            void Round()
            {
                long target = rx.Count + 8;
                for (uint c = 0; c < 8; c++) client.Send(Replica, Client + c, msg);
                client.Flush();
                while (rx.Count < target) replica.Poll(rx, 100);
                long replies = crx.Count + 8;
                for (uint c = 0; c < 8; c++) replica.Send(Client + c, Replica, msg);
                replica.Flush();
                while (crx.Count < replies) client.Poll(crx, 100);
            }
            // Warm-up (JIT, tiering, confirmed routes, dictionaries).
            for (int i = 0; i < 2000; i++) Round();
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 1000; i++) Round();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            output.WriteLine($"allocated {allocated} B over 1000 rounds of 8+8 messages");
            Assert.Equal(0, allocated);
        }
    }

    [Fact]
    public void Steady_state_fragmented_messages_allocate_nothing()
    {
        var (replica, client) = Pair();
        using (replica)
        using (client)
        {
            var rx = new Counter();
            byte[] msg = new byte[200_000];
            void Round()
            {
                long target = rx.Count + 1;
                client.Send(Replica, Client, msg);
                client.Flush();
                // A lost fragment would stall; the deadline makes the loop finish either way.
                long deadline = Environment.TickCount64 + 5000;
                while (rx.Count < target && Environment.TickCount64 < deadline) replica.Poll(rx, 100);
            }
            for (int i = 0; i < 200; i++) Round();
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++) Round();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            output.WriteLine($"allocated {allocated} B over 100 messages of 200,000 B");
            Assert.Equal(0, allocated);
        }
    }

    [Fact]
    public void Options_are_validated_with_the_field_name()
    {
        var e = Assert.Throws<ArgumentException>(() => UdpTransport.Create(new UdpTransportOptions { MaxDatagramSize = 70_000 }));
        Assert.Contains("MaxDatagramSize", e.Message);
        e = Assert.Throws<ArgumentException>(() => UdpTransport.Create(new UdpTransportOptions { MaxMessageSize = 0 }));
        Assert.Contains("MaxMessageSize", e.Message);
        e = Assert.Throws<ArgumentException>(() => UdpTransport.Create(new UdpTransportOptions { Peers = new Dictionary<uint, IPEndPoint> { [3] = new(IPAddress.Loopback, 0) } }));
        Assert.Contains("Peers[3]", e.Message);
        e = Assert.Throws<ArgumentException>(() => UdpTransport.Create(new UdpTransportOptions { LocalEndPoint = new IPEndPoint(IPAddress.IPv6Loopback, 0) }));
        Assert.Contains("LocalEndPoint", e.Message);
        e = Assert.Throws<ArgumentException>(() => UdpTransport.Create(new UdpTransportOptions { ReassemblyTimeoutMs = 0 }));
        Assert.Contains("ReassemblyTimeoutMs", e.Message);
        e = Assert.Throws<ArgumentException>(() => UdpTransport.Create(new UdpTransportOptions { MaxLearnedNodes = 0 }));
        Assert.Contains("MaxLearnedNodes", e.Message);
    }

    [Fact]
    public void Stale_learned_handle_is_dropped_and_counted()
    {
        using var link = new UdpLink(new IPEndPoint(IPAddress.Loopback, 0), maxLearnedEndpoints: 1);
        using var a = new UdpLink(new IPEndPoint(IPAddress.Loopback, 0));
        using var b = new UdpLink(new IPEndPoint(IPAddress.Loopback, 0));
        var sink = new HandleSink();
        int pa = a.AddPeer(link.LocalEndPoint), pb = b.AddPeer(link.LocalEndPoint);
        a.SendDatagram(pa, new byte[] { 1 });
        Assert.True(Wait.Until(() => sink.Peers.Count == 1, () => link.ReceiveDatagrams(sink, 50)));
        b.SendDatagram(pb, new byte[] { 2 });
        Assert.True(Wait.Until(() => sink.Peers.Count == 2, () => link.ReceiveDatagrams(sink, 50)));
        Assert.NotEqual(sink.Peers[0], sink.Peers[1]); // slot recycled: new generation
        Assert.Null(link.GetEndPoint(sink.Peers[0]));
        Assert.Equal(b.LocalEndPoint, link.GetEndPoint(sink.Peers[1]));
        link.SendDatagram(sink.Peers[0], new byte[] { 3 });
        Assert.Equal(1, link.Stats.UnknownDestinationDropped);
    }

    private sealed class HandleSink : IDatagramSink
    {
        public readonly List<int> Peers = new();
        public void OnDatagram(int peer, ReadOnlySpan<byte> datagram) => Peers.Add(peer);
    }
}
