using System.IO.Hashing;

namespace FastBft.Workloads.Kv;

/// <summary>
/// An in-memory <see cref="IKvStore"/>: one hash map per partition, keyed by byte strings and looked up by span without
/// allocating (alternate lookup). <see cref="Freeze"/> copies nothing: it marks every partition shared with the
/// frozen view, and the first write to a shared partition afterwards clones that partition (keys and values) —
/// copy-on-write of the partitions written since the checkpoint, O(partition size) once per written partition per
/// checkpoint. Same-size overwrites of an unshared partition reuse the value array (no allocation).
/// </summary>
public sealed class MemoryKvStore : IKvStore
{
    private sealed class Part
    {
        public Dictionary<byte[], byte[]> Map;
        public Dictionary<byte[], byte[]>.AlternateLookup<ReadOnlySpan<byte>> Lookup;
        public bool Shared;
        public Part(Dictionary<byte[], byte[]> map) { Map = map; Lookup = map.GetAlternateLookup<ReadOnlySpan<byte>>(); }
    }

    private readonly Part[] _parts;

    /// <summary>An empty store of <paramref name="partitions"/> partitions (a power of two).</summary>
    /// <exception cref="ArgumentException">not a power of two in 1..65,536.</exception>
    public MemoryKvStore(int partitions = KvService.DefaultPartitions)
    {
        if (partitions < 1 || partitions > 65536 || (partitions & (partitions - 1)) != 0) throw new ArgumentException($"partition count {partitions} must be a power of two in 1..65536", nameof(partitions));
        _parts = new Part[partitions];
        for (int i = 0; i < partitions; i++) _parts[i] = new Part(new Dictionary<byte[], byte[]>(KeyComparer.Instance));
    }

    /// <inheritdoc/>
    public string Kind => "memory";
    /// <inheritdoc/>
    public int PartitionCount => _parts.Length;
    /// <summary>Number of keys.</summary>
    public int Count { get { int c = 0; foreach (var p in _parts) c += p.Map.Count; return c; } }
    /// <summary>Partitions cloned by copy-on-write so far.</summary>
    public long PartitionsCopied { get; private set; }

    private Part PartOf(ReadOnlySpan<byte> key) => _parts[KvStateHash.PartitionOf(key, _parts.Length)];

    private Part Writable(ReadOnlySpan<byte> key)
    {
        int i = KvStateHash.PartitionOf(key, _parts.Length);
        var p = _parts[i];
        if (!p.Shared) return p;
        var copy = new Dictionary<byte[], byte[]>(p.Map.Count, KeyComparer.Instance);
        foreach (var (k, v) in p.Map) copy.Add(k, (byte[])v.Clone());     // keys are never mutated; values may be
        PartitionsCopied++;
        return _parts[i] = new Part(copy);
    }

    /// <inheritdoc/>
    public byte[]? Get(ReadOnlySpan<byte> key) => PartOf(key).Lookup.TryGetValue(key, out var v) ? v : null;
    /// <inheritdoc/>
    public bool Contains(ReadOnlySpan<byte> key) => PartOf(key).Lookup.ContainsKey(key);
    /// <inheritdoc/>
    public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var p = Writable(key);
        if (p.Lookup.TryGetValue(key, out var old) && old.Length == value.Length)
        {
            value.CopyTo(old);          // same length: overwrite in place (no allocation); readers never keep values
            return;
        }
        p.Lookup[key] = value.ToArray();
    }
    /// <inheritdoc/>
    public bool Delete(ReadOnlySpan<byte> key) => PartOf(key).Lookup.ContainsKey(key) && Writable(key).Lookup.Remove(key);
    /// <inheritdoc/>
    public IEnumerable<KeyValuePair<byte[], byte[]>> ReadAllOrdered()
    {
        var all = new List<KeyValuePair<byte[], byte[]>>();
        foreach (var p in _parts) all.AddRange(p.Map);
        all.Sort(static (a, b) => a.Key.AsSpan().SequenceCompareTo(b.Key));
        return all;
    }
    /// <inheritdoc/>
    public void ReadPartition(int partition, List<KeyValuePair<byte[], byte[]>> into) => ReadOrdered(_parts[partition].Map, into);

    private static void ReadOrdered(Dictionary<byte[], byte[]> map, List<KeyValuePair<byte[], byte[]>> into)
    {
        int start = into.Count;
        into.AddRange(map);
        into.Sort(start, into.Count - start, PairComparer.Instance);
    }

    /// <inheritdoc/>
    public IKvStoreView Freeze()
    {
        var maps = new Dictionary<byte[], byte[]>[_parts.Length];
        for (int i = 0; i < _parts.Length; i++) { _parts[i].Shared = true; maps[i] = _parts[i].Map; }
        return new View(maps);
    }

    /// <inheritdoc/>
    public void ReplacePartitions(IReadOnlyList<KeyValuePair<int, List<KeyValuePair<byte[], byte[]>>>> partitions)
    {
        foreach (var (i, entries) in partitions)
        {
            var map = new Dictionary<byte[], byte[]>(entries.Count, KeyComparer.Instance);
            foreach (var (k, v) in entries) map[k] = v;
            _parts[i] = new Part(map);
        }
    }
    /// <inheritdoc/>
    public void Clear() { for (int i = 0; i < _parts.Length; i++) _parts[i] = new Part(new Dictionary<byte[], byte[]>(KeyComparer.Instance)); }
    /// <inheritdoc/>
    public void Dispose() { }

    private sealed class View(Dictionary<byte[], byte[]>[] maps) : IKvStoreView
    {
        public void ReadPartition(int partition, List<KeyValuePair<byte[], byte[]>> into) => ReadOrdered(maps[partition], into);
        public void Dispose() { }
    }

    private sealed class PairComparer : IComparer<KeyValuePair<byte[], byte[]>>
    {
        public static readonly PairComparer Instance = new();
        public int Compare(KeyValuePair<byte[], byte[]> x, KeyValuePair<byte[], byte[]> y) => x.Key.AsSpan().SequenceCompareTo(y.Key);
    }

    private sealed class KeyComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly KeyComparer Instance = new();
        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(byte[] obj) => GetHashCode((ReadOnlySpan<byte>)obj);
        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);
        public int GetHashCode(ReadOnlySpan<byte> alternate) => (int)XxHash3.HashToUInt64(alternate, Seed);
        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
        // Hash flooding: the seed is per process, so a client cannot precompute colliding keys for every replica.
        private static readonly long Seed = Random.Shared.NextInt64();
    }
}
