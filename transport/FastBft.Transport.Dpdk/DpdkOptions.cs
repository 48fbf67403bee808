using System.Net;
using System.Net.Sockets;

namespace FastBft.Transport.Dpdk;

/// <summary>How the DPDK I/O thread waits for received frames.</summary>
public enum DpdkPollMode
{
    /// <summary>Spin on rx bursts for the whole wait. Lowest latency; right only on a dedicated core.</summary>
    Busy,
    /// <summary>Spin for <see cref="DpdkOptions.SpinMicroseconds"/>, then wait on the rx interrupt
    /// (when the device has one) or back off with short sleeps growing to
    /// <see cref="DpdkOptions.MaxSleepMicroseconds"/>. Right for shared cores.</summary>
    Adaptive,
    /// <summary>Sleep on the rx interrupt at once. Falls back to <see cref="Adaptive"/> when the device
    /// has no rx interrupt (e.g. net_memif in DPDK 22.11); see <see cref="DpdkLink.RxInterruptAvailable"/>.</summary>
    Interrupt,
}

/// <summary>A static neighbour: the IPv4 address, UDP port and MAC address of a peer endpoint.</summary>
public sealed class DpdkNeighbor
{
    /// <summary>IPv4 address, dotted quad (e.g. "10.0.0.2").</summary>
    public string Ip { get; set; } = "";
    /// <summary>UDP port (1-65535).</summary>
    public int Port { get; set; }
    /// <summary>MAC address ("02:00:00:00:00:02"); frames to this neighbour use it as destination.</summary>
    public string Mac { get; set; } = "";
    /// <summary>Node id reached at this endpoint (replica id); <see cref="DpdkTransport.Create"/> routes it statically. Optional.</summary>
    public uint? NodeId { get; set; }

    /// <summary>Which port of the link reaches this neighbour: 0 = <see cref="DpdkOptions.Device"/>,
    /// i ≥ 1 = <see cref="DpdkOptions.AdditionalDevices"/>[i − 1]. Default 0.</summary>
    public int Via { get; set; }

    /// <summary>Creates an empty neighbour (for configuration binding).</summary>
    public DpdkNeighbor() { }

    /// <summary>Creates a neighbour.</summary>
    public DpdkNeighbor(string ip, int port, string mac, uint? nodeId = null)
    {
        Ip = ip;
        Port = port;
        Mac = mac;
        NodeId = nodeId;
    }
}

/// <summary>
/// Configuration of one DPDK link (one port, one I/O thread). Shaped so a cell configuration can
/// carry one instance per replica (plain settable properties, JSON-bindable). Call
/// <see cref="Validate"/> (DpdkLink does) to get a message naming the bad field.
/// </summary>
public sealed class DpdkOptions
{
    /// <summary>EAL arguments without argv[0]. Null: <see cref="DefaultEalArgs"/> (no hugepages, no PCI,
    /// a file prefix unique to the process). EAL is initialised once per process; later links reuse it.</summary>
    public string[]? EalArgs { get; set; }

    /// <summary>Device string: a vdev devargs string ("net_memif0,role=server,socket=/tmp/x.sock",
    /// "net_af_packet0,iface=veth0", "net_af_xdp0,iface=veth0", "net_tap0,iface=dtap0"), a PCI address
    /// ("0000:01:00.0", needs EAL args without --no-pci) or the name of a port created by --vdev.</summary>
    public string Device { get; set; } = "";

    /// <summary>Further devices polled by the same link (one I/O thread, one peer table), e.g. one net_memif port
    /// per peer plus a net_tap port towards the kernel. Port i ≥ 1 of the link is entry i − 1; a neighbour
    /// names its port in <see cref="DpdkNeighbor.Via"/>; learned sources are answered on the port they came from.
    /// Every vdev needs a unique name within the process (net_memif0, net_memif1, ...). Default empty.</summary>
    public List<string> AdditionalDevices { get; set; } = new();

    /// <summary>Linux bridge that the kernel interface of every net_tap port (its <c>iface=</c>) is attached to
    /// after the port opens (<c>ip link set IFACE master BRIDGE up</c>; needs root and iproute2). Null: none.</summary>
    public string? TapBridge { get; set; }

    /// <summary>
    /// Doorbell file of this link (created if missing): when it has nothing to receive, the adaptive poller
    /// publishes "sleeping" in the file's first word and sleeps on it (a futex on a shared mapping) instead
    /// of a timer; peers that know the file (<see cref="PeerDoorbells"/>) wake it after transmitting to it.
    /// A wake-up that costs the sender one system call only while the receiver sleeps, for devices without rx
    /// interrupts (net_memif). Sleeps are still bounded by <see cref="MaxSleepMicroseconds"/> × 50 (peers
    /// without a doorbell are polled at that period). Null: timer back-off only. Use a tmpfs path (/dev/shm, /run).
    /// </summary>
    public string? Doorbell { get; set; }

    /// <summary>Doorbell file of the process at the other end of each port (index as in <see cref="DpdkNeighbor.Via"/>;
    /// null or missing entries: none). After a transmit burst on port i the link wakes that peer if it sleeps.</summary>
    public List<string?> PeerDoorbells { get; set; } = new();

    /// <summary>Local MAC address, used on every port of the link; null or empty: the first device's MAC.</summary>
    public string? LocalMac { get; set; }

    /// <summary>Local IPv4 address (dotted quad). Required.</summary>
    public string LocalIp { get; set; } = "";

    /// <summary>Local UDP port (1-65535). Required.</summary>
    public int LocalPort { get; set; }

    /// <summary>Static neighbour table; peer handle i of the link is entry i (also the handle a datagram from that
    /// endpoint arrives with).</summary>
    public List<DpdkNeighbor> Neighbors { get; set; } = new();

    /// <summary>How the I/O thread waits for frames. Default <see cref="DpdkPollMode.Adaptive"/>.</summary>
    public DpdkPollMode Poll { get; set; } = DpdkPollMode.Adaptive;

    /// <summary>Adaptive mode: microseconds to spin before backing off (0-100000). Default 50.</summary>
    public int SpinMicroseconds { get; set; } = 50;

    /// <summary>Adaptive mode without rx interrupt: longest back-off sleep in microseconds (1-100000). Default 200.</summary>
    public int MaxSleepMicroseconds { get; set; } = 200;

    /// <summary>CPU to pin the I/O thread to (the thread that first uses the link); null: no pinning.</summary>
    public int? IoCore { get; set; }

    /// <summary>IP MTU in bytes (576-9000); the largest datagram is MTU − 28. Default 1500 (1,472 B datagrams).</summary>
    public int Mtu { get; set; } = 1500;

    /// <summary>Mbufs in the port's mempool (≥ 2 × (RxDescriptors + TxDescriptors)). Default 8191.</summary>
    public int MempoolSize { get; set; } = 8191;

    /// <summary>Rx ring descriptors (64-16384). Default 1024.</summary>
    public int RxDescriptors { get; set; } = 1024;

    /// <summary>Tx ring descriptors (64-16384). Default 1024.</summary>
    public int TxDescriptors { get; set; } = 1024;

    /// <summary>Frames per rx burst and per tx batch (1-512). Default 32.</summary>
    public int Burst { get; set; } = 32;

    /// <summary>Use the device's IPv4/UDP checksum offload when it has one. Default true.</summary>
    public bool ChecksumOffload { get; set; } = true;

    /// <summary>Compute UDP checksums in software when there is no offload (false: send 0 = no checksum,
    /// legal for UDP over IPv4). Received non-zero checksums are always verified. Default true.</summary>
    public bool UdpChecksum { get; set; } = true;

    /// <summary>Answer ARP requests for <see cref="LocalIp"/> (lets kernel hosts resolve us). Default true.</summary>
    public bool AnswerArp { get; set; } = true;

    /// <summary>Enable promiscuous mode (needed when <see cref="LocalMac"/> differs from the device's). Default false.</summary>
    public bool Promiscuous { get; set; }

    /// <summary>Source endpoints not configured that get a peer handle on first datagram (1-262144); beyond it
    /// the oldest learned handle is recycled (and becomes stale). Default 4096.</summary>
    public int MaxLearnedPeers { get; set; } = 4096;

    /// <summary>Most configured peers (neighbours + DpdkLink.AddPeer), 1-262144. Default 1024.</summary>
    public int MaxConfiguredPeers { get; set; } = 1024;

    /// <summary>The EAL arguments used when <see cref="EalArgs"/> is null: no hugepages, 256 MiB, no PCI,
    /// no telemetry, error-level logs, a per-process file prefix.</summary>
    public static string[] DefaultEalArgs() =>
    [
        "--no-huge", "-m", "256", "--no-pci", "--no-telemetry", "--log-level=4",
        $"--file-prefix=fastbft-{Environment.ProcessId}",
    ];

    /// <summary>Checks every field; returns this instance.</summary>
    /// <exception cref="DpdkConfigException">a field is missing or out of range; the message names it.</exception>
    public DpdkOptions Validate()
    {
        if (string.IsNullOrWhiteSpace(Device))
            throw new DpdkConfigException("dpdk.device", "is required (e.g. \"net_memif0,role=server,socket=/tmp/fastbft.sock\")");
        if (!TryParseIpv4(LocalIp, out _))
            throw new DpdkConfigException("dpdk.localIp", $"'{LocalIp}' is not an IPv4 address");
        if (LocalPort is < 1 or > 65535)
            throw new DpdkConfigException("dpdk.localPort", $"{LocalPort} is not in 1..65535");
        if (!string.IsNullOrEmpty(LocalMac) && !MacAddress.TryParse(LocalMac, out _))
            throw new DpdkConfigException("dpdk.localMac", $"'{LocalMac}' is not a MAC address (aa:bb:cc:dd:ee:ff)");
        for (int i = 0; i < Neighbors.Count; i++)
        {
            var n = Neighbors[i] ?? throw new DpdkConfigException($"dpdk.neighbors[{i}]", "is null");
            if (!TryParseIpv4(n.Ip, out _))
                throw new DpdkConfigException($"dpdk.neighbors[{i}].ip", $"'{n.Ip}' is not an IPv4 address");
            if (n.Port is < 1 or > 65535)
                throw new DpdkConfigException($"dpdk.neighbors[{i}].port", $"{n.Port} is not in 1..65535");
            if (!MacAddress.TryParse(n.Mac, out var mac) || mac.IsMulticast)
                throw new DpdkConfigException($"dpdk.neighbors[{i}].mac", $"'{n.Mac}' is not a unicast MAC address");
            if (n.Via < 0 || n.Via > AdditionalDevices.Count)
                throw new DpdkConfigException($"dpdk.neighbors[{i}].via", AdditionalDevices.Count == 0
                    ? $"{n.Via} is not a port of this link: it has only port 0 (the device); list further ports in additional devices"
                    : $"{n.Via} is not a port of this link (0 = the device, 1..{AdditionalDevices.Count} = the additional devices)");
            for (int j = 0; j < i; j++)
            {
                if (Neighbors[j].Ip == n.Ip && Neighbors[j].Port == n.Port)
                    throw new DpdkConfigException($"dpdk.neighbors[{i}]", $"duplicates neighbors[{j}] ({n.Ip}:{n.Port})");
                if (n.NodeId is not null && Neighbors[j].NodeId == n.NodeId)
                    throw new DpdkConfigException($"dpdk.neighbors[{i}].nodeId", $"{n.NodeId} is also neighbors[{j}].nodeId");
            }
        }
        for (int i = 0; i < AdditionalDevices.Count; i++)
            if (string.IsNullOrWhiteSpace(AdditionalDevices[i]))
                throw new DpdkConfigException($"dpdk.additionalDevices[{i}]", "is empty (a device string like \"net_memif1,role=client,socket=/tmp/x.sock\")");
        if (AdditionalDevices.Count > 63) throw new DpdkConfigException("dpdk.additionalDevices", $"has {AdditionalDevices.Count} entries; at most 63 ports per link");
        if (TapBridge is not null && (TapBridge.Length is 0 or > 15 || TapBridge.Any(ch => char.IsWhiteSpace(ch) || ch == '/')))
            throw new DpdkConfigException("dpdk.tapBridge", $"'{TapBridge}' is not a Linux interface name (1-15 characters, no spaces or '/')");
        if (PeerDoorbells.Count > AdditionalDevices.Count + 1)
            throw new DpdkConfigException("dpdk.peerDoorbells", $"has {PeerDoorbells.Count} entries for {AdditionalDevices.Count + 1} ports");
        if (Doorbell is { Length: 0 }) throw new DpdkConfigException("dpdk.doorbell", "is empty (a file path, e.g. /dev/shm/fastbft-r0.bell, or null)");
        if (SpinMicroseconds is < 0 or > 100_000) throw new DpdkConfigException("dpdk.spinMicroseconds", $"{SpinMicroseconds} is not in 0..100000");
        if (MaxSleepMicroseconds is < 1 or > 100_000) throw new DpdkConfigException("dpdk.maxSleepMicroseconds", $"{MaxSleepMicroseconds} is not in 1..100000");
        if (IoCore is < 0 or > 1023) throw new DpdkConfigException("dpdk.ioCore", $"{IoCore} is not a CPU number");
        if (Mtu is < 576 or > 9000) throw new DpdkConfigException("dpdk.mtu", $"{Mtu} is not in 576..9000");
        if (RxDescriptors is < 64 or > 16384) throw new DpdkConfigException("dpdk.rxDescriptors", $"{RxDescriptors} is not in 64..16384");
        if (TxDescriptors is < 64 or > 16384) throw new DpdkConfigException("dpdk.txDescriptors", $"{TxDescriptors} is not in 64..16384");
        if (Burst is < 1 or > 512) throw new DpdkConfigException("dpdk.burst", $"{Burst} is not in 1..512");
        if (MempoolSize < 2 * (RxDescriptors + TxDescriptors) || MempoolSize > 1 << 22)
            throw new DpdkConfigException("dpdk.mempoolSize", $"{MempoolSize} must be ≥ 2 × (rxDescriptors + txDescriptors) = {2 * (RxDescriptors + TxDescriptors)} and ≤ 4194304");
        if (MaxLearnedPeers is < 1 or > 262144) throw new DpdkConfigException("dpdk.maxLearnedPeers", $"{MaxLearnedPeers} is not in 1..262144");
        if (MaxConfiguredPeers is < 1 or > 262144) throw new DpdkConfigException("dpdk.maxConfiguredPeers", $"{MaxConfiguredPeers} is not in 1..262144");
        if (Neighbors.Count > MaxConfiguredPeers) throw new DpdkConfigException("dpdk.neighbors", $"has {Neighbors.Count} entries, more than dpdk.maxConfiguredPeers ({MaxConfiguredPeers})");
        if (EalArgs is { } args && args.Any(a => a is null))
            throw new DpdkConfigException("dpdk.ealArgs", "contains a null entry");
        return this;
    }

    /// <summary>Largest UDP payload for <see cref="Mtu"/> (bytes).</summary>
    public int MaxDatagramSize => Mtu - 28;

    /// <summary>Parses a dotted-quad IPv4 address into a host-order integer.</summary>
    public static bool TryParseIpv4(string? text, out uint address)
    {
        address = 0;
        if (string.IsNullOrWhiteSpace(text) || text.Split('.').Length != 4 || !IPAddress.TryParse(text, out var ip)
            || ip.AddressFamily != AddressFamily.InterNetwork)
            return false;
        Span<byte> b = stackalloc byte[4];
        ip.TryWriteBytes(b, out _);
        address = (uint)(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]);
        return true;
    }
}

/// <summary>A configuration value is missing or invalid.</summary>
public sealed class DpdkConfigException : Exception
{
    /// <summary>The configuration field at fault (e.g. "dpdk.neighbors[2].mac").</summary>
    public string Field { get; }

    /// <summary>Creates the exception for <paramref name="field"/>.</summary>
    public DpdkConfigException(string field, string problem) : base($"{field} {problem}") => Field = field;
}

/// <summary>Why DPDK could not start.</summary>
public enum DpdkFailure
{
    /// <summary>libfastbft_dpdk.so or the DPDK libraries are missing.</summary>
    NotInstalled,
    /// <summary>The process lacks a permission (root, capabilities, a writable runtime directory).</summary>
    Permission,
    /// <summary>rte_eal_init failed for another reason (bad EAL arguments, file prefix in use, memory).</summary>
    EalInit,
    /// <summary>The device could not be probed, configured or started.</summary>
    Device,
}

/// <summary>DPDK could not start; <see cref="Exception.Message"/> names the fix.</summary>
public sealed class DpdkException : Exception
{
    /// <summary>The kind of failure.</summary>
    public DpdkFailure Failure { get; }

    /// <summary>The negative errno from the shim, or 0.</summary>
    public int ErrorCode { get; }

    /// <summary>Creates the exception.</summary>
    public DpdkException(DpdkFailure failure, string message, int errorCode = 0, Exception? inner = null)
        : base(message, inner)
    {
        Failure = failure;
        ErrorCode = errorCode;
    }
}
