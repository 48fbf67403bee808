namespace FastBft.Transport;

/// <summary>
/// Options of a <see cref="DatagramTransport"/>. Validated by the constructor, which throws
/// <see cref="ArgumentException"/> naming the offending field.
/// </summary>
public sealed class DatagramTransportOptions
{
    /// <summary>Default <see cref="MaxMessageSize"/>: 4 MiB.</summary>
    public const int DefaultMaxMessageSize = 4 * 1024 * 1024;

    /// <summary>
    /// Configured peers: node id → peer handle of the link (e.g. from <see cref="UdpLink.AddPeer"/>).
    /// Configured routes are never replaced by learned ones. Null or empty: none.
    /// </summary>
    public IReadOnlyDictionary<uint, int>? StaticPeers { get; set; }

    /// <summary>Largest message (bytes) sent or reassembled. Default 4 MiB; at least 1.</summary>
    public int MaxMessageSize { get; set; } = DefaultMaxMessageSize;

    /// <summary>Upper bound (bytes) on the memory of all partial messages together. Default 64 MiB; ≥ MaxMessageSize.</summary>
    public long MaxReassemblyBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Most partial messages in flight at once, all sources together. Default 256.</summary>
    public int MaxReassemblies { get; set; } = 256;

    /// <summary>Most partial messages in flight per source endpoint (peer handle). Default 32; ≤ MaxReassemblies.</summary>
    public int MaxReassembliesPerSource { get; set; } = 32;

    /// <summary>A partial message with no new fragment for this long (ms) is evicted. Default 2,000 ms.</summary>
    public int ReassemblyTimeoutMs { get; set; } = 2000;

    /// <summary>
    /// Most node ids with a learned return route (e.g. client ids; learned only through
    /// <see cref="ITransport.ConfirmRoute"/>, never from unauthenticated frame ids). When full, the
    /// oldest learned id is forgotten (FIFO). Default 16,384.
    /// </summary>
    public int MaxLearnedNodes { get; set; } = 16384;

    /// <summary>Most destination endpoints with an open (unflushed) bundle; when exceeded all open bundles are transmitted. Default 64.</summary>
    public int MaxOpenBundles { get; set; } = 64;

    /// <summary>
    /// Monotonic clock in ms used for reassembly timeouts. Null: <see cref="Environment.TickCount64"/>.
    /// Tests pass a fake clock.
    /// </summary>
    public Func<long>? ClockMs { get; set; }
}
