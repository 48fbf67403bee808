using System.Buffers.Binary;
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
        TryStabilize(seq);
    }

    private void QueueCheckpoint(ulong seq, ReadOnlySpan<byte> digest)
    {
        var body = _outbox.Begin(MessageType.UiCheckpoint, View, seq, MinBftBodies.CheckpointLength);
        digest.CopyTo(body);
        _outbox.End();
    }

    /// <summary>A verified CHECKPOINT (counted on receipt, in or out of counter order): a vote and a state-transfer hint.</summary>
    private void NoteCheckpointVote(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        ulong seq = h.Sequence;
        if (seq == 0 || seq % (ulong)_s.CheckpointInterval != 0 || seq <= LowWatermark) return;
        var digest = MessageHeader.Body(message, h);
        _stateTransfer.NoteCheckpoint(h.Sender, seq, digest, LastExecuted);
        if (seq > HighWatermark)
        {
            if (seq > Stats.HighestCheckpointSeen) Stats.HighestCheckpointSeen = seq;
            return;                                       // beyond our window: f+1 of these start a state transfer
        }
        _checkpoints.Record(seq, h.Sender, digest);
        TryStabilize(seq);
    }

    /// <summary>A CHECKPOINT in its sender's counter order: already counted on receipt.</summary>
    private void OnCheckpointInOrder(in MessageHeader h, ReadOnlySpan<byte> message) { }

    private void TryStabilize(ulong seq)
    {
        if (seq <= LowWatermark || seq > LastExecuted) return;
        int matching = _checkpoints.CountMatchingOwn(seq);
        if (matching < 0) return;
        if (matching >= _q.Checkpoint)
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

    private void ForgetOwnCheckpointsBelow(ulong seq)
    {
        if (_ownCheckpoint.Count <= 2) return;
        ulong k = (ulong)_s.CheckpointInterval;
        for (ulong s = seq - Math.Min(seq, (ulong)_s.Window); s < seq; s += k) _ownCheckpoint.Remove(s);
    }

    /// <inheritdoc/>
    void IStateTransferOutput.SendFetch(uint replica, ulong sequence, long offset)
    {
        var body = _builder.BeginVector(MessageType.Fetch, View, sequence, 8);
        BinaryPrimitives.WriteInt64LittleEndian(body, offset);
        _out.SendToReplica(replica, _builder.SealVector());
    }

    /// <inheritdoc/>
    void IStateTransferOutput.SendStateData(uint replica, ulong sequence, int total, int offset, ReadOnlySpan<byte> chunk)
    {
        var body = _builder.BeginVector(MessageType.StateData, View, sequence, 8 + chunk.Length);
        BinaryPrimitives.WriteInt32LittleEndian(body, total);
        BinaryPrimitives.WriteInt32LittleEndian(body.Slice(4), offset);
        chunk.CopyTo(body.Slice(8));
        _out.SendToReplica(replica, _builder.SealVector());
    }

    private void OnFetch(in MessageHeader h, ReadOnlySpan<byte> message)
        => _stateTransfer.OnFetch(h.Sender, h.Sequence, BinaryPrimitives.ReadInt64LittleEndian(MessageHeader.Body(message, h)));

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
        ExecuteReady();
        ResumeParked();
        EndOfBurst();
    }
}
