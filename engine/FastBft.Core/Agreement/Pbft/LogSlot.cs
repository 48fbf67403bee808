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
    public readonly MatchingVotes Prepares;      // PREPARE digests by sender
    public readonly MatchingVotes Commits;       // COMMIT digests by sender
    public bool SentPrepare, SentCommit, Prepared, Committed, Executed;
    public bool Persisted;            // the slot record (PRE-PREPARE) of this view is in the agreement log (docs/durability.md §4.2)
    public int StalledTicks;
    public long AnsweredTick = -1;

    public LogSlot(int n)
    {
        Prepares = new MatchingVotes(n);
        Commits = new MatchingVotes(n);
    }

    public void Reset(ulong seq, ulong view)
    {
        Seq = seq; View = view; HasPrePrepare = false; PrePrepareLength = 0;
        Prepares.Clear(); Commits.Clear();
        SentPrepare = SentCommit = Prepared = Committed = Executed = Persisted = false;
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
}
