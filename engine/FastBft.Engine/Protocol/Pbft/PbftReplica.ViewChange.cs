using System.Buffers.Binary;
using FastBft.Wire;

namespace FastBft.Protocol.Pbft;

/// <summary>
/// PBFT view change (PROTOCOLS.md §3.6; PBFT-PR §4.5, Figs. 2–3). See docs/view-change.md for the
/// authentication decision: VIEW-CHANGE messages carry replica-vector MACs, and NEW-VIEW embeds the
/// 2f+1 (or more) VIEW-CHANGE messages verbatim, so every backup checks its own MAC entry of each
/// one and re-runs the decision procedure itself (no VIEW-CHANGE-ACKs).
/// </summary>
public sealed partial class PbftReplica
{
    private bool _inViewChange;
    private int _vcAttempts;
    private long _vcStallTicks;
    private ulong _vcProgressMark;
    private readonly Dictionary<uint, ulong> _awaiting = new();                  // backup: client → request id seen and not executed
    private readonly Dictionary<uint, byte[]> _awaitingMessages = new();         // client → that REQUEST (re-sent to a new primary)
    private readonly Dictionary<ulong, (byte[] Digest, ulong View)> _pset = new();
    private readonly Dictionary<ulong, (byte[] Digest, ulong View)> _qset = new();
    private readonly Dictionary<ulong, byte[]> _pBatches = new();                // seq → PRE-PREPARE message of the P entry
    private readonly Dictionary<ulong, Dictionary<uint, byte[]>> _vcs = new();   // view → sender → VIEW-CHANGE message
    private byte[]? _ownVc;
    private byte[]? _newViewMessage;                                             // the NEW-VIEW of the current view
    private readonly Dictionary<ulong, byte[]> _nvDigests = new();               // seq → digest NEW-VIEW fixed for this view
    private ulong _nvMaxSeq;

    /// <summary>True while this replica is between VIEW-CHANGE and NEW-VIEW.</summary>
    public bool InViewChange => _inViewChange;
    /// <summary>View changes this replica started.</summary>
    public long ViewChangesStarted { get; private set; }
    /// <summary>NEW-VIEWs installed.</summary>
    public long NewViewsInstalled { get; private set; }

    private sealed class Decision
    {
        public ulong H;
        public byte[] HDigest = [];
        public ulong MaxSeq;
        public readonly SortedDictionary<ulong, byte[]?> Chosen = new();   // null = null request
        public readonly List<uint> CheckpointHolders = new();
    }

    /// <summary>A backup saw client request (client, rid) it has not executed: the view-change timer runs until it executes.</summary>
    private void AwaitRequest(uint client, ulong rid, ReadOnlySpan<byte> message)
    {
        if (_awaiting.TryGetValue(client, out var r) && r >= rid) return;
        _awaiting[client] = rid;
        _awaitingMessages[client] = message.ToArray();   // only requests clients multicast: first ones and retransmissions
    }

    private void Executed(uint client, ulong rid)
    {
        if (_awaiting.Count != 0 && _awaiting.TryGetValue(client, out var r) && r <= rid) { _awaiting.Remove(client); _awaitingMessages.Remove(client); }
    }

    private int ViewChangeTimeout => _s.ViewChangeTicks << Math.Min(_vcAttempts, 4);   // doubles per consecutive attempt (capped at 16×)

    /// <summary>On a timeout: the next view, or the lowest higher view some replica already asked for (so replicas that drifted apart meet again).</summary>
    private ulong NextViewOnTimeout()
    {
        ulong next = ulong.MaxValue;
        foreach (var v in _vcs.Keys) if (v > View && v < next) next = v;
        return next == ulong.MaxValue ? View + 1 : next;
    }

    private void ViewChangeTick()
    {
        if (LastExecuted != _vcProgressMark)
        {
            _vcProgressMark = LastExecuted;
            _vcStallTicks = 0;
            if (!_inViewChange) _vcAttempts = 0;
        }
        if (_inViewChange)
        {
            if (_tick % _s.RetransmitTicks == 0 && _ownVc is not null) Broadcast(_ownVc);   // VIEW-CHANGE retransmission
            // PBFT §4.5.2: the timer for view v+1 starts only once 2f+1 VIEW-CHANGEs for v+1 arrived, so a
            // replica that is cut off (or alone in suspecting) does not run away into ever higher views.
            if (!_vcs.TryGetValue(View, out var forView) || forView.Count < 2 * _s.F + 1) return;
            if (++_vcStallTicks >= ViewChangeTimeout) StartViewChange(NextViewOnTimeout());
            return;
        }
        if (_awaiting.Count == 0 || IsPrimary) { _vcStallTicks = 0; return; }
        if (++_vcStallTicks >= ViewChangeTimeout) StartViewChange(View + 1);
    }

    private void StartViewChange(ulong newView)
    {
        if (newView <= View && _inViewChange) return;
        // Fig. 2: fold the log of the current view into PSet/QSet (only (h, h+L]).
        ulong hi = HighWatermark;
        for (ulong seq = LowWatermark + 1; seq <= hi; seq++)
        {
            var slot = SlotOf(seq);
            if (slot.Seq != seq || !slot.HasPrePrepare) continue;
            if (slot.Prepared && (!_pset.TryGetValue(seq, out var pe) || pe.View <= slot.View))
            {
                _pset[seq] = (slot.Digest.ToArray(), slot.View);
                _pBatches[seq] = slot.PrePrepareMessage.ToArray();
            }
            if (!_qset.TryGetValue(seq, out var qe) || qe.View <= slot.View) _qset[seq] = (slot.Digest.ToArray(), slot.View);
        }
        Prune(_pset); Prune(_qset);
        foreach (var k in _pBatches.Keys.Where(k => k <= LowWatermark || !_pset.ContainsKey(k)).ToList()) _pBatches.Remove(k);

        View = newView;
        _inViewChange = true;
        _vcStallTicks = 0;
        _vcAttempts++;
        _nvDigests.Clear();
        _nvMaxSeq = 0;
        _newViewMessage = null;
        ViewChangesStarted++;

        var cps = _checkpoints.OwnAtOrAbove(LowWatermark);
        if (cps.Count == 0 || cps[0].Seq != LowWatermark) cps.Insert(0, (LowWatermark, _checkpoints.StableDigest.ToArray()));
        var pps = _pset.Keys.Where(_pBatches.ContainsKey).OrderBy(k => k).Select(k => _pBatches[k]).ToList();
        int len = ViewChangeBody.Fixed + cps.Count * ViewChangeBody.CheckpointEntry + (_pset.Count + _qset.Count) * ViewChangeBody.SetEntry + pps.Sum(p => 4 + p.Length);
        var body = _builder.BeginVector(MessageType.ViewChange, newView, LastExecuted, len);
        BinaryPrimitives.WriteUInt64LittleEndian(body, LowWatermark);
        BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(8), (ushort)cps.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(10), (ushort)_pset.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(12), (ushort)_qset.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(14), (ushort)pps.Count);
        int off = ViewChangeBody.Fixed;
        foreach (var (seq, d) in cps) { BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(off), seq); d.CopyTo(body.Slice(off + 8)); off += ViewChangeBody.CheckpointEntry; }
        foreach (var set in new[] { _pset, _qset })
            foreach (var (seq, e) in set.OrderBy(kv => kv.Key))
            {
                BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(off), seq);
                BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(off + 8), e.View);
                e.Digest.CopyTo(body.Slice(off + 16));
                off += ViewChangeBody.SetEntry;
            }
        foreach (var p in pps) { BinaryPrimitives.WriteInt32LittleEndian(body.Slice(off), p.Length); p.CopyTo(body.Slice(off + 4)); off += 4 + p.Length; }
        _ownVc = _builder.SealVector().ToArray();
        Broadcast(_ownVc);
        RecordViewChange(_id, newView, _ownVc);
        if (Primary == _id) TryNewView();
    }

    private void Prune(Dictionary<ulong, (byte[] Digest, ulong View)> set)
    {
        foreach (var k in set.Keys.Where(k => k <= LowWatermark || k > HighWatermark).ToList()) set.Remove(k);
    }

    private void RecordViewChange(uint sender, ulong view, byte[] message)
    {
        if (!_vcs.TryGetValue(view, out var bySender)) _vcs[view] = bySender = new Dictionary<uint, byte[]>();
        bySender[sender] = message;
        foreach (var old in _vcs.Keys.Where(v => v + 2 < View).ToList()) _vcs.Remove(old);
    }

    private void OnViewChange(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        ulong w = h.View;
        if (w < View) return;
        if (w == View && !_inViewChange)
        {
            // A late or retransmitted VIEW-CHANGE for the view we are in: its sender missed the NEW-VIEW.
            if (IsPrimary && _newViewMessage is not null) _out.SendToReplica(h.Sender, _newViewMessage);
            return;
        }
        RecordViewChange(h.Sender, w, message.ToArray());
        if (w > View || !_inViewChange)
        {
            // Liveness rule (PBFT-PR §4.5.2): f+1 replicas ask for views above ours ⇒ join the smallest of them.
            ulong senders = 0; ulong smallest = ulong.MaxValue;
            foreach (var (v, bySender) in _vcs)
            {
                if (v <= View || (v == View && _inViewChange)) continue;
                foreach (var s in bySender.Keys) senders |= 1UL << (int)s;
                if (v < smallest) smallest = v;
            }
            if (System.Numerics.BitOperations.PopCount(senders) >= _s.F + 1) StartViewChange(smallest);
            return;
        }
        if (Primary == _id) TryNewView();
    }

    /// <summary>New primary: with 2f+1 VIEW-CHANGEs for the current view, decide (Fig. 3) and send NEW-VIEW.</summary>
    private void TryNewView()
    {
        if (!_inViewChange || Primary != _id || !_vcs.TryGetValue(View, out var bySender) || bySender.Count < 2 * _s.F + 1) return;
        var parsed = new List<ViewChangeBody>();
        foreach (var (sender, msg) in bySender.OrderBy(kv => kv.Key))
        {
            MessageHeader.TryParse(msg, int.MaxValue, out var vh);
            var vc = ViewChangeBody.TryParse(sender, MessageHeader.Body(msg, vh));
            if (vc is not null) parsed.Add(vc);
        }
        var batches = new Dictionary<string, byte[]>();
        foreach (var vc in parsed) foreach (var pp in vc.PrePrepares) AddBatch(batches, pp);
        foreach (var pp in _pBatches.Values) AddBatch(batches, pp);
        var decision = Decide(parsed, batches);
        if (decision is null) return;
        int len = 4 + bySender.Values.Sum(m => 4 + m.Length);
        var body = _builder.BeginVector(MessageType.NewView, View, decision.MaxSeq, len);
        BinaryPrimitives.WriteUInt16LittleEndian(body, (ushort)bySender.Count);
        body[2] = 0; body[3] = 0;
        int off = 4;
        foreach (var (_, msg) in bySender.OrderBy(kv => kv.Key)) { BinaryPrimitives.WriteInt32LittleEndian(body.Slice(off), msg.Length); msg.CopyTo(body.Slice(off + 4)); off += 4 + msg.Length; }
        _newViewMessage = _builder.SealVector().ToArray();
        Broadcast(_newViewMessage);
        InstallNewView(decision, parsed, batches);
    }

    /// <summary>Keeps a PRE-PREPARE's batch if its content hashes to its digest field (checked before re-proposing).</summary>
    private static void AddBatch(Dictionary<string, byte[]> batches, byte[] prePrepare)
    {
        if (MessageHeader.TryParse(prePrepare, int.MaxValue, out var h) != ParseStatus.Ok || h.Type != MessageType.PrePrepare) return;
        var body = MessageHeader.Body(prePrepare, h);
        if (body.Length < Bodies.PrePrepareFixed) return;
        var key = Convert.ToHexString(Bodies.BatchDigest(body));
        if (batches.ContainsKey(key) || !BatchDigestMatches(body)) return;
        batches[key] = body.ToArray();
    }

    private static bool BatchDigestMatches(ReadOnlySpan<byte> body)
    {
        int count = Bodies.BatchCount(body);
        var digests = new byte[count * Digests.Size];
        var reader = new BatchReader(body);
        Span<byte> bodyDigest = stackalloc byte[Digests.Size];
        for (int i = 0; i < count; i++)
        {
            if (!reader.Next(out var req) || MessageHeader.TryParse(req, int.MaxValue, out var rh) != ParseStatus.Ok) return false;
            Digests.AuthBody(MessageHeader.Body(req, rh), bodyDigest);
            Digests.Request(req.Slice(0, MessageHeader.Size), bodyDigest, digests.AsSpan(i * Digests.Size));
        }
        Span<byte> d = stackalloc byte[Digests.Size];
        Digests.Batch(digests, d);
        return d.SequenceEqual(Bodies.BatchDigest(body));
    }

    /// <summary>
    /// PBFT-PR Fig. 3. <paramref name="batches"/> (hex digest → PRE-PREPARE body) is the new primary's
    /// condition A3; backups pass null and instead check the primary's PRE-PREPAREs against the result.
    /// Returns null if the VIEW-CHANGEs do not determine every slot yet.
    /// </summary>
    private Decision? Decide(List<ViewChangeBody> s, Dictionary<string, byte[]>? batches)
    {
        int quorum = 2 * _s.F + 1, weak = _s.F + 1;
        var dec = new Decision();
        bool found = false;
        foreach (var (n, d) in s.SelectMany(m => m.C).OrderByDescending(c => c.Seq))
        {
            if (found && n <= dec.H) break;
            if (s.Count(m => m.H <= n) < quorum) continue;
            if (s.Count(m => m.C.Any(c => c.Seq == n && c.Digest.AsSpan().SequenceEqual(d))) < weak) continue;
            dec.H = n; dec.HDigest = d; found = true;
            dec.CheckpointHolders.Clear();
            foreach (var m in s) if (m.C.Any(c => c.Seq == n && c.Digest.AsSpan().SequenceEqual(d))) dec.CheckpointHolders.Add(m.Sender);
            break;
        }
        if (!found) return null;
        ulong top = dec.H;
        foreach (var m in s) foreach (var p in m.P) if (p.Seq > top && p.Seq <= dec.H + (ulong)_s.Window) top = p.Seq;
        for (ulong n = dec.H + 1; n <= top; n++)
        {
            byte[]? chosen = null; bool decided = false;
            foreach (var m in s)
            {
                if (!m.TryGetP(n, out var v, out var d)) continue;
                int a1 = s.Count(m2 => m2.H < n && (!m2.TryGetP(n, out var v2, out var d2) || v2 < v || (v2 == v && d2.AsSpan().SequenceEqual(d))));
                if (a1 < quorum) continue;
                int a2 = s.Count(m2 => m2.TryGetQ(n, out var v2, out var d2) && v2 >= v && d2.AsSpan().SequenceEqual(d));
                if (a2 < weak) continue;
                if (batches is not null && !batches.ContainsKey(Convert.ToHexString(d))) continue;
                chosen = d; decided = true; break;
            }
            if (!decided && s.Count(m => m.H < n && !m.TryGetP(n, out _, out _)) >= quorum) decided = true;   // B: null request
            if (!decided) return null;
            dec.Chosen[n] = chosen;
        }
        dec.MaxSeq = top;
        return dec;
    }

    private void OnNewView(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        ulong w = h.View;
        if (w < View || (w == View && !_inViewChange)) return;
        var body = MessageHeader.Body(message, h);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(body);
        var parsed = new List<ViewChangeBody>();
        var rest = body.Slice(4);
        for (int i = 0; i < count; i++)
        {
            int len = BinaryPrimitives.ReadInt32LittleEndian(rest);
            var vc = rest.Slice(4, len);
            rest = rest.Slice(4 + len);
            MessageHeader.TryParse(vc, int.MaxValue, out var vh);
            // Our own VIEW-CHANGE has no MAC entry for us: it must be byte-identical to the one we sent.
            if (vh.Sender == _id && (_ownVc is null || w != View || !vc.SequenceEqual(_ownVc))) { StartViewChange(w + 1); return; }
            parsed.Add(ViewChangeBody.TryParse(vh.Sender, MessageHeader.Body(vc, vh))!);
        }
        if (parsed.Count < 2 * _s.F + 1) return;
        var decision = Decide(parsed, batches: null);
        if (decision is null || decision.MaxSeq != h.Sequence) { Stats.BadNewViews++; StartViewChange(w + 1); return; }
        if (w > View) { View = w; _vcAttempts++; }
        _newViewMessage = message.ToArray();             // forwarded to peers that missed it (any replica can check it)
        InstallNewView(decision, parsed, null);
    }

    private void InstallNewView(Decision dec, List<ViewChangeBody> parsed, Dictionary<string, byte[]>? batches)
    {
        _inViewChange = false;
        _vcStallTicks = 0;
        NewViewsInstalled++;
        // The chosen checkpoint: fetch it if we are behind, else make it stable if our own digest agrees.
        Span<byte> own = stackalloc byte[Digests.Size];
        if (dec.H > LastExecuted)
        {
            _latestCpSeq ??= new ulong[_n];
            _latestCpDigest ??= new byte[_n * Digests.Size];
            foreach (var r in dec.CheckpointHolders) { _latestCpSeq[r] = dec.H; dec.HDigest.CopyTo(_latestCpDigest.AsSpan((int)r * Digests.Size)); }
            _fetchSeq = dec.H; dec.HDigest.CopyTo(_fetchDigest); _fetchReceived = 0; _fetchTotal = -1;
            _fetchStall = 2 * _s.RetransmitTicks; _fetchFrom = dec.CheckpointHolders.Count > 0 ? dec.CheckpointHolders[0] : _fetchFrom;
        }
        else if (dec.H > LowWatermark && _checkpoints.TryGetOwn(dec.H, own) && own.SequenceEqual(dec.HDigest))
        {
            LowWatermark = dec.H;
            _checkpoints.MakeStable(dec.H);
        }
        // Clear the log of the old view: slots above the checkpoint start afresh in the new view.
        ulong low = Math.Max(dec.H, LowWatermark);
        for (ulong n = low + 1; n <= low + (ulong)_s.Window; n++)
        {
            var slot = SlotOf(n);
            slot.Reset(n, View);
            if (n <= LastExecuted) slot.Executed = true;
        }
        _nvDigests.Clear();
        Span<byte> nullDigest = stackalloc byte[Digests.Size];
        Digests.Batch(ReadOnlySpan<byte>.Empty, nullDigest);
        foreach (var (n, d) in dec.Chosen) _nvDigests[n] = d ?? nullDigest.ToArray();
        _nvMaxSeq = dec.MaxSeq;
        LastAssigned = Math.Max(dec.MaxSeq, Math.Max(LastExecuted, dec.H));
        foreach (var k in _vcs.Keys.Where(v => v <= View).ToList()) _vcs.Remove(k);
        if (Primary != _id)
        {
            // Hand the requests we are waiting for to the new primary (its clients may be backing off).
            foreach (var (client, msg) in _awaitingMessages.OrderBy(kv => kv.Key)) _out.SendToReplica(Primary, msg);
            return;
        }
        // New primary: requests not in the new log will be retransmitted by their clients.
        _pending.Clear();
        foreach (var rec in _clients.All) rec.HighestQueuedRid = rec.LastExecutedRid;
        Span<byte> reqDigest = stackalloc byte[Digests.Size];
        Span<byte> bodyDigest = stackalloc byte[Digests.Size];
        foreach (var (client, msg) in _awaitingMessages.OrderBy(kv => kv.Key))
        {
            MessageHeader.TryParse(msg, int.MaxValue, out var rh);
            var rec = _clients.Get(client);
            if (rh.Sequence <= rec.LastExecutedRid) continue;
            Digests.AuthBody(MessageHeader.Body(msg, rh), bodyDigest);
            Digests.Request(msg.AsSpan(0, MessageHeader.Size), bodyDigest, reqDigest);
            rec.HighestQueuedRid = rh.Sequence;
            _pending.Enqueue(client, rh.Sequence, msg, reqDigest);
        }
        _awaiting.Clear(); _awaitingMessages.Clear();
        foreach (var (n, d) in dec.Chosen)
        {
            if (n <= LowWatermark) continue;
            byte[]? batch = d is null ? null : batches![Convert.ToHexString(d)];
            ProposeFixed(n, batch, _nvDigests[n]);
        }
        EndOfBurst();
    }

    /// <summary>New primary: PRE-PREPARE(v, n) for a batch NEW-VIEW fixed (or a null request).</summary>
    private void ProposeFixed(ulong seq, byte[]? batchBody, byte[] digest)
    {
        int len = batchBody?.Length ?? Bodies.PrePrepareFixed;
        var body = _builder.BeginVector(MessageType.PrePrepare, View, seq, len);
        if (batchBody is not null) batchBody.CopyTo(body);
        else { digest.CopyTo(body); body.Slice(32, 4).Clear(); }
        var msg = _builder.SealVector(digest);
        var slot = SlotOf(seq);
        slot.Reset(seq, View);
        if (seq <= LastExecuted) slot.Executed = true;
        slot.StorePrePrepare(msg, digest);
        Broadcast(msg);
        Advance(slot);
    }

    /// <summary>Backups in a view NEW-VIEW fixed: a PRE-PREPARE must carry the chosen digest.</summary>
    private bool ConflictsWithNewView(ulong seq, ReadOnlySpan<byte> digest)
        => seq <= _nvMaxSeq && _nvDigests.TryGetValue(seq, out var d) && !digest.SequenceEqual(d);
}
