namespace FastBft.Transport;

/// <summary>
/// The lowest layer of a datagram transport: moves whole datagrams (UDP payloads) between this
/// process and peer endpoints. Kernel UDP sockets and the DPDK port (Ethernet/IPv4/UDP framing
/// in C#) implement it; <c>DatagramTransport</c> builds bundling, fragmentation, reassembly and
/// node-id routing on top of it once, for every link (docs/wire-format.md §1).
/// </summary>
/// <remarks>
/// <para>Endpoints are identified by small integer <em>peer handles</em> that the link assigns: one per
/// configured address (link-specific method, e.g. <c>UdpLink.AddPeer(IPEndPoint)</c>; the owner passes
/// node id → handle to <c>DatagramTransportOptions.StaticPeers</c>), plus one per new source address it
/// receives from (bounded; see the link's options).</para>
/// <para>Handle contract: handles are opaque and non-negative; the same source address maps to the same
/// handle while the link remembers it; a configured address always maps to its configured handle (also
/// when datagrams arrive from it). When the link's table of learned addresses is full it may recycle
/// a learned handle's slot; the old handle value then becomes <em>stale</em> (e.g. a generation number in
/// its high bits) and <see cref="SendDatagram"/> to it drops the datagram and counts
/// <see cref="TransportStats.UnknownDestinationDropped"/> instead of reaching the new address.</para>
/// <para>Counters: the link counts DatagramsSent/Received, BytesSent/Received, SendErrors, ReceiveErrors
/// and stale-handle drops; the transport counts messages, malformed frames and reassembly.
/// A zero-length or oversized datagram is still handed to the sink, which counts it as malformed.</para>
/// <para>Driven by one thread, like <see cref="ITransport"/>.</para>
/// </remarks>
public interface IDatagramLink : IDisposable
{
    /// <summary>Largest UDP payload (bytes) this link sends or receives in one datagram.</summary>
    int MaxDatagramSize { get; }

    /// <summary>Queues one datagram to <paramref name="peer"/>; copies it (the caller reuses its buffer on
    /// return). May transmit immediately or on <see cref="FlushDatagrams"/> (batched transmit).
    /// OS/device errors and stale or unknown handles are counted in <see cref="Stats"/>, never thrown.</summary>
    void SendDatagram(int peer, ReadOnlySpan<byte> datagram);

    /// <summary>Transmits every queued datagram.</summary>
    void FlushDatagrams();

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> ms (0 = no wait) for a datagram, then hands every
    /// datagram available (bounded burst) to <paramref name="sink"/>; the span is lent for the call.
    /// Returns the number delivered.
    /// </summary>
    int ReceiveDatagrams(IDatagramSink sink, int timeoutMs);

    /// <summary>Counters shared with the transport built on this link.</summary>
    TransportStats Stats { get; }
}

/// <summary>Consumer of datagrams from <see cref="IDatagramLink.ReceiveDatagrams"/>.</summary>
public interface IDatagramSink
{
    /// <summary>One datagram from the endpoint with handle <paramref name="peer"/>; valid only during the call.</summary>
    void OnDatagram(int peer, ReadOnlySpan<byte> datagram);
}
