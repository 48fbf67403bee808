using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.Wire;

namespace FastBft.Simulation;

/// <summary>
/// The one place where the simulator (re-)authenticates messages a Byzantine node forged or modified.
/// Every strategy that changes a byte of a message, or builds one the core did not, ends in
/// <see cref="Reseal"/>, so that a change of the authentication scheme (e.g. Ed25519 signatures on
/// VIEW-CHANGE and NEW-VIEW) is made here once and every adversary keeps producing correctly
/// authenticated malicious messages.
/// </summary>
public static class Forge
{
    /// <summary>
    /// Override for authentication beyond the MAC trailer. Called by <see cref="Reseal"/> after the body
    /// is final and before the MACs are computed, with the signer's id and the complete message; it may
    /// rewrite the body bytes in place (the length must stay the same). Null (default): VIEW-CHANGE and
    /// NEW-VIEW are Ed25519-signed with the forging replica's own key, as the core signs them.
    /// Per thread (a scenario runs on one thread), so parallel runs do not see each other's hook.
    /// </summary>
    public static Action<uint, byte[]>? SignatureHook { get => t_signatureHook; set => t_signatureHook = value; }

    [ThreadStatic] private static Action<uint, byte[]>? t_signatureHook;

    /// <summary>
    /// Re-authenticates <paramref name="message"/> (header ‖ body ‖ trailer, modified in place) as
    /// sent by <paramref name="auth"/>.SelfId: recomputes the authenticated digest exactly as the
    /// core's <see cref="MessageBuilder"/> does (the batch digest field for PRE-PREPARE, the body
    /// digest otherwise), writes the MAC trailer (a replica vector, or a single MAC for REPLY), and
    /// then corrupts the MAC entries of every replica <paramref name="validFor"/> rejects (null: all
    /// valid). Header length fields that do not match the buffer are left as they are (an oversized
    /// claim), in which case only the part of the trailer present in the buffer is written.
    /// </summary>
    /// <param name="auth">the forging node's authenticator (its own keys only).</param>
    /// <param name="message">the message to reseal, modified in place.</param>
    /// <param name="receiver">the receiver of a single-MAC message (REPLY); ignored for vectors.</param>
    /// <param name="validFor">which receivers' MAC entries stay valid (null: all).</param>
    public static void Reseal(Authenticator auth, byte[] message, uint receiver = 0, Func<uint, bool>? validFor = null)
    {
        if (message.Length < MessageHeader.Size) return;
        var type = (MessageType)message[3];
        int bodyLength = BinaryPrimitives.ReadInt32LittleEndian(message.AsSpan(24));
        int authLength = BinaryPrimitives.ReadUInt16LittleEndian(message.AsSpan(28));
        if (bodyLength < 0 || MessageHeader.Size + (long)bodyLength + authLength != message.Length) return;   // a lying length field: leave the trailer
        if (SignatureHook is { } hook) hook(auth.SelfId, message);
        else if (type is MessageType.ViewChange or MessageType.NewView or MessageType.SignedCheckpoint or MessageType.CounterCheckpoint or MessageType.History or MessageType.Switch
                 && bodyLength >= ReplicaSignatures.SignatureSize && auth.Signatures.CanSign(auth.SelfId))
        {
            // Ed25519 over header ‖ body-before-the-signature, into the body's last 64 bytes (docs/wire-format.md "Signed messages").
            int signed = MessageHeader.Size + bodyLength - ReplicaSignatures.SignatureSize;
            auth.Signatures.Sign(auth.SelfId, message.AsSpan(0, signed), message.AsSpan(signed, ReplicaSignatures.SignatureSize));
        }
        var body = message.AsSpan(MessageHeader.Size, bodyLength);
        var trailer = message.AsSpan(MessageHeader.Size + bodyLength, authLength);
        Span<byte> d = stackalloc byte[Digests.Size];
        if (type == MessageType.PrePrepare && bodyLength >= Bodies.PrePrepareFixed) Bodies.BatchDigest(body).CopyTo(d);
        else Digests.AuthBody(body, d);
        var header = message.AsSpan(0, MessageHeader.Size);
        if (authLength == Authenticator.SingleLength) { auth.WriteSingle(receiver, header, d, trailer); return; }
        if (authLength != Authenticator.VectorLength(auth.ReplicaCount)) return;
        auth.WriteVector(header, d, trailer);
        if (validFor is null) return;
        for (uint r = 0; r < auth.ReplicaCount; r++)
            if (r != auth.SelfId && !validFor(r)) trailer[Authenticator.TrailerHeaderSize + Authenticator.TagSize * (int)r] ^= 0x01;   // the sender's own entry stays zero
    }

    /// <summary>
    /// Re-certifies a USIG-certified message (trailer kind 4) that a strategy changed, in place, through the forging node's
    /// own USIG <paramref name="usig"/>: the authenticated digest is recomputed as the core's outbox does (PREPARE: the
    /// batch digest field; otherwise SHA-256 of the body) and sealed with the <em>next</em> counter — a Byzantine replica
    /// can certify anything, but never two messages under one counter (Thesis §5.4.1). Returns false if the message has no
    /// USIG trailer or the USIG failed.
    /// </summary>
    public static bool Recertify(UsigCertificateScheme usig, byte[] message)
    {
        if (message.Length < MessageHeader.Size) return false;
        int bodyLength = BinaryPrimitives.ReadInt32LittleEndian(message.AsSpan(24));
        int authLength = BinaryPrimitives.ReadUInt16LittleEndian(message.AsSpan(28));
        if (authLength != UsigCertificateScheme.Length || bodyLength < 0 || MessageHeader.Size + (long)bodyLength + authLength != message.Length) return false;
        var body = message.AsSpan(MessageHeader.Size, bodyLength);
        Span<byte> d = stackalloc byte[Digests.Size];
        if ((MessageType)message[3] == MessageType.UiPrepare && bodyLength >= Bodies.PrePrepareFixed) Bodies.BatchDigest(body).CopyTo(d);
        else Digests.AuthBody(body, d);
        try { usig.Seal(message.AsSpan(0, MessageHeader.Size), d, 0, message.AsSpan(MessageHeader.Size + bodyLength, authLength)); }
        catch (FastBft.TrustedHw.UsigException) { return false; }
        return true;
    }

    /// <summary>
    /// A copy of <paramref name="message"/> (a replica-vector message) with its body replaced by <paramref name="body"/>
    /// (whose last 64 bytes are space for the signature of a signed type) and its header's sequence number by
    /// <paramref name="sequence"/> if given, resealed (signed and MACed) by <paramref name="auth"/>.
    /// </summary>
    public static byte[] WithBody(Authenticator auth, byte[] message, ReadOnlySpan<byte> body, ulong? sequence = null)
    {
        int authLength = BinaryPrimitives.ReadUInt16LittleEndian(message.AsSpan(28));
        var m = new byte[MessageHeader.Size + body.Length + authLength];
        message.AsSpan(0, MessageHeader.Size).CopyTo(m);
        BinaryPrimitives.WriteInt32LittleEndian(m.AsSpan(24), body.Length);
        if (sequence is ulong seq) BinaryPrimitives.WriteUInt64LittleEndian(m.AsSpan(16), seq);
        body.CopyTo(m.AsSpan(MessageHeader.Size));
        Reseal(auth, m);
        return m;
    }

    /// <summary>SHA-256 batch digest of an empty batch (the digest of a null request).</summary>
    public static byte[] EmptyBatchDigest()
    {
        var d = new byte[Digests.Size];
        Digests.Batch(ReadOnlySpan<byte>.Empty, d);
        return d;
    }

    /// <summary>
    /// Builds a PRE-PREPARE(<paramref name="view"/>, <paramref name="seq"/>) with an empty batch
    /// (count 0, digest = D(empty)) as <paramref name="builder"/>'s node, the way the core builds one,
    /// authenticated through <see cref="Reseal"/>.
    /// </summary>
    public static byte[] EmptyPrePrepare(MessageBuilder builder, Authenticator auth, ulong view, ulong seq)
    {
        var body = builder.BeginVector(MessageType.PrePrepare, view, seq, Bodies.PrePrepareFixed);
        EmptyBatchDigest().CopyTo(body);
        body.Slice(32, 4).Clear();
        var msg = builder.SealVector(body.Slice(0, Digests.Size).ToArray()).ToArray();
        Reseal(auth, msg);
        return msg;
    }

    /// <summary>
    /// A well-formed, signed VIEW-CHANGE(<paramref name="view"/>) as <paramref name="auth"/>'s node: h =
    /// <paramref name="h"/>, C = {(h, <paramref name="hDigest"/>)}, empty P and Q. Sequence = h.
    /// </summary>
    public static byte[] MinimalViewChange(Authenticator auth, int n, ulong view, ulong h, ReadOnlySpan<byte> hDigest)
    {
        int bodyLength = Agreement.Pbft.ViewChangeBody.BodyLength(1, 0, 0);
        var msg = new byte[MessageHeader.Size + bodyLength + Authenticator.VectorLength(n)];
        new MessageHeader(MessageType.ViewChange, auth.SelfId, view, h, bodyLength, Authenticator.VectorLength(n)).Write(msg);
        Agreement.Pbft.ViewChangeBody.Write(msg.AsSpan(MessageHeader.Size, bodyLength), h, [(h, hDigest.Slice(0, Digests.Size).ToArray())], [], []);
        Reseal(auth, msg);
        return msg;
    }

    /// <summary>
    /// A well-formed, signed VIEW-CHANGE(<paramref name="view"/>) like <see cref="MinimalViewChange"/>
    /// padded with about <paramref name="padBytes"/> bytes of Q entries (distinct digests for the 8 slots
    /// above h): a receiver that keeps it retains that much (issue 8 R1); one beyond the window's bounds
    /// must be dropped. Its signature is left zero (see the body).
    /// </summary>
    public static byte[] PaddedViewChange(Authenticator auth, int n, ulong view, ulong h, ReadOnlySpan<byte> hDigest, int padBytes)
    {
        int q = Math.Clamp(padBytes / 48, 1, ushort.MaxValue);
        int bodyLength = 16 + 40 + q * 48 + ReplicaSignatures.SignatureSize;
        var msg = new byte[MessageHeader.Size + bodyLength + Authenticator.VectorLength(n)];
        new MessageHeader(MessageType.ViewChange, auth.SelfId, view, h, bodyLength, Authenticator.VectorLength(n)).Write(msg);
        var body = msg.AsSpan(MessageHeader.Size, bodyLength);
        BinaryPrimitives.WriteUInt64LittleEndian(body, h);
        BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(8), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(12), (ushort)q);
        BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(16), h);
        hDigest.Slice(0, Digests.Size).CopyTo(body.Slice(24));
        for (int i = 0; i < q; i++)
        {
            var e = body.Slice(56 + 48 * i, 48);
            int per = (q + 7) / 8;                                                  // sorted by (seq, digest), as the format requires
            BinaryPrimitives.WriteUInt64LittleEndian(e, h + 1 + (ulong)(i / per));
            BinaryPrimitives.WriteUInt64LittleEndian(e.Slice(8), 0);
            e.Slice(16).Fill(0xA5);
            BinaryPrimitives.WriteInt32BigEndian(e.Slice(16), i);                  // distinct, ascending digests
        }
        // MAC-valid, signature left zero: a receiver checks a VIEW-CHANGE's signature only when it uses it in a
        // NEW-VIEW decision, so the flood costs the victim the same, and the simulator no Ed25519 signing per copy.
        var saved = SignatureHook;
        SignatureHook = static (_, _) => { };
        try { Reseal(auth, msg); }
        finally { SignatureHook = saved; }
        return msg;
    }

    /// <summary>A copy of <paramref name="message"/> with the header's view replaced, resealed.</summary>
    public static byte[] WithView(Authenticator auth, byte[] message, ulong view, Func<uint, bool>? validFor = null)
    {
        var copy = (byte[])message.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(copy.AsSpan(8), view);
        Reseal(auth, copy, validFor: validFor);
        return copy;
    }

    /// <summary>
    /// The oversized-claim variants of <paramref name="message"/> (issue 8 R3): the same message with one
    /// length or count field inflated far beyond what the bytes hold, resealed. Which field depends on
    /// the type; <paramref name="pick"/> selects among the candidates. Returns null if the type has no
    /// such field.
    /// </summary>
    public static byte[]? Inflate(Authenticator auth, byte[] message, int pick, uint receiver = 0)
    {
        if (message.Length < MessageHeader.Size) return null;
        var copy = (byte[])message.Clone();
        var type = (MessageType)copy[3];
        int bodyLength = BinaryPrimitives.ReadInt32LittleEndian(copy.AsSpan(24));
        var body = copy.AsSpan(MessageHeader.Size, Math.Min(bodyLength, copy.Length - MessageHeader.Size));
        switch (type)
        {
            case MessageType.StateData when body.Length >= 8:
                // STATE-DATA total: claims a 64 MiB snapshot (R3); real snapshots here are < 1 KiB.
                BinaryPrimitives.WriteInt32LittleEndian(body, 64 << 20);
                break;
            case MessageType.PrePrepare when body.Length >= Bodies.PrePrepareFixed:
                if (pick % 2 == 0) BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(32), ushort.MaxValue);            // batch count
                else if (body.Length >= Bodies.PrePrepareFixed + 4) BinaryPrimitives.WriteInt32LittleEndian(body.Slice(Bodies.PrePrepareFixed), int.MaxValue - 7);   // first entry length
                else return null;
                break;
            case MessageType.ViewChange when body.Length >= 16:
                BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(8 + 2 * (pick % 3)), ushort.MaxValue);          // C, P or Q count
                break;
            case MessageType.NewView when body.Length >= 52:
                if (pick % 3 == 0) BinaryPrimitives.WriteUInt16LittleEndian(body, ushort.MaxValue);                   // VIEW-CHANGE count
                else if (pick % 3 == 1) BinaryPrimitives.WriteUInt32LittleEndian(body.Slice(4), uint.MaxValue - 3);   // chosen count
                else BinaryPrimitives.WriteInt32LittleEndian(body.Slice(48), int.MaxValue - 3);                        // first embedded length
                break;
            default:
                // Any other type: the header's body length claims more than the bytes (or the maximum).
                BinaryPrimitives.WriteInt32LittleEndian(copy.AsSpan(24), pick % 2 == 0 ? int.MaxValue : bodyLength + 1024);
                return copy;
        }
        Reseal(auth, copy, receiver);
        return copy;
    }
}
