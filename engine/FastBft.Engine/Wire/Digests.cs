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

    /// <summary>SHA-256 of <paramref name="data"/> into <paramref name="dest"/> (32 bytes).</summary>
    public static void Sha256(ReadOnlySpan<byte> data, Span<byte> dest) => SHA256.HashData(data, dest);

    /// <summary>
    /// Request digest D(req) = SHA-256(header[32] ‖ SHA-256(body)) of a REQUEST message
    /// (PROTOCOLS.md G1; the inner body digest is also the request's MAC input, so the body is hashed once).
    /// </summary>
    /// <param name="header">the request's 32-byte header.</param>
    /// <param name="bodyDigest">SHA-256 of the request body (32 bytes).</param>
    /// <param name="dest">32-byte output.</param>
    public static void Request(ReadOnlySpan<byte> header, ReadOnlySpan<byte> bodyDigest, Span<byte> dest)
    {
        Span<byte> buf = stackalloc byte[MessageHeader.Size + Size];
        header.Slice(0, MessageHeader.Size).CopyTo(buf);
        bodyDigest.Slice(0, Size).CopyTo(buf.Slice(MessageHeader.Size));
        SHA256.HashData(buf, dest);
    }

    /// <summary>
    /// Batch digest D(batch) = SHA-256(D(req₁) ‖ … ‖ D(req_k)) over the concatenated 32-byte request
    /// digests (PROTOCOLS.md G1).
    /// </summary>
    public static void Batch(ReadOnlySpan<byte> concatenatedRequestDigests, Span<byte> dest) => SHA256.HashData(concatenatedRequestDigests, dest);
}
