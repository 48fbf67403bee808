using System.Buffers;

namespace FastBft.Service;

/// <summary>
/// A service state split into a fixed number of partitions, each with its own cryptographic digest, so that a
/// checkpoint costs what changed and state transfer fetches only the partitions whose digests differ
/// (PBFT-PR §4.3 / §5.3 partitions; docs/state-transfer.md). A service that implements it next to
/// <see cref="IReplicatedService"/> gets incremental checkpoints from the execution stage; any other service is
/// adapted as one partition by <see cref="WholeStatePartition"/>.
/// </summary>
/// <remarks>
/// Called from the replica's protocol thread only. Everything here must be deterministic: two correct replicas with
/// the same state report the same digests and write the same partition bytes.
/// </remarks>
public interface IPartitionedState
{
    /// <summary>Number of partitions P, 1 ≤ P ≤ 65,536; fixed for the life of the state (every replica of a cell must agree).</summary>
    int PartitionCount { get; }

    /// <summary>Writes the 32-byte digest of partition <paramref name="partition"/> as it is now.</summary>
    /// <exception cref="ArgumentOutOfRangeException">partition outside 0..P−1.</exception>
    void GetPartitionDigest(int partition, Span<byte> digest32);

    /// <summary>
    /// Adds to <paramref name="changed"/> every partition that may have changed since the previous call (or since the
    /// state was opened, restored or installed: then every partition), and forgets them. Listing an unchanged one is
    /// allowed (it costs a digest read); omitting a changed one is a bug.
    /// </summary>
    void TakeChangedPartitions(List<int> changed);

    /// <summary>
    /// Freezes the state as it is now (a checkpoint): the returned view keeps serving these partition contents while
    /// the live state moves on. Must not copy the state (RocksDB: a snapshot; memory: copy-on-write of the partitions
    /// written later).
    /// </summary>
    IPartitionView Freeze();

    /// <summary>
    /// Checks that <paramref name="content"/> is a well-formed content of partition <paramref name="partition"/> as
    /// <see cref="IPartitionView.WritePartition"/> writes it, and writes the digest that partition would have with it.
    /// Changes nothing. Returns false for malformed content (bad lengths, keys of another partition, unordered keys).
    /// </summary>
    bool TryComputePartitionDigest(int partition, ReadOnlySpan<byte> content, Span<byte> digest32);

    /// <summary>
    /// Replaces the listed partitions with the given contents (each verified by <see cref="TryComputePartitionDigest"/>)
    /// in one step; the other partitions are untouched.
    /// </summary>
    /// <exception cref="InvalidDataException">a content is malformed (nothing is changed).</exception>
    void InstallPartitions(IReadOnlyList<KeyValuePair<int, byte[]>> partitions);
}

/// <summary>A frozen checkpoint view of an <see cref="IPartitionedState"/> (disposed when the checkpoint leaves the window).</summary>
public interface IPartitionView : IDisposable
{
    /// <summary>Appends the content of <paramref name="partition"/> as frozen (service-defined bytes, verified by <see cref="IPartitionedState.TryComputePartitionDigest"/>).</summary>
    void WritePartition(int partition, IBufferWriter<byte> destination);
}

/// <summary>
/// What a service with its own storage persists with each executed batch (docs/durability.md): the sequence number
/// and the reply-cache entries of the batch, atomically with the batch's state changes.
/// </summary>
public interface IDurableState
{
    /// <summary>True if <see cref="CommitBatch"/> must complete before the batch's replies leave (durability process or fsync).</summary>
    bool PersistsBatches { get; }

    /// <summary>
    /// The batch at <paramref name="sequence"/> was executed: persist its state changes together with
    /// <paramref name="sequence"/> and the serialized reply-cache entries of the clients it executed
    /// (each <c>clientId[4] ‖ entry</c>, <see cref="FastBft.Execution.ReplyCache.WriteEntry"/>).
    /// </summary>
    void CommitBatch(ulong sequence, ReadOnlySpan<byte> replyEntries, int entryCount);

    /// <summary>
    /// The persisted sequence number and reply cache found when the state was opened (0 and empty when nothing was
    /// persisted). The reply cache bytes are <see cref="FastBft.Execution.ReplyCache.Write"/>'s format.
    /// </summary>
    ulong RecoveredSequence { get; }

    /// <summary>The reply cache persisted with <see cref="RecoveredSequence"/> (ReplyCache.Write format; empty if none).</summary>
    ReadOnlyMemory<byte> RecoveredReplies { get; }

    /// <summary>
    /// A checkpoint was installed by state transfer at <paramref name="sequence"/> with this whole reply cache
    /// (ReplyCache.Write format): persist both with the installed partitions.
    /// </summary>
    void CommitInstall(ulong sequence, ReadOnlySpan<byte> replyCache);
}
