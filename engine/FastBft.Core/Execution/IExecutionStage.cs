using FastBft.Execution.Checkpoints;

namespace FastBft.Execution;

/// <summary>
/// Where an execution stage's results leave (implemented by the agreement core, which owns the view
/// and the message builder): one call per executed request, in order.
/// </summary>
public interface IExecutionSink
{
    /// <summary>
    /// Request (<paramref name="entry"/>.ClientId, <paramref name="entry"/>.LastExecutedRid) was executed
    /// at sequence number <paramref name="entry"/>.LastExecutedSeq; its reply is in the entry. The core
    /// sends the REPLY — the full result if <paramref name="designated"/>, else its digest.
    /// </summary>
    void OnExecuted(ReplyEntry entry, bool designated);
}

/// <summary>
/// The execution stage (DESIGN.md "Agreement → execution"; libhotstuff's <c>do_decide</c>): an
/// agreement core hands it every committed batch in sequence order, and it executes, keeps the
/// <see cref="ReplyCache"/> and takes the checkpoint snapshots. PBFT's default is the
/// <see cref="SequentialExecutionStage"/>; ODRC and RePBFT's passive replicas (applying UPDATEs) are
/// other stages, not branches inside a core.
/// </summary>
public interface IExecutionStage
{
    /// <summary>The reply cache (the core reads it to answer retransmitted requests).</summary>
    ReplyCache Replies { get; }

    /// <summary>True if this replica executes requests (PBFT: every replica; ODRC: f+1 per object; passive replicas: none).</summary>
    bool Executes { get; }

    /// <summary>
    /// The batch committed at <paramref name="sequence"/>: executes its requests in order, skipping any
    /// the reply cache shows executed (Thesis §2.1.2.2), and reports each through <paramref name="sink"/>.
    /// Called exactly once per sequence number, in increasing order without gaps.
    /// </summary>
    /// <param name="sequence">the sequence number s.</param>
    /// <param name="batchBody">the validated batch body (docs/wire-format.md §2.3: digest ‖ count ‖ entries).</param>
    /// <param name="sink">receives each executed request.</param>
    void Committed(ulong sequence, ReadOnlySpan<byte> batchBody, IExecutionSink sink);

    /// <summary>Takes the checkpoint at <paramref name="sequence"/> (all batches up to it executed): writes its 32-byte digest and keeps the snapshot to serve state transfer.</summary>
    void TakeCheckpoint(ulong sequence, Span<byte> digest32);

    /// <summary>Object 0 of the checkpoint at <paramref name="sequence"/> (its SHA-256 is the checkpoint digest: the whole snapshot, or the meta object of a partition tree), if still kept (the window's checkpoints are).</summary>
    bool TryGetCheckpoint(ulong sequence, out ReadOnlySpan<byte> snapshot);

    /// <summary>
    /// Installs a fetched checkpoint snapshot whose digest the caller verified against a stable
    /// checkpoint certificate (PBFT-PR §4.6.2). Returns false, changing nothing, if the snapshot is malformed.
    /// </summary>
    bool TryInstallCheckpoint(ulong sequence, ReadOnlySpan<byte> snapshot);

    /// <summary>Digest of the service state now (32 bytes).</summary>
    void GetStateDigest(Span<byte> digest32);

    /// <summary>
    /// Object <paramref name="obj"/> of the kept checkpoint at <paramref name="sequence"/> (docs/state-transfer.md §2:
    /// 0 = the object whose SHA-256 is the checkpoint digest). The default serves the whole snapshot as object 0.
    /// The span is valid until the next call.
    /// </summary>
    bool TryReadCheckpointObject(ulong sequence, uint obj, out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        return obj == 0 && TryGetCheckpoint(sequence, out bytes);
    }

    /// <summary>
    /// Starts installing the checkpoint at <paramref name="sequence"/> whose object 0 (<paramref name="object0"/>) the
    /// caller verified against the certified digest; null if it is malformed. The default installs the whole snapshot
    /// through <see cref="TryInstallCheckpoint"/>.
    /// </summary>
    /// <param name="sequence">the checkpoint's sequence number.</param>
    /// <param name="object0">object 0, verified.</param>
    /// <param name="maxBytes">bound on the bytes the session may buffer.</param>
    ICheckpointFetch? BeginCheckpointFetch(ulong sequence, ReadOnlySpan<byte> object0, long maxBytes)
        => new WholeSnapshotFetch(this, sequence, object0.ToArray());
}
