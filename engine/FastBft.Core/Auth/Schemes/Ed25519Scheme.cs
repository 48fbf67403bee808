using System.Security.Cryptography;
using Org.BouncyCastle.Math.EC.Rfc8032;

namespace FastBft.Auth;

/// <summary>
/// Kind 3, Ed25519 signature (RFC 8032, pure Ed25519, no context) of the sending replica over the 72-byte
/// <c>header[40] ‖ authDigest[32]</c>, on <b>BouncyCastle.Cryptography</b> (managed; static
/// <c>Org.BouncyCastle.Math.EC.Rfc8032.Ed25519</c> API with a pre-expanded private key and pre-decoded public
/// points). For messages that must convince a third party: RePBFT CHECKPOINT and HISTORY (PROTOCOLS.md §2.3,
/// §5.1, G4). <see cref="IsTransferable"/> is true.
/// <para>Trailer (66 bytes): <c>kind 3 ‖ count 1 ‖ signature[64]</c>.</para>
/// <para>Keys: the same Ed25519 key pairs as <see cref="ReplicaSignatures"/> (<see cref="KeyStore.Signatures"/>;
/// derived mode: seed of replica i = HKDF-Expand(PRK, "FastBft-v1 ed25519(i)" ‖ u32le(i), 32),
/// docs/authentication.md §8). Ed25519 is deterministic, so this scheme's signatures are byte-identical to
/// libsodium's (<see cref="ReplicaSignatures.Sign"/>) and each library verifies the other's (tested).</para>
/// <para>Only replicas sign: a node without its own seed (a client, or a replica given only public keys) can
/// verify but <see cref="Seal"/> throws. The signer is the sender; a node may verify its own signatures.</para>
/// <para>Immutable after construction and thread-safe. BouncyCastle allocates a SHA-512 digest object per sign
/// and per verify (measured in docs/authentication.md "Authentication schemes"); libsodium
/// (<see cref="ReplicaSignatures"/>) is several times cheaper and allocation-free.</para>
/// </summary>
public sealed class Ed25519Scheme : IAuthScheme
{
    /// <summary>Signature size in bytes (64).</summary>
    public const int SignatureSize = 64;

    /// <summary>Trailer length in bytes: 2 + 64 = 66.</summary>
    public const int Length = Authenticator.TrailerHeaderSize + SignatureSize;

    private const int InputSize = Authenticator.HeaderSize + Authenticator.DigestSize;

    private readonly byte[]? _expandedKey;                 // 64 bytes: SHA-512(seed), BouncyCastle "expanded key"
    private readonly byte[]? _ownPublicKey;                // 32 bytes
    private readonly Ed25519.PublicPoint?[] _publicPoints;  // [replica] validated, decoded public key; null = unknown/invalid
    private bool _disposed;

    /// <summary>Uses the key pairs of <paramref name="keys"/>.<see cref="KeyStore.Signatures"/>: signs as
    /// <paramref name="selfId"/> if that store holds its seed, verifies every replica whose public key it holds.</summary>
    /// <param name="selfId">The local node id (replica id &lt; n, or a client id ≥ n that only verifies).</param>
    /// <param name="keys">The cell's key store.</param>
    /// <exception cref="ArgumentNullException"><paramref name="keys"/> is null.</exception>
    public Ed25519Scheme(uint selfId, KeyStore keys)
        : this(selfId, (keys ?? throw new ArgumentNullException(nameof(keys))).Signatures)
    {
    }

    /// <summary>Uses the key pairs of <paramref name="signatures"/> (the libsodium key holder; same seeds, same keys).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="signatures"/> is null.</exception>
    public Ed25519Scheme(uint selfId, ReplicaSignatures signatures)
    {
        ArgumentNullException.ThrowIfNull(signatures);
        int n = signatures.ReplicaCount;
        SelfId = selfId;
        Role = selfId < (uint)n ? AuthRole.Replica : AuthRole.Client;
        _publicPoints = new Ed25519.PublicPoint?[n];
        Span<byte> key = stackalloc byte[ReplicaSignatures.KeySize];
        for (uint i = 0; i < (uint)n; i++)
            if (signatures.TryCopyPublicKey(i, key))
                _publicPoints[i] = Ed25519.ValidatePublicKeyFullExport(key);
        try
        {
            if (signatures.TryCopySeed(selfId, key))
                (_expandedKey, _ownPublicKey) = Expand(key);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Explicit keys, independent of a <see cref="KeyStore"/>.</summary>
    /// <param name="selfId">The local node id.</param>
    /// <param name="replicaCount">n, 1..<see cref="KeyStore.MaxReplicas"/>.</param>
    /// <param name="ownSeed32">The local replica's 32-byte private seed, or empty for a verify-only node.</param>
    /// <param name="publicKeys">32-byte public keys by replica id (&lt; n); copied. A key that is not a valid
    /// prime-order point is dropped (that replica's signatures never verify).</param>
    /// <exception cref="ArgumentNullException"><paramref name="publicKeys"/> is null.</exception>
    /// <exception cref="ArgumentException">A seed that is neither empty nor 32 bytes, an id ≥ n, or a key that is not 32 bytes.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="replicaCount"/> out of range.</exception>
    public Ed25519Scheme(uint selfId, int replicaCount, ReadOnlySpan<byte> ownSeed32, IReadOnlyDictionary<uint, byte[]> publicKeys)
    {
        ArgumentNullException.ThrowIfNull(publicKeys);
        if (replicaCount < 1 || replicaCount > KeyStore.MaxReplicas)
            throw new ArgumentOutOfRangeException(nameof(replicaCount), replicaCount, $"replica count must be 1..{KeyStore.MaxReplicas}");
        if (!ownSeed32.IsEmpty && ownSeed32.Length != ReplicaSignatures.KeySize)
            throw new ArgumentException($"the seed must be empty or {ReplicaSignatures.KeySize} bytes", nameof(ownSeed32));
        SelfId = selfId;
        Role = selfId < (uint)replicaCount ? AuthRole.Replica : AuthRole.Client;
        _publicPoints = new Ed25519.PublicPoint?[replicaCount];
        foreach (var (id, pk) in publicKeys)
        {
            if (id >= (uint)replicaCount || pk is null || pk.Length != ReplicaSignatures.KeySize)
                throw new ArgumentException($"Ed25519 public key of replica {id}: id must be < {replicaCount} and the key {ReplicaSignatures.KeySize} bytes", nameof(publicKeys));
            _publicPoints[id] = Ed25519.ValidatePublicKeyFullExport(pk);
        }
        if (!ownSeed32.IsEmpty)
            (_expandedKey, _ownPublicKey) = Expand(ownSeed32);
    }

    private static (byte[] ExpandedKey, byte[] PublicKey) Expand(ReadOnlySpan<byte> seed32)
    {
        var xk = new byte[Ed25519.ExpandedKey.ExpandedKeySize];
        Ed25519.ExpandedKey.ExpandPrivateKey(seed32, xk);
        var pk = new byte[Ed25519.PublicKeySize];
        Ed25519.ExpandedKey.GeneratePublicKey(xk, pk);
        return (xk, pk);
    }

    /// <inheritdoc />
    public AuthenticatorKind Kind => AuthenticatorKind.Ed25519Signature;

    /// <inheritdoc />
    public uint SelfId { get; }

    /// <inheritdoc />
    public AuthRole Role { get; }

    /// <inheritdoc />
    public bool IsTransferable => true;

    /// <summary>Always <see cref="Length"/> = 66 bytes.</summary>
    public int TrailerLength => Length;

    /// <summary>True when this node holds the seed of <see cref="SelfId"/> and can <see cref="Seal"/>.</summary>
    public bool CanSign => _expandedKey is not null;

    /// <summary>The 32-byte public key of <see cref="SelfId"/> derived from its seed, or empty when <see cref="CanSign"/> is false.</summary>
    public ReadOnlySpan<byte> OwnPublicKey => _ownPublicKey;

    /// <summary>Writes <c>3 ‖ 1 ‖ Ed25519-Sign(seed(self), header32 ‖ authDigest32)</c>; <paramref name="receiver"/> is ignored.</summary>
    /// <exception cref="ArgumentException">Header or digest not 32 bytes, or a destination shorter than 66 bytes.</exception>
    /// <exception cref="InvalidOperationException">No private seed for <see cref="SelfId"/>.</exception>
    /// <exception cref="ObjectDisposedException">The scheme was disposed.</exception>
    public void Seal(ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, uint receiver, Span<byte> trailer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (header32.Length != Authenticator.HeaderSize) throw new ArgumentException($"header32 must be exactly {Authenticator.HeaderSize} bytes", nameof(header32));
        if (authDigest32.Length != Authenticator.DigestSize) throw new ArgumentException("authDigest32 must be exactly 32 bytes", nameof(authDigest32));
        if (trailer.Length < Length) throw new ArgumentException($"trailer destination must be at least {Length} bytes", nameof(trailer));
        if (_expandedKey is null) throw new InvalidOperationException($"node {SelfId} has no Ed25519 private key");
        Span<byte> input = stackalloc byte[InputSize];
        header32.CopyTo(input);
        authDigest32.CopyTo(input.Slice(Authenticator.HeaderSize));
        trailer[0] = (byte)AuthenticatorKind.Ed25519Signature;
        trailer[1] = 1;
        Ed25519.ExpandedKey.Sign(_expandedKey, _ownPublicKey, input, trailer.Slice(Authenticator.TrailerHeaderSize, SignatureSize));
    }

    /// <summary>Checks the signature under <paramref name="sender"/>'s public key: RFC 8032 cofactorless verification
    /// as BouncyCastle implements it (canonical S &lt; L, canonical decodable R), plus the rejection of R = the neutral
    /// point, which libsodium 1.0.18 rejects (small-order R) and BouncyCastle accepts. A signer knowing its key can make
    /// such a signature valid under the cofactorless equation; rejecting it keeps this scheme's verdict equal to
    /// <see cref="ReplicaSignatures.Verify"/>'s, so replicas using either library agree (docs/authentication.md §9).
    /// Unknown sender or no public key: <see cref="AuthStatus.BadAuthenticator"/>. Never throws.</summary>
    public AuthVerdict Verify(uint sender, ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, ReadOnlySpan<byte> trailer)
    {
        if (_disposed) return AuthVerdict.Unavailable;
        if (header32.Length != Authenticator.HeaderSize || authDigest32.Length != Authenticator.DigestSize
            || trailer.Length != Length
            || trailer[0] != (byte)AuthenticatorKind.Ed25519Signature || trailer[1] != 1)
            return AuthVerdict.Malformed;
        if (sender >= (uint)_publicPoints.Length || _publicPoints[sender] is not { } point) return AuthVerdict.BadAuthenticator;
        if (IsIdentityEncoding(trailer.Slice(Authenticator.TrailerHeaderSize, 32))) return AuthVerdict.BadAuthenticator;
        Span<byte> input = stackalloc byte[InputSize];
        header32.CopyTo(input);
        authDigest32.CopyTo(input.Slice(Authenticator.HeaderSize));
        try
        {
            return Ed25519.Verify(trailer.Slice(Authenticator.TrailerHeaderSize, SignatureSize), point, input)
                ? AuthVerdict.Ok : AuthVerdict.BadAuthenticator;
        }
        catch (Exception)
        {
            return AuthVerdict.BadAuthenticator; // the library rejected the encoding; not a local failure
        }
    }

    /// <summary>True for the encodings of the neutral point (0, 1): y = 1, either sign bit.</summary>
    private static bool IsIdentityEncoding(ReadOnlySpan<byte> r32) =>
        r32[0] == 1 && (r32[31] & 0x7F) == 0 && r32.Slice(1, 30).IndexOfAnyExcept((byte)0) < 0;

    /// <summary>Wipes the expanded private key. Later: Seal throws, Verify returns Unavailable.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_expandedKey is not null) CryptographicOperations.ZeroMemory(_expandedKey);
    }
}
