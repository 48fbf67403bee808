using System.Buffers;
using System.Buffers.Text;

namespace FastBft.Workloads.Kv.Gateway;

/// <summary>Limits the RESP parser enforces; a claim beyond one is a protocol error that closes the connection.</summary>
/// <param name="MaxArguments">largest argument count of one command (array length).</param>
/// <param name="MaxBulkBytes">largest bulk string, bytes.</param>
/// <param name="MaxInlineBytes">longest inline command line (and longest length line), bytes.</param>
/// <param name="MaxCommandBytes">largest sum of a command's argument bytes.</param>
public readonly record struct RespLimits(int MaxArguments, int MaxBulkBytes, int MaxInlineBytes, long MaxCommandBytes)
{
    /// <summary>Defaults: 262,144 arguments, 1 MiB bulk strings, 64 KiB inline lines, 16 MiB per command.</summary>
    public static RespLimits Default => new(262_144, 1 << 20, 64 * 1024, 16 << 20);
}

/// <summary>What <see cref="RespParser.TryParse"/> found.</summary>
public enum RespParseStatus
{
    /// <summary>A complete command was parsed and consumed.</summary>
    Command,
    /// <summary>More bytes are needed; nothing was consumed.</summary>
    Incomplete,
    /// <summary>The stream is malformed or exceeds a limit; the connection must be closed (after an error reply).</summary>
    Malformed,
}

/// <summary>
/// Parser of RESP2 client requests (https://redis.io/docs/latest/develop/reference/protocol-spec/): an array of bulk
/// strings "*n\r\n($len\r\nbytes\r\n)×n", or an inline command (a line of space-separated words, as telnet sends).
/// Works on a <see cref="ReadOnlySequence{T}"/> (System.IO.Pipelines); never throws for any input; lengths are checked
/// against <see cref="RespLimits"/> before anything is buffered, so a client cannot make the gateway wait for or
/// allocate more than the limits allow.
/// </summary>
public static class RespParser
{
    /// <summary>
    /// Tries to parse one command at the start of <paramref name="buffer"/>. On <see cref="RespParseStatus.Command"/>,
    /// <paramref name="arguments"/> holds its arguments (new arrays; empty for an empty inline line, which callers skip) and
    /// <paramref name="consumed"/> is the position after it. On <see cref="RespParseStatus.Malformed"/>,
    /// <paramref name="error"/> says why.
    /// </summary>
    public static RespParseStatus TryParse(ReadOnlySequence<byte> buffer, in RespLimits limits, out List<byte[]> arguments, out SequencePosition consumed, out string? error)
    {
        arguments = new List<byte[]>();
        error = null;
        consumed = buffer.Start;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryPeek(out byte first)) return RespParseStatus.Incomplete;
        if (first != (byte)'*') return ParseInline(ref reader, limits, arguments, ref consumed, ref error);
        reader.Advance(1);
        var st = ReadNumber(ref reader, limits, out long count, ref error);
        if (st != RespParseStatus.Command) return st;
        if (count < 0 || count > limits.MaxArguments) { error = $"invalid multibulk length {count}"; return RespParseStatus.Malformed; }
        long total = 0;
        for (long i = 0; i < count; i++)
        {
            if (!reader.TryRead(out byte tag)) return RespParseStatus.Incomplete;
            if (tag != (byte)'$') { error = $"expected '$', got '{(char)tag}'"; return RespParseStatus.Malformed; }
            st = ReadNumber(ref reader, limits, out long len, ref error);
            if (st != RespParseStatus.Command) return st;
            if (len < 0 || len > limits.MaxBulkBytes) { error = $"invalid bulk length {len}"; return RespParseStatus.Malformed; }
            total += len;
            if (total > limits.MaxCommandBytes) { error = "command too large"; return RespParseStatus.Malformed; }
            if (reader.Remaining < len + 2) return RespParseStatus.Incomplete;
            var bytes = new byte[len];
            reader.TryCopyTo(bytes);
            reader.Advance(len);
            if (!reader.TryRead(out byte cr) || !reader.TryRead(out byte lf)) return RespParseStatus.Incomplete;
            if (cr != '\r' || lf != '\n') { error = "bulk string not terminated by CRLF"; return RespParseStatus.Malformed; }
            arguments.Add(bytes);
        }
        consumed = reader.Position;
        return RespParseStatus.Command;
    }

    private static RespParseStatus ReadNumber(ref SequenceReader<byte> reader, in RespLimits limits, out long value, ref string? error)
    {
        value = 0;
        if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n', advancePastDelimiter: true))
        {
            if (reader.Remaining > 32) { error = "length line too long"; return RespParseStatus.Malformed; }
            return RespParseStatus.Incomplete;
        }
        if (line.Length < 2 || line.Length > 22) { error = "invalid length line"; return RespParseStatus.Malformed; }
        Span<byte> tmp = stackalloc byte[22];
        line.CopyTo(tmp);
        var text = tmp.Slice(0, (int)line.Length);
        if (text[^1] != '\r') { error = "length line not terminated by CRLF"; return RespParseStatus.Malformed; }
        text = text[..^1];
        if (text.Length == 0 || !(text[0] == '-' || char.IsAsciiDigit((char)text[0])) || !Utf8Parser.TryParse(text, out value, out int used) || used != text.Length)
        {
            error = "invalid length";
            return RespParseStatus.Malformed;
        }
        return RespParseStatus.Command;
    }

    private static RespParseStatus ParseInline(ref SequenceReader<byte> reader, in RespLimits limits, List<byte[]> arguments, ref SequencePosition consumed, ref string? error)
    {
        if (!reader.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n', advancePastDelimiter: true))
        {
            if (reader.Remaining > limits.MaxInlineBytes) { error = "too big inline request"; return RespParseStatus.Malformed; }
            return RespParseStatus.Incomplete;
        }
        if (line.Length > limits.MaxInlineBytes) { error = "too big inline request"; return RespParseStatus.Malformed; }
        var bytes = line.ToArray().AsSpan();
        if (bytes.Length > 0 && bytes[^1] == '\r') bytes = bytes[..^1];
        foreach (var range in bytes.Split((byte)' '))
        {
            var word = bytes[range];
            if (word.Length == 0) continue;
            if (arguments.Count >= limits.MaxArguments) { error = "too many inline arguments"; return RespParseStatus.Malformed; }
            arguments.Add(word.ToArray());
        }
        consumed = reader.Position;
        return RespParseStatus.Command;
    }
}
