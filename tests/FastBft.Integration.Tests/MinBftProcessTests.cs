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
        => HarnessProcess.RunJson(["run", "--protocol", protocol, "--usig", usig, "--workload", "0/0", "--clients", "8", "--warmup", "0.5", "--duration", "2", .. extra]).Json;

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

    [Theory]
    [InlineData("software")]
    [InlineData("device-model")]
    public void A_killed_and_restarted_minbft_replica_catches_up_and_the_cell_agrees(string usig)
    {
        // The restarted replica has a new USIG epoch and fresh counter orders: it catches up by state transfer and moves
        // its peers' counter orders to the run starts the checkpoint certificate reports (docs/minbft.md §4, V2).
        var r = Run("minbft", usig, "--checkpoint-interval", "32", "--fault", "kill:2@0.5", "--fault", "restart:2@1");
        Assert.True(r.GetProperty("replicas_consistent").GetBoolean());
        Assert.Equal(3, r.GetProperty("replicas_alive").GetArrayLength());
        Assert.Equal(0, r.GetProperty("requests_unfinished").GetInt32());
    }
}
