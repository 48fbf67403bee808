using System.Buffers.Binary;
using FastBft.Agreement;
using FastBft.Agreement.MinBft;
using FastBft.Auth;
using FastBft.Engine.Tests.Support;
using FastBft.TrustedHw;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.MinBft;

/// <summary>The new-view decision (docs/minbft.md §5.4) on hand-built VIEW-CHANGEs: highest view first, then the leader's first UI.</summary>
public sealed class MinBftDecisionTests
{
    private static readonly VerifierLimits Limits = new(3, LoopbackCell.FirstClient, 1 << 22, 1 << 16, 8);

    /// <summary>A VIEW-CHANGE(view, X = 0) of <paramref name="usig"/>'s replica whose log is <paramref name="log"/> (its certified COMMITs, each with the PREPARE it names attached); the VIEW-CHANGE takes the next counter.</summary>
    private static MinBftViewChange Vc(IUsig usig, ulong view, params (byte[] Commit, byte[] Prepare)[] log)
        => VcOf(usig, view, log.SelectMany(e => new[] { ((byte)0, e.Commit), ((byte)1, e.Prepare) }).ToArray());

    /// <summary>A VIEW-CHANGE(view, X = 0) with the given log entries (kind, bytes).</summary>
    private static MinBftViewChange VcOf(IUsig usig, ulong view, params (byte Kind, byte[] Bytes)[] log)
    {
        var vc = TryVcOf(usig, view, log);
        Assert.NotNull(vc);
        return vc;
    }

    private static MinBftViewChange? TryVcOf(IUsig usig, ulong view, params (byte Kind, byte[] Bytes)[] log)
    {
        var entries = new List<byte[]>();
        foreach (var (kind, bytes) in log) entries.Add([kind, .. BitConverter.GetBytes(bytes.Length), .. bytes]);
        var body = new byte[MinBftViewChange.Fixed + entries.Sum(e => e.Length)];
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(34), (ushort)entries.Count);
        int off = MinBftViewChange.Fixed;
        foreach (var e in entries) { e.CopyTo(body, off); off += e.Length; }
        var msg = MinBftTestKit.Certified(usig, MessageType.UiViewChange, view, 0, body);
        MessageHeader.TryParse(msg, int.MaxValue, out var h);
        using var scheme = new UsigCertificateScheme(usig);
        return MinBftViewChange.TryParse(h, MessageHeader.Body(msg, h), 1, MinBftTestKit.CounterOf(msg), 3, Limits, scheme);
    }

    [Fact]
    public void ALoggedCommitCountsOnlyWithTheCertifiedPrepareItNames()
    {
        var cell = MinBftTestKit.Cell();
        using var l0 = cell.UsigFor(0);
        var real = MinBftTestKit.Prepare(l0, 0, 1, MinBftTestKit.Batch(cell.BuildRequest(1000, 1, 1)));
        var other = MinBftTestKit.Prepare(l0, 0, 2, MinBftTestKit.Batch(cell.BuildRequest(1001, 1, 2)));
        // A faulty follower names a made-up leader UI (counter 1 with a wrong proof) for the real batch, attaching the real PREPARE.
        using (var f1 = cell.UsigFor(1))
        {
            var forged = MinBftTestKit.Commit(f1, real);
            MessageHeader.TryParse(forged, int.MaxValue, out var fh);
            var body = MessageHeader.Body(forged, fh).ToArray();
            body[32 + 16] ^= 1;                                                           // the named UI's proof
            using var f1b = cell.UsigFor(1);
            var commit = MinBftTestKit.Certified(f1b, MessageType.UiCommit, 0, 1, body);
            Assert.Null(TryVcOf(f1b, 1, ((byte)0, commit), ((byte)1, real)));
        }
        // The top entry for s without its PREPARE, or with the PREPARE of another s attached: invalid.
        using (var f2 = cell.UsigFor(2))
            Assert.Null(TryVcOf(f2, 1, ((byte)0, MinBftTestKit.Commit(f2, real))));
        using (var f2 = cell.UsigFor(2))
            Assert.Null(TryVcOf(f2, 1, ((byte)0, MinBftTestKit.Commit(f2, real)), ((byte)1, other)));
        // With it: valid.
        using (var f2 = cell.UsigFor(2))
            Assert.NotNull(TryVcOf(f2, 1, ((byte)0, MinBftTestKit.Commit(f2, real)), ((byte)1, real)));
    }

    [Fact]
    public void TheValueOfTheHighestViewIsChosen()
    {
        var cell = MinBftTestKit.Cell();
        using var l0 = cell.UsigFor(0); using var l1 = cell.UsigFor(1); using var r2 = cell.UsigFor(2);
        var a = MinBftTestKit.Prepare(l0, 0, 1, MinBftTestKit.Batch(cell.BuildRequest(1000, 1, 1)));   // view 0: the old leader's PREPARE (in its own log)
        var b = MinBftTestKit.Prepare(l1, 1, 1, MinBftTestKit.Batch(cell.BuildRequest(1001, 1, 2)));   // view 1 put another value at s = 1
        var vc1 = VcOf(l0, 2, ((byte)0, a));
        var vc2 = Vc(r2, 2, (MinBftTestKit.Commit(r2, b), b));
        foreach (var set in new[] { new[] { vc1, vc2 }, new[] { vc2, vc1 } })
        {
            var d = MinBftDecision.Decide(set, 8);
            Assert.NotNull(d);
            Assert.Equal(1UL, d.MaxSeq);
            Assert.Equal(b.AsSpan(MessageHeader.Size, 32).ToArray(), d.BatchDigests[0]);
        }
    }

    [Fact]
    public void WithinOneViewTheLeadersFirstPrepareIsChosen()
    {
        var cell = MinBftTestKit.Cell();
        using var l0 = cell.UsigFor(0); using var r1 = cell.UsigFor(1); using var r2 = cell.UsigFor(2);
        var first = MinBftTestKit.Prepare(l0, 0, 1, MinBftTestKit.Batch(cell.BuildRequest(1000, 1, 1)));    // leader counter 1
        var second = MinBftTestKit.Prepare(l0, 0, 1, MinBftTestKit.Batch(cell.BuildRequest(1001, 1, 2)));   // counter 2: the equivocation
        var vc1 = Vc(r1, 1, (MinBftTestKit.Commit(r1, second), second));      // a faulty follower vouches for the second one
        var vc2 = Vc(r2, 1, (MinBftTestKit.Commit(r2, first), first));
        foreach (var set in new[] { new[] { vc1, vc2 }, new[] { vc2, vc1 } })
        {
            var d = MinBftDecision.Decide(set, 8);
            Assert.NotNull(d);
            Assert.Equal(first.AsSpan(MessageHeader.Size, 32).ToArray(), d.BatchDigests[0]);
        }
    }

    [Fact]
    public void AnInstanceNoLogNamesGetsTheEmptyBatchAndADecisionBeyondTheBoundFails()
    {
        var cell = MinBftTestKit.Cell();
        using var l0 = cell.UsigFor(0); using var r1 = cell.UsigFor(1); using var r2 = cell.UsigFor(2);
        var p3 = MinBftTestKit.Prepare(l0, 0, 3, MinBftTestKit.Batch(cell.BuildRequest(1000, 1, 1)));
        var vc1 = Vc(r1, 1, (MinBftTestKit.Commit(r1, p3), p3));
        var vc2 = Vc(r2, 1);
        var d = MinBftDecision.Decide([vc1, vc2], 8);
        Assert.NotNull(d);
        Assert.Equal(3UL, d.MaxSeq);
        Assert.Equal(0, Bodies.BatchCount(d.Batches[0]));                      // s = 1, 2: the null request
        Assert.Equal(0, Bodies.BatchCount(d.Batches[1]));
        Assert.Equal(1, Bodies.BatchCount(d.Batches[2]));
        Assert.Null(MinBftDecision.Decide([vc1, vc2], 2));                      // 3 slots do not fit a bound of 2
    }
}
