using FastBft.Wire;

namespace FastBft.Agreement.MinBft;

/// <summary>
/// What a protocol that composes the MinBFT core changes about it (ReMinBFT's normal case, Thesis §5.4.2; docs/reminbft.md §3):
/// the wire family, the first view, which replicas take part in agreement, whether the core runs MinBFT's own view change,
/// and an observer of execution and checkpoints. The default (<c>null</c> in <see cref="MinBftReplica"/>'s constructor)
/// is plain MinBFT: family MinBft, view 0, every replica a member, view change on, no observer.
/// </summary>
public sealed class MinBftComposition
{
    /// <summary>Family written into every message the core builds (the cell's schema family).</summary>
    public ProtocolFamily Family { get; init; } = ProtocolFamily.MinBft;
    /// <summary>The core's first view (its leader is view mod n).</summary>
    public ulong InitialView { get; init; }
    /// <summary>Bitmask of the replicas that take part in agreement (bit j = replica j): certified messages go only to them and
    /// are accepted only from them, UI-FETCHes go only to them. ReMinBFT: the f+1 active replicas (Thesis §5.4.2).</summary>
    public ulong Members { get; init; } = ulong.MaxValue;
    /// <summary>False: no view-change timer and REQ-VIEW-CHANGEs are ignored (ReMinBFT switches instead, Thesis §5.4.3).</summary>
    public bool ViewChanges { get; init; } = true;
    /// <summary>Told about executed batches and checkpoints, and asked before a checkpoint becomes stable; null = none.</summary>
    public IMinBftObserver? Observer { get; init; }
    /// <summary>Header generation of every message the core builds (ReMinBFT: the number of switch-backs so far, docs/reminbft.md
    /// §7). Certified messages of a lower generation are taken in their sender's counter order and have no effect; other
    /// messages of another generation are ignored (UI-FETCH, FETCH and STATE-DATA excepted).</summary>
    public ulong Generation { get; init; }
    /// <summary>A core that starts after a switch back (docs/reminbft.md §7): the sequence number s the cell switched back at and
    /// the state digest of this replica's checkpoint there (32 bytes). s becomes the low watermark and last executed
    /// sequence number, and the core's first certified message is its CHECKPOINT(s). Null: start at 0.</summary>
    public (ulong Seq, byte[] Digest)? Start { get; init; }

    /// <summary>Where each sender's counter order starts (the next counter expected, per epoch): taken over from the core this
    /// one replaces, so no certified message of a sender is skipped or handled twice across the replacement. Null or a
    /// missing sender: registered at its first UI seen, expecting counter 1 (the start-up rule).</summary>
    public IReadOnlyList<(uint Sender, ulong Epoch, ulong Next)>? InitialCounters { get; init; }
    /// <summary>The sent log of the core this one replaces (same replica, same USIG): UI-FETCHes for counters the replaced core
    /// certified are still answered, and the run a CHECKPOINT reports for this replica continues from its last counter.</summary>
    internal SentLog? InheritedSentLog { get; init; }
}

/// <summary>Callbacks of a composed MinBFT core (<see cref="MinBftComposition.Observer"/>); called on the core's thread.</summary>
public interface IMinBftObserver
{
    /// <summary>The batch at <paramref name="seq"/> was executed (the execution stage's per-batch state, e.g. its update content, is current).</summary>
    void BatchExecuted(ulong seq);
    /// <summary>The core took its checkpoint at <paramref name="seq"/> with state digest <paramref name="digest32"/> (32 bytes).</summary>
    void CheckpointTaken(ulong seq, ReadOnlySpan<byte> digest32);
    /// <summary>True if the checkpoint at <paramref name="seq"/>, which the core's own quorum made stable, may move the window
    /// now; false: it waits until <see cref="MinBftReplica.RetryStabilize"/> is called.</summary>
    bool MayStabilize(ulong seq);
    /// <summary>A certified message of the composing protocol's own type (<see cref="MessageType.UiSwitch"/>) from
    /// <paramref name="h"/>.Sender, in that sender's counter order (UI (<paramref name="epoch"/>, <paramref name="counter"/>)).</summary>
    void CertifiedInOrder(in MessageHeader h, ReadOnlySpan<byte> message, ulong epoch, ulong counter);
    /// <summary>The leader asks, before it certifies its PREPARE for <paramref name="seq"/>, which batch flags to set
    /// (<see cref="Bodies.SwitchBackFlags"/>; 0 = none).</summary>
    ushort BatchFlagsFor(ulong seq) => 0;
    /// <summary>
    /// The batch just executed at <paramref name="seq"/> carries the SWITCH-BACK flag naming <paramref name="leader"/>. True:
    /// the composing protocol switched back after <paramref name="seq"/> (docs/reminbft.md §7, R-a) — this core then executes
    /// nothing more, takes no checkpoint at <paramref name="seq"/> and retires (it answers UI-FETCHes only).
    /// </summary>
    bool SwitchBackExecuted(ulong seq, uint leader) => false;
}
