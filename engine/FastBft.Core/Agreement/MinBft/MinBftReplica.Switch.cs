using FastBft.TrustedHw;
using FastBft.Wire;

namespace FastBft.Agreement.MinBft;

/// <summary>
/// Extension points for a protocol that switches <em>to</em> MinBFT (ReMinBFT, Thesis §5.4.3; docs/reminbft.md §5): stop
/// agreement, send a certified message of the composing protocol, read the sent log, and start MinBFT in a view from a
/// decision (the batches the abort history fixes), moving the senders' counter order past what the history covers.
/// The installation mirrors a NEW-VIEW's (<c>MinBftReplica.ViewChange.cs</c>, <c>Install</c>) for the parts a switch needs.
/// </summary>
public sealed partial class MinBftReplica
{
    private bool _halted;

    /// <summary>True while agreement is stopped (a switch is under way): no batches are cut, no COMMITs queued, and PREPAREs and
    /// COMMITs taken in counter order have no effect. Certified messages keep being handled in counter order.</summary>
    public bool Halted { get => _halted; set => _halted = value; }

    /// <summary>The UI (epoch, counter) of the last certified message this replica sent (counter 0: none).</summary>
    public (ulong Epoch, ulong Counter) LastSent => (_sent.LastEpoch, _sent.LastCounter);

    /// <summary>Our certified message with UI (epoch, counter), if still in the sent log (2(L + L/K) + 64 counters).</summary>
    public bool TryGetSent(ulong epoch, ulong counter, out ReadOnlySpan<byte> message) => _sent.TryGet(epoch, counter, out message);

    /// <summary>The PREPARE this replica bound at <paramref name="seq"/> in the current view, if its slot still holds it.</summary>
    public bool TryGetBoundPrepare(ulong seq, out ReadOnlySpan<byte> prepare)
    {
        var slot = SlotOf(seq);
        prepare = slot.Seq == seq && slot.HasPrepare && !slot.NvFixed ? slot.PrepareMessage : default;
        return !prepare.IsEmpty;
    }

    /// <summary>Certifies and sends everything queued now (so that the sent log is complete up to the last counter used).</summary>
    public void FlushCertified() => Flush();

    /// <summary>Lets every replica take part in agreement (a switch to MinBFT: the passive replicas join) and turns the view change on.</summary>
    public void WidenToAllReplicas()
    {
        _members = ulong.MaxValue;
        _viewChanges = true;
    }

    /// <summary>
    /// Certifies <paramref name="body"/> as a message of <paramref name="type"/> with this replica's USIG, after everything
    /// already queued (counter order), and sends it to every member. Returns false if the USIG failed (the message stays
    /// queued and goes with the next flush).
    /// </summary>
    public bool SendCertified(MessageType type, ulong view, ulong seq, ReadOnlySpan<byte> body)
    {
        var b = _outbox.Begin(type, view, seq, body.Length);
        body.CopyTo(b);
        _outbox.End();
        Flush();
        return _outbox.Count == 0;
    }

    /// <summary>
    /// Starts MinBFT in <paramref name="view"/> from a switch decision (Thesis §5.4.3 "Processing an Abort History"): the
    /// checkpoint <paramref name="cpSeq"/> (state digest <paramref name="cpDigest"/>, 32 bytes) becomes the low watermark,
    /// the slots cpSeq+1 .. cpSeq+batches.Count are fixed to the given batches (the new leader re-proposes them, followers
    /// bind only them), agreement resumes, and each sender's counter order moves past the UI given in <paramref name="seen"/>
    /// (the coordinator's SWITCH; for a replica that was passive, the active replicas' counters of the checkpoint).
    /// <paramref name="executedHere"/>: the last sequence number this replica executed or applied (a core created at the switch).
    /// <paramref name="certifiedCheckpoints"/>: certified CHECKPOINT messages the history carries (the coordinator's), counted as
    /// votes here — a replica that skipped them with the history would otherwise never see them.
    /// <paramref name="ownCheckpoints"/>: checkpoints above cpSeq this replica took outside this core (a passive replica applying
    /// updates): recorded as its own and announced with a certified CHECKPOINT, so MinBFT's checkpoints can become stable.
    /// <paramref name="coordinatorCheckpoint"/>: the highest CHECKPOINT the coordinator certified within the history (its later
    /// PREPAREs may name s up to it + L: the sender rule of docs/minbft.md §3, whose CHECKPOINT this replica skipped with the history).
    /// <paramref name="checkpointHolders"/>: replicas that certified the checkpoint (the composing protocol checked their
    /// certificate); a replica that has not executed up to cpSeq fetches that state from them, as after a NEW-VIEW.
    /// </summary>
    /// <exception cref="ArgumentException">more fixed batches than the window holds, or lists of different lengths.</exception>
    public void InstallSwitch(ulong view, ulong cpSeq, ReadOnlySpan<byte> cpDigest, IReadOnlyList<byte[]?> batches, IReadOnlyList<byte[]> digests,
        ReadOnlySpan<(uint Sender, ulong Epoch, ulong Counter)> seen, ulong executedHere, (uint Sender, ulong Seq) coordinatorCheckpoint = default,
        IReadOnlyList<byte[]>? certifiedCheckpoints = null, IReadOnlyList<(ulong Seq, byte[] Digest)>? ownCheckpoints = null, IReadOnlyList<uint>? checkpointHolders = null)
    {
        if (batches.Count != digests.Count || batches.Count > _s.Window) throw new ArgumentException("fixed batches: lists differ or exceed the window", nameof(batches));
        WidenToAllReplicas();
        _halted = false;
        View = view;
        _inViewChange = false;
        _installedView = view;
        foreach (var (j, e, c) in seen) if (c > 0) Jump(j, e, c);
        if (executedHere > LastExecuted) LastExecuted = executedHere;
        ulong x = cpSeq;
        if (x > LowWatermark)
        {
            Span<byte> d = stackalloc byte[Digests.Size];
            cpDigest.CopyTo(d);
            if (x <= LastExecuted)
            {
                _checkpoints.RecordOwn(x, d, _id);
                _checkpoints.MakeStable(x);
            }
            else
            {
                // Behind the certified checkpoint (a lagging or passive replica, R1): its state comes by state transfer.
                _checkpoints.SetStable(d);
                _stateTransfer.FetchCertified(x, d, checkpointHolders ?? []);
            }
            LowWatermark = x;
            Stats.StableCheckpoints++;
        }
        if (x > 0 && x == LowWatermark && x <= LastExecuted)
        {
            // The switch's certificate of x is ReMinBFT's (signed CHECKPOINTs); MinBFT's VIEW-CHANGE needs f+1 certified
            // CHECKPOINT(x): every replica announces x in the new view (one that fetches x does so once installed).
            QueueCheckpoint(x, _checkpoints.StableDigest.Span);
        }
        FixSlots(view, x, batches, digests, saveCommitted: true);   // our COMMITs of the aborted view keep the PREPARE they named (a later VIEW-CHANGE attaches it)
        if (_ownCpQueued < x) _ownCpQueued = x;
        // Each sender's checkpoint bound is x now; its own CHECKPOINT(x) may still follow in its counter order (a replica that
        // fetched x's state announces it after the transfer): accepted once at that bound, as after a NEW-VIEW.
        // Every replica certifies CHECKPOINT(x) once more in the new view (below), also one that did so before the switch.
        for (uint j = 0; j < _n; j++) if (_peerCheckpoint[j] <= x) { _peerCheckpoint[j] = x; _peerCheckpointFromNewView[j] = true; }
        _switchCheckpoint = x;                         // a sender that certified a later checkpoint before the switch re-announces x too (OnCheckpointInOrder)
        _switchView = view;
        if (coordinatorCheckpoint.Sender < (uint)_n && _peerCheckpoint[coordinatorCheckpoint.Sender] < coordinatorCheckpoint.Seq) _peerCheckpoint[coordinatorCheckpoint.Sender] = coordinatorCheckpoint.Seq;
        Stats.ProtocolSwitches++;
        if (certifiedCheckpoints is not null)
            foreach (var m in certifiedCheckpoints)
            {
                if (MessageHeader.TryParse(m, int.MaxValue, out var ch) != ParseStatus.Ok || ch.Type != MessageType.UiCheckpoint || ch.Sender >= (uint)_n) continue;
                if (ch.Sequence <= LowWatermark || ch.Sequence > HighWatermark || ch.Sequence % (ulong)_s.CheckpointInterval != 0) continue;
                StoreCheckpointMessage(ch.Sequence, ch.Sender, m);
                _checkpoints.Record(ch.Sequence, ch.Sender, MessageHeader.Body(m, ch).Slice(0, Digests.Size));
            }
        AdoptOwnCheckpoints(ownCheckpoints);
        // Checkpoints executed before the switch that waited for the composing protocol's stability (MayStabilize) may be stable now.
        for (ulong s = x - x % (ulong)_s.CheckpointInterval + (ulong)_s.CheckpointInterval; s <= LastExecuted; s += (ulong)_s.CheckpointInterval) TryStabilize(s);
        ForwardAwaitedRequests();
        QueueCommits();
        ExecuteReady();
        ResumeParked();
        EndOfBurst();
    }

    /// <summary>
    /// A switch whose SWITCH did not come in time (a faulty or crashed transition coordinator) continues as MinBFT's view
    /// change (docs/reminbft.md §5.5): every replica takes part, agreement resumes, <paramref name="executedHere"/> (a core
    /// created now for a replica that was passive: what it applied) becomes the last executed sequence number, and a
    /// VIEW-CHANGE for <paramref name="view"/> — above the view the SWITCH would have started — goes out with this replica's
    /// stable checkpoint certificate and its certified messages since. From there MinBFT's own rules rotate the leader.
    /// </summary>
    /// <paramref name="ownCheckpoints"/>: as for <see cref="InstallSwitch"/> (a replica that was passive: the checkpoints it took
    /// applying updates, announced with certified CHECKPOINTs so that MinBFT's checkpoints can become stable).
    public void ViewChangeFromSwitch(ulong view, ulong executedHere, IReadOnlyList<(ulong Seq, byte[] Digest)>? ownCheckpoints = null)
    {
        WidenToAllReplicas();
        _halted = false;
        if (executedHere > LastExecuted) LastExecuted = executedHere;
        if (LastPrepared < LastExecuted) LastPrepared = LastExecuted;
        if (_lastCommitQueued < LastExecuted) _lastCommitQueued = LastExecuted;
        AdoptOwnCheckpoints(ownCheckpoints);
        StartViewChange(view);
    }

    /// <summary>Checkpoints this replica took outside this core (applying updates), in the window and not yet known here:
    /// recorded as its own and announced with a certified CHECKPOINT.</summary>
    private void AdoptOwnCheckpoints(IReadOnlyList<(ulong Seq, byte[] Digest)>? ownCheckpoints)
    {
        if (ownCheckpoints is null) return;
        Span<byte> held = stackalloc byte[Digests.Size];
        foreach (var (cs, cd) in ownCheckpoints)
        {
            if (cs <= LowWatermark || cs > LastExecuted || cs > HighWatermark || _checkpoints.TryGetOwn(cs, held)) continue;
            _checkpoints.RecordOwn(cs, cd, _id);
            QueueCheckpoint(cs, cd);
        }
    }
}
