using System.Buffers;
using System.Collections.Concurrent;

namespace FastBft.Transport;

/// <summary>How an <see cref="InMemoryNetwork"/> may be driven.</summary>
public enum InMemoryNetworkMode
{
    /// <summary>
    /// Single-threaded and deterministic: plain FIFO queues, no threads, no clocks; <see cref="InMemoryTransport.Poll"/>
    /// never waits (the timeout is ignored). Delays are in virtual ticks released by <see cref="InMemoryNetwork.Advance"/>.
    /// For the deterministic simulator.
    /// </summary>
    Deterministic = 0,
    /// <summary>
    /// Thread-safe: one <see cref="ConcurrentQueue{T}"/> and wait handle per transport; each transport is
    /// still driven by one thread, but different transports may run on different threads, and
    /// <see cref="InMemoryTransport.Poll"/> waits up to its timeout. For in-process multi-threaded tests.
    /// </summary>
    Concurrent = 1,
}

/// <summary>What the network does with one message.</summary>
public enum InMemoryFaultAction
{
    /// <summary>Deliver once, now.</summary>
    Deliver = 0,
    /// <summary>Lose it.</summary>
    Drop = 1,
    /// <summary>Deliver it twice, now.</summary>
    Duplicate = 2,
    /// <summary>Hold it for <see cref="InMemoryFaultDecision.DelayTicks"/> virtual ticks (released by <see cref="InMemoryNetwork.Advance"/>).
    /// Delaying some messages and not others reorders them.</summary>
    Delay = 3,
}

/// <summary>Decision of an <see cref="IInMemoryFaultPolicy"/> for one message.</summary>
public readonly struct InMemoryFaultDecision
{
    /// <summary>The action.</summary>
    public InMemoryFaultAction Action { get; }
    /// <summary>Virtual ticks to hold the message (≥ 0) when <see cref="Action"/> is <see cref="InMemoryFaultAction.Delay"/>.</summary>
    public long DelayTicks { get; }

    private InMemoryFaultDecision(InMemoryFaultAction action, long delayTicks)
    {
        Action = action;
        DelayTicks = delayTicks;
    }

    /// <summary>Deliver once.</summary>
    public static InMemoryFaultDecision Deliver => default;
    /// <summary>Lose the message.</summary>
    public static InMemoryFaultDecision Drop => new(InMemoryFaultAction.Drop, 0);
    /// <summary>Deliver twice.</summary>
    public static InMemoryFaultDecision Duplicate => new(InMemoryFaultAction.Duplicate, 0);
    /// <summary>Deliver after <paramref name="ticks"/> virtual ticks (negative is treated as 0).</summary>
    public static InMemoryFaultDecision Delay(long ticks) => new(InMemoryFaultAction.Delay, Math.Max(0, ticks));
}

/// <summary>
/// Decides per message whether the in-memory network delivers, drops, duplicates or delays it.
/// Called once per message on <see cref="InMemoryTransport.Flush"/>, on the flushing thread (in
/// <see cref="InMemoryNetworkMode.Concurrent"/> mode concurrently from several threads: be thread-safe).
/// A seeded policy makes simulations reproducible.
/// </summary>
public interface IInMemoryFaultPolicy
{
    /// <summary>
    /// Decides the fate of one message. <paramref name="message"/> is the network's own copy and may be
    /// modified (in-flight corruption); it is valid only during the call.
    /// </summary>
    InMemoryFaultDecision Decide(uint sender, uint destination, Span<byte> message);
}

/// <summary>
/// An in-process network of <see cref="InMemoryTransport"/>s addressed by node id, with a fault-injection
/// hook (<see cref="FaultPolicy"/>) and virtual time for delays. See <see cref="InMemoryNetworkMode"/> for
/// the threading modes.
/// </summary>
/// <remarks>Create every transport before messages flow; registration is not synchronized with sending.</remarks>
public sealed class InMemoryNetwork
{
    internal struct Packet
    {
        public uint Sender;
        public uint Destination;
        public byte[] Buffer;
        public int Length;
    }

    private readonly Dictionary<uint, InMemoryTransport> _nodes = new();
    private readonly PriorityQueue<Packet, (long Due, long Seq)> _delayed = new();
    private readonly object _delayedLock = new();
    private long _sequence;
    private long _now;
    private long _dropped, _duplicated, _delayedTotal;

    /// <summary>Creates an empty network.</summary>
    /// <param name="mode">Deterministic (single thread) or concurrent.</param>
    /// <param name="maxMessageSize">Largest message (bytes) a transport accepts; default 4 MiB.</param>
    /// <exception cref="ArgumentException"><paramref name="maxMessageSize"/> &lt; 1.</exception>
    public InMemoryNetwork(InMemoryNetworkMode mode = InMemoryNetworkMode.Deterministic, int maxMessageSize = DatagramTransportOptions.DefaultMaxMessageSize)
    {
        if (maxMessageSize < 1) throw new ArgumentException($"maxMessageSize must be ≥ 1 byte (was {maxMessageSize})", nameof(maxMessageSize));
        Mode = mode;
        MaxMessageSize = maxMessageSize;
    }

    /// <summary>The threading mode.</summary>
    public InMemoryNetworkMode Mode { get; }

    /// <summary>Largest message (bytes).</summary>
    public int MaxMessageSize { get; }

    /// <summary>Fault-injection hook; null = deliver everything once, in order. May be replaced between steps.</summary>
    public IInMemoryFaultPolicy? FaultPolicy { get; set; }

    /// <summary>Virtual time (ticks), advanced only by <see cref="Advance"/>.</summary>
    public long Now => Interlocked.Read(ref _now);

    /// <summary>Messages dropped by the policy.</summary>
    public long DroppedCount => Interlocked.Read(ref _dropped);
    /// <summary>Extra copies made by the policy.</summary>
    public long DuplicatedCount => Interlocked.Read(ref _duplicated);
    /// <summary>Messages delayed by the policy (cumulative).</summary>
    public long DelayedTotal => Interlocked.Read(ref _delayedTotal);

    /// <summary>Messages currently held by delays.</summary>
    public int DelayedCount
    {
        get { lock (_delayedLock) return _delayed.Count; }
    }

    /// <summary>Creates a transport that receives for <paramref name="nodeIds"/> (e.g. one replica, or every client id of one client process).</summary>
    /// <exception cref="ArgumentException">no id, or an id already belongs to a transport.</exception>
    public InMemoryTransport CreateTransport(params uint[] nodeIds)
    {
        ArgumentNullException.ThrowIfNull(nodeIds);
        if (nodeIds.Length == 0) throw new ArgumentException("at least one node id is required", nameof(nodeIds));
        var t = new InMemoryTransport(this);
        lock (_nodes)
        {
            foreach (uint id in nodeIds)
                if (_nodes.ContainsKey(id)) throw new ArgumentException($"node id {id} already has a transport", nameof(nodeIds));
            foreach (uint id in nodeIds) _nodes.Add(id, t);
        }
        return t;
    }

    /// <summary>
    /// Advances virtual time by <paramref name="ticks"/> and moves every delayed message now due to its
    /// destination's queue, in (due time, send order) order. Returns the number released.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="ticks"/> is negative.</exception>
    public int Advance(long ticks)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ticks);
        int released = 0;
        lock (_delayedLock)
        {
            long now = _now + ticks;
            Interlocked.Exchange(ref _now, now);
            while (_delayed.TryPeek(out Packet p, out (long Due, long Seq) pr) && pr.Due <= now)
            {
                _delayed.Dequeue();
                Enqueue(p);
                released++;
            }
        }
        return released;
    }

    internal bool IsKnown(uint nodeId) => _nodes.ContainsKey(nodeId);

    internal void Route(Packet p)
    {
        IInMemoryFaultPolicy? policy = FaultPolicy;
        InMemoryFaultDecision d = policy is null ? default : policy.Decide(p.Sender, p.Destination, p.Buffer.AsSpan(0, p.Length));
        switch (d.Action)
        {
            case InMemoryFaultAction.Drop:
                Interlocked.Increment(ref _dropped);
                ArrayPool<byte>.Shared.Return(p.Buffer);
                break;
            case InMemoryFaultAction.Duplicate:
                Interlocked.Increment(ref _duplicated);
                Packet copy = p;
                copy.Buffer = ArrayPool<byte>.Shared.Rent(p.Length);
                p.Buffer.AsSpan(0, p.Length).CopyTo(copy.Buffer);
                Enqueue(p);
                Enqueue(copy);
                break;
            case InMemoryFaultAction.Delay:
                Interlocked.Increment(ref _delayedTotal);
                lock (_delayedLock) _delayed.Enqueue(p, (_now + d.DelayTicks, _sequence++));
                break;
            default:
                Enqueue(p);
                break;
        }
    }

    private void Enqueue(Packet p)
    {
        if (_nodes.TryGetValue(p.Destination, out InMemoryTransport? t)) t.Enqueue(p);
        else ArrayPool<byte>.Shared.Return(p.Buffer);
    }
}

/// <summary>
/// An <see cref="ITransport"/> on an <see cref="InMemoryNetwork"/>. Messages are copied into pooled buffers on
/// <see cref="Send"/>, handed to the network (and its fault policy) on <see cref="Flush"/>, and lent to the
/// handler on <see cref="Poll"/>. Whole messages: no bundling or fragmentation.
/// </summary>
public sealed class InMemoryTransport : ITransport
{
    private readonly InMemoryNetwork _network;
    private readonly List<InMemoryNetwork.Packet> _outbox = new();
    private readonly Queue<InMemoryNetwork.Packet>? _inbox;
    private readonly ConcurrentQueue<InMemoryNetwork.Packet>? _concurrentInbox;
    private readonly AutoResetEvent? _signal;
    private readonly TransportStats _stats = new();
    private bool _disposed;
    private bool _delivering;
    private uint _currentSender;

    internal InMemoryTransport(InMemoryNetwork network)
    {
        _network = network;
        if (network.Mode == InMemoryNetworkMode.Concurrent)
        {
            _concurrentInbox = new ConcurrentQueue<InMemoryNetwork.Packet>();
            _signal = new AutoResetEvent(false);
        }
        else
        {
            _inbox = new Queue<InMemoryNetwork.Packet>();
        }
    }

    /// <summary>The network.</summary>
    public InMemoryNetwork Network => _network;

    /// <inheritdoc />
    public int MaxMessageSize => _network.MaxMessageSize;

    /// <inheritdoc />
    public TransportStats Stats => _stats;

    /// <summary>Messages waiting in this transport's receive queue.</summary>
    public int PendingCount => _inbox?.Count ?? _concurrentInbox!.Count;

    /// <inheritdoc />
    /// <exception cref="ArgumentException">message empty or longer than <see cref="MaxMessageSize"/>.</exception>
    /// <exception cref="ObjectDisposedException">disposed.</exception>
    public void Send(uint destination, uint sender, ReadOnlySpan<byte> message)
    {
        if (message.Length < 1 || message.Length > _network.MaxMessageSize)
            throw new ArgumentException($"message length {message.Length} bytes is outside 1..MaxMessageSize ({_network.MaxMessageSize})", nameof(message));
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_network.IsKnown(destination))
        {
            _stats.AddUnknownDestinationDropped();
            return;
        }
        byte[] buf = ArrayPool<byte>.Shared.Rent(message.Length);
        message.CopyTo(buf);
        _outbox.Add(new InMemoryNetwork.Packet { Sender = sender, Destination = destination, Buffer = buf, Length = message.Length });
        _stats.AddMessagesSent();
        _stats.AddBytesSent(message.Length);
    }

    /// <inheritdoc />
    /// <remarks>Hands queued messages, in send order, to the network and its fault policy.</remarks>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        for (int i = 0; i < _outbox.Count; i++)
        {
            _stats.AddDatagramsSent();
            _network.Route(_outbox[i]);
        }
        _outbox.Clear();
    }

    internal void Enqueue(InMemoryNetwork.Packet p)
    {
        if (_disposed)
        {
            ArrayPool<byte>.Shared.Return(p.Buffer);
            return;
        }
        if (_inbox is not null)
        {
            _inbox.Enqueue(p);
        }
        else
        {
            _concurrentInbox!.Enqueue(p);
            try { _signal!.Set(); } catch (ObjectDisposedException) { }
        }
    }

    /// <inheritdoc />
    /// <remarks>Deterministic mode: never waits; delivers the messages queued when the call starts (messages a
    /// handler sends to this node itself wait for the next call). Concurrent mode: waits up to
    /// <paramref name="timeoutMs"/> (negative = indefinitely) when the queue is empty, then delivers up to
    /// 1,024 messages.</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="handler"/> is null.</exception>
    /// <exception cref="ObjectDisposedException">disposed.</exception>
    public int Poll(IMessageHandler handler, int timeoutMs)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ObjectDisposedException.ThrowIf(_disposed, this);
        int delivered = 0;
        InMemoryNetwork.Packet p;
        if (_inbox is not null)
        {
            int n = _inbox.Count;
            while (delivered < n && _inbox.TryDequeue(out p)) Deliver(handler, p, ref delivered);
            return delivered;
        }
        ConcurrentQueue<InMemoryNetwork.Packet> q = _concurrentInbox!;
        if (q.IsEmpty && timeoutMs != 0) _signal!.WaitOne(timeoutMs);
        while (delivered < 1024 && q.TryDequeue(out p)) Deliver(handler, p, ref delivered);
        return delivered;
    }

    private void Deliver(IMessageHandler handler, InMemoryNetwork.Packet p, ref int delivered)
    {
        delivered++;
        _stats.AddMessagesReceived();
        _stats.AddDatagramsReceived();
        _stats.AddBytesReceived(p.Length);
        try
        {
            _delivering = true;
            _currentSender = p.Sender;
            handler.OnMessage(p.Sender, p.Destination, new ReadOnlySpan<byte>(p.Buffer, 0, p.Length));
        }
        finally
        {
            _delivering = false;
            ArrayPool<byte>.Shared.Return(p.Buffer);
        }
    }

    /// <inheritdoc />
    /// <remarks>The network routes by node id (there are no endpoints to learn): returns whether the call is
    /// made during a delivery for that message's sender, and changes nothing.</remarks>
    public bool ConfirmRoute(uint node, ulong freshness) => _delivering && node == _currentSender;

    /// <summary>Stops this transport (messages to its ids are then discarded on delivery). Idempotent.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (InMemoryNetwork.Packet p in _outbox) ArrayPool<byte>.Shared.Return(p.Buffer);
        _outbox.Clear();
        _signal?.Dispose();
    }
}
