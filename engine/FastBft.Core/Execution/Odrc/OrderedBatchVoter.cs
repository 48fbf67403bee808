using FastBft.Wire;

namespace FastBft.Execution.Odrc;

/// <summary>
/// How an execution-only replica of an extended cell (ODRC₆, Thesis §6.7.2.1) learns the total order (docs/odrc.md §4,
/// decision G21, PROTOCOLS.md's suggestion): every agreement replica forwards each committed batch (ORDERED-BATCH: header
/// sequence s, body = the batch body); batch s is <b>delivered</b> once f+1 distinct agreement replicas sent byte-identical
/// bodies (equal SHA-256), and batches are delivered strictly in sequence order. With at most f faulty agreement
/// replicas, f+1 matching copies include a correct one, so the delivered batch is the committed one. Pure, sans-I/O,
/// single-threaded. Memory: a ring of <c>window</c> slots × n copies, each buffer grown to the largest batch once (no
/// allocation per batch in steady state); notices for s ≤ delivered or s &gt; delivered + window are dropped (a replica
/// that falls further behind stays behind: there is no ORDERED-BATCH retransmission yet, docs/odrc.md §10).
/// </summary>
public sealed class OrderedBatchVoter
{
    private readonly int _n, _f, _window;
    private readonly Slot[] _slots;

    private sealed class Slot
    {
        public ulong Seq;
        public readonly byte[][] Body;
        public readonly int[] Length;
        public readonly byte[] Digest;     // n × 32
        public ulong Has;                  // bit per agreement replica
        public Slot(int n)
        {
            Body = new byte[n][];
            for (int i = 0; i < n; i++) Body[i] = new byte[256];
            Length = new int[n];
            Digest = new byte[n * Digests.Size];
        }
    }

    /// <summary>A voter for a cell of <paramref name="n"/> agreement replicas tolerating <paramref name="f"/> faults.</summary>
    /// <param name="n">agreement replicas (senders 0..n-1), ≤ 64.</param>
    /// <param name="f">faults tolerated: f+1 matching copies deliver.</param>
    /// <param name="window">batches accepted ahead of the last delivered one, ≥ 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">n outside 1..64, f outside 0..n-1, window &lt; 1.</exception>
    public OrderedBatchVoter(int n, int f, int window = 1024)
    {
        if (n < 1 || n > 64) throw new ArgumentOutOfRangeException(nameof(n));
        if (f < 0 || f >= n) throw new ArgumentOutOfRangeException(nameof(f));
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        _n = n; _f = f; _window = window;
        _slots = new Slot[window];
        for (int i = 0; i < window; i++) _slots[i] = new Slot(n);
    }

    /// <summary>Sequence number of the last delivered batch (0: none).</summary>
    public ulong Delivered { get; private set; }
    /// <summary>Notices dropped (outside the window, from a non-agreement sender, or a second copy from one sender).</summary>
    public long Dropped { get; private set; }
    /// <summary>Highest sequence number any agreement replica announced (0: none): above <see cref="Delivered"/> + 1 the next batch is missing.</summary>
    public ulong HighestSeen { get; private set; }

    /// <summary>One ORDERED-BATCH from agreement replica <paramref name="sender"/> for sequence <paramref name="seq"/> (authenticated by the caller).</summary>
    public void OnNotice(uint sender, ulong seq, ReadOnlySpan<byte> batch)
    {
        if (sender < (uint)_n && seq > HighestSeen) HighestSeen = seq;
        if (sender >= (uint)_n || seq <= Delivered || seq > Delivered + (ulong)_window) { Dropped++; return; }
        var slot = _slots[(int)(seq % (ulong)_window)];
        if (slot.Seq != seq) { slot.Seq = seq; slot.Has = 0; }
        ulong bit = 1UL << (int)sender;
        if ((slot.Has & bit) != 0) { Dropped++; return; }
        int i = (int)sender;
        if (slot.Body[i].Length < batch.Length) slot.Body[i] = new byte[Math.Max(batch.Length, slot.Body[i].Length * 2)];
        batch.CopyTo(slot.Body[i]);
        slot.Length[i] = batch.Length;
        Digests.Sha256(batch, slot.Digest.AsSpan(i * Digests.Size, Digests.Size));
        slot.Has |= bit;
    }

    /// <summary>
    /// The next batch in sequence order if f+1 agreement replicas sent it identically: true with its sequence number and
    /// body (valid until the next <see cref="OnNotice"/> for that slot), and the batch counts as delivered.
    /// </summary>
    public bool TryNext(out ulong seq, out ReadOnlySpan<byte> batch)
    {
        seq = Delivered + 1;
        batch = default;
        var slot = _slots[(int)(seq % (ulong)_window)];
        if (slot.Seq != seq) return false;
        ulong has = slot.Has;
        while (has != 0)
        {
            int i = System.Numerics.BitOperations.TrailingZeroCount(has);
            has &= has - 1;
            var d = slot.Digest.AsSpan(i * Digests.Size, Digests.Size);
            int matching = 0;
            ulong others = slot.Has;
            while (others != 0)
            {
                int j = System.Numerics.BitOperations.TrailingZeroCount(others);
                others &= others - 1;
                if (d.SequenceEqual(slot.Digest.AsSpan(j * Digests.Size, Digests.Size))) matching++;
            }
            if (matching >= _f + 1)
            {
                batch = slot.Body[i].AsSpan(0, slot.Length[i]);
                Delivered = seq;
                return true;
            }
        }
        return false;
    }
}
