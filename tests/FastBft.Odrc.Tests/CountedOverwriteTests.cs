using System.Buffers;
using System.Text;
using FastBft.Execution.Odrc;
using FastBft.Service;
using FastBft.Workloads.Coord;

namespace FastBft.Odrc.Tests;

/// <summary>
/// Rule W4, counted overwrites (Thesis §6.6.1.2 with the ZooKeeper variant of §6.8.1, "process only the latest write and
/// adjust the version counter"; docs/odrc.md §3a): replica 0 of an ODRC₄ cell (f = 1) over the coordination service, with
/// write knowledge, brings a node it does not maintain up to date. Every test runs the same order on a sequential reference
/// service and compares every reply this replica computes and the full object state (data, version, child version,
/// sequence counter, children) of its copy with the reference at the copy's ordinal.
/// </summary>
public sealed class CountedOverwriteTests
{
    private sealed class Out : ISelectorOutput
    {
        public readonly List<ObjectCheckpoint> Checkpoints = new();
        public void BroadcastObjectCheckpoint(ObjectCheckpoint checkpoint) => Checkpoints.Add(checkpoint);
        public void SendObjectFetch(uint to, ReadOnlySpan<byte> objectId, ulong ordinal) { }
        public void SendObjectState(uint to, ReadOnlySpan<byte> objectId, ulong ordinal, ReadOnlySpan<byte> state) { }
        public void VerifiedReplies(ReadOnlySpan<ReplyHash> replies) { }
    }

    private static readonly ObjectPlacement Placement = new(4, 1, PlacementStrategy.RoundRobin);
    private readonly IObjectStateService _service;
    private readonly CoordService _reference = new();
    private readonly Selector _s;
    private readonly Dictionary<(uint, ulong), byte[]> _refReplies = new();
    private readonly List<(ulong Ordinal, byte[] State)> _refStates = new();   // reference state of _x after each ordinal
    private readonly Dictionary<OdrcRequest, byte[]> _replies = new();
    private readonly string _x, _mine;
    private ulong _seq;

    public CountedOverwriteTests() : this(new CoordService(), checkpointAccesses: 100, writeKnowledge: true) { }

    private CountedOverwriteTests(IObjectStateService service, int checkpointAccesses, bool writeKnowledge)
    {
        _service = service;
        _s = new Selector(0, Placement, service, new Out(), new SelectorOptions { CheckpointAccesses = checkpointAccesses, AlarmTicks = 1000, WriteKnowledge = writeKnowledge });
        string? x = null, mine = null;
        for (int i = 0; x is null || mine is null; i++)
        {
            string p = $"/n{i}";
            if (_s.Maintains(Encoding.UTF8.GetBytes(p))) mine ??= p; else x ??= p;
        }
        _x = x; _mine = mine;
    }

    private static CountedOverwriteTests With(int checkpointAccesses = 100, bool writeKnowledge = true, IObjectStateService? service = null) =>
        new(service ?? new CoordService(), checkpointAccesses, writeKnowledge);

    private static byte[] U(string s) => Encoding.UTF8.GetBytes(s);
    private static byte[] SetData(string path, string data, long version = -1) => CoordCodec.SetData(path, U(data), version);

    /// <summary>Orders (client, rid, op) here and at the reference.</summary>
    private OdrcRequest Insert(uint client, ulong rid, byte[] op)
    {
        var r = _s.InsertRequest(client, rid, ++_seq, 0, op)!;
        var w = new ArrayBufferWriter<byte>();
        ((IReplicatedService)_reference).Execute(new RequestInfo(client, rid, _seq, 0), op, w, null);
        _refReplies[(client, rid)] = w.WrittenSpan.ToArray();
        w.ResetWrittenCount();
        _reference.GetObjectState(U(_x), w);
        _refStates.Add((r.Ordinal, w.WrittenSpan.ToArray()));
        return r;
    }

    /// <summary>Executes what the selector hands out; every reply must equal the reference's.</summary>
    private List<OdrcRequest> Drain()
    {
        var run = new List<OdrcRequest>();
        OdrcRequest? r;
        while ((r = _s.NextRequest()) is not null)
        {
            var w = new ArrayBufferWriter<byte>();
            ((IReplicatedService)_service).Execute(new RequestInfo(r.ClientId, r.RequestId, r.Sequence, r.Index), r.Operation, w, null);
            _s.Executed(r, w.WrittenSpan);
            _replies[r] = w.WrittenSpan.ToArray();
            Assert.Equal(Convert.ToHexString(_refReplies[(r.ClientId, r.RequestId)]), Convert.ToHexString(w.WrittenSpan));
            run.Add(r);
        }
        return run;
    }

    /// <summary>The copy of _x is current and equals the reference state of _x at the copy's ordinal (every field).</summary>
    private void AssertCopyMatchesReference()
    {
        var (applied, current) = _s.LocalVersion(U(_x));
        Assert.True(current);
        var w = new ArrayBufferWriter<byte>();
        _service.GetObjectState(U(_x), w);
        byte[] expected = _refStates.Last(e => e.Ordinal <= applied).State;
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(w.WrittenSpan));
    }

    private static long VersionOf(byte[] getDataReply) => BitConverter.ToInt64(getDataReply, 1);

    /// <summary>The requests of <paramref name="run"/> that touch _x.</summary>
    private List<OdrcRequest> On(List<OdrcRequest> run) => run.Where(q =>
    {
        var ids = new List<byte[]>();
        return _reference.AnalyzeRequest(q.Operation, ids) && ids.Any(id => id.AsSpan().SequenceEqual(U(_x)));
    }).ToList();

    // ------------------------------------------------------------------ the rule

    [Fact]
    public void AChainOfUnconditionalSetDataIsReplayedAsItsLastOneWithTheVersionAdjusted_W4()
    {
        var create = Insert(1001, 1, CoordCodec.Create(_x, U("c")));
        var sets = Enumerable.Range(1, 5).Select(i => Insert(1002, (ulong)i, SetData(_x, $"d{i}"))).ToList();   // each supersedes the one before
        var read = Insert(1003, 1, CoordCodec.GetData(_x));
        Assert.Equal(OdrcRequestState.Stored, read.State);
        Assert.Equal(ForceResult.Forced, _s.ForceRequest(1003, 1));      // a getData forced at a non-maintainer
        var run = On(Drain());
        Assert.Equal([create, sets[4], read], run);                      // only the latest setData executes
        Assert.All(sets.Take(4), q => Assert.Equal(OdrcRequestState.Skipped, q.State));
        Assert.Equal(4, _s.Stats.CountedOverwritesOmitted);
        Assert.Equal(1, _s.Stats.CounterAdjustments);
        Assert.Equal(5L, VersionOf(_replies[read]));                     // version 5, as in the sequential order
        Assert.Equal("d5", Encoding.UTF8.GetString(_replies[read].AsSpan(9)));
        AssertCopyMatchesReference();
        // a left-out setData can never be forced here: its client has moved on (§6.5.2)
        Assert.Equal(ForceResult.NeverOrdered, _s.ForceRequest(1002, 2));
    }

    [Fact]
    public void AForcedSetDataClosesTheRunItselfAndRepliesWithTheAdjustedVersion_W4()
    {
        Insert(1001, 1, CoordCodec.Create(_x, U("c")));
        for (ulong i = 1; i <= 3; i++) Insert(1002, i, SetData(_x, $"d{i}"));
        Insert(1002, 4, CoordCodec.GetData(_mine));                      // the writer moved on: all three are superseded
        var r = Insert(1003, 1, SetData(_x, "r"));
        Assert.Equal(ForceResult.Forced, _s.ForceRequest(1003, 1));
        var run = On(Drain());
        Assert.Equal(2, run.Count);                                      // the create, then r
        Assert.Equal(r, run[^1]);
        Assert.Equal(3, _s.Stats.CountedOverwritesOmitted);
        Assert.Equal(4L, BitConverter.ToInt64(_replies[r], 1));          // new version 4: three skipped, one by r
        AssertCopyMatchesReference();
    }

    [Fact]
    public void ASetDataWhoseClientMayStillForceItExecutesAtItsPositionAndItsReplyIsCorrect_W4Attack()
    {
        Insert(1001, 1, CoordCodec.Create(_x, U("c")));
        var s1 = Insert(1002, 1, SetData(_x, "a"));
        var waiting = Insert(1004, 1, SetData(_x, "b"));                 // its client still waits for it: its reply may be forced
        var s3 = Insert(1002, 2, SetData(_x, "c"));
        var s4 = Insert(1002, 3, SetData(_x, "d"));
        var read = Insert(1003, 1, CoordCodec.GetData(_x));
        _s.ForceRequest(1003, 1);
        var run = On(Drain());
        Assert.Contains(waiting, run);                                   // not left out: it closes the first run
        Assert.DoesNotContain(s1, run);
        Assert.DoesNotContain(s3, run);
        Assert.Contains(s4, run);
        Assert.Equal(2, _s.Stats.CountedOverwritesOmitted);
        Assert.Equal(2, _s.Stats.CounterAdjustments);
        Assert.Equal(2L, BitConverter.ToInt64(_replies[waiting], 1));    // the version at its position (1 skipped before it)
        // its client's stalled-result notice finds it executed: answered from the reply cache with that reply
        Assert.Equal(ForceResult.Executed, _s.ForceRequest(1004, 1));
        Assert.Equal(4L, VersionOf(_replies[read]));
        AssertCopyMatchesReference();
    }

    [Fact]
    public void AConditionalSetDataInTheChainEndsTheRunAndSeesTheExactVersion_W4()
    {
        Insert(1001, 1, CoordCodec.Create(_x, U("c")));
        Insert(1002, 1, SetData(_x, "a"));
        Insert(1002, 2, SetData(_x, "b"));
        var okCond = Insert(1005, 1, SetData(_x, "cond", version: 2));   // succeeds only at version 2 exactly
        var badCond = Insert(1006, 1, SetData(_x, "bad", version: 2));   // now at 3: BadVersion
        Insert(1002, 3, SetData(_x, "e"));
        Insert(1002, 4, SetData(_x, "f"));
        var read = Insert(1003, 1, CoordCodec.GetData(_x));
        _s.ForceRequest(1003, 1);
        var run = On(Drain());
        Assert.Contains(okCond, run);                                    // conditional setData reads the version: replayed
        Assert.Contains(badCond, run);
        Assert.Equal(CoordStatus.Ok, (CoordStatus)_replies[okCond][0]);
        Assert.Equal(CoordStatus.BadVersion, (CoordStatus)_replies[badCond][0]);
        Assert.Equal(2, _s.Stats.CountedOverwritesOmitted);              // "a" before the first conditional, "e" before the read
        Assert.Equal(5L, VersionOf(_replies[read]));
        AssertCopyMatchesReference();
    }

    [Fact]
    public void ADeleteAndCreateInBetweenEndTheRunSoNoSkippedSetDataCrossesThem_W4()
    {
        Insert(1001, 1, CoordCodec.Create(_x, U("c")));
        Insert(1002, 1, SetData(_x, "a"));
        Insert(1002, 2, SetData(_x, "b"));
        var delete = Insert(1001, 2, CoordCodec.Delete(_x));
        var onMissing = Insert(1002, 3, SetData(_x, "lost"));            // NoNode in the sequential order
        var recreate = Insert(1001, 3, CoordCodec.Create(_x, U("c2")));
        Insert(1002, 4, SetData(_x, "e"));
        Insert(1002, 5, SetData(_x, "f"));
        var read = Insert(1003, 1, CoordCodec.GetData(_x));
        _s.ForceRequest(1003, 1);
        var run = On(Drain());
        Assert.Contains(delete, run);
        Assert.Contains(recreate, run);
        Assert.Contains(onMissing, run);                                 // alone in its run between delete and create: executed
        Assert.Equal(CoordStatus.NoNode, (CoordStatus)_replies[onMissing][0]);
        Assert.Equal(2, _s.Stats.CountedOverwritesOmitted);              // "a" (before "b") and "e" (before "f")
        Assert.Equal(2L, VersionOf(_replies[read]));                      // the recreated node's version, not 5
        Assert.Equal("f", Encoding.UTF8.GetString(_replies[read].AsSpan(9)));
        AssertCopyMatchesReference();
    }

    [Fact]
    public void SkippedSetDataOnAMissingNodeLeaveItMissing_W4()
    {
        for (ulong i = 1; i <= 4; i++) Insert(1002, i, SetData(_x, $"d{i}"));   // the node never exists: all NoNode
        var read = Insert(1003, 1, CoordCodec.Exists(_x));
        _s.ForceRequest(1003, 1);
        var run = On(Drain());
        Assert.Equal(2, run.Count);
        Assert.Equal(3, _s.Stats.CountedOverwritesOmitted);
        Assert.Equal(CoordStatus.NoNode, (CoordStatus)_replies[read][0]);
        AssertCopyMatchesReference();
    }

    [Fact]
    public void ReadsBetweenTheSetDataAreLeftOutOnlyIfNoReplyOfTheirsCanBeNeeded_W4()
    {
        Insert(1001, 1, CoordCodec.Create(_x, U("c")));
        Insert(1002, 1, SetData(_x, "a"));
        Insert(1007, 1, CoordCodec.GetData(_x));
        Insert(1007, 2, CoordCodec.GetData(_mine));                      // that reader moved on: left out (W2), the run goes on
        Insert(1002, 2, SetData(_x, "b"));
        var waitingRead = Insert(1008, 1, CoordCodec.GetData(_x));      // this reader still waits: replayed, it sees "b" at version 2
        Insert(1002, 3, SetData(_x, "c"));
        Insert(1002, 4, SetData(_x, "d"));
        var read = Insert(1003, 1, CoordCodec.GetData(_x));
        _s.ForceRequest(1003, 1);
        var run = On(Drain());
        Assert.Contains(waitingRead, run);
        Assert.Equal(2L, VersionOf(_replies[waitingRead]));
        Assert.Equal("b", Encoding.UTF8.GetString(_replies[waitingRead].AsSpan(9)));
        Assert.Equal(2, _s.Stats.CountedOverwritesOmitted);              // "a" (before "b") and "c" (before "d")
        Assert.Equal(1, _s.Stats.ReadsOmitted);
        Assert.Equal(4L, VersionOf(_replies[read]));
        AssertCopyMatchesReference();
    }

    [Fact]
    public void ACheckpointTriggerInTheChainIsNeverLeftOut_W4()
    {
        var t = With(checkpointAccesses: 3);
        t.Insert(1001, 1, CoordCodec.Create(t._x, U("c")));              // write 1 of _x
        var sets = Enumerable.Range(1, 4).Select(i => t.Insert(1002, (ulong)i, SetData(t._x, $"d{i}"))).ToList();   // writes 2..5: the 3rd is a trigger
        var read = t.Insert(1003, 1, CoordCodec.GetData(t._x));
        t._s.ForceRequest(1003, 1);
        var run = t.On(t.Drain());
        Assert.Contains(sets[1], run);                                   // the trigger executes (this replica can take that checkpoint)
        Assert.Contains(sets[3], run);
        Assert.Equal(2, t._s.Stats.CountedOverwritesOmitted);            // sets[0] before the trigger, sets[2] before the last one
        Assert.Equal(4L, VersionOf(t._replies[read]));
        t.AssertCopyMatchesReference();
    }

    [Fact]
    public void WithoutWriteKnowledgeEverySetDataIsReplayed()
    {
        var t = With(writeKnowledge: false);
        t.Insert(1001, 1, CoordCodec.Create(t._x, U("c")));
        for (ulong i = 1; i <= 4; i++) t.Insert(1002, i, SetData(t._x, $"d{i}"));
        t.Insert(1003, 1, CoordCodec.GetData(t._x));
        t._s.ForceRequest(1003, 1);
        Assert.Equal(6, t.On(t.Drain()).Count);
        Assert.Equal(0, t._s.Stats.CountedOverwritesOmitted);
        t.AssertCopyMatchesReference();
    }

    /// <summary>A service that claims counted overwrites but cannot account for skipped ones (no <see cref="ICountedOverwriteService"/>).</summary>
    private sealed class NoCounter(CoordService coord) : IReplicatedService, IObjectStateService, IInPlaceRequestAnalyzer, IInPlaceWriteAnalyzer
    {
        public void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update) => coord.Execute(request, operation, reply, update);
        public void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update) => coord.ApplyUpdate(request, update);
        public void GetStateDigest(Span<byte> digest32) => coord.GetStateDigest(digest32);
        public void WriteSnapshot(Stream destination) => coord.WriteSnapshot(destination);
        public void RestoreSnapshot(Stream source) => coord.RestoreSnapshot(source);
        public bool AnalyzeRequest(ReadOnlySpan<byte> operation, List<byte[]> objectIds) => coord.AnalyzeRequest(operation, objectIds);
        public bool AnalyzeRequest(ReadOnlySpan<byte> operation, ObjectIdBuffer objects) => coord.AnalyzeRequest(operation, objects);
        public void GetObjectState(ReadOnlySpan<byte> objectId, IBufferWriter<byte> state) => coord.GetObjectState(objectId, state);
        public void SetObjectState(ReadOnlySpan<byte> objectId, ReadOnlySpan<byte> state) => coord.SetObjectState(objectId, state);
        public bool AnalyzeWrites(ReadOnlySpan<byte> operation, List<byte[]> written) => coord.AnalyzeWrites(operation, written);
        public bool AnalyzeAccess(ReadOnlySpan<byte> operation, Span<ObjectAccess> kinds) => coord.AnalyzeAccess(operation, kinds);
    }

    [Fact]
    public void ACountedOverwriteOfAServiceThatCannotAccountForSkippedOnesIsAReadWrite()
    {
        var t = With(service: new NoCounter(new CoordService()));
        t.Insert(1001, 1, CoordCodec.Create(t._x, U("c")));
        for (ulong i = 1; i <= 4; i++) t.Insert(1002, i, SetData(t._x, $"d{i}"));
        t.Insert(1003, 1, CoordCodec.GetData(t._x));
        t._s.ForceRequest(1003, 1);
        Assert.Equal(6, t.On(t.Drain()).Count);
        Assert.Equal(0, t._s.Stats.CountedOverwritesOmitted);
    }

    // ------------------------------------------------------------------ the service's side

    [Fact]
    public void OnlyAnUnconditionalSetDataOfANodeThatIsItsOwnObjectIsACountedOverwrite()
    {
        var coord = new CoordService();
        var cases = new (byte[] Op, ObjectAccess Kind)[]
        {
            (SetData("/a", "x"), ObjectAccess.CountedOverwrite),
            (SetData("/a/b", "x", version: -1), ObjectAccess.CountedOverwrite),
            (SetData("/a", "x", version: 0), ObjectAccess.ReadWrite),                       // conditional: reads the version
            (SetData("/a", "x", version: -2), ObjectAccess.ReadWrite),
            (SetData("/q/item#0000000003", "x"), ObjectAccess.ReadWrite),                 // lives in its parent's object
            (CoordCodec.GetData("/a"), ObjectAccess.Read), (CoordCodec.Exists("/a"), ObjectAccess.Read), (CoordCodec.GetChildren("/a"), ObjectAccess.Read),
            (CoordCodec.Create("/a/b", U("x")), ObjectAccess.ReadWrite), (CoordCodec.Delete("/a/b"), ObjectAccess.ReadWrite),
            (CoordCodec.Create("/a/q", U("x"), sequential: true), ObjectAccess.ReadWrite),
        };
        foreach (var (op, kind) in cases)
        {
            var ids = new List<byte[]>();
            Assert.True(coord.AnalyzeRequest(op, ids));
            var kinds = new ObjectAccess[ids.Count];
            Assert.True(coord.AnalyzeAccess(op, kinds));
            Assert.All(kinds, k => Assert.Equal(kind, k));
            var written = new List<byte[]>();
            Assert.True(coord.AnalyzeWrites(op, written));
            Assert.Equal(kind == ObjectAccess.Read ? 0 : ids.Count, written.Count);
        }
        Assert.False(coord.AnalyzeAccess(SetData("/a", "x")[..^1], new ObjectAccess[1]));   // malformed: no claim
    }

    [Fact]
    public void AccountingForKSkippedSetDataThenRunningTheNextEqualsRunningThemAll()
    {
        // the contract of ObjectAccess.CountedOverwrite, over node states that differ in existence, version, children and sequence counter
        var rnd = new Random(7);
        for (int trial = 0; trial < 200; trial++)
        {
            var a = new CoordService();
            var b = new CoordService();
            int prefix = rnd.Next(6);
            for (int i = 0; i < prefix; i++)
            {
                byte[] op = rnd.Next(6) switch
                {
                    0 => CoordCodec.Create("/z", U($"c{i}")),
                    1 => CoordCodec.Delete("/z"),
                    2 => CoordCodec.Create("/z/k", U("k")),
                    3 => CoordCodec.Create("/z/s", U("s"), sequential: true),
                    4 => SetData("/z", $"p{i}"),
                    _ => CoordCodec.Delete("/z/k"),
                };
                Run(a, op); Run(b, op);
            }
            int k = 1 + rnd.Next(5);
            for (int i = 0; i < k; i++) Run(a, SetData("/z", $"s{i}"));
            b.AccountSkippedOverwrites(U("/z"), (ulong)k);
            var last = SetData("/z", "last");
            Assert.Equal(Convert.ToHexString(Run(a, last)), Convert.ToHexString(Run(b, last)));
            Assert.Equal(Convert.ToHexString(State(a, "/z")), Convert.ToHexString(State(b, "/z")));
            Assert.Equal(Convert.ToHexString(State(a, "/")), Convert.ToHexString(State(b, "/")));
        }

        static byte[] Run(CoordService s, byte[] op)
        {
            var w = new ArrayBufferWriter<byte>();
            s.Execute(new RequestInfo(1, 1, 1, 0), op, w, null);
            return w.WrittenSpan.ToArray();
        }
        static byte[] State(CoordService s, string id)
        {
            var w = new ArrayBufferWriter<byte>();
            s.GetObjectState(Encoding.UTF8.GetBytes(id), w);
            return w.WrittenSpan.ToArray();
        }
    }
}
