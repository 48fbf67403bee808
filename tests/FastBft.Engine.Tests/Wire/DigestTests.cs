using System.Security.Cryptography;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Wire;

public class DigestTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    [InlineData(32)]
    public void ShortBodiesAreTheirOwnZeroPaddedDigest(int length)
    {
        var body = Enumerable.Range(1, length).Select(i => (byte)i).ToArray();
        var d = new byte[32];
        Array.Fill(d, (byte)0xEE);
        Digests.AuthBody(body, d);
        Assert.Equal(body, d[..length]);
        Assert.All(d[length..], b => Assert.Equal(0, b));
    }

    [Theory]
    [InlineData(33)]
    [InlineData(4096)]
    public void LongerBodiesAreHashed(int length)
    {
        var body = Enumerable.Range(0, length).Select(i => (byte)(i * 7)).ToArray();
        var d = new byte[32];
        Digests.AuthBody(body, d);
        Assert.Equal(SHA256.HashData(body), d);
    }

    [Fact]
    public void BodiesDifferingOnlyInTrailingZerosAreDistinguishedByTheAuthenticatedHeader()
    {
        // B(body) pads, so [1] and [1,0] share a body digest; the MAC input's header carries the
        // body length, so their MAC inputs still differ.
        var f = new FastBft.Engine.Tests.Support.MessageFactory();
        var a = f.Request(1000, 1, new byte[] { 1 });
        var b = f.Request(1000, 1, new byte[] { 1, 0 });
        var forged = new byte[b.Length];
        a.AsSpan(0, MessageHeader.Size + 1).CopyTo(forged);
        forged[24] = 2;                                            // claim a 2-byte body
        a.AsSpan(MessageHeader.Size + 1).CopyTo(forged.AsSpan(MessageHeader.Size + 2));   // keep a's authenticator
        Assert.NotEqual(ParseStatus.Ok, f.Verifier(1).Verify(forged, out _));
        Assert.Equal(ParseStatus.Ok, f.Verifier(1).Verify(b, out _));
    }
}
