using System.Buffers;
using System.Buffers.Binary;
using FastBft.Service;

namespace FastBft.Workloads;

/// <summary>
/// An order-sensitive test service: the state is a 64-bit accumulator; an operation of 8 bytes
/// (little-endian signed value x) sets acc := acc * 31 + x and replies with the new acc (8 bytes);
/// any other operation length replies with acc unchanged. A client can predict every result from a
/// sequential execution of the committed operations (<see cref="Reference"/>), which is what the
/// validity checks of the tests and the simulator compare against.
/// </summary>
public sealed class CounterService : IReplicatedService
{
    /// <summary>Current accumulator.</summary>
    public long Accumulator { get; private set; }
    /// <summary>Operations executed.</summary>
    public long Executed { get; private set; }

    /// <summary>The reference semantics: new accumulator after applying <paramref name="operation"/>.</summary>
    public static long Reference(long acc, ReadOnlySpan<byte> operation)
        => operation.Length == 8 ? unchecked(acc * 31 + BinaryPrimitives.ReadInt64LittleEndian(operation)) : acc;

    /// <inheritdoc/>
    public void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update)
    {
        Accumulator = Reference(Accumulator, operation);
        Executed++;
        BinaryPrimitives.WriteInt64LittleEndian(reply.GetSpan(8), Accumulator);
        reply.Advance(8);
        if (update is not null)
        {
            BinaryPrimitives.WriteInt64LittleEndian(update.GetSpan(8), Accumulator);
            update.Advance(8);
        }
    }

    /// <inheritdoc/>
    public void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update)
    {
        if (update.Length != 8) throw new InvalidDataException("counter update must be 8 bytes");
        Accumulator = BinaryPrimitives.ReadInt64LittleEndian(update);
        Executed++;
    }

    /// <inheritdoc/>
    public void GetStateDigest(Span<byte> digest32)
    {
        Span<byte> buf = stackalloc byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(buf, Accumulator);
        BinaryPrimitives.WriteInt64LittleEndian(buf.Slice(8), Executed);
        System.Security.Cryptography.SHA256.HashData(buf, digest32);
    }

    /// <inheritdoc/>
    public void WriteSnapshot(Stream destination)
    {
        Span<byte> buf = stackalloc byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(buf, Accumulator);
        BinaryPrimitives.WriteInt64LittleEndian(buf.Slice(8), Executed);
        destination.Write(buf);
    }

    /// <inheritdoc/>
    public void RestoreSnapshot(Stream source)
    {
        Span<byte> buf = stackalloc byte[16];
        source.ReadExactly(buf);
        Accumulator = BinaryPrimitives.ReadInt64LittleEndian(buf);
        Executed = BinaryPrimitives.ReadInt64LittleEndian(buf.Slice(8));
    }
}
