namespace FastBft.Agreement;

/// <summary>
/// "Matching digests from distinct senders": one vote (a 32-byte digest) per sender among up to 64
/// senders, counted by digest. The one counter behind log slots (PREPARE/COMMIT), checkpoints, client
/// reply voting and state-transfer targets (issue 9 item 6). A sender's first vote counts; a different
/// later vote from the same sender is ignored (a correct sender votes once per instance), a repeated
/// equal one is reported as a duplicate so the caller can treat it as a retransmission.
/// Allocation-free after construction; single-threaded.
/// </summary>
public sealed class MatchingVotes
{
    /// <summary>Digest size in bytes.</summary>
    public const int DigestSize = 32;
    private readonly byte[] _digests;
    private ulong _mask;

    /// <summary>Creates a counter for senders 0..<paramref name="senders"/>-1.</summary>
    /// <exception cref="ArgumentOutOfRangeException">more than 64 senders.</exception>
    public MatchingVotes(int senders)
    {
        if (senders < 1 || senders > 64) throw new ArgumentOutOfRangeException(nameof(senders), senders, "1..64 senders (votes are a 64-bit mask)");
        Senders = senders;
        _digests = new byte[senders * DigestSize];
    }

    /// <summary>Number of sender slots.</summary>
    public int Senders { get; }

    /// <summary>Bit i set: sender i voted.</summary>
    public ulong Mask => _mask;

    /// <summary>Number of senders that voted.</summary>
    public int Count => System.Numerics.BitOperations.PopCount(_mask);

    /// <summary>Forgets every vote.</summary>
    public void Clear() => _mask = 0;

    /// <summary>True if <paramref name="sender"/> voted.</summary>
    public bool HasVoted(uint sender) => sender < 64 && (_mask & (1UL << (int)sender)) != 0;

    /// <summary>The digest <paramref name="sender"/> voted for (valid only if <see cref="HasVoted"/>).</summary>
    public ReadOnlySpan<byte> VoteOf(uint sender) => _digests.AsSpan((int)sender * DigestSize, DigestSize);

    /// <summary>Records <paramref name="sender"/>'s vote. True if it is the sender's first vote; false for a duplicate or a sender out of range.</summary>
    public bool Record(uint sender, ReadOnlySpan<byte> digest)
    {
        if (sender >= (uint)Senders) return false;
        ulong bit = 1UL << (int)sender;
        if ((_mask & bit) != 0) return false;
        digest.Slice(0, DigestSize).CopyTo(_digests.AsSpan((int)sender * DigestSize, DigestSize));
        _mask |= bit;
        return true;
    }

    /// <summary>Replaces <paramref name="sender"/>'s vote (for counters where a sender's latest vote counts, e.g. the latest checkpoint it announced).</summary>
    public void Replace(uint sender, ReadOnlySpan<byte> digest)
    {
        if (sender >= (uint)Senders) return;
        digest.Slice(0, DigestSize).CopyTo(_digests.AsSpan((int)sender * DigestSize, DigestSize));
        _mask |= 1UL << (int)sender;
    }

    /// <summary>Removes <paramref name="sender"/>'s vote.</summary>
    public void Remove(uint sender) { if (sender < 64) _mask &= ~(1UL << (int)sender); }

    /// <summary>Number of senders whose vote equals <paramref name="digest"/>.</summary>
    public int CountMatching(ReadOnlySpan<byte> digest)
    {
        int c = 0;
        ulong m = _mask;
        while (m != 0)
        {
            int i = System.Numerics.BitOperations.TrailingZeroCount(m);
            m &= m - 1;
            if (_digests.AsSpan(i * DigestSize, DigestSize).SequenceEqual(digest)) c++;
        }
        return c;
    }

    /// <summary>True if some digest has at least <paramref name="quorum"/> matching votes; then <paramref name="winner"/> is a sender that voted for it.</summary>
    public bool TryFindQuorum(int quorum, out uint winner)
    {
        ulong m = _mask;
        while (m != 0)
        {
            int i = System.Numerics.BitOperations.TrailingZeroCount(m);
            m &= m - 1;
            if (CountMatching(_digests.AsSpan(i * DigestSize, DigestSize)) >= quorum) { winner = (uint)i; return true; }
        }
        winner = 0;
        return false;
    }
}
