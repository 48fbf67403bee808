using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Agreement.Pbft;

/// <summary>
/// The PBFT family's message schema (docs/wire-format.md §2.3; PBFT-PR §4): for each type its sender
/// role, body bounds, trailer and body rule. The generic <see cref="MessageVerifier"/> drives it.
/// </summary>
public static class PbftSchema
{
    /// <summary>The schema (stateless; shared by every verifier of a PBFT cell).</summary>
    public static readonly IMessageSchema Instance = new TableSchema(ProtocolFamily.Pbft, Rules());

    /// <summary>The rules of PBFT's messages (a RePBFT cell runs PBFT after a switch and adds them to its own schema).</summary>
    public static IReadOnlyList<MessageRule> Rules() =>
    [
        CommonRules.RequestMessage(),
        CommonRules.ReplyMessage(),
        new(MessageType.PrePrepare, SenderRole.Replica, AuthenticatorKind.ReplicaVector, Bodies.PrePrepareFixed, int.MaxValue, CommonRules.BatchAuthenticatedByDigest),
        new(MessageType.Batch, SenderRole.Replica, AuthenticatorKind.ReplicaVector, Bodies.PrePrepareFixed, int.MaxValue, CommonRules.Batch),
        MessageRule.Fixed(MessageType.BatchFetch, SenderRole.Replica, Digests.Size),
        MessageRule.Fixed(MessageType.Prepare, SenderRole.Replica, Digests.Size),
        MessageRule.Fixed(MessageType.Commit, SenderRole.Replica, Digests.Size),
        MessageRule.Fixed(MessageType.Checkpoint, SenderRole.Replica, Digests.Size),
        MessageRule.Fixed(MessageType.Status, SenderRole.Replica, PbftBodies.StatusLength, new StatusRule()),
        // Received directly, a VIEW-CHANGE is authentic by its MAC. Its Ed25519 signature is what lets the new primary
        // embed it in a NEW-VIEW; the primary checks it when it first uses it (PbftReplica.TryNewView), every backup
        // checks it inside the NEW-VIEW — so a flood of VIEW-CHANGEs costs one MAC each here.
        new(MessageType.ViewChange, SenderRole.Replica, AuthenticatorKind.ReplicaVector, ViewChangeBody.Fixed + ReplicaSignatures.SignatureSize, int.MaxValue, new ViewChangeRule()),
        // The primary's MAC entry for us (a cheap filter; a forwarded copy keeps the primary's vector), then the
        // primary's signature and every embedded VIEW-CHANGE's: any replica may forward it.
        new(MessageType.NewView, SenderRole.ViewLeader, AuthenticatorKind.ReplicaVector, NewViewBody.Fixed + ReplicaSignatures.SignatureSize, int.MaxValue, new NewViewRule()),
        MessageRule.Fixed(MessageType.Fetch, SenderRole.Replica, 8),
        new(MessageType.StateData, SenderRole.Replica, AuthenticatorKind.ReplicaVector, 8, int.MaxValue, new StateDataRule()),
    ];

    private sealed class StatusRule : BodyRule
    {
        public override bool RunsBeforeAuthentication => true;
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
            => (BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(8)) & ~PbftBodies.StatusKnownFlags) != 0 ? ParseStatus.BadField : ParseStatus.Ok;
    }

    private sealed class ViewChangeRule : BodyRule
    {
        public override bool RunsBeforeAuthentication => true;   // allocation-free structural check, cheaper than nothing to gain by waiting
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
            => ViewChangeBody.IsWellFormed(h.View, body) ? ParseStatus.Ok : ParseStatus.BadField;
    }

    private sealed class NewViewRule : BodyRule
    {
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
        {
            if (!context.VerifySignature(h.Sender, message.Slice(0, NewViewBody.SignedLength(h)), body.Slice(body.Length - ReplicaSignatures.SignatureSize)))
                return ParseStatus.BadSignature;
            if (NewViewBody.TryParse(h, body, context.N, context.Limits.MaxMessageBody, context.SignatureChecker) is null) return ParseStatus.BadField;
            facts.SignatureVerified = true;
            return ParseStatus.Ok;
        }
    }

    /// <summary>STATE-DATA: total[4] ‖ offset[4] ‖ chunk; the claimed total and offset are bounded by the body here and by MaxStateBytes in the core.</summary>
    private sealed class StateDataRule : BodyRule
    {
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
        {
            int total = BinaryPrimitives.ReadInt32LittleEndian(body);
            int offset = BinaryPrimitives.ReadInt32LittleEndian(body.Slice(4));
            if (total <= 0 || offset < 0 || offset > total || body.Length - 8 > total - offset) return ParseStatus.BadField;
            return ParseStatus.Ok;
        }
    }
}

/// <summary>PBFT-specific body layouts (docs/wire-format.md §2.3).</summary>
public static class PbftBodies
{
    /// <summary>STATUS body: lowWatermark[8] ‖ flags[8].</summary>
    public const int StatusLength = 16;
    /// <summary>STATUS flag: the sender is between VIEW-CHANGE and NEW-VIEW for the header's view (peers that hold that NEW-VIEW re-send it).</summary>
    public const ulong StatusInViewChange = 1;
    /// <summary>The STATUS flags this version defines; any other bit set is malformed.</summary>
    public const ulong StatusKnownFlags = StatusInViewChange;
}
