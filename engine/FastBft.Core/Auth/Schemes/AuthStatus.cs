namespace FastBft.Auth;

/// <summary>
/// Outcome of <see cref="IAuthScheme.Verify"/>. Only <see cref="Ok"/> accepts. The value 0 is not a
/// member, so <c>default(AuthVerdict)</c> never reads as accepted.
/// </summary>
public enum AuthStatus : byte
{
    /// <summary>The trailer authenticates header ‖ authDigest as coming from the claimed sender.</summary>
    Ok = 1,
    /// <summary>Well-formed trailer whose MAC, signature or certificate does not match (tampering, wrong
    /// sender, unknown sender, no key shared with it, a non-zero own entry in a MAC vector).</summary>
    BadAuthenticator = 2,
    /// <summary>The trailer does not have this scheme's shape: wrong length (empty, truncated, oversized),
    /// wrong kind byte, wrong count byte, or a header/authDigest that is not 32 bytes.</summary>
    Malformed = 3,
    /// <summary>The local verifier could not decide: USIG device fault or timeout, a disposed scheme, or any other
    /// local failure. Not evidence against the sender; the message may be retried or retransmitted later.</summary>
    Unavailable = 4,
}
