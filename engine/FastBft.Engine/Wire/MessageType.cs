namespace FastBft.Wire;

/// <summary>Message types of the wire format (docs/wire-format.md). Values are stable on the wire.</summary>
public enum MessageType : byte
{
    /// <summary>Invalid / unset.</summary>
    None = 0,
    /// <summary>REQUEST(o,t,c): client → replicas (PBFT-PR §4.2).</summary>
    Request = 1,
    /// <summary>PRE-PREPARE(v,n,D(batch)) with the batch inlined: primary → backups (PBFT-PR §4.2).</summary>
    PrePrepare = 2,
    /// <summary>PREPARE(v,n,d,i): backup → all (PBFT-PR §4.2).</summary>
    Prepare = 3,
    /// <summary>COMMIT(v,n,d,i): replica → all (PBFT-PR §4.2).</summary>
    Commit = 4,
    /// <summary>REPLY(v,t,c,i,r): replica → client, full result or its digest (Thesis §2.1.1.4).</summary>
    Reply = 5,
    /// <summary>CHECKPOINT(n,D(state),i): replica → all (PBFT-PR §4.3).</summary>
    Checkpoint = 6,
    /// <summary>VIEW-CHANGE (PBFT-PR §4.5) — reserved for the view-change work.</summary>
    ViewChange = 7,
    /// <summary>VIEW-CHANGE-ACK (PBFT-PR §4.5) — reserved.</summary>
    ViewChangeAck = 8,
    /// <summary>NEW-VIEW (PBFT-PR §4.5) — reserved.</summary>
    NewView = 9,
    /// <summary>STATUS (PBFT-PR §4.6.1) — reserved.</summary>
    Status = 10,
    /// <summary>FETCH (PBFT-PR §4.6.2) — reserved.</summary>
    Fetch = 11,
    /// <summary>META-DATA / DATA (PBFT-PR §4.6.2) — reserved.</summary>
    StateData = 12,
}

/// <summary>Helpers over <see cref="MessageType"/>.</summary>
public static class MessageTypes
{
    /// <summary>Highest type value this version of the engine parses.</summary>
    public const MessageType Highest = MessageType.StateData;

    /// <summary>True for types this version knows (others are dropped and counted as unknown).</summary>
    public static bool IsKnown(MessageType t) => t > MessageType.None && t <= Highest;
}
