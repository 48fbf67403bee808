using System.Buffers;
using FastBft.Service;

namespace FastBft.Simulation;

/// <summary>One request a replica executed, as the simulator's invariant checks see it.</summary>
/// <param name="Info">position in the total order.</param>
/// <param name="Operation">the operation bytes.</param>
public readonly record struct ExecutedRequest(RequestInfo Info, byte[] Operation);

/// <summary>
/// Wraps the replicated service of a simulated replica and records every executed request (for the
/// agreement and validity checks) with a per-sequence-number fingerprint of the first execution at
/// that number. Executing a position (sequence number, index in the batch) at or below one already
/// executed — twice, or after a rollback — is recorded separately (<see cref="ReExecution"/>): it is
/// a bug of its own, and it must not be mistaken for two replicas disagreeing.
/// </summary>
public sealed class RecordingService(IReplicatedService inner) : IReplicatedService
{
    /// <summary>The wrapped service.</summary>
    public IReplicatedService Inner => inner;

    /// <summary>
    /// True under selective execution (ODRC, Thesis ch. 6): a replica executes only some requests, and replays older stored
    /// requests (cross-border updates, forced requests) after later ones, so executing below the highest position executed
    /// is by design and is not recorded as <see cref="ReExecution"/>; the protocol's execution oracle checks at most once
    /// per request and agreement order per object instead (<see cref="ISimExecutionOracle"/>).
    /// </summary>
    public bool SelectiveExecution { get; init; }

    /// <summary>
    /// A state transfer installed by the execution stage itself, not through <see cref="RestoreSnapshot"/> (ODRC restores
    /// its selector's agreed state and fetches object states on demand, docs/odrc.md §9): counted in <see cref="Restores"/>.
    /// </summary>
    public void CountStageRestore() => Restores++;

    /// <summary>Executed requests in execution order.</summary>
    public List<ExecutedRequest> Log { get; } = new();
    /// <summary>Fingerprint of the requests executed at each sequence number.</summary>
    public Dictionary<ulong, ulong> Fingerprints { get; } = new();

    /// <inheritdoc/>
    public void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update)
    {
        bool again = !SelectiveExecution && ((_any && (request.Sequence < _lastSeq || (request.Sequence == _lastSeq && request.Index <= _lastIndex)))
                     || (_anyApplied && request.Sequence <= _appliedTop && Restores == _restoresAtApply));   // executing a sequence number whose update it applied
        if (again)
        {
            ReExecution ??= $"executed seq {request.Sequence} index {request.Index} (client {request.ClientId} request {request.RequestId}) after seq {_lastSeq} index {_lastIndex} (state transfers so far: {Restores})";
            ReExecutions++;
            inner.Execute(request, operation, reply, update);
            return;
        }
        _any = true; _lastSeq = request.Sequence; _lastIndex = request.Index;
        Log.Add(new ExecutedRequest(request, operation.ToArray()));
        AddToFingerprint(request, operation);
        inner.Execute(request, operation, reply, update);
    }

    /// <summary>Folds (client, request id, index, bytes) into the fingerprint of the request's sequence number.</summary>
    private void AddToFingerprint(in RequestInfo request, ReadOnlySpan<byte> bytes)
    {
        var h = new TraceHash();
        Fingerprints.TryGetValue(request.Sequence, out ulong prev);
        h.Add(prev); h.Add(request.ClientId); h.Add(request.RequestId); h.Add((ulong)request.Index); h.Add(bytes);
        Fingerprints[request.Sequence] = h.Value;
    }

    /// <summary>State updates applied (passive replicas, Thesis §5.3.1.2), in order.</summary>
    public List<(RequestInfo Info, byte[] Update)> Applied { get; } = new();

    /// <summary>
    /// Sequence numbers at which this replica applied state updates instead of executing (passive replicas, Thesis
    /// §5.3.1.2). They have no execution fingerprint: agreement compares executions only, and the states reached by
    /// applying are compared by the convergence oracle (equal state digests at equal last executed numbers).
    /// </summary>
    public HashSet<ulong> AppliedSeqs { get; } = new();

    /// <inheritdoc/>
    public void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update)
    {
        Applied.Add((request, update.ToArray()));
        AppliedSeqs.Add(request.Sequence);
        if (!_anyApplied || request.Sequence > _appliedTop) _appliedTop = request.Sequence;
        _anyApplied = true;
        _restoresAtApply = Restores;
        inner.ApplyUpdate(request, update);
    }
    /// <inheritdoc/>
    public void GetStateDigest(Span<byte> digest32) => inner.GetStateDigest(digest32);
    /// <inheritdoc/>
    public void WriteSnapshot(Stream destination) => inner.WriteSnapshot(destination);
    /// <inheritdoc/>
    public void RestoreSnapshot(Stream source) { Restores++; inner.RestoreSnapshot(source); }

    /// <summary>Snapshots installed (state transfers).</summary>
    public int Restores { get; private set; }

    /// <summary>The first re-execution (a position executed at or below the highest one executed before), or null.</summary>
    public string? ReExecution { get; private set; }
    /// <summary>Number of re-executed requests.</summary>
    public int ReExecutions { get; private set; }

    private bool _any, _anyApplied;
    private ulong _lastSeq, _appliedTop;
    private int _restoresAtApply;
    private int _lastIndex;
}
