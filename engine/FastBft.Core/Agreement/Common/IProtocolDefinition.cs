using FastBft.Auth;
using FastBft.Execution;
using FastBft.Service;
using FastBft.Verification;

namespace FastBft.Agreement;

/// <summary>
/// Protocol-neutral parameters of one replica core (from a cell configuration or a simulated cell).
/// Units: sequence numbers, requests, ticks, bytes.
/// </summary>
public sealed record ReplicaParameters
{
    /// <summary>Faults tolerated (≥ 1).</summary>
    public required int F { get; init; }
    /// <summary>Maximum requests per batch.</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>Batches in flight at the leader before it lets the next one fill.</summary>
    public int MaxInflightBatches { get; init; } = 4;
    /// <summary>Checkpoint interval K.</summary>
    public int CheckpointInterval { get; init; } = 128;
    /// <summary>Log window L (a multiple of K).</summary>
    public int Window { get; init; } = 256;
    /// <summary>Ticks a slot may stall before its messages are re-sent.</summary>
    public int RetransmitTicks { get; init; } = 10;
    /// <summary>View-change timeout, ticks (doubles per consecutive attempt).</summary>
    public int ViewChangeTicks { get; init; } = 40;
    /// <summary>Largest checkpoint snapshot a state transfer accepts, bytes (R3: a STATE-DATA's claimed total above it is ignored; the fetch buffer grows only with bytes received).</summary>
    public int MaxStateBytes { get; init; } = 256 << 20;
    /// <summary>Views a view-change message may lead the replica's view by; farther ones are dropped (L4/R1: a replica that far behind catches up by a forwarded new-view message).</summary>
    public int MaxViewLead { get; init; } = 1024;
    /// <summary>Switching protocols (RePBFT, ReMinBFT): ticks an active replica waits for a valid SWITCH from the transition coordinator before it sends its abort history to the next one; doubles per rotation (Thesis §5.3.2.5). 0 = <see cref="ViewChangeTicks"/>.</summary>
    public int SwitchTicks { get; init; }
    /// <summary>Switching protocols: PBFT/MinBFT instances (sequence numbers) to run after a switch before returning to the resource-saving protocol at the next checkpoint (Thesis §5.3.3; docs/repbft.md §6); 0 = never return.</summary>
    public long SwitchBackAfter { get; init; }
    /// <summary>Switching protocols: the leader of the first generation (the active set is it and the next active−1 replicas, CellShape.RoleOf).</summary>
    public uint FirstLeader { get; init; }
}

/// <summary>
/// What a protocol folder supplies to the engine (docs/architecture.md "Adding a protocol"): its shape,
/// its message schema, its default execution stage and its replica core. The host, the simulator and
/// the tests create cores only through <see cref="Protocols"/>.
/// </summary>
public interface IProtocolDefinition
{
    /// <summary>The protocol.</summary>
    ProtocolKind Kind { get; }
    /// <summary>The message schema of the protocol's family.</summary>
    IMessageSchema Schema { get; }
    /// <summary>True if a faulty leader is replaced (view change or switch); the simulator asserts liveness under leader faults only then.</summary>
    bool ReplacesFaultyLeader { get; }
    /// <summary>The cell shape for <paramref name="f"/>.</summary>
    CellShape Shape(int f);
    /// <summary>The quorum sizes for <paramref name="f"/>.</summary>
    QuorumPolicy Quorums(int f);
    /// <summary>The default execution stage of replica <paramref name="self"/>.</summary>
    IExecutionStage CreateExecution(ReplicaParameters parameters, uint self, IReplicatedService service);
    /// <summary>Creates replica <paramref name="auth"/>.SelfId's core.</summary>
    /// <param name="parameters">protocol parameters.</param>
    /// <param name="auth">the replica's authenticator (its id is the replica id).</param>
    /// <param name="execution">the execution stage (usually <see cref="CreateExecution"/>'s).</param>
    /// <param name="output">where its messages leave.</param>
    /// <param name="quorums">quorums to use; null = <see cref="Quorums"/>. Tests plant bugs here.</param>
    /// <param name="usig">the replica's trusted counter behind its certificate scheme (the same instance its verifier
    /// checks UIs with); required when <see cref="CellShape.UsesUsig"/> (MinBFT, ReMinBFT), ignored otherwise.</param>
    /// <exception cref="ArgumentException">parameters inconsistent for the protocol, or no <paramref name="usig"/> for a USIG protocol.</exception>
    IReplicaCore CreateReplica(ReplicaParameters parameters, Authenticator auth, IExecutionStage execution, IReplicaOutput output, QuorumPolicy? quorums = null, UsigCertificateScheme? usig = null);
}

/// <summary>The protocols this engine builds, by kind and by configuration name.</summary>
public static class Protocols
{
    /// <summary>The definition of <paramref name="kind"/>.</summary>
    /// <exception cref="NotSupportedException">the protocol is not built yet; the message names it.</exception>
    public static IProtocolDefinition Get(ProtocolKind kind) => kind switch
    {
        ProtocolKind.Pbft => Pbft.PbftProtocol.Instance,
        ProtocolKind.RePbft => RePbft.RePbftProtocol.Instance,
        ProtocolKind.RePbftStar => RePbft.RePbftProtocol.Star,
        ProtocolKind.MinBft => MinBft.MinBftProtocol.Instance,
        ProtocolKind.ReMinBft => ReMinBft.ReMinBftProtocol.Instance,
        _ => throw new NotSupportedException($"protocol '{new CellShape(kind, 1).Name}' is not built yet (built: {string.Join(", ", Built)})"),
    };

    /// <summary>The definition named <paramref name="name"/> ("pbft", …).</summary>
    /// <exception cref="NotSupportedException">unknown name, or a protocol not built yet.</exception>
    public static IProtocolDefinition Get(string name)
        => CellShape.TryParse(name, out var kind) ? Get(kind) : throw new NotSupportedException($"unknown protocol '{name}' (known: {string.Join(", ", CellShape.Names)})");

    /// <summary>True if <paramref name="kind"/> is built.</summary>
    public static bool IsBuilt(ProtocolKind kind) => kind is ProtocolKind.Pbft or ProtocolKind.RePbft or ProtocolKind.RePbftStar or ProtocolKind.MinBft or ProtocolKind.ReMinBft;

    /// <summary>Names of the built protocols.</summary>
    public static IEnumerable<string> Built => CellShape.Names.Where((_, i) => IsBuilt((ProtocolKind)i));
}
