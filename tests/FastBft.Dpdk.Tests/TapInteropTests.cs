using System.Diagnostics;
using System.Net;
using FastBft.Transport;
using FastBft.Transport.Dpdk;

namespace FastBft.Dpdk.Tests;

/// <summary>
/// A DPDK node (net_tap) and a kernel-UDP node (UdpTransport on the tap interface's address) exchange
/// messages both ways: byte-identical UDP payloads, real checksums, and the kernel resolves the DPDK
/// node's MAC through our ARP replies. Needs root and /dev/net/tun (skips with the reason otherwise).
/// </summary>
[Collection("dpdk")]
public class TapInteropTests(ITestOutputHelper output)
{
    private static int Sh(string cmd, ITestOutputHelper o)
    {
        using var p = Process.Start(new ProcessStartInfo("/bin/sh", ["-c", cmd]) { RedirectStandardError = true, UseShellExecute = false })!;
        p.WaitForExit();
        string err = p.StandardError.ReadToEnd();
        if (p.ExitCode != 0) o.WriteLine($"'{cmd}' -> {p.ExitCode}: {err}");
        return p.ExitCode;
    }

    [Theory]
    [InlineData(DpdkPollMode.Adaptive)]
    [InlineData(DpdkPollMode.Interrupt)]
    public void DpdkOnTap_And_KernelUdp_ExchangeMessagesBothWays(DpdkPollMode poll)
    {
        if (!DpdkGate.Available(output)) return;
        if (Environment.UserName != "root" || !File.Exists("/dev/net/tun") || Sh("command -v ip", output) != 0)
        {
            output.WriteLine("SKIPPED: net_tap needs root, /dev/net/tun and iproute2 (the memif tests cover two DPDK processes)");
            Assert.Skip("net_tap needs root, /dev/net/tun and iproute2 (the memif tests cover two DPDK processes)");
        }
        string iface = $"fbt{Environment.ProcessId % 10000}{(int)poll}";
        int net = 100 + (Environment.ProcessId + (int)poll) % 100;
        string kernelIp = $"10.254.{net}.1", dpdkIp = $"10.254.{net}.2";
        var opts = new DpdkOptions
        {
            Device = $"net_tap{Environment.ProcessId % 1000}{(int)poll},iface={iface}",
            LocalIp = dpdkIp,
            // net_tap's own MAC and the kernel interface's can coincide: use a distinct, explicit one.
            LocalMac = $"02:fb:00:fe:{net:x2}:02",
            Promiscuous = true,
            LocalPort = 7200,
            Poll = poll,
            MempoolSize = 4096,
            RxDescriptors = 512,
            TxDescriptors = 512,
        };
        // The kernel side's MAC is only known once DPDK created the interface: open the link first.
        var link = new DpdkLink(opts);
        using var dpdk = new DatagramTransport(link);
        output.WriteLine($"driver={link.Driver} mac={link.LocalMac} offload={link.ChecksumOffload} rxIntr={link.RxInterruptAvailable} effectivePoll={link.EffectivePollMode}");
        Assert.Equal(0, Sh($"ip addr add {kernelIp}/24 dev {iface} && ip link set {iface} up", output));
        string kernelMac = File.ReadAllText($"/sys/class/net/{iface}/address").Trim();
        dpdk.SetStaticPeer(0, link.AddPeer(new IPEndPoint(IPAddress.Parse(kernelIp), 7201), MacAddress.Parse(kernelMac)));
        if (poll == DpdkPollMode.Interrupt && !link.RxInterruptAvailable)
        {
            output.WriteLine("net_tap rx interrupt not available here: Interrupt falls back to Adaptive");
            Assert.Equal(DpdkPollMode.Adaptive, link.EffectivePollMode);
        }

        using var udp = UdpTransport.Create(new UdpTransportOptions
        {
            LocalEndPoint = new IPEndPoint(IPAddress.Parse(kernelIp), 7201),
            Peers = new Dictionary<uint, IPEndPoint> { [1] = new(IPAddress.Parse(dpdkIp), 7200) },
            MaxDatagramSize = link.MaxDatagramSize, // a mixed cell uses the Ethernet MTU on the UDP side too
        });

        var fromKernel = new Collector();
        var fromDpdk = new Collector();
        int[] sizes = [1, 64, 1000, 1460, 5000, 40000];
        var sw = Stopwatch.StartNew();
        // The kernel must resolve 10.254.x.2 by ARP first; resend until everything arrived (datagram semantics).
        while ((fromKernel.Messages.Count < sizes.Length || fromDpdk.Messages.Count < sizes.Length) && sw.Elapsed < TimeSpan.FromSeconds(15))
        {
            if (fromKernel.Messages.Count < sizes.Length)
            {
                fromKernel.Messages.Clear();
                foreach (int s in sizes) udp.Send(1, 0, Payload(s, 1));
                udp.Flush();
            }
            if (fromDpdk.Messages.Count < sizes.Length)
            {
                fromDpdk.Messages.Clear();
                foreach (int s in sizes) dpdk.Send(0, 1, Payload(s, 2));
                dpdk.Flush();
            }
            var until = sw.Elapsed + TimeSpan.FromMilliseconds(300);
            while (sw.Elapsed < until)
            {
                dpdk.Poll(fromKernel, 5);
                udp.Poll(fromDpdk, 0);
            }
        }
        output.WriteLine($"dpdk: {link.DpdkStats}; udp stats: recv={udp.Stats.DatagramsReceived} malformed={udp.Stats.MalformedDropped}");
        Assert.Equal(sizes.Length, fromKernel.Messages.Count);
        Assert.Equal(sizes.Length, fromDpdk.Messages.Count);
        foreach (var (sender, dest, msg) in fromKernel.Messages)
        {
            Assert.Equal(0u, sender);
            Assert.Equal(1u, dest);
            Assert.Equal(Payload(msg.Length, 1), msg);
        }
        foreach (var (sender, dest, msg) in fromDpdk.Messages)
        {
            Assert.Equal(1u, sender);
            Assert.Equal(0u, dest);
            Assert.Equal(Payload(msg.Length, 2), msg);
        }
        Assert.True(link.DpdkStats.ArpRepliesSent >= 1, "the kernel should have resolved us by ARP");
        Assert.Equal(0, link.DpdkStats.RxBadUdpChecksum + link.DpdkStats.RxBadIpChecksum);
    }

    private static byte[] Payload(int size, int salt)
    {
        var b = new byte[size];
        for (int i = 0; i < size; i++) b[i] = (byte)(i * salt + size);
        return b;
    }
}
