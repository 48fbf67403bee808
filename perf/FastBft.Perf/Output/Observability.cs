using System.CommandLine;
using FastBft.Config;
using FastBft.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace FastBft.Perf.Output;

/// <summary>Log and metrics options shared by `fastbft run` and `fastbft replica` (docs/observability.md).</summary>
internal static class ObservabilityOptions
{
    public static readonly Option<string> LogFormat = new("--log-format") { Description = "log format on stderr: text (one line per event) or json (one JSON object per event, with event ids)", DefaultValueFactory = _ => "text" };
    public static readonly Option<LogLevel> LogLevelOption = new("--log-level") { Description = "minimum log level (Trace, Debug, Information, Warning, Error, Critical, None)", DefaultValueFactory = _ => LogLevel.Warning };
    public static readonly Option<bool> Metrics = new("--metrics") { Description = "export the FastBft meter through the OpenTelemetry console exporter (replicas: to stderr)" };
    public static readonly Option<string?> OtlpEndpoint = new("--otlp-endpoint") { Description = "export the FastBft meter over OTLP to this URL (e.g. http://127.0.0.1:4317); overrides the cell config's telemetry.otlp_endpoint" };
    public static readonly Option<string> OtlpProtocol = new("--otlp-protocol") { Description = "OTLP transport: grpc or http (HTTP/protobuf)", DefaultValueFactory = _ => "grpc" };
    public static readonly Option<int> MetricsIntervalMs = new("--metrics-interval-ms") { Description = "metrics export interval, ms", DefaultValueFactory = _ => 10_000 };

    public static void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { LogFormat, LogLevelOption, Metrics, OtlpEndpoint, OtlpProtocol, MetricsIntervalMs }) cmd.Options.Add(o);
    }

    /// <summary>The values given on the command line.</summary>
    public static Settings Bind(ParseResult p) => new(p.GetValue(LogFormat)!, p.GetValue(LogLevelOption), p.GetValue(Metrics), p.GetValue(OtlpEndpoint),
        p.GetValue(OtlpProtocol)!, p.GetValue(MetricsIntervalMs), p.GetResult(OtlpProtocol) is { Implicit: false }, p.GetResult(MetricsIntervalMs) is { Implicit: false });

    /// <summary>Observability settings of one process.</summary>
    internal sealed record Settings(string LogFormat, LogLevel LogLevel, bool ConsoleMetrics, string? OtlpEndpoint, string OtlpProtocol, int IntervalMs, bool ProtocolGiven = false, bool IntervalGiven = false)
    {
        public static readonly Settings Default = new("text", LogLevel.Warning, false, null, "grpc", 10_000);

        /// <summary>Checks the values; throws naming the option.</summary>
        /// <exception cref="ConfigException">a value is invalid.</exception>
        public void Validate()
        {
            if (LogFormat is not ("text" or "json")) throw new ConfigException($"--log-format: '{LogFormat}' must be text or json");
            if (OtlpEndpoint is not null && (!Uri.TryCreate(OtlpEndpoint, UriKind.Absolute, out var u) || (u.Scheme != "http" && u.Scheme != "https")))
                throw new ConfigException($"--otlp-endpoint: '{OtlpEndpoint}' is not an absolute http(s) URL");
            if (OtlpProtocol is not ("grpc" or "http")) throw new ConfigException($"--otlp-protocol: '{OtlpProtocol}' must be grpc or http");
            if (IntervalMs < 100 || IntervalMs > 3_600_000) throw new ConfigException($"--metrics-interval-ms: {IntervalMs} is out of range 100..3600000");
        }

        /// <summary>Command-line arguments that give a replica process the same settings.</summary>
        public IEnumerable<string> ReplicaArguments()
        {
            yield return "--log-format"; yield return LogFormat;
            yield return "--log-level"; yield return LogLevel.ToString();
            if (ConsoleMetrics) yield return "--metrics";
            if (OtlpEndpoint is not null) { yield return "--otlp-endpoint"; yield return OtlpEndpoint; }
            if (ProtocolGiven) { yield return "--otlp-protocol"; yield return OtlpProtocol; }
            if (IntervalGiven) { yield return "--metrics-interval-ms"; yield return IntervalMs.ToString(System.Globalization.CultureInfo.InvariantCulture); }
        }

        /// <summary>The cell config's telemetry section fills in what the command line left unset.</summary>
        public Settings WithCellDefaults(TelemetryConfig t) => this with
        {
            OtlpEndpoint = OtlpEndpoint ?? t.OtlpEndpoint,
            OtlpProtocol = ProtocolGiven ? OtlpProtocol : t.OtlpProtocol,
            IntervalMs = IntervalGiven ? IntervalMs : t.ExportIntervalMs,
        };
    }

    /// <summary>A logger factory writing to stderr in the chosen format (stdout stays free for results or the control channel).</summary>
    public static ILoggerFactory CreateLoggerFactory(Settings s) => LoggerFactory.Create(b =>
    {
        b.SetMinimumLevel(s.LogLevel);
        b.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        if (s.LogFormat == "json")
            b.AddJsonConsole(o => { o.IncludeScopes = false; o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ"; o.UseUtcTimestamp = true; });
        else
            b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.fff "; o.UseUtcTimestamp = true; });
    });

    /// <summary>
    /// Starts exporting the "FastBft" meter (console exporter and/or OTLP) as service "fastbft" with
    /// instance id <paramref name="instance"/>; null when neither is asked for. Dispose to flush and stop.
    /// </summary>
    public static MeterProvider? StartMetrics(Settings s, string instance)
    {
        if (!s.ConsoleMetrics && s.OtlpEndpoint is null) return null;
        var b = Sdk.CreateMeterProviderBuilder()
            .ConfigureResource(r => r.AddService("fastbft", serviceInstanceId: instance))
            .AddMeter(ReplicaMetrics.MeterName);
        if (s.ConsoleMetrics)
            b.AddConsoleExporter((_, reader) => reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = s.IntervalMs);
        if (s.OtlpEndpoint is { } endpoint)
            b.AddOtlpExporter((exporter, reader) =>
            {
                exporter.Endpoint = new Uri(endpoint);
                exporter.Protocol = s.OtlpProtocol == "http" ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = s.IntervalMs;
            });
        return b.Build();
    }
}
