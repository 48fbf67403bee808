using System.Buffers.Binary;
using FastBft.Agreement.RePbft;
using FastBft.Auth;
using FastBft.Wire;

namespace FastBft.Simulation;

/// <summary>
/// Switching protocols (RePBFT, RePBFT*; docs/simulation.md, "RePBFT"): the PA/PE oracle that checks every SWITCH a
/// correct replica accepts against what correct replicas executed in the aborted generation, the fault timings
/// tied to the switch, and the Byzantine strategies that forge RePBFT messages (UPDATE, HISTORY, SWITCH, PANIC).
/// </summary>
public sealed partial class Simulator
{
    /// <summary>What a correct replica executed at a sequence number in a RePBFT (normal-case) generation.</summary>
    private readonly record struct NormalExecution(SlotDigest Batch, uint Replica);

    /// <summary>A SWITCH a correct replica accepted (the PBFT generation it started from it).</summary>
    private sealed record AcceptedSwitch(uint Acceptor, uint Coordinator, SwitchMessage Message);

    /// <summary>Aborted-able generation → sequence number → the batch a correct replica executed there in that generation's normal case (first one seen).</summary>
    private readonly Dictionary<ulong, SortedDictionary<ulong, NormalExecution>> _normalExecuted = new();
    private readonly List<AcceptedSwitch> _acceptedSwitches = new();

    /// <summary>SWITCHes accepted by correct replicas that the PA/PE oracle checked (an observation for tests).</summary>
    public int SwitchesChecked => _acceptedSwitches.Count;

    /// <summary>Highest generation any correct replica reached (an observation for tests).</summary>
    public ulong MaxGeneration => _nodes.Where(nd => IsCorrect(nd.Id)).Max(nd => nd.Cores[0].Generation);

    private static RePbftReplica? RePbft(Node node) => node.Cores[0] as RePbftReplica;

    /// <summary>FASTBFT_SIM_TRACE set: executions, accepted SWITCHes and delivered HISTORY/SWITCH/PANIC messages go to stderr (for diagnosing a replay).</summary>
    private static readonly bool Trace = Environment.GetEnvironmentVariable("FASTBFT_SIM_TRACE") is not null;
    /// <summary>FASTBFT_SIM_TRACE=all: every delivered message (except client requests) is traced too.</summary>
    private static readonly bool TraceAll = Environment.GetEnvironmentVariable("FASTBFT_SIM_TRACE") == "all";

    /// <summary>Activation of the switching protocols' timings: one instance before a checkpoint is in the per-replica loop; here the switch back.</summary>
    private void SwitchTimingActivation()
    {
        if (_active) return;
        switch (_sc.Timing)
        {
            case FaultTiming.PreCheckpoint when _now >= 2 * HealTime:
                Activate();
                break;
            case FaultTiming.SwitchBack when _proto.Definition.Kind == FastBft.Agreement.ProtocolKind.ReMinBft:
                if (_nodes.Any(nd => IsCorrect(nd.Id) && NearReMinBftSwitchBackPoint(nd))) { ActivatedAtSwitchBackPoint = true; Activate(); }
                else if (_now >= 3 * HealTime) Activate();
                if (_active && Trace) Console.Error.WriteLine($"{_now,6} fault activated ({(ActivatedAtSwitchBackPoint ? "at the MinBFT phase's switch-back point" : "by the 3 × heal-time fallback")})");
                break;
            case FaultTiming.SwitchBack:
                if (_now >= 3 * HealTime || _nodes.Any(nd => IsCorrect(nd.Id) && RePbft(nd) is { RunsPbft: false, Generation: > 0 })) Activate();
                break;
        }
    }

    /// <summary>ReMinBFT's <see cref="FaultTiming.SwitchBack"/>: the fault started at the MinBFT phase's switch-back point (not by the
    /// 3 × <see cref="HealTime"/> fallback; an observation for tests).</summary>
    public bool ActivatedAtSwitchBackPoint { get; private set; }

    /// <summary>
    /// ReMinBFT's <see cref="FaultTiming.SwitchBack"/> (docs/reminbft.md §7): true once correct replica <paramref name="nd"/>
    /// runs the MinBFT phase (generation ≥ 1) and has executed to within K/2 of its switch-back point
    /// c = ⌈(e + X) / K⌉·K, where e is what it had executed when first seen in the phase (the SWITCH's top or above) and
    /// X = <see cref="FastBft.Agreement.ReplicaParameters.SwitchBackAfter"/>: the fault starts while the phase's leader would propose, and the
    /// replicas agree on, the SWITCH-BACK batch at c. The switch back itself is not built yet (the cell stays in MinBFT), so
    /// today this places the fault late in the MinBFT phase; the attack tests keep their meaning once it is built.
    /// </summary>
    private bool NearReMinBftSwitchBackPoint(Node nd)
    {
        var core = nd.Cores[0];
        if (core.Generation == 0) return false;
        if (!nd.InPhase) { nd.InPhase = true; nd.PhaseEnteredAt = core.LastExecuted; }
        ulong k = (ulong)_p.CheckpointInterval, x = (ulong)Math.Max(1, _replicaParameters.SwitchBackAfter);
        ulong c = (nd.PhaseEnteredAt + x + k - 1) / k * k;
        return core.LastExecuted + k / 2 >= c;
    }

    /// <summary>
    /// Records, for sequence numbers <paramref name="from"/>..<paramref name="to"/> that a correct replica just executed
    /// in a RePBFT normal-case generation, the batch it executed (its logged digest; passive replicas log nothing), and
    /// checks them against every SWITCH already accepted that aborts this generation (a replica may still complete a
    /// commit after others switched).
    /// </summary>
    private void RecordNormalExecution(Node node, ulong from, ulong to, Span<byte> d)
    {
        if (RePbft(node) is not { RunsPbft: false, InViewChange: false } rp) return;
        ulong gen = rp.Generation;
        if (!_normalExecuted.TryGetValue(gen, out var executed)) _normalExecuted[gen] = executed = new();
        for (ulong s = from; s <= to; s++)
        {
            if (node.Transferred.Contains(s) || !rp.TryGetLoggedDigest(s, d)) continue;
            var e = new NormalExecution(SlotDigest.Of(s, d), node.Id);
            if (!executed.TryAdd(s, e)) continue;
            foreach (var a in _acceptedSwitches)
                if (a.Message.AbortedGeneration == gen) CheckSlot(a, s, e);
        }
    }

    /// <summary>Every correct replica that accepted a new SWITCH since the last step: check it (PA/PE, Thesis §5.3.4).</summary>
    private void CheckAcceptedSwitches()
    {
        foreach (var node in _nodes)
        {
            if (!IsCorrect(node.Id) || RePbft(node) is not { } rp) continue;
            var msg = rp.AcceptedSwitch;
            if (msg is null || ReferenceEquals(msg, node.SeenSwitch)) continue;
            node.SeenSwitch = msg;
            node.ExecutedAtSwitch = rp.LastExecuted;
            if (Trace) Console.Error.WriteLine($"{_now,6} r{node.Id} ACCEPTED switch | {rp.DescribeState()}");
            if (MessageHeader.TryParse(msg, int.MaxValue, out var h) != ParseStatus.Ok
                || SwitchMessage.TryParse(h, msg, _n, rp.Shape.Active, _p.Window) is not { } sw)
            {
                Fail("pa-pe", $"replica {node.Id} runs a PBFT generation from a SWITCH that does not parse (at {_now} ms)");
                return;
            }
            if (Trace)
            {
                Console.Error.WriteLine($"         switch gen {sw.Generation} from {h.Sender}: cp {sw.CheckpointSeq} slots {string.Join(" ", sw.Slots.Select(x => Convert.ToHexString(x[..4])))}");
                foreach (var hist in sw.Histories)
                    Console.Error.WriteLine($"         history of {hist.Sender}: cp {hist.CheckpointSeq} " + string.Join(" ", hist.Slots.Select(x => $"{x.Seq}:{Convert.ToHexString(x.Digest[..4])}/{x.Endorsements.Count}")));
            }
            var accepted = new AcceptedSwitch(node.Id, h.Sender, sw);
            _acceptedSwitches.Add(accepted);
            if (!_normalExecuted.TryGetValue(sw.AbortedGeneration, out var executed)) continue;
            foreach (var (s, e) in executed)
            {
                CheckSlot(accepted, s, e);
                if (_violation is not null) return;
            }
        }
    }

    /// <summary>
    /// PA/PE (Thesis §5.3.4, PROTOCOLS.md §5.7): a batch a correct replica executed at s in the aborted generation, above
    /// the SWITCH's checkpoint, must be the global history's value at s (H1), never ⊥ and never missing.
    /// </summary>
    private void CheckSlot(AcceptedSwitch a, ulong s, NormalExecution e)
    {
        var sw = a.Message;
        if (s <= sw.CheckpointSeq) return;                    // covered by the all-n checkpoint certificate
        ulong index = s - sw.CheckpointSeq - 1;
        string who = $"replica {a.Acceptor} accepted the SWITCH of coordinator {a.Coordinator} to generation {sw.Generation} (aborting generation {sw.AbortedGeneration}, checkpoint {sw.CheckpointSeq}, {sw.Slots.Count} slots) at {_now} ms";
        if (index >= (ulong)sw.Slots.Count)
        {
            Fail("pa-pe", $"{who}, which has no slot {s}, while correct replica {e.Replica} executed seq {s} in generation {sw.AbortedGeneration}: a committed batch is lost");
            return;
        }
        var slot = SlotDigest.Of(s, sw.Slots[(int)index]);
        if (slot != e.Batch)
        {
            bool isNull = sw.Slots[(int)index].AsSpan().SequenceEqual(FastBft.Agreement.Pbft.ViewChangeDecision.NullDigest);
            Fail("pa-pe", $"{who}, whose slot {s} is {(isNull ? "⊥ (null)" : $"batch {e.Batch.A ^ slot.A:x16}≠")} while correct replica {e.Replica} executed batch {e.Batch.A:x16} at seq {s} in generation {sw.AbortedGeneration}");
        }
    }

    /// <summary>For an agreement report: the SWITCHes (accepted by correct replicas) that fixed seq <paramref name="s"/> as one of their slots, with the value.</summary>
    private string SwitchSlotNote(ulong s)
    {
        var notes = new List<string>();
        foreach (var g in _acceptedSwitches.GroupBy(a => a.Message.Generation))
        {
            var sw = g.First().Message;
            if (s <= sw.CheckpointSeq || s > sw.CheckpointSeq + (ulong)sw.Slots.Count) continue;
            var d = sw.Slots[(int)(s - sw.CheckpointSeq - 1)];
            bool isNull = d.AsSpan().SequenceEqual(FastBft.Agreement.Pbft.ViewChangeDecision.NullDigest);
            notes.Add($"generation {sw.Generation}: {(isNull ? "⊥" : "batch " + Convert.ToHexString(d.AsSpan(0, 4)))}");
        }
        return notes.Count == 0 ? "" : $"; seq {s} is a slot fixed by the SWITCH to {string.Join(", ", notes)}";
    }

    /// <summary>"generation 2 (PBFT)" / "generation 0 (RePBFT)".</summary>
    private static string GenerationName((ulong Generation, bool Pbft) g) => $"generation {g.Generation} ({(g.Pbft ? "PBFT" : "RePBFT")})";

    /// <summary>For a convergence report: the generations two replicas executed (or applied) seq <paramref name="s"/> in.</summary>
    private static string GenerationsAt(Node x, Node y, ulong s)
        => x.ExecutedIn.TryGetValue(s, out var gx) && y.ExecutedIn.TryGetValue(s, out var gy)
            ? $" (executed or applied in {GenerationName(gx)} vs {GenerationName(gy)})" : "";

    /// <summary>
    /// For a liveness report of a switching protocol, what the correct replicas are stuck in (null if nothing of these):
    /// a PBFT generation stopped at its switch-back checkpoint (it orders nothing above it; RePBFT resumes only once all
    /// n signed CHECKPOINTs for it are in); a replica left behind in an older generation than another correct replica;
    /// correct replicas in one RePBFT generation with different views (they started it at different PBFT views); a
    /// PBFT generation that executed nothing since the switch.
    /// </summary>
    private string? SwitchStall()
    {
        var notes = new List<string>();
        ulong top = 0;
        foreach (var nd in _nodes) if (IsCorrect(nd.Id)) top = Math.Max(top, nd.Cores[0].Generation);
        ulong k = (ulong)_p.CheckpointInterval;
        var views = new Dictionary<ulong, HashSet<ulong>>();
        foreach (var nd in _nodes)
        {
            if (!IsCorrect(nd.Id) || RePbft(nd) is not { } rp) continue;
            if (rp.RunsPbft && rp.AcceptedSwitch is { } m && MessageHeader.TryParse(m, int.MaxValue, out var h) == ParseStatus.Ok
                && SwitchMessage.TryParse(h, m, _n, rp.Shape.Active, _p.Window) is { } sw)
            {
                ulong stop = (sw.CheckpointSeq + (ulong)sw.Slots.Count + (ulong)_replicaParameters.SwitchBackAfter + k - 1) / k * k;
                if (_replicaParameters.SwitchBackAfter > 0 && rp.LastExecuted >= stop) notes.Add($"replica {nd.Id} stopped at the switch-back checkpoint {stop} of generation {rp.Generation}");
                else if (ReferenceEquals(m, nd.SeenSwitch) && rp.LastExecuted == nd.ExecutedAtSwitch)
                    notes.Add($"replica {nd.Id} executed nothing in PBFT generation {rp.Generation} since it switched (view {rp.View})");
            }
            if (rp.Generation < top) notes.Add($"replica {nd.Id} left behind in generation {rp.Generation} (another correct replica is in {top})");
            if (!rp.RunsPbft)
            {
                if (!views.TryGetValue(rp.Generation, out var set)) views[rp.Generation] = set = new();
                set.Add(rp.View);
            }
        }
        foreach (var (g, set) in views)
            if (set.Count > 1) notes.Add($"correct replicas disagree on the view of RePBFT generation {g} ({string.Join(", ", set.Order())})");
        foreach (var g in _acceptedSwitches.GroupBy(a => a.Message.Generation))
        {
            var decisions = g.GroupBy(a => $"{a.Message.CheckpointSeq}:{string.Join(",", a.Message.Slots.Select(Convert.ToHexString))}").ToList();
            if (decisions.Count > 1)
                notes.Add($"correct replicas accepted different SWITCHes for generation {g.Key} (from coordinator {g.First().Coordinator}: "
                    + string.Join(" / ", decisions.Select(d => $"replicas {string.Join(",", d.Select(a => a.Acceptor).Distinct())}: checkpoint {d.First().Message.CheckpointSeq}, {d.First().Message.Slots.Count} slots")) + ")");
        }
        return notes.Count == 0 ? null : "switch stall: " + string.Join(", ", notes);
    }

    // ------------------------------------------------------------------ Byzantine strategies of switching protocols

    private bool FaultyRunsPbft => RePbft(_nodes[_faulty])?.RunsPbft ?? false;

    /// <summary>UPDATE with a wrong content (the first entry's request id changed; the content stays well formed) or a wrong digest.</summary>
    private static void CorruptUpdate(byte[] msg, in MessageHeader h)
    {
        var body = msg.AsSpan(MessageHeader.Size, h.BodyLength);
        if (body[0] == RePbftSchema.UpdateDigest) { body[4] ^= 0x5A; return; }
        var content = body.Slice(4);
        if (content.Length >= 4 + 20 && BinaryPrimitives.ReadInt32LittleEndian(content) > 0) content[8] ^= 0x01;   // entry: client[4] ‖ rid[8] ‖ …
    }

    /// <summary>An invalid or truncated HISTORY (a different defect per message), re-signed with the faulty replica's key.</summary>
    private byte[] BadHistory(Authenticator auth, byte[] msg, in MessageHeader h)
    {
        var shape = _proto.Definition.Shape(_f);
        var hist = AbortHistory.TryParse(h, msg, _n, shape.Active, _p.Window);
        if (hist is null) return msg;
        var slots = hist.Slots;
        var cert = hist.Certificate;
        ulong gen = hist.AbortedGeneration, view = hist.AbortedView;
        switch (_rng.Int(5))
        {
            case 0:                                             // truncated: the top slots (those most likely committed) left out
                slots = slots.Take(slots.Count / 2).ToList();
                break;
            case 1:                                             // cut bytes: the body ends early (does not parse)
            {
                var m = (byte[])msg.Clone();
                int cut = Math.Min(h.BodyLength - 1, 1 + _rng.Int(96));
                return Forge.WithBody(auth, m, msg.AsSpan(MessageHeader.Size, h.BodyLength - cut));
            }
            case 2:                                             // a broken endorsement in every proof
                slots = slots.Select(s => new HistorySlot(s.Seq, s.Digest, s.Endorsements.Select((e, i) => i == 0 ? new Endorsement(e.Header, Flip(e.Signature)) : e).ToList())).ToList();
                break;
            case 3:                                             // an incomplete checkpoint certificate
                if (cert.Count > 0) cert = cert.Skip(1).ToList();
                else view += (ulong)_n;
                break;
            default:                                            // about another aborted generation / view
                view += (ulong)_n;
                gen += 1;
                break;
        }
        var body = new byte[AbortHistory.BodyLength(cert, slots)];
        AbortHistory.Write(body, gen, view, hist.CheckpointSeq, hist.CheckpointDigest, cert, slots);
        return Forge.WithBody(auth, msg, body);
    }

    /// <summary>
    /// A HISTORY whose every slot carries a fabricated prepare proof for another batch (the digest changed), endorsed
    /// only by the faulty replica itself (its own PRE-PREPARE or PREPARE header, re-signed over the new digest).
    /// </summary>
    private byte[] ForgedProofHistory(Authenticator auth, byte[] msg, in MessageHeader h)
    {
        var shape = _proto.Definition.Shape(_f);
        var hist = AbortHistory.TryParse(h, msg, _n, shape.Active, _p.Window);
        if (hist is null) return msg;
        var slots = new List<HistorySlot>(hist.Slots.Count);
        Span<byte> signed = stackalloc byte[MessageHeader.Size + Digests.Size];
        foreach (var s in hist.Slots)
        {
            var own = s.Endorsements.FirstOrDefault(e => MessageHeader.TryParseAlone(e.Header, out var eh) && eh.Sender == _faulty);
            if (own is null) { slots.Add(s); continue; }
            var digest = (byte[])s.Digest.Clone();
            digest[0] ^= 0x5A;
            own.Header.CopyTo(signed);
            digest.CopyTo(signed.Slice(MessageHeader.Size));
            var sig = new byte[ReplicaSignatures.SignatureSize];
            auth.Signatures.Sign(_faulty, signed, sig);
            slots.Add(new HistorySlot(s.Seq, digest, [new Endorsement(own.Header, sig)]));
        }
        var body = new byte[AbortHistory.BodyLength(hist.Certificate, slots)];
        AbortHistory.Write(body, hist.AbortedGeneration, hist.AbortedView, hist.CheckpointSeq, hist.CheckpointDigest, hist.Certificate, slots);
        return Forge.WithBody(auth, msg, body);
    }

    /// <summary>A SWITCH whose decision differs from H1/H2 of the histories it embeds (a different defect per receiver), signed with the coordinator's key.</summary>
    private byte[] BadSwitch(Authenticator auth, byte[] msg, in MessageHeader h)
    {
        var shape = _proto.Definition.Shape(_f);
        var sw = SwitchMessage.TryParse(h, msg, _n, shape.Active, _p.Window);
        if (sw is null) return msg;
        var slots = sw.Slots.Select(d => (byte[])d.Clone()).ToList();
        var histories = sw.Histories;
        ulong cp = sw.CheckpointSeq;
        switch (_rng.Int(5))
        {
            case 0:                                             // a slot's batch changed
                if (slots.Count > 0) slots[_rng.Int(slots.Count)][0] ^= 0x5A;
                else slots.Add(Forge.EmptyBatchDigest());
                break;
            case 1:                                             // a slot dropped (the top one)
                if (slots.Count > 0) slots.RemoveAt(slots.Count - 1);
                else slots.Add(new byte[Digests.Size]);
                break;
            case 2:                                             // a slot nulled (⊥)
                if (slots.Count > 0) slots[_rng.Int(slots.Count)] = new byte[Digests.Size];
                else slots.Add(new byte[Digests.Size]);
                break;
            case 3:                                             // a slot added above the top
                slots.Add(Forge.EmptyBatchDigest());
                break;
            default:                                            // a history left out (f histories only)
                histories = histories.Take(Math.Max(0, histories.Count - 1)).ToList();
                break;
        }
        var decision = new GlobalHistory { CheckpointSeq = cp, CheckpointDigest = sw.CheckpointDigest, Slots = slots };
        var body = new byte[decision.SwitchBodyLength(histories)];
        decision.WriteSwitch(body, sw.AbortedGeneration, sw.AbortedView, histories);
        return Forge.WithBody(auth, msg, body, decision.Top);
    }

    private static byte[] Flip(byte[] b)
    {
        var c = (byte[])b.Clone();
        c[0] ^= 0x01;
        return c;
    }

    /// <summary>
    /// One step of a panicking Byzantine client: every fourth step a new request (to every replica, so it may be in
    /// flight when it panics about it); PANICs about the request in flight or answered, answered ones before it,
    /// never-sent ids and edge ids. <see cref="Behaviour.SpuriousPanic"/>: one PANIC to a random replica every 20 ms,
    /// 40 steps; <see cref="Behaviour.PanicStorm"/>: ten PANICs to every replica every 5 ms, 150 steps.
    /// </summary>
    private void PanicClientStep(SimClient c)
    {
        bool storm = Is(Behaviour.PanicStorm);
        if (c.Steps >= (storm ? 150 : 40)) return;
        if (c.Steps % 4 == 0)
        {
            c.Rid++;
            c.Request = BuildRequest(c, c.Rid, (long)(_rng.Next() % 1_000_000));
            for (uint r = 0; r < _n; r++) Net(c.Id, r, c.Request, 0);
        }
        c.Steps++;
        int count = storm ? 10 : 1;
        for (int i = 0; i < count; i++)
        {
            ulong rid = _rng.Int(6) switch
            {
                0 or 1 => c.Rid,                                                   // in flight (or just answered)
                2 => c.Rid > 1 ? c.Rid - 1 - (ulong)_rng.Int((int)Math.Min(c.Rid - 1, 4)) : c.Rid,   // answered
                3 => c.Rid + 1 + (ulong)_rng.Int(5),                               // never sent
                4 => _rng.Chance(0.5) ? 0 : ulong.MaxValue,                        // edge ids
                _ => c.Rid + (1UL << 40),
            };
            var panic = BuildPanic(c, rid == c.Rid ? c.Request : BuildRequest(c, rid, 7));
            if (storm) for (uint r = 0; r < _n; r++) Net(c.Id, r, panic, 0);
            else Net(c.Id, (uint)_rng.Int(_n), panic, 0);
        }
        Schedule(_now + (storm ? TickMs : 20), Kind.ClientStart, c.Id, c.Id, null);
    }
}
