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
        var cmd = new Command("compare", "Run several configurations alternately and report medians and ratios to the first.");
        cmd.Options.Add(configs); cmd.Options.Add(rounds); cmd.Options.Add(json);
        cmd.SetAction(async (parse, ct) => await ExecuteAsync(parse.GetValue(configs)!, parse.GetValue(rounds), parse.GetValue(json), ct));
        return cmd;
    }

    private static async Task<int> ExecuteAsync(string[] configs, int rounds, string? jsonPath, CancellationToken ct)
    {
        if (configs.Length < 1) { Console.Error.WriteLine("fastbft compare: give at least one --configs entry"); return 2; }
        if (rounds < 1) { Console.Error.WriteLine("fastbft compare: --rounds must be ≥ 1"); return 2; }
        var runCmd = RunCommand.Create();
        var options = new List<RunOptions>();
        foreach (var c in configs)
        {
            var parse = runCmd.Parse(SplitArgs(c));
            if (parse.Errors.Count > 0) { Console.Error.WriteLine($"fastbft compare: in \"{c}\": {string.Join("; ", parse.Errors.Select(e => e.Message))}"); return 2; }
            options.Add(RunCommand.Bind(parse) with { Label = c.Trim(), Quiet = true, JsonPath = null });
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
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {r.ThroughputRps,10:N0} req/s  p50 {r.LatencyP50Ms:0.000} ms  p99 {r.LatencyP99Ms:0.000} ms  cpu {r.CpuUsPerRequest:0.0} µs/req  consistent {r.ReplicasConsistent}"));
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
                Median(rs.Select(r => r.LatencyP50Ms)), Median(rs.Select(r => r.LatencyP99Ms))));
        }
        var ratios = entries.Select(e => new CompareRatio(e.Name,
            Ratio(e.ThroughputRps, entries[0].ThroughputRps), Ratio(e.CpuUsPerRequest, entries[0].CpuUsPerRequest))).ToList();
        Console.WriteLine();
        Console.WriteLine($"{"configuration",-44} {"req/s",10} {"cpu µs/req",11} {"p50 ms",8} {"p99 ms",8} {"×thr",6} {"×cpu",6}");
        for (int i = 0; i < entries.Count; i++)
        {
            var e = entries[i];
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{Trunc(e.Name, 44),-44} {e.ThroughputRps,10:N0} {e.CpuUsPerRequest,11:0.0} {e.LatencyP50Ms,8:0.000} {e.LatencyP99Ms,8:0.000} {ratios[i].Throughput,6:0.00} {ratios[i].CpuUsPerRequest,6:0.00}"));
        }
        Console.WriteLine($"(medians of {rounds} alternating rounds; ratios = configuration / first)");
        if (jsonPath is not null)
            await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(new CompareResult(entries, ratios), HarnessJson.Default.CompareResult), ct);
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
}
