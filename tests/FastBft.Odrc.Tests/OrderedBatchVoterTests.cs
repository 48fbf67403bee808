using FastBft.Execution.Odrc;

namespace FastBft.Odrc.Tests;

/// <summary>How an execution-only replica of an extended cell takes the order (docs/odrc.md §4, G21): f+1 identical ORDERED-BATCH copies, in sequence order.</summary>
public sealed class OrderedBatchVoterTests
{
    private static byte[] Batch(int tag, int length = 64) { var b = new byte[length]; b.AsSpan().Fill((byte)tag); return b; }

    [Fact]
    public void A_batch_is_delivered_once_f_plus_one_agreement_replicas_sent_the_same_bytes()
    {
        var v = new OrderedBatchVoter(n: 4, f: 1, window: 8);
        v.OnNotice(0, 1, Batch(7));
        Assert.False(v.TryNext(out _, out _));
        v.OnNotice(2, 1, Batch(7));
        Assert.True(v.TryNext(out ulong seq, out var body));
        Assert.Equal(1UL, seq);
        Assert.Equal(Batch(7), body.ToArray());
        Assert.Equal(1UL, v.Delivered);
        Assert.False(v.TryNext(out _, out _));
    }

    [Fact]
    public void A_faulty_agreement_replica_alone_cannot_deliver_a_batch_and_cannot_outvote_two_correct_copies()
    {
        var v = new OrderedBatchVoter(n: 4, f: 1, window: 8);
        v.OnNotice(3, 1, Batch(66));             // the faulty one's forged batch
        v.OnNotice(3, 1, Batch(66));             // a replay counts once
        Assert.False(v.TryNext(out _, out _));
        v.OnNotice(0, 1, Batch(1));
        Assert.False(v.TryNext(out _, out _)); // 1 vs 1: nothing has f+1
        v.OnNotice(1, 1, Batch(1));
        Assert.True(v.TryNext(out _, out var body));
        Assert.Equal(Batch(1), body.ToArray());
        Assert.True(v.Dropped >= 1);
    }

    [Fact]
    public void Batches_are_delivered_in_sequence_order_even_when_later_ones_are_complete_first()
    {
        var v = new OrderedBatchVoter(n: 4, f: 1, window: 8);
        v.OnNotice(0, 2, Batch(2)); v.OnNotice(1, 2, Batch(2));
        Assert.False(v.TryNext(out _, out _));   // 1 is missing
        v.OnNotice(0, 1, Batch(1)); v.OnNotice(1, 1, Batch(1));
        Assert.True(v.TryNext(out ulong a, out _));
        Assert.True(v.TryNext(out ulong b, out var second));
        Assert.Equal((1UL, 2UL), (a, b));
        Assert.Equal(Batch(2), second.ToArray());
    }

    [Fact]
    public void Notices_outside_the_window_or_from_non_agreement_ids_are_dropped_without_state()
    {
        var v = new OrderedBatchVoter(n: 4, f: 1, window: 4);
        v.OnNotice(0, 5, Batch(5));              // beyond delivered + window
        v.OnNotice(4, 1, Batch(1));              // an execution-only id is no agreement replica
        v.OnNotice(5, 1, Batch(1));
        Assert.Equal(3, v.Dropped);
        Assert.False(v.TryNext(out _, out _));
        v.OnNotice(0, 1, Batch(1)); v.OnNotice(1, 1, Batch(1));
        Assert.True(v.TryNext(out _, out _));
        v.OnNotice(2, 1, Batch(1));              // late copy of a delivered batch
        Assert.Equal(4, v.Dropped);
    }

    [Fact]
    public void Slots_are_reused_around_the_ring_with_larger_batches()
    {
        var v = new OrderedBatchVoter(n: 4, f: 1, window: 2);
        for (ulong s = 1; s <= 10; s++)
        {
            var b = Batch((int)s, 100 * (int)s);
            v.OnNotice(1, s, b); v.OnNotice(3, s, b);
            Assert.True(v.TryNext(out ulong seq, out var body));
            Assert.Equal(s, seq);
            Assert.Equal(b, body.ToArray());
        }
    }
}

/// <summary>An agreement replica's side of an extended cell: forwarding committed batches and answering ORDERED-BATCH-FETCH (docs/odrc.md §4, G21).</summary>
public sealed class ExtendedCellForwardingTests
{
    private sealed class Net : IOdrcCore
    {
        public readonly List<(uint To, FastBft.Wire.MessageType Type, ulong Seq, byte[] Body)> Sent = new();
        public void SendOdrc(uint toReplica, FastBft.Wire.MessageType type, ulong ordinal, ReadOnlySpan<byte> body) => Sent.Add((toReplica, type, ordinal, body.ToArray()));
        public void OrderedElsewhere(uint client, ulong rid) { }
    }

    private sealed class Sink : FastBft.Execution.IExecutionSink { public void OnExecuted(FastBft.Execution.ReplyEntry entry, bool designated) { } }

    [Fact]
    public void Every_committed_batch_goes_to_each_execution_only_replica_and_a_fetch_gets_the_same_bytes_again()
    {
        var stage = new OdrcExecutionStage(new FastBft.Workloads.Kv.KvService(new FastBft.Workloads.Kv.MemoryKvStore()), 1,
            new ObjectPlacement(6, 1, PlacementStrategy.RoundRobin), null, 128, 3);
        var net = new Net();
        stage.UseNetwork(net, firstExecutionOnly: 4);
        var batch = new byte[FastBft.Wire.Bodies.PrePrepareFixed];       // an empty batch (no requests)
        batch[0] = 0xAB;
        stage.Committed(7, batch, new Sink());
        Assert.Equal([(4u, 7UL), (5u, 7UL)], net.Sent.Select(s => (s.To, s.Seq)).ToArray());
        Assert.All(net.Sent, s => { Assert.Equal(FastBft.Wire.MessageType.OrderedBatch, s.Type); Assert.Equal(batch, s.Body); });
        net.Sent.Clear();
        stage.OnOrderedBatchFetch(5, 7);
        Assert.Single(net.Sent);
        Assert.Equal((5u, 7UL), (net.Sent[0].To, net.Sent[0].Seq));
        Assert.Equal(batch, net.Sent[0].Body);
        net.Sent.Clear();
        stage.OnOrderedBatchFetch(2, 7);          // an agreement replica has the order itself
        stage.OnOrderedBatchFetch(5, 8);          // never committed here
        stage.OnOrderedBatchFetch(9, 7);          // no execution replica
        Assert.Empty(net.Sent);
    }
}
