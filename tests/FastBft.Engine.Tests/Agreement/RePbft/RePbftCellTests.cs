using FastBft.Agreement;
using FastBft.Agreement.RePbft;
using FastBft.Engine.Tests.Support;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.RePbft;

/// <summary>RePBFT and RePBFT* in a loopback cell: the normal case with a passive replica, the switch to PBFT on a crashed leader or passive replica, and the switch back (Thesis §5.3; docs/repbft.md).</summary>
public sealed class RePbftCellTests
{
    private const uint C = LoopbackCell.FirstClient;

    private static LoopbackCell Cell(bool star = false, long switchBackAfter = 0, int k = 4, int window = 8)
        => new(k: k, window: window, protocol: star ? ProtocolKind.RePbftStar : ProtocolKind.RePbft,
               settings: s => s with { SwitchTicks = 20, SwitchBackAfter = switchBackAfter });

    private static RePbftReplica Core(LoopbackCell cell, int i) => (RePbftReplica)cell.Replicas[i];

    /// <summary>Sends request rid of clients C..C+clients-1 to every replica (as a retransmitting client would), runs, and returns them.</summary>
    private static List<(uint Client, byte[] Request)> SubmitRound(LoopbackCell cell, int clients, ulong rid, bool toAll = false)
    {
        var list = new List<(uint, byte[])>();
        for (uint c = 0; c < clients; c++)
        {
            var req = cell.BuildRequest(C + c, rid, (long)(c * 100 + rid));
            if (toAll) for (uint r = 0; r < cell.N; r++) cell.Submit(r, req);
            else cell.Submit(cell.Replicas[0].Leader, req);
            list.Add((C + c, req));
        }
        cell.Run();
        return list;
    }

    private static bool Completed(LoopbackCell cell, uint client, ulong rid)
    {
        var replies = cell.RepliesFor(client).Where(r => r.Rid == rid).ToList();
        var full = replies.Where(r => r.Form == Bodies.ReplyFull).Select(r => Convert.ToHexString(r.Payload)).ToList();
        if (full.Count == 0) return false;
        var digest = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Convert.FromHexString(full[0])));
        int matching = replies.Select(r => r.Form == Bodies.ReplyFull ? Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(r.Payload)) : Convert.ToHexString(r.Payload))
                              .Where(d => d == digest).Select(_ => 1).Count();
        return replies.Where(r => (r.Form == Bodies.ReplyFull ? Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(r.Payload)) : Convert.ToHexString(r.Payload)) == digest).Select(r => r.Replica).Distinct().Count() >= cell.F + 1;
    }

    /// <summary>A client: multicasts its request every 5 ticks until f+1 matching replies with a full one arrived (the designated replier may be the crashed replica).</summary>
    private static bool RetransmitUntilCompleted(LoopbackCell cell, uint client, byte[] request, int maxTicks)
    {
        ulong rid = LoopbackCell.Header(request).Sequence;
        for (int t = 0; t < maxTicks; t++)
        {
            if (Completed(cell, client, rid)) return true;
            if (t % 5 == 0) { for (uint r = 0; r < cell.N; r++) cell.Submit(r, request); cell.Run(); }
            cell.Tick();
        }
        return Completed(cell, client, rid);
    }

    [Fact]
    public void PassiveReplicaAppliesUpdatesAndNeverExecutes()
    {
        var cell = Cell();
        for (ulong rid = 1; rid <= 6; rid++) SubmitRound(cell, 3, rid);
        cell.Tick(4);
        for (uint c = 0; c < 3; c++) for (ulong rid = 1; rid <= 6; rid++) Assert.True(Completed(cell, C + c, rid), $"client {c} request {rid}");
        Assert.Empty(cell.Executions[3]);                                   // replica 3 is passive in generation 0 (leader 0)
        Assert.Equal(18, cell.Executions[0].Count);
        Assert.True(Core(cell, 3).Stats.AppliedUpdates > 0);
        var d = cell.StateDigest(0);
        for (uint r = 1; r < 4; r++) Assert.Equal(d, cell.StateDigest(r));
        Assert.True(cell.Replicas[3].LowWatermark >= 4, "checkpoints become stable with all four replicas");
        Assert.All(cell.Replicas, r => Assert.Equal(0UL, r.Generation));
        cell.AssertAgreement(0, 1, 2);
    }

    [Fact]
    public void StarExecutesOnTwoActiveReplicasOnly()
    {
        var cell = Cell(star: true);
        for (ulong rid = 1; rid <= 5; rid++) SubmitRound(cell, 2, rid);
        cell.Tick(4);
        for (uint c = 0; c < 2; c++) for (ulong rid = 1; rid <= 5; rid++) Assert.True(Completed(cell, C + c, rid));
        Assert.Empty(cell.Executions[0]);                                   // the leader does not execute (G8)
        Assert.Empty(cell.Executions[3]);
        Assert.Equal(10, cell.Executions[1].Count);
        Assert.Equal(10, cell.Executions[2].Count);
        var d = cell.StateDigest(1);
        for (uint r = 0; r < 4; r++) Assert.Equal(d, cell.StateDigest(r));
    }

    /// <summary>A correct client (one outstanding request): multicasts it, retransmits every 5 ticks, and panics from its second retransmission on (Thesis §5.3.2.1).</summary>
    private static bool Invoke(LoopbackCell cell, uint client, ulong rid, int maxTicks = 400)
    {
        var req = cell.BuildRequest(client, rid, (long)(client * 100 + rid));
        int retransmissions = 0;
        for (int t = 0; t < maxTicks; t++)
        {
            if (Completed(cell, client, rid)) return true;
            if (t % 5 == 0)
            {
                if (t > 0) retransmissions++;
                for (uint r = 0; r < cell.N; r++) cell.Submit(r, req);
                if (retransmissions >= 2) for (uint r = 0; r < cell.N; r++) cell.Submit(r, cell.BuildPanic(client, req));
                cell.Run();
            }
            cell.Tick();
        }
        return Completed(cell, client, rid);
    }

    [Theory]
    [InlineData(0u)]   // the leader
    [InlineData(3u)]   // the passive replica: checkpoints stall, the window runs out
    [InlineData(1u)]   // an active follower (and the first transition coordinator: the coordinator rotates)
    [InlineData(2u)]   // the other follower
    public void CrashedReplicaLeadsToASwitchAfterWhichEveryRequestCompletes(uint crashed)
    {
        var cell = Cell();
        for (ulong rid = 1; rid <= 2; rid++) SubmitRound(cell, 2, rid);
        cell.Tick(2);
        cell.Crashed.Add(crashed);
        var alive = Enumerable.Range(0, 4).Select(i => (uint)i).Where(i => i != crashed).ToArray();
        for (ulong rid = 3; rid <= 16; rid++)
            for (uint c = 0; c < 2; c++)
                Assert.True(Invoke(cell, C + c, rid), $"client {c} request {rid}: " + string.Join(" | ", alive.Select(i => Core(cell, (int)i).DescribeState())));
        Assert.All(alive, i => Assert.True(Core(cell, (int)i).RunsPbft, Core(cell, (int)i).DescribeState()));
        cell.AssertAgreement(alive);
        cell.Tick(20);
        Assert.All(alive, r => Assert.Equal(cell.StateDigest(alive[0]), cell.StateDigest(r)));
        Assert.All(alive, r => Assert.True(cell.Replicas[r].Generation > 0));
        if (crashed == 1) Assert.All(alive, r => Assert.True(cell.Replicas[r].Generation >= 2, "the first coordinator was the crashed replica: the role rotated"));
    }

    [Fact]
    public void AfterTheConfiguredInstancesTheCellReturnsToRePbft()
    {
        var cell = Cell(switchBackAfter: 8);
        SubmitRound(cell, 2, 1);
        var req = cell.BuildRequest(C, 2, 7);
        // A spurious PANIC (the request is merely in flight) still switches: faulty clients can force switches (Thesis §5.6.1).
        for (uint r = 0; r < cell.N; r++) cell.Submit(r, cell.BuildPanic(C, req));
        cell.Run();
        Assert.True(cell.TickUntil(() => cell.Replicas.All(r => ((RePbftReplica)r).RunsPbft), 400), string.Join(" | ", cell.Replicas.Select(r => r.DescribeState())));
        for (ulong rid = 2; rid <= 30; rid++)
        {
            foreach (var (client, request) in SubmitRound(cell, 2, rid, toAll: true)) { }
            cell.Tick(2);
        }
        Assert.True(cell.TickUntil(() => cell.Replicas.All(r => !((RePbftReplica)r).RunsPbft), 400), string.Join(" | ", cell.Replicas.Select(r => r.DescribeState())));
        Assert.All(cell.Replicas, r => Assert.Equal(1L, ((RePbftReplica)r).Stats.SwitchBacks));
        for (ulong rid = 31; rid <= 34; rid++) { SubmitRound(cell, 2, rid, toAll: true); cell.Tick(2); }
        cell.Tick(10);
        Assert.True(Completed(cell, C, 34));
        var passive = cell.Replicas.Select(r => (RePbftReplica)r).Single(r => r.Role == ReplicaRole.Passive);
        cell.AssertAgreement(0, 1, 2, 3);
        Assert.All(cell.Replicas, r => Assert.Equal(cell.StateDigest(0), cell.StateDigest(r.Id)));
    }
}
