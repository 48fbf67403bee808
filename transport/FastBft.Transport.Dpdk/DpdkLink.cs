using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;

namespace FastBft.Transport.Dpdk;

/// <summary>
/// An <see cref="IDatagramLink"/> over one or more DPDK ports (<see cref="DpdkOptions.Device"/> plus
/// <see cref="DpdkOptions.AdditionalDevices"/>, all polled by one I/O thread): Ethernet/IPv4/UDP framing in C#, a static
/// neighbour table (peer handle i = <see cref="DpdkOptions.Neighbors"/>[i]; unknown sources get
/// handles on first datagram up to <see cref="DpdkOptions.MaxLearnedPeers"/>), ARP replies for our
/// address, batched transmit (frames are built directly in mbufs and sent with one tx burst per
/// <see cref="FlushDatagrams"/>) and zero-copy receive (the sink's span is the mbuf payload, freed
/// after the call). The UDP payloads are byte-identical to those of a kernel UDP link, so a DPDK
/// node and a kernel-UDP node can talk when the device reaches the kernel (tap, af_packet, a NIC).
/// </summary>
/// <remarks>
/// Dedicated to one I/O thread: <see cref="SendDatagram"/>, <see cref="FlushDatagrams"/> and
/// <see cref="ReceiveDatagrams"/> must be called from one thread (registered with DPDK on first use
/// and pinned to <see cref="DpdkOptions.IoCore"/> if set). No allocation per packet in steady state.
/// </remarks>
public sealed unsafe class DpdkLink : IDatagramLink
{
    [ThreadStatic] private static bool t_registered;

    private readonly DpdkOptions _options;
    private readonly int _burst;
    private readonly long _spinTicks;

    /// <summary>One DPDK port of the link with its own transmit staging area.</summary>
    private sealed class PortState
    {
        public ushort Id;
        public int TxCapacity;
        public uint TxFlags;
        public EthernetUdpCodec.ChecksumMode ChecksumMode;
        public bool RxIntr;
        public string Driver = "";
        public MacAddress DeviceMac;
        public nint* TxMbufs;
        public byte** TxData;
        public ushort* TxLens;
        public int[] TxPayload = []; // payload bytes per staged frame; -1 for ARP/raw
        public int TxPending;   // frames written, not yet sent
        public int TxAllocated; // mbufs allocated in the staging area (≥ TxPending)
        public int* PeerBell;   // doorbell word of the process at the other end, or null
    }

    // Doorbells: shared file mappings (first 32-bit word: 1 = the owner sleeps on it).
    private readonly List<(System.IO.MemoryMappedFiles.MemoryMappedFile File, System.IO.MemoryMappedFiles.MemoryMappedViewAccessor View)> _bellMaps = new();
    private readonly int* _bell;

    private readonly PortState[] _ports;
    private readonly PortState _port0;

    // Native rx arrays, shared by all ports (each burst is delivered and freed before the next port is polled).
    private readonly nint* _rxMbufs;
    private readonly byte** _rxData;
    private readonly uint* _rxLenFlags;
    private ushort _ipId;
    private int _rxNext; // round-robin start port

    // Peer table: slots [0, _staticCount) are configured, [_learnedBase, _learnedBase + _maxLearned) learned.
    // A handle is slot | generation << SlotBits; recycling a learned slot bumps its generation.
    private const int SlotBits = 20;
    private const int SlotMask = (1 << SlotBits) - 1;
    private const int GenerationMask = 0x7FF;
    private readonly MacAddress[] _peerMac;
    private readonly uint[] _peerIp;
    private readonly ushort[] _peerPort;
    private readonly byte[] _peerVia; // port index
    private readonly int[] _generation;
    private readonly bool[] _slotUsed;
    private readonly int _learnedBase;
    private readonly int _maxLearned;
    private int _staticCount;
    private int _learnedUsed;
    private int _learnedNextRecycle;
    private readonly Dictionary<ulong, int> _peerIndex = new();

    private bool _disposed;

    /// <summary>Opens and starts the port described by <paramref name="options"/> (initialising EAL first
    /// if needed). Does not wait for the link: see <see cref="WaitForLinkUp"/>.</summary>
    /// <param name="options">validated here.</param>
    /// <param name="stats">counters to share with the transport built on this link; null: new.</param>
    /// <exception cref="DpdkConfigException">invalid options (message names the field).</exception>
    /// <exception cref="DpdkException">DPDK missing, no permission, EAL or device failure (message names the fix).</exception>
    public DpdkLink(DpdkOptions options, TransportStats? stats = null)
    {
        _options = options.Validate();
        Stats = stats ?? new TransportStats();
        DpdkEnvironment.EnsureInitialized(options.EalArgs ?? DpdkOptions.DefaultEalArgs());

        DpdkOptions.TryParseIpv4(options.LocalIp, out uint localIp);
        LocalIp = localIp;
        LocalPort = (ushort)options.LocalPort;
        MaxDatagramSize = options.MaxDatagramSize;
        _burst = options.Burst;

        var devices = new List<string> { options.Device };
        devices.AddRange(options.AdditionalDevices);
        _ports = new PortState[devices.Count];
        try
        {
            for (int i = 0; i < devices.Count; i++) _ports[i] = OpenPort(devices[i], options);
        }
        catch
        {
            foreach (var ps in _ports) if (ps is not null) ClosePort(ps);
            throw;
        }
        _port0 = _ports[0];
        PortId = _port0.Id;
        DeviceMac = _port0.DeviceMac;
        LocalMac = string.IsNullOrEmpty(options.LocalMac) ? DeviceMac : MacAddress.Parse(options.LocalMac);
        Driver = _port0.Driver;
        ChecksumOffload = _ports.All(ps => ps.TxFlags != 0);
        // The rx interrupt is used only by single-port links (waiting on several ports' interrupts is not implemented).
        RxInterruptAvailable = _ports.Length == 1 && _port0.RxIntr;
        EffectivePollMode = options.Poll == DpdkPollMode.Interrupt && !RxInterruptAvailable ? DpdkPollMode.Adaptive : options.Poll;
        _spinTicks = options.SpinMicroseconds * Stopwatch.Frequency / 1_000_000;

        _rxMbufs = (nint*)NativeMemory.AllocZeroed((nuint)_burst, (nuint)sizeof(nint));
        _rxData = (byte**)NativeMemory.AllocZeroed((nuint)_burst, (nuint)sizeof(nint));
        _rxLenFlags = (uint*)NativeMemory.AllocZeroed((nuint)_burst, sizeof(uint));
        try
        {
            if (options.Doorbell is { } own) _bell = MapDoorbell(own);
            for (int i = 0; i < options.PeerDoorbells.Count && i < _ports.Length; i++)
                if (options.PeerDoorbells[i] is { Length: > 0 } peer) _ports[i].PeerBell = MapDoorbell(peer);
        }
        catch
        {
            Dispose();
            throw;
        }

        _learnedBase = Math.Max(options.MaxConfiguredPeers, options.Neighbors.Count);
        _maxLearned = options.MaxLearnedPeers;
        int slots = _learnedBase + _maxLearned;
        _peerMac = new MacAddress[slots];
        _peerIp = new uint[slots];
        _peerPort = new ushort[slots];
        _peerVia = new byte[slots];
        _generation = new int[slots];
        _slotUsed = new bool[slots];
        foreach (var n in options.Neighbors)
        {
            DpdkOptions.TryParseIpv4(n.Ip, out uint ip);
            AddPeer(ip, (ushort)n.Port, MacAddress.Parse(n.Mac), n.Via);
        }
    }

    /// <summary>Maps the first 64 bytes of a doorbell file (created if missing) shared with other processes.</summary>
    private int* MapDoorbell(string path)
    {
        try
        {
            var file = System.IO.MemoryMappedFiles.MemoryMappedFile.CreateFromFile(path, FileMode.OpenOrCreate, null, 64,
                System.IO.MemoryMappedFiles.MemoryMappedFileAccess.ReadWrite);
            var view = file.CreateViewAccessor(0, 64);
            _bellMaps.Add((file, view));
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            return (int*)(p + view.PointerOffset);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DpdkException(DpdkFailure.Device, $"cannot map doorbell file '{path}': {e.Message}. Fix: use a writable tmpfs path (dpdk.doorbell / dpdk.peerDoorbells).", 0, e);
        }
    }

    private PortState OpenPort(string device, DpdkOptions options)
    {
        var conf = new Native.PortConf
        {
            NbMbufs = (uint)options.MempoolSize,
            DataRoom = (uint)(128 + Math.Max(2048, options.Mtu + 18)),
            RxDesc = (ushort)options.RxDescriptors,
            TxDesc = (ushort)options.TxDescriptors,
            Mtu = (ushort)(options.Mtu == 1500 ? 0 : options.Mtu),
            WantRxIntr = (ushort)(options.Poll == DpdkPollMode.Busy ? 0 : 1),
            WantOffload = (ushort)(options.ChecksumOffload ? 1 : 0),
            Promiscuous = (ushort)(options.Promiscuous ? 1 : 0),
        };
        Native.PortInfo info;
        const int errLen = 512;
        byte* err = stackalloc byte[errLen];
        err[0] = 0;
        int rc;
        byte[] dev = Encoding.UTF8.GetBytes(device + "\0");
        fixed (byte* d = dev) rc = Native.PortOpen(d, &conf, &info, err, errLen);
        if (rc < 0)
        {
            string detail = DpdkEnvironment.ReadCString(err, errLen);
            if (-rc is 1 or 13)
                throw new DpdkException(DpdkFailure.Permission,
                    $"cannot open DPDK device '{device}': {detail}. Fix: net_af_packet, net_af_xdp and net_tap need root or CAP_NET_RAW+CAP_NET_ADMIN; a PCI NIC needs vfio-pci/uio binding and root.", rc);
            throw new DpdkException(DpdkFailure.Device,
                $"cannot open DPDK device '{device}': {detail}. Fix: check dpdk.device / dpdk.additionalDevices (e.g. net_memif0,role=server,socket=/tmp/x.sock; " +
                "a memif client needs its server started first; every vdev name must be unique in the process; net_af_packet0,iface=<existing interface>; a PCI address needs EAL args without --no-pci).", rc);
        }
        var ps = new PortState
        {
            Id = (ushort)rc,
            DeviceMac = MacAddress.Read(new ReadOnlySpan<byte>(info.Mac, 6)),
            Driver = DpdkEnvironment.ReadCString(info.Driver, 32),
            TxCapacity = (int)info.TxCapacity,
            RxIntr = (info.Caps & Native.CapRxIntr) != 0,
        };
        bool txOffload = (info.Caps & (Native.CapTxIpv4Cksum | Native.CapTxUdpCksum)) == (Native.CapTxIpv4Cksum | Native.CapTxUdpCksum);
        ps.TxFlags = txOffload ? Native.TxCksumOffload : 0;
        ps.ChecksumMode = txOffload ? EthernetUdpCodec.ChecksumMode.Offload
            : options.UdpChecksum ? EthernetUdpCodec.ChecksumMode.Software : EthernetUdpCodec.ChecksumMode.NoUdpChecksum;
        ps.TxMbufs = (nint*)NativeMemory.AllocZeroed((nuint)_burst, (nuint)sizeof(nint));
        ps.TxData = (byte**)NativeMemory.AllocZeroed((nuint)_burst, (nuint)sizeof(nint));
        ps.TxLens = (ushort*)NativeMemory.AllocZeroed((nuint)_burst, sizeof(ushort));
        ps.TxPayload = new int[_burst];
        if (options.TapBridge is { } bridge && device.StartsWith("net_tap", StringComparison.Ordinal))
        {
            try { AttachTapToBridge(device, bridge); }
            catch { ClosePort(ps); throw; }
        }
        return ps;
    }

    private static void ClosePort(PortState ps)
    {
        if (ps.TxAllocated > 0) Native.FreeBulk(ps.TxMbufs, ps.TxAllocated);
        ps.TxAllocated = ps.TxPending = 0;
        Native.PortClose(ps.Id);
        NativeMemory.Free(ps.TxMbufs);
        NativeMemory.Free(ps.TxData);
        NativeMemory.Free(ps.TxLens);
        ps.TxMbufs = null;
        ps.TxData = null;
        ps.TxLens = null;
    }

    /// <summary>Runs <c>ip link set IFACE master BRIDGE up</c> for a net_tap device string with <c>iface=</c>.</summary>
    private static void AttachTapToBridge(string device, string bridge)
    {
        string? iface = device.Split(',').Select(p => p.Trim()).FirstOrDefault(p => p.StartsWith("iface=", StringComparison.Ordinal))?["iface=".Length..];
        if (string.IsNullOrEmpty(iface))
            throw new DpdkConfigException("dpdk.tapBridge", $"needs the tap device to name its kernel interface: add iface=<name> to '{device}'");
        string output;
        int exit;
        try
        {
            using var p = Process.Start(new ProcessStartInfo("ip", ["link", "set", iface, "master", bridge, "up"])
            {
                RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false,
            })!;
            output = p.StandardError.ReadToEnd();
            p.WaitForExit();
            exit = p.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new DpdkException(DpdkFailure.Device, $"cannot attach tap '{iface}' to bridge '{bridge}': the 'ip' command is missing ({e.Message}). Fix: apt-get install iproute2.");
        }
        if (exit != 0)
            throw new DpdkException(exit == 2 && output.Contains("permitted", StringComparison.OrdinalIgnoreCase) ? DpdkFailure.Permission : DpdkFailure.Device,
                $"cannot attach tap '{iface}' to bridge '{bridge}': ip link set {iface} master {bridge} up: {output.Trim()}. Fix: create the bridge first (ip link add {bridge} type bridge) and run as root.");
    }

    /// <inheritdoc />
    public int MaxDatagramSize { get; }

    /// <inheritdoc />
    public TransportStats Stats { get; }

    /// <summary>Per-reason drop counters and DPDK-specific counters.</summary>
    public DpdkStats DpdkStats { get; } = new();

    /// <summary>DPDK port id of port 0 (<see cref="DpdkOptions.Device"/>).</summary>
    public int PortId { get; }

    /// <summary>The PMD's name (e.g. "net_memif").</summary>
    public string Driver { get; }

    /// <summary>The device's MAC address.</summary>
    public MacAddress DeviceMac { get; }

    /// <summary>Our MAC address (configured, else the device's).</summary>
    public MacAddress LocalMac { get; }

    /// <summary>Our IPv4 address, host order.</summary>
    public uint LocalIp { get; }

    /// <summary>Our UDP port.</summary>
    public ushort LocalPort { get; }

    /// <summary>True when the device computes IPv4/UDP checksums on transmit.</summary>
    public bool ChecksumOffload { get; }

    /// <summary>True when the device has a usable rx interrupt (needed by <see cref="DpdkPollMode.Interrupt"/>).</summary>
    public bool RxInterruptAvailable { get; }

    /// <summary>The poll mode in effect (Interrupt falls back to Adaptive without an rx interrupt).</summary>
    public DpdkPollMode EffectivePollMode { get; }

    /// <summary>Configured peers (neighbours + <see cref="AddPeer(IPEndPoint, MacAddress)"/>).</summary>
    public int ConfiguredPeerCount => _staticCount;

    /// <summary>Learned source endpoints currently holding a slot.</summary>
    public int LearnedPeerCount => _learnedUsed;

    /// <summary>Link state from the device(s): true when every port of the link is up (non-blocking).</summary>
    /// <exception cref="ObjectDisposedException">after Dispose.</exception>
    public bool IsLinkUp
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            for (int i = 0; i < _ports.Length; i++)
                if (!IsPortUp(i)) return false;
            return true;
        }
    }

    /// <summary>Number of DPDK ports polled by this link (1 + <see cref="DpdkOptions.AdditionalDevices"/>).</summary>
    public int PortCount => _ports.Length;

    /// <summary>Link state of port <paramref name="index"/> (0 = <see cref="DpdkOptions.Device"/>), non-blocking.</summary>
    /// <exception cref="ObjectDisposedException">after Dispose.</exception>
    /// <exception cref="ArgumentOutOfRangeException">no such port.</exception>
    public bool IsPortUp(int index)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _ports.Length);
        int up = 0;
        uint speed = 0;
        return Native.Link(_ports[index].Id, &up, &speed) == 0 && up != 0;
    }

    /// <summary>Sleeps in 10 ms steps until the link is up or <paramref name="timeout"/> passes; returns the state.</summary>
    /// <exception cref="ObjectDisposedException">after Dispose.</exception>
    public bool WaitForLinkUp(TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (!IsLinkUp)
        {
            if (sw.Elapsed >= timeout) return false;
            Thread.Sleep(10);
        }
        return true;
    }

    /// <summary>Sleeps in 10 ms steps until the link is down or <paramref name="timeout"/> passes; returns true if down.</summary>
    /// <exception cref="ObjectDisposedException">after Dispose.</exception>
    public bool WaitForLinkDown(TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (IsLinkUp)
        {
            if (sw.Elapsed >= timeout) return false;
            Thread.Sleep(10);
        }
        return true;
    }

    /// <summary>Reads the device counters (rte_eth_stats_get) of port 0.</summary>
    /// <exception cref="ObjectDisposedException">after Dispose.</exception>
    public DpdkDeviceStats ReadDeviceStats()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ulong* c = stackalloc ulong[8];
        if (Native.Stats(_port0.Id, c) < 0) return default;
        return new DpdkDeviceStats(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
    }

    /// <summary>
    /// Registers a configured peer (IPv4 endpoint + MAC) and returns its handle; the same handle if the
    /// endpoint is already configured. A learned handle for the same endpoint becomes stale.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="endPoint"/> is null.</exception>
    /// <exception cref="ArgumentException">not IPv4, or a multicast MAC.</exception>
    /// <exception cref="InvalidOperationException">more than <see cref="DpdkOptions.MaxConfiguredPeers"/> peers.</exception>
    public int AddPeer(IPEndPoint endPoint, MacAddress mac) => AddPeer(endPoint, mac, 0);

    /// <summary>
    /// Registers a configured peer reached through port <paramref name="via"/> (0 = <see cref="DpdkOptions.Device"/>,
    /// i ≥ 1 = <see cref="DpdkOptions.AdditionalDevices"/>[i − 1]) and returns its handle.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="endPoint"/> is null.</exception>
    /// <exception cref="ArgumentException">not IPv4, or a multicast MAC.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="via"/> is not a port of this link.</exception>
    /// <exception cref="InvalidOperationException">more than <see cref="DpdkOptions.MaxConfiguredPeers"/> peers.</exception>
    public int AddPeer(IPEndPoint endPoint, MacAddress mac, int via)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (!DpdkOptions.TryParseIpv4(endPoint.Address.ToString(), out uint ip))
            throw new ArgumentException("endPoint must be an IPv4 endpoint", nameof(endPoint));
        if (mac.IsMulticast) throw new ArgumentException("mac must be unicast", nameof(mac));
        ArgumentOutOfRangeException.ThrowIfNegative(via);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(via, _ports.Length);
        return AddPeer(ip, (ushort)endPoint.Port, mac, via);
    }

    private int AddPeer(uint ip, ushort port, MacAddress mac, int via)
    {
        ulong key = Key(ip, port);
        if (_peerIndex.TryGetValue(key, out int existing))
        {
            if (existing < _learnedBase)
            {
                _peerMac[existing] = mac;
                _peerVia[existing] = (byte)via;
                return existing;
            }
            _peerIndex.Remove(key);
            _slotUsed[existing] = false;
            _generation[existing] = (_generation[existing] + 1) & GenerationMask;
        }
        if (_staticCount == _learnedBase) throw new InvalidOperationException($"more than dpdk.maxConfiguredPeers ({_learnedBase}) peers");
        int slot = _staticCount++;
        _peerMac[slot] = mac;
        _peerIp[slot] = ip;
        _peerPort[slot] = port;
        _peerVia[slot] = (byte)via;
        _slotUsed[slot] = true;
        _peerIndex[key] = slot;
        return slot;
    }

    /// <summary>The handle of <paramref name="endPoint"/> (configured or learned), or -1.</summary>
    public int FindPeer(IPEndPoint endPoint)
    {
        if (!DpdkOptions.TryParseIpv4(endPoint.Address.ToString(), out uint ip)) return -1;
        return _peerIndex.TryGetValue(Key(ip, (ushort)endPoint.Port), out int slot) ? slot | _generation[slot] << SlotBits : -1;
    }

    private bool TryResolve(int peer, out int slot)
    {
        slot = peer & SlotMask;
        return peer >= 0 && slot < _slotUsed.Length && _slotUsed[slot] && (peer >> SlotBits) == _generation[slot];
    }

    /// <summary>IPv4 endpoint of a handle, or null if unknown or stale (allocates; diagnostics).</summary>
    public IPEndPoint? GetEndPoint(int peer)
    {
        if (!TryResolve(peer, out int s)) return null;
        uint ip = _peerIp[s];
        return new IPEndPoint(new IPAddress(new[] { (byte)(ip >> 24), (byte)(ip >> 16), (byte)(ip >> 8), (byte)ip }), _peerPort[s]);
    }

    /// <summary>MAC address of a handle, or null if unknown or stale.</summary>
    public MacAddress? GetPeerMac(int peer) => TryResolve(peer, out int s) ? _peerMac[s] : null;

    private static ulong Key(uint ip, ushort port) => (ulong)ip << 16 | port;

    private void EnsureThread()
    {
        if (t_registered) return;
        int rc = Native.ThreadRegister();
        if (rc < 0) throw new DpdkException(DpdkFailure.EalInit, $"rte_thread_register failed: {Native.ErrorText(rc)} (too many threads use DPDK; RTE_MAX_LCORE)", rc);
        if (_options.IoCore is int cpu) Native.PinThread(cpu);
        t_registered = true;
    }

    /// <inheritdoc />
    /// <remarks>Unknown or stale handles count <see cref="TransportStats.UnknownDestinationDropped"/>; a datagram
    /// longer than <see cref="MaxDatagramSize"/> or no free mbuf counts <see cref="TransportStats.SendErrors"/>.</remarks>
    /// <exception cref="ObjectDisposedException">after Dispose.</exception>
    public void SendDatagram(int peer, ReadOnlySpan<byte> datagram)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!TryResolve(peer, out int p))
        {
            Stats.AddUnknownDestinationDropped();
            return;
        }
        if (datagram.Length > MaxDatagramSize)
        {
            Stats.AddSendErrors();
            DpdkStats.Add(DpdkStats.Counter.TxOversize);
            return;
        }
        EnsureThread();
        var ps = _ports[_peerVia[p]];
        byte* data = NextTxBuffer(ps, out int slot);
        if (data == null)
        {
            Stats.AddSendErrors();
            DpdkStats.Add(DpdkStats.Counter.TxNoMbuf);
            return;
        }
        var frame = new Span<byte>(data, ps.TxCapacity);
        datagram.CopyTo(frame[EthernetUdpCodec.UdpHeadersLength..]);
        int len = EthernetUdpCodec.WriteUdpHeaders(frame, LocalMac, _peerMac[p], LocalIp, _peerIp[p], LocalPort, _peerPort[p],
            datagram.Length, _ipId++, ps.ChecksumMode);
        ps.TxLens[slot] = (ushort)len;
        ps.TxPayload[slot] = datagram.Length;
        ps.TxPending++;
    }

    /// <summary>Returns the data pointer of the next staged mbuf (allocating a batch when needed), or null.</summary>
    private byte* NextTxBuffer(PortState ps, out int slot)
    {
        if (ps.TxPending == _burst) Flush(ps);
        slot = ps.TxPending;
        if (ps.TxPending == ps.TxAllocated)
        {
            int want = _burst - ps.TxAllocated;
            if (Native.TxAlloc(ps.Id, ps.TxMbufs + ps.TxAllocated, ps.TxData + ps.TxAllocated, want) == want) ps.TxAllocated += want;
            else if (Native.TxAlloc(ps.Id, ps.TxMbufs + ps.TxAllocated, ps.TxData + ps.TxAllocated, 1) == 1) ps.TxAllocated++;
            else return null;
        }
        return ps.TxData[slot];
    }

    /// <inheritdoc />
    /// <remarks>Transmits the staged frames of every port (one tx burst per port with frames).</remarks>
    public void FlushDatagrams()
    {
        if (_disposed) return;
        var ports = _ports;
        for (int i = 0; i < ports.Length; i++)
            if (ports[i].TxPending != 0) Flush(ports[i]);
    }

    private void Flush(PortState ps)
    {
        if (ps.TxPending == 0 || _disposed) return;
        EnsureThread();
        int n = ps.TxPending;
        int sent = Native.TxSend(ps.Id, ps.TxMbufs, ps.TxLens, n, ps.TxFlags);
        if (sent < 0) sent = 0;
        long bytes = 0, datagrams = 0;
        var payload = ps.TxPayload;
        for (int i = 0; i < sent; i++)
        {
            if (payload[i] < 0) continue;
            datagrams++;
            bytes += payload[i];
        }
        Stats.AddDatagramsSent(datagrams);
        Stats.AddBytesSent(bytes);
        DpdkStats.Add(DpdkStats.Counter.TxFrames, sent);
        if (sent < n)
        {
            long lost = 0;
            for (int i = sent; i < n; i++) if (payload[i] >= 0) lost++;
            Stats.AddSendErrors(lost);
            DpdkStats.Add(DpdkStats.Counter.TxDropped, n - sent);
        }
        // Move allocated-but-unused mbufs to the front of the staging area.
        int spare = ps.TxAllocated - n;
        for (int i = 0; i < spare; i++)
        {
            ps.TxMbufs[i] = ps.TxMbufs[n + i];
            ps.TxData[i] = ps.TxData[n + i];
        }
        ps.TxAllocated = spare;
        ps.TxPending = 0;
        int* bell = ps.PeerBell;
        if (bell != null && sent > 0)
        {
            // The frames are in the peer's ring; now look at its doorbell (full fence: store-then-load).
            Interlocked.MemoryBarrier();
            if (Volatile.Read(ref *bell) == 1 && Interlocked.CompareExchange(ref *bell, 0, 1) == 1)
            {
                Native.FutexWake(bell);
                DpdkStats.Add(DpdkStats.Counter.DoorbellsRung);
            }
        }
    }

    /// <inheritdoc />
    /// <remarks><paramref name="timeoutMs"/> &lt; 0 waits without limit. How the wait is done depends on
    /// <see cref="EffectivePollMode"/>. The span handed to the sink is the mbuf's payload (zero copy).</remarks>
    /// <exception cref="ObjectDisposedException">after Dispose.</exception>
    public int ReceiveDatagrams(IDatagramSink sink, int timeoutMs)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        EnsureThread();
        int delivered = PollAll(sink, out bool any);
        if (any || timeoutMs == 0) return delivered;
        return Wait(sink, timeoutMs);
    }

    /// <summary>One rx burst from every port (round-robin start), each delivered and freed before the next.</summary>
    private int PollAll(IDatagramSink sink, out bool any)
    {
        any = false;
        int delivered = 0;
        var ports = _ports;
        int count = ports.Length;
        int start = _rxNext;
        for (int k = 0; k < count; k++)
        {
            int idx = start + k;
            if (idx >= count) idx -= count;
            int n = Native.RxBurst(ports[idx].Id, _rxMbufs, _rxData, _rxLenFlags, _burst, 0);
            if (n > 0)
            {
                any = true;
                delivered += Deliver(sink, n, idx);
            }
        }
        _rxNext = start + 1 >= count ? 0 : start + 1;
        return delivered;
    }

    private int Wait(IDatagramSink sink, int timeoutMs)
    {
        long start = Stopwatch.GetTimestamp();
        long deadline = timeoutMs < 0 ? long.MaxValue : start + timeoutMs * Stopwatch.Frequency / 1000;
        int delivered;
        bool any;
        var mode = EffectivePollMode;
        if (mode == DpdkPollMode.Busy)
        {
            while (true)
            {
                delivered = PollAll(sink, out any);
                if (any || Stopwatch.GetTimestamp() >= deadline) return delivered;
            }
        }
        if (mode == DpdkPollMode.Adaptive)
        {
            long spinEnd = Math.Min(deadline, start + _spinTicks);
            while (true)
            {
                delivered = PollAll(sink, out any);
                if (any) return delivered;
                if (Stopwatch.GetTimestamp() >= spinEnd) break;
            }
        }
        if (RxInterruptAvailable)
        {
            while (true)
            {
                long now = Stopwatch.GetTimestamp();
                if (now >= deadline) return 0;
                int ms = deadline == long.MaxValue ? 1000 : (int)Math.Clamp((deadline - now) * 1000 / Stopwatch.Frequency, 1, 1000);
                DpdkStats.Add(DpdkStats.Counter.InterruptWaits);
                int n = Native.RxBurst(_port0.Id, _rxMbufs, _rxData, _rxLenFlags, _burst, ms);
                if (n > 0) return Deliver(sink, n, 0);
            }
        }
        if (_bell != null)
        {
            // Sleep on our doorbell: publish "sleeping", look once more (a frame sent before a peer saw the flag),
            // then wait until a peer rings it, the deadline, or the safety cap (peers without a doorbell).
            long capUs = _options.MaxSleepMicroseconds * 50L;
            while (true)
            {
                long now = Stopwatch.GetTimestamp();
                if (now >= deadline) return 0;
                Volatile.Write(ref *_bell, 1);
                Interlocked.MemoryBarrier();
                delivered = PollAll(sink, out any);
                if (any)
                {
                    Volatile.Write(ref *_bell, 0);
                    return delivered;
                }
                long leftUs = deadline == long.MaxValue ? capUs : Math.Max(1, (deadline - now) * 1_000_000 / Stopwatch.Frequency);
                DpdkStats.Add(DpdkStats.Counter.DoorbellWaits);
                Native.FutexWait(_bell, 1, Math.Min(leftUs, capUs));
                Volatile.Write(ref *_bell, 0);
                delivered = PollAll(sink, out any);
                if (any) return delivered;
            }
        }
        // Back off with short sleeps (no rx interrupt on this device).
        long sleepUs = 5;
        var ts = default(Native.TimeSpec);
        while (true)
        {
            long now = Stopwatch.GetTimestamp();
            if (now >= deadline) return 0;
            long leftUs = deadline == long.MaxValue ? long.MaxValue : (deadline - now) * 1_000_000 / Stopwatch.Frequency;
            ts.Seconds = 0;
            ts.Nanoseconds = Math.Max(1, Math.Min(sleepUs, leftUs)) * 1000;
            DpdkStats.Add(DpdkStats.Counter.Sleeps);
            Native.NanoSleep(&ts, null);
            sleepUs = Math.Min(sleepUs * 2, _options.MaxSleepMicroseconds);
            delivered = PollAll(sink, out any);
            if (any) return delivered;
        }
    }

    private int Deliver(IDatagramSink sink, int n, int via)
    {
        int delivered = 0;
        bool arpQueued = false;
        try
        {
            for (int i = 0; i < n; i++)
            {
                uint lf = _rxLenFlags[i];
                int len = (int)(lf & 0xFFFF);
                uint flags = lf >> 16;
                DpdkStats.Add(DpdkStats.Counter.RxFrames);
                if ((flags & Native.RxMultiSeg) != 0)
                {
                    DpdkStats.Add(DpdkStats.Counter.RxMultiSegment);
                    Stats.AddMalformedDropped();
                    continue;
                }
                var frame = new ReadOnlySpan<byte>(_rxData[i], len);
                var verdict = EthernetUdpCodec.Parse(frame, LocalMac, LocalIp, LocalPort, flags, out var info);
                switch (verdict)
                {
                    case FrameVerdict.Udp:
                    {
                        int peer = FindOrLearn(info, via);
                        Stats.AddDatagramsReceived();
                        Stats.AddBytesReceived(info.PayloadLength);
                        delivered++;
                        sink.OnDatagram(peer, frame.Slice(info.PayloadOffset, info.PayloadLength));
                        break;
                    }
                    case FrameVerdict.ArpRequestForUs:
                        if (_options.AnswerArp && QueueArpReply(_ports[via], info.SourceMac, info.SourceIp)) arpQueued = true;
                        else DpdkStats.Add(DpdkStats.Counter.ArpIgnored);
                        break;
                    case FrameVerdict.ArpOther:
                        DpdkStats.Add(DpdkStats.Counter.ArpIgnored);
                        break;
                    default:
                        DpdkStats.CountDrop(verdict);
                        Stats.AddMalformedDropped();
                        break;
                }
            }
        }
        finally
        {
            Native.FreeBulk(_rxMbufs, n);
        }
        if (arpQueued) Flush(_ports[via]);
        return delivered;
    }

    private int FindOrLearn(in UdpFrameInfo info, int via)
    {
        ulong key = Key(info.SourceIp, info.SourcePort);
        int slot;
        if (_peerIndex.TryGetValue(key, out slot)) return slot | _generation[slot] << SlotBits;
        // New source: a free learned slot, or recycle the oldest (FIFO); the old handle becomes stale.
        if (_learnedUsed < _maxLearned)
        {
            slot = _learnedBase + _learnedUsed++;
        }
        else
        {
            slot = _learnedBase + _learnedNextRecycle;
            _learnedNextRecycle = _learnedNextRecycle + 1 == _maxLearned ? 0 : _learnedNextRecycle + 1;
            if (_slotUsed[slot]) _peerIndex.Remove(Key(_peerIp[slot], _peerPort[slot]));
            _generation[slot] = (_generation[slot] + 1) & GenerationMask;
            DpdkStats.Add(DpdkStats.Counter.PeersRecycled);
        }
        DpdkStats.Add(DpdkStats.Counter.PeersLearned);
        _peerMac[slot] = info.SourceMac;
        _peerIp[slot] = info.SourceIp;
        _peerPort[slot] = info.SourcePort;
        _peerVia[slot] = (byte)via;
        _slotUsed[slot] = true;
        _peerIndex[key] = slot;
        return slot | _generation[slot] << SlotBits;
    }

    private bool QueueArpReply(PortState ps, MacAddress requesterMac, uint requesterIp)
    {
        byte* data = NextTxBuffer(ps, out int slot);
        if (data == null) return false;
        int len = EthernetUdpCodec.WriteArpReply(new Span<byte>(data, ps.TxCapacity), LocalMac, LocalIp, requesterMac, requesterIp);
        ps.TxLens[slot] = (ushort)len;
        ps.TxPayload[slot] = -1;
        ps.TxPending++;
        DpdkStats.Add(DpdkStats.Counter.ArpRepliesSent);
        return true;
    }

    /// <summary>Test hook: transmits a raw Ethernet frame as-is (no headers added, counted as a frame only).</summary>
    /// <exception cref="ArgumentException">frame larger than the mbuf.</exception>
    internal void SendRawFrame(ReadOnlySpan<byte> frame)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var ps = _port0;
        if (frame.Length > ps.TxCapacity) throw new ArgumentException("frame too large", nameof(frame));
        EnsureThread();
        byte* data = NextTxBuffer(ps, out int slot);
        if (data == null) return;
        frame.CopyTo(new Span<byte>(data, ps.TxCapacity));
        ps.TxLens[slot] = (ushort)frame.Length;
        ps.TxPayload[slot] = -1;
        ps.TxPending++;
    }

    /// <summary>Stops and closes every port, returning staged mbufs. Call from the I/O thread after its last use.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var ps in _ports) if (ps is not null) ClosePort(ps);
        foreach (var (file, view) in _bellMaps)
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
            file.Dispose();
        }
        _bellMaps.Clear();
        NativeMemory.Free(_rxMbufs);
        NativeMemory.Free(_rxData);
        NativeMemory.Free(_rxLenFlags);
    }
}
