using FastBft.Config;
using FastBft.Hosting;

namespace FastBft.Engine.Tests.Config;

/// <summary>
/// The protocol-switch settings (switching.*, timeouts.client_panic_retransmissions; docs/configuration.md): defaults,
/// the mapping to <see cref="ReplicaParameters"/>, and a named error for each invalid value. They are accepted for every
/// protocol (only repbft, repbft-star and reminbft use them), so a pbft cell exercises them here.
/// </summary>
public class SwitchingConfigTests
{
    private const string Valid = """
    {
      "f": 1,
      "replicas": [
        { "id": 0, "address": "127.0.0.1:7000" }, { "id": 1, "address": "127.0.0.1:7001" },
        { "id": 2, "address": "127.0.0.1:7002" }, { "id": 3, "address": "127.0.0.1:7003" }
      ],
      "keys": { "master": "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" },
      "timeouts": { "tick_ms": 10, "client_retransmit_ms": 400 },
      "batch_size": 32
    }
    """;

    private static string With(string fields) => Valid.Replace("\"batch_size\": 32", "\"batch_size\": 32, " + fields);

    [Fact]
    public void DefaultsAreTwiceTheClientTimeoutNeverSwitchBackLeaderZeroAndPanicOnTheFirstRetransmission()
    {
        var c = CellConfig.Parse(Valid);
        Assert.Null(c.Switching.SwitchTimeoutMs);
        Assert.Equal(800, c.Switching.EffectiveSwitchTimeoutMs(c.Timeouts));
        Assert.Equal(0, c.Switching.SwitchBackAfter);
        Assert.Equal(0, c.Switching.FirstLeader);
        Assert.Equal(2, c.Timeouts.ClientPanicRetransmissions);

        var p = ProtocolRegistry.Parameters(c);
        Assert.Equal(80, p.SwitchTicks);               // 2 × 400 ms / 10 ms
        Assert.Equal(0, p.SwitchBackAfter);
        Assert.Equal(0u, p.FirstLeader);

        // A section left out entirely, or given as null, means the defaults; the defaults survive a round trip.
        Assert.Equal(0, CellConfig.Parse(With("\"switching\": null")).Switching.FirstLeader);
        Assert.Equal(c.ToJson(), CellConfig.Parse(c.ToJson()).ToJson());
    }

    [Fact]
    public void ConfiguredValuesMapToTheReplicaParameters()
    {
        var c = CellConfig.Parse(With("\"switching\": { \"switch_timeout_ms\": 1234, \"switch_back_after\": 5000, \"first_leader\": 3 }")
            .Replace("\"client_retransmit_ms\": 400", "\"client_retransmit_ms\": 400, \"client_panic_retransmissions\": 4"));
        Assert.Equal(1234, c.Switching.SwitchTimeoutMs);
        Assert.Equal(4, c.Timeouts.ClientPanicRetransmissions);

        var p = ProtocolRegistry.Parameters(c);
        Assert.Equal(123, p.SwitchTicks);              // 1234 ms / 10 ms, rounded down
        Assert.Equal(5000, p.SwitchBackAfter);
        Assert.Equal(3u, p.FirstLeader);

        var again = CellConfig.Parse(c.ToJson());
        Assert.Equal(c.ToJson(), again.ToJson());
        Assert.Equal(p, ProtocolRegistry.Parameters(again));

        // The smallest switch timeout is one tick.
        Assert.Equal(1, ProtocolRegistry.Parameters(CellConfig.Parse(With("\"switching\": { \"switch_timeout_ms\": 10 }"))).SwitchTicks);
    }

    /// <summary>A reminbft cell defaults to switch_back_after = 0 (never) and takes a value above 0 (the ordered switch back,
    /// docs/reminbft.md §7) into its replica parameters.</summary>
    [Fact]
    public void AReMinBftCellTakesSwitchBackAfter()
    {
        var three = Valid.Replace(", { \"id\": 3, \"address\": \"127.0.0.1:7003\" }", "").Replace("\"f\": 1,", "\"f\": 1, \"protocol\": \"reminbft\",");
        var defaults = CellConfig.Parse(three);
        Assert.Equal(3, defaults.N);
        Assert.Equal(0, ProtocolRegistry.Parameters(defaults).SwitchBackAfter);
        var set = CellConfig.Parse(three.Replace("\"batch_size\": 32", "\"batch_size\": 32, \"switching\": { \"switch_back_after\": 64 }"));
        Assert.Equal(64, ProtocolRegistry.Parameters(set).SwitchBackAfter);
    }

    [Theory]
    [InlineData("\"switching\": { \"switch_timeout_ms\": 9 }", "invalid cell config: switching.switch_timeout_ms: 9 must be in tick_ms (10)..600000")]
    [InlineData("\"switching\": { \"switch_timeout_ms\": 0 }", "invalid cell config: switching.switch_timeout_ms: 0 must be in tick_ms (10)..600000")]
    [InlineData("\"switching\": { \"switch_timeout_ms\": 600001 }", "invalid cell config: switching.switch_timeout_ms: 600001 must be in tick_ms (10)..600000")]
    [InlineData("\"switching\": { \"switch_back_after\": -1 }", "invalid cell config: switching.switch_back_after: -1 must be ≥ 0 (0 = never switch back)")]
    [InlineData("\"switching\": { \"first_leader\": 4 }", "invalid cell config: switching.first_leader: 4 is not a replica id (0..n-1 = 0..3)")]
    [InlineData("\"switching\": { \"first_leader\": -1 }", "invalid cell config: switching.first_leader: -1 is not a replica id (0..n-1 = 0..3)")]
    public void InvalidSwitchingFieldIsRejectedWithItsName(string fields, string message)
    {
        var e = Assert.Throws<ConfigException>(() => CellConfig.Parse(With(fields)));
        Assert.Equal(message, e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(17)]
    public void ClientPanicRetransmissionsOutsideOneToSixteenIsRejected(int value)
    {
        var json = Valid.Replace("\"client_retransmit_ms\": 400", $"\"client_retransmit_ms\": 400, \"client_panic_retransmissions\": {value}");
        var e = Assert.Throws<ConfigException>(() => CellConfig.Parse(json));
        Assert.Equal($"invalid cell config: timeouts.client_panic_retransmissions: {value} is out of range 1..16", e.Message);
    }

    [Fact]
    public void UnknownSwitchingKeyIsRejected()
        => Assert.Contains("invalid JSON", Assert.Throws<ConfigException>(() => CellConfig.Parse(With("\"switching\": { \"first_leeder\": 1 }"))).Message);
}
