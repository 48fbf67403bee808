using FastBft.Agreement;
using FastBft.Execution.Odrc;
using FastBft.Service;

namespace FastBft.Simulation.Odrc;

/// <summary>
/// An agreement core with the ODRC execution stage in the generic simulator (<c>pbft-odrc</c>, <c>minbft-odrc</c>; docs/odrc.md
/// §6, docs/simulation.md "PBFT+ODRC"): the real cores of <paramref name="agreement"/> over <see cref="OdrcProtocol"/> (each
/// request executes on the f+1 maintainers of its objects, round-robin placement over the cell's n replicas), run under the
/// agreement protocol's fault matrix — its roles, timings, networks and CI seeds, view changes, Twins, state transfer of an
/// isolated replica — with the ODRC oracles of <see cref="OdrcExecutionOracle"/> instead of the whole-state ones. Clients send
/// the operations of <paramref name="workload"/> (KV: single-key GET/SET/INCRBY, ≈ 15 % multi-key MGET/MSET across
/// maintainer sets) and accept f+1 matching replies with one full reply, as in production; a maintainer that
/// answers wrongly or withholds execution leaves its clients one reply short, their retransmissions are the stalled-result
/// notices (Thesis §6.4.3) that force the request on the other replicas.
/// </summary>
/// <param name="agreement">the agreement protocol in the simulator: <see cref="PbftSimProtocol"/> or <see cref="MinBftSimProtocol"/>.</param>
/// <param name="workload">the operations of correct clients; null describes the matrix only (running needs one: <see cref="WithWorkload"/>).</param>
public sealed class OdrcSimProtocol(ISimProtocol agreement, IOdrcSimWorkload? workload = null) : ISimProtocol
{
    /// <summary>
    /// Selector options of the simulated cell, scaled to its short runs (≈ 15–40 requests): an object checkpoint every 3
    /// accesses (K), the Fig. 6.8 alarm after 40 ticks (200 virtual ms), a fetch retry every 4 ticks, adoption for 150 ticks —
    /// the ODRC simulator's values, with the alarm scaled to the generic simulator's 5 ms tick.
    /// </summary>
    public static SelectorOptions Options { get; } = new() { CheckpointAccesses = 3, AlarmTicks = 40, FetchRetryTicks = 4, StableKept = 4, AdoptTicks = 150 };

    /// <summary>Objects the workload draws keys from (a key is an object; KV keys "g{i/3}:k{i}" and 4 counters).</summary>
    public const int Objects = 8;

    /// <summary>The agreement protocol's simulator definition.</summary>
    public ISimProtocol Agreement => agreement;

    /// <summary>This protocol with the operations of <paramref name="w"/>.</summary>
    public OdrcSimProtocol WithWorkload(IOdrcSimWorkload w) => new(agreement, w);

    /// <inheritdoc/>
    public string Name => agreement.Name + "-odrc";
    /// <inheritdoc/>
    public IProtocolDefinition Definition { get; } = new OdrcProtocol(agreement.Definition, PlacementStrategy.RoundRobin, Options);
    /// <summary>False: under ODRC each replica keeps current only the objects it maintains (Thesis §6.2.2.3); convergence is checked on
    /// the copies (<see cref="OdrcExecutionOracle"/>), agreement on the order.</summary>
    public bool WholeStateConverges => false;
    /// <summary>
    /// The agreement protocol's behaviours: every one of them attacks the agreement stage (which ODRC leaves as it is) or a
    /// replica's replies and checkpoints — and each replica is a maintainer of some objects, so a wrong reply, a crash, a mute
    /// or slow replica is a faulty maintainer whose clients recover only through forced execution. None is excluded. Two of
    /// them reach the ODRC messages too (Simulator.Adversary.cs): <see cref="Behaviour.WrongCheckpoint"/> also corrupts the
    /// state hash of the replica's OBJECT-CHECKPOINTs, <see cref="Behaviour.WrongReply"/> also the states it serves in
    /// OBJECT-STATE; Mute, InvalidMac, TargetedMac and Replay apply to every message, ODRC's included.
    /// </summary>
    public IReadOnlyList<Behaviour> Behaviours(FaultyRole role) => agreement.Behaviours(role);
    /// <inheritdoc/>
    public bool ChecksCommitCertificate => agreement.ChecksCommitCertificate;
    /// <inheritdoc/>
    public bool CertifiedCommitCertificate => agreement.CertifiedCommitCertificate;
    /// <inheritdoc/>
    public bool LivenessExpected(Scenario s) => agreement.LivenessExpected(s);
    /// <inheritdoc/>
    public IReadOnlyList<FaultyRole> Roles => agreement.Roles;
    /// <inheritdoc/>
    public IReadOnlyList<FaultTiming> Timings(FaultyRole role) => agreement.Timings(role);
    /// <summary>CI seeds per point: one at f = 1, none above (the sweeps cover f = 2, 3; docs/simulation.md "PBFT+ODRC").</summary>
    public int CiSeedsPerPoint(int f) => f == 1 ? 1 : 0;
    /// <summary>
    /// The CI matrix runs the points with the fault from the start (every role, behaviour and network), and a faulty next
    /// primary also from the first view change (the view change it leads): 322 scenarios for PBFT at f = 1, ≈ 30–40 s on the
    /// loaded 2-core machine. The sweeps run every timing (docs/simulation.md "PBFT+ODRC").
    /// </summary>
    public bool InCi(Scenario point) => point.Timing == FaultTiming.Early || (point.Role == FaultyRole.NextPrimary && point.Timing == FaultTiming.ViewChange);
    /// <inheritdoc/>
    public ISimExecutionOracle CreateExecutionOracle(Func<IReplicatedService> serviceFactory) => new OdrcExecutionOracle(serviceFactory);
    /// <summary>
    /// A request of the workload over <see cref="Objects"/> objects: half the draws single-object (GET, SET, INCRBY), half mixed
    /// (the same, 30 % of them a three-key MGET or a two-key MSET): ≈ 15 % cross-border requests. (A heavier multi-key share
    /// leaves most lagging replicas behind by the known state-transfer limitation S5, docs/odrc.md §9, and so exercises state
    /// transfer less: with 40 % multi-key, 284 of the 1,043 f = 1 points failed that way, with 15 % 189.)
    /// </summary>
    /// <exception cref="InvalidOperationException">no workload (<see cref="WithWorkload"/>).</exception>
    public byte[]? NextOperation(SimRandom random)
    {
        if (workload is null) throw new InvalidOperationException($"{Name} runs with a workload: OdrcSimProtocol.WithWorkload (the CLI and the tests use the KV workload)");
        return workload.Next(random, random.Int(2) == 0 ? OdrcWorkloadKind.SingleObject : OdrcWorkloadKind.Mixed, Objects);
    }
}
