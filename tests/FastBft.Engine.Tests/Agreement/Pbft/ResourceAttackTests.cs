using System.Text.RegularExpressions;
using FastBft.Auth;
using FastBft.Engine.Tests.Support;
using FastBft.Agreement.Pbft;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.Pbft;

/// <summary>Issue 8, resource attacks R1–R3 (f = 1 cells; "old main" is commit 5285444).</summary>
public class ResourceAttackTests
{
    /// <summary>
    /// R1 (issue 8): the Byzantine replica 3 sends signed, well-formed VIEW-CHANGEs (8 P and 8 Q entries
    /// each) for every view 1..2000. Each receiver must keep at most 4 of one sender's VIEW-CHANGEs
    /// (the lowest views at or above its own), drop those more than MaxViewLead views ahead, not be
    /// moved (one sender is not f+1), and go on serving requests.
    /// <para>Old main: <c>RecordViewChange</c> kept every VIEW-CHANGE in <c>_vcs[view][sender]</c>,
    /// pruning only views below View − 2, and <c>OnViewChange</c> scanned all of them on each arrival:
    /// 2,000 retained messages per sender (126 MiB with large ones) and quadratic scanning.</para>
    /// </summary>
    [Fact]
    public void R1_ViewChangesForManyFutureViewsAreBoundedPerSender()
    {
        var cell = new LoopbackCell();
        var byz = new Forge(cell, 3);
        cell.Crashed.Add(3);
        var d = Forge.BatchDigest(cell.BuildRequest(1000, 1, 1));
        var set = Enumerable.Range(1, 8).Select(i => ((ulong)i, 0UL, d)).ToArray();
        for (ulong v = 1; v <= 2000; v++) cell.InjectAll(3, byz.ViewChange(v, 0, 0, [(0, Forge.Zero32)], set, set), 0, 1, 2);
        cell.Run();
        foreach (var r in cell.Replicas.Take(3))
        {
            Assert.Equal(2000 - cell.Settings.MaxViewLead, r.Stats.FarViewChanges);
            var held = Regex.Match(r.DescribeState(), @"vcs\[([^\]]*)\]").Groups[1].Value.Split(',')[3];
            Assert.Equal("1/2/3/4", held);
            Assert.Equal(0UL, r.View);
            Assert.False(r.InViewChange);
        }
        cell.Submit(0, cell.BuildRequest(1000, 1, 6));
        cell.Run();
        Assert.All(cell.Replicas.Take(3), r => Assert.Equal(1UL, r.LastExecuted));
    }

    /// <summary>
    /// R2 (issue 8): client 1001 floods the primary with 3,000 new request ids in one burst, then an
    /// honest client sends one request. The primary keeps one queued request per client, so the honest
    /// request goes into the first batch (seq 1) and the queue holds at most one request per client.
    /// <para>Old main: every new request id was queued (<c>_pending</c> grew to 3,001) and
    /// <c>CutBatch</c> stopped at the first repeated client (~227–252), so each batch held one flood
    /// request and the honest request waited 3,000 sequence numbers.</para>
    /// </summary>
    [Fact]
    public void R2_FloodingClientCannotDelayAnHonestRequest()
    {
        var cell = new LoopbackCell(batch: 8);
        var b = new MessageBuilder(new Authenticator(1001, cell.Keys), cell.N, 1024);
        for (ulong rid = 1; rid <= 3000; rid++)
        {
            BitConverter.TryWriteBytes(b.BeginVector(MessageType.Request, 0, rid, 8), 1L);
            cell.Submit(0, b.SealVector().ToArray());
        }
        cell.Submit(0, cell.BuildRequest(1000, 1, 2));
        int steps = 0;
        while (cell.Wire.Count > 1) { cell.Run(1); steps++; }   // deliver the whole burst but the last message
        cell.Run(1);
        Assert.True(cell.Pbft(0).PendingRequests <= 2, $"one queued request per client, {cell.Pbft(0).PendingRequests} queued");
        cell.Run();
        Assert.All(cell.Replicas, r => Assert.Equal([1UL], cell.ExecutedAt(r.Id, 1000, 1)));
        Assert.True(cell.Pbft(0).Stats.ThrottledRequests >= 2999);
        Assert.Equal(0, cell.Pbft(0).PendingRequests);
    }

    /// <summary>
    /// R2 follow-up (found by the issue-8 review of the one-queued-request rule): a faulty client sends
    /// request 1 to the primary and request 2 to the backups in one burst. The backups await 2 and relay
    /// it to the primary while 1 is still queued there. Dropping 2 would leave the backups waiting for a
    /// request the correct primary never orders, and they would depose it; instead the primary defers 2
    /// in the client's one extra slot and orders it after 1 — no view change.
    /// </summary>
    [Fact]
    public void R2_RequestThrottledAtThePrimaryIsDeferredNotDropped()
    {
        var cell = new LoopbackCell();
        cell.Submit(0, cell.BuildRequest(1000, 1, 5));
        for (uint i = 1; i < cell.N; i++) cell.Submit(i, cell.BuildRequest(1000, 2, 6));
        cell.Run();
        cell.Tick(200);                                  // far beyond the view-change timeout
        Assert.All(cell.Replicas, r => Assert.Single(cell.ExecutedAt(r.Id, 1000, 2)));
        Assert.All(cell.Replicas, r => Assert.Equal(0UL, r.View));
        Assert.True(cell.Pbft(0).Stats.ThrottledRequests >= 1, "request 2 reached the primary while 1 was queued");
    }

    /// <summary>
    /// R3 (issue 8): replica 3 fetches checkpoint 4; the replica it asks is Byzantine and answers with
    /// STATE-DATA bodies of 9 bytes claiming a total of int.MaxValue, then 200 MiB. Neither may throw out
    /// of <c>OnMessage</c> nor allocate more than 256 KiB (the fetch buffer grows only with bytes received); 3 still gets the state from a correct replica.
    /// <para>Old main: <c>OnStateData</c> did <c>Array.Resize(ref _fetchBuffer, total)</c> with the
    /// claimed total (~153): an OutOfMemoryException (int.MaxValue) out of <c>OnMessage</c>, which the
    /// host does not catch, or a 200 MiB allocation from a 9-byte body.</para>
    /// </summary>
    [Fact]
    public void R3_StateDataClaimingAHugeTotalAllocatesNothingLarge()
    {
        var cell = new LoopbackCell();
        bool cut = true, blockFetches = true;
        uint target = uint.MaxValue; ulong fetchSeq = 0;
        cell.Intercept = (from, to, m) =>
        {
            if (cut && from < cell.N && to == 3) return true;
            if (blockFetches && from == 3 && LoopbackCell.Is(m, MessageType.Fetch))
            {
                if (target == uint.MaxValue) { target = to; fetchSeq = LoopbackCell.Header(m).Sequence; }
                return true;
            }
            return false;
        };
        for (ulong rid = 1; rid <= 5; rid++) { cell.Submit(0, cell.BuildRequest(1000, rid, (long)rid)); cell.Run(); }
        cut = false;
        Assert.True(cell.TickUntil(() => target != uint.MaxValue, 30), "3 starts a fetch");
        var byz = new Forge(cell, target);
        foreach (int total in new[] { int.MaxValue, 200 << 20 })
        {
            var msg = byz.StateData(0, fetchSeq, total, 0, [0x42]);
            cell.Run();
            long before = GC.GetAllocatedBytesForCurrentThread();
            cell.Inject(target, 3, msg);
            cell.Run();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < 256 * 1024, $"claimed total {total}: {allocated} bytes allocated");
        }
        Assert.True(cell.Pbft(3).Stats.BadStateTransfers >= 1);
        blockFetches = false;
        Assert.True(cell.TickUntil(() => cell.Replicas[3].LastExecuted >= 4, 80), "3 still fetches the state");
        Assert.Equal(cell.StateDigest(0), cell.StateDigest(3));
    }

    /// <summary>
    /// Not an issue-8 item (found while writing R1–R3): NEW-VIEW forwarding must not be an unbounded
    /// amplifier. After view 1 is installed, the Byzantine replica 3 sends 200 STATUS messages (≈ 114
    /// bytes each, view 0) and replays its own signed VIEW-CHANGE for view 1 200 times to replica 1
    /// within one tick. Replica 1 should answer with a bounded number of NEW-VIEWs per tick (the
    /// BATCH-FETCH answers are bounded the same way), not one NEW-VIEW (up to ≈ 107 KiB with the
    /// defaults: n embedded VIEW-CHANGEs) per request.
    /// </summary>
    [Fact] // was skipped: "core bug: OnStatus (h.View < _newViewView) and OnViewChange (w == View && !_inViewChange) forward the NEW-VIEW once per received STATUS / late VIEW-CHANGE with no per-peer or per-tick bound: a Byzantine replica gets a ~1000x amplification")]
    public void NewViewForwardingIsBoundedPerTick()
    {
        var cell = new LoopbackCell();
        var byz = new Forge(cell, 3);
        cell.Crashed.Add(0);
        var r = cell.BuildRequest(1000, 1, 1);
        for (uint i = 1; i < 4; i++) cell.Submit(i, r);
        cell.Run();
        var vc3 = new List<byte[]>();
        cell.Observe = (from, to, m) => { if (from == 3 && LoopbackCell.Is(m, MessageType.ViewChange)) vc3.Add(m); };
        Assert.True(cell.TickUntil(() => cell.Replicas.Skip(1).All(x => x.View == 1 && !x.InViewChange), 300), "view 1 installed");
        cell.Crashed.Add(3);                                 // 3 turns Byzantine
        int newViewsTo3 = 0;
        cell.Observe = (from, to, m) => { if (from == 1 && to == 3 && LoopbackCell.Is(m, MessageType.NewView)) newViewsTo3++; };
        var b = new MessageBuilder(new Authenticator(3, cell.Keys), cell.N, 1024);
        for (int i = 0; i < 200; i++)
        {
            var body = b.BeginVector(MessageType.Status, 0, 0, PbftBodies.StatusLength);
            body.Clear();
            cell.Inject(3, 1, b.SealVector().ToArray());
            cell.Inject(3, 1, vc3[0]);
        }
        cell.Run();
        Assert.True(newViewsTo3 <= 4, $"{newViewsTo3} NEW-VIEWs sent to one peer within one tick");
    }

    /// <summary>
    /// L8 / R-class, Byzantine variant (found while writing L8): a VIEW-CHANGE may only list P and Q
    /// entries inside the sender's window (h, h + L], so a correct one is at most
    /// <see cref="ViewChangeBody.MaxBodyLength"/> bytes. The Byzantine replica 3 sends, for every view
    /// the others move to, a signed VIEW-CHANGE with 43,689 P and 43,689 Q entries (seq h+1.., all
    /// views below v): exactly the receivers' largest accepted body. The new primary embeds it, so its
    /// NEW-VIEW exceeds the largest body every backup accepts (with a real transport, max_message_bytes:
    /// <c>Send</c> throws, as in L8), no view ever forms, and the request waiting at 1 and 2 is never
    /// served. Expected: such a VIEW-CHANGE is rejected (or not embedded) and the cell serves the request.
    /// </summary>
    [Fact] // was skipped: "core bug: ViewChangeBody.TryParse / the verifier accept P and Q entries beyond h + L (MaxBodyLength is never enforced) and TryNewView embeds every VIEW-CHANGE it holds, so one Byzantine VIEW-CHANGE of maximal size makes every NEW-VIEW oversized (dropped as Oversized by all backups; Send throws with a real transport): no view forms")]
    public void OversizedByzantineViewChangeCannotSpoilEveryNewView()
    {
        var cell = new LoopbackCell();
        var byz = new Forge(cell, 3);
        cell.Crashed.Add(3);
        const int entries = 43_689;                          // 16 + 2·40 + 2·43,689·48 + 64 = 4 MiB = the verifier's max body
        var set = Enumerable.Range(1, entries).Select(i => ((ulong)i, 0UL, Forge.Zero32)).ToArray();
        var injected = new HashSet<ulong>();
        void InjectFor(ulong view)
        {
            if (!injected.Add(view)) return;
            var vcSet = set.Select(e => (e.Item1, Math.Min(e.Item2, view - 1), e.Item3)).ToArray();
            cell.InjectAll(3, byz.ViewChange(view, 0, 0, [(0, Forge.Zero32), (4, Forge.Zero32)], vcSet, vcSet), 0, 1, 2);
        }
        cell.Intercept = (from, to, m) => from < cell.N && to == 0 && LoopbackCell.Is(m, MessageType.Request);   // the relay to 0 is lost
        var r = cell.BuildRequest(1000, 1, 1);
        cell.Submit(1, r); cell.Submit(2, r);
        cell.Run();
        cell.Intercept = null;
        int newViews = 0, maxNewView = 0;
        cell.Observe = (from, to, m) => { if (LoopbackCell.Is(m, MessageType.NewView)) { newViews++; maxNewView = Math.Max(maxNewView, m.Length); } };
        bool Served() => new uint[] { 0, 1, 2 }.All(i => cell.ExecutedAt(i, 1000, 1).Count == 1);
        for (int t = 0; t < 1500 && !Served() && cell.Replicas.Take(3).Min(x => x.View) < 4; t++)
        {
            ulong v = cell.Replicas.Take(3).Min(x => x.View);
            InjectFor(v + 1);
            if (cell.Replicas.Take(3).Any(x => x.InViewChange)) InjectFor(cell.Replicas.Take(3).Max(x => x.View));
            cell.Tick();
        }
        long oversized = cell.Verifiers.Take(3).Sum(v => v.Drops[(int)ParseStatus.Oversized]);
        Assert.True(Served(), $"request served despite the oversized VIEW-CHANGE: views {string.Join(",", cell.Replicas.Take(3).Select(x => x.View))}, {newViews} NEW-VIEW sends, largest {maxNewView} bytes, {oversized} dropped as Oversized");
    }
}
