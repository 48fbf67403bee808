using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace FastBft.Wire;

/// <summary>
/// The fixed 40-byte little-endian header (wire version 2) that starts every FastBft message
/// (docs/wire-format.md §1):
/// <code>
/// off size field
///   0    2 magic        0xFB42
///   2    1 version      2
///   3    1 type         MessageType
///   4    4 sender       replica id (0..n-1) or client id
///   8    8 view         view v (REQUEST: 0; REPLY: the replica's view)
///  16    8 sequence     sequence number s; REQUEST/REPLY: the client's request id (timestamp t)
///  24    4 bodyLength   bytes of body that follow the header
///  28    2 authLength   bytes of authenticator trailer after the body
///  30    1 family       protocol family of the cell (<see cref="ProtocolFamily"/>; a message of another family is dropped)
///  31    1 flags        0 in version 2 (non-zero ⇒ malformed)
///  32    8 generation   protocol generation p (PROTOCOLS.md §5.1: RePBFT/ReMinBFT switch; a core drops messages of an older generation; always 0 in PBFT)
/// </code>
/// A message is exactly header ‖ body[bodyLength] ‖ authenticator[authLength]. The whole header is
/// authenticated (it is the first part of every MAC, signature and USIG input).
/// </summary>
public readonly struct MessageHeader
{
    /// <summary>Header size in bytes.</summary>
    public const int Size = 40;
    /// <summary>Magic number (little-endian on the wire: 0x42 0xFB).</summary>
    public const ushort Magic = 0xFB42;
    /// <summary>Wire-format version written and accepted.</summary>
    public const byte CurrentVersion = 2;

    /// <summary>Message type.</summary>
    public readonly MessageType Type;
    /// <summary>Sender id (replica or client).</summary>
    public readonly uint Sender;
    /// <summary>View number.</summary>
    public readonly ulong View;
    /// <summary>Sequence number, or request id for REQUEST/REPLY.</summary>
    public readonly ulong Sequence;
    /// <summary>Body length in bytes.</summary>
    public readonly int BodyLength;
    /// <summary>Authenticator trailer length in bytes.</summary>
    public readonly int AuthLength;
    /// <summary>Protocol family the message belongs to.</summary>
    public readonly ProtocolFamily Family;
    /// <summary>Protocol generation p (PROTOCOLS.md §5.1).</summary>
    public readonly ulong Generation;

    /// <summary>Creates a header value.</summary>
    public MessageHeader(MessageType type, uint sender, ulong view, ulong sequence, int bodyLength, int authLength,
        ProtocolFamily family = ProtocolFamily.Pbft, ulong generation = 0)
    {
        Type = type; Sender = sender; View = view; Sequence = sequence; BodyLength = bodyLength; AuthLength = authLength;
        Family = family; Generation = generation;
    }

    /// <summary>Total message length (header + body + authenticator) in bytes.</summary>
    public int TotalLength => Size + BodyLength + AuthLength;

    /// <summary>Writes the header into the first 40 bytes of <paramref name="dest"/>.</summary>
    /// <exception cref="ArgumentException">dest shorter than 40 bytes.</exception>
    public void Write(Span<byte> dest)
    {
        if (dest.Length < Size) throw new ArgumentException("destination shorter than the 40-byte header", nameof(dest));
        BinaryPrimitives.WriteUInt16LittleEndian(dest, Magic);
        dest[2] = CurrentVersion;
        dest[3] = (byte)Type;
        BinaryPrimitives.WriteUInt32LittleEndian(dest.Slice(4), Sender);
        BinaryPrimitives.WriteUInt64LittleEndian(dest.Slice(8), View);
        BinaryPrimitives.WriteUInt64LittleEndian(dest.Slice(16), Sequence);
        BinaryPrimitives.WriteInt32LittleEndian(dest.Slice(24), BodyLength);
        BinaryPrimitives.WriteUInt16LittleEndian(dest.Slice(28), (ushort)AuthLength);
        dest[30] = (byte)Family;
        dest[31] = 0;
        BinaryPrimitives.WriteUInt64LittleEndian(dest.Slice(32), Generation);
    }

    /// <summary>
    /// Parses and validates a header in place. Never throws: returns a <see cref="ParseStatus"/>
    /// other than <see cref="ParseStatus.Ok"/> for bad magic, version, unknown type, unknown family,
    /// non-zero flags, a body above <paramref name="maxBodyLength"/>, or a total length that differs from
    /// <paramref name="message"/>.Length.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ParseStatus TryParse(ReadOnlySpan<byte> message, int maxBodyLength, out MessageHeader header)
    {
        header = default;
        if (message.Length < Size) return ParseStatus.Truncated;
        if (BinaryPrimitives.ReadUInt16LittleEndian(message) != Magic) return ParseStatus.BadMagic;
        if (message[2] != CurrentVersion) return ParseStatus.BadVersion;
        var type = (MessageType)message[3];
        if (!MessageTypes.IsKnown(type)) return ParseStatus.UnknownType;
        if (message[30] == 0 || message[30] > (byte)ProtocolFamily.Highest || message[31] != 0) return ParseStatus.BadField;
        int body = BinaryPrimitives.ReadInt32LittleEndian(message.Slice(24));
        int auth = BinaryPrimitives.ReadUInt16LittleEndian(message.Slice(28));
        if (body < 0 || body > maxBodyLength) return ParseStatus.Oversized;
        if ((long)Size + body + auth != message.Length)
            return (long)Size + body + auth > message.Length ? ParseStatus.Truncated : ParseStatus.BadLength;
        header = new MessageHeader(type,
            BinaryPrimitives.ReadUInt32LittleEndian(message.Slice(4)),
            BinaryPrimitives.ReadUInt64LittleEndian(message.Slice(8)),
            BinaryPrimitives.ReadUInt64LittleEndian(message.Slice(16)),
            body, auth, (ProtocolFamily)message[30], BinaryPrimitives.ReadUInt64LittleEndian(message.Slice(32)));
        return ParseStatus.Ok;
    }

    /// <summary>
    /// Parses a header on its own (the 40 bytes of an endorsed message kept in an abort history, docs/repbft.md §3): the
    /// same field checks as <see cref="TryParse"/> except that the body and trailer are not present. Never throws.
    /// </summary>
    public static bool TryParseAlone(ReadOnlySpan<byte> header40, out MessageHeader header)
    {
        header = default;
        if (header40.Length != Size || BinaryPrimitives.ReadUInt16LittleEndian(header40) != Magic || header40[2] != CurrentVersion) return false;
        var type = (MessageType)header40[3];
        if (!MessageTypes.IsKnown(type) || header40[30] == 0 || header40[30] > (byte)ProtocolFamily.Highest || header40[31] != 0) return false;
        int body = BinaryPrimitives.ReadInt32LittleEndian(header40.Slice(24));
        if (body < 0) return false;
        header = new MessageHeader(type, BinaryPrimitives.ReadUInt32LittleEndian(header40.Slice(4)), BinaryPrimitives.ReadUInt64LittleEndian(header40.Slice(8)),
            BinaryPrimitives.ReadUInt64LittleEndian(header40.Slice(16)), body, BinaryPrimitives.ReadUInt16LittleEndian(header40.Slice(28)),
            (ProtocolFamily)header40[30], BinaryPrimitives.ReadUInt64LittleEndian(header40.Slice(32)));
        return true;
    }

    /// <summary>The body slice of a message whose header parsed as <paramref name="h"/>.</summary>
    public static ReadOnlySpan<byte> Body(ReadOnlySpan<byte> message, in MessageHeader h) => message.Slice(Size, h.BodyLength);

    /// <summary>The authenticator trailer slice of a message whose header parsed as <paramref name="h"/>.</summary>
    public static ReadOnlySpan<byte> Authenticator(ReadOnlySpan<byte> message, in MessageHeader h) => message.Slice(Size + h.BodyLength, h.AuthLength);
}

/// <summary>Outcome of parsing a message or part of one. Everything but Ok means "drop and count".</summary>
public enum ParseStatus : byte
{
    /// <summary>Well-formed.</summary>
    Ok = 0,
    /// <summary>Shorter than its declared lengths.</summary>
    Truncated,
    /// <summary>Wrong magic number.</summary>
    BadMagic,
    /// <summary>Unsupported wire version.</summary>
    BadVersion,
    /// <summary>Unknown message type.</summary>
    UnknownType,
    /// <summary>Body longer than the configured maximum.</summary>
    Oversized,
    /// <summary>Longer than its declared lengths (trailing bytes).</summary>
    BadLength,
    /// <summary>A field holds a value the format forbids (reserved bits, counts, padding).</summary>
    BadField,
    /// <summary>Authenticator missing, of the wrong kind or size, or its MAC entry does not verify.</summary>
    BadAuthenticator,
    /// <summary>Sender id is not allowed for this message type (e.g. a client sending COMMIT).</summary>
    BadSender,
    /// <summary>A digest inside the message does not match its content.</summary>
    BadDigest,
    /// <summary>An Ed25519 signature (VIEW-CHANGE, NEW-VIEW, or one embedded in a NEW-VIEW) does not verify.</summary>
    BadSignature,
    /// <summary>The message belongs to another protocol family than the receiving cell's.</summary>
    WrongProtocol,
    /// <summary>A trusted-counter (USIG) certificate could not be checked (device fault or timeout); the message may be retransmitted.</summary>
    Unavailable,
}
