using System.Diagnostics;
using System.Text.Json;
using Xunit;

namespace FastBft.Tests.Shared;

/// <summary>
/// Runs the `fastbft` harness (the fastbft.dll copied next to the test assembly) as a child process
/// and returns its exit code and combined output. Shared by the test projects that drive whole cells
/// through the harness (compiled into each; see their csproj).
/// </summary>
internal static class HarnessProcess
{
    /// <summary>Runs `dotnet fastbft.dll args…`; <paramref name="environment"/> entries are added to the child's environment (and inherited by its replicas).</summary>
    public static (int Exit, string Output) Run(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "fastbft.dll");
        Assert.True(File.Exists(dll), $"harness not found at {dll}");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (environment is not null) foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(3))) { p.Kill(entireProcessTree: true); Assert.Fail("harness did not finish in 3 minutes"); }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>
    /// Runs `fastbft args… --json F` with a fresh temporary F, asserts exit code 0, and returns F's root element (cloned;
    /// F is deleted) with the combined output.
    /// </summary>
    public static (JsonElement Json, string Output) RunJson(params string[] args)
    {
        var json = Path.Combine(Path.GetTempPath(), $"fastbft-{Guid.NewGuid():N}.json");
        try
        {
            var (exit, output) = Run(null, [.. args, "--json", json]);
            Assert.True(exit == 0, $"exit {exit}: {output}");
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            return (doc.RootElement.Clone(), output);
        }
        finally { File.Delete(json); }
    }
}
