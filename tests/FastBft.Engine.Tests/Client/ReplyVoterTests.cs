using FastBft.Client;
using FastBft.Engine.Tests.Support;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Client;

/// <summary>The client's reply voting (Thesis §2.1.1.4): f+1 matching replies, one of them the full result.</summary>
public class ReplyVoterTests
{
    private static readonly byte[] Result = [1, 2, 3, 4, 5];

    private static bool Feed(ReplyVoter v, MessageFactory f, uint replica, bool full, byte[] result)
    {
        var m = f.Reply(replica, 1000, 0, 7, full, result);
        MessageHeader.TryParse(m, int.MaxValue, out var h);
        return v.OnReply(h, m);
    }

    [Fact]
    public void MatchingDigestsWithoutTheFullResultAreReportedSoTheClientRetransmitsAtOnce()
    {
        var f = new MessageFactory();
        var v = new ReplyVoter(4, 1);
        v.Start(7);
        Assert.False(Feed(v, f, 1, full: false, Result));
        Assert.False(v.MatchingDigestsWithoutFullResult());                  // one digest: not yet f+1
        Assert.False(Feed(v, f, 2, full: false, [9, 9]));
        Assert.False(v.MatchingDigestsWithoutFullResult());                  // two digests, but they differ
        Assert.False(Feed(v, f, 3, full: false, Result));
        Assert.True(v.MatchingDigestsWithoutFullResult());                   // f+1 = 2 match, the full replier (0) is silent
        Assert.True(Feed(v, f, 0, full: true, Result));                      // the full result (e.g. after the retransmission) completes it
        Assert.Equal(Result, v.Result.ToArray());
        Assert.False(v.MatchingDigestsWithoutFullResult());                  // nothing outstanding any more
    }

    [Fact]
    public void AFullResultThatFewerThanFPlusOneMatchIsNotAccepted()
    {
        var f = new MessageFactory();
        var v = new ReplyVoter(4, 1);
        v.Start(7);
        Assert.False(Feed(v, f, 0, full: true, [6, 6, 6]));                 // a faulty full replier
        Assert.False(Feed(v, f, 1, full: false, Result));
        Assert.False(v.MatchingDigestsWithoutFullResult());
        Assert.False(Feed(v, f, 2, full: false, Result));
        Assert.True(v.MatchingDigestsWithoutFullResult());
        Assert.True(Feed(v, f, 3, full: true, Result));
        Assert.Equal(Result, v.Result.ToArray());
    }
}
