using System.Diagnostics;
using System.Text.Json;
using FastBft.Perf.Cell;
using FastBft.Tests.Shared;

namespace FastBft.Integration.Tests;

/// <summary>
/// The KV service behind the Redis gateway over real processes (issue 13 (c)): four replica processes on loopback UDP,
/// `fastbft kv-gateway` in front of them, and the unmodified redis-benchmark and redis-cli (Debian redis-tools) as
/// clients. Skipped, with the reason, only when redis-benchmark / redis-cli / redis-server are not installed.
/// </summary>
public sealed class KvGatewayProcessTests
{
    private static string? Find(string name) => FastBft.Perf.Commands.KvCompareCommand.FindOnPath(name);

    /// <summary>Starts `dotnet fastbft.dll args…` with stdin/stdout redirected (the child exits when its stdin closes) and waits for its READY line.</summary>
    private static (Process Process, string Ready) StartHarnessChild(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "fastbft.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = false, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        var line = p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
        Assert.True(line is not null && line.StartsWith("READY", StringComparison.Ordinal), $"{args[0]} did not start: {line ?? "<exited>"}");
        return (p, line!);
    }

    private static void Stop(Process p)
    {
        try { p.StandardInput.Close(); if (!p.WaitForExit(5000)) p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        p.Dispose();
    }

    private static (int Exit, string Output) Tool(string path, params string[] args)
    {
        var psi = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(2))) { p.Kill(true); Assert.Fail($"{Path.GetFileName(path)} {string.Join(' ', args)} did not finish in 2 minutes"); }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    [Fact]
    public void RedisBenchmarkAndRedisCliWorkAgainstTheGatewayOfAFourReplicaCell()
    {
        string? bench = Find("redis-benchmark"), cli = Find("redis-cli");
        Assert.SkipWhen(bench is null || cli is null, "redis-benchmark / redis-cli are not installed (Debian redis-tools; .ci/apt-packages-kv.txt installs them in CI)");
        var config = CellDefinition.Create(1, "0/0", serviceKind: "kv");
        var dir = Directory.CreateTempSubdirectory("fastbft-kvgw-test-");
        var configPath = Path.Combine(dir.FullName, "cell.json");
        File.WriteAllText(configPath, config.ToJson());
        var children = new List<Process>();
        try
        {
            for (int i = 0; i < config.N; i++) children.Add(StartHarnessChild("replica", "--config", configPath, "--id", i.ToString()).Process);
            var (gateway, ready) = StartHarnessChild("kv-gateway", "--config", configPath, "--listen", "127.0.0.1:0", "--slots", "64", "--stdin-control");
            children.Add(gateway);
            string port = ready[(ready.LastIndexOf(':') + 1)..];

            var (exit, output) = Tool(bench!, "-h", "127.0.0.1", "-p", port, "-t", "set,get,incr,mset", "-n", "2000", "-c", "8", "-P", "4", "-r", "500", "--csv");
            Assert.True(exit == 0, $"redis-benchmark exit {exit}: {output}");
            Assert.DoesNotContain("Error", output);
            foreach (var test in new[] { "\"SET\"", "\"GET\"", "\"INCR\"", "\"MSET (10 keys)\"" }) Assert.Contains(test, output);

            string Cli(params string[] a) { var (e, o) = Tool(cli!, ["-h", "127.0.0.1", "-p", port, .. a]); Assert.True(e == 0, $"redis-cli {string.Join(' ', a)}: exit {e}: {o}"); return o.Trim(); }
            Assert.Equal("OK", Cli("set", "fb:greeting", "hello world"));
            Assert.Equal("hello world", Cli("get", "fb:greeting"));
            Assert.Equal("OK", Cli("mset", "fb:a", "1", "fb:b", "2"));
            Assert.Equal("1\n2\n", Cli("mget", "fb:a", "fb:b", "fb:none") + "\n");
            Assert.Equal("3", Cli("incrby", "fb:b", "1"));
            Assert.Equal("1", Cli("cas", "fb:b", "3", "7"));
            Assert.Equal("7", Cli("get", "fb:b"));
            Assert.Equal("2", Cli("exists", "fb:a", "fb:b", "fb:none"));
            Assert.Equal("1", Cli("del", "fb:a"));
            Assert.Equal("", Cli("get", "fb:a"));
            Assert.StartsWith("ERR unknown command", Cli("flushall"));
            Assert.StartsWith("ERR value is not an integer", Cli("incr", "fb:greeting"));
            // What redis-benchmark wrote is there: its INCR counter key holds a positive integer.
            Assert.True(long.Parse(Cli("incrby", "counter:__rand_int__", "0")) >= 0);
        }
        finally
        {
            foreach (var c in children) Stop(c);
            try { dir.Delete(true); } catch (IOException) { }
        }
    }

    [Fact]
    public void KvCompareWritesTheJsonDocument()
    {
        Assert.SkipWhen(Find("redis-benchmark") is null || Find("redis-server") is null, "redis-benchmark / redis-server are not installed (Debian redis-tools, redis-server)");
        var json = Path.Combine(Path.GetTempPath(), $"fastbft-kvcmp-{Guid.NewGuid():N}.json");
        try
        {
            var (exit, output) = HarnessProcess.Run(null, "kv-compare", "--clients", "8", "--pipeline", "1", "4", "--requests", "1000", "--warmup-requests", "500",
                "--durability", "none", "fsync", "--json", json);
            Assert.True(exit == 0, $"exit {exit}: {output}");
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var runs = doc.RootElement.GetProperty("runs").EnumerateArray().ToList();
            // Per durability: redis and fastbft at each of the two pipeline depths.
            Assert.Equal(8, runs.Count);
            Assert.Equal(2, runs.Count(r => r.GetProperty("target").GetString() == "fastbft" && r.GetProperty("durability").GetString() == "fsync"));
            Assert.Equal(2, runs.Count(r => r.GetProperty("target").GetString() == "redis" && r.GetProperty("durability").GetString() == "fsync"));
            foreach (var r in runs)
            {
                Assert.Contains(r.GetProperty("target").GetString(), new[] { "redis", "fastbft" });
                Assert.Contains(r.GetProperty("durability").GetString(), new[] { "none", "fsync" });
                Assert.Equal(8, r.GetProperty("clients").GetInt32());
                Assert.True(r.GetProperty("set_rps").GetDouble() > 0);
                Assert.True(r.GetProperty("get_rps").GetDouble() > 0);
                Assert.Equal(0, r.GetProperty("errors").GetInt64());
            }
            var ratios = doc.RootElement.GetProperty("ratios").EnumerateArray().ToList();
            Assert.Equal(new[] { ("none", 1), ("none", 4), ("fsync", 1), ("fsync", 4) },
                ratios.Select(r => (r.GetProperty("durability").GetString()!, r.GetProperty("pipeline").GetInt32())));
            Assert.All(ratios, r => Assert.True(r.GetProperty("set").GetDouble() > 0 && r.GetProperty("get").GetDouble() > 0));
        }
        finally { File.Delete(json); }
    }

    [Fact]
    public void KvCompareRejectsADurabilityTheMemoryStoreCannotGive()
    {
        var (exit, output) = HarnessProcess.Run(null, "kv-compare", "--durability", "none", "fsync", "--storage", "memory");
        Assert.True(exit == 2, $"exit {exit}: {output}");
        Assert.Contains("service.durability", output);
    }
}

/// <summary>`fastbft run --service kv` with a YCSB mix over real replica processes.</summary>
public sealed class KvRunProcessTests
{
    [Theory]
    [InlineData("ycsb-a", "memory")]
    [InlineData("ycsb-f", "rocksdb")]
    public void YcsbRunLoadsMeasuresAndEndsConsistent(string workload, string storage)
    {
        var json = Path.Combine(Path.GetTempPath(), $"fastbft-kvrun-{Guid.NewGuid():N}.json");
        try
        {
            var (exit, output) = HarnessProcess.Run(null, "run", "--service", "kv", "--workload", workload, "--storage", storage, "--records", "2000", "--value-bytes", "64",
                "--clients", "8", "--duration", "1.5", "--warmup", "0.5", "--json", json);
            Assert.True(exit == 0, $"exit {exit}: {output}");
            Assert.Contains("load phase: 2000 records", output);
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var r = doc.RootElement;
            Assert.StartsWith(workload, r.GetProperty("workload").GetString());
            Assert.True(r.GetProperty("throughput_rps").GetDouble() > 0);
            Assert.True(r.GetProperty("replicas_consistent").GetBoolean());
        }
        finally { File.Delete(json); }
    }

    [Theory]
    [InlineData("--workload", "ycsb-q", "--workload")]
    [InlineData("--storage", "disk", "--storage")]
    [InlineData("--records", "0", "--records")]
    public void BadKvOptionsFailWithAClearMessage(string option, string value, string named)
    {
        var (exit, output) = HarnessProcess.Run(null, "run", "--service", "kv", option, value, "--duration", "1");
        Assert.True(exit == 2, $"exit {exit}: {output}");
        Assert.Contains(named, output);
    }
}
