using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using FastBft.Perf.Cell;

namespace FastBft.Perf.Commands;

/// <summary>
/// `fastbft compare --configs "A opts" "B opts" … [--rounds 3] [--json c.json]`: runs the
/// configurations alternately (A B A B …) in one invocation, so shared-machine noise hits all of them,
/// and prints each one's median figures and its ratios to the first.
/// </summary>
internal static class CompareCommand
{
    public static Command Create()
    {
        var configs = new Option<string[]>("--configs") { Description = "run options of each configuration, one quoted string each (e.g. \"--workload 0/0\" \"--workload 0/4\")", Required = true, AllowMultipleArgumentsPerToken = true };
        var rounds = new Option<int>("--rounds") { Description = "alternating rounds; medians are reported", DefaultValueFactory = _ => 3 };
        var json = new Option<string?>("--json") { Description = "write the comparison as JSON to this file" };
        var plot = new Option<string?>("--plot") { Description = "write a PNG: median requests/s per configuration with the min..max spread of its rounds" };
        var cmd = new Command("compare", "Run several configurations alternately and report medians and ratios to the first.");
        cmd.Options.Add(configs); cmd.Options.Add(rounds); cmd.Options.Add(json); cmd.Options.Add(plot);
        cmd.SetAction(async (parse, ct) => await ExecuteAsync(parse.GetValue(configs)!, parse.GetValue(rounds), parse.GetValue(json), parse.GetValue(plot), ct));
        return cmd;
    }

    private static async Task<int> ExecuteAsync(string[] configs, int rounds, string? jsonPath, string? plotPath, CancellationToken ct)
    {
        if (configs.Length < 1) { Console.Error.WriteLine("fastbft compare: give at least one --configs entry"); return 2; }
        if (rounds < 1) { Console.Error.WriteLine("fastbft compare: --rounds must be ≥ 1"); return 2; }
        var runCmd = RunCommand.Create();
        var options = new List<RunOptions>();
        foreach (var c in configs)
        {
            var parse = runCmd.Parse(SplitArgs(c));
            if (parse.Errors.Count > 0) { Console.Error.WriteLine($"fastbft compare: in \"{c}\": {string.Join("; ", parse.Errors.Select(e => e.Message))}"); return 2; }
            var o = RunCommand.Bind(parse) with { Label = c.Trim(), Quiet = true, JsonPath = null, PlotPath = null };
            try { new CellRunner(o, TextWriter.Null).Validate(); }
            catch (FastBft.Config.ConfigException e) { Console.Error.WriteLine($"fastbft compare: in \"{c}\": {e.Message}"); return 2; }
            options.Add(o);
        }
        var results = options.Select(_ => new List<RunResult>()).ToList();
        bool allOk = true;
        for (int round = 1; round <= rounds; round++)
        {
            for (int i = 0; i < options.Count; i++)
            {
                Console.WriteLine($"round {round}/{rounds}: [{options[i].Label}]");
                try
                {
                    var r = await new CellRunner(options[i], Console.Out).RunAsync(ct);
                    results[i].Add(r);
                    allOk &= r.ReplicasConsistent;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {r.ThroughputRps,10:N0} req/s  p50 {r.LatencyP50Ms:0.000} ms  p99 {r.LatencyP99Ms:0.000} ms  max {r.LatencyMaxMs:0.000} ms  cpu {r.CpuUsPerRequest:0.0} µs/req  consistent {r.ReplicasConsistent}{WhyInconsistent(r)}"));
                    foreach (var f in r.Faults)
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    fault {f.Spec} → replica {f.Replica}: recovery {f.RecoveryMs:0.0} ms, max latency {f.MaxLatencyMs:0.0} ms"));
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Console.Error.WriteLine($"  failed: {e.Message}");
                    allOk = false;
                }
            }
        }
        var entries = new List<CompareEntry>();
        for (int i = 0; i < options.Count; i++)
        {
            var rs = results[i];
            entries.Add(new CompareEntry(options[i].Label,
                Median(rs.Select(r => r.ThroughputRps)), Median(rs.Select(r => r.CpuUsPerRequest)),
                Median(rs.Select(r => r.LatencyP50Ms)), Median(rs.Select(r => r.LatencyP99Ms)),
                rs.Count == 0 ? 0 : rs.Min(r => r.ThroughputRps), rs.Count == 0 ? 0 : rs.Max(r => r.ThroughputRps))
            {
                OdrcCrossBorderShare = rs.Count == 0 ? -1 : Median(rs.Select(r => r.OdrcCrossBorderShare)),
                OdrcExecutionsPerRequest = rs.Count == 0 ? -1 : Median(rs.Select(r => r.OdrcExecutionsPerRequest)),
            });
        }
        var ratios = entries.Select(e => new CompareRatio(e.Name,
            Ratio(e.ThroughputRps, entries[0].ThroughputRps), Ratio(e.CpuUsPerRequest, entries[0].CpuUsPerRequest))).ToList();
        Console.WriteLine();
        bool odrc = entries.Any(e => e.OdrcCrossBorderShare >= 0);
        var table = odrc ? Output.Tables.Create("<configuration", "req/s", "min..max req/s", "cpu µs/req", "p50 ms", "p99 ms", "×thr", "×cpu", "cross-border", "exec/req")
            : Output.Tables.Create("<configuration", "req/s", "min..max req/s", "cpu µs/req", "p50 ms", "p99 ms", "×thr", "×cpu");
        var ci = CultureInfo.InvariantCulture;
        for (int i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            var cells = new List<string> { Trunc(e.Name, 120), e.ThroughputRps.ToString("N0", ci), string.Create(ci, $"{e.ThroughputMinRps:N0}..{e.ThroughputMaxRps:N0}"),
                e.CpuUsPerRequest.ToString("0.0", ci), e.LatencyP50Ms.ToString("0.000", ci), e.LatencyP99Ms.ToString("0.000", ci),
                ratios[i].Throughput.ToString("0.00", ci), ratios[i].CpuUsPerRequest.ToString("0.00", ci) };
            if (odrc)
            {
                cells.Add(e.OdrcCrossBorderShare >= 0 ? string.Create(ci, $"{e.OdrcCrossBorderShare * 100:0.0}%") : "—");
                cells.Add(e.OdrcExecutionsPerRequest >= 0 ? e.OdrcExecutionsPerRequest.ToString("0.00", ci) : "—");
            }
            Output.Tables.Row(table, cells.ToArray());
        }
        Output.Tables.Write(Console.Out, table);
        Console.WriteLine($"(medians of {rounds} alternating rounds; ratios = configuration / first)");
        if (jsonPath is not null)
            await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(new CompareResult(entries, ratios), HarnessJson.Default.CompareResult), ct);
        if (plotPath is not null)
        {
            Output.Plots.Compare(entries, results, plotPath);
            Console.WriteLine($"plot written to {plotPath}");
        }
        return allOk ? 0 : 1;
    }

    private static string Trunc(string s, int n) => s.Length <= n ? s : s[..(n - 1)] + "…";
    private static double Ratio(double a, double b) => b == 0 ? 0 : Math.Round(a / b, 3);

    private static double Median(IEnumerable<double> values)
    {
        var a = values.OrderBy(x => x).ToArray();
        if (a.Length == 0) return 0;
        return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
    }

    internal static string[] SplitArgs(string s)
    {
        var list = new List<string>();
        var cur = new System.Text.StringBuilder();
        char quote = '\0';
        foreach (var ch in s)
        {
            if (quote != '\0') { if (ch == quote) quote = '\0'; else cur.Append(ch); }
            else if (ch is '"' or '\'') quote = ch;
            else if (char.IsWhiteSpace(ch)) { if (cur.Length > 0) { list.Add(cur.ToString()); cur.Clear(); } }
            else cur.Append(ch);
        }
        if (cur.Length > 0) list.Add(cur.ToString());
        return list.ToArray();
    }

    /// <summary>Why a round reports "consistent False": the replicas never reached one sequence number within the convergence
    /// timeout (e.g. an execution-only replica of an extended ODRC cell left behind), or they did and their state digests differ.</summary>
    private static string WhyInconsistent(RunResult r)
    {
        if (r.ReplicasConsistent || r.Replicas.Length == 0) return "";
        var ci = CultureInfo.InvariantCulture;
        if (Array.TrueForAll(r.Replicas, x => x.LastExecuted == r.Replicas[0].LastExecuted))
            return string.Create(ci, $" (state digests differ at sequence {r.Replicas[0].LastExecuted})");
        return " (not converged: " + string.Join(", ", r.Replicas.Select(x => string.Create(ci, $"r{x.Id} at {x.LastExecuted}"))) + ")";
    }
}
