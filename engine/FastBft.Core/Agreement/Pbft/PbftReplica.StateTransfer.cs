using System.Buffers.Binary;
using FastBft.Execution;
using FastBft.Wire;

namespace FastBft.Agreement.Pbft;

/// <summary>
/// State transfer (PROTOCOLS.md §3.7; PBFT-PR §4.6.2) of the PBFT core: the <see cref="StateTransfer"/>
/// component fetches and verifies; this part builds its FETCH / STATE-DATA messages and moves the core's
/// state once a checkpoint is installed. The checkpoint digest is the one the execution stage computed
/// (<see cref="IExecutionStage.TakeCheckpoint"/>: SHA-256 of the checkpoint's meta object over the partition tree
/// and the reply cache, docs/state-transfer.md §2), so the reply cache travels with the state and is verified
/// with it. A replica that holds f+1 matching CHECKPOINTs for a sequence number above its last executed one, and
/// makes no progress for 2 × RetransmitTicks ticks, fetches the objects of that checkpoint that differ from its
/// own state (FETCH / STATE-DATA, docs/wire-format.md), rotating the replica it asks on every stall, verifies each
/// against the certified tree, and installs them.
/// </summary>
public sealed partial class PbftReplica : IStateTransferOutput
{
    /// <summary>Bytes of snapshot per STATE-DATA message.</summary>
    public const int StateChunkSize = StateTransfer.ChunkSize;

    private StateTransfer _stateTransfer = null!;

    /// <summary>Completed state transfers.</summary>
    public long StateTransfers => Stats.StateTransfers;

    private void NoteCheckpointVote(uint sender, ulong seq, ReadOnlySpan<byte> digest) => _stateTransfer.NoteCheckpoint(sender, seq, digest, LastExecuted);

    private void StateTransferTick() => _stateTransfer.Tick(LastExecuted);

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
        if (LastAssigned < seq) LastAssigned = seq;
        ForgetExecutedAwaited();                       // L7: the installed reply cache shows what executed
        for (ulong s = seq; s > seq - Math.Min(seq, (ulong)_slots.Length); s--)
        {
            var slot = SlotOf(s);
            if (slot.Seq <= seq) slot.Reset(0, View);
        }
        _checkpoints.RecordOwn(seq, digest, _id);
        if (seq > LowWatermark) LowWatermark = seq;
        _checkpoints.MakeStable(seq);
        PruneCertificates();
        PersistState(sync: false, viewRecord: false, deleteThrough: seq);
        Stats.StateTransfers++;
        Span<byte> d = stackalloc byte[Digests.Size];
        digest.CopyTo(d);
        _stateTransfer.Finish();
        BroadcastCheckpoint(seq, d);
        ExecuteReady();
        EndOfBurst();
    }
}
