namespace FastBft.Simulation;

/// <summary>
/// The definition of the fault matrix (issue 3 §6, issue 9): the value list of every dimension —
/// protocol, f, faulty role, behaviour (per role), timing (per role), network condition and seeds per
/// f. <see cref="ScenarioMatrix"/> (and through it <c>fastbft simulate</c>) enumerates these lists, and
/// the test project's <c>[CombinatorialData]</c>/<c>[PairwiseData]</c> theories take their parameter
/// values from these same members (docs/simulation.md, "The matrix in the tests"), so the harness and
/// the tests cannot drift apart.
/// </summary>
/// <remarks>
/// Dimensions that depend on another one are functions of it: the behaviours of a role
/// (<see cref="BehavioursFor(string, FaultyRole)"/>), the timings of a role (<see cref="TimingsFor(FaultyRole)"/>: none without a
/// faulty node but <see cref="FaultTiming.Early"/>) and the CI seeds of an f (<see cref="CiSeedsPerPoint"/>).
/// A tuple is a matrix point exactly when <see cref="IsPoint(Scenario)"/> holds.
/// </remarks>
public static class FaultMatrix
{
    /// <summary>Protocol cores the PBFT matrix theories run.</summary>
    public static IReadOnlyList<string> Protocols { get; } = ["pbft"];

    /// <summary>Switching protocols the RePBFT matrix theories run (their own roles, behaviours and timings: <see cref="RePbftRoles"/>, <see cref="RePbftBehavioursFor"/>, <see cref="RePbftTimingsFor"/>).</summary>
    public static IReadOnlyList<string> SwitchingProtocols { get; } = ["repbft", "repbft-star"];

    /// <summary>
    /// USIG protocols the MinBFT matrix theories run (their own roles, behaviours, timings and CI seeds: <see cref="MinBftRoles"/>,
    /// <see cref="MinBftBehavioursFor"/>, <see cref="MinBftTimingsFor"/>, <see cref="MinBftCiSeedsPerPoint"/>). Not in
    /// <see cref="Protocols"/>: the PBFT theories draw PBFT's behaviour lists, which are not MinBFT points.
    /// </summary>
    public static IReadOnlyList<string> MinBftProtocols { get; } = ["minbft"];

    /// <summary>ReMinBFT in the matrix (its own roles, behaviours, timings and CI seeds: <see cref="ReMinBftRoles"/>, <see cref="ReMinBftBehavioursFor"/>,
    /// <see cref="ReMinBftTimingsFor"/>, <see cref="ReMinBftCiSeedsPerPoint"/>).</summary>
    public static IReadOnlyList<string> ReMinBftProtocols { get; } = ["reminbft"];

    /// <summary>Agreement cores with the ODRC execution stage (docs/odrc.md §6): their agreement protocol's roles, timings and CI
    /// seeds, the behaviours of <see cref="Odrc.OdrcSimProtocol.Behaviours"/>, the ODRC oracles (<see cref="Odrc.OdrcExecutionOracle"/>).</summary>
    public static IReadOnlyList<string> OdrcProtocols { get; } = ["pbft-odrc", "minbft-odrc"];

    /// <summary>Every protocol the matrix knows.</summary>
    public static IReadOnlyList<string> AllProtocols { get; } = [.. Protocols, .. SwitchingProtocols, .. MinBftProtocols, .. ReMinBftProtocols, .. OdrcProtocols];

    /// <summary>Fault tolerances f (n = 3f+1) of the matrix.</summary>
    public static IReadOnlyList<int> Fs { get; } = [1, 2, 3];

    /// <summary>Faulty roles of PBFT, in matrix order.</summary>
    public static IReadOnlyList<FaultyRole> Roles { get; } = [FaultyRole.None, FaultyRole.Leader, FaultyRole.Follower, FaultyRole.NextPrimary, FaultyRole.Client];

    /// <summary>Faulty roles of RePBFT and RePBFT*, in matrix order: none, the leader of generation 0, an active follower (not the first transition coordinator), a passive replica, the first transition coordinator (replica 1), a client.</summary>
    public static IReadOnlyList<FaultyRole> RePbftRoles { get; } = [FaultyRole.None, FaultyRole.Leader, FaultyRole.Follower, FaultyRole.Passive, FaultyRole.Coordinator, FaultyRole.Client];

    /// <summary>Faulty roles of MinBFT, in matrix order: none, the leader of view 0, a follower, a client (n = 2f+1, every replica active: no passive replicas, and no next primary while the core has no view change).</summary>
    public static IReadOnlyList<FaultyRole> MinBftRoles { get; } = [FaultyRole.None, FaultyRole.Leader, FaultyRole.Follower, FaultyRole.Client];

    /// <summary>Faulty roles of ReMinBFT, in matrix order: none, the leader of generation 0 (replica 0), an active follower (1..f), a
    /// passive replica (f+1..2f), the transition coordinator of the first switch attempt (replica 1, the first follower), a client.</summary>
    public static IReadOnlyList<FaultyRole> ReMinBftRoles { get; } = [FaultyRole.None, FaultyRole.Leader, FaultyRole.Follower, FaultyRole.Passive, FaultyRole.Coordinator, FaultyRole.Client];

    /// <summary>The faulty roles of <paramref name="protocol"/> (<see cref="ISimProtocol.Roles"/>).</summary>
    public static IReadOnlyList<FaultyRole> RolesFor(string protocol) => SimProtocols.Get(protocol).Roles;

    /// <summary>Network conditions, in matrix order (every role has all of them).</summary>
    public static IReadOnlyList<NetworkCondition> Networks { get; } = Enum.GetValues<NetworkCondition>();

    /// <summary>Timings of a PBFT scenario with a faulty node.</summary>
    public static IReadOnlyList<FaultTiming> FaultTimings { get; } = [FaultTiming.Early, FaultTiming.MidBatch, FaultTiming.CheckpointBoundary, FaultTiming.ViewChange];

    /// <summary>Timings of a RePBFT scenario with a faulty node: PBFT's (view change = during the switch) plus one instance before a checkpoint and during the switch back.</summary>
    public static IReadOnlyList<FaultTiming> RePbftFaultTimings { get; } = [FaultTiming.Early, FaultTiming.MidBatch, FaultTiming.CheckpointBoundary, FaultTiming.ViewChange, FaultTiming.PreCheckpoint, FaultTiming.SwitchBack];

    private static readonly IReadOnlyList<FaultTiming> EarlyOnly = [FaultTiming.Early];

    private static readonly IReadOnlyList<Behaviour> NoneBehaviours = [Behaviour.None];

    private static readonly IReadOnlyList<Behaviour> ClientBehaviours = [Behaviour.ConflictingClient, Behaviour.EdgeIds, Behaviour.Flood];

    private static readonly IReadOnlyList<Behaviour> LeaderBehaviours = [Behaviour.Crash, Behaviour.Mute, Behaviour.Slow, Behaviour.WrongReply, Behaviour.WrongCheckpoint,
        Behaviour.InvalidMac, Behaviour.Replay, Behaviour.Equivocate, Behaviour.Twins, Behaviour.FarViewChange, Behaviour.TargetedMac, Behaviour.Censor,
        Behaviour.EmptyBatches, Behaviour.Oversized];

    private static readonly IReadOnlyList<Behaviour> NextPrimaryBehaviours = [Behaviour.Crash, Behaviour.Mute, Behaviour.Twins, Behaviour.FarViewChange,
        Behaviour.TargetedMac, Behaviour.Censor, Behaviour.EmptyBatches, Behaviour.Oversized];

    private static readonly IReadOnlyList<Behaviour> FollowerBehaviours = [Behaviour.Crash, Behaviour.Mute, Behaviour.Slow, Behaviour.WrongReply,
        Behaviour.WrongCheckpoint, Behaviour.InvalidMac, Behaviour.Replay, Behaviour.EagerCommit, Behaviour.Twins, Behaviour.FarViewChange,
        Behaviour.TargetedMac, Behaviour.Oversized];

    private static readonly IReadOnlyList<Behaviour> RePbftLeaderBehaviours = [Behaviour.Crash, Behaviour.Mute, Behaviour.Slow, Behaviour.WrongReply, Behaviour.WrongCheckpoint,
        Behaviour.InvalidMac, Behaviour.Replay, Behaviour.Equivocate, Behaviour.Twins, Behaviour.TargetedMac, Behaviour.Censor,
        Behaviour.WrongUpdate, Behaviour.WithholdCheckpoint, Behaviour.BadHistory, Behaviour.ForgedProof];

    private static readonly IReadOnlyList<Behaviour> RePbftFollowerBehaviours = [Behaviour.Crash, Behaviour.Mute, Behaviour.Slow, Behaviour.WrongReply, Behaviour.WrongCheckpoint,
        Behaviour.InvalidMac, Behaviour.Replay, Behaviour.EagerCommit, Behaviour.Twins, Behaviour.WrongUpdate, Behaviour.WithholdCheckpoint, Behaviour.BadHistory, Behaviour.ForgedProof];

    private static readonly IReadOnlyList<Behaviour> RePbftPassiveBehaviours = [Behaviour.Crash, Behaviour.Mute, Behaviour.Slow, Behaviour.WrongReply, Behaviour.WrongCheckpoint,
        Behaviour.InvalidMac, Behaviour.Replay, Behaviour.WithholdCheckpoint];

    private static readonly IReadOnlyList<Behaviour> RePbftCoordinatorBehaviours = [Behaviour.Crash, Behaviour.Mute, Behaviour.Twins, Behaviour.TargetedMac, Behaviour.Censor,
        Behaviour.BadSwitch, Behaviour.BadHistory, Behaviour.WithholdCheckpoint];

    private static readonly IReadOnlyList<Behaviour> RePbftClientBehaviours = [Behaviour.ConflictingClient, Behaviour.EdgeIds, Behaviour.Flood, Behaviour.SpuriousPanic, Behaviour.PanicStorm];

    /// <summary>
    /// Behaviours of a faulty role of RePBFT / RePBFT*: leader — the PBFT leader behaviours that apply (no view-change
    /// forgeries: the cell has no view change before a switch; no empty batches or oversized fields) plus wrong UPDATE,
    /// withheld CHECKPOINT, bad HISTORY and forged proof; active follower — likewise with eager commit instead of
    /// equivocate/censor/targeted MACs; passive replica — crash, mute, slow, wrong reply/checkpoint, invalid MACs, replay,
    /// withheld CHECKPOINT; transition coordinator — crash, mute, twins, targeted MACs, censor (as the PBFT primary after
    /// the switch), inconsistent SWITCH, bad HISTORY, withheld CHECKPOINT; client — PBFT's plus spurious PANICs and PANIC storms.
    /// </summary>
    public static IReadOnlyList<Behaviour> RePbftBehavioursFor(FaultyRole role) => role switch
    {
        FaultyRole.None => NoneBehaviours,
        FaultyRole.Client => RePbftClientBehaviours,
        FaultyRole.Leader => RePbftLeaderBehaviours,
        FaultyRole.Follower => RePbftFollowerBehaviours,
        FaultyRole.Passive => RePbftPassiveBehaviours,
        FaultyRole.Coordinator => RePbftCoordinatorBehaviours,
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };

    /// <summary>
    /// Behaviours of a faulty MinBFT leader. Certified (USIG) messages: the equivocation attempt is <see cref="Behaviour.Equivocate"/>
    /// (two instances of the leader share its one USIG, so their two PREPAREs for one s carry distinct counters; the
    /// adversary answers UI-FETCHes from every counter it certified, so every receiver meets both, in counter order, and
    /// must reject the second), <see cref="Behaviour.WithholdCertified"/> (counter gap), <see cref="Behaviour.Replay"/>
    /// (replayed UIs: old certified messages re-sent as they were and with a modified body under the old UI),
    /// <see cref="Behaviour.InvalidMac"/> (invalid UI proofs for f+1 receivers), <see cref="Behaviour.WrongCheckpoint"/>
    /// (a second, wrong CHECKPOINT certified with its own counter), <see cref="Behaviour.WithholdCheckpoint"/>; and the
    /// generic crash, mute, slow, wrong reply, Twins, censor, oversized.
    /// <para>Excluded, with the reason: <see cref="Behaviour.FarViewChange"/> and <see cref="Behaviour.TargetedMac"/>
    /// (PBFT VIEW-CHANGE attacks; MinBFT has no view change yet, and its agreement messages carry no MAC vector);
    /// <see cref="Behaviour.EmptyBatches"/> (forges PBFT PRE-PREPAREs; an empty MinBFT PREPARE is bound but never vouched
    /// for, which only stops progress — a leader fault that needs the view change to matter);
    /// <see cref="Behaviour.EagerCommit"/> (MinBFT has no prepared phase: a follower's COMMIT is its acceptance of the
    /// PREPARE); <see cref="Behaviour.WrongUpdate"/> (no UPDATEs: MinBFT has no passive replicas); the switching
    /// behaviours (BadHistory, ForgedProof, BadSwitch, PANICs: MinBFT does not switch).</para>
    /// </summary>
    private static readonly IReadOnlyList<Behaviour> MinBftLeaderBehaviours = [Behaviour.Crash, Behaviour.Mute, Behaviour.Slow, Behaviour.WrongReply, Behaviour.WrongCheckpoint,
        Behaviour.InvalidMac, Behaviour.Replay, Behaviour.Equivocate, Behaviour.Twins, Behaviour.Censor, Behaviour.Oversized, Behaviour.WithholdCertified, Behaviour.WithholdCheckpoint];

    /// <summary>Behaviours of a faulty MinBFT follower: the leader's without equivocate (its twins would copy the leader's batches) and censor (a follower orders nothing), plus its own equivocation attempt, <see cref="Behaviour.ConflictingCommit"/> (two certified COMMITs with different digests for one s).</summary>
    private static readonly IReadOnlyList<Behaviour> MinBftFollowerBehaviours = [Behaviour.Crash, Behaviour.Mute, Behaviour.Slow, Behaviour.WrongReply, Behaviour.WrongCheckpoint,
        Behaviour.InvalidMac, Behaviour.Replay, Behaviour.Twins, Behaviour.Oversized, Behaviour.WithholdCertified, Behaviour.WithholdCheckpoint, Behaviour.ConflictingCommit];

    /// <summary>Behaviours of a faulty MinBFT role (<see cref="MinBftLeaderBehaviours"/>, <see cref="MinBftFollowerBehaviours"/>; client: PBFT's client behaviours; none: none).</summary>
    public static IReadOnlyList<Behaviour> MinBftBehavioursFor(FaultyRole role) => role switch
    {
        FaultyRole.None => NoneBehaviours,
        FaultyRole.Client => ClientBehaviours,
        FaultyRole.Leader => MinBftLeaderBehaviours,
        FaultyRole.Follower => MinBftFollowerBehaviours,
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };

    /// <summary>Behaviours of a faulty ReMinBFT leader (Thesis §5.4.2 attacks, docs/reminbft.md §6): MinBFT's leader behaviours (the equivocation
    /// attempt, a withheld certified message = counter gap, replayed UIs, …) plus a wrong UPDATE and a withheld (uncertified) CHECKPOINT.</summary>
    private static readonly IReadOnlyList<Behaviour> ReMinBftLeaderBehaviours = [Behaviour.Crash, Behaviour.Mute, Behaviour.Slow, Behaviour.WrongReply, Behaviour.WrongCheckpoint,
        Behaviour.InvalidMac, Behaviour.Replay, Behaviour.Equivocate, Behaviour.Censor, Behaviour.WithholdCertified, Behaviour.WithholdCheckpoint, Behaviour.WrongUpdate];

    /// <summary>Behaviours of a faulty ReMinBFT active follower: MinBFT's follower behaviours (its conflicting certified COMMIT is its equivocation attempt) plus a wrong UPDATE.</summary>
    private static readonly IReadOnlyList<Behaviour> ReMinBftFollowerBehaviours = [Behaviour.Crash, Behaviour.Mute, Behaviour.Slow, Behaviour.WrongReply, Behaviour.WrongCheckpoint,
        Behaviour.InvalidMac, Behaviour.Replay, Behaviour.WithholdCertified, Behaviour.WithholdCheckpoint, Behaviour.ConflictingCommit, Behaviour.WrongUpdate];

    /// <summary>Behaviours of a faulty ReMinBFT passive replica (it sends only CHECKPOINTs and, on a retransmitted request, a cached reply).</summary>
    private static readonly IReadOnlyList<Behaviour> ReMinBftPassiveBehaviours = [Behaviour.Crash, Behaviour.Mute, Behaviour.Slow, Behaviour.WrongReply, Behaviour.WrongCheckpoint,
        Behaviour.InvalidMac, Behaviour.Replay, Behaviour.WithholdCheckpoint];

    /// <summary>Behaviours of a faulty ReMinBFT transition coordinator (the first follower): crash, mute, a withheld certified message
    /// (a gap in its run — an abort history over it is invalid), a conflicting certified COMMIT (its history then binds an
    /// instance twice), a wrong UPDATE, a withheld CHECKPOINT (so the cell switches with it as coordinator).</summary>
    private static readonly IReadOnlyList<Behaviour> ReMinBftCoordinatorBehaviours = [Behaviour.Crash, Behaviour.Mute, Behaviour.WithholdCertified, Behaviour.ConflictingCommit, Behaviour.WrongUpdate, Behaviour.WithholdCheckpoint];

    /// <summary>Behaviours of a faulty ReMinBFT client: PBFT's plus spurious PANICs and PANIC storms.</summary>
    private static readonly IReadOnlyList<Behaviour> ReMinBftClientBehaviours = [Behaviour.ConflictingClient, Behaviour.EdgeIds, Behaviour.Flood, Behaviour.SpuriousPanic, Behaviour.PanicStorm];

    /// <summary>Behaviours of a faulty ReMinBFT role.</summary>
    public static IReadOnlyList<Behaviour> ReMinBftBehavioursFor(FaultyRole role) => role switch
    {
        FaultyRole.None => NoneBehaviours,
        FaultyRole.Client => ReMinBftClientBehaviours,
        FaultyRole.Leader => ReMinBftLeaderBehaviours,
        FaultyRole.Follower => ReMinBftFollowerBehaviours,
        FaultyRole.Passive => ReMinBftPassiveBehaviours,
        FaultyRole.Coordinator => ReMinBftCoordinatorBehaviours,
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };

    /// <summary>Timings of a faulty ReMinBFT replica: MinBFT's plus <see cref="FaultTiming.SwitchBack"/> (a correct client panics
    /// early so that the cell switches; the fault starts near the switch-back point of the MinBFT phase, docs/reminbft.md §7).</summary>
    private static readonly IReadOnlyList<FaultTiming> ReMinBftReplicaFaultTimings = [FaultTiming.Early, FaultTiming.MidBatch, FaultTiming.CheckpointBoundary, FaultTiming.SwitchBack];

    /// <summary>Timings of a faulty ReMinBFT role: a faulty replica has <see cref="ReMinBftReplicaFaultTimings"/>, a faulty client
    /// MinBFT's (<see cref="MinBftFaultTimings"/>), no fault early only.</summary>
    public static IReadOnlyList<FaultTiming> ReMinBftTimingsFor(FaultyRole role) => role switch
    {
        FaultyRole.None => EarlyOnly,
        FaultyRole.Client => MinBftFaultTimings,
        _ => ReMinBftReplicaFaultTimings,
    };

    /// <summary>CI seeds per ReMinBFT matrix point: 1 at f = 1, none at f = 2 and 3 (the pairwise sweep covers them).</summary>
    public static int ReMinBftCiSeedsPerPoint(int f) => f switch { 1 => 1, _ => 0 };

    /// <summary>The CI seed dimension of the ReMinBFT theories.</summary>
    public static IEnumerable<(int F, int SeedIndex)> ReMinBftCiRuns()
    {
        foreach (int f in Fs)
            for (int i = 0; i < ReMinBftCiSeedsPerPoint(f); i++) yield return (f, i);
    }

    /// <summary>Timings of a MinBFT scenario with a faulty node: early, mid-batch, checkpoint boundary (no view-change timing: the core has no view change yet).</summary>
    public static IReadOnlyList<FaultTiming> MinBftFaultTimings { get; } = [FaultTiming.Early, FaultTiming.MidBatch, FaultTiming.CheckpointBoundary];

    /// <summary>Timings of a faulty MinBFT role: <see cref="MinBftFaultTimings"/>, early only without a fault.</summary>
    public static IReadOnlyList<FaultTiming> MinBftTimingsFor(FaultyRole role) => role == FaultyRole.None ? EarlyOnly : MinBftFaultTimings;

    /// <summary>CI seeds per MinBFT matrix point: 2 at f = 1, 2 at f = 2, none at f = 3 (2 × 2 × 595 = 2,380 scenarios).</summary>
    public static int MinBftCiSeedsPerPoint(int f) => f switch { 1 => 2, 2 => 2, _ => 0 };

    /// <summary>The CI seed dimension of the MinBFT theories (<see cref="CiRuns"/> with <see cref="MinBftCiSeedsPerPoint"/>).</summary>
    public static IEnumerable<(int F, int SeedIndex)> MinBftCiRuns()
    {
        foreach (int f in Fs)
            for (int i = 0; i < MinBftCiSeedsPerPoint(f); i++) yield return (f, i);
    }

    /// <summary>Timings of a faulty role of RePBFT / RePBFT*: <see cref="RePbftFaultTimings"/>, early only without a fault.</summary>
    public static IReadOnlyList<FaultTiming> RePbftTimingsFor(FaultyRole role) => role == FaultyRole.None ? EarlyOnly : RePbftFaultTimings;

    /// <summary>Timings of a faulty <paramref name="role"/> of <paramref name="protocol"/> (<see cref="ISimProtocol.Timings"/>).</summary>
    public static IReadOnlyList<FaultTiming> TimingsFor(string protocol, FaultyRole role) => SimProtocols.Get(protocol).Timings(role);

    /// <summary>Seeds per RePBFT matrix point in CI: 1 at f = 1, none at f = 2 and 3 (the pairwise sweep covers them).</summary>
    public static int RePbftCiSeedsPerPoint(int f) => f switch { 1 => 1, _ => 0 };

    /// <summary>The CI seed dimension of the RePBFT theories (<see cref="CiRuns"/> with <see cref="RePbftCiSeedsPerPoint"/>).</summary>
    public static IEnumerable<(int F, int SeedIndex)> RePbftCiRuns()
    {
        foreach (int f in Fs)
            for (int i = 0; i < RePbftCiSeedsPerPoint(f); i++) yield return (f, i);
    }

    /// <summary>Behaviours of a faulty role: leader — all replica behaviours but eager commit; follower — all but equivocate, censor and empty batches; next primary — the view-change attacks; client — the client behaviours; none — <see cref="Behaviour.None"/>.</summary>
    public static IReadOnlyList<Behaviour> BehavioursFor(FaultyRole role) => role switch
    {
        FaultyRole.None => NoneBehaviours,
        FaultyRole.Client => ClientBehaviours,
        FaultyRole.Leader => LeaderBehaviours,
        FaultyRole.NextPrimary => NextPrimaryBehaviours,
        FaultyRole.Follower => FollowerBehaviours,
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };

    /// <summary>Behaviours of a faulty <paramref name="role"/> of <paramref name="protocol"/>: what the protocol's <see cref="ISimProtocol.Behaviours"/> plugs in.</summary>
    public static IReadOnlyList<Behaviour> BehavioursFor(string protocol, FaultyRole role) => SimProtocols.Get(protocol).Behaviours(role);

    /// <summary>Timings of a faulty role: every timing, except only <see cref="FaultTiming.Early"/> without a faulty node (timing is meaningless there, so every point is a distinct scenario).</summary>
    public static IReadOnlyList<FaultTiming> TimingsFor(FaultyRole role) => role == FaultyRole.None ? EarlyOnly : FaultTimings;

    /// <summary>Base seed of the CI matrix (the tests and <c>fastbft simulate --ci</c>); sweeps use other base seeds.</summary>
    public const ulong CiBaseSeed = 1;

    /// <summary>Seeds per matrix point in CI: 7 at f = 1, 2 at f = 2, 1 at f = 3 (10,430 scenarios in all).</summary>
    public static int CiSeedsPerPoint(int f) => f switch { 1 => 7, 2 => 2, 3 => 1, _ => 0 };

    /// <summary>
    /// The CI seed dimension: every (f, seed index) pair, index in 0 .. <see cref="CiSeedsPerPoint"/>(f) − 1.
    /// f and the seed index form one dimension because the number of seeds depends on f.
    /// </summary>
    public static IEnumerable<(int F, int SeedIndex)> CiRuns()
    {
        foreach (int f in Fs)
            for (int i = 0; i < CiSeedsPerPoint(f); i++) yield return (f, i);
    }

    /// <summary>Base seed of the pairwise sweep that the tests run on top of the CI matrix (fresh seeds, every f).</summary>
    public const ulong PairwiseBaseSeed = 2;

    /// <summary>Seed indices of the RePBFT pairwise sweep (every pair of f, behaviour, timing, network and seed index, both protocols).</summary>
    public const int RePbftPairwiseSeeds = 2;

    /// <summary>Seed indices of the pairwise sweep: its full product (f × behaviour × timing × network × seed) is far too big to run, so the tests cover every pair of values instead.</summary>
    public const int PairwiseSeeds = 8;

    /// <summary>True if the tuple is a point of the matrix: a known protocol and f, a behaviour of the role and a timing of the role.</summary>
    public static bool IsPoint(string protocol, int f, FaultyRole role, Behaviour behaviour, FaultTiming timing, NetworkCondition network)
        => AllProtocols.Contains(protocol) && Fs.Contains(f) && RolesFor(protocol).Contains(role) && BehavioursFor(protocol, role).Contains(behaviour)
           && TimingsFor(protocol, role).Contains(timing) && Networks.Contains(network);

    /// <summary>True if <paramref name="s"/> (its seed aside) is a point of the matrix.</summary>
    public static bool IsPoint(Scenario s) => IsPoint(s.Protocol, s.F, s.Role, s.Behaviour, s.Timing, s.Network);

    /// <summary>
    /// The scenario of one matrix point and seed index: the seed is derived from
    /// <paramref name="baseSeed"/>, the point's name and the index (<see cref="ScenarioMatrix.SeedOf"/>).
    /// </summary>
    /// <exception cref="ArgumentException">the tuple is not a matrix point.</exception>
    public static Scenario ScenarioOf(string protocol, int f, FaultyRole role, Behaviour behaviour, FaultTiming timing, NetworkCondition network, ulong baseSeed, int seedIndex)
    {
        if (!IsPoint(protocol, f, role, behaviour, timing, network))
            throw new ArgumentException($"f{f}/{role}/{behaviour}/{timing}/{network} ({protocol}) is not a point of the fault matrix");
        var point = new Scenario(protocol, f, role, behaviour, timing, network, 0);
        return point with { Seed = ScenarioMatrix.SeedOf(point, baseSeed, seedIndex) };
    }

    /// <summary>Every CI scenario of <paramref name="protocol"/>: each matrix point the protocol runs in CI (<see cref="ISimProtocol.InCi"/>) with its <see cref="CiSeedsPerPoint"/> seeds from <see cref="CiBaseSeed"/>, in matrix order.</summary>
    public static IEnumerable<Scenario> CiScenarios(string protocol)
    {
        var p = SimProtocols.Get(protocol);
        foreach (var point in ScenarioMatrix.Points(protocol, Fs))
            if (p.InCi(point))
            for (int i = 0; i < p.CiSeedsPerPoint(point.F); i++)
                yield return point with { Seed = ScenarioMatrix.SeedOf(point, CiBaseSeed, i) };
    }
}
