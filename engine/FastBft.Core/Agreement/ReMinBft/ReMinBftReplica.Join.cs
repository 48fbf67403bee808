using System.Buffers.Binary;
using FastBft.Agreement.MinBft;
using FastBft.Wire;

namespace FastBft.Agreement.ReMinBft;

/// <summary>
/// A replica left behind in an older generation catches up (docs/reminbft.md §7.1 R-c): it was cut off, slow or restarted
/// while the cell switched to MinBFT and back, so the messages of its generation that it still lacks are garbage at its
/// peers. Once f+1 distinct replicas sent it a certified MinBFT CHECKPOINT(x) of one later header generation G′ with one
/// state digest and the view of G′'s leader — at least one of them correct — it joins G′ at x: the header generation names
/// the generation's leader (<see cref="GenerationTag"/>), and the CHECKPOINTs' per-replica run starts (MinBFT's CHECKPOINT
/// reports, docs/minbft.md §4) tell where each sender's counter order continues. It fetches the state at x from those
/// replicas (verified against the digest) with a new core of G′ that continues its old core's sent log; a passive replica
/// then applies UPDATEs from x+1, an active one takes part from x+1. A MinBFT phase (a later view) is not joined: the
/// replica waits for the phase's switch back (a joiner would start in a view whose NEW-VIEW it never installed).
/// </summary>
public sealed partial class ReMinBftReplica
{
    private readonly Dictionary<uint, byte[]> _later = new();   // per sender: its latest certified CHECKPOINT of a later generation
    private ulong _joinTarget;
    private bool _joinPassive;

    /// <summary>A certified CHECKPOINT of a later header generation (before this replica switched back to it): evidence for a join.</summary>
    private void NoteLaterCheckpoint(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (h.Sender >= (uint)_n || h.Sender == _id || h.Sequence == 0 || h.Sequence % (ulong)_s.CheckpointInterval != 0
            || message.Length < MessageHeader.Size + MinBftBodies.CheckpointLength(_n) || h.View != (h.Generation & 0xFF)) return;   // a generation's own view only (not its MinBFT phase)
        if (_later.TryGetValue(h.Sender, out var held) && MessageHeader.TryParse(held, int.MaxValue, out var hh) == ParseStatus.Ok
            && (hh.Generation > h.Generation || (hh.Generation == h.Generation && hh.Sequence >= h.Sequence))) return;
        _later[h.Sender] = message.ToArray();
        var digest = message.Slice(MessageHeader.Size, Digests.Size);
        var matching = new List<byte[]>();
        foreach (var m in _later.Values)
        {
            MessageHeader.TryParse(m, int.MaxValue, out var mh);
            if (mh.Generation == h.Generation && mh.Sequence == h.Sequence && m.AsSpan(MessageHeader.Size, Digests.Size).SequenceEqual(digest)) matching.Add(m);
        }
        if (matching.Count < _s.F + 1) return;
        if (_joinCandidate is null) _joinEvidenceTick = _tick;
        _joinCandidate = matching;
    }

    private List<byte[]>? _joinCandidate;
    private long _joinEvidenceTick;

    /// <summary>Per tick: a replica that is still behind a view-change timeout after the evidence formed joins (one that merely
    /// lags by a few instances switches back by itself meanwhile, and the evidence is then of its own generation).</summary>
    private void JoinTick()
    {
        if (_joinCandidate is not { } candidate) return;
        MessageHeader.TryParse(candidate[0], int.MaxValue, out var h);
        if (h.Generation <= _genTag || h.Sequence <= LastExecuted) { _joinCandidate = null; _later.Clear(); return; }
        if (_tick - _joinEvidenceTick < _s.ViewChangeTicks) return;
        _joinCandidate = null;
        BeginJoin(candidate);
    }

    private long[] _helpedTick = [];

    /// <summary>
    /// A replica sent us a message of an older generation: it is behind. Once per retransmission period it gets the certificate of
    /// our stable checkpoint (the certified CHECKPOINTs we hold, a faulty replica's among them that it may have withheld from the
    /// laggard): with f+1 of them it joins our generation (<see cref="NoteLaterCheckpoint"/>).
    /// </summary>
    private void HelpLaggard(uint r)
    {
        if (r >= (uint)_n || r == _id) return;
        if (_helpedTick.Length != _n) { _helpedTick = new long[_n]; Array.Fill(_helpedTick, long.MinValue / 2); }
        if (_tick - _helpedTick[r] < _s.RetransmitTicks) return;
        _helpedTick[r] = _tick;
        (_core ?? _dormantCore)?.SendCheckpointCertificateTo(r);
    }

    /// <summary>Joins the later generation the f+1 matching certified CHECKPOINTs in <paramref name="certificate"/> name (see the type's remarks).</summary>
    private void BeginJoin(List<byte[]> certificate)
    {
        MessageHeader.TryParse(certificate[0], int.MaxValue, out var h0);
        ulong gen = h0.Generation, x = h0.Sequence;
        uint leader = (uint)(gen & 0xFF);
        if (leader >= (uint)_n || gen >> 8 == 0) return;
        var digest = certificate[0].AsSpan(MessageHeader.Size, Digests.Size).ToArray();
        bool phase = false;
        var holders = new List<uint>();
        foreach (var m in certificate)
        {
            MessageHeader.TryParse(m, int.MaxValue, out var mh);
            holders.Add(mh.Sender);
            if (mh.View != leader) phase = true;
        }
        // Only into a ReMinBFT generation (no view change inside it, so no NEW-VIEW can be among what the run starts skip). A
        // MinBFT phase is joined at its next generation: in a phase a joiner would start in a view whose NEW-VIEW it never
        // installed, and a faulty new leader could then get a slot that NEW-VIEW fixed re-proposed differently to it alone.
        if (phase) return;
        var old = _core ?? _dormantCore;
        ulong executedHere = LastExecuted;
        old?.Retire();
        _retiredCore = old;
        var positions = new Dictionary<uint, (ulong Epoch, ulong Next)>();
        var jumped = new List<(uint, ulong, ulong)>();
        if (old is not null) foreach (var (j, e, c) in old.CounterPositions()) positions[j] = (e, c);
        for (uint j = 0; j < _n; j++)
        {
            if (j == _id) continue;
            ulong epoch = 0, start = ulong.MaxValue;
            bool consistent = true;
            foreach (var m in certificate)
            {
                var report = m.AsSpan(MessageHeader.Size + Digests.Size + 16 * (int)j, 16);
                ulong re = BinaryPrimitives.ReadUInt64LittleEndian(report), rc = BinaryPrimitives.ReadUInt64LittleEndian(report.Slice(8));
                if (re == 0 || rc == 0 || (epoch != 0 && re != epoch)) { consistent = false; break; }
                epoch = re;
                if (rc < start) start = rc;
            }
            if (!consistent || start == ulong.MaxValue) continue;
            // Never back: a sender's messages this replica already handled stay handled (the counter-order rule).
            if (positions.TryGetValue(j, out var p) && p.Epoch == epoch && p.Next >= start) continue;
            positions[j] = (epoch, start);
            jumped.Add((j, epoch, start));
        }
        EnterGeneration(gen >> 8, leader, x);
        Stats.Joins++;
        var composition = new MinBftComposition
        {
            Family = ProtocolFamily.ReMinBft, InitialView = _view, Members = _isActive ? _activeMask : ulong.MaxValue,
            ViewChanges = false, Observer = this, Generation = gen,
            InitialCounters = positions.Select(kv => (kv.Key, kv.Value.Epoch, kv.Value.Next)).ToList(), InheritedSentLog = old?.SentLog,
        };
        _core = new MinBftReplica(_s, _auth, _exec, _output, _usig, _isActive ? InnerQuorums : InnerQuorums with { Checkpoint = _s.F + 1 }, composition)
        {
            CertifiedHandled = old?.CertifiedHandled, CounterOrderJumped = old?.CounterOrderJumped,
        };
        _dormantCore = null;
        _later.Clear();
        _joinTarget = x;
        _joinPassive = !_isActive;
        foreach (var (j, e, next) in jumped) _core.CounterOrderJumped?.Invoke(j, e, next - 1);   // what f+1 run starts let it skip (as MinBFT's rebase, V2)
        _core.JoinAt(x, digest, certificate, holders, executedHere);
    }

    /// <summary>The joined state is installed: a passive replica's core goes dormant and it announces the checkpoint (it applies UPDATEs from x+1).</summary>
    private void TryFinishJoin()
    {
        var core = _core;
        if (core is null || core.LastExecuted < _joinTarget) return;
        // The core may have fetched a later certified checkpoint than the one the join started from: it is where this replica is.
        var (x, digest) = core.StableCheckpointProof;
        if (core.LastExecuted != x) return;              // executing past it already cannot happen before the join ends; wait for the install
        if (_joinPassive && _switching) return;         // a switch started meanwhile: this core becomes its MinBFT core (Install/Escalate end the join)
        _joinTarget = 0;
        if (x > _applied) _applied = x;
        if (x > _stable) _stable = x;
        if (!_joinPassive) return;
        _genStart = x;                                  // the checkpoint whose certified CHECKPOINTs the dormant core keeps as its certificate
        _heldCertified.Clear();
        _dormantCore = core;
        _core = null;
        core.Halted = true;
        core.Dormant = true;
        SendCheckpoint(x, digest.Span);                 // ReMinBFT's all-n CHECKPOINT (a passive replica lists no counters)
    }
}
