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

    /// <summary>Copies <paramref name="source"/> into <paramref name="buffer"/>, growing it (doubling) only when too small; returns the length.</summary>
    private static int Keep(ref byte[] buffer, ReadOnlySpan<byte> source)
    {
        if (buffer.Length < source.Length) buffer = new byte[Math.Max(source.Length, buffer.Length * 2)];
        source.CopyTo(buffer);
        return source.Length;
    }

    public void StorePrePrepare(ReadOnlySpan<byte> message, ReadOnlySpan<byte> digest)
    {
        PrePrepareLength = Keep(ref PrePrepare, message);
        digest.CopyTo(Digest);
        HasPrePrepare = true;
    }

    public void StorePrepare(uint sender, ReadOnlySpan<byte> message)
    {
        PrepareLengths[sender] = Keep(ref PrepareMessages[sender], message);
    }

    public void StoreUpdate(ReadOnlySpan<byte> content)
    {
        UpdateLength = Keep(ref Update, content);
        HasUpdate = true;
    }

    public void StoreFullUpdate(ReadOnlySpan<byte> content, ReadOnlySpan<byte> digest)
    {
        FullUpdateLength = Keep(ref FullUpdate, content);
        digest.CopyTo(FullUpdateDigest);
        HasFullUpdate = true;
    }
}
