using FastBft.Agreement.ReMinBft;
using FastBft.Simulation;
using FastBft.Workloads;

namespace FastBft.Simulation.Tests;

/// <summary>
/// ReMinBFT's rules under attack (docs/reminbft.md §6; Thesis §5.4.1–§5.4.2): for each rule, what a Byzantine replica could
/// send, withhold or replay, and the check that catches it; and the oracles catch planted violations (acting out of counter
/// order, committing without all f+1 active replicas, applying an UPDATE without all f+1 matching).
/// </summary>
public class ReMinBftOracleTests(ITestOutputHelper output)
{
    private static Simulator Sim(Scenario s) => new(s, SimProtocols.Get(s.Protocol), () => new CounterService());

    private static ReMinBftReplica Core(Simulator sim, uint id) => (ReMinBftReplica)sim.Replica(id);

    private static readonly ulong[] Seeds = [1, 2, 3, 4, 5, 6, 7, 8];

    /// <summary>Counter order (Thesis §5.4.1): a planted core that acts on certified messages as they arrive is caught by the
    /// counter-order oracle on an active replica's composed MinBFT core; the real core never is.</summary>
    [Theory]
    [InlineData(FaultyRole.None, Behaviour.None, NetworkCondition.Lossy)]
    [InlineData(FaultyRole.Follower, Behaviour.Replay, NetworkCondition.Clean)]
    public void CounterOrderOracleCatchesAPlantedOutOfOrderAcceptance(FaultyRole role, Behaviour behaviour, NetworkCondition network)
    {
        int caught = 0;
        foreach (ulong seed in Seeds)
        {
            var s = new Scenario("reminbft", 1, role, behaviour, FaultTiming.Early, network, seed);
            var sim = Sim(s);
            var real = sim.Run();
            Assert.True(real.Passed, "real core: " + real);
            Assert.True(sim.CounterOrderChecks > 5, $"the oracle checked only {sim.CounterOrderChecks} acted-on messages");
            var broken = Sim(s with { IgnoreCounterOrder = true }).Run();
            output.WriteLine(broken.ToString());
            if (broken.Invariant == "counter-order") caught++;
        }
        Assert.True(caught >= Seeds.Length / 2, $"the planted out-of-order acceptance was caught in only {caught} of {Seeds.Length} runs");
    }

    /// <summary>Commit needs the certified messages of all f+1 active replicas (Thesis §5.4.2): with a planted commit quorum of 1
    /// the leader executes what only its PREPARE certified and the commit-certificate oracle reports it.</summary>
    [Fact]
    public void CommitWithoutEveryActiveReplicaIsCaught()
    {
        int caught = 0;
        foreach (ulong seed in Seeds)
        {
            var s = new Scenario("reminbft", 1, FaultyRole.None, Behaviour.None, FaultTiming.Early, NetworkCondition.Clean, seed);
            Assert.True(Sim(s).Run().Passed);
            var broken = Sim(s with { CommitQuorum = 1 }).Run();
            output.WriteLine(broken.ToString());
            if (!broken.Passed) caught++;
        }
        Assert.Equal(Seeds.Length, caught);
    }

    /// <summary>
    /// Equivocation attempt (Thesis §5.4.1): a leader whose two instances share one USIG sends two PREPAREs for one s; the
    /// second carries the next counter, so a correct follower meets it after the first, in counter order, and rejects it.
    /// Agreement holds in every run and the attempt is seen.
    /// </summary>
    [Fact]
    public void AnEquivocatingLeaderIsSeenAndAgreementHolds()
    {
        long seen = 0;
        foreach (ulong seed in Seeds)
        {
            var sim = Sim(new Scenario("reminbft", 1, FaultyRole.Leader, Behaviour.Equivocate, FaultTiming.Early, NetworkCondition.Clean, seed));
            var r = sim.Run();
            Assert.True(r.Passed, r.ToString());
            seen += Core(sim, 1).Core!.Stats.Equivocations + Core(sim, 1).Core!.Stats.SenderOrderViolations;   // a second PREPARE for a bound s breaks the sender rule too
        }
        Assert.True(seen > 0, "no correct follower saw a second PREPARE for a bound sequence number");
    }

    /// <summary>
    /// Wrong UPDATE (Thesis §5.4.2 "Execution Stage"): a follower corrupts its UPDATEs. The passive replica applies an update
    /// only when all f+1 active replicas match, so it never applies the corrupted content (the convergence oracle holds in
    /// every run; a stall forces the switch). With a planted quorum of 1 (one UPDATE suffices, and one certified message
    /// commits) an oracle reports it.
    /// </summary>
    [Fact]
    public void AWrongUpdateIsNeverAppliedAndAPlantedSingleVoteQuorumIsCaught()
    {
        int caught = 0, mismatched = 0;
        foreach (ulong seed in Seeds)
        {
            var s = new Scenario("reminbft", 1, FaultyRole.Follower, Behaviour.WrongUpdate, FaultTiming.Early, NetworkCondition.Clean, seed);
            var sim = Sim(s);
            var r = sim.Run();
            Assert.True(r.Passed, r.ToString());
            var passive = Core(sim, 2);
            if (passive.SwitchBacks == 0) Assert.False(passive.IsActive);   // after a switch back (X = K in one seed of four) it may be active in a later generation
            output.WriteLine($"seed {seed}: passive {passive.LastExecuted} switched {passive.Switched} leader {Core(sim, 0).LastExecuted} applied {passive.Stats.AppliedUpdates} mismatched {passive.Stats.MismatchedUpdates}");
            mismatched += passive.Stats.BadUpdates == 0 ? 1 : 0;   // never a content that fails to apply
            var broken = Sim(s with { CommitQuorum = 1 }).Run();
            output.WriteLine(broken.ToString());
            if (!broken.Passed) caught++;
        }
        Assert.Equal(Seeds.Length, mismatched);
        Assert.True(caught >= Seeds.Length / 2, $"the planted single-vote quorum was caught in only {caught} of {Seeds.Length} runs");
    }

    /// <summary>
    /// Withheld CHECKPOINT (Thesis §5.4.2 "Checkpoints and Garbage Collection"): a passive replica never sends its CHECKPOINTs.
    /// Stability needs all 2f+1, so no ReMinBFT checkpoint becomes stable anywhere; the window runs out, clients PANIC, and the
    /// cell switches to MinBFT (whose checkpoints need f+1) and completes every request.
    /// </summary>
    [Fact]
    public void AWithheldCheckpointStopsTheNormalCaseAndTheSwitchRecovers()
    {
        foreach (ulong seed in Seeds)
        {
            var sim = Sim(new Scenario("reminbft", 1, FaultyRole.Passive, Behaviour.WithholdCheckpoint, FaultTiming.Early, NetworkCondition.Clean, seed));
            var r = sim.Run();
            Assert.True(r.Passed, r.ToString());
            for (uint id = 0; id < 2; id++)
            {
                Assert.Equal(Core(sim, id).GenerationStart, Core(sim, id).StableCheckpoint);   // none stable by votes (a generation after a switch back counts from its start)
                Assert.True(Core(sim, id).Switched || Core(sim, id).SwitchBacks > 0, $"replica {id} did not switch");   // a switch back (X = K in one seed of four) starts a new generation
            }
        }
    }

    /// <summary>The leader crashes (§5.4.4): the first follower coordinates the switch, the passive replica joins MinBFT from
    /// the checkpoint counters and the history, and every request completes (liveness asserted by the run).</summary>
    [Fact]
    public void ACrashedLeaderIsReplacedByTheSwitch()
    {
        foreach (ulong seed in Seeds)
        {
            var sim = Sim(new Scenario("reminbft", 1, FaultyRole.Leader, Behaviour.Crash, FaultTiming.MidBatch, NetworkCondition.Clean, seed));
            var r = sim.Run();
            Assert.True(r.Passed, r.ToString());
            if (Core(sim, 1).SwitchBacks > 0) { Assert.True(Core(sim, 2).SwitchBacks > 0); continue; }   // X = K in one seed of four: it switched back
            Assert.True(Core(sim, 1).Switched && Core(sim, 2).Switched);
            Assert.Equal(1u, Core(sim, 1).Leader);
        }
    }

    private static byte[] CertifiedCheckpoint(uint sender, ulong seq, ulong epoch, ulong counter)
    {
        int body = 32 + 16 * 3;
        var m = new byte[FastBft.Wire.MessageHeader.Size + body + FastBft.Auth.UsigCertificateScheme.Length];
        new FastBft.Wire.MessageHeader(FastBft.Wire.MessageType.UiCheckpoint, sender, 0, seq, body, FastBft.Auth.UsigCertificateScheme.Length, FastBft.Wire.ProtocolFamily.ReMinBft, 0).Write(m);
        var ui = m.AsSpan(m.Length - 48);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(ui, epoch);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(ui.Slice(8), counter);
        m[m.Length - 50] = 4; m[m.Length - 49] = 1;
        return m;
    }

    /// <summary>
    /// An abort history with a gap (Thesis §5.4.3: "an abort history that contains gaps is invalid"): the coordinator's
    /// certified messages must carry exactly the counters c0+1 … c_SWITCH−1. A missing counter, a history that stops short
    /// of the SWITCH's counter, another sender's message, or another epoch is rejected; the gap-free run is accepted.
    /// </summary>
    [Fact]
    public void AnAbortHistoryWithAGapIsRejected()
    {
        var limits = new FastBft.Verification.VerifierLimits(3, 3, 1 << 20, 1 << 16, 64);
        SwitchHistory Parse(params byte[][] msgs)
            => SwitchHistory.TryParse(SwitchHistory.Body(0, 1, 0, new byte[32], 7, 0, msgs.Select(m => ((byte)0, m)).ToList()), 3, limits, null)!;
        var ok = Parse(CertifiedCheckpoint(1, 4, 7, 1), CertifiedCheckpoint(1, 8, 7, 2), CertifiedCheckpoint(1, 12, 7, 3));
        Assert.NotNull(ok.TryDecide(1, 7, 0, 7, 4, 8, out _));
        Assert.Null(Parse(CertifiedCheckpoint(1, 4, 7, 1), CertifiedCheckpoint(1, 12, 7, 3)).TryDecide(1, 7, 0, 7, 4, 8, out var gap));
        Assert.Contains("gap", gap);
        Assert.Null(ok.TryDecide(1, 7, 0, 7, 5, 8, out var shortOf));
        Assert.Contains("ends at counter 3", shortOf);
        Assert.Null(Parse(CertifiedCheckpoint(1, 4, 7, 1), CertifiedCheckpoint(2, 8, 7, 2), CertifiedCheckpoint(1, 12, 7, 3)).TryDecide(1, 7, 0, 7, 4, 8, out _));
        Assert.Null(ok.TryDecide(1, 7, 0, 9, 4, 8, out var epoch));
        Assert.Contains("epoch", epoch);
    }

    /// <summary>Replayed UIs (Thesis §5.4.1): a follower re-sends its old certified messages; correct replicas drop them as
    /// already handled (counted), and the cell stays live.</summary>
    [Fact]
    public void ReplayedUisAreDroppedAndTheCellStaysLive()
    {
        long replayed = 0;
        foreach (ulong seed in Seeds)
        {
            var sim = Sim(new Scenario("reminbft", 1, FaultyRole.Follower, Behaviour.Replay, FaultTiming.Early, NetworkCondition.Clean, seed));
            var r = sim.Run();
            Assert.True(r.Passed, r.ToString());
            replayed += Core(sim, 0).Core!.Stats.ReplayedUis;
        }
        Assert.True(replayed > 0);
    }

    /// <summary>Fault-free: the passive replica applies batches through UPDATEs only (it never executes), at least up to the
    /// stable checkpoint (which needs its CHECKPOINT), and checkpoints become stable with all three replicas.</summary>
    [Fact]
    public void FaultFreeThePassiveReplicaAppliesEveryBatchAndCheckpointsBecomeStable()
    {
        foreach (ulong seed in Seeds)
        {
            var sim = Sim(new Scenario("reminbft", 1, FaultyRole.None, Behaviour.None, FaultTiming.Early, NetworkCondition.Clean, seed));
            var r = sim.Run();
            Assert.True(r.Passed, r.ToString());
            var passive = Core(sim, 2);
            Assert.True(passive.Stats.AppliedUpdates > 0);
            Assert.Equal(0, passive.Stats.Executed);
            Assert.True(Core(sim, 0).StableCheckpoint > 0);
            Assert.True(passive.LastExecuted >= Core(sim, 0).StableCheckpoint);
        }
    }

    private static SimulationResult Replay(string scenario, ulong seed)
        => Sim(Scenario.Parse("reminbft", scenario, seed)).Run();

    /// <summary>Replays a reported seed and asserts that every invariant holds now.</summary>
    private static void AssertReplayPasses(string scenario, ulong seed)
    {
        var r = Replay(scenario, seed);
        Assert.True(r.Passed, r.ToString());
    }

    /// <summary>
    /// R1 (fixed, docs/reminbft.md §5.2–§5.3): seeds of the 20,000-scenario sweep before the fix in which a replica held the
    /// coordinator's SWITCH for good because the SWITCH's checkpoint never became stable there (a faulty passive replica's
    /// CHECKPOINT reached the coordinator only, or a lost one was never re-sent to it). The abort history now carries the
    /// checkpoint certificate, so every replica checks it and installs the SWITCH.
    /// </summary>
    [Theory]
    [InlineData("f1/leader/invalidmac/checkpointboundary/lossy", 703398219UL)]
    [InlineData("f1/leader/equivocate/early/isolateone", 661634651UL)]
    [InlineData("f1/passive/wrongcheckpoint/early/isolateone", 725610595UL)]
    [InlineData("f1/client/flood/early/isolateleader", 594948158UL)]
    [InlineData("f2/passive/mute/early/clean", 654733723UL)]
    [InlineData("f2/passive/mute/early/lossy", 248290795UL)]
    [InlineData("f2/passive/mute/midbatch/clean", 779443295UL)]
    public void R1_ASwitchWhoseCheckpointIsNotStableEverywhereIsInstalledEverywhere(string scenario, ulong seed) => AssertReplayPasses(scenario, seed);

    /// <summary>
    /// After the switch (f = 2, a mute follower or coordinator at the checkpoint boundary) the passive replicas that had
    /// stopped behind asked the others for the new leader's certified messages, but a relay held only PREPAREs, not the
    /// CHECKPOINTs in the same counter order (every replica re-announces the start checkpoint as a certified CHECKPOINT),
    /// so it stopped there and they stayed behind (8 of the 10 liveness failures of two sweeps, seeds 8820 and 9101;
    /// MinBFT's M4). The relay now sends the CHECKPOINTs it holds too.
    /// </summary>
    [Theory]
    [InlineData("f2/follower/mute/checkpointboundary/clean", 863391679UL)]
    [InlineData("f2/follower/mute/checkpointboundary/lossy", 773141996UL)]
    [InlineData("f2/follower/mute/checkpointboundary/shortlag", 307844835UL)]
    [InlineData("f2/follower/mute/checkpointboundary/lossy", 842574191UL)]
    [InlineData("f2/coordinator/mute/checkpointboundary/lossy", 994103292UL)]
    [InlineData("f2/coordinator/mute/checkpointboundary/lossy", 814036594UL)]
    public void AfterTheSwitchARelayIncludesTheLeadersCheckpoints(string scenario, ulong seed) => AssertReplayPasses(scenario, seed);

    /// <summary>
    /// After the switch every replica certifies the switch's checkpoint once more in the new view (docs/reminbft.md §5.3). An
    /// active replica that had certified a later checkpoint before the switch (it executed past the coordinator's
    /// checkpoint) re-announced a lower one, which receivers took for a checkpoint going backwards in its counter order
    /// and parked for good, with everything it certified after it: its VIEW-CHANGE never counted and the view change
    /// after a mute coordinator never completed (f = 2; the last 2 of 10 liveness failures of seeds 8820 and 9101). The
    /// re-announcement is now taken once per sender without lowering its bound.
    /// </summary>
    [Theory]
    [InlineData("f2/coordinator/mute/checkpointboundary/clean", 358281228UL)]
    [InlineData("f2/coordinator/mute/checkpointboundary/shortlag", 686207911UL)]
    public void TheSwitchCheckpointReannouncedAfterALaterOneDoesNotBlockItsSender(string scenario, ulong seed) => AssertReplayPasses(scenario, seed);

    /// <summary>
    /// A switch's re-announced CHECKPOINT that reaches a replica before it installed the switch comes from a non-member and
    /// is dropped; two such replicas then lacked f+1 certified CHECKPOINTs of their stable checkpoint, could not build a
    /// VIEW-CHANGE, and waited for each other for good. A replica in a view change without a VIEW-CHANGE now re-sends its
    /// own CHECKPOINT of it and tries again every retransmission period (sweep `--scenarios 50000 --seed 9132`).
    /// </summary>
    [Theory]
    [InlineData("f1/coordinator/withholdcheckpoint/early/partitionheal", 124178681UL)]
    [InlineData("f2/follower/invalidmac/checkpointboundary/shortlag", 568403164UL)]
    public void AReplicaThatCannotBuildItsViewChangeResendsItsCheckpointAndRetries(string scenario, ulong seed) => AssertReplayPasses(scenario, seed);

    /// <summary>
    /// A lagging active replica (a flooding client keeps it far behind the coordinator's counter order) takes the valid SWITCH
    /// on receipt instead of waiting for the coordinator's earlier messages, which left the sent log long ago (13 of 14
    /// failures of the 20,000-scenario sweep after the certificate fix, seed 8806).
    /// </summary>
    [Theory]
    [InlineData("f2/client/flood/checkpointboundary/lagacrossviewchange", 238506230UL)]
    [InlineData("f2/client/flood/checkpointboundary/lagacrossviewchange", 794846553UL)]
    public void ALaggingActiveReplicaTakesTheSwitchOnReceipt(string scenario, ulong seed) => AssertReplayPasses(scenario, seed);

    /// <summary>
    /// A view change after a switch (the coordinator is mute toward some replicas, f = 2): an active replica's VIEW-CHANGE
    /// carries its COMMITs of the aborted view; the switch had reset the slots and dropped the PREPAREs they named, so its
    /// VIEW-CHANGE was rejected everywhere as an unverified COMMIT and the new view never formed (11 of 13 liveness
    /// failures of a 30,000-scenario sweep, seed 8811). The switch now keeps them, as a NEW-VIEW does.
    /// </summary>
    [Theory]
    [InlineData("f2/coordinator/mute/checkpointboundary/clean", 870102851UL)]
    public void AViewChangeAfterASwitchAttachesThePreparesOfTheAbortedView(string scenario, ulong seed) => AssertReplayPasses(scenario, seed);

    /// <summary>
    /// Coordinator timeout (Thesis §5.4.3 "Handling Faults during the Protocol Switch"; docs/reminbft.md §5.5): the transition
    /// coordinator crashes (f = 1, the leader is correct), so no SWITCH comes; the replicas ask to escalate, continue with
    /// MinBFT's view change to the view after the switch's start view, and every request completes. Liveness is asserted by
    /// the run; the escalation is counted.
    /// </summary>
    [Fact]
    public void ACrashedCoordinatorIsReplacedByTheViewChange()
    {
        long escalations = 0;
        foreach (ulong seed in Seeds)
        {
            var sim = Sim(new Scenario("reminbft", 1, FaultyRole.Coordinator, Behaviour.Crash, FaultTiming.Early, NetworkCondition.Clean, seed));
            var r = sim.Run();
            Assert.True(r.Passed, r.ToString());
            foreach (uint id in new uint[] { 0, 2 })
            {
                Assert.True(Core(sim, id).Switched, $"replica {id} did not switch");
                escalations += Core(sim, id).Stats.SwitchEscalations;
            }
        }
        Assert.True(escalations > 0, "no switch escalated past the crashed coordinator");
    }
}
