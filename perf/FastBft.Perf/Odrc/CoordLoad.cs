using FastBft.Client;
using FastBft.Workloads.Coord;

namespace FastBft.Perf.Cell;

/// <summary>
/// The coordination-service benchmark (docs/odrc.md §8; after the thesis' ZooKeeper experiment, §6.8.2): nodes
/// "/b{i mod G}/n{i}" under G = ⌈nodes/100⌉ top-level nodes, created before the warm-up; each client then issues setData
/// of a fixed data size to uniformly chosen nodes ("writes"), or half setData, half getData ("mixed").
/// </summary>
internal static class CoordLoad
{
    private static int Groups(long nodes) => (int)Math.Max(1, (nodes + 99) / 100);
    private static string Node(long i, int groups) => $"/b{i % groups}/n{i}";

    /// <summary>Creates the top-level nodes, then every node, through all clients in parallel.</summary>
    public static async Task CreateNodesAsync(BftClient[] clients, long nodes, CancellationToken ct)
    {
        int groups = Groups(nodes);
        await Run(clients, Enumerable.Range(0, groups).Select(g => CoordCodec.Create($"/b{g}", [])), ct);
        await Run(clients, Enumerable.Range(0, (int)nodes).Select(i => CoordCodec.Create(Node(i, groups), [])), ct);
    }

    private static async Task Run(BftClient[] clients, IEnumerable<byte[]> ops, CancellationToken ct)
    {
        var queue = new System.Collections.Concurrent.ConcurrentQueue<byte[]>(ops);
        async Task Drive(BftClient c)
        {
            await Task.Yield();
            while (!ct.IsCancellationRequested && queue.TryDequeue(out var op))
            {
                var reply = await c.InvokeAsync(op);
                if (reply.Length == 0 || reply.Span[0] is not ((byte)CoordStatus.Ok or (byte)CoordStatus.NodeExists))
                    throw new InvalidOperationException($"coord load phase: create failed with status {(reply.Length == 0 ? -1 : reply.Span[0])}");
            }
        }
        await Task.WhenAll(clients.Select(Drive));
    }

    /// <summary>One operation stream per client (deterministic per client index; operations pre-encoded per node).</summary>
    public static Func<byte[]>[] Streams(int clients, long nodes, int dataBytes, bool mixed)
    {
        int groups = Groups(nodes);
        var data = new byte[dataBytes];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)('a' + i % 26);
        var writes = new byte[nodes][];
        var reads = mixed ? new byte[nodes][] : null;
        for (long i = 0; i < nodes; i++)
        {
            writes[i] = CoordCodec.SetData(Node(i, groups), data);
            if (reads is not null) reads[i] = CoordCodec.GetData(Node(i, groups));
        }
        var streams = new Func<byte[]>[clients];
        for (int c = 0; c < clients; c++)
        {
            var rng = new Random(c + 1);
            streams[c] = () =>
            {
                long i = rng.NextInt64(nodes);
                return reads is not null && rng.Next(2) == 0 ? reads[i] : writes[i];
            };
        }
        return streams;
    }
}
