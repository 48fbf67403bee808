using System.Buffers;
using System.Text;
using FastBft.Execution.Odrc;
using FastBft.Service;
using FastBft.Wire;
using FastBft.Workloads.Kv;

namespace FastBft.Odrc.Tests;

/// <summary>The selector rule by rule (Thesis Figs. 6.3–6.8), replica 0 of an ODRC₄ cell (f = 1) over the KV service.</summary>
public sealed class SelectorTests
{
    private sealed class Out : ISelectorOutput
    {
        public readonly List<ObjectCheckpoint> Checkpoints = new();
        public readonly List<(uint To, byte[] Id, ulong Ordinal)> Fetches = new();
        public readonly List<(uint To, byte[] Id, ulong Ordinal, byte[] State)> States = new();
        public readonly List<ReplyHash> Verified = new();
        public void BroadcastObjectCheckpoint(ObjectCheckpoint checkpoint) => Checkpoints.Add(checkpoint);
        public void SendObjectFetch(uint to, ReadOnlySpan<byte> objectId, ulong ordinal) => Fetches.Add((to, objectId.ToArray(), ordinal));
        public void SendObjectState(uint to, ReadOnlySpan<byte> objectId, ulong ordinal, ReadOnlySpan<byte> state) => States.Add((to, objectId.ToArray(), ordinal, state.ToArray()));
        public void VerifiedReplies(ReadOnlySpan<ReplyHash> replies) { foreach (var r in replies) Verified.Add(r); }
    }

    private static readonly ObjectPlacement Placement = new(4, 1, PlacementStrategy.RoundRobin);
    private readonly KvService _service = new(new MemoryKvStore());
    private readonly Out _out = new();
    private readonly Selector _s;
    private readonly byte[] _mine, _other, _other2;
    private ulong _seq;

    public SelectorTests()
    {
        _s = new Selector(0, Placement, _service, _out, new SelectorOptions { CheckpointAccesses = 2, AlarmTicks = 5 });
        var mine = new List<byte[]>(); var other = new List<byte[]>();
        for (int i = 0; mine.Count < 1 || other.Count < 2; i++)
        {
            var k = Encoding.ASCII.GetBytes($"k{i}");
            (_s.Maintains(k) ? mine : other).Add(k);
        }
        _mine = mine[0]; _other = other[0]; _other2 = other[1];
    }

    private static byte[] Set(byte[] key, string v) { var w = new ArrayBufferWriter<byte>(); KvCodec.Set(w, key, Encoding.ASCII.GetBytes(v)); return w.WrittenSpan.ToArray(); }
    private static byte[] MSet(byte[] a, byte[] b, string v) { var w = new ArrayBufferWriter<byte>(); KvCodec.MSet(w, [(a, Encoding.ASCII.GetBytes(v)), (b, Encoding.ASCII.GetBytes(v))]); return w.WrittenSpan.ToArray(); }
    private OdrcRequest? Insert(uint client, ulong rid, byte[] op) => _s.InsertRequest(client, rid, ++_seq, 0, op);

    private List<OdrcRequest> DrainAll()
    {
        var list = new List<OdrcRequest>();
        OdrcRequest? r;
        while ((r = _s.NextRequest()) is not null)
        {
            var w = new ArrayBufferWriter<byte>();
            _service.Execute(new RequestInfo(r.ClientId, r.RequestId, r.Sequence, r.Index), r.Operation, w, null);
            _s.Executed(r, w.WrittenSpan);
            list.Add(r);
        }
        return list;
    }

    [Fact]
    public void ARequestOnAMaintainedObjectIsSelectedAndOneOnAnOtherIsStored_Fig63()
    {
        var a = Insert(1000, 1, Set(_mine, "x"))!;
        var b = Insert(1001, 1, Set(_other, "y"))!;
        Assert.Equal(OdrcRequestState.Selected, a.State);
        Assert.Equal(OdrcRequestState.Stored, b.State);
        Assert.Equal(2, System.Numerics.BitOperations.PopCount(a.Executors));      // f+1 executors
        var run = DrainAll();
        Assert.Equal([a], run);
        Assert.Equal(OdrcRun.Selected, a.Run);
    }

    [Fact]
    public void ACrossBorderRequestReplaysItsBackwardDependencyClosureInOrder_Fig66()
    {
        var q1 = Insert(1001, 1, Set(_other, "1"))!;                 // stored
        var q2 = Insert(1002, 1, MSet(_other, _other2, "2"))!;        // stored, brings _other2 into the closure
        var q3 = Insert(1003, 1, Set(_other2, "3"))!;                 // stored, on _other2 only: after q2
        var unrelated = Insert(1004, 1, Set(Encoding.ASCII.GetBytes("zz-unrelated"), "u"));
        var r = Insert(1000, 1, MSet(_mine, _other2, "r"))!;          // cross-border
        Assert.True(r.CrossBorder);
        var run = DrainAll();
        Assert.Equal([q1, q2, q3, r], run.Where(x => x != unrelated).ToList());
        Assert.All(new[] { q1, q2, q3 }, q => Assert.Equal(OdrcRun.Replay, q.Run));
        Assert.Equal("r", Encoding.ASCII.GetString(_service.Store.Get(_other2)!));
        Assert.Equal("2", Encoding.ASCII.GetString(_service.Store.Get(_other)!));
        Assert.Equal(3, _s.Stats.Replayed);
    }

    [Fact]
    public void ANoticeForARequestNeverOrderedIsIgnored_652()
    {
        Insert(1000, 1, Set(_other, "x"));
        Assert.Equal(ForceResult.NeverOrdered, _s.ForceRequest(1000, 2));
        Assert.Equal(ForceResult.NeverOrdered, _s.ForceRequest(4242, 1));
        Assert.Empty(DrainAll());
        Assert.Equal(2, _s.Stats.IgnoredNotices);
    }

    [Fact]
    public void AStalledResultNoticeForcesAStoredRequestHere_Fig67()
    {
        var q = Insert(1000, 1, Set(_other, "x"))!;
        Assert.Empty(DrainAll());
        Assert.Equal(ForceResult.Forced, _s.ForceRequest(1000, 1));
        var run = DrainAll();
        Assert.Equal([q], run);
        Assert.Equal(OdrcRun.Forced, q.Run);
        Assert.Equal(ForceResult.Executed, _s.ForceRequest(1000, 1));
        Assert.Empty(DrainAll());                                      // at most once
    }

    [Fact]
    public void ADuplicateOrderingOfARequestIsDropped()
    {
        Assert.NotNull(Insert(1000, 5, Set(_mine, "x")));
        Assert.Null(Insert(1000, 5, Set(_mine, "x")));
        Assert.Null(Insert(1000, 4, Set(_mine, "x")));
        Assert.Single(DrainAll());
    }

    [Fact]
    public void AnObjectCheckpointIsTakenAtTheKthAccessAndStableAtFPlus1Matching_634()
    {
        Insert(1000, 1, Set(_mine, "a"));
        Insert(1000, 2, Set(_mine, "b"));                              // 2nd access: K = 2
        DrainAll();
        var cp = Assert.Single(_out.Checkpoints);
        Assert.Equal(2UL, cp.Ordinal);
        Assert.Equal(2, cp.Replies.Length);
        Assert.Equal(0UL, _s.StableCheckpointOf(_mine));
        // a faulty replica's different checkpoint does not make anything stable
        var bad = new ObjectCheckpoint { Sender = 3, ObjectId = _mine, Ordinal = 2, StateHash = new byte[32], Replies = cp.Replies };
        _s.OnObjectCheckpoint(bad);
        _s.OnObjectCheckpoint(bad);                                    // a replay counts once
        Assert.Equal(0UL, _s.StableCheckpointOf(_mine));
        _s.OnObjectCheckpoint(new ObjectCheckpoint { Sender = 1, ObjectId = _mine, Ordinal = 2, StateHash = cp.StateHash, Replies = cp.Replies });
        Assert.Equal(2UL, _s.StableCheckpointOf(_mine));
        Assert.Equal(2, _out.Verified.Count);                          // reply hashes fed to the reply cache
    }

    [Fact]
    public void AStaleCopyIsUpdatedOnlyFromAStateThatMatchesTheStableCheckpoint_Fig66_651()
    {
        // two requests on _other (not maintained): K = 2, so the maintainers checkpoint it at ordinal 2
        Insert(1001, 1, Set(_other, "1"));
        Insert(1001, 2, Set(_other, "2"));
        var reference = new KvService(new MemoryKvStore());
        var w = new ArrayBufferWriter<byte>();
        reference.Execute(new RequestInfo(1001, 1, 1, 0), Set(_other, "1"), w, null);
        reference.Execute(new RequestInfo(1001, 2, 2, 0), Set(_other, "2"), w, null);
        var sw = new ArrayBufferWriter<byte>();
        reference.GetObjectState(_other, sw);
        var state = sw.WrittenSpan.ToArray();
        var hash = new byte[32];
        Digests.Sha256(state, hash);
        var maintainers = Enumerable.Range(0, 4).Where(i => ObjectPlacement.Contains(_s.MaintainersOf(_other), (uint)i)).ToArray();
        var replies = new[] { new ReplyHash(1, 1001, 1, 1, new byte[32]), new ReplyHash(2, 1001, 2, 2, new byte[32]) };
        foreach (var m in maintainers)
            _s.OnObjectCheckpoint(new ObjectCheckpoint { Sender = (uint)m, ObjectId = _other, Ordinal = 2, StateHash = hash, Replies = replies });
        Assert.Equal(2UL, _s.StableCheckpointOf(_other));
        Assert.Equal((2UL, false), _s.LocalVersion(_other));            // skipped both (G18 jump), copy stale until fetched
        Assert.Equal(2, _s.Stats.Skipped);
        var r = Insert(1000, 1, MSet(_mine, _other, "r"))!;            // cross-border: needs _other
        Assert.Empty(DrainAll());                                      // waits for the state
        var fetch = Assert.Single(_out.Fetches);
        Assert.Equal(2UL, fetch.Ordinal);
        Assert.False(_s.OnObjectState(fetch.To, _other, 2, [.. state, 0]));   // forged state: rejected
        Assert.Equal(1, _s.Stats.StatesRejected);
        Assert.Empty(DrainAll());
        Assert.True(_s.OnObjectState(fetch.To, _other, 2, state));
        Assert.False(_s.OnObjectState(fetch.To, _other, 2, state));    // a replayed answer is ignored
        Assert.Equal([r], DrainAll());
        Assert.Equal("r", Encoding.ASCII.GetString(_service.Store.Get(_other)!));
    }

    [Fact]
    public void AStalledObjectCheckpointRaisesTheAlarmAndForcesTheRequest_Fig68()
    {
        Insert(1001, 1, Set(_other, "1"));
        var trigger = Insert(1001, 2, Set(_other, "2"))!;              // K-th access of an unmaintained object
        for (int i = 0; i < 4; i++) _s.OnTick();
        Assert.Empty(DrainAll());
        _s.OnTick();
        var run = DrainAll();
        Assert.Equal(trigger, run[^1]);
        Assert.Equal(OdrcRun.Forced, trigger.Run);
        Assert.Equal(1, _s.Stats.Alarms);
        Assert.Contains(_out.Checkpoints, c => c.Ordinal == 2 && c.ObjectId.AsSpan().SequenceEqual(_other));   // the missing checkpoint
    }

    [Fact]
    public void CheckpointVotesFromOutsideTheCellOrOversizedAreDropped()
    {
        _s.OnObjectCheckpoint(new ObjectCheckpoint { Sender = 9, ObjectId = _mine, Ordinal = 2, StateHash = new byte[32], Replies = [] });
        _s.OnObjectCheckpoint(new ObjectCheckpoint { Sender = 1, ObjectId = _mine, Ordinal = 2, StateHash = new byte[31], Replies = [] });
        _s.OnObjectCheckpoint(new ObjectCheckpoint { Sender = 1, ObjectId = _mine, Ordinal = 2, StateHash = new byte[32], Replies = new ReplyHash[3] });
        Assert.Equal(3, _s.Stats.VotesDropped);
    }

    [Fact]
    public void AnAdoptionEndsOnceEveryMaintainerOfTheGroupCheckpointsAgainAfterTheStall_6614()
    {
        var stalled = Insert(1001, 1, Set(_other, "1"))!;
        Assert.Equal(OdrcRequestState.Stored, stalled.State);
        Assert.Equal(ForceResult.Forced, _s.ForceRequest(1001, 1));       // a stalled-result notice (client retransmission)
        DrainAll();
        Assert.Equal(1, _s.Stats.Adopted);
        var during = Insert(1002, 1, Set(_other, "2"))!;
        Assert.Equal(OdrcRequestState.Selected, during.State);             // adopted: executed here meanwhile
        Assert.True(during.TouchesAdopted);
        DrainAll();
        ulong m = _s.MaintainersOf(_other);
        var maintainers = Enumerable.Range(0, 4).Where(i => (m & (1UL << i)) != 0).Select(i => (uint)i).ToArray();
        ObjectCheckpoint Cp(uint from, ulong ordinal) => new() { Sender = from, ObjectId = _other, Ordinal = ordinal, StateHash = new byte[32], Replies = [] };
        _s.OnObjectCheckpoint(Cp(maintainers[0], _s.LastOrdinal));
        Assert.Equal(OdrcRequestState.Selected, Insert(1003, 1, Set(_other, "3"))!.State);   // one maintainer alive is not enough
        DrainAll();
        _s.OnObjectCheckpoint(Cp(maintainers[1], 1));                      // a checkpoint from before the stall proves nothing
        Assert.Equal(0, _s.Stats.AdoptionsEnded);
        _s.OnObjectCheckpoint(Cp(maintainers[1], _s.LastOrdinal));
        Assert.Equal(1, _s.Stats.AdoptionsEnded);
        Assert.Equal(OdrcRequestState.Stored, Insert(1004, 1, Set(_other, "4"))!.State);      // both checkpoint again: back to normal
    }
}
