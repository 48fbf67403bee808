using FastBft.Agreement;
using FastBft.Engine.Tests.Support;
using FastBft.Wire;
using FastBft.Workloads;

namespace FastBft.Engine.Tests.Agreement.MinBft;

/// <summary>PREPARE / COMMIT in a cell of 2f+1 replicas (Thesis §5.4.2; PROTOCOLS.md §4): commit with f+1, agreement, replies, batching of UIs.</summary>
public sealed class MinBftNormalCaseTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void EveryReplicaOfA2FPlus1CellExecutesEveryRequestInOneOrder(int f)
    {
        var cell = MinBftTestKit.Cell(f: f, batch: 4, k: 4, window: 8);
        Assert.Equal(2 * f + 1, cell.N);
        for (ulong rid = 1; rid <= 10; rid++)
        {
            for (uint c = 1000; c < 1005; c++) cell.Submit(0, cell.BuildRequest(c, rid, (long)(c * 100 + rid)));
            cell.Run();
        }
        Assert.All(cell.Services, s => Assert.Equal(50, s.Executed));
        Assert.Single(Enumerable.Range(0, cell.N).Select(i => cell.StateDigest((uint)i)).Distinct());
        cell.AssertAgreement(Enumerable.Range(0, cell.N).Select(i => (uint)i).ToArray());
        Assert.All(Enumerable.Range(0, cell.N), i => Assert.Equal(cell.Replicas[0].LastExecuted, cell.Replicas[i].LastExecuted));
    }

    [Fact]
    public void ASingleRequestGetsOneFullReplyFromTheDesignatedReplierAndDigestsFromTheOthers()
    {
        var cell = MinBftTestKit.Cell();
        cell.Submit(0, cell.BuildRequest(1000, 1, 5));
        cell.Run();
        Assert.All(cell.Replicas, r => Assert.Equal(1UL, r.LastExecuted));
        var replies = cell.RepliesFor(1000);
        Assert.Equal(3, replies.Count);
        var full = Assert.Single(replies, r => r.Form == Bodies.ReplyFull);
        Assert.Equal((1000 + 1) % 3, (int)full.Replica);
        Assert.Equal(5L, BitConverter.ToInt64(full.Payload));
    }

    [Fact]
    public void FPlusOneCommitWithOneFollowerCrashed()
    {
        var cell = MinBftTestKit.Cell();
        cell.Crashed.Add(2);                                   // f = 1 replica silent: leader's PREPARE + one COMMIT = f+1
        for (ulong rid = 1; rid <= 5; rid++) { cell.Submit(0, cell.BuildRequest(1000, rid, (long)rid)); cell.Run(); }
        Assert.Equal(5UL, cell.Replicas[0].LastExecuted);
        Assert.Equal(5UL, cell.Replicas[1].LastExecuted);
        Assert.Equal(0UL, cell.Replicas[2].LastExecuted);
    }

    [Fact]
    public void WithFollowersCrashedBeyondFNothingCommits()
    {
        var cell = MinBftTestKit.Cell(f: 2);
        cell.Crashed.Add(1); cell.Crashed.Add(2); cell.Crashed.Add(3);   // only the leader and one follower: 2 < f+1 = 3
        cell.Submit(0, cell.BuildRequest(1000, 1, 1));
        cell.Run(); cell.Tick(5);
        Assert.Equal(0UL, cell.Replicas[0].LastExecuted);
        Assert.Equal(0UL, cell.Replicas[4].LastExecuted);
    }

    [Fact]
    public void AFollowerRelaysARequestToTheLeaderAndARetransmissionGetsTheCachedReply()
    {
        var cell = MinBftTestKit.Cell();
        var req = cell.BuildRequest(1000, 1, 9);
        cell.Submit(1, req);                                   // the client sent to a follower only
        cell.Run();
        Assert.All(cell.Replicas, r => Assert.Equal(1UL, r.LastExecuted));
        Assert.Equal(1, cell.MStats(1).ForwardedRequests);
        cell.ClientInbox.Clear();
        for (uint r = 0; r < 3; r++) cell.Submit(r, req);
        cell.Run();
        Assert.All(cell.Services, s => Assert.Equal(1, s.Executed));
        Assert.All(cell.RepliesFor(1000), r => Assert.Equal(Bodies.ReplyFull, r.Form));
    }

    [Fact]
    public void EveryCertifiedMessageOfABurstIsCertifiedByOneUsigCall()
    {
        var cell = MinBftTestKit.Cell(batch: 2, settings: s => s with { MaxInflightBatches = 4 });
        for (uint c = 1000; c < 1008; c++) cell.Submit(0, cell.BuildRequest(c, 1, c));   // one burst: four batches of two
        cell.Run();
        Assert.All(cell.Replicas, r => Assert.Equal(4UL, r.LastExecuted));
        var leader = cell.MStats(0);
        Assert.True(leader.CertifiedSent >= 4);
        Assert.Equal(1, leader.UsigSeals - leader.Checkpoints);   // the four PREPAREs in one SealBatch; a checkpoint is sealed after execution
    }
}
