using System.Runtime.InteropServices;
using System.Buffers;
using System.Diagnostics;
using System.Text;
using FastBft.Config;
using FastBft.Service;
using FastBft.Workloads;
using FastBft.Workloads.Kv;
using FastBft.Workloads.Odrc;

namespace FastBft.Kv.Tests;

/// <summary>
/// service.exec_cost_us with service.exec_cost_kind (docs/odrc.md §8): "wait" blocks for at least the cost without using the
/// CPU (a model of storage latency), "cpu" spins; only writes pay; results are the inner service's; the wrapper allocates
/// nothing per request. Timing assertions are lower bounds only; the overshoot and the waiting thread's CPU share are printed, not asserted (shared machine).
/// </summary>
public sealed class ExecutionCostTests(ITestOutputHelper output)
{
    private static byte[] Op(Action<IBufferWriter<byte>> write) { var w = new ArrayBufferWriter<byte>(); write(w); return w.WrittenSpan.ToArray(); }
    private static readonly byte[] SetOp = Op(w => KvCodec.Set(w, "key"u8, "value"u8));
    private static readonly byte[] GetOp = Op(w => KvCodec.Get(w, "key"u8));

    [Theory]
    [InlineData(50)]
    [InlineData(200)]
    public void AWaitLastsAtLeastTheCost(int us)
    {
        const int Rounds = 200;
        ExecutionCost.Wait(us);                                           // first call: timer slack, P/Invoke binding
        var samples = new double[Rounds];
        double cpu0 = ThreadCpuUs();
        long t0 = Stopwatch.GetTimestamp();
        for (int i = 0; i < Rounds; i++)
        {
            long s = Stopwatch.GetTimestamp();
            ExecutionCost.Wait(us);
            samples[i] = Stopwatch.GetElapsedTime(s).TotalMicroseconds;
        }
        double wallUs = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
        double cpuUs = ThreadCpuUs() - cpu0;                             // this thread only: other tests run in parallel in this process
        Array.Sort(samples);
        output.WriteLine($"wait {us} µs × {Rounds}: min {samples[0]:0} p50 {samples[Rounds / 2]:0} p90 {samples[Rounds * 9 / 10]:0} p99 {samples[Rounds * 99 / 100]:0} max {samples[^1]:0} µs; thread CPU {cpuUs / wallUs:P0} of wall time");
        Assert.True(samples[0] >= us * 0.99, $"a wait of {us} µs returned after {samples[0]:0.0} µs");
        // The thread's CPU share is printed, not asserted: at 50 µs the syscall and wake-up cost is a large, load-dependent share
        // (54 % seen once on a loaded machine, 10–20 % usually) — a performance property, measured in docs/odrc.md §8.
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec { public long Sec, Nsec; }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec ts);

    /// <summary>CPU time of the calling thread, µs (Linux CLOCK_THREAD_CPUTIME_ID = 3): a spin would use all of its wall time,
    /// a blocking wait almost none — unlike the process's CPU time, which the tests running beside this one share.</summary>
    private static double ThreadCpuUs()
    {
        Assert.Equal(0, ClockGetTime(3, out var ts));
        return ts.Sec * 1e6 + ts.Nsec / 1e3;
    }

    [Theory]
    [InlineData(ExecutionCostKind.Wait)]
    [InlineData(ExecutionCostKind.Cpu)]
    public void OnlyWritesPayAndRepliesAreTheInnerServices(ExecutionCostKind kind)
    {
        const int Us = 2000;
        var inner = new KvService(new MemoryKvStore());
        var wrapped = ExecutionCost.Wrap(inner, Us, kind);
        Assert.IsAssignableFrom<IObjectStateService>(wrapped);
        var reference = new KvService(new MemoryKvStore());
        var w = new ArrayBufferWriter<byte>();
        var r = new ArrayBufferWriter<byte>();
        long s = Stopwatch.GetTimestamp();
        wrapped.Execute(new RequestInfo(1, 1, 1, 0), SetOp, w, null);
        Assert.True(Stopwatch.GetElapsedTime(s).TotalMicroseconds >= Us * 0.99);
        reference.Execute(new RequestInfo(1, 1, 1, 0), SetOp, r, null);
        Assert.Equal(Encoding.ASCII.GetString(r.WrittenSpan), Encoding.ASCII.GetString(w.WrittenSpan));
        w.ResetWrittenCount(); r.ResetWrittenCount();
        s = Stopwatch.GetTimestamp();
        wrapped.Execute(new RequestInfo(1, 2, 2, 0), GetOp, w, null);
        double readUs = Stopwatch.GetElapsedTime(s).TotalMicroseconds;
        reference.Execute(new RequestInfo(1, 2, 2, 0), GetOp, r, null);
        Assert.Equal(Encoding.ASCII.GetString(r.WrittenSpan), Encoding.ASCII.GetString(w.WrittenSpan));
        output.WriteLine($"{kind}: a read took {readUs:0} µs (a write pays {Us} µs)");
    }

    [Fact]
    public void TheWrapperAllocatesNothingPerRequest()
    {
        var plain = new KvService(new MemoryKvStore());
        var wrapped = ExecutionCost.Wrap(new KvService(new MemoryKvStore()), 1, ExecutionCostKind.Wait);
        long Allocated(IReplicatedService service)
        {
            var w = new ArrayBufferWriter<byte>(1024);
            for (int i = 0; i < 50; i++) { w.ResetWrittenCount(); service.Execute(new RequestInfo(1, (ulong)i + 1, 1, 0), i % 2 == 0 ? SetOp : GetOp, w, null); }
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 500; i++) { w.ResetWrittenCount(); service.Execute(new RequestInfo(1, (ulong)i + 100, 1, 0), i % 2 == 0 ? SetOp : GetOp, w, null); }
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        long inner = Allocated(plain), outer = Allocated(wrapped);
        output.WriteLine($"500 requests: KV alone {inner} B, wrapped {outer} B");
        Assert.True(outer - inner <= 64, $"the wrapper allocated {outer - inner} B over 500 requests");
    }

    [Fact]
    public void TheCostKindIsValidatedAndSelectsTheWrapper()
    {
        const string Cell = """
        {
          "f": 1,
          "replicas": [ { "id": 0, "address": "127.0.0.1:7000" }, { "id": 1, "address": "127.0.0.1:7001" }, { "id": 2, "address": "127.0.0.1:7002" }, { "id": 3, "address": "127.0.0.1:7003" } ],
          "keys": { "master": "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" },
          "service": { "kind": "kv", "exec_cost_us": 10, "exec_cost_kind": "KIND" }
        }
        """;
        Assert.Equal("wait", CellConfig.Parse(Cell.Replace("KIND", "wait")).Service.ExecCostKind);
        var e = Assert.Throws<ConfigException>(() => CellConfig.Parse(Cell.Replace("KIND", "disk")));
        Assert.Contains("service.exec_cost_kind", e.Message);
        var service = ServiceFactory.Create(new ServiceConfig { Kind = "kv", ExecCostUs = 3000, ExecCostKind = "wait" });
        var w = new ArrayBufferWriter<byte>();
        long s = Stopwatch.GetTimestamp();
        service.Execute(new RequestInfo(1, 1, 1, 0), SetOp, w, null);
        Assert.True(Stopwatch.GetElapsedTime(s).TotalMicroseconds >= 2970);
    }
}
