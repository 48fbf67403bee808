namespace FastBft.Auth;

/// <summary>
/// Kind 2, single MAC for the one addressed node (e.g. a REPLY to its client) behind <see cref="IAuthScheme"/>:
/// a thin wrapper over <see cref="Authenticator.WriteSingle"/> / <see cref="Authenticator.VerifySingle"/>, so the
/// trailer bytes are exactly <c>2 ‖ 1 ‖ tag[16]</c>, 18 bytes, as <see cref="Authenticator"/> writes them.
/// <para>Seal uses the receiver argument: the tag is under the key shared with it. <see cref="IsTransferable"/> is false.</para>
/// <para><b>Not thread-safe</b> (as <see cref="Authenticator"/>): one instance per thread. Steady state allocates nothing.</para>
/// </summary>
public sealed class SingleMacScheme : IAuthScheme
{
    private readonly Authenticator _auth;
    private readonly bool _ownsAuthenticator;
    private bool _disposed;

    /// <summary>Wraps an existing authenticator (may be shared with a <see cref="MacVectorScheme"/> on the same thread).</summary>
    /// <param name="authenticator">The local node's authenticator.</param>
    /// <param name="ownsAuthenticator">True to dispose <paramref name="authenticator"/> with this scheme.</param>
    /// <exception cref="ArgumentNullException"><paramref name="authenticator"/> is null.</exception>
    public SingleMacScheme(Authenticator authenticator, bool ownsAuthenticator = false)
    {
        ArgumentNullException.ThrowIfNull(authenticator);
        _auth = authenticator;
        _ownsAuthenticator = ownsAuthenticator;
        Role = authenticator.SelfId < (uint)authenticator.ReplicaCount ? AuthRole.Replica : AuthRole.Client;
    }

    /// <summary>Creates (and owns) an <see cref="Authenticator"/> for <paramref name="selfId"/>; see its constructor for the exceptions.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="keys"/> is null.</exception>
    /// <exception cref="PlatformNotSupportedException">The primitive needs libsodium and it cannot be loaded.</exception>
    public SingleMacScheme(uint selfId, KeyStore keys, MacAlgorithm algorithm = MacAlgorithm.Default)
        : this(new Authenticator(selfId, keys, algorithm), ownsAuthenticator: true)
    {
    }

    /// <inheritdoc />
    public AuthenticatorKind Kind => AuthenticatorKind.SingleMac;

    /// <inheritdoc />
    public uint SelfId => _auth.SelfId;

    /// <inheritdoc />
    public AuthRole Role { get; }

    /// <inheritdoc />
    public bool IsTransferable => false;

    /// <summary>Always <see cref="Authenticator.SingleLength"/> = 18 bytes.</summary>
    public int TrailerLength => Authenticator.SingleLength;

    /// <summary>Writes the single MAC for <paramref name="receiver"/> (<see cref="Authenticator.WriteSingle"/>).</summary>
    /// <exception cref="ArgumentException">Wrong input sizes or a short destination.</exception>
    /// <exception cref="KeyNotFoundException">No key is shared with <paramref name="receiver"/>.</exception>
    /// <exception cref="ObjectDisposedException">The scheme or its authenticator was disposed.</exception>
    public void Seal(ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, uint receiver, Span<byte> trailer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _auth.WriteSingle(receiver, header32, authDigest32, trailer);
    }

    /// <summary>Checks the tag under the key shared with <paramref name="sender"/> (<see cref="Authenticator.VerifySingle"/>). Never throws.</summary>
    public AuthVerdict Verify(uint sender, ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, ReadOnlySpan<byte> trailer)
    {
        if (_disposed) return AuthVerdict.Unavailable;
        if (header32.Length != Authenticator.HeaderSize || authDigest32.Length != Authenticator.DigestSize
            || trailer.Length != Authenticator.SingleLength
            || trailer[0] != (byte)AuthenticatorKind.SingleMac || trailer[1] != 1)
            return AuthVerdict.Malformed;
        try
        {
            return _auth.VerifySingle(sender, header32, authDigest32, trailer) ? AuthVerdict.Ok : AuthVerdict.BadAuthenticator;
        }
        catch (Exception)
        {
            return AuthVerdict.Unavailable;
        }
    }

    /// <summary>Disposes the authenticator if this scheme owns it. Later: Seal throws, Verify returns Unavailable.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_ownsAuthenticator) _auth.Dispose();
    }
}
