using System.Text;
using FastBft.Simulation;

namespace FastBft.Simulation.Tests;

/// <summary>
/// The matrix as CI runs it. One test case per matrix point (f/role/behaviour/timing/network) runs that
/// point's seeds and reports every failing seed with its replay command. Every point must pass (the
/// issue-8 bug classes the adversaries found are fixed; <see cref="Matrix.KnownFailingPoints"/> is empty).
/// </summary>
public static class Matrix
{
    /// <summary>Base seed of the CI matrix (sweeps use other seeds).</summary>
    public const ulong CiSeed = 1;

    /// <summary>
    /// The issue-8 item a matrix point is known to fail on with today's core, or null. Every item found by the
    /// sweeps is fixed (docs/simulation.md, "Bug classes the matrix found"); add an entry here only with an
    /// open issue for it.
    /// </summary>
    public static string? KnownCoreBug(Scenario p) => KnownFailingPoints.GetValueOrDefault(p.Name);

    /// <summary>Single matrix points that fail with the CI seeds on today's core, with the issue item (none).</summary>
    public static readonly Dictionary<string, string> KnownFailingPoints = new();

    /// <summary>Matrix points of <paramref name="f"/> that <paramref name="include"/> accepts, as theory data.</summary>
    public static TheoryData<string> Points(int f, Func<Scenario, bool> include)
    {
        var data = new TheoryData<string>();
        foreach (var p in ScenarioMatrix.Points("pbft", [f])) if (include(p)) data.Add(p.Name);
        return data;
    }

    /// <summary>Runs <paramref name="seeds"/> seeds of one matrix point and asserts that all pass.</summary>
    public static void RunPoint(string name, int seeds)
    {
        var point = Scenario.Parse("pbft", name, 0);
        var failures = new StringBuilder();
        int failed = 0;
        foreach (var s in ScenarioMatrix.Generate("pbft", [point.F], seeds, CiSeed, p => p.Name == name))
        {
            var r = SimulationTests.Run(s);
            if (!r.Passed) { failed++; failures.AppendLine(r.ToString()); }
        }
        Assert.True(failed == 0, $"{failed} of {seeds} seeds failed:\n{failures}");
    }

    /// <summary>CI seeds per matrix point: 7 at f = 1, 2 at f = 2, 1 at f = 3 (10,430 scenarios; sweeps run far more, docs/simulation.md).</summary>
    public static int SeedsFor(string point) => point.StartsWith("f1/", StringComparison.Ordinal) ? 7 : point.StartsWith("f2/", StringComparison.Ordinal) ? 2 : 1;

    /// <summary>Points CI requires to pass: everything without a known core bug.</summary>
    public static bool Passing(Scenario p) => KnownCoreBug(p) is null;
}

/// <summary>f = 1, faulty leader or follower (two classes for f = 1 so that xunit spreads them over the cores).</summary>
public class FaultMatrixF1Tests
{
    public static TheoryData<string> Cases() => Matrix.Points(1, p => Matrix.Passing(p) && p.Role is FaultyRole.Leader or FaultyRole.Follower);

    [Theory]
    [MemberData(nameof(Cases))]
    public void AllInvariantsHold(string point) => Matrix.RunPoint(point, Matrix.SeedsFor(point));
}

/// <summary>f = 1, no fault, next primary or client.</summary>
public class FaultMatrixF1OtherTests
{
    public static TheoryData<string> Cases() => Matrix.Points(1, p => Matrix.Passing(p) && p.Role is not (FaultyRole.Leader or FaultyRole.Follower));

    [Theory]
    [MemberData(nameof(Cases))]
    public void AllInvariantsHold(string point) => Matrix.RunPoint(point, Matrix.SeedsFor(point));
}

/// <summary>f = 2 (a separate class so xunit runs it in parallel with the others).</summary>
public class FaultMatrixF2Tests
{
    public static TheoryData<string> Cases() => Matrix.Points(2, Matrix.Passing);

    [Theory]
    [MemberData(nameof(Cases))]
    public void AllInvariantsHold(string point) => Matrix.RunPoint(point, Matrix.SeedsFor(point));
}

/// <summary>f = 3, faulty leader or follower.</summary>
public class FaultMatrixF3ReplicaTests
{
    public static TheoryData<string> Cases() => Matrix.Points(3, p => Matrix.Passing(p) && p.Role is FaultyRole.Leader or FaultyRole.Follower);

    [Theory]
    [MemberData(nameof(Cases))]
    public void AllInvariantsHold(string point) => Matrix.RunPoint(point, Matrix.SeedsFor(point));
}

/// <summary>f = 3, no fault, next primary or client.</summary>
public class FaultMatrixF3OtherTests
{
    public static TheoryData<string> Cases() => Matrix.Points(3, p => Matrix.Passing(p) && p.Role is not (FaultyRole.Leader or FaultyRole.Follower));

    [Theory]
    [MemberData(nameof(Cases))]
    public void AllInvariantsHold(string point) => Matrix.RunPoint(point, Matrix.SeedsFor(point));
}

/// <summary>
/// One replayable scenario per issue-8 bug class the sweeps found (docs/simulation.md): each failed on the
/// core before the issue-8 fixes (commit 5285444) with the oracle named there, and must pass now.
/// </summary>
public class Issue8ReproductionTests
{
    private static void Replay(string scenario, ulong seed)
    {
        var r = SimulationTests.Run(Scenario.Parse("pbft", scenario, seed));
        Assert.True(r.Passed, r.ToString());
    }

    [Theory]
    [InlineData("f1/nextprimary/twins/early/isolateleader", 297083690UL)]
    [InlineData("f1/follower/twins/early/isolateleader", 705042068UL)]
    public void S1_CommittedBatchSurvivesAByzantineNewPrimary(string scenario, ulong seed) => Replay(scenario, seed);

    [Theory]
    [InlineData("f1/leader/farviewchange/early/lossy", 379165081UL)]
    public void R1_FarFutureViewChangesAreNotRetained(string scenario, ulong seed) => Replay(scenario, seed);

    [Theory]
    [InlineData("f1/leader/oversized/early/lagacrossviewchange", 539308665UL)]
    public void R3_StateDataTotalIsNotAllocatedAsClaimed(string scenario, ulong seed) => Replay(scenario, seed);

    [Theory]
    [InlineData("f1/leader/targetedmac/early/clean", 15332197UL)]
    public void L2_ViewChangeWithMacsForTheNewPrimaryOnly(string scenario, ulong seed) => Replay(scenario, seed);

    [Theory]
    [InlineData("f1/leader/emptybatches/early/clean", 270765444UL)]
    public void L3_EmptyBatchPrimaryIsReplaced(string scenario, ulong seed) => Replay(scenario, seed);

    [Theory]
    [InlineData("f1/client/edgeids/checkpointboundary/clean", 651620568UL)]
    public void L5_RequestIdZeroDoesNotSplitCheckpoints(string scenario, ulong seed) => Replay(scenario, seed);

    [Theory]
    [InlineData("f1/client/flood/early/lagacrossviewchange", 822753483UL)]
    public void L8_NewViewStaysBelowTheMessageLimit(string scenario, ulong seed) => Replay(scenario, seed);

    [Theory]
    [InlineData("f3/leader/wrongreply/early/lossy", 423161668UL)]
    [InlineData("f1/nextprimary/twins/midbatch/isolateleader", 307356978UL)]
    public void L9_StateTransferNeverRollsBack(string scenario, ulong seed) => Replay(scenario, seed);

    [Theory]
    [InlineData("f1/nextprimary/mute/early/isolateleader", 97772714UL)]
    public void L1_RejoiningReplicaIsNotLeftAloneInAHigherView(string scenario, ulong seed) => Replay(scenario, seed);

    [Theory]
    [InlineData("f1/leader/wrongcheckpoint/midbatch/lossy", 329108430UL)]
    public void L10_StableCheckpointIsResentToLaggingPeers(string scenario, ulong seed) => Replay(scenario, seed);
}
