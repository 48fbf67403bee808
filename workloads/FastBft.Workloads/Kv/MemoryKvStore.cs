using System.IO.Hashing;

namespace FastBft.Workloads.Kv;

/// <summary>
/// An in-memory <see cref="IKvStore"/>: a hash map keyed by byte strings, looked up by span without allocating
/// (alternate lookup). Ordered iteration sorts the keys (O(n log n)), which only snapshots and digests need.
/// </summary>
public sealed class MemoryKvStore : IKvStore
{
    private readonly Dictionary<byte[], byte[]> _map = new(KeyComparer.Instance);
    private readonly Dictionary<byte[], byte[]>.AlternateLookup<ReadOnlySpan<byte>> _lookup;

    /// <summary>An empty store.</summary>
    public MemoryKvStore() => _lookup = _map.GetAlternateLookup<ReadOnlySpan<byte>>();

    /// <inheritdoc/>
    public string Kind => "memory";
    /// <summary>Number of keys.</summary>
    public int Count => _map.Count;
    /// <inheritdoc/>
    public byte[]? Get(ReadOnlySpan<byte> key) => _lookup.TryGetValue(key, out var v) ? v : null;
    /// <inheritdoc/>
    public bool Contains(ReadOnlySpan<byte> key) => _lookup.ContainsKey(key);
    /// <inheritdoc/>
    public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        if (_lookup.TryGetValue(key, out var actualKey, out var old) && old.Length == value.Length)
        {
            // Same length: overwrite in place (no allocation). Readers never keep values across requests.
            value.CopyTo(old);
            return;
        }
        _lookup[key] = value.ToArray();
        _ = actualKey;
    }
    /// <inheritdoc/>
    public bool Delete(ReadOnlySpan<byte> key) => _lookup.Remove(key);
    /// <inheritdoc/>
    public IEnumerable<KeyValuePair<byte[], byte[]>> ReadAllOrdered()
    {
        var keys = _map.Keys.ToArray();
        Array.Sort(keys, BytewiseComparer.Instance);
        foreach (var k in keys) yield return new KeyValuePair<byte[], byte[]>(k, _map[k]);
    }
    /// <inheritdoc/>
    public void Clear() => _map.Clear();
    /// <inheritdoc/>
    public void Dispose() { }

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
