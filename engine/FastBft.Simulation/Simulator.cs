using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.Client;
using FastBft.Agreement;
using FastBft.Service;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Simulation;

/// <summary>Outcome of one simulated scenario.</summary>
/// <param name="Scenario">the scenario.</param>
/// <param name="Invariant">null if every invariant held; else the first violated one (agreement, validity, convergence, liveness, commit-certificate, re-execution, rollback, exception, resource, message-size; switching protocols also pa-pe).</param>
/// <param name="Detail">human-readable detail of the violation.</param>
/// <param name="TraceHash">hash of the full event trace (same seed ⇒ same hash).</param>
/// <param name="Events">events processed.</param>
/// <param name="EndTime">virtual time (ms) at which the run ended.</param>
/// <param name="LivenessChecked">false when the protocol cannot recover from this fault (a protocol that does not replace a faulty leader, ISimProtocol.SupportsViewChange = false) and liveness was not asserted.</param>
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
/// The deterministic simulator (issue 3 §1, issue 8): one thread, virtual time in milliseconds, one
/// seeded PRNG. It runs a complete cell — n = 3f+1 production protocol cores
/// (<see cref="IReplicaCore"/>) behind the production <see cref="MessageVerifier"/>, clients voting
/// with the production <see cref="ReplyVoter"/>, a simulated network with loss, delay, duplication,
/// reordering, healing partitions and isolated replicas — applies one Byzantine behaviour (forged
/// messages are re-authenticated by <see cref="Forge.Reseal"/>), and checks the invariants
/// (docs/simulation.md): agreement, validity, convergence, liveness, commit certificate,
/// no re-execution or rollback, no exception out of a core, bounded memory and message size.
/// Results depend only on (scenario, seed): a simulator shares nothing with other instances, so
/// many run in parallel.
/// </summary>
public sealed partial class Simulator
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
    /// <summary>
    /// Largest message body the simulated verifiers accept (and a correct replica may emit): 64 KiB, scaled
    /// to the simulated cell as max_message_bytes is to a real one (it holds a full batch of the largest
    /// requests, 4 × 4 KiB, with room to spare).
    /// </summary>
    public const int MaxMessageBody = 64 << 10;

    private enum Kind : byte { Deliver, Tick, ClientTimer, ClientStart, ClientPanic }

    private sealed class Ev
    {
        public Kind Kind;
        public uint From, To;
        public int Instance = -1;          // Deliver to a twinned node: which instance (-1: all)
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
        public UsigCertificateScheme? Usig;                       // USIG protocols: the node's one trusted counter, shared by its twins
        public ulong LastSeen;
        public int Restores;
        public bool Dead;                                        // a Byzantine core that threw: treated as crashed
        public readonly HashSet<ulong> Transferred = new();
        public readonly Dictionary<ulong, string> Digests = new();
        public readonly HashSet<SlotDigest> PreparedEver = new();   // (seq, digest) this replica prepared, in any view
        public byte[]? LastViewChange;                           // the last VIEW-CHANGE it emitted
        public readonly Dictionary<ulong, (ulong Generation, bool Pbft)> ExecutedIn = new();   // switching protocols: seq → the generation it was executed (or applied) in
        public byte[]? SeenSwitch;
        public bool InPhase;                                     // ReMinBFT SwitchBack timing: first seen in the MinBFT phase (generation ≥ 1)
        public ulong PhaseEnteredAt;                             // ... and what it had executed then
        public ulong ExecutedAtSwitch;                            // switching protocols: last executed when it accepted SeenSwitch                               // switching protocols: the accepted SWITCH last checked by the PA/PE oracle
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
        public int Steps;
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
    private readonly ISimExecutionOracle? _exec;          // selective execution (ODRC): the protocol's replacement of the whole-state oracles
    private readonly SimCellParameters _p;
    private readonly ReplicaParameters _replicaParameters;
    private readonly QuorumPolicy? _quorums;
    private readonly VerifierLimits _limits;
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
    private readonly List<uint> _stepTouched = new();
    private readonly List<(uint Client, ulong Rid, byte[] Result)> _accepted = new();
    private long _now, _evSeq, _events;
    private readonly uint _isolateOne = uint.MaxValue;
    private readonly uint _lagger = uint.MaxValue;
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
    /// <summary>Selective execution (ODRC): the protocol's execution oracle of this run (<see cref="ISimProtocol.CreateExecutionOracle"/>), for assertions after <see cref="Run"/>; null otherwise.</summary>
    public ISimExecutionOracle? ExecutionOracle => _exec;
    /// <summary>The (first instance of the) core of replica <paramref name="id"/>, for assertions after <see cref="Run"/>.</summary>
    public IReplicaCore Replica(uint id) => _nodes[id].Cores[0];
    /// <summary>Check the commit-certificate oracle after every step (default on; off shows what the end-to-end invariants alone catch).</summary>
    public bool CheckCommitCertificate { get; init; } = true;
    private bool CommitCertificateOn => CheckCommitCertificate && _proto.ChecksCommitCertificate;
    /// <summary>
    /// Commit-certificate oracle: besides the COMMITs a correct replica multicasts (PBFT-PR §4.2: it
    /// sends COMMIT exactly when it prepares), also ask every core after every step which slots it holds
    /// prepared (<see cref="IReplicaCore.IsPreparedOrDone"/>). Off by default (it halves the simulator's
    /// speed and adds nothing for a core that announces every prepared slot); on for a core whose
    /// COMMIT is not its prepared certificate.
    /// </summary>
    public bool PollPreparedState { get; init; }
    /// <summary>Safety cap on processed events.</summary>
    public long MaxEvents { get; init; } = 2_000_000;
    /// <summary>Resource oracle: most bytes one call into a correct core may allocate.</summary>
    public long MaxAllocationPerCall { get; init; } = 16L << 20;
    /// <summary>Resource oracle: most bytes a correct core may retain at the end of a run (estimated by walking its object graph; checked in scenarios whose adversary attacks memory).</summary>
    public long MaxRetainedBytes { get; init; } = 8L << 20;
    /// <summary>Force the retained-memory check on (it runs by default only for memory-attacking behaviours).</summary>
    public bool CheckRetained { get; init; }

    /// <summary>Builds the cell of <paramref name="scenario"/> for <paramref name="protocol"/>, each replica running a fresh service from <paramref name="serviceFactory"/> (also used for the reference execution).</summary>
    public Simulator(Scenario scenario, ISimProtocol protocol, Func<IReplicatedService> serviceFactory, SimCellParameters? parameters = null, int clients = 3)
    {
        _sc = scenario;
        _proto = protocol;
        _serviceFactory = serviceFactory;
        _exec = protocol.CreateExecutionOracle(serviceFactory);
        _p = parameters ?? new SimCellParameters();
        _f = scenario.F;
        _n = protocol.Definition.Shape(_f).N;
        // The planted-bug knob is a test-injected quorum policy, not a protocol setting.
        _quorums = scenario.CommitQuorum > 0 || scenario.ProofEndorsements > 0
            ? protocol.Definition.Quorums(_f).With(commit: scenario.CommitQuorum > 0 ? scenario.CommitQuorum : null, proof: scenario.ProofEndorsements > 0 ? scenario.ProofEndorsements : null)
            : null;
        _replicaParameters = new ReplicaParameters
        {
            F = _f, BatchSize = _p.BatchSize, CheckpointInterval = _p.CheckpointInterval, Window = _p.Window,
            MaxInflightBatches = _p.MaxInflightBatches, RetransmitTicks = _p.RetransmitTicks, ViewChangeTicks = _p.ViewChangeTicks,
            SwitchBackAfter = protocol.Switches ? SwitchBackFor(scenario, _p) : 0,
        };
        _limits = new VerifierLimits(_n, FirstClientId, MaxMessageBody, 1 << 12, _p.BatchSize);
        _rng = new SimRandom(scenario.Seed);
        var master = new byte[32];
        for (int i = 0; i < 32; i++) master[i] = (byte)(i * 13 + 5);
        ClientCount = clients;
        _keys = new KeyStore(master, _n, FirstClientId, clients);

        if (scenario.Role == FaultyRole.Leader) _faulty = 0;
        else if (scenario.Role == FaultyRole.NextPrimary) _faulty = 1;
        else if (scenario.Role == FaultyRole.Follower)
            _faulty = protocol.Switches && protocol.Definition.Kind != FastBft.Agreement.ProtocolKind.ReMinBft
                ? (uint)(2 + _rng.Int(2 * _f - 1))                                         // RePBFT: an active follower other than the first coordinator
                : (uint)(1 + _rng.Int(protocol.Definition.Shape(_f).Active - 1));         // an active follower (PBFT/MinBFT: any replica but the leader; ReMinBFT: 1..f, the coordinator included)
        else if (scenario.Role == FaultyRole.Passive) _faulty = (uint)(protocol.Definition.Shape(_f).Active + _rng.Int(_f));   // the last f replicas (generation 0 led by replica 0)
        else if (scenario.Role == FaultyRole.Coordinator) _faulty = FastBft.Agreement.Switch.CoordinatorRotation.Coordinator(protocol.Definition.Shape(_f), 0, 1);
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
        if (scenario.Network is NetworkCondition.LagAcrossViewChange or NetworkCondition.ShortLag)
        {
            var candidates = Enumerable.Range(1, _n - 1).Select(i => (uint)i).Where(i => i != _faulty).ToList();
            _lagger = candidates[_rng.Int(candidates.Count)];
        }
        if (scenario.Behaviour == Behaviour.Twins) BuildTwinsSchedule();
        _nodes = new Node[_n];
        for (uint i = 0; i < _n; i++)
        {
            int instances = i == _faulty && scenario.Behaviour is Behaviour.Equivocate or Behaviour.Twins ? 2 : 1;
            var node = new Node { Id = i, Cores = new IReplicaCore[instances], Verifiers = new MessageVerifier[instances], Services = new RecordingService[instances] };
            node.Auth = new Authenticator(i, _keys);
            node.Builder = new MessageBuilder(node.Auth, _n, 4096) { Family = protocol.Definition.Shape(_f).Family };
            node.Usig = CreateUsig(protocol.Definition.Shape(_f), i);
            for (int k = 0; k < instances; k++)
            {
                node.Services[k] = new RecordingService(serviceFactory()) { SelectiveExecution = _exec is not null };
                var auth = new Authenticator(i, _keys);
                var def = protocol.Definition;
                var stage = def.CreateExecution(_replicaParameters, i, _exec?.Service(i, k, node.Services[k]) ?? node.Services[k]);
                if (_exec is not null) stage = _exec.Stage(i, k, stage);
                node.Cores[k] = def.CreateReplica(_replicaParameters, auth, stage, new Output(this, i, k), _quorums, node.Usig);
                AttachCounterOrderOracle(i, node.Cores[k]);
                node.Verifiers[k] = node.Usig is null
                    ? new MessageVerifier(def.Schema, new Authenticator(i, _keys), _limits)
                    : new MessageVerifier(def.Schema, new Authenticator(i, _keys), _limits, node.Usig);
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
                Builder = new MessageBuilder(auth, _n, 1024) { Family = protocol.Definition.Shape(_f).Family },
                Verifier = new MessageVerifier(protocol.Definition.Schema, new Authenticator(id, _keys), _limits),
                Voter = new ReplyVoter(_n, _f),
            };
        }
    }

    /// <summary>
    /// USIG protocols (<see cref="CellShape.UsesUsig"/>): replica <paramref name="id"/>'s trusted counter, a software USIG
    /// under the cell's derived trusted key in epoch 1. A node has exactly one, shared by its twins and equivocating
    /// instances: the trusted counter is what a Byzantine replica cannot duplicate (Thesis §5.4.1), so its instances
    /// draw distinct counters from one sequence. Null for other protocols.
    /// </summary>
    private UsigCertificateScheme? CreateUsig(CellShape shape, uint id)
    {
        if (!shape.UsesUsig) return null;
        Span<byte> key = stackalloc byte[KeyStore.KeySize];
        if (!_keys.TryDeriveUsigKey(key)) throw new InvalidOperationException("the simulator's key store is derived, so it has a USIG key");
        return new UsigCertificateScheme(new FastBft.TrustedHw.SoftwareUsig(id, key, epoch: 1), ownsUsig: true);
    }

    private bool IsCorrect(uint replica) => replica != _faulty;
    private bool Is(Behaviour b) => _sc.Behaviour == b;

    /// <summary>Runs the scenario to completion and checks every invariant.</summary>
    public SimulationResult Run()
    {
        for (uint i = 0; i < _n; i++) Schedule(1 + i % TickMs, Kind.Tick, i, i, null);
        foreach (var c in _clients) if (!c.Byzantine) Schedule(1 + (c.Id - FirstClientId), Kind.ClientStart, c.Id, c.Id, null);
        // Switching protocols, faults during the switch (back): a correct client panics early (its timeout fired too soon),
        // so that the cell switches whatever the network does.
        if (_proto.Switches && _sc.Timing is FaultTiming.ViewChange or FaultTiming.SwitchBack) Schedule(12, Kind.ClientPanic, FirstClientId, FirstClientId, null);
        if (_sc.Timing == FaultTiming.Early) Activate();
        long deadline = HealTime + LivenessBudget;
        while (_queue.Count > 0 && _violation is null)
        {
            _queue.TryPeek(out _, out var key);
            if (key.Item1 > deadline) break;
            Step(key.Item1);
            if (_clients.All(c => c.Byzantine || c.Finished))
            {
                if (_finishTime < 0) _finishTime = _now;
                // A lagging replica must also catch up (state transfer or STATUS), and checkpoints that a
                // quorum executed must become stable (garbage collection progresses), before the run ends.
                if ((!HasLagger || CaughtUp()) && CheckpointsSettled() && (!_proto.Switches || AllCaughtUp())) break;
                // Switching protocols: the cell became unsettled after the clients finished (a later execution moved the
                // checkpoint to settle): clients below their cap come back with more load.
                if (_proto.Switches)
                    foreach (var c in _clients)
                        if (!c.Byzantine && c.Done < MaxRequestsFor) { c.Finished = false; Schedule(_now + 2 * ClientTimeout, Kind.ClientStart, c.Id, c.Id, null); }
            }
            if (_events > MaxEvents) { Fail("liveness", $"event budget {MaxEvents} exhausted at {_now} ms"); break; }
        }
        bool livenessExpected = LivenessExpected();
        // Safety first: a run that violated agreement (e.g. a replica that diverged) usually stalls too, and the
        // safety violation is the one to report.
        if (_violation is null) CheckAgreementAndConvergence();
        if (_violation is null) CheckValidity();
        if (_violation is null && _finishTime >= 0 && (!HasLagger || CaughtUp()) && !CheckpointsSettled() && livenessExpected)
            Fail("liveness", $"checkpoint {SettledTarget()} executed by 2f+1 correct replicas never became stable at f+1 of them: replicas (view, h, executed): "
                + string.Join(", ", _nodes.Select(nd => $"{nd.Id}{(IsCorrect(nd.Id) ? "" : "*")}:({nd.Cores[0].View},{nd.Cores[0].LowWatermark},{nd.Cores[0].LastExecuted})")));
        if (_violation is null && _proto.Switches && _finishTime >= 0 && CheckpointsSettled() && !AllCaughtUp() && livenessExpected)
            Fail("liveness", $"a correct replica never reached the highest stable checkpoint (every correct replica must eventually execute what one executed): replicas (view, h, executed): "
                + string.Join(", ", _nodes.Select(nd => $"{nd.Id}{(IsCorrect(nd.Id) ? "" : "*")}:({nd.Cores[0].View},{nd.Cores[0].LowWatermark},{nd.Cores[0].LastExecuted})"))
                + (Environment.GetEnvironmentVariable("FASTBFT_SIM_DEBUG") is null ? "" : "\n" + string.Join("\n", _nodes.Select(nd => $"  {nd.Id}: {nd.Cores[0].DescribeState()}"))));
        if (_violation is null && (_finishTime < 0 || (HasLagger && !CaughtUp())) && livenessExpected)
            Fail("liveness", $"correct clients or the lagging replica incomplete at {_now} ms: " + string.Join(", ", _clients.Where(c => !c.Byzantine).Select(c => $"{c.Id}:{c.Done}/{RequestsFor}"))
                + "; replicas (view, h, executed): " + string.Join(", ", _nodes.Select(nd => $"{nd.Id}{(IsCorrect(nd.Id) ? "" : "*")}:({nd.Cores[0].View},{nd.Cores[0].LowWatermark},{nd.Cores[0].LastExecuted})"))
                + StageNotes()
                + (Environment.GetEnvironmentVariable("FASTBFT_SIM_DEBUG") is null ? "" : "\n" + string.Join("\n", _nodes.Select(nd => $"  {nd.Id}: {nd.Cores[0].DescribeState()}"))));
        if (_violation is null && (CheckRetained || _sc.Behaviour is Behaviour.FarViewChange or Behaviour.Oversized or Behaviour.Flood or Behaviour.Replay)) CheckRetainedMemory();
        ulong maxView = 0;
        foreach (var node in _nodes) if (IsCorrect(node.Id)) maxView = Math.Max(maxView, node.Cores[0].View);
        return new SimulationResult(_sc, _violation, _detail, _trace.Value, _events, _now, livenessExpected, _activationTime, _finishTime, maxView,
            _clients.Where(c => !c.Byzantine).Sum(c => c.Done), _firstNewViewReply);
    }

    /// <summary>Selective execution: the protocol oracle's notes on the correct replicas' stages (<see cref="ISimExecutionOracle.Describe"/>), for a liveness detail.</summary>
    private string StageNotes()
    {
        if (_exec is null) return "";
        var notes = _nodes.Where(nd => IsCorrect(nd.Id)).Select(nd => _exec.Describe(nd.Id)).OfType<string>().ToList();
        return notes.Count == 0 ? "" : "; " + string.Join("; ", notes);
    }

    private bool HasLagger => _isolateOne != uint.MaxValue || _lagger != uint.MaxValue;

    /// <summary>Switching protocols: every correct replica reached the highest stable checkpoint of any correct replica.</summary>
    private bool AllCaughtUp()
    {
        ulong stable = _nodes.Where(nd => IsCorrect(nd.Id)).Max(nd => nd.Cores[0].LowWatermark);
        return _nodes.Where(nd => IsCorrect(nd.Id)).All(nd => nd.Cores[0].LastExecuted >= stable);
    }

    /// <summary>
    /// Switching protocols: PBFT instances after a switch before returning to RePBFT. Every scenario with the
    /// switch-back timing, and every other one whose seed is a multiple of 4, returns after K instances (at the next checkpoint after them); the others stay in PBFT.
    /// </summary>
    public static long SwitchBackFor(Scenario s, SimCellParameters p)
        => p.SwitchBackAfter > 0 ? p.SwitchBackAfter : s.Timing == FaultTiming.SwitchBack || s.Seed % 4 == 0 ? p.CheckpointInterval : 0;

    /// <summary>Switching protocols: a correct client keeps adding requests beyond its quota until the cell settled (a normal-case stall is only resolved by a client that notices it and panics), up to this many.</summary>
    private int MaxRequestsFor => _proto.Switches ? 6 * RequestsFor : RequestsFor;

    /// <summary>Switching protocols: the cell settled — garbage collection progressed and every correct replica caught up.</summary>
    private bool SwitchingSettled() => CheckpointsSettled() && AllCaughtUp() && (!HasLagger || CaughtUp());

    /// <summary>Every correct replica reached the highest stable checkpoint of any correct replica (state transfer's promise).</summary>
    private bool CaughtUp()
    {
        ulong stable = _nodes.Where(nd => IsCorrect(nd.Id)).Max(nd => nd.Cores[0].LowWatermark);
        return _nodes.Where(nd => IsCorrect(nd.Id)).All(nd => nd.Cores[0].LastExecuted >= stable);
    }

    /// <summary>The highest checkpoint sequence number that n−f correct replicas executed (0: none).</summary>
    private ulong SettledTarget()
    {
        var executed = _nodes.Where(nd => IsCorrect(nd.Id)).Select(nd => nd.Cores[0].LastExecuted).OrderByDescending(x => x).ToList();
        ulong q = executed[_n - _f - 1];                            // the (n−f)-th highest: 2f+1 (PBFT), f+1 (MinBFT)
        return q - q % (ulong)_p.CheckpointInterval;
    }

    /// <summary>
    /// Garbage collection progresses: f+1 correct replicas hold <see cref="SettledTarget"/> (or a later
    /// checkpoint) stable. (Not all of them: a replica that missed CHECKPOINTs catches up at the next one.)
    /// </summary>
    private bool CheckpointsSettled()
    {
        ulong target = SettledTarget();
        return _nodes.Count(nd => IsCorrect(nd.Id) && nd.Cores[0].LowWatermark >= target) >= _f + 1;
    }

    private bool LivenessExpected() => _proto.LivenessExpected(_sc);

    private void Fail(string invariant, string detail)
    {
        if (_violation is not null) return;
        _violation = invariant;
        _detail = invariant == "liveness" && _proto.Switches && SwitchStall() is { } stall ? detail + "; " + stall
            : invariant == "liveness" && MinBftStall() is { } mstall ? detail + "; " + mstall : detail;
    }

    private void Activate()
    {
        if (_active) return;
        _active = true;
        _activationTime = _now;
        if (Is(Behaviour.Twins)) _twinsEnd = Math.Max(HealTime, _now + 120);
        _trace.Add(0xAC71);
        _trace.Add((ulong)_now);
        foreach (var c in _clients) if (c.Byzantine) Schedule(_now + 1, Kind.ClientStart, c.Id, c.Id, null);
    }

    private bool Crashed(uint replica) => replica == _faulty && ((_active && Is(Behaviour.Crash)) || _nodes[replica].Dead);

    private void Schedule(long at, Kind kind, uint from, uint to, byte[]? msg, ulong rid = 0, int attempt = 0, int instance = -1)
        => _queue.Enqueue(new Ev { Kind = kind, From = from, To = to, Msg = msg, Rid = rid, Attempt = attempt, Instance = instance }, (at, _evSeq++));

    /// <summary>
    /// Calls into a core: an exception out of a correct core is an invariant violation (the host does not
    /// catch them: a replica would die); a Byzantine core that throws is treated as crashed. For a correct
    /// core the bytes allocated by the call are checked against <see cref="MaxAllocationPerCall"/>.
    /// </summary>
    private void Call<T>(Node node, int instance, T arg, Action<IReplicaCore, T> action, string what, MessageType type = MessageType.None, uint from = uint.MaxValue)
        where T : allows ref struct
    {
        var core = node.Cores[instance];
        long before = GC.GetAllocatedBytesForCurrentThread();
        try { action(core, arg); }
        catch (Exception e)
        {
            if (IsCorrect(node.Id)) Fail("exception", $"replica {node.Id} threw {e.GetType().Name} at {_now} ms in {What(what, type, from)}: {e.Message}");
            else { node.Dead = true; if (Trace) Console.Error.WriteLine($"{_now,6} r{node.Id} (Byzantine) threw {e.GetType().Name} in {What(what, type, from)}: {e.Message}"); }
            return;
        }
        if (IsCorrect(node.Id))
        {
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (allocated > MaxAllocationPerCall) Fail("resource", $"replica {node.Id} allocated {allocated >> 20} MiB in one call ({What(what, type, from)}) at {_now} ms");
        }
    }

    private static string What(string what, MessageType type, uint from) => type == MessageType.None ? what : $"{what}({type} from {from})";

    private void Call(Node node, int instance, string what, Action<IReplicaCore> action)
        => Call(node, instance, action, static (c, a) => a(c), what);

    // ------------------------------------------------------------------ events

    private void Process(Ev ev)
    {
        switch (ev.Kind)
        {
            case Kind.Tick:
                if (!Crashed(ev.To))
                    for (int k = 0; k < _nodes[ev.To].Cores.Length; k++) Call(_nodes[ev.To], k, "OnTick", static c => c.OnTick());
                if (ev.To == _faulty && _active) ByzantineTick();
                _touched.Add(ev.To);
                Schedule(_now + TickMs, Kind.Tick, ev.To, ev.To, null);
                break;
            case Kind.ClientStart:
            {
                var c = _clients[ev.To - FirstClientId];
                if (_proto.Switches && !c.Byzantine && c.Done >= RequestsFor && SwitchingSettled()) { c.Finished = true; break; }
                NextRequest(c);
                break;
            }
            case Kind.ClientTimer:
                OnClientTimer(_clients[ev.To - FirstClientId], ev.Rid, ev.Attempt);
                break;
            case Kind.ClientPanic:
            {
                var c = _clients[ev.To - FirstClientId];
                if (!c.Byzantine && c.Rid > 0) SendPanic(c, c.Request);
                break;
            }
            case Kind.Deliver:
                Deliver(ev.From, ev.To, ev.Msg!, ev.Instance);
                break;
        }
    }

    /// <summary>
    /// One step of virtual time: every event due at <paramref name="now"/>, then the end of the input burst
    /// at each replica that received something (in id order), then the per-step invariant checks.
    /// </summary>
    private void Step(long now)
    {
        _now = now;
        while (_queue.TryPeek(out _, out var key) && key.Item1 == _now && _violation is null)
        {
            var ev = _queue.Dequeue();
            _events++;
            Process(ev);
        }
        _stepTouched.Clear();
        foreach (var r in _touched) _stepTouched.Add(r);
        _touched.Clear();
        _stepTouched.Sort();
        foreach (var r in _stepTouched)
            for (int k = 0; k < _nodes[r].Cores.Length; k++)
                if (!Crashed(r)) Call(_nodes[r], k, "EndOfBurst", static c => c.EndOfBurst());
        AfterStep();
    }

    private void Deliver(uint from, uint to, byte[] msg, int instance)
    {
        _trace.Add((ulong)_now); _trace.Add(((ulong)from << 32) | to); _trace.Add(msg);
        if (to < _n)
        {
            if (Crashed(to)) return;
            if (!_active && _sc.Timing == FaultTiming.MidBatch && msg.Length > 24 && (MessageType)msg[3] is MessageType.PrePrepare or MessageType.EndorsedPrePrepare or MessageType.UiPrepare
                && BinaryPrimitives.ReadUInt64LittleEndian(msg.AsSpan(16)) >= 3)
                Activate();
            var node = _nodes[to];
            if (to == _faulty && node.Usig is not null && msg.Length > MessageHeader.Size && (MessageType)msg[3] == MessageType.UiFetch) AnswerUiFetch(from, msg);
            for (int k = 0; k < node.Cores.Length; k++)
            {
                if (instance >= 0 && k != instance) continue;
                if (to == _faulty && !ByzantineAccepts(k, from, msg)) continue;
                var v = node.Verifiers[k];
                if (v.Verify(msg, out var verified) is var status && status != ParseStatus.Ok)
                {
                    if (Trace) Console.Error.WriteLine($"{_now,6} r{to} <- {from} {(msg.Length > 3 ? (MessageType)msg[3] : MessageType.None)} REJECTED {status}");
                    continue;
                }
                if (Trace && node.Usig is not null && verified.Header.Type is not MessageType.Request)
                    Console.Error.WriteLine($"{_now,6} r{to}{(node.Cores.Length > 1 ? $"/{k}" : "")} <- {from} {verified.Header.Type} v{verified.Header.View} s{verified.Header.Sequence}{(verified.HasUi ? $" ui {verified.UiEpoch}:{verified.UiCounter}" : "")}");
                if (verified.Header.Type is MessageType.PrePrepare or MessageType.UiPrepare && IsCorrect(to)) ObservePrePrepare(verified.Header, msg);
                if (verified.HasUi) ObserveCertifiedDelivery(to, node.Cores[k], verified.Header);
                if (_sc.IgnoreCounterOrder && verified.HasUi && IsCorrect(to) && MinBftCoreOf(node.Cores[k]) is not null)
                {
                    // Planted bug (tests only): the core acts on certified messages as they arrive, ignoring counter order.
                    Call(node, k, verified, static (c, m) => MinBftCoreOf(c)!.HandleIgnoringCounterOrderForTest(m), "OnMessage", verified.Header.Type, from);
                    continue;
                }
                if (Trace && (verified.Header.Type is MessageType.History or MessageType.Switch or MessageType.Panic or MessageType.ViewChange or MessageType.NewView or MessageType.Forward or MessageType.SignedCheckpoint
                    || (TraceAll && verified.Header.Type is not MessageType.Request)))
                    Console.Error.WriteLine($"{_now,6} r{to} <- {from} {verified.Header.Type} gen {verified.Header.Generation} v{verified.Header.View} s{verified.Header.Sequence} ({msg.Length} B)");
                Call(node, k, verified, static (c, m) => c.OnMessage(m), "OnMessage", verified.Header.Type, from);
            }
            _touched.Add(to);
        }
        else
        {
            var c = _clients[to - FirstClientId];
            if (c.Byzantine || c.Finished) return;
            if (c.Verifier.Verify(msg, out var v) != ParseStatus.Ok || v.Header.Type != MessageType.Reply) return;
            if (!c.Voter.OnReply(v.Header, msg)) return;
            var result = c.Voter.Result.ToArray();
            if (c.Voter.View > 0 && _firstNewViewReply < 0) _firstNewViewReply = _now;
            _accepted.Add((c.Id, c.Rid, result));
            _trace.Add(0xACCE); _trace.Add(c.Id); _trace.Add(c.Rid); _trace.Add(result);
            c.Done++;
            if (c.Done >= RequestsFor && (!_proto.Switches || c.Done >= MaxRequestsFor || SwitchingSettled())) c.Finished = true;
            else if (c.Done >= RequestsFor) Schedule(_now + 2 * ClientTimeout, Kind.ClientStart, c.Id, c.Id, null);   // idle; more load later if the cell has not settled by then
            else NextRequest(c);
        }
    }

    // ------------------------------------------------------------------ clients

    private void NextRequest(SimClient c)
    {
        if (c.Byzantine) { ByzantineClientStep(c); return; }
        c.Rid++;
        c.Attempt = 0;
        long value = (long)(_rng.Next() % 1_000_000);
        c.Request = _proto.NextOperation(_rng) is { } operation ? BuildRequest(c, c.Rid, operation) : BuildRequest(c, c.Rid, value);
        c.Voter.Start(c.Rid);
        if (c.Rid == 1) for (uint r = 0; r < _n; r++) Net(c.Id, r, c.Request, 0);
        else Net(c.Id, (uint)(c.Voter.View % (ulong)_n), c.Request, 0);
        Schedule(_now + ClientTimeout, Kind.ClientTimer, c.Id, c.Id, null, c.Rid, 0);
    }

    private static byte[] BuildRequest(SimClient c, ulong rid, byte[] operation)
    {
        operation.CopyTo(c.Builder.BeginVector(MessageType.Request, 0, rid, operation.Length));
        return c.Builder.SealVector().ToArray();
    }

    private static byte[] BuildRequest(SimClient c, ulong rid, long value)
    {
        var body = c.Builder.BeginVector(MessageType.Request, 0, rid, 8);
        BinaryPrimitives.WriteInt64LittleEndian(body, value);
        return c.Builder.SealVector().ToArray();
    }

    /// <summary>PANIC(c, D(request)) to every replica (body: the request digest; MAC vector for all replicas, so replicas may forward it).</summary>
    private void SendPanic(SimClient c, byte[] request)
    {
        var msg = BuildPanic(c, request);
        for (uint r = 0; r < _n; r++) Net(c.Id, r, msg, 0);
    }

    private static byte[] BuildPanic(SimClient c, byte[] request)
    {
        MessageHeader.TryParse(request, int.MaxValue, out var h);
        Span<byte> bodyDigest = stackalloc byte[Digests.Size];
        Digests.AuthBody(MessageHeader.Body(request, h), bodyDigest);
        var body = c.Builder.BeginVector(MessageType.Panic, 0, h.Sequence, Digests.Size);
        Digests.Request(request.AsSpan(0, MessageHeader.Size), bodyDigest, body);
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
            if (Is(Behaviour.ConflictingClient) && attempt < 2) { c.Attempt++; SendConflicting(c); Schedule(_now + 30, Kind.ClientTimer, c.Id, c.Id, null, rid, c.Attempt); }
            else ByzantineClientStep(c);
            return;
        }
        c.Attempt++;
        for (uint r = 0; r < _n; r++) Net(c.Id, r, c.Request, 0);   // retransmit to all (PBFT-PR §4.2)
        if (_proto.Switches && c.Attempt >= 2) SendPanic(c, c.Request);   // switching protocols: from the second retransmission on, PANIC (Thesis §5.3.2.1)
        Schedule(_now + ClientTimeout * (1L << Math.Min(c.Attempt, 3)), Kind.ClientTimer, c.Id, c.Id, null, rid, c.Attempt);
    }

    // ------------------------------------------------------------------ network

    /// <summary>True if the network condition cuts node <paramref name="x"/> off now.</summary>
    private bool CutOff(uint x)
    {
        if (x >= _n) return false;
        if (IsolatedReplica is uint iso && _now < IsolationEnds && x == iso) return true;
        switch (_sc.Network)
        {
            case NetworkCondition.IsolateOne: return _now < 300 && x == _isolateOne;
            case NetworkCondition.IsolateLeader: return x == 0 && _now >= 10 && _now < HealTime;
            case NetworkCondition.LagAcrossViewChange: return (x == _lagger && _now >= 10 && _now < 300) || (x == 0 && _now >= 30 && _now < HealTime);
            case NetworkCondition.ShortLag: return x == _lagger && _now >= 10 && _now < 60;
            default: return false;
        }
    }

    private void Net(uint from, uint to, byte[] msg, long extraDelay, int instance = -1)
    {
        if (CutOff(from) || CutOff(to)) return;
        if (TwinsCut(from, to)) return;
        if (to == _faulty && instance < 0 && Is(Behaviour.Twins) && from < _n) instance = TwinFor(from);
        bool faultyNet = _now < HealTime;
        long delay;
        if (faultyNet && _sc.Network == NetworkCondition.Lossy)
        {
            if (_rng.Chance(0.10)) return;
            if (_rng.Chance(0.05)) Schedule(_now + _rng.Range(1, 10) + extraDelay, Kind.Deliver, from, to, msg, instance: instance);
            delay = _rng.Range(1, 10);
        }
        else
        {
            if (faultyNet && _sc.Network == NetworkCondition.PartitionHeal && _now >= 10 && from < _n && to < _n && _sideA[from] != _sideA[to]) return;
            delay = _rng.Range(1, 3);
        }
        Schedule(_now + delay + extraDelay, Kind.Deliver, from, to, msg, instance: instance);
    }
}
