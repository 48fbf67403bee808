using System.Diagnostics;
using System.Text.Json;
using FastBft.Tests.Shared;

namespace FastBft.Integration.Tests;

/// <summary>
/// The README's main job end to end: `fastbft run` starts 4 replica processes on loopback UDP, drives
/// clients, and reports through --json. Checks the result document and that no replica process
/// outlives the harness.
/// </summary>
public class HarnessProcessTests
{
    private static (int Exit, string Output) RunHarness(params string[] args) => HarnessProcess.Run(null, args);

    private static (int Exit, string Output) RunHarnessMarked(string marker, params string[] args)
        => HarnessProcess.Run(new Dictionary<string, string> { ["FASTBFT_TEST_MARKER"] = marker }, args);   // inherited by the replica processes

    /// <summary>Processes still alive that carry this run's marker in their environment (other tests' cells run concurrently and carry none or another).</summary>
    private static int CountProcessesWithMarker(string marker)
    {
        int count = 0;
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out _)) continue;
            try
            {
                var env = File.ReadAllText(Path.Combine(dir, "environ"));
                if (env.Contains("FASTBFT_TEST_MARKER=" + marker)) count++;
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
            var marker = Guid.NewGuid().ToString("N");
            var (exit, output) = RunHarnessMarked(marker, "run", "--protocol", "pbft", "--workload", workload, "--clients", "8", "--duration", "2", "--warmup", "0.5", "--json", json);
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
            Assert.Equal(0, CountProcessesWithMarker(marker));
        }
        finally { File.Delete(json); }
    }

    [Fact]
    public void InvalidOptionsFailWithAClearMessage()
    {
        var (exit, output) = RunHarness("run", "--workload", "banana", "--duration", "1");
        Assert.True(exit == 2, $"exit {exit}: {output}");
        Assert.Contains("workload", output);
    }
}
