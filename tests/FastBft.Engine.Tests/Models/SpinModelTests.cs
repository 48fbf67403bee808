using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace FastBft.Engine.Tests.Models;

/// <summary>
/// The Promela model of the RePBFT abort-history protocol switch (<c>models/repbft-switch.pml</c>,
/// docs/repbft-model.md). The test runs <c>models/check.sh</c>, which model-checks the model with spin.
/// The correct model must hold every property (PA, PE, PEP, AGRC, AGRS, H1X) over its whole state
/// space. Every mutant of rule H1 must be refuted, and so must the two mutants of the protocol
/// around H1. Every witness scenario must be reachable. The test asserts no times.
/// </summary>
public partial class SpinModelTests(ITestOutputHelper output)
{
    [GeneratedRegex(@"^RESULT model=(?<model>\S+) errors=(?<errors>\S+) violated=(?<violated>\S+) states=(?<states>\S+) .* complete=(?<complete>\S+)$", RegexOptions.Multiline)]
    private static partial Regex ResultLine();

    [Fact]
    public async Task CorrectModelHoldsAndTheH1MutantIsRefuted()
    {
        var ct = TestContext.Current.CancellationToken;
        foreach (var tool in new[] { "spin", "gcc" })
            Assert.True(OnPath(tool),
                $"'{tool}' is not installed, so the RePBFT switch model cannot be checked. Install it with: apt-get install -y spin gcc " +
                "(CI installs both from .ci/apt-packages-spin.txt).");

        var root = RepoRoot();
        var psi = new ProcessStartInfo("bash") { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(root, "models", "check.sh"));
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        var stderr = p.StandardError.ReadToEndAsync(ct);
        // A guard against a hung process only, not a time limit: the checks take about a minute on two cores.
        using (var guard = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            guard.CancelAfter(TimeSpan.FromMinutes(30));
            try { await p.WaitForExitAsync(guard.Token); }
            catch (OperationCanceledException)
            {
                p.Kill(entireProcessTree: true);
                Assert.Fail("models/check.sh did not finish (cancelled, or hung for 30 minutes)");
            }
        }
        var text = await stdout + await stderr;
        output.WriteLine(text);

        Assert.True(p.ExitCode == 0, $"models/check.sh exited with {p.ExitCode}:\n{text}");

        var results = ResultLine().Matches(text).ToDictionary(m => m.Groups["model"].Value);

        foreach (var name in new[] { "correct", "correct-g12" })   // the engine's TC order, and PROTOCOLS.md G12's
        {
            Assert.True(results.TryGetValue(name, out var correct), $"no RESULT line for the correct model ({name})");
            Assert.Equal("0", correct.Groups["errors"].Value);
            Assert.Equal("yes", correct.Groups["complete"].Value);
            Assert.True(long.Parse(correct.Groups["states"].Value, CultureInfo.InvariantCulture) > 0);
        }

        Assert.True(results.TryGetValue("mutant-h1-1", out var mutant), "no RESULT line for the H1 mutant");
        Assert.True(int.Parse(mutant.Groups["errors"].Value, CultureInfo.InvariantCulture) >= 1, $"the H1 mutant was not refuted: {mutant.Value}");
        Assert.Matches("^(PA|PE|PEP)_property$", mutant.Groups["violated"].Value);

        foreach (var name in new[] { "mutant-h1-2", "mutant-h1-3", "mutant-history", "mutant-quorum" })
        {
            Assert.True(results.TryGetValue(name, out var m), $"no RESULT line for {name}");
            Assert.True(int.Parse(m.Groups["errors"].Value, CultureInfo.InvariantCulture) >= 1, $"{name} was not refuted: {m.Value}");
        }
        for (var w = 1; w <= 8; w++)
        {
            Assert.True(results.TryGetValue($"witness-{w}", out var m), $"no RESULT line for witness {w}");
            Assert.Equal("WITNESS_reached", m.Groups["violated"].Value);
        }
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "models", "check.sh")))
                return dir.FullName;
        throw new InvalidOperationException($"no directory above {AppContext.BaseDirectory} contains models/check.sh");
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Any(d => File.Exists(Path.Combine(d, tool)));
}
