using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.Agreement;
using FastBft.Agreement.Pbft;
using FastBft.Wire;

namespace FastBft.Simulation;

/// <summary>The Byzantine strategies of the simulator (docs/simulation.md, "Adversaries").</summary>
public sealed partial class Simulator
{
    /// <summary>One epoch of the Twins partition schedule: which honest replicas are on twin 1's side, whether honest replicas on different sides are cut apart, and which client twin 1 does not hear (-1: none).</summary>
    private readonly record struct TwinEpoch(long Start, ulong Side1, bool SplitHonest, int FilteredClient);

    private readonly List<TwinEpoch> _epochs = new();
    private long _twinsEnd = long.MaxValue;
    private ulong _sweepNext;
    private int _swept, _byzTicks;
    private bool _farOnly;
    private readonly Dictionary<ulong, uint> _vcVictims = new();
    private ulong _emptyView = ulong.MaxValue, _emptyNext;

    /// <summary>Seeded partition schedule for the Twins behaviour: epochs of 10–60 ms over the first second.</summary>
    private void BuildTwinsSchedule()
    {
        for (long t = 0; t < 1000; t += _rng.Range(10, 60))
        {
            ulong side1 = 0;
            for (int r = 0; r < _n; r++) if (_rng.Chance(0.5)) side1 |= 1UL << r;
            _epochs.Add(new TwinEpoch(t, side1, _rng.Chance(0.5), _rng.Int(ClientCount + 1) - 1));
        }
    }

    private bool TwinsPhase => Is(Behaviour.Twins) && _active && _now < _twinsEnd;

    private TwinEpoch Epoch()
    {
        var e = _epochs[0];
        foreach (var x in _epochs) { if (x.Start > _now) break; e = x; }
        return e;
    }

    private int SideOf(uint replica) => (Epoch().Side1 >> (int)replica & 1) != 0 ? 1 : 0;

    /// <summary>Which twin a message from honest replica <paramref name="from"/> reaches (-1: both, before activation).</summary>
    private int TwinFor(uint from)
    {
        if (!_active) return -1;
        if (_now >= _twinsEnd) return 0;
        return SideOf(from);
    }

    /// <summary>Twins partitions honest replicas too in some epochs.</summary>
    private bool TwinsCut(uint from, uint to)
        => TwinsPhase && from < _n && to < _n && from != _faulty && to != _faulty && Epoch().SplitHonest && SideOf(from) != SideOf(to);

    /// <summary>Input filter of the faulty node's instance <paramref name="k"/>.</summary>
    private bool ByzantineAccepts(int k, uint from, byte[] msg)
    {
        // USIG protocols: the second instance shares the node's USIG, so it must not act (and draw counters) before the fault starts.
        if (k == 1 && !_active && _nodes[_faulty].Usig is not null) return false;
        bool isRequest = msg.Length >= MessageHeader.Size && (MessageType)msg[3] == MessageType.Request;
        uint client = isRequest ? BinaryPrimitives.ReadUInt32LittleEndian(msg.AsSpan(4)) : 0;
        switch (_sc.Behaviour)
        {
            case Behaviour.Equivocate:
                // Twin 1 of an equivocating leader never sees the first client's requests, so its batches differ.
                return !(k == 1 && isRequest && client == FirstClientId);
            case Behaviour.Twins:
                if (k == 1 && _active && _now >= _twinsEnd) return false;
                if (_active && msg.Length >= MessageHeader.Size && (MessageType)msg[3] == MessageType.ViewChange)
                {
                    // As the new primary of view w, build the NEW-VIEW without the VIEW-CHANGE of the correct replica
                    // that executed most (the likeliest holder of prepared certificates): any other 2f+1 must do.
                    ulong w = BinaryPrimitives.ReadUInt64LittleEndian(msg.AsSpan(8));
                    if (w % (ulong)_n == _faulty)
                    {
                        if (!_vcVictims.TryGetValue(w, out uint victim))
                        {
                            victim = uint.MaxValue; ulong best = 0;
                            foreach (var nd in _nodes)
                                if (IsCorrect(nd.Id) && (victim == uint.MaxValue || nd.Cores[0].LastExecuted > best)) { victim = nd.Id; best = nd.Cores[0].LastExecuted; }
                            _vcVictims[w] = victim;
                        }
                        if (from == victim) return false;
                    }
                }
                if (k == 1 && TwinsPhase && isRequest && Epoch().FilteredClient >= 0 && client == FirstClientId + (uint)Epoch().FilteredClient) return false;
                return true;
            case Behaviour.Censor:
                return !(_active && isRequest && client == FirstClientId);
            case Behaviour.EmptyBatches:
                return !(_active && isRequest);
            default:
                return true;
        }
    }

    // ------------------------------------------------------------------ outgoing messages

    private void Emit(uint node, int instance, uint to, ReadOnlySpan<byte> message)
    {
        if (node != _faulty) { var m = message.ToArray(); ObserveCorrect(node, m); Net(node, to, m, 0); return; }
        var msg = message.ToArray();
        var src = _nodes[node];
        // Certified messages of its own (not another replica's it relays in answer to a UI-FETCH): recorded, maybe withheld for good.
        if (src.Usig is not null && IsCertified(msg) && BinaryPrimitives.ReadUInt32LittleEndian(msg.AsSpan(4)) == _faulty && !EmitCertified(src, to, msg)) return;
        if (instance == 0 && msg.Length > MessageHeader.Size && (MessageType)msg[3] == MessageType.ViewChange) src.LastViewChange = msg;
        if (Is(Behaviour.Equivocate))
        {
            // Twins (fixed): before activation only instance 0 speaks; after it, instance 0 talks to one half of
            // the backups (and to clients), instance 1 to the other half.
            if (!_active) { if (instance == 0) Net(node, to, msg, 0); return; }
            bool sideA = to >= _n || _targets.Contains(to);
            if ((instance == 0) == sideA) Net(node, to, msg, 0);
            return;
        }
        if (Is(Behaviour.Twins))
        {
            // Generalised Twins: before activation and after the schedule only twin 0 speaks (to everybody);
            // during it each twin reaches the replicas on its side of the current epoch, and both reach clients.
            if (!TwinsPhase) { if (instance == 0) Net(node, to, msg, 0); return; }
            if (to >= _n || SideOf(to) == instance) Net(node, to, msg, 0);
            return;
        }
        if (!_active) { Net(node, to, msg, 0); return; }
        MessageHeader.TryParse(msg, int.MaxValue, out var h);
        switch (_sc.Behaviour)
        {
            case Behaviour.Crash:
                return;
            case Behaviour.Mute:
                if (to < _n && _targets.Contains(to)) return;
                break;
            case Behaviour.Slow:
                Net(node, to, msg, 25);
                return;
            case Behaviour.WrongReply:
                if (h.Type == MessageType.Reply && h.BodyLength > Bodies.ReplyFixed)
                {
                    msg[MessageHeader.Size + Bodies.ReplyFixed] ^= 0x5A;
                    Forge.Reseal(src.Auth, msg, receiver: to);
                }
                else if (h.Type == MessageType.ObjectState && h.BodyLength > 8)
                {
                    // ODRC: a maintainer that answers wrongly also serves corrupted object states (the last byte of the state)
                    msg[MessageHeader.Size + h.BodyLength - 1] ^= 0x5A;
                    Forge.Reseal(src.Auth, msg);
                }
                break;
            case Behaviour.WrongCheckpoint:
                // MinBFT's certified CHECKPOINT: a second, wrong one is certified with its own counter (Simulator.Usig.cs, OnFirstCertified).
                if (h.Type is MessageType.Checkpoint or MessageType.SignedCheckpoint or MessageType.CounterCheckpoint)   // RePBFT's is signed: Reseal re-signs it
                {
                    msg[MessageHeader.Size] ^= 0x5A;
                    Forge.Reseal(src.Auth, msg);
                }
                else if (h.Type == MessageType.ObjectCheckpoint && h.BodyLength > 4
                    && BinaryPrimitives.ReadInt32LittleEndian(msg.AsSpan(MessageHeader.Size)) is int idLength && idLength >= 0 && 4 + idLength + 32 <= h.BodyLength)
                {
                    // ODRC: its object checkpoints carry a wrong state hash (the Fig. 6.8 alarm and the other maintainer's votes must do without them)
                    msg[MessageHeader.Size + 4 + idLength] ^= 0x5A;
                    Forge.Reseal(src.Auth, msg);
                }
                break;
            case Behaviour.InvalidMac:
                // Invalid UI proof on certified messages (by type and trailer kind: at n = 3 a MAC vector is 50 bytes too).
                if (IsCertified(msg)) { if (to < _n && _targets.Contains(to)) CorruptUi(msg); }
                else if (to >= _n) msg[MessageHeader.Size + h.BodyLength + 2] ^= 1;
                else if (_targets.Contains(to)) msg[MessageHeader.Size + h.BodyLength + 2 + Authenticator.TagSize * (int)to] ^= 1;
                break;
            case Behaviour.Replay:
                if (_history.Count < 256) _history.Add((to, msg));
                else _history[_rng.Int(_history.Count)] = (to, msg);
                if (_rng.Chance(0.25))
                {
                    var old = _history[_rng.Int(_history.Count)];
                    uint target = (uint)_rng.Int(_n);
                    // USIG protocols: a replayed UI, as it was or (half the time) with a modified body under the old UI.
                    var again = src.Usig is not null && IsCertified(old.Msg) && _rng.Chance(0.5) ? ModifiedUnderOldUi(old.Msg) : old.Msg;
                    if (target != node) Net(node, target, again, 0);
                }
                break;
            case Behaviour.EagerCommit:
                if (h.Type == MessageType.Prepare)
                {
                    var body = src.Builder.BeginVector(MessageType.Commit, h.View, h.Sequence, Digests.Size);
                    msg.AsSpan(MessageHeader.Size, Digests.Size).CopyTo(body);
                    var commit = src.Builder.SealVector().ToArray();
                    Forge.Reseal(src.Auth, commit);
                    Net(node, to, commit, 0);
                }
                break;
            case Behaviour.TargetedMac:
                if (h.AuthLength == Authenticator.VectorLength(_n))
                {
                    // Valid only for the primary of the next view (for a VIEW-CHANGE: of the view it asks for).
                    uint target = h.Type == MessageType.ViewChange ? (uint)(h.View % (ulong)_n) : (uint)((src.Cores[0].View + 1) % (ulong)_n);
                    Forge.Reseal(src.Auth, msg, validFor: r => r == target);
                }
                break;
            case Behaviour.EmptyBatches:
                if (h.Type == MessageType.PrePrepare && h.BodyLength >= Bodies.PrePrepareFixed && Bodies.BatchCount(msg.AsSpan(MessageHeader.Size)) > 0) return;
                break;
            case Behaviour.Oversized:
                if (h.Type == MessageType.StateData) { msg = Forge.Inflate(src.Auth, msg, 0, to) ?? msg; break; }
                if (to < _n && _rng.Chance(0.5) && Forge.Inflate(src.Auth, msg, _rng.Int(4), to) is { } big) Net(node, to, big, 0);
                break;
            // ---- switching protocols (Simulator.Switching.cs)
            case Behaviour.WrongUpdate:
                if (h.Type == MessageType.Update) { CorruptUpdate(msg, h); Forge.Reseal(src.Auth, msg); }
                break;
            case Behaviour.WithholdCheckpoint:
                if (h.Type is MessageType.SignedCheckpoint or MessageType.CounterCheckpoint) return;   // MinBFT's certified CHECKPOINT: withheld by counter (Simulator.Usig.cs)
                break;
            case Behaviour.BadHistory or Behaviour.ForgedProof or Behaviour.BadSwitch:
                // Stops committing in the normal case (so the cell switches), then lies in the switch.
                if (h.Type == MessageType.Commit && !FaultyRunsPbft) return;
                if (h.Type == MessageType.History && Is(Behaviour.BadHistory)) msg = BadHistory(src.Auth, msg, h);
                else if (h.Type == MessageType.History && Is(Behaviour.ForgedProof)) msg = ForgedProofHistory(src.Auth, msg, h);
                else if (h.Type == MessageType.Switch && Is(Behaviour.BadSwitch)) msg = BadSwitch(src.Auth, msg, h);
                break;
        }
        Net(node, to, msg, 0);
    }

    // ------------------------------------------------------------------ proactive strategies

    /// <summary>Per tick of the faulty replica once the fault is active: messages the core would never send.</summary>
    private void ByzantineTick()
    {
        var src = _nodes[_faulty];
        var core = src.Cores[0];
        _byzTicks++;
        switch (_sc.Behaviour)
        {
            case Behaviour.FarViewChange:
            {
                if (_now > HealTime + 250 || _byzTicks % 2 != 0) return;
                ulong v = core.View;
                var zero = new byte[Digests.Size];
                var template = src.LastViewChange ?? Forge.MinimalViewChange(src.Auth, _n, v + 1, core.LowWatermark, zero);
                // Three seeds in four send only a VIEW-CHANGE for 2^64−3, which makes 64-bit view arithmetic wrap and is then
                // the lowest higher view a replica that times out can jump to (L4). The others send far views
                // (v+1000, 2^64−3, random) and thousands of future views (all within the first 50 ms), each with an
                // 8 KiB body the receiver keeps (R1).
                if (_sweepNext == 0) { _sweepNext = v + 2; _farOnly = _rng.Chance(0.75); }
                ulong[] far = _farOnly ? [ulong.MaxValue - 2] : [v + 1000, ulong.MaxValue - 2, (_rng.Next() >> 1) | (1UL << 40)];
                foreach (ulong w in far) Broadcast(_faulty, Forge.WithView(src.Auth, template, w));
                if (_farOnly) return;
                for (int i = 0; i < 400 && _swept < 2000; i++, _swept++)
                    Broadcast(_faulty, Forge.PaddedViewChange(src.Auth, _n, _sweepNext++, core.LowWatermark, zero, 8 << 10));
                return;
            }
            case Behaviour.TargetedMac:
            {
                // L2, adaptively: a VIEW-CHANGE for each of the next two views, ready at their primaries before any
                // correct replica asks for them, whose MACs only that primary accepts.
                if (_byzTicks % 2 != 0) return;
                var zero = new byte[Digests.Size];
                for (ulong w = core.View + 1; w <= core.View + 2; w++)
                {
                    uint primary = (uint)(w % (ulong)_n);
                    if (primary == _faulty) continue;
                    var template = src.LastViewChange ?? Forge.MinimalViewChange(src.Auth, _n, w, core.LowWatermark, zero);
                    Net(_faulty, primary, Forge.WithView(src.Auth, template, w, r => r == primary), 0);
                }
                return;
            }
            case Behaviour.EmptyBatches:
            {
                ulong view = core.View;
                if (view % (ulong)_n != _faulty || core.InViewChange) return;
                ulong executed = 0, low = 0;
                foreach (var nd in _nodes) if (IsCorrect(nd.Id)) { executed = Math.Max(executed, nd.Cores[0].LastExecuted); low = Math.Max(low, nd.Cores[0].LowWatermark); }
                if (_emptyView != view) { _emptyView = view; _emptyNext = executed + 1; }
                ulong hi = Math.Min(executed + (ulong)_p.MaxInflightBatches, low + (ulong)_p.Window);
                for (ulong seq = Math.Max(_emptyNext, executed + 1); seq <= hi; seq++)
                {
                    Broadcast(_faulty, Forge.EmptyPrePrepare(src.Builder, src.Auth, view, seq));
                    _emptyNext = seq + 1;
                }
                return;
            }
        }
    }

    private void Broadcast(uint from, byte[] msg)
    {
        for (uint r = 0; r < _n; r++) if (r != from) Net(from, r, msg, 0);
    }

    /// <summary>A REQUEST with a 4 KiB operation (the largest the verifiers accept; the counter service ignores it).</summary>
    private byte[] BuildBigRequest(SimClient c, ulong rid)
    {
        var body = c.Builder.BeginVector(MessageType.Request, 0, rid, 4096);
        for (int i = 0; i < body.Length; i += 8) BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(i), _rng.Next());
        return c.Builder.SealVector().ToArray();
    }

    /// <summary>One step of the Byzantine client (at activation, then on its own schedule).</summary>
    private void ByzantineClientStep(SimClient c)
    {
        switch (_sc.Behaviour)
        {
            case Behaviour.ConflictingClient:
            {
                if (c.Done >= RequestsFor) return;
                c.Rid++;
                c.Attempt = 0;
                long value = (long)(_rng.Next() % 1_000_000);
                c.Request = BuildRequest(c, c.Rid, value);
                c.RequestB = BuildRequest(c, c.Rid, value + 1);
                SendConflicting(c);
                c.Done++;
                Schedule(_now + 30, Kind.ClientTimer, c.Id, c.Id, null, c.Rid, 0);
                return;
            }
            case Behaviour.EdgeIds:
            {
                // L5: the first request (id 1) at activation — with the checkpoint-boundary timing it straddles a
                // checkpoint — then ids 0, 2^64−1, jumps …, each to a seeded proper subset of the replicas.
                // Half the seeds send only id 0 (never executed, never forwarded) to half the replicas: whoever
                // received it knows the client and the others do not, for good.
                if (c.Steps >= 12) return;
                if (c.Steps == 0) c.RequestB = _rng.Chance(0.5) ? [0] : [1];
                bool onlyZero = c.RequestB![0] == 0;
                ulong[] ids = [1, 0, ulong.MaxValue, 2, 1UL << 32, ulong.MaxValue - 1, c.Rid + (1UL << 40), _rng.Next()];
                ulong rid = onlyZero ? 0 : ids[c.Steps % ids.Length];
                c.Steps++;
                c.Rid = Math.Max(c.Rid, rid == ulong.MaxValue ? c.Rid : rid);
                var req = BuildRequest(c, rid, (long)(_rng.Next() % 1_000_000));
                ulong subset = 0;
                if (onlyZero)
                {
                    var perm = Enumerable.Range(0, _n).ToList();
                    for (int i = 0; i < _n / 2; i++) { int k = _rng.Int(perm.Count); subset |= 1UL << perm[k]; perm.RemoveAt(k); }
                }
                else for (int r = 0; r < _n; r++) if (_rng.Chance(0.5)) subset |= 1UL << r;
                if (subset == 0) subset = 1UL << _rng.Int(_n);
                if (subset == (1UL << _n) - 1) subset &= ~(1UL << _rng.Int(_n));
                for (uint r = 0; r < _n; r++) if ((subset >> (int)r & 1) != 0) Net(c.Id, r, req, 0);
                Schedule(_now + 20, Kind.ClientStart, c.Id, c.Id, null);
                return;
            }
            case Behaviour.SpuriousPanic or Behaviour.PanicStorm:
                PanicClientStep(c);
                return;
            case Behaviour.Flood:
            {
                // R2: new request ids as fast as the primary takes them.
                if (c.Steps >= 150) return;
                c.Steps++;
                ulong view = 0;
                foreach (var nd in _nodes) if (IsCorrect(nd.Id)) view = Math.Max(view, nd.Cores[0].View);
                for (int i = 0; i < 8; i++)
                {
                    c.Rid++;
                    var req = BuildBigRequest(c, c.Rid);
                    if (c.Steps == 1) for (uint r = 0; r < _n; r++) Net(c.Id, r, req, 0);
                    else Net(c.Id, (uint)(view % (ulong)_n), req, 0);
                }
                Schedule(_now + TickMs, Kind.ClientStart, c.Id, c.Id, null);
                return;
            }
        }
    }
}
