using FastBft.Agreement.Pbft;
using FastBft.Execution;
using FastBft.Execution.Odrc;
using FastBft.Wire;

namespace FastBft.Agreement;

/// <summary>
/// The agreement core's side of hosting an ODRC execution stage (Thesis ch. 6; docs/odrc.md §4a), in one place for every
/// core that hosts it (PBFT: <c>PbftReplica.Odrc.cs</c>, MinBFT: <c>MinBftReplica.Odrc.cs</c>). ODRC is defined over the
/// execution stage; the agreement protocol only has to (1) carry OBJECT-CHECKPOINT, OBJECT-FETCH and OBJECT-STATE between
/// the replicas under MAC vectors over its n replicas, (2) hand them back to the stage, (3) tick the stage, (4) hand it a
/// client's retransmission of an ordered request as a stalled-result notice (Thesis §6.4.3) instead of ordering it again,
/// and (5) stop awaiting (view-change timer) a request the stage stored because the f+1 maintainers of its objects execute
/// it elsewhere. Allocation-free; no I/O beyond the core's <see cref="IReplicaOutput"/>.
/// </summary>
internal static class OdrcHosting
{
    /// <summary>
    /// Sends an ODRC message (<see cref="IOdrcCore.SendOdrc"/>): header (type, <paramref name="view"/>,
    /// <paramref name="ordinal"/>) ‖ <paramref name="body"/> under a MAC vector over the cell's <paramref name="n"/> replicas,
    /// to <paramref name="toReplica"/> or (<see cref="uint.MaxValue"/>) to every other replica in <paramref name="members"/>
    /// (bit i = replica i). A destination outside 0..n-1 or this replica itself is dropped.
    /// </summary>
    public static void Send(MessageBuilder builder, IReplicaOutput output, uint self, int n, ulong members, ulong view,
        uint toReplica, MessageType type, ulong ordinal, ReadOnlySpan<byte> body)
    {
        var dst = builder.BeginVector(type, view, ordinal, body.Length);
        body.CopyTo(dst);
        var msg = builder.SealVector();
        if (toReplica == uint.MaxValue)
        {
            for (uint r = 0; r < (uint)n; r++)
                if (r != self && (members & (1UL << (int)r)) != 0) output.SendToReplica(r, msg);
        }
        else if (toReplica != self && toReplica < (uint)n) output.SendToReplica(toReplica, msg);
    }

    /// <summary>
    /// Request (client, rid) was ordered and the stage stored it (<see cref="IOdrcCore.OrderedElsewhere"/>): it is no longer
    /// awaited (no view-change timer for work done by other replicas) and counts as queued for the client (R2: the
    /// client's next request is not deferred behind it).
    /// </summary>
    public static void OrderedElsewhere(ClientTable clients, AwaitedRequests awaited, uint client, ulong rid)
    {
        awaited.Executed(client, rid);
        var rec = clients.Get(client);
        if (rec.HighestQueuedRid < rid) rec.HighestQueuedRid = rid;
    }

    /// <summary>
    /// Hands an authenticated ODRC message (types OBJECT-CHECKPOINT..OBJECT-STATE) to the stage. False if
    /// <paramref name="stage"/> is no ODRC stage or the type is no ODRC type: the core counts the message as ignored.
    /// </summary>
    public static bool Route(IExecutionStage stage, in MessageHeader header, ReadOnlySpan<byte> message)
    {
        if (stage is not IOdrcStage odrc || header.Type is < MessageType.ObjectCheckpoint or > MessageType.ObjectState) return false;
        odrc.OnOdrcMessage(header, MessageHeader.Body(message, header));
        return true;
    }

    /// <summary>
    /// A client's request (client, rid) newer than its last executed one arrived. Under ODRC it may be a retransmission
    /// of an ordered request: the stalled-result notice of Thesis §6.4.3 (forced here, never ordered again). True: the
    /// stage took it and the core must not order it; false (no ODRC stage, or never ordered, §6.5.2): a new request.
    /// </summary>
    public static bool StalledRequest(IExecutionStage stage, uint client, ulong rid)
        => stage is IOdrcStage odrc && odrc.OnStalledRequest(client, rid);

    /// <summary>One core tick for the stage (alarms of Fig. 6.8, fetch retries, adoption timeouts); nothing without ODRC.</summary>
    public static void Tick(IExecutionStage stage) => (stage as IOdrcStage)?.OnTick();
}
