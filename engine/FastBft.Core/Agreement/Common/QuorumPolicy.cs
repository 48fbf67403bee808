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

    /// <summary>The quorums of <paramref name="shape"/>'s protocol.</summary>
    /// <exception cref="NotSupportedException">the protocol's quorums are not defined yet (not built).</exception>
    public static QuorumPolicy For(CellShape shape) => shape.Protocol switch
    {
        ProtocolKind.Pbft => Pbft(shape.F),
        _ => throw new NotSupportedException($"protocol '{shape.Name}' is not built yet"),
    };

    /// <summary>This policy with the commit quorum replaced — for tests that plant a bug the oracles must catch.</summary>
    public QuorumPolicy With(int? commit = null, int? checkpoint = null) => this with { Commit = commit ?? Commit, Checkpoint = checkpoint ?? Checkpoint };
}
