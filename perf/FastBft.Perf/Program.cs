using System.CommandLine;
using FastBft.Perf.Commands;

// The `fastbft` harness. Each sub-command lives in Commands/<Name>Command.cs and exposes
// `static Command Create()`; register it here (one line each).
var root = new RootCommand("fastbft — FastBft replication engine harness: runs cells, measures throughput, latency and CPU per request.");
foreach (var command in new[]
{
    RunCommand.Create(),
    CompareCommand.Create(),
    ReplicaCommand.Create(),
    PingCommand.Create(),
    UsigBenchCommand.Create(),
    SimulateCommand.Create(),
    KvGatewayCommand.Create(),
    KvCompareCommand.Create(),
    KvCheckpointBenchCommand.Create(),
    FastBft.Perf.Odrc.SelectorBench.Create(),
})
{
    root.Subcommands.Add(command);
}
return await root.Parse(args).InvokeAsync();
