using System.CommandLine;
using System.Text.Json;
using FastBft.Config;
using FastBft.Perf.Cell;
using FastBft.Replica;
using FastBft.Workloads;
using Microsoft.Extensions.Logging;

namespace FastBft.Perf.Commands;

/// <summary>
/// `fastbft replica --config cell.json --id I`: runs one replica in this process. Control channel on
/// stdin/stdout (used by the harness): prints READY once listening; "status" → one JSON line;
/// "stop" or end of stdin → clean exit.
/// </summary>
internal static class ReplicaCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "cell configuration file (JSON, docs/configuration.md)", Required = true };
        var id = new Option<uint>("--id") { Description = "this replica's id (0..n-1)", Required = true };
        var logLevel = new Option<LogLevel>("--log-level") { Description = "minimum log level (to stderr)", DefaultValueFactory = _ => LogLevel.Warning };
        var cmd = new Command("replica", "Run one replica of a cell (normally started by `fastbft run`).");
        cmd.Options.Add(config); cmd.Options.Add(id); cmd.Options.Add(logLevel);
        cmd.SetAction(parse => Run(parse.GetValue(config)!, parse.GetValue(id), parse.GetValue(logLevel)));
        return cmd;
    }

    private static int Run(string configPath, uint id, LogLevel level)
    {
        // Logs go to stderr: stdout is the harness's control channel.
        using var loggerFactory = LoggerFactory.Create(b => b
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .AddSimpleConsole(o => o.SingleLine = true)
            .SetMinimumLevel(level));
        var log = loggerFactory.CreateLogger($"replica-{id}");
        CellConfig cell;
        ReplicaHost host;
        try
        {
            cell = CellConfig.Load(configPath);
            if (id >= cell.N) throw new ConfigException($"--id {id} is not a replica of this cell (0..{cell.N - 1})");
            TransportFactory.Validate(cell);
            host = new ReplicaHost(cell, id, TransportFactory.ForReplica(cell, id), ServiceFactory.Create(cell.Service), log);
        }
        catch (Exception e) when (e is ConfigException or System.Net.Sockets.SocketException or FastBft.Transport.Dpdk.DpdkException or FastBft.Transport.Dpdk.DpdkConfigException)
        {
            Console.Error.WriteLine($"fastbft replica: {e.Message}");
            return 2;
        }
        using var cts = new CancellationTokenSource();
        var loop = new Thread(() =>
        {
            try { host.Run(cts.Token); }
            catch (Exception e) { log.LogCritical(e, "replica {Id} failed", id); Environment.Exit(3); }
        }) { Name = $"replica-{id}", IsBackground = true };
        loop.Start();
        Console.Out.WriteLine("READY");
        Console.Out.Flush();
        string? line;
        while ((line = Console.In.ReadLine()) is not null)
        {
            if (line == "stop") break;
            if (line == "status")
            {
                var status = host.QueryStatusAsync().WaitAsync(TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();
                Console.Out.WriteLine(JsonSerializer.Serialize(status, HarnessJson.Default.ReplicaStatus));
                Console.Out.Flush();
            }
        }
        cts.Cancel();
        loop.Join(TimeSpan.FromSeconds(5));
        host.Dispose();
        return 0;
    }
}
