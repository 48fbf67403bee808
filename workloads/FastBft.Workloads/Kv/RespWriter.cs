using System.Buffers;
using System.Buffers.Text;

namespace FastBft.Workloads.Kv;

/// <summary>
/// Writes RESP2 values (https://redis.io/docs/latest/develop/reference/protocol-spec/): the KV service's replies are RESP2
/// bytes, so the gateway forwards them to Redis clients unchanged (docs/kv.md §3). No allocation.
/// </summary>
public static class RespWriter
{
    private static ReadOnlySpan<byte> Crlf => "\r\n"u8;

    /// <summary>"+OK\r\n".</summary>
    public static void Ok(IBufferWriter<byte> w) => w.Write("+OK\r\n"u8);

    /// <summary>A simple string "+text\r\n"; <paramref name="text"/> must not contain CR or LF.</summary>
    public static void Simple(IBufferWriter<byte> w, ReadOnlySpan<byte> text) { Byte(w, (byte)'+'); w.Write(text); w.Write(Crlf); }

    /// <summary>An error "-text\r\n"; <paramref name="text"/> (ASCII, e.g. "ERR …") must not contain CR or LF.</summary>
    public static void Error(IBufferWriter<byte> w, ReadOnlySpan<byte> text) { Byte(w, (byte)'-'); w.Write(text); w.Write(Crlf); }

    /// <summary>An error from a string (CR/LF replaced by spaces; non-ASCII characters by '?').</summary>
    public static void Error(IBufferWriter<byte> w, string text)
    {
        Byte(w, (byte)'-');
        var s = w.GetSpan(text.Length);
        for (int i = 0; i < text.Length; i++) { char c = text[i]; s[i] = c is '\r' or '\n' ? (byte)' ' : c < 128 ? (byte)c : (byte)'?'; }
        w.Advance(text.Length);
        w.Write(Crlf);
    }

    /// <summary>An integer ":n\r\n".</summary>
    public static void Integer(IBufferWriter<byte> w, long value) { Byte(w, (byte)':'); Number(w, value); w.Write(Crlf); }

    /// <summary>A bulk string "$len\r\nbytes\r\n".</summary>
    public static void Bulk(IBufferWriter<byte> w, ReadOnlySpan<byte> value) { Byte(w, (byte)'$'); Number(w, value.Length); w.Write(Crlf); w.Write(value); w.Write(Crlf); }

    /// <summary>The null bulk string "$-1\r\n" (nil).</summary>
    public static void Nil(IBufferWriter<byte> w) => w.Write("$-1\r\n"u8);

    /// <summary>An array header "*n\r\n" (the n elements follow).</summary>
    public static void ArrayHeader(IBufferWriter<byte> w, int count) { Byte(w, (byte)'*'); Number(w, count); w.Write(Crlf); }

    /// <summary>Bytes of a bulk string of <paramref name="length"/> value bytes.</summary>
    public static int BulkSize(int length) => 1 + Digits(length) + 2 + length + 2;

    internal static int Digits(long v) { int d = v < 0 ? 2 : 1; ulong u = v < 0 ? (ulong)(-(v + 1)) + 1 : (ulong)v; while (u >= 10) { u /= 10; d++; } return d; }

    private static void Byte(IBufferWriter<byte> w, byte b) { w.GetSpan(1)[0] = b; w.Advance(1); }

    private static void Number(IBufferWriter<byte> w, long v)
    {
        var s = w.GetSpan(20);
        Utf8Formatter.TryFormat(v, s, out int n);
        w.Advance(n);
    }
}
