using FastBft.Simulation;
using FastBft.Workloads;

namespace FastBft.Simulation.Tests;

/// <summary>Determinism, single scenarios and the planted bug.</summary>
public class SimulationTests(ITestOutputHelper output)
{
    internal static SimulationResult Run(Scenario s) => new Simulator(s, SimProtocols.Get(s.Protocol), () => new CounterService()).Run();

    [Fact]
    public void SameSeedGivesIdenticalTraceHash()
    {
        var s = new Scenario("pbft", 1, FaultyRole.Follower, Behaviour.Replay, FaultTiming.MidBatch, NetworkCondition.Lossy, 42);
        var a = Run(s);
        var b = Run(s);
        Assert.True(a.Passed, a.ToString());
        Assert.Equal(a.TraceHash, b.TraceHash);
        Assert.Equal(a.Events, b.Events);
        var c = Run(s with { Seed = 43 });
        Assert.NotEqual(a.TraceHash, c.TraceHash);
    }

    [Fact]
    public void ResultsDoNotDependOnParallelism()
    {
        var list = ScenarioMatrix.Generate("pbft", [1], 1, 99, p => p.Network == NetworkCondition.Lossy && p.Timing == FaultTiming.MidBatch).Take(24).ToList();
        var sequential = list.Select(s => Run(s).TraceHash).ToArray();
        var parallel = new ulong[list.Count];
        Parallel.For(0, list.Count, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => parallel[i] = Run(list[i]).TraceHash);
        Assert.Equal(sequential, parallel);
    }

    [Fact]
    public void NewAdversariesAreDeterministic()
    {
        foreach (var (role, b) in new[] { (FaultyRole.NextPrimary, Behaviour.Twins), (FaultyRole.Leader, Behaviour.EmptyBatches), (FaultyRole.Follower, Behaviour.FarViewChange), (FaultyRole.Client, Behaviour.EdgeIds), (FaultyRole.Follower, Behaviour.TargetedMac) })
        {
            var s = new Scenario("pbft", 1, role, b, FaultTiming.Early, NetworkCondition.LagAcrossViewChange, 5);
            var x = Run(s); var y = Run(s);
            Assert.Equal(x.TraceHash, y.TraceHash);
            Assert.Equal(x.Invariant, y.Invariant);
        }
    }

    [Fact]
    public void FaultFreeRunCompletesEveryRequest()
    {
        var r = Run(new Scenario("pbft", 1, FaultyRole.None, Behaviour.None, FaultTiming.Early, NetworkCondition.Clean, 1));
        output.WriteLine(r.ToString());
        Assert.True(r.Passed, r.ToString());
        Assert.Equal(15, r.Completed);
        Assert.True(r.FinishTime > 0);
    }

    [Fact]
    public void ScenarioNameRoundTripsAndReplayCommandNamesTheSeed()
    {
        var s = new Scenario("pbft", 2, FaultyRole.Leader, Behaviour.Equivocate, FaultTiming.CheckpointBoundary, NetworkCondition.PartitionHeal, 77);
        Assert.Equal(s, Scenario.Parse("pbft", s.Name, 77));
        Assert.Equal("fastbft simulate --protocol pbft --f 2 --seed 77 --scenario f2/leader/equivocate/checkpointboundary/partitionheal", s.ReplayCommand);
    }

    [Fact]
    public void PlantedCommitAt2fBugIsCaughtByTheMatrix()
    {
        // The CI matrix's scenarios (FaultMatrix: the first two CI seeds of the f = 1 points with baseline
        // behaviours and networks) with the test-only knob CommitQuorum = 2f: at least one must fail.
        var failures = ScenarioMatrix.Generate("pbft", [1], 2, FaultMatrix.CiBaseSeed, p => ScenarioMatrix.IsBaseline(p.Behaviour) && ScenarioMatrix.IsBaseline(p.Network))
            .Select(s => Run(s with { CommitQuorum = 2 }))
            .Where(r => !r.Passed)
            .ToList();
        foreach (var f in failures.Take(3)) output.WriteLine(f.ToString());
        Assert.NotEmpty(failures);
        Assert.Contains(failures, f => f.Invariant is "commit-certificate" or "agreement" or "validity");
        var ci = FaultMatrix.CiScenarios("pbft").ToHashSet();
        Assert.All(failures, f => Assert.Contains(f.Scenario with { CommitQuorum = 0 }, ci));
        // A matrix test case that fails reports its seed, the replay command and the filter that reruns it.
        var failing = failures[0].Scenario;
        var e = Assert.ThrowsAny<Exception>(() => Matrix.Check(failing, "FILTER"));
        Assert.Contains($"seed {failing.Seed}:", e.Message);
        Assert.Contains($"replay: fastbft simulate --protocol pbft --f 1 --seed {failing.Seed} --scenario {failing.Name} --commit-quorum 2", e.Message);
        Assert.Contains("dotnet test tests/FastBft.Simulation.Tests -c Release --filter \"FILTER\"", e.Message);
    }
}

/// <summary>State transfer in the simulator.</summary>
public class StateTransferTests
{
    [Theory]
    [InlineData(1, 11UL)]
    [InlineData(1, 12UL)]
    [InlineData(2, 13UL)]
    public void ReplicaPartitionedForMoreThanThreeCheckpointIntervalsCatchesUpByStateTransfer(int f, ulong seed)
    {
        uint isolated = (uint)(3 * f);
        var s = new Scenario("pbft", f, FaultyRole.None, Behaviour.None, FaultTiming.Early, NetworkCondition.Clean, seed);
        var sim = new Simulator(s, SimProtocols.Get("pbft"), () => new CounterService())
        {
            RequestsPerClient = 30, IsolatedReplica = isolated, IsolationEnds = 400,
        };
        var r = sim.Run();
        Assert.True(r.Passed, r.ToString());
        var reference = sim.Replica(0);
        var lagging = sim.Replica(isolated);
        Assert.True(lagging.Counters.StateTransfers >= 1, "the isolated replica must have installed a checkpoint by state transfer");
        Assert.True(lagging.LastExecuted >= 3 * 4, $"lagging replica executed {lagging.LastExecuted}");
        // Let the cell quiesce: run on (ticks, STATUS retransmission, no new requests) until every replica has
        // executed the same last sequence number, then compare the state digests of all of them there.
        var replicas = Enumerable.Range(0, Protocols.Get(ProtocolKind.Pbft).Shape(f).N).Select(i => sim.Replica((uint)i)).ToArray();
        bool converged = sim.RunUntil(() => replicas.All(x => x.LastExecuted == reference.LastExecuted), budgetMs: 5_000);
        Assert.True(converged, $"replicas never reached one last-executed sequence number ({sim.Violation ?? "timeout"}): "
            + string.Join(", ", replicas.Select(x => $"{x.Id}:{x.LastExecuted}")));
        var expected = new byte[32]; var actual = new byte[32];
        reference.GetStateDigest(expected);
        foreach (var x in replicas)
        {
            x.GetStateDigest(actual);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"replica {x.Id} at {x.LastExecuted}: state digest {Convert.ToHexString(actual)} differs from replica 0's {Convert.ToHexString(expected)}");
        }
    }
}

/// <summary>View change: a crashed, a mute and an equivocating leader are replaced (the equivocating one demonstrably sent conflicting PRE-PREPAREs to correct replicas) and every correct client completes.</summary>
public class ViewChangeTests(ITestOutputHelper output)
{
    public static TheoryData<int, Behaviour> Leaders() => new()
    {
        { 1, Behaviour.Crash }, { 1, Behaviour.Mute }, { 1, Behaviour.Equivocate },
        { 2, Behaviour.Crash }, { 2, Behaviour.Mute }, { 2, Behaviour.Equivocate },
    };

    [Theory]
    [MemberData(nameof(Leaders))]
    public void FaultyLeaderIsReplacedAndAllCorrectClientsComplete(int f, Behaviour behaviour)
    {
        var recovery = new List<long>();
        for (ulong seed = 1; seed <= 9; seed++)
        {
            var sim = new Simulator(new Scenario("pbft", f, FaultyRole.Leader, behaviour, FaultTiming.Early, NetworkCondition.Clean, seed), SimProtocols.Get("pbft"), () => new CounterService());
            var r = sim.Run();
            Assert.True(r.Passed, r.ToString());
            // The equivocation must really have happened: correct replicas were delivered PRE-PREPAREs with two
            // different batch digests for one (view, sequence number).
            if (behaviour == Behaviour.Equivocate)
                Assert.True(sim.ConflictingPrePrepareSlots > 0, $"seed {seed}: no conflicting PRE-PREPAREs reached correct replicas (no equivocation injected): {r}");
            else
                Assert.Equal(0, sim.ConflictingPrePrepareSlots);
            Assert.True(r.LivenessChecked);
            Assert.Equal(15, r.Completed);
            if (behaviour != Behaviour.Equivocate || r.MaxView > 0)
            {
                Assert.True(r.MaxView > 0, $"seed {seed}: no view change");
                recovery.Add(r.FirstNewViewReply - r.ActivationTime);
                output.WriteLine($"seed {seed}: max view {r.MaxView}, first new-view reply at {r.FirstNewViewReply} ms, all done at {r.FinishTime} ms");
            }
        }
        recovery.Sort();
        output.WriteLine($"f={f} {behaviour}: view changes in {recovery.Count}/9 runs; median virtual time from fault to first reply in the new view: {(recovery.Count > 0 ? recovery[recovery.Count / 2] : -1)} ms");
    }
}

/// <summary>The planted bug is caught by the end-to-end invariants alone (commit-certificate oracle off): across view changes it breaks agreement.</summary>
public class PlantedBugEndToEndTests(ITestOutputHelper output)
{
    [Fact]
    public void PlantedCommitAt2fBugBreaksAgreementAcrossViewChanges()
    {
        // Committing at 2f lets a batch execute that f+1 correct replicas never prepared; a later view change
        // may then order something else there. It shows where a faulty replica speaks for both sides (Twins; the
        // eager-commit behaviour beside it): in about 1 of 840 scenarios of the wider crash/mute/Twins matrix, so a
        // small change in timing could hide it there (the state-transfer change M7 did); in this narrower matrix
        // (12 seeds per case, base seed 2: 1,344 scenarios) 7 break agreement on the code of 2026-12-01.
        var results = ScenarioMatrix.Generate("pbft", [1], 12, 2, p => p.Role != FaultyRole.Client && p.Behaviour is Behaviour.EagerCommit or Behaviour.Twins)
            .Select(s => new Simulator(s with { CommitQuorum = 2 * s.F }, SimProtocols.Get("pbft"), () => new CounterService()) { CheckCommitCertificate = false }.Run())
            .ToList();
        foreach (var g in results.Where(r => !r.Passed).GroupBy(r => r.Invariant)) output.WriteLine($"{g.Key}: {g.Count()} (e.g. {g.First().Scenario.ReplayCommand})");
        output.WriteLine($"{results.Count(r => !r.Passed)} of {results.Count} failed");
        Assert.Contains(results, r => r.Invariant is "agreement" or "validity" or "convergence");
    }
}
