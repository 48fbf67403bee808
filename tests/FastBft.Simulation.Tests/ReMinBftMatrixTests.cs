using System.Globalization;
using FastBft.Simulation;

namespace FastBft.Simulation.Tests;

/// <summary>
/// The ReMinBFT fault matrix in the tests (docs/reminbft.md §6): one class per faulty role whose <c>[Theory, CombinatorialData]</c>
/// method takes every dimension from <see cref="FaultMatrix"/>'s ReMinBFT lists with the CI runs of
/// <see cref="FaultMatrix.ReMinBftCiRuns"/> (f = 1, one seed: exactly <c>fastbft simulate --protocol reminbft --ci</c>), and a
/// <c>[Theory, PairwiseData]</c> sweep with fresh seeds over every f. Every invariant (agreement, validity, convergence, commit
/// certificate on the f+1 active replicas' certified messages, counter order) is asserted in every run; liveness where
/// <see cref="ReMinBftSimProtocol.LivenessExpected"/> says so (the switch is not built yet).
/// </summary>
public static class ReMinBftMatrix
{
    /// <summary>The CI run dimension of the ReMinBFT theories.</summary>
    public static IEnumerable<MatrixRun> CiRuns() => FaultMatrix.ReMinBftCiRuns().Select(r => new MatrixRun(r.F, r.SeedIndex));

    /// <summary>Seed indices of the ReMinBFT pairwise sweep.</summary>
    public const int PairwiseSeeds = 2;

    /// <summary>Runs one ReMinBFT matrix scenario and asserts that it passed (every invariant, liveness for every faulty role).</summary>
    public static void RunCase(string protocol, FaultyRole role, Behaviour behaviour, FaultTiming timing, NetworkCondition network, int f, ulong baseSeed, int seedIndex, string filter)
    {
        var s = FaultMatrix.ScenarioOf(protocol, f, role, behaviour, timing, network, baseSeed, seedIndex);
        var r = SimulationTests.Run(s);
        Assert.True(r.Passed, string.Create(CultureInfo.InvariantCulture,
            $"seed {s.Seed}: {r}\n  this case: dotnet test tests/FastBft.Simulation.Tests -c Release --filter \"{filter}\""));
    }
}

/// <summary>ReMinBFT without a faulty node.</summary>
public class ReMinBftNoFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.None)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftBehavioursFor), FaultyRole.None, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftTimingsFor), FaultyRole.None, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(ReMinBftMatrix.CiRuns), MemberType = typeof(ReMinBftMatrix))] MatrixRun run)
        => ReMinBftMatrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(ReMinBftNoFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.None)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftBehavioursFor), FaultyRole.None, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftTimingsFor), FaultyRole.None, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, ReMinBftMatrix.PairwiseSeeds)] int seedIndex)
        => ReMinBftMatrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(ReMinBftNoFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
}

/// <summary>ReMinBFT with a faulty leader (replica 0 of generation 0).</summary>
public class ReMinBftLeaderFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Leader)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftBehavioursFor), FaultyRole.Leader, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftTimingsFor), FaultyRole.Leader, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(ReMinBftMatrix.CiRuns), MemberType = typeof(ReMinBftMatrix))] MatrixRun run)
        => ReMinBftMatrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(ReMinBftLeaderFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Leader)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftBehavioursFor), FaultyRole.Leader, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftTimingsFor), FaultyRole.Leader, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, ReMinBftMatrix.PairwiseSeeds)] int seedIndex)
        => ReMinBftMatrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(ReMinBftLeaderFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
}

/// <summary>ReMinBFT with a faulty active follower.</summary>
public class ReMinBftFollowerFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Follower)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftBehavioursFor), FaultyRole.Follower, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftTimingsFor), FaultyRole.Follower, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(ReMinBftMatrix.CiRuns), MemberType = typeof(ReMinBftMatrix))] MatrixRun run)
        => ReMinBftMatrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(ReMinBftFollowerFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Follower)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftBehavioursFor), FaultyRole.Follower, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftTimingsFor), FaultyRole.Follower, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, ReMinBftMatrix.PairwiseSeeds)] int seedIndex)
        => ReMinBftMatrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(ReMinBftFollowerFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
}

/// <summary>ReMinBFT with a faulty passive replica.</summary>
public class ReMinBftPassiveFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Passive)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftBehavioursFor), FaultyRole.Passive, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftTimingsFor), FaultyRole.Passive, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(ReMinBftMatrix.CiRuns), MemberType = typeof(ReMinBftMatrix))] MatrixRun run)
        => ReMinBftMatrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(ReMinBftPassiveFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Passive)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftBehavioursFor), FaultyRole.Passive, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftTimingsFor), FaultyRole.Passive, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, ReMinBftMatrix.PairwiseSeeds)] int seedIndex)
        => ReMinBftMatrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(ReMinBftPassiveFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
}

/// <summary>ReMinBFT with a faulty transition coordinator (the first follower; safety only: coordinator rotation is not built).</summary>
public class ReMinBftCoordinatorFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Coordinator)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftBehavioursFor), FaultyRole.Coordinator, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftTimingsFor), FaultyRole.Coordinator, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(ReMinBftMatrix.CiRuns), MemberType = typeof(ReMinBftMatrix))] MatrixRun run)
        => ReMinBftMatrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(ReMinBftCoordinatorFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Coordinator)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftBehavioursFor), FaultyRole.Coordinator, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftTimingsFor), FaultyRole.Coordinator, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, ReMinBftMatrix.PairwiseSeeds)] int seedIndex)
        => ReMinBftMatrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(ReMinBftCoordinatorFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
}

/// <summary>ReMinBFT with a faulty client.</summary>
public class ReMinBftClientFaultMatrix
{
    [Theory, CombinatorialData]
    public void InvariantsHold(
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Client)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftBehavioursFor), FaultyRole.Client, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftTimingsFor), FaultyRole.Client, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialMemberData(nameof(ReMinBftMatrix.CiRuns), MemberType = typeof(ReMinBftMatrix))] MatrixRun run)
        => ReMinBftMatrix.RunCase(protocol, role, behaviour, timing, network, run.F, FaultMatrix.CiBaseSeed, run.SeedIndex,
            Matrix.Filter(nameof(ReMinBftClientFaultMatrix), nameof(InvariantsHold), $"role: {role}, behaviour: {behaviour}, timing: {timing}, network: {network}, run: {run})"));

    [Theory, PairwiseData]
    public void PairwiseSweep(
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftProtocols), MemberType = typeof(FaultMatrix))] string protocol,
        [CombinatorialValues(FaultyRole.Client)] FaultyRole role,
        [CombinatorialMemberData(nameof(FaultMatrix.Fs), MemberType = typeof(FaultMatrix))] int f,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftBehavioursFor), FaultyRole.Client, MemberType = typeof(FaultMatrix))] Behaviour behaviour,
        [CombinatorialMemberData(nameof(FaultMatrix.ReMinBftTimingsFor), FaultyRole.Client, MemberType = typeof(FaultMatrix))] FaultTiming timing,
        [CombinatorialMemberData(nameof(FaultMatrix.Networks), MemberType = typeof(FaultMatrix))] NetworkCondition network,
        [CombinatorialRange(0, ReMinBftMatrix.PairwiseSeeds)] int seedIndex)
        => ReMinBftMatrix.RunCase(protocol, role, behaviour, timing, network, f, FaultMatrix.PairwiseBaseSeed, seedIndex,
            Matrix.Filter(nameof(ReMinBftClientFaultMatrix), nameof(PairwiseSweep), $"role: {role}, f: {f}, behaviour: {behaviour}, timing: {timing}, network: {network}, seedIndex: {seedIndex})"));
}
