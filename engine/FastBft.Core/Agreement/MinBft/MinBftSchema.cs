using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.TrustedHw;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Agreement.MinBft;

/// <summary>
/// The MinBFT family's message schema (docs/minbft.md §2; Thesis §5.4.1–§5.4.2, PROTOCOLS.md §2.4, §4 [X]): for each
/// type its sender role, body bounds, trailer and body rule, driven by the generic <see cref="MessageVerifier"/>.
/// Agreement messages (PREPARE, COMMIT, CHECKPOINT, VIEW-CHANGE, NEW-VIEW) carry a USIG certificate (trailer kind 4,
/// 50 bytes); the verifier checks its proof and hands the UI (epoch, counter) to the core, which handles them in each
/// sender's counter order. Requests, replies, UI-FETCH, REQ-VIEW-CHANGE and state transfer use MACs.
/// </summary>
public static class MinBftSchema
{
    /// <summary>The schema (stateless; shared by every verifier of a MinBFT cell).</summary>
    public static readonly IMessageSchema Instance = new TableSchema(ProtocolFamily.MinBft, Rules());

    /// <summary>The rules of MinBFT's messages (ReMinBFT runs MinBFT after a switch and may add them to its schema).</summary>
    public static IReadOnlyList<MessageRule> Rules() =>
    [
        CommonRules.RequestMessage(),
        CommonRules.ReplyMessage(),
        // The UI certifies SHA-256(header ‖ D(batch)): the batch rule recomputes D(batch) from the requests first.
        new(MessageType.UiPrepare, SenderRole.ViewLeader, AuthenticatorKind.UsigCertificate, Bodies.PrePrepareFixed, int.MaxValue, CommonRules.BatchAuthenticatedByDigest),
        new(MessageType.UiCommit, SenderRole.Replica, AuthenticatorKind.UsigCertificate, MinBftBodies.CommitLength, MinBftBodies.CommitLength, CommitRule.Instance),
        new(MessageType.UiCheckpoint, SenderRole.Replica, AuthenticatorKind.UsigCertificate, MinBftBodies.CheckpointLength(1), MinBftBodies.CheckpointLength(64), CheckpointRule.Instance),
        MessageRule.Fixed(MessageType.UiFetch, SenderRole.Replica, MinBftBodies.UiFetchLength, UiFetchRule.Instance),
        MessageRule.Fixed(MessageType.ReqViewChange, SenderRole.Replica, 0),
        new(MessageType.UiViewChange, SenderRole.Replica, AuthenticatorKind.UsigCertificate, MinBftViewChange.Fixed, int.MaxValue, ViewChangeRule.Instance),
        new(MessageType.UiNewView, SenderRole.ViewLeader, AuthenticatorKind.UsigCertificate, MinBftNewView.Fixed, int.MaxValue, NewViewRule.Instance),
        MessageRule.Fixed(MessageType.Fetch, SenderRole.Replica, 8),
        new(MessageType.StateData, SenderRole.Replica, AuthenticatorKind.ReplicaVector, 8, int.MaxValue, StateDataRule.Instance),
    ];

    /// <summary>COMMIT: the embedded leader UI has a counter ≥ 1 (a UI with counter 0 is never valid).</summary>
    private sealed class CommitRule : BodyRule
    {
        public static readonly CommitRule Instance = new();
        public override bool RunsBeforeAuthentication => true;
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
            => BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(Digests.Size + 8)) == 0 ? ParseStatus.BadField : ParseStatus.Ok;
    }

    /// <summary>CHECKPOINT: exactly 32 + 16n bytes for this cell's n.</summary>
    private sealed class CheckpointRule : BodyRule
    {
        public static readonly CheckpointRule Instance = new();
        public override bool RunsBeforeAuthentication => true;
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
            => body.Length == MinBftBodies.CheckpointLength(context.N) ? ParseStatus.Ok : ParseStatus.BadLength;
    }

    /// <summary>VIEW-CHANGE: structure, the checkpoint certificate, and the gap-free certified log (after the sender's UI verified).</summary>
    private sealed class ViewChangeRule : BodyRule
    {
        public static readonly ViewChangeRule Instance = new();
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
            => MinBftViewChange.TryParse(h, body, facts.UiEpoch, facts.UiCounter, context.N, context.Limits, context.Scheme(AuthenticatorKind.UsigCertificate)) is null ? ParseStatus.BadField : ParseStatus.Ok;
    }

    /// <summary>NEW-VIEW: every embedded VIEW-CHANGE and the decision recomputed from them (after the new leader's UI verified).</summary>
    private sealed class NewViewRule : BodyRule
    {
        public static readonly NewViewRule Instance = new();
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
            => MinBftNewView.TryParse(h, body, context.N, context.Limits, context.Scheme(AuthenticatorKind.UsigCertificate)) is null ? ParseStatus.BadField : ParseStatus.Ok;
    }

    /// <summary>UI-FETCH: counter ≥ 1, of &lt; n, zero padding.</summary>
    private sealed class UiFetchRule : BodyRule
    {
        public static readonly UiFetchRule Instance = new();
        public override bool RunsBeforeAuthentication => true;
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
            => BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(8)) == 0 || BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(16)) >= (uint)context.N
               || BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(20)) != 0 ? ParseStatus.BadField : ParseStatus.Ok;
    }

    /// <summary>STATE-DATA: total[4] ‖ offset[4] ‖ chunk; bounded by the body here and by MaxStateBytes in the core.</summary>
    private sealed class StateDataRule : BodyRule
    {
        public static readonly StateDataRule Instance = new();
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
        {
            int total = BinaryPrimitives.ReadInt32LittleEndian(body);
            int offset = BinaryPrimitives.ReadInt32LittleEndian(body.Slice(4));
            if (total <= 0 || offset < 0 || offset > total || body.Length - 8 > total - offset) return ParseStatus.BadField;
            return ParseStatus.Ok;
        }
    }
}

/// <summary>MinBFT body layouts (docs/minbft.md §2). All integers little-endian.</summary>
public static class MinBftBodies
{
    /// <summary>Bytes of a UI on the wire: epoch[8] ‖ counter[8] ‖ proof[32] (<see cref="UniqueIdentifier.EncodedSize"/>).</summary>
    public const int UiSize = UniqueIdentifier.EncodedSize;
    /// <summary>COMMIT body: D(batch)[32] ‖ the leader's PREPARE UI[48] = 80 bytes.</summary>
    public const int CommitLength = Digests.Size + UiSize;
    /// <summary>CHECKPOINT body for n replicas: D(state)[32] ‖ n × (epoch[8] ‖ counter[8]) — D(state) = SHA-256 of the checkpoint
    /// snapshot (service state ‖ reply cache); entry j is where replica j's VIEW-CHANGE log must start (docs/minbft.md §4).</summary>
    public static int CheckpointLength(int n) => Digests.Size + 16 * n;
    /// <summary>UI-FETCH body: epoch[8] ‖ first counter wanted[8] ‖ of[4] ‖ 0[4] = 24 bytes — the certified messages of replica
    /// <c>of</c> (the recipient's own, or another replica's that the recipient holds: a crashed leader's PREPARE, docs/minbft.md §3).</summary>
    public const int UiFetchLength = 24;
    /// <summary>Total length of a certified message with a body of <paramref name="bodyLength"/> bytes: 40 + body + 50.</summary>
    public static int CertifiedLength(int bodyLength) => MessageHeader.Size + bodyLength + UsigCertificateScheme.Length;
}
