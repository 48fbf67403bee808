using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.Engine.Tests.Support;
using FastBft.Agreement.Pbft;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.Pbft;

/// <summary>
/// VIEW-CHANGE and NEW-VIEW body parsing against malformed input: lying counts and lengths,
/// duplicates, P/Q entries outside (h, ∞) × [0, view), oversized claims (which must never allocate
/// in proportion to the claim), and the structural checks of an embedded VIEW-CHANGE.
/// </summary>
public class ViewChangeBodyParsingTests
{
    private static byte[] D(byte b) { var d = new byte[32]; d[0] = b; return d; }
    private const ulong View = 3;

    private static byte[] Body(ulong h = 4, (ulong, byte[])[]? c = null, (ulong, ulong, byte[])[]? p = null, (ulong, ulong, byte[])[]? q = null)
        => Forge.ViewChangeBodyBytes(h, c ?? [(h, D(1))], p ?? [], q ?? []);

    [Fact]
    public void WellFormedBodyParses()
    {
        var vc = ViewChangeBody.TryParse(2, View, Body(4, [(4, D(1)), (8, D(2))], [(5, 1, D(3))], [(5, 2, D(3)), (6, 0, D(4))]));
        Assert.NotNull(vc);
        Assert.Equal(2u, vc.Sender);
        Assert.Equal(4UL, vc.H);
        Assert.Equal(2, vc.C.Count);
        Assert.True(vc.TryGetP(5, out var v, out var d) && v == 1 && d[0] == 3);
        Assert.True(vc.HasQ(6, 0, D(4)) && !vc.HasQ(6, 1, D(4)) && vc.HasQ(5, 2, D(3)));
        Assert.True(vc.HasCheckpoint(8, D(2)));
        Assert.False(vc.HasCheckpoint(8, D(1)));
    }

    [Fact]
    public void LyingCountsAndLengthsAreRejected()
    {
        var good = Body(4, [(4, D(1))], [(5, 1, D(3))], [(5, 1, D(3))]);
        Assert.NotNull(ViewChangeBody.TryParse(0, View, good));
        foreach (int field in new[] { 8, 10, 12 })
        {
            var more = (byte[])good.Clone(); BinaryPrimitives.WriteUInt16LittleEndian(more.AsSpan(field), (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(more.AsSpan(field)) + 1));
            Assert.Null(ViewChangeBody.TryParse(0, View, more));
            var less = (byte[])good.Clone(); BinaryPrimitives.WriteUInt16LittleEndian(less.AsSpan(field), (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(less.AsSpan(field)) - 1));
            Assert.Null(ViewChangeBody.TryParse(0, View, less));
        }
        Assert.Null(ViewChangeBody.TryParse(0, View, good.Concat(new byte[1]).ToArray()));      // trailing byte
        Assert.Null(ViewChangeBody.TryParse(0, View, good.AsSpan(0, good.Length - 1)));          // truncated signature
        Assert.Null(ViewChangeBody.TryParse(0, View, new byte[ViewChangeBody.Fixed + 63]));
        var reserved = (byte[])good.Clone(); reserved[15] = 1;
        Assert.Null(ViewChangeBody.TryParse(0, View, reserved));
    }

    [Fact]
    public void DuplicateSequenceNumbersAreRejected()
    {
        Assert.Null(ViewChangeBody.TryParse(0, View, Body(4, [(4, D(1)), (4, D(2))])));
        Assert.Null(ViewChangeBody.TryParse(0, View, Body(4, p: [(5, 1, D(3)), (5, 2, D(3))])));
        Assert.Null(ViewChangeBody.TryParse(0, View, Body(4, q: [(6, 1, D(3)), (6, 1, D(3))])));
        Assert.NotNull(ViewChangeBody.TryParse(0, View, Body(4, p: [(5, 1, D(3))], q: [(5, 1, D(3))])));   // P and Q may share a seq
        Assert.NotNull(ViewChangeBody.TryParse(0, View, Body(4, q: [(6, 1, D(3)), (6, 2, D(4))])));         // Q: several digests per seq (f+2, PBFT-PR §4.5)
        // The wire order is ascending (C, P by seq; Q by seq then digest), which is what lets the verifier find
        // duplicates without allocating: any other order is malformed.
        Assert.Null(ViewChangeBody.TryParse(0, View, Body(4, [(8, D(2)), (4, D(1))])));
        Assert.Null(ViewChangeBody.TryParse(0, View, Body(4, p: [(7, 1, D(3)), (5, 1, D(3))])));
        Assert.Null(ViewChangeBody.TryParse(0, View, Body(4, q: [(6, 1, D(4)), (6, 2, D(3))])));
        Assert.False(ViewChangeBody.IsWellFormed(View, Body(4, q: [(6, 1, D(3)), (6, 1, D(3))])));
    }

    [Fact]
    public void EntriesOutsideTheSendersWindowOrViewAreRejected()
    {
        Assert.Null(ViewChangeBody.TryParse(0, View, Body(4, p: [(4, 1, D(3))])));        // at h
        Assert.Null(ViewChangeBody.TryParse(0, View, Body(4, p: [(2, 1, D(3))])));        // below h
        Assert.Null(ViewChangeBody.TryParse(0, View, Body(4, q: [(4, 1, D(3))])));
        Assert.Null(ViewChangeBody.TryParse(0, View, Body(4, p: [(5, View, D(3))])));     // the VIEW-CHANGE's own view
        Assert.Null(ViewChangeBody.TryParse(0, View, Body(4, q: [(5, View + 7, D(3))])));
        Assert.Null(ViewChangeBody.TryParse(0, View, Body(4, c: [(8, D(1))])));           // no C entry for h
        Assert.Null(ViewChangeBody.TryParse(0, View, Body(4, c: [(4, D(1)), (0, D(1))]))); // a checkpoint below h
        Assert.NotNull(ViewChangeBody.TryParse(0, View, Body(4, p: [(5, View - 1, D(3))])));
    }

    [Fact]
    public void OversizedClaimedCountsNeverAllocateHuge()
    {
        var body = new byte[ViewChangeBody.Fixed + 64 + 40];
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(8), ushort.MaxValue);
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(10), ushort.MaxValue);
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(12), ushort.MaxValue);
        ViewChangeBody.TryParse(0, View, body);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Null(ViewChangeBody.TryParse(0, View, body));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 * 1024);
    }

    // ---------------------------------------------------------------- NEW-VIEW

    private static readonly LoopbackCell Cell = new();
    private const int N = 4;

    private static byte[] SignedVc(uint sender, ulong view, ulong h = 0) => new Forge(Cell, sender).ViewChange(view, 0, h, [(h, Forge.Zero32)], [(1, 0, D(7))], [(1, 0, D(7))]);

    private static NewViewBody? Parse(byte[] body, ulong view = View, ulong seq = 1, bool checkSignatures = true)
    {
        var h = new MessageHeader(MessageType.NewView, (uint)(view % N), view, seq, body.Length, Authenticator.VectorLength(N));
        FastBft.Verification.SignatureCheck check = (signer, signed, sig) => Cell.Keys.Signatures.Verify(signer, signed, sig);
        return NewViewBody.TryParse(h, body, N, 1 << 20, checkSignatures ? check : null);
    }

    private static byte[] NvBody(IReadOnlyList<byte[]> vcs, ulong hSeq = 0, int chosen = 1)
        => Forge.NewViewBodyBytes(hSeq, Forge.Zero32, vcs, Enumerable.Range(0, chosen).Select(i => D((byte)(i + 7))).ToList());

    [Fact]
    public void WellFormedNewViewParses()
    {
        var nv = Parse(NvBody([SignedVc(0, View), SignedVc(1, View), SignedVc(2, View)]));
        Assert.NotNull(nv);
        Assert.Equal(3, nv.ViewChanges.Count);
        Assert.Equal(0UL, nv.H);
        Assert.Equal(7, Assert.Single(nv.Chosen)[0]);
        Assert.Equal([0u, 1u, 2u], nv.ViewChanges.Select(v => v.Sender));
    }

    [Fact]
    public void NewViewStructureIsChecked()
    {
        var vcs = new[] { SignedVc(0, View), SignedVc(1, View), SignedVc(2, View) };
        Assert.Null(Parse(NvBody([vcs[0], vcs[1], vcs[1]])));                           // duplicate sender
        Assert.Null(Parse(NvBody([vcs[0], vcs[1], SignedVc(2, View + 1)])));           // VIEW-CHANGE of another view
        Assert.Null(Parse(NvBody(vcs), seq: 2));                                        // header.sequence ≠ H + chosen
        Assert.Null(Parse(NvBody(vcs, hSeq: ulong.MaxValue), seq: 0));                 // H + chosen overflows
        var five = NvBody([.. vcs, SignedVc(3, View), SignedVc(3, View)]);
        Assert.Null(Parse(five));                                                       // more than n
        var reserved = NvBody(vcs); reserved[2] = 1;
        Assert.Null(Parse(reserved));
        var trailing = NvBody(vcs); var longer = new byte[trailing.Length + 32];
        trailing.AsSpan(0, trailing.Length - 64).CopyTo(longer);                        // 32 extra bytes before the signature
        Assert.Null(Parse(longer));
        // An embedded VIEW-CHANGE whose signature does not verify.
        var bad = (byte[])vcs[2].Clone();
        MessageHeader.TryParse(bad, int.MaxValue, out var bh);
        bad[MessageHeader.Size + bh.BodyLength - 1] ^= 1;
        Assert.Null(Parse(NvBody([vcs[0], vcs[1], bad])));
        Assert.NotNull(Parse(NvBody([vcs[0], vcs[1], bad]), checkSignatures: false));  // structure alone is fine
        // An embedded message that is not a VIEW-CHANGE.
        var notVc = (byte[])vcs[2].Clone(); notVc[3] = (byte)MessageType.Checkpoint;
        Assert.Null(Parse(NvBody([vcs[0], vcs[1], notVc]), checkSignatures: false));
    }

    [Fact]
    public void LyingLengthFieldsInANewViewAreRejected()
    {
        var vcs = new[] { SignedVc(0, View), SignedVc(1, View), SignedVc(2, View) };
        var body = NvBody(vcs);
        int first = NewViewBody.Fixed;
        foreach (int len in new[] { vcs[0].Length + 1, vcs[0].Length - 1, MessageHeader.Size - 1, int.MaxValue, -1, 0 })
        {
            var b = (byte[])body.Clone();
            BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(first), len);
            Assert.Null(Parse(b));
        }
        var more = (byte[])body.Clone(); BinaryPrimitives.WriteUInt16LittleEndian(more, 4);
        Assert.Null(Parse(more));
        var fewer = (byte[])body.Clone(); BinaryPrimitives.WriteUInt16LittleEndian(fewer, 2);
        Assert.Null(Parse(fewer));
        foreach (uint chosen in new[] { 0u, 2u, uint.MaxValue, (uint)body.Length })
        {
            var b = (byte[])body.Clone();
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), chosen);
            Assert.Null(Parse(b, seq: chosen));
        }
    }

    [Fact]
    public void OversizedClaimsInANewViewNeverAllocateHuge()
    {
        var body = new byte[NewViewBody.Fixed + 64 + 8];
        BinaryPrimitives.WriteUInt16LittleEndian(body, ushort.MaxValue);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), uint.MaxValue);
        Parse(body, seq: uint.MaxValue);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Null(Parse(body, seq: uint.MaxValue));
        BinaryPrimitives.WriteUInt16LittleEndian(body, 1);
        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4), 0);
        BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(NewViewBody.Fixed), int.MaxValue);
        Assert.Null(Parse(body, seq: 0));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 * 1024);
    }
}
