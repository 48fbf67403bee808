using System.Buffers;
using FastBft.Service;

namespace FastBft.Simulation;

/// <summary>One request a replica executed, as the simulator's invariant checks see it.</summary>
/// <param name="Info">position in the total order.</param>
/// <param name="Operation">the operation bytes.</param>
public readonly record struct ExecutedRequest(RequestInfo Info, byte[] Operation);

/// <summary>
/// Wraps the replicated service of a simulated replica and records every executed request (for the
/// agreement and validity checks) with a per-sequence-number fingerprint.
/// </summary>
public sealed class RecordingService(IReplicatedService inner) : IReplicatedService
{
    /// <summary>Executed requests in execution order.</summary>
    public List<ExecutedRequest> Log { get; } = new();
    /// <summary>Fingerprint of the requests executed at each sequence number.</summary>
    public Dictionary<ulong, ulong> Fingerprints { get; } = new();

    /// <inheritdoc/>
    public void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update)
    {
        Log.Add(new ExecutedRequest(request, operation.ToArray()));
        var h = new TraceHash();
        Fingerprints.TryGetValue(request.Sequence, out ulong prev);
        h.Add(prev); h.Add(request.ClientId); h.Add(request.RequestId); h.Add((ulong)request.Index); h.Add(operation);
        Fingerprints[request.Sequence] = h.Value;
        inner.Execute(request, operation, reply, update);
    }

    /// <inheritdoc/>
    public void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update) => inner.ApplyUpdate(request, update);
    /// <inheritdoc/>
    public void GetStateDigest(Span<byte> digest32) => inner.GetStateDigest(digest32);
    /// <inheritdoc/>
    public void WriteSnapshot(Stream destination) => inner.WriteSnapshot(destination);
    /// <inheritdoc/>
    public void RestoreSnapshot(Stream source) { Restores++; inner.RestoreSnapshot(source); }

    /// <summary>Snapshots installed (state transfers).</summary>
    public int Restores { get; private set; }
}
