using FastBft.Agreement;
using FastBft.Auth;
using FastBft.Config;
using FastBft.Service;
using FastBft.Verification;

namespace FastBft.Hosting;

/// <summary>
/// The one place that maps a cell configuration's <c>protocol</c> to a protocol core
/// (docs/architecture.md "Adding a protocol"): it turns the configuration into protocol-neutral
/// <see cref="ReplicaParameters"/> and asks <see cref="Protocols"/> for the definition. The host, the
/// client library and the harness create cores and verifiers only through it.
/// </summary>
public static class ProtocolRegistry
{
    /// <summary>The definition of <paramref name="config"/>'s protocol.</summary>
    /// <exception cref="ConfigException">the protocol is unknown or not built yet (the message names it).</exception>
    public static IProtocolDefinition Definition(CellConfig config)
    {
        try { return Protocols.Get(config.Protocol); }
        catch (NotSupportedException e) { throw new ConfigException($"invalid cell config: protocol: {e.Message}"); }
    }

    /// <summary>Protocol parameters from a validated cell config (timeouts converted to ticks; switching.* only matters to the switching protocols).</summary>
    public static ReplicaParameters Parameters(CellConfig c) => new()
    {
        F = c.F, BatchSize = c.BatchSize, MaxInflightBatches = c.MaxInflightBatches,
        CheckpointInterval = c.CheckpointInterval, Window = c.Window,
        RetransmitTicks = Math.Max(1, c.Timeouts.RetransmitMs / c.Timeouts.TickMs),
        ViewChangeTicks = Math.Max(4, 2 * c.Timeouts.ClientRetransmitMs / c.Timeouts.TickMs),
        MaxStateBytes = c.MaxStateBytes,
        SwitchTicks = Math.Max(1, c.Switching.EffectiveSwitchTimeoutMs(c.Timeouts) / c.Timeouts.TickMs),
        SwitchBackAfter = c.Switching.SwitchBackAfter,
        FirstLeader = (uint)c.Switching.FirstLeader,
    };

    /// <summary>The verifier limits of a validated cell config.</summary>
    public static VerifierLimits Limits(CellConfig c) => new(c.N, c.FirstClientId, c.MaxMessageBytes, c.MaxRequestBytes, c.BatchSize);

    /// <summary>A verifier for node <paramref name="auth"/>.SelfId (a replica or a client) of <paramref name="config"/>'s cell.</summary>
    public static MessageVerifier CreateVerifier(CellConfig config, Authenticator auth) => new(Definition(config).Schema, auth, Limits(config));

    /// <summary>Creates the core of replica <paramref name="auth"/>.SelfId, with the protocol's default execution stage over <paramref name="service"/>.</summary>
    /// <exception cref="ConfigException">the protocol is not built yet (the message names it).</exception>
    public static IReplicaCore CreateCore(CellConfig config, Authenticator auth, IReplicatedService service, IReplicaOutput output)
    {
        var def = Definition(config);
        var p = Parameters(config);
        return def.CreateReplica(p, auth, def.CreateExecution(p, auth.SelfId, service), output);
    }
}
