using System.Numerics;

namespace FastBft.Execution.Odrc;

/// <summary>How state objects are assigned to execution replicas (Thesis §6.3.1, §6.7.1; PROTOCOLS.md §7.2).</summary>
public enum PlacementStrategy : byte
{
    /// <summary>Object k goes to the block {(k(f+1)+j) mod E | j = 0..f} (PROTOCOLS.md §7.2 SUGGESTION), with k a stable hash of the object id.</summary>
    RoundRobin = 0,
    /// <summary>As round-robin, but k is the hash of the object's locality group (<see cref="FastBft.Service.IObjectStateService.LocalityGroup"/>): objects of one parent are maintained together (Thesis §6.7.1).</summary>
    Locality = 1,
}

/// <summary>
/// The maintained-object assignment every selector knows (Thesis §6.3.1): each state object is maintained by exactly
/// f+1 of the E execution replicas (E = n: 3f+1 under PBFT, 2f+1 under MinBFT — Thesis §6.6.3 "Minimal ODRC"; more in an
/// extended cell such as ODRC₆, Thesis §6.7.2.1).
/// Pure and deterministic: every replica computes the same maintainers. The thesis assigns blocks in object-creation
/// order; the object id's hash (FNV-1a, 64 bit) replaces the creation counter, so no agreement on creation order is
/// needed (docs/odrc.md, decision G-P1).
/// </summary>
public sealed class ObjectPlacement
{
    /// <summary>Number of execution replicas E (ids 0..E-1), f+1 ≤ E ≤ 64.</summary>
    public int ExecutionReplicas { get; }
    /// <summary>Faults tolerated f: each object has f+1 maintainers.</summary>
    public int F { get; }
    /// <summary>The strategy.</summary>
    public PlacementStrategy Strategy { get; }
    private readonly int _blocks;

    /// <summary>Creates the assignment.</summary>
    /// <exception cref="ArgumentOutOfRangeException">f &lt; 1, or E outside f+1..64.</exception>
    public ObjectPlacement(int executionReplicas, int f, PlacementStrategy strategy)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(f, 1);
        if (executionReplicas < f + 1 || executionReplicas > 64) throw new ArgumentOutOfRangeException(nameof(executionReplicas), $"E must be in {f + 1}..64");
        ExecutionReplicas = executionReplicas;
        F = f;
        Strategy = strategy;
        _blocks = executionReplicas;
    }

    /// <summary>The maintainers of an object as a bit mask over execution replica ids (bit i = replica i).</summary>
    /// <param name="objectId">the object id.</param>
    /// <param name="localityGroup">its locality group (used by <see cref="PlacementStrategy.Locality"/>).</param>
    public ulong Maintainers(ReadOnlySpan<byte> objectId, ReadOnlySpan<byte> localityGroup)
    {
        ulong k = Fnv1a(Strategy == PlacementStrategy.Locality ? localityGroup : objectId);
        int start = (int)(k % (ulong)_blocks) * (F + 1);
        ulong mask = 0;
        for (int j = 0; j <= F; j++) mask |= 1UL << ((start + j) % ExecutionReplicas);
        return mask;
    }

    /// <summary>True if replica <paramref name="replica"/> is in <paramref name="mask"/>.</summary>
    public static bool Contains(ulong mask, uint replica) => replica < 64 && (mask & (1UL << (int)replica)) != 0;

    /// <summary>
    /// The designated full replier of request (c, t) among <paramref name="executors"/> (bit mask, non-empty):
    /// the ((c + t) mod |executors|)-th set bit (Thesis §2.1.1.4 applied to the executing replicas).
    /// </summary>
    public static uint Designated(ulong executors, uint client, ulong rid)
    {
        int count = BitOperations.PopCount(executors);
        int k = (int)((client + rid) % (ulong)count);
        ulong m = executors;
        for (int i = 0; i < k; i++) m &= m - 1;
        return (uint)BitOperations.TrailingZeroCount(m);
    }

    /// <summary>FNV-1a 64-bit hash of a byte string (stable across processes and platforms).</summary>
    public static ulong Fnv1a(ReadOnlySpan<byte> data)
    {
        ulong h = 14695981039346656037UL;
        foreach (byte b in data) { h ^= b; h *= 1099511628211UL; }
        return h;
    }
}
