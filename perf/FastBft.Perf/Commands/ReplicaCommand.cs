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
        var id = new Option<uint>("--id") { Description = "this replica's id (0..n-1; an ODRC execution-only replica: n..E-1)", Required = true };
        var role = new Option<string>("--role") { Description = "replica (the cell's protocol; ids ≥ n of an extended ODRC cell run as execution-only replicas) or unreplicated (the one-server baseline of `fastbft run --protocol unreplicated`: replica 0's address, no agreement; docs/odrc.md §8)", DefaultValueFactory = _ => "replica" };
        var clientRoute = new Option<string?>("--client-route") { Description = "execution-only replicas: the harness client endpoint (ip:port) that client ids first_client_id.. are routed to (docs/odrc.md §8)" };
        var cmd = new Command("replica", "Run one replica of a cell (normally started by `fastbft run`).");
        cmd.Options.Add(config); cmd.Options.Add(id); cmd.Options.Add(role); cmd.Options.Add(clientRoute);
        ObservabilityOptions.AddTo(cmd);
        cmd.SetAction(parse => Run(parse.GetValue(config)!, parse.GetValue(id), parse.GetValue(role)!, parse.GetValue(clientRoute), ObservabilityOptions.Bind(parse)));
        return cmd;
    }

    private static int Run(string configPath, uint id, string role, string? clientRoute, ObservabilityOptions.Settings settings)
    {
        // stdout is the harness's control channel: everything else (logs, console metrics) goes to stderr.
        var control = Console.Out;
        Console.SetOut(Console.Error);
        try { settings.Validate(); }
        catch (ConfigException e) { Console.Error.WriteLine($"fastbft replica: {e.Message}"); return 2; }
        using var loggerFactory = ObservabilityOptions.CreateLoggerFactory(settings);
        var log = loggerFactory.CreateLogger("FastBft.Replica");
        CellConfig cell;
        Odrc.HostedNode host;
        IsolatingTransport transport;
        FastBft.Service.IReplicatedService? service = null;
        try
        {
            cell = CellConfig.Load(configPath);
            if (role is not ("replica" or "unreplicated")) throw new ConfigException($"--role: '{role}' must be replica or unreplicated");
            int e = Odrc.ExtendedCell.ExecutionReplicas(cell);
            if (id >= e || (role == "unreplicated" && id != 0)) throw new ConfigException($"--id {id} is not a replica of this cell (0..{e - 1})");
            TransportFactory.Validate(cell);
            settings = settings.WithCellDefaults(cell.Telemetry);
            service = ServiceFactory.Create(cell.Service, id);
            if (role == "unreplicated")
            {
                transport = new IsolatingTransport(TransportFactory.ForReplica(cell, id));
                host = Odrc.HostedNode.Unreplicated(new Odrc.UnreplicatedServer(cell, transport, service));
            }
            else if (id >= cell.N)
            {
                transport = new IsolatingTransport(Odrc.ExtendedCell.Transport(cell, id, clientRoute));
                host = Odrc.HostedNode.ExecutionOnly(new Odrc.ExecutionOnlyReplica(cell, id, transport, service));
            }
            else
            {
                transport = new IsolatingTransport(Odrc.ExtendedCell.Transport(cell, id, null));
                host = Odrc.HostedNode.Replica(cell, id, transport, service, log);
            }
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
