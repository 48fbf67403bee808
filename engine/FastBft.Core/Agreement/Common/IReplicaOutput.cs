namespace FastBft.Agreement;

/// <summary>
/// Effects of a sans-I/O protocol core (DESIGN.md "Protocol core"): the core never touches sockets,
/// threads or clocks; it hands complete, authenticated messages to this interface. The replica host
/// maps it to a transport; the deterministic simulator maps it to its simulated network.
/// The spans are valid only during the call (the implementation copies).
/// </summary>
public interface IReplicaOutput
{
    /// <summary>Sends a complete message to replica <paramref name="replica"/>.</summary>
    void SendToReplica(uint replica, ReadOnlySpan<byte> message);

    /// <summary>Sends a complete message to client <paramref name="client"/>.</summary>
    void SendToClient(uint client, ReadOnlySpan<byte> message);
}
