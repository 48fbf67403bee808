namespace FastBft.Execution.Checkpoints;

/// <summary>The fetch of a stage that keeps whole snapshots: object 0 is the snapshot, installed as it is.</summary>
internal sealed class WholeSnapshotFetch(IExecutionStage stage, ulong sequence, byte[] snapshot) : ICheckpointFetch
{
    public bool TryNextObject(out uint obj) { obj = 0; return false; }
    public bool Offer(uint obj, ReadOnlySpan<byte> bytes) => false;
    public long MaxObjectBytes(uint obj) => 0;
    public CheckpointInstall TryInstall() => stage.TryInstallCheckpoint(sequence, snapshot) ? CheckpointInstall.Installed : CheckpointInstall.Failed;
}
