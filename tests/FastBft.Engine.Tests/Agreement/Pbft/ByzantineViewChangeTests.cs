using FastBft.Engine.Tests.Support;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.Pbft;

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
            if ((to == 3 || from == 3) && view == 1 && Agreement(m)) return true;                 // 3 takes no part in view 1's agreement
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
            "view 1 installed at 0 and 1: " + cell.Replicas[1].DescribeState());
        Assert.Equal(0UL, cell.Replicas[3].View);

        // Phase 3: 3 jumps into view 1 through the NEW-VIEW forwarded on its STATUS.
        phase = 3;
        Assert.True(cell.TickUntil(() => cell.Replicas[3].View == 1 && !cell.Replicas[3].InViewChange, 20), "3 installs NEW-VIEW(1) from a STATUS answer");
        Assert.Equal(0, cell.Replicas[3].Counters.ViewChangesStarted);

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
        Assert.True(cell.Pbft(1).Stats.BadNewViews >= 1, "replica 1 rejects the unsupported NEW-VIEW");
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

    /// <summary>
    /// L1 (issue 8): a replica that sent its VIEW-CHANGE but missed the NEW-VIEW, and cannot hear the
    /// new primary, holds fewer than 2f+1 VIEW-CHANGEs for the view (0 crashed, 1's are lost), so its
    /// timer never starts; it must get the NEW-VIEW from any peer that installed it (the STATUS in-view-
    /// change flag; NEW-VIEW is signed, so any replica can forward it).
    /// <para>Old main: only the primary re-sent NEW-VIEW (<c>OnViewChange</c>: <c>IsPrimary &amp;&amp;
    /// _newViewMessage</c>), and <c>OnStatus</c> forwarded it only to a peer in an older view
    /// (<c>h.View &lt; View</c>), not to one waiting in the same view; the NEW-VIEW was also
    /// MAC-authenticated by the primary, so a forwarder could not have helped. Replica 3 stayed in
    /// view change forever (no NEW-VIEW, no timer with 2 VIEW-CHANGEs).</para>
    /// </summary>
    [Fact]
    public void L1_AReplicaWaitingForTheNewViewGetsItFromAnyPeerThatInstalledIt()
    {
        var cell = new LoopbackCell();
        cell.Crashed.Add(0);
        bool cut = true;
        cell.Intercept = (from, to, m) => cut && from == 1 && to == 3;      // 3 hears nothing from the new primary
        var r = cell.BuildRequest(1000, 1, 5);
        for (uint i = 1; i < 4; i++) cell.Submit(i, r);
        cell.Run();
        Assert.True(cell.TickUntil(() => cell.Replicas[3].InViewChange && cell.Replicas[1].View == 1 && !cell.Replicas[1].InViewChange, 200), "view change to 1 at 1, 2, 3");
        Assert.True(cell.TickUntil(() => cell.Replicas[3].View == 1 && !cell.Replicas[3].InViewChange, 20),
            "3 installs NEW-VIEW(1) forwarded by 2: " + cell.Replicas[3].DescribeState());
        Assert.Equal(1, cell.Replicas[3].Counters.ViewChangesStarted);
        cut = false;
        Assert.True(cell.TickUntil(() => new uint[] { 1, 2, 3 }.All(i => cell.ExecutedAt(i, 1000, 1).Count == 1), 50), "the request executes in view 1");
        Assert.All(new uint[] { 1, 2, 3 }, i => Assert.Equal(1UL, cell.Replicas[i].View));
        cell.AssertAgreement(1, 2, 3);
    }

    /// <summary>
    /// L2 (issue 8): the Byzantine replica 3 sends its (correctly signed) VIEW-CHANGE for view 1 with a
    /// MAC valid only for the next primary 1; 1 embeds it in NEW-VIEW(1). Backups check embedded
    /// VIEW-CHANGEs by signature, so 2 installs NEW-VIEW(1) (while it drops the VIEW-CHANGE 3 sent it
    /// directly), and the request is served once the partitioned replica 0 reconnects.
    /// <para>Old main: <c>VerifyNewViewBody</c> checked this receiver's MAC entry of every embedded
    /// VIEW-CHANGE (<c>MessageVerifier.cs</c> ~170) and dropped the whole NEW-VIEW as
    /// BadAuthenticator at 2 (and at 0); the primary only re-sent the same NEW-VIEW, so view 1 never
    /// formed; an adaptive attacker repeats it for every next primary.</para>
    /// </summary>
    [Fact]
    public void L2_ViewChangeWithMacsValidOnlyForTheNextPrimaryDoesNotSpoilItsNewView()
    {
        var cell = new LoopbackCell();
        var byz = new Forge(cell, 3);
        cell.Crashed.Add(3);
        bool partitioned = true;
        cell.Intercept = (from, to, m) => partitioned && from < cell.N && to < cell.N && (from == 0 || to == 0);
        var r = cell.BuildRequest(1000, 1, 9);
        cell.Submit(1, r); cell.Submit(2, r);
        var vc3 = Forge.BreakMacsFor(byz.ViewChange(1, 0, 0, [(0, Forge.Zero32)]), 0, 2);
        cell.InjectAll(3, vc3, 1, 2);
        cell.Run();
        Assert.True(cell.Verifiers[2].Drops[(int)ParseStatus.BadAuthenticator] >= 1, "2 drops the VIEW-CHANGE whose MAC for it is wrong");
        Assert.True(cell.TickUntil(() => cell.Replicas[2].View == 1 && !cell.Replicas[2].InViewChange, 300),
            "2 installs NEW-VIEW(1) embedding 3's VIEW-CHANGE: " + cell.Replicas[2].DescribeState());
        Assert.Equal(0, cell.Pbft(2).Stats.BadNewViews);
        partitioned = false;
        Assert.True(cell.TickUntil(() => new uint[] { 0, 1, 2 }.All(i => cell.ExecutedAt(i, 1000, 1).Count == 1), 100), "request served in view 1");
        Assert.All(new uint[] { 0, 1, 2 }, i => Assert.Equal(1UL, cell.Replicas[i].View));
        cell.AssertAgreement(0, 1, 2);
        Assert.True(cell.RepliesFor(1000).Count(x => x.Rid == 1) >= 2);
    }

    /// <summary>
    /// L4 (issue 8): the Byzantine replica 3 sends a (signed, well-formed) VIEW-CHANGE for view
    /// 2⁶⁴−3; then brief asynchrony (first the primary 0, then the next primary 1 cannot send) forces
    /// two view changes. The correct replicas must go to views 1 and 2 — one replica never chooses the
    /// view — and serve the request.
    /// <para>Old main: the far VIEW-CHANGE was stored (<c>_vcs</c> kept every view), and at the first
    /// timeout in view change <c>NextViewOnTimeout</c> jumped to the lowest higher view anybody asked
    /// for: 2⁶⁴−3, chosen by the Byzantine replica alone. From there <c>View + 1</c> wraps to 0 within
    /// three more timeouts (<c>StartViewChange(0)</c> is then a no-op while in view change) and
    /// <c>v + 2 &lt; View</c> overflows, so replicas end stuck; here they already fail the view bound.</para>
    /// </summary>
    [Fact]
    public void L4_OneByzantineReplicaCannotChooseTheNextViewNorWrapTheViewNumber()
    {
        var cell = new LoopbackCell();
        var byz = new Forge(cell, 3);
        cell.Crashed.Add(3);
        cell.InjectAll(3, byz.ViewChange(ulong.MaxValue - 2, 0, 0, [(0, Forge.Zero32)]), 0, 1, 2);
        cell.Run();
        Assert.All(new uint[] { 0, 1, 2 }, i => Assert.Equal(1, cell.Pbft(i).Stats.FarViewChanges));
        uint mute = 0;                                       // whose outgoing messages are lost
        cell.Intercept = (from, to, m) => from == mute;
        var r = cell.BuildRequest(1000, 1, 3);
        cell.Submit(1, r); cell.Submit(2, r);
        Assert.True(cell.TickUntil(() => cell.Replicas.Take(3).All(x => x.View == 1 && x.InViewChange), 200), "0, 1, 2 in view change to 1");
        mute = 1;
        Assert.True(cell.TickUntil(() => cell.Replicas[0].View >= 2 && cell.Replicas[2].View >= 2, 400), "0 and 2 time out in view 1");
        mute = uint.MaxValue;
        Assert.True(cell.TickUntil(() => new uint[] { 0, 1, 2 }.All(i => cell.ExecutedAt(i, 1000, 1).Count == 1), 400), "request served");
        Assert.All(new uint[] { 0, 1, 2 }, i => Assert.Equal(2UL, cell.Replicas[i].View));
        cell.AssertAgreement(0, 1, 2);
    }

    /// <summary>
    /// L6 (issue 8): NEW-VIEW carries the decision and backups check the VIEW-CHANGEs support it. Here
    /// request A was pre-prepared in view 0 at 0 and 2 but prepared nowhere, and the new primary 1 never
    /// saw its PRE-PREPARE; the Byzantine replica 3 (signed) reports A prepared at seq 1, and 0's
    /// VIEW-CHANGE does not reach 1, so the primary decides on S = {1, 2, 3}: A satisfies A1 and A2, B
    /// fails (only 1 and 2 lack a P entry), so the primary must fix A at seq 1 — fetching the batch it
    /// lacks with BATCH-FETCH (A3) — and the backups must accept exactly that decision: A executes at
    /// seq 1 in view 1 everywhere.
    /// <para>Old main: the new primary's A3 looked only at PRE-PREPAREs embedded in VIEW-CHANGEs (3's
    /// had none; 0 and 2 had only Q entries) and there was no way to fetch a batch, so <c>Decide</c>
    /// returned null (A3 fails, B fails) on every try: no NEW-VIEW, view 1 never formed. (With 0's
    /// VIEW-CHANGE too, the old primary chose null by B while the backups, re-running Fig. 3 without
    /// A3 and comparing only the highest sequence number, chose A and rejected its PRE-PREPARE.)</para>
    /// </summary>
    [Fact]
    public void L6_PrimaryAndBackupsReachTheSameDecisionAndThePrimaryFetchesABatchItLacks()
    {
        var cell = new LoopbackCell();
        var byz = new Forge(cell, 3);
        cell.Crashed.Add(3);
        var a = cell.BuildRequest(1000, 1, 7);
        var dA = Forge.BatchDigest(a);
        cell.Intercept = (from, to, m) => (from == 0 && to == 1 && LoopbackCell.Is(m, MessageType.ViewChange))
            || (LoopbackCell.Header(m).View == 0 && to < cell.N && ((to == 1 && LoopbackCell.Is(m, MessageType.PrePrepare)) || LoopbackCell.Is(m, MessageType.Prepare)));
        cell.Submit(0, a); cell.Submit(1, a); cell.Submit(2, a);
        cell.Run();
        cell.InjectAll(3, byz.ViewChange(1, 0, 0, [(0, Forge.Zero32)], p: [(1, 0, dA)], q: [(1, 0, dA)]), 0, 1, 2);
        cell.Run();
        Assert.True(cell.TickUntil(() => cell.Replicas.Take(3).All(x => x.View == 1 && !x.InViewChange), 300),
            "view 1 installed: " + cell.Replicas[1].DescribeState());
        Assert.True(cell.Pbft(1).Stats.BatchFetchesSent >= 1, "the primary fetched the batch it lacked (A3)");
        Assert.True(cell.TickUntil(() => new uint[] { 0, 1, 2 }.All(i => cell.ExecutedAt(i, 1000, 1).SequenceEqual([1UL])), 50),
            "A executes at seq 1: " + string.Join(" | ", cell.Replicas.Take(3).Select(x => $"{x.Id}: exec [{string.Join(",", cell.Executions[x.Id].Select(e => $"{e.ClientId}/{e.RequestId}@{e.Sequence}"))}] conflicting {x.Stats.ConflictingPrePrepares} unauth {x.Stats.UnauthenticatedBatches} empty {x.Stats.EmptyBatchesRejected} skipped {((x.Execution as FastBft.Execution.SequentialExecutionStage)?.SkippedDuplicates ?? 0)} " + x.DescribeState())));
        Assert.All(new uint[] { 0, 2 }, i => Assert.Equal(0, cell.Pbft(i).Stats.BadNewViews));
        Assert.All(new uint[] { 0, 2 }, i => Assert.Equal(0, cell.Pbft(i).Stats.ConflictingPrePrepares));
        cell.AssertAgreement(0, 1, 2);
    }

    /// <summary>
    /// Issue 8, "Oracles", second item: the new primary must not re-queue an awaited request that the
    /// NEW-VIEW already fixed. Request A is prepared at every replica in view 0 (COMMITs lost), the
    /// primary 0 crashes, and the backups (which all await A) change to view 1: A must be
    /// PRE-PREPAREd at exactly one sequence number in view 1 and executed once.
    /// <para>Old main: <c>InstallNewView</c> re-proposed the fixed batch at seq 1 and also queued every
    /// awaited request whose id was above the client's last executed one — A again — so the new
    /// primary ordered A at seq 1 and at seq 2 (the reply cache skipped the second execution:
    /// <c>SkippedDuplicates</c> = 1).</para>
    /// </summary>
    [Fact]
    public void RequeuedRequest_NewPrimaryDoesNotOrderARequestTheNewViewFixedAgain()
    {
        var cell = new LoopbackCell();
        var a = cell.BuildRequest(1000, 1, 4);
        var view1Seqs = new HashSet<ulong>();
        cell.Observe = (from, to, m) =>
        {
            if (LoopbackCell.Is(m, MessageType.PrePrepare) && LoopbackCell.Header(m).View == 1 && Forge.RequestsIn(m).Contains((1000u, 1UL)))
                view1Seqs.Add(LoopbackCell.Header(m).Sequence);
        };
        cell.Intercept = (from, to, m) => LoopbackCell.Is(m, MessageType.Commit) && LoopbackCell.Header(m).View == 0;
        for (uint i = 0; i < 4; i++) cell.Submit(i, a);
        cell.Run();
        Assert.All(cell.Replicas, r => Assert.Equal(0UL, r.LastExecuted));
        cell.Crashed.Add(0);
        Assert.True(cell.TickUntil(() => new uint[] { 1, 2, 3 }.All(i => cell.ExecutedAt(i, 1000, 1).Count == 1), 300), "A executes in view 1");
        cell.Tick(10);
        Assert.Equal([1UL], view1Seqs.ToArray());
        Assert.All(new uint[] { 1, 2, 3 }, i => Assert.Equal([1UL], cell.ExecutedAt(i, 1000, 1)));
        Assert.All(cell.Replicas.Skip(1), r => Assert.Equal(0, ((FastBft.Execution.SequentialExecutionStage)r.Execution).SkippedDuplicates));
        Assert.All(cell.Replicas.Skip(1), r => Assert.Equal(1UL, r.LastExecuted));
    }
}
