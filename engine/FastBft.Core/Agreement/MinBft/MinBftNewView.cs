using System.Buffers.Binary;
using System.IO.Compression;
using FastBft.Auth;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Agreement.MinBft;

/// <summary>
/// A parsed, validated NEW-VIEW and the new view's start it fixes (docs/minbft.md §5). Body (header: view = v'):
/// <code>
/// vcCount[2] ‖ 0[2] ‖ X[8] ‖ maxS[8] ‖ (maxS − X) × D(batch)[32] ‖ vcCount × (len[4] ‖ certified VIEW-CHANGE(v'))
/// </code>
/// or, compressed (format 1; docs/minbft.md §5.3): <c>vcCount[2] ‖ 1[2] ‖ rawLength[4] ‖ Brotli(everything after the first 4 bytes
/// of the plain layout)</c>. The f+1 VIEW-CHANGEs usually carry the same batches (every replica attaches the PREPAREs its
/// COMMITs name), so the plain layout is about f+1 times what the new view needs; Brotli (System.IO.Compression, a 16 MiB
/// window) removes the repeats. The leader's UI covers the body as sent; a receiver allocates the plain body only after
/// checking rawLength against (n + 1) × the message body limit.
/// The decision (X, maxS and one D per sequence number) is carried so that every replica can recompute it from the
/// f+1 VIEW-CHANGEs and reject any difference: X = the highest certified checkpoint among them; for each s in
/// (X, maxS] the value of the PREPARE/COMMIT of the highest view naming s, and among those of that view the one
/// whose leader UI comes first (the leader's counter order decides which PREPARE every correct replica bound, since
/// a correct replica binds the first PREPARE for s in that order, docs/minbft.md §3); the empty batch where no log
/// names s. Any committed value is there: commit needs f+1 certified messages, f+1 VIEW-CHANGEs share a replica
/// with them, and its gap-free log cannot leave its message out (PROTOCOLS.md §4 [X], G17).
/// </summary>
public sealed class MinBftNewView
{
    /// <summary>Bytes of the fixed part of the body.</summary>
    public const int Fixed = 20;
    /// <summary>Bytes of the fixed part of a compressed body (vcCount ‖ format ‖ rawLength).</summary>
    public const int CompressedFixed = 8;
    /// <summary>Plain bodies up to this many bytes are sent as they are; longer ones compressed when that saves bytes.</summary>
    public const int CompressAbove = 4096;
    private const ushort PlainFormat = 0, BrotliFormat = 1;
    private const int BrotliQuality = 4, BrotliWindowBits = 24;

    /// <summary>The new view.</summary>
    public ulong View { get; private init; }
    /// <summary>The VIEW-CHANGEs it carries.</summary>
    public List<MinBftViewChange> ViewChanges { get; } = new();
    /// <summary>The certified VIEW-CHANGE messages, as carried.</summary>
    public List<byte[]> ViewChangeMessages { get; } = new();
    /// <summary>The decision.</summary>
    public MinBftDecision Decision { get; private set; } = null!;

    /// <summary>Parses and validates a NEW-VIEW body; null for anything malformed, forged, or whose decision differs from the one its VIEW-CHANGEs give. Never throws.</summary>
    public static MinBftNewView? TryParse(in MessageHeader h, ReadOnlySpan<byte> body, int n, VerifierLimits limits, IAuthScheme? usig)
    {
        try { return Parse(h, body, n, limits, usig); }
        catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or InvalidOperationException or OverflowException) { return null; }
    }

    private static MinBftNewView? Parse(in MessageHeader h, ReadOnlySpan<byte> body, int n, VerifierLimits limits, IAuthScheme? usig)
    {
        if (usig is null || body.Length < 4) return null;
        ushort format = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(2));
        if (format == BrotliFormat)
        {
            var plain = Decompress(body, n, limits);
            return plain is null ? null : Parse(h, plain, n, limits, usig);
        }
        if (format != PlainFormat || body.Length < Fixed) return null;
        int f = MinBftViewChange.FOf(n);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(body);
        if (count < f + 1 || count > n) return null;
        ulong x = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(4));
        ulong maxS = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(12));
        if (maxS < x || maxS - x > (ulong)((body.Length - Fixed) / Digests.Size)) return null;
        int slots = (int)(maxS - x);
        var digests = body.Slice(Fixed, slots * Digests.Size);
        var rest = body.Slice(Fixed + slots * Digests.Size);
        var nv = new MinBftNewView { View = h.View };
        ulong senders = 0;
        Span<byte> auth = stackalloc byte[Digests.Size];
        for (int i = 0; i < count; i++)
        {
            if (rest.Length < 4) return null;
            int len = BinaryPrimitives.ReadInt32LittleEndian(rest);
            if (len < MessageHeader.Size || len > rest.Length - 4) return null;
            var m = rest.Slice(4, len);
            rest = rest.Slice(4 + len);
            if (MessageHeader.TryParse(m, limits.MaxMessageBody, out var vh) != ParseStatus.Ok || vh.Type != MessageType.UiViewChange || vh.Family != h.Family || vh.Generation != h.Generation
                || vh.View != h.View || vh.Sender >= (uint)n || vh.AuthLength != UsigCertificateScheme.Length || (senders & (1UL << (int)vh.Sender)) != 0) return null;
            senders |= 1UL << (int)vh.Sender;
            var vb = MessageHeader.Body(m, vh);
            Digests.AuthBody(vb, auth);
            var verdict = usig.Verify(vh.Sender, m.Slice(0, MessageHeader.Size), auth, MessageHeader.Authenticator(m, vh));
            if (!verdict.IsOk || !verdict.HasUi) return null;
            var vc = MinBftViewChange.TryParse(vh, vb, verdict.Epoch, verdict.Counter, n, limits, usig);
            if (vc is null) return null;
            nv.ViewChanges.Add(vc);
            nv.ViewChangeMessages.Add(m.ToArray());
        }
        if (rest.Length != 0) return null;
        var decision = MinBftDecision.Decide(nv.ViewChanges, slots);   // a decision longer than the carried one fails before anything is allocated for it
        if (decision is null || decision.CheckpointSeq != x || decision.MaxSeq != maxS) return null;
        for (int i = 0; i < slots; i++)
            if (!digests.Slice(i * Digests.Size, Digests.Size).SequenceEqual(decision.BatchDigests[i])) return null;   // any difference: reject
        nv.Decision = decision;
        return nv;
    }

    /// <summary>
    /// The plain body of a compressed one: null if rawLength exceeds (n + 1) × the body limit (checked before anything is
    /// allocated for it), if the Brotli stream is malformed or does not decode to exactly rawLength bytes, or if the plain
    /// body is itself marked compressed.
    /// </summary>
    internal static byte[]? Decompress(ReadOnlySpan<byte> body, int n, VerifierLimits limits)
    {
        if (body.Length < CompressedFixed) return null;
        uint rawLength = BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(4));
        if (rawLength < Fixed || rawLength > (ulong)(n + 1) * (ulong)limits.MaxMessageBody || rawLength > int.MaxValue / 2) return null;
        var plain = new byte[rawLength];
        body.Slice(0, 2).CopyTo(plain);                      // vcCount; format 0
        if (!BrotliDecoder.TryDecompress(body.Slice(CompressedFixed), plain.AsSpan(4), out int written) || written != plain.Length - 4) return null;
        return plain;
    }

    /// <summary>
    /// Writes the NEW-VIEW body for <paramref name="decision"/> and the certified VIEW-CHANGE <paramref name="messages"/>:
    /// the plain layout, or the compressed one when the plain body is longer than <see cref="CompressAbove"/> bytes and
    /// compression makes it shorter.
    /// </summary>
    public static byte[] Body(MinBftDecision decision, IReadOnlyList<byte[]> messages)
    {
        var plain = PlainBody(decision, messages);
        if (plain.Length <= CompressAbove) return plain;
        var packed = new byte[CompressedFixed + BrotliEncoder.GetMaxCompressedLength(plain.Length - 4)];
        if (!BrotliEncoder.TryCompress(plain.AsSpan(4), packed.AsSpan(CompressedFixed), out int written, BrotliQuality, BrotliWindowBits)
            || CompressedFixed + written >= plain.Length || CompressedFixed + written < Fixed) return plain;
        plain.AsSpan(0, 2).CopyTo(packed);
        BinaryPrimitives.WriteUInt16LittleEndian(packed.AsSpan(2), BrotliFormat);
        BinaryPrimitives.WriteUInt32LittleEndian(packed.AsSpan(4), (uint)plain.Length);
        return packed.AsSpan(0, CompressedFixed + written).ToArray();
    }

    /// <summary>The plain layout (format 0).</summary>
    public static byte[] PlainBody(MinBftDecision decision, IReadOnlyList<byte[]> messages)
    {
        int slots = decision.BatchDigests.Count;
        var body = new byte[Fixed + slots * Digests.Size + messages.Sum(m => 4 + m.Length)];
        BinaryPrimitives.WriteUInt16LittleEndian(body, (ushort)messages.Count);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(4), decision.CheckpointSeq);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(12), decision.MaxSeq);
        int off = Fixed;
        foreach (var d in decision.BatchDigests) { d.CopyTo(body, off); off += Digests.Size; }
        foreach (var m in messages)
        {
            BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(off), m.Length);
            m.CopyTo(body, off + 4);
            off += 4 + m.Length;
        }
        return body;
    }
}

/// <summary>The start of a new view: the checkpoint it continues from and the batch fixed for every s in (X, maxS].</summary>
public sealed class MinBftDecision
{
    /// <summary>X: the highest certified checkpoint among the VIEW-CHANGEs.</summary>
    public ulong CheckpointSeq { get; init; }
    /// <summary>D(state) at X.</summary>
    public byte[] CheckpointDigest { get; init; } = new byte[Digests.Size];
    /// <summary>Replicas whose CHECKPOINT(X) is in the certificate (they hold the state, for a fetch).</summary>
    public List<uint> CheckpointHolders { get; init; } = new();
    /// <summary>The certificate's CHECKPOINT messages.</summary>
    public List<(uint Sender, byte[] Message)> Certificate { get; init; } = new();
    /// <summary>maxS: the highest sequence number any log names above X.</summary>
    public ulong MaxSeq { get; init; }
    /// <summary>D(batch) for s = X+1 … maxS.</summary>
    public List<byte[]> BatchDigests { get; } = new();
    /// <summary>The batch body for s = X+1 … maxS.</summary>
    public List<byte[]> Batches { get; } = new();
    /// <summary>The certified PREPARE carrying each batch, or null for the empty batch.</summary>
    public List<byte[]?> Prepares { get; } = new();

    /// <summary>Computes the decision of <paramref name="vcs"/>; null if a chosen value's batch is in none of them, or if maxS − X exceeds
    /// <paramref name="maxSlots"/> (checked before the per-slot lists are built: a receiver passes the length the NEW-VIEW carries).</summary>
    public static MinBftDecision? Decide(IReadOnlyList<MinBftViewChange> vcs, int maxSlots)
    {
        MinBftViewChange? best = null;
        foreach (var vc in vcs) if (best is null || vc.CheckpointSeq > best.CheckpointSeq) best = vc;
        if (best is null) return null;
        ulong x = best.CheckpointSeq;
        var chosen = new Dictionary<ulong, MinBftLogEntry>();
        foreach (var vc in vcs)
            foreach (var e in vc.Entries)
            {
                if (e.Seq <= x) continue;
                if (!chosen.TryGetValue(e.Seq, out var c) || e.View > c.View
                    || (e.View == c.View && (e.LeaderEpoch < c.LeaderEpoch || (e.LeaderEpoch == c.LeaderEpoch && e.LeaderCounter < c.LeaderCounter))))
                    chosen[e.Seq] = e;
            }
        ulong maxS = x;
        foreach (var s in chosen.Keys) if (s > maxS) maxS = s;
        if (maxS - x > (ulong)maxSlots) return null;
        var d = new MinBftDecision
        {
            CheckpointSeq = x, CheckpointDigest = best.CheckpointDigest, MaxSeq = maxS,
            CheckpointHolders = best.Certificate.Select(c => c.Sender).ToList(), Certificate = best.Certificate,
        };
        var empty = MinBftBatches.Empty();
        for (ulong s = x + 1; s <= maxS; s++)
        {
            if (!chosen.TryGetValue(s, out var e)) { d.BatchDigests.Add(empty.AsSpan(0, 32).ToArray()); d.Batches.Add(empty); d.Prepares.Add(null); continue; }
            string key = Convert.ToHexString(e.Digest);
            byte[]? batch = null, prepare = null;
            foreach (var vc in vcs) if (vc.Batches.TryGetValue(key, out batch)) { prepare = vc.PrepareMessages[key]; break; }
            if (batch is null)
            {
                if (!e.Digest.AsSpan().SequenceEqual(empty.AsSpan(0, 32))) return null;
                batch = empty;
            }
            d.BatchDigests.Add(e.Digest);
            d.Batches.Add(batch);
            d.Prepares.Add(prepare);
        }
        return d;
    }
}
