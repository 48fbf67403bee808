using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using FastBft.Transport;
using FastBft.Transport.Dpdk;

namespace FastBft.Perf.Commands;

/// <summary>
/// <c>fastbft ping --transport udp|dpdk</c>: round trips between this process (node 0) and an echo
/// peer (node 1) started as a child process (<c>fastbft ping echo</c>, hidden), through the full
/// transport stack (DatagramTransport over UdpLink or DpdkLink over net_memif).
/// </summary>
internal static partial class PingCommand
{
    private const uint PingNode = 0, EchoNode = 1;
    private const string PingMac = "02:fb:00:00:00:01", EchoMac = "02:fb:00:00:00:02";
    private const string PingIp = "10.251.0.1", EchoIp = "10.251.0.2";
    private const int PingPort = 7001, EchoPort = 7002;

    public static Command Create()
    {
        var transport = new Option<string>("--transport") { Description = "udp | dpdk", DefaultValueFactory = _ => "udp" };
        transport.AcceptOnlyFromAmong("udp", "dpdk");
        var size = new Option<int>("--size") { Description = "message size in bytes (≥ 8)", DefaultValueFactory = _ => 64 };
        var count = new Option<int>("--count") { Description = "measured round trips", DefaultValueFactory = _ => 20000 };
        var warmup = new Option<int>("--warmup") { Description = "unmeasured round trips first", DefaultValueFactory = _ => 2000 };
        var poll = new Option<string>("--poll") { Description = "dpdk polling: busy | adaptive | interrupt (both sides)", DefaultValueFactory = _ => "adaptive" };
        poll.AcceptOnlyFromAmong("busy", "adaptive", "interrupt");
        var json = new Option<string?>("--json") { Description = "write the result as JSON to this file" };
        var cpu = new Option<int>("--cpu") { Description = "CPU for this side's I/O thread (-1: none)", DefaultValueFactory = _ => 0 };
        var peerCpu = new Option<int>("--peer-cpu") { Description = "CPU for the echo peer (-1: none)", DefaultValueFactory = _ => Environment.ProcessorCount > 1 ? 1 : 0 };

        var ping = new Command("ping", "Round-trip latency and rate between two processes over one transport (RTT p50/p99 in µs, round trips/s).")
        {
            transport, size, count, warmup, poll, json, cpu, peerCpu,
        };
        ping.SetAction(r => RunPing(new PingArgs(r.GetValue(transport)!, r.GetValue(size), r.GetValue(count), r.GetValue(warmup),
            r.GetValue(poll)!, r.GetValue(json), r.GetValue(cpu), r.GetValue(peerCpu))));

        var eTransport = new Option<string>("--transport") { DefaultValueFactory = _ => "udp" };
        var ePoll = new Option<string>("--poll") { Description = "dpdk polling of the echo side: busy | adaptive | interrupt", DefaultValueFactory = _ => "adaptive" };
        var eCpu = new Option<int>("--cpu") { DefaultValueFactory = _ => -1 };
        var eSocket = new Option<string>("--socket") { Description = "memif socket (dpdk)", DefaultValueFactory = _ => "" };
        var eDevice = new Option<string?>("--device") { Description = "full device string (dpdk); overrides --socket" };
        var ePeerPort = new Option<int>("--peer-port") { Description = "UDP port of the pinging process (udp)", DefaultValueFactory = _ => 0 };
        var echo = new Command("echo", "(internal) echo peer for ping and the DPDK tests; exits when stdin closes.")
        {
            eTransport, ePoll, eCpu, eSocket, eDevice, ePeerPort,
        };
        echo.Hidden = true;
        echo.SetAction(r => RunEcho(r.GetValue(eTransport)!, r.GetValue(ePoll)!, r.GetValue(eCpu), r.GetValue(eSocket)!,
            r.GetValue(eDevice), r.GetValue(ePeerPort)));
        ping.Subcommands.Add(echo);
        return ping;
    }

    private sealed record PingArgs(string Transport, int Size, int Count, int Warmup, string Poll, string? Json, int Cpu, int PeerCpu);

    internal static DpdkOptions DpdkSide(bool server, string device, DpdkPollMode poll, int cpu) => new()
    {
        Device = device,
        LocalMac = server ? PingMac : EchoMac,
        LocalIp = server ? PingIp : EchoIp,
        LocalPort = server ? PingPort : EchoPort,
        Neighbors =
        {
            server ? new DpdkNeighbor(EchoIp, EchoPort, EchoMac, EchoNode) : new DpdkNeighbor(PingIp, PingPort, PingMac, PingNode),
        },
        Poll = poll,
        IoCore = cpu >= 0 ? cpu : null,
    };

    private static DpdkPollMode ParsePoll(string poll) => poll switch
    {
        "busy" => DpdkPollMode.Busy,
        "interrupt" => DpdkPollMode.Interrupt,
        _ => DpdkPollMode.Adaptive,
    };

    private static int RunPing(PingArgs a)
    {
        if (a.Size < 8) { Console.Error.WriteLine("--size must be ≥ 8"); return 2; }
        if (a.Count < 1) { Console.Error.WriteLine("--count must be ≥ 1"); return 2; }
        if (a.Cpu >= 0) PinCurrentThread(a.Cpu);
        using var children = new ChildProcesses();
        DatagramTransport transport;
        string effectivePoll = a.Transport == "udp" ? "kernel" : a.Poll;
        try
        {
            if (a.Transport == "dpdk")
            {
                string sock = $"/tmp/fastbft-ping-{Environment.ProcessId}.sock";
                File.Delete(sock);
                string device = $"net_memif0,role=server,socket={sock}";
                transport = DpdkTransport.Create(DpdkSide(true, device, ParsePoll(a.Poll), a.Cpu));
                var link = (DpdkLink)transport.Link;
                effectivePoll = link.EffectivePollMode.ToString().ToLowerInvariant();
                bool up = false;
                for (int attempt = 1; attempt <= 3 && !up; attempt++)
                {
                    // memif: the server (us) listens first; the client connects. Restart a client the server never accepted.
                    var child = children.Start(["ping", "echo", "--transport", "dpdk", "--poll", a.Poll, "--cpu", a.PeerCpu.ToString(), "--socket", sock]);
                    children.WaitReady(child, TimeSpan.FromSeconds(20));
                    up = link.WaitForLinkUp(TimeSpan.FromSeconds(5));
                    if (!up) { Console.Error.WriteLine($"ping: memif link not up (attempt {attempt}); restarting the echo peer"); children.KillAll(); }
                }
                if (!up) { Console.Error.WriteLine("ping: memif link never came up"); return 1; }
            }
            else
            {
                transport = UdpTransport.Create(new UdpTransportOptions { LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0) });
                var link = (UdpLink)transport.Link;
                var child = children.Start(["ping", "echo", "--transport", "udp", "--cpu", a.PeerCpu.ToString(), "--peer-port", link.LocalEndPoint.Port.ToString()]);
                string ready = children.WaitReady(child, TimeSpan.FromSeconds(20));
                int echoPort = int.Parse(ready.Split(' ')[1]);
                transport.SetStaticPeer(EchoNode, link.AddPeer(new IPEndPoint(IPAddress.Loopback, echoPort)));
            }
        }
        catch (Exception e) when (e is DpdkException or DpdkConfigException or TimeoutException or InvalidOperationException)
        {
            Console.Error.WriteLine($"ping: {e.Message}");
            return 1;
        }

        using (transport)
        {
            var waiter = new EchoWaiter();
            var payload = new byte[a.Size];
            for (int i = 8; i < payload.Length; i++) payload[i] = (byte)i;
            // RTTs in ns (HdrHistogram; the harness's one percentile path, FastBft.Perf.Measure).
            var rtts = FastBft.Perf.Measure.LatencyHistograms.NewHistogram(60_000_000_000);
            int lost = 0;
            long timeoutTicks = Stopwatch.Frequency; // 1 s
            long measuredStart = 0;
            TimeSpan cpuStart = TimeSpan.Zero;
            int total = a.Warmup + a.Count;
            for (int i = 0; i < total; i++)
            {
                if (i == a.Warmup)
                {
                    cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
                    measuredStart = Stopwatch.GetTimestamp();
                }
                long seq = i + 1;
                BitConverter.TryWriteBytes(payload, seq);
                waiter.Expect(seq);
                long t0 = Stopwatch.GetTimestamp();
                transport.Send(EchoNode, PingNode, payload);
                transport.Flush();
                while (!waiter.Got)
                {
                    transport.Poll(waiter, 100);
                    if (!waiter.Got && Stopwatch.GetTimestamp() - t0 > timeoutTicks) break;
                }
                long rtt = Stopwatch.GetTimestamp() - t0;
                if (i < a.Warmup) continue;
                if (waiter.Got) FastBft.Perf.Measure.LatencyHistograms.RecordClamped(rtts, FastBft.Perf.Measure.LatencyHistograms.TicksToNanos(rtt));
                else lost++;
            }
            double seconds = Stopwatch.GetElapsedTime(measuredStart).TotalSeconds;
            double cpuUs = (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalMicroseconds;
            int ok = a.Count - lost;
            var sum = FastBft.Perf.Measure.LatencySummary.From(rtts, divisor: 1000, digits: 2);
            double P(double q) => ok == 0 ? double.NaN : q switch { 0.50 => sum.P50, 0.90 => sum.P90, 0.99 => sum.P99, _ => sum.P999 };
            double mean = ok == 0 ? double.NaN : sum.Mean;
            double rate = ok / seconds;
            string extra = transport.Link is DpdkLink dl ? $" drops={dl.DpdkStats.RxDropped} sleeps={dl.DpdkStats.Sleeps} intr={dl.DpdkStats.InterruptWaits}" : "";
            Console.WriteLine($"ping transport={a.Transport} poll={effectivePoll} size={a.Size} count={a.Count} lost={lost} " +
                $"rtt_p50_us={P(0.50):F1} rtt_p90_us={P(0.90):F1} rtt_p99_us={P(0.99):F1} rtt_p999_us={sum.P999:F1} rtt_max_us={sum.Max:F1} rtt_mean_us={mean:F1} " +
                $"round_trips_per_s={rate:F0} cpu_us_per_rt={cpuUs / Math.Max(1, a.Count):F2}{extra}");
            if (a.Json is { } path)
            {
                using var fs = File.Create(path);
                using var w = new Utf8JsonWriter(fs, new JsonWriterOptions { Indented = true });
                w.WriteStartObject();
                w.WriteString("transport", a.Transport);
                w.WriteNumber("size", a.Size);
                w.WriteNumber("rtt_p50_us", Math.Round(P(0.50), 2));
                w.WriteNumber("rtt_p99_us", Math.Round(P(0.99), 2));
                w.WriteNumber("round_trips_per_s", Math.Round(rate, 1));
                w.WriteString("poll", effectivePoll);
                w.WriteNumber("count", a.Count);
                w.WriteNumber("lost", lost);
                w.WriteNumber("rtt_p90_us", Math.Round(P(0.90), 2));
                w.WriteNumber("rtt_mean_us", Math.Round(mean, 2));
                w.WriteNumber("rtt_p999_us", sum.P999);
                w.WriteNumber("rtt_max_us", sum.Max);
                w.WriteNumber("cpu_us_per_round_trip", Math.Round(cpuUs / Math.Max(1, a.Count), 2));
                w.WriteEndObject();
            }
            return lost == a.Count ? 1 : 0;
        }
    }

    private static int RunEcho(string transportName, string poll, int cpu, string socket, string? device, int peerPort)
    {
        // Exit when the parent goes away (stdin closes), whatever the reason.
        var stdinWatch = new Thread(() =>
        {
            try { while (Console.In.ReadLine() is not null) { } } catch (IOException) { }
            Environment.Exit(0);
        }) { IsBackground = true, Name = "stdin-watch" };
        stdinWatch.Start();
        if (cpu >= 0) PinCurrentThread(cpu);
        DatagramTransport transport;
        try
        {
            if (transportName == "dpdk")
            {
                string dev = device ?? $"net_memif0,role=client,socket={socket}";
                transport = DpdkTransport.Create(DpdkSide(false, dev, ParsePoll(poll), cpu));
                var link = (DpdkLink)transport.Link;
                if (!link.WaitForLinkUp(TimeSpan.FromSeconds(10)))
                {
                    Console.Error.WriteLine("echo: link did not come up");
                    return 3;
                }
                Console.WriteLine($"READY {link.Driver} {link.EffectivePollMode}");
            }
            else
            {
                transport = UdpTransport.Create(new UdpTransportOptions { LocalEndPoint = new IPEndPoint(IPAddress.Loopback, 0) });
                var link = (UdpLink)transport.Link;
                if (peerPort > 0) transport.SetStaticPeer(PingNode, link.AddPeer(new IPEndPoint(IPAddress.Loopback, peerPort)));
                Console.WriteLine($"READY {link.LocalEndPoint.Port}");
            }
        }
        catch (Exception e) when (e is DpdkException or DpdkConfigException)
        {
            Console.Error.WriteLine($"echo: {e.Message}");
            Console.WriteLine($"FAILED {e.Message}");
            return 2;
        }
        Console.Out.Flush();
        using (transport)
        {
            var echo = new Echo(transport);
            var dpdk = transport.Link as DpdkLink;
            long nextReport = Environment.TickCount64 + 1000, lastFrames = 0;
            while (true)
            {
                transport.Poll(echo, 100);
                transport.Flush();
                if (dpdk is not null && Environment.TickCount64 >= nextReport)
                {
                    // Counters on stderr once a second while traffic flows (diagnostics for tests and ping).
                    nextReport = Environment.TickCount64 + 1000;
                    long frames = dpdk.DpdkStats.RxFrames + dpdk.DpdkStats.TxFrames;
                    if (frames != lastFrames) Console.Error.WriteLine($"echo stats: {dpdk.DpdkStats} link={(dpdk.IsLinkUp ? "up" : "down")}");
                    lastFrames = frames;
                }
            }
        }
    }

    private sealed class Echo(ITransport transport) : IMessageHandler
    {
        public void OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message)
        {
            // Ping is an unauthenticated measurement tool: it answers whoever sent the probe.
            transport.ConfirmRoute(sender, 0);
            transport.Send(sender, destination, message);
        }
    }

    private sealed class EchoWaiter : IMessageHandler
    {
        private long _expected;
        public bool Got;

        public void Expect(long seq)
        {
            _expected = seq;
            Got = false;
        }

        public void OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message)
        {
            if (message.Length >= 8 && BitConverter.ToInt64(message) == _expected) Got = true;
        }
    }

    /// <summary>Child processes killed when this process exits (normally, on failure or on Ctrl+C).</summary>
    private sealed class ChildProcesses : IDisposable
    {
        private readonly List<Process> _children = new();
        private readonly ConsoleCancelEventHandler _onCancel;
        private readonly EventHandler _onExit;

        public ChildProcesses()
        {
            _onCancel = (_, _) => KillAll();
            _onExit = (_, _) => KillAll();
            Console.CancelKeyPress += _onCancel;
            AppDomain.CurrentDomain.ProcessExit += _onExit;
        }

        public Process Start(string[] args)
        {
            string exe = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find the fastbft executable");
            var psi = new ProcessStartInfo(exe)
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            if (Path.GetFileNameWithoutExtension(exe) == "dotnet")
                psi.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
            foreach (var arg in args) psi.ArgumentList.Add(arg);
            var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {exe}");
            lock (_children) _children.Add(p);
            return p;
        }

        public string WaitReady(Process p, TimeSpan timeout)
        {
            var line = p.StandardOutput.ReadLineAsync();
            if (!line.Wait(timeout)) throw new TimeoutException("echo peer did not report READY in time");
            string? text = line.Result;
            if (text is null || !text.StartsWith("READY", StringComparison.Ordinal))
                throw new InvalidOperationException($"echo peer failed: {text ?? "exited"}");
            return text;
        }

        public void KillAll()
        {
            lock (_children)
            {
                foreach (var p in _children)
                {
                    try
                    {
                        if (!p.HasExited) p.Kill(entireProcessTree: true);
                        p.WaitForExit(5000);
                    }
                    catch (InvalidOperationException) { }
                    p.Dispose();
                }
                _children.Clear();
            }
        }

        public void Dispose()
        {
            KillAll();
            Console.CancelKeyPress -= _onCancel;
            AppDomain.CurrentDomain.ProcessExit -= _onExit;
        }
    }

    [LibraryImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    private static unsafe partial int SchedSetAffinity(int pid, nint size, ulong* mask);

    private static unsafe void PinCurrentThread(int cpu)
    {
        if (cpu < 0 || cpu >= 64 || !OperatingSystem.IsLinux()) return;
        ulong* mask = stackalloc ulong[16];
        for (int i = 0; i < 16; i++) mask[i] = 0;
        mask[0] = 1UL << cpu;
        SchedSetAffinity(0, 128, mask);
    }
}
