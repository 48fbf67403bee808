namespace FastBft.Execution.Odrc;

/// <summary>Where an ordered request is in a selector (Thesis §6.3.3).</summary>
public enum OdrcRequestState : byte
{
    /// <summary>In the stored queue: not executed here (yet).</summary>
    Stored = 0,
    /// <summary>In the selected queue, waiting to execute.</summary>
    Selected = 1,
    /// <summary>Part of an update plan being executed (replayed before a cross-border or forced request).</summary>
    Planned = 2,
    /// <summary>Executed here.</summary>
    Executed = 3,
    /// <summary>Never executed here: its effects on every object it touches are in stable object checkpoints (§6.5.3).</summary>
    Skipped = 4,
}

/// <summary>
/// One ordered request as a selector keeps it: its place in the total order, its operation and the state objects it
/// touches with the access number of each (G19). Created by <see cref="Selector.InsertRequest"/>.
/// </summary>
public sealed class OdrcRequest
{
    /// <summary>Ordinal s: 1 for the first ordered request, +1 per request (every correct selector assigns the same).</summary>
    public ulong Ordinal { get; internal init; }
    /// <summary>Agreement sequence number of the batch.</summary>
    public ulong Sequence { get; internal init; }
    /// <summary>Position in the batch.</summary>
    public int Index { get; internal init; }
    /// <summary>The client.</summary>
    public uint ClientId { get; internal init; }
    /// <summary>The client's request id.</summary>
    public ulong RequestId { get; internal init; }
    /// <summary>The operation (a copy).</summary>
    public byte[] Operation { get; internal init; } = [];
    /// <summary>Execution replicas that execute it without faults: the union of its objects' maintainers (bit mask).</summary>
    public ulong Executors { get; internal set; }
    /// <summary>True if it touches objects of more than one maintainer set (a cross-border request, Thesis §6.4.1).</summary>
    public bool CrossBorder { get; internal set; }
    /// <summary>True once a stalled-result notice or an alarm forced it here: answered in full.</summary>
    public bool Forced { get; internal set; }
    /// <summary>True if it touches an object this replica adopted (§6.6.1.4): answered in full, since the designated replier may be the suspect.</summary>
    public bool TouchesAdopted { get; internal set; }
    /// <summary>True if a stalled-result notice (not an alarm) forced it.</summary>
    public bool ForcedByNotice { get; internal set; }
    /// <summary>State in this selector.</summary>
    public OdrcRequestState State { get; internal set; }
    /// <summary>How it runs (valid when returned by <see cref="Selector.NextRequest"/>).</summary>
    public OdrcRun Run { get; internal set; }

    internal ObjectRecord[] Objects = [];
    internal ulong[] Accesses = [];      // per object (multi-object requests); empty for one object: Access0
    private ulong _access0;
    internal ulong AccessOf(int i) => Accesses.Length == 0 ? _access0 : Accesses[i];
    internal void SetAccess(int i, ulong a) { if (Accesses.Length == 0) _access0 = a; else Accesses[i] = a; }
    // Per-object flags (G19 trigger, §6.6.1.2 access kind): inline for one object, an array for several (any count: MSET may name 65,536 keys).
    // FlagReflected (restored tail requests only, docs/odrc.md §9 S6): the request's effect on that object is already in the object's
    // base, and the request overwrites it without reading it — replayed for its other objects only, this object left as it is.
    internal const byte FlagTrigger = 1, FlagRead = 2, FlagOverwrite = 4, FlagCountedOverwrite = 8, FlagReflected = 16;
    private byte _flags0;
    internal byte[] Flags = [];
    private ulong _from0;
    internal ulong[]? IntervalStarts;    // per object: first access of the checkpoint interval a trigger closes (G19)
    internal byte FlagsOf(int i) => Flags.Length == 0 ? _flags0 : Flags[i];
    internal void AddFlags(int i, byte f) { if (Flags.Length == 0) _flags0 |= f; else Flags[i] |= f; }
    internal bool IsTrigger(int i) => (FlagsOf(i) & FlagTrigger) != 0;
    internal bool IsOverwrite(int i) => (FlagsOf(i) & FlagOverwrite) != 0;
    internal bool IsCountedOverwrite(int i) => (FlagsOf(i) & FlagCountedOverwrite) != 0;
    internal bool IsReflected(int i) => (FlagsOf(i) & FlagReflected) != 0;
    /// <summary>
    /// True if this request, handed out by <see cref="Selector.NextRequest"/> as a replay after a state transfer, leaves object
    /// <paramref name="objectId"/> as it is: its effect on that object is already in the object's base, and it overwrites the
    /// object without reading it, so it is replayed for its other objects only (docs/odrc.md §9 S6). Allocation-free.
    /// </summary>
    public bool LeavesUnchanged(ReadOnlySpan<byte> objectId)
    {
        if (!HasReflected) return false;
        for (int i = 0; i < Objects.Length; i++) if (IsReflected(i) && Objects[i].Id.AsSpan().SequenceEqual(objectId)) return true;
        return false;
    }
    /// <summary>True if some object of this request is reflected (S6): the selector protects those objects' copies around its replay.</summary>
    internal bool HasReflected;
    internal ulong IntervalStartOf(int i) => IntervalStarts is null ? _from0 : IntervalStarts[i];
    internal void SetIntervalStart(int i, ulong from)
    {
        if (Objects.Length == 1) { _from0 = from; return; }
        (IntervalStarts ??= new ulong[Objects.Length])[i] = from;
    }
    /// <summary>True if write knowledge says it modifies none of its objects (a pure read, §6.6.1.2).</summary>
    internal bool ReadOnly;
    internal int Mark;                   // scratch mark of the closure walk (−epoch: left out of that update by W2)
}
