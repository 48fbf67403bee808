using FastBft.Auth;

namespace FastBft.Wire;

/// <summary>
/// Builds one outgoing message at a time in a reusable buffer: header, body, authenticator trailer
/// (docs/wire-format.md §2). Not thread-safe; one per protocol thread. Allocation-free once the
/// buffer has grown to the largest message built.
/// </summary>
public sealed class MessageBuilder
{
    private byte[] _buffer;
    private MessageHeader _header;
    private readonly Authenticator _auth;
    private readonly int _replicaCount;

    /// <summary>Creates a builder that authenticates as <paramref name="auth"/>.SelfId for a cell of <paramref name="replicaCount"/> replicas.</summary>
    public MessageBuilder(Authenticator auth, int replicaCount, int initialCapacity = 64 * 1024)
    {
        _auth = auth;
        _replicaCount = replicaCount;
        _buffer = new byte[initialCapacity];
    }

    /// <summary>Protocol family written into every header (default PBFT).</summary>
    public ProtocolFamily Family { get; set; } = ProtocolFamily.Pbft;
    /// <summary>Protocol generation p written into every header (PROTOCOLS.md §5.1; 0 in PBFT).</summary>
    public ulong Generation { get; set; }

    /// <summary>Starts a message whose trailer is a replica vector (n MAC entries). Returns the body span to fill (exactly <paramref name="bodyLength"/> bytes).</summary>
    public Span<byte> BeginVector(MessageType type, ulong view, ulong sequence, int bodyLength)
        => Begin(type, view, sequence, bodyLength, Authenticator.VectorLength(_replicaCount));

    /// <summary>Starts a message whose trailer is a single MAC. Returns the body span to fill.</summary>
    public Span<byte> BeginSingle(MessageType type, ulong view, ulong sequence, int bodyLength)
        => Begin(type, view, sequence, bodyLength, Authenticator.SingleLength);

    /// <summary>Starts a message whose trailer <paramref name="scheme"/> writes (Ed25519 signature, USIG certificate; docs/authentication.md §9). Returns the body span to fill.</summary>
    public Span<byte> Begin(MessageType type, ulong view, ulong sequence, int bodyLength, IAuthScheme scheme)
        => Begin(type, view, sequence, bodyLength, scheme.TrailerLength);

    /// <summary>Seals the message begun with <see cref="Begin(MessageType, ulong, ulong, int, IAuthScheme)"/> by <paramref name="scheme"/> over AuthBody(body); returns the complete message (valid until the next Begin*).</summary>
    /// <exception cref="FastBft.TrustedHw.UsigException">a USIG scheme's device failed (nothing is returned).</exception>
    public ReadOnlySpan<byte> Seal(IAuthScheme scheme, uint receiver = uint.MaxValue)
    {
        Span<byte> d = stackalloc byte[Digests.Size];
        Digests.AuthBody(Body, d);
        scheme.Seal(_buffer.AsSpan(0, MessageHeader.Size), d, receiver, _buffer.AsSpan(MessageHeader.Size + _header.BodyLength, _header.AuthLength));
        return _buffer.AsSpan(0, _header.TotalLength);
    }

    private Span<byte> Begin(MessageType type, ulong view, ulong sequence, int bodyLength, int authLength)
    {
        _header = new MessageHeader(type, _auth.SelfId, view, sequence, bodyLength, authLength, Family, Generation);
        int total = _header.TotalLength;
        if (_buffer.Length < total) _buffer = new byte[Math.Max(total, _buffer.Length * 2)];
        _header.Write(_buffer);
        return _buffer.AsSpan(MessageHeader.Size, bodyLength);
    }

    /// <summary>The 40-byte header of the message being built (after Begin*; RePBFT endorses header ‖ D(batch)).</summary>
    public ReadOnlySpan<byte> Header => _buffer.AsSpan(0, MessageHeader.Size);

    /// <summary>The body of the message being built (after Begin*).</summary>
    public Span<byte> Body => _buffer.AsSpan(MessageHeader.Size, _header.BodyLength);

    /// <summary>Seals a vector message with authDigest = AuthBody(body) (Digests.AuthBody) and returns the complete message (valid until the next Begin*).</summary>
    public ReadOnlySpan<byte> SealVector()
    {
        Span<byte> d = stackalloc byte[Digests.Size];
        Digests.AuthBody(Body, d);
        return SealVector(d);
    }

    /// <summary>Seals a vector message with an explicit authDigest (PRE-PREPARE: the batch digest).</summary>
    public ReadOnlySpan<byte> SealVector(scoped ReadOnlySpan<byte> authDigest)
    {
        var header = _buffer.AsSpan(0, MessageHeader.Size);
        _auth.WriteVector(header, authDigest, _buffer.AsSpan(MessageHeader.Size + _header.BodyLength, _header.AuthLength));
        return _buffer.AsSpan(0, _header.TotalLength);
    }

    /// <summary>
    /// Signs header ‖ body-without-its-last-64-bytes with this replica's Ed25519 key into those last 64
    /// bytes (VIEW-CHANGE, NEW-VIEW; docs/view-change.md), then seals a vector message. Returns the
    /// complete message (valid until the next Begin*).
    /// </summary>
    /// <exception cref="InvalidOperationException">this node has no Ed25519 private key.</exception>
    public ReadOnlySpan<byte> SealSignedVector()
    {
        int signed = MessageHeader.Size + _header.BodyLength - ReplicaSignatures.SignatureSize;
        _auth.Signatures.Sign(_auth.SelfId, _buffer.AsSpan(0, signed), _buffer.AsSpan(signed, ReplicaSignatures.SignatureSize));
        return SealVector();
    }

    /// <summary>Seals a single-MAC message for <paramref name="receiver"/> with authDigest = AuthBody(body) (Digests.AuthBody).</summary>
    public ReadOnlySpan<byte> SealSingle(uint receiver)
    {
        Span<byte> d = stackalloc byte[Digests.Size];
        Digests.AuthBody(Body, d);
        var header = _buffer.AsSpan(0, MessageHeader.Size);
        _auth.WriteSingle(receiver, header, d, _buffer.AsSpan(MessageHeader.Size + _header.BodyLength, _header.AuthLength));
        return _buffer.AsSpan(0, _header.TotalLength);
    }
}
