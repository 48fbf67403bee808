namespace FastBft.Transport;

/// <summary>
/// A message transport between cell nodes (replicas and clients), addressed by 32-bit node ids.
/// The transport moves opaque messages; it knows nothing of protocols or authentication.
/// </summary>
/// <remarks>
/// <para>Threading: a transport instance is driven by one thread (the owner's event loop):
/// <see cref="Send"/>, <see cref="Flush"/> and <see cref="Poll"/> must not be called concurrently.</para>
/// <para>Send path: <see cref="Send"/> copies the message into the transport's transmit buffers,
/// where small messages to the same destination endpoint may be coalesced into one datagram
/// (see docs/wire-format.md, "Transport frames"); messages larger than one datagram are fragmented.
/// Nothing is guaranteed to leave the host before <see cref="Flush"/>.</para>
/// <para>Receive path and buffer ownership: <see cref="Poll"/> hands each received message to
/// <see cref="IMessageHandler.OnMessage"/> as a span that is <b>lent</b> for the duration of the
/// call only (pooled receive buffer, reassembly buffer, or, for DPDK, the mbuf payload itself).
/// The handler parses and verifies in place and copies whatever it must keep; after it returns,
/// the transport reuses or frees the memory. This makes zero-copy receive possible without
/// reference counting on the hot path.</para>
/// <para>Delivery is unreliable (datagram semantics): messages may be lost, duplicated or
/// reordered; the protocols retransmit.</para>
/// </remarks>
public interface ITransport : IDisposable
{
    /// <summary>Largest message (bytes) <see cref="Send"/> accepts; larger ones throw.</summary>
    int MaxMessageSize { get; }

    /// <summary>
    /// Queues <paramref name="message"/> from local node <paramref name="sender"/> to node
    /// <paramref name="destination"/>. Copies the bytes; the caller may reuse its buffer on return.
    /// Unknown destinations are counted in <see cref="Stats"/> and dropped (never thrown), since
    /// a client's address may not be known yet.
    /// </summary>
    /// <exception cref="ArgumentException">message longer than <see cref="MaxMessageSize"/>.</exception>
    void Send(uint destination, uint sender, ReadOnlySpan<byte> message);

    /// <summary>Transmits everything queued by <see cref="Send"/>.</summary>
    void Flush();

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> ms (0 = do not wait) for input, then delivers every
    /// message available without further waiting (bounded by an internal burst limit) to
    /// <paramref name="handler"/>. Returns the number of messages delivered.
    /// Malformed frames are dropped and counted in <see cref="Stats"/>; they never throw.
    /// </summary>
    int Poll(IMessageHandler handler, int timeoutMs);

    /// <summary>Counters of this transport (monotonic, read from any thread).</summary>
    TransportStats Stats { get; }

    /// <summary>
    /// Confirms the return route of node <paramref name="node"/>: replies to it go to the endpoint the message
    /// currently being delivered came from. Call it only from inside <see cref="IMessageHandler.OnMessage"/>,
    /// for that message's <c>sender</c>, and only after the message's own authenticator proved that
    /// <paramref name="node"/> sent it (e.g. a REQUEST that verified). The frame sender id is not
    /// authenticated, so a transport never creates or moves a route on its own; this is the only way a
    /// node without a configured address becomes reachable (docs/transport.md, "Return routes").
    /// </summary>
    /// <param name="node">the authenticated sender; must equal the frame sender of the message being delivered.</param>
    /// <param name="freshness">a value the sender increases with every new message (REQUEST: its request id);
    /// an existing route moves to a different endpoint only if it is greater than the one that last confirmed
    /// the route, so replaying an old authenticated message from elsewhere cannot redirect the replies.</param>
    /// <returns>True if the route of <paramref name="node"/> now leads to the current message's source;
    /// false when called outside a delivery, for another node id, for a configured route with another
    /// endpoint, or with stale freshness. Never throws.</returns>
    bool ConfirmRoute(uint node, ulong freshness);
}

/// <summary>Receives messages from <see cref="ITransport.Poll"/>.</summary>
public interface IMessageHandler
{
    /// <summary>
    /// One received message. <paramref name="sender"/> and <paramref name="destination"/> come from
    /// the transport frame and are <b>not authenticated</b>; the message's own authenticator is.
    /// <paramref name="message"/> is valid only during this call. Once the message authenticated as coming
    /// from <paramref name="sender"/>, the handler may call <see cref="ITransport.ConfirmRoute"/> so that
    /// replies to <paramref name="sender"/> go back to where this message came from.
    /// </summary>
    void OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message);
}
