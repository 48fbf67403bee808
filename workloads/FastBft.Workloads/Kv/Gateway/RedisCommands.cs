using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace FastBft.Workloads.Kv.Gateway;

/// <summary>What the gateway does with one Redis command.</summary>
public enum CommandAction
{
    /// <summary>Answer locally with <see cref="Translation.LocalReply"/>.</summary>
    Local,
    /// <summary>Answer locally, then close the connection (QUIT).</summary>
    LocalThenClose,
    /// <summary>Send <see cref="Translation.Operation"/> to the cell; its reply (RESP) goes back unchanged.</summary>
    Replicate,
}

/// <summary>One command translated: a local RESP reply or a KV operation (docs/kv.md §6).</summary>
/// <param name="Action">what to do.</param>
/// <param name="LocalReply">the RESP reply for <see cref="CommandAction.Local"/> and <see cref="CommandAction.LocalThenClose"/>.</param>
/// <param name="Operation">the encoded KV operation for <see cref="CommandAction.Replicate"/>.</param>
public readonly record struct Translation(CommandAction Action, byte[] LocalReply, byte[] Operation)
{
    internal static Translation Reply(byte[] resp) => new(CommandAction.Local, resp, []);
    internal static Translation Error(string message) => Reply(Encoding.ASCII.GetBytes("-" + message.Replace('\r', ' ').Replace('\n', ' ') + "\r\n"));
}

/// <summary>
/// Translates Redis commands (argument lists from <see cref="RespParser"/>) into KV operations or local replies.
/// Replicated: GET, SET key value, DEL, EXISTS, INCR, DECR, INCRBY, DECRBY, MGET, MSET, CAS key expected new (reply 1 if
/// swapped, 0 if not). Local: PING, ECHO, SELECT 0, CONFIG GET (empty array), COMMAND and COMMAND DOCS (empty array),
/// CLIENT SETNAME/SETINFO (OK), QUIT, HELLO (error NOPROTO, so clients stay on RESP2). Anything else: an error reply.
/// Never throws.
/// </summary>
public static class RedisCommands
{
    private static readonly byte[] Pong = "+PONG\r\n"u8.ToArray();
    private static readonly byte[] Ok = "+OK\r\n"u8.ToArray();
    private static readonly byte[] EmptyArray = "*0\r\n"u8.ToArray();

    /// <summary>Translates <paramref name="args"/> (at least one); operations above <paramref name="maxOperationBytes"/> get an error reply.</summary>
    public static Translation Translate(List<byte[]> args, int maxOperationBytes)
    {
        if (args.Count == 0) return Translation.Error("ERR empty command");
        Span<byte> nameBuf = stackalloc byte[16];
        var raw = args[0];
        if (raw.Length > nameBuf.Length) return Unknown(raw, args);
        for (int i = 0; i < raw.Length; i++) nameBuf[i] = (byte)char.ToUpperInvariant((char)raw[i]);
        string name = Encoding.ASCII.GetString(nameBuf.Slice(0, raw.Length));
        int n = args.Count;
        var w = new ArrayBufferWriter<byte>(64);
        switch (name)
        {
            case "PING":
                if (n == 1) return Translation.Reply(Pong);
                if (n == 2) return Translation.Reply(Bulk(args[1]));
                return Arity(name);
            case "ECHO":
                return n == 2 ? Translation.Reply(Bulk(args[1])) : Arity(name);
            case "QUIT":
                return new Translation(CommandAction.LocalThenClose, Ok, []);
            case "SELECT":
                if (n != 2) return Arity(name);
                return args[1].AsSpan().SequenceEqual("0"u8) ? Translation.Reply(Ok) : Translation.Error("ERR DB index is out of range");
            case "CONFIG":
                if (n >= 2 && Upper(args[1]) == "GET") return Translation.Reply(EmptyArray);
                return Translation.Error("ERR CONFIG: only CONFIG GET is supported (it answers an empty array)");
            case "COMMAND":
                return Translation.Reply(EmptyArray);
            case "CLIENT":
                if (n >= 2 && Upper(args[1]) is "SETNAME" or "SETINFO") return Translation.Reply(Ok);
                return Translation.Error("ERR CLIENT: only SETNAME and SETINFO are supported");
            case "HELLO":
                return Translation.Error("NOPROTO this gateway speaks RESP2 only");
            case "GET":
                if (n != 2) return Arity(name);
                KvCodec.Get(w, args[1]);
                break;
            case "SET":
                if (n != 3) return n > 3 ? Translation.Error("ERR syntax error (SET options are not supported)") : Arity(name);
                KvCodec.Set(w, args[1], args[2]);
                break;
            case "DEL" or "EXISTS" or "MGET":
                if (n < 2 || n - 1 > KvCodec.MaxKeysPerOperation) return Arity(name);
                KvCodec.MultiKey(w, name switch { "DEL" => KvOpCode.Del, "EXISTS" => KvOpCode.Exists, _ => KvOpCode.MGet }, args.GetRange(1, n - 1));
                break;
            case "MSET":
                if (n < 3 || (n - 1) % 2 != 0 || (n - 1) / 2 > KvCodec.MaxKeysPerOperation) return Arity(name);
                var pairs = new List<(byte[], byte[])>((n - 1) / 2);
                for (int i = 1; i < n; i += 2) pairs.Add((args[i], args[i + 1]));
                KvCodec.MSet(w, pairs);
                break;
            case "INCR" or "DECR":
                if (n != 2) return Arity(name);
                KvCodec.IncrBy(w, args[1], name == "INCR" ? 1 : -1);
                break;
            case "INCRBY" or "DECRBY":
                if (n != 3) return Arity(name);
                if (!KvService.TryParseInteger(args[2], out long delta)) return Translation.Error("ERR value is not an integer or out of range");
                if (name == "DECRBY")
                {
                    if (delta == long.MinValue) return Translation.Error("ERR decrement would overflow");
                    delta = -delta;
                }
                KvCodec.IncrBy(w, args[1], delta);
                break;
            case "CAS":
                if (n != 4) return Arity(name);
                KvCodec.Cas(w, args[1], args[2], args[3]);
                break;
            default:
                return Unknown(raw, args);
        }
        if (w.WrittenCount > maxOperationBytes) return Translation.Error($"ERR request of {w.WrittenCount} bytes exceeds the cell's max_request_bytes ({maxOperationBytes})");
        return new Translation(CommandAction.Replicate, [], w.WrittenSpan.ToArray());
    }

    private static string Upper(byte[] b) => b.Length > 16 ? "" : Encoding.ASCII.GetString(b).ToUpperInvariant();

    private static Translation Arity(string name) => Translation.Error($"ERR wrong number of arguments for '{name.ToLowerInvariant()}' command");

    private static Translation Unknown(byte[] name, List<byte[]> args)
    {
        var shown = new StringBuilder();
        foreach (byte b in name.AsSpan(0, Math.Min(name.Length, 64))) shown.Append(b is >= 32 and < 127 and not (byte)'\'' ? (char)b : '?');
        return Translation.Error($"ERR unknown command '{shown}', with args beginning with: {args.Count - 1} argument(s)");
    }

    private static byte[] Bulk(byte[] value)
    {
        var w = new ArrayBufferWriter<byte>(value.Length + 16);
        RespWriter.Bulk(w, value);
        return w.WrittenSpan.ToArray();
    }
}
