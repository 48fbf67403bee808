using System.Security.Cryptography;

namespace FastBft.Wire;

/// <summary>
/// SHA-256 digests used by the protocols (docs/wire-format.md §2.3). All outputs are 32 bytes.
/// Allocation-free: every method writes into a caller-provided span.
/// </summary>
public static class Digests
{
    /// <summary>Digest size in bytes.</summary>
    public const int Size = 32;

    /// <summary>Bodies up to this many bytes are their own body digest (zero-padded), see <see cref="AuthBody"/>.</summary>
    public const int InlineBodyLimit = 32;

    /// <summary>
    /// The body digest that authenticators and request digests cover (docs/wire-format.md §2.2):
    /// a body of at most 32 bytes is copied and zero-padded to 32 bytes; a longer body is hashed with
    /// SHA-256. Unambiguous because the MAC input's header carries the body length, and it saves one
    /// SHA-256 call (≈ 0.4 µs here, mostly OpenSSL per-call overhead) for every PREPARE, COMMIT,
    /// CHECKPOINT, STATUS and small REQUEST.
    /// </summary>
    public static void AuthBody(ReadOnlySpan<byte> body, Span<byte> dest)
    {
        if (body.Length <= InlineBodyLimit)
        {
            var d = dest.Slice(0, Size);
            body.CopyTo(d);
            d.Slice(body.Length).Clear();
        }
        else FastBft.Crypto.OpenSslSha256.Hash(body, dest);
    }

    /// <summary>SHA-256 of <paramref name="data"/> into <paramref name="dest"/> (32 bytes).</summary>
    public static void Sha256(ReadOnlySpan<byte> data, Span<byte> dest) => FastBft.Crypto.OpenSslSha256.Hash(data, dest);

    /// <summary>
    /// Request digest D(req) = SHA-256(header[40] ‖ AuthBody(body)) of a REQUEST message
    /// (PROTOCOLS.md G1; the body digest is also the request's MAC input, so the body is hashed once).
    /// </summary>
    /// <param name="header">the request's 40-byte header.</param>
    /// <param name="bodyDigest">the request body's <see cref="AuthBody"/> digest (32 bytes).</param>
    /// <param name="dest">32-byte output.</param>
    public static void Request(ReadOnlySpan<byte> header, ReadOnlySpan<byte> bodyDigest, Span<byte> dest)
    {
        Span<byte> buf = stackalloc byte[MessageHeader.Size + Size];
        header.Slice(0, MessageHeader.Size).CopyTo(buf);
        bodyDigest.Slice(0, Size).CopyTo(buf.Slice(MessageHeader.Size));
        FastBft.Crypto.OpenSslSha256.Hash(buf, dest);
    }

    /// <summary>
    /// Batch digest D(batch) = SHA-256(D(req₁) ‖ … ‖ D(req_k)) over the concatenated 32-byte request
    /// digests (PROTOCOLS.md G1).
    /// </summary>
    public static void Batch(ReadOnlySpan<byte> concatenatedRequestDigests, Span<byte> dest) => FastBft.Crypto.OpenSslSha256.Hash(concatenatedRequestDigests, dest);
}
