using FastBft.Auth;
using FastBft.Engine.Tests.Auth;
using FastBft.Engine.Tests.Support;
using FastBft.TrustedHw;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Verification;

/// <summary>The generic verifier over a schema: family, unknown types, sender roles, bounds, and what it reports in the envelope.</summary>
public class SchemaVerifierTests
{
    private readonly MessageFactory _f = new();

    [Fact]
    public void AMessageOfAnotherProtocolFamilyIsDropped()
    {
        var b = _f.Builder(2);
        b.Family = ProtocolFamily.MinBft;                   // correctly authenticated, but not PBFT
        new byte[32].CopyTo(b.BeginVector(MessageType.Prepare, 0, 1, 32));
        var m = b.SealVector().ToArray();
        var v = _f.Verifier(1);
        Assert.Equal(ParseStatus.WrongProtocol, v.Verify(m, out _));
        Assert.Equal(1, v.DroppedFor(ParseStatus.WrongProtocol));
    }

    [Fact]
    public void ATypeTheSchemaDoesNotListIsUnknown()
    {
        var schema = new TableSchema(ProtocolFamily.Pbft, [MessageRule.Fixed(MessageType.Prepare, SenderRole.Replica, 32)]);
        var v = new MessageVerifier(schema, new Authenticator(1, _f.Keys), new VerifierLimits(4, MessageFactory.FirstClient, 1 << 20, 1 << 16, 8));
        Assert.Equal(ParseStatus.Ok, v.Verify(_f.Digest32(MessageType.Prepare, 2, 0, 1, new byte[32]), out _));
        Assert.Equal(ParseStatus.UnknownType, v.Verify(_f.Digest32(MessageType.Commit, 2, 0, 1, new byte[32]), out _));
    }

    [Fact]
    public void TheEnvelopeCarriesTheRequestDigestByValue()
    {
        var v = _f.Verifier(1);
        var r1 = _f.Request(1000, 1, [1]);
        var r2 = _f.Request(1001, 1, [2]);
        Assert.Equal(ParseStatus.Ok, v.Verify(r1, out var m1));
        var d1 = m1.RequestDigest.ToArray();
        Assert.Equal(ParseStatus.Ok, v.Verify(r2, out var m2));
        Assert.Equal(d1, m1.RequestDigest.ToArray());     // verifying another message changed nothing in the first envelope
        Assert.NotEqual(d1, m2.RequestDigest.ToArray());
        Span<byte> expected = stackalloc byte[32], body = stackalloc byte[32];
        Digests.AuthBody(MessageHeader.Body(r1, m1.Header), body);
        Digests.Request(r1.AsSpan(0, MessageHeader.Size), body, expected);
        Assert.Equal(expected.ToArray(), d1);
    }

    [Fact]
    public void RolesAreCheckedBeforeAuthentication()
    {
        var v = _f.Verifier(1);
        // A replica sending a REQUEST, a client sending a PREPARE, a replica's message to itself.
        var b = _f.Builder(2);
        b.BeginVector(MessageType.Request, 0, 1, 0);
        Assert.Equal(ParseStatus.BadSender, v.Verify(b.SealVector(), out _));
        Assert.Equal(ParseStatus.BadSender, v.Verify(_f.Digest32(MessageType.Prepare, 1000, 0, 1, new byte[32]), out _));
        Assert.Equal(ParseStatus.BadSender, v.Verify(_f.Digest32(MessageType.Prepare, 1, 0, 1, new byte[32]), out _));
    }

    [Fact]
    public void AHeaderWithNonZeroFlagsOrUnknownFamilyIsMalformed()
    {
        var m = _f.Digest32(MessageType.Prepare, 2, 0, 1, new byte[32]);
        var flags = (byte[])m.Clone(); flags[31] = 1;
        var family = (byte[])m.Clone(); family[30] = 200;
        var zero = (byte[])m.Clone(); zero[30] = 0;
        var v = _f.Verifier(1);
        Assert.Equal(ParseStatus.BadField, v.Verify(flags, out _));
        Assert.Equal(ParseStatus.BadField, v.Verify(family, out _));
        Assert.Equal(ParseStatus.BadField, v.Verify(zero, out _));
    }

    [Fact]
    public void GenerationTravelsInTheAuthenticatedHeader()
    {
        var b = _f.Builder(2);
        b.Generation = 7;
        new byte[32].CopyTo(b.BeginVector(MessageType.Prepare, 0, 1, 32));
        var m = b.SealVector().ToArray();
        Assert.Equal(ParseStatus.Ok, _f.Verifier(1).Verify(m, out var v));
        Assert.Equal(7UL, v.Header.Generation);
        m[32] = 6;                                          // a replayed message relabelled into another generation
        Assert.Equal(ParseStatus.BadAuthenticator, _f.Verifier(1).Verify(m, out _));
    }

    /// <summary>A schema whose CHECKPOINT is signed (RePBFT) and whose COMMIT carries a USIG certificate (MinBFT).</summary>
    private static readonly TableSchema Certified = new(ProtocolFamily.Pbft,
    [
        new MessageRule(MessageType.Checkpoint, SenderRole.Replica, AuthenticatorKind.Ed25519Signature, 32, 32),
        new MessageRule(MessageType.Commit, SenderRole.Replica, AuthenticatorKind.UsigCertificate, 32, 32),
    ]);

    private MessageVerifier CertifiedVerifier(uint self, params IAuthScheme[] schemes)
        => new(Certified, new Authenticator(self, _f.Keys), new VerifierLimits(4, MessageFactory.FirstClient, 1 << 20, 1 << 16, 8), schemes);

    [Fact]
    public void ASignedRuleIsCheckedByTheEd25519SchemeAndAMacTrailerDoesNotPassIt()
    {
        using var signer = new Ed25519Scheme(2, _f.Keys);
        var b = _f.Builder(2);
        new byte[32].CopyTo(b.Begin(MessageType.Checkpoint, 0, 4, 32, signer));
        var signed = b.Seal(signer).ToArray();
        using var check = new Ed25519Scheme(1, _f.Keys);
        var v = CertifiedVerifier(1, check);
        Assert.Equal(ParseStatus.Ok, v.Verify(signed, out _));
        var macOnly = _f.Digest32(MessageType.Checkpoint, 2, 0, 4, new byte[32]);   // a MAC vector where a signature is required
        Assert.Equal(ParseStatus.BadAuthenticator, v.Verify(macOnly, out _));
        signed[MessageHeader.Size] ^= 1;
        Assert.Equal(ParseStatus.BadAuthenticator, v.Verify(signed, out _));
        Assert.Equal(ParseStatus.BadAuthenticator, CertifiedVerifier(1).Verify(b.Seal(signer).ToArray(), out _));   // no scheme for the kind: dropped
    }

    [Fact]
    public void AUsigCertificateReachesTheCoreAsAUiAndADeviceFaultIsUnavailableNotBad()
    {
        var key = SchemeKeys.UsigKey();
        using var senderScheme = new UsigCertificateScheme(new SoftwareUsig(2, key, epoch: 5), ownsUsig: true);
        var device = new ScriptedUsig(new SoftwareUsig(1, key, epoch: 9));
        using var receiverScheme = new UsigCertificateScheme(device, ownsUsig: true);
        var b = _f.Builder(2);
        new byte[32].CopyTo(b.Begin(MessageType.Commit, 0, 1, 32, senderScheme));
        var first = b.Seal(senderScheme).ToArray();
        new byte[32].CopyTo(b.Begin(MessageType.Commit, 0, 2, 32, senderScheme));
        var second = b.Seal(senderScheme).ToArray();
        var v = CertifiedVerifier(1, receiverScheme);
        Assert.Equal(ParseStatus.Ok, v.Verify(first, out var m1));
        Assert.True(m1.HasUi);
        Assert.Equal((5UL, 1UL), (m1.UiEpoch, m1.UiCounter));
        device.VerifyFault = new UsigTimeoutException("verify", 0, 0, 0, 1);
        Assert.Equal(ParseStatus.Unavailable, v.Verify(second, out _));
        device.VerifyFault = null;
        Assert.Equal(ParseStatus.Ok, v.Verify(second, out var m2));
        Assert.Equal(2UL, m2.UiCounter);
    }
}
