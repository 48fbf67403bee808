namespace FastBft.Transport.Dpdk;

/// <summary>Factory of DPDK transports: a <see cref="DatagramTransport"/> over a <see cref="DpdkLink"/>.</summary>
public static class DpdkTransport
{
    /// <summary>
    /// Opens a <see cref="DpdkLink"/> with <paramref name="options"/> and returns a
    /// <see cref="DatagramTransport"/> over it (which owns and disposes the link). Neighbours with a
    /// <see cref="DpdkNeighbor.NodeId"/> become static routes; other nodes (clients) become reachable when the
    /// handler confirms their route after their message authenticated (<see cref="ITransport.ConfirmRoute"/>;
    /// the same rule as over UDP, docs/transport.md "Return routes").
    /// </summary>
    /// <param name="options">DPDK link options (validated).</param>
    /// <param name="transportOptions">Reassembly and routing limits; its StaticPeers are replaced. Null: defaults.</param>
    /// <exception cref="DpdkConfigException">invalid options (message names the field).</exception>
    /// <exception cref="DpdkException">DPDK missing, no permission, EAL or device failure (message names the fix).</exception>
    /// <exception cref="ArgumentException">a transport option is invalid.</exception>
    public static DatagramTransport Create(DpdkOptions options, DatagramTransportOptions? transportOptions = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var link = new DpdkLink(options);
        try
        {
            var map = new Dictionary<uint, int>();
            for (int i = 0; i < options.Neighbors.Count; i++)
            {
                if (options.Neighbors[i].NodeId is uint node) map[node] = i;
            }
            var t = transportOptions ?? new DatagramTransportOptions();
            var effective = new DatagramTransportOptions
            {
                StaticPeers = map,
                MaxMessageSize = t.MaxMessageSize,
                MaxReassemblyBytes = t.MaxReassemblyBytes,
                MaxReassemblies = t.MaxReassemblies,
                MaxReassembliesPerSource = t.MaxReassembliesPerSource,
                ReassemblyTimeoutMs = t.ReassemblyTimeoutMs,
                MaxLearnedNodes = t.MaxLearnedNodes,
                MaxOpenBundles = t.MaxOpenBundles,
                ClockMs = t.ClockMs,
            };
            return new DatagramTransport(link, effective, ownsLink: true);
        }
        catch
        {
            link.Dispose();
            throw;
        }
    }
}
