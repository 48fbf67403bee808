using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace FastBft.Crypto;

/// <summary>
/// SHA-256 of short inputs through OpenSSL's one-shot <c>SHA256()</c> (libcrypto.so.3, which .NET on
/// Linux loads anyway). <see cref="SHA256.HashData(ReadOnlySpan{byte}, Span{byte})"/> goes through the
/// EVP layer with a context allocation, an error-queue clear and a free per call, which costs more
/// than hashing the 72-byte inputs of the request path itself (docs/benchmark-results.md). The
/// digests are the same bytes (tested against the BCL). Falls back to the BCL when libcrypto.so.3
/// cannot be loaded, and for inputs above <see cref="MaxDirect"/> bytes.
/// </summary>
internal static unsafe partial class OpenSslSha256
{
    /// <summary>Largest input hashed directly (the call suppresses the GC transition, so it must stay short).</summary>
    public const int MaxDirect = 4096;

    private static readonly bool Available = Probe();

    [LibraryImport("libcrypto.so.3", EntryPoint = "SHA256")]
    [SuppressGCTransition]
    private static partial byte* NativeSha256(byte* data, nuint length, byte* digest);

    private static bool Probe()
    {
        try
        {
            byte* d = stackalloc byte[32];
            byte x = 0x61;
            NativeSha256(&x, 1, d);
            // SHA-256("a") = ca978112…
            return d[0] == 0xca && d[1] == 0x97 && d[2] == 0x81 && d[3] == 0x12;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return false;
        }
    }

    /// <summary>Writes SHA-256(<paramref name="data"/>) into the first 32 bytes of <paramref name="digest"/>.</summary>
    /// <exception cref="ArgumentException"><paramref name="digest"/> shorter than 32 bytes.</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Hash(ReadOnlySpan<byte> data, Span<byte> digest)
    {
        if (!Available || data.Length > MaxDirect) { SHA256.HashData(data, digest); return; }
        if (digest.Length < 32) throw new ArgumentException("digest destination shorter than 32 bytes", nameof(digest));
        byte empty = 0;
        fixed (byte* p = data)
        fixed (byte* o = digest)
            NativeSha256(data.IsEmpty ? &empty : p, (nuint)data.Length, o);
    }
}
