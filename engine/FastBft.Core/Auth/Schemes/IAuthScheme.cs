namespace FastBft.Auth;

/// <summary>
/// One way of authenticating a message: writes and checks the authenticator trailer
/// (<c>kind[1] ‖ count[1] ‖ entries</c>, docs/wire-format.md §2.2) over the 72-byte input
/// <c>header[40] ‖ authDigest[32]</c> (PROTOCOLS.md G2). Shaped after hyperledger-labs/minbft
/// <c>api.Authenticator</c>: an instance is bound to one local node (<see cref="SelfId"/>, <see cref="Role"/>)
/// and one trailer kind, and the caller chooses the scheme per message type (docs/authentication.md
/// "Authentication schemes").
/// <para>Implementations: <see cref="MacVectorScheme"/> (kind 1), <see cref="SingleMacScheme"/> (kind 2),
/// <see cref="Ed25519Scheme"/> (kind 3), <see cref="UsigCertificateScheme"/> (kind 4).</para>
/// <para>Contract: <see cref="Verify"/> never throws, whatever the input (malformed trailer, unknown
/// sender, device fault, disposed instance) — it returns an <see cref="AuthVerdict"/>.
/// <see cref="Seal"/> throws on caller errors (sizes, no key, no signing key) and on local failures
/// (USIG device). In steady state (per-peer state created) neither allocates, except
/// <see cref="Ed25519Scheme"/>, whose BouncyCastle primitive allocates a SHA-512 digest object per call
/// (measured in docs/authentication.md). Thread safety is per implementation (the MAC schemes are not
/// thread-safe, like <see cref="Authenticator"/>).</para>
/// </summary>
public interface IAuthScheme : IDisposable
{
    /// <summary>The trailer kind this scheme writes and accepts (the trailer's first byte).</summary>
    AuthenticatorKind Kind { get; }

    /// <summary>The local node's id: the sender of sealed messages, the receiver of verified ones.</summary>
    uint SelfId { get; }

    /// <summary>Whether the local node is a replica or a client.</summary>
    AuthRole Role { get; }

    /// <summary>True when a trailer that verifies at one correct node verifies at every correct node, so a
    /// message can be forwarded as evidence (signatures and USIG certificates; PROTOCOLS.md G4). False for MACs.</summary>
    bool IsTransferable { get; }

    /// <summary>Exact trailer length in bytes this scheme writes and accepts (for the MAC vector: 2 + 16·n for this cell's n).</summary>
    int TrailerLength { get; }

    /// <summary>
    /// Writes the trailer authenticating <paramref name="header32"/> ‖ <paramref name="authDigest32"/> into the
    /// first <see cref="TrailerLength"/> bytes of <paramref name="trailer"/>. The header must already carry
    /// <c>authLength</c> = <see cref="TrailerLength"/>.
    /// </summary>
    /// <param name="header32">The 40-byte message header (header v2).</param>
    /// <param name="authDigest32">The 32-byte authDigest (docs/wire-format.md §2.2).</param>
    /// <param name="receiver">The addressed node; used by <see cref="SingleMacScheme"/> only, ignored by the others.</param>
    /// <param name="trailer">Destination, at least <see cref="TrailerLength"/> bytes.</param>
    /// <exception cref="ArgumentException">Header or digest not 32 bytes, or destination too short.</exception>
    /// <exception cref="KeyNotFoundException">MAC schemes: no key shared with a receiver.</exception>
    /// <exception cref="InvalidOperationException">Ed25519: this node has no signing key.</exception>
    /// <exception cref="TrustedHw.UsigException">USIG: the trusted instance failed (the trailer is cleared).</exception>
    /// <exception cref="ObjectDisposedException">The scheme was disposed.</exception>
    void Seal(ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, uint receiver, Span<byte> trailer);

    /// <summary>
    /// Checks the trailer of a message from <paramref name="sender"/> (the header's sender field). The trailer must
    /// be exactly <see cref="TrailerLength"/> bytes. Never throws.
    /// </summary>
    /// <param name="sender">Claimed sender id.</param>
    /// <param name="header32">The 40-byte header as received.</param>
    /// <param name="authDigest32">The 32-byte authDigest the receiver computed.</param>
    /// <param name="trailer">The received trailer (the message's last authLength bytes).</param>
    AuthVerdict Verify(uint sender, ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, ReadOnlySpan<byte> trailer);
}
