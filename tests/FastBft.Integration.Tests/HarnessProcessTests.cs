using System.Diagnostics;
using System.Text.Json;

namespace FastBft.Integration.Tests;

/// <summary>
/// The README's main job end to end: `fastbft run` starts 4 replica processes on loopback UDP, drives
/// clients, and reports through --json. Checks the result document and that no replica process
/// outlives the harness.
/// </summary>
public class HarnessProcessTests
{
    private static (int Exit, string Output) RunHarness(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "fastbft.dll");
        Assert.True(File.Exists(dll), $"harness not found at {dll}");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3))) { p.Kill(entireProcessTree: true); Assert.Fail("harness did not finish in 3 minutes"); }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    private static int CountReplicaProcesses(string marker)
    {
        int count = 0;
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            try
            {
                var cmd = File.ReadAllText(Path.Combine(dir, "cmdline"));
                if (cmd.Contains("replica") && cmd.Contains(marker)) count++;
            }
            catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return count;
    }

    [Theory]
    [InlineData("0/0")]
    [InlineData("4/0")]
    public void RunWithSeparateReplicaProcessesReportsConsistentReplicas(string workload)
    {
        var json = Path.Combine(Path.GetTempPath(), $"fastbft-run-{Guid.NewGuid():N}.json");
        try
        {
            var (exit, output) = RunHarness("run", "--protocol", "pbft", "--workload", workload, "--clients", "8", "--duration", "2", "--warmup", "0.5", "--json", json);
            Assert.True(exit == 0, $"exit {exit}: {output}");
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var r = doc.RootElement;
            foreach (var key in new[] { "protocol", "f", "workload", "clients", "duration_s", "throughput_rps", "latency_p50_ms", "latency_p99_ms", "cpu_us_per_request", "bytes_per_request", "replicas_consistent" })
                Assert.True(r.TryGetProperty(key, out _), $"missing key {key}");
            Assert.Equal("pbft", r.GetProperty("protocol").GetString());
            Assert.Equal(workload, r.GetProperty("workload").GetString());
            Assert.True(r.GetProperty("throughput_rps").GetDouble() > 0);
            Assert.True(r.GetProperty("replicas_consistent").GetBoolean());
            Assert.True(r.GetProperty("cpu_us_per_request").GetDouble() > 0, "CPU of the replica processes is measured");
            Assert.Equal(0, CountReplicaProcesses("fastbft-cell-"));
        }
        finally { File.Delete(json); }
    }

    [Fact]
    public void InvalidOptionsFailWithAClearMessage()
    {
        var (exit, output) = RunHarness("run", "--workload", "banana", "--duration", "1");
        Assert.Equal(2, exit);
        Assert.Contains("workload", output);
    }
}
