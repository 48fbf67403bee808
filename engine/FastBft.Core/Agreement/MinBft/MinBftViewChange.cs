using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Agreement.MinBft;

/// <summary>One certified PREPARE or COMMIT found in a VIEW-CHANGE log: what it says about sequence number <see cref="Seq"/>.</summary>
/// <param name="View">the view of the message.</param>
/// <param name="Seq">the sequence number.</param>
/// <param name="Digest">D(batch) (32 bytes).</param>
/// <param name="LeaderEpoch">epoch of the leader UI it names (a PREPARE: its own UI; a COMMIT: the UI in its body).</param>
/// <param name="LeaderCounter">counter of that leader UI.</param>
public sealed record MinBftLogEntry(ulong View, ulong Seq, byte[] Digest, ulong LeaderEpoch, ulong LeaderCounter);

/// <summary>
/// A parsed, validated VIEW-CHANGE (docs/minbft.md §5). Layout of the body (header: view = v', sequence = X, the
/// sender's stable checkpoint; all integers little-endian):
/// <code>
/// cpDigest[32] ‖ cpCount[2] ‖ entryCount[2] ‖ 0[4]                      (Fixed = 40 bytes)
/// cpCount × (len[4] ‖ certified CHECKPOINT(X) message)                  the checkpoint certificate (none when X = 0)
/// entryCount × (kind[1] ‖ len[4] ‖ bytes)                               the log
///   kind 0: a certified message of the sender (PREPARE, COMMIT, CHECKPOINT), whole
///   kind 1: the PREPARE the preceding COMMIT names: certified by the leader of the COMMIT's view, same s and D(batch),
///           its UI equal to the UI the COMMIT names (the decision orders by genuine leader UIs only)
///   kind 2: a stub of a certified VIEW-CHANGE / NEW-VIEW (or a ReMinBFT coordinator's SWITCH, which starts MinBFT in its
///           view as a NEW-VIEW does) of the sender: header[40] ‖ authDigest[32] ‖ trailer[50]
/// </code>
/// Kinds 0 and 2 form the sender's counter run: counters r, r+1, …, c−1 in the VIEW-CHANGE's epoch, where c is the
/// VIEW-CHANGE's own counter and r is the smallest start any CHECKPOINT of the certificate reports for the sender —
/// at least one of the f+1 is correct, and a correct replica reports the first counter of the sender's messages for
/// instances above X that it handled, so nothing the sender said about an instance above X can be left out
/// (Thesis §5.4.3 "a valid abort history provides a continuous sequence … an abort history that contains gaps is
/// invalid"; PROTOCOLS.md §4 [X]).
/// </summary>
public sealed class MinBftViewChange
{
    /// <summary>Bytes of the fixed part of the body.</summary>
    public const int Fixed = 40;
    /// <summary>Bytes of a stub entry: header ‖ authDigest ‖ USIG trailer = 122.</summary>
    public const int StubLength = MessageHeader.Size + Digests.Size + UsigCertificateScheme.Length;

    /// <summary>Sender.</summary>
    public uint Sender { get; private init; }
    /// <summary>The view it asks for.</summary>
    public ulong View { get; private init; }
    /// <summary>Its stable checkpoint X (0 = none).</summary>
    public ulong CheckpointSeq { get; private init; }
    /// <summary>D(state) at X (32 bytes; zero when X = 0).</summary>
    public byte[] CheckpointDigest { get; private init; } = new byte[Digests.Size];
    /// <summary>The certified CHECKPOINT(X) messages of the certificate, with their senders.</summary>
    public List<(uint Sender, byte[] Message)> Certificate { get; } = new();
    /// <summary>The VIEW-CHANGE's own UI.</summary>
    public ulong Epoch { get; private init; }
    /// <summary>The VIEW-CHANGE's own counter.</summary>
    public ulong Counter { get; private init; }
    /// <summary>The first counter of the sender's run (the log holds every certified message of the sender from it to <see cref="Counter"/> − 1).</summary>
    public ulong RunStart { get; private set; }
    /// <summary>The highest view of a NEW-VIEW the sender certified within the run (a stub; 0 = none).</summary>
    public ulong HighestNewViewInRun { get; private set; }
    /// <summary>The highest sequence number of a CHECKPOINT the sender certified within the run (0 = none): its checkpoint bound for the sender rule.</summary>
    public ulong HighestCheckpointInRun { get; private set; }
    /// <summary>PREPAREs and COMMITs of the log.</summary>
    public List<MinBftLogEntry> Entries { get; } = new();
    /// <summary>Batches carried (PREPARE bodies of the sender's PREPAREs and of attachments), by hex D(batch).</summary>
    public Dictionary<string, byte[]> Batches { get; } = new();
    /// <summary>The certified PREPARE messages carried, by hex D(batch) (a new view re-uses them as the batches of fixed slots).</summary>
    public Dictionary<string, byte[]> PrepareMessages { get; } = new();

    /// <summary>f for n = 2f+1.</summary>
    public static int FOf(int n) => (n - 1) / 2;

    /// <summary>
    /// Parses and validates a VIEW-CHANGE body of <paramref name="h"/> whose own UI (<paramref name="epoch"/>,
    /// <paramref name="counter"/>) verified. Every length is bounded by the body and by <paramref name="limits"/> before
    /// anything is allocated for it; every embedded certified message is checked with <paramref name="usig"/>. Returns
    /// null for anything malformed, forged, incomplete or with a counter gap. Never throws.
    /// </summary>
    public static MinBftViewChange? TryParse(in MessageHeader h, ReadOnlySpan<byte> body, ulong epoch, ulong counter, int n, VerifierLimits limits, IAuthScheme? usig)
    {
        try { return Parse(h, body, epoch, counter, n, limits, usig); }
        catch (Exception e) when (e is ArgumentException or IndexOutOfRangeException or InvalidOperationException) { return null; }
    }

    private static MinBftViewChange? Parse(in MessageHeader h, ReadOnlySpan<byte> body, ulong epoch, ulong counter, int n, VerifierLimits limits, IAuthScheme? usig)
    {
        if (usig is null || body.Length < Fixed || counter == 0 || h.Sender >= (uint)n) return null;
        int f = FOf(n);
        ulong x = h.Sequence;
        var vc = new MinBftViewChange { Sender = h.Sender, View = h.View, CheckpointSeq = x, Epoch = epoch, Counter = counter, CheckpointDigest = body.Slice(0, Digests.Size).ToArray() };
        int cpCount = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(32));
        int entryCount = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(34));
        if (BinaryPrimitives.ReadUInt32LittleEndian(body.Slice(36)) != 0) return null;
        if (cpCount > n || (x == 0 ? cpCount != 0 : cpCount < f + 1)) return null;
        if (x == 0 && body.Slice(0, Digests.Size).IndexOfAnyExcept((byte)0) >= 0) return null;
        var rest = body.Slice(Fixed);
        // The certificate: f+1..n matching CHECKPOINT(X) from distinct replicas.
        ulong start = 1;                                           // where the sender's run must start
        ulong seen = 0;
        bool first = true;
        for (int i = 0; i < cpCount; i++)
        {
            if (!Take(ref rest, limits, out var cp)) return null;
            if (!TryCertified(cp, h.Family, h.Generation, n, limits, usig, out var ch, out _, out _) || ch.Type != MessageType.UiCheckpoint || ch.Sequence != x) return null;
            var cb = MessageHeader.Body(cp, ch);
            if (cb.Length != MinBftBodies.CheckpointLength(n) || !cb.Slice(0, Digests.Size).SequenceEqual(vc.CheckpointDigest)) return null;
            if ((seen & (1UL << (int)ch.Sender)) != 0) return null;
            seen |= 1UL << (int)ch.Sender;
            var report = cb.Slice(Digests.Size + 16 * (int)h.Sender, 16);
            ulong re = BinaryPrimitives.ReadUInt64LittleEndian(report), rc = BinaryPrimitives.ReadUInt64LittleEndian(report.Slice(8));
            // A checkpoint that knew the sender in another epoch cannot vouch for where its run starts in this one.
            if (re != 0 && re != epoch) return null;
            ulong c = re == 0 || rc == 0 ? 1 : rc;
            if (first || c < start) start = c;
            first = false;
            vc.Certificate.Add((ch.Sender, cp.ToArray()));
        }
        if (start > counter) return null;
        vc.RunStart = start;
        if ((ulong)entryCount < counter - start) return null;      // the run alone needs counter − start entries
        ulong next = start;
        MinBftLogEntry? lastCommit = null;
        byte[]? lastNamedUi = null;
        var logged = new List<(MinBftLogEntry Entry, bool Verified)>();
        for (int i = 0; i < entryCount; i++)
        {
            if (rest.Length < 1) return null;
            byte kind = rest[0];
            rest = rest.Slice(1);
            if (!Take(ref rest, limits, out var e)) return null;
            switch (kind)
            {
                case 0:
                {
                    if (!TryCertified(e, h.Family, h.Generation, n, limits, usig, out var eh, out ulong ee, out ulong ec) || eh.Sender != h.Sender || ee != epoch || ec != next) return null;
                    next++;
                    lastCommit = null;
                    var eb = MessageHeader.Body(e, eh);
                    if (eh.Type == MessageType.UiPrepare)
                    {
                        var pd = eb.Slice(0, Digests.Size).ToArray();
                        logged.Add((new MinBftLogEntry(eh.View, eh.Sequence, pd, ee, ec), true));   // the sender led that view: its own UI
                        vc.AddBatch(pd, eb, e);
                    }
                    else if (eh.Type == MessageType.UiCommit)
                    {
                        if (eb.Length != MinBftBodies.CommitLength) return null;
                        var ui = eb.Slice(Digests.Size);
                        lastCommit = new MinBftLogEntry(eh.View, eh.Sequence, eb.Slice(0, Digests.Size).ToArray(), BinaryPrimitives.ReadUInt64LittleEndian(ui), BinaryPrimitives.ReadUInt64LittleEndian(ui.Slice(8)));
                        lastNamedUi = ui.ToArray();
                        logged.Add((lastCommit, false));            // verified only by the PREPARE attached to it
                    }
                    else if (eh.Type == MessageType.UiCheckpoint) { if (eh.Sequence > vc.HighestCheckpointInRun) vc.HighestCheckpointInRun = eh.Sequence; }
                    else return null;
                    break;
                }
                case 1:
                {
                    // The PREPARE the COMMIT just before names: certified by the leader of the COMMIT's view, same s and
                    // batch, and its UI is the UI the COMMIT names — so the leader UI the decision orders by is genuine.
                    if (lastCommit is null || lastNamedUi is null || !TryCertified(e, h.Family, h.Generation, n, limits, usig, out var ph, out _, out _) || ph.Type != MessageType.UiPrepare
                        || ph.View != lastCommit.View || ph.Sequence != lastCommit.Seq || !e.Slice(e.Length - MinBftBodies.UiSize).SequenceEqual(lastNamedUi)) return null;
                    var pb = MessageHeader.Body(e, ph);
                    if (!pb.Slice(0, Digests.Size).SequenceEqual(lastCommit.Digest)) return null;
                    vc.AddBatch(lastCommit.Digest, pb, e);
                    logged[^1] = (lastCommit, true);
                    lastCommit = null;
                    break;
                }
                case 2:
                {
                    if (e.Length != StubLength) return null;
                    // A VIEW-CHANGE, NEW-VIEW or SWITCH of the sender, or any certified message of an older generation (before a
                    // ReMinBFT switch back, docs/reminbft.md §7): it fills its counter, its content is not interpreted.
                    if (!MessageHeader.TryParseAlone(e.Slice(0, MessageHeader.Size), out var sh) || sh.Family != h.Family || sh.Sender != h.Sender
                        || sh.Generation > h.Generation || sh.AuthLength != UsigCertificateScheme.Length
                        || (sh.Generation == h.Generation ? sh.Type is not (MessageType.UiViewChange or MessageType.UiNewView or MessageType.UiSwitch)
                            : sh.Type is not (MessageType.UiPrepare or MessageType.UiCommit or MessageType.UiCheckpoint or MessageType.UiViewChange or MessageType.UiNewView or MessageType.UiSwitch))) return null;
                    var trailer = e.Slice(MessageHeader.Size + Digests.Size);
                    var verdict = usig.Verify(sh.Sender, e.Slice(0, MessageHeader.Size), e.Slice(MessageHeader.Size, Digests.Size), trailer);
                    if (!verdict.IsOk || !verdict.HasUi || verdict.Epoch != epoch || verdict.Counter != next) return null;
                    // A composing protocol's SWITCH (ReMinBFT, docs/reminbft.md §5) starts MinBFT in its view as a NEW-VIEW does.
                    if (sh.Generation == h.Generation && sh.Type is MessageType.UiNewView or MessageType.UiSwitch && sh.View > vc.HighestNewViewInRun) vc.HighestNewViewInRun = sh.View;
                    next++;
                    lastCommit = null;
                    break;
                }
                default: return null;
            }
        }
        if (rest.Length != 0 || next != counter) return null;     // gap-free up to the VIEW-CHANGE itself
        // Per s above X the sender's entry of the highest view must be verified (a PREPARE it led, or a COMMIT with the
        // PREPARE it names attached); an unverified COMMIT of an older view is superseded and left out.
        var top = new Dictionary<ulong, ulong>();
        foreach (var (e, _) in logged) if (e.Seq > x && (!top.TryGetValue(e.Seq, out var v) || e.View > v)) top[e.Seq] = e.View;
        foreach (var (e, verified) in logged)
        {
            if (e.Seq <= x) continue;
            if (verified) vc.Entries.Add(e);
            else if (e.View >= top[e.Seq]) return null;
        }
        return vc;
    }

    private void AddBatch(byte[] digest, ReadOnlySpan<byte> batchBody, ReadOnlySpan<byte> prepare)
    {
        string key = Convert.ToHexString(digest);
        if (Batches.ContainsKey(key)) return;
        Batches[key] = batchBody.ToArray();
        PrepareMessages[key] = prepare.ToArray();
    }

    /// <summary>Reads len[4] ‖ bytes, bounded by the remaining body and the cell's largest message.</summary>
    private static bool Take(ref ReadOnlySpan<byte> rest, VerifierLimits limits, out ReadOnlySpan<byte> item)
    {
        item = default;
        if (rest.Length < 4) return false;
        int len = BinaryPrimitives.ReadInt32LittleEndian(rest);
        if (len < MessageHeader.Size || len > rest.Length - 4 || len > limits.MaxMessageBody + MessageHeader.Size + UsigCertificateScheme.Length) return false;
        item = rest.Slice(4, len);
        rest = rest.Slice(4 + len);
        return true;
    }

    /// <summary>Checks an embedded certified MinBFT message: header, trailer kind, and its UI for its sender (a PREPARE's
    /// authenticated digest is its recomputed D(batch), every other type's AuthBody(body)), of the container's header generation.</summary>
    internal static bool TryCertified(ReadOnlySpan<byte> m, ProtocolFamily family, ulong generation, int n, VerifierLimits limits, IAuthScheme usig, out MessageHeader h, out ulong epoch, out ulong counter)
    {
        epoch = counter = 0;
        if (MessageHeader.TryParse(m, limits.MaxMessageBody, out h) != ParseStatus.Ok || h.Family != family || h.Generation != generation
            || h.Sender >= (uint)n || h.AuthLength != UsigCertificateScheme.Length) return false;
        var body = MessageHeader.Body(m, h);
        Span<byte> auth = stackalloc byte[Digests.Size];
        if (h.Type == MessageType.UiPrepare)
        {
            if (h.Sender != (uint)(h.View % (ulong)n) || !MinBftBatches.TryDigest(body, h.Family, limits, auth) || !auth.SequenceEqual(body.Slice(0, Digests.Size))) return false;
        }
        else Digests.AuthBody(body, auth);
        var verdict = usig.Verify(h.Sender, m.Slice(0, MessageHeader.Size), auth, MessageHeader.Authenticator(m, h));
        if (!verdict.IsOk || !verdict.HasUi) return false;
        epoch = verdict.Epoch; counter = verdict.Counter;
        return true;
    }
}

/// <summary>Batch bodies inside view-change messages: structure and D(batch) recomputed from the embedded requests (their client MACs are vouched for by the certified messages that name the batch).</summary>
internal static class MinBftBatches
{
    /// <summary>The empty batch (the null request a new view fixes where no log says anything): 36 bytes, D = SHA-256 of nothing.</summary>
    public static byte[] Empty()
    {
        var b = new byte[Bodies.PrePrepareFixed];
        Digests.Batch(ReadOnlySpan<byte>.Empty, b);
        return b;
    }

    /// <summary>Validates a batch body (count ≤ MaxBatch, entries well-formed REQUESTs of distinct clients with request id ≥ 1, no trailing bytes) and writes its recomputed D(batch).</summary>
    public static bool TryDigest(ReadOnlySpan<byte> body, ProtocolFamily family, VerifierLimits limits, Span<byte> digest)
    {
        if (body.Length < Bodies.PrePrepareFixed) return false;
        int count = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(32));
        ushort flags = Bodies.BatchFlags(body);
        if (count > limits.MaxBatch || (flags != 0 && (family != ProtocolFamily.ReMinBft || !Bodies.ValidBatchFlags(flags, limits.ReplicaCount)))) return false;
        var digests = new byte[count * Digests.Size];
        var clients = new uint[count];
        Span<byte> bd = stackalloc byte[Digests.Size];
        var rest = body.Slice(Bodies.PrePrepareFixed);
        for (int i = 0; i < count; i++)
        {
            if (rest.Length < Bodies.BatchEntryPrefix) return false;
            int len = BinaryPrimitives.ReadInt32LittleEndian(rest);
            if (len < MessageHeader.Size || len > rest.Length - Bodies.BatchEntryPrefix) return false;
            var req = rest.Slice(Bodies.BatchEntryPrefix, len);
            rest = rest.Slice(Bodies.BatchEntryPrefix + len);
            if (MessageHeader.TryParse(req, limits.MaxRequestBody, out var rh) != ParseStatus.Ok || rh.Type != MessageType.Request || rh.Family != family
                || rh.Sender < limits.FirstClientId || rh.Sequence == 0) return false;
            for (int j = 0; j < i; j++) if (clients[j] == rh.Sender) return false;
            clients[i] = rh.Sender;
            Digests.AuthBody(MessageHeader.Body(req, rh), bd);
            Digests.Request(req.Slice(0, MessageHeader.Size), bd, digests.AsSpan(i * Digests.Size, Digests.Size));
        }
        if (rest.Length != 0) return false;
        Digests.Batch(digests, digest);
        Bodies.ApplyFlagsToDigest(flags, digest);
        return true;
    }
}
