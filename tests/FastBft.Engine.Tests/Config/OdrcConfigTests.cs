using FastBft.Agreement;
using FastBft.Config;
using FastBft.Execution.Odrc;
using FastBft.Hosting;

namespace FastBft.Engine.Tests.Config;

/// <summary>
/// Which agreement protocols a cell may run ODRC under (docs/odrc.md §4a): PBFT and MinBFT host the stage; RePBFT,
/// RePBFT* and ReMinBFT are rejected with a message that says why (passive replicas are kept current by state updates,
/// which selective execution does not produce); extended cells (execution-only replicas) stay PBFT-only.
/// </summary>
public class OdrcConfigTests
{
    private static string Cell(string protocol, int n, string execution = """{ "mode": "odrc" }""")
    {
        var replicas = string.Join(", ", Enumerable.Range(0, n).Select(i => $$"""{ "id": {{i}}, "address": "127.0.0.1:{{7200 + i}}" }"""));
        return $$"""
        {
          "protocol": "{{protocol}}",
          "f": 1,
          "replicas": [ {{replicas}} ],
          "keys": { "master": "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" },
          "service": { "kind": "kv" },
          "execution": {{execution}}
        }
        """;
    }

    [Fact]
    public void MinBftWithOdrcIsAcceptedAndHostsTheOdrcProtocol()
    {
        var c = CellConfig.Parse(Cell("minbft", 3));
        Assert.Equal("odrc", c.Execution!.Mode);
        Assert.Equal(3, c.ExecutionReplicaCount);
        var def = Assert.IsType<OdrcProtocol>(ProtocolRegistry.Definition(c));
        Assert.Equal(ProtocolKind.MinBft, def.Kind);
        Assert.Equal(3, def.Shape(1).N);
    }

    [Theory]
    [InlineData("repbft", 4)]
    [InlineData("repbft-star", 4)]
    [InlineData("reminbft", 3)]
    public void ProtocolsWithPassiveReplicasAreRejectedSayingWhy(string protocol, int n)
    {
        var e = Assert.Throws<ConfigException>(() => CellConfig.Parse(Cell(protocol, n)));
        Assert.Contains("execution.mode", e.Message);
        Assert.Contains($"'{protocol}'", e.Message);
        Assert.Contains("passive replicas", e.Message);
        Assert.Contains("state updates", e.Message);
        Assert.Contains("f+1 maintainers", e.Message);
    }

    [Fact]
    public void ExtendedCellsStayPbftOnly()
    {
        var e = Assert.Throws<ConfigException>(() => CellConfig.Parse(Cell("minbft", 3, """{ "mode": "odrc", "execution_only": [ "127.0.0.1:7300" ] }""")));
        Assert.Contains("execution.execution_only", e.Message);
        Assert.Contains("\"pbft\"", e.Message);
    }
}
