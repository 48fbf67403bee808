using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using FastBft.Crypto;

namespace FastBft.Auth;

/// <summary>
/// One keyed MAC state (one key, one primitive). Created once per peer and direction, reused for
/// every message; <see cref="Compute"/> allocates nothing. Not thread-safe.
/// </summary>
internal abstract class MacFunction : IDisposable
{
    /// <summary>MAC input size in bytes: header[40] ‖ authDigest[32].</summary>
    public const int InputSize = Authenticator.HeaderSize + Authenticator.DigestSize;   // 72: header v2 ‖ authDigest

    /// <summary>Computes the 16-byte tag of <paramref name="input"/> into <paramref name="tag"/> (≥ 16 bytes).</summary>
    public abstract void Compute(ReadOnlySpan<byte> input, Span<byte> tag);

    /// <summary>Releases native state and wipes key copies.</summary>
    public virtual void Dispose() { }

    /// <summary>Resolves <see cref="MacAlgorithm.Default"/> to a concrete primitive.</summary>
    public static MacAlgorithm Resolve(MacAlgorithm algorithm) => algorithm switch
    {
        MacAlgorithm.Default => MacAlgorithm.SipHash128,
        MacAlgorithm.HmacSha256 or MacAlgorithm.Blake2b128 or MacAlgorithm.SipHash128 => algorithm,
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "unknown MAC algorithm"),
    };

    /// <summary>Throws unless the primitive can run in this process (libsodium present for the libsodium ones).</summary>
    public static void EnsureSupported(MacAlgorithm resolved)
    {
        if (resolved is MacAlgorithm.Blake2b128 or MacAlgorithm.SipHash128)
            Sodium.EnsureAvailable();
    }

    /// <summary>Creates a MAC state for a resolved algorithm and a 32-byte session key.</summary>
    public static MacFunction Create(MacAlgorithm resolved, ReadOnlySpan<byte> key) => resolved switch
    {
        MacAlgorithm.HmacSha256 => new HmacSha256Mac(key),
        MacAlgorithm.Blake2b128 => new Blake2b128Mac(key),
        MacAlgorithm.SipHash128 => new SipHash128Mac(key),
        _ => throw new ArgumentOutOfRangeException(nameof(resolved), resolved, "unresolved MAC algorithm"),
    };
}

/// <summary>HMAC-SHA-256 with a reused BCL <see cref="HMACSHA256"/> instance, truncated to 16 bytes.</summary>
internal sealed class HmacSha256Mac : MacFunction
{
    private readonly HMACSHA256 _hmac;

    public HmacSha256Mac(ReadOnlySpan<byte> key)
    {
        byte[] k = key.ToArray();
        _hmac = new HMACSHA256(k);
        CryptographicOperations.ZeroMemory(k);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public override void Compute(ReadOnlySpan<byte> input, Span<byte> tag)
    {
        Span<byte> full = stackalloc byte[32];
        _hmac.TryComputeHash(input, full, out _);
        full.Slice(0, Authenticator.TagSize).CopyTo(tag);
    }

    public override void Dispose() => _hmac.Dispose();
}

/// <summary>Keyed BLAKE2b with 16-byte output via libsodium <c>crypto_generichash</c>.</summary>
internal sealed unsafe class Blake2b128Mac : MacFunction
{
    private readonly byte[] _key; // pinned (POH): its address is stable for the object's lifetime

    public Blake2b128Mac(ReadOnlySpan<byte> key)
    {
        Sodium.EnsureAvailable();
        _key = GC.AllocateUninitializedArray<byte>(key.Length, pinned: true);
        key.CopyTo(_key);
    }

    public override void Compute(ReadOnlySpan<byte> input, Span<byte> tag)
    {
        fixed (byte* i = input)
        fixed (byte* t = tag)
        fixed (byte* k = _key)
        {
            Sodium.crypto_generichash(t, (nuint)Authenticator.TagSize, i, (ulong)input.Length, k, (nuint)_key.Length);
        }
    }

    public override void Dispose() => CryptographicOperations.ZeroMemory(_key);
}

/// <summary>SipHash-2-4-128 via libsodium <c>crypto_shorthash_siphashx24</c>; key = first 16 bytes of the session key.</summary>
internal sealed unsafe class SipHash128Mac : MacFunction
{
    private readonly byte[] _key;

    public SipHash128Mac(ReadOnlySpan<byte> key)
    {
        Sodium.EnsureAvailable();
        _key = GC.AllocateUninitializedArray<byte>(Sodium.SipHashX24KeyBytes, pinned: true);
        key.Slice(0, Sodium.SipHashX24KeyBytes).CopyTo(_key);
    }

    public override void Compute(ReadOnlySpan<byte> input, Span<byte> tag)
    {
        fixed (byte* i = input)
        fixed (byte* t = tag)
        fixed (byte* k = _key)
        {
            Sodium.crypto_shorthash_siphashx24(t, i, (ulong)input.Length, k);
        }
    }

    public override void Dispose() => CryptographicOperations.ZeroMemory(_key);
}
