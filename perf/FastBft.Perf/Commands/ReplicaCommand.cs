using System.CommandLine;

namespace FastBft.Perf.Commands;

internal static class ReplicaCommand
{
    public static Command Create() => new Command("replica", "placeholder");
}
