using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastBft.Transport;

/// <summary>
/// An <see cref="ITransport"/> over any <see cref="IDatagramLink"/> (kernel UDP, DPDK): node-id routing
/// (configured peers plus return routes confirmed by the handler, <see cref="ConfirmRoute"/>), bundling of small messages per
/// destination endpoint, fragmentation of large ones, and reassembly with bounded memory and strict
/// validation (docs/wire-format.md §1, docs/transport.md).
/// </summary>
/// <remarks>
/// Threading: one thread drives <see cref="Send"/>, <see cref="Flush"/>, <see cref="Poll"/> and
/// <see cref="SetStaticPeer"/> (see <see cref="ITransport"/>); the handler may call <see cref="Send"/>
/// and <see cref="Flush"/> from inside <see cref="IMessageHandler.OnMessage"/>, but not <see cref="Poll"/>.
/// Steady state (known routes, warm pools) allocates nothing.
/// </remarks>
public sealed class DatagramTransport : ITransport
{
    private struct Route
    {
        public int Peer;
        public bool Static;
        public ulong Freshness;
    }

    private readonly record struct PartialKey(int Peer, uint Sender, uint MessageId);

    private struct Partial
    {
        public bool Active;
        public int Peer;
        public uint Sender;
        public uint Destination;
        public uint MessageId;
        public int Total;
        public int Count;
        public int FragmentSize;
        public int Received;
        public long LastMs;
        public long Sequence;
        public byte[]? Buffer;
        public ulong[]? Bits;
    }

    private sealed class Sink(DatagramTransport owner) : IDatagramSink
    {
        public void OnDatagram(int peer, ReadOnlySpan<byte> datagram) => owner.ProcessDatagramCore(peer, datagram);
    }

    private const int CompletedRingSize = 256;

    private readonly IDatagramLink _link;
    private readonly bool _ownsLink;
    private readonly TransportStats _stats;
    private readonly int _maxDatagram;
    private readonly int _maxMessage;
    private readonly int _maxBundled;
    private readonly int _fragmentPayload;
    private readonly Func<long>? _clock;
    private readonly Sink _sink;

    // Routing.
    private readonly Dictionary<uint, Route> _routes;
    private readonly uint[] _learnedRing;
    private int _learnedHead;
    private int _learnedCount;

    // The message being delivered to the handler (for ConfirmRoute): its source peer handle (-1: none) and frame sender id.
    private int _currentPeer = -1;
    private uint _currentSender;

    // Transmit.
    private readonly byte[]?[] _txBuffers;
    private readonly int[] _txPeer;
    private readonly int[] _txLength;
    private readonly Dictionary<int, int> _openByPeer;
    private int _openCount;
    private readonly byte[] _fragmentScratch;
    private uint _nextMessageId;

    // Receive and reassembly.
    private readonly Partial[] _partials;
    private readonly Dictionary<PartialKey, int> _partialIndex;
    private readonly int[] _freePartials;
    private int _freeCount;
    private long _partialBytes;
    private long _partialSequence;
    private readonly PartialKey[] _completed = new PartialKey[CompletedRingSize];
    private int _completedNext;
    private int _completedCount;
    private readonly long _maxReassemblyBytes;
    private readonly int _maxPerSource;
    private readonly int _timeoutMs;
    private long _nowMs;
    private long _nextSweepMs = long.MaxValue;
    private IMessageHandler? _handler;
    private int _delivered;
    private bool _disposed;

    /// <summary>Creates a transport over <paramref name="link"/>.</summary>
    /// <param name="link">The datagram link; its <see cref="IDatagramLink.Stats"/> become this transport's counters.</param>
    /// <param name="options">Limits and configured peers; null = defaults.</param>
    /// <param name="ownsLink">Whether <see cref="Dispose"/> disposes <paramref name="link"/>.</param>
    /// <exception cref="ArgumentNullException"><paramref name="link"/> is null.</exception>
    /// <exception cref="ArgumentException">an option is out of range (the message names it).</exception>
    public DatagramTransport(IDatagramLink link, DatagramTransportOptions? options = null, bool ownsLink = true)
    {
        ArgumentNullException.ThrowIfNull(link);
        options ??= new DatagramTransportOptions();
        _link = link;
        _ownsLink = ownsLink;
        _stats = link.Stats ?? throw new ArgumentException("link.Stats must not be null", nameof(link));
        _maxDatagram = link.MaxDatagramSize;
        if (_maxDatagram < FrameCodec.FragmentOverhead + 1 + 32)
            throw new ArgumentException($"link.MaxDatagramSize ({_maxDatagram}) must be at least {FrameCodec.FragmentOverhead + 33} bytes", nameof(link));
        _maxBundled = FrameCodec.MaxBundledMessage(_maxDatagram);
        _fragmentPayload = FrameCodec.FragmentPayloadSize(_maxDatagram);

        if (options.MaxMessageSize < 1)
            throw new ArgumentException($"MaxMessageSize must be ≥ 1 byte (was {options.MaxMessageSize})", nameof(options));
        if ((long)options.MaxMessageSize > (long)_fragmentPayload * FrameCodec.MaxFragmentCount)
            throw new ArgumentException($"MaxMessageSize ({options.MaxMessageSize}) needs more than {FrameCodec.MaxFragmentCount} fragments of {_fragmentPayload} bytes", nameof(options));
        if (options.MaxReassemblyBytes < options.MaxMessageSize)
            throw new ArgumentException($"MaxReassemblyBytes ({options.MaxReassemblyBytes}) must be ≥ MaxMessageSize ({options.MaxMessageSize})", nameof(options));
        if (options.MaxReassemblies < 1 || options.MaxReassemblies > 1_000_000)
            throw new ArgumentException($"MaxReassemblies must be in 1..1000000 (was {options.MaxReassemblies})", nameof(options));
        if (options.MaxReassembliesPerSource < 1 || options.MaxReassembliesPerSource > options.MaxReassemblies)
            throw new ArgumentException($"MaxReassembliesPerSource must be in 1..MaxReassemblies (was {options.MaxReassembliesPerSource})", nameof(options));
        if (options.ReassemblyTimeoutMs < 1)
            throw new ArgumentException($"ReassemblyTimeoutMs must be ≥ 1 ms (was {options.ReassemblyTimeoutMs})", nameof(options));
        if (options.MaxLearnedNodes < 1 || options.MaxLearnedNodes > 10_000_000)
            throw new ArgumentException($"MaxLearnedNodes must be in 1..10000000 (was {options.MaxLearnedNodes})", nameof(options));
        if (options.MaxOpenBundles < 1 || options.MaxOpenBundles > 65536)
            throw new ArgumentException($"MaxOpenBundles must be in 1..65536 (was {options.MaxOpenBundles})", nameof(options));

        _maxMessage = options.MaxMessageSize;
        _maxReassemblyBytes = options.MaxReassemblyBytes;
        _maxPerSource = options.MaxReassembliesPerSource;
        _timeoutMs = options.ReassemblyTimeoutMs;
        _clock = options.ClockMs;
        _sink = new Sink(this);

        int staticCount = options.StaticPeers?.Count ?? 0;
        _routes = new Dictionary<uint, Route>(staticCount + options.MaxLearnedNodes + 1);
        _learnedRing = new uint[options.MaxLearnedNodes];
        if (options.StaticPeers is not null)
        {
            foreach (KeyValuePair<uint, int> kv in options.StaticPeers)
            {
                if (kv.Value < 0) throw new ArgumentException($"StaticPeers[{kv.Key}] has a negative peer handle ({kv.Value})", nameof(options));
                _routes[kv.Key] = new Route { Peer = kv.Value, Static = true };
            }
        }

        _txBuffers = new byte[options.MaxOpenBundles][];
        _txPeer = new int[options.MaxOpenBundles];
        _txLength = new int[options.MaxOpenBundles];
        _openByPeer = new Dictionary<int, int>(options.MaxOpenBundles);
        _fragmentScratch = new byte[_maxDatagram];

        _partials = new Partial[options.MaxReassemblies];
        _partialIndex = new Dictionary<PartialKey, int>(options.MaxReassemblies);
        _freePartials = new int[options.MaxReassemblies];
        for (int i = 0; i < _freePartials.Length; i++) _freePartials[i] = _freePartials.Length - 1 - i;
        _freeCount = _freePartials.Length;
        _nowMs = Now();
    }

    /// <inheritdoc />
    public int MaxMessageSize => _maxMessage;

    /// <summary>Largest datagram (bytes) of the underlying link.</summary>
    public int MaxDatagramSize => _maxDatagram;

    /// <summary>Largest message (bytes) that travels in a bundle; longer ones are fragmented.</summary>
    public int MaxBundledMessageSize => _maxBundled;

    /// <inheritdoc />
    public TransportStats Stats => _stats;

    /// <summary>The underlying link.</summary>
    public IDatagramLink Link => _link;

    /// <summary>Number of node ids with a learned route (confirmed through <see cref="ConfirmRoute"/>).</summary>
    public int LearnedNodeCount => _learnedCount;

    /// <summary>Number of partially reassembled messages held.</summary>
    public int PartialMessageCount => _partials.Length - _freeCount;

    /// <summary>Bytes held by partially reassembled messages (their full lengths).</summary>
    public long PartialMessageBytes => _partialBytes;

    /// <summary>Adds or replaces a configured route (never overridden by learning). Owner thread only.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="peer"/> is negative.</exception>
    public void SetStaticPeer(uint nodeId, int peer)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(peer);
        _routes[nodeId] = new Route { Peer = peer, Static = true };
    }

    /// <summary>Looks up the peer handle of <paramref name="nodeId"/> (configured or learned).</summary>
    public bool TryGetRoute(uint nodeId, out int peer)
    {
        if (_routes.TryGetValue(nodeId, out Route r))
        {
            peer = r.Peer;
            return true;
        }
        peer = -1;
        return false;
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">message empty or longer than <see cref="MaxMessageSize"/>.</exception>
    /// <exception cref="ObjectDisposedException">the transport is disposed.</exception>
    public void Send(uint destination, uint sender, ReadOnlySpan<byte> message)
    {
        if ((uint)(message.Length - 1) >= (uint)_maxMessage) ThrowBadLength(message.Length);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_routes.TryGetValue(destination, out Route route))
        {
            _stats.AddUnknownDestinationDropped();
            return;
        }
        _stats.AddMessagesSent();
        int peer = route.Peer;
        if (message.Length <= _maxBundled) AppendToBundle(peer, destination, sender, message);
        else SendFragments(peer, destination, sender, message);
    }

    private void ThrowBadLength(int length) =>
        throw new ArgumentException($"message length {length} bytes is outside 1..MaxMessageSize ({_maxMessage})", "message");

    private void AppendToBundle(int peer, uint destination, uint sender, ReadOnlySpan<byte> message)
    {
        int entry = FrameCodec.BundleEntryHeaderSize + message.Length;
        if (!_openByPeer.TryGetValue(peer, out int slot))
        {
            if (_openCount == _txBuffers.Length) FlushBundles();
            slot = _openCount++;
            byte[] buf = _txBuffers[slot] ??= new byte[_maxDatagram];
            FrameCodec.WriteFrameHeader(buf, FrameKind.Bundle);
            _txPeer[slot] = peer;
            _txLength[slot] = FrameCodec.FrameHeaderSize;
            _openByPeer.Add(peer, slot);
        }
        else if (_txLength[slot] + entry > _maxDatagram)
        {
            _link.SendDatagram(peer, _txBuffers[slot].AsSpan(0, _txLength[slot]));
            _txLength[slot] = FrameCodec.FrameHeaderSize;
        }
        byte[] b = _txBuffers[slot]!;
        _txLength[slot] += FrameCodec.WriteBundleEntry(b.AsSpan(_txLength[slot]), sender, destination, message);
    }

    private void SendFragments(int peer, uint destination, uint sender, ReadOnlySpan<byte> message)
    {
        // Keep order with the small messages already queued to this endpoint.
        if (_openByPeer.TryGetValue(peer, out int slot) && _txLength[slot] > FrameCodec.FrameHeaderSize)
        {
            _link.SendDatagram(peer, _txBuffers[slot].AsSpan(0, _txLength[slot]));
            _txLength[slot] = FrameCodec.FrameHeaderSize;
        }
        int total = message.Length;
        int s = _fragmentPayload;
        int count = (total + s - 1) / s;
        uint id = _nextMessageId++;
        byte[] scratch = _fragmentScratch;
        for (int i = 0; i < count; i++)
        {
            int off = i * s;
            int len = Math.Min(s, total - off);
            int n = FrameCodec.WriteFragment(scratch, sender, destination, id, total, i, count, off, message.Slice(off, len));
            _link.SendDatagram(peer, scratch.AsSpan(0, n));
        }
    }

    private void FlushBundles()
    {
        for (int i = 0; i < _openCount; i++)
        {
            if (_txLength[i] > FrameCodec.FrameHeaderSize)
                _link.SendDatagram(_txPeer[i], _txBuffers[i].AsSpan(0, _txLength[i]));
        }
        _openCount = 0;
        _openByPeer.Clear();
    }

    /// <inheritdoc />
    /// <exception cref="ObjectDisposedException">the transport is disposed.</exception>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        FlushBundles();
        _link.FlushDatagrams();
    }

    /// <inheritdoc />
    /// <remarks>Exceptions thrown by <paramref name="handler"/> propagate; the transport stays consistent.
    /// A negative <paramref name="timeoutMs"/> is passed to the link (UdpLink: wait indefinitely).</remarks>
    /// <exception cref="ArgumentNullException"><paramref name="handler"/> is null.</exception>
    /// <exception cref="InvalidOperationException">called re-entrantly from a handler.</exception>
    /// <exception cref="ObjectDisposedException">the transport is disposed.</exception>
    public int Poll(IMessageHandler handler, int timeoutMs)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_handler is not null) throw new InvalidOperationException("Poll must not be called from a message handler");
        _nowMs = Now();
        if (_freeCount != _partials.Length && _nowMs >= _nextSweepMs) SweepExpired();
        _handler = handler;
        _delivered = 0;
        try
        {
            _link.ReceiveDatagrams(_sink, timeoutMs);
        }
        finally
        {
            _handler = null;
            _currentPeer = -1;
        }
        return _delivered;
    }

    /// <summary>Feeds one datagram to the receive path as if the link had delivered it (tests, fuzzing).</summary>
    internal int ProcessDatagram(int peer, ReadOnlySpan<byte> datagram, IMessageHandler handler)
    {
        _nowMs = Now();
        if (_freeCount != _partials.Length && _nowMs >= _nextSweepMs) SweepExpired();
        _handler = handler;
        _delivered = 0;
        try
        {
            ProcessDatagramCore(peer, datagram);
        }
        finally
        {
            _handler = null;
            _currentPeer = -1;
        }
        return _delivered;
    }

    /// <summary>Evicts partial messages idle for longer than the timeout; for tests with a fake clock.</summary>
    internal void SweepNow()
    {
        _nowMs = Now();
        SweepExpired();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long Now() => _clock is null ? Environment.TickCount64 : _clock();

    private void ProcessDatagramCore(int peer, ReadOnlySpan<byte> datagram)
    {
        switch (FrameCodec.ReadFrameHeader(datagram))
        {
            case FrameKind.Bundle:
                ProcessBundle(peer, datagram);
                break;
            case FrameKind.Fragment:
                ProcessFragment(peer, datagram);
                break;
            default:
                _stats.AddMalformedDropped();
                break;
        }
    }

    private void ProcessBundle(int peer, ReadOnlySpan<byte> datagram)
    {
        if (FrameCodec.ValidateBundle(datagram, _maxMessage) == 0)
        {
            _stats.AddMalformedDropped();
            return;
        }
        IMessageHandler handler = _handler!;
        int pos = FrameCodec.FrameHeaderSize;
        while (FrameCodec.NextValidatedEntry(datagram, ref pos, out uint sender, out uint destination, out ReadOnlySpan<byte> message))
        {
            _stats.AddMessagesReceived();
            _delivered++;
            _currentPeer = peer;
            _currentSender = sender;
            handler.OnMessage(sender, destination, message);
            _currentPeer = -1;
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// <para>Rule (docs/transport.md, "Return routes"): the routing table is never changed by frame contents
    /// alone — the frame's sender id is not authenticated, so learning from it would let anyone who can send a
    /// datagram redirect a client's replies. A route is created or moved only here, by the handler, after the
    /// message's own authenticator was verified.</para>
    /// <para>Accepted only while a message is being delivered and only for its frame sender id
    /// (<paramref name="node"/> must equal the <c>sender</c> passed to <see cref="IMessageHandler.OnMessage"/>);
    /// configured routes are never changed. A learned route is moved to the current source endpoint only when
    /// <paramref name="freshness"/> is greater than the freshness that last confirmed it, so a replay of an old
    /// authenticated message from another endpoint cannot move it back. A new node id takes a learned slot
    /// (FIFO eviction when <see cref="DatagramTransportOptions.MaxLearnedNodes"/> are held). Allocation-free.</para>
    /// </remarks>
    public bool ConfirmRoute(uint node, ulong freshness)
    {
        int peer = _currentPeer;
        if (peer < 0 || node != _currentSender) return false;
        ref Route r = ref CollectionsMarshal.GetValueRefOrNullRef(_routes, node);
        if (!Unsafe.IsNullRef(ref r))
        {
            if (r.Static) return r.Peer == peer;
            if (r.Peer == peer)
            {
                if (freshness > r.Freshness) r.Freshness = freshness;
                return true;
            }
            if (freshness <= r.Freshness) return false;
            r.Peer = peer;
            r.Freshness = freshness;
            return true;
        }
        if (_learnedCount == _learnedRing.Length)
        {
            uint old = _learnedRing[_learnedHead];
            _learnedHead = _learnedHead + 1 == _learnedRing.Length ? 0 : _learnedHead + 1;
            _learnedCount--;
            ref Route o = ref CollectionsMarshal.GetValueRefOrNullRef(_routes, old);
            if (!Unsafe.IsNullRef(ref o) && !o.Static) _routes.Remove(old);
        }
        int tail = _learnedHead + _learnedCount;
        if (tail >= _learnedRing.Length) tail -= _learnedRing.Length;
        _learnedRing[tail] = node;
        _learnedCount++;
        _routes.Add(node, new Route { Peer = peer, Static = false, Freshness = freshness });
        return true;
    }

    private void ProcessFragment(int peer, ReadOnlySpan<byte> datagram)
    {
        if (!FrameCodec.TryReadFragment(datagram, _maxMessage, out FragmentHeader h, out ReadOnlySpan<byte> payload))
        {
            _stats.AddMalformedDropped();
            return;
        }
        var key = new PartialKey(peer, h.Sender, h.MessageId);
        if (_partialIndex.TryGetValue(key, out int slot))
        {
            ref Partial p = ref _partials[slot];
            if (p.Total != h.TotalLength || p.Count != h.Count || p.FragmentSize != h.FragmentSize || p.Destination != h.Destination)
            {
                _stats.AddMalformedDropped();
                Abandon(slot);
                return;
            }
            if ((p.Bits![h.Index >> 6] & (1UL << (h.Index & 63))) != 0)
            {
                _stats.AddDuplicatesDropped();
                return;
            }
        }
        else
        {
            if (RecentlyCompleted(key))
            {
                _stats.AddDuplicatesDropped();
                return;
            }
            slot = StartPartial(key, h);
        }

        ref Partial q = ref _partials[slot];
        payload.CopyTo(q.Buffer.AsSpan(h.Offset));
        q.Bits![h.Index >> 6] |= 1UL << (h.Index & 63);
        q.Received++;
        q.LastMs = _nowMs;
        if (q.Received < q.Count) return;

        // Complete: remember it (late duplicates are ignored), deliver the lent span, free the slot.
        _completed[_completedNext] = key;
        _completedNext = _completedNext + 1 == CompletedRingSize ? 0 : _completedNext + 1;
        if (_completedCount < CompletedRingSize) _completedCount++;
        _stats.AddMessagesReceived();
        _delivered++;
        try
        {
            _currentPeer = q.Peer;
            _currentSender = q.Sender;
            _handler!.OnMessage(q.Sender, q.Destination, q.Buffer.AsSpan(0, q.Total));
        }
        finally
        {
            _currentPeer = -1;
            Release(slot);
        }
    }

    private bool RecentlyCompleted(PartialKey key)
    {
        PartialKey[] c = _completed;
        for (int i = 0; i < _completedCount; i++)
            if (c[i] == key) return true;
        return false;
    }

    private int StartPartial(PartialKey key, in FragmentHeader h)
    {
        // Per-source bound: evict that source's oldest partial message.
        while (true)
        {
            int perSource = 0, oldestOfSource = -1, oldest = -1;
            for (int i = 0; i < _partials.Length; i++)
            {
                ref Partial p = ref _partials[i];
                if (!p.Active) continue;
                if (oldest < 0 || p.Sequence < _partials[oldest].Sequence) oldest = i;
                if (p.Peer == key.Peer)
                {
                    perSource++;
                    if (oldestOfSource < 0 || p.Sequence < _partials[oldestOfSource].Sequence) oldestOfSource = i;
                }
            }
            if (perSource >= _maxPerSource) { Evict(oldestOfSource); continue; }
            if (_freeCount == 0 || _partialBytes + h.TotalLength > _maxReassemblyBytes) { Evict(oldest); continue; }
            break;
        }

        int slot = _freePartials[--_freeCount];
        ref Partial n = ref _partials[slot];
        n.Active = true;
        n.Peer = key.Peer;
        n.Sender = key.Sender;
        n.MessageId = key.MessageId;
        n.Destination = h.Destination;
        n.Total = h.TotalLength;
        n.Count = h.Count;
        n.FragmentSize = h.FragmentSize;
        n.Received = 0;
        n.LastMs = _nowMs;
        n.Sequence = _partialSequence++;
        n.Buffer = ArrayPool<byte>.Shared.Rent(h.TotalLength);
        int words = (h.Count + 63) >> 6;
        n.Bits = ArrayPool<ulong>.Shared.Rent(words);
        Array.Clear(n.Bits, 0, words);
        _partialBytes += h.TotalLength;
        _partialIndex.Add(key, slot);
        if (_nowMs + _timeoutMs < _nextSweepMs) _nextSweepMs = _nowMs + _timeoutMs;
        return slot;
    }

    private void Evict(int slot)
    {
        _stats.AddReassemblyDropped();
        Release(slot);
    }

    private void Abandon(int slot)
    {
        _stats.AddReassemblyDropped();
        Release(slot);
    }

    private void Release(int slot)
    {
        ref Partial p = ref _partials[slot];
        if (!p.Active) return;
        _partialIndex.Remove(new PartialKey(p.Peer, p.Sender, p.MessageId));
        _partialBytes -= p.Total;
        if (p.Buffer is not null) ArrayPool<byte>.Shared.Return(p.Buffer);
        if (p.Bits is not null) ArrayPool<ulong>.Shared.Return(p.Bits);
        p = default;
        _freePartials[_freeCount++] = slot;
    }

    private void SweepExpired()
    {
        // Exact schedule: the next sweep is due when the least recently active partial message expires.
        long next = long.MaxValue;
        for (int i = 0; i < _partials.Length; i++)
        {
            ref Partial p = ref _partials[i];
            if (!p.Active) continue;
            if (_nowMs - p.LastMs >= _timeoutMs) Evict(i);
            else if (p.LastMs + _timeoutMs < next) next = p.LastMs + _timeoutMs;
        }
        _nextSweepMs = next;
    }

    /// <summary>Returns pooled reassembly memory and, if owned, disposes the link. Idempotent.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        for (int i = 0; i < _partials.Length; i++) Release(i);
        if (_ownsLink) _link.Dispose();
    }
}
