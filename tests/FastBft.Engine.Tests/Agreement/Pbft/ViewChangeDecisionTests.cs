using FastBft.Agreement.Pbft;

namespace FastBft.Engine.Tests.Agreement.Pbft;

/// <summary>The NEW-VIEW decision procedure (PBFT-PR §4.5, Fig. 3) as pure functions: checkpoint selection, A1, A2, B, candidates, Supports.</summary>
public class ViewChangeDecisionTests
{
    private const int F = 1;
    private static byte[] D(byte b) { var d = new byte[32]; d[0] = b; return d; }
    private static readonly byte[] X = D(1), Y = D(2), Z = D(3);

    private static ViewChangeBody Vc(uint sender, ulong h, (ulong, byte[])[] c, (ulong, ulong, byte[])[]? p = null, (ulong, ulong, byte[])[]? q = null, ulong view = 5)
    {
        var vc = new ViewChangeBody { Sender = sender, View = view, H = h };
        vc.C.AddRange(c);
        if (p is not null) vc.P.AddRange(p);
        if (q is not null) vc.Q.AddRange(q);
        return vc;
    }

    [Fact]
    public void Checkpoint_IsTheHighestWith2f1LowEnoughAndFPlus1Vouching()
    {
        var s = new List<ViewChangeBody>
        {
            Vc(0, 4, [(4, X), (8, Y)]),
            Vc(1, 4, [(4, X), (8, Y)]),
            Vc(2, 4, [(4, X)]),
        };
        Assert.True(ViewChangeDecision.TrySelectCheckpoint(s, F, out var h, out var d));
        Assert.Equal(8UL, h);
        Assert.Equal(Y, d);
    }

    [Fact]
    public void Checkpoint_VouchedByOnlyFIsNotChosen()
    {
        var s = new List<ViewChangeBody> { Vc(0, 4, [(4, X), (8, Y)]), Vc(1, 4, [(4, X)]), Vc(2, 4, [(4, X)]) };
        Assert.True(ViewChangeDecision.TrySelectCheckpoint(s, F, out var h, out var d));
        Assert.Equal(4UL, h);
        Assert.Equal(X, d);
    }

    [Fact]
    public void Checkpoint_NeedsTwoFPlusOneMessagesWhoseStableCheckpointIsAtOrBelowIt()
    {
        // 12 is vouched for by one only; 8 and 4 have too few messages with h ≤ n.
        var s = new List<ViewChangeBody> { Vc(0, 12, [(12, Z)]), Vc(1, 8, [(8, Y)]), Vc(2, 4, [(4, X)]) };
        Assert.False(ViewChangeDecision.TrySelectCheckpoint(s, F, out _, out _));
        // Two vouch for 8 (one with h = 8, one with a later checkpoint 8 above its h = 4), and all three have h ≤ 8.
        s = [Vc(0, 12, [(12, Z)]), Vc(1, 8, [(8, Y)]), Vc(2, 4, [(4, X), (8, Y)])];
        Assert.False(ViewChangeDecision.TrySelectCheckpoint(s, F, out _, out _));   // h ≤ 8 only for 1 and 2
        s.Add(Vc(3, 8, [(8, Y)]));
        Assert.True(ViewChangeDecision.TrySelectCheckpoint(s, F, out var h, out var d));
        Assert.Equal(8UL, h);
        Assert.Equal(Y, d);
    }

    [Fact]
    public void Checkpoint_TieAtOneSequenceNumberBreaksTowardsTheSmallestDigest()
    {
        var s = new List<ViewChangeBody> { Vc(0, 4, [(4, Y)]), Vc(1, 4, [(4, Y)]), Vc(2, 4, [(4, X)]), Vc(3, 4, [(4, X)]) };
        Assert.True(ViewChangeDecision.TrySelectCheckpoint(s, F, out _, out var d));
        Assert.Equal(X, d);
        s.Reverse();
        Assert.True(ViewChangeDecision.TrySelectCheckpoint(s, F, out _, out d));
        Assert.Equal(X, d);
    }

    [Fact]
    public void Top_IsTheHighestPEntryInsideTheWindow()
    {
        var s = new List<ViewChangeBody> { Vc(0, 0, [(0, X)], p: [(3, 1, X), (20, 1, Y)]), Vc(1, 0, [(0, X)], p: [(5, 0, Z)]), Vc(2, 0, [(0, X)]) };
        Assert.Equal(5UL, ViewChangeDecision.Top(s, 0, 8));
        Assert.Equal(20UL, ViewChangeDecision.Top(s, 0, 32));
        Assert.Equal(4UL, ViewChangeDecision.Top([Vc(0, 4, [(4, X)])], 4, 8));
    }

    [Fact]
    public void A1_NoNewerPreparedCertificateIn2f1Messages()
    {
        var s = new List<ViewChangeBody>
        {
            Vc(0, 0, [(0, X)], p: [(1, 2, X)]),
            Vc(1, 0, [(0, X)], p: [(1, 1, Y)]),
            Vc(2, 0, [(0, X)]),
        };
        Assert.True(ViewChangeDecision.A1(s, F, 1, 2, X));
        Assert.False(ViewChangeDecision.A1(s, F, 1, 1, Y));          // message 0 has a newer one
        // Same view, other digest: not counted.
        s[1] = Vc(1, 0, [(0, X)], p: [(1, 2, Y)]);
        Assert.False(ViewChangeDecision.A1(s, F, 1, 2, X));
        // A message whose stable checkpoint is at or above n does not count.
        s = [Vc(0, 0, [(0, X)], p: [(1, 2, X)]), Vc(1, 1, [(1, X)]), Vc(2, 0, [(0, X)])];
        Assert.False(ViewChangeDecision.A1(s, F, 1, 2, X));
    }

    [Fact]
    public void A2_FPlus1PrePreparedAtThatViewOrLater()
    {
        var s = new List<ViewChangeBody>
        {
            Vc(0, 0, [(0, X)], p: [(1, 1, X)], q: [(1, 1, X)]),
            Vc(1, 0, [(0, X)], q: [(1, 2, X)]),
            Vc(2, 0, [(0, X)], q: [(1, 0, X)]),
        };
        Assert.True(ViewChangeDecision.A2(s, F, 1, 1, X));
        Assert.False(ViewChangeDecision.A2(s, F, 1, 2, X));           // only one at view ≥ 2
        Assert.False(ViewChangeDecision.A2(s, F, 1, 1, Y));
    }

    [Fact]
    public void B_TwoFPlusOneMessagesWithoutAPreparedCertificate()
    {
        var s = new List<ViewChangeBody> { Vc(0, 0, [(0, X)], p: [(1, 0, X)]), Vc(1, 0, [(0, X)]), Vc(2, 0, [(0, X)]) };
        Assert.False(ViewChangeDecision.B(s, F, 1));
        Assert.True(ViewChangeDecision.B(s, F, 2));
        s.Add(Vc(3, 0, [(0, X)]));
        Assert.True(ViewChangeDecision.B(s, F, 1));
        Assert.False(ViewChangeDecision.B([Vc(0, 4, [(4, X)]), Vc(1, 4, [(4, X)]), Vc(2, 0, [(0, X)])], F, 3));   // h ≥ n does not count
    }

    [Fact]
    public void Candidates_SatisfyA1AndA2_HighestViewFirst()
    {
        var s = new List<ViewChangeBody>
        {
            Vc(0, 0, [(0, X)], p: [(1, 2, Y)], q: [(1, 2, Y)]),
            Vc(1, 0, [(0, X)], p: [(1, 1, X)], q: [(1, 2, Y)]),
            Vc(2, 0, [(0, X)], q: [(1, 1, X)]),
            Vc(3, 0, [(0, X)], q: [(1, 1, X)]),
        };
        // Both satisfy A1 (three messages have nothing newer than view 1) and A2; the newer view comes first.
        Assert.Equal([Y, X], ViewChangeDecision.Candidates(s, F, 1));
        // Without message 3, X@1 fails A1 (message 0 has Y@2): only Y.
        Assert.Equal(Y, Assert.Single(ViewChangeDecision.Candidates(s.Take(3).ToList(), F, 1)));
        Assert.Empty(ViewChangeDecision.Candidates(s, F, 2));
    }

    [Fact]
    public void Supports_AcceptsOnlyTheChoicesFig3Allows()
    {
        // X prepared at view 0 at two of three; pre-prepared at all three.
        var s = new List<ViewChangeBody>
        {
            Vc(0, 0, [(0, X)], p: [(1, 0, X)], q: [(1, 0, X)]),
            Vc(1, 0, [(0, X)], p: [(1, 0, X)], q: [(1, 0, X)]),
            Vc(2, 0, [(0, X)], q: [(1, 0, X)]),
        };
        Assert.True(ViewChangeDecision.Supports(s, F, 1, X));
        Assert.False(ViewChangeDecision.Supports(s, F, 1, Y));                          // not in any P
        Assert.False(ViewChangeDecision.Supports(s, F, 1, ViewChangeDecision.NullDigest)); // B fails
        Assert.True(ViewChangeDecision.Supports(s, F, 2, ViewChangeDecision.NullDigest));  // nothing prepared at 2
        Assert.False(ViewChangeDecision.Supports(s, F, 2, X));

        // A P entry reported by one (Byzantine) replica only, pre-prepared nowhere else: fails A2; the null request is supported.
        s = [Vc(0, 0, [(0, X)], p: [(1, 0, Z)], q: [(1, 0, Z)]), Vc(1, 0, [(0, X)]), Vc(2, 0, [(0, X)]), Vc(3, 0, [(0, X)])];
        Assert.False(ViewChangeDecision.Supports(s, F, 1, Z));
        Assert.True(ViewChangeDecision.Supports(s, F, 1, ViewChangeDecision.NullDigest));
    }

    [Fact]
    public void NullDigest_IsTheEmptyBatchDigest()
        => Assert.Equal(Support.Forge.BatchDigest(), ViewChangeDecision.NullDigest);
}
