using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using FastBft.Config;
using FastBft.Transport;
using FastBft.Transport.Dpdk;

namespace FastBft.Perf.Cell;

/// <summary>Creates the transport of a replica or client process from a cell config.</summary>
internal static class TransportFactory
{
    /// <summary>Largest UDP payload every kernel-UDP endpoint of a cell with a DPDK replica uses: the DPDK MTU (1500) − 28.</summary>
    public const int MixedCellMaxDatagram = 1472;

    /// <summary>JSON options for <c>replicas[i].transport_options</c> of a DPDK replica (snake_case keys, enum names
    /// in lower case, unknown keys rejected).</summary>
    public static readonly JsonSerializerOptions DpdkJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        IgnoreReadOnlyProperties = true,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>Peer table: replica id → endpoint.</summary>
    public static Dictionary<uint, IPEndPoint> ReplicaPeers(CellConfig c)
    {
        var peers = new Dictionary<uint, IPEndPoint>();
        foreach (var r in c.Replicas) peers[(uint)r.Id] = IPEndPoint.Parse(r.Address);
        return peers;
    }

    /// <summary>True when at least one replica of the cell uses DPDK (then every UDP endpoint uses 1,472 B datagrams).</summary>
    public static bool HasDpdk(CellConfig c) => c.Replicas.Any(r => r.Transport == "dpdk");

    /// <summary>Checks the transport settings of every replica (deserialises and validates DPDK options).</summary>
    /// <exception cref="ConfigException">a transport option is invalid; the message names the field and the fix.</exception>
    public static void Validate(CellConfig c)
    {
        for (uint i = 0; i < c.N; i++)
            if (c.Replicas[(int)i].Transport == "dpdk") DpdkOptionsFor(c, i);
    }

    /// <summary>
    /// The DPDK options of replica <paramref name="id"/>: <c>transport_options</c> deserialised (snake_case), with
    /// <c>local_ip</c>/<c>local_port</c> defaulting to the replica's address, validated, and checked to route every
    /// other replica (a neighbour with its <c>node_id</c>).
    /// </summary>
    /// <exception cref="ConfigException">missing or invalid options; the message names the field and the fix.</exception>
    public static DpdkOptions DpdkOptionsFor(CellConfig c, uint id)
    {
        var rc = c.Replicas[(int)id];
        string where = $"replicas[{id}].transport_options";
        if (rc.TransportOptions is not { ValueKind: JsonValueKind.Object } element)
            throw new ConfigException($"invalid cell config: {where}: a DPDK replica needs an object with at least \"device\" and \"neighbors\" (docs/dpdk.md)");
        DpdkOptions? o;
        try { o = element.Deserialize<DpdkOptions>(DpdkJson); }
        catch (JsonException e) { throw new ConfigException($"invalid cell config: {where}{(e.Path is { Length: > 1 } p ? p[1..] : "")}: {e.Message}"); }
        if (o is null) throw new ConfigException($"invalid cell config: {where}: null");
        var ep = IPEndPoint.Parse(rc.Address);
        if (string.IsNullOrEmpty(o.LocalIp)) o.LocalIp = ep.Address.ToString();
        if (o.LocalPort == 0) o.LocalPort = ep.Port;
        if (o.LocalIp != ep.Address.ToString() || o.LocalPort != ep.Port)
            throw new ConfigException($"invalid cell config: {where}.local_ip/local_port: {o.LocalIp}:{o.LocalPort} differs from replicas[{id}].address {rc.Address}; omit them or make them equal");
        try { o.Validate(); }
        catch (DpdkConfigException e) { throw new ConfigException($"invalid cell config: {where}.{Snake(e.Field)}: {e.Message[(e.Field.Length + 1)..]}"); }
        for (uint j = 0; j < c.N; j++)
        {
            if (j == id) continue;
            var other = IPEndPoint.Parse(c.Replicas[(int)j].Address);
            var n = o.Neighbors.FirstOrDefault(x => x.NodeId == j);
            if (n is null)
                throw new ConfigException($"invalid cell config: {where}.neighbors: no entry routes replica {j}; add {{\"ip\": \"{other.Address}\", \"port\": {other.Port}, \"mac\": \"<its MAC>\", \"node_id\": {j}, \"via\": <port index>}}");
            if (n.Ip != other.Address.ToString() || n.Port != other.Port)
                throw new ConfigException($"invalid cell config: {where}.neighbors (node_id {j}): {n.Ip}:{n.Port} differs from replicas[{j}].address {c.Replicas[(int)j].Address}");
        }
        return o;
    }

    /// <summary>"dpdk.neighbors[2].nodeId" → "neighbors[2].node_id".</summary>
    private static string Snake(string field)
    {
        if (field.StartsWith("dpdk.", StringComparison.Ordinal)) field = field[5..];
        var sb = new System.Text.StringBuilder();
        foreach (char ch in field)
        {
            if (char.IsUpper(ch)) sb.Append('_').Append(char.ToLowerInvariant(ch));
            else sb.Append(ch);
        }
        return sb.ToString();
    }

    /// <summary>The transport of replica <paramref name="id"/>.</summary>
    /// <exception cref="ConfigException">invalid transport options (the message names the field).</exception>
    /// <exception cref="DpdkException">DPDK missing, no permission, EAL or device failure (the message names the fix).</exception>
    public static ITransport ForReplica(CellConfig c, uint id)
    {
        var rc = c.Replicas[(int)id];
        if (rc.Transport == "dpdk")
        {
            var o = DpdkOptionsFor(c, id);
            return DpdkTransport.Create(o, new DatagramTransportOptions { MaxMessageSize = c.MaxMessageBytes + 64 * 1024 });
        }
        var options = new UdpTransportOptions
        {
            LocalEndPoint = IPEndPoint.Parse(rc.Address),
            Peers = ReplicaPeers(c),
            MaxMessageSize = c.MaxMessageBytes + 64 * 1024,
        };
        if (HasDpdk(c)) options.MaxDatagramSize = MixedCellMaxDatagram;
        return UdpTransport.Create(options);
    }

    /// <summary>
    /// The transport of a client process. Kernel UDP by default: bound to <paramref name="bind"/> (null: loopback;
    /// ephemeral port, replicas learn it), 1,472 B datagrams when the cell has a DPDK replica. With
    /// <paramref name="dpdk"/>: a DPDK transport (its neighbours must route every replica), returned once all its
    /// ports are up.
    /// </summary>
    /// <exception cref="DpdkException">DPDK failure, or fewer than 2f+1 of its ports came up within 15 s (with fewer
    /// missing it warns on stderr and continues: the protocol tolerates f unreachable replicas).</exception>
    /// <param name="c">the cell.</param>
    /// <param name="dpdk">DPDK options of the client, or null for kernel UDP.</param>
    /// <param name="bind">local address (null: loopback).</param>
    /// <param name="port">local UDP port (0: ephemeral); an extended ODRC cell's execution-only replicas route the clients to it.</param>
    public static ITransport ForClient(CellConfig c, DpdkOptions? dpdk = null, IPAddress? bind = null, int port = 0)
    {
        if (dpdk is not null)
        {
            var link = new DpdkLink(dpdk);
            try
            {
                if (!link.WaitForLinkUp(TimeSpan.FromSeconds(15)))
                {
                    // A loaded memif server occasionally never accepts (../shared/notes/dpdk.md). The protocol tolerates
                    // f unreachable replicas, so go on with a quorum of ports up; fail below that.
                    var down = Enumerable.Range(0, link.PortCount).Where(i => !link.IsPortUp(i)).ToArray();
                    string which = string.Join(", ", down.Select(i => dpdk.Neighbors.FirstOrDefault(n => n.Via == i)?.NodeId?.ToString() ?? $"port {i}"));
                    if (link.PortCount - down.Length < c.Quorums.Commit)
                        throw new DpdkException(DpdkFailure.Device, $"the client's DPDK ports to replica(s) {which} did not come up within 15 s (a memif server, i.e. a replica, is not accepting)");
                    Console.Error.WriteLine($"warning: the client's DPDK port(s) to replica(s) {which} did not come up within 15 s; continuing with {link.PortCount - down.Length} of {link.PortCount}");
                }
                var map = new Dictionary<uint, int>();
                for (int i = 0; i < dpdk.Neighbors.Count; i++)
                    if (dpdk.Neighbors[i].NodeId is uint node) map[node] = i;
                return new DatagramTransport(link, new DatagramTransportOptions { StaticPeers = map, MaxMessageSize = c.MaxMessageBytes + 64 * 1024 }, ownsLink: true);
            }
            catch
            {
                link.Dispose();
                throw;
            }
        }
        var options = new UdpTransportOptions
        {
            LocalEndPoint = new IPEndPoint(bind ?? IPAddress.Loopback, port),
            Peers = ReplicaPeers(c),
            MaxMessageSize = c.MaxMessageBytes + 64 * 1024,
        };
        if (HasDpdk(c)) options.MaxDatagramSize = MixedCellMaxDatagram;
        return UdpTransport.Create(options);
    }
}
