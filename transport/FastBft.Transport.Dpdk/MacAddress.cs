using System.Buffers.Binary;
using System.Globalization;

namespace FastBft.Transport.Dpdk;

/// <summary>A 48-bit Ethernet MAC address; <see cref="Value"/> holds the six bytes in wire order
/// (first byte most significant).</summary>
public readonly record struct MacAddress(ulong Value)
{
    /// <summary>ff:ff:ff:ff:ff:ff.</summary>
    public static readonly MacAddress Broadcast = new(0xFFFF_FFFF_FFFFUL);

    /// <summary>True for group (multicast or broadcast) addresses.</summary>
    public bool IsMulticast => (Value >> 40 & 1) != 0;

    /// <summary>Reads six bytes in wire order.</summary>
    public static MacAddress Read(ReadOnlySpan<byte> six) =>
        new((ulong)BinaryPrimitives.ReadUInt16BigEndian(six) << 32 | BinaryPrimitives.ReadUInt32BigEndian(six[2..]));

    /// <summary>Writes the six bytes in wire order.</summary>
    public void Write(Span<byte> six)
    {
        BinaryPrimitives.WriteUInt16BigEndian(six, (ushort)(Value >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(six[2..], (uint)Value);
    }

    /// <summary>Parses "aa:bb:cc:dd:ee:ff" (or '-' separated).</summary>
    public static bool TryParse(string? text, out MacAddress mac)
    {
        mac = default;
        if (text is null) return false;
        var parts = text.Split(':', '-');
        if (parts.Length != 6) return false;
        ulong v = 0;
        foreach (var p in parts)
        {
            if (p.Length is < 1 or > 2 || !byte.TryParse(p, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var b)) return false;
            v = v << 8 | b;
        }
        mac = new MacAddress(v);
        return true;
    }

    /// <summary>Parses "aa:bb:cc:dd:ee:ff".</summary>
    /// <exception cref="FormatException">not a MAC address.</exception>
    public static MacAddress Parse(string text) =>
        TryParse(text, out var mac) ? mac : throw new FormatException($"'{text}' is not a MAC address");

    /// <summary>"aa:bb:cc:dd:ee:ff".</summary>
    public override string ToString()
    {
        Span<byte> b = stackalloc byte[6];
        Write(b);
        return $"{b[0]:x2}:{b[1]:x2}:{b[2]:x2}:{b[3]:x2}:{b[4]:x2}:{b[5]:x2}";
    }
}
