using System.Security.Cryptography;
using FastBft.Auth;
using FastBft.TrustedHw;

namespace FastBft.Engine.Tests.Auth;

// Tests for the IAuthScheme implementations (engine/FastBft.Core/Auth/Schemes). One contract, run for every
// scheme by inheritance (AuthSchemeContract), plus scheme-specific tests. Plain [Fact]/[Theory] and Assert only.

/// <summary>
/// The contract every <see cref="IAuthScheme"/> must meet: a sealed message verifies at its receiver; any change
/// of header, authDigest, sender or a checked trailer byte is rejected; a trailer of the wrong shape is
/// <see cref="AuthStatus.Malformed"/>; Verify never throws. A fresh instance (fresh schemes) per test.
/// </summary>
public abstract class AuthSchemeContract : IDisposable
{
    private IAuthScheme? _sender;
    private IAuthScheme? _receiver;

    /// <summary>Creates the sending node's scheme and the receiving node's scheme.</summary>
    protected abstract (IAuthScheme Sender, IAuthScheme Receiver) CreatePair();

    /// <summary>Id the sender's messages carry.</summary>
    protected abstract uint SenderId { get; }

    /// <summary>The receiver passed to Seal (the addressed node for a single MAC).</summary>
    protected abstract uint ReceiverId { get; }

    /// <summary>Another known node whose claim to have sent the message must be rejected.</summary>
    protected abstract uint OtherSenderId { get; }

    /// <summary>The scheme's trailer kind.</summary>
    protected abstract AuthenticatorKind ExpectedKind { get; }

    /// <summary>Trailer bytes whose change the receiver must detect (all by default; a MAC vector's receiver only checks kind, count, the sender's own entry and its own).</summary>
    protected virtual IEnumerable<int> CheckedTrailerBytes(int length) => Enumerable.Range(0, length);

    /// <summary>True when Seal + Verify allocate nothing in steady state.</summary>
    protected virtual bool AllocationFree => true;

    protected IAuthScheme Sender => _sender ?? Init().Sender;
    protected IAuthScheme Receiver => _receiver ?? Init().Receiver;

    private (IAuthScheme Sender, IAuthScheme Receiver) Init()
    {
        (_sender, _receiver) = CreatePair();
        return (_sender, _receiver);
    }

    public virtual void Dispose()
    {
        _sender?.Dispose();
        _receiver?.Dispose();
        GC.SuppressFinalize(this);
    }

    internal static (byte[] Header, byte[] Digest) Message(byte salt = 0)
    {
        var header = new byte[Authenticator.HeaderSize];
        var digest = new byte[32];
        for (int i = 0; i < header.Length; i++) header[i] = (byte)(i * 5 + salt);
        for (int i = 0; i < 32; i++) digest[i] = (byte)(255 - i - salt);
        return (header, digest);
    }

    protected byte[] Seal(byte[] header, byte[] digest)
    {
        var trailer = new byte[Sender.TrailerLength];
        Sender.Seal(header, digest, ReceiverId, trailer);
        return trailer;
    }

    private static byte[] Flip(byte[] data, int bit)
    {
        var copy = (byte[])data.Clone();
        copy[bit / 8] ^= (byte)(1 << (bit % 8));
        return copy;
    }

    [Fact]
    public void Seal_then_verify_round_trips()
    {
        var (h, d) = Message();
        byte[] trailer = Seal(h, d);
        Assert.Equal((byte)ExpectedKind, trailer[0]);
        Assert.Equal(ExpectedKind, Sender.Kind);
        Assert.Equal(ExpectedKind, Receiver.Kind);
        Assert.Equal(SenderId, Sender.SelfId);
        Assert.Equal(AuthStatus.Ok, Receiver.Verify(SenderId, h, d, trailer).Status);
        Assert.True(Receiver.Verify(SenderId, h, d, trailer).IsOk);
        var (h2, d2) = Message(77);
        Assert.Equal(AuthStatus.Ok, Receiver.Verify(SenderId, h2, d2, Seal(h2, d2)).Status);
    }

    [Fact]
    public void Seal_writes_exactly_TrailerLength_bytes()
    {
        var (h, d) = Message();
        var big = new byte[Sender.TrailerLength + 40];
        Array.Fill(big, (byte)0xA5);
        Sender.Seal(h, d, ReceiverId, big);
        Assert.All(big.Skip(Sender.TrailerLength), b => Assert.Equal(0xA5, b));
        Assert.Equal(AuthStatus.Ok, Receiver.Verify(SenderId, h, d, big.AsSpan(0, Sender.TrailerLength)).Status);
    }

    [Fact]
    public void Every_flipped_header_bit_is_rejected()
    {
        var (h, d) = Message();
        byte[] trailer = Seal(h, d);
        for (int bit = 0; bit < 256; bit++)
            Assert.Equal(AuthStatus.BadAuthenticator, Receiver.Verify(SenderId, Flip(h, bit), d, trailer).Status);
    }

    [Fact]
    public void Every_flipped_digest_bit_is_rejected()
    {
        var (h, d) = Message();
        byte[] trailer = Seal(h, d);
        for (int bit = 0; bit < 256; bit++)
            Assert.Equal(AuthStatus.BadAuthenticator, Receiver.Verify(SenderId, h, Flip(d, bit), trailer).Status);
    }

    [Fact]
    public void Every_flipped_bit_in_a_checked_trailer_byte_is_rejected()
    {
        var (h, d) = Message();
        byte[] trailer = Seal(h, d);
        foreach (int index in CheckedTrailerBytes(trailer.Length))
            for (int b = 0; b < 8; b++)
            {
                AuthStatus status = Receiver.Verify(SenderId, h, d, Flip(trailer, index * 8 + b)).Status;
                Assert.Equal(index < 2 ? AuthStatus.Malformed : AuthStatus.BadAuthenticator, status);
            }
    }

    [Fact]
    public void A_wrong_or_unknown_sender_is_rejected()
    {
        var (h, d) = Message();
        byte[] trailer = Seal(h, d);
        Assert.Equal(AuthStatus.BadAuthenticator, Receiver.Verify(OtherSenderId, h, d, trailer).Status);
        Assert.Equal(AuthStatus.BadAuthenticator, Receiver.Verify(Receiver.SelfId, h, d, trailer).Status);
        foreach (uint unknown in new[] { 254u, 999u, 50_000u, uint.MaxValue })
            Assert.False(Receiver.Verify(unknown, h, d, trailer).IsOk);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(-1)]  // TrailerLength - 1
    [InlineData(-2)]  // TrailerLength - 16
    [InlineData(-3)]  // TrailerLength + 1
    [InlineData(-4)]  // TrailerLength + 64
    public void Truncated_empty_or_oversized_trailers_are_malformed(int lengthCase)
    {
        var (h, d) = Message();
        byte[] trailer = Seal(h, d);
        int length = lengthCase switch
        {
            -1 => trailer.Length - 1,
            -2 => trailer.Length - 16,
            -3 => trailer.Length + 1,
            -4 => trailer.Length + 64,
            _ => lengthCase,
        };
        var resized = new byte[length];
        trailer.AsSpan(0, Math.Min(length, trailer.Length)).CopyTo(resized);
        Assert.Equal(AuthStatus.Malformed, Receiver.Verify(SenderId, h, d, resized).Status);
    }

    [Fact]
    public void Every_other_kind_byte_and_a_wrong_count_are_malformed()
    {
        var (h, d) = Message();
        byte[] trailer = Seal(h, d);
        for (int kind = 0; kind < 256; kind++)
        {
            if (kind == (int)ExpectedKind) continue;
            var t = (byte[])trailer.Clone();
            t[0] = (byte)kind;
            Assert.Equal(AuthStatus.Malformed, Receiver.Verify(SenderId, h, d, t).Status);
        }
        foreach (byte count in new byte[] { 0, (byte)(trailer[1] + 1), 255 })
        {
            var t = (byte[])trailer.Clone();
            t[1] = count;
            Assert.Equal(AuthStatus.Malformed, Receiver.Verify(SenderId, h, d, t).Status);
        }
    }

    [Fact]
    public void Header_or_digest_of_the_wrong_size_is_malformed_on_verify_and_throws_on_seal()
    {
        var (h, d) = Message();
        byte[] trailer = Seal(h, d);
        Assert.Equal(AuthStatus.Malformed, Receiver.Verify(SenderId, h.AsSpan(0, 31), d, trailer).Status);
        Assert.Equal(AuthStatus.Malformed, Receiver.Verify(SenderId, h, d.AsSpan(0, 31), trailer).Status);
        Assert.Equal(AuthStatus.Malformed, Receiver.Verify(SenderId, [], [], trailer).Status);
        Assert.Equal(AuthStatus.Malformed, Receiver.Verify(SenderId, new byte[33], d, trailer).Status);
        var dest = new byte[Sender.TrailerLength];
        Assert.ThrowsAny<ArgumentException>(() => Sender.Seal(h.AsSpan(0, 31), d, ReceiverId, dest));
        Assert.ThrowsAny<ArgumentException>(() => Sender.Seal(h, new byte[33], ReceiverId, dest));
        Assert.ThrowsAny<ArgumentException>(() => Sender.Seal(h, d, ReceiverId, new byte[Sender.TrailerLength - 1]));
    }

    [Fact]
    public void Random_garbage_never_throws_and_never_verifies()
    {
        var (h, d) = Message();
        var rng = new Random(1234);
        int length = Receiver.TrailerLength;
        for (int i = 0; i < 300; i++)
        {
            var t = new byte[i % 3 == 0 ? rng.Next(0, 2 * length) : length];
            rng.NextBytes(t);
            if (i % 2 == 0 && t.Length >= 2) { t[0] = (byte)ExpectedKind; t[1] = Seal(h, d)[1]; }
            uint sender = i % 5 == 0 ? (uint)rng.Next() : SenderId;
            Assert.False(Receiver.Verify(sender, h, d, t).IsOk);
        }
    }

    [Fact]
    public void After_dispose_verify_is_unavailable_and_seal_throws()
    {
        var (h, d) = Message();
        byte[] trailer = Seal(h, d);
        Receiver.Dispose();
        Assert.Equal(AuthStatus.Unavailable, Receiver.Verify(SenderId, h, d, trailer).Status);
        Sender.Dispose();
        Assert.Throws<ObjectDisposedException>(() => Sender.Seal(h, d, ReceiverId, new byte[Sender.TrailerLength]));
    }

    [Fact]
    public void Steady_state_seal_and_verify_allocate_nothing()
    {
        if (!AllocationFree) return; // documented exception: Ed25519Scheme (BouncyCastle allocates per call)
        var (h, d) = Message();
        var trailer = new byte[Sender.TrailerLength];
        var bad = new byte[Sender.TrailerLength];
        bool ok = true;
        void Round()
        {
            Sender.Seal(h, d, ReceiverId, trailer);
            ok &= Receiver.Verify(SenderId, h, d, trailer).IsOk;
            ok &= !Receiver.Verify(SenderId, h, d, bad).IsOk;
        }
        for (int i = 0; i < 500; i++) Round();
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5000; i++) Round();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(ok);
        Assert.Equal(0, allocated);
    }
}

internal static class SchemeKeys
{
    public const int N = 4;
    public const uint Client = 1000;

    public static byte[] Master(byte salt = 0) { var m = new byte[32]; for (int i = 0; i < 32; i++) m[i] = (byte)(i * 3 + salt); return m; }

    public static readonly KeyStore Keys = new(Master(), N);

    public static byte[] UsigKey() { var k = new byte[32]; for (int i = 0; i < 32; i++) k[i] = (byte)(0xA0 + i); return k; }
}

// ---------------------------------------------------------------------------------------------
// Kind 1: MAC vector

public sealed class MacVectorSchemeContractTests : AuthSchemeContract
{
    protected override (IAuthScheme Sender, IAuthScheme Receiver) CreatePair() =>
        (new MacVectorScheme(1, SchemeKeys.Keys), new MacVectorScheme(2, SchemeKeys.Keys));
    protected override uint SenderId => 1;
    protected override uint ReceiverId => 2;
    protected override uint OtherSenderId => 3;
    protected override AuthenticatorKind ExpectedKind => AuthenticatorKind.ReplicaVector;

    // kind, count, the sending replica's own entry (must be zero) and the receiver's entry; a MAC convinces only its receiver (PBFT-PR §1)
    protected override IEnumerable<int> CheckedTrailerBytes(int length) =>
        new[] { 0, 1 }.Concat(Enumerable.Range(2 + 16 * (int)SenderId, 16)).Concat(Enumerable.Range(2 + 16 * (int)ReceiverId, 16));
}

public sealed class MacVectorSchemeTests
{
    public static TheoryData<MacAlgorithm> Algorithms => new() { MacAlgorithm.HmacSha256, MacAlgorithm.Blake2b128, MacAlgorithm.SipHash128 };

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Trailer_is_byte_identical_to_Authenticator_WriteVector(MacAlgorithm alg)
    {
        foreach (uint self in new uint[] { 0, 3, SchemeKeys.Client })
        {
            using var scheme = new MacVectorScheme(self, SchemeKeys.Keys, alg);
            using var reference = new Authenticator(self, SchemeKeys.Keys, alg);
            Assert.Equal(Authenticator.VectorLength(SchemeKeys.N), scheme.TrailerLength);
            Assert.Equal(self < SchemeKeys.N ? AuthRole.Replica : AuthRole.Client, scheme.Role);
            for (byte salt = 0; salt < 5; salt++)
            {
                var (h, d) = AuthSchemeContract.Message(salt);
                var a = new byte[scheme.TrailerLength];
                var b = new byte[scheme.TrailerLength];
                scheme.Seal(h, d, 12345, a); // receiver ignored
                reference.WriteVector(h, d, b);
                Assert.Equal(b, a);
            }
        }
    }

    [Fact]
    public void A_client_request_vector_verifies_at_every_replica()
    {
        using var client = new MacVectorScheme(SchemeKeys.Client, SchemeKeys.Keys);
        var (h, d) = AuthSchemeContract.Message(3);
        var t = new byte[client.TrailerLength];
        client.Seal(h, d, 0, t);
        for (uint r = 0; r < SchemeKeys.N; r++)
        {
            using var replica = new MacVectorScheme(r, SchemeKeys.Keys);
            Assert.Equal(AuthStatus.Ok, replica.Verify(SchemeKeys.Client, h, d, t).Status);
        }
        Assert.Equal(AuthStatus.BadAuthenticator, client.Verify(0, h, d, t).Status); // a client has no entry
    }

    [Fact]
    public void Entries_for_other_replicas_are_not_checked_by_a_receiver()
    {
        using var sender = new MacVectorScheme(1, SchemeKeys.Keys);
        using var receiver = new MacVectorScheme(2, SchemeKeys.Keys);
        var (h, d) = AuthSchemeContract.Message();
        var t = new byte[sender.TrailerLength];
        sender.Seal(h, d, 0, t);
        t[2 + 16 * 3] ^= 1; // replica 3's entry
        Assert.Equal(AuthStatus.Ok, receiver.Verify(1, h, d, t).Status);
        Assert.False(sender.IsTransferable);
    }

    [Fact]
    public void A_wrapped_authenticator_is_not_disposed_unless_owned()
    {
        var auth = new Authenticator(1, SchemeKeys.Keys);
        var (h, d) = AuthSchemeContract.Message();
        new MacVectorScheme(auth).Dispose();
        new SingleMacScheme(auth).Dispose();
        auth.WriteVector(h, d, new byte[Authenticator.VectorLength(SchemeKeys.N)]); // still usable
        new MacVectorScheme(auth, ownsAuthenticator: true).Dispose();
        Assert.Throws<ObjectDisposedException>(() => auth.WriteVector(h, d, new byte[Authenticator.VectorLength(SchemeKeys.N)]));
    }
}

// ---------------------------------------------------------------------------------------------
// Kind 2: single MAC (replica -> client, as for REPLY)

public sealed class SingleMacSchemeContractTests : AuthSchemeContract
{
    protected override (IAuthScheme Sender, IAuthScheme Receiver) CreatePair() =>
        (new SingleMacScheme(1, SchemeKeys.Keys), new SingleMacScheme(SchemeKeys.Client, SchemeKeys.Keys));
    protected override uint SenderId => 1;
    protected override uint ReceiverId => SchemeKeys.Client;
    protected override uint OtherSenderId => 2;
    protected override AuthenticatorKind ExpectedKind => AuthenticatorKind.SingleMac;
}

public sealed class SingleMacSchemeTests
{
    public static TheoryData<MacAlgorithm> Algorithms => new() { MacAlgorithm.HmacSha256, MacAlgorithm.Blake2b128, MacAlgorithm.SipHash128 };

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Trailer_is_byte_identical_to_Authenticator_WriteSingle(MacAlgorithm alg)
    {
        foreach (var (self, to) in new (uint, uint)[] { (0, SchemeKeys.Client), (2, 3), (SchemeKeys.Client, 1) })
        {
            using var scheme = new SingleMacScheme(self, SchemeKeys.Keys, alg);
            using var reference = new Authenticator(self, SchemeKeys.Keys, alg);
            Assert.Equal(Authenticator.SingleLength, scheme.TrailerLength);
            var (h, d) = AuthSchemeContract.Message((byte)self);
            var a = new byte[18];
            var b = new byte[18];
            scheme.Seal(h, d, to, a);
            reference.WriteSingle(to, h, d, b);
            Assert.Equal(b, a);
            using var receiver = new SingleMacScheme(to, SchemeKeys.Keys, alg);
            Assert.Equal(AuthStatus.Ok, receiver.Verify(self, h, d, a).Status);
        }
    }

    [Fact]
    public void Sealing_for_a_node_without_a_shared_key_throws()
    {
        using var client = new SingleMacScheme(SchemeKeys.Client, SchemeKeys.Keys);
        var (h, d) = AuthSchemeContract.Message();
        Assert.Throws<KeyNotFoundException>(() => client.Seal(h, d, SchemeKeys.Client + 1, new byte[18])); // client to client
    }
}

// ---------------------------------------------------------------------------------------------
// Kind 3: Ed25519 signature (BouncyCastle)

public sealed class Ed25519SchemeContractTests : AuthSchemeContract
{
    protected override (IAuthScheme Sender, IAuthScheme Receiver) CreatePair() =>
        (new Ed25519Scheme(1, SchemeKeys.Keys), new Ed25519Scheme(2, SchemeKeys.Keys));
    protected override uint SenderId => 1;
    protected override uint ReceiverId => 2;
    protected override uint OtherSenderId => 3;
    protected override AuthenticatorKind ExpectedKind => AuthenticatorKind.Ed25519Signature;
    protected override bool AllocationFree => false; // BouncyCastle creates a Sha512Digest per sign/verify
}

public sealed class Ed25519SchemeTests
{
    private static byte[] Input(byte[] h, byte[] d) => [.. h, .. d];

    private static byte[] Seed(int i) { var s = new byte[32]; for (int j = 0; j < 32; j++) s[j] = (byte)(i * 31 + j * 7 + 3); return s; }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    public void BouncyCastle_and_libsodium_signatures_are_identical_and_cross_verify_with_derived_keys(int replica)
    {
        using var scheme = new Ed25519Scheme((uint)replica, SchemeKeys.Keys);
        using var verifier = new Ed25519Scheme(SchemeKeys.Client, SchemeKeys.Keys);
        for (byte salt = 0; salt < 4; salt++)
        {
            var (h, d) = AuthSchemeContract.Message(salt);
            var trailer = new byte[Ed25519Scheme.Length];
            scheme.Seal(h, d, 0, trailer);
            byte[] bcSig = trailer[2..];

            // BouncyCastle -> libsodium
            Assert.True(SchemeKeys.Keys.Signatures.Verify((uint)replica, Input(h, d), bcSig));

            // libsodium -> BouncyCastle
            var sodiumSig = new byte[ReplicaSignatures.SignatureSize];
            SchemeKeys.Keys.Signatures.Sign((uint)replica, Input(h, d), sodiumSig);
            Assert.Equal(sodiumSig, bcSig); // RFC 8032 is deterministic
            byte[] sodiumTrailer = [(byte)AuthenticatorKind.Ed25519Signature, 1, .. sodiumSig];
            Assert.Equal(AuthStatus.Ok, verifier.Verify((uint)replica, h, d, sodiumTrailer).Status);

            // a libsodium signature of other bytes fails at BouncyCastle, and vice versa
            SchemeKeys.Keys.Signatures.Sign((uint)replica, Input(d, h), sodiumSig);
            Assert.Equal(AuthStatus.BadAuthenticator, verifier.Verify((uint)replica, h, d, [(byte)AuthenticatorKind.Ed25519Signature, 1, .. sodiumSig]).Status);
            Assert.False(SchemeKeys.Keys.Signatures.Verify((uint)replica, Input(d, h), bcSig));
        }
    }

    [Fact]
    public void Explicit_keys_give_the_libsodium_public_key_and_cross_verify()
    {
        byte[] seed = Seed(5);
        var pks = new Dictionary<uint, byte[]> { [0] = ReplicaSignatures.PublicKeyOf(Seed(4)), [2] = ReplicaSignatures.PublicKeyOf(seed) };
        using var signer = new Ed25519Scheme(2, SchemeKeys.N, seed, pks);
        using var verifier = new Ed25519Scheme(0, SchemeKeys.N, Seed(4), pks);
        Assert.True(signer.CanSign);
        Assert.Equal(ReplicaSignatures.PublicKeyOf(seed), signer.OwnPublicKey.ToArray());

        var keys = new KeyStore(SchemeKeys.N, new Dictionary<(uint, uint), byte[]>(), new Dictionary<(uint, uint), byte[]>(),
            new Dictionary<uint, byte[]> { [2] = seed });
        var (h, d) = AuthSchemeContract.Message(9);
        var trailer = new byte[Ed25519Scheme.Length];
        signer.Seal(h, d, 0, trailer);
        Assert.Equal(AuthStatus.Ok, verifier.Verify(2, h, d, trailer).Status);
        Assert.True(keys.Signatures.Verify(2, Input(h, d), trailer[2..]));
        Assert.Equal(AuthStatus.BadAuthenticator, verifier.Verify(1, h, d, trailer).Status); // no key for replica 1
    }

    [Fact]
    public void A_verify_only_node_cannot_seal()
    {
        using var client = new Ed25519Scheme(SchemeKeys.Client, SchemeKeys.Keys);
        Assert.False(client.CanSign);
        Assert.Equal(AuthRole.Client, client.Role);
        Assert.True(client.OwnPublicKey.IsEmpty);
        var (h, d) = AuthSchemeContract.Message();
        Assert.Throws<InvalidOperationException>(() => client.Seal(h, d, 0, new byte[Ed25519Scheme.Length]));
        using var pkOnly = new Ed25519Scheme(1, SchemeKeys.N, [], new Dictionary<uint, byte[]> { [1] = ReplicaSignatures.PublicKeyOf(Seed(1)) });
        Assert.False(pkOnly.CanSign);
        Assert.True(pkOnly.IsTransferable);
    }

    /// <summary>
    /// A Byzantine replica can sign with R = the neutral point: S = k·a mod L satisfies the cofactorless equation
    /// [S]B = R + [k]A. BouncyCastle's raw Verify accepts it, libsodium 1.0.18 rejects it (small-order R).
    /// Ed25519Scheme rejects it too, so a replica using either library reaches the same verdict (HISTORY: if one
    /// correct replica accepts it, all must).
    /// </summary>
    [Fact]
    public void A_neutral_R_signature_is_rejected_as_libsodium_does()
    {
        byte[] seed = Seed(6);
        byte[] pk = ReplicaSignatures.PublicKeyOf(seed);
        var (h, d) = AuthSchemeContract.Message(5);
        byte[] m = Input(h, d);

        byte[] hs = SHA512.HashData(seed);
        hs[0] &= 248; hs[31] &= 127; hs[31] |= 64;
        var a = new System.Numerics.BigInteger(hs.AsSpan(0, 32), isUnsigned: true);
        var l = System.Numerics.BigInteger.Pow(2, 252) + System.Numerics.BigInteger.Parse("27742317777372353535851937790883648493");
        byte[] r = new byte[32]; r[0] = 1;
        var k = new System.Numerics.BigInteger(SHA512.HashData([.. r, .. pk, .. m]), isUnsigned: true) % l;
        byte[] sBytes = new byte[32];
        Assert.True((k * a % l).TryWriteBytes(sBytes, out _, isUnsigned: true));
        byte[] sig = [.. r, .. sBytes];

        Assert.True(Org.BouncyCastle.Math.EC.Rfc8032.Ed25519.Verify(sig, pk, m)); // the library alone accepts
        var keys = new KeyStore(SchemeKeys.N, new Dictionary<(uint, uint), byte[]>(), new Dictionary<(uint, uint), byte[]>(),
            new Dictionary<uint, byte[]> { [1] = seed });
        Assert.False(keys.Signatures.Verify(1, m, sig));                               // libsodium rejects
        using var scheme = new Ed25519Scheme(0, keys);
        Assert.Equal(AuthStatus.BadAuthenticator, scheme.Verify(1, h, d, [(byte)AuthenticatorKind.Ed25519Signature, 1, .. sig]).Status);
        sig[31] |= 0x80; // the same point with the sign bit set: not a valid encoding for either
        Assert.Equal(AuthStatus.BadAuthenticator, scheme.Verify(1, h, d, [(byte)AuthenticatorKind.Ed25519Signature, 1, .. sig]).Status);
        Assert.False(keys.Signatures.Verify(1, m, sig));
    }

    [Fact]
    public void An_invalid_public_key_is_dropped_and_never_verifies()
    {
        byte[] identity = new byte[32]; identity[0] = 1; // the neutral point: small order, rejected by full validation
        using var verifier = new Ed25519Scheme(0, SchemeKeys.N, [], new Dictionary<uint, byte[]> { [1] = identity });
        var (h, d) = AuthSchemeContract.Message();
        // R = B (the base point), S = 1: [1]B = R + [k]·identity holds, so this "verifies" under the identity key if it were accepted
        byte[] trailer = [(byte)AuthenticatorKind.Ed25519Signature, 1, .. Convert.FromHexString("5866666666666666666666666666666666666666666666666666666666666666"), .. new byte[32]];
        trailer[2 + 32] = 1;
        Assert.Equal(AuthStatus.BadAuthenticator, verifier.Verify(1, h, d, trailer).Status);
        Assert.Throws<ArgumentException>(() => new Ed25519Scheme(0, SchemeKeys.N, [], new Dictionary<uint, byte[]> { [9] = identity }));
        Assert.Throws<ArgumentException>(() => new Ed25519Scheme(0, SchemeKeys.N, new byte[31], new Dictionary<uint, byte[]>()));
    }
}

// ---------------------------------------------------------------------------------------------
// Kind 4: USIG certificate

public sealed class UsigCertificateSchemeContractTests : AuthSchemeContract
{
    protected override (IAuthScheme Sender, IAuthScheme Receiver) CreatePair() =>
        (new UsigCertificateScheme(new SoftwareUsig(1, SchemeKeys.UsigKey(), epoch: 5), ownsUsig: true),
         new UsigCertificateScheme(new SoftwareUsig(2, SchemeKeys.UsigKey(), epoch: 9), ownsUsig: true));
    protected override uint SenderId => 1;
    protected override uint ReceiverId => 2;
    protected override uint OtherSenderId => 3;
    protected override AuthenticatorKind ExpectedKind => AuthenticatorKind.UsigCertificate;
}

/// <summary>An <see cref="IUsig"/> wrapper that counts calls and can fail on demand (a device fault).</summary>
internal sealed class ScriptedUsig(IUsig inner) : IUsig
{
    public Exception? VerifyFault { get; set; }
    public Exception? CreateFault { get; set; }
    public int CreateUICalls { get; private set; }
    public int CreateUIsCalls { get; private set; }

    public uint Id => inner.Id;
    public ulong Epoch => inner.Epoch;

    public UniqueIdentifier CreateUI(ReadOnlySpan<byte> digest)
    {
        CreateUICalls++;
        if (CreateFault is not null) throw CreateFault;
        return inner.CreateUI(digest);
    }

    public int CreateUIs(ReadOnlySpan<byte> digests, Span<UniqueIdentifier> output)
    {
        CreateUIsCalls++;
        if (CreateFault is not null) { output.Clear(); throw CreateFault; }
        return inner.CreateUIs(digests, output);
    }

    public bool VerifyUI(uint replicaId, ReadOnlySpan<byte> digest, in UniqueIdentifier ui)
    {
        if (VerifyFault is not null) throw VerifyFault;
        return inner.VerifyUI(replicaId, digest, ui);
    }

    public void Dispose() => inner.Dispose();
}

public sealed class UsigCertificateSchemeTests
{
    private static UsigCertificateScheme Replica(uint id, ulong epoch, out ScriptedUsig usig)
    {
        usig = new ScriptedUsig(new SoftwareUsig(id, SchemeKeys.UsigKey(), epoch));
        return new UsigCertificateScheme(usig, ownsUsig: true);
    }

    public static TheoryData<int> Faults => new() { 0, 1, 2, 3, 4, 5 };

    private static Exception Fault(int i) => i switch
    {
        0 => new UsigTimeoutException("verify", 0x1, 0x2, 0x3, 50),
        1 => new UsigStuckBusyException("verify", 0x1, 0x2, 0x3, 50),
        2 => new UsigDeviceFaultedException(new UsigTimeoutException("earlier", 0, 0, 0, 50)),
        3 => new ArgumentException("digest"),
        4 => new ObjectDisposedException("usig"),
        _ => new InvalidOperationException("anything else from a device driver"),
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public void A_device_fault_during_verify_is_unavailable_never_an_exception(int fault)
    {
        using var sender = Replica(1, 5, out _);
        using var receiver = Replica(2, 9, out ScriptedUsig device);
        var (h, d) = AuthSchemeContract.Message();
        var t = new byte[UsigCertificateScheme.Length];
        sender.Seal(h, d, 0, t);
        device.VerifyFault = Fault(fault);
        AuthVerdict v = receiver.Verify(1, h, d, t);
        Assert.Equal(AuthStatus.Unavailable, v.Status);
        Assert.False(v.IsOk);
        Assert.False(v.HasUi);
        device.VerifyFault = null;
        Assert.Equal(AuthStatus.Ok, receiver.Verify(1, h, d, t).Status); // the device recovered
    }

    [Fact]
    public void A_device_fault_during_seal_throws_and_clears_the_trailer()
    {
        using var sender = Replica(1, 5, out ScriptedUsig device);
        device.CreateFault = new UsigTimeoutException("create", 0, 0, 0, 50);
        var (h, d) = AuthSchemeContract.Message();
        var t = new byte[UsigCertificateScheme.Length];
        Array.Fill(t, (byte)0xEE);
        Assert.Throws<UsigTimeoutException>(() => sender.Seal(h, d, 0, t));
        Assert.All(t, b => Assert.Equal(0, b));
    }

    [Fact]
    public void The_verdict_carries_the_verified_ui_with_consecutive_counters()
    {
        using var sender = Replica(1, 5, out _);
        using var receiver = Replica(2, 9, out _);
        for (ulong c = 1; c <= 4; c++)
        {
            var (h, d) = AuthSchemeContract.Message((byte)c);
            var t = new byte[UsigCertificateScheme.Length];
            sender.Seal(h, d, 0, t);
            AuthVerdict v = receiver.Verify(1, h, d, t);
            Assert.True(v.HasUi);
            Assert.Equal(5UL, v.Epoch);
            Assert.Equal(c, v.Counter);
            Assert.Equal(UniqueIdentifier.ReadFrom(t.AsSpan(2)), v.Ui);
        }
        Assert.False(default(AuthVerdict).IsOk);
        Assert.False(AuthVerdict.Ok.HasUi);
    }

    [Fact]
    public void The_certified_digest_is_sha256_of_header_and_authDigest()
    {
        using var usig = new SoftwareUsig(1, SchemeKeys.UsigKey(), epoch: 3);
        using var scheme = new UsigCertificateScheme(usig);
        var (h, d) = AuthSchemeContract.Message(4);
        var t = new byte[UsigCertificateScheme.Length];
        scheme.Seal(h, d, 0, t);
        byte[] expected = SHA256.HashData([.. h, .. d]);
        var digest = new byte[32];
        UsigCertificateScheme.CertifiedDigest(h, d, digest);
        Assert.Equal(expected, digest);
        Assert.True(usig.VerifyUI(1, expected, UniqueIdentifier.ReadFrom(t.AsSpan(2))));
        Assert.Equal(t[2..], WriteUi(UniqueIdentifier.ReadFrom(t.AsSpan(2))));
    }

    private static byte[] WriteUi(UniqueIdentifier ui) { var b = new byte[UniqueIdentifier.EncodedSize]; ui.WriteTo(b); return b; }

    [Fact]
    public void A_ui_with_counter_zero_is_rejected()
    {
        using var receiver = Replica(2, 9, out _);
        var (h, d) = AuthSchemeContract.Message();
        byte[] t = [(byte)AuthenticatorKind.UsigCertificate, 1, .. new byte[48]];
        Assert.Equal(AuthStatus.BadAuthenticator, receiver.Verify(1, h, d, t).Status);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5)]
    [InlineData(64)]
    [InlineData(300)]
    public void SealBatch_certifies_k_messages_with_one_CreateUIs_call(int k)
    {
        using var sender = Replica(1, 5, out ScriptedUsig device);
        using var receiver = Replica(2, 9, out _);
        const int H = Authenticator.HeaderSize;
        var headers = new byte[H * k];
        var digests = new byte[32 * k];
        new Random(k).NextBytes(headers);
        new Random(k + 1).NextBytes(digests);
        var trailers = new byte[UsigCertificateScheme.Length * k];
        Assert.Equal(k, sender.SealBatch(headers, digests, trailers));
        Assert.Equal(1, device.CreateUIsCalls);
        Assert.Equal(0, device.CreateUICalls);
        for (int i = 0; i < k; i++)
        {
            AuthVerdict v = receiver.Verify(1, headers.AsSpan(H * i, H), digests.AsSpan(32 * i, 32), trailers.AsSpan(50 * i, 50));
            Assert.Equal(AuthStatus.Ok, v.Status);
            Assert.Equal((ulong)(i + 1), v.Counter);
        }
        // the next single seal continues the sequence
        var (h, d) = AuthSchemeContract.Message();
        var t = new byte[50];
        sender.Seal(h, d, 0, t);
        Assert.Equal((ulong)(k + 1), receiver.Verify(1, h, d, t).Counter);
    }

    [Fact]
    public void SealBatch_edge_cases()
    {
        using var sender = Replica(1, 5, out ScriptedUsig device);
        Assert.Equal(0, sender.SealBatch([], [], []));
        Assert.Equal(0, device.CreateUIsCalls);
        const int H = Authenticator.HeaderSize;
        Assert.Throws<ArgumentException>(() => sender.SealBatch(new byte[H + 1], new byte[33], new byte[100]));
        Assert.Throws<ArgumentException>(() => sender.SealBatch(new byte[2 * H], new byte[32], new byte[100]));
        Assert.Throws<ArgumentException>(() => sender.SealBatch(new byte[2 * H], new byte[64], new byte[99]));
        device.CreateFault = new UsigDeviceFaultedException(new InvalidOperationException("gap"));
        var trailers = new byte[100];
        Array.Fill(trailers, (byte)0xEE);
        Assert.Throws<UsigDeviceFaultedException>(() => sender.SealBatch(new byte[2 * H], new byte[64], trailers));
        Assert.All(trailers, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Steady_state_SealBatch_allocates_nothing()
    {
        using var sender = new UsigCertificateScheme(new SoftwareUsig(1, SchemeKeys.UsigKey(), epoch: 5), ownsUsig: true);
        var headers = new byte[Authenticator.HeaderSize * 16];
        var digests = new byte[32 * 16];
        var trailers = new byte[50 * 16];
        for (int i = 0; i < 200; i++) sender.SealBatch(headers, digests, trailers);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 2000; i++) sender.SealBatch(headers, digests, trailers);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
