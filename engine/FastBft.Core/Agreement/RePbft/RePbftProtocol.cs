using FastBft.Auth;
using FastBft.Execution;
using FastBft.Service;
using FastBft.Verification;

namespace FastBft.Agreement.RePbft;

/// <summary>
/// RePBFT and RePBFT* as the engine sees them (Thesis §5.3; PROTOCOLS.md §5; docs/repbft.md): n = 3f+1, 2f+1 active,
/// f passive; <see cref="RePbftSchema"/>; <see cref="RePbftReplica"/>; every replica holds a
/// <see cref="SequentialExecutionStage"/> (passive ones apply updates through it, and all execute after a switch).
/// </summary>
public sealed class RePbftProtocol : IProtocolDefinition
{
    /// <summary>RePBFT: every active replica executes.</summary>
    public static readonly RePbftProtocol Instance = new(star: false);
    /// <summary>RePBFT*: f+1 active replicas execute (Thesis §5.3.5).</summary>
    public static readonly RePbftProtocol Star = new(star: true);

    private readonly bool _star;
    private RePbftProtocol(bool star) => _star = star;

    /// <inheritdoc/>
    public ProtocolKind Kind => _star ? ProtocolKind.RePbftStar : ProtocolKind.RePbft;
    /// <inheritdoc/>
    public IMessageSchema Schema => RePbftSchema.Instance;
    /// <inheritdoc/>
    public bool ReplacesFaultyLeader => true;
    /// <inheritdoc/>
    public CellShape Shape(int f) => new(Kind, f);
    /// <inheritdoc/>
    public QuorumPolicy Quorums(int f) => QuorumPolicy.RePbft(f);

    /// <inheritdoc/>
    public IExecutionStage CreateExecution(ReplicaParameters parameters, uint self, IReplicatedService service)
    {
        int n = Shape(parameters.F).N;
        var executors = new uint[n];
        for (uint i = 0; i < n; i++) executors[i] = i;                 // the core narrows it to the generation's executors
        return new SequentialExecutionStage(service, self, executors, parameters.CheckpointInterval, parameters.Window / parameters.CheckpointInterval + 2);
    }

    /// <inheritdoc/>
    public IReplicaCore CreateReplica(ReplicaParameters parameters, Authenticator auth, IExecutionStage execution, IReplicaOutput output, QuorumPolicy? quorums = null, UsigCertificateScheme? usig = null)
        => new RePbftReplica(parameters, auth, execution, output, _star, quorums);
}
