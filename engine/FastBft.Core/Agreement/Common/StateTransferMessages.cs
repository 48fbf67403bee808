using System.Buffers.Binary;
using FastBft.Wire;

namespace FastBft.Agreement;

/// <summary>
/// FETCH and STATE-DATA as every core sends and reads them (PBFT-PR §4.6.2; docs/wire-format.md, docs/state-transfer.md):
/// FETCH body = offset i64 LE (8 bytes); STATE-DATA body = total i32 LE ‖ offset i32 LE ‖ chunk (8 + chunk bytes). Both
/// carry the checkpoint's sequence number in the header and a MAC vector. One home for the layout, used by the PBFT and
/// MinBFT cores through their <see cref="IStateTransferOutput"/>.
/// </summary>
internal static class StateTransferMessages
{
    /// <summary>Sends FETCH(sequence, offset) to <paramref name="replica"/>.</summary>
    public static void SendFetch(MessageBuilder builder, IReplicaOutput output, ulong view, uint replica, ulong sequence, long offset)
    {
        var body = builder.BeginVector(MessageType.Fetch, view, sequence, 8);
        BinaryPrimitives.WriteInt64LittleEndian(body, offset);
        output.SendToReplica(replica, builder.SealVector());
    }

    /// <summary>Sends STATE-DATA(sequence, total, offset, chunk) to <paramref name="replica"/>.</summary>
    public static void SendStateData(MessageBuilder builder, IReplicaOutput output, ulong view, uint replica, ulong sequence, int total, int offset, ReadOnlySpan<byte> chunk)
    {
        var body = builder.BeginVector(MessageType.StateData, view, sequence, 8 + chunk.Length);
        BinaryPrimitives.WriteInt32LittleEndian(body, total);
        BinaryPrimitives.WriteInt32LittleEndian(body.Slice(4), offset);
        chunk.CopyTo(body.Slice(8));
        output.SendToReplica(replica, builder.SealVector());
    }

    /// <summary>The offset a verified FETCH asks for (its body is exactly 8 bytes by the schema).</summary>
    public static long FetchOffset(in MessageHeader h, ReadOnlySpan<byte> message) => BinaryPrimitives.ReadInt64LittleEndian(MessageHeader.Body(message, h));
}
