/*
 * repbft-switch.pml -- Promela model of the RePBFT abort-history protocol switch
 * (PROTOCOLS.md §5.2-§5.5 and §5.7; thesis §5.3.1-§5.3.4), as FastBft implements it.
 *
 * Checked by models/check.sh and described in docs/repbft-model.md.
 *
 * ---------------------------------------------------------------------------------------------
 * CELL (f = 1)
 *   Replicas 0, 1 and 2 are active (0 is the leader L; 1 and 2 are followers). Replica 3 is passive.
 *   Switch generations p = 0 .. MAXP. The transition coordinator is TC(p) = replica (p + TC_FIRST) mod 3.
 *   The default TC_FIRST=1 follows the engine (CoordinatorRotation): the first attempt goes to the first
 *   follower, then the second follower, then the leader. -DTC_FIRST=0 follows PROTOCOLS.md G12: the
 *   leader first. The default MAXP=2 gives two TC rotations, so every active replica is TC once.
 *   -DMAXP=1 gives one rotation.
 *   Slot 0 is the stable checkpoint all replicas start from. The window holds slots 1 and 2.
 *   Each slot has two candidate requests, values 1 and 2. The value 0 means "nothing" or ⊥ (null request).
 *   Each run has at most one faulty replica: faulty ∈ {none, 0, 1, 2, 3}, chosen at the start. A faulty
 *   passive replica (3) matters only through its CHECKPOINTs. A CHECKPOINT carries no state digest,
 *   so a faulty passive replica can complete a checkpoint certificate that it never applied.
 *
 * ABSTRACTIONS (sound for the safety properties below; docs/repbft-model.md gives the reasons)
 *   A1 The network is a set of sent messages. A message stays available once sent. A receiver MAY
 *      consume it at any later step, or NEVER. This covers loss, delay and reordering of every
 *      message, independently for each receiver, without channels. Loss is unbounded.
 *   A2 Messages are reduced to the parts the switch depends on:
 *        PRE-PREPARE(s,o) of a correct leader        -> pp[s] = o
 *        PREPARE(s,o) of a correct follower r        -> pa[r*3+s] = o (it accepted PRE-PREPARE(s,o))
 *        COMMIT(s,o) of a correct active replica r   -> cs[r*3+s] = o
 *        UPDATE(s,o) and CHECKPOINT(s) of correct r  -> derived from r's execution state
 *      A correct follower sends its PREPARE in the same step as it accepts the PRE-PREPARE. A correct
 *      replica sends its COMMIT in the same step as it becomes prepared.
 *   A3 Execution is eager: an active replica executes its longest committed prefix as soon as it
 *      commits. Execution only makes UPDATEs and CHECKPOINTs available, and by A1 their receipt is
 *      optional. Eager execution therefore loses no behaviour and gives PE its strongest premise.
 *   A4 The faulty replica is "maximally chatty". Every message it could sign is always available:
 *      PRE-PREPARE, PREPARE, COMMIT, UPDATE and CHECKPOINT, for every slot and every value. With A1,
 *      this covers equivocation, arbitrary values and withholding. The faulty replica can never
 *      produce a correct replica's endorsement.
 *   A5 Endorsements and proofs. A proof for (s,o) is a PRE-PREPARE plus 2f PREPAREs. Its three
 *      endorsement positions belong to replica 0 (PRE-PREPARE) and to replicas 1 and 2 (PREPAREs).
 *      An endorsement of (s,o) by r is GENUINE iff r is faulty or r really endorsed (s,o).
 *      A history entry is "value o at slot s". It stands for the best proof its author can
 *      assemble, and it is valid iff at least f+1 = 2 of its 3 endorsements are genuine. A
 *      proof with forged endorsements is the same entry with fewer genuine endorsements.
 *      Validity is evaluated when the history is used. This is exact: a correct replica's
 *      endorsements only accumulate, and a faulty author can always create its history at that
 *      moment. A correct replica's history is its COMMITs above its checkpoint, each with all
 *      three endorsements genuine.
 *   A6 Histories are signed. A correct replica's HISTORY(p) is available from the moment it is
 *      sent: to TC(p) and, inside SWITCHes, to everyone. The faulty replica can sign any number of
 *      different histories, with arbitrary values and with any checkpoint that has a stable
 *      certificate. A SWITCH from a correct TC is stored once, in sw[p]. A faulty TC may send
 *      each receiver a different SWITCH. Each one embeds two histories for p, in either order,
 *      from distinct active replicas; the TC's own fabricated history may be one of them. A
 *      SWITCH whose claimed decision differs from H1/H2 recomputed on its embedded histories is
 *      rejected. Rejection changes no state, so it is the same as the message being lost (A1).
 *   A7 Checkpoints: K = 1 inside the fixed window, so every slot is a checkpoint. A certificate for
 *      slot c exists once every correct replica has executed c (active replicas) or applied c
 *      (the passive replica). The window does not slide, so there is no slot 3. The TC anchors the
 *      global history at the highest checkpoint among the embedded histories (G10). Slots at or
 *      below that checkpoint are "covered".
 *   A8 A correct replica accepts a SWITCH that verifies, if its generation is >= the replica's own
 *      (a passive replica accepts any generation). It then leaves RePBFT: it stops agreement, and
 *      it stops sending histories. Later it may still move to a verified SWITCH of ANY OTHER
 *      generation (the engine: up on delivery, or pulled in either direction, docs/repbft.md §5.5).
 *      The engine moves only while its PBFT core has prepared nothing; the model over-approximates
 *      that condition as "always". -DNO_MOVE keeps the first accepted SWITCH. (The engine's reliable
 *      broadcast of the SWITCH only removes behaviours: the model lets a faulty TC's two SWITCHes of
 *      one generation both be accepted.)
 *      The model does not model running PBFT after the switch.
 *      Stopping (PANIC) and the switch timer (p := p+1) can happen at any moment.
 *   A9 Value symmetry is NOT exploited: the correct leader may propose either value.
 *
 * PROPERTIES (checked by the monitor process; "correct" = not the faulty replica; "accepted" =
 * accepted a SWITCH)
 *   PA   o committed at s at a correct active replica  => every correct replica that accepted a
 *        SWITCH has slot s = o, or its checkpoint covers s and it executed/applied o at s
 *   PE   o executed at s at a correct active replica   => the same
 *   PEP  o applied at s at the correct passive replica => the same (PE seen from the passive side)
 *   AGRC correct replicas never commit two different values at one slot. The passive replica
 *        never applies a value at s that differs from a value committed at s.
 *   AGRS if the leader is correct, no two correct replicas accept different NON-⊥ values for one
 *        slot. A faulty leader can equivocate, producing two conflicting valid proofs, and can
 *        sign two different histories. Two correct replicas can then accept 1 and 2 at a slot
 *        where nothing committed, which is safe because PBFT agreement follows.
 *   H1X  (an observation, not a requirement) the H1 conflict branch never fires for f = 1. A
 *        SWITCH never embeds valid proofs for two different values at one slot.
 *   STRICT (only with -DSTRICT_AGREEMENT) every slot has the same value at all correct replicas
 *        that accepted a SWITCH. Spin refutes this even without a faulty replica: two
 *        generations can embed different history pairs. See docs/repbft-model.md.
 *
 * MUTANTS of rule H1 (compile with spin -DMUTANT_H1=n):
 *   1  a proof counts as valid with only f = 1 genuine endorsement (threshold f instead of f+1)
 *   2  the FIRST embedded history's value is taken even without a valid proof
 *   3  proofs in the SECOND embedded history are ignored
 * Two more mutants, of the protocol around H1 (check.sh expects spin to refute them as well):
 *   -DMUTANT_HISTORY  a local history holds only the slots its replica COMMITTED, not every
 *                     slot it sent a COMMIT for
 *   -DMUTANT_QUORUM   committed(s) needs COMMITs of only 2f = 2 active replicas, not all 2f+1
 *
 * WITNESSES (compile with -DWITNESS=n, n = 1..8; see the WIT definitions below). Each asserts that a
 * scenario is unreachable, and spin must refute it. This shows that the model is not vacuous;
 * see check.sh. Witnesses 3, 4 and 6 fix the faulty replica they need, so that spin finds them sooner.
 *
 * OTHER FLAGS: -DFAULTY=n fixes the faulty replica (4 = none). -DMAXP, -DTC_FIRST and -DNO_MOVE
 * are described above and under A8.
 */

#define NOBODY 4

#ifndef MAXP
#define MAXP 2
#endif
#if MAXP < 1 || MAXP > 2
#error "MAXP must be 1 or 2"
#endif
#ifndef TC_FIRST
#define TC_FIRST 1
#endif
#define TCOF(p)   (((p) + TC_FIRST) % 3)         /* the TC of generation p */
#define TCGEN(r)  (((r) + 3 - TC_FIRST) % 3)     /* the generation active replica r coordinates */
#ifndef MUTANT_H1
#define MUTANT_H1 0
#endif
#ifndef WITNESS
#define WITNESS 0
#endif
/* witnesses 3, 4 and 6 need a particular faulty replica: fix it, so that the search finds them sooner */
#if !defined(FAULTY) && (WITNESS == 3 || WITNESS == 4)
#define FAULTY TCOF(0)
#endif
#if !defined(FAULTY) && WITNESS == 6
#define FAULTY 0
#endif

#if MUTANT_H1 == 1
#define THRESH 1
#else
#define THRESH 2
#endif

byte faulty = NOBODY;

/* normal case */
byte pp[3];     /* pp[s]: value of the correct leader's PRE-PREPARE for slot s (0 = none sent) */
byte pa[9];     /* pa[r*3+s], r = 1,2: the value correct follower r accepted and PREPAREd at s */
byte cs[9];     /* cs[r*3+s]: the value correct active r sent COMMIT for at s (r was prepared) */
bit  cm[9];     /* cm[r*3+s]: correct active r committed cs[r*3+s] at s */
byte ap;        /* the passive replica 3 applied slots 1..ap */
byte apv[3];    /* apv[s]: the value it applied at s */
byte cpk[3];    /* cpk[r]: highest stable checkpoint that active r holds a certificate for */

/* switch */
bit  stp[3];    /* active r stopped agreement and sent HISTORY(p=0) to TC(0) */
byte pr[3];     /* pr[r]: active r's generation; it sent HISTORY(p) to TC(p) for every p <= pr[r] */
byte sw[MAXP+1];/* SWITCH of a correct TC(p): 0 = not sent, else 1 + cp*9 + d1*3 + d2 */
byte acp[4];    /* replica x accepted a SWITCH of generation acp[x]-1 (0 = none yet) */
byte acpk[4];   /* ... whose checkpoint anchor was acpk[x] */
byte ad[12];    /* ... whose slot values were ad[x*3+1] and ad[x*3+2] */

/* ghost: some SWITCH used the H1 conflict branch (valid proofs for two values in the embedded
 * histories). Property H1X says this never happens for f = 1. The bit is never set, so it adds
 * no states. */
bit h1conflict;
#define NOTE_CONFLICT() h1conflict = (h1conflict || (va != 0 && vb != 0 && va != vb))

#define CORRECT(r)   (faulty != (r))

/* replica X may accept a SWITCH of generation P: it accepted none yet or, unless -DNO_MOVE, one of any
 * other generation (A8: the engine moves up or, pulled, down, only while its PBFT core prepared nothing) */
#ifdef NO_MOVE
#define MAY_ACCEPT(X,P) (acp[X] == 0)
#else
#define MAY_ACCEPT(X,P) (acp[X] != (P) + 1)
#endif
#define RUNNING(r)   (CORRECT(r) && !stp[r] && acp[r] == 0)

/* genuine endorsements of (s,o) in the PRE-PREPARE and PREPARE positions of a proof */
#define GPP(s,o)     (faulty == 0 || pp[s] == (o))
#define GPR(f,s,o)   (faulty == (f) || pa[(f)*3+(s)] == (o))
#define NGEN(s,o)    (GPP(s,o) + GPR(1,s,o) + GPR(2,s,o))
#define VALID(s,o)   ((o) != 0 && NGEN(s,o) >= THRESH)

/* what a correct replica is prepared for: PRE-PREPARE (own or accepted) + PREPAREs of both followers */
#define PVAL(r,s)    (((r) == 0) -> pp[s] : pa[(r)*3+(s)])
#define PREPARED(r,s) (PVAL(r,s) != 0 && GPR(1,s,PVAL(r,s)) && GPR(2,s,PVAL(r,s)))

/* messages a receiver may consume */
#define COMMIT_AV(q,s,o)  (faulty == (q) || cs[(q)*3+(s)] == (o))
#ifdef MUTANT_QUORUM
/* mutant: committed with COMMITs of only 2f = 2 active replicas (own + one), PBFT-style */
#define COMMITTABLE(r,s)  (cs[(r)*3+(s)] != 0 && (COMMIT_AV(0,s,cs[(r)*3+(s)]) + \
                           COMMIT_AV(1,s,cs[(r)*3+(s)]) + COMMIT_AV(2,s,cs[(r)*3+(s)])) >= 2)
#else
#define COMMITTABLE(r,s)  (cs[(r)*3+(s)] != 0 && COMMIT_AV(0,s,cs[(r)*3+(s)]) && \
                           COMMIT_AV(1,s,cs[(r)*3+(s)]) && COMMIT_AV(2,s,cs[(r)*3+(s)]))
#endif
#define EXECD(r,s)        (cm[(r)*3+1] && ((s) == 1 || cm[(r)*3+2]))
#define UPDATE_AV(q,s,o)  (faulty == (q) || (EXECD(q,s) && cs[(q)*3+(s)] == (o)))
#define NUPD(s,o)         (UPDATE_AV(0,s,o) + UPDATE_AV(1,s,o) + UPDATE_AV(2,s,o))
#define CKPT_AV(q,c)      (faulty == (q) || EXECD(q,c))
#define CERT(c)           (CKPT_AV(0,c) && CKPT_AV(1,c) && CKPT_AV(2,c) && (faulty == 3 || ap >= (c)))

/* a HISTORY(p) of active replica q exists: q correct and sent it, or q faulty (signs anything) */
#define HIST_AV(q,p)      (CORRECT(q) && stp[q] && pr[q] >= (p))
#define HIST_ANY(q,p)     (faulty == (q) || HIST_AV(q,p))
#define OTHER_HIST(t,p)   (((t) != 0 && HIST_ANY(0,p)) || ((t) != 1 && HIST_ANY(1,p)) || \
                           ((t) != 2 && HIST_ANY(2,p)))

/* ---------------------------------------------------------------------------------------------
 * PROPERTIES
 */
#define COVERED(x,s,o) (((x) == 3) -> (ap >= (s) && apv[s] == (o)) : (EXECD(x,s) && cs[(x)*3+(s)] == (o)))
#define HOLDS(x,s,o)   (faulty == (x) || acp[x] == 0 || \
                        (((s) <= acpk[x]) -> COVERED(x,s,o) : (ad[(x)*3+(s)] == (o))))
#define ALLHOLD(s,o)   (HOLDS(0,s,o) && HOLDS(1,s,o) && HOLDS(2,s,o) && HOLDS(3,s,o))

#define PA1(r,s)  (faulty == (r) || !cm[(r)*3+(s)] || ALLHOLD(s, cs[(r)*3+(s)]))
#define PA        (PA1(0,1) && PA1(0,2) && PA1(1,1) && PA1(1,2) && PA1(2,1) && PA1(2,2))
#define PE1(r,s)  (faulty == (r) || !EXECD(r,s) || ALLHOLD(s, cs[(r)*3+(s)]))
#define PE        (PE1(0,1) && PE1(0,2) && PE1(1,1) && PE1(1,2) && PE1(2,1) && PE1(2,2))
#define PEP1(s)   (faulty == 3 || ap < (s) || ALLHOLD(s, apv[s]))
#define PEP       (PEP1(1) && PEP1(2))

#define CA1(r,q,s) (faulty == (r) || faulty == (q) || !cm[(r)*3+(s)] || !cm[(q)*3+(s)] || \
                    cs[(r)*3+(s)] == cs[(q)*3+(s)])
#define CAP1(r,s)  (faulty == (r) || faulty == 3 || !cm[(r)*3+(s)] || ap < (s) || apv[s] == cs[(r)*3+(s)])
#define AGRC_S(s)  (CA1(0,1,s) && CA1(0,2,s) && CA1(1,2,s) && CAP1(0,s) && CAP1(1,s) && CAP1(2,s))
#define AGRC       (AGRC_S(1) && AGRC_S(2))

/* the value of slot s in x's accepted global history (0 = ⊥, or covered by the checkpoint) */
#define AV(x,s)     ad[(x)*3+(s)]
#define NB1(x,y,s)  (faulty == (x) || faulty == (y) || acp[x] == 0 || acp[y] == 0 || \
                     AV(x,s) == 0 || AV(y,s) == 0 || AV(x,s) == AV(y,s))
#define NB_S(s)     (NB1(0,1,s) && NB1(0,2,s) && NB1(0,3,s) && NB1(1,2,s) && NB1(1,3,s) && NB1(2,3,s))
#define AGRS        (faulty == 0 || (NB_S(1) && NB_S(2)))

/* H1X: for f = 1 the conflict branch of H1 is dead. Conflicting valid proofs can exist (a faulty
 * leader equivocates; see witness 6), but only the faulty replica's history can carry one, and a
 * correct replica's history entry excludes a valid proof for any other value. */
#if MUTANT_H1 == 0
#define H1X         (!h1conflict)
#else
#define H1X         1     /* a claim about the correct rule only; mutants must fail on PA/PE */
#endif

/* strict: the effective value of every slot is the same at all correct replicas that accepted
 * a SWITCH. For a slot covered by x's checkpoint, the effective value is what x executed or applied there. */
#define EFF(x,s)    (((s) <= acpk[x]) -> (((x) == 3) -> apv[s] : cs[(x)*3+(s)]) : AV(x,s))
#define ST1(x,y,s)  (faulty == (x) || faulty == (y) || acp[x] == 0 || acp[y] == 0 || EFF(x,s) == EFF(y,s))
#define ST_S(s)     (ST1(0,1,s) && ST1(0,2,s) && ST1(0,3,s) && ST1(1,2,s) && ST1(1,3,s) && ST1(2,3,s))
#ifdef STRICT_AGREEMENT
#define STRICT      (ST_S(1) && ST_S(2))
#else
#define STRICT      1
#endif

/* witnesses: scenarios that must be REACHABLE (the run with -DWITNESS=n must report an error) */
#define ACCV(x,s,o)  (CORRECT(x) && acp[x] != 0 && acpk[x] < (s) && ad[(x)*3+(s)] == (o))
#define PARTIAL(s)   (faulty != 0 && faulty != 1 && faulty != 2 && \
                      ((cm[0*3+(s)] && !cm[1*3+(s)]) || (cm[1*3+(s)] && !cm[2*3+(s)]) || (cm[2*3+(s)] && !cm[0*3+(s)])))
#if WITNESS == 1
/* PA at work: s committed at some but not all correct active replicas (no faulty one) and the
 * passive replica accepted a SWITCH that keeps it */
#define WIT (PARTIAL(1) && ((cm[0*3+1] && ACCV(3,1,cs[0*3+1])) || (cm[1*3+1] && ACCV(3,1,cs[1*3+1]))))
#elif WITNESS == 2
/* PE at work: both slots executed at a correct active replica, not applied at the passive one,
 * which accepted a SWITCH that carries both */
#define WIT (CORRECT(0) && EXECD(0,2) && ap == 0 && ACCV(3,1,cs[1]) && ACCV(3,2,cs[2]))
#elif WITNESS == 3
/* TC rotation: TC(0) is faulty; the passive replica accepted SWITCH(p=1) with a request */
#define WIT (faulty == TCOF(0) && acp[3] == 2 && (ad[3*3+1] != 0 || ad[3*3+2] != 0))
#elif WITNESS == 4
/* faulty TC(0): the passive replica accepted its SWITCH(p=0) while a request was committed at
 * the correct TC(1) */
#define WIT (faulty == TCOF(0) && acp[3] == 1 && cm[TCOF(1)*3+2] && ACCV(3,2,cs[TCOF(1)*3+2]))
#elif WITNESS == 5
/* checkpoint anchor: the passive replica accepted a SWITCH anchored at checkpoint 1 with slot 2 = request */
#define WIT (acp[3] != 0 && acpk[3] == 1 && ad[3*3+2] != 0)
#elif WITNESS == 6
/* equivocation: two conflicting VALID proofs exist for slot 1. The faulty leader sent different
 * PRE-PREPAREs, and each correct follower accepted one of them */
#define WIT (faulty == 0 && VALID(1,1) && VALID(1,2))
#elif WITNESS == 7
/* the last TC rotation (generation MAXP) is reached: a correct replica accepted its SWITCH with a
 * request at slot 1 */
#define WIT ((CORRECT(0) && acp[0] == MAXP + 1 && acpk[0] == 0 && ad[0*3+1] != 0) || \
             (CORRECT(1) && acp[1] == MAXP + 1 && acpk[1] == 0 && ad[1*3+1] != 0) || \
             (acp[3] == MAXP + 1 && acpk[3] == 0 && ad[3*3+1] != 0))
#elif WITNESS == 8
/* H1 with a proof only the faulty replica's history carries: the passive replica accepted value o
 * at slot 1, although no correct active replica sent a COMMIT for o there */
#define WIT (faulty <= 2 && ACCV(3,1,1) && (faulty == 0 || cs[0*3+1] != 1) && \
             (faulty == 1 || cs[1*3+1] != 1) && (faulty == 2 || cs[2*3+1] != 1))
#else
#define WIT 0
#endif

/* Always 0. They only give the assertions readable names in pan's output. */
hidden byte PA_property, PE_property, PEP_property, AGRC_property, AGRS_property, H1X_property;
hidden byte STRICT_property;
hidden byte WITNESS_reached;

active proctype monitor()
{
end:
    atomic {
        !(PA && PE && PEP && AGRC && AGRS && H1X && STRICT && !WIT) ->
            if :: !PA     -> assert(PA_property)     :: else -> skip fi;
            if :: !PE     -> assert(PE_property)     :: else -> skip fi;
            if :: !PEP    -> assert(PEP_property)    :: else -> skip fi;
            if :: !AGRC   -> assert(AGRC_property)   :: else -> skip fi;
            if :: !AGRS   -> assert(AGRS_property)   :: else -> skip fi;
            if :: !H1X    -> assert(H1X_property)    :: else -> skip fi;
            if :: !STRICT -> assert(STRICT_property) :: else -> skip fi;
            if :: WIT     -> assert(WITNESS_reached) :: else -> skip fi
    }
}

/* ---------------------------------------------------------------------------------------------
 * THE CELL: one process. Every event is one atomic step, and a disabled event has no
 * transition. The TC steps use local scratch variables, and they reset them to 0 afterwards so
 * that the scratch values never distinguish states.
 */

/* leader: PRE-PREPARE(S, o) to the followers, one per slot */
#define EV_PREPREPARE(S) \
    :: atomic { RUNNING(0) && pp[S] == 0 -> \
           if :: pp[S] = 1 :: pp[S] = 2 fi; \
           printf("L: PRE-PREPARE(s=%d, o=%d)\n", S, pp[S]) }

/* follower R: accept the first PRE-PREPARE for S and PREPARE it to all active replicas */
#define EV_ACCEPT(R,S) \
    :: atomic { RUNNING(R) && pa[(R)*3+(S)] == 0 && GPP(S,1) -> pa[(R)*3+(S)] = 1; \
           printf("%d: accept PRE-PREPARE, PREPARE(s=%d, o=1)\n", R, S) } \
    :: atomic { RUNNING(R) && pa[(R)*3+(S)] == 0 && GPP(S,2) -> pa[(R)*3+(S)] = 2; \
           printf("%d: accept PRE-PREPARE, PREPARE(s=%d, o=2)\n", R, S) }

/* active R: prepared(S) -> COMMIT to the other active replicas */
#define EV_PREPARED(R,S) \
    :: atomic { RUNNING(R) && cs[(R)*3+(S)] == 0 && PREPARED(R,S) -> cs[(R)*3+(S)] = PVAL(R,S); \
           printf("%d: prepared, COMMIT(s=%d, o=%d)\n", R, S, cs[(R)*3+(S)]) }

/* active R: committed(S) = COMMITs of all 3 active replicas, own included; then it executes the
 * committed prefix (A3), which makes its UPDATEs and CHECKPOINTs available */
#define EV_COMMIT(R,S) \
    :: atomic { RUNNING(R) && !cm[(R)*3+(S)] && COMMITTABLE(R,S) -> cm[(R)*3+(S)] = 1; \
           printf("%d: committed (s=%d, o=%d)\n", R, S, cs[(R)*3+(S)]) }

/* active R: collects a stable checkpoint certificate for S (CHECKPOINTs of all 4 replicas) */
#define EV_CHECKPOINT(R,S) \
    :: atomic { RUNNING(R) && cpk[R] < (S) && CERT(S) -> cpk[R] = S; \
           printf("%d: stable checkpoint %d\n", R, S) }

/* active R: PANIC -> stop agreement and send HISTORY(p=0) to TC(0). The history is R's COMMITs
 * above its checkpoint, each with PRE-PREPARE + 2f PREPAREs, plus the checkpoint certificate */
#define EV_STOP(R) \
    :: atomic { RUNNING(R) -> stp[R] = 1; \
           printf("%d: stop, HISTORY(p=0, cp=%d, [%d %d])\n", R, cpk[R], cs[(R)*3+1], cs[(R)*3+2]) }

/* active R: switch timer fires -> p := p+1, and the same history goes to TC(p+1) */
#define EV_TIMEOUT(R) \
    :: atomic { CORRECT(R) && stp[R] && acp[R] == 0 && pr[R] < MAXP -> pr[R]++; \
           printf("%d: switch timeout, HISTORY(p=%d)\n", R, pr[R]) }

/* correct replica X receives the SWITCH of a correct TC(P). Its check by recomputation succeeds
 * because the SWITCH was built by the same rule. (TC(P) itself accepted it when it built it.) */
#define EV_RECEIVE(X,P) \
    :: atomic { (X) != TCOF(P) && CORRECT(X) && CORRECT(TCOF(P)) && MAY_ACCEPT(X, P) && sw[P] != 0 && \
                ((X) == 3 || pr[X] <= (P)) -> \
           acp[X] = (P) + 1; \
           acpk[X] = (sw[P] - 1) / 9; \
           ad[(X)*3+1] = ((sw[P] - 1) % 9) / 3; \
           ad[(X)*3+2] = (sw[P] - 1) % 3; \
           printf("%d: accept SWITCH(p=%d) cp=%d [%d %d]\n", X, P, acpk[X], ad[(X)*3+1], ad[(X)*3+2]) }

active proctype cell()
{
    byte q, n, p;
    byte ac, a1, a2, bc, b1, b2;      /* the two embedded histories, A (first) and B (second) */
    byte cp, d1, d2;                  /* the computed global history */
    byte va, vb;

    /* rules H1 and H2 for one slot, or a mutant of H1 */
#if MUTANT_H1 == 2
#define SLOTRULE(S, A, B, D) \
        vb = (VALID(S, B) -> B : 0); \
        D  = (((A) != 0) -> (A) : vb)
#elif MUTANT_H1 == 3
#define SLOTRULE(S, A, B, D) \
        D  = (VALID(S, A) -> (A) : 0)
#else
#define SLOTRULE(S, A, B, D) \
        va = (VALID(S, A) -> A : 0); vb = (VALID(S, B) -> B : 0); \
        D  = ((va != 0 && vb != 0 && va != vb) -> 0 : ((va != 0) -> va : vb)); \
        NOTE_CONFLICT()
#endif

    /* the global history from A and B: checkpoint = the higher anchor (G10); H1/H2 above it */
#define GLOBAL() \
        cp = ((ac > bc) -> ac : bc); \
        if \
        :: cp < 1 -> SLOTRULE(1, a1, b1, d1) \
        :: else -> d1 = 0 \
        fi; \
        if \
        :: cp < 2 -> SLOTRULE(2, a2, b2, d2) \
        :: else -> d2 = 0 \
        fi

    /* the history that correct active replica Q sent (frozen when it stopped) */
#ifdef MUTANT_HISTORY
    /* mutant: the history holds only the slots Q COMMITTED, not all slots it sent a COMMIT for */
#define HISTORY_OF(Q, HC, H1, H2) \
        HC = cpk[Q]; \
        H1 = ((1 > cpk[Q] && cm[(Q)*3+1]) -> cs[(Q)*3+1] : 0); \
        H2 = ((2 > cpk[Q] && cm[(Q)*3+2]) -> cs[(Q)*3+2] : 0)
#else
#define HISTORY_OF(Q, HC, H1, H2) \
        HC = cpk[Q]; \
        H1 = ((1 > cpk[Q]) -> cs[(Q)*3+1] : 0); \
        H2 = ((2 > cpk[Q]) -> cs[(Q)*3+2] : 0)
#endif

    /* a history signed by the faulty replica: any values, and any checkpoint that has a stable
     * certificate */
#define FABRICATED(HC, H1, H2) \
        if \
        :: HC = 0 \
        :: CERT(1) -> HC = 1 \
        :: CERT(2) -> HC = 2 \
        fi; \
        select(H1 : 0 .. 2); \
        select(H2 : 0 .. 2)

#define CLEAR() \
        q = 0; n = 0; p = 0; \
        ac = 0; a1 = 0; a2 = 0; bc = 0; b1 = 0; b2 = 0; cp = 0; d1 = 0; d2 = 0; va = 0; vb = 0

    /* correct TC(P) = replica T: its own history plus the first other HISTORY(P) it receives
     * -> SWITCH to all replicas. It accepts its own SWITCH */
#define EV_TC(P) EV_TC2(P, TCOF(P))
#define EV_TC2(P, T) \
    :: atomic { CORRECT(T) && sw[P] == 0 && acp[T] == 0 && stp[T] && pr[T] == (P) && OTHER_HIST(T, P) -> \
           HISTORY_OF(T, ac, a1, a2); \
           if \
           :: (T) != 0 && HIST_ANY(0, P) -> q = 0 \
           :: (T) != 1 && HIST_ANY(1, P) -> q = 1 \
           :: (T) != 2 && HIST_ANY(2, P) -> q = 2 \
           fi; \
           if \
           :: faulty == q -> FABRICATED(bc, b1, b2) \
           :: else -> HISTORY_OF(q, bc, b1, b2) \
           fi; \
           GLOBAL(); \
           sw[P] = 1 + cp*9 + d1*3 + d2; \
           acp[T] = (P) + 1; acpk[T] = cp; ad[(T)*3+1] = d1; ad[(T)*3+2] = d2; \
           printf("%d: as TC(p=%d), SWITCH from {%d:[cp=%d %d %d], %d:[cp=%d %d %d]} -> cp=%d [%d %d], accepts it\n", \
                  T, P, T, ac, a1, a2, q, bc, b1, b2, cp, d1, d2); \
           CLEAR() }

    /* correct replica X receives a SWITCH(p) from the FAULTY TC(p), p = TCGEN(faulty). It embeds two
     * histories for p from distinct active replicas, in any order: the TC's own fabricated one
     * plus one from a correct replica, or the two from correct replicas. X recomputes H1/H2 and
     * accepts. A SWITCH claiming another decision is rejected, which is no step at all (A6). */
#define EV_FAULTY_TC(X) \
    :: atomic { faulty <= 2 && TCGEN(faulty) <= MAXP && CORRECT(X) && MAY_ACCEPT(X, TCGEN(faulty)) && \
                ((X) == 3 || pr[X] <= TCGEN(faulty)) && \
                (HIST_AV(0, TCGEN(faulty)) || HIST_AV(1, TCGEN(faulty)) || HIST_AV(2, TCGEN(faulty))) -> \
           p = TCGEN(faulty); \
           if \
           :: HIST_AV(0, p) -> q = 0 \
           :: HIST_AV(1, p) -> q = 1 \
           :: HIST_AV(2, p) -> q = 2 \
           fi; \
           if \
           :: FABRICATED(ac, a1, a2); HISTORY_OF(q, bc, b1, b2) \
           :: HISTORY_OF(q, ac, a1, a2); FABRICATED(bc, b1, b2) \
           :: HIST_AV(3 - faulty - q, p) -> n = 3 - faulty - q; HISTORY_OF(q, ac, a1, a2); HISTORY_OF(n, bc, b1, b2) \
           fi; \
           GLOBAL(); \
           acp[X] = p + 1; acpk[X] = cp; ad[(X)*3+1] = d1; ad[(X)*3+2] = d2; \
           printf("%d: accept SWITCH(p=%d) of faulty TC %d from [cp=%d %d %d], [cp=%d %d %d] -> cp=%d [%d %d]\n", \
                  X, p, faulty, ac, a1, a2, bc, b1, b2, cp, d1, d2); \
           CLEAR() }

    /* choose the faulty replica, or none. -DFAULTY=n fixes the choice (4 = none) */
#ifdef FAULTY
    faulty = FAULTY;
#else
    if
    :: faulty = NOBODY
    :: faulty = 0
    :: faulty = 1
    :: faulty = 2
    :: faulty = 3
    fi;
#endif
    printf("faulty replica: %d (4 = none)\n", faulty);

end:
    do
    EV_PREPREPARE(1)
    EV_PREPREPARE(2)
    EV_ACCEPT(1,1) EV_ACCEPT(1,2) EV_ACCEPT(2,1) EV_ACCEPT(2,2)
    EV_PREPARED(0,1) EV_PREPARED(0,2) EV_PREPARED(1,1) EV_PREPARED(1,2) EV_PREPARED(2,1) EV_PREPARED(2,2)
    EV_COMMIT(0,1) EV_COMMIT(0,2) EV_COMMIT(1,1) EV_COMMIT(1,2) EV_COMMIT(2,1) EV_COMMIT(2,2)
    /* the passive replica applies slot ap+1 once f+1 = 2 matching UPDATEs from distinct active
     * replicas have arrived */
    :: atomic { CORRECT(3) && acp[3] == 0 && ap < 2 && NUPD(ap + 1, 1) >= 2 -> apv[ap + 1] = 1; ap++;
           printf("3: apply UPDATE(s=%d, o=1)\n", ap) }
    :: atomic { CORRECT(3) && acp[3] == 0 && ap < 2 && NUPD(ap + 1, 2) >= 2 -> apv[ap + 1] = 2; ap++;
           printf("3: apply UPDATE(s=%d, o=2)\n", ap) }
    EV_CHECKPOINT(0,1) EV_CHECKPOINT(0,2) EV_CHECKPOINT(1,1) EV_CHECKPOINT(1,2) EV_CHECKPOINT(2,1) EV_CHECKPOINT(2,2)
    EV_STOP(0) EV_STOP(1) EV_STOP(2)
    EV_TIMEOUT(0) EV_TIMEOUT(1) EV_TIMEOUT(2)
    EV_TC(0)
    EV_TC(1)
#if MAXP >= 2
    EV_TC(2)
#endif
    EV_RECEIVE(0,0) EV_RECEIVE(1,0) EV_RECEIVE(2,0) EV_RECEIVE(3,0)
    EV_RECEIVE(0,1) EV_RECEIVE(1,1) EV_RECEIVE(2,1) EV_RECEIVE(3,1)
#if MAXP >= 2
    EV_RECEIVE(0,2) EV_RECEIVE(1,2) EV_RECEIVE(2,2) EV_RECEIVE(3,2)
#endif
    EV_FAULTY_TC(0) EV_FAULTY_TC(1) EV_FAULTY_TC(2) EV_FAULTY_TC(3)
    od
}
