using FastBft.Execution;

namespace FastBft.Agreement.Switch;

/// <summary>What a replica does with a client's PANIC (Thesis §5.3.2.1, Fig. 5.3).</summary>
public enum PanicVerdict : byte
{
    /// <summary>Older than the client's last executed request, or already handled: drop it.</summary>
    Ignore,
    /// <summary>The request executed and its reply is covered by a stable checkpoint (every replica holds it): resend the cached reply only.</summary>
    ReplyOnly,
    /// <summary>The request executed but its reply may be missing elsewhere: resend the cached reply, forward the PANIC and start the switch.</summary>
    ReplyAndSwitch,
    /// <summary>Not executed here: forward the PANIC and start the switch.</summary>
    Switch,
}

/// <summary>
/// The PANIC filter of Fig. 5.3 (Thesis §5.3.2.1; PROTOCOLS.md §5.5.1 and G9), shared by every switching
/// protocol. It deduplicates per (client, request id): a client's PANIC storm about one request, or its
/// replays, cost one lookup each and start at most one switch per request. A client that panics about a
/// request every replica already answered (its reply is below the stable checkpoint) gets the reply again
/// and nothing else — Thesis §5.6.1's "faulty clients can force unnecessary switches" is then limited to
/// clients whose requests are still in flight; each such PANIC is counted.
/// </summary>
public sealed class PanicFilter
{
    private readonly Dictionary<uint, ulong> _handled = new();

    /// <summary>PANICs that started or joined a switch.</summary>
    public long Justified { get; private set; }
    /// <summary>PANICs dropped (old, duplicate, answered from the cache below the stable checkpoint).</summary>
    public long Filtered { get; private set; }

    /// <summary>
    /// The verdict for client <paramref name="client"/>'s PANIC about request <paramref name="rid"/>, given its reply-cache
    /// entry <paramref name="entry"/> (null: nothing executed for it) and the stable checkpoint <paramref name="stableSeq"/>.
    /// </summary>
    public PanicVerdict Check(uint client, ulong rid, ReplyEntry? entry, ulong stableSeq)
    {
        ulong executed = entry?.LastExecutedRid ?? 0;
        if (rid < executed || rid == 0) { Filtered++; return PanicVerdict.Ignore; }           // an old request (id 0 is never executed)
        if (rid == executed && entry!.LastExecutedSeq <= stableSeq) { Filtered++; return PanicVerdict.ReplyOnly; }   // all replicas hold the reply
        if (_handled.TryGetValue(client, out var last) && last >= rid)
        {
            Filtered++;
            return rid == executed ? PanicVerdict.ReplyOnly : PanicVerdict.Ignore;           // forwarded once already
        }
        _handled[client] = rid;
        Justified++;
        return rid == executed ? PanicVerdict.ReplyAndSwitch : PanicVerdict.Switch;
    }

    /// <summary>Forgets what was handled (a new generation started: a stall in it needs new PANICs).</summary>
    public void Reset() => _handled.Clear();
}
