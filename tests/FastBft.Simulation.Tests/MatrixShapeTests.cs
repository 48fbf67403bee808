using System.Reflection;
using FastBft.Simulation;
using Xunit.Sdk;
using Xunit.v3;

namespace FastBft.Simulation.Tests;

/// <summary>
/// The combinatorial theories of <c>FaultMatrixTests.cs</c> generate exactly the CI matrix of
/// <see cref="FaultMatrix"/>: every case is a matrix point (no vacuous case), no scenario twice, none
/// missing, at least 10,000 of them; and the pairwise sweep's cases are matrix points too.
/// </summary>
public class MatrixShapeTests
{
    private static readonly Type[] MatrixClasses = [typeof(NoFaultMatrix), typeof(LeaderFaultMatrix), typeof(FollowerFaultMatrix), typeof(NextPrimaryFaultMatrix), typeof(ClientFaultMatrix)];

    /// <summary>The rows the data attribute of <paramref name="method"/> generates, as scenarios.</summary>
    private static async Task<List<Scenario>> Cases(MethodInfo method)
    {
        var attribute = method.GetCustomAttributes().OfType<IDataAttribute>().Single();
        var rows = await attribute.GetData(method, new DisposalTracker());
        var names = method.GetParameters().Select(p => p.Name!).ToArray();
        var list = new List<Scenario>();
        foreach (var row in rows)
        {
            var args = row.GetData();
            object? Arg(string name) => Array.IndexOf(names, name) is >= 0 and int i ? args[i] : null;
            var run = Arg("run") as MatrixRun;
            int f = run?.F ?? (int)Arg("f")!;
            bool pairwise = run is null;
            var role = (FaultyRole)Arg("role")!;
            var behaviour = (Behaviour)Arg("behaviour")!;
            var timing = (FaultTiming)Arg("timing")!;
            var network = (NetworkCondition)Arg("network")!;
            var protocol = (string)Arg("protocol")!;
            Assert.True(FaultMatrix.IsPoint(protocol, f, role, behaviour, timing, network), $"{method.DeclaringType!.Name}.{method.Name}: f{f}/{role}/{behaviour}/{timing}/{network} is not a matrix point");
            list.Add(FaultMatrix.ScenarioOf(protocol, f, role, behaviour, timing, network,
                pairwise ? FaultMatrix.PairwiseBaseSeed : FaultMatrix.CiBaseSeed, run?.SeedIndex ?? (int)Arg("seedIndex")!));
        }
        return list;
    }

    [Fact]
    public async Task CombinatorialCasesAreExactlyTheCiMatrix()
    {
        var cases = new List<Scenario>();
        foreach (var type in MatrixClasses)
        {
            var mine = await Cases(type.GetMethod(nameof(LeaderFaultMatrix.InvariantsHold))!);
            Assert.Single(mine.Select(s => s.Role).Distinct());
            cases.AddRange(mine);
        }
        var expected = FaultMatrix.CiScenarios("pbft").ToList();
        Assert.Equal(10_430, expected.Count);
        Assert.Equal(cases.Count, cases.Distinct().Count());
        Assert.Equal(expected.ToHashSet(), cases.ToHashSet());
        Assert.True(cases.Count(s => s.Protocol == "pbft") >= 10_000);
    }

    private static readonly Type[] RePbftMatrixClasses = [typeof(RePbftNoFaultMatrix), typeof(RePbftLeaderFaultMatrix), typeof(RePbftFollowerFaultMatrix),
        typeof(RePbftPassiveFaultMatrix), typeof(RePbftCoordinatorFaultMatrix), typeof(RePbftClientFaultMatrix)];

    /// <summary>The RePBFT theories generate exactly the CI matrix of both switching protocols: at least 2,000 scenarios, each once.</summary>
    [Fact]
    public async Task RePbftCombinatorialCasesAreExactlyItsCiMatrix()
    {
        var cases = new List<Scenario>();
        foreach (var type in RePbftMatrixClasses)
        {
            var mine = await Cases(type.GetMethod(nameof(RePbftLeaderFaultMatrix.InvariantsHold))!);
            Assert.Single(mine.Select(s => s.Role).Distinct());
            cases.AddRange(mine);
        }
        var expected = FaultMatrix.SwitchingProtocols.SelectMany(FaultMatrix.CiScenarios).ToList();
        Assert.Equal(2 * 2065, expected.Count);
        Assert.Equal(cases.Count, cases.Distinct().Count());
        Assert.Equal(expected.ToHashSet(), cases.ToHashSet());
        Assert.True(cases.Count >= 2_000);
        Assert.All(FaultMatrix.SwitchingProtocols, p => Assert.Contains(cases, s => s.Protocol == p));
    }

    /// <summary>The RePBFT pairwise cases are matrix points and cover every (behaviour, network), (behaviour, timing) and (f, behaviour) pair of each role.</summary>
    [Fact]
    public async Task RePbftPairwiseCasesAreMatrixPointsAndCoverEveryPair()
    {
        int total = 0;
        foreach (var type in RePbftMatrixClasses)
        {
            var cases = await Cases(type.GetMethod(nameof(RePbftLeaderFaultMatrix.PairwiseSweep))!);
            total += cases.Count;
            var role = cases[0].Role;
            foreach (var b in FaultMatrix.RePbftBehavioursFor(role))
            {
                foreach (var n in FaultMatrix.Networks) Assert.Contains(cases, s => s.Behaviour == b && s.Network == n);
                foreach (var t in FaultMatrix.RePbftTimingsFor(role)) Assert.Contains(cases, s => s.Behaviour == b && s.Timing == t);
                foreach (int f in FaultMatrix.Fs) Assert.Contains(cases, s => s.Behaviour == b && s.F == f);
            }
        }
        Assert.InRange(total, 200, 1_000);
    }

    /// <summary>`fastbft simulate --protocol repbft` enumerates the same points: roles, behaviours and timings of the switching protocols, and nothing of PBFT's that does not apply.</summary>
    [Fact]
    public void RePbftHarnessMatrixIsTheSameDefinition()
    {
        foreach (var protocol in FaultMatrix.SwitchingProtocols)
        {
            var points = ScenarioMatrix.Points(protocol, FaultMatrix.Fs).ToList();
            Assert.Equal(3 * 2065, points.Count);
            Assert.All(points, p => Assert.True(FaultMatrix.IsPoint(p), p.Name));
            Assert.DoesNotContain(points, p => p.Role == FaultyRole.NextPrimary || p.Behaviour is Behaviour.FarViewChange or Behaviour.EmptyBatches or Behaviour.Oversized);
            Assert.Contains(points, p => p.Role == FaultyRole.Coordinator && p.Behaviour == Behaviour.BadSwitch && p.Timing == FaultTiming.SwitchBack);
            var harness = points.Where(p => p.F == 1).SelectMany(p => ScenarioMatrix.Generate(protocol, [1], FaultMatrix.RePbftCiSeedsPerPoint(1), FaultMatrix.CiBaseSeed, q => q.Name == p.Name));
            Assert.Equal(FaultMatrix.CiScenarios(protocol), harness);
        }
        // PBFT's matrix is unchanged by the switching protocols' roles, behaviours and timings.
        Assert.DoesNotContain(ScenarioMatrix.Points("pbft", FaultMatrix.Fs), p => p.Role is FaultyRole.Passive or FaultyRole.Coordinator
            || p.Timing is FaultTiming.PreCheckpoint or FaultTiming.SwitchBack || p.Behaviour >= Behaviour.WrongUpdate);
    }

    [Fact]
    public async Task PairwiseSweepCasesAreMatrixPointsAndCoverEveryPair()
    {
        int total = 0;
        foreach (var type in MatrixClasses)
        {
            var cases = await Cases(type.GetMethod(nameof(LeaderFaultMatrix.PairwiseSweep))!);
            total += cases.Count;
            var role = cases[0].Role;
            // Every (behaviour, network) and (f, behaviour) pair appears.
            foreach (var b in FaultMatrix.BehavioursFor(role))
            {
                foreach (var n in FaultMatrix.Networks) Assert.Contains(cases, s => s.Behaviour == b && s.Network == n);
                foreach (int f in FaultMatrix.Fs) Assert.Contains(cases, s => s.Behaviour == b && s.F == f);
            }
        }
        Assert.InRange(total, 200, 1_000);
    }

    [Fact]
    public void HarnessMatrixIsTheSameDefinition()
    {
        // `fastbft simulate` enumerates ScenarioMatrix.Points over FaultMatrix.Fs; with the CI seeds that is CiScenarios.
        var points = ScenarioMatrix.Points("pbft", FaultMatrix.Fs).ToList();
        Assert.Equal(3 * 1043, points.Count);
        Assert.All(points, p => Assert.True(FaultMatrix.IsPoint(p), p.Name));
        var harness = points.SelectMany(p => ScenarioMatrix.Generate("pbft", [p.F], FaultMatrix.CiSeedsPerPoint(p.F), FaultMatrix.CiBaseSeed, q => q.Name == p.Name));
        Assert.Equal(FaultMatrix.CiScenarios("pbft"), harness);
    }
}
