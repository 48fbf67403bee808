namespace FastBft.Transport;

/// <summary>
/// Monotonic counters of one transport (and its link).
/// </summary>
/// <remarks>
/// <para>Threading: one writer — the thread that drives the transport and its link (see
/// <see cref="ITransport"/>) — updates the counters through the <c>Add…</c> methods; any thread (metrics,
/// harness, status queries) may read the properties at any time. Reads use <c>Volatile.Read</c>
/// (atomic on every platform, never hoisted out of a polling loop) and writes <c>Volatile.Write</c>
/// of the writer's own value plus the increment (no interlocked read-modify-write: there is only one writer, so
/// the hot path stays as cheap as a plain store). An implementation of <see cref="IDatagramLink"/> that counts
/// from a second thread must not share this object with that thread.</para>
/// </remarks>
public sealed class TransportStats
{
    private long _messagesSent;
    private long _messagesReceived;
    private long _datagramsSent;
    private long _datagramsReceived;
    private long _bytesSent;
    private long _bytesReceived;
    private long _malformedDropped;
    private long _unknownDestinationDropped;
    private long _reassemblyDropped;
    private long _sendErrors;
    private long _receiveErrors;
    private long _duplicatesDropped;

    /// <summary>Messages accepted by Send.</summary>
    public long MessagesSent => Volatile.Read(ref _messagesSent);

    /// <summary>Messages delivered to the handler.</summary>
    public long MessagesReceived => Volatile.Read(ref _messagesReceived);

    /// <summary>Datagrams or frames put on the wire.</summary>
    public long DatagramsSent => Volatile.Read(ref _datagramsSent);

    /// <summary>Datagrams or frames taken from the wire.</summary>
    public long DatagramsReceived => Volatile.Read(ref _datagramsReceived);

    /// <summary>Payload bytes put on the wire, frame headers included (UDP/IP headers excluded).</summary>
    public long BytesSent => Volatile.Read(ref _bytesSent);

    /// <summary>Payload bytes taken from the wire.</summary>
    public long BytesReceived => Volatile.Read(ref _bytesReceived);

    /// <summary>Frames dropped because they were malformed (bad magic, version, kind, reserved, lengths,
    /// fragment fields that disagree with each other or with the message in reassembly).</summary>
    public long MalformedDropped => Volatile.Read(ref _malformedDropped);

    /// <summary>Messages dropped on send because the destination's address is unknown (transport: no route
    /// for the node id; link: stale or unknown peer handle).</summary>
    public long UnknownDestinationDropped => Volatile.Read(ref _unknownDestinationDropped);

    /// <summary>Fragmented messages abandoned (timeout, memory bound, inconsistent fragments).</summary>
    public long ReassemblyDropped => Volatile.Read(ref _reassemblyDropped);

    /// <summary>Send-side errors from the OS or device (e.g. ENOBUFS); the message is lost.</summary>
    public long SendErrors => Volatile.Read(ref _sendErrors);

    /// <summary>Receive-side errors from the OS or device (e.g. a socket error on receive); counted, not thrown.</summary>
    public long ReceiveErrors => Volatile.Read(ref _receiveErrors);

    /// <summary>Duplicate fragments dropped (already held, or of a message completed recently).</summary>
    public long DuplicatesDropped => Volatile.Read(ref _duplicatesDropped);

    /// <summary>Adds <paramref name="count"/> (default 1) to <see cref="MessagesSent"/>. Writer thread only.</summary>
    public void AddMessagesSent(long count = 1) => Volatile.Write(ref _messagesSent, _messagesSent + count);

    /// <summary>Adds <paramref name="count"/> (default 1) to <see cref="MessagesReceived"/>. Writer thread only.</summary>
    public void AddMessagesReceived(long count = 1) => Volatile.Write(ref _messagesReceived, _messagesReceived + count);

    /// <summary>Adds <paramref name="count"/> (default 1) to <see cref="DatagramsSent"/>. Writer thread only.</summary>
    public void AddDatagramsSent(long count = 1) => Volatile.Write(ref _datagramsSent, _datagramsSent + count);

    /// <summary>Adds <paramref name="count"/> (default 1) to <see cref="DatagramsReceived"/>. Writer thread only.</summary>
    public void AddDatagramsReceived(long count = 1) => Volatile.Write(ref _datagramsReceived, _datagramsReceived + count);

    /// <summary>Adds <paramref name="count"/> (default 1) to <see cref="BytesSent"/>. Writer thread only.</summary>
    public void AddBytesSent(long count = 1) => Volatile.Write(ref _bytesSent, _bytesSent + count);

    /// <summary>Adds <paramref name="count"/> (default 1) to <see cref="BytesReceived"/>. Writer thread only.</summary>
    public void AddBytesReceived(long count = 1) => Volatile.Write(ref _bytesReceived, _bytesReceived + count);

    /// <summary>Adds <paramref name="count"/> (default 1) to <see cref="MalformedDropped"/>. Writer thread only.</summary>
    public void AddMalformedDropped(long count = 1) => Volatile.Write(ref _malformedDropped, _malformedDropped + count);

    /// <summary>Adds <paramref name="count"/> (default 1) to <see cref="UnknownDestinationDropped"/>. Writer thread only.</summary>
    public void AddUnknownDestinationDropped(long count = 1) => Volatile.Write(ref _unknownDestinationDropped, _unknownDestinationDropped + count);

    /// <summary>Adds <paramref name="count"/> (default 1) to <see cref="ReassemblyDropped"/>. Writer thread only.</summary>
    public void AddReassemblyDropped(long count = 1) => Volatile.Write(ref _reassemblyDropped, _reassemblyDropped + count);

    /// <summary>Adds <paramref name="count"/> (default 1) to <see cref="SendErrors"/>. Writer thread only.</summary>
    public void AddSendErrors(long count = 1) => Volatile.Write(ref _sendErrors, _sendErrors + count);

    /// <summary>Adds <paramref name="count"/> (default 1) to <see cref="ReceiveErrors"/>. Writer thread only.</summary>
    public void AddReceiveErrors(long count = 1) => Volatile.Write(ref _receiveErrors, _receiveErrors + count);

    /// <summary>Adds <paramref name="count"/> (default 1) to <see cref="DuplicatesDropped"/>. Writer thread only.</summary>
    public void AddDuplicatesDropped(long count = 1) => Volatile.Write(ref _duplicatesDropped, _duplicatesDropped + count);
}
