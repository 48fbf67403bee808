using System.Buffers;

namespace FastBft.Service;

/// <summary>
/// Where an ordered request sits in the total order: the client's request id and the batch
/// position (s, index) it was ordered at (Thesis §2.1.2.2).
/// </summary>
/// <param name="ClientId">the client's node id.</param>
/// <param name="RequestId">the client's request id t (strictly increasing per client).</param>
/// <param name="Sequence">the sequence number s of the batch.</param>
/// <param name="Index">the request's 0-based position inside the batch.</param>
public readonly record struct RequestInfo(uint ClientId, ulong RequestId, ulong Sequence, int Index);

/// <summary>
/// The replicated service a FastBft cell runs: a deterministic state machine. Every correct replica
/// calls it with the same requests in the same order and must reach the same state and replies.
/// Shapes follow Thesis Fig. 4.2 / Fig. 5.1 (ProcessRequest → (Reply, Update), ApplyUpdate,
/// GetState/SetState) and PBFT-PR §5 (state digests for checkpoints).
/// </summary>
/// <remarks>
/// Called from one thread (the replica's protocol thread); implementations need no locking. Must be
/// deterministic: no clocks, randomness or replica-specific data in replies or state (PROTOCOLS.md G6).
/// </remarks>
public interface IReplicatedService
{
    /// <summary>
    /// Executes one ordered request. Writes the reply (any length, 0 allowed) into
    /// <paramref name="reply"/> and, when <paramref name="update"/> is not null, the state update that
    /// brings a passive replica to the same state (Thesis §5.2.2; read-only requests write an empty
    /// update, Thesis §4.2.2). Both writers are empty on entry.
    /// </summary>
    void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update);

    /// <summary>Applies a state update produced by <see cref="Execute"/> on another replica (passive replicas, Thesis §5.3.1.2).</summary>
    void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update);

    /// <summary>Writes the 32-byte digest of the whole service state (checkpoints, PBFT-PR §4.3).</summary>
    void GetStateDigest(Span<byte> digest32);

    /// <summary>Serializes the whole service state (state transfer, PBFT-PR §4.6.2) to <paramref name="destination"/>.</summary>
    void WriteSnapshot(Stream destination);

    /// <summary>Replaces the whole service state with a snapshot written by <see cref="WriteSnapshot"/>.</summary>
    /// <exception cref="InvalidDataException">the snapshot is malformed.</exception>
    void RestoreSnapshot(Stream source);
}
