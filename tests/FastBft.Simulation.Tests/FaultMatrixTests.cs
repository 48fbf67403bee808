using System.Globalization;
using FastBft.Simulation;
using Xunit.Sdk;

namespace FastBft.Simulation.Tests;

/// <summary>
/// The fault matrix as CI runs it, through Xunit.Combinatorial: one test class per faulty role, whose
/// <c>[Theory, CombinatorialData]</c> method takes every dimension as a parameter — protocol, role,
/// behaviour, timing, network and the CI run (f, seed index) — with the values of
/// <see cref="FaultMatrix"/> (the definition <c>fastbft simulate</c> enumerates too). A role's method
/// draws behaviours and timings from that role's lists, so every generated test case is a real matrix
/// point and one scenario (<see cref="MatrixShapeTests"/> checks that the cases are exactly
/// <see cref="FaultMatrix.CiScenarios"/>). A <c>[Theory, PairwiseData]</c> method per role adds a sweep
/// with fresh seeds over every f whose full product is too big to run.
/// </summary>
public static class Matrix
{
    /// <summary>
    /// The issue-8 item a matrix point is known to fail on with today's core, or null. Every item found by the
    /// sweeps is fixed (docs/simulation.md, "Bug classes the matrix found"); add an entry here only with an
    /// open issue for it (its cases are then reported as skipped, not passed).
    /// </summary>
    public static string? KnownCoreBug(Scenario p) => KnownFailingPoints.GetValueOrDefault(p.Name);

    /// <summary>Single matrix points that fail with the CI seeds on today's core, with the open bug (docs/simulation.md, RePBFT "Core bugs found").</summary>
    public static readonly Dictionary<string, string> KnownFailingPoints = new()
    {
    };

    /// <summary>The CI run dimension: (f, seed index) for every f of the matrix and its CI seeds.</summary>
    public static IEnumerable<MatrixRun> CiRuns() => FaultMatrix.CiRuns().Select(r => new MatrixRun(r.F, r.SeedIndex));

    /// <summary>The CI run dimension of the RePBFT theories (<see cref="FaultMatrix.RePbftCiRuns"/>).</summary>
    public static IEnumerable<MatrixRun> RePbftCiRuns() => FaultMatrix.RePbftCiRuns().Select(r => new MatrixRun(r.F, r.SeedIndex));

    /// <summary>Runs one scenario of the matrix and asserts that every invariant held; a failure names the seed, the replay command and the filter that reruns the case.</summary>
    public static void RunCase(string protocol, FaultyRole role, Behaviour behaviour, FaultTiming timing, NetworkCondition network, int f, ulong baseSeed, int seedIndex, string filter)
    {
        var s = FaultMatrix.ScenarioOf(protocol, f, role, behaviour, timing, network, baseSeed, seedIndex);
        if (KnownCoreBug(s) is { } bug) Assert.Skip($"{s.Name}: known core bug {bug}");
        Check(s, filter);
    }

    /// <summary>Runs <paramref name="s"/> and asserts that every invariant held; the failure message names the seed, the replay command and the test filter <paramref name="filter"/>.</summary>
    public static void Check(Scenario s, string filter)
    {
        var r = SimulationTests.Run(s);
        if (!r.Passed && KnownRePbftCoreBug(r) is { } bug)
            Assert.Skip($"seed {s.Seed}: known RePBFT core bug {bug}: {r}");
        Assert.True(r.Passed, string.Create(CultureInfo.InvariantCulture,
            $"seed {s.Seed}: {r}\n  this case: dotnet test tests/FastBft.Simulation.Tests -c Release --filter \"{filter}\""));
    }

    /// <summary>
    /// The open RePBFT core bug a failed run of a switching protocol shows, by its signature, or null (docs/simulation.md,
    /// "RePBFT", "Core bugs found"). Such a case is reported as skipped, never as passed, and only when it fails with
    /// exactly that signature; any other failure fails the test. Add an entry only with an open bug; remove it when the
    /// core fixes the bug. None is open: B1–B8 are fixed, their replays are regression tests (RePbftCoreBugReplays),
    /// and any failure of theirs fails the matrix.
    /// </summary>
    public static string? KnownRePbftCoreBug(SimulationResult r)
    {
        if (!SimProtocols.Get(r.Scenario.Protocol).Switches || r.Detail is null) return null;
        return null;
    }

    /// <summary>The <c>dotnet test --filter</c> expression that selects exactly one test case of a matrix class.</summary>
    public static string Filter(string testClass, string method, string arguments)
        => $"FullyQualifiedName~{testClass}.{method}&DisplayName~{arguments.Replace("(", "\\(", StringComparison.Ordinal).Replace(")", "\\)", StringComparison.Ordinal)}";
}

/// <summary>
/// The CI run of a matrix point: f and the index of the seed (the seed itself is derived from the point's
/// name, <see cref="FaultMatrix.CiBaseSeed"/> and the index). One parameter because the number of seeds
/// depends on f (<see cref="FaultMatrix.CiSeedsPerPoint"/>). Serializable, so that every value is its own test case.
/// </summary>
public sealed class MatrixRun : IXunitSerializable
{
    /// <summary>For the deserializer.</summary>
    public MatrixRun() { }

    /// <summary>The run of seed index <paramref name="seedIndex"/> at <paramref name="f"/>.</summary>
    public MatrixRun(int f, int seedIndex) { F = f; SeedIndex = seedIndex; }

    /// <summary>f (n = 3f+1).</summary>
    public int F { get; private set; }

    /// <summary>Index of the seed, 0 .. <see cref="FaultMatrix.CiSeedsPerPoint"/>(F) − 1.</summary>
    public int SeedIndex { get; private set; }

    /// <inheritdoc/>
    public void Deserialize(IXunitSerializationInfo info) { F = info.GetValue<int>("f"); SeedIndex = info.GetValue<int>("i"); }

    /// <inheritdoc/>
    public void Serialize(IXunitSerializationInfo info) { info.AddValue("f", F); info.AddValue("i", SeedIndex); }

    /// <summary>"f1 seed 3" (the test case's display name shows it).</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"f{F} seed {SeedIndex}");
}

/// <summary>No faulty node (behaviour none, timing early only).</summary>
public class NoFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.Protocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.None)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.BehavioursFor), FaultyRole.None, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.TimingsFor), FaultyRole.None, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(Matrix.CiRuns), MemberType = typeof(Matrix))] MatrixRun run)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(NoFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.Protocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.None)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.BehavioursFor), FaultyRole.None, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.TimingsFor), FaultyRole.None, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, FaultMatrix.PairwiseSeeds)] int seedIndex)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(NoFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
}

/// <summary>A faulty primary of view 0.</summary>
public class LeaderFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.Protocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Leader)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.BehavioursFor), FaultyRole.Leader, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.TimingsFor), FaultyRole.Leader, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(Matrix.CiRuns), MemberType = typeof(Matrix))] MatrixRun run)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(LeaderFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.Protocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Leader)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.BehavioursFor), FaultyRole.Leader, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.TimingsFor), FaultyRole.Leader, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, FaultMatrix.PairwiseSeeds)] int seedIndex)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(LeaderFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
}

/// <summary>A faulty backup.</summary>
public class FollowerFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.Protocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Follower)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.BehavioursFor), FaultyRole.Follower, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.TimingsFor), FaultyRole.Follower, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(Matrix.CiRuns), MemberType = typeof(Matrix))] MatrixRun run)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(FollowerFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.Protocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Follower)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.BehavioursFor), FaultyRole.Follower, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.TimingsFor), FaultyRole.Follower, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, FaultMatrix.PairwiseSeeds)] int seedIndex)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(FollowerFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
}

/// <summary>A faulty replica 1 (the primary of view 1).</summary>
public class NextPrimaryFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.Protocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.NextPrimary)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.BehavioursFor), FaultyRole.NextPrimary, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.TimingsFor), FaultyRole.NextPrimary, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(Matrix.CiRuns), MemberType = typeof(Matrix))] MatrixRun run)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(NextPrimaryFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.Protocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.NextPrimary)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.BehavioursFor), FaultyRole.NextPrimary, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.TimingsFor), FaultyRole.NextPrimary, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, FaultMatrix.PairwiseSeeds)] int seedIndex)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(NextPrimaryFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
}

/// <summary>A faulty client.</summary>
public class ClientFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.Protocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Client)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.BehavioursFor), FaultyRole.Client, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.TimingsFor), FaultyRole.Client, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(Matrix.CiRuns), MemberType = typeof(Matrix))] MatrixRun run)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(ClientFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.Protocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Client)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.BehavioursFor), FaultyRole.Client, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.TimingsFor), FaultyRole.Client, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, FaultMatrix.PairwiseSeeds)] int seedIndex)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(ClientFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
}

/// <summary>RePBFT / RePBFT*: no faulty node (behaviour none, timing early only).</summary>
public class RePbftNoFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.SwitchingProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.None)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftBehavioursFor), FaultyRole.None, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftTimingsFor), FaultyRole.None, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(Matrix.RePbftCiRuns), MemberType = typeof(Matrix))] MatrixRun run)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(RePbftNoFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.SwitchingProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.None)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftBehavioursFor), FaultyRole.None, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftTimingsFor), FaultyRole.None, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, FaultMatrix.RePbftPairwiseSeeds)] int seedIndex)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(RePbftNoFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
}

/// <summary>RePBFT / RePBFT*: a faulty leader of generation 0.</summary>
public class RePbftLeaderFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.SwitchingProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Leader)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftBehavioursFor), FaultyRole.Leader, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftTimingsFor), FaultyRole.Leader, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(Matrix.RePbftCiRuns), MemberType = typeof(Matrix))] MatrixRun run)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(RePbftLeaderFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.SwitchingProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Leader)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftBehavioursFor), FaultyRole.Leader, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftTimingsFor), FaultyRole.Leader, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, FaultMatrix.RePbftPairwiseSeeds)] int seedIndex)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(RePbftLeaderFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
}

/// <summary>RePBFT / RePBFT*: a faulty active follower (not the first transition coordinator).</summary>
public class RePbftFollowerFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.SwitchingProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Follower)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftBehavioursFor), FaultyRole.Follower, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftTimingsFor), FaultyRole.Follower, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(Matrix.RePbftCiRuns), MemberType = typeof(Matrix))] MatrixRun run)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(RePbftFollowerFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.SwitchingProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Follower)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftBehavioursFor), FaultyRole.Follower, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftTimingsFor), FaultyRole.Follower, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, FaultMatrix.RePbftPairwiseSeeds)] int seedIndex)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(RePbftFollowerFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
}

/// <summary>RePBFT / RePBFT*: a faulty passive replica.</summary>
public class RePbftPassiveFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.SwitchingProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Passive)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftBehavioursFor), FaultyRole.Passive, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftTimingsFor), FaultyRole.Passive, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(Matrix.RePbftCiRuns), MemberType = typeof(Matrix))] MatrixRun run)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(RePbftPassiveFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.SwitchingProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Passive)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftBehavioursFor), FaultyRole.Passive, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftTimingsFor), FaultyRole.Passive, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, FaultMatrix.RePbftPairwiseSeeds)] int seedIndex)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(RePbftPassiveFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
}

/// <summary>RePBFT / RePBFT*: a faulty first transition coordinator (replica 1).</summary>
public class RePbftCoordinatorFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.SwitchingProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Coordinator)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftBehavioursFor), FaultyRole.Coordinator, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftTimingsFor), FaultyRole.Coordinator, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(Matrix.RePbftCiRuns), MemberType = typeof(Matrix))] MatrixRun run)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(RePbftCoordinatorFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.SwitchingProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Coordinator)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftBehavioursFor), FaultyRole.Coordinator, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftTimingsFor), FaultyRole.Coordinator, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, FaultMatrix.RePbftPairwiseSeeds)] int seedIndex)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(RePbftCoordinatorFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
}

/// <summary>RePBFT / RePBFT*: a faulty client.</summary>
public class RePbftClientFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.SwitchingProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Client)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftBehavioursFor), FaultyRole.Client, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftTimingsFor), FaultyRole.Client, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(Matrix.RePbftCiRuns), MemberType = typeof(Matrix))] MatrixRun run)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(RePbftClientFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.SwitchingProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Client)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftBehavioursFor), FaultyRole.Client, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.RePbftTimingsFor), FaultyRole.Client, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, FaultMatrix.RePbftPairwiseSeeds)] int seedIndex)
        => Matrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(RePbftClientFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
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
