using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Execution.Odrc;

/// <summary>
/// Body layouts of the ODRC messages (docs/odrc.md §5), little-endian; the header's sequence field carries the
/// checkpoint ordinal s. Every length field is checked against the body's real length — exact match, no slack — and
/// against <see cref="OdrcLimits"/>, before anything is allocated:
/// <list type="bullet">
/// <item>OBJECT-CHECKPOINT: idLength[4] ‖ id ‖ H(state)[32] ‖ count[4] ‖ count × (access[8] ‖ client[4] ‖ rid[8] ‖ seq[8] ‖ H(reply)[32]).</item>
/// <item>OBJECT-FETCH: idLength[4] ‖ id.</item>
/// <item>OBJECT-STATE: idLength[4] ‖ id ‖ stateLength[4] ‖ state.</item>
/// </list>
/// </summary>
public static class OdrcWire
{
    /// <summary>The schema rules of the ODRC messages (added to the agreement protocol's schema in an ODRC cell).</summary>
    public static IReadOnlyList<MessageRule> Rules() =>
    [
        new(MessageType.ObjectCheckpoint, SenderRole.Replica, AuthenticatorKind.ReplicaVector, 4 + 32 + 4, 4 + OdrcLimits.MaxObjectIdBytes + 36 + OdrcLimits.MaxReplyHashes * OdrcLimits.ReplyHashBytes, CheckpointRule.Instance),
        new(MessageType.ObjectFetch, SenderRole.Replica, AuthenticatorKind.ReplicaVector, 4, 4 + OdrcLimits.MaxObjectIdBytes, FetchRule.Instance),
        new(MessageType.ObjectState, SenderRole.Replica, AuthenticatorKind.ReplicaVector, 8, 8 + OdrcLimits.MaxObjectIdBytes + OdrcLimits.MaxObjectStateBytes, StateRule.Instance),
    ];

    /// <summary>
    /// The rules an extended cell's execution network verifies (docs/odrc.md §4, G21): the ODRC messages plus ORDERED-BATCH
    /// (an agreement replica's committed batch for an execution-only replica: body = the batch body, ≥ 32 bytes, ≤ the
    /// cell's max_message_bytes), all under MAC vectors over the E execution replicas.
    /// </summary>
    public static IReadOnlyList<MessageRule> ExtendedRules() =>
    [
        .. Rules(),
        new(MessageType.OrderedBatch, SenderRole.Replica, AuthenticatorKind.ReplicaVector, 32, int.MaxValue),
        new(MessageType.OrderedBatchFetch, SenderRole.Replica, AuthenticatorKind.ReplicaVector, 0, 0),
    ];

    /// <summary>Body length of an OBJECT-CHECKPOINT.</summary>
    public static int CheckpointLength(ObjectCheckpoint cp) => 4 + cp.ObjectId.Length + 36 + cp.Replies.Length * OdrcLimits.ReplyHashBytes;

    /// <summary>Writes an OBJECT-CHECKPOINT body (exactly <see cref="CheckpointLength"/> bytes).</summary>
    public static void WriteCheckpoint(ObjectCheckpoint cp, Span<byte> body)
    {
        var w = new OdrcWriter(body);
        w.Bytes(cp.ObjectId); w.Raw(cp.StateHash); w.U32((uint)cp.Replies.Length);
        foreach (var r in cp.Replies) { w.U64(r.Access); w.U32(r.ClientId); w.U64(r.RequestId); w.U64(r.Sequence); w.Raw(r.Hash); }
    }

    /// <summary>Reads an OBJECT-CHECKPOINT body from <paramref name="sender"/> at ordinal <paramref name="ordinal"/>; null if malformed.</summary>
    public static ObjectCheckpoint? ReadCheckpoint(uint sender, ulong ordinal, ReadOnlySpan<byte> body)
    {
        if (!CheckpointWellFormed(body, out int idLen, out int count)) return null;
        var id = body.Slice(4, idLen).ToArray();
        int off = 4 + idLen;
        var hash = body.Slice(off, 32).ToArray();
        off += 36;
        var replies = new ReplyHash[count];
        for (int i = 0; i < count; i++, off += OdrcLimits.ReplyHashBytes)
        {
            var e = body.Slice(off, OdrcLimits.ReplyHashBytes);
            replies[i] = new ReplyHash(BinaryPrimitives.ReadUInt64LittleEndian(e), BinaryPrimitives.ReadUInt32LittleEndian(e.Slice(8)),
                BinaryPrimitives.ReadUInt64LittleEndian(e.Slice(12)), BinaryPrimitives.ReadUInt64LittleEndian(e.Slice(20)), e.Slice(28, 32).ToArray());
        }
        return new ObjectCheckpoint { Sender = sender, ObjectId = id, Ordinal = ordinal, StateHash = hash, Replies = replies };
    }

    /// <summary>True if an OBJECT-CHECKPOINT body's length fields agree exactly with its length and the limits.</summary>
    public static bool CheckpointWellFormed(ReadOnlySpan<byte> body, out int idLength, out int count)
    {
        idLength = 0; count = 0;
        if (body.Length < 4 + 36) return false;
        uint idLen = BinaryPrimitives.ReadUInt32LittleEndian(body);
        if (idLen > OdrcLimits.MaxObjectIdBytes || body.Length < 4 + (int)idLen + 36) return false;
        uint n = BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(4 + (int)idLen + 32));
        if (n > OdrcLimits.MaxReplyHashes) return false;
        if ((long)body.Length != 4 + idLen + 36 + (long)n * OdrcLimits.ReplyHashBytes) return false;
        idLength = (int)idLen; count = (int)n;
        return true;
    }

    /// <summary>Writes an OBJECT-FETCH body: idLength[4] ‖ id.</summary>
    public static void WriteFetch(ReadOnlySpan<byte> objectId, Span<byte> body) { var w = new OdrcWriter(body); w.Bytes(objectId); }

    /// <summary>The object id of an OBJECT-FETCH body, or false if malformed.</summary>
    public static bool TryReadFetch(ReadOnlySpan<byte> body, out ReadOnlySpan<byte> objectId)
    {
        objectId = default;
        if (body.Length < 4) return false;
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(body);
        if (len > OdrcLimits.MaxObjectIdBytes || body.Length != 4 + (long)len) return false;
        objectId = body.Slice(4);
        return true;
    }

    /// <summary>Body length of an OBJECT-STATE.</summary>
    public static int StateLength(int idLength, int stateLength) => 8 + idLength + stateLength;

    /// <summary>Writes an OBJECT-STATE body: idLength[4] ‖ id ‖ stateLength[4] ‖ state.</summary>
    public static void WriteState(ReadOnlySpan<byte> objectId, ReadOnlySpan<byte> state, Span<byte> body)
    {
        var w = new OdrcWriter(body); w.Bytes(objectId); w.Bytes(state);
    }

    /// <summary>The object id and state of an OBJECT-STATE body, or false if malformed.</summary>
    public static bool TryReadState(ReadOnlySpan<byte> body, out ReadOnlySpan<byte> objectId, out ReadOnlySpan<byte> state)
    {
        objectId = default; state = default;
        if (body.Length < 8) return false;
        uint len = BinaryPrimitives.ReadUInt32LittleEndian(body);
        if (len > OdrcLimits.MaxObjectIdBytes || body.Length < 8 + (long)len) return false;
        uint slen = BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(4 + (int)len));
        if (slen > OdrcLimits.MaxObjectStateBytes || body.Length != 8 + (long)len + slen) return false;
        objectId = body.Slice(4, (int)len);
        state = body.Slice(8 + (int)len);
        return true;
    }

    private sealed class CheckpointRule : BodyRule
    {
        public static readonly CheckpointRule Instance = new();
        public override bool RunsBeforeAuthentication => true;   // length arithmetic only
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
            => h.Sequence != 0 && CheckpointWellFormed(body, out _, out _) ? ParseStatus.Ok : ParseStatus.BadField;
    }

    private sealed class FetchRule : BodyRule
    {
        public static readonly FetchRule Instance = new();
        public override bool RunsBeforeAuthentication => true;
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
            => h.Sequence != 0 && TryReadFetch(body, out _) ? ParseStatus.Ok : ParseStatus.BadField;
    }

    private sealed class StateRule : BodyRule
    {
        public static readonly StateRule Instance = new();
        public override bool RunsBeforeAuthentication => true;
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
            => h.Sequence != 0 && TryReadState(body, out _, out _) ? ParseStatus.Ok : ParseStatus.BadField;
    }
}
