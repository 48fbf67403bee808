using FastBft.Auth;
using FastBft.Wire;

namespace FastBft.Agreement.MinBft;

/// <summary>
/// Commit certificates of older views (ReMinBFT family only; docs/reminbft.md §7.1 rule 6, extended). A replica of the MinBFT
/// phase that moved to a later view while f+1 others committed slot s in an earlier view w — and then switched back, so no
/// NEW-VIEW of the later view and no COMMITs in it will ever come — still handles their certified messages of view w in
/// counter order. f+1 matching certified messages of one view (the leader's PREPARE and COMMITs naming its UI) are MinBFT's
/// commit rule whenever they arrive (Thesis §2.2.1; PROTOCOLS.md §2.4): a correct replica that had them executed d at s, and
/// every later view's NEW-VIEW keeps (s, d). So such a certificate commits s here too, once this replica bound s — in any
/// view — with the same D(batch). <see cref="LateCommit"/> covered only a slot bound in that same older view.
/// Bounded: per s in the window at most n candidate (view, D(batch)) entries; entries at or below the last executed are
/// dropped when the window moves. Plain MinBFT keeps its rule (older views are dropped).
/// </summary>
public sealed partial class MinBftReplica
{
    // Keyed by (view, D(batch)), not by the leader UI the COMMITs name: the commit rule is about the value — f+1 certified
    // messages of one view for (s, d) — and two PREPAREs of one faulty leader for s with the same batch commit the same d.
    // This also lets COMMITs that came before the PREPARE (kept in the slot's votes) count when the view is left.
    private sealed class LateCertificate(ulong view, byte[] digest)
    {
        public readonly ulong View = view;
        public readonly byte[] Digest = digest;
        public ulong Voters;                                         // bit per replica with a certified message of View for (s, Digest)
    }

    private readonly Dictionary<ulong, List<LateCertificate>> _lateCertificates = new();

    /// <summary>A certified PREPARE (<paramref name="isPrepare"/>) or COMMIT of the older view h.View for h.Sequence, handled in
    /// its sender's counter order: one more message for its (view, D(batch)).</summary>
    private void RecordLateVote(in MessageHeader h, ReadOnlySpan<byte> digest, bool isPrepare)
        => RecordLateVote(h.Sender, h.View, h.Sequence, digest, isPrepare);

    private void RecordLateVote(uint sender, ulong view, ulong seq, ReadOnlySpan<byte> digest, bool isPrepare)
    {
        if (_composition.Family != ProtocolFamily.ReMinBft || sender >= (uint)_n || _n > 64) return;
        if (seq <= LowWatermark || seq <= LastExecuted || seq > LowWatermark + (ulong)_s.Window || view >= View) return;
        if (isPrepare != (sender == (uint)(view % (ulong)_n))) return;   // a PREPARE only from its view's leader; its COMMITs come from others
        var cert = LateEntry(seq, view, digest);
        if (cert is null) return;
        cert.Voters |= 1UL << (int)sender;
        var slot = SlotOf(seq);
        if (slot.Seq == seq) Advance(slot);
    }

    /// <summary>The entry for (view, D(batch)) at <paramref name="seq"/>, created if there is room (at most n per s; a higher view
    /// displaces the lowest), or null.</summary>
    private LateCertificate? LateEntry(ulong seq, ulong view, ReadOnlySpan<byte> digest)
    {
        if (!_lateCertificates.TryGetValue(seq, out var list)) _lateCertificates[seq] = list = new List<LateCertificate>(2);
        foreach (var c in list)
            if (c.View == view && c.Digest.AsSpan().SequenceEqual(digest)) return c;
        if (list.Count >= _n)
        {
            int lowest = 0;
            for (int i = 1; i < list.Count; i++) if (list[i].View < list[lowest].View) lowest = i;
            if (list[lowest].View >= view) return null;
            list.RemoveAt(lowest);
        }
        var cert = new LateCertificate(view, digest.ToArray());
        list.Add(cert);
        return cert;
    }

    /// <summary>The PREPAREs and COMMITs of older views in a valid VIEW-CHANGE's log (received, or carried by a NEW-VIEW): each a
    /// certified message of its sender, so a vote as if handled directly (the counter-order jump of a NEW-VIEW skips them).</summary>
    private void RecordLateVotes(MinBftViewChange vc)
    {
        if (_composition.Family != ProtocolFamily.ReMinBft) return;
        foreach (var e in vc.Entries)
            if (e.View < View && e.Seq > LastExecuted)
                RecordLateVote(vc.Sender, e.View, e.Seq, e.Digest, isPrepare: vc.Sender == (uint)(e.View % (ulong)_n));
    }

    /// <summary>
    /// Leaving view <see cref="View"/> (a view change starts): the votes of each bound, uncommitted slot of that view — the
    /// leader's PREPARE, our own certified message, the COMMITs handled so far — go into the table first, so COMMITs of that
    /// view handled later can complete the certificate after the slot was bound again in a later view (its votes there
    /// start afresh).
    /// </summary>
    private void KeepVotesOfLeftView()
    {
        if (_composition.Family != ProtocolFamily.ReMinBft || _n > 64) return;
        ulong hi = Math.Min(Math.Max(LastPrepared, _highestVoteSeen), LowWatermark + (ulong)_s.Window);
        for (ulong seq = Math.Max(LastExecuted, LowWatermark) + 1; seq <= hi; seq++)
        {
            var slot = SlotOf(seq);
            if (slot.Seq != seq || slot.Committed || slot.View != View || slot.Votes.Count == 0) continue;
            // every vote of this view the slot holds — also COMMITs that came before the PREPARE (no binding yet)
            for (uint r = 0; r < _n; r++)
            {
                if (!slot.Votes.HasVoted(r)) continue;
                var cert = LateEntry(seq, View, slot.Votes.VoteOf(r));
                if (cert is not null) cert.Voters |= 1UL << (int)r;
            }
        }
    }

    /// <summary>True if f+1 certified messages of one older view commit <paramref name="digest"/> at <paramref name="seq"/>.</summary>
    private bool LateCertified(ulong seq, ReadOnlySpan<byte> digest)
    {
        if (_lateCertificates.Count == 0 || !_lateCertificates.TryGetValue(seq, out var list)) return false;
        foreach (var c in list)
            if (System.Numerics.BitOperations.PopCount(c.Voters) >= _q.Commit && c.Digest.AsSpan().SequenceEqual(digest)) return true;
        return false;
    }

    /// <summary>Drops the entries the execution passed.</summary>
    private void ForgetLateCertificates()
    {
        if (_lateCertificates.Count == 0) return;
        List<ulong>? done = null;
        foreach (var seq in _lateCertificates.Keys) if (seq <= LastExecuted) (done ??= new()).Add(seq);
        if (done is not null) foreach (var seq in done) _lateCertificates.Remove(seq);
    }
}
