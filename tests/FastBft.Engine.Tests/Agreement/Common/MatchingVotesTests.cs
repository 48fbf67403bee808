namespace FastBft.Engine.Tests.Agreement.Common;

public class MatchingVotesTests
{
    private static byte[] D(byte b) { var d = new byte[32]; d[0] = b; return d; }

    [Fact]
    public void CountsDistinctSendersPerDigest()
    {
        var v = new MatchingVotes(4);
        Assert.True(v.Record(0, D(1)));
        Assert.True(v.Record(1, D(1)));
        Assert.True(v.Record(2, D(2)));
        Assert.Equal(2, v.CountMatching(D(1)));
        Assert.Equal(1, v.CountMatching(D(2)));
        Assert.Equal(0, v.CountMatching(D(3)));
        Assert.Equal(3, v.Count);
    }

    [Fact]
    public void ASendersSecondVoteIsADuplicateAndDoesNotCount()
    {
        var v = new MatchingVotes(4);
        Assert.True(v.Record(3, D(1)));
        Assert.False(v.Record(3, D(1)));       // a retransmission
        Assert.False(v.Record(3, D(2)));       // an equivocation: the first vote stands
        Assert.Equal(1, v.CountMatching(D(1)));
        Assert.Equal(0, v.CountMatching(D(2)));
    }

    [Fact]
    public void ReplaceKeepsOnlyTheLatestVoteOfASender()
    {
        var v = new MatchingVotes(4);
        v.Replace(1, D(1));
        v.Replace(1, D(2));
        Assert.Equal(0, v.CountMatching(D(1)));
        Assert.Equal(1, v.CountMatching(D(2)));
    }

    [Fact]
    public void SendersOutOfRangeAreIgnoredAndQuorumIsFound()
    {
        var v = new MatchingVotes(4);
        Assert.False(v.Record(4, D(1)));
        Assert.False(v.Record(uint.MaxValue, D(1)));
        v.Record(0, D(7)); v.Record(2, D(7)); v.Record(3, D(8));
        Assert.True(v.TryFindQuorum(2, out uint w));
        Assert.Equal(D(7), v.VoteOf(w).ToArray());
        Assert.False(v.TryFindQuorum(3, out _));
        v.Clear();
        Assert.Equal(0, v.Count);
        Assert.Throws<ArgumentOutOfRangeException>(() => new MatchingVotes(65));
    }
}
