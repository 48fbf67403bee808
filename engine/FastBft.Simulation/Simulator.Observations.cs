using FastBft.Wire;

namespace FastBft.Simulation;

/// <summary>Observations for tests (what the adversary actually achieved) and running on after <see cref="Run"/>.</summary>
public sealed partial class Simulator
{
    private readonly Dictionary<(ulong View, ulong Seq), SlotDigest> _prePrepareDigests = new();
    private readonly HashSet<(ulong View, ulong Seq)> _conflictingPrePrepares = new();

    /// <summary>
    /// (view, sequence number) pairs for which correct replicas were delivered authentic PRE-PREPAREs with
    /// two different batch digests (leader equivocation that reached them), over the whole run so far.
    /// </summary>
    public int ConflictingPrePrepareSlots => _conflictingPrePrepares.Count;

    /// <summary>The first violated invariant so far with its detail (including checks made by <see cref="RunUntil"/>), or null.</summary>
    public string? Violation => _violation is null ? null : $"{_violation}: {_detail}";

    /// <summary>A PRE-PREPARE that verified at correct replica and is about to be handed to its core.</summary>
    private void ObservePrePrepare(in MessageHeader h, byte[] msg)
    {
        var digest = SlotDigest.Of(h.Sequence, Bodies.BatchDigest(MessageHeader.Body(msg, h)));
        var slot = (h.View, h.Sequence);
        if (!_prePrepareDigests.TryAdd(slot, digest) && _prePrepareDigests[slot] != digest) _conflictingPrePrepares.Add(slot);
    }

    /// <summary>
    /// After <see cref="Run"/>: processes further events (ticks, retransmissions, state transfer; no new
    /// client requests) step by step, checking the per-step invariants as <see cref="Run"/> does, until
    /// <paramref name="condition"/> holds, for at most <paramref name="budgetMs"/> more virtual ms.
    /// </summary>
    /// <returns>true if <paramref name="condition"/> held; false on timeout or a violation (<see cref="Violation"/>).</returns>
    public bool RunUntil(Func<bool> condition, long budgetMs)
    {
        long deadline = _now + budgetMs;
        while (!condition())
        {
            if (_violation is not null || !_queue.TryPeek(out _, out var key) || key.Item1 > deadline) return false;
            Step(key.Item1);
        }
        return _violation is null;
    }
}
