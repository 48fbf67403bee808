using FastBft.Execution.Odrc;
using FastBft.Wire;

namespace FastBft.Agreement.Pbft;

/// <summary>
/// PBFT hosting an ODRC execution stage (docs/odrc.md §3, §4a): the glue shared with MinBFT is <see cref="OdrcHosting"/>
/// — the core sends the stage's OBJECT-CHECKPOINT, OBJECT-FETCH and OBJECT-STATE under its MAC vector, routes them back
/// to the stage, ticks it, hands it client retransmissions (stalled-result notices, Thesis §6.4.3), and stops awaiting
/// requests the stage stored (executed elsewhere).
/// </summary>
public sealed partial class PbftReplica : IOdrcCore
{
    /// <inheritdoc/>
    void IOdrcCore.SendOdrc(uint toReplica, MessageType type, ulong ordinal, ReadOnlySpan<byte> body)
        => OdrcHosting.Send(_builder, _out, _id, _n, ulong.MaxValue, View, toReplica, type, ordinal, body);

    /// <inheritdoc/>
    void IOdrcCore.OrderedElsewhere(uint client, ulong rid) => OdrcHosting.OrderedElsewhere(_clients, _awaited, client, rid);

    /// <summary>An ODRC message for the stage (false: this core hosts no ODRC stage, the message is ignored).</summary>
    private bool OnOdrcMessage(in MessageHeader h, ReadOnlySpan<byte> message) => OdrcHosting.Route(_exec, h, message);
}
