using System.Buffers.Binary;
using FastBft.Wire;

namespace FastBft.Simulation;

/// <summary>A (sequence number, 32-byte digest) pair as a hashable value.</summary>
/// <param name="Seq">sequence number.</param>
/// <param name="A">digest bytes 0–7.</param>
/// <param name="B">digest bytes 8–15.</param>
/// <param name="C">digest bytes 16–23.</param>
/// <param name="D">digest bytes 24–31.</param>
public readonly record struct SlotDigest(ulong Seq, ulong A, ulong B, ulong C, ulong D)
{
    /// <summary>The pair (<paramref name="seq"/>, <paramref name="digest"/>).</summary>
    public static SlotDigest Of(ulong seq, ReadOnlySpan<byte> digest) => new(seq,
        BinaryPrimitives.ReadUInt64LittleEndian(digest), BinaryPrimitives.ReadUInt64LittleEndian(digest.Slice(8)),
        BinaryPrimitives.ReadUInt64LittleEndian(digest.Slice(16)), BinaryPrimitives.ReadUInt64LittleEndian(digest.Slice(24)));
}

/// <summary>The invariant checks (docs/simulation.md, "Invariants").</summary>
public sealed partial class Simulator
{
    /// <summary>
    /// A correct replica's outgoing message: a COMMIT(v, n, d) is its announcement that it prepared
    /// (n, d) (PBFT-PR §4.2), remembered for the commit-certificate oracle whatever happens to the slot
    /// later (view change, garbage collection). A message above the verifiers' size limit is a violation
    /// (peers would drop it; the transport's Send throws: issue 8 L8).
    /// </summary>
    private void ObserveCorrect(uint node, byte[] msg)
    {
        if (msg.Length > MessageHeader.Size + MaxMessageBody + Auth.Authenticator.VectorLength(_n))
            Fail("message-size", $"replica {node} emitted a {(MessageType)msg[3]} of {msg.Length} bytes at {_now} ms (limit: body {MaxMessageBody} bytes)");
        if (msg.Length >= MessageHeader.Size + Digests.Size && ((MessageType)msg[3] == MessageType.Commit
            && BinaryPrimitives.ReadInt32LittleEndian(msg.AsSpan(24)) == Digests.Size || IsCertified(msg) && (MessageType)msg[3] is MessageType.UiPrepare or MessageType.UiCommit
            && BinaryPrimitives.ReadUInt32LittleEndian(msg.AsSpan(4)) == node))   // its own, not another replica's certified message it relays (UI-FETCH)
            _nodes[node].PreparedEver.Add(SlotDigest.Of(BinaryPrimitives.ReadUInt64LittleEndian(msg.AsSpan(16)), msg.AsSpan(MessageHeader.Size, Digests.Size)));
    }

    /// <summary>Records the (seq, digest) pairs a correct replica holds prepared now (above what it executed).</summary>
    private void PollPrepared(Node node, Span<byte> d)
    {
        var core = node.Cores[0];
        ulong from = Math.Max(core.LastExecuted, core.LowWatermark) + 1, to = core.LowWatermark + (ulong)_p.Window;
        for (ulong s = from; s <= to; s++)
            if (core.TryGetLoggedDigest(s, d) && core.IsPreparedOrDone(s, d)) node.PreparedEver.Add(SlotDigest.Of(s, d));
    }

    private void AfterStep()
    {
        if (!_active)
        {
            if (_sc.Timing == FaultTiming.ViewChange && (_now >= HealTime / 2
                || _nodes.Any(nd => IsCorrect(nd.Id) && (_proto.Switches ? nd.Cores[0].InViewChange || nd.Cores[0].Generation > 0 : nd.Cores[0].View > 0)))) Activate();
            if (_proto.Switches) SwitchTimingActivation();
        }
        Span<byte> d = stackalloc byte[32];
        if (CommitCertificateOn && PollPreparedState)
            foreach (uint r in _stepTouched) if (IsCorrect(r)) PollPrepared(_nodes[r], d);
        foreach (var node in _nodes)
        {
            if (!IsCorrect(node.Id)) continue;
            var core = node.Cores[0];
            var svc = node.Services[0];
            ulong le = core.LastExecuted;
            if (le < node.LastSeen)
            {
                Fail("rollback", $"replica {node.Id}'s last executed sequence number went back from {node.LastSeen} to {le} at {_now} ms (state transfers so far: {svc.Restores})");
                return;
            }
            if (svc.ReExecution is not null) { Fail("re-execution", $"replica {node.Id} {svc.ReExecution} (at {_now} ms)"); return; }
            if (le == node.LastSeen) continue;
            bool transferred = svc.Restores != node.Restores;
            node.Restores = svc.Restores;
            for (ulong s = node.LastSeen + 1; s <= le && CommitCertificateOn; s++)
            {
                if (transferred && !svc.Fingerprints.ContainsKey(s) && (!_proto.Switches || s <= core.LowWatermark)) { node.Transferred.Add(s); continue; }
                if (!core.TryGetLoggedDigest(s, d)) continue;
                // f+1 correct replicas must have prepared exactly this batch at s, in some view (PBFT-PR §4.2, §4.5).
                var key = SlotDigest.Of(s, d);
                int prepared = 0;
                foreach (var other in _nodes) if (IsCorrect(other.Id) && other.PreparedEver.Contains(key)) prepared++;
                if (_proto.CertifiedCommitCertificate)
                {
                    // USIG protocols: f+1 distinct replicas certified (s, D(batch)) — the leader's PREPARE, the followers' COMMITs — the faulty one among them if it did.
                    int certified = prepared + (_faultyCertified.Contains(key) ? 1 : 0), need = _proto.Definition.Quorums(_f).Commit;
                    if (certified < need)
                        Fail("commit-certificate", $"replica {node.Id} executed seq {s} (digest {Convert.ToHexString(d[..4])}…) at {_now} ms while only {certified} replicas ({prepared} correct) had certified it in a PREPARE or COMMIT (need {need})");
                }
                else if (prepared < _f + 1)
                    Fail("commit-certificate", $"replica {node.Id} executed seq {s} (digest {Convert.ToHexString(d[..4])}…) at {_now} ms while only {prepared} correct replicas had prepared it (need f+1 = {_f + 1})");
            }
            // Switching protocols: only numbers up to the installed checkpoint were transferred; a null request executed
            // after it in the same step is an execution (it must match the others').
            ulong transferTop = _proto.Switches ? Math.Min(le, core.LowWatermark) : le;
            if (transferred) for (ulong s = node.LastSeen + 1; s <= transferTop; s++) if (!svc.Fingerprints.ContainsKey(s)) node.Transferred.Add(s);
            if (_proto.Switches)
            {
                RecordNormalExecution(node, node.LastSeen + 1, le, d);
                for (ulong s = node.LastSeen + 1; s <= le; s++) node.ExecutedIn[s] = (core.Generation, RePbft(node)?.RunsPbft ?? false);
            }
            if (Trace) for (ulong s = node.LastSeen + 1; s <= le; s++)
                Console.Error.WriteLine($"{_now,6} r{node.Id} exec {s} {(svc.AppliedSeqs.Contains(s) ? "applied" : Describe(node, s))} gen {core.Generation} v{core.View} {(core.TryGetLoggedDigest(s, d) ? Convert.ToHexString(d[..4]) : "-")} | {core.DescribeState()}");
            core.GetStateDigest(d);
            node.Digests[le] = Convert.ToHexString(d);
            node.LastSeen = le;
            if (!_active && _sc.Timing == FaultTiming.CheckpointBoundary && le >= (ulong)_p.CheckpointInterval) Activate();
            if (!_active && _sc.Timing == FaultTiming.PreCheckpoint && core.LowWatermark >= (ulong)_p.CheckpointInterval && le == core.LowWatermark + (ulong)_p.CheckpointInterval - 1) Activate();
        }
        if (_proto.Switches && _violation is null) CheckAcceptedSwitches();
    }

    private void CheckAgreementAndConvergence()
    {
        var correct = _nodes.Where(nd => IsCorrect(nd.Id)).ToList();
        if (_exec is not null)
        {
            // Selective execution (ODRC): replicas execute different requests by design; the protocol's oracle checks agreement
            // on the order, the executions and convergence of the copies instead (ISimExecutionOracle).
            if (_exec.Check(IsCorrect) is { } v) Fail(v.Invariant, v.Detail);
            return;
        }
        // The lowest sequence number at which two correct replicas executed different batches (the first divergence).
        ulong top = correct.Max(nd => nd.Cores[0].LastExecuted);
        for (ulong s = 1; s <= top; s++)
            for (int a = 0; a < correct.Count; a++)
            for (int b = a + 1; b < correct.Count; b++)
            {
                var x = correct[a]; var y = correct[b];
                if (s > x.Cores[0].LastExecuted || s > y.Cores[0].LastExecuted) continue;
                if (x.Transferred.Contains(s) || y.Transferred.Contains(s)) continue;
                if (x.Services[0].AppliedSeqs.Contains(s) || y.Services[0].AppliedSeqs.Contains(s)) continue;   // applied, not executed: convergence compares states
                x.Services[0].Fingerprints.TryGetValue(s, out ulong fx);
                y.Services[0].Fingerprints.TryGetValue(s, out ulong fy);
                if (fx != fy) { Fail("agreement", $"replicas {x.Id} and {y.Id} executed different batches at seq {s} ({Describe(x, s)} vs {Describe(y, s)}){SwitchSlotNote(s)}"); return; }
            }
        for (int a = 0; a < correct.Count; a++)
        for (int b = a + 1; b < correct.Count; b++)
        {
            var x = correct[a]; var y = correct[b];
            // Convergence is the protocol's notion: whole states for protocols where every replica executes
            // everything (ODRC compares the copies of maintained objects instead, in ISimExecutionOracle.Check above; ISimProtocol.WholeStateConverges).
            if (!_proto.WholeStateConverges) continue;
            foreach (var (s, dx) in x.Digests)
                if (y.Digests.TryGetValue(s, out var dy) && dx != dy) { Fail("convergence", $"replicas {x.Id} and {y.Id} have different state digests at seq {s}{GenerationsAt(x, y, s)}"); return; }
        }
    }

    private static string Describe(Node n, ulong s)
    {
        var reqs = n.Services[0].Log.Where(e => e.Info.Sequence == s).Select(e => $"{e.Info.ClientId}#{e.Info.RequestId}").ToList();
        return (reqs.Count == 0 ? "nothing" : string.Join("+", reqs)) + (n.ExecutedIn.TryGetValue(s, out var g) ? $" in {GenerationName(g)}" : "");
    }

    private void CheckValidity()
    {
        if (_exec?.ReferenceReplies is { } agreedOrder)
        {
            // Selective execution: the reference execution of the agreed order (ISimExecutionOracle.Check).
            foreach (var (client, rid, result) in _accepted)
            {
                if (!agreedOrder.TryGetValue((client, rid), out var want)) { Fail("validity", $"client {client} accepted a result for request {rid} that is not in the agreed order"); return; }
                if (!want.AsSpan().SequenceEqual(result)) { Fail("validity", $"client {client} accepted {Convert.ToHexString(result)} for request {rid}; sequential execution of the agreed order gives {Convert.ToHexString(want)}"); return; }
            }
            return;
        }
        // The committed order: per sequence number, the requests a correct replica executed there
        // (agreement makes them equal; replicas that state-transferred over a range have none there).
        var bySeq = new SortedDictionary<ulong, List<ExecutedRequest>>();
        foreach (var nd in _nodes.Where(nd => IsCorrect(nd.Id)))
            foreach (var g in nd.Services[0].Log.GroupBy(e => e.Info.Sequence))
                bySeq.TryAdd(g.Key, g.ToList());
        var reference = _serviceFactory();
        var expected = new Dictionary<(uint, ulong), byte[]>();
        var writer = new System.Buffers.ArrayBufferWriter<byte>();
        foreach (var e in bySeq.Values.SelectMany(l => l))
        {
            writer.ResetWrittenCount();
            reference.Execute(e.Info, e.Operation, writer, null);
            expected[(e.Info.ClientId, e.Info.RequestId)] = writer.WrittenSpan.ToArray();
        }
        foreach (var (client, rid, result) in _accepted)
        {
            if (!expected.TryGetValue((client, rid), out var want)) { Fail("validity", $"client {client} accepted a result for request {rid} that no correct replica executed"); return; }
            if (!want.AsSpan().SequenceEqual(result)) { Fail("validity", $"client {client} accepted {Convert.ToHexString(result)} for request {rid}; sequential execution of the committed order gives {Convert.ToHexString(want)}"); return; }
        }
    }

    private void CheckRetainedMemory()
    {
        foreach (var node in _nodes)
        {
            if (!IsCorrect(node.Id)) continue;
            long bytes = RetainedSize.Estimate(node.Cores[0], MaxRetainedBytes + 1);
            if (bytes > MaxRetainedBytes) { Fail("resource", $"replica {node.Id} retains more than {MaxRetainedBytes >> 20} MiB at the end of the run (≈{bytes >> 20} MiB counted)"); return; }
        }
    }
}
