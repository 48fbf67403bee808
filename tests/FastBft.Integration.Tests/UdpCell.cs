using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using FastBft.Client;
using FastBft.Config;
using FastBft.Replica;
using FastBft.Service;
using FastBft.Transport;
using FastBft.Workloads;

namespace FastBft.Integration.Tests;

/// <summary>A counter service that also records its execution history (for validity checks).</summary>
internal sealed class RecordingCounterService : IReplicatedService
{
    private readonly CounterService _inner = new();
    public readonly List<(uint Client, ulong Rid, long Op, long Result)> History = new();
    public long Accumulator => _inner.Accumulator;

    public void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update)
    {
        _inner.Execute(request, operation, reply, update);
        History.Add((request.ClientId, request.RequestId, BitConverter.ToInt64(operation), _inner.Accumulator));
    }
    public void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update) => _inner.ApplyUpdate(request, update);
    public void GetStateDigest(Span<byte> digest32) => _inner.GetStateDigest(digest32);
    public void WriteSnapshot(Stream destination) => _inner.WriteSnapshot(destination);
    public void RestoreSnapshot(Stream source) => _inner.RestoreSnapshot(source);
}

/// <summary>A 3f+1 cell of ReplicaHosts on real loopback UDP sockets, each on its own thread.</summary>
internal sealed class UdpCell : IDisposable
{
    public readonly CellConfig Config;
    public readonly ReplicaHost[] Hosts;
    /// <summary>Each replica's transport; <see cref="CuttableTransport.Cut"/> partitions it off (it keeps running).</summary>
    public readonly CuttableTransport[] Links;
    public readonly RecordingCounterService[] Services;
    private readonly CancellationTokenSource[] _stops;
    private readonly Thread[] _threads;
    public readonly ConcurrentQueue<Exception> Failures = new();

    public UdpCell(int f = 1, int checkpointInterval = 16, int window = 64)
    {
        int n = Protocols.Get(ProtocolKind.Pbft).Shape(f).N;
        var sockets = Enumerable.Range(0, n).Select(_ => new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp)).ToArray();
        foreach (var s in sockets) s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var ports = sockets.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).ToArray();
        foreach (var s in sockets) s.Dispose();
        Config = new CellConfig
        {
            F = f, CheckpointInterval = checkpointInterval, Window = window, BatchSize = 16,
            Keys = new KeysConfig { Master = Convert.ToHexString(RandomNumberGenerator.GetBytes(32)) },
            Service = new ServiceConfig { Kind = "counter" },
            Timeouts = new TimeoutsConfig { TickMs = 5, RetransmitMs = 50, ClientRetransmitMs = 300 },
        };
        for (int i = 0; i < n; i++) Config.Replicas.Add(new ReplicaConfig { Id = i, Address = $"127.0.0.1:{ports[i]}" });
        Config.Validate();
        Links = new CuttableTransport[n];
        Hosts = new ReplicaHost[n]; Services = new RecordingCounterService[n];
        _stops = new CancellationTokenSource[n]; _threads = new Thread[n];
        for (uint i = 0; i < n; i++)
        {
            Services[i] = new RecordingCounterService();
            Links[i] = new CuttableTransport(UdpTransport.Create(new UdpTransportOptions { LocalEndPoint = IPEndPoint.Parse(Config.Replicas[(int)i].Address), Peers = Peers() }));
            Hosts[i] = new ReplicaHost(Config, i, Links[i], Services[i]);
            _stops[i] = new CancellationTokenSource();
            var host = Hosts[i]; var token = _stops[i].Token;
            _threads[i] = new Thread(() => { try { host.Run(token); } catch (Exception e) { Failures.Enqueue(e); } }) { IsBackground = true, Name = $"replica-{i}" };
            _threads[i].Start();
        }
    }

    public Dictionary<uint, IPEndPoint> Peers() => Config.Replicas.ToDictionary(r => (uint)r.Id, r => IPEndPoint.Parse(r.Address));

    public ClientEndpoint NewClientEndpoint() =>
        new(Config, UdpTransport.Create(new UdpTransportOptions { LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0), Peers = Peers() }));

    /// <summary>Stops replica i's event loop (a crash: it sends nothing more).</summary>
    public void Crash(int i) { _stops[i].Cancel(); _threads[i].Join(TimeSpan.FromSeconds(10)); }

    public bool IsRunning(int i) => _threads[i].IsAlive;

    /// <summary>Waits until the running replicas report the same last executed sequence number twice in a row.</summary>
    public async Task<ReplicaStatus[]> ConvergeAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        ulong previous = ulong.MaxValue;
        while (true)
        {
            var live = Enumerable.Range(0, Hosts.Length).Where(IsRunning).ToArray();
            var statuses = await Task.WhenAll(live.Select(i => Hosts[i].QueryStatusAsync().WaitAsync(TimeSpan.FromSeconds(10))));
            bool same = statuses.All(s => s.LastExecuted == statuses[0].LastExecuted);
            if (same && statuses[0].LastExecuted == previous) return statuses;
            previous = same ? statuses[0].LastExecuted : ulong.MaxValue;
            if (DateTime.UtcNow > deadline) return statuses;
            await Task.Delay(100);
        }
    }

    public void Dispose()
    {
        for (int i = 0; i < Hosts.Length; i++) { _stops[i].Cancel(); }
        for (int i = 0; i < Hosts.Length; i++) { _threads[i].Join(TimeSpan.FromSeconds(10)); Hosts[i].Dispose(); }
    }
}

/// <summary>A transport decorator that drops everything sent and received while <see cref="Cut"/> is set (a network partition of one node).</summary>
internal sealed class CuttableTransport(ITransport inner) : ITransport, IMessageHandler
{
    private IMessageHandler? _handler;
    public volatile bool Cut;
    public int MaxMessageSize => inner.MaxMessageSize;
    public TransportStats Stats => inner.Stats;
    public void Send(uint destination, uint sender, ReadOnlySpan<byte> message) { if (!Cut) inner.Send(destination, sender, message); }
    public void Flush() => inner.Flush();
    public bool ConfirmRoute(uint node, ulong freshness) => inner.ConfirmRoute(node, freshness);
    public int Poll(IMessageHandler handler, int timeoutMs) { _handler = handler; return inner.Poll(this, timeoutMs); }
    public void OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message) { if (!Cut) _handler!.OnMessage(sender, destination, message); }
    public void Dispose() => inner.Dispose();
}
