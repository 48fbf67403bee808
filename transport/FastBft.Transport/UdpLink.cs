using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace FastBft.Transport;

/// <summary>
/// <see cref="IDatagramLink"/> over one kernel UDP socket (IPv4). Sends with
/// <c>Socket.SendTo(ReadOnlySpan, SocketFlags, SocketAddress)</c> immediately (one syscall per datagram;
/// <see cref="FlushDatagrams"/> is a no-op) and receives into one reused buffer with the
/// allocation-free <c>ReceiveFrom(Span, SocketFlags, SocketAddress)</c>.
/// </summary>
/// <remarks>
/// Peer handles: <c>slot | generation &lt;&lt; 20</c>. Configured peers (<see cref="AddPeer"/>) have
/// generation 0 and are never recycled; learned source addresses live in a FIFO table of
/// <c>maxLearnedEndpoints</c> slots whose generation (11 bits) advances when a slot is recycled, which
/// makes old handles stale (see <see cref="IDatagramLink"/>). Driven by one thread.
/// </remarks>
public sealed class UdpLink : IDatagramLink
{
    /// <summary>Default largest datagram (bytes) on loopback.</summary>
    public const int DefaultMaxDatagramSize = 65000;
    /// <summary>Default requested SO_RCVBUF / SO_SNDBUF (bytes).</summary>
    public const int DefaultSocketBufferSize = 8 * 1024 * 1024;
    /// <summary>Largest UDP payload over IPv4 (bytes).</summary>
    public const int MaxUdpPayload = 65507;

    private const int SlotBits = 20;
    private const int SlotMask = (1 << SlotBits) - 1;
    private const int GenerationMask = 0x7FF;

    private readonly Socket _socket;
    private readonly TransportStats _stats = new();
    private readonly int _maxDatagram;
    private readonly int _receiveBurst;
    private readonly byte[] _receiveBuffer;
    private readonly SocketAddress _receiveAddress;
    private LinuxBatchReceiver? _batch;

    // Slots 0.._staticCount-1: configured; then learned slots in a FIFO ring.
    private readonly SocketAddress?[] _addresses;
    private readonly ulong[] _keys;
    private readonly int[] _generation;
    private readonly Dictionary<ulong, int> _byKey;
    private readonly int _maxStatic;
    private int _staticCount;
    private readonly int _learnedBase;
    private readonly int _maxLearned;
    private int _learnedUsed;
    private int _learnedNextRecycle;
    private bool _disposed;

    /// <summary>Opens and binds the socket.</summary>
    /// <param name="localEndPoint">IPv4 address and port to bind (port 0 = ephemeral; read <see cref="LocalEndPoint"/>).</param>
    /// <param name="maxDatagramSize">Largest datagram sent (bytes), 64..65,507. Default 65,000.</param>
    /// <param name="socketBufferSize">Requested SO_RCVBUF and SO_SNDBUF (bytes); the kernel may clamp (see
    /// <see cref="EffectiveReceiveBufferSize"/>). Default 8 MiB.</param>
    /// <param name="maxLearnedEndpoints">Source endpoints remembered beyond the configured ones (FIFO). Default 4,096.</param>
    /// <param name="receiveBurst">Most datagrams handed to the sink per <see cref="ReceiveDatagrams"/>. Default 64.</param>
    /// <param name="maxConfiguredPeers">Most configured peers (<see cref="AddPeer"/>). Default 1,024.</param>
    /// <exception cref="ArgumentNullException"><paramref name="localEndPoint"/> is null.</exception>
    /// <exception cref="ArgumentException">a parameter is out of range or the endpoint is not IPv4.</exception>
    /// <exception cref="SocketException">the socket cannot be created or bound.</exception>
    public UdpLink(IPEndPoint localEndPoint, int maxDatagramSize = DefaultMaxDatagramSize, int socketBufferSize = DefaultSocketBufferSize,
        int maxLearnedEndpoints = 4096, int receiveBurst = 64, int maxConfiguredPeers = 1024)
    {
        ArgumentNullException.ThrowIfNull(localEndPoint);
        if (localEndPoint.AddressFamily != AddressFamily.InterNetwork)
            throw new ArgumentException("localEndPoint must be an IPv4 endpoint", nameof(localEndPoint));
        if (maxDatagramSize < 64 || maxDatagramSize > MaxUdpPayload)
            throw new ArgumentException($"maxDatagramSize must be in 64..{MaxUdpPayload} bytes (was {maxDatagramSize})", nameof(maxDatagramSize));
        if (socketBufferSize < 4096)
            throw new ArgumentException($"socketBufferSize must be ≥ 4096 bytes (was {socketBufferSize})", nameof(socketBufferSize));
        if (maxLearnedEndpoints < 1 || maxConfiguredPeers < 0 || maxLearnedEndpoints + maxConfiguredPeers > SlotMask)
            throw new ArgumentException($"maxLearnedEndpoints ≥ 1, maxConfiguredPeers ≥ 0 and their sum ≤ {SlotMask} (were {maxLearnedEndpoints}, {maxConfiguredPeers})", nameof(maxLearnedEndpoints));
        if (receiveBurst < 1)
            throw new ArgumentException($"receiveBurst must be ≥ 1 (was {receiveBurst})", nameof(receiveBurst));

        _maxDatagram = maxDatagramSize;
        _receiveBurst = receiveBurst;
        _maxStatic = maxConfiguredPeers;
        _learnedBase = maxConfiguredPeers;
        _maxLearned = maxLearnedEndpoints;
        int slots = maxConfiguredPeers + maxLearnedEndpoints;
        _addresses = new SocketAddress?[slots];
        _keys = new ulong[slots];
        _generation = new int[slots];
        _byKey = new Dictionary<ulong, int>(slots);
        // Receive buffer holds any IPv4 UDP payload, so a datagram is never silently truncated.
        _receiveBuffer = GC.AllocateArray<byte>(MaxUdpPayload + 1, pinned: true);
        _receiveAddress = new SocketAddress(AddressFamily.InterNetwork);
        // One recvmmsg per burst on Linux (slots hold any datagram up to the configured maximum; a
        // longer one is reported truncated and counted as malformed).
        _batch = LinuxBatchReceiver.TryCreate(Math.Min(receiveBurst, 32), maxDatagramSize + 1);

        _socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            _socket.ReceiveBufferSize = socketBufferSize;
            _socket.SendBufferSize = socketBufferSize;
            _socket.Bind(localEndPoint);
            EffectiveReceiveBufferSize = _socket.ReceiveBufferSize;
            EffectiveSendBufferSize = _socket.SendBufferSize;
            LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        }
        catch
        {
            _socket.Dispose();
            throw;
        }
    }

    /// <summary>The bound local endpoint (with the actual port when bound to port 0).</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>SO_RCVBUF (bytes) as reported by the OS after the request (Linux reports double the granted value, capped by net.core.rmem_max).</summary>
    public int EffectiveReceiveBufferSize { get; }

    /// <summary>SO_SNDBUF (bytes) as reported by the OS after the request.</summary>
    public int EffectiveSendBufferSize { get; }

    /// <inheritdoc />
    public int MaxDatagramSize => _maxDatagram;

    /// <inheritdoc />
    public TransportStats Stats => _stats;

    /// <summary>Number of learned source endpoints currently remembered.</summary>
    public int LearnedEndpointCount => _learnedUsed;

    /// <summary>
    /// Registers a configured peer address and returns its handle (the same handle if already registered).
    /// If the address was learned before, the learned handle becomes stale.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="endPoint"/> is null.</exception>
    /// <exception cref="ArgumentException">not IPv4.</exception>
    /// <exception cref="InvalidOperationException">more than <c>maxConfiguredPeers</c> peers.</exception>
    public int AddPeer(IPEndPoint endPoint)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (endPoint.AddressFamily != AddressFamily.InterNetwork)
            throw new ArgumentException("endPoint must be an IPv4 endpoint", nameof(endPoint));
        SocketAddress sa = endPoint.Serialize();
        ulong key = KeyOf(sa);
        if (_byKey.TryGetValue(key, out int existing))
        {
            if (existing < _learnedBase) return existing;
            _byKey.Remove(key);
            _generation[existing] = (_generation[existing] + 1) & GenerationMask; // stale the learned handle
        }
        if (_staticCount == _maxStatic) throw new InvalidOperationException($"more than maxConfiguredPeers ({_maxStatic}) peers");
        int slot = _staticCount++;
        _addresses[slot] = sa;
        _keys[slot] = key;
        _byKey.Add(key, slot);
        return slot;
    }

    /// <summary>The address of a handle, or null if unknown or stale (allocates; for diagnostics).</summary>
    public IPEndPoint? GetEndPoint(int peer)
    {
        int slot = peer & SlotMask;
        if (peer < 0 || slot >= _addresses.Length || _addresses[slot] is null || (peer >> SlotBits) != _generation[slot]) return null;
        if (slot >= _learnedBase && (!_byKey.TryGetValue(_keys[slot], out int owner) || owner != slot)) return null;
        return (IPEndPoint)new IPEndPoint(IPAddress.Any, 0).Create(_addresses[slot]!);
    }

    /// <inheritdoc />
    public void SendDatagram(int peer, ReadOnlySpan<byte> datagram)
    {
        int slot = peer & SlotMask;
        SocketAddress? sa;
        if (peer < 0 || slot >= _addresses.Length || (sa = _addresses[slot]) is null || (peer >> SlotBits) != _generation[slot])
        {
            _stats.AddUnknownDestinationDropped();
            return;
        }
        try
        {
            int n = _socket.SendTo(datagram, SocketFlags.None, sa);
            _stats.AddDatagramsSent();
            _stats.AddBytesSent(n);
        }
        catch (SocketException)
        {
            _stats.AddSendErrors();
        }
        catch (ObjectDisposedException)
        {
            _stats.AddSendErrors();
        }
    }

    /// <inheritdoc />
    public void FlushDatagrams()
    {
    }

    /// <inheritdoc />
    /// <remarks>Negative <paramref name="timeoutMs"/> waits indefinitely. Socket errors are counted in
    /// <see cref="TransportStats.ReceiveErrors"/>; exceptions from <paramref name="sink"/> propagate.</remarks>
    public int ReceiveDatagrams(IDatagramSink sink, int timeoutMs)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ObjectDisposedException.ThrowIf(_disposed, this);
        int micros = timeoutMs < 0 ? -1 : timeoutMs >= int.MaxValue / 1000 ? int.MaxValue : timeoutMs * 1000;
        try
        {
            if (!_socket.Poll(micros, SelectMode.SelectRead)) return 0;
        }
        catch (SocketException)
        {
            _stats.AddReceiveErrors();
            return 0;
        }
        if (_batch is not null)
        {
            int got = ReceiveBatched(sink);
            if (got >= 0) return got;
            _batch.Dispose();
            _batch = null;                    // recvmmsg unsupported here: use the portable path from now on
        }
        int delivered = 0;
        do
        {
            int n;
            try
            {
                n = _socket.ReceiveFrom(_receiveBuffer, SocketFlags.None, _receiveAddress);
            }
            catch (SocketException)
            {
                _stats.AddReceiveErrors();
                break;
            }
            _stats.AddDatagramsReceived();
            _stats.AddBytesReceived(n);
            int peer = SourceHandle(_receiveAddress);
            delivered++;
            sink.OnDatagram(peer, new ReadOnlySpan<byte>(_receiveBuffer, 0, n));
        }
        while (delivered < _receiveBurst && _socket.Available > 0);
        return delivered;
    }

    private static ulong KeyOf(SocketAddress sa)
    {
        // SocketAddress IPv4 layout: [0..1] family, [2..3] port (network order), [4..7] address.
        ReadOnlySpan<byte> b = sa.Buffer.Span;
        return ((ulong)BinaryPrimitives.ReadUInt32BigEndian(b.Slice(4)) << 16) | BinaryPrimitives.ReadUInt16BigEndian(b.Slice(2));
    }

    /// <summary>Drains the socket with recvmmsg; returns datagrams delivered, or -1 if recvmmsg is unsupported.</summary>
    private int ReceiveBatched(IDatagramSink sink)
    {
        int delivered = 0;
        while (delivered < _receiveBurst)
        {
            var outcome = _batch!.Receive(_socket, out int count);
            if (outcome == LinuxBatchReceiver.Outcome.Unsupported) return delivered == 0 ? -1 : delivered;
            if (outcome == LinuxBatchReceiver.Outcome.Error) { _stats.AddReceiveErrors(); break; }
            if (outcome == LinuxBatchReceiver.Outcome.WouldBlock) break;
            for (int i = 0; i < count; i++)
            {
                _stats.AddDatagramsReceived();
                if (_batch.IsTruncated(i)) { _stats.AddMalformedDropped(); continue; }
                var datagram = _batch.Datagram(i);
                _stats.AddBytesReceived(datagram.Length);
                _batch.CopySource(i, _receiveAddress);
                int peer = SourceHandle(_receiveAddress);
                delivered++;
                sink.OnDatagram(peer, datagram);
            }
            if (count < _batch.Capacity) break;
        }
        return delivered;
    }

    private int SourceHandle(SocketAddress sa)
    {
        ulong key = KeyOf(sa);
        if (_byKey.TryGetValue(key, out int slot)) return slot | (_generation[slot] << SlotBits);

        // New source endpoint: take a free learned slot, or recycle the oldest (FIFO).
        if (_learnedUsed < _maxLearned)
        {
            slot = _learnedBase + _learnedUsed++;
        }
        else
        {
            slot = _learnedBase + _learnedNextRecycle;
            _learnedNextRecycle = _learnedNextRecycle + 1 == _maxLearned ? 0 : _learnedNextRecycle + 1;
            if (_byKey.TryGetValue(_keys[slot], out int owner) && owner == slot) _byKey.Remove(_keys[slot]);
            _generation[slot] = (_generation[slot] + 1) & GenerationMask;
        }
        SocketAddress? dst = _addresses[slot];
        if (dst is null) _addresses[slot] = dst = new SocketAddress(AddressFamily.InterNetwork);
        sa.Buffer.Span.Slice(0, sa.Size).CopyTo(dst.Buffer.Span);
        dst.Size = sa.Size;
        _keys[slot] = key;
        _byKey.Add(key, slot);
        return slot | (_generation[slot] << SlotBits);
    }

    /// <summary>Closes the socket. Idempotent.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _socket.Dispose();
        _batch?.Dispose();
    }
}
