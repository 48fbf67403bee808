using FastBft.Perf.Odrc;
using FastBft.Simulation.Odrc;
using FastBft.Workloads.Kv;

namespace FastBft.Odrc.Tests;

/// <summary>
/// The ODRC fault matrix (docs/odrc.md §6): every point of <see cref="OdrcMatrix"/> × <see cref="SeedsPerPoint"/> seeds
/// with the KV service — faulty execution replica (crash, wrong reply, wrong object state), faulty selector (not
/// selecting, wrong checkpoint), stalled checkpoints, cross-border chains, notices for never-ordered requests; ODRC₄,
/// ODRC₆, f = 2 with 7 and 9 execution replicas; round-robin and locality; reliable and lossy networks.
/// </summary>
public sealed class OdrcMatrixTests
{
    public const int SeedsPerPoint = 6;

    public static TheoryData<int, int, string, string, string, bool> Points()
    {
        var d = new TheoryData<int, int, string, string, string, bool>();
        var seen = new HashSet<string>();
        foreach (var s in OdrcMatrix.Scenarios(1))
            if (seen.Add($"{s.F}/{s.ExecutionReplicas}/{s.Placement}/{s.Behaviour}/{s.Workload}/{s.Lossy}"))
                d.Add(s.F, s.ExecutionReplicas, s.Placement.ToString(), s.Behaviour.ToString(), s.Workload.ToString(), s.Lossy);
        return d;
    }

    [Theory]
    [MemberData(nameof(Points))]
    public void InvariantsHold(int f, int e, string placement, string behaviour, string workload, bool lossy)
    {
        var failures = new List<string>();
        foreach (var s in OdrcMatrix.Scenarios(SeedsPerPoint))
        {
            if (s.F != f || s.ExecutionReplicas != e || s.Placement.ToString() != placement || s.Behaviour.ToString() != behaviour
                || s.Workload.ToString() != workload || s.Lossy != lossy) continue;
            var result = Run(s);
            if (!result.Passed) failures.Add(result.ToString());
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    public static OdrcSimResult Run(OdrcScenario s) =>
        new OdrcSimulator(s, () => new KvService(new MemoryKvStore()), KvSimWorkload.Instance).Run();

    [Fact]
    public void MatrixHasAtLeast2000Scenarios()
    {
        Assert.True(OdrcMatrix.Scenarios(SeedsPerPoint).Count() >= 2000);
    }

    /// <summary>
    /// Whole-replica state transfer (docs/odrc.md §9) in the simulator: the <see cref="OdrcBehaviour.StateTransfer"/> points
    /// (a correct replica cut off, lagging or restarted empty, then installing another's agreement snapshot) pass every
    /// oracle, and snapshots are installed in single-object, mixed and cross-border workloads without a refusal (S6/S7 replaced
    /// the refusal S5).
    /// </summary>
    [Fact]
    public void StateTransferPointsInstallSnapshotsAndPass()
    {
        var results = OdrcMatrix.Scenarios(2).Where(s => s.Behaviour == OdrcBehaviour.StateTransfer).Select(Run).ToList();
        var failures = results.Where(r => !r.Passed).Select(r => r.ToString()).ToList();
        Assert.True(failures.Count == 0, string.Join("\n", failures));
        string Summary(OdrcWorkloadKind w)
        {
            var rs = results.Where(r => r.Scenario.Workload == w).ToList();
            return $"{w}: {rs.Count} scenarios, installed in {rs.Count(r => r.Restores > 0)}, refused {rs.Sum(r => r.RestoresRefused)} times";
        }
        // single-object requests never put a tail request between two objects' bases (S5): every replica that went down installs
        var single = results.Where(r => r.Scenario.Workload == OdrcWorkloadKind.SingleObject).ToList();
        Assert.True(single.All(r => r.RestoresRefused == 0) && single.Count(r => r.Restores > 0) >= single.Count * 3 / 4, Summary(OdrcWorkloadKind.SingleObject));
        Assert.True(results.Where(r => r.Scenario.Workload == OdrcWorkloadKind.Mixed).Sum(r => r.Restores) > 0, Summary(OdrcWorkloadKind.Mixed));
        // cross-border chains (MSETs of neighbours k, k+1) put requests between two objects' bases at almost every snapshot; they
        // refused it before (S5) — now every snapshot installs and those MSETs are replayed on their pending objects only (S6/E1)
        var chains = results.Where(r => r.Scenario.Workload == OdrcWorkloadKind.CrossBorderChains).ToList();
        Assert.True(results.All(r => r.RestoresRefused == 0), "refused: " + string.Join(", ", Enum.GetValues<OdrcWorkloadKind>().Select(Summary)));
        Assert.True(chains.Count(r => r.Restores > 0) >= chains.Count * 3 / 4 && chains.Sum(r => r.BetweenBasesReplayed) > 0,
            $"{Summary(OdrcWorkloadKind.CrossBorderChains)}, replayed exactly {chains.Sum(r => r.BetweenBasesReplayed)}");
    }

    [Fact]
    public void CrossBorderChainsAreExercised()
    {
        long cross = 0, replayed = 0, forced = 0, skipped = 0, ignored = 0, alarms = 0;
        foreach (var s in OdrcMatrix.Scenarios(1))
        {
            if (s.F != 1 || s.ExecutionReplicas != 4) continue;
            var r = Run(s);
            Assert.True(r.Passed, r.ToString());
            cross += r.Stats.CrossBorder; replayed += r.Stats.Replayed; forced += r.Stats.Forced; skipped += r.Stats.Skipped;
            ignored += r.Stats.IgnoredNotices; alarms += r.Stats.Alarms;
        }
        Assert.True(cross > 0 && replayed > 0 && forced > 0 && skipped > 0 && ignored > 0, $"cross {cross} replayed {replayed} forced {forced} skipped {skipped} ignored {ignored} alarms {alarms}");
    }
}

/// <summary>
/// The ODRC fault matrix with write knowledge (Thesis §6.6.1.2; docs/odrc.md §3a): the same points and seeds as
/// <see cref="OdrcMatrixTests"/> (fewer per point), selectors with <see cref="FastBft.Execution.Odrc.SelectorOptions.WriteKnowledge"/>,
/// KV (reads, SET/MSET overwrites, INCRBY) and the coordination service. Besides validity, liveness, ordering and the copy
/// oracles, the simulator checks every execution result and every object checkpoint of a correct replica against the
/// sequential reference, so the optimisations must not change any result.
/// </summary>
public sealed class OdrcWriteKnowledgeMatrixTests
{
    public const int SeedsPerPoint = 2;

    [Theory]
    [MemberData(nameof(OdrcMatrixTests.Points), MemberType = typeof(OdrcMatrixTests))]
    public void InvariantsHoldWithWriteKnowledge(int f, int e, string placement, string behaviour, string workload, bool lossy)
    {
        var failures = new List<string>();
        foreach (var s in OdrcMatrix.Scenarios(SeedsPerPoint, writeKnowledge: true))
        {
            if (s.F != f || s.ExecutionReplicas != e || s.Placement.ToString() != placement || s.Behaviour.ToString() != behaviour
                || s.Workload.ToString() != workload || s.Lossy != lossy) continue;
            var result = OdrcMatrixTests.Run(s);
            if (!result.Passed) failures.Add(result.ToString());
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void TheCoordinationServiceRunsTheMatrixWithWriteKnowledge()
    {
        var failures = OdrcMatrix.Scenarios(1, baseSeed: 78, writeKnowledge: true).Select(s => OdrcSimulate.Create(s, "coord").Run()).Where(r => !r.Passed).Select(r => r.ToString()).ToList();
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void TheCoordinationServiceLeavesCountedOverwritesOutAndAcceptsTheSameRequests_W4()
    {
        // rule W4 (docs/odrc.md §3a): unconditional setData runs collapse to their last one; every ODRC₄ point, with and
        // without write knowledge over the same seed; the oracles compare every reply, execution result, object checkpoint
        // and local copy (data, version, child version, sequence counter, children) with the sequential reference
        long counted = 0, adjusted = 0;
        foreach (var s in OdrcMatrix.Scenarios(1, baseSeed: 91))
        {
            if (s.F != 1 || s.ExecutionReplicas != 4) continue;
            var with = OdrcSimulate.Create(s with { WriteKnowledge = true }, "coord").Run();
            var without = OdrcSimulate.Create(s, "coord").Run();
            Assert.True(with.Passed, with.ToString());
            Assert.True(without.Passed, without.ToString());
            Assert.Equal(without.Accepted, with.Accepted);
            Assert.Equal(0, without.Stats.CountedOverwritesOmitted + without.Stats.CounterAdjustments);
            counted += with.Stats.CountedOverwritesOmitted; adjusted += with.Stats.CounterAdjustments;
        }
        Assert.True(counted > 0 && adjusted > 0, $"counted overwrites left out {counted}, adjusted executions {adjusted}");
    }

    [Fact]
    public void EveryWriteKnowledgeRuleIsExercisedAndCheckpointsGetRarer()
    {
        long omitted = 0, overwrites = 0, dropped = 0, withCheckpoints = 0, withoutCheckpoints = 0;
        foreach (var s in OdrcMatrix.Scenarios(1))
        {
            if (s.F != 1 || s.ExecutionReplicas != 4 || s.Behaviour == OdrcBehaviour.StateTransfer) continue;   // not with write knowledge (§10)
            var with = OdrcMatrixTests.Run(s with { WriteKnowledge = true });
            var without = OdrcMatrixTests.Run(s);
            Assert.True(with.Passed, with.ToString());
            Assert.True(without.Passed, without.ToString());
            Assert.Equal(without.Accepted, with.Accepted);
            omitted += with.Stats.ReadsOmitted; overwrites += with.Stats.Overwrites; dropped += with.Stats.OverwriteDropped;
            withCheckpoints += with.Stats.StableCheckpoints; withoutCheckpoints += without.Stats.StableCheckpoints;
            Assert.Equal(0, without.Stats.ReadsOmitted + without.Stats.Overwrites + without.Stats.OverwriteDropped);
        }
        Assert.True(omitted > 0 && overwrites > 0 && dropped > 0, $"omitted {omitted} overwrites {overwrites} dropped {dropped}");
        Assert.True(withCheckpoints < withoutCheckpoints, $"stable checkpoints with write knowledge {withCheckpoints}, without {withoutCheckpoints}");
    }
}
