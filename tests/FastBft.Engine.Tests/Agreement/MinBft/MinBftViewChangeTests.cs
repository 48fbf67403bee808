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

    [Fact]
    public void AnEquivocatingLeaderWhosePreparesWentToDifferentFollowersIsReplacedAndTheCommittedOneIsKept()
    {
        // The Byzantine leader certifies PREPARE(1, A) (counter 1) for follower 1 and PREPARE(1, B) (counter 2) for
        // follower 2. Follower 1 binds A and commits it with the leader's PREPARE (f+1 = 2) and executes it. Follower 2
        // waits at the gap (counter 1 never comes). The new view must fix A at 1.
        var cell = MinBftTestKit.Cell(k: 4, window: 8, settings: s => s with { ViewChangeTicks = 10 });
        cell.Crashed.Add(0);
        using var usig = cell.UsigFor(0);
        const uint c = LoopbackCell.FirstClient;
        var a = MinBftTestKit.Prepare(usig, 0, 1, MinBftTestKit.Batch(cell.BuildRequest(c, 1, 10)));
        var b = MinBftTestKit.Prepare(usig, 0, 1, MinBftTestKit.Batch(cell.BuildRequest(c + 1, 1, 20)));
        cell.Inject(0, 1, a);
        cell.Inject(0, 2, b);
        cell.Run();
        Assert.Equal(new ulong[] { 1 }, cell.ExecutedAt(1, c, 1));
        // Follower 2 fetched counter 1 (A) from follower 1, which holds it (UI-FETCH relay), and rejected B as the
        // equivocation it is: the counter order makes it detectable.
        Assert.Equal(new ulong[] { 1 }, cell.ExecutedAt(2, c, 1));
        Assert.True(cell.MStats(2).UiFetchRelays == 0 && cell.MStats(1).UiFetchRelays >= 1);
        Assert.True(cell.MStats(2).Equivocations >= 1);
        var next = cell.BuildRequest(c + 2, 1, 30);
        bool ok = false;
        for (int t = 0; t < 400 && !ok; t++)
        {
            if (t % 20 == 0) { cell.Submit(1, next); cell.Submit(2, next); cell.Run(); }
            cell.Tick();
            ok = Done(cell, c + 2, 1);
        }
        Assert.True(ok, string.Join(" | ", cell.Replicas.Select(r => r.DescribeState())));
        Assert.Equal(new ulong[] { 1 }, cell.ExecutedAt(2, c, 1));        // A at 1 on follower 2 too
        Assert.Empty(cell.ExecutedAt(1, c + 1, 1));                        // B never
        Assert.Empty(cell.ExecutedAt(2, c + 1, 1));
        cell.AssertAgreement(1, 2);
    }

    [Fact]
    public void TwoLeadersInARowCrashAndTheThirdViewServesEveryRequest()
    {
        // f = 2, n = 5: leader 0 crashes, view 1's leader 1 crashes after ordering some requests; view 2's VIEW-CHANGEs
        // carry logs that contain the previous VIEW-CHANGE / NEW-VIEW (as stubs) and the COMMITs of fixed slots.
        var cell = MinBftTestKit.Cell(f: 2, k: 4, window: 8, settings: s => s with { ViewChangeTicks = 10 });
        const uint c = LoopbackCell.FirstClient;
        ulong rid = 0;
        for (int i = 0; i < 5; i++) { cell.Submit(0, cell.BuildRequest(c, ++rid, i)); cell.Run(); }
        void Serve(uint[] to)
        {
            var req = cell.BuildRequest(c, ++rid, (long)rid);
            bool ok = false;
            for (int t = 0; t < 600 && !ok; t++)
            {
                if (t % 20 == 0) { foreach (var r in to) cell.Submit(r, req); cell.Run(); }
                cell.Tick();
                ok = Done(cell, c, rid);
            }
            Assert.True(ok, $"request {rid}: " + string.Join(" | ", cell.Replicas.Select(r => r.DescribeState())));
        }
        cell.Crashed.Add(0);
        for (int i = 0; i < 3; i++) Serve([1, 2, 3, 4]);
        Assert.All(new uint[] { 1, 2, 3, 4 }, r => Assert.Equal(1UL, cell.Replicas[r].View));
        cell.Crashed.Add(1);
        for (int i = 0; i < 3; i++) Serve([2, 3, 4]);
        Assert.All(new uint[] { 2, 3, 4 }, r => Assert.Equal(2UL, cell.Replicas[r].View));
        cell.AssertAgreement(2, 3, 4);
        Assert.Single(new uint[] { 2, 3, 4 }.Select(cell.StateDigest).Distinct());
    }

    [Fact]
    public void AReplicaThatMissedTheNewViewGetsItForwardedAndRejoins()
    {
        var cell = MinBftTestKit.Cell(k: 4, window: 8, settings: s => s with { ViewChangeTicks = 10 });
        const uint c = LoopbackCell.FirstClient;
        for (ulong rid = 1; rid <= 3; rid++) { cell.Submit(0, cell.BuildRequest(c, rid, (long)rid)); cell.Run(); }
        cell.Crashed.Add(0);
        int dropped = 0;
        cell.Intercept = (from, to, msg) => to == 2 && LoopbackCell.Is(msg, MessageType.UiNewView) && dropped++ == 0;   // the first NEW-VIEW to 2 is lost
        var req = cell.BuildRequest(c, 4, 4);
        bool ok = false;
        for (int t = 0; t < 600 && !ok; t++)
        {
            if (t % 20 == 0) { cell.Submit(1, req); cell.Submit(2, req); cell.Run(); }
            cell.Tick();
            ok = Done(cell, c, 4);
        }
        Assert.True(ok, string.Join(" | ", cell.Replicas.Select(r => r.DescribeState())));
        Assert.True(dropped >= 2, "the NEW-VIEW reached replica 2 a second time (forwarded)");
        Assert.Equal(cell.Replicas[1].View, cell.Replicas[2].View);
        Assert.False(cell.Replicas[2].InViewChange);
        cell.AssertAgreement(1, 2);
    }

    [Fact]
    public void AReplicaThatSentAViewChangeForALaterViewNeverInstallsAnEarlierNewView()
    {
        // V3 (docs/minbft.md §5.5): replica 3 misses view 1's NEW-VIEW and moves on to view 2 alone (its VIEW-CHANGE(2) may
        // be one of the f+1 a NEW-VIEW(2) is decided from). The NEW-VIEW(1) then arrives, valid. Installing it would let 3
        // certify view-1 COMMITs after its VIEW-CHANGE(2) — messages a view-2 decision never saw — so it must stay in view 2.
        var cell = MinBftTestKit.Cell(f: 2, k: 4, window: 8, settings: s => s with { ViewChangeTicks = 10 });
        const uint c = LoopbackCell.FirstClient;
        for (ulong rid = 1; rid <= 3; rid++) { cell.Submit(0, cell.BuildRequest(c, rid, (long)rid)); cell.Run(); }
        cell.Crashed.Add(0);
        var held = new List<byte[]>();
        cell.Intercept = (from, to, msg) =>
        {
            if (to != 3 || !LoopbackCell.Is(msg, MessageType.UiNewView)) return false;
            held.Add(msg);
            return true;
        };
        var req = cell.BuildRequest(c, 4, 4);
        for (int t = 0; t < 2000 && !(cell.Replicas[3].View >= 2 && held.Count > 0); t++)
        {
            if (t % 20 == 0) { foreach (uint r in new uint[] { 1, 2, 3, 4 }) cell.Submit(r, req); cell.Run(); }
            cell.Tick();
        }
        Assert.True(held.Count > 0 && cell.Replicas[3].View >= 2, string.Join(" | ", cell.Replicas.Select(r => r.DescribeState())));
        ulong view3 = cell.Replicas[3].View;
        long installed = cell.MStats(3).NewViewsInstalled;
        int oldViewCommits = 0;
        cell.Intercept = (from, to, msg) =>
        {
            if (from == 3 && LoopbackCell.Is(msg, MessageType.UiCommit) && MessageHeader.TryParse(msg, int.MaxValue, out var h) == ParseStatus.Ok && h.View < view3) oldViewCommits++;
            return false;                                                                         // the held NEW-VIEWs and any forwarded one reach 3
        };
        foreach (var m in held) cell.Inject(1, 3, m);
        cell.Run();
        for (int t = 0; t < 5; t++) cell.Tick();
        Assert.Equal(view3, cell.Replicas[3].View);
        Assert.True(cell.Replicas[3].InViewChange);
        Assert.Equal(installed, cell.MStats(3).NewViewsInstalled);
        Assert.Equal(0, oldViewCommits);
    }

    [Fact]
    public void ANewViewIsInstalledAcrossAGapInItsLeadersCounterOrderThatNoFetchCanClose()
    {
        // Replica 2 never gets replica 1's COMMITs of view 0 (a gap in 1's counter order) and cannot fetch them. Leader 0
        // crashes; replica 1 leads view 1. Its NEW-VIEW reaches 2 after the gap: 1's own VIEW-CHANGE inside it shows its
        // whole run (no other NEW-VIEW in it), so 2 installs it at once instead of waiting behind the gap for good.
        var cell = MinBftTestKit.Cell(k: 4, window: 8, settings: s => s with { ViewChangeTicks = 10 });
        const uint c = LoopbackCell.FirstClient;
        bool cut = true;
        cell.Intercept = (from, to, msg) => cut && to == 2 && from == 1 && LoopbackCell.Is(msg, MessageType.UiCommit)
                                         || from == 2 && LoopbackCell.Is(msg, MessageType.UiFetch);
        for (ulong rid = 1; rid <= 2; rid++) { cell.Submit(0, cell.BuildRequest(c, rid, (long)rid)); cell.Run(); }
        Assert.Equal(2UL, cell.Replicas[2].LastExecuted);            // 0's PREPARE and 2's own COMMIT are f+1 = 2
        cell.Crashed.Add(0);
        var req = cell.BuildRequest(c, 3, 3);
        bool ok = false;
        for (int t = 0; t < 600 && !ok; t++)
        {
            if (t % 20 == 0) { cell.Submit(1, req); cell.Submit(2, req); cell.Run(); }
            cell.Tick();
            ok = Done(cell, c, 3);
        }
        Assert.True(ok, string.Join(" | ", cell.Replicas.Select(r => r.DescribeState())));
        Assert.Equal(1UL, cell.Replicas[2].View);
        Assert.True(cell.MStats(2).NewViewsAcrossGap >= 1);
        cell.AssertAgreement(1, 2);
    }
}
