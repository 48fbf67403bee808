using System.Buffers;
using System.Buffers.Binary;
using FastBft.Service;
using FastBft.Wire;

namespace FastBft.Execution;

/// <summary>
/// The default execution stage: every request of every committed batch is executed here, in sequence
/// order, on the <see cref="IReplicatedService"/> (PBFT-PR §4.2; Thesis §2.1.2.2). Checkpoint snapshot =
/// serviceLength[4] ‖ service snapshot ‖ reply cache (<see cref="ReplyCache.Write"/>); its digest is
/// SHA-256 of those bytes, so the reply cache travels with the state and is verified with it
/// (docs/state-transfer.md). The designated full replier of request (c, t) is
/// <c>executors[(c + t) mod executors.Length]</c> (Thesis §2.1.1.4, §5.5.2.1) — chosen among the
/// replicas that actually execute. Single-threaded; steady state allocates nothing.
/// </summary>
public sealed class SequentialExecutionStage : IExecutionStage
{
    private readonly IReplicatedService _service;
    private readonly uint _self;
    private uint[] _executors;
    private readonly ArrayBufferWriter<byte> _update = new(4096);
    private byte[] _batchUpdate = new byte[4096];
    private int _batchUpdateLength, _batchUpdateCount;
    private readonly int _checkpointInterval;
    private readonly ArrayBufferWriter<byte> _reply = new(4096);
    private readonly MemoryStream _snapStream = new();
    private readonly ulong[] _snapSeq;
    private readonly byte[]?[] _snapData;
    private readonly int[] _snapLen;

    /// <summary>Creates the stage of replica <paramref name="self"/>.</summary>
    /// <param name="service">the replicated service.</param>
    /// <param name="self">this replica's id.</param>
    /// <param name="executors">ids of the replicas that execute every request (PBFT: 0..n-1).</param>
    /// <param name="checkpointInterval">K.</param>
    /// <param name="checkpointsKept">snapshots kept (L/K + 1 covers the window).</param>
    /// <exception cref="ArgumentException">no executors, or K or checkpointsKept below 1.</exception>
    public SequentialExecutionStage(IReplicatedService service, uint self, IReadOnlyList<uint> executors, int checkpointInterval, int checkpointsKept)
    {
        if (executors.Count == 0) throw new ArgumentException("at least one executing replica", nameof(executors));
        if (checkpointInterval < 1 || checkpointsKept < 1) throw new ArgumentException("checkpoint interval and snapshots kept must be ≥ 1");
        _service = service;
        _self = self;
        _executors = executors.ToArray();
        _checkpointInterval = checkpointInterval;
        _snapSeq = new ulong[checkpointsKept];
        _snapData = new byte[checkpointsKept][];
        _snapLen = new int[checkpointsKept];
    }

    /// <inheritdoc/>
    public ReplyCache Replies { get; } = new();

    /// <inheritdoc/>
    public bool Executes => true;

    /// <summary>Requests executed.</summary>
    public long Executed { get; private set; }
    /// <summary>Requests skipped because the reply cache showed them executed (a batch repeated a client's request).</summary>
    public long SkippedDuplicates { get; private set; }

    /// <summary>
    /// When true, <see cref="Committed"/> also records the state updates of the batch (Thesis §5.2.2, §5.3.1.2) into
    /// <see cref="BatchUpdate"/> for an UPDATE message to passive replicas.
    /// </summary>
    public bool RecordUpdates { get; set; }

    /// <summary>
    /// The update content of the last batch <see cref="Committed"/> executed with <see cref="RecordUpdates"/>:
    /// count[4] ‖ per executed request: client[4] ‖ rid[8] ‖ replyLength[4] ‖ reply ‖ updateLength[4] ‖ update
    /// (little-endian; docs/repbft.md §3). Valid until the next <see cref="Committed"/>.
    /// </summary>
    public ReadOnlySpan<byte> BatchUpdate => _batchUpdate.AsSpan(0, _batchUpdateLength);

    /// <summary>Replaces the replicas that execute (a RePBFT switch: all execute in PBFT, f+1 in RePBFT*); the designated replier is chosen among them.</summary>
    /// <exception cref="ArgumentException">empty list.</exception>
    public void SetExecutors(IReadOnlyList<uint> executors)
    {
        if (executors.Count == 0) throw new ArgumentException("at least one executing replica", nameof(executors));
        _executors = executors.ToArray();
    }

    /// <summary>
    /// Applies the update content of the batch at <paramref name="sequence"/> (a passive replica, Thesis §5.3.1.2):
    /// each entry's state update through <see cref="IReplicatedService.ApplyUpdate"/> and its reply into the reply
    /// cache, skipping requests the cache shows executed. Returns false, changing nothing, if the content is malformed
    /// (the caller applies only content that f+1 active replicas vouched for, so this means a bug or a faulty majority).
    /// </summary>
    public bool TryApplyUpdate(ulong sequence, ReadOnlySpan<byte> content)
    {
        if (!UpdateContent.IsWellFormed(content)) return false;
        var reader = new UpdateContent.Reader(content);
        int index = 0;
        while (reader.Next(out uint client, out ulong rid, out var reply, out var update))
        {
            var entry = Replies.Get(client);
            if (rid <= entry.LastExecutedRid) { SkippedDuplicates++; index++; continue; }
            try { _service.ApplyUpdate(new RequestInfo(client, rid, sequence, index++), update); }
            catch (InvalidDataException) { return false; }     // f+1 executors vouched for it: only a faulty majority gets here
            entry.StoreFull(rid, sequence, reply);
            Applied++;
        }
        return true;
    }

    /// <summary>Requests brought up to date by applying updates (passive replicas).</summary>
    public long Applied { get; private set; }

    /// <summary>True if this replica sends the full reply to (client, rid).</summary>
    public bool IsDesignated(uint client, ulong rid) => _executors[(int)((client + rid) % (ulong)_executors.Length)] == _self;

    /// <inheritdoc/>
    public void Committed(ulong sequence, ReadOnlySpan<byte> batchBody, IExecutionSink sink)
    {
        var reader = new BatchReader(batchBody);
        int index = 0;
        bool record = RecordUpdates;
        if (record) { _batchUpdateLength = 4; _batchUpdateCount = 0; }
        while (reader.Next(out var req))
        {
            MessageHeader.TryParse(req, int.MaxValue, out var rh);
            var entry = Replies.Get(rh.Sender);
            if (rh.Sequence <= entry.LastExecutedRid) { SkippedDuplicates++; index++; continue; }
            _reply.ResetWrittenCount();
            var info = new RequestInfo(rh.Sender, rh.Sequence, sequence, index++);
            if (record) _update.ResetWrittenCount();
            _service.Execute(info, MessageHeader.Body(req, rh), _reply, record ? _update : null);
            entry.StoreFull(rh.Sequence, sequence, _reply.WrittenSpan);
            if (record) AppendUpdate(rh.Sender, rh.Sequence);
            Executed++;
            sink.OnExecuted(entry, IsDesignated(rh.Sender, rh.Sequence));
        }
        if (record) BinaryPrimitives.WriteInt32LittleEndian(_batchUpdate, _batchUpdateCount);
    }

    private void AppendUpdate(uint client, ulong rid)
    {
        var reply = _reply.WrittenSpan;
        var update = _update.WrittenSpan;
        int len = UpdateContent.EntryFixed + reply.Length + update.Length;
        if (_batchUpdate.Length < _batchUpdateLength + len) Array.Resize(ref _batchUpdate, Math.Max(_batchUpdateLength + len, _batchUpdate.Length * 2));
        var dst = _batchUpdate.AsSpan(_batchUpdateLength, len);
        BinaryPrimitives.WriteUInt32LittleEndian(dst, client);
        BinaryPrimitives.WriteUInt64LittleEndian(dst.Slice(4), rid);
        BinaryPrimitives.WriteInt32LittleEndian(dst.Slice(12), reply.Length);
        reply.CopyTo(dst.Slice(16));
        BinaryPrimitives.WriteInt32LittleEndian(dst.Slice(16 + reply.Length), update.Length);
        update.CopyTo(dst.Slice(20 + reply.Length));
        _batchUpdateLength += len;
        _batchUpdateCount++;
    }

    /// <inheritdoc/>
    public void TakeCheckpoint(ulong sequence, Span<byte> digest32)
    {
        var ms = _snapStream;
        ms.SetLength(0);
        Span<byte> b = stackalloc byte[4];
        ms.Write(b);                                        // service snapshot length, patched below
        _service.WriteSnapshot(ms);
        int svcLen = (int)ms.Length - 4;
        Replies.Write(ms);
        var buf = ms.GetBuffer();
        BinaryPrimitives.WriteInt32LittleEndian(buf, svcLen);
        int len = (int)ms.Length;
        int i = Index(sequence);
        if (_snapData[i] is null || _snapData[i]!.Length < len) _snapData[i] = new byte[Math.Max(len, 256)];
        buf.AsSpan(0, len).CopyTo(_snapData[i]);
        _snapLen[i] = len;
        _snapSeq[i] = sequence;
        Digests.Sha256(buf.AsSpan(0, len), digest32);
    }

    private int Index(ulong sequence) => (int)(sequence / (ulong)_checkpointInterval % (ulong)_snapSeq.Length);

    /// <inheritdoc/>
    public bool TryGetCheckpoint(ulong sequence, out ReadOnlySpan<byte> snapshot)
    {
        int i = Index(sequence);
        snapshot = default;
        if (_snapSeq[i] != sequence || _snapData[i] is null) return false;
        snapshot = _snapData[i].AsSpan(0, _snapLen[i]);
        return true;
    }

    /// <inheritdoc/>
    public bool TryInstallCheckpoint(ulong sequence, ReadOnlySpan<byte> snapshot)
    {
        if (snapshot.Length < 4) return false;
        int svcLen = BinaryPrimitives.ReadInt32LittleEndian(snapshot);
        if (svcLen < 0 || svcLen > snapshot.Length - 4) return false;
        try
        {
            using (var s = new MemoryStream(snapshot.Slice(4, svcLen).ToArray(), writable: false)) _service.RestoreSnapshot(s);
            Replies.Read(snapshot.Slice(4 + svcLen));
        }
        catch (InvalidDataException) { return false; }
        Span<byte> digest = stackalloc byte[Digests.Size];
        TakeCheckpoint(sequence, digest);                   // keep it to serve others
        return true;
    }

    /// <inheritdoc/>
    public void GetStateDigest(Span<byte> digest32) => _service.GetStateDigest(digest32);
}
