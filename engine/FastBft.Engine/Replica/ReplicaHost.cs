using System.Collections.Concurrent;
using FastBft.Auth;
using FastBft.Config;
using FastBft.Agreement;
using FastBft.Service;
using FastBft.Transport;
using FastBft.Hosting;
using FastBft.Verification;
using FastBft.Wire;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastBft.Replica;

/// <summary>
/// Runs one replica: a single-threaded event loop that polls the transport, authenticates each
/// message (<see cref="MessageVerifier"/>), feeds the protocol core, ticks its timer and flushes the
/// transport (DESIGN.md "Data flow"). The loop owns the transport, the core and the service; other
/// threads talk to it only through <see cref="QueryStatusAsync"/> and cancellation.
/// </summary>
public sealed class ReplicaHost : IMessageHandler, IReplicaOutput, IDisposable
{
    private readonly CellConfig _config;
    private readonly uint _id;
    private readonly ITransport _transport;
    private readonly MessageVerifier _verifier;
    private readonly IReplicaCore _core;
    private readonly UsigCertificateScheme? _usig;
    private readonly FastBft.TrustedHw.MeteredUsig? _usigMeter;
    private readonly ILogger _log;
    private readonly ConcurrentQueue<TaskCompletionSource<ReplicaStatus>> _statusRequests = new();
    private long _misaddressed;

    /// <summary>Creates the host of replica <paramref name="id"/> of <paramref name="config"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">id not in 0..n-1.</exception>
    /// <exception cref="ConfigException">the protocol is not built, or (USIG protocols) the trusted counter cannot be started.</exception>
    public ReplicaHost(CellConfig config, uint id, ITransport transport, IReplicatedService service, ILogger? logger = null)
        : this(config, id, transport, service, logger, null) { }

    /// <summary>
    /// Creates the host with an explicit protocol <paramref name="definition"/> (null: the config's, through
    /// <see cref="ProtocolRegistry.Definition"/>). When the definition's shape <see cref="CellShape.UsesUsig"/>, the host
    /// creates the replica's USIG from the config's <c>usig</c> section (<see cref="ProtocolRegistry.CreateUsigScheme(IProtocolDefinition, CellConfig, uint, KeyStore, ILogger?)"/>), wraps
    /// it in ONE <see cref="UsigCertificateScheme"/>, hands that instance to both the verifier and the core, and disposes it in
    /// <see cref="Dispose"/>; otherwise no USIG is created. Tests inject a definition here.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">id not in 0..n-1.</exception>
    /// <exception cref="ConfigException">the protocol is not built, or the trusted counter cannot be started.</exception>
    internal ReplicaHost(CellConfig config, uint id, ITransport transport, IReplicatedService service, ILogger? logger, IProtocolDefinition? definition)
    {
        if (id >= (uint)config.N) throw new ArgumentOutOfRangeException(nameof(id), $"replica id {id} is not in 0..{config.N - 1}");
        _config = config;
        _id = id;
        _transport = transport;
        _log = logger ?? NullLogger.Instance;
        var def = definition ?? ProtocolRegistry.Definition(config);
        var keys = config.CreateKeyStore();
        var auth = new Authenticator(id, keys);
        _usig = ProtocolRegistry.CreateUsigScheme(def, config, id, keys, _log, out _usigMeter);
        try
        {
            _verifier = ProtocolRegistry.CreateReplicaVerifier(def, config, new Authenticator(id, keys), _usig);
            _core = ProtocolRegistry.CreateCore(def, config, auth, service, this, _usig);
        }
        catch
        {
            _usig?.Dispose();
            throw;
        }
        _metrics = new FastBft.Metrics.ReplicaMetrics(id, _core, _verifier, transport.Stats, transport as IsolatingTransport);
    }

    /// <summary>The replica's USIG certificate scheme (the one instance its verifier and core share), or null for a protocol without a trusted counter.</summary>
    public UsigCertificateScheme? UsigScheme => _usig;

    private readonly FastBft.Metrics.ReplicaMetrics _metrics;

    /// <summary>The protocol core (for tests and diagnostics; touch it only from the loop thread or after <see cref="Run"/> returned).</summary>
    public IReplicaCore Core => _core;
    /// <summary>The authentication stage's drop counters.</summary>
    public MessageVerifier Verifier => _verifier;

    /// <summary>
    /// Runs the event loop on the calling thread until <paramref name="cancellation"/> is cancelled.
    /// Exceptions from the service or the transport end the loop and propagate (a replica must not
    /// continue with an undefined state); malformed input never throws (it is dropped and counted).
    /// </summary>
    public void Run(CancellationToken cancellation)
    {
        int tickMs = _config.Timeouts.TickMs;
        long nextTick = Environment.TickCount64 + tickMs;
        ReplicaLog.Started(_log, _id, _config.N, _config.F, _core.View, _core.Leader);
        _seenView = _core.View; _seenInViewChange = _core.InViewChange; _seenStateTransfers = ReplicaCounters.Read(ref _core.Counters.StateTransfers);
        while (!cancellation.IsCancellationRequested)
        {
            long now = Environment.TickCount64;
            int wait = (int)Math.Clamp(nextTick - now, 0, tickMs);
            _transport.Poll(this, wait);
            _core.EndOfBurst();
            now = Environment.TickCount64;
            if (now >= nextTick)
            {
                _core.OnTick();
                nextTick = now + tickMs;
                AnswerStatusRequests();
                ObserveEvents(now);
            }
            _transport.Flush();
        }
        AnswerStatusRequests();
        ReplicaLog.Stopped(_log, _id, _core.LastExecuted, _core.View);
    }

    private ulong _seenView;
    private bool _seenInViewChange;
    private long _seenStateTransfers, _viewChangeStartMs, _seenAuthFailures, _nextAuthReportMs;

    /// <summary>
    /// Once per tick (not per message): turns changes of the core's public state into structured log
    /// events — view change started / new view, state transfer, authentication failures (at most one
    /// report per second). Reads only public state of the core.
    /// </summary>
    private void ObserveEvents(long nowMs)
    {
        bool inVc = _core.InViewChange;
        if (inVc && !_seenInViewChange)
        {
            _viewChangeStartMs = nowMs;
            ReplicaLog.ViewChangeStarted(_log, _id, _seenView, (uint)(_seenView % (ulong)_config.N), _core.LastExecuted);
        }
        if (!inVc && _core.View != _seenView)
        {
            long elapsed = _viewChangeStartMs == 0 ? 0 : nowMs - _viewChangeStartMs;
            ReplicaLog.NewView(_log, _id, _core.View, _core.Leader, elapsed, _core.LastExecuted);
            _seenView = _core.View;
            _viewChangeStartMs = 0;
        }
        _seenInViewChange = inVc;
        long transfers = ReplicaCounters.Read(ref _core.Counters.StateTransfers);
        if (transfers != _seenStateTransfers)
        {
            _seenStateTransfers = transfers;
            ReplicaLog.StateTransferred(_log, _id, _core.LowWatermark, transfers);
        }
        if (nowMs >= _nextAuthReportMs)
        {
            long auth = _verifier.DroppedFor(ParseStatus.BadAuthenticator);
            if (auth != _seenAuthFailures) ReplicaLog.AuthenticationFailures(_log, _id, auth - _seenAuthFailures, auth);
            _seenAuthFailures = auth;
            _nextAuthReportMs = nowMs + 1000;
        }
    }

    /// <summary>Misaddressed messages dropped by the host (destination is not this replica).</summary>
    public long Misaddressed => Interlocked.Read(ref _misaddressed);

    /// <summary>Asks the loop for a status snapshot (answered within one tick while it runs).</summary>
    public Task<ReplicaStatus> QueryStatusAsync()
    {
        var tcs = new TaskCompletionSource<ReplicaStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        _statusRequests.Enqueue(tcs);
        return tcs.Task;
    }

    /// <summary>Status snapshot; call only on the loop thread or when the loop is not running.</summary>
    public ReplicaStatus SnapshotStatus()
    {
        Span<byte> d = stackalloc byte[32];
        _core.GetStateDigest(d);
        var s = _core.Counters;
        return new ReplicaStatus(_id, _core.View, _core.LastExecuted, _core.LowWatermark, Convert.ToHexString(d),
            s.Executed, s.Batches, s.StableCheckpoints, _verifier.DroppedTotal + _misaddressed,
            _transport.Stats.BytesSent, _transport.Stats.DatagramsSent, _transport.Stats.DatagramsReceived, s.Retransmissions)
        {
            ViewChanges = s.NewViewsInstalled,
            ExecutedBatches = s.ExecutedBatches,
            TransportSendErrors = _transport.Stats.SendErrors,
            TransportReceiveErrors = _transport.Stats.ReceiveErrors,
            StateTransfers = s.StateTransfers,
            StateBytesReceived = s.StateBytesReceived,
            StateObjectsReceived = s.StateObjectsReceived,
            BadStateTransfers = s.BadStateTransfers,
            FetchesSent = s.FetchesSent,
            InViewChange = _core.InViewChange,
            Protocol = _core.Shape.Name,
            UsigBusyUs = _usigMeter is null ? 0 : (long)_usigMeter.Busy.TotalMicroseconds,
            UsigCertified = _usigMeter?.Certified ?? 0,
            UsigVerified = _usigMeter?.Verified ?? 0,
            Odrc = (_core.Execution as FastBft.Execution.Odrc.OdrcExecutionStage)?.Selector is { } sel
                ? new OdrcStatus(sel.Stats.Inserted, sel.Stats.CrossBorder, sel.Stats.Executed, sel.Stats.Forced, sel.Stats.Replayed, sel.Stats.Skipped, sel.Stats.StableCheckpoints, sel.Stats.StatesInstalled)
                {
                    Restores = sel.Restores, BetweenBasesReplayed = sel.BetweenBasesReplayed, UnresolvedAtRestore = sel.UnresolvedAtRestore,
                    UnresolvedSkipped = sel.Stats.UnresolvedSkipped, UnresolvedResolved = sel.Stats.UnresolvedResolved,
                }
                : null,
        };
    }

    private void AnswerStatusRequests()
    {
        if (_statusRequests.IsEmpty) return;
        var status = SnapshotStatus();
        while (_statusRequests.TryDequeue(out var tcs)) tcs.TrySetResult(status);
    }

    /// <inheritdoc/>
    public void OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message)
    {
        if (destination != _id) { _misaddressed++; return; }
        if (_verifier.Verify(message, out var verified) != ParseStatus.Ok) return;
        // Replies go back where an authenticated REQUEST came from (docs/transport.md, "Return routes").
        if (verified.Header.Type == MessageType.Request) _transport.ConfirmRoute(verified.Header.Sender, verified.Header.Sequence);
        _core.OnMessage(verified);
    }

    /// <inheritdoc/>
    public void SendToReplica(uint replica, ReadOnlySpan<byte> message)
    {
        // The cores never build a message above max_message_bytes (the config check bounds VIEW-CHANGE and
        // NEW-VIEW); should one still be refused, it is counted, never thrown out of the event loop.
        try { _transport.Send(replica, _id, message); }
        catch (ArgumentException) { OversizedSends++; }
    }

    /// <summary>Messages the transport refused to send (larger than max_message_bytes); 0 in a correct cell.</summary>
    public long OversizedSends { get; private set; }

    /// <inheritdoc/>
    public void SendToClient(uint client, ReadOnlySpan<byte> message) => _transport.Send(client, _id, message);

    /// <inheritdoc/>
    /// <remarks>Also disposes the USIG certificate scheme and with it the replica's USIG (a device model stops; its epoch file stays).</remarks>
    public void Dispose() { _metrics.Dispose(); _transport.Dispose(); _usig?.Dispose(); }
}

/// <summary>A replica's status as reported to the harness (JSON line on the control channel).</summary>
/// <param name="Id">replica id.</param>
/// <param name="View">current view.</param>
/// <param name="LastExecuted">last executed sequence number.</param>
/// <param name="StableCheckpoint">low watermark h.</param>
/// <param name="StateDigest">hex SHA-256 of the service state.</param>
/// <param name="RequestsExecuted">requests executed.</param>
/// <param name="Batches">batches proposed (primary).</param>
/// <param name="StableCheckpoints">checkpoints that became stable.</param>
/// <param name="Dropped">messages dropped by authentication/parsing.</param>
/// <param name="BytesSent">transport payload bytes sent.</param>
/// <param name="DatagramsSent">datagrams sent.</param>
/// <param name="DatagramsReceived">datagrams received.</param>
/// <param name="Retransmissions">slot retransmissions.</param>
public sealed record ReplicaStatus(uint Id, ulong View, ulong LastExecuted, ulong StableCheckpoint, string StateDigest,
    long RequestsExecuted, long Batches, long StableCheckpoints, long Dropped, long BytesSent, long DatagramsSent,
    long DatagramsReceived, long Retransmissions)
{
    /// <summary>ODRC cells: the selector's counters (docs/odrc.md); null otherwise.</summary>
    public OdrcStatus? Odrc { get; init; }
    /// <summary>Transport send errors (socket errors on send).</summary>
    public long TransportSendErrors { get; init; }
    /// <summary>Transport receive errors (socket errors on receive, e.g. ICMP port unreachable reported by the kernel).</summary>
    public long TransportReceiveErrors { get; init; }
    /// <summary>Batches this replica executed since it started.</summary>
    public long ExecutedBatches { get; init; }
    /// <summary>New views this replica installed since it started.</summary>
    public long ViewChanges { get; init; }
    /// <summary>State transfers this replica completed since it started.</summary>
    public long StateTransfers { get; init; }
    /// <summary>Bytes of checkpoint objects (meta, leaf digests, partitions) this replica received by state transfer since it started (docs/state-transfer.md).</summary>
    public long StateBytesReceived { get; init; }
    /// <summary>Checkpoint objects received and verified by state transfer since it started.</summary>
    public long StateObjectsReceived { get; init; }
    /// <summary>State-transfer data rejected (bounds, forged objects) since it started.</summary>
    public long BadStateTransfers { get; init; }
    /// <summary>FETCH messages sent since it started.</summary>
    public long FetchesSent { get; init; }
    /// <summary>True while it waits for a NEW-VIEW.</summary>
    public bool InViewChange { get; init; }
    /// <summary>The protocol the replica runs ("pbft", …).</summary>
    public string Protocol { get; init; } = "pbft";
    /// <summary>USIG protocols: wall-clock µs the replica's threads spent inside its USIG (certify and verify calls) since it
    /// started (<see cref="FastBft.TrustedHw.MeteredUsig.Busy"/>); 0 without a USIG.</summary>
    public long UsigBusyUs { get; init; }
    /// <summary>UIs the replica's USIG certified since it started; 0 without a USIG.</summary>
    public long UsigCertified { get; init; }
    /// <summary>UIs the replica's USIG verified since it started; 0 without a USIG.</summary>
    public long UsigVerified { get; init; }
}

/// <summary>ODRC selector counters of one replica since it started (docs/odrc.md §8).</summary>
/// <param name="Inserted">ordered requests the selector saw.</param>
/// <param name="CrossBorder">of those, cross-border requests.</param>
/// <param name="Executed">requests this replica executed (selected, replayed, forced).</param>
/// <param name="Forced">forced executions (stalled-result notices, alarms).</param>
/// <param name="Replayed">stored requests replayed to update objects.</param>
/// <param name="Skipped">stored requests never executed (covered by stable object checkpoints).</param>
/// <param name="StableCheckpoints">object checkpoints that became stable.</param>
/// <param name="StatesInstalled">verified object states installed.</param>
public sealed record OdrcStatus(long Inserted, long CrossBorder, long Executed, long Forced, long Replayed, long Skipped, long StableCheckpoints, long StatesInstalled)
{
    /// <summary>ODRC agreement snapshots this selector installed (whole-replica state transfer, docs/odrc.md §9).</summary>
    public long Restores { get; init; }
    /// <summary>Tail requests between two objects' bases replayed exactly on their pending objects (§9 S6).</summary>
    public long BetweenBasesReplayed { get; init; }
    /// <summary>Objects left unresolved by installed snapshots (§9 S7).</summary>
    public long UnresolvedAtRestore { get; init; }
    /// <summary>Ordered requests not executed here because they touch an unresolved object (§9 S7).</summary>
    public long UnresolvedSkipped { get; init; }
    /// <summary>Unresolved objects made usable by a stable object checkpoint (§9 S7).</summary>
    public long UnresolvedResolved { get; init; }
}
