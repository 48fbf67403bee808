using FastBft.Wire;

namespace FastBft.Agreement.ReMinBft;

/// <summary>
/// ReMinBFT's CHECKPOINT votes (Thesis §5.4.2 "Checkpoints and Garbage Collection"; docs/reminbft.md §3.3): per checkpoint
/// s and sender, the body (D(state)[32] ‖ count[4] ‖ count × (epoch[8] ‖ counter[8])), first one wins per sender. A
/// checkpoint is stable when all n replicas (or, for a planted bug, the given quorum) sent our own digest and every active
/// sender's counter list equals ours (a passive replica: equal among the active senders). A ring of L/K + 2 checkpoints ×
/// n preallocated buffers; no allocation per checkpoint. Our own last message is kept for re-sends.
/// </summary>
internal sealed class CounterCheckpoints
{
    private readonly int _n, _k;
    private readonly uint[] _active;
    private readonly ulong[] _seq;
    private readonly byte[][][] _body;
    private readonly bool[][] _has;
    private readonly byte[][] _ownMsg;
    private readonly int[] _ownLength;
    private readonly ulong[] _ownSeq;

    public CounterCheckpoints(int n, uint[] active, int ring, int checkpointInterval)
    {
        _n = n; _active = active; _k = checkpointInterval;
        _seq = new ulong[ring];
        _body = new byte[ring][][];
        _has = new bool[ring][];
        _ownMsg = new byte[ring][]; _ownLength = new int[ring]; _ownSeq = new ulong[ring];
        int len = ReMinBftBodies.CheckpointLength(active.Length);
        for (int i = 0; i < ring; i++)
        {
            _body[i] = new byte[n][];
            for (int j = 0; j < n; j++) _body[i][j] = new byte[len];
            _has[i] = new bool[n];
            _ownMsg[i] = new byte[256];
        }
    }

    /// <summary>Sequence number of the last stable checkpoint (0 = none).</summary>
    public ulong Stable { get; private set; }

    private int Index(ulong seq) => (int)(seq / (ulong)_k % (ulong)_seq.Length);

    /// <summary>Records <paramref name="sender"/>'s CHECKPOINT(seq) body (validated length); <paramref name="ownMessage"/> non-empty: ours, kept for re-sends.</summary>
    public void Record(uint sender, ulong seq, ReadOnlySpan<byte> body, ReadOnlySpan<byte> ownMessage)
    {
        int i = Index(seq);
        if (_seq[i] != seq) { _seq[i] = seq; Array.Clear(_has[i]); }
        if (!ownMessage.IsEmpty)
        {
            if (_ownMsg[i].Length < ownMessage.Length) _ownMsg[i] = new byte[ownMessage.Length];
            ownMessage.CopyTo(_ownMsg[i]);
            _ownLength[i] = ownMessage.Length;
            _ownSeq[i] = seq;
        }
        if (_has[i][sender] || body.Length > _body[i][sender].Length) return;
        body.CopyTo(_body[i][sender]);
        _has[i][sender] = true;
    }

    /// <summary>Our own CHECKPOINT(seq) message, if still in the ring (the last L/K + 2 checkpoints).</summary>
    public bool TryGetOwnMessage(ulong seq, out ReadOnlySpan<byte> message)
    {
        int i = Index(seq);
        bool has = seq != 0 && _ownSeq[i] == seq && _ownLength[i] > 0;
        message = has ? _ownMsg[i].AsSpan(0, _ownLength[i]) : default;
        return has;
    }

    /// <summary>
    /// True if checkpoint <paramref name="seq"/> is (now) stable: <paramref name="self"/>'s own vote recorded, at least
    /// <paramref name="quorum"/> senders with its digest, and all active senders among them with one identical counter list.
    /// Makes it <see cref="Stable"/>.
    /// </summary>
    public bool TryStabilize(ulong seq, int quorum, uint self)
    {
        if (seq <= Stable) return false;
        int i = Index(seq);
        if (_seq[i] != seq || !_has[i][self]) return false;
        var own = _body[i][self].AsSpan(0, Digests.Size);
        int countersLength = 16 * _active.Length;
        int matching = 0;
        int firstActive = -1;
        for (int j = 0; j < _n; j++)
        {
            if (!_has[i][j] || !_body[i][j].AsSpan(0, Digests.Size).SequenceEqual(own)) continue;
            if (Array.IndexOf(_active, (uint)j) >= 0)
            {
                var counters = _body[i][j].AsSpan(ReMinBftBodies.CheckpointFixed, countersLength);
                if (firstActive < 0) firstActive = j;
                else if (!counters.SequenceEqual(_body[i][firstActive].AsSpan(ReMinBftBodies.CheckpointFixed, countersLength))) return false;
            }
            matching++;
        }
        if (matching < quorum) return false;
        Stable = seq;
        return true;
    }

    /// <summary>
    /// The UI (epoch, counter) of active replica number <paramref name="activeIndex"/> (active-set order) in checkpoint
    /// <paramref name="seq"/> — only for the stable checkpoint or an older one still in the ring whose active senders' counter
    /// lists all match (so every correct replica that holds it reads the same values); and the state digest there.
    /// </summary>
    public bool TryGetCounter(ulong seq, int activeIndex, out ulong epoch, out ulong counter, Span<byte> digest32)
    {
        epoch = 0; counter = 0;
        if (seq == 0 || seq > Stable) return false;
        int i = Index(seq);
        if (_seq[i] != seq) return false;
        int len = 16 * _active.Length;
        int first = -1;
        foreach (var a in _active)
        {
            if (!_has[i][a]) return false;
            if (first < 0) first = (int)a;
            else if (!_body[i][a].AsSpan(ReMinBftBodies.CheckpointFixed, len).SequenceEqual(_body[i][first].AsSpan(ReMinBftBodies.CheckpointFixed, len))) return false;
        }
        var entry = _body[i][first].AsSpan(ReMinBftBodies.CheckpointFixed + 16 * activeIndex, 16);
        epoch = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(entry);
        counter = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(entry.Slice(8));
        _body[i][first].AsSpan(0, Digests.Size).CopyTo(digest32);
        return true;
    }

    /// <summary>Our own CHECKPOINT(seq)'s state digest, if still held.</summary>
    public bool TryGetOwnDigest(ulong seq, uint self, Span<byte> digest32)
    {
        int i = Index(seq);
        if (seq == 0 || _seq[i] != seq || !_has[i][self]) return false;
        _body[i][self].AsSpan(0, Digests.Size).CopyTo(digest32);
        return true;
    }

    /// <summary>The active replicas' counters (epoch, counter per active replica, active-set order) of the stable checkpoint, from
    /// the first active sender's CHECKPOINT; false if none is held (switch: passive replicas' expected counters, Thesis §5.4.3).</summary>
    public bool TryGetStableCounters(Span<byte> counters)
    {
        int i = Index(Stable);
        if (Stable == 0 || _seq[i] != Stable) return false;
        foreach (var a in _active)
            if (_has[i][a]) { _body[i][a].AsSpan(ReMinBftBodies.CheckpointFixed, 16 * _active.Length).CopyTo(counters); return true; }
        return false;
    }
}
