using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace FastBft.Workloads.Coord;

/// <summary>Operation codes of the coordination service (docs/odrc.md §7).</summary>
public enum CoordOp : byte
{
    /// <summary>create(path, data, sequential).</summary>
    Create = 1,
    /// <summary>delete(path, expectedVersion; -1 = any).</summary>
    Delete = 2,
    /// <summary>setData(path, data, expectedVersion; -1 = any).</summary>
    SetData = 3,
    /// <summary>getData(path).</summary>
    GetData = 4,
    /// <summary>exists(path).</summary>
    Exists = 5,
    /// <summary>getChildren(path).</summary>
    GetChildren = 6,
}

/// <summary>Result codes (first reply byte), after ZooKeeper's KeeperException codes.</summary>
public enum CoordStatus : byte
{
    /// <summary>Success.</summary>
    Ok = 0,
    /// <summary>The node does not exist (or, for create, its parent).</summary>
    NoNode = 1,
    /// <summary>The node already exists.</summary>
    NodeExists = 2,
    /// <summary>The expected version did not match.</summary>
    BadVersion = 3,
    /// <summary>delete of a node with children.</summary>
    NotEmpty = 4,
    /// <summary>Malformed operation or path.</summary>
    BadArguments = 5,
}

/// <summary>
/// Binary encoding of coordination-service operations: op[1] ‖ pathLength[4, LE] ‖ path (UTF-8) ‖ per op:
/// create: dataLength[4] ‖ data ‖ sequential[1]; delete: version[8]; setData: dataLength[4] ‖ data ‖ version[8];
/// getData, exists, getChildren: nothing. Replies: status[1] ‖ payload (docs/odrc.md §7).
/// </summary>
public static class CoordCodec
{
    /// <summary>Largest path, bytes.</summary>
    public const int MaxPathBytes = 1024;
    /// <summary>Largest node data, bytes (ZooKeeper's default 1 MiB).</summary>
    public const int MaxDataBytes = 1 << 20;

    /// <summary>Encodes create(path, data, sequential).</summary>
    public static byte[] Create(string path, ReadOnlySpan<byte> data, bool sequential = false)
    {
        var w = Begin(CoordOp.Create, path, 4 + data.Length + 1, out int off);
        BinaryPrimitives.WriteInt32LittleEndian(w.AsSpan(off), data.Length);
        data.CopyTo(w.AsSpan(off + 4));
        w[off + 4 + data.Length] = sequential ? (byte)1 : (byte)0;
        return w;
    }

    /// <summary>Encodes delete(path, version).</summary>
    public static byte[] Delete(string path, long version = -1)
    {
        var w = Begin(CoordOp.Delete, path, 8, out int off);
        BinaryPrimitives.WriteInt64LittleEndian(w.AsSpan(off), version);
        return w;
    }

    /// <summary>Encodes setData(path, data, version).</summary>
    public static byte[] SetData(string path, ReadOnlySpan<byte> data, long version = -1)
    {
        var w = Begin(CoordOp.SetData, path, 4 + data.Length + 8, out int off);
        BinaryPrimitives.WriteInt32LittleEndian(w.AsSpan(off), data.Length);
        data.CopyTo(w.AsSpan(off + 4));
        BinaryPrimitives.WriteInt64LittleEndian(w.AsSpan(off + 4 + data.Length), version);
        return w;
    }

    /// <summary>Encodes getData(path).</summary>
    public static byte[] GetData(string path) => Begin(CoordOp.GetData, path, 0, out _);
    /// <summary>Encodes exists(path).</summary>
    public static byte[] Exists(string path) => Begin(CoordOp.Exists, path, 0, out _);
    /// <summary>Encodes getChildren(path).</summary>
    public static byte[] GetChildren(string path) => Begin(CoordOp.GetChildren, path, 0, out _);

    private static byte[] Begin(CoordOp op, string path, int extra, out int offset)
    {
        int plen = Encoding.UTF8.GetByteCount(path);
        var b = new byte[1 + 4 + plen + extra];
        b[0] = (byte)op;
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(1), plen);
        Encoding.UTF8.GetBytes(path, b.AsSpan(5));
        offset = 5 + plen;
        return b;
    }

    /// <summary>A parsed operation (spans into the operation bytes).</summary>
    public ref struct Parsed
    {
        /// <summary>The op.</summary>
        public CoordOp Op;
        /// <summary>The path (UTF-8).</summary>
        public ReadOnlySpan<byte> Path;
        /// <summary>create / setData data.</summary>
        public ReadOnlySpan<byte> Data;
        /// <summary>delete / setData expected version (-1 = any).</summary>
        public long Version;
        /// <summary>create: sequential.</summary>
        public bool Sequential;
    }

    /// <summary>Parses <paramref name="operation"/>; false if malformed (lengths must match exactly, the path must be valid).</summary>
    public static bool TryParse(ReadOnlySpan<byte> operation, out Parsed p)
    {
        p = default;
        if (operation.Length < 5) return false;
        p.Op = (CoordOp)operation[0];
        int plen = BinaryPrimitives.ReadInt32LittleEndian(operation.Slice(1));
        if (plen < 1 || plen > MaxPathBytes || operation.Length < 5 + plen) return false;
        p.Path = operation.Slice(5, plen);
        if (!ValidPath(p.Path)) return false;
        var rest = operation.Slice(5 + plen);
        p.Version = -1;
        switch (p.Op)
        {
            case CoordOp.Create:
            {
                if (rest.Length < 5) return false;
                int dlen = BinaryPrimitives.ReadInt32LittleEndian(rest);
                if (dlen < 0 || dlen > MaxDataBytes || rest.Length != 4 + dlen + 1 || rest[4 + dlen] > 1) return false;
                p.Data = rest.Slice(4, dlen);
                p.Sequential = rest[4 + dlen] == 1;
                return p.Path.Length > 1;
            }
            case CoordOp.Delete:
                if (rest.Length != 8) return false;
                p.Version = BinaryPrimitives.ReadInt64LittleEndian(rest);
                return p.Path.Length > 1;
            case CoordOp.SetData:
            {
                if (rest.Length < 12) return false;
                int dlen = BinaryPrimitives.ReadInt32LittleEndian(rest);
                if (dlen < 0 || dlen > MaxDataBytes || rest.Length != 4 + dlen + 8) return false;
                p.Data = rest.Slice(4, dlen);
                p.Version = BinaryPrimitives.ReadInt64LittleEndian(rest.Slice(4 + dlen));
                return true;
            }
            case CoordOp.GetData or CoordOp.Exists or CoordOp.GetChildren:
                return rest.Length == 0;
            default:
                return false;
        }
    }

    /// <summary>
    /// A valid path: "/" or "/a/b" — starts with '/', no empty segment, no trailing '/', no "." or ".." segment, no NUL.
    /// '#' is reserved for sequential names (prefix#0000000007) and allowed only in the last 11 characters of a segment as that suffix.
    /// </summary>
    public static bool ValidPath(ReadOnlySpan<byte> path)
    {
        if (path.Length == 0 || path[0] != (byte)'/') return false;
        if (path.Length == 1) return true;
        if (path[^1] == (byte)'/') return false;
        int start = 1;
        for (int i = 1; i <= path.Length; i++)
        {
            if (i < path.Length && path[i] == 0) return false;
            if (i == path.Length || path[i] == (byte)'/')
            {
                var seg = path.Slice(start, i - start);
                if (seg.Length == 0 || seg.SequenceEqual("."u8) || seg.SequenceEqual(".."u8)) return false;
                int hash = seg.IndexOf((byte)'#');
                if (hash >= 0 && !IsSequentialSuffix(seg.Slice(hash))) return false;
                start = i + 1;
            }
        }
        return true;
    }

    private static bool IsSequentialSuffix(ReadOnlySpan<byte> s)
    {
        if (s.Length != 11 || s[0] != (byte)'#') return false;
        for (int i = 1; i < 11; i++) if (s[i] < (byte)'0' || s[i] > (byte)'9') return false;
        return true;
    }

    /// <summary>True if the last segment of <paramref name="path"/> is a sequential name (ends in '#' and 10 digits).</summary>
    public static bool IsSequential(ReadOnlySpan<byte> path) => path.Length > 12 && path[^11] == (byte)'#' && IsSequentialSuffix(path.Slice(path.Length - 11));

    /// <summary>The parent of <paramref name="path"/> ("/" for "/a").</summary>
    public static ReadOnlySpan<byte> Parent(ReadOnlySpan<byte> path)
    {
        int i = path.LastIndexOf((byte)'/');
        return i <= 0 ? "/"u8 : path.Slice(0, i);
    }

    /// <summary>
    /// The state object of a node (docs/odrc.md §7): the node's path, except that a sequential node lives in its
    /// parent's object (its name is chosen at execution from the parent's counter, so no analysis could name it earlier).
    /// </summary>
    public static ReadOnlySpan<byte> ObjectOf(ReadOnlySpan<byte> path)
    {
        while (IsSequential(path)) path = Parent(path);
        return path;
    }
}
