using System.Diagnostics;
using FastBft.Client;
using FastBft.Perf.Measure;
using HdrHistogram;

namespace FastBft.Perf.Cell;

/// <summary>
/// What the load generator learns from completed requests, kept by the client I/O thread that
/// completes them (continuations of <see cref="BftClient.InvokeAsync"/> run there): an HdrHistogram
/// <see cref="Recorder"/> of latencies (µs), completions and the longest latency per 100 ms, and per
/// fault the first completion of a request issued after it and the longest latency until the next
/// fault. <see cref="OnCompleted"/> takes no lock and allocates nothing (Interlocked only, so a rare
/// completion on another thread — a reply that arrived before its awaiter registered — is still exact).
/// </summary>
internal sealed class CompletionStats
{
    /// <summary>Width of one timeline bucket, ms.</summary>
    public const int BucketMs = 100;
    /// <summary>Largest recordable latency, µs (longer values are clamped): 10 minutes.</summary>
    public const long HighestLatencyUs = 600_000_000;

    private readonly Recorder _latencyUs = LatencyHistograms.NewRecorder(HighestLatencyUs);
    private readonly long _bucketTicks = Stopwatch.Frequency * BucketMs / 1000;
    private readonly long[] _buckets;
    private readonly long[] _bucketMaxUs;
    private readonly long[] _faultAt;
    private readonly long[] _firstAfter;
    private readonly long[] _maxLatencyTicks;
    private long _origin = long.MaxValue;
    private long _count;
    private int _allocThread = -1;
    private long _allocFirst, _allocLast, _allocCount;

    /// <summary>Creates the statistics of a measured window of at most <paramref name="maxSeconds"/> s with <paramref name="faults"/> fault slots.</summary>
    public CompletionStats(double maxSeconds, int faults)
    {
        int buckets = (int)Math.Ceiling(maxSeconds * 1000 / BucketMs) + 1;
        _buckets = new long[buckets];
        _bucketMaxUs = new long[buckets];
        _faultAt = new long[faults];
        Array.Fill(_faultAt, long.MaxValue);
        _firstAfter = new long[faults];
        _maxLatencyTicks = new long[faults];
    }

    /// <summary>Stopwatch timestamp of the start of the measured window (bucket 0).</summary>
    public long Origin => Volatile.Read(ref _origin);
    /// <summary>Requests completed in the measured window.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>Starts the measured window at <paramref name="origin"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public void Start(long origin) => Volatile.Write(ref _origin, origin);

    /// <summary>Marks fault <paramref name="index"/> (faults are marked in time order) as injected at <paramref name="timestamp"/>.</summary>
    public void MarkFault(int index, long timestamp) => Volatile.Write(ref _faultAt[index], timestamp);

    /// <summary>Records one completed request issued at <paramref name="t0"/> and completed at <paramref name="t1"/> (Stopwatch timestamps). No lock, no allocation.</summary>
    public void OnCompleted(long t0, long t1)
    {
        long latency = t1 - t0;
        long us = Math.Clamp(LatencyHistograms.TicksToMicros(latency), 1, HighestLatencyUs);
        _latencyUs.RecordValue(us);
        long b = (t1 - _origin) / _bucketTicks;
        if ((ulong)b < (ulong)_buckets.Length)
        {
            Interlocked.Increment(ref _buckets[b]);
            InterlockedMax(ref _bucketMaxUs[b], us);
        }
        var faults = _faultAt;
        for (int i = 0; i < faults.Length; i++)
        {
            long f = Volatile.Read(ref faults[i]);
            if (t1 < f) break;
            if (t0 >= f && Volatile.Read(ref _firstAfter[i]) == 0) Interlocked.CompareExchange(ref _firstAfter[i], t1, 0);
            long next = i + 1 < faults.Length ? Volatile.Read(ref faults[i + 1]) : long.MaxValue;
            if (t1 < next) InterlockedMax(ref _maxLatencyTicks[i], latency);
        }
        Interlocked.Increment(ref _count);
        // Allocation probe: bytes allocated by the completing thread between its first and last completion.
        int thread = Environment.CurrentManagedThreadId;
        if (_allocThread == -1) { _allocThread = thread; _allocFirst = GC.GetAllocatedBytesForCurrentThread(); }
        else if (_allocThread == thread) { _allocLast = GC.GetAllocatedBytesForCurrentThread(); _allocCount++; }
    }

    private static void InterlockedMax(ref long target, long value)
    {
        long seen = Volatile.Read(ref target);
        while (value > seen)
        {
            long was = Interlocked.CompareExchange(ref target, value, seen);
            if (was == seen) return;
            seen = was;
        }
    }

    /// <summary>
    /// Bytes the client I/O thread allocated per completed request in the measured window (its
    /// transport, authentication, reply voting and the load generator's continuation), or NaN with
    /// fewer than two completions on it. Read after the window.
    /// </summary>
    public double AllocatedBytesPerRequest => _allocCount < 1 ? double.NaN : (double)(_allocLast - _allocFirst) / _allocCount;

    /// <summary>The latencies (µs) recorded since the last call (HdrHistogram interval histogram; recycle the previous one).</summary>
    public HistogramBase TakeLatencies(HistogramBase? recycle = null) => _latencyUs.GetIntervalHistogram(recycle);

    /// <summary>Completions per 100 ms bucket (copy), the first <paramref name="count"/> buckets.</summary>
    public long[] Buckets(int count) => _buckets.AsSpan(0, Math.Min(count, _buckets.Length)).ToArray();
    /// <summary>Longest latency (µs) of a request completed in each 100 ms bucket (copy).</summary>
    public long[] BucketMaxUs(int count) => _bucketMaxUs.AsSpan(0, Math.Min(count, _bucketMaxUs.Length)).ToArray();
    /// <summary>Timestamp of fault i's injection (long.MaxValue: not injected).</summary>
    public long FaultAt(int i) => Volatile.Read(ref _faultAt[i]);
    /// <summary>Completion timestamp of the first request issued after fault i (0: none).</summary>
    public long FirstCompletionAfter(int i) => Volatile.Read(ref _firstAfter[i]);
    /// <summary>Longest latency (Stopwatch ticks) of requests completed between fault i and the next fault.</summary>
    public long MaxLatencyTicksAfter(int i) => Volatile.Read(ref _maxLatencyTicks[i]);
}

/// <summary>Closed-loop load: each client re-issues its next request from the completion of the previous one (on the client I/O thread).</summary>
internal sealed class LoadGenerator
{
    private readonly BftClient[] _clients;
    private readonly byte[] _operation;
    private readonly FastBft.Workloads.Kv.YcsbClient[]? _ycsb;
    private readonly CompletionStats _stats;
    private volatile bool _stop, _measuring;
    private Task[] _tasks = [];

    /// <summary>Drives <paramref name="clients"/> with <paramref name="operation"/>; completions go to <paramref name="stats"/> while measuring.</summary>
    public LoadGenerator(BftClient[] clients, byte[] operation, CompletionStats stats) { _clients = clients; _operation = operation; _stats = stats; }

    /// <summary>Drives client i with the YCSB operation stream <paramref name="ycsb"/>[i] (KV service); completions go to <paramref name="stats"/> while measuring.</summary>
    public static LoadGenerator Ycsb(BftClient[] clients, FastBft.Workloads.Kv.YcsbClient[] ycsb, CompletionStats stats) => new(clients, ycsb, stats);

    private LoadGenerator(BftClient[] clients, FastBft.Workloads.Kv.YcsbClient[] ycsb, CompletionStats stats) { _clients = clients; _operation = []; _ycsb = ycsb; _stats = stats; }

    private readonly Func<byte[]>[]? _streams;

    /// <summary>Drives client i with the operations <paramref name="streams"/>[i] returns (the coordination service, docs/odrc.md §8).</summary>
    public static LoadGenerator Streams(BftClient[] clients, Func<byte[]>[] streams, CompletionStats stats) => new(clients, streams, stats);

    private LoadGenerator(BftClient[] clients, Func<byte[]>[] streams, CompletionStats stats) { _clients = clients; _operation = []; _streams = streams; _stats = stats; }

    public CompletionStats Stats => _stats;

    public long Retransmissions
    {
        get { long s = 0; foreach (var c in _clients) s += c.Retransmissions; return s; }
    }

    /// <summary>PANICs the clients sent (switching protocols only; one per retransmission that carried one).</summary>
    public long Panics
    {
        get { long s = 0; foreach (var c in _clients) s += c.Panics; return s; }
    }

    public Task RunAsync()
    {
        _tasks = new Task[_clients.Length];
        for (int i = 0; i < _clients.Length; i++)
            _tasks[i] = _streams is not null ? DriveStreamAsync(_clients[i], _streams[i]) : _ycsb is null ? DriveAsync(_clients[i]) : DriveYcsbAsync(_clients[i], _ycsb[i]);
        return Task.WhenAll(_tasks);
    }

    private async Task DriveAsync(BftClient c)
    {
        await Task.Yield();
        // The async state machine is boxed once (first real await); the ValueTask of InvokeAsync is
        // backed by the client itself, so each further request allocates nothing here.
        while (!_stop)
        {
            long t0 = Stopwatch.GetTimestamp();
            await c.InvokeAsync(_operation);
            if (_measuring) _stats.OnCompleted(t0, Stopwatch.GetTimestamp());
        }
    }

    private async Task DriveYcsbAsync(BftClient c, FastBft.Workloads.Kv.YcsbClient ycsb)
    {
        await Task.Yield();
        while (!_stop || ycsb.NeedsReply)
        {
            long t0 = Stopwatch.GetTimestamp();
            var reply = await c.InvokeAsync(ycsb.Next());
            if (ycsb.NeedsReply) ycsb.OnReply(reply.Span);
            if (_measuring) _stats.OnCompleted(t0, Stopwatch.GetTimestamp());
        }
    }

    private async Task DriveStreamAsync(BftClient c, Func<byte[]> next)
    {
        await Task.Yield();
        while (!_stop)
        {
            long t0 = Stopwatch.GetTimestamp();
            await c.InvokeAsync(next());
            if (_measuring) _stats.OnCompleted(t0, Stopwatch.GetTimestamp());
        }
    }

    public void StartMeasuring() { _stats.Start(Stopwatch.GetTimestamp()); _measuring = true; }
    public void StopMeasuring() => _measuring = false;

    /// <summary>Stops issuing requests and waits up to <paramref name="timeout"/> for the outstanding ones; returns how many clients are still waiting.</summary>
    public async Task<int> StopAsync(TimeSpan timeout)
    {
        _stop = true;
        try { await Task.WhenAll(_tasks).WaitAsync(timeout); }
        catch (TimeoutException) { /* a request still outstanding: counted below */ }
        int waiting = 0;
        foreach (var t in _tasks) if (!t.IsCompleted) waiting++;
        // The clients' last continuations ran on the client I/O thread, and so may this method's: leave
        // it, or a caller that disposes the endpoint next would join the I/O thread from itself.
        await Task.Yield();
        return waiting;
    }
}
