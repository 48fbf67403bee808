namespace FastBft.Engine.Tests.Agreement.Common;

public class CellShapeTests
{
    [Theory]
    [InlineData(ProtocolKind.Pbft, 1, 4, 4)]
    [InlineData(ProtocolKind.Pbft, 3, 10, 10)]
    [InlineData(ProtocolKind.RePbft, 1, 4, 3)]
    [InlineData(ProtocolKind.RePbftStar, 2, 7, 5)]
    [InlineData(ProtocolKind.MinBft, 1, 3, 3)]
    [InlineData(ProtocolKind.ReMinBft, 2, 5, 3)]
    public void ReplicaCountsFollowTheProtocol(ProtocolKind kind, int f, int n, int active)
    {
        var s = new CellShape(kind, f);
        Assert.Equal(n, s.N);
        Assert.Equal(active, s.Active);
        Assert.Equal(n - active, s.Passive);
        Assert.True(CellShape.TryParse(s.Name, out var parsed));
        Assert.Equal(kind, parsed);
    }

    [Fact]
    public void RolesRotateWithTheView()
    {
        var pbft = new CellShape(ProtocolKind.Pbft, 1);
        Assert.Equal(ReplicaRole.Leader, pbft.RoleOf(1, 5));
        Assert.Equal(ReplicaRole.Follower, pbft.RoleOf(0, 5));
        var re = new CellShape(ProtocolKind.RePbft, 1);   // 3 active, 1 passive
        Assert.Equal(ReplicaRole.Leader, re.RoleOf(2, 2));
        Assert.Equal(ReplicaRole.Follower, re.RoleOf(3, 2));
        Assert.Equal(ReplicaRole.Follower, re.RoleOf(0, 2));
        Assert.Equal(ReplicaRole.Passive, re.RoleOf(1, 2));
    }

    [Fact]
    public void PbftQuorumsAndPlantedBugs()
    {
        var q = QuorumPolicy.Pbft(2);
        Assert.Equal((4, 5, 5, 5, 3), (q.Prepare, q.Commit, q.Checkpoint, q.ViewChange, q.Weak));
        var planted = q.With(commit: 3);
        Assert.Equal(3, planted.Commit);
        Assert.Equal(5, planted.Checkpoint);
        Assert.Equal(5, q.Commit);                         // the original is unchanged
    }

    [Fact]
    public void OnlyBuiltProtocolsHaveDefinitions()
    {
        Assert.Equal(ProtocolKind.Pbft, Protocols.Get("pbft").Kind);
        Assert.Equal(ProtocolKind.MinBft, Protocols.Get("minbft").Kind);
        Assert.Equal(ProtocolKind.ReMinBft, Protocols.Get("reminbft").Kind);
        Assert.Equal(CellShape.Names, Protocols.Built);
        var e = Assert.Throws<NotSupportedException>(() => Protocols.Get("raft"));
        Assert.Contains("raft", e.Message);
    }
}
