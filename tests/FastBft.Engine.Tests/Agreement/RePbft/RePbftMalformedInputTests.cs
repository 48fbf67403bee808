using FastBft.Agreement;
using FastBft.Agreement.RePbft;
using FastBft.Agreement.Switch;
using FastBft.Engine.Tests.Support;
using FastBft.Execution;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.RePbft;

/// <summary>Input from the network never crashes or stalls a RePBFT replica: mutated copies of every message type the cell produced, PANICs for request id 0.</summary>
public sealed class RePbftMalformedInputTests
{
    [Fact]
    public void APanicForRequestIdZeroIsIgnored()
    {
        var filter = new PanicFilter();
        Assert.Equal(PanicVerdict.Ignore, filter.Check(1000, 0, null, 0));
        Assert.Equal(PanicVerdict.Ignore, filter.Check(1000, 0, new ReplyEntry(1000), 0));
        Assert.Equal(PanicVerdict.Switch, filter.Check(1000, 1, null, 0));
        Assert.Equal(PanicVerdict.Ignore, filter.Check(1000, 1, null, 0));   // a storm about one request starts one switch
    }

    /// <summary>A SWITCH-VOTE from replica <paramref name="sender"/> with the given body (header generation 1, view 4).</summary>
    private static byte[] SwitchVote(LoopbackCell cell, uint sender, byte[] body)
    {
        var b = new MessageBuilder(new FastBft.Auth.Authenticator(sender, cell.Keys), cell.N) { Family = ProtocolFamily.RePbft, Generation = 1 };
        body.CopyTo(b.BeginVector(MessageType.SwitchVote, 4, 0, body.Length));
        return b.SealVector().ToArray();
    }

    [Fact]
    public void SwitchVotesOutsideTheSchemaAreRejectedAndForeignOnesIgnored()
    {
        var cell = new LoopbackCell(k: 4, window: 8, protocol: ProtocolKind.RePbft);
        var good = new byte[RePbftSchema.SwitchVoteLength];
        good[0] = RePbftSchema.SwitchReady;
        Assert.Equal(ParseStatus.Ok, cell.Verifiers[0].Verify(SwitchVote(cell, 1, good), out _));
        var badPhase = (byte[])good.Clone(); badPhase[0] = 2;
        Assert.NotEqual(ParseStatus.Ok, cell.Verifiers[0].Verify(SwitchVote(cell, 1, badPhase), out _));
        var badPadding = (byte[])good.Clone(); badPadding[2] = 1;
        Assert.NotEqual(ParseStatus.Ok, cell.Verifiers[0].Verify(SwitchVote(cell, 1, badPadding), out _));
        Assert.NotEqual(ParseStatus.Ok, cell.Verifiers[0].Verify(SwitchVote(cell, 1, good.AsSpan(0, good.Length - 1).ToArray()), out _));
        Assert.NotEqual(ParseStatus.Ok, cell.Verifiers[0].Verify(SwitchVote(cell, 1, [.. good, 0]), out _));

        // Well-formed votes about an abort that did not happen (and 2f+1 of them for a digest nobody holds) change
        // nothing: the replica stays in the normal case and keeps serving.
        var foreign = (byte[])good.Clone();
        foreign[4] = 7;                                                      // abortedGeneration 7
        foreach (uint r in new uint[] { 1, 2, 3 })
        {
            Assert.Equal(ParseStatus.Ok, cell.Verifiers[0].Verify(SwitchVote(cell, r, foreign), out var v));
            cell.Replicas[0].OnMessage(v);
            Assert.Equal(ParseStatus.Ok, cell.Verifiers[0].Verify(SwitchVote(cell, r, good), out var w));
            cell.Replicas[0].OnMessage(w);
        }
        var rp = (RePbftReplica)cell.Replicas[0];
        Assert.False(rp.RunsPbft);
        Assert.Equal(0UL, rp.SwitchTarget);
        const uint c = LoopbackCell.FirstClient;
        var req = cell.BuildRequest(c, 1, 1);
        cell.Submit(0, req);
        cell.Run();
        for (int t = 0; t < 50 && cell.RepliesFor(c).Count(x => x.Rid == 1) < cell.F + 1; t++) cell.Tick();
        Assert.True(cell.RepliesFor(c).Count(x => x.Rid == 1) >= cell.F + 1);
    }

    /// <summary>The message with body bytes changed and authenticated again as its (replica) sender would: MAC vector, and the Ed25519 signature for signed types.</summary>
    private static byte[] Reseal(LoopbackCell cell, byte[] msg, Random rng)
    {
        if (MessageHeader.TryParse(msg, int.MaxValue, out var h) != ParseStatus.Ok || h.Sender >= cell.N || h.BodyLength == 0) return [];
        var body = MessageHeader.Body(msg, h).ToArray();
        int flips = 1 + rng.Next(3);
        for (int k = 0; k < flips; k++) body[rng.Next(body.Length)] = (byte)rng.Next(256);
        var b = new MessageBuilder(new FastBft.Auth.Authenticator(h.Sender, cell.Keys), cell.N) { Family = h.Family, Generation = h.Generation };
        body.CopyTo(b.BeginVector(h.Type, h.View, h.Sequence, body.Length));
        bool signed = h.Type is MessageType.History or MessageType.Switch or MessageType.SignedCheckpoint or MessageType.ViewChange or MessageType.NewView;
        return (signed ? b.SealSignedVector() : b.SealVector()).ToArray();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void MutatedMessagesOfEveryTypeNeitherCrashNorStallTheCell(int seed)
    {
        var cell = new LoopbackCell(k: 4, window: 8, protocol: ProtocolKind.RePbft, settings: s => s with { SwitchTicks = 20, SwitchBackAfter = 8 });
        var captured = new List<(uint To, byte[] Msg)>();
        cell.Observe = (from, to, msg) => { if (to < cell.N && captured.Count < 4000) captured.Add((to, msg)); };
        const uint c = LoopbackCell.FirstClient;
        ulong rid = 0;
        for (int i = 0; i < 6; i++) { var r = cell.BuildRequest(c, ++rid, i); cell.Submit(0, r); cell.Run(); cell.Tick(); }
        var stalled = cell.BuildRequest(c, ++rid, 99);
        for (uint r = 0; r < cell.N; r++) cell.Submit(r, cell.BuildPanic(c, stalled));    // a switch: HISTORY, SWITCH, PBFT messages
        cell.Run();
        cell.Tick(30);
        var types = captured.Select(m => (MessageType)m.Msg[3]).Distinct().ToHashSet();
        Assert.Contains(MessageType.History, types);
        Assert.Contains(MessageType.Switch, types);
        Assert.Contains(MessageType.SwitchVote, types);                                    // the SWITCH's reliable broadcast (ECHO, READY)
        Assert.Contains(MessageType.Update, types);
        Assert.Contains(MessageType.EndorsedPrePrepare, types);
        cell.Observe = null;

        var rng = new Random(seed);
        for (int i = 0; i < 3000; i++)
        {
            var (to, msg) = captured[rng.Next(captured.Count)];
            var m = (byte[])msg.Clone();
            switch (rng.Next(6))
            {
                case 4:
                case 5:
                    m = Reseal(cell, m, rng);                                                                                 // a faulty replica: garbage body, valid MAC and signature
                    if (m.Length == 0) continue;
                    break;
                case 0: for (int k = 0; k < 1 + rng.Next(4); k++) m[rng.Next(m.Length)] ^= (byte)(1 + rng.Next(255)); break;   // flipped bytes (most fail the MAC)
                case 1: m = m.AsSpan(0, rng.Next(m.Length)).ToArray(); break;                                               // truncated
                case 2: m = m.Concat(new byte[1 + rng.Next(64)]).ToArray(); break;                                          // trailing bytes
                default:
                    if (m.Length > MessageHeader.Size + 8) m[MessageHeader.Size + rng.Next(8)] ^= 0xFF;                      // a length or count field in the body
                    break;
            }
            if (cell.Verifiers[to].Verify(m, out var v) == ParseStatus.Ok) cell.Replicas[to].OnMessage(v);   // must not throw
        }
        cell.Run();
        // The cell still serves a correct client.
        var next = cell.BuildRequest(c, ++rid, 7);
        bool done = false;
        for (int t = 0; t < 200 && !done; t++)
        {
            if (t % 5 == 0) { for (uint r = 0; r < cell.N; r++) cell.Submit(r, next); cell.Run(); }
            cell.Tick();
            done = cell.RepliesFor(c).Count(x => x.Rid == rid) >= cell.F + 1;
        }
        Assert.True(done, string.Join(" | ", cell.Replicas.Select(r => r.DescribeState())));
        cell.AssertAgreement(0, 1, 2, 3);
    }
}
