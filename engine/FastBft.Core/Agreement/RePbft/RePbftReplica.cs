using System.Buffers.Binary;
using FastBft.Agreement.Pbft;
using FastBft.Agreement.Switch;
using FastBft.Auth;
using FastBft.Execution;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Agreement.RePbft;

/// <summary>
/// The RePBFT / RePBFT* core of one replica (Thesis §5.3; PROTOCOLS.md §5; docs/repbft.md) as a sans-I/O state
/// machine. In the normal case (this file) 2f+1 active replicas agree and f passive ones are kept current by
/// UPDATEs; a justified PANIC starts the switch (<c>RePbftReplica.Switch.cs</c>) to a PBFT generation, which is a
/// <see cref="PbftReplica"/> this core hosts, and after <see cref="ReplicaParameters.SwitchBackAfter"/> instances
/// the cell returns to RePBFT at a checkpoint.
/// </summary>
/// <remarks>
/// <para>Rules (seed sections in brackets):</para>
/// <list type="bullet">
/// <item>Roles of generation g with view V: leader V mod n, followers the next 2f replicas, the rest passive
/// [Thesis §5.2.1; <see cref="CellShape.RoleOf"/>].</item>
/// <item>The leader batches requests [§5.3.5] and sends an endorsed PRE-PREPARE to the 2f followers; a follower
/// accepts it if it is from the leader, of generation g, h &lt; s ≤ h+W [G5], no other digest accepted at s, and
/// every client MAC verified for it; then it sends an endorsed PREPARE to the other active replicas
/// [§5.3.1.1]. Endorsement = Ed25519 over header ‖ D(batch), never checked in the normal case (docs/repbft.md §5.3).</item>
/// <item>prepared(s) = PRE-PREPARE + PREPAREs from ALL 2f followers ⇒ COMMIT to the other active replicas;
/// committed(s) = COMMITs from ALL 2f+1 active replicas [§5.3.1.1].</item>
/// <item>Executors (RePBFT: the active replicas; RePBFT*: the f+1 followers after the leader, G8) execute in order,
/// reply, and send UPDATE(s, content) to the update receivers (passive replicas; in RePBFT* also the
/// non-executing active replicas): the full content from one designated follower, its SHA-256 from the others
/// [§5.3.1.2, §5.3.5]. A receiver applies s in order once a full content matches f+1 votes from distinct executors
/// (RePBFT* : all f+1) [§5.3.1.2].</item>
/// <item>After s mod K = 0 every replica sends a signed CHECKPOINT(s, D(state)); stable with all n matching
/// [§5.3.1.3]; then the window moves and the log below is garbage.</item>
/// </list>
/// <para>Single-threaded; not thread-safe.</para>
/// </remarks>
public sealed partial class RePbftReplica : IReplicaCore, IExecutionSink
{
    private enum Mode { Normal, Switching, Pbft }

    private readonly ReplicaParameters _s;
    private readonly Authenticator _auth;
    private readonly uint _id;
    private readonly int _n, _f;
    private readonly bool _star;
    private readonly SequentialExecutionStage _exec;
    private readonly IReplicaOutput _out;
    private readonly QuorumPolicy _q;
    private readonly MessageBuilder _builder;
    private readonly ReplicaSignatures _signatures;
    private readonly ActiveSlot[] _slots;
    private readonly ClientTable _clients = new();
    private readonly RequestQueue _pending = new();
    private readonly RequestIntake _intake;
    private readonly SignedCheckpoints _cps;
    private readonly PanicFilter _panic = new();
    private long _tick;

    private Mode _mode;
    private ulong _gen, _view;
    private uint[] _active = [];
    private uint[] _executors = [];
    private uint[] _receivers = [];
    private bool _isActive, _executes, _receivesUpdates;
    private ulong _low, _lastExecuted, _lastAssigned;
    private ulong _genBase;                                   // the stable checkpoint the generation started from
    private bool _sentCommitInGeneration;

    /// <summary>Counters (metrics).</summary>
    public RePbftStats Stats { get; } = new();

    /// <summary>Creates the core of replica <paramref name="auth"/>.SelfId.</summary>
    /// <param name="settings">protocol parameters (f, window, K, timeouts, switching).</param>
    /// <param name="auth">this replica's authenticator (MACs and Ed25519 keys of every replica).</param>
    /// <param name="execution">the execution stage (a <see cref="SequentialExecutionStage"/>: RePBFT records and applies updates).</param>
    /// <param name="output">where messages leave.</param>
    /// <param name="star">RePBFT* (only f+1 active replicas execute, Thesis §5.3.5).</param>
    /// <param name="quorums">quorum sizes; null = <see cref="QuorumPolicy.RePbft"/>(f). Tests plant bugs here (e.g. a weaker proof threshold).</param>
    /// <exception cref="ArgumentException">inconsistent settings (f &lt; 1, n &gt; 64, window not a multiple of K, first leader not a replica) or another execution stage.</exception>
    public RePbftReplica(ReplicaParameters settings, Authenticator auth, IExecutionStage execution, IReplicaOutput output, bool star, QuorumPolicy? quorums = null)
    {
        if (settings.F < 1) throw new ArgumentException($"f must be at least 1 (f={settings.F})", nameof(settings));
        _s = settings;
        _star = star;
        Shape = new CellShape(star ? ProtocolKind.RePbftStar : ProtocolKind.RePbft, settings.F);
        _n = Shape.N; _f = settings.F;
        if (_n > 64) throw new ArgumentException("at most 64 replicas (vote bitmasks are 64-bit)", nameof(settings));
        if (settings.Window % settings.CheckpointInterval != 0) throw new ArgumentException("window must be a multiple of the checkpoint interval", nameof(settings));
        if (settings.FirstLeader >= (uint)_n) throw new ArgumentException($"first leader {settings.FirstLeader} is not in 0..{_n - 1}", nameof(settings));
        _exec = execution as SequentialExecutionStage ?? throw new ArgumentException("RePBFT needs a SequentialExecutionStage (it records and applies state updates)", nameof(execution));
        _auth = auth;
        _id = auth.SelfId;
        if (_id >= _n) throw new ArgumentException($"replica id {_id} is not in 0..{_n - 1}", nameof(auth));
        _out = output;
        _q = quorums ?? QuorumPolicy.RePbft(settings.F);
        _signatures = auth.Signatures;
        _builder = new MessageBuilder(auth, _n) { Family = ProtocolFamily.RePbft };
        _slots = new ActiveSlot[settings.Window];
        for (int i = 0; i < _slots.Length; i++) _slots[i] = new ActiveSlot(_n);
        _cps = new SignedCheckpoints(_n, settings.Window / settings.CheckpointInterval + 2, _id);
        _intake = new RequestIntake(_clients, _pending, _exec.Replies, settings.BatchSize);
        _forwardedTick = new long[_n];
        Array.Fill(_forwardedTick, -1L);
        _helpedTick = new long[_n];
        Array.Fill(_helpedTick, -1L);
        EnterGeneration(0, settings.FirstLeader);
    }

    /// <inheritdoc/>
    public uint Id => _id;
    /// <inheritdoc/>
    public CellShape Shape { get; }
    /// <inheritdoc/>
    public ulong View => _mode == Mode.Pbft ? _pbft!.View : _view;
    /// <inheritdoc/>
    public uint Leader => _mode == Mode.Pbft ? _pbft!.Primary : Shape.LeaderOf(_view);
    /// <inheritdoc/>
    public ulong Generation => _mode == Mode.Pbft ? _pbft!.Generation : _gen;
    /// <inheritdoc/>
    public bool InViewChange => _mode == Mode.Switching || (_mode == Mode.Pbft && _pbft!.InViewChange);
    /// <inheritdoc/>
    public ulong LastExecuted => _mode == Mode.Pbft ? _pbft!.LastExecuted : _lastExecuted;
    /// <inheritdoc/>
    public ulong LowWatermark => _mode == Mode.Pbft ? _pbft!.LowWatermark : _low;
    /// <inheritdoc/>
    public ReplicaCounters Counters => Stats;
    /// <inheritdoc/>
    public IExecutionStage Execution => _exec;
    /// <summary>True while the cell runs PBFT after a switch (Thesis §5.3.3).</summary>
    public bool RunsPbft => _mode == Mode.Pbft;
    /// <summary>The role of this replica in the current RePBFT generation (every replica is active while PBFT runs).</summary>
    public ReplicaRole Role => _mode == Mode.Pbft ? (_pbft!.IsPrimary ? ReplicaRole.Leader : ReplicaRole.Follower) : Shape.RoleOf(_id, _view);
    /// <summary>The quorums this core uses.</summary>
    public QuorumPolicy Quorums => _q;

    private ulong HighWatermark => _low + (ulong)_s.Window;
    private bool IsLeader => Shape.LeaderOf(_view) == _id;
    private uint LeaderId => Shape.LeaderOf(_view);

    /// <summary>Starts RePBFT generation <paramref name="gen"/> led by <paramref name="leader"/> at the current low watermark (construction and switch back).</summary>
    private void EnterGeneration(ulong gen, uint leader)
    {
        _mode = Mode.Normal;
        _sentCommitInGeneration = false;
        _gen = gen;
        _genBase = _low;
        _builder.Generation = gen;
        ulong n = (ulong)_n;
        _view = gen == 0 ? leader : (_view / n + 1) * n + leader;
        _active = CoordinatorRotation.ActiveSet(Shape, _view);
        // RePBFT: every active replica executes; RePBFT*: the f+1 followers after the leader (G8: the leader and the
        // remaining followers apply UPDATEs like passive replicas). UPDATEs go to every replica that does not execute.
        _executors = _star ? _active.AsSpan(1, _f + 1).ToArray() : _active;
        var receivers = new List<uint>();
        for (uint r = 0; r < _n; r++) if (Array.IndexOf(_executors, r) < 0) receivers.Add(r);
        _receivers = receivers.ToArray();
        _isActive = Array.IndexOf(_active, _id) >= 0;
        _executes = Array.IndexOf(_executors, _id) >= 0;
        _receivesUpdates = !_executes;
        _exec.SetExecutors(_executors);
        _exec.RecordUpdates = _executes && _receivers.Length > 0;
        _lastAssigned = Math.Max(_lastAssigned, _lastExecuted);
        for (ulong s = _low + 1; s <= HighWatermark; s++) SlotOf(s).Reset(s);
        _pending.Clear();
        foreach (var rec in _clients.All) { rec.Queued = false; rec.DeferredRid = 0; rec.HighestQueuedRid = _exec.Replies.LastExecutedRid(rec.ClientId); rec.HighestForwardedRid = 0; }
        _panic.Reset();
    }

    /// <summary>Handles one message the verifier accepted with <see cref="RePbftSchema"/>.</summary>
    public void OnMessage(in VerifiedMessage m)
    {
        ref readonly var h = ref m.Header;
        var message = m.Message;
        switch (h.Type)
        {
            case MessageType.Panic: OnPanic(h, message); return;
            case MessageType.History: OnHistory(h, message); return;
            case MessageType.Switch: OnSwitch(h, message); return;
            case MessageType.SignedCheckpoint: OnSignedCheckpoint(h, message); return;
            case MessageType.Forward: OnForward(message); return;
            case MessageType.SwitchVote: OnSwitchVote(h, message); return;
        }
        if (h.Sender < (uint)_n && h.Type != MessageType.Request) NotePeerGeneration(h);
        if (_mode == Mode.Pbft)
        {
            if (h.Type == MessageType.Request) { _pbft!.OnMessage(m); return; }
            if (h.Generation == _pbft!.Generation) { NotePresence(h); _pbft.OnMessage(m); return; }
            if (_retired is not null && h.Generation == _retired.Generation)
            {
                if (TryReturnToPbft(h)) { _pbft!.OnMessage(m); return; }
                _retired.OnMessage(m);
                HelpRetiredPeer(h.Sender);
                return;
            }
            if (h.Type == MessageType.BatchFetch) { OnBatchFetch(h, message); return; }
            if (h.Type is MessageType.Commit or MessageType.PrePrepare or MessageType.Prepare or MessageType.ViewChange or MessageType.NewView or MessageType.Status) NoteOtherGeneration(h);
            Stats.Ignored++;
            return;
        }
        if (h.Type == MessageType.Request) { OnRequest(h, message, m.RequestDigest); return; }
        if (_retired is not null && h.Generation == _retired.Generation)
        {
            if (TryReturnToPbft(h)) { _pbft!.OnMessage(m); return; }
            _retired.OnMessage(m);
            HelpRetiredPeer(h.Sender);
            return;
        }
        if (_mode == Mode.Switching)
        {
            switch (h.Type)
            {
                case MessageType.BatchFetch: OnBatchFetch(h, message); return;
                case MessageType.Batch: OnBatch(h, message); return;
            }
            Stats.Ignored++;
            return;
        }
        if (h.Type == MessageType.BatchFetch) { OnBatchFetch(h, message); return; }
        if (h.Generation != _gen) { Stats.Ignored++; return; }
        switch (h.Type)
        {
            case MessageType.EndorsedPrePrepare: OnPrePrepare(h, message, m.RequestsAuthenticated); break;
            case MessageType.EndorsedPrepare: OnPrepare(h, message); break;
            case MessageType.Commit: OnCommit(h, message); break;
            case MessageType.Update: OnUpdate(h, message); break;
            case MessageType.Status: OnStatus(h, message); break;
            default: Stats.Ignored++; break;
        }
    }

    /// <summary>End of an input burst: the leader cuts batches (adaptive batching, as in PBFT).</summary>
    public void EndOfBurst()
    {
        if (_mode == Mode.Pbft) { _pbft!.EndOfBurst(); return; }
        if (_mode != Mode.Normal || !IsLeader) return;
        while (_pending.Count > 0 && _lastAssigned - _lastExecuted < (ulong)_s.MaxInflightBatches && _lastAssigned + 1 <= HighWatermark) CutBatch();
    }

    /// <summary>Periodic timer: retransmission, STATUS, the switch timer, PBFT's timers, the switch back.</summary>
    public void OnTick()
    {
        _tick++;
        switch (_mode)
        {
            case Mode.Pbft: PbftTick(); return;
            case Mode.Switching: SwitchTick(); return;
        }
        ulong hi = Math.Min(_lastAssigned, HighWatermark);
        for (ulong seq = Math.Max(_lastExecuted, _low) + 1; seq <= hi; seq++)
        {
            var slot = SlotOf(seq);
            if (slot.Seq != seq || slot.Executed) continue;
            if (++slot.StalledTicks >= _s.RetransmitTicks) { slot.StalledTicks = 0; Stats.Retransmissions++; ResendOwn(slot, uint.MaxValue); }
        }
        if (_tick % _s.RetransmitTicks == 0)
        {
            if (_cps.OwnUnstable(_low, out var cpMessage)) Broadcast(cpMessage);
            BroadcastStatus();
        }
    }

    // ---------------------------------------------------------------- requests

    private void OnRequest(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> requestDigest)
    {
        if (_mode == Mode.Pbft) return;
        ulong rid = h.Sequence;
        var rec = _clients.Get(h.Sender);
        var entry = _exec.Replies.Get(h.Sender);
        if (rid < entry.LastExecutedRid) { Stats.OldRequests++; return; }
        if (rid == entry.LastExecutedRid) { Stats.CachedReplies++; SendReply(entry, full: true); return; }
        if (_mode != Mode.Normal || !IsLeader) Await(h.Sender, rid, message, requestDigest);   // the leader's requests are in its queue (no copy per request)
        if (_mode != Mode.Normal) return;
        if (IsLeader)
        {
            // R2 as in PBFT (RequestIntake).
            var result = _intake.Offer(rec, rid, message, requestDigest);
            if (result == IntakeResult.Duplicate) Stats.DuplicateRequests++;
            else if (result == IntakeResult.Deferred) Stats.ThrottledRequests++;
            return;
        }
        if (rid <= rec.HighestForwardedRid) return;
        rec.HighestForwardedRid = rid;                        // a client that timed out multicasts; relay it to the leader once
        Stats.ForwardedRequests++;
        _out.SendToReplica(LeaderId, message);
    }

    /// <summary>The newest request of each client seen and not executed: handed to the PBFT primary when a switch completes, so no client waits for its next retransmission (as PBFT's new view does).</summary>
    private readonly Dictionary<uint, (ulong Rid, byte[] Message, byte[] Digest)> _awaiting = new();

    private void Await(uint client, ulong rid, ReadOnlySpan<byte> message, ReadOnlySpan<byte> digest)
    {
        if (_awaiting.TryGetValue(client, out var a) && a.Rid >= rid) return;
        if (_awaiting.Count >= 4096 && !_awaiting.ContainsKey(client)) return;     // bounded: a faulty client population cannot grow it without limit
        _awaiting[client] = (rid, message.ToArray(), digest.ToArray());
    }

    private void CutBatch()
    {
        ulong seq = _lastAssigned + 1;
        int count = _intake.Select(seq, out int batchLength);
        var body = _builder.BeginVector(MessageType.EndorsedPrePrepare, _view, seq, batchLength + CommonRules.EndorsementSize);
        _intake.Write(body.Slice(0, batchLength), count);
        Span<byte> digest = stackalloc byte[Digests.Size];
        body.Slice(0, Digests.Size).CopyTo(digest);
        var endorsement = body.Slice(batchLength, CommonRules.EndorsementSize);
        Endorse(digest, endorsement);
        Span<byte> authDigest = stackalloc byte[Digests.Size];
        CommonRules.EndorsedBatchAuthDigest(digest, endorsement, authDigest);
        var msg = _builder.SealVector(authDigest);
        _lastAssigned = seq;
        var slot = SlotOf(seq);
        slot.Reset(seq);
        slot.StorePrePrepare(msg, digest);
        Stats.Batches++;
        Stats.BatchedRequests += count;
        SendToActive(msg);
        Advance(slot);
    }

    /// <summary>Signs header ‖ D(batch) of the message being built into <paramref name="endorsement"/> (docs/repbft.md §3).</summary>
    private void Endorse(ReadOnlySpan<byte> digest, Span<byte> endorsement)
    {
        Span<byte> signed = stackalloc byte[MessageHeader.Size + Digests.Size];
        _builder.Header.CopyTo(signed);
        digest.CopyTo(signed.Slice(MessageHeader.Size));
        _signatures.Sign(_id, signed, endorsement);
        Stats.Endorsements++;
    }

    // ---------------------------------------------------------------- agreement (Thesis §5.3.1.1)

    private void OnPrePrepare(in MessageHeader h, ReadOnlySpan<byte> message, bool requestsAuthenticated)
    {
        if (h.View != _view || h.Sender != LeaderId || !_isActive || IsLeader) { Stats.Ignored++; return; }
        ulong seq = h.Sequence;
        if (seq <= _low || seq > HighWatermark) { Stats.OutOfWindow++; return; }
        var body = MessageHeader.Body(message, h);
        var digest = Bodies.BatchDigest(body);
        var slot = SlotFor(seq);
        if (slot.HasPrePrepare)
        {
            if (!slot.Digest.AsSpan().SequenceEqual(digest)) { Stats.ConflictingPrePrepares++; return; }
            AnswerRetransmission(slot, h.Sender);
            return;
        }
        // G1/L3 as in PBFT: a follower endorses only a batch whose every client MAC verified for it (a faulty leader
        // cannot make it vouch for requests no client sent); an empty batch is never proposed in the normal case.
        if (!requestsAuthenticated || Bodies.BatchCount(body) == 0) { Stats.UnauthenticatedBatches++; return; }
        slot.StorePrePrepare(message, digest);
        if (seq > _lastAssigned) _lastAssigned = seq;
        SendPrepare(slot);
        Advance(slot);
    }

    private void SendPrepare(ActiveSlot slot)
    {
        var body = _builder.BeginVector(MessageType.EndorsedPrepare, _view, slot.Seq, Digests.Size + CommonRules.EndorsementSize);
        slot.Digest.AsSpan().CopyTo(body);
        Endorse(slot.Digest, body.Slice(Digests.Size, CommonRules.EndorsementSize));
        var msg = _builder.SealVector();
        slot.Prepares.Record(_id, slot.Digest);
        slot.StorePrepare(_id, msg);
        slot.SentPrepare = true;
        SendToActive(msg);
    }

    private void OnPrepare(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (h.View != _view || !_isActive || h.Sender == LeaderId || Shape.RoleOf(h.Sender, _view) != ReplicaRole.Follower) { Stats.Ignored++; return; }
        ulong seq = h.Sequence;
        if (seq <= _low || seq > HighWatermark) { Stats.OutOfWindow++; return; }
        var slot = SlotFor(seq);
        var digest = MessageHeader.Body(message, h).Slice(0, Digests.Size);
        if (!slot.Prepares.Record(h.Sender, digest)) { AnswerRetransmission(slot, h.Sender); return; }
        slot.StorePrepare(h.Sender, message);
        Advance(slot);
    }

    private void OnCommit(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (h.View != _view || !_isActive || Shape.RoleOf(h.Sender, _view) == ReplicaRole.Passive) { Stats.Ignored++; return; }
        ulong seq = h.Sequence;
        if (seq <= _low || seq > HighWatermark) { Stats.OutOfWindow++; return; }
        var slot = SlotFor(seq);
        if (!slot.Commits.Record(h.Sender, MessageHeader.Body(message, h))) { AnswerRetransmission(slot, h.Sender); return; }
        Advance(slot);
    }

    /// <summary>prepared = PRE-PREPARE + all 2f PREPAREs ⇒ COMMIT; committed = all 2f+1 COMMITs ⇒ execute (Thesis §5.3.1.1).</summary>
    private void Advance(ActiveSlot slot)
    {
        if (!slot.HasPrePrepare) return;
        slot.StalledTicks = 0;
        if (!slot.Prepared && slot.Prepares.CountMatching(slot.Digest) >= _q.Prepare)
        {
            slot.Prepared = true;
            slot.Commits.Record(_id, slot.Digest);
            slot.SentCommit = true;
            _sentCommitInGeneration = true;
            SendCommit(slot, uint.MaxValue);
        }
        if (slot.Prepared && !slot.Committed && slot.Commits.CountMatching(slot.Digest) >= _q.Commit)
        {
            slot.Committed = true;
            if (_executes) ExecuteReady();
        }
    }

    private void SendCommit(ActiveSlot slot, uint to)
    {
        var body = _builder.BeginVector(MessageType.Commit, _view, slot.Seq, Digests.Size);
        slot.Digest.AsSpan().CopyTo(body);
        var msg = _builder.SealVector();
        if (to == uint.MaxValue) SendToActive(msg); else _out.SendToReplica(to, msg);
    }

    private void ResendOwn(ActiveSlot slot, uint to)
    {
        if (slot.HasPrePrepare && IsLeader) Send(to, slot.PrePrepareMessage);
        if (slot.SentPrepare) Send(to, slot.PrepareMessages[_id].AsSpan(0, slot.PrepareLengths[_id]));
        if (slot.SentCommit) SendCommit(slot, to);
    }

    private void AnswerRetransmission(ActiveSlot slot, uint peer)
    {
        if (slot.AnsweredTick == _tick) return;
        slot.AnsweredTick = _tick;
        Stats.RetransmissionAnswers++;
        ResendOwn(slot, peer);
    }

    // ---------------------------------------------------------------- execution (Thesis §5.3.1.2)

    private void ExecuteReady()
    {
        while (true)
        {
            ulong next = _lastExecuted + 1;
            var slot = SlotOf(next);
            if (slot.Seq != next || !slot.Committed || slot.Executed) return;
            var msg = slot.PrePrepareMessage;
            MessageHeader.TryParse(msg, int.MaxValue, out var h);
            var body = MessageHeader.Body(msg, h);
            _exec.Committed(next, body.Slice(0, body.Length - CommonRules.EndorsementSize), this);
            Stats.ExecutedBatches++;
            slot.Executed = true;
            _lastExecuted = next;
            if (_receivers.Length > 0) SendUpdates(slot);
            if (next % (ulong)_s.CheckpointInterval == 0) TakeCheckpoint(next);
        }
    }

    /// <summary>UPDATE(s): the full content from the designated executor (never the leader), its digest from the others (Thesis §5.3.5).</summary>
    private void SendUpdates(ActiveSlot slot)
    {
        var content = _exec.BatchUpdate;
        slot.StoreUpdate(content);
        bool full = DesignatedUpdater(slot.Seq) == _id;
        var msg = BuildUpdate(slot, full);
        foreach (var r in _receivers) if (r != _id) _out.SendToReplica(r, msg);
        Stats.UpdatesSent++;
    }

    private uint DesignatedUpdater(ulong seq)
    {
        // Among executors other than the leader (the leader always sends digests, Thesis §5.5.2.3).
        int count = 0;
        foreach (var e in _executors) if (e != LeaderId) count++;
        int pick = (int)(seq % (ulong)count);
        foreach (var e in _executors) if (e != LeaderId && pick-- == 0) return e;
        return _executors[0];
    }

    private ReadOnlySpan<byte> BuildUpdate(ActiveSlot slot, bool full)
    {
        var content = slot.Update.AsSpan(0, slot.UpdateLength);
        var body = _builder.BeginVector(MessageType.Update, _view, slot.Seq, 4 + (full ? content.Length : Digests.Size));
        body[0] = full ? RePbftSchema.UpdateFull : RePbftSchema.UpdateDigest;
        body[1] = 0; body[2] = 0; body[3] = 0;
        if (full) content.CopyTo(body.Slice(4));
        else Digests.Sha256(content, body.Slice(4, Digests.Size));
        return _builder.SealVector();
    }

    private void OnUpdate(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (!_receivesUpdates || h.View != _view || Array.IndexOf(_executors, h.Sender) < 0) { Stats.Ignored++; return; }
        ulong seq = h.Sequence;
        if (seq <= _lastExecuted || seq <= _low || seq > HighWatermark) { Stats.OutOfWindow++; return; }
        var slot = SlotFor(seq);
        var body = MessageHeader.Body(message, h);
        Span<byte> digest = stackalloc byte[Digests.Size];
        if (body[0] == RePbftSchema.UpdateFull)
        {
            Digests.Sha256(body.Slice(4), digest);
            if (!slot.HasFullUpdate || slot.UpdateVotes.CountMatching(slot.FullUpdateDigest) < slot.UpdateVotes.CountMatching(digest))
                slot.StoreFullUpdate(body.Slice(4), digest);
        }
        else body.Slice(4, Digests.Size).CopyTo(digest);
        slot.UpdateVotes.Replace(h.Sender, digest);          // a sender's latest UPDATE for s counts (a full resend replaces its digest)
        slot.StalledTicks = 0;
        ApplyReady();
    }

    /// <summary>Applies updates in order once a full content matches f+1 executors (RePBFT*: all f+1) (Thesis §5.3.1.2, §5.3.5).</summary>
    private void ApplyReady()
    {
        while (true)
        {
            ulong next = _lastExecuted + 1;
            var slot = SlotOf(next);
            if (slot.Seq != next || !slot.HasFullUpdate || slot.UpdateVotes.CountMatching(slot.FullUpdateDigest) < _q.Weak) return;
            if (!_exec.TryApplyUpdate(next, slot.FullUpdate.AsSpan(0, slot.FullUpdateLength))) { Stats.BadUpdates++; return; }
            Stats.AppliedUpdates++;
            slot.Executed = true;
            _lastExecuted = next;
            if (next % (ulong)_s.CheckpointInterval == 0) TakeCheckpoint(next);
        }
    }

    /// <inheritdoc/>
    void IExecutionSink.OnExecuted(ReplyEntry entry, bool designated)
    {
        if (_awaiting.Count != 0 && _awaiting.TryGetValue(entry.ClientId, out var a) && a.Rid <= entry.LastExecutedRid) _awaiting.Remove(entry.ClientId);
        if (_clients.TryGet(entry.ClientId, out var rec) && rec.HighestQueuedRid < entry.LastExecutedRid) rec.HighestQueuedRid = entry.LastExecutedRid;
        Stats.Executed++;
        SendReply(entry, designated);
    }

    /// <summary>REPLY: the full result if <paramref name="full"/>, else its SHA-256 (Thesis §2.1.1.4).</summary>
    private void SendReply(ReplyEntry entry, bool full)
    {
        ReplyMessages.Send(_builder, _out, View, entry, full);
        Stats.Replies++;
    }

    // ---------------------------------------------------------------- checkpoints (Thesis §5.3.1.3)

    private void TakeCheckpoint(ulong seq)
    {
        Span<byte> digest = stackalloc byte[Digests.Size];
        _exec.TakeCheckpoint(seq, digest);
        Stats.Checkpoints++;
        SendSignedCheckpoint(seq, digest);
    }

    /// <summary>Signs and sends CHECKPOINT(s, D(state)) to every replica and records it as ours.</summary>
    private void SendSignedCheckpoint(ulong seq, ReadOnlySpan<byte> digest)
    {
        var body = _builder.BeginVector(MessageType.SignedCheckpoint, View, seq, Digests.Size + ReplicaSignatures.SignatureSize);
        digest.CopyTo(body);
        var msg = _builder.SealSignedVector();
        _cps.RecordOwn(seq, msg);
        Broadcast(msg);
        TryStabilize(seq);
    }

    private void OnSignedCheckpoint(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        ulong seq = h.Sequence;
        if (seq % (ulong)_s.CheckpointInterval != 0 || seq <= _cps.StableSeq) { Stats.Ignored++; return; }
        _cps.Record(h.Sender, seq, message);
        TryStabilize(seq);
    }

    private void TryStabilize(ulong seq)
    {
        // All n (Thesis §5.3.1.3), also at the switch-back point of a PBFT generation (docs/repbft.md §6).
        if (!_cps.TryStabilize(seq, _q.Checkpoint)) return;
        Stats.StableCheckpoints++;
        if (_mode == Mode.Pbft) { SwitchBackIfReady(seq); return; }
        if (seq <= _low || seq > _lastExecuted) return;
        _low = seq;                                   // all n hold this state: the log below is garbage (Thesis §5.3.1.3)
        EndOfBurst();
    }

    /// <summary>A relayed SWITCH or signed CHECKPOINT (the verifier checked its signatures): handled as if its signer had sent it.</summary>
    private void OnForward(ReadOnlySpan<byte> message)
    {
        MessageHeader.TryParse(message, int.MaxValue, out var h);
        var inner = MessageHeader.Body(message, h);
        MessageHeader.TryParse(inner, int.MaxValue, out var ih);
        if (ih.Type == MessageType.Switch) OnSwitch(ih, inner);
        else if (ih.Type == MessageType.SignedCheckpoint) OnSignedCheckpoint(ih, inner);
    }

    /// <summary>Relays a signed message to <paramref name="replica"/> inside a FORWARD under our own MAC vector.</summary>
    private void Forward(uint replica, ReadOnlySpan<byte> signedMessage)
    {
        signedMessage.CopyTo(_builder.BeginVector(MessageType.Forward, _view, 0, signedMessage.Length));
        _out.SendToReplica(replica, _builder.SealVector());
    }

    // ---------------------------------------------------------------- retransmission

    /// <summary>STATUS (as PBFT-PR §4.6.1): last executed and low watermark; a peer that is ahead re-sends what we lack.</summary>
    private void BroadcastStatus()
    {
        var body = _builder.BeginVector(MessageType.Status, _view, _lastExecuted, PbftBodies.StatusLength);
        BinaryPrimitives.WriteUInt64LittleEndian(body, _low);
        BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(8), 0);
        Broadcast(_builder.SealVector());
    }

    private void OnStatus(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        ulong theirLow = BinaryPrimitives.ReadUInt64LittleEndian(MessageHeader.Body(message, h));
        if (theirLow < _low && _cps.TryGetOwn(_low, out var cp)) _out.SendToReplica(h.Sender, cp);   // it lacks our CHECKPOINT
        if (_cps.OwnUnstable(_low, out var own) && theirLow < _low + (ulong)_s.CheckpointInterval) _out.SendToReplica(h.Sender, own);
        ulong theirs = h.Sequence;
        if (h.View != _view || theirs >= _lastExecuted) return;
        ulong from = Math.Max(theirs, _low) + 1;
        ulong to = Math.Min(_lastExecuted, from + (ulong)(2 * _s.MaxInflightBatches) - 1);
        bool peerActive = Array.IndexOf(_active, h.Sender) >= 0;
        bool peerReceives = Array.IndexOf(_receivers, h.Sender) >= 0;
        for (ulong seq = from; seq <= to; seq++)
        {
            var slot = SlotOf(seq);
            if (slot.Seq != seq) continue;
            if (peerActive && slot.HasPrePrepare)
            {
                if (h.Sender != LeaderId) _out.SendToReplica(h.Sender, slot.PrePrepareMessage);   // its MAC vector covers every replica
                if (slot.SentPrepare) _out.SendToReplica(h.Sender, slot.PrepareMessages[_id].AsSpan(0, slot.PrepareLengths[_id]));
                if (slot.SentCommit) SendCommit(slot, h.Sender);
            }
            if (peerReceives && slot.HasUpdate && _executes) _out.SendToReplica(h.Sender, BuildUpdate(slot, full: true));
            Stats.StatusAnswers++;
        }
    }

    // ---------------------------------------------------------------- helpers

    private ActiveSlot SlotOf(ulong seq) => _slots[(int)(seq % (ulong)_slots.Length)];

    private ActiveSlot SlotFor(ulong seq)
    {
        var slot = SlotOf(seq);
        if (slot.Seq != seq) slot.Reset(seq);
        return slot;
    }

    private void Broadcast(ReadOnlySpan<byte> message)
    {
        for (uint r = 0; r < _n; r++) if (r != _id) _out.SendToReplica(r, message);
    }

    private void SendToActive(ReadOnlySpan<byte> message)
    {
        foreach (var r in _active) if (r != _id) _out.SendToReplica(r, message);
    }

    private void Send(uint to, ReadOnlySpan<byte> message)
    {
        if (to == uint.MaxValue) SendToActive(message); else _out.SendToReplica(to, message);
    }

    /// <inheritdoc/>
    public void GetStateDigest(Span<byte> digest32) => _exec.GetStateDigest(digest32);

    /// <inheritdoc/>
    public bool TryGetLoggedDigest(ulong seq, Span<byte> digest32)
    {
        if (_mode == Mode.Pbft) return _pbft!.TryGetLoggedDigest(seq, digest32);
        var slot = SlotOf(seq);
        if (slot.Seq != seq || !slot.HasPrePrepare) return false;
        slot.Digest.CopyTo(digest32);
        return true;
    }

    /// <inheritdoc/>
    public bool IsPreparedOrDone(ulong seq, ReadOnlySpan<byte> digest32)
    {
        if (_mode == Mode.Pbft) return _pbft!.IsPreparedOrDone(seq, digest32);
        if (seq <= _low || seq <= _lastExecuted) return true;
        var slot = SlotOf(seq);
        return slot.Seq == seq && slot.Prepared && slot.Digest.AsSpan().SequenceEqual(digest32);
    }
}

/// <summary>Counters of a RePBFT core; the PBFT generations it hosts after a switch count into the same object (so a host's metrics continue across switches).</summary>
public sealed class RePbftStats : PbftStats
{
    public long Endorsements, UpdatesSent, AppliedUpdates, BadUpdates;
    public long PanicsJustified, PanicsFiltered, HistoriesSent, HistoriesAccepted, BadHistories, SwitchesSent, BadSwitches, ConflictingProofSlots;
    public long CoordinatorTimeouts, SwitchBacks, SwitchBackExtensions, SwitchBackReturns, SwitchVotesSent;
}
