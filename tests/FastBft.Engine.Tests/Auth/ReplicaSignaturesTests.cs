using FastBft.Auth;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;

namespace FastBft.Engine.Tests.Auth;

/// <summary>Ed25519 replica signatures through libsodium: RFC 8032 compatibility with BouncyCastle, tamper detection, explicit keys.</summary>
public class ReplicaSignaturesTests
{
    private static readonly Dictionary<(uint, uint), byte[]> NoReplicaKeys = new();
    private static readonly Dictionary<(uint, uint), byte[]> NoClientKeys = new();

    private static byte[] Seed(int i) { var s = new byte[32]; for (int j = 0; j < 32; j++) s[j] = (byte)(i * 31 + j * 7 + 3); return s; }

    private static byte[] BouncySign(byte[] seed, byte[] data)
    {
        var signer = new Ed25519Signer();
        signer.Init(true, new Ed25519PrivateKeyParameters(seed, 0));
        signer.BlockUpdate(data, 0, data.Length);
        return signer.GenerateSignature();
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(2, 32)]
    [InlineData(3, 1000)]
    [InlineData(4, 70000)]
    public void LibsodiumSignaturesAreByteIdenticalToBouncyCastle(int seedIndex, int length)
    {
        var seed = Seed(seedIndex);
        var data = new byte[length];
        for (int i = 0; i < length; i++) data[i] = (byte)(i * 13 + seedIndex);
        var keys = new KeyStore(4, NoReplicaKeys, NoClientKeys, new Dictionary<uint, byte[]> { [2] = seed });
        var sig = new byte[ReplicaSignatures.SignatureSize];
        keys.Signatures.Sign(2, data, sig);
        Assert.Equal(BouncySign(seed, data), sig);
        Assert.Equal(new Ed25519PrivateKeyParameters(seed, 0).GeneratePublicKey().GetEncoded(), ReplicaSignatures.PublicKeyOf(seed));
        var verifier = new Ed25519Signer();
        verifier.Init(false, new Ed25519PublicKeyParameters(ReplicaSignatures.PublicKeyOf(seed), 0));
        verifier.BlockUpdate(data, 0, data.Length);
        Assert.True(verifier.VerifySignature(sig));
        Assert.True(keys.Signatures.Verify(2, data, BouncySign(seed, data)));
    }

    [Fact]
    public void AFlippedBitInMessageOrSignatureFails()
    {
        var master = new byte[32]; master[0] = 9;
        var keys = new KeyStore(master, 4);
        var data = new byte[200];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)i;
        var sig = new byte[64];
        keys.Signatures.Sign(1, data, sig);
        Assert.True(keys.Signatures.Verify(1, data, sig));
        Assert.False(keys.Signatures.Verify(0, data, sig));                 // another signer
        foreach (int bit in new[] { 0, 7, 8 * 100 + 3, 8 * 199 + 7 })
        {
            var d = (byte[])data.Clone(); d[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(keys.Signatures.Verify(1, d, sig));
        }
        for (int bit = 0; bit < 512; bit += 37)
        {
            var s = (byte[])sig.Clone(); s[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(keys.Signatures.Verify(1, data, s));
        }
        Assert.False(keys.Signatures.Verify(1, data, sig.AsSpan(0, 63)));  // never throws on bad input
        Assert.False(keys.Signatures.Verify(7, data, sig));
    }

    [Fact]
    public void DerivedKeysDifferPerReplicaAndAreDeterministic()
    {
        var master = new byte[32]; master[5] = 1;
        var a = new KeyStore(master, 4);
        var b = new KeyStore(master, 4);
        var data = "view change"u8.ToArray();
        var s0 = new byte[64]; var s1 = new byte[64]; var s0b = new byte[64];
        a.Signatures.Sign(0, data, s0);
        a.Signatures.Sign(1, data, s1);
        b.Signatures.Sign(0, data, s0b);
        Assert.Equal(s0, s0b);
        Assert.NotEqual(s0, s1);
        Assert.True(b.Signatures.Verify(1, data, s1));
    }

    [Fact]
    public void ExplicitKeyStoreSignsOnlyAsItselfAndVerifiesPeers()
    {
        var pubs = Enumerable.Range(0, 4).ToDictionary(i => (uint)i, i => ReplicaSignatures.PublicKeyOf(Seed(10 + i)));
        var node0 = new KeyStore(4, NoReplicaKeys, NoClientKeys, new Dictionary<uint, byte[]> { [0] = Seed(10) }, pubs);
        var node1 = new KeyStore(4, NoReplicaKeys, NoClientKeys, new Dictionary<uint, byte[]> { [1] = Seed(11) }, pubs);
        var data = new byte[] { 1, 2, 3 };
        var sig = new byte[64];
        node1.Signatures.Sign(1, data, sig);
        Assert.True(node0.Signatures.Verify(1, data, sig));
        Assert.Equal(BouncySign(Seed(11), data), sig);
        Assert.True(node0.Signatures.CanSign(0));
        Assert.False(node0.Signatures.CanSign(1));
        Assert.Throws<InvalidOperationException>(() => node0.Signatures.Sign(1, data, new byte[64]));
        Assert.Throws<ArgumentException>(() => node0.Signatures.Sign(0, data, new byte[63]));
        // No public key for a replica: its signatures never verify.
        var lonely = new KeyStore(4, NoReplicaKeys, NoClientKeys, new Dictionary<uint, byte[]> { [0] = Seed(10) });
        Assert.False(lonely.Signatures.Verify(1, data, sig));
        Assert.Throws<ArgumentException>(() => new KeyStore(4, NoReplicaKeys, NoClientKeys, new Dictionary<uint, byte[]> { [0] = new byte[31] }));
        Assert.Throws<ArgumentException>(() => new KeyStore(4, NoReplicaKeys, NoClientKeys, null, new Dictionary<uint, byte[]> { [4] = new byte[32] }));
    }
}
