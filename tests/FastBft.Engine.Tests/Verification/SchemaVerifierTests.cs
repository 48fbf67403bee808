using FastBft.Auth;
using FastBft.Engine.Tests.Support;
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
}
