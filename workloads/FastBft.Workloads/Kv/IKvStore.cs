namespace FastBft.Workloads.Kv;

/// <summary>
/// The storage under the KV service: a map from byte-string keys to byte-string values, split into
/// <see cref="PartitionCount"/> partitions by <see cref="KvStateHash.PartitionOf(ReadOnlySpan{byte}, int)"/> (docs/state-transfer.md §4).
/// Called from one thread (the replica's execution thread). Ordered reads are in unsigned bytewise key order (RocksDB's
/// default comparator), so partition contents are identical on every replica whatever the storage.
/// </summary>
public interface IKvStore : IDisposable
{
    /// <summary>"memory" or "rocksdb".</summary>
    string Kind { get; }
    /// <summary>Partitions P (a power of two, 1..65,536).</summary>
    int PartitionCount { get; }
    /// <summary>The value of <paramref name="key"/>, or null when absent. The caller must not modify or keep the returned array.</summary>
    byte[]? Get(ReadOnlySpan<byte> key);
    /// <summary>True if <paramref name="key"/> is present.</summary>
    bool Contains(ReadOnlySpan<byte> key);
    /// <summary>Sets <paramref name="key"/> to <paramref name="value"/> (both copied).</summary>
    void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);
    /// <summary>Removes <paramref name="key"/>; true if it was present.</summary>
    bool Delete(ReadOnlySpan<byte> key);
    /// <summary>Every (key, value) in unsigned bytewise key order. The store must not change during the enumeration.</summary>
    IEnumerable<KeyValuePair<byte[], byte[]>> ReadAllOrdered();
    /// <summary>Appends the pairs of partition <paramref name="partition"/> in key order to <paramref name="into"/>.</summary>
    void ReadPartition(int partition, List<KeyValuePair<byte[], byte[]>> into);
    /// <summary>Freezes the current contents (no copy: RocksDB snapshot, or copy-on-write of partitions written later).</summary>
    IKvStoreView Freeze();
    /// <summary>Replaces the listed partitions' contents (each list in key order, keys of that partition) in one step.</summary>
    void ReplacePartitions(IReadOnlyList<KeyValuePair<int, List<KeyValuePair<byte[], byte[]>>>> partitions);
    /// <summary>Removes everything.</summary>
    void Clear();
}

/// <summary>A frozen view of an <see cref="IKvStore"/> (a checkpoint); disposing releases it.</summary>
public interface IKvStoreView : IDisposable
{
    /// <summary>Appends the frozen pairs of partition <paramref name="partition"/> in key order to <paramref name="into"/>.</summary>
    void ReadPartition(int partition, List<KeyValuePair<byte[], byte[]>> into);
}

/// <summary>Unsigned bytewise order of byte strings (memcmp, shorter prefix first), RocksDB's default comparator.</summary>
public sealed class BytewiseComparer : IComparer<byte[]>
{
    /// <summary>The instance.</summary>
    public static readonly BytewiseComparer Instance = new();
    /// <inheritdoc/>
    public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
}
