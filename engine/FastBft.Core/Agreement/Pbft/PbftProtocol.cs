using FastBft.Auth;
using FastBft.Execution;
using FastBft.Service;
using FastBft.Verification;

namespace FastBft.Agreement.Pbft;

/// <summary>PBFT as the engine sees it (PBFT-PR; PROTOCOLS.md §3): n = 3f+1, every replica executes, <see cref="PbftSchema"/>, <see cref="PbftReplica"/>.</summary>
public sealed class PbftProtocol : IProtocolDefinition
{
    /// <summary>The definition.</summary>
    public static readonly PbftProtocol Instance = new();

    /// <inheritdoc/>
    public ProtocolKind Kind => ProtocolKind.Pbft;
    /// <inheritdoc/>
    public IMessageSchema Schema => PbftSchema.Instance;
    /// <inheritdoc/>
    public bool ReplacesFaultyLeader => true;
    /// <inheritdoc/>
    public CellShape Shape(int f) => new(ProtocolKind.Pbft, f);
    /// <inheritdoc/>
    public QuorumPolicy Quorums(int f) => QuorumPolicy.Pbft(f);

    /// <inheritdoc/>
    public IExecutionStage CreateExecution(ReplicaParameters parameters, uint self, IReplicatedService service)
    {
        int n = Shape(parameters.F).N;
        var executors = new uint[n];
        for (uint i = 0; i < n; i++) executors[i] = i;
        return new SequentialExecutionStage(service, self, executors, parameters.CheckpointInterval, parameters.Window / parameters.CheckpointInterval + 1);
    }

    /// <inheritdoc/>
    public IReplicaCore CreateReplica(ReplicaParameters parameters, Authenticator auth, IExecutionStage execution, IReplicaOutput output, QuorumPolicy? quorums = null, UsigCertificateScheme? usig = null)
    {
        return new PbftReplica(parameters, auth, execution, output, quorums);
    }
}
