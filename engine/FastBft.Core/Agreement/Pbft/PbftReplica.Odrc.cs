using FastBft.Execution.Odrc;
using FastBft.Wire;

namespace FastBft.Agreement.Pbft;

/// <summary>
/// PBFT hosting an ODRC execution stage (docs/odrc.md §3): the core sends the stage's OBJECT-CHECKPOINT, OBJECT-FETCH
/// and OBJECT-STATE under its MAC vector, routes them back to the stage, ticks it, hands it client retransmissions
/// (stalled-result notices, Thesis §6.4.3), and stops awaiting requests the stage stored (executed elsewhere).
/// </summary>
public sealed partial class PbftReplica : IOdrcCore
{
    /// <inheritdoc/>
    void IOdrcCore.SendOdrc(uint toReplica, MessageType type, ulong ordinal, ReadOnlySpan<byte> body)
    {
        var dst = _builder.BeginVector(type, View, ordinal, body.Length);
        body.CopyTo(dst);
        var msg = _builder.SealVector();
        if (toReplica == uint.MaxValue) Broadcast(msg);
        else if (toReplica != _id && toReplica < (uint)_n) _out.SendToReplica(toReplica, msg);
    }

    /// <inheritdoc/>
    void IOdrcCore.OrderedElsewhere(uint client, ulong rid)
    {
        Executed(client, rid);
        var rec = _clients.Get(client);
        if (rec.HighestQueuedRid < rid) rec.HighestQueuedRid = rid;
    }

    /// <summary>An ODRC message for the stage (false: this core hosts no ODRC stage, the message is ignored).</summary>
    private bool OnOdrcMessage(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (_exec is not IOdrcStage stage || h.Type is < MessageType.ObjectCheckpoint or > MessageType.ObjectState) return false;
        stage.OnOdrcMessage(h, MessageHeader.Body(message, h));
        return true;
    }
}
