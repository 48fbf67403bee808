using System.Collections.Concurrent;
using System.Diagnostics;

namespace FastBft.Perf.Cell;

/// <summary>Every child process the harness starts is registered here and killed when the harness exits (normally, on Ctrl+C, or on an unhandled exception).</summary>
internal static class ChildProcesses
{
    private static readonly ConcurrentDictionary<int, Process> Children = new();
    private static int _installed;

    public static void Track(Process p)
    {
        Install();
        Children[p.Id] = p;
    }

    public static void KillAll()
    {
        foreach (var (_, p) in Children)
        {
            try { if (!p.HasExited) p.Kill(entireProcessTree: true); } catch (Exception) { /* already gone */ }
        }
        Children.Clear();
    }

    private static void Install()
    {
        if (Interlocked.Exchange(ref _installed, 1) == 1) return;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
        AppDomain.CurrentDomain.UnhandledException += (_, _) => KillAll();
        Console.CancelKeyPress += (_, _) => KillAll();
    }
}

/// <summary>How to start this same harness executable as a child (apphost, or `dotnet fastbft.dll`).</summary>
internal static class SelfCommand
{
    public static ProcessStartInfo Start(params string[] args)
    {
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("cannot locate the harness executable");
        var psi = new ProcessStartInfo(host) { UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            psi.ArgumentList.Add(typeof(SelfCommand).Assembly.Location);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }
}
