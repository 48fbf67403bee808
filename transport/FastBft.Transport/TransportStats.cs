namespace FastBft.Transport;

/// <summary>
/// Monotonic counters of one transport. Fields are updated by the transport's owner thread with
/// <see cref="Interlocked"/> or plain writes of longs and may be read from any thread.
/// </summary>
public sealed class TransportStats
{
    /// <summary>Messages accepted by Send.</summary>
    public long MessagesSent;
    /// <summary>Messages delivered to the handler.</summary>
    public long MessagesReceived;
    /// <summary>Datagrams or frames put on the wire.</summary>
    public long DatagramsSent;
    /// <summary>Datagrams or frames taken from the wire.</summary>
    public long DatagramsReceived;
    /// <summary>Payload bytes put on the wire, frame headers included (UDP/IP headers excluded).</summary>
    public long BytesSent;
    /// <summary>Payload bytes taken from the wire.</summary>
    public long BytesReceived;
    /// <summary>Frames dropped because they were malformed (bad magic, version, kind, reserved, lengths,
    /// fragment fields that disagree with each other or with the message in reassembly).</summary>
    public long MalformedDropped;
    /// <summary>Messages dropped on send because the destination's address is unknown (transport: no route
    /// for the node id; link: stale or unknown peer handle).</summary>
    public long UnknownDestinationDropped;
    /// <summary>Fragmented messages abandoned (timeout, memory bound, inconsistent fragments).</summary>
    public long ReassemblyDropped;
    /// <summary>Send-side errors from the OS or device (e.g. ENOBUFS); the message is lost.</summary>
    public long SendErrors;
    /// <summary>Receive-side errors from the OS or device (e.g. a socket error on receive); counted, not thrown.</summary>
    public long ReceiveErrors;
    /// <summary>Duplicate fragments dropped (already held, or of a message completed recently).</summary>
    public long DuplicatesDropped;
}
