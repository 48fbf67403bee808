using FastBft.Agreement;
using FastBft.Agreement.MinBft;
using FastBft.Agreement.Pbft;
using FastBft.Agreement.RePbft;

namespace FastBft.Simulation;

/// <summary>Cell parameters of a simulated run (kept small so a scenario is short in virtual time).</summary>
public sealed record SimCellParameters
{
    /// <summary>Requests per batch.</summary>
    public int BatchSize { get; init; } = 4;
    /// <summary>Checkpoint interval K.</summary>
    public int CheckpointInterval { get; init; } = 4;
    /// <summary>Log window L (multiple of K).</summary>
    public int Window { get; init; } = 8;
    /// <summary>Batches in flight at the primary.</summary>
    public int MaxInflightBatches { get; init; } = 2;
    /// <summary>Ticks before a stalled slot is retransmitted.</summary>
    public int RetransmitTicks { get; init; } = 2;
    /// <summary>Ticks without progress on a pending request before a backup starts a view change.</summary>
    public int ViewChangeTicks { get; init; } = 8;
    /// <summary>Switching protocols: PBFT instances after a switch before returning (0 = never; the simulator sets it per scenario, see <see cref="Simulator"/>).</summary>
    public long SwitchBackAfter { get; init; }
}

/// <summary>
/// The extension point through which a protocol plugs into the simulator: its definition (shape,
/// schema, execution stage, core — the same the host uses), which scenarios it supports, and how the
/// simulator should judge it. Byzantine strategies that depend on a protocol's messages live with the
/// adversary (Simulator.Adversary.cs) and are selected by <see cref="Behaviour"/>.
/// </summary>
public interface ISimProtocol
{
    /// <summary>Name used on the command line ("pbft").</summary>
    string Name { get; }
    /// <summary>The protocol definition the simulator creates cores, execution stages and verifiers from.</summary>
    IProtocolDefinition Definition { get; }
    /// <summary>True if the core replaces a faulty leader (view change); otherwise liveness is not asserted for leader faults that stop progress.</summary>
    bool SupportsViewChange => Definition.ReplacesFaultyLeader;
    /// <summary>
    /// Convergence (per protocol): true if the correct replicas' states must be equal once they executed
    /// the same sequence number. Whole-state equality for protocols where every replica executes
    /// everything; ODRC compares maintained objects instead (its <see cref="CreateExecutionOracle"/>).
    /// </summary>
    bool WholeStateConverges => true;
    /// <summary>
    /// The Byzantine behaviours (adversary strategies, <c>Simulator.Adversary.cs</c>) the matrix runs for a
    /// faulty <paramref name="role"/> of this protocol. The default is the standard list of
    /// <see cref="FaultMatrix.BehavioursFor(FaultyRole)"/>; a protocol narrows or extends it with its own strategies.
    /// </summary>
    IReadOnlyList<Behaviour> Behaviours(FaultyRole role) => FaultMatrix.BehavioursFor(role);
    /// <summary>
    /// True if the commit-certificate oracle applies: every batch a correct replica executes at s was
    /// prepared (certified) at s by at least f+1 correct replicas, observed through
    /// <see cref="IReplicaCore.TryGetLoggedDigest"/> and <see cref="IReplicaCore.IsPreparedOrDone"/>.
    /// </summary>
    bool ChecksCommitCertificate => true;
    /// <summary>
    /// True for switching protocols (RePBFT, RePBFT*): simulated clients PANIC when a request stalls, the PA/PE oracle
    /// checks every accepted SWITCH, and the run ends only once every correct replica caught up (clients keep adding
    /// load until then, since a stall in the normal case is only resolved by clients that notice it).
    /// </summary>
    bool Switches => false;
    /// <summary>
    /// True if the commit certificate is the protocol's commit quorum of <em>certified</em> messages (USIG protocols:
    /// MinBFT's f+1 — the leader's PREPARE and f COMMITs — of which a Byzantine replica's certified message may be one,
    /// since its counter keeps it from vouching for two batches at one s). The commit-certificate oracle then counts the
    /// faulty replica too when it certified the batch, and requires <see cref="QuorumPolicy.Commit"/> distinct
    /// replicas; otherwise (PBFT) f+1 correct replicas must have prepared it.
    /// </summary>
    bool CertifiedCommitCertificate => false;
    /// <summary>
    /// True if liveness is asserted in <paramref name="s"/>. Default: always with a view change; without one
    /// (<see cref="SupportsViewChange"/> false), not for leader faults that stop progress (only a slow leader, wrong
    /// replies, wrong checkpoints and replays leave the cell live).
    /// </summary>
    bool LivenessExpected(Scenario s) => SupportsViewChange
        || !(s.Role is FaultyRole.Leader or FaultyRole.NextPrimary && s.Behaviour is not (Behaviour.Slow or Behaviour.WrongReply or Behaviour.WrongCheckpoint or Behaviour.Replay));
    /// <summary>The faulty roles of the matrix for this protocol.</summary>
    IReadOnlyList<FaultyRole> Roles => FaultMatrix.Roles;
    /// <summary>The fault timings of the matrix for a faulty <paramref name="role"/>.</summary>
    IReadOnlyList<FaultTiming> Timings(FaultyRole role) => FaultMatrix.TimingsFor(role);
    /// <summary>CI seeds per matrix point at <paramref name="f"/>.</summary>
    int CiSeedsPerPoint(int f) => FaultMatrix.CiSeedsPerPoint(f);
    /// <summary>True if the CI matrix (<see cref="FaultMatrix.CiScenarios"/>) runs matrix point <paramref name="point"/>; the default: every point.</summary>
    bool InCi(Scenario point) => true;
    /// <summary>
    /// Selective execution (ODRC): the oracle that observes the replicas' services and stages and replaces the whole-state
    /// oracles for one run (<see cref="ISimExecutionOracle"/>), over <paramref name="serviceFactory"/>'s service; null (the
    /// default) for protocols whose replicas execute every request.
    /// </summary>
    ISimExecutionOracle? CreateExecutionOracle(Func<FastBft.Service.IReplicatedService> serviceFactory) => null;
    /// <summary>
    /// The operation bytes of a correct client's next request, drawn from <paramref name="random"/> (the run's PRNG, after the
    /// simulator's own draw for the request); null (the default) for the simulator's 8-byte value (the counter service).
    /// </summary>
    byte[]? NextOperation(SimRandom random) => null;
}

/// <summary>PBFT in the simulator.</summary>
public sealed class PbftSimProtocol : ISimProtocol
{
    /// <inheritdoc/>
    public string Name => "pbft";
    /// <inheritdoc/>
    public IProtocolDefinition Definition => PbftProtocol.Instance;
}

/// <summary>
/// MinBFT in the simulator (docs/simulation.md, "MinBFT"): n = 2f+1 on one software USIG per node (shared by a
/// Byzantine node's instances), roles leader, follower and client, its own behaviours (<see cref="FaultMatrix.MinBftBehavioursFor"/>),
/// the commit-certificate oracle on f+1 certified messages and the counter-order oracle.
/// </summary>
public sealed class MinBftSimProtocol : ISimProtocol
{
    /// <inheritdoc/>
    public string Name => "minbft";
    /// <inheritdoc/>
    public IProtocolDefinition Definition => MinBftProtocol.Instance;
    /// <inheritdoc/>
    public IReadOnlyList<Behaviour> Behaviours(FaultyRole role) => FaultMatrix.MinBftBehavioursFor(role);
    /// <inheritdoc/>
    public IReadOnlyList<FaultyRole> Roles => FaultMatrix.MinBftRoles;
    /// <inheritdoc/>
    public IReadOnlyList<FaultTiming> Timings(FaultyRole role) => FaultMatrix.MinBftTimingsFor(role);
    /// <inheritdoc/>
    public int CiSeedsPerPoint(int f) => FaultMatrix.MinBftCiSeedsPerPoint(f);
    /// <inheritdoc/>
    public bool CertifiedCommitCertificate => true;
    /// <summary>
    /// As the default, from <see cref="IProtocolDefinition.ReplacesFaultyLeader"/> (false until MinBFT's view change lands: then
    /// every scenario asserts liveness); without a view change a leader fault stops progress unless the leader is only slow,
    /// answers wrongly, certifies a second wrong CHECKPOINT, replays old certified messages or adds oversized copies.
    /// </summary>
    public bool LivenessExpected(Scenario s) => Definition.ReplacesFaultyLeader
        || !(s.Role == FaultyRole.Leader && s.Behaviour is not (Behaviour.Slow or Behaviour.WrongReply or Behaviour.WrongCheckpoint or Behaviour.Replay or Behaviour.Oversized));
}

/// <summary>RePBFT (<paramref name="star"/> = false) or RePBFT* in the simulator: a switching protocol with its own roles, behaviours and timings (docs/simulation.md, "RePBFT").</summary>
public sealed class RePbftSimProtocol(bool star = false) : ISimProtocol
{
    /// <inheritdoc/>
    public string Name => star ? "repbft-star" : "repbft";
    /// <inheritdoc/>
    public IProtocolDefinition Definition => star ? RePbftProtocol.Star : RePbftProtocol.Instance;
    /// <inheritdoc/>
    public bool Switches => true;
    /// <inheritdoc/>
    public IReadOnlyList<Behaviour> Behaviours(FaultyRole role) => FaultMatrix.RePbftBehavioursFor(role);
    /// <inheritdoc/>
    public IReadOnlyList<FaultyRole> Roles => FaultMatrix.RePbftRoles;
    /// <inheritdoc/>
    public IReadOnlyList<FaultTiming> Timings(FaultyRole role) => FaultMatrix.RePbftTimingsFor(role);
    /// <inheritdoc/>
    public int CiSeedsPerPoint(int f) => FaultMatrix.RePbftCiSeedsPerPoint(f);
}

/// <summary>RePBFT* in the simulator (<see cref="RePbftSimProtocol"/> with star = true).</summary>
public sealed class RePbftStarSimProtocol : ISimProtocol
{
    private readonly RePbftSimProtocol _inner = new(star: true);
    /// <inheritdoc/>
    public string Name => _inner.Name;
    /// <inheritdoc/>
    public IProtocolDefinition Definition => _inner.Definition;
    /// <inheritdoc/>
    public bool Switches => true;
    /// <inheritdoc/>
    public IReadOnlyList<Behaviour> Behaviours(FaultyRole role) => FaultMatrix.RePbftBehavioursFor(role);
    /// <inheritdoc/>
    public IReadOnlyList<FaultyRole> Roles => FaultMatrix.RePbftRoles;
    /// <inheritdoc/>
    public IReadOnlyList<FaultTiming> Timings(FaultyRole role) => FaultMatrix.RePbftTimingsFor(role);
    /// <inheritdoc/>
    public int CiSeedsPerPoint(int f) => FaultMatrix.RePbftCiSeedsPerPoint(f);
}

/// <summary>
/// ReMinBFT in the simulator (docs/reminbft.md §6): n = 2f+1 on one software USIG per node, f+1 active and f passive, roles
/// leader, active follower, passive and client, its own behaviours (<see cref="FaultMatrix.ReMinBftBehavioursFor"/>), the
/// commit-certificate oracle on the f+1 active replicas' certified messages and the counter-order oracle on every active
/// replica's MinBFT core. A switching protocol: clients PANIC, and the switch to MinBFT recovers from leader and passive faults
/// (its first coordinator is the first follower; without coordinator rotation a faulty coordinator stops it).
/// </summary>
public sealed class ReMinBftSimProtocol : ISimProtocol
{
    /// <inheritdoc/>
    public string Name => "reminbft";
    /// <inheritdoc/>
    public IProtocolDefinition Definition => FastBft.Agreement.ReMinBft.ReMinBftProtocol.Instance;
    /// <inheritdoc/>
    public IReadOnlyList<Behaviour> Behaviours(FaultyRole role) => FaultMatrix.ReMinBftBehavioursFor(role);
    /// <inheritdoc/>
    public IReadOnlyList<FaultyRole> Roles => FaultMatrix.ReMinBftRoles;
    /// <inheritdoc/>
    public IReadOnlyList<FaultTiming> Timings(FaultyRole role) => FaultMatrix.ReMinBftTimingsFor(role);
    /// <inheritdoc/>
    public int CiSeedsPerPoint(int f) => FaultMatrix.ReMinBftCiSeedsPerPoint(f);
    /// <inheritdoc/>
    public bool CertifiedCommitCertificate => true;
    /// <inheritdoc/>
    public bool Switches => true;
    /// <summary>
    /// ReMinBFT's normal case stops on any fault of an active replica or a missing CHECKPOINT (Thesis §5.4.2); the switch then
    /// takes over with the first follower as coordinator, and a SWITCH that does not come in time (a faulty coordinator)
    /// continues as MinBFT's view change (docs/reminbft.md §5.5). Liveness is asserted for every faulty role.
    /// </summary>
    public bool LivenessExpected(Scenario s) => true;
}

/// <summary>Protocols the simulator knows, by name.</summary>
public static class SimProtocols
{
    /// <summary>The protocol named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">unknown name, or a protocol not built yet.</exception>
    public static ISimProtocol Get(string name) => name.ToLowerInvariant() switch
    {
        "pbft" => new PbftSimProtocol(),
        "repbft" => new RePbftSimProtocol(),
        "repbft-star" or "repbft*" => new RePbftStarSimProtocol(),
        "minbft" => new MinBftSimProtocol(),
        "reminbft" => new ReMinBftSimProtocol(),
        "pbft-odrc" => new FastBft.Simulation.Odrc.OdrcSimProtocol(new PbftSimProtocol()),
        "minbft-odrc" => new FastBft.Simulation.Odrc.OdrcSimProtocol(new MinBftSimProtocol()),
        _ => throw new ArgumentException(CellShape.TryParse(name, out _)
            ? $"protocol '{name}' is not built yet (built: {string.Join(", ", Protocols.Built)})"
            : $"unknown protocol '{name}' (known: {string.Join(", ", CellShape.Names)})"),
    };
}
