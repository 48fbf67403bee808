namespace FastBft.Agreement;

/// <summary>
/// CHECKPOINT votes per checkpoint sequence number inside the window, and the last stable
/// checkpoint's digest (PBFT-PR §4.3: stable at 2f+1 matching CHECKPOINTs). Fixed memory:
/// (L/K + 1) entries of n digests.
/// </summary>
internal sealed class CheckpointTracker
{
    private sealed class Entry
    {
        public ulong Seq;
        public readonly MatchingVotes Votes;
        public bool HasOwn;
        public readonly byte[] Own = new byte[32];
        public Entry(int n) => Votes = new MatchingVotes(n);
    }

    private readonly Entry[] _entries;
    private readonly byte[] _stableDigest = new byte[32];
    private readonly ulong _k;
    private ulong _latestOwn;

    public CheckpointTracker(int n, int capacity, int checkpointInterval)
    {
        _k = (ulong)checkpointInterval;
        _entries = new Entry[capacity];
        for (int i = 0; i < capacity; i++) _entries[i] = new Entry(n);
    }

    public ReadOnlyMemory<byte> StableDigest => _stableDigest;

    private Entry For(ulong seq, bool create)
    {
        // Callers only pass seq in (h, h+L], so seq/K values map uniquely onto the capacity-sized ring.
        var e = _entries[(int)(seq / _k % (ulong)_entries.Length)];
        if (e.Seq != seq)
        {
            if (!create) return e;
            e.Seq = seq; e.Votes.Clear(); e.HasOwn = false;
        }
        return e;
    }

    public void Record(ulong seq, uint sender, ReadOnlySpan<byte> digest)
    {
        For(seq, create: true).Votes.Record(sender, digest);
    }

    public void RecordOwn(ulong seq, ReadOnlySpan<byte> digest, uint self)
    {
        var e = For(seq, create: true);
        digest.CopyTo(e.Own);
        e.HasOwn = true;
        e.Votes.Remove(self);
        e.Votes.Record(self, digest);
        if (seq > _latestOwn) _latestOwn = seq;
    }

    /// <summary>Matching votes for our own digest at seq, or -1 if we have not taken it.</summary>
    public int CountMatchingOwn(ulong seq)
    {
        var e = For(seq, create: false);
        if (e.Seq != seq || !e.HasOwn) return -1;
        return e.Votes.CountMatching(e.Own);
    }

    public bool HasConflictingQuorum(ulong seq, int quorum)
    {
        var e = For(seq, create: false);
        if (e.Seq != seq) return false;
        ulong m = e.Votes.Mask;
        while (m != 0)
        {
            uint i = (uint)System.Numerics.BitOperations.TrailingZeroCount(m);
            m &= m - 1;
            var d = e.Votes.VoteOf(i);
            if (e.HasOwn && d.SequenceEqual(e.Own)) continue;
            if (e.Votes.CountMatching(d) >= quorum) return true;
        }
        return false;
    }

    public void MakeStable(ulong seq)
    {
        var e = For(seq, create: false);
        e.Own.CopyTo(_stableDigest, 0);
    }

    /// <summary>Makes <paramref name="digest"/> the stable checkpoint digest on a certificate of others (a NEW-VIEW's chosen checkpoint, PBFT-PR §4.5) — our own snapshot may not exist yet.</summary>
    public void SetStable(ReadOnlySpan<byte> digest) => digest.CopyTo(_stableDigest);

    /// <summary>Our latest own checkpoint if it is above the stable one (to retransmit it).</summary>
    public bool OwnUnstable(ulong stable, out ulong seq, out ReadOnlySpan<byte> digest)
    {
        seq = _latestOwn;
        digest = default;
        if (seq <= stable) return false;
        var e = For(seq, create: false);
        if (e.Seq != seq || !e.HasOwn) return false;
        digest = e.Own;
        return true;
    }

    /// <summary>Own checkpoints at or above <paramref name="low"/> (view change; allocates).</summary>
    public List<(ulong Seq, byte[] Digest)> OwnAtOrAbove(ulong low)
    {
        var list = new List<(ulong, byte[])>();
        foreach (var e in _entries) if (e.HasOwn && e.Seq > 0 && e.Seq >= low) list.Add((e.Seq, e.Own.ToArray()));
        list.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return list;
    }

    /// <summary>Our own checkpoint digest at <paramref name="seq"/>, if we took it and still track it.</summary>
    public bool TryGetOwn(ulong seq, Span<byte> digest)
    {
        var e = For(seq, create: false);
        if (e.Seq != seq || !e.HasOwn) return false;
        e.Own.CopyTo(digest);
        return true;
    }
}
