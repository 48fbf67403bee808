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
/// The cores that host the stage are PBFT (n = 3f+1) and MinBFT (n = 2f+1), through the shared glue
/// <c>FastBft.Agreement.OdrcHosting</c> (docs/odrc.md §4a); <see cref="Supports"/> says which protocols can host it and why
/// the others cannot.
/// </summary>
public sealed class OdrcProtocol : IProtocolDefinition
{
    private readonly IProtocolDefinition _agreement;
    private readonly IMessageSchema _schema;

    /// <summary>
    /// Why the protocols with passive replicas (RePBFT, RePBFT*, ReMinBFT; Thesis ch. 5) cannot host ODRC (docs/odrc.md §4a).
    /// </summary>
    public const string PassiveReplicasReason =
        "its passive replicas execute nothing and are kept current by the state updates the active replicas send after executing every request, "
        + "but under ODRC (selective execution) each request executes on only the f+1 maintainers of its objects, so no replica has every update to send";

    /// <summary>
    /// True if <paramref name="kind"/>'s cores host the ODRC stage: PBFT and MinBFT. Otherwise false and
    /// <paramref name="reason"/> says why (for a configuration error message).
    /// </summary>
    public static bool Supports(ProtocolKind kind, out string reason)
    {
        reason = kind is ProtocolKind.Pbft or ProtocolKind.MinBft ? "" : PassiveReplicasReason;
        return reason.Length == 0;
    }

    /// <summary>ODRC under <paramref name="agreement"/>.</summary>
    /// <param name="agreement">the agreement protocol: PBFT (the default) or MinBFT (<see cref="Supports"/>).</param>
    /// <param name="placement">round-robin or locality.</param>
    /// <param name="options">selector options (null = defaults).</param>
    /// <exception cref="NotSupportedException">the agreement protocol cannot host ODRC (the message says why).</exception>
    public OdrcProtocol(IProtocolDefinition agreement, PlacementStrategy placement, SelectorOptions? options = null)
    {
        if (!Supports(agreement.Kind, out var why)) throw new NotSupportedException($"ODRC cannot run under {agreement.Kind}: {why}");
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
