using System.Buffers.Binary;
using FastBft.Agreement.Pbft;
using FastBft.Agreement.Switch;
using FastBft.Auth;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Agreement.RePbft;

/// <summary>
/// RePBFT's protocol switch (Thesis §5.3.2; PROTOCOLS.md §5.5; docs/repbft.md §5) and the switch back (§5.3.3, G13;
/// docs/repbft.md §6):
/// <list type="number">
/// <item>PANIC filter (Fig. 5.3, <see cref="PanicFilter"/>): a justified PANIC is forwarded unchanged and starts the switch.</item>
/// <item>Local abort history (§5.3.2.2): an active replica stops agreement and sends HISTORY — its stable checkpoint
/// certificate and, for every slot above it where it sent a COMMIT, the endorsements of the PRE-PREPARE and 2f
/// PREPAREs — to the transition coordinator of attempt a (<see cref="CoordinatorRotation"/>).</item>
/// <item>Global abort history (§5.3.2.3): the coordinator, with f+1 valid histories (its own first), applies H1/H2
/// (<see cref="GlobalHistory.Decide"/>), fetches any batch body it lacks from the endorsers, and sends SWITCH.</item>
/// <item>Processing (§5.3.2.4): every replica re-checks the signatures (verifier), the histories and recomputes
/// H1/H2, rejecting any difference; then it starts a <see cref="PbftReplica"/> of the new generation in the view the
/// coordinator leads, with one instance per slot; passive replicas execute from then on, skipping what they applied.</item>
/// <item>Faulty coordinator (§5.3.2.5): the timer doubles and the history goes to the next coordinator.</item>
/// </list>
/// A replica that already runs PBFT generation p moves to a valid SWITCH of a higher generation of the same abort only
/// while its PBFT core prepared nothing: a generation that committed anything had f+1 correct replicas prepare in it,
/// which never move, so no other generation can commit (docs/repbft.md §5.5).
/// </summary>
public sealed partial class RePbftReplica
{
    private PbftReplica? _pbft, _retired;
    private ulong _abortedGen, _abortedView, _attempt;
    private long _switchTimer;
    private byte[]? _switchMessage;                          // the SWITCH our PBFT generation started from (forwarded to peers still switching)
    private readonly long[] _forwardedTick;                  // per peer: when we last forwarded it our SWITCH
    private readonly long[] _helpedTick;                     // per peer: when we last sent it the switch-back certificate
    private readonly Dictionary<ulong, Dictionary<uint, AbortHistory>> _histories = new();   // coordinator: target generation → sender → history
    private readonly Dictionary<string, byte[]> _fetchedBatches = new();                       // coordinator: hex digest → batch body
    private ulong _switchBackAt;                             // the checkpoint the running PBFT generation stops at (0 = never, or the stop was lifted)
    private ulong _switchBackPoint;                          // the running PBFT generation's switch-back point c (0 = none); kept when the stop is lifted
    private ulong _switchView;
    private List<byte[]> _baseCertificate = new();            // the signed CHECKPOINTs of the point the current RePBFT generation started at (after a switch back)                               // the view the running PBFT generation started in (its primary was the coordinator)

    /// <summary>Read-only test hook (the simulator's PA/PE oracle): the SWITCH message the running PBFT generation started from, null while RePBFT runs or switches.</summary>
    public byte[]? AcceptedSwitch => _mode == Mode.Pbft ? _switchMessage : null;

    /// <summary>The generation a switch in progress targets (0 when none).</summary>
    public ulong SwitchTarget => _mode == Mode.Switching ? _abortedGen + _attempt : 0;

    /// <summary>One line of switch state for failure reports.</summary>
    public string DescribeState()
    {
        var ci = System.Globalization.CultureInfo.InvariantCulture;
        return _mode switch
        {
            Mode.Pbft => string.Create(ci, $"pbft gen {_pbft!.Generation} stop {_switchBackAt}: {_pbft.DescribeState()}"),
            Mode.Switching => string.Create(ci, $"switching from gen {_abortedGen} (v{_abortedView}) attempt {_attempt} tc {CoordinatorRotation.Coordinator(Shape, _abortedView, _attempt)} timer {_switchTimer} histories {string.Join(",", _histories.Select(kv => $"{kv.Key}:{kv.Value.Count}"))} last {_lastExecuted} h {_low}"),
            _ => string.Create(ci, $"repbft gen {_gen} v{_view} role {Role} last {_lastExecuted} h {_low} assigned {_lastAssigned} pending {_pending.Count}"),
        };
    }

    // ---------------------------------------------------------------- PANIC (Thesis §5.3.2.1, Fig. 5.3)

    private void OnPanic(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (_mode == Mode.Pbft)
        {
            // PBFT tolerates the fault itself (view change); a PANIC only gets the cached reply.
            if (_exec.Replies.TryGet(h.Sender, out var e) && e.LastExecutedRid == h.Sequence) SendReply(e, full: true);
            return;
        }
        _exec.Replies.TryGet(h.Sender, out var entry);
        var verdict = _panic.Check(h.Sender, h.Sequence, entry, _low);
        if (verdict is PanicVerdict.ReplyOnly or PanicVerdict.ReplyAndSwitch) SendReply(entry!, full: true);
        if (verdict is PanicVerdict.Ignore or PanicVerdict.ReplyOnly) { Stats.PanicsFiltered++; return; }
        Stats.PanicsJustified++;
        if (_mode == Mode.Switching) return;                 // the switch is under way already
        Broadcast(message);                                  // forwarded unchanged: the client's MAC vector covers every replica (G9)
        BeginSwitch();
    }

    // ---------------------------------------------------------------- local abort history (§5.3.2.2)

    private void BeginSwitch()
    {
        if (_mode != Mode.Normal) return;
        _mode = Mode.Switching;
        _abortedGen = _gen;
        _abortedView = _view;
        _attempt = 1;
        _switchTimer = 0;
        _histories.Clear();
        _fetchedBatches.Clear();
        if (_isActive) SendHistory();
    }

    private AbortHistory BuildOwnHistory(ulong target)
    {
        var slots = new List<HistorySlot>();
        ulong hi = Math.Min(_lastAssigned, HighWatermark);
        for (ulong seq = _low + 1; seq <= hi; seq++)
        {
            var slot = SlotOf(seq);
            if (slot.Seq != seq || !slot.SentCommit || !slot.HasPrePrepare) continue;
            var ends = new List<Endorsement>(_active.Length);
            ends.Add(EndorsementOf(slot.PrePrepareMessage));
            foreach (var r in _active)
                if (r != LeaderId && slot.PrepareLengths[r] > 0) ends.Add(EndorsementOf(slot.PrepareMessages[r].AsSpan(0, slot.PrepareLengths[r])));
            slots.Add(new HistorySlot(seq, slot.Digest.ToArray(), ends));
        }
        var cert = _cps.StableCertificate;
        _builder.Generation = target;
        var body = _builder.BeginVector(MessageType.History, CoordinatorRotation.StartView(Shape, _abortedView, target - _abortedGen), _cps.StableSeq, AbortHistory.BodyLength(cert, slots));
        AbortHistory.Write(body, _abortedGen, _abortedView, _cps.StableSeq, _cps.StableDigest, cert, slots);
        var msg = _builder.SealSignedVector().ToArray();
        _builder.Generation = _gen;
        MessageHeader.TryParse(msg, int.MaxValue, out var mh);
        return AbortHistory.TryParse(mh, msg, _n, _active.Length, _s.Window)!;
    }

    /// <summary>The endorsement of an endorsed PRE-PREPARE or PREPARE we hold: its header and the last 64 bytes of its body.</summary>
    private static Endorsement EndorsementOf(ReadOnlySpan<byte> message)
    {
        MessageHeader.TryParse(message, int.MaxValue, out var h);
        var body = MessageHeader.Body(message, h);
        return new Endorsement(message.Slice(0, MessageHeader.Size).ToArray(), body.Slice(body.Length - CommonRules.EndorsementSize).ToArray());
    }

    private void SendHistory()
    {
        ulong target = _abortedGen + _attempt;
        var own = BuildOwnHistory(target);
        Stats.HistoriesSent++;
        uint tc = CoordinatorRotation.Coordinator(Shape, _abortedView, _attempt);
        if (tc == _id) { StoreHistory(own); TryCoordinate(target); }
        else _out.SendToReplica(tc, own.Message);
    }

    private void SwitchTick()
    {
        if (_isActive)
        {
            if (++_switchTimer >= CoordinatorRotation.Timeout(SwitchTicks, _attempt))
            {
                // §5.3.2.5: the coordinator failed to deliver a valid SWITCH in time: the next one, with a doubled timeout.
                _attempt++;
                _switchTimer = 0;
                Stats.CoordinatorTimeouts++;
                SendHistory();
            }
            else if (_tick % _s.RetransmitTicks == 0)
            {
                uint tc = CoordinatorRotation.Coordinator(Shape, _abortedView, _attempt);
                if (tc != _id) _out.SendToReplica(tc, BuildOwnHistory(_abortedGen + _attempt).Message);   // the HISTORY may have been lost
                else TryCoordinate(_abortedGen + _attempt);                                                 // re-asks for missing batches
            }
        }
        if (_tick % _s.RetransmitTicks == 0)
        {
            BroadcastStatus();
            if (_bcAbortedGen == _abortedGen) foreach (var target in _broadcasts.Keys.ToList()) ResendSwitchVotes(uint.MaxValue, target);   // lost ECHOs and READYs
        }
    }

    private int SwitchTicks => _s.SwitchTicks > 0 ? _s.SwitchTicks : _s.ViewChangeTicks;

    // ---------------------------------------------------------------- global abort history (§5.3.2.3)

    private void OnHistory(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (_mode == Mode.Pbft) { Stats.Ignored++; return; }
        ulong aborted = _mode == Mode.Normal ? _gen : _abortedGen;
        ulong abortedView = _mode == Mode.Normal ? _view : _abortedView;
        // Cheap checks first: only histories addressed to us as coordinator, one per (target, sender) — a flood of
        // HISTORYs costs a lookup each, not n signature verifications each.
        if (h.Generation <= aborted) { Stats.Ignored++; return; }
        ulong attempt = h.Generation - aborted;
        if (attempt > (ulong)(4 * Shape.Active) || CoordinatorRotation.Coordinator(Shape, abortedView, attempt) != _id) { Stats.Ignored++; return; }
        if (_histories.TryGetValue(h.Generation, out var held) && held.ContainsKey(h.Sender)) return;
        var parsed = AbortHistory.TryParse(h, message, _n, Shape.Active, _s.Window);
        if (parsed is null || !GlobalHistory.IsValid(parsed, Shape, aborted, abortedView, _signatures, _genBase)) { Stats.BadHistories++; return; }
        // A signed history proves an active replica stopped agreement: the generation cannot progress any more, so
        // join the switch (a faulty active replica could stall it by silence anyway).
        if (_mode == Mode.Normal) BeginSwitch();
        Stats.HistoriesAccepted++;
        StoreHistory(parsed);
        TryCoordinate(h.Generation);
    }

    private void StoreHistory(AbortHistory h)
    {
        if (!_histories.TryGetValue(h.Target, out var byTarget))
        {
            if (_histories.Count >= 4) _histories.Remove(_histories.Keys.Min());
            _histories[h.Target] = byTarget = new();
        }
        byTarget.TryAdd(h.Sender, h);
    }

    /// <summary>Coordinator of <paramref name="target"/>: with f+1 histories (own first), decide, gather batch bodies, send SWITCH.</summary>
    private void TryCoordinate(ulong target)
    {
        if (_mode != Mode.Switching || !_histories.TryGetValue(target, out var byTarget)) return;
        if (_isActive && !byTarget.ContainsKey(_id)) StoreHistory(BuildOwnHistory(target));
        if (byTarget.Count < _q.Weak) return;
        var used = new List<AbortHistory> { byTarget[_id] };
        foreach (var (sender, hist) in byTarget.OrderBy(kv => kv.Key))
            if (sender != _id && used.Count < _q.Weak) used.Add(hist);
        var decision = GlobalHistory.Decide(used, Shape, _q.Proof, _s.Window, _signatures);
        var batches = new List<byte[]?>(decision.Slots.Count);
        bool missing = false;
        for (int i = 0; i < decision.Slots.Count; i++)
        {
            var d = decision.Slots[i];
            ulong seq = decision.CheckpointSeq + 1 + (ulong)i;
            if (d.AsSpan().SequenceEqual(ViewChangeDecision.NullDigest)) { batches.Add(null); continue; }
            var body = FindBatch(seq, d);
            if (body is null) { missing = true; RequestBatch(target, seq, d, used); }
            batches.Add(body);
        }
        if (missing) return;
        ulong attempt = target - _abortedGen;
        _builder.Generation = target;
        var sw = _builder.BeginVector(MessageType.Switch, CoordinatorRotation.StartView(Shape, _abortedView, attempt), decision.Top, decision.SwitchBodyLength(used));
        decision.WriteSwitch(sw, _abortedGen, _abortedView, used);
        var msg = _builder.SealSignedVector().ToArray();
        _builder.Generation = _gen;
        Stats.SwitchesSent++;
        Broadcast(msg);
        MessageHeader.TryParse(msg, int.MaxValue, out var mh);
        var parsed = SwitchMessage.TryParse(mh, msg, _n, Shape.Active, _s.Window)!;
        AcceptSwitch(mh, parsed, msg, batches);
    }

    /// <summary>The batch body (PRE-PREPARE body without its endorsement) with digest <paramref name="digest"/> at <paramref name="seq"/>, from our log or fetched.</summary>
    private byte[]? FindBatch(ulong seq, byte[] digest)
    {
        var slot = SlotOf(seq);
        if (slot.Seq == seq && slot.HasPrePrepare && slot.Digest.AsSpan().SequenceEqual(digest))
        {
            MessageHeader.TryParse(slot.PrePrepareMessage, int.MaxValue, out var h);
            var body = MessageHeader.Body(slot.PrePrepareMessage, h);
            return body.Slice(0, body.Length - CommonRules.EndorsementSize).ToArray();
        }
        return _fetchedBatches.TryGetValue(Convert.ToHexString(digest), out var b) ? b : null;
    }

    /// <summary>Asks the endorsers of (seq, digest) in the histories for the batch (at least one correct replica endorsed it, so holds it).</summary>
    private void RequestBatch(ulong target, ulong seq, byte[] digest, List<AbortHistory> histories)
    {
        ulong asked = 0;
        foreach (var h in histories)
            foreach (var s in h.Slots)
            {
                if (s.Seq != seq || !s.Digest.AsSpan().SequenceEqual(digest)) continue;
                foreach (var e in s.Endorsements)
                {
                    if (!MessageHeader.TryParseAlone(e.Header, out var eh) || eh.Sender >= (uint)_n || eh.Sender == _id || (asked & (1UL << (int)eh.Sender)) != 0) continue;
                    asked |= 1UL << (int)eh.Sender;
                    _builder.Generation = target;
                    var body = _builder.BeginVector(MessageType.BatchFetch, CoordinatorRotation.StartView(Shape, _abortedView, target - _abortedGen), seq, Digests.Size);
                    digest.CopyTo(body);
                    _out.SendToReplica(eh.Sender, _builder.SealVector());
                    _builder.Generation = _gen;
                    Stats.BatchFetchesSent++;
                }
            }
    }

    private int _batchAnswers;
    private long _batchAnswersTick = -1;

    /// <summary>A coordinator asks for a batch of our RePBFT log (a few answers per tick: no amplification).</summary>
    private void OnBatchFetch(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (_batchAnswersTick != _tick) { _batchAnswersTick = _tick; _batchAnswers = 0; }
        if (++_batchAnswers > 8) return;
        var d = MessageHeader.Body(message, h).ToArray();
        var batch = FindBatch(h.Sequence, d);
        if (batch is null) { Stats.Ignored++; return; }
        _builder.Generation = h.Generation;
        var body = _builder.BeginVector(MessageType.Batch, h.View, h.Sequence, batch.Length);
        batch.CopyTo(body);
        _out.SendToReplica(h.Sender, _builder.SealVector());
        _builder.Generation = _gen;
    }

    private void OnBatch(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (_mode != Mode.Switching) return;
        var body = MessageHeader.Body(message, h);          // the verifier recomputed the batch digest from the requests
        string key = Convert.ToHexString(Bodies.BatchDigest(body));
        if (_fetchedBatches.Count >= _s.Window || _fetchedBatches.ContainsKey(key)) return;
        _fetchedBatches[key] = body.ToArray();
        TryCoordinate(h.Generation);
    }

    // ---------------------------------------------------------------- processing the SWITCH (§5.3.2.4)

    private void OnSwitch(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        var sw = SwitchMessage.TryParse(h, message, _n, Shape.Active, _s.Window);
        if (sw is null) { Stats.BadSwitches++; return; }
        AcceptSwitch(h, sw, message.ToArray(), null);
    }

    private void AcceptSwitch(in MessageHeader h, SwitchMessage sw, byte[] message, List<byte[]?>? batches)
    {
        ulong aborted = _mode == Mode.Normal ? _gen : _mode == Mode.Switching ? _abortedGen : _abortedGen;
        ulong abortedView = _mode == Mode.Normal ? _view : _abortedView;
        if (sw.AbortedGeneration != aborted || sw.AbortedView != abortedView || sw.Generation <= aborted) { Stats.Ignored++; return; }
        ulong attempt = sw.Generation - aborted;
        if (attempt > (ulong)(4 * Shape.Active) || h.Sender != CoordinatorRotation.Coordinator(Shape, abortedView, attempt)
            || sw.View != CoordinatorRotation.StartView(Shape, abortedView, attempt)) { Stats.BadSwitches++; return; }
        // A replica running generation p still takes part in the broadcast of another generation's SWITCH (others may need
        // its ECHO and READY, and it may be pulled there); whether it moves is decided on delivery (TryDeliverSwitch).
        if (_mode == Mode.Pbft && sw.Generation == _pbft!.Generation) { Stats.Ignored++; return; }
        {
            // A copy of a SWITCH we already checked and hold (forwarded again): no second H1/H2.
            var known = BroadcastOf(aborted, abortedView, sw.Generation);
            if (known.Delivered) return;
            var digest = SwitchDigest(message);
            if (known.Held.Exists(x => x.Digest.AsSpan().SequenceEqual(digest))) { HoldSwitch(sw, message, batches); return; }
        }
        // Re-check the f+1 histories (signatures were checked by the verifier) and recompute H1/H2 (§5.3.2.4).
        if (sw.Histories.Count < _q.Weak) { Stats.BadSwitches++; return; }
        ulong senders = 0;
        foreach (var hist in sw.Histories)
        {
            if ((senders & (1UL << (int)hist.Sender)) != 0 || !GlobalHistory.IsValid(hist, Shape, aborted, abortedView, _signatures, _genBase)) { Stats.BadSwitches++; return; }
            senders |= 1UL << (int)hist.Sender;
        }
        var decision = GlobalHistory.Decide(sw.Histories, Shape, _q.Proof, _s.Window, _signatures);
        if (!decision.SameAs(sw.CheckpointSeq, sw.CheckpointDigest, sw.Slots)) { Stats.BadSwitches++; return; }
        Stats.ConflictingProofSlots += decision.ConflictingSlots;
        HoldSwitch(sw, message, batches);
    }

    // ---------------------------------------------------------------- one SWITCH per generation (B6; docs/repbft.md §5.5)
    //
    // A valid SWITCH is not started at once: the replicas run Bracha's reliable broadcast on its digest (ECHO, READY), so
    // a coordinator that sends two valid SWITCHes for one generation cannot split the correct replicas between them.
    // - ECHO(p, D): the first valid SWITCH of generation p this replica holds (one ECHO per generation).
    // - READY(p, D): after 2f+1 ECHOs or f+1 READYs for D (one READY per generation).
    // - Deliver (start, or move to, generation p from the SWITCH with digest D): 2f+1 READYs for D and the SWITCH itself.
    // Two digests cannot both get 2f+1 ECHOs (2f+1 + 2f+1 − n = f+1 senders echoed both, one of them correct), so every
    // correct READY is for one digest, and a delivery needs f+1 correct READYs: every correct replica that delivers
    // generation p delivers the same SWITCH. If one correct replica delivers, f+1 correct replicas sent READY, so every
    // correct replica sends READY and delivers once it holds the SWITCH (forwarded by those that started). If no digest
    // gets a quorum, nobody starts generation p, and the coordinator timeout moves on to the next attempt.

    private sealed class SwitchBroadcast(int n)
    {
        public readonly byte[]?[] Echo = new byte[n][];            // per sender: the digest of its ECHO (the first one counts)
        public readonly byte[]?[] Ready = new byte[n][];           // per sender: the digest of its READY
        public readonly List<(byte[] Digest, SwitchMessage Sw, byte[] Message, List<byte[]?>? Batches)> Held = new();
        public byte[]? MyEcho, MyReady;
        public bool Delivered;
    }

    private readonly Dictionary<ulong, SwitchBroadcast> _broadcasts = new();   // target generation → its broadcast (of the current abort)
    private readonly Dictionary<ulong, LeftCore> _leftCores = new();           // generations of the current abort this replica left → the core it ran there

    private sealed record LeftCore(PbftReplica Core, byte[] Switch, ulong SwitchBackAt, ulong SwitchBackPoint, ulong SwitchView);

    /// <summary>Parks the running PBFT core when the replica moves to another generation of the same abort.</summary>
    private void ParkCore()
    {
        if (_mode != Mode.Pbft || _pbft is null || _switchMessage is null) return;
        if (_leftCores.Count >= 8) _leftCores.Remove(_leftCores.Keys.Min());
        _leftCores[_pbft.Generation] = new LeftCore(_pbft, _switchMessage, _switchBackAt, _switchBackPoint, _switchView);
    }

    /// <summary>Resumes a parked core (pulled back into a generation this replica left).</summary>
    private void ResumePbft(LeftCore left)
    {
        ParkCore();
        _pbft = left.Core;
        _switchMessage = left.Switch;
        _switchBackAt = left.SwitchBackAt;
        _switchBackPoint = left.SwitchBackPoint;
        _switchView = left.SwitchView;
        _switchBackWait = 0;
        _otherCommits.Clear();
        _presence.Clear();
        _presencePrev.Clear();
        Stats.ProtocolSwitches++;
        _pbft.EndOfBurst();
    }
    private ulong _bcAbortedGen = ulong.MaxValue, _bcAbortedView;
    private long[] _votesAnsweredTick = [];

    private const int MaxHeldSwitches = 3;

    /// <summary>The broadcast state of <paramref name="target"/> in the abort of (<paramref name="aborted"/>, <paramref name="abortedView"/>); state of an earlier abort is dropped.</summary>
    private SwitchBroadcast BroadcastOf(ulong aborted, ulong abortedView, ulong target)
    {
        if (_bcAbortedGen != aborted || _bcAbortedView != abortedView) { _broadcasts.Clear(); _leftCores.Clear(); _bcAbortedGen = aborted; _bcAbortedView = abortedView; }
        if (!_broadcasts.TryGetValue(target, out var b))
        {
            if (_broadcasts.Count >= 8) _broadcasts.Remove(_broadcasts.Keys.Min());
            _broadcasts[target] = b = new SwitchBroadcast(_n);
        }
        return b;
    }

    private ulong CurrentAborted => _mode == Mode.Normal ? _gen : _abortedGen;
    private ulong CurrentAbortedView => _mode == Mode.Normal ? _view : _abortedView;

    /// <summary>SHA-256 of a SWITCH's header and body (its signature included, its MAC vector not): what the broadcast agrees on.</summary>
    private static byte[] SwitchDigest(ReadOnlySpan<byte> message)
    {
        MessageHeader.TryParse(message, int.MaxValue, out var h);
        var d = new byte[Digests.Size];
        Digests.Sha256(message.Slice(0, MessageHeader.Size + (int)h.BodyLength), d);
        return d;
    }

    private void HoldSwitch(SwitchMessage sw, byte[] message, List<byte[]?>? batches)
    {
        if (_mode == Mode.Normal) BeginSwitch();              // a valid SWITCH proves the generation was aborted: join the switch (and its retransmissions)
        var b = BroadcastOf(sw.AbortedGeneration, sw.AbortedView, sw.Generation);
        if (b.Delivered) return;
        var d = SwitchDigest(message);
        int i = b.Held.FindIndex(x => x.Digest.AsSpan().SequenceEqual(d));
        if (i >= 0) { if (batches is not null && b.Held[i].Batches is null) b.Held[i] = (d, sw, message, batches); }
        else
        {
            // Bounded: a faulty coordinator may sign many valid SWITCHes; keep the ones that may still be delivered.
            if (b.Held.Count >= MaxHeldSwitches)
            {
                int victim = -1;
                for (int k = 0; k < b.Held.Count; k++)
                {
                    var hd = b.Held[k].Digest;
                    if ((b.MyEcho is not null && hd.AsSpan().SequenceEqual(b.MyEcho)) || (b.MyReady is not null && hd.AsSpan().SequenceEqual(b.MyReady))) continue;
                    if (victim < 0 || Count(b.Ready, hd) < Count(b.Ready, b.Held[victim].Digest)) victim = k;
                }
                if (victim < 0 || Count(b.Ready, d) <= Count(b.Ready, b.Held[victim].Digest)) return;
                b.Held.RemoveAt(victim);
            }
            b.Held.Add((d, sw, message, batches));
        }
        if (b.MyEcho is null)
        {
            b.MyEcho = d;
            b.Echo[_id] = d;
            SendSwitchVote(uint.MaxValue, sw.Generation, RePbftSchema.SwitchEcho, d);
        }
        AdvanceBroadcast(sw.Generation, b);
    }

    private static int Count(byte[]?[] votes, ReadOnlySpan<byte> digest)
    {
        int c = 0;
        foreach (var v in votes) if (v is not null && digest.SequenceEqual(v)) c++;
        return c;
    }

    private void SendSwitchVote(uint to, ulong target, byte phase, byte[] digest)
    {
        ulong aborted = _bcAbortedGen, abortedView = _bcAbortedView;
        _builder.Generation = target;
        var body = _builder.BeginVector(MessageType.SwitchVote, CoordinatorRotation.StartView(Shape, abortedView, target - aborted), 0, RePbftSchema.SwitchVoteLength);
        body[0] = phase; body[1] = 0; body[2] = 0; body[3] = 0;
        BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(4), aborted);
        BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(12), abortedView);
        digest.CopyTo(body.Slice(20));
        var msg = _builder.SealVector();
        if (to == uint.MaxValue) Broadcast(msg); else _out.SendToReplica(to, msg);
        _builder.Generation = _gen;
        Stats.SwitchVotesSent++;
    }

    /// <summary>Sends our ECHO and READY of <paramref name="target"/> (if any) to one replica or to all.</summary>
    private void ResendSwitchVotes(uint to, ulong target)
    {
        if (_bcAbortedGen != CurrentAborted || !_broadcasts.TryGetValue(target, out var b)) return;
        if (b.MyEcho is not null) SendSwitchVote(to, target, RePbftSchema.SwitchEcho, b.MyEcho);
        if (b.MyReady is not null) SendSwitchVote(to, target, RePbftSchema.SwitchReady, b.MyReady);
    }

    private void OnSwitchVote(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        var body = MessageHeader.Body(message, h);
        ulong aborted = CurrentAborted, abortedView = CurrentAbortedView;
        if (BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(4)) != aborted || BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(12)) != abortedView
            || h.Generation <= aborted || h.Generation - aborted > (ulong)(4 * Shape.Active) || h.Sender >= (uint)_n || h.Sender == _id) { Stats.Ignored++; return; }
        var b = BroadcastOf(aborted, abortedView, h.Generation);
        var votes = body[0] == RePbftSchema.SwitchEcho ? b.Echo : b.Ready;
        if (votes[h.Sender] is not null)
        {
            // A repeated vote: the sender may lack ours (lost) — answer once per retransmission period.
            if (_votesAnsweredTick.Length == 0) { _votesAnsweredTick = new long[_n]; Array.Fill(_votesAnsweredTick, -1L); }
            if (_votesAnsweredTick[h.Sender] < 0 || _tick - _votesAnsweredTick[h.Sender] >= _s.RetransmitTicks)
            {
                _votesAnsweredTick[h.Sender] = _tick;
                ResendSwitchVotes(h.Sender, h.Generation);
            }
            return;
        }
        votes[h.Sender] = body.Slice(20, Digests.Size).ToArray();
        AdvanceBroadcast(h.Generation, b);
    }

    /// <summary>READY after 2f+1 ECHOs or f+1 READYs for one digest; delivery after 2f+1 READYs and the SWITCH itself.</summary>
    private void AdvanceBroadcast(ulong target, SwitchBroadcast b)
    {
        if (b.MyReady is null)
        {
            byte[]? pick = null;
            foreach (var d in b.Echo) if (d is not null && Count(b.Echo, d) >= 2 * _f + 1) { pick = d; break; }
            if (pick is null) foreach (var d in b.Ready) if (d is not null && Count(b.Ready, d) >= _f + 1) { pick = d; break; }
            if (pick is not null)
            {
                b.MyReady = pick;
                b.Ready[_id] = pick;
                SendSwitchVote(uint.MaxValue, target, RePbftSchema.SwitchReady, pick);
            }
        }
        TryDeliverSwitch(target, b);
    }

    private void TryDeliverSwitch(ulong target, SwitchBroadcast b, bool pulled = false)
    {
        if (b.Delivered && !pulled) return;
        foreach (var (d, sw, message, batches) in b.Held)
        {
            if (Count(b.Ready, d) < 2 * _f + 1) continue;
            // Delivered. A replica still switching (or still in the normal case) starts it. One running another PBFT
            // generation of this abort moves (docs/repbft.md §5.5) only while its core prepared nothing there (safety), and
            // - up, to a higher generation, only if it took no part at all in its own (no PRE-PREPARE, PREPARE, COMMIT):
            //   a replica whose PREPAREs may complete others' certificates stays with them (B5);
            // - in either direction when pulled there (NoteOtherGeneration: f+1 replicas sent COMMITs there, or more
            //   or as many replicas run it as ours), so the correct replicas gather in one generation (B5).
            if (_mode == Mode.Pbft)
            {
                if (sw.Generation == _pbft!.Generation || _pbft.PreparedAny()) return;
                if (!pulled && (sw.Generation < _pbft.Generation || _pbft.VotedAny())) return;
            }
            b.Delivered = true;
            // Back into a generation we left: resume the core we ran there, never a fresh one — a fresh core could PREPARE
            // another value at a (view, sequence number) where the old one did, and PBFT's quorum intersection needs one
            // vote per replica. (We executed nothing in either generation, so the execution stage is where it was.)
            if (_mode == Mode.Pbft && _leftCores.Remove(sw.Generation, out var left)) { ResumePbft(left); return; }
            StartPbft(sw, message, batches);
            return;
        }
    }

    private readonly Dictionary<ulong, ulong> _otherCommits = new();   // PBFT generation of this abort (not ours) → senders of COMMITs in it
    private readonly Dictionary<ulong, ulong> _presence = new(), _presencePrev = new();   // PBFT generation of this abort → replicas heard in it (this and the previous period)
    private long _presenceTick;

    /// <summary>Records that <paramref name="h"/>'s sender runs h's generation (periods of 4 retransmission intervals, so moves are seen).</summary>
    private void NotePresence(in MessageHeader h)
    {
        if (h.Sender >= (uint)_n || h.Generation <= _abortedGen || h.Generation - _abortedGen > (ulong)(4 * Shape.Active)) return;
        if (_tick - _presenceTick >= 4L * _s.RetransmitTicks)
        {
            _presencePrev.Clear();
            foreach (var (g, m) in _presence) _presencePrev[g] = m;
            _presence.Clear();
            _presenceTick = _tick;
        }
        if (_presence.Count > 8) _presence.Clear();
        _presence.TryGetValue(h.Generation, out var senders);
        _presence[h.Generation] = senders | (1UL << (int)h.Sender);
    }

    private int PresenceOf(ulong gen)
    {
        _presence.TryGetValue(gen, out var a);
        _presencePrev.TryGetValue(gen, out var b);
        return System.Numerics.BitOperations.PopCount(a | b);
    }

    /// <summary>
    /// A PBFT message of another generation of the current abort (B5). While our core prepared nothing, we move to that
    /// generation (if the broadcast delivered its SWITCH to us) when f+1 replicas sent COMMITs there — one of them is a
    /// correct replica that prepared there and never leaves — or when at least f+1 replicas run it and no fewer than
    /// ours (ourselves counted in ours; a tie moves, because replicas may hear different members of a generation and a
    /// faulty replica that shows itself in both can force ties), so replicas that prepared nothing gather in one generation.
    /// </summary>
    private void NoteOtherGeneration(in MessageHeader h)
    {
        if (_mode != Mode.Pbft || h.Generation <= _abortedGen || h.Generation == _pbft!.Generation || h.Sender >= (uint)_n
            || _bcAbortedGen != _abortedGen || !_broadcasts.TryGetValue(h.Generation, out var b)) return;
        NotePresence(h);
        bool pull = h.Type == MessageType.Commit && Note(_otherCommits, h.Generation, h.Sender);
        if (!pull)
        {
            int there = PresenceOf(h.Generation), here = PresenceOf(_pbft.Generation) + 1;   // ourselves
            pull = there >= _f + 1 && there >= here;
        }
        if (!pull || _pbft.PreparedAny()) return;
        _otherCommits.Remove(h.Generation);
        TryDeliverSwitch(h.Generation, b, pulled: true);
    }

    /// <summary>Adds a sender for a generation; true once f+1 distinct replicas are recorded.</summary>
    private bool Note(Dictionary<ulong, ulong> table, ulong gen, uint sender)
    {
        if (table.Count > 8) table.Clear();
        table.TryGetValue(gen, out var senders);
        senders |= 1UL << (int)sender;
        table[gen] = senders;
        return System.Numerics.BitOperations.PopCount(senders) >= _f + 1;
    }

    private void StartPbft(SwitchMessage sw, byte[] message, List<byte[]?>? batches)
    {
        if (_mode == Mode.Normal) { _abortedGen = _gen; _abortedView = _view; }
        ParkCore();                                          // moving between generations of one abort: keep the old core (ResumePbft)
        ulong lastExecuted = LastExecuted;
        _mode = Mode.Pbft;
        _switchMessage = message;
        _otherCommits.Clear();
        _presence.Clear();
        _presencePrev.Clear();
        _histories.Clear();
        _fetchedBatches.Clear();
        _exec.RecordUpdates = false;
        var all = new uint[_n];
        for (uint r = 0; r < _n; r++) all[r] = r;
        _exec.SetExecutors(all);                             // former passive replicas execute from now on (Thesis §5.3.2.4)
        ulong k = (ulong)_s.CheckpointInterval;
        _switchBackAt = _s.SwitchBackAfter > 0 ? (sw.CheckpointSeq + (ulong)sw.Slots.Count + (ulong)_s.SwitchBackAfter + k - 1) / k * k : 0;
        _switchBackPoint = _switchBackAt;
        _pbft = new PbftReplica(_s, _auth, _exec, _out, QuorumPolicy.Pbft(_f), ProtocolFamily.RePbft, sw.Generation, _switchBackAt == 0 ? ulong.MaxValue : _switchBackAt, Stats);
        var holders = new List<uint>();
        for (uint r = 0; r < _n; r++) if (r != _id) holders.Add(r);
        var own = _cps.OwnDigests(sw.CheckpointSeq, lastExecuted);
        if (batches is null)
        {
            // Backups keep the bodies they hold from the RePBFT log: a later PBFT view change re-proposes these slots.
            batches = new List<byte[]?>(sw.Slots.Count);
            for (int i = 0; i < sw.Slots.Count; i++)
                batches.Add(sw.Slots[i].AsSpan().SequenceEqual(ViewChangeDecision.NullDigest) ? null : FindBatch(sw.CheckpointSeq + 1 + (ulong)i, sw.Slots[i]));
        }
        _switchView = sw.View;
        _pbft.StartFromSwitch(sw.View, lastExecuted, sw.CheckpointSeq, sw.CheckpointDigest, sw.Slots, batches, holders, own);
        Stats.ProtocolSwitches++;
        // Requests seen and not executed go to the new primary at once (PBFT's new view does the same); a former
        // leader hands over its queue too.
        while (_pending.Count > 0)
        {
            var e = _pending.Dequeue();
            Await(e.Client, e.Rid, e.Message.AsSpan(0, e.Length), e.Digest);
        }
        foreach (var (client, a) in _awaiting)
        {
            if (_exec.Replies.LastExecutedRid(client) >= a.Rid) continue;
            if (_pbft.IsPrimary) _pbft.AcceptRequest(client, a.Rid, a.Message, a.Digest);
            else _out.SendToReplica(_pbft.Primary, a.Message);
        }
        _awaiting.Clear();
        _pbft.EndOfBurst();
    }

    /// <summary>A peer's message of the aborted generation or of a lower PBFT generation of the same abort: it missed our SWITCH — forward it (once per peer per retransmission period).</summary>
    private void NotePeerGeneration(in MessageHeader h)
    {
        // Only to a peer still in the aborted generation: our SWITCH is useless to one in an older generation (it aborts
        // another generation), which needs the switch-back certificate instead (HelpRetiredPeer). Forwarding it there
        // also used to use up the same per-peer slot and starved the certificate: the peer stayed behind for good.
        // Also to a peer in another PBFT generation of the same abort (B5): it moves to ours if it may (TryDeliverSwitch,
        // NoteOtherGenerationCommit); without this, replicas whose copy of the SWITCH was lost stayed in the other one for good.
        if (_mode != Mode.Pbft || _switchMessage is null || h.Generation < _abortedGen || h.Generation == _pbft!.Generation) return;
        if (_forwardedTick[h.Sender] >= 0 && _tick - _forwardedTick[h.Sender] < _s.RetransmitTicks) return;
        _forwardedTick[h.Sender] = _tick;
        Forward(h.Sender, _switchMessage);
        ResendSwitchVotes(h.Sender, _pbft.Generation);          // it needs 2f+1 READYs to start from the SWITCH (B6)
    }

    // ---------------------------------------------------------------- running PBFT and switching back (§5.3.3, G13)

    private long _switchBackWait;

    private void PbftTick()
    {
        _pbft!.OnTick();
        if (_switchBackAt == 0 || _pbft.LastExecuted < _switchBackAt || _pbft.InViewChange) { _switchBackWait = 0; return; }
        // G13 (docs/repbft.md §6): the PBFT generation orders nothing above _switchBackAt; once a replica executed it,
        // it signs a RePBFT CHECKPOINT for it and returns to RePBFT when all n matching ones (the RePBFT stability rule)
        // make it stable — a certificate a later abort history can carry, and proof that every replica is there.
        if (!_cps.TryGetOwn(_switchBackAt, out _) && _pbft.TryGetOwnCheckpoint(_switchBackAt, out var digest))
            SendSignedCheckpoint(_switchBackAt, digest);
        else if (_tick % _s.RetransmitTicks == 0 && _cps.TryGetOwn(_switchBackAt, out var mine) && _cps.StableSeq < _switchBackAt) Broadcast(mine);
        // Without all n signatures in time (a replica is down, cut off or faulty) this replica stays in PBFT for the rest
        // of the generation (simulator bug B2: a silent replica stopped the cell for good). Thesis §5.3.3: stay in PBFT
        // while faults persist; a later abort and switch starts a new generation with its own switch-back point.
        if (_mode == Mode.Pbft && ++_switchBackWait >= 4L * SwitchTicks)
        {
            _switchBackWait = 0;
            _switchBackAt = 0;
            Stats.SwitchBackExtensions++;
            _pbft.ExtendMaxSequence(ulong.MaxValue);
        }
    }

    /// <summary>
    /// A peer still running the PBFT generation we switched back from ordered beyond the switch-back point: it went on
    /// without us (it lacked the certificate). If we neither executed anything nor sent a COMMIT in the new RePBFT
    /// generation, return to the PBFT generation (docs/repbft.md §6: a replica takes part in at most one of them
    /// beyond the switch-back point, so at most one commits there).
    /// </summary>
    private bool TryReturnToPbft(in MessageHeader h)
    {
        // Also while switching out of that RePBFT generation, or running the PBFT generation its switch started, as long
        // as nothing was prepared or executed there: the replica still took part in nothing beyond the point.
        if (_retired is null || _sentCommitInGeneration || _lastExecuted != _retired.LastExecuted || h.Sequence <= _retired.LastExecuted) return false;
        if (h.Type is not (MessageType.PrePrepare or MessageType.Prepare or MessageType.Commit)) return false;
        if (_mode == Mode.Pbft && (_pbft!.PreparedAny() || _pbft.LastExecuted != _retired.LastExecuted)) return false;
        // A message of an older view than the retired core's is no evidence that the generation went on beyond the point
        // (simulator bug B9, seed 405853624 of f1/follower/twins/viewchange/clean: a correct replica's PREPARE above c of
        // view 5, sent after it lifted its stop and delivered late, pulled a replica back into generation p after everyone —
        // its sender too — had switched back from view 6; it then stayed there alone for good).
        if (h.View < _retired.View) return false;
        _pbft = _retired;
        _retired = null;
        _mode = Mode.Pbft;
        _exec.RecordUpdates = false;
        var all = new uint[_n];
        for (uint r = 0; r < _n; r++) all[r] = r;
        _exec.SetExecutors(all);
        _switchBackAt = 0;                                   // as the replicas that went on: PBFT for the rest of the generation
        _switchBackPoint = 0;
        _switchBackWait = 0;
        Stats.SwitchBackReturns++;
        _pbft.ExtendMaxSequence(ulong.MaxValue);
        return true;
    }

    /// <summary>
    /// A peer still runs the PBFT generation we left: it lacks signed CHECKPOINTs of the switch-back point — send it the
    /// whole certificate (at most once per peer per retransmission period), so it completes it and follows.
    /// </summary>
    private void HelpRetiredPeer(uint peer)
    {
        if (peer >= (uint)_n || (_helpedTick[peer] >= 0 && _tick - _helpedTick[peer] < _s.RetransmitTicks)) return;
        _helpedTick[peer] = _tick;
        // The whole certificate, not only ours: a faulty replica may have sent its signature to some replicas only,
        // and the certificate is transferable (each message is signed), so every correct replica can complete it.
        foreach (var m in _baseCertificate) Forward(peer, m);
    }

    private void SwitchBackIfReady(ulong seq)
    {
        // Switch back only from exactly a certified point, and only if this core accepted nothing above it (it may have
        // extended the generation on a timeout: then it must not have prepared beyond, or it would take part in both).
        // Only at this generation's own switch-back point (B7: a RePBFT checkpoint of the aborted generation that became
        // stable only after the switch — all n CHECKPOINTs, the last one late — made a replica "switch back" alone from a
        // generation that had no switch-back point). A replica that lifted the stop may still switch back there if it
        // accepted nothing above it: it then took part in nothing beyond the point.
        if (_mode != Mode.Pbft || _switchBackPoint == 0 || seq != _switchBackPoint) return;
        if (_pbft!.LastExecuted != seq || _pbft.LastAssigned > seq || seq % (ulong)_s.CheckpointInterval != 0) return;
        _retired = _pbft;
        _retired.LimitMaxSequence(seq);                      // the retired core still answers its generation, but never accepts anything beyond the point (it may have lifted the stop)
        _baseCertificate = _cps.StableCertificate;
        // Every replica computes the same view and leader (not its PBFT core's current view, which differs at a replica
        // that is in a view change — simulator bug B3): the coordinator that started the PBFT generation leads, in the
        // first view above the generation's start view where it is leader. It signed the switch-back checkpoint, so it is up.
        uint leader = (uint)(_switchView % (ulong)_n);
        _view = _switchView;
        _pbft = null;
        _low = seq;
        _lastExecuted = seq;
        _lastAssigned = seq;
        _switchMessage = null;
        _switchBackAt = 0;
        _switchBackPoint = 0;
        Stats.SwitchBacks++;
        EnterGeneration(_retired.Generation + 1, leader);
    }
}
