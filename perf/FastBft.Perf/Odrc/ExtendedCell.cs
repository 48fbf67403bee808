using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using FastBft.Agreement;
using FastBft.Auth;
using FastBft.Config;
using FastBft.Execution;
using FastBft.Execution.Odrc;
using FastBft.Perf.Cell;
using FastBft.Replica;
using FastBft.Service;
using FastBft.Transport;
using FastBft.Verification;
using FastBft.Wire;
using Microsoft.Extensions.Logging;

namespace FastBft.Perf.Odrc;

/// <summary>
/// Extended ODRC cells over real processes (ODRC₆: n = 4 agreement replicas + 2 execution-only replicas; Thesis
/// §6.7.2.1; docs/odrc.md §2, §4 G21). The cell file lists the execution-only replicas in
/// <c>execution.execution_only</c> (ids n, n+1, …). Execution replica i &lt; n lives in agreement replica i's process.
/// </summary>
internal static class ExtendedCell
{
    /// <summary>E: the cell's execution replicas.</summary>
    public static int ExecutionReplicas(CellConfig c) => c.ExecutionReplicaCount;

    /// <summary>True if the cell has execution-only replicas.</summary>
    public static bool IsExtended(CellConfig c) => c.ExecutionReplicaCount > c.N;

    /// <summary>Address of execution replica <paramref name="id"/> (an agreement replica's, or an execution-only one's).</summary>
    public static IPEndPoint Address(CellConfig c, uint id)
        => IPEndPoint.Parse(id < (uint)c.N ? c.Replicas[(int)id].Address : c.Execution.ExecutionOnly[(int)id - c.N]);

    /// <summary>The keys of a cell of E replicas (the same master secret: agreement replicas' pairwise keys are unchanged).</summary>
    public static KeyStore Keys(CellConfig c) => new(c.Keys.MasterBytes(), c.ExecutionReplicaCount, c.FirstClientId, c.MaxClients);

    /// <summary>
    /// The transport of node <paramref name="id"/>: the cell's (<see cref="TransportFactory.ForReplica"/>) for a plain cell;
    /// in an extended cell kernel UDP with routes to all E execution replicas, and for an execution-only replica also
    /// configured routes for every client id to <paramref name="clientRoute"/> (the harness's client endpoint: an
    /// execution-only replica receives no REQUEST from which it could learn a return route; docs/odrc.md §2).
    /// </summary>
    /// <exception cref="ConfigException">an extended cell on DPDK, or an execution-only replica without --client-route.</exception>
    public static ITransport Transport(CellConfig c, uint id, string? clientRoute)
    {
        if (!IsExtended(c)) return TransportFactory.ForReplica(c, id);
        if (TransportFactory.HasDpdk(c)) throw new ConfigException("extended ODRC cells (execution.execution_only) run on kernel UDP only");
        var peers = new Dictionary<uint, IPEndPoint>();
        for (uint i = 0; i < (uint)c.ExecutionReplicaCount; i++) peers[i] = Address(c, i);
        if (id >= (uint)c.N)
        {
            if (clientRoute is null || !IPEndPoint.TryParse(clientRoute, out var client))
                throw new ConfigException("an execution-only replica needs --client-route ip:port (the clients' endpoint)");
            for (uint k = 0; k < (uint)c.MaxClients; k++) peers[c.FirstClientId + k] = client;
        }
        return UdpTransport.Create(new UdpTransportOptions
        {
            LocalEndPoint = Address(c, id),
            Peers = peers,
            MaxMessageSize = c.MaxMessageBytes + 64 * 1024,
        });
    }
}

/// <summary>
/// The execution network of an extended cell: OBJECT-CHECKPOINT, OBJECT-FETCH, OBJECT-STATE and ORDERED-BATCH among the E
/// execution replicas, under MAC vectors of E entries (<see cref="OdrcWire.ExtendedRules"/>), verified before they reach
/// the ODRC stage. One per process, used on its event-loop thread only.
/// </summary>
internal sealed class OdrcNetwork : IOdrcCore
{
    private readonly uint _self;
    private readonly int _e;
    private readonly ITransport _transport;
    private readonly MessageBuilder _builder;
    private readonly MessageVerifier _verifier;

    public OdrcNetwork(CellConfig c, uint self, ITransport transport)
    {
        _self = self;
        _e = c.ExecutionReplicaCount;
        _transport = transport;
        var keys = ExtendedCell.Keys(c);
        _builder = new MessageBuilder(new Authenticator(self, keys), _e, 64 * 1024);
        _verifier = new MessageVerifier(new TableSchema(ProtocolFamily.Pbft, OdrcWire.ExtendedRules()), new Authenticator(self, keys),
            FastBft.Hosting.ProtocolRegistry.Limits(c) with { ReplicaCount = _e });
    }

    /// <summary>Messages dropped by the verifier.</summary>
    public long Dropped => _verifier.DroppedTotal;

    /// <summary>True for the message types this network carries (60–63).</summary>
    public static bool Carries(ReadOnlySpan<byte> message)
        => message.Length >= MessageHeader.Size && MessageHeader.TryParseAlone(message.Slice(0, MessageHeader.Size), out var h) && h.Type is >= MessageType.ObjectCheckpoint and <= MessageType.OrderedBatch;

    /// <summary>Authenticates <paramref name="message"/>; false if it is dropped.</summary>
    public bool Verify(ReadOnlySpan<byte> message, out MessageHeader header)
    {
        header = default;
        if (_verifier.Verify(message, out var v) != ParseStatus.Ok) return false;
        header = v.Header;
        return true;
    }

    /// <inheritdoc/>
    public void SendOdrc(uint toReplica, MessageType type, ulong ordinal, ReadOnlySpan<byte> body)
    {
        var dst = _builder.BeginVector(type, 0, ordinal, body.Length);
        body.CopyTo(dst);
        var msg = _builder.SealVector();
        if (toReplica == uint.MaxValue)
        {
            for (uint i = 0; i < (uint)_e; i++)
                if (i != _self) _transport.Send(i, _self, msg);
        }
        else if (toReplica != _self && toReplica < (uint)_e) _transport.Send(toReplica, _self, msg);
    }

    /// <inheritdoc/>
    public void OrderedElsewhere(uint client, ulong rid) { }
}

/// <summary>
/// An agreement replica's transport in an extended cell: messages of the execution network (types 60–63) are taken out
/// before the replica host's verifier (whose MAC vectors cover n replicas), verified by the <see cref="OdrcNetwork"/> and
/// handed to the ODRC stage on the event-loop thread; everything else passes through.
/// </summary>
internal sealed class InterceptingTransport(ITransport inner) : ITransport, IMessageHandler
{
    private IMessageHandler? _handler;

    /// <summary>The execution network (set before the loop runs).</summary>
    public OdrcNetwork? Network { get; set; }
    /// <summary>The ODRC stage of this replica (set before the loop runs).</summary>
    public OdrcExecutionStage? Stage { get; set; }

    public int MaxMessageSize => inner.MaxMessageSize;
    public TransportStats Stats => inner.Stats;
    public void Send(uint destination, uint sender, ReadOnlySpan<byte> message) => inner.Send(destination, sender, message);
    public void Flush() => inner.Flush();
    public bool ConfirmRoute(uint node, ulong freshness) => inner.ConfirmRoute(node, freshness);
    public int Poll(IMessageHandler handler, int timeoutMs) { _handler = handler; return inner.Poll(this, timeoutMs); }
    public void Dispose() => inner.Dispose();

    void IMessageHandler.OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message)
    {
        if (Network is { } net && OdrcNetwork.Carries(message))
        {
            if (Stage is { } stage && net.Verify(message, out var h))
            {
                if (h.Type == MessageType.OrderedBatchFetch) stage.OnOrderedBatchFetch(h.Sender, h.Sequence);
                else if (h.Type != MessageType.OrderedBatch) stage.OnOdrcMessage(h, MessageHeader.Body(message, h));
            }
            return;
        }
        _handler!.OnMessage(sender, destination, message);
    }
}

/// <summary>
/// An execution-only replica of an extended cell (ODRC₆, docs/odrc.md §2, §4 G21): no agreement. It takes each batch once
/// f+1 agreement replicas forwarded identical ORDERED-BATCH copies (<see cref="OrderedBatchVoter"/>), in sequence order, into
/// its own <see cref="OdrcExecutionStage"/> (selector over the same placement of E replicas), exchanges object checkpoints and
/// object states with the other execution replicas, and replies to the clients itself (the full result when it is the
/// designated replier). Single-threaded event loop (poll, tick, flush), like <see cref="ReplicaHost"/>.
/// </summary>
internal sealed class ExecutionOnlyReplica : IMessageHandler, IReplicaOutput, IExecutionSink, IDisposable
{
    private readonly CellConfig _config;
    private readonly uint _id;
    private readonly ITransport _transport;
    private readonly OdrcNetwork _network;
    private readonly OdrcExecutionStage _stage;
    private readonly OrderedBatchVoter _order;
    private readonly MessageBuilder _replyBuilder;
    private readonly ConcurrentQueue<TaskCompletionSource<ReplicaStatus>> _statusRequests = new();
    private long _executedReplies, _batches;

    public ExecutionOnlyReplica(CellConfig cell, uint id, ITransport transport, IReplicatedService service)
    {
        _config = cell;
        _id = id;
        _transport = transport;
        _network = new OdrcNetwork(cell, id, transport);
        var def = (OdrcProtocol)FastBft.Hosting.ProtocolRegistry.Definition(cell);
        var p = FastBft.Hosting.ProtocolRegistry.Parameters(cell);
        _stage = (OdrcExecutionStage)def.CreateExecution(p, id, service);
        _stage.Attach(_network, this);
        _stage.UseNetwork(_network, (uint)cell.ExecutionReplicaCount);
        _order = new OrderedBatchVoter(cell.N, cell.F, 4096);
        _replyBuilder = new MessageBuilder(new Authenticator(id, ExtendedCell.Keys(cell)), cell.ExecutionReplicaCount, 64 * 1024);
    }

    /// <summary>Runs the loop on the calling thread until cancelled.</summary>
    public void Run(CancellationToken cancellation)
    {
        int tickMs = _config.Timeouts.TickMs;
        long nextTick = Environment.TickCount64 + tickMs;
        while (!cancellation.IsCancellationRequested)
        {
            int wait = (int)Math.Clamp(nextTick - Environment.TickCount64, 0, tickMs);
            _transport.Poll(this, wait);
            long now = Environment.TickCount64;
            if (now >= nextTick)
            {
                _stage.OnTick();
                AskForMissingBatches();
                nextTick = now + tickMs;
                AnswerStatusRequests();
            }
            _transport.Flush();
        }
        AnswerStatusRequests();
    }

    public Task<ReplicaStatus> QueryStatusAsync()
    {
        var tcs = new TaskCompletionSource<ReplicaStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        _statusRequests.Enqueue(tcs);
        return tcs.Task;
    }

    private ulong _lastDelivered;
    private int _stuckTicks;
    private long _fetches;

    /// <summary>
    /// Once per tick: if a later batch was announced but the next one has not been delivered for 3 ticks (a lost
    /// ORDERED-BATCH), ask every agreement replica for the next few again (ORDERED-BATCH-FETCH; docs/odrc.md §4 G21).
    /// </summary>
    private void AskForMissingBatches()
    {
        ulong delivered = _order.Delivered;
        if (delivered != _lastDelivered || _order.HighestSeen <= delivered) { _lastDelivered = delivered; _stuckTicks = 0; return; }
        if (++_stuckTicks < 3) return;
        _stuckTicks = 0;
        ulong last = Math.Min(_order.HighestSeen, delivered + 8);
        for (ulong s = delivered + 1; s <= last; s++)
            for (uint a = 0; a < (uint)_config.N; a++) { _network.SendOdrc(a, MessageType.OrderedBatchFetch, s, ReadOnlySpan<byte>.Empty); _fetches++; }
    }

    private void AnswerStatusRequests()
    {
        if (_statusRequests.IsEmpty) return;
        Span<byte> d = stackalloc byte[32];
        _stage.GetStateDigest(d);
        var o = _stage.Selector.Stats;
        var status = new ReplicaStatus(_id, 0, _order.Delivered, 0, Convert.ToHexString(d), _executedReplies, 0, 0, _network.Dropped + _order.Dropped,
            _transport.Stats.BytesSent, _transport.Stats.DatagramsSent, _transport.Stats.DatagramsReceived, 0)
        {
            ExecutedBatches = _batches,
            FetchesSent = _fetches,
            Protocol = "odrc-execution-only",
            Odrc = new OdrcStatus(o.Inserted, o.CrossBorder, o.Executed, o.Forced, o.Replayed, o.Skipped, o.StableCheckpoints, o.StatesInstalled),
        };
        while (_statusRequests.TryDequeue(out var tcs)) tcs.TrySetResult(status);
    }

    /// <inheritdoc/>
    public void OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message)
    {
        if (destination != _id || !OdrcNetwork.Carries(message) || !_network.Verify(message, out var h)) return;
        var body = MessageHeader.Body(message, h);
        if (h.Type != MessageType.OrderedBatch) { _stage.OnOdrcMessage(h, body); return; }
        _order.OnNotice(h.Sender, h.Sequence, body);
        while (_order.TryNext(out ulong seq, out var batch))
        {
            _batches++;
            _stage.Committed(seq, batch, this);
        }
    }

    /// <inheritdoc/>
    void IExecutionSink.OnExecuted(ReplyEntry entry, bool designated)
    {
        _executedReplies++;
        ReplyMessages.Send(_replyBuilder, this, 0, entry, designated);
    }

    /// <inheritdoc/>
    public void SendToReplica(uint replica, ReadOnlySpan<byte> message) => _transport.Send(replica, _id, message);

    /// <inheritdoc/>
    public void SendToClient(uint client, ReadOnlySpan<byte> message) => _transport.Send(client, _id, message);

    public void Dispose() => _transport.Dispose();
}

/// <summary>What `fastbft replica` runs: a replica host, the unreplicated server, or an execution-only replica.</summary>
internal sealed class HostedNode : IDisposable
{
    private readonly Action<CancellationToken> _run;
    private readonly Func<Task<ReplicaStatus>> _status;
    private readonly Action _dispose;

    private HostedNode(Action<CancellationToken> run, Func<Task<ReplicaStatus>> status, Action dispose) { _run = run; _status = status; _dispose = dispose; }

    public void Run(CancellationToken ct) => _run(ct);
    public Task<ReplicaStatus> QueryStatusAsync() => _status();
    public void Dispose() => _dispose();

    public static HostedNode Unreplicated(UnreplicatedServer s) => new(s.Run, s.QueryStatusAsync, s.Dispose);
    public static HostedNode ExecutionOnly(ExecutionOnlyReplica r) => new(r.Run, r.QueryStatusAsync, r.Dispose);

    /// <summary>An agreement replica; in an extended cell its ODRC stage talks to the E execution replicas through an <see cref="OdrcNetwork"/>.</summary>
    public static HostedNode Replica(CellConfig cell, uint id, ITransport transport, IReplicatedService service, ILogger log)
    {
        if (!ExtendedCell.IsExtended(cell))
        {
            var plain = new ReplicaHost(cell, id, transport, service, log);
            return new(plain.Run, plain.QueryStatusAsync, plain.Dispose);
        }
        var intercept = new InterceptingTransport(transport);
        var host = new ReplicaHost(cell, id, intercept, service, log);
        var stage = (host.Core as FastBft.Agreement.Pbft.PbftReplica)?.Execution as OdrcExecutionStage
                    ?? throw new ConfigException("execution.execution_only needs protocol pbft with execution mode odrc");
        var network = new OdrcNetwork(cell, id, transport);
        stage.UseNetwork(network, (uint)cell.N);
        intercept.Network = network;
        intercept.Stage = stage;
        return new(host.Run, host.QueryStatusAsync, host.Dispose);
    }
}
