namespace FastBft.Auth;

/// <summary>
/// Kind 1, replica vector (PBFT-PR §4.1 authenticator) behind <see cref="IAuthScheme"/>: a thin wrapper over
/// <see cref="Authenticator.WriteVector"/> / <see cref="Authenticator.VerifyVector"/>, so the trailer bytes are
/// exactly the ones <see cref="Authenticator"/> writes: <c>1 ‖ n ‖ tag[16] × n</c>, 2 + 16·n bytes.
/// <para>Seal ignores the receiver (every replica gets its entry). Verify needs a replica self; a client self
/// gets <see cref="AuthStatus.BadAuthenticator"/> (it has no entry). A MAC convinces only its receiver:
/// <see cref="IsTransferable"/> is false.</para>
/// <para><b>Not thread-safe</b> (as <see cref="Authenticator"/>): one instance per thread. Steady state allocates nothing.</para>
/// </summary>
public sealed class MacVectorScheme : IAuthScheme
{
    private readonly Authenticator _auth;
    private readonly bool _ownsAuthenticator;
    private bool _disposed;

    /// <summary>Wraps an existing authenticator (may be shared with a <see cref="SingleMacScheme"/> on the same thread).</summary>
    /// <param name="authenticator">The local node's authenticator.</param>
    /// <param name="ownsAuthenticator">True to dispose <paramref name="authenticator"/> with this scheme.</param>
    /// <exception cref="ArgumentNullException"><paramref name="authenticator"/> is null.</exception>
    public MacVectorScheme(Authenticator authenticator, bool ownsAuthenticator = false)
    {
        ArgumentNullException.ThrowIfNull(authenticator);
        _auth = authenticator;
        _ownsAuthenticator = ownsAuthenticator;
        TrailerLength = Authenticator.VectorLength(authenticator.ReplicaCount);
        Role = authenticator.SelfId < (uint)authenticator.ReplicaCount ? AuthRole.Replica : AuthRole.Client;
    }

    /// <summary>Creates (and owns) an <see cref="Authenticator"/> for <paramref name="selfId"/>; see its constructor for the exceptions.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="keys"/> is null.</exception>
    /// <exception cref="PlatformNotSupportedException">The primitive needs libsodium and it cannot be loaded.</exception>
    public MacVectorScheme(uint selfId, KeyStore keys, MacAlgorithm algorithm = MacAlgorithm.Default)
        : this(new Authenticator(selfId, keys, algorithm), ownsAuthenticator: true)
    {
    }

    /// <inheritdoc />
    public AuthenticatorKind Kind => AuthenticatorKind.ReplicaVector;

    /// <inheritdoc />
    public uint SelfId => _auth.SelfId;

    /// <inheritdoc />
    public AuthRole Role { get; }

    /// <inheritdoc />
    public bool IsTransferable => false;

    /// <summary>2 + 16·n bytes.</summary>
    public int TrailerLength { get; }

    /// <summary>Writes the replica vector (<see cref="Authenticator.WriteVector"/>); <paramref name="receiver"/> is ignored.</summary>
    /// <exception cref="ArgumentException">Wrong input sizes or a short destination.</exception>
    /// <exception cref="KeyNotFoundException">No key for some replica (explicit keys only).</exception>
    /// <exception cref="ObjectDisposedException">The scheme or its authenticator was disposed.</exception>
    public void Seal(ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, uint receiver, Span<byte> trailer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _auth.WriteVector(header32, authDigest32, trailer);
    }

    /// <summary>Checks the vector entry for <see cref="SelfId"/> and that the sending replica's own entry is zero
    /// (<see cref="Authenticator.VerifyVector"/>). Entries for other replicas are not (cannot be) checked. Never throws.</summary>
    public AuthVerdict Verify(uint sender, ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, ReadOnlySpan<byte> trailer)
    {
        if (_disposed) return AuthVerdict.Unavailable;
        if (header32.Length != Authenticator.HeaderSize || authDigest32.Length != Authenticator.DigestSize
            || trailer.Length != TrailerLength
            || trailer[0] != (byte)AuthenticatorKind.ReplicaVector || trailer[1] != (byte)_auth.ReplicaCount)
            return AuthVerdict.Malformed;
        try
        {
            return _auth.VerifyVector(sender, header32, authDigest32, trailer) ? AuthVerdict.Ok : AuthVerdict.BadAuthenticator;
        }
        catch (Exception)
        {
            return AuthVerdict.Unavailable; // Authenticator does not throw on input; anything here is a local failure
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
