using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.TrustedHw;
using FastBft.Wire;

namespace FastBft.Agreement.MinBft;

/// <summary>
/// Counter order (Thesis §2.2.1, §5.4.1; PROTOCOLS.md §2.5): each sender's certified messages are handled strictly in
/// the order of their UI counters. One <see cref="CounterOrderBuffer{TMessage}"/> per sender holds what arrived after a
/// gap (bounded: <see cref="OrderCapacity"/> counters ahead); a gap asks the sender for the missing counters with a
/// UI-FETCH, answered from its <see cref="SentLog"/>. A message the core cannot use yet (later view, later s, beyond
/// the window) is parked and the sender's queue waits behind it. A sender is registered at the epoch of the first
/// verified UI seen from it, expecting counter 1 (the start-up distribution of initial counters, CloudFIT §2.3, is
/// "whatever a replica certified first"); a later epoch is reported and counted, never accepted silently.
/// </summary>
public sealed partial class MinBftReplica
{
    private CounterOrderBuffer<HeldMessage?>?[] _order = [];
    private HeldMessage?[] _parked = [];
    private RecentCommits?[] _recentCommits = [];       // per sender: COMMITs handled here, relayed to a replica that lost one
    private long[] _fetchSentTick = [], _fetchAnsweredTick = [];
    private readonly Stack<HeldMessage> _pool = new();
    private bool _resuming;

    /// <summary>How far ahead of the expected counter a sender's message may be and still wait (two windows of messages).</summary>
    private int OrderCapacity => 2 * (_s.Window + _s.Window / _s.CheckpointInterval) + 64;

    /// <summary>Certified messages re-sent per UI-FETCH.</summary>
    private int FetchBurst => Math.Max(16, 4 * _s.MaxInflightBatches);

    private void InitOrder()
    {
        _order = new CounterOrderBuffer<HeldMessage?>?[_n];
        _parked = new HeldMessage?[_n];
        _recentCommits = new RecentCommits?[_n];
        _fetchSentTick = new long[_n];
        _fetchAnsweredTick = new long[_n];
        Array.Fill(_fetchSentTick, -1L);
        Array.Fill(_fetchAnsweredTick, -1L);
    }

    private HeldMessage Rent(ReadOnlySpan<byte> message, bool requestsAuthenticated)
    {
        var held = _pool.Count > 0 ? _pool.Pop() : new HeldMessage();
        held.Set(message, requestsAuthenticated);
        return held;
    }

    private void Return(HeldMessage held) => _pool.Push(held);

    /// <summary>A certified message whose UI verified: into its sender's counter order.</summary>
    private void OnCertified(in MessageHeader h, ReadOnlySpan<byte> message, bool requestsAuthenticated, ulong epoch, ulong counter)
    {
        uint j = h.Sender;
        // CHECKPOINT votes count whatever their order: f+1 matching certified statements are a certificate on their own
        // (stability, state-transfer target); their place in the counter order matters only for what follows them.
        if (h.Type == MessageType.UiCheckpoint && h.Generation == _generation) NoteCheckpointVote(h, message);
        var ui = new UniqueIdentifier(epoch, counter, MessageHeader.Authenticator(message, h).Slice(Authenticator.TrailerHeaderSize + 16, UniqueIdentifier.ProofSize));
        var buffer = _order[j];
        if (buffer is null)
        {
            buffer = new CounterOrderBuffer<HeldMessage?>(_n, OrderCapacity);
            buffer.Register(j, epoch, 1);
            _order[j] = buffer;
        }
        var r = buffer.Classify(j, ui);
        switch (r.Status)
        {
            case CounterOrderStatus.InOrder:
                if (_parked[j] is not null) { buffer.Offer(j, ui, Rent(message, requestsAuthenticated)); return; }   // the queue waits behind a parked message
                buffer.Offer(j, ui, null);
                buffer.TryTakeNext(j, out _, out _);
                if (h.Type is MessageType.UiPrepare or MessageType.UiCommit) NoteTaken(j, h.Sequence, epoch, counter);
                if (HandleInOrder(h, message, requestsAuthenticated) == Handled.Park) Park(j, Rent(message, requestsAuthenticated));
                else Drain(j);
                return;
            case CounterOrderStatus.BufferedAfterGap:
                if (h.Type == MessageType.UiNewView && TryNewViewAcrossGap(h, message, epoch, counter, r.ExpectedEpoch, r.ExpectedCounter)) return;
                buffer.Offer(j, ui, Rent(message, requestsAuthenticated));
                if (_parked[j] is not null) return;          // behind a parked message, not a gap
                Stats.CounterGaps++;
                RequestMissing(j, r.ExpectedEpoch, r.ExpectedCounter);
                return;
            case CounterOrderStatus.Duplicate:
                // A NEW-VIEW buffered after a gap and sent again: the gap may have shrunk since (relayed messages), so it may
                // now be taken across it (sim: reminbft seed 975341032 — the first copy came while the gap started at
                // counter 1, the relayed COMMITs closed it up to the leader's run start, and only copies came after that).
                if (h.Type == MessageType.UiNewView && epoch == r.ExpectedEpoch && counter > r.ExpectedCounter
                    && TryNewViewAcrossGap(h, message, epoch, counter, r.ExpectedEpoch, r.ExpectedCounter)) return;
                buffer.Offer(j, ui, null);
                Stats.ReplayedUis++;
                return;
            case CounterOrderStatus.StaleEpoch:
                buffer.Offer(j, ui, null);
                Stats.StaleEpochUis++;
                return;
            case CounterOrderStatus.NewEpoch:
                buffer.Offer(j, ui, null);                   // remembered as observed; accepted only by the protocol (docs/minbft.md §3)
                Stats.NewEpochUis++;
                return;
            case CounterOrderStatus.Overflow:
                if (h.Type == MessageType.UiNewView && TryNewViewAcrossGap(h, message, epoch, counter, r.ExpectedEpoch, r.ExpectedCounter)) return;
                buffer.Offer(j, ui, null);
                Stats.CounterOverflows++;
                RequestMissing(j, r.ExpectedEpoch, r.ExpectedCounter);
                return;
            default:
                Stats.Ignored++;
                return;
        }
    }

    private void Park(uint j, HeldMessage held)
    {
        _parked[j] = held;
        Stats.Parked++;
    }

    /// <summary>Handles every message of sender <paramref name="j"/> that became contiguous, until one parks.</summary>
    private void Drain(uint j)
    {
        var buffer = _order[j];
        if (buffer is null) return;
        // A message handled here can install a NEW-VIEW that moves j's counter order past its VIEW-CHANGE (Jump replaces the
        // buffer): what the old buffer still holds is superseded and must not be acted on (sim: counter-order oracle,
        // f1/follower/withholdcheckpoint/midbatch/isolateone seed 106113923).
        while (_parked[j] is null && ReferenceEquals(_order[j], buffer) && buffer.TryTakeNext(j, out var held, out _))
        {
            if (held is null) continue;
            MessageHeader.TryParse(held.Span, int.MaxValue, out var h);
            if (h.Type is MessageType.UiPrepare or MessageType.UiCommit)
            {
                CertifiedOutbox.ReadUi(held.Span, out ulong e, out ulong c);
                NoteTaken(j, h.Sequence, e, c);
            }
            if (HandleInOrder(h, held.Span, held.RequestsAuthenticated) == Handled.Park) Park(j, held);
            else Return(held);
        }
    }

    /// <summary>Retries parked messages (the view, the window or the bound sequence number moved) and drains behind them.</summary>
    private void ResumeParked()
    {
        if (_resuming) return;
        _resuming = true;
        try
        {
            bool progress = true;
            while (progress)
            {
                progress = false;
                for (uint j = 0; j < _n; j++)
                {
                    var held = _parked[j];
                    if (held is null) continue;
                    MessageHeader.TryParse(held.Span, int.MaxValue, out var h);
                    if (HandleInOrder(h, held.Span, held.RequestsAuthenticated) == Handled.Park) continue;
                    _parked[j] = null;
                    Return(held);
                    Drain(j);
                    progress = true;
                }
            }
        }
        finally { _resuming = false; }
    }

    private int ParkedCount()
    {
        int c = 0;
        foreach (var p in _parked) if (p is not null) c++;
        return c;
    }

    private bool BufferedAnything()
    {
        for (uint j = 0; j < _n; j++)
            if (_order[j] is { } b && b.GetState(j).Buffered > 0) return true;
        return false;
    }

    /// <summary>
    /// Asks <paramref name="j"/> to re-send its certified messages from (epoch, counter) on, and one other replica (a
    /// different one each time) for the same messages of j that it holds — j may have crashed, and a certified message is
    /// transferable (its UI authenticates j to everyone). At most once per tick per sender.
    /// </summary>
    private void RequestMissing(uint j, ulong epoch, ulong counter)
    {
        if (_fetchSentTick[j] == _tick) return;
        _fetchSentTick[j] = _tick;
        SendUiFetch(j, j, epoch, counter);
        if (_n > 2)
        {
            uint k = (uint)((ulong)(j + 1) + (ulong)_tick % (ulong)(_n - 1)) % (uint)_n;
            if (k == j) k = (k + 1) % (uint)_n;
            if (k == _id) k = (k + 1) % (uint)_n;
            if (k == j) k = (k + 1) % (uint)_n;
            if (k != _id && k != j) SendUiFetch(k, j, epoch, counter);
        }
    }

    private void SendUiFetch(uint to, uint of, ulong epoch, ulong counter)
    {
        var body = _builder.BeginVector(MessageType.UiFetch, View, 0, MinBftBodies.UiFetchLength);
        BinaryPrimitives.WriteUInt64LittleEndian(body, epoch);
        BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(8), counter);
        BinaryPrimitives.WriteUInt32LittleEndian(body.Slice(16), of);
        BinaryPrimitives.WriteUInt32LittleEndian(body.Slice(20), 0);
        _out.SendToReplica(to, _builder.SealVector());
        Stats.UiFetchesSent++;
    }

    /// <summary>A stalled replica asks every peer for what follows the last counter it handled (a lost last message leaves no gap to see).</summary>
    private void RequestMissingFromAll()
    {
        for (uint j = 0; j < _n; j++)
        {
            if (j == _id || !IsMember(j)) continue;
            if (_order[j] is { } b) { var st = b.GetState(j); RequestMissing(j, st.Epoch, st.ExpectedCounter); }
            else RequestMissing(j, 0, 1);                 // never heard from j: its current epoch, from counter 1
        }
    }

    /// <summary>UI-FETCH(epoch, counter): re-send our certified messages from that counter on (same bytes, same UIs), at most <see cref="FetchBurst"/>, once per tick per asker.</summary>
    private void OnUiFetch(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (h.Sender >= (uint)_n || _fetchAnsweredTick[h.Sender] == _tick) return;
        _fetchAnsweredTick[h.Sender] = _tick;
        var body = MessageHeader.Body(message, h);
        ulong epoch = BinaryPrimitives.ReadUInt64LittleEndian(body);
        ulong counter = BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(8));
        uint of = BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(16));
        if (of != _id)
        {
            if (of < (uint)_n) RelayHeld(h.Sender, of, epoch, counter);   // epoch 0: the asker never heard from `of`, any epoch we hold
            return;
        }
        if (epoch == 0) epoch = _sent.LastEpoch;
        if (counter > _sent.LastCounter) return;          // nothing sent there yet
        for (int i = 0; i < FetchBurst; i++)
        {
            if (!_sent.TryGet(epoch, counter + (ulong)i, out var msg))
            {
                if (i == 0)
                {
                    // Garbage: what it asks for is below our stable checkpoint. Send it the checkpoint's certificate (the
                    // f+1 certified CHECKPOINTs we hold) so that it catches up by state transfer (docs/minbft.md §4) even
                    // when no further checkpoint is coming (V2).
                    Stats.UiFetchMisses++;
                    SendStableCheckpointCertificate(h.Sender);
                }
                return;
            }
            if (i == 0 && MessageHeader.TryParse(msg, int.MaxValue, out var mh) == ParseStatus.Ok && mh.Type is MessageType.UiPrepare or MessageType.UiCommit
                && mh.Sequence + (ulong)_s.Window <= LowWatermark)
                SendStableCheckpointCertificate(h.Sender);  // it asks for instances a window below our stable checkpoint: catch up by state transfer (V2)
            _out.SendToReplica(h.Sender, msg);
            Stats.UiFetchAnswers++;
        }
    }

    /// <summary>
    /// UI-FETCH for another replica's messages: re-sends what we hold of <paramref name="of"/>'s certified messages from
    /// (epoch, counter) on, as long as they are consecutive — the PREPAREs of the window's slots (a follower that lost a
    /// crashed leader's PREPARE gets it from a replica that bound it), its CHECKPOINTs we hold, and the NEW-VIEW we installed. The recipient checks
    /// the UI like any certified message; relaying cannot forge or reorder anything.
    /// </summary>
    private void RelayHeld(uint asker, uint of, ulong epoch, ulong counter)
    {
        for (int i = 0; i < FetchBurst; i++)
        {
            if (!TryFindHeld(of, epoch, counter + (ulong)i, out var msg))
            {
                // M9: we handled `of`'s message there (our counter order for it is past it) and no longer hold it: it is
                // below our stable checkpoint. Like a miss of our own (OnUiFetch), send the checkpoint's certificate so
                // the asker catches up by state transfer — else a replica whose copy `of` withheld waits for it for good.
                if (i == 0 && _order[of] is { } buffer && buffer.GetState(of) is var st && st.Epoch == epoch && st.ExpectedCounter > counter)
                {
                    Stats.UiFetchMisses++;
                    SendStableCheckpointCertificate(asker);
                }
                return;
            }
            _out.SendToReplica(asker, msg);
            Stats.UiFetchRelays++;
        }
    }

    private bool TryFindHeld(uint of, ulong epoch, ulong counter, out ReadOnlySpan<byte> message)
    {
        foreach (var slot in _slots)
        {
            if (!slot.HasPrepare || slot.PrepareLength <= MinBftBodies.UiSize) continue;
            var m = slot.PrepareMessage;
            if (IsCertifiedBy(m, of, epoch, counter)) { message = m; return true; }
        }
        if (_newViewMessage is not null && IsCertifiedBy(_newViewMessage, of, epoch, counter)) { message = _newViewMessage; return true; }
        // A COMMIT of `of` lost on its way to the asker (it was cut off, `of` crashed or withholds it): without it the asker's
        // order for `of` waits for good, before a NEW-VIEW of `of` too (sim: reminbft f1/passive/withholdcheckpoint/early/isolateleader
        // seed 975341032 — the isolated replica missed the faulty replica's first two COMMITs, so it could not take that
        // replica's NEW-VIEW across the gap of a withheld CHECKPOINT, timed out into a view of its own and stayed there).
        if (of < (uint)_recentCommits.Length && _recentCommits[of] is { } recent && recent.TryFind(of, epoch, counter, out message)) return true;
        // The sender's certified CHECKPOINTs interleave with its PREPAREs in its counter order: without them a relay stops at
        // the first one, and a replica that only ever got a faulty leader's messages with bad authenticators stays stuck
        // before it (sim: f2/leader/invalidmac/checkpointboundary/partitionheal seed 41060264).
        for (int i = 0; i < _cpSeq.Length; i++)
            if (_cpSeq[i] != 0 && _cpHas[i][of] && IsCertifiedBy(_cpMsg[i][of], of, epoch, counter)) { message = _cpMsg[i][of]; return true; }
        message = default;
        return false;
    }

    internal static bool IsCertifiedBy(ReadOnlySpan<byte> m, uint of, ulong epoch, ulong counter)
    {
        if (MessageHeader.TryParse(m, int.MaxValue, out var h) != ParseStatus.Ok || h.Sender != of || h.AuthLength != UsigCertificateScheme.Length) return false;
        CertifiedOutbox.ReadUi(m, out ulong e, out ulong c);
        return (epoch == 0 || e == epoch) && c == counter;
    }

    /// <summary>Sends <paramref name="to"/> the certified CHECKPOINTs of our stable checkpoint that we hold (its certificate): a replica
    /// left behind in an older ReMinBFT generation joins ours from f+1 of them (docs/reminbft.md §7.1 R-c).</summary>
    public void SendCheckpointCertificateTo(uint to) { if (to < (uint)_n && to != _id) SendStableCheckpointCertificate(to); }

    private void SendStableCheckpointCertificate(uint to)
    {
        ulong x = LowWatermark;
        if (x == 0) return;
        for (uint r = 0; r < _n; r++)
            if (TryGetCheckpointMessage(x, r, out var m)) _out.SendToReplica(to, m);
    }

    // Per sender: view and sequence number of its last PREPARE/COMMIT taken in counter order (ReMinBFT's normal case).
    private ulong[] _senderOrderView = [], _senderOrderSeq = [];

    /// <summary>
    /// The sender rule as a receiver checks it (Thesis §5.4.2: "a replica may only send a PREPARE/COMMIT message for an
    /// instance if it has already sent a PREPARE/COMMIT message for all preceding instances"): in the sender's counter order,
    /// each PREPARE/COMMIT of a view names a higher sequence number than the one before. Checked only while the composing
    /// protocol has no view change (ReMinBFT before a switch): there the abort history anchors the transition coordinator's
    /// run at its counter of the checkpoint instance (docs/reminbft.md §5.3), which is sound only if no message of the
    /// coordinator about a later instance precedes it — a correct replica that commits never took such a message.
    /// </summary>
    private bool BreaksSenderOrder(in MessageHeader h)
    {
        return h.Sender < (uint)_n && h.View == _senderOrderView[h.Sender] && h.Sequence <= _senderOrderSeq[h.Sender];
    }

    private void NoteSenderOrder(in MessageHeader h)
    {
        if (h.Sender >= (uint)_n || h.View < _senderOrderView[h.Sender]) return;
        _senderOrderView[h.Sender] = h.View;
        _senderOrderSeq[h.Sender] = h.Sequence;
    }
}
