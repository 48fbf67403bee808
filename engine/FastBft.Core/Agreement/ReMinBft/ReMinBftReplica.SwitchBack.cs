using FastBft.Agreement.MinBft;
using FastBft.Wire;

namespace FastBft.Agreement.ReMinBft;

/// <summary>
/// Switching back from the MinBFT phase to ReMinBFT (Thesis §5.3.3 as §5.4 applies it; docs/reminbft.md §7, "order the switch
/// back"): the phase's leader proposes, at a sequence number s with s mod K = 0 and s ≥ (where it entered the phase) +
/// <see cref="ReplicaParameters.SwitchBackAfter"/>, a batch flagged SWITCH-BACK naming itself as the next generation's leader
/// (<see cref="Bodies.SwitchBackFlags"/>; the flag is covered by D(batch)). It is agreed like any batch; every replica that
/// executes it in the phase switches, right after s and inside the core's execution loop (R-a), to generation ε+1:
/// <list type="bullet">
/// <item>view = that leader's id, active = it and the next f replicas, passive = the rest (R-b); every message carries header
/// generation ε+1, so late phase messages are told apart (an older certified message only fills its sender's counter);</item>
/// <item>the phase core retires (it executes nothing above s); an active replica starts a new MinBFT core at s among the active
/// replicas (no view change) that continues the retired core's counter orders and sent log, and whose first certified message
/// is CHECKPOINT(s); a passive replica applies UPDATEs again from s+1;</item>
/// <item>ReMinBFT's CHECKPOINT(s) lists, per active replica, the UI of its certified CHECKPOINT(s) (R-d): the anchor a later abort
/// history starts from; it becomes stable with all n, as every checkpoint of a generation.</item>
/// </list>
/// Safety rests on MinBFT's agreement on s (a committed s is in every NEW-VIEW) and in-order execution: no correct replica
/// executes a phase instance above s. A flagged batch is vouched for only in the phase (a ReMinBFT generation never commits
/// one), so every correct replica that executes it does so in the phase.
/// </summary>
public sealed partial class ReMinBftReplica
{
    private MinBftReplica? _dormantCore;          // passive replica after a switch back: its halted core of the generation (certified CHECKPOINT(s), UI-FETCH answers; woken by the next switch)
    private MinBftReplica? _retiredCore;          // the previous generation's core (retired): answers UI-FETCHes of replicas still finishing that generation
    private byte[]? _anchorDigest;                // active replica: ReMinBFT's CHECKPOINT(_genStart) waits for every active replica's certified CHECKPOINT(s) UI
    private readonly Dictionary<uint, byte[]> _heldCertified = new();   // passive, generation > 0: other replicas' certified CHECKPOINT(_genStart)

    /// <inheritdoc/>
    ushort IMinBftObserver.BatchFlagsFor(ulong seq)
    {
        long x = _s.SwitchBackAfter;
        if (!_switched || x <= 0 || _core is null || seq % (ulong)_s.CheckpointInterval != 0 || seq < _phaseStart + (ulong)x) return 0;
        return Bodies.SwitchBackFlags(_core.Leader);
    }

    /// <inheritdoc/>
    bool IMinBftObserver.SwitchBackExecuted(ulong seq, uint leader)
    {
        // Any flagged s is safe; the flag is obeyed at a checkpoint boundary only (the anchor is a checkpoint). Every correct
        // replica decides from the same committed batch at s, executed in the phase (a generation never commits a flagged batch).
        if (!_switched || _core is null || seq % (ulong)_s.CheckpointInterval != 0 || leader >= (uint)_n) return false;
        BeginGeneration(leader, seq);
        return true;
    }

    /// <summary>Generation ε+1 from <paramref name="s"/>, led by <paramref name="leader"/> (called inside the phase core's execution loop).</summary>
    private void BeginGeneration(uint leader, ulong s)
    {
        var old = _core!;
        var digest = new byte[Digests.Size];
        _exec.TakeCheckpoint(s, digest);
        Stats.Checkpoints++;
        var positions = old.CounterPositions();
        _retiredCore = old;                            // retires itself when this returns (IMinBftObserver.SwitchBackExecuted)
        EnterGeneration(_epoch + 1, leader, s);
        _applied = s; _stable = s;
        Stats.SwitchBacks++;
        if (_isActive)
        {
            var composition = new MinBftComposition
            {
                Family = ProtocolFamily.ReMinBft, InitialView = _view, Members = _activeMask, ViewChanges = false, Observer = this,
                Generation = _genTag, Start = (s, digest), InitialCounters = positions, InheritedSentLog = old.SentLog,
            };
            _core = new MinBftReplica(_s, _auth, _exec, _output, _usig, InnerQuorums, composition)
            {
                CertifiedHandled = old.CertifiedHandled, CounterOrderJumped = old.CounterOrderJumped,
            };
            _dormantCore = null;
            _anchorDigest = digest;
        }
        else
        {
            // A passive replica keeps a halted core of the generation too: it certifies CHECKPOINT(s) (with the other replicas'
            // ones, the certificate its VIEW-CHANGE needs if the next switch escalates), answers UI-FETCHes for what the phase
            // core certified (the sent log goes on), and takes part once the next switch wakes it.
            _core = null;
            _dormantCore = new MinBftReplica(_s, _auth, _exec, _output, _usig, InnerQuorums with { Checkpoint = _s.F + 1 }, new MinBftComposition
            {
                Family = ProtocolFamily.ReMinBft, InitialView = _view, Members = ulong.MaxValue, ViewChanges = false, Observer = this,
                Generation = _genTag, Start = (s, digest), InitialCounters = positions, InheritedSentLog = old.SentLog,
            })
            {
                CertifiedHandled = old.CertifiedHandled, CounterOrderJumped = old.CounterOrderJumped, Halted = true, Dormant = true,
            };
            _anchorDigest = null;
            SendCheckpoint(s, digest);                 // a passive replica lists no counters
        }
    }

    /// <summary>
    /// The per-generation state of generation <paramref name="epoch"/> led by <paramref name="leader"/> from <paramref name="start"/>:
    /// the configuration (<see cref="InitGeneration"/>), the header generation, UPDATE slots and per-peer progress, and a fresh
    /// switch state (Thesis §5.3.3: a new generation, a new transition coordinator).
    /// </summary>
    private void EnterGeneration(ulong epoch, uint leader, ulong start)
    {
        _prevGenTag = _genTag;
        _prevInstalledSwitch = _installedSwitch;
        _prevSwitchView = _switchView;
        Array.Fill(_prevAnsweredTick, -1);
        _epoch = epoch;
        _genTag = GenerationTag(_epoch, leader);
        _genStart = start;
        _builder.Generation = _genTag;
        InitGeneration(leader);
        _cps.StartAt(start);                            // else every CHECKPOINT above 2L would be dropped as beyond the window of generation 0
        Array.Fill(_peerCp, start); Array.Fill(_peerCpSeen, start); Array.Clear(_resendNext); Array.Fill(_cpAnsweredTick, -1);
        foreach (var slot in _updates) slot.Reset(0);
        _heldCertified.Clear();
        _switching = _switched = _switchPending = _escalated = false;
        _switchWaitTicks = 0;
        Array.Clear(_escalationSeen);
        _escalationAskedTick = -1;
        _installedSwitch = null;
        Array.Fill(_switchAnsweredTick, -1);
        Array.Clear(_switchedPeers);
        _ownSwitch = null;
        _switchResends = 0;
        _switchView = 0;
        _panics.Reset();
        _anchorDigest = null;
    }

    private ulong _prevGenTag, _prevSwitchView;
    private byte[]? _prevInstalledSwitch;
    private long[] _prevAnsweredTick = [];

    /// <summary>
    /// A replica still in the previous generation asks to escalate its switch (REQ-VIEW-CHANGE of that generation): it missed the
    /// switch this replica took there. Answered as a replica of that generation would (<see cref="OnEscalationRequest"/>): with the
    /// SWITCH installed there, or else with the VIEW-CHANGE this replica's retired core sent there (it counts as a request to
    /// escalate, and the asker's VIEW-CHANGE then gets the NEW-VIEW forwarded). At most once per tick per asker.
    /// </summary>
    private void AnswerPreviousGeneration(in MessageHeader h)
    {
        if (h.Sender >= (uint)_n || h.Sender == _id) return;
        if (_prevAnsweredTick.Length != _n) { _prevAnsweredTick = new long[_n]; Array.Fill(_prevAnsweredTick, -1); }
        if (_prevAnsweredTick[h.Sender] == _tick) return;
        _prevAnsweredTick[h.Sender] = _tick;
        if (_prevInstalledSwitch is not null && h.View == _prevSwitchView + 1) { _out.SendToReplica(h.Sender, _prevInstalledSwitch); Stats.SwitchesForwarded++; }
        else if (_retiredCore?.OwnViewChange is { } vc) _out.SendToReplica(h.Sender, vc);
    }

    /// <summary>An active replica's ReMinBFT CHECKPOINT of the generation's start, once its core handled every active replica's certified CHECKPOINT(s) (R-d).</summary>
    private void TrySendAnchor()
    {
        if (_anchorDigest is null || _core is null || _switching) { if (_switching) _anchorDigest = null; return; }
        foreach (var a in _active) if (!_core.TryGetCheckpointUi(a, _genStart, out _, out _)) return;
        var d = _anchorDigest;
        _anchorDigest = null;
        SendCheckpoint(_genStart, d);
    }

    /// <summary>A passive replica after a switch back keeps the other replicas' certified CHECKPOINT(s) of the generation's start s
    /// (first per sender): with its own, the certificate of its dormant core's stable checkpoint.</summary>
    private void HoldCertifiedCheckpoint(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (h.Sequence != _genStart || h.Sender >= (uint)_n || h.Sender == _id) { Stats.Ignored++; return; }
        if (!_heldCertified.ContainsKey(h.Sender)) _heldCertified[h.Sender] = message.ToArray();
    }
}
