namespace FastBft.Workloads.Kv;

/// <summary>
/// The storage under the KV service: a map from byte-string keys to byte-string values. Called from one thread (the
/// replica's execution thread). Iteration order is unsigned bytewise key order (RocksDB's default comparator), so
/// snapshots and digests are identical on every replica whatever the storage.
/// </summary>
public interface IKvStore : IDisposable
{
    /// <summary>"memory" or "rocksdb".</summary>
    string Kind { get; }
    /// <summary>The value of <paramref name="key"/>, or null when absent. The caller must not modify the returned array.</summary>
    byte[]? Get(ReadOnlySpan<byte> key);
    /// <summary>True if <paramref name="key"/> is present.</summary>
    bool Contains(ReadOnlySpan<byte> key);
    /// <summary>Sets <paramref name="key"/> to <paramref name="value"/> (both copied).</summary>
    void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);
    /// <summary>Removes <paramref name="key"/>; true if it was present.</summary>
    bool Delete(ReadOnlySpan<byte> key);
    /// <summary>Every (key, value) in unsigned bytewise key order. The store must not change during the enumeration.</summary>
    IEnumerable<KeyValuePair<byte[], byte[]>> ReadAllOrdered();
    /// <summary>Removes everything.</summary>
    void Clear();
}

/// <summary>Unsigned bytewise order of byte strings (memcmp, shorter prefix first), RocksDB's default comparator.</summary>
public sealed class BytewiseComparer : IComparer<byte[]>
{
    /// <summary>The instance.</summary>
    public static readonly BytewiseComparer Instance = new();
    /// <inheritdoc/>
    public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
}
