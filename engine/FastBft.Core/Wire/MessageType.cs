namespace FastBft.Wire;

/// <summary>Message types of every protocol family (docs/wire-format.md §2.3). Values are stable on the wire; which types a family accepts, from whom, is its schema (<c>IMessageSchema</c>, §2.4).</summary>
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
    /// <summary>VIEW-CHANGE (PBFT-PR §4.5), Ed25519-signed by its sender (docs/view-change.md).</summary>
    ViewChange = 7,
    /// <summary>VIEW-CHANGE-ACK (PBFT-PR §4.5): no schema accepts it (PBFT signs VIEW-CHANGEs instead, docs/view-change.md); the value is kept so it is never reused.</summary>
    ViewChangeAck = 8,
    /// <summary>NEW-VIEW (PBFT-PR §4.5), Ed25519-signed by the new primary; embeds the signed VIEW-CHANGEs and the decision.</summary>
    NewView = 9,
    /// <summary>STATUS (PBFT-PR §4.6.1): last executed, low watermark, whether the sender waits for a NEW-VIEW.</summary>
    Status = 10,
    /// <summary>FETCH (PBFT-PR §4.6.2): asks for a chunk of a checkpoint snapshot.</summary>
    Fetch = 11,
    /// <summary>META-DATA / DATA (PBFT-PR §4.6.2): a chunk of a checkpoint snapshot.</summary>
    StateData = 12,
    /// <summary>BATCH-FETCH(v,n,d): the new primary asks a replica for the batch with digest d that it needs for
    /// condition A3 of the NEW-VIEW decision (PBFT-PR §4.5, Fig. 3; docs/view-change.md).</summary>
    BatchFetch = 13,
    /// <summary>BATCH(v,n,batch): the answer to BATCH-FETCH, a PRE-PREPARE body whose digest the receiver recomputes.</summary>
    Batch = 14,
    /// <summary>RePBFT PRE-PREPARE(p,s,batch) ‖ endorsement: leader → active followers (Thesis §5.3.1.1); the
    /// 64-byte Ed25519 endorsement over header ‖ D(batch) makes it usable as part of a prepare proof in an abort history (PROTOCOLS.md G4; docs/repbft.md).</summary>
    EndorsedPrePrepare = 15,
    /// <summary>RePBFT PREPARE(p,s,D(batch)) ‖ endorsement: active follower → active replicas (Thesis §5.3.1.1).</summary>
    EndorsedPrepare = 16,
    /// <summary>RePBFT CHECKPOINT(s, D(state)) signed with Ed25519: every replica → all (Thesis §5.3.1.3); stable with all n.</summary>
    SignedCheckpoint = 17,
    /// <summary>UPDATE(p,s,entries): active (executing) replica → passive replicas, full or as a digest (Thesis §5.3.1.2).</summary>
    Update = 18,
    /// <summary>PANIC(c,t): client → all replicas, forwarded unchanged (Thesis §5.3.2.1, Fig. 5.3).</summary>
    Panic = 19,
    /// <summary>HISTORY(p,h): an active replica's signed local abort history → transition coordinator (Thesis §5.3.2.2).</summary>
    History = 20,
    /// <summary>SWITCH(p,H_local,h_global): the transition coordinator's signed global abort history → all replicas (Thesis §5.3.2.3).</summary>
    Switch = 21,
    /// <summary>FORWARD(m): a replica relays a signed message m (SWITCH, signed CHECKPOINT) under its own MAC vector, so a
    /// faulty signer that authenticated m for some receivers only cannot keep it from the others (docs/repbft.md §5.4).</summary>
    Forward = 22,
    /// <summary>MinBFT PREPARE(v,s,batch) with the leader's USIG UI: leader → all (Thesis §5.4.2, §2.2.1; PROTOCOLS.md §4 [X]).
    /// Body: the batch (PRE-PREPARE layout, docs/minbft.md §2); the UI certifies SHA-256(header ‖ D(batch)).</summary>
    UiPrepare = 23,
    /// <summary>MinBFT COMMIT(v,s,D(batch),UI_L) with the follower's UI: follower → all (Thesis §5.4.2). Body: D(batch)[32] ‖ leader UI[48].</summary>
    UiCommit = 24,
    /// <summary>MinBFT CHECKPOINT(s,D(state)) with the sender's UI: every replica → all; f+1 matching are a transferable
    /// checkpoint certificate (docs/minbft.md §4). Body: D(state)[32] ‖ n × (epoch[8] ‖ counter[8]): per replica j the
    /// first counter of j's certified messages for instances above s that the sender handled (or the next it expects) — where j's VIEW-CHANGE log must start.</summary>
    UiCheckpoint = 25,
    /// <summary>MinBFT UI-FETCH(epoch, counter): asks a replica to re-send its certified messages from that counter on
    /// (a counter gap at the receiver, PROTOCOLS.md §2.5). MAC vector. Body: epoch[8] ‖ counter[8].</summary>
    UiFetch = 26,
    /// <summary>MinBFT REQ-VIEW-CHANGE(v'): a replica suspects the leader of view v'−1 (Veronese et al., PROTOCOLS.md §4 [X]). MAC vector, empty body.</summary>
    ReqViewChange = 27,
    /// <summary>MinBFT VIEW-CHANGE(v', X, checkpoint certificate, gap-free log of the sender's certified messages) with the sender's UI (docs/minbft.md §5).</summary>
    UiViewChange = 28,
    /// <summary>MinBFT NEW-VIEW(v', decision, f+1 VIEW-CHANGEs) with the new leader's UI (docs/minbft.md §5).</summary>
    UiNewView = 29,
    /// <summary>SWITCH-VOTE(p, phase, D(SWITCH)): ECHO or READY of Bracha's reliable broadcast of the SWITCH of generation p,
    /// replica → all, so correct replicas start a generation only from one SWITCH even if its coordinator equivocates (docs/repbft.md §5.5).</summary>
    SwitchVote = 30,
    /// <summary>ReMinBFT CHECKPOINT(s, D(state), counters): every replica → all, MAC vector, not certified (Thesis §5.4.2). Body:
    /// D(state)[32] ‖ count[4] ‖ count × (epoch[8] ‖ counter[8]): an active replica lists, for every active replica in
    /// active-set order (leader first), the UI of the PREPARE (leader) or COMMIT (follower) it sent for s; a passive replica
    /// sends count 0. Stable with all n digests matching and all active replicas' counter lists equal (docs/reminbft.md §2).</summary>
    CounterCheckpoint = 31,
    /// <summary>ReMinBFT SWITCH(p, h) with the transition coordinator's UI: coordinator → all (Thesis §5.4.3). h = the stable
    /// checkpoint and every certified message the coordinator sent after it, gap-free, plus, for each of its COMMITs, the
    /// leader's PREPARE it endorsed (docs/reminbft.md §5). Header view = the MinBFT start view (led by the coordinator).</summary>
    UiSwitch = 32,
    /// <summary>ODRC CHECKPOINT(x, s, H(state_x), V_hashes) of one state object: execution replica → all (Thesis §6.3.4; PROTOCOLS.md G20).
    /// Header sequence = s (the request ordinal). MAC vector. Body: docs/odrc.md §5 (<c>OdrcWire</c>).</summary>
    ObjectCheckpoint = 60,
    /// <summary>ODRC OBJECT-FETCH(x, s): asks an execution replica for the state of object x at checkpoint s (Thesis Fig. 6.6). MAC vector.</summary>
    ObjectFetch = 61,
    /// <summary>ODRC OBJECT-STATE(x, s, state): the answer to OBJECT-FETCH; the receiver checks SHA-256(state) against the stable checkpoint. MAC vector.</summary>
    ObjectState = 62,
    /// <summary>ODRC ORDERED-BATCH(s, batch): agreement replica → execution-only replica of an extended cell (Thesis §6.7.2.1;
    /// PROTOCOLS.md G21): the committed batch of sequence number s (header sequence), forwarded by every agreement replica; the
    /// execution-only replica takes it once f+1 agreement replicas sent the same bytes (docs/odrc.md §4, G21). MAC vector over
    /// the E execution replicas.</summary>
    OrderedBatch = 63,
    /// <summary>ODRC ORDERED-BATCH-FETCH(s): an execution-only replica that misses batch s (header sequence) asks the agreement
    /// replicas to send ORDERED-BATCH(s) again (docs/odrc.md §4, G21). Empty body, MAC vector over the E execution replicas.</summary>
    OrderedBatchFetch = 64,
}

/// <summary>Helpers over <see cref="MessageType"/>.</summary>
public static class MessageTypes
{
    /// <summary>Highest type value this version of the engine parses.</summary>
    public const MessageType Highest = MessageType.UiSwitch;

    /// <summary>True for types this version knows (others are dropped and counted as unknown).</summary>
    public static bool IsKnown(MessageType t) => (t > MessageType.None && t <= Highest) || (t >= MessageType.ObjectCheckpoint && t <= MessageType.OrderedBatchFetch);
}
