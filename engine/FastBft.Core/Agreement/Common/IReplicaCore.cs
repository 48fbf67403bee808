using FastBft.Execution;
using FastBft.Verification;

namespace FastBft.Agreement;

/// <summary>
/// The contract between a sans-I/O protocol core (PBFT today; MinBFT, RePBFT, ReMinBFT next) and
/// whatever drives it — the replica host over a transport, or the deterministic simulator
/// (DESIGN.md "Sans-I/O cores + deterministic simulation"). Messages arrive already verified
/// (<see cref="VerifiedMessage"/>); effects leave through the <see cref="IReplicaOutput"/> the core was
/// created with; committed batches go to its <see cref="IExecutionStage"/>. Nothing outside a protocol's
/// folder names the concrete core: cores are created through the protocol registry.
/// </summary>
/// <remarks>Single-threaded: every member is called on the core's thread, except the properties and
/// <see cref="Counters"/> documented as readable from other threads.</remarks>
public interface IReplicaCore
{
    /// <summary>Replica id (0..n-1).</summary>
    uint Id { get; }
    /// <summary>The cell's shape (protocol, f, n, roles).</summary>
    CellShape Shape { get; }
    /// <summary>Current view (or epoch) number. Readable from other threads (a 64-bit read).</summary>
    ulong View { get; }
    /// <summary>Leader of the current view.</summary>
    uint Leader { get; }
    /// <summary>Protocol generation p (PROTOCOLS.md §5.1); 0 for protocols that do not switch.</summary>
    ulong Generation { get; }
    /// <summary>True while the replica waits for a new view (or a protocol switch) to complete.</summary>
    bool InViewChange { get; }
    /// <summary>Sequence number of the last executed batch. Readable from other threads.</summary>
    ulong LastExecuted { get; }
    /// <summary>Sequence number of the last stable checkpoint. Readable from other threads.</summary>
    ulong LowWatermark { get; }
    /// <summary>Counters (metrics); read from other threads with <see cref="ReplicaCounters.Read(ref long)"/>.</summary>
    ReplicaCounters Counters { get; }
    /// <summary>The execution stage committed batches go to.</summary>
    IExecutionStage Execution { get; }

    /// <summary>Handles one message the verifier accepted with this protocol's schema.</summary>
    void OnMessage(in VerifiedMessage message);
    /// <summary>Periodic timer tick.</summary>
    void OnTick();
    /// <summary>The current input burst ended.</summary>
    void EndOfBurst();
    /// <summary>Digest of the service state now (32 bytes).</summary>
    void GetStateDigest(Span<byte> digest32);

    /// <summary>
    /// Test oracle (not for the hot path): the batch digest this replica logged at
    /// <paramref name="seq"/>, if the slot is still in its log.
    /// </summary>
    bool TryGetLoggedDigest(ulong seq, Span<byte> digest32);

    /// <summary>
    /// Test oracle (not for the hot path): true if this replica has prepared (<paramref name="seq"/>,
    /// <paramref name="digest32"/>), or already executed or garbage-collected <paramref name="seq"/>.
    /// </summary>
    bool IsPreparedOrDone(ulong seq, ReadOnlySpan<byte> digest32);

    /// <summary>Diagnostics (not for the hot path): a one-line description of the view-change / switch state.</summary>
    string DescribeState();
}
