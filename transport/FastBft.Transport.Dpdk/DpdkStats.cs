namespace FastBft.Transport.Dpdk;

/// <summary>
/// Detailed counters of one <see cref="DpdkLink"/> (monotonic). Every dropped frame is also counted once in
/// <see cref="TransportStats.MalformedDropped"/>; this class says why.
/// </summary>
/// <remarks>Threading: written only by the link's I/O thread (single writer: <c>Volatile.Write</c>
/// of its own value plus the increment, no interlocked read-modify-write on the hot path); readable from any
/// thread through the properties (<c>Volatile.Read</c>).</remarks>
public sealed class DpdkStats
{
    /// <summary>Counter slots, one per property.</summary>
    internal enum Counter
    {
        RxFrames,
        RxWrongEthertype,
        RxShortFrame,
        RxBadIpHeader,
        RxBadIpLength,
        RxIpFragment,
        RxNotUdp,
        RxBadUdpLength,
        RxBadIpChecksum,
        RxBadUdpChecksum,
        RxWrongDestinationMac,
        RxWrongDestinationIp,
        RxWrongDestinationPort,
        RxMultiSegment,
        PeersLearned,
        PeersRecycled,
        TxOversize,
        ArpRepliesSent,
        ArpIgnored,
        TxFrames,
        TxDropped,
        TxNoMbuf,
        InterruptWaits,
        Sleeps,
        DoorbellWaits,
        DoorbellsRung,
        Count,
    }

    private readonly long[] _c = new long[(int)Counter.Count];

    /// <summary>Frames taken from the device (all kinds).</summary>
    public long RxFrames => Volatile.Read(ref _c[(int)Counter.RxFrames]);

    /// <summary>Frames with an ethertype other than IPv4/ARP.</summary>
    public long RxWrongEthertype => Volatile.Read(ref _c[(int)Counter.RxWrongEthertype]);

    /// <summary>Frames shorter than their headers.</summary>
    public long RxShortFrame => Volatile.Read(ref _c[(int)Counter.RxShortFrame]);

    /// <summary>IPv4 version ≠ 4 or IHL &lt; 5.</summary>
    public long RxBadIpHeader => Volatile.Read(ref _c[(int)Counter.RxBadIpHeader]);

    /// <summary>IPv4 total length inconsistent with the frame.</summary>
    public long RxBadIpLength => Volatile.Read(ref _c[(int)Counter.RxBadIpLength]);

    /// <summary>IPv4 fragments (not supported).</summary>
    public long RxIpFragment => Volatile.Read(ref _c[(int)Counter.RxIpFragment]);

    /// <summary>IPv4 protocol other than UDP.</summary>
    public long RxNotUdp => Volatile.Read(ref _c[(int)Counter.RxNotUdp]);

    /// <summary>UDP length inconsistent with the IPv4 length.</summary>
    public long RxBadUdpLength => Volatile.Read(ref _c[(int)Counter.RxBadUdpLength]);

    /// <summary>Bad IPv4 header checksum.</summary>
    public long RxBadIpChecksum => Volatile.Read(ref _c[(int)Counter.RxBadIpChecksum]);

    /// <summary>Bad UDP checksum.</summary>
    public long RxBadUdpChecksum => Volatile.Read(ref _c[(int)Counter.RxBadUdpChecksum]);

    /// <summary>Destination MAC not ours.</summary>
    public long RxWrongDestinationMac => Volatile.Read(ref _c[(int)Counter.RxWrongDestinationMac]);

    /// <summary>Destination IPv4 address not ours.</summary>
    public long RxWrongDestinationIp => Volatile.Read(ref _c[(int)Counter.RxWrongDestinationIp]);

    /// <summary>Destination UDP port not ours.</summary>
    public long RxWrongDestinationPort => Volatile.Read(ref _c[(int)Counter.RxWrongDestinationPort]);

    /// <summary>Frames spanning several mbufs (larger than the mbuf data room).</summary>
    public long RxMultiSegment => Volatile.Read(ref _c[(int)Counter.RxMultiSegment]);

    /// <summary>Unknown sources that were given a peer handle.</summary>
    public long PeersLearned => Volatile.Read(ref _c[(int)Counter.PeersLearned]);

    /// <summary>Learned handles recycled (FIFO) because <see cref="DpdkOptions.MaxLearnedPeers"/> was reached.</summary>
    public long PeersRecycled => Volatile.Read(ref _c[(int)Counter.PeersRecycled]);

    /// <summary>Datagrams longer than <see cref="DpdkLink.MaxDatagramSize"/> not sent; counted in SendErrors too.</summary>
    public long TxOversize => Volatile.Read(ref _c[(int)Counter.TxOversize]);

    /// <summary>ARP requests for our address answered.</summary>
    public long ArpRepliesSent => Volatile.Read(ref _c[(int)Counter.ArpRepliesSent]);

    /// <summary>Other ARP frames ignored.</summary>
    public long ArpIgnored => Volatile.Read(ref _c[(int)Counter.ArpIgnored]);

    /// <summary>Frames handed to the device.</summary>
    public long TxFrames => Volatile.Read(ref _c[(int)Counter.TxFrames]);

    /// <summary>Frames the device did not take (tx ring full, link down); counted in SendErrors too.</summary>
    public long TxDropped => Volatile.Read(ref _c[(int)Counter.TxDropped]);

    /// <summary>Frames lost because no mbuf could be allocated; counted in SendErrors too.</summary>
    public long TxNoMbuf => Volatile.Read(ref _c[(int)Counter.TxNoMbuf]);

    /// <summary>Receive waits that slept on the rx interrupt.</summary>
    public long InterruptWaits => Volatile.Read(ref _c[(int)Counter.InterruptWaits]);

    /// <summary>Receive waits that slept (adaptive back-off).</summary>
    public long Sleeps => Volatile.Read(ref _c[(int)Counter.Sleeps]);

    /// <summary>Adaptive waits on this link's doorbell (<see cref="DpdkOptions.Doorbell"/>).</summary>
    public long DoorbellWaits => Volatile.Read(ref _c[(int)Counter.DoorbellWaits]);

    /// <summary>Peers woken through their doorbell after a transmit burst.</summary>
    public long DoorbellsRung => Volatile.Read(ref _c[(int)Counter.DoorbellsRung]);

    /// <summary>Sum of all receive drop reasons.</summary>
    public long RxDropped =>
        RxWrongEthertype + RxShortFrame + RxBadIpHeader
        + RxBadIpLength + RxIpFragment + RxNotUdp
        + RxBadUdpLength + RxBadIpChecksum + RxBadUdpChecksum
        + RxWrongDestinationMac + RxWrongDestinationIp
        + RxWrongDestinationPort + RxMultiSegment;

    /// <summary>Adds <paramref name="count"/> (default 1) to counter <paramref name="counter"/>. I/O thread only.</summary>
    internal void Add(Counter counter, long count = 1)
    {
        ref long c = ref _c[(int)counter];
        Volatile.Write(ref c, c + count);
    }

    /// <summary>Increments the counter for a drop verdict (not <see cref="FrameVerdict.Udp"/> or ARP).</summary>
    internal void CountDrop(FrameVerdict verdict)
    {
        switch (verdict)
        {
            case FrameVerdict.WrongEthertype: Add(Counter.RxWrongEthertype); break;
            case FrameVerdict.ShortFrame: Add(Counter.RxShortFrame); break;
            case FrameVerdict.BadIpHeader: Add(Counter.RxBadIpHeader); break;
            case FrameVerdict.BadIpLength: Add(Counter.RxBadIpLength); break;
            case FrameVerdict.IpFragment: Add(Counter.RxIpFragment); break;
            case FrameVerdict.NotUdp: Add(Counter.RxNotUdp); break;
            case FrameVerdict.BadUdpLength: Add(Counter.RxBadUdpLength); break;
            case FrameVerdict.BadIpChecksum: Add(Counter.RxBadIpChecksum); break;
            case FrameVerdict.BadUdpChecksum: Add(Counter.RxBadUdpChecksum); break;
            case FrameVerdict.WrongDestinationMac: Add(Counter.RxWrongDestinationMac); break;
            case FrameVerdict.WrongDestinationIp: Add(Counter.RxWrongDestinationIp); break;
            case FrameVerdict.WrongDestinationPort: Add(Counter.RxWrongDestinationPort); break;
        }
    }

    /// <summary>One line with the non-zero counters, for logs.</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        for (var c = (Counter)0; c < Counter.Count; c++)
        {
            long v = Volatile.Read(ref _c[(int)c]);
            if (v != 0) parts.Add($"{c}={v}");
        }
        return string.Join(' ', parts);
    }
}

/// <summary>Device counters from rte_eth_stats_get (some virtual devices report zeros, e.g. the memif server).</summary>
public readonly record struct DpdkDeviceStats(ulong RxPackets, ulong TxPackets, ulong RxBytes, ulong TxBytes,
    ulong RxMissed, ulong RxErrors, ulong TxErrors, ulong RxNoMbuf);
