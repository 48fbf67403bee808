using System.CommandLine;
using System.Text.Json;
using FastBft.Config;
using FastBft.Perf.Cell;

namespace FastBft.Perf.Commands;

/// <summary>`fastbft run`: one measured cell. With no options: PBFT, f=1, workload 0/0, 32 clients, 10 s, replicas as processes.</summary>
internal static class RunCommand
{
    internal static readonly Option<string> Protocol = new("--protocol") { Description = "agreement protocol: pbft, repbft or repbft-star (3f+1 replicas; docs/repbft.md), minbft (2f+1 replicas on a USIG trusted counter, see --usig; docs/minbft.md), reminbft (2f+1 replicas, f+1 active and f passive, on the USIG; docs/reminbft.md), or unreplicated (the baseline: one server process, no agreement, the same service, client library and wire format; docs/odrc.md §8)", DefaultValueFactory = _ => "pbft" };
    internal static readonly Option<int> F = new("--f") { Description = "faults tolerated; the cell has 3f+1 replicas (PBFT, RePBFT) or 2f+1 (MinBFT, ReMinBFT)", DefaultValueFactory = _ => 1 };
    internal static readonly Option<string> Workload = new("--workload") { Description = "--service noop: a/b[/z] = request KiB / reply KiB [/ update KiB], e.g. 0/0, 0/4, 4/0; --service kv: ycsb-a (50/50 read/update), ycsb-b (95/5), ycsb-c (read only), ycsb-f (50/50 read/read-modify-write), zipfian keys (default ycsb-a)" };
    internal static readonly Option<string> Service = new("--service") { Description = "noop (the micro-benchmark service), kv (the key-value store, docs/kv.md) or coord (the coordination service: --workload writes|mixed, --records nodes, --value-bytes data size; docs/odrc.md)", DefaultValueFactory = _ => "noop" };
    internal static readonly Option<long> Records = new("--records") { Description = "--service kv: records loaded before measuring (keys user0..user<N-1>)", DefaultValueFactory = _ => 10_000 };
    internal static readonly Option<int> ValueBytes = new("--value-bytes") { Description = "--service kv: value size of a record, bytes", DefaultValueFactory = _ => 100 };
    internal static readonly Option<string> Storage = new("--storage") { Description = "--service kv: memory or rocksdb (per-replica databases in the cell's temporary directory)", DefaultValueFactory = _ => "memory" };
    internal static readonly Option<int> Clients = new("--clients") { Description = "closed-loop clients (one outstanding request each)", DefaultValueFactory = _ => 32 };
    internal static readonly Option<double> Duration = new("--duration") { Description = "measured seconds (after the warm-up)", DefaultValueFactory = _ => 10 };
    internal static readonly Option<double> Warmup = new("--warmup") { Description = "warm-up seconds, not measured", DefaultValueFactory = _ => 1 };
    internal static readonly Option<bool> InProcess = new("--in-process") { Description = "run replicas as threads of this process instead of separate processes" };
    internal static readonly Option<string> Transport = new("--transport") { Description = "udp (loopback sockets), dpdk (every replica and the client on DPDK over a net_memif mesh) or mixed (half the replicas on DPDK, the others and the client on kernel UDP, joined by net_tap and a Linux bridge; needs root)", DefaultValueFactory = _ => "udp" };
    internal static readonly Option<string> Poll = new("--poll") { Description = "DPDK poll mode: busy (dedicated cores only), adaptive (the default: spin --spin-us µs, default 0, then back off up to --max-sleep-us or sleep on a doorbell) or interrupt (rx interrupt; falls back to adaptive on memif/tap)", DefaultValueFactory = _ => "adaptive" };
    internal static readonly Option<int> SpinUs = new("--spin-us") { Description = "DPDK adaptive polling: microseconds to spin on empty polls before sleeping", DefaultValueFactory = _ => RunOptions.DefaultSpinUs };
    internal static readonly Option<int> MaxSleepUs = new("--max-sleep-us") { Description = "DPDK adaptive polling: longest back-off sleep in microseconds", DefaultValueFactory = _ => 200 };
    internal static readonly Option<bool> NoDoorbell = new("--no-doorbell") { Description = "--transport dpdk: idle nodes back off on timers instead of sleeping on doorbells their peers ring" };
    internal static readonly Option<int> Batch = new("--batch") { Description = "maximum requests per batch", DefaultValueFactory = _ => 64 };
    internal static readonly Option<string?> Json = new("--json") { Description = "write the result as JSON to this file" };
    internal static readonly Option<string[]> Fault = new("--fault") { Description = "inject a fault into a replica process (repeatable): kill:R@T (SIGKILL), pause:R@T+D (SIGSTOP for D s), restart:R@T (start a killed replica again), isolate:R@T+D (drop its traffic for D s); R = replica id or 'primary', T = seconds into the measured window", Arity = ArgumentArity.OneOrMore };
    internal static readonly Option<string?> Plot = new("--plot") { Description = "write a PNG: requests/s per 100 ms with fault markers, and the latency percentile spectrum" };
    internal static readonly Option<int?> ClientRetransmitMs = new("--client-retransmit-ms") { Description = "cell timeouts.client_retransmit_ms (default 500); the view-change timeout is twice it" };
    internal static readonly Option<int?> MaxInflight = new("--max-inflight") { Description = "batches the leader keeps in flight before it lets the next one fill (cell config max_inflight_batches, default 4)" };
    internal static readonly Option<long?> SwitchBackAfter = new("--switch-back-after") { Description = "repbft, repbft-star, reminbft: instances to run in PBFT/MinBFT after a switch before returning to the resource-saving protocol at a checkpoint (cell config switching.switch_back_after; default 0 = never; docs/repbft.md §6, docs/reminbft.md §7)" };
    internal static readonly Option<string> Usig = new("--usig") { Description = "trusted counter of minbft/reminbft replicas: software (the default; HMAC in the replica process, key derived from the cell's master secret) or device-model (each replica process hosts the USIG device model and reaches it through the FPGA driver; docs/trusted-counter.md); ignored by protocols without one", DefaultValueFactory = _ => "software" };
    internal static readonly Option<string> Execution = new("--execution") { Description = "execution stage: sequential (every replica executes every request) or odrc (each request on the f+1 replicas that maintain its objects, other objects updated on demand; --service kv or coord, --protocol pbft or minbft; docs/odrc.md)", DefaultValueFactory = _ => "sequential" };
    internal static readonly Option<int?> ExecReplicas = new("--exec-replicas") { Description = "--execution odrc: execution replicas E (default n: 3f+1 under pbft, 2f+1 under minbft); above n (pbft only) the extra ones are execution-only processes that take the order from f+1 matching ORDERED-BATCH messages of the agreement replicas (ODRC₆: --exec-replicas 6; docs/odrc.md §2, §4 G21)" };
    internal static readonly Option<string> Placement = new("--placement") { Description = "--execution odrc: object placement, round-robin or locality (objects of one locality group on the same replicas)", DefaultValueFactory = _ => "round-robin" };
    internal static readonly Option<int> ExecCostUs = new("--exec-cost-us") { Description = "microseconds added to every executed write (an execution-heavy service; service.exec_cost_us), spent as --exec-cost-kind", DefaultValueFactory = _ => 0 };
    internal static readonly Option<string> ExecCostKind = new("--exec-cost-kind") { Description = "how --exec-cost-us is spent: cpu (busy work, the default) or wait (a blocking high-resolution sleep that leaves the CPU to other processes: a model of storage latency; service.exec_cost_kind; docs/odrc.md §8)", DefaultValueFactory = _ => "cpu" };
    internal static readonly Option<int?> CheckpointAccesses = new("--checkpoint-accesses") { Description = "--execution odrc: object checkpoint every K accesses (default 100)" };
    internal static readonly Option<bool> WriteKnowledge = new("--write-knowledge") { Description = "--execution odrc: selectors use the service's write knowledge (checkpoint every K writes, replay only writes, write-only overwrites; docs/odrc.md §3a)" };
    internal static readonly Option<int?> CheckpointInterval = new("--checkpoint-interval") { Description = "checkpoint interval K in sequence numbers (default 128; window 2K)" };

    public static Command Create()
    {
        var cmd = new Command("run", "Start a cell (n(protocol, f) replicas on loopback UDP), drive clients, report throughput, latency, CPU and bytes per request, and check that the replicas agree.");
        foreach (var o in new Option[] { Protocol, F, Workload, Service, Records, ValueBytes, Storage, Clients, Duration, Warmup, InProcess, Transport, Poll, SpinUs, MaxSleepUs, NoDoorbell, Batch, Json, Fault, Plot, ClientRetransmitMs, CheckpointInterval, MaxInflight, SwitchBackAfter, Usig, Execution, ExecReplicas, Placement, ExecCostUs, ExecCostKind, CheckpointAccesses, WriteKnowledge }) cmd.Options.Add(o);
        Output.ObservabilityOptions.AddTo(cmd);
        cmd.SetAction(async (parse, ct) =>
        {
            var options = Bind(parse);
            return await ExecuteAsync(options, ct);
        });
        return cmd;
    }

    internal static RunOptions Bind(ParseResult p) => new()
    {
        Protocol = p.GetValue(Protocol)!, F = p.GetValue(F), Service = p.GetValue(Service)!,
        Workload = p.GetValue(Workload) ?? (p.GetValue(Service) switch { "kv" => "ycsb-a", "coord" => "writes", _ => "0/0" }),
        Records = p.GetValue(Records), ValueBytes = p.GetValue(ValueBytes), Storage = p.GetValue(Storage)!, Clients = p.GetValue(Clients),
        DurationSeconds = p.GetValue(Duration), WarmupSeconds = p.GetValue(Warmup), InProcess = p.GetValue(InProcess),
        Transport = p.GetValue(Transport)!, Poll = p.GetValue(Poll)!, SpinUs = p.GetValue(SpinUs), MaxSleepUs = p.GetValue(MaxSleepUs), Doorbells = !p.GetValue(NoDoorbell), BatchSize = p.GetValue(Batch), JsonPath = p.GetValue(Json),
        Faults = p.GetValue(Fault) ?? [], PlotPath = p.GetValue(Plot), ClientRetransmitMs = p.GetValue(ClientRetransmitMs), CheckpointInterval = p.GetValue(CheckpointInterval), MaxInflight = p.GetValue(MaxInflight), SwitchBackAfter = p.GetValue(SwitchBackAfter),
        Usig = p.GetValue(Usig)!,
        Execution = p.GetValue(Execution)!, ExecReplicas = p.GetValue(ExecReplicas), Placement = p.GetValue(Placement)!, ExecCostUs = p.GetValue(ExecCostUs), ExecCostKind = p.GetValue(ExecCostKind)!, CheckpointAccesses = p.GetValue(CheckpointAccesses), WriteKnowledge = p.GetValue(WriteKnowledge),
        Observability = Output.ObservabilityOptions.Bind(p),
    };

    internal static async Task<int> ExecuteAsync(RunOptions options, CancellationToken ct)
    {
        RunResult result;
        CellRunner runner;
        try { options.Observability.Validate(); }
        catch (ConfigException e) { Console.Error.WriteLine($"fastbft run: {e.Message}"); return 2; }
        using var loggerFactory = Output.ObservabilityOptions.CreateLoggerFactory(options.Observability);
        using var metrics = Output.ObservabilityOptions.StartMetrics(options.Observability, "harness");
        try
        {
            runner = new CellRunner(options, Console.Out, loggerFactory.CreateLogger("FastBft.Harness"));
            result = await runner.RunAsync(ct);
        }
        catch (Exception e) when (e is ConfigException or FormatException or FastBft.Transport.Dpdk.DpdkConfigException)
        {
            Console.Error.WriteLine($"fastbft run: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Console.Error.WriteLine($"fastbft run failed: {e.Message}");
            return 1;
        }
        CellRunner.Print(result, Console.Out);
        if (options.JsonPath is { } path)
            await File.WriteAllTextAsync(path, JsonSerializer.Serialize(result, HarnessJson.Default.RunResult), ct);
        if (options.PlotPath is { } plot && runner.Latencies is { } latencies)
        {
            Output.Plots.Run(result, latencies, plot);
            Console.WriteLine($"plot written to {plot}");
        }
        return result.ReplicasConsistent && result.ThroughputRps > 0 && result.RequestsUnfinished == 0 ? 0 : 1;
    }
}
