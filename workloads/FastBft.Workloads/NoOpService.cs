using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using FastBft.Service;

namespace FastBft.Workloads;

/// <summary>
/// The no-op micro-benchmark service of the thesis evaluation (Thesis §5.5.1: "no-op execution"):
/// executing a request does no work beyond producing a reply of the workload's size and, when asked,
/// a state update of the workload's update size (4/0/z). Its state is an order-sensitive chain
/// digest over (client, request id, sequence, operation length) plus the count of executed requests,
/// so replicas that executed different sequences end with different state digests.
/// The first 8 bytes of a non-empty reply hold the number of requests executed so far
/// (little-endian), so results depend on the execution order.
/// </summary>
public sealed class NoOpService : IReplicatedService
{
    private readonly Workload _workload;
    private readonly byte[] _chain = new byte[32];
    private long _executed;

    /// <summary>Creates the service for <paramref name="workload"/>.</summary>
    public NoOpService(Workload workload) => _workload = workload;

    /// <summary>Requests executed or applied so far.</summary>
    public long Executed => _executed;

    /// <inheritdoc/>
    public void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update)
    {
        Advance(request, operation.Length);
        if (_workload.ReplyBytes > 0)
        {
            var span = reply.GetSpan(_workload.ReplyBytes).Slice(0, _workload.ReplyBytes);
            span.Clear();
            if (span.Length >= 8) BinaryPrimitives.WriteInt64LittleEndian(span, _executed);
            reply.Advance(_workload.ReplyBytes);
        }
        if (update is not null && _workload.UpdateBytes > 0)
        {
            var u = update.GetSpan(_workload.UpdateBytes).Slice(0, _workload.UpdateBytes);
            u.Clear();
            update.Advance(_workload.UpdateBytes);
        }
    }

    /// <inheritdoc/>
    public void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update) => Advance(request, -1);

    private void Advance(in RequestInfo r, int opLength)
    {
        Span<byte> buf = stackalloc byte[32 + 4 + 8 + 8 + 4];
        _chain.CopyTo(buf);
        BinaryPrimitives.WriteUInt32LittleEndian(buf.Slice(32), r.ClientId);
        BinaryPrimitives.WriteUInt64LittleEndian(buf.Slice(36), r.RequestId);
        BinaryPrimitives.WriteUInt64LittleEndian(buf.Slice(44), r.Sequence);
        BinaryPrimitives.WriteInt32LittleEndian(buf.Slice(52), opLength);
        SHA256.HashData(buf, _chain);
        _executed++;
    }

    /// <inheritdoc/>
    public void GetStateDigest(Span<byte> digest32)
    {
        Span<byte> buf = stackalloc byte[40];
        _chain.CopyTo(buf);
        BinaryPrimitives.WriteInt64LittleEndian(buf.Slice(32), _executed);
        SHA256.HashData(buf, digest32);
    }

    /// <inheritdoc/>
    public void WriteSnapshot(Stream destination)
    {
        Span<byte> buf = stackalloc byte[40];
        _chain.CopyTo(buf);
        BinaryPrimitives.WriteInt64LittleEndian(buf.Slice(32), _executed);
        destination.Write(buf);
    }

    /// <inheritdoc/>
    public void RestoreSnapshot(Stream source)
    {
        Span<byte> buf = stackalloc byte[40];
        source.ReadExactly(buf);
        buf.Slice(0, 32).CopyTo(_chain);
        _executed = BinaryPrimitives.ReadInt64LittleEndian(buf.Slice(32));
    }
}
