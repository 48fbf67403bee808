using System.Buffers.Binary;
using FastBft.Agreement.MinBft;
using FastBft.Engine.Tests.Support;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.MinBft;

/// <summary>VIEW-CHANGE and NEW-VIEW rules (docs/minbft.md §5): a log with a gap, a forged decision, an altered certificate are rejected.</summary>
public sealed class MinBftViewChangeMessageTests
{
    /// <summary>Runs a view change after replica 0 crashed and returns the cell with every VIEW-CHANGE and NEW-VIEW seen.</summary>
    private static (LoopbackCell Cell, List<(uint From, uint To, byte[] Msg)> Seen) ViewChange()
    {
        var cell = MinBftTestKit.Cell(k: 4, window: 8, settings: s => s with { ViewChangeTicks = 10 });
        const uint c = LoopbackCell.FirstClient;
        for (ulong rid = 1; rid <= 6; rid++) { cell.Submit(0, cell.BuildRequest(c, rid, (long)rid)); cell.Run(); }
        var seen = new List<(uint, uint, byte[])>();
        cell.Observe = (from, to, msg) => { if (LoopbackCell.Is(msg, MessageType.UiViewChange) || LoopbackCell.Is(msg, MessageType.UiNewView)) seen.Add((from, to, msg)); };
        cell.Crashed.Add(0);
        var req = cell.BuildRequest(c, 7, 7);
        for (int t = 0; t < 200 && cell.Replicas[2].View == 0 || cell.Replicas[2].InViewChange; t++)
        {
            if (t % 20 == 0) { cell.Submit(1, req); cell.Submit(2, req); cell.Run(); }
            cell.Tick();
        }
        cell.Observe = null;
        return (cell, seen);
    }

    private static byte[] Recertify(LoopbackCell cell, byte[] original, Func<byte[], byte[]> change)
    {
        MessageHeader.TryParse(original, int.MaxValue, out var h);
        ulong counter = MinBftTestKit.CounterOf(original);
        using var usig = cell.UsigFor(h.Sender, lastCounter: counter - 1);     // the same counter the original had
        return MinBftTestKit.Certified(usig, h.Type, h.View, h.Sequence, change(MessageHeader.Body(original, h).ToArray()));
    }

    [Fact]
    public void TheViewChangeRanAndItsMessagesVerify()
    {
        var (cell, seen) = ViewChange();
        Assert.Contains(seen, s => LoopbackCell.Is(s.Msg, MessageType.UiViewChange));
        Assert.Contains(seen, s => LoopbackCell.Is(s.Msg, MessageType.UiNewView));
        var (from, to, vc) = seen.First(s => LoopbackCell.Is(s.Msg, MessageType.UiViewChange) && s.To != 0);
        Assert.Equal(ParseStatus.Ok, cell.Verifiers[to].Verify(vc, out _));
        Assert.Equal(ParseStatus.Ok, cell.Verifiers[to].Verify(Recertify(cell, vc, b => b), out _));   // the re-certification itself changes nothing
        Assert.True(LoopbackCell.Header(vc).Sequence > 0, "the VIEW-CHANGE carries a stable checkpoint certificate");
    }

    [Fact]
    public void AViewChangeWhoseLogOmitsAMessageIsRejected()
    {
        var (cell, seen) = ViewChange();
        var (_, to, vc) = seen.First(s => LoopbackCell.Is(s.Msg, MessageType.UiViewChange) && s.To != 0 && CountEntries(s.Msg) > 0);
        var cut = Recertify(cell, vc, body =>
        {
            // Drop the last log entry (and fix the count): the run then ends one counter before the VIEW-CHANGE.
            int cp = BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(32)), entries = BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(34));
            int off = MinBftViewChange.Fixed;
            for (int i = 0; i < cp; i++) off += 4 + BinaryPrimitives.ReadInt32LittleEndian(body.AsSpan(off));
            // Drop the last entry of the run (kind 0 or 2) together with a batch attached to it (kind 1).
            int last = off, lastIndex = 0;
            var starts = new List<(int Off, byte Kind)>();
            for (int i = 0; i < entries; i++) { starts.Add((off, body[off])); off += 5 + BinaryPrimitives.ReadInt32LittleEndian(body.AsSpan(off + 1)); }
            lastIndex = starts.FindLastIndex(e => e.Kind != 1);
            last = starts[lastIndex].Off;
            int end = lastIndex + 1 < starts.Count ? (starts[lastIndex + 1].Kind == 1 ? (lastIndex + 2 < starts.Count ? starts[lastIndex + 2].Off : off) : starts[lastIndex + 1].Off) : off;
            int removed = lastIndex + 1 < starts.Count && starts[lastIndex + 1].Kind == 1 ? 2 : 1;
            var shorter = body.AsSpan(0, last).ToArray().Concat(body.AsSpan(end).ToArray()).ToArray();
            BinaryPrimitives.WriteUInt16LittleEndian(shorter.AsSpan(34), (ushort)(entries - removed));
            return shorter;
        });
        Assert.Equal(ParseStatus.BadField, cell.Verifiers[to].Verify(cut, out _));
    }

    [Fact]
    public void AViewChangeWithAnAlteredCertificateIsRejected()
    {
        var (cell, seen) = ViewChange();
        var (_, to, vc) = seen.First(s => LoopbackCell.Is(s.Msg, MessageType.UiViewChange) && s.To != 0);
        var forged = Recertify(cell, vc, body => { body[0] ^= 1; return body; });     // the claimed checkpoint digest
        Assert.Equal(ParseStatus.BadField, cell.Verifiers[to].Verify(forged, out _));
        var fewer = Recertify(cell, vc, body => { BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(32), 1); return body; });   // one CHECKPOINT < f+1
        Assert.NotEqual(ParseStatus.Ok, cell.Verifiers[to].Verify(fewer, out _));
    }

    [Fact]
    public void ANewViewWhoseDecisionDiffersFromItsViewChangesIsRejected()
    {
        var (cell, seen) = ViewChange();
        var (_, to, nv) = seen.First(s => LoopbackCell.Is(s.Msg, MessageType.UiNewView) && s.To != 0);
        Assert.Equal(ParseStatus.Ok, cell.Verifiers[to].Verify(nv, out _));
        var moreSlots = Recertify(cell, nv, body =>
        {
            // Claim one more fixed slot (maxS + 1 with some digest): the VIEW-CHANGEs do not say so.
            ulong maxS = BinaryPrimitives.ReadUInt64LittleEndian(body.AsSpan(12)), x = BinaryPrimitives.ReadUInt64LittleEndian(body.AsSpan(4));
            int at = MinBftNewView.Fixed + (int)(maxS - x) * 32;
            var longer = body.AsSpan(0, at).ToArray().Concat(new byte[32]).Concat(body.AsSpan(at).ToArray()).ToArray();
            BinaryPrimitives.WriteUInt64LittleEndian(longer.AsSpan(12), maxS + 1);
            return longer;
        });
        Assert.Equal(ParseStatus.BadField, cell.Verifiers[to].Verify(moreSlots, out _));
        var tooFew = Recertify(cell, nv, body => { BinaryPrimitives.WriteUInt16LittleEndian(body, 1); return body; });   // one VIEW-CHANGE < f+1
        Assert.Equal(ParseStatus.BadField, cell.Verifiers[to].Verify(tooFew, out _));
    }

    private static int CountEntries(byte[] vc) => BinaryPrimitives.ReadUInt16LittleEndian(vc.AsSpan(MessageHeader.Size + 34));
}
