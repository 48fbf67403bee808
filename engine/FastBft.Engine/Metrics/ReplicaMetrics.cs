using System.Diagnostics.Metrics;
using FastBft.Agreement;
using FastBft.Verification;
using FastBft.Replica;
using FastBft.Transport;
using FastBft.Wire;

namespace FastBft.Metrics;

/// <summary>
/// Publishes a replica's counters as <see cref="System.Diagnostics.Metrics"/> observable instruments
/// on the meter "FastBft" (OpenTelemetry, `fastbft replica --metrics / --otlp-endpoint`, or
/// dotnet-counters export them; docs/observability.md lists every instrument with its unit).
/// Observable instruments read the core's public counters when a listener collects, so the request
/// path pays nothing; the callbacks run on the collector's thread and read plain 64-bit fields
/// (torn reads are impossible on 64-bit platforms; a value may be one event stale). Tag: replica = id.
/// </summary>
public sealed class ReplicaMetrics : IDisposable
{
    /// <summary>Meter name.</summary>
    public const string MeterName = "FastBft";
    private readonly Meter _meter;

    /// <summary>Registers the instruments for one replica.</summary>
    /// <param name="replicaId">the replica's id (tag "replica").</param>
    /// <param name="core">the protocol core whose public state and <see cref="ReplicaCounters"/> are read.</param>
    /// <param name="verifier">the authentication stage (drop counters by reason).</param>
    /// <param name="transport">the transport's counters.</param>
    /// <param name="isolation">the fault-injection drop switch, if the host has one.</param>
    public ReplicaMetrics(uint replicaId, IReplicaCore core, MessageVerifier verifier, TransportStats transport, IsolatingTransport? isolation = null)
    {
        _meter = new Meter(MeterName);
        var tag = new KeyValuePair<string, object?>("replica", replicaId);
        var protocolTag = new KeyValuePair<string, object?>("protocol", core.Shape.Name);
        var s = core.Counters;
        // Requests and batches.
        _meter.CreateObservableCounter("fastbft.requests.executed", () => new Measurement<long>(ReplicaCounters.Read(ref s.Executed), tag), "{request}", "client requests executed");
        _meter.CreateObservableCounter("fastbft.batches.executed", () => new Measurement<long>(ReplicaCounters.Read(ref s.ExecutedBatches), tag), "{batch}", "batches executed");
        _meter.CreateObservableCounter("fastbft.batches.proposed", () => new Measurement<long>(ReplicaCounters.Read(ref s.Batches), tag), "{batch}", "batches proposed as primary");
        _meter.CreateObservableCounter("fastbft.reply_cache.hits", () => new Measurement<long>(ReplicaCounters.Read(ref s.CachedReplies), tag), "{reply}", "retransmitted requests answered from the reply cache");
        _meter.CreateObservableCounter("fastbft.requests.old", () => new Measurement<long>(ReplicaCounters.Read(ref s.OldRequests), tag), "{request}", "requests older than the client's last executed one (ignored)");
        _meter.CreateObservableCounter("fastbft.requests.forwarded", () => new Measurement<long>(ReplicaCounters.Read(ref s.ForwardedRequests), tag), "{request}", "requests a backup relayed to the primary");
        _meter.CreateObservableCounter("fastbft.retransmissions", () => new Measurement<long>(ReplicaCounters.Read(ref s.Retransmissions), tag), "{slot}", "stalled slots re-sent");
        // Checkpoints and state transfer.
        _meter.CreateObservableCounter("fastbft.checkpoints.stable", () => new Measurement<long>(ReplicaCounters.Read(ref s.StableCheckpoints), tag), "{checkpoint}", "checkpoints that became stable");
        _meter.CreateObservableGauge("fastbft.checkpoint.lag", () => new Measurement<long>((long)(core.LastExecuted - core.LowWatermark), tag), "{sequence}", "sequence numbers executed above the stable checkpoint (garbage not yet collected)");
        _meter.CreateObservableGauge("fastbft.checkpoint.behind", () => new Measurement<long>(ReplicaCounters.Read(ref s.HighestCheckpointSeen) is var seen && seen > core.LastExecuted ? (long)(seen - core.LastExecuted) : 0, tag), "{sequence}", "how far the highest checkpoint a peer announced is ahead of this replica's last executed sequence number (0: not behind)");
        _meter.CreateObservableCounter("fastbft.state_transfers", () => new Measurement<long>(ReplicaCounters.Read(ref s.StateTransfers), tag), "{transfer}", "checkpoints fetched from peers and restored");
        _meter.CreateObservableCounter("fastbft.state_transfer.fetches", () => new Measurement<long>(ReplicaCounters.Read(ref s.FetchesSent), tag), "{message}", "FETCH messages sent");
        _meter.CreateObservableCounter("fastbft.state_transfer.bad", () => new Measurement<long>(ReplicaCounters.Read(ref s.BadStateTransfers), tag), "{transfer}", "assembled snapshots whose digest did not match (discarded)");
        // Views and protocol modes.
        _meter.CreateObservableGauge("fastbft.view", () => new Measurement<long>((long)core.View, tag), "{view}", "current view");
        _meter.CreateObservableCounter("fastbft.view_changes.started", () => new Measurement<long>(ReplicaCounters.Read(ref s.ViewChangesStarted), tag), "{view_change}", "view changes this replica started (it suspected the primary or joined f+1 others)");
        _meter.CreateObservableCounter("fastbft.view_changes", () => new Measurement<long>(ReplicaCounters.Read(ref s.NewViewsInstalled), tag), "{view_change}", "new views installed");
        _meter.CreateObservableCounter("fastbft.view_changes.bad_new_view", () => new Measurement<long>(ReplicaCounters.Read(ref s.BadNewViews), tag), "{message}", "NEW-VIEW messages rejected");
        _meter.CreateObservableGauge("fastbft.view_change.in_progress", () => new Measurement<int>(core.InViewChange ? 1 : 0, tag), "{bool}", "1 while the replica waits for a NEW-VIEW");
        _meter.CreateObservableCounter("fastbft.protocol.switches", () => new Measurement<long>(ReplicaCounters.Read(ref s.ProtocolSwitches), tag, protocolTag), "{switch}", "protocol switches (RePBFT → PBFT, ReMinBFT → MinBFT); PBFT never switches");
        // Authentication and parsing.
        var reasons = Enum.GetValues<ParseStatus>();
        var reasonTags = new KeyValuePair<string, object?>[reasons.Length];
        for (int i = 0; i < reasons.Length; i++) reasonTags[i] = new("reason", SnakeCase(reasons[i].ToString()));
        _meter.CreateObservableCounter("fastbft.messages.rejected", () =>
        {
            var list = new List<Measurement<long>>(reasons.Length);
            for (int i = 0; i < reasons.Length; i++)
            {
                int code = (int)reasons[i];
                if (reasons[i] == ParseStatus.Ok) continue;
                list.Add(new Measurement<long>(verifier.DroppedFor(reasons[i]), tag, reasonTags[i]));
            }
            return list;
        }, "{message}", "messages dropped by parsing or authentication, by reason (tag reason)");
        var macScheme = new KeyValuePair<string, object?>("scheme", "mac");
        var macReason = new KeyValuePair<string, object?>("reason", "bad_authenticator");
        _meter.CreateObservableCounter("fastbft.auth.failures", () => new Measurement<long>(verifier.DroppedFor(ParseStatus.BadAuthenticator), tag, macScheme, macReason), "{message}",
            "authentication failures by scheme (mac; usig and signature once MinBFT/signed messages exist) and reason");
        // Transport.
        _meter.CreateObservableCounter("fastbft.transport.bytes.sent", () => new Measurement<long>(transport.BytesSent, tag), "By", "payload bytes sent");
        _meter.CreateObservableCounter("fastbft.transport.datagrams.sent", () => new Measurement<long>(transport.DatagramsSent, tag), "{datagram}", "datagrams sent");
        _meter.CreateObservableCounter("fastbft.transport.datagrams.received", () => new Measurement<long>(transport.DatagramsReceived, tag), "{datagram}", "datagrams received");
        _meter.CreateObservableCounter("fastbft.transport.datagrams.dropped", () => new Measurement<long>(transport.MalformedDropped + transport.ReassemblyDropped, tag), "{datagram}", "malformed frames and abandoned reassemblies");
        var sendTag = new KeyValuePair<string, object?>("direction", "send");
        var receiveTag = new KeyValuePair<string, object?>("direction", "receive");
        _meter.CreateObservableCounter("fastbft.transport.errors", () => new[] { new Measurement<long>(transport.SendErrors, tag, sendTag), new Measurement<long>(transport.ReceiveErrors, tag, receiveTag) },
            "{error}", "socket errors by direction (tag direction = send | receive)");
        _meter.CreateObservableGauge("fastbft.sequence.executed", () => new Measurement<long>((long)core.LastExecuted, tag), "{sequence}", "last executed sequence number");
        if (isolation is not null)
        {
            _meter.CreateObservableGauge("fastbft.fault.isolated", () => new Measurement<int>(isolation.Isolated ? 1 : 0, tag), "{bool}", "1 while fault injection drops this replica's traffic");
            _meter.CreateObservableCounter("fastbft.fault.isolated.dropped", () => new Measurement<long>(isolation.DroppedSent + isolation.DroppedReceived, tag), "{message}", "messages dropped by fault injection (isolate)");
        }
    }

    /// <summary>"BadAuthenticator" → "bad_authenticator".</summary>
    internal static string SnakeCase(string name)
    {
        var sb = new System.Text.StringBuilder(name.Length + 4);
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsUpper(c)) { if (i > 0) sb.Append('_'); sb.Append(char.ToLowerInvariant(c)); }
            else sb.Append(c);
        }
        return sb.ToString();
    }

    /// <inheritdoc/>
    public void Dispose() => _meter.Dispose();
}
