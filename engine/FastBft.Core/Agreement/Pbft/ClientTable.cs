namespace FastBft.Agreement.Pbft;

/// <summary>
/// Per-client agreement bookkeeping of a PBFT replica: what it queued, deferred and forwarded for the
/// client (R2: one queued request per client, Thesis §2.1.2.1). The reply cache — what was executed —
/// belongs to the execution stage (<see cref="FastBft.Execution.ReplyCache"/>).
/// </summary>
internal sealed class ClientRecord
{
    /// <summary>Client id.</summary>
    public readonly uint ClientId;
    /// <summary>Highest request id queued or ordered by this replica as primary (not yet executed).</summary>
    public ulong HighestQueuedRid;
    /// <summary>True while a request of this client waits in the primary's queue, not yet in a batch (R2: one per client, Thesis §2.1.2.1).</summary>
    public bool Queued;
    /// <summary>A newer request of this client that arrived while <see cref="Queued"/>: queued as soon as the queued one is batched (one slot, the newest wins), so a request is throttled, never lost.</summary>
    public byte[]? Deferred;
    /// <summary>Length of <see cref="Deferred"/>; request id of it in <see cref="DeferredRid"/> (0 = none).</summary>
    public int DeferredLength;
    /// <summary>Request id of <see cref="Deferred"/> (0 = none).</summary>
    public ulong DeferredRid;
    /// <summary>Request digest D(req) of <see cref="Deferred"/> (32 bytes once allocated).</summary>
    public byte[]? DeferredDigest;
    /// <summary>Highest request id this backup forwarded to the primary.</summary>
    public ulong HighestForwardedRid;
    /// <summary>Sequence number of the batch being cut that already holds a request of this client (G1: one per batch).</summary>
    public ulong InBatch;

    /// <summary>This client's reply-cache entry in the execution stage (linked both ways through <see cref="FastBft.Execution.ReplyEntry.CoreState"/>).</summary>
    public FastBft.Execution.ReplyEntry? Reply;

    /// <summary>The table the record belongs to (several cores share one reply cache across a protocol switch; a core re-links an entry whose record is another core's).</summary>
    public readonly ClientTable Owner;

    /// <summary>Creates an empty record of <paramref name="owner"/>.</summary>
    public ClientRecord(uint clientId, ClientTable owner) { ClientId = clientId; Owner = owner; }

    /// <summary>This client's reply-cache entry in <paramref name="replies"/>, linked to the record both ways on first use so
    /// each is found from the other without a lookup (PBFT and MinBFT cores).</summary>
    public FastBft.Execution.ReplyEntry ReplyIn(FastBft.Execution.ReplyCache replies)
    {
        if (Reply is { } e) return e;
        e = replies.Get(ClientId);
        Reply = e;
        e.CoreState = this;
        return e;
    }
}

/// <summary>Client records by id. Allocates once per new client; lookups are allocation-free.</summary>
internal sealed class ClientTable
{
    private readonly Dictionary<uint, ClientRecord> _records = new();

    /// <summary>The record of <paramref name="clientId"/>, created on first use.</summary>
    public ClientRecord Get(uint clientId)
    {
        if (!_records.TryGetValue(clientId, out var r)) { r = new ClientRecord(clientId, this); _records.Add(clientId, r); }
        return r;
    }

    /// <summary>The record if it exists.</summary>
    public bool TryGet(uint clientId, out ClientRecord record) => _records.TryGetValue(clientId, out record!);

    /// <summary>Number of known clients.</summary>
    public int Count => _records.Count;

    private static readonly Comparison<ClientRecord> ById = static (x, y) => x.ClientId.CompareTo(y.ClientId);

    /// <summary>Replaces the contents of <paramref name="destination"/> with all records in client-id order (no allocation once the list has grown).</summary>
    public void CopySortedById(List<ClientRecord> destination)
    {
        destination.Clear();
        foreach (var r in _records.Values) destination.Add(r);
        destination.Sort(ById);
    }

    /// <summary>Removes every record (a state transfer replaces the reply cache).</summary>
    public void Clear() => _records.Clear();

    /// <summary>All records (for checkpoints and snapshots; not for the hot path).</summary>
    public IEnumerable<ClientRecord> All => _records.Values;
}
