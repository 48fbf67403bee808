using System.Text;
using FastBft.Auth;
using FastBft.Crypto;

namespace FastBft.Engine.Tests.Auth;

/// <summary>Published test vectors for every primitive the authentication layer ships.</summary>
public class MacVectorTests
{
    private static byte[] Hex(string s) => Convert.FromHexString(s);
    private static byte[] Repeat(byte b, int n) { var a = new byte[n]; Array.Fill(a, b); return a; }
    private static byte[] Counting(int n) { var a = new byte[n]; for (int i = 0; i < n; i++) a[i] = (byte)i; return a; }

    // RFC 4231 §4: HMAC-SHA-256 test cases 1-4, 6, 7 (full outputs) and 5 (128-bit truncation).
    public static TheoryData<string, string, string> Rfc4231 => new()
    {
        { "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", Convert.ToHexString("Hi There"u8), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
        { Convert.ToHexString("Jefe"u8), Convert.ToHexString("what do ya want for nothing?"u8), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
        { Convert.ToHexString(Repeat(0xaa, 20)), Convert.ToHexString(Repeat(0xdd, 50)), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
        { "0102030405060708090a0b0c0d0e0f10111213141516171819", Convert.ToHexString(Repeat(0xcd, 50)), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
        { Convert.ToHexString(Repeat(0x0c, 20)), Convert.ToHexString("Test With Truncation"u8), "a3b6167473100ee06e0c796c2955552b" },
        { Convert.ToHexString(Repeat(0xaa, 131)), Convert.ToHexString("Test Using Larger Than Block-Size Key - Hash Key First"u8), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
        { Convert.ToHexString(Repeat(0xaa, 131)), Convert.ToHexString(Encoding.ASCII.GetBytes("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.")), "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
    };

    [Theory]
    [MemberData(nameof(Rfc4231))]
    public void HmacSha256_matches_RFC4231_truncated_to_16_bytes(string keyHex, string dataHex, string expectedHex)
    {
        using var mac = new HmacSha256Mac(Hex(keyHex));
        var tag = new byte[Authenticator.TagSize];
        mac.Compute(Hex(dataHex), tag);
        Assert.Equal(expectedHex.Substring(0, 32), Convert.ToHexString(tag).ToLowerInvariant());
    }

    [Fact]
    public unsafe void Blake2b_matches_RFC7693_and_BLAKE2_reference_KATs()
    {
        Sodium.EnsureAvailable();
        // RFC 7693 Appendix A: unkeyed BLAKE2b-512("abc").
        Assert.Equal("ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
            Blake2b("abc"u8.ToArray(), [], 64));
        // BLAKE2 reference testvectors/blake2b-kat.txt (keyed, key = 00..3f, in = 00..len-1).
        byte[] key = Counting(64);
        Assert.Equal("10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786b5e996e8f0f4eb981fc214b005f42d2ff4233499391653df7aefcbc13fc51568",
            Blake2b([], key, 64));
        Assert.Equal("961f6dd1e4dd30f63901690c512e78e4b45e4742ed197c3c5e45c549fd25f2e4187b0bc9fe30492b16b0d0bc4ef9b0f34c7003fac09a5ef1532e69430234cebd",
            Blake2b(Counting(1), key, 64));
        Assert.Equal("a0c65bddde8adef57282b04b11e7bc8aab105b99231b750c021f4a735cb1bcfab87553bba3abb0c3e64a0b6955285185a0bd35fb8cfde557329bebb1f629ee93",
            Blake2b(Counting(16), key, 64));
    }

    [Fact]
    public void Blake2b128Mac_is_keyed_BLAKE2b_with_16_byte_digest_length_not_a_truncation()
    {
        Sodium.EnsureAvailable();
        byte[] key = Counting(32), input = Counting(64);
        using var mac = new Blake2b128Mac(key);
        var tag = new byte[16];
        mac.Compute(input, tag);
        Assert.Equal(Blake2b(input, key, 16), Convert.ToHexString(tag).ToLowerInvariant());
        // The digest length is in BLAKE2b's parameter block: BLAKE2b-128 differs from BLAKE2b-512's prefix.
        Assert.NotEqual(Blake2b(input, key, 64).Substring(0, 32), Convert.ToHexString(tag).ToLowerInvariant());
    }

    // SipHash reference implementation (Aumasson–Bernstein), vectors.h, vectors_sip128: key 00..0f, input 00..len-1.
    public static TheoryData<int, string> SipHash128Vectors => new()
    {
        { 0, "a3817f04ba25a8e66df67214c7550293" },
        { 1, "da87c1d86b99af44347659119b22fc45" },
        { 7, "a1f1ebbed8dbc153c0b84aa61ff08239" },
        { 8, "3b62a9ba6258f5610f83e264f31497b4" },
        { 15, "5493e99933b0a8117e08ec0f97cfc3d9" },
        { 16, "6ee2a4ca67b054bbfd3315bf85230577" },
        { 63, "5150d1772f50834a503e069a973fbd7c" },
    };

    [Theory]
    [MemberData(nameof(SipHash128Vectors))]
    public void SipHash128Mac_matches_reference_vectors_and_uses_the_first_16_key_bytes(int length, string expectedHex)
    {
        Sodium.EnsureAvailable();
        byte[] sessionKey = new byte[32];
        Counting(16).CopyTo(sessionKey, 0);
        Array.Fill(sessionKey, (byte)0xEE, 16, 16); // the second half must not matter
        using var mac = new SipHash128Mac(sessionKey);
        var tag = new byte[16];
        mac.Compute(Counting(length), tag);
        Assert.Equal(expectedHex, Convert.ToHexString(tag).ToLowerInvariant());
    }

    private static unsafe string Blake2b(byte[] input, byte[] key, int outLen)
    {
        var output = new byte[outLen];
        fixed (byte* o = output)
        fixed (byte* i = input)
        fixed (byte* k = key)
        {
            Assert.Equal(0, Sodium.crypto_generichash(o, (nuint)outLen, i, (ulong)input.Length, key.Length == 0 ? null : k, (nuint)key.Length));
        }
        return Convert.ToHexString(output).ToLowerInvariant();
    }
}
