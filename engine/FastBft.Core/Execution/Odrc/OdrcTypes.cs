namespace FastBft.Execution.Odrc;

/// <summary>
/// One verified-or-claimed reply hash of an object checkpoint's V_hashes (Thesis §6.3.4; PROTOCOLS.md G20):
/// request (client, rid) ordered at agreement sequence number <see cref="Sequence"/> produced a reply whose SHA-256 is <see cref="Hash"/>.
/// </summary>
/// <param name="Access">which access to the object the request was (1-based, counted in agreement order, G19).</param>
/// <param name="ClientId">the client.</param>
/// <param name="RequestId">the client's request id.</param>
/// <param name="Sequence">agreement sequence number of its batch.</param>
/// <param name="Hash">SHA-256 of the reply (32 bytes).</param>
public readonly record struct ReplyHash(ulong Access, uint ClientId, ulong RequestId, ulong Sequence, byte[] Hash);

/// <summary>
/// CHECKPOINT(x, s, H(state_x), V_hashes) of one state object (Thesis §6.3.4 with the object id of PROTOCOLS.md G20): the
/// state of object <see cref="ObjectId"/> right after the request with ordinal <see cref="Ordinal"/> (its K-th, 2K-th, …
/// access), and the reply hashes of the K requests of that interval. Stable at f+1 matching (equal <see cref="Digest"/>) from distinct execution replicas.
/// </summary>
public sealed class ObjectCheckpoint
{
    /// <summary>The sending execution replica.</summary>
    public uint Sender { get; init; }
    /// <summary>The object id (≤ <see cref="OdrcLimits.MaxObjectIdBytes"/> bytes).</summary>
    public required byte[] ObjectId { get; init; }
    /// <summary>Ordinal s of the request after which the state was taken (ordinals count ordered requests from 1).</summary>
    public ulong Ordinal { get; init; }
    /// <summary>SHA-256 of the object state (32 bytes).</summary>
    public required byte[] StateHash { get; init; }
    /// <summary>Reply hashes of the interval's accesses, ascending by access (≤ K entries).</summary>
    public required ReplyHash[] Replies { get; init; }

    /// <summary>SHA-256 over every field but the sender: what f+1 replicas must match on.</summary>
    public byte[] Digest()
    {
        int len = 4 + ObjectId.Length + 8 + 32 + 4 + Replies.Length * OdrcLimits.ReplyHashBytes;
        var buf = System.Buffers.ArrayPool<byte>.Shared.Rent(len);
        var w = new OdrcWriter(buf);
        w.Bytes(ObjectId); w.U64(Ordinal); w.Raw(StateHash); w.U32((uint)Replies.Length);
        foreach (var r in Replies) { w.U64(r.Access); w.U32(r.ClientId); w.U64(r.RequestId); w.U64(r.Sequence); w.Raw(r.Hash); }
        var d = new byte[32];
        FastBft.Wire.Digests.Sha256(buf.AsSpan(0, len), d);
        System.Buffers.ArrayPool<byte>.Shared.Return(buf);
        return d;
    }
}

/// <summary>Size limits of ODRC messages (docs/odrc.md §5); a message beyond them is dropped.</summary>
public static class OdrcLimits
{
    /// <summary>Largest object id, bytes.</summary>
    public const int MaxObjectIdBytes = 1024;
    /// <summary>Largest object state carried by OBJECT-STATE, bytes (8 MiB, the message limit).</summary>
    public const int MaxObjectStateBytes = 8 << 20;
    /// <summary>Largest number of reply hashes in one object checkpoint.</summary>
    public const int MaxReplyHashes = 4096;
    /// <summary>Encoded size of one <see cref="ReplyHash"/>: access[8] ‖ client[4] ‖ rid[8] ‖ seq[8] ‖ hash[32].</summary>
    public const int ReplyHashBytes = 60;
}

/// <summary>Where a selector's messages leave (sans-I/O: the execution stage or the simulator turns them into messages).</summary>
public interface ISelectorOutput
{
    /// <summary>Multicast our object checkpoint to every other execution replica (Thesis §6.3.4).</summary>
    void BroadcastObjectCheckpoint(ObjectCheckpoint checkpoint);
    /// <summary>Ask execution replica <paramref name="to"/> for the state of object <paramref name="objectId"/> at checkpoint <paramref name="ordinal"/> (Fig. 6.6 "fetch").</summary>
    void SendObjectFetch(uint to, ReadOnlySpan<byte> objectId, ulong ordinal);
    /// <summary>Answer a fetch with the state of object <paramref name="objectId"/> at checkpoint <paramref name="ordinal"/>.</summary>
    void SendObjectState(uint to, ReadOnlySpan<byte> objectId, ulong ordinal, ReadOnlySpan<byte> state);
    /// <summary>The reply hashes of a stable object checkpoint, verified by f+1 replicas: the stage feeds them to its reply cache (Thesis §6.3.4).</summary>
    void VerifiedReplies(ReadOnlySpan<ReplyHash> replies);
}

/// <summary>How a request leaves the selector (<see cref="Selector.NextRequest"/>).</summary>
public enum OdrcRun : byte
{
    /// <summary>Selected: it touches an object this replica maintains (Fig. 6.3).</summary>
    Selected = 0,
    /// <summary>Replayed to bring an unmaintained object up to date (Fig. 6.6): executed, no reply sent.</summary>
    Replay = 1,
    /// <summary>Forced by a stalled-result notice or a checkpoint alarm (Figs. 6.7, 6.8): executed and answered in full.</summary>
    Forced = 2,
}

/// <summary>What <see cref="Selector.ForceRequest"/> found (Thesis §6.4.3, §6.5.2).</summary>
public enum ForceResult : byte
{
    /// <summary>No ordered request (client, rid) is known: the notice is ignored (§6.5.2).</summary>
    NeverOrdered = 0,
    /// <summary>It was stored (not executed here): now selected and will execute here (Fig. 6.7).</summary>
    Forced = 1,
    /// <summary>It is already selected and waits to execute: it will be answered in full.</summary>
    AlreadySelected = 2,
    /// <summary>It was executed here: the reply cache answers.</summary>
    Executed = 3,
    /// <summary>Its effects are all in stable object checkpoints: never executed here (§6.5.3 "skipping"); the reply cache holds its verified hash.</summary>
    Skipped = 4,
}

/// <summary>Little-endian writer over a fixed buffer.</summary>
internal ref struct OdrcWriter(Span<byte> buffer)
{
    private readonly Span<byte> _b = buffer;
    public int Position;
    public void U32(uint v) { System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(_b.Slice(Position), v); Position += 4; }
    public void U64(ulong v) { System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(_b.Slice(Position), v); Position += 8; }
    public void Raw(ReadOnlySpan<byte> v) { v.CopyTo(_b.Slice(Position)); Position += v.Length; }
    public void Bytes(ReadOnlySpan<byte> v) { U32((uint)v.Length); Raw(v); }
}

/// <summary>
/// Optional, allocation-free form of <see cref="FastBft.Service.IRequestAnalyzer.AnalyzeRequest"/> for the selector's hot
/// path (docs/odrc.md §8 "allocation"): the object ids are copied into a reusable <see cref="ObjectIdBuffer"/> instead of
/// one new array each. Same semantics: ids in the order the operation names them, duplicates kept; false (adding nothing)
/// if the operation is malformed.
/// </summary>
public interface IInPlaceRequestAnalyzer
{
    /// <summary>Adds the object ids <paramref name="operation"/> touches to <paramref name="objects"/>; false if malformed.</summary>
    bool AnalyzeRequest(ReadOnlySpan<byte> operation, ObjectIdBuffer objects);
}

/// <summary>
/// How one request accesses one state object: the write knowledge of Thesis §6.6.1.2 (docs/odrc.md §3a). A service that
/// cannot tell reports <see cref="ReadWrite"/>, the conservative default.
/// </summary>
public enum ObjectAccess : byte
{
    /// <summary>May read and may modify the object (no knowledge).</summary>
    ReadWrite = 0,
    /// <summary>Never modifies the object (it may read it).</summary>
    Read = 1,
    /// <summary>
    /// A write-only overwrite: the request replaces the object's state entirely and never reads it, so neither the object's
    /// state afterwards, nor the request's effect on any other object, nor its reply depends on the object's state before
    /// (KV SET and MSET). Counts as a modifying access.
    /// </summary>
    Overwrite = 2,
    /// <summary>
    /// A counted overwrite (Thesis §6.6.1.2 with the ZooKeeper variant of §6.8.1, seed line ≈5694: "process only the latest
    /// write and adjust the version counter"; docs/odrc.md §3a rule W4): the request replaces the object's data entirely;
    /// the only thing of the object's state it reads is a counter (a version), which it advances by exactly one if it
    /// applies. Formally, for every state S of the object and every sequence q₁…q_k of requests of this kind that touch
    /// this object alone, followed by a request p of this kind on it: executing p on
    /// <see cref="ICountedOverwriteService.AccountSkippedOverwrites"/>(S, k) yields the same state of every object and the
    /// same reply as executing q₁…q_k, p on S (ZooKeeper: unconditional setData; a missing node stays missing and every
    /// one of them fails). Honoured only by a service that implements <see cref="ICountedOverwriteService"/> (else
    /// <see cref="ReadWrite"/>); an object named twice by one request with this kind counts as <see cref="ReadWrite"/>.
    /// Counts as a modifying access.
    /// </summary>
    CountedOverwrite = 3,
}

/// <summary>
/// The service side of counted overwrites (<see cref="ObjectAccess.CountedOverwrite"/>; Thesis §6.6.1.2, §6.8.1; docs/odrc.md
/// §3a rule W4): a selector that leaves k such requests on an object out of an update (they are followed, on that object,
/// by another one that it executes) calls this right before that one executes, so that the object's counter is where the
/// k skipped requests would have left it.
/// </summary>
public interface ICountedOverwriteService
{
    /// <summary>
    /// Applies the effect of <paramref name="count"/> skipped counted overwrites to the local copy of object
    /// <paramref name="objectId"/> as far as a following counted overwrite can observe it: deterministic, a function of the
    /// copy's state and the count only (ZooKeeper: if the node exists its data version grows by <paramref name="count"/>;
    /// a missing node stays missing). The rest of the object (data that the next counted overwrite replaces) may be left
    /// as it is: the selector executes that overwrite next, before anything else can observe the object.
    /// </summary>
    /// <param name="objectId">the object id (as the request analysis names it).</param>
    /// <param name="count">number of skipped counted overwrites, ≥ 1.</param>
    void AccountSkippedOverwrites(ReadOnlySpan<byte> objectId, ulong count);
}

/// <summary>
/// Optional, allocation-free write knowledge (Thesis §6.6.1.2; docs/odrc.md §3a): for the object ids the service's request
/// analysis names for an operation, in the same order (duplicates included), how the operation accesses each. Must agree
/// with <see cref="FastBft.Service.IObjectStateService.AnalyzeWrites"/> (an id is written iff its kind is not
/// <see cref="ObjectAccess.Read"/>) and be a deterministic function of the operation bytes: every correct selector
/// derives its checkpoint triggers from it (G19).
/// </summary>
public interface IInPlaceWriteAnalyzer
{
    /// <summary>
    /// Fills <paramref name="kinds"/> (length = the number of ids the request analysis returned for
    /// <paramref name="operation"/>, ≥ 1) and returns true; false = no knowledge for this operation (every object it
    /// touches then counts as <see cref="ObjectAccess.ReadWrite"/>).
    /// </summary>
    bool AnalyzeAccess(ReadOnlySpan<byte> operation, Span<ObjectAccess> kinds);
}

/// <summary>A reusable list of object ids (byte strings) in one growable buffer: no allocation once grown. Not thread-safe.</summary>
public sealed class ObjectIdBuffer
{
    private byte[] _data = new byte[256];
    private int _used;
    private (int Offset, int Length)[] _entries = new (int, int)[8];

    /// <summary>Ids held.</summary>
    public int Count { get; private set; }
    /// <summary>The i-th id (valid until the next <see cref="Add"/> or <see cref="Clear"/>).</summary>
    public ReadOnlySpan<byte> this[int i] => _data.AsSpan(_entries[i].Offset, _entries[i].Length);
    /// <summary>Forgets every id.</summary>
    public void Clear() { _used = 0; Count = 0; }
    /// <summary>Appends a copy of <paramref name="id"/>.</summary>
    public void Add(ReadOnlySpan<byte> id)
    {
        if (_data.Length - _used < id.Length) Array.Resize(ref _data, Math.Max(_data.Length * 2, _used + id.Length));
        if (Count == _entries.Length) Array.Resize(ref _entries, Count * 2);
        id.CopyTo(_data.AsSpan(_used));
        _entries[Count++] = (_used, id.Length);
        _used += id.Length;
    }
    /// <summary>Removes the ids from index <paramref name="count"/> on (a malformed operation's partial analysis).</summary>
    public void Truncate(int count)
    {
        if (count >= Count) return;
        Count = count;
        _used = count == 0 ? 0 : _entries[count - 1].Offset + _entries[count - 1].Length;
    }
}
