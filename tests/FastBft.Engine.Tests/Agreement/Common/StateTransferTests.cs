using System.Buffers.Binary;
using FastBft.Execution;
using FastBft.Wire;
using FastBft.Workloads;

namespace FastBft.Engine.Tests.Agreement.Common;

/// <summary>The state-transfer component on its own: fetch target from f+1 announcements, chunked fetch, verification, bounds.</summary>
public class StateTransferTests
{
    private sealed class Wire : IStateTransferOutput
    {
        public readonly List<(uint To, ulong Seq, long Offset)> Fetches = new();
        public readonly List<(uint To, ulong Seq, byte[] Body)> Data = new();
        public void SendFetch(uint replica, ulong sequence, long offset) => Fetches.Add((replica, sequence, offset));
        public void SendStateData(uint replica, ulong sequence, int total, int offset, ReadOnlySpan<byte> chunk)
        {
            var body = new byte[8 + chunk.Length];
            BinaryPrimitives.WriteInt32LittleEndian(body, total);
            BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(4), offset);
            chunk.CopyTo(body.AsSpan(8));
            Data.Add((replica, sequence, body));
        }
    }

    private static SequentialExecutionStage Stage(uint self, CounterService service) => new(service, self, [0, 1, 2, 3], 4, 3);

    /// <summary>A source stage with a checkpoint at 4 whose snapshot spans several chunks.</summary>
    private static (SequentialExecutionStage Stage, byte[] Digest) Source()
    {
        var service = new CounterService();
        var stage = Stage(1, service);
        for (uint c = 0; c < 3000; c++) stage.Replies.Get(1000 + c).StoreFull(1, 4, new byte[8]);   // ~100 KiB of reply cache: several 16 KiB chunks
        var digest = new byte[32];
        stage.TakeCheckpoint(4, digest);
        return (stage, digest);
    }

    [Fact]
    public void FetchesOnlyAfterFPlusOneMatchingAnnouncementsAndInstallsTheVerifiedSnapshot()
    {
        var counters = new ReplicaCounters();
        var (source, digest) = Source();
        var serverWire = new Wire();
        var server = new StateTransfer(1, 4, 2, 1, 1 << 20, source, serverWire, new ReplicaCounters());
        var target = Stage(0, new CounterService());
        var wire = new Wire();
        var st = new StateTransfer(0, 4, weak: 2, retransmitTicks: 1, maxStateBytes: 1 << 20, target, wire, counters);

        st.NoteCheckpoint(1, 4, digest, lastExecuted: 0);
        Assert.False(st.Fetching);                        // one announcement may be a faulty replica's
        var other = (byte[])digest.Clone(); other[0] ^= 1;
        st.NoteCheckpoint(2, 4, other, 0);
        Assert.False(st.Fetching);                        // two different claims do not match
        st.NoteCheckpoint(3, 4, digest, 0);
        Assert.True(st.Fetching);
        Assert.Equal(4UL, st.Target);

        st.Tick(0); Assert.Empty(wire.Fetches);           // normal execution gets a chance first
        st.Tick(0); Assert.Single(wire.Fetches);
        bool done = false;
        for (int i = 0; i < 100 && !done; i++)
        {
            var (to, seq, offset) = wire.Fetches[^1];
            server.OnFetch(0, seq, offset);
            done = st.OnStateData(to, seq, serverWire.Data[^1].Body, 0);
        }
        Assert.True(done);
        Assert.True(wire.Fetches.Count > 5, "the checkpoint came in chunks and objects");
        Assert.Equal(1UL, target.Replies.LastExecutedRid(1000));
        var installed = new byte[32];
        Assert.True(target.TryGetCheckpoint(4, out var snap));
        Digests.Sha256(snap, installed);
        Assert.Equal(digest, installed);
    }

    [Fact]
    public void AWrongSnapshotIsDiscardedAndAHugeClaimedTotalAllocatesNothing()
    {
        var counters = new ReplicaCounters();
        var (_, digest) = Source();
        var target = Stage(0, new CounterService());
        var wire = new Wire();
        var st = new StateTransfer(0, 4, 2, 1, maxStateBytes: 1 << 20, target, wire, counters);
        st.NoteCheckpoint(1, 4, digest, 0); st.NoteCheckpoint(2, 4, digest, 0);
        st.Tick(0); st.Tick(0);
        uint asked = wire.Fetches[^1].To;

        var huge = new byte[9];
        BinaryPrimitives.WriteInt32LittleEndian(huge, int.MaxValue);     // 2 GiB claimed by a 9-byte body
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.False(st.OnStateData(asked, 4, huge, 0));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4096);
        Assert.Equal(1, counters.BadStateTransfers);

        var wrong = new byte[8 + 16];
        BinaryPrimitives.WriteInt32LittleEndian(wrong, 16);
        Assert.False(st.OnStateData(asked, 4, wrong, 0));                // complete but its digest does not match
        Assert.Equal(2, counters.BadStateTransfers);
        Assert.False(target.TryGetCheckpoint(4, out _));
    }

    [Fact]
    public void ATargetExecutionReachedIsNeverInstalled()
    {
        var counters = new ReplicaCounters();
        var (source, digest) = Source();
        var wire = new Wire();
        var st = new StateTransfer(0, 4, 2, 1, 1 << 20, Stage(0, new CounterService()), wire, counters);
        st.NoteCheckpoint(1, 4, digest, 0); st.NoteCheckpoint(2, 4, digest, 0);
        st.Tick(0); st.Tick(0);
        var serverWire = new Wire();
        new StateTransfer(1, 4, 2, 1, 1 << 20, source, serverWire, new ReplicaCounters()).OnFetch(0, 4, 0);
        Assert.False(st.OnStateData(wire.Fetches[^1].To, 4, serverWire.Data[^1].Body, lastExecuted: 4));   // L9
        Assert.Equal(1, counters.StateTransfersAbandoned);
        Assert.False(st.Fetching);
    }
}
