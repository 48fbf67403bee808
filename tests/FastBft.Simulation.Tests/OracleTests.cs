using System.Buffers;
using FastBft.Auth;
using FastBft.Agreement;
using FastBft.Service;
using FastBft.Simulation;
using FastBft.Wire;
using FastBft.Workloads;

namespace FastBft.Simulation.Tests;

/// <summary>
/// Every oracle fires on a planted bug and stays quiet on correct runs (issue 8, "Oracles"). Bugs are
/// planted from outside the core: a wrapping <see cref="ISimProtocol"/> changes what one replica's core
/// does or reports (its service calls, its output, its exceptions, its memory), or the test-only
/// COMMIT-quorum knob of the core.
/// </summary>
public class OracleTests(ITestOutputHelper output)
{
    private static readonly Scenario Clean = new("pbft", 1, FaultyRole.None, Behaviour.None, FaultTiming.Early, NetworkCondition.Clean, 7);

    private static SimulationResult Run(Scenario s, ISimProtocol p, bool checkRetained = false)
        => new Simulator(s, p, () => new CounterService()) { CheckRetained = checkRetained }.Run();

    private void Fires(string invariant, Planted bug, Scenario? s = null, bool checkRetained = false)
    {
        var scenario = s ?? Clean;
        var quiet = Run(scenario, new PlantedProtocol(Planted.None), checkRetained);
        Assert.True(quiet.Passed, "correct run must pass: " + quiet);
        var r = Run(scenario, new PlantedProtocol(bug), checkRetained);
        output.WriteLine(r.ToString());
        Assert.Equal(invariant, r.Invariant);
    }

    [Fact] public void ReExecutionFiresOnADoubleExecutionAndIsNotReportedAsAgreement() => Fires("re-execution", Planted.DoubleExecute);
    [Fact] public void RollbackFiresWhenLastExecutedGoesBack() => Fires("rollback", Planted.Rollback);
    [Fact] public void ConvergenceFiresOnADivergentStateDigest() => Fires("convergence", Planted.CorruptDigest);
    [Fact] public void ValidityFiresWhenEveryReplicaReturnsAWrongResult() => Fires("validity", Planted.WrongResult);
    [Fact] public void LivenessFiresWhenCommitsAreNeverSent() => Fires("liveness", Planted.DropCommits);
    [Fact] public void ExceptionFiresWhenACoreThrows() => Fires("exception", Planted.Throw);
    [Fact] public void ResourceFiresOnAHugeAllocationInOneCall() => Fires("resource", Planted.Allocate);
    [Fact] public void ResourceFiresOnRetainedMemory() => Fires("resource", Planted.Retain, checkRetained: true);
    [Fact] public void MessageSizeFiresOnAnOversizedMessage() => Fires("message-size", Planted.OversizedMessage);

    [Fact]
    public void CommitCertificateFiresOnTheCommitQuorumBugAndAgreementWithoutIt()
    {
        var s = new Scenario("pbft", 1, FaultyRole.Follower, Behaviour.EagerCommit, FaultTiming.Early, NetworkCondition.Clean, 0);
        var results = Enumerable.Range(1, 40).Select(i => SimulationTests.Run(s with { Seed = (ulong)i, CommitQuorum = 2 })).ToList();
        Assert.Contains(results, r => r.Invariant == "commit-certificate");
        Assert.All(Enumerable.Range(1, 10), i => Assert.True(SimulationTests.Run(s with { Seed = (ulong)i }).Passed));
    }

    /// <summary>
    /// Quiet after view changes: slots prepared in one view and re-proposed (same digest, or a null request)
    /// in a later one, and ranges installed by state transfer, must not raise the commit-certificate oracle
    /// (the old oracle asked the core's current log only and cried wolf here).
    /// </summary>
    [Fact]
    public void CommitCertificateIsQuietAcrossViewChangesAndStateTransfer()
    {
        int viewChanges = 0;
        foreach (var b in new[] { Behaviour.Crash, Behaviour.Mute, Behaviour.Equivocate })
        foreach (var t in new[] { FaultTiming.MidBatch, FaultTiming.CheckpointBoundary })
        foreach (var net in new[] { NetworkCondition.Lossy, NetworkCondition.PartitionHeal, NetworkCondition.IsolateOne })
        for (ulong seed = 1; seed <= 3; seed++)
        {
            var r = SimulationTests.Run(new Scenario("pbft", 1, FaultyRole.Leader, b, t, net, seed));
            if (r.MaxView > 0) viewChanges++;
            Assert.True(r.Invariant != "commit-certificate", r.ToString());
        }
        Assert.True(viewChanges > 10, $"only {viewChanges} runs changed view");
    }

    /// <summary>What a <see cref="PlantedProtocol"/> breaks (always at replica 1).</summary>
    public enum Planted { None, DoubleExecute, Rollback, CorruptDigest, WrongResult, DropCommits, Throw, Allocate, Retain, OversizedMessage }

    /// <summary>The PBFT core with one planted bug.</summary>
    private sealed class PlantedProtocol(Planted bug) : ISimProtocol
    {
        public string Name => "pbft";
        public IProtocolDefinition Definition { get; } = new PlantedDefinition(bug);
    }

    /// <summary>PBFT's definition with the planted bug wrapped around the service, the output or the core of replica 1.</summary>
    private sealed class PlantedDefinition(Planted bug) : IProtocolDefinition
    {
        private readonly IProtocolDefinition _inner = Protocols.Get(ProtocolKind.Pbft);
        public ProtocolKind Kind => _inner.Kind;
        public FastBft.Verification.IMessageSchema Schema => _inner.Schema;
        public bool ReplacesFaultyLeader => true;
        public CellShape Shape(int f) => _inner.Shape(f);
        public QuorumPolicy Quorums(int f) => _inner.Quorums(f);

        public FastBft.Execution.IExecutionStage CreateExecution(ReplicaParameters p, uint self, IReplicatedService service)
        {
            if (bug == Planted.WrongResult) service = new WrongResultService(service);
            if (self == 1 && bug is Planted.DoubleExecute or Planted.CorruptDigest) service = new FaultyService(service, bug);
            return _inner.CreateExecution(p, self, service);
        }

        public IReplicaCore CreateReplica(ReplicaParameters p, Authenticator auth, FastBft.Execution.IExecutionStage execution, IReplicaOutput output, QuorumPolicy? quorums = null, FastBft.Auth.UsigCertificateScheme? usig = null)
        {
            if (bug == Planted.DropCommits) output = new DropCommitsOutput(output);
            var core = _inner.CreateReplica(p, auth, execution, output, quorums, usig);
            return auth.SelfId == 1 && bug is Planted.Rollback or Planted.Throw or Planted.Allocate or Planted.Retain or Planted.OversizedMessage
                ? new FaultyCore(core, bug, output) : core;
        }
    }

    private sealed class WrongResultService(IReplicatedService inner) : IReplicatedService
    {
        public void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update)
        {
            var w = new ArrayBufferWriter<byte>();
            inner.Execute(request, operation, w, update);
            var r = w.WrittenSpan.ToArray();
            if (r.Length > 0) r[0] ^= 0x77;
            reply.Write(r);
        }
        public void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update) => inner.ApplyUpdate(request, update);
        public void GetStateDigest(Span<byte> digest32) => inner.GetStateDigest(digest32);
        public void WriteSnapshot(Stream destination) => inner.WriteSnapshot(destination);
        public void RestoreSnapshot(Stream source) => inner.RestoreSnapshot(source);
    }

    private sealed class FaultyService(IReplicatedService inner, Planted bug) : IReplicatedService
    {
        private int _executed;
        public void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update)
        {
            inner.Execute(request, operation, reply, update);
            if (bug == Planted.DoubleExecute && ++_executed == 3) inner.Execute(request, operation, new ArrayBufferWriter<byte>(), null);
        }
        public void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update) => inner.ApplyUpdate(request, update);
        public void GetStateDigest(Span<byte> digest32) { inner.GetStateDigest(digest32); if (bug == Planted.CorruptDigest) digest32[0] ^= 1; }
        public void WriteSnapshot(Stream destination) => inner.WriteSnapshot(destination);
        public void RestoreSnapshot(Stream source) => inner.RestoreSnapshot(source);
    }

    private sealed class DropCommitsOutput(IReplicaOutput inner) : IReplicaOutput
    {
        public void SendToReplica(uint replica, ReadOnlySpan<byte> message) { if ((MessageType)message[3] != MessageType.Commit) inner.SendToReplica(replica, message); }
        public void SendToClient(uint client, ReadOnlySpan<byte> message) => inner.SendToClient(client, message);
    }

    private sealed class FaultyCore(IReplicaCore inner, Planted bug, IReplicaOutput output) : IReplicaCore
    {
        private int _ticks, _dropAt;
        private byte[]? _retained;
        public uint Id => inner.Id;
        public ulong View => inner.View;
        public CellShape Shape => inner.Shape;
        public uint Leader => inner.Leader;
        public ulong Generation => inner.Generation;
        public bool InViewChange => inner.InViewChange;
        public ReplicaCounters Counters => inner.Counters;
        public FastBft.Execution.IExecutionStage Execution => inner.Execution;
        public string DescribeState() => inner.DescribeState();
        public ulong LastExecuted => bug == Planted.Rollback && _dropAt > 0 && _ticks >= _dropAt && _ticks <= _dropAt + 1 ? inner.LastExecuted - 2 : inner.LastExecuted;
        public ulong LowWatermark => inner.LowWatermark;
        public void OnMessage(in FastBft.Verification.VerifiedMessage m)
        {
            if (bug == Planted.Allocate && _ticks == 10) GC.KeepAlive(new byte[32 << 20]);
            inner.OnMessage(m);
        }
        public void OnTick()
        {
            _ticks++;
            if (bug == Planted.Rollback && _dropAt == 0 && inner.LastExecuted >= 3) _dropAt = _ticks + 1;
            if (bug == Planted.Throw && _ticks == 8) throw new InvalidOperationException("planted");
            if (bug == Planted.Retain && _ticks == 3) _retained = new byte[16 << 20];
            if (bug == Planted.OversizedMessage && _ticks == 3) output.SendToReplica(0, new byte[(2 << 20) + 64]);
            inner.OnTick();
        }
        public void EndOfBurst() => inner.EndOfBurst();
        public void GetStateDigest(Span<byte> digest32) => inner.GetStateDigest(digest32);
        public bool TryGetLoggedDigest(ulong seq, Span<byte> digest32) => inner.TryGetLoggedDigest(seq, digest32);
        public bool IsPreparedOrDone(ulong seq, ReadOnlySpan<byte> digest32) => inner.IsPreparedOrDone(seq, digest32);
        public override string ToString() => $"{inner} (retains {_retained?.Length ?? 0})";
    }
}
