using FastBft.Execution.Odrc;
using FastBft.Wire;

namespace FastBft.Agreement.MinBft;

/// <summary>
/// MinBFT hosting an ODRC execution stage (docs/odrc.md §4a): n = 2f+1 execution replicas, each object maintained by
/// f+1 of them. The glue is the one PBFT uses (<see cref="OdrcHosting"/>): the ODRC messages travel under MAC vectors
/// (not USIG-certified: they are execution-stage messages, outside MinBFT's counter order), are routed to the stage,
/// the stage is ticked, a client retransmission of an ordered request is a stalled-result notice (Thesis §6.4.3), and a
/// request the stage stored is no longer awaited. Only plain MinBFT hosts it: ReMinBFT's passive replicas are kept current
/// by state updates, which ODRC's selective execution does not produce (<see cref="OdrcProtocol.Supports"/>).
/// </summary>
public sealed partial class MinBftReplica : IOdrcCore
{
    /// <inheritdoc/>
    void IOdrcCore.SendOdrc(uint toReplica, MessageType type, ulong ordinal, ReadOnlySpan<byte> body)
        => OdrcHosting.Send(_builder, _out, _id, _n, _members, View, toReplica, type, ordinal, body);

    /// <inheritdoc/>
    void IOdrcCore.OrderedElsewhere(uint client, ulong rid) => OdrcHosting.OrderedElsewhere(_clients, _awaited, client, rid);

    /// <summary>An ODRC message for the stage (false: this core hosts no ODRC stage, the message is ignored).</summary>
    private bool OnOdrcMessage(in MessageHeader h, ReadOnlySpan<byte> message) => OdrcHosting.Route(_exec, h, message);
}
