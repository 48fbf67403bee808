using System.Buffers.Binary;
using RocksDbSharp;

namespace FastBft.Workloads.Kv;

/// <summary>How a <see cref="RocksDbKvStore"/> persists (docs/durability.md).</summary>
public enum KvDurability
{
    /// <summary>No write-ahead log; the database is emptied when opened.</summary>
    None,
    /// <summary>Each batch is one RocksDB write with the WAL, not synced: survives a process kill, not a power loss.</summary>
    Process,
    /// <summary>Each batch is one RocksDB write with the WAL, synced (fsync) before the batch's replies leave.</summary>
    Fsync,
}

/// <summary>
/// An <see cref="IKvStore"/> in a RocksDB database (NuGet RocksDB, which bundles the native library) in one directory.
/// Key layout: <c>partition[2, big-endian] ‖ key</c> for data (so a partition is one key range, read from a RocksDB
/// snapshot by <see cref="Freeze"/>), and <c>FF ‖ 's'</c> (last executed sequence number, 8 bytes LE) and
/// <c>FF ‖ 'r' ‖ client[4, BE]</c> (that client's reply-cache entry) for what a durable replica persists with its state
/// (docs/durability.md). With <see cref="KvDurability.None"/> writes skip the WAL and the database is emptied when
/// opened; otherwise the writes of a batch are collected (readable through an overlay) and written in one atomic
/// WriteBatch by <see cref="CommitBatch"/>, synced for <see cref="KvDurability.Fsync"/>.
/// </summary>
public sealed class RocksDbKvStore : IKvStore, FastBft.Agreement.Pbft.IAgreementLog
{
    private const byte MetaPrefix = 0xFF;
    private static readonly byte[] SeqKey = [MetaPrefix, (byte)'s'];
    private static readonly byte[] ReplyPrefix = [MetaPrefix, (byte)'r'];
    private static readonly byte[] ReplyEnd = [MetaPrefix, (byte)'r' + 1];
    private static readonly byte[] LogPrefix = [MetaPrefix, (byte)'a'];
    private static readonly byte[] LogEnd = [MetaPrefix, (byte)'a' + 1];
    private readonly WriteBatch _logBatch = new();
    private readonly byte[] _logKey = new byte[11];
    private bool _logQueued;

    private readonly string _path;
    private RocksDb _db;
    private readonly WriteOptions _write;
    private readonly WriteOptions _writeUnsynced = new WriteOptions().SetSync(false);
    private readonly int _partitions;
    private byte[] _keyBuf = new byte[256];
    private readonly WriteBatch _pending = new();
    private readonly Dictionary<byte[], byte[]?> _overlay = new(ByteArrayComparer.Instance);
    private readonly Dictionary<byte[], byte[]?>.AlternateLookup<ReadOnlySpan<byte>> _overlayLookup;
    private bool _pendingWrites;

    /// <summary>Opens (creating) the database in <paramref name="path"/>; with durability none it is emptied first.</summary>
    /// <param name="path">the directory.</param>
    /// <param name="durability">what is persisted (docs/durability.md).</param>
    /// <param name="partitions">partitions P (a power of two, 1..32,768); a durable database must be reopened with the same P.</param>
    /// <exception cref="IOException">the directory cannot be created or the database not opened (e.g. another process holds its lock), or it was written with another partition count.</exception>
    public RocksDbKvStore(string path, KvDurability durability = KvDurability.None, int partitions = KvService.DefaultPartitions)
    {
        if (partitions < 1 || partitions > 32768 || (partitions & (partitions - 1)) != 0) throw new ArgumentException($"partition count {partitions} must be a power of two in 1..32768", nameof(partitions));
        _path = Path.GetFullPath(path);
        Durability = durability;
        _partitions = partitions;
        _write = new WriteOptions().SetSync(durability == KvDurability.Fsync);
        if (durability == KvDurability.None) _write.DisableWal(1);
        _overlayLookup = _overlay.GetAlternateLookup<ReadOnlySpan<byte>>();
        _db = Open(_path, empty: durability == KvDurability.None);
        Recover();
    }

    private static RocksDb Open(string path, bool empty)
    {
        try
        {
            if (empty && Directory.Exists(path)) Directory.Delete(path, recursive: true);
            Directory.CreateDirectory(path);
            var options = new DbOptions().SetCreateIfMissing(true);
            return RocksDb.Open(options, path);
        }
        catch (RocksDbException e) { throw new IOException($"cannot open RocksDB at '{path}': {e.Message}", e); }
        catch (UnauthorizedAccessException e) { throw new IOException($"cannot open RocksDB at '{path}': {e.Message}", e); }
    }

    /// <summary>The database directory.</summary>
    public string DatabasePath => _path;
    /// <summary>What is persisted.</summary>
    public KvDurability Durability { get; }
    /// <inheritdoc/>
    public string Kind => "rocksdb";
    /// <inheritdoc/>
    public int PartitionCount => _partitions;
    /// <summary>The last executed sequence number persisted (0 if none), read when opened.</summary>
    public ulong RecoveredSequence { get; private set; }
    /// <summary>The reply cache persisted with <see cref="RecoveredSequence"/> (ReplyCache.Write format), read when opened.</summary>
    public byte[] RecoveredReplies { get; private set; } = new byte[4];
    /// <summary>Batches committed (durable modes).</summary>
    public long BatchesCommitted { get; private set; }

    private void Recover()
    {
        var seq = _db.Get(SeqKey);
        if (seq is { Length: 8 }) RecoveredSequence = BinaryPrimitives.ReadUInt64LittleEndian(seq);
        var ms = new MemoryStream();
        ms.Write(new byte[4]);
        int count = 0;
        var ro = new ReadOptions().SetIterateUpperBound(ReplyEnd);
        using (var it = _db.NewIterator(null, ro))
        {
            for (it.Seek(ReplyPrefix); it.Valid(); it.Next()) { ms.Write(it.Value()); count++; }
        }
        var bytes = ms.ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(bytes, count);
        RecoveredReplies = bytes;
        var log = new List<FastBft.Agreement.Pbft.AgreementRecord>();
        var lo = new ReadOptions().SetIterateUpperBound(LogEnd);
        using (var it = _db.NewIterator(null, lo))
        {
            for (it.Seek(LogPrefix); it.Valid(); it.Next())
            {
                var k = it.Key();
                if (k.Length != 11) continue;
                log.Add(new(k[2], BinaryPrimitives.ReadUInt64BigEndian(k.AsSpan(3)), it.Value()));
            }
        }
        Recovered = log;
    }

    // ------------------------------------------------------------------ agreement log (docs/durability.md §4.2)
    // Keys FF ‖ 'a' ‖ kind ‖ seq[8, BE]; written in their own WriteBatch (never mixed with a batch's KV writes), with the
    // WAL; synced only in fsync mode and only when the core asks (before a PRE-PREPARE, PREPARE, COMMIT or view change leaves).

    /// <inheritdoc/>
    public IReadOnlyList<FastBft.Agreement.Pbft.AgreementRecord> Recovered { get; private set; } = [];

    /// <summary>Agreement-log writes (commits) so far, and how many of them were synced.</summary>
    public long LogWrites { get; private set; }
    /// <summary>Agreement-log writes that were synced (fsync mode).</summary>
    public long LogSyncs { get; private set; }

    private ReadOnlySpan<byte> LogKey(byte kind, ulong seq)
    {
        _logKey[0] = MetaPrefix; _logKey[1] = (byte)'a'; _logKey[2] = kind;
        BinaryPrimitives.WriteUInt64BigEndian(_logKey.AsSpan(3), seq);
        return _logKey;
    }

    /// <inheritdoc/>
    public void Put(byte kind, ulong sequence, ReadOnlySpan<byte> value)
    {
        if (!Durable) return;
        _logBatch.Put(LogKey(kind, sequence), value);
        _logQueued = true;
    }

    /// <inheritdoc/>
    public void DeleteThrough(ulong sequence)
    {
        if (!Durable || sequence == ulong.MaxValue) return;
        foreach (byte kind in (ReadOnlySpan<byte>)[FastBft.Agreement.Pbft.AgreementLogKinds.Slot, FastBft.Agreement.Pbft.AgreementLogKinds.Prepared])
        {
            var from = LogKey(kind, 0).ToArray();
            var to = LogKey(kind, sequence + 1).ToArray();
            _logBatch.DeleteRange(from, (ulong)from.Length, to, (ulong)to.Length);
        }
        _logQueued = true;
    }

    /// <inheritdoc/>
    public bool GroupsSyncs => Durability == KvDurability.Fsync;

    /// <inheritdoc/>
    public void Commit(bool sync)
    {
        if (!_logQueued) return;
        bool synced = sync && Durability == KvDurability.Fsync;
        _db.Write(_logBatch, synced ? _write : _writeUnsynced);
        _logBatch.Clear();
        _logQueued = false;
        LogWrites++;
        if (synced) LogSyncs++;
    }

    private ReadOnlySpan<byte> Prefixed(ReadOnlySpan<byte> key) => Prefixed(KvStateHash.PartitionOf(key, _partitions), key);

    private ReadOnlySpan<byte> Prefixed(int partition, ReadOnlySpan<byte> key)
    {
        if (_keyBuf.Length < key.Length + 2) _keyBuf = new byte[Math.Max(key.Length + 2, _keyBuf.Length * 2)];
        BinaryPrimitives.WriteUInt16BigEndian(_keyBuf, (ushort)partition);
        key.CopyTo(_keyBuf.AsSpan(2));
        return _keyBuf.AsSpan(0, key.Length + 2);
    }

    private static byte[] PartitionStart(int p) { var b = new byte[2]; BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)p); return b; }
    private static byte[] PartitionEnd(int p) => p + 1 < 0x10000 ? PartitionStart(p + 1) : [MetaPrefix];

    private bool Durable => Durability != KvDurability.None;

    /// <inheritdoc/>
    public byte[]? Get(ReadOnlySpan<byte> key)
    {
        var k = Prefixed(key);
        if (_pendingWrites && _overlayLookup.TryGetValue(k, out var v)) return v;
        return _db.Get(k);
    }
    /// <inheritdoc/>
    public bool Contains(ReadOnlySpan<byte> key) => Get(key) is not null;
    /// <inheritdoc/>
    public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var k = Prefixed(key);
        if (!Durable) { _db.Put(k, value, null, _write); return; }
        _pending.Put(k, value);
        _overlayLookup[k] = value.ToArray();
        _pendingWrites = true;
    }
    /// <inheritdoc/>
    public bool Delete(ReadOnlySpan<byte> key)
    {
        if (Get(key) is null) return false;
        var k = Prefixed(key).ToArray();
        if (!Durable) { _db.Remove(k, null, _write); return true; }
        _pending.Delete(k);
        _overlay[k] = null;
        _pendingWrites = true;
        return true;
    }

    /// <summary>
    /// Persists the batch: its collected writes, the sequence number and the reply-cache entries (each
    /// <c>clientId[4, LE] ‖ …</c>, ReplyCache.WriteEntry) in one atomic RocksDB write (synced for fsync). No-op for none.
    /// </summary>
    public void CommitBatch(ulong sequence, ReadOnlySpan<byte> replyEntries) => Commit(sequence, replyEntries, sync: _pendingWrites);

    /// <summary>
    /// The write. A batch that changed no key (only reads) is written without sync even for fsync: losing it in a
    /// power loss loses only reply-cache entries of reads and the sequence number, and a read executed again changes
    /// nothing (docs/durability.md §2).
    /// </summary>
    private void Commit(ulong sequence, ReadOnlySpan<byte> replyEntries, bool sync)
    {
        if (!Durable) return;
        Span<byte> seq = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(seq, sequence);
        _pending.Put(SeqKey, seq);
        Span<byte> rk = stackalloc byte[6];
        ReplyPrefix.CopyTo(rk);
        while (!replyEntries.IsEmpty)
        {
            int len = FastBft.Execution.ReplyCache.EntrySize(replyEntries);
            BinaryPrimitives.WriteUInt32BigEndian(rk.Slice(2), BinaryPrimitives.ReadUInt32LittleEndian(replyEntries));
            _pending.Put(rk, replyEntries.Slice(0, len));
            replyEntries = replyEntries.Slice(len);
        }
        _db.Write(_pending, sync || Durability != KvDurability.Fsync ? _write : _writeUnsynced);
        _pending.Clear();
        _overlay.Clear();
        _pendingWrites = false;
        BatchesCommitted++;
    }

    /// <summary>Persists an installed checkpoint: the replaced partitions (collected by <see cref="ReplacePartitions"/>), the sequence number and the whole reply cache (ReplyCache.Write format), in one write.</summary>
    public void CommitInstall(ulong sequence, ReadOnlySpan<byte> replyCache)
    {
        if (!Durable) return;
        _pending.DeleteRange(ReplyPrefix, (ulong)ReplyPrefix.Length, ReplyEnd, (ulong)ReplyEnd.Length);
        var entries = replyCache.Length >= 4 ? replyCache.Slice(4) : default;
        Commit(sequence, entries, sync: true);
    }

    /// <inheritdoc/>
    public IEnumerable<KeyValuePair<byte[], byte[]>> ReadAllOrdered()
    {
        var all = new List<KeyValuePair<byte[], byte[]>>();
        for (int p = 0; p < _partitions; p++) ReadPartition(p, all);
        all.Sort(static (a, b) => a.Key.AsSpan().SequenceCompareTo(b.Key));
        return all;
    }

    /// <inheritdoc/>
    public void ReadPartition(int partition, List<KeyValuePair<byte[], byte[]>> into) => ReadRange(_db, null, partition, into);

    private static void ReadRange(RocksDb db, Snapshot? snapshot, int partition, List<KeyValuePair<byte[], byte[]>> into)
    {
        var ro = new ReadOptions().SetIterateUpperBound(PartitionEnd(partition));
        if (snapshot is not null) ro.SetSnapshot(snapshot);
        using var it = db.NewIterator(null, ro);
        for (it.Seek(PartitionStart(partition)); it.Valid(); it.Next())
        {
            var k = it.Key();
            into.Add(new KeyValuePair<byte[], byte[]>(k.AsSpan(2).ToArray(), it.Value()));
        }
    }

    /// <inheritdoc/>
    public IKvStoreView Freeze() => new View(_db, _db.CreateSnapshot());

    /// <inheritdoc/>
    public void ReplacePartitions(IReadOnlyList<KeyValuePair<int, List<KeyValuePair<byte[], byte[]>>>> partitions)
    {
        var batch = Durable ? _pending : new WriteBatch();
        foreach (var (p, entries) in partitions)
        {
            var start = PartitionStart(p);
            var end = PartitionEnd(p);
            batch.DeleteRange(start, (ulong)start.Length, end, (ulong)end.Length);
            foreach (var (k, v) in entries) batch.Put(Prefixed(p, k).ToArray(), v);
        }
        if (Durable) return;                                // CommitInstall writes it with the sequence number
        _db.Write(batch, _write);
        batch.Dispose();
    }

    /// <inheritdoc/>
    public void Clear()
    {
        _db.Dispose();
        _db = Open(_path, empty: true);
        _overlay.Clear(); _pending.Clear(); _pendingWrites = false;
    }
    /// <inheritdoc/>
    public void Dispose() { _pending.Dispose(); _db.Dispose(); }

    private sealed class View(RocksDb db, Snapshot snapshot) : IKvStoreView
    {
        public void ReadPartition(int partition, List<KeyValuePair<byte[], byte[]>> into) => ReadRange(db, snapshot, partition, into);
        public void Dispose() => snapshot.Dispose();
    }

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();
        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(byte[] obj) => GetHashCode((ReadOnlySpan<byte>)obj);
        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);
        public int GetHashCode(ReadOnlySpan<byte> alternate) => (int)System.IO.Hashing.XxHash3.HashToUInt64(alternate);
        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
    }
}
