using System.Diagnostics;
using HdrHistogram;

namespace FastBft.Perf.Measure;

/// <summary>
/// The one latency path of the harness (run, compare, ping, usig-bench): values are recorded into
/// HdrHistogram histograms (3 significant digits) and summarised by <see cref="LatencySummary.From"/>.
/// </summary>
internal static class LatencyHistograms
{
    /// <summary>Significant decimal digits kept by every harness histogram (0.1 % value resolution).</summary>
    public const int Precision = 3;

    /// <summary>
    /// A recorder for one writer thread (e.g. one client I/O thread): wait-free
    /// <see cref="Recorder.RecordValue"/> (no lock, no allocation), interval histograms read from another thread.
    /// Values 1..<paramref name="highest"/> in the caller's unit.
    /// </summary>
    public static Recorder NewRecorder(long highest) =>
        HistogramFactory.With64BitBucketSize().WithValuesFrom(1).WithValuesUpTo(highest).WithPrecisionOf(Precision)
            .WithThreadSafeWrites().WithThreadSafeReads().Create();

    /// <summary>A single-threaded histogram of values 1..<paramref name="highest"/> in the caller's unit.</summary>
    public static HistogramBase NewHistogram(long highest) =>
        HistogramFactory.With64BitBucketSize().WithValuesFrom(1).WithValuesUpTo(highest).WithPrecisionOf(Precision).Create();

    /// <summary>Records <paramref name="value"/> clamped to the histogram's range (an out-of-range value would throw).</summary>
    public static void RecordClamped(HistogramBase h, long value) => h.RecordValue(Math.Clamp(value, 1, h.HighestTrackableValue));

    /// <summary>Stopwatch ticks → whole microseconds (at least 1).</summary>
    public static long TicksToMicros(long ticks) => Math.Max(1, ticks * 1_000_000 / Stopwatch.Frequency);

    /// <summary>Stopwatch ticks → whole nanoseconds (at least 1).</summary>
    public static long TicksToNanos(long ticks) => Math.Max(1, (long)(ticks * (1e9 / Stopwatch.Frequency)));
}

/// <summary>Percentiles of one histogram in an output unit (ms for run, µs for ping, ns for usig-bench).</summary>
/// <param name="Count">values recorded.</param>
/// <param name="P50">median.</param>
/// <param name="P90">90th percentile.</param>
/// <param name="P99">99th percentile.</param>
/// <param name="P999">99.9th percentile.</param>
/// <param name="Max">largest value (HdrHistogram's highest equivalent value of the largest recorded).</param>
/// <param name="Mean">mean.</param>
internal readonly record struct LatencySummary(long Count, double P50, double P90, double P99, double P999, double Max, double Mean)
{
    /// <summary>Summarises <paramref name="h"/>, dividing recorded values by <paramref name="divisor"/> (e.g. 1000 for µs → ms) and rounding to <paramref name="digits"/>.</summary>
    public static LatencySummary From(HistogramBase h, double divisor = 1, int digits = 3)
    {
        if (h.TotalCount == 0) return default;
        double V(double p) => Math.Round(h.GetValueAtPercentile(p) / divisor, digits);
        return new LatencySummary(h.TotalCount, V(50), V(90), V(99), V(99.9), Math.Round(h.GetMaxValue() / divisor, digits), Math.Round(h.GetMean() / divisor, digits));
    }
}
