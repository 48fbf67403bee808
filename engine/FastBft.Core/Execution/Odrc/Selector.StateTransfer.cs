using System.Buffers;
using System.Buffers.Binary;

namespace FastBft.Execution.Odrc;

/// <summary>
/// Whole-replica state transfer under ODRC (docs/odrc.md §9 "State transfer"; Thesis §6.3.4: the agreement checkpoint covers
/// the agreement stage's state, object state is kept consistent by object checkpoints). The selector's part of an agreement
/// checkpoint is what every correct selector holds identically after the same prefix of the total order: the ordinal, each
/// client's last ordered request, each object's G19 counters and last checkpoint trigger, and the <em>open tail</em> — every
/// ordered request that is after the last checkpoint trigger of at least one of its objects. No object state and no reply is
/// in it (they differ by replica). A selector that installs it marks every object stale at its last trigger and rebuilds the
/// object on demand from that state (fetched: f+1 matching OBJECT-STATEs, since the object checkpoint's votes went by while
/// it was away) and the tail's requests, through the ordinary update of Fig. 6.6; a request between two objects' bases is
/// replayed exactly where its access kinds allow (S6), else its objects stay unresolved until a stable object checkpoint (S7).
/// </summary>
public sealed partial class Selector
{
    /// <summary>Requests ordered since the last compaction that may still be in an object's open interval (in ordinal order).</summary>
    private readonly List<OdrcRequest> _tail = new();
    private int _tailCompactAt = 1024;
    private readonly Dictionary<ulong, OdrcRequest> _restoredByOrdinal = new();

    /// <summary>Agreement checkpoints installed (<see cref="TryRestore"/> returned true).</summary>
    public long Restores { get; private set; }
    /// <summary>Snapshots refused by <see cref="TryRestore"/> (malformed, or not installable here: see its remarks).</summary>
    public long RestoresRefused { get; private set; }
    /// <summary>Object states accepted after a state transfer on f+1 matching OBJECT-STATEs from distinct replicas.</summary>
    public long RestoredStatesVerified { get; private set; }
    /// <summary>True if this replica maintains <paramref name="objectId"/> but its copy was restored by a state transfer and not brought current yet (it will be before its next request executes; docs/odrc.md §9 S3).</summary>
    public bool IsRestoring(ReadOnlySpan<byte> objectId)
    {
        var lookup = _objects.GetAlternateLookup<ReadOnlySpan<byte>>();
        return lookup.TryGetValue(objectId, out var x) && x.Restoring;
    }

    /// <summary>Requests of the open tail as of the last snapshot (diagnostics).</summary>
    public int TailCount => _tail.Count;

    /// <summary>Smallest encoded client entry: client[4] ‖ rid[8] ‖ ordinal[8].</summary>
    private const int ClientEntryBytes = 20;
    /// <summary>Smallest encoded object entry: idLength[4] ‖ accesses[8] ‖ writes[8] ‖ lastTriggerAccess[8] ‖ lastTriggerOrdinal[8].</summary>
    private const int ObjectEntryBytes = 36;
    /// <summary>Smallest encoded request entry: ordinal[8] ‖ sequence[8] ‖ index[4] ‖ client[4] ‖ rid[8] ‖ opLength[4].</summary>
    private const int RequestEntryBytes = 36;

    /// <summary>Called by <see cref="InsertRequest"/> for every ordered request: it joins the tail; the tail drops closed requests (amortised O(1), no allocation once grown).</summary>
    private void NoteOrdered(OdrcRequest r)
    {
        _tail.Add(r);
        if (_tail.Count >= _tailCompactAt) CompactTail();
    }

    private void CompactTail()
    {
        _tail.RemoveAll(static q => !IsOpen(q));
        _tailCompactAt = Math.Max(1024, 2 * _tail.Count);
    }

    /// <summary>True while <paramref name="q"/> is after the last checkpoint trigger of one of its objects (G19): its effect on that object is in no object checkpoint yet.</summary>
    private static bool IsOpen(OdrcRequest q)
    {
        for (int i = 0; i < q.Objects.Length; i++) if (q.AccessOf(i) > q.Objects[i].LastTrigger) return true;
        return false;
    }

    /// <summary>
    /// Writes this selector's part of an agreement checkpoint (docs/odrc.md §9): identical bytes at every correct selector that
    /// inserted the same requests. Layout (little-endian): ordinal[8] ‖ clientCount[4] ‖ clientCount × (client[4] ‖ rid[8] ‖
    /// ordinal[8]) ascending by client ‖ objectCount[4] ‖ objectCount × (idLength[4] ‖ id ‖ accesses[8] ‖ writes[8] ‖
    /// lastTriggerAccess[8] ‖ lastTriggerOrdinal[8]) ascending by id (bytewise, shorter first on a tie), only objects accessed by
    /// an ordered request ‖ requestCount[4] ‖ requestCount × (ordinal[8] ‖ sequence[8] ‖ index[4] ‖ client[4] ‖ rid[8] ‖
    /// opLength[4] ‖ op) ascending by ordinal: the open tail. Cost O(objects · log objects + tail) per agreement checkpoint.
    /// </summary>
    public void WriteSnapshot(IBufferWriter<byte> w)
    {
        CompactTail();
        Put64(w, _ordinal);
        var clients = new uint[_lastOfClient.Count];
        _lastOfClient.Keys.CopyTo(clients, 0);
        Array.Sort(clients);
        Put32(w, (uint)clients.Length);
        foreach (var c in clients)
        {
            var r = _lastOfClient[c];
            var s = w.GetSpan(ClientEntryBytes);
            BinaryPrimitives.WriteUInt32LittleEndian(s, c);
            BinaryPrimitives.WriteUInt64LittleEndian(s.Slice(4), r.RequestId);
            BinaryPrimitives.WriteUInt64LittleEndian(s.Slice(12), r.Ordinal);
            w.Advance(ClientEntryBytes);
        }
        var objects = new List<ObjectRecord>(_objects.Count);
        foreach (var x in _objects.Values) if (x.Accesses > 0) objects.Add(x);   // objects learnt from votes alone differ by replica
        objects.Sort(static (a, b) => a.Id.AsSpan().SequenceCompareTo(b.Id));
        Put32(w, (uint)objects.Count);
        foreach (var x in objects)
        {
            var s = w.GetSpan(ObjectEntryBytes + x.Id.Length);
            BinaryPrimitives.WriteInt32LittleEndian(s, x.Id.Length);
            x.Id.CopyTo(s.Slice(4));
            var t = s.Slice(4 + x.Id.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(t, x.Accesses);
            BinaryPrimitives.WriteUInt64LittleEndian(t.Slice(8), x.Writes);
            BinaryPrimitives.WriteUInt64LittleEndian(t.Slice(16), x.LastTrigger);
            BinaryPrimitives.WriteUInt64LittleEndian(t.Slice(24), x.LastTriggerOrdinal);
            w.Advance(ObjectEntryBytes + x.Id.Length);
        }
        Put32(w, (uint)_tail.Count);
        foreach (var q in _tail)
        {
            var s = w.GetSpan(RequestEntryBytes + q.Operation.Length);
            BinaryPrimitives.WriteUInt64LittleEndian(s, q.Ordinal);
            BinaryPrimitives.WriteUInt64LittleEndian(s.Slice(8), q.Sequence);
            BinaryPrimitives.WriteInt32LittleEndian(s.Slice(16), q.Index);
            BinaryPrimitives.WriteUInt32LittleEndian(s.Slice(20), q.ClientId);
            BinaryPrimitives.WriteUInt64LittleEndian(s.Slice(24), q.RequestId);
            BinaryPrimitives.WriteInt32LittleEndian(s.Slice(32), q.Operation.Length);
            q.Operation.CopyTo(s.Slice(RequestEntryBytes));
            w.Advance(RequestEntryBytes + q.Operation.Length);
        }
    }

    private static void Put64(IBufferWriter<byte> w, ulong v) { BinaryPrimitives.WriteUInt64LittleEndian(w.GetSpan(8), v); w.Advance(8); }
    private static void Put32(IBufferWriter<byte> w, uint v) { BinaryPrimitives.WriteUInt32LittleEndian(w.GetSpan(4), v); w.Advance(4); }

    /// <summary>
    /// Installs a selector snapshot (<see cref="WriteSnapshot"/>) whose agreement checkpoint digest the caller verified against a
    /// certificate of f+1 matching CHECKPOINTs. Every field is validated before anything is allocated or changed (counts and
    /// lengths against the bytes left, ids ≤ <see cref="OdrcLimits.MaxObjectIdBytes"/>, ascending order, counters consistent
    /// with the tail's own analysis); false changes nothing. Then every object's copy is placed at its <em>base</em>: its last
    /// checkpoint trigger (stale: waits for that state, fetched from every other replica and accepted on f+1 identical
    /// answers), or — an object never checkpointed — the local copy (the initial state on a fresh replica). The tail's requests
    /// after an object's base are stored on it, so the update of Fig. 6.6 replays them before the object is used; objects this
    /// replica maintains are brought current the same way by the first request that needs them.
    /// </summary>
    /// <remarks>
    /// A tail request pending on some of its objects but already reflected in another's base (a multi-object request between
    /// two objects' last triggers, docs/odrc.md §9) is handled by its access kinds (service analysis, a deterministic function
    /// of the operation): S6/E1 — it overwrites every reflected object without reading it: replayed on the pending objects
    /// only, the reflected objects' copies put back after it; S6/E2 — it only reads the pending objects: not replayed;
    /// otherwise (S7) its pending objects are <em>unresolved</em> — every pending request on them is skipped here and spreads
    /// the mark, and so does every later request on them (<see cref="InsertRequest"/>) — until a stable object checkpoint past
    /// the gap is installed by a G18 jump. Refused (false, nothing changed) only if malformed or inconsistent. Drops everything
    /// the selector held: stored and selected requests, votes, held states, adoptions and alarms.
    /// </remarks>
    /// <param name="body">the selector part of the snapshot.</param>
    /// <returns>true if installed.</returns>
    public bool TryRestore(ReadOnlySpan<byte> body)
    {
        if (!Validate(body, out int clientCount, out int objectCount, out int requestCount)) { RestoresRefused++; return false; }
        ulong ordinal = BinaryPrimitives.ReadUInt64LittleEndian(body);
        int p = 12 + clientCount * ClientEntryBytes;
        int objectsAt = p + 4;
        // new object records, with base positions from the snapshot and the old local copies
        var records = new Dictionary<byte[], ObjectRecord>(objectCount, ObjectIdComparer.Instance);
        var bases = new Dictionary<ObjectRecord, (ulong Base, ulong BaseAccess)>(objectCount);
        var oldLookup = _objects.GetAlternateLookup<ReadOnlySpan<byte>>();
        p = objectsAt;
        for (int i = 0; i < objectCount; i++)
        {
            int len = BinaryPrimitives.ReadInt32LittleEndian(body.Slice(p));
            var id = body.Slice(p + 4, len);
            var t = body.Slice(p + 4 + len);
            p += ObjectEntryBytes + len;
            ulong m = MaintainersOf(id);
            var x = new ObjectRecord(id.ToArray(), m, ObjectPlacement.Contains(m, _self))
            {
                Accesses = BinaryPrimitives.ReadUInt64LittleEndian(t),
                Writes = BinaryPrimitives.ReadUInt64LittleEndian(t.Slice(8)),
                LastTrigger = BinaryPrimitives.ReadUInt64LittleEndian(t.Slice(16)),
                LastTriggerOrdinal = BinaryPrimitives.ReadUInt64LittleEndian(t.Slice(24)),
            };
            if (!records.TryAdd(x.Id, x)) { RestoresRefused++; return false; }
            // object states it holds stay servable (its own checkpoints, verified fetches): it may be the only correct holder
            if (oldLookup.TryGetValue(id, out var prior))
            {
                x.States.AddRange(prior.States);
                // and a stable checkpoint it knew at its base (f+1 votes): the base is verified against its hash, one correct holder suffices
                if (x.LastTriggerOrdinal != 0 && prior.StableAt(x.LastTriggerOrdinal) is { } known) x.Stable.Add(known);
            }
            ulong baseOrdinal = x.LastTriggerOrdinal, baseAccess = x.LastTrigger;
            if (baseOrdinal == 0)
            {
                // never checkpointed: every access is in the tail; start from the local copy if it is valid (fresh: initial)
                if (oldLookup.TryGetValue(id, out var old))
                {
                    if (old.NeedsState != 0 || old.Applied > ordinal) { RestoresRefused++; return false; }
                    baseOrdinal = old.Applied;
                }
                baseAccess = ulong.MaxValue;                          // known after the tail walk below
            }
            bases[x] = (baseOrdinal, baseAccess);
        }
        // the tail: analyse each request, decide pending (after the base of every object) or reflected (in every base)
        int requestsAt = p + 4;
        var tail = new List<OdrcRequest>(requestCount);              // every tail request: the next snapshot must carry the same
        int pendingTotal = 0, replayedExactly = 0, readsSkipped = 0, unresolvedSeeds = 0;
        var objs = new List<ObjectRecord>();
        var kinds = new List<ObjectAccess>();
        var pendingCount = new Dictionary<ObjectRecord, ulong>();
        var totalCount = new Dictionary<ObjectRecord, ulong>();
        p = requestsAt;
        for (int i = 0; i < requestCount; i++)
        {
            var e = body.Slice(p);
            int opLen = BinaryPrimitives.ReadInt32LittleEndian(e.Slice(32));
            var op = e.Slice(RequestEntryBytes, opLen);
            p += RequestEntryBytes + opLen;
            ulong s = BinaryPrimitives.ReadUInt64LittleEndian(e);
            if (!AnalyzeForRestore(op, records, objs, kinds)) { RestoresRefused++; return false; }
            int after = 0;
            bool reflectedOverwritten = true, pendingOnlyRead = true;
            for (int j = 0; j < objs.Count; j++)
            {
                var x = objs[j];
                totalCount[x] = totalCount.GetValueOrDefault(x) + 1;
                if (s > bases[x].Base)
                {
                    after++;
                    pendingCount[x] = pendingCount.GetValueOrDefault(x) + 1;
                    if (kinds[j] != ObjectAccess.Read) pendingOnlyRead = false;
                }
                else if (kinds[j] != ObjectAccess.Overwrite) reflectedOverwritten = false;
            }
            var r = new OdrcRequest
            {
                Ordinal = s, Sequence = BinaryPrimitives.ReadUInt64LittleEndian(e.Slice(8)), Index = BinaryPrimitives.ReadInt32LittleEndian(e.Slice(16)),
                ClientId = BinaryPrimitives.ReadUInt32LittleEndian(e.Slice(20)), RequestId = BinaryPrimitives.ReadUInt64LittleEndian(e.Slice(24)),
                Operation = op.ToArray(), Objects = objs.Count == 1 ? objs[0].AsArray : objs.ToArray(), Accesses = objs.Count == 1 ? [] : new ulong[objs.Count],
            };
            if (objs.Count > 1) r.Flags = new byte[objs.Count];
            if (after == 0) r.State = OdrcRequestState.Executed;          // already in every base
            else if (after == objs.Count) r.State = OdrcRequestState.Stored;   // pending on every object: replayed from the bases
            else if (reflectedOverwritten)
            {
                // S6/E1: between bases, but it overwrites every object whose base already has it without reading it — neither its
                // effect on the others nor its reply depends on them: replayed for the pending objects, the reflected ones protected
                r.State = OdrcRequestState.Stored;
                r.HasReflected = true;
                for (int j = 0; j < objs.Count; j++) if (s <= bases[objs[j]].Base) r.AddFlags(j, OdrcRequest.FlagReflected);
                replayedExactly++;
            }
            else if (pendingOnlyRead)
            {
                r.State = OdrcRequestState.Skipped;                      // S6/E2: it changed no pending object (its reply: not computable here)
                readsSkipped++;
                for (int j = 0; j < objs.Count; j++) if (s > bases[objs[j]].Base) (objs[j].ReadsSkipped ??= new()).Add(s);
            }
            else
            {
                // S7: its effect on the pending objects cannot be computed here: they are unresolved until a stable checkpoint past it
                r.State = OdrcRequestState.Skipped;
                for (int j = 0; j < objs.Count; j++)
                    if (s > bases[objs[j]].Base) objs[j].UnresolvedUntil = Math.Max(objs[j].UnresolvedUntil, s);
                unresolvedSeeds++;
                Trace?.Invoke($"restore: request {s} between bases, not replayable: its pending objects are unresolved");
            }
            tail.Add(r);
        }
        // counters must agree with the tail: an object checkpointed at access c has exactly accesses − c requests after it;
        // one never checkpointed has all its accesses in the tail
        foreach (var (x, b) in bases)
        {
            ulong after = pendingCount.GetValueOrDefault(x);
            if (x.LastTriggerOrdinal != 0 ? after != x.Accesses - x.LastTrigger : totalCount.GetValueOrDefault(x) != x.Accesses) { RestoresRefused++; return false; }
        }
        // S7 fixed point: a pending request on an unresolved object cannot execute here either, so its pending objects are unresolved too
        for (bool changed = unresolvedSeeds > 0; changed;)
        {
            changed = false;
            foreach (var r in tail)
            {
                if (r.State != OdrcRequestState.Stored) continue;
                bool hit = false;
                for (int j = 0; j < r.Objects.Length && !hit; j++) hit = !r.IsReflected(j) && r.Objects[j].UnresolvedUntil != 0;
                if (!hit) continue;
                r.State = OdrcRequestState.Skipped;
                changed = true;
                for (int j = 0; j < r.Objects.Length; j++)
                    if (!r.IsReflected(j)) r.Objects[j].UnresolvedUntil = Math.Max(r.Objects[j].UnresolvedUntil, r.Ordinal);
            }
        }
        int unresolvedObjects = 0;
        foreach (var x in bases.Keys) if (x.UnresolvedUntil != 0) unresolvedObjects++;
        // install: from here on nothing fails
        _objects.Clear();
        foreach (var (id, x) in records) _objects.Add(id, x);
        _lastOfClient.Clear(); _stored.Clear(); _storedDead = 0; _selected.Clear(); _selectedHead = 0; _plan.Clear(); _planHead = 0;
        _alarmed.Clear(); _jumpPending.Clear(); _adoptedGroups.Clear(); _adoptionEvidence.Clear(); _tail.Clear(); _restoredByOrdinal.Clear();
        _ordinal = ordinal;
        foreach (var (x, b) in bases)
        {
            x.Applied = b.Base;
            x.NeedsState = x.LastTriggerOrdinal != 0 && x.UnresolvedUntil == 0 ? b.Base : 0;   // the copy waits for the state at its last trigger
            x.Restoring = x.Maintained && x.UnresolvedUntil == 0;      // maintained, but brought current on demand (Fig. 6.6) first
        }
        var next = new Dictionary<ObjectRecord, ulong>(objectCount);
        foreach (var x in bases.Keys) next[x] = x.Accesses;
        for (int i = tail.Count - 1; i >= 0; i--)
        {
            // an object's accesses after its last trigger are all in the tail (its last ones); a never-checkpointed object has
            // every access in it; a tail request at or before an object's last trigger is closed on it (only IsOpen reads that)
            var r = tail[i];
            ulong executors = 0;
            bool cross = false;
            for (int j = 0; j < r.Objects.Length; j++)
            {
                var x = r.Objects[j];
                r.SetAccess(j, x.LastTriggerOrdinal != 0 && r.Ordinal <= x.LastTriggerOrdinal ? x.LastTrigger : next[x]--);
                executors |= x.Maintainers;
                if (x.Maintainers != r.Objects[0].Maintainers) cross = true;
            }
            r.Executors = executors;
            r.CrossBorder = cross;
        }
        foreach (var r in tail)
        {
            _tail.Add(r);
            _restoredByOrdinal[r.Ordinal] = r;
            if (r.State != OdrcRequestState.Stored) continue;
            pendingTotal++;
            for (int j = 0; j < r.Objects.Length; j++)
                if (!r.IsReflected(j)) r.Objects[j].Log.Add(r);        // stored: executed elsewhere while this replica was away
            _stored.Add(r);
        }
        p = 12;
        for (int i = 0; i < clientCount; i++, p += ClientEntryBytes)
        {
            uint c = BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(p));
            ulong rid = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(p + 4));
            ulong s = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(p + 12));
            _lastOfClient[c] = _restoredByOrdinal.TryGetValue(s, out var r) && r.ClientId == c && r.RequestId == rid
                ? r
                : new OdrcRequest { Ordinal = s, ClientId = c, RequestId = rid, State = OdrcRequestState.Skipped };   // answered elsewhere (reply cache, verified hashes)
        }
        _restoredByOrdinal.Clear();
        _tailCompactAt = Math.Max(1024, 2 * _tail.Count);
        Restores++;
        BetweenBasesReplayed += replayedExactly;
        BetweenBasesReadsSkipped += readsSkipped;
        UnresolvedAtRestore += unresolvedObjects;
        Trace?.Invoke($"restore at ordinal {ordinal}: {objectCount} objects, {tail.Count} tail requests, {pendingTotal} pending here, {replayedExactly} replayed without their overwritten objects, {readsSkipped} reads skipped, {unresolvedObjects} objects unresolved");
        return true;
    }

    /// <summary>Structure of a snapshot body: every length and count checked against the bytes left before anything is allocated; ids bounded and ascending; clients ascending; requests ascending and not after the ordinal.</summary>
    private static bool Validate(ReadOnlySpan<byte> b, out int clients, out int objects, out int requests)
    {
        clients = objects = requests = 0;
        if (b.Length < 8 + 4) return false;
        ulong ordinal = BinaryPrimitives.ReadUInt64LittleEndian(b);
        uint cc = BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(8));
        int p = 12;
        if (cc > (uint)(b.Length - p) / ClientEntryBytes) return false;
        uint lastClient = 0;
        for (int i = 0; i < (int)cc; i++, p += ClientEntryBytes)
        {
            uint c = BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(p));
            ulong rid = BinaryPrimitives.ReadUInt64LittleEndian(b.Slice(p + 4));
            ulong s = BinaryPrimitives.ReadUInt64LittleEndian(b.Slice(p + 12));
            if ((i > 0 && c <= lastClient) || rid == 0 || s == 0 || s > ordinal) return false;
            lastClient = c;
        }
        if (b.Length - p < 4) return false;
        uint oc = BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(p));
        p += 4;
        if (oc > (uint)(b.Length - p) / ObjectEntryBytes) return false;
        ReadOnlySpan<byte> lastId = default;
        for (int i = 0; i < (int)oc; i++)
        {
            if (b.Length - p < ObjectEntryBytes) return false;
            int len = BinaryPrimitives.ReadInt32LittleEndian(b.Slice(p));
            if (len < 0 || len > OdrcLimits.MaxObjectIdBytes || len > b.Length - p - ObjectEntryBytes) return false;
            var id = b.Slice(p + 4, len);
            if (i > 0 && lastId.SequenceCompareTo(id) >= 0) return false;
            lastId = id;
            var t = b.Slice(p + 4 + len);
            ulong accesses = BinaryPrimitives.ReadUInt64LittleEndian(t), writes = BinaryPrimitives.ReadUInt64LittleEndian(t.Slice(8));
            ulong trig = BinaryPrimitives.ReadUInt64LittleEndian(t.Slice(16)), trigOrdinal = BinaryPrimitives.ReadUInt64LittleEndian(t.Slice(24));
            if (accesses == 0 || writes > accesses || trig > accesses || trigOrdinal > ordinal || (trig == 0) != (trigOrdinal == 0)) return false;
            p += ObjectEntryBytes + len;
        }
        if (b.Length - p < 4) return false;
        uint rc = BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(p));
        p += 4;
        if (rc > (uint)(b.Length - p) / RequestEntryBytes) return false;
        ulong lastOrdinal = 0;
        for (int i = 0; i < (int)rc; i++)
        {
            if (b.Length - p < RequestEntryBytes) return false;
            ulong s = BinaryPrimitives.ReadUInt64LittleEndian(b.Slice(p));
            int opLen = BinaryPrimitives.ReadInt32LittleEndian(b.Slice(p + 32));
            ulong rid = BinaryPrimitives.ReadUInt64LittleEndian(b.Slice(p + 24));
            if (s <= lastOrdinal || s > ordinal || rid == 0 || opLen < 0 || opLen > b.Length - p - RequestEntryBytes) return false;
            lastOrdinal = s;
            p += RequestEntryBytes + opLen;
        }
        if (p != b.Length) return false;                              // no slack
        clients = (int)cc; objects = (int)oc; requests = (int)rc;
        return true;
    }

    /// <summary>
    /// The distinct objects of a tail request, as <see cref="InsertRequest"/> analyses them, each with the service's access kind
    /// (<see cref="IInPlaceWriteAnalyzer.AnalyzeAccess"/> or <see cref="FastBft.Service.IObjectStateService.AnalyzeWrites"/>, whether or not write
    /// knowledge is on — it decides no checkpoint position here, only whether a request between bases can be replayed exactly, S6;
    /// a repeated id keeps its kind only if every occurrence has it; no knowledge = ReadWrite). False if an object is not in the
    /// snapshot (inconsistent).
    /// </summary>
    private bool AnalyzeForRestore(ReadOnlySpan<byte> operation, Dictionary<byte[], ObjectRecord> records, List<ObjectRecord> into, List<ObjectAccess> kinds)
    {
        into.Clear();
        kinds.Clear();
        var lookup = records.GetAlternateLookup<ReadOnlySpan<byte>>();
        if (_inPlace is not null)
        {
            _ids.Clear();
            bool analyzed = _inPlace.AnalyzeRequest(operation, _ids) && _ids.Count > 0;
            if (!analyzed) { _ids.Clear(); _ids.Add(NoObject); }
            var k = new ObjectAccess[_ids.Count];
            bool known = analyzed && _inPlaceWrites is not null && _inPlaceWrites.AnalyzeAccess(operation, k);
            for (int i = 0; i < _ids.Count; i++)
            {
                if (!lookup.TryGetValue(_ids[i], out var x)) return false;
                var kind = known && (byte)k[i] <= (byte)ObjectAccess.CountedOverwrite ? k[i] : ObjectAccess.ReadWrite;
                MergeKind(x, kind, into, kinds);
            }
            return true;
        }
        _keys.Clear();
        bool ok = _service.AnalyzeRequest(operation, _keys) && _keys.Count > 0;
        if (!ok) { _keys.Clear(); _keys.Add(NoObject); }
        _written.Clear();
        bool writes = ok && _service.AnalyzeWrites(operation, _written);
        foreach (var key in _keys)
        {
            if (!lookup.TryGetValue(key, out var x)) return false;
            bool written = !writes;
            if (writes) foreach (var w in _written) if (w.AsSpan().SequenceEqual(key)) { written = true; break; }
            MergeKind(x, written ? ObjectAccess.ReadWrite : ObjectAccess.Read, into, kinds);
        }
        return true;
    }

    /// <summary>As <see cref="AddObject"/>: a repeated object keeps its kind only if it is the same (and not a counted overwrite, which might count twice).</summary>
    private static void MergeKind(ObjectRecord x, ObjectAccess kind, List<ObjectRecord> into, List<ObjectAccess> kinds)
    {
        int at = into.IndexOf(x);
        if (at < 0) { into.Add(x); kinds.Add(kind); return; }
        if (kinds[at] != kind || kind == ObjectAccess.CountedOverwrite) kinds[at] = ObjectAccess.ReadWrite;
    }

    /// <summary>S6: the local copies of a replayed request's reflected objects, taken right before it is handed out and put back once it executed.</summary>
    private readonly List<(ObjectRecord Object, byte[] State)> _protectedCopies = new();

    /// <summary>S6 (docs/odrc.md §9): before a request with reflected objects is handed out, keep their local copies (their base is past it).</summary>
    private void SaveReflected(OdrcRequest q)
    {
        _protectedCopies.Clear();
        for (int i = 0; i < q.Objects.Length; i++)
        {
            if (!q.IsReflected(i)) continue;
            _stateWriter.ResetWrittenCount();
            _service.GetObjectState(q.Objects[i].Id, _stateWriter);
            _protectedCopies.Add((q.Objects[i], _stateWriter.WrittenSpan.ToArray()));
        }
    }

    /// <summary>S6: after the request executed, its reflected objects get their copies back (the request overwrote them without reading them).</summary>
    private void RestoreReflected(OdrcRequest q)
    {
        foreach (var (x, state) in _protectedCopies) _service.SetObjectState(x.Id, state);
        _protectedCopies.Clear();
        Trace?.Invoke($"replayed {q.Ordinal} without its effect on its reflected objects (S6)");
    }

    /// <summary>Tail requests between bases replayed on their pending objects only, exactly (docs/odrc.md §9 S6, E1: they overwrite the others).</summary>
    public long BetweenBasesReplayed { get; private set; }
    /// <summary>Tail requests between bases that only read their pending objects: nothing to replay (S6, E2).</summary>
    public long BetweenBasesReadsSkipped { get; private set; }
    /// <summary>Objects left unresolved by installed snapshots (S7): usable here again only after a stable object checkpoint past their gap.</summary>
    public long UnresolvedAtRestore { get; private set; }

    /// <summary>True if the tail request at <paramref name="ordinal"/> only read <paramref name="objectId"/> and was not replayed on it after a state transfer (docs/odrc.md §9 S6, E2): the copy is as current as if it had been (diagnostics and oracles).</summary>
    public bool SkippedReadAt(ReadOnlySpan<byte> objectId, ulong ordinal)
    {
        var lookup = _objects.GetAlternateLookup<ReadOnlySpan<byte>>();
        return lookup.TryGetValue(objectId, out var x) && x.ReadsSkipped is { } l && l.Contains(ordinal);
    }

    /// <summary>Objects unresolved here now (docs/odrc.md §9 S7; O(objects), diagnostics).</summary>
    public int UnresolvedCount
    {
        get
        {
            int n = 0;
            foreach (var x in _objects.Values) if (x.UnresolvedUntil != 0) n++;
            return n;
        }
    }

    /// <summary>True if the state of <paramref name="objectId"/> is unresolved here after a state transfer (docs/odrc.md §9 S7): no request on it executes here until a stable object checkpoint past its gap is installed.</summary>
    public bool IsUnresolved(ReadOnlySpan<byte> objectId)
    {
        var lookup = _objects.GetAlternateLookup<ReadOnlySpan<byte>>();
        return lookup.TryGetValue(objectId, out var x) && x.UnresolvedUntil != 0;
    }

    /// <summary>
    /// An OBJECT-STATE for a base position no stable checkpoint known here covers (after <see cref="TryRestore"/>: the votes
    /// of that object checkpoint went by while this replica was away). A correct replica holds only correct states (its own
    /// checkpoints and verified fetched ones), so f+1 identical answers from distinct replicas include a correct one: the state
    /// is then accepted, and recorded as that object's stable checkpoint (without reply hashes). First answer per sender counts;
    /// at most E candidates are kept per object.
    /// </summary>
    private bool OfferBaseState(ObjectRecord x, uint from, ulong ordinal, ReadOnlySpan<byte> state)
    {
        if (from >= _placement.ExecutionReplicas || from == _self) return false;
        var candidates = x.BaseCandidates ??= new();
        foreach (var c in candidates) if (c.Sender == from) return false;
        var hash = new byte[32];
        FastBft.Wire.Digests.Sha256(state, hash);
        int matching = 1;
        foreach (var c in candidates) if (c.Hash.AsSpan().SequenceEqual(hash)) matching++;
        if (matching < _f + 1) { candidates.Add((from, hash, state.ToArray())); return false; }
        x.BaseCandidates = null;
        int at = 0;
        while (at < x.Stable.Count && x.Stable[at].Ordinal < ordinal) at++;
        x.Stable.Insert(at, new StableObjectCheckpoint { Ordinal = ordinal, StateHash = hash, Replies = [], LastAccess = 0 });
        x.FetchedState = state.ToArray();
        RestoredStatesVerified++;
        Stats.StatesVerified++;
        return true;
    }

    /// <summary>An object whose base has no stable checkpoint here: ask every other replica at once (f+1 identical answers are needed). True if it handled the fetch.</summary>
    private bool FetchBaseState(ObjectRecord x)
    {
        if (x.StableAt(x.NeedsState) is not null) return false;
        if (_o.BaseFetchAttempts > 0 && x.FetchAttempts >= _o.BaseFetchAttempts)
        {
            if (!_unreachableBases.Contains(x)) _unreachableBases.Add(x);   // handled by NextRequest once the update gave up (S7)
            return true;
        }
        x.NextFetchTick = _tick + _o.FetchRetryTicks;
        x.FetchAttempts++;
        Stats.FetchesSent++;
        _out.SendObjectFetch(uint.MaxValue, x.Id, x.NeedsState);
        return true;
    }

    /// <summary>Objects whose base state (S4) did not arrive in <see cref="SelectorOptions.BaseFetchAttempts"/> fetch rounds.</summary>
    private readonly List<ObjectRecord> _unreachableBases = new();
    private readonly List<(ObjectRecord Object, ulong From)> _unresolveWork = new();

    /// <summary>
    /// S7 for a base state no f+1 replicas answer (docs/odrc.md §9): the object becomes unresolved, every request on it not
    /// executed yet is skipped here (stored or selected — called only between plans, so none is being handed out), and so is
    /// every later not-yet-executed request on the other objects of those requests, which become unresolved from there on.
    /// They all wait for a stable object checkpoint past their gap (G18 jump), as after an unreplayable tail request.
    /// </summary>
    private void MakeUnreachableBasesUnresolved()
    {
        _unresolveWork.Clear();
        foreach (var x in _unreachableBases) _unresolveWork.Add((x, 0));
        _unreachableBases.Clear();
        for (int w = 0; w < _unresolveWork.Count; w++)
        {
            var (x, from) = _unresolveWork[w];
            if (from == 0)
            {
                // the object whose base did not come: nothing on it can execute here. (Another object below keeps its pending
                // base: its requests before `from` still need it and may execute.)
                if (x.NeedsState == 0 || x.FetchedState is not null) continue;   // it arrived meanwhile
                x.UnresolvedUntil = Math.Max(x.UnresolvedUntil, x.NeedsState);   // (a checkpoint at its base no longer helps: past it only)
                x.NeedsState = 0;
                x.FetchAttempts = 0;
                x.BaseCandidates = null;
                Trace?.Invoke($"base of {System.Text.Encoding.UTF8.GetString(x.Id)} unreachable: unresolved");
            }
            for (int i = x.Log.Count - 1; i >= 0; i--)
            {
                var q = x.Log[i];
                if (q.Ordinal < from || q.State is not (OdrcRequestState.Stored or OdrcRequestState.Selected)) continue;
                if (q.State == OdrcRequestState.Stored) _storedDead++;
                q.State = OdrcRequestState.Skipped;                    // the selected queue steps over it
                Stats.UnresolvedSkipped++;
                x.Log.RemoveAt(i);
                x.UnresolvedUntil = Math.Max(x.UnresolvedUntil, q.Ordinal);
                for (int j = 0; j < q.Objects.Length; j++)
                {
                    var z = q.Objects[j];
                    if (z == x || q.IsReflected(j)) continue;
                    z.Log.Remove(q);
                    z.UnresolvedUntil = Math.Max(z.UnresolvedUntil, q.Ordinal);
                    _unresolveWork.Add((z, q.Ordinal));
                }
            }
        }
        _unresolveWork.Clear();
        CompactStored();
    }

    /// <summary>After an update: an object maintained here that was restored is current once no stored request on it is left.</summary>
    private static void EndRestoring(ObjectRecord x)
    {
        if (!x.Restoring || x.NeedsState != 0) return;
        foreach (var q in x.Log) if (q.State == OdrcRequestState.Stored) return;
        x.Restoring = false;
    }
}
