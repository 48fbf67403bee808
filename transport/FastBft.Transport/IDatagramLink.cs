namespace FastBft.Transport;

/// <summary>
/// The lowest layer of a datagram transport: moves whole datagrams (UDP payloads) between this
/// process and peer endpoints. Kernel UDP sockets and the DPDK port (Ethernet/IPv4/UDP framing
/// in C#) implement it; <c>DatagramTransport</c> builds bundling, fragmentation, reassembly and
/// node-id routing on top of it once, for every link (docs/wire-format.md §1).
/// </summary>
/// <remarks>
/// Endpoints are identified by small integer <em>peer handles</em> that the link assigns: one per
/// configured address, plus one per new source address it receives from (bounded; see the link's
/// options). Driven by one thread, like <see cref="ITransport"/>.
/// </remarks>
public interface IDatagramLink : IDisposable
{
    /// <summary>Largest UDP payload (bytes) this link sends or receives in one datagram.</summary>
    int MaxDatagramSize { get; }

    /// <summary>Queues one datagram to <paramref name="peer"/>; copies it. May transmit immediately
    /// or on <see cref="FlushDatagrams"/> (batched transmit).</summary>
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
