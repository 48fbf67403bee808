using System.Buffers.Binary;
using FastBft.Agreement.Pbft;
using FastBft.Auth;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Support;

/// <summary>Builds valid messages of every type for a 4-replica test cell (keys from a fixed master secret).</summary>
internal sealed class MessageFactory
{
    public const int N = 4;
    public const uint FirstClient = 1000;
    public readonly KeyStore Keys;

    public MessageFactory()
    {
        var master = new byte[32];
        for (int i = 0; i < 32; i++) master[i] = (byte)(i * 13 + 5);
        Keys = new KeyStore(master, N, FirstClient);
    }

    public MessageBuilder Builder(uint self) => new(new Authenticator(self, Keys), N);
    public MessageVerifier Verifier(uint self, int maxBatch = 16) => new(Protocols.Get(ProtocolKind.Pbft).Schema, new Authenticator(self, Keys), new VerifierLimits(N, FirstClient, 1 << 22, 1 << 16, maxBatch));

    public byte[] Request(uint client, ulong rid, ReadOnlySpan<byte> op)
    {
        var b = Builder(client);
        op.CopyTo(b.BeginVector(MessageType.Request, 0, rid, op.Length));
        return b.SealVector().ToArray();
    }

    public byte[] PrePrepare(uint primary, ulong view, ulong seq, params byte[][] requests)
    {
        var digests = new byte[requests.Length * 32];
        int bodyLength = Bodies.PrePrepareFixed;
        for (int i = 0; i < requests.Length; i++)
        {
            MessageHeader.TryParse(requests[i], int.MaxValue, out var h);
            var bd = new byte[32];
            Digests.AuthBody(MessageHeader.Body(requests[i], h), bd);
            Digests.Request(requests[i].AsSpan(0, MessageHeader.Size), bd, digests.AsSpan(i * 32, 32));
            bodyLength += 4 + requests[i].Length;
        }
        var b = Builder(primary);
        var body = b.BeginVector(MessageType.PrePrepare, view, seq, bodyLength);
        Digests.Batch(digests, body.Slice(0, 32));
        BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(32), (ushort)requests.Length);
        int off = Bodies.PrePrepareFixed;
        foreach (var r in requests)
        {
            BinaryPrimitives.WriteInt32LittleEndian(body.Slice(off), r.Length);
            r.CopyTo(body.Slice(off + 4));
            off += 4 + r.Length;
        }
        var d = body.Slice(0, 32).ToArray();
        return b.SealVector(d).ToArray();
    }

    public byte[] Digest32(MessageType type, uint sender, ulong view, ulong seq, ReadOnlySpan<byte> digest)
    {
        var b = Builder(sender);
        digest.CopyTo(b.BeginVector(type, view, seq, 32));
        return b.SealVector().ToArray();
    }

    public byte[] Status(uint sender, ulong view, ulong lastExecuted, ulong low, ulong flags = 0)
    {
        var b = Builder(sender);
        var body = b.BeginVector(MessageType.Status, view, lastExecuted, PbftBodies.StatusLength);
        BinaryPrimitives.WriteUInt64LittleEndian(body, low);
        BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(8), flags);
        return b.SealVector().ToArray();
    }

    public byte[] Reply(uint replica, uint client, ulong view, ulong rid, bool full, ReadOnlySpan<byte> result)
    {
        var b = Builder(replica);
        var body = b.BeginSingle(MessageType.Reply, view, rid, Bodies.ReplyFixed + (full ? result.Length : 32));
        BinaryPrimitives.WriteUInt32LittleEndian(body, client);
        body[4] = full ? Bodies.ReplyFull : Bodies.ReplyDigest;
        if (full) result.CopyTo(body.Slice(8)); else Digests.Sha256(result, body.Slice(8, 32));
        return b.SealSingle(client).ToArray();
    }
}
