using FastBft.Perf.Cell;
using HdrHistogram;
using ScottPlot;

namespace FastBft.Perf.Output;

/// <summary>PNG plots of run and compare results (ScottPlot; `--plot out.png`).</summary>
internal static class Plots
{
    /// <summary>
    /// `fastbft run --plot`: top, requests/s per 100 ms over the measured window with a vertical marker
    /// per fault (and a shaded span for pause/isolate); bottom, the latency percentile spectrum
    /// (HdrHistogram percentiles; x = percentile on a 1/(1−p) log scale, y = ms, log scale).
    /// </summary>
    /// <exception cref="IOException">the file cannot be written.</exception>
    public static void Run(RunResult r, HistogramBase latencyUs, string path)
    {
        var mp = new Multiplot();
        mp.AddPlots(2);
        var top = mp.GetPlot(0);
        var rps = r.Throughput100MsRps;
        var xs = new double[rps.Length];
        for (int i = 0; i < xs.Length; i++) xs[i] = (i + 0.5) * CompletionStats.BucketMs / 1000.0;
        var line = top.Add.Scatter(xs, rps);
        line.MarkerSize = 0;
        line.LineWidth = 1.5f;
        line.LegendText = "requests/s (100 ms buckets)";
        int labelRow = 0;
        foreach (var f in r.Faults)
        {
            if (f.DurationS > 0)
            {
                var span = top.Add.HorizontalSpan(f.AtS, f.AtS + f.DurationS);
                span.FillStyle.Color = Colors.Orange.WithAlpha(0.15);
            }
            if (f.RecoveryMs > 0)
            {
                var recovery = top.Add.HorizontalSpan(f.AtS, f.AtS + f.RecoveryMs / 1000);
                recovery.FillStyle.Color = Colors.Red.WithAlpha(0.12);
            }
            var v = top.Add.VerticalLine(f.AtS);
            v.Color = Colors.OrangeRed;
            v.LineWidth = 1.5f;
            var label = top.Add.Text(f.RecoveryMs >= 0 ? $" {f.Kind} r{f.Replica}: recovery {f.RecoveryMs:0} ms, max latency {f.MaxLatencyMs:0} ms" : $" {f.Kind} r{f.Replica}: no recovery",
                f.AtS, Math.Max(1, Max(rps)) * (1.12 - 0.08 * (labelRow++ % 3)));
            label.LabelFontSize = 13;
            label.LabelFontColor = Colors.OrangeRed;
            label.LabelAlignment = Alignment.MiddleLeft;
        }
        top.Title($"{r.Protocol} f={r.F} workload {r.Workload}, {r.Clients} clients, {r.Transport}: {r.ThroughputRps:N0} req/s, {r.ViewChanges} view change(s)");
        top.XLabel("seconds into the measured window");
        top.YLabel("requests/s");
        top.Axes.SetLimitsY(0, Math.Max(1, Max(rps)) * 1.2);
        top.ShowLegend(Alignment.LowerRight);

        var bottom = mp.GetPlot(1);
        var px = new List<double>();
        var py = new List<double>();
        if (latencyUs.TotalCount > 0)
        {
            foreach (var it in latencyUs.Percentiles(5))
            {
                double p = Math.Min(it.Percentile, 99.999);   // the last point (100 %, the maximum) is drawn at 99.999 %
                px.Add(-Math.Log10(1 - p / 100));
                py.Add(Math.Log10(Math.Max(it.ValueIteratedTo, 1) / 1000.0));
                if (p >= 99.999) break;
            }
        }
        var curve = bottom.Add.Scatter(px.ToArray(), py.ToArray());
        curve.MarkerSize = 0;
        curve.LineWidth = 1.5f;
        curve.LegendText = $"latency: p50 {r.LatencyP50Ms:0.###} ms, p99 {r.LatencyP99Ms:0.###} ms, max {r.LatencyMaxMs:0.###} ms";
        double[] ticks = [0, 1, 2, 3, 4, 5];
        string[] labels = ["0%", "90%", "99%", "99.9%", "99.99%", "max"];
        bottom.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks, labels);
        bottom.Axes.Left.TickGenerator = LogTicks();
        bottom.Title("client latency by percentile (HdrHistogram)");
        bottom.XLabel("percentile");
        bottom.YLabel("latency, ms (log scale)");
        bottom.ShowLegend(Alignment.UpperLeft);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        mp.SavePng(path, 1000, 800);
    }

    /// <summary>
    /// `fastbft compare --plot`: one bar per configuration (median requests/s) with the spread of its
    /// rounds (min..max) as an error bar, and the median p99 latency printed on each bar.
    /// </summary>
    public static void Compare(IReadOnlyList<CompareEntry> entries, IReadOnlyList<List<RunResult>> rounds, string path)
    {
        var plot = new Plot();
        var positions = new double[entries.Count];
        var labels = new string[entries.Count];
        for (int i = 0; i < entries.Count; i++)
        {
            positions[i] = i;
            labels[i] = entries[i].Name.Length <= 30 ? entries[i].Name : entries[i].Name[..29] + "…";
            var bar = plot.Add.Bar(position: i, value: entries[i].ThroughputRps);
            bar.LegendText = "";
            double lo = double.MaxValue, hi = double.MinValue;
            foreach (var r in rounds[i]) { lo = Math.Min(lo, r.ThroughputRps); hi = Math.Max(hi, r.ThroughputRps); }
            if (rounds[i].Count > 0)
            {
                var spread = plot.Add.Line(i, lo, i, hi);
                spread.Color = Colors.Black;
                spread.LineWidth = 2;
                foreach (var y in new[] { lo, hi })
                {
                    var cap = plot.Add.Line(i - 0.1, y, i + 0.1, y);
                    cap.Color = Colors.Black;
                    cap.LineWidth = 2;
                }
            }
            var t = plot.Add.Text($"p99 {entries[i].LatencyP99Ms:0.###} ms", i, rounds[i].Count > 0 ? Math.Max(hi, entries[i].ThroughputRps) : entries[i].ThroughputRps);
            t.LabelFontSize = 12;
            t.LabelAlignment = Alignment.LowerCenter;
            t.OffsetY = -4;
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(positions, labels);
        plot.Axes.Margins(bottom: 0, top: 0.15);
        plot.Title("median requests/s (whiskers: min..max of the rounds)");
        plot.YLabel("requests/s");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        plot.SavePng(path, Math.Max(800, 260 * entries.Count), 500);
    }

    private static ScottPlot.TickGenerators.NumericManual LogTicks()
    {
        var pos = new List<double>();
        var lab = new List<string>();
        for (int e = -3; e <= 5; e++)
        {
            pos.Add(e);
            lab.Add(e < 0 ? $"{Math.Pow(10, e):0.###}" : $"{Math.Pow(10, e):0}");
        }
        return new ScottPlot.TickGenerators.NumericManual(pos.ToArray(), lab.ToArray());
    }

    private static double Max(double[] a) { double m = 0; foreach (var v in a) m = Math.Max(m, v); return m; }
}
