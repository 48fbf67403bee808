using System.Buffers;
using System.Buffers.Binary;
using System.Buffers.Text;
using FastBft.Service;

namespace FastBft.Workloads.Kv;

/// <summary>
/// The replicated key-value service (docs/kv.md): GET, SET, DEL, EXISTS, INCR/INCRBY, MGET, MSET and compare-and-set
/// over an <see cref="IKvStore"/> (in memory or RocksDB). Operations use the binary encoding of <see cref="KvCodec"/>;
/// replies are RESP2 bytes (<see cref="RespWriter"/>) that the Redis gateway forwards unchanged. Execution is
/// deterministic — the reply and the new state depend only on the state and the operation — and never throws for bad
/// input: a malformed operation, a non-integer value under INCR or a reply above <see cref="MaxReplyBytes"/> produce a
/// RESP error reply and change nothing.
/// State update for passive replicas (Thesis §5.2.2): empty for a request that wrote nothing, else
/// count[4, LE] ‖ per write: 0x01 ‖ key ‖ value (put) or 0x00 ‖ key (delete), byte strings as in <see cref="KvCodec"/>.
/// Checkpoints (docs/state-transfer.md §4): the state is split into <see cref="IKvStore.PartitionCount"/> partitions,
/// each with an incremental LtHash digest (<see cref="KvStateHash"/>) updated on every write, so the execution stage's
/// checkpoints and state transfer cost what changed (<see cref="IPartitionedState"/>). Durability
/// (docs/durability.md): over a durable <see cref="RocksDbKvStore"/>, each batch is persisted with its sequence number and
/// reply-cache entries (<see cref="IDurableState"/>).
/// </summary>
public sealed partial class KvService : IReplicatedService, IRequestAnalyzer, IPartitionedState, IDurableState, FastBft.Agreement.Pbft.IAgreementLogProvider, IDisposable
{
    /// <summary>Default partitions P (4,096: 8 MiB of LtHash state per replica).</summary>
    public const int DefaultPartitions = 4096;

    /// <summary>Default largest reply, bytes (1 MiB; well below the default 8 MiB message limit).</summary>
    public const int DefaultMaxReplyBytes = 1 << 20;

    private readonly IKvStore _store;
    private IBufferWriter<byte>? _update;
    private int _updateCount;
    private readonly ArrayBufferWriter<byte> _updateScratch = new(256);

    /// <summary>Creates the service over <paramref name="store"/> (owned: disposed with the service).</summary>
    /// <param name="store">the storage.</param>
    /// <param name="maxReplyBytes">largest reply an MGET may produce before it is answered with an error instead, bytes (≥ 64).</param>
    /// <exception cref="ArgumentOutOfRangeException">maxReplyBytes below 64.</exception>
    public KvService(IKvStore store, int maxReplyBytes = DefaultMaxReplyBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxReplyBytes, 64);
        _store = store;
        MaxReplyBytes = maxReplyBytes;
        _hash = new KvStateHash(store.PartitionCount);
        RebuildHashes();
    }

    private readonly KvStateHash _hash;
    private readonly List<KeyValuePair<byte[], byte[]>> _scratchPairs = new();

    /// <summary>Recomputes every partition's hash from the store (after an open of a durable store or a whole restore): O(state).</summary>
    private void RebuildHashes()
    {
        _hash.ClearAll();
        for (int p = 0; p < _store.PartitionCount; p++)
        {
            _scratchPairs.Clear();
            _store.ReadPartition(p, _scratchPairs);
            foreach (var (k, v) in _scratchPairs) _hash.Apply(p, k, v, add: true);
        }
        _scratchPairs.Clear();
    }

    private void StorePut(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        int p = _hash.PartitionOf(key);
        var old = _store.Get(key);
        if (old is not null) _hash.Apply(p, key, old, add: false);     // before the store may overwrite old in place
        _hash.Apply(p, key, value, add: true);
        _store.Put(key, value);
    }

    private bool StoreDelete(ReadOnlySpan<byte> key)
    {
        var old = _store.Get(key);
        if (old is null) return false;
        _hash.Apply(_hash.PartitionOf(key), key, old, add: false);
        return _store.Delete(key);
    }

    /// <summary>The storage.</summary>
    public IKvStore Store => _store;
    /// <summary>Largest reply, bytes.</summary>
    public int MaxReplyBytes { get; }
    /// <summary>Requests executed or applied.</summary>
    public long Executed { get; private set; }
    /// <summary>Requests answered with an error reply (malformed, wrong type, too large).</summary>
    public long Errors { get; private set; }

    /// <inheritdoc/>
    public bool AnalyzeRequest(ReadOnlySpan<byte> operation, List<byte[]> objects) => KvCodec.TryGetKeys(operation, objects);

    /// <inheritdoc/>
    public void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update)
    {
        Executed++;
        // Writes are recorded into a scratch buffer and copied to the update only if the request wrote something
        // (a read-only request leaves the update empty, Thesis §4.2.2).
        _update = update is null ? null : _updateScratch;
        _updateScratch.ResetWrittenCount();
        _updateCount = 0;
        if (_update is not null) { _update.GetSpan(4); _update.Advance(4); }
        if (!Run(operation, reply)) Errors++;
        if (update is not null && _updateCount > 0)
        {
            var span = _updateScratch.WrittenSpan;
            var dst = update.GetSpan(span.Length);
            span.CopyTo(dst);
            BinaryPrimitives.WriteInt32LittleEndian(dst, _updateCount);
            update.Advance(span.Length);
        }
        _update = null;
    }

    private static readonly byte[] Malformed = "ERR malformed KV operation"u8.ToArray();
    private static readonly byte[] NotInteger = "ERR value is not an integer or out of range"u8.ToArray();
    private static readonly byte[] Overflow = "ERR increment or decrement would overflow"u8.ToArray();
    private static readonly byte[] TooLarge = "ERR reply too large"u8.ToArray();

    /// <summary>Executes one operation; false if it was answered with an error.</summary>
    private bool Run(ReadOnlySpan<byte> operation, IBufferWriter<byte> reply)
    {
        // Validate the whole operation first (no effect from a malformed tail).
        if (!IsWellFormed(operation)) { RespWriter.Error(reply, Malformed); return false; }
        var r = new KvCodec.Reader(operation);
        r.ReadByte(out byte op);
        ReadOnlySpan<byte> k, v;
        int n;
        switch ((KvOpCode)op)
        {
            case KvOpCode.Get:
            {
                r.ReadBytes(out k);
                var value = _store.Get(k);
                if (value is null) RespWriter.Nil(reply); else RespWriter.Bulk(reply, value);
                return true;
            }
            case KvOpCode.Set:
                r.ReadBytes(out k); r.ReadBytes(out v);
                Put(k, v);
                RespWriter.Ok(reply);
                return true;
            case KvOpCode.Del:
            {
                r.ReadCount(out n);
                long deleted = 0;
                for (int i = 0; i < n; i++) { r.ReadBytes(out k); if (StoreDelete(k)) { deleted++; RecordDelete(k); } }
                RespWriter.Integer(reply, deleted);
                return true;
            }
            case KvOpCode.Exists:
            {
                r.ReadCount(out n);
                long present = 0;
                for (int i = 0; i < n; i++) { r.ReadBytes(out k); if (_store.Contains(k)) present++; }
                RespWriter.Integer(reply, present);
                return true;
            }
            case KvOpCode.IncrBy:
            {
                r.ReadBytes(out k); r.ReadVarint64(out ulong z);
                long delta = KvCodec.Unzigzag(z);
                long current = 0;
                var value = _store.Get(k);
                if (value is not null && !TryParseInteger(value, out current)) { RespWriter.Error(reply, NotInteger); return false; }
                long next;
                try { next = checked(current + delta); }
                catch (OverflowException) { RespWriter.Error(reply, Overflow); return false; }
                Span<byte> text = stackalloc byte[20];
                Utf8Formatter.TryFormat(next, text, out int len);
                Put(k, text.Slice(0, len));
                RespWriter.Integer(reply, next);
                return true;
            }
            case KvOpCode.MGet:
            {
                r.ReadCount(out n);
                var start = r;                                  // a second pass writes the values
                long size = 1 + RespWriter.Digits(n) + 2;
                for (int i = 0; i < n; i++)
                {
                    r.ReadBytes(out k);
                    var value = _store.Get(k);
                    size += value is null ? 5 : RespWriter.BulkSize(value.Length);
                }
                if (size > MaxReplyBytes) { RespWriter.Error(reply, TooLarge); return false; }
                RespWriter.ArrayHeader(reply, n);
                for (int i = 0; i < n; i++)
                {
                    start.ReadBytes(out k);
                    var value = _store.Get(k);
                    if (value is null) RespWriter.Nil(reply); else RespWriter.Bulk(reply, value);
                }
                return true;
            }
            case KvOpCode.MSet:
                r.ReadCount(out n);
                for (int i = 0; i < n; i++) { r.ReadBytes(out k); r.ReadBytes(out v); Put(k, v); }
                RespWriter.Ok(reply);
                return true;
            case KvOpCode.Cas:
            {
                r.ReadBytes(out k);
                r.ReadOptional(out bool expectPresent, out var expected);
                r.ReadOptional(out bool setNew, out var newValue);
                var current = _store.Get(k);
                bool match = expectPresent ? current is not null && expected.SequenceEqual(current) : current is null;
                if (match)
                {
                    if (setNew) Put(k, newValue);
                    else if (StoreDelete(k)) RecordDelete(k);
                }
                RespWriter.Integer(reply, match ? 1 : 0);
                return true;
            }
            default:
                RespWriter.Error(reply, Malformed);
                return false;
        }
    }

    private static bool IsWellFormed(ReadOnlySpan<byte> operation)
    {
        // The key analysis walks the complete grammar; reuse it without collecting keys.
        var r = new KvCodec.Reader(operation);
        if (!r.ReadByte(out byte op)) return false;
        int n;
        switch ((KvOpCode)op)
        {
            case KvOpCode.Get: return r.ReadBytes(out _) && r.AtEnd;
            case KvOpCode.Set: return r.ReadBytes(out _) && r.ReadBytes(out _) && r.AtEnd;
            case KvOpCode.IncrBy: return r.ReadBytes(out _) && r.ReadVarint64(out _) && r.AtEnd;
            case KvOpCode.Del or KvOpCode.Exists or KvOpCode.MGet:
                if (!r.ReadCount(out n)) return false;
                for (int i = 0; i < n; i++) if (!r.ReadBytes(out _)) return false;
                return r.AtEnd;
            case KvOpCode.MSet:
                if (!r.ReadCount(out n)) return false;
                for (int i = 0; i < n; i++) if (!r.ReadBytes(out _) || !r.ReadBytes(out _)) return false;
                return r.AtEnd;
            case KvOpCode.Cas: return r.ReadBytes(out _) && r.ReadOptional(out _, out _) && r.ReadOptional(out _, out _) && r.AtEnd;
            default: return false;
        }
    }

    /// <summary>Redis integer syntax: optional '-', decimal digits, no leading zeros, no '+', no spaces, fits 64 bits.</summary>
    internal static bool TryParseInteger(ReadOnlySpan<byte> text, out long value)
    {
        value = 0;
        if (text.Length is 0 or > 20) return false;
        if (!Utf8Parser.TryParse(text, out value, out int consumed) || consumed != text.Length) return false;
        Span<byte> canonical = stackalloc byte[20];
        return Utf8Formatter.TryFormat(value, canonical, out int len) && canonical.Slice(0, len).SequenceEqual(text);
    }

    private void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        StorePut(key, value);
        if (_update is null) return;
        _update.GetSpan(1)[0] = 1; _update.Advance(1);
        KvCodec.WriteBytes(_update, key);
        KvCodec.WriteBytes(_update, value);
        _updateCount++;
    }

    private void RecordDelete(ReadOnlySpan<byte> key)
    {
        if (_update is null) return;
        _update.GetSpan(1)[0] = 0; _update.Advance(1);
        KvCodec.WriteBytes(_update, key);
        _updateCount++;
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidDataException">the update is malformed (checked completely before anything is applied).</exception>
    public void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update)
    {
        Executed++;
        if (update.IsEmpty) return;
        if (update.Length < 4) throw new InvalidDataException("KV update: shorter than its 4-byte count");
        int count = BinaryPrimitives.ReadInt32LittleEndian(update);
        if (count < 1) throw new InvalidDataException($"KV update: count {count} must be ≥ 1");
        for (int pass = 0; pass < 2; pass++)
        {
            var r = new KvCodec.Reader(update.Slice(4));
            for (int i = 0; i < count; i++)
            {
                if (!r.ReadByte(out byte tag) || tag > 1 || !r.ReadBytes(out var k)) throw new InvalidDataException($"KV update: entry {i} malformed");
                ReadOnlySpan<byte> v = default;
                if (tag == 1 && !r.ReadBytes(out v)) throw new InvalidDataException($"KV update: entry {i} value malformed");
                if (pass == 1) { if (tag == 1) StorePut(k, v); else StoreDelete(k); }
            }
            if (!r.AtEnd) throw new InvalidDataException("KV update: bytes after the last entry");
        }
    }

    /// <summary>Digest of the whole state: SHA-256 of the partition digests (O(P), not O(state)).</summary>
    public void GetStateDigest(Span<byte> digest32) => _hash.StateDigest(digest32);

    /// <inheritdoc/>
    public void WriteSnapshot(Stream destination) => KvCheckpoint.Write(_store, destination);

    /// <inheritdoc/>
    public void RestoreSnapshot(Stream source)
    {
        KvCheckpoint.Restore(_store, source);
        RebuildHashes();
    }

    // ------------------------------------------------------------------ partitions (docs/state-transfer.md §4)

    /// <inheritdoc/>
    public int PartitionCount => _store.PartitionCount;

    /// <inheritdoc/>
    public void GetPartitionDigest(int partition, Span<byte> digest32)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(partition);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(partition, PartitionCount);
        _hash.Digest(partition, digest32);
    }

    /// <inheritdoc/>
    public void TakeChangedPartitions(List<int> changed) => _hash.TakeChanged(changed);

    /// <inheritdoc/>
    public IPartitionView Freeze() => new PartitionView(_store.Freeze());

    /// <summary>
    /// Partition content: <c>count[4, LE] ‖ count × (key ‖ value)</c>, byte strings as in <see cref="KvCodec"/> (varint
    /// length ‖ bytes), keys strictly increasing in bytewise order and all of this partition.
    /// </summary>
    public static void WritePartition(List<KeyValuePair<byte[], byte[]>> pairs, IBufferWriter<byte> destination)
    {
        var head = destination.GetSpan(4);
        BinaryPrimitives.WriteInt32LittleEndian(head, pairs.Count);
        destination.Advance(4);
        foreach (var (k, v) in pairs) { KvCodec.WriteBytes(destination, k); KvCodec.WriteBytes(destination, v); }
    }

    private sealed class PartitionView(IKvStoreView view) : IPartitionView
    {
        private readonly List<KeyValuePair<byte[], byte[]>> _pairs = new();
        public void WritePartition(int partition, IBufferWriter<byte> destination)
        {
            _pairs.Clear();
            view.ReadPartition(partition, _pairs);
            KvService.WritePartition(_pairs, destination);
            _pairs.Clear();
        }
        public void Dispose() => view.Dispose();
    }

    /// <summary>Parses a partition content; false if malformed (bad lengths or count, trailing bytes, a key of another partition, keys not strictly increasing).</summary>
    private bool TryParsePartition(int partition, ReadOnlySpan<byte> content, List<KeyValuePair<byte[], byte[]>>? into, Span<ushort> lanes)
    {
        if ((uint)partition >= (uint)PartitionCount || content.Length < 4) return false;
        int count = BinaryPrimitives.ReadInt32LittleEndian(content);
        if (count < 0 || count > (content.Length - 4) / 2) return false;      // each pair takes at least 2 bytes
        var r = new KvCodec.Reader(content.Slice(4));
        ReadOnlySpan<byte> previous = default;
        Span<byte> element = stackalloc byte[KvStateHash.StateBytes];
        Span<byte> prefix = stackalloc byte[5];
        for (int i = 0; i < count; i++)
        {
            if (!r.ReadBytes(out var k) || !r.ReadBytes(out var v)) return false;
            if (KvStateHash.PartitionOf(k, PartitionCount) != partition) return false;
            if (i > 0 && previous.SequenceCompareTo(k) >= 0) return false;
            previous = k;
            KvStateHash.Element(k, v, element, prefix);
            KvStateHash.Combine(lanes, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ushort>(element), add: true);
            into?.Add(new KeyValuePair<byte[], byte[]>(k.ToArray(), v.ToArray()));
        }
        return r.AtEnd;
    }

    /// <inheritdoc/>
    public bool TryComputePartitionDigest(int partition, ReadOnlySpan<byte> content, Span<byte> digest32)
    {
        var lanes = new ushort[KvStateHash.Lanes];
        if (!TryParsePartition(partition, content, null, lanes)) return false;
        KvStateHash.Digest(partition, lanes, digest32);
        return true;
    }

    /// <inheritdoc/>
    public void InstallPartitions(IReadOnlyList<KeyValuePair<int, byte[]>> partitions)
    {
        var parsed = new List<KeyValuePair<int, List<KeyValuePair<byte[], byte[]>>>>(partitions.Count);
        var lanes = new ushort[KvStateHash.Lanes];
        foreach (var (p, content) in partitions)
        {
            var pairs = new List<KeyValuePair<byte[], byte[]>>();
            lanes.AsSpan().Clear();
            if (!TryParsePartition(p, content, pairs, lanes)) throw new InvalidDataException($"KV partition {p}: malformed content");
            parsed.Add(new(p, pairs));
        }
        _store.ReplacePartitions(parsed);
        foreach (var (p, pairs) in parsed)
        {
            _hash.Clear(p);
            foreach (var (k, v) in pairs) _hash.Apply(p, k, v, add: true);
        }
    }

    // ------------------------------------------------------------------ durability (docs/durability.md)

    private RocksDbKvStore? DurableStore => _store is RocksDbKvStore { Durability: not KvDurability.None } r ? r : null;

    /// <inheritdoc/>
    public bool PersistsBatches => DurableStore is not null;

    /// <inheritdoc/>
    public void CommitBatch(ulong sequence, ReadOnlySpan<byte> replyEntries, int entryCount) => DurableStore?.CommitBatch(sequence, replyEntries);

    /// <inheritdoc/>
    public ulong RecoveredSequence => DurableStore?.RecoveredSequence ?? 0;

    /// <inheritdoc/>
    public ReadOnlyMemory<byte> RecoveredReplies => DurableStore?.RecoveredReplies ?? new byte[4];

    /// <inheritdoc/>
    public void CommitInstall(ulong sequence, ReadOnlySpan<byte> replyCache) => DurableStore?.CommitInstall(sequence, replyCache);

    /// <summary>The agreement log kept in the same RocksDB database (docs/durability.md §4.2); null unless durability is process or fsync.</summary>
    public FastBft.Agreement.Pbft.IAgreementLog? AgreementLog => DurableStore;

    /// <summary>Closes the storage.</summary>
    public void Dispose() => _store.Dispose();
}
