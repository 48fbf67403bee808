using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.Agreement.Pbft;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Support;

/// <summary>
/// A Byzantine replica's pen: builds correctly authenticated (MAC vector for every receiver) and, for
/// VIEW-CHANGE / NEW-VIEW, correctly Ed25519-signed messages in replica <see cref="Id"/>'s name with
/// whatever content the test chooses. Keys come from the cell's derived <see cref="KeyStore"/>.
/// </summary>
internal sealed class Forge
{
    public readonly uint Id;
    private readonly int _n;
    private readonly MessageBuilder _b;

    public Forge(KeyStore keys, uint id, int n)
    {
        Id = id; _n = n;
        _b = new MessageBuilder(new Authenticator(id, keys), n, 1 << 16);
    }

    public Forge(LoopbackCell cell, uint id) : this(cell.Keys, id, cell.N) { }

    public static readonly byte[] Zero32 = new byte[32];

    /// <summary>The batch digest of a PRE-PREPARE holding <paramref name="requests"/> (the null request's for none).</summary>
    public static byte[] BatchDigest(params byte[][] requests)
    {
        var digests = new byte[requests.Length * 32];
        for (int i = 0; i < requests.Length; i++)
        {
            MessageHeader.TryParse(requests[i], int.MaxValue, out var h);
            var bd = new byte[32];
            Digests.AuthBody(MessageHeader.Body(requests[i], h), bd);
            Digests.Request(requests[i].AsSpan(0, MessageHeader.Size), bd, digests.AsSpan(i * 32, 32));
        }
        var d = new byte[32];
        Digests.Batch(digests, d);
        return d;
    }

    /// <summary>PRE-PREPARE(view, seq) of a batch of <paramref name="requests"/> (none: the null request).</summary>
    public byte[] PrePrepare(ulong view, ulong seq, params byte[][] requests)
    {
        int len = Bodies.PrePrepareFixed + requests.Sum(r => 4 + r.Length);
        var body = _b.BeginVector(MessageType.PrePrepare, view, seq, len);
        var d = BatchDigest(requests);
        d.CopyTo(body);
        BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(32), (ushort)requests.Length);
        body[34] = 0; body[35] = 0;
        int off = Bodies.PrePrepareFixed;
        foreach (var r in requests) { BinaryPrimitives.WriteInt32LittleEndian(body.Slice(off), r.Length); r.CopyTo(body.Slice(off + 4)); off += 4 + r.Length; }
        return _b.SealVector(d).ToArray();
    }

    /// <summary>BATCH(view, seq): the answer to a BATCH-FETCH, a PRE-PREPARE body of <paramref name="requests"/>.</summary>
    public byte[] Batch(ulong view, ulong seq, params byte[][] requests)
    {
        int len = Bodies.PrePrepareFixed + requests.Sum(r => 4 + r.Length);
        var body = _b.BeginVector(MessageType.Batch, view, seq, len);
        BatchDigest(requests).CopyTo(body);
        BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(32), (ushort)requests.Length);
        body[34] = 0; body[35] = 0;
        int off = Bodies.PrePrepareFixed;
        foreach (var r in requests) { BinaryPrimitives.WriteInt32LittleEndian(body.Slice(off), r.Length); r.CopyTo(body.Slice(off + 4)); off += 4 + r.Length; }
        return _b.SealVector().ToArray();
    }

    /// <summary>PREPARE, COMMIT or CHECKPOINT: a 32-byte digest body.</summary>
    public byte[] Digest32(MessageType type, ulong view, ulong seq, ReadOnlySpan<byte> digest)
    {
        digest.CopyTo(_b.BeginVector(type, view, seq, 32));
        return _b.SealVector().ToArray();
    }

    /// <summary>A signed VIEW-CHANGE for <paramref name="view"/>: stable checkpoint h, checkpoints C, sets P and Q (no checks: the test decides).</summary>
    public byte[] ViewChange(ulong view, ulong lastExecuted, ulong h, (ulong Seq, byte[] Digest)[] c, (ulong Seq, ulong View, byte[] Digest)[]? p = null, (ulong Seq, ulong View, byte[] Digest)[]? q = null)
    {
        var body = _b.BeginVector(MessageType.ViewChange, view, lastExecuted, ViewChangeBodyBytes(h, c, p ?? [], q ?? []).Length);
        ViewChangeBodyBytes(h, c, p ?? [], q ?? []).CopyTo(body);
        return _b.SealSignedVector().ToArray();
    }

    /// <summary>The body of a VIEW-CHANGE with a zero signature (for parser tests).</summary>
    public static byte[] ViewChangeBodyBytes(ulong h, (ulong Seq, byte[] Digest)[] c, (ulong Seq, ulong View, byte[] Digest)[] p, (ulong Seq, ulong View, byte[] Digest)[] q)
    {
        var body = new byte[ViewChangeBody.BodyLength(c.Length, p.Length, q.Length)];
        ViewChangeBody.Write(body, h, c, p, q);
        return body;
    }

    /// <summary>A signed NEW-VIEW for <paramref name="view"/> embedding <paramref name="viewChanges"/> (complete messages) with decision (H, D, chosen).</summary>
    public byte[] NewView(ulong view, ulong hSeq, byte[] hDigest, IReadOnlyList<byte[]> viewChanges, IReadOnlyList<byte[]> chosen)
    {
        var bytes = NewViewBodyBytes(hSeq, hDigest, viewChanges, chosen);
        bytes.CopyTo(_b.BeginVector(MessageType.NewView, view, hSeq + (ulong)chosen.Count, bytes.Length));
        return _b.SealSignedVector().ToArray();
    }

    /// <summary>The body of a NEW-VIEW with a zero signature (for parser tests).</summary>
    public static byte[] NewViewBodyBytes(ulong hSeq, byte[] hDigest, IReadOnlyList<byte[]> viewChanges, IReadOnlyList<byte[]> chosen)
    {
        var body = new byte[NewViewBody.Fixed + viewChanges.Sum(m => 4 + m.Length) + chosen.Count * 32 + ReplicaSignatures.SignatureSize];
        BinaryPrimitives.WriteUInt16LittleEndian(body, (ushort)viewChanges.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), (uint)chosen.Count);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(8), hSeq);
        hDigest.CopyTo(body.AsSpan(16));
        int off = NewViewBody.Fixed;
        foreach (var m in viewChanges) { BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(off), m.Length); m.CopyTo(body.AsSpan(off + 4)); off += 4 + m.Length; }
        foreach (var d in chosen) { d.CopyTo(body.AsSpan(off)); off += 32; }
        return body;
    }

    /// <summary>STATE-DATA(seq): claimed total, offset, chunk.</summary>
    public byte[] StateData(ulong view, ulong seq, int total, int offset, ReadOnlySpan<byte> chunk)
    {
        var body = _b.BeginVector(MessageType.StateData, view, seq, 8 + chunk.Length);
        BinaryPrimitives.WriteInt32LittleEndian(body, total);
        BinaryPrimitives.WriteInt32LittleEndian(body.Slice(4), offset);
        chunk.CopyTo(body.Slice(8));
        return _b.SealVector().ToArray();
    }

    /// <summary>Corrupts the MAC entries of <paramref name="receivers"/> in a vector-authenticated message (a copy).</summary>
    public static byte[] BreakMacsFor(byte[] message, params uint[] receivers)
    {
        var m = (byte[])message.Clone();
        MessageHeader.TryParse(m, int.MaxValue, out var h);
        int trailer = MessageHeader.Size + h.BodyLength;
        foreach (var r in receivers) m[trailer + 2 + (int)r * 16] ^= 0xFF;
        return m;
    }

    /// <summary>The parsed body of a VIEW-CHANGE message.</summary>
    public static ViewChangeBody ParseViewChange(byte[] message)
    {
        MessageHeader.TryParse(message, int.MaxValue, out var h);
        return ViewChangeBody.TryParse(h.Sender, h.View, MessageHeader.Body(message, h)) ?? throw new InvalidOperationException("malformed VIEW-CHANGE");
    }

    /// <summary>(client, rid) of each request in a PRE-PREPARE message.</summary>
    public static List<(uint Client, ulong Rid)> RequestsIn(byte[] prePrepare)
    {
        MessageHeader.TryParse(prePrepare, int.MaxValue, out var h);
        var list = new List<(uint, ulong)>();
        var reader = new BatchReader(MessageHeader.Body(prePrepare, h));
        while (reader.Next(out var req)) { MessageHeader.TryParse(req, int.MaxValue, out var rh); list.Add((rh.Sender, rh.Sequence)); }
        return list;
    }
}
