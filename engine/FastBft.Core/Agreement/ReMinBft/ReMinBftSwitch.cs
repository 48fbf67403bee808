using System.Buffers.Binary;
using FastBft.Agreement.MinBft;
using FastBft.Auth;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Agreement.ReMinBft;

/// <summary>
/// The transition coordinator's abort history in a SWITCH (Thesis §5.4.3 "Creating an Abort History"; PROTOCOLS.md §6.3;
/// docs/reminbft.md §5.2). Body (little-endian):
/// <c>abortedView[8] ‖ attempt[8] ‖ cpSeq[8] ‖ cpDigest[32] ‖ c0Epoch[8] ‖ c0Counter[8] ‖ count[4] ‖ certCount[4] ‖
/// certCount × (len[4] ‖ signed CHECKPOINT(cpSeq)) ‖ count × (kind[1] ‖ 0[3] ‖ len[4] ‖ message)</c>
/// — 80 fixed bytes; the certificate: every active replica's signed CHECKPOINT(cpSeq) (type 31, whole, MAC trailer
/// included), one digest and one counter list, so that any replica can check the checkpoint and the coordinator's counter
/// c0 in it without having seen it become stable (R1, docs/reminbft.md §5.2); kind 0 = one of the coordinator's own certified messages after the checkpoint (its UI included), in
/// counter order c0+1, c0+2, …, up to the SWITCH's own counter − 1 (gap-free); kind 1 (optional) = the leader's certified
/// PREPARE that the preceding kind-0 COMMIT endorsed. The coordinator sends none: a COMMIT's D(batch) is what the decision
/// fixes, and the new leader (the coordinator, which bound those PREPAREs) re-proposes the batches — so the SWITCH stays
/// small however large the batches are (a history with every batch exceeded the transport's 4 MiB message limit with
/// 4 KiB requests, and the passive replica never switched).
/// </summary>
public sealed class SwitchHistory
{
    /// <summary>Fixed part of the body, bytes.</summary>
    public const int Fixed = 80;

    /// <summary>The aborted generation's view (its leader is view mod n).</summary>
    public ulong AbortedView { get; private init; }
    /// <summary>Switch attempt (≥ 1): names the coordinator (<see cref="Switch.CoordinatorRotation"/>).</summary>
    public ulong Attempt { get; private init; }
    /// <summary>The coordinator's stable checkpoint: sequence number (0 = none) and state digest (32 bytes).</summary>
    public ulong CheckpointSeq { get; private init; }
    /// <summary>The state digest of <see cref="CheckpointSeq"/>.</summary>
    public byte[] CheckpointDigest { get; private init; } = [];
    /// <summary>The coordinator's UI in the checkpoint instance (from the checkpoint's counters; counter 0 without a checkpoint).</summary>
    public ulong C0Epoch { get; private init; }
    /// <summary>See <see cref="C0Epoch"/>.</summary>
    public ulong C0Counter { get; private init; }
    /// <summary>The checkpoint certificate: the signed CHECKPOINT(cpSeq) messages, with their senders, in body order.</summary>
    public List<(uint Sender, byte[] Message)> Certificate { get; } = new();
    /// <summary>The entries: kind, header and whole message, in body order.</summary>
    public List<(byte Kind, MessageHeader Header, byte[] Message)> Entries { get; } = new();

    /// <summary>Builds the body.</summary>
    public static byte[] Body(ulong abortedView, ulong attempt, ulong cpSeq, ReadOnlySpan<byte> cpDigest, ulong c0Epoch, ulong c0Counter, IReadOnlyList<(byte Kind, byte[] Message)> entries,
        IReadOnlyList<byte[]>? certificate = null)
    {
        certificate ??= [];
        int len = Fixed;
        foreach (var c in certificate) len += 4 + c.Length;
        foreach (var e in entries) len += 8 + e.Message.Length;
        var b = new byte[len];
        var s = b.AsSpan();
        BinaryPrimitives.WriteUInt64LittleEndian(s, abortedView);
        BinaryPrimitives.WriteUInt64LittleEndian(s.Slice(8), attempt);
        BinaryPrimitives.WriteUInt64LittleEndian(s.Slice(16), cpSeq);
        cpDigest.CopyTo(s.Slice(24, Digests.Size));
        BinaryPrimitives.WriteUInt64LittleEndian(s.Slice(56), c0Epoch);
        BinaryPrimitives.WriteUInt64LittleEndian(s.Slice(64), c0Counter);
        BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(72), (uint)entries.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(76), (uint)certificate.Count);
        int o = Fixed;
        foreach (var c in certificate)
        {
            BinaryPrimitives.WriteInt32LittleEndian(s.Slice(o), c.Length);
            c.CopyTo(s.Slice(o + 4));
            o += 4 + c.Length;
        }
        foreach (var e in entries)
        {
            s[o] = e.Kind;
            BinaryPrimitives.WriteInt32LittleEndian(s.Slice(o + 4), e.Message.Length);
            e.Message.CopyTo(s.Slice(o + 8));
            o += 8 + e.Message.Length;
        }
        return b;
    }

    /// <summary>
    /// Parses a SWITCH body; never throws. Every embedded entry must be a certified message of this family, every
    /// certificate message a CHECKPOINT(cpSeq) of this family with cpDigest from a distinct replica; with
    /// <paramref name="usig"/> each entry's UI is verified, with <paramref name="signatures"/> each CHECKPOINT's Ed25519
    /// signature (the verifier's body rule; a core re-parsing a verified SWITCH passes null for both). Returns null for
    /// anything malformed; every embedded message must be of the SWITCH's header <paramref name="generation"/> (docs/reminbft.md §7).
    /// Checks structure only — the certificate's roles and counters are <see cref="TryAnchor"/>'s,
    /// continuity and the decision <see cref="TryDecide"/>'s.
    /// </summary>
    public static SwitchHistory? TryParse(ReadOnlySpan<byte> body, int n, VerifierLimits limits, IAuthScheme? usig, SignatureCheck? signatures = null, ulong generation = 0)
    {
        if (body.Length < Fixed) return null;
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(72));
        uint certCount = BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(76));
        if (certCount > (uint)n || count > (uint)(body.Length / (8 + MessageHeader.Size))) return null;
        var h = new SwitchHistory
        {
            AbortedView = BinaryPrimitives.ReadUInt64LittleEndian(body),
            Attempt = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(8)),
            CheckpointSeq = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(16)),
            CheckpointDigest = body.Slice(24, Digests.Size).ToArray(),
            C0Epoch = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(56)),
            C0Counter = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(64)),
        };
        if (h.Attempt == 0 || (h.CheckpointSeq == 0) != (certCount == 0)) return null;
        var rest = body.Slice(Fixed);
        ulong senders = 0;
        for (uint i = 0; i < certCount; i++)
        {
            if (rest.Length < 4) return null;
            int len = BinaryPrimitives.ReadInt32LittleEndian(rest);
            if (len < MessageHeader.Size || len > rest.Length - 4) return null;
            var m = rest.Slice(4, len);
            rest = rest.Slice(4 + len);
            if (MessageHeader.TryParse(m, limits.MaxMessageBody, out var mh) != ParseStatus.Ok || mh.Family != ProtocolFamily.ReMinBft || mh.Generation != generation
                || mh.Type != MessageType.CounterCheckpoint || mh.Sender >= (uint)n || mh.Sequence != h.CheckpointSeq || (senders >> (int)mh.Sender & 1) != 0) return null;
            var mb = MessageHeader.Body(m, mh);
            if (mb.Length < ReMinBftBodies.SignedCheckpointLength(0)) return null;
            uint cc = BinaryPrimitives.ReadUInt32LittleEndian(mb.Slice(Digests.Size));
            if (cc > (uint)n || mb.Length != ReMinBftBodies.SignedCheckpointLength((int)cc) || !mb.Slice(0, Digests.Size).SequenceEqual(h.CheckpointDigest)) return null;
            if (signatures is not null && !CommonRules.SignatureValid(signatures, mh.Sender, m, mb.Length)) return null;
            senders |= 1UL << (int)mh.Sender;
            h.Certificate.Add((mh.Sender, m.ToArray()));
        }
        Span<byte> auth = stackalloc byte[Digests.Size];
        for (uint i = 0; i < count; i++)
        {
            if (rest.Length < 8) return null;
            byte kind = rest[0];
            int len = BinaryPrimitives.ReadInt32LittleEndian(rest.Slice(4));
            if (kind > 1 || rest[1] != 0 || rest[2] != 0 || rest[3] != 0 || len < MessageHeader.Size || len > rest.Length - 8) return null;
            var m = rest.Slice(8, len);
            rest = rest.Slice(8 + len);
            if (MessageHeader.TryParse(m, limits.MaxMessageBody, out var mh) != ParseStatus.Ok || mh.Family != ProtocolFamily.ReMinBft || mh.Generation != generation
                || mh.Sender >= (uint)n || mh.AuthLength != UsigCertificateScheme.Length || mh.Type is not (MessageType.UiPrepare or MessageType.UiCommit or MessageType.UiCheckpoint or MessageType.UiSwitch)) return null;
            var mb = MessageHeader.Body(m, mh);
            if (mh.Type == MessageType.UiPrepare)
            {
                if (mh.Sender != (uint)(mh.View % (ulong)n) || !MinBftBatches.TryDigest(mb, mh.Family, limits, auth) || !auth.SequenceEqual(mb.Slice(0, Digests.Size))) return null;
            }
            else if (mh.Type == MessageType.UiCommit && mb.Length != MinBftBodies.CommitLength) return null;
            else Digests.AuthBody(mb, auth);
            if (usig is not null)
            {
                var verdict = usig.Verify(mh.Sender, m.Slice(0, MessageHeader.Size), auth, MessageHeader.Authenticator(m, mh));
                if (!verdict.IsOk || !verdict.HasUi) return null;
            }
            h.Entries.Add((kind, mh, m.ToArray()));
        }
        return rest.IsEmpty ? h : null;
    }

    /// <summary>
    /// Checks the checkpoint certificate against the aborted generation's <paramref name="active"/> set (active-set order)
    /// and reads from it the counters the switch starts from: valid iff cpSeq = 0 and no certificate, or the certificate
    /// holds exactly one CHECKPOINT from every active replica, each listing f+1 = |active| counters, all lists identical,
    /// and the coordinator's entry equal to the history's c0 (Thesis §5.4.2: the active replicas' counter values at the
    /// checkpoint instance; at least one of the f+1 signers is correct, so the list is the one every correct active replica
    /// recorded). <paramref name="counters"/>: (epoch, counter) per active replica, active-set order (empty when cpSeq = 0).
    /// </summary>
    public bool TryAnchor(uint[] active, uint coordinator, out (ulong Epoch, ulong Counter)[] counters, out string? reason)
    {
        counters = [];
        reason = null;
        if (CheckpointSeq == 0) return true;
        if (Certificate.Count != active.Length) { reason = "checkpoint certificate: not every active replica"; return false; }
        ReadOnlySpan<byte> first = default;
        foreach (var (sender, m) in Certificate)
        {
            if (Array.IndexOf(active, sender) < 0) { reason = "checkpoint certificate: a passive signer"; return false; }
            var body = m.AsSpan(MessageHeader.Size);
            if (BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(Digests.Size)) != (uint)active.Length) { reason = "checkpoint certificate: counter count"; return false; }
            var list = body.Slice(ReMinBftBodies.CheckpointFixed, 16 * active.Length);
            if (first.IsEmpty) first = list;
            else if (!list.SequenceEqual(first)) { reason = "checkpoint certificate: counter lists differ"; return false; }
        }
        counters = new (ulong, ulong)[active.Length];
        var firstBody = Certificate[0].Message.AsSpan(MessageHeader.Size);
        for (int i = 0; i < active.Length; i++) counters[i] = CounterCheckpoints.CounterIn(firstBody, i);
        int ci = Array.IndexOf(active, coordinator);
        if (ci < 0 || counters[ci] != (C0Epoch, C0Counter)) { reason = "c0 is not the coordinator's counter in the checkpoint"; return false; }
        return true;
    }

    /// <summary>UI (epoch, counter) of a certified message (the trailer's).</summary>
    public static (ulong Epoch, ulong Counter) UiOf(ReadOnlySpan<byte> message)
    {
        var ui = message.Slice(message.Length - MinBftBodies.UiSize);
        return (BinaryPrimitives.ReadUInt64LittleEndian(ui), BinaryPrimitives.ReadUInt64LittleEndian(ui.Slice(8)));
    }

    /// <summary>
    /// The validity rule and the decision (Thesis §5.4.3; docs/reminbft.md §5.3). Valid iff: the own entries (kind 0) are all
    /// from <paramref name="coordinator"/> in the SWITCH's epoch <paramref name="switchEpoch"/> = <paramref name="c0Epoch"/> with
    /// counters exactly <paramref name="c0Counter"/>+1 … <paramref name="switchCounter"/> − 1 (no gap, nothing else; c0 is the
    /// receiver's own knowledge: the coordinator's counter in the receiver's stable checkpoint, or (SWITCH epoch, 0) without one), no own entry is an earlier SWITCH (the first
    /// SWITCH in the coordinator's counter order is the one that counts), each own COMMIT of the aborted view above the
    /// checkpoint is followed by the leader's PREPARE it names (its UI and D(batch)), and no instance is bound to two
    /// batches. The decision: for every instance above the checkpoint the coordinator sent a PREPARE (it led) or a COMMIT
    /// for, that batch; instances in between without one (it vouched for nothing there, so nothing committed) get the
    /// empty batch. Returns null, with the reason, when invalid.
    /// </summary>
    public (List<byte[]?> Batches, List<byte[]> Digests)? TryDecide(uint coordinator, ulong c0Epoch, ulong c0Counter, ulong switchEpoch, ulong switchCounter, int window, out string? reason)
    {
        reason = null;
        var chosen = new SortedDictionary<ulong, (byte[] Digest, byte[]? Batch)>();
        ulong expect = c0Counter + 1;
        if (c0Epoch != switchEpoch) { reason = "the coordinator's USIG epoch changed since the checkpoint"; return null; }
        for (int i = 0; i < Entries.Count; i++)
        {
            var (kind, mh, m) = Entries[i];
            if (kind != 0) { reason = "stray PREPARE"; return null; }
            var (e, c) = UiOf(m);
            if (mh.Sender != coordinator || e != switchEpoch || c != expect) { reason = $"gap at counter {expect}"; return null; }
            expect++;
            if (mh.Type == MessageType.UiSwitch) { reason = "an earlier SWITCH"; return null; }
            if (mh.View != AbortedView || mh.Sequence <= CheckpointSeq) continue;
            byte[]? batch = null, digest = null;
            if (mh.Type == MessageType.UiPrepare)
            {
                batch = MessageHeader.Body(m, mh).ToArray();
                digest = batch.AsSpan(0, Digests.Size).ToArray();
            }
            else if (mh.Type == MessageType.UiCommit)
            {
                var cb = MessageHeader.Body(m, mh);
                digest = cb.Slice(0, Digests.Size).ToArray();
                if (i + 1 < Entries.Count && Entries[i + 1].Kind == 1)
                {
                    // Optional: the PREPARE the COMMIT names (its batch). Without it the decision fixes the digest only and the
                    // new leader, which holds the batch, re-proposes it (docs/reminbft.md §5.2).
                    var (_, ph, pm) = Entries[++i];
                    var pb = MessageHeader.Body(pm, ph);
                    if (ph.Type != MessageType.UiPrepare || ph.View != AbortedView || ph.Sequence != mh.Sequence
                        || !pm.AsSpan(pm.Length - MinBftBodies.UiSize).SequenceEqual(cb.Slice(Digests.Size, MinBftBodies.UiSize))
                        || !pb.Slice(0, Digests.Size).SequenceEqual(digest)) { reason = $"PREPARE for {mh.Sequence} not the one the COMMIT names"; return null; }
                    batch = pb.ToArray();
                }
            }
            if (digest is null) continue;
            if (chosen.TryGetValue(mh.Sequence, out var other))
            {
                if (!other.Digest.AsSpan().SequenceEqual(digest)) { reason = $"two batches at {mh.Sequence}"; return null; }
                batch ??= other.Batch;
            }
            chosen[mh.Sequence] = (digest, batch);
        }
        if (expect != switchCounter) { reason = $"history ends at counter {expect - 1}, the SWITCH has {switchCounter}"; return null; }
        ulong top = chosen.Count == 0 ? CheckpointSeq : chosen.Keys.Max();
        if (top - CheckpointSeq > (ulong)window) { reason = "beyond the window"; return null; }
        var batches = new List<byte[]?>();
        var digests = new List<byte[]>();
        for (ulong s = CheckpointSeq + 1; s <= top; s++)
        {
            if (chosen.TryGetValue(s, out var x)) { batches.Add(x.Batch); digests.Add(x.Digest); continue; }
            var b = MinBftBatches.Empty();
            batches.Add(b);
            digests.Add(b.AsSpan(0, Digests.Size).ToArray());
        }
        return (batches, digests);
    }
}
