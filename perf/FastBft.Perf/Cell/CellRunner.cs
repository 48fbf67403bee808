using System.Diagnostics;
using System.Globalization;
using FastBft.Client;
using FastBft.Config;
using FastBft.Perf.Measure;
using FastBft.Perf.Output;
using FastBft.Replica;
using FastBft.Workloads;
using HdrHistogram;

namespace FastBft.Perf.Cell;

/// <summary>
/// Runs one measured cell: starts 3f+1 replicas (child processes, or threads with --in-process) on
/// loopback UDP (or DPDK, docs/dpdk.md), drives `clients` closed-loop clients (one outstanding request each) for the warm-up
/// and the measured duration while injecting the --fault schedule, then drains, checks that every
/// replica alive at the end reached the same sequence number with the same state digest, and reports
/// throughput (also per 100 ms), latency percentiles (HdrHistogram), CPU and bytes per request, and
/// per fault its recovery time and longest latency.
/// </summary>
internal sealed class CellRunner
{
    private readonly RunOptions _o;
    private readonly TextWriter _out;
    private readonly Microsoft.Extensions.Logging.ILogger? _logger;

    public CellRunner(RunOptions options, TextWriter output, Microsoft.Extensions.Logging.ILogger? logger = null) { _o = options; _out = output; _logger = logger; }

    /// <summary>The latency histogram (µs) of the last run (for plots).</summary>
    public HistogramBase? Latencies { get; private set; }

    /// <summary>Checks the options that need no cell; throws naming the option.</summary>
    /// <exception cref="ConfigException">an option is invalid.</exception>
    public List<FaultSpec> Validate()
    {
        if (_o.Transport is not ("udp" or "dpdk" or "mixed")) throw new ConfigException($"--transport: '{_o.Transport}' must be udp, dpdk (all replicas and the client on DPDK, memif mesh) or mixed (half the replicas on DPDK, the rest and the client on kernel UDP; root)");
        if (!Enum.TryParse<FastBft.Transport.Dpdk.DpdkPollMode>(_o.Poll, ignoreCase: true, out _) || int.TryParse(_o.Poll, out _))
            throw new ConfigException($"--poll: '{_o.Poll}' must be busy, adaptive or interrupt");
        if (_o.Transport != "udp" && _o.InProcess) throw new ConfigException($"--transport {_o.Transport} needs replica processes (one DPDK EAL per process); drop --in-process");
        if (_o.Clients < 1) throw new ConfigException("--clients must be at least 1");
        if (_o.DurationSeconds <= 0) throw new ConfigException("--duration must be positive (seconds)");
        if (_o.WarmupSeconds < 0) throw new ConfigException("--warmup must not be negative (seconds)");
        if (_o.F < 1 || _o.F > 20) throw new ConfigException($"--f: {_o.F} is out of range 1..20");
        bool unreplicated = _o.Protocol == Unreplicated;
        if (unreplicated && _o.Execution != "sequential") throw new ConfigException("--protocol unreplicated: one server executes everything; drop --execution");
        if (unreplicated && _o.Transport != "udp") throw new ConfigException("--protocol unreplicated runs on --transport udp");
        var kind = FastBft.Agreement.ProtocolKind.Pbft;
        if (!unreplicated && !FastBft.Agreement.CellShape.TryParse(_o.Protocol, out kind))
            throw new ConfigException($"--protocol: '{_o.Protocol}' is not a protocol (known: {string.Join(", ", FastBft.Agreement.CellShape.Names)})");
        if (!unreplicated && !FastBft.Agreement.Protocols.IsBuilt(kind))
            throw new ConfigException($"--protocol: '{_o.Protocol}' is not built yet (built: {string.Join(", ", FastBft.Agreement.Protocols.Built)})");
        if (_o.Usig is not ("software" or "device-model")) throw new ConfigException($"--usig: '{_o.Usig}' must be software or device-model");
        if (_o.ExecCostKind is not ("cpu" or "wait")) throw new ConfigException($"--exec-cost-kind: '{_o.ExecCostKind}' must be cpu or wait");
        if (_o.ClientRetransmitMs is < 1 or > 60_000) throw new ConfigException($"--client-retransmit-ms: {_o.ClientRetransmitMs} is out of range 1..60000");
        _o.Observability.Validate();
        if (_o.Service is not ("noop" or "kv" or "coord")) throw new ConfigException($"--service: '{_o.Service}' must be noop, kv or coord");
        if (_o.Service == "coord")
        {
            if (_o.Workload is not ("writes" or "mixed")) throw new ConfigException($"--workload: '{_o.Workload}' must be writes (setData only) or mixed (50% getData) for --service coord");
            if (_o.Records < 1 || _o.Records > 1_000_000) throw new ConfigException($"--records: {_o.Records} is out of range 1..1000000 nodes");
            if (_o.ValueBytes < 0 || _o.ValueBytes > 60_000) throw new ConfigException($"--value-bytes: {_o.ValueBytes} is out of range 0..60000");
        }
        else if (_o.Service == "kv")
        {
            try { FastBft.Workloads.Kv.YcsbMix.Parse(_o.Workload); }
            catch (FormatException e) { throw new ConfigException($"--workload: {e.Message}"); }
            if (_o.Records < 1 || _o.Records > 100_000_000) throw new ConfigException($"--records: {_o.Records} is out of range 1..100000000");
            if (_o.ValueBytes < 8 || _o.ValueBytes > 60_000) throw new ConfigException($"--value-bytes: {_o.ValueBytes} is out of range 8..60000 (a record must fit one request)");
            if (_o.Storage is not ("memory" or "rocksdb")) throw new ConfigException($"--storage: '{_o.Storage}' must be memory or rocksdb");
        }
        else Workload.Parse(_o.Workload);
        int n = unreplicated ? 1 : new FastBft.Agreement.CellShape(kind, _o.F).N;
        if (_o.ExecReplicas is { } execReplicas)
        {
            if (_o.Execution != "odrc") throw new ConfigException("--exec-replicas: only with --execution odrc");
            if (execReplicas < n || execReplicas > 64) throw new ConfigException($"--exec-replicas: {execReplicas} must be in {n}..64 (n = {n} agreement replicas, each also an execution replica; the others are execution-only processes)");
            if (execReplicas > n && (_o.InProcess || _o.Transport != "udp")) throw new ConfigException("--exec-replicas above n: execution-only replicas run as processes on --transport udp (drop --in-process)");
            n = execReplicas;
        }
        return FaultSpec.ParseAll(_o.Faults, n, _o.DurationSeconds, _o.InProcess);
    }

    /// <summary>The KV load phase: every record written (MSETs) through all clients in parallel before the warm-up.</summary>
    private async Task LoadRecordsAsync(BftClient[] clients, int maxRequestBytes, CancellationToken ct)
    {
        var ops = new System.Collections.Concurrent.ConcurrentQueue<byte[]>(FastBft.Workloads.Kv.YcsbClient.LoadOperations(_o.Records, _o.ValueBytes, maxRequestBytes));
        async Task Drive(BftClient c)
        {
            await Task.Yield();
            while (!ct.IsCancellationRequested && ops.TryDequeue(out var op))
            {
                var reply = await c.InvokeAsync(op);
                if (reply.Length == 0 || reply.Span[0] != (byte)'+') throw new InvalidOperationException($"load phase: MSET failed: {System.Text.Encoding.ASCII.GetString(reply.Span)}");
            }
        }
        await Task.WhenAll(clients.Select(Drive));
    }

    public async Task<RunResult> RunAsync(CancellationToken cancellation)
    {
        var faults = Validate();
        Enum.TryParse<FastBft.Transport.Dpdk.DpdkPollMode>(_o.Poll, ignoreCase: true, out var poll);
        bool kv = _o.Service == "kv", coord = _o.Service == "coord";
        var workload = kv || coord ? default : Workload.Parse(_o.Workload);
        string workloadLabel = kv ? $"{_o.Workload} ({_o.Records} records × {_o.ValueBytes} B, {_o.Storage})"
            : coord ? $"coord {_o.Workload} ({_o.Records} nodes, {_o.ValueBytes} B data)" : workload.ToString();
        bool unreplicated = _o.Protocol == Unreplicated;
        var config = CellDefinition.Create(_o.F, kv || coord ? "0/0" : _o.Workload, serviceKind: _o.Service, batchSize: _o.BatchSize, protocol: unreplicated ? "pbft" : _o.Protocol);
        if (_o.ClientRetransmitMs is { } crm)
        {
            config.Timeouts.ClientRetransmitMs = crm;
            config.Timeouts.RetransmitMs = Math.Clamp(crm / 2, config.Timeouts.TickMs, config.Timeouts.RetransmitMs);
        }
        if (_o.CheckpointInterval is { } k) { config.CheckpointInterval = k; config.Window = 2 * k; }
        if (_o.MaxInflight is { } inflight) config.MaxInflightBatches = inflight;
        if (_o.SwitchBackAfter is { } back) config.Switching.SwitchBackAfter = back;
        ConfigureExecution(config);
        var dir = Directory.CreateTempSubdirectory("fastbft-cell-");
        string? usigDir = ConfigureUsig(config, _o.Usig, dir.FullName);
        if (kv && _o.Storage == "rocksdb") { config.Service.Storage = "rocksdb"; config.Service.Path = Path.Combine(dir.FullName, "kv"); }
        config.Validate();
        var configPath = Path.Combine(dir.FullName, "cell.json");
        DpdkTopology? topology = null;
        if (_o.Transport != "udp") topology = DpdkTopology.Apply(config, _o.Transport, poll, dir.FullName, _o.SpinUs, _o.MaxSleepUs, _o.Doorbells);
        await File.WriteAllTextAsync(configPath, config.ToJson(), cancellation);

        // --protocol unreplicated: one server process (replica 0's address), clients see a cell of one replica with f = 0.
        // --exec-replicas E > n: execution-only processes n..E-1; the client endpoint gets a fixed port they route clients to.
        var replicaArgs = _o.Observability.ReplicaArguments().ToArray();
        var clientConfig = unreplicated ? FastBft.Perf.Odrc.UnreplicatedServer.ClientView(config) : config;
        int nodes = unreplicated ? 1 : config.ExecutionReplicaCount;
        int clientPort = config.ExecutionReplicaCount > config.N ? CellDefinition.FreeUdpPorts(1)[0] : 0;
        IEnumerable<string> ArgsFor(uint id) => unreplicated ? replicaArgs.Append("--role").Append("unreplicated")
            : id >= (uint)config.N ? replicaArgs.Append("--client-route").Append($"127.0.0.1:{clientPort}") : replicaArgs;
        var slots = new IReplicaHandle[nodes];          // the replica currently running under each id
        var everything = new List<IReplicaHandle>();      // every handle started (disposed at the end)
        ClientEndpoint? endpoint = null;
        LiveProgress? progress = null;
        try
        {
            if (_o.InProcess && unreplicated) throw new ConfigException("--protocol unreplicated runs the server as a process; drop --in-process");
            if (_o.InProcess)
                for (uint i = 0; i < config.N; i++) slots[i] = new ThreadReplica(config, i);
            else if (topology is not null)
            {
                // memif: a server must listen before its client starts, so replicas start in id order.
                for (uint i = 0; i < config.N; i++) slots[i] = await ProcessReplica.StartAsync(configPath, i, TimeSpan.FromSeconds(30), replicaArgs);
            }
            else
            {
                var starts = new Task<ProcessReplica>[nodes];
                for (uint i = 0; i < nodes; i++) starts[i] = ProcessReplica.StartAsync(configPath, i, TimeSpan.FromSeconds(30), ArgsFor(i));
                for (int i = 0; i < starts.Length; i++) slots[i] = await starts[i];
            }
            everything.AddRange(slots);
            string where = _o.Transport switch
            {
                "dpdk" => $"DPDK memif mesh, client on DPDK, poll {poll.ToString().ToLowerInvariant()}",
                "mixed" => $"replicas {string.Join(",", config.Replicas.Where(r => r.Transport == "dpdk").Select(r => r.Id))} on DPDK (memif + net_tap on a bridge, poll {poll.ToString().ToLowerInvariant()}), others and the client on kernel UDP",
                _ => "udp loopback",
            };
            if (unreplicated) Log($"unreplicated: one server process (no agreement), workload {workloadLabel}, {_o.Clients} clients");
            else if (nodes > config.N) Log($"extended ODRC cell: {config.N} agreement replicas + {nodes - config.N} execution-only replicas (E = {nodes})");
            if (!unreplicated) Log($"cell: {config.N} replicas (f={config.F}, {(_o.InProcess ? "threads" : "processes")}, {where}), workload {workloadLabel}, {_o.Clients} clients, batch ≤ {config.BatchSize}{(config.Shape.UsesUsig ? $", usig {_o.Usig}" : "")}");
            foreach (var f in faults) Log($"fault planned: {f.Text}");

            endpoint = new ClientEndpoint(clientConfig, TransportFactory.ForClient(clientConfig, topology?.ClientDpdk, topology?.ClientBind, clientPort));
            var clients = new BftClient[_o.Clients];
            for (int i = 0; i < clients.Length; i++) clients[i] = endpoint.CreateClient(config.FirstClientId + (uint)i);
            endpoint.Start();

            var stats = new CompletionStats(_o.DurationSeconds + 1, faults.Count);
            LoadGenerator load;
            if (kv)
            {
                var mix = FastBft.Workloads.Kv.YcsbMix.Parse(_o.Workload);
                var loadWatch = Stopwatch.StartNew();
                await LoadRecordsAsync(clients, config.MaxRequestBytes, cancellation);
                Log($"load phase: {_o.Records} records of {_o.ValueBytes} B in {loadWatch.Elapsed.TotalSeconds:0.0} s");
                double zetan = FastBft.Workloads.Kv.ScrambledZipfian.Zeta(_o.Records, 0.99);
                var streams = new FastBft.Workloads.Kv.YcsbClient[clients.Length];
                for (int i = 0; i < streams.Length; i++) streams[i] = new FastBft.Workloads.Kv.YcsbClient(mix, _o.Records, _o.ValueBytes, i, zetan);
                load = LoadGenerator.Ycsb(clients, streams, stats);
            }
            else if (coord)
            {
                var loadWatch = Stopwatch.StartNew();
                await CoordLoad.CreateNodesAsync(clients, _o.Records, cancellation);
                Log($"load phase: {_o.Records} nodes in {loadWatch.Elapsed.TotalSeconds:0.0} s");
                load = LoadGenerator.Streams(clients, CoordLoad.Streams(clients.Length, _o.Records, _o.ValueBytes, _o.Workload == "mixed"), stats);
            }
            else load = new LoadGenerator(clients, new byte[workload.RequestBytes], stats);
            using var clientMetrics = new ClientMetrics(load, endpoint);
            var loadTask = load.RunAsync();

            // Warm-up, then the measured window with live progress and the fault schedule.
            await Task.Delay(TimeSpan.FromSeconds(_o.WarmupSeconds), cancellation);
            var before = await SnapshotAsync(slots);
            ulong viewStart = MostCommonView(before);
            var cpu0 = CpuTime(everything);
            long clientBytes0 = endpoint.TransportStats.BytesSent;
            long clientDatagrams0 = endpoint.TransportStats.DatagramsSent;
            load.StartMeasuring();
            var sw = Stopwatch.StartNew();
            using var stopFaults = new CancellationTokenSource();
            progress = new LiveProgress(_out, _o.DurationSeconds, _o.Quiet);
            var injector = new FaultInjector(faults, slots, everything, stats, nodes, (id) => ProcessReplica.StartAsync(configPath, id, TimeSpan.FromSeconds(30), ArgsFor(id)), progress.Event, _logger);
            var faultTask = injector.RunAsync(stats.Origin, stopFaults.Token);
            long lastCount = 0;
            int second = 0;
            // Progress once per second on absolute deadlines (no drift); a fractional tail is measured but not printed.
            var total = TimeSpan.FromSeconds(_o.DurationSeconds);
            while (sw.Elapsed < total)
            {
                var next = TimeSpan.FromSeconds(Math.Min(second + 1, _o.DurationSeconds));
                var wait = next - sw.Elapsed;
                if (wait > TimeSpan.Zero) await Task.Delay(wait, cancellation);
                if (next.TotalSeconds >= second + 1)
                {
                    long c = stats.Count;
                    second++;
                    progress.Second(second, c - lastCount);
                    lastCount = c;
                }
                else break;
                if (faultTask.IsFaulted) await faultTask;   // surfaces the injector's exception
                foreach (var r in slots)
                    if (!r.IsAlive && r is not ProcessReplica { KilledByFault: true })
                        throw new InvalidOperationException($"replica {r.Id} died during the run");
            }
            load.StopMeasuring();
            double elapsed = sw.Elapsed.TotalSeconds;
            // End every pause and isolation now, so the cell can converge.
            stopFaults.Cancel();
            try { await faultTask; }
            finally { await progress.DisposeAsync(); }
            var cpu1 = CpuTime(everything);
            long clientBytes1 = endpoint.TransportStats.BytesSent;
            long clientDatagrams1 = endpoint.TransportStats.DatagramsSent;
            var alive = slots.Where(r => r.IsAlive).ToList();
            var after = await SnapshotAsync(alive);
            long measured = stats.Count;

            // Drain: stop issuing, let outstanding requests finish, then wait for the live replicas to converge.
            int unfinished = await load.StopAsync(TimeSpan.FromSeconds(20));
            var (consistent, finalStatus) = await ConvergeAsync(alive, TimeSpan.FromSeconds(20));

            double cpuSeconds = _o.InProcess ? double.NaN : (cpu1 - cpu0).TotalSeconds;
            long replicaBytes = 0, replicaDatagrams = 0, batches = 0, batchedRequests = 0, usigUs = 0, usigUis = 0;
            foreach (var a in after)
            {
                // A replica started during the run counts from zero; one killed during it is missing from `after`.
                var b = before.FirstOrDefault(x => x.Id == a.Id && x.BytesSent <= a.BytesSent);
                replicaBytes += a.BytesSent - (b?.BytesSent ?? 0);
                replicaDatagrams += a.DatagramsSent - (b?.DatagramsSent ?? 0);
                usigUs += a.UsigBusyUs - (b?.UsigBusyUs ?? 0);
                usigUis += a.UsigCertified + a.UsigVerified - (b is null ? 0 : b.UsigCertified + b.UsigVerified);
                // Average batch: executed requests / executed batches of the replica that executed most in the window.
                if (b is not null && a.ExecutedBatches - b.ExecutedBatches > batches)
                {
                    batches = a.ExecutedBatches - b.ExecutedBatches;
                    batchedRequests = a.RequestsExecuted - b.RequestsExecuted;
                }
            }
            var hist = stats.TakeLatencies();
            Latencies = hist;
            var lat = LatencySummary.From(hist, divisor: 1000);
            int bucketCount = (int)Math.Ceiling(elapsed * 1000 / CompletionStats.BucketMs);
            var buckets = stats.Buckets(bucketCount);
            var rps = new double[buckets.Length];
            for (int i = 0; i < rps.Length; i++) rps[i] = buckets[i] * (1000.0 / CompletionStats.BucketMs);
            // The last bucket may be partial.
            double tail = elapsed * 1000 - (bucketCount - 1) * CompletionStats.BucketMs;
            if (rps.Length > 0 && tail > 0 && tail < CompletionStats.BucketMs) rps[^1] = buckets[^1] * (1000.0 / tail);
            ulong viewEnd = finalStatus.Length == 0 ? viewStart : MostCommonView(finalStatus);
            var result = new RunResult
            {
                Protocol = nodes > config.N ? $"{_o.Protocol} (E={nodes})" : _o.Protocol, F = unreplicated ? 0 : _o.F, Workload = workloadLabel, Clients = _o.Clients,
                DurationS = Math.Round(elapsed, 3),
                ThroughputRps = Math.Round(measured / elapsed, 1),
                LatencyP50Ms = lat.P50, LatencyP90Ms = lat.P90, LatencyP99Ms = lat.P99, LatencyP999Ms = lat.P999, LatencyMaxMs = lat.Max, LatencyMeanMs = lat.Mean,
                CpuUsPerRequest = measured == 0 || double.IsNaN(cpuSeconds) ? 0 : Math.Round(cpuSeconds * 1e6 / measured, 2),
                BytesPerRequest = measured == 0 ? 0 : Math.Round((double)(replicaBytes + clientBytes1 - clientBytes0) / measured, 1),
                ReplicasConsistent = consistent,
                AvgBatchSize = batches == 0 ? 0 : Math.Round((double)batchedRequests / batches, 2),
                DatagramsPerRequest = measured == 0 ? 0 : Math.Round((double)(replicaDatagrams + clientDatagrams1 - clientDatagrams0) / measured, 3),
                RequestsCompleted = measured,
                RequestsUnfinished = unfinished,
                ClientRetransmissions = load.Retransmissions,
                ClientPanics = load.Panics,
                Transport = _o.Transport, InProcess = _o.InProcess,
                Usig = config.Shape.UsesUsig ? _o.Usig : "none",
                UsigUsPerRequest = measured == 0 ? 0 : Math.Round((double)usigUs / measured, 3),
                UsigShare = !config.Shape.UsesUsig ? 0 : double.IsNaN(cpuSeconds) || cpuSeconds <= 0 ? -1 : Math.Round(usigUs / 1e6 / cpuSeconds, 4),
                UsigUisPerRequest = measured == 0 ? 0 : Math.Round((double)usigUis / measured, 3),
                LastExecuted = finalStatus.Length > 0 ? finalStatus[0].LastExecuted : 0,
                StateDigests = finalStatus.Select(s => s.StateDigest[..16]).ToArray(),
                ReplicasAlive = finalStatus.Select(s => s.Id).ToArray(),
                ViewStart = viewStart, ViewEnd = viewEnd, ViewChanges = viewEnd >= viewStart ? viewEnd - viewStart : 0,
                StateTransfers = finalStatus.Sum(s => s.StateTransfers),
                Throughput100MsRps = rps,
                ClientAllocatedBytesPerRequest = double.IsNaN(stats.AllocatedBytesPerRequest) ? -1 : Math.Round(stats.AllocatedBytesPerRequest, 2),
                Faults = injector.Results(rps),
                Replicas = finalStatus,
                Execution = _o.Execution,
                OdrcCrossBorderShare = OdrcShare(finalStatus, static o => o.CrossBorder, perReplica: false),
                OdrcForcedPerRequest = OdrcShare(finalStatus, static o => o.Forced, perReplica: true),
                OdrcExecutionsPerRequest = OdrcShare(finalStatus, static o => o.Executed, perReplica: true),
            };
            return result;
        }
        finally
        {
            if (progress is not null) await progress.DisposeAsync();
            endpoint?.Dispose();
            foreach (var r in everything) r.Dispose();
            topology?.Dispose();
            try { dir.Delete(recursive: true); } catch (IOException) { }
            if (usigDir is not null) try { Directory.Delete(usigDir, recursive: true); } catch (IOException) { }
        }
    }

    private void Log(string s) { if (!_o.Quiet) _out.WriteLine(s); }

    /// <summary>
    /// --usig for a protocol with a trusted counter: writes the cell config's <c>usig</c> section. "software": impl software,
    /// no key file (each replica uses the key derived from the cell's fresh master secret and a fresh epoch per start).
    /// "device-model": impl device-model with device_path = a per-cell directory (under /dev/shm when present, else next to
    /// the cell file) where each replica process creates its model's window (usig-rI.bar) and keeps its epoch (usig-rI.nv), so a
    /// replica restarted by --fault restart powers its model up in a larger epoch. Returns that directory (deleted after the
    /// run) or null. Protocols without a trusted counter get no section.
    /// </summary>
    internal static string? ConfigureUsig(CellConfig config, string usig, string cellDir)
    {
        if (!config.Shape.UsesUsig) return null;
        if (usig == "software")
        {
            config.Usig = new FastBft.TrustedHw.UsigOptions { Impl = FastBft.TrustedHw.UsigImpl.Software };
            return null;
        }
        string dir = Directory.Exists("/dev/shm")
            ? Directory.CreateDirectory(Path.Combine("/dev/shm", "fastbft-usig-" + Path.GetFileName(cellDir))).FullName
            : Directory.CreateDirectory(Path.Combine(cellDir, "usig")).FullName;
        config.Usig = new FastBft.TrustedHw.UsigOptions { Impl = FastBft.TrustedHw.UsigImpl.DeviceModel, DevicePath = dir };
        return dir;
    }

    private static TimeSpan CpuTime(List<IReplicaHandle> replicas)
    {
        var t = TimeSpan.Zero;
        foreach (var r in replicas) t += r.CpuTime();
        return t;
    }

    internal static ulong MostCommonView(IReadOnlyCollection<ReplicaStatus> statuses)
    {
        if (statuses.Count == 0) return 0;
        return statuses.GroupBy(s => s.View).OrderByDescending(g => g.Count()).ThenByDescending(g => g.Key).First().Key;
    }

    private static async Task<ReplicaStatus[]> SnapshotAsync(IEnumerable<IReplicaHandle> replicas)
    {
        var tasks = replicas.Select(r => r.StatusAsync(TimeSpan.FromSeconds(10))).ToArray();
        return await Task.WhenAll(tasks);
    }

    /// <summary>Polls until all given replicas report the same last executed sequence number twice in a row; then compares digests.</summary>
    private static async Task<(bool, ReplicaStatus[])> ConvergeAsync(List<IReplicaHandle> replicas, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        ReplicaStatus[] s = await SnapshotAsync(replicas);
        ulong stableAt = ulong.MaxValue;
        while (sw.Elapsed < timeout)
        {
            bool same = s.All(x => x.LastExecuted == s[0].LastExecuted);
            if (same && s[0].LastExecuted == stableAt)
                return (s.All(x => x.StateDigest == s[0].StateDigest), s);
            stableAt = same ? s[0].LastExecuted : ulong.MaxValue;
            await Task.Delay(200);
            s = await SnapshotAsync(replicas);
        }
        return (false, s);
    }

    /// <summary>--execution, --placement, --exec-cost-us, --exec-replicas, --checkpoint-accesses into the cell config (docs/odrc.md §8).</summary>
    private void ConfigureExecution(CellConfig config)
    {
        config.Execution.Mode = _o.Execution;
        config.Execution.Placement = _o.Placement;
        if (_o.CheckpointAccesses is { } k) config.Execution.CheckpointAccesses = k;
        if (_o.WriteKnowledge) config.Execution.WriteKnowledge = true;
        config.Service.ExecCostUs = _o.ExecCostUs;
        config.Service.ExecCostKind = _o.ExecCostKind;
        if (_o.ExecReplicas is { } e && e > config.N)
        {
            var ports = CellDefinition.FreeUdpPorts(e - config.N);
            foreach (var p in ports) config.Execution.ExecutionOnly.Add($"127.0.0.1:{p}");
        }
    }

    /// <summary>An ODRC counter summed over the replicas (perReplica) or replica 0's, divided by replica 0's ordered requests; -1 without ODRC.</summary>
    private static double OdrcShare(FastBft.Replica.ReplicaStatus[] status, Func<FastBft.Replica.OdrcStatus, long> counter, bool perReplica)
    {
        var first = status.FirstOrDefault(s => s.Odrc is not null);
        if (first?.Odrc is null || first.Odrc.Inserted == 0) return -1;
        long value = perReplica ? status.Where(s => s.Odrc is not null).Sum(s => counter(s.Odrc!)) : counter(first.Odrc);
        return Math.Round((double)value / first.Odrc.Inserted, 4);
    }

    /// <summary>--protocol value of the one-server baseline (docs/odrc.md §8).</summary>
    public const string Unreplicated = "unreplicated";

    public static void Print(RunResult r, TextWriter w)
    {
        var ci = CultureInfo.InvariantCulture;
        w.WriteLine();
        w.WriteLine(string.Create(ci, $"protocol {r.Protocol}  f={r.F}  workload {r.Workload}  clients {r.Clients}  transport {r.Transport}{(r.InProcess ? " (in-process)" : "")}{(r.Usig != "none" ? $"  usig {r.Usig}" : "")}"));
        var t = Tables.Create("<measure", "value", "<detail");
        Tables.Row(t, "throughput", string.Create(ci, $"{r.ThroughputRps:N0} req/s"), string.Create(ci, $"{r.RequestsCompleted:N0} requests in {r.DurationS:0.0} s"));
        Tables.Row(t, "latency p50 / p90", string.Create(ci, $"{r.LatencyP50Ms:0.000} ms"), string.Create(ci, $"p90 {r.LatencyP90Ms:0.000} ms"));
        Tables.Row(t, "latency p99 / p99.9", string.Create(ci, $"{r.LatencyP99Ms:0.000} ms"), string.Create(ci, $"p99.9 {r.LatencyP999Ms:0.000} ms"));
        Tables.Row(t, "latency max", string.Create(ci, $"{r.LatencyMaxMs:0.000} ms"), string.Create(ci, $"mean {r.LatencyMeanMs:0.000} ms (HdrHistogram, 3 significant digits)"));
        Tables.Row(t, "cpu per request", r.InProcess ? "—" : string.Create(ci, $"{r.CpuUsPerRequest:0.0} µs"), r.InProcess ? "not measured in-process (replicas and clients share one process)" : "all replica processes");
        Tables.Row(t, "bytes per request", string.Create(ci, $"{r.BytesPerRequest:N0} B"), "replicas + client, UDP payload");
        Tables.Row(t, "datagrams per request", string.Create(ci, $"{r.DatagramsPerRequest:0.000}"), string.Create(ci, $"average batch {r.AvgBatchSize:0.0} requests"));
        if (r.Usig != "none")
            Tables.Row(t, "time in the USIG", string.Create(ci, $"{r.UsigUsPerRequest:0.00} µs/req"),
                string.Create(ci, $"{(r.UsigShare >= 0 ? $"{r.UsigShare * 100:0.0}% of replica CPU time" : "CPU not measured in-process")}; {r.UsigUisPerRequest:0.00} UIs certified+verified per request ({r.Usig})"));
        Tables.Row(t, "views", string.Create(ci, $"{r.ViewChanges} change(s)"), string.Create(ci, $"view {r.ViewStart} → {r.ViewEnd}; {r.StateTransfers} state transfer(s)"));
        bool sameSequence = r.Replicas.Length == 0 || Array.TrueForAll(r.Replicas, x => x.LastExecuted == r.Replicas[0].LastExecuted);
        string where = sameSequence
            ? string.Create(ci, $"all at sequence {r.LastExecuted}")
            : "at sequence " + string.Join(", ", r.Replicas.Select(x => string.Create(ci, $"r{x.Id} {x.LastExecuted} (view {x.View}{(x.InViewChange ? ", changing view" : "")})")));
        Tables.Row(t, "replicas consistent", r.ReplicasConsistent ? "yes" : "NO",
            string.Create(ci, $"replicas {string.Join(",", r.ReplicasAlive)} alive, {where}, digests {string.Join(",", r.StateDigests)}"));
        if (r.OdrcCrossBorderShare >= 0)
            Tables.Row(t, "odrc", string.Create(ci, $"{r.OdrcCrossBorderShare * 100:0.0}% cross-border"),
                string.Create(ci, $"{r.OdrcExecutionsPerRequest:0.00} executions per request (all replicas), {r.OdrcForcedPerRequest:0.0000} forced per request; consistency = agreement on the order"));
        foreach (var x in r.Replicas)
            if (x.Odrc is { Restores: > 0 } o)
                Tables.Row(t, string.Create(ci, $"odrc r{x.Id} restored"), string.Create(ci, $"{o.Restores} snapshot(s)"),
                    string.Create(ci, $"executed {o.Executed:N0}; between bases (§9): {o.BetweenBasesReplayed:N0} replayed exactly, {o.UnresolvedAtRestore:N0} objects unresolved at install, {o.UnresolvedResolved:N0} resolved, {o.UnresolvedSkipped:N0} requests skipped"));
        if (r.RequestsUnfinished > 0) Tables.Row(t, "requests unfinished", r.RequestsUnfinished.ToString(ci), "clients whose last request never completed (the cell lost liveness)");
        if (r.ClientRetransmissions > 0) Tables.Row(t, "client retransmissions", string.Create(ci, $"{r.ClientRetransmissions:N0}"), "");
        if (r.ClientPanics > 0) Tables.Row(t, "client panics", string.Create(ci, $"{r.ClientPanics:N0}"), "retransmissions that carried a PANIC");
        if (r.ClientAllocatedBytesPerRequest >= 0) Tables.Row(t, "client allocation", string.Create(ci, $"{r.ClientAllocatedBytesPerRequest:0.##} B/req"), "client I/O thread: transport, voting, load generator");
        Tables.Write(w, t);
        if (r.Faults.Count == 0) return;
        var ft = Tables.Create("<fault", "replica", "at s", "view", "checkpoint", "recovery ms", "max latency ms", "<req/s per 100 ms from at−1 s (k; | = fault)");
        foreach (var f in r.Faults)
        {
            var around = new System.Text.StringBuilder();
            for (int i = 0; i < f.ThroughputAroundRps.Length; i++)
            {
                if (i == 10) around.Append("| ");
                around.Append(string.Create(ci, $"{f.ThroughputAroundRps[i] / 1000:0.#} "));
            }
            Tables.Row(ft, f.Spec, f.Replica.ToString(ci), string.Create(ci, $"{f.AtS:0.000}"), f.ViewAtFault.ToString(ci),
                f.DurationS > 0 ? string.Create(ci, $"{f.CheckpointAtFault}→{f.CheckpointAtEnd}") : f.CheckpointAtFault.ToString(ci),
                f.RecoveryMs >= 0 ? string.Create(ci, $"{f.RecoveryMs:0.0}") : "none", string.Create(ci, $"{f.MaxLatencyMs:0.0}"), around.ToString().TrimEnd());
        }
        Tables.Write(w, ft);
        w.WriteLine("(recovery: fault → completion of the first request issued after it; max latency: longest request completed between this fault and the next)");
    }
}
