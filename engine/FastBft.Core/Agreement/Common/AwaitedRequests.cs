using FastBft.Execution;

namespace FastBft.Agreement;

/// <summary>
/// The client requests a follower (PBFT backup, MinBFT follower) has seen and not yet executed, which keep its
/// view-change timer running (PBFT-PR §4.5.2; PROTOCOLS.md §4 [X]): one request id and its REQUEST bytes per client (the
/// newest), re-sent to a new leader after a view change. <see cref="ExecutedCount"/> counts awaited requests that
/// executed, the progress mark the timer restarts on. Allocates one copy per awaited request: requests clients multicast
/// only, i.e. first ones and retransmissions, never on the steady-state path. Single-threaded (the core's).
/// </summary>
internal sealed class AwaitedRequests
{
    private readonly Dictionary<uint, ulong> _rids = new();

    /// <summary>Client → the awaited REQUEST (its bytes, header and authenticator included).</summary>
    public Dictionary<uint, byte[]> Messages { get; } = new();

    /// <summary>Clients with an awaited request.</summary>
    public int Count => _rids.Count;

    /// <summary>Awaited requests that have executed since the core started (monotonic).</summary>
    public long ExecutedCount { get; private set; }

    /// <summary>Awaits request <paramref name="rid"/> of <paramref name="client"/> unless a newer or equal one is already awaited.</summary>
    public void Await(uint client, ulong rid, ReadOnlySpan<byte> message)
    {
        if (_rids.TryGetValue(client, out var r) && r >= rid) return;
        _rids[client] = rid;
        Messages[client] = message.ToArray();
    }

    /// <summary><paramref name="client"/>'s request <paramref name="rid"/> executed: it and older ones are no longer awaited.</summary>
    public void Executed(uint client, ulong rid)
    {
        if (_rids.Count != 0 && _rids.TryGetValue(client, out var r) && r <= rid) Remove(client);
    }

    /// <summary>After a state transfer: requests the installed reply cache shows executed are no longer awaited (L7).</summary>
    public void ForgetExecuted(ReplyCache replies)
    {
        if (_rids.Count == 0) return;
        List<uint>? done = null;
        foreach (var (client, rid) in _rids)
            if (replies.LastExecutedRid(client) >= rid) (done ??= new()).Add(client);
        if (done is null) return;
        foreach (var c in done) Remove(c);
    }

    /// <summary>Forgets every awaited request without counting it as executed.</summary>
    public void Clear() { _rids.Clear(); Messages.Clear(); }

    private void Remove(uint client)
    {
        _rids.Remove(client);
        Messages.Remove(client);
        ExecutedCount++;
    }
}
