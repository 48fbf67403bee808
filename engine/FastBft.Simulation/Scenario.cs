using System.Globalization;

namespace FastBft.Simulation;

/// <summary>Which node is Byzantine in a scenario.</summary>
public enum FaultyRole
{
    /// <summary>All nodes correct.</summary>
    None,
    /// <summary>The primary of view 0.</summary>
    Leader,
    /// <summary>One backup.</summary>
    Follower,
    /// <summary>Replica 1: a backup in view 0 and the primary of view 1 (the next primary).</summary>
    NextPrimary,
    /// <summary>One client.</summary>
    Client,
    /// <summary>Switching protocols (RePBFT): a passive replica of generation 0 (one of the last f).</summary>
    Passive,
    /// <summary>Switching protocols (RePBFT): the transition coordinator of the first switch attempt (CoordinatorRotation.Coordinator(shape, view 0, attempt 1) = replica 1, an active follower in generation 0), faulty in ways that bite during the switch.</summary>
    Coordinator,
}

/// <summary>Byzantine behaviours, applied as strategies to the faulty node's outgoing messages and inputs.</summary>
public enum Behaviour
{
    /// <summary>Correct.</summary>
    None,
    /// <summary>Stops receiving and sending.</summary>
    Crash,
    /// <summary>Sends nothing to f+1 of its peer replicas.</summary>
    Mute,
    /// <summary>Every outgoing message is delayed by an extra 25 ms of virtual time.</summary>
    Slow,
    /// <summary>Corrupts the result (or result digest) of every REPLY, correctly re-authenticated.</summary>
    WrongReply,
    /// <summary>Sends CHECKPOINTs with a wrong state digest, correctly re-authenticated.</summary>
    WrongCheckpoint,
    /// <summary>Corrupts the MAC entries for f+1 of its peers (and its replies' MACs).</summary>
    InvalidMac,
    /// <summary>Re-sends random old messages of its own to random replicas.</summary>
    Replay,
    /// <summary>Leader equivocation by the Twins technique: two instances share the identity, each talks to half the backups and sees different requests.</summary>
    Equivocate,
    /// <summary>A backup that sends COMMIT as soon as it PREPAREs (before it is prepared).</summary>
    EagerCommit,
    /// <summary>A client that sends two different operations under one request id to different replicas.</summary>
    ConflictingClient,
    /// <summary>
    /// Generalised Twins (Bano et al.): two full instances of the faulty replica's identity, each in its
    /// own side of a seeded partition schedule that changes over time (also during view changes), so
    /// equivocation and a Byzantine new primary that sees only some VIEW-CHANGEs arise systematically.
    /// </summary>
    Twins,
    /// <summary>VIEW-CHANGEs for far views (v+1000, 2^64−3, random) and for thousands of future views (issue 8 L4, R1).</summary>
    FarViewChange,
    /// <summary>Every message's MACs are valid only for one chosen receiver: the primary of the next view (issue 8 L2).</summary>
    TargetedMac,
    /// <summary>As primary, never orders the first client's requests (orders everybody else's).</summary>
    Censor,
    /// <summary>As primary, proposes only empty batches (forged PRE-PREPAREs with count 0; issue 8 L3).</summary>
    EmptyBatches,
    /// <summary>Inflates length and count fields (STATE-DATA total, batch counts, VIEW-CHANGE/NEW-VIEW counts, entry lengths), correctly re-authenticated (issue 8 R3).</summary>
    Oversized,
    /// <summary>A client sending requests with edge-case ids (0, 1, 2^64−1, big jumps) to subsets of the replicas (issue 8 L5).</summary>
    EdgeIds,
    /// <summary>A client flooding the primary with new request ids (issue 8 R2).</summary>
    Flood,
    /// <summary>RePBFT: an executor whose UPDATEs carry wrong content (full form: a changed entry) or a wrong digest, correctly re-authenticated.</summary>
    WrongUpdate,
    /// <summary>RePBFT: never sends its signed CHECKPOINTs (checkpoints need all n: the window runs out, clients PANIC, the cell switches).</summary>
    WithholdCheckpoint,
    /// <summary>RePBFT: an active replica that stops committing at activation (so the cell switches) and sends invalid or truncated HISTORYs (dropped slots, cut bytes, broken endorsement, incomplete checkpoint certificate, wrong aborted view), re-signed with its own key.</summary>
    BadHistory,
    /// <summary>RePBFT: an active replica that stops committing at activation and whose HISTORY carries, for every slot, a fabricated prepare proof for another batch endorsed only by itself (harmless with the f+1 proof rule; breaks H1 when a proof of 1 endorsement counts).</summary>
    ForgedProof,
    /// <summary>RePBFT: the transition coordinator stops committing at activation and sends SWITCHes whose decision differs from H1/H2 of the histories it embeds (a changed, nulled, dropped or added slot, a missing history), different per receiver, signed with its own key.</summary>
    BadSwitch,
    /// <summary>RePBFT: a client that PANICs now and then about answered, never-sent and in-flight requests of its own.</summary>
    SpuriousPanic,
    /// <summary>RePBFT: a client that sends a PANIC storm (ten PANICs every 5 ms, about answered, never-sent, in-flight and edge-case request ids) to every replica.</summary>
    PanicStorm,
    /// <summary>USIG protocols (MinBFT): a withheld certified message — one certified message of the faulty replica (the first after activation, then every 16th) reaches only some receivers, never the others, not even through UI-FETCH: a permanent counter gap at those receivers, which must wait on it and never skip it.</summary>
    WithholdCertified,
    /// <summary>USIG protocols (MinBFT): a follower's equivocation attempt — after each of its COMMIT(v, s, d) it certifies a second COMMIT(v, s, d′) with another digest under its next counter, to everybody; receivers must not count a second vote of one sender for one s.</summary>
    ConflictingCommit,
}

/// <summary>When the behaviour starts.</summary>
public enum FaultTiming
{
    /// <summary>From the start.</summary>
    Early,
    /// <summary>When the PRE-PREPARE of sequence number 3 is first delivered (a batch in agreement).</summary>
    MidBatch,
    /// <summary>When a correct replica first executes the first checkpoint sequence number K.</summary>
    CheckpointBoundary,
    /// <summary>When a correct replica first enters a view above 0 (or, if none has by mid-run, then). Switching protocols: when a correct replica first starts a protocol switch (a correct client panics early in these scenarios so that one happens).</summary>
    ViewChange,
    /// <summary>Switching protocols: when a correct replica first executes K−1 slots above a stable checkpoint (one instance before the next checkpoint: the longest abort history, the thesis' 99-slot case).</summary>
    PreCheckpoint,
    /// <summary>Switching protocols: when a correct replica first returns from the PBFT generation to RePBFT (the scenario switches back after ReplicaParameters.SwitchBackAfter instances; a correct client panics early so that a first switch happens).</summary>
    SwitchBack,
}

/// <summary>Network condition until the heal time (after it the network is clean).</summary>
public enum NetworkCondition
{
    /// <summary>Delays 1–3 ms, nothing lost.</summary>
    Clean,
    /// <summary>Delays 1–10 ms (reordering), 10% loss, 5% duplication.</summary>
    Lossy,
    /// <summary>Replicas split into two groups, neither a quorum, for a while; then heals.</summary>
    PartitionHeal,
    /// <summary>One correct replica is cut off from everything for the first 300 ms (long enough to fall more than the window behind), then rejoins by state transfer.</summary>
    IsolateOne,
    /// <summary>Replica 0 (the primary of view 0) is cut off from 10 ms to the heal time: the cell changes view, and replica 0 rejoins through STATUS in an older view.</summary>
    IsolateLeader,
    /// <summary>A correct backup is cut off from 10 to 300 ms; meanwhile replica 0 is cut off from 30 ms to the heal time, so the view changes while the backup is away; it rejoins through STATUS (issue 8 S1, L1, L7, L9).</summary>
    LagAcrossViewChange,
    /// <summary>A correct backup is cut off from 10 to 60 ms (less than a window) and rejoins through STATUS without a view change.</summary>
    ShortLag,
}

/// <summary>
/// One simulated scenario: a point of the fault matrix plus a seed. Its <see cref="Name"/> and
/// <see cref="Seed"/> reproduce it exactly (<see cref="ReplayCommand"/>).
/// </summary>
/// <param name="Protocol">protocol core name ("pbft").</param>
/// <param name="F">f (n = 3f+1).</param>
/// <param name="Role">faulty role.</param>
/// <param name="Behaviour">the faulty node's behaviour.</param>
/// <param name="Timing">when the behaviour starts.</param>
/// <param name="Network">network condition.</param>
/// <param name="Seed">PRNG seed.</param>
public sealed record Scenario(string Protocol, int F, FaultyRole Role, Behaviour Behaviour, FaultTiming Timing, NetworkCondition Network, ulong Seed)
{
    /// <summary>Planted-bug knob: COMMIT quorum override (0 = correct 2f+1).</summary>
    public int CommitQuorum { get; init; }

    /// <summary>Planted-bug knob (switching protocols): genuine endorsements a prepare proof in an abort history needs (0 = correct f+1; 1 breaks rule H1).</summary>
    public int ProofEndorsements { get; init; }

    /// <summary>Planted-bug knob (USIG protocols): correct replicas act on certified messages as they arrive, bypassing each sender's counter order (MinBftReplica.HandleIgnoringCounterOrderForTest); the counter-order oracle must report it.</summary>
    public bool IgnoreCounterOrder { get; init; }

    /// <summary>"f1/leader/crash/early/clean".</summary>
    public string Name => string.Create(CultureInfo.InvariantCulture,
        $"f{F}/{Role.ToString().ToLowerInvariant()}/{Behaviour.ToString().ToLowerInvariant()}/{Timing.ToString().ToLowerInvariant()}/{Network.ToString().ToLowerInvariant()}");

    /// <summary>One-line command that replays this scenario.</summary>
    public string ReplayCommand => string.Create(CultureInfo.InvariantCulture,
        $"fastbft simulate --protocol {Protocol} --f {F} --seed {Seed} --scenario {Name}{(CommitQuorum > 0 ? $" --commit-quorum {CommitQuorum}" : "")}");

    /// <inheritdoc/>
    public override string ToString() => $"{Name} seed {Seed}";

    /// <summary>Parses a <see cref="Name"/> back into a scenario.</summary>
    /// <exception cref="FormatException">not of the form f1/role/behaviour/timing/network.</exception>
    public static Scenario Parse(string protocol, string name, ulong seed)
    {
        var p = name.Split('/');
        if (p.Length != 5 || p[0].Length < 2 || p[0][0] != 'f' || !int.TryParse(p[0].AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out int f))
            throw new FormatException($"scenario '{name}' is not f<F>/<role>/<behaviour>/<timing>/<network>");
        return new Scenario(protocol, f, ParseEnum<FaultyRole>(p[1]), ParseEnum<Behaviour>(p[2]), ParseEnum<FaultTiming>(p[3]), ParseEnum<NetworkCondition>(p[4]), seed);
    }

    private static T ParseEnum<T>(string s) where T : struct, Enum
        => Enum.TryParse<T>(s, ignoreCase: true, out var v) ? v : throw new FormatException($"'{s}' is not a {typeof(T).Name} ({string.Join(", ", Enum.GetNames<T>())})");
}

/// <summary>The combinatorial fault matrix (issue 3 §6): f × role × behaviour × timing × network × seeds, enumerated from the dimension lists of <see cref="FaultMatrix"/>.</summary>
public static class ScenarioMatrix
{
    /// <summary>Behaviours that apply to a faulty role (<see cref="FaultMatrix.BehavioursFor(FaultyRole)"/>).</summary>
    public static IReadOnlyList<Behaviour> BehavioursFor(FaultyRole role) => FaultMatrix.BehavioursFor(role);

    /// <summary>The behaviours of the original matrix (before issue 8): the fault classes today's core is expected to pass.</summary>
    public static bool IsBaseline(Behaviour b) => b <= Behaviour.ConflictingClient;

    /// <summary>The network conditions of the original matrix (before issue 8).</summary>
    public static bool IsBaseline(NetworkCondition c) => c <= NetworkCondition.IsolateOne;

    /// <summary>
    /// The cross product (<see cref="Points"/>). Scenarios without a faulty node have only the <see cref="FaultTiming.Early"/>
    /// timing (timing is meaningless there), so every generated scenario is distinct. Seeds are derived
    /// from <paramref name="baseSeed"/>, the scenario name and the seed index (<see cref="SeedOf"/>).
    /// </summary>
    public static IEnumerable<Scenario> Generate(string protocol, IEnumerable<int> fs, int seedsPerCase, ulong baseSeed = 1)
        => Generate(protocol, fs, seedsPerCase, baseSeed, _ => true);

    /// <summary>The cross product restricted to the matrix points <paramref name="include"/> accepts (the seed of a point does not depend on the filter).</summary>
    public static IEnumerable<Scenario> Generate(string protocol, IEnumerable<int> fs, int seedsPerCase, ulong baseSeed, Func<Scenario, bool> include)
    {
        foreach (var template in Points(protocol, fs))
        {
            if (!include(template)) continue;
            for (int s = 0; s < seedsPerCase; s++)
                yield return template with { Seed = SeedOf(template, baseSeed, s) };
        }
    }

    /// <summary>The seed of index <paramref name="index"/> of a matrix point: derived from <paramref name="baseSeed"/>, the point's <see cref="Scenario.Name"/> and the index (not from the point's seed or any filter).</summary>
    public static ulong SeedOf(Scenario point, ulong baseSeed, int index)
    {
        ulong nameHash = 0;
        foreach (char c in point.Name) nameHash = SimRandom.Mix(nameHash ^ c);
        return SimRandom.Mix(baseSeed ^ nameHash ^ ((ulong)index * 0x9E3779B97F4A7C15UL)) % 1_000_000_007UL;
    }

    /// <summary>Every matrix point of <paramref name="fs"/> (seed 0), in a fixed order: f, role, behaviour, timing, network, each over its <see cref="FaultMatrix"/> list (the protocol's roles, behaviours and timings).</summary>
    public static IEnumerable<Scenario> Points(string protocol, IEnumerable<int> fs)
    {
        foreach (int f in fs)
        foreach (var role in FaultMatrix.RolesFor(protocol))
        foreach (var behaviour in FaultMatrix.BehavioursFor(protocol, role))
        foreach (var timing in FaultMatrix.TimingsFor(protocol, role))
        foreach (var network in FaultMatrix.Networks)
            yield return new Scenario(protocol, f, role, behaviour, timing, network, 0);
    }
}
