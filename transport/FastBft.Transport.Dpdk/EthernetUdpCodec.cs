using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastBft.Transport.Dpdk;

/// <summary>Outcome of parsing one received Ethernet frame.</summary>
public enum FrameVerdict : byte
{
    /// <summary>A valid IPv4/UDP datagram for us; see <see cref="UdpFrameInfo"/>.</summary>
    Udp = 0,
    /// <summary>An ARP request for our IPv4 address (answer it).</summary>
    ArpRequestForUs,
    /// <summary>Other ARP traffic (replies, requests for other hosts): ignored, not malformed.</summary>
    ArpOther,
    /// <summary>Ethertype is neither IPv4 nor ARP (IPv6, VLAN tags, ...).</summary>
    WrongEthertype,
    /// <summary>Frame shorter than its Ethernet + IPv4 (+ UDP / ARP) headers.</summary>
    ShortFrame,
    /// <summary>IPv4 version ≠ 4 or IHL &lt; 5.</summary>
    BadIpHeader,
    /// <summary>IPv4 total length smaller than the header or larger than the frame.</summary>
    BadIpLength,
    /// <summary>An IPv4 fragment (MF set or offset ≠ 0); IP reassembly is not supported.</summary>
    IpFragment,
    /// <summary>IPv4 protocol is not UDP.</summary>
    NotUdp,
    /// <summary>UDP length field &lt; 8 or ≠ the IPv4 payload length.</summary>
    BadUdpLength,
    /// <summary>IPv4 header checksum wrong.</summary>
    BadIpChecksum,
    /// <summary>UDP checksum wrong.</summary>
    BadUdpChecksum,
    /// <summary>Destination MAC is neither ours nor (for ARP) broadcast.</summary>
    WrongDestinationMac,
    /// <summary>Destination IPv4 address is not ours.</summary>
    WrongDestinationIp,
    /// <summary>Destination UDP port is not ours.</summary>
    WrongDestinationPort,
}

/// <summary>Addresses and payload position of a parsed UDP frame (offsets into the frame).</summary>
[StructLayout(LayoutKind.Auto)]
public struct UdpFrameInfo
{
    /// <summary>Source MAC.</summary>
    public MacAddress SourceMac;
    /// <summary>Source IPv4 address, host order.</summary>
    public uint SourceIp;
    /// <summary>Source UDP port.</summary>
    public ushort SourcePort;
    /// <summary>Offset of the UDP payload in the frame (bytes).</summary>
    public int PayloadOffset;
    /// <summary>UDP payload length (bytes).</summary>
    public int PayloadLength;
}

/// <summary>
/// Ethernet II / IPv4 / UDP (and ARP) framing and parsing, pure C#, allocation-free. IPv4 addresses
/// are host-order integers (10.0.0.1 = 0x0A000001).
/// </summary>
public static class EthernetUdpCodec
{
    /// <summary>Ethernet header bytes.</summary>
    public const int EthernetHeaderLength = 14;
    /// <summary>Ethernet + IPv4 (no options) + UDP header bytes.</summary>
    public const int UdpHeadersLength = 42;
    /// <summary>Minimum Ethernet frame without FCS; shorter frames are zero-padded.</summary>
    public const int MinFrameLength = 60;
    /// <summary>ARP frame length (Ethernet + ARP for IPv4), before padding.</summary>
    public const int ArpLength = 42;
    /// <summary>Ethertype IPv4.</summary>
    public const ushort EthertypeIpv4 = 0x0800;
    /// <summary>Ethertype ARP.</summary>
    public const ushort EthertypeArp = 0x0806;

    /// <summary>Rx hardware flag: IPv4 checksum verified good by the device.</summary>
    public const uint HwIpChecksumGood = Native.RxIpCksumGood;
    /// <summary>Rx hardware flag: IPv4 checksum verified bad by the device.</summary>
    public const uint HwIpChecksumBad = Native.RxIpCksumBad;
    /// <summary>Rx hardware flag: L4 checksum verified good by the device.</summary>
    public const uint HwL4ChecksumGood = Native.RxL4CksumGood;
    /// <summary>Rx hardware flag: L4 checksum verified bad by the device.</summary>
    public const uint HwL4ChecksumBad = Native.RxL4CksumBad;

    /// <summary>
    /// Parses one frame addressed to (<paramref name="localMac"/>, <paramref name="localIp"/>,
    /// <paramref name="localPort"/>). Checks ethertype, IPv4 version/IHL/total length/fragment bits,
    /// protocol, UDP length, both checksums (unless <paramref name="hwFlags"/> says the device checked
    /// them; a UDP checksum of 0 means none) and the destination MAC/IP/port. Never throws.
    /// </summary>
    /// <param name="frame">the whole frame from the destination MAC on (no FCS); may carry padding.</param>
    /// <param name="localMac">our MAC address.</param>
    /// <param name="localIp">our IPv4 address, host order.</param>
    /// <param name="localPort">our UDP port.</param>
    /// <param name="hwFlags">HwIpChecksum*/HwL4Checksum* bits from the device, or 0.</param>
    /// <param name="info">addresses and payload position when the verdict is Udp (source MAC/IP for ARP).</param>
    public static FrameVerdict Parse(ReadOnlySpan<byte> frame, MacAddress localMac, uint localIp, ushort localPort,
        uint hwFlags, out UdpFrameInfo info)
    {
        info = default;
        if (frame.Length < EthernetHeaderLength) return FrameVerdict.ShortFrame;
        var dstMac = MacAddress.Read(frame);
        ushort ethertype = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);
        if (ethertype == EthertypeArp) return ParseArp(frame, dstMac, localMac, localIp, ref info);
        if (ethertype != EthertypeIpv4) return FrameVerdict.WrongEthertype;
        if (dstMac != localMac) return FrameVerdict.WrongDestinationMac;

        var ip = frame[EthernetHeaderLength..];
        if (ip.Length < 20) return FrameVerdict.ShortFrame;
        int versionIhl = ip[0];
        int ihl = (versionIhl & 0x0F) * 4;
        if (versionIhl >> 4 != 4 || ihl < 20) return FrameVerdict.BadIpHeader;
        if (ip.Length < ihl) return FrameVerdict.ShortFrame;
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        if (totalLength < ihl || totalLength > ip.Length) return FrameVerdict.BadIpLength;
        ushort fragment = BinaryPrimitives.ReadUInt16BigEndian(ip[6..]);
        if ((fragment & 0x3FFF) != 0) return FrameVerdict.IpFragment; // MF or offset; DF is fine
        if (ip[9] != 17) return FrameVerdict.NotUdp;
        if ((hwFlags & HwIpChecksumBad) != 0) return FrameVerdict.BadIpChecksum;
        if ((hwFlags & HwIpChecksumGood) == 0 && Fold(SumNative(ip[..ihl])) != 0xFFFF) return FrameVerdict.BadIpChecksum;
        uint dstIp = BinaryPrimitives.ReadUInt32BigEndian(ip[16..]);
        if (dstIp != localIp) return FrameVerdict.WrongDestinationIp;

        var udp = ip[ihl..totalLength];
        if (udp.Length < 8) return FrameVerdict.ShortFrame;
        int udpLength = BinaryPrimitives.ReadUInt16BigEndian(udp[4..]);
        if (udpLength < 8 || udpLength != udp.Length) return FrameVerdict.BadUdpLength;
        ushort dstPort = BinaryPrimitives.ReadUInt16BigEndian(udp[2..]);
        if (dstPort != localPort) return FrameVerdict.WrongDestinationPort;
        uint srcIp = BinaryPrimitives.ReadUInt32BigEndian(ip[12..]);
        if ((hwFlags & HwL4ChecksumBad) != 0) return FrameVerdict.BadUdpChecksum;
        if ((hwFlags & HwL4ChecksumGood) == 0 && BinaryPrimitives.ReadUInt16BigEndian(udp[6..]) != 0)
        {
            ulong sum = PseudoHeaderSum(srcIp, dstIp, udpLength) + Swap16(Fold(SumNative(udp)));
            if (Fold(sum) != 0xFFFF) return FrameVerdict.BadUdpChecksum;
        }
        info.SourceMac = MacAddress.Read(frame[6..]);
        info.SourceIp = srcIp;
        info.SourcePort = BinaryPrimitives.ReadUInt16BigEndian(udp);
        info.PayloadOffset = EthernetHeaderLength + ihl + 8;
        info.PayloadLength = udpLength - 8;
        return FrameVerdict.Udp;
    }

    private static FrameVerdict ParseArp(ReadOnlySpan<byte> frame, MacAddress dstMac, MacAddress localMac, uint localIp, ref UdpFrameInfo info)
    {
        if (frame.Length < ArpLength) return FrameVerdict.ShortFrame;
        if (dstMac != localMac && dstMac != MacAddress.Broadcast) return FrameVerdict.WrongDestinationMac;
        var arp = frame[EthernetHeaderLength..];
        // htype 1 (Ethernet), ptype IPv4, hlen 6, plen 4
        if (BinaryPrimitives.ReadUInt16BigEndian(arp) != 1 || BinaryPrimitives.ReadUInt16BigEndian(arp[2..]) != EthertypeIpv4
            || arp[4] != 6 || arp[5] != 4)
            return FrameVerdict.ArpOther;
        ushort op = BinaryPrimitives.ReadUInt16BigEndian(arp[6..]);
        uint targetIp = BinaryPrimitives.ReadUInt32BigEndian(arp[24..]);
        if (op != 1 || targetIp != localIp) return FrameVerdict.ArpOther;
        info.SourceMac = MacAddress.Read(arp[8..]);
        info.SourceIp = BinaryPrimitives.ReadUInt32BigEndian(arp[14..]);
        return FrameVerdict.ArpRequestForUs;
    }

    /// <summary>Checksum handling for <see cref="WriteUdpHeaders"/>.</summary>
    public enum ChecksumMode
    {
        /// <summary>IPv4 header checksum and UDP checksum in software.</summary>
        Software,
        /// <summary>IPv4 header checksum in software, UDP checksum 0 (none).</summary>
        NoUdpChecksum,
        /// <summary>Device computes both: IPv4 checksum 0, UDP checksum = pseudo-header sum (DPDK convention).</summary>
        Offload,
    }

    /// <summary>
    /// Writes Ethernet/IPv4/UDP headers (42 bytes) in front of a payload of
    /// <paramref name="payloadLength"/> bytes that is already at <c>frame[42..]</c>, pads to 60 bytes
    /// and returns the frame length. DF is set, TTL 64.
    /// </summary>
    /// <exception cref="ArgumentException">frame too small for headers, payload and padding.</exception>
    public static int WriteUdpHeaders(Span<byte> frame, MacAddress srcMac, MacAddress dstMac, uint srcIp, uint dstIp,
        ushort srcPort, ushort dstPort, int payloadLength, ushort ipId, ChecksumMode checksum)
    {
        int frameLength = Math.Max(UdpHeadersLength + payloadLength, MinFrameLength);
        if (payloadLength < 0 || payloadLength > 65507 || frame.Length < frameLength)
            throw new ArgumentException("frame buffer too small for headers and payload", nameof(frame));
        dstMac.Write(frame);
        srcMac.Write(frame[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(frame[12..], EthertypeIpv4);
        var ip = frame.Slice(EthernetHeaderLength, 20);
        int udpLength = 8 + payloadLength;
        ip[0] = 0x45;
        ip[1] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + udpLength));
        BinaryPrimitives.WriteUInt16BigEndian(ip[4..], ipId);
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], 0x4000);
        ip[8] = 64;
        ip[9] = 17;
        ip[10] = 0;
        ip[11] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(ip[12..], srcIp);
        BinaryPrimitives.WriteUInt32BigEndian(ip[16..], dstIp);
        if (checksum != ChecksumMode.Offload)
            BinaryPrimitives.WriteUInt16BigEndian(ip[10..], (ushort)~Swap16(Fold(SumNative(ip))));
        var udp = frame.Slice(EthernetHeaderLength + 20, udpLength);
        BinaryPrimitives.WriteUInt16BigEndian(udp, srcPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], dstPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)udpLength);
        udp[6] = 0;
        udp[7] = 0;
        ushort udpSum = 0;
        switch (checksum)
        {
            case ChecksumMode.Software:
                udpSum = (ushort)~Fold(PseudoHeaderSum(srcIp, dstIp, udpLength) + Swap16(Fold(SumNative(udp))));
                if (udpSum == 0) udpSum = 0xFFFF;
                break;
            case ChecksumMode.Offload:
                udpSum = Fold(PseudoHeaderSum(srcIp, dstIp, udpLength));
                break;
        }
        BinaryPrimitives.WriteUInt16BigEndian(udp[6..], udpSum);
        int end = UdpHeadersLength + payloadLength;
        if (end < frameLength) frame[end..frameLength].Clear();
        return frameLength;
    }

    /// <summary>Writes a whole UDP frame: headers then a copy of <paramref name="payload"/>. Returns the frame length.</summary>
    /// <exception cref="ArgumentException">frame too small.</exception>
    public static int WriteUdp(Span<byte> frame, MacAddress srcMac, MacAddress dstMac, uint srcIp, uint dstIp,
        ushort srcPort, ushort dstPort, ReadOnlySpan<byte> payload, ushort ipId, ChecksumMode checksum)
    {
        if (frame.Length < UdpHeadersLength + payload.Length)
            throw new ArgumentException("frame buffer too small for headers and payload", nameof(frame));
        payload.CopyTo(frame[UdpHeadersLength..]);
        return WriteUdpHeaders(frame, srcMac, dstMac, srcIp, dstIp, srcPort, dstPort, payload.Length, ipId, checksum);
    }

    /// <summary>Writes an ARP reply "<paramref name="localIp"/> is at <paramref name="localMac"/>" to the
    /// requester; returns the frame length (60).</summary>
    /// <exception cref="ArgumentException">frame shorter than 60 bytes.</exception>
    public static int WriteArpReply(Span<byte> frame, MacAddress localMac, uint localIp, MacAddress requesterMac, uint requesterIp)
    {
        if (frame.Length < MinFrameLength) throw new ArgumentException("frame buffer shorter than 60 bytes", nameof(frame));
        requesterMac.Write(frame);
        localMac.Write(frame[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(frame[12..], EthertypeArp);
        var arp = frame[EthernetHeaderLength..];
        BinaryPrimitives.WriteUInt16BigEndian(arp, 1);
        BinaryPrimitives.WriteUInt16BigEndian(arp[2..], EthertypeIpv4);
        arp[4] = 6;
        arp[5] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(arp[6..], 2);
        localMac.Write(arp[8..]);
        BinaryPrimitives.WriteUInt32BigEndian(arp[14..], localIp);
        requesterMac.Write(arp[18..]);
        BinaryPrimitives.WriteUInt32BigEndian(arp[24..], requesterIp);
        frame[ArpLength..MinFrameLength].Clear();
        return MinFrameLength;
    }

    /// <summary>Writes an ARP request "who has <paramref name="targetIp"/>" (broadcast); returns 60.</summary>
    /// <exception cref="ArgumentException">frame shorter than 60 bytes.</exception>
    public static int WriteArpRequest(Span<byte> frame, MacAddress localMac, uint localIp, uint targetIp)
    {
        WriteArpReply(frame, localMac, localIp, MacAddress.Broadcast, targetIp);
        var arp = frame[EthernetHeaderLength..];
        BinaryPrimitives.WriteUInt16BigEndian(arp[6..], 1);
        arp.Slice(18, 6).Clear();
        return MinFrameLength;
    }

    /// <summary>RFC 1071 Internet checksum of <paramref name="data"/> (the value to store, network order).</summary>
    public static ushort InternetChecksum(ReadOnlySpan<byte> data) => (ushort)~Swap16(Fold(SumNative(data)));

    private static ulong PseudoHeaderSum(uint srcIp, uint dstIp, int udpLength) =>
        (srcIp >> 16) + (srcIp & 0xFFFF) + (dstIp >> 16) + (dstIp & 0xFFFF) + 17u + (uint)udpLength;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort Fold(ulong sum)
    {
        sum = (sum & 0xFFFF_FFFF) + (sum >> 32);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort Swap16(ushort v) => BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(v) : v;

    /// <summary>One's-complement sum of 16-bit words in native byte order (unfolded); odd tail padded with zero.</summary>
    private static ulong SumNative(ReadOnlySpan<byte> data)
    {
        ulong a = 0, b = 0;
        ref byte p = ref MemoryMarshal.GetReference(data);
        int n = data.Length, i = 0;
        for (; i + 16 <= n; i += 16)
        {
            ulong x = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i));
            ulong y = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i + 8));
            a += (x & 0xFFFF_FFFF) + (x >> 32);
            b += (y & 0xFFFF_FFFF) + (y >> 32);
        }
        a += b;
        for (; i + 4 <= n; i += 4) a += Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref p, i));
        if (i + 2 <= n)
        {
            a += Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref p, i));
            i += 2;
        }
        if (i < n) a += BitConverter.IsLittleEndian ? Unsafe.Add(ref p, i) : (ulong)Unsafe.Add(ref p, i) << 8;
        return a;
    }
}
