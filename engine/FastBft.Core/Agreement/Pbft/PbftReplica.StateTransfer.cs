using System.Buffers.Binary;
using FastBft.Execution;
using FastBft.Wire;

namespace FastBft.Agreement.Pbft;

/// <summary>
/// State transfer (PROTOCOLS.md §3.7; PBFT-PR §4.6.2), simplified: the checkpoint digest is
/// SHA-256 of the checkpoint snapshot the execution stage took (<see cref="IExecutionStage.TakeCheckpoint"/>:
/// the service snapshot followed by the reply cache), so the reply cache travels with the state and
/// is verified with it. The stage keeps the snapshot of each checkpoint inside the window. A replica that holds f+1 matching CHECKPOINTs for a
/// sequence number above its last executed one, and makes no progress for 2 × RetransmitTicks ticks,
/// fetches that snapshot in chunks (FETCH / STATE-DATA, docs/wire-format.md), rotating the replica it
/// asks on every stall, verifies the assembled bytes against the digest, and installs it.
/// </summary>
/// <remarks>Not yet the partition tree of PBFT-PR: the whole snapshot is hashed at every checkpoint
/// (fine for small services; a large service needs an incremental tree) — see docs/state-transfer.md.</remarks>
public sealed partial class PbftReplica
{
    /// <summary>Bytes of snapshot per STATE-DATA message.</summary>
    public const int StateChunkSize = 1024;

    private ulong[]? _latestCpSeq;         // latest checkpoint seq each replica announced above our LastExecuted
    private byte[]? _latestCpDigest;       // n × 32
    private ulong _fetchSeq;                // 0 = not fetching
    private readonly byte[] _fetchDigest = new byte[Digests.Size];
    private byte[] _fetchBuffer = new byte[StateChunkSize];
    private int _fetchReceived, _fetchTotal = -1, _fetchStall;
    private uint _fetchFrom;

    /// <summary>Completed state transfers.</summary>
    public long StateTransfers => Stats.StateTransfers;

    /// <summary>Remembers the latest checkpoint each replica announced above our state; f+1 matching start a fetch.</summary>
    private void NoteCheckpointVote(uint sender, ulong seq, ReadOnlySpan<byte> digest)
    {
        if (seq <= LastExecuted || seq <= _fetchSeq) return;
        _latestCpSeq ??= new ulong[_n];
        _latestCpDigest ??= new byte[_n * Digests.Size];
        if (seq < _latestCpSeq[sender]) return;
        _latestCpSeq[sender] = seq;
        digest.CopyTo(_latestCpDigest.AsSpan((int)sender * Digests.Size, Digests.Size));
        int matching = 0;
        for (int r = 0; r < _n; r++)
            if (_latestCpSeq[r] == seq && _latestCpDigest.AsSpan(r * Digests.Size, Digests.Size).SequenceEqual(digest)) matching++;
        if (matching < _s.F + 1) return;               // f+1: at least one correct replica took this checkpoint
        _fetchSeq = seq;
        digest.CopyTo(_fetchDigest);
        _fetchReceived = 0; _fetchTotal = -1; _fetchStall = 0;
        _fetchFrom = sender;
    }

    /// <summary>Per tick: a fetch target that normal execution does not reach soon is fetched.</summary>
    private void StateTransferTick()
    {
        if (_fetchSeq == 0) return;
        if (_fetchSeq <= LastExecuted) { _fetchSeq = 0; return; }
        if (++_fetchStall < 2 * _s.RetransmitTicks) return;
        _fetchStall = 0;
        // Rotate to another replica that announced the target (or any other replica) on every stall.
        for (int k = 1; k <= _n; k++)
        {
            uint r = (uint)((_fetchFrom + k) % (uint)_n);
            if (r == _id) continue;
            if (_latestCpSeq is not null && _latestCpSeq[r] == _fetchSeq) { _fetchFrom = r; break; }
        }
        _fetchReceived = 0; _fetchTotal = -1;
        SendFetch();
    }

    private void SendFetch()
    {
        var body = _builder.BeginVector(MessageType.Fetch, View, _fetchSeq, 8);
        BinaryPrimitives.WriteInt64LittleEndian(body, _fetchReceived);
        _out.SendToReplica(_fetchFrom, _builder.SealVector());
        Stats.FetchesSent++;
    }

    private void OnFetch(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (!_exec.TryGetCheckpoint(h.Sequence, out var snap)) return;
        long offset = BinaryPrimitives.ReadInt64LittleEndian(MessageHeader.Body(message, h));
        if (offset < 0 || offset > snap.Length) return;
        int len = (int)Math.Min(StateChunkSize, snap.Length - offset);
        var body = _builder.BeginVector(MessageType.StateData, View, h.Sequence, 8 + len);
        BinaryPrimitives.WriteInt32LittleEndian(body, snap.Length);
        BinaryPrimitives.WriteInt32LittleEndian(body.Slice(4), (int)offset);
        snap.Slice((int)offset, len).CopyTo(body.Slice(8));
        _out.SendToReplica(h.Sender, _builder.SealVector());
        Stats.StateChunksSent++;
    }

    private void OnStateData(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (_fetchSeq == 0 || h.Sequence != _fetchSeq || h.Sender != _fetchFrom) return;
        // L9: normal execution reached the target meanwhile — installing it now would roll the state back.
        if (_fetchSeq <= LastExecuted) { _fetchSeq = 0; Stats.StateTransfersAbandoned++; return; }
        var body = MessageHeader.Body(message, h);
        int total = BinaryPrimitives.ReadInt32LittleEndian(body);
        int offset = BinaryPrimitives.ReadInt32LittleEndian(body.Slice(4));
        var chunk = body.Slice(8);
        // R3: the claimed total is bounded and the buffer grows only with bytes actually received.
        if (total <= 0 || total > _s.MaxStateBytes || offset != _fetchReceived || (_fetchTotal >= 0 && total != _fetchTotal) || chunk.Length > total - offset) { Stats.BadStateTransfers++; return; }
        if (chunk.Length == 0 && offset < total) return;
        _fetchTotal = total;
        int need = offset + chunk.Length;
        if (_fetchBuffer.Length < need) Array.Resize(ref _fetchBuffer, (int)Math.Min(total, Math.Max(need, 2L * _fetchBuffer.Length)));
        chunk.CopyTo(_fetchBuffer.AsSpan(offset));
        _fetchReceived += chunk.Length;
        _fetchStall = 0;
        if (_fetchReceived < total) { SendFetch(); return; }
        Span<byte> d = stackalloc byte[Digests.Size];
        Digests.Sha256(_fetchBuffer.AsSpan(0, total), d);
        if (!d.SequenceEqual(_fetchDigest)) { Stats.BadStateTransfers++; _fetchReceived = 0; _fetchTotal = -1; _fetchStall = int.MaxValue - 1; return; }
        InstallSnapshot(_fetchSeq, _fetchBuffer.AsSpan(0, total), d);
    }

    private void InstallSnapshot(ulong seq, ReadOnlySpan<byte> snap, ReadOnlySpan<byte> digest)
    {
        if (seq <= LastExecuted) { _fetchSeq = 0; Stats.StateTransfersAbandoned++; return; }   // L9: never roll back
        if (!_exec.TryInstallCheckpoint(seq, snap)) { _fetchSeq = 0; Stats.BadStateTransfers++; return; }
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
        _fetchSeq = 0;
        BroadcastCheckpoint(seq, digest);
        ExecuteReady();
        EndOfBurst();
    }
}
