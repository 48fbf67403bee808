using FastBft.Perf.Cell;
using FastBft.Perf.Commands;

namespace FastBft.Integration.Tests;

/// <summary>
/// Help texts must agree with the defaults in code (issue 9, item 8: `--poll` promised a 50 µs spin
/// while the harness's adaptive polling spins <see cref="RunOptions.DefaultSpinUs"/> µs by default).
/// </summary>
public class HelpTextTests
{
    [Fact]
    public void Poll_help_names_the_actual_default_mode_and_spin()
    {
        string help = RunCommand.Poll.Description!;
        Assert.Equal("adaptive", new RunOptions().Poll);
        Assert.Contains("adaptive (the default", help);
        Assert.Contains($"--spin-us µs, default {RunOptions.DefaultSpinUs}", help);
        Assert.DoesNotContain("spin 50", help);
        Assert.Equal(RunOptions.DefaultSpinUs, new RunOptions().SpinUs);
    }

    [Fact]
    public void Usig_help_names_the_actual_default()
    {
        Assert.Equal("software", new RunOptions().Usig);
        Assert.Contains("software (the default", RunCommand.Usig.Description!);
        Assert.Contains("device-model", RunCommand.Usig.Description!);
    }
}
