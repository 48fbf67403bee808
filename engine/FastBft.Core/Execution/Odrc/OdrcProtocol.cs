using FastBft.Agreement;
using FastBft.Auth;
using FastBft.Service;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Execution.Odrc;

/// <summary>
/// An agreement protocol with the ODRC execution stage under it (Thesis ch. 6; docs/odrc.md §3): the agreement
/// protocol's shape, quorums and core, its schema plus the ODRC message rules (<see cref="OdrcWire.Rules"/>), and an
/// <see cref="OdrcExecutionStage"/> per replica (execution replicas = the cell's replicas, each object maintained by f+1).
/// Only cores that route the ODRC messages to the stage run it fully; PBFT does (<c>PbftReplica.Odrc.cs</c>).
/// </summary>
public sealed class OdrcProtocol : IProtocolDefinition
{
    private readonly IProtocolDefinition _agreement;
    private readonly IMessageSchema _schema;

    /// <summary>ODRC under <paramref name="agreement"/>.</summary>
    /// <param name="agreement">the agreement protocol (PBFT by default).</param>
    /// <param name="placement">round-robin or locality.</param>
    /// <param name="options">selector options (null = defaults).</param>
    public OdrcProtocol(IProtocolDefinition agreement, PlacementStrategy placement, SelectorOptions? options = null)
    {
        _agreement = agreement;
        Placement = placement;
        Options = options ?? new SelectorOptions();
        _schema = new CompositeSchema(agreement.Schema);
    }

    /// <summary>The placement strategy.</summary>
    public PlacementStrategy Placement { get; }
    /// <summary>The selector options.</summary>
    public SelectorOptions Options { get; }
    /// <summary>The agreement protocol.</summary>
    public IProtocolDefinition Agreement => _agreement;

    /// <inheritdoc/>
    public ProtocolKind Kind => _agreement.Kind;
    /// <inheritdoc/>
    public IMessageSchema Schema => _schema;
    /// <inheritdoc/>
    public bool ReplacesFaultyLeader => _agreement.ReplacesFaultyLeader;
    /// <inheritdoc/>
    public CellShape Shape(int f) => _agreement.Shape(f);
    /// <inheritdoc/>
    public QuorumPolicy Quorums(int f) => _agreement.Quorums(f);

    /// <inheritdoc/>
    public IExecutionStage CreateExecution(ReplicaParameters parameters, uint self, IReplicatedService service)
    {
        int n = Shape(parameters.F).N;
        var placement = new ObjectPlacement(Math.Max(n, Options.ExecutionReplicas), parameters.F, Placement);
        return new OdrcExecutionStage(service, self, placement, Options, parameters.CheckpointInterval, parameters.Window / parameters.CheckpointInterval + 1);
    }

    /// <inheritdoc/>
    public IReplicaCore CreateReplica(ReplicaParameters parameters, Authenticator auth, IExecutionStage execution, IReplicaOutput output, QuorumPolicy? quorums = null, UsigCertificateScheme? usig = null)
        => _agreement.CreateReplica(parameters, auth, execution, output, quorums, usig);

    private sealed class CompositeSchema(IMessageSchema inner) : IMessageSchema
    {
        private readonly MessageRule[] _odrc = OdrcWire.Rules().ToArray();
        public ProtocolFamily Family => inner.Family;
        public MessageRule? Rule(MessageType type)
        {
            foreach (var r in _odrc) if (r.Type == type) return r;
            return inner.Rule(type);
        }
    }
}
