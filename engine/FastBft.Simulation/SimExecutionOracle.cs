using FastBft.Execution;
using FastBft.Service;

namespace FastBft.Simulation;

/// <summary>
/// The simulator's view of an execution stage under which the replicas do <em>not</em> all execute every request (selective
/// execution: ODRC, Thesis ch. 6; docs/odrc.md §6). Such a stage invalidates the whole-state oracles of <see cref="Simulator"/>
/// — agreement compared on executions, validity from a replica's executed log, convergence of whole-state digests, "no
/// execution below the last executed position" — so a protocol that has one (<see cref="ISimProtocol.CreateExecutionOracle"/>)
/// supplies these replacements. One instance per simulated run; it observes every replica's service and stage from their
/// creation on and judges them at the end of the run. The simulator calls it only from its one thread.
/// </summary>
public interface ISimExecutionOracle
{
    /// <summary>The service instance <paramref name="instance"/> of replica <paramref name="replica"/>'s stage executes on:
    /// <paramref name="recorded"/> (the simulator's recording wrapper), wrapped as the stage needs and observed.</summary>
    IReplicatedService Service(uint replica, int instance, RecordingService recorded);

    /// <summary>The execution stage instance <paramref name="instance"/> of replica <paramref name="replica"/> runs:
    /// <paramref name="stage"/> (created by the protocol definition over <see cref="Service"/>'s service), wrapped to observe it.</summary>
    IExecutionStage Stage(uint replica, int instance, IExecutionStage stage);

    /// <summary>
    /// End of run: checks the replacements over the replicas <paramref name="correct"/> accepts (agreement on the order, the
    /// results of every execution, at most once per request and agreement order per object, convergence of the copies) and
    /// builds <see cref="ReferenceReplies"/>. Null if they held; else the first violated invariant and what was seen.
    /// </summary>
    (string Invariant, string Detail)? Check(Func<uint, bool> correct);

    /// <summary>
    /// After <see cref="Check"/>: the reply of every request (client, request id) in a sequential execution of the agreed order
    /// (what an accepted result must equal: the validity oracle). Null before <see cref="Check"/>.
    /// </summary>
    IReadOnlyDictionary<(uint Client, ulong RequestId), byte[]>? ReferenceReplies { get; }

    /// <summary>What the stage of replica <paramref name="replica"/> did that a liveness report should show (e.g. state transfers it
    /// refused), or null: appended to the simulator's liveness details.</summary>
    string? Describe(uint replica);
}
