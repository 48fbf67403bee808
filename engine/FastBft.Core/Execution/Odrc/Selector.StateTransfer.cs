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
/// it was away) and the tail's requests, through the ordinary update of Fig. 6.6.
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
    /// Refused (false) when a tail request would be pending on one of its objects but already reflected in another's base
    /// (a multi-object request between two objects' last triggers): replaying it needs that other object at an older position,
    /// which neither the snapshot nor a kept object checkpoint provides; the replica then waits for the next agreement
    /// checkpoint (docs/odrc.md §9). Drops everything the selector held: stored and selected requests, votes, held states,
    /// adoptions and alarms.
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
        int pendingTotal = 0;
        var objs = new List<ObjectRecord>();
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
            if (!AnalyzeForRestore(op, records, objs)) { RestoresRefused++; return false; }
            int after = 0;
            foreach (var x in objs)
            {
                totalCount[x] = totalCount.GetValueOrDefault(x) + 1;
                if (s > bases[x].Base) after++;
            }
            if (after != 0 && after != objs.Count) { RestoresRefused++; Trace?.Invoke($"restore refused: request {s} between bases"); return false; }
            if (after != 0) { pendingTotal++; foreach (var x in objs) pendingCount[x] = pendingCount.GetValueOrDefault(x) + 1; }
            var r = new OdrcRequest
            {
                Ordinal = s, Sequence = BinaryPrimitives.ReadUInt64LittleEndian(e.Slice(8)), Index = BinaryPrimitives.ReadInt32LittleEndian(e.Slice(16)),
                ClientId = BinaryPrimitives.ReadUInt32LittleEndian(e.Slice(20)), RequestId = BinaryPrimitives.ReadUInt64LittleEndian(e.Slice(24)),
                Operation = op.ToArray(), Objects = objs.Count == 1 ? objs[0].AsArray : objs.ToArray(), Accesses = objs.Count == 1 ? [] : new ulong[objs.Count],
            };
            if (objs.Count > 1) r.Flags = new byte[objs.Count];
            r.State = after != 0 ? OdrcRequestState.Stored : OdrcRequestState.Executed;   // pending here, or already in every local copy
            tail.Add(r);
        }
        // counters must agree with the tail: an object checkpointed at access c has exactly accesses − c requests after it;
        // one never checkpointed has all its accesses in the tail
        foreach (var (x, b) in bases)
        {
            ulong after = pendingCount.GetValueOrDefault(x);
            if (x.LastTriggerOrdinal != 0 ? after != x.Accesses - x.LastTrigger : totalCount.GetValueOrDefault(x) != x.Accesses) { RestoresRefused++; return false; }
        }
        // install: from here on nothing fails
        _objects.Clear();
        foreach (var (id, x) in records) _objects.Add(id, x);
        _lastOfClient.Clear(); _stored.Clear(); _storedDead = 0; _selected.Clear(); _selectedHead = 0; _plan.Clear(); _planHead = 0;
        _alarmed.Clear(); _jumpPending.Clear(); _adoptedGroups.Clear(); _adoptionEvidence.Clear(); _tail.Clear(); _restoredByOrdinal.Clear();
        _ordinal = ordinal;
        foreach (var (x, b) in bases)
        {
            x.Applied = b.Base;
            x.NeedsState = x.LastTriggerOrdinal != 0 ? b.Base : 0;    // the copy waits for the state at its last trigger
            x.Restoring = x.Maintained;                                // maintained, but brought current on demand (Fig. 6.6) first
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
            foreach (var x in r.Objects) x.Log.Add(r);                 // stored: executed elsewhere while this replica was away
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
        Trace?.Invoke($"restore at ordinal {ordinal}: {objectCount} objects, {tail.Count} tail requests, {pendingTotal} pending here");
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

    /// <summary>The distinct objects of a tail request, as <see cref="InsertRequest"/> analyses them; false if one is not in the snapshot (inconsistent).</summary>
    private bool AnalyzeForRestore(ReadOnlySpan<byte> operation, Dictionary<byte[], ObjectRecord> records, List<ObjectRecord> into)
    {
        into.Clear();
        var lookup = records.GetAlternateLookup<ReadOnlySpan<byte>>();
        if (_inPlace is not null)
        {
            _ids.Clear();
            if (!_inPlace.AnalyzeRequest(operation, _ids) || _ids.Count == 0) { _ids.Clear(); _ids.Add(NoObject); }
            for (int i = 0; i < _ids.Count; i++)
            {
                if (!lookup.TryGetValue(_ids[i], out var x)) return false;
                if (!into.Contains(x)) into.Add(x);
            }
            return true;
        }
        _keys.Clear();
        if (!_service.AnalyzeRequest(operation, _keys) || _keys.Count == 0) { _keys.Clear(); _keys.Add(NoObject); }
        foreach (var k in _keys)
        {
            if (!lookup.TryGetValue(k, out var x)) return false;
            if (!into.Contains(x)) into.Add(x);
        }
        return true;
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
        x.NextFetchTick = _tick + _o.FetchRetryTicks;
        x.FetchAttempts++;
        Stats.FetchesSent++;
        _out.SendObjectFetch(uint.MaxValue, x.Id, x.NeedsState);
        return true;
    }

    /// <summary>After an update: an object maintained here that was restored is current once no stored request on it is left.</summary>
    private static void EndRestoring(ObjectRecord x)
    {
        if (!x.Restoring || x.NeedsState != 0) return;
        foreach (var q in x.Log) if (q.State == OdrcRequestState.Stored) return;
        x.Restoring = false;
    }
}
