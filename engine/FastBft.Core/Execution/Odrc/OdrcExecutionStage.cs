using System.Buffers;
using System.Buffers.Binary;
using FastBft.Service;
using FastBft.Wire;

namespace FastBft.Execution.Odrc;

/// <summary>
/// What an agreement core offers the ODRC stage it hosts (PBFT: <c>PbftReplica.Odrc.cs</c>): sending the ODRC messages
/// under its MAC vectors, and learning that an ordered request executes on other replicas only.
/// </summary>
public interface IOdrcCore
{
    /// <summary>Sends an ODRC message of <paramref name="type"/> with header sequence <paramref name="ordinal"/> and
    /// <paramref name="body"/> to replica <paramref name="toReplica"/>, or to every other replica (<see cref="uint.MaxValue"/>).</summary>
    void SendOdrc(uint toReplica, MessageType type, ulong ordinal, ReadOnlySpan<byte> body);

    /// <summary>Request (client, rid) was ordered and stored (not executed here): the core stops waiting for its execution (no view-change timer).</summary>
    void OrderedElsewhere(uint client, ulong rid);
}

/// <summary>The hooks through which a core drives an ODRC stage (docs/odrc.md §3).</summary>
public interface IOdrcStage
{
    /// <summary>Called once by the core that hosts the stage.</summary>
    void Attach(IOdrcCore core, IExecutionSink sink);
    /// <summary>An authenticated ODRC message (OBJECT-CHECKPOINT, OBJECT-FETCH, OBJECT-STATE) from replica <paramref name="header"/>.Sender.</summary>
    void OnOdrcMessage(in MessageHeader header, ReadOnlySpan<byte> body);
    /// <summary>One core tick (alarms of Fig. 6.8, fetch retries).</summary>
    void OnTick();
    /// <summary>
    /// A client retransmitted request (client, rid) that the reply cache does not answer: the stalled-result notice of
    /// Thesis §6.4.3. Returns true if the request was ordered (it is forced here or already selected: the core must not
    /// order it again); false if it was never ordered here (§6.5.2: the core treats it as a new request).
    /// </summary>
    bool OnStalledRequest(uint client, ulong rid);
}

/// <summary>
/// The ODRC execution stage (Thesis ch. 6; docs/odrc.md): committed batches go through a <see cref="Selector"/>, which
/// has this replica execute only the requests that touch objects it maintains (plus cross-border updates and forced
/// requests). The agreement checkpoint digest covers the order, not the state (replicas hold different object copies,
/// Thesis §6.2.2.3) and the selector's agreed state: the checkpoint at s is the snapshot "odrc-st1" ‖ s[8] ‖ chain_s[32] ‖
/// the selector part (<see cref="Selector.WriteSnapshot"/>: ordinal, clients' last ordered requests, per-object G19 counters
/// and last triggers, the open tail of requests), its digest SHA-256 of those bytes, chain_s = SHA-256(chain_{s-1} ‖ s ‖
/// D(batch_s)). A lagging or restarted replica installs it by state transfer (<see cref="TryInstallCheckpoint"/>) and
/// rebuilds its objects on demand (docs/odrc.md §9).
/// </summary>
public sealed class OdrcExecutionStage : IExecutionStage, IOdrcStage, ISelectorOutput
{
    private readonly IReplicatedService _service;
    private readonly uint _self;
    private readonly ArrayBufferWriter<byte> _reply = new(4096);
    private readonly ArrayBufferWriter<byte> _snapshot = new(4096);
    private static ReadOnlySpan<byte> SnapshotMagic => "odrc-st1"u8;
    /// <summary>Bytes before the selector part of a snapshot: magic[8] ‖ s[8] ‖ chain[32].</summary>
    public const int SnapshotHeaderBytes = 8 + 8 + 32;
    private readonly byte[] _chain = new byte[32];
    private readonly byte[] _chainInput = new byte[32 + 8 + 32];
    private readonly Dictionary<ulong, byte[]> _snapshots = new();
    private readonly int _kept, _interval;
    private byte[] _scratch = new byte[1024];
    private IOdrcCore? _core;
    private IOdrcCore? _network;          // extended cells: ODRC traffic among the E execution replicas (null: through the core)
    private uint _firstExecutionOnly, _executionReplicas;
    private IExecutionSink? _sink;

    /// <summary>Creates the stage of replica <paramref name="self"/>.</summary>
    /// <param name="service">the service; must implement <see cref="IObjectStateService"/>.</param>
    /// <param name="self">this replica's id (its execution replica id).</param>
    /// <param name="placement">the object placement (E = the cell's n).</param>
    /// <param name="options">selector options.</param>
    /// <param name="checkpointInterval">agreement checkpoint interval (sequence numbers).</param>
    /// <param name="checkpointsKept">agreement checkpoint digests kept.</param>
    /// <exception cref="ArgumentException">the service does not implement <see cref="IObjectStateService"/>.</exception>
    public OdrcExecutionStage(IReplicatedService service, uint self, ObjectPlacement placement, SelectorOptions? options, int checkpointInterval, int checkpointsKept)
    {
        if (service is not IObjectStateService objects) throw new ArgumentException("ODRC needs a service that implements IObjectStateService (request analysis and object state)", nameof(service));
        _service = service;
        _self = self;
        _interval = checkpointInterval;
        _kept = checkpointsKept;
        Selector = new Selector(self, placement, objects, this, options);
    }

    /// <summary>The selector.</summary>
    public Selector Selector { get; }
    /// <inheritdoc/>
    public ReplyCache Replies { get; } = new();
    /// <inheritdoc/>
    public bool Executes => true;

    /// <inheritdoc/>
    public void Attach(IOdrcCore core, IExecutionSink sink) { _core = core; _sink = sink; }

    /// <summary>
    /// Extended cell (ODRC₆, Thesis §6.7.2.1; docs/odrc.md §4 G21): OBJECT-CHECKPOINT, OBJECT-FETCH and OBJECT-STATE travel
    /// through <paramref name="network"/> among all E execution replicas (not through the agreement core, whose MAC vectors
    /// cover n replicas), and every committed batch is forwarded as ORDERED-BATCH to the execution-only replicas
    /// <paramref name="firstExecutionOnly"/>..E-1. Call once, before the first batch, on the thread that runs the core.
    /// </summary>
    /// <param name="network">sends to execution replica ids 0..E-1 (<see cref="uint.MaxValue"/>: all others).</param>
    /// <param name="firstExecutionOnly">n, the first execution-only replica id (an execution-only replica passes E: it forwards nothing).</param>
    public void UseNetwork(IOdrcCore network, uint firstExecutionOnly)
    {
        _network = network;
        _firstExecutionOnly = firstExecutionOnly;
        _executionReplicas = (uint)Selector.Placement.ExecutionReplicas;
    }

    private IOdrcCore? Net => _network ?? _core;

    // Extended cells: the last ForwardKept batches forwarded, to answer ORDERED-BATCH-FETCH (buffers reused: no allocation per batch once grown).
    private const int ForwardKept = 512;
    private readonly byte[][] _forwarded = new byte[ForwardKept][];
    private readonly int[] _forwardedLength = new int[ForwardKept];
    private readonly ulong[] _forwardedSeq = new ulong[ForwardKept];

    private void KeepForwarded(ulong sequence, ReadOnlySpan<byte> batchBody)
    {
        int i = (int)(sequence % ForwardKept);
        if (_forwarded[i] is null || _forwarded[i].Length < batchBody.Length) _forwarded[i] = new byte[Math.Max(batchBody.Length, 4096)];
        batchBody.CopyTo(_forwarded[i]);
        _forwardedLength[i] = batchBody.Length;
        _forwardedSeq[i] = sequence;
    }

    /// <summary>
    /// ORDERED-BATCH-FETCH(s) from execution-only replica <paramref name="from"/> (extended cells, docs/odrc.md §4 G21): sends
    /// ORDERED-BATCH(s) again if this replica forwarded s among its last 512 batches; otherwise nothing (that replica is too
    /// far behind: whole-replica state transfer is not built for execution-only replicas, docs/odrc.md §10).
    /// </summary>
    public void OnOrderedBatchFetch(uint from, ulong sequence)
    {
        if (from < _firstExecutionOnly || from >= _executionReplicas || sequence == 0) return;
        int i = (int)(sequence % ForwardKept);
        if (_forwardedSeq[i] != sequence) return;
        _network!.SendOdrc(from, MessageType.OrderedBatch, sequence, _forwarded[i].AsSpan(0, _forwardedLength[i]));
    }

    /// <inheritdoc/>
    public void Committed(ulong sequence, ReadOnlySpan<byte> batchBody, IExecutionSink sink)
    {
        _sink = sink;
        _chain.CopyTo(_chainInput, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(_chainInput.AsSpan(32), sequence);
        batchBody.Slice(0, Digests.Size).CopyTo(_chainInput.AsSpan(40));
        Digests.Sha256(_chainInput, _chain);
        if (_firstExecutionOnly < _executionReplicas)
        {
            for (uint e = _firstExecutionOnly; e < _executionReplicas; e++) _network!.SendOdrc(e, MessageType.OrderedBatch, sequence, batchBody);
            KeepForwarded(sequence, batchBody);
        }
        var reader = new BatchReader(batchBody);
        int index = 0;
        while (reader.Next(out var req))
        {
            MessageHeader.TryParse(req, int.MaxValue, out var rh);
            var r = Selector.InsertRequest(rh.Sender, rh.Sequence, sequence, index++, MessageHeader.Body(req, rh));
            if (r is not null && r.State == OdrcRequestState.Stored) _core?.OrderedElsewhere(rh.Sender, rh.Sequence);
        }
        Drain();
    }

    /// <summary>
    /// The request the service is executing right now (null between executions): lets an observer of the service (the
    /// simulator's execution oracle) tell a replay that leaves some of its objects unchanged (docs/odrc.md §9 S6,
    /// <see cref="OdrcRequest.LeavesUnchanged"/>) from a re-execution on those objects.
    /// </summary>
    public OdrcRequest? Executing { get; private set; }

    /// <summary>Executes what the selector hands out, records replies, and reports selected and forced requests to the core.</summary>
    private void Drain()
    {
        OdrcRequest? r;
        while ((r = Selector.NextRequest()) is not null)
        {
            _reply.ResetWrittenCount();
            Executing = r;
            try { _service.Execute(new RequestInfo(r.ClientId, r.RequestId, r.Sequence, r.Index), r.Operation, _reply, null); }
            finally { Executing = null; }
            Selector.Executed(r, _reply.WrittenSpan);
            var entry = Replies.Get(r.ClientId);
            if (r.RequestId < entry.LastExecutedRid) continue;                 // an old request replayed: the client moved on
            entry.StoreFull(r.RequestId, r.Sequence, _reply.WrittenSpan);
            if (r.Run == OdrcRun.Replay && !r.Forced) continue;
            bool full = r.Run == OdrcRun.Forced || r.TouchesAdopted || ObjectPlacement.Designated(r.Executors, r.ClientId, r.RequestId) == _self;
            _sink?.OnExecuted(entry, full);
        }
    }

    /// <inheritdoc/>
    public void OnOdrcMessage(in MessageHeader header, ReadOnlySpan<byte> body)
    {
        switch (header.Type)
        {
            case MessageType.ObjectCheckpoint:
                var cp = OdrcWire.ReadCheckpoint(header.Sender, header.Sequence, body);
                if (cp is not null) Selector.OnObjectCheckpoint(cp);
                break;
            case MessageType.ObjectFetch:
                if (OdrcWire.TryReadFetch(body, out var id)) Selector.OnObjectFetch(header.Sender, id, header.Sequence);
                break;
            case MessageType.ObjectState:
                if (OdrcWire.TryReadState(body, out var sid, out var state) && Selector.OnObjectState(header.Sender, sid, header.Sequence, state)) Drain();
                break;
        }
        Drain();
    }

    /// <inheritdoc/>
    public void OnTick()
    {
        Selector.OnTick();
        Drain();
    }

    /// <inheritdoc/>
    public bool OnStalledRequest(uint client, ulong rid)
    {
        var result = Selector.ForceRequest(client, rid);
        if (result == ForceResult.NeverOrdered) return false;
        Drain();
        return true;
    }

    // ISelectorOutput
    void ISelectorOutput.BroadcastObjectCheckpoint(ObjectCheckpoint checkpoint)
    {
        int len = OdrcWire.CheckpointLength(checkpoint);
        var body = Scratch(len);
        OdrcWire.WriteCheckpoint(checkpoint, body);
        Net?.SendOdrc(uint.MaxValue, MessageType.ObjectCheckpoint, checkpoint.Ordinal, body);
    }

    void ISelectorOutput.SendObjectFetch(uint to, ReadOnlySpan<byte> objectId, ulong ordinal)
    {
        var body = Scratch(4 + objectId.Length);
        OdrcWire.WriteFetch(objectId, body);
        Net?.SendOdrc(to, MessageType.ObjectFetch, ordinal, body);
    }

    void ISelectorOutput.SendObjectState(uint to, ReadOnlySpan<byte> objectId, ulong ordinal, ReadOnlySpan<byte> state)
    {
        var body = Scratch(OdrcWire.StateLength(objectId.Length, state.Length));
        OdrcWire.WriteState(objectId, state, body);
        Net?.SendOdrc(to, MessageType.ObjectState, ordinal, body);
    }

    void ISelectorOutput.VerifiedReplies(ReadOnlySpan<ReplyHash> replies)
    {
        foreach (var r in replies)
        {
            var entry = Replies.Get(r.ClientId);
            if (r.RequestId > entry.LastExecutedRid) entry.StoreDigest(r.RequestId, r.Sequence, r.Hash);
        }
    }

    private Span<byte> Scratch(int length)
    {
        if (_scratch.Length < length) _scratch = new byte[Math.Max(length, _scratch.Length * 2)];
        return _scratch.AsSpan(0, length);
    }

    /// <inheritdoc/>
    /// <remarks>Cost per agreement checkpoint: O(objects · log objects + open tail) time and one array of the snapshot's size
    /// (docs/odrc.md §9); nothing per request.</remarks>
    public void TakeCheckpoint(ulong sequence, Span<byte> digest32)
    {
        _snapshot.ResetWrittenCount();
        var head = _snapshot.GetSpan(SnapshotHeaderBytes);
        SnapshotMagic.CopyTo(head);
        BinaryPrimitives.WriteUInt64LittleEndian(head.Slice(8), sequence);
        _chain.CopyTo(head.Slice(16));
        _snapshot.Advance(SnapshotHeaderBytes);
        Selector.WriteSnapshot(_snapshot);
        Digests.Sha256(_snapshot.WrittenSpan, digest32);
        Keep(sequence, _snapshot.WrittenSpan.ToArray());
    }

    /// <summary>Bytes of the last snapshot taken (diagnostics).</summary>
    public int LastSnapshotBytes => _snapshot.WrittenCount;

    private void Keep(ulong sequence, byte[] snapshot)
    {
        _snapshots[sequence] = snapshot;
        if (_snapshots.Count > _kept)
        {
            ulong oldest = ulong.MaxValue;
            foreach (var k in _snapshots.Keys) if (k < oldest) oldest = k;
            _snapshots.Remove(oldest);
        }
        _ = _interval;
    }

    /// <inheritdoc/>
    public bool TryGetCheckpoint(ulong sequence, out ReadOnlySpan<byte> snapshot)
    {
        snapshot = default;
        if (!_snapshots.TryGetValue(sequence, out var s)) return false;
        snapshot = s;
        return true;
    }

    /// <summary>
    /// Installs the agreement checkpoint at <paramref name="sequence"/> whose SHA-256 the caller verified against f+1 matching
    /// CHECKPOINTs (docs/odrc.md §9): the order chain, then the selector's part (<see cref="Selector.TryRestore"/>: every count
    /// and length validated first). The reply cache is kept (it only ever holds correct replies). Returns false, changing
    /// nothing, if the snapshot is malformed, is of another sequence number, or cannot be installed here.
    /// </summary>
    public bool TryInstallCheckpoint(ulong sequence, ReadOnlySpan<byte> snapshot)
    {
        if (snapshot.Length < SnapshotHeaderBytes || !snapshot.StartsWith(SnapshotMagic)
            || BinaryPrimitives.ReadUInt64LittleEndian(snapshot.Slice(8)) != sequence) { InstallsRefused++; return false; }
        if (!Selector.TryRestore(snapshot.Slice(SnapshotHeaderBytes))) { InstallsRefused++; return false; }
        snapshot.Slice(16, 32).CopyTo(_chain);
        Keep(sequence, snapshot.ToArray());
        Installs++;
        Drain();
        return true;
    }

    /// <summary>Agreement checkpoints installed by state transfer.</summary>
    public long Installs { get; private set; }
    /// <summary>Verified snapshots refused by <see cref="TryInstallCheckpoint"/> (malformed or not installable here).</summary>
    public long InstallsRefused { get; private set; }

    /// <summary>
    /// Under ODRC the replicas' whole states differ by design (each keeps current only the objects it maintains), so the
    /// digest a host reports is that of the order executed so far: SHA-256("odrc-order" ‖ chain) (docs/odrc.md §3).
    /// Object convergence is what the ODRC simulator checks.
    /// </summary>
    public void GetStateDigest(Span<byte> digest32)
    {
        Span<byte> input = stackalloc byte[10 + 32];
        "odrc-order"u8.CopyTo(input);
        _chain.CopyTo(input.Slice(10));
        Digests.Sha256(input, digest32);
    }
}
