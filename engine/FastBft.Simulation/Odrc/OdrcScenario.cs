using FastBft.Execution.Odrc;

namespace FastBft.Simulation.Odrc;

/// <summary>The fault of one ODRC scenario (docs/odrc.md §6): what the faulty execution replica (or client) does.</summary>
public enum OdrcBehaviour : byte
{
    /// <summary>No fault.</summary>
    None = 0,
    /// <summary>The faulty execution replica crashes at a random step (silent from then on).</summary>
    Crash = 1,
    /// <summary>Faulty selector: it never selects (executes nothing, sends no reply and no checkpoint) but still answers fetches with its stale copies.</summary>
    NotSelecting = 2,
    /// <summary>Faulty selector: its object checkpoints carry a wrong state hash and a wrong reply hash.</summary>
    WrongCheckpoint = 3,
    /// <summary>Faulty execution replica: every reply it sends (full or digest) is wrong.</summary>
    WrongReply = 4,
    /// <summary>Faulty replica: it answers object fetches with corrupted states.</summary>
    WrongObjectState = 5,
    /// <summary>Stalled checkpoints: the faulty replica never sends its object checkpoints (the alarms of Fig. 6.8 fire elsewhere).</summary>
    SilentCheckpoints = 6,
    /// <summary>A faulty client sends stalled-result notices for requests that were never ordered (§6.5.2).</summary>
    NeverOrderedNotices = 7,
    /// <summary>
    /// No faulty replica, but one correct replica falls behind and catches up by whole-replica state transfer (docs/odrc.md §9):
    /// it is cut off (receives nothing, consumes no order) and then installs another correct replica's agreement snapshot
    /// (<see cref="Selector.WriteSnapshot"/>) — in place (a lagging replica, its old copies kept), or after a restart (a fresh
    /// selector over a fresh service). Every oracle applies to it afterwards.
    /// </summary>
    StateTransfer = 8,
}

/// <summary>The request mix of an ODRC scenario.</summary>
public enum OdrcWorkloadKind : byte
{
    /// <summary>Single-object reads and writes.</summary>
    SingleObject = 0,
    /// <summary>Mostly two-object writes on neighbouring objects of a chain (k, k+1): chains of cross-border requests.</summary>
    CrossBorderChains = 1,
    /// <summary>Single-object requests with some multi-object reads and writes.</summary>
    Mixed = 2,
}

/// <summary>One ODRC simulator scenario (docs/odrc.md §6).</summary>
/// <param name="F">faults tolerated (each object has f+1 maintainers).</param>
/// <param name="ExecutionReplicas">E: execution replicas (3f+1, or more in an extended cell such as ODRC₆).</param>
/// <param name="Placement">round-robin or locality.</param>
/// <param name="Behaviour">the fault.</param>
/// <param name="Workload">the request mix.</param>
/// <param name="Lossy">replica-to-replica messages and replies are dropped with 5 % probability.</param>
/// <param name="Seed">the seed.</param>
public sealed record OdrcScenario(int F, int ExecutionReplicas, PlacementStrategy Placement, OdrcBehaviour Behaviour, OdrcWorkloadKind Workload, bool Lossy, ulong Seed)
{
    /// <summary>The selectors use the service's write knowledge (<see cref="SelectorOptions.WriteKnowledge"/>, Thesis §6.6.1.2; docs/odrc.md §3a).</summary>
    public bool WriteKnowledge { get; init; }

    /// <inheritdoc/>
    public override string ToString() => $"odrc f{F} E{ExecutionReplicas} {Placement} {Behaviour} {Workload}{(Lossy ? " lossy" : "")}{(WriteKnowledge ? " write-knowledge" : "")} seed {Seed}";
}

/// <summary>What a simulated workload must supply: operations of the service under test.</summary>
public interface IOdrcSimWorkload
{
    /// <summary>
    /// A new operation of <paramref name="kind"/> over objects numbered 0..<paramref name="objects"/>-1 (the workload maps numbers to its ids).
    /// </summary>
    byte[] Next(SimRandom random, OdrcWorkloadKind kind, int objects);
}

/// <summary>The result of one ODRC scenario.</summary>
/// <param name="Scenario">the scenario.</param>
/// <param name="Invariant">the violated invariant, or null when every oracle passed.</param>
/// <param name="Detail">what was seen.</param>
/// <param name="Steps">simulated steps.</param>
/// <param name="Stats">a correct replica's selector counters summed over the correct replicas.</param>
/// <param name="Accepted">requests accepted by clients.</param>
public sealed record OdrcSimResult(OdrcScenario Scenario, string? Invariant, string? Detail, long Steps, SelectorStats Stats, int Accepted)
{
    /// <summary>True if every invariant held.</summary>
    public bool Passed => Invariant is null;
    /// <summary><see cref="OdrcBehaviour.StateTransfer"/>: agreement snapshots installed, and refused (docs/odrc.md §9).</summary>
    public int Restores { get; init; }
    /// <inheritdoc cref="Restores"/>
    public int RestoresRefused { get; init; }
    /// <summary>The transferred replica's selector (docs/odrc.md §9 S6): tail requests between bases replayed exactly on their pending objects (E1).</summary>
    public long BetweenBasesReplayed { get; init; }
    /// <summary>S6 (E2): tail requests between bases that only read their pending objects, not replayed.</summary>
    public long BetweenBasesReadsSkipped { get; init; }
    /// <summary>S7: objects left unresolved by the installed snapshot.</summary>
    public long UnresolvedAtRestore { get; init; }
    /// <summary>S7: unresolved objects made usable by a jump to a stable object checkpoint.</summary>
    public long UnresolvedResolved { get; init; }
    /// <summary>S7: ordered requests the transferred replica did not execute because they touch an unresolved object.</summary>
    public long UnresolvedSkipped { get; init; }
    /// <summary>S7: objects still unresolved at the end of the run.</summary>
    public long UnresolvedAtEnd { get; init; }
    /// <inheritdoc/>
    public override string ToString() => Passed ? $"{Scenario}: ok ({Steps} steps, {Accepted} accepted)" : $"{Scenario}: {Invariant}: {Detail}";
}

/// <summary>The ODRC fault matrix (docs/odrc.md §6): every (cell, placement, behaviour, workload, network) point × seeds.</summary>
public static class OdrcMatrix
{
    /// <summary>(f, E) cells: ODRC₄, ODRC₆ (extended), f = 2 with 7 and 9 execution replicas.</summary>
    public static IReadOnlyList<(int F, int E)> Cells { get; } = [(1, 4), (1, 6), (2, 7), (2, 9)];

    /// <summary>Every scenario of the CI matrix: <see cref="Cells"/> × placements × behaviours × workloads × {reliable, lossy} × <paramref name="seedsPerPoint"/> seeds.</summary>
    /// <param name="seedsPerPoint">seeds per point.</param>
    /// <param name="baseSeed">added to every point's seed base (0: the CI seeds).</param>
    /// <param name="writeKnowledge">the selectors use write knowledge (same seeds, so a run with and one without compare point by point).</param>
    public static IEnumerable<OdrcScenario> Scenarios(int seedsPerPoint, ulong baseSeed = 0, bool writeKnowledge = false)
    {
        foreach (var (f, e) in Cells)
            foreach (var placement in Enum.GetValues<PlacementStrategy>())
                foreach (var behaviour in Enum.GetValues<OdrcBehaviour>())
                    // with write knowledge too since odrc-st2 (docs/odrc.md §9): an object whose base no f+1 replicas hold (a W2
                    // gap, §3a) is made unresolved after BaseFetchAttempts fetch rounds instead of blocking the restored replica
                    foreach (var workload in Enum.GetValues<OdrcWorkloadKind>())
                        foreach (bool lossy in new[] { false, true })
                            for (int s = 0; s < seedsPerPoint; s++)
                                yield return new OdrcScenario(f, e, placement, behaviour, workload, lossy,
                                    SimRandom.Mix(baseSeed + (ulong)(((((f * 16 + e) * 4 + (int)placement) * 16 + (int)behaviour) * 4 + (int)workload) * 2 + (lossy ? 1 : 0)) * 1000 + (ulong)s))
                                { WriteKnowledge = writeKnowledge };
    }
}
