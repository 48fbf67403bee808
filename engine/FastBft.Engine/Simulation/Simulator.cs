using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.Client;
using FastBft.Protocol;
using FastBft.Service;
using FastBft.Wire;

namespace FastBft.Simulation;

/// <summary>Outcome of one simulated scenario.</summary>
/// <param name="Scenario">the scenario.</param>
/// <param name="Invariant">null if every invariant held; else the first violated one (agreement, validity, convergence, liveness, commit-certificate).</param>
/// <param name="Detail">human-readable detail of the violation.</param>
/// <param name="TraceHash">hash of the full event trace (same seed ⇒ same hash).</param>
/// <param name="Events">events processed.</param>
/// <param name="EndTime">virtual time (ms) at which the run ended.</param>
/// <param name="LivenessChecked">false when the protocol cannot recover from this fault (e.g. no view change yet) and liveness was not asserted.</param>
/// <param name="ActivationTime">virtual time the fault started (-1 if never).</param>
/// <param name="FinishTime">virtual time every correct client had completed its requests (-1 if not).</param>
/// <param name="MaxView">highest view any correct replica reached.</param>
/// <param name="Completed">requests completed by correct clients.</param>
/// <param name="FirstNewViewReply">virtual time a correct client first accepted a result from a view above 0 (-1 if never).</param>
public sealed record SimulationResult(Scenario Scenario, string? Invariant, string? Detail, ulong TraceHash, long Events, long EndTime,
    bool LivenessChecked, long ActivationTime, long FinishTime, ulong MaxView, int Completed, long FirstNewViewReply)
{
    /// <summary>True if every checked invariant held.</summary>
    public bool Passed => Invariant is null;

    /// <summary>One-line summary; for a failure it includes the seed and the replay command.</summary>
    public override string ToString() => Passed
        ? $"PASS {Scenario} trace {TraceHash:x16} events {Events} end {EndTime} ms"
        : $"FAIL {Scenario}: {Invariant}: {Detail}\n  replay: {Scenario.ReplayCommand}";
}

/// <summary>
/// The deterministic simulator (issue 3 §1): one thread, virtual time in milliseconds, one seeded
/// PRNG. It runs a complete cell — n = 3f+1 production protocol cores (<see cref="IReplicaCore"/>)
/// behind the production <see cref="MessageVerifier"/>, clients voting with the production
/// <see cref="ReplyVoter"/>, a simulated network with loss, delay, duplication, reordering and
/// healing partitions — applies one Byzantine behaviour, and checks the invariants: agreement,
/// validity (against a sequential execution of the committed order on a fresh service), convergence,
/// liveness after the faults stop, and the commit certificate (a batch executes at a correct replica
/// only if f+1 correct replicas prepared it, PBFT-PR §4.2).
/// </summary>
public sealed class Simulator
{
    /// <summary>Replica tick period (virtual ms).</summary>
    public const long TickMs = 5;
    /// <summary>Virtual time at which network faults stop.</summary>
    public const long HealTime = 150;
    /// <summary>Virtual time after healing within which every correct client must complete.</summary>
    public const long LivenessBudget = 4000;
    /// <summary>Initial client retransmission timeout (virtual ms).</summary>
    public const long ClientTimeout = 40;
    /// <summary>First client id.</summary>
    public const uint FirstClientId = 1000;

    private enum Kind : byte { Deliver, Tick, ClientTimer, ClientStart }

    private sealed class Ev
    {
        public Kind Kind;
        public uint From, To;
        public byte[]? Msg;
        public ulong Rid;
        public int Attempt;
    }

    private sealed class Node
    {
        public uint Id;
        public IReplicaCore[] Cores = [];
        public MessageVerifier[] Verifiers = [];
        public RecordingService[] Services = [];
        public Authenticator Auth = null!;
        public MessageBuilder Builder = null!;
        public ulong LastSeen;
        public int Restores;
        public readonly HashSet<ulong> Transferred = new();
        public readonly Dictionary<ulong, string> Digests = new();
    }

    private sealed class SimClient
    {
        public uint Id;
        public bool Byzantine;
        public MessageBuilder Builder = null!;
        public MessageVerifier Verifier = null!;
        public ReplyVoter Voter = null!;
        public ulong Rid;
        public int Done;
        public int Attempt;
        public byte[] Request = [];
        public byte[]? RequestB;
        public bool Finished;
    }

    private sealed class Output(Simulator sim, uint node, int instance) : IReplicaOutput
    {
        public void SendToReplica(uint replica, ReadOnlySpan<byte> message) => sim.Emit(node, instance, replica, message);
        public void SendToClient(uint client, ReadOnlySpan<byte> message) => sim.Emit(node, instance, client, message);
    }

    private readonly Scenario _sc;
    private readonly ISimProtocol _proto;
    private readonly Func<IReplicatedService> _serviceFactory;
    private readonly SimCellParameters _p;
    private readonly int _n, _f;
    private readonly SimRandom _rng;
    private readonly KeyStore _keys;
    private readonly PriorityQueue<Ev, (long, long)> _queue = new();
    private readonly Node[] _nodes;
    private readonly SimClient[] _clients;
    private readonly uint _faulty = uint.MaxValue;
    private readonly HashSet<uint> _targets = new();       // mute / corrupt-MAC targets; equivocation: twin 0's side
    private readonly bool[] _sideA;
    private readonly List<(uint To, byte[] Msg)> _history = new();
    private readonly HashSet<uint> _touched = new();
    private readonly List<(uint Client, ulong Rid, byte[] Result)> _accepted = new();
    private long _now, _evSeq, _events;
    private readonly uint _isolateOne = uint.MaxValue;
    private bool _active;
    private long _activationTime = -1, _finishTime = -1, _firstNewViewReply = -1;
    private TraceHash _trace;
    private string? _violation, _detail;

    /// <summary>Requests each correct client issues.</summary>
    public int RequestsPerClient { get; init; } = 5;
    private int RequestsFor => _sc.Network == NetworkCondition.IsolateOne ? 2 * RequestsPerClient : RequestsPerClient;
    /// <summary>Number of clients (one of them Byzantine in client-role scenarios).</summary>
    public int ClientCount { get; }
    /// <summary>Test knob: a replica cut off from every node until <see cref="IsolationEnds"/>.</summary>
    public uint? IsolatedReplica { get; init; }
    /// <summary>Virtual time at which <see cref="IsolatedReplica"/> is reconnected.</summary>
    public long IsolationEnds { get; init; }
    /// <summary>The (first instance of the) core of replica <paramref name="id"/>, for assertions after <see cref="Run"/>.</summary>
    public IReplicaCore Replica(uint id) => _nodes[id].Cores[0];
    /// <summary>Check the commit-certificate oracle after every step (default on; off shows what the end-to-end invariants alone catch).</summary>
    public bool CheckCommitCertificate { get; init; } = true;
    /// <summary>Safety cap on processed events.</summary>
    public long MaxEvents { get; init; } = 2_000_000;

    /// <summary>Builds the cell of <paramref name="scenario"/> for <paramref name="protocol"/>, each replica running a fresh service from <paramref name="serviceFactory"/> (also used for the reference execution).</summary>
    public Simulator(Scenario scenario, ISimProtocol protocol, Func<IReplicatedService> serviceFactory, SimCellParameters? parameters = null, int clients = 3)
    {
        _sc = scenario;
        _proto = protocol;
        _serviceFactory = serviceFactory;
        _p = (parameters ?? new SimCellParameters()) with { CommitQuorum = scenario.CommitQuorum > 0 ? scenario.CommitQuorum : (parameters?.CommitQuorum ?? 0) };
        _f = scenario.F;
        _n = 3 * _f + 1;
        _rng = new SimRandom(scenario.Seed);
        var master = new byte[32];
        for (int i = 0; i < 32; i++) master[i] = (byte)(i * 13 + 5);
        ClientCount = clients;
        _keys = new KeyStore(master, _n, FirstClientId, clients);

        if (scenario.Role == FaultyRole.Leader) _faulty = 0;
        else if (scenario.Role == FaultyRole.Follower) _faulty = (uint)(1 + _rng.Int(_n - 1));
        if (_faulty != uint.MaxValue)
        {
            var others = Enumerable.Range(0, _n).Select(i => (uint)i).Where(i => i != _faulty).ToList();
            int count = scenario.Behaviour == Behaviour.Equivocate ? others.Count / 2 : _f + 1;
            for (int i = 0; i < count; i++) { int k = _rng.Int(others.Count); _targets.Add(others[k]); others.RemoveAt(k); }
        }
        _sideA = new bool[_n];
        {
            var perm = Enumerable.Range(0, _n).ToList();
            for (int i = 0; i < _n / 2; i++) { int k = _rng.Int(perm.Count); _sideA[perm[k]] = true; perm.RemoveAt(k); }
        }

        if (scenario.Network == NetworkCondition.IsolateOne)
        {
            var candidates = Enumerable.Range(0, _n).Select(i => (uint)i).Where(i => i != _faulty).ToList();
            _isolateOne = candidates[_rng.Int(candidates.Count)];
        }
        _nodes = new Node[_n];
        for (uint i = 0; i < _n; i++)
        {
            int instances = i == _faulty && scenario.Behaviour == Behaviour.Equivocate ? 2 : 1;
            var node = new Node { Id = i, Cores = new IReplicaCore[instances], Verifiers = new MessageVerifier[instances], Services = new RecordingService[instances] };
            node.Auth = new Authenticator(i, _keys);
            node.Builder = new MessageBuilder(node.Auth, _n, 4096);
            for (int k = 0; k < instances; k++)
            {
                node.Services[k] = new RecordingService(serviceFactory());
                var auth = new Authenticator(i, _keys);
                node.Cores[k] = protocol.CreateReplica(_f, _p, auth, node.Services[k], new Output(this, i, k));
                node.Verifiers[k] = new MessageVerifier(new Authenticator(i, _keys), _n, FirstClientId, 1 << 20, 1 << 12, _p.BatchSize);
            }
            _nodes[i] = node;
        }
        _clients = new SimClient[clients];
        for (int c = 0; c < clients; c++)
        {
            uint id = FirstClientId + (uint)c;
            var auth = new Authenticator(id, _keys);
            _clients[c] = new SimClient
            {
                Id = id,
                Byzantine = scenario.Role == FaultyRole.Client && c == clients - 1,
                Builder = new MessageBuilder(auth, _n, 1024),
                Verifier = new MessageVerifier(new Authenticator(id, _keys), _n, FirstClientId, 1 << 20, 1 << 12, _p.BatchSize),
                Voter = new ReplyVoter(_n, _f),
            };
        }
    }

    private bool IsCorrect(uint replica) => replica != _faulty;
    private bool Is(Behaviour b) => _sc.Behaviour == b;

    /// <summary>Runs the scenario to completion and checks every invariant.</summary>
    public SimulationResult Run()
    {
        for (uint i = 0; i < _n; i++) Schedule(1 + i % TickMs, Kind.Tick, i, i, null);
        foreach (var c in _clients) if (!c.Byzantine) Schedule(1 + (c.Id - FirstClientId), Kind.ClientStart, c.Id, c.Id, null);
        if (_sc.Timing == FaultTiming.Early) Activate();
        long deadline = HealTime + LivenessBudget;
        while (_queue.Count > 0 && _violation is null)
        {
            _queue.TryPeek(out _, out var key);
            _now = key.Item1;
            if (_now > deadline) break;
            while (_queue.TryPeek(out _, out key) && key.Item1 == _now)
            {
                var ev = _queue.Dequeue();
                _events++;
                Process(ev);
            }
            foreach (var r in _touched) foreach (var core in _nodes[r].Cores) if (!Crashed(r)) core.EndOfBurst();
            _touched.Clear();
            AfterStep();
            if (_clients.All(c => c.Byzantine || c.Finished))
            {
                if (_finishTime < 0) _finishTime = _now;
                // An isolated replica must also catch up (state transfer) before the run ends.
                if (_isolateOne == uint.MaxValue || CaughtUp()) break;
            }
            if (_events > MaxEvents) { Fail("liveness", $"event budget {MaxEvents} exhausted at {_now} ms"); break; }
        }
        bool livenessExpected = LivenessExpected();
        if (_violation is null && (_finishTime < 0 || (_isolateOne != uint.MaxValue && !CaughtUp())) && livenessExpected)
            Fail("liveness", $"correct clients or the isolated replica incomplete at {_now} ms: " + string.Join(", ", _clients.Where(c => !c.Byzantine).Select(c => $"{c.Id}:{c.Done}/{RequestsFor}"))
                + "; replicas (view, h, executed): " + string.Join(", ", _nodes.Select(nd => $"{nd.Id}{(IsCorrect(nd.Id) ? "" : "*")}:({nd.Cores[0].View},{nd.Cores[0].LowWatermark},{nd.Cores[0].LastExecuted})"))
                + (Environment.GetEnvironmentVariable("FASTBFT_SIM_DEBUG") is null ? "" : "\n" + string.Join("\n", _nodes.Select(nd => $"  {nd.Id}: {(nd.Cores[0] as FastBft.Protocol.Pbft.PbftReplica)?.DescribeViewChangeState()}"))));
        if (_violation is null) CheckAgreementAndConvergence();
        if (_violation is null) CheckValidity();
        ulong maxView = 0;
        foreach (var node in _nodes) if (IsCorrect(node.Id)) maxView = Math.Max(maxView, node.Cores[0].View);
        return new SimulationResult(_sc, _violation, _detail, _trace.Value, _events, _now, livenessExpected, _activationTime, _finishTime, maxView,
            _clients.Where(c => !c.Byzantine).Sum(c => c.Done), _firstNewViewReply);
    }

    /// <summary>Every correct replica reached the highest stable checkpoint of any correct replica (state transfer's promise).</summary>
    private bool CaughtUp()
    {
        ulong stable = _nodes.Where(nd => IsCorrect(nd.Id)).Max(nd => nd.Cores[0].LowWatermark);
        return _nodes.Where(nd => IsCorrect(nd.Id)).All(nd => nd.Cores[0].LastExecuted >= stable);
    }

    private bool LivenessExpected()
    {
        if (_proto.SupportsViewChange) return true;
        return !(_sc.Role == FaultyRole.Leader && _sc.Behaviour is Behaviour.Crash or Behaviour.Mute or Behaviour.InvalidMac or Behaviour.Equivocate);
    }

    private void Fail(string invariant, string detail)
    {
        if (_violation is not null) return;
        _violation = invariant;
        _detail = detail;
    }

    private void Activate()
    {
        if (_active) return;
        _active = true;
        _activationTime = _now;
        _trace.Add(0xAC71);
        _trace.Add((ulong)_now);
        foreach (var c in _clients) if (c.Byzantine) Schedule(_now + 1, Kind.ClientStart, c.Id, c.Id, null);
    }

    private bool Crashed(uint replica) => replica == _faulty && _active && Is(Behaviour.Crash);

    private void Schedule(long at, Kind kind, uint from, uint to, byte[]? msg, ulong rid = 0, int attempt = 0)
        => _queue.Enqueue(new Ev { Kind = kind, From = from, To = to, Msg = msg, Rid = rid, Attempt = attempt }, (at, _evSeq++));

    // ------------------------------------------------------------------ events

    private void Process(Ev ev)
    {
        switch (ev.Kind)
        {
            case Kind.Tick:
                if (!Crashed(ev.To)) foreach (var core in _nodes[ev.To].Cores) core.OnTick();
                _touched.Add(ev.To);
                Schedule(_now + TickMs, Kind.Tick, ev.To, ev.To, null);
                break;
            case Kind.ClientStart:
                NextRequest(_clients[ev.To - FirstClientId]);
                break;
            case Kind.ClientTimer:
                OnClientTimer(_clients[ev.To - FirstClientId], ev.Rid, ev.Attempt);
                break;
            case Kind.Deliver:
                Deliver(ev.From, ev.To, ev.Msg!);
                break;
        }
    }

    private void Deliver(uint from, uint to, byte[] msg)
    {
        _trace.Add((ulong)_now); _trace.Add(((ulong)from << 32) | to); _trace.Add(msg);
        if (to < _n)
        {
            if (Crashed(to)) return;
            if (!_active && _sc.Timing == FaultTiming.MidBatch && msg.Length > 24 && (MessageType)msg[3] == MessageType.PrePrepare
                && BinaryPrimitives.ReadUInt64LittleEndian(msg.AsSpan(16)) >= 3)
                Activate();
            var node = _nodes[to];
            for (int k = 0; k < node.Cores.Length; k++)
            {
                // Twin 1 of an equivocating leader never sees the first client's requests, so its batches differ.
                if (k == 1 && (MessageType)msg[3] == MessageType.Request && BinaryPrimitives.ReadUInt32LittleEndian(msg.AsSpan(4)) == FirstClientId) continue;
                var v = node.Verifiers[k];
                if (v.Verify(msg, out var h) == ParseStatus.Ok) node.Cores[k].OnMessage(h, msg, v.LastRequestDigest, v.LastRequestsAuthenticated);
            }
            _touched.Add(to);
        }
        else
        {
            var c = _clients[to - FirstClientId];
            if (c.Byzantine || c.Finished) return;
            if (c.Verifier.Verify(msg, out var h) != ParseStatus.Ok || h.Type != MessageType.Reply) return;
            if (!c.Voter.OnReply(h, msg)) return;
            var result = c.Voter.Result.ToArray();
            if (c.Voter.View > 0 && _firstNewViewReply < 0) _firstNewViewReply = _now;
            _accepted.Add((c.Id, c.Rid, result));
            _trace.Add(0xACCE); _trace.Add(c.Id); _trace.Add(c.Rid); _trace.Add(result);
            c.Done++;
            if (c.Done >= RequestsFor) c.Finished = true;
            else NextRequest(c);
        }
    }

    // ------------------------------------------------------------------ clients

    private void NextRequest(SimClient c)
    {
        if (c.Byzantine && c.Done >= RequestsFor) return;
        c.Rid++;
        c.Attempt = 0;
        long value = (long)(_rng.Next() % 1_000_000);
        c.Request = BuildRequest(c, value);
        if (c.Byzantine)
        {
            c.RequestB = BuildRequest(c, value + 1);
            SendConflicting(c);
            c.Done++;
            Schedule(_now + 30, Kind.ClientTimer, c.Id, c.Id, null, c.Rid, 0);
            return;
        }
        c.Voter.Start(c.Rid);
        if (c.Rid == 1) for (uint r = 0; r < _n; r++) Net(c.Id, r, c.Request, 0);
        else Net(c.Id, (uint)(c.Voter.View % (ulong)_n), c.Request, 0);
        Schedule(_now + ClientTimeout, Kind.ClientTimer, c.Id, c.Id, null, c.Rid, 0);
    }

    private byte[] BuildRequest(SimClient c, long value)
    {
        var body = c.Builder.BeginVector(MessageType.Request, 0, c.Rid, 8);
        BinaryPrimitives.WriteInt64LittleEndian(body, value);
        return c.Builder.SealVector().ToArray();
    }

    private void SendConflicting(SimClient c)
    {
        for (uint r = 0; r < _n; r++) Net(c.Id, r, r < _n / 2 ? c.Request : c.RequestB!, 0);
    }

    private void OnClientTimer(SimClient c, ulong rid, int attempt)
    {
        if (c.Finished || c.Rid != rid || c.Attempt != attempt) return;
        if (c.Byzantine)
        {
            if (attempt < 2) { c.Attempt++; SendConflicting(c); Schedule(_now + 30, Kind.ClientTimer, c.Id, c.Id, null, rid, c.Attempt); }
            else NextRequest(c);
            return;
        }
        c.Attempt++;
        for (uint r = 0; r < _n; r++) Net(c.Id, r, c.Request, 0);   // retransmit to all (PBFT-PR §4.2)
        Schedule(_now + ClientTimeout * (1L << Math.Min(c.Attempt, 3)), Kind.ClientTimer, c.Id, c.Id, null, rid, c.Attempt);
    }

    // ------------------------------------------------------------------ network and Byzantine strategies

    private void Emit(uint node, int instance, uint to, ReadOnlySpan<byte> message)
    {
        if (node != _faulty) { Net(node, to, message.ToArray(), 0); return; }
        if (Is(Behaviour.Equivocate))
        {
            // Twins: before activation only instance 0 speaks; after it, instance 0 talks to one half of
            // the backups (and to clients), instance 1 to the other half.
            if (!_active) { if (instance == 0) Net(node, to, message.ToArray(), 0); return; }
            bool sideA = to >= _n || _targets.Contains(to);
            if ((instance == 0) == sideA) Net(node, to, message.ToArray(), 0);
            return;
        }
        if (!_active) { Net(node, to, message.ToArray(), 0); return; }
        var msg = message.ToArray();
        MessageHeader.TryParse(msg, int.MaxValue, out var h);
        var src = _nodes[node];
        switch (_sc.Behaviour)
        {
            case Behaviour.Crash:
                return;
            case Behaviour.Mute:
                if (to < _n && _targets.Contains(to)) return;
                break;
            case Behaviour.Slow:
                Net(node, to, msg, 25);
                return;
            case Behaviour.WrongReply:
                if (h.Type == MessageType.Reply && h.BodyLength > Bodies.ReplyFixed)
                {
                    msg[MessageHeader.Size + Bodies.ReplyFixed] ^= 0x5A;
                    Span<byte> d = stackalloc byte[32];
                    Digests.AuthBody(msg.AsSpan(MessageHeader.Size, h.BodyLength), d);
                    src.Auth.WriteSingle(to, msg.AsSpan(0, MessageHeader.Size), d, msg.AsSpan(MessageHeader.Size + h.BodyLength, h.AuthLength));
                }
                break;
            case Behaviour.WrongCheckpoint:
                if (h.Type == MessageType.Checkpoint)
                {
                    msg[MessageHeader.Size] ^= 0x5A;
                    ResealVector(src.Auth, msg, h);
                }
                break;
            case Behaviour.InvalidMac:
                if (to >= _n) msg[MessageHeader.Size + h.BodyLength + 2] ^= 1;
                else if (_targets.Contains(to)) msg[MessageHeader.Size + h.BodyLength + 2 + Authenticator.TagSize * (int)to] ^= 1;
                break;
            case Behaviour.Replay:
                if (_history.Count < 256) _history.Add((to, msg));
                else _history[_rng.Int(_history.Count)] = (to, msg);
                if (_rng.Chance(0.25))
                {
                    var old = _history[_rng.Int(_history.Count)];
                    uint target = (uint)_rng.Int(_n);
                    if (target != node) Net(node, target, old.Msg, 0);
                }
                break;
            case Behaviour.EagerCommit:
                if (h.Type == MessageType.Prepare)
                {
                    var body = src.Builder.BeginVector(MessageType.Commit, h.View, h.Sequence, Digests.Size);
                    msg.AsSpan(MessageHeader.Size, Digests.Size).CopyTo(body);
                    Net(node, to, src.Builder.SealVector().ToArray(), 0);
                }
                break;
        }
        Net(node, to, msg, 0);
    }

    private static void ResealVector(Authenticator auth, byte[] msg, in MessageHeader h)
    {
        Span<byte> d = stackalloc byte[32];
        Digests.AuthBody(msg.AsSpan(MessageHeader.Size, h.BodyLength), d);
        auth.WriteVector(msg.AsSpan(0, MessageHeader.Size), d, msg.AsSpan(MessageHeader.Size + h.BodyLength, h.AuthLength));
    }

    private void Net(uint from, uint to, byte[] msg, long extraDelay)
    {
        if (IsolatedReplica is uint iso && _now < IsolationEnds && (from == iso || to == iso)) return;
        if (_now < 300 && (from == _isolateOne || to == _isolateOne)) return;
        bool faultyNet = _now < HealTime;
        long delay;
        if (faultyNet && _sc.Network == NetworkCondition.Lossy)
        {
            if (_rng.Chance(0.10)) return;
            if (_rng.Chance(0.05)) Schedule(_now + _rng.Range(1, 10) + extraDelay, Kind.Deliver, from, to, msg);
            delay = _rng.Range(1, 10);
        }
        else
        {
            if (faultyNet && _sc.Network == NetworkCondition.PartitionHeal && _now >= 10 && from < _n && to < _n && _sideA[from] != _sideA[to]) return;
            delay = _rng.Range(1, 3);
        }
        Schedule(_now + delay + extraDelay, Kind.Deliver, from, to, msg);
    }

    // ------------------------------------------------------------------ invariants

    private void AfterStep()
    {
        if (!_active)
        {
            if (_sc.Timing == FaultTiming.ViewChange && (_now >= HealTime / 2 || _nodes.Any(nd => IsCorrect(nd.Id) && nd.Cores[0].View > 0))) Activate();
        }
        Span<byte> d = stackalloc byte[32];
        foreach (var node in _nodes)
        {
            if (!IsCorrect(node.Id)) continue;
            var core = node.Cores[0];
            ulong le = core.LastExecuted;
            if (le == node.LastSeen) continue;
            bool transferred = node.Services[0].Restores != node.Restores;
            node.Restores = node.Services[0].Restores;
            for (ulong s = node.LastSeen + 1; s <= le && CheckCommitCertificate; s++)
            {
                if (transferred && !node.Services[0].Fingerprints.ContainsKey(s)) { node.Transferred.Add(s); continue; }
                if (!core.TryGetLoggedDigest(s, d)) continue;
                int prepared = 0;
                foreach (var other in _nodes) if (IsCorrect(other.Id) && other.Cores[0].IsPreparedOrDone(s, d)) prepared++;
                if (prepared < _f + 1)
                    Fail("commit-certificate", $"replica {node.Id} executed seq {s} at {_now} ms while only {prepared} correct replicas had prepared it (need f+1 = {_f + 1})");
            }
            core.GetStateDigest(d);
            node.Digests[le] = Convert.ToHexString(d);
            node.LastSeen = le;
            if (!_active && _sc.Timing == FaultTiming.CheckpointBoundary && le >= (ulong)_p.CheckpointInterval) Activate();
        }
    }

    private void CheckAgreementAndConvergence()
    {
        var correct = _nodes.Where(nd => IsCorrect(nd.Id)).ToList();
        for (int a = 0; a < correct.Count; a++)
        for (int b = a + 1; b < correct.Count; b++)
        {
            var x = correct[a]; var y = correct[b];
            ulong upTo = Math.Min(x.Cores[0].LastExecuted, y.Cores[0].LastExecuted);
            for (ulong s = 1; s <= upTo; s++)
            {
                if (x.Transferred.Contains(s) || y.Transferred.Contains(s)) continue;
                x.Services[0].Fingerprints.TryGetValue(s, out ulong fx);
                y.Services[0].Fingerprints.TryGetValue(s, out ulong fy);
                if (fx != fy) { Fail("agreement", $"replicas {x.Id} and {y.Id} executed different batches at seq {s}"); return; }
            }
            foreach (var (s, dx) in x.Digests)
                if (y.Digests.TryGetValue(s, out var dy) && dx != dy) { Fail("convergence", $"replicas {x.Id} and {y.Id} have different state digests at seq {s}"); return; }
        }
    }

    private void CheckValidity()
    {
        // The committed order: per sequence number, the requests a correct replica executed there
        // (agreement makes them equal; replicas that state-transferred over a range have none there).
        var bySeq = new SortedDictionary<ulong, List<ExecutedRequest>>();
        foreach (var nd in _nodes.Where(nd => IsCorrect(nd.Id)))
            foreach (var g in nd.Services[0].Log.GroupBy(e => e.Info.Sequence))
                bySeq.TryAdd(g.Key, g.ToList());
        var reference = _serviceFactory();
        var expected = new Dictionary<(uint, ulong), byte[]>();
        var writer = new System.Buffers.ArrayBufferWriter<byte>();
        foreach (var e in bySeq.Values.SelectMany(l => l))
        {
            writer.ResetWrittenCount();
            reference.Execute(e.Info, e.Operation, writer, null);
            expected[(e.Info.ClientId, e.Info.RequestId)] = writer.WrittenSpan.ToArray();
        }
        foreach (var (client, rid, result) in _accepted)
        {
            if (!expected.TryGetValue((client, rid), out var want)) { Fail("validity", $"client {client} accepted a result for request {rid} that no correct replica executed"); return; }
            if (!want.AsSpan().SequenceEqual(result)) { Fail("validity", $"client {client} accepted {Convert.ToHexString(result)} for request {rid}; sequential execution of the committed order gives {Convert.ToHexString(want)}"); return; }
        }
    }
}
