using System.Diagnostics.Metrics;
using FastBft.Protocol.Pbft;
using FastBft.Transport;
using FastBft.Wire;

namespace FastBft.Metrics;

/// <summary>
/// Publishes a replica's counters as <see cref="System.Diagnostics.Metrics"/> observable instruments
/// on the meter "FastBft" (so OpenTelemetry or dotnet-counters can export them). Observable
/// instruments read the counters when a listener collects, so the request path pays nothing.
/// Tag: replica = id.
/// </summary>
public sealed class ReplicaMetrics : IDisposable
{
    /// <summary>Meter name.</summary>
    public const string MeterName = "FastBft";
    private readonly Meter _meter;

    /// <summary>Registers the instruments for one replica.</summary>
    public ReplicaMetrics(uint replicaId, PbftReplica core, MessageVerifier verifier, TransportStats transport)
    {
        _meter = new Meter(MeterName);
        var tag = new KeyValuePair<string, object?>("replica", replicaId);
        var s = core.Stats;
        _meter.CreateObservableCounter("fastbft.requests.executed", () => new Measurement<long>(s.Executed, tag), "{request}", "client requests executed");
        _meter.CreateObservableCounter("fastbft.batches.executed", () => new Measurement<long>(s.ExecutedBatches, tag), "{batch}", "batches executed");
        _meter.CreateObservableCounter("fastbft.batches.proposed", () => new Measurement<long>(s.Batches, tag), "{batch}", "batches proposed as primary");
        _meter.CreateObservableCounter("fastbft.replies.cached", () => new Measurement<long>(s.CachedReplies, tag), "{reply}", "replies resent from the reply cache");
        _meter.CreateObservableCounter("fastbft.checkpoints.stable", () => new Measurement<long>(s.StableCheckpoints, tag), "{checkpoint}", "checkpoints that became stable");
        _meter.CreateObservableCounter("fastbft.retransmissions", () => new Measurement<long>(s.Retransmissions, tag), "{slot}", "stalled slots re-sent");
        _meter.CreateObservableCounter("fastbft.messages.dropped", () => new Measurement<long>(verifier.DroppedTotal, tag), "{message}", "messages dropped by parsing or authentication (incl. MAC failures)");
        _meter.CreateObservableCounter("fastbft.mac.failures", () => new Measurement<long>(verifier.Drops[(int)ParseStatus.BadAuthenticator], tag), "{message}", "messages whose MAC entry did not verify");
        _meter.CreateObservableCounter("fastbft.transport.datagrams.dropped", () => new Measurement<long>(transport.MalformedDropped + transport.ReassemblyDropped, tag), "{datagram}", "malformed frames and abandoned reassemblies");
        _meter.CreateObservableCounter("fastbft.transport.bytes.sent", () => new Measurement<long>(transport.BytesSent, tag), "By", "payload bytes sent");
        _meter.CreateObservableGauge("fastbft.sequence.executed", () => new Measurement<long>((long)core.LastExecuted, tag), "{sequence}", "last executed sequence number");
        _meter.CreateObservableGauge("fastbft.checkpoint.lag", () => new Measurement<long>((long)(core.LastExecuted - core.LowWatermark), tag), "{sequence}", "sequence numbers executed above the stable checkpoint");
        _meter.CreateObservableGauge("fastbft.view", () => new Measurement<long>((long)core.View, tag), "{view}", "current view");
    }

    /// <inheritdoc/>
    public void Dispose() => _meter.Dispose();
}
