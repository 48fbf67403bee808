using FastBft.Auth;
using FastBft.Execution;
using FastBft.Service;
using FastBft.Verification;

namespace FastBft.Agreement.MinBft;

/// <summary>
/// MinBFT as the engine sees it (Thesis §2.2.1, §5.4; PROTOCOLS.md §4 [X]; docs/minbft.md): n = 2f+1, every replica
/// active and executing, <see cref="MinBftSchema"/>, <see cref="MinBftReplica"/>, quorums <see cref="QuorumPolicy.MinBft"/>.
/// Every replica needs a USIG (<see cref="CellShape.UsesUsig"/>).
/// </summary>
public sealed class MinBftProtocol : IProtocolDefinition
{
    /// <summary>The definition.</summary>
    public static readonly MinBftProtocol Instance = new();

    /// <inheritdoc/>
    public ProtocolKind Kind => ProtocolKind.MinBft;
    /// <inheritdoc/>
    public IMessageSchema Schema => MinBftSchema.Instance;
    /// <summary>True: a view change replaces a faulty leader (docs/minbft.md §5).</summary>
    public bool ReplacesFaultyLeader => true;
    /// <inheritdoc/>
    public CellShape Shape(int f) => new(ProtocolKind.MinBft, f);
    /// <inheritdoc/>
    public QuorumPolicy Quorums(int f) => QuorumPolicy.MinBft(f);

    /// <inheritdoc/>
    public IExecutionStage CreateExecution(ReplicaParameters parameters, uint self, IReplicatedService service)
    {
        int n = Shape(parameters.F).N;
        var executors = new uint[n];
        for (uint i = 0; i < n; i++) executors[i] = i;
        return new SequentialExecutionStage(service, self, executors, parameters.CheckpointInterval, parameters.Window / parameters.CheckpointInterval + 1);
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">no <paramref name="usig"/> (MinBFT needs one), or inconsistent parameters.</exception>
    public IReplicaCore CreateReplica(ReplicaParameters parameters, Authenticator auth, IExecutionStage execution, IReplicaOutput output, QuorumPolicy? quorums = null, UsigCertificateScheme? usig = null)
    {
        if (usig is null) throw new ArgumentException("MinBFT needs the replica's USIG certificate scheme (CellShape.UsesUsig)", nameof(usig));
        return new MinBftReplica(parameters, auth, execution, output, usig, quorums);
    }
}
