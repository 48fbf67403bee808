using System.Buffers;
using System.Buffers.Binary;
using FastBft.Execution.Checkpoints;
using FastBft.Service;
using FastBft.Wire;

namespace FastBft.Execution;

/// <summary>
/// The default execution stage: every request of every committed batch is executed here, in sequence
/// order, on the <see cref="IReplicatedService"/> (PBFT-PR §4.2; Thesis §2.1.2.2). Checkpoints are taken over the
/// service's partition tree (<see cref="CheckpointStore"/>, docs/state-transfer.md): the service's own
/// <see cref="IPartitionedState"/> if it has one, else the whole state as one partition
/// (<see cref="WholeStatePartition"/>); the reply cache travels in the checkpoint's meta object and is verified with
/// it. A service that is also an <see cref="IDurableState"/> persisting batches gets one
/// <see cref="IDurableState.CommitBatch"/> per batch, before the batch's replies leave (docs/durability.md). The
/// designated full replier of request (c, t) is <c>executors[(c + t) mod executors.Length]</c> (Thesis §2.1.1.4,
/// §5.5.2.1) — chosen among the replicas that actually execute. Single-threaded; steady state allocates nothing.
/// </summary>
public sealed class SequentialExecutionStage : IExecutionStage
{
    private readonly IReplicatedService _service;
    private readonly uint _self;
    private uint[] _executors;
    private readonly ArrayBufferWriter<byte> _update = new(4096);
    private byte[] _batchUpdate = new byte[4096];
    private int _batchUpdateLength, _batchUpdateCount;
    private readonly ArrayBufferWriter<byte> _reply = new(4096);
    private readonly CheckpointStore _checkpoints;
    private readonly IDurableState? _durable;
    private readonly List<ReplyEntry> _batchEntries = new();
    private readonly List<bool> _batchDesignated = new();
    private readonly ArrayBufferWriter<byte> _entryBytes = new(4096);

    /// <summary>Creates the stage of replica <paramref name="self"/>.</summary>
    /// <param name="service">the replicated service.</param>
    /// <param name="self">this replica's id.</param>
    /// <param name="executors">ids of the replicas that execute every request (PBFT: 0..n-1).</param>
    /// <param name="checkpointInterval">K.</param>
    /// <param name="checkpointsKept">checkpoints kept (L/K + 1 covers the window).</param>
    /// <exception cref="ArgumentException">no executors, or K or checkpointsKept below 1.</exception>
    public SequentialExecutionStage(IReplicatedService service, uint self, IReadOnlyList<uint> executors, int checkpointInterval, int checkpointsKept)
    {
        if (executors.Count == 0) throw new ArgumentException("at least one executing replica", nameof(executors));
        if (checkpointInterval < 1 || checkpointsKept < 1) throw new ArgumentException("checkpoint interval and snapshots kept must be ≥ 1");
        _service = service;
        _self = self;
        _executors = executors.ToArray();
        _checkpoints = new CheckpointStore(service as IPartitionedState ?? new WholeStatePartition(service), Replies, checkpointInterval, checkpointsKept);
        _durable = service as IDurableState;
        if (_durable is { RecoveredSequence: > 0 })
        {
            Replies.Read(_durable.RecoveredReplies.Span);
            RecoveredSequence = _durable.RecoveredSequence;
        }
        if (_durable is { PersistsBatches: true }) AgreementLog = (service as FastBft.Agreement.Pbft.IAgreementLogProvider)?.AgreementLog;
    }

    /// <summary>
    /// Where the PBFT core persists its agreement log beside this stage's persisted batches (docs/durability.md §4): the
    /// service's own log when it persists batches and offers one (<see cref="FastBft.Agreement.Pbft.IAgreementLogProvider"/>), else null (nothing
    /// is persisted). Settable for tests and the simulator, before the core is created.
    /// </summary>
    public FastBft.Agreement.Pbft.IAgreementLog? AgreementLog { get; set; }

    /// <inheritdoc/>
    public ReplyCache Replies { get; } = new();

    /// <summary>The sequence number of the state the service recovered from its own disk (0 if none; docs/durability.md).</summary>
    public ulong RecoveredSequence { get; }

    /// <summary>The checkpoints (partition tree, kept views).</summary>
    public CheckpointStore Checkpoints => _checkpoints;

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
            if (_durable is { PersistsBatches: true }) ReplyCache.WriteEntry(entry, _entryBytes);
            Applied++;
        }
        Persist(sequence);
        return true;
    }

    private void Persist(ulong sequence)
    {
        if (_durable is not { PersistsBatches: true }) return;
        int count = 0;
        var bytes = _entryBytes.WrittenSpan;
        for (int off = 0; off < bytes.Length; count++) off += ReplyCache.EntrySize(bytes.Slice(off));
        _durable.CommitBatch(sequence, bytes, count);
        _entryBytes.ResetWrittenCount();
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
        bool defer = _durable is { PersistsBatches: true };
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
            if (!defer) { sink.OnExecuted(entry, IsDesignated(rh.Sender, rh.Sequence)); continue; }
            int at = _batchEntries.IndexOf(entry);             // a client twice in one batch: its latest reply counts
            if (at >= 0) { _batchEntries.RemoveAt(at); _batchDesignated.RemoveAt(at); }
            _batchEntries.Add(entry);
            _batchDesignated.Add(IsDesignated(rh.Sender, rh.Sequence));
        }
        if (record) BinaryPrimitives.WriteInt32LittleEndian(_batchUpdate, _batchUpdateCount);
        if (!defer) return;
        // Group commit (docs/durability.md): the batch's state, sequence number and reply-cache entries are persisted
        // in one write before any of its replies leaves.
        foreach (var e in _batchEntries) ReplyCache.WriteEntry(e, _entryBytes);
        Persist(sequence);
        for (int i = 0; i < _batchEntries.Count; i++) sink.OnExecuted(_batchEntries[i], _batchDesignated[i]);
        _batchEntries.Clear();
        _batchDesignated.Clear();
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
    public void TakeCheckpoint(ulong sequence, Span<byte> digest32) => _checkpoints.Take(sequence, digest32);

    /// <summary>The meta object of the kept checkpoint at <paramref name="sequence"/> (its SHA-256 is the checkpoint digest).</summary>
    public bool TryGetCheckpoint(ulong sequence, out ReadOnlySpan<byte> snapshot) => _checkpoints.TryRead(sequence, 0, out snapshot);

    /// <inheritdoc/>
    public bool TryReadCheckpointObject(ulong sequence, uint obj, out ReadOnlySpan<byte> bytes) => _checkpoints.TryRead(sequence, obj, out bytes);

    /// <summary>
    /// Installs the checkpoint whose meta object is <paramref name="snapshot"/> when every partition it names already
    /// matches the live state (nothing to fetch); false, changing nothing, otherwise. State transfer uses
    /// <see cref="BeginCheckpointFetch"/>.
    /// </summary>
    public bool TryInstallCheckpoint(ulong sequence, ReadOnlySpan<byte> snapshot)
        => BeginCheckpointFetch(sequence, snapshot, 0) is { } f && !f.TryNextObject(out _) && f.TryInstall() == CheckpointInstall.Installed;

    /// <inheritdoc/>
    public ICheckpointFetch? BeginCheckpointFetch(ulong sequence, ReadOnlySpan<byte> object0, long maxBytes)
        => _checkpoints.BeginFetch(sequence, object0, maxBytes) is { } f ? new InstallingFetch(this, f) : null;

    /// <summary>Takes the installed checkpoint (to serve others) and persists it (durable services).</summary>
    private void Installed(ulong sequence)
    {
        if (_durable is { PersistsBatches: true })
        {
            var ms = new MemoryStream();
            Replies.Write(ms);
            _durable.CommitInstall(sequence, ms.GetBuffer().AsSpan(0, (int)ms.Length));
        }
        Span<byte> digest = stackalloc byte[Digests.Size];
        _checkpoints.Take(sequence, digest);
        LastInstall = _pendingInstall;
    }

    private CheckpointFetch? _pendingInstall;

    /// <summary>The last completed incremental install (bytes and partitions fetched), for diagnostics and tests.</summary>
    public CheckpointFetch? LastInstall { get; private set; }

    private sealed class InstallingFetch(SequentialExecutionStage stage, CheckpointFetch inner) : ICheckpointFetch
    {
        public bool TryNextObject(out uint obj) => inner.TryNextObject(out obj);
        public bool Offer(uint obj, ReadOnlySpan<byte> bytes) => inner.Offer(obj, bytes);
        public long MaxObjectBytes(uint obj) => inner.MaxObjectBytes(obj);
        public CheckpointInstall TryInstall()
        {
            var r = inner.TryInstall();
            if (r == CheckpointInstall.Installed) { stage._pendingInstall = inner; stage.Installed(inner.Sequence); }
            return r;
        }
    }

    /// <inheritdoc/>
    public void GetStateDigest(Span<byte> digest32) => _service.GetStateDigest(digest32);
}
