using FastBft.Agreement.MinBft;
using FastBft.Agreement.Switch;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Agreement.ReMinBft;

/// <summary>
/// The switch from ReMinBFT to MinBFT (Thesis §5.4.3; PROTOCOLS.md §6.3; docs/reminbft.md §5):
/// <list type="bullet">
/// <item><b>Initiation</b> [§5.4.3 "Initiating a Protocol Switch", §5.3.2.1 Fig. 5.3]: a justified PANIC (the shared
/// <see cref="PanicFilter"/>) is forwarded unchanged to every replica; an active replica stops agreement
/// (<see cref="MinBftReplica.Halted"/>).</item>
/// <item><b>Abort history</b> [§5.4.3 "Creating an Abort History"]: only the transition coordinator (attempt 1:
/// <see cref="CoordinatorRotation.Coordinator"/>, the first follower) builds one, from local knowledge alone: the
/// certificate of its highest certified checkpoint (every active replica's signed CHECKPOINT), then every certified message
/// it sent after it (from its sent log, gap-free; COMMITs name their batches by digest), closed by the SWITCH certified with
/// its own USIG (<see cref="SwitchHistory"/>).</item>
/// <item><b>Processing</b> [§5.4.3 "Processing an Abort History"]: every replica checks the certificate and continuity
/// (counters c0+1 … c_SWITCH−1, c0 = the coordinator's counter in the certified checkpoint) and starts MinBFT in the
/// coordinator's view with each instance the history names bound to its digest. A valid SWITCH is the coordinator's first,
/// so every replica may take it on receipt; a passive replica's counter order starts at the coordinator's SWITCH and at the
/// certificate's counters for the other active replicas (§5.4.3 "passive replicas rely on the verified counter-value
/// information included in stable checkpoints"); later certified messages reach it through MinBFT's UI-FETCH (pull,
/// instead of the thesis's push at initiation).</item>
/// <item><b>Coordinator timeout</b> (a deviation, docs/reminbft.md §5.5): a SWITCH that does not come in time continues as
/// MinBFT's view change (<see cref="Escalate"/>).</item>
/// </list>
/// <para>Switching back (§5.3.3): <c>ReMinBftReplica.SwitchBack.cs</c> (docs/reminbft.md §7.1).</para>
/// </summary>
public sealed partial class ReMinBftReplica
{
    private bool _switching, _switched, _switchPending, _escalated;
    private long _switchWaitTicks;
    private readonly ulong[] _escalationSeen;     // per replica: the highest view of a REQ-VIEW-CHANGE/VIEW-CHANGE it sent above the switch's start view
    private long _escalationAskedTick = -1;        // when this replica first asked to escalate
    private byte[]? _installedSwitch;             // the SWITCH this replica installed (answers a replica that asks to escalate)
    private readonly long[] _switchAnsweredTick;
    private readonly ulong[] _switchedPeers;      // per replica: the highest view of a certified message of it at or above the switch's start view
    private byte[]? _ownSwitch;
    private int _switchResends;
    private ulong _switchView;

    /// <summary>True once this replica runs MinBFT (the switch installed).</summary>
    public bool Switched => _switched;

    /// <summary>The transition coordinator of the first switch attempt (Thesis §5.3.2.5 via CoordinatorRotation).</summary>
    public uint Coordinator => CoordinatorRotation.Coordinator(Shape, _view, 1);

    /// <summary>Stops the normal case and, at the coordinator, sends the SWITCH (at the end of the burst, after what is queued).</summary>
    private void StartSwitch()
    {
        if (_switching || _switched) return;
        _switching = true;
        Stats.SwitchesStarted++;
        if (_core is not null) _core.Halted = true;
        if (_id == Coordinator && _core is not null) _switchPending = true;
    }


    /// <summary>Ticks a switching replica waits for a valid SWITCH before the view change takes over: 2× the view-change timeout.</summary>
    private long SwitchTimeout => 2L * _s.ViewChangeTicks;

    /// <summary>
    /// Per tick while switching: a SWITCH that does not come in time (the coordinator is faulty or crashed, or this replica
    /// is cut off) makes this replica ask for the escalation with MinBFT's REQ-VIEW-CHANGE for the view after the switch's
    /// start view (re-sent every retransmission period); it escalates once f+1 replicas asked (<see cref="NoteEscalation"/>).
    /// </summary>
    private void SwitchTick()
    {
        if (++_switchWaitTicks < SwitchTimeout) return;
        bool first = _escalationSeen[_id] <= _switchStartView;
        if (first) { _escalationSeen[_id] = _switchStartView + 1; _escalationAskedTick = _tick; }
        if (first || _tick % _s.RetransmitTicks == 0)
        {
            _builder.BeginVector(MessageType.ReqViewChange, _switchStartView + 1, 0, 0);
            Broadcast(_builder.SealVector());
            Stats.EscalationRequests++;
        }
        CheckEscalation();
    }

    /// <summary>
    /// A REQ-VIEW-CHANGE or VIEW-CHANGE above the switch's start view before this replica switched: another replica's
    /// request to escalate (<see cref="Escalate"/>).
    /// </summary>
    private void NoteEscalation(in MessageHeader h)
    {
        if (h.Sender >= (uint)_n || h.View <= _switchStartView || h.View <= _escalationSeen[h.Sender]) return;
        _escalationSeen[h.Sender] = h.View;
        CheckEscalation();
    }

    /// <summary>
    /// A certified message of a view at or above the switch's start view while this replica has not switched (it was cut off
    /// during the switch, or never saw a PANIC): from f+1 distinct replicas — one correct — the cell has switched. Halt and
    /// wait for the SWITCH as every switching replica does (its timeout asks for it; a replica that installed it answers
    /// with it, <see cref="OnEscalationRequest"/>); a view above the start view is also a request to escalate (its sender
    /// escalated or installed a NEW-VIEW above it, which needed f+1 such requests).
    /// </summary>
    private void NoteSwitchedPeer(in MessageHeader h)
    {
        if (h.Sender >= (uint)_n || h.Sender == _id || h.View < _switchStartView) return;
        if (h.View > _switchStartView) NoteEscalation(h);
        if (_switched || h.View <= _switchedPeers[h.Sender]) return;
        _switchedPeers[h.Sender] = h.View;
        int c = 0;
        foreach (var v in _switchedPeers) if (v >= _switchStartView) c++;
        if (c >= _s.F + 1 && !_switching)
        {
            StartSwitch();
            _switchWaitTicks = SwitchTimeout - 1;       // cut off during the switch: ask for the SWITCH at the next tick
        }
    }

    /// <summary>
    /// Escalates once f+1 replicas (this one's own timeout included; Veronese et al.'s REQ-VIEW-CHANGE rule, as MinBFT's
    /// trigger) asked: at least one correct replica waited in vain for the SWITCH. A replica that is merely cut off alone
    /// waits for the coordinator's SWITCH re-sends; a single faulty replica cannot stop the normal case this way.
    /// </summary>
    private void CheckEscalation()
    {
        // Our own request counts only after two retransmission periods: a replica that installed the SWITCH answers the
        // request with it (OnEscalationRequest), and a merely cut-off replica should install that rather than escalate.
        bool ownRipe = _escalationAskedTick >= 0 && _tick - _escalationAskedTick >= 2L * _s.RetransmitTicks;
        int c = 0;
        for (int r = 0; r < _escalationSeen.Length; r++) if (_escalationSeen[r] > _switchStartView && (r != _id || ownRipe)) c++;
        if (c < _s.F + 1) return;
        StartSwitch();
        Escalate();
    }

    /// <summary>
    /// Coordinator timeout (Thesis §5.4.3 "Handling Faults during the Protocol Switch"; docs/reminbft.md §5.5): instead of a
    /// second coordinator building a second abort history — two SWITCHes in two counter orders that replicas could install
    /// differently — the switch continues as MinBFT's view change to the view after the first attempt's start view. Every
    /// replica's VIEW-CHANGE is its own gap-free certified run since its stable checkpoint, so MinBFT's decision covers every
    /// request committed in the aborted generation (commit there needed all f+1 active replicas, and f+1 VIEW-CHANGEs include
    /// one of them), and MinBFT's timeouts (doubling) and leader rotation take over. A replica that escalated never installs
    /// the first SWITCH (its view is below the one it asked for; the rule that fixed MinBFT's V3).
    /// </summary>
    private void Escalate()
    {
        if (_switched) return;
        _escalated = true;
        _switched = true;
        _switching = true;
        // A coordinator that escalates before its SWITCH went out (StartSwitch and Escalate in one burst) must not send it
        // afterwards: its history would contain its VIEW-CHANGE, which no SWITCH may carry — receivers would reject that
        // certified message and wait for its counter for good (sim: f1/leader/crash/switchback/lagacrossviewchange seed 510485267).
        _switchPending = false;
        _joinTarget = 0;                                // a join in progress goes on as this core's own state transfer
        _switchView = _switchStartView + 1;
        Stats.SwitchEscalations++;
        ulong executedHere = LastExecuted;
        _phaseStart = executedHere;
        var core = EnterMinBft(_switchStartView);
        core.ViewChangeFromSwitch(_switchStartView + 1, executedHere, OwnCheckpointsAbove(_genStart, executedHere));
    }

    /// <summary>
    /// What a switch and an escalation share: new PANICs count again, every replica executes (the designated replier among
    /// all), no more UPDATEs are recorded, and a replica that was passive gets a MinBFT core (every replica a member, the
    /// view change on) starting in <paramref name="initialView"/>. Returns the core.
    /// </summary>
    private MinBftReplica EnterMinBft(ulong initialView)
    {
        _panics.Reset();
        var all = new uint[_n];
        for (uint r = 0; r < _n; r++) all[r] = r;
        _exec.SetExecutors(all);
        _exec.RecordUpdates = false;
        if (_core is null && _dormantCore is not null)
        {
            // After a switch back (docs/reminbft.md §7) a passive replica wakes the dormant core it started at the generation's
            // start: it continues the counter orders and sent log, its stable checkpoint is that start, and the certified
            // CHECKPOINTs of it that reached this replica meanwhile are its certificate (a VIEW-CHANGE needs f+1).
            _core = _dormantCore;
            _dormantCore = null;
            _core.Dormant = false;
            _core.AdoptCheckpointCertificate(_heldCertified.Values);
        }
        if (_core is null)
        {
            var composition = new MinBftComposition { Family = ProtocolFamily.ReMinBft, InitialView = initialView, Members = ulong.MaxValue, ViewChanges = true, Observer = this };
            _core = new MinBftReplica(_s, _auth, _exec, _output, _usig, InnerQuorums with { Checkpoint = _s.F + 1 }, composition);
        }
        return _core;
    }

    /// <summary>The ReMinBFT checkpoints this replica took above <paramref name="above"/> up to <paramref name="executedHere"/> and still holds (sequence number, state digest).</summary>
    private List<(ulong Seq, byte[] Digest)> OwnCheckpointsAbove(ulong above, ulong executedHere)
    {
        var own = new List<(ulong, byte[])>();
        var od = new byte[Digests.Size];
        for (ulong s = above + (ulong)_s.CheckpointInterval; s <= executedHere; s += (ulong)_s.CheckpointInterval)
            if (_cps.TryGetOwnDigest(s, _id, od)) own.Add((s, od.ToArray()));
        return own;
    }

    /// <summary>
    /// A replica that installed the SWITCH gets a request to escalate past it (REQ-VIEW-CHANGE for the next view) from a
    /// replica that has not switched: it sends that replica the SWITCH (certified by the coordinator: forwarded unchanged),
    /// at most once per tick per asker, so a replica cut off during the switch installs it instead of escalating.
    /// </summary>
    private void OnEscalationRequest(in MessageHeader h)
    {
        if (_installedSwitch is null || _escalated || h.Sender >= (uint)_n || h.Sender == Coordinator || h.View != _switchView + 1) return;
        if (_switchAnsweredTick[h.Sender] == _tick) return;
        _switchAnsweredTick[h.Sender] = _tick;
        _out.SendToReplica(h.Sender, _installedSwitch);
        Stats.SwitchesForwarded++;
    }

    /// <summary>True if this replica's switch continued as a view change (the SWITCH did not come in time).</summary>
    public bool Escalated => _escalated;

    /// <summary>
    /// The coordinator: abort history = its highest checkpoint with a certificate (every active replica's signed CHECKPOINT,
    /// one digest and one counter list — at least its stable checkpoint) + every certified message it sent since, then the
    /// certified SWITCH to all. Its sent log holds everything after its stable checkpoint,
    /// so the run from any later certified checkpoint is complete.
    /// </summary>
    private void SendSwitch()
    {
        var core = _core!;
        core.FlushCertified();                        // what is queued (a COMMIT of this burst) is sent before the history is cut
        ulong cp = _cps.HighestCertified(LastExecuted);
        var certificate = cp > 0 ? _cps.TryGetCertificate(cp) : null;
        Span<byte> digest = stackalloc byte[Digests.Size];
        ulong c0Epoch, c0Counter;
        int me = Array.IndexOf(_active, _id);
        if (certificate is not null)
        {
            var body0 = MessageHeader.Body(certificate[0], HeaderOf(certificate[0]));
            body0.Slice(0, Digests.Size).CopyTo(digest);
            (c0Epoch, c0Counter) = CounterCheckpoints.CounterIn(body0, me);
        }
        else if (_epoch > 0) { Stats.SwitchBuildFailures++; return; }   // after a switch back the run starts at a certified checkpoint of this generation (its anchor, docs/reminbft.md §7); without one the switch escalates
        else { cp = 0; c0Epoch = core.LastSent.Epoch; c0Counter = 0; }
        var (lastEpoch, last) = core.LastSent;
        var entries = new List<(byte, byte[])>();
        if (last > 0 && lastEpoch != c0Epoch) { Stats.SwitchBuildFailures++; return; }   // a new USIG epoch since the checkpoint: no gap-free run
        for (ulong c = c0Counter + 1; c <= last; c++)
        {
            if (!core.TryGetSent(c0Epoch, c, out var m)) { Stats.SwitchBuildFailures++; return; }
            entries.Add((0, m.ToArray()));           // COMMITs without the PREPAREs they name: digests only (SwitchHistory)
        }
        ulong top = cp;
        foreach (var (_, m) in entries) { var mh = HeaderOf(m); if (mh.View == _view && mh.Type is MessageType.UiPrepare or MessageType.UiCommit && mh.Sequence > top) top = mh.Sequence; }
        var body = SwitchHistory.Body(_view, 1, cp, digest, c0Epoch, c0Counter, entries, certificate);
        core.WidenToAllReplicas();                    // the SWITCH goes to every replica, passive ones included
        if (!core.SendCertified(MessageType.UiSwitch, _switchStartView, top, body)) { Stats.SwitchBuildFailures++; return; }
        var (se, sc) = core.LastSent;
        if (core.TryGetSent(se, sc, out var sent))
        {
            _ownSwitch = sent.ToArray();
            _switchResends = 50;
            OnSwitch(HeaderOf(sent), sent, se, sc);   // the coordinator installs its own SWITCH
        }
    }

    /// <summary>
    /// A SWITCH, in the coordinator's counter order (active replicas) or on receipt (passive replicas): validate, then install.
    /// c0 and the other active replicas' counters come from the history's own checkpoint certificate (checked by
    /// <see cref="SwitchHistory.TryAnchor"/>), so no replica waits for the checkpoint to become stable locally (R1); one that
    /// has not executed up to it fetches the state after installing (<see cref="MinBftReplica.InstallSwitch"/>).
    /// </summary>
    private void OnSwitch(in MessageHeader h, ReadOnlySpan<byte> message, ulong epoch, ulong counter)
    {
        if (_switched) return;
        var body = MessageHeader.Body(message, h);
        var history = SwitchHistory.TryParse(body, _n, new VerifierLimits(_n, (uint)_n, 1 << 30, 1 << 30, ushort.MaxValue), null, generation: h.Generation);
        if (history is null || history.Attempt != 1 || history.AbortedView != _view || h.Sender != Coordinator
            || h.View != _switchStartView) { Stats.BadSwitches++; LastSwitchRejection = "malformed, or wrong coordinator or view"; return; }
        if (!history.TryAnchor(_active, h.Sender, out var counters, out string? reason)) { Stats.BadSwitches++; LastSwitchRejection = reason; return; }
        ulong c0Epoch = history.CheckpointSeq > 0 ? history.C0Epoch : epoch, c0Counter = history.CheckpointSeq > 0 ? history.C0Counter : 0;
        if (history.CheckpointSeq == 0 && history.C0Counter != 0) { Stats.BadSwitches++; LastSwitchRejection = "c0 without a checkpoint"; return; }
        var decision = history.TryDecide(h.Sender, c0Epoch, c0Counter, epoch, counter, _s.Window, out reason);
        if (decision is null) { Stats.BadSwitches++; LastSwitchRejection = reason; return; }
        Install(h, message, history, counters, decision.Value.Batches, decision.Value.Digests, epoch, counter);
    }

    /// <summary>Why the last SWITCH was rejected (diagnostics and tests).</summary>
    public string? LastSwitchRejection { get; private set; }

    private void Install(in MessageHeader h, ReadOnlySpan<byte> message, SwitchHistory history, (ulong Epoch, ulong Counter)[] counters, List<byte[]?> batches, List<byte[]> digests, ulong epoch, ulong counter)
    {
        if (h.Sender == _id && _core is not null)
        {
            // The new leader re-proposes the fixed batches: ours, from the PREPAREs our COMMITs endorsed (still bound).
            for (int i = 0; i < batches.Count; i++)
                if (batches[i] is null && _core.TryGetBoundPrepare(history.CheckpointSeq + 1 + (ulong)i, out var p))
                    batches[i] = MessageHeader.Body(p, HeaderOf(p)).ToArray();
        }
        _switching = true;
        _switched = true;
        _switchView = h.View;
        _joinTarget = 0;
        _installedSwitch = message.ToArray();
        // Counter order: past the coordinator's SWITCH, and for every other active replica past its counter in the certified
        // checkpoint (what it certified before is about instances the checkpoint covers). A replica that met the SWITCH in
        // counter order and kept up is past all of these already (Jump only moves forward).
        var seen = new List<(uint, ulong, ulong)> { (h.Sender, epoch, counter) };
        for (int i = 0; i < counters.Length; i++)
            if (_active[i] != h.Sender) seen.Add((_active[i], counters[i].Epoch, counters[i].Counter));
        ulong executedHere = LastExecuted;
        _phaseStart = Math.Max(executedHere, history.CheckpointSeq + (ulong)batches.Count);
        var core = EnterMinBft(h.View);
        Stats.ProtocolSwitches++;
        ulong tcCheckpoint = 0;
        var checkpoints = new List<byte[]>();
        foreach (var (kind, eh, em) in history.Entries)
            if (kind == 0 && eh.Type == MessageType.UiCheckpoint) { checkpoints.Add(em); if (eh.Sequence > tcCheckpoint) tcCheckpoint = eh.Sequence; }
        var own = OwnCheckpointsAbove(history.CheckpointSeq, executedHere);
        core.InstallSwitch(h.View, history.CheckpointSeq, history.CheckpointDigest, batches, digests, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(seen), executedHere, (h.Sender, tcCheckpoint), checkpoints, own,
            checkpointHolders: _active);
    }
}
