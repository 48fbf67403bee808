using System.Buffers.Binary;
using System.IO.Compression;
using FastBft.Agreement.MinBft;
using FastBft.Engine.Tests.Support;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.MinBft;

/// <summary>
/// The compressed NEW-VIEW (docs/minbft.md §5.3): a NEW-VIEW whose f+1 VIEW-CHANGEs carry the same batches is sent
/// Brotli-compressed and every replica installs it; a leader that lies in the compressed layout (its length field, its
/// stream, its format) gets the NEW-VIEW rejected, never a crash or an allocation of the claimed size.
/// </summary>
public sealed class MinBftNewViewCompressionTests
{
    /// <summary>Orders requests of 1,500 bytes each, crashes the leader and returns the cell with the NEW-VIEWs seen.</summary>
    private static (LoopbackCell Cell, List<(uint From, uint To, byte[] Msg)> Seen) LargeViewChange()
    {
        var cell = MinBftTestKit.Cell(k: 4, window: 8, settings: s => s with { ViewChangeTicks = 10 });
        const uint c = LoopbackCell.FirstClient;
        var rng = new Random(7);
        for (ulong rid = 1; rid <= 6; rid++)
        {
            var op = new byte[1500];
            rng.NextBytes(op);
            BinaryPrimitives.WriteInt64LittleEndian(op, (long)rid);
            cell.Submit(0, cell.BuildRequest(c, rid, op));
            cell.Run();
        }
        var seen = new List<(uint, uint, byte[])>();
        cell.Observe = (from, to, msg) => { if (LoopbackCell.Is(msg, MessageType.UiNewView)) seen.Add((from, to, msg)); };
        cell.Crashed.Add(0);
        var req = cell.BuildRequest(c, 7, 7);
        for (int t = 0; t < 200 && (cell.Replicas[2].View == 0 || cell.Replicas[2].InViewChange); t++)
        {
            if (t % 20 == 0) { cell.Submit(1, req); cell.Submit(2, req); cell.Run(); }
            cell.Tick();
        }
        cell.Observe = null;
        return (cell, seen);
    }

    private static byte[] Recertify(LoopbackCell cell, byte[] original, byte[] body)
    {
        MessageHeader.TryParse(original, int.MaxValue, out var h);
        using var usig = cell.UsigFor(h.Sender, lastCounter: MinBftTestKit.CounterOf(original) - 1);
        return MinBftTestKit.Certified(usig, h.Type, h.View, h.Sequence, body);
    }

    private static byte[] BodyOf(byte[] message) { MessageHeader.TryParse(message, int.MaxValue, out var h); return MessageHeader.Body(message, h).ToArray(); }

    private static byte[] Compress(byte[] plain, uint claimedLength)
    {
        var packed = new byte[MinBftNewView.CompressedFixed + BrotliEncoder.GetMaxCompressedLength(plain.Length)];
        Assert.True(BrotliEncoder.TryCompress(plain.AsSpan(4), packed.AsSpan(MinBftNewView.CompressedFixed), out int written, 4, 24));
        plain.AsSpan(0, 2).CopyTo(packed);
        BinaryPrimitives.WriteUInt16LittleEndian(packed.AsSpan(2), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(packed.AsSpan(4), claimedLength);
        return packed.AsSpan(0, MinBftNewView.CompressedFixed + written).ToArray();
    }

    [Fact]
    public void ANewViewOfLargeBatchesIsSentCompressedAndInstalled()
    {
        var (cell, seen) = LargeViewChange();
        var (_, to, nv) = seen.First(s => s.To != 0);
        var body = BodyOf(nv);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(2)));            // format 1
        var plain = MinBftNewView.Decompress(body, cell.N, cell.Verifiers[to].Limits);
        Assert.NotNull(plain);
        Assert.True(body.Length * 2 < plain!.Length, $"compressed {body.Length} bytes, plain {plain.Length}: the VIEW-CHANGEs' repeated batches should more than halve it");
        Assert.Equal(ParseStatus.Ok, cell.Verifiers[to].Verify(nv, out _));
        Assert.Equal(ParseStatus.Ok, cell.Verifiers[to].Verify(Recertify(cell, nv, plain), out _));   // the plain layout of the same NEW-VIEW is valid too
        for (uint r = 1; r < cell.N; r++)
        {
            Assert.True(cell.Replicas[r].View > 0 && !cell.Replicas[r].InViewChange, $"replica {r} installed the compressed NEW-VIEW");
            Assert.True(cell.Replicas[r].LastExecuted >= 6, $"replica {r} kept the six batches ordered before the crash");
        }
    }

    [Fact]
    public void ACompressedNewViewThatLiesInItsLayoutIsRejected()
    {
        var (cell, seen) = LargeViewChange();
        var (_, to, nv) = seen.First(s => s.To != 0);
        var v = cell.Verifiers[to];
        var plain = MinBftNewView.Decompress(BodyOf(nv), cell.N, v.Limits)!;

        // rawLength far beyond (n + 1) × the body limit: rejected before anything of that size is allocated.
        Assert.Equal(ParseStatus.BadField, v.Verify(Recertify(cell, nv, Compress(plain, uint.MaxValue)), out _));
        // rawLength one byte off the stream's real length, either way.
        Assert.Equal(ParseStatus.BadField, v.Verify(Recertify(cell, nv, Compress(plain, (uint)plain.Length + 1)), out _));
        Assert.Equal(ParseStatus.BadField, v.Verify(Recertify(cell, nv, Compress(plain, (uint)plain.Length - 1)), out _));
        // A truncated stream, and a corrupted one.
        var good = Compress(plain, (uint)plain.Length);
        Assert.Equal(ParseStatus.BadField, v.Verify(Recertify(cell, nv, good.AsSpan(0, good.Length - 10).ToArray()), out _));
        var corrupt = (byte[])good.Clone();
        for (int i = MinBftNewView.CompressedFixed + 2; i < corrupt.Length; i += 7) corrupt[i] ^= 0x5A;
        Assert.Equal(ParseStatus.BadField, v.Verify(Recertify(cell, nv, corrupt), out _));
        // An unknown format.
        var unknown = (byte[])good.Clone();
        BinaryPrimitives.WriteUInt16LittleEndian(unknown.AsSpan(2), 2);
        Assert.Equal(ParseStatus.BadField, v.Verify(Recertify(cell, nv, unknown), out _));
        // A well-formed stream whose plain body claims a decision its VIEW-CHANGEs do not give (one more fixed slot).
        ulong x = BinaryPrimitives.ReadUInt64LittleEndian(plain.AsSpan(4)), maxS = BinaryPrimitives.ReadUInt64LittleEndian(plain.AsSpan(12));
        int at = MinBftNewView.Fixed + (int)(maxS - x) * 32;
        var longer = plain.AsSpan(0, at).ToArray().Concat(new byte[32]).Concat(plain.AsSpan(at).ToArray()).ToArray();
        BinaryPrimitives.WriteUInt64LittleEndian(longer.AsSpan(12), maxS + 1);
        Assert.Equal(ParseStatus.BadField, v.Verify(Recertify(cell, nv, Compress(longer, (uint)longer.Length)), out _));
        // The honest re-compression of the same plain body verifies (the checks above are not rejecting every compressed body).
        Assert.Equal(ParseStatus.Ok, v.Verify(Recertify(cell, nv, good), out _));
    }
}
