using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.Wire;

namespace FastBft.Agreement.RePbft;

/// <summary>One endorsement inside a prepare proof: the 40-byte header of the endorsed PRE-PREPARE or PREPARE and its sender's Ed25519 signature over header ‖ D(batch).</summary>
public sealed record Endorsement(byte[] Header, byte[] Signature);

/// <summary>A slot of a local abort history: sequence number, batch digest D(o), and the endorsements of its prepare proof (PRE-PREPARE + 2f PREPAREs, Thesis §5.3.2.2).</summary>
public sealed record HistorySlot(ulong Seq, byte[] Digest, List<Endorsement> Endorsements);

/// <summary>
/// A local abort history (Thesis §5.3.2.2; PROTOCOLS.md §5.5.2) as carried by a HISTORY message, parsed. Body layout
/// (docs/repbft.md §3, little-endian):
/// <code>
///  0 abortedGeneration[8] ‖ 8 abortedView[8] ‖ 16 checkpointSeq[8] ‖ 24 checkpointDigest[32] ‖ 56 cpCount[2] ‖ 58 0[2] ‖ 60 slotCount[4]
/// 64 cpCount × (length[4] ‖ signed CHECKPOINT message)          — the stable checkpoint certificate (all n)
///    slotCount × (seq[8] ‖ digest[32] ‖ endorsements[1] ‖ 0[3] ‖ endorsements × (header[40] ‖ signature[64]))
///    signature[64]                                              — the sender's Ed25519 signature of header ‖ everything before it
/// </code>
/// </summary>
public sealed class AbortHistory
{
    /// <summary>Fixed prefix of the body, bytes.</summary>
    public const int Fixed = 64;
    private const int EndorsementBytes = MessageHeader.Size + ReplicaSignatures.SignatureSize;

    /// <summary>Sender (an active replica of the aborted generation).</summary>
    public required uint Sender { get; init; }
    /// <summary>Generation the switch targets (the HISTORY header's generation).</summary>
    public required ulong Target { get; init; }
    /// <summary>The aborted generation.</summary>
    public required ulong AbortedGeneration { get; init; }
    /// <summary>The aborted generation's view (its leader is view mod n).</summary>
    public required ulong AbortedView { get; init; }
    /// <summary>Sequence number of the sender's stable checkpoint.</summary>
    public required ulong CheckpointSeq { get; init; }
    /// <summary>Its state digest (32 bytes).</summary>
    public required byte[] CheckpointDigest { get; init; }
    /// <summary>The certificate: n signed CHECKPOINT messages (empty for sequence number 0).</summary>
    public required List<byte[]> Certificate { get; init; }
    /// <summary>Slots above the checkpoint where the sender sent a COMMIT, increasing.</summary>
    public required List<HistorySlot> Slots { get; init; }
    /// <summary>The whole HISTORY message (embedded in a SWITCH).</summary>
    public required byte[] Message { get; init; }

    /// <summary>Body length of a history with these parts.</summary>
    public static int BodyLength(IReadOnlyList<byte[]> certificate, IReadOnlyList<HistorySlot> slots)
    {
        int len = Fixed + ReplicaSignatures.SignatureSize;
        foreach (var c in certificate) len += 4 + c.Length;
        foreach (var s in slots) len += 44 + s.Endorsements.Count * EndorsementBytes;
        return len;
    }

    /// <summary>Writes a history body (without its trailing signature, which <see cref="MessageBuilder.SealSignedVector"/> adds) into <paramref name="body"/>.</summary>
    public static void Write(Span<byte> body, ulong abortedGeneration, ulong abortedView, ulong cpSeq, ReadOnlySpan<byte> cpDigest, IReadOnlyList<byte[]> certificate, IReadOnlyList<HistorySlot> slots)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(body, abortedGeneration);
        BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(8), abortedView);
        BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(16), cpSeq);
        cpDigest.Slice(0, Digests.Size).CopyTo(body.Slice(24));
        BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(56), (ushort)certificate.Count);
        body.Slice(58, 2).Clear();
        BinaryPrimitives.WriteInt32LittleEndian(body.Slice(60), slots.Count);
        int off = Fixed;
        foreach (var c in certificate) { BinaryPrimitives.WriteInt32LittleEndian(body.Slice(off), c.Length); c.CopyTo(body.Slice(off + 4)); off += 4 + c.Length; }
        foreach (var s in slots)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(off), s.Seq);
            s.Digest.CopyTo(body.Slice(off + 8));
            body[off + 40] = (byte)s.Endorsements.Count;
            body.Slice(off + 41, 3).Clear();
            off += 44;
            foreach (var e in s.Endorsements) { e.Header.CopyTo(body.Slice(off)); e.Signature.CopyTo(body.Slice(off + MessageHeader.Size)); off += EndorsementBytes; }
        }
    }

    /// <summary>
    /// Parses a HISTORY message's body structurally (no signature is checked here): counts bounded by n, the
    /// window and the active set, slots strictly increasing inside (cpSeq, cpSeq + window], no trailing bytes.
    /// Returns null if malformed. Never throws and allocates only in proportion to bytes present.
    /// </summary>
    public static AbortHistory? TryParse(in MessageHeader h, ReadOnlySpan<byte> message, int n, int active, int window)
    {
        var body = MessageHeader.Body(message, h);
        if (body.Length < Fixed + ReplicaSignatures.SignatureSize) return null;
        body = body.Slice(0, body.Length - ReplicaSignatures.SignatureSize);
        ulong gen = BinaryPrimitives.ReadUInt64LittleEndian(body);
        ulong view = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(8));
        ulong cpSeq = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(16));
        int cpCount = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(56));
        int slotCount = BinaryPrimitives.ReadInt32LittleEndian(body.Slice(60));
        if (body[58] != 0 || body[59] != 0 || cpCount > n || slotCount < 0 || slotCount > window) return null;
        if (h.Generation <= gen) return null;                                    // a switch targets a later generation
        var rest = body.Slice(Fixed);
        var cert = new List<byte[]>(cpCount);
        for (int i = 0; i < cpCount; i++)
        {
            if (rest.Length < 4) return null;
            int len = BinaryPrimitives.ReadInt32LittleEndian(rest);
            if (len < MessageHeader.Size || len > rest.Length - 4) return null;
            cert.Add(rest.Slice(4, len).ToArray());
            rest = rest.Slice(4 + len);
        }
        var slots = new List<HistorySlot>(Math.Min(slotCount, rest.Length / 44 + 1));
        ulong last = cpSeq;
        for (int i = 0; i < slotCount; i++)
        {
            if (rest.Length < 44) return null;
            ulong seq = BinaryPrimitives.ReadUInt64LittleEndian(rest);
            if (seq <= last || seq > cpSeq + (ulong)window) return null;
            last = seq;
            int count = rest[40];
            if (rest[41] != 0 || rest[42] != 0 || rest[43] != 0 || count > active) return null;
            var digest = rest.Slice(8, Digests.Size).ToArray();
            rest = rest.Slice(44);
            if (rest.Length < count * EndorsementBytes) return null;
            var ends = new List<Endorsement>(count);
            for (int j = 0; j < count; j++)
            {
                ends.Add(new Endorsement(rest.Slice(0, MessageHeader.Size).ToArray(), rest.Slice(MessageHeader.Size, ReplicaSignatures.SignatureSize).ToArray()));
                rest = rest.Slice(EndorsementBytes);
            }
            slots.Add(new HistorySlot(seq, digest, ends));
        }
        if (rest.Length != 0) return null;
        return new AbortHistory
        {
            Sender = h.Sender, Target = h.Generation, AbortedGeneration = gen, AbortedView = view, CheckpointSeq = cpSeq,
            CheckpointDigest = body.Slice(24, Digests.Size).ToArray(), Certificate = cert, Slots = slots, Message = message.ToArray(),
        };
    }
}
