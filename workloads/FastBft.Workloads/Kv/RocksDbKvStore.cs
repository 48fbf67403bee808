using RocksDbSharp;

namespace FastBft.Workloads.Kv;

/// <summary>
/// An <see cref="IKvStore"/> in a RocksDB database (NuGet RocksDB, which bundles the native library) in one directory.
/// With durability "none" (the only mode so far, docs/kv.md §4) writes skip the write-ahead log and the database is
/// emptied when opened: a replica's state starts empty like the other stores and is rebuilt by the protocol.
/// </summary>
public sealed class RocksDbKvStore : IKvStore
{
    private readonly string _path;
    private RocksDb _db;
    private readonly WriteOptions _write = new WriteOptions().DisableWal(1).SetSync(false);

    /// <summary>Opens (creating) the database in <paramref name="path"/> and empties it.</summary>
    /// <exception cref="IOException">the directory cannot be created or the database not opened (e.g. another process holds its lock).</exception>
    public RocksDbKvStore(string path)
    {
        _path = Path.GetFullPath(path);
        _db = OpenEmpty(_path);
    }

    private static RocksDb OpenEmpty(string path)
    {
        try
        {
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
            Directory.CreateDirectory(path);
            var options = new DbOptions().SetCreateIfMissing(true);
            return RocksDb.Open(options, path);
        }
        catch (RocksDbException e) { throw new IOException($"cannot open RocksDB at '{path}': {e.Message}", e); }
        catch (UnauthorizedAccessException e) { throw new IOException($"cannot open RocksDB at '{path}': {e.Message}", e); }
    }

    /// <summary>The database directory.</summary>
    public string DatabasePath => _path;
    /// <inheritdoc/>
    public string Kind => "rocksdb";
    /// <inheritdoc/>
    public byte[]? Get(ReadOnlySpan<byte> key) => _db.Get(key);
    /// <inheritdoc/>
    public bool Contains(ReadOnlySpan<byte> key) => _db.Get(key) is not null;
    /// <inheritdoc/>
    public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => _db.Put(key, value, null, _write);
    /// <inheritdoc/>
    public bool Delete(ReadOnlySpan<byte> key)
    {
        if (_db.Get(key) is null) return false;
        _db.Remove(key.ToArray(), null, _write);
        return true;
    }
    /// <inheritdoc/>
    public IEnumerable<KeyValuePair<byte[], byte[]>> ReadAllOrdered()
    {
        using var it = _db.NewIterator();
        for (it.SeekToFirst(); it.Valid(); it.Next())
            yield return new KeyValuePair<byte[], byte[]>(it.Key(), it.Value());
    }
    /// <inheritdoc/>
    public void Clear()
    {
        _db.Dispose();
        _db = OpenEmpty(_path);
    }
    /// <inheritdoc/>
    public void Dispose() { _db.Dispose(); }
}
