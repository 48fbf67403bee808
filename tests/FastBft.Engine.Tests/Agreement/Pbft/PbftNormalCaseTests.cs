using FastBft.Engine.Tests.Support;
using FastBft.Workloads;

namespace FastBft.Engine.Tests.Agreement.Pbft;

public class PbftNormalCaseTests
{
    private static long Expected(IEnumerable<long> ops)
    {
        long acc = 0;
        foreach (var x in ops) acc = CounterService.Reference(acc, BitConverter.GetBytes(x));
        return acc;
    }

    [Fact]
    public void SingleRequestIsExecutedEverywhereAndAnsweredByFPlusOneMatchingReplies()
    {
        var cell = new LoopbackCell();
        cell.Submit(0, cell.BuildRequest(1000, 1, 5));
        cell.Run();
        foreach (var r in cell.Replicas) Assert.Equal(1UL, r.LastExecuted);
        foreach (var s in cell.Services) Assert.Equal(5, s.Accumulator);
        var replies = cell.RepliesFor(1000);
        Assert.Equal(4, replies.Count);
        Assert.Single(replies, r => r.Form == 0);                 // one designated full replier
        Assert.Equal((1000 + 1) % 4, (int)replies.Single(r => r.Form == 0).Replica);
    }

    [Fact]
    public void ManyClientsAreOrderedConsistentlyAndCheckpointsBecomeStable()
    {
        var cell = new LoopbackCell(batch: 4, k: 4, window: 8);
        var sent = new List<long>();
        for (ulong rid = 1; rid <= 20; rid++)
        {
            for (uint c = 1000; c < 1006; c++)
            {
                long v = (long)(c * 100 + rid);
                cell.Submit(0, cell.BuildRequest(c, rid, v));
            }
            cell.Run();
        }
        var digests = cell.Replicas.Select(r => { var d = new byte[32]; r.GetStateDigest(d); return Convert.ToHexString(d); }).Distinct().ToList();
        Assert.Single(digests);
        Assert.All(cell.Services, s => Assert.Equal(120, s.Executed));
        Assert.All(cell.Replicas, r => Assert.True(r.LowWatermark > 0, "checkpoints must become stable and advance h"));
        Assert.All(cell.Replicas, r => Assert.Equal(cell.Replicas[0].LastExecuted, r.LastExecuted));
    }

    [Fact]
    public void DuplicateRequestGetsCachedReplyAndIsNotReExecuted()
    {
        var cell = new LoopbackCell();
        var req = cell.BuildRequest(1000, 1, 7);
        cell.Submit(0, req); cell.Run();
        cell.ClientInbox.Clear();
        for (uint r = 0; r < 4; r++) cell.Submit(r, req);
        cell.Run();
        Assert.All(cell.Services, s => Assert.Equal(1, s.Executed));
        var replies = cell.RepliesFor(1000);
        Assert.Equal(4, replies.Count);
        Assert.All(replies, r => Assert.Equal(0, r.Form));        // cached replies are resent in full
        Assert.All(replies, r => Assert.Equal(7L, BitConverter.ToInt64(r.Payload)));
    }

    [Fact]
    public void ReplayedOldRequestIsNeitherExecutedNorAnswered()
    {
        var cell = new LoopbackCell();
        var old = cell.BuildRequest(1000, 1, 11);
        cell.Submit(0, old); cell.Run();
        cell.Submit(0, cell.BuildRequest(1000, 2, 13)); cell.Run();
        cell.ClientInbox.Clear();
        for (uint r = 0; r < 4; r++) cell.Submit(r, old);      // an attacker replays request 1 to everyone
        cell.Run();
        Assert.All(cell.Services, s => Assert.Equal(2, s.Executed));
        Assert.Empty(cell.RepliesFor(1000));
        Assert.All(cell.Replicas, r => Assert.True(r.Stats.OldRequests >= 1));
    }

    [Fact]
    public void CrashedFollowerDoesNotStopProgress()
    {
        var cell = new LoopbackCell(k: 4, window: 8);
        cell.Crashed.Add(3);
        for (ulong rid = 1; rid <= 30; rid++) { cell.Submit(0, cell.BuildRequest(1000, rid, (long)rid)); cell.Run(); }
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(30, cell.Services[i].Executed);
            Assert.Equal(Expected(Enumerable.Range(1, 30).Select(x => (long)x)), cell.Services[i].Accumulator);
        }
        Assert.True(cell.Replicas[0].LowWatermark >= 24, "stable checkpoints with 2f+1 of 3 live replicas");
        Assert.Equal(0, cell.Services[3].Executed);
    }

    [Fact]
    public void LostMessagesAreRecoveredByRetransmission()
    {
        var cell = new LoopbackCell();
        int dropped = 0;
        // Lose every COMMIT-carrying step toward replica 2 for a while: drop the first 6 messages to it.
        cell.Drop = (from, to) => to == 2 && from < 4 && dropped++ < 6;
        cell.Submit(0, cell.BuildRequest(1000, 1, 3));
        cell.Run();
        Assert.Equal(0UL, cell.Replicas[2].LastExecuted);
        cell.Tick(6);
        Assert.Equal(1UL, cell.Replicas[2].LastExecuted);
    }

    [Fact]
    public void EquivocatingPrePrepareIsIgnoredByBackups()
    {
        var cell = new LoopbackCell();
        // Deliver a request normally; then replay the PRE-PREPARE of seq 1 is identical; a conflicting one cannot be forged without the primary's keys.
        cell.Submit(0, cell.BuildRequest(1000, 1, 1));
        cell.Run();
        Assert.All(cell.Replicas, r => Assert.Equal(0L, r.Stats.ConflictingPrePrepares));
        Assert.All(cell.Services, s => Assert.Equal(1, s.Accumulator));
    }
}
