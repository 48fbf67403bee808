using System.Buffers.Binary;
using FastBft.Agreement.Pbft;
using FastBft.Auth;
using FastBft.Wire;

namespace FastBft.Agreement.RePbft;

/// <summary>
/// The global abort history (Thesis §5.3.2.3–§5.3.2.4, Fig. 5.4; PROTOCOLS.md §5.5.3–§5.5.4, G10, G11): which local
/// histories count, the checkpoint it starts from, and rules H1/H2 for every slot above it. The transition
/// coordinator computes it; every replica recomputes it from the SWITCH and rejects any difference. Pure: the same
/// histories give the same decision everywhere, because a proof's validity depends on signatures only, never on
/// which replica checks it (docs/repbft.md §5.3).
/// </summary>
/// <remarks>
/// A prepare proof for (s, o) is valid when at least <see cref="QuorumPolicy.Weak"/> = f+1 of its endorsements are
/// genuine: distinct active senders of the aborted generation, the PRE-PREPARE's from its leader, each header naming
/// the aborted generation, view and s, each Ed25519 signature over header ‖ D(o) valid. Then at least one correct
/// replica endorsed (s, o); since a committed o was endorsed by every correct active replica, no valid proof for
/// another value at s can exist (PA, PE). H1: exactly one value with a valid proof ⇒ that value. H2: none, or
/// more than one (then nothing committed at s; G11) ⇒ ⊥ (<see cref="ViewChangeDecision.NullDigest"/>).
/// </remarks>
public sealed class GlobalHistory
{
    /// <summary>SWITCH body prefix, bytes: abortedGeneration[8] ‖ abortedView[8] ‖ cpSeq[8] ‖ cpDigest[32] ‖ histories[2] ‖ 0[2] ‖ slots[4].</summary>
    public const int SwitchFixed = 64;

    /// <summary>The stable checkpoint the history starts from.</summary>
    public required ulong CheckpointSeq { get; init; }
    /// <summary>Its digest (32 bytes).</summary>
    public required byte[] CheckpointDigest { get; init; }
    /// <summary>Slot values for CheckpointSeq+1, …: a batch digest (H1) or the null digest (H2).</summary>
    public required List<byte[]> Slots { get; init; }
    /// <summary>Slots with two or more validly proven values (G11: impossible with ≤ f faults for committed slots; counted as an alarm).</summary>
    public int ConflictingSlots { get; init; }

    /// <summary>Top sequence number (CheckpointSeq + Slots.Count).</summary>
    public ulong Top => CheckpointSeq + (ulong)Slots.Count;

    /// <summary>
    /// Whether <paramref name="h"/> counts toward a global history of the generation with view
    /// <paramref name="abortedView"/>: from an active replica of it, about it, and with a valid stable checkpoint
    /// certificate (n signed CHECKPOINTs from distinct replicas for its sequence number and digest, or sequence number 0 with an
    /// empty certificate and the all-zero genesis digest).
    /// </summary>
    public static bool IsValid(AbortHistory h, CellShape shape, ulong abortedGeneration, ulong abortedView, ReplicaSignatures signatures)
    {
        if (h.AbortedGeneration != abortedGeneration || h.AbortedView != abortedView) return false;
        if (shape.RoleOf(h.Sender, abortedView) == ReplicaRole.Passive) return false;
        if (h.CheckpointSeq == 0) return h.Certificate.Count == 0 && h.CheckpointDigest.AsSpan().IndexOfAnyExcept((byte)0) < 0;
        return IsCertificate(h.Certificate, h.CheckpointSeq, h.CheckpointDigest, shape.N, signatures);
    }

    /// <summary>True if <paramref name="certificate"/> holds n signed CHECKPOINT messages (RePBFT, Thesis §5.3.1.3) from distinct replicas for (seq, digest) with valid signatures.</summary>
    public static bool IsCertificate(List<byte[]> certificate, ulong seq, ReadOnlySpan<byte> digest, int n, ReplicaSignatures signatures)
    {
        if (certificate.Count != n) return false;
        ulong seen = 0;
        foreach (var m in certificate)
        {
            if (MessageHeader.TryParse(m, int.MaxValue, out var ch) != ParseStatus.Ok) return false;
            if (ch.Type != MessageType.SignedCheckpoint || ch.Family != ProtocolFamily.RePbft || ch.Sequence != seq || ch.Sender >= (uint)n) return false;
            if ((seen & (1UL << (int)ch.Sender)) != 0) return false;
            seen |= 1UL << (int)ch.Sender;
            var body = MessageHeader.Body(m, ch);
            if (body.Length != Digests.Size + ReplicaSignatures.SignatureSize || !body.Slice(0, Digests.Size).SequenceEqual(digest)) return false;
            int signedLength = MessageHeader.Size + Digests.Size;
            if (!signatures.Verify(ch.Sender, m.AsSpan(0, signedLength), m.AsSpan(signedLength, ReplicaSignatures.SignatureSize))) return false;
        }
        return true;
    }

    /// <summary>
    /// Computes the global history from <paramref name="histories"/> (each already <see cref="IsValid"/>, distinct
    /// senders): the highest checkpoint among them (G10), then H1/H2 for every slot above it up to the highest slot
    /// with a valid proof. <paramref name="proofThreshold"/> is the number of genuine endorsements a valid proof needs
    /// (f+1; <see cref="QuorumPolicy.Weak"/> — tests plant a lower one to show the simulator's oracles catch it).
    /// </summary>
    public static GlobalHistory Decide(IReadOnlyList<AbortHistory> histories, CellShape shape, int proofThreshold, int window, ReplicaSignatures signatures)
    {
        var best = histories[0];
        foreach (var h in histories) if (h.CheckpointSeq > best.CheckpointSeq) best = h;
        ulong cp = best.CheckpointSeq;
        var verified = new Dictionary<string, bool>();
        var values = new SortedDictionary<ulong, List<byte[]>>();
        foreach (var h in histories)
        {
            foreach (var s in h.Slots)
            {
                if (s.Seq <= cp || s.Seq > cp + (ulong)window) continue;
                if (values.TryGetValue(s.Seq, out var known) && known.Exists(d => d.AsSpan().SequenceEqual(s.Digest))) continue;   // proven by an earlier history
                if (!IsValidProof(s, h.AbortedGeneration, h.AbortedView, shape, proofThreshold, signatures, verified)) continue;
                if (!values.TryGetValue(s.Seq, out var list)) values[s.Seq] = list = new();
                list.Add(s.Digest);
            }
        }
        ulong top = cp;
        foreach (var k in values.Keys) top = k;
        var slots = new List<byte[]>((int)(top - cp));
        int conflicts = 0;
        for (ulong seq = cp + 1; seq <= top; seq++)
        {
            if (values.TryGetValue(seq, out var list) && list.Count == 1) slots.Add(list[0]);             // H1
            else { if (list is { Count: > 1 }) conflicts++; slots.Add(ViewChangeDecision.NullDigest); }   // H2 (G11)
        }
        return new GlobalHistory { CheckpointSeq = cp, CheckpointDigest = best.CheckpointDigest, Slots = slots, ConflictingSlots = conflicts };
    }

    /// <summary>True if <paramref name="slot"/>'s proof has at least <paramref name="threshold"/> genuine endorsements from distinct active senders.</summary>
    public static bool IsValidProof(HistorySlot slot, ulong generation, ulong view, CellShape shape, int threshold, ReplicaSignatures signatures, Dictionary<string, bool>? cache = null)
    {
        ulong senders = 0;
        int genuine = 0;
        Span<byte> signed = stackalloc byte[MessageHeader.Size + Digests.Size];
        uint leader = shape.LeaderOf(view);
        foreach (var e in slot.Endorsements)
        {
            if (!MessageHeader.TryParseAlone(e.Header, out var eh)) continue;
            if (eh.Family != ProtocolFamily.RePbft || eh.Generation != generation || eh.View != view || eh.Sequence != slot.Seq) continue;
            if (eh.Sender >= (uint)shape.N || (senders & (1UL << (int)eh.Sender)) != 0) continue;
            bool kindOk = eh.Type == MessageType.EndorsedPrePrepare ? eh.Sender == leader
                        : eh.Type == MessageType.EndorsedPrepare && eh.Sender != leader && shape.RoleOf(eh.Sender, view) == ReplicaRole.Follower;
            if (!kindOk) continue;
            e.Header.CopyTo(signed);
            slot.Digest.CopyTo(signed.Slice(MessageHeader.Size));
            string key = Convert.ToHexString(e.Signature) + Convert.ToHexString(signed);
            if (cache is null || !cache.TryGetValue(key, out bool ok))
            {
                ok = signatures.Verify(eh.Sender, signed, e.Signature);
                cache?.Add(key, ok);
            }
            if (!ok) continue;
            senders |= 1UL << (int)eh.Sender;
            if (++genuine >= threshold) return true;          // enough: the rest need not be checked
        }
        return false;
    }

    /// <summary>True if this decision equals the given checkpoint and slots exactly.</summary>
    public bool SameAs(ulong cpSeq, ReadOnlySpan<byte> cpDigest, List<byte[]> slots)
    {
        if (cpSeq != CheckpointSeq || !cpDigest.SequenceEqual(CheckpointDigest) || slots.Count != Slots.Count) return false;
        for (int i = 0; i < slots.Count; i++) if (!slots[i].AsSpan().SequenceEqual(Slots[i])) return false;
        return true;
    }

    /// <summary>Body length of a SWITCH embedding <paramref name="histories"/> and this decision.</summary>
    public int SwitchBodyLength(IReadOnlyList<AbortHistory> histories)
    {
        int len = SwitchFixed + Slots.Count * Digests.Size + ReplicaSignatures.SignatureSize;
        foreach (var h in histories) len += 4 + h.Message.Length;
        return len;
    }

    /// <summary>Writes a SWITCH body (without its trailing signature).</summary>
    public void WriteSwitch(Span<byte> body, ulong abortedGeneration, ulong abortedView, IReadOnlyList<AbortHistory> histories)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(body, abortedGeneration);
        BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(8), abortedView);
        BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(16), CheckpointSeq);
        CheckpointDigest.CopyTo(body.Slice(24));
        BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(56), (ushort)histories.Count);
        body.Slice(58, 2).Clear();
        BinaryPrimitives.WriteInt32LittleEndian(body.Slice(60), Slots.Count);
        int off = SwitchFixed;
        foreach (var h in histories) { BinaryPrimitives.WriteInt32LittleEndian(body.Slice(off), h.Message.Length); h.Message.CopyTo(body.Slice(off + 4)); off += 4 + h.Message.Length; }
        foreach (var d in Slots) { d.CopyTo(body.Slice(off)); off += Digests.Size; }
    }
}

/// <summary>A SWITCH message parsed structurally (signatures are checked by the verifier's rule).</summary>
public sealed class SwitchMessage
{
    /// <summary>The generation the switch starts (header generation).</summary>
    public required ulong Generation { get; init; }
    /// <summary>The view the resilient protocol starts in (header view; its leader is the coordinator).</summary>
    public required ulong View { get; init; }
    /// <summary>The aborted generation and its view.</summary>
    public required ulong AbortedGeneration { get; init; }
    /// <summary>The aborted generation's view.</summary>
    public required ulong AbortedView { get; init; }
    /// <summary>Checkpoint the history starts from, and its digest.</summary>
    public required ulong CheckpointSeq { get; init; }
    /// <summary>Checkpoint digest (32 bytes).</summary>
    public required byte[] CheckpointDigest { get; init; }
    /// <summary>Embedded local histories.</summary>
    public required List<AbortHistory> Histories { get; init; }
    /// <summary>Slot values.</summary>
    public required List<byte[]> Slots { get; init; }

    /// <summary>Parses a SWITCH body; null if malformed (counts bounded by the active set and the window, embedded HISTORYs well-formed and of this generation). Never throws.</summary>
    public static SwitchMessage? TryParse(in MessageHeader h, ReadOnlySpan<byte> message, int n, int active, int window)
    {
        var body = MessageHeader.Body(message, h);
        if (body.Length < GlobalHistory.SwitchFixed + ReplicaSignatures.SignatureSize) return null;
        body = body.Slice(0, body.Length - ReplicaSignatures.SignatureSize);
        int hc = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(56));
        int sc = BinaryPrimitives.ReadInt32LittleEndian(body.Slice(60));
        if (body[58] != 0 || body[59] != 0 || hc > active || sc < 0 || sc > window) return null;
        var rest = body.Slice(GlobalHistory.SwitchFixed);
        var histories = new List<AbortHistory>(hc);
        for (int i = 0; i < hc; i++)
        {
            if (rest.Length < 4) return null;
            int len = BinaryPrimitives.ReadInt32LittleEndian(rest);
            if (len < MessageHeader.Size || len > rest.Length - 4) return null;
            var m = rest.Slice(4, len);
            if (MessageHeader.TryParse(m, int.MaxValue, out var hh) != ParseStatus.Ok || hh.Type != MessageType.History || hh.Generation != h.Generation || hh.TotalLength != len) return null;
            var parsed = AbortHistory.TryParse(hh, m, n, active, window);
            if (parsed is null) return null;
            histories.Add(parsed);
            rest = rest.Slice(4 + len);
        }
        if (rest.Length != sc * Digests.Size) return null;
        var slots = new List<byte[]>(sc);
        for (int i = 0; i < sc; i++) slots.Add(rest.Slice(i * Digests.Size, Digests.Size).ToArray());
        return new SwitchMessage
        {
            Generation = h.Generation, View = h.View,
            AbortedGeneration = BinaryPrimitives.ReadUInt64LittleEndian(body), AbortedView = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(8)),
            CheckpointSeq = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(16)), CheckpointDigest = body.Slice(24, Digests.Size).ToArray(),
            Histories = histories, Slots = slots,
        };
    }
}
