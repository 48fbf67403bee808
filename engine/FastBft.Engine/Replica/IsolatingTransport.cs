using FastBft.Transport;

namespace FastBft.Replica;

/// <summary>
/// A transport decorator with a drop switch (fault injection: `fastbft run --fault isolate:R@T+D`
/// flips it through the replica's control channel). While <see cref="Isolated"/> is set, everything
/// sent is discarded before it reaches the inner transport and everything received is discarded
/// before the handler sees it, so the replica keeps running but is cut off from the cell. Messages
/// dropped either way are counted. Same threading contract as <see cref="ITransport"/>; the switch
/// itself may be flipped from any thread.
/// </summary>
public sealed class IsolatingTransport : ITransport, IMessageHandler
{
    private readonly ITransport _inner;
    private IMessageHandler? _handler;
    private volatile bool _isolated;
    private long _droppedSent, _droppedReceived;

    /// <summary>Wraps <paramref name="inner"/> (owned: disposed with this).</summary>
    public IsolatingTransport(ITransport inner) => _inner = inner;

    /// <summary>True while all traffic is dropped.</summary>
    public bool Isolated { get => _isolated; set => _isolated = value; }
    /// <summary>Messages discarded on send while isolated.</summary>
    public long DroppedSent => Interlocked.Read(ref _droppedSent);
    /// <summary>Messages discarded on receive while isolated.</summary>
    public long DroppedReceived => Interlocked.Read(ref _droppedReceived);

    /// <inheritdoc/>
    public int MaxMessageSize => _inner.MaxMessageSize;
    /// <inheritdoc/>
    public TransportStats Stats => _inner.Stats;

    /// <inheritdoc/>
    public void Send(uint destination, uint sender, ReadOnlySpan<byte> message)
    {
        if (_isolated) { _droppedSent++; return; }
        _inner.Send(destination, sender, message);
    }

    /// <inheritdoc/>
    public void Flush() => _inner.Flush();

    /// <inheritdoc/>
    public bool ConfirmRoute(uint node, ulong freshness) => _inner.ConfirmRoute(node, freshness);

    /// <inheritdoc/>
    public int Poll(IMessageHandler handler, int timeoutMs)
    {
        _handler = handler;
        return _inner.Poll(this, timeoutMs);
    }

    /// <inheritdoc/>
    void IMessageHandler.OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message)
    {
        if (_isolated) { _droppedReceived++; return; }
        _handler!.OnMessage(sender, destination, message);
    }

    /// <inheritdoc/>
    public void Dispose() => _inner.Dispose();
}
