using System.Buffers.Binary;
using FastBft.Execution;
using FastBft.Wire;

namespace FastBft.Agreement;

/// <summary>How a <see cref="StateTransfer"/> sends its messages (the core owns the message builder and view).</summary>
public interface IStateTransferOutput
{
    /// <summary>Sends FETCH(seq, offset) to <paramref name="replica"/>.</summary>
    void SendFetch(uint replica, ulong sequence, long offset);
    /// <summary>Sends STATE-DATA(seq, total, offset, chunk) to <paramref name="replica"/>.</summary>
    void SendStateData(uint replica, ulong sequence, int total, int offset, ReadOnlySpan<byte> chunk);
}

/// <summary>
/// State transfer as a component (PROTOCOLS.md §3.7; PBFT-PR §4.6.2), shared by every protocol whose
/// checkpoints are certified by matching CHECKPOINT messages. It remembers the latest checkpoint each
/// replica announced above this replica's state; once <c>weak</c> (f+1) replicas announced the same
/// (sequence number, digest), at least one correct replica holds that checkpoint, and if normal
/// execution does not reach it within 2 × retransmit ticks, the snapshot is fetched in chunks of
/// <see cref="ChunkSize"/> bytes (FETCH / STATE-DATA, docs/wire-format.md), rotating the replica asked on
/// every stall. The assembled bytes are checked against the certified digest and installed through
/// the <see cref="IExecutionStage"/>; the core then moves its own watermarks when <see cref="OnStateData"/> returns true.
/// A peer's claimed total is bounded by <c>maxStateBytes</c> and the buffer grows only with bytes
/// received (R3); a snapshot at or below the last executed sequence number is never installed (L9).
/// Single-threaded.
/// </summary>
public sealed class StateTransfer
{
    /// <summary>Bytes of snapshot per STATE-DATA message.</summary>
    public const int ChunkSize = 1024;

    private readonly uint _self;
    private readonly int _n, _weak, _stallTicks, _maxStateBytes;
    private readonly IExecutionStage _exec;
    private readonly IStateTransferOutput _out;
    private readonly ReplicaCounters _counters;
    private readonly ulong[] _announcedSeq;        // latest checkpoint each replica announced above our state
    private readonly MatchingVotes _announced;      // key = SHA-256(seq ‖ digest) per replica
    private readonly byte[] _fetchDigest = new byte[Digests.Size];
    private byte[] _buffer = new byte[ChunkSize];
    private int _received, _total = -1, _stall;
    private uint _from;

    /// <summary>Creates the component of replica <paramref name="self"/> in a cell of <paramref name="n"/> replicas.</summary>
    /// <param name="self">this replica.</param>
    /// <param name="n">replicas.</param>
    /// <param name="weak">matching announcements that contain a correct replica (f+1).</param>
    /// <param name="retransmitTicks">the core's retransmission period; a fetch starts after twice it without progress.</param>
    /// <param name="maxStateBytes">largest snapshot accepted, bytes.</param>
    /// <param name="execution">the execution stage that serves and installs snapshots.</param>
    /// <param name="output">where FETCH / STATE-DATA go.</param>
    /// <param name="counters">the core's counters: FETCHes sent, chunks served, bad data, abandoned fetches are counted there.</param>
    public StateTransfer(uint self, int n, int weak, int retransmitTicks, int maxStateBytes, IExecutionStage execution, IStateTransferOutput output, ReplicaCounters counters)
    {
        _self = self; _n = n; _weak = weak; _stallTicks = 2 * retransmitTicks; _maxStateBytes = maxStateBytes;
        _exec = execution; _out = output; _counters = counters;
        _announcedSeq = new ulong[n];
        _announced = new MatchingVotes(n);
    }

    /// <summary>Sequence number being fetched (0 = none).</summary>
    public ulong Target { get; private set; }
    /// <summary>True while a checkpoint is being fetched.</summary>
    public bool Fetching => Target != 0;

    private static void Key(ulong seq, ReadOnlySpan<byte> digest, Span<byte> key)
    {
        Span<byte> b = stackalloc byte[8 + Digests.Size];
        BinaryPrimitives.WriteUInt64LittleEndian(b, seq);
        digest.Slice(0, Digests.Size).CopyTo(b.Slice(8));
        Digests.Sha256(b, key);
    }

    /// <summary>A CHECKPOINT (or a NEW-VIEW's chosen checkpoint) from <paramref name="sender"/> for <paramref name="seq"/>; starts a fetch target once f+1 match.</summary>
    public void NoteCheckpoint(uint sender, ulong seq, ReadOnlySpan<byte> digest, ulong lastExecuted)
    {
        if (sender >= (uint)_n || seq <= lastExecuted || seq <= Target || seq < _announcedSeq[sender]) return;
        _announcedSeq[sender] = seq;
        Span<byte> key = stackalloc byte[Digests.Size];
        Key(seq, digest, key);
        _announced.Replace(sender, key);
        if (_announced.CountMatching(key) < _weak) return;     // f+1: at least one correct replica took this checkpoint
        Start(seq, digest, sender, immediately: false);
    }

    /// <summary>A checkpoint certified otherwise (a NEW-VIEW's chosen checkpoint, S2): fetch it on the next tick from one of <paramref name="holders"/>.</summary>
    public void FetchCertified(ulong seq, ReadOnlySpan<byte> digest, IEnumerable<uint> holders)
    {
        Span<byte> key = stackalloc byte[Digests.Size];
        Key(seq, digest, key);
        uint from = uint.MaxValue;
        foreach (var r in holders)
        {
            if (r == _self || r >= (uint)_n) continue;
            _announcedSeq[r] = seq;
            _announced.Replace(r, key);
            if (from == uint.MaxValue) from = r;
        }
        Start(seq, digest, from == uint.MaxValue ? _from : from, immediately: true);
    }

    private void Start(ulong seq, ReadOnlySpan<byte> digest, uint from, bool immediately)
    {
        Target = seq;
        digest.CopyTo(_fetchDigest);
        _received = 0; _total = -1;
        _stall = immediately ? _stallTicks : 0;
        _from = from;
    }

    /// <summary>Per tick: a target that normal execution does not reach soon is fetched, from another holder on every stall.</summary>
    public void Tick(ulong lastExecuted)
    {
        if (Target == 0) return;
        if (Target <= lastExecuted) { Target = 0; return; }
        if (++_stall < _stallTicks) return;
        _stall = 0;
        Span<byte> key = stackalloc byte[Digests.Size];
        Key(Target, _fetchDigest, key);
        for (int k = 1; k <= _n; k++)
        {
            uint r = (uint)((_from + k) % (uint)_n);
            if (r == _self) continue;
            if (_announcedSeq[r] == Target && _announced.HasVoted(r) && _announced.VoteOf(r).SequenceEqual(key)) { _from = r; break; }
        }
        _received = 0; _total = -1;
        SendFetch();
    }

    private void SendFetch()
    {
        _out.SendFetch(_from, Target, _received);
        _counters.FetchesSent++;
    }

    /// <summary>FETCH(seq, offset) from <paramref name="sender"/>: answers with the chunk at offset of the kept snapshot, if any.</summary>
    public void OnFetch(uint sender, ulong seq, long offset)
    {
        if (!_exec.TryGetCheckpoint(seq, out var snap)) return;
        if (offset < 0 || offset > snap.Length) return;
        int len = (int)Math.Min(ChunkSize, snap.Length - offset);
        _out.SendStateData(sender, seq, snap.Length, (int)offset, snap.Slice((int)offset, len));
        _counters.StateChunksSent++;
    }

    /// <summary>
    /// STATE-DATA from <paramref name="sender"/>. Returns true when it completed the snapshot, which was
    /// verified against the certified digest and installed in the execution stage: the caller then
    /// moves its state to <see cref="Target"/> (read it before calling <see cref="Finish"/>).
    /// </summary>
    /// <param name="sender">the replica that sent it (only the one asked is listened to).</param>
    /// <param name="seq">the header's sequence number.</param>
    /// <param name="body">total[4] ‖ offset[4] ‖ chunk.</param>
    /// <param name="lastExecuted">the replica's last executed sequence number.</param>
    public bool OnStateData(uint sender, ulong seq, ReadOnlySpan<byte> body, ulong lastExecuted)
    {
        if (Target == 0 || seq != Target || sender != _from || body.Length < 8) return false;
        // L9: normal execution reached the target meanwhile — installing it now would roll the state back.
        if (Target <= lastExecuted) { Target = 0; _counters.StateTransfersAbandoned++; return false; }
        int total = BinaryPrimitives.ReadInt32LittleEndian(body);
        int offset = BinaryPrimitives.ReadInt32LittleEndian(body.Slice(4));
        var chunk = body.Slice(8);
        // R3: the claimed total is bounded and the buffer grows only with bytes actually received.
        if (total <= 0 || total > _maxStateBytes || offset != _received || (_total >= 0 && total != _total) || chunk.Length > total - offset) { _counters.BadStateTransfers++; return false; }
        if (chunk.Length == 0 && offset < total) return false;
        _total = total;
        int need = offset + chunk.Length;
        if (_buffer.Length < need) Array.Resize(ref _buffer, (int)Math.Min(total, Math.Max(need, 2L * _buffer.Length)));
        chunk.CopyTo(_buffer.AsSpan(offset));
        _received += chunk.Length;
        _stall = 0;
        if (_received < total) { SendFetch(); return false; }
        Span<byte> d = stackalloc byte[Digests.Size];
        Digests.Sha256(_buffer.AsSpan(0, total), d);
        if (!d.SequenceEqual(_fetchDigest)) { _counters.BadStateTransfers++; _received = 0; _total = -1; _stall = int.MaxValue - 1; return false; }
        if (!_exec.TryInstallCheckpoint(Target, _buffer.AsSpan(0, total))) { _counters.BadStateTransfers++; Target = 0; return false; }
        return true;
    }

    /// <summary>The digest of the target checkpoint (32 bytes).</summary>
    public ReadOnlySpan<byte> TargetDigest => _fetchDigest;

    /// <summary>Ends the current transfer (after the caller moved its state, or to abandon it).</summary>
    public void Finish() => Target = 0;
}
