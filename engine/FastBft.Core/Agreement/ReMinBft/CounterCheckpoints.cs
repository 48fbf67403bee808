using System.Buffers.Binary;
using FastBft.Wire;

namespace FastBft.Agreement.ReMinBft;

/// <summary>
/// ReMinBFT's signed CHECKPOINT votes (Thesis §5.4.2 "Checkpoints and Garbage Collection"; docs/reminbft.md §3.3): per
/// checkpoint s and sender, the whole verified message (header ‖ D(state)[32] ‖ count[4] ‖ count × (epoch[8] ‖ counter[8])
/// ‖ signature[64] ‖ MAC trailer), first one wins per sender — kept whole so that the active replicas' messages can travel
/// in an abort history as a transferable checkpoint certificate (<see cref="TryGetCertificate"/>). A checkpoint is stable
/// when all n replicas (or, for a planted bug, the given quorum) sent our own digest and every active sender's counter list
/// equals ours (a passive replica: equal among the active senders). A ring of L/K + 2 checkpoints × n buffers, grown to the
/// message size once and then reused: no allocation per checkpoint. Our own last message is kept for re-sends.
/// </summary>
internal sealed class CounterCheckpoints
{
    private readonly int _n, _k;
    private readonly uint[] _active;
    private readonly ulong[] _seq;
    private readonly byte[][][] _msg;
    private readonly int[][] _length;
    private readonly byte[][] _ownMsg;
    private readonly int[] _ownLength;
    private readonly ulong[] _ownSeq;

    public CounterCheckpoints(int n, uint[] active, int ring, int checkpointInterval)
    {
        _n = n; _active = active; _k = checkpointInterval;
        _seq = new ulong[ring];
        _msg = new byte[ring][][];
        _length = new int[ring][];
        _ownMsg = new byte[ring][]; _ownLength = new int[ring]; _ownSeq = new ulong[ring];
        for (int i = 0; i < ring; i++)
        {
            _msg[i] = new byte[n][];
            for (int j = 0; j < n; j++) _msg[i][j] = [];
            _length[i] = new int[n];
            _ownMsg[i] = new byte[256];
        }
    }

    /// <summary>Sequence number of the last stable checkpoint (0 = none; a generation after a switch back starts at its first
    /// sequence number s, <see cref="StartAt"/>).</summary>
    public ulong Stable { get; private set; }

    /// <summary>A generation that starts at <paramref name="seq"/> (docs/reminbft.md §7.1): checkpoints count from there, so its
    /// window (CHECKPOINTs accepted up to Stable + 2L) is the generation's and not generation 0's.</summary>
    public void StartAt(ulong seq) => Stable = seq;

    private int Index(ulong seq) => (int)(seq / (ulong)_k % (ulong)_seq.Length);

    private bool Has(int i, uint j) => _length[i][j] > 0;

    /// <summary>Sender j's body in ring slot i (without the signature): D(state) ‖ count ‖ counters.</summary>
    private ReadOnlySpan<byte> Body(int i, uint j) => _msg[i][j].AsSpan(MessageHeader.Size, _length[i][j] - MessageHeader.Size);

    private ReadOnlySpan<byte> Counters(int i, uint j) => Body(i, j).Slice(ReMinBftBodies.CheckpointFixed, 16 * _active.Length);

    /// <summary>Records <paramref name="sender"/>'s verified CHECKPOINT(seq) (whole message; its body length validated for the
    /// sender's role); <paramref name="own"/>: ours, also kept for re-sends.</summary>
    public void Record(uint sender, ulong seq, ReadOnlySpan<byte> message, bool own)
    {
        int i = Index(seq);
        if (_seq[i] != seq) { _seq[i] = seq; Array.Clear(_length[i]); }
        if (own)
        {
            if (_ownMsg[i].Length < message.Length) _ownMsg[i] = new byte[message.Length];
            message.CopyTo(_ownMsg[i]);
            _ownLength[i] = message.Length;
            _ownSeq[i] = seq;
        }
        if (Has(i, sender)) return;
        if (_msg[i][sender].Length < message.Length) _msg[i][sender] = new byte[message.Length];
        message.CopyTo(_msg[i][sender]);
        _length[i][sender] = message.Length;
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
        if (_seq[i] != seq || !Has(i, self)) return false;
        var own = Body(i, self).Slice(0, Digests.Size);
        int matching = 0;
        int firstActive = -1;
        for (uint j = 0; j < _n; j++)
        {
            if (!Has(i, j) || !Body(i, j).Slice(0, Digests.Size).SequenceEqual(own)) continue;
            if (Array.IndexOf(_active, j) >= 0)
            {
                if (firstActive < 0) firstActive = (int)j;
                else if (!Counters(i, j).SequenceEqual(Counters(i, (uint)firstActive))) return false;
            }
            matching++;
        }
        if (matching < quorum) return false;
        Stable = seq;
        return true;
    }

    /// <summary>
    /// True if every active replica's CHECKPOINT(<paramref name="seq"/>) is held, with one digest and one counter list: a
    /// certificate a third party can check (each is signed, and at least one of the f+1 active replicas is correct).
    /// </summary>
    public bool IsCertified(ulong seq)
    {
        if (seq == 0) return false;
        int i = Index(seq);
        if (_seq[i] != seq) return false;
        uint first = _active[0];
        foreach (var a in _active)
        {
            if (!Has(i, a)) return false;
            if (a != first && (!Body(i, a).Slice(0, Digests.Size).SequenceEqual(Body(i, first).Slice(0, Digests.Size))
                               || !Counters(i, a).SequenceEqual(Counters(i, first)))) return false;
        }
        return true;
    }

    /// <summary>The highest checkpoint ≤ <paramref name="upTo"/> in the ring that <see cref="IsCertified"/> (at least the stable one, if still held), or 0.</summary>
    public ulong HighestCertified(ulong upTo)
    {
        ulong best = 0;
        foreach (var s in _seq) if (s > best && s <= upTo && IsCertified(s)) best = s;
        return best;
    }

    /// <summary>Copies of the active replicas' CHECKPOINT(<paramref name="seq"/>) messages, in active-set order, if <see cref="IsCertified"/>.</summary>
    public List<byte[]>? TryGetCertificate(ulong seq)
    {
        if (!IsCertified(seq)) return null;
        int i = Index(seq);
        var list = new List<byte[]>(_active.Length);
        foreach (var a in _active) list.Add(_msg[i][a].AsSpan(0, _length[i][a]).ToArray());
        return list;
    }

    /// <summary>Our own CHECKPOINT(seq)'s state digest, if still held.</summary>
    public bool TryGetOwnDigest(ulong seq, uint self, Span<byte> digest32)
    {
        int i = Index(seq);
        if (seq == 0 || _seq[i] != seq || !Has(i, self)) return false;
        Body(i, self).Slice(0, Digests.Size).CopyTo(digest32);
        return true;
    }

    /// <summary>The UI (epoch, counter) at active-set position <paramref name="activeIndex"/> in a CHECKPOINT body (without the signature).</summary>
    public static (ulong Epoch, ulong Counter) CounterIn(ReadOnlySpan<byte> body, int activeIndex)
    {
        var entry = body.Slice(ReMinBftBodies.CheckpointFixed + 16 * activeIndex, 16);
        return (BinaryPrimitives.ReadUInt64LittleEndian(entry), BinaryPrimitives.ReadUInt64LittleEndian(entry.Slice(8)));
    }
}
