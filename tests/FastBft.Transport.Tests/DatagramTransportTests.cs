namespace FastBft.Transport.Tests;

public class DatagramTransportTests
{
    private static DatagramTransport Make(FakeLink link, FakeClock? clock = null, Action<DatagramTransportOptions>? tweak = null)
    {
        var o = new DatagramTransportOptions
        {
            StaticPeers = new Dictionary<uint, int> { [0] = 1, [1] = 2 },
            MaxMessageSize = 100_000,
            MaxReassemblyBytes = 1_000_000,
            ClockMs = clock is null ? null : clock.Now,
        };
        tweak?.Invoke(o);
        return new DatagramTransport(link, o);
    }

    /// <summary>Fragment datagrams of one message, produced by a real sender.</summary>
    private static List<byte[]> Fragments(byte[] message, uint sender = 1000, uint destination = 0, int maxDatagram = 1000)
    {
        var link = new FakeLink(maxDatagram);
        using var t = Make(link, tweak: o => o.StaticPeers = new Dictionary<uint, int> { [destination] = 1 });
        t.Send(destination, sender, message);
        t.Flush();
        var list = new List<byte[]>();
        foreach (var (_, data) in link.Sent) list.Add(data);
        return list;
    }

    [Fact]
    public void Small_messages_to_one_endpoint_share_a_datagram_until_flush()
    {
        var link = new FakeLink(1000);
        using var t = Make(link);
        for (uint c = 0; c < 10; c++) t.Send(0, 1000 + c, new byte[] { (byte)c });
        Assert.Empty(link.Sent);
        t.Flush();
        Assert.Single(link.Sent);
        Assert.Equal(1, link.Flushes);

        var rx = new Collector();
        var r = new FakeLink(1000);
        using var t2 = Make(r);
        r.Inbox.Enqueue((5, link.Sent[0].Data));
        Assert.Equal(10, t2.Poll(rx, 0));
        for (int i = 0; i < 10; i++) Assert.Equal((1000u + (uint)i, 0u, (byte)i), (rx.Messages[i].Sender, rx.Messages[i].Destination, rx.Messages[i].Message[0]));
    }

    [Fact]
    public void Bundle_is_sent_when_full()
    {
        var link = new FakeLink(1000);
        using var t = Make(link);
        var msg = new byte[300]; // entry 312 bytes: three fit in 1000 - 8
        for (int i = 0; i < 7; i++) t.Send(0, 1000, msg);
        Assert.Equal(2, link.Sent.Count);
        Assert.All(link.Sent, s => Assert.True(s.Data.Length <= 1000));
        t.Flush();
        Assert.Equal(3, link.Sent.Count);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(980)]     // exactly one datagram: 1000 - 8 - 12
    [InlineData(981)]     // one byte over: two fragments
    [InlineData(5000)]
    [InlineData(100_000)]
    public void Fragmentation_boundaries(int size)
    {
        byte[] msg = Wait.Pattern(size, size);
        List<byte[]> frames = Fragments(msg);
        int expected = size <= 980 ? 1 : (size + 967) / 968;
        Assert.Equal(expected, frames.Count);
        Assert.All(frames, f => Assert.True(f.Length <= 1000));

        var link = new FakeLink(1000);
        using var t = Make(link);
        var rx = new Collector();
        foreach (byte[] f in frames) t.ProcessDatagram(3, f, rx);
        Assert.Single(rx.Messages);
        Assert.Equal(msg, rx.Messages[0].Message);
        Assert.Equal(0, t.PartialMessageCount);
    }

    [Fact]
    public void Fragments_out_of_order_and_duplicated_deliver_once()
    {
        byte[] msg = Wait.Pattern(10_000, 1);
        List<byte[]> frames = Fragments(msg);
        var rng = new Random(7);
        var order = new List<byte[]>();
        foreach (byte[] f in frames) { order.Add(f); if (rng.Next(2) == 0) order.Add(f); }
        order = order.OrderBy(_ => rng.Next()).ToList();
        order.AddRange(frames); // late duplicates after completion

        var link = new FakeLink(1000);
        using var t = Make(link);
        var rx = new Collector();
        foreach (byte[] f in order) t.ProcessDatagram(3, f, rx);
        Assert.Single(rx.Messages);
        Assert.Equal(msg, rx.Messages[0].Message);
        Assert.Equal(order.Count - frames.Count, t.Stats.DuplicatesDropped);
        Assert.Equal(0, t.PartialMessageCount);
        Assert.Equal(0, t.Stats.MalformedDropped);
    }

    [Fact]
    public void Inconsistent_fragment_abandons_the_message()
    {
        List<byte[]> frames = Fragments(Wait.Pattern(5000, 2));
        var link = new FakeLink(1000);
        using var t = Make(link);
        var rx = new Collector();
        t.ProcessDatagram(3, frames[0], rx);
        byte[] other = Fragments(Wait.Pattern(6000, 2))[1]; // same sender and message id (0), other total length
        t.ProcessDatagram(3, other, rx);
        Assert.Equal(1, t.Stats.MalformedDropped);
        Assert.Equal(1, t.Stats.ReassemblyDropped);
        Assert.Equal(0, t.PartialMessageCount);
    }

    [Fact]
    public void Reassembly_memory_bound_is_enforced()
    {
        var link = new FakeLink(1000);
        using var t = Make(link, tweak: o => { o.MaxMessageSize = 10_000; o.MaxReassemblyBytes = 25_000; });
        var rx = new Collector();
        for (uint sender = 1000; sender < 1010; sender++)
        {
            List<byte[]> frames = Fragments(new byte[10_000], sender);
            t.ProcessDatagram((int)sender, frames[0], rx); // never completes
            Assert.True(t.PartialMessageBytes <= 25_000);
        }
        Assert.Equal(2, t.PartialMessageCount);
        Assert.Equal(8, t.Stats.ReassemblyDropped);
        Assert.Empty(rx.Messages);

        // The newest partial messages survived and still complete.
        List<byte[]> last = Fragments(Wait.Pattern(10_000, 3), 1009);
        foreach (byte[] f in last.Skip(1)) t.ProcessDatagram(1009, f, rx);
        Assert.Single(rx.Messages);
    }

    [Fact]
    public void Reassembly_per_source_bound_is_enforced()
    {
        var link = new FakeLink(1000);
        using var t = Make(link, tweak: o => o.MaxReassembliesPerSource = 3);
        var rx = new Collector();
        for (uint sender = 1000; sender < 1010; sender++)
            t.ProcessDatagram(3, Fragments(new byte[5000], sender)[0], rx);
        t.ProcessDatagram(4, Fragments(new byte[5000], 2000)[0], rx);
        Assert.Equal(4, t.PartialMessageCount);
        Assert.Equal(7, t.Stats.ReassemblyDropped);
    }

    [Fact]
    public void Partial_messages_are_evicted_after_the_timeout()
    {
        var clock = new FakeClock();
        var link = new FakeLink(1000);
        using var t = Make(link, clock, o => o.ReassemblyTimeoutMs = 500);
        var rx = new Collector();
        List<byte[]> frames = Fragments(Wait.Pattern(5000, 4));
        t.ProcessDatagram(3, frames[0], rx);
        clock.Ms += 499;
        t.Poll(rx, 0);
        Assert.Equal(1, t.PartialMessageCount);
        t.ProcessDatagram(3, frames[1], rx); // activity refreshes the timer
        clock.Ms += 499;
        t.Poll(rx, 0);
        Assert.Equal(1, t.PartialMessageCount);
        clock.Ms += 1;
        t.Poll(rx, 0);
        Assert.Equal(0, t.PartialMessageCount);
        Assert.Equal(0, t.PartialMessageBytes);
        Assert.Equal(1, t.Stats.ReassemblyDropped);
        Assert.Empty(rx.Messages);
    }

    /// <summary>A handler that runs <paramref name="action"/> for each message (e.g. to call ConfirmRoute).</summary>
    private sealed class Handler(Action<uint, uint> action) : IMessageHandler
    {
        public int Count;
        public void OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message) { Count++; action(sender, destination); }
    }

    [Fact]
    public void Unauthenticated_frames_never_create_a_route()
    {
        var link = new FakeLink(1000);
        using var t = Make(link);
        var rx = new Collector(); // delivers, never confirms (the message did not authenticate)
        t.ProcessDatagram(5, BundleOf(1000, 0, 1), rx);
        Assert.Single(rx.Messages);
        Assert.False(t.TryGetRoute(1000, out _));
        Assert.Equal(0, t.LearnedNodeCount);
        t.Send(1000, 0, new byte[] { 1 });
        Assert.Equal(1, t.Stats.UnknownDestinationDropped);
    }

    [Fact]
    public void Forged_frame_claiming_a_client_id_from_another_endpoint_does_not_change_its_route()
    {
        var link = new FakeLink(1000);
        using var t = Make(link);
        ulong fresh = 7;
        var authenticated = new Handler((s, _) => Assert.True(t.ConfirmRoute(s, fresh)));
        t.ProcessDatagram(5, BundleOf(1000, 0, 1), authenticated);
        Assert.True(t.TryGetRoute(1000, out int peer));
        Assert.Equal(5, peer);

        // The attacker's frame claims client 1000 from endpoint 9; it does not authenticate, so nobody confirms it.
        var forged = new Collector();
        t.ProcessDatagram(9, BundleOf(1000, 0, 1), forged);
        Assert.Single(forged.Messages);
        Assert.True(t.TryGetRoute(1000, out peer));
        Assert.Equal(5, peer);

        // A replay of the client's authenticated message (same or older freshness) from endpoint 9 does not move it.
        var replay = new Handler((s, _) => Assert.False(t.ConfirmRoute(s, 7)));
        t.ProcessDatagram(9, BundleOf(1000, 0, 1), replay);
        replay = new Handler((s, _) => Assert.False(t.ConfirmRoute(s, 3)));
        t.ProcessDatagram(9, BundleOf(1000, 0, 1), replay);
        Assert.True(t.TryGetRoute(1000, out peer));
        Assert.Equal(5, peer);

        t.Send(1000, 0, new byte[] { 1 });
        t.Flush();
        Assert.Equal(5, link.Sent[^1].Peer);
    }

    [Fact]
    public void Authenticated_fresh_message_moves_the_route_of_a_client_that_changed_endpoint()
    {
        var link = new FakeLink(1000);
        using var t = Make(link);
        ulong fresh = 1;
        var authenticated = new Handler((s, _) => Assert.True(t.ConfirmRoute(s, fresh)));
        t.ProcessDatagram(5, BundleOf(1000, 0, 1), authenticated);
        fresh = 2; // the restarted client's next request id
        t.ProcessDatagram(9, BundleOf(1000, 0, 1), authenticated);
        Assert.True(t.TryGetRoute(1000, out int peer));
        Assert.Equal(9, peer);
        Assert.Equal(1, t.LearnedNodeCount);
        t.Send(1000, 0, new byte[] { 1 });
        t.Flush();
        Assert.Equal(9, link.Sent[^1].Peer);

        // Re-confirming from the same endpoint with an older value keeps it (a retransmission).
        fresh = 1;
        t.ProcessDatagram(9, BundleOf(1000, 0, 1), authenticated);
        Assert.True(t.TryGetRoute(1000, out peer));
        Assert.Equal(9, peer);
    }

    [Fact]
    public void ConfirmRoute_only_for_the_frame_sender_during_delivery_and_never_for_configured_routes()
    {
        var link = new FakeLink(1000);
        using var t = Make(link);
        Assert.False(t.ConfirmRoute(1000, 1)); // outside OnMessage
        Assert.False(t.TryGetRoute(1000, out _));

        // A replica relaying client 1000's authenticated request: the frame sender is 1, not 1000.
        var relay = new Handler((s, _) => Assert.False(t.ConfirmRoute(1000, 5)));
        t.ProcessDatagram(2, BundleOf(1, 0, 1), relay);
        Assert.Equal(1, relay.Count);
        Assert.False(t.TryGetRoute(1000, out _));

        // A frame claiming configured node 1 from another endpoint: configured routes never move.
        var claim = new Handler((s, _) => Assert.False(t.ConfirmRoute(s, ulong.MaxValue)));
        t.ProcessDatagram(9, BundleOf(1, 0, 1), claim);
        Assert.True(t.TryGetRoute(1, out int peer));
        Assert.Equal(2, peer);
        Assert.Equal(0, t.LearnedNodeCount);
        Assert.False(t.ConfirmRoute(1000, 1)); // after delivery
    }

    [Fact]
    public void Route_of_a_fragmented_message_is_confirmed_to_its_source()
    {
        var link = new FakeLink(1000);
        using var t = Make(link);
        var authenticated = new Handler((s, _) => Assert.True(t.ConfirmRoute(s, 1)));
        foreach (byte[] f in Fragments(new byte[5000], sender: 1000)) t.ProcessDatagram(6, f, authenticated);
        Assert.Equal(1, authenticated.Count);
        Assert.True(t.TryGetRoute(1000, out int peer));
        Assert.Equal(6, peer);
    }

    [Fact]
    public void Learned_table_is_bounded()
    {
        var link = new FakeLink(1000);
        using var t = Make(link, tweak: o => o.MaxLearnedNodes = 4);
        var rx = new Collector { ConfirmOn = t };
        for (uint c = 1000; c < 1010; c++) t.ProcessDatagram((int)c, BundleOf(c, 0, 1), rx);
        Assert.Equal(4, t.LearnedNodeCount);
        Assert.False(t.TryGetRoute(1005, out _));
        Assert.True(t.TryGetRoute(1009, out int p));
        Assert.Equal(1009, p);
        Assert.True(t.TryGetRoute(0, out _));
    }

    [Fact]
    public void Send_rejects_bad_lengths()
    {
        using var t = Make(new FakeLink(1000));
        Assert.Throws<ArgumentException>(() => t.Send(0, 1, ReadOnlySpan<byte>.Empty));
        Assert.Throws<ArgumentException>(() => t.Send(0, 1, new byte[100_001]));
    }

    [Fact]
    public void Options_are_validated_with_the_field_name()
    {
        var e = Assert.Throws<ArgumentException>(() => new DatagramTransport(new FakeLink(), new DatagramTransportOptions { MaxReassemblyBytes = 10 }));
        Assert.Contains("MaxReassemblyBytes", e.Message);
        e = Assert.Throws<ArgumentException>(() => new DatagramTransport(new FakeLink(), new DatagramTransportOptions { MaxReassembliesPerSource = 0 }));
        Assert.Contains("MaxReassembliesPerSource", e.Message);
        e = Assert.Throws<ArgumentException>(() => new DatagramTransport(new FakeLink(90), new DatagramTransportOptions()));
        Assert.Contains("MaxMessageSize", e.Message); // 4 MiB needs > 65,535 fragments of 58 bytes
    }

    internal static byte[] BundleOf(uint sender, uint destination, int length)
    {
        var b = new byte[FrameCodec.FrameHeaderSize + FrameCodec.BundleEntryHeaderSize + length];
        FrameCodec.WriteFrameHeader(b, FrameKind.Bundle);
        FrameCodec.WriteBundleEntry(b.AsSpan(8), sender, destination, new byte[length]);
        return b;
    }
}
