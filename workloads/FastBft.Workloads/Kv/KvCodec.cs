using System.Buffers;
using System.Buffers.Binary;

namespace FastBft.Workloads.Kv;

/// <summary>Operation codes of the KV service's binary encoding (docs/kv.md §2).</summary>
public enum KvOpCode : byte
{
    /// <summary>GET key → bulk value or nil.</summary>
    Get = 1,
    /// <summary>SET key value → OK.</summary>
    Set = 2,
    /// <summary>DEL key… → integer (keys deleted).</summary>
    Del = 3,
    /// <summary>EXISTS key… → integer (keys present, duplicates counted).</summary>
    Exists = 4,
    /// <summary>INCRBY key delta → integer (new value); INCR is delta 1.</summary>
    IncrBy = 5,
    /// <summary>MGET key… → array of bulk values or nils.</summary>
    MGet = 6,
    /// <summary>MSET (key value)… → OK.</summary>
    MSet = 7,
    /// <summary>CAS key expected? new? → integer 1 (swapped) or 0 (current value differed).</summary>
    Cas = 8,
}

/// <summary>
/// The compact binary encoding of KV operations (docs/kv.md §2). Every operation starts with its opcode byte;
/// lengths and counts are unsigned LEB128 varints (1 byte below 128); a byte string is varint length ‖ bytes; an
/// optional byte string is a flag byte (0 absent, 1 present) followed, if present, by a byte string; INCRBY's delta is
/// a zigzag varint. Layouts:
/// GET k · SET k v · DEL n k… · EXISTS n k… · INCRBY k delta · MGET n k… · MSET n (k v)… · CAS k expected? new?
/// (n ≥ 1). An operation with trailing bytes, a count of 0, a length beyond the buffer, or an unknown opcode is malformed.
/// </summary>
public static class KvCodec
{
    /// <summary>Largest key count of one multi-key operation.</summary>
    public const int MaxKeysPerOperation = 65_536;

    // ---------------- encoding (clients, gateway, load generator) ----------------

    /// <summary>Writes an unsigned LEB128 varint (1–5 bytes).</summary>
    public static void WriteVarint(IBufferWriter<byte> w, uint value)
    {
        var s = w.GetSpan(5);
        int i = 0;
        while (value >= 0x80) { s[i++] = (byte)(value | 0x80); value >>= 7; }
        s[i++] = (byte)value;
        w.Advance(i);
    }

    private static void WriteVarint64(IBufferWriter<byte> w, ulong value)
    {
        var s = w.GetSpan(10);
        int i = 0;
        while (value >= 0x80) { s[i++] = (byte)(value | 0x80); value >>= 7; }
        s[i++] = (byte)value;
        w.Advance(i);
    }

    /// <summary>Writes varint length ‖ bytes.</summary>
    public static void WriteBytes(IBufferWriter<byte> w, ReadOnlySpan<byte> bytes)
    {
        WriteVarint(w, (uint)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteOp(IBufferWriter<byte> w, KvOpCode op) { w.GetSpan(1)[0] = (byte)op; w.Advance(1); }

    /// <summary>Encodes GET <paramref name="key"/>.</summary>
    public static void Get(IBufferWriter<byte> w, ReadOnlySpan<byte> key) { WriteOp(w, KvOpCode.Get); WriteBytes(w, key); }

    /// <summary>Encodes SET <paramref name="key"/> <paramref name="value"/>.</summary>
    public static void Set(IBufferWriter<byte> w, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) { WriteOp(w, KvOpCode.Set); WriteBytes(w, key); WriteBytes(w, value); }

    /// <summary>Encodes INCRBY <paramref name="key"/> <paramref name="delta"/> (INCR: delta 1).</summary>
    public static void IncrBy(IBufferWriter<byte> w, ReadOnlySpan<byte> key, long delta)
    {
        WriteOp(w, KvOpCode.IncrBy); WriteBytes(w, key);
        WriteVarint64(w, (ulong)((delta << 1) ^ (delta >> 63)));
    }

    /// <summary>Encodes DEL, EXISTS or MGET over <paramref name="keys"/> (at least one).</summary>
    /// <exception cref="ArgumentException">another opcode, or no keys.</exception>
    public static void MultiKey(IBufferWriter<byte> w, KvOpCode op, IReadOnlyList<byte[]> keys)
    {
        if (op is not (KvOpCode.Del or KvOpCode.Exists or KvOpCode.MGet)) throw new ArgumentException($"{op} is not a multi-key read/delete", nameof(op));
        if (keys.Count == 0) throw new ArgumentException("at least one key", nameof(keys));
        WriteOp(w, op); WriteVarint(w, (uint)keys.Count);
        foreach (var k in keys) WriteBytes(w, k);
    }

    /// <summary>Encodes MSET over (key, value) <paramref name="pairs"/> (at least one).</summary>
    /// <exception cref="ArgumentException">no pairs.</exception>
    public static void MSet(IBufferWriter<byte> w, IReadOnlyList<(byte[] Key, byte[] Value)> pairs)
    {
        if (pairs.Count == 0) throw new ArgumentException("at least one pair", nameof(pairs));
        WriteOp(w, KvOpCode.MSet); WriteVarint(w, (uint)pairs.Count);
        foreach (var (k, v) in pairs) { WriteBytes(w, k); WriteBytes(w, v); }
    }

    /// <summary>Encodes CAS: set <paramref name="key"/> to <paramref name="newValue"/> (null: delete it) if its current value equals <paramref name="expected"/> (null: the key must be absent).</summary>
    public static void Cas(IBufferWriter<byte> w, ReadOnlySpan<byte> key, byte[]? expected, byte[]? newValue)
    {
        WriteOp(w, KvOpCode.Cas); WriteBytes(w, key);
        WriteOptional(w, expected); WriteOptional(w, newValue);
    }

    private static void WriteOptional(IBufferWriter<byte> w, byte[]? v)
    {
        w.GetSpan(1)[0] = v is null ? (byte)0 : (byte)1; w.Advance(1);
        if (v is not null) WriteBytes(w, v);
    }

    /// <summary>Encodes an operation to a new array (tests, tools).</summary>
    public static byte[] Encode(Action<IBufferWriter<byte>> write)
    {
        var w = new ArrayBufferWriter<byte>(64);
        write(w);
        return w.WrittenSpan.ToArray();
    }

    // ---------------- decoding ----------------

    /// <summary>
    /// A forward reader over an encoded operation; every Read… returns false on malformed input (never throws).
    /// </summary>
    public ref struct Reader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _pos;

        /// <summary>True when every byte was consumed.</summary>
        public readonly bool AtEnd => _pos == _data.Length;

        /// <summary>Reads one byte.</summary>
        public bool ReadByte(out byte b)
        {
            if (_pos >= _data.Length) { b = 0; return false; }
            b = _data[_pos++];
            return true;
        }

        /// <summary>Reads an unsigned LEB128 varint of at most 5 bytes that fits 32 bits.</summary>
        public bool ReadVarint(out uint value)
        {
            value = 0;
            for (int shift = 0; shift < 35; shift += 7)
            {
                if (_pos >= _data.Length) return false;
                byte b = _data[_pos++];
                if (shift == 28 && b > 0x0F) return false;
                value |= (uint)(b & 0x7F) << shift;
                if ((b & 0x80) == 0) return true;
            }
            return false;
        }

        /// <summary>Reads a 64-bit varint (at most 10 bytes).</summary>
        public bool ReadVarint64(out ulong value)
        {
            value = 0;
            for (int shift = 0; shift < 70; shift += 7)
            {
                if (_pos >= _data.Length) return false;
                byte b = _data[_pos++];
                if (shift == 63 && b > 1) return false;
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0) return true;
            }
            return false;
        }

        /// <summary>Reads varint length ‖ bytes as a slice of the input.</summary>
        public bool ReadBytes(out ReadOnlySpan<byte> bytes)
        {
            bytes = default;
            if (!ReadVarint(out uint len) || len > (uint)(_data.Length - _pos)) return false;
            bytes = _data.Slice(_pos, (int)len);
            _pos += (int)len;
            return true;
        }

        /// <summary>Reads an optional byte string: <paramref name="present"/> false when the flag is 0.</summary>
        public bool ReadOptional(out bool present, out ReadOnlySpan<byte> bytes)
        {
            bytes = default; present = false;
            if (!ReadByte(out byte flag) || flag > 1) return false;
            present = flag == 1;
            return !present || ReadBytes(out bytes);
        }

        /// <summary>Reads a count n with 1 ≤ n ≤ <see cref="MaxKeysPerOperation"/>.</summary>
        public bool ReadCount(out int n)
        {
            n = 0;
            if (!ReadVarint(out uint c) || c == 0 || c > MaxKeysPerOperation) return false;
            n = (int)c;
            return true;
        }
    }

    /// <summary>Decodes a zigzag-encoded 64-bit value.</summary>
    public static long Unzigzag(ulong v) => (long)(v >> 1) ^ -(long)(v & 1);

    /// <summary>
    /// Checks that <paramref name="operation"/> is well formed and adds its keys (new arrays) to <paramref name="keys"/> in
    /// order, duplicates kept. Returns false (adding nothing) if malformed.
    /// </summary>
    public static bool TryGetKeys(ReadOnlySpan<byte> operation, List<byte[]> keys)
    {
        int before = keys.Count;
        if (!TryGetKeysCore(operation, keys)) { keys.RemoveRange(before, keys.Count - before); return false; }
        return true;
    }

    private static bool TryGetKeysCore(ReadOnlySpan<byte> operation, List<byte[]> keys)
    {
        var r = new Reader(operation);
        if (!r.ReadByte(out byte op)) return false;
        ReadOnlySpan<byte> k, v;
        int n;
        switch ((KvOpCode)op)
        {
            case KvOpCode.Get:
                if (!r.ReadBytes(out k)) return false;
                keys.Add(k.ToArray());
                break;
            case KvOpCode.Set:
                if (!r.ReadBytes(out k) || !r.ReadBytes(out _)) return false;
                keys.Add(k.ToArray());
                break;
            case KvOpCode.IncrBy:
                if (!r.ReadBytes(out k) || !r.ReadVarint64(out _)) return false;
                keys.Add(k.ToArray());
                break;
            case KvOpCode.Del or KvOpCode.Exists or KvOpCode.MGet:
                if (!r.ReadCount(out n)) return false;
                for (int i = 0; i < n; i++) { if (!r.ReadBytes(out k)) return false; keys.Add(k.ToArray()); }
                break;
            case KvOpCode.MSet:
                if (!r.ReadCount(out n)) return false;
                for (int i = 0; i < n; i++) { if (!r.ReadBytes(out k) || !r.ReadBytes(out v)) return false; keys.Add(k.ToArray()); }
                break;
            case KvOpCode.Cas:
                if (!r.ReadBytes(out k) || !r.ReadOptional(out _, out _) || !r.ReadOptional(out _, out _)) return false;
                keys.Add(k.ToArray());
                break;
            default:
                return false;
        }
        return r.AtEnd;
    }
}
