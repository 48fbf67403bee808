using System.Buffers;
using System.Diagnostics;
using FastBft.Service;

namespace FastBft.Workloads.Odrc;

/// <summary>
/// Adds a fixed CPU cost to every executed write (service.exec_cost_us; docs/odrc.md §8): busy work of the given
/// microseconds, as in the thesis' NFS case where execution dominated ordering (Thesis §6.7.2). A write is a request the
/// service's write knowledge (<see cref="IObjectStateService.AnalyzeWrites"/>) says modifies an object; without write
/// knowledge every request counts. Results and state are the inner service's: the cost is time only.
/// </summary>
public static class ExecutionCost
{
    /// <summary>Wraps <paramref name="inner"/>; the wrapper implements <see cref="IObjectStateService"/> exactly when the inner service does.</summary>
    /// <exception cref="ArgumentOutOfRangeException">costUs not positive.</exception>
    public static IReplicatedService Wrap(IReplicatedService inner, int costUs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(costUs, 1);
        return inner is IObjectStateService os ? new ObjectCostService(inner, os, costUs) : new CostService(inner, costUs);
    }

    /// <summary>Spins for <paramref name="us"/> microseconds.</summary>
    public static void Spin(int us)
    {
        long until = Stopwatch.GetTimestamp() + us * Stopwatch.Frequency / 1_000_000;
        while (Stopwatch.GetTimestamp() < until) Thread.SpinWait(20);
    }

    private class CostService(IReplicatedService inner, int costUs) : IReplicatedService
    {
        protected readonly IReplicatedService Inner = inner;
        protected readonly int CostUs = costUs;
        public virtual void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update)
        {
            Spin(CostUs);
            Inner.Execute(request, operation, reply, update);
        }
        public void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update) => Inner.ApplyUpdate(request, update);
        public void GetStateDigest(Span<byte> digest32) => Inner.GetStateDigest(digest32);
        public void WriteSnapshot(Stream destination) => Inner.WriteSnapshot(destination);
        public void RestoreSnapshot(Stream source) => Inner.RestoreSnapshot(source);
    }

    private sealed class ObjectCostService(IReplicatedService inner, IObjectStateService objects, int costUs) : CostService(inner, costUs), IObjectStateService,
        FastBft.Execution.Odrc.IInPlaceRequestAnalyzer, FastBft.Execution.Odrc.IInPlaceWriteAnalyzer
    {
        private readonly List<byte[]> _ids = new();
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
        public override void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update)
        {
            _written.Clear();
            if (!objects.AnalyzeWrites(operation, _written) || _written.Count > 0) Spin(CostUs);
            Inner.Execute(request, operation, reply, update);
        }
        public bool AnalyzeRequest(ReadOnlySpan<byte> operation, List<byte[]> objectIds) => objects.AnalyzeRequest(operation, objectIds);
        public void GetObjectState(ReadOnlySpan<byte> objectId, IBufferWriter<byte> state) => objects.GetObjectState(objectId, state);
        public void SetObjectState(ReadOnlySpan<byte> objectId, ReadOnlySpan<byte> state) => objects.SetObjectState(objectId, state);
        public bool AnalyzeWrites(ReadOnlySpan<byte> operation, List<byte[]> written) => objects.AnalyzeWrites(operation, written);
        public ReadOnlySpan<byte> LocalityGroup(ReadOnlySpan<byte> objectId) => objects.LocalityGroup(objectId);
    }
}
