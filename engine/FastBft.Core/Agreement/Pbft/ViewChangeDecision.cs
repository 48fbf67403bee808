namespace FastBft.Agreement.Pbft;

/// <summary>
/// The NEW-VIEW decision procedure of PBFT-PR §4.5, Fig. 3, as pure functions over a set S of
/// VIEW-CHANGEs (distinct senders, ≥ 2f+1). The new primary uses them to decide; every backup uses
/// them to check that the VIEW-CHANGEs embedded in a NEW-VIEW support the primary's decision
/// (docs/view-change.md). Deterministic: the same S gives the same checkpoint and the same top.
/// </summary>
public static class ViewChangeDecision
{
    /// <summary>The null request's batch digest: SHA-256 of the empty string (a PRE-PREPARE with 0 requests).</summary>
    public static readonly byte[] NullDigest = System.Security.Cryptography.SHA256.HashData(ReadOnlySpan<byte>.Empty);

    /// <summary>
    /// The checkpoint: the largest n such that ≥ 2f+1 messages have h ≤ n and ≥ f+1 list (n, d) in C
    /// (PBFT-PR Fig. 3). Ties at one n (only possible if correct replicas diverged) break towards the
    /// lexicographically smallest digest. False if no checkpoint qualifies.
    /// </summary>
    public static bool TrySelectCheckpoint(IReadOnlyList<ViewChangeBody> s, int f, out ulong h, out byte[] digest)
    {
        h = 0; digest = [];
        bool found = false;
        foreach (var m in s)
            foreach (var (n, d) in m.C)
            {
                if (found && (n < h || (n == h && d.AsSpan().SequenceCompareTo(digest) >= 0))) continue;
                int low = 0, vouch = 0;
                foreach (var m2 in s)
                {
                    if (m2.H <= n) low++;
                    if (m2.HasCheckpoint(n, d)) vouch++;
                }
                if (low < 2 * f + 1 || vouch < f + 1) continue;
                h = n; digest = d; found = true;
            }
        return found;
    }

    /// <summary>The highest sequence number of any P entry in (h, h + window] — the last slot the new view must fix (h itself if none).</summary>
    public static ulong Top(IReadOnlyList<ViewChangeBody> s, ulong h, int window)
    {
        ulong top = h;
        foreach (var m in s) foreach (var p in m.P) if (p.Seq > top && p.Seq - h <= (ulong)window) top = p.Seq;
        return top;
    }

    /// <summary>Condition A1 for (n, v, d): ≥ 2f+1 messages have h &lt; n and no P entry for n that is newer than v, or of view v with another digest.</summary>
    public static bool A1(IReadOnlyList<ViewChangeBody> s, int f, ulong n, ulong v, ReadOnlySpan<byte> d)
    {
        int c = 0;
        foreach (var m in s)
        {
            if (m.H >= n) continue;
            if (!m.TryGetP(n, out var v2, out var d2) || v2 < v || (v2 == v && d.SequenceEqual(d2))) c++;
        }
        return c >= 2 * f + 1;
    }

    /// <summary>Condition A2 for (n, v, d): ≥ f+1 messages have a Q entry (n, v', d) with v' ≥ v.</summary>
    public static bool A2(IReadOnlyList<ViewChangeBody> s, int f, ulong n, ulong v, ReadOnlySpan<byte> d)
    {
        int c = 0;
        foreach (var m in s) if (m.HasQ(n, v, d)) c++;
        return c >= f + 1;
    }

    /// <summary>Condition B for n: ≥ 2f+1 messages have h &lt; n and no P entry for n (the null request may be chosen).</summary>
    public static bool B(IReadOnlyList<ViewChangeBody> s, int f, ulong n)
    {
        int c = 0;
        foreach (var m in s) if (m.H < n && !m.TryGetP(n, out _, out _)) c++;
        return c >= 2 * f + 1;
    }

    /// <summary>
    /// The candidates that satisfy A1 and A2 at n: the distinct digests of P entries for n, in a
    /// deterministic order (highest view first, then digest). Condition A3 (the primary holds the
    /// batch) is the caller's.
    /// </summary>
    public static List<byte[]> Candidates(IReadOnlyList<ViewChangeBody> s, int f, ulong n)
    {
        var entries = new List<(ulong View, byte[] Digest)>();
        foreach (var m in s) if (m.TryGetP(n, out var v, out var d)) entries.Add((v, d));
        entries.Sort((a, b) => a.View != b.View ? b.View.CompareTo(a.View) : a.Digest.AsSpan().SequenceCompareTo(b.Digest));
        var result = new List<byte[]>();
        foreach (var (v, d) in entries)
        {
            bool dup = false;
            foreach (var r in result) if (r.AsSpan().SequenceEqual(d)) { dup = true; break; }
            if (dup || !A1(s, f, n, v, d) || !A2(s, f, n, v, d)) continue;
            result.Add(d);
        }
        return result;
    }

    /// <summary>
    /// A backup's check of the primary's choice <paramref name="d"/> at n (PBFT-PR §4.5: "backups
    /// check that the VIEW-CHANGEs support the decision"): some P entry (v, d) satisfies A1 and A2, or
    /// d is the null request and B holds.
    /// </summary>
    public static bool Supports(IReadOnlyList<ViewChangeBody> s, int f, ulong n, ReadOnlySpan<byte> d)
    {
        foreach (var m in s)
            if (m.TryGetP(n, out var v, out var pd) && d.SequenceEqual(pd) && A1(s, f, n, v, d) && A2(s, f, n, v, d)) return true;
        return d.SequenceEqual(NullDigest) && B(s, f, n);
    }
}
