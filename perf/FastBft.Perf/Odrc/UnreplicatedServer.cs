using System.Buffers;
using System.Collections.Concurrent;
using FastBft.Agreement;
using FastBft.Auth;
using FastBft.Config;
using FastBft.Execution;
using FastBft.Replica;
using FastBft.Service;
using FastBft.Transport;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Perf.Odrc;

/// <summary>
/// `fastbft run --protocol unreplicated` (docs/odrc.md §8): the thesis' baseline — ONE server process, no agreement,
/// the same service (with <c>service.exec_cost_us</c>), the same client library (<see cref="FastBft.Client.BftClient"/>),
/// the same transport and the same REQUEST/REPLY wire format. The clients see a "cell" of one replica with f = 0 (they
/// accept the first authenticated full reply); the server authenticates each REQUEST (the MAC vector of one entry),
/// answers a retransmission from its reply cache, executes a new request at once (no batching, no ordering messages)
/// and replies with the full result. Single-threaded event loop like <see cref="ReplicaHost"/>: poll, execute, flush.
/// </summary>
internal sealed class UnreplicatedServer : IMessageHandler, IReplicaOutput, IDisposable
{
    private readonly CellConfig _config;
    private readonly ITransport _transport;
    private readonly IReplicatedService _service;
    private readonly MessageVerifier _verifier;
    private readonly MessageBuilder _builder;
    private readonly ReplyCache _replies = new();
    private readonly ArrayBufferWriter<byte> _reply = new(4096);
    private readonly ConcurrentQueue<TaskCompletionSource<ReplicaStatus>> _statusRequests = new();
    private ulong _sequence;
    private long _executed, _resent, _stale;

    /// <summary>The view a client of the unreplicated server uses: <paramref name="cell"/> (a PBFT cell file) cut to its
    /// replica 0 with f = 0 (so n = 1 and one reply is accepted). Not validated (f = 0 is below a replicated cell's range).</summary>
    public static CellConfig ClientView(CellConfig cell)
    {
        var c = CellConfig.Parse(cell.ToJson());
        c.F = 0;
        c.Replicas.RemoveRange(1, c.Replicas.Count - 1);
        c.Execution.Mode = "sequential";
        return c;
    }

    /// <summary>Creates the server of <paramref name="cell"/> (a PBFT cell file; the server takes replica 0's address and keys).</summary>
    public UnreplicatedServer(CellConfig cell, ITransport transport, IReplicatedService service)
    {
        _config = ClientView(cell);
        _transport = transport;
        _service = service;
        var keys = _config.CreateKeyStore();
        _verifier = FastBft.Hosting.ProtocolRegistry.CreateVerifier(_config, new Authenticator(0, keys));
        _builder = new MessageBuilder(new Authenticator(0, keys), 1, 64 * 1024);
    }

    /// <summary>Runs the loop on the calling thread until cancelled.</summary>
    public void Run(CancellationToken cancellation)
    {
        int tickMs = _config.Timeouts.TickMs;
        while (!cancellation.IsCancellationRequested)
        {
            _transport.Poll(this, tickMs);
            _transport.Flush();
            AnswerStatusRequests();
        }
        AnswerStatusRequests();
    }

    /// <summary>Asks the loop for a status snapshot (answered within one tick).</summary>
    public Task<ReplicaStatus> QueryStatusAsync()
    {
        var tcs = new TaskCompletionSource<ReplicaStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        _statusRequests.Enqueue(tcs);
        return tcs.Task;
    }

    private void AnswerStatusRequests()
    {
        if (_statusRequests.IsEmpty) return;
        Span<byte> d = stackalloc byte[32];
        _service.GetStateDigest(d);
        var status = new ReplicaStatus(0, 0, _sequence, 0, Convert.ToHexString(d), _executed, 0, 0, _verifier.DroppedTotal + _stale,
            _transport.Stats.BytesSent, _transport.Stats.DatagramsSent, _transport.Stats.DatagramsReceived, _resent)
        { ExecutedBatches = (long)_sequence, Protocol = "unreplicated" };
        while (_statusRequests.TryDequeue(out var tcs)) tcs.TrySetResult(status);
    }

    /// <inheritdoc/>
    public void OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message)
    {
        if (destination != 0) return;
        if (_verifier.Verify(message, out var v) != ParseStatus.Ok || v.Header.Type != MessageType.Request) return;
        var h = v.Header;
        _transport.ConfirmRoute(h.Sender, h.Sequence);
        var entry = _replies.Get(h.Sender);
        if (h.Sequence < entry.LastExecutedRid) { _stale++; return; }
        if (h.Sequence == entry.LastExecutedRid && entry.LastExecutedSeq != 0)
        {
            _resent++;
            ReplyMessages.Send(_builder, this, 0, entry, full: true);
            return;
        }
        _reply.ResetWrittenCount();
        _sequence++;
        _service.Execute(new RequestInfo(h.Sender, h.Sequence, _sequence, 0), MessageHeader.Body(message, h), _reply, null);
        entry.StoreFull(h.Sequence, _sequence, _reply.WrittenSpan);
        _executed++;
        ReplyMessages.Send(_builder, this, 0, entry, full: true);
    }

    /// <inheritdoc/>
    public void SendToReplica(uint replica, ReadOnlySpan<byte> message) { }

    /// <inheritdoc/>
    public void SendToClient(uint client, ReadOnlySpan<byte> message) => _transport.Send(client, 0, message);

    /// <inheritdoc/>
    public void Dispose() => _transport.Dispose();
}
