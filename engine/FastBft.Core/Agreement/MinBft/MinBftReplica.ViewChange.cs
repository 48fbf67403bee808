using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.TrustedHw;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Agreement.MinBft;

/// <summary>
/// MinBFT view change (PROTOCOLS.md §4 [X], G17, after Veronese et al.; docs/minbft.md §5). A follower that waits too
/// long for a request it saw (<see cref="ReplicaParameters.ViewChangeTicks"/>, doubling per attempt) sends
/// REQ-VIEW-CHANGE(v+1); with f+1 of them (its own included) it moves to v+1 and multicasts a certified
/// VIEW-CHANGE(v+1, X, its stable checkpoint certificate, every certified message it sent from where the certificate
/// says its run starts up to the VIEW-CHANGE's own UI); f+1 VIEW-CHANGEs for a later view make a replica join. The new
/// leader sends a certified NEW-VIEW with f+1 VIEW-CHANGEs and the decision (<see cref="MinBftDecision"/>); every
/// replica installs it in the new leader's counter order (the first valid one for a view wins everywhere), recomputes
/// the decision, rejects any difference, and moves each VIEW-CHANGE sender's counter order past its VIEW-CHANGE —
/// accepting a new USIG epoch only here. The new leader then re-proposes the fixed batches as PREPAREs of the new view
/// (followers bind only the fixed digest) and continues with new batches.
/// </summary>
public sealed partial class MinBftReplica
{
    private bool _inViewChange;
    private int _vcAttempts;
    private long _vcStallTicks, _vcProgressMark;
    private readonly AwaitedRequests _awaited = new();                        // follower: requests seen and not executed (view-change timer)
    private ulong[] _reqViewChange = [];
    private bool _reqSent;
    private (ulong View, byte[] Message)?[] _vcs = [];
    private byte[]? _ownVc;
    private ulong _installedView, _newViewSentFor = ulong.MaxValue;
    private byte[]? _newViewMessage;
    private long[] _nvForwardedTick = [];

    /// <inheritdoc/>
    public bool InViewChange => _inViewChange;

    /// <summary>Limits for re-parsing view-change messages that a verifier (or this core) already accepted.</summary>
    private VerifierLimits CoreLimits => new(_n, (uint)_n, 1 << 30, 1 << 30, ushort.MaxValue);

    private int ViewChangeTimeout => _s.ViewChangeTicks << Math.Min(_vcAttempts, 4);

    private void InitViewChange()
    {
        _reqViewChange = new ulong[_n];
        _vcs = new (ulong, byte[])?[_n];
        _nvForwardedTick = new long[_n];
        Array.Fill(_nvForwardedTick, long.MinValue / 2);
    }

    /// <summary>A follower saw client request (client, rid) it has not executed: the view-change timer runs until it executes.</summary>
    private void AwaitRequest(uint client, ulong rid, ReadOnlySpan<byte> message)
        => _awaited.Await(client, rid, message);

    private void Executed(uint client, ulong rid)
        => _awaited.Executed(client, rid);

    /// <summary>After a state transfer: requests the installed reply cache shows executed are no longer awaited.</summary>
    private void ForgetExecutedAwaited()
        => _awaited.ForgetExecuted(_exec.Replies);

    private void ViewChangeTick()
    {
        if (_awaited.ExecutedCount != _vcProgressMark)
        {
            _vcProgressMark = _awaited.ExecutedCount;
            _vcStallTicks = 0;
            if (!_inViewChange) _vcAttempts = 0;
        }
        if (_inViewChange)
        {
            if (_tick % _s.RetransmitTicks == 0)
            {
                if (_ownVc is not null && _vcs[_id] is { } mine && mine.View == View) Broadcast(_ownVc);
                else RetryViewChange();
            }
            if (IsLeader) TrySendNewView();
            if (++_vcStallTicks >= ViewChangeTimeout)
            {
                // PBFT's rule (PBFT-PR §4.5.2 liveness): the NEW-VIEW timer runs only once f+1 replicas asked for this view.
                // A replica that moved alone keeps asking for this view instead of climbing views nobody else joins (V1).
                if (ViewChangesFor(View) >= _q.Weak) StartViewChange(View + 1);
                else _vcStallTicks = 0;
            }
            return;
        }
        if (_awaited.Count == 0) { _vcStallTicks = 0; return; }
        if (++_vcStallTicks < ViewChangeTimeout) return;
        if (!_reqSent || _tick % _s.RetransmitTicks == 0)
        {
            _reqSent = true;
            if (_reqViewChange[_id] < View + 1) _reqViewChange[_id] = View + 1;
            _builder.BeginVector(MessageType.ReqViewChange, View + 1, 0, 0);
            Broadcast(_builder.SealVector());
            Stats.ReqViewChangesSent++;
        }
        CheckRequestQuorum();
    }

    /// <summary>How many replicas (ourselves included) sent a VIEW-CHANGE for <paramref name="view"/> or a later view.</summary>
    private int ViewChangesFor(ulong view)
    {
        int c = 0;
        for (int r = 0; r < _n; r++) if (_vcs[r] is { } e && e.View >= view) c++;
        return c;
    }

    private void OnReqViewChange(in MessageHeader h)
    {
        if (h.Sender >= (uint)_n || h.View <= View) return;
        if (h.View > _reqViewChange[h.Sender]) _reqViewChange[h.Sender] = h.View;
        CheckRequestQuorum();
    }

    /// <summary>
    /// f+1 replicas (our own request included) suspect the leader: move to the next view. Moving on f+1 requests without
    /// our own (Veronese et al.'s rule) was tried and reverted: a 30,000-scenario sweep then found an agreement violation
    /// (seed 398085368, f2/follower/withholdcheckpoint/early/lagacrossviewchange; docs/minbft.md §7), so the view change
    /// has a safety hole that this trigger only hides — open, see the issue-12 note.
    /// </summary>
    private void CheckRequestQuorum()
    {
        if (_inViewChange) return;
        int c = 0;
        for (int r = 0; r < _n; r++) if (_reqViewChange[r] >= View + 1) c++;
        if (c >= _q.ViewChange) StartViewChange(View + 1);
    }

    /// <summary>
    /// A client reports (a justified PANIC, docs/reminbft.md §5.5) that it still lacks f+1 replies for a request this
    /// replica executed, while another replica already asks for a later view (REQ-VIEW-CHANGE or VIEW-CHANGE): our reply
    /// alone does not serve the client, so we join that request (REQ-VIEW-CHANGE(v+1)). Without another replica's request
    /// nothing happens, so a faulty client alone cannot move a view; a correct replica that moved alone is joined.
    /// </summary>
    public void SupportNextViewChange()
    {
        if (_inViewChange || !_viewChanges) return;
        bool asked = false;
        for (int r = 0; r < _n; r++) if (r != (int)_id && _reqViewChange[r] > View) asked = true;
        if (!asked) return;
        if (_reqViewChange[_id] < View + 1) _reqViewChange[_id] = View + 1;
        _builder.BeginVector(MessageType.ReqViewChange, View + 1, 0, 0);
        Broadcast(_builder.SealVector());
        Stats.ReqViewChangesSent++;
        CheckRequestQuorum();
    }

    /// <summary>
    /// In a view change without a VIEW-CHANGE of ours for it (it could not be built: fewer than f+1 certified CHECKPOINTs of
    /// our stable checkpoint are held): re-send our own certified CHECKPOINT of it (same bytes, same UI) so that peers that
    /// missed it store it — a switch's re-announcement reaches a replica that has not installed the switch yet as a
    /// non-member's message and is dropped, and two such replicas then wait for each other for good (sim: reminbft
    /// f1/coordinator/withholdcheckpoint/early/partitionheal seed 124178681) — and try to build the VIEW-CHANGE again.
    /// </summary>
    private void RetryViewChange()
    {
        if (LowWatermark > 0 && TryGetCheckpointMessage(LowWatermark, _id, out var own)) { Broadcast(own); Stats.CheckpointsResent++; }
        var body = BuildViewChangeBody();
        if (body is null) return;
        body.CopyTo(_outbox.Begin(MessageType.UiViewChange, View, LowWatermark, body.Length));
        _outbox.End();
        Flush();
    }

    private void StartViewChange(ulong view)
    {
        if (view <= View && (_inViewChange || view <= _installedView)) return;
        Flush();                                            // every queued certified message gets its UI first: the run is complete
        KeepVotesOfLeftView();                              // ReMinBFT: an older view's commit certificate may still form (MinBftReplica.LateCertificates.cs)
        View = view;
        _inViewChange = true;
        _vcStallTicks = 0;
        _vcAttempts++;
        _reqSent = false;
        _newViewSentFor = ulong.MaxValue;
        Stats.ViewChangesStarted++;
        var body = BuildViewChangeBody();
        if (body is null) { Stats.ViewChangeLogMissing++; return; }
        body.CopyTo(_outbox.Begin(MessageType.UiViewChange, view, LowWatermark, body.Length));
        _outbox.End();
        Flush();
    }

    /// <summary>The VIEW-CHANGE body (<see cref="MinBftViewChange"/> layout) for our stable checkpoint and sent log; null if part of the run is no longer held.</summary>
    private byte[]? BuildViewChangeBody()
    {
        ulong x = LowWatermark;
        ulong epoch = _sent.LastEpoch;
        var cps = new List<(ulong Start, byte[] Message)>();
        ulong start = 1;
        if (x > 0)
        {
            var stable = _checkpoints.StableDigest.Span;
            for (uint r = 0; r < _n; r++)
            {
                if (!TryGetCheckpointMessage(x, r, out var m)) continue;
                var b = m.AsSpan(MessageHeader.Size, MinBftBodies.CheckpointLength(_n));
                if (!b.Slice(0, Digests.Size).SequenceEqual(stable)) continue;
                ulong re = BinaryPrimitives.ReadUInt64LittleEndian(b.Slice(Digests.Size + 16 * (int)_id));
                ulong rc = BinaryPrimitives.ReadUInt64LittleEndian(b.Slice(Digests.Size + 16 * (int)_id + 8));
                if (re != 0 && re != epoch) continue;
                cps.Add((re == 0 || rc == 0 ? 1 : rc, m.ToArray()));
            }
            if (cps.Count < _q.Weak) return null;
            cps.Sort((a, b) => b.Start.CompareTo(a.Start));  // the latest starts: the shortest run that f+1 certify
            cps.RemoveRange(_q.Weak, cps.Count - _q.Weak);
            start = cps.Min(c => c.Start);
        }
        var entries = new List<(byte Kind, byte[] Bytes)>();
        Span<byte> auth = stackalloc byte[Digests.Size];
        for (ulong c = start; c <= _sent.LastCounter && epoch != 0; c++)
        {
            if (!_sent.TryGet(epoch, c, out var m)) return null;
            MessageHeader.TryParse(m, int.MaxValue, out var h);
            if (h.Type is MessageType.UiViewChange or MessageType.UiNewView or MessageType.UiSwitch || h.Generation < _generation)
            {
                // A stub: header, authenticated digest and UI only — the run stays gap-free, the content is not interpreted
                // (also every message of an older generation, before a switch back: docs/reminbft.md §7).
                var stub = new byte[MinBftViewChange.StubLength];
                m.Slice(0, MessageHeader.Size).CopyTo(stub);
                if (h.Type == MessageType.UiPrepare) MessageHeader.Body(m, h).Slice(0, Digests.Size).CopyTo(auth);
                else Digests.AuthBody(MessageHeader.Body(m, h), auth);
                auth.CopyTo(stub.AsSpan(MessageHeader.Size));
                MessageHeader.Authenticator(m, h).CopyTo(stub.AsSpan(MessageHeader.Size + Digests.Size));
                entries.Add((2, stub));
                continue;
            }
            entries.Add((0, m.ToArray()));
            if (h.Type == MessageType.UiCommit && h.Sequence > x)
            {
                // Attach the certified PREPARE the COMMIT names (its UI is the COMMIT's leader UI): the current one, or the one kept across a new view.
                var named = MessageHeader.Body(m, h).Slice(Digests.Size, MinBftBodies.UiSize);
                var slot = SlotOf(h.Sequence);
                if (slot.Seq == h.Sequence && slot.HasOriginal && slot.PrepareLength > MinBftBodies.UiSize && slot.PrepareMessage.Slice(slot.PrepareLength - MinBftBodies.UiSize).SequenceEqual(named))
                    entries.Add((1, slot.PrepareMessage.ToArray()));
                else if (slot.SavedSeq == h.Sequence && slot.SavedLength > MinBftBodies.UiSize && slot.SavedMessage.Slice(slot.SavedLength - MinBftBodies.UiSize).SequenceEqual(named))
                    entries.Add((1, slot.SavedMessage.ToArray()));
            }
        }
        if (entries.Count > ushort.MaxValue) return null;
        var body = new byte[MinBftViewChange.Fixed + cps.Sum(c => 4 + c.Message.Length) + entries.Sum(e => 5 + e.Bytes.Length)];
        if (x > 0) _checkpoints.StableDigest.Span.CopyTo(body);
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(32), (ushort)cps.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(body.AsSpan(34), (ushort)entries.Count);
        int off = MinBftViewChange.Fixed;
        foreach (var (_, m) in cps) { BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(off), m.Length); m.CopyTo(body, off + 4); off += 4 + m.Length; }
        foreach (var (kind, e) in entries) { body[off] = kind; BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(off + 1), e.Length); e.CopyTo(body, off + 5); off += 5 + e.Length; }
        return body;
    }

    private void OwnViewChangeSent(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        _ownVc = message.ToArray();
        _vcs[_id] = (h.View, _ownVc);
        if (IsLeader) TrySendNewView();
    }

    /// <summary>A VIEW-CHANGE the verifier accepted (its log is gap-free and certified): kept per sender; f+1 for a later view make us join.</summary>
    private void OnViewChange(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        ForwardNewView(h);
        if (h.View < View || h.View <= _installedView) return;
        if (_vcs[h.Sender] is { } old && old.View >= h.View) return;
        _vcs[h.Sender] = (h.View, message.ToArray());
        if (_composition.Family == ProtocolFamily.ReMinBft)
        {
            // Its log's PREPAREs and COMMITs of older views count toward their commit certificates (MinBftReplica.LateCertificates.cs).
            CertifiedOutbox.ReadUi(message, out ulong ve, out ulong vcounter);
            if (MinBftViewChange.TryParse(h, MessageHeader.Body(message, h), ve, vcounter, _n, CoreLimits, _usig) is { } parsed) RecordLateVotes(parsed);
        }
        // A VIEW-CHANGE for v' is also its sender's request for v' (it suspects the leader): REQ-VIEW-CHANGEs and VIEW-CHANGEs
        // of distinct replicas add up to the f+1 that move us (a replica already changing views sends no more REQs).
        if (h.View > _reqViewChange[h.Sender]) _reqViewChange[h.Sender] = h.View;
        if (h.View > View || !_inViewChange)
        {
            if (ViewChangesFor(h.View) >= _q.Weak) StartViewChange(h.View);      // f+1 asked for it: at least one correct replica suspects the leader
            else CheckRequestQuorum();
            return;
        }
        if (IsLeader) TrySendNewView();
    }

    /// <summary>
    /// A replica asking for a view we are past (or for the next one while we run the view it missed the NEW-VIEW of):
    /// forward the NEW-VIEW we installed — it is certified, so any replica can check it. Once per retransmission period.
    /// </summary>
    private void ForwardNewView(in MessageHeader h)
    {
        if (_newViewMessage is null || _inViewChange || h.View > _installedView + 1 || _tick - _nvForwardedTick[h.Sender] < _s.RetransmitTicks) return;
        _nvForwardedTick[h.Sender] = _tick;
        _out.SendToReplica(h.Sender, _newViewMessage);
    }

    /// <summary>This core's own last VIEW-CHANGE (certified), if it sent one since its last NEW-VIEW.</summary>
    public byte[]? OwnViewChange => _ownVc;

    /// <summary>
    /// The new leader: with f+1 VIEW-CHANGEs for this view (its own among them) whose decision it can compute, it sends
    /// the NEW-VIEW. VIEW-CHANGEs are added one by one and kept only if the decision still exists within the window
    /// (a faulty one naming an instance far above its checkpoint, or a value whose batch nobody carries, is skipped).
    /// </summary>
    private void TrySendNewView()
    {
        if (!_inViewChange || !IsLeader || _newViewSentFor == View || _vcs[_id] is not { } own || own.View != View) return;
        var limits = CoreLimits;
        var messages = new List<byte[]>();
        var parsed = new List<MinBftViewChange>();
        MinBftDecision? decision = null;
        for (int r = -1; r < _n && parsed.Count < _q.ViewChange; r++)
        {
            byte[] m;
            if (r < 0) m = own.Message;
            else if (r != _id && _vcs[r] is { } e && e.View == View) m = e.Message;
            else continue;
            MessageHeader.TryParse(m, int.MaxValue, out var vh);
            CertifiedOutbox.ReadUi(m, out ulong ep, out ulong c);
            var vc = MinBftViewChange.TryParse(vh, MessageHeader.Body(m, vh), ep, c, _n, limits, _usig);
            if (vc is null) continue;
            parsed.Add(vc);
            var d = MinBftDecision.Decide(parsed, _s.Window);
            if (d is null) { parsed.RemoveAt(parsed.Count - 1); if (r < 0) { Stats.BadNewViews++; return; } continue; }
            messages.Add(m);
            decision = d;
        }
        if (parsed.Count < _q.ViewChange || decision is null) return;
        var body = MinBftNewView.Body(decision, messages);
        body.CopyTo(_outbox.Begin(MessageType.UiNewView, View, decision.MaxSeq, body.Length));
        _outbox.End();
        _newViewSentFor = View;
        Flush();                                            // AfterSend installs it here too
    }

    /// <summary>A NEW-VIEW (received, or our own once certified): recompute and check the decision, then install the view.</summary>
    private void OnNewView(in MessageHeader h, ReadOnlySpan<byte> message, ulong epoch, ulong counter)
    {
        // Only a NEW-VIEW for the view we are changing to, or a later one. Never one below a view we sent a VIEW-CHANGE for
        // (V3): that VIEW-CHANGE may be one of the f+1 that the later view's NEW-VIEW was decided from, and whatever we
        // certified in the lower view after it (a COMMIT that completes a commit certificate) is missing from that
        // decision, so a later view change could pick the later view's different batch for the same s. This is PBFT's
        // rule too: after VIEW-CHANGE(v+1), accept nothing of views below v+1 (PBFT-PR §4.5.2).
        if (h.View <= _installedView || h.View < View) return;
        var nv = MinBftNewView.TryParse(h, MessageHeader.Body(message, h), _n, CoreLimits, _usig);
        if (nv is null) { Stats.BadNewViews++; return; }
        Install(h, message, nv, epoch, counter);
    }

    /// <summary>
    /// A NEW-VIEW that arrived after a gap in its leader's counter order (we missed some of the leader's messages, and
    /// the leader may have crashed since, so UI-FETCH cannot close the gap). It is taken at once if the leader's own
    /// VIEW-CHANGE inside it is the message just before it (counter − 1) and that VIEW-CHANGE's gap-free run starts at or
    /// before the counter we expect: then the run shows everything the leader certified between what we handled and the
    /// NEW-VIEW, and we take it only if none of it is another NEW-VIEW for this view or a later one — exactly what
    /// handling the leader's messages in order would have let us install (the first NEW-VIEW for the view in its order,
    /// docs/minbft.md §5.3). The older-view PREPAREs/COMMITs skipped are superseded by the new view. Without this, a
    /// replica that missed a crashed leader's messages could never install its NEW-VIEW (V1).
    /// </summary>
    private bool TryNewViewAcrossGap(in MessageHeader h, ReadOnlySpan<byte> message, ulong epoch, ulong counter, ulong expectedEpoch, ulong expectedCounter)
    {
        if (h.View <= _installedView || h.View < View || epoch != expectedEpoch || counter <= expectedCounter) return false;
        var nv = MinBftNewView.TryParse(h, MessageHeader.Body(message, h), _n, CoreLimits, _usig);
        if (nv is null) return false;
        MinBftViewChange? own = null;
        foreach (var vc in nv.ViewChanges) if (vc.Sender == h.Sender) own = vc;
        if (own is null || own.Epoch != epoch || own.Counter + 1 != counter || own.RunStart > expectedCounter || own.HighestNewViewInRun >= h.View) return false;
        Stats.NewViewsAcrossGap++;
        Install(h, message, nv, epoch, counter);
        return true;
    }

    private void Install(in MessageHeader h, ReadOnlySpan<byte> message, MinBftNewView nv, ulong nvEpoch, ulong nvCounter)
    {
        ulong view = h.View;
        View = view;
        _inViewChange = false;
        _installedView = view;
        _newViewMessage = message.ToArray();
        _vcStallTicks = 0;
        _reqSent = false;
        Stats.NewViewsInstalled++;
        // Counter order moves past each VIEW-CHANGE and the NEW-VIEW: what came before is in the logs or below X. A new
        // epoch of a sender is accepted here and only here.
        foreach (var vc in nv.ViewChanges)
        {
            Jump(vc.Sender, vc.Epoch, vc.Counter);
            // The jump skips the sender's CHECKPOINTs before its VIEW-CHANGE; its stable checkpoint X (certified by f+1)
            // is where its checkpoint bound stands now, or its new view's COMMITs above X + L would park here for good (V2).
            // Its own CHECKPOINT(X) may still follow (a replica certifies its stable checkpoint's CHECKPOINT first after a
            // state transfer or a new view, §3): accepted once at that bound (OnCheckpointInOrder).
            // The highest CHECKPOINT it certified within its run is its bound too (a CHECKPOINT the jump skipped).
            if (vc.Sender < (uint)_n && vc.Sender != _id && vc.HighestCheckpointInRun > _peerCheckpoint[vc.Sender])
            {
                _peerCheckpoint[vc.Sender] = vc.HighestCheckpointInRun;
                _peerCheckpointFromNewView[vc.Sender] = false;
            }
            if (vc.Sender < (uint)_n && vc.Sender != _id && vc.CheckpointSeq > _peerCheckpoint[vc.Sender])
            {
                _peerCheckpoint[vc.Sender] = vc.CheckpointSeq;
                _peerCheckpointFromNewView[vc.Sender] = true;
            }
        }
        Jump(h.Sender, nvEpoch, nvCounter);
        var d = nv.Decision;
        ulong x = d.CheckpointSeq;
        if (x > LowWatermark)
        {
            foreach (var (sender, m) in d.Certificate) StoreCheckpointMessage(x, sender, m);
            Span<byte> own = stackalloc byte[Digests.Size];
            if (x <= LastExecuted && _checkpoints.TryGetOwn(x, own) && own.SequenceEqual(d.CheckpointDigest))
            {
                _checkpoints.MakeStable(x);
            }
            else
            {
                _checkpoints.SetStable(d.CheckpointDigest);
                if (x > LastExecuted) _stateTransfer.FetchCertified(x, d.CheckpointDigest, d.CheckpointHolders);
                // Executed past x without a certified CHECKPOINT of ours at or above it (a replica that was passive in a
                // ReMinBFT cell): announce x, or our PREPAREs/COMMITs above x + L would wait for it here (QueueCommits,
                // ReProposeFixed) and park at the receivers (their bound for us is the X of our VIEW-CHANGE).
                else if (_ownCpQueued < x) QueueCheckpoint(x, d.CheckpointDigest);
            }
            LowWatermark = x;
            Stats.StableCheckpoints++;
        }
        FixSlots(view, x, d.Batches, d.BatchDigests, saveCommitted: true);
        for (int r = 0; r < _n; r++) if (_vcs[r] is { } e && e.View <= view) _vcs[r] = null;
        _ownVc = null;
        // ReMinBFT: the older views' PREPAREs/COMMITs in the VIEW-CHANGE logs, which the counter-order jumps above skipped,
        // count toward their commit certificates — recorded once the installation is complete (a certificate may commit a
        // slot, and its execution may switch back and retire this core; MinBftReplica.LateCertificates.cs).
        foreach (var vc in nv.ViewChanges) RecordLateVotes(vc);
        if (_retired) return;
        ForwardAwaitedRequests();
        QueueCommits();
        ExecuteReady();
        ResumeParked();
    }

    /// <summary>
    /// A new view (NEW-VIEW, §5.5) or a switch (<see cref="InstallSwitch"/>) starts from checkpoint <paramref name="x"/>: every slot
    /// of the window is reset to <paramref name="view"/>, x+1 … x+count are fixed to the given batches (the new leader
    /// re-proposes them and everybody binds them in order as usual, only with the fixed digest, so that every COMMIT names a
    /// certified PREPARE of its own view), and what this replica executed stays executed. <paramref name="saveCommitted"/>:
    /// keep the PREPARE our last COMMIT named for a later VIEW-CHANGE's attachment (§5.2). Returns the last fixed s.
    /// </summary>
    private ulong FixSlots(ulong view, ulong x, IReadOnlyList<byte[]?> batches, IReadOnlyList<byte[]> digests, bool saveCommitted)
    {
        ulong maxSeq = x + (ulong)batches.Count;
        for (ulong s = x + 1; s <= x + (ulong)_s.Window; s++)
        {
            var slot = SlotOf(s);
            bool executed = s <= LastExecuted;
            if (saveCommitted && slot.Seq == s) slot.SaveCommitted();
            slot.Reset(s, view);
            if (s <= maxSeq)
            {
                int i = (int)(s - x - 1);
                if (batches[i] is { } batch) slot.StoreFixed(batch, digests[i]);
                else slot.StoreFixedDigest(digests[i]);   // a switch names only the digest; the new leader's PREPARE brings the batch
            }
            if (executed) { slot.Committed = true; slot.Executed = true; }
        }
        LastPrepared = x;
        _fixedUpTo = maxSeq;
        _lastCommitQueued = x;
        if (maxSeq > _highestVoteSeen) _highestVoteSeen = maxSeq;
        return maxSeq;
    }

    /// <summary>After a new view or a switch: the requests the old leader did not order go to the new one (or into our own queue).</summary>
    private void ForwardAwaitedRequests()
    {
        Span<byte> bd = stackalloc byte[Digests.Size];
        Span<byte> rd = stackalloc byte[Digests.Size];
        foreach (var (client, msg) in _awaited.Messages)
        {
            if (!IsLeader) { _out.SendToReplica(Leader, msg); continue; }
            MessageHeader.TryParse(msg, int.MaxValue, out var rh);
            Digests.AuthBody(MessageHeader.Body(msg, rh), bd);
            Digests.Request(msg.AsSpan(0, MessageHeader.Size), bd, rd);
            var rec = _clients.Get(client);
            if (rh.Sequence > ReplyOf(rec).LastExecutedRid) _intake.Offer(rec, rh.Sequence, msg, rd);
        }
    }

    /// <summary>Moves sender <paramref name="j"/>'s counter order past (epoch, counter) if it is not there yet; a newer epoch is accepted (<see cref="CounterOrderBuffer{TMessage}.AcceptEpoch"/>).</summary>
    private void Jump(uint j, ulong epoch, ulong counter)
    {
        if (j == _id || j >= (uint)_n) return;
        var b = _order[j];
        if (b is null)
        {
            b = new CounterOrderBuffer<HeldMessage?>(_n, OrderCapacity);
            b.Register(j, epoch, counter + 1);
            _order[j] = b;
            if (counter == 1) ObserveInstalledViewChange(j, epoch, counter);
            CounterOrderJumped?.Invoke(j, epoch, counter);
            return;
        }
        var st = b.GetState(j);
        if (epoch > st.Epoch)
        {
            b.AcceptEpoch(j, epoch, counter + 1);
            Stats.EpochsAccepted++;
        }
        else if (epoch == st.Epoch && st.ExpectedCounter <= counter)
        {
            if (st.ExpectedCounter == counter) ObserveInstalledViewChange(j, epoch, counter);   // the next counter: acted on in order
            b = new CounterOrderBuffer<HeldMessage?>(_n, OrderCapacity);   // messages buffered beyond are fetched again
            b.Register(j, epoch, counter + 1);
            _order[j] = b;
        }
        else return;
        CounterOrderJumped?.Invoke(j, epoch, counter);
        if (_parked[j] is { } p) { _parked[j] = null; Return(p); }
    }
}
