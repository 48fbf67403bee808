using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.TrustedHw;
using FastBft.Wire;

namespace FastBft.Agreement.MinBft;

/// <summary>
/// One entry of the MinBFT log: the leader's certified PREPARE for sequence number s (with its batch), the matching
/// certified messages counted for s (the PREPARE as the leader's, COMMITs as the followers'), this replica's own
/// certified message for s, and — after a new view — the batch the NEW-VIEW fixed (<see cref="NvFixed"/>) and the PREPARE
/// our last COMMIT named (<see cref="Saved"/>). Slots are reused round-robin (index s mod L); buffers grow once and are reused.
/// </summary>
internal sealed class MinBftSlot
{
    public ulong Seq;                                 // 0 = unused
    public ulong View;
    public bool HasPrepare;
    public readonly byte[] Digest = new byte[Digests.Size];
    public readonly byte[] LeaderUi = new byte[MinBftBodies.UiSize];
    public byte[] Prepare = new byte[1024];           // the complete certified PREPARE message
    public int PrepareLength;
    public bool PrepareAuthenticated;                 // every client MAC for us verified (we may vouch for it)
    public readonly MatchingVotes Votes;              // D(batch) per replica: the leader's PREPARE and the COMMITs
    public bool CommitQueued, SentOwn, Committed, Executed, NvFixed;
    public ulong OwnEpoch, OwnCounter;                // UI of our own PREPARE/COMMIT for this slot
    public int StalledTicks;

    public MinBftSlot(int n, ProtocolFamily family = ProtocolFamily.MinBft) { Votes = new MatchingVotes(n); Family = family; }

    /// <summary>Family of the PREPARE headers this slot writes (<see cref="StoreFixed"/>).</summary>
    public readonly ProtocolFamily Family;

    public void Reset(ulong seq, ulong view)
    {
        Seq = seq; View = view; HasPrepare = false; PrepareLength = 0; PrepareAuthenticated = false;
        Votes.Clear();
        CommitQueued = SentOwn = Committed = Executed = NvFixed = false;
        HasOriginal = false;
        OwnEpoch = OwnCounter = 0; StalledTicks = 0;
    }

    public ReadOnlySpan<byte> PrepareMessage => Prepare.AsSpan(0, PrepareLength);

    /// <summary>The batch body of the stored PREPARE.</summary>
    public ReadOnlySpan<byte> Batch => PrepareMessage.Slice(MessageHeader.Size, BinaryPrimitives.ReadInt32LittleEndian(Prepare.AsSpan(24)));

    /// <summary>True if <see cref="Prepare"/> is a certified PREPARE (a VIEW-CHANGE may attach it); false for a batch a NEW-VIEW fixed and not yet re-proposed.</summary>
    public bool HasOriginal;

    /// <summary>The certified PREPARE our last COMMIT for this slot named, kept across a new view (the VIEW-CHANGE log attaches it).</summary>
    public byte[] Saved = new byte[256];
    public int SavedLength;
    public ulong SavedSeq;

    /// <summary>Before a new view resets the slot: keep the PREPARE our COMMIT named (swaps buffers, no copy).</summary>
    public void SaveCommitted()
    {
        if (!SentOwn || !HasOriginal) return;
        (Saved, Prepare) = (Prepare, Saved);
        SavedLength = PrepareLength;
        SavedSeq = Seq;
    }

    public ReadOnlySpan<byte> SavedMessage => Saved.AsSpan(0, SavedLength);

    /// <summary>A batch a NEW-VIEW fixed at this slot (docs/minbft.md §5.5): the new leader re-proposes it, followers bind only a PREPARE with this digest.</summary>
    public void StoreFixed(ReadOnlySpan<byte> batch, ReadOnlySpan<byte> digest)
    {
        int len = MessageHeader.Size + batch.Length;
        if (Prepare.Length < len) Prepare = new byte[len];
        new MessageHeader(MessageType.UiPrepare, 0, View, Seq, batch.Length, 0, Family, 0).Write(Prepare);
        batch.CopyTo(Prepare.AsSpan(MessageHeader.Size));
        PrepareLength = len;
        digest.CopyTo(Digest);
        NvFixed = true;
    }

    /// <summary>Only the digest a switch fixed at this slot (docs/reminbft.md §5.2): a follower binds only a PREPARE with it; the
    /// new leader, which holds the batch, fixes it with <see cref="StoreFixed"/>.</summary>
    public void StoreFixedDigest(ReadOnlySpan<byte> digest)
    {
        PrepareLength = 0;
        digest.CopyTo(Digest);
        NvFixed = true;
    }

    public void StorePrepare(ReadOnlySpan<byte> message, ReadOnlySpan<byte> digest, ReadOnlySpan<byte> leaderUi)
    {
        if (Prepare.Length < message.Length) Prepare = new byte[Math.Max(message.Length, Prepare.Length * 2)];
        message.CopyTo(Prepare);
        PrepareLength = message.Length;
        digest.CopyTo(Digest);
        leaderUi.CopyTo(LeaderUi);
        HasPrepare = true;
        HasOriginal = true;
    }
}

/// <summary>A certified message copied out of the receive buffer while it waits in a <see cref="CounterOrderBuffer{TMessage}"/>. Pooled.</summary>
internal sealed class HeldMessage
{
    public byte[] Data = new byte[512];
    public int Length;
    public bool RequestsAuthenticated;

    public void Set(ReadOnlySpan<byte> message, bool requestsAuthenticated)
    {
        if (Data.Length < message.Length) Data = new byte[Math.Max(message.Length, Data.Length * 2)];
        message.CopyTo(Data);
        Length = message.Length;
        RequestsAuthenticated = requestsAuthenticated;
    }

    public ReadOnlySpan<byte> Span => Data.AsSpan(0, Length);
}

/// <summary>
/// This replica's own certified messages by (epoch, counter) — the source of retransmissions (UI-FETCH) and of the
/// VIEW-CHANGE log. A ring of <c>capacity</c> counters; buffers grow once and are reused (no allocation in steady state).
/// </summary>
internal sealed class SentLog
{
    private readonly byte[][] _data;
    private readonly int[] _length;
    private readonly ulong[] _epoch, _counter;

    public SentLog(int capacity)
    {
        _data = new byte[capacity][];
        for (int i = 0; i < capacity; i++) _data[i] = new byte[256];
        _length = new int[capacity];
        _epoch = new ulong[capacity];
        _counter = new ulong[capacity];
    }

    public int Capacity => _data.Length;

    /// <summary>Highest counter recorded and its epoch.</summary>
    public ulong LastCounter { get; private set; }
    public ulong LastEpoch { get; private set; }

    public void Add(ulong epoch, ulong counter, ReadOnlySpan<byte> message)
    {
        int i = (int)(counter % (ulong)_data.Length);
        if (_data[i].Length < message.Length) _data[i] = new byte[Math.Max(message.Length, _data[i].Length * 2)];
        message.CopyTo(_data[i]);
        _length[i] = message.Length;
        _epoch[i] = epoch; _counter[i] = counter;
        if (epoch != LastEpoch || counter > LastCounter) { LastEpoch = epoch; LastCounter = counter; }
    }

    public bool TryGet(ulong epoch, ulong counter, out ReadOnlySpan<byte> message)
    {
        int i = (int)(counter % (ulong)_data.Length);
        if (counter == 0 || _counter[i] != counter || _epoch[i] != epoch) { message = default; return false; }
        message = _data[i].AsSpan(0, _length[i]);
        return true;
    }
}

/// <summary>
/// The certified messages one input burst produces, built back to back and certified together by
/// <see cref="UsigCertificateScheme.SealBatch"/> — one <see cref="IUsig.CreateUIs"/> device round trip per burst
/// (PROTOCOLS.md §2.4 SUGGESTION "certify per batch"). Counters are consecutive in the order messages were added, so
/// sending them in that order keeps every receiver's counter order. Buffers grow once and are reused.
/// </summary>
internal sealed class CertifiedOutbox
{
    private byte[] _buf = new byte[64 * 1024];
    private int _used;
    private int[] _offset = new int[64], _length = new int[64];
    private byte[] _headers = new byte[64 * MessageHeader.Size], _digests = new byte[64 * Digests.Size], _trailers = new byte[64 * UsigCertificateScheme.Length];
    private int _count, _open = -1;
    private readonly uint _self;
    private readonly ProtocolFamily _family;

    public CertifiedOutbox(uint self, ProtocolFamily family = ProtocolFamily.MinBft, ulong generation = 0) { _self = self; _family = family; _generation = generation; }

    private readonly ulong _generation;

    public int Count => _count;

    /// <summary>Starts message i = <see cref="Count"/>; returns its body (valid until the next Begin).</summary>
    public Span<byte> Begin(MessageType type, ulong view, ulong seq, int bodyLength)
    {
        int total = MinBftBodies.CertifiedLength(bodyLength);
        if (_used + total > _buf.Length) Array.Resize(ref _buf, Math.Max(_used + total, _buf.Length * 2));
        if (_count == _offset.Length)
        {
            int k = _count * 2;
            Array.Resize(ref _offset, k); Array.Resize(ref _length, k);
            Array.Resize(ref _headers, k * MessageHeader.Size); Array.Resize(ref _digests, k * Digests.Size); Array.Resize(ref _trailers, k * UsigCertificateScheme.Length);
        }
        new MessageHeader(type, _self, view, seq, bodyLength, UsigCertificateScheme.Length, _family, _generation).Write(_buf.AsSpan(_used));
        _offset[_count] = _used; _length[_count] = total;
        _open = _count;
        _used += total;
        _count++;
        return _buf.AsSpan(_offset[_open] + MessageHeader.Size, bodyLength);
    }

    /// <summary>Ends the open message; its authenticated digest is AuthBody(body), or <paramref name="authDigest"/> (PREPARE: D(batch)).</summary>
    public void End(scoped ReadOnlySpan<byte> authDigest = default)
    {
        int i = _open;
        var msg = _buf.AsSpan(_offset[i], _length[i]);
        msg.Slice(0, MessageHeader.Size).CopyTo(_headers.AsSpan(i * MessageHeader.Size));
        var d = _digests.AsSpan(i * Digests.Size, Digests.Size);
        if (authDigest.IsEmpty) Digests.AuthBody(msg.Slice(MessageHeader.Size, msg.Length - MessageHeader.Size - UsigCertificateScheme.Length), d);
        else authDigest.CopyTo(d);
        _open = -1;
    }

    /// <summary>Certifies every message with one <see cref="UsigCertificateScheme.SealBatch"/> call.</summary>
    /// <exception cref="UsigException">the USIG failed; nothing is certified, the messages stay queued.</exception>
    public void Seal(UsigCertificateScheme usig)
    {
        int k = _count;
        usig.SealBatch(_headers.AsSpan(0, k * MessageHeader.Size), _digests.AsSpan(0, k * Digests.Size), _trailers.AsSpan(0, k * UsigCertificateScheme.Length));
        for (int i = 0; i < k; i++)
            _trailers.AsSpan(i * UsigCertificateScheme.Length, UsigCertificateScheme.Length).CopyTo(_buf.AsSpan(_offset[i] + _length[i] - UsigCertificateScheme.Length));
    }

    public ReadOnlySpan<byte> Message(int i) => _buf.AsSpan(_offset[i], _length[i]);

    public void Clear() { _count = 0; _used = 0; _open = -1; }

    /// <summary>Reads the UI of a certified message (its last 48 bytes).</summary>
    public static void ReadUi(ReadOnlySpan<byte> certified, out ulong epoch, out ulong counter)
    {
        var ui = certified.Slice(certified.Length - MinBftBodies.UiSize);
        epoch = BinaryPrimitives.ReadUInt64LittleEndian(ui);
        counter = BinaryPrimitives.ReadUInt64LittleEndian(ui.Slice(8));
    }
}
