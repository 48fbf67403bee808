namespace FastBft.Transport.Dpdk;

/// <summary>
/// Detailed counters of one <see cref="DpdkLink"/> (monotonic; written by the I/O thread, readable
/// from any thread). Every dropped frame is also counted once in
/// <see cref="TransportStats.MalformedDropped"/>; this class says why.
/// </summary>
public sealed class DpdkStats
{
    /// <summary>Frames taken from the device (all kinds).</summary>
    public long RxFrames;
    /// <summary>Frames with an ethertype other than IPv4/ARP.</summary>
    public long RxWrongEthertype;
    /// <summary>Frames shorter than their headers.</summary>
    public long RxShortFrame;
    /// <summary>IPv4 version ≠ 4 or IHL &lt; 5.</summary>
    public long RxBadIpHeader;
    /// <summary>IPv4 total length inconsistent with the frame.</summary>
    public long RxBadIpLength;
    /// <summary>IPv4 fragments (not supported).</summary>
    public long RxIpFragment;
    /// <summary>IPv4 protocol other than UDP.</summary>
    public long RxNotUdp;
    /// <summary>UDP length inconsistent with the IPv4 length.</summary>
    public long RxBadUdpLength;
    /// <summary>Bad IPv4 header checksum.</summary>
    public long RxBadIpChecksum;
    /// <summary>Bad UDP checksum.</summary>
    public long RxBadUdpChecksum;
    /// <summary>Destination MAC not ours.</summary>
    public long RxWrongDestinationMac;
    /// <summary>Destination IPv4 address not ours.</summary>
    public long RxWrongDestinationIp;
    /// <summary>Destination UDP port not ours.</summary>
    public long RxWrongDestinationPort;
    /// <summary>Frames spanning several mbufs (larger than the mbuf data room).</summary>
    public long RxMultiSegment;
    /// <summary>Unknown sources that were given a peer handle.</summary>
    public long PeersLearned;
    /// <summary>Learned handles recycled (FIFO) because <see cref="DpdkOptions.MaxLearnedPeers"/> was reached.</summary>
    public long PeersRecycled;
    /// <summary>Datagrams longer than <see cref="DpdkLink.MaxDatagramSize"/> not sent; counted in SendErrors too.</summary>
    public long TxOversize;
    /// <summary>ARP requests for our address answered.</summary>
    public long ArpRepliesSent;
    /// <summary>Other ARP frames ignored.</summary>
    public long ArpIgnored;
    /// <summary>Frames handed to the device.</summary>
    public long TxFrames;
    /// <summary>Frames the device did not take (tx ring full, link down); counted in SendErrors too.</summary>
    public long TxDropped;
    /// <summary>Frames lost because no mbuf could be allocated; counted in SendErrors too.</summary>
    public long TxNoMbuf;
    /// <summary>Receive waits that slept on the rx interrupt.</summary>
    public long InterruptWaits;
    /// <summary>Receive waits that slept (adaptive back-off).</summary>
    public long Sleeps;
    /// <summary>Adaptive waits on this link's doorbell (<see cref="DpdkOptions.Doorbell"/>).</summary>
    public long DoorbellWaits;
    /// <summary>Peers woken through their doorbell after a transmit burst.</summary>
    public long DoorbellsRung;

    /// <summary>Sum of all receive drop reasons.</summary>
    public long RxDropped =>
        Interlocked.Read(ref RxWrongEthertype) + Interlocked.Read(ref RxShortFrame) + Interlocked.Read(ref RxBadIpHeader)
        + Interlocked.Read(ref RxBadIpLength) + Interlocked.Read(ref RxIpFragment) + Interlocked.Read(ref RxNotUdp)
        + Interlocked.Read(ref RxBadUdpLength) + Interlocked.Read(ref RxBadIpChecksum) + Interlocked.Read(ref RxBadUdpChecksum)
        + Interlocked.Read(ref RxWrongDestinationMac) + Interlocked.Read(ref RxWrongDestinationIp)
        + Interlocked.Read(ref RxWrongDestinationPort) + Interlocked.Read(ref RxMultiSegment);

    /// <summary>Increments the counter for a drop verdict (not <see cref="FrameVerdict.Udp"/> or ARP).</summary>
    internal void CountDrop(FrameVerdict verdict)
    {
        switch (verdict)
        {
            case FrameVerdict.WrongEthertype: RxWrongEthertype++; break;
            case FrameVerdict.ShortFrame: RxShortFrame++; break;
            case FrameVerdict.BadIpHeader: RxBadIpHeader++; break;
            case FrameVerdict.BadIpLength: RxBadIpLength++; break;
            case FrameVerdict.IpFragment: RxIpFragment++; break;
            case FrameVerdict.NotUdp: RxNotUdp++; break;
            case FrameVerdict.BadUdpLength: RxBadUdpLength++; break;
            case FrameVerdict.BadIpChecksum: RxBadIpChecksum++; break;
            case FrameVerdict.BadUdpChecksum: RxBadUdpChecksum++; break;
            case FrameVerdict.WrongDestinationMac: RxWrongDestinationMac++; break;
            case FrameVerdict.WrongDestinationIp: RxWrongDestinationIp++; break;
            case FrameVerdict.WrongDestinationPort: RxWrongDestinationPort++; break;
        }
    }

    /// <summary>One line with the non-zero counters, for logs.</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        foreach (var f in typeof(DpdkStats).GetFields())
        {
            if (f.GetValue(this) is long v && v != 0) parts.Add($"{f.Name}={v}");
        }
        return string.Join(' ', parts);
    }
}

/// <summary>Device counters from rte_eth_stats_get (some virtual devices report zeros, e.g. the memif server).</summary>
public readonly record struct DpdkDeviceStats(ulong RxPackets, ulong TxPackets, ulong RxBytes, ulong TxBytes,
    ulong RxMissed, ulong RxErrors, ulong TxErrors, ulong RxNoMbuf);
