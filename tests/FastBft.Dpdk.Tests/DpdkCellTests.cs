using System.Diagnostics;
using System.Text.Json;
using FastBft.Config;
using FastBft.Perf.Cell;

namespace FastBft.Dpdk.Tests;

/// <summary>
/// Whole cells with DPDK replicas, run as separate processes by the harness (`fastbft run --json`):
/// a mixed cell (replicas 0 and 1 on DPDK: memif between them, net_tap on a Linux bridge towards the
/// kernel; replicas 2 and 3 and the client on kernel UDP) and an all-DPDK cell (memif mesh, client on
/// DPDK). Both must pass the foundation's consistency checks: every replica at the same last executed
/// sequence number with the same state digest, and requests completed (a client result counts only
/// with f+1 matching, authenticated replies).
/// </summary>
[Collection("dpdk")]
public class DpdkCellTests(ITestOutputHelper output)
{
    private static (int Exit, string Output) RunHarness(params string[] args) => FastBft.Tests.Shared.HarnessProcess.Run(null, args);

    private static bool Sh(string command)
    {
        using var p = Process.Start(new ProcessStartInfo("sh", ["-c", command]) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true })!;
        p.WaitForExit();
        return p.ExitCode == 0;
    }

    private void RunCellAndCheck(string transport)
    {
        var json = Path.Combine(Path.GetTempPath(), $"fastbft-{transport}-{Guid.NewGuid():N}.json");
        try
        {
            var (exit, text) = RunHarness("run", "--transport", transport, "--workload", "0/0", "--clients", "8", "--duration", "3", "--warmup", "0.5", "--json", json);
            output.WriteLine(text);
            Assert.True(exit == 0, $"exit {exit}: {text}");
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var r = doc.RootElement;
            Assert.Equal(transport, r.GetProperty("transport").GetString());
            Assert.True(r.GetProperty("replicas_consistent").GetBoolean(), "replicas consistent");
            Assert.True(r.GetProperty("requests_completed").GetInt64() > 100, "requests completed");
            Assert.True(r.GetProperty("last_executed").GetUInt64() > 0, "sequence numbers executed");
            var digests = r.GetProperty("state_digests").EnumerateArray().Select(d => d.GetString()).ToArray();
            Assert.Equal(4, digests.Length);
            Assert.All(digests, d => Assert.Equal(digests[0], d));
            Assert.True(r.GetProperty("cpu_us_per_request").GetDouble() > 0);
        }
        finally { File.Delete(json); }
    }

    [Fact]
    public void MixedCellOfTwoDpdkAndTwoKernelUdpReplicasReachesConsistentDigests()
    {
        if (!DpdkGate.Available(output)) return;
        if (!Environment.IsPrivilegedProcess || !File.Exists("/dev/net/tun") || !Sh("command -v ip"))
        {
            string why = "SKIPPED: the mixed cell needs root, /dev/net/tun and iproute2 (net_tap ports on a Linux bridge); CI runs as root";
            output.WriteLine(why);
            Console.Error.WriteLine(why);
            Assert.Skip(why);
        }
        RunCellAndCheck("mixed");
        Assert.False(Sh($"ip link show fbbr{Environment.ProcessId % 10_000_000} 2>/dev/null | grep -q ."), "no bridge left behind");
    }

    [Fact]
    public void AllDpdkCellOverAMemifMeshReachesConsistentDigests()
    {
        if (!DpdkGate.Available(output)) return;
        RunCellAndCheck("dpdk");
    }

    private static CellConfig DpdkCell(string replica0Options)
    {
        string master = new('a', 64);
        string json = $$"""
        {
          "f": 1,
          "replicas": [
            { "id": 0, "address": "10.9.0.10:7000", "transport": "dpdk", "transport_options": {{replica0Options}} },
            { "id": 1, "address": "10.9.0.1:7001" },
            { "id": 2, "address": "10.9.0.1:7002" },
            { "id": 3, "address": "10.9.0.1:7003" }
          ],
          "keys": { "master": "{{master}}" }
        }
        """;
        return CellConfig.Parse(json);
    }

    private const string GoodNeighbors = """
        [ { "ip": "10.9.0.1", "port": 7001, "mac": "02:00:00:00:00:01", "node_id": 1, "via": 1 },
          { "ip": "10.9.0.1", "port": 7002, "mac": "02:00:00:00:00:01", "node_id": 2, "via": 1 },
          { "ip": "10.9.0.1", "port": 7003, "mac": "02:00:00:00:00:01", "node_id": 3, "via": 1 } ]
        """;

    [Fact]
    public void DpdkTransportOptionsAreParsedWithDefaultsFromTheAddress()
    {
        var c = DpdkCell($$"""{ "device": "net_memif0,role=server,socket=/tmp/a.sock", "additional_devices": ["net_tap1,iface=x0"], "tap_bridge": "br9", "poll": "busy", "local_mac": "02:00:00:00:00:0a", "neighbors": {{GoodNeighbors}} }""");
        TransportFactory.Validate(c);
        var o = TransportFactory.DpdkOptionsFor(c, 0);
        Assert.Equal("10.9.0.10", o.LocalIp);
        Assert.Equal(7000, o.LocalPort);
        Assert.Equal(FastBft.Transport.Dpdk.DpdkPollMode.Busy, o.Poll);
        Assert.Equal(1, o.Neighbors[2].Via);
        Assert.Equal("br9", o.TapBridge);
        Assert.True(TransportFactory.HasDpdk(c));
    }

    [Theory]
    [InlineData("null", "replicas[0].transport_options", "device")]
    [InlineData("""{ "neighbors": NB }""", "replicas[0].transport_options.device", "required")]
    [InlineData("""{ "device": "net_memif0", "colour": 1, "neighbors": NB }""", "replicas[0].transport_options", "colour")]
    [InlineData("""{ "device": "net_memif0", "poll": "sometimes", "neighbors": NB }""", "replicas[0].transport_options.poll", "")]
    [InlineData("""{ "device": "net_memif0", "local_port": 7001, "neighbors": NB }""", "local_port", "replicas[0].address")]
    [InlineData("""{ "device": "net_memif0", "neighbors": [ { "ip": "10.9.0.1", "port": 7001, "mac": "02:00:00:00:00:01", "node_id": 1 } ] }""", "neighbors", "replica 2")]
    [InlineData("""{ "device": "net_memif0", "neighbors": [ { "ip": "10.9.0.1", "port": 7001, "mac": "ff:ff:ff:ff:ff:ff", "node_id": 1 } ] }""", "replicas[0].transport_options.neighbors[0].mac", "unicast")]
    [InlineData("""{ "device": "net_memif0", "neighbors": [ { "ip": "10.9.0.1", "port": 7001, "mac": "02:00:00:00:00:01", "node_id": 1, "via": 3 } ] }""", "replicas[0].transport_options.neighbors[0].via", "not a port")]
    [InlineData("""{ "device": "net_memif0", "additional_devices": ["net_tap1,iface=t1"], "peer_doorbells": ["/dev/shm/a", null, "/dev/shm/c"], "neighbors": NB }""", "replicas[0].transport_options.peer_doorbells", "2 ports")]
    [InlineData("""{ "device": "net_memif0", "additional_devices": ["net_tap1,iface=t1"], "tap_bridge": "a b", "neighbors": NB }""", "replicas[0].transport_options.tap_bridge", "interface name")]
    public void InvalidDpdkTransportOptionsNameTheField(string options, string field, string hint)
    {
        var c = DpdkCell(options.Replace("NB", GoodNeighbors));
        var e = Assert.Throws<ConfigException>(() => TransportFactory.Validate(c));
        output.WriteLine(e.Message);
        Assert.Contains(field, e.Message);
        Assert.Contains(hint, e.Message);
    }
}
