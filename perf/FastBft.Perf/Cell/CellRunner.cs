using System.Diagnostics;
using System.Globalization;
using FastBft.Client;
using FastBft.Config;
using FastBft.Replica;
using FastBft.Workloads;

namespace FastBft.Perf.Cell;

/// <summary>
/// Runs one measured cell: starts 3f+1 replicas (child processes, or threads with --in-process) on
/// loopback UDP (or DPDK, docs/dpdk.md), drives `clients` closed-loop clients (one outstanding request each) for the warm-up
/// and the measured duration, then drains, checks that every replica reached the same sequence number
/// with the same state digest, and reports throughput, latency percentiles, CPU and bytes per request.
/// </summary>
internal sealed class CellRunner
{
    private readonly RunOptions _o;
    private readonly TextWriter _out;

    public CellRunner(RunOptions options, TextWriter output) { _o = options; _out = output; }

    public async Task<RunResult> RunAsync(CancellationToken cancellation)
    {
        if (_o.Protocol != "pbft") throw new ConfigException($"--protocol: '{_o.Protocol}' is not supported yet; use pbft");
        if (_o.Transport is not ("udp" or "dpdk" or "mixed")) throw new ConfigException($"--transport: '{_o.Transport}' must be udp, dpdk (all replicas and the client on DPDK, memif mesh) or mixed (half the replicas on DPDK, the rest and the client on kernel UDP; root)");
        if (!Enum.TryParse<FastBft.Transport.Dpdk.DpdkPollMode>(_o.Poll, ignoreCase: true, out var poll) || int.TryParse(_o.Poll, out _))
            throw new ConfigException($"--poll: '{_o.Poll}' must be busy, adaptive or interrupt");
        if (_o.Transport != "udp" && _o.InProcess) throw new ConfigException($"--transport {_o.Transport} needs replica processes (one DPDK EAL per process); drop --in-process");
        if (_o.Clients < 1) throw new ConfigException("--clients must be at least 1");
        if (_o.DurationSeconds <= 0) throw new ConfigException("--duration must be positive (seconds)");
        var workload = Workload.Parse(_o.Workload);
        var config = CellDefinition.Create(_o.F, _o.Workload, batchSize: _o.BatchSize);
        var dir = Directory.CreateTempSubdirectory("fastbft-cell-");
        var configPath = Path.Combine(dir.FullName, "cell.json");
        DpdkTopology? topology = null;
        if (_o.Transport != "udp") topology = DpdkTopology.Apply(config, _o.Transport, poll, dir.FullName, _o.SpinUs, _o.MaxSleepUs, _o.Doorbells);
        await File.WriteAllTextAsync(configPath, config.ToJson(), cancellation);

        var replicas = new List<IReplicaHandle>();
        ClientEndpoint? endpoint = null;
        try
        {
            if (_o.InProcess)
                for (uint i = 0; i < config.N; i++) replicas.Add(new ThreadReplica(config, i));
            else if (topology is not null)
            {
                // memif: a server must listen before its client starts, so replicas start in id order.
                for (uint i = 0; i < config.N; i++) replicas.Add(await ProcessReplica.StartAsync(configPath, i, TimeSpan.FromSeconds(30)));
            }
            else
            {
                var starts = new Task<ProcessReplica>[config.N];
                for (uint i = 0; i < config.N; i++) starts[i] = ProcessReplica.StartAsync(configPath, i, TimeSpan.FromSeconds(30));
                foreach (var t in starts) replicas.Add(await t);
            }
            string where = _o.Transport switch
            {
                "dpdk" => $"DPDK memif mesh, client on DPDK, poll {poll.ToString().ToLowerInvariant()}",
                "mixed" => $"replicas {string.Join(",", config.Replicas.Where(r => r.Transport == "dpdk").Select(r => r.Id))} on DPDK (memif + net_tap on a bridge, poll {poll.ToString().ToLowerInvariant()}), others and the client on kernel UDP",
                _ => "udp loopback",
            };
            Log($"cell: {config.N} replicas (f={config.F}, {(_o.InProcess ? "threads" : "processes")}, {where}), workload {workload}, {_o.Clients} clients, batch ≤ {config.BatchSize}");

            endpoint = new ClientEndpoint(config, TransportFactory.ForClient(config, topology?.ClientDpdk, topology?.ClientBind));
            var clients = new BftClient[_o.Clients];
            for (int i = 0; i < clients.Length; i++) clients[i] = endpoint.CreateClient(config.FirstClientId + (uint)i);
            endpoint.Start();

            var load = new LoadGenerator(clients, new byte[workload.RequestBytes]);
            var loadTask = load.RunAsync();

            // Warm-up, then the measured window with live progress.
            await Task.Delay(TimeSpan.FromSeconds(_o.WarmupSeconds), cancellation);
            var before = await SnapshotAsync(replicas);
            var cpu0 = CpuTime(replicas);
            long clientBytes0 = endpoint.TransportStats.BytesSent;
            long clientDatagrams0 = endpoint.TransportStats.DatagramsSent;
            load.StartMeasuring();
            var sw = Stopwatch.StartNew();
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
                    long c = load.MeasuredCount;
                    second++;
                    if (!_o.Quiet) _out.WriteLine($"  [{second,3}s] {c - lastCount,9:N0} req/s");
                    lastCount = c;
                }
                else break;
                foreach (var r in replicas) if (!r.IsAlive) throw new InvalidOperationException($"replica {r.Id} died during the run");
            }
            load.StopMeasuring();
            double elapsed = sw.Elapsed.TotalSeconds;
            var cpu1 = CpuTime(replicas);
            long clientBytes1 = endpoint.TransportStats.BytesSent;
            long clientDatagrams1 = endpoint.TransportStats.DatagramsSent;
            var after = await SnapshotAsync(replicas);
            long measured = load.MeasuredCount;

            // Drain: stop issuing, let outstanding requests finish, then wait for replicas to converge.
            await load.StopAsync(TimeSpan.FromSeconds(10));
            var (consistent, finalStatus) = await ConvergeAsync(replicas, TimeSpan.FromSeconds(15));

            double cpuSeconds = _o.InProcess ? double.NaN : (cpu1 - cpu0).TotalSeconds;
            long replicaBytes = 0, replicaDatagrams = 0, batches = 0, batchedRequests = 0;
            for (int i = 0; i < after.Length; i++)
            {
                replicaBytes += after[i].BytesSent - before[i].BytesSent;
                replicaDatagrams += after[i].DatagramsSent - before[i].DatagramsSent;
                if (after[i].Batches > before[i].Batches)
                {
                    batches += after[i].Batches - before[i].Batches;
                    batchedRequests += after[i].RequestsExecuted - before[i].RequestsExecuted;
                }
            }
            var lat = load.LatenciesMs();
            var result = new RunResult
            {
                Protocol = _o.Protocol, F = _o.F, Workload = workload.ToString(), Clients = _o.Clients,
                DurationS = Math.Round(elapsed, 3),
                ThroughputRps = Math.Round(measured / elapsed, 1),
                LatencyP50Ms = Math.Round(Percentile(lat, 0.50), 3),
                LatencyP99Ms = Math.Round(Percentile(lat, 0.99), 3),
                CpuUsPerRequest = measured == 0 || double.IsNaN(cpuSeconds) ? 0 : Math.Round(cpuSeconds * 1e6 / measured, 2),
                BytesPerRequest = measured == 0 ? 0 : Math.Round((double)(replicaBytes + clientBytes1 - clientBytes0) / measured, 1),
                ReplicasConsistent = consistent,
                AvgBatchSize = batches == 0 ? 0 : Math.Round((double)batchedRequests / batches, 2),
                DatagramsPerRequest = measured == 0 ? 0 : Math.Round((double)(replicaDatagrams + clientDatagrams1 - clientDatagrams0) / measured, 3),
                RequestsCompleted = measured,
                ClientRetransmissions = load.Retransmissions,
                Transport = _o.Transport, InProcess = _o.InProcess,
                LastExecuted = finalStatus.Length > 0 ? finalStatus[0].LastExecuted : 0,
                StateDigests = finalStatus.Select(s => s.StateDigest[..16]).ToArray(),
            };
            return result;
        }
        finally
        {
            endpoint?.Dispose();
            foreach (var r in replicas) r.Dispose();
            topology?.Dispose();
            try { dir.Delete(recursive: true); } catch (IOException) { }
        }
    }

    private void Log(string s) { if (!_o.Quiet) _out.WriteLine(s); }

    private static TimeSpan CpuTime(List<IReplicaHandle> replicas)
    {
        var t = TimeSpan.Zero;
        foreach (var r in replicas) t += r.CpuTime();
        return t;
    }

    private static async Task<ReplicaStatus[]> SnapshotAsync(List<IReplicaHandle> replicas)
    {
        var tasks = replicas.Select(r => r.StatusAsync(TimeSpan.FromSeconds(10))).ToArray();
        return await Task.WhenAll(tasks);
    }

    /// <summary>Polls until all replicas report the same last executed sequence number twice in a row; then compares digests.</summary>
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

    private static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0) return 0;
        int idx = (int)Math.Ceiling(p * sorted.Length) - 1;
        return sorted[Math.Clamp(idx, 0, sorted.Length - 1)];
    }

    public static void Print(RunResult r, TextWriter w)
    {
        var ci = CultureInfo.InvariantCulture;
        w.WriteLine();
        w.WriteLine(string.Create(ci, $"protocol {r.Protocol}  f={r.F}  workload {r.Workload}  clients {r.Clients}  transport {r.Transport}{(r.InProcess ? " (in-process)" : "")}"));
        w.WriteLine(string.Create(ci, $"  throughput          {r.ThroughputRps,12:N0} requests/s   ({r.RequestsCompleted:N0} in {r.DurationS:0.0} s)"));
        w.WriteLine(string.Create(ci, $"  latency p50 / p99   {r.LatencyP50Ms,12:0.000} ms / {r.LatencyP99Ms:0.000} ms"));
        w.WriteLine(r.InProcess
            ? "  cpu per request     (not measured in-process: replicas and clients share one process)"
            : string.Create(ci, $"  cpu per request     {r.CpuUsPerRequest,12:0.0} µs (all replica processes)"));
        w.WriteLine(string.Create(ci, $"  bytes per request   {r.BytesPerRequest,12:N0} B (replicas + client, UDP payload)"));
        w.WriteLine(string.Create(ci, $"  datagrams/request   {r.DatagramsPerRequest,12:0.000}     average batch {r.AvgBatchSize:0.0} requests"));
        w.WriteLine(string.Create(ci, $"  replicas consistent {(r.ReplicasConsistent ? "yes" : "NO"),12}   (all at sequence {r.LastExecuted}, digests {string.Join(",", r.StateDigests)})"));
        if (r.ClientRetransmissions > 0) w.WriteLine(string.Create(ci, $"  client retransmissions {r.ClientRetransmissions}"));
    }
}

/// <summary>Closed-loop load: each client re-issues its next request from the completion of the previous one.</summary>
internal sealed class LoadGenerator
{
    private readonly BftClient[] _clients;
    private readonly byte[] _operation;
    private volatile bool _stop, _measuring;
    private long _measured;
    private readonly List<double> _latencies = new(1 << 20);
    private readonly object _gate = new();
    private Task[] _tasks = [];

    public LoadGenerator(BftClient[] clients, byte[] operation) { _clients = clients; _operation = operation; }

    public long MeasuredCount => Interlocked.Read(ref _measured);
    public long Retransmissions => _clients.Sum(c => c.Retransmissions);

    public Task RunAsync()
    {
        _tasks = _clients.Select(DriveAsync).ToArray();
        return Task.WhenAll(_tasks);
    }

    private async Task DriveAsync(BftClient c)
    {
        await Task.Yield();
        double tickToMs = 1000.0 / Stopwatch.Frequency;
        while (!_stop)
        {
            long t0 = Stopwatch.GetTimestamp();
            await c.InvokeAsync(_operation);
            if (_measuring)
            {
                double ms = (Stopwatch.GetTimestamp() - t0) * tickToMs;
                Interlocked.Increment(ref _measured);
                lock (_gate) _latencies.Add(ms);
            }
        }
    }

    public void StartMeasuring() => _measuring = true;
    public void StopMeasuring() => _measuring = false;

    public async Task StopAsync(TimeSpan timeout)
    {
        _stop = true;
        try { await Task.WhenAll(_tasks).WaitAsync(timeout); }
        catch (TimeoutException) { /* a request still outstanding: reported through consistency/drain */ }
    }

    public double[] LatenciesMs()
    {
        double[] a;
        lock (_gate) a = _latencies.ToArray();
        Array.Sort(a);
        return a;
    }
}
