using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.Simulation;
using FastBft.Wire;

namespace FastBft.Simulation.Tests;

/// <summary><see cref="Forge"/>: forged messages are authentic for exactly the receivers chosen, and oversized claims are what they claim.</summary>
public class ForgeTests
{
    private const int N = 4;
    private static readonly KeyStore Keys = MakeKeys();

    private static KeyStore MakeKeys()
    {
        var master = new byte[32];
        for (int i = 0; i < 32; i++) master[i] = (byte)(i * 13 + 5);
        return new KeyStore(master, N, Simulator.FirstClientId, 3);
    }

    private static MessageVerifier VerifierOf(uint id) => new(Protocols.Get(ProtocolKind.Pbft).Schema, new Authenticator(id, Keys), new VerifierLimits(N, Simulator.FirstClientId, Simulator.MaxMessageBody, 1 << 12, 4));

    [Fact]
    public void ResealedModifiedCheckpointVerifiesEverywhere()
    {
        var auth = new Authenticator(2, Keys);
        var b = new MessageBuilder(auth, N);
        var body = b.BeginVector(MessageType.Checkpoint, 0, 4, 32);
        body.Fill(7);
        var msg = b.SealVector().ToArray();
        msg[MessageHeader.Size] ^= 0x5A;
        Assert.NotEqual(ParseStatus.Ok, VerifierOf(0).Verify(msg, out _));
        Forge.Reseal(auth, msg);
        for (uint r = 0; r < N; r++) if (r != 2) Assert.Equal(ParseStatus.Ok, VerifierOf(r).Verify(msg, out _));
    }

    [Fact]
    public void ViewChangeValidOnlyForTheNextPrimary()
    {
        var auth = new Authenticator(3, Keys);
        var vc = Forge.MinimalViewChange(auth, N, 1, 0, new byte[32]);
        var targeted = Forge.WithView(auth, vc, 1, r => r == 1);
        Assert.Equal(ParseStatus.Ok, VerifierOf(1).VerifyHeader(targeted, out var h));
        Assert.Equal(MessageType.ViewChange, h.Type);
        Assert.Equal(ParseStatus.BadAuthenticator, VerifierOf(0).Verify(targeted, out _));
        Assert.Equal(ParseStatus.BadAuthenticator, VerifierOf(2).Verify(targeted, out _));
        var far = Forge.WithView(auth, vc, ulong.MaxValue - 2);
        Assert.Equal(ParseStatus.Ok, VerifierOf(0).VerifyHeader(far, out h));
        Assert.Equal(ulong.MaxValue - 2, h.View);
        var padded = Forge.PaddedViewChange(auth, N, 7, 0, new byte[32], 8192);
        Assert.Equal(ParseStatus.Ok, VerifierOf(0).Verify(padded, out _));
        Assert.True(padded.Length > 8192);
    }

    [Fact]
    public void EmptyPrePrepareIsAcceptedByTheVerifier()
    {
        var auth = new Authenticator(0, Keys);
        var pp = Forge.EmptyPrePrepare(new MessageBuilder(auth, N), auth, 0, 1);
        Assert.Equal(ParseStatus.Ok, VerifierOf(1).VerifyHeader(pp, out var h));
        Assert.Equal(0, Bodies.BatchCount(MessageHeader.Body(pp, h)));
    }

    [Fact]
    public void InflatedStateDataClaimsSixtyFourMiBAndStaysAuthentic()
    {
        var auth = new Authenticator(1, Keys);
        var b = new MessageBuilder(auth, N);
        var body = b.BeginVector(MessageType.StateData, 0, 8, 9);
        BinaryPrimitives.WriteInt32LittleEndian(body, 1);
        BinaryPrimitives.WriteInt32LittleEndian(body.Slice(4), 0);
        var msg = b.SealVector().ToArray();
        var big = Forge.Inflate(auth, msg, 0)!;
        Assert.Equal(ParseStatus.Ok, VerifierOf(3).VerifyHeader(big, out var h));
        Assert.Equal(64 << 20, BinaryPrimitives.ReadInt32LittleEndian(MessageHeader.Body(big, h)));
    }

    [Fact]
    public void SignatureHookIsCalledForEveryResealedMessage()
    {
        var auth = new Authenticator(3, Keys);
        var seen = new List<MessageType>();
        Forge.SignatureHook = (signer, m) => { Assert.Equal(3u, signer); seen.Add((MessageType)m[3]); };
        try { Forge.MinimalViewChange(auth, N, 1, 0, new byte[32]); }
        finally { Forge.SignatureHook = null; }
        Assert.Contains(MessageType.ViewChange, seen);
    }
}
