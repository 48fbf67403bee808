using FastBft.Auth;
using FastBft.Execution;
using FastBft.Service;
using FastBft.Verification;

namespace FastBft.Agreement.ReMinBft;

/// <summary>
/// ReMinBFT as the engine sees it (Thesis §5.4; PROTOCOLS.md §6; docs/reminbft.md): n = 2f+1, f+1 active (the leader and
/// f followers) and f passive, <see cref="ReMinBftSchema"/>, <see cref="ReMinBftReplica"/>, quorums
/// <see cref="QuorumPolicy.ReMinBft"/>. Every replica needs a USIG (<see cref="CellShape.UsesUsig"/>).
/// </summary>
public sealed class ReMinBftProtocol : IProtocolDefinition
{
    /// <summary>The definition.</summary>
    public static readonly ReMinBftProtocol Instance = new();

    /// <inheritdoc/>
    public ProtocolKind Kind => ProtocolKind.ReMinBft;
    /// <inheritdoc/>
    public IMessageSchema Schema => ReMinBftSchema.Instance;
    /// <summary>True: the switch to MinBFT (Thesis §5.4.3) replaces a faulty leader (its first coordinator is the first follower;
    /// coordinator rotation is not built yet, docs/reminbft.md §7).</summary>
    public bool ReplacesFaultyLeader => true;
    /// <inheritdoc/>
    public CellShape Shape(int f) => new(ProtocolKind.ReMinBft, f);
    /// <inheritdoc/>
    public QuorumPolicy Quorums(int f) => QuorumPolicy.ReMinBft(f);

    /// <summary>A <see cref="SequentialExecutionStage"/> whose executors are the active set of the first generation
    /// (<see cref="ReplicaParameters.FirstLeader"/> and the next f replicas); passive replicas apply UPDATEs through it.</summary>
    public IExecutionStage CreateExecution(ReplicaParameters parameters, uint self, IReplicatedService service)
        => new SequentialExecutionStage(service, self, ReMinBftReplica.ActiveSet(Shape(parameters.F), parameters.FirstLeader), parameters.CheckpointInterval, parameters.Window / parameters.CheckpointInterval + 2);

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">no <paramref name="usig"/>, an execution stage that is not a <see cref="SequentialExecutionStage"/>, or inconsistent parameters.</exception>
    public IReplicaCore CreateReplica(ReplicaParameters parameters, Authenticator auth, IExecutionStage execution, IReplicaOutput output, QuorumPolicy? quorums = null, UsigCertificateScheme? usig = null)
    {
        if (usig is null) throw new ArgumentException("ReMinBFT needs the replica's USIG certificate scheme (CellShape.UsesUsig)", nameof(usig));
        if (execution is not SequentialExecutionStage stage) throw new ArgumentException("ReMinBFT needs a SequentialExecutionStage (passive replicas apply UPDATEs through it)", nameof(execution));
        return new ReMinBftReplica(parameters, auth, stage, output, usig, quorums);
    }
}
