using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using FastBft.Config;

namespace FastBft.Perf.Cell;

/// <summary>Builds cell configs for the harness: loopback addresses on free UDP ports and a fresh master key.</summary>
internal static class CellDefinition
{
    /// <summary>A cell of <paramref name="protocol"/> for <paramref name="f"/> faults on 127.0.0.1 (n from the protocol's shape: 3f+1 for PBFT).</summary>
    /// <exception cref="ConfigException">unknown or unbuilt protocol, or an invalid field.</exception>
    public static CellConfig Create(int f, string workload, string serviceKind = "noop", int batchSize = 64, string protocol = "pbft")
    {
        if (!FastBft.Agreement.CellShape.TryParse(protocol, out var kind)) throw new ConfigException($"protocol '{protocol}' is not a protocol (known: {string.Join(", ", FastBft.Agreement.CellShape.Names)})");
        int n = new FastBft.Agreement.CellShape(kind, f).N;
        var ports = FreeUdpPorts(n);
        var c = new CellConfig
        {
            Protocol = protocol,
            F = f,
            BatchSize = batchSize,
            Keys = new KeysConfig { Master = Convert.ToHexString(RandomNumberGenerator.GetBytes(32)) },
            Service = new ServiceConfig { Kind = serviceKind, Workload = workload },
        };
        for (int i = 0; i < n; i++) c.Replicas.Add(new ReplicaConfig { Id = i, Address = $"127.0.0.1:{ports[i]}" });
        c.Validate();
        return c;
    }

    /// <summary>Distinct free UDP ports on loopback (bound, read and released; a small race is possible).</summary>
    public static int[] FreeUdpPorts(int count)
    {
        var sockets = new Socket[count];
        var ports = new int[count];
        try
        {
            for (int i = 0; i < count; i++)
            {
                sockets[i] = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                sockets[i].Bind(new IPEndPoint(IPAddress.Loopback, 0));
                ports[i] = ((IPEndPoint)sockets[i].LocalEndPoint!).Port;
            }
        }
        finally
        {
            foreach (var s in sockets) s?.Dispose();
        }
        return ports;
    }
}
