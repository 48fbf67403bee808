using System.Buffers;
using FastBft.Execution;
using FastBft.Execution.Odrc;
using FastBft.Service;
using FastBft.Wire;

namespace FastBft.Simulation.Odrc;

/// <summary>
/// The execution oracle of agreement cores with the ODRC stage in the generic simulator (<see cref="OdrcSimProtocol"/>;
/// docs/odrc.md §6, docs/simulation.md "PBFT+ODRC"). It records, per replica, every batch the core hands to its stage
/// (<see cref="IExecutionStage.Committed"/>) and every execution with its reply, and at the end of the run checks, over the
/// correct replicas:
/// <list type="bullet">
/// <item><b>agreement</b> — equal batches at every sequence number two correct replicas committed (the order, not the
/// executions: each request executes on its objects' f+1 maintainers only);</item>
/// <item><b>execution results</b> — every execution on a correct replica (selected, replayed for a cross-border update, or
/// forced by a stalled-result notice) yields the reply of a sequential reference execution of the agreed order;</item>
/// <item><b>re-execution</b> — at most once per request and, per object, in agreement order (both restart after an installed
/// state transfer, which rebuilds the copies on demand, docs/odrc.md §9);</item>
/// <item><b>convergence</b> on maintained objects — every copy a correct replica holds as current (its maintained objects, and
/// the unmaintained copies it brought up to date, G18) equals the reference state of that object at the copy's ordinal, so two
/// correct maintainers that executed the same prefix hold the same copy.</item>
/// </list>
/// The reference (duplicates dropped as the selectors drop them: a request id not above the client's last ordered one) also
/// gives <see cref="ReferenceReplies"/> for the simulator's validity oracle. Ordinals count the non-duplicate requests of the
/// order from 1, as the selectors number them.
/// </summary>
/// <param name="serviceFactory">a fresh service of the cell (an <see cref="IObjectStateService"/>): the sequential reference.</param>
public sealed class OdrcExecutionOracle(Func<IReplicatedService> serviceFactory) : ISimExecutionOracle
{
    private sealed class Replica
    {
        public readonly SortedDictionary<ulong, byte[]> Committed = new();   // sequence → batch body
        public readonly List<(uint Client, ulong Rid, byte[] Reply, int Epoch, List<byte[]>? Unchanged)> Executions = new();
        public int Epoch;                                                   // state transfers installed so far
        public OdrcExecutionStage? Stage;
        public IObjectStateService? Objects;
        public RecordingService? Recorded;
        public string? Violation;                                           // seen while running (a batch committed twice, differently)
        public int Installs, Refused;                                       // certified agreement snapshots installed / refused by the stage
        public string? LastRefusal;                                         // why the last one was refused (the selector's reason)
    }

    private static readonly bool Trace = Environment.GetEnvironmentVariable("FASTBFT_SIM_TRACE") is not null;
    private readonly Dictionary<uint, Replica> _replicas = new();           // instance 0 of each replica (a faulty node's twins are not judged)
    private Dictionary<(uint, ulong), byte[]>? _replies;

    /// <inheritdoc/>
    public IReadOnlyDictionary<(uint Client, ulong RequestId), byte[]>? ReferenceReplies => _replies;

    private Replica Of(uint replica, int instance)
    {
        if (instance != 0) return new Replica();                             // observed, never judged
        if (!_replicas.TryGetValue(replica, out var r)) _replicas[replica] = r = new Replica();
        return r;
    }

    /// <inheritdoc/>
    public IReplicatedService Service(uint replica, int instance, RecordingService recorded)
    {
        var r = Of(replica, instance);
        var objects = recorded.Inner as IObjectStateService
            ?? throw new ArgumentException("ODRC needs a service that implements IObjectStateService (the simulator's service factory gives another)");
        r.Objects = objects;
        r.Recorded = recorded;
        return new ObservedService(recorded, objects, r);
    }

    /// <inheritdoc/>
    public IExecutionStage Stage(uint replica, int instance, IExecutionStage stage)
    {
        var r = Of(replica, instance);
        var odrc = stage as OdrcExecutionStage ?? throw new ArgumentException("the ODRC oracle observes an OdrcExecutionStage");
        r.Stage = odrc;
        if (Trace) odrc.Selector.Trace = m => Console.Error.WriteLine($"  r{replica}/{instance} selector: {m}");
        return new ObservedStage(odrc, r);
    }

    /// <inheritdoc/>
    public (string Invariant, string Detail)? Check(Func<uint, bool> correct)
    {
        var judged = _replicas.Where(kv => correct(kv.Key)).OrderBy(kv => kv.Key).ToList();
        foreach (var (id, r) in judged) if (r.Violation is not null) return ("agreement", $"replica {id} {r.Violation}");

        // agreement on the order: every sequence number two correct replicas committed holds the same batch there
        var order = new SortedDictionary<ulong, (uint From, byte[] Body)>();
        foreach (var (id, r) in judged)
            foreach (var (s, body) in r.Committed)
            {
                if (!order.TryGetValue(s, out var first)) { order[s] = (id, body); continue; }
                if (!first.Body.AsSpan().SequenceEqual(body))
                    return ("agreement", $"replicas {first.From} and {id} committed different batches at seq {s}");
            }

        // the sequential reference over the agreed order, up to the first sequence number no correct replica committed
        var reference = serviceFactory();
        var refObjects = (IObjectStateService)reference;
        var replies = new Dictionary<(uint, ulong), byte[]>();
        var ordinals = new Dictionary<(uint, ulong), ulong>();
        var objectsOf = new Dictionary<(uint, ulong), List<byte[]>>();
        var history = new Dictionary<byte[], List<(ulong Ordinal, byte[] State)>>(ByteComparer.Instance);
        var lastRid = new Dictionary<uint, ulong>();
        var w = new ArrayBufferWriter<byte>();
        ulong ordinal = 0, expect = order.Count == 0 ? 0 : order.Keys.First();
        if (expect > 1) expect = 0;                                          // nothing from seq 1: no reference (a correct replica always commits seq 1 or transfers past it)
        foreach (var (s, (_, body)) in order)
        {
            if (expect == 0 || s != expect) break;
            expect = s + 1;
            var reader = new BatchReader(body);
            while (reader.Next(out var req))
            {
                MessageHeader.TryParse(req, int.MaxValue, out var h);
                var op = MessageHeader.Body(req, h);
                if (lastRid.TryGetValue(h.Sender, out var last) && h.Sequence <= last) continue;   // a duplicate: the selectors drop it
                lastRid[h.Sender] = h.Sequence;
                ordinal++;
                w.ResetWrittenCount();
                reference.Execute(new RequestInfo(h.Sender, h.Sequence, s, 0), op, w, null);
                var key = (h.Sender, h.Sequence);
                replies[key] = w.WrittenSpan.ToArray();
                ordinals[key] = ordinal;
                var ids = new List<byte[]>();
                if (!refObjects.AnalyzeRequest(op, ids) || ids.Count == 0) { ids.Clear(); ids.Add([]); }   // the pseudo-object "" (§6.2.2.2)
                var distinct = ids.Distinct(ByteComparer.Instance).ToList();
                objectsOf[key] = distinct;
                foreach (var x in distinct)
                {
                    w.ResetWrittenCount();
                    refObjects.GetObjectState(x, w);
                    if (!history.TryGetValue(x, out var hx)) history[x] = hx = new();
                    hx.Add((ordinal, w.WrittenSpan.ToArray()));
                }
            }
        }
        _replies = replies;
        ulong lastOrdinal = ordinal;

        foreach (var (id, r) in judged)
        {
            // execution results; at most once and agreement order per object (both per state-transfer epoch)
            var once = new HashSet<(uint, ulong)>();
            var lastOn = new Dictionary<byte[], ulong>(ByteComparer.Instance);
            int epoch = 0;
            foreach (var (client, rid, reply, e, unchanged) in r.Executions)
            {
                if (e != epoch) { epoch = e; once.Clear(); lastOn.Clear(); }
                var key = (client, rid);
                if (!replies.TryGetValue(key, out var want)) continue;          // beyond the reference (no correct replica committed an earlier seq)
                if (!want.AsSpan().SequenceEqual(reply))
                    return ("execution result", $"replica {id} executed client {client} request {rid} (ordinal {ordinals[key]}) with reply {Show(reply)}; the sequential reference gives {Show(want)}");
                if (!once.Add(key)) return ("re-execution", $"replica {id} executed client {client} request {rid} twice (state transfers so far: {e})");
                ulong o = ordinals[key];
                foreach (var x in objectsOf[key])
                {
                    if (unchanged is not null && unchanged.Exists(u => u.AsSpan().SequenceEqual(x))) continue;   // replayed without its effect on x (S6)
                    if (lastOn.TryGetValue(x, out var before) && before >= o)
                        return ("re-execution", $"replica {id} executed ordinal {o} (client {client} request {rid}) on object '{Show(x)}' after ordinal {before} (agreement order per object, Thesis §6.5.3)");
                    lastOn[x] = o;
                }
            }

            // convergence: every current copy is the reference state at its ordinal (maintained objects: the copies every correct maintainer holds)
            if (r.Stage is null || r.Objects is null) continue;
            var selector = r.Stage.Selector;
            foreach (var (x, hx) in history)
            {
                var (applied, current) = selector.LocalVersion(x);
                if (!current || applied > lastOrdinal) continue;
                byte[]? want = null;
                foreach (var (o, st) in hx) { if (o > applied) break; want = st; }
                if (want is null)
                {
                    w.ResetWrittenCount();
                    ((IObjectStateService)serviceFactory()).GetObjectState(x, w);
                    want = w.WrittenSpan.ToArray();
                }
                w.ResetWrittenCount();
                r.Objects.GetObjectState(x, w);
                if (!w.WrittenSpan.SequenceEqual(want))
                    return ("convergence", $"replica {id}'s {(selector.Maintains(x) ? "maintained" : "unmaintained (G18)")} copy of object '{Show(x)}' at ordinal {applied} differs from the reference ({Show(w.WrittenSpan)} vs {Show(want)})");
            }
        }
        return null;
    }

    /// <summary>Requests replica <paramref name="replica"/> (its first instance) executed: selected, replayed and forced (0 if unknown).</summary>
    public int Executions(uint replica) => _replicas.TryGetValue(replica, out var r) ? r.Executions.Count : 0;

    /// <summary>The selector counters of replica <paramref name="replica"/>'s stage (its first instance), or null.</summary>
    public SelectorStats? Stats(uint replica) => _replicas.TryGetValue(replica, out var r) ? r.Stage?.Selector.Stats : null;

    /// <summary>The selector of replica <paramref name="replica"/>'s stage (its first instance), or null: for diagnostics after a run.</summary>
    public Selector? SelectorOf(uint replica) => _replicas.TryGetValue(replica, out var r) ? r.Stage?.Selector : null;

    /// <inheritdoc/>
    /// <remarks>
    /// ODRC: the certified agreement snapshots the replica's stage installed and refused, and the reason of the last refusal
    /// ("request s between bases" is the known limitation S5 of docs/odrc.md §9: a multi-object request after one object's
    /// base and inside another's cannot be replayed, so the replica waits for a later checkpoint, §10).
    /// </remarks>
    public string? Describe(uint replica)
        => _replicas.TryGetValue(replica, out var r) && (r.Installs > 0 || r.Refused > 0)
            ? $"replica {replica}'s ODRC stage installed {r.Installs} and refused {r.Refused} certified snapshots{(r.LastRefusal is null ? "" : $" (last refused: {r.LastRefusal}{(r.LastRefusal.Contains("between bases", StringComparison.Ordinal) ? " — S5" : "")})")}"
            : null;

    private static string Show(ReadOnlySpan<byte> b)
    {
        var s = System.Text.Encoding.ASCII.GetString(b.Length > 48 ? b[..48] : b);
        var clean = new string(s.Select(c => c < ' ' || c > '~' ? '.' : c).ToArray());
        return b.Length > 48 ? clean + "…" : clean;
    }

    /// <summary>The service a replica's ODRC stage executes on: the simulator's recording wrapper, with the object-state
    /// interfaces of the wrapped service forwarded, and every execution's reply recorded for the oracle.</summary>
    private sealed class ObservedService(RecordingService recorded, IObjectStateService objects, Replica r)
        : IReplicatedService, IObjectStateService, IInPlaceRequestAnalyzer, IInPlaceWriteAnalyzer
    {
        private readonly ArrayBufferWriter<byte> _reply = new(256);

        public void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update)
        {
            _reply.ResetWrittenCount();
            // A replay after a state transfer may leave objects whose base already reflects it unchanged (docs/odrc.md §9 S6):
            // those are not executions on the object for the per-object order.
            List<byte[]>? unchanged = null;
            if (r.Stage?.Executing is { } q)
            {
                var ids = new List<byte[]>();
                objects.AnalyzeRequest(operation, ids);
                foreach (var id in ids) if (q.LeavesUnchanged(id)) (unchanged ??= new()).Add(id);
            }
            recorded.Execute(request, operation, _reply, update);
            r.Executions.Add((request.ClientId, request.RequestId, _reply.WrittenSpan.ToArray(), r.Epoch, unchanged));
            reply.Write(_reply.WrittenSpan);
        }
        public void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update) => recorded.ApplyUpdate(request, update);
        public void GetStateDigest(Span<byte> digest32) => recorded.GetStateDigest(digest32);
        public void WriteSnapshot(Stream destination) => recorded.WriteSnapshot(destination);
        public void RestoreSnapshot(Stream source) => recorded.RestoreSnapshot(source);
        public bool AnalyzeRequest(ReadOnlySpan<byte> operation, List<byte[]> ids) => objects.AnalyzeRequest(operation, ids);
        public void GetObjectState(ReadOnlySpan<byte> objectId, IBufferWriter<byte> state) => objects.GetObjectState(objectId, state);
        public void SetObjectState(ReadOnlySpan<byte> objectId, ReadOnlySpan<byte> state) => objects.SetObjectState(objectId, state);
        public bool AnalyzeWrites(ReadOnlySpan<byte> operation, List<byte[]> written) => objects.AnalyzeWrites(operation, written);
        public ReadOnlySpan<byte> LocalityGroup(ReadOnlySpan<byte> objectId) => objects.LocalityGroup(objectId);
        // The in-place analyses the selector prefers when the service offers them (production KV does): the same answers.
        public bool AnalyzeRequest(ReadOnlySpan<byte> operation, ObjectIdBuffer ids)
        {
            if (objects is IInPlaceRequestAnalyzer a) return a.AnalyzeRequest(operation, ids);
            var list = new List<byte[]>();
            bool ok = objects.AnalyzeRequest(operation, list);
            foreach (var id in list) ids.Add(id);
            return ok;
        }
        public bool AnalyzeAccess(ReadOnlySpan<byte> operation, Span<ObjectAccess> kinds)
            => objects is IInPlaceWriteAnalyzer a && a.AnalyzeAccess(operation, kinds);
    }

    /// <summary>A replica's ODRC stage, observed: committed batches are recorded, installed state transfers start a new epoch.</summary>
    private sealed class ObservedStage(OdrcExecutionStage inner, Replica r) : IExecutionStage, IOdrcStage
    {
        public ReplyCache Replies => inner.Replies;
        public bool Executes => inner.Executes;
        public void Committed(ulong sequence, ReadOnlySpan<byte> batchBody, IExecutionSink sink)
        {
            if (r.Committed.TryGetValue(sequence, out var before))
            {
                if (!before.AsSpan().SequenceEqual(batchBody)) r.Violation ??= $"committed two different batches at seq {sequence}";
            }
            else r.Committed[sequence] = batchBody.ToArray();
            inner.Committed(sequence, batchBody, sink);
        }
        public void TakeCheckpoint(ulong sequence, Span<byte> digest32) => inner.TakeCheckpoint(sequence, digest32);
        public bool TryGetCheckpoint(ulong sequence, out ReadOnlySpan<byte> snapshot) => inner.TryGetCheckpoint(sequence, out snapshot);
        public bool TryInstallCheckpoint(ulong sequence, ReadOnlySpan<byte> snapshot)
        {
            r.Epoch++;                                                  // executions the install's Drain makes belong to the new epoch
            // the selector names its reason for a refusal only in its trace: listen for the duration of this call
            string? reason = null;
            var trace = inner.Selector.Trace;
            inner.Selector.Trace = m => { reason ??= m; trace?.Invoke(m); };
            bool installed;
            try { installed = inner.TryInstallCheckpoint(sequence, snapshot); }
            finally { inner.Selector.Trace = trace; }
            if (installed) { r.Installs++; r.Recorded?.CountStageRestore(); return true; }
            r.Epoch--;
            r.Refused++;
            r.LastRefusal = $"checkpoint {sequence}: {(reason is not null && reason.StartsWith("restore refused", StringComparison.Ordinal) ? reason : "malformed, or counters that disagree with the tail")}";
            if (Trace) Console.Error.WriteLine($"ODRC stage refused the {r.LastRefusal}");
            return false;
        }
        public void GetStateDigest(Span<byte> digest32) => inner.GetStateDigest(digest32);
        public void Attach(IOdrcCore core, IExecutionSink sink) => inner.Attach(core, sink);
        public void OnOdrcMessage(in MessageHeader header, ReadOnlySpan<byte> body) => inner.OnOdrcMessage(header, body);
        public void OnTick() => inner.OnTick();
        public bool OnStalledRequest(uint client, ulong rid) => inner.OnStalledRequest(client, rid);
    }

    private sealed class ByteComparer : IEqualityComparer<byte[]>
    {
        public static readonly ByteComparer Instance = new();
        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(byte[] obj) => (int)ObjectPlacement.Fnv1a(obj);
    }
}
