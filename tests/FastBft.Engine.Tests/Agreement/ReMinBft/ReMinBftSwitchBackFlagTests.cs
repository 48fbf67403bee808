using FastBft.Agreement;
using FastBft.Agreement.MinBft;
using FastBft.Agreement.ReMinBft;
using FastBft.Engine.Tests.Agreement.MinBft;
using FastBft.Engine.Tests.Support;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.ReMinBft;

/// <summary>
/// The SWITCH-BACK flag of a batch (docs/reminbft.md §7.1, R-b): it is covered by D(batch), so a NEW-VIEW that re-proposes
/// the batch by digest re-proposes the flag; only the ReMinBFT family may carry it; and a correct active replica never
/// vouches (COMMITs) for a flagged batch in ReMinBFT's normal case — else one correct replica could execute the batch at s in
/// the normal case and another in the MinBFT phase, and only the second would switch back. The switch back itself is not
/// built yet (§7.1): these are its wire and agreement building blocks.
/// </summary>
public sealed class ReMinBftSwitchBackFlagTests
{
    private const uint Client = LoopbackCell.FirstClient;

    private static byte[] Flagged(byte[] batch, uint leader)
    {
        var b = (byte[])batch.Clone();
        Bodies.SetBatchFlags(b, Bodies.SwitchBackFlags(leader));
        return b;
    }

    [Fact]
    public void TheFlagAndItsLeaderAreCoveredByTheBatchDigest()
    {
        var cell = MinBftTestKit.Cell();
        var plain = MinBftTestKit.Batch(cell.BuildRequest(Client, 1, 7));
        var to1 = Flagged(plain, 1);
        var to2 = Flagged(plain, 2);
        Assert.Equal(0, Bodies.BatchFlags(plain));
        Assert.Equal(0x8001, Bodies.BatchFlags(to1));
        Assert.False(Bodies.BatchDigest(plain).SequenceEqual(Bodies.BatchDigest(to1)));
        Assert.False(Bodies.BatchDigest(to1).SequenceEqual(Bodies.BatchDigest(to2)));
        Assert.True(plain.AsSpan(Bodies.PrePrepareFixed).SequenceEqual(to1.AsSpan(Bodies.PrePrepareFixed)));   // the requests are unchanged
        var again = new byte[32];
        Bodies.BatchDigest(plain).CopyTo(again);
        Bodies.ApplyFlagsToDigest(0x8001, again);
        Assert.True(again.AsSpan().SequenceEqual(Bodies.BatchDigest(to1)));
    }

    [Theory]
    [InlineData(0x0000, 3, true)]
    [InlineData(0x8000, 3, true)]
    [InlineData(0x8002, 3, true)]
    [InlineData(0x8003, 3, false)]   // leader ≥ n
    [InlineData(0x0001, 3, false)]   // a leader without the flag
    [InlineData(0x8100, 3, false)]   // reserved bits 8–14
    [InlineData(0x7FFF, 64, false)]
    public void FlagsAreWellFormedOnlyAsTheSwitchBackFlagWithALeaderOfTheCell(int flags, int n, bool valid)
        => Assert.Equal(valid, Bodies.ValidBatchFlags((ushort)flags, n));

    [Fact]
    public void AMinBftCellDropsAFlaggedPrepare()
    {
        var cell = MinBftTestKit.Cell();
        cell.Crashed.Add(0);
        using var usig = cell.UsigFor(0);
        var prepare = MinBftTestKit.Prepare(usig, 0, 1, Flagged(MinBftTestKit.Batch(cell.BuildRequest(Client, 1, 10)), 0));
        cell.InjectAll(0, prepare);
        cell.Run();
        foreach (uint r in new uint[] { 1, 2 })
        {
            Assert.Equal(0UL, cell.MinBft(r).LastPrepared);      // the verifier rejected it: nothing bound, nothing in the counter order
            Assert.Equal(0, cell.MStats(r).SwitchBackOutsidePhase);
        }
    }

    [Fact]
    public void AFlaggedPrepareInTheNormalCaseIsBoundButNeverVouchedFor()
    {
        var cell = new LoopbackCell(f: 1, batch: 8, k: 4, window: 8, protocol: ProtocolKind.ReMinBft);
        cell.Crashed.Add(0);                                    // the Byzantine leader of generation 0 speaks through the test
        using var usig = cell.UsigFor(0);
        var flagged = Flagged(MinBftTestKit.Batch(cell.BuildRequest(Client, 1, 10)), 0);
        var first = MinBftTestKit.Certified(usig, MessageType.UiPrepare, 0, 1, flagged, ProtocolFamily.ReMinBft);
        cell.InjectAll(0, first);
        cell.Run();
        cell.Tick(4);
        var follower = ((ReMinBftReplica)cell.Replicas[1]).Core!;
        Assert.Equal(1UL, follower.LastPrepared);                 // bound (the leader's counter order goes on) ...
        Assert.Equal(1, follower.Stats.SwitchBackOutsidePhase);   // ... but no COMMIT: commit needs all f+1 active replicas
        Assert.Equal(0UL, cell.Replicas[1].LastExecuted);
        Assert.Equal(0UL, cell.Replicas[2].LastExecuted);
        Assert.Empty(cell.ExecutedAt(1, Client, 1));
    }
}
