using System.Buffers;
using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.Execution;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Agreement.Pbft;

/// <summary>
/// The PBFT protocol core of one replica — normal case here, view change and state transfer in its partial files (PROTOCOLS.md §3.2–§3.4; PBFT-PR §4.2–§4.3;
/// Thesis §3.1.1, Fig. 3.1) as a sans-I/O state machine: it consumes authenticated messages
/// (<see cref="OnMessage"/>), ticks (<see cref="OnTick"/>) and end-of-input-burst notifications
/// (<see cref="EndOfBurst"/>), and emits complete authenticated messages through
/// <see cref="IReplicaOutput"/>. It never touches sockets, threads, clocks or randomness, so the
/// deterministic simulator runs this exact code.
/// </summary>
/// <remarks>
/// <para>Rules implemented (seed sections in brackets):</para>
/// <list type="bullet">
/// <item>Primary of view v is replica v mod n [PBFT-PR §4, R]; it batches pending requests, one
/// sequence number per batch [Thesis §2.1.2.2], and cuts a batch at the end of every input burst while
/// fewer than <see cref="ReplicaParameters.MaxInflightBatches"/> batches are in flight — so an idle
/// pipeline adds no delay and a busy one fills batches.</item>
/// <item>A backup accepts a PRE-PREPARE for (v, n) if v is its view, it comes from the primary, h &lt; n ≤ h+L
/// [PROTOCOLS.md G5], and no other digest was accepted for (v, n); it then multicasts PREPARE.</item>
/// <item>prepared = PRE-PREPARE + 2f matching PREPAREs from distinct backups; then COMMIT.
/// committed = prepared + 2f+1 matching COMMITs (own included) [PBFT-PR §4.2].</item>
/// <item>Execution strictly in sequence order; each request at most once: the reply cache keeps the
/// last reply per client and a retransmitted request gets the cached reply [Thesis §2.1.2.2].</item>
/// <item>REPLY: the designated replier (clientId + t) mod n sends the full result, the others its
/// SHA-256 [Thesis §2.1.1.4, §5.5.2.1]. A resent cached reply is always full.</item>
/// <item>CHECKPOINT after every n with n mod K = 0; stable at 2f+1 matching; then the low watermark
/// h advances and the log below it is garbage [PBFT-PR §4.3].</item>
/// <item>Retransmission: a replica re-sends its own messages for a slot stalled for
/// <see cref="ReplicaParameters.RetransmitTicks"/> ticks, and answers a duplicate vote (a peer's
/// retransmission) with its own messages for that slot, at most once per tick [PBFT-PR §4.6.1].</item>
/// </list>
/// <para>View change (signed VIEW-CHANGE/NEW-VIEW, PBFT-PR §4.5; <c>PbftReplica.ViewChange.cs</c>,
/// docs/view-change.md) and state transfer (§4.6.2; <c>PbftReplica.StateTransfer.cs</c>) are partial
/// classes of this core. Requests: one queued request per client at the primary, a newer one deferred
/// in one per-client slot (Thesis §2.1.2.1); request id 0 never reaches the core.</para>
/// <para>Single-threaded; not thread-safe. Steady state allocates nothing.</para>
/// </remarks>
public sealed partial class PbftReplica : IReplicaCore, IExecutionSink
{
    private readonly ReplicaParameters _s;
    private readonly uint _id;
    private readonly int _n;
    private readonly IExecutionStage _exec;
    private readonly QuorumPolicy _q;
    private readonly IReplicaOutput _out;
    private readonly MessageBuilder _builder;
    private readonly ReplicaSignatures _signatures;
    private readonly LogSlot[] _slots;
    private readonly CheckpointTracker _checkpoints;
    private readonly ClientTable _clients = new();
    private readonly RequestQueue _pending = new();
    private readonly RequestIntake _intake;
    private long _tick;
    private ulong[] _peerExecuted = [];     // per replica: the last executed it reported in a STATUS of our view (0: none)
    private ulong _statusExecuted;          // our last executed when we last sent STATUS
    private readonly ulong _generation;
    private ulong _maxSequence;
    private ulong _startExecuted, _startView;

    /// <summary>Current view v.</summary>
    public ulong View { get; private set; }
    /// <summary>Low watermark h: sequence number of the last stable checkpoint.</summary>
    public ulong LowWatermark { get; private set; }
    /// <summary>Last sequence number executed.</summary>
    public ulong LastExecuted { get; private set; }
    /// <summary>Last sequence number assigned (primary) or seen in a PRE-PREPARE.</summary>
    public ulong LastAssigned { get; private set; }
    /// <summary>Counters (written by the core's thread; other threads read them through <see cref="ReplicaCounters.Read(ref long)"/>).</summary>
    public PbftStats Stats { get; }

    /// <inheritdoc/>
    public ReplicaCounters Counters => Stats;

    /// <summary>The agreement-side client records (request queueing, forwarding).</summary>
    internal ClientTable Clients => _clients;

    /// <summary>The execution stage this core hands committed batches to.</summary>
    public IExecutionStage Execution => _exec;

    /// <summary>The quorum sizes this core uses.</summary>
    public QuorumPolicy Quorums => _q;

    /// <summary>Creates the core for replica <paramref name="auth"/>.SelfId.</summary>
    /// <param name="settings">protocol parameters.</param>
    /// <param name="auth">this replica's authenticator (MACs and Ed25519 signatures).</param>
    /// <param name="execution">the execution stage committed batches go to.</param>
    /// <param name="output">where messages leave.</param>
    /// <param name="quorums">quorum sizes; null = <see cref="QuorumPolicy.Pbft"/>(f). Tests inject planted bugs here.</param>
    /// <exception cref="ArgumentException">settings inconsistent (f &lt; 1, n = 3f+1 &gt; 64, window not a multiple of K).</exception>
    public PbftReplica(ReplicaParameters settings, Authenticator auth, IExecutionStage execution, IReplicaOutput output, QuorumPolicy? quorums = null)
        : this(settings, auth, execution, output, quorums, ProtocolFamily.Pbft, 0, ulong.MaxValue, null) { }

    /// <summary>
    /// Creates a PBFT core that runs as generation <paramref name="generation"/> of a switching protocol (RePBFT after a
    /// switch, Thesis §5.3.2.4): its messages carry <paramref name="family"/> and the generation, it drops messages of any
    /// other generation, and it orders no sequence number above <paramref name="maxSequence"/> (the switch back,
    /// docs/repbft.md §6). It starts through <see cref="StartFromSwitch"/>.
    /// </summary>
    internal PbftReplica(ReplicaParameters settings, Authenticator auth, IExecutionStage execution, IReplicaOutput output, QuorumPolicy? quorums,
        ProtocolFamily family, ulong generation, ulong maxSequence, PbftStats? stats)
    {
        Stats = stats ?? new PbftStats();
        _generation = generation;
        _maxSequence = maxSequence;
        _s = settings;
        if (settings.F < 1) throw new ArgumentException($"f must be at least 1 (f={settings.F})", nameof(settings));
        Shape = new CellShape(ProtocolKind.Pbft, settings.F);
        _n = Shape.N;                                   // 3f+1
        if (_n > 64) throw new ArgumentException("at most 64 replicas (vote bitmasks are 64-bit)", nameof(settings));
        if (settings.Window % settings.CheckpointInterval != 0) throw new ArgumentException("window must be a multiple of the checkpoint interval", nameof(settings));
        _id = auth.SelfId;
        if (_id >= _n) throw new ArgumentException($"replica id {_id} is not in 0..{_n - 1}", nameof(auth));
        _exec = execution;
        _q = quorums ?? QuorumPolicy.Pbft(settings.F);
        _out = output;
        _builder = new MessageBuilder(auth, _n) { Family = family, Generation = generation };
        _slots = new LogSlot[settings.Window];
        for (int i = 0; i < _slots.Length; i++) _slots[i] = new LogSlot(_n);
        _checkpoints = new CheckpointTracker(_n, settings.Window / settings.CheckpointInterval + 1, settings.CheckpointInterval);
        _intake = new RequestIntake(_clients, _pending, execution.Replies, settings.BatchSize);
        _signatures = auth.Signatures;
        _vcs = new List<StoredViewChange>[_n];
        for (int i = 0; i < _n; i++) _vcs[i] = new();
        _nvForwardedTick = new long[_n];
        Array.Fill(_nvForwardedTick, -1L);
        _lastHeard = new long[_n];
        _peerExecuted = new ulong[_n];
        _stateTransfer = new StateTransfer(_id, _n, _q.Weak, settings.RetransmitTicks, settings.MaxStateBytes, _exec, this, Stats);
        (execution as FastBft.Execution.Odrc.IOdrcStage)?.Attach(this, this);
        // Plain PBFT over a stage whose service persists batches: persist the agreement log too and continue from it
        // (docs/durability.md §4). A switching protocol's generation core starts from its SWITCH instead.
        if (family == ProtocolFamily.Pbft && generation == 0 && execution is SequentialExecutionStage { AgreementLog: { } log } stage)
        {
            InitLog(log);
            if (log.Recovered.Count > 0 || stage.RecoveredSequence > 0) Restore(log, stage.RecoveredSequence);
        }
    }

    /// <summary>Replica id.</summary>
    public uint Id => _id;
    /// <summary>Primary of the current view: v mod n (PBFT-PR §4, [R]).</summary>
    public uint Primary => (uint)(View % (ulong)_n);
    /// <inheritdoc/>
    public uint Leader => Primary;
    /// <inheritdoc/>
    public CellShape Shape { get; }
    /// <inheritdoc/>
    public ulong Generation => _generation;
    /// <summary>Highest sequence number this core orders (<see cref="ulong.MaxValue"/> unless it runs until a switch back).</summary>
    public ulong MaxSequence => _maxSequence;
    /// <summary>True if this replica is the primary of the current view.</summary>
    public bool IsPrimary => Primary == _id;
    private ulong HighWatermark => LowWatermark + (ulong)_s.Window;

    /// <summary>The certificate of the last stable checkpoint: its sequence number and state digest (32 bytes).</summary>
    public (ulong Sequence, ReadOnlyMemory<byte> Digest) StableCheckpointProof => (LowWatermark, _checkpoints.StableDigest);

    /// <summary>Number of requests waiting at the primary for a batch.</summary>
    public int PendingRequests => _pending.Count;

    /// <summary>
    /// Handles one message that the <see cref="MessageVerifier"/> accepted with <see cref="PbftSchema"/>:
    /// its D(req) (REQUEST) and whether every embedded client MAC verified (PRE-PREPARE, BATCH) come in
    /// <paramref name="m"/>.
    /// </summary>
    public void OnMessage(in VerifiedMessage m)
    {
        ref readonly var h = ref m.Header;
        var message = m.Message;
        // Plain PBFT never switches: generation p is always 0 (PROTOCOLS.md §5.1). Client REQUESTs carry no generation.
        if (h.Generation != _generation && h.Type != MessageType.Request) { Stats.Ignored++; return; }
        if (h.Sender < (uint)_n && h.Type != MessageType.NewView) _lastHeard[h.Sender] = _tick;   // NEW-VIEWs may be forwarded copies
        switch (h.Type)
        {
            case MessageType.Request: OnRequest(h, message, m.RequestDigest); break;
            case MessageType.PrePrepare: OnPrePrepare(h, message, m.RequestsAuthenticated); break;
            case MessageType.BatchFetch: OnBatchFetch(h, message); break;
            case MessageType.Batch: OnBatch(h, message); break;
            case MessageType.Prepare: OnVote(h, message, commit: false); break;
            case MessageType.Commit: OnVote(h, message, commit: true); break;
            case MessageType.Checkpoint: OnCheckpoint(h, message); break;
            case MessageType.Status: OnStatus(h, message); break;
            case MessageType.ViewChange: OnViewChange(h, message); break;
            case MessageType.NewView: OnNewView(h, message); break;
            case MessageType.Fetch: OnFetch(h, message); break;
            case MessageType.StateData: OnStateData(h, message); break;
            default: if (!OnOdrcMessage(h, message)) Stats.Ignored++; break;
        }
    }

    /// <summary>
    /// Called by the host after it has handed every message of one input burst to <see cref="OnMessage"/>:
    /// the primary cuts batches now (adaptive batching without an added delay).
    /// </summary>
    public void EndOfBurst()
    {
        if (_deferredCount > 0) FlushDeferredVotes();   // group commit: one sync for the burst's votes (docs/durability.md §4.3)
        if (!IsPrimary || _inViewChange) return;
        while (_pending.Count > 0
               && LastAssigned - LastExecuted < (ulong)_s.MaxInflightBatches
               && LastAssigned + 1 <= HighWatermark
               && LastAssigned < _maxSequence)
        {
            CutBatch();
        }
    }

    /// <summary>Periodic timer (every tick_ms): drives retransmission of stalled slots and unstable checkpoints.</summary>
    public void OnTick()
    {
        _tick++;
        if (_resume) ResumeAfterRestart();
        ulong hi = Math.Min(LastAssigned, HighWatermark);
        for (ulong seq = Math.Max(LastExecuted, LowWatermark) + 1; seq <= hi; seq++)
        {
            var slot = SlotOf(seq);
            if (slot.Seq != seq || slot.Executed) continue;
            if (++slot.StalledTicks >= _s.RetransmitTicks)
            {
                slot.StalledTicks = 0;
                Stats.Retransmissions++;
                ResendOwn(slot, toReplica: uint.MaxValue);
            }
        }
        if (_tick % _s.RetransmitTicks == 0)
        {
            if (_checkpoints.OwnUnstable(LowWatermark, out ulong cpSeq, out var cpDigest)) BroadcastCheckpoint(cpSeq, cpDigest);
            BroadcastStatus();
        }
        else if (CatchingUp()) BroadcastStatus();
        StateTransferTick();
        ViewChangeTick();
        OdrcHosting.Tick(_exec);
    }

    /// <summary>
    /// Catch-up pacing (an addition to PBFT-PR §4.6.1): a replica that executed something since its last STATUS and
    /// is still behind f+1 peers of its view (so at least one correct replica is ahead) asks again at the next tick
    /// instead of waiting RetransmitTicks. A peer answers one STATUS with at most 2 × max_inflight_batches slots, so
    /// at the periodic pace a replica back from a restart or a partition caught up more slowly than its view-change
    /// timer ran, went into a view change alone and could not leave it while the cell was idle (CI, 2026-12-01:
    /// `KilledAndRestartedFollowerEndsWithTheOthersStateDigest`). Bounded by our own progress: no progress, no extra STATUS.
    /// </summary>
    private bool CatchingUp()
    {
        if (_inViewChange || LastExecuted == _statusExecuted) return false;
        int ahead = 0;
        for (int r = 0; r < _n; r++) if (r != _id && _peerExecuted[r] > LastExecuted) ahead++;
        return ahead >= _s.F + 1;
    }

    /// <summary>
    /// STATUS (PBFT-PR §4.6.1): a periodic summary (view, last executed, low watermark, whether we wait
    /// for a NEW-VIEW) that acts as a negative acknowledgement: a peer that is ahead re-sends what we lack.
    /// </summary>
    private void BroadcastStatus()
    {
        _statusExecuted = LastExecuted;
        var body = _builder.BeginVector(MessageType.Status, View, LastExecuted, PbftBodies.StatusLength);
        BinaryPrimitives.WriteUInt64LittleEndian(body, LowWatermark);
        BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(8), _inViewChange ? PbftBodies.StatusInViewChange : 0);
        Broadcast(_builder.SealVector());
    }

    private void OnStatus(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        ulong theirs = h.Sequence;
        if (h.Sender < (uint)_n) _peerExecuted[h.Sender] = h.View == View ? theirs : 0;
        bool peerWaits = (BinaryPrimitives.ReadUInt64LittleEndian(MessageHeader.Body(message, h).Slice(8)) & PbftBodies.StatusInViewChange) != 0;
        // A peer in an older view, or still waiting for the NEW-VIEW of the view we installed (it missed it):
        // forward that NEW-VIEW — it is signed, so any replica can check it (L1).
        if (h.View < _newViewView || (h.View == _newViewView && peerWaits)) ForwardNewView(h.Sender);
        ulong theirLow = BinaryPrimitives.ReadUInt64LittleEndian(MessageHeader.Body(message, h));
        // A peer whose stable checkpoint is below ours lacks CHECKPOINT messages (PBFT-PR §4.6.1): re-send
        // ours — if it executed that far it stabilises it, if not, f+1 of them let it fetch the state (§4.6.2).
        if (theirLow < LowWatermark)
        {
            var cp = _builder.BeginVector(MessageType.Checkpoint, View, LowWatermark, Digests.Size);
            _checkpoints.StableDigest.Span.CopyTo(cp);
            _out.SendToReplica(h.Sender, _builder.SealVector());
        }
        if (theirs >= LastExecuted) return;
        // Re-send, for the slots the peer lacks and we still hold, the PRE-PREPARE (its MAC vector has an
        // entry for every replica, so any replica may forward it) and our own votes. Bounded per status.
        if (h.View != View || _inViewChange) return;      // our log entries are of this view only
        ulong from = Math.Max(theirs, LowWatermark) + 1;
        ulong to = Math.Min(LastExecuted, from + (ulong)(2 * _s.MaxInflightBatches) - 1);
        for (ulong seq = from; seq <= to; seq++)
        {
            var slot = SlotOf(seq);
            if (slot.Seq != seq || !slot.HasPrePrepare) continue;
            if (h.Sender != Primary) _out.SendToReplica(h.Sender, slot.PrePrepareMessage);
            if (slot.SentPrepare) ResendVote(slot, commit: false, h.Sender);
            if (slot.SentCommit) ResendVote(slot, commit: true, h.Sender);
            Stats.StatusAnswers++;
        }
    }

    // ---------------------------------------------------------------- requests

    /// <summary>A request a hosting core authenticated earlier (a switch hands the requests it awaited to the new primary).</summary>
    internal void AcceptRequest(uint client, ulong rid, ReadOnlySpan<byte> message, ReadOnlySpan<byte> requestDigest)
    {
        MessageHeader.TryParse(message, int.MaxValue, out var h);
        if (h.Type != MessageType.Request || h.Sender != client || h.Sequence != rid) return;
        OnRequest(h, message, requestDigest);
    }

    private void OnRequest(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> requestDigest)
    {
        ulong rid = h.Sequence;
        var rec = _clients.Get(h.Sender);
        var entry = ReplyOf(rec);
        if (rid < entry.LastExecutedRid) { Stats.OldRequests++; return; }
        if (rid == entry.LastExecutedRid)
        {
            // Retransmission of an executed request: resend the cached reply, never re-execute (Thesis §2.1.2.2).
            Stats.CachedReplies++;
            SendReply(entry, full: true);
            return;
        }
        // ODRC: a retransmission of an ordered request is a stalled-result notice (Thesis §6.4.3): forced, never re-ordered
        if (OdrcHosting.StalledRequest(_exec, h.Sender, rid)) return;
        if (IsPrimary && !_inViewChange)
        {
            // R2: one queued request per client (Thesis §2.1.2.1), a newer one deferred in one per-client slot (RequestIntake).
            var result = _intake.Offer(rec, rid, message, requestDigest);
            if (result == IntakeResult.Duplicate) Stats.DuplicateRequests++;
            else if (result == IntakeResult.Deferred) Stats.ThrottledRequests++;
        }
        else
        {
            AwaitRequest(h.Sender, rid, message);                 // the view-change timer runs until it executes
            if (rid <= rec.HighestForwardedRid || _inViewChange) return;
            // A client that timed out multicasts; a backup relays the request to the primary (PBFT-PR §4.2).
            rec.HighestForwardedRid = rid;
            Stats.ForwardedRequests++;
            _out.SendToReplica(Primary, message);
        }
    }

    private void CutBatch()
    {
        ulong seq = LastAssigned + 1;
        int count = _intake.Select(seq, out int bodyLength);
        var body = _builder.BeginVector(MessageType.PrePrepare, View, seq, bodyLength);
        _intake.Write(body, count);
        Span<byte> digest = stackalloc byte[Digests.Size];
        body.Slice(0, Digests.Size).CopyTo(digest);
        var msg = _builder.SealVector(digest);
        LastAssigned = seq;
        var slot = SlotOf(seq);
        slot.Reset(seq, View);
        slot.StorePrePrepare(msg, digest);
        Stats.Batches++;
        Stats.BatchedRequests += count;
        PersistSlot(slot, sentPrepare: false);          // docs/durability.md §4.2: on disk before the PRE-PREPARE leaves
        Broadcast(msg);
    }

    // ---------------------------------------------------------------- agreement

    private void OnPrePrepare(in MessageHeader h, ReadOnlySpan<byte> message, bool requestsAuthenticated)
    {
        if (h.View != View || h.Sender != Primary || IsPrimary || _inViewChange) { Stats.Ignored++; return; }   // header sender is authenticated; any replica may forward it
        ulong seq = h.Sequence;
        if (seq <= LowWatermark || seq > HighWatermark || seq > _maxSequence) { Stats.OutOfWindow++; return; }
        var body = MessageHeader.Body(message, h);
        var digest = Bodies.BatchDigest(body);
        int verdict = NewViewVerdict(seq, digest);
        if (verdict < 0) { Stats.ConflictingPrePrepares++; return; }
        bool vouched = verdict > 0;
        // L3: an empty batch (the null request) only where a NEW-VIEW fixed it; a primary ordering nothing
        // else would otherwise look busy while it censors clients.
        if (Bodies.BatchCount(body) == 0 && !vouched) { Stats.EmptyBatchesRejected++; return; }
        var slot = SlotFor(seq);
        if (slot.HasPrePrepare)
        {
            if (!slot.Digest.AsSpan().SequenceEqual(digest)) { Stats.ConflictingPrePrepares++; return; }
            AnswerRetransmission(slot, h.Sender);   // the primary re-sent it: it is missing our votes
            return;
        }
        slot.StorePrePrepare(message, digest);
        if (seq > LastAssigned && (requestsAuthenticated || vouched)) LastAssigned = seq;
        // A batch whose client MACs did not all verify for us is not vouched for by us: we send no PREPARE,
        // but 2f PREPAREs of others (f+1 correct replicas authenticated it) still prepare it here.
        if (requestsAuthenticated || vouched) VoteDurably(slot, commit: false);   // docs/durability.md §4.2: on disk before the PREPARE leaves
        else Stats.UnauthenticatedBatches++;
        Advance(slot);
    }

    private void OnVote(in MessageHeader h, ReadOnlySpan<byte> message, bool commit)
    {
        if (h.View != View || _inViewChange) { Stats.Ignored++; return; }
        if (!commit && h.Sender == Primary) { Stats.Ignored++; return; }   // the primary sends no PREPARE
        ulong seq = h.Sequence;
        if (seq <= LowWatermark || seq > HighWatermark) { Stats.OutOfWindow++; return; }
        var slot = SlotFor(seq);
        var digest = MessageHeader.Body(message, h);
        bool fresh = commit
            ? slot.Commits.Record(h.Sender, digest)
            : slot.Prepares.Record(h.Sender, digest);
        if (!fresh) { AnswerRetransmission(slot, h.Sender); return; }
        if (seq > LastAssigned && !IsPrimary) LastAssigned = seq;
        Advance(slot);
    }

    private void SendVote(LogSlot slot, bool commit)
    {
        if (commit) { slot.Commits.Record(_id, slot.Digest); slot.SentCommit = true; }
        else { slot.Prepares.Record(_id, slot.Digest); slot.SentPrepare = true; }
        ResendVote(slot, commit, toReplica: uint.MaxValue);
    }

    /// <summary>Moves a slot through prepared → committed → executed as far as its votes allow.</summary>
    private void Advance(LogSlot slot)
    {
        if (!slot.HasPrePrepare) return;
        slot.StalledTicks = 0;
        if (!slot.Prepared && slot.Prepares.CountMatching(slot.Digest) >= _q.Prepare)
        {
            slot.Prepared = true;
            VoteDurably(slot, commit: true);            // docs/durability.md §4.2: on disk before the COMMIT leaves
        }
        if (slot.Prepared && !slot.Committed && slot.Commits.CountMatching(slot.Digest) >= _q.Commit)
        {
            slot.Committed = true;
            ExecuteReady();
        }
    }

    private void ResendOwn(LogSlot slot, uint toReplica)
    {
        if (_logUnsynced) SyncLog();
        if (slot.HasPrePrepare && IsPrimary && slot.View == View) Send(toReplica, slot.PrePrepareMessage);
        if (slot.SentPrepare) ResendVote(slot, commit: false, toReplica);
        if (slot.SentCommit) ResendVote(slot, commit: true, toReplica);
    }

    /// <summary>Builds our PREPARE or COMMIT for the slot and sends it to one replica, or to all (uint.MaxValue).</summary>
    private void ResendVote(LogSlot slot, bool commit, uint toReplica)
    {
        if (_logUnsynced) SyncLog();
        var body = _builder.BeginVector(commit ? MessageType.Commit : MessageType.Prepare, slot.View, slot.Seq, Digests.Size);
        slot.Digest.AsSpan().CopyTo(body);
        Send(toReplica, _builder.SealVector());
    }

    /// <summary>A peer re-sent a message we already had: it lacks ours for this slot. Answer once per tick.</summary>
    private void AnswerRetransmission(LogSlot slot, uint peer)
    {
        if (slot.AnsweredTick == _tick) return;
        slot.AnsweredTick = _tick;
        Stats.RetransmissionAnswers++;
        ResendOwn(slot, peer);
    }

    // ---------------------------------------------------------------- execution

    private void ExecuteReady()
    {
        while (true)
        {
            ulong next = LastExecuted + 1;
            var slot = SlotOf(next);
            if (slot.Seq != next || !slot.Committed || slot.Executed) return;
            ExecuteBatch(slot);
            slot.Executed = true;
            LastExecuted = next;
            if (next % (ulong)_s.CheckpointInterval == 0) TakeCheckpoint(next);
        }
    }

    private void ExecuteBatch(LogSlot slot)
    {
        var msg = slot.PrePrepareMessage;
        MessageHeader.TryParse(msg, int.MaxValue, out var h);
        _exec.Committed(slot.Seq, MessageHeader.Body(msg, h), this);
        Stats.ExecutedBatches++;
    }

    /// <summary>The client's reply-cache entry, linked to its record so each is found from the other without a lookup.</summary>
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

    /// <summary>REPLY to the entry's request: the full result if <paramref name="full"/> and known, else its SHA-256 (Thesis §2.1.1.4).</summary>
    private void SendReply(ReplyEntry entry, bool full)
    {
        ReplyMessages.Send(_builder, _out, View, entry, full);
        Stats.Replies++;
    }

    // ---------------------------------------------------------------- checkpoints

    private void TakeCheckpoint(ulong seq)
    {
        Span<byte> digest = stackalloc byte[Digests.Size];
        _exec.TakeCheckpoint(seq, digest);              // digest = SHA-256(service snapshot ‖ reply cache)
        _checkpoints.RecordOwn(seq, digest, _id);
        Stats.Checkpoints++;
        PersistState(sync: false, viewRecord: false);   // own digest kept across a restart (checkpoints above h can still become stable)
        BroadcastCheckpoint(seq, digest);
        TryStabilize(seq);
    }

    private void BroadcastCheckpoint(ulong seq, ReadOnlySpan<byte> digest)
    {
        var body = _builder.BeginVector(MessageType.Checkpoint, View, seq, Digests.Size);
        digest.CopyTo(body);
        Broadcast(_builder.SealVector());
    }

    private void OnCheckpoint(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        ulong seq = h.Sequence;
        if (seq % (ulong)_s.CheckpointInterval != 0 || seq <= LowWatermark) { Stats.Ignored++; return; }
        NoteCheckpointVote(h.Sender, seq, MessageHeader.Body(message, h));
        if (seq > HighWatermark)
        {
            // A checkpoint beyond our window: we are behind — the f+1 announcements noted above start a state transfer (PBFT-PR §4.6.2).
            if (seq > Stats.HighestCheckpointSeen) Stats.HighestCheckpointSeen = seq;
            Stats.OutOfWindow++;
            return;
        }
        _checkpoints.Record(seq, h.Sender, MessageHeader.Body(message, h));
        TryStabilize(seq);
    }

    private void TryStabilize(ulong seq)
    {
        if (seq <= LowWatermark || seq > LastExecuted) return;
        int matching = _checkpoints.CountMatchingOwn(seq);
        if (matching < 0) return;                       // own checkpoint not taken yet
        if (matching >= _q.Checkpoint)
        {
            LowWatermark = seq;                         // stable: garbage-collect the log below (PBFT-PR §4.3)
            _checkpoints.MakeStable(seq);
            Stats.StableCheckpoints++;
            PersistState(sync: false, viewRecord: false, deleteThrough: seq);
            EndOfBurst();                               // the window moved: the primary may propose again
        }
        else if (_checkpoints.HasConflictingQuorum(seq, _q.Checkpoint))
        {
            Stats.CheckpointDivergence++;               // our state differs from 2f+1 others (needs state transfer)
        }
    }

    // ---------------------------------------------------------------- helpers

    private LogSlot SlotOf(ulong seq) => _slots[(int)(seq % (ulong)_slots.Length)];

    private LogSlot SlotFor(ulong seq)
    {
        var slot = SlotOf(seq);
        if (slot.Seq != seq) slot.Reset(seq, View);
        return slot;
    }

    private void Broadcast(ReadOnlySpan<byte> message)
    {
        for (uint r = 0; r < _n; r++) if (r != _id) _out.SendToReplica(r, message);
    }

    private void Send(uint toReplica, ReadOnlySpan<byte> message)
    {
        if (toReplica == uint.MaxValue) Broadcast(message);
        else _out.SendToReplica(toReplica, message);
    }

    /// <summary>Raises the highest sequence number this core orders (a switch back that did not complete: the generation goes on, docs/repbft.md §6).</summary>
    internal void ExtendMaxSequence(ulong max)
    {
        if (max <= _maxSequence) return;
        _maxSequence = max;
        EndOfBurst();
    }

    /// <summary>Lowers the highest sequence number this core orders (a switching protocol retires the core at its switch-back point: it still answers its generation's messages but accepts nothing beyond, docs/repbft.md §6).</summary>
    internal void LimitMaxSequence(ulong max)
    {
        if (max < _maxSequence) _maxSequence = max;
    }

    /// <summary>True if some slot of the log is prepared (a switching protocol moves a replica to another generation only if not).</summary>
    internal bool PreparedAny()
    {
        // Any slot prepared in this core (re-agreed switch slots included), anything executed here, or a prepared
        // certificate of a later view; the certificates a switch installed (start view) do not count.
        foreach (var slot in _slots) if (slot.Seq > LowWatermark && slot.Prepared) return true;
        if (LastExecuted > _startExecuted) return true;
        foreach (var (_, e) in _pset) if (e.View > _startView) return true;
        return false;
    }

    /// <summary>True if this core holds a PRE-PREPARE (proposed or accepted) or sent a PREPARE or COMMIT for a slot it still holds, or <see cref="PreparedAny"/> (a switching protocol keeps a replica in a generation where it helped others prepare).</summary>
    internal bool VotedAny()
    {
        foreach (var slot in _slots) if (slot.Seq > LowWatermark && (slot.HasPrePrepare || slot.SentPrepare || slot.SentCommit)) return true;
        return PreparedAny();
    }

    /// <summary>This replica's own checkpoint digest at <paramref name="seq"/>, if it took it and still holds it.</summary>
    internal bool TryGetOwnCheckpoint(ulong seq, out byte[] digest)
    {
        digest = new byte[Digests.Size];
        return _checkpoints.TryGetOwn(seq, digest);
    }

    /// <summary>Digest of the service state now (32 bytes).</summary>
    public void GetStateDigest(Span<byte> digest32) => _exec.GetStateDigest(digest32);

    /// <inheritdoc/>
    public bool TryGetLoggedDigest(ulong seq, Span<byte> digest32)
    {
        var slot = SlotOf(seq);
        if (slot.Seq != seq || !slot.HasPrePrepare) return false;
        slot.Digest.CopyTo(digest32);
        return true;
    }

    /// <inheritdoc/>
    public bool IsPreparedOrDone(ulong seq, ReadOnlySpan<byte> digest32)
    {
        if (seq <= LowWatermark || seq <= LastExecuted) return true;
        var slot = SlotOf(seq);
        if (slot.Seq == seq && slot.Prepared && slot.Digest.AsSpan().SequenceEqual(digest32)) return true;
        // A prepared certificate of an earlier view (PSet, PBFT-PR Fig. 2) counts as well.
        return _pset.TryGetValue(seq, out var p) && digest32.SequenceEqual(p.Digest);
    }
}

/// <summary>Counters of a PBFT core: the common <see cref="ReplicaCounters"/> plus PBFT's own.</summary>
public class PbftStats : ReplicaCounters
{
    public long DuplicateRequests;
    public long Ignored, OutOfWindow, ConflictingPrePrepares;
    public long CheckpointDivergence;
    public long RetransmissionAnswers, StatusAnswers;
    public long BadViewChangeSignatures;
    public long FarViewChanges, ThrottledRequests, EmptyBatchesRejected, UnauthenticatedBatches, BatchFetchesSent;
}
