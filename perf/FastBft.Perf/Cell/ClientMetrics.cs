using System.Diagnostics.Metrics;
using FastBft.Client;
using FastBft.Metrics;

namespace FastBft.Perf.Cell;

/// <summary>
/// The harness's own instruments on the "FastBft" meter (client side of a run; docs/observability.md):
/// observable, so the completion path pays nothing.
/// </summary>
internal sealed class ClientMetrics : IDisposable
{
    private readonly Meter _meter = new(ReplicaMetrics.MeterName);

    public ClientMetrics(LoadGenerator load, ClientEndpoint endpoint)
    {
        _meter.CreateObservableCounter("fastbft.client.requests.completed", () => load.Stats.Count, "{request}", "requests the harness's clients completed in the measured window");
        _meter.CreateObservableCounter("fastbft.client.retransmissions", () => load.Retransmissions, "{request}", "client retransmissions to all replicas");
        _meter.CreateObservableCounter("fastbft.client.replies.dropped", () => endpoint.Dropped, "{message}", "replies the client endpoint dropped (authentication, unknown client id)");
        _meter.CreateObservableCounter("fastbft.client.transport.bytes.sent", () => endpoint.TransportStats.BytesSent, "By", "payload bytes the client endpoint sent");
    }

    public void Dispose() => _meter.Dispose();
}
