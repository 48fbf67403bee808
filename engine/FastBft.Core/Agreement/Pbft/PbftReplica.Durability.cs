using System.Buffers;
using System.Buffers.Binary;
using FastBft.Execution;
using FastBft.Wire;

namespace FastBft.Agreement.Pbft;

/// <summary>
/// The agreement log on disk (docs/durability.md §4; PBFT-PR §4.4 "Reboot": a replica restarts from its saved log and
/// service state and uses them). Rule: before a message leaves, everything it commits this replica to is handed to the
/// <see cref="IAgreementLog"/> and committed — the PRE-PREPARE it proposed or accepted (before its PRE-PREPARE or
/// PREPARE), its prepared mark (before its COMMIT), its view, P, Q and VIEW-CHANGE (before the VIEW-CHANGE), the
/// NEW-VIEW (before it acts in the new view). A replica restarted from that log and from its persisted service state
/// (last executed n, state, reply cache: <see cref="SequentialExecutionStage.RecoveredSequence"/>) is therefore, for
/// every other replica, a correct replica whose messages were lost for a while: PBFT's safety (§4.2, §4.5) covers it,
/// even when every replica restarts at once at different sequence numbers. The core does no I/O: the log is an
/// interface the host's service implements (the RocksDB KV store) and the simulator fakes in memory.
/// </summary>
public sealed partial class PbftReplica
{
    private IAgreementLog? _log;
    private byte[] _logBuf = new byte[2048];
    private readonly ArrayBufferWriter<byte> _stateRecord = new(256);
    private bool _resume;

    /// <summary>True if this core persists its agreement log (docs/durability.md §4).</summary>
    public bool PersistsLog => _log is not null;

    /// <summary>Slots restored from the persisted log when this core started (0 for a fresh replica).</summary>
    public int RestoredSlots { get; private set; }

    // Group commit (fsync mode, IAgreementLog.GroupsSyncs): votes whose records were written unsynced during this input
    // burst; EndOfBurst syncs once and sends them. Fixed capacity (two votes per slot of the window): no allocation.
    private bool _groupSyncs;
    private LogSlot[] _deferredSlots = [];
    private (ulong Seq, ulong View, bool Commit)[] _deferred = [];
    private int _deferredCount;
    private bool _logUnsynced;

    private void InitLog(IAgreementLog log)
    {
        _log = log;
        _groupSyncs = log.GroupsSyncs;
        _deferredSlots = new LogSlot[2 * _s.Window];
        _deferred = new (ulong, ulong, bool)[2 * _s.Window];
    }

    /// <summary>
    /// Our PREPARE or COMMIT for <paramref name="slot"/>, after its record is on disk (docs/durability.md §4.2): without a
    /// log, sent now; with one, the slot record (PREPARE) or prepared record (COMMIT) is committed first — synced and sent
    /// now, or (group commit) written unsynced and the vote sent by <see cref="FlushDeferredVotes"/> after one sync per burst.
    /// </summary>
    private void VoteDurably(LogSlot slot, bool commit)
    {
        if (_log is null) { SendVote(slot, commit); return; }
        if (commit) PutPrepared(slot); else PutSlot(slot, sentPrepare: true);
        if (!_groupSyncs || _deferredCount == _deferred.Length)
        {
            _log.Commit(sync: true);
            _logUnsynced = false;
            SendVote(slot, commit);
            return;
        }
        _log.Commit(sync: false);
        _logUnsynced = true;
        if (commit) { slot.Commits.Record(_id, slot.Digest); slot.SentCommit = true; }      // our vote counts now; it leaves after the sync
        else { slot.Prepares.Record(_id, slot.Digest); slot.SentPrepare = true; }
        _deferredSlots[_deferredCount] = slot;
        _deferred[_deferredCount++] = (slot.Seq, slot.View, commit);
    }

    /// <summary>End of an input burst (group commit): one synced commit, then the votes deferred during the burst.</summary>
    private void FlushDeferredVotes()
    {
        if (_deferredCount == 0) return;
        SyncLog();
        for (int i = 0; i < _deferredCount; i++)
        {
            var slot = _deferredSlots[i];
            var (seq, view, commit) = _deferred[i];
            _deferredSlots[i] = null!;
            // A vote of a view we left meanwhile is not sent (our VIEW-CHANGE already carries what it committed us to).
            if (slot.Seq == seq && slot.View == view && view == View && !_inViewChange) ResendVote(slot, commit, uint.MaxValue);
        }
        _deferredCount = 0;
    }

    /// <summary>Before any vote or PRE-PREPARE is re-sent: records written unsynced in this burst are synced first.</summary>
    private void SyncLog()
    {
        if (!_logUnsynced) return;
        _log!.Commit(sync: true);
        _logUnsynced = false;
    }

    /// <summary>Before a PRE-PREPARE or PREPARE for <paramref name="slot"/> leaves: its slot record (view ‖ flags ‖ PRE-PREPARE), synced in fsync mode.</summary>
    private void PersistSlot(LogSlot slot, bool sentPrepare)
    {
        if (_log is null) return;
        PutSlot(slot, sentPrepare);
        _log.Commit(sync: true);
        _logUnsynced = false;
    }

    private void PutSlot(LogSlot slot, bool sentPrepare)
    {
        int len = 9 + slot.PrePrepareLength;
        if (_logBuf.Length < len) _logBuf = new byte[Math.Max(len, _logBuf.Length * 2)];
        BinaryPrimitives.WriteUInt64LittleEndian(_logBuf, slot.View);
        _logBuf[8] = sentPrepare ? (byte)1 : (byte)0;
        slot.PrePrepareMessage.CopyTo(_logBuf.AsSpan(9));
        _log!.Put(AgreementLogKinds.Slot, slot.Seq, _logBuf.AsSpan(0, len));
        slot.Persisted = true;
    }

    /// <summary>Queues the prepared record (view ‖ digest) for our COMMIT, with the slot record if it was not written yet.</summary>
    private void PutPrepared(LogSlot slot)
    {
        if (!slot.Persisted) PutSlot(slot, slot.SentPrepare);
        Span<byte> rec = stackalloc byte[8 + Digests.Size];
        BinaryPrimitives.WriteUInt64LittleEndian(rec, slot.View);
        slot.Digest.CopyTo(rec.Slice(8));
        _log!.Put(AgreementLogKinds.Prepared, slot.Seq, rec);
    }

    /// <summary>
    /// The state record: view ‖ flags (1 = waiting for a NEW-VIEW) ‖ h ‖ D(h) ‖ count ‖ own checkpoints above h (seq ‖ digest);
    /// with <paramref name="viewRecord"/> also the view record (own VIEW-CHANGE, NEW-VIEW, P and Q with batches). Slot
    /// records at or below <paramref name="deleteThrough"/> are deleted in the same write.
    /// </summary>
    private void PersistState(bool sync, bool viewRecord, ulong deleteThrough = 0)
    {
        if (_log is null) return;
        var w = _stateRecord;
        w.ResetWrittenCount();
        WriteU64(w, View);
        Span<byte> one = w.GetSpan(1); one[0] = _inViewChange && _newViewView != View ? (byte)1 : (byte)0; w.Advance(1);
        WriteU64(w, LowWatermark);
        w.Write(_checkpoints.StableDigest.Span);
        var own = _checkpoints.OwnAtOrAbove(LowWatermark + 1);
        WriteU32(w, (uint)own.Count);
        foreach (var (seq, d) in own) { WriteU64(w, seq); w.Write(d.AsSpan(0, Digests.Size)); }
        if (deleteThrough > 0) _log.DeleteThrough(deleteThrough);
        _log.Put(AgreementLogKinds.State, 0, w.WrittenSpan);
        if (viewRecord)
        {
            w.ResetWrittenCount();
            WriteU64(w, _newViewView);
            WriteBytes(w, _ownVc);
            WriteBytes(w, _newViewMessage);
            int pCount = 0;
            foreach (var (seq, _) in _pset) if (seq > LowWatermark) pCount++;
            WriteU32(w, (uint)pCount);
            foreach (var (seq, e) in _pset)
            {
                if (seq <= LowWatermark) continue;
                WriteU64(w, seq); WriteU64(w, e.View); w.Write(e.Digest.AsSpan(0, Digests.Size));
                WriteBytes(w, _pBatches.TryGetValue(seq, out var b) ? b : null);
            }
            int qCount = 0;
            foreach (var (seq, list) in _qset) if (seq > LowWatermark) qCount += list.Count;
            WriteU32(w, (uint)qCount);
            foreach (var (seq, list) in _qset)
            {
                if (seq <= LowWatermark) continue;
                foreach (var e in list)
                {
                    WriteU64(w, seq); WriteU64(w, e.View); w.Write(e.Digest.AsSpan(0, Digests.Size));
                    WriteBytes(w, _qBatches.TryGetValue((seq, Convert.ToHexString(e.Digest)), out var b) ? b : null);
                }
            }
            _log.Put(AgreementLogKinds.ViewState, 0, w.WrittenSpan);
        }
        _log.Commit(sync);
        if (sync) _logUnsynced = false;
    }

    private static void WriteU64(ArrayBufferWriter<byte> w, ulong v) { BinaryPrimitives.WriteUInt64LittleEndian(w.GetSpan(8), v); w.Advance(8); }
    private static void WriteU32(ArrayBufferWriter<byte> w, uint v) { BinaryPrimitives.WriteUInt32LittleEndian(w.GetSpan(4), v); w.Advance(4); }
    private static void WriteBytes(ArrayBufferWriter<byte> w, byte[]? b)
    {
        WriteU32(w, (uint)(b?.Length ?? 0));
        if (b is { Length: > 0 }) w.Write(b);
    }

    private ref struct RecordReader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _rest = data;
        public ulong U64() { ulong v = BinaryPrimitives.ReadUInt64LittleEndian(_rest); _rest = _rest.Slice(8); return v; }
        public uint U32() { uint v = BinaryPrimitives.ReadUInt32LittleEndian(_rest); _rest = _rest.Slice(4); return v; }
        public byte U8() { byte v = _rest[0]; _rest = _rest.Slice(1); return v; }
        public byte[] Take(int n) { var v = _rest.Slice(0, n).ToArray(); _rest = _rest.Slice(n); return v; }
        public byte[]? Bytes() { int n = (int)U32(); return n == 0 ? null : Take(n); }
    }

    /// <summary>
    /// Restart (docs/durability.md §4.2): continues from the persisted log and the execution stage's persisted last
    /// executed sequence number <paramref name="executed"/>. Runs in the constructor; sends nothing (the first tick does,
    /// <see cref="ResumeAfterRestart"/>). The log was written by this replica's own code, so it is trusted as its memory.
    /// </summary>
    private void Restore(IAgreementLog log, ulong executed)
    {
        byte[]? state = null, viewState = null;
        var slots = new List<AgreementRecord>();
        var prepared = new Dictionary<ulong, byte[]>();
        foreach (var r in log.Recovered)
        {
            switch (r.Kind)
            {
                case AgreementLogKinds.State: state = r.Value; break;
                case AgreementLogKinds.ViewState: viewState = r.Value; break;
                case AgreementLogKinds.Slot: slots.Add(r); break;
                case AgreementLogKinds.Prepared: prepared[r.Sequence] = r.Value; break;
            }
        }
        LastExecuted = executed;
        ulong h = 0;
        byte[] hDigest = _checkpoints.StableDigest.ToArray();
        var own = new List<(ulong Seq, byte[] Digest)>();
        bool waiting = false;
        if (state is not null)
        {
            var rd = new RecordReader(state);
            View = rd.U64();
            waiting = rd.U8() != 0;
            h = rd.U64();
            hDigest = rd.Take(Digests.Size);
            uint count = rd.U32();
            for (uint i = 0; i < count; i++) own.Add((rd.U64(), rd.Take(Digests.Size)));
        }
        NewViewBody? nv = null;
        if (viewState is not null)
        {
            var rd = new RecordReader(viewState);
            ulong nvView = rd.U64();
            var vc = rd.Bytes();
            var nvMsg = rd.Bytes();
            uint pCount = rd.U32();
            for (uint i = 0; i < pCount; i++)
            {
                ulong seq = rd.U64(), v = rd.U64(); var d = rd.Take(Digests.Size); var body = rd.Bytes();
                _pset[seq] = (d, v);
                if (body is not null) _pBatches[seq] = body;
            }
            uint qCount = rd.U32();
            for (uint i = 0; i < qCount; i++)
            {
                ulong seq = rd.U64(), v = rd.U64(); var d = rd.Take(Digests.Size); var body = rd.Bytes();
                if (!_qset.TryGetValue(seq, out var q)) _qset[seq] = q = new();
                q.Add((d, v));
                if (body is not null) _qBatches[(seq, Convert.ToHexString(d))] = body;
            }
            if (vc is not null && MessageHeader.TryParse(vc, int.MaxValue, out var vh) == ParseStatus.Ok && vh.View == View)
            {
                _ownVc = vc;
                if (ViewChangeBody.TryParse(_id, View, MessageHeader.Body(vc, vh)) is { } parsed) RecordViewChange(_id, View, vc, parsed);
            }
            if (nvMsg is not null && nvView == View && MessageHeader.TryParse(nvMsg, int.MaxValue, out var nh) == ParseStatus.Ok)
            {
                nv = NewViewBody.TryParse(nh, MessageHeader.Body(nvMsg, nh), _n, int.MaxValue, null);
                if (nv is not null) { _newViewMessage = nvMsg; _newViewView = nvView; }
            }
        }
        _inViewChange = waiting && nv is null;
        if (nv is not null)
        {
            // The NEW-VIEW may have been persisted before its install completed: its checkpoint bounds h from below.
            if (nv.H > h) { h = nv.H; hDigest = nv.HDigest; }
            for (int i = 0; i < nv.Chosen.Count; i++) _nvDigests[nv.H + 1 + (ulong)i] = nv.Chosen[i];
            _nvMaxSeq = nv.H + (ulong)nv.Chosen.Count;
        }
        LowWatermark = h;
        _checkpoints.SetStable(hDigest);
        foreach (var (seq, d) in own) if (seq > h && seq <= executed) _checkpoints.RecordOwn(seq, d, _id);
        if (executed > 0 && executed >= h && executed % (ulong)_s.CheckpointInterval == 0 && executed - h <= (ulong)_s.Window)
        {
            // Our state is exactly a checkpoint: take it again, so this replica can serve it (the frozen views died with the process).
            Span<byte> d = stackalloc byte[Digests.Size];
            _exec.TakeCheckpoint(executed, d);
            if (executed > h) _checkpoints.RecordOwn(executed, d, _id);
            else if (d.SequenceEqual(hDigest)) { _checkpoints.RecordOwn(executed, d, _id); _checkpoints.MakeStable(executed); }
        }
        PruneCertificates();
        ulong assigned = Math.Max(executed, h);
        if (!_inViewChange)
        {
            foreach (var r in slots)
            {
                ulong seq = r.Sequence;
                if (r.Value.Length < 9 + MessageHeader.Size || seq <= h || seq > h + (ulong)_s.Window) continue;
                ulong v = BinaryPrimitives.ReadUInt64LittleEndian(r.Value);
                if (v != View) continue;                  // folded into P/Q at the view change that left v
                var msg = r.Value.AsSpan(9);
                if (MessageHeader.TryParse(msg, int.MaxValue, out var ph) != ParseStatus.Ok || ph.Sequence != seq) continue;
                var digest = Bodies.BatchDigest(MessageHeader.Body(msg, ph));
                var slot = SlotOf(seq);
                slot.Reset(seq, v);
                slot.StorePrePrepare(msg, digest);
                slot.Persisted = true;
                if ((r.Value[8] & 1) != 0) { slot.Prepares.Record(_id, digest); slot.SentPrepare = true; }
                if (prepared.TryGetValue(seq, out var p) && p.Length == 8 + Digests.Size
                    && BinaryPrimitives.ReadUInt64LittleEndian(p) == v && p.AsSpan(8).SequenceEqual(digest))
                {
                    slot.Prepared = true;
                    slot.Commits.Record(_id, digest);
                    slot.SentCommit = true;
                }
                if (seq <= executed) { slot.Committed = true; slot.Executed = true; }
                if (seq > assigned) assigned = seq;
                RestoredSlots++;
            }
            if (nv is not null && _nvMaxSeq > assigned) assigned = _nvMaxSeq;
        }
        LastAssigned = assigned;
        if (h > executed) _stateTransfer.FetchCertified(h, hDigest, OtherReplicas());   // behind our own stable checkpoint (S2)
        _resume = true;
    }

    private List<uint> OtherReplicas()
    {
        var list = new List<uint>(_n);
        for (uint r = 0; r < _n; r++) if (r != _id) list.Add(r);
        return list;
    }

    /// <summary>
    /// First tick after a restart: tell the others where we are (STATUS: peers re-send what we lack, or their stable
    /// checkpoint), re-send our VIEW-CHANGE if we wait for a NEW-VIEW, and — as the primary of an installed NEW-VIEW —
    /// re-propose the fixed slots whose PRE-PREPARE we had not sent yet.
    /// </summary>
    private void ResumeAfterRestart()
    {
        _resume = false;
        if (_inViewChange && _ownVc is not null) Broadcast(_ownVc);
        if (!_inViewChange && IsPrimary && _newViewView == View)
        {
            for (ulong n = LowWatermark + 1; n <= _nvMaxSeq; n++)
            {
                if (!_nvDigests.TryGetValue(n, out var d)) continue;
                var slot = SlotOf(n);
                if (slot.Seq == n && slot.HasPrePrepare) continue;
                bool isNull = d.AsSpan().SequenceEqual(ViewChangeDecision.NullDigest);
                var body = isNull ? null : FindBatch(n, d);
                if (isNull || body is not null) ProposeFixed(n, body, d);
            }
        }
        BroadcastStatus();
        for (ulong seq = Math.Max(LastExecuted, LowWatermark) + 1; seq <= Math.Min(LastAssigned, HighWatermark); seq++)
        {
            var slot = SlotOf(seq);
            if (slot.Seq == seq && !slot.Executed) ResendOwn(slot, uint.MaxValue);
        }
    }
}
