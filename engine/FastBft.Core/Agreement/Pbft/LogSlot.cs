namespace FastBft.Agreement.Pbft;

/// <summary>
/// One entry of the PBFT message log (PROTOCOLS.md §3.1): the PRE-PREPARE (with its batch) and the
/// PREPARE/COMMIT votes for one sequence number, kept until a stable checkpoint covers it — they
/// are the prepared certificate a view change needs. Slots are reused round-robin (index n mod L);
/// buffers grow once and are reused, so steady state allocates nothing.
/// </summary>
internal sealed class LogSlot
{
    public ulong Seq;                 // 0 = unused
    public ulong View;
    public bool HasPrePrepare;
    public readonly byte[] Digest = new byte[32];
    public byte[] PrePrepare = new byte[1024];   // the complete PRE-PREPARE message (authenticator included)
    public int PrePrepareLength;
    public readonly byte[] PrepareDigests;       // n × 32
    public ulong PrepareMask;
    public readonly byte[] CommitDigests;        // n × 32
    public ulong CommitMask;
    public bool SentPrepare, SentCommit, Prepared, Committed, Executed;
    public int StalledTicks;
    public long AnsweredTick = -1;

    public LogSlot(int n)
    {
        PrepareDigests = new byte[n * 32];
        CommitDigests = new byte[n * 32];
    }

    public void Reset(ulong seq, ulong view)
    {
        Seq = seq; View = view; HasPrePrepare = false; PrePrepareLength = 0;
        PrepareMask = 0; CommitMask = 0;
        SentPrepare = SentCommit = Prepared = Committed = Executed = false;
        StalledTicks = 0; AnsweredTick = -1;
    }

    public ReadOnlySpan<byte> PrePrepareMessage => PrePrepare.AsSpan(0, PrePrepareLength);

    public void StorePrePrepare(ReadOnlySpan<byte> message, ReadOnlySpan<byte> digest)
    {
        if (PrePrepare.Length < message.Length) PrePrepare = new byte[Math.Max(message.Length, PrePrepare.Length * 2)];
        message.CopyTo(PrePrepare);
        PrePrepareLength = message.Length;
        digest.CopyTo(Digest);
        HasPrePrepare = true;
    }

    /// <summary>Records a vote; false if the sender already voted (a retransmission).</summary>
    public static bool Record(byte[] digests, ref ulong mask, uint sender, ReadOnlySpan<byte> digest)
    {
        ulong bit = 1UL << (int)sender;
        if ((mask & bit) != 0) return false;
        mask |= bit;
        digest.CopyTo(digests.AsSpan((int)sender * 32, 32));
        return true;
    }

    /// <summary>Number of recorded votes that match this slot's digest.</summary>
    public int CountMatching(byte[] digests, ulong mask)
    {
        int c = 0;
        var d = Digest.AsSpan();
        while (mask != 0)
        {
            int i = System.Numerics.BitOperations.TrailingZeroCount(mask);
            mask &= mask - 1;
            if (digests.AsSpan(i * 32, 32).SequenceEqual(d)) c++;
        }
        return c;
    }
}
