using System.Buffers.Binary;
using FastBft.Execution;
using FastBft.Execution.Checkpoints;
using FastBft.Wire;

namespace FastBft.Agreement;

/// <summary>How a <see cref="StateTransfer"/> sends its messages (the core owns the message builder and view).</summary>
public interface IStateTransferOutput
{
    /// <summary>Sends FETCH(seq, field) to <paramref name="replica"/> (field = object ≪ 40 | byte offset, <see cref="StateTransfer.EncodeFetch"/>).</summary>
    void SendFetch(uint replica, ulong sequence, long offset);
    /// <summary>Sends STATE-DATA(seq, total, offset, chunk) to <paramref name="replica"/>.</summary>
    void SendStateData(uint replica, ulong sequence, int total, int offset, ReadOnlySpan<byte> chunk);
}

/// <summary>
/// State transfer as a component (PROTOCOLS.md §3.7; PBFT-PR §4.6.2, §5.3.2), shared by every protocol whose
/// checkpoints are certified by matching CHECKPOINT messages. It remembers the latest checkpoint each
/// replica announced above this replica's state; once <c>weak</c> (f+1) replicas announced the same
/// (sequence number, digest), at least one correct replica holds that checkpoint, and if normal
/// execution does not reach it within 2 × retransmit ticks, the checkpoint is fetched object by object
/// (docs/state-transfer.md §3): object 0, whose SHA-256 must equal the certified digest, then the objects the
/// execution stage's <see cref="ICheckpointFetch"/> asks for (the leaf digests of differing groups, then the
/// differing partitions), each in chunks of at most <see cref="ChunkSize"/> bytes (FETCH / STATE-DATA,
/// docs/wire-format.md). The session verifies each object against the tree above it; a forged object is dropped and
/// the next holder is asked. The core moves its own watermarks when <see cref="OnStateData"/> returns true.
/// A peer's claimed total is bounded per object (object 0 and partitions by <c>maxStateBytes</c>, leaf lists by
/// their exact size) and the buffer grows only with bytes received (R3); a checkpoint at or below the last executed
/// sequence number is never installed (L9). Single-threaded.
/// </summary>
public sealed class StateTransfer
{
    /// <summary>Bytes of a checkpoint object per STATE-DATA message.</summary>
    public const int ChunkSize = 16 * 1024;

    /// <summary>FETCH's offset field carries the object id in its bits 40..62 and the byte offset in bits 0..39.</summary>
    public const int ObjectShift = 40;

    private const long OffsetMask = (1L << ObjectShift) - 1;

    private readonly uint _self;
    private readonly int _n, _weak, _stallTicks, _maxStateBytes;
    private readonly IExecutionStage _exec;
    private readonly IStateTransferOutput _out;
    private readonly ReplicaCounters _counters;
    private readonly ulong[] _announcedSeq;        // latest checkpoint each replica announced above our state
    private readonly MatchingVotes _announced;      // key = SHA-256(seq ‖ digest) per replica
    private readonly byte[] _fetchDigest = new byte[Digests.Size];
    private byte[] _buffer = new byte[1024];
    private int _received, _total = -1, _stall;
    private uint _from, _object;
    private uint _round;                                     // Rotate's round over all replicas
    private ICheckpointFetch? _session;

    /// <summary>Creates the component of replica <paramref name="self"/> in a cell of <paramref name="n"/> replicas.</summary>
    /// <param name="self">this replica.</param>
    /// <param name="n">replicas.</param>
    /// <param name="weak">matching announcements that contain a correct replica (f+1).</param>
    /// <param name="retransmitTicks">the core's retransmission period; a fetch starts after twice it without progress.</param>
    /// <param name="maxStateBytes">largest object (and largest sum of buffered partitions) accepted, bytes.</param>
    /// <param name="execution">the execution stage that serves and installs checkpoints.</param>
    /// <param name="output">where FETCH / STATE-DATA go.</param>
    /// <param name="counters">the core's counters: FETCHes sent, chunks served, bytes received, bad data, abandoned fetches are counted there.</param>
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
    /// <summary>The object being fetched (0 = the meta object).</summary>
    public uint CurrentObject => _object;

    /// <summary>FETCH's 8-byte field for (object, byte offset).</summary>
    public static long EncodeFetch(uint obj, long offset) => ((long)obj << ObjectShift) | (offset & OffsetMask);

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
        if (sender >= (uint)_n || seq <= lastExecuted || seq < _announcedSeq[sender]) return;
        _announcedSeq[sender] = seq;
        Span<byte> key = stackalloc byte[Digests.Size];
        Key(seq, digest, key);
        _announced.Replace(sender, key);
        // The current target (or an older one): nothing to start, but the sender holds that state, so Rotate may fetch from it.
        // A target set from a certificate whose holders are faulty or gone (FetchCertified) otherwise never learns of the
        // correct replica that announces it later (sim: minbft f1/follower/mute/checkpointboundary/partitionheal seed 470232225).
        if (seq <= Target) return;
        if (_announced.CountMatching(key) < _weak) return;     // f+1: at least one correct replica took this checkpoint
        if (FinishBeforeNewerTarget && _session is not null)
        {
            // Objects of the current target are already verified: finish it (the next transfer is again only a difference)
            // and remember the newer one, unless the current target's holders stop answering (Tick).
            _pendingSeq = seq; digest.Slice(0, Digests.Size).CopyTo(_pendingDigest); _pendingFrom = sender;
            return;
        }
        Start(seq, digest, sender, immediately: false);
    }

    /// <summary>
    /// When true, a newer certified checkpoint that arrives while a fetch is past its meta object is fetched after the
    /// current one (the verified objects are not thrown away); when false (default, as before issue 13) the fetch moves to
    /// the newer checkpoint at once.
    /// </summary>
    public bool FinishBeforeNewerTarget { get; init; }

    private ulong _pendingSeq;
    private readonly byte[] _pendingDigest = new byte[Digests.Size];
    private uint _pendingFrom;
    private int _stalls;

    private bool StartPending(ulong lastExecuted)
    {
        if (_pendingSeq <= lastExecuted || _pendingSeq <= Target && Target != 0) { _pendingSeq = 0; return false; }
        ulong seq = _pendingSeq;
        _pendingSeq = 0;
        Start(seq, _pendingDigest, _pendingFrom, immediately: false);
        return true;
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
        _received = 0; _total = -1; _object = 0; _session = null; _stalls = 0;
        _stall = immediately ? _stallTicks : 0;
        _from = from;
    }

    /// <summary>Per tick: a target that normal execution does not reach soon is fetched, from another holder on every stall.</summary>
    public void Tick(ulong lastExecuted)
    {
        if (Target == 0) { if (_pendingSeq != 0) StartPending(lastExecuted); return; }
        if (Target <= lastExecuted) { Target = 0; _session = null; StartPending(lastExecuted); return; }
        if (++_stall < _stallTicks) return;
        _stall = 0;
        // Every holder was asked without progress (they may have discarded this checkpoint): move to the newer one.
        if (++_stalls > _n && _pendingSeq != 0 && StartPending(lastExecuted)) return;
        Rotate();
        _received = 0; _total = -1;                         // objects already verified stay; the current one restarts
        SendFetch();
    }

    /// <summary>
    /// The next replica to ask after a stall: on odd stalls another replica that announced this target (the next in
    /// order), on even stalls — or when no other replica announced it — the next replica of a round over all of them. What
    /// a replica sends is checked against the certified digest, so asking one that did not announce the target is safe; it
    /// is what reaches a correct holder when the announced ones are faulty or gone, or when the correct holder's latest
    /// announcement is a later checkpoint (sim: minbft f1/follower/mute/checkpointboundary/partitionheal seed 470232225:
    /// the NEW-VIEW's certificate named only the mute replica).
    /// </summary>
    private void Rotate()
    {
        if (_stalls % 2 == 1)
        {
            Span<byte> key = stackalloc byte[Digests.Size];
            Key(Target, _fetchDigest, key);
            for (int k = 1; k < _n; k++)
            {
                uint r = (uint)((_from + k) % (uint)_n);
                if (r == _self) continue;
                if (_announcedSeq[r] == Target && _announced.HasVoted(r) && _announced.VoteOf(r).SequenceEqual(key)) { _from = r; return; }
            }
        }
        for (int k = 0; k < _n; k++)
        {
            _round = (_round + 1) % (uint)_n;
            if (_round != _self && _round != _from) { _from = _round; return; }
        }
    }

    private void SendFetch()
    {
        _out.SendFetch(_from, Target, EncodeFetch(_object, _received));
        _counters.FetchesSent++;
    }

    /// <summary>
    /// FETCH(seq, field) from <paramref name="sender"/>: answers with the chunk of the asked object of the kept checkpoint,
    /// if any (<paramref name="field"/> = object ≪ 40 | byte offset; a negative field or an offset beyond the object is ignored).
    /// </summary>
    public void OnFetch(uint sender, ulong seq, long field)
    {
        if (field < 0) return;
        uint obj = (uint)(field >> ObjectShift);
        long offset = field & OffsetMask;
        if (!_exec.TryReadCheckpointObject(seq, obj, out var bytes) || bytes.Length == 0) return;
        if (offset > bytes.Length || (offset == bytes.Length && offset != 0)) return;
        int len = (int)Math.Min(ChunkSize, bytes.Length - offset);
        _out.SendStateData(sender, seq, bytes.Length, (int)offset, bytes.Slice((int)offset, len));
        _counters.StateChunksSent++;
    }

    private long MaxObjectBytes() => _object == 0 ? _maxStateBytes : Math.Min(_maxStateBytes, _session?.MaxObjectBytes(_object) ?? 0);

    /// <summary>
    /// STATE-DATA from <paramref name="sender"/>. Returns true when it completed the checkpoint, which was verified
    /// against the certified digest and installed in the execution stage: the caller then moves its state to
    /// <see cref="Target"/> (read it before calling <see cref="Finish"/>).
    /// </summary>
    /// <param name="sender">the replica that sent it (only the one asked is listened to).</param>
    /// <param name="seq">the header's sequence number.</param>
    /// <param name="body">total[4] ‖ offset[4] ‖ chunk, of the object asked for.</param>
    /// <param name="lastExecuted">the replica's last executed sequence number.</param>
    public bool OnStateData(uint sender, ulong seq, ReadOnlySpan<byte> body, ulong lastExecuted)
    {
        if (Target == 0 || seq != Target || sender != _from || body.Length < 8) return false;
        // L9: normal execution reached the target meanwhile — installing it now would roll the state back.
        if (Target <= lastExecuted) { Target = 0; _session = null; _counters.StateTransfersAbandoned++; return false; }
        int total = BinaryPrimitives.ReadInt32LittleEndian(body);
        int offset = BinaryPrimitives.ReadInt32LittleEndian(body.Slice(4));
        var chunk = body.Slice(8);
        // R3: the claimed total is bounded per object and the buffer grows only with bytes actually received.
        if (total <= 0 || total > MaxObjectBytes() || offset != _received || (_total >= 0 && total != _total) || chunk.Length > total - offset) { Bad(); return false; }
        if (chunk.Length == 0 && offset < total) return false;
        _total = total;
        int need = offset + chunk.Length;
        if (_buffer.Length < need) Array.Resize(ref _buffer, (int)Math.Min(total, Math.Max(need, 2L * _buffer.Length)));
        chunk.CopyTo(_buffer.AsSpan(offset));
        _received += chunk.Length;
        _counters.StateBytesReceived += chunk.Length;
        _stall = 0; _stalls = 0;
        if (_received < total) { SendFetch(); return false; }
        var bytes = _buffer.AsSpan(0, total);
        if (_object == 0)
        {
            Span<byte> d = stackalloc byte[Digests.Size];
            Digests.Sha256(bytes, d);
            if (!d.SequenceEqual(_fetchDigest)) { Bad(); return false; }
            _session = _exec.BeginCheckpointFetch(Target, bytes, _maxStateBytes);
            if (_session is null) { _counters.BadStateTransfers++; Target = 0; return false; }
        }
        else if (_session is null || !_session.Offer(_object, bytes)) { Bad(); return false; }
        _counters.StateObjectsReceived++;
        return Advance();
    }

    /// <summary>Forged or out-of-bounds data: count it, drop the current object, and ask the next holder on the next tick.</summary>
    private void Bad()
    {
        _counters.BadStateTransfers++;
        _received = 0; _total = -1;
        _stall = _stallTicks - 1;
    }

    private bool Advance()
    {
        var s = _session!;
        while (true)
        {
            if (s.TryNextObject(out uint next))
            {
                _object = next; _received = 0; _total = -1;
                SendFetch();
                return false;
            }
            switch (s.TryInstall())
            {
                case CheckpointInstall.Installed: return true;
                case CheckpointInstall.NeedMore: continue;
                default: _counters.BadStateTransfers++; Target = 0; _session = null; return false;
            }
        }
    }

    /// <summary>The digest of the target checkpoint (32 bytes).</summary>
    public ReadOnlySpan<byte> TargetDigest => _fetchDigest;

    /// <summary>Ends the current transfer (after the caller moved its state, or to abandon it).</summary>
    public void Finish() { Target = 0; _session = null; _stalls = 0; }
}
