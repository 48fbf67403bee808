using System.Text.Json;
using FastBft.Tests.Shared;

namespace FastBft.Integration.Tests;

/// <summary>
/// `fastbft run --protocol minbft --usig software|device-model` over real replica processes (loopback UDP, f = 1,
/// 2f+1 = 3 replicas), modelled on the RePBFT process tests: the run completes, every request finishes and the replicas
/// agree. ReMinBFT cases join when its core is built.
/// </summary>
public class MinBftProcessTests
{
    private static JsonElement Run(string protocol, string usig, params string[] extra)
    {
        var json = Path.Combine(Path.GetTempPath(), $"fastbft-{protocol}-{usig}-{Guid.NewGuid():N}.json");
        try
        {
            var args = new List<string> { "run", "--protocol", protocol, "--usig", usig, "--workload", "0/0", "--clients", "8", "--warmup", "0.5", "--duration", "2", "--json", json };
            args.AddRange(extra);
            var (exit, output) = HarnessProcess.Run(null, args.ToArray());
            Assert.True(exit == 0, $"exit {exit}: {output}");
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            return doc.RootElement.Clone();
        }
        finally { File.Delete(json); }
    }

    [Theory]
    [InlineData("minbft", "software")]
    [InlineData("minbft", "device-model")]
    public void A_usig_cell_of_replica_processes_completes_every_request_and_agrees(string protocol, string usig)
    {
        var r = Run(protocol, usig);
        Assert.Equal(protocol, r.GetProperty("protocol").GetString());
        Assert.Equal(usig, r.GetProperty("usig").GetString());
        Assert.Equal("0/0", r.GetProperty("workload").GetString());
        Assert.True(r.GetProperty("throughput_rps").GetDouble() > 0);
        Assert.True(r.GetProperty("requests_completed").GetInt64() > 0);
        Assert.Equal(0, r.GetProperty("requests_unfinished").GetInt32());
        Assert.True(r.GetProperty("replicas_consistent").GetBoolean());
        Assert.Equal(3, r.GetProperty("replicas_alive").GetArrayLength());   // 2f+1
        var digests = r.GetProperty("state_digests").EnumerateArray().Select(d => d.GetString()).ToArray();
        Assert.Equal(3, digests.Length);
        Assert.All(digests, d => Assert.Equal(digests[0], d));
        Assert.All(r.GetProperty("replicas").EnumerateArray(), s => Assert.Equal(protocol, s.GetProperty("protocol").GetString()));
        Assert.True(r.GetProperty("cpu_us_per_request").GetDouble() > 0, "CPU of the replica processes is measured");
        // Every request is ordered by certified messages: the replicas spent time in their USIGs and certified/verified UIs.
        Assert.True(r.GetProperty("usig_us_per_request").GetDouble() > 0);
        Assert.True(r.GetProperty("usig_uis_per_request").GetDouble() > 0);
        Assert.True(r.GetProperty("usig_share").GetDouble() > 0);
    }

    // A killed and restarted MinBFT replica (new USIG epoch) keeps up only by state transfer at checkpoints until the
    // next view change (docs/minbft.md §7), so a run ending between checkpoints leaves it behind and the harness reports
    // the cell inconsistent; the test of that case comes with the counter-order rebase at checkpoints (issue 12 follow-up).
}
