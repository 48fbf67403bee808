using System.CommandLine;

namespace FastBft.Perf.Commands;

internal static class RunCommand
{
    public static Command Create() => new Command("run", "placeholder");
}
