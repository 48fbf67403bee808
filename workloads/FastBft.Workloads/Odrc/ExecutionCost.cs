using System.Buffers;
using System.Diagnostics;
using System.Runtime.InteropServices;
using FastBft.Service;

namespace FastBft.Workloads.Odrc;

/// <summary>How the per-write cost of <see cref="ExecutionCost"/> is spent (service.exec_cost_kind; docs/odrc.md §8).</summary>
public enum ExecutionCostKind : byte
{
    /// <summary>Busy work: the executing thread spins for the cost (a CPU-bound service).</summary>
    Cpu = 0,
    /// <summary>
    /// A blocking wait: the executing thread sleeps for the cost and leaves the CPU to others (a model of storage latency,
    /// as in the thesis' NFS case, Thesis §6.7.2). Precision: see <see cref="ExecutionCost.Wait"/>.
    /// </summary>
    Wait = 1,
}

/// <summary>
/// Adds a fixed cost to every executed write (service.exec_cost_us, service.exec_cost_kind; docs/odrc.md §8): busy work
/// (<see cref="ExecutionCostKind.Cpu"/>) or a blocking wait (<see cref="ExecutionCostKind.Wait"/>) of the given
/// microseconds, as in the thesis' NFS case where execution dominated ordering (Thesis §6.7.2). A write is a request the
/// service's write knowledge (<see cref="FastBft.Execution.Odrc.IInPlaceWriteAnalyzer"/>, else
/// <see cref="IObjectStateService.AnalyzeWrites"/>) says modifies an object; without write knowledge every request counts.
/// Results and state are the inner service's: the cost is time only. Allocation-free per request for services with the
/// in-place analyses (KV, coordination service).
/// </summary>
public static partial class ExecutionCost
{
    /// <summary>Wraps <paramref name="inner"/> with a CPU cost; the wrapper implements <see cref="IObjectStateService"/> exactly when the inner service does.</summary>
    /// <exception cref="ArgumentOutOfRangeException">costUs not positive.</exception>
    public static IReplicatedService Wrap(IReplicatedService inner, int costUs) => Wrap(inner, costUs, ExecutionCostKind.Cpu);

    /// <summary>Wraps <paramref name="inner"/> with a cost of <paramref name="costUs"/> µs per executed write, spent as <paramref name="kind"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">costUs not positive, or an unknown kind.</exception>
    public static IReplicatedService Wrap(IReplicatedService inner, int costUs, ExecutionCostKind kind)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(costUs, 1);
        if (kind is not (ExecutionCostKind.Cpu or ExecutionCostKind.Wait)) throw new ArgumentOutOfRangeException(nameof(kind));
        return inner is IObjectStateService os ? new ObjectCostService(inner, os, costUs, kind) : new CostService(inner, costUs, kind);
    }

    /// <summary>Spins for <paramref name="us"/> microseconds.</summary>
    public static void Spin(int us)
    {
        long until = Stopwatch.GetTimestamp() + us * Stopwatch.Frequency / 1_000_000;
        while (Stopwatch.GetTimestamp() < until) Thread.SpinWait(20);
    }

    /// <summary>
    /// Blocks the calling thread for at least <paramref name="us"/> microseconds without using the CPU. On Linux:
    /// <c>clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)</c> to an absolute deadline (a signal's early return sleeps again
    /// until it), with the thread's timer slack lowered to 1 ns on its first wait (<c>prctl(PR_SET_TIMERSLACK)</c>; the
    /// default slack of 50 µs would be added to every wait). The overshoot is then the kernel's wake-up latency: measured
    /// in docs/odrc.md §8 (tens of µs on an idle machine, more when the cores are busy). Elsewhere:
    /// <see cref="Thread.Sleep(TimeSpan)"/>, about 1 ms granularity. No allocation.
    /// </summary>
    public static void Wait(int us)
    {
        if (us <= 0) return;
        if (!OperatingSystem.IsLinux()) { Thread.Sleep(TimeSpan.FromMicroseconds(us)); return; }
        LinuxSleep.Wait(us);
    }

    private static unsafe partial class LinuxSleep
    {
        private const int ClockMonotonic = 1, TimerAbsTime = 1, PrSetTimerSlack = 29, Eintr = 4;
        [ThreadStatic] private static bool t_slackSet;

        [StructLayout(LayoutKind.Sequential)]
        private struct Timespec { public long Seconds; public long Nanoseconds; }

        [LibraryImport("libc", EntryPoint = "clock_gettime")]
        private static partial int ClockGetTime(int clock, Timespec* now);
        [LibraryImport("libc", EntryPoint = "clock_nanosleep")]
        private static partial int ClockNanosleep(int clock, int flags, Timespec* request, Timespec* remain);
        [LibraryImport("libc", EntryPoint = "prctl")]
        private static partial int Prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);

        public static void Wait(int us)
        {
            if (!t_slackSet) { t_slackSet = true; Prctl(PrSetTimerSlack, 1, 0, 0, 0); }
            Timespec deadline;
            if (ClockGetTime(ClockMonotonic, &deadline) != 0) { Thread.Sleep(TimeSpan.FromMicroseconds(us)); return; }
            long ns = deadline.Nanoseconds + us * 1000L;
            deadline.Seconds += ns / 1_000_000_000L;
            deadline.Nanoseconds = ns % 1_000_000_000L;
            int rc;
            while ((rc = ClockNanosleep(ClockMonotonic, TimerAbsTime, &deadline, null)) == Eintr) { }
            if (rc != 0) Spin(us);             // cannot sleep (never seen): keep the cost, as time
        }
    }

    private class CostService(IReplicatedService inner, int costUs, ExecutionCostKind kind) : IReplicatedService
    {
        protected readonly IReplicatedService Inner = inner;
        protected readonly int CostUs = costUs;
        protected void Cost() { if (kind == ExecutionCostKind.Wait) Wait(CostUs); else Spin(CostUs); }
        public virtual void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update)
        {
            Cost();
            Inner.Execute(request, operation, reply, update);
        }
        public void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update) => Inner.ApplyUpdate(request, update);
        public void GetStateDigest(Span<byte> digest32) => Inner.GetStateDigest(digest32);
        public void WriteSnapshot(Stream destination) => Inner.WriteSnapshot(destination);
        public void RestoreSnapshot(Stream source) => Inner.RestoreSnapshot(source);
    }

    private sealed class ObjectCostService(IReplicatedService inner, IObjectStateService objects, int costUs, ExecutionCostKind kind) : CostService(inner, costUs, kind), IObjectStateService,
        FastBft.Execution.Odrc.IInPlaceRequestAnalyzer, FastBft.Execution.Odrc.IInPlaceWriteAnalyzer
    {
        private readonly List<byte[]> _ids = new();
        private readonly FastBft.Execution.Odrc.ObjectIdBuffer _execIds = new();
        private FastBft.Execution.Odrc.ObjectAccess[] _execKinds = new FastBft.Execution.Odrc.ObjectAccess[8];
        // the selector's allocation-free analyses pass through (docs/odrc.md §3a, §8); a service without them is served from its list forms
        public bool AnalyzeRequest(ReadOnlySpan<byte> operation, FastBft.Execution.Odrc.ObjectIdBuffer ids)
        {
            if (objects is FastBft.Execution.Odrc.IInPlaceRequestAnalyzer fast) return fast.AnalyzeRequest(operation, ids);
            _ids.Clear();
            if (!objects.AnalyzeRequest(operation, _ids)) return false;
            foreach (var id in _ids) ids.Add(id);
            return true;
        }
        public bool AnalyzeAccess(ReadOnlySpan<byte> operation, Span<FastBft.Execution.Odrc.ObjectAccess> kinds)
        {
            if (objects is FastBft.Execution.Odrc.IInPlaceWriteAnalyzer fast) return fast.AnalyzeAccess(operation, kinds);
            _ids.Clear(); _written.Clear();
            if (!objects.AnalyzeRequest(operation, _ids) || _ids.Count != kinds.Length || !objects.AnalyzeWrites(operation, _written)) return false;
            for (int i = 0; i < kinds.Length; i++)
            {
                kinds[i] = FastBft.Execution.Odrc.ObjectAccess.Read;
                foreach (var w in _written) if (w.AsSpan().SequenceEqual(_ids[i])) { kinds[i] = FastBft.Execution.Odrc.ObjectAccess.ReadWrite; break; }
            }
            return true;
        }
        private readonly List<byte[]> _written = new();

        /// <summary>True if <paramref name="operation"/> may modify an object (no knowledge counts as a write).</summary>
        private bool IsWrite(ReadOnlySpan<byte> operation)
        {
            if (objects is FastBft.Execution.Odrc.IInPlaceRequestAnalyzer ra && objects is FastBft.Execution.Odrc.IInPlaceWriteAnalyzer wa)
            {
                // allocation-free: the ids into a reused buffer, their access kinds into a reused array
                _execIds.Clear();
                if (!ra.AnalyzeRequest(operation, _execIds) || _execIds.Count == 0) return true;
                if (_execKinds.Length < _execIds.Count) _execKinds = new FastBft.Execution.Odrc.ObjectAccess[Math.Max(_execIds.Count, 2 * _execKinds.Length)];
                var k = _execKinds.AsSpan(0, _execIds.Count);
                if (!wa.AnalyzeAccess(operation, k)) return true;
                foreach (var a in k) if (a != FastBft.Execution.Odrc.ObjectAccess.Read) return true;
                return false;
            }
            _written.Clear();
            return !objects.AnalyzeWrites(operation, _written) || _written.Count > 0;
        }

        public override void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update)
        {
            if (IsWrite(operation)) Cost();
            Inner.Execute(request, operation, reply, update);
        }
        public bool AnalyzeRequest(ReadOnlySpan<byte> operation, List<byte[]> objectIds) => objects.AnalyzeRequest(operation, objectIds);
        public void GetObjectState(ReadOnlySpan<byte> objectId, IBufferWriter<byte> state) => objects.GetObjectState(objectId, state);
        public void SetObjectState(ReadOnlySpan<byte> objectId, ReadOnlySpan<byte> state) => objects.SetObjectState(objectId, state);
        public bool AnalyzeWrites(ReadOnlySpan<byte> operation, List<byte[]> written) => objects.AnalyzeWrites(operation, written);
        public ReadOnlySpan<byte> LocalityGroup(ReadOnlySpan<byte> objectId) => objects.LocalityGroup(objectId);
    }
}
