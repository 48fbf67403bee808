using FastBft.Auth;
using FastBft.Engine.Tests.Support;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.MinBft;

/// <summary>
/// Certified messages in counter order (Thesis §2.2.1, §5.4.1; PROTOCOLS.md §2.5): a gap waits and is filled by
/// retransmission, an equivocating leader is caught, replayed and forged UIs are dropped.
/// </summary>
public sealed class MinBftCounterOrderTests
{
    [Fact]
    public void APrepareAfterACounterGapWaitsAndIsHandledOnceRetransmissionFillsTheGap()
    {
        var cell = MinBftTestKit.Cell();
        bool droppedFirst = false, blockFetch = true;
        cell.Intercept = (from, to, msg) =>
        {
            if (from == 0 && to == 1 && LoopbackCell.Is(msg, MessageType.UiPrepare) && !droppedFirst) { droppedFirst = true; return true; }   // counter 1 lost
            return blockFetch && LoopbackCell.Is(msg, MessageType.UiFetch);
        };
        cell.Submit(0, cell.BuildRequest(1000, 1, 1)); cell.Run();
        cell.Submit(0, cell.BuildRequest(1001, 1, 2)); cell.Run();
        Assert.True(droppedFirst);
        var follower = cell.MinBft(1);
        Assert.True(follower.Stats.CounterGaps >= 1, "the PREPARE with counter 2 arrived after a gap");
        Assert.Equal(0UL, follower.LastPrepared);          // it waits: bound nothing although s = 2 committed elsewhere
        Assert.Equal(0UL, follower.LastExecuted);
        Assert.Equal(2UL, cell.Replicas[2].LastExecuted);
        blockFetch = false;
        cell.Tick(3);                                       // UI-FETCH to the leader; it re-sends counters 1.. from its sent log
        Assert.True(follower.Stats.UiFetchesSent >= 1);
        Assert.True(cell.MStats(0).UiFetchAnswers >= 1);
        Assert.Equal(2UL, follower.LastExecuted);
        cell.AssertAgreement(0, 1, 2);
    }

    /// <summary>
    /// A follower's COMMIT lost on its way to the other follower, and its sender never re-sends it (crashed, or faulty and
    /// withholding it): the receiver's counter order for that sender waited for good — before that sender's NEW-VIEW too,
    /// once it leads (sim: reminbft seed 975341032). The leader, which handled the COMMIT, relays it (UI-FETCH for another
    /// replica's messages); the receiver checks its UI like any certified message and its order moves on.
    /// </summary>
    [Fact]
    public void ACommitTheSenderWithholdsIsRelayedByAReplicaThatHandledIt()
    {
        var cell = MinBftTestKit.Cell();
        cell.Intercept = (from, to, msg) =>
        {
            if (from != 2 || to != 1) return false;
            if (LoopbackCell.Is(msg, MessageType.UiFetch)) return false;
            if (!LoopbackCell.Is(msg, MessageType.UiCommit)) return false;
            FastBft.Agreement.MinBft.CertifiedOutbox.ReadUi(msg, out _, out ulong counter);
            return counter == 1;                                          // replica 2 withholds its first COMMIT from replica 1, re-sends included
        };
        cell.Submit(0, cell.BuildRequest(1000, 1, 1)); cell.Run();
        cell.Submit(0, cell.BuildRequest(1001, 1, 2)); cell.Run();
        Assert.Equal(2UL, cell.Replicas[1].LastExecuted);                // leader's PREPARE + its own COMMIT: f+1, no need of replica 2
        Assert.True(cell.MStats(1).CounterGaps >= 1, "replica 2's COMMIT with counter 2 arrived after a gap");
        cell.Tick(4);
        Assert.True(cell.MStats(0).UiFetchRelays >= 1, "the leader relayed replica 2's COMMIT");
        var position = cell.MinBft(1).CounterPositions().Single(p => p.Sender == 2);
        Assert.Equal(3UL, position.Next);                                // counters 1 (relayed) and 2 handled
        cell.AssertAgreement(0, 1, 2);
    }

    [Fact]
    public void AnEquivocatingLeaderIsCaughtBecauseItsSecondPrepareCarriesTheNextCounter()
    {
        var cell = MinBftTestKit.Cell();
        cell.Crashed.Add(0);                                // the leader is Byzantine: the test speaks for it with its own USIG
        using var usig = cell.UsigFor(0);
        var a = MinBftTestKit.Prepare(usig, 0, 1, MinBftTestKit.Batch(cell.BuildRequest(1000, 1, 10)));
        var b = MinBftTestKit.Prepare(usig, 0, 1, MinBftTestKit.Batch(cell.BuildRequest(1001, 1, 20)));
        Assert.Equal(MinBftTestKit.CounterOf(a) + 1, MinBftTestKit.CounterOf(b));
        cell.Inject(0, 1, a); cell.Inject(0, 1, b);         // replica 1 sees A then B
        cell.Inject(0, 2, b); cell.Inject(0, 2, a);         // replica 2 sees B first: it waits for counter 1, then A, then B
        cell.Run();
        foreach (uint r in new uint[] { 1, 2 })
        {
            Assert.Equal(1, cell.MStats(r).Equivocations);
            Assert.Equal(1UL, cell.Replicas[r].LastExecuted);
            Assert.Equal(new ulong[] { 1 }, cell.ExecutedAt(r, 1000, 1));
            Assert.Empty(cell.ExecutedAt(r, 1001, 1));
        }
        Assert.True(cell.MStats(2).CounterGaps >= 1);
        cell.AssertAgreement(1, 2);
    }

    [Fact]
    public void APrepareThatSkipsSequenceNumbersBlocksTheLeadersQueueAndBindsNothing()
    {
        var cell = MinBftTestKit.Cell();
        cell.Crashed.Add(0);
        using var usig = cell.UsigFor(0);
        var skip = MinBftTestKit.Prepare(usig, 0, 3, MinBftTestKit.Batch(cell.BuildRequest(1000, 1, 10)));
        var first = MinBftTestKit.Prepare(usig, 0, 1, MinBftTestKit.Batch(cell.BuildRequest(1001, 1, 20)));
        cell.InjectAll(0, skip); cell.InjectAll(0, first);
        cell.Run(); cell.Tick(3);
        foreach (uint r in new uint[] { 1, 2 })
        {
            Assert.Equal(0UL, cell.MinBft(r).LastPrepared);
            Assert.Equal(0UL, cell.Replicas[r].LastExecuted);
            Assert.True(cell.MStats(r).Parked >= 1);
        }
    }

    [Fact]
    public void AReplayedUiIsDroppedAndNothingIsExecutedTwice()
    {
        var cell = MinBftTestKit.Cell();
        var captured = new List<(uint From, uint To, byte[] Msg)>();
        cell.Observe = (from, to, msg) => { if (from < cell.N && to < cell.N && (LoopbackCell.Is(msg, MessageType.UiPrepare) || LoopbackCell.Is(msg, MessageType.UiCommit))) captured.Add((from, to, msg)); };
        cell.Submit(0, cell.BuildRequest(1000, 1, 3)); cell.Run();
        cell.Observe = null;
        Assert.Contains(captured, c => LoopbackCell.Is(c.Msg, MessageType.UiPrepare));
        Assert.Contains(captured, c => LoopbackCell.Is(c.Msg, MessageType.UiCommit));
        foreach (var (from, to, msg) in captured) cell.Inject(from, to, msg);
        cell.Run();
        Assert.All(cell.Services, s => Assert.Equal(1, s.Executed));
        Assert.True(cell.MStats(1).ReplayedUis >= 1);
        Assert.True(cell.MStats(2).ReplayedUis >= 1);
    }

    [Fact]
    public void AForgedOrAlteredUiFailsVerification()
    {
        var cell = MinBftTestKit.Cell();
        byte[]? prepare = null, commit = null;
        cell.Observe = (from, to, msg) =>
        {
            if (to == 2 && from == 0 && LoopbackCell.Is(msg, MessageType.UiPrepare)) prepare ??= msg;
            if (to == 2 && from == 1 && LoopbackCell.Is(msg, MessageType.UiCommit)) commit ??= msg;
        };
        cell.Submit(0, cell.BuildRequest(1000, 1, 3)); cell.Run();
        Assert.NotNull(prepare); Assert.NotNull(commit);
        var v = cell.Verifiers[2];
        Assert.Equal(ParseStatus.Ok, v.Verify(prepare, out _));
        var badProof = (byte[])prepare.Clone(); badProof[^1] ^= 1;
        Assert.Equal(ParseStatus.BadAuthenticator, v.Verify(badProof, out _));
        var badCounter = (byte[])commit.Clone(); badCounter[^40] ^= 1;              // counter field of the UI
        Assert.Equal(ParseStatus.BadAuthenticator, v.Verify(badCounter, out _));
        var badBody = (byte[])commit.Clone(); badBody[MessageHeader.Size] ^= 1;      // D(batch) changed under the UI
        Assert.Equal(ParseStatus.BadAuthenticator, v.Verify(badBody, out _));
        // Replica 1's USIG certifying a message in replica 0's name (the proof binds the instance id = sender).
        using var usig1 = cell.UsigFor(1, lastCounter: 100);
        var impersonated = MinBftTestKit.Certified(usig1, MessageType.UiCommit, 0, 1, commit.AsSpan(MessageHeader.Size, MinBftBodies_CommitLength).ToArray());
        impersonated[4] = 0;                                                           // header sender := 0 (bytes 4..7)
        Assert.NotEqual(ParseStatus.Ok, v.Verify(impersonated, out _));
        // A PREPARE from a replica that does not lead the view.
        var notLeader = MinBftTestKit.Prepare(usig1, 0, 2, MinBftTestKit.Batch(cell.BuildRequest(1001, 1, 4)));
        Assert.Equal(ParseStatus.BadSender, v.Verify(notLeader, out _));
        Assert.All(cell.Services, s => Assert.Equal(1, s.Executed));
    }

    private const int MinBftBodies_CommitLength = FastBft.Agreement.MinBft.MinBftBodies.CommitLength;
}
