using System.Buffers.Binary;
using FastBft.Agreement.MinBft;
using FastBft.Agreement.RePbft;
using FastBft.Agreement.Switch;
using FastBft.Auth;
using FastBft.Execution;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Agreement.ReMinBft;

/// <summary>
/// The ReMinBFT core of one replica (n = 2f+1; Thesis §5.4; PROTOCOLS.md §2.4–§2.5, §6; docs/reminbft.md) as a sans-I/O
/// state machine. Its normal case (Thesis §5.4.2) is composed, not copied:
/// <list type="bullet">
/// <item>An <b>active</b> replica (the leader <see cref="ReplicaParameters.FirstLeader"/> and the next f replicas) runs the
/// MinBFT core (<see cref="MinBftReplica"/>) restricted to the f+1 active replicas (<see cref="MinBftComposition.Members"/>):
/// certified PREPARE to the followers, certified COMMITs to all active replicas, each sender's certified messages in counter
/// order, the sender rule (a replica certifies its message for s only after those for every s′ &lt; s), and commit with
/// f+1 = all active replicas' certified messages (the leader's PREPARE counting) [Thesis §5.4.1–§5.4.2]. No MinBFT view
/// change runs in the normal case (a stall is resolved by the switch, Thesis §5.4.3).</item>
/// <item>After executing s an active replica sends UPDATE(s) to the f passive replicas: the full content from one designated
/// follower, the SHA-256 of it from the others (Thesis §5.3.5 as referenced by §5.4.2). A passive replica applies s, in s order,
/// only when the full content matches UPDATEs from <b>all</b> f+1 active replicas [Thesis §5.4.2 "matching versions from
/// all active replicas"].</item>
/// <item>After executing (active) or applying (passive) s with s mod K = 0 every replica sends an uncertified CHECKPOINT(s,
/// D(state)); an active replica adds, for every active replica, the UI of the PREPARE (leader) or COMMIT (follower) that
/// replica sent for s. The checkpoint is stable only with matching digests from all 2f+1 replicas and identical counter
/// lists from all f+1 active replicas [Thesis §5.4.2 "Checkpoints and Garbage Collection"]; only then the active replicas'
/// window moves (the MinBFT core's own certified checkpoint among the active replicas waits for it,
/// <see cref="IMinBftObserver.MayStabilize"/>).</item>
/// </list>
/// </summary>
/// <remarks>
/// <para>The switch to MinBFT (Thesis §5.4.3) is <c>ReMinBftReplica.Switch.cs</c>; the switch back to a new ReMinBFT
/// generation (Thesis §5.3.3 via §5.4, opt-in) is <c>ReMinBftReplica.SwitchBack.cs</c>, and a replica left behind joins a
/// later generation in <c>ReMinBftReplica.Join.cs</c> (docs/reminbft.md §7.1).</para>
/// <para>Single-threaded; not thread-safe. Steady state allocates nothing per request (update buffers grow once and are reused).</para>
/// </remarks>
public sealed partial class ReMinBftReplica : IReplicaCore, IMinBftObserver
{
    private readonly ReplicaParameters _s;
    private readonly uint _id;
    private readonly int _n;
    private readonly QuorumPolicy _q;
    private readonly IReplicaOutput _out;
    private readonly MessageBuilder _builder;
    private readonly SequentialExecutionStage _exec;
    // Per generation (docs/reminbft.md §7): replaced at a switch back (BeginGeneration).
    private uint[] _active = [];                 // leader first
    private uint[] _passive = [];
    private ulong _activeMask;
    private bool _isActive;
    private ulong _view;                         // the generation's view (= its leader's id): its leader is view mod n
    /// <summary>The view MinBFT starts in after the first switch attempt (led by <see cref="Coordinator"/>; CoordinatorRotation.StartView).</summary>
    private ulong _switchStartView;
    /// <summary>Switch-backs so far: the header generation of every message this replica builds (docs/reminbft.md §7).</summary>
    private ulong _epoch;
    /// <summary>The header generation of this replica's messages: 0 in generation 0, else ε·256 + the generation's leader
    /// (<see cref="GenerationTag"/>): ordered by ε, and a replica left behind learns the generation's leader from any message of it.</summary>
    private ulong _genTag;
    /// <summary>The sequence number the current generation started at (0 for generation 0).</summary>
    private ulong _genStart;
    /// <summary>What this replica had executed when it entered the MinBFT phase (the switch-back policy counts from it).</summary>
    private ulong _phaseStart;
    private MinBftReplica? _core;                // active replicas; a passive replica gets one when the switch installs
    private readonly Authenticator _auth;
    private readonly UsigCertificateScheme _usig;
    private readonly IReplicaOutput _output;
    private CounterCheckpoints _cps = null!;
    private readonly PanicFilter _panics = new();
    private long _tick;

    // Active: update content of each executed s in the window (for UPDATE re-sends); passive: UPDATE votes per s.
    private readonly UpdateSlot[] _updates;
    // Passive replicas: last applied s, stable checkpoint. Active replicas read both from the core.
    private ulong _applied, _stable;
    // Active: per passive replica, the highest CHECKPOINT it sent and where our re-sends to it continue.
    private readonly ulong[] _peerCp;
    private readonly ulong[] _resendNext;
    private readonly long[] _cpAnsweredTick;
    private readonly ulong[] _peerCpSeen;

    /// <summary>ReMinBFT's own counters (the MinBFT core's are in <see cref="Counters"/> for an active replica).</summary>
    public ReMinBftStats Stats { get; } = new();

    /// <summary>Creates the core of replica <paramref name="auth"/>.SelfId.</summary>
    /// <param name="settings">protocol parameters (window a multiple of K; <see cref="ReplicaParameters.FirstLeader"/> &lt; n).</param>
    /// <param name="auth">this replica's MAC authenticator.</param>
    /// <param name="execution">the execution stage (executors: the active set).</param>
    /// <param name="output">where messages leave.</param>
    /// <param name="usig">this replica's USIG certificate scheme (its id = the replica id).</param>
    /// <param name="quorums">null = <see cref="QuorumPolicy.ReMinBft"/>(f); tests plant bugs here (Commit goes to the MinBFT core,
    /// Checkpoint is the CHECKPOINT stability quorum).</param>
    /// <exception cref="ArgumentException">f &lt; 1, n &gt; 64, window not a multiple of K, first leader or id out of range, USIG of another replica.</exception>
    public ReMinBftReplica(ReplicaParameters settings, Authenticator auth, SequentialExecutionStage execution, IReplicaOutput output, UsigCertificateScheme usig, QuorumPolicy? quorums = null)
    {
        ArgumentNullException.ThrowIfNull(usig);
        if (settings.F < 1) throw new ArgumentException($"f must be at least 1 (f={settings.F})", nameof(settings));
        _s = settings;
        Shape = new CellShape(ProtocolKind.ReMinBft, settings.F);
        _n = Shape.N;
        if (_n > 64) throw new ArgumentException("at most 64 replicas", nameof(settings));
        if (settings.Window % settings.CheckpointInterval != 0) throw new ArgumentException("window must be a multiple of the checkpoint interval", nameof(settings));
        if (settings.FirstLeader >= (uint)_n) throw new ArgumentException($"first leader {settings.FirstLeader} is not in 0..{_n - 1}", nameof(settings));
        _id = auth.SelfId;
        if (_id >= (uint)_n) throw new ArgumentException($"replica id {_id} is not in 0..{_n - 1}", nameof(auth));
        _q = quorums ?? QuorumPolicy.ReMinBft(settings.F);
        _out = output;
        _output = output;
        _auth = auth;
        _usig = usig;
        _exec = execution;
        _builder = new MessageBuilder(auth, _n) { Family = ProtocolFamily.ReMinBft };
        _escalationSeen = new ulong[_n];
        _switchedPeers = new ulong[_n];
        _switchAnsweredTick = new long[_n];
        Array.Fill(_switchAnsweredTick, -1);
        InitGeneration(settings.FirstLeader);
        _updates = new UpdateSlot[settings.Window * 2];
        for (int i = 0; i < _updates.Length; i++) _updates[i] = new UpdateSlot(_n);
        _peerCp = new ulong[_n];
        _resendNext = new ulong[_n];
        _cpAnsweredTick = new long[_n];
        _peerCpSeen = new ulong[_n];
        Array.Fill(_cpAnsweredTick, -1);
        if (_isActive)
        {
            var composition = new MinBftComposition
            {
                Family = ProtocolFamily.ReMinBft, InitialView = _view, Members = _activeMask, ViewChanges = false, Observer = this,
            };
            // The core's own certified CHECKPOINT among the active replicas needs all of them (f+1); ReMinBFT's all-n rule gates it (MayStabilize).
            _core = new MinBftReplica(settings, auth, execution, output, usig, InnerQuorums, composition);
        }
    }

    /// <summary>
    /// The per-generation configuration (Thesis §5.4.2; docs/reminbft.md §7): generation led by <paramref name="leader"/> in
    /// view = leader, active = the leader and the next f replicas, passive = the rest, the CHECKPOINT votes of this
    /// generation's active set, the execution stage's executors and update recording.
    /// </summary>
    private void InitGeneration(uint leader)
    {
        _view = leader;
        _active = ActiveSet(Shape, leader);
        var passive = new List<uint>();
        for (uint r = 0; r < _n; r++) if (Array.IndexOf(_active, r) < 0) passive.Add(r);
        _passive = passive.ToArray();
        _activeMask = 0;
        foreach (var a in _active) _activeMask |= 1UL << (int)a;
        _isActive = (_activeMask & (1UL << (int)_id)) != 0;
        _exec.SetExecutors(_active);
        _exec.RecordUpdates = _isActive && _passive.Length > 0;
        _switchStartView = CoordinatorRotation.StartView(Shape, _view, 1);
        _cps = new CounterCheckpoints(_n, _active, _s.Window / _s.CheckpointInterval + 2, _s.CheckpointInterval);
    }

    /// <summary>The MinBFT core's quorums: MinBFT's, with ReMinBFT's commit quorum (all f+1 active replicas; a planted bug's)
    /// and, for the core's own certified CHECKPOINT, f+1 (before a switch that is all active replicas; ReMinBFT's all-n rule gates it).</summary>
    private QuorumPolicy InnerQuorums => QuorumPolicy.MinBft(_s.F) with { Commit = _q.Commit, Checkpoint = _active.Length };

    /// <summary>The active set of a generation led by <paramref name="leader"/>: the leader and the next f replicas (mod n), leader first (Thesis §5.4.2; <see cref="CellShape.RoleOf"/>).</summary>
    public static uint[] ActiveSet(CellShape shape, uint leader)
    {
        var a = new uint[shape.Active];
        for (int i = 0; i < a.Length; i++) a[i] = (uint)((leader + (uint)i) % (uint)shape.N);
        return a;
    }

    /// <inheritdoc/>
    public uint Id => _id;
    /// <inheritdoc/>
    public CellShape Shape { get; }
    /// <inheritdoc/>
    public ulong View => _core?.View ?? (_switched ? _switchView : _view);
    /// <inheritdoc/>
    public uint Leader => (uint)(View % (ulong)_n);
    /// <inheritdoc/>
    public ulong Generation => 2 * _epoch + (_switched ? 1UL : 0UL);
    /// <summary>Switch-backs this replica made (the header generation of its messages).</summary>
    public ulong SwitchBacks => _epoch;
    /// <summary>The sequence number the current generation started at (0 in generation 0; after a switch back its SWITCH-BACK batch or the checkpoint it joined at).</summary>
    public ulong GenerationStart => _genStart;

    /// <summary>The header generation of switch-back number <paramref name="epoch"/> led by <paramref name="leader"/> (0 for
    /// generation 0): ε·256 + leader, so generations order by ε and the leader (the generation's view) is in every header.</summary>
    public static ulong GenerationTag(ulong epoch, uint leader) => epoch == 0 ? 0 : (epoch << 8) | (leader & 0xFF);
    /// <inheritdoc/>
    public bool InViewChange => (_switching && !_switched) || (_core?.InViewChange ?? false);
    /// <inheritdoc/>
    public ulong LastExecuted => _core?.LastExecuted ?? _applied;
    /// <inheritdoc/>
    public ulong LowWatermark => _core?.LowWatermark ?? _stable;
    /// <inheritdoc/>
    public ReplicaCounters Counters => _core is null ? Stats : _core.Counters;
    /// <inheritdoc/>
    public IExecutionStage Execution => _exec;
    /// <summary>True if this replica is active (leader or follower) in the normal case.</summary>
    public bool IsActive => _isActive;
    /// <summary>The replicas active in the current generation, leader first.</summary>
    public IReadOnlyList<uint> ActiveReplicas => _active;
    /// <summary>The quorum sizes this core uses.</summary>
    public QuorumPolicy Quorums => _q;
    /// <summary>The MinBFT core of an active replica (null on a passive one); tests and the simulator's oracles read it.</summary>
    public MinBftReplica? Core => _core;
    /// <summary>The stable ReMinBFT checkpoint (all n): its sequence number, or 0.</summary>
    public ulong StableCheckpoint => _cps.Stable;

    /// <inheritdoc/>
    public string DescribeState()
        => $"remin e{_epoch} {(_isActive ? "active" : "passive")} cp {_cps.Stable}{(_switched ? " switched" : _switching ? $" switching bad={Stats.BadSwitches}({LastSwitchRejection}) buildfail={Stats.SwitchBuildFailures}" : "")} " + (_core is null ? $"applied {_applied} h {_stable} waiting-updates {Stats.UpdatesReceived - Stats.AppliedUpdates}"
            : _core.DescribeState() + $" unvouched {_core.Stats.UnauthenticatedBatches}+{_core.Stats.EmptyBatchesRejected}");

    /// <summary>Handles one message the verifier accepted with <see cref="ReMinBftSchema"/>.</summary>
    public void OnMessage(in VerifiedMessage m)
    {
        OnMessageCore(m);
        if (_anchorDigest is not null) TrySendAnchor();
        if (_joinTarget != 0) TryFinishJoin();
    }

    private void OnMessageCore(in VerifiedMessage m)
    {
        ref readonly var h = ref m.Header;
        if (h.Generation != _genTag && h.Type is not (MessageType.Request or MessageType.Panic))
        {
            if (h.Generation < _genTag) HelpLaggard(h.Sender);
            // Another generation (docs/reminbft.md §7): fetches are answered whatever their generation; an older certified
            // message still takes its place in its sender's counter order (no effect); a later one is not ours yet — it
            // is fetched again (UI-FETCH, re-sends) once this replica switched back too.
            // A UI-FETCH of an older generation comes from a replica still finishing it: the retired core relays the messages of that
            // generation it holds (a crashed leader's PREPAREs, the NEW-VIEW it installed) and, from the shared sent log, our own.
            if (h.Type == MessageType.UiFetch && h.Generation < _genTag && _retiredCore is not null) _retiredCore.OnMessage(m);
            else if (h.Type is MessageType.UiFetch or MessageType.Fetch or MessageType.StateData) (_core ?? _dormantCore)?.OnMessage(m);
            else if (m.HasUi && h.Generation < _genTag)
            {
                _core?.OnMessage(m);                                     // its place in the sender's counter order
                if (h.Type == MessageType.UiViewChange) _retiredCore?.OnMessage(m);   // the NEW-VIEW of its view, forwarded
            }
            else if (h.Type == MessageType.ReqViewChange && h.Generation == _prevGenTag) AnswerPreviousGeneration(h);
            else if (m.HasUi && h.Generation > _genTag && h.Type == MessageType.UiCheckpoint) NoteLaterCheckpoint(h, m.Message);
            else Stats.Ignored++;
            return;
        }
        switch (h.Type)
        {
            case MessageType.Update: if (_switched || _core is not null) Stats.Ignored++; else OnUpdate(h, m.Message); return;   // a passive replica with a core (a join fetching the state) applies none
            case MessageType.CounterCheckpoint: if (_switched) Stats.Ignored++; else OnCheckpoint(h, m.Message); return;
            case MessageType.Panic: OnPanic(h, m.Message); return;
            case MessageType.ReqViewChange when !_switched:
                NoteEscalation(h);
                if (_switched) break;                   // escalated just now: the core takes it
                return;
            case MessageType.ReqViewChange:
                OnEscalationRequest(h);
                break;
            case MessageType.UiViewChange when !_switched:
                if (m.HasUi) NoteEscalation(h);
                if (_switched) break;                   // escalated just now: the core takes it
                if (_core is not null) _core.OnMessage(m);   // its place in the sender's counter order
                return;
            case MessageType.UiSwitch when !_switched:
                // Taken on receipt, by passive replicas (no counter order for the coordinator yet: the history is its gap-free
                // run from its checkpoint counter, Thesis §5.4.3 "passive replicas rely on the ... counter-value information")
                // and by active ones: a valid SWITCH is the coordinator's first (docs/reminbft.md §5.3), so an active replica
                // that lags far behind in the coordinator's counter order need not fetch what the history already carries.
                // An invalid one still takes its place in the counter order (the MinBFT core below).
                if (m.HasUi) OnSwitch(h, m.Message, m.UiEpoch, m.UiCounter);
                if (_switched || _core is null) return;
                break;
        }
        if (!_switched && m.HasUi) NoteSwitchedPeer(h);
        if (_core is not null) { _core.OnMessage(m); return; }
        if (h.Type == MessageType.Request) OnPassiveRequest(h);
        else if (h.Type is MessageType.UiFetch or MessageType.Fetch or MessageType.StateData && _dormantCore is not null) _dormantCore.OnMessage(m);   // counters it certified in the phase
        else if (h.Type == MessageType.UiCheckpoint && m.HasUi && _epoch > 0) HoldCertifiedCheckpoint(h, m.Message);
        else Stats.Ignored++;                        // passive replicas take no part in agreement
    }

    /// <inheritdoc/>
    public void EndOfBurst()
    {
        if (_switchPending) { _switchPending = false; SendSwitch(); }
        _core?.EndOfBurst();
        _dormantCore?.EndOfBurst();
        if (_anchorDigest is not null) TrySendAnchor();
        if (_joinTarget != 0) TryFinishJoin();
    }

    /// <summary>Periodic timer: the MinBFT core's retransmissions, own CHECKPOINT re-sends until stable, UPDATE re-sends to lagging passive replicas.</summary>
    public void OnTick()
    {
        _tick++;
        if (_switching && !_switched) SwitchTick();
        JoinTick();
        if (_switched && _ownSwitch is not null && _tick % _s.RetransmitTicks == 0 && _switchResends-- > 0) Broadcast(_ownSwitch);
        if (_tick % _s.RetransmitTicks == 0 && !_switched)
        {
            ulong own = LastExecuted - LastExecuted % (ulong)_s.CheckpointInterval;
            if (own > _cps.Stable && _cps.TryGetOwnMessage(own, out var msg)) Broadcast(msg);
            if (_isActive && _passive.Length > 0) ResendUpdates();
        }
        _core?.OnTick();
        _dormantCore?.OnTick();
        _retiredCore?.OnTick();
        if (_anchorDigest is not null) TrySendAnchor();
        if (_joinTarget != 0) TryFinishJoin();
    }

    // ---------------------------------------------------------------- requests and PANIC

    private void OnPassiveRequest(in MessageHeader h)
    {
        // A passive replica orders nothing; a retransmitted request that it already applied gets the cached reply
        // (the client needs f+1 matching replies and the active replicas already sent theirs).
        if (_exec.Replies.TryGet(h.Sender, out var entry) && entry.LastExecutedRid == h.Sequence && entry.LastExecutedRid != 0)
        {
            ReplyMessages.Send(_builder, _out, View, entry, full: false);
            Stats.CachedReplies++;
        }
        else Stats.PassiveRequests++;
    }

    /// <summary>PANIC (Thesis §5.3.2.1, Fig. 5.3, as §5.4.3 uses it): the shared <see cref="PanicFilter"/>; a cached reply is re-sent.
    /// A justified PANIC would start the switch (not built yet): it is counted.</summary>
    private void OnPanic(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        _exec.Replies.TryGet(h.Sender, out var entry);
        var verdict = _panics.Check(h.Sender, h.Sequence, entry, LowWatermark);
        if (verdict is PanicVerdict.ReplyOnly or PanicVerdict.ReplyAndSwitch && entry is not null)
            ReplyMessages.Send(_builder, _out, View, entry, full: _exec.IsDesignated(h.Sender, h.Sequence));
        if (_switched && verdict is PanicVerdict.ReplyOnly or PanicVerdict.ReplyAndSwitch) _core?.SupportNextViewChange();   // after the switch: MinBFT's view change may need us
        if (verdict is not (PanicVerdict.Switch or PanicVerdict.ReplyAndSwitch) || _switched) return;
        Stats.SwitchesWanted++;
        Broadcast(message);                          // forwarded unchanged: the client's MAC vector covers every replica (G9)
        StartSwitch();
    }

    // ---------------------------------------------------------------- UPDATEs (Thesis §5.4.2 "Execution Stage")

    /// <inheritdoc/>
    void IMinBftObserver.BatchExecuted(ulong seq)
    {
        if (_passive.Length == 0 || _switched) return;
        var slot = SlotFor(seq);
        slot.StoreContent(_exec.BatchUpdate);
        SendUpdate(slot, DesignatedUpdater(seq) == _id, _passive);
    }

    /// <summary>The follower that sends the full content of s (the others, the leader always, send its digest; Thesis §5.3.5, §5.5.2.3).</summary>
    private uint DesignatedUpdater(ulong seq) => _active.Length == 1 ? _active[0] : _active[1 + (int)(seq % (ulong)(_active.Length - 1))];

    private void SendUpdate(UpdateSlot slot, bool full, ReadOnlySpan<uint> to)
    {
        var content = slot.Content;
        var body = _builder.BeginVector(MessageType.Update, View, slot.Seq, 4 + (full ? content.Length : Digests.Size));
        body[0] = full ? RePbftSchema.UpdateFull : RePbftSchema.UpdateDigest;
        body[1] = 0; body[2] = 0; body[3] = 0;
        if (full) content.CopyTo(body.Slice(4));
        else slot.ContentDigest.CopyTo(body.Slice(4));
        var msg = _builder.SealVector();
        foreach (var r in to) _out.SendToReplica(r, msg);
        Stats.UpdatesSent++;
    }

    /// <summary>
    /// Re-sends UPDATEs in full to a passive replica that has not reported (CHECKPOINT) the last checkpoint we executed and
    /// whose reported checkpoint did not move during a whole retransmission period (it stalls on a lost UPDATE): at most 16
    /// per period per passive replica, from the first s it may lack. Driven by our own timer only.
    /// </summary>
    private void ResendUpdates()
    {
        ulong k = (ulong)_s.CheckpointInterval;
        ulong last = LastExecuted;
        ulong lastCp = last - last % k;
        Span<uint> one = stackalloc uint[1];
        foreach (var p in _passive)
        {
            ulong from = _peerCp[p] + 1;
            bool moved = _peerCpSeen[p] != _peerCp[p];
            _peerCpSeen[p] = _peerCp[p];
            if (_peerCp[p] >= lastCp || moved) continue;                // caught up with our last checkpoint, or progressing
            if (_resendNext[p] < from) _resendNext[p] = from;
            if (_resendNext[p] > last) _resendNext[p] = from;             // wrap: start again from what it reported
            one[0] = p;
            for (int i = 0; i < 16 && _resendNext[p] <= last; i++, _resendNext[p]++)
            {
                var slot = _updates[(int)(_resendNext[p] % (ulong)_updates.Length)];
                if (slot.Seq != _resendNext[p] || !slot.HasContent) continue;
                SendUpdate(slot, full: true, one);
                Stats.UpdatesResent++;
            }
        }
    }

    private void OnUpdate(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (_isActive || h.View != _view || (_activeMask & (1UL << (int)h.Sender)) == 0) { Stats.Ignored++; return; }
        ulong seq = h.Sequence;
        if (seq <= _applied || seq <= _stable || seq > _applied + (ulong)_updates.Length) { Stats.OldMessages++; return; }
        Stats.UpdatesReceived++;
        var slot = SlotFor(seq);
        var body = MessageHeader.Body(message, h);
        Span<byte> digest = stackalloc byte[Digests.Size];
        if (body[0] == RePbftSchema.UpdateFull)
        {
            Digests.Sha256(body.Slice(4), digest);
            if (!slot.HasContent || slot.Votes.CountMatching(slot.ContentDigest) < slot.Votes.CountMatching(digest))
                slot.StoreContent(body.Slice(4), digest);
        }
        else body.Slice(4, Digests.Size).CopyTo(digest);
        slot.Votes.Replace(h.Sender, digest);        // a sender's latest UPDATE for s counts (a full re-send replaces its digest)
        ApplyReady();
    }

    /// <summary>Applies updates in s order once a full content matches UPDATEs from all f+1 active replicas (Thesis §5.4.2).</summary>
    private void ApplyReady()
    {
        Span<byte> d = stackalloc byte[Digests.Size];
        while (true)
        {
            ulong next = _applied + 1;
            var slot = _updates[(int)(next % (ulong)_updates.Length)];
            if (slot.Seq != next || !slot.HasContent) return;
            if (slot.Votes.CountMatching(slot.ContentDigest) < _q.Commit)
            {
                if (slot.Votes.Count >= _active.Length) Stats.MismatchedUpdates++;   // every active replica spoke and they disagree: stalls (a switch follows)
                return;
            }
            if (!_exec.TryApplyUpdate(next, slot.Content)) { Stats.BadUpdates++; return; }
            Stats.AppliedUpdates++;
            Stats.ExecutedBatches++;
            _applied = next;
            if (next % (ulong)_s.CheckpointInterval == 0)
            {
                _exec.TakeCheckpoint(next, d);
                Stats.Checkpoints++;
                SendCheckpoint(next, d);
            }
        }
    }

    private UpdateSlot SlotFor(ulong seq)
    {
        var slot = _updates[(int)(seq % (ulong)_updates.Length)];
        if (slot.Seq != seq) slot.Reset(seq);
        return slot;
    }

    // ---------------------------------------------------------------- CHECKPOINTs (Thesis §5.4.2 "Checkpoints and Garbage Collection")

    /// <inheritdoc/>
    void IMinBftObserver.CheckpointTaken(ulong seq, ReadOnlySpan<byte> digest32) { if (!_switched) SendCheckpoint(seq, digest32); }

    /// <inheritdoc/>
    bool IMinBftObserver.MayStabilize(ulong seq) => _switched || _cps.Stable >= seq;

    /// <inheritdoc/>
    void IMinBftObserver.CertifiedInOrder(in MessageHeader h, ReadOnlySpan<byte> message, ulong epoch, ulong counter)
    {
        if (h.Type == MessageType.UiSwitch && !_switched) OnSwitch(h, message, epoch, counter);
    }

    private void SendCheckpoint(ulong seq, ReadOnlySpan<byte> digest)
    {
        int count = _isActive ? _active.Length : 0;
        var body = _builder.BeginVector(MessageType.CounterCheckpoint, View, seq, ReMinBftBodies.SignedCheckpointLength(count));
        digest.CopyTo(body);
        BinaryPrimitives.WriteUInt32LittleEndian(body.Slice(Digests.Size), (uint)count);
        bool anchor = _epoch > 0 && seq == _genStart;
        for (int i = 0; i < count; i++)
        {
            ulong epoch, counter;
            if (anchor) _core!.TryGetCheckpointUi(_active[i], seq, out epoch, out counter);   // the generation's first checkpoint: the active replicas' certified CHECKPOINT(s) (§7.1 R-d)
            else _core!.TryGetAgreementCounter(_active[i], seq, out epoch, out counter);   // unknown (a state transfer skipped s): 0, which will not match
            BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(ReMinBftBodies.CheckpointFixed + 16 * i), epoch);
            BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(ReMinBftBodies.CheckpointFixed + 16 * i + 8), counter);
        }
        var msg = _builder.SealSignedVector();       // signed: the active replicas' CHECKPOINTs are the abort history's checkpoint certificate (R1)
        Broadcast(msg);
        _cps.Record(_id, seq, msg, own: true);
        TryStable(seq);
    }

    private static MessageHeader HeaderOf(ReadOnlySpan<byte> msg)
    {
        MessageHeader.TryParse(msg, int.MaxValue, out var h);
        return h;
    }

    private void OnCheckpoint(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        ulong seq = h.Sequence;
        if (seq == 0 || seq % (ulong)_s.CheckpointInterval != 0) { Stats.OldMessages++; return; }
        if (seq <= _cps.Stable)
        {
            // The sender re-sends a checkpoint that is stable here: it lacks some CHECKPOINT of it (a lost one is re-sent only by
            // a replica for which it is unstable). Answer with ours, at most once per tick per sender.
            Stats.OldMessages++;
            if (_cpAnsweredTick[h.Sender] != _tick && _cps.TryGetOwnMessage(seq, out var mine))
            {
                _cpAnsweredTick[h.Sender] = _tick;
                _out.SendToReplica(h.Sender, mine);
                Stats.CheckpointAnswers++;
            }
            return;
        }
        if (seq > _cps.Stable + 2 * (ulong)_s.Window) { Stats.OldMessages++; return; }
        var body = MessageHeader.Body(message, h);
        bool senderActive = (_activeMask & (1UL << (int)h.Sender)) != 0;
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(Digests.Size));
        if (count != (senderActive ? (uint)_active.Length : 0u)) { Stats.BadCheckpoints++; return; }   // an active replica lists every active replica's counter; a passive one none
        if (!senderActive && seq > _peerCp[h.Sender]) { _peerCp[h.Sender] = seq; }
        _cps.Record(h.Sender, seq, message, own: false);
        TryStable(seq);
    }

    private void TryStable(ulong seq)
    {
        if (seq > LastExecuted) return;
        if (!_cps.TryStabilize(seq, _q.Checkpoint, _id)) return;
        Stats.StableCheckpoints++;
        if (_core is not null) _core.RetryStabilize(seq);
        else if (seq > _stable) _stable = seq;
    }

    private void Broadcast(ReadOnlySpan<byte> message)
    {
        for (uint r = 0; r < _n; r++) if (r != _id) _out.SendToReplica(r, message);
    }

    // ---------------------------------------------------------------- IReplicaCore rest

    /// <inheritdoc/>
    public void GetStateDigest(Span<byte> digest32) => _exec.GetStateDigest(digest32);

    /// <inheritdoc/>
    public bool TryGetLoggedDigest(ulong seq, Span<byte> digest32) => _core is not null && _core.TryGetLoggedDigest(seq, digest32);

    /// <inheritdoc/>
    public bool IsPreparedOrDone(ulong seq, ReadOnlySpan<byte> digest32) => _core is null ? seq <= _applied : _core.IsPreparedOrDone(seq, digest32);
}

/// <summary>ReMinBFT's own counters (beside the MinBFT core's on an active replica).</summary>
public sealed class ReMinBftStats : ReplicaCounters
{
    /// <summary>Messages of no use to this replica's role (agreement messages at a passive replica, UPDATEs at an active one, wrong view or sender).</summary>
    public long Ignored;
    /// <summary>UPDATEs and CHECKPOINTs for instances already applied, stable, or beyond the window.</summary>
    public long OldMessages;
    /// <summary>UPDATEs sent (first sends), re-sent in full to a lagging passive replica, received by a passive replica.</summary>
    public long UpdatesSent, UpdatesResent, UpdatesReceived;
    /// <summary>Batches applied from UPDATEs; contents that failed to apply; instances where all active replicas sent UPDATEs that do not all match.</summary>
    public long AppliedUpdates, BadUpdates, MismatchedUpdates;
    /// <summary>CHECKPOINTs with the wrong number of counters for their sender's role.</summary>
    public long BadCheckpoints;
    /// <summary>Own CHECKPOINTs sent back to a peer that re-sent one for a checkpoint stable here.</summary>
    public long CheckpointAnswers;
    /// <summary>Requests a passive replica received and does not order.</summary>
    public long PassiveRequests;
    /// <summary>Justified PANICs (Fig. 5.3) this replica forwarded; switches it started (halted the normal case).</summary>
    public long SwitchesWanted, SwitchesStarted;
    /// <summary>SWITCHes rejected (invalid history or checkpoint certificate, wrong coordinator or view); abort histories the coordinator could not build (sent log missing, new USIG epoch).</summary>
    public long BadSwitches, SwitchBuildFailures;
    /// <summary>Switches that continued as MinBFT's view change because no valid SWITCH came in time (docs/reminbft.md §5.5).</summary>
    public long SwitchEscalations;
    /// <summary>REQ-VIEW-CHANGEs this replica sent asking to escalate a switch whose SWITCH did not come in time.</summary>
    public long EscalationRequests;
    /// <summary>Installed SWITCHes sent to a replica that asked to escalate past them.</summary>
    public long SwitchesForwarded;
    /// <summary>Later generations this replica joined from f+1 certified CHECKPOINTs after it was left behind (docs/reminbft.md §7.1 R-c).</summary>
    public long Joins;
    /// <summary>Switches back to a ReMinBFT generation this replica made (an agreed SWITCH-BACK batch executed in the MinBFT phase, docs/reminbft.md §7).</summary>
    public long SwitchBacks;
}
