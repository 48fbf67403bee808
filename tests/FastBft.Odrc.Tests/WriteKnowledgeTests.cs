using System.Buffers;
using System.Text;
using FastBft.Execution.Odrc;
using FastBft.Service;
using FastBft.Workloads.Coord;
using FastBft.Workloads.Kv;

namespace FastBft.Odrc.Tests;

/// <summary>
/// Write knowledge in the selector (Thesis §6.6.1.2; docs/odrc.md §3a), rule by rule and attack by attack: replica 0 of an
/// ODRC₄ cell (f = 1) over the KV service, K = 3 writes, K_max = 8 accesses.
/// </summary>
public sealed class WriteKnowledgeTests
{
    private sealed class Out : ISelectorOutput
    {
        public readonly List<ObjectCheckpoint> Checkpoints = new();
        public readonly List<(uint To, byte[] Id, ulong Ordinal)> Fetches = new();
        public readonly List<ReplyHash> Verified = new();
        public void BroadcastObjectCheckpoint(ObjectCheckpoint checkpoint) => Checkpoints.Add(checkpoint);
        public void SendObjectFetch(uint to, ReadOnlySpan<byte> objectId, ulong ordinal) => Fetches.Add((to, objectId.ToArray(), ordinal));
        public void SendObjectState(uint to, ReadOnlySpan<byte> objectId, ulong ordinal, ReadOnlySpan<byte> state) { }
        public void VerifiedReplies(ReadOnlySpan<ReplyHash> replies) { foreach (var r in replies) Verified.Add(r); }
    }

    private sealed class Node(uint self, bool writeKnowledge)
    {
        public readonly KvService Service = new(new MemoryKvStore());
        public readonly Out Out = new();
        public readonly Dictionary<OdrcRequest, string> Replies = new();
        public Selector S = null!;
        public Node Init() { S = new Selector(self, Placement, Service, Out, new SelectorOptions { CheckpointAccesses = 3, CheckpointMaxAccesses = 8, AlarmTicks = 5, WriteKnowledge = writeKnowledge }); return this; }

        public List<OdrcRequest> DrainAll()
        {
            var list = new List<OdrcRequest>();
            OdrcRequest? r;
            while ((r = S.NextRequest()) is not null)
            {
                var w = new ArrayBufferWriter<byte>();
                Service.Execute(new RequestInfo(r.ClientId, r.RequestId, r.Sequence, r.Index), r.Operation, w, null);
                S.Executed(r, w.WrittenSpan);
                Replies[r] = Encoding.ASCII.GetString(w.WrittenSpan);
                list.Add(r);
            }
            return list;
        }
    }

    private static readonly ObjectPlacement Placement = new(4, 1, PlacementStrategy.RoundRobin);
    private readonly Node _n = new Node(0, writeKnowledge: true).Init();
    private readonly byte[] _mine, _other, _other2;
    private ulong _seq;

    public WriteKnowledgeTests()
    {
        var mine = new List<byte[]>(); var other = new List<byte[]>();
        for (int i = 0; mine.Count < 1 || other.Count < 2; i++)
        {
            var k = Encoding.ASCII.GetBytes($"k{i}");
            (_n.S.Maintains(k) ? mine : other).Add(k);
        }
        _mine = mine[0]; _other = other[0]; _other2 = other[1];
    }

    private static byte[] Op(Action<ArrayBufferWriter<byte>> write) { var w = new ArrayBufferWriter<byte>(); write(w); return w.WrittenSpan.ToArray(); }
    private static byte[] Set(byte[] key, string v) => Op(w => KvCodec.Set(w, key, Encoding.ASCII.GetBytes(v)));
    private static byte[] Get(byte[] key) => Op(w => KvCodec.Get(w, key));
    private static byte[] Incr(byte[] key) => Op(w => KvCodec.IncrBy(w, key, 1));
    private static byte[] MSet(byte[] a, byte[] b, string v) => Op(w => KvCodec.MSet(w, [(a, Encoding.ASCII.GetBytes(v)), (b, Encoding.ASCII.GetBytes(v))]));
    private static byte[] MGet(byte[] a, byte[] b) => Op(w => KvCodec.MultiKey(w, KvOpCode.MGet, [a, b]));
    private OdrcRequest? Insert(uint client, ulong rid, byte[] op) => _n.S.InsertRequest(client, rid, ++_seq, 0, op);

    private uint[] MaintainersOf(byte[] key)
    {
        ulong m = _n.S.MaintainersOf(key);
        return Enumerable.Range(0, 4).Where(i => (m & (1UL << i)) != 0).Select(i => (uint)i).ToArray();
    }

    // ------------------------------------------------------------------ G19: checkpoint every K writes

    [Fact]
    public void WithWriteKnowledgeAnObjectIsCheckpointedAtEveryKthWriteAndTheIntervalListsItsReadsToo_G19()
    {
        var ops = new[] { Set(_mine, "a"), Get(_mine), Get(_mine), Set(_mine, "b"), Get(_mine), Get(_mine), Set(_mine, "c") };
        for (int i = 0; i < ops.Length; i++) Insert(1000 + (uint)i, 1, ops[i]);
        _n.DrainAll();
        var cp = Assert.Single(_n.Out.Checkpoints);
        Assert.Equal(7UL, cp.Ordinal);                                   // the 3rd write, not the 3rd access
        Assert.Equal([1UL, 2, 3, 4, 5, 6, 7], cp.Replies.Select(r => r.Access));   // every access of the interval, reads included

        // without write knowledge the same order is checkpointed at the 3rd and 6th access
        var plain = new Node(0, writeKnowledge: false).Init();
        for (int i = 0; i < ops.Length; i++) plain.S.InsertRequest(1000 + (uint)i, 1, (ulong)i + 1, 0, ops[i]);
        plain.DrainAll();
        Assert.Equal([3UL, 6], plain.Out.Checkpoints.Select(c => c.Ordinal));
    }

    [Fact]
    public void ReadsAloneCloseAnIntervalAtKMaxAccesses_G19()
    {
        Insert(1000, 1, Set(_mine, "a"));
        for (uint i = 0; i < 9; i++) Insert(1001 + i, 1, Get(_mine));
        _n.DrainAll();
        var cp = Assert.Single(_n.Out.Checkpoints);
        Assert.Equal(8UL, cp.Ordinal);                                   // K_max = 8 accesses since the start
        Assert.Equal(8, cp.Replies.Length);
    }

    [Fact]
    public void TwoMaintainersCountIdenticallyAndTheirCheckpointsMatch_G19()
    {
        uint other = MaintainersOf(_mine).First(m => m != 0);
        var b = new Node(other, writeKnowledge: true).Init();
        var ops = new List<byte[]> { Set(_mine, "a"), Get(_mine), MGet(_mine, _mine), Op(w => KvCodec.MultiKey(w, KvOpCode.Del, [_mine, _mine])), Get(_mine), Set(_mine, "c") };
        for (int i = 0; i < 8; i++) ops.Add(Get(_mine));
        for (int i = 0; i < ops.Count; i++) { Insert(1000 + (uint)i, 1, ops[i]); b.S.InsertRequest(1000 + (uint)i, 1, (ulong)i + 1, 0, ops[i]); }
        _n.DrainAll(); b.DrainAll();
        Assert.Equal([6UL, 14], _n.Out.Checkpoints.Select(c => c.Ordinal));  // 3rd write (SET at 6; a key named twice counts once), then K_max = 8 accesses later
        Assert.Equal(_n.Out.Checkpoints.Select(c => Convert.ToHexString(c.Digest())), b.Out.Checkpoints.Select(c => Convert.ToHexString(c.Digest())));
    }

    [Fact]
    public void ACheckpointVoteLongerThanKMaxIsDroppedAndOneWithinIsCounted()
    {
        var hashes = Enumerable.Range(1, 9).Select(i => new ReplyHash((ulong)i, 1, 1, 1, new byte[32])).ToArray();
        _n.S.OnObjectCheckpoint(new ObjectCheckpoint { Sender = 1, ObjectId = _mine, Ordinal = 9, StateHash = new byte[32], Replies = hashes });
        Assert.Equal(1, _n.S.Stats.VotesDropped);
        _n.S.OnObjectCheckpoint(new ObjectCheckpoint { Sender = 1, ObjectId = _mine, Ordinal = 8, StateHash = new byte[32], Replies = hashes[..8] });
        Assert.Equal(1, _n.S.Stats.VotesDropped);
        Assert.Equal(8, _n.S.CheckpointIntervalLimit);
        Assert.Equal(3, new Node(0, writeKnowledge: false).Init().S.CheckpointIntervalLimit);   // K without write knowledge
    }

    // ------------------------------------------------------------------ W2: replay only the requests that modify an object

    [Fact]
    public void AReadWhoseClientMayStillForceItIsReplayedWithTheStateAtItsPosition_W2Attack()
    {
        var setOld = Insert(1002, 1, Set(_other, "old"))!;
        var read = Insert(1001, 1, Get(_other))!;                       // its client still waits for it
        var setNew = Insert(1003, 1, Set(_other, "new"))!;
        var r = Insert(1000, 1, MGet(_mine, _other))!;                  // cross-border read: _other must be current
        Assert.Equal([setOld, read, setNew, r], _n.DrainAll());
        Assert.Equal(OdrcRun.Replay, read.Run);
        Assert.Contains("old", _n.Replies[read]);                        // answered with the state at its position
        Assert.Equal(0, _n.S.Stats.ReadsOmitted);
        // the client's stalled-result notice now finds it executed: the reply cache answers with that reply, nothing runs again
        Assert.Equal(ForceResult.Executed, _n.S.ForceRequest(1001, 1));
        Assert.Empty(_n.DrainAll());
    }

    [Fact]
    public void AReadIsLeftOutOfAnUpdateOnceItsClientMovedOnAndANoticeForItIsThenIgnored_W2Attack()
    {
        var setOld = Insert(1002, 1, Set(_other, "old"))!;
        var read = Insert(1001, 1, Get(_other))!;
        var setNew = Insert(1003, 1, Set(_other, "new"))!;
        var next = Insert(1001, 2, Get(_mine))!;                       // the reader's next request: it accepted the read
        var r = Insert(1000, 1, MGet(_mine, _other))!;
        Assert.Equal([next, setOld, setNew, r], _n.DrainAll());
        Assert.Equal(OdrcRequestState.Skipped, read.State);
        Assert.Equal(1, _n.S.Stats.ReadsOmitted);
        Assert.Contains("new", _n.Replies[r]);
        // the attack: a (faulty) client forces the skipped read after the object moved on. It must not run on the later
        // state ("new"): the notice is for a request that is not the client's latest, so it is ignored (§6.5.2)
        Assert.Equal(ForceResult.NeverOrdered, _n.S.ForceRequest(1001, 1));
        Assert.Empty(_n.DrainAll());
        Assert.DoesNotContain(read, _n.Replies.Keys);
    }

    [Fact]
    public void AReadWhoseReplyHashIsInAStableCheckpointIsLeftOutAndAnsweredFromTheVerifiedHash_W2()
    {
        var set1 = Insert(1002, 1, Set(_other, "a"))!;                 // write 1 of _other
        var blocker = Insert(1004, 1, MGet(_mine, _other))!;            // selected: blocks the G18 jump below
        var read = Insert(1001, 1, Get(_other))!;                       // access 3, its client has not moved on
        var set2 = Insert(1003, 1, Set(_other, "b"))!;                  // write 2
        var set3 = Insert(1005, 1, Set(_other, "c"))!;                  // write 3: the trigger at ordinal 5
        var replies = new[] { set1, blocker, read, set2, set3 }.Select((q, i) => new ReplyHash((ulong)i + 1, q.ClientId, q.RequestId, (ulong)i + 1, SHA(q.RequestId + (ulong)i))).ToArray();
        foreach (var m in MaintainersOf(_other))
            _n.S.OnObjectCheckpoint(new ObjectCheckpoint { Sender = m, ObjectId = _other, Ordinal = 5, StateHash = new byte[32], Replies = replies });
        Assert.Equal(5UL, _n.S.StableCheckpointOf(_other));
        Assert.Equal([set1, blocker], _n.DrainAll());                    // no jump (the blocker is selected): updated by replay
        var r = Insert(1000, 1, MGet(_mine, _other))!;
        Assert.Equal([set2, set3, r], _n.DrainAll());                    // the read's reply is verified: left out
        Assert.Equal(OdrcRequestState.Skipped, read.State);
        Assert.Equal(1, _n.S.Stats.ReadsOmitted);
        Assert.Equal(ForceResult.Skipped, _n.S.ForceRequest(1001, 1));   // a notice is answered from the verified hash
        Assert.Contains(_n.Out.Verified, h => h.ClientId == 1001 && h.RequestId == 1);
        Assert.Empty(_n.DrainAll());
    }

    [Fact]
    public void AWriteIsNeverLeftOutOfAnUpdate_W2()
    {
        var incr = Insert(1002, 1, Incr(_other))!;
        Insert(1002, 2, Get(_mine));                                    // the writer moved on
        var r = Insert(1000, 1, MGet(_mine, _other))!;
        var run = _n.DrainAll();
        Assert.Equal(OdrcRun.Replay, incr.Run);
        Assert.Contains("1", _n.Replies[r]);
        Assert.Equal(0, _n.S.Stats.ReadsOmitted);
        Assert.Equal(run.Count, run.Distinct().Count());
    }

    [Fact]
    public void WithoutWriteKnowledgeEveryReadIsReplayed()
    {
        var plain = new Node(0, writeKnowledge: false).Init();
        var read = plain.S.InsertRequest(1001, 1, 1, 0, Get(_other))!;
        plain.S.InsertRequest(1001, 2, 2, 0, Get(_mine));
        plain.S.InsertRequest(1000, 1, 3, 0, MGet(_mine, _other));
        plain.DrainAll();
        Assert.Equal(OdrcRun.Replay, read.Run);
        Assert.Equal(0, plain.S.Stats.ReadsOmitted);
    }

    // ------------------------------------------------------------------ W3: write-only overwrite

    [Fact]
    public void AWriteOnlyOverwriteOfAnUnmaintainedObjectIsSelectedWithoutUpdatingIt_W3()
    {
        var old = Insert(1001, 1, Set(_other, "1"))!;                  // stored
        var oldRead = Insert(1002, 1, Get(_other))!;
        Insert(1001, 2, Get(_mine)); Insert(1002, 2, Get(_mine));       // both clients moved on
        var r = Insert(1000, 1, MSet(_mine, _other, "r"))!;             // cross-border, overwrites _other without reading it
        var run = _n.DrainAll();
        Assert.DoesNotContain(old, run);
        Assert.DoesNotContain(oldRead, run);
        Assert.Equal(OdrcRequestState.Skipped, old.State);
        Assert.Equal(1, _n.S.Stats.Overwrites);
        Assert.Equal(2, _n.S.Stats.OverwriteDropped);
        Assert.Equal(0, _n.S.Stats.Replayed);
        Assert.Equal("r", Encoding.ASCII.GetString(_n.Service.Store.Get(_other)!));
        Assert.Equal((r.Ordinal, true), _n.S.LocalVersion(_other));      // current as of the overwrite
        Assert.Equal(ForceResult.NeverOrdered, _n.S.ForceRequest(1001, 1));   // the dropped write can never be forced here
        // a later request on _other builds on the overwrite: its update starts at r
        var incr = Insert(1003, 1, Incr(_other))!;
        var after = Insert(1000, 2, MGet(_mine, _other))!;
        Assert.Equal([incr, after], _n.DrainAll());
        Assert.Contains("ERR", _n.Replies[incr]);                        // "r" is not an integer: the state r left, not "1"
    }

    [Fact]
    public void AnOverwriteStillUpdatesWhenAnOlderRequestOnTheObjectMayStillBeForced_W3Attack()
    {
        var old = Insert(1001, 1, Set(_other, "1"))!;                  // its client still waits for it
        var r = Insert(1000, 1, MSet(_mine, _other, "r"))!;
        Assert.Equal([old, r], _n.DrainAll());
        Assert.Equal(OdrcRun.Replay, old.Run);
        Assert.Equal(0, _n.S.Stats.Overwrites);
        Assert.Equal(ForceResult.Executed, _n.S.ForceRequest(1001, 1));
    }

    [Fact]
    public void AnOverwriteStillUpdatesWhenAnOlderRequestAlsoWritesAnotherObject_W3()
    {
        var both = Insert(1001, 1, MSet(_other, _other2, "1"))!;       // needed for _other2, in order after its effect on _other
        Insert(1001, 2, Get(_mine));
        var r = Insert(1000, 1, MSet(_mine, _other, "r"))!;
        Assert.Equal([both], _n.DrainAll().Where(q => q == both).ToList());
        Assert.Equal(OdrcRun.Replay, both.Run);
        Assert.Equal(0, _n.S.Stats.Overwrites);
        Assert.Equal((r.Ordinal, true), _n.S.LocalVersion(_other));
        Assert.Equal(("1", "r"), (Encoding.ASCII.GetString(_n.Service.Store.Get(_other2)!), Encoding.ASCII.GetString(_n.Service.Store.Get(_other)!)));
    }

    [Fact]
    public void AnOverwriteOfAStaleCopyNeedsNoStateFetch_W3()
    {
        Insert(1001, 1, Set(_other, "1"));
        Insert(1001, 2, Set(_other, "2"));
        Insert(1001, 3, Set(_other, "3"));                              // write 3: trigger at ordinal 3
        var replies = Enumerable.Range(1, 3).Select(i => new ReplyHash((ulong)i, 1001, (ulong)i, (ulong)i, new byte[32])).ToArray();
        foreach (var m in MaintainersOf(_other))
            _n.S.OnObjectCheckpoint(new ObjectCheckpoint { Sender = m, ObjectId = _other, Ordinal = 3, StateHash = new byte[32], Replies = replies });
        Assert.Equal((3UL, false), _n.S.LocalVersion(_other));          // jumped (G18): the copy waits for the checkpoint state
        var r = Insert(1000, 1, MSet(_mine, _other, "r"))!;
        Assert.Equal([r], _n.DrainAll());                               // no wait for the state
        Assert.Empty(_n.Out.Fetches);
        Assert.Equal((r.Ordinal, true), _n.S.LocalVersion(_other));
        Assert.Equal("r", Encoding.ASCII.GetString(_n.Service.Store.Get(_other)!));
    }

    [Fact]
    public void AnAlarmForcedRequestUpdatesInFullAndTakesItsCheckpoint_Fig68()
    {
        Insert(1002, 1, Set(_other, "1"));
        Insert(1003, 1, Get(_other));
        Insert(1003, 2, Get(_mine));                                    // the reader moved on
        Insert(1004, 1, Set(_other, "2"));
        _n.DrainAll();
        var trigger = Insert(1001, 1, Set(_other, "3"))!;              // write 3 of _other: the alarm's request
        for (int i = 0; i < 5; i++) _n.S.OnTick();
        var run = _n.DrainAll();
        Assert.Equal(trigger, run[^1]);
        Assert.Equal(4, run.Count);                                      // the read was replayed, not left out
        Assert.Contains(_n.Out.Checkpoints, c => c.Ordinal == trigger.Ordinal && c.ObjectId.AsSpan().SequenceEqual(_other) && c.Replies.Length == 4);
    }

    // ------------------------------------------------------------------ the services' write knowledge

    [Fact]
    public void KvAccessKindsAgreeWithItsWriteAnalysisAndOnlySetAndMsetOverwrite()
    {
        var kv = new KvService(new MemoryKvStore());
        var ops = new (byte[] Op, ObjectAccess Kind)[]
        {
            (Get(_mine), ObjectAccess.Read), (MGet(_mine, _other), ObjectAccess.Read), (Op(w => KvCodec.MultiKey(w, KvOpCode.Exists, [_mine])), ObjectAccess.Read),
            (Set(_mine, "v"), ObjectAccess.Overwrite), (MSet(_mine, _other, "v"), ObjectAccess.Overwrite),
            (Incr(_mine), ObjectAccess.ReadWrite), (Op(w => KvCodec.MultiKey(w, KvOpCode.Del, [_mine])), ObjectAccess.ReadWrite),
        };
        foreach (var (op, kind) in ops)
        {
            var ids = new List<byte[]>();
            Assert.True(kv.AnalyzeRequest(op, ids));
            var kinds = new ObjectAccess[ids.Count];
            Assert.True(kv.AnalyzeAccess(op, kinds));
            Assert.All(kinds, k => Assert.Equal(kind, k));
            var written = new List<byte[]>();
            Assert.True(kv.AnalyzeWrites(op, written));
            Assert.Equal(kind == ObjectAccess.Read ? 0 : ids.Count, written.Count);
        }
        var truncated = Set(_mine, "v")[..^1];
        Assert.False(kv.AnalyzeAccess(truncated, new ObjectAccess[1]));   // a malformed SET writes nothing: no claim
    }

    [Fact]
    public void CoordSetDataIsNotAWriteOnlyOverwrite()
    {
        var coord = new CoordService();
        var kinds = new ObjectAccess[1];
        Assert.True(coord.AnalyzeAccess(CoordCodec.SetData("/a", [1], -1), kinds));
        Assert.Equal(ObjectAccess.CountedOverwrite, kinds[0]);           // it increments the version: a counted overwrite (W4, CountedOverwriteTests), never W3
        Assert.True(coord.AnalyzeAccess(CoordCodec.SetData("/a", [1], 0), kinds));
        Assert.Equal(ObjectAccess.ReadWrite, kinds[0]);                  // a conditional one checks the version
        Assert.True(coord.AnalyzeAccess(CoordCodec.GetData("/a"), kinds));
        Assert.Equal(ObjectAccess.Read, kinds[0]);
        var two = new ObjectAccess[2];
        Assert.True(coord.AnalyzeAccess(CoordCodec.Create("/a/b", [1]), two));
        Assert.All(two, k => Assert.Equal(ObjectAccess.ReadWrite, k));
    }

    /// <summary>A service that gives write knowledge only through <see cref="IObjectStateService.AnalyzeWrites"/> (no in-place analyzers).</summary>
    private sealed class ListOnlyService(KvService kv) : IObjectStateService
    {
        public bool AnalyzeRequest(ReadOnlySpan<byte> operation, List<byte[]> objectIds) => kv.AnalyzeRequest(operation, objectIds);
        public void GetObjectState(ReadOnlySpan<byte> objectId, IBufferWriter<byte> state) => kv.GetObjectState(objectId, state);
        public void SetObjectState(ReadOnlySpan<byte> objectId, ReadOnlySpan<byte> state) => kv.SetObjectState(objectId, state);
        public bool AnalyzeWrites(ReadOnlySpan<byte> operation, List<byte[]> written) => kv.AnalyzeWrites(operation, written);
    }

    [Fact]
    public void AServiceWithOnlyTheListFormGivesReadsAndWritesButNoOverwrites()
    {
        var kv = new KvService(new MemoryKvStore());
        var s = new Selector(0, Placement, new ListOnlyService(kv), new Out(), new SelectorOptions { CheckpointAccesses = 3, CheckpointMaxAccesses = 8, WriteKnowledge = true });
        var read = s.InsertRequest(1001, 1, 1, 0, Get(_other))!;
        var set = s.InsertRequest(1002, 1, 2, 0, Set(_other, "x"))!;
        s.InsertRequest(1001, 2, 3, 0, Get(_mine));
        s.InsertRequest(1002, 2, 4, 0, Get(_mine));                     // both clients moved on
        var r = s.InsertRequest(1000, 1, 5, 0, MSet(_mine, _other, "r"))!;
        var run = new List<OdrcRequest>();
        OdrcRequest? q;
        while ((q = s.NextRequest()) is not null)
        {
            var w = new ArrayBufferWriter<byte>();
            kv.Execute(new RequestInfo(q.ClientId, q.RequestId, q.Sequence, q.Index), q.Operation, w, null);
            s.Executed(q, w.WrittenSpan);
            run.Add(q);
        }
        Assert.Equal(OdrcRequestState.Skipped, read.State);             // W2: the read is known and left out
        Assert.Equal(OdrcRun.Replay, set.Run);                           // no overwrite knowledge: the SET is replayed
        Assert.Equal(1, s.Stats.ReadsOmitted);
        Assert.Equal(0, s.Stats.Overwrites);
        Assert.Equal(r, run[^1]);
    }

    private static byte[] SHA(ulong v) { var h = new byte[32]; BitConverter.TryWriteBytes(h, v); return h; }
}
