using System.Diagnostics;
using System.Globalization;
using FastBft.Replica;

namespace FastBft.Perf.Cell;

/// <summary>
/// Injects a run's fault schedule into replica processes at their times (relative to the start of
/// the measured window): SIGKILL, SIGSTOP/SIGCONT, a new process for restart, the isolate switch on
/// the control channel. `primary` is resolved when the fault fires, from the view most responsive
/// replicas report. Pauses and isolations still running when the window ends are ended at once.
/// </summary>
internal sealed class FaultInjector
{
    private readonly List<FaultSpec> _plan;
    private readonly IReplicaHandle[] _slots;
    private readonly List<IReplicaHandle> _everything;
    private readonly CompletionStats _stats;
    private readonly int _n;
    private readonly Func<uint, Task<ProcessReplica>> _restart;
    private readonly Action<string> _log;
    private readonly Injected[] _injected;
    private readonly Microsoft.Extensions.Logging.ILogger _logger;

    private sealed class Injected
    {
        public uint Replica;
        public long Timestamp;
        public ulong View;
        public ulong CheckpointAtFault, CheckpointAtEnd;
        public bool Done;
    }

    public FaultInjector(List<FaultSpec> plan, IReplicaHandle[] slots, List<IReplicaHandle> everything, CompletionStats stats, int n, Func<uint, Task<ProcessReplica>> restart, Action<string> log, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _plan = plan; _slots = slots; _everything = everything; _stats = stats; _n = n; _restart = restart; _log = log;
        _injected = new Injected[plan.Count];
        for (int i = 0; i < _injected.Length; i++) _injected[i] = new Injected();
    }

    /// <summary>Runs the schedule from <paramref name="origin"/> (Stopwatch timestamp); on <paramref name="stop"/> the remaining faults are skipped and running pauses/isolations end.</summary>
    /// <exception cref="InvalidOperationException">a fault could not be injected (e.g. a restarted replica did not start).</exception>
    public async Task RunAsync(long origin, CancellationToken stop)
    {
        var ends = new List<Task>();
        uint? lastPrimaryKilled = null;
        try
        {
            for (int i = 0; i < _plan.Count; i++)
            {
                var f = _plan[i];
                long due = origin + (long)(f.AtSeconds * Stopwatch.Frequency);
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.Zero)
                {
                    try { await Task.Delay(wait, stop); }
                    catch (OperationCanceledException) { break; }
                }
                if (stop.IsCancellationRequested) break;
                var statuses = await ResponsiveStatusesAsync();
                ulong view = CellRunner.MostCommonView(statuses);
                if (f.Kind == FaultKind.Restart && f.Replica is null && lastPrimaryKilled is null) { _log($"fault {f.Text}: no replica was killed by kill:primary; skipped"); continue; }
                uint target = f.Replica ?? (f.Kind == FaultKind.Restart ? lastPrimaryKilled!.Value : (uint)(view % (ulong)_n));
                var handle = _slots[target] as ProcessReplica ?? throw new InvalidOperationException($"--fault {f.Text}: replica {target} is not a process");
                var rec = _injected[i];
                rec.Replica = target; rec.View = view;
                rec.CheckpointAtFault = rec.CheckpointAtEnd = statuses.Count == 0 ? 0 : statuses.Max(x => x.StableCheckpoint);
                switch (f.Kind)
                {
                    case FaultKind.Kill:
                        if (!handle.IsAlive) { _log($"fault {f.Text}: replica {target} is not running; skipped"); continue; }
                        handle.SigKill();                       // returns once the process has exited
                        rec.Timestamp = Mark(i);
                        if (f.Replica is null) lastPrimaryKilled = target;
                        break;
                    case FaultKind.Pause:
                        if (!handle.IsAlive || handle.Paused) { _log($"fault {f.Text}: replica {target} is not running; skipped"); continue; }
                        handle.Pause();                         // returns once the kernel reports it stopped
                        rec.Timestamp = Mark(i);
                        ends.Add(EndAfter(rec, f.DurationSeconds, stop, () => { handle.Resume(); return Task.CompletedTask; }, $"replica {target} resumed (SIGCONT)"));
                        break;
                    case FaultKind.Isolate:
                        if (!handle.IsAlive) { _log($"fault {f.Text}: replica {target} is not running; skipped"); continue; }
                        await handle.IsolateAsync(true, TimeSpan.FromSeconds(10));   // returns once the replica confirmed
                        rec.Timestamp = Mark(i);
                        ends.Add(EndAfter(rec, f.DurationSeconds, stop, () => handle.IsAlive ? handle.IsolateAsync(false, TimeSpan.FromSeconds(10)) : Task.CompletedTask, $"replica {target} rejoined (isolation off)"));
                        break;
                    case FaultKind.Restart:
                        if (handle.IsAlive) { _log($"fault {f.Text}: replica {target} is still running; skipped"); continue; }
                        rec.Timestamp = Mark(i);
                        var fresh = await _restart(target);
                        lock (_everything) _everything.Add(fresh);
                        _slots[target] = fresh;
                        break;
                }
                rec.Done = true;
                ReplicaLog.FaultInjected(_logger, f.Kind.ToString().ToLowerInvariant(), target, Math.Round(Stopwatch.GetElapsedTime(origin, rec.Timestamp).TotalSeconds, 3));
                _log(string.Create(CultureInfo.InvariantCulture,
                    $"  [{Stopwatch.GetElapsedTime(origin, rec.Timestamp).TotalSeconds,6:0.000}s] fault {f.Kind.ToString().ToLowerInvariant()} → replica {target}{(f.Replica is null ? $" (primary of view {view})" : "")}"));
            }
        }
        finally
        {
            await Task.WhenAll(ends);
        }
    }

    private long Mark(int index)
    {
        long ts = Stopwatch.GetTimestamp();
        _stats.MarkFault(index, ts);
        return ts;
    }

    private async Task EndAfter(Injected rec, double seconds, CancellationToken stop, Func<Task> end, string what)
    {
        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), rec.Timestamp + (long)(seconds * Stopwatch.Frequency));
        if (wait > TimeSpan.Zero)
        {
            try { await Task.Delay(wait, stop); } catch (OperationCanceledException) { }
        }
        var others = await ResponsiveStatusesAsync(exclude: rec.Replica);
        if (others.Count > 0) rec.CheckpointAtEnd = others.Max(x => x.StableCheckpoint);
        await end();
        _log($"  fault ended: {what}");
    }

    /// <summary>Statuses of the replicas that are running, not paused, and answer within 2 s.</summary>
    private async Task<List<ReplicaStatus>> ResponsiveStatusesAsync(uint exclude = uint.MaxValue)
    {
        var tasks = new List<Task<ReplicaStatus>>();
        foreach (var r in _slots)
            if (r.Id != exclude && r.IsAlive && r is not ProcessReplica { Paused: true }) tasks.Add(r.StatusAsync(TimeSpan.FromSeconds(2)));
        var list = new List<ReplicaStatus>();
        foreach (var t in tasks)
        {
            try { list.Add(await t); }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException or IOException) { }
        }
        return list;
    }

    /// <summary>Per injected fault: recovery, longest latency, and the throughput around it (from <paramref name="rps"/>, per 100 ms).</summary>
    public List<FaultResult> Results(double[] rps)
    {
        var list = new List<FaultResult>();
        long origin = _stats.Origin;
        for (int i = 0; i < _plan.Count; i++)
        {
            var rec = _injected[i];
            if (!rec.Done) continue;
            var f = _plan[i];
            double at = Stopwatch.GetElapsedTime(origin, rec.Timestamp).TotalSeconds;
            long first = _stats.FirstCompletionAfter(i);
            int b0 = (int)Math.Floor(at * 1000 / CompletionStats.BucketMs) - 10;
            var around = new List<double>();
            for (int b = b0; b < b0 + 30; b++) if (b >= 0 && b < rps.Length) around.Add(rps[b]); else if (b >= 0) break;
            list.Add(new FaultResult
            {
                Kind = f.Kind.ToString().ToLowerInvariant(),
                Replica = rec.Replica,
                Spec = f.Text,
                AtS = Math.Round(at, 3),
                DurationS = f.DurationSeconds,
                RecoveryMs = first == 0 ? -1 : Math.Round(Stopwatch.GetElapsedTime(rec.Timestamp, first).TotalMilliseconds, 1),
                MaxLatencyMs = Math.Round(_stats.MaxLatencyTicksAfter(i) * 1000.0 / Stopwatch.Frequency, 1),
                ViewAtFault = rec.View,
                CheckpointAtFault = rec.CheckpointAtFault,
                CheckpointAtEnd = rec.CheckpointAtEnd,
                ThroughputAroundRps = around.ToArray(),
            });
        }
        return list;
    }
}
