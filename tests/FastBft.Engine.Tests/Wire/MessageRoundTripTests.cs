using FastBft.Engine.Tests.Support;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Wire;

/// <summary>Every message type: build → parse in place → same fields, and the receiver's authenticator check passes.</summary>
public class MessageRoundTripTests
{
    private readonly MessageFactory _f = new();
    private static readonly byte[] D = Enumerable.Range(0, 32).Select(i => (byte)(255 - i)).ToArray();

    private static MessageHeader Parse(byte[] m)
    {
        Assert.Equal(ParseStatus.Ok, MessageHeader.TryParse(m, 1 << 22, out var h));
        return h;
    }

    [Fact]
    public void Request()
    {
        var m = _f.Request(1003, 42, new byte[] { 1, 2, 3 });
        var h = Parse(m);
        Assert.Equal((MessageType.Request, 1003u, 0UL, 42UL, 3, 2 + 16 * 4), (h.Type, h.Sender, h.View, h.Sequence, h.BodyLength, h.AuthLength));
        Assert.Equal(new byte[] { 1, 2, 3 }, MessageHeader.Body(m, h).ToArray());
        for (uint r = 0; r < 4; r++) Assert.Equal(ParseStatus.Ok, _f.Verifier(r).Verify(m, out _));
    }

    [Fact]
    public void PrePrepareWithBatch()
    {
        var r1 = _f.Request(1000, 1, new byte[10]);
        var r2 = _f.Request(1001, 7, new byte[4096]);
        var m = _f.PrePrepare(0, 3, 17, r1, r2);
        var h = Parse(m);
        Assert.Equal((MessageType.PrePrepare, 0u, 3UL, 17UL), (h.Type, h.Sender, h.View, h.Sequence));
        var reader = new BatchReader(MessageHeader.Body(m, h));
        Assert.True(reader.Next(out var e1)); Assert.Equal(r1, e1.ToArray());
        Assert.True(reader.Next(out var e2)); Assert.Equal(r2, e2.ToArray());
        Assert.False(reader.Next(out _));
        for (uint r = 1; r < 4; r++) Assert.Equal(ParseStatus.Ok, _f.Verifier(r).Verify(m, out _));
    }

    [Theory]
    [InlineData(MessageType.Prepare)]
    [InlineData(MessageType.Commit)]
    [InlineData(MessageType.Checkpoint)]
    public void DigestCarryingMessages(MessageType type)
    {
        var m = _f.Digest32(type, 2, 5, 128, D);
        var h = Parse(m);
        Assert.Equal((type, 2u, 5UL, 128UL, 32), (h.Type, h.Sender, h.View, h.Sequence, h.BodyLength));
        Assert.Equal(D, MessageHeader.Body(m, h).ToArray());
        Assert.Equal(ParseStatus.Ok, _f.Verifier(1).Verify(m, out _));
        Assert.Equal(ParseStatus.BadSender, _f.Verifier(2).Verify(m, out _));   // a replica never accepts its own messages
    }

    [Fact]
    public void Status()
    {
        var m = _f.Status(3, 1, 900, 768);
        var h = Parse(m);
        Assert.Equal((MessageType.Status, 3u, 1UL, 900UL, 16), (h.Type, h.Sender, h.View, h.Sequence, h.BodyLength));
        Assert.Equal(768UL, BitConverter.ToUInt64(MessageHeader.Body(m, h)));
        Assert.Equal(ParseStatus.Ok, _f.Verifier(0).Verify(m, out _));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Reply(bool full)
    {
        var result = new byte[] { 9, 8, 7, 6, 5 };
        var m = _f.Reply(1, 1002, 4, 77, full, result);
        var h = Parse(m);
        Assert.Equal((MessageType.Reply, 1u, 4UL, 77UL, 18), (h.Type, h.Sender, h.View, h.Sequence, h.AuthLength));
        var body = MessageHeader.Body(m, h);
        Assert.Equal(1002u, BitConverter.ToUInt32(body));
        if (full) Assert.Equal(result, body.Slice(8).ToArray());
        Assert.Equal(ParseStatus.Ok, _f.Verifier(1002).Verify(m, out _));
        Assert.Equal(ParseStatus.BadField, _f.Verifier(1001).Verify(m, out _));   // addressed to another client
    }

    [Fact]
    public void BatchWithTwoRequestsFromOneClientIsRejected()
    {
        var m = _f.PrePrepare(0, 0, 1, _f.Request(1000, 1, new byte[1]), _f.Request(1000, 2, new byte[1]));
        Assert.Equal(ParseStatus.BadField, _f.Verifier(1).Verify(m, out _));
    }

    [Fact]
    public void OversizedRequestIsRejected()
    {
        var v = new MessageVerifier(Protocols.Get(ProtocolKind.Pbft).Schema, new FastBft.Auth.Authenticator(1, _f.Keys), new VerifierLimits(4, MessageFactory.FirstClient, 1 << 22, MaxRequestBody: 100, MaxBatch: 8));
        Assert.Equal(ParseStatus.Oversized, v.Verify(_f.Request(1000, 1, new byte[101]), out _));
        Assert.Equal(ParseStatus.Ok, v.Verify(_f.Request(1000, 1, new byte[100]), out _));
    }
}
