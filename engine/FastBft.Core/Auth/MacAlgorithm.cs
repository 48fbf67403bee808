namespace FastBft.Auth;

/// <summary>
/// The MAC primitive behind an <see cref="Authenticator"/>. Every node of a cell must use the same
/// primitive: it is part of the cell's wire contract (docs/authentication.md §4), and a
/// <see cref="Default"/> never silently falls back to another primitive.
/// Every primitive takes the 72-byte MAC input <c>header[40] ‖ authDigest[32]</c> and yields a
/// 16-byte tag (<see cref="Authenticator.TagSize"/>).
/// </summary>
public enum MacAlgorithm
{
    /// <summary>
    /// The engine's default: <see cref="SipHash128"/>, chosen by the measurements in
    /// docs/authentication.md §5 (about 10× cheaper per MAC than HMAC-SHA-256 here). Needs the Debian
    /// package <c>libsodium23</c>; without it the <see cref="Authenticator"/> constructor throws
    /// <see cref="PlatformNotSupportedException"/> (no silent fallback: the primitive is part of the
    /// cell's wire contract). Cells that cannot install libsodium configure <see cref="HmacSha256"/>.
    /// </summary>
    Default = 0,

    /// <summary>
    /// HMAC-SHA-256 (RFC 2104, FIPS 198-1) from the .NET BCL (OpenSSL, SHA-NI where the CPU has it)
    /// with a reused per-peer instance; tag = first 16 bytes of the 32-byte output (RFC 2104 §5
    /// truncation). Key: the 32-byte session key. Always available.
    /// </summary>
    HmacSha256 = 1,

    /// <summary>
    /// Keyed BLAKE2b (RFC 7693) with a 16-byte digest length (BLAKE2b-128, the digest length is part
    /// of the parameter block, so this is not a truncation of BLAKE2b-512), from libsodium's
    /// <c>crypto_generichash</c>. Key: the 32-byte session key. Needs the Debian package
    /// <c>libsodium23</c>; the <see cref="Authenticator"/> constructor throws
    /// <see cref="PlatformNotSupportedException"/> without it.
    /// </summary>
    Blake2b128 = 2,

    /// <summary>
    /// SipHash-2-4 with 128-bit output (Aumasson–Bernstein 2012; libsodium's
    /// <c>crypto_shorthash_siphashx24</c>). Key: the first 16 bytes of the session key. Needs
    /// <c>libsodium23</c>; the <see cref="Authenticator"/> constructor throws
    /// <see cref="PlatformNotSupportedException"/> without it. A PRF designed to authenticate short
    /// inputs such as our 72-byte MAC input; see docs/authentication.md §5 for its security margin.
    /// </summary>
    SipHash128 = 3,
}
