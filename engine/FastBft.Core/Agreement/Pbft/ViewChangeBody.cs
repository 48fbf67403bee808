using FastBft.Verification;
using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.Wire;

namespace FastBft.Agreement.Pbft;

/// <summary>
/// A parsed VIEW-CHANGE (docs/wire-format.md, docs/view-change.md; PBFT-PR §4.5, Fig. 2): the
/// sender's stable checkpoint h, its checkpoints C at or above h, the sets P and Q, and the sender's
/// Ed25519 signature over header ‖ body-before-signature. Batches do not travel in a VIEW-CHANGE (the
/// new primary fetches the ones it lacks with BATCH-FETCH), so its size is bounded by the window:
/// <see cref="MaxBodyLength"/>.
/// <code>
/// body: h[8] ‖ cCount[2] ‖ pCount[2] ‖ qCount[2] ‖ 0[2]
///       ‖ cCount × (seq[8] ‖ digest[32]) ‖ pCount × (seq[8] ‖ view[8] ‖ digest[32]) ‖ qCount × (same)
///       ‖ signature[64]
/// </code>
/// Parsing allocates; view changes are rare and off the normal-case path.
/// </summary>
public sealed class ViewChangeBody
{
    /// <summary>Size of one C entry: seq[8] ‖ digest[32].</summary>
    public const int CheckpointEntry = 40;
    /// <summary>Size of one P or Q entry: seq[8] ‖ view[8] ‖ digest[32].</summary>
    public const int SetEntry = 48;
    /// <summary>Fixed prefix: h[8] ‖ cCount[2] ‖ pCount[2] ‖ qCount[2] ‖ 0[2].</summary>
    public const int Fixed = 16;

    /// <summary>Digests a Q set keeps per sequence number: f+2 (PBFT-PR §4.5: then a digest prepared by f+1 correct replicas is never pushed out by ones a faulty primary pre-prepared later).</summary>
    public static int QDigestsPerSeq(int f) => f + 2;

    /// <summary>Largest body a correct replica sends for window <paramref name="window"/>, checkpoint interval <paramref name="k"/> and <paramref name="f"/>, bytes: every slot of (h, h+L] in P, f+2 digests per slot in Q, L/K+1 checkpoints, the signature.</summary>
    public static int MaxBodyLength(int window, int k, int f) => Fixed + (window / k + 1) * CheckpointEntry + (1 + QDigestsPerSeq(f)) * window * SetEntry + ReplicaSignatures.SignatureSize;

    /// <summary>Sender (from the signed header).</summary>
    public uint Sender { get; init; }
    /// <summary>The view the sender moves to (from the signed header).</summary>
    public ulong View { get; init; }
    /// <summary>The sender's stable checkpoint h.</summary>
    public ulong H { get; init; }
    /// <summary>C: (seq, digest) of the sender's checkpoints ≥ h; distinct sequence numbers.</summary>
    public List<(ulong Seq, byte[] Digest)> C { get; } = new();
    /// <summary>P: requests prepared at the sender (seq, view, digest); one entry per seq, seq &gt; h, view &lt; <see cref="View"/>.</summary>
    public List<(ulong Seq, ulong View, byte[] Digest)> P { get; } = new();
    /// <summary>Q: for each seq, the digests the sender pre-prepared there with the latest view of each (seq, view, digest); at most one entry per (seq, digest), seq &gt; h, view &lt; <see cref="View"/>.</summary>
    public List<(ulong Seq, ulong View, byte[] Digest)> Q { get; } = new();

    /// <summary>
    /// Parses a VIEW-CHANGE body (without checking its signature; <see cref="SignedLength"/> tells
    /// what the signature covers). Null if malformed (see <see cref="IsWellFormed"/>).
    /// </summary>
    public static ViewChangeBody? TryParse(uint sender, ulong view, ReadOnlySpan<byte> body)
    {
        if (!IsWellFormed(view, body)) return null;
        var vc = new ViewChangeBody { Sender = sender, View = view, H = BinaryPrimitives.ReadUInt64LittleEndian(body) };
        int c = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(8));
        int p = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(10));
        int q = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(12));
        var rest = body.Slice(Fixed);
        for (int i = 0; i < c; i++) { vc.C.Add((BinaryPrimitives.ReadUInt64LittleEndian(rest), rest.Slice(8, 32).ToArray())); rest = rest.Slice(CheckpointEntry); }
        for (int i = 0; i < p + q; i++)
        {
            var e = (BinaryPrimitives.ReadUInt64LittleEndian(rest), BinaryPrimitives.ReadUInt64LittleEndian(rest.Slice(8)), rest.Slice(16, 32).ToArray());
            (i < p ? vc.P : vc.Q).Add(e);
            rest = rest.Slice(SetEntry);
        }
        return vc;
    }

    /// <summary>
    /// Checks a VIEW-CHANGE body without allocating (the verifier's check): exact length, reserved
    /// bytes zero, C strictly ascending by seq with every seq ≥ h and one entry for h, P strictly
    /// ascending by seq, Q strictly ascending by (seq, digest), every P/Q seq above h and every P/Q view
    /// below <paramref name="view"/>. Ascending order makes duplicates impossible without a set.
    /// </summary>
    public static bool IsWellFormed(ulong view, ReadOnlySpan<byte> body)
    {
        if (body.Length < Fixed + ReplicaSignatures.SignatureSize) return false;
        ulong h = BinaryPrimitives.ReadUInt64LittleEndian(body);
        int c = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(8));
        int p = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(10));
        int q = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(12));
        if (body[14] != 0 || body[15] != 0) return false;
        long need = Fixed + (long)c * CheckpointEntry + (long)(p + q) * SetEntry + ReplicaSignatures.SignatureSize;
        if (need != body.Length) return false;
        var rest = body.Slice(Fixed);
        bool hasH = false;
        ulong last = 0;
        for (int i = 0; i < c; i++)
        {
            ulong seq = BinaryPrimitives.ReadUInt64LittleEndian(rest);
            if (seq < h || (i > 0 && seq <= last)) return false;
            hasH |= seq == h;
            last = seq;
            rest = rest.Slice(CheckpointEntry);
        }
        if (!hasH) return false;
        return CheckSet(ref rest, p, h, view, byDigest: false) && CheckSet(ref rest, q, h, view, byDigest: true);
    }

    private static bool CheckSet(ref ReadOnlySpan<byte> rest, int count, ulong h, ulong view, bool byDigest)
    {
        var set = rest.Slice(0, count * SetEntry);
        for (int i = 0; i < count; i++)
        {
            var e = set.Slice(i * SetEntry, SetEntry);
            ulong seq = BinaryPrimitives.ReadUInt64LittleEndian(e);
            ulong v = BinaryPrimitives.ReadUInt64LittleEndian(e.Slice(8));
            if (seq <= h || v >= view) return false;
            if (i > 0)
            {
                var prev = set.Slice((i - 1) * SetEntry, SetEntry);
                ulong prevSeq = BinaryPrimitives.ReadUInt64LittleEndian(prev);
                if (seq < prevSeq) return false;
                if (seq == prevSeq && (!byDigest || e.Slice(16, 32).SequenceCompareTo(prev.Slice(16, 32)) <= 0)) return false;
            }
        }
        rest = rest.Slice(count * SetEntry);
        return true;
    }

    /// <summary>Body length of a VIEW-CHANGE with <paramref name="c"/> checkpoints and <paramref name="p"/> + <paramref name="q"/> set entries, signature included, bytes.</summary>
    public static int BodyLength(int c, int p, int q) => Fixed + c * CheckpointEntry + (p + q) * SetEntry + ReplicaSignatures.SignatureSize;

    /// <summary>
    /// Writes a VIEW-CHANGE body into <paramref name="body"/> (exactly <see cref="BodyLength"/> bytes): the fields
    /// in the order given; the trailing 64-byte signature is left for <see cref="MessageBuilder.SealSignedVector"/>.
    /// The one writer of the format (the core, and the tests' and simulator's forgers).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="body"/> has another length or a count exceeds 65,535.</exception>
    public static void Write(Span<byte> body, ulong h, IReadOnlyList<(ulong Seq, byte[] Digest)> c,
        IReadOnlyList<(ulong Seq, ulong View, byte[] Digest)> p, IReadOnlyList<(ulong Seq, ulong View, byte[] Digest)> q)
    {
        if (c.Count > ushort.MaxValue || p.Count > ushort.MaxValue || q.Count > ushort.MaxValue) throw new ArgumentException("a VIEW-CHANGE holds at most 65,535 entries per set");
        if (body.Length != BodyLength(c.Count, p.Count, q.Count)) throw new ArgumentException($"body must be {BodyLength(c.Count, p.Count, q.Count)} bytes", nameof(body));
        BinaryPrimitives.WriteUInt64LittleEndian(body, h);
        BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(8), (ushort)c.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(10), (ushort)p.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(12), (ushort)q.Count);
        body[14] = 0; body[15] = 0;
        int off = Fixed;
        foreach (var (seq, d) in c) { BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(off), seq); d.AsSpan(0, 32).CopyTo(body.Slice(off + 8)); off += CheckpointEntry; }
        off = WriteSet(body, off, p);
        WriteSet(body, off, q);
    }

    private static int WriteSet(Span<byte> body, int off, IReadOnlyList<(ulong Seq, ulong View, byte[] Digest)> set)
    {
        foreach (var (seq, v, d) in set)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(off), seq);
            BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(off + 8), v);
            d.AsSpan(0, 32).CopyTo(body.Slice(off + 16));
            off += SetEntry;
        }
        return off;
    }

    /// <summary>
    /// True if the message stays within what a correct replica of this cell sends: P and C entries only in
    /// (h, h+L] and [h, h+L], at most L P entries, (f+2)·L Q entries and L/K+1 checkpoints. The core drops
    /// others, so a faulty sender cannot make the decision procedure scan more than that.
    /// </summary>
    public bool WithinBounds(int window, int k, int f)
    {
        if (P.Count > window || Q.Count > ViewChangeBody.QDigestsPerSeq(f) * window || C.Count > window / k + 1) return false;
        foreach (var e in P) if (e.Seq - H > (ulong)window) return false;
        foreach (var e in Q) if (e.Seq - H > (ulong)window) return false;
        foreach (var e in C) if (e.Seq - H > (ulong)window) return false;
        return true;
    }

    /// <summary>Bytes of a VIEW-CHANGE message covered by its signature: header ‖ body without the trailing 64-byte signature.</summary>
    public static int SignedLength(in MessageHeader h) => MessageHeader.Size + h.BodyLength - ReplicaSignatures.SignatureSize;

    /// <summary>The P entry for <paramref name="seq"/>, if any.</summary>
    public bool TryGetP(ulong seq, out ulong view, out byte[] digest) => TryGet(P, seq, out view, out digest);

    /// <summary>True if Q has (<paramref name="seq"/>, v', <paramref name="digest"/>) with v' ≥ <paramref name="minView"/> (condition A2).</summary>
    public bool HasQ(ulong seq, ulong minView, ReadOnlySpan<byte> digest)
    {
        foreach (var e in Q) if (e.Seq == seq && e.View >= minView && digest.SequenceEqual(e.Digest)) return true;
        return false;
    }

    private static bool TryGet(List<(ulong Seq, ulong View, byte[] Digest)> set, ulong seq, out ulong view, out byte[] digest)
    {
        foreach (var e in set) if (e.Seq == seq) { view = e.View; digest = e.Digest; return true; }
        view = 0; digest = []; return false;
    }

    /// <summary>True if C lists checkpoint (<paramref name="seq"/>, <paramref name="digest"/>).</summary>
    public bool HasCheckpoint(ulong seq, ReadOnlySpan<byte> digest)
    {
        foreach (var e in C) if (e.Seq == seq && digest.SequenceEqual(e.Digest)) return true;
        return false;
    }
}

/// <summary>
/// A parsed NEW-VIEW (docs/wire-format.md, docs/view-change.md; PBFT-PR §4.5, Fig. 3): the signed
/// VIEW-CHANGEs the new primary used, its decision — the checkpoint (H, D) and one batch digest for
/// every n in (H, H + count] (the null request's digest for ⊥) — and its Ed25519 signature.
/// <code>
/// body: vcCount[2] ‖ 0[2] ‖ chosenCount[4] ‖ H[8] ‖ D[32]
///       ‖ vcCount × (length[4] ‖ VIEW-CHANGE message) ‖ chosenCount × digest[32] ‖ signature[64]
/// header.sequence = H + chosenCount (the highest n the decision fixes)
/// </code>
/// </summary>
public sealed class NewViewBody
{
    /// <summary>Fixed prefix: vcCount[2] ‖ 0[2] ‖ chosenCount[4] ‖ H[8] ‖ D[32].</summary>
    public const int Fixed = 48;

    /// <summary>Largest body a correct primary sends, bytes: 3f+1 VIEW-CHANGE messages of <paramref name="maxViewChangeMessage"/> bytes, L chosen digests, the signature.</summary>
    public static int MaxBodyLength(int n, int window, int maxViewChangeMessage) => Fixed + n * (4 + maxViewChangeMessage) + window * Digests.Size + ReplicaSignatures.SignatureSize;

    /// <summary>The VIEW-CHANGE messages (complete, signed) with their parsed bodies, in the order sent.</summary>
    public List<ViewChangeBody> ViewChanges { get; } = new();
    /// <summary>The chosen checkpoint's sequence number H.</summary>
    public ulong H { get; init; }
    /// <summary>The chosen checkpoint's state digest D (32 bytes).</summary>
    public byte[] HDigest { get; init; } = [];
    /// <summary>Chosen batch digest for n = H+1+i at index i (32 bytes each).</summary>
    public List<byte[]> Chosen { get; } = new();

    /// <summary>Bytes covered by the NEW-VIEW's signature: header ‖ body without the trailing signature.</summary>
    public static int SignedLength(in MessageHeader h) => MessageHeader.Size + h.BodyLength - ReplicaSignatures.SignatureSize;

    /// <summary>
    /// Parses a NEW-VIEW body of view h.View and checks its structure: at most
    /// <paramref name="n"/> embedded VIEW-CHANGEs, each a well-formed VIEW-CHANGE message for h.View
    /// h.View from a distinct replica, and header.sequence = H + chosenCount.
    /// Signatures are checked by the verifier through <paramref name="signatureValid"/>
    /// (called with each embedded VIEW-CHANGE's sender and signed bytes and signature); null if malformed or any fails.
    /// </summary>
    public static NewViewBody? TryParse(in MessageHeader h, ReadOnlySpan<byte> body, int n, int maxMessage, SignatureCheck? signatureValid)
    {
        if (body.Length < Fixed + ReplicaSignatures.SignatureSize) return null;
        int count = BinaryPrimitives.ReadUInt16LittleEndian(body);
        if (count > n || body[2] != 0 || body[3] != 0) return null;
        uint chosen = BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(4));
        ulong hSeq = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(8));
        if (chosen > (uint)(body.Length / Digests.Size) || hSeq > ulong.MaxValue - chosen || hSeq + chosen != h.Sequence) return null;
        var nv = new NewViewBody { H = hSeq, HDigest = body.Slice(16, 32).ToArray() };
        var rest = body.Slice(Fixed, body.Length - Fixed - ReplicaSignatures.SignatureSize);
        ulong senders = 0;
        for (int i = 0; i < count; i++)
        {
            if (rest.Length < 4) return null;
            int len = BinaryPrimitives.ReadInt32LittleEndian(rest);
            if (len < MessageHeader.Size || len > rest.Length - 4) return null;
            var vc = rest.Slice(4, len);
            rest = rest.Slice(4 + len);
            if (MessageHeader.TryParse(vc, maxMessage, out var vh) != ParseStatus.Ok || vh.TotalLength != len) return null;
            if (vh.Type != MessageType.ViewChange || vh.Family != h.Family || vh.Sender >= (uint)n || vh.View != h.View) return null;
            ulong bit = 1UL << (int)(vh.Sender & 63);
            if (vh.Sender >= 64 || (senders & bit) != 0) return null;
            senders |= bit;
            var vbody = MessageHeader.Body(vc, vh);
            var parsed = ViewChangeBody.TryParse(vh.Sender, vh.View, vbody);
            if (parsed is null) return null;
            if (signatureValid is not null && !signatureValid(vh.Sender, vc.Slice(0, ViewChangeBody.SignedLength(vh)), vbody.Slice(vbody.Length - ReplicaSignatures.SignatureSize))) return null;
            nv.ViewChanges.Add(parsed);
        }
        if (rest.Length != (long)chosen * Digests.Size) return null;
        for (int i = 0; i < (int)chosen; i++) nv.Chosen.Add(rest.Slice(i * Digests.Size, Digests.Size).ToArray());
        return nv;
    }

}
