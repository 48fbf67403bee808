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

/// <summary>The direct OpenSSL SHA-256 path of <see cref="Digests"/> gives the BCL's bytes for every length, including empty and above the direct limit.</summary>
public class DirectSha256Tests
{
    [Fact]
    public void MatchesTheBclForEveryLength()
    {
        var rng = new Random(20261130);
        var expected = new byte[32];
        var actual = new byte[32];
        foreach (int len in Enumerable.Range(0, 300).Concat([511, 512, 1023, 4095, 4096, 4097, 65536]))
        {
            var data = new byte[len];
            rng.NextBytes(data);
            System.Security.Cryptography.SHA256.HashData(data, expected);
            FastBft.Crypto.OpenSslSha256.Hash(data, actual);
            Assert.Equal(expected, actual);
            Array.Clear(actual);
            Digests.Sha256(data, actual);
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public void AShortDestinationIsRejected()
        => Assert.Throws<ArgumentException>(() => FastBft.Crypto.OpenSslSha256.Hash([1, 2, 3], new byte[31]));

    [Fact]
    public void TheDirectPathAllocatesNothing()
    {
        var data = new byte[72]; var d = new byte[32];
        for (int i = 0; i < 100; i++) Digests.Sha256(data, d);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++) Digests.Sha256(data, d);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
