namespace FastBft.Agreement;

/// <summary>
/// Counters every protocol core keeps (metrics, harness status, logs). The core's thread is the only
/// writer (plain increments, no cost on the request path); other threads read through
/// <see cref="Read(ref long)"/>, which is a volatile 64-bit read — a torn or stale-forever value cannot be seen.
/// Protocol-specific counters live in subclasses (e.g. <c>PbftStats</c>).
/// </summary>
public class ReplicaCounters
{
    /// <summary>Requests executed; batches executed; batches proposed as leader; REPLY messages sent.</summary>
    public long Executed, ExecutedBatches, Batches, BatchedRequests, Replies;
    /// <summary>Retransmitted requests answered from the reply cache; requests older than the client's last executed one; requests a follower relayed to the leader.</summary>
    public long CachedReplies, OldRequests, ForwardedRequests;
    /// <summary>Stalled slots re-sent.</summary>
    public long Retransmissions;
    /// <summary>Checkpoints taken; checkpoints that became stable.</summary>
    public long Checkpoints, StableCheckpoints;
    /// <summary>State transfers completed; FETCH messages sent; STATE-DATA chunks served; bad state-transfer data (claims out of bounds, snapshots failing verification); fetches abandoned because execution reached the target first.</summary>
    public long StateTransfers, FetchesSent, StateChunksSent, BadStateTransfers, StateTransfersAbandoned;
    /// <summary>State transfer: bytes of checkpoint objects received in STATE-DATA (meta, leaf lists and partitions; docs/state-transfer.md), and objects verified.</summary>
    public long StateBytesReceived, StateObjectsReceived;
    /// <summary>View changes started; new views installed; NEW-VIEW (or equivalent) messages rejected.</summary>
    public long ViewChangesStarted, NewViewsInstalled, BadNewViews;
    /// <summary>Protocol switches (RePBFT → PBFT, ReMinBFT → MinBFT, and back); 0 for PBFT.</summary>
    public long ProtocolSwitches;
    /// <summary>Highest checkpoint sequence number a peer announced (how far behind this replica may be).</summary>
    public ulong HighestCheckpointSeen;

    /// <summary>Reads a counter of this object from any thread.</summary>
    public static long Read(ref long counter) => Volatile.Read(ref counter);

    /// <summary>Reads an unsigned counter of this object from any thread.</summary>
    public static ulong Read(ref ulong counter) => Volatile.Read(ref counter);
}
