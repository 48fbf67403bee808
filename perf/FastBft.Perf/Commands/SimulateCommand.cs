using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FastBft.Simulation;
using FastBft.Workloads;

namespace FastBft.Perf.Commands;

/// <summary>
/// `fastbft simulate --protocol pbft [--f 1 2 3] [--scenarios N | --ci] [--seed S] [--scenario NAME] [--parallel N] [--json m.json]`:
/// runs the deterministic simulator's fault matrix (<see cref="FaultMatrix"/>, the definition the
/// tests' combinatorial theories draw from; <c>--ci</c>: exactly the tests' CI scenarios), or one replayed scenario, outside the test
/// runner on N threads (a scenario's result depends only on its name and seed, so the output does
/// not depend on N), prints failures in matrix order, a summary table per faulty role and
/// behaviour and the throughput, and exits 0 only if every invariant held in every scenario.
/// </summary>
internal static class SimulateCommand
{
    public static Command Create()
    {
        var protocol = new Option<string>("--protocol") { Description = "protocol core (pbft, repbft, repbft-star, minbft, reminbft; pbft-odrc, minbft-odrc: with the ODRC execution stage and the KV store, docs/odrc.md §6)", DefaultValueFactory = _ => "pbft" };
        var f = new Option<int[]>("--f") { Description = "f values of the matrix (default: the matrix's, 1, 2 and 3)", AllowMultipleArgumentsPerToken = true };
        var scenarios = new Option<int>("--scenarios") { Description = "number of matrix scenarios to run (seeds per point grow to reach it)", DefaultValueFactory = _ => 2000 };
        var seed = new Option<ulong?>("--seed") { Description = "with --scenario: replay this seed; otherwise the base seed of the matrix" };
        var scenario = new Option<string?>("--scenario") { Description = "replay one scenario, e.g. f1/leader/crash/early/clean (needs --seed)" };
        var commitQuorum = new Option<int>("--commit-quorum") { Description = "test-only: plant the COMMIT quorum bug (e.g. 2f)", DefaultValueFactory = _ => 0 };
        var json = new Option<string?>("--json") { Description = "write the result as JSON to this file" };
        var parallel = new Option<int>("--parallel") { Description = "worker threads (default: processor count); results do not depend on it", DefaultValueFactory = _ => Environment.ProcessorCount };
        var only = new Option<string?>("--only") { Description = "run only matrix points whose name contains this text (e.g. /twins/ or f2/leader/)" };
        var ci = new Option<bool>("--ci") { Description = "run exactly the scenarios of the CI matrix tests (the matrix's CI seeds per f from base seed 1; pbft: 10,430 for f = 1..3; minbft: 2,380 for f = 1, 2; ignores --scenarios and --seed)" };
        var execution = new Option<string>("--execution") { Description = "sequential (the agreement matrix) or odrc (the ODRC matrix: faulty execution replica, faulty selector, stalled checkpoints, cross-border chains, never-ordered notices; ODRC4, ODRC6, f=2 cells; docs/odrc.md)", DefaultValueFactory = _ => "sequential" };
        var service = new Option<string>("--service") { Description = "--execution odrc: kv or coord", DefaultValueFactory = _ => "kv" };
        var writeKnowledge = new Option<bool>("--write-knowledge") { Description = "--execution odrc: the selectors use the service's write knowledge (Thesis §6.6.1.2; docs/odrc.md §3a)" };
        var cmd = new Command("simulate", "Run the deterministic fault-matrix simulator and check agreement, validity, convergence and liveness.");
        foreach (var o in new Option[] { protocol, f, scenarios, seed, scenario, commitQuorum, json, parallel, only, ci, execution, service, writeKnowledge }) cmd.Options.Add(o);
        cmd.SetAction(parse => parse.GetValue(execution) == "odrc"
            ? FastBft.Perf.Odrc.OdrcSimulate.Run(parse.GetValue(service)!, parse.GetValue(scenarios), parse.GetValue(ci), parse.GetValue(seed) ?? 0, parse.GetValue(parallel), Console.Out, parse.GetValue(writeKnowledge))
            : Execute(parse.GetValue(protocol)!, parse.GetValue(f), parse.GetValue(scenarios), parse.GetValue(seed),
            parse.GetValue(scenario), parse.GetValue(commitQuorum), parse.GetValue(json), parse.GetValue(parallel), parse.GetValue(only), parse.GetValue(ci)));
        return cmd;
    }

    private static int Execute(string protocol, int[]? fs, int count, ulong? seed, string? scenarioName, int commitQuorum, string? jsonPath, int parallel, string? only, bool ci)
    {
        ISimProtocol proto;
        try { proto = SimProtocols.Get(protocol); }
        catch (ArgumentException e) { Console.Error.WriteLine($"fastbft simulate: {e.Message}"); return 2; }
        Func<FastBft.Service.IReplicatedService> service = static () => new CounterService();
        if (proto is FastBft.Simulation.Odrc.OdrcSimProtocol odrc)
        {
            // pbft-odrc, minbft-odrc: the KV store, clients sending the ODRC simulator's KV operations (docs/odrc.md §6)
            proto = odrc.WithWorkload(FastBft.Perf.Odrc.KvSimWorkload.Instance);
            service = static () => new FastBft.Workloads.Kv.KvService(new FastBft.Workloads.Kv.MemoryKvStore());
        }
        if (fs is null || fs.Length == 0) fs = [.. FaultMatrix.Fs];
        List<Scenario> list;
        if (scenarioName is not null)
        {
            if (seed is null) { Console.Error.WriteLine("fastbft simulate: --scenario needs --seed"); return 2; }
            try { list = [Scenario.Parse(proto.Name, scenarioName, seed.Value) with { CommitQuorum = commitQuorum }]; }
            catch (FormatException e) { Console.Error.WriteLine($"fastbft simulate: {e.Message}"); return 2; }
        }
        else if (ci)
        {
            list = FaultMatrix.CiScenarios(proto.Name)
                .Where(s => fs.Contains(s.F) && (only is null || s.Name.Contains(only, StringComparison.OrdinalIgnoreCase)))
                .Select(s => s with { CommitQuorum = commitQuorum }).ToList();
            if (list.Count == 0) { Console.Error.WriteLine($"fastbft simulate: no CI scenario matches --f / --only"); return 2; }
        }
        else
        {
            if (count < 1) { Console.Error.WriteLine("fastbft simulate: --scenarios must be ≥ 1"); return 2; }
            Func<Scenario, bool> include = only is null ? _ => true : p => p.Name.Contains(only, StringComparison.OrdinalIgnoreCase);
            int points = ScenarioMatrix.Points(proto.Name, fs).Count(include);
            if (points == 0) { Console.Error.WriteLine($"fastbft simulate: no matrix point matches --only {only}"); return 2; }
            int seedsPerPoint = (count + points - 1) / points;
            list = ScenarioMatrix.Generate(proto.Name, fs, seedsPerPoint, seed ?? 1, include).Take(count).Select(s => s with { CommitQuorum = commitQuorum }).ToList();
        }
        if (parallel < 1) { Console.Error.WriteLine("fastbft simulate: --parallel must be ≥ 1"); return 2; }
        var sw = Stopwatch.StartNew();
        var slots = new SimulationResult?[list.Count];
        int printed = 0;
        var gate = new object();
        Parallel.For(0, list.Count, new ParallelOptions { MaxDegreeOfParallelism = parallel }, i =>
        {
            slots[i] = new Simulator(list[i], proto, service).Run();
            lock (gate)
            {
                // Print failures in matrix order as soon as every earlier scenario has finished.
                while (printed < slots.Length && slots[printed] is { } r) { if (!r.Passed) Console.WriteLine(r.ToString()); printed++; }
            }
        });
        sw.Stop();
        var results = slots.Select(r => r!).ToList();
        Console.WriteLine();
        var table = FastBft.Perf.Output.Tables.Create("<f/role/behaviour", "runs", "passed", "failed", "liveness-unchecked");
        foreach (var g in results.GroupBy(r => $"f{r.Scenario.F}/{r.Scenario.Role}/{r.Scenario.Behaviour}".ToLowerInvariant()).OrderBy(g => g.Key, StringComparer.Ordinal))
            FastBft.Perf.Output.Tables.Row(table, g.Key, g.Count().ToString(CultureInfo.InvariantCulture), g.Count(r => r.Passed).ToString(CultureInfo.InvariantCulture),
                g.Count(r => !r.Passed).ToString(CultureInfo.InvariantCulture), g.Count(r => !r.LivenessChecked).ToString(CultureInfo.InvariantCulture));
        FastBft.Perf.Output.Tables.Write(Console.Out, table);
        int failed = results.Count(r => !r.Passed);
        foreach (var g in results.Where(r => !r.Passed).GroupBy(r => r.Invariant).OrderBy(g => g.Key, StringComparer.Ordinal))
            Console.WriteLine($"  {g.Key}: {g.Count()}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{proto.Name}: {results.Count} scenarios, {results.Count - failed} passed, {failed} failed in {sw.Elapsed.TotalSeconds:0.0} s ({results.Count / Math.Max(sw.Elapsed.TotalSeconds, 1e-9):0.0} scenarios/s on {parallel} threads)"));
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
