namespace FastBft.Execution.Odrc;

/// <summary>A stable object checkpoint as a selector keeps it: f+1 matching CHECKPOINTs (Thesis §6.3.4).</summary>
internal sealed class StableObjectCheckpoint
{
    public ulong Ordinal;
    public byte[] StateHash = [];
    public ReplyHash[] Replies = [];
    public ulong LastAccess;             // access number of the request at Ordinal
}

/// <summary>Votes for one (object, ordinal): first vote per sender counts.</summary>
internal sealed class ObjectCheckpointVotes
{
    public ulong Voted;                  // bit mask of senders
    public readonly List<(byte[] Digest, int Count, ObjectCheckpoint Example)> Groups = new();
}

/// <summary>
/// A state object as one selector sees it (Thesis §6.3.1–§6.3.4): whether it is maintained here, its access counter (G19),
/// how far its local copy is (<see cref="Applied"/>, G18), its stable and pending object checkpoints, the reply hashes of
/// its recent accesses, the states this replica can serve, and the alarm of Fig. 6.8.
/// </summary>
internal sealed class ObjectRecord(byte[] id, ulong maintainers, bool maintained)
{
    public readonly byte[] Id = id;
    public readonly ulong Maintainers = maintainers;
    /// <summary>Maintained here by placement.</summary>
    public readonly bool Maintained = maintained;
    private ObjectRecord[]? _asArray;
    /// <summary>{ this }: the shared object array of the single-object requests on it (never mutated).</summary>
    public ObjectRecord[] AsArray => _asArray ??= [this];
    /// <summary>Accesses counted in agreement order by InsertRequest (G19).</summary>
    public ulong Accesses;
    /// <summary>Modifying accesses (every access without write knowledge), counted in agreement order by InsertRequest (G19, §6.6.1.2).</summary>
    public ulong Writes;
    /// <summary>Access number of the last checkpoint trigger inserted (0 = none): the next interval starts after it (G19).</summary>
    public ulong LastTrigger;
    /// <summary>Ordinal of the request of <see cref="LastTrigger"/> (0 = none): an object's base in an agreement checkpoint (Selector.StateTransfer.cs).</summary>
    public ulong LastTriggerOrdinal;
    /// <summary>Maintained here, but restored by a state transfer: the update of Fig. 6.6 brings it current before its next request executes.</summary>
    public bool Restoring;
    /// <summary>
    /// Nonzero: the object is <em>unresolved</em> after a state transfer (docs/odrc.md §9 S7): its state at and after some
    /// request cannot be computed here. No request on it is executed here; it becomes usable again only by a G18 jump to a
    /// stable object checkpoint at an ordinal ≥ this value (the ordinal of the last request skipped on it).
    /// </summary>
    public ulong UnresolvedUntil;
    /// <summary>Ordinals of tail requests that only read this object and were not replayed after a state transfer (docs/odrc.md §9 S6, E2); null = none.</summary>
    public List<ulong>? ReadsSkipped;
    /// <summary>Answers for a base state no stable checkpoint known here covers (one per sender; f+1 identical accept it).</summary>
    public List<(uint Sender, byte[] Hash, byte[] State)>? BaseCandidates;
    /// <summary>Scratch mark: a write-only overwrite of the current update makes this object current without its history (§6.6.1.2).</summary>
    public int OverwriteMark;
    /// <summary>Scratch mark: the head request of the current update is a counted overwrite of this object (rule W4, docs/odrc.md §3a).</summary>
    public int CountedMark;
    /// <summary>Ordinal of the last request whose effect is in the local copy (0 = initial state).</summary>
    public ulong Applied;
    /// <summary>Nonzero: the local copy is stale and must be replaced by the state of the stable checkpoint at this ordinal (= <see cref="Applied"/>) before use.</summary>
    public ulong NeedsState;
    /// <summary>A fetched state for <see cref="NeedsState"/> whose hash matched the stable checkpoint.</summary>
    public byte[]? FetchedState;
    public int FetchAttempts;
    public long NextFetchTick;
    /// <summary>Stable checkpoints, ascending by ordinal (the newest few).</summary>
    public readonly List<StableObjectCheckpoint> Stable = new();
    /// <summary>Votes for checkpoints above the newest stable one.</summary>
    public readonly Dictionary<ulong, ObjectCheckpointVotes> Votes = new();
    /// <summary>Reply hashes of recent accesses applied to the local copy, ascending by access, contiguous.</summary>
    public readonly List<ReplyHash> Ring = new();
    /// <summary>Object states this replica holds (own checkpoints and verified fetched ones), by ordinal.</summary>
    public readonly List<(ulong Ordinal, byte[] State, byte[] Hash)> States = new();
    /// <summary>Not-yet-executed (stored, selected or planned) requests touching this object, ascending by ordinal.</summary>
    public readonly List<OdrcRequest> Log = new();
    /// <summary>Fig. 6.8 alarm: the K-th access request to wait for, and the tick it fires at (0 = none).</summary>
    public OdrcRequest? AlarmRequest;
    public long AlarmTick;
    public int Mark;
    public ulong JumpTarget;

    public StableObjectCheckpoint? NewestStable => Stable.Count == 0 ? null : Stable[^1];

    /// <summary>The newest stable checkpoint with ordinal &lt; <paramref name="bound"/>, or null.</summary>
    public StableObjectCheckpoint? NewestStableBelow(ulong bound)
    {
        for (int i = Stable.Count - 1; i >= 0; i--) if (Stable[i].Ordinal < bound) return Stable[i];
        return null;
    }

    public StableObjectCheckpoint? StableAt(ulong ordinal)
    {
        foreach (var s in Stable) if (s.Ordinal == ordinal) return s;
        return null;
    }
}

/// <summary>Byte-string equality for object ids.</summary>
internal sealed class ObjectIdComparer : IEqualityComparer<byte[]>, System.Collections.Generic.IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
{
    public static readonly ObjectIdComparer Instance = new();
    public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
    public int GetHashCode(byte[] obj) => GetHashCode((ReadOnlySpan<byte>)obj);
    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);
    public int GetHashCode(ReadOnlySpan<byte> alternate) => (int)ObjectPlacement.Fnv1a(alternate);
    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
}
