using System.Buffers.Binary;
using FastBft.Agreement;
using FastBft.Agreement.MinBft;
using FastBft.Auth;
using FastBft.Engine.Tests.Support;
using FastBft.TrustedHw;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.MinBft;

/// <summary>MinBFT views of a <see cref="LoopbackCell"/> and builders of certified messages a test forges (a Byzantine replica holds its own USIG).</summary>
internal static class MinBftTestKit
{
    public static LoopbackCell Cell(int f = 1, int batch = 8, int k = 4, int window = 8, Func<ReplicaParameters, ReplicaParameters>? settings = null)
        => new(f: f, batch: batch, k: k, window: window, protocol: ProtocolKind.MinBft, settings: settings);

    public static MinBftReplica MinBft(this LoopbackCell cell, uint i) => (MinBftReplica)cell.Replicas[i];

    public static MinBftStats MStats(this LoopbackCell cell, uint i) => cell.MinBft(i).Stats;

    /// <summary>A batch body (D(batch) ‖ count ‖ 0 ‖ entries) of the given REQUEST messages.</summary>
    public static byte[] Batch(params byte[][] requests)
    {
        int len = Bodies.PrePrepareFixed + requests.Sum(r => Bodies.BatchEntryPrefix + r.Length);
        var body = new byte[len];
        var digests = new byte[requests.Length * 32];
        int off = Bodies.PrePrepareFixed;
        Span<byte> bd = stackalloc byte[32];
        for (int i = 0; i < requests.Length; i++)
        {
            var r = requests[i];
            MessageHeader.TryParse(r, int.MaxValue, out var h);
            Digests.AuthBody(MessageHeader.Body(r, h), bd);
            Digests.Request(r.AsSpan(0, MessageHeader.Size), bd, digests.AsSpan(i * 32, 32));
            BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(off), r.Length);
            r.CopyTo(body.AsSpan(off + 4));
            off += 4 + r.Length;
        }
        Digests.Batch(digests, body.AsSpan(0, 32));
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(32), (ushort)requests.Length);
        return body;
    }

    /// <summary>A certified message of <paramref name="usig"/>'s replica: header ‖ body ‖ USIG trailer over SHA-256(header ‖ authDigest) (authDigest = D(batch) for a PREPARE, AuthBody(body) otherwise).</summary>
    public static byte[] Certified(IUsig usig, MessageType type, ulong view, ulong seq, byte[] body, ProtocolFamily family = ProtocolFamily.MinBft)
    {
        var msg = new byte[MinBftBodies.CertifiedLength(body.Length)];
        new MessageHeader(type, usig.Id, view, seq, body.Length, UsigCertificateScheme.Length, family, 0).Write(msg);
        body.CopyTo(msg.AsSpan(MessageHeader.Size));
        Span<byte> auth = stackalloc byte[32];
        if (type == MessageType.UiPrepare) body.AsSpan(0, 32).CopyTo(auth);
        else Digests.AuthBody(body, auth);
        using var scheme = new UsigCertificateScheme(usig);
        scheme.Seal(msg.AsSpan(0, MessageHeader.Size), auth, 0, msg.AsSpan(MessageHeader.Size + body.Length));
        return msg;
    }

    public static byte[] Prepare(IUsig leader, ulong view, ulong seq, byte[] batch) => Certified(leader, MessageType.UiPrepare, view, seq, batch);

    /// <summary>COMMIT(view, seq, D(batch), leader UI) of <paramref name="follower"/> for the given PREPARE message.</summary>
    public static byte[] Commit(IUsig follower, byte[] prepare)
    {
        MessageHeader.TryParse(prepare, int.MaxValue, out var h);
        var body = new byte[MinBftBodies.CommitLength];
        prepare.AsSpan(MessageHeader.Size, 32).CopyTo(body);
        prepare.AsSpan(prepare.Length - MinBftBodies.UiSize).CopyTo(body.AsSpan(32));
        return Certified(follower, MessageType.UiCommit, h.View, h.Sequence, body);
    }

    /// <summary>Counter of a certified message's UI.</summary>
    public static ulong CounterOf(byte[] certified) => BinaryPrimitives.ReadUInt64LittleEndian(certified.AsSpan(certified.Length - 40));
}
