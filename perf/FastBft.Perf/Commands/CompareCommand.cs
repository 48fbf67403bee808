using System.CommandLine;

namespace FastBft.Perf.Commands;

internal static class CompareCommand
{
    public static Command Create() => new Command("compare", "placeholder");
}
