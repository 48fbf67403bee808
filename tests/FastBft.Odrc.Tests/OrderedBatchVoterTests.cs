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
