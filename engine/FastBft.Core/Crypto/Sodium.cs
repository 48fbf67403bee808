using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastBft.Crypto;

/// <summary>
/// Thin P/Invoke binding to the Debian package <c>libsodium23</c> (libsodium 1.0.18,
/// <c>libsodium.so.23</c>). Only the entry points FastBft uses or benchmarks are bound. All
/// pointers are to pinned or stack memory; no marshalling, no allocation per call.
/// Call <see cref="EnsureAvailable"/> (or check <see cref="IsAvailable"/>) before any other member:
/// it runs <c>sodium_init</c>, which also selects libsodium's fastest implementation (AVX2 etc.).
/// </summary>
internal static unsafe partial class Sodium
{
    /// <summary>The shared-object name loaded through the platform's dynamic linker.</summary>
    public const string LibraryName = "libsodium.so.23";

    /// <summary>Output size of <c>crypto_shorthash_siphashx24</c> (SipHash-2-4, 128-bit output).</summary>
    public const int SipHashX24Bytes = 16;
    /// <summary>Key size of <c>crypto_shorthash_siphashx24</c>.</summary>
    public const int SipHashX24KeyBytes = 16;

    private static readonly Lazy<string?> InitError = new(Initialize, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>True when libsodium could be loaded and initialised in this process.</summary>
    public static bool IsAvailable => InitError.Value is null;

    /// <summary>Throws <see cref="PlatformNotSupportedException"/> naming the missing package unless libsodium is usable.</summary>
    /// <exception cref="PlatformNotSupportedException">libsodium.so.23 cannot be loaded or initialised.</exception>
    public static void EnsureAvailable()
    {
        string? error = InitError.Value;
        if (error is not null)
            throw new PlatformNotSupportedException(error);
    }

    private static string? Initialize()
    {
        try
        {
            if (!NativeLibrary.TryLoad(LibraryName, typeof(Sodium).Assembly, null, out _))
                return $"{LibraryName} could not be loaded: install the Debian package libsodium23 (apt-get install -y libsodium23) or choose MacAlgorithm.HmacSha256.";
            int rc = sodium_init();
            if (rc < 0)
                return $"sodium_init() failed ({rc}); libsodium is unusable in this process.";
            return null;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return $"{LibraryName} could not be loaded ({e.Message}): install the Debian package libsodium23 or choose MacAlgorithm.HmacSha256.";
        }
    }

    [LibraryImport(LibraryName)]
    private static partial int sodium_init();

    /// <summary>Ed25519 key pair from a 32-byte seed: pk[32], sk[64] (seed ‖ pk).</summary>
    [LibraryImport(LibraryName)]
    public static partial int crypto_sign_ed25519_seed_keypair(byte* pk, byte* sk, byte* seed);

    /// <summary>Ed25519 detached signature (RFC 8032): sig[64] over m with sk[64].</summary>
    [LibraryImport(LibraryName)]
    public static partial int crypto_sign_ed25519_detached(byte* sig, ulong* siglen, byte* m, ulong mlen, byte* sk);

    /// <summary>0 if sig[64] is a valid Ed25519 signature of m under pk[32], −1 otherwise.</summary>
    [LibraryImport(LibraryName)]
    public static partial int crypto_sign_ed25519_verify_detached(byte* sig, byte* m, ulong mlen, byte* pk);

    /// <summary>Keyed BLAKE2b (<c>crypto_generichash</c>): outlen 16..64, keylen 0 or 16..64.</summary>
    [LibraryImport(LibraryName), SuppressGCTransition]
    public static partial int crypto_generichash(byte* @out, nuint outlen, byte* @in, ulong inlen, byte* key, nuint keylen);

    /// <summary>Size in bytes of <c>crypto_generichash_state</c>.</summary>
    [LibraryImport(LibraryName)]
    public static partial nuint crypto_generichash_statebytes();

    [LibraryImport(LibraryName), SuppressGCTransition]
    public static partial int crypto_generichash_init(byte* state, byte* key, nuint keylen, nuint outlen);

    [LibraryImport(LibraryName), SuppressGCTransition]
    public static partial int crypto_generichash_update(byte* state, byte* @in, ulong inlen);

    [LibraryImport(LibraryName), SuppressGCTransition]
    public static partial int crypto_generichash_final(byte* state, byte* @out, nuint outlen);

    /// <summary>SipHash-2-4 with 128-bit output (<c>crypto_shorthash_siphashx24</c>), 16-byte key, 16-byte output.</summary>
    [LibraryImport(LibraryName), SuppressGCTransition]
    public static partial int crypto_shorthash_siphashx24(byte* @out, byte* @in, ulong inlen, byte* k);

    /// <summary>Size in bytes of <c>crypto_auth_hmacsha256_state</c> (inner and outer SHA-256 states).</summary>
    [LibraryImport(LibraryName)]
    public static partial nuint crypto_auth_hmacsha256_statebytes();

    [LibraryImport(LibraryName), SuppressGCTransition]
    public static partial int crypto_auth_hmacsha256_init(byte* state, byte* key, nuint keylen);

    [LibraryImport(LibraryName), SuppressGCTransition]
    public static partial int crypto_auth_hmacsha256_update(byte* state, byte* @in, ulong inlen);

    [LibraryImport(LibraryName), SuppressGCTransition]
    public static partial int crypto_auth_hmacsha256_final(byte* state, byte* @out);

    /// <summary>HMAC-SHA-512/256 one-shot (<c>crypto_auth_hmacsha512256</c>), 32-byte key, 32-byte output.</summary>
    [LibraryImport(LibraryName), SuppressGCTransition]
    public static partial int crypto_auth_hmacsha512256(byte* @out, byte* @in, ulong inlen, byte* k);

    /// <summary>Copies <paramref name="bytes"/> of state (used to clone a keyed hash state).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CopyState(byte* dst, byte* src, int bytes) => Unsafe.CopyBlockUnaligned(dst, src, (uint)bytes);
}
