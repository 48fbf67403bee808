using System.Buffers.Binary;
using FastBft.Execution;
using FastBft.Wire;

namespace FastBft.Agreement.Pbft;

/// <summary>
/// State transfer (PROTOCOLS.md §3.7; PBFT-PR §4.6.2) of the PBFT core: the <see cref="StateTransfer"/>
/// component fetches and verifies; this part builds its FETCH / STATE-DATA messages and moves the core's
/// state once a snapshot is installed. The checkpoint digest is
/// SHA-256 of the checkpoint snapshot the execution stage took (<see cref="IExecutionStage.TakeCheckpoint"/>:
/// the service snapshot followed by the reply cache), so the reply cache travels with the state and
/// is verified with it. The stage keeps the snapshot of each checkpoint inside the window. A replica that holds f+1 matching CHECKPOINTs for a
/// sequence number above its last executed one, and makes no progress for 2 × RetransmitTicks ticks,
/// fetches that snapshot in chunks (FETCH / STATE-DATA, docs/wire-format.md), rotating the replica it
/// asks on every stall, verifies the assembled bytes against the digest, and installs it.
/// </summary>
/// <remarks>Not yet the partition tree of PBFT-PR: the whole snapshot is hashed at every checkpoint
/// (fine for small services; a large service needs an incremental tree) — see docs/state-transfer.md.</remarks>
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
        Stats.StateTransfers++;
        Span<byte> d = stackalloc byte[Digests.Size];
        digest.CopyTo(d);
        _stateTransfer.Finish();
        BroadcastCheckpoint(seq, d);
        ExecuteReady();
        EndOfBurst();
    }
}
