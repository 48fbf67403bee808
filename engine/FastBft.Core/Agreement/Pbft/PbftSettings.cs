namespace FastBft.Agreement.Pbft;

/// <summary>The protocol parameters of one PBFT replica, derived from a cell configuration by the hosting layer's protocol registry.</summary>
public sealed record PbftSettings
{
    /// <summary>n = 3f+1.</summary>
    public required int N { get; init; }
    /// <summary>f.</summary>
    public required int F { get; init; }
    /// <summary>Maximum requests per batch.</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>Batches in flight at the primary before it lets the next one fill.</summary>
    public int MaxInflightBatches { get; init; } = 4;
    /// <summary>Checkpoint interval K.</summary>
    public int CheckpointInterval { get; init; } = 128;
    /// <summary>Log window L.</summary>
    public int Window { get; init; } = 256;
    /// <summary>Ticks a slot may stall before the replica re-sends its own messages for it (PBFT-PR §4.6.1).</summary>
    public int RetransmitTicks { get; init; } = 10;
    /// <summary>View-change timeout in ticks: a backup holding a client request that does not execute within it starts a view change; doubles per consecutive attempt (PROTOCOLS.md §3.6).</summary>
    public int ViewChangeTicks { get; init; } = 40;
    /// <summary>VIEW-CHANGEs for views more than this many views above the replica's are dropped (L4/R1; a replica that far behind catches up by a forwarded NEW-VIEW).</summary>
    public int MaxViewLead { get; init; } = 1024;
    /// <summary>Largest checkpoint snapshot a state transfer accepts, bytes (R3: a STATE-DATA's claimed total above it is ignored; the fetch buffer grows only with bytes received).</summary>
    public int MaxStateBytes { get; init; } = 256 << 20;
}
