using System.Diagnostics;
using FastBft.Transport;
using FastBft.Transport.Dpdk;

namespace FastBft.Dpdk.Tests;

/// <summary>
/// Decides whether DPDK can run here. A test may only skip (reported as skipped, with the reason) when
/// libdpdk is not installed (pkg-config) or EAL init fails for lack of permission; any other failure
/// (shim not built although DPDK is installed, bad EAL arguments, device errors) fails the test.
/// </summary>
internal static class DpdkGate
{
    private static readonly Lazy<string?> SkipReason = new(Probe, LazyThreadSafetyMode.ExecutionAndPublication);

    private static string? Probe()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("pkg-config", "--exists libdpdk") { UseShellExecute = false })!;
            p.WaitForExit();
            if (p.ExitCode != 0) return $"libdpdk is not installed (pkg-config --exists libdpdk failed): {DpdkEnvironment.InstallHint}";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "pkg-config is not installed, so DPDK cannot be found: " + DpdkEnvironment.InstallHint;
        }
        try
        {
            DpdkEnvironment.EnsureInitialized(DpdkOptions.DefaultEalArgs());
        }
        catch (DpdkException e) when (e.Failure == DpdkFailure.Permission)
        {
            return e.Message;
        }
        return null;
    }

    /// <summary>True when DPDK runs; otherwise writes why to the test output and skips the test (xunit v3 <see cref="Assert.Skip"/>).</summary>
    public static bool Available(ITestOutputHelper output)
    {
        string? reason = SkipReason.Value;
        if (reason is null) return true;
        output.WriteLine($"SKIPPED (DPDK cannot run here): {reason}");
        Console.Error.WriteLine($"SKIPPED (DPDK cannot run here): {reason}");
        Assert.Skip($"DPDK cannot run here: {reason}");
        return false;
    }
}

/// <summary>The echo peer process (<c>fastbft ping echo --transport dpdk</c>, a memif client).</summary>
internal sealed class EchoPeer : IDisposable
{
    // Addresses of `fastbft ping`'s two sides (PingCommand).
    public const string ServerMac = "02:fb:00:00:00:01", PeerMac = "02:fb:00:00:00:02";
    public const string ServerIp = "10.251.0.1", PeerIp = "10.251.0.2";
    public const int ServerPort = 7001, PeerPort = 7002;
    public const uint ServerNode = 0, PeerNode = 1;

    private static int s_seq;
    private readonly Process _process;

    private EchoPeer(Process p) => _process = p;

    public static (string Device, string Socket) NewMemifServer()
    {
        int n = Interlocked.Increment(ref s_seq);
        string sock = $"/tmp/fbdt-{Environment.ProcessId}-{n}.sock";
        File.Delete(sock);
        return ($"net_memif{n},role=server,socket={sock}", sock);
    }

    public static DpdkOptions ServerOptions(string device, DpdkPollMode poll = DpdkPollMode.Adaptive) => new()
    {
        Device = device,
        LocalMac = ServerMac,
        LocalIp = ServerIp,
        LocalPort = ServerPort,
        Neighbors = { new DpdkNeighbor(PeerIp, PeerPort, PeerMac, PeerNode) },
        Poll = poll,
        MempoolSize = 4096,
        RxDescriptors = 512,
        TxDescriptors = 512,
    };

    public static EchoPeer Start(string socket, ITestOutputHelper output, string poll = "adaptive")
    {
        string dir = AppContext.BaseDirectory;
        string dll = Path.Combine(dir, "fastbft.dll");
        if (!File.Exists(dll)) throw new FileNotFoundException("fastbft.dll (the echo peer) is not next to the tests", dll);
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { dll, "ping", "echo", "--transport", "dpdk", "--poll", poll, "--socket", socket }) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) try { output.WriteLine("[echo] " + e.Data); } catch (InvalidOperationException) { } };
        p.BeginErrorReadLine();
        var line = p.StandardOutput.ReadLineAsync();
        if (!line.Wait(TimeSpan.FromSeconds(30)) || line.Result is not { } text || !text.StartsWith("READY", StringComparison.Ordinal))
        {
            try { p.Kill(true); } catch (InvalidOperationException) { }
            throw new InvalidOperationException($"echo peer did not become ready: {(line.IsCompleted ? line.Result : "timeout")}");
        }
        output.WriteLine($"echo peer pid {p.Id}: {text}");
        return new EchoPeer(p);
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10000);
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}

/// <summary>Collects messages delivered by a transport.</summary>
internal sealed class Collector : IMessageHandler
{
    public readonly List<(uint Sender, uint Destination, byte[] Message)> Messages = new();

    public void OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message) => Messages.Add((sender, destination, message.ToArray()));

    /// <summary>Polls until <paramref name="count"/> messages arrived or the timeout passes.</summary>
    public bool PollUntil(ITransport t, int count, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (Messages.Count < count && sw.Elapsed < timeout) t.Poll(this, 20);
        return Messages.Count >= count;
    }
}
