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
/// <see cref="CoordinatorRotation.Coordinator"/>, the first follower) builds one, from local knowledge alone: its stable
/// checkpoint, then every certified message it sent after it (from its sent log, gap-free), plus the leader PREPARE each of
/// its COMMITs endorsed, closed by the SWITCH certified with its own USIG (<see cref="SwitchHistory"/>).</item>
/// <item><b>Processing</b> [§5.4.3 "Processing an Abort History"]: every replica checks continuity (counters c0+1 … c_SWITCH−1,
/// c0 = the coordinator's counter in the stable checkpoint) and starts MinBFT in the coordinator's view with each instance
/// the history names bound to its batch. An active replica meets the SWITCH in the coordinator's counter order (its MinBFT
/// core), so every correct replica acts on the first SWITCH the coordinator certified. A passive replica has no counter order
/// for anybody yet: it takes the coordinator's from the history and every other active replica's from the stable
/// checkpoint's counters (§5.4.3 "passive replicas rely on the verified counter-value information included in stable
/// checkpoints"); the active replicas' certified messages after the checkpoint reach it through MinBFT's UI-FETCH from their
/// sent logs (pull, instead of the thesis's push at initiation — same messages, fetched only when missing).</item>
/// </list>
/// <para>Not built (docs/reminbft.md §7): coordinator rotation on timeout (a faulty or crashed first coordinator stops the
/// switch; §5.4.3 "Handling Faults during the Protocol Switch"), and switching back (§5.3.3).</para>
/// </summary>
public sealed partial class ReMinBftReplica
{
    private bool _switching, _switched, _switchPending;
    private byte[]? _ownSwitch;
    private int _switchResends;
    private ulong _switchView;
    private byte[]? _heldSwitch;
    private ulong _heldEpoch, _heldCounter;

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

    private void SwitchTick()
    {
        if (_heldSwitch is { } held) OnSwitch(HeaderOf(held), held, _heldEpoch, _heldCounter);   // waited for its checkpoint to become stable here
    }

    /// <summary>The coordinator: abort history = stable checkpoint + every certified message sent since (+ the PREPAREs its COMMITs name), then the certified SWITCH to all.</summary>
    private void SendSwitch()
    {
        var core = _core!;
        core.FlushCertified();                        // what is queued (a COMMIT of this burst) is sent before the history is cut
        ulong cp = _cps.Stable;
        Span<byte> digest = stackalloc byte[Digests.Size];
        ulong c0Epoch, c0Counter;
        int me = Array.IndexOf(_active, _id);
        if (cp > 0)
        {
            if (!_cps.TryGetCounter(cp, me, out c0Epoch, out c0Counter, digest)) { Stats.SwitchBuildFailures++; return; }
        }
        else { c0Epoch = core.LastSent.Epoch; c0Counter = 0; }
        var (lastEpoch, last) = core.LastSent;
        var entries = new List<(byte, byte[])>();
        if (last > 0 && lastEpoch != c0Epoch) { Stats.SwitchBuildFailures++; return; }   // a new USIG epoch since the checkpoint: no gap-free run
        for (ulong c = c0Counter + 1; c <= last; c++)
        {
            if (!core.TryGetSent(c0Epoch, c, out var m)) { Stats.SwitchBuildFailures++; return; }
            var mh = HeaderOf(m);
            entries.Add((0, m.ToArray()));
            if (mh.Type == MessageType.UiCommit && mh.View == _view && mh.Sequence > cp)
            {
                if (!core.TryGetBoundPrepare(mh.Sequence, out var p)) { Stats.SwitchBuildFailures++; return; }
                entries.Add((1, p.ToArray()));
            }
        }
        ulong top = cp;
        foreach (var (_, m) in entries) { var mh = HeaderOf(m); if (mh.View == _view && mh.Type is MessageType.UiPrepare or MessageType.UiCommit && mh.Sequence > top) top = mh.Sequence; }
        ulong view = CoordinatorRotation.StartView(Shape, _view, 1);
        var body = SwitchHistory.Body(_view, 1, cp, digest, c0Epoch, c0Counter, entries);
        core.WidenToAllReplicas();                    // the SWITCH goes to every replica, passive ones included
        if (!core.SendCertified(MessageType.UiSwitch, view, top, body)) { Stats.SwitchBuildFailures++; return; }
        var (se, sc) = core.LastSent;
        if (core.TryGetSent(se, sc, out var sent))
        {
            _ownSwitch = sent.ToArray();
            _switchResends = 50;
            OnSwitch(HeaderOf(sent), sent, se, sc);   // the coordinator installs its own SWITCH
        }
    }

    /// <summary>A SWITCH, in the coordinator's counter order (active replicas) or on receipt (passive replicas): validate, then install.</summary>
    private void OnSwitch(in MessageHeader h, ReadOnlySpan<byte> message, ulong epoch, ulong counter)
    {
        if (_switched) return;
        var body = MessageHeader.Body(message, h);
        var history = SwitchHistory.TryParse(body, _n, new VerifierLimits(_n, (uint)_n, 1 << 30, 1 << 30, ushort.MaxValue), null);
        if (history is null || history.Attempt != 1 || history.AbortedView != _view || h.Sender != Coordinator
            || h.View != CoordinatorRotation.StartView(Shape, _view, 1)) { Stats.BadSwitches++; LastSwitchRejection = "malformed, or wrong coordinator or view"; _heldSwitch = null; return; }
        // c0: the coordinator's counter in the checkpoint, from this replica's own stable checkpoint certificate.
        ulong c0Epoch = epoch, c0Counter = 0;
        Span<byte> digest = stackalloc byte[Digests.Size];
        if (history.CheckpointSeq > 0)
        {
            if (history.CheckpointSeq > _cps.Stable)
            {
                // Not stable here yet (a CHECKPOINT is missing): hold the SWITCH and retry; the CHECKPOINT re-send/answer rule brings it.
                if (_heldSwitch is null) { _heldSwitch = message.ToArray(); _heldEpoch = epoch; _heldCounter = counter; Stats.SwitchesHeld++; }
                StartSwitch();
                return;
            }
            if (!_cps.TryGetCounter(history.CheckpointSeq, Array.IndexOf(_active, h.Sender), out c0Epoch, out c0Counter, digest)
                || !digest.SequenceEqual(history.CheckpointDigest)) { Stats.BadSwitches++; LastSwitchRejection = "checkpoint"; _heldSwitch = null; return; }
        }
        if (history.C0Counter != c0Counter || (history.CheckpointSeq > 0 && history.C0Epoch != c0Epoch)) { Stats.BadSwitches++; LastSwitchRejection = "c0"; _heldSwitch = null; return; }
        var decision = history.TryDecide(h.Sender, c0Epoch, c0Counter, epoch, counter, _s.Window, out string? reason);
        _heldSwitch = null;
        if (decision is null) { Stats.BadSwitches++; LastSwitchRejection = reason; return; }
        Install(h, history, decision.Value.Batches, decision.Value.Digests, epoch, counter);
    }

    /// <summary>Why the last SWITCH was rejected (diagnostics and tests).</summary>
    public string? LastSwitchRejection { get; private set; }

    private void Install(in MessageHeader h, SwitchHistory history, List<byte[]> batches, List<byte[]> digests, ulong epoch, ulong counter)
    {
        _switching = true;
        _switched = true;
        _switchView = h.View;
        _heldSwitch = null;
        _panics.Reset();
        var all = new uint[_n];
        for (uint r = 0; r < _n; r++) all[r] = r;
        _exec.SetExecutors(all);                      // MinBFT: every replica executes; the designated replier among all
        _exec.RecordUpdates = false;
        var seen = new List<(uint, ulong, ulong)>();   // an active replica met the SWITCH in the coordinator's counter order: nothing to move
        ulong executedHere = LastExecuted;
        if (_core is null)
        {
            seen.Add((h.Sender, epoch, counter));
            // A passive replica joins: counter order for every other active replica from the stable checkpoint's counters.
            Span<byte> d = stackalloc byte[Digests.Size];
            for (int i = 0; i < _active.Length; i++)
                if (_active[i] != h.Sender && _cps.TryGetCounter(history.CheckpointSeq, i, out ulong e, out ulong c, d)) seen.Add((_active[i], e, c));
            var composition = new MinBftComposition { Family = ProtocolFamily.ReMinBft, InitialView = h.View, Members = ulong.MaxValue, ViewChanges = true, Observer = this };
            _core = new MinBftReplica(_s, _auth, _exec, _output, _usig, InnerQuorums with { Checkpoint = _s.F + 1 }, composition);
        }
        Stats.ProtocolSwitches++;
        ulong tcCheckpoint = 0;
        var checkpoints = new List<byte[]>();
        foreach (var (kind, eh, em) in history.Entries)
            if (kind == 0 && eh.Type == MessageType.UiCheckpoint) { checkpoints.Add(em); if (eh.Sequence > tcCheckpoint) tcCheckpoint = eh.Sequence; }
        var own = new List<(ulong, byte[])>();
        var od = new byte[Digests.Size];
        for (ulong s = history.CheckpointSeq + (ulong)_s.CheckpointInterval; s <= executedHere; s += (ulong)_s.CheckpointInterval)
            if (_cps.TryGetOwnDigest(s, _id, od)) own.Add((s, od.ToArray()));
        _core.InstallSwitch(h.View, history.CheckpointSeq, history.CheckpointDigest, batches, digests, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(seen), executedHere, (h.Sender, tcCheckpoint), checkpoints, own);
    }
}
