using System.Buffers.Binary;
using FastBft.Transport.Dpdk;

namespace FastBft.Dpdk.Tests;

/// <summary>Ethernet/IPv4/UDP parsing and framing, pure C# (no DPDK needed).</summary>
public class CodecTests
{
    private static readonly MacAddress Local = MacAddress.Parse("02:fb:00:00:00:01");
    private static readonly MacAddress Remote = MacAddress.Parse("02:fb:00:00:00:02");
    private const uint LocalIp = 0x0AFB0001, RemoteIp = 0x0AFB0002;
    private const ushort LocalPort = 7001, RemotePort = 7002;

    private static byte[] Frame(int payloadLength = 100, EthernetUdpCodec.ChecksumMode mode = EthernetUdpCodec.ChecksumMode.Software)
    {
        var payload = new byte[payloadLength];
        for (int i = 0; i < payload.Length; i++) payload[i] = (byte)(i * 7 + 3);
        var frame = new byte[Math.Max(60, 42 + payloadLength)];
        int len = EthernetUdpCodec.WriteUdp(frame, Remote, Local, RemoteIp, LocalIp, RemotePort, LocalPort, payload, 0x1234, mode);
        Assert.Equal(frame.Length, len);
        return frame;
    }

    private static FrameVerdict Parse(ReadOnlySpan<byte> frame, out UdpFrameInfo info, uint hw = 0) =>
        EthernetUdpCodec.Parse(frame, Local, LocalIp, LocalPort, hw, out info);

    /// <summary>Independent RFC 1071 checksum, byte by byte.</summary>
    private static ushort Rfc1071(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (int i = 0; i < data.Length; i += 2)
            sum += (uint)(data[i] << 8 | (i + 1 < data.Length ? data[i + 1] : 0));
        while (sum >> 16 != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(17)]
    [InlineData(100)]
    [InlineData(1472)]
    public void RoundTrip_ValidFrame_ParsesWithPayloadAndSource(int size)
    {
        var frame = Frame(size);
        Assert.Equal(FrameVerdict.Udp, Parse(frame, out var info));
        Assert.Equal(Remote, info.SourceMac);
        Assert.Equal(RemoteIp, info.SourceIp);
        Assert.Equal(RemotePort, info.SourcePort);
        Assert.Equal(42, info.PayloadOffset);
        Assert.Equal(size, info.PayloadLength);
        for (int i = 0; i < size; i++) Assert.Equal((byte)(i * 7 + 3), frame[42 + i]);
    }

    [Fact]
    public void Checksums_MatchIndependentRfc1071()
    {
        var frame = Frame(333);
        Assert.Equal(0, Rfc1071(frame.AsSpan(14, 20))); // header incl. checksum sums to 0xFFFF
        // UDP: pseudo header + UDP segment
        var pseudo = new byte[12 + 8 + 333];
        frame.AsSpan(14 + 12, 8).CopyTo(pseudo);
        pseudo[9] = 17;
        BinaryPrimitives.WriteUInt16BigEndian(pseudo.AsSpan(10), 8 + 333);
        frame.AsSpan(34, 8 + 333).CopyTo(pseudo.AsSpan(12));
        Assert.Equal(0, Rfc1071(pseudo));
        // The classic IPv4 header example (checksum 0xb861).
        byte[] hdr = Convert.FromHexString("450000730000400040110000c0a80001c0a800c7");
        Assert.Equal(0xb861, EthernetUdpCodec.InternetChecksum(hdr));
    }

    [Fact]
    public void ChecksumModes_NoUdpChecksumIsAccepted_OffloadWritesPseudoHeaderSum()
    {
        var none = Frame(50, EthernetUdpCodec.ChecksumMode.NoUdpChecksum);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(none.AsSpan(40)));
        Assert.Equal(FrameVerdict.Udp, Parse(none, out _));
        var off = Frame(50, EthernetUdpCodec.ChecksumMode.Offload);
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(off.AsSpan(24))); // IP checksum left to the device
        Assert.NotEqual(0, BinaryPrimitives.ReadUInt16BigEndian(off.AsSpan(40)));
        // As the device would: with the hardware flags "good", the frame is accepted.
        Assert.Equal(FrameVerdict.Udp, Parse(off, out _, EthernetUdpCodec.HwIpChecksumGood | EthernetUdpCodec.HwL4ChecksumGood));
        Assert.Equal(FrameVerdict.BadIpChecksum, Parse(off, out _));
    }

    [Fact]
    public void Padding_BeyondIpTotalLength_IsIgnored()
    {
        var frame = Frame(4); // 46 bytes of headers+payload, padded to 60
        Assert.Equal(60, frame.Length);
        frame[59] = 0xAA;
        Assert.Equal(FrameVerdict.Udp, Parse(frame, out var info));
        Assert.Equal(4, info.PayloadLength);
    }

    public static TheoryData<string, FrameVerdict> Malformed()
    {
        var d = new TheoryData<string, FrameVerdict>();
        foreach (var name in new[]
                 {
                     "wrong-ethertype", "vlan-tag", "short-ethernet", "short-ip-header", "ihl-too-small", "ip-version-6",
                     "total-length-too-big", "total-length-below-header", "fragment-mf", "fragment-offset", "protocol-tcp",
                     "udp-length-too-big", "udp-length-too-small", "udp-length-short", "bad-ip-checksum", "bad-udp-checksum",
                     "payload-corrupted", "wrong-destination-mac", "broadcast-ip-frame", "wrong-destination-ip", "wrong-destination-port",
                     "truncated-udp-header",
                 })
        {
            d.Add(name, Expected(name));
        }
        return d;
    }

    private static FrameVerdict Expected(string name) => name switch
    {
        "wrong-ethertype" or "vlan-tag" => FrameVerdict.WrongEthertype,
        "short-ethernet" or "short-ip-header" or "truncated-udp-header" => FrameVerdict.ShortFrame,
        "ihl-too-small" or "ip-version-6" => FrameVerdict.BadIpHeader,
        "total-length-too-big" or "total-length-below-header" => FrameVerdict.BadIpLength,
        "fragment-mf" or "fragment-offset" => FrameVerdict.IpFragment,
        "protocol-tcp" => FrameVerdict.NotUdp,
        "udp-length-too-big" or "udp-length-too-small" or "udp-length-short" => FrameVerdict.BadUdpLength,
        "bad-ip-checksum" => FrameVerdict.BadIpChecksum,
        "bad-udp-checksum" or "payload-corrupted" => FrameVerdict.BadUdpChecksum,
        "wrong-destination-mac" or "broadcast-ip-frame" => FrameVerdict.WrongDestinationMac,
        "wrong-destination-ip" => FrameVerdict.WrongDestinationIp,
        "wrong-destination-port" => FrameVerdict.WrongDestinationPort,
        _ => throw new ArgumentException(name),
    };

    /// <summary>Builds the malformed frame named <paramref name="name"/> (IP checksum fixed up where the
    /// test is about another field, so the intended check is the one that fires).</summary>
    internal static byte[] MakeMalformed(string name, byte[] frame)
    {
        void FixIp()
        {
            frame[24] = frame[25] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(24), EthernetUdpCodec.InternetChecksum(frame.AsSpan(14, 20)));
        }
        switch (name)
        {
            case "wrong-ethertype": BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x86DD); return frame;
            case "vlan-tag": BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x8100); return frame;
            case "short-ethernet": return frame[..10];
            case "short-ip-header": return frame[..(14 + 12)];
            case "truncated-udp-header":
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(16), 24); FixIp(); return frame[..(14 + 24)];
            case "ihl-too-small": frame[14] = 0x44; FixIp(); return frame;
            case "ip-version-6": frame[14] = 0x65; FixIp(); return frame;
            case "total-length-too-big": BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(16), (ushort)(frame.Length - 14 + 1)); FixIp(); return frame;
            case "total-length-below-header": BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(16), 19); FixIp(); return frame;
            case "fragment-mf": BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(20), 0x2000); FixIp(); return frame;
            case "fragment-offset": BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(20), 0x0010); FixIp(); return frame;
            case "protocol-tcp": frame[23] = 6; FixIp(); return frame;
            case "udp-length-too-big": BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(38), (ushort)(BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(38)) + 1)); return frame;
            case "udp-length-too-small": BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(38), 7); return frame;
            case "udp-length-short": BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(38), (ushort)(BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(38)) - 1)); return frame;
            case "bad-ip-checksum": frame[25] ^= 0x01; return frame;
            case "bad-udp-checksum": frame[41] ^= 0x01; return frame;
            case "payload-corrupted": frame[50] ^= 0x40; return frame;
            case "wrong-destination-mac": frame[5] ^= 0x10; return frame;
            case "broadcast-ip-frame": MacAddress.Broadcast.Write(frame); return frame;
            case "wrong-destination-ip": frame[33] ^= 0x01; FixIp(); return frame;
            case "wrong-destination-port": frame[37] ^= 0x01; return frame;
            default: throw new ArgumentException(name);
        }
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_IsRejectedWithItsReason(string name, FrameVerdict expected)
    {
        var frame = MakeMalformed(name, Frame(64));
        Assert.Equal(expected, Parse(frame, out _));
    }

    [Fact]
    public void HardwareChecksumFlags_AreTrusted()
    {
        var frame = Frame(64);
        frame[41] ^= 0x01; // bad UDP checksum, but the device says good
        Assert.Equal(FrameVerdict.Udp, Parse(frame, out _, EthernetUdpCodec.HwL4ChecksumGood));
        Assert.Equal(FrameVerdict.BadUdpChecksum, Parse(Frame(64), out _, EthernetUdpCodec.HwL4ChecksumBad));
        Assert.Equal(FrameVerdict.BadIpChecksum, Parse(Frame(64), out _, EthernetUdpCodec.HwIpChecksumBad));
    }

    [Fact]
    public void Arp_RequestForUsIsRecognised_ReplyIsWellFormed()
    {
        var req = new byte[60];
        EthernetUdpCodec.WriteArpRequest(req, Remote, RemoteIp, LocalIp);
        Assert.Equal(FrameVerdict.ArpRequestForUs, Parse(req, out var info));
        Assert.Equal(Remote, info.SourceMac);
        Assert.Equal(RemoteIp, info.SourceIp);

        var other = new byte[60];
        EthernetUdpCodec.WriteArpRequest(other, Remote, RemoteIp, LocalIp + 5);
        Assert.Equal(FrameVerdict.ArpOther, Parse(other, out _));

        var reply = new byte[60];
        EthernetUdpCodec.WriteArpReply(reply, Local, LocalIp, Remote, RemoteIp);
        Assert.Equal(Remote, MacAddress.Read(reply));
        Assert.Equal(0x0806, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(12)));
        Assert.Equal(2, BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(20))); // op = reply
        Assert.Equal(Local, MacAddress.Read(reply.AsSpan(22)));
        Assert.Equal(LocalIp, BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(28)));
        // The requester sees the reply addressed to it as "other ARP", never as malformed.
        Assert.Equal(FrameVerdict.ArpOther, EthernetUdpCodec.Parse(reply, Remote, RemoteIp, RemotePort, 0, out _));
    }

    [Fact]
    public void Fuzz_RandomMutationsNeverThrow_AndAcceptedFramesAreConsistent()
    {
        var rng = new Random(12345);
        var baseFrame = Frame(200);
        for (int iter = 0; iter < 20000; iter++)
        {
            var f = (byte[])baseFrame.Clone();
            int flips = rng.Next(1, 4);
            for (int k = 0; k < flips; k++) f[rng.Next(f.Length)] ^= (byte)(1 << rng.Next(8));
            int len = rng.Next(4) == 0 ? rng.Next(f.Length + 1) : f.Length;
            var v = Parse(f.AsSpan(0, len), out var info);
            if (v == FrameVerdict.Udp)
            {
                Assert.InRange(info.PayloadOffset + info.PayloadLength, 0, len);
            }
        }
    }

    [Fact]
    public void MacAddress_ParseFormatAndFlags()
    {
        var m = MacAddress.Parse("02:FB:00:0a:0B:ff");
        Assert.Equal("02:fb:00:0a:0b:ff", m.ToString());
        Assert.False(m.IsMulticast);
        Assert.True(MacAddress.Broadcast.IsMulticast);
        Assert.False(MacAddress.TryParse("02:fb:00:0a:0b", out _));
        Assert.False(MacAddress.TryParse("zz:fb:00:0a:0b:00", out _));
    }

    [Fact]
    public void Options_ValidationNamesTheField()
    {
        DpdkOptions Good() => new()
        {
            Device = "net_memif0,role=server,socket=/tmp/x.sock",
            LocalIp = "10.0.0.1",
            LocalPort = 7000,
            Neighbors = { new DpdkNeighbor("10.0.0.2", 7000, "02:00:00:00:00:02", 1) },
        };
        Good().Validate();
        Assert.Equal("dpdk.device", Assert.Throws<DpdkConfigException>(() => { var o = Good(); o.Device = ""; o.Validate(); }).Field);
        Assert.Equal("dpdk.localIp", Assert.Throws<DpdkConfigException>(() => { var o = Good(); o.LocalIp = "10.0.0"; o.Validate(); }).Field);
        Assert.Equal("dpdk.localPort", Assert.Throws<DpdkConfigException>(() => { var o = Good(); o.LocalPort = 0; o.Validate(); }).Field);
        Assert.Equal("dpdk.localMac", Assert.Throws<DpdkConfigException>(() => { var o = Good(); o.LocalMac = "nope"; o.Validate(); }).Field);
        Assert.Equal("dpdk.neighbors[0].mac", Assert.Throws<DpdkConfigException>(() => { var o = Good(); o.Neighbors[0].Mac = "ff:ff:ff:ff:ff:ff"; o.Validate(); }).Field);
        Assert.Equal("dpdk.neighbors[1]", Assert.Throws<DpdkConfigException>(() => { var o = Good(); o.Neighbors.Add(new DpdkNeighbor("10.0.0.2", 7000, "02:00:00:00:00:03")); o.Validate(); }).Field);
        Assert.Equal("dpdk.neighbors[1].nodeId", Assert.Throws<DpdkConfigException>(() => { var o = Good(); o.Neighbors.Add(new DpdkNeighbor("10.0.0.3", 7000, "02:00:00:00:00:03", 1)); o.Validate(); }).Field);
        Assert.Equal("dpdk.mtu", Assert.Throws<DpdkConfigException>(() => { var o = Good(); o.Mtu = 100; o.Validate(); }).Field);
        Assert.Equal("dpdk.mempoolSize", Assert.Throws<DpdkConfigException>(() => { var o = Good(); o.MempoolSize = 100; o.Validate(); }).Field);
        Assert.Equal(1472, Good().MaxDatagramSize);
    }
}
