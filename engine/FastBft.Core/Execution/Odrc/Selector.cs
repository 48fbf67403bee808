using System.Buffers;
using FastBft.Service;

namespace FastBft.Execution.Odrc;

/// <summary>Selector parameters (docs/odrc.md §2).</summary>
public sealed record SelectorOptions
{
    /// <summary>K: an object is checkpointed at its K-th, 2K-th, … access (Thesis §6.3.4; G19) — with <see cref="WriteKnowledge"/>, at its K-th, 2K-th, … modifying access (§6.6.1.2). 1..4,096.</summary>
    public int CheckpointAccesses { get; init; } = 100;
    /// <summary>
    /// Use the service's write knowledge (Thesis §6.6.1.2; docs/odrc.md §3a): checkpoint every K writes (G19), replay only the
    /// requests that modify an object when bringing it up to date (reads only when no reply of theirs can be needed any more),
    /// select a write-only overwrite of an unmaintained object without bringing that object up to date, and execute only
    /// the last of a run of counted overwrites (ZooKeeper setData, rule W4) after the service accounts for the others. Takes effect
    /// only for operations the service classifies (<see cref="IInPlaceWriteAnalyzer"/> or
    /// <see cref="IObjectStateService.AnalyzeWrites"/> returning true). A cell-wide setting: every execution replica of a cell
    /// must use the same value (it decides where object checkpoints are taken).
    /// </summary>
    public bool WriteKnowledge { get; init; }
    /// <summary>
    /// With <see cref="WriteKnowledge"/>: an object is also checkpointed at the access that closes this many accesses since
    /// its previous checkpoint (reads included), so that a checkpoint's reply hashes stay bounded (G19). 0 = min(16·K, 4,096);
    /// else K..4,096 (<see cref="OdrcLimits.MaxReplyHashes"/>). Without write knowledge it is K.
    /// </summary>
    public int CheckpointMaxAccesses { get; init; }
    /// <summary>Ticks after the K-th access to an unmaintained object before the alarm of Fig. 6.8 forces that request here, if no stable checkpoint covers it by then. ≥ 1.</summary>
    public int AlarmTicks { get; init; } = 200;
    /// <summary>Ticks between two OBJECT-FETCH attempts for one object (each to the next candidate replica). ≥ 1.</summary>
    public int FetchRetryTicks { get; init; } = 4;
    /// <summary>
    /// After a state transfer: fetch rounds for a base state (S4: f+1 identical OBJECT-STATEs, no certified hash) before the object
    /// is made unresolved instead (docs/odrc.md §9 S7: no request on it executes here until a stable object checkpoint past it),
    /// so that a base no f+1 replicas hold any more (evicted; or a W2 gap under write knowledge) does not block the selected
    /// queue for good. 0 = never (wait for it). Default 64 (× <see cref="FetchRetryTicks"/> ticks).
    /// </summary>
    public int BaseFetchAttempts { get; init; } = 64;
    /// <summary>Stable checkpoints kept per object (the newest; the one a stale copy waits for is kept too). ≥ 1.</summary>
    public int StableKept { get; init; } = 4;
    /// <summary>
    /// Object states of checkpoints are kept to serve OBJECT-FETCH for at least this many ordered requests after them (besides
    /// the newest <see cref="StableKept"/>): a replica that lags further behind in using an object cannot fetch its old state. ≥ 0.
    /// </summary>
    public int StateRetentionOrdinals { get; init; } = 4096;
    /// <summary>
    /// Suspect and adopt (Thesis §6.6.1.4): after executing a request forced by a stalled-result notice, this replica maintains
    /// that request's objects from then on (the thesis' experiments adopt right after the first stall), so a crashed
    /// maintainer costs its clients one stall per object, not one per request.
    /// </summary>
    public bool AdoptOnStall { get; init; } = true;
    /// <summary>Ticks an adopted maintainer group stays adopted ("temporarily", §6.6.1.4); a stall during that time renews it. ≥ 1.</summary>
    public int AdoptTicks { get; init; } = 1000;
    /// <summary>End an adoption as soon as every maintainer of the adopted group sent an object checkpoint after the stall
    /// (they are alive: the stall was a slow replica or a lost reply), instead of only after <see cref="AdoptTicks"/>.</summary>
    public bool EndAdoptionOnCheckpoints { get; init; } = true;
    /// <summary>While the head of the selected queue waits for an object state, fetch the stale objects of up to this many
    /// following selected requests too (0: none). ≥ 0.</summary>
    public int PrefetchRequests { get; init; } = 256;
    /// <summary>Largest number of (object, ordinal) checkpoint vote sets kept per object (more from a faulty replica are dropped).</summary>
    public int MaxPendingVotesPerObject { get; init; } = 64;
    /// <summary>Execution replicas E of the cell (0: the agreement protocol's n). E &gt; n: an extended cell (ODRC₆), whose ids n..E-1
    /// are execution-only replicas fed by ORDERED-BATCH (docs/odrc.md §4, G21).</summary>
    public int ExecutionReplicas { get; init; }
}

/// <summary>Counters of one selector (one writer: the execution thread).</summary>
public sealed class SelectorStats
{
    /// <summary>Requests inserted (ordered, not duplicates).</summary>
    public long Inserted;
    /// <summary>Ordered requests dropped as a client's duplicate (rid not above the client's last ordered rid).</summary>
    public long Duplicates;
    /// <summary>Requests selected at insertion (Fig. 6.3).</summary>
    public long Selected;
    /// <summary>Requests stored at insertion (not executed here).</summary>
    public long Stored;
    /// <summary>Cross-border requests inserted (their objects have more than one maintainer set, §6.4.1).</summary>
    public long CrossBorder;
    /// <summary>Executions that needed an update of unmaintained objects (Fig. 6.6).</summary>
    public long Updates;
    /// <summary>Stored requests replayed by updates.</summary>
    public long Replayed;
    /// <summary>Requests forced here (stalled-result notices and alarms, Figs. 6.7–6.8).</summary>
    public long Forced;
    /// <summary>Maintainer groups adopted after a stall (§6.6.1.4).</summary>
    public long Adopted;
    /// <summary>Adoptions ended early because every maintainer of the group checkpointed again after the stall.</summary>
    public long AdoptionsEnded;
    /// <summary>Fig. 6.8 alarms that fired.</summary>
    public long Alarms;
    /// <summary>Stalled-result notices ignored because no such ordered request is known (§6.5.2).</summary>
    public long IgnoredNotices;
    /// <summary>Requests executed here.</summary>
    public long Executed;
    /// <summary>Stored requests never executed here because stable checkpoints cover them (§6.5.3).</summary>
    public long Skipped;
    /// <summary>Object checkpoints this selector created.</summary>
    public long CheckpointsTaken;
    /// <summary>Object checkpoints that became stable (f+1 matching).</summary>
    public long StableCheckpoints;
    /// <summary>Own object checkpoints that differ from the stable one (this replica diverged: a fault of this replica).</summary>
    public long OwnCheckpointMismatches;
    /// <summary>Object states fetched and verified against a stable checkpoint hash.</summary>
    public long StatesVerified;
    /// <summary>Fetched object states whose hash did not match (dropped).</summary>
    public long StatesRejected;
    /// <summary>Object states installed with SetObjectState.</summary>
    public long StatesInstalled;
    /// <summary>OBJECT-FETCH requests sent.</summary>
    public long FetchesSent;
    /// <summary>Times the head of the selected queue waited for an object state.</summary>
    public long Blocked;
    /// <summary>Checkpoint votes dropped (malformed, too many, stale).</summary>
    public long VotesDropped;
    /// <summary>Stored pure reads left out of an update because no reply of theirs can be needed any more (§6.6.1.2, rule W2).</summary>
    public long ReadsOmitted;
    /// <summary>Unmaintained objects made current by a write-only overwrite instead of an update that had something to do (stored requests to replay or a checkpoint state to fetch) (§6.6.1.2, rule W3).</summary>
    public long Overwrites;
    /// <summary>Stored requests an overwrite made obsolete on their only object (or pure reads), never executed here (rule W3).</summary>
    public long OverwriteDropped;
    /// <summary>Stored counted overwrites (ZooKeeper's unconditional setData) left out of updates, their counter step accounted for by the service instead (§6.6.1.2, §6.8.1, rule W4): executions saved.</summary>
    public long CountedOverwritesOmitted;
    /// <summary>Counted overwrites executed right after the service accounted for the ones left out before them (rule W4).</summary>
    public long CounterAdjustments;
    /// <summary>Ordered requests not executed here because they touch an unresolved object (docs/odrc.md §9 S7): this replica is silent on them.</summary>
    public long UnresolvedSkipped;
    /// <summary>Unresolved objects made usable again by a G18 jump to a stable object checkpoint (docs/odrc.md §9 S7).</summary>
    public long UnresolvedResolved;
}

/// <summary>
/// The ODRC selector of one execution replica (Thesis §6.3–§6.4, Figs. 6.3–6.8; PROTOCOLS.md §7; docs/odrc.md): it decides
/// which ordered requests its execution replica runs, brings state objects it does not maintain up to date on demand
/// (cross-border requests, Fig. 6.6), creates and verifies object checkpoints (§6.3.4) and forces requests on stalls
/// (Figs. 6.7, 6.8). A pure state machine: no I/O, threads, clocks or randomness; messages leave through
/// <see cref="ISelectorOutput"/>, time arrives as <see cref="OnTick"/>. It calls the service only for
/// <see cref="IRequestAnalyzer.AnalyzeRequest"/>, <see cref="IObjectStateService.GetObjectState"/> and
/// <see cref="IObjectStateService.SetObjectState"/> (and, with write knowledge, <see cref="ICountedOverwriteService.AccountSkippedOverwrites"/>
/// right before handing out a request that closes a run of counted overwrites); the caller executes what <see cref="NextRequest"/> returns and
/// reports it with <see cref="Executed"/>.
/// </summary>
/// <remarks>
/// Decisions the seeds left open (docs/odrc.md §4): ordinals number requests from 1 in agreement order (s of the thesis);
/// accesses are counted for every object at insertion (G19); the update of Fig. 6.6 runs when the request reaches the head
/// of the selected queue (equivalent to running it at insertion, since the queue executes in order, and it lets the
/// object-state fetch be asynchronous); G18: a checkpoint is only installed as a group jump that skips every stored
/// request it covers on all of that request's objects, so no request is ever applied twice to an object and none is
/// needed after it was dropped. Single-threaded; not thread-safe.
/// </remarks>
public sealed partial class Selector
{
    private static readonly byte[] NoObject = [];
    private readonly uint _self;
    private readonly int _f;
    private readonly ObjectPlacement _placement;
    private readonly IObjectStateService _service;
    private readonly ISelectorOutput _out;
    private readonly SelectorOptions _o;
    private readonly ulong _k;
    private readonly ulong _kMax;
    private readonly bool _wk;
    private readonly IInPlaceWriteAnalyzer? _inPlaceWrites;
    private readonly ICountedOverwriteService? _counter;
    private readonly List<OdrcRequest> _runDropped = new();
    private readonly List<OdrcRequest> _collapsed = new();
    private readonly List<(OdrcRequest Survivor, ObjectRecord Object, ulong Count)> _survivors = new();   // W4 accountings of the current plan
    private ObjectAccess[] _kinds = new ObjectAccess[16];
    private readonly List<ObjectAccess> _scratchKinds = new();
    private readonly List<byte[]> _written = new();
    private readonly List<OdrcRequest> _omit = new();
    private readonly List<ObjectRecord> _overwrite = new();
    private readonly List<OdrcRequest> _dropped = new();
    private readonly Dictionary<byte[], ObjectRecord> _objects = new(ObjectIdComparer.Instance);
    private readonly Dictionary<uint, OdrcRequest> _lastOfClient = new();
    private readonly List<OdrcRequest> _stored = new();
    private int _storedDead;
    private readonly List<OdrcRequest> _selected = new();
    private int _selectedHead;
    private readonly List<OdrcRequest> _plan = new();
    private int _planHead;
    private readonly List<ObjectRecord> _alarmed = new();
    private readonly List<ObjectRecord> _jumpPending = new();
    private readonly Dictionary<ulong, long> _adoptedGroups = new();   // maintainer mask → tick the adoption ends
    private readonly Dictionary<ulong, (ulong Since, ulong Seen)> _adoptionEvidence = new();   // maintainer mask → ordinal adopted at, maintainers seen checkpointing since
    private readonly List<byte[]> _keys = new();
    private readonly ObjectIdBuffer _ids = new();
    private readonly List<ulong> _staleVotes = new();
    private readonly IInPlaceRequestAnalyzer? _inPlace;
    private readonly List<ObjectRecord> _scratchObjects = new();
    private readonly List<ObjectRecord> _involved = new();
    private readonly List<OdrcRequest> _closure = new();
    private readonly List<ObjectRecord> _jumpSet = new();
    private readonly ArrayBufferWriter<byte> _stateWriter = new(256);
    private int _epoch;
    private ulong _ordinal;
    private long _tick;

    /// <summary>Creates the selector of execution replica <paramref name="self"/>.</summary>
    /// <param name="self">this execution replica's id (0..E-1).</param>
    /// <param name="placement">the maintained-object assignment (same on every replica).</param>
    /// <param name="service">the service: request analysis and object state.</param>
    /// <param name="output">where object checkpoints and fetches leave.</param>
    /// <param name="options">parameters; null = defaults.</param>
    /// <exception cref="ArgumentException">self not below E, or an option out of range.</exception>
    public Selector(uint self, ObjectPlacement placement, IObjectStateService service, ISelectorOutput output, SelectorOptions? options = null)
    {
        _o = options ?? new SelectorOptions();
        if (self >= placement.ExecutionReplicas) throw new ArgumentException($"execution replica {self} is not in 0..{placement.ExecutionReplicas - 1}", nameof(self));
        if (_o.CheckpointAccesses < 1 || _o.CheckpointAccesses > OdrcLimits.MaxReplyHashes || _o.AlarmTicks < 1 || _o.FetchRetryTicks < 1 || _o.StableKept < 1 || _o.MaxPendingVotesPerObject < 1 || _o.StateRetentionOrdinals < 0 || _o.AdoptTicks < 1)
            throw new ArgumentException("selector options must be ≥ 1", nameof(options));
        _self = self;
        _f = placement.F;
        _placement = placement;
        _service = service;
        _inPlace = service as IInPlaceRequestAnalyzer;
        _out = output;
        _k = (ulong)_o.CheckpointAccesses;
        _wk = _o.WriteKnowledge;
        _inPlaceWrites = service as IInPlaceWriteAnalyzer;
        _counter = service as ICountedOverwriteService;
        int kMax = !_wk ? _o.CheckpointAccesses : _o.CheckpointMaxAccesses == 0 ? Math.Min(16 * _o.CheckpointAccesses, OdrcLimits.MaxReplyHashes) : _o.CheckpointMaxAccesses;
        if (kMax < _o.CheckpointAccesses || kMax > OdrcLimits.MaxReplyHashes) throw new ArgumentException("CheckpointMaxAccesses must be in K..4096", nameof(options));
        _kMax = (ulong)kMax;
    }

    /// <summary>Largest number of accesses one object checkpoint covers (K without write knowledge): its reply hashes (G19).</summary>
    public int CheckpointIntervalLimit => (int)_kMax;

    /// <summary>Counters.</summary>
    public SelectorStats Stats { get; } = new();
    /// <summary>Optional trace of selector decisions (tests and the simulator's replay; null = off).</summary>
    public Action<string>? Trace { get; set; }
    /// <summary>This execution replica's id.</summary>
    public uint Self => _self;
    /// <summary>The placement.</summary>
    public ObjectPlacement Placement => _placement;
    /// <summary>Ordinal of the last inserted request.</summary>
    public ulong LastOrdinal => _ordinal;
    /// <summary>Requests in the stored queue (not executed here, not skipped).</summary>
    public int StoredCount => _stored.Count - _storedDead;
    /// <summary>Requests selected or planned, not yet returned by <see cref="NextRequest"/>.</summary>
    public int SelectedCount => _selected.Count - _selectedHead + _plan.Count - _planHead;
    /// <summary>Number of state objects known.</summary>
    public int ObjectCount => _objects.Count;

    /// <summary>True if this replica maintains object <paramref name="objectId"/> (Thesis §6.3.1).</summary>
    public bool Maintains(ReadOnlySpan<byte> objectId) => ObjectPlacement.Contains(MaintainersOf(objectId), _self);

    /// <summary>The maintainers of an object (bit mask).</summary>
    public ulong MaintainersOf(ReadOnlySpan<byte> objectId) => _placement.Maintainers(objectId, _service.LocalityGroup(objectId));

    /// <summary>Ordinal up to which this replica's copy of <paramref name="objectId"/> reflects the total order (0 if never touched); and whether the copy is current (no pending state install).</summary>
    public (ulong Applied, bool Current) LocalVersion(ReadOnlySpan<byte> objectId)
    {
        var lookup = _objects.GetAlternateLookup<ReadOnlySpan<byte>>();
        return lookup.TryGetValue(objectId, out var x) ? (x.Applied, x.NeedsState == 0 && x.UnresolvedUntil == 0) : (0, true);
    }

    /// <summary>Ordinal of the newest stable checkpoint of an object (0 = none).</summary>
    public ulong StableCheckpointOf(ReadOnlySpan<byte> objectId)
    {
        var lookup = _objects.GetAlternateLookup<ReadOnlySpan<byte>>();
        return lookup.TryGetValue(objectId, out var x) && x.NewestStable is { } s ? s.Ordinal : 0;
    }

    /// <summary>Objects whose copy waits for a checkpoint state, as "id@ordinal" (diagnostics; allocates).</summary>
    public string DescribeStale()
    {
        var parts = new List<string>();
        foreach (var x in _objects.Values) if (x.NeedsState != 0) parts.Add($"{System.Text.Encoding.UTF8.GetString(x.Id)}@{x.NeedsState}");
        return string.Join(" ", parts);
    }

    /// <summary>Ordinals of the object states this replica holds for <paramref name="objectId"/> (diagnostics; allocates).</summary>
    public string DescribeHeld(ReadOnlySpan<byte> objectId)
    {
        var lookup = _objects.GetAlternateLookup<ReadOnlySpan<byte>>();
        if (!lookup.TryGetValue(objectId, out var x)) return "-";
        return $"held [{string.Join(",", x.States.Select(h => h.Ordinal))}] stable [{string.Join(",", x.Stable.Select(h => h.Ordinal))}] applied {x.Applied}";
    }

    /// <summary>Every object id known (tests and oracles; allocates).</summary>
    public IEnumerable<byte[]> ObjectIds => _objects.Keys;

    // ------------------------------------------------------------------ Fig. 6.3 / 6.8: InsertRequest, LogAccess

    /// <summary>
    /// InsertRequest(r) (Thesis Fig. 6.3, §6.3.3): the agreement stage hands over request (client, rid), ordered at
    /// batch <paramref name="sequence"/> position <paramref name="index"/>, in the total order and exactly once per
    /// ordering. It is selected if it touches an object this replica maintains, else stored; LogAccess (Fig. 6.8) counts
    /// the access to every object it touches (G19) and starts the alarm at the K-th access of an unmaintained object.
    /// A request whose rid is not above the client's last ordered rid is a duplicate and is dropped (at most once, §6.5.2).
    /// </summary>
    /// <returns>the request record, or null for a duplicate.</returns>
    public OdrcRequest? InsertRequest(uint client, ulong rid, ulong sequence, int index, ReadOnlySpan<byte> operation)
    {
        if (_lastOfClient.TryGetValue(client, out var last) && rid <= last.RequestId) { Stats.Duplicates++; return null; }
        _scratchObjects.Clear();
        _scratchKinds.Clear();
        if (_inPlace is not null)
        {
            // allocation-free analysis: ids in a reused buffer, looked up by span; an id is copied only when its object is new
            _ids.Clear();
            bool analyzed = _inPlace.AnalyzeRequest(operation, _ids) && _ids.Count > 0;
            if (!analyzed) { _ids.Clear(); _ids.Add(NoObject); }     // touches ≥ 1 object (§6.2.2.2)
            if (_kinds.Length < _ids.Count) _kinds = new ObjectAccess[Math.Max(_ids.Count, 2 * _kinds.Length)];
            var kinds = _kinds.AsSpan(0, _ids.Count);
            bool known = _wk && analyzed && AnalyzeAccess(operation, kinds);
            var lookup = _objects.GetAlternateLookup<ReadOnlySpan<byte>>();
            for (int i = 0; i < _ids.Count; i++)
            {
                var x = lookup.TryGetValue(_ids[i], out var found) ? found : GetOrCreate(_ids[i].ToArray());
                AddObject(x, known ? kinds[i] : ObjectAccess.ReadWrite);
            }
        }
        else
        {
            _keys.Clear();
            bool analyzed = _service.AnalyzeRequest(operation, _keys) && _keys.Count > 0;
            if (!analyzed) { _keys.Clear(); _keys.Add(NoObject); }   // touches ≥ 1 object (§6.2.2.2)
            _written.Clear();
            bool known = _wk && analyzed && _service.AnalyzeWrites(operation, _written);
            foreach (var key in _keys)
            {
                bool written = !known;
                if (known) foreach (var w in _written) if (w.AsSpan().SequenceEqual(key)) { written = true; break; }
                AddObject(GetOrCreate(key), written ? ObjectAccess.ReadWrite : ObjectAccess.Read);
            }
        }
        // a single-object request (the common case) shares its object's one-element array and keeps its access inline
        var objs = _scratchObjects.Count == 1 ? _scratchObjects[0].AsArray : _scratchObjects.ToArray();
        var r = new OdrcRequest
        {
            Ordinal = ++_ordinal, Sequence = sequence, Index = index, ClientId = client, RequestId = rid,
            Operation = operation.ToArray(), Objects = objs, Accesses = objs.Length == 1 ? [] : new ulong[objs.Length],
        };
        if (objs.Length > 1) r.Flags = new byte[objs.Length];
        ulong executors = 0, first = objs[0].Maintainers;
        bool maintained = false, cross = false, readOnly = true, unresolved = false;
        for (int i = 0; i < objs.Length; i++) unresolved |= objs[i].UnresolvedUntil != 0;   // docs/odrc.md §9 S7: not executable here
        for (int i = 0; i < objs.Length; i++)
        {
            var x = objs[i];
            executors |= x.Maintainers;
            if (x.Maintainers != first) cross = true;
            maintained |= x.Maintained;
            if (!x.Maintained && _adoptedGroups.Count > 0 && _adoptedGroups.ContainsKey(x.Maintainers)) { maintained = true; r.TouchesAdopted = true; }
            ulong a = ++x.Accesses;                                   // G19: counted for every object, in agreement order
            r.SetAccess(i, a);
            var kind = _scratchKinds[i];
            bool write = kind != ObjectAccess.Read;                   // without write knowledge every access is ReadWrite
            if (write) { x.Writes++; readOnly = false; }
            else r.AddFlags(i, OdrcRequest.FlagRead);
            if (kind == ObjectAccess.Overwrite) r.AddFlags(i, OdrcRequest.FlagOverwrite);
            else if (kind == ObjectAccess.CountedOverwrite) r.AddFlags(i, OdrcRequest.FlagCountedOverwrite);
            // G19 trigger: the j·K-th modifying access (= access without write knowledge), or the access that closes K_max
            // accesses since the previous trigger (write knowledge only: K_max = K otherwise, so it adds nothing)
            if ((write && x.Writes % _k == 0) || a - x.LastTrigger >= _kMax)
            {
                r.AddFlags(i, OdrcRequest.FlagTrigger);
                r.SetIntervalStart(i, x.LastTrigger + 1);
                x.LastTrigger = a;
                x.LastTriggerOrdinal = r.Ordinal;
                if (!x.Maintained && x.AlarmRequest is null && !unresolved)   // Fig. 6.8 LogAccess: start timer[x] with r attached
                {
                    x.AlarmRequest = r;
                    x.AlarmTick = _tick + _o.AlarmTicks;
                    _alarmed.Add(x);
                }
            }
            if (unresolved) x.UnresolvedUntil = r.Ordinal;            // S7: r is skipped here, so x's state after r is unknown here too
            else x.Log.Add(r);
            // a checkpoint of x at r that became stable before r arrived here: x may now skip up to it (G18)
            if ((!x.Maintained || x.UnresolvedUntil != 0) && x.NewestStable is { } st && st.Ordinal == r.Ordinal && !_jumpPending.Contains(x)) _jumpPending.Add(x);
        }
        r.Executors = executors;
        r.CrossBorder = cross;
        r.ReadOnly = readOnly && _wk;
        if (cross) Stats.CrossBorder++;
        _lastOfClient[client] = r;
        NoteOrdered(r);                                               // the open tail of agreement checkpoints (Selector.StateTransfer.cs)
        Stats.Inserted++;
        if (unresolved)
        {
            r.State = OdrcRequestState.Skipped;                       // never executed, replayed or forced here (S7)
            Stats.UnresolvedSkipped++;
        }
        else if (maintained)
        {
            r.State = OdrcRequestState.Selected;                      // X ∩ X_MAINTAINED ≠ ∅: selected.Enqueue(r)
            _selected.Add(r);
            Stats.Selected++;
        }
        else
        {
            r.State = OdrcRequestState.Stored;                        // stored.Enqueue(r)
            _stored.Add(r);
            Stats.Stored++;
        }
        RunPendingJumps();
        return r;
    }

    /// <summary>Adds an object of the request being inserted (once; a repeated id merges its access kind: equal kinds stay, different ones
    /// become ReadWrite, and so does a repeated counted overwrite, which might advance the counter more than once).</summary>
    private void AddObject(ObjectRecord x, ObjectAccess kind)
    {
        int at = _scratchObjects.IndexOf(x);
        if (at < 0) { _scratchObjects.Add(x); _scratchKinds.Add(kind); return; }
        if (_scratchKinds[at] != kind || kind == ObjectAccess.CountedOverwrite) _scratchKinds[at] = ObjectAccess.ReadWrite;
    }

    /// <summary>The service's access kinds for the analysed ids (false: no knowledge). Kinds outside the enum count as ReadWrite, and so do
    /// counted overwrites if the service does not implement <see cref="ICountedOverwriteService"/>.</summary>
    private bool AnalyzeAccess(ReadOnlySpan<byte> operation, Span<ObjectAccess> kinds)
    {
        if (_inPlaceWrites is not null)
        {
            kinds.Clear();
            if (!_inPlaceWrites.AnalyzeAccess(operation, kinds)) return false;
            // kinds outside the enum, and counted overwrites of a service that cannot account for skipped ones, count as ReadWrite
            for (int i = 0; i < kinds.Length; i++)
                if ((byte)kinds[i] > (byte)ObjectAccess.CountedOverwrite || (kinds[i] == ObjectAccess.CountedOverwrite && _counter is null)) kinds[i] = ObjectAccess.ReadWrite;
            return true;
        }
        _written.Clear();
        if (!_service.AnalyzeWrites(operation, _written)) return false;
        for (int i = 0; i < kinds.Length; i++)
        {
            kinds[i] = ObjectAccess.Read;
            foreach (var w in _written) if (_ids[i].SequenceEqual(w)) { kinds[i] = ObjectAccess.ReadWrite; break; }
        }
        return true;
    }

    private ObjectRecord GetOrCreate(byte[] key)
    {
        if (_objects.TryGetValue(key, out var x)) return x;
        ulong m = MaintainersOf(key);
        x = new ObjectRecord(key, m, ObjectPlacement.Contains(m, _self));
        _objects.Add(key, x);
        return x;
    }

    // ------------------------------------------------------------------ Figs. 6.4 / 6.6: NextRequest, UpdateObjects

    /// <summary>
    /// NextRequest() (Thesis Fig. 6.4): the next request the execution replica must execute, or null if none is ready
    /// (the selected queue is empty, or its head waits for the verified state of an object it does not maintain).
    /// Before a request that touches unmaintained objects (cross-border or forced), UpdateObjects (Fig. 6.6) installs
    /// their verified checkpoint states where the local copy is stale and returns the stored requests of the backward
    /// dependency closure first, oldest first (<see cref="OdrcRun.Replay"/>). The caller executes the returned request
    /// on the service and then calls <see cref="Executed"/> before the next call.
    /// </summary>
    public OdrcRequest? NextRequest()
    {
        if (_planHead < _plan.Count) return HandOut();
        _plan.Clear();
        _planHead = 0;
        RunPendingJumps();
        while (_selectedHead < _selected.Count)
        {
            var r = _selected[_selectedHead];
            if (r.State != OdrcRequestState.Selected) { _selectedHead++; continue; }
            if (!PrepareUpdate(r))
            {
                Prefetch();
                if (_unreachableBases.Count == 0) return null;
                MakeUnreachableBasesUnresolved();                      // S7: requests on them are skipped; the head may move on
                continue;
            }
            _selectedHead++;
            if (_selectedHead > 1024 && _selectedHead * 2 > _selected.Count) { _selected.RemoveRange(0, _selectedHead); _selectedHead = 0; }
            r.State = OdrcRequestState.Planned;
            r.Run = r.Forced ? OdrcRun.Forced : OdrcRun.Selected;
            _plan.Add(r);
            return HandOut();
        }
        return null;
    }

    /// <summary>
    /// The next request of the plan. Rule W4 (docs/odrc.md §3a): if counted overwrites right before it on an object were left
    /// out of the update, the service accounts for them now — after every earlier request of the plan executed (the caller
    /// reports each with <see cref="Executed"/> before asking for the next), right before this one executes — so the copy
    /// holds exactly the counter those skipped requests would have left.
    /// </summary>
    private OdrcRequest HandOut()
    {
        var q = _plan[_planHead++];
        if (q.HasReflected) SaveReflected(q);                          // S6: restored in Executed
        for (int i = 0; i < _survivors.Count; i++)                    // the accountings of the plan being handed out (usually none)
        {
            var (survivor, x, count) = _survivors[i];
            if (survivor != q) continue;
            _counter!.AccountSkippedOverwrites(x.Id, count);
            Trace?.Invoke($"count {count} skipped overwrites of {System.Text.Encoding.UTF8.GetString(x.Id)} before {q.Ordinal}");
            _survivors.RemoveAt(i);
            break;
        }
        return q;
    }

    /// <summary>
    /// UpdateObjects(X \ X_MAINTAINED, r) (Fig. 6.6) for the head r: the backward dependency closure (every stored q older
    /// than r touching an involved object; its objects join), then the verified state of every involved object whose copy
    /// is stale. False (nothing changed but fetches sent) if a state is still missing. With write knowledge (Thesis
    /// §6.6.1.2; docs/odrc.md §3a) two rules shorten it: W2 — a stored pure read whose reply can no longer be needed
    /// (<see cref="ReplyUnneeded"/>) is left out, and its objects do not join; W3 — an unmaintained object r overwrites
    /// without reading is not brought up to date at all, if every stored request on it older than r can be dropped
    /// (<see cref="CanOverwrite"/>); W4 — of a run of counted overwrites of an involved object x (stored requests that touch
    /// x alone, with only left-out reads between them, possibly ending with r itself) only the last executes, the others
    /// are left out if no reply of theirs can be needed (<see cref="CanLeaveOut"/>) and the service accounts for them right
    /// before the last one runs (<see cref="HandOut"/>; Thesis §6.8.1 "process only the latest write and adjust the
    /// version counter"). None of them applies to the update of a request that closes a checkpoint interval of an
    /// unmaintained object (every alarm-forced request is one, Fig. 6.8): executing it here makes that object checkpoint,
    /// which needs the reply hash of every access of the interval.
    /// </summary>
    private bool PrepareUpdate(OdrcRequest r)
    {
        int epoch = ++_epoch;
        _involved.Clear();
        _overwrite.Clear();
        _omit.Clear();
        _collapsed.Clear();
        _survivors.Clear();
        bool optimise = _wk && !ClosesUnmaintainedInterval(r);       // every alarm-forced request closes one (Fig. 6.8)
        bool counted = optimise && _counter is not null;              // W4: counted overwrites (ZooKeeper setData)
        for (int i = 0; i < r.Objects.Length; i++)
        {
            var x = r.Objects[i];
            if (x.Maintained && !x.Restoring) continue;                // restored after a state transfer: brought current first
            if (r.IsReflected(i)) continue;                            // S6: its effect on x is in x's base; x is left as it is
            x.Mark = epoch;
            if (optimise && r.IsOverwrite(i) && CanOverwrite(x, r)) { x.OverwriteMark = epoch; _overwrite.Add(x); }
            else
            {
                if (counted && r.IsCountedOverwrite(i)) x.CountedMark = epoch;
                _involved.Add(x);
            }
        }
        if (_involved.Count == 0 && _overwrite.Count == 0) return true;
        // Backward dependency closure over the per-object logs (a superset of Fig. 6.6's newest-first scan: every stored
        // request older than r on an involved object, transitively; replaying more pending requests in agreement order is
        // still correct, and the walk costs the involved objects' logs, not the whole stored queue).
        _closure.Clear();
        for (int k = 0; k < _involved.Count; k++)
        {
            var x = _involved[k];
            // W4 (counted overwrites, docs/odrc.md §3a): a run = consecutive counted overwrites of x alone on x's pending
            // requests, with only left-out reads (W2) between them. Every member but the last one executed is left out if
            // droppable; that last one (pending, or r itself) executes after the service accounts for the ones left out.
            OdrcRequest? pending = null;
            _runDropped.Clear();
            foreach (var q in x.Log)
            {
                if (q.Ordinal >= r.Ordinal) break;
                if (q.State != OdrcRequestState.Stored) { EndRun(ref pending, x); continue; }    // (not stored: cannot happen; a barrier)
                if (q.Mark == -epoch) continue;                        // left out via another object (W2): it uses nothing here
                if (q.Mark == epoch) { EndRun(ref pending, x); continue; }   // replayed via another object: it uses x there
                q.Mark = epoch;
                if (optimise && q.ReadOnly && !ClosesUnmaintainedInterval(q) && ReplyUnneeded(q)) { q.Mark = -epoch; _omit.Add(q); continue; }   // W2: changes no state, reply never needed
                if (counted && q.Objects.Length == 1 && q.IsCountedOverwrite(0))
                {
                    if (pending is not null)
                    {
                        if (CanLeaveOut(pending)) _runDropped.Add(pending);
                        else EndRun(ref pending, x);                  // it must execute: it closes the run so far, q starts a new one
                    }
                    pending = q;
                    continue;
                }
                EndRun(ref pending, x);
                _closure.Add(q);
                for (int j = 0; j < q.Objects.Length; j++)
                {
                    var y = q.Objects[j];
                    if (q.IsReflected(j)) continue;                    // S6: q is replayed without its effect on y (y is past q)
                    // W3 requires every stored request on an overwritten object to be droppable, so none reaches the closure
                    if (y.OverwriteMark == epoch) throw new InvalidOperationException("selector: an overwritten object reached the update closure (W3)");
                    if (y.Mark != epoch) { y.Mark = epoch; _involved.Add(y); }
                }
            }
            if (pending is not null && x.CountedMark == epoch && CanLeaveOut(pending) && !IsSurvivor(r))
            {
                _runDropped.Add(pending);                             // r itself, a counted overwrite of x, closes the run
                _collapsed.AddRange(_runDropped);
                _survivors.Add((r, x, (ulong)_runDropped.Count));
                _runDropped.Clear();
                pending = null;
            }
            EndRun(ref pending, x);
        }
        _closure.Sort(static (a, b) => b.Ordinal.CompareTo(a.Ordinal));     // newest first, as the replay loop below expects
        bool ready = true;
        foreach (var x in _involved)
        {
            if (x.NeedsState == 0 || x.FetchedState is not null) continue;
            var s = x.StableAt(x.NeedsState);                          // null: a base after a state transfer, not verified yet
            if (s is not null)
                foreach (var held in x.States)
                    if (held.Ordinal == x.NeedsState && held.Hash.AsSpan().SequenceEqual(s.StateHash)) { x.FetchedState = held.State; break; }
            if (x.FetchedState is null) { ready = false; IssueFetch(x); }
        }
        if (!ready) { Stats.Blocked++; _survivors.Clear(); return false; }
        foreach (var x in _involved)
        {
            if (x.NeedsState == 0) continue;
            _service.SetObjectState(x.Id, x.FetchedState);            // verified against the stable checkpoint hash
            Trace?.Invoke($"install {System.Text.Encoding.UTF8.GetString(x.Id)} at {x.NeedsState}");
            var s = x.StableAt(x.NeedsState)!;
            if (!HoldsState(x, x.NeedsState)) x.States.Add((x.NeedsState, x.FetchedState!, s.StateHash));
            x.NeedsState = 0;
            x.FetchedState = null;
            x.FetchAttempts = 0;
            Stats.StatesInstalled++;
        }
        foreach (var q in _omit) { Drop(q); Stats.ReadsOmitted++; }
        foreach (var q in _collapsed) { Drop(q); Stats.CountedOverwritesOmitted++; }    // W4: accounted for by the survivor
        Stats.CounterAdjustments += _survivors.Count;                 // HandOut accounts for each right before its survivor executes
        foreach (var x in _overwrite)
        {
            // W3: r replaces x without reading it, so x's state after r does not depend on its history: the stored requests
            // on x before r (all droppable, CanOverwrite) are never executed here, and a pending checkpoint state is not needed
            _dropped.Clear();
            foreach (var q in x.Log) { if (q.Ordinal >= r.Ordinal) break; if (q.State == OdrcRequestState.Stored) _dropped.Add(q); }
            foreach (var q in _dropped) { Drop(q); Stats.OverwriteDropped++; }
            if (_dropped.Count > 0 || x.NeedsState != 0) Stats.Overwrites++;   // an update (replay or state fetch) was saved
            x.NeedsState = 0;
            x.FetchedState = null;
            x.FetchAttempts = 0;
            Trace?.Invoke($"overwrite {System.Text.Encoding.UTF8.GetString(x.Id)} at {r.Ordinal} (was {x.Applied})");
        }
        Stats.Updates++;
        for (int i = _closure.Count - 1; i >= 0; i--)                 // replay in agreement order
        {
            var q = _closure[i];
            q.State = OdrcRequestState.Planned;
            q.Run = q.Forced ? OdrcRun.Forced : OdrcRun.Replay;
            _storedDead++;
            _plan.Add(q);
            Stats.Replayed++;
        }
        foreach (var x in _involved) EndRestoring(x);
        foreach (var x in _overwrite) EndRestoring(x);
        CompactStored();
        return true;
    }

    /// <summary>
    /// Rule W2/W3 (docs/odrc.md §3a): true if no reply to stored request <paramref name="q"/> can be needed from this replica
    /// any more, so it may stay unexecuted here although the objects it touches move past it: (a) it is superseded — its client
    /// has a newer ordered request, so a stalled-result notice for it is ignored (<see cref="ForceRequest"/> acts only on a
    /// client's latest ordered request, §6.5.2) and it can never be forced here; or (b) its reply hash is verified — a stable
    /// object checkpoint (f+1 matching) of one of its objects lists it, so the reply cache already holds the hash a notice
    /// is answered with (<see cref="ForceResult.Skipped"/>). Local state only; nothing from the network beyond stable checkpoints.
    /// </summary>
    private bool ReplyUnneeded(OdrcRequest q)
    {
        if (!_lastOfClient.TryGetValue(q.ClientId, out var last) || last != q) return true;
        for (int i = 0; i < q.Objects.Length; i++)
        {
            ulong acc = q.AccessOf(i);
            foreach (var st in q.Objects[i].Stable)
            {
                if (st.Replies.Length == 0 || st.Replies[0].Access > acc || st.LastAccess < acc) continue;
                ulong at = acc - st.Replies[0].Access;
                if (at >= (ulong)st.Replies.Length) continue;         // (contiguous in every checkpoint a correct replica makes)
                var h = st.Replies[(int)at];
                if (h.ClientId == q.ClientId && h.RequestId == q.RequestId) return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Rule W3 (docs/odrc.md §3a): r may overwrite unmaintained <paramref name="x"/> without an update iff every stored
    /// request on x older than r can be dropped: a pure read, or a request that touches x alone (its only effect is on x,
    /// which r replaces), and in both cases <see cref="ReplyUnneeded"/>. A request that also touches another object is needed
    /// for that object in agreement order, after its effect on x — so it blocks the overwrite (x is then updated as usual).
    /// </summary>
    private bool CanOverwrite(ObjectRecord x, OdrcRequest r)
    {
        foreach (var q in x.Log)
        {
            if (q.Ordinal >= r.Ordinal) break;
            if (q.State != OdrcRequestState.Stored) return false;
            if (!q.ReadOnly && q.Objects.Length != 1) return false;
            if (ClosesUnmaintainedInterval(q) || !ReplyUnneeded(q)) return false;
        }
        return true;
    }

    /// <summary>
    /// Ends the current W4 run on <paramref name="x"/> (docs/odrc.md §3a): its last member <paramref name="pending"/> joins the
    /// closure (it executes, in agreement order), and the members left out before it are accounted for right before it.
    /// </summary>
    private void EndRun(ref OdrcRequest? pending, ObjectRecord x)
    {
        if (pending is null) return;
        _closure.Add(pending);
        if (_runDropped.Count > 0)
        {
            _collapsed.AddRange(_runDropped);
            _survivors.Add((pending, x, (ulong)_runDropped.Count));
            _runDropped.Clear();
        }
        pending = null;
    }

    /// <summary>Rule W4: a stored counted overwrite of one object may be left out of an update (its step accounted for) iff it is not a checkpoint trigger of an unmaintained object (W2.3) and no reply to it can be needed here any more (<see cref="ReplyUnneeded"/>, W2.2).</summary>
    private bool CanLeaveOut(OdrcRequest q) => !ClosesUnmaintainedInterval(q) && ReplyUnneeded(q);

    /// <summary>True if <paramref name="q"/> already closes a W4 run of this update (one accounting per request).</summary>
    private bool IsSurvivor(OdrcRequest q)
    {
        foreach (var s in _survivors) if (s.Survivor == q) return true;
        return false;
    }

    /// <summary>True if <paramref name="q"/> is the checkpoint trigger of an object not maintained here (G19): never left out, so this replica can still take that checkpoint (and its Fig. 6.8 alarm can still force it).</summary>
    private static bool ClosesUnmaintainedInterval(OdrcRequest q)
    {
        for (int i = 0; i < q.Objects.Length; i++) if (q.IsTrigger(i) && !q.Objects[i].Maintained) return true;
        return false;
    }

    /// <summary>A stored request that will never execute here (W2, W3): skipped on every object it touches (G18's invariant: pending on all or none).</summary>
    private void Drop(OdrcRequest q)
    {
        q.State = OdrcRequestState.Skipped;
        _storedDead++;
        foreach (var y in q.Objects) y.Log.Remove(q);
        Trace?.Invoke($"drop {q.Ordinal}");
    }

    /// <summary>
    /// The head of the selected queue waits for an object state: ask now for the stale objects of the next
    /// <see cref="SelectorOptions.PrefetchRequests"/> selected requests too, so that their states arrive while the head
    /// waits (after an adoption every newly adopted object needs one; fetched one at a time, they stalled the adopter's
    /// whole queue for seconds). Only sends fetches (rate-limited per object); changes no state.
    /// </summary>
    private void Prefetch()
    {
        int end = Math.Min(_selected.Count, _selectedHead + 1 + _o.PrefetchRequests);
        for (int i = _selectedHead + 1; i < end; i++)
        {
            var q = _selected[i];
            if (q.State != OdrcRequestState.Selected) continue;
            for (int j = 0; j < q.Objects.Length; j++)
            {
                var x = q.Objects[j];
                if (x.Maintained || x.NeedsState == 0 || x.FetchedState is not null || HoldsState(x, x.NeedsState)) continue;
                if (_wk && q.IsOverwrite(j)) continue;               // likely overwritten without its state (W3)
                IssueFetch(x);
            }
        }
    }

    private static bool HoldsState(ObjectRecord x, ulong ordinal)
    {
        foreach (var s in x.States) if (s.Ordinal == ordinal) return true;
        return false;
    }

    private void IssueFetch(ObjectRecord x)
    {
        if (_tick < x.NextFetchTick) return;
        if (FetchBaseState(x)) return;
        int e = _placement.ExecutionReplicas;
        // candidates: the object's maintainers first, then every other replica (a non-maintainer may hold it too)
        int total = e - 1;
        int k = x.FetchAttempts % total;
        uint to = uint.MaxValue;
        int seen = 0;
        for (int pass = 0; pass < 2 && to == uint.MaxValue; pass++)
            for (uint i = 0; i < e; i++)
            {
                if (i == _self) continue;
                bool isMaintainer = ObjectPlacement.Contains(x.Maintainers, i);
                if ((pass == 0) != isMaintainer) continue;
                if (seen++ == k) { to = i; break; }
            }
        x.FetchAttempts++;
        x.NextFetchTick = _tick + _o.FetchRetryTicks;
        Stats.FetchesSent++;
        _out.SendObjectFetch(to, x.Id, x.NeedsState);
    }

    /// <summary>
    /// The execution replica executed <paramref name="r"/> (returned by <see cref="NextRequest"/>) with reply
    /// <paramref name="reply"/>: every object it touches now reflects it; the reply hash joins each object's interval;
    /// at an object's K-th access an object checkpoint is taken and multicast (Thesis §6.3.4; G19, G20).
    /// </summary>
    /// <exception cref="InvalidOperationException">r was not returned by NextRequest or was already reported.</exception>
    public void Executed(OdrcRequest r, ReadOnlySpan<byte> reply)
    {
        if (r.State != OdrcRequestState.Planned) throw new InvalidOperationException("request not handed out by NextRequest");
        var hash = new byte[32];
        FastBft.Wire.Digests.Sha256(reply, hash);
        r.State = OdrcRequestState.Executed;
        Trace?.Invoke($"exec {r.Ordinal} {r.Run} objs {string.Join(",", r.Objects.Select(o => System.Text.Encoding.UTF8.GetString(o.Id) + "@" + o.Applied))}");
        Stats.Executed++;
        if (r.Run == OdrcRun.Forced) Stats.Forced++;
        for (int i = 0; i < r.Objects.Length; i++)
        {
            var x = r.Objects[i];
            if (r.IsReflected(i)) continue;                           // S6: x's copy is put back below
            x.Log.Remove(r);
            if (x.UnresolvedUntil != 0 && !_jumpPending.Contains(x)) _jumpPending.Add(x);   // S7: a request before the gap done; retry the jump
            x.Applied = r.Ordinal;
            if (x.Ring.Count > 0 && x.Ring[^1].Access + 1 != r.AccessOf(i)) x.Ring.Clear();     // not contiguous (cannot happen with a correct plan)
            x.Ring.Add(new ReplyHash(r.AccessOf(i), r.ClientId, r.RequestId, r.Sequence, hash));
            if (x.Ring.Count > 2 * (int)_kMax) x.Ring.RemoveRange(0, x.Ring.Count - (int)_kMax);
            if (r.IsTrigger(i))
            {
                TakeObjectCheckpoint(x, r, r.IntervalStartOf(i), r.AccessOf(i));
                x.Ring.Clear();                                       // the next interval starts after this access (G19)
            }
        }
        if (r.HasReflected) RestoreReflected(r);
        if (r.ForcedByNotice && _o.AdoptOnStall)
            foreach (var x in r.Objects) if (!x.Maintained) AdoptGroup(x.Maintainers);
    }

    /// <summary>
    /// Suspect and adopt (§6.6.1.4): a stall on an object points at one of its maintainers, so this replica adopts every
    /// object with the same maintainer set. From now on every request touching such an object is selected here; its
    /// update (Fig. 6.6) brings the object current first (G22), and stored requests already inserted move to the selected
    /// queue in agreement order. Adopted objects are answered in full (the designated replier may be the suspect).
    /// </summary>
    private void AdoptGroup(ulong maintainers)
    {
        bool renewed = _adoptedGroups.ContainsKey(maintainers);
        _adoptedGroups[maintainers] = _tick + _o.AdoptTicks;
        _adoptionEvidence[maintainers] = (_ordinal, 0);                 // a stall (again): the suspects must show they are alive from here on
        if (renewed) return;
        Stats.Adopted++;
        Trace?.Invoke($"adopt group {maintainers:x}");
        foreach (var q in _stored)
        {
            if (q.State != OdrcRequestState.Stored) continue;
            bool touches = false;
            foreach (var x in q.Objects) if (x.Maintainers == maintainers) { touches = true; break; }
            if (!touches) continue;
            q.TouchesAdopted = true;
            _storedDead++;
            q.State = OdrcRequestState.Selected;
            int lo = _selectedHead, hi = _selected.Count;
            while (lo < hi) { int mid = (lo + hi) >>> 1; if (_selected[mid].Ordinal < q.Ordinal) lo = mid + 1; else hi = mid; }
            _selected.Insert(lo, q);
        }
        CompactStored();
    }

    /// <summary>
    /// Ends an adoption early (docs/odrc.md §3 "suspect and adopt"): once every maintainer of the adopted group sent an
    /// object checkpoint of one of the group's objects at an ordinal after the (latest) stall, none of them is silent — the
    /// stall came from a slow replica or a lost reply, not a crash — so this replica stops executing the group's requests.
    /// A crashed maintainer never checkpoints again, so its group stays adopted (renewed by further stalls).
    /// </summary>
    private void NoteAliveMaintainer(ObjectRecord x, ObjectCheckpoint cp)
    {
        ulong bit = 1UL << (int)cp.Sender;
        if ((x.Maintainers & bit) == 0 || !_adoptionEvidence.TryGetValue(x.Maintainers, out var e) || cp.Ordinal <= e.Since) return;
        e.Seen |= bit;
        if (e.Seen != x.Maintainers) { _adoptionEvidence[x.Maintainers] = e; return; }
        _adoptionEvidence.Remove(x.Maintainers);
        if (_adoptedGroups.Remove(x.Maintainers)) { Stats.AdoptionsEnded++; Trace?.Invoke($"adoption of group {x.Maintainers:x} ends: its maintainers checkpoint again"); }
    }

    private void TakeObjectCheckpoint(ObjectRecord x, OdrcRequest r, ulong from, ulong access)
    {
        int start = -1;
        for (int i = 0; i < x.Ring.Count; i++) if (x.Ring[i].Access == from) { start = i; break; }
        int count = (int)(access - from + 1);
        if (start < 0 || start + count > x.Ring.Count) return;        // interval not known here (a jump left it incomplete)
        var replies = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(x.Ring).Slice(start, count).ToArray();
        _stateWriter.ResetWrittenCount();
        _service.GetObjectState(x.Id, _stateWriter);
        var state = _stateWriter.WrittenSpan.ToArray();
        var hash = new byte[32];
        FastBft.Wire.Digests.Sha256(state, hash);
        var cp = new ObjectCheckpoint { Sender = _self, ObjectId = x.Id, Ordinal = r.Ordinal, StateHash = hash, Replies = replies };
        if (!HoldsState(x, r.Ordinal)) x.States.Add((r.Ordinal, state, hash));
        Stats.CheckpointsTaken++;
        _out.BroadcastObjectCheckpoint(cp);
        RecordVote(x, cp);
    }

    // ------------------------------------------------------------------ §6.3.4: object checkpoints

    /// <summary>
    /// A CHECKPOINT(x, s, H(state), V_hashes) from execution replica <paramref name="checkpoint"/>.Sender (authenticated by
    /// the caller): counted per (x, s), first vote per sender; stable at f+1 matching (Thesis §6.3.4). A stable checkpoint
    /// feeds its reply hashes to the reply cache, stops the object's alarm, and may let stale copies skip stored requests
    /// (G18 group jump). Stale, oversized or excess votes are dropped.
    /// </summary>
    public void OnObjectCheckpoint(ObjectCheckpoint checkpoint)
    {
        if (checkpoint.Sender >= _placement.ExecutionReplicas || checkpoint.Sender == _self
            || checkpoint.ObjectId.Length > OdrcLimits.MaxObjectIdBytes || checkpoint.Replies.Length > (int)_kMax
            || checkpoint.StateHash.Length != 32 || checkpoint.Ordinal == 0) { Stats.VotesDropped++; return; }
        foreach (var rh in checkpoint.Replies) if (rh.Hash is null || rh.Hash.Length != 32) { Stats.VotesDropped++; return; }
        var x = GetOrCreate(checkpoint.ObjectId);
        RecordVote(x, checkpoint);
    }

    private void RecordVote(ObjectRecord x, ObjectCheckpoint cp)
    {
        if (_adoptedGroups.Count > 0 && _o.EndAdoptionOnCheckpoints) NoteAliveMaintainer(x, cp);
        if (x.NewestStable is { } newest && cp.Ordinal <= newest.Ordinal) return;
        if (!x.Votes.TryGetValue(cp.Ordinal, out var votes))
        {
            if (x.Votes.Count >= _o.MaxPendingVotesPerObject) { Stats.VotesDropped++; return; }
            votes = new ObjectCheckpointVotes();
            x.Votes.Add(cp.Ordinal, votes);
        }
        ulong bit = 1UL << (int)cp.Sender;
        if ((votes.Voted & bit) != 0) return;
        votes.Voted |= bit;
        var digest = cp.Digest();
        for (int i = 0; i < votes.Groups.Count; i++)
        {
            var g = votes.Groups[i];
            if (!g.Digest.AsSpan().SequenceEqual(digest)) continue;
            votes.Groups[i] = (g.Digest, g.Count + 1, g.Example);
            if (g.Count + 1 >= _f + 1) MakeStable(x, g.Example);
            return;
        }
        votes.Groups.Add((digest, 1, cp));
        if (1 >= _f + 1) MakeStable(x, cp);
    }

    private void MakeStable(ObjectRecord x, ObjectCheckpoint cp)
    {
        var s = new StableObjectCheckpoint
        {
            Ordinal = cp.Ordinal, StateHash = cp.StateHash, Replies = cp.Replies,
            LastAccess = cp.Replies.Length > 0 ? cp.Replies[^1].Access : 0,
        };
        x.Stable.Add(s);
        Stats.StableCheckpoints++;
        while (x.Stable.Count > _o.StableKept)
        {
            int drop = x.Stable[0].Ordinal == x.NeedsState ? 1 : 0;   // keep the one a stale copy waits for
            if (drop >= x.Stable.Count - 1) break;
            x.Stable.RemoveAt(drop);
        }
        ulong oldest = x.Stable[0].Ordinal;
        ulong horizon = _ordinal > (ulong)_o.StateRetentionOrdinals ? _ordinal - (ulong)_o.StateRetentionOrdinals : 0;
        if (x.States.Count > 0 && x.States[0].Ordinal < oldest && x.States[0].Ordinal < horizon)
            x.States.RemoveAll(h => h.Ordinal < oldest && h.Ordinal < horizon && h.Ordinal != x.NeedsState);
        _staleVotes.Clear();
        foreach (var k in x.Votes.Keys) if (k <= cp.Ordinal) _staleVotes.Add(k);
        foreach (var k in _staleVotes) x.Votes.Remove(k);
        foreach (var held in x.States)
            if (held.Ordinal == cp.Ordinal && !held.Hash.AsSpan().SequenceEqual(cp.StateHash)) Stats.OwnCheckpointMismatches++;
        _out.VerifiedReplies(cp.Replies);
        if (x.AlarmRequest is { } a && a.Ordinal <= cp.Ordinal) x.AlarmRequest = null;   // Fig. 6.8: stop timer[x]
        if (!x.Maintained || x.UnresolvedUntil != 0) { if (!_jumpPending.Contains(x)) _jumpPending.Add(x); }
        if (_planHead >= _plan.Count) RunPendingJumps();
    }

    /// <summary>
    /// G18 (docs/odrc.md §4): let stale copies skip stored requests that stable checkpoints cover. Each object of the jump
    /// set targets its newest stable checkpoint; a stored request at or below a target must be skipped on every object it
    /// touches, so each of those objects must target at or past it too — otherwise the target is lowered below it (to an
    /// older stable checkpoint or to the local copy). Selected, not yet executed requests are never skipped. Fixed point:
    /// targets only fall. Objects then jump: their copy waits for the verified state of the target checkpoint.
    /// </summary>
    private void RunPendingJumps()
    {
        if (_jumpPending.Count == 0 || _planHead < _plan.Count) return;
        int epoch = ++_epoch;
        _jumpSet.Clear();
        foreach (var x in _jumpPending) AddToJump(x, epoch);
        _jumpPending.Clear();
        bool changed = true;
        while (changed)
        {
            changed = false;
            for (int i = 0; i < _jumpSet.Count; i++)
            {
                var y = _jumpSet[i];
                if (y.JumpTarget <= y.Applied) continue;
                foreach (var q in y.Log)
                {
                    if (q.Ordinal > y.JumpTarget) break;
                    bool ok = q.State == OdrcRequestState.Stored;
                    if (ok)
                        for (int j = 0; j < q.Objects.Length; j++)
                        {
                            var z = q.Objects[j];
                            if (z == y || q.IsReflected(j)) continue;  // S6: q is not pending on a reflected object
                            if (z.Maintained && z.UnresolvedUntil == 0) { ok = false; break; }
                            if (z.Mark != epoch) AddToJump(z, epoch);
                            if (z.JumpTarget < q.Ordinal) { ok = false; break; }
                        }
                    if (ok) continue;
                    var below = y.NewestStableBelow(q.Ordinal);
                    y.JumpTarget = below is not null && below.Ordinal > y.Applied && below.Ordinal >= y.UnresolvedUntil ? below.Ordinal : y.Applied;
                    changed = true;
                    break;
                }
            }
        }
        foreach (var y in _jumpSet)
        {
            if (y.JumpTarget <= y.Applied) continue;
            var s = y.StableAt(y.JumpTarget)!;
            Trace?.Invoke($"jump {System.Text.Encoding.UTF8.GetString(y.Id)} {y.Applied} -> {s.Ordinal}");
            y.Applied = s.Ordinal;
            y.NeedsState = s.Ordinal;
            if (y.UnresolvedUntil != 0)
            {
                // S7: the certified state covers every request skipped on y; a maintained y is brought current by the update (S3)
                y.UnresolvedUntil = 0;
                y.Restoring = y.Maintained;
                Stats.UnresolvedResolved++;
            }
            y.FetchedState = null;
            y.FetchAttempts = 0;
            y.Ring.Clear();
            y.Ring.AddRange(s.Replies);
            while (y.Log.Count > 0 && y.Log[0].Ordinal <= s.Ordinal)
            {
                var q = y.Log[0];
                if (q.State == OdrcRequestState.Stored)
                {
                    q.State = OdrcRequestState.Skipped;
                    _storedDead++;
                    Stats.Skipped++;
                    foreach (var z in q.Objects) if (z != y) z.Log.Remove(q);
                }
                y.Log.RemoveAt(0);
            }
        }
        CompactStored();
    }

    private void AddToJump(ObjectRecord x, int epoch)
    {
        x.Mark = epoch;
        var s = x.NewestStableBelow(_ordinal + 1);                   // never past what this replica has inserted
        // a maintained object is current by definition, unless unresolved (S7): then only a checkpoint past its gap helps
        x.JumpTarget = (!x.Maintained || x.UnresolvedUntil != 0) && s is not null && s.Ordinal > x.Applied && s.Ordinal >= x.UnresolvedUntil ? s.Ordinal : x.Applied;
        _jumpSet.Add(x);
    }

    private void CompactStored()
    {
        if (_storedDead < 64 || _storedDead * 2 < _stored.Count) return;
        _stored.RemoveAll(static q => q.State != OdrcRequestState.Stored);
        _storedDead = 0;
    }

    // ------------------------------------------------------------------ Fig. 6.6: object state transfer

    /// <summary>OBJECT-FETCH(x, s) from execution replica <paramref name="from"/>: answered with the state if this replica holds it (verification is the asker's).</summary>
    public void OnObjectFetch(uint from, ReadOnlySpan<byte> objectId, ulong ordinal)
    {
        if (from >= _placement.ExecutionReplicas || from == _self) return;
        var lookup = _objects.GetAlternateLookup<ReadOnlySpan<byte>>();
        if (!lookup.TryGetValue(objectId, out var x)) return;
        foreach (var held in x.States)
            if (held.Ordinal == ordinal) { _out.SendObjectState(from, x.Id, ordinal, held.State); return; }
    }

    /// <summary>
    /// OBJECT-STATE(x, s, state): kept only if this replica waits for exactly that checkpoint and SHA-256(state) equals the
    /// stable checkpoint's hash (checkpoints are applied only after verification, §6.5.1). Returns true if accepted.
    /// </summary>
    public bool OnObjectState(uint from, ReadOnlySpan<byte> objectId, ulong ordinal, ReadOnlySpan<byte> state)
    {
        var lookup = _objects.GetAlternateLookup<ReadOnlySpan<byte>>();
        if (!lookup.TryGetValue(objectId, out var x) || x.NeedsState != ordinal || ordinal == 0 || x.FetchedState is not null) return false;
        var s = x.StableAt(ordinal);
        if (s is null) return OfferBaseState(x, from, ordinal, state);   // a base after a state transfer: f+1 identical answers
        Span<byte> h = stackalloc byte[32];
        FastBft.Wire.Digests.Sha256(state, h);
        if (!h.SequenceEqual(s.StateHash)) { Stats.StatesRejected++; return false; }
        x.FetchedState = state.ToArray();
        Stats.StatesVerified++;
        return true;
    }

    // ------------------------------------------------------------------ Figs. 6.7 / 6.8: fault handling

    /// <summary>
    /// ForceRequest(r) (Thesis Fig. 6.7, §6.4.3) on a stalled-result notice for (client, rid): a stored request is
    /// selected and executed here, after the update of its objects; a request never ordered (or not the client's latest
    /// ordered one) is ignored (§6.5.2).
    /// </summary>
    public ForceResult ForceRequest(uint client, ulong rid)
    {
        if (!_lastOfClient.TryGetValue(client, out var r) || r.RequestId != rid) { Stats.IgnoredNotices++; return ForceResult.NeverOrdered; }
        switch (r.State)
        {
            case OdrcRequestState.Stored: r.ForcedByNotice = true; Force(r); return ForceResult.Forced;
            case OdrcRequestState.Selected or OdrcRequestState.Planned: r.Forced = true; return ForceResult.AlreadySelected;
            case OdrcRequestState.Executed: return ForceResult.Executed;
            default: return ForceResult.Skipped;
        }
    }

    private void Force(OdrcRequest r)
    {
        r.State = OdrcRequestState.Selected;
        r.Forced = true;
        _storedDead++;
        // the selected queue stays in agreement order: insert by ordinal (dependent requests keep their order, §6.5.3)
        int lo = _selectedHead, hi = _selected.Count;
        while (lo < hi) { int mid = (lo + hi) >>> 1; if (_selected[mid].Ordinal < r.Ordinal) lo = mid + 1; else hi = mid; }
        _selected.Insert(lo, r);
    }

    /// <summary>
    /// One tick: fires the alarms of Fig. 6.8 (the K-th access request of an unmaintained object whose checkpoint did not
    /// become stable in <see cref="SelectorOptions.AlarmTicks"/> ticks is forced here, which creates the missing checkpoint)
    /// and lets blocked fetches retry.
    /// </summary>
    public void OnTick()
    {
        _tick++;
        if (_adoptedGroups.Count > 0)
            foreach (var (group, until) in _adoptedGroups)
                if (until <= _tick) { _adoptedGroups.Remove(group); _adoptionEvidence.Remove(group); Trace?.Invoke($"adoption of group {group:x} ends"); }
        for (int i = _alarmed.Count - 1; i >= 0; i--)
        {
            var x = _alarmed[i];
            if (x.AlarmRequest is not { } r) { _alarmed.RemoveAt(i); continue; }
            if (_tick < x.AlarmTick) continue;
            x.AlarmRequest = null;
            _alarmed.RemoveAt(i);
            Stats.Alarms++;
            if (r.State == OdrcRequestState.Stored) Force(r);
        }
    }
}
