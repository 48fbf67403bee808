using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Serialization;
using FastBft.Config;
using FastBft.Perf.Cell;
using FastBft.Perf.Output;

namespace FastBft.Perf.Commands;

/// <summary>One redis-benchmark run of `fastbft kv-compare` (JSON "runs" entry).</summary>
internal sealed record KvCompareRun(string Target, string Durability, int Pipeline, int Clients, double SetRps, double GetRps, long Errors);
/// <summary>fastbft ÷ redis for one durability and pipeline depth (JSON "ratios" entry).</summary>
internal sealed record KvCompareRatio(string Durability, int Pipeline, double Set, double Get);
/// <summary>The `fastbft kv-compare --json` document.</summary>
internal sealed record KvCompareResult(List<KvCompareRun> Runs, List<KvCompareRatio> Ratios);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(KvCompareResult))]
internal partial class KvCompareJson : JsonSerializerContext;

/// <summary>
/// `fastbft kv-compare`: in one invocation, runs `redis-benchmark -t set,get -c C -P p -n N` against an unreplicated
/// redis-server (free port, no persistence) and then against the Redis gateway of a FastBft KV cell (f=1, PBFT, four
/// replica processes on loopback UDP), for each pipeline depth and each durability (redis-server is measured again
/// right before each cell, so a ratio's two numbers are taken close together on a noisy machine), and prints both side
/// by side with fastbft/redis ratios (docs/kv.md §7). Needs redis-server and redis-benchmark (Debian redis-server, redis-tools) on PATH.
/// </summary>
internal static class KvCompareCommand
{
    private static readonly Option<int> Clients = new("--clients") { Description = "redis-benchmark -c: parallel connections", DefaultValueFactory = _ => 50 };
    private static readonly Option<int[]> Pipeline = new("--pipeline") { Description = "redis-benchmark -P depths, one run each", DefaultValueFactory = _ => [1, 16], AllowMultipleArgumentsPerToken = true };
    private static readonly Option<int> Requests = new("--requests") { Description = "redis-benchmark -n: requests per test (SET, GET)", DefaultValueFactory = _ => 100_000 };
    private static readonly Option<int> Keyspace = new("--keyspace") { Description = "redis-benchmark -r: random keys out of this many (0: redis-benchmark's default single key)", DefaultValueFactory = _ => 0 };
    private static readonly Option<string[]> Durability = new("--durability") { Description = "FastBft cell service.durability values, one cell each (none, process, fsync; docs/durability.md); redis-server is measured again beside each", DefaultValueFactory = _ => ["none"], AllowMultipleArgumentsPerToken = true };
    private static readonly Option<string?> Storage = new("--storage") { Description = "FastBft KV storage: memory or rocksdb (default: memory for durability none, rocksdb for process and fsync)" };
    private static readonly Option<int> Batch = new("--batch") { Description = "FastBft cell batch_size", DefaultValueFactory = _ => 64 };
    private static readonly Option<int> Slots = new("--slots") { Description = "gateway BFT client ids (requests in flight together); default: clients × the largest pipeline, at most 4096", DefaultValueFactory = _ => 0 };
    private static readonly Option<int> WarmupRequests = new("--warmup-requests") { Description = "unmeasured redis-benchmark requests (SET and GET, -P 16) against the FastBft gateway first, so its .NET processes run tiered-up code like the native redis-server (0: none)", DefaultValueFactory = _ => 30_000 };
    private static readonly Option<string?> Json = new("--json") { Description = "write {runs, ratios} as JSON to this file" };

    public static Command Create()
    {
        var cmd = new Command("kv-compare", "redis-benchmark against an unreplicated redis-server and against a FastBft KV cell (f=1, PBFT, 4 replica processes) behind the Redis gateway, side by side.");
        foreach (var o in new Option[] { Clients, Pipeline, Requests, Keyspace, Durability, Storage, Batch, Slots, WarmupRequests, Json }) cmd.Options.Add(o);
        cmd.SetAction(async (p, ct) => await RunAsync(p.GetValue(Clients), p.GetValue(Pipeline) ?? [1, 16], p.GetValue(Requests), p.GetValue(Keyspace),
            p.GetValue(Durability) ?? ["none"], p.GetValue(Storage), p.GetValue(Batch), p.GetValue(Slots), p.GetValue(WarmupRequests), p.GetValue(Json), ct));
        return cmd;
    }

    /// <summary>Finds <paramref name="name"/> on PATH, or null.</summary>
    public static string? FindOnPath(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            if (dir.Length == 0) continue;
            var p = Path.Combine(dir, name);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    private static async Task<int> RunAsync(int clients, int[] pipelines, int requests, int keyspace, string[] durabilities, string? storageOption, int batch, int slots, int warmup, string? jsonPath, CancellationToken ct)
    {
        string? server = FindOnPath("redis-server"), bench = FindOnPath("redis-benchmark");
        try
        {
            if (server is null || bench is null) throw new ConfigException($"kv-compare needs {(server is null ? "redis-server (Debian redis-server)" : "")}{(server is null && bench is null ? " and " : "")}{(bench is null ? "redis-benchmark (Debian redis-tools)" : "")} on PATH");
            if (clients < 1 || clients > 10_000) throw new ConfigException($"--clients: {clients} is out of range 1..10000");
            if (pipelines.Length == 0 || pipelines.Any(p => p < 1 || p > 1024)) throw new ConfigException("--pipeline: each depth must be in 1..1024");
            if (requests < 1) throw new ConfigException("--requests must be at least 1");
            if (keyspace < 0) throw new ConfigException("--keyspace must not be negative");
            if (warmup < 0) throw new ConfigException("--warmup-requests must not be negative");
            if (storageOption is not (null or "memory" or "rocksdb")) throw new ConfigException($"--storage: '{storageOption}' must be memory or rocksdb");
            if (durabilities.Length == 0 || durabilities.Distinct().Count() != durabilities.Length) throw new ConfigException("--durability: give each of none, process, fsync at most once");
            if (slots == 0) slots = Math.Min(4096, clients * pipelines.Max());
            // Checked before anything starts: service.durability (process/fsync need rocksdb), batch size.
            foreach (var durability in durabilities)
            {
                var probe = CellDefinition.Create(1, "0/0", serviceKind: "kv", batchSize: batch, protocol: "pbft");
                probe.Service.Durability = durability;
                probe.Service.Storage = StorageFor(durability, storageOption);
                if (probe.Service.Storage == "rocksdb") probe.Service.Path = Path.GetTempPath();
                probe.Validate();
            }
        }
        catch (ConfigException e) { Console.Error.WriteLine($"fastbft kv-compare: {e.Message}"); return 2; }

        var runs = new List<KvCompareRun>();
        try
        {
            foreach (var durability in durabilities)
            {
                string storage = StorageFor(durability, storageOption);
                // 1. redis-server alone.
                int port = FreeTcpPort();
                var redis = StartRedis(server!, port);
                try
                {
                    await WaitForPingAsync(port, TimeSpan.FromSeconds(10), ct);
                    foreach (int p in pipelines)
                    {
                        var r = await BenchAsync(bench!, port, clients, p, requests, keyspace, ct);
                        runs.Add(new KvCompareRun("redis", durability, p, clients, r.Set, r.Get, r.Errors));
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"redis    -P {p,-3}: SET {r.Set,12:N0}/s  GET {r.Get,12:N0}/s  errors {r.Errors}"));
                    }
                }
                finally { try { redis.Kill(entireProcessTree: true); redis.WaitForExit(5000); } catch (InvalidOperationException) { } redis.Dispose(); }

                // 2. FastBft: 4 replica processes + the gateway.
                var config = CellDefinition.Create(1, "0/0", serviceKind: "kv", batchSize: batch, protocol: "pbft");
                var dir = Directory.CreateTempSubdirectory("fastbft-kvcmp-");
                config.Service.Durability = durability;
                if (storage == "rocksdb") { config.Service.Storage = "rocksdb"; config.Service.Path = Path.Combine(dir.FullName, "kv"); }
                config.Validate();
                var configPath = Path.Combine(dir.FullName, "cell.json");
                await File.WriteAllTextAsync(configPath, config.ToJson(), ct);
                var replicas = new List<ProcessReplica>();
                Process? gateway = null;
                try
                {
                    var starts = Enumerable.Range(0, config.N).Select(i => ProcessReplica.StartAsync(configPath, (uint)i, TimeSpan.FromSeconds(30))).ToArray();
                    foreach (var s in starts) replicas.Add(await s);
                    (gateway, int gwPort) = await StartGatewayAsync(configPath, slots, ct);
                    Console.WriteLine($"fastbft: 4 replica processes (pbft, f=1, {storage}, durability {durability}), gateway on 127.0.0.1:{gwPort} with {slots} client ids");
                    if (warmup > 0)
                    {
                        var w = await BenchAsync(bench!, gwPort, clients, Math.Min(16, Math.Max(1, slots / clients)), warmup, keyspace, ct);
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fastbft warm-up ({warmup} SET + {warmup} GET, not measured): SET {w.Set:N0}/s  GET {w.Get:N0}/s  errors {w.Errors}"));
                    }
                    foreach (int p in pipelines)
                    {
                        // CPU per request of the gateway and of the four replicas together: where the time goes.
                        var gw0 = CpuOf(gateway); var rep0 = replicas.Sum(x => x.CpuTime().TotalSeconds);
                        var r = await BenchAsync(bench!, gwPort, clients, p, requests, keyspace, ct);
                        var gw1 = CpuOf(gateway); var rep1 = replicas.Sum(x => x.CpuTime().TotalSeconds);
                        runs.Add(new KvCompareRun("fastbft", durability, p, clients, r.Set, r.Get, r.Errors));
                        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"fastbft  -P {p,-3}: SET {r.Set,12:N0}/s  GET {r.Get,12:N0}/s  errors {r.Errors}  cpu/request: gateway {(gw1 - gw0) * 1e6 / (2.0 * requests):0.0} µs, 4 replicas {(rep1 - rep0) * 1e6 / (2.0 * requests):0.0} µs"));
                    }
                    bool consistent = await ConsistentAsync(replicas);
                    Console.WriteLine($"fastbft replicas consistent at the end: {(consistent ? "yes" : "NO")}");
                }
                finally
                {
                    if (gateway is not null) { try { gateway.StandardInput.Close(); if (!gateway.WaitForExit(5000)) gateway.Kill(true); } catch (InvalidOperationException) { } gateway.Dispose(); }
                    foreach (var r in replicas) r.Dispose();
                    try { dir.Delete(recursive: true); } catch (IOException) { }
                }
            }
        }
        catch (ConfigException e) { Console.Error.WriteLine($"fastbft kv-compare: {e.Message}"); return 2; }
        catch (Exception e) when (e is InvalidOperationException or IOException or TimeoutException or System.ComponentModel.Win32Exception)
        {
            Console.Error.WriteLine($"fastbft kv-compare failed: {e.Message}");
            return 1;
        }

        var ratios = new List<KvCompareRatio>();
        var table = Tables.Create("<durability", "pipeline", "clients", "redis SET/s", "fastbft SET/s", "SET ratio", "redis GET/s", "fastbft GET/s", "GET ratio", "errors r/f");
        var ci = CultureInfo.InvariantCulture;
        foreach (var durability in durabilities)
        foreach (int p in pipelines)
        {
            var r = runs.First(x => x.Target == "redis" && x.Durability == durability && x.Pipeline == p);
            var f = runs.First(x => x.Target == "fastbft" && x.Durability == durability && x.Pipeline == p);
            var ratio = new KvCompareRatio(durability, p, r.SetRps > 0 ? Math.Round(f.SetRps / r.SetRps, 4) : 0, r.GetRps > 0 ? Math.Round(f.GetRps / r.GetRps, 4) : 0);
            ratios.Add(ratio);
            Tables.Row(table, durability, p.ToString(ci), clients.ToString(ci), r.SetRps.ToString("N0", ci), f.SetRps.ToString("N0", ci), ratio.Set.ToString("0.000", ci),
                r.GetRps.ToString("N0", ci), f.GetRps.ToString("N0", ci), ratio.Get.ToString("0.000", ci), $"{r.Errors}/{f.Errors}");
        }
        Tables.Write(Console.Out, table);
        Console.WriteLine($"(redis-benchmark -t set,get -c {clients} -n {requests}{(keyspace > 0 ? $" -r {keyspace}" : "")}; ratio = fastbft / redis)");
        if (jsonPath is not null)
            await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(new KvCompareResult(runs, ratios), KvCompareJson.Default.KvCompareResult), ct);
        return runs.All(r => r.Errors == 0 && r.SetRps > 0 && r.GetRps > 0) ? 0 : 1;
    }

    /// <summary>The KV storage of the cell for <paramref name="durability"/>: --storage if given, else memory for none and rocksdb for process/fsync.</summary>
    private static string StorageFor(string durability, string? storageOption) => storageOption ?? (durability == "none" ? "memory" : "rocksdb");

    private static double CpuOf(Process p)
    {
        try { p.Refresh(); return p.TotalProcessorTime.TotalSeconds; }
        catch (InvalidOperationException) { return 0; }
    }

    internal static int FreeTcpPort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private static Process StartRedis(string server, int port)
    {
        var psi = new ProcessStartInfo(server) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no", "--logfile", "" })
            psi.ArgumentList.Add(a);
        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start redis-server");
        ChildProcesses.Track(p);
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine(); p.BeginErrorReadLine();
        return p;
    }

    private static async Task WaitForPingAsync(int port, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            try
            {
                using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), ct);
                await s.SendAsync("PING\r\n"u8.ToArray(), ct);
                var buf = new byte[16];
                int n = await s.ReceiveAsync(buf, ct);
                if (n >= 5 && buf[0] == '+') return;
            }
            catch (SocketException) { }
            await Task.Delay(50, ct);
        }
        throw new TimeoutException($"redis-server on port {port} did not answer PING within {timeout.TotalSeconds} s");
    }

    /// <summary>Starts `fastbft kv-gateway` on a free port; returns it once it printed READY.</summary>
    internal static async Task<(Process Gateway, int Port)> StartGatewayAsync(string configPath, int slots, CancellationToken ct)
    {
        var psi = SelfCommand.Start("kv-gateway", "--config", configPath, "--listen", "127.0.0.1:0", "--slots", slots.ToString(CultureInfo.InvariantCulture), "--stdin-control");
        psi.RedirectStandardInput = true; psi.RedirectStandardOutput = true;
        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start the gateway");
        ChildProcesses.Track(p);
        var line = await p.StandardOutput.ReadLineAsync(ct).AsTask().WaitAsync(TimeSpan.FromSeconds(30), ct);
        if (line is null || !line.StartsWith("READY ", StringComparison.Ordinal) || !IPEndPoint.TryParse(line[6..], out var ep))
        {
            try { p.Kill(true); } catch (InvalidOperationException) { }
            throw new InvalidOperationException($"kv-gateway did not start (first output: {line ?? "<exited>"})");
        }
        return (p, ep.Port);
    }

    /// <summary>Runs redis-benchmark -t set,get --csv; returns SET/s, GET/s and the errors: redis-benchmark 7 stops at the first error reply ("Error from server: …", non-zero exit), so this counts error lines plus one for a failed exit.</summary>
    internal static async Task<(double Set, double Get, long Errors, string Output)> BenchAsync(string bench, int port, int clients, int pipeline, int requests, int keyspace, CancellationToken ct, string tests = "set,get")
    {
        var psi = new ProcessStartInfo(bench) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        var args = new List<string> { "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-t", tests, "-c", clients.ToString(CultureInfo.InvariantCulture),
            "-P", pipeline.ToString(CultureInfo.InvariantCulture), "-n", requests.ToString(CultureInfo.InvariantCulture), "--csv" };
        if (keyspace > 0) { args.Add("-r"); args.Add(keyspace.ToString(CultureInfo.InvariantCulture)); }
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start redis-benchmark");
        ChildProcesses.Track(p);
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        var stderr = p.StandardError.ReadToEndAsync(ct);
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            timeout.CancelAfter(TimeSpan.FromMinutes(10));
            try { await p.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested) { p.Kill(true); throw new TimeoutException("redis-benchmark did not finish in 10 minutes"); }
        }
        string output = await stdout + await stderr;
        double set = 0, get = 0;
        long errors = p.ExitCode != 0 ? 1 : 0;
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("Error", StringComparison.OrdinalIgnoreCase) || line.Contains("Error from server", StringComparison.Ordinal)) errors++;
            var cells = line.Split(',');
            if (cells.Length < 2) continue;
            string name = cells[0].Trim('"');
            if (!double.TryParse(cells[1].Trim('"'), NumberStyles.Float, CultureInfo.InvariantCulture, out double rps)) continue;
            if (name == "SET") set = rps;
            else if (name == "GET") get = rps;
        }
        return (set, get, errors, output);
    }

    private static async Task<bool> ConsistentAsync(List<ProcessReplica> replicas)
    {
        // Let the last requests reach every replica, then compare (last executed, state digest).
        for (int attempt = 0; attempt < 40; attempt++)
        {
            var status = await Task.WhenAll(replicas.Select(r => r.StatusAsync(TimeSpan.FromSeconds(10))));
            if (status.All(s => s.LastExecuted == status[0].LastExecuted && s.StateDigest == status[0].StateDigest)) return true;
            await Task.Delay(250);
        }
        return false;
    }
}
