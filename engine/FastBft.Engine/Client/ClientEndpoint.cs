using System.Collections.Concurrent;
using FastBft.Auth;
using FastBft.Config;
using FastBft.Transport;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Client;

/// <summary>
/// The client side of one process: one transport, one I/O thread, many client ids
/// (<see cref="BftClient"/>). The I/O thread polls for replies, retransmits timed-out requests and
/// flushes sends; requests issued on the I/O thread itself (e.g. from a continuation of a completed
/// request) are coalesced into the same flush.
/// </summary>
public sealed class ClientEndpoint : IMessageHandler, IDisposable
{
    private readonly ITransport _transport;
    private readonly KeyStore _keys;
    private readonly KeyStore? _executionKeys;
    private readonly Dictionary<uint, BftClient> _clients = new();
    private BftClient[] _clientList = Array.Empty<BftClient>();
    private readonly ConcurrentQueue<BftClient> _submitted = new();
    private readonly CancellationTokenSource _stop = new();
    private Thread? _thread;
    private int _ioThreadId = -1;
    private readonly long _timeoutTicks;

    /// <summary>Longest wait for the designated replier's full result once f+1 matching digests arrived, ms (client_retransmit_ms / 25, clamped to 2..50); the actual wait is twice the time the digests took, at least 2 ms, at most this.</summary>
    internal long FullReplyGraceMs { get; }
    private long _dropped;

    private readonly Func<CellConfig, Authenticator, MessageVerifier> _createVerifier;

    /// <summary>Creates an endpoint over <paramref name="transport"/> (which it owns and disposes).</summary>
    public ClientEndpoint(CellConfig config, ITransport transport)
        : this(config, transport, FastBft.Hosting.ProtocolRegistry.CreateVerifier) { }

    /// <summary>
    /// Test seam: an endpoint whose clients verify replies with <paramref name="createVerifier"/>'s verifier instead of the
    /// registry's (which needs the cell's protocol built). The production constructor uses <see cref="FastBft.Hosting.ProtocolRegistry.CreateVerifier"/>.
    /// </summary>
    internal ClientEndpoint(CellConfig config, ITransport transport, Func<CellConfig, Authenticator, MessageVerifier> createVerifier)
    {
        _createVerifier = createVerifier;
        Config = config;
        _transport = transport;
        _keys = config.CreateKeyStore();
        // Extended ODRC cell (docs/odrc.md §2): replies also come from the execution-only replicas n..E-1, whose MACs use the
        // keys of a cell of E replicas (derived from the same master secret, so the keys of replicas 0..n-1 are the same).
        if (config.ExecutionReplicaCount > config.N)
            _executionKeys = new KeyStore(config.Keys.MasterBytes(), config.ExecutionReplicaCount, config.FirstClientId, config.MaxClients);
        _timeoutTicks = config.Timeouts.ClientRetransmitMs;
        FullReplyGraceMs = Math.Clamp(_timeoutTicks / 25, 2, 50);
    }

    /// <summary>The cell configuration.</summary>
    public CellConfig Config { get; }
    /// <summary>Replies dropped by authentication or addressed to unknown client ids.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);
    /// <summary>The transport's counters.</summary>
    public TransportStats TransportStats => _transport.Stats;

    /// <summary>Creates a client with id <paramref name="clientId"/>; call before <see cref="Start"/>.</summary>
    /// <param name="clientId">client id, ≥ first_client_id and unique in the cell.</param>
    /// <param name="firstRequestId">request ids start after this value; must exceed any id this client id used before (the replicas' reply cache rejects older ids).</param>
    /// <exception cref="ArgumentException">id below first_client_id or already created.</exception>
    /// <exception cref="InvalidOperationException">the endpoint already started.</exception>
    public BftClient CreateClient(uint clientId, ulong firstRequestId = 0)
    {
        if (_thread is not null) throw new InvalidOperationException("create clients before Start()");
        if (!Config.IsClientId(clientId)) throw new ArgumentException($"client id {clientId} is outside first_client_id..first_client_id+max_clients-1 ({Config.FirstClientId}..{Config.FirstClientId + Config.MaxClients - 1})", nameof(clientId));
        if (_clients.ContainsKey(clientId)) throw new ArgumentException($"client id {clientId} already exists", nameof(clientId));
        var c = new BftClient(this, clientId, _keys, Config, firstRequestId, _createVerifier(Config, new Authenticator(clientId, _keys)));
        if (_executionKeys is not null)
            c.ExecutionVerifier = new MessageVerifier(FastBft.Hosting.ProtocolRegistry.Definition(Config).Schema, new Authenticator(clientId, _executionKeys),
                FastBft.Hosting.ProtocolRegistry.Limits(Config) with { ReplicaCount = Config.ExecutionReplicaCount });
        _clients.Add(clientId, c);
        _clientList = _clients.Values.ToArray();
        return c;
    }

    /// <summary>Starts the I/O thread.</summary>
    public void Start()
    {
        if (_thread is not null) return;
        _thread = new Thread(Loop) { IsBackground = true, Name = "fastbft-client-io" };
        _thread.Start();
    }

    internal void Submit(BftClient client)
    {
        if (Environment.CurrentManagedThreadId == _ioThreadId) SendRequest(client, toAll: client.Completed == 0);
        else
        {
            // Not sent yet: the I/O thread's timeout scan must not retransmit (and PANIC) a request whose first copy it has not
            // sent — with the previous request's deadline it did, under load (PanicTests saw a PANIC after one REQUEST).
            // SendRequest sets the real deadline.
            Volatile.Write(ref client.DeadlineTicks, long.MaxValue);
            _submitted.Enqueue(client);
        }
    }

    private void SendRequest(BftClient c, bool toAll)
    {
        c.SentTicks = Environment.TickCount64;
        c.DeadlineTicks = c.SentTicks + _timeoutTicks;
        if (toAll)
            for (uint r = 0; r < Config.N; r++) _transport.Send(r, c.Id, c.RequestMessage);
        else
            _transport.Send(c.Primary, c.Id, c.RequestMessage);
    }

    private void Loop()
    {
        _ioThreadId = Environment.CurrentManagedThreadId;
        long nextTimeoutScan = 0;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                _transport.Poll(this, 1);
                // A client's first request goes to every replica so that each learns the client's
                // address (replies come from all replicas); backups relay it to the primary.
                while (_submitted.TryDequeue(out var c)) SendRequest(c, toAll: c.Completed == 0);
                long now = Environment.TickCount64;
                if (now >= nextTimeoutScan)
                {
                    nextTimeoutScan = now + 1;
                    foreach (var c in _clientList)
                    {
                        if (c.Outstanding && now >= c.DeadlineTicks)
                        {
                            int mult = c.OnTimeout();
                            for (uint r = 0; r < Config.N; r++) _transport.Send(r, c.Id, c.RequestMessage);
                            // Switching protocols: a PANIC to every replica with the retransmission once the request stalled
                            // client_panic_retransmissions times (Thesis §5.3.2.1); replicas deduplicate by (client, rid).
                            var panic = c.PanicOnTimeout();
                            if (!panic.IsEmpty)
                                for (uint r = 0; r < Config.N; r++) _transport.Send(r, c.Id, panic);
                            c.DeadlineTicks = now + _timeoutTicks * mult;
                        }
                    }
                }
                _transport.Flush();
            }
        }
        finally
        {
            var e = new OperationCanceledException("client endpoint stopped");
            foreach (var c in _clientList) c.Fail(e);
        }
    }

    /// <inheritdoc/>
    public void OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message)
    {
        if (!_clients.TryGetValue(destination, out var c)) { _dropped++; return; }
        var verifier = sender >= (uint)Config.N && c.ExecutionVerifier is { } ev ? ev : c.Verifier;
        if (verifier.Verify(message, out var v) != ParseStatus.Ok || v.Header.Type != MessageType.Reply) { _dropped++; return; }
        c.OnReply(v.Header, message);
    }

    /// <summary>Stops the I/O thread (outstanding requests fail with <see cref="OperationCanceledException"/>) and disposes the transport.</summary>
    public void Dispose()
    {
        _stop.Cancel();
        _thread?.Join(TimeSpan.FromSeconds(5));
        _transport.Dispose();
    }
}
