using System.Buffers;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using FastBft.Execution.Odrc;
using FastBft.Service;
using FastBft.Workloads.Kv;

namespace FastBft.Perf.Odrc;

/// <summary>
/// `fastbft odrc-bench [--requests N] [--records R] [--exec-replicas E] [--workload ycsb-a] [--write-knowledge]`: the selector's own cost per ordered request,
/// without network or agreement (docs/odrc.md §8, "allocation"): E selectors (f = 1) over their own KV services take the
/// same YCSB-A order, execute what they select and exchange object checkpoints in memory (so stored requests are
/// skipped and garbage-collected as in a cell). Reports, per ordered request and summed over the E selectors, the bytes
/// allocated on this thread (<see cref="GC.GetAllocatedBytesForCurrentThread"/>) split into selector and service, and
/// the wall time. Single-threaded and deterministic in what it allocates (the timing is not).
/// </summary>
internal static class SelectorBench
{
    public static Command Create()
    {
        var requests = new Option<int>("--requests") { Description = "ordered requests measured (after as many warm-up requests)", DefaultValueFactory = _ => 200_000 };
        var records = new Option<long>("--records") { Description = "KV records (keys user0..)", DefaultValueFactory = _ => 10_000 };
        var e = new Option<int>("--exec-replicas") { Description = "execution replicas E (f = 1)", DefaultValueFactory = _ => 4 };
        var workload = new Option<string>("--workload") { Description = "YCSB mix (ycsb-a, ycsb-b, ...)", DefaultValueFactory = _ => "ycsb-a" };
        var writeKnowledge = new Option<bool>("--write-knowledge") { Description = "selectors use the service's write knowledge (Thesis §6.6.1.2; docs/odrc.md §3a)" };
        var cmd = new Command("odrc-bench", "Measure the ODRC selector's allocation and time per ordered request (in memory, no network).");
        cmd.Options.Add(requests); cmd.Options.Add(records); cmd.Options.Add(e); cmd.Options.Add(workload); cmd.Options.Add(writeKnowledge);
        cmd.SetAction(p => { Run(p.GetValue(requests), p.GetValue(records), p.GetValue(e), Console.Out, p.GetValue(workload)!, p.GetValue(writeKnowledge)); return 0; });
        return cmd;
    }

    /// <summary>Result of one measurement, per ordered request over all E selectors.</summary>
    internal readonly record struct Result(double SelectorBytes, double ServiceBytes, double Nanoseconds, double ExecutionsPerRequest, double CheckpointsPerThousand = 0);

    private sealed class Node : ISelectorOutput
    {
        public Selector Selector = null!;
        public KvService Service = null!;
        public List<Node> All = null!;
        public readonly Queue<ObjectCheckpoint> Inbox = new();
        public void BroadcastObjectCheckpoint(ObjectCheckpoint checkpoint) { foreach (var n in All) if (n != this) n.Inbox.Enqueue(checkpoint); }
        public void SendObjectFetch(uint to, ReadOnlySpan<byte> objectId, ulong ordinal) => All[(int)to].Selector.OnObjectFetch(Selector.Self, objectId, ordinal);
        public void SendObjectState(uint to, ReadOnlySpan<byte> objectId, ulong ordinal, ReadOnlySpan<byte> state) => All[(int)to].Selector.OnObjectState(Selector.Self, objectId, ordinal, state);
        public void VerifiedReplies(ReadOnlySpan<ReplyHash> replies) { }
    }

    /// <summary>Runs <paramref name="warmup"/> + <paramref name="requests"/> ordered YCSB-A requests through E selectors.</summary>
    internal static Result Measure(int requests, long records, int e, int warmup, string workload = "ycsb-a", bool writeKnowledge = false)
    {
        var placement = new ObjectPlacement(e, 1, PlacementStrategy.RoundRobin);
        var nodes = new List<Node>();
        for (uint i = 0; i < e; i++)
        {
            var n = new Node { Service = new KvService(new MemoryKvStore()), All = nodes };
            n.Selector = new Selector(i, placement, n.Service, n, new SelectorOptions { WriteKnowledge = writeKnowledge });
            nodes.Add(n);
        }
        var load = YcsbClient.LoadOperations(records, 100, 4000).ToList();
        var ycsb = new YcsbClient(YcsbMix.Parse(workload), records, 100, 0, ScrambledZipfian.Zeta(records, 0.99));
        var reply = new ArrayBufferWriter<byte>(1024);
        var op = new byte[4096];
        long serviceBytes = 0, selectorBytes = 0, executed = 0;
        ulong seq = 0;
        var watch = new Stopwatch();
        long checkpoints0 = 0;
        int total = load.Count + warmup + requests;
        for (int k = 0; k < total; k++)
        {
            bool measuring = k >= load.Count + warmup;
            if (measuring && !watch.IsRunning) { watch.Start(); foreach (var n in nodes) checkpoints0 += n.Selector.Stats.CheckpointsTaken; }
            ReadOnlySpan<byte> src = k < load.Count ? load[k] : ycsb.Next();
            src.CopyTo(op);
            var operation = op.AsSpan(0, src.Length);
            seq++;
            long a0 = GC.GetAllocatedBytesForCurrentThread(), svc = 0;
            foreach (var n in nodes)
            {
                n.Selector.InsertRequest(1000 + (uint)(k % 64), (ulong)(k / 64) + 1, seq, 0, operation);
                OdrcRequest? r;
                while ((r = n.Selector.NextRequest()) is not null)
                {
                    reply.ResetWrittenCount();
                    long s0 = GC.GetAllocatedBytesForCurrentThread();
                    n.Service.Execute(new RequestInfo(r.ClientId, r.RequestId, r.Sequence, r.Index), r.Operation, reply, null);
                    svc += GC.GetAllocatedBytesForCurrentThread() - s0;
                    n.Selector.Executed(r, reply.WrittenSpan);
                    if (measuring) executed++;
                }
            }
            foreach (var n in nodes)
                while (n.Inbox.TryDequeue(out var cp)) n.Selector.OnObjectCheckpoint(cp);
            if (measuring)
            {
                serviceBytes += svc;
                selectorBytes += GC.GetAllocatedBytesForCurrentThread() - a0 - svc;
            }
        }
        watch.Stop();
        long checkpoints = -checkpoints0;
        foreach (var n in nodes) checkpoints += n.Selector.Stats.CheckpointsTaken;
        return new Result((double)selectorBytes / requests, (double)serviceBytes / requests, watch.Elapsed.TotalNanoseconds / requests, (double)executed / requests, 1000.0 * checkpoints / requests);
    }

    private static void Run(int requests, long records, int e, TextWriter output, string workload = "ycsb-a", bool writeKnowledge = false)
    {
        var r = Measure(requests, records, e, requests, workload, writeKnowledge);
        var ci = CultureInfo.InvariantCulture;
        output.WriteLine(string.Create(ci, $"odrc selector, E={e}, f=1, {workload} over {records} records, {requests} ordered requests after {requests} warm-up{(writeKnowledge ? ", write knowledge" : "")}:"));
        output.WriteLine(string.Create(ci, $"  allocated per ordered request (all {e} selectors): selector {r.SelectorBytes:0.0} B, service {r.ServiceBytes:0.0} B"));
        output.WriteLine(string.Create(ci, $"  time per ordered request (all {e} selectors, incl. execution): {r.Nanoseconds / 1000:0.00} µs; executions per request {r.ExecutionsPerRequest:0.00}; object checkpoints taken per 1,000 requests (all selectors) {r.CheckpointsPerThousand:0.0}"));
    }
}
