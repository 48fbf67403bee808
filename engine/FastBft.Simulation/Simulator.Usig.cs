using System.Buffers.Binary;
using FastBft.Agreement.MinBft;
using FastBft.Auth;
using FastBft.TrustedHw;
using FastBft.Wire;

namespace FastBft.Simulation;

/// <summary>
/// USIG protocols (MinBFT; docs/simulation.md, "MinBFT"): the Byzantine strategies on certified messages and the
/// counter-order oracle. A faulty node has one USIG (<see cref="Node.Usig"/>) shared by all its instances; every
/// certified message it emits (its cores' and the adversary's forgeries, which <see cref="Forge.Recertify"/> certifies
/// with that USIG, i.e. with the next counter) is kept in its wire log by counter, so the adversary can answer UI-FETCHes
/// for counters its cores do not know and withhold a counter from chosen receivers for good.
/// </summary>
public sealed partial class Simulator
{
    private readonly Dictionary<ulong, byte[]> _wireLog = new();                 // faulty node: counter → the certified message it sent with that UI
    private readonly Dictionary<ulong, ulong> _withheld = new();                 // faulty node: counter → bitmask of the replicas that never get it
    private readonly HashSet<SlotDigest> _faultyCertified = new();              // (s, D(batch)) the faulty node certified in a PREPARE or COMMIT
    private readonly Dictionary<(uint To, uint From), (ulong Epoch, ulong Counter)> _handledUi = new();
    private int _withheldCount, _certifiedAfterActivation;
    private readonly HashSet<(uint To, ulong Seq)> _checkpointBeyondWindow = new();   // correct replica got a CHECKPOINT for Seq while Seq was above its window

    /// <summary>Certified messages (by UI) the faulty replica withheld from some receivers (counter gaps it opened).</summary>
    public int WithheldCounters => _withheld.Count;
    /// <summary>Messages the faulty replica changed and re-certified under a new counter (a second, wrong CHECKPOINT; a conflicting COMMIT).</summary>
    public int ForgedCertified { get; private set; }
    /// <summary>Certified messages acted on by correct replicas (counter-order oracle checks), over the run so far.</summary>
    public long CounterOrderChecks { get; private set; }

    private static bool IsCertified(byte[] msg)
        => msg.Length >= MessageHeader.Size + UsigCertificateScheme.Length
           && BinaryPrimitives.ReadUInt16LittleEndian(msg.AsSpan(28)) == UsigCertificateScheme.Length
           && msg[msg.Length - UsigCertificateScheme.Length] == (byte)AuthenticatorKind.UsigCertificate
           && (MessageType)msg[3] is MessageType.UiPrepare or MessageType.UiCommit or MessageType.UiCheckpoint;

    /// <summary>The MinBFT core of a replica core: MinBFT's itself, an active ReMinBFT replica's composed one (null: none, e.g. a passive ReMinBFT replica).</summary>
    internal static MinBftReplica? MinBftCoreOf(Agreement.IReplicaCore core)
        => core as MinBftReplica ?? (core as Agreement.ReMinBft.ReMinBftReplica)?.Core;

    private static ulong CounterOf(byte[] msg) => BinaryPrimitives.ReadUInt64LittleEndian(msg.AsSpan(msg.Length - UsigCertificateScheme.Length + Authenticator.TrailerHeaderSize + 8));

    /// <summary>Hooks the counter-order oracle into a correct MinBFT core.</summary>
    private void AttachCounterOrderOracle(uint id, Agreement.IReplicaCore core)
    {
        if (MinBftCoreOf(core) is not { } mb || !IsCorrect(id)) return;
        mb.CertifiedHandled = (sender, type, epoch, counter) => CheckCounterOrder(id, sender, type, epoch, counter);
        mb.CounterOrderJumped = (sender, epoch, counter) => NoteCounterJump(id, sender, epoch, counter);
    }

    /// <summary>
    /// Counter-order oracle: correct replica <paramref name="to"/> acts on certified messages of <paramref name="from"/>
    /// with counters 1, 2, 3, … of one epoch (a parked message retried repeats its counter); a skipped or older counter is
    /// a violation (Thesis §2.2.1, §5.4.1: a replica handles a peer's messages in that peer's counter order).
    /// </summary>
    private void CheckCounterOrder(uint to, uint from, MessageType type, ulong epoch, ulong counter)
    {
        CounterOrderChecks++;
        if (_handledUi.TryGetValue((to, from), out var last))
        {
            if (epoch == last.Epoch && (counter == last.Counter || counter == last.Counter + 1)) { _handledUi[(to, from)] = (epoch, counter); return; }
            Fail("counter-order", $"replica {to} acted on {type} of replica {from} with UI (epoch {epoch}, counter {counter}) at {_now} ms after counter {last.Counter} of epoch {last.Epoch}");
            return;
        }
        if (counter != 1)
        {
            Fail("counter-order", $"replica {to} acted on {type} of replica {from} with UI (epoch {epoch}, counter {counter}) at {_now} ms as its first message of that sender (expected counter 1)");
            return;
        }
        _handledUi[(to, from)] = (epoch, counter);
    }

    /// <summary>
    /// Installing a NEW-VIEW moved <paramref name="to"/>'s counter order of <paramref name="from"/> past that sender's
    /// VIEW-CHANGE UI (epoch, counter) carried in the NEW-VIEW (docs/minbft.md §5.5): counters before it that the replica
    /// never handled are summarised by the view change, so the oracle expects counter + 1 next. A jump backwards (an older
    /// epoch, or a counter below one already handled in the same epoch) is a violation.
    /// </summary>
    private void NoteCounterJump(uint to, uint from, ulong epoch, ulong counter)
    {
        if (_handledUi.TryGetValue((to, from), out var last) && (epoch < last.Epoch || epoch == last.Epoch && counter < last.Counter))
        {
            Fail("counter-order", $"replica {to} moved its counter order of replica {from} back to (epoch {epoch}, counter {counter}) at {_now} ms after counter {last.Counter} of epoch {last.Epoch}");
            return;
        }
        _handledUi[(to, from)] = (epoch, counter);
    }

    /// <summary>
    /// The faulty node emits certified message <paramref name="msg"/> to <paramref name="to"/>: records it in the wire log
    /// (the first time its counter leaves) and decides withholding. Returns false if <paramref name="to"/> must not get it.
    /// </summary>
    private bool EmitCertified(Node src, uint to, byte[] msg)
    {
        ulong counter = CounterOf(msg);
        if (!_wireLog.ContainsKey(counter))
        {
            RecordCertified(msg, counter);
            if (_active) OnFirstCertified(src, msg, counter);
        }
        return !(to < _n && _withheld.TryGetValue(counter, out ulong mask) && (mask >> (int)to & 1) != 0);
    }

    private void RecordCertified(byte[] msg, ulong counter)
    {
        _wireLog[counter] = msg;
        var type = (MessageType)msg[3];
        if (type is MessageType.UiPrepare or MessageType.UiCommit)
            _faultyCertified.Add(SlotDigest.Of(BinaryPrimitives.ReadUInt64LittleEndian(msg.AsSpan(16)), msg.AsSpan(MessageHeader.Size, Digests.Size)));
    }

    /// <summary>A certified message leaves the faulty node for the first time after activation: the strategies that act once per counter.</summary>
    private void OnFirstCertified(Node src, byte[] msg, ulong counter)
    {
        var type = (MessageType)msg[3];
        _certifiedAfterActivation++;
        if (Is(Behaviour.WithholdCertified) && (_withheldCount == 0 || _certifiedAfterActivation % 16 == 0))
        {
            // Some receivers get it, the others never do: a random non-empty proper subset of the peers misses it.
            ulong mask = 0;
            var peers = Enumerable.Range(0, _n).Select(i => (uint)i).Where(i => i != _faulty).ToList();
            int miss = 1 + _rng.Int(peers.Count - 1);
            for (int i = 0; i < miss; i++) { int k = _rng.Int(peers.Count); mask |= 1UL << (int)peers[k]; peers.RemoveAt(k); }
            _withheld[counter] = mask;
            _withheldCount++;
        }
        else if (Is(Behaviour.WithholdCheckpoint) && type == MessageType.UiCheckpoint)
        {
            // At the switch-back timing, docs/reminbft.md §7's counterexample: one correct replica (the lowest-numbered of the scenario's
            // random targets) lacks the faulty replica's CHECKPOINTs, every other one gets them. Otherwise withheld from everybody.
            _withheld[counter] = _sc.Timing == FaultTiming.SwitchBack && _targets.Count > 0 ? 1UL << (int)_targets.Min() : (1UL << _n) - 1;
            _withheldCount++;
        }
        else if (Is(Behaviour.ConflictingCommit) && type == MessageType.UiCommit && src.Usig is { } cusig)
        {
            // A second COMMIT for the same (v, s) naming the same leader UI with another digest, certified with the next counter, to everybody.
            var other = (byte[])msg.Clone();
            other[MessageHeader.Size] ^= 0x5A;
            if (Forge.Recertify(cusig, other))
            {
                RecordCertified(other, CounterOf(other));
                ForgedCertified++;
                Broadcast(_faulty, other);
            }
        }
        else if (Is(Behaviour.WrongCheckpoint) && type == MessageType.UiCheckpoint && src.Usig is { } usig)
        {
            // A second CHECKPOINT for the same s with a wrong state digest, certified with the next counter, to everybody.
            var wrong = (byte[])msg.Clone();
            wrong[MessageHeader.Size] ^= 0x5A;
            if (Forge.Recertify(usig, wrong))
            {
                RecordCertified(wrong, CounterOf(wrong));
                ForgedCertified++;
                Broadcast(_faulty, wrong);
            }
        }
    }

    /// <summary>
    /// The faulty node answers a UI-FETCH(epoch, counter) from its wire log (counters its cores do not hold: the other
    /// instance's, the adversary's forgeries), up to 16 messages, stopping at a counter withheld from the asker.
    /// </summary>
    private void AnswerUiFetch(uint from, byte[] msg)
    {
        if (from >= _n || msg.Length < MessageHeader.Size + 16 || _wireLog.Count == 0) return;
        if (!(Is(Behaviour.Equivocate) || Is(Behaviour.Twins) || Is(Behaviour.WrongCheckpoint) || Is(Behaviour.ConflictingCommit))) return;   // the others' counters are all in the core's sent log
        ulong counter = BinaryPrimitives.ReadUInt64LittleEndian(msg.AsSpan(MessageHeader.Size + 8));
        if (msg.Length >= MessageHeader.Size + 20 && BinaryPrimitives.ReadUInt32LittleEndian(msg.AsSpan(MessageHeader.Size + 16)) != _faulty) return;   // asks for a third replica's messages
        for (ulong c = Math.Max(counter, 1); c < Math.Max(counter, 1) + 16; c++)
        {
            if (!_wireLog.TryGetValue(c, out var m)) return;
            if (_withheld.TryGetValue(c, out ulong mask) && (mask >> (int)from & 1) != 0) return;
            Net(_faulty, from, m, 0);
        }
    }

    /// <summary>
    /// MinBFT liveness failures: why the cell stands still, per replica behind the most advanced correct one (a faulty
    /// replica is marked *): "bound … and never committed them" (slots it holds a PREPARE for that a correct replica
    /// executed, so the COMMITs it lacks were lost and never fetched again), "idle behind" (nothing bound, nothing parked:
    /// it lost the last certified messages of its peers and has no gap to notice). Null for other protocols or no stall.
    /// </summary>
    private string? MinBftStall()
    {
        if (_nodes.Length == 0 || _nodes[0].Usig is null) return null;
        var correct = _nodes.Where(nd => IsCorrect(nd.Id)).ToList();
        var top = correct.MaxBy(nd => nd.Cores[0].LastExecuted)!;
        ulong t = top.Cores[0].LastExecuted;
        var parts = new List<string>();
        foreach (var nd in _nodes)
        {
            if (nd.Dead || Crashed(nd.Id) || MinBftCoreOf(nd.Cores[0]) is not { } mb) continue;
            string who = $"replica {nd.Id}{(IsCorrect(nd.Id) ? "" : "*")}";
            if (mb.LastPrepared > mb.LastExecuted && t > mb.LastExecuted)
                parts.Add($"{who} bound {mb.LastExecuted + 1}..{mb.LastPrepared} and never committed them while replica {top.Id} executed up to {t} ({mb.DescribeState()})");
            else if (IsCorrect(nd.Id) && mb.LastExecuted < t && mb.LastPrepared == mb.LastExecuted && mb.DescribeState().Contains(" parked 0 ", StringComparison.Ordinal))
                parts.Add($"{who} idle behind: executed {mb.LastExecuted}, nothing bound, nothing parked, while replica {top.Id} executed {t} ({mb.DescribeState()})");
            else if (IsCorrect(nd.Id) && SettledTarget() is var target && target > mb.LowWatermark && mb.LastExecuted >= target)
                parts.Add(_checkpointBeyondWindow.Contains((nd.Id, target))
                    ? $"{who} executed checkpoint {target} but it never became stable there: the CHECKPOINTs for {target} it received while {target} was beyond its window were not counted ({mb.DescribeState()})"
                    : $"{who} executed checkpoint {target} but it never became stable there: the peers' CHECKPOINTs it lacks were lost and never fetched again ({mb.DescribeState()})");
        }
        return parts.Count == 0 ? null : "minbft stall: " + string.Join("; ", parts);
    }

    /// <summary>Diagnosis only: a correct replica receives a CHECKPOINT above its window (used for <see cref="MinBftStall"/>).</summary>
    private void ObserveCertifiedDelivery(uint to, Agreement.IReplicaCore core, in MessageHeader h)
    {
        if (h.Type == MessageType.UiCheckpoint && IsCorrect(to) && h.Sequence > core.LowWatermark + (ulong)_p.Window) _checkpointBeyondWindow.Add((to, h.Sequence));
    }

    /// <summary>Invalid UI: the proof of a certified message to a target replica is corrupted (the verifier must reject it).</summary>
    private static void CorruptUi(byte[] msg) => msg[msg.Length - UniqueIdentifier.ProofSize + 3] ^= 0x01;

    /// <summary>Replayed UI with a modified body: a copy of an old certified message with one body byte changed and the old UI kept.</summary>
    private byte[] ModifiedUnderOldUi(byte[] msg)
    {
        var copy = (byte[])msg.Clone();
        int body = BinaryPrimitives.ReadInt32LittleEndian(copy.AsSpan(24));
        if (body > 0) copy[MessageHeader.Size + _rng.Int(body)] ^= 0x20;
        return copy;
    }
}
