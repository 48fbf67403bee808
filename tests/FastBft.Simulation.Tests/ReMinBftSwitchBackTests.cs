using FastBft.Agreement.ReMinBft;
using FastBft.Simulation;
using FastBft.Workloads;

namespace FastBft.Simulation.Tests;

/// <summary>
/// Switching back from MinBFT to ReMinBFT (Thesis §5.3.3 as §5.4 applies it; docs/reminbft.md §7, issue 12 item 4): the
/// attack tests written before the switch back is built. Each scenario makes the cell switch (a correct client panics
/// early), runs the MinBFT phase for <see cref="FastBft.Agreement.ReplicaParameters.SwitchBackAfter"/> = K instances, and starts the fault at
/// the phase's switch-back point c = ⌈(T + X) / K⌉·K (<see cref="FaultTiming.SwitchBack"/>, Simulator.Switching.cs): while the
/// phase's leader would propose the SWITCH-BACK batch at c and the replicas would agree on it. Every invariant (agreement,
/// validity, convergence, commit certificate, counter order) and liveness are asserted.
/// <para>Written before the switch back was built (then the cell stayed in MinBFT and they checked a fault late in the phase);
/// since the ordered switch back of §7 is built (2026-12-01) they are its attack tests unchanged, beside the positive test
/// <see cref="TheCellSwitchesBackAtTheAgreedBatchAndSwitchesAgainOnTheNextFault"/>.</para>
/// </summary>
public class ReMinBftSwitchBackTests(ITestOutputHelper output)
{
    private static Simulator Sim(Scenario s) => new(s, SimProtocols.Get(s.Protocol), () => new CounterService());

    private static ReMinBftReplica Core(Simulator sim, uint id) => (ReMinBftReplica)sim.Replica(id);

    private static readonly ulong[] Seeds = [11, 12, 13, 14, 15, 16];

    private void RunAll(int f, FaultyRole role, Behaviour behaviour, NetworkCondition network)
    {
        int atPoint = 0;
        foreach (ulong seed in Seeds)
        {
            var s = new Scenario("reminbft", f, role, behaviour, FaultTiming.SwitchBack, network, seed);
            var sim = Sim(s);
            var r = sim.Run();
            output.WriteLine($"{s.Name} seed {seed}: {r}");
            Assert.True(r.Passed, $"replay: fastbft simulate --protocol reminbft --f {f} --scenario {s.Name} --seed {seed}\n{r}");
            Assert.True(sim.MaxGeneration >= 1, $"{s.Name} seed {seed}: the cell never switched to MinBFT");
            if (sim.ActivatedAtSwitchBackPoint) atPoint++;
        }
        // The timing must mostly do what it says (the 3 × heal-time fallback covers a phase that never got there).
        Assert.True(atPoint * 2 >= Seeds.Length, $"the fault started at the switch-back point in only {atPoint} of {Seeds.Length} runs");
    }

    /// <summary>
    /// The MinBFT phase's leader is faulty at the switch-back point (f = 1: the transition coordinator, replica 1, leads the
    /// phase): it sends a second, conflicting certified COMMIT for an instance (its equivocation attempt), withholds a
    /// certified message from some replicas (a counter gap), or goes mute. §7's rule: s is agreed like any batch, and every
    /// correct replica executes s — and switches — before any phase instance above s, so a PREPARE for s+1 that a faulty
    /// leader certifies after the flagged s is never executed in the phase.
    /// </summary>
    [Theory]
    [InlineData(Behaviour.ConflictingCommit, NetworkCondition.Clean)]
    [InlineData(Behaviour.ConflictingCommit, NetworkCondition.Lossy)]
    [InlineData(Behaviour.WithholdCertified, NetworkCondition.Clean)]
    [InlineData(Behaviour.Mute, NetworkCondition.Clean)]
    public void AFaultyPhaseLeaderAtTheSwitchBackPointCannotSplitTheCell(Behaviour behaviour, NetworkCondition network)
        => RunAll(1, FaultyRole.Coordinator, behaviour, network);

    /// <summary>
    /// A faulty replica of the MinBFT phase at the switch-back point (f = 2: an active follower of generation 0 — replica 1,
    /// the phase's leader, or replica 2, a phase follower, drawn by the seed — or a replica that was passive before the
    /// switch and follows in the phase) sends conflicting certified COMMITs, among them COMMITs for phase instances above s. Commit in the phase needs f+1 certified messages with one correct
    /// replica's, and a correct replica executes s first and leaves the phase, so no phase instance above s executes.
    /// </summary>
    [Theory]
    [InlineData(FaultyRole.Follower, NetworkCondition.Clean)]
    [InlineData(FaultyRole.Follower, NetworkCondition.Lossy)]
    [InlineData(FaultyRole.Passive, NetworkCondition.Clean)]
    public void AFaultyFollowerCommittingAboveTheSwitchBackPointCannotSplitTheCell(FaultyRole role, NetworkCondition network)
        => RunAll(2, role, Behaviour.ConflictingCommit, network);

    /// <summary>
    /// docs/reminbft.md §7's counterexample to RePBFT's certificate rule at n = 2f+1: the faulty replica sends its
    /// CHECKPOINTs of the MinBFT phase to every replica but one correct one (<see cref="Behaviour.WithholdCheckpoint"/> at the
    /// switch-back timing withholds them from one target only). Under the certificate rule one correct replica would switch
    /// back and the other would time out and commit above c in the phase. Under the ordered rule both decide from the same
    /// agreed batch at s; the one lacking the CHECKPOINT is only delayed (the checkpoint certificate needs f+1 in the phase).
    /// </summary>
    [Theory]
    [InlineData(FaultyRole.Leader, NetworkCondition.Clean)]
    [InlineData(FaultyRole.Coordinator, NetworkCondition.Clean)]
    [InlineData(FaultyRole.Passive, NetworkCondition.Clean)]
    [InlineData(FaultyRole.Passive, NetworkCondition.Lossy)]
    public void TheWithheldCheckpointCounterexampleKeepsAgreement(FaultyRole role, NetworkCondition network)
        => RunAll(1, role, Behaviour.WithholdCheckpoint, network);

    /// <summary>
    /// The switch back itself (docs/reminbft.md §7): the leader crashes, the cell switches to MinBFT (generation 1), the phase's
    /// leader proposes the SWITCH-BACK batch at a checkpoint at least X = 4 instances later, and every correct replica switches
    /// back to ReMinBFT (generation 2, led by that leader, the crashed replica passive). A generation needs all n replicas for
    /// its checkpoints, so with one replica crashed it stalls within a window, clients panic, and the cell switches to MinBFT
    /// again (generation 3) — and back, and so on: every request completes, and every invariant holds across the generations
    /// (a run whose clients finish within the new generation's first window ends in generation 2).
    /// </summary>
    [Fact]
    public void TheCellSwitchesBackAtTheAgreedBatchAndSwitchesAgainOnTheNextFault()
    {
        int again = 0;
        foreach (ulong seed in Seeds)
        {
            var s = new Scenario("reminbft", 1, FaultyRole.Leader, Behaviour.Crash, FaultTiming.MidBatch, NetworkCondition.Clean, seed);
            var sim = new Simulator(s, SimProtocols.Get(s.Protocol), () => new CounterService(), new SimCellParameters { SwitchBackAfter = 4 });
            var r = sim.Run();
            Assert.True(r.Passed, r.ToString());
            foreach (uint id in new uint[] { 1, 2 })
            {
                var core = Core(sim, id);
                Assert.True(core.SwitchBacks >= 1, $"seed {seed}: replica {id} never switched back ({core.DescribeState()})");
                Assert.True(core.Stats.SwitchBacks + core.Stats.Joins >= 1, $"seed {seed}: replica {id} counted no switch back");
            }
            Assert.True(sim.MaxGeneration >= 2, $"seed {seed}: the cell did not switch back (generation {sim.MaxGeneration})");
            if (sim.MaxGeneration >= 3) again++;
        }
        // Runs whose clients finish within the new generation's first window never stall and stay in generation 2.
        Assert.True(again * 2 >= Seeds.Length, $"the cell switched to MinBFT again after switching back in only {again} of {Seeds.Length} runs");
    }

    /// <summary>Without <see cref="FastBft.Agreement.ReplicaParameters.SwitchBackAfter"/> (0 = never, the default) a switched cell stays in MinBFT.</summary>
    [Fact]
    public void WithoutSwitchBackAfterTheCellStaysInMinBft()
    {
        foreach (ulong seed in Seeds)
        {
            var s = new Scenario("reminbft", 1, FaultyRole.Leader, Behaviour.Crash, FaultTiming.MidBatch, NetworkCondition.Clean, seed * 4 + 1);   // seed % 4 != 0: the simulator leaves X = 0
            var sim = new Simulator(s, SimProtocols.Get(s.Protocol), () => new CounterService());
            var r = sim.Run();
            Assert.True(r.Passed, r.ToString());
            Assert.Equal(1UL, sim.MaxGeneration);
            Assert.True(Core(sim, 1).Switched && Core(sim, 2).Switched);
            Assert.Equal(0UL, Core(sim, 1).SwitchBacks);
        }
    }

    /// <summary>
    /// Replays of the two liveness failures of sweep 13023 (docs/reminbft.md §7.1 "Known residual", now fixed): a faulty passive
    /// replica withholds its certified CHECKPOINTs; a correct replica cut off during the MinBFT phase missed that replica's first
    /// COMMITs, so its counter order for it started below the run start of the NEW-VIEW the faulty replica sent as the next
    /// leader and could not take it across the gap of the withheld CHECKPOINT; it timed out into a view of its own and was left
    /// behind when the others switched back. Fixed in MinBFT: a replica that handled a COMMIT relays it (UI-FETCH for another
    /// replica's messages), and a NEW-VIEW buffered after a gap is tried across it again when a copy comes.
    /// </summary>
    /// <summary>
    /// Replay of the convergence failure of sweep 14501 (docs/reminbft.md §7.1): a passive replica that joined a generation ended
    /// its join at a stable checkpoint; its join core, now dormant, then flushed its queued COMMIT for the next slot, counted it
    /// and executed that slot — which the replica, passive again, also applied from the active replicas' UPDATEs. Its state
    /// was one batch ahead of its sequence number (different digests at seq 20). A dormant core executes nothing now.
    /// </summary>
    [Fact]
    public void APassiveJoinersDormantCoreExecutesNothing()
    {
        var r = Sim(Scenario.Parse("reminbft", "f1/leader/replay/switchback/isolateone", 198403314UL)).Run();
        Assert.NotEqual("convergence", r.Invariant);
        Assert.True(r.Passed, r.ToString());
    }

    [Theory]
    [InlineData("f1/passive/withholdcheckpoint/early/isolateleader", 975341032UL)]
    [InlineData("f2/passive/withholdcheckpoint/early/isolateone", 254802980UL)]
    // the three liveness failures of sweep 13031 (same class: a replica left in an older view of the phase), passing since M10/M11
    [InlineData("f2/follower/invalidmac/checkpointboundary/shortlag", 886474196UL)]
    [InlineData("f2/passive/crash/switchback/partitionheal", 542258974UL)]
    [InlineData("f2/passive/invalidmac/switchback/partitionheal", 93592267UL)]
    // sweep 14101: replicas bound the phase's last slots again in a later view while the others had committed them in the
    // earlier one and switched back — fixed by commit certificates of older views (MinBftReplica.LateCertificates.cs)
    [InlineData("f2/passive/invalidmac/switchback/partitionheal", 54416668UL)]
    [InlineData("f2/passive/withholdcheckpoint/midbatch/isolateone", 998299508UL)]
    [InlineData("f3/follower/invalidmac/switchback/partitionheal", 724964428UL)]
    [InlineData("f3/passive/crash/switchback/partitionheal", 66315042UL)]
    // sweep 14201, counter-order oracle: a certificate completed from the NEW-VIEW's logs committed and executed the SWITCH-BACK
    // batch in the middle of the NEW-VIEW's installation, before its counter-order jumps; now recorded after them
    [InlineData("f3/follower/mute/switchback/partitionheal", 971417269UL)]
    // sweep 14301: a COMMIT of the older view that came before its PREPARE (only a digest in the slot's votes) must count
    [InlineData("f2/passive/mute/switchback/partitionheal", 365990592UL)]
    public void AReplicaThatMissedAWithholdingLeadersCommitsTakesItsNewViewAndSwitchesBack(string scenario, ulong seed)
    {
        var sim = Sim(Scenario.Parse("reminbft", scenario, seed));
        var r = sim.Run();
        Assert.True(r.Passed, r.ToString());
        Assert.True(sim.MaxGeneration >= 1, $"the cell switched (generation {sim.MaxGeneration})");
    }
}

