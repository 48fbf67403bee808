using FastBft.Wire;

namespace FastBft.Agreement;

/// <summary>
/// The contract between a sans-I/O protocol core (PBFT today; MinBFT, RePBFT, ReMinBFT later) and
/// whatever drives it — the replica host over a transport, or the deterministic simulator
/// (DESIGN.md "Sans-I/O cores + deterministic simulation"). Effects leave through the
/// <see cref="IReplicaOutput"/> the core was created with.
/// </summary>
public interface IReplicaCore
{
    /// <summary>Replica id (0..n-1).</summary>
    uint Id { get; }
    /// <summary>Current view (or epoch) number.</summary>
    ulong View { get; }
    /// <summary>Sequence number of the last executed batch.</summary>
    ulong LastExecuted { get; }
    /// <summary>Sequence number of the last stable checkpoint.</summary>
    ulong LowWatermark { get; }

    /// <summary>
    /// Handles one message that the production verifier accepted. <paramref name="requestDigest"/>:
    /// D(req) for REQUESTs (<see cref="MessageVerifier.LastRequestDigest"/>);
    /// <paramref name="requestsAuthenticated"/>: for PRE-PREPARE/BATCH, whether every embedded client
    /// MAC verified for this replica (<see cref="MessageVerifier.LastRequestsAuthenticated"/>).
    /// </summary>
    void OnMessage(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> requestDigest, bool requestsAuthenticated);
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
}
