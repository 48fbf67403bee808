using System.Buffers.Binary;
using FastBft.Execution;
using FastBft.Wire;

namespace FastBft.Agreement;

/// <summary>The REPLY every protocol core sends (docs/wire-format.md §2.3; Thesis §2.1.1.4): one place for its layout.</summary>
public static class ReplyMessages
{
    /// <summary>
    /// Builds REPLY(view, t, c) for <paramref name="entry"/> — the full result if <paramref name="full"/> and the entry
    /// holds it, else its SHA-256 — single-MAC'd for the client, and sends it through <paramref name="output"/>.
    /// </summary>
    public static void Send(MessageBuilder builder, IReplicaOutput output, ulong view, ReplyEntry entry, bool full)
    {
        full &= !entry.DigestOnly;
        var result = entry.Reply;
        int bodyLength = Bodies.ReplyFixed + (full ? result.Length : Digests.Size);
        var body = builder.BeginSingle(MessageType.Reply, view, entry.LastExecutedRid, bodyLength);
        BinaryPrimitives.WriteUInt32LittleEndian(body, entry.ClientId);
        body[4] = full ? Bodies.ReplyFull : Bodies.ReplyDigest;
        body[5] = 0; body[6] = 0; body[7] = 0;
        if (full) result.CopyTo(body.Slice(Bodies.ReplyFixed));
        else entry.Digest.CopyTo(body.Slice(Bodies.ReplyFixed, Digests.Size));
        output.SendToClient(entry.ClientId, builder.SealSingle(entry.ClientId));
    }
}
