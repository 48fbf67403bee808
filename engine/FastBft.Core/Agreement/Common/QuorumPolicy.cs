namespace FastBft.Agreement;

/// <summary>
/// The quorum sizes of a protocol for f faults, as one object that cores, the simulator's oracles and
/// tests share (issue 9 item 5). A planted bug is a policy a test injects (<see cref="With"/>), never a
/// production setting.
/// </summary>
/// <param name="Prepare">PREPAREs from distinct backups that, with the PRE-PREPARE, prepare a slot (PBFT: 2f, PBFT-PR §4.2).</param>
/// <param name="Commit">matching COMMITs (own included) that commit a prepared slot (PBFT: 2f+1).</param>
/// <param name="Checkpoint">matching CHECKPOINTs that make a checkpoint stable (PBFT: 2f+1, §4.3).</param>
/// <param name="ViewChange">VIEW-CHANGEs a new primary needs (PBFT: 2f+1, §4.5).</param>
/// <param name="Weak">replies, checkpoint announcements or VIEW-CHANGEs that contain at least one correct replica (f+1).</param>
public sealed record QuorumPolicy(int Prepare, int Commit, int Checkpoint, int ViewChange, int Weak)
{
    /// <summary>PBFT's quorums for f (PBFT-PR §4.2–§4.5).</summary>
    public static QuorumPolicy Pbft(int f) => new(2 * f, 2 * f + 1, 2 * f + 1, 2 * f + 1, f + 1);

    /// <summary>
    /// RePBFT's quorums for f (Thesis §5.3.1, PROTOCOLS.md §5.2–§5.5): PREPAREs from all 2f followers, COMMITs from all
    /// 2f+1 active replicas, CHECKPOINTs from all 3f+1 replicas, f+1 local abort histories and f+1 matching UPDATEs;
    /// after a switch the PBFT generation uses <see cref="Pbft"/>.
    /// </summary>
    public static QuorumPolicy RePbft(int f) => new(2 * f, 2 * f + 1, 3 * f + 1, 2 * f + 1, f + 1);

    /// <summary>
    /// MinBFT's quorums for f (n = 2f+1; Thesis §5.4.2 "a PREPARE and f matching COMMITs", PROTOCOLS.md §4 [X]): the
    /// leader's certified PREPARE alone prepares (1), f+1 matching certified messages from distinct replicas — the
    /// leader's PREPARE counting as one — commit, f+1 matching CHECKPOINTs make a checkpoint stable (docs/minbft.md §4),
    /// the new leader needs f+1 VIEW-CHANGEs, and f+1 is the weak quorum.
    /// </summary>
    public static QuorumPolicy MinBft(int f) => new(1, f + 1, f + 1, f + 1, f + 1);

    /// <summary>
    /// ReMinBFT's quorums for f (n = 2f+1, f+1 active; Thesis §5.4.2, PROTOCOLS.md §6.2): the leader's certified PREPARE alone
    /// binds (1), all f+1 active replicas' certified messages commit (the leader's PREPARE and f COMMITs), CHECKPOINTs from
    /// all 2f+1 replicas make a checkpoint stable, f+1 is the weak quorum; UPDATEs need all f+1 active replicas (= Commit).
    /// </summary>
    public static QuorumPolicy ReMinBft(int f) => new(1, f + 1, 2 * f + 1, f + 1, f + 1);

    /// <summary>Genuine endorsements a prepare proof in an abort history needs (RePBFT: f+1 = <see cref="Weak"/>; docs/repbft.md §5.3). 0 = <see cref="Weak"/>.</summary>
    public int ProofEndorsements { get; init; }

    /// <summary>The effective proof threshold.</summary>
    public int Proof => ProofEndorsements > 0 ? ProofEndorsements : Weak;

    /// <summary>The quorums of <paramref name="shape"/>'s protocol.</summary>
    /// <exception cref="NotSupportedException">the protocol's quorums are not defined yet (not built).</exception>
    public static QuorumPolicy For(CellShape shape) => shape.Protocol switch
    {
        ProtocolKind.Pbft => Pbft(shape.F),
        ProtocolKind.RePbft or ProtocolKind.RePbftStar => RePbft(shape.F),
        ProtocolKind.MinBft => MinBft(shape.F),
        ProtocolKind.ReMinBft => ReMinBft(shape.F),
        _ => throw new NotSupportedException($"protocol '{shape.Name}' is not built yet"),
    };

    /// <summary>This policy with the commit quorum replaced — for tests that plant a bug the oracles must catch.</summary>
    public QuorumPolicy With(int? commit = null, int? checkpoint = null, int? proof = null)
        => this with { Commit = commit ?? Commit, Checkpoint = checkpoint ?? Checkpoint, ProofEndorsements = proof ?? ProofEndorsements };
}
