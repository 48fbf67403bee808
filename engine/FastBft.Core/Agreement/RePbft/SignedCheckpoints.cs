using FastBft.Auth;
using FastBft.Wire;

namespace FastBft.Agreement.RePbft;

/// <summary>
/// RePBFT's signed CHECKPOINT messages per sequence number (Thesis §5.3.1.3): the replica's own, every peer's, and
/// the certificate of the last stable one (all n matching messages, kept whole: an abort history embeds it). The
/// verifier checked each message's signature. Bounded: <c>capacity</c> sequence numbers, n messages each.
/// </summary>
internal sealed class SignedCheckpoints
{
    private sealed class Entry
    {
        public ulong Seq;
        public readonly byte[]?[] Messages;
        public Entry(int n) => Messages = new byte[n][];
    }

    private readonly Entry[] _entries;
    private readonly int _n;
    private uint _self;

    public SignedCheckpoints(int n, int capacity, uint self)
    {
        _n = n;
        _self = self;
        _entries = new Entry[capacity];
        for (int i = 0; i < capacity; i++) _entries[i] = new Entry(n);
    }

    /// <summary>Sequence number of the stable checkpoint (0 = genesis).</summary>
    public ulong StableSeq { get; private set; }
    /// <summary>Its state digest (32 bytes; zero at genesis).</summary>
    public byte[] StableDigest { get; private set; } = new byte[Digests.Size];
    /// <summary>Its certificate: n signed CHECKPOINT messages (empty at genesis).</summary>
    public List<byte[]> StableCertificate { get; private set; } = new();

    private Entry For(ulong seq, bool create)
    {
        Entry? free = null;
        foreach (var e in _entries)
        {
            if (e.Seq == seq) return e;
            if (e.Seq <= StableSeq && (free is null || e.Seq < free.Seq)) free = e;
        }
        if (!create) return null!;
        if (free is null)
        {
            // Full of unstable sequence numbers: replace the highest (a peer far ahead is the one to wait for).
            free = _entries[0];
            foreach (var e in _entries) if (e.Seq > free.Seq) free = e;
        }
        free.Seq = seq;
        Array.Clear(free.Messages);
        return free;
    }

    public void RecordOwn(uint self, ulong seq, ReadOnlySpan<byte> message) { _self = self; Record(self, seq, message); }

    public void Record(uint sender, ulong seq, ReadOnlySpan<byte> message)
    {
        if (sender >= (uint)_n || seq <= StableSeq) return;
        var e = For(seq, create: true);
        e.Messages[sender] ??= message.ToArray();
    }

    private static ReadOnlySpan<byte> DigestOf(byte[] m) => m.AsSpan(MessageHeader.Size, Digests.Size);

    /// <summary>Makes <paramref name="seq"/> stable if we hold our own and <paramref name="quorum"/> messages match it.</summary>
    public bool TryStabilize(ulong seq, int quorum)
    {
        if (seq <= StableSeq) return false;
        var e = For(seq, create: false);
        if (e is null || e.Messages[_self] is not { } own) return false;
        var cert = new List<byte[]>(_n);
        foreach (var m in e.Messages) if (m is not null && DigestOf(m).SequenceEqual(DigestOf(own))) cert.Add(m);
        if (cert.Count < quorum) return false;
        StableSeq = seq;
        StableDigest = DigestOf(own).ToArray();
        StableCertificate = cert;
        return true;
    }

    /// <summary>Installs a stable checkpoint known from elsewhere (a switch back carries the certificate).</summary>
    public void SetStable(ulong seq, byte[] digest, List<byte[]> certificate)
    {
        if (seq < StableSeq) return;
        StableSeq = seq; StableDigest = digest; StableCertificate = certificate;
    }

    /// <summary>Our own message for the lowest checkpoint above <paramref name="stable"/> that is not stable yet.</summary>
    public bool OwnUnstable(ulong stable, out ReadOnlySpan<byte> message)
    {
        Entry? best = null;
        foreach (var e in _entries)
            if (e.Seq > stable && e.Seq > StableSeq && e.Messages[_self] is not null && (best is null || e.Seq < best.Seq)) best = e;
        message = best is null ? default : best.Messages[_self];
        return best is not null;
    }

    /// <summary>Our own message for <paramref name="seq"/> (kept while in the table or in the stable certificate).</summary>
    public bool TryGetOwn(ulong seq, out ReadOnlySpan<byte> message)
    {
        message = default;
        if (seq == StableSeq)
            foreach (var m in StableCertificate)
                if (MessageHeader.TryParse(m, int.MaxValue, out var h) == ParseStatus.Ok && h.Sender == _self) { message = m; return true; }
        var e = For(seq, create: false);
        if (e?.Messages[_self] is not { } own) return false;
        message = own;
        return true;
    }

    /// <summary>Our own checkpoint digests in [<paramref name="from"/>, <paramref name="to"/>] (the PBFT generation a switch starts re-stabilises them).</summary>
    public List<(ulong Seq, byte[] Digest)> OwnDigests(ulong from, ulong to)
    {
        var list = new List<(ulong, byte[])>();
        if (StableSeq >= from && StableSeq <= to && StableSeq > 0) list.Add((StableSeq, StableDigest));
        foreach (var e in _entries)
            if (e.Seq > StableSeq && e.Seq >= from && e.Seq <= to && e.Messages[_self] is { } own) list.Add((e.Seq, DigestOf(own).ToArray()));
        list.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return list;
    }
}
