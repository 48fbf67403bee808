using System.Text.Json;
using FastBft.Tests.Shared;

namespace FastBft.Integration.Tests;

/// <summary>
/// Issue 14 over real processes (docs/odrc.md §8): the unreplicated baseline (`--protocol unreplicated`: one server
/// process, the same service, client library and wire format) and an extended ODRC cell (`--exec-replicas 6`: 4 agreement
/// replicas + 2 execution-only processes fed by f+1 matching ORDERED-BATCH messages). Assertions are on behaviour only
/// (every request finishes, the nodes agree on the order, who executed what), never on timing.
/// </summary>
public class OdrcProcessTests
{
    private static JsonElement Run(params string[] extra)
        => HarnessProcess.RunJson(["run", "--clients", "8", "--warmup", "0.5", "--duration", "2", "--records", "500", .. extra]).Json;

    [Theory]
    [InlineData("kv")]
    [InlineData("coord")]
    public void The_unreplicated_server_runs_the_service_with_execution_cost_and_answers_every_client(string service)
    {
        var r = Run("--protocol", "unreplicated", "--service", service, "--exec-cost-us", "50");
        Assert.Equal("unreplicated", r.GetProperty("protocol").GetString());
        Assert.Equal(0, r.GetProperty("f").GetInt32());
        Assert.True(r.GetProperty("requests_completed").GetInt64() > 0);
        Assert.Equal(0, r.GetProperty("requests_unfinished").GetInt32());
        Assert.True(r.GetProperty("replicas_consistent").GetBoolean());
        Assert.Equal(1, r.GetProperty("replicas_alive").GetArrayLength());
        var server = r.GetProperty("replicas")[0];
        Assert.Equal("unreplicated", server.GetProperty("protocol").GetString());
        // Each request executed once, by the one server (load phase included).
        Assert.True(server.GetProperty("requests_executed").GetInt64() >= r.GetProperty("requests_completed").GetInt64());
        Assert.True(r.GetProperty("cpu_us_per_request").GetDouble() > 0);
    }

    [Theory]
    [InlineData("kv", "round-robin")]
    [InlineData("coord", "locality")]
    public void An_extended_cell_of_six_execution_replicas_completes_the_workload_and_every_node_takes_the_same_order(string service, string placement)
    {
        var r = Run("--service", service, "--execution", "odrc", "--exec-replicas", "6", "--placement", placement, "--exec-cost-us", "20");
        Assert.Equal(0, r.GetProperty("requests_unfinished").GetInt32());
        Assert.True(r.GetProperty("requests_completed").GetInt64() > 0);
        Assert.True(r.GetProperty("replicas_consistent").GetBoolean());
        Assert.Equal(6, r.GetProperty("replicas_alive").GetArrayLength());
        var digests = r.GetProperty("state_digests").EnumerateArray().Select(d => d.GetString()).ToArray();
        Assert.All(digests, d => Assert.Equal(digests[0], d));          // the order chain: execution-only replicas took every batch
        var replicas = r.GetProperty("replicas").EnumerateArray().ToArray();
        Assert.Equal("odrc-execution-only", replicas[4].GetProperty("protocol").GetString());
        Assert.Equal("odrc-execution-only", replicas[5].GetProperty("protocol").GetString());
        // The execution-only replicas maintain a third of the objects: they execute requests and reply to clients.
        Assert.True(replicas[4].GetProperty("odrc").GetProperty("executed").GetInt64() > 0);
        Assert.True(replicas[5].GetProperty("odrc").GetProperty("executed").GetInt64() > 0);
        Assert.True(replicas[4].GetProperty("requests_executed").GetInt64() > 0);
        // Every ordered request is executed at least f+1 = 2 times over all six execution replicas, and nowhere near all six.
        double executions = r.GetProperty("odrc_executions_per_request").GetDouble();
        Assert.InRange(executions, 2.0, 4.0);
    }

    [Fact]
    public void Odrc_under_MinBft_executes_each_request_on_f_plus_1_of_the_three_replicas_and_answers_every_client()
    {
        var r = Run("--protocol", "minbft", "--service", "kv", "--execution", "odrc", "--exec-cost-us", "20");
        Assert.Equal("minbft", r.GetProperty("protocol").GetString());
        Assert.Equal(0, r.GetProperty("requests_unfinished").GetInt32());
        Assert.True(r.GetProperty("requests_completed").GetInt64() > 0);
        Assert.True(r.GetProperty("replicas_consistent").GetBoolean());
        Assert.Equal(3, r.GetProperty("replicas_alive").GetArrayLength());
        // Each replica maintains ⅔ of the objects (n = 2f+1 = 3, f+1 = 2 maintainers per object): all of them execute.
        foreach (var replica in r.GetProperty("replicas").EnumerateArray())
            Assert.True(replica.GetProperty("odrc").GetProperty("executed").GetInt64() > 0);
        // f+1 = 2 executions per ordered request, not all 3 (forced executions on a loaded machine may add a little).
        Assert.InRange(r.GetProperty("odrc_executions_per_request").GetDouble(), 2.0, 2.9);
    }

    [Fact]
    public void A_killed_execution_only_replica_delays_its_clients_until_the_other_replicas_force_and_adopt_its_objects()
    {
        var r = Run("--service", "kv", "--execution", "odrc", "--exec-replicas", "6", "--fault", "kill:4@0.5");
        Assert.Equal(0, r.GetProperty("requests_unfinished").GetInt32());
        Assert.True(r.GetProperty("replicas_consistent").GetBoolean());
        Assert.Equal(5, r.GetProperty("replicas_alive").GetArrayLength());
        Assert.True(r.GetProperty("odrc_forced_per_request").GetDouble() > 0, "the dead replica's requests were forced elsewhere");
        var fault = r.GetProperty("faults")[0];
        Assert.True(fault.GetProperty("recovery_ms").GetDouble() >= 0, "a request issued after the kill completed");
    }
}
