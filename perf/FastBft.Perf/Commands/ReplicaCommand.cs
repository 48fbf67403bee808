using System.CommandLine;
using System.Text.Json;
using FastBft.Config;
using FastBft.Perf.Cell;
using FastBft.Perf.Output;
using FastBft.Replica;
using FastBft.Workloads;
using Microsoft.Extensions.Logging;

namespace FastBft.Perf.Commands;

/// <summary>
/// `fastbft replica --config cell.json --id I`: runs one replica in this process. Control channel on
/// stdin/stdout (used by the harness): prints READY once listening; "status" → one JSON line;
/// "isolate on" / "isolate off" → drops or restores all its traffic, answered "isolated on|off";
/// "stop" or end of stdin → clean exit. Logs and console metrics go to stderr.
/// </summary>
internal static class ReplicaCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "cell configuration file (JSON, docs/configuration.md)", Required = true };
        var id = new Option<uint>("--id") { Description = "this replica's id (0..n-1)", Required = true };
        var cmd = new Command("replica", "Run one replica of a cell (normally started by `fastbft run`).");
        cmd.Options.Add(config); cmd.Options.Add(id);
        ObservabilityOptions.AddTo(cmd);
        cmd.SetAction(parse => Run(parse.GetValue(config)!, parse.GetValue(id), ObservabilityOptions.Bind(parse)));
        return cmd;
    }

    private static int Run(string configPath, uint id, ObservabilityOptions.Settings settings)
    {
        // stdout is the harness's control channel: everything else (logs, console metrics) goes to stderr.
        var control = Console.Out;
        Console.SetOut(Console.Error);
        try { settings.Validate(); }
        catch (ConfigException e) { Console.Error.WriteLine($"fastbft replica: {e.Message}"); return 2; }
        using var loggerFactory = ObservabilityOptions.CreateLoggerFactory(settings);
        var log = loggerFactory.CreateLogger("FastBft.Replica");
        CellConfig cell;
        ReplicaHost host;
        IsolatingTransport transport;
        FastBft.Service.IReplicatedService? service = null;
        try
        {
            cell = CellConfig.Load(configPath);
            if (id >= cell.N) throw new ConfigException($"--id {id} is not a replica of this cell (0..{cell.N - 1})");
            TransportFactory.Validate(cell);
            settings = settings.WithCellDefaults(cell.Telemetry);
            transport = new IsolatingTransport(TransportFactory.ForReplica(cell, id));
            service = ServiceFactory.Create(cell.Service, id);
            host = new ReplicaHost(cell, id, transport, service, log);
        }
        catch (Exception e) when (e is ConfigException or System.Net.Sockets.SocketException or FastBft.Transport.Dpdk.DpdkException or FastBft.Transport.Dpdk.DpdkConfigException)
        {
            ReplicaLog.BadConfiguration(log, e.Message);
            Console.Error.WriteLine($"fastbft replica: {e.Message}");
            return 2;
        }
        using var metrics = ObservabilityOptions.StartMetrics(settings, $"replica-{id}");
        using var cts = new CancellationTokenSource();
        var loop = new Thread(() =>
        {
            try { host.Run(cts.Token); }
            catch (Exception e) { ReplicaLog.Failed(log, e, id); loggerFactory.Dispose(); Environment.Exit(3); }
        }) { Name = $"replica-{id}", IsBackground = true };
        loop.Start();
        control.WriteLine("READY");
        control.Flush();
        string? line;
        while ((line = Console.In.ReadLine()) is not null)
        {
            switch (line.Trim())
            {
                case "stop":
                    goto done;
                case "status":
                    var status = host.QueryStatusAsync().WaitAsync(TimeSpan.FromSeconds(10)).GetAwaiter().GetResult();
                    control.WriteLine(JsonSerializer.Serialize(status, HarnessJson.Default.ReplicaStatus));
                    control.Flush();
                    break;
                case "isolate on":
                case "isolate off":
                    bool on = line.Trim() == "isolate on";
                    transport.Isolated = on;
                    ReplicaLog.IsolationChanged(log, id, on);
                    control.WriteLine(on ? "isolated on" : "isolated off");
                    control.Flush();
                    break;
                default:
                    control.WriteLine($"error unknown command '{line}'");
                    control.Flush();
                    break;
            }
        }
    done:
        cts.Cancel();
        loop.Join(TimeSpan.FromSeconds(5));
        host.Dispose();
        if (!loop.IsAlive) (service as IDisposable)?.Dispose();   // e.g. closes a RocksDB store (never under a running loop)
        return 0;
    }
}
