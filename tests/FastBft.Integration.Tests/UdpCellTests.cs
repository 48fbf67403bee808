using FastBft.Client;
using FastBft.Workloads;

namespace FastBft.Integration.Tests;

/// <summary>Real 4-replica cells over loopback UDP (replica event loops on threads, real sockets).</summary>
public class UdpCellTests
{
    private static async Task<List<(uint Client, ulong Rid, long Op, long Result)>> DriveAsync(ClientEndpoint endpoint, BftClient[] clients, int requestsPerClient, int seed, Func<int, Task>? onProgress = null)
    {
        var received = new List<(uint, ulong, long, long)>();
        var gate = new object();
        int completed = 0;
        async Task Drive(BftClient c, int index)
        {
            await Task.Yield();
            var rng = new Random(seed * 7919 + index);
            var op = new byte[8];
            for (int k = 0; k < requestsPerClient; k++)
            {
                long v = rng.NextInt64(-1_000_000, 1_000_000);
                BitConverter.TryWriteBytes(op, v);
                var result = await c.InvokeAsync(op);
                long r = BitConverter.ToInt64(result.Span);
                lock (gate) received.Add((c.Id, c.RequestId, v, r));
                int done = Interlocked.Increment(ref completed);
                if (onProgress is not null) await onProgress(done);
            }
        }
        await Task.WhenAll(clients.Select(Drive)).WaitAsync(TimeSpan.FromMinutes(3));
        return received;
    }

    /// <summary>Checks validity: the history is a sequential execution and every client result matches it.</summary>
    private static void AssertValid(IReadOnlyList<(uint Client, ulong Rid, long Op, long Result)> history, IEnumerable<(uint Client, ulong Rid, long Op, long Result)> clientResults)
    {
        long acc = 0;
        var byRequest = new Dictionary<(uint, ulong), (long Op, long Result)>();
        foreach (var h in history)
        {
            acc = CounterService.Reference(acc, BitConverter.GetBytes(h.Op));
            Assert.Equal(acc, h.Result);
            Assert.True(byRequest.TryAdd((h.Client, h.Rid), (h.Op, h.Result)), $"request ({h.Client},{h.Rid}) executed twice");
        }
        foreach (var c in clientResults)
        {
            Assert.True(byRequest.TryGetValue((c.Client, c.Rid), out var e), $"client {c.Client} accepted a result for request {c.Rid} that was never executed");
            Assert.Equal(e.Op, c.Op);
            Assert.Equal(e.Result, c.Result);
        }
    }

    [Fact]
    public async Task TenThousandRequestsFromEightClientsAgreeAndMatchSequentialExecution()
    {
        using var cell = new UdpCell();
        using var endpoint = cell.NewClientEndpoint();
        var clients = Enumerable.Range(0, 8).Select(i => endpoint.CreateClient(cell.Config.FirstClientId + (uint)i)).ToArray();
        endpoint.Start();

        var results = await DriveAsync(endpoint, clients, 1250, seed: 1);

        Assert.Equal(10_000, results.Count);
        var statuses = await cell.ConvergeAsync(TimeSpan.FromSeconds(30));
        Assert.Empty(cell.Failures);
        Assert.All(statuses, s => Assert.Equal(statuses[0].LastExecuted, s.LastExecuted));
        Assert.All(statuses, s => Assert.Equal(statuses[0].StateDigest, s.StateDigest));
        Assert.All(statuses, s => Assert.True(s.StableCheckpoint > 0, "checkpoints must become stable"));
        // Every replica executed the same history, and it is a correct sequential execution.
        var reference = cell.Services[0].History;
        Assert.Equal(10_000, reference.Count);
        foreach (var s in cell.Services) Assert.Equal(reference, s.History);
        AssertValid(reference, results);
    }

    [Fact]
    public async Task CrashedFollowerMidRunDoesNotStopTheOthers()
    {
        using var cell = new UdpCell();
        using var endpoint = cell.NewClientEndpoint();
        var clients = Enumerable.Range(0, 8).Select(i => endpoint.CreateClient(cell.Config.FirstClientId + (uint)i)).ToArray();
        endpoint.Start();
        long executedAtCrash = -1;
        var results = await DriveAsync(endpoint, clients, 500, seed: 2, onProgress: done =>
        {
            if (done == 1000) { cell.Crash(3); executedAtCrash = cell.Services[0].History.Count; }
            return Task.CompletedTask;
        });

        Assert.Equal(4000, results.Count);
        Assert.False(cell.IsRunning(3));
        Assert.True(executedAtCrash > 0);
        var statuses = await cell.ConvergeAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(3, statuses.Length);
        Assert.All(statuses, s => Assert.Equal(statuses[0].StateDigest, s.StateDigest));
        Assert.True(cell.Services[0].History.Count >= 4000);
        Assert.True(cell.Services[3].History.Count < cell.Services[0].History.Count, "the crashed follower stopped executing");
        AssertValid(cell.Services[0].History, results);
    }

    [Fact]
    public async Task ReplicaCutOffForMoreThanThreeCheckpointIntervalsCatchesUpByStateTransfer()
    {
        using var cell = new UdpCell(checkpointInterval: 16, window: 32);
        using var endpoint = cell.NewClientEndpoint();
        var clients = Enumerable.Range(0, 8).Select(i => endpoint.CreateClient(cell.Config.FirstClientId + (uint)i)).ToArray();
        endpoint.Start();
        var results = await DriveAsync(endpoint, clients, 500, seed: 3, onProgress: done =>
        {
            if (done == 400) cell.Links[3].Cut = true;
            if (done == 2800) cell.Links[3].Cut = false;
            return Task.CompletedTask;
        });
        Assert.Equal(4000, results.Count);
        var statuses = await cell.ConvergeAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(4, statuses.Length);
        Assert.All(statuses, s => Assert.Equal(statuses[0].LastExecuted, s.LastExecuted));
        Assert.All(statuses, s => Assert.Equal(statuses[0].StateDigest, s.StateDigest));
        Assert.True(statuses[0].StableCheckpoint > 3 * 16, $"the cell moved more than 3 checkpoint intervals ({statuses[0].StableCheckpoint})");
        Assert.True(cell.Hosts[3].Core.Counters.StateTransfers >= 1, "replica 3 caught up by state transfer");
        Assert.True(cell.Failures.IsEmpty);
    }
}
