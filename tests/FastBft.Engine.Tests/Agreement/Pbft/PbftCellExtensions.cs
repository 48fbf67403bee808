using FastBft.Agreement.Pbft;

namespace FastBft.Engine.Tests.Support;

/// <summary>PBFT-specific views of a <see cref="LoopbackCell"/>'s cores, for the PBFT tests in this folder (PBFT's counters and queue).</summary>
internal static class PbftCellExtensions
{
    /// <summary>Replica <paramref name="i"/>'s core as the PBFT core.</summary>
    public static PbftReplica Pbft(this LoopbackCell cell, uint i) => (PbftReplica)cell.Replicas[i];

    /// <summary>Replica <paramref name="i"/>'s core as the PBFT core.</summary>
    public static PbftReplica Pbft(this LoopbackCell cell, int i) => (PbftReplica)cell.Replicas[i];

    extension(IReplicaCore core)
    {
        /// <summary>The PBFT core's counters.</summary>
        public PbftStats Stats => ((PbftReplica)core).Stats;
    }
}
