using System.Buffers;
using System.Text;
using FastBft.Execution.Odrc;
using FastBft.Service;
using FastBft.Workloads.Kv;

namespace FastBft.Odrc.Tests;

/// <summary>
/// Whole-replica state transfer at the selector (docs/odrc.md §9): a request between two objects' bases (S6, S7) and the
/// attacks on the restored replica — forged base states from f replicas (S4), forged or insufficient checkpoint votes for an
/// unresolved object (S7), a forged state for it after it resolved. ODRC₄, f = 1, K = 2, KV; the snapshot is written by
/// replica 0's selector (insertions only: the snapshot holds no object state) and installed by a fresh replica 3.
/// </summary>
public sealed class StateTransferSelectorTests
{
    private sealed class Out : ISelectorOutput
    {
        public readonly List<ObjectCheckpoint> Checkpoints = new();
        public readonly List<(uint To, byte[] Id, ulong Ordinal)> Fetches = new();
        public void BroadcastObjectCheckpoint(ObjectCheckpoint checkpoint) => Checkpoints.Add(checkpoint);
        public void SendObjectFetch(uint to, ReadOnlySpan<byte> objectId, ulong ordinal) => Fetches.Add((to, objectId.ToArray(), ordinal));
        public void SendObjectState(uint to, ReadOnlySpan<byte> objectId, ulong ordinal, ReadOnlySpan<byte> state) { }
        public void VerifiedReplies(ReadOnlySpan<ReplyHash> replies) { }
    }

    private static readonly ObjectPlacement Placement = new(4, 1, PlacementStrategy.RoundRobin);
    private static readonly SelectorOptions Options = new() { CheckpointAccesses = 2, AlarmTicks = 5, BaseFetchAttempts = 3 };
    /// <summary>Two keys replica 3 maintains: c stays cold, h is checkpointed past the multi-key request.</summary>
    private readonly byte[] _c, _h;
    private readonly Selector _source = new(0, Placement, new KvService(new MemoryKvStore()), new Out(), Options);
    private readonly KvService _reference = new(new MemoryKvStore());
    private readonly KvService _service = new(new MemoryKvStore());
    private readonly Out _out = new();
    private readonly Selector _r;
    private ulong _seq, _rid;

    public StateTransferSelectorTests()
    {
        _r = new Selector(3, Placement, _service, _out, Options);
        var mine = new List<byte[]>();
        for (int i = 0; mine.Count < 2; i++)
        {
            var k = Encoding.ASCII.GetBytes($"k{i}");
            if (_r.Maintains(k)) mine.Add(k);
        }
        _c = mine[0]; _h = mine[1];
    }

    private static byte[] Set(byte[] key, string v) { var w = new ArrayBufferWriter<byte>(); KvCodec.Set(w, key, Encoding.ASCII.GetBytes(v)); return w.WrittenSpan.ToArray(); }
    private static byte[] Get(byte[] key) { var w = new ArrayBufferWriter<byte>(); KvCodec.Get(w, key); return w.WrittenSpan.ToArray(); }
    private static byte[] MSet(byte[] a, byte[] b, string v) { var w = new ArrayBufferWriter<byte>(); KvCodec.MSet(w, [(a, Encoding.ASCII.GetBytes(v)), (b, Encoding.ASCII.GetBytes(v))]); return w.WrittenSpan.ToArray(); }
    private static byte[] Del(byte[] a, byte[] b) { var w = new ArrayBufferWriter<byte>(); KvCodec.MultiKey(w, KvOpCode.Del, [a, b]); return w.WrittenSpan.ToArray(); }
    private static byte[] StateOf(KvService kv, byte[] key) { var w = new ArrayBufferWriter<byte>(); kv.GetObjectState(key, w); return w.WrittenSpan.ToArray(); }

    /// <summary>Ordered before the snapshot: the source selector and the sequential reference see it.</summary>
    private void Before(byte[] op)
    {
        ++_rid;
        _source.InsertRequest(1000, _rid, ++_seq, 0, op);
        _reference.Execute(new RequestInfo(1000, _rid, _seq, 0), op, new ArrayBufferWriter<byte>(), null);
    }

    /// <summary>Ordered after the snapshot: the restored selector and the reference see it; returns the reference's reply.</summary>
    private (OdrcRequest? Request, string Reply) After(byte[] op)
    {
        ++_rid;
        var r = _r.InsertRequest(1000, _rid, ++_seq, 0, op);
        var w = new ArrayBufferWriter<byte>();
        _reference.Execute(new RequestInfo(1000, _rid, _seq, 0), op, w, null);
        return (r, Encoding.ASCII.GetString(w.WrittenSpan));
    }

    private void Restore()
    {
        var snap = new ArrayBufferWriter<byte>();
        _source.WriteSnapshot(snap);
        Assert.True(_r.TryRestore(snap.WrittenSpan));
    }

    /// <summary>Executes what the restored selector hands out; returns the replies by ordinal.</summary>
    private Dictionary<ulong, string> Drain()
    {
        var replies = new Dictionary<ulong, string>();
        OdrcRequest? q;
        while ((q = _r.NextRequest()) is not null)
        {
            var w = new ArrayBufferWriter<byte>();
            _service.Execute(new RequestInfo(q.ClientId, q.RequestId, q.Sequence, q.Index), q.Operation, w, null);
            _r.Executed(q, w.WrittenSpan);
            replies[q.Ordinal] = Encoding.ASCII.GetString(w.WrittenSpan);
        }
        return replies;
    }

    private static ObjectCheckpoint Vote(uint sender, byte[] id, ulong ordinal, byte[] state) =>
        new() { Sender = sender, ObjectId = id, Ordinal = ordinal, StateHash = System.Security.Cryptography.SHA256.HashData(state), Replies = [] };

    /// <summary>Answers to replica 3's base fetch of h at its last trigger (ordinal 4): <paramref name="forged"/> from replica 1 first.</summary>
    private void AnswerBaseOfH(byte[] forged)
    {
        var correct = StateOf(_reference, _h);
        Assert.False(_r.OnObjectState(1, _h, 4, forged));                  // a Byzantine replica's state alone
        Assert.False(_r.OnObjectState(1, _h, 4, correct));                 // first answer per sender: it cannot vote twice
        Assert.False(_r.OnObjectState(2, _h, 4, correct));                 // one correct answer: not f+1 identical yet
        Assert.Equal((4UL, false), _r.LocalVersion(_h));
        Assert.True(_r.OnObjectState(0, _h, 4, correct));                  // f+1 identical: accepted
    }

    /// <summary>
    /// S6/E1: MSET(c, h) is in c's open interval but in h's base (h was checkpointed past it). It overwrites h without reading
    /// it, so it is replayed for c only: c gets the MSET's value and h keeps its base state, even when h was installed first
    /// (the replay writes h in the service; the selector puts h's copy back). Before this change the snapshot was refused (S5).
    /// </summary>
    [Fact]
    public void AnOverwriteBetweenBasesIsReplayedOnThePendingObjectOnlyAndTheOtherKeepsItsBase_S6()
    {
        Before(MSet(_c, _h, "m"));
        for (int i = 0; i < 3; i++) Before(Set(_h, $"x{i}"));              // h: accesses 2..4, triggers at 2 and 4 (K = 2)
        Restore();
        Assert.Equal(1, _r.BetweenBasesReplayed);
        Assert.False(_r.IsUnresolved(_c));
        // h first: its base comes from f+1 identical OBJECT-STATEs (a forged one from replica 1 does not count)
        var (gh, expectH) = After(Get(_h));
        Assert.Empty(Drain());
        Assert.Contains(_out.Fetches, f => f.Id.AsSpan().SequenceEqual(_h) && f.Ordinal == 4);
        AnswerBaseOfH(Encoding.ASCII.GetBytes("\u0001forged"));
        Assert.Equal(expectH, Drain()[gh!.Ordinal]);
        // then c: the MSET is replayed without its effect on h
        var (gc, expectC) = After(Get(_c));
        var run = Drain();
        Assert.Equal(2, run.Count);                                        // the MSET (replay) and the GET
        Assert.Equal(expectC, run[gc!.Ordinal]);
        Assert.Equal("$1\r\nm\r\n", expectC);
        Assert.Equal(StateOf(_reference, _h), StateOf(_service, _h));      // h kept its base (x2), not the MSET's m
        Assert.Equal(StateOf(_reference, _c), StateOf(_service, _c));
        Assert.False(_r.IsRestoring(_c));
        Assert.False(_r.IsRestoring(_h));
    }

    /// <summary>
    /// S7 and its attacks: DEL(c, h) reads and writes both keys, so it cannot be replayed on c without h before it: c is
    /// unresolved. Requests on c are then not executed here (c is maintained here: it would otherwise be selected), so no
    /// reply of this replica can be wrong. A forged checkpoint vote (f = 1 replica), two disagreeing votes and a certified
    /// checkpoint before the gap resolve nothing; f+1 matching votes past the gap do, and then only the state with the
    /// certified hash is accepted (a forged OBJECT-STATE is rejected); afterwards replica 3 executes requests on c with the
    /// sequential reference's replies.
    /// </summary>
    [Fact]
    public void ANonReplayableRequestBetweenBasesLeavesItsObjectUnresolvedUntilACertifiedStateAndForgeriesDoNotResolveIt_S7()
    {
        Before(Set(_h, "0"));
        Before(Del(_c, _h));                                               // ordinal 2: c's first access; h's second (trigger)
        for (int i = 0; i < 2; i++) Before(Set(_h, $"x{i}"));              // h: trigger at access 4 (ordinal 4)
        Restore();
        Assert.True(_r.IsUnresolved(_c));
        Assert.False(_r.IsUnresolved(_h));
        Assert.Equal(1, _r.UnresolvedAtRestore);
        Assert.False(_r.LocalVersion(_c).Current);
        var (set, _) = After(Set(_c, "b"));                                // ordinal 5: c's second access, a checkpoint trigger
        Assert.Equal(OdrcRequestState.Skipped, set!.State);                // not selected although replica 3 maintains c
        Assert.Equal(1, _r.Stats.UnresolvedSkipped);
        Assert.Empty(Drain());
        Assert.Equal(ForceResult.Skipped, _r.ForceRequest(1000, set.RequestId));   // a notice does not make it execute here
        var correct = StateOf(_reference, _c);
        var forged = Encoding.ASCII.GetBytes("\u0001evil");
        _r.OnObjectCheckpoint(Vote(1, _c, 5, forged));                      // a Byzantine replica alone
        _r.OnObjectCheckpoint(Vote(1, _c, 5, correct));                     // first vote per sender
        Assert.True(_r.IsUnresolved(_c));
        _r.OnObjectCheckpoint(Vote(2, _c, 5, correct));                     // one correct vote beside the forged one: no f+1 match
        Assert.True(_r.IsUnresolved(_c));
        _r.OnObjectCheckpoint(Vote(0, _c, 3, correct));                     // a certified checkpoint before the gap (ordinal 3 < 5)…
        _r.OnObjectCheckpoint(Vote(2, _c, 3, correct));
        Assert.Equal(3UL, _r.StableCheckpointOf(_c));
        Assert.True(_r.IsUnresolved(_c));                                   // …does not cover the skipped request at 5
        _r.OnObjectCheckpoint(Vote(0, _c, 5, correct));                     // f+1 matching past the gap
        Assert.False(_r.IsUnresolved(_c));
        Assert.Equal((5UL, false), _r.LocalVersion(_c));                    // jumped: waits for the certified state
        Assert.Equal(1, _r.Stats.UnresolvedResolved);
        Assert.False(_r.OnObjectState(1, _c, 5, forged));                   // hash differs from the certified one
        Assert.Equal(1, _r.Stats.StatesRejected);
        Assert.True(_r.OnObjectState(2, _c, 5, correct));
        var (get, expect) = After(Get(_c));
        var run = Drain();
        Assert.Equal(expect, run[get!.Ordinal]);
        Assert.Equal("$1\r\nb\r\n", expect);
        Assert.Equal(StateOf(_reference, _c), StateOf(_service, _c));
        Assert.True(_r.LocalVersion(_c).Current);
    }

    /// <summary>S7 spreads: a later request on an unresolved object and a maintained one is not executed here, and the other object becomes unresolved too (its state after that request is unknown here).</summary>
    [Fact]
    public void ARequestOnAnUnresolvedObjectMakesItsOtherObjectsUnresolved_S7()
    {
        Before(Set(_h, "0"));
        Before(Del(_c, _h));
        for (int i = 0; i < 2; i++) Before(Set(_h, $"x{i}"));
        Restore();
        Assert.False(_r.IsUnresolved(_h));
        var (mset, _) = After(MSet(_c, _h, "n"));
        Assert.Equal(OdrcRequestState.Skipped, mset!.State);
        Assert.True(_r.IsUnresolved(_h));
        var (get, _) = After(Get(_h));
        Assert.Equal(OdrcRequestState.Skipped, get!.State);
        Assert.Empty(Drain());
        Assert.Empty(_out.Checkpoints);                                    // nothing executed, nothing checkpointed
    }

    /// <summary>E2: a multi-key read between bases changed nothing on its pending object: the snapshot installs, nothing is unresolved, and the read is not replayed.</summary>
    [Fact]
    public void AReadBetweenBasesIsNotReplayedAndResolvesNothing_S6()
    {
        var w = new ArrayBufferWriter<byte>();
        KvCodec.MultiKey(w, KvOpCode.MGet, [_c, _h]);
        Before(w.WrittenSpan.ToArray());                                   // ordinal 1: c's only access, h's first
        for (int i = 0; i < 3; i++) Before(Set(_h, $"x{i}"));              // h: triggers at accesses 2 and 4 (ordinals 2 and 4)
        Restore();
        Assert.Equal(1, _r.BetweenBasesReadsSkipped);
        Assert.Equal(0, _r.UnresolvedAtRestore);
        Assert.False(_r.IsUnresolved(_c));
        var (get, expect) = After(Get(_c));
        var run = Drain();
        Assert.Single(run);                                                // the GET only: the MGET is not replayed
        Assert.Equal(expect, run[get!.Ordinal]);
        Assert.Equal(StateOf(_reference, _c), StateOf(_service, _c));
    }

    /// <summary>
    /// A base state no f+1 replicas answer (withheld, or evicted everywhere): after <see cref="SelectorOptions.BaseFetchAttempts"/>
    /// fetch rounds the object is unresolved instead (S7), the request waiting for it is skipped here, and the selected queue
    /// behind it moves on — a request on another maintained object executes with the reference's reply. Before, the restored
    /// replica's queue blocked for good at that request.
    /// </summary>
    [Fact]
    public void AWithheldBaseStateMakesItsObjectUnresolvedAndTheQueueMovesOn_S7()
    {
        Before(Set(_c, "a"));
        for (int i = 0; i < 4; i++) Before(Set(_h, $"x{i}"));              // h: triggers at accesses 2 and 4 (ordinals 3 and 5)
        Restore();
        var (gh, _) = After(Get(_h));
        var (gc, expect) = After(Get(_c));
        Assert.Empty(Drain());                                             // the head waits for h's base (ordinal 5)
        var run = new Dictionary<ulong, string>();
        for (int t = 0; t < 100 && run.Count == 0; t++) { _r.OnTick(); run = Drain(); }
        Assert.Equal(3, _out.Fetches.Count(f => f.Id.AsSpan().SequenceEqual(_h) && f.Ordinal == 5));   // then it gave up
        Assert.True(_r.IsUnresolved(_h));
        Assert.Equal(OdrcRequestState.Skipped, gh!.State);
        Assert.False(run.ContainsKey(gh.Ordinal));
        Assert.Equal(expect, run[gc!.Ordinal]);
        Assert.Equal("$1\r\na\r\n", expect);
        Assert.False(_r.LocalVersion(_h).Current);
        var (later, _) = After(Set(_h, "y"));                              // and later requests on h are not executed here
        Assert.Equal(OdrcRequestState.Skipped, later!.State);
    }
}
