using System.Buffers.Binary;
using FastBft.Agreement;
using FastBft.Agreement.ReMinBft;
using FastBft.Auth;
using FastBft.Engine.Tests.Agreement.MinBft;
using FastBft.Engine.Tests.Support;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.ReMinBft;

/// <summary>
/// ReMinBFT's abort history carries its checkpoint certificate (R1, docs/reminbft.md §5.2–§5.3): every active replica's
/// signed CHECKPOINT of the coordinator's checkpoint, so a replica that never saw that checkpoint become stable still checks
/// the SWITCH and starts MinBFT from it. And the sender rule a receiver enforces (Thesis §5.4.2), which anchors the
/// coordinator's run at its counter in the checkpoint.
/// </summary>
public class ReMinBftSwitchCertificateTests
{
    private const uint Client = LoopbackCell.FirstClient;

    private static LoopbackCell Cell() => new(f: 1, batch: 8, k: 4, window: 8, protocol: ProtocolKind.ReMinBft);

    private static ReMinBftReplica R(LoopbackCell cell, uint i) => (ReMinBftReplica)cell.Replicas[i];

    /// <summary>
    /// R1: the passive replica never receives anybody's CHECKPOINT, so no checkpoint becomes stable there; the leader then
    /// crashes and a client PANICs. Before the fix the passive replica held the coordinator's SWITCH for good (its checkpoint
    /// was not stable locally) and the cell stopped. Now it checks the certificate in the history, installs the SWITCH, and
    /// the new request commits at the coordinator and the passive replica.
    /// </summary>
    [Fact]
    public void APassiveReplicaThatNeverSawTheCheckpointBecomeStableInstallsTheSwitch()
    {
        var cell = Cell();
        cell.Intercept = (from, to, msg) => to == 2 && LoopbackCell.Is(msg, MessageType.CounterCheckpoint);
        for (ulong rid = 1; rid <= 8; rid++)
        {
            cell.Submit(0, cell.BuildRequest(Client, rid, 1));
            cell.Run();
        }
        Assert.True(R(cell, 0).StableCheckpoint >= 4 && R(cell, 1).StableCheckpoint >= 4, "the active replicas' checkpoints are stable");
        Assert.Equal(0UL, R(cell, 2).StableCheckpoint);
        Assert.Equal(8UL, R(cell, 2).LastExecuted);

        cell.Crashed.Add(0);
        var request = cell.BuildRequest(Client, 9, 1);
        for (uint r = 1; r < 3; r++) cell.Submit(r, request);
        cell.Run();
        var panic = cell.BuildPanic(Client, request);
        for (uint r = 1; r < 3; r++) cell.Submit(r, panic);
        Assert.True(cell.TickUntil(() => R(cell, 1).LastExecuted >= 9 && R(cell, 2).LastExecuted >= 9, 400),
            $"replica 1: {R(cell, 1).DescribeState()}; replica 2: {R(cell, 2).DescribeState()}");
        Assert.True(R(cell, 1).Switched && R(cell, 2).Switched);
        Assert.Equal(0L, R(cell, 2).Stats.BadSwitches);
        cell.AssertAgreement(1, 2);
        Assert.Single(cell.ExecutedAt(2, Client, 9));
    }

    /// <summary>
    /// A replica behind the certified checkpoint (here the passive replica got no UPDATE at all) installs the SWITCH and
    /// fetches the checkpoint's state from the active replicas before it executes what the history fixes.
    /// </summary>
    [Fact]
    public void AReplicaBehindTheCertifiedCheckpointFetchesItsStateAfterTheSwitch()
    {
        var cell = Cell();
        cell.Intercept = (from, to, msg) => to == 2 && (LoopbackCell.Is(msg, MessageType.CounterCheckpoint) || LoopbackCell.Is(msg, MessageType.Update));
        for (ulong rid = 1; rid <= 8; rid++)
        {
            cell.Submit(0, cell.BuildRequest(Client, rid, 1));
            cell.Run();
        }
        Assert.Equal(0UL, R(cell, 2).LastExecuted);
        cell.Intercept = null;
        cell.Crashed.Add(0);
        var request = cell.BuildRequest(Client, 9, 1);
        for (uint r = 1; r < 3; r++) cell.Submit(r, request);
        cell.Run();
        var panic = cell.BuildPanic(Client, request);
        for (uint r = 1; r < 3; r++) cell.Submit(r, panic);
        Assert.True(cell.TickUntil(() => R(cell, 1).LastExecuted >= 9 && R(cell, 2).LastExecuted >= 9, 600),
            $"replica 1: {R(cell, 1).DescribeState()}; replica 2: {R(cell, 2).DescribeState()}");
        Assert.True(R(cell, 2).Core!.Stats.StateTransfers > 0, "the passive replica fetched the checkpoint");
        Assert.Equal(cell.StateDigest(1), cell.StateDigest(2));
    }

    // ------------------------------------------------------------------ the certificate's validity rule

    private static readonly VerifierLimits Limits = new(3, Client, 1 << 20, 1 << 16, 64);
    private static readonly uint[] Active = [0, 1];

    /// <summary>A signed CHECKPOINT(seq) of <paramref name="sender"/> with the given digest and counter list (replica 0's UI, replica 1's UI).</summary>
    private static byte[] SignedCheckpoint(LoopbackCell cell, uint sender, ulong seq, byte digestByte, (ulong E, ulong C)[] counters)
    {
        var b = new MessageBuilder(new Authenticator(sender, cell.Keys), cell.N) { Family = ProtocolFamily.ReMinBft };
        var body = b.BeginVector(MessageType.CounterCheckpoint, 0, seq, ReMinBftBodies.SignedCheckpointLength(counters.Length));
        body.Slice(0, Digests.Size).Fill(digestByte);
        BinaryPrimitives.WriteUInt32LittleEndian(body.Slice(Digests.Size), (uint)counters.Length);
        for (int i = 0; i < counters.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(ReMinBftBodies.CheckpointFixed + 16 * i), counters[i].E);
            BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(ReMinBftBodies.CheckpointFixed + 16 * i + 8), counters[i].C);
        }
        return b.SealSignedVector().ToArray();
    }

    private static SwitchHistory? Parse(LoopbackCell cell, ulong cpSeq, byte digestByte, ulong c0Counter, params byte[][] certificate)
    {
        var digest = new byte[Digests.Size];
        Array.Fill(digest, digestByte);
        var body = SwitchHistory.Body(0, 1, cpSeq, digest, 1, c0Counter, [], certificate);
        return SwitchHistory.TryParse(body, 3, Limits, null, (signer, data, signature) => cell.Keys.Signatures.Verify(signer, data, signature));
    }

    /// <summary>
    /// The certificate must be every active replica's signed CHECKPOINT of the history's checkpoint, with its digest and one
    /// counter list whose coordinator entry is the history's c0. A forged signature, another digest, a missing active
    /// replica, a passive signer, differing lists, a wrong c0, a certificate without a checkpoint or a checkpoint without one
    /// are each rejected; the genuine one yields the counters.
    /// </summary>
    [Fact]
    public void TheCheckpointCertificateOfAnAbortHistoryIsChecked()
    {
        var cell = Cell();
        (ulong, ulong)[] list = [(1, 5), (1, 6)];
        var cp0 = SignedCheckpoint(cell, 0, 4, 0xAB, list);
        var cp1 = SignedCheckpoint(cell, 1, 4, 0xAB, list);

        var ok = Parse(cell, 4, 0xAB, 6, cp0, cp1);
        Assert.NotNull(ok);
        Assert.True(ok.TryAnchor(Active, 1, out var counters, out var reason), reason);
        Assert.Equal([(1UL, 5UL), (1UL, 6UL)], counters);

        var forged = (byte[])cp1.Clone();
        forged[MessageHeader.Size + ReMinBftBodies.CheckpointFixed + 8] ^= 1;      // replica 0's counter, after signing
        Assert.Null(Parse(cell, 4, 0xAB, 6, cp0, forged));
        Assert.Null(Parse(cell, 4, 0xCD, 6, cp0, cp1));                             // not the history's digest
        Assert.Null(Parse(cell, 4, 0xAB, 6, cp0, cp0));                             // one signer twice
        Assert.Null(Parse(cell, 0, 0xAB, 0, cp0, cp1));                             // a certificate without a checkpoint
        Assert.Null(Parse(cell, 4, 0xAB, 6));                                       // a checkpoint without a certificate

        Assert.False(Parse(cell, 4, 0xAB, 6, cp1)!.TryAnchor(Active, 1, out _, out reason));
        Assert.Contains("not every active replica", reason);
        Assert.False(Parse(cell, 4, 0xAB, 6, cp1, SignedCheckpoint(cell, 2, 4, 0xAB, list))!.TryAnchor(Active, 1, out _, out reason));
        Assert.Contains("passive", reason);
        Assert.False(Parse(cell, 4, 0xAB, 6, SignedCheckpoint(cell, 0, 4, 0xAB, [(1, 5), (1, 3)]), cp1)!.TryAnchor(Active, 1, out _, out reason));
        Assert.Contains("differ", reason);
        Assert.False(Parse(cell, 4, 0xAB, 7, cp0, cp1)!.TryAnchor(Active, 1, out _, out reason));
        Assert.Contains("c0", reason);
    }

    // ------------------------------------------------------------------ the sender rule at the receiver

    /// <summary>
    /// Thesis §5.4.2 sender rule, checked by the receiver: a follower whose COMMIT for s=2 carries a lower counter than its
    /// COMMIT for s=1 breaks it (the coordinator could otherwise leave the s=2 COMMIT out of an abort history anchored at
    /// its s=1 counter). The leader counts the violation, parks that follower's queue, and does not commit s=1 with it.
    /// </summary>
    [Fact]
    public void ACommitForAnEarlierInstanceAfterALaterOneBreaksTheSenderRule()
    {
        var cell = Cell();
        var prepares = new Dictionary<ulong, byte[]>();
        bool forging = false;
        cell.Intercept = (from, to, msg) => from == 1 && !forging;                   // the follower's real messages never arrive
        cell.Observe = (from, to, msg) => { if (from == 0 && to == 1 && LoopbackCell.Is(msg, MessageType.UiPrepare)) prepares[LoopbackCell.Header(msg).Sequence] = msg; };
        cell.Submit(0, cell.BuildRequest(Client, 1, 1));
        cell.Run();
        cell.Submit(0, cell.BuildRequest(Client + 1, 1, 1));
        cell.Run();
        Assert.True(prepares.ContainsKey(1) && prepares.ContainsKey(2), "the leader proposed s=1 and s=2");
        static byte[] CommitBody(byte[] prepare)
        {
            var body = new byte[Digests.Size + 48];
            MessageHeader.Body(prepare, LoopbackCell.Header(prepare)).Slice(0, Digests.Size).CopyTo(body);
            prepare.AsSpan(prepare.Length - 48).CopyTo(body.AsSpan(Digests.Size));  // the leader's UI
            return body;
        }
        var follower = cell.UsigFor(1);                                               // replica 1's USIG: counters 1, 2, … as the leader expects
        var commit2 = MinBftTestKit.Certified(follower, MessageType.UiCommit, 0, 2, CommitBody(prepares[2]), ProtocolFamily.ReMinBft);   // counter 1
        var commit1 = MinBftTestKit.Certified(follower, MessageType.UiCommit, 0, 1, CommitBody(prepares[1]), ProtocolFamily.ReMinBft);   // counter 2
        forging = true;
        cell.Inject(1, 0, commit2);
        cell.Inject(1, 0, commit1);
        cell.Run();
        var leader = R(cell, 0).Core!;
        Assert.True(leader.Stats.SenderOrderViolations >= 1, "the violation is counted (again on every retry of the parked queue)");
        Assert.Equal(0UL, leader.LastExecuted);                                       // s=1 never commits with the out-of-order COMMIT
    }
}
