using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using FastBft.Config;
using FastBft.Transport.Dpdk;

namespace FastBft.Perf.Cell;

/// <summary>
/// Wires the harness's cells for `--transport dpdk` and `--transport mixed` (docs/dpdk.md, "Cell topologies"):
/// <list type="bullet">
/// <item><b>dpdk</b>: every replica and the harness's client endpoint are DPDK nodes; a full net_memif mesh (one
/// socket per pair, the lower id is the memif server, so replicas start in id order and the client last). No root needed.</item>
/// <item><b>mixed</b>: replicas 0..⌈n/2⌉−1 on DPDK, the rest on kernel UDP. DPDK replicas talk to each other over
/// net_memif and to the kernel through one net_tap port each, attached to a Linux bridge that holds the kernel
/// nodes' address (kernel replicas and the client bind it). Needs root and iproute2.</item>
/// </list>
/// Disposing removes the bridge.
/// </summary>
internal sealed class DpdkTopology : IDisposable
{
    private const int DpdkUdpPort = 7000;
    private readonly string? _bridge;

    private DpdkTopology(string? bridge) => _bridge = bridge;

    /// <summary>DPDK options of the harness's client endpoint (dpdk cells), or null (kernel UDP).</summary>
    public DpdkOptions? ClientDpdk { get; private set; }

    /// <summary>Address the kernel-UDP client binds (mixed cells: the bridge address), or null (loopback).</summary>
    public IPAddress? ClientBind { get; private set; }

    /// <summary>Replicas must be started one after the other in id order (memif servers first).</summary>
    public bool SequentialStart => true;

    private static string Mac(int node) => $"02:fb:00:00:{node >> 8:x2}:{node & 0xFF:x2}";

    private static DpdkOptions BaseOptions(DpdkPollMode poll, string mac, int spinUs, int maxSleepUs) => new()
    {
        LocalMac = mac,
        Poll = poll,
        SpinMicroseconds = spinUs,
        MaxSleepMicroseconds = maxSleepUs,
        // Several ports per process on 256 MiB of EAL memory without hugepages: smaller pools than the defaults.
        MempoolSize = 2048,
        RxDescriptors = 256,
        TxDescriptors = 256,
    };

    /// <summary>Rewrites <paramref name="c"/> (addresses, transports, transport options) for <paramref name="transport"/>.</summary>
    /// <param name="c">a cell from <see cref="CellDefinition.Create"/>.</param>
    /// <param name="transport">"dpdk" or "mixed".</param>
    /// <param name="poll">poll mode of every DPDK node.</param>
    /// <param name="dir">per-run directory for memif sockets (short path: sun_path holds 107 bytes).</param>
    /// <param name="spinUs">adaptive polling: µs to spin before sleeping.</param>
    /// <param name="maxSleepUs">adaptive polling: longest sleep, µs.</param>
    /// <exception cref="ConfigException">mixed without root or iproute2, or bad polling values; the message names the fix.</exception>
    /// <param name="doorbells">dpdk cells: every node sleeps on a doorbell file that its peers ring after sending to it.</param>
    public static DpdkTopology Apply(CellConfig c, string transport, DpdkPollMode poll, string dir, int spinUs, int maxSleepUs, bool doorbells = true)
    {
        if (spinUs is < 0 or > 100_000) throw new ConfigException($"--spin-us: {spinUs} is not in 0..100000");
        if (maxSleepUs is < 1 or > 100_000) throw new ConfigException($"--max-sleep-us: {maxSleepUs} is not in 1..100000");
        int n = c.N;
        int pid = Environment.ProcessId;
        if (transport == "dpdk")
        {
            string subnet = "10.250.0.";
            int clientNode = 254;
            var opts = new DpdkOptions[n];
            for (int i = 0; i < n; i++)
            {
                c.Replicas[i].Address = $"{subnet}{10 + i}:{DpdkUdpPort}";
                c.Replicas[i].Transport = "dpdk";
                opts[i] = BaseOptions(poll, Mac(i + 1), spinUs, maxSleepUs);
                // memif is a shared-memory ring between two processes of this host: nothing can corrupt a frame
                // in transit, so the UDP checksum is left 0 ("none", legal for UDP over IPv4). The IPv4 header
                // checksum is still computed and every received non-zero checksum is still verified.
                opts[i].UdpChecksum = false;
            }
            var client = BaseOptions(poll, Mac(clientNode), spinUs, maxSleepUs);
            client.LocalIp = $"{subnet}{clientNode}";
            client.LocalPort = DpdkUdpPort;
            client.UdpChecksum = false;
            // Memif mesh: one socket per pair; replica i serves every j > i and the client.
            for (int i = 0; i < n; i++)
            {
                for (int j = 0; j < n; j++)
                {
                    if (j == i) continue;
                    int a = Math.Min(i, j), b = Math.Max(i, j);
                    AddPort(opts[i], $"role={(i < j ? "server" : "client")},socket={dir}/m{a}-{b}.sock", $"{subnet}{10 + j}", DpdkUdpPort, Mac(j + 1), (uint)j);
                }
                AddPort(opts[i], $"role=server,socket={dir}/m{i}-c.sock", null, 0, null, null);
                AddPort(client, $"role=client,socket={dir}/m{i}-c.sock", $"{subnet}{10 + i}", DpdkUdpPort, Mac(i + 1), (uint)i);
            }
            if (doorbells)
            {
                // Doorbells: node k sleeps on {dir}/bell-k; the peer at the end of each port rings it after sending.
                string Bell(string k) => $"{dir}/bell-{k}";
                for (int i = 0; i < n; i++)
                {
                    opts[i].Doorbell = Bell(i.ToString());
                    for (int j = 0; j < n; j++) if (j != i) opts[i].PeerDoorbells.Add(Bell(j.ToString()));
                    opts[i].PeerDoorbells.Add(Bell("c"));
                    client.PeerDoorbells.Add(Bell(i.ToString()));
                }
                client.Doorbell = Bell("c");
            }
            for (int i = 0; i < n; i++) c.Replicas[i].TransportOptions = JsonSerializer.SerializeToElement(opts[i], TransportFactory.DpdkJson);
            c.Validate();
            TransportFactory.Validate(c);
            return new DpdkTopology(null) { ClientDpdk = client };
        }
        if (transport != "mixed") throw new ConfigException($"--transport: '{transport}' must be udp, dpdk or mixed");

        if (!Environment.IsPrivilegedProcess)
            throw new ConfigException("--transport mixed needs root: DPDK replicas reach the kernel-UDP nodes through net_tap ports on a Linux bridge (run as root, or use --transport dpdk, which needs no privileges)");
        int dpdkCount = (n + 1) / 2;
        string bridge = $"fbbr{pid % 10_000_000}";
        string net = $"10.{200 + pid / 250 % 50}.{pid % 250}.";
        string bridgeMac = "02:fb:ff:00:00:01";
        Ip("link", "add", bridge, "type", "bridge");
        var topo = new DpdkTopology(bridge);
        try
        {
            Ip("link", "set", bridge, "address", bridgeMac);
            Ip("addr", "add", $"{net}1/24", "dev", bridge);
            Ip("link", "set", bridge, "up");
            var kernelIp = IPAddress.Parse($"{net}1");
            var ports = FreeUdpPorts(kernelIp, n - dpdkCount);
            for (int i = 0; i < n; i++)
            {
                bool d = i < dpdkCount;
                c.Replicas[i].Transport = d ? "dpdk" : "udp";
                c.Replicas[i].Address = d ? $"{net}{10 + i}:{DpdkUdpPort}" : $"{net}1:{ports[i - dpdkCount]}";
                c.Replicas[i].TransportOptions = null;
            }
            for (int i = 0; i < dpdkCount; i++)
            {
                var o = BaseOptions(poll, Mac(i + 1), spinUs, maxSleepUs);
                o.Promiscuous = true; // the tap's DPDK-side MAC differs from LocalMac
                o.TapBridge = bridge;
                for (int j = 0; j < dpdkCount; j++)
                {
                    if (j == i) continue;
                    int a = Math.Min(i, j), b = Math.Max(i, j);
                    AddPort(o, $"role={(i < j ? "server" : "client")},socket={dir}/m{a}-{b}.sock", $"{net}{10 + j}", DpdkUdpPort, Mac(j + 1), (uint)j);
                }
                int via = Via(o);
                AddDevice(o, $"net_tap{via},iface=fbt{i}-{pid % 10_000_000}");
                for (int j = dpdkCount; j < n; j++)
                {
                    var ep = IPEndPoint.Parse(c.Replicas[j].Address);
                    o.Neighbors.Add(new DpdkNeighbor(ep.Address.ToString(), ep.Port, bridgeMac, (uint)j) { Via = via });
                }
                c.Replicas[i].TransportOptions = JsonSerializer.SerializeToElement(o, TransportFactory.DpdkJson);
            }
            c.Validate();
            TransportFactory.Validate(c);
            topo.ClientBind = kernelIp;
            return topo;
        }
        catch
        {
            topo.Dispose();
            throw;
        }
    }

    /// <summary>Index the next added device gets.</summary>
    private static int Via(DpdkOptions o) => string.IsNullOrEmpty(o.Device) ? 0 : o.AdditionalDevices.Count + 1;

    private static void AddDevice(DpdkOptions o, string device)
    {
        if (string.IsNullOrEmpty(o.Device)) o.Device = device;
        else o.AdditionalDevices.Add(device);
    }

    /// <summary>Adds a memif port (vdev name net_memifK, K = port index) and, when <paramref name="ip"/> is given, a neighbour through it.</summary>
    private static void AddPort(DpdkOptions o, string memifArgs, string? ip, int port, string? mac, uint? node)
    {
        int via = Via(o);
        AddDevice(o, $"net_memif{via},{memifArgs}");
        if (ip is not null) o.Neighbors.Add(new DpdkNeighbor(ip, port, mac!, node) { Via = via });
    }

    private static int[] FreeUdpPorts(IPAddress address, int count)
    {
        var sockets = new Socket[count];
        var ports = new int[count];
        try
        {
            for (int i = 0; i < count; i++)
            {
                sockets[i] = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                sockets[i].Bind(new IPEndPoint(address, 0));
                ports[i] = ((IPEndPoint)sockets[i].LocalEndPoint!).Port;
            }
        }
        finally
        {
            foreach (var s in sockets) s?.Dispose();
        }
        return ports;
    }

    /// <summary>Runs <c>ip ARGS</c>; throws a <see cref="ConfigException"/> naming the fix when it is missing or fails.</summary>
    private static void Ip(params string[] args)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new ConfigException("--transport mixed needs the 'ip' command (iproute2) to create a bridge for the DPDK replicas' tap ports: apt-get install iproute2");
        }
        using (p)
        {
            string err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0)
                throw new ConfigException($"--transport mixed: 'ip {string.Join(' ', args)}' failed: {err.Trim()} (needs root and bridge support in the kernel)");
        }
    }

    /// <summary>Deletes the bridge of a mixed cell (tap interfaces vanish with their DPDK processes).</summary>
    public void Dispose()
    {
        if (_bridge is null) return;
        try
        {
            using var p = Process.Start(new ProcessStartInfo("ip", ["link", "del", _bridge]) { RedirectStandardError = true, UseShellExecute = false });
            p?.WaitForExit(5000);
        }
        catch (System.ComponentModel.Win32Exception) { }
    }
}
