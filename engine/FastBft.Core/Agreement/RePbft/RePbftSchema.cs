using System.Buffers.Binary;
using FastBft.Agreement.Pbft;
using FastBft.Auth;
using FastBft.Execution;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Agreement.RePbft;

/// <summary>
/// The RePBFT family's message schema (docs/repbft.md §3; PROTOCOLS.md §5.1): PBFT's messages (the cell runs PBFT
/// after a switch, in the same family, told apart by the generation) plus the normal case's endorsed PRE-PREPARE and
/// PREPARE, signed CHECKPOINT, UPDATE, PANIC, HISTORY and SWITCH. Every trailer is a MAC vector for all n replicas
/// (G2); what third parties must check carries an Ed25519 signature inside the body.
/// </summary>
public static class RePbftSchema
{
    /// <summary>UPDATE form byte: the full update content follows.</summary>
    public const byte UpdateFull = 0;
    /// <summary>UPDATE form byte: the SHA-256 of the content follows.</summary>
    public const byte UpdateDigest = 1;

    /// <summary>The schema (stateless; shared by every verifier of a RePBFT or RePBFT* cell).</summary>
    public static readonly IMessageSchema Instance = new TableSchema(ProtocolFamily.RePbft, Rules());

    private static IEnumerable<MessageRule> Rules()
    {
        foreach (var r in PbftSchema.Rules()) yield return r;
        yield return new(MessageType.EndorsedPrePrepare, SenderRole.ViewLeader, AuthenticatorKind.ReplicaVector, Bodies.PrePrepareFixed + CommonRules.EndorsementSize, int.MaxValue, CommonRules.EndorsedBatch);
        yield return MessageRule.Fixed(MessageType.EndorsedPrepare, SenderRole.Replica, Digests.Size + CommonRules.EndorsementSize);
        // The signature makes it usable in a stable checkpoint certificate inside an abort history: checked once, here.
        yield return MessageRule.Fixed(MessageType.SignedCheckpoint, SenderRole.Replica, Digests.Size + ReplicaSignatures.SignatureSize, Signed);
        yield return UpdateMessage();
        yield return PanicMessage();
        yield return new(MessageType.History, SenderRole.Replica, AuthenticatorKind.ReplicaVector, AbortHistory.Fixed + ReplicaSignatures.SignatureSize, int.MaxValue, Signed);
        yield return new(MessageType.Switch, SenderRole.ViewLeader, AuthenticatorKind.ReplicaVector, GlobalHistory.SwitchFixed + ReplicaSignatures.SignatureSize, int.MaxValue, Switch);
        yield return new(MessageType.Forward, SenderRole.Replica, AuthenticatorKind.ReplicaVector, MessageHeader.Size, int.MaxValue, new ForwardRule());
        yield return MessageRule.Fixed(MessageType.SwitchVote, SenderRole.Replica, SwitchVoteLength, new SwitchVoteRule());
    }

    /// <summary>UPDATE (Thesis §5.3.1.2, §5.4.2): form[1] ‖ 0[3] ‖ content or its SHA-256, MAC vector; shared with ReMinBFT's schema.</summary>
    public static MessageRule UpdateMessage() => new(MessageType.Update, SenderRole.Replica, AuthenticatorKind.ReplicaVector, 4 + 4, int.MaxValue, new UpdateRule());

    /// <summary>PANIC (Thesis §5.3.2.1): D(req)[32] under the client's MAC vector for every replica, so any replica may forward it
    /// unchanged (G9); shared with ReMinBFT's schema.</summary>
    public static MessageRule PanicMessage() => MessageRule.Fixed(MessageType.Panic, SenderRole.Client, Digests.Size);

    /// <summary>SWITCH-VOTE body: phase[1] (<see cref="SwitchEcho"/> or <see cref="SwitchReady"/>) ‖ 0[3] ‖ abortedGeneration[8] ‖ abortedView[8] ‖ D(SWITCH)[32].</summary>
    public const int SwitchVoteLength = 4 + 8 + 8 + Digests.Size;
    /// <summary>SWITCH-VOTE phase: ECHO (the sender holds this valid SWITCH, the first of its generation it saw).</summary>
    public const byte SwitchEcho = 0;
    /// <summary>SWITCH-VOTE phase: READY (2f+1 ECHOs or f+1 READYs for this digest).</summary>
    public const byte SwitchReady = 1;

    /// <summary>SWITCH-VOTE: a known phase and zero padding.</summary>
    private sealed class SwitchVoteRule : BodyRule
    {
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
            => body[0] > SwitchReady || body[1] != 0 || body[2] != 0 || body[3] != 0 ? ParseStatus.BadField : ParseStatus.Ok;
    }

    private static readonly BodyRule Switch = new SwitchRule();
    private static readonly BodyRule Signed = CommonRules.SignedBody;

    /// <summary>
    /// FORWARD: body = a whole SWITCH or signed CHECKPOINT of this family, checked by its signatures alone (its own MAC
    /// vector may have been made for some receivers only; the forwarder's MAC authenticates the relay).
    /// </summary>
    private sealed class ForwardRule : BodyRule
    {
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
        {
            var st = MessageHeader.TryParse(body, context.Limits.MaxMessageBody, out var inner);
            if (st != ParseStatus.Ok) return st;
            if (inner.Family != h.Family) return ParseStatus.WrongProtocol;
            if (!context.IsReplica(inner.Sender)) return ParseStatus.BadSender;
            var innerBody = MessageHeader.Body(body, inner);
            switch (inner.Type)
            {
                case MessageType.Switch:
                    if (inner.Sender != (uint)(inner.View % (ulong)context.N) || innerBody.Length < GlobalHistory.SwitchFixed + ReplicaSignatures.SignatureSize) return ParseStatus.BadSender;
                    return Switch.Check(inner, body, innerBody, context, ref facts);
                case MessageType.SignedCheckpoint:
                    if (innerBody.Length != Digests.Size + ReplicaSignatures.SignatureSize) return ParseStatus.BadLength;
                    return Signed.Check(inner, body, innerBody, context, ref facts);
                default:
                    return ParseStatus.BadField;
            }
        }
    }

    /// <summary>UPDATE: form[1] ‖ 0[3] ‖ content (form 0, <see cref="UpdateContent"/>) or its SHA-256 (form 1).</summary>
    private sealed class UpdateRule : BodyRule
    {
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
        {
            if (body[1] != 0 || body[2] != 0 || body[3] != 0) return ParseStatus.BadField;
            if (body[0] == UpdateDigest) return body.Length == 4 + Digests.Size ? ParseStatus.Ok : ParseStatus.BadLength;
            if (body[0] != UpdateFull) return ParseStatus.BadField;
            return UpdateContent.IsWellFormed(body.Slice(4)) ? ParseStatus.Ok : ParseStatus.BadField;
        }
    }

    /// <summary>SWITCH: the coordinator's signature, and every embedded HISTORY's (any replica may forward a SWITCH).</summary>
    private sealed class SwitchRule : BodyRule
    {
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
        {
            int signed = MessageHeader.Size + body.Length - ReplicaSignatures.SignatureSize;
            if (!context.VerifySignature(h.Sender, message.Slice(0, signed), message.Slice(signed, ReplicaSignatures.SignatureSize))) return ParseStatus.BadSignature;
            int count = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(56));
            if (count > context.N) return ParseStatus.BadField;
            var rest = body.Slice(GlobalHistory.SwitchFixed, body.Length - GlobalHistory.SwitchFixed - ReplicaSignatures.SignatureSize);
            for (int i = 0; i < count; i++)
            {
                if (rest.Length < 4) return ParseStatus.Truncated;
                int len = BinaryPrimitives.ReadInt32LittleEndian(rest);
                if (len < MessageHeader.Size || len > rest.Length - 4) return ParseStatus.Truncated;
                var m = rest.Slice(4, len);
                if (MessageHeader.TryParse(m, context.Limits.MaxMessageBody, out var mh) != ParseStatus.Ok || mh.Type != MessageType.History
                    || !context.IsReplica(mh.Sender) || mh.BodyLength < AbortHistory.Fixed + ReplicaSignatures.SignatureSize) return ParseStatus.BadField;
                int ms = MessageHeader.Size + mh.BodyLength - ReplicaSignatures.SignatureSize;
                if (!context.VerifySignature(mh.Sender, m.Slice(0, ms), m.Slice(ms, ReplicaSignatures.SignatureSize))) return ParseStatus.BadSignature;
                rest = rest.Slice(4 + len);
            }
            facts.SignatureVerified = true;
            return ParseStatus.Ok;
        }
    }
}
