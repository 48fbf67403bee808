namespace FastBft.Agreement.Switch;

/// <summary>
/// Who coordinates a protocol switch, and how long replicas wait for it (Thesis §5.3.2.2, §5.3.2.5; ReMinBFT
/// §5.4.3 uses the same rule). Shared by every switching protocol (docs/repbft.md §5.4).
/// <list type="bullet">
/// <item>The active set of the aborted generation is ordered leader first, then its followers in
/// <see cref="CellShape.RoleOf"/> order. Attempt a = 1, 2, … of the switch targets generation
/// <c>aborted + a</c>, and its transition coordinator is <c>active[a mod |active|]</c>: the first
/// attempt goes to the first follower, not to the leader that may be what failed (a deviation from
/// PROTOCOLS.md G12's suggestion, which starts with the leader); within |active| attempts every
/// active replica, so at least f+1 correct ones, has been coordinator.</item>
/// <item>The timeout of attempt a is <c>base × 2^min(a−1, 4)</c> ticks (doubling, Thesis §5.3.2.5; capped at 16×).</item>
/// <item>The PBFT/MinBFT view the switch starts in is the smallest view above the aborted generation's
/// view, a further n per attempt, whose leader (view mod n) is the coordinator: every replica computes it.</item>
/// </list>
/// </summary>
public static class CoordinatorRotation
{
    /// <summary>The active replicas of <paramref name="view"/>, leader first (length <see cref="CellShape.Active"/>).</summary>
    public static uint[] ActiveSet(CellShape shape, ulong view)
    {
        var active = new uint[shape.Active];
        uint leader = shape.LeaderOf(view);
        for (int i = 0; i < active.Length; i++) active[i] = (uint)((leader + (uint)i) % (uint)shape.N);
        return active;
    }

    /// <summary>The transition coordinator of switch attempt <paramref name="attempt"/> (≥ 1) out of the generation whose view is <paramref name="abortedView"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">attempt &lt; 1.</exception>
    public static uint Coordinator(CellShape shape, ulong abortedView, ulong attempt)
    {
        if (attempt < 1) throw new ArgumentOutOfRangeException(nameof(attempt), "attempts count from 1");
        uint leader = shape.LeaderOf(abortedView);
        return (uint)((leader + attempt % (ulong)shape.Active) % (ulong)shape.N);
    }

    /// <summary>The view the resilient protocol starts in after attempt <paramref name="attempt"/>: above the aborted view, led by that attempt's coordinator.</summary>
    public static ulong StartView(CellShape shape, ulong abortedView, ulong attempt)
    {
        ulong n = (ulong)shape.N;
        return (abortedView / n + attempt) * n + Coordinator(shape, abortedView, attempt);
    }

    /// <summary>Ticks to wait in attempt <paramref name="attempt"/> (≥ 1) with base timeout <paramref name="baseTicks"/>.</summary>
    public static long Timeout(int baseTicks, ulong attempt) => (long)baseTicks << (int)Math.Min(attempt - 1, 4UL);
}
