using FastBft.Service;
using FastBft.Wire;

namespace FastBft.Execution.Checkpoints;

/// <summary>
/// The partition tree of a service state (PBFT-PR §4.3, §5.3.1; docs/state-transfer.md §2): P leaf digests (one per
/// partition, from the service), grouped by <see cref="Fanout"/> into G = ⌈P / 256⌉ group digests, each
/// SHA-256(leaf digests of the group, concatenated). The checkpoint's root digest covers the group digests and the
/// reply cache (<see cref="CheckpointStore"/>). <see cref="Refresh"/> re-reads only the partitions the service reports
/// changed and re-hashes only their groups, so its cost follows what changed (at most 8 KiB hashed per dirty group),
/// not the state size. Single-threaded.
/// </summary>
public sealed class PartitionTree
{
    /// <summary>Leaves per group.</summary>
    public const int Fanout = 256;

    private readonly IPartitionedState _state;
    private readonly byte[] _leaves;
    private readonly byte[] _groups;
    private readonly bool[] _dirty;
    private readonly List<int> _changed = new();

    /// <summary>Creates the tree of <paramref name="state"/> (every partition is read on the first <see cref="Refresh"/>).</summary>
    /// <exception cref="ArgumentException">the state's partition count is outside 1..65,536.</exception>
    public PartitionTree(IPartitionedState state)
    {
        int p = state.PartitionCount;
        if (p < 1 || p > 65536) throw new ArgumentException($"partition count {p} is outside 1..65536", nameof(state));
        _state = state;
        Partitions = p;
        Groups = GroupCount(p);
        _leaves = new byte[p * Digests.Size];
        _groups = new byte[Groups * Digests.Size];
        _dirty = new bool[Groups];
    }

    /// <summary>Groups for <paramref name="partitions"/> partitions.</summary>
    public static int GroupCount(int partitions) => (partitions + Fanout - 1) / Fanout;

    /// <summary>Partitions P.</summary>
    public int Partitions { get; }
    /// <summary>Groups G.</summary>
    public int Groups { get; }
    /// <summary>Leaf digests, P × 32 bytes, as of the last <see cref="Refresh"/>.</summary>
    public ReadOnlySpan<byte> Leaves => _leaves;
    /// <summary>Group digests, G × 32 bytes, as of the last <see cref="Refresh"/>.</summary>
    public ReadOnlySpan<byte> GroupDigests => _groups;
    /// <summary>Partitions re-read by the last <see cref="Refresh"/> (a measure of its cost).</summary>
    public int LastRefreshed { get; private set; }

    /// <summary>Number of leaves of group <paramref name="group"/>.</summary>
    public int LeavesIn(int group) => Math.Min(Fanout, Partitions - group * Fanout);

    /// <summary>Brings the leaves and groups up to date with the partitions the service reports changed.</summary>
    public void Refresh()
    {
        _changed.Clear();
        _state.TakeChangedPartitions(_changed);
        foreach (int p in _changed)
        {
            if ((uint)p >= (uint)Partitions) continue;
            _state.GetPartitionDigest(p, _leaves.AsSpan(p * Digests.Size, Digests.Size));
            _dirty[p / Fanout] = true;
        }
        LastRefreshed = _changed.Count;
        for (int g = 0; g < Groups; g++)
        {
            if (!_dirty[g]) continue;
            _dirty[g] = false;
            Digests.Sha256(_leaves.AsSpan(g * Fanout * Digests.Size, LeavesIn(g) * Digests.Size), _groups.AsSpan(g * Digests.Size, Digests.Size));
        }
    }
}
