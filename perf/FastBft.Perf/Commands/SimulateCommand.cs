using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FastBft.Simulation;
using FastBft.Workloads;

namespace FastBft.Perf.Commands;

/// <summary>
/// `fastbft simulate --protocol pbft [--f 1] [--scenarios N] [--seed S] [--scenario NAME] [--json m.json]`:
/// runs the deterministic simulator's fault matrix (or one replayed scenario) outside the test
/// runner, prints a summary table per faulty role and behaviour, and exits 0 only if every
/// invariant held in every scenario.
/// </summary>
internal static class SimulateCommand
{
    public static Command Create()
    {
        var protocol = new Option<string>("--protocol") { Description = "protocol core (pbft)", DefaultValueFactory = _ => "pbft" };
        var f = new Option<int[]>("--f") { Description = "f values of the matrix (default 1 and 2)", AllowMultipleArgumentsPerToken = true };
        var scenarios = new Option<int>("--scenarios") { Description = "number of matrix scenarios to run (seeds per point grow to reach it)", DefaultValueFactory = _ => 2000 };
        var seed = new Option<ulong?>("--seed") { Description = "with --scenario: replay this seed; otherwise the base seed of the matrix" };
        var scenario = new Option<string?>("--scenario") { Description = "replay one scenario, e.g. f1/leader/crash/early/clean (needs --seed)" };
        var commitQuorum = new Option<int>("--commit-quorum") { Description = "test-only: plant the COMMIT quorum bug (e.g. 2f)", DefaultValueFactory = _ => 0 };
        var json = new Option<string?>("--json") { Description = "write the result as JSON to this file" };
        var cmd = new Command("simulate", "Run the deterministic fault-matrix simulator and check agreement, validity, convergence and liveness.");
        foreach (var o in new Option[] { protocol, f, scenarios, seed, scenario, commitQuorum, json }) cmd.Options.Add(o);
        cmd.SetAction(parse => Execute(parse.GetValue(protocol)!, parse.GetValue(f), parse.GetValue(scenarios), parse.GetValue(seed),
            parse.GetValue(scenario), parse.GetValue(commitQuorum), parse.GetValue(json)));
        return cmd;
    }

    private static int Execute(string protocol, int[]? fs, int count, ulong? seed, string? scenarioName, int commitQuorum, string? jsonPath)
    {
        ISimProtocol proto;
        try { proto = SimProtocols.Get(protocol); }
        catch (ArgumentException e) { Console.Error.WriteLine($"fastbft simulate: {e.Message}"); return 2; }
        if (fs is null || fs.Length == 0) fs = [1, 2];
        List<Scenario> list;
        if (scenarioName is not null)
        {
            if (seed is null) { Console.Error.WriteLine("fastbft simulate: --scenario needs --seed"); return 2; }
            try { list = [Scenario.Parse(proto.Name, scenarioName, seed.Value) with { CommitQuorum = commitQuorum }]; }
            catch (FormatException e) { Console.Error.WriteLine($"fastbft simulate: {e.Message}"); return 2; }
        }
        else
        {
            if (count < 1) { Console.Error.WriteLine("fastbft simulate: --scenarios must be ≥ 1"); return 2; }
            int points = ScenarioMatrix.Generate(proto.Name, fs, 1).Count();
            int seedsPerPoint = (count + points - 1) / points;
            list = ScenarioMatrix.Generate(proto.Name, fs, seedsPerPoint, seed ?? 1).Take(count).Select(s => s with { CommitQuorum = commitQuorum }).ToList();
        }
        var sw = Stopwatch.StartNew();
        var results = new List<SimulationResult>(list.Count);
        foreach (var s in list)
        {
            var r = new Simulator(s, proto, () => new CounterService()).Run();
            results.Add(r);
            if (!r.Passed) Console.WriteLine(r.ToString());
        }
        sw.Stop();
        Console.WriteLine();
        var table = FastBft.Perf.Output.Tables.Create("<f/role/behaviour", "runs", "passed", "failed", "liveness-unchecked");
        foreach (var g in results.GroupBy(r => $"f{r.Scenario.F}/{r.Scenario.Role}/{r.Scenario.Behaviour}".ToLowerInvariant()).OrderBy(g => g.Key, StringComparer.Ordinal))
            FastBft.Perf.Output.Tables.Row(table, g.Key, g.Count().ToString(CultureInfo.InvariantCulture), g.Count(r => r.Passed).ToString(CultureInfo.InvariantCulture),
                g.Count(r => !r.Passed).ToString(CultureInfo.InvariantCulture), g.Count(r => !r.LivenessChecked).ToString(CultureInfo.InvariantCulture));
        FastBft.Perf.Output.Tables.Write(Console.Out, table);
        int failed = results.Count(r => !r.Passed);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{proto.Name}: {results.Count} scenarios, {results.Count - failed} passed, {failed} failed in {sw.Elapsed.TotalSeconds:0.0} s"));
        if (jsonPath is not null)
        {
            var doc = new
            {
                protocol = proto.Name,
                scenarios = results.Count,
                passed = results.Count - failed,
                failed,
                failures = results.Where(r => !r.Passed).Select(r => new { seed = r.Scenario.Seed, scenario = r.Scenario.Name, invariant = r.Invariant, detail = r.Detail, replay = r.Scenario.ReplayCommand }).ToArray(),
            };
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
        }
        return failed == 0 ? 0 : 1;
    }
}
