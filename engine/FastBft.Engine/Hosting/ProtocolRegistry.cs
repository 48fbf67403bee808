using FastBft.Agreement;
using FastBft.Agreement.Pbft;
using FastBft.Auth;
using FastBft.Config;
using FastBft.Service;

namespace FastBft.Hosting;

/// <summary>
/// The one place that maps a cell configuration's <c>protocol</c> to a protocol core
/// (docs/architecture.md "Adding a protocol"). The host, the harness and the tests create cores only
/// through it.
/// </summary>
public static class ProtocolRegistry
{
    /// <summary>Creates the core of replica <paramref name="auth"/>.SelfId for a validated <paramref name="config"/>.</summary>
    /// <exception cref="ConfigException">the protocol is not built yet (the message names it).</exception>
    public static IReplicaCore CreateCore(CellConfig config, Authenticator auth, IReplicatedService service, IReplicaOutput output)
        => config.Protocol switch
        {
            "pbft" => new PbftReplica(PbftSettingsFrom(config), auth, service, output),
            _ => throw new ConfigException($"protocol '{config.Protocol}' is not built yet"),
        };

    /// <summary>PBFT settings from a validated cell config.</summary>
    public static PbftSettings PbftSettingsFrom(CellConfig c) => new()
    {
        N = c.N, F = c.F, BatchSize = c.BatchSize, MaxInflightBatches = c.MaxInflightBatches,
        CheckpointInterval = c.CheckpointInterval, Window = c.Window,
        RetransmitTicks = Math.Max(1, c.Timeouts.RetransmitMs / c.Timeouts.TickMs),
        ViewChangeTicks = Math.Max(4, 2 * c.Timeouts.ClientRetransmitMs / c.Timeouts.TickMs),
    };
}
