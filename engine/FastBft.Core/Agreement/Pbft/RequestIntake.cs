using System.Buffers.Binary;
using FastBft.Execution;
using FastBft.Wire;

namespace FastBft.Agreement.Pbft;

/// <summary>What <see cref="RequestIntake.Offer"/> did with a request.</summary>
internal enum IntakeResult : byte { Queued, Duplicate, Deferred }

/// <summary>
/// The leader's request intake and batch cutting, shared by every core that orders batches (PBFT's primary, RePBFT's
/// leader): R2 — one queued request per client, a newer one kept in one per-client slot and queued once the queued one
/// is batched (Thesis §2.1.2.1) — and batches of at most one request per client, FIFO (PROTOCOLS.md G1), written in
/// the batch layout of docs/wire-format.md §2.3. Allocation-free in steady state.
/// </summary>
internal sealed class RequestIntake(ClientTable clients, RequestQueue pending, ReplyCache replies, int batchSize)
{
    private readonly List<ClientRecord> _deferredClients = new();
    private readonly byte[] _digests = new byte[batchSize * Digests.Size];

    /// <summary>Requests waiting for a batch.</summary>
    public int Count => pending.Count;

    /// <summary>Offers request <paramref name="rid"/> of <paramref name="rec"/>'s client (authenticated, not executed).</summary>
    public IntakeResult Offer(ClientRecord rec, ulong rid, ReadOnlySpan<byte> message, ReadOnlySpan<byte> requestDigest)
    {
        if (rid <= rec.HighestQueuedRid) return IntakeResult.Duplicate;
        if (rec.Queued)
        {
            // A faulty client that sends n to the leader and n+1 to the others cannot make the leader drop n+1 and look censoring.
            if (rid > rec.DeferredRid)
            {
                if (rec.Deferred is null || rec.Deferred.Length < message.Length) rec.Deferred = new byte[Math.Max(message.Length, 256)];
                message.CopyTo(rec.Deferred);
                rec.DeferredLength = message.Length;
                rec.DeferredRid = rid;
                rec.DeferredDigest ??= new byte[Digests.Size];
                requestDigest.CopyTo(rec.DeferredDigest);
            }
            return IntakeResult.Deferred;
        }
        rec.HighestQueuedRid = rid;
        rec.Queued = true;
        pending.Enqueue(rec.ClientId, rid, message, requestDigest);
        return IntakeResult.Queued;
    }

    /// <summary>Selects the requests of the batch for sequence number <paramref name="seq"/>: returns their count and the batch's length in bytes.</summary>
    public int Select(ulong seq, out int batchLength)
    {
        int count = 0;
        batchLength = Bodies.PrePrepareFixed;
        int limit = Math.Min(batchSize, pending.Count);
        for (int i = 0; i < limit; i++)
        {
            var e = pending.Peek(i);
            var rec = clients.Get(e.Client);
            if (rec.InBatch == seq) break;
            rec.InBatch = seq;
            e.Digest.AsSpan().CopyTo(_digests.AsSpan(count * Digests.Size, Digests.Size));
            batchLength += Bodies.BatchEntryPrefix + e.Length;
            count++;
        }
        return count;
    }

    /// <summary>Dequeues the <paramref name="count"/> selected requests into <paramref name="batch"/> (exactly the selected length): D(batch) ‖ count ‖ 0 ‖ entries; then queues the deferred requests of their clients.</summary>
    public void Write(Span<byte> batch, int count)
    {
        Digests.Batch(_digests.AsSpan(0, count * Digests.Size), batch.Slice(0, Digests.Size));
        BinaryPrimitives.WriteUInt16LittleEndian(batch.Slice(32), (ushort)count);
        batch[34] = 0; batch[35] = 0;
        int off = Bodies.PrePrepareFixed;
        for (int i = 0; i < count; i++)
        {
            var e = pending.Dequeue();
            var rec = clients.Get(e.Client);
            rec.Queued = false;
            if (rec.DeferredRid != 0) _deferredClients.Add(rec);
            BinaryPrimitives.WriteInt32LittleEndian(batch.Slice(off), e.Length);
            e.Message.AsSpan(0, e.Length).CopyTo(batch.Slice(off + Bodies.BatchEntryPrefix));
            off += Bodies.BatchEntryPrefix + e.Length;
        }
        foreach (var rec in _deferredClients)
        {
            ulong rid = rec.DeferredRid;
            rec.DeferredRid = 0;
            if (rid <= rec.HighestQueuedRid || rid <= replies.LastExecutedRid(rec.ClientId)) continue;
            rec.HighestQueuedRid = rid;
            rec.Queued = true;
            pending.Enqueue(rec.ClientId, rid, rec.Deferred.AsSpan(0, rec.DeferredLength), rec.DeferredDigest);
        }
        _deferredClients.Clear();
    }
}
