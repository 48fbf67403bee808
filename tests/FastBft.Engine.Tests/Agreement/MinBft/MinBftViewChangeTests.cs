using FastBft.Agreement;
using FastBft.Engine.Tests.Support;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.MinBft;

/// <summary>View change (PROTOCOLS.md §4 [X], G17; docs/minbft.md §5): a crashed or silent leader is replaced and every request completes.</summary>
public sealed class MinBftViewChangeTests
{
    private static bool Done(LoopbackCell cell, uint client, ulong rid) => cell.RepliesFor(client).Count(x => x.Rid == rid) >= cell.F + 1;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ACrashedLeaderIsReplacedAndEveryRequestCompletes(int f)
    {
        var cell = MinBftTestKit.Cell(f: f, k: 4, window: 8, settings: s => s with { ViewChangeTicks = 10 });
        const uint c = LoopbackCell.FirstClient;
        ulong rid = 0;
        for (int i = 0; i < 6; i++) { cell.Submit(0, cell.BuildRequest(c, ++rid, i)); cell.Run(); }
        Assert.All(cell.Replicas, r => Assert.Equal(6UL, r.LastExecuted));
        cell.Crashed.Add(0);
        var correct = Enumerable.Range(1, cell.N - 1).Select(i => (uint)i).ToArray();
        for (int i = 0; i < 5; i++)
        {
            var req = cell.BuildRequest(c, ++rid, 100 + i);
            bool ok = false;
            for (int t = 0; t < 400 && !ok; t++)
            {
                if (t % 20 == 0) { foreach (var r in correct) cell.Submit(r, req); cell.Run(); }   // the client retransmits to all
                cell.Tick();
                ok = Done(cell, c, rid);
            }
            Assert.True(ok, $"request {rid}: " + string.Join(" | ", cell.Replicas.Select(r => r.DescribeState())));
        }
        foreach (var r in correct)
        {
            Assert.True(cell.Replicas[r].View >= 1);
            Assert.NotEqual(0u, cell.Replicas[r].Leader);
            Assert.True(cell.MStats(r).NewViewsInstalled >= 1);
        }
        cell.AssertAgreement(correct);
        Assert.Single(correct.Select(cell.StateDigest).Distinct());
    }

    [Fact]
    public void ABatchOneFollowerCommittedSurvivesTheViewChange()
    {
        // The leader's PREPARE for s reaches follower 1 only; 1 and the leader commit it (f+1 = 2). The leader crashes
        // before follower 2 gets anything. The new view must fix the same batch at s: 1's VIEW-CHANGE log carries its
        // COMMIT with the PREPARE it names.
        var cell = MinBftTestKit.Cell(k: 4, window: 8, settings: s => s with { ViewChangeTicks = 10 });
        const uint c = LoopbackCell.FirstClient;
        cell.Submit(0, cell.BuildRequest(c, 1, 1)); cell.Run();
        cell.Intercept = (from, to, msg) => to == 2 && (from == 0 || LoopbackCell.Is(msg, MessageType.UiCommit));
        var req = cell.BuildRequest(c + 1, 1, 42);
        cell.Submit(0, req); cell.Run();
        Assert.Equal(2UL, cell.Replicas[1].LastExecuted);
        Assert.Equal(1UL, cell.Replicas[2].LastExecuted);
        cell.Crashed.Add(0);
        cell.Intercept = null;
        var next = cell.BuildRequest(c, 2, 7);
        bool ok = false;
        for (int t = 0; t < 400 && !ok; t++)
        {
            if (t % 20 == 0) { cell.Submit(1, next); cell.Submit(2, next); cell.Run(); }
            cell.Tick();
            ok = Done(cell, c, 2);
        }
        Assert.True(ok, string.Join(" | ", cell.Replicas.Select(r => r.DescribeState())));
        Assert.Equal(new ulong[] { 2 }, cell.ExecutedAt(2, c + 1, 1));   // follower 2 executed the committed batch at the same s
        cell.AssertAgreement(1, 2);
    }
}
