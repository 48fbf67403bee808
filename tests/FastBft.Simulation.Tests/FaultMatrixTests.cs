using FastBft.Simulation;

namespace FastBft.Simulation.Tests;

/// <summary>The combinatorial fault matrix (issue 3 §6) for f = 1: every scenario checks every invariant.</summary>
public class FaultMatrixF1Tests
{
    /// <summary>Seeds per matrix point.</summary>
    public const int Seeds = 5;

    public static TheoryData<string, ulong> Cases()
    {
        var data = new TheoryData<string, ulong>();
        foreach (var s in ScenarioMatrix.Generate("pbft", [1], Seeds)) data.Add(s.Name, s.Seed);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AllInvariantsHold(string scenario, ulong seed)
    {
        var r = SimulationTests.Run(Scenario.Parse("pbft", scenario, seed));
        Assert.True(r.Passed, r.ToString());
    }
}

/// <summary>The combinatorial fault matrix for f = 2 (a separate class so xunit runs it in parallel with f = 1).</summary>
public class FaultMatrixF2Tests
{
    public static TheoryData<string, ulong> Cases()
    {
        var data = new TheoryData<string, ulong>();
        foreach (var s in ScenarioMatrix.Generate("pbft", [2], FaultMatrixF1Tests.Seeds)) data.Add(s.Name, s.Seed);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AllInvariantsHold(string scenario, ulong seed)
    {
        var r = SimulationTests.Run(Scenario.Parse("pbft", scenario, seed));
        Assert.True(r.Passed, r.ToString());
    }
}
