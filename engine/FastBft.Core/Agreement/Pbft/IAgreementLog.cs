namespace FastBft.Agreement.Pbft;

/// <summary>One record of a replica's persisted agreement log (docs/durability.md §4.2): kind, sequence number, value.</summary>
/// <param name="Kind">record kind (<see cref="AgreementLogKinds"/>).</param>
/// <param name="Sequence">the record's sequence number n (0 for the state record).</param>
/// <param name="Value">the record's bytes, opaque to the store.</param>
public readonly record struct AgreementRecord(byte Kind, ulong Sequence, byte[] Value);

/// <summary>The record kinds the PBFT core writes (docs/durability.md §4.2).</summary>
public static class AgreementLogKinds
{
    /// <summary>Slot record: the PRE-PREPARE this replica proposed or accepted at n (written before its PRE-PREPARE or PREPARE leaves).</summary>
    public const byte Slot = (byte)'q';
    /// <summary>Prepared record: this replica prepared n in a view (written before its COMMIT leaves).</summary>
    public const byte Prepared = (byte)'p';
    /// <summary>The state record (sequence 0): view, stable checkpoint, own checkpoints, own VIEW-CHANGE, NEW-VIEW, P and Q.</summary>
    public const byte State = (byte)'m';
    /// <summary>The view record (sequence 0): the NEW-VIEW's view, own VIEW-CHANGE, NEW-VIEW message, P and Q of PBFT-PR Fig. 2 with their batches (written at view changes only).</summary>
    public const byte ViewState = (byte)'v';
}

/// <summary>
/// Where a PBFT core persists its agreement log (docs/durability.md §4; PBFT-PR §4.4: a replica restarts from its saved log
/// and service state). The core is sans-I/O: it only queues opaque records here and calls <see cref="Commit"/> before it
/// sends the message that depends on them; the implementation (the RocksDB KV store, or <see cref="MemoryAgreementLog"/>)
/// does the I/O. Single-threaded: called on the core's thread only.
/// </summary>
public interface IAgreementLog
{
    /// <summary>Queues (kind, sequence) := value, replacing an earlier record of that kind and sequence number.</summary>
    void Put(byte kind, ulong sequence, ReadOnlySpan<byte> value);

    /// <summary>Queues the deletion of every <see cref="AgreementLogKinds.Slot"/> and <see cref="AgreementLogKinds.Prepared"/> record with sequence ≤ <paramref name="sequence"/>.</summary>
    void DeleteThrough(ulong sequence);

    /// <summary>
    /// Writes everything queued since the last commit in one atomic write, completed when this returns: in the OS page cache
    /// at least (survives a process kill); with <paramref name="sync"/> and a store in fsync mode also synced to the disk.
    /// </summary>
    void Commit(bool sync);

    /// <summary>The records found when the store was opened (empty for a fresh replica), in no particular order.</summary>
    IReadOnlyList<AgreementRecord> Recovered { get; }

    /// <summary>
    /// True if a synced <see cref="Commit"/> costs a disk sync (fsync mode): the core then writes the records of the votes of
    /// one input burst unsynced and sends those votes at the end of the burst after one synced commit (group commit,
    /// docs/durability.md §4.3).
    /// </summary>
    bool GroupsSyncs { get; }
}

/// <summary>A service whose storage also keeps the agreement log (the RocksDB KV store in durability process or fsync).</summary>
public interface IAgreementLogProvider
{
    /// <summary>The log, or null if the service persists nothing.</summary>
    IAgreementLog? AgreementLog { get; }
}

/// <summary>
/// An <see cref="IAgreementLog"/> in memory, for the deterministic simulator and tests: <see cref="Commit"/> moves the queued
/// records into <see cref="Durable"/>, and a "restarted" replica gets a new log over a copy of it (<see cref="Reopen"/>).
/// Allocates per record (never on a production path).
/// </summary>
public sealed class MemoryAgreementLog : IAgreementLog
{
    private readonly List<(byte Kind, ulong Seq, byte[]? Value, bool DeleteThrough)> _queued = new();

    /// <summary>The committed records by (kind, sequence): what survives a process kill.</summary>
    public SortedDictionary<(byte Kind, ulong Seq), byte[]> Durable { get; } = new();

    /// <summary>The records as of the last sync (a synced commit, or <see cref="Sync"/> for a synced write of the same store): what survives a power loss.</summary>
    public SortedDictionary<(byte Kind, ulong Seq), byte[]> Synced { get; private set; } = new();

    /// <summary>Another synced write of the same store (the execution stage's batch write shares the WAL): everything committed so far is synced.</summary>
    public void Sync() => Synced = new(Durable);

    /// <summary>Commits so far (synced or not).</summary>
    public long Commits { get; private set; }

    /// <summary>Synced commits so far.</summary>
    public long SyncedCommits { get; private set; }

    /// <inheritdoc/>
    public bool GroupsSyncs { get; init; }

    /// <inheritdoc/>
    public IReadOnlyList<AgreementRecord> Recovered { get; private init; } = [];

    /// <inheritdoc/>
    public void Put(byte kind, ulong sequence, ReadOnlySpan<byte> value) => _queued.Add((kind, sequence, value.ToArray(), false));

    /// <inheritdoc/>
    public void DeleteThrough(ulong sequence) => _queued.Add((0, sequence, null, true));

    /// <inheritdoc/>
    public void Commit(bool sync)
    {
        foreach (var (kind, seq, value, del) in _queued)
        {
            if (del)
            {
                var drop = new List<(byte, ulong)>();
                foreach (var k in Durable.Keys) if (k.Kind != AgreementLogKinds.State && k.Seq <= seq) drop.Add(k);
                foreach (var k in drop) Durable.Remove(k);
            }
            else Durable[(kind, seq)] = value!;
        }
        _queued.Clear();
        Commits++;
        if (sync) { SyncedCommits++; Sync(); }
    }

    /// <summary>
    /// A log as a restarted replica finds it: after a process kill the committed records (queued, uncommitted ones are lost);
    /// after a <paramref name="powerLoss"/> only those of the last sync.
    /// </summary>
    public MemoryAgreementLog Reopen(bool powerLoss = false)
    {
        var kept = powerLoss ? Synced : Durable;
        var log = new MemoryAgreementLog { GroupsSyncs = GroupsSyncs, Recovered = kept.Select(e => new AgreementRecord(e.Key.Kind, e.Key.Seq, e.Value)).ToList() };
        foreach (var (k, v) in kept) log.Durable[k] = v;
        log.Sync();
        return log;
    }
}
