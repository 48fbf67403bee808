using FastBft.Agreement.MinBft;
using FastBft.Simulation;
using FastBft.Workloads;

namespace FastBft.Simulation.Tests;

/// <summary>
/// MinBFT's oracles and certified-message adversaries (docs/simulation.md, "MinBFT"): the counter-order oracle fires on a
/// planted core that acts on certified messages out of counter order and stays quiet on the real core; the
/// commit-certificate oracle counts f+1 certified messages; an equivocating leader's second PREPARE for one s reaches
/// correct replicas under its own counter and is rejected; withheld certified messages open counter gaps.
/// </summary>
public class MinBftOracleTests(ITestOutputHelper output)
{
    private static Simulator Sim(Scenario s) => new(s, SimProtocols.Get(s.Protocol), () => new CounterService());

    private static MinBftReplica Core(Simulator sim, uint id) => (MinBftReplica)sim.Replica(id);

    private static readonly ulong[] Seeds = [1, 2, 3, 4, 5, 6, 7, 8];

    /// <summary>
    /// Planted bug (<see cref="Scenario.IgnoreCounterOrder"/>): correct replicas act on certified messages as they arrive
    /// (<see cref="MinBftReplica.HandleIgnoringCounterOrderForTest"/>). Under reordering (lossy network) and with a follower
    /// that withholds certified messages (a permanent gap), the counter-order oracle reports it; the same scenarios on the
    /// real core never do, although the oracle checked thousands of acted-on messages.
    /// </summary>
    [Theory]
    [InlineData(FaultyRole.None, Behaviour.None, NetworkCondition.Lossy)]
    [InlineData(FaultyRole.Follower, Behaviour.WithholdCertified, NetworkCondition.Clean)]
    [InlineData(FaultyRole.Leader, Behaviour.Replay, NetworkCondition.Clean)]
    public void CounterOrderOracleCatchesAPlantedOutOfOrderAcceptance(FaultyRole role, Behaviour behaviour, NetworkCondition network)
    {
        int caught = 0;
        foreach (ulong seed in Seeds)
        {
            var s = new Scenario("minbft", 1, role, behaviour, FaultTiming.Early, network, seed);
            var sim = Sim(s);
            var real = sim.Run();
            Assert.NotEqual("counter-order", real.Invariant);
            Assert.True(real.Passed, "real core: " + real);
            Assert.True(sim.CounterOrderChecks > 20, $"the oracle checked only {sim.CounterOrderChecks} acted-on messages");
            var broken = Sim(s with { IgnoreCounterOrder = true }).Run();
            output.WriteLine(broken.ToString());
            if (broken.Invariant == "counter-order") caught++;
        }
        Assert.True(caught >= Seeds.Length * 3 / 4, $"the planted out-of-order acceptance was caught in only {caught} of {Seeds.Length} runs");
    }

    /// <summary>The counter-order report names the receiver, the sender, the UI and the counter it skipped from.</summary>
    [Fact]
    public void CounterOrderReportNamesTheReceiverTheSenderAndTheUi()
    {
        var r = Sim(new Scenario("minbft", 1, FaultyRole.Follower, Behaviour.WithholdCertified, FaultTiming.Early, NetworkCondition.Clean, 3) { IgnoreCounterOrder = true }).Run();
        output.WriteLine(r.ToString());
        Assert.Equal("counter-order", r.Invariant);
        Assert.Matches(@"replica \d acted on Ui\w+ of replica \d with UI \(epoch 1, counter \d+\) at \d+ ms", r.Detail);
    }

    /// <summary>
    /// Commit certificate on f+1 certified messages: with a planted commit quorum of 1 the leader executes a batch only its
    /// own PREPARE certified, and the oracle reports it; with the correct f+1 every run passes — also with a faulty
    /// follower whose COMMIT is one of the f+1 (the oracle counts the faulty replica's certified messages).
    /// </summary>
    [Fact]
    public void CommitCertificateOracleNeedsFPlusOneCertifiedMessages()
    {
        int caught = 0;
        foreach (ulong seed in Seeds)
        {
            var s = new Scenario("minbft", 1, FaultyRole.None, Behaviour.None, FaultTiming.Early, NetworkCondition.Clean, seed);
            Assert.True(Sim(s).Run().Passed);
            var broken = Sim(s with { CommitQuorum = 1 }).Run();
            output.WriteLine(broken.ToString());
            if (broken.Invariant == "commit-certificate") caught++;
            var slowFollower = Sim(new Scenario("minbft", 1, FaultyRole.Follower, Behaviour.Slow, FaultTiming.Early, NetworkCondition.Clean, seed)).Run();
            Assert.True(slowFollower.Passed, slowFollower.ToString());
        }
        Assert.Equal(Seeds.Length, caught);
    }

    /// <summary>
    /// Equivocation attempt: the leader's two instances share its one USIG, so their PREPAREs for one s (different batches)
    /// carry distinct counters; the adversary answers UI-FETCHes from every counter it certified, so correct replicas are
    /// delivered both, bind the first in counter order and reject the second — and never execute different batches
    /// (agreement, convergence and the certificate oracles hold; the clients even complete, each twin's batches being
    /// bound wherever they come first).
    /// </summary>
    [Fact]
    public void AnEquivocatingLeadersSecondPrepareIsRejected()
    {
        int delivered = 0, rejected = 0;
        foreach (ulong seed in Seeds)
        {
            var sim = Sim(new Scenario("minbft", 1, FaultyRole.Leader, Behaviour.Equivocate, FaultTiming.Early, NetworkCondition.Clean, seed));
            var r = sim.Run();
            Assert.True(r.Passed, r.ToString());                       // safety: agreement, validity, convergence, certificates, counter order
            Assert.True(r.LivenessChecked);                            // the view change replaces an equivocating leader: liveness is checked too
            output.WriteLine($"{r} conflicting {sim.ConflictingPrePrepareSlots} equivocations {Core(sim, 1).Stats.Equivocations}+{Core(sim, 2).Stats.Equivocations} old {Core(sim, 1).Stats.OldMessages}+{Core(sim, 2).Stats.OldMessages} | {Core(sim, 1).DescribeState()} | {Core(sim, 2).DescribeState()}");
            if (sim.ConflictingPrePrepareSlots > 0) delivered++;
            // The second PREPARE for a bound s is dropped: counted as an equivocation, or as old once s was executed.
            if (Core(sim, 1).Stats.Equivocations + Core(sim, 2).Stats.Equivocations + Core(sim, 1).Stats.OldMessages + Core(sim, 2).Stats.OldMessages > 0) rejected++;
        }
        Assert.True(delivered >= Seeds.Length / 2, $"two PREPAREs for one s reached correct replicas in only {delivered} runs");
        Assert.True(rejected >= delivered, $"correct replicas dropped a second PREPARE in only {rejected} runs");
    }

    /// <summary>
    /// A follower's equivocation attempt: after each COMMIT(s, d) it certifies COMMIT(s, d′) under its next counter, to
    /// everybody. Receivers count one vote per sender and s: safety holds and the cell stays live; a wrong CHECKPOINT
    /// certified beside the correct one likewise.
    /// </summary>
    [Theory]
    [InlineData(Behaviour.ConflictingCommit)]
    [InlineData(Behaviour.WrongCheckpoint)]
    public void AFollowersSecondCertifiedVoteForOneInstanceIsNotCounted(Behaviour behaviour)
    {
        foreach (ulong seed in Seeds)
        {
            var sim = Sim(new Scenario("minbft", 1, FaultyRole.Follower, behaviour, FaultTiming.Early, NetworkCondition.Clean, seed));
            var r = sim.Run();
            Assert.True(r.Passed, r.ToString());
            Assert.True(r.LivenessChecked);
            Assert.True(sim.ForgedCertified > 0, "nothing forged");
        }
    }

    /// <summary>A follower's withheld certified messages open counter gaps that the correct replicas wait on (they never skip them), and the cell stays live.</summary>
    [Fact]
    public void WithheldCertifiedMessagesOpenGapsThatAreNeverSkipped()
    {
        foreach (ulong seed in Seeds)
        {
            var sim = Sim(new Scenario("minbft", 1, FaultyRole.Follower, Behaviour.WithholdCertified, FaultTiming.Early, NetworkCondition.Clean, seed));
            var r = sim.Run();
            Assert.True(r.Passed, r.ToString());
            Assert.True(r.LivenessChecked);
            Assert.True(sim.WithheldCounters > 0, "nothing withheld");
            Assert.True(Core(sim, 0).Stats.CounterGaps + Core(sim, 1).Stats.CounterGaps + Core(sim, 2).Stats.CounterGaps > 0, "no correct replica saw a gap");
        }
    }

    /// <summary>Replayed UIs (as they were, and with a modified body under the old UI) are dropped: duplicates by the counter order, modified ones by the verifier.</summary>
    [Fact]
    public void ReplayedUisAreDropped()
    {
        long replayed = 0;
        foreach (ulong seed in Seeds)
        {
            var sim = Sim(new Scenario("minbft", 1, FaultyRole.Follower, Behaviour.Replay, FaultTiming.Early, NetworkCondition.Clean, seed));
            var r = sim.Run();
            Assert.True(r.Passed, r.ToString());
            for (uint i = 0; i < 3; i++) replayed += Core(sim, i).Stats.ReplayedUis;
        }
        Assert.True(replayed > 0);
    }

    /// <summary>One seed gives one trace (twins sharing a USIG, withheld counters and forged checkpoints included).</summary>
    [Theory]
    [InlineData(FaultyRole.Leader, Behaviour.Twins)]
    [InlineData(FaultyRole.Follower, Behaviour.WithholdCertified)]
    [InlineData(FaultyRole.Follower, Behaviour.WrongCheckpoint)]
    public void SameSeedGivesTheSameTrace(FaultyRole role, Behaviour behaviour)
    {
        var s = new Scenario("minbft", 2, role, behaviour, FaultTiming.MidBatch, NetworkCondition.Lossy, 11);
        var a = Sim(s).Run();
        var b = Sim(s).Run();
        Assert.Equal(a.TraceHash, b.TraceHash);
        Assert.NotEqual(a.TraceHash, Sim(s with { Seed = 12 }).Run().TraceHash);
    }
}

/// <summary>
/// Replays of the open MinBFT core bugs the matrix found (docs/simulation.md, "MinBFT", "Core bugs found";
/// <see cref="MinBftMatrix.KnownMinBftCoreBug"/>), all fixed in the core (docs/minbft.md §3 "Retransmission", §4): each
/// replay must now pass (safety and liveness) and stays a regression test.
/// </summary>
public class MinBftCoreBugReplays
{
    private static SimulationResult Replay(string scenario, ulong seed)
        => new Simulator(Scenario.Parse("minbft", scenario, seed), SimProtocols.Get("minbft"), () => new CounterService()).Run();

    /// <summary>V3 (fixed, docs/minbft.md §5.5): a replica that had sent VIEW-CHANGE(2) installed the NEW-VIEW(1) it missed
    /// and committed in view 1 what view 2's decision never saw; replicas 0 and 3 executed different batches at 11. The
    /// trigger that reached it (f+1 suspicions without our own) is the committed one now; the fix is that a NEW-VIEW below
    /// a view we sent a VIEW-CHANGE for is never installed.</summary>
    [Fact]
    public void V3_TheReportedAgreementViolationDoesNotRecur()
    {
        var r = Replay("f2/follower/withholdcheckpoint/early/lagacrossviewchange", 398085368UL);
        Assert.NotEqual("agreement", r.Invariant);
        Assert.True(r.Passed, r.ToString());
    }

    /// <summary>V2 (fixed): a replica isolated from the start never heard from the leader, which crashed; its UI-FETCH for the
    /// leader's messages carries epoch 0 ("whatever you hold"), and a replica that bound the leader's PREPAREs relays them.</summary>
    [Fact]
    public void V2_AReplicaThatNeverHeardFromACrashedLeaderGetsItsPreparesRelayed()
    {
        var r = Replay("f1/leader/crash/checkpointboundary/isolateone", 358782959UL);
        Assert.True(r.Passed, r.ToString());
    }

    /// <summary>M1: the leader (only slow, isolated 10–150 ms) bound 1..2 whose COMMITs were lost; it re-sends the PREPAREs forever, never asks for the COMMITs (OnTick phase), and the followers answer a duplicate PREPARE with nothing: clients stop at 1 of 5.</summary>
    [Theory]
    [InlineData("f1/leader/slow/early/isolateleader", 2686225UL)]
    [InlineData("f1/follower/invalidmac/midbatch/lossy", 202568491UL)]
    public void M1_LostCommitsOfABoundSlotAreFetched(string scenario, ulong seed) => AssertPasses(Replay(scenario, seed), "M1");

    /// <summary>M2: a replica cut off (or on a lossy tail) lost its peers' last certified messages and never asks for them: replica 2 of the first stays at 0 while the others reach 28; in the second clients stop at 1 of 5 (the faulty follower's replies are wrong and replica 1 never executes 4–5).</summary>
    [Theory]
    [InlineData("f1/none/none/early/isolateone", 16351443UL)]
    [InlineData("f1/follower/wrongreply/early/shortlag", 644789739UL)]
    [InlineData("f1/follower/replay/early/lossy", 379974719UL)]
    public void M2_ALostTailIsFetched(string scenario, ulong seed) => AssertPasses(Replay(scenario, seed), "M2");

    /// <summary>M3: replica 2 received the CHECKPOINTs for 12 while 12 was above its window, later executed up to 15 itself, and checkpoint 12 never became stable there. (The third stalled on M2 before M2 was fixed.)</summary>
    [Theory]
    [InlineData("f1/leader/oversized/early/lagacrossviewchange", 954211393UL)]
    [InlineData("f1/leader/oversized/checkpointboundary/lagacrossviewchange", 722056577UL)]
    public void M3_CheckpointsReceivedAboveTheWindowCount(string scenario, ulong seed) => AssertPasses(Replay(scenario, seed), "M3");

    /// <summary>
    /// M3's first replay: the checkpoint stall is gone, but the run now stops on an open view-change liveness bug (docs/simulation.md,
    /// "MinBFT", V1): replica 2, behind after the partition, moves to view 1 with the faulty follower's REQ-VIEW-CHANGE,
    /// the leader never joins, and replica 2 climbs views alone. Asserts safety and that no checkpoint goes uncounted.
    /// </summary>
    [Fact]
    public void M3_FirstReplayHasNoUncountedCheckpoint()
    {
        var r = Replay("f1/follower/wrongcheckpoint/checkpointboundary/partitionheal", 192810321UL);
        if (r.Passed) return;
        Assert.True(r.Invariant == "liveness", $"M3 replay broke {r.Invariant}: {r}");
        Assert.DoesNotContain("beyond its window were not counted", r.Detail ?? "", StringComparison.Ordinal);
    }

    /// <summary>
    /// M4: a faulty leader authenticates its certified messages for some replicas only (f ≥ 2: two replicas get only bad
    /// authenticators from it). They ask the others for the leader's messages, but a relay held only the leader's PREPAREs,
    /// not its certified CHECKPOINTs, which sit in the same counter order: the relay stopped at the first CHECKPOINT and the
    /// two replicas stayed behind for good (6 of the 11 liveness failures of `simulate --protocol minbft --scenarios 100000
    /// --seed 8830`; a follower that withholds its CHECKPOINTs from a lagging replica, the last row, stalled the same way).
    /// The relay now sends the CHECKPOINTs it holds too.
    /// </summary>
    [Theory]
    [InlineData("f2/leader/invalidmac/checkpointboundary/partitionheal", 41060264UL)]
    [InlineData("f2/leader/invalidmac/checkpointboundary/partitionheal", 59618236UL)]
    [InlineData("f3/leader/invalidmac/checkpointboundary/partitionheal", 811367222UL)]
    [InlineData("f1/follower/withholdcheckpoint/checkpointboundary/lagacrossviewchange", 221946011UL)]
    public void M4_ARelayOfALeadersMessagesIncludesItsCheckpoints(string scenario, ulong seed) => AssertPasses(Replay(scenario, seed), "M4");

    /// <summary>
    /// M5 (counter order): draining a sender's buffered messages, one of them installed a NEW-VIEW that moved the sender's
    /// counter order past its VIEW-CHANGE (a fresh buffer), and the drain went on with the old buffer: replica 2 acted on
    /// replica 1's PREPARE of counter 10 after the order had moved to 18 (found by the counter-order oracle in
    /// `simulate --protocol minbft --scenarios 100000 --seed 9111`, once M4's relay changed the run's timing). The drain
    /// stops when the buffer is replaced.
    /// </summary>
    [Fact]
    public void M5_ADrainStopsWhenANewViewMovesTheSendersCounterOrder()
    {
        var r = Replay("f1/follower/withholdcheckpoint/midbatch/isolateone", 106113923UL);
        Assert.NotEqual("counter-order", r.Invariant);
        AssertPasses(r, "M5");
    }

    /// <summary>
    /// M6 (liveness): a faulty leader (twins, or equivocating) helps one correct replica into a view change — f+1 requests
    /// for the next view, its own and the faulty one's — while the other correct replica, which executed everything it saw,
    /// has nothing pending and never suspects. With n = 2f+1 every correct replica is needed, so clients stop at one reply
    /// (4 of the 11 liveness failures of `simulate --protocol minbft --scenarios 100000 --seed 8830`). A client's
    /// retransmission of a request the replica executed (it lacks f+1 matching replies) now joins another replica's request
    /// for a later view, as a PANIC does in ReMinBFT (docs/minbft.md §5.1).
    /// </summary>
    [Theory]
    [InlineData("f1/leader/twins/early/isolateone", 87710435UL)]
    [InlineData("f1/leader/twins/early/isolateone", 623303151UL)]
    [InlineData("f1/leader/twins/checkpointboundary/isolateone", 43241518UL)]
    [InlineData("f1/leader/equivocate/checkpointboundary/lagacrossviewchange", 402087077UL)]
    public void M6_ARetransmittedExecutedRequestJoinsAnotherReplicasViewChange(string scenario, ulong seed) => AssertPasses(Replay(scenario, seed), "M6");

    /// <summary>
    /// M7 (state transfer): a replica behind a NEW-VIEW's checkpoint fetched it only from the holders its certificate named —
    /// here only the mute follower — and never from the correct replica, whose latest announcement was already a later
    /// checkpoint, so the leader never executed the instances it had to re-propose (3 failures in the first third of
    /// `simulate --protocol minbft --scenarios 100000 --seed 9131`). A stalled fetch now also asks replicas in a round over
    /// all of them (what they send is checked against the certified digest), and announcements of the current target count.
    /// </summary>
    [Theory]
    [InlineData("f1/follower/mute/checkpointboundary/partitionheal", 470232225UL)]
    [InlineData("f1/follower/mute/checkpointboundary/partitionheal", 427252435UL)]
    [InlineData("f1/follower/mute/checkpointboundary/partitionheal", 500108737UL)]
    public void M7_AStalledStateFetchAsksEveryReplica(string scenario, ulong seed) => AssertPasses(Replay(scenario, seed), "M7");

    /// <summary>
    /// M8 (COMMITs after a state transfer): a follower behind a NEW-VIEW whose checkpoint it had to fetch bound the new
    /// leader's PREPAREs above it while the fetch ran; its COMMITs waited for its own CHECKPOINT of the installed state
    /// (QueueCommits), and installing it queued the CHECKPOINT but not the COMMITs, so with no later PREPARE they were never
    /// sent and the replica stayed behind (2 failures of `simulate --protocol minbft --scenarios 50000 --seed 9201`).
    /// </summary>
    [Theory]
    [InlineData("f1/leader/equivocate/early/lagacrossviewchange", 514217670UL)]
    [InlineData("f1/leader/equivocate/early/lagacrossviewchange", 308360023UL)]
    public void M8_CommitsHeldForTheOwnCheckpointLeaveAfterAStateTransfer(string scenario, ulong seed) => AssertPasses(Replay(scenario, seed), "M8");

    /// <summary>
    /// M9 (relay miss): a lagging replica whose copy of a faulty replica's certified message was withheld asked a correct
    /// replica to relay it; that replica had handled it but no longer held it (below its stable checkpoint) and answered
    /// nothing, so the lagging replica waited in that sender's counter order for good, alone in a view change once the
    /// clients were done. A relay miss for a counter already handled now sends the stable checkpoint's certificate.
    /// </summary>
    [Theory]
    [InlineData("f1/follower/withholdcertified/midbatch/lagacrossviewchange", 738128914UL)]
    public void M9_ARelayMissBelowTheStableCheckpointSendsItsCertificate(string scenario, ulong seed) => AssertPasses(Replay(scenario, seed), "M9");

    private static void AssertPasses(SimulationResult r, string bug)
        => Assert.True(r.Passed, $"{bug} regression: {r}");
}
