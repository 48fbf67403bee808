using FastBft.Engine.Tests.Support;

namespace FastBft.Engine.Tests.Agreement.Pbft;

/// <summary>
/// A replica back from a partition (or a restart) below the next checkpoint catches up through STATUS answers
/// (PBFT-PR §4.6.1). CI failure of 2026-12-01 (`KilledAndRestartedFollowerEndsWithTheOthersStateDigest`): at one answer
/// per RetransmitTicks the restarted replica's view-change timer, running for a client request the cell had already
/// executed near the head, expired before it caught up; it went into a view change alone and stayed there while the
/// cell was idle. Catch-up pacing: a replica that executed since its last STATUS and is still behind f+1 peers asks
/// again at the next tick.
/// </summary>
public class PbftCatchUpTests
{
    private const int Retransmit = 10, Lag = 24;

    private static LoopbackCell CutOffReplicaThreeForLagBatches()
    {
        // K = 32 (no checkpoint inside the lag: only STATUS answers can bring replica 3 up); a STATUS answer carries at
        // most 2 × MaxInflightBatches = 4 slots; the view-change timer (25 ticks) is shorter than Lag / 4 periodic rounds.
        var cell = new LoopbackCell(k: 32, window: 64, viewChangeTicks: 25,
            settings: s => s with { RetransmitTicks = Retransmit, MaxInflightBatches = 2 });
        cell.Drop = (_, to) => to == 3;
        for (ulong rid = 1; rid <= Lag; rid++) { cell.Submit(0, cell.BuildRequest(1000, rid, (long)rid)); cell.Run(); }
        Assert.Equal((ulong)Lag, cell.Replicas[0].LastExecuted);
        Assert.Equal(0UL, cell.Replicas[3].LastExecuted);
        cell.Drop = (_, _) => false;
        // The client's last request reaches replica 3 late (a multicast retransmission): it awaits it, so its timer runs.
        cell.Submit(3, cell.BuildRequest(1000, Lag, Lag));
        cell.Run();
        return cell;
    }

    [Fact]
    public void ALaggingReplicaCatchesUpBeforeItsViewChangeTimerExpiresAndStaysInTheView()
    {
        var cell = CutOffReplicaThreeForLagBatches();
        Assert.True(cell.TickUntil(() => cell.Replicas[3].LastExecuted == Lag, maxTicks: 200), $"replica 3 at {cell.Replicas[3].LastExecuted}");
        cell.Tick(100);
        Assert.Equal(0, cell.Pbft(3).ViewChangesStarted);
        Assert.False(cell.Pbft(3).InViewChange);
        Assert.All(cell.Replicas, r => Assert.Equal(0UL, r.View));
        Assert.Equal(cell.StateDigest(0), cell.StateDigest(3));
    }

    [Fact]
    public void CatchUpAsksAgainAtTheNextTickOnlyWhileItMakesProgress()
    {
        var cell = CutOffReplicaThreeForLagBatches();
        int statusesOfThree = 0;
        cell.Observe = (from, _, msg) => { if (from == 3 && LoopbackCell.Is(msg, FastBft.Wire.MessageType.Status)) statusesOfThree++; };
        int ticks = 0;
        while (cell.Replicas[3].LastExecuted < Lag && ticks < 200) { cell.Tick(); ticks++; }
        // One periodic round lets replica 3 learn that f+1 peers are ahead; then one answer (4 slots) per tick.
        Assert.True(ticks <= Retransmit + Lag / 4 + 2, $"caught up after {ticks} ticks");
        // Caught up: back to one STATUS per RetransmitTicks (3 peers receive each broadcast).
        statusesOfThree = 0;
        cell.Tick(3 * Retransmit);
        Assert.Equal(3 * 3, statusesOfThree);
    }
}
