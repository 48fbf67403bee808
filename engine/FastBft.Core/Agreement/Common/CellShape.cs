using FastBft.Wire;

namespace FastBft.Agreement;

/// <summary>A protocol a cell can run (the cell configuration's <c>protocol</c>).</summary>
public enum ProtocolKind
{
    /// <summary>PBFT (PBFT-PR; PROTOCOLS.md §3): 3f+1 replicas, all active.</summary>
    Pbft,
    /// <summary>RePBFT (Thesis §5.3; PROTOCOLS.md §5): 3f+1 replicas, 2f+1 active, f passive.</summary>
    RePbft,
    /// <summary>RePBFT* (Thesis §5.3.5): RePBFT where only f+1 active replicas execute.</summary>
    RePbftStar,
    /// <summary>MinBFT (Thesis §2.2.1; PROTOCOLS.md §4): 2f+1 replicas with a USIG.</summary>
    MinBft,
    /// <summary>ReMinBFT (Thesis §5.4; PROTOCOLS.md §6): 2f+1 replicas, f+1 active, f passive, USIG.</summary>
    ReMinBft,
}

/// <summary>The role a replica plays in the current view / generation (PROTOCOLS.md §1.4).</summary>
public enum ReplicaRole
{
    /// <summary>Orders requests (PBFT primary, MinBFT/ReBFT leader).</summary>
    Leader,
    /// <summary>Takes part in agreement without ordering (PBFT backup, ReBFT active follower).</summary>
    Follower,
    /// <summary>Takes no part in agreement; kept current by state updates (ReBFT, Thesis §5.2).</summary>
    Passive,
}

/// <summary>
/// The shape of a cell as data (issue 9 item 5; PROTOCOLS.md §1.3–§1.4): how many replicas a protocol
/// needs for f faults, how many are active, which family's messages it speaks and whether the protocol
/// is built. Cores, configuration, simulator, harness and tests all ask this instead of writing 3f+1.
/// </summary>
/// <param name="Protocol">the protocol.</param>
/// <param name="F">faults tolerated (≥ 1).</param>
public sealed record CellShape(ProtocolKind Protocol, int F)
{
    /// <summary>Configuration names of the protocols, in <see cref="ProtocolKind"/> order.</summary>
    public static readonly IReadOnlyList<string> Names = ["pbft", "repbft", "repbft-star", "minbft", "reminbft"];

    /// <summary>Replica count n: 3f+1 for PBFT and RePBFT(*), 2f+1 for MinBFT and ReMinBFT (PROTOCOLS.md §1.3).</summary>
    public int N => Protocol is ProtocolKind.MinBft or ProtocolKind.ReMinBft ? 2 * F + 1 : 3 * F + 1;

    /// <summary>Replicas taking part in agreement: n for PBFT/MinBFT, 2f+1 for RePBFT, f+1 for ReMinBFT (Thesis §5.3.1, §5.4.2).</summary>
    public int Active => Protocol switch
    {
        ProtocolKind.RePbft or ProtocolKind.RePbftStar => 2 * F + 1,
        ProtocolKind.ReMinBft => F + 1,
        _ => N,
    };

    /// <summary>True if every replica needs a trusted counter (USIG; MinBFT and ReMinBFT, Thesis §5.4.1): its core and
    /// its verifier get a <see cref="FastBft.Auth.UsigCertificateScheme"/>.</summary>
    public bool UsesUsig => Protocol is ProtocolKind.MinBft or ProtocolKind.ReMinBft;

    /// <summary>Passive replicas (n − active).</summary>
    public int Passive => N - Active;

    /// <summary>Wire family of the protocol's messages.</summary>
    public ProtocolFamily Family => Protocol switch
    {
        ProtocolKind.Pbft => ProtocolFamily.Pbft,
        ProtocolKind.RePbft or ProtocolKind.RePbftStar => ProtocolFamily.RePbft,
        ProtocolKind.MinBft => ProtocolFamily.MinBft,
        _ => ProtocolFamily.ReMinBft,
    };

    /// <summary>The configuration name ("pbft", "repbft", …).</summary>
    public string Name => Names[(int)Protocol];

    /// <summary>
    /// Role of <paramref name="replica"/> in <paramref name="view"/>: the leader is view mod n (PBFT-PR §4,
    /// [R]); in ReBFT the active set is the leader and the next active−1 replicas, the rest passive (a
    /// documented default; the RePBFT issue makes it configurable).
    /// </summary>
    public ReplicaRole RoleOf(uint replica, ulong view)
    {
        uint leader = (uint)(view % (ulong)N);
        if (replica == leader) return ReplicaRole.Leader;
        uint offset = (uint)((replica + (uint)N - leader) % (uint)N);
        return offset < (uint)Active ? ReplicaRole.Follower : ReplicaRole.Passive;
    }

    /// <summary>Leader of <paramref name="view"/> (view mod n).</summary>
    public uint LeaderOf(ulong view) => (uint)(view % (ulong)N);

    /// <summary>Parses a configuration name.</summary>
    public static bool TryParse(string name, out ProtocolKind kind)
    {
        for (int i = 0; i < Names.Count; i++)
            if (Names[i] == name) { kind = (ProtocolKind)i; return true; }
        kind = default;
        return false;
    }
}
