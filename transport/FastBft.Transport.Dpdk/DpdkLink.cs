using System.Diagnostics;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;

namespace FastBft.Transport.Dpdk;

/// <summary>
/// An <see cref="IDatagramLink"/> over one DPDK port: Ethernet/IPv4/UDP framing in C#, a static
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
    private readonly ushort _port;
    private readonly int _burst;
    private readonly int _txCapacity;
    private readonly uint _txFlags;
    private readonly EthernetUdpCodec.ChecksumMode _checksumMode;
    private readonly long _spinTicks;

    // Native arrays (no pinning on the hot path).
    private readonly nint* _rxMbufs;
    private readonly byte** _rxData;
    private readonly uint* _rxLenFlags;
    private readonly nint* _txMbufs;
    private readonly byte** _txData;
    private readonly ushort* _txLens;
    private readonly int[] _txPayload; // payload bytes per staged frame; -1 for ARP
    private int _txPending;   // frames written, not yet sent
    private int _txAllocated; // mbufs allocated in the staging area (≥ _txPending)
    private ushort _ipId;

    // Peer table: slots [0, _staticCount) are configured, [_learnedBase, _learnedBase + _maxLearned) learned.
    // A handle is slot | generation << SlotBits; recycling a learned slot bumps its generation.
    private const int SlotBits = 20;
    private const int SlotMask = (1 << SlotBits) - 1;
    private const int GenerationMask = 0x7FF;
    private readonly MacAddress[] _peerMac;
    private readonly uint[] _peerIp;
    private readonly ushort[] _peerPort;
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
        byte[] dev = Encoding.UTF8.GetBytes(options.Device + "\0");
        fixed (byte* d = dev) rc = Native.PortOpen(d, &conf, &info, err, errLen);
        if (rc < 0)
        {
            string detail = DpdkEnvironment.ReadCString(err, errLen);
            if (-rc is 1 or 13)
                throw new DpdkException(DpdkFailure.Permission,
                    $"cannot open DPDK device '{options.Device}': {detail}. Fix: net_af_packet, net_af_xdp and net_tap need root or CAP_NET_RAW+CAP_NET_ADMIN; a PCI NIC needs vfio-pci/uio binding and root.", rc);
            throw new DpdkException(DpdkFailure.Device,
                $"cannot open DPDK device '{options.Device}': {detail}. Fix: check dpdk.device (e.g. net_memif0,role=server,socket=/tmp/x.sock; " +
                "a memif client needs its server started first; net_af_packet0,iface=<existing interface>; a PCI address needs EAL args without --no-pci).", rc);
        }
        _port = (ushort)rc;
        PortId = rc;
        DeviceMac = MacAddress.Read(new ReadOnlySpan<byte>(info.Mac, 6));
        LocalMac = string.IsNullOrEmpty(options.LocalMac) ? DeviceMac : MacAddress.Parse(options.LocalMac);
        Driver = DpdkEnvironment.ReadCString(info.Driver, 32);
        _txCapacity = (int)info.TxCapacity;
        bool txOffload = (info.Caps & (Native.CapTxIpv4Cksum | Native.CapTxUdpCksum)) == (Native.CapTxIpv4Cksum | Native.CapTxUdpCksum);
        ChecksumOffload = txOffload;
        _txFlags = txOffload ? Native.TxCksumOffload : 0;
        _checksumMode = txOffload ? EthernetUdpCodec.ChecksumMode.Offload
            : options.UdpChecksum ? EthernetUdpCodec.ChecksumMode.Software : EthernetUdpCodec.ChecksumMode.NoUdpChecksum;
        RxInterruptAvailable = (info.Caps & Native.CapRxIntr) != 0;
        EffectivePollMode = options.Poll == DpdkPollMode.Interrupt && !RxInterruptAvailable ? DpdkPollMode.Adaptive : options.Poll;
        _spinTicks = options.SpinMicroseconds * Stopwatch.Frequency / 1_000_000;

        _rxMbufs = (nint*)NativeMemory.AllocZeroed((nuint)_burst, (nuint)sizeof(nint));
        _rxData = (byte**)NativeMemory.AllocZeroed((nuint)_burst, (nuint)sizeof(nint));
        _rxLenFlags = (uint*)NativeMemory.AllocZeroed((nuint)_burst, sizeof(uint));
        _txMbufs = (nint*)NativeMemory.AllocZeroed((nuint)_burst, (nuint)sizeof(nint));
        _txData = (byte**)NativeMemory.AllocZeroed((nuint)_burst, (nuint)sizeof(nint));
        _txLens = (ushort*)NativeMemory.AllocZeroed((nuint)_burst, sizeof(ushort));
        _txPayload = new int[_burst];

        _learnedBase = Math.Max(options.MaxConfiguredPeers, options.Neighbors.Count);
        _maxLearned = options.MaxLearnedPeers;
        int slots = _learnedBase + _maxLearned;
        _peerMac = new MacAddress[slots];
        _peerIp = new uint[slots];
        _peerPort = new ushort[slots];
        _generation = new int[slots];
        _slotUsed = new bool[slots];
        foreach (var n in options.Neighbors)
        {
            DpdkOptions.TryParseIpv4(n.Ip, out uint ip);
            AddPeer(ip, (ushort)n.Port, MacAddress.Parse(n.Mac));
        }
    }

    /// <inheritdoc />
    public int MaxDatagramSize { get; }

    /// <inheritdoc />
    public TransportStats Stats { get; }

    /// <summary>Per-reason drop counters and DPDK-specific counters.</summary>
    public DpdkStats DpdkStats { get; } = new();

    /// <summary>DPDK port id.</summary>
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

    /// <summary>Link state from the device (non-blocking).</summary>
    /// <exception cref="ObjectDisposedException">after Dispose.</exception>
    public bool IsLinkUp
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int up = 0;
            uint speed = 0;
            return Native.Link(_port, &up, &speed) == 0 && up != 0;
        }
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

    /// <summary>Reads the device counters (rte_eth_stats_get).</summary>
    /// <exception cref="ObjectDisposedException">after Dispose.</exception>
    public DpdkDeviceStats ReadDeviceStats()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ulong* c = stackalloc ulong[8];
        if (Native.Stats(_port, c) < 0) return default;
        return new DpdkDeviceStats(c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]);
    }

    /// <summary>
    /// Registers a configured peer (IPv4 endpoint + MAC) and returns its handle; the same handle if the
    /// endpoint is already configured. A learned handle for the same endpoint becomes stale.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="endPoint"/> is null.</exception>
    /// <exception cref="ArgumentException">not IPv4, or a multicast MAC.</exception>
    /// <exception cref="InvalidOperationException">more than <see cref="DpdkOptions.MaxConfiguredPeers"/> peers.</exception>
    public int AddPeer(IPEndPoint endPoint, MacAddress mac)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        if (!DpdkOptions.TryParseIpv4(endPoint.Address.ToString(), out uint ip))
            throw new ArgumentException("endPoint must be an IPv4 endpoint", nameof(endPoint));
        if (mac.IsMulticast) throw new ArgumentException("mac must be unicast", nameof(mac));
        return AddPeer(ip, (ushort)endPoint.Port, mac);
    }

    private int AddPeer(uint ip, ushort port, MacAddress mac)
    {
        ulong key = Key(ip, port);
        if (_peerIndex.TryGetValue(key, out int existing))
        {
            if (existing < _learnedBase)
            {
                _peerMac[existing] = mac;
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
            Stats.UnknownDestinationDropped++;
            return;
        }
        if (datagram.Length > MaxDatagramSize)
        {
            Stats.SendErrors++;
            DpdkStats.TxOversize++;
            return;
        }
        EnsureThread();
        byte* data = NextTxBuffer(out int slot);
        if (data == null)
        {
            Stats.SendErrors++;
            DpdkStats.TxNoMbuf++;
            return;
        }
        var frame = new Span<byte>(data, _txCapacity);
        datagram.CopyTo(frame[EthernetUdpCodec.UdpHeadersLength..]);
        int len = EthernetUdpCodec.WriteUdpHeaders(frame, LocalMac, _peerMac[p], LocalIp, _peerIp[p], LocalPort, _peerPort[p],
            datagram.Length, _ipId++, _checksumMode);
        _txLens[slot] = (ushort)len;
        _txPayload[slot] = datagram.Length;
        _txPending++;
    }

    /// <summary>Returns the data pointer of the next staged mbuf (allocating a batch when needed), or null.</summary>
    private byte* NextTxBuffer(out int slot)
    {
        if (_txPending == _burst) FlushDatagrams();
        slot = _txPending;
        if (_txPending == _txAllocated)
        {
            int want = _burst - _txAllocated;
            if (Native.TxAlloc(_port, _txMbufs + _txAllocated, _txData + _txAllocated, want) == want) _txAllocated += want;
            else if (Native.TxAlloc(_port, _txMbufs + _txAllocated, _txData + _txAllocated, 1) == 1) _txAllocated++;
            else return null;
        }
        return _txData[slot];
    }

    /// <inheritdoc />
    public void FlushDatagrams()
    {
        if (_txPending == 0 || _disposed) return;
        EnsureThread();
        int n = _txPending;
        int sent = Native.TxSend(_port, _txMbufs, _txLens, n, _txFlags);
        if (sent < 0) sent = 0;
        long bytes = 0, datagrams = 0;
        for (int i = 0; i < sent; i++)
        {
            if (_txPayload[i] < 0) continue;
            datagrams++;
            bytes += _txPayload[i];
        }
        Stats.DatagramsSent += datagrams;
        Stats.BytesSent += bytes;
        DpdkStats.TxFrames += sent;
        if (sent < n)
        {
            long lost = 0;
            for (int i = sent; i < n; i++) if (_txPayload[i] >= 0) lost++;
            Stats.SendErrors += lost;
            DpdkStats.TxDropped += n - sent;
        }
        // Move allocated-but-unused mbufs to the front of the staging area.
        int spare = _txAllocated - n;
        for (int i = 0; i < spare; i++)
        {
            _txMbufs[i] = _txMbufs[n + i];
            _txData[i] = _txData[n + i];
        }
        _txAllocated = spare;
        _txPending = 0;
    }

    /// <inheritdoc />
    /// <remarks><paramref name="timeoutMs"/> &lt; 0 waits without limit. How the wait is done depends on
    /// <see cref="EffectivePollMode"/>. The span handed to the sink is the mbuf's payload (zero copy).</remarks>
    /// <exception cref="ObjectDisposedException">after Dispose.</exception>
    public int ReceiveDatagrams(IDatagramSink sink, int timeoutMs)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        EnsureThread();
        int n = Native.RxBurst(_port, _rxMbufs, _rxData, _rxLenFlags, _burst, 0);
        if (n <= 0)
        {
            if (timeoutMs == 0) return 0;
            n = Wait(timeoutMs);
            if (n <= 0) return 0;
        }
        return Deliver(sink, n);
    }

    private int Wait(int timeoutMs)
    {
        long start = Stopwatch.GetTimestamp();
        long deadline = timeoutMs < 0 ? long.MaxValue : start + timeoutMs * Stopwatch.Frequency / 1000;
        int n;
        var mode = EffectivePollMode;
        if (mode == DpdkPollMode.Busy)
        {
            while (true)
            {
                n = Native.RxBurst(_port, _rxMbufs, _rxData, _rxLenFlags, _burst, 0);
                if (n > 0 || Stopwatch.GetTimestamp() >= deadline) return n;
            }
        }
        if (mode == DpdkPollMode.Adaptive)
        {
            long spinEnd = Math.Min(deadline, start + _spinTicks);
            while (true)
            {
                n = Native.RxBurst(_port, _rxMbufs, _rxData, _rxLenFlags, _burst, 0);
                if (n > 0) return n;
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
                DpdkStats.InterruptWaits++;
                n = Native.RxBurst(_port, _rxMbufs, _rxData, _rxLenFlags, _burst, ms);
                if (n > 0) return n;
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
            DpdkStats.Sleeps++;
            Native.NanoSleep(&ts, null);
            sleepUs = Math.Min(sleepUs * 2, _options.MaxSleepMicroseconds);
            n = Native.RxBurst(_port, _rxMbufs, _rxData, _rxLenFlags, _burst, 0);
            if (n > 0) return n;
        }
    }

    private int Deliver(IDatagramSink sink, int n)
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
                DpdkStats.RxFrames++;
                if ((flags & Native.RxMultiSeg) != 0)
                {
                    DpdkStats.RxMultiSegment++;
                    Stats.MalformedDropped++;
                    continue;
                }
                var frame = new ReadOnlySpan<byte>(_rxData[i], len);
                var verdict = EthernetUdpCodec.Parse(frame, LocalMac, LocalIp, LocalPort, flags, out var info);
                switch (verdict)
                {
                    case FrameVerdict.Udp:
                    {
                        int peer = FindOrLearn(info);
                        Stats.DatagramsReceived++;
                        Stats.BytesReceived += info.PayloadLength;
                        delivered++;
                        sink.OnDatagram(peer, frame.Slice(info.PayloadOffset, info.PayloadLength));
                        break;
                    }
                    case FrameVerdict.ArpRequestForUs:
                        if (_options.AnswerArp && QueueArpReply(info.SourceMac, info.SourceIp)) arpQueued = true;
                        else DpdkStats.ArpIgnored++;
                        break;
                    case FrameVerdict.ArpOther:
                        DpdkStats.ArpIgnored++;
                        break;
                    default:
                        DpdkStats.CountDrop(verdict);
                        Stats.MalformedDropped++;
                        break;
                }
            }
        }
        finally
        {
            Native.FreeBulk(_rxMbufs, n);
        }
        if (arpQueued) FlushDatagrams();
        return delivered;
    }

    private int FindOrLearn(in UdpFrameInfo info)
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
            DpdkStats.PeersRecycled++;
        }
        DpdkStats.PeersLearned++;
        _peerMac[slot] = info.SourceMac;
        _peerIp[slot] = info.SourceIp;
        _peerPort[slot] = info.SourcePort;
        _slotUsed[slot] = true;
        _peerIndex[key] = slot;
        return slot | _generation[slot] << SlotBits;
    }

    private bool QueueArpReply(MacAddress requesterMac, uint requesterIp)
    {
        byte* data = NextTxBuffer(out int slot);
        if (data == null) return false;
        int len = EthernetUdpCodec.WriteArpReply(new Span<byte>(data, _txCapacity), LocalMac, LocalIp, requesterMac, requesterIp);
        _txLens[slot] = (ushort)len;
        _txPayload[slot] = -1;
        _txPending++;
        DpdkStats.ArpRepliesSent++;
        return true;
    }

    /// <summary>Test hook: transmits a raw Ethernet frame as-is (no headers added, counted as a frame only).</summary>
    /// <exception cref="ArgumentException">frame larger than the mbuf.</exception>
    internal void SendRawFrame(ReadOnlySpan<byte> frame)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (frame.Length > _txCapacity) throw new ArgumentException("frame too large", nameof(frame));
        EnsureThread();
        byte* data = NextTxBuffer(out int slot);
        if (data == null) return;
        frame.CopyTo(new Span<byte>(data, _txCapacity));
        _txLens[slot] = (ushort)frame.Length;
        _txPayload[slot] = -1;
        _txPending++;
    }

    /// <summary>Stops and closes the port, returning staged mbufs. Call from the I/O thread after its last use.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_txAllocated > 0) Native.FreeBulk(_txMbufs, _txAllocated);
        _txAllocated = _txPending = 0;
        Native.PortClose(_port);
        NativeMemory.Free(_rxMbufs);
        NativeMemory.Free(_rxData);
        NativeMemory.Free(_rxLenFlags);
        NativeMemory.Free(_txMbufs);
        NativeMemory.Free(_txData);
        NativeMemory.Free(_txLens);
    }
}
