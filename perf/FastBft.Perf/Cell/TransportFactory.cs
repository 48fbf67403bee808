using System.Net;
using FastBft.Config;
using FastBft.Transport;

namespace FastBft.Perf.Cell;

/// <summary>Creates the transport of a replica or client process from a cell config.</summary>
internal static class TransportFactory
{
    /// <summary>Peer table: replica id → endpoint.</summary>
    public static Dictionary<uint, IPEndPoint> ReplicaPeers(CellConfig c)
    {
        var peers = new Dictionary<uint, IPEndPoint>();
        foreach (var r in c.Replicas) peers[(uint)r.Id] = IPEndPoint.Parse(r.Address);
        return peers;
    }

    /// <summary>The transport of replica <paramref name="id"/>.</summary>
    /// <exception cref="ConfigException">the replica's transport is not available in this build.</exception>
    public static ITransport ForReplica(CellConfig c, uint id)
    {
        var rc = c.Replicas[(int)id];
        if (rc.Transport != "udp") throw new ConfigException($"replicas[{id}].transport: '{rc.Transport}' is not available in this harness yet; use \"udp\"");
        return UdpTransport.Create(new UdpTransportOptions
        {
            LocalEndPoint = IPEndPoint.Parse(rc.Address),
            Peers = ReplicaPeers(c),
            MaxMessageSize = c.MaxMessageBytes + 64 * 1024,
        });
    }

    /// <summary>The transport of a client process (ephemeral local port; replicas learn it).</summary>
    public static ITransport ForClient(CellConfig c) => UdpTransport.Create(new UdpTransportOptions
    {
        LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
        Peers = ReplicaPeers(c),
        MaxMessageSize = c.MaxMessageBytes + 64 * 1024,
    });
}
