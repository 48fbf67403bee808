using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace FastBft.Transport;

/// <summary>Kind byte of a transport frame (docs/wire-format.md §1).</summary>
public enum FrameKind : byte
{
    /// <summary>Not a valid frame header (bad magic, version, kind or reserved bytes, or too short).</summary>
    Invalid = 0,
    /// <summary>One or more whole messages.</summary>
    Bundle = 1,
    /// <summary>One fragment of a large message.</summary>
    Fragment = 2,
}

/// <summary>Parsed header of a fragment frame (docs/wire-format.md §1), already validated.</summary>
public readonly struct FragmentHeader
{
    /// <summary>Sender node id (not authenticated).</summary>
    public readonly uint Sender;
    /// <summary>Destination node id (not authenticated).</summary>
    public readonly uint Destination;
    /// <summary>Message id, unique per sender over the reassembly timeout.</summary>
    public readonly uint MessageId;
    /// <summary>Length (bytes) of the whole message.</summary>
    public readonly int TotalLength;
    /// <summary>0-based fragment index.</summary>
    public readonly int Index;
    /// <summary>Number of fragments (≥ 2).</summary>
    public readonly int Count;
    /// <summary>Offset (bytes) of this fragment's payload in the message; equals Index × FragmentSize.</summary>
    public readonly int Offset;
    /// <summary>Payload size (bytes) of every fragment but the last, derived from this fragment.</summary>
    public readonly int FragmentSize;

    /// <summary>Creates a header value.</summary>
    public FragmentHeader(uint sender, uint destination, uint messageId, int totalLength, int index, int count, int offset, int fragmentSize)
    {
        Sender = sender; Destination = destination; MessageId = messageId; TotalLength = totalLength;
        Index = index; Count = count; Offset = offset; FragmentSize = fragmentSize;
    }
}

/// <summary>
/// Encoder and strict validating decoder of transport frames: bundles and fragments
/// (docs/wire-format.md §1). Allocation-free; decoders never throw on bad input.
/// </summary>
public static class FrameCodec
{
    /// <summary>Frame magic 0xFB7F (little-endian on the wire).</summary>
    public const ushort Magic = 0xFB7F;
    /// <summary>Frame format version.</summary>
    public const byte Version = 1;
    /// <summary>Size (bytes) of the common frame header.</summary>
    public const int FrameHeaderSize = 8;
    /// <summary>Size (bytes) of a bundle entry header (sender, destination, length).</summary>
    public const int BundleEntryHeaderSize = 12;
    /// <summary>Size (bytes) of the fragment header that follows the frame header.</summary>
    public const int FragmentHeaderSize = 24;
    /// <summary>Frame header plus fragment header (bytes): the overhead of one fragment datagram.</summary>
    public const int FragmentOverhead = FrameHeaderSize + FragmentHeaderSize;
    /// <summary>Most fragments one message may have (the count field is 16 bits).</summary>
    public const int MaxFragmentCount = ushort.MaxValue;

    /// <summary>Largest message (bytes) that fits in a bundle of one datagram of <paramref name="maxDatagramSize"/> bytes.</summary>
    public static int MaxBundledMessage(int maxDatagramSize) => maxDatagramSize - FrameHeaderSize - BundleEntryHeaderSize;

    /// <summary>Payload bytes carried per fragment datagram of <paramref name="maxDatagramSize"/> bytes.</summary>
    public static int FragmentPayloadSize(int maxDatagramSize) => maxDatagramSize - FragmentOverhead;

    /// <summary>Writes the 8-byte frame header.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> shorter than 8 bytes.</exception>
    public static void WriteFrameHeader(Span<byte> destination, FrameKind kind)
    {
        if (destination.Length < FrameHeaderSize) throw new ArgumentException("buffer shorter than the frame header", nameof(destination));
        BinaryPrimitives.WriteUInt16LittleEndian(destination, Magic);
        destination[2] = Version;
        destination[3] = (byte)kind;
        BinaryPrimitives.WriteUInt32LittleEndian(destination.Slice(4), 0);
    }

    /// <summary>Writes one bundle entry (12-byte header and the message) at the start of <paramref name="destination"/>.</summary>
    /// <returns>Bytes written: 12 + message length.</returns>
    /// <exception cref="ArgumentException">empty message, or <paramref name="destination"/> too short.</exception>
    public static int WriteBundleEntry(Span<byte> destination, uint sender, uint nodeDestination, ReadOnlySpan<byte> message)
    {
        if (message.IsEmpty) throw new ArgumentException("message must not be empty", nameof(message));
        int n = BundleEntryHeaderSize + message.Length;
        if (destination.Length < n) throw new ArgumentException("buffer too short for the entry", nameof(destination));
        BinaryPrimitives.WriteUInt32LittleEndian(destination, sender);
        BinaryPrimitives.WriteUInt32LittleEndian(destination.Slice(4), nodeDestination);
        BinaryPrimitives.WriteInt32LittleEndian(destination.Slice(8), message.Length);
        message.CopyTo(destination.Slice(BundleEntryHeaderSize));
        return n;
    }

    /// <summary>Writes a complete fragment datagram (frame header, fragment header, payload).</summary>
    /// <returns>Datagram length in bytes: 32 + payload length.</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> too short.</exception>
    public static int WriteFragment(Span<byte> destination, uint sender, uint nodeDestination, uint messageId, int totalLength,
        int index, int count, int offset, ReadOnlySpan<byte> payload)
    {
        int n = FragmentOverhead + payload.Length;
        if (destination.Length < n) throw new ArgumentException("buffer too short for the fragment", nameof(destination));
        WriteFrameHeader(destination, FrameKind.Fragment);
        Span<byte> h = destination.Slice(FrameHeaderSize);
        BinaryPrimitives.WriteUInt32LittleEndian(h, sender);
        BinaryPrimitives.WriteUInt32LittleEndian(h.Slice(4), nodeDestination);
        BinaryPrimitives.WriteUInt32LittleEndian(h.Slice(8), messageId);
        BinaryPrimitives.WriteInt32LittleEndian(h.Slice(12), totalLength);
        BinaryPrimitives.WriteUInt16LittleEndian(h.Slice(16), (ushort)index);
        BinaryPrimitives.WriteUInt16LittleEndian(h.Slice(18), (ushort)count);
        BinaryPrimitives.WriteInt32LittleEndian(h.Slice(20), offset);
        payload.CopyTo(h.Slice(FragmentHeaderSize));
        return n;
    }

    /// <summary>Checks the 8-byte frame header; returns its kind or <see cref="FrameKind.Invalid"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static FrameKind ReadFrameHeader(ReadOnlySpan<byte> datagram)
    {
        if (datagram.Length < FrameHeaderSize) return FrameKind.Invalid;
        if (BinaryPrimitives.ReadUInt16LittleEndian(datagram) != Magic || datagram[2] != Version) return FrameKind.Invalid;
        if (BinaryPrimitives.ReadUInt32LittleEndian(datagram.Slice(4)) != 0) return FrameKind.Invalid;
        byte k = datagram[3];
        return k == (byte)FrameKind.Bundle ? FrameKind.Bundle : k == (byte)FrameKind.Fragment ? FrameKind.Fragment : FrameKind.Invalid;
    }

    /// <summary>
    /// Validates a whole bundle datagram: header, at least one entry, every entry complete with
    /// 1 ≤ length ≤ <paramref name="maxMessageSize"/>, no trailing bytes. Returns the entry count, or 0 if malformed.
    /// </summary>
    public static int ValidateBundle(ReadOnlySpan<byte> datagram, int maxMessageSize)
    {
        if (ReadFrameHeader(datagram) != FrameKind.Bundle) return 0;
        int pos = FrameHeaderSize;
        int entries = 0;
        while (pos < datagram.Length)
        {
            if (datagram.Length - pos < BundleEntryHeaderSize) return 0;
            int len = BinaryPrimitives.ReadInt32LittleEndian(datagram.Slice(pos + 8));
            if (len < 1 || len > maxMessageSize || len > datagram.Length - pos - BundleEntryHeaderSize) return 0;
            pos += BundleEntryHeaderSize + len;
            entries++;
        }
        return entries;
    }

    /// <summary>
    /// Reads the entry at <paramref name="position"/> of a bundle that <see cref="ValidateBundle"/> accepted
    /// and advances <paramref name="position"/> (start with <see cref="FrameHeaderSize"/>). Returns false at the end.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool NextValidatedEntry(ReadOnlySpan<byte> datagram, ref int position, out uint sender, out uint destination, out ReadOnlySpan<byte> message)
    {
        if (position + BundleEntryHeaderSize > datagram.Length)
        {
            sender = 0; destination = 0; message = default;
            return false;
        }
        ReadOnlySpan<byte> e = datagram.Slice(position);
        sender = BinaryPrimitives.ReadUInt32LittleEndian(e);
        destination = BinaryPrimitives.ReadUInt32LittleEndian(e.Slice(4));
        int len = BinaryPrimitives.ReadInt32LittleEndian(e.Slice(8));
        message = e.Slice(BundleEntryHeaderSize, len);
        position += BundleEntryHeaderSize + len;
        return true;
    }

    /// <summary>
    /// Parses and validates a fragment datagram on its own: header, 2 ≤ count, index &lt; count,
    /// count ≤ total ≤ <paramref name="maxMessageSize"/>, non-empty payload, and the fragment-size rule
    /// (every fragment but the last carries S bytes at offset index × S; the last carries 1..S bytes and
    /// ends exactly at the total). Returns false (never throws) if anything disagrees.
    /// </summary>
    public static bool TryReadFragment(ReadOnlySpan<byte> datagram, int maxMessageSize, out FragmentHeader header, out ReadOnlySpan<byte> payload)
    {
        header = default;
        payload = default;
        if (datagram.Length <= FragmentOverhead || ReadFrameHeader(datagram) != FrameKind.Fragment) return false;
        ReadOnlySpan<byte> h = datagram.Slice(FrameHeaderSize);
        uint sender = BinaryPrimitives.ReadUInt32LittleEndian(h);
        uint dest = BinaryPrimitives.ReadUInt32LittleEndian(h.Slice(4));
        uint msgId = BinaryPrimitives.ReadUInt32LittleEndian(h.Slice(8));
        int total = BinaryPrimitives.ReadInt32LittleEndian(h.Slice(12));
        int index = BinaryPrimitives.ReadUInt16LittleEndian(h.Slice(16));
        int count = BinaryPrimitives.ReadUInt16LittleEndian(h.Slice(18));
        int offset = BinaryPrimitives.ReadInt32LittleEndian(h.Slice(20));
        int len = datagram.Length - FragmentOverhead;
        if (count < 2 || index >= count || total < count || total > maxMessageSize || offset < 0) return false;
        if ((long)offset + len > total) return false; // overrun
        int s;
        if (index < count - 1)
        {
            s = len;
            if ((long)index * s != offset) return false;
            // (count-1)·S < total ≤ count·S: the last fragment carries 1..S bytes.
            if ((long)(count - 1) * s >= total || (long)count * s < total) return false;
        }
        else
        {
            if (offset % (count - 1) != 0) return false;
            s = offset / (count - 1);
            if (s < len || (long)offset + len != total) return false;
        }
        header = new FragmentHeader(sender, dest, msgId, total, index, count, offset, s);
        payload = datagram.Slice(FragmentOverhead);
        return true;
    }
}
