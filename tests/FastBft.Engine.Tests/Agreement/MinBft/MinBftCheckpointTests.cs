using FastBft.Agreement;
using FastBft.Engine.Tests.Support;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.MinBft;

/// <summary>Certified CHECKPOINTs (docs/minbft.md §4): stable at f+1 matching, window advance, garbage collection, state transfer.</summary>
public sealed class MinBftCheckpointTests
{
    [Fact]
    public void CheckpointsBecomeStableAndTheWindowAdvances()
    {
        var cell = MinBftTestKit.Cell(k: 4, window: 8);
        for (ulong rid = 1; rid <= 20; rid++) { cell.Submit(0, cell.BuildRequest(1000, rid, (long)rid)); cell.Run(); }
        Assert.All(cell.Replicas, r => Assert.Equal(20UL, r.LastExecuted));   // 20 > window 8: only a moving window allows it
        Assert.All(cell.Replicas, r => Assert.Equal(20UL, r.LowWatermark));
        Assert.All(Enumerable.Range(0, 3), i => Assert.Equal(5, cell.MStats((uint)i).StableCheckpoints));
        Assert.All(Enumerable.Range(0, 3), i => Assert.True(cell.MStats((uint)i).CertifiedSent > 0));
    }

    [Fact]
    public void FPlusOneMatchingCheckpointsSufficeWithOneReplicaCrashed()
    {
        var cell = MinBftTestKit.Cell(k: 4, window: 8);
        cell.Crashed.Add(2);
        for (ulong rid = 1; rid <= 20; rid++) { cell.Submit(0, cell.BuildRequest(1000, rid, (long)rid)); cell.Run(); }
        Assert.Equal(20UL, cell.Replicas[0].LastExecuted);
        Assert.Equal(20UL, cell.Replicas[1].LowWatermark);
    }

    [Fact]
    public void APlantedAllReplicaCheckpointQuorumStallsTheWindowWithOneReplicaCrashed()
    {
        // The test above must be able to fail: with a checkpoint quorum of n a crashed replica keeps h at 0 and the
        // leader stops at the high watermark.
        var cell = new LoopbackCell(k: 4, window: 8, protocol: ProtocolKind.MinBft, quorumPolicy: QuorumPolicy.MinBft(1).With(checkpoint: 3));
        cell.Crashed.Add(2);
        for (ulong rid = 1; rid <= 20; rid++) { cell.Submit(0, cell.BuildRequest(1000, rid, (long)rid)); cell.Run(); }
        Assert.Equal(0UL, cell.Replicas[0].LowWatermark);
        Assert.Equal(8UL, cell.Replicas[0].LastExecuted);
    }

    [Fact]
    public void AReplicaThatMissedMoreThanTheSentLogHoldsCatchesUpByStateTransfer()
    {
        var cell = MinBftTestKit.Cell(k: 4, window: 8);
        bool cut = true;
        cell.Drop = (from, to) => cut && (to == 2 || from == 2);
        ulong rid = 0;
        for (int i = 0; i < 100; i++) { cell.Submit(0, cell.BuildRequest(1000, ++rid, i)); cell.Run(); }
        Assert.Equal(100UL, cell.Replicas[0].LastExecuted);
        Assert.Equal(0UL, cell.Replicas[2].LastExecuted);
        cut = false;
        for (int i = 0; i < 8; i++) { cell.Submit(0, cell.BuildRequest(1000, ++rid, i)); cell.Run(); }
        cell.Tick(20);
        var lagging = cell.MinBft(2);
        Assert.True(lagging.Stats.StateTransfers >= 1, cell.MinBft(2).DescribeState());
        Assert.True(lagging.LastExecuted >= 104, lagging.DescribeState());          // at least the last checkpoint the others took
        Assert.Equal(cell.Replicas[0].LowWatermark, lagging.LowWatermark);
        cell.AssertAgreement(0, 1, 2);
    }

    [Fact]
    public void AShortOutageIsRepairedFromTheSentLogWithoutStateTransfer()
    {
        var cell = MinBftTestKit.Cell(k: 4, window: 8);
        bool cut = true;
        cell.Drop = (from, to) => cut && (to == 2 || from == 2);
        ulong rid = 0;
        for (int i = 0; i < 6; i++) { cell.Submit(0, cell.BuildRequest(1000, ++rid, i)); cell.Run(); }
        cut = false;
        cell.Submit(0, cell.BuildRequest(1000, ++rid, 99)); cell.Run();
        cell.Tick(6);
        Assert.Equal(7UL, cell.Replicas[2].LastExecuted);
        Assert.Equal(0, cell.MStats(2).StateTransfers);
        Assert.True(cell.MStats(2).UiFetchesSent >= 1);
        cell.AssertAgreement(0, 1, 2);
    }
}
