using FastBft.Auth;
using FastBft.Agreement;
using FastBft.Agreement.Pbft;
using FastBft.Service;

namespace FastBft.Simulation;

/// <summary>Cell parameters of a simulated run (kept small so a scenario is short in virtual time).</summary>
public sealed record SimCellParameters
{
    /// <summary>Requests per batch.</summary>
    public int BatchSize { get; init; } = 4;
    /// <summary>Checkpoint interval K.</summary>
    public int CheckpointInterval { get; init; } = 4;
    /// <summary>Log window L (multiple of K).</summary>
    public int Window { get; init; } = 8;
    /// <summary>Batches in flight at the primary.</summary>
    public int MaxInflightBatches { get; init; } = 2;
    /// <summary>Ticks before a stalled slot is retransmitted.</summary>
    public int RetransmitTicks { get; init; } = 2;
    /// <summary>Ticks without progress on a pending request before a backup starts a view change.</summary>
    public int ViewChangeTicks { get; init; } = 8;
    /// <summary>COMMIT quorum override (0 = 2f+1). Planted-bug knob.</summary>
    public int CommitQuorum { get; init; }
}

/// <summary>
/// The extension point through which a protocol core plugs into the simulator: it builds one
/// replica core (MinBFT/RePBFT cores will add their own implementation).
/// </summary>
public interface ISimProtocol
{
    /// <summary>Name used on the command line ("pbft").</summary>
    string Name { get; }
    /// <summary>True if the core replaces a faulty leader (view change); otherwise liveness is not asserted for leader faults that stop progress.</summary>
    bool SupportsViewChange { get; }
    /// <summary>Creates replica <paramref name="auth"/>.SelfId of a cell with n = 3f+1.</summary>
    IReplicaCore CreateReplica(int f, SimCellParameters p, Authenticator auth, IReplicatedService service, IReplicaOutput output);
}

/// <summary>The production PBFT core (<see cref="PbftReplica"/>).</summary>
public sealed class PbftSimProtocol : ISimProtocol
{
    /// <inheritdoc/>
    public string Name => "pbft";
    /// <inheritdoc/>
    public bool SupportsViewChange => true;

    /// <inheritdoc/>
    public IReplicaCore CreateReplica(int f, SimCellParameters p, Authenticator auth, IReplicatedService service, IReplicaOutput output)
    {
        var settings = new PbftSettings
        {
            N = 3 * f + 1, F = f, BatchSize = p.BatchSize, CheckpointInterval = p.CheckpointInterval, Window = p.Window,
            MaxInflightBatches = p.MaxInflightBatches, RetransmitTicks = p.RetransmitTicks, ViewChangeTicks = p.ViewChangeTicks,
            CommitQuorum = p.CommitQuorum > 0 ? p.CommitQuorum : 2 * f + 1, CheckpointQuorum = 2 * f + 1,
        };
        return new PbftReplica(settings, auth, service, output);
    }
}

/// <summary>Protocols the simulator knows, by name.</summary>
public static class SimProtocols
{
    /// <summary>The protocol named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">unknown name.</exception>
    public static ISimProtocol Get(string name) => name.ToLowerInvariant() switch
    {
        "pbft" => new PbftSimProtocol(),
        _ => throw new ArgumentException($"unknown protocol '{name}' (known: pbft)", nameof(name)),
    };
}
