using FastBft.Wire;

namespace FastBft.Agreement.RePbft;

/// <summary>
/// RePBFT's signed CHECKPOINT messages per sequence number (Thesis §5.3.1.3): the replica's own, every peer's, and
/// the certificate of the last stable one (all n matching messages, kept whole: an abort history embeds it). The
/// verifier checked each message's signature. Bounded: <c>capacity</c> sequence numbers, n messages each, in buffers
/// reused across sequence numbers (no allocation per checkpoint once they reached the message size).
/// </summary>
internal sealed class SignedCheckpoints
{
    private sealed class Entry
    {
        public ulong Seq;
        public readonly byte[]?[] Messages;
        public readonly int[] Lengths;
        public Entry(int n) { Messages = new byte[n][]; Lengths = new int[n]; }
        public bool Has(uint sender) => Lengths[sender] > 0;
        public ReadOnlySpan<byte> Message(uint sender) => Messages[sender].AsSpan(0, Lengths[sender]);
    }

    private readonly Entry[] _entries;
    private readonly Entry _stable;
    private readonly int _n;
    private readonly uint _self;

    public SignedCheckpoints(int n, int capacity, uint self)
    {
        _n = n;
        _self = self;
        _entries = new Entry[capacity];
        for (int i = 0; i < capacity; i++) _entries[i] = new Entry(n);
        _stable = new Entry(n);
    }

    /// <summary>Sequence number of the stable checkpoint (0 = genesis).</summary>
    public ulong StableSeq { get; private set; }
    /// <summary>Its state digest (32 bytes; zero at genesis).</summary>
    public byte[] StableDigest { get; } = new byte[Digests.Size];

    /// <summary>Its certificate: n signed CHECKPOINT messages (empty at genesis). Copies (abort histories only).</summary>
    public List<byte[]> StableCertificate
    {
        get
        {
            var list = new List<byte[]>(_n);
            for (uint r = 0; r < _n; r++) if (_stable.Has(r)) list.Add(_stable.Message(r).ToArray());
            return list;
        }
    }

    /// <summary>Sends every message of the stable certificate to <paramref name="replica"/> (forwarded unchanged: each carries its signer's MAC vector and signature).</summary>
    public void SendStableCertificate(uint replica, IReplicaOutput output)
    {
        for (uint r = 0; r < _n; r++) if (_stable.Has(r)) output.SendToReplica(replica, _stable.Message(r));
    }

    private Entry? Find(ulong seq)
    {
        foreach (var e in _entries) if (e.Seq == seq) return e;
        return null;
    }

    private Entry Claim(ulong seq)
    {
        Entry? free = null;
        foreach (var e in _entries)
            if (e.Seq <= StableSeq && (free is null || e.Seq < free.Seq)) free = e;
        if (free is null)
        {
            // Full of unstable sequence numbers: replace the highest (a peer far ahead is the one to wait for).
            free = _entries[0];
            foreach (var e in _entries) if (e.Seq > free.Seq) free = e;
        }
        free.Seq = seq;
        Array.Clear(free.Lengths);
        return free;
    }

    private static void Store(Entry e, uint sender, ReadOnlySpan<byte> message)
    {
        if (e.Messages[sender] is null || e.Messages[sender]!.Length < message.Length) e.Messages[sender] = new byte[Math.Max(message.Length, 256)];
        message.CopyTo(e.Messages[sender]);
        e.Lengths[sender] = message.Length;
    }

    public void RecordOwn(ulong seq, ReadOnlySpan<byte> message) => Record(_self, seq, message);

    public void Record(uint sender, ulong seq, ReadOnlySpan<byte> message)
    {
        if (sender >= (uint)_n || seq <= StableSeq) return;
        var e = Find(seq) ?? Claim(seq);
        if (!e.Has(sender)) { Store(e, sender, message); return; }
        // A faulty replica may sign two digests for one sequence number (to different peers or at different times). Keep
        // the one that matches ours: keeping the first one it sent us made stability (all n matching) impossible here
        // while the others completed the certificate, and this replica stayed behind at a switch-back point.
        if (sender != _self && e.Has(_self) && !DigestOf(e.Message(sender)).SequenceEqual(DigestOf(e.Message(_self)))
            && DigestOf(message).SequenceEqual(DigestOf(e.Message(_self))))
            Store(e, sender, message);
    }

    private static ReadOnlySpan<byte> DigestOf(ReadOnlySpan<byte> m) => m.Slice(MessageHeader.Size, Digests.Size);

    /// <summary>Makes <paramref name="seq"/> stable if we hold our own and <paramref name="quorum"/> messages match it.</summary>
    public bool TryStabilize(ulong seq, int quorum)
    {
        if (seq <= StableSeq) return false;
        var e = Find(seq);
        if (e is null || !e.Has(_self)) return false;
        var own = DigestOf(e.Message(_self));
        int matching = 0;
        for (uint r = 0; r < _n; r++) if (e.Has(r) && DigestOf(e.Message(r)).SequenceEqual(own)) matching++;
        if (matching < quorum) return false;
        Array.Clear(_stable.Lengths);
        for (uint r = 0; r < _n; r++) if (e.Has(r) && DigestOf(e.Message(r)).SequenceEqual(own)) Store(_stable, r, e.Message(r));
        _stable.Seq = seq;
        own.CopyTo(StableDigest);
        StableSeq = seq;
        return true;
    }

    /// <summary>Our own message for the lowest checkpoint above <paramref name="stable"/> that is not stable yet.</summary>
    public bool OwnUnstable(ulong stable, out ReadOnlySpan<byte> message)
    {
        Entry? best = null;
        foreach (var e in _entries)
            if (e.Seq > stable && e.Seq > StableSeq && e.Has(_self) && (best is null || e.Seq < best.Seq)) best = e;
        message = best is null ? default : best.Message(_self);
        return best is not null;
    }

    /// <summary>Our own message for <paramref name="seq"/> (kept while in the table or in the stable certificate).</summary>
    public bool TryGetOwn(ulong seq, out ReadOnlySpan<byte> message)
    {
        message = default;
        if (seq == StableSeq && seq > 0 && _stable.Has(_self)) { message = _stable.Message(_self); return true; }
        var e = Find(seq);
        if (e is null || !e.Has(_self)) return false;
        message = e.Message(_self);
        return true;
    }

    /// <summary>Our own checkpoint digests in [<paramref name="from"/>, <paramref name="to"/>] (the PBFT generation a switch starts re-stabilises them).</summary>
    public List<(ulong Seq, byte[] Digest)> OwnDigests(ulong from, ulong to)
    {
        var list = new List<(ulong, byte[])>();
        if (StableSeq >= from && StableSeq <= to && StableSeq > 0) list.Add((StableSeq, StableDigest.ToArray()));
        foreach (var e in _entries)
            if (e.Seq > StableSeq && e.Seq >= from && e.Seq <= to && e.Has(_self)) list.Add((e.Seq, DigestOf(e.Message(_self)).ToArray()));
        list.Sort((a, b) => a.Item1.CompareTo(b.Item1));
        return list;
    }
}
