using System.Buffers.Binary;
using FastBft.Agreement.Pbft;
using FastBft.Auth;
using FastBft.Execution.Odrc;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Odrc.Tests;

/// <summary>ODRC messages on the wire (docs/odrc.md §5): layouts, and the attacks — lying length fields, forged MACs, replays.</summary>
public sealed class OdrcWireTests
{
    private static readonly KeyStore Keys = new(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32), 4);
    private static readonly OdrcProtocol Protocol = new(PbftProtocol.Instance, PlacementStrategy.RoundRobin);

    private static MessageVerifier Verifier(uint self) => new(Protocol.Schema, new Authenticator(self, Keys), new VerifierLimits(4, 1000, 8 << 20, 1 << 16, 8));

    private static byte[] Build(uint from, MessageType type, ulong ordinal, ReadOnlySpan<byte> body)
    {
        var b = new MessageBuilder(new Authenticator(from, Keys), 4);
        body.CopyTo(b.BeginVector(type, 0, ordinal, body.Length));
        return b.SealVector().ToArray();
    }

    private static ObjectCheckpoint Sample() => new()
    {
        Sender = 2, ObjectId = "user:1"u8.ToArray(), Ordinal = 7, StateHash = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray(),
        Replies = [new ReplyHash(7, 1000, 3, 5, new byte[32]), new ReplyHash(8, 1001, 4, 6, Enumerable.Repeat((byte)9, 32).ToArray())],
    };

    [Fact]
    public void ACheckpointRoundTripsAndVerifies()
    {
        var cp = Sample();
        var body = new byte[OdrcWire.CheckpointLength(cp)];
        OdrcWire.WriteCheckpoint(cp, body);
        var msg = Build(2, MessageType.ObjectCheckpoint, 7, body);
        Assert.Equal(ParseStatus.Ok, Verifier(1).Verify(msg, out var v));
        var back = OdrcWire.ReadCheckpoint(v.Header.Sender, v.Header.Sequence, MessageHeader.Body(msg, v.Header))!;
        Assert.Equal(cp.Digest(), back.Digest());
        Assert.Equal(2u, back.Sender);
    }

    [Theory]
    [InlineData(0)]   // object-id length beyond the body
    [InlineData(1)]   // reply count larger than the entries present
    [InlineData(2)]   // reply count smaller: trailing bytes
    [InlineData(3)]   // object-id length above the limit
    public void ACheckpointWithALyingLengthFieldIsDropped(int lie)
    {
        var cp = Sample();
        var body = new byte[OdrcWire.CheckpointLength(cp)];
        OdrcWire.WriteCheckpoint(cp, body);
        int countAt = 4 + cp.ObjectId.Length + 32;
        switch (lie)
        {
            case 0: BinaryPrimitives.WriteUInt32LittleEndian(body, 5000); break;
            case 1: BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(countAt), 3); break;
            case 2: BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(countAt), 1); break;
            case 3: BinaryPrimitives.WriteUInt32LittleEndian(body, uint.MaxValue); break;
        }
        Assert.Equal(ParseStatus.BadField, Verifier(1).Verify(Build(2, MessageType.ObjectCheckpoint, 7, body), out _));
        Assert.Null(OdrcWire.ReadCheckpoint(2, 7, body));
    }

    [Fact]
    public void AFetchAndAStateWithLyingLengthsAreDropped()
    {
        var fetch = new byte[4 + 3];
        OdrcWire.WriteFetch("abc"u8, fetch);
        Assert.Equal(ParseStatus.Ok, Verifier(1).Verify(Build(2, MessageType.ObjectFetch, 7, fetch), out _));
        BinaryPrimitives.WriteUInt32LittleEndian(fetch, 4);
        Assert.Equal(ParseStatus.BadField, Verifier(1).Verify(Build(2, MessageType.ObjectFetch, 7, fetch), out _));

        var state = new byte[OdrcWire.StateLength(3, 5)];
        OdrcWire.WriteState("abc"u8, "hello"u8, state);
        Assert.Equal(ParseStatus.Ok, Verifier(1).Verify(Build(2, MessageType.ObjectState, 7, state), out _));
        BinaryPrimitives.WriteUInt32LittleEndian(state.AsSpan(7), 6);                  // state length beyond the body
        Assert.Equal(ParseStatus.BadField, Verifier(1).Verify(Build(2, MessageType.ObjectState, 7, state), out _));
        BinaryPrimitives.WriteUInt32LittleEndian(state.AsSpan(7), uint.MaxValue);
        Assert.Equal(ParseStatus.BadField, Verifier(1).Verify(Build(2, MessageType.ObjectState, 7, state), out _));
    }

    [Fact]
    public void AForgedMacIsDropped()
    {
        var cp = Sample();
        var body = new byte[OdrcWire.CheckpointLength(cp)];
        OdrcWire.WriteCheckpoint(cp, body);
        // sealed by someone who does not hold replica 2's keys (another master secret)
        var forger = new MessageBuilder(new Authenticator(2, new KeyStore(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32), 4)), 4);
        body.CopyTo(forger.BeginVector(MessageType.ObjectCheckpoint, 0, 7, body.Length));
        Assert.NotEqual(ParseStatus.Ok, Verifier(1).Verify(forger.SealVector().ToArray(), out _));
        var changed = Build(2, MessageType.ObjectCheckpoint, 7, body);
        changed[50] ^= 1;                                                             // body changed after sealing
        Assert.NotEqual(ParseStatus.Ok, Verifier(1).Verify(changed, out _));
    }

    [Fact]
    public void APlainPbftCellDoesNotAcceptOdrcMessages()
    {
        var v = new MessageVerifier(PbftSchema.Instance, new Authenticator(1, Keys), new VerifierLimits(4, 1000, 8 << 20, 1 << 16, 8));
        var fetch = new byte[4 + 3];
        OdrcWire.WriteFetch("abc"u8, fetch);
        Assert.Equal(ParseStatus.UnknownType, v.Verify(Build(2, MessageType.ObjectFetch, 7, fetch), out _));
    }

    [Fact]
    public void AReplayedCheckpointIsCountedOnceAndAClientCannotSendOne()
    {
        var cp = Sample();
        var body = new byte[OdrcWire.CheckpointLength(cp)];
        OdrcWire.WriteCheckpoint(cp, body);
        // a client id as sender: the schema accepts ODRC messages from replicas only
        var b = new MessageBuilder(new Authenticator(1000, Keys), 4);
        body.CopyTo(b.BeginVector(MessageType.ObjectCheckpoint, 0, 7, body.Length));
        Assert.NotEqual(ParseStatus.Ok, Verifier(1).Verify(b.SealVector().ToArray(), out _));
    }
}
