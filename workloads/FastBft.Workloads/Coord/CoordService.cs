using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using FastBft.Service;

namespace FastBft.Workloads.Coord;

/// <summary>
/// A coordination service modelled on ZooKeeper's data tree (docs/odrc.md §7; Thesis §6.8): nodes with data, a data
/// version and a child version; create (optionally sequential: the name gets '#' and a 10-digit counter kept per parent),
/// delete, setData, getData, exists, getChildren; delete and setData are conditional on an expected version (-1 = any).
/// No ephemeral nodes (no sessions: a replicated state machine has no client liveness to tie them to), no watches.
/// Deterministic; never throws for bad input (a malformed operation gets <see cref="CoordStatus.BadArguments"/>).
/// ODRC (Thesis §6.8.1): a state object is a node (its path); a create or delete touches the node and its parent;
/// sequential nodes live in their parent's object (<see cref="CoordCodec.ObjectOf"/>). Object state = the node, its
/// child names and its sequential descendants. Replies: status[1] ‖ payload (create: the created path; getData: version[8]
/// ‖ data; exists: version[8] or nothing; setData: new version[8]; getChildren: count[4] ‖ (length[4] ‖ name)…, sorted).
/// </summary>
public sealed class CoordService : IReplicatedService, IObjectStateService, FastBft.Execution.Odrc.IInPlaceRequestAnalyzer, FastBft.Execution.Odrc.IInPlaceWriteAnalyzer, FastBft.Execution.Odrc.ICountedOverwriteService
{
    private sealed class Node
    {
        public byte[] Data = [];
        public long Version;
        public long ChildVersion;
        public long SequenceCounter;
        public readonly SortedSet<string> Children = new(StringComparer.Ordinal);
    }

    private readonly SortedDictionary<string, Node> _nodes = new(StringComparer.Ordinal);

    /// <summary>Creates a service whose tree holds only "/".</summary>
    public CoordService() => _nodes["/"] = new Node();

    /// <summary>Nodes in the tree (root included).</summary>
    public int NodeCount => _nodes.Count;

    /// <inheritdoc/>
    public void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update)
    {
        bool wrote = Run(operation, reply);
        if (update is not null && wrote) update.Write(operation);        // the update is the operation itself (deterministic replay)
    }

    private static void Status(IBufferWriter<byte> reply, CoordStatus s) { reply.GetSpan(1)[0] = (byte)s; reply.Advance(1); }

    private static void Long(IBufferWriter<byte> reply, long v) { BinaryPrimitives.WriteInt64LittleEndian(reply.GetSpan(8), v); reply.Advance(8); }

    /// <summary>Runs one operation; true if it changed the state.</summary>
    private bool Run(ReadOnlySpan<byte> operation, IBufferWriter<byte> reply)
    {
        if (!CoordCodec.TryParse(operation, out var p)) { Status(reply, CoordStatus.BadArguments); return false; }
        string path = Encoding.UTF8.GetString(p.Path);
        switch (p.Op)
        {
            case CoordOp.Create:
            {
                if (CoordCodec.IsSequential(p.Path)) { Status(reply, CoordStatus.BadArguments); return false; }   // sequential names are chosen by the service
                string parentPath = Encoding.UTF8.GetString(CoordCodec.Parent(p.Path));
                if (!_nodes.TryGetValue(parentPath, out var parent)) { Status(reply, CoordStatus.NoNode); return false; }
                if (p.Sequential) path = $"{path}#{parent.SequenceCounter:D10}";
                if (_nodes.ContainsKey(path)) { Status(reply, CoordStatus.NodeExists); return false; }
                if (p.Sequential) parent.SequenceCounter++;
                _nodes[path] = new Node { Data = p.Data.ToArray() };
                parent.Children.Add(path[(path.LastIndexOf('/') + 1)..]);
                parent.ChildVersion++;
                Status(reply, CoordStatus.Ok);
                reply.Write(Encoding.UTF8.GetBytes(path));
                return true;
            }
            case CoordOp.Delete:
            {
                if (!_nodes.TryGetValue(path, out var node)) { Status(reply, CoordStatus.NoNode); return false; }
                if (p.Version != -1 && p.Version != node.Version) { Status(reply, CoordStatus.BadVersion); return false; }
                if (node.Children.Count > 0) { Status(reply, CoordStatus.NotEmpty); return false; }
                _nodes.Remove(path);
                var parent = _nodes[Encoding.UTF8.GetString(CoordCodec.Parent(p.Path))];
                parent.Children.Remove(path[(path.LastIndexOf('/') + 1)..]);
                parent.ChildVersion++;
                Status(reply, CoordStatus.Ok);
                return true;
            }
            case CoordOp.SetData:
            {
                if (!_nodes.TryGetValue(path, out var node)) { Status(reply, CoordStatus.NoNode); return false; }
                if (p.Version != -1 && p.Version != node.Version) { Status(reply, CoordStatus.BadVersion); return false; }
                node.Data = p.Data.ToArray();
                node.Version++;
                Status(reply, CoordStatus.Ok);
                Long(reply, node.Version);
                return true;
            }
            case CoordOp.GetData:
            {
                if (!_nodes.TryGetValue(path, out var node)) { Status(reply, CoordStatus.NoNode); return false; }
                Status(reply, CoordStatus.Ok);
                Long(reply, node.Version);
                reply.Write(node.Data);
                return false;
            }
            case CoordOp.Exists:
            {
                if (!_nodes.TryGetValue(path, out var node)) { Status(reply, CoordStatus.NoNode); return false; }
                Status(reply, CoordStatus.Ok);
                Long(reply, node.Version);
                return false;
            }
            case CoordOp.GetChildren:
            {
                if (!_nodes.TryGetValue(path, out var node)) { Status(reply, CoordStatus.NoNode); return false; }
                Status(reply, CoordStatus.Ok);
                BinaryPrimitives.WriteInt32LittleEndian(reply.GetSpan(4), node.Children.Count); reply.Advance(4);
                foreach (var c in node.Children)
                {
                    var b = Encoding.UTF8.GetBytes(c);
                    BinaryPrimitives.WriteInt32LittleEndian(reply.GetSpan(4), b.Length); reply.Advance(4);
                    reply.Write(b);
                }
                return false;
            }
            default:
                Status(reply, CoordStatus.BadArguments);
                return false;
        }
    }

    /// <inheritdoc/>
    public void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update)
    {
        if (update.Length == 0) return;
        Run(update, new ArrayBufferWriter<byte>(64));
    }

    /// <inheritdoc/>
    public void GetStateDigest(Span<byte> digest32)
    {
        using var ms = new MemoryStream();
        WriteSnapshot(ms);
        FastBft.Wire.Digests.Sha256(ms.GetBuffer().AsSpan(0, (int)ms.Length), digest32);
    }

    /// <inheritdoc/>
    public void WriteSnapshot(Stream destination)
    {
        var w = new BinaryWriter(destination, Encoding.UTF8, leaveOpen: true);
        w.Write(_nodes.Count);
        foreach (var (path, node) in _nodes) WriteNode(w, path, node);
        w.Flush();
    }

    private static void WriteNode(BinaryWriter w, string path, Node node)
    {
        w.Write(path); w.Write(node.Version); w.Write(node.ChildVersion); w.Write(node.SequenceCounter);
        w.Write(node.Data.Length); w.Write(node.Data);
        w.Write(node.Children.Count);
        foreach (var c in node.Children) w.Write(c);
    }

    private static (string Path, Node Node) ReadNode(BinaryReader r)
    {
        string path = r.ReadString();
        var node = new Node { Version = r.ReadInt64(), ChildVersion = r.ReadInt64(), SequenceCounter = r.ReadInt64() };
        int dlen = r.ReadInt32();
        if (dlen < 0 || dlen > CoordCodec.MaxDataBytes) throw new InvalidDataException("bad node data length");
        node.Data = r.ReadBytes(dlen);
        if (node.Data.Length != dlen) throw new InvalidDataException("truncated node");
        int children = r.ReadInt32();
        if (children < 0) throw new InvalidDataException("bad child count");
        for (int i = 0; i < children; i++) node.Children.Add(r.ReadString());
        if (!CoordCodec.ValidPath(Encoding.UTF8.GetBytes(path))) throw new InvalidDataException("bad path");
        return (path, node);
    }

    /// <inheritdoc/>
    public void RestoreSnapshot(Stream source)
    {
        try
        {
            var r = new BinaryReader(source, Encoding.UTF8, leaveOpen: true);
            int n = r.ReadInt32();
            if (n < 1) throw new InvalidDataException("no root");
            var nodes = new SortedDictionary<string, Node>(StringComparer.Ordinal);
            for (int i = 0; i < n; i++) { var (p, node) = ReadNode(r); nodes[p] = node; }
            if (!nodes.ContainsKey("/")) throw new InvalidDataException("no root");
            _nodes.Clear();
            foreach (var kv in nodes) _nodes[kv.Key] = kv.Value;
        }
        catch (EndOfStreamException e) { throw new InvalidDataException("truncated snapshot", e); }
    }

    // ------------------------------------------------------------------ ODRC (Thesis §6.8.1)

    /// <inheritdoc/>
    public bool AnalyzeRequest(ReadOnlySpan<byte> operation, List<byte[]> objects)
    {
        if (!CoordCodec.TryParse(operation, out var p)) return false;
        var parent = CoordCodec.ObjectOf(CoordCodec.Parent(p.Path));
        if (p.Op == CoordOp.Create && p.Sequential) { objects.Add(parent.ToArray()); return true; }   // the new node lives in its parent's object
        var own = CoordCodec.ObjectOf(p.Path);
        objects.Add(own.ToArray());
        if (p.Op is CoordOp.Create or CoordOp.Delete && !parent.SequenceEqual(own)) objects.Add(parent.ToArray());   // and the parent's child list
        return true;
    }

    /// <inheritdoc/>
    public bool AnalyzeRequest(ReadOnlySpan<byte> operation, FastBft.Execution.Odrc.ObjectIdBuffer objects)
    {
        // as AnalyzeRequest(operation, List) above, without allocating (docs/odrc.md §8 "allocation")
        if (!CoordCodec.TryParse(operation, out var p)) return false;
        var parent = CoordCodec.ObjectOf(CoordCodec.Parent(p.Path));
        if (p.Op == CoordOp.Create && p.Sequential) { objects.Add(parent); return true; }
        var own = CoordCodec.ObjectOf(p.Path);
        objects.Add(own);
        if (p.Op is CoordOp.Create or CoordOp.Delete && !parent.SequenceEqual(own)) objects.Add(parent);
        return true;
    }

    /// <inheritdoc/>
    public bool AnalyzeWrites(ReadOnlySpan<byte> operation, List<byte[]> written)
    {
        if (!CoordCodec.TryParse(operation, out var p)) return false;
        if (p.Op is CoordOp.GetData or CoordOp.Exists or CoordOp.GetChildren) return true;
        return AnalyzeRequest(operation, written);
    }

    /// <summary>
    /// Write knowledge without allocation (docs/odrc.md §3a rules W2/W4, §7): getData, exists and getChildren read; an
    /// unconditional setData (expected version −1) of a node that is its own object (not a sequential node, which lives in
    /// its parent's object) is a counted overwrite (<see cref="FastBft.Execution.Odrc.ObjectAccess.CountedOverwrite"/>,
    /// Thesis §6.6.1.2 and §6.8.1 "process only the latest write and adjust the version counter"): it replaces the data and
    /// reads only the node's existence and version, which it increments; a conditional setData (it checks the version),
    /// create and delete (they read and change the parent too) and setData of a sequential node read and write
    /// (<see cref="FastBft.Execution.Odrc.ObjectAccess.ReadWrite"/>). False if malformed.
    /// </summary>
    public bool AnalyzeAccess(ReadOnlySpan<byte> operation, Span<FastBft.Execution.Odrc.ObjectAccess> kinds)
    {
        if (!CoordCodec.TryParse(operation, out var p)) return false;
        var kind = p.Op switch
        {
            CoordOp.GetData or CoordOp.Exists or CoordOp.GetChildren => FastBft.Execution.Odrc.ObjectAccess.Read,
            CoordOp.SetData when p.Version == -1 && !CoordCodec.IsSequential(p.Path) => FastBft.Execution.Odrc.ObjectAccess.CountedOverwrite,
            _ => FastBft.Execution.Odrc.ObjectAccess.ReadWrite,
        };
        kinds.Fill(kind);
        return true;
    }

    /// <summary>
    /// Rule W4 (docs/odrc.md §3a; Thesis §6.8.1): the effect of <paramref name="count"/> skipped unconditional setData
    /// requests on node <paramref name="objectId"/> as far as the next one observes it. Each of them, in the sequential
    /// order, either found the node (nothing else touched it between them: every create, delete or conditional setData of
    /// it is a read-write access that ends a run) and incremented its data version by one, or found it missing and failed
    /// with NoNode, changing nothing. So: a present node's version grows by <paramref name="count"/>; a missing node stays
    /// missing. The data, which the next setData replaces, is left as it is; no other field (child version, sequence
    /// counter, children) is changed by setData.
    /// </summary>
    public void AccountSkippedOverwrites(ReadOnlySpan<byte> objectId, ulong count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, (ulong)long.MaxValue);
        if (_nodes.TryGetValue(Encoding.UTF8.GetString(objectId), out var node)) node.Version += (long)count;
    }

    /// <inheritdoc/>
    public ReadOnlySpan<byte> LocalityGroup(ReadOnlySpan<byte> objectId)
    {
        // subtrees of one top-level node are maintained together (create/delete touch node and parent, docs/odrc.md §7)
        if (objectId.Length <= 1) return objectId;
        int i = objectId.Slice(1).IndexOf((byte)'/');
        return i < 0 ? objectId : objectId.Slice(0, i + 1);
    }

    /// <inheritdoc/>
    public void GetObjectState(ReadOnlySpan<byte> objectId, IBufferWriter<byte> state)
    {
        using var ms = new MemoryStream();
        var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true);
        string path = Encoding.UTF8.GetString(objectId);
        var members = new List<(string, Node)>();
        if (_nodes.TryGetValue(path, out var node)) CollectObject(path, node, members);
        w.Write(members.Count);
        foreach (var (p, n) in members) WriteNode(w, p, n);
        w.Flush();
        state.Write(ms.GetBuffer().AsSpan(0, (int)ms.Length));
    }

    /// <summary>The node and its sequential descendants (which live in its object).</summary>
    private void CollectObject(string path, Node node, List<(string, Node)> into)
    {
        into.Add((path, node));
        foreach (var c in node.Children)
        {
            if (!CoordCodec.IsSequential(Encoding.UTF8.GetBytes("/" + c))) continue;
            string child = path == "/" ? "/" + c : path + "/" + c;
            if (_nodes.TryGetValue(child, out var cn)) CollectObject(child, cn, into);
        }
    }

    /// <inheritdoc/>
    public void SetObjectState(ReadOnlySpan<byte> objectId, ReadOnlySpan<byte> state)
    {
        string path = Encoding.UTF8.GetString(objectId);
        var incoming = new List<(string Path, Node Node)>();
        try
        {
            using var ms = new MemoryStream(state.ToArray(), writable: false);
            var r = new BinaryReader(ms, Encoding.UTF8);
            int n = r.ReadInt32();
            if (n < 0 || n > 1 << 24) throw new InvalidDataException("bad node count");
            for (int i = 0; i < n; i++) incoming.Add(ReadNode(r));
            if (ms.Position != ms.Length) throw new InvalidDataException("trailing bytes");
        }
        catch (EndOfStreamException e) { throw new InvalidDataException("truncated object state", e); }
        foreach (var (p, _) in incoming)
            if (!CoordCodec.ObjectOf(Encoding.UTF8.GetBytes(p)).SequenceEqual(objectId)) throw new InvalidDataException("node outside the object");
        var old = new List<(string, Node)>();
        if (_nodes.TryGetValue(path, out var existing)) CollectObject(path, existing, old);
        foreach (var (p, _) in old) _nodes.Remove(p);
        foreach (var (p, node) in incoming) _nodes[p] = node;
    }
}
