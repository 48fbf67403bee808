using System.Buffers;
using FastBft.Execution.Odrc;
using FastBft.Service;
using FastBft.Wire;

namespace FastBft.Simulation.Odrc;

/// <summary>
/// The deterministic ODRC simulator (docs/odrc.md §6): E execution replicas, each a <see cref="Selector"/> over its own
/// service instance, fed the same total order (the agreement stage is abstracted as an ordered log each replica consumes
/// at its own pace; a retransmitted request may be ordered twice); a seeded network (delays, optional loss) for object
/// checkpoints, object fetches, replies and stalled-result notices; clients that vote on f+1 matching replies (one full) and
/// send stalled-result notices on a timeout (Thesis §6.4.3). One faulty execution replica or client per scenario.
/// </summary>
/// <remarks>
/// Oracles: <b>validity</b> — every reply a client accepts equals the reply of a sequential reference execution of the
/// same order; <b>liveness</b> — every correct client finishes; <b>ordering</b> (§6.5.3) — on every correct replica the
/// requests touching one object execute in agreement order, each at most once; <b>convergence</b> — every object a correct
/// replica maintains equals the reference state once the order is drained; <b>local copies</b> (G18) — every copy a
/// correct replica holds as current equals the reference state of that object at the copy's ordinal; <b>execution
/// results</b> — every execution on a correct replica (selected, replayed or forced) yields the reference reply of that
/// request; <b>checkpoint states</b> — every object checkpoint a correct replica sends carries the hash of the reference
/// state of that object at that ordinal (these two check that write knowledge, §6.6.1.2, changes no result).
/// </remarks>
public sealed class OdrcSimulator
{
    private const int ClientTimeout = 30;
    private const int MaxSteps = 6000;

    private sealed class Msg
    {
        public int Kind;           // 0 checkpoint, 1 fetch, 2 state, 3 reply, 4 notice
        public uint From, To;
        public ObjectCheckpoint? Checkpoint;
        public byte[] Id = [];
        public ulong Ordinal;
        public byte[] Data = [];
        public uint Client;
        public ulong Rid;
        public byte[] Hash = [];
        public bool Full;
    }

    private sealed class Replica : ISelectorOutput
    {
        public uint Id;
        public OdrcSimulator Sim = null!;
        public Selector Selector = null!;
        public IReplicatedService Service = null!;
        public IObjectStateService Objects = null!;
        public int Consumed;
        public int Lag;
        public bool Faulty;
        public long CrashAt = long.MaxValue;
        public readonly Dictionary<uint, (ulong Rid, byte[]? Full, byte[] Hash)> Cache = new();
        public readonly Dictionary<byte[], ulong> LastExecuted = new(ByteComparer.Instance);
        public readonly HashSet<(uint, ulong)> ExecutedRequests = new();

        public void BroadcastObjectCheckpoint(ObjectCheckpoint cp) => Sim.OnBroadcastCheckpoint(this, cp);
        public void SendObjectFetch(uint to, ReadOnlySpan<byte> objectId, ulong ordinal)
        {
            if (to != uint.MaxValue) { Sim.Send(new Msg { Kind = 1, From = Id, To = to, Id = objectId.ToArray(), Ordinal = ordinal }, replicaTraffic: true); return; }
            foreach (var r in Sim._replicas)                                // to every other replica (a base state after a state transfer)
                if (r.Id != Id) Sim.Send(new Msg { Kind = 1, From = Id, To = r.Id, Id = objectId.ToArray(), Ordinal = ordinal }, replicaTraffic: true);
        }
        public void SendObjectState(uint to, ReadOnlySpan<byte> objectId, ulong ordinal, ReadOnlySpan<byte> state) => Sim.OnSendState(this, to, objectId, ordinal, state);
        public void VerifiedReplies(ReadOnlySpan<ReplyHash> replies)
        {
            foreach (var r in replies)
                if (!Cache.TryGetValue(r.ClientId, out var e) || e.Rid < r.RequestId) Cache[r.ClientId] = (r.RequestId, null, r.Hash);
        }
    }

    private sealed class Client
    {
        public uint Id;
        public bool Byzantine;
        public ulong Rid;
        public int Remaining;
        public bool Outstanding;
        public long SentAt, LastNotice;
        public readonly Dictionary<uint, byte[]> Votes = new();
        public readonly Dictionary<uint, byte[]> Fulls = new();
    }

    private readonly OdrcScenario _sc;
    private readonly SimRandom _rnd;
    private readonly IOdrcSimWorkload _workload;
    private readonly Replica[] _replicas;
    private readonly Client[] _clients;
    private readonly uint _faulty;
    private readonly List<(long Time, uint Client, ulong Rid, byte[] Op)> _order = new();
    private readonly PriorityQueue<Msg, (long, long)> _net = new();
    private long _netSeq;
    private long _t;
    private string? _invariant, _detail;
    private int _accepted;
    private readonly int _objects;
    private readonly Func<IReplicatedService> _serviceFactory;
    private readonly ObjectPlacement _placement;
    private readonly SelectorOptions _options;
    // OdrcBehaviour.StateTransfer: the replica cut off at _cutAt, whether it restarts empty, when it is back, the outcome
    private readonly uint _transferred = uint.MaxValue;
    private readonly long _cutAt;
    private readonly bool _restart;
    private bool _down;
    private int _restores, _refused;

    // the sequential reference (§6.5.3 validity)
    private readonly IReplicatedService _reference;
    private readonly IReplicatedService _fresh;       // the initial state (objects never written)
    private readonly IObjectStateService _referenceObjects;
    private readonly Dictionary<uint, ulong> _refLastRid = new();
    private readonly Dictionary<(uint, ulong), byte[]> _refReplies = new();
    private readonly Dictionary<byte[], List<(ulong Ordinal, byte[] State)>> _refHistory = new(ByteComparer.Instance);
    private ulong _refOrdinal;
    private readonly ArrayBufferWriter<byte> _w = new(256);
    private readonly List<byte[]> _keys = new();

    /// <summary>Creates the simulation of <paramref name="scenario"/>.</summary>
    /// <param name="scenario">the scenario.</param>
    /// <param name="serviceFactory">a new service instance (it must implement <see cref="IObjectStateService"/>).</param>
    /// <param name="workload">operations of that service.</param>
    /// <param name="clients">correct clients (the faulty client of <see cref="OdrcBehaviour.NeverOrderedNotices"/> comes in addition).</param>
    /// <param name="requestsPerClient">requests each client issues.</param>
    /// <param name="checkpointAccesses">K.</param>
    /// <exception cref="ArgumentException">the service does not implement <see cref="IObjectStateService"/>.</exception>
    public OdrcSimulator(OdrcScenario scenario, Func<IReplicatedService> serviceFactory, IOdrcSimWorkload workload,
        int clients = 3, int requestsPerClient = 12, int checkpointAccesses = 3)
    {
        _sc = scenario;
        _rnd = new SimRandom(scenario.Seed);
        _workload = workload;
        _objects = 4 + _rnd.Int(8);
        var placement = new ObjectPlacement(scenario.ExecutionReplicas, scenario.F, scenario.Placement);
        _faulty = scenario.Behaviour is OdrcBehaviour.None or OdrcBehaviour.NeverOrderedNotices or OdrcBehaviour.StateTransfer ? uint.MaxValue : (uint)_rnd.Int(scenario.ExecutionReplicas);
        var options = new SelectorOptions
        {
            CheckpointAccesses = checkpointAccesses, AlarmTicks = 60, FetchRetryTicks = 4, StableKept = 4, AdoptTicks = 150,
            WriteKnowledge = scenario.WriteKnowledge, CheckpointMaxAccesses = scenario.WriteKnowledge ? 4 * checkpointAccesses : 0,
        };
        _serviceFactory = serviceFactory;
        _placement = placement;
        _options = options;
        _replicas = new Replica[scenario.ExecutionReplicas];
        for (uint i = 0; i < _replicas.Length; i++)
        {
            var svc = serviceFactory();
            if (svc is not IObjectStateService os) throw new ArgumentException("the service must implement IObjectStateService", nameof(serviceFactory));
            var r = new Replica { Id = i, Sim = this, Service = svc, Objects = os, Lag = _rnd.Int(4), Faulty = i == _faulty };
            r.Selector = new Selector(i, placement, os, r, options);
            if (r.Faulty && scenario.Behaviour == OdrcBehaviour.Crash) r.CrashAt = _rnd.Range(0, 80);
            _replicas[i] = r;
        }
        if (scenario.Behaviour == OdrcBehaviour.StateTransfer)
        {
            _transferred = (uint)_rnd.Int(scenario.ExecutionReplicas);
            _cutAt = _rnd.Range(10, 100);
            _restart = _rnd.Chance(0.5);
        }
        var rs = serviceFactory();
        _fresh = serviceFactory();
        _reference = rs;
        _referenceObjects = (IObjectStateService)rs;
        int n = clients + (scenario.Behaviour == OdrcBehaviour.NeverOrderedNotices ? 1 : 0);
        _clients = new Client[n];
        for (int c = 0; c < n; c++)
            _clients[c] = new Client { Id = 1000 + (uint)c, Remaining = requestsPerClient, Byzantine = c == clients };
    }

    // a replica down for a state transfer counts as the scenario's one fault until it installs a snapshot (docs/odrc.md §9 S5:
    // a replica whose every snapshot is refused stays down, as if crashed; the run reports it in RestoresRefused)
    private bool Correct(Replica r) => !r.Faulty && !Down(r);
    private bool Silent(Replica r) => (r.Faulty && (_t >= r.CrashAt || _sc.Behaviour == OdrcBehaviour.NotSelecting)) || Down(r);
    private bool Down(Replica r) => r.Id == _transferred && _down;

    /// <summary>Optional trace of replica <see cref="TraceReplica"/>'s selector.</summary>
    public Action<string>? Trace { get; init; }
    /// <summary>Replica traced.</summary>
    public uint TraceReplica { get; init; }

    /// <summary>Runs the scenario to its end and checks every oracle.</summary>
    public OdrcSimResult Run()
    {
        try { RunCore(); }
        catch (Exception e) when (_invariant is null) { Fail("no exception", e.ToString()); }
        var sum = new SelectorStats();
        foreach (var r in _replicas)
        {
            if (!Correct(r)) continue;
            var s = r.Selector.Stats;
            sum.Inserted += s.Inserted; sum.CrossBorder += s.CrossBorder; sum.Forced += s.Forced; sum.Replayed += s.Replayed;
            sum.Skipped += s.Skipped; sum.StableCheckpoints += s.StableCheckpoints; sum.IgnoredNotices += s.IgnoredNotices;
            sum.Alarms += s.Alarms; sum.StatesInstalled += s.StatesInstalled; sum.StatesRejected += s.StatesRejected;
            sum.Executed += s.Executed; sum.Adopted += s.Adopted; sum.Selected += s.Selected; sum.Stored += s.Stored; sum.Updates += s.Updates;
            sum.ReadsOmitted += s.ReadsOmitted; sum.Overwrites += s.Overwrites; sum.OverwriteDropped += s.OverwriteDropped;
            sum.CountedOverwritesOmitted += s.CountedOverwritesOmitted; sum.CounterAdjustments += s.CounterAdjustments;
        }
        var t = _transferred != uint.MaxValue ? _replicas[(int)_transferred].Selector : null;
        return new OdrcSimResult(_sc, _invariant, _detail, _t, sum, _accepted)
        {
            Restores = _restores, RestoresRefused = _refused,
            BetweenBasesReplayed = t?.BetweenBasesReplayed ?? 0, BetweenBasesReadsSkipped = t?.BetweenBasesReadsSkipped ?? 0,
            UnresolvedAtRestore = t?.UnresolvedAtRestore ?? 0, UnresolvedResolved = t?.Stats.UnresolvedResolved ?? 0,
            UnresolvedSkipped = t?.Stats.UnresolvedSkipped ?? 0, UnresolvedAtEnd = t?.UnresolvedCount ?? 0,
        };
    }

    private void Fail(string invariant, string detail)
    {
        if (_invariant is not null) return;
        _invariant = invariant;
        _detail = detail;
    }

    private void RunCore()
    {
        if (Trace is { } tr) _replicas[TraceReplica].Selector.Trace = m => tr($"t={_t} {m}");
        long doneAt = -1;
        for (_t = 0; _t < MaxSteps && _invariant is null; _t++)
        {
            if (_transferred != uint.MaxValue) StepStateTransfer();
            StepClients();
            DeliverMessages();
            foreach (var r in _replicas) StepReplica(r);
            bool clientsDone = true;
            foreach (var c in _clients) if (!c.Byzantine && (c.Remaining > 0 || c.Outstanding)) clientsDone = false;
            if (clientsDone && doneAt < 0) doneAt = _t;
            if (doneAt >= 0 && Drained() && _t > doneAt + 5 && !(_down && _t <= _cutAt + 45)) break;   // a down replica gets its first attempt
        }
        if (_invariant is not null) return;
        foreach (var c in _clients)
            if (!c.Byzantine && (c.Remaining > 0 || c.Outstanding)) { Fail("liveness", $"client {c.Id} stalled at rid {c.Rid} (t={_t})"); return; }
        if (!Drained())
        {
            foreach (var r in _replicas)
                if (Correct(r) && (r.Consumed < _order.Count || r.Selector.SelectedCount > 0))
                { Fail("liveness", $"replica {r.Id} did not drain: consumed {r.Consumed}/{_order.Count}, selected {r.Selector.SelectedCount}, blocked {r.Selector.Stats.Blocked}, fetches {r.Selector.Stats.FetchesSent}, stale {r.Selector.DescribeStale()}; {Holders(r)}"); return; }
        }
        CheckConvergence();
    }

    private bool Drained()
    {
        foreach (var r in _replicas)
            if (Correct(r) && (r.Consumed < _order.Count || r.Selector.SelectedCount > 0)) return false;
        return true;
    }

    // ------------------------------------------------------------------ clients

    private void StepClients()
    {
        foreach (var c in _clients)
        {
            if (c.Byzantine)
            {
                // §6.5.2: notices for requests that were never ordered
                if (_t % 7 == 0 && _t < 400)
                    foreach (var r in _replicas) Send(new Msg { Kind = 4, From = c.Id, To = r.Id, Client = c.Id, Rid = 100 + (ulong)_t }, replicaTraffic: false);
                continue;
            }
            if (!c.Outstanding)
            {
                if (c.Remaining == 0) continue;
                c.Remaining--;
                c.Rid++;
                c.Outstanding = true;
                c.SentAt = _t;
                c.LastNotice = _t;
                c.Votes.Clear();
                c.Fulls.Clear();
                var op = _workload.Next(_rnd, _sc.Workload, _objects);
                Order(c.Id, c.Rid, op, _t + _rnd.Range(1, 3));
                if (_rnd.Chance(0.05)) Order(c.Id, c.Rid, op, _t + _rnd.Range(4, 12));     // a retransmission ordered twice
                continue;
            }
            if (_t - c.LastNotice >= ClientTimeout)
            {
                c.LastNotice = _t;
                foreach (var r in _replicas) Send(new Msg { Kind = 4, From = c.Id, To = r.Id, Client = c.Id, Rid = c.Rid }, replicaTraffic: false);
            }
        }
    }

    private void Order(uint client, ulong rid, byte[] op, long time)
    {
        // the order is append-only and its times are non-decreasing
        if (_order.Count > 0 && _order[^1].Time > time) time = _order[^1].Time;
        _order.Add((time, client, rid, op));
        // the sequential reference executes it now (duplicates dropped as the selectors do)
        if (_refLastRid.TryGetValue(client, out var last) && rid <= last) return;
        _refLastRid[client] = rid;
        _refOrdinal++;
        _w.ResetWrittenCount();
        _reference.Execute(new RequestInfo(client, rid, (ulong)_order.Count, 0), op, _w, null);
        _refReplies[(client, rid)] = _w.WrittenSpan.ToArray();
        _keys.Clear();
        if (!_referenceObjects.AnalyzeRequest(op, _keys) || _keys.Count == 0) { _keys.Clear(); _keys.Add([]); }
        foreach (var k in _keys)
        {
            _w.ResetWrittenCount();
            _referenceObjects.GetObjectState(k, _w);
            if (!_refHistory.TryGetValue(k, out var h)) _refHistory[k] = h = new();
            if (h.Count == 0 || h[^1].Ordinal != _refOrdinal) h.Add((_refOrdinal, _w.WrittenSpan.ToArray()));
        }
    }

    private void OnReply(Client c, Msg m)
    {
        if (c.Byzantine || !c.Outstanding || m.Rid != c.Rid) return;
        c.Votes[m.From] = m.Hash;
        if (m.Full) c.Fulls[m.From] = m.Data;
        foreach (var (_, full) in c.Fulls)
        {
            var h = new byte[32];
            Digests.Sha256(full, h);
            int matching = 0;
            foreach (var v in c.Votes.Values) if (v.AsSpan().SequenceEqual(h)) matching++;
            if (matching < _sc.F + 1) continue;
            if (!_refReplies.TryGetValue((c.Id, c.Rid), out var expected))
            { Fail("validity", $"client {c.Id} accepted rid {c.Rid} that was never ordered"); return; }
            if (!expected.AsSpan().SequenceEqual(full))
            { Fail("validity", $"client {c.Id} rid {c.Rid}: accepted reply differs from the sequential reference"); return; }
            c.Outstanding = false;
            _accepted++;
            return;
        }
    }

    // ------------------------------------------------------------------ network

    private void Send(Msg m, bool replicaTraffic)
    {
        if (_sc.Lossy && _rnd.Chance(0.05) && (replicaTraffic || m.Kind == 3)) return;
        long at = _t + _rnd.Range(1, 5);
        _net.Enqueue(m, (at, _netSeq++));
    }

    private void DeliverMessages()
    {
        while (_net.TryPeek(out var m, out var key) && key.Item1 <= _t)
        {
            _net.Dequeue();
            if (m.Kind == 3)
            {
                foreach (var c in _clients) if (c.Id == m.To) OnReply(c, m);
                continue;
            }
            var r = _replicas[m.To];
            if (Down(r)) continue;
            if (Silent(r) && m.Kind != 1) continue;
            if (r.Faulty && _t >= r.CrashAt) continue;
            switch (m.Kind)
            {
                case 0: r.Selector.OnObjectCheckpoint(m.Checkpoint!); break;
                case 1: r.Selector.OnObjectFetch(m.From, m.Id, m.Ordinal); break;
                case 2: r.Selector.OnObjectState(m.From, m.Id, m.Ordinal, m.Data); break;
                case 4: OnNotice(r, m.Client, m.Rid); break;
            }
        }
    }

    private void OnBroadcastCheckpoint(Replica from, ObjectCheckpoint cp)
    {
        if (Correct(from))
        {
            // oracle: a correct replica's object checkpoint is of the reference state at that ordinal
            var expected = _refHistory.TryGetValue(cp.ObjectId, out var history) ? StateAt(cp.ObjectId, history, cp.Ordinal) : StateAt(cp.ObjectId, [], cp.Ordinal);
            var h = new byte[32];
            Digests.Sha256(expected, h);
            if (!h.AsSpan().SequenceEqual(cp.StateHash)) Fail("checkpoint state", $"replica {from.Id}: checkpoint of '{Show(cp.ObjectId)}' at {cp.Ordinal} is not the reference state");
        }
        if (from.Faulty && _sc.Behaviour == OdrcBehaviour.SilentCheckpoints) return;
        if (from.Faulty && _sc.Behaviour == OdrcBehaviour.WrongCheckpoint)
        {
            var bad = (byte[])cp.StateHash.Clone();
            bad[0] ^= 0x5a;
            var replies = (ReplyHash[])cp.Replies.Clone();
            if (replies.Length > 0) { var h = (byte[])replies[0].Hash.Clone(); h[1] ^= 1; replies[0] = replies[0] with { Hash = h }; }
            cp = new ObjectCheckpoint { Sender = cp.Sender, ObjectId = cp.ObjectId, Ordinal = cp.Ordinal, StateHash = bad, Replies = replies };
        }
        foreach (var r in _replicas)
            if (r.Id != from.Id) Send(new Msg { Kind = 0, From = from.Id, To = r.Id, Checkpoint = cp }, replicaTraffic: true);
    }

    private void OnSendState(Replica from, uint to, ReadOnlySpan<byte> id, ulong ordinal, ReadOnlySpan<byte> state)
    {
        var data = state.ToArray();
        if (from.Faulty && _sc.Behaviour == OdrcBehaviour.WrongObjectState) { data = [.. data, 0x42]; }
        Send(new Msg { Kind = 2, From = from.Id, To = to, Id = id.ToArray(), Ordinal = ordinal, Data = data }, replicaTraffic: true);
    }

    private void SendReply(Replica r, uint client, ulong rid, byte[]? full, byte[] hash)
    {
        if (r.Faulty && _sc.Behaviour == OdrcBehaviour.WrongReply)
        {
            full = full is null ? null : [.. full, 0x21];
            hash = (byte[])hash.Clone();
            hash[0] ^= 0xff;
        }
        Send(new Msg { Kind = 3, From = r.Id, To = client, Rid = rid, Data = full ?? [], Full = full is not null, Hash = hash }, replicaTraffic: false);
    }

    private void OnNotice(Replica r, uint client, ulong rid)
    {
        if (r.Cache.TryGetValue(client, out var e) && e.Rid == rid) { SendReply(r, client, rid, e.Full, e.Hash); return; }
        if (r.Cache.TryGetValue(client, out e) && e.Rid > rid) return;
        var result = r.Selector.ForceRequest(client, rid);
        if (result == ForceResult.NeverOrdered)
        {
            foreach (var c in _clients)
                if (c.Id == client && c.Byzantine && _refReplies.ContainsKey((client, rid))) Fail("fault handling", "a never-ordered rid was ordered");
        }
        Drain(r);
    }

    // ------------------------------------------------------------------ replicas

    private void StepReplica(Replica r)
    {
        if (r.Faulty && _t >= r.CrashAt) return;
        if (Down(r)) return;
        while (r.Consumed < _order.Count && _order[r.Consumed].Time + r.Lag <= _t)
        {
            var (_, client, rid, op) = _order[r.Consumed];
            r.Consumed++;
            r.Selector.InsertRequest(client, rid, (ulong)r.Consumed, 0, op);
        }
        if (_t % 40 == 0) r.Lag = _rnd.Int(4);
        r.Selector.OnTick();
        Drain(r);
    }

    private void Drain(Replica r)
    {
        if (Silent(r)) return;
        OdrcRequest? q;
        while ((q = r.Selector.NextRequest()) is not null)
        {
            // §6.5.3 ordering and at-most-once, on correct replicas
            if (Correct(r))
            {
                if (!r.ExecutedRequests.Add((q.ClientId, q.RequestId))) { Fail("at most once", $"replica {r.Id} executed ({q.ClientId},{q.RequestId}) twice"); return; }
                _keys.Clear();
                if (!r.Objects.AnalyzeRequest(q.Operation, _keys) || _keys.Count == 0) { _keys.Clear(); _keys.Add([]); }
                foreach (var k in _keys)
                {
                    if (q.LeavesUnchanged(k)) continue;                    // replayed without its effect on k after a state transfer (docs/odrc.md §9 S6)
                    if (r.LastExecuted.TryGetValue(k, out var last) && last == q.Ordinal) continue;   // the operation names the object twice
                    if (r.LastExecuted.TryGetValue(k, out last) && last > q.Ordinal)
                    { Fail("ordering (§6.5.3)", $"replica {r.Id}: request {q.Ordinal} on an object after {last}"); return; }
                    r.LastExecuted[k] = q.Ordinal;
                }
            }
            _w.ResetWrittenCount();
            r.Service.Execute(new RequestInfo(q.ClientId, q.RequestId, q.Sequence, q.Index), q.Operation, _w, null);
            var reply = _w.WrittenSpan.ToArray();
            if (Correct(r) && (!_refReplies.TryGetValue((q.ClientId, q.RequestId), out var refReply) || !refReply.AsSpan().SequenceEqual(reply)))
            { Fail("execution result", $"replica {r.Id}: ({q.ClientId},{q.RequestId}) at {q.Ordinal} ({q.Run}) replied differently from the sequential reference"); return; }
            r.Selector.Executed(q, reply);
            var hash = new byte[32];
            Digests.Sha256(reply, hash);
            if (!r.Cache.TryGetValue(q.ClientId, out var e) || e.Rid <= q.RequestId) r.Cache[q.ClientId] = (q.RequestId, reply, hash);
            if (q.Run == OdrcRun.Replay) continue;
            bool full = q.Run == OdrcRun.Forced || q.TouchesAdopted || ObjectPlacement.Designated(q.Executors, q.ClientId, q.RequestId) == r.Id;
            SendReply(r, q.ClientId, q.RequestId, full ? reply : null, hash);
        }
    }

    // ------------------------------------------------------------------ whole-replica state transfer (docs/odrc.md §9)

    /// <summary>
    /// <see cref="OdrcBehaviour.StateTransfer"/>: at <c>_cutAt</c> the replica goes down (cut off: it receives nothing and
    /// consumes no order; a restart also loses its state); from 40 steps later, every 5 steps, it installs the agreement
    /// snapshot of the correct replica that has consumed the most of the order — checking first that every correct replica at
    /// that same position writes byte-identical snapshots (the agreement checkpoint digest must be identical) — and resumes
    /// from that position. A snapshot it refuses (docs/odrc.md §9) is retried with a later one.
    /// </summary>
    private void StepStateTransfer()
    {
        var r = _replicas[_transferred];
        if (_t == _cutAt) { _down = true; return; }
        if (!_down || _t < _cutAt + 40 || (_t - _cutAt) % 5 != 0) return;
        Replica? source = null;
        foreach (var q in _replicas) if (q != r && Correct(q) && (source is null || q.Consumed > source.Consumed)) source = q;
        if (source is null || source.Consumed < r.Consumed) return;
        var snapshot = new ArrayBufferWriter<byte>();
        source.Selector.WriteSnapshot(snapshot);
        foreach (var q in _replicas)
        {
            if (q == r || q == source || !Correct(q) || q.Consumed != source.Consumed) continue;
            var other = new ArrayBufferWriter<byte>();
            q.Selector.WriteSnapshot(other);
            if (!other.WrittenSpan.SequenceEqual(snapshot.WrittenSpan)) { Fail("snapshot agreement", $"replicas {source.Id} and {q.Id} at position {q.Consumed} write different agreement snapshots"); return; }
        }
        if (_restart)
        {
            var svc = _serviceFactory();
            var selector = new Selector(r.Id, _placement, (IObjectStateService)svc, r, _options);
            if (!selector.TryRestore(snapshot.WrittenSpan)) { _refused++; return; }
            r.Service = svc;
            r.Objects = (IObjectStateService)svc;
            r.Selector = selector;
            if (Trace is { } tr && TraceReplica == r.Id) selector.Trace = m => tr($"t={_t} {m}");
        }
        else if (!r.Selector.TryRestore(snapshot.WrittenSpan)) { _refused++; return; }
        _restores++;
        r.Consumed = source.Consumed;
        // a new incarnation of the replica's copies: requests after the bases are applied again to restored states, so the
        // at-most-once and per-object ordering oracles restart; the result, checkpoint and state oracles apply unchanged
        r.ExecutedRequests.Clear();
        r.LastExecuted.Clear();
        r.Cache.Clear();
        _down = false;
    }

    // ------------------------------------------------------------------ end-of-run oracles

    private void CheckConvergence()
    {
        foreach (var r in _replicas)
        {
            if (!Correct(r)) continue;
            foreach (var (key, history) in _refHistory)
            {
                var (applied, current) = r.Selector.LocalVersion(key);
                bool maintained = r.Selector.Maintains(key);
                // a maintained object restored by a state transfer is brought current on demand (docs/odrc.md §9 S3): only once used
                // an unresolved one (S7) is not used here until a stable object checkpoint past its gap
                // and a pure read between bases is not replayed after a state transfer (S6, E2): the copy is current over it
                if (maintained && applied != history[^1].Ordinal && !r.Selector.IsRestoring(key) && !r.Selector.IsUnresolved(key)
                    && !OnlySkippedReadsAfter(r, key, history, applied))
                { Fail("convergence", $"replica {r.Id} maintains object '{Show(key)}' at {applied}, order ends at {history[^1].Ordinal}"); return; }
                if (!current) continue;
                var expected = StateAt(key, history, applied);
                _w.ResetWrittenCount();
                r.Objects.GetObjectState(key, _w);
                if (!_w.WrittenSpan.SequenceEqual(expected))
                {
                    Fail(maintained ? "convergence" : "local copy (G18)", $"replica {r.Id}: object '{Show(key)}' at ordinal {applied} differs from the reference");
                    return;
                }
            }
        }
    }

    /// <summary>True if every request on <paramref name="key"/> after <paramref name="applied"/> is a pure read the replica's selector did not replay after a state transfer (docs/odrc.md §9 S6, E2).</summary>
    private static bool OnlySkippedReadsAfter(Replica r, byte[] key, List<(ulong Ordinal, byte[] State)> history, ulong applied)
    {
        foreach (var (o, _) in history) if (o > applied && !r.Selector.SkippedReadAt(key, o)) return false;
        return true;
    }

    private byte[] StateAt(byte[] key, List<(ulong Ordinal, byte[] State)> history, ulong ordinal)
    {
        byte[]? s = null;
        foreach (var (o, st) in history) { if (o > ordinal) break; s = st; }
        if (s is not null) return s;
        var fresh = (IObjectStateService)_fresh;
        _w.ResetWrittenCount();
        fresh.GetObjectState(key, _w);
        return _w.WrittenSpan.ToArray();
    }


    private string Holders(Replica stuck)
    {
        var sb = new System.Text.StringBuilder();
        foreach (var part in stuck.Selector.DescribeStale().Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var id = System.Text.Encoding.UTF8.GetBytes(part[..part.LastIndexOf('@')]);
            foreach (var r in _replicas) sb.Append($" r{r.Id}{(r.Faulty ? "(faulty)" : "")}:{r.Selector.DescribeHeld(id)};");
        }
        return sb.ToString();
    }

    private static string Show(byte[] key) => System.Text.Encoding.UTF8.GetString(key);

    private sealed class ByteComparer : IEqualityComparer<byte[]>
    {
        public static readonly ByteComparer Instance = new();
        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(byte[] obj) => (int)ObjectPlacement.Fnv1a(obj);
    }
}
