using System.Buffers.Binary;
using FastBft.Agreement.MinBft;
using FastBft.Agreement.RePbft;
using FastBft.Auth;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Agreement.ReMinBft;

/// <summary>
/// The ReMinBFT family's message schema (docs/reminbft.md §2; Thesis §5.4.1–§5.4.2; PROTOCOLS.md §6.1): MinBFT's rules
/// (<see cref="MinBftSchema.Rules"/>: PREPARE, COMMIT and MinBFT's certified CHECKPOINT among the active replicas,
/// UI-FETCH, state transfer) plus UPDATE and PANIC as RePBFT has them (<see cref="RePbftSchema.UpdateMessage"/>,
/// <see cref="RePbftSchema.PanicMessage"/>) and ReMinBFT's uncertified CHECKPOINT with the active replicas' counters
/// (<see cref="MessageType.CounterCheckpoint"/>, MAC vector for all n).
/// </summary>
public static class ReMinBftSchema
{
    /// <summary>The schema (stateless; shared by every verifier of a ReMinBFT cell).</summary>
    public static readonly IMessageSchema Instance = new TableSchema(ProtocolFamily.ReMinBft, Rules());

    private static IEnumerable<MessageRule> Rules()
    {
        foreach (var r in MinBftSchema.Rules()) yield return r;
        yield return RePbftSchema.UpdateMessage();
        yield return RePbftSchema.PanicMessage();
        yield return new(MessageType.CounterCheckpoint, SenderRole.Replica, AuthenticatorKind.ReplicaVector, ReMinBftBodies.SignedCheckpointLength(0), ReMinBftBodies.SignedCheckpointLength(64), CounterCheckpointRule.Instance);
        // SWITCH: from the leader of its start view (the coordinator); every embedded certified message's UI is verified here, once.
        yield return new(MessageType.UiSwitch, SenderRole.ViewLeader, AuthenticatorKind.UsigCertificate, SwitchHistory.Fixed, int.MaxValue, SwitchRule.Instance);
    }

    /// <summary>SWITCH: structure, every embedded certified message's UI and every embedded signed CHECKPOINT's signature.</summary>
    private sealed class SwitchRule : BodyRule
    {
        public static readonly SwitchRule Instance = new();
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
            => SwitchHistory.TryParse(body, context.N, context.Limits, context.Scheme(AuthenticatorKind.UsigCertificate), context.SignatureChecker, h.Generation) is null ? ParseStatus.BadField : ParseStatus.Ok;
    }

    /// <summary>CHECKPOINT: count ≤ n, the body exactly 100 + 16·count bytes, and the sender's Ed25519 signature (its last 64 bytes).</summary>
    private sealed class CounterCheckpointRule : BodyRule
    {
        public static readonly CounterCheckpointRule Instance = new();
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
        {
            uint count = BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(Digests.Size));
            if (count > (uint)context.N) return ParseStatus.BadField;
            if (body.Length != ReMinBftBodies.SignedCheckpointLength((int)count)) return ParseStatus.BadLength;
            return CommonRules.SignedBody.Check(h, message, body, context, ref facts);
        }
    }
}

/// <summary>ReMinBFT body layouts (docs/reminbft.md §2). All integers little-endian.</summary>
public static class ReMinBftBodies
{
    /// <summary>Fixed part of a CHECKPOINT body: D(state)[32] ‖ count[4].</summary>
    public const int CheckpointFixed = Digests.Size + 4;
    /// <summary>CHECKPOINT body before its signature, with <paramref name="count"/> counter entries (epoch[8] ‖ counter[8] each): 36 + 16·count bytes.</summary>
    public static int CheckpointLength(int count) => CheckpointFixed + 16 * count;
    /// <summary>The whole CHECKPOINT body: <see cref="CheckpointLength"/> ‖ the sender's Ed25519 signature[64] of header ‖ the rest: 100 + 16·count bytes.</summary>
    public static int SignedCheckpointLength(int count) => CheckpointLength(count) + ReplicaSignatures.SignatureSize;
}
