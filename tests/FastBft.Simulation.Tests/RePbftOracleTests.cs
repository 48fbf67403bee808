using FastBft.Simulation;
using FastBft.Workloads;

namespace FastBft.Simulation.Tests;

/// <summary>
/// The switching protocols' oracles (docs/simulation.md, "RePBFT"): the PA/PE oracle fires on a planted H1 bug
/// (a prepare proof with one genuine endorsement counts as valid) exploited by a Byzantine replica whose HISTORY
/// carries fabricated proofs, and stays quiet on the same scenarios with the correct f+1 rule; switches really happen
/// and are checked; clients panic only when a request stalls.
/// </summary>
public class RePbftOracleTests(ITestOutputHelper output)
{
    private static Simulator Sim(Scenario s) => new(s, SimProtocols.Get(s.Protocol), () => new CounterService());

    /// <summary>
    /// <c>QuorumPolicy.RePbft(f).With(proof: 1)</c>: a faulty active replica stops committing one instance before a
    /// checkpoint (so the cell switches with K−1 committed slots above it) and its HISTORY carries, for every slot, a
    /// proof for another batch endorsed only by itself. With the broken rule the coordinator sees two "valid" values
    /// for committed slots and decides ⊥ (H2): the PA/PE oracle reports it at the first correct replica that accepts
    /// the SWITCH. With the correct rule (f+1 genuine endorsements) the forged proofs are ignored and every run passes.
    /// </summary>
    [Theory]
    [InlineData("repbft", FaultyRole.Leader)]
    [InlineData("repbft", FaultyRole.Follower)]
    [InlineData("repbft-star", FaultyRole.Leader)]
    public void PaPeFiresWhenH1AcceptsAProofOfOneEndorsement(string protocol, FaultyRole role)
    {
        int caught = 0, switched = 0;
        foreach (ulong seed in Seeds)
        {
            var s = new Scenario(protocol, 1, role, Behaviour.ForgedProof, FaultTiming.PreCheckpoint, NetworkCondition.Clean, seed);
            var sim = Sim(s);
            var correct = sim.Run();
            Assert.True(correct.Passed, "correct proof rule: " + correct);
            if (sim.SwitchesChecked > 0) switched++;
            var broken = Sim(s with { ProofEndorsements = 1 }).Run();
            output.WriteLine(broken.ToString());
            if (broken.Invariant is "pa-pe" or "agreement" or "convergence") caught++;
            else Assert.True(broken.Passed || broken.Invariant == "liveness", broken.ToString());
        }
        Assert.True(switched >= Seeds.Length * 3 / 4, $"only {switched} of {Seeds.Length} correct runs switched");
        // The forged history decides a slot only when it is among the f+1 the coordinator uses (its own and the first
        // other one to arrive), so not in every run.
        Assert.True(caught >= 3, $"the broken H1 rule was caught in only {caught} of {Seeds.Length} runs");
    }

    /// <summary>Seeds of the planted-bug test (none a multiple of 4: those switch back, see Simulator.SwitchBackFor).</summary>
    private static readonly ulong[] Seeds = [1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15, 17, 18, 19, 21];

    /// <summary>The PA/PE oracle's first report names the switch, the slot and the batch a correct replica executed.</summary>
    [Fact]
    public void PaPeReportNamesTheSwitchAndTheSlot()
    {
        var r = Sim(new Scenario("repbft", 1, FaultyRole.Leader, Behaviour.ForgedProof, FaultTiming.PreCheckpoint, NetworkCondition.Clean, 7) { ProofEndorsements = 1 }).Run();
        output.WriteLine(r.ToString());
        Assert.Equal("pa-pe", r.Invariant);
        Assert.Contains("accepted the SWITCH of coordinator", r.Detail);
        Assert.Contains("is ⊥ (null) while correct replica", r.Detail);
        Assert.Contains("executed batch", r.Detail);
    }

    /// <summary>A crashed leader, a crashed passive replica and a crashed coordinator all make the cell switch, and every accepted SWITCH is checked.</summary>
    [Theory]
    [InlineData("repbft", FaultyRole.Leader)]
    [InlineData("repbft", FaultyRole.Passive)]
    [InlineData("repbft", FaultyRole.Coordinator)]
    [InlineData("repbft-star", FaultyRole.Leader)]
    [InlineData("repbft-star", FaultyRole.Passive)]
    public void CrashesMakeTheCellSwitchAndEverySwitchIsChecked(string protocol, FaultyRole role)
    {
        var sim = Sim(new Scenario(protocol, 1, role, Behaviour.Crash, FaultTiming.Early, NetworkCondition.Clean, 3));
        var r = sim.Run();
        Assert.True(r.Passed, r.ToString());
        Assert.True(sim.MaxGeneration > 0, "no switch");
        Assert.True(sim.SwitchesChecked >= 3, $"only {sim.SwitchesChecked} accepted SWITCHes checked");
    }

    /// <summary>One seed gives one trace (and a different seed another), also with switches, forged histories and PANIC storms.</summary>
    [Theory]
    [InlineData("repbft", FaultyRole.Leader, Behaviour.ForgedProof, FaultTiming.PreCheckpoint)]
    [InlineData("repbft-star", FaultyRole.Coordinator, Behaviour.BadSwitch, FaultTiming.Early)]
    [InlineData("repbft", FaultyRole.Client, Behaviour.PanicStorm, FaultTiming.SwitchBack)]
    public void SameSeedGivesIdenticalTrace(string protocol, FaultyRole role, Behaviour b, FaultTiming t)
    {
        var s = new Scenario(protocol, 1, role, b, t, NetworkCondition.Lossy, 11);
        var x = Sim(s).Run();
        var y = Sim(s).Run();
        Assert.Equal(x.TraceHash, y.TraceHash);
        Assert.Equal(x.Invariant, y.Invariant);
        Assert.NotEqual(x.TraceHash, Sim(s with { Seed = 12 }).Run().TraceHash);
    }

    /// <summary>Without faults the cell never switches (clients panic only when a request stalls), and passive replicas converge by applying updates.</summary>
    [Theory]
    [InlineData("repbft")]
    [InlineData("repbft-star")]
    public void FaultFreeRunsNeverSwitch(string protocol)
    {
        foreach (ulong seed in new ulong[] { 1, 2, 3 })
        {
            var sim = Sim(new Scenario(protocol, 1, FaultyRole.None, Behaviour.None, FaultTiming.Early, NetworkCondition.Clean, seed));
            var r = sim.Run();
            Assert.True(r.Passed, r.ToString());
            Assert.Equal(0UL, sim.MaxGeneration);
            Assert.Equal(15, r.Completed);
        }
    }
}

/// <summary>
/// Replays of the RePBFT core bugs the simulator found (docs/simulation.md, "RePBFT", "Core bugs found"). All are fixed
/// (F1–F2, B1–B9): their replays must pass.
/// </summary>
public class RePbftCoreBugReplays
{
    private static SimulationResult Replay(string protocol, string scenario, ulong seed)
        => new Simulator(Scenario.Parse(protocol, scenario, seed), SimProtocols.Get(protocol), () => new CounterService()).Run();

    /// <summary>F1 (fixed): SignedCheckpoints did not know its own id before its first own CHECKPOINT (it took replica 0's messages for its own), so a replica that never took a RePBFT checkpoint before a switch never signed the switch-back checkpoint.</summary>
    [Theory]
    [InlineData("repbft", "f1/client/edgeids/switchback/clean", 514149578UL)]
    public void F1_EveryReplicaSignsTheSwitchBackCheckpoint(string protocol, string scenario, ulong seed)
    {
        var r = Replay(protocol, scenario, seed);
        Assert.True(r.Passed, r.ToString());
    }

    /// <summary>F2 (fixed): PanicFilter threw NullReferenceException on a PANIC about request id 0 from a client with no reply-cache entry.</summary>
    [Theory]
    [InlineData("repbft", "f1/client/panicstorm/early/lagacrossviewchange", 483817563UL)]
    [InlineData("repbft", "f1/client/panicstorm/midbatch/isolateone", 615474941UL)]
    public void F2_APanicAboutRequestZeroIsIgnored(string protocol, string scenario, ulong seed)
    {
        var r = Replay(protocol, scenario, seed);
        Assert.NotEqual("exception", r.Invariant);
    }

    /// <summary>B1 (safety; fixed in main 3bafc41): replicas that executed slots of the aborted RePBFT generation did not carry them into the PBFT generation's view changes; a replica that had not executed them executed other batches there.</summary>
    [Theory]
    [InlineData("repbft", "f1/client/edgeids/viewchange/partitionheal", 905268661UL)]
    [InlineData("repbft", "f1/follower/crash/midbatch/isolateone", 153217319UL)]
    [InlineData("repbft-star", "f1/follower/twins/viewchange/partitionheal", 53561896UL)]
    public void B1_SwitchSlotsSurviveAPbftViewChange(string protocol, string scenario, ulong seed)
    {
        var r = Replay(protocol, scenario, seed);
        Assert.True(r.Passed, r.ToString());
    }

    /// <summary>B2 (fixed, liveness): the PBFT generation stops at the switch-back checkpoint and RePBFT resumes only with all n signed CHECKPOINTs for it.</summary>
    [Theory]
    [InlineData("repbft", "f1/leader/crash/early/clean", 552830280UL)]
    [InlineData("repbft", "f1/client/panicstorm/early/lossy", 575603056UL)]
    public void B2_ASilentReplicaDoesNotStopTheSwitchBack(string protocol, string scenario, ulong seed)
    {
        var r = Replay(protocol, scenario, seed);
        Assert.True(r.Passed, r.ToString());
    }

    /// <summary>B3 (liveness; fixed in main 3bafc41): replicas that switched back in different PBFT views started the next RePBFT generation with different views and leaders.</summary>
    [Theory]
    [InlineData("repbft", "f1/coordinator/censor/viewchange/isolateleader", 100063628UL)]
    public void B3_ReplicasAgreeOnTheViewOfTheGenerationTheySwitchBackTo(string protocol, string scenario, ulong seed)
    {
        var r = Replay(protocol, scenario, seed);
        Assert.True(r.Passed, r.ToString());
    }

    /// <summary>B4 (liveness, root cause of B1; fixed in main 3bafc41): after a PBFT view change in the switched generation, a primary assigned fresh requests to sequence numbers at or below the SWITCH's top that every replica had executed in RePBFT; nothing executed any more. </summary>
    [Theory]
    [InlineData("repbft", "f1/passive/withholdcheckpoint/switchback/lagacrossviewchange", 488983404UL)]
    public void B4_RequestsAreNotAssignedBelowTheSwitchTop(string protocol, string scenario, ulong seed)
    {
        var r = Replay(protocol, scenario, seed);
        Assert.True(r.Passed, r.ToString());
    }

    /// <summary>
    /// B7 (fixed, liveness): a RePBFT CHECKPOINT of the aborted generation that became stable (all n, the last one late,
    /// under loss) only after a replica had entered the PBFT generation made it "switch back" to a new RePBFT generation
    /// alone, although the PBFT generation had no switch-back point (switch back off); a spurious PANIC then switched it
    /// (and a peer) on to another PBFT generation, and having sent a COMMIT in the RePBFT generation it never returned.
    /// The switch back now happens only at the running generation's own switch-back point, while it still stops there.
    /// </summary>
    [Theory]
    [InlineData("repbft", "f1/client/spuriouspanic/early/lossy", 745631721UL)]
    public void B7_AStaleCheckpointDoesNotSwitchBack(string protocol, string scenario, ulong seed)
    {
        var r = Replay(protocol, scenario, seed);
        Assert.True(r.Passed, r.ToString());
    }

    /// <summary>
    /// B7 (fixed, liveness), the certificate starved: a replica that lacked signed CHECKPOINTs of the switch-back point
    /// stayed in PBFT generation 2 while the others switched back and on to generation 4. Their forwarding of their
    /// SWITCH (useless to it: it aborts generation 3) used the same per-peer slot as the switch-back certificate and
    /// always came first, so the certificate never reached it. Also: having lifted the stop, it could no longer switch
    /// back at its own point even with nothing accepted beyond it.
    /// </summary>
    [Theory]
    [InlineData("repbft", "f1/follower/withholdcheckpoint/precheckpoint/isolateone", 16953256UL)]
    public void B7_AReplicaBehindAtTheSwitchBackPointGetsTheCertificate(string protocol, string scenario, ulong seed)
    {
        var r = Replay(protocol, scenario, seed);
        Assert.True(r.Passed, r.ToString());
    }

    /// <summary>
    /// B6 (fixed, liveness; possibly safety): the twins of a Byzantine coordinator (the faulty follower, coordinator of
    /// attempt 2 of the abort) sent two valid SWITCHes for generation 3: checkpoint 8 with slots 9–10 to replica 1,
    /// checkpoint 8 with no slots to replicas 0 and 3. Replicas 0 and 3 executed a fresh batch at 9, replica 1 held
    /// another value fixed there, and no view change of the generation could decide 9. The first row is the original
    /// replay (its trace changed with later core changes), the second the one found on this core. Replicas now start a
    /// generation only from a SWITCH delivered by Bracha's reliable broadcast (ECHO, READY: docs/repbft.md §5.5), so
    /// correct replicas never hold two SWITCHes of one generation.
    /// </summary>
    [Theory]
    [InlineData("repbft-star", "f1/follower/twins/switchback/partitionheal", 382177520UL)]
    [InlineData("repbft-star", "f1/follower/twins/switchback/shortlag", 914905457UL)]
    public void B6_CorrectReplicasStartAGenerationFromOneSwitch(string protocol, string scenario, ulong seed)
    {
        var r = Replay(protocol, scenario, seed);
        Assert.True(r.Passed, r.ToString());
    }

    /// <summary>
    /// B5 (liveness): correct replicas ended in two PBFT generations of one abort, neither with 2f+1 replicas. The first
    /// two rows are the original replays (their traces changed with later core changes; they must pass). The others were
    /// found on this core: a replica in a lower PBFT generation of the abort never received the SWITCH of the higher one
    /// (lost, and replicas running the higher generation forwarded it only to peers still in the aborted generation), so
    /// it stayed in the lower one although it had prepared nothing there; e.g. f = 3, leader twins: replicas 1, 5, 9 in
    /// generation 1, six correct replicas in generation 2. A replica running generation p now forwards its SWITCH to a
    /// peer whose messages carry a lower generation of the same abort.
    /// </summary>
    [Theory]
    [InlineData("repbft", "f1/leader/targetedmac/midbatch/lagacrossviewchange", 284201910UL)]
    [InlineData("repbft", "f1/coordinator/twins/early/isolateone", 73807053UL)]
    [InlineData("repbft-star", "f1/leader/targetedmac/midbatch/lagacrossviewchange", 500222270UL)]
    [InlineData("repbft", "f3/leader/twins/viewchange/lossy", 215592391UL)]
    [InlineData("repbft-star", "f2/leader/twins/viewchange/lossy", 532600129UL)]
    // Found with the SWITCH's reliable broadcast (B6), which made successive attempts overlap more often: replicas whose
    // PREPAREs completed another's certificate moved up and left it alone (now: up only without any part taken), and
    // replicas that took part in a generation nobody else ran stayed there (now: pulled, while nothing is prepared, to
    // a generation with f+1 COMMIT senders or more replicas).
    [InlineData("repbft", "f1/leader/crash/early/partitionheal", 91353636UL)]
    [InlineData("repbft", "f1/leader/mute/early/lagacrossviewchange", 925981549UL)]
    [InlineData("repbft", "f1/coordinator/crash/early/isolateone", 238342559UL)]
    [InlineData("repbft", "f2/leader/crash/early/partitionheal", 316838425UL)]
    [InlineData("repbft", "f1/leader/twins/switchback/lagacrossviewchange", 812840673UL)]
    [InlineData("repbft-star", "f1/coordinator/twins/switchback/clean", 420757470UL)]   // a faulty twin in both generations forces a tie
    [InlineData("repbft", "f1/passive/mute/early/lagacrossviewchange", 63165482UL)]        // the matrix case last skipped as B5: replicas see different presences; a tie moves
    public void B5_CorrectReplicasGatherInOneGenerationOfAnAbort(string protocol, string scenario, ulong seed)
    {
        var r = Replay(protocol, scenario, seed);
        Assert.True(r.Passed, r.ToString());
    }

    /// <summary>
    /// B8 (fixed, liveness; found by the sweep on this core): a faulty passive replica signed two different digests for
    /// the switch-back checkpoint. A replica kept the first (wrong) message it received from it and ignored the matching
    /// one, so all n matching CHECKPOINTs never formed there while the others completed the certificate and switched back:
    /// it stayed behind in PBFT generation 2 for good. <c>SignedCheckpoints</c> now keeps a sender's message that matches
    /// our own digest.
    /// </summary>
    [Theory]
    [InlineData("repbft-star", "f1/passive/wrongcheckpoint/precheckpoint/isolateone", 160600664UL)]
    public void B8_AnEquivocatedCheckpointDoesNotBlockTheCertificate(string protocol, string scenario, ulong seed)
    {
        var r = Replay(protocol, scenario, seed);
        Assert.True(r.Passed, r.ToString());
    }

    /// <summary>
    /// B9 (fixed, liveness; known since 2026-11-30): replicas 0 and 1 lifted the stop at the switch-back point 8 of PBFT
    /// generation 1 (the faulty replica's twin withheld its signed CHECKPOINT from them), and replica 0 sent a PREPARE for 9
    /// in view 5. A view change to view 6 dropped 9, the certificate completed and every replica switched back to
    /// generation 2 — replica 3 first; replica 0's late PREPARE of view 5 then pulled replica 3 back into generation 1 (rule 6
    /// of docs/repbft.md §6), where it stayed alone while the others went on to generations 2 and 3. Rule 6 now ignores
    /// messages of views older than the retired core's.
    /// </summary>
    [Theory]
    [InlineData("repbft", "f1/follower/twins/viewchange/clean", 405853624UL)]
    public void B9_AStaleMessageDoesNotPullAReplicaBackIntoTheRetiredGeneration(string protocol, string scenario, ulong seed)
    {
        var r = Replay(protocol, scenario, seed);
        Assert.True(r.Passed, r.ToString());
    }
}
