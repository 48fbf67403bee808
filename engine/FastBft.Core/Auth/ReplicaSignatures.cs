using System.Security.Cryptography;
using FastBft.Crypto;

namespace FastBft.Auth;

/// <summary>
/// Ed25519 (RFC 8032) signatures of replicas, for the messages that must convince a third party
/// (docs/view-change.md "Authentication decision"): VIEW-CHANGE and NEW-VIEW, which a NEW-VIEW
/// embeds and any replica may forward. Primitive: libsodium's <c>crypto_sign_ed25519</c> (Debian
/// <c>libsodium23</c>, already required for the MACs) — measured 4–7× cheaper here than
/// BouncyCastle.Cryptography 2.7.0's Ed25519 (docs/authentication.md); the tests check that both give
/// byte-identical signatures (RFC 8032 signatures are deterministic).
/// <para>Keys: in a derived <see cref="KeyStore"/> each replica's 32-byte private seed is
/// HKDF-Expand(PRK, "FastBft-v1 ed25519(i)" ‖ u32le(i)) and its public key follows from it, so every
/// holder of the master secret could sign for every replica (tests, simulation, single-operator cells
/// only — as for the MAC keys). With explicit keys only the own seed and the peers' public keys are
/// given.</para>
/// Immutable and thread-safe after construction; signing and verification allocate nothing.
/// </summary>
public sealed class ReplicaSignatures
{
    /// <summary>Signature size in bytes.</summary>
    public const int SignatureSize = 64;
    /// <summary>Public key and private seed size in bytes.</summary>
    public const int KeySize = 32;

    internal static ReadOnlySpan<byte> SeedLabel => "FastBft-v1 ed25519(i)"u8;

    private readonly byte[]?[] _seeds;       // [replica] libsodium secret key seed ‖ pk (derived: all; explicit: own only)
    private readonly byte[]?[] _publicKeys;  // [replica]

    private ReplicaSignatures(int n)
    {
        _seeds = new byte[n][];
        _publicKeys = new byte[n][];
    }

    /// <summary>Derives every replica's key pair from the HKDF pseudo-random key of a derived <see cref="KeyStore"/>.</summary>
    internal static ReplicaSignatures Derive(ReadOnlySpan<byte> prk, int n)
    {
        var s = new ReplicaSignatures(n);
        Span<byte> info = stackalloc byte[SeedLabel.Length + 4];
        SeedLabel.CopyTo(info);
        for (int i = 0; i < n; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(info.Slice(SeedLabel.Length), (uint)i);
            var seed = new byte[KeySize];
            HKDF.Expand(HashAlgorithmName.SHA256, prk, seed, info);
            (s._publicKeys[i], s._seeds[i]) = KeyPair(seed);
            CryptographicOperations.ZeroMemory(seed);
        }
        return s;
    }

    /// <summary>Explicit keys: private seeds of the replicas this node signs for (normally its own) and every replica's public key.</summary>
    /// <exception cref="ArgumentException">an id ≥ n or a key that is not 32 bytes.</exception>
    internal static ReplicaSignatures Explicit(int n, IReadOnlyDictionary<uint, byte[]>? seeds, IReadOnlyDictionary<uint, byte[]>? publicKeys)
    {
        var s = new ReplicaSignatures(n);
        if (publicKeys is not null)
            foreach (var (id, pk) in publicKeys)
            {
                if (id >= (uint)n || pk is null || pk.Length != KeySize) throw new ArgumentException($"Ed25519 public key of replica {id}: id must be < {n} and the key {KeySize} bytes", nameof(publicKeys));
                s._publicKeys[id] = (byte[])pk.Clone();
            }
        if (seeds is not null)
            foreach (var (id, seed) in seeds)
            {
                if (id >= (uint)n || seed is null || seed.Length != KeySize) throw new ArgumentException($"Ed25519 seed of replica {id}: id must be < {n} and the seed {KeySize} bytes", nameof(seeds));
                var (pk, sk) = KeyPair(seed);
                s._seeds[id] = sk;
                s._publicKeys[id] ??= pk;
            }
        return s;
    }

    /// <summary>The Ed25519 public key (32 bytes) of a private seed (32 bytes).</summary>
    /// <exception cref="PlatformNotSupportedException">libsodium (Debian libsodium23) cannot be loaded.</exception>
    public static byte[] PublicKeyOf(ReadOnlySpan<byte> seed32) => KeyPair(seed32).PublicKey;

    private static unsafe (byte[] PublicKey, byte[] SecretKey) KeyPair(ReadOnlySpan<byte> seed32)
    {
        if (seed32.Length != KeySize) throw new ArgumentException($"an Ed25519 seed is {KeySize} bytes", nameof(seed32));
        Sodium.EnsureAvailable();
        var pk = new byte[KeySize];
        var sk = new byte[2 * KeySize];
        fixed (byte* p = pk) fixed (byte* k = sk) fixed (byte* sd = seed32) Sodium.crypto_sign_ed25519_seed_keypair(p, k, sd);
        return (pk, sk);
    }

    /// <summary>The replica count n these keys were made for.</summary>
    internal int ReplicaCount => _publicKeys.Length;

    /// <summary>Copies <paramref name="replica"/>'s 32-byte private seed into <paramref name="seed32"/> (for
    /// <see cref="Ed25519Scheme"/>, which signs the same keys with BouncyCastle); false when this node cannot sign as it.</summary>
    internal bool TryCopySeed(uint replica, Span<byte> seed32)
    {
        if (!CanSign(replica) || seed32.Length < KeySize) return false;
        _seeds[replica].AsSpan(0, KeySize).CopyTo(seed32); // libsodium sk = seed[32] ‖ pk[32]
        return true;
    }

    /// <summary>Copies <paramref name="replica"/>'s 32-byte public key into <paramref name="publicKey32"/>; false when unknown.</summary>
    internal bool TryCopyPublicKey(uint replica, Span<byte> publicKey32)
    {
        if (replica >= (uint)_publicKeys.Length || _publicKeys[replica] is not { } pk || publicKey32.Length < KeySize) return false;
        pk.CopyTo(publicKey32);
        return true;
    }

    /// <summary>True if this node can sign as <paramref name="replica"/>.</summary>
    public bool CanSign(uint replica) => replica < (uint)_seeds.Length && _seeds[replica] is not null;

    /// <summary>Signs <paramref name="data"/> as <paramref name="replica"/> into the 64 bytes of <paramref name="signature"/>.</summary>
    /// <exception cref="InvalidOperationException">no private key for <paramref name="replica"/>.</exception>
    /// <exception cref="ArgumentException"><paramref name="signature"/> shorter than 64 bytes.</exception>
    public void Sign(uint replica, ReadOnlySpan<byte> data, Span<byte> signature)
    {
        if (!CanSign(replica)) throw new InvalidOperationException($"no Ed25519 private key for replica {replica}");
        if (signature.Length < SignatureSize) throw new ArgumentException("signature destination shorter than 64 bytes", nameof(signature));
        unsafe
        {
            ulong len;
            fixed (byte* sig = signature) fixed (byte* m = data) fixed (byte* sk = _seeds[replica])
                Sodium.crypto_sign_ed25519_detached(sig, &len, m, (ulong)data.Length, sk);
        }
    }

    /// <summary>True if <paramref name="signature"/> (64 bytes) is <paramref name="replica"/>'s signature of <paramref name="data"/>. Never throws on bad input.</summary>
    public bool Verify(uint replica, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (replica >= (uint)_publicKeys.Length || _publicKeys[replica] is not { } pk || signature.Length != SignatureSize) return false;
        unsafe
        {
            fixed (byte* sig = signature) fixed (byte* m = data) fixed (byte* k = pk)
                return Sodium.crypto_sign_ed25519_verify_detached(sig, m, (ulong)data.Length, k) == 0;
        }
    }
}
