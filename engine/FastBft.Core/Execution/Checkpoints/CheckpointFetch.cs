using FastBft.Wire;

namespace FastBft.Execution.Checkpoints;

/// <summary>What <see cref="ICheckpointFetch.TryInstall"/> did.</summary>
public enum CheckpointInstall
{
    /// <summary>The checkpoint is installed: the live state and reply cache equal it.</summary>
    Installed,
    /// <summary>More objects are wanted first (<see cref="ICheckpointFetch.TryNextObject"/>).</summary>
    NeedMore,
    /// <summary>The checkpoint cannot be installed from what was fetched; start again.</summary>
    Failed,
}

/// <summary>
/// One incremental fetch of a certified checkpoint (docs/state-transfer.md §3): the state transfer fetches object 0
/// (the meta, verified against the certified digest by the caller), then whatever objects this session asks for,
/// offering each as it completes; the session verifies every object against the digests above it in the tree, so a
/// Byzantine peer can only waste the fetcher's time, and installs the fetched partitions together at the end.
/// </summary>
public interface ICheckpointFetch
{
    /// <summary>The next object to fetch, if any.</summary>
    bool TryNextObject(out uint obj);
    /// <summary>A complete object: true if it verified (and is kept), false if forged or unexpected (nothing kept).</summary>
    bool Offer(uint obj, ReadOnlySpan<byte> bytes);
    /// <summary>Installs once nothing more is wanted.</summary>
    CheckpointInstall TryInstall();
    /// <summary>Largest size an object <paramref name="obj"/> may have, bytes (the fetcher rejects larger claims).</summary>
    long MaxObjectBytes(uint obj);
}

/// <summary>
/// The incremental fetch of a <see cref="CheckpointStore"/> checkpoint: compares the target's group digests with the
/// live tree, fetches the leaf lists of differing groups (verified against the group digest), then the contents of the
/// differing partitions (verified by the service against the leaf digest), and installs them in one
/// <see cref="Service.IPartitionedState.InstallPartitions"/> call with the reply cache from the meta. If the live state
/// changed meanwhile so that a partition not fetched no longer matches, it asks for that partition too before installing.
/// </summary>
public sealed class CheckpointFetch : ICheckpointFetch
{
    private readonly CheckpointStore _store;
    private readonly byte[] _replyCache;
    private readonly byte[] _groups;                       // target group digests
    private readonly byte[]?[] _leaves;                    // target leaf lists, per group, once fetched
    private readonly Dictionary<int, byte[]> _parts = new();
    private readonly Queue<uint> _wanted = new();
    private readonly HashSet<uint> _queued = new();
    private readonly long _maxBytes;
    private long _buffered;

    private CheckpointFetch(CheckpointStore store, byte[] replyCache, byte[] groups, long maxBytes)
    {
        _store = store; _replyCache = replyCache; _groups = groups; _maxBytes = maxBytes;
        _leaves = new byte[store.Tree.Groups][];
    }

    /// <summary>Sequence number of the checkpoint.</summary>
    public ulong Sequence { get; private init; }
    /// <summary>Bytes of partition content fetched so far.</summary>
    public long PartitionBytes { get; private set; }
    /// <summary>Partitions fetched so far.</summary>
    public int PartitionsFetched => _parts.Count;
    /// <summary>Leaf lists fetched so far.</summary>
    public int GroupsFetched { get; private set; }

    internal static CheckpointFetch? TryCreate(CheckpointStore store, ulong sequence, ReadOnlySpan<byte> meta, long maxBytes)
    {
        if (!CheckpointStore.TryParseMeta(meta, store.Tree.Partitions, out int ro, out int rl, out int go)) return null;
        var replies = meta.Slice(ro, rl).ToArray();
        try { if (new ReplyCache().Read(replies) != replies.Length) return null; }
        catch (InvalidDataException) { return null; }
        var groups = meta.Slice(go, store.Tree.Groups * Digests.Size);
        var f = new CheckpointFetch(store, replies, groups.ToArray(), maxBytes) { Sequence = sequence };
        if (store.Tree.Partitions == 1)
        {
            // One partition, carried in the meta: its digest must hash to the group digest.
            var content = meta.Slice(go + Digests.Size);
            Span<byte> leaf = stackalloc byte[Digests.Size];
            Span<byte> group = stackalloc byte[Digests.Size];
            if (!store.State.TryComputePartitionDigest(0, content, leaf)) return null;
            Digests.Sha256(leaf, group);
            if (!group.SequenceEqual(groups)) return null;
            f._leaves[0] = leaf.ToArray();
            store.Tree.Refresh();
            if (!store.Tree.Leaves.SequenceEqual(leaf)) { f._parts[0] = content.ToArray(); f.PartitionBytes = content.Length; }
        }
        f.Plan();
        return f;
    }

    private void Want(uint obj) { if (_queued.Add(obj)) _wanted.Enqueue(obj); }

    /// <summary>Compares the target with the live tree and queues what differs and is not fetched yet; true if all matches.</summary>
    private bool Plan()
    {
        var tree = _store.Tree;
        tree.Refresh();
        bool complete = true;
        for (int g = 0; g < tree.Groups; g++)
        {
            var target = _groups.AsSpan(g * Digests.Size, Digests.Size);
            if (tree.GroupDigests.Slice(g * Digests.Size, Digests.Size).SequenceEqual(target)) continue;
            if (_leaves[g] is not { } leaves) { Want(1u + (uint)g); complete = false; continue; }
            for (int i = 0; i < tree.LeavesIn(g); i++)
            {
                int p = g * PartitionTree.Fanout + i;
                if (_parts.ContainsKey(p)) continue;
                if (tree.Leaves.Slice(p * Digests.Size, Digests.Size).SequenceEqual(leaves.AsSpan(i * Digests.Size, Digests.Size))) continue;
                Want(_store.FirstPartitionObject + (uint)p);
                complete = false;
            }
        }
        return complete;
    }

    /// <inheritdoc/>
    public bool TryNextObject(out uint obj)
    {
        while (_wanted.TryDequeue(out obj))
        {
            _queued.Remove(obj);
            return true;
        }
        obj = 0;
        return false;
    }

    /// <inheritdoc/>
    public long MaxObjectBytes(uint obj)
    {
        if (obj == 0 || obj >= _store.ObjectCount) return 0;
        if (obj < _store.FirstPartitionObject) return _store.Tree.LeavesIn((int)obj - 1) * Digests.Size;
        return Math.Max(0, _maxBytes - _buffered);
    }

    /// <inheritdoc/>
    public bool Offer(uint obj, ReadOnlySpan<byte> bytes)
    {
        var tree = _store.Tree;
        Span<byte> d = stackalloc byte[Digests.Size];
        if (obj == 0 || obj >= _store.ObjectCount) return false;
        if (obj < _store.FirstPartitionObject)
        {
            int g = (int)obj - 1;
            if (bytes.Length != tree.LeavesIn(g) * Digests.Size) return false;
            Digests.Sha256(bytes, d);
            if (!d.SequenceEqual(_groups.AsSpan(g * Digests.Size, Digests.Size))) return false;
            _leaves[g] = bytes.ToArray();
            GroupsFetched++;
            for (int i = 0; i < tree.LeavesIn(g); i++)
            {
                int p = g * PartitionTree.Fanout + i;
                if (!tree.Leaves.Slice(p * Digests.Size, Digests.Size).SequenceEqual(bytes.Slice(i * Digests.Size, Digests.Size))) Want(_store.FirstPartitionObject + (uint)p);
            }
            return true;
        }
        int part = (int)(obj - _store.FirstPartitionObject);
        int group = part / PartitionTree.Fanout;
        if (_leaves[group] is not { } list || _buffered + bytes.Length > _maxBytes) return false;
        if (!_store.State.TryComputePartitionDigest(part, bytes, d)) return false;
        if (!d.SequenceEqual(list.AsSpan(part % PartitionTree.Fanout * Digests.Size, Digests.Size))) return false;
        if (_parts.TryGetValue(part, out var old)) _buffered -= old.Length;
        _parts[part] = bytes.ToArray();
        _buffered += bytes.Length;
        PartitionBytes += bytes.Length;
        return true;
    }

    /// <inheritdoc/>
    public CheckpointInstall TryInstall()
    {
        if (_wanted.Count > 0) return CheckpointInstall.NeedMore;
        if (!Plan()) return CheckpointInstall.NeedMore;    // the live state moved: fetch what no longer matches
        if (_parts.Count > 0)
        {
            var list = new List<KeyValuePair<int, byte[]>>(_parts);
            list.Sort(static (a, b) => a.Key.CompareTo(b.Key));
            try { _store.State.InstallPartitions(list); }
            catch (InvalidDataException) { return CheckpointInstall.Failed; }
        }
        try { _store.Replies.Read(_replyCache); }
        catch (InvalidDataException) { return CheckpointInstall.Failed; }
        var tree = _store.Tree;
        tree.Refresh();
        return tree.GroupDigests.SequenceEqual(_groups) ? CheckpointInstall.Installed : CheckpointInstall.Failed;
    }
}
