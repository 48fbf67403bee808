using Microsoft.Extensions.Logging;

namespace FastBft.Replica;

/// <summary>
/// Event ids of FastBft's structured logs (docs/observability.md lists them). Ranges: 1000 lifecycle,
/// 1100 view changes, 1200 state transfer, 1300 faults detected or injected, 1900 configuration and
/// failures. Ids are stable: log pipelines may filter on them.
/// </summary>
public static class ReplicaEvents
{
    /// <summary>Replica event loop started.</summary>
    public const int Started = 1000;
    /// <summary>Replica event loop stopped.</summary>
    public const int Stopped = 1001;
    /// <summary>The replica left its view to change view (it suspects the primary).</summary>
    public const int ViewChangeStarted = 1100;
    /// <summary>The replica entered a new view (NEW-VIEW accepted or sent).</summary>
    public const int NewView = 1101;
    /// <summary>The replica fetched a checkpoint from its peers and restored it.</summary>
    public const int StateTransferred = 1200;
    /// <summary>Messages failed authentication (MAC entry did not verify) since the last report.</summary>
    public const int AuthenticationFailures = 1300;
    /// <summary>Harness fault injection: the replica's traffic is dropped (isolate) or restored.</summary>
    public const int IsolationChanged = 1301;
    /// <summary>The harness injected a fault into a replica process (kill, pause, restart, isolate).</summary>
    public const int FaultInjected = 1302;
    /// <summary>A configuration was rejected at start.</summary>
    public const int BadConfiguration = 1900;
    /// <summary>The replica failed (service or transport exception) and exits.</summary>
    public const int Failed = 1901;
}

/// <summary>Source-generated log messages of the replica host (no allocation when the level is disabled).</summary>
public static partial class ReplicaLog
{
    /// <summary>Replica started.</summary>
    [LoggerMessage(EventId = ReplicaEvents.Started, Level = LogLevel.Information, Message = "replica {ReplicaId} running (n={N}, f={F}, view {View}, primary {Primary})")]
    public static partial void Started(ILogger logger, uint replicaId, int n, int f, ulong view, uint primary);

    /// <summary>Replica stopped.</summary>
    [LoggerMessage(EventId = ReplicaEvents.Stopped, Level = LogLevel.Information, Message = "replica {ReplicaId} stopped at sequence {LastExecuted} in view {View}")]
    public static partial void Stopped(ILogger logger, uint replicaId, ulong lastExecuted, ulong view);

    /// <summary>View change started.</summary>
    [LoggerMessage(EventId = ReplicaEvents.ViewChangeStarted, Level = LogLevel.Warning, Message = "replica {ReplicaId} changes view: left view {FromView} (primary {Primary}) at sequence {LastExecuted}")]
    public static partial void ViewChangeStarted(ILogger logger, uint replicaId, ulong fromView, uint primary, ulong lastExecuted);

    /// <summary>New view entered.</summary>
    [LoggerMessage(EventId = ReplicaEvents.NewView, Level = LogLevel.Warning, Message = "replica {ReplicaId} in view {View} (primary {Primary}) after {ElapsedMs} ms, sequence {LastExecuted}")]
    public static partial void NewView(ILogger logger, uint replicaId, ulong view, uint primary, long elapsedMs, ulong lastExecuted);

    /// <summary>State transfer completed.</summary>
    [LoggerMessage(EventId = ReplicaEvents.StateTransferred, Level = LogLevel.Warning, Message = "replica {ReplicaId} caught up by state transfer to checkpoint {Checkpoint} (transfer #{Count})")]
    public static partial void StateTransferred(ILogger logger, uint replicaId, ulong checkpoint, long count);

    /// <summary>Authentication failures observed.</summary>
    [LoggerMessage(EventId = ReplicaEvents.AuthenticationFailures, Level = LogLevel.Warning, Message = "replica {ReplicaId} rejected {Count} messages with a bad authenticator (total {Total})")]
    public static partial void AuthenticationFailures(ILogger logger, uint replicaId, long count, long total);

    /// <summary>Isolation switch flipped.</summary>
    [LoggerMessage(EventId = ReplicaEvents.IsolationChanged, Level = LogLevel.Warning, Message = "replica {ReplicaId} isolation {Isolated} (fault injection)")]
    public static partial void IsolationChanged(ILogger logger, uint replicaId, bool isolated);

    /// <summary>Fault injected by the harness.</summary>
    [LoggerMessage(EventId = ReplicaEvents.FaultInjected, Level = LogLevel.Warning, Message = "fault {Kind} injected into replica {ReplicaId} at {AtSeconds} s")]
    public static partial void FaultInjected(ILogger logger, string kind, uint replicaId, double atSeconds);

    /// <summary>Configuration rejected.</summary>
    [LoggerMessage(EventId = ReplicaEvents.BadConfiguration, Level = LogLevel.Error, Message = "bad configuration: {Reason}")]
    public static partial void BadConfiguration(ILogger logger, string reason);

    /// <summary>Replica failed.</summary>
    [LoggerMessage(EventId = ReplicaEvents.Failed, Level = LogLevel.Critical, Message = "replica {ReplicaId} failed")]
    public static partial void Failed(ILogger logger, Exception exception, uint replicaId);
}
