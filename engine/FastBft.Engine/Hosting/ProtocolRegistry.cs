using FastBft.Agreement;
using FastBft.Auth;
using FastBft.Config;
using FastBft.Service;
using FastBft.TrustedHw;
using FastBft.Verification;
using Microsoft.Extensions.Logging;

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
        IProtocolDefinition def;
        try { def = Protocols.Get(config.Protocol); }
        catch (NotSupportedException e) { throw new ConfigException($"invalid cell config: protocol: {e.Message}"); }
        if (config.Execution?.Mode != "odrc") return def;
        // ODRC under the agreement protocol (docs/odrc.md §3)
        var placement = config.Execution.Placement == "locality" ? FastBft.Execution.Odrc.PlacementStrategy.Locality : FastBft.Execution.Odrc.PlacementStrategy.RoundRobin;
        return new FastBft.Execution.Odrc.OdrcProtocol(def, placement, new FastBft.Execution.Odrc.SelectorOptions { CheckpointAccesses = config.Execution.CheckpointAccesses, WriteKnowledge = config.Execution.WriteKnowledge, ExecutionReplicas = config.ExecutionReplicaCount });
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

    /// <summary>
    /// A verifier for node <paramref name="auth"/>.SelfId of a cell running <paramref name="definition"/>. A replica of a USIG
    /// protocol passes its <paramref name="usig"/> scheme — the same instance its core gets (<see cref="CreateCore(IProtocolDefinition, CellConfig, Authenticator, IReplicatedService, IReplicaOutput, UsigCertificateScheme?)"/>),
    /// so certified messages are checked by the replica's own trusted instance.
    /// </summary>
    public static MessageVerifier CreateReplicaVerifier(IProtocolDefinition definition, CellConfig config, Authenticator auth, UsigCertificateScheme? usig)
        => usig is null ? new(definition.Schema, auth, Limits(config)) : new(definition.Schema, auth, Limits(config), usig);

    /// <summary>Creates the core of replica <paramref name="auth"/>.SelfId, with the protocol's default execution stage over <paramref name="service"/>.</summary>
    /// <exception cref="ConfigException">the protocol is not built yet (the message names it).</exception>
    public static IReplicaCore CreateCore(CellConfig config, Authenticator auth, IReplicatedService service, IReplicaOutput output)
        => CreateCore(Definition(config), config, auth, service, output, null);

    /// <summary>Creates replica <paramref name="auth"/>.SelfId's core of <paramref name="definition"/> with its default execution
    /// stage; <paramref name="usig"/> is the replica's certificate scheme (required by USIG protocols, null otherwise).</summary>
    /// <exception cref="ArgumentException">from the definition: e.g. a USIG protocol without <paramref name="usig"/>.</exception>
    public static IReplicaCore CreateCore(IProtocolDefinition definition, CellConfig config, Authenticator auth, IReplicatedService service, IReplicaOutput output, UsigCertificateScheme? usig)
    {
        var p = Parameters(config);
        return definition.CreateReplica(p, auth, definition.CreateExecution(p, auth.SelfId, service), output, usig: usig);
    }

    /// <summary>
    /// The certificate scheme over replica <paramref name="replicaId"/>'s trusted counter, or null when
    /// <paramref name="definition"/>'s shape does not use one (PBFT, RePBFT: no USIG is created at all). The USIG comes from
    /// the cell's <c>usig</c> section (absent: <c>impl: auto</c>) through <see cref="UsigFactory.Create"/>; without
    /// <c>usig.key_file</c> the software USIG and the device model use the trusted key derived from keys.master
    /// (<see cref="KeyStore.TryDeriveUsigKey"/>: test and single-operator cells — every holder of the master secret can forge
    /// UIs with it). A software USIG starts a fresh epoch (<see cref="SoftwareUsig.DefaultEpoch"/>, µs since 1970) at every
    /// start, so a restarted replica never reuses a counter. The USIG is wrapped in a <see cref="MeteredUsig"/> (time and UIs
    /// spent in it, for the harness's USIG share) and the scheme owns it: disposing the scheme disposes the USIG.
    /// </summary>
    /// <param name="definition">the cell's protocol.</param>
    /// <param name="config">the validated cell config.</param>
    /// <param name="replicaId">this replica (the USIG instance id).</param>
    /// <param name="keys">the cell's key store.</param>
    /// <param name="logger">for the software-fallback warning and device driver messages; may be null.</param>
    /// <exception cref="ConfigException">the USIG cannot be created; the message names the <c>usig.*</c> key or the device error.</exception>
    public static UsigCertificateScheme? CreateUsigScheme(IProtocolDefinition definition, CellConfig config, uint replicaId, KeyStore keys, ILogger? logger = null)
        => CreateUsigScheme(definition, config, replicaId, keys, logger, out _);

    /// <summary><see cref="CreateUsigScheme(IProtocolDefinition, CellConfig, uint, KeyStore, ILogger?)"/>, also returning the
    /// meter around the USIG (null when no USIG is created).</summary>
    /// <exception cref="ConfigException">the USIG cannot be created; the message names the <c>usig.*</c> key or the device error.</exception>
    public static UsigCertificateScheme? CreateUsigScheme(IProtocolDefinition definition, CellConfig config, uint replicaId, KeyStore keys, ILogger? logger, out MeteredUsig? meter)
    {
        meter = null;
        if (!definition.Shape(config.F).UsesUsig) return null;
        var options = config.Usig ?? new UsigOptions();
        Span<byte> derived = stackalloc byte[32];
        bool hasDerived = keys.TryDeriveUsigKey(derived);
        IUsig usig;
        try
        {
            usig = UsigFactory.Create(options, replicaId, logger, hasDerived ? derived : default);
        }
        catch (UsigException e)
        {
            throw new ConfigException($"invalid cell config: usig: replica {replicaId} cannot start its trusted counter: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"invalid cell config: usig.device_path: replica {replicaId} cannot open its trusted counter: {e.Message}");
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(derived);
        }
        meter = new MeteredUsig(usig);
        return new UsigCertificateScheme(meter, ownsUsig: true);
    }
}
