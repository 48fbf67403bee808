using OpenTelemetry;
using OpenTelemetry.Metrics;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using FastBft.Config;
using FastBft.Metrics;
using FastBft.Perf.Cell;
using FastBft.Perf.Measure;

namespace FastBft.Integration.Tests;

/// <summary>The harness's measurement path: fault parsing, HdrHistogram summaries, the allocation-free completion path, and the documented instruments.</summary>
public class HarnessMeasurementTests
{
    [Fact]
    public void FaultSpecsParse()
    {
        var k = FaultSpec.Parse("kill:primary@3");
        Assert.Equal((FaultKind.Kill, (uint?)null, 3.0, 0.0), (k.Kind, k.Replica, k.AtSeconds, k.DurationSeconds));
        var p = FaultSpec.Parse("pause:2@1.5+2.25");
        Assert.Equal((FaultKind.Pause, (uint?)2, 1.5, 2.25), (p.Kind, p.Replica, p.AtSeconds, p.DurationSeconds));
        var list = FaultSpec.ParseAll(["restart:primary@5", "kill:primary@3", "isolate:1@1+1"], n: 4, durationSeconds: 8, inProcess: false);
        Assert.Equal([FaultKind.Isolate, FaultKind.Kill, FaultKind.Restart], list.Select(f => f.Kind).ToArray());
        var e = Assert.Throws<ConfigException>(() => FaultSpec.ParseAll(["kill:1@1"], n: 4, durationSeconds: 8, inProcess: true));
        Assert.Contains("--fault", e.Message);
        Assert.Contains("duration", Assert.Throws<ConfigException>(() => FaultSpec.Parse("kill:1@1+2")).Message);
    }

    [Fact]
    public void BadTelemetryConfigIsRejectedNamingTheField()
    {
        var json = new CellConfig { Keys = new KeysConfig { Master = new string('a', 64) } };
        for (int i = 0; i < 4; i++) json.Replicas.Add(new ReplicaConfig { Id = i, Address = $"127.0.0.1:{7000 + i}" });
        json.Telemetry.OtlpEndpoint = "not a url";
        var e = Assert.Throws<ConfigException>(() => CellConfig.Parse(json.ToJson()));
        Assert.Contains("telemetry.otlp_endpoint", e.Message);
        json.Telemetry.OtlpEndpoint = "http://127.0.0.1:4317";
        Assert.Equal("http://127.0.0.1:4317", CellConfig.Parse(json.ToJson()).Telemetry.OtlpEndpoint);
    }

    [Fact]
    public void LatencySummaryMatchesAKnownDistribution()
    {
        var h = LatencyHistograms.NewHistogram(10_000_000);
        for (long v = 1; v <= 10_000; v++) h.RecordValue(v * 100);   // 100 µs .. 1 s uniformly
        var s = LatencySummary.From(h, divisor: 1000);
        Assert.Equal(10_000, s.Count);
        Assert.InRange(s.P50, 499, 501);
        Assert.InRange(s.P99, 989, 991);
        Assert.InRange(s.Max, 999, 1001);
    }

    [Fact]
    public void CompletionPathAllocatesNothing()
    {
        var stats = new CompletionStats(maxSeconds: 10, faults: 2);
        long origin = Stopwatch.GetTimestamp();
        stats.Start(origin);
        stats.MarkFault(0, origin + Stopwatch.Frequency / 2);
        long t = origin;
        for (int i = 0; i < 1000; i++) { stats.OnCompleted(t, t + 1000); t += 1000; }   // warm up (JIT)
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200_000; i++) { stats.OnCompleted(t, t + 20_000); t += 20_000; }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(201_000, stats.Count);
        Assert.True(stats.FirstCompletionAfter(0) > 0);
    }

    [Fact]
    public async Task LoadGeneratorAllocatesNothingPerCompletedRequestOnTheClientThread()
    {
        using var cell = new UdpCell();
        using var endpoint = cell.NewClientEndpoint();
        var clients = Enumerable.Range(0, 8).Select(i => endpoint.CreateClient(cell.Config.FirstClientId + (uint)i)).ToArray();
        endpoint.Start();
        var stats = new CompletionStats(maxSeconds: 60, faults: 0);
        var load = new LoadGenerator(clients, new byte[8], stats);
        _ = load.RunAsync();
        // Warm up until every client completed requests (buffers grown, JIT done), then measure 5,000 completions.
        while (clients.Any(c => c.Completed < 20)) await Task.Delay(20, TestContext.Current.CancellationToken);
        load.StartMeasuring();
        while (stats.Count < 5_000) await Task.Delay(20, TestContext.Current.CancellationToken);
        load.StopMeasuring();
        Assert.Equal(0, await load.StopAsync(TimeSpan.FromSeconds(30)));
        // Bytes the client I/O thread allocated between its first and last measured completion, per completion:
        // transport receive, authentication, reply voting, the load generator's continuation and recorder.
        Assert.True(stats.AllocatedBytesPerRequest < 1, $"{stats.AllocatedBytesPerRequest} B per completed request");
    }

    [Fact]
    public void EveryPublishedInstrumentIsDocumentedWithItsUnit()
    {
        var doc = File.ReadAllText(Path.Combine(RepoRoot(), "docs", "observability.md"));
        using var cell = new UdpCell();
        using var endpoint = cell.NewClientEndpoint();
        using var clientMetrics = new ClientMetrics(new LoadGenerator([], [], new CompletionStats(1, 0)), endpoint);
        var names = new List<(string Name, string? Unit)>();
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (i, _) => { if (i.Meter.Name == ReplicaMetrics.MeterName) lock (names) names.Add((i.Name, i.Unit)); };
            listener.Start();
        }
        Assert.Contains(names, n => n.Name == "fastbft.view_changes");
        foreach (var (name, unit) in names.Distinct())
        {
            Assert.Contains($"`{name}`", doc);
            Assert.Contains($"| `{name}` | `{unit}` |", doc);
        }
    }

    [Fact]
    public async Task ReplicaInstrumentsExportThroughOpenTelemetry()
    {
        var exported = new List<OpenTelemetry.Metrics.Metric>();
        using var cell = new UdpCell();
        using (var provider = OpenTelemetry.Sdk.CreateMeterProviderBuilder().AddMeter(ReplicaMetrics.MeterName).AddInMemoryExporter(exported).Build())
        {
            using var endpoint = cell.NewClientEndpoint();
            var client = endpoint.CreateClient(cell.Config.FirstClientId);
            endpoint.Start();
            for (int i = 0; i < 20; i++) await client.InvokeAsync(BitConverter.GetBytes((long)i)).AsTask().WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
            await cell.ConvergeAsync(TimeSpan.FromSeconds(30));
            Assert.True(provider.ForceFlush(10_000));
        }
        long executed = 0;
        foreach (var m in exported)
        {
            if (m.Name != "fastbft.requests.executed") continue;
            foreach (ref readonly var point in m.GetMetricPoints()) executed = Math.Max(executed, point.GetSumLong());
        }
        Assert.True(executed >= 20, $"fastbft.requests.executed exported {executed}");
        Assert.Contains(exported, m => m.Name == "fastbft.view_changes");
        Assert.Contains(exported, m => m.Name == "fastbft.messages.rejected");
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "FastBft.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
