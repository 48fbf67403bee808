using FastBft.Config;

namespace FastBft.Engine.Tests.Config;

public class CellConfigTests
{
    private const string Valid = """
    {
      "f": 1,
      "replicas": [
        { "id": 0, "address": "127.0.0.1:7000" }, { "id": 1, "address": "127.0.0.1:7001" },
        { "id": 2, "address": "127.0.0.1:7002" }, { "id": 3, "address": "127.0.0.1:7003" }
      ],
      "keys": { "master": "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" },
      // comments are allowed
      "batch_size": 32,
    }
    """;

    [Fact]
    public void ValidFileParsesWithDefaults()
    {
        var c = CellConfig.Parse(Valid);
        Assert.Equal(4, c.N);
        Assert.Equal(3, c.Quorums.Commit);
        Assert.Equal(32, c.BatchSize);
        Assert.Equal(128, c.CheckpointInterval);
        Assert.Equal("noop", c.Service.Kind);
        var again = CellConfig.Parse(c.ToJson());
        Assert.Equal(c.ToJson(), again.ToJson());
    }

    [Theory]
    [InlineData("\"f\": 1,", "\"f\": 2,", "replicas")]                                  // 3f+1 mismatch
    [InlineData("\"batch_size\": 32", "\"batch_size\": 0", "batch_size")]
    [InlineData("127.0.0.1:7002", "localhost:7002", "replicas[2].address")]
    [InlineData("127.0.0.1:7001", "127.0.0.1:0", "replicas[1].address")]
    [InlineData("{ \"id\": 3,", "{ \"id\": 5,", "replicas[3].id")]
    [InlineData("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "00", "keys.master")]
    [InlineData("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "keys.master")]
    [InlineData("\"batch_size\": 32", "\"batch_size\": 32, \"window\": 100", "window")]
    [InlineData("\"batch_size\": 32", "\"batch_size\": 32, \"first_client_id\": 2", "first_client_id")]
    [InlineData("\"batch_size\": 32", "\"batch_size\": 32, \"timeouts\": { \"tick_ms\": 0 }", "timeouts.tick_ms")]
    [InlineData("\"batch_size\": 32", "\"batch_size\": 32, \"service\": { \"kind\": \"sql\" }", "service.kind")]
    [InlineData("\"batch_size\": 32", "\"batch_size\": 32, \"protocol\": \"raft\"", "protocol")]
    [InlineData("\"batch_size\": 32", "\"batch_size\": 4096, \"max_request_bytes\": 1048576", "max_message_bytes")]
    [InlineData("\"batch_size\": 32", "\"batch_size\": 32, \"max_state_bytes\": 1000", "max_state_bytes")]
    public void InvalidFieldIsNamedInTheError(string find, string replace, string field)
    {
        var e = Assert.Throws<ConfigException>(() => CellConfig.Parse(Valid.Replace(find, replace)));
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void UnknownKeysAndBadJsonAreRejected()
    {
        Assert.Contains("invalid JSON", Assert.Throws<ConfigException>(() => CellConfig.Parse(Valid.Replace("\"batch_size\": 32", "\"batch_sise\": 32"))).Message);
        Assert.Contains("invalid JSON", Assert.Throws<ConfigException>(() => CellConfig.Parse("{ \"f\": ")).Message);
        Assert.Contains("cannot read", Assert.Throws<ConfigException>(() => CellConfig.Load("/nonexistent/cell.json")).Message);
    }

    [Fact]
    public void MaxMessageBytesMustHoldTheLargestNewView()
    {
        // Issue 8, L8: with a 65,536-slot window a VIEW-CHANGE may reach ~12.6 MB and a NEW-VIEW four of them, so the
        // default 8 MiB cannot carry it; the cell is refused at start instead of throwing from the replica loop later.
        var big = Valid.Replace("\"batch_size\": 32", "\"batch_size\": 32, \"window\": 65536");
        var e = Assert.Throws<ConfigException>(() => CellConfig.Parse(big));
        Assert.Contains("max_message_bytes", e.Message);
        Assert.Contains("NEW-VIEW", e.Message);
        // The defaults (window 256) fit with room to spare.
        Assert.Equal(256, CellConfig.Parse(Valid).Window);
    }

    [Theory]
    [InlineData("raft")]
    public void AnUnknownProtocolIsRejectedByName(string protocol)
    {
        var e = Assert.Throws<ConfigException>(() => CellConfig.Parse(Valid.Replace("\"batch_size\": 32", $"\"batch_size\": 32, \"protocol\": \"{protocol}\"")));
        Assert.Contains("protocol", e.Message);
        Assert.Contains($"'{protocol}'", e.Message);
    }

    [Theory]
    [InlineData("repbft", 4, 3)]
    [InlineData("repbft-star", 4, 3)]
    public void ABuiltSwitchingProtocolIsAcceptedWithItsShape(string protocol, int n, int active)
    {
        var c = CellConfig.Parse(Valid.Replace("\"batch_size\": 32", $"\"batch_size\": 32, \"protocol\": \"{protocol}\""));
        Assert.Equal(protocol, c.Shape.Name);
        Assert.Equal(n, c.Shape.N);
        Assert.Equal(active, c.Shape.Active);
    }

    [Fact]
    public void TheRegistryCreatesTheConfiguredProtocolsCore()
    {
        var c = CellConfig.Parse(Valid);
        Assert.Equal(4, c.Shape.N);
        var keys = c.CreateKeyStore();
        var core = FastBft.Hosting.ProtocolRegistry.CreateCore(c, new FastBft.Auth.Authenticator(2, keys), new FastBft.Workloads.NoOpService(FastBft.Workloads.Workload.Parse("0/0")), new NullOutput());
        Assert.Equal(ProtocolKind.Pbft, core.Shape.Protocol);
        Assert.Equal(2u, core.Id);
        Assert.Equal(0u, core.Leader);
        Assert.Equal(c.MaxStateBytes, FastBft.Hosting.ProtocolRegistry.Parameters(c).MaxStateBytes);
    }

    private sealed class NullOutput : IReplicaOutput
    {
        public void SendToReplica(uint replica, ReadOnlySpan<byte> message) { }
        public void SendToClient(uint client, ReadOnlySpan<byte> message) { }
    }
}
