using System.Buffers.Binary;
using FastBft.TrustedHw;
using FastBft.Wire;

namespace FastBft.Agreement.MinBft;

/// <summary>
/// Checkpoints, garbage collection and state transfer (docs/minbft.md §4). Every K sequence numbers a replica takes a
/// checkpoint (SHA-256 of service snapshot ‖ reply cache) and sends a USIG-certified CHECKPOINT(s, D(state)); f+1
/// matching from distinct replicas, its own among them, make it stable (at least one correct replica vouches for the
/// state; Thesis §5.4.2 uses "all replicas" for ReMinBFT's passive replicas, MinBFT needs f+1 — PROTOCOLS.md §4 [X]);
/// the low watermark moves there and the log below is garbage. CHECKPOINT is certified (unlike ReMinBFT's, Thesis
/// §5.4.2) so that f+1 of them are a transferable certificate a future VIEW-CHANGE can carry, and so that it has a
/// place in its sender's counter order. A replica that is behind fetches the state with the shared
/// <see cref="StateTransfer"/> (PBFT-PR §4.6.2) once f+1 replicas announced the same checkpoint.
/// </summary>
public sealed partial class MinBftReplica : IStateTransferOutput
{
    private readonly StateTransfer _stateTransfer;
    private readonly Dictionary<ulong, (ulong Epoch, ulong Counter)> _ownCheckpoint = new();   // seq → UI of our certified CHECKPOINT

    /// <summary>The certificate of the last stable checkpoint: its sequence number and state digest (32 bytes).</summary>
    public (ulong Sequence, ReadOnlyMemory<byte> Digest) StableCheckpointProof => (LowWatermark, _checkpoints.StableDigest);

    private void TakeCheckpoint(ulong seq, MinBftSlot slot)
    {
        Span<byte> digest = stackalloc byte[Digests.Size];
        _exec.TakeCheckpoint(seq, digest);
        _checkpoints.RecordOwn(seq, digest, _id);
        Stats.Checkpoints++;
        QueueCheckpoint(seq, digest);
        _observer?.CheckpointTaken(seq, digest);
        TryStabilize(seq);
    }

    private void QueueCheckpoint(ulong seq, ReadOnlySpan<byte> digest)
    {
        var body = _outbox.Begin(MessageType.UiCheckpoint, View, seq, MinBftBodies.CheckpointLength(_n));
        digest.CopyTo(body);
        for (uint j = 0; j < _n; j++)
        {
            RunStart(j, seq, out ulong epoch, out ulong counter);
            BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(Digests.Size + 16 * (int)j), epoch);
            BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(Digests.Size + 16 * (int)j + 8), counter);
        }
        _outbox.End();
        if (seq > _ownCpQueued) _ownCpQueued = seq;
    }

    /// <summary>Highest sequence number of a CHECKPOINT of ours queued (our PREPAREs/COMMITs stay within a window of it).</summary>
    private ulong _ownCpQueued;

    /// <summary>Per sender (self included) the first counter of its PREPAREs/COMMITs this replica handled, by sequence number (a ring of 2L).</summary>
    private ulong[][] _takenSeq = [], _takenEpoch = [], _takenCounter = [];

    /// <summary>Highest CHECKPOINT sequence number each sender certified, in its counter order.</summary>
    private ulong[] _peerCheckpoint = [];
    private bool[] _peerCheckpointFromNewView = [];
    // The installed switch's checkpoint and view (0 = none), and per sender whether its re-announcement of it was taken.
    private ulong _switchCheckpoint, _switchView;
    private bool[] _switchReannounced = [];

    private void InitTaken()
    {
        int ring = 2 * _s.Window;
        _takenSeq = new ulong[_n][]; _takenEpoch = new ulong[_n][]; _takenCounter = new ulong[_n][];
        for (int j = 0; j < _n; j++) { _takenSeq[j] = new ulong[ring]; _takenEpoch[j] = new ulong[ring]; _takenCounter[j] = new ulong[ring]; }
        _peerCheckpoint = new ulong[_n];
        _peerCheckpointFromNewView = new bool[_n];
        _switchReannounced = new bool[_n];
        _senderOrderView = new ulong[_n];
        _senderOrderSeq = new ulong[_n];
    }

    /// <summary>Sender <paramref name="j"/>'s PREPARE/COMMIT for <paramref name="seq"/> with UI (epoch, counter) was handled (taken in counter order).</summary>
    private void NoteTaken(uint j, ulong seq, ulong epoch, ulong counter)
    {
        int i = (int)(seq % (ulong)_takenSeq[j].Length);
        var seqs = _takenSeq[j];
        if (seqs[i] == seq && _takenEpoch[j][i] == epoch && _takenCounter[j][i] <= counter) return;
        seqs[i] = seq; _takenEpoch[j][i] = epoch; _takenCounter[j][i] = counter;
    }

    /// <summary>
    /// Where sender <paramref name="j"/>'s VIEW-CHANGE log must start for a checkpoint at <paramref name="seq"/>: the first
    /// counter of its PREPAREs/COMMITs for an instance above seq this replica handled, or the next counter it expects
    /// (epoch 0: never heard from j). Written into our CHECKPOINT (docs/minbft.md §4–§5).
    /// </summary>
    private void RunStart(uint j, ulong seq, out ulong epoch, out ulong counter)
    {
        if (j == _id) { epoch = _sent.LastEpoch; counter = _sent.LastCounter + 1; }
        else if (_order[j] is { } b) { var st = b.GetState(j); epoch = st.Epoch; counter = st.ExpectedCounter; }
        else { epoch = 0; counter = 0; return; }
        var seqs = _takenSeq[j];
        for (int i = 0; i < seqs.Length; i++)
            if (seqs[i] > seq && _takenEpoch[j][i] == epoch && _takenCounter[j][i] < counter) counter = _takenCounter[j][i];
        if (j == _id && epoch == 0) counter = 0;
    }

    /// <summary>Certified CHECKPOINT messages by sequence number and sender (the certificate a VIEW-CHANGE carries): a ring
    /// of 2L/K + 2 checkpoints × n preallocated buffers, so steady state allocates nothing.</summary>
    private ulong[] _cpSeq = [];
    private byte[][][] _cpMsg = [];
    private bool[][] _cpHas = [];

    private void InitCheckpointMessages()
    {
        int ring = 2 * _s.Window / _s.CheckpointInterval + 2;
        int len = MinBftBodies.CertifiedLength(MinBftBodies.CheckpointLength(_n));
        _cpSeq = new ulong[ring];
        _cpMsg = new byte[ring][][];
        _cpHas = new bool[ring][];
        for (int i = 0; i < ring; i++)
        {
            _cpMsg[i] = new byte[_n][];
            for (int j = 0; j < _n; j++) _cpMsg[i][j] = new byte[len];
            _cpHas[i] = new bool[_n];
        }
        _farCpSeq = new ulong[_n];
        _farCp = new byte[_n][];
        for (int j = 0; j < _n; j++) _farCp[j] = new byte[len];
    }

    /// <summary>Each sender's latest CHECKPOINT beyond the store's range (s &gt; h + 2L): kept so that a state transfer to it
    /// still has its certificate (the VIEW-CHANGE needs it, and <see cref="RebaseCounterOrder"/> its run starts).</summary>
    private ulong[] _farCpSeq = [];
    private byte[][] _farCp = [];

    private void StoreFarCheckpointMessage(ulong seq, uint sender, ReadOnlySpan<byte> message)
    {
        if (seq <= _farCpSeq[sender] || message.Length != _farCp[sender].Length) return;
        message.CopyTo(_farCp[sender]);
        _farCpSeq[sender] = seq;
    }

    /// <summary>CHECKPOINT(seq) of <paramref name="sender"/> from the store or the far store.</summary>
    private bool TryGetAnyCheckpointMessage(ulong seq, uint sender, out byte[] message)
    {
        if (TryGetCheckpointMessage(seq, sender, out message)) return true;
        message = _farCp[sender];
        return _farCpSeq[sender] == seq;
    }

    private void StoreCheckpointMessage(ulong seq, uint sender, ReadOnlySpan<byte> message)
    {
        int i = (int)(seq / (ulong)_s.CheckpointInterval % (ulong)_cpSeq.Length);
        if (_cpSeq[i] != seq) { _cpSeq[i] = seq; Array.Clear(_cpHas[i]); }
        if (_cpHas[i][sender] || message.Length != _cpMsg[i][sender].Length) return;
        message.CopyTo(_cpMsg[i][sender]);
        _cpHas[i][sender] = true;
    }

    /// <summary>The CHECKPOINT(seq) message of <paramref name="sender"/>, if held.</summary>
    private bool TryGetCheckpointMessage(ulong seq, uint sender, out byte[] message)
    {
        int i = (int)(seq / (ulong)_s.CheckpointInterval % (ulong)_cpSeq.Length);
        message = _cpMsg[i][sender];
        return _cpSeq[i] == seq && _cpHas[i][sender];
    }

    /// <summary>A verified CHECKPOINT (counted on receipt, in or out of counter order): a vote and a state-transfer hint.</summary>
    private void NoteCheckpointVote(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        ulong seq = h.Sequence;
        if (seq == 0 || seq % (ulong)_s.CheckpointInterval != 0 || seq < LowWatermark) return;
        var digest = MessageHeader.Body(message, h).Slice(0, Digests.Size);
        if (seq == LowWatermark)
        {
            // Our stable checkpoint, announced again (after a switch every replica certifies the checkpoint it started from):
            // kept as its certificate, which our VIEW-CHANGE carries.
            if (digest.SequenceEqual(_checkpoints.StableDigest.Span)) StoreCheckpointMessage(seq, h.Sender, message);
            return;
        }
        if (seq <= HighWatermark + (ulong)_s.Window)
        {
            StoreCheckpointMessage(seq, h.Sender, message);
            TransferIfCertified(seq, digest);
        }
        else StoreFarCheckpointMessage(seq, h.Sender, message);
        _stateTransfer.NoteCheckpoint(h.Sender, seq, digest, LastExecuted);
        if (seq > HighWatermark)
        {
            if (seq > Stats.HighestCheckpointSeen) Stats.HighestCheckpointSeen = seq;
            return;                                       // beyond our window: f+1 of these start a state transfer
        }
        _checkpoints.Record(seq, h.Sender, digest);
        TryStabilize(seq);
    }

    /// <summary>
    /// f+1 stored certified CHECKPOINT(seq) messages with one digest, above what we executed: a certificate (at least one
    /// correct replica took it), so we fetch that state. The shared trigger (<see cref="StateTransfer.NoteCheckpoint"/>)
    /// looks only at each sender's latest announcement; a replica that lagged gets its peers' CHECKPOINTs in fetch-answer
    /// bursts that end at different checkpoints, and their latest ones never match (V2, found by the simulator).
    /// </summary>
    private void TransferIfCertified(ulong seq, ReadOnlySpan<byte> digest)
    {
        if (seq <= LastExecuted || seq <= _stateTransfer.Target) return;
        ulong holders = 0;                                 // bit r: replica r's stored CHECKPOINT(seq) has this digest
        for (uint r = 0; r < _n; r++)
            if (r != _id && TryGetCheckpointMessage(seq, r, out var m) && m.AsSpan(MessageHeader.Size, Digests.Size).SequenceEqual(digest)) holders |= 1UL << (int)r;
        if (System.Numerics.BitOperations.PopCount(holders) < _q.Weak) return;
        Stats.CertifiedCheckpointTransfers++;
        _stateTransfer.FetchCertified(seq, digest, HoldersOf(holders));
    }

    private IEnumerable<uint> HoldersOf(ulong mask)
    {
        for (uint r = 0; r < _n; r++) if ((mask >> (int)r & 1) != 0) yield return r;
    }

    /// <summary>
    /// A CHECKPOINT in its sender's counter order (its vote was counted on receipt): it raises the sender's checkpoint,
    /// which bounds the instances its later PREPAREs/COMMITs may name (s ≤ checkpoint + L). A sender's checkpoints must
    /// increase in its counter order; one that does not parks the sender's queue for good (a correct replica never sends
    /// one) — so its VIEW-CHANGE log, which starts after the checkpoint a certificate names, covers every instance above it.
    /// </summary>
    private Handled OnCheckpointInOrder(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (h.Sequence == _peerCheckpoint[h.Sender] && _peerCheckpointFromNewView[h.Sender])
        {
            _peerCheckpointFromNewView[h.Sender] = false;  // its own CHECKPOINT of the stable checkpoint a NEW-VIEW set as its bound
            return Handled.Done;
        }
        if (h.Sequence <= _peerCheckpoint[h.Sender])
        {
            if (h.Sequence == _switchCheckpoint && h.View >= _switchView && _switchView > 0 && !_switchReannounced[h.Sender])
            {
                // A switch's re-announcement (InstallSwitch): every replica certifies the switch's checkpoint once more in the
                // new view, also one that certified a later checkpoint before the switch (an active replica ahead of the
                // coordinator's checkpoint). Taken once per sender without lowering its bound; parking it would block the
                // sender's queue for good (sim: f2/coordinator/mute/checkpointboundary/clean seed 358281228).
                _switchReannounced[h.Sender] = true;
                return Handled.Done;
            }
            Stats.CheckpointOrderViolations++;
            return Handled.Park;
        }
        _peerCheckpointFromNewView[h.Sender] = false;
        _peerCheckpoint[h.Sender] = h.Sequence;
        return Handled.Done;
    }

    private void TryStabilize(ulong seq)
    {
        if (seq <= LowWatermark || seq > LastExecuted) return;
        CountStoredCheckpointVotes(seq);
        int matching = _checkpoints.CountMatchingOwn(seq);
        if (matching < 0) return;
        if (matching >= _q.Checkpoint && (_observer is null || _observer.MayStabilize(seq)))
        {
            LowWatermark = seq;                           // stable: the log below is garbage (slots are reused by index)
            _checkpoints.MakeStable(seq);
            Stats.StableCheckpoints++;
            ForgetOwnCheckpointsBelow(seq);
        }
        else if (_checkpoints.HasConflictingQuorum(seq, _q.Checkpoint))
        {
            Stats.CheckpointDivergence++;
        }
    }

    /// <summary>
    /// Counts the stored CHECKPOINT(seq) messages of every peer as votes (M3): a CHECKPOINT that arrived while seq was above
    /// our window (but within h + 2L) was stored, not counted, and its re-sends are dropped as duplicate UIs. Votes are
    /// first-wins per sender, as the stored messages are, so counting again is a no-op. Bounded by n per checkpoint; no allocation.
    /// </summary>
    private void CountStoredCheckpointVotes(ulong seq)
    {
        for (uint j = 0; j < _n; j++)
        {
            if (j == _id || !TryGetCheckpointMessage(seq, j, out var msg)) continue;
            if (MessageHeader.TryParse(msg, int.MaxValue, out var h) != ParseStatus.Ok || h.Sequence != seq) continue;
            _checkpoints.Record(seq, j, MessageHeader.Body(msg, h).Slice(0, Digests.Size));
        }
    }

    /// <summary>A composing protocol's own stability condition for <paramref name="seq"/> now holds
    /// (<see cref="IMinBftObserver.MayStabilize"/>): stabilizes it if the core's quorum holds too, then resumes what waited for the window.</summary>
    public void RetryStabilize(ulong seq)
    {
        TryStabilize(seq);
        ResumeParked();
        EndOfBurst();
    }

    /// <summary>
    /// The UI (epoch, counter) of replica <paramref name="j"/>'s PREPARE/COMMIT for <paramref name="seq"/> that this core handled
    /// (its own included), if still in the 2L ring (ReMinBFT's CHECKPOINT counters, Thesis §5.4.2). False: not handled.
    /// </summary>
    public bool TryGetAgreementCounter(uint j, ulong seq, out ulong epoch, out ulong counter)
    {
        epoch = 0; counter = 0;
        if (j >= (uint)_n) return false;
        int i = (int)(seq % (ulong)_takenSeq[j].Length);
        if (_takenSeq[j][i] != seq || _takenCounter[j][i] == 0) return false;
        epoch = _takenEpoch[j][i]; counter = _takenCounter[j][i];
        return true;
    }

    private void ForgetOwnCheckpointsBelow(ulong seq)
    {
        if (_ownCheckpoint.Count <= 2) return;
        ulong k = (ulong)_s.CheckpointInterval;
        for (ulong s = seq - Math.Min(seq, (ulong)_s.Window); s < seq; s += k) _ownCheckpoint.Remove(s);
    }

    /// <inheritdoc/>
    void IStateTransferOutput.SendFetch(uint replica, ulong sequence, long offset)
        => StateTransferMessages.SendFetch(_builder, _out, View, replica, sequence, offset);

    /// <inheritdoc/>
    void IStateTransferOutput.SendStateData(uint replica, ulong sequence, int total, int offset, ReadOnlySpan<byte> chunk)
        => StateTransferMessages.SendStateData(_builder, _out, View, replica, sequence, total, offset, chunk);

    private void OnFetch(in MessageHeader h, ReadOnlySpan<byte> message)
        => _stateTransfer.OnFetch(h.Sender, h.Sequence, StateTransferMessages.FetchOffset(h, message));

    private void OnStateData(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (_stateTransfer.OnStateData(h.Sender, h.Sequence, MessageHeader.Body(message, h), LastExecuted)) Installed(_stateTransfer.Target, _stateTransfer.TargetDigest);
    }

    /// <summary>The execution stage installed the checkpoint at <paramref name="seq"/>: move the core's state there.</summary>
    private void Installed(ulong seq, ReadOnlySpan<byte> digest)
    {
        foreach (var rec in _clients.All)
        {
            ulong executed = _exec.Replies.LastExecutedRid(rec.ClientId);
            if (rec.HighestQueuedRid < executed) rec.HighestQueuedRid = executed;
        }
        LastExecuted = seq;
        ForgetExecutedAwaited();                           // the installed reply cache shows what executed: no view change for those
        if (LastPrepared < seq) LastPrepared = seq;        // PREPAREs up to seq are covered: the next one to bind is seq+1
        if (_lastCommitQueued < seq) _lastCommitQueued = seq;
        for (ulong s = seq; s > seq - Math.Min(seq, (ulong)_slots.Length); s--)
        {
            var slot = SlotOf(s);
            if (slot.Seq <= seq) slot.Reset(0, View);
        }
        Span<byte> d = stackalloc byte[Digests.Size];
        digest.CopyTo(d);
        _checkpoints.RecordOwn(seq, d, _id);
        if (seq > LowWatermark) LowWatermark = seq;
        _checkpoints.MakeStable(seq);
        Stats.StateTransfers++;
        _stateTransfer.Finish();
        QueueCheckpoint(seq, d);                           // our own certified CHECKPOINT for the installed state
        // COMMITs for PREPAREs bound while the transfer ran (a NEW-VIEW moved the window to seq first) waited for that
        // CHECKPOINT (QueueCommits); with no later PREPARE to trigger them they were never sent (M8).
        QueueCommits();
        for (uint r = 0; r < _n; r++)                      // the certificate of a checkpoint announced from far ahead: into the store (VIEW-CHANGE)
            if (r != _id && _farCpSeq[r] == seq && _farCp[r].AsSpan(MessageHeader.Size, Digests.Size).SequenceEqual(d)) StoreCheckpointMessage(seq, r, _farCp[r]);
        RebaseCounterOrder(seq, d);
        ExecuteReady();
        ResumeParked();
        EndOfBurst();
    }

    /// <summary>
    /// After a state transfer to the certified checkpoint <paramref name="seq"/>: a peer's queue that waits for a counter
    /// no one can re-send any more (garbage below the peers' stable checkpoints, or withheld from us alone) would block
    /// that peer for good (V2). The f+1 certified CHECKPOINT(seq) messages report, for each replica j, where j's messages
    /// about instances above seq start (<see cref="RunStart"/>); at least one reporter is correct, so everything of j
    /// before the smallest report is about instances the installed state covers, or is a CHECKPOINT, VIEW-CHANGE or
    /// NEW-VIEW. We skip to it only when every certificate CHECKPOINT was certified in our current view and we are not
    /// changing views — then no NEW-VIEW we still need can be among the skipped. j's checkpoint bound becomes seq.
    /// </summary>
    private void RebaseCounterOrder(ulong seq, ReadOnlySpan<byte> digest)
    {
        if (_inViewChange) return;
        int certificate = 0;
        for (uint r = 0; r < _n; r++)
        {
            if (r == _id || !TryGetAnyCheckpointMessage(seq, r, out var m) || !m.AsSpan(MessageHeader.Size, Digests.Size).SequenceEqual(digest)) continue;
            if (MessageHeader.TryParse(m, int.MaxValue, out var mh) != ParseStatus.Ok || mh.View != View) return;
            certificate++;
        }
        if (certificate < _q.Weak) return;
        for (uint j = 0; j < _n; j++)
        {
            if (j == _id || _order[j] is not { } b) continue;
            var st = b.GetState(j);
            ulong start = ulong.MaxValue;
            for (uint r = 0; r < _n && start != 0; r++)
            {
                if (r == _id || !TryGetAnyCheckpointMessage(seq, r, out var m) || !m.AsSpan(MessageHeader.Size, Digests.Size).SequenceEqual(digest)) continue;
                var report = m.AsSpan(MessageHeader.Size + Digests.Size + 16 * (int)j, 16);
                ulong re = BinaryPrimitives.ReadUInt64LittleEndian(report), rc = BinaryPrimitives.ReadUInt64LittleEndian(report.Slice(8));
                if (re != st.Epoch || rc == 0) start = 0;   // a reporter that knew j in another epoch (or not at all): leave j alone
                else if (rc < start) start = rc;
            }
            if (start == 0 || start == ulong.MaxValue || start <= st.ExpectedCounter) continue;
            var nb = new CounterOrderBuffer<HeldMessage?>(_n, OrderCapacity);   // what was buffered beyond is fetched again
            nb.Register(j, st.Epoch, start);
            _order[j] = nb;
            Stats.CounterOrderRebases++;
            CounterOrderJumped?.Invoke(j, st.Epoch, start - 1);
            if (_parked[j] is { } p) { _parked[j] = null; Return(p); }
            if (seq > _peerCheckpoint[j]) { _peerCheckpoint[j] = seq; _peerCheckpointFromNewView[j] = true; }
        }
    }
}
