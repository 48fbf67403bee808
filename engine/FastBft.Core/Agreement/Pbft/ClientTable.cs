namespace FastBft.Agreement.Pbft;

/// <summary>
/// Per-client record of a replica: the reply cache entry (the reply to the client's latest executed
/// request, Thesis §2.1.2.2; PROTOCOLS.md §1.6: (clientId, rid, s, reply)) and the request-id
/// bookkeeping that makes execution at-most-once.
/// </summary>
public sealed class ClientRecord
{
    /// <summary>Client id.</summary>
    public readonly uint ClientId;
    /// <summary>Request id of the last executed request (0 = none).</summary>
    public ulong LastExecutedRid;
    /// <summary>Sequence number the last executed request was ordered at.</summary>
    public ulong LastExecutedSeq;
    /// <summary>Cached reply bytes (the result; grows once to the largest reply).</summary>
    public byte[] Reply = Array.Empty<byte>();
    /// <summary>Length of the cached reply in <see cref="Reply"/>.</summary>
    public int ReplyLength;
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

    /// <summary>Creates an empty record.</summary>
    public ClientRecord(uint clientId) => ClientId = clientId;

    /// <summary>Stores <paramref name="reply"/> as the cached reply for request <paramref name="rid"/> ordered at <paramref name="seq"/>.</summary>
    public void Cache(ulong rid, ulong seq, ReadOnlySpan<byte> reply)
    {
        if (Reply.Length < reply.Length) Reply = new byte[Math.Max(reply.Length, 64)];
        reply.CopyTo(Reply);
        ReplyLength = reply.Length;
        LastExecutedRid = rid;
        LastExecutedSeq = seq;
    }

    /// <summary>The cached reply.</summary>
    public ReadOnlySpan<byte> CachedReply => Reply.AsSpan(0, ReplyLength);
}

/// <summary>Client records by id. Allocates once per new client; lookups are allocation-free.</summary>
public sealed class ClientTable
{
    private readonly Dictionary<uint, ClientRecord> _records = new();

    /// <summary>The record of <paramref name="clientId"/>, created on first use.</summary>
    public ClientRecord Get(uint clientId)
    {
        if (!_records.TryGetValue(clientId, out var r)) { r = new ClientRecord(clientId); _records.Add(clientId, r); }
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
