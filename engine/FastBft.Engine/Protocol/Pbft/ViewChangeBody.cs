using System.Buffers.Binary;
using FastBft.Wire;

namespace FastBft.Protocol.Pbft;

/// <summary>
/// A parsed VIEW-CHANGE body (docs/wire-format.md, docs/view-change.md): the sender's stable
/// checkpoint h, its checkpoints C at or above h, the P and Q sets of PBFT-PR §4.5, and the
/// PRE-PREPARE messages of its P entries (so that the new primary holds their batches).
/// Parsing allocates; view changes are rare and off the normal-case path.
/// </summary>
public sealed class ViewChangeBody
{
    /// <summary>Size of one C entry: seq[8] ‖ digest[32].</summary>
    public const int CheckpointEntry = 40;
    /// <summary>Size of one P or Q entry: seq[8] ‖ view[8] ‖ digest[32].</summary>
    public const int SetEntry = 48;
    /// <summary>Fixed prefix: h[8] ‖ cCount[2] ‖ pCount[2] ‖ qCount[2] ‖ ppCount[2].</summary>
    public const int Fixed = 16;

    /// <summary>Sender (from the header).</summary>
    public uint Sender { get; init; }
    /// <summary>The sender's stable checkpoint h.</summary>
    public ulong H { get; init; }
    /// <summary>C: (seq, digest) of the sender's checkpoints ≥ h.</summary>
    public List<(ulong Seq, byte[] Digest)> C { get; } = new();
    /// <summary>P: requests prepared at the sender (seq, view, digest).</summary>
    public List<(ulong Seq, ulong View, byte[] Digest)> P { get; } = new();
    /// <summary>Q: the latest view each seq pre-prepared in at the sender (seq, view, digest).</summary>
    public List<(ulong Seq, ulong View, byte[] Digest)> Q { get; } = new();
    /// <summary>PRE-PREPARE messages (complete) of the P entries.</summary>
    public List<byte[]> PrePrepares { get; } = new();

    /// <summary>Parses a VIEW-CHANGE body; null if malformed.</summary>
    public static ViewChangeBody? TryParse(uint sender, ReadOnlySpan<byte> body)
    {
        if (body.Length < Fixed) return null;
        var vc = new ViewChangeBody { Sender = sender, H = BinaryPrimitives.ReadUInt64LittleEndian(body) };
        int c = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(8));
        int p = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(10));
        int q = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(12));
        int pp = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(14));
        long need = Fixed + (long)c * CheckpointEntry + (long)(p + q) * SetEntry;
        if (need > body.Length) return null;
        var rest = body.Slice(Fixed);
        for (int i = 0; i < c; i++) { vc.C.Add((BinaryPrimitives.ReadUInt64LittleEndian(rest), rest.Slice(8, 32).ToArray())); rest = rest.Slice(CheckpointEntry); }
        for (int i = 0; i < p; i++) { vc.P.Add((BinaryPrimitives.ReadUInt64LittleEndian(rest), BinaryPrimitives.ReadUInt64LittleEndian(rest.Slice(8)), rest.Slice(16, 32).ToArray())); rest = rest.Slice(SetEntry); }
        for (int i = 0; i < q; i++) { vc.Q.Add((BinaryPrimitives.ReadUInt64LittleEndian(rest), BinaryPrimitives.ReadUInt64LittleEndian(rest.Slice(8)), rest.Slice(16, 32).ToArray())); rest = rest.Slice(SetEntry); }
        for (int i = 0; i < pp; i++)
        {
            if (rest.Length < 4) return null;
            int len = BinaryPrimitives.ReadInt32LittleEndian(rest);
            if (len < MessageHeader.Size || len > rest.Length - 4) return null;
            vc.PrePrepares.Add(rest.Slice(4, len).ToArray());
            rest = rest.Slice(4 + len);
        }
        if (rest.Length != 0) return null;
        var seen = new HashSet<ulong>();
        foreach (var e in vc.P) if (!seen.Add(e.Seq)) return null;      // at most one P entry per seq
        seen.Clear();
        foreach (var e in vc.Q) if (!seen.Add(e.Seq)) return null;
        return vc;
    }

    /// <summary>The P entry for <paramref name="seq"/>, if any.</summary>
    public bool TryGetP(ulong seq, out ulong view, out byte[] digest)
    {
        foreach (var e in P) if (e.Seq == seq) { view = e.View; digest = e.Digest; return true; }
        view = 0; digest = []; return false;
    }

    /// <summary>The Q entry for <paramref name="seq"/>, if any.</summary>
    public bool TryGetQ(ulong seq, out ulong view, out byte[] digest)
    {
        foreach (var e in Q) if (e.Seq == seq) { view = e.View; digest = e.Digest; return true; }
        view = 0; digest = []; return false;
    }
}
