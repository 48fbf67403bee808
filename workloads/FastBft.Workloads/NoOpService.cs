using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;
using FastBft.Service;

namespace FastBft.Workloads;

/// <summary>
/// The no-op micro-benchmark service of the thesis evaluation (Thesis §5.5.1: "no-op execution"):
/// executing a request does no work beyond producing a reply of the workload's size and, when asked,
/// a state update of the workload's update size (4/0/z). Its state is an order-sensitive 64-bit
/// chain over (client, request id, sequence, operation length) — two hardware CRC-32C lanes, so
/// execution costs nanoseconds like the thesis' no-op service instead of a SHA-256 per request — plus
/// the count of executed requests; <see cref="GetStateDigest"/> hashes them with SHA-256. Replicas
/// that executed different sequences end with different digests (up to CRC collisions, which are
/// fine for a benchmark service; it is not meant to detect a deliberate forgery).
/// The first 8 bytes of a non-empty reply hold the number of requests executed so far
/// (little-endian), so results depend on the execution order.
/// </summary>
public sealed class NoOpService : IReplicatedService
{
    private readonly Workload _workload;
    private uint _laneA = 0x6A09E667, _laneB = 0xBB67AE85;
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
        if (update is not null)
        {
            // The update brings a passive replica to the same state: the operation length (4 bytes) the state
            // folds in, padded to the workload's update size (Thesis §5.5.2: updates of the benchmark's size).
            int size = Math.Max(4, _workload.UpdateBytes);
            var u = update.GetSpan(size).Slice(0, size);
            u.Clear();
            BinaryPrimitives.WriteInt32LittleEndian(u, operation.Length);
            update.Advance(size);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidDataException">the update is shorter than 4 bytes.</exception>
    public void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update)
    {
        if (update.Length < 4) throw new InvalidDataException("no-op service update must hold the 4-byte operation length");
        Advance(request, BinaryPrimitives.ReadInt32LittleEndian(update));
    }

    private void Advance(in RequestInfo r, int opLength)
    {
        ulong a = ((ulong)r.ClientId << 32) | (uint)opLength;
        _laneA = BitOperations.Crc32C(BitOperations.Crc32C(BitOperations.Crc32C(_laneA, a), r.RequestId), r.Sequence);
        _laneB = BitOperations.Crc32C(BitOperations.Crc32C(BitOperations.Crc32C(_laneB ^ _laneA, r.Sequence), a), r.RequestId);
        _executed++;
    }

    private void WriteState(Span<byte> buf16)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(buf16, _laneA);
        BinaryPrimitives.WriteUInt32LittleEndian(buf16.Slice(4), _laneB);
        BinaryPrimitives.WriteInt64LittleEndian(buf16.Slice(8), _executed);
    }

    /// <inheritdoc/>
    public void GetStateDigest(Span<byte> digest32)
    {
        Span<byte> buf = stackalloc byte[16];
        WriteState(buf);
        SHA256.HashData(buf, digest32);
    }

    /// <inheritdoc/>
    public void WriteSnapshot(Stream destination)
    {
        Span<byte> buf = stackalloc byte[16];
        WriteState(buf);
        destination.Write(buf);
    }

    /// <inheritdoc/>
    public void RestoreSnapshot(Stream source)
    {
        Span<byte> buf = stackalloc byte[16];
        try { source.ReadExactly(buf); }
        catch (EndOfStreamException e) { throw new InvalidDataException("no-op service snapshot must be 16 bytes", e); }
        _laneA = BinaryPrimitives.ReadUInt32LittleEndian(buf);
        _laneB = BinaryPrimitives.ReadUInt32LittleEndian(buf.Slice(4));
        _executed = BinaryPrimitives.ReadInt64LittleEndian(buf.Slice(8));
    }
}
