using System.Buffers.Binary;
using FastBft.Agreement.Pbft;
using FastBft.Auth;
using FastBft.Execution;
using FastBft.TrustedHw;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Agreement.MinBft;

/// <summary>
/// The MinBFT protocol core of one replica (n = 2f+1, every replica active; Thesis §2.2.1, §5.4.1–§5.4.2;
/// PROTOCOLS.md §2.4–§2.5, §4 [X]; docs/minbft.md) as a sans-I/O state machine: it consumes verified messages
/// (<see cref="OnMessage"/>), ticks (<see cref="OnTick"/>) and end-of-burst notifications (<see cref="EndOfBurst"/>) and
/// emits complete messages through <see cref="IReplicaOutput"/>. No sockets, threads, clocks or randomness.
/// </summary>
/// <remarks>
/// <para>Rules (seed sections in brackets):</para>
/// <list type="bullet">
/// <item>Leader of view v is v mod n [PBFT-PR §4 via CellShape]. It cuts batches with the shared
/// <see cref="RequestIntake"/> at the end of every input burst while fewer than
/// <see cref="ReplicaParameters.MaxInflightBatches"/> are in flight and sends PREPARE(v, s, batch) certified with its
/// USIG UI to all [Thesis §5.4.2].</item>
/// <item>Every certified message of a sender is handled strictly in that sender's counter order; a gap waits in a
/// bounded <see cref="CounterOrderBuffer{TMessage}"/> and triggers a UI-FETCH to the sender [Thesis §2.2.1, §5.4.1;
/// PROTOCOLS.md §2.5 SUGGESTION]. A replayed UI (counter already handled) is dropped and counted.</item>
/// <item>A follower binds a PREPARE of its view from the leader if s = (last bound) + 1; a second PREPARE for a bound
/// s is an equivocation attempt: dropped and counted (its distinct counter makes it visible). A PREPARE with a larger
/// s, a later view, or beyond the window is parked: the sender's queue waits (docs/minbft.md §3: a parked message keeps
/// every correct replica's binding a function of the leader's counter sequence).</item>
/// <item>Having bound a PREPARE whose client MACs all verified, a follower multicasts COMMIT(v, s, D(batch), UI_L)
/// certified with its own UI, in s order [Thesis §5.4.2 sender rule]. s commits with f+1 matching certified messages
/// from distinct replicas, the leader's PREPARE counting as one [Thesis §5.4.2 "a PREPARE and f matching COMMITs";
/// PROTOCOLS.md §4]; execution is in s order through the execution stage; replies as PBFT [Thesis §2.1.1.4].</item>
/// <item>All certified messages of one burst are certified with one <see cref="UsigCertificateScheme.SealBatch"/> call
/// (one device round trip per burst) and sent in counter order [PROTOCOLS.md §2.4 SUGGESTION].</item>
/// <item>CHECKPOINT(s, D(state), own counter for s) every K, USIG-certified; stable at f+1 matching from distinct
/// replicas; then the window advances and the log below is garbage [Thesis §5.4.2 "Checkpoints"; docs/minbft.md §4].
/// State transfer is <see cref="StateTransfer"/>, as in PBFT [PBFT-PR §4.6.2].</item>
/// </list>
/// <para>View change (<c>MinBftReplica.ViewChange.cs</c>, docs/minbft.md §5; Veronese et al. via PROTOCOLS.md §4 [X], G17).</para>
/// <para>Single-threaded; not thread-safe. Steady state allocates nothing per request.</para>
/// </remarks>
public sealed partial class MinBftReplica : IReplicaCore, IExecutionSink
{
    private readonly ReplicaParameters _s;
    private readonly uint _id;
    private readonly int _n;
    private readonly IExecutionStage _exec;
    private readonly QuorumPolicy _q;
    private readonly IReplicaOutput _out;
    private readonly MessageBuilder _builder;
    private readonly UsigCertificateScheme _usig;
    private readonly MinBftSlot[] _slots;
    private readonly CheckpointTracker _checkpoints;
    private readonly ClientTable _clients = new();
    private readonly RequestQueue _pending = new();
    private readonly RequestIntake _intake;
    private readonly CertifiedOutbox _outbox;
    private readonly SentLog _sent;
    private readonly MinBftComposition _composition;
    private readonly IMinBftObserver? _observer;
    private ulong _members;
    private bool _viewChanges;
    private long _tick;
    private ulong _lastCommitQueued;          // highest s this replica queued its own COMMIT for in this view (sender rule)

    /// <summary>Current view v.</summary>
    public ulong View { get; private set; }
    /// <summary>Low watermark h: sequence number of the last stable checkpoint.</summary>
    public ulong LowWatermark { get; private set; }
    /// <summary>Last sequence number executed.</summary>
    public ulong LastExecuted { get; private set; }
    /// <summary>Last sequence number bound in this view: proposed (leader) or whose PREPARE was accepted (follower).</summary>
    public ulong LastPrepared { get; private set; }
    /// <summary>Counters (written by the core's thread; read from others through <see cref="ReplicaCounters.Read(ref long)"/>).</summary>
    public MinBftStats Stats { get; } = new();

    /// <inheritdoc/>
    public ReplicaCounters Counters => Stats;
    /// <inheritdoc/>
    public IExecutionStage Execution => _exec;
    /// <summary>The quorum sizes this core uses.</summary>
    public QuorumPolicy Quorums => _q;

    /// <summary>Creates the core of replica <paramref name="auth"/>.SelfId.</summary>
    /// <param name="settings">protocol parameters (window a multiple of K).</param>
    /// <param name="auth">this replica's MAC authenticator (requests, replies, UI-FETCH, state transfer).</param>
    /// <param name="execution">the execution stage committed batches go to.</param>
    /// <param name="output">where messages leave.</param>
    /// <param name="usig">this replica's USIG certificate scheme — the same instance its verifier checks UIs with; its id must be the replica id.</param>
    /// <param name="quorums">quorum sizes; null = <see cref="QuorumPolicy.MinBft"/>(f). Tests inject planted bugs here.</param>
    /// <param name="composition">what a composing protocol (ReMinBFT) changes; null = plain MinBFT.</param>
    /// <exception cref="ArgumentException">f &lt; 1, n = 2f+1 &gt; 64, window not a multiple of K, id out of range, or the USIG belongs to another replica.</exception>
    /// <exception cref="ArgumentNullException"><paramref name="usig"/> is null.</exception>
    public MinBftReplica(ReplicaParameters settings, Authenticator auth, IExecutionStage execution, IReplicaOutput output, UsigCertificateScheme usig, QuorumPolicy? quorums = null, MinBftComposition? composition = null)
    {
        _composition = composition ?? new MinBftComposition();
        _observer = _composition.Observer;
        _members = _composition.Members;
        _viewChanges = _composition.ViewChanges;
        ArgumentNullException.ThrowIfNull(usig);
        _s = settings;
        if (settings.F < 1) throw new ArgumentException($"f must be at least 1 (f={settings.F})", nameof(settings));
        Shape = new CellShape(ProtocolKind.MinBft, settings.F);
        _n = Shape.N;
        if (_n > 64) throw new ArgumentException("at most 64 replicas (vote bitmasks are 64-bit)", nameof(settings));
        if (settings.Window % settings.CheckpointInterval != 0) throw new ArgumentException("window must be a multiple of the checkpoint interval", nameof(settings));
        _id = auth.SelfId;
        if (_id >= _n) throw new ArgumentException($"replica id {_id} is not in 0..{_n - 1}", nameof(auth));
        if (usig.SelfId != _id) throw new ArgumentException($"USIG instance {usig.SelfId} given to replica {_id}", nameof(usig));
        _usig = usig;
        _exec = execution;
        _q = quorums ?? QuorumPolicy.MinBft(settings.F);
        _out = output;
        _generation = _composition.Generation;
        _builder = new MessageBuilder(auth, _n) { Family = _composition.Family, Generation = _generation };
        View = _composition.InitialView;
        _slots = new MinBftSlot[settings.Window];
        for (int i = 0; i < _slots.Length; i++) _slots[i] = new MinBftSlot(_n, _composition.Family);
        _checkpoints = new CheckpointTracker(_n, settings.Window / settings.CheckpointInterval + 1, settings.CheckpointInterval);
        _intake = new RequestIntake(_clients, _pending, execution.Replies, settings.BatchSize);
        _outbox = new CertifiedOutbox(_id, _composition.Family, _generation);
        // Own certified messages of two windows: one PREPARE/COMMIT per sequence number and one CHECKPOINT per K.
        _sent = _composition.InheritedSentLog ?? new SentLog(2 * (settings.Window + settings.Window / settings.CheckpointInterval) + 64);
        InitOrder();
        InitTaken();
        _cpUiSeq = new ulong[_n]; _cpUiEpoch = new ulong[_n]; _cpUiCounter = new ulong[_n];
        InitCheckpointMessages();
        InitViewChange();
        _stateTransfer = new StateTransfer(_id, _n, _q.Weak, settings.RetransmitTicks, settings.MaxStateBytes, _exec, this, Stats);
        if (execution is FastBft.Execution.Odrc.IOdrcStage odrc)
        {
            // ODRC under plain MinBFT only (docs/odrc.md §4a): a composition with passive members (ReMinBFT) keeps them
            // current by state updates, which selective execution does not produce.
            if ((_members & AllMembers(_n)) != AllMembers(_n)) throw new ArgumentException("ODRC runs under plain MinBFT only: " + FastBft.Execution.Odrc.OdrcProtocol.PassiveReplicasReason, nameof(execution));
            odrc.Attach(this, this);
        }
        if (_composition.InitialCounters is { } counters)
            foreach (var (j, epoch, next) in counters)
            {
                if (j >= (uint)_n || j == _id || next == 0) continue;
                var b = new CounterOrderBuffer<HeldMessage?>(_n, OrderCapacity);
                b.Register(j, epoch, next);
                _order[j] = b;
            }
        if (_composition.Start is { } start) StartAt(start.Seq, start.Digest);
    }

    private readonly ulong _generation;
    private bool _retired;

    /// <summary>This core's sent log (a core that replaces it after a switch back inherits it, <see cref="MinBftComposition.InheritedSentLog"/>).</summary>
    internal SentLog SentLog => _sent;

    /// <summary>Where each sender's counter order stands (epoch, next counter expected) — what a core that replaces this one
    /// starts from (<see cref="MinBftComposition.InitialCounters"/>). Senders never heard from are left out.</summary>
    public List<(uint Sender, ulong Epoch, ulong Next)> CounterPositions()
    {
        var list = new List<(uint, ulong, ulong)>();
        for (uint j = 0; j < _n; j++)
            if (j != _id && _order[j] is { } b) { var st = b.GetState(j); list.Add((j, st.Epoch, st.ExpectedCounter)); }
        return list;
    }

    /// <summary>The UI of <paramref name="j"/>'s certified CHECKPOINT(<paramref name="seq"/>) this core handled in j's counter
    /// order (its own: the one it sent), if it is j's latest — the anchor counters of ReMinBFT's CHECKPOINT at a switch back
    /// (docs/reminbft.md §7.1 R-d).</summary>
    public bool TryGetCheckpointUi(uint j, ulong seq, out ulong epoch, out ulong counter)
    {
        epoch = counter = 0;
        if (j == _id)
        {
            if (!_ownCheckpoint.TryGetValue(seq, out var own)) return false;
            (epoch, counter) = own;
            return true;
        }
        if (j >= (uint)_n || _cpUiSeq[j] != seq || _cpUiCounter[j] == 0) return false;
        epoch = _cpUiEpoch[j]; counter = _cpUiCounter[j];
        return true;
    }

    private ulong[] _cpUiSeq = [], _cpUiEpoch = [], _cpUiCounter = [];

    /// <summary>Retires this core (a composing protocol replaced it, docs/reminbft.md §7): it answers UI-FETCHes and does nothing else.</summary>
    public void Retire() => _retired = true;

    /// <summary>True once this core executed a SWITCH-BACK batch and retired (<see cref="IMinBftObserver.SwitchBackExecuted"/>):
    /// it answers UI-FETCHes from its sent log and does nothing else.</summary>
    public bool Retired => _retired;

    /// <summary>
    /// A core that starts after a switch back at <paramref name="seq"/> (<see cref="MinBftComposition.Start"/>): the execution
    /// stage took its checkpoint there (digest <paramref name="digest"/>); it is this core's low watermark (the composing
    /// protocol's all-n rule still gates the next ones), every sender's checkpoint bound, and the core's first certified
    /// message announces it (the anchor of docs/reminbft.md §7.1 R-d).
    /// </summary>
    private void StartAt(ulong seq, byte[] digest)
    {
        LastExecuted = LastPrepared = _lastCommitQueued = _highestVoteSeen = seq;
        LowWatermark = seq;
        _checkpoints.RecordOwn(seq, digest, _id);
        _checkpoints.MakeStable(seq);
        for (uint j = 0; j < _n; j++) { _peerCheckpoint[j] = seq; _peerCheckpointFromNewView[j] = true; }
        if (seq > 0) QueueCheckpoint(seq, digest);
    }

    /// <summary>
    /// Certified CHECKPOINTs of this core's stable checkpoint (its generation, its digest) that reached the composing protocol
    /// while this core was <see cref="Dormant"/>: kept as the checkpoint's certificate (a VIEW-CHANGE needs f+1). Others are ignored.
    /// </summary>
    public void AdoptCheckpointCertificate(IEnumerable<byte[]> messages)
    {
        foreach (var m in messages)
        {
            if (MessageHeader.TryParse(m, int.MaxValue, out var ch) != ParseStatus.Ok || ch.Type != MessageType.UiCheckpoint || ch.Sequence != LowWatermark
                || ch.Sequence == 0 || ch.Sender >= (uint)_n || ch.Sender == _id || ch.Generation != _generation || m.Length < MessageHeader.Size + Digests.Size) continue;
            if (!MessageHeader.Body(m, ch).Slice(0, Digests.Size).SequenceEqual(_checkpoints.StableDigest.Span)) continue;
            StoreCheckpointMessage(ch.Sequence, ch.Sender, m);
        }
    }

    /// <summary>
    /// Joins a later ReMinBFT generation at its certified checkpoint <paramref name="x"/> (docs/reminbft.md §7.1 R-c): the f+1
    /// matching certified CHECKPOINT(x) messages in <paramref name="certificate"/> become the stable checkpoint's certificate,
    /// every sender's checkpoint bound becomes x, and the state at x (<paramref name="digest"/>, 32 bytes) is fetched from
    /// <paramref name="holders"/> (verified against the digest); once installed the core runs from x+1. <paramref name="executedHere"/>:
    /// what the replica executed before (its last executed sequence number does not go back while it fetches).
    /// </summary>
    public void JoinAt(ulong x, byte[] digest, IReadOnlyList<byte[]> certificate, IReadOnlyList<uint> holders, ulong executedHere)
    {
        if (x <= LowWatermark) return;
        if (executedHere > LastExecuted) LastExecuted = LastPrepared = _lastCommitQueued = executedHere;   // what the replica executed before (a new core)
        _checkpoints.SetStable(digest);
        LowWatermark = x;
        Stats.StableCheckpoints++;
        foreach (var m in certificate)
        {
            if (MessageHeader.TryParse(m, int.MaxValue, out var ch) != ParseStatus.Ok || ch.Type != MessageType.UiCheckpoint || ch.Sequence != x || ch.Sender >= (uint)_n || ch.Sender == _id) continue;
            StoreCheckpointMessage(x, ch.Sender, m);
        }
        for (uint j = 0; j < _n; j++) if (_peerCheckpoint[j] < x) { _peerCheckpoint[j] = x; _peerCheckpointFromNewView[j] = true; }
        _stateTransfer.FetchCertified(x, digest, holders);
    }

    private bool _dormant;

    /// <summary>
    /// A dormant core (a replica that is passive in a ReMinBFT generation after a switch back, docs/reminbft.md §7): it certified
    /// its CHECKPOINT of the generation's start and answers UI-FETCHes; it takes part in nothing until the composing protocol
    /// wakes it for the next switch (then false). Its timer only counts ticks.
    /// </summary>
    public bool Dormant { get => _dormant; set => _dormant = value; }

    private static ulong AllMembers(int n) => n >= 64 ? ulong.MaxValue : (1UL << n) - 1;

    /// <inheritdoc/>
    public uint Id => _id;
    /// <inheritdoc/>
    public CellShape Shape { get; }
    /// <inheritdoc/>
    public uint Leader => (uint)(View % (ulong)_n);
    /// <inheritdoc/>
    public ulong Generation => _generation;
    /// <summary>True if this replica leads the current view.</summary>
    public bool IsLeader => Leader == _id;
    /// <summary>Number of requests waiting at the leader for a batch.</summary>
    public int PendingRequests => _pending.Count;
    private ulong HighWatermark => LowWatermark + (ulong)_s.Window;
    /// <summary>Period of the tail probe (an unconditional UI-FETCH to every peer): 4 × RetransmitTicks.</summary>
    private long TailProbeTicks => 4L * _s.RetransmitTicks;

    /// <inheritdoc/>
    public string DescribeState()
        => $"v{View}{(_inViewChange ? " waiting-NV" : "")} leader {Leader} last {LastExecuted} prepared {LastPrepared} h {LowWatermark} pending {_pending.Count} outbox {_outbox.Count} parked {ParkedCount()}{DescribeParked()} gaps {Stats.CounterGaps} equivocations {Stats.Equivocations}";

    private string DescribeParked()
    {
        var sb = new System.Text.StringBuilder(" expect");
        for (uint j = 0; j < _n; j++)
            if (_order[j] is { } b) { var st = b.GetState(j); sb.Append(System.Globalization.CultureInfo.InvariantCulture, $" {j}:{st.Epoch}:{st.ExpectedCounter}+{st.Buffered}"); }
        for (uint j = 0; j < _n; j++)
        {
            if (_parked[j] is not { } p) continue;
            MessageHeader.TryParse(p.Span, int.MaxValue, out var h);
            CertifiedOutbox.ReadUi(p.Span, out ulong e, out ulong c);
            sb.Append(System.Globalization.CultureInfo.InvariantCulture, $" [{j}: {h.Type} v{h.View} s{h.Sequence} ui {e}:{c}, peer checkpoint {_peerCheckpoint[j]}]");
        }
        return sb.ToString();
    }

    /// <summary>
    /// Handles one message the <see cref="MessageVerifier"/> accepted with <see cref="MinBftSchema"/>. Certified
    /// messages (<see cref="VerifiedMessage.HasUi"/>) go through the sender's counter order first.
    /// </summary>
    public void OnMessage(in VerifiedMessage m)
    {
        ref readonly var h = ref m.Header;
        if (_retired)
        {
            // A retired core serves replicas still finishing its generation: UI-FETCH answers and relays, and the NEW-VIEW it
            // installed to one that asks for that view (docs/reminbft.md §7.1 R-c).
            if (h.Type == MessageType.UiFetch) OnUiFetch(h, m.Message);
            else if (h.Type == MessageType.UiViewChange && h.Generation == _generation) ForwardNewView(h);
            else Stats.Ignored++;
            return;
        }
        if (h.Generation != _generation && !(m.HasUi && h.Generation < _generation)
            && h.Type is not (MessageType.Request or MessageType.UiFetch or MessageType.Fetch or MessageType.StateData)) { Stats.Ignored++; return; }
        switch (h.Type)
        {
            case MessageType.Request: OnRequest(h, m.Message, m.RequestDigest); break;
            case MessageType.UiPrepare:
            case MessageType.UiCommit:
            case MessageType.UiCheckpoint:
            case MessageType.UiSwitch:
                if (!m.HasUi || h.Sender >= (uint)_n || h.Sender == _id || !IsMember(h.Sender)) { Stats.Ignored++; return; }
                OnCertified(h, m.Message, m.RequestsAuthenticated, m.UiEpoch, m.UiCounter);
                break;
            case MessageType.UiViewChange:
            case MessageType.UiNewView:
                if (!m.HasUi || h.Sender >= (uint)_n || h.Sender == _id || !IsMember(h.Sender) || !_viewChanges) { Stats.Ignored++; return; }
                OnCertified(h, m.Message, m.RequestsAuthenticated, m.UiEpoch, m.UiCounter);   // a NEW-VIEW is installed there, in order
                if (h.Type == MessageType.UiViewChange && h.Generation == _generation) OnViewChange(h, m.Message);
                break;
            case MessageType.ReqViewChange: if (_viewChanges) OnReqViewChange(h); else Stats.Ignored++; break;
            case MessageType.UiFetch: OnUiFetch(h, m.Message); break;
            case MessageType.Fetch: OnFetch(h, m.Message); break;
            case MessageType.StateData: OnStateData(h, m.Message); break;
            default: if (!OnOdrcMessage(h, m.Message)) Stats.Ignored++; break;
        }
    }

    /// <summary>
    /// End of an input burst: the leader cuts batches, then every certified message the burst produced is certified with
    /// one USIG call and sent (<see cref="Flush"/>).
    /// </summary>
    public void EndOfBurst()
    {
        if (_retired) return;
        if (_dormant) { Flush(); return; }
        ResumeParked();
        if (IsLeader && !InViewChange && !_halted)
        {
            // First the batches the NEW-VIEW fixed, in s order (docs/minbft.md §5.5), then new ones.
            while (LastPrepared < _fixedUpTo && LastPrepared + 1 <= _ownCpQueued + (ulong)_s.Window && SlotOf(LastPrepared + 1).PrepareLength > 0) ReProposeFixed(LastPrepared + 1);
            while (LastPrepared >= _fixedUpTo && _pending.Count > 0 && _flaggedProposal <= LastExecuted
                   && LastPrepared - LastExecuted < (ulong)_s.MaxInflightBatches
                   && LastPrepared + 1 <= HighWatermark)
            {
                CutBatch();
            }
        }
        Flush();
    }

    /// <summary>Periodic timer: re-sends own messages of stalled slots, asks peers for missing counters, retransmits unstable checkpoints, drives state transfer.</summary>
    public void OnTick()
    {
        _tick++;                                           // a retired or dormant core still answers UI-FETCHes, once per tick per asker
        if (_retired || _dormant) return;
        ForgetLateCertificates();
        bool stalled = false;
        ulong hi = Math.Min(Math.Max(LastPrepared, _highestVoteSeen), HighWatermark);
        for (ulong seq = Math.Max(LastExecuted, LowWatermark) + 1; seq <= hi; seq++)
        {
            var slot = SlotOf(seq);
            if (slot.Seq == seq && slot.Executed) continue;
            if (slot.Seq != seq) { stalled = true; continue; }
            // Bound, unexecuted and without a new vote since the last tick: its votes may be lost, so it counts as
            // stalled on every tick (not only on the retransmission tick, which could be out of phase with the fetch
            // tick below and never meet it: M1, docs/minbft.md §3 "Retransmission").
            if (slot.StalledTicks > 0) stalled = true;
            if (++slot.StalledTicks % _s.RetransmitTicks != 0) continue;
            Stats.Retransmissions++;
            if (slot.SentOwn && _sent.TryGet(slot.OwnEpoch, slot.OwnCounter, out var own)) Broadcast(own);   // same bytes, same UI
        }
        if (_tick % _s.RetransmitTicks == 0)
        {
            // Stalled or holding a gap: ask every peer for what follows its expected counter. Otherwise a tail probe every
            // TailProbeTicks: a replica that lost its peers' last certified messages sees no gap (M2). Both go from our
            // own timer only (nothing a peer sends triggers one), one 16-byte UI-FETCH per peer, and each answer is
            // bounded by FetchBurst and by once per tick per asker.
            if (stalled || BufferedAnything() || _tick % TailProbeTicks == 0) RequestMissingFromAll();   // a parked sender is not helped by fetching
            if (_checkpoints.OwnUnstable(LowWatermark, out ulong cpSeq, out _) && _ownCheckpoint.TryGetValue(cpSeq, out var cp) && _sent.TryGet(cp.Epoch, cp.Counter, out var cpMsg))
                Broadcast(cpMsg);
        }
        _stateTransfer.Tick(LastExecuted);
        if (_viewChanges) ViewChangeTick();
        OdrcHosting.Tick(_exec);
        EndOfBurst();
    }

    // ---------------------------------------------------------------- requests

    private void OnRequest(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> requestDigest)
    {
        ulong rid = h.Sequence;
        var rec = _clients.Get(h.Sender);
        var entry = ReplyOf(rec);
        if (rid < entry.LastExecutedRid) { Stats.OldRequests++; return; }
        if (rid == entry.LastExecutedRid)
        {
            Stats.CachedReplies++;
            SendReply(entry, full: true);                  // a retransmission gets the cached reply, never a re-execution [Thesis §2.1.2.2]
            // The client timed out without f+1 matching replies for a request we executed. If another replica already asks
            // for a later view, our reply alone does not serve the client: with n = 2f+1 every correct replica is needed, and
            // one that left the view with a faulty replica's help waits for us for good (docs/minbft.md §5.1, M6).
            if (_viewChanges && !InViewChange) SupportNextViewChange();
            return;
        }
        // ODRC: a retransmission of an ordered request is a stalled-result notice (Thesis §6.4.3): forced, never re-ordered
        if (OdrcHosting.StalledRequest(_exec, h.Sender, rid)) return;
        if (IsLeader && !InViewChange)
        {
            var result = _intake.Offer(rec, rid, message, requestDigest);
            if (result == IntakeResult.Duplicate)
            {
                // A client timed out and multicast it (or a follower relayed that): the leader's own view-change timer runs
                // too. With n = 2f+1 and f replicas crashed, the f correct followers alone are not the f+1 a view change
                // needs; a correct leader that cannot get its requests committed must add its suspicion (V1).
                Stats.DuplicateRequests++;
                AwaitRequest(h.Sender, rid, message);
            }
            else if (result == IntakeResult.Deferred) Stats.ThrottledRequests++;
        }
        else
        {
            AwaitRequest(h.Sender, rid, message);          // the view-change timer runs until it executes
            if (rid <= rec.HighestForwardedRid || InViewChange) return;
            rec.HighestForwardedRid = rid;                 // a client that timed out multicasts; a follower relays it once [PBFT-PR §4.2]
            Stats.ForwardedRequests++;
            _out.SendToReplica(Leader, message);
        }
    }

    /// <summary>The last sequence number this leader proposed a SWITCH-BACK batch at: it cuts no batch above it until it executed it.</summary>
    private ulong _flaggedProposal;

    /// <summary>Highest sequence number the last NEW-VIEW fixed (the new leader re-proposes up to it).</summary>
    private ulong _fixedUpTo;

    private void ReProposeFixed(ulong seq)
    {
        var slot = SlotOf(seq);
        var batch = slot.Batch;
        var body = _outbox.Begin(MessageType.UiPrepare, View, seq, batch.Length);
        batch.CopyTo(body);
        _outbox.End(slot.Digest);
        LastPrepared = seq;
        Stats.Batches++;
    }

    private void CutBatch()
    {
        ulong seq = LastPrepared + 1;
        int count = _intake.Select(seq, out int bodyLength);
        var body = _outbox.Begin(MessageType.UiPrepare, View, seq, bodyLength);
        _intake.Write(body, count);
        ushort flags = _observer?.BatchFlagsFor(seq) ?? 0;
        if (flags != 0) { Bodies.SetBatchFlags(body, flags); _flaggedProposal = seq; }   // ReMinBFT's SWITCH-BACK batch (docs/reminbft.md §7): the digest covers the flag; no batch above it until it executed
        _outbox.End(body.Slice(0, Digests.Size));           // the UI certifies SHA-256(header ‖ D(batch))
        LastPrepared = seq;
        SlotFor(seq);
        Stats.Batches++;
        Stats.BatchedRequests += count;
    }

    // ---------------------------------------------------------------- agreement

    /// <summary>What handling a certified message did: it may be parked (the sender's queue waits) instead of consumed.</summary>
    private enum Handled : byte { Done, Park }

    /// <summary>A certified message, in its sender's counter order.</summary>
    private Handled HandleInOrder(in MessageHeader h, ReadOnlySpan<byte> message, bool requestsAuthenticated)
    {
        if (_retired) return Handled.Done;                 // switched back while draining a sender's queue: no effect any more
        ObserveCertifiedHandled(h, message);
        if (h.Type == MessageType.UiCommit && h.Sender < (uint)_recentCommits.Length)
            (_recentCommits[h.Sender] ??= new RecentCommits(2 * _s.Window + 16)).Add(message);   // relayed to a replica that lost it (TryFindHeld)
        if (h.Generation < _generation) { Stats.OldMessages++; return Handled.Done; }   // before a switch back (docs/reminbft.md §7): its place in the counter order only
        if (h.Generation > _generation) return Handled.Park;
        if (h.Type == MessageType.UiCheckpoint && _generation > 0) NoteCheckpointVote(h, message);   // counted again in order (first wins): one that came before our generation did (docs/reminbft.md §7)
        switch (h.Type)
        {
            case MessageType.UiPrepare or MessageType.UiCommit:
            {
                if (!_viewChanges && BreaksSenderOrder(h)) { Stats.SenderOrderViolations++; return Handled.Park; }
                var handled = h.Type == MessageType.UiPrepare ? OnPrepare(h, message, requestsAuthenticated) : OnCommit(h, message);
                if (handled == Handled.Done && !_viewChanges) NoteSenderOrder(h);
                return handled;
            }
            case MessageType.UiCheckpoint:
            {
                var handled = OnCheckpointInOrder(h, message);
                if (handled == Handled.Done && h.Sender < (uint)_n)
                {
                    CertifiedOutbox.ReadUi(message, out ulong ce, out ulong cc);
                    _cpUiSeq[h.Sender] = h.Sequence; _cpUiEpoch[h.Sender] = ce; _cpUiCounter[h.Sender] = cc;
                }
                return handled;
            }
            case MessageType.UiSwitch:
            {
                CertifiedOutbox.ReadUi(message, out ulong se, out ulong sc);
                _observer?.CertifiedInOrder(h, message, se, sc);   // a composing protocol's certified message, in its sender's counter order
                return Handled.Done;
            }
            case MessageType.UiViewChange: return Handled.Done;  // handled on receipt (self-contained); its place in the order matters for the sender's run only
            case MessageType.UiNewView:
            {
                // In the new leader's counter order: its first valid NEW-VIEW for a view is the one every correct replica installs.
                CertifiedOutbox.ReadUi(message, out ulong e, out ulong c);
                OnNewView(h, message, e, c);
                return Handled.Done;
            }
            default: Stats.Ignored++; return Handled.Done;
        }
    }

    private Handled OnPrepare(in MessageHeader h, ReadOnlySpan<byte> message, bool requestsAuthenticated)
    {
        if (_halted && h.View <= View) { Stats.OldMessages++; return Handled.Done; }   // agreement stopped (a switch, docs/reminbft.md §5): consumed in counter order, no effect; a later view's parks below
        if (h.View < View)
        {
            Stats.OldMessages++;
            if (_composition.Family == ProtocolFamily.ReMinBft && h.Sequence > LastExecuted)   // an older view's commit certificate may still form (MinBftReplica.LateCertificates.cs)
                RecordLateVote(h, Bodies.BatchDigest(MessageHeader.Body(message, h)), isPrepare: true);
            return Handled.Done;
        }
        if (h.View > View || _inViewChange) return Handled.Park;   // a later view, or ours before its NEW-VIEW is installed                        // a later view: wait until we are in it
        if (h.Sender != Leader) { Stats.Ignored++; return Handled.Done; }
        ulong seq = h.Sequence;
        if (seq > _peerCheckpoint[h.Sender] + (ulong)_s.Window) { Stats.CheckpointOrderViolations++; return Handled.Park; }   // beyond the sender's own window: never from a correct leader
        if (seq <= LastPrepared)
        {
            // A second PREPARE for a bound s (a distinct counter: the USIG makes the attempt visible) — or an old one a state transfer covered.
            if (seq > LowWatermark && seq > LastExecuted) Stats.Equivocations++;
            else Stats.OldMessages++;
            return Handled.Done;
        }
        if (seq != LastPrepared + 1 || seq > HighWatermark) return Handled.Park;   // not next, or beyond our window: wait (state transfer moves us)
        var body = MessageHeader.Body(message, h);
        var digest = Bodies.BatchDigest(body);
        var slot = SlotFor(seq);
        bool vouched = false;
        if (slot.NvFixed)
        {
            // A NEW-VIEW fixed this batch: the new leader must re-propose exactly it. Anything else parks its queue for
            // good (dropping it would let a later PREPARE for s be bound here and not elsewhere).
            if (!digest.SequenceEqual(slot.Digest)) { Stats.BadFixedPrepares++; return Handled.Park; }
            vouched = true;
        }
        var ui = MessageHeader.Authenticator(message, h).Slice(Authenticator.TrailerHeaderSize, MinBftBodies.UiSize);
        slot.StorePrepare(message, digest, ui);
        LastPrepared = seq;
        slot.Votes.Record(h.Sender, digest);                            // the leader's PREPARE counts as its vote
        // We vouch (COMMIT) only for a batch whose client MACs all verified for us and that orders something (L3: an
        // empty batch outside a new view would let a censoring leader look busy); it is bound either way.
        if (Bodies.BatchFlags(body) != 0 && !_viewChanges) Stats.SwitchBackOutsidePhase++;   // a SWITCH-BACK flag is agreed only in the MinBFT phase (docs/reminbft.md §7)
        else if (vouched) slot.PrepareAuthenticated = true;       // fixed by a NEW-VIEW from f+1 logs (the null request included)
        else if (Bodies.BatchCount(body) == 0) Stats.EmptyBatchesRejected++;
        else if (!requestsAuthenticated) Stats.UnauthenticatedBatches++;
        else slot.PrepareAuthenticated = true;
        QueueCommits();
        Advance(slot);
        return Handled.Done;
    }

    /// <summary>Queues our COMMITs for bound slots in s order (Thesis §5.4.2 sender rule: one for every preceding instance first).</summary>
    private void QueueCommits()
    {
        if (InViewChange || _halted) return;
        while (_lastCommitQueued < LastPrepared)
        {
            ulong seq = _lastCommitQueued + 1;
            if (seq > _ownCpQueued + (ulong)_s.Window) return;   // our own CHECKPOINT first (after a state transfer)
            var slot = SlotOf(seq);
            if (IsLeader) { _lastCommitQueued = seq; continue; }   // the leader's vote is its PREPARE
            _lastCommitQueued = seq;
            if (slot.Seq != seq || !slot.HasPrepare || !slot.PrepareAuthenticated || slot.CommitQueued) continue;
            slot.CommitQueued = true;
            var body = _outbox.Begin(MessageType.UiCommit, View, seq, MinBftBodies.CommitLength);
            slot.Digest.CopyTo(body);
            slot.LeaderUi.CopyTo(body.Slice(Digests.Size));
            _outbox.End();
        }
    }

    private Handled OnCommit(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (_halted && h.View <= View) { Stats.OldMessages++; return Handled.Done; }
        if (h.View < View)
        {
            if (!LateCommit(h, message)) Stats.OldMessages++;
            if (_composition.Family == ProtocolFamily.ReMinBft && h.Sequence > LastExecuted && MessageHeader.Body(message, h) is { Length: MinBftBodies.CommitLength } cb)
                RecordLateVote(h, cb.Slice(0, Digests.Size), isPrepare: false);
            return Handled.Done;
        }
        if (h.View > View || _inViewChange) return Handled.Park;   // a later view, or ours before its NEW-VIEW is installed
        ulong seq = h.Sequence;
        if (seq > _peerCheckpoint[h.Sender] + (ulong)_s.Window) { Stats.CheckpointOrderViolations++; return Handled.Park; }
        if (h.Sender == Leader) { Stats.Ignored++; return Handled.Done; }   // the leader's vote is its PREPARE
        if (seq <= LowWatermark || seq <= LastExecuted) { Stats.OldMessages++; return Handled.Done; }
        if (seq > HighWatermark) return Handled.Park;
        var body = MessageHeader.Body(message, h);
        var slot = SlotFor(seq);
        // The COMMIT names the leader's PREPARE by its UI: if we hold that PREPARE, the UI must be its UI.
        if (slot.HasPrepare && !body.Slice(Digests.Size, MinBftBodies.UiSize).SequenceEqual(slot.LeaderUi)) { Stats.BadCommits++; return Handled.Done; }
        if (!slot.Votes.Record(h.Sender, body.Slice(0, Digests.Size))) { Stats.OldMessages++; return Handled.Done; }
        if (seq > _highestVoteSeen) _highestVoteSeen = seq;
        Advance(slot);
        return Handled.Done;
    }

    private ulong _highestVoteSeen;

    /// <summary>
    /// ReMinBFT (docs/reminbft.md §7.1, R-c): a COMMIT of an older view for a slot this replica bound in that same view and has
    /// not executed (it moved to a later view before the votes came — the other correct replica meanwhile executed the slot and
    /// switched back, so no NEW-VIEW of the later view will come). f+1 matching certified messages of one view are MinBFT's commit
    /// rule whenever they arrive: a correct replica that had them in time executed the same batch, and every later view's
    /// NEW-VIEW keeps it. Recorded as a vote of that view; the slot commits once the leader's PREPARE and f COMMITs match.
    /// Plain MinBFT keeps its rule (older views are dropped).
    /// </summary>
    private bool LateCommit(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (_composition.Family != ProtocolFamily.ReMinBft) return false;
        ulong seq = h.Sequence;
        if (seq <= LowWatermark || seq <= LastExecuted || h.Sender == (uint)(h.View % (ulong)_n)) return false;
        var slot = SlotOf(seq);
        if (slot.Seq != seq || !slot.HasPrepare || slot.View != h.View || slot.Committed) return false;
        var body = MessageHeader.Body(message, h);
        if (!body.Slice(Digests.Size, MinBftBodies.UiSize).SequenceEqual(slot.LeaderUi) || !body.Slice(0, Digests.Size).SequenceEqual(slot.Digest)) return false;
        if (!slot.Votes.Record(h.Sender, body.Slice(0, Digests.Size))) return false;
        Stats.LateCommits++;
        Advance(slot);
        return true;
    }

    /// <summary>Commits a slot with f+1 matching certified messages (the leader's PREPARE among them) and executes what is ready.</summary>
    private void Advance(MinBftSlot slot)
    {
        if (!slot.HasPrepare || slot.Committed) return;
        slot.StalledTicks = 0;
        if (slot.Votes.CountMatching(slot.Digest) < _q.Commit)
        {
            if (!LateCertified(slot.Seq, slot.Digest)) return;
            Stats.LateCommits++;                            // f+1 certified messages of an older view (ReMinBFT, MinBftReplica.LateCertificates.cs)
        }
        slot.Committed = true;
        ExecuteReady();
    }

    // ---------------------------------------------------------------- sealing and sending

    /// <summary>
    /// Certifies every queued certified message with one <see cref="UsigCertificateScheme.SealBatch"/> (one
    /// <see cref="IUsig.CreateUIs"/> round trip), sends them in counter order, records them in the sent log, and applies
    /// what sending means locally (own votes). Effects may queue more messages (a checkpoint): those go in the next round.
    /// A USIG failure leaves everything queued for the next flush (counted in <see cref="MinBftStats.UsigFailures"/>).
    /// </summary>
    private void Flush()
    {
        if (_flushing || _retired) return;               // a retired core certifies nothing more (its successor continues the counter)                           // an effect (a NEW-VIEW to send) queued more: the running loop takes it
        _flushing = true;
        try { FlushLoop(); }
        finally { _flushing = false; }
    }

    private bool _flushing;

    private void FlushLoop()
    {
        while (_outbox.Count > 0)
        {
            try
            {
                _outbox.Seal(_usig);
            }
            catch (UsigException)
            {
                Stats.UsigFailures++;          // a lost counter is a gap receivers wait on; a new epoch is not accepted silently
                return;
            }
            Stats.UsigSeals++;
            int k = _outbox.Count;
            if (_sealed.Length < k) Array.Resize(ref _sealed, Math.Max(k, 2 * _sealed.Length));
            for (int i = 0; i < k; i++)
            {
                var msg = _outbox.Message(i);
                CertifiedOutbox.ReadUi(msg, out ulong epoch, out ulong counter);
                _sent.Add(epoch, counter, msg);
                if (_generation > 0 && msg[3] == (byte)MessageType.UiCheckpoint) BroadcastAll(msg);   // passive replicas keep them for a later VIEW-CHANGE (docs/reminbft.md §7)
                else Broadcast(msg);
                Stats.CertifiedSent++;
                _sealed[i] = (epoch, counter);
            }
            _outbox.Clear();
            for (int i = 0; i < k; i++) AfterSend(_sealed[i].Epoch, _sealed[i].Counter);
        }
    }

    private (ulong Epoch, ulong Counter)[] _sealed = new (ulong, ulong)[64];

    private void AfterSend(ulong epoch, ulong counter)
    {
        if (!_sent.TryGet(epoch, counter, out var msg)) return;
        MessageHeader.TryParse(msg, int.MaxValue, out var h);
        var body = MessageHeader.Body(msg, h);
        switch (h.Type)
        {
            case MessageType.UiPrepare:
            {
                var slot = SlotOf(h.Sequence);
                if (slot.Seq != h.Sequence || h.View != View) return;
                slot.StorePrepare(msg, Bodies.BatchDigest(body), msg.Slice(msg.Length - MinBftBodies.UiSize));
                slot.PrepareAuthenticated = true;
                MarkOwn(slot, epoch, counter);
                NoteTaken(_id, h.Sequence, epoch, counter);
                slot.Votes.Record(_id, slot.Digest);
                Advance(slot);
                break;
            }
            case MessageType.UiCommit:
            {
                var slot = SlotOf(h.Sequence);
                if (slot.Seq != h.Sequence || h.View != slot.View) return;
                MarkOwn(slot, epoch, counter);
                NoteTaken(_id, h.Sequence, epoch, counter);
                slot.Votes.Record(_id, body.Slice(0, Digests.Size));   // only a certified, sent COMMIT counts as ours
                Advance(slot);
                break;
            }
            case MessageType.UiCheckpoint:
                _ownCheckpoint[h.Sequence] = (epoch, counter);
                StoreCheckpointMessage(h.Sequence, _id, msg);
                break;
            case MessageType.UiViewChange:
                OwnViewChangeSent(h, msg);
                break;
            case MessageType.UiNewView:
                OnNewView(h, msg, epoch, counter);           // the new leader installs its own NEW-VIEW
                break;
        }
    }

    private static void MarkOwn(MinBftSlot slot, ulong epoch, ulong counter)
    {
        slot.SentOwn = true; slot.OwnEpoch = epoch; slot.OwnCounter = counter;
    }

    // ---------------------------------------------------------------- execution

    private void ExecuteReady()
    {
        // A retired core executes nothing more; nor does a dormant one (a passive replica's: the replica applies UPDATEs, and
        // a slot its core committed — its own queued COMMIT flushed after the join ended — would be executed twice,
        // docs/reminbft.md §7.1; sim: reminbft f1/leader/replay/switchback/isolateone seed 198403314, convergence).
        if (_retired || _dormant) return;
        while (true)
        {
            ulong next = LastExecuted + 1;
            var slot = SlotOf(next);
            if (slot.Seq != next || !slot.Committed || slot.Executed) return;
            _exec.Committed(next, slot.Batch, this);
            Stats.ExecutedBatches++;
            slot.Executed = true;
            LastExecuted = next;
            _observer?.BatchExecuted(next);
            // ReMinBFT's switch back (docs/reminbft.md §7, R-a): after executing the agreed SWITCH-BACK batch at s this core
            // stops inside this loop — a committed phase instance above s (votes may already be here) is never executed.
            if (_observer is not null && Bodies.BatchFlags(slot.Batch) is var flags && flags != 0
                && _observer.SwitchBackExecuted(next, (uint)(flags & 0xFF))) { _retired = true; return; }
            if (next % (ulong)_s.CheckpointInterval == 0) TakeCheckpoint(next, slot);
        }
    }

    private ReplyEntry ReplyOf(ClientRecord rec) => rec.ReplyIn(_exec.Replies);

    /// <inheritdoc/>
    void IExecutionSink.OnExecuted(ReplyEntry entry, bool designated)
    {
        Executed(entry.ClientId, entry.LastExecutedRid);
        if (entry.CoreState is not ClientRecord rec || rec.Owner != _clients) { rec = _clients.Get(entry.ClientId); rec.Reply = null; ReplyOf(rec); }
        if (rec.HighestQueuedRid < entry.LastExecutedRid) rec.HighestQueuedRid = entry.LastExecutedRid;
        Stats.Executed++;
        SendReply(entry, designated);
    }

    private void SendReply(ReplyEntry entry, bool full)
    {
        ReplyMessages.Send(_builder, _out, View, entry, full);
        Stats.Replies++;
    }

    // ---------------------------------------------------------------- helpers

    private MinBftSlot SlotOf(ulong seq) => _slots[(int)(seq % (ulong)_slots.Length)];

    private MinBftSlot SlotFor(ulong seq)
    {
        var slot = SlotOf(seq);
        if (slot.Seq != seq) slot.Reset(seq, View);
        return slot;
    }

    private void Broadcast(ReadOnlySpan<byte> message)
    {
        for (uint r = 0; r < _n; r++) if (r != _id && IsMember(r)) _out.SendToReplica(r, message);
    }

    private void BroadcastAll(ReadOnlySpan<byte> message)
    {
        for (uint r = 0; r < _n; r++) if (r != _id) _out.SendToReplica(r, message);
    }

    /// <summary>True if <paramref name="r"/> takes part in agreement (<see cref="MinBftComposition.Members"/>).</summary>
    private bool IsMember(uint r) => r < 64 && (_members & (1UL << (int)r)) != 0;

    /// <inheritdoc/>
    public void GetStateDigest(Span<byte> digest32) => _exec.GetStateDigest(digest32);

    /// <inheritdoc/>
    public bool TryGetLoggedDigest(ulong seq, Span<byte> digest32)
    {
        var slot = SlotOf(seq);
        if (slot.Seq != seq || !slot.HasPrepare) return false;
        slot.Digest.CopyTo(digest32);
        return true;
    }

    /// <inheritdoc/>
    public bool IsPreparedOrDone(ulong seq, ReadOnlySpan<byte> digest32)
    {
        if (seq <= LowWatermark || seq <= LastExecuted) return true;
        var slot = SlotOf(seq);
        return slot.Seq == seq && slot.HasPrepare && slot.Digest.AsSpan().SequenceEqual(digest32);
    }
}

/// <summary>Counters of a MinBFT core: the common <see cref="ReplicaCounters"/> plus MinBFT's own.</summary>
public sealed class MinBftStats : ReplicaCounters
{
    /// <summary>Messages of no use here (wrong sender for the type, wrong generation).</summary>
    public long Ignored;
    /// <summary>Requests already queued; newer requests deferred behind a queued one (R2).</summary>
    public long DuplicateRequests, ThrottledRequests;
    /// <summary>Certified messages of an older view, or for instances already executed / below the window, or duplicate votes.</summary>
    public long OldMessages;
    /// <summary>A second PREPARE for a bound sequence number in one view (an equivocation attempt; Thesis §5.4.1).</summary>
    public long Equivocations;
    /// <summary>COMMITs whose leader UI is not the UI of the PREPARE we bound.</summary>
    public long BadCommits;
    /// <summary>Empty batches outside a new view (L3) and batches whose client MACs did not all verify: bound, not vouched for.</summary>
    public long EmptyBatchesRejected, UnauthenticatedBatches;
    /// <summary>Certified messages that arrived after a counter gap and wait; messages ≥ the buffer bound ahead (dropped).</summary>
    public long CounterGaps, CounterOverflows;
    /// <summary>Certified messages whose UI was already handled (a replay or a retransmission we did not need).</summary>
    public long ReplayedUis;
    /// <summary>UIs of an older epoch than the sender's accepted one; UIs of a newer epoch (not accepted: docs/minbft.md §3).</summary>
    public long StaleEpochUis, NewEpochUis;
    /// <summary>NEW-VIEWs installed across a gap in their leader's counter order (the run of its VIEW-CHANGE inside showed the gap, docs/minbft.md §5.5).</summary>
    public long NewViewsAcrossGap;
    /// <summary>Certified messages parked because they were for a later view, a later s than the next, or beyond the window.</summary>
    public long Parked;
    /// <summary>UI-FETCH requests sent; certified messages re-sent in answer; requests for counters no longer in the sent log.</summary>
    public long UiFetchesSent, UiFetchAnswers, UiFetchMisses;
    /// <summary>Certified messages of a third replica re-sent in answer to a UI-FETCH for them (a crashed leader's PREPARE).</summary>
    public long UiFetchRelays;
    /// <summary>SealBatch calls (USIG round trips); certified messages sent; USIG failures (messages stay queued).</summary>
    public long UsigSeals, CertifiedSent, UsigFailures;
    /// <summary>State transfers started because f+1 stored certified CHECKPOINTs of one checkpoint above what we executed matched.</summary>
    public long CertifiedCheckpointTransfers;
    /// <summary>Peers' counter orders moved to the run start a state transfer's checkpoint certificate reports (V2).</summary>
    public long CounterOrderRebases;
    /// <summary>Our checkpoint differs from f+1 matching others (state transfer follows).</summary>
    public long CheckpointDivergence;
    /// <summary>Certified messages that break the sender rules (a CHECKPOINT not above the sender's last; a PREPARE/COMMIT beyond its checkpoint + L): the sender's queue parks.</summary>
    public long CheckpointOrderViolations;
    /// <summary>PREPAREs/COMMITs of a sender whose sequence number is not above the one of its previous PREPARE/COMMIT of the
    /// view, in its counter order (ReMinBFT's normal case, Thesis §5.4.2 sender rule): the sender's queue parks for good.</summary>
    public long SenderOrderViolations;
    /// <summary>COMMITs of an older view recorded for a slot bound in that view (ReMinBFT, docs/reminbft.md §7.1 R-c).</summary>
    public long LateCommits;
    /// <summary>PREPAREs with a SWITCH-BACK flag outside the MinBFT phase (ReMinBFT's normal case): bound, never vouched for (docs/reminbft.md §7).</summary>
    public long SwitchBackOutsidePhase;
    /// <summary>PREPAREs of a new leader for a fixed slot with another batch than the NEW-VIEW fixed (its queue parks).</summary>
    public long BadFixedPrepares;
    /// <summary>REQ-VIEW-CHANGEs sent; VIEW-CHANGEs that could not be built (own log no longer held); new epochs accepted through a NEW-VIEW.</summary>
    public long ReqViewChangesSent, ViewChangeLogMissing, EpochsAccepted;
    /// <summary>Own certified CHECKPOINTs of the stable checkpoint re-sent while a VIEW-CHANGE could not be built for want of f+1 of them.</summary>
    public long CheckpointsResent;
}
