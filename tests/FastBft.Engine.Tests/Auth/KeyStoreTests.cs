using System.Buffers.Binary;
using System.Security.Cryptography;
using FastBft.Auth;

namespace FastBft.Engine.Tests.Auth;

public class KeyStoreTests
{
    internal static byte[] Master(byte seed = 0) { var m = new byte[32]; for (int i = 0; i < 32; i++) m[i] = (byte)(i + seed); return m; }

    private static string Key(KeyStore ks, uint from, uint to)
    {
        var k = new byte[KeyStore.KeySize];
        Assert.True(ks.TryGetKey(from, to, k), $"no key {from}->{to}");
        return Convert.ToHexString(k).ToLowerInvariant();
    }

    [Fact]
    public void Derivation_matches_the_documented_HKDF_and_an_independent_implementation()
    {
        var ks = new KeyStore(Master(), 4);
        // Computed with Python's hmac/hashlib from docs/authentication.md §2 (HKDF-SHA-256, salt and labels there).
        Assert.Equal("7c29caacb2ca35111cf2e3890c3a1b76bc3f5b9fcdfd4f4c284834855a305ba4", Key(ks, 0, 1));
        Assert.Equal("2e67cac1ffd09bb09897a07f6e642279fe937f69570df8e38842ff0e8e58ae0f", Key(ks, 1, 0));
        Assert.Equal("284b0026924021e098b8c92ce804e66efa701f58a0cc5687b944f57fe1b632dd", Key(ks, 1000, 2));

        // And with the BCL's HKDF.DeriveKey spelled out from the same description.
        byte[] info = new byte[26];
        "FastBft-v1 k(i->j)"u8.CopyTo(info);
        BinaryPrimitives.WriteUInt32LittleEndian(info.AsSpan(18), 3);
        BinaryPrimitives.WriteUInt32LittleEndian(info.AsSpan(22), 2);
        byte[] expected = HKDF.DeriveKey(HashAlgorithmName.SHA256, Master(), 32, "FastBft-v1 session keys"u8.ToArray(), info);
        Assert.Equal(Convert.ToHexString(expected).ToLowerInvariant(), Key(ks, 3, 2));
    }

    [Fact]
    public void Derivation_is_deterministic_and_depends_on_the_secret()
    {
        var a = new KeyStore(Master(), 4);
        var b = new KeyStore(Master(), 4);
        var c = new KeyStore(Master(1), 4);
        Assert.Equal(Key(a, 2, 3), Key(b, 2, 3));
        Assert.Equal(Key(a, 1001, 0), Key(b, 1001, 0));
        Assert.NotEqual(Key(a, 2, 3), Key(c, 2, 3));
        Assert.NotEqual(Key(a, 1001, 0), Key(c, 1001, 0));
    }

    [Fact]
    public void Keys_are_distinct_per_direction_and_pair_and_client_keys_are_symmetric()
    {
        var ks = new KeyStore(Master(), 4);
        var seen = new HashSet<string>();
        for (uint i = 0; i < 4; i++)
            for (uint j = 0; j < 4; j++)
                if (i != j) Assert.True(seen.Add(Key(ks, i, j)), $"k({i}->{j}) repeats another key");
        foreach (uint c in new uint[] { 1000, 1001, 5095 })
            for (uint r = 0; r < 4; r++)
            {
                Assert.Equal(Key(ks, c, r), Key(ks, r, c));
                Assert.True(seen.Add(Key(ks, c, r)), $"k({c},{r}) repeats another key");
            }
    }

    [Theory]
    [InlineData(2u, 2u)]       // self
    [InlineData(1000u, 1001u)] // two clients
    [InlineData(999u, 0u)]     // below the first client id
    [InlineData(0u, 5096u)]    // past the client range (1000 + 4096)
    [InlineData(4u, 0u)]       // id n is not a configured client
    [InlineData(uint.MaxValue, 1u)]
    public void No_key_for_pairs_outside_the_cell(uint from, uint to)
    {
        var ks = new KeyStore(Master(), 4);
        var k = new byte[32];
        Assert.False(ks.TryGetKey(from, to, k));
        Assert.All(k, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Hex_constructor_equals_byte_constructor_and_rejects_bad_text()
    {
        var ks = KeyStore.FromMasterSecretHex(Convert.ToHexString(Master()).ToLowerInvariant(), 4);
        Assert.Equal(Key(new KeyStore(Master(), 4), 0, 3), Key(ks, 0, 3));
        Assert.Throws<ArgumentException>(() => KeyStore.FromMasterSecretHex("00", 4));
        Assert.Throws<ArgumentException>(() => KeyStore.FromMasterSecretHex(new string('g', 64), 4));
        Assert.Throws<ArgumentException>(() => new KeyStore(new byte[31], 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => new KeyStore(Master(), 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new KeyStore(Master(), 256));
        Assert.Throws<ArgumentOutOfRangeException>(() => new KeyStore(Master(), 4, firstClientId: 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => new KeyStore(Master(), 4, firstClientId: uint.MaxValue, clientCount: 2));
    }

    [Fact]
    public void Explicit_keys_are_returned_copied_and_validated()
    {
        byte[] k01 = Enumerable.Repeat((byte)1, 32).ToArray(), kc = Enumerable.Repeat((byte)7, 32).ToArray();
        var ks = new KeyStore(2,
            new Dictionary<(uint From, uint To), byte[]> { [(0, 1)] = k01 },
            new Dictionary<(uint Client, uint Replica), byte[]> { [(5000, 1)] = kc });
        Assert.False(ks.IsDerived);
        Assert.Equal(Convert.ToHexString(k01).ToLowerInvariant(), Key(ks, 0, 1));
        Assert.Equal(Convert.ToHexString(kc).ToLowerInvariant(), Key(ks, 5000, 1));
        Assert.Equal(Convert.ToHexString(kc).ToLowerInvariant(), Key(ks, 1, 5000));
        var none = new byte[32];
        Assert.False(ks.TryGetKey(1, 0, none));     // the reverse direction was not given
        Assert.False(ks.TryGetKey(5000, 0, none));
        k01[0] = 99;                                // the store keeps its own copy
        Assert.Equal("0101", Key(ks, 0, 1).Substring(0, 4));

        var noClients = new Dictionary<(uint Client, uint Replica), byte[]>();
        Assert.Throws<ArgumentException>(() => new KeyStore(2, new Dictionary<(uint From, uint To), byte[]> { [(0, 0)] = new byte[32] }, noClients));
        Assert.Throws<ArgumentException>(() => new KeyStore(2, new Dictionary<(uint From, uint To), byte[]> { [(0, 2)] = new byte[32] }, noClients));
        Assert.Throws<ArgumentException>(() => new KeyStore(2, new Dictionary<(uint From, uint To), byte[]> { [(0, 1)] = new byte[16] }, noClients));
        Assert.Throws<ArgumentException>(() => new KeyStore(2, new Dictionary<(uint From, uint To), byte[]>(),
            new Dictionary<(uint Client, uint Replica), byte[]> { [(1, 0)] = new byte[32] }));
    }
}
