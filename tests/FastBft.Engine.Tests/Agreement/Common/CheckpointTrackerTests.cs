namespace FastBft.Engine.Tests.Agreement.Common;

public class CheckpointTrackerTests
{
    private static byte[] D(byte b) { var d = new byte[32]; d[0] = b; return d; }

    [Fact]
    public void StableOnlyWithAQuorumMatchingTheOwnCheckpoint()
    {
        var t = new CheckpointTracker(n: 4, capacity: 3, checkpointInterval: 4);
        t.Record(4, 1, D(1));
        t.Record(4, 2, D(1));
        Assert.Equal(-1, t.CountMatchingOwn(4));          // own checkpoint not taken yet: never stable
        t.RecordOwn(4, D(1), self: 0);
        Assert.Equal(3, t.CountMatchingOwn(4));
        t.MakeStable(4);
        Assert.Equal(D(1), t.StableDigest.ToArray());
    }

    [Fact]
    public void DivergingQuorumIsDetectedAndDoesNotCountForOwn()
    {
        var t = new CheckpointTracker(4, 3, 4);
        t.RecordOwn(8, D(9), 0);
        t.Record(8, 1, D(1)); t.Record(8, 2, D(1)); t.Record(8, 3, D(1));
        Assert.Equal(1, t.CountMatchingOwn(8));
        Assert.True(t.HasConflictingQuorum(8, 3));
        Assert.False(t.HasConflictingQuorum(8, 4));
    }

    [Fact]
    public void ASenderVotesOncePerCheckpointAndOwnReplacesOwn()
    {
        var t = new CheckpointTracker(4, 3, 4);
        t.Record(4, 1, D(1));
        t.Record(4, 1, D(2));                              // a faulty replica's second CHECKPOINT for 4 is ignored
        t.RecordOwn(4, D(2), 0);
        Assert.Equal(1, t.CountMatchingOwn(4));
        Assert.True(t.OwnUnstable(0, out ulong seq, out var digest));
        Assert.Equal(4UL, seq);
        Assert.Equal(D(2), digest.ToArray());
        Assert.False(t.OwnUnstable(4, out _, out _));
    }

    [Fact]
    public void EntriesAreReusedRoundRobinWithoutLeakingVotes()
    {
        var t = new CheckpointTracker(4, 2, 4);
        t.Record(4, 1, D(1)); t.Record(4, 2, D(1));
        t.RecordOwn(12, D(1), 0);                          // 12/4 = 3 ≡ 4/4 = 1 (mod 2): reuses 4's entry
        Assert.Equal(1, t.CountMatchingOwn(12));
        Assert.Equal(-1, t.CountMatchingOwn(4));
    }
}
