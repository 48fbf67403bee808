using FastBft.Engine.Tests.Support;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Protocol;

/// <summary>
/// Issue 8, safety items and the view-change liveness items: each a small cell (f = 1, n = 4) in
/// which the test controls the network and plays one Byzantine replica, whose messages are correctly
/// authenticated and (VIEW-CHANGE, NEW-VIEW) correctly signed. "Old main" is commit 5285444.
/// </summary>
public class ByzantineViewChangeTests
{
    private static bool Agreement(byte[] m) => LoopbackCell.Is(m, MessageType.PrePrepare) || LoopbackCell.Is(m, MessageType.Prepare) || LoopbackCell.Is(m, MessageType.Commit);

    private static List<byte[]> ViewChangesFrom(List<(uint From, byte[] Msg)> seen, ulong view, uint sender)
        => seen.Where(e => e.From == sender && LoopbackCell.Is(e.Msg, MessageType.ViewChange) && LoopbackCell.Header(e.Msg).View == view).Select(e => e.Msg).ToList();

    /// <summary>
    /// S1 (issue 8, built case): request A commits at seq 1 at replicas 0, 2, 3 (3 prepared it) while
    /// replica 1 sees nothing; a view change to view 1 (VIEW-CHANGEs of 0, 1, 2) happens without 3,
    /// and 3 jumps into view 1 through the NEW-VIEW forwarded on its STATUS; in view 2 the Byzantine
    /// primary 2 builds a NEW-VIEW from the signed VIEW-CHANGEs of {1, 2, 3} that orders C at seq 1,
    /// then PRE-PREPAREs and COMMITs C there. Replica 1 must not execute C at seq 1 (replica 0
    /// executed A there).
    /// <para>Old main: <c>OnNewView</c> installed NEW-VIEW(1) at 3 (via <c>OnStatus</c>, which forwarded
    /// it to a peer in an older view) and <c>InstallNewView</c> reset every slot of the window without
    /// folding the log into PSet/QSet (that happened only in <c>StartViewChange</c>), so 3's
    /// VIEW-CHANGE for view 2 had no P entry for seq 1. No VIEW-CHANGE of {1, 2, 3} reported seq 1
    /// prepared, backups re-ran <c>Decide</c> and got MaxSeq = 0 = header.sequence, fixed nothing, and
    /// accepted PRE-PREPARE(2, 1, C) (<c>ConflictsWithNewView</c> covers only fixed slots): 1 and 3
    /// prepared and committed C with 2's COMMIT, and replica 1 executed C at seq 1 where replica 0
    /// had executed A.</para>
    /// </summary>
    [Fact]
    public void S1_ReplicaThatJumpedIntoAViewByStatusKeepsItsPreparedCertificate()
    {
        var cell = new LoopbackCell();
        var byz = new Forge(cell, 2);
        var a = cell.BuildRequest(1000, 1, 11);
        var b = cell.BuildRequest(1001, 1, 22);
        var c = cell.BuildRequest(1002, 1, 33);
        var d = cell.BuildRequest(1003, 1, 44);
        var dA = Forge.BatchDigest(a);
        var dC = Forge.BatchDigest(c);
        var toByz = new List<(uint, byte[])>();
        cell.Observe = (from, to, m) => { if (to == 2) toByz.Add((from, m)); };
        int phase = 1;
        cell.Intercept = (from, to, m) =>
        {
            if (to >= cell.N) return false;
            ulong view = LoopbackCell.Header(m).View;
            if (phase == 1) return to == 1;                                                        // 1 sees nothing of view 0
            if (to == 1 && view == 0 && (Agreement(m) || LoopbackCell.Is(m, MessageType.Checkpoint))) return true;
            if (from == 1 && to == 0 && LoopbackCell.Is(m, MessageType.Request)) return true;     // 1's relay of B is lost
            if ((to == 3 || from == 3) && view >= 1 && Agreement(m)) return true;                 // 3 takes no part in view 1's agreement
            if (to == 3 && LoopbackCell.Is(m, MessageType.ViewChange) && view == 1) return true;  // 3 sends no VIEW-CHANGE for view 1
            if (phase == 2 && to == 3 && LoopbackCell.Is(m, MessageType.NewView)) return true;
            if (phase == 4 && (to == 0 || from == 0)) return true;                                // 0 is partitioned in view 2
            return false;
        };

        // Phase 1: A commits at seq 1 at 0, 2, 3.
        cell.Submit(0, a);
        cell.Run();
        foreach (uint r in new uint[] { 0, 2, 3 }) Assert.Equal([1UL], cell.ExecutedAt(r, 1000, 1));
        Assert.Equal(0UL, cell.Replicas[1].LastExecuted);
        cell.Crashed.Add(2);                       // from now on replica 2 is the test's Byzantine replica

        // Phase 2: view change to view 1 with VIEW-CHANGEs of 0, 1, 2; 3 misses it.
        phase = 2;
        cell.Submit(1, b);
        cell.Run();
        var vc2ForView1 = byz.ViewChange(1, 1, 0, [(0, Forge.Zero32)], p: [(1, 0, dA)], q: [(1, 0, dA)]);
        cell.InjectAll(2, vc2ForView1, 0, 1);
        Assert.True(cell.TickUntil(() => cell.Replicas[0].View == 1 && !cell.Replicas[0].InViewChange && cell.Replicas[1].View == 1 && !cell.Replicas[1].InViewChange, 300),
            "view 1 installed at 0 and 1: " + cell.Replicas[1].DescribeViewChangeState());
        Assert.Equal(0UL, cell.Replicas[3].View);

        // Phase 3: 3 jumps into view 1 through the NEW-VIEW forwarded on its STATUS.
        phase = 3;
        Assert.True(cell.TickUntil(() => cell.Replicas[3].View == 1 && !cell.Replicas[3].InViewChange, 20), "3 installs NEW-VIEW(1) from a STATUS answer");
        Assert.Equal(0, cell.Replicas[3].ViewChangesStarted);

        // Phase 4: 0 is cut off; 3 times out on D; with 2's VIEW-CHANGE, 1 and 3 move to view 2 (primary: Byzantine 2).
        phase = 4;
        cell.Submit(3, d);
        cell.InjectAll(2, byz.ViewChange(2, 1, 0, [(0, Forge.Zero32)]), 1, 3);   // 2 reports nothing prepared
        Assert.True(cell.TickUntil(() => cell.Replicas[1].View == 2 && cell.Replicas[3].View == 2, 400), "1 and 3 in view change to 2");
        var vc1 = ViewChangesFrom(toByz, 2, 1).First();
        var vc3 = ViewChangesFrom(toByz, 2, 3).First();
        var vc2 = byz.ViewChange(2, 1, 0, [(0, Forge.Zero32)]);

        // Phase 5: the Byzantine primary orders C at seq 1.
        var nv = byz.NewView(2, 0, Forge.Zero32, [vc1, vc2, vc3], [dC]);
        cell.InjectAll(2, nv, 1, 3);
        cell.InjectAll(2, byz.PrePrepare(2, 1, c), 1, 3);
        cell.InjectAll(2, byz.Digest32(MessageType.Commit, 2, 1, dC), 1, 3);
        cell.Run();
        cell.Tick(4);

        Assert.Empty(cell.ExecutedAt(1, 1002, 1));
        Assert.Empty(cell.ExecutedAt(3, 1002, 1));
        Assert.True(cell.Replicas[1].Stats.BadNewViews >= 1, "replica 1 rejects the unsupported NEW-VIEW");
        cell.AssertAgreement(0, 1, 3);
        Assert.Empty(cell.RepliesFor(1002));
    }

    /// <summary>
    /// S2 (issue 8, built case): replica 0 executed seq 5..8 (with 1's and the prepared 2's and 3's
    /// COMMITs), replicas 2 and 3 are at 4; the Byzantine primary of view 1 (replica 1) picks checkpoint
    /// 8 (vouched for by itself and replica 0: a valid choice) and re-orders seq 5 for 2 and 3 with
    /// request X. 2 and 3 must not execute X at seq 5, the client must not get f+1 replies for it,
    /// and 2 and 3 reach checkpoint 8 by state transfer instead.
    /// <para>Old main: <c>InstallNewView</c>'s <c>dec.H &gt; LastExecuted</c> branch started a fetch
    /// but kept the low watermark at 4 and reset slots (8, 16], which in a ring of 8 slots includes
    /// the slot of seq 5; <c>ConflictsWithNewView</c> covered only slots above H. So PRE-PREPARE(1, 5, X)
    /// was accepted in the window (4, 12], prepared with 2's and 3's PREPAREs, committed with 1's
    /// COMMIT, and 2 and 3 executed X at seq 5 — where 0 executed request 5 — and both replied the
    /// same result: the client accepted it from f+1 replies.</para>
    /// </summary>
    [Fact]
    public void S2_AfterANewViewWhoseCheckpointIsAboveTheState_NothingAtOrBelowItIsAgreedAgain()
    {
        var cell = new LoopbackCell();                 // K = 4, L = 8
        var byz = new Forge(cell, 1);
        for (ulong rid = 1; rid <= 4; rid++) { cell.Submit(0, cell.BuildRequest(1000, rid, (long)rid)); cell.Run(); }
        Assert.All(cell.Replicas, r => Assert.Equal(4UL, r.LowWatermark));
        var toByz = new List<(uint, byte[])>();
        cell.Observe = (from, to, m) => { if (to == 1) toByz.Add((from, m)); };
        int phase = 2;
        cell.Intercept = (from, to, m) =>
        {
            if (to >= cell.N) return false;
            if (phase == 2 && (to == 2 || to == 3) && (LoopbackCell.Is(m, MessageType.Commit) || LoopbackCell.Is(m, MessageType.Checkpoint))) return true;
            if (phase == 2 && to == 0 && from < cell.N && LoopbackCell.Is(m, MessageType.Request)) return true;
            return false;
        };
        for (ulong rid = 5; rid <= 8; rid++) { cell.Submit(0, cell.BuildRequest(1000, rid, (long)rid)); cell.Run(); }
        Assert.Equal(8UL, cell.Replicas[0].LastExecuted);
        Assert.Equal(4UL, cell.Replicas[2].LastExecuted);
        Assert.Equal(4UL, cell.Replicas[3].LastExecuted);
        cell.Crashed.Add(1);                       // replica 1 is Byzantine from here on

        // A client request at 2 and 3 only: they time out, 0 joins; VIEW-CHANGEs for view 1 go to the Byzantine primary 1.
        cell.Submit(2, cell.BuildRequest(1001, 1, 99));
        cell.Submit(3, cell.BuildRequest(1001, 1, 99));
        Assert.True(cell.TickUntil(() => cell.Replicas.Where(r => r.Id != 1).All(r => r.View == 1 && r.InViewChange), 300), "0, 2, 3 in view change to 1");
        var vc0 = ViewChangesFrom(toByz, 1, 0).First();
        var vc2 = ViewChangesFrom(toByz, 1, 2).First();
        var c0 = Forge.ParseViewChange(vc0).C;
        var d4 = c0.First(e => e.Seq == 4).Digest;
        var d8 = c0.First(e => e.Seq == 8).Digest;
        var vc1 = byz.ViewChange(1, 8, 4, [(4, d4), (8, d8)]);
        var nv = byz.NewView(1, 8, d8, [vc0, vc1, vc2], []);

        phase = 4;
        var x = cell.BuildRequest(1002, 1, 777);
        var dX = Forge.BatchDigest(x);
        cell.InjectAll(1, nv);
        cell.InjectAll(1, byz.PrePrepare(1, 5, x), 2, 3);
        cell.InjectAll(1, byz.Digest32(MessageType.Commit, 1, 5, dX), 2, 3);
        cell.Run();

        Assert.All(cell.Replicas.Where(r => r.Id != 1), r => Assert.Equal(8UL, r.LowWatermark));
        Assert.Empty(cell.ExecutedAt(2, 1002, 1));
        Assert.Empty(cell.ExecutedAt(3, 1002, 1));
        Assert.Empty(cell.RepliesFor(1002));
        // 2 and 3 reach checkpoint 8 by state transfer and agree with 0.
        Assert.True(cell.TickUntil(() => cell.Replicas[2].LastExecuted >= 8 && cell.Replicas[3].LastExecuted >= 8, 60), "2 and 3 fetch checkpoint 8");
        Assert.Equal(cell.StateDigest(0), cell.StateDigest(2));
        Assert.Equal(cell.StateDigest(0), cell.StateDigest(3));
        Assert.Empty(cell.ExecutedAt(2, 1002, 1));
        cell.AssertAgreement(0, 2, 3);
    }
}
