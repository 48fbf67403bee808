using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using FastBft.Client;
using FastBft.Config;
using FastBft.Perf.Cell;
using FastBft.Workloads.Kv.Gateway;

namespace FastBft.Perf.Commands;

/// <summary>
/// `fastbft kv-gateway --config cell.json --listen 127.0.0.1:6380`: a Redis-protocol (RESP2) endpoint in front of a cell
/// running the KV service (docs/kv.md §6). Prints "READY host:port" on stdout once listening; runs until Ctrl+C / SIGTERM,
/// or, with --stdin-control, until its stdin closes (so a harness child never outlives its parent).
/// </summary>
internal static class KvGatewayCommand
{
    private static readonly Option<string> Config = new("--config") { Description = "cell configuration file (JSON, docs/configuration.md); service.kind must be \"kv\"", Required = true };
    private static readonly Option<string> Listen = new("--listen") { Description = "TCP address to listen on, host:port (port 0: any free port, printed in the READY line)", DefaultValueFactory = _ => "127.0.0.1:6380" };
    private static readonly Option<int> Slots = new("--slots") { Description = "BFT client ids of this gateway = requests in flight together, across all connections (each id has one outstanding request)", DefaultValueFactory = _ => 512 };
    private static readonly Option<int> ClientIdOffset = new("--client-id-offset") { Description = "first client id used = the cell's first_client_id + this (gateways of one cell need disjoint id ranges)", DefaultValueFactory = _ => 0 };
    private static readonly Option<int> MaxBulkBytes = new("--max-bulk-bytes") { Description = "largest RESP bulk string accepted; a longer claim closes the connection (default: the cell's max_request_bytes)" };
    private static readonly Option<bool> StdinControl = new("--stdin-control") { Description = "exit when stdin closes (used when the harness starts the gateway)" };

    public static Command Create()
    {
        var cmd = new Command("kv-gateway", "Serve a KV cell over the Redis protocol (RESP2): redis-cli and redis-benchmark work against it unchanged.");
        foreach (var o in new Option[] { Config, Listen, Slots, ClientIdOffset, MaxBulkBytes, StdinControl }) cmd.Options.Add(o);
        cmd.SetAction(async (p, ct) => await RunAsync(p.GetValue(Config)!, p.GetValue(Listen)!, p.GetValue(Slots), p.GetValue(ClientIdOffset), p.GetValue(MaxBulkBytes), p.GetValue(StdinControl), ct));
        return cmd;
    }

    private static async Task<int> RunAsync(string configPath, string listen, int slots, int idOffset, int maxBulk, bool stdinControl, CancellationToken ct)
    {
        CellConfig cell;
        IPEndPoint endPoint;
        ReplicatedInvoker invoker;
        RespGateway gateway;
        try
        {
            cell = CellConfig.Load(configPath);
            if (cell.Service.Kind != "kv") throw new ConfigException($"{configPath}: service.kind is '{cell.Service.Kind}'; the gateway needs a \"kv\" cell");
            if (!IPEndPoint.TryParse(listen, out endPoint!)) throw new ConfigException($"--listen: '{listen}' is not host:port");
            if (maxBulk < 0) throw new ConfigException("--max-bulk-bytes must not be negative");
            TransportFactory.Validate(cell);
            var endpoint = new ClientEndpoint(cell, TransportFactory.ForClient(cell));
            invoker = new ReplicatedInvoker(endpoint, slots, idOffset);
            var limits = RespLimits.Default with { MaxBulkBytes = maxBulk > 0 ? maxBulk : Math.Max(cell.MaxRequestBytes, 1024) };
            gateway = new RespGateway(endPoint, invoker, cell.MaxRequestBytes, limits);
            gateway.Start();
        }
        catch (Exception e) when (e is ConfigException or SocketException)
        {
            Console.Error.WriteLine($"fastbft kv-gateway: {e.Message}");
            return 2;
        }
        Console.Out.WriteLine($"READY {gateway.LocalEndPoint}");
        Console.Out.Flush();
        try
        {
            if (stdinControl)
            {
                var stdinClosed = Task.Run(() => { while (Console.In.ReadLine() is not null) { } });
                await Task.WhenAny(stdinClosed, Task.Delay(Timeout.Infinite, ct));
            }
            else await Task.Delay(Timeout.Infinite, ct);
        }
        catch (OperationCanceledException) { }
        await gateway.DisposeAsync();
        invoker.Dispose();
        Console.Error.WriteLine($"kv-gateway: {gateway.ConnectionsAccepted} connections, {gateway.Commands} commands, {gateway.ProtocolErrors} closed for protocol errors");
        return 0;
    }
}
