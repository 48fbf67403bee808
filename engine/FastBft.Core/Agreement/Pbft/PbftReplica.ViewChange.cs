using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.Wire;

namespace FastBft.Agreement.Pbft;

/// <summary>
/// PBFT view change (PROTOCOLS.md §3.6; PBFT-PR §4.5, Figs. 2–3; docs/view-change.md states every
/// rule with its section). VIEW-CHANGE and NEW-VIEW are Ed25519-signed, so a NEW-VIEW embeds the
/// VIEW-CHANGEs it used and carries its decision, every replica checks the decision against them,
/// and any replica can forward it to one that missed it.
/// </summary>
public sealed partial class PbftReplica
{
    private bool _inViewChange;
    private int _vcAttempts;
    private long _vcStallTicks;
    private long _vcProgressMark;
    private ulong _primaryProgressMark;
    private long _primaryStallTicks;                              // L3: progress = an awaited request executed
    private readonly AwaitedRequests _awaited = new();                        // follower: requests seen and not executed (view-change timer)
    private readonly Dictionary<ulong, (byte[] Digest, ulong View)> _pset = new();
    private readonly Dictionary<ulong, List<(byte[] Digest, ulong View)>> _qset = new();   // seq → up to f+2 digests, latest view each
    private readonly Dictionary<ulong, byte[]> _pBatches = new();                // seq → PRE-PREPARE body of the P entry
    private readonly Dictionary<(ulong, string), byte[]> _qBatches = new();      // (seq, hex digest) → PRE-PREPARE body of a Q entry
    /// <summary>Per sender: its VIEW-CHANGEs for views ≥ ours, lowest views first, at most <see cref="VcPerSender"/> (R1: 4n messages, whatever senders send).</summary>
    private readonly List<StoredViewChange>[] _vcs;

    /// <summary>A VIEW-CHANGE kept for counting, joining or deciding; its signature is checked once, when the new primary first uses it.</summary>
    private sealed class StoredViewChange(ulong view, byte[] message, ViewChangeBody body)
    {
        public readonly ulong View = view;
        public readonly byte[] Message = message;
        public readonly ViewChangeBody Body = body;
        public bool SignatureChecked;
    }
    private const int VcPerSender = 4;
    private byte[]? _ownVc;
    private byte[]? _newViewMessage;                                             // the last NEW-VIEW installed (any replica forwards it)
    private ulong _newViewView;
    private readonly Dictionary<ulong, byte[]> _nvDigests = new();               // seq → digest the NEW-VIEW fixed for this view
    private ulong _nvMaxSeq;
    private readonly Dictionary<string, byte[]> _fetchedBatches = new();         // new primary: hex digest → batch body (A3)
    private readonly Dictionary<string, ulong> _wantedBatches = new();           // new primary: hex digest → seq it is needed at
    private long _batchAnswersTick = -1;
    private long[] _nvForwardedTick = [];
    private long[] _lastHeard = [];
    private string _lastDecision = "";
    private int _batchAnswers;

    /// <summary>True while this replica is between VIEW-CHANGE and NEW-VIEW.</summary>
    public bool InViewChange => _inViewChange;
    /// <summary>View changes this replica started.</summary>
    public long ViewChangesStarted => Stats.ViewChangesStarted;
    /// <summary>NEW-VIEWs installed.</summary>
    public long NewViewsInstalled => Stats.NewViewsInstalled;

    /// <summary>One line of view-change state for failure reports: view, whether waiting for NEW-VIEW, VIEW-CHANGEs held per sender, awaited requests, timer.</summary>
    public string DescribeState()
    {
        var sb = new System.Text.StringBuilder();
        sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"v{View}{(_inViewChange ? " waiting-NV" : "")} vcs[");
        for (int r = 0; r < _n; r++) sb.Append(string.Join("/", _vcs[r].Select(e => e.View))).Append(r + 1 < _n ? "," : "");
        sb.Append(System.Globalization.CultureInfo.InvariantCulture, $"] awaiting {_awaited.Count} stall {_vcStallTicks}/{ViewChangeTimeout} nv {_newViewView} badNV {Stats.BadNewViews} last {LastExecuted} h {LowWatermark} assigned {LastAssigned} pending {_pending.Count} decision: {_lastDecision}");
        return sb.ToString();
    }

    /// <summary>A backup saw client request (client, rid) it has not executed: the view-change timer runs until it executes (PBFT-PR §4.5.2).</summary>
    private void AwaitRequest(uint client, ulong rid, ReadOnlySpan<byte> message)
        => _awaited.Await(client, rid, message);

    private void Executed(uint client, ulong rid)
        => _awaited.Executed(client, rid);

    /// <summary>L7: after a state transfer, requests the installed reply cache shows executed are no longer awaited.</summary>
    private void ForgetExecutedAwaited()
        => _awaited.ForgetExecuted(_exec.Replies);

    private int ViewChangeTimeout => _s.ViewChangeTicks << Math.Min(_vcAttempts, 4);   // doubles per consecutive attempt (capped at 16×)

    /// <summary>True if authenticated messages from at least f other replicas arrived within the last <see cref="ReplicaParameters.ViewChangeTicks"/> ticks.</summary>
    private bool HearsQuorum()
    {
        int heard = 0;
        for (int r = 0; r < _n; r++) if (r != _id && _tick - _lastHeard[r] <= _s.ViewChangeTicks) heard++;
        return heard >= _s.F;
    }

    private int ViewChangesFor(ulong view)
    {
        int c = 0;
        for (int r = 0; r < _n; r++) if (TryGetViewChange(r, view, out _)) c++;
        return c;
    }

    private void ViewChangeTick()
    {
        // PBFT-PR §4.5.2: the timer restarts when an awaited request executes, not on any execution (L3).
        if (_awaited.ExecutedCount != _vcProgressMark)
        {
            _vcProgressMark = _awaited.ExecutedCount;
            _vcStallTicks = 0;
            if (!_inViewChange) _vcAttempts = 0;
        }
        // A generation that ordered everything it may (its switch-back point, docs/repbft.md §6) suspects nobody: the
        // requests waiting for the next generation are not the primary's fault.
        if (!_inViewChange && LastExecuted >= _maxSequence) { _vcStallTicks = 0; _primaryStallTicks = 0; return; }
        if (_inViewChange)
        {
            if (_tick % _s.RetransmitTicks == 0)
            {
                if (_ownVc is not null) Broadcast(_ownVc);                           // VIEW-CHANGE retransmission
                if (IsPrimary) TryNewView();                                          // re-asks for missing batches
            }
            // The timer for view v+1 starts only once 2f+1 VIEW-CHANGEs for v+1 arrived (§4.5.2), so a replica
            // that is cut off, or alone in suspecting, does not run away into ever higher views.
            if (ViewChangesFor(View) < 2 * _s.F + 1) return;
            if (++_vcStallTicks >= ViewChangeTimeout) StartViewChange(View + 1);
            return;
        }
        if (IsPrimary)
        {
            // L10: a primary whose own batches stop committing (peers gone into a view change, a faulty replica
            // authenticating for some peers only) suspects its view too, after twice the backups' timeout, so the
            // correct replicas meet again in the next view. Any execution progress restarts it.
            if (LastExecuted != _primaryProgressMark) { _primaryProgressMark = LastExecuted; _primaryStallTicks = 0; _vcAttempts = 0; }
            else if (LastAssigned > LastExecuted || _pending.Count > 0)
            {
                if (++_primaryStallTicks >= 2 * ViewChangeTimeout) { _primaryStallTicks = 0; StartViewChange(View + 1); }
            }
            else _primaryStallTicks = 0;
            _vcStallTicks = 0;
            return;
        }
        // A backup that is fetching a stable checkpoint (f+1 vouch that the cell is ahead of it) waits for its own
        // state, not for the primary: a restarted or cut-off replica must not start a view change alone (it
        // could not leave it again until the others move).
        if (_awaited.Count == 0 || _stateTransfer.Fetching) { _vcStallTicks = 0; return; }
        // A backup that has heard from fewer than f other replicas lately (every replica sends STATUS each
        // RetransmitTicks) is cut off itself: its VIEW-CHANGE could not even make f+1 others join, and it could
        // not leave the view change again once reconnected. The timer pauses until it hears from them again.
        if (!HearsQuorum()) return;
        if (++_vcStallTicks >= ViewChangeTimeout) StartViewChange(View + 1);
    }

    /// <summary>
    /// PBFT-PR Fig. 2: folds the current log into P (prepared, newest view per n) and Q (pre-prepared,
    /// newest view per n) — before every view change, and before installing a NEW-VIEW this replica
    /// sent no VIEW-CHANGE for (S1), so no prepared certificate is lost. Batches of P and Q entries are
    /// kept to answer BATCH-FETCH.
    /// </summary>
    private void FoldLog()
    {
        ulong hi = HighWatermark;
        for (ulong seq = LowWatermark + 1; seq <= hi; seq++)
        {
            var slot = SlotOf(seq);
            if (slot.Seq != seq || !slot.HasPrePrepare) continue;
            var body = MessageHeader.Body(slot.PrePrepareMessage, PrePrepareHeader(slot));
            if (slot.Prepared && (!_pset.TryGetValue(seq, out var pe) || pe.View <= slot.View))
            {
                _pset[seq] = (slot.Digest.ToArray(), slot.View);
                _pBatches[seq] = body.ToArray();
            }
            if (!_qset.TryGetValue(seq, out var q)) _qset[seq] = q = new();
            int at = q.FindIndex(e => e.Digest.AsSpan().SequenceEqual(slot.Digest));
            if (at >= 0) { if (q[at].View < slot.View) q[at] = (q[at].Digest, slot.View); }
            else
            {
                q.Add((slot.Digest.ToArray(), slot.View));
                _qBatches[(seq, Convert.ToHexString(slot.Digest))] = body.ToArray();
                if (q.Count > ViewChangeBody.QDigestsPerSeq(_s.F))
                {
                    // PBFT-PR §4.5: keep f+2 digests per n, dropping the one of the lowest view.
                    int low = 0;
                    for (int i = 1; i < q.Count; i++) if (q[i].View < q[low].View) low = i;
                    _qBatches.Remove((seq, Convert.ToHexString(q[low].Digest)));
                    q.RemoveAt(low);
                }
            }
        }
        PruneCertificates();
    }

    private static MessageHeader PrePrepareHeader(LogSlot slot)
    {
        MessageHeader.TryParse(slot.PrePrepareMessage, int.MaxValue, out var h);
        return h;
    }

    private void PruneCertificates()
    {
        ulong lo = LowWatermark, hi = HighWatermark;
        List<ulong>? drop = null;
        foreach (var k in _qset.Keys) if (k <= lo || k > hi) (drop ??= new()).Add(k);
        foreach (var k in _pset.Keys) if (k <= lo || k > hi) (drop ??= new()).Add(k);
        if (drop is null) return;
        foreach (var k in drop)
        {
            if (_qset.TryGetValue(k, out var q)) foreach (var e in q) _qBatches.Remove((k, Convert.ToHexString(e.Digest)));
            _pset.Remove(k); _qset.Remove(k); _pBatches.Remove(k);
        }
    }

    private void StartViewChange(ulong newView)
    {
        if (newView <= View) return;                     // never back, never twice for one view
        FoldLog();
        View = newView;
        foreach (var list in _vcs) list.RemoveAll(e => e.View < newView);
        _inViewChange = true;
        _vcStallTicks = 0;
        _vcAttempts++;
        _nvDigests.Clear();
        _nvMaxSeq = 0;
        _fetchedBatches.Clear(); _wantedBatches.Clear();
        Stats.ViewChangesStarted++;

        var cps = _checkpoints.OwnAtOrAbove(LowWatermark);
        if (cps.Count == 0 || cps[0].Seq != LowWatermark) cps.Insert(0, (LowWatermark, _checkpoints.StableDigest.ToArray()));
        var p = SortedEntries(_pset);
        var q = new List<(ulong Seq, ulong View, byte[] Digest)>();
        foreach (var (seq, list) in _qset) foreach (var e in list) q.Add((seq, e.View, e.Digest));
        q.Sort((a, b) => a.Seq != b.Seq ? a.Seq.CompareTo(b.Seq) : a.Digest.AsSpan().SequenceCompareTo(b.Digest));   // the wire order (ViewChangeBody.IsWellFormed)
        var body = _builder.BeginVector(MessageType.ViewChange, newView, LastExecuted, ViewChangeBody.BodyLength(cps.Count, p.Count, q.Count));
        ViewChangeBody.Write(body, LowWatermark, cps, p, q);
        _ownVc = _builder.SealSignedVector().ToArray();
        PersistState(sync: true, viewRecord: true);      // docs/durability.md §4.2: view, P, Q and VIEW-CHANGE before it leaves
        Broadcast(_ownVc);
        MessageHeader.TryParse(_ownVc, int.MaxValue, out var oh);
        RecordViewChange(_id, newView, _ownVc, ViewChangeBody.TryParse(_id, newView, MessageHeader.Body(_ownVc, oh))!);
        if (Primary == _id) TryNewView();
    }

    private static List<(ulong Seq, ulong View, byte[] Digest)> SortedEntries(Dictionary<ulong, (byte[] Digest, ulong View)> set)
    {
        var list = new List<(ulong, ulong, byte[])>(set.Count);
        foreach (var (seq, e) in set) list.Add((seq, e.View, e.Digest));
        list.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return list;
    }

    /// <summary>
    /// Keeps a sender's VIEW-CHANGE for <paramref name="view"/> (the first one per view): the lowest
    /// <see cref="VcPerSender"/> views at or above ours, since those are the views this replica may still
    /// need to count 2f+1 for or join (R1: bounded whatever a faulty sender sends).
    /// </summary>
    private void RecordViewChange(uint sender, ulong view, byte[] message, ViewChangeBody body)
    {
        var list = _vcs[sender];
        int i = 0;
        while (i < list.Count && list[i].View < view) i++;
        if (i < list.Count && list[i].View == view) return;
        if (i >= VcPerSender) return;
        list.Insert(i, new StoredViewChange(view, message, body) { SignatureChecked = sender == _id });
        if (list.Count > VcPerSender) list.RemoveAt(list.Count - 1);
    }

    private bool TryGetViewChange(int sender, ulong view, out StoredViewChange entry)
    {
        foreach (var e in _vcs[sender]) if (e.View == view) { entry = e; return true; }
        entry = null!;
        return false;
    }

    /// <summary>Drops VIEW-CHANGEs for views at or below <paramref name="view"/> (after installing its NEW-VIEW).</summary>
    private void DropViewChangesUpTo(ulong view)
    {
        foreach (var list in _vcs) list.RemoveAll(e => e.View <= view);
    }

    private void OnViewChange(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        ulong w = h.View;
        if (w < View) { Stats.Ignored++; return; }
        if (w == View && !_inViewChange)
        {
            // A late or retransmitted VIEW-CHANGE for the view we are in: its sender missed the NEW-VIEW.
            if (_newViewView == View) ForwardNewView(h.Sender);
            return;
        }
        if (w - View > (ulong)_s.MaxViewLead) { Stats.FarViewChanges++; return; }   // L4/R1: no view far ahead (a lagging replica catches up by NEW-VIEW)
        if (TryGetViewChange((int)h.Sender, w, out _)) return;                      // a retransmission: kept already
        var vc = ViewChangeBody.TryParse(h.Sender, w, MessageHeader.Body(message, h));
        if (vc is null || !vc.WithinBounds(_s.Window, _s.CheckpointInterval, _s.F)) { Stats.Ignored++; return; }
        RecordViewChange(h.Sender, w, message.ToArray(), vc);
        if (w > View)
        {
            // Liveness rule (PBFT-PR §4.5.2): f+1 replicas ask for views above ours ⇒ join the smallest of them.
            // One faulty replica alone never chooses the view: the smallest of f+1 is some correct replica's or lower.
            int senders = 0; ulong smallest = ulong.MaxValue;
            for (int r = 0; r < _n; r++)
            {
                if (r == _id) continue;
                foreach (var e in _vcs[r])
                {
                    if (e.View <= View) continue;
                    senders++;                                   // the sender's lowest view above ours
                    if (e.View < smallest) smallest = e.View;
                    break;
                }
            }
            if (senders >= _s.F + 1) StartViewChange(smallest);
            return;
        }
        if (Primary == _id) TryNewView();
    }

    /// <summary>
    /// New primary: with ≥ 2f+1 VIEW-CHANGEs for the current view, decide (Fig. 3; A3 = it holds the
    /// batch, fetched with BATCH-FETCH if not) and send the signed NEW-VIEW.
    /// </summary>
    private void TryNewView()
    {
        if (!_inViewChange || Primary != _id) return;
        var s = new List<ViewChangeBody>();
        var used = new List<byte[]>();
        for (int r = 0; r < _n; r++)
        {
            if (!TryGetViewChange(r, View, out var e)) continue;
            if (!e.SignatureChecked)
            {
                // The MAC made it authentic to us; the NEW-VIEW must convince every backup, so the signature is
                // checked here, once (the verifier leaves it out: a faulty replica's flood of VIEW-CHANGEs for
                // views nobody decides then costs one MAC each, not one Ed25519 verification each).
                MessageHeader.TryParse(e.Message, int.MaxValue, out var vh);
                int signed = ViewChangeBody.SignedLength(vh);
                if (!_signatures.Verify(vh.Sender, e.Message.AsSpan(0, signed), e.Message.AsSpan(signed, ReplicaSignatures.SignatureSize)))
                {
                    _vcs[r].Remove(e);
                    Stats.BadViewChangeSignatures++;
                    continue;
                }
                e.SignatureChecked = true;
            }
            s.Add(e.Body); used.Add(e.Message);
        }
        if (s.Count < 2 * _s.F + 1) { _lastDecision = $"only {s.Count} VCs"; return; }
        if (!ViewChangeDecision.TrySelectCheckpoint(s, _s.F, out ulong hSeq, out var hDigest)) { _lastDecision = "no checkpoint"; return; }
        ulong top = ViewChangeDecision.Top(s, hSeq, _s.Window);
        var chosen = new List<byte[]>();
        var batches = new List<byte[]?>();
        bool missing = false;
        for (ulong n = hSeq + 1; n <= top; n++)
        {
            byte[]? pick = null, body = null;
            byte[]? wanted = null;
            foreach (var d in ViewChangeDecision.Candidates(s, _s.F, n))
            {
                if (d.AsSpan().SequenceEqual(ViewChangeDecision.NullDigest)) { pick = d; break; }
                body = FindBatch(n, d);
                if (body is not null) { pick = d; break; }
                wanted ??= d;
            }
            if (pick is null && ViewChangeDecision.B(s, _s.F, n)) { pick = ViewChangeDecision.NullDigest; body = null; }
            if (pick is null)
            {
                if (wanted is not null) { RequestBatch(n, wanted, s); missing = true; _lastDecision = $"missing batch {n}"; continue; }
                _lastDecision = $"undetermined at {n} with {s.Count} VIEW-CHANGEs";
                return;                                                   // undetermined: wait for more VIEW-CHANGEs
            }
            chosen.Add(pick);
            batches.Add(body);
        }
        if (missing) return;

        int len = NewViewBody.Fixed + chosen.Count * Digests.Size + ReplicaSignatures.SignatureSize;
        foreach (var m in used) len += 4 + m.Length;
        var nb = _builder.BeginVector(MessageType.NewView, View, top, len);
        BinaryPrimitives.WriteUInt16LittleEndian(nb, (ushort)used.Count);
        nb[2] = 0; nb[3] = 0;
        BinaryPrimitives.WriteUInt32LittleEndian(nb.Slice(4), (uint)chosen.Count);
        BinaryPrimitives.WriteUInt64LittleEndian(nb.Slice(8), hSeq);
        hDigest.CopyTo(nb.Slice(16));
        int off = NewViewBody.Fixed;
        foreach (var m in used) { BinaryPrimitives.WriteInt32LittleEndian(nb.Slice(off), m.Length); m.CopyTo(nb.Slice(off + 4)); off += 4 + m.Length; }
        foreach (var d in chosen) { d.CopyTo(nb.Slice(off)); off += Digests.Size; }
        _newViewMessage = _builder.SealSignedVector().ToArray();
        _newViewView = View;
        PersistState(sync: true, viewRecord: true);      // the NEW-VIEW before it leaves
        Broadcast(_newViewMessage);
        InstallNewView(hSeq, hDigest, chosen, CheckpointHolders(s, hSeq, hDigest), batches);
    }

    private List<uint> CheckpointHolders(List<ViewChangeBody> s, ulong hSeq, byte[] hDigest)
    {
        var holders = new List<uint>();
        foreach (var m in s) if (m.Sender != _id && m.HasCheckpoint(hSeq, hDigest)) holders.Add(m.Sender);
        return holders;
    }

    /// <summary>The batch body with digest <paramref name="d"/> for slot <paramref name="n"/>, from our log, our P/Q batches, or fetched ones.</summary>
    private byte[]? FindBatch(ulong n, byte[] d)
    {
        var slot = SlotOf(n);
        if (slot.Seq == n && slot.HasPrePrepare && slot.Digest.AsSpan().SequenceEqual(d))
            return MessageHeader.Body(slot.PrePrepareMessage, PrePrepareHeader(slot)).ToArray();
        if (_pBatches.TryGetValue(n, out var b) && Bodies.BatchDigest(b).SequenceEqual(d)) return b;
        if (_qBatches.TryGetValue((n, Convert.ToHexString(d)), out b)) return b;
        return _fetchedBatches.TryGetValue(Convert.ToHexString(d), out b) ? b : null;
    }

    /// <summary>Asks the replicas whose P or Q lists (n, d) for the batch (A3); re-asked on every retransmission tick.</summary>
    private void RequestBatch(ulong n, byte[] d, List<ViewChangeBody> s)
    {
        string key = Convert.ToHexString(d);
        bool first = !_wantedBatches.ContainsKey(key);
        _wantedBatches[key] = n;
        if (!first && _tick % _s.RetransmitTicks != 0) return;
        foreach (var m in s)
        {
            if (m.Sender == _id) continue;
            bool has = (m.TryGetP(n, out _, out var pd) && pd.AsSpan().SequenceEqual(d)) || m.HasQ(n, 0, d);
            if (!has) continue;
            var body = _builder.BeginVector(MessageType.BatchFetch, View, n, Digests.Size);
            d.CopyTo(body);
            _out.SendToReplica(m.Sender, _builder.SealVector());
            Stats.BatchFetchesSent++;
        }
    }

    /// <summary>
    /// Sends the NEW-VIEW we installed to a peer that missed it, at most once per peer per tick (a faulty
    /// peer's STATUS or VIEW-CHANGE flood is not amplified into NEW-VIEW traffic).
    /// </summary>
    private void ForwardNewView(uint peer)
    {
        if (_newViewMessage is null || _nvForwardedTick[peer] == _tick) return;
        _nvForwardedTick[peer] = _tick;
        _out.SendToReplica(peer, _newViewMessage);
    }

    /// <summary>Batches answered per tick (BATCH-FETCH); a correct new primary asks again on its next retransmission tick.</summary>
    private const int BatchAnswersPerTick = 8;

    private void OnBatchFetch(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        // Only the primary of the view we wait for asks (it decides NEW-VIEW from our VIEW-CHANGE), and a few
        // answers per tick: no amplification for a faulty replica.
        if (h.View != View || !_inViewChange || h.Sender != Primary) { Stats.Ignored++; return; }
        if (_batchAnswersTick != _tick) { _batchAnswersTick = _tick; _batchAnswers = 0; }
        if (++_batchAnswers > BatchAnswersPerTick) return;
        var d = MessageHeader.Body(message, h).ToArray();
        var batch = FindBatch(h.Sequence, d);
        if (batch is null) return;
        var body = _builder.BeginVector(MessageType.Batch, h.View, h.Sequence, batch.Length);
        batch.CopyTo(body);
        _out.SendToReplica(h.Sender, _builder.SealVector());
    }

    private void OnBatch(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (!_inViewChange || !IsPrimary || h.View != View) { Stats.Ignored++; return; }
        var body = MessageHeader.Body(message, h);
        string key = Convert.ToHexString(Bodies.BatchDigest(body));   // the verifier recomputed the digest from the requests
        if (!_wantedBatches.TryGetValue(key, out ulong n) || n != h.Sequence || _fetchedBatches.ContainsKey(key)) return;
        _fetchedBatches[key] = body.ToArray();
        TryNewView();
    }

    private void OnNewView(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        ulong w = h.View;
        if (w < View || (w == View && !_inViewChange)) return;
        // The verifier checked the primary's signature, every embedded VIEW-CHANGE's signature and the structure.
        var nv = NewViewBody.TryParse(h, MessageHeader.Body(message, h), _n, int.MaxValue, null);
        if (nv is null) { Stats.BadNewViews++; return; }
        if (!NewViewIsSupported(nv))
        {
            // Provably bad (it is signed): a faulty primary. Move on if we are waiting for this view.
            Stats.BadNewViews++;
            if (w == View) StartViewChange(w + 1);
            return;
        }
        if (!(w == View && _inViewChange)) FoldLog();        // S1: we sent no VIEW-CHANGE for w; keep our certificates
        View = w;
        _newViewMessage = message.ToArray();                 // forwarded to peers that missed it (any replica can check it)
        _newViewView = w;
        PersistState(sync: true, viewRecord: true);          // before we act in view w
        InstallNewView(nv.H, nv.HDigest, nv.Chosen, CheckpointHolders(nv.ViewChanges, nv.H, nv.HDigest), null);
    }

    /// <summary>
    /// L6 (PBFT-PR §4.5): the embedded VIEW-CHANGEs (≥ 2f+1) support the primary's decision — the same
    /// checkpoint Fig. 3 selects, every n in (H, top] fixed, and each choice satisfying A1 ∧ A2 or B.
    /// </summary>
    private bool NewViewIsSupported(NewViewBody nv)
    {
        var s = nv.ViewChanges;
        if (s.Count < 2 * _s.F + 1) return false;
        foreach (var m in s) if (!m.WithinBounds(_s.Window, _s.CheckpointInterval, _s.F)) return false;
        if (!ViewChangeDecision.TrySelectCheckpoint(s, _s.F, out ulong hSeq, out var hDigest)) return false;
        if (hSeq != nv.H || !hDigest.AsSpan().SequenceEqual(nv.HDigest)) return false;
        ulong top = ViewChangeDecision.Top(s, hSeq, _s.Window);
        if (top - hSeq != (ulong)nv.Chosen.Count) return false;
        for (int i = 0; i < nv.Chosen.Count; i++)
            if (!ViewChangeDecision.Supports(s, _s.F, hSeq + 1 + (ulong)i, nv.Chosen[i])) return false;
        return true;
    }

    private void InstallNewView(ulong hSeq, byte[] hDigest, List<byte[]> chosen, IReadOnlyList<uint> checkpointHolders, List<byte[]?>? batches)
    {
        _inViewChange = false;
        _vcStallTicks = 0;
        Stats.NewViewsInstalled++;
        if (hSeq > LowWatermark)
        {
            // The chosen checkpoint is stable (f+1 vouch for it, so a correct replica holds it). S2: the window
            // moves to it even if our state is behind — nothing at or below it is agreed again — and we fetch it.
            Span<byte> own = stackalloc byte[Digests.Size];
            bool haveOwn = hSeq <= LastExecuted && _checkpoints.TryGetOwn(hSeq, own) && own.SequenceEqual(hDigest);
            LowWatermark = hSeq;
            if (haveOwn) _checkpoints.MakeStable(hSeq); else _checkpoints.SetStable(hDigest);
            if (hSeq > LastExecuted) _stateTransfer.FetchCertified(hSeq, hDigest, checkpointHolders);   // fetch on the next tick
            Stats.StableCheckpoints++;
        }
        PruneCertificates();
        // The log of the old view is cleared: slots above the checkpoint start afresh in the new view.
        ulong low = LowWatermark;
        for (ulong n = low + 1; n <= low + (ulong)_s.Window; n++)
        {
            var slot = SlotOf(n);
            slot.Reset(n, View);
            if (n <= LastExecuted) slot.Executed = true;
        }
        if (LowWatermark > 0) PersistState(sync: false, viewRecord: false, deleteThrough: LowWatermark);
        _nvDigests.Clear();
        for (int i = 0; i < chosen.Count; i++) _nvDigests[hSeq + 1 + (ulong)i] = chosen[i];
        ulong top = hSeq + (ulong)chosen.Count;
        _nvMaxSeq = top;
        LastAssigned = Math.Max(top, Math.Max(LastExecuted, LowWatermark));
        DropViewChangesUpTo(View);
        _fetchedBatches.Clear(); _wantedBatches.Clear();
        if (Primary != _id)
        {
            // Hand the requests we are waiting for to the new primary (its clients may be backing off).
            foreach (var (_, msg) in _awaited.Messages) _out.SendToReplica(Primary, msg);
            return;
        }
        // New primary: re-propose what the NEW-VIEW fixed, then queue the awaited requests it did not fix
        // (one request at one sequence number only).
        var fixedRequests = new HashSet<(uint, ulong)>();
        for (int i = 0; i < chosen.Count; i++)
        {
            ulong n = hSeq + 1 + (ulong)i;
            var body = batches![i];
            if (body is not null)
            {
                var reader = new BatchReader(body);
                while (reader.Next(out var req))
                    if (MessageHeader.TryParse(req, int.MaxValue, out var rh) == ParseStatus.Ok) fixedRequests.Add((rh.Sender, rh.Sequence));
            }
            if (n > LowWatermark) ProposeFixed(n, body, chosen[i]);
        }
        _pending.Clear();
        foreach (var rec in _clients.All) { rec.HighestQueuedRid = _exec.Replies.LastExecutedRid(rec.ClientId); rec.Queued = false; rec.DeferredRid = 0; }
        foreach (var (client, rid) in fixedRequests)
            if (_clients.TryGet(client, out var rec3) && rec3.HighestQueuedRid < rid) rec3.HighestQueuedRid = rid;
        Span<byte> reqDigest = stackalloc byte[Digests.Size];
        Span<byte> bodyDigest = stackalloc byte[Digests.Size];
        var clients = new List<uint>(_awaited.Messages.Keys);
        clients.Sort();
        foreach (var client in clients)
        {
            var msg = _awaited.Messages[client];
            MessageHeader.TryParse(msg, int.MaxValue, out var rh);
            var rec = _clients.Get(client);
            if (rh.Sequence <= rec.HighestQueuedRid || fixedRequests.Contains((client, rh.Sequence))) continue;
            Digests.AuthBody(MessageHeader.Body(msg, rh), bodyDigest);
            Digests.Request(msg.AsSpan(0, MessageHeader.Size), bodyDigest, reqDigest);
            rec.HighestQueuedRid = rh.Sequence;
            rec.Queued = true;
            _pending.Enqueue(client, rh.Sequence, msg, reqDigest);
        }
        _awaited.Clear();
        EndOfBurst();
    }

    /// <summary>
    /// Starts this core from a verified SWITCH (RePBFT → PBFT, Thesis §5.3.2.4; docs/repbft.md §5): view
    /// <paramref name="view"/> (its primary is the transition coordinator), the execution stage already at
    /// <paramref name="lastExecuted"/> (nothing at or below it is executed again, Thesis §5.3.3), the global history's
    /// checkpoint and one PBFT instance per slot above it — <paramref name="chosen"/>[i] binds slot hSeq+1+i to that
    /// batch digest, <see cref="ViewChangeDecision.NullDigest"/> to the null request. <paramref name="batches"/> holds
    /// the batch bodies this replica holds (the primary needs all; a later primary fetches missing ones with BATCH-FETCH). <paramref name="ownCheckpoints"/> are the checkpoints this replica
    /// took above the history's one, so the new core can stabilise them.
    /// </summary>
    internal void StartFromSwitch(ulong view, ulong lastExecuted, ulong hSeq, byte[] hDigest, List<byte[]> chosen, List<byte[]?>? batches,
        IReadOnlyList<uint> checkpointHolders, IReadOnlyList<(ulong Seq, byte[] Digest)> ownCheckpoints)
    {
        View = view;
        LastExecuted = lastExecuted;
        LastAssigned = lastExecuted;
        _startExecuted = lastExecuted;
        _startView = view;
        foreach (var (seq, d) in ownCheckpoints) if (seq <= lastExecuted) _checkpoints.RecordOwn(seq, d, _id);
        _newViewView = view;
        InstallNewView(hSeq, hDigest, chosen, checkpointHolders, batches);
        // The SWITCH fixes its slots for the whole generation, not only for its first view: every replica that installed
        // it holds them as prepared certificates of the start view (P and Q of PBFT-PR Fig. 2), so a VIEW-CHANGE before
        // they re-commit carries them and a later NEW-VIEW re-proposes them. Without this a replica that executed them in
        // the switched-from protocol could see fresh batches assigned to those sequence numbers (simulator bug B1).
        for (int i = 0; i < chosen.Count; i++)
        {
            ulong seq = hSeq + 1 + (ulong)i;
            if (seq <= LowWatermark || chosen[i].AsSpan().SequenceEqual(ViewChangeDecision.NullDigest)) continue;
            _pset[seq] = (chosen[i], view);
            _qset[seq] = [(chosen[i], view)];
            if (batches?[i] is { } body) { _pBatches[seq] = body; _qBatches[(seq, Convert.ToHexString(chosen[i]))] = body; }
        }
        foreach (var (seq, d) in ownCheckpoints) if (seq > LowWatermark && seq <= lastExecuted) BroadcastCheckpoint(seq, d);
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
        PersistSlot(slot, sentPrepare: false);
        Broadcast(msg);
        Advance(slot);
    }

    /// <summary>
    /// What the NEW-VIEW of this view says about a PRE-PREPARE for <paramref name="seq"/> with
    /// <paramref name="digest"/>: +1 it fixed exactly this digest (its batch is vouched for by the
    /// view-change certificates), −1 it fixed another one (a backup must reject it), 0 it fixed nothing there.
    /// </summary>
    private int NewViewVerdict(ulong seq, ReadOnlySpan<byte> digest)
    {
        if (seq > _nvMaxSeq || !_nvDigests.TryGetValue(seq, out var d)) return 0;
        return digest.SequenceEqual(d) ? 1 : -1;
    }
}
