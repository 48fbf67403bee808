using FastBft.Wire;

namespace FastBft.Agreement.RePbft;

/// <summary>
/// One sequence number of RePBFT's normal-case log (Thesis §5.3.1): the endorsed PRE-PREPARE and PREPAREs (kept
/// whole: their headers and endorsements form the prepare proof of an abort history), the votes, and — for the
/// execution stage — this replica's own update content (executors) or the UPDATEs received (passive replicas).
/// Buffers are reused across the sequence numbers the slot serves: steady state allocates nothing.
/// </summary>
internal sealed class ActiveSlot
{
    public ulong Seq;
    public readonly byte[] Digest = new byte[Digests.Size];
    public byte[] PrePrepare = new byte[1024];
    public int PrePrepareLength;
    public bool HasPrePrepare;
    public readonly byte[][] PrepareMessages;
    public readonly int[] PrepareLengths;
    public readonly MatchingVotes Prepares, Commits;
    public bool SentPrepare, SentCommit, Prepared, Committed, Executed;
    public int StalledTicks;
    public long AnsweredTick = -1;

    // Executors: the update content this replica produced for the slot (re-sent in full when a receiver lags).
    public byte[] Update = new byte[256];
    public int UpdateLength;
    public bool HasUpdate;

    // Update receivers (passive replicas, RePBFT* non-executors): votes on D(content) and one full content per digest seen first.
    public readonly MatchingVotes UpdateVotes;
    public byte[] FullUpdate = new byte[256];
    public int FullUpdateLength;
    public readonly byte[] FullUpdateDigest = new byte[Digests.Size];
    public bool HasFullUpdate;

    public ActiveSlot(int n)
    {
        PrepareMessages = new byte[n][];
        PrepareLengths = new int[n];
        for (int i = 0; i < n; i++) PrepareMessages[i] = new byte[256];
        Prepares = new MatchingVotes(n);
        Commits = new MatchingVotes(n);
        UpdateVotes = new MatchingVotes(n);
    }

    public ReadOnlySpan<byte> PrePrepareMessage => PrePrepare.AsSpan(0, PrePrepareLength);

    public void Reset(ulong seq)
    {
        Seq = seq;
        HasPrePrepare = false;
        PrePrepareLength = 0;
        Array.Clear(PrepareLengths);
        Prepares.Clear(); Commits.Clear(); UpdateVotes.Clear();
        SentPrepare = SentCommit = Prepared = Committed = Executed = false;
        HasUpdate = HasFullUpdate = false;
        UpdateLength = FullUpdateLength = 0;
        StalledTicks = 0;
        AnsweredTick = -1;
    }

    public void StorePrePrepare(ReadOnlySpan<byte> message, ReadOnlySpan<byte> digest)
    {
        if (PrePrepare.Length < message.Length) PrePrepare = new byte[Math.Max(message.Length, PrePrepare.Length * 2)];
        message.CopyTo(PrePrepare);
        PrePrepareLength = message.Length;
        digest.CopyTo(Digest);
        HasPrePrepare = true;
    }

    public void StorePrepare(uint sender, ReadOnlySpan<byte> message)
    {
        if (PrepareMessages[sender].Length < message.Length) PrepareMessages[sender] = new byte[message.Length];
        message.CopyTo(PrepareMessages[sender]);
        PrepareLengths[sender] = message.Length;
    }

    public void StoreUpdate(ReadOnlySpan<byte> content)
    {
        if (Update.Length < content.Length) Update = new byte[Math.Max(content.Length, Update.Length * 2)];
        content.CopyTo(Update);
        UpdateLength = content.Length;
        HasUpdate = true;
    }

    public void StoreFullUpdate(ReadOnlySpan<byte> content, ReadOnlySpan<byte> digest)
    {
        if (FullUpdate.Length < content.Length) FullUpdate = new byte[Math.Max(content.Length, FullUpdate.Length * 2)];
        content.CopyTo(FullUpdate);
        FullUpdateLength = content.Length;
        digest.CopyTo(FullUpdateDigest);
        HasFullUpdate = true;
    }
}
