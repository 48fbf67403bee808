using System.Net;
using System.Net.Sockets;

namespace FastBft.Transport;

/// <summary>Options of <see cref="UdpTransport.Create"/>: a <see cref="DatagramTransport"/> over a <see cref="UdpLink"/>.</summary>
public sealed class UdpTransportOptions
{
    /// <summary>IPv4 endpoint to bind. Default 127.0.0.1:0 (ephemeral port; read it from the link).</summary>
    public IPEndPoint LocalEndPoint { get; set; } = new(IPAddress.Loopback, 0);

    /// <summary>Configured peers: node id → IPv4 endpoint. Null or empty: none (other nodes become reachable when the handler confirms their route, <see cref="ITransport.ConfirmRoute"/>).</summary>
    public IReadOnlyDictionary<uint, IPEndPoint>? Peers { get; set; }

    /// <summary>Largest datagram (bytes), 64..65,507. Default 65,000 (loopback); use 1,472 on a 1,500-byte MTU network.</summary>
    public int MaxDatagramSize { get; set; } = UdpLink.DefaultMaxDatagramSize;

    /// <summary>Largest message (bytes). Default 4 MiB.</summary>
    public int MaxMessageSize { get; set; } = DatagramTransportOptions.DefaultMaxMessageSize;

    /// <summary>Requested SO_RCVBUF and SO_SNDBUF (bytes). Default 8 MiB.</summary>
    public int SocketBufferSize { get; set; } = UdpLink.DefaultSocketBufferSize;

    /// <summary>Bound (bytes) on all partial messages together. Default 64 MiB.</summary>
    public long MaxReassemblyBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Most partial messages in flight, all sources. Default 256.</summary>
    public int MaxReassemblies { get; set; } = 256;

    /// <summary>Most partial messages in flight per source endpoint. Default 32.</summary>
    public int MaxReassembliesPerSource { get; set; } = 32;

    /// <summary>Idle time (ms) after which a partial message is evicted. Default 2,000 ms.</summary>
    public int ReassemblyTimeoutMs { get; set; } = 2000;

    /// <summary>Most node ids with a learned (confirmed) return route, e.g. client ids. Default 16,384.</summary>
    public int MaxLearnedNodes { get; set; } = 16384;

    /// <summary>Most source endpoints the link remembers beyond the configured ones. Default 4,096.</summary>
    public int MaxLearnedEndpoints { get; set; } = 4096;

    /// <summary>Most datagrams handled per Poll. Default 64.</summary>
    public int ReceiveBurst { get; set; } = 64;

    /// <summary>Most destination endpoints with an open bundle at once. Default 64.</summary>
    public int MaxOpenBundles { get; set; } = 64;

    /// <summary>Monotonic clock (ms) for reassembly timeouts; null = <see cref="Environment.TickCount64"/>.</summary>
    public Func<long>? ClockMs { get; set; }
}

/// <summary>Factory of UDP transports.</summary>
public static class UdpTransport
{
    /// <summary>
    /// Validates <paramref name="options"/>, binds a <see cref="UdpLink"/> and returns a
    /// <see cref="DatagramTransport"/> over it (which owns and disposes the link).
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="options"/> is null.</exception>
    /// <exception cref="ArgumentException">an option is invalid; the message names the field.</exception>
    /// <exception cref="SocketException">the socket cannot be bound.</exception>
    public static DatagramTransport Create(UdpTransportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        int peerCount = options.Peers?.Count ?? 0;
        var link = new UdpLink(options.LocalEndPoint, options.MaxDatagramSize, options.SocketBufferSize,
            options.MaxLearnedEndpoints, options.ReceiveBurst, Math.Max(1024, peerCount));
        try
        {
            Dictionary<uint, int>? map = null;
            if (options.Peers is not null)
            {
                map = new Dictionary<uint, int>(options.Peers.Count);
                foreach (KeyValuePair<uint, IPEndPoint> kv in options.Peers) map[kv.Key] = link.AddPeer(kv.Value);
            }
            return new DatagramTransport(link, new DatagramTransportOptions
            {
                StaticPeers = map,
                MaxMessageSize = options.MaxMessageSize,
                MaxReassemblyBytes = options.MaxReassemblyBytes,
                MaxReassemblies = options.MaxReassemblies,
                MaxReassembliesPerSource = options.MaxReassembliesPerSource,
                ReassemblyTimeoutMs = options.ReassemblyTimeoutMs,
                MaxLearnedNodes = options.MaxLearnedNodes,
                MaxOpenBundles = options.MaxOpenBundles,
                ClockMs = options.ClockMs,
            }, ownsLink: true);
        }
        catch
        {
            link.Dispose();
            throw;
        }
    }

    private static void Validate(UdpTransportOptions o)
    {
        const string p = "options";
        if (o.LocalEndPoint is null) throw new ArgumentException("LocalEndPoint must not be null", p);
        if (o.LocalEndPoint.AddressFamily != AddressFamily.InterNetwork) throw new ArgumentException($"LocalEndPoint must be IPv4 (was {o.LocalEndPoint})", p);
        if (o.Peers is not null)
        {
            foreach (KeyValuePair<uint, IPEndPoint> kv in o.Peers)
            {
                if (kv.Value is null) throw new ArgumentException($"Peers[{kv.Key}] must not be null", p);
                if (kv.Value.AddressFamily != AddressFamily.InterNetwork) throw new ArgumentException($"Peers[{kv.Key}] must be IPv4 (was {kv.Value})", p);
                if (kv.Value.Port == 0) throw new ArgumentException($"Peers[{kv.Key}] must have a non-zero port", p);
            }
        }
        if (o.MaxDatagramSize < 64 || o.MaxDatagramSize > UdpLink.MaxUdpPayload)
            throw new ArgumentException($"MaxDatagramSize must be in 64..{UdpLink.MaxUdpPayload} bytes (was {o.MaxDatagramSize})", p);
        if (o.MaxMessageSize < 1) throw new ArgumentException($"MaxMessageSize must be ≥ 1 byte (was {o.MaxMessageSize})", p);
        if ((long)o.MaxMessageSize > (long)FrameCodec.FragmentPayloadSize(o.MaxDatagramSize) * FrameCodec.MaxFragmentCount)
            throw new ArgumentException($"MaxMessageSize ({o.MaxMessageSize}) needs more than {FrameCodec.MaxFragmentCount} fragments at MaxDatagramSize {o.MaxDatagramSize}", p);
        if (o.SocketBufferSize < 4096) throw new ArgumentException($"SocketBufferSize must be ≥ 4096 bytes (was {o.SocketBufferSize})", p);
        if (o.MaxReassemblyBytes < o.MaxMessageSize)
            throw new ArgumentException($"MaxReassemblyBytes ({o.MaxReassemblyBytes}) must be ≥ MaxMessageSize ({o.MaxMessageSize})", p);
        if (o.MaxReassemblies < 1 || o.MaxReassemblies > 1_000_000) throw new ArgumentException($"MaxReassemblies must be in 1..1000000 (was {o.MaxReassemblies})", p);
        if (o.MaxReassembliesPerSource < 1 || o.MaxReassembliesPerSource > o.MaxReassemblies)
            throw new ArgumentException($"MaxReassembliesPerSource must be in 1..MaxReassemblies (was {o.MaxReassembliesPerSource})", p);
        if (o.ReassemblyTimeoutMs < 1) throw new ArgumentException($"ReassemblyTimeoutMs must be ≥ 1 ms (was {o.ReassemblyTimeoutMs})", p);
        if (o.MaxLearnedNodes < 1 || o.MaxLearnedNodes > 10_000_000) throw new ArgumentException($"MaxLearnedNodes must be in 1..10000000 (was {o.MaxLearnedNodes})", p);
        if (o.MaxLearnedEndpoints < 1 || o.MaxLearnedEndpoints > 500_000) throw new ArgumentException($"MaxLearnedEndpoints must be in 1..500000 (was {o.MaxLearnedEndpoints})", p);
        if (o.ReceiveBurst < 1) throw new ArgumentException($"ReceiveBurst must be ≥ 1 (was {o.ReceiveBurst})", p);
        if (o.MaxOpenBundles < 1 || o.MaxOpenBundles > 65536) throw new ArgumentException($"MaxOpenBundles must be in 1..65536 (was {o.MaxOpenBundles})", p);
    }
}
