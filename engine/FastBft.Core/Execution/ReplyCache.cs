using System.Buffers.Binary;
using FastBft.Wire;

namespace FastBft.Execution;

/// <summary>
/// One client's reply-cache entry (PROTOCOLS.md §1.6: (clientId, rid, s, reply); Thesis §2.1.2.2): the
/// reply to the client's latest executed request, either the full result or — where this replica did
/// not execute the request itself (ODRC, passive replicas) — only its verified SHA-256.
/// </summary>
public sealed class ReplyEntry
{
    /// <summary>Client id.</summary>
    public readonly uint ClientId;
    /// <summary>Request id of the last executed request (0 = none).</summary>
    public ulong LastExecutedRid;
    /// <summary>Sequence number the last executed request was ordered at.</summary>
    public ulong LastExecutedSeq;
    /// <summary>True if only <see cref="Digest"/> is known, not the full reply.</summary>
    public bool DigestOnly;
    /// <summary>The agreement core's own per-client record, kept here so the core finds it from an executed entry without a second lookup (opaque to the stage; never part of the replicated state).</summary>
    public object? CoreState;
    private byte[] _reply = Array.Empty<byte>();
    private int _length;
    private readonly byte[] _digest = new byte[Digests.Size];
    private bool _digestValid;   // the SHA-256 of a full reply is computed on first use (most replies are sent full by one replica only)

    /// <summary>Creates an empty entry.</summary>
    public ReplyEntry(uint clientId) => ClientId = clientId;

    /// <summary>The cached full reply (empty if <see cref="DigestOnly"/>).</summary>
    public ReadOnlySpan<byte> Reply => DigestOnly ? default : _reply.AsSpan(0, _length);

    /// <summary>SHA-256 of the reply (32 bytes); computed on first use after <see cref="StoreFull"/>.</summary>
    public ReadOnlySpan<byte> Digest
    {
        get
        {
            if (!_digestValid) { Digests.Sha256(_reply.AsSpan(0, _length), _digest); _digestValid = true; }
            return _digest;
        }
    }

    /// <summary>Stores the full <paramref name="reply"/> for request <paramref name="rid"/> ordered at <paramref name="seq"/> (grows once to the largest reply).</summary>
    public void StoreFull(ulong rid, ulong seq, ReadOnlySpan<byte> reply)
    {
        if (_reply.Length < reply.Length) _reply = new byte[Math.Max(reply.Length, 64)];
        reply.CopyTo(_reply);
        _length = reply.Length;
        _digestValid = false;
        DigestOnly = false;
        LastExecutedRid = rid;
        LastExecutedSeq = seq;
    }

    /// <summary>Forgets the executed request (the entry is then not part of a snapshot).</summary>
    public void Reset()
    {
        LastExecutedRid = 0; LastExecutedSeq = 0; DigestOnly = false; _length = 0; _digestValid = false;
    }

    /// <summary>Stores only the verified digest of the reply (32 bytes) for request <paramref name="rid"/> (ODRC, passive replicas).</summary>
    public void StoreDigest(ulong rid, ulong seq, ReadOnlySpan<byte> replyDigest32)
    {
        replyDigest32.Slice(0, Digests.Size).CopyTo(_digest);
        _digestValid = true;
        _length = 0;
        DigestOnly = true;
        LastExecutedRid = rid;
        LastExecutedSeq = seq;
    }
}

/// <summary>
/// The reply cache of one replica (PROTOCOLS.md §1.6): the last reply per client, which makes
/// execution at-most-once and answers retransmitted requests without re-executing them. Part of the
/// replicated state: it is written into every checkpoint snapshot in client-id order (only clients
/// with an executed request, L5) and restored with it. Allocates once per new client.
/// </summary>
public sealed class ReplyCache
{
    private readonly Dictionary<uint, ReplyEntry> _entries = new();
    private readonly List<ReplyEntry> _sorted = new();

    /// <summary>The entry of <paramref name="client"/>, created on first use.</summary>
    public ReplyEntry Get(uint client)
    {
        if (!_entries.TryGetValue(client, out var e)) { e = new ReplyEntry(client); _entries.Add(client, e); }
        return e;
    }

    /// <summary>The entry if the client has one.</summary>
    public bool TryGet(uint client, out ReplyEntry entry) => _entries.TryGetValue(client, out entry!);

    /// <summary>Request id of <paramref name="client"/>'s last executed request (0 = none).</summary>
    public ulong LastExecutedRid(uint client) => _entries.TryGetValue(client, out var e) ? e.LastExecutedRid : 0;

    /// <summary>Number of clients with an executed request.</summary>
    public int Count { get { int c = 0; foreach (var e in _entries.Values) if (e.LastExecutedRid != 0) c++; return c; } }

    /// <summary>
    /// Appends the cache to <paramref name="destination"/>: count[4] then, per client with an executed
    /// request in id order, clientId[4] ‖ rid[8] ‖ seq[8] ‖ form[1] (0 full, 1 digest) ‖ length[4] ‖ reply
    /// (full) or digest[32]. No allocation once the reused list has grown.
    /// </summary>
    public void Write(Stream destination)
    {
        _sorted.Clear();
        foreach (var e in _entries.Values) if (e.LastExecutedRid != 0) _sorted.Add(e);
        _sorted.Sort(ById);
        Span<byte> b = stackalloc byte[25];
        BinaryPrimitives.WriteInt32LittleEndian(b, _sorted.Count);
        destination.Write(b.Slice(0, 4));
        foreach (var e in _sorted)
        {
            var payload = e.DigestOnly ? e.Digest : e.Reply;
            BinaryPrimitives.WriteUInt32LittleEndian(b, e.ClientId);
            BinaryPrimitives.WriteUInt64LittleEndian(b.Slice(4), e.LastExecutedRid);
            BinaryPrimitives.WriteUInt64LittleEndian(b.Slice(12), e.LastExecutedSeq);
            b[20] = e.DigestOnly ? (byte)1 : (byte)0;
            BinaryPrimitives.WriteInt32LittleEndian(b.Slice(21), payload.Length);
            destination.Write(b);
            destination.Write(payload);
        }
    }

    /// <summary>
    /// Replaces the cache with the one written by <see cref="Write"/> at the start of <paramref name="source"/>;
    /// returns the bytes consumed.
    /// </summary>
    /// <exception cref="InvalidDataException">the bytes are malformed (truncated, negative or overlong lengths, unordered ids).</exception>
    public int Read(ReadOnlySpan<byte> source)
    {
        var rest = source;
        if (rest.Length < 4) throw new InvalidDataException("reply cache: truncated count");
        int count = BinaryPrimitives.ReadInt32LittleEndian(rest); rest = rest.Slice(4);
        if (count < 0 || count > rest.Length / 25) throw new InvalidDataException($"reply cache: count {count} does not fit the snapshot");
        // Entries are reset in place, not removed: references the core keeps (CoreState links) stay valid.
        foreach (var e in _entries.Values) e.Reset();
        uint previous = 0;
        for (int i = 0; i < count; i++)
        {
            if (rest.Length < 25) throw new InvalidDataException("reply cache: truncated entry");
            uint id = BinaryPrimitives.ReadUInt32LittleEndian(rest);
            ulong rid = BinaryPrimitives.ReadUInt64LittleEndian(rest.Slice(4));
            ulong seq = BinaryPrimitives.ReadUInt64LittleEndian(rest.Slice(12));
            byte form = rest[20];
            int len = BinaryPrimitives.ReadInt32LittleEndian(rest.Slice(21));
            if ((i > 0 && id <= previous) || rid == 0 || form > 1 || len < 0 || len > rest.Length - 25 || (form == 1 && len != Digests.Size))
                throw new InvalidDataException($"reply cache: malformed entry {i}");
            previous = id;
            var e = Get(id);
            if (form == 0) e.StoreFull(rid, seq, rest.Slice(25, len));
            else e.StoreDigest(rid, seq, rest.Slice(25, len));
            rest = rest.Slice(25 + len);
        }
        return source.Length - rest.Length;
    }

    /// <summary>Bytes of one entry before its payload: clientId[4] ‖ rid[8] ‖ seq[8] ‖ form[1] ‖ length[4].</summary>
    public const int EntryFixed = 25;

    /// <summary>Appends one entry in the layout of <see cref="Write"/> (25 + reply or 32 bytes); used to persist a batch's entries (docs/durability.md).</summary>
    public static void WriteEntry(ReplyEntry e, System.Buffers.IBufferWriter<byte> destination)
    {
        var payload = e.DigestOnly ? e.Digest : e.Reply;
        var b = destination.GetSpan(EntryFixed + payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(b, e.ClientId);
        BinaryPrimitives.WriteUInt64LittleEndian(b.Slice(4), e.LastExecutedRid);
        BinaryPrimitives.WriteUInt64LittleEndian(b.Slice(12), e.LastExecutedSeq);
        b[20] = e.DigestOnly ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteInt32LittleEndian(b.Slice(21), payload.Length);
        payload.CopyTo(b.Slice(EntryFixed));
        destination.Advance(EntryFixed + payload.Length);
    }

    /// <summary>Size of the entry at the start of <paramref name="entries"/> (written by <see cref="WriteEntry"/>).</summary>
    /// <exception cref="InvalidDataException">truncated or negative length.</exception>
    public static int EntrySize(ReadOnlySpan<byte> entries)
    {
        if (entries.Length < EntryFixed) throw new InvalidDataException("reply entry: truncated");
        int len = BinaryPrimitives.ReadInt32LittleEndian(entries.Slice(21));
        if (len < 0 || len > entries.Length - EntryFixed) throw new InvalidDataException("reply entry: bad length");
        return EntryFixed + len;
    }

    private static readonly Comparison<ReplyEntry> ById = static (x, y) => x.ClientId.CompareTo(y.ClientId);
}
