using System.Buffers;
using System.Buffers.Binary;
using FastBft.Service;
using FastBft.Wire;

namespace FastBft.Execution.Checkpoints;

/// <summary>
/// The checkpoints of one replica over a partitioned state (docs/state-transfer.md §2): at each checkpoint it refreshes
/// the <see cref="PartitionTree"/> (cost: the partitions changed since the previous checkpoint), freezes the state
/// (<see cref="IPartitionedState.Freeze"/>: no copy), and writes the checkpoint's <b>meta</b> object
/// <c>"FBCP" ‖ 01 ‖ P[4] ‖ replyLength[4] ‖ reply cache ‖ G group digests[32 each]</c> (little-endian), followed, for a
/// one-partition state (P = 1: the no-op and counter services), by that partition's content, so a small state travels
/// in one object as before the tree; the checkpoint digest is SHA-256(meta). It serves the checkpoint's objects to state transfer: object 0 = meta,
/// 1 + g = leaf digests of group g (32 × leaves), 1 + G + p = content of partition p. Single-threaded.
/// </summary>
public sealed class CheckpointStore
{
    /// <summary>Bytes before the reply cache in the meta object.</summary>
    public const int MetaFixed = 13;
    private static ReadOnlySpan<byte> Magic => "FBCP"u8;

    private readonly IPartitionedState _state;
    private readonly ReplyCache _replies;
    private readonly Record[] _records;
    private readonly int _interval;
    private readonly MemoryStream _metaStream = new();
    private readonly ArrayBufferWriter<byte> _served = new(4096);
    private ulong _servedSeq;
    private long _servedObject = -1;

    private sealed class Record
    {
        public ulong Sequence;
        public byte[] Meta = Array.Empty<byte>();
        public int MetaLength;
        public byte[] Leaves = Array.Empty<byte>();
        public IPartitionView? View;
    }

    /// <summary>Creates the store.</summary>
    /// <param name="state">the partitioned state.</param>
    /// <param name="replies">the reply cache written into each checkpoint.</param>
    /// <param name="checkpointInterval">K (checkpoints are at multiples of it).</param>
    /// <param name="kept">checkpoints kept (older views are disposed).</param>
    public CheckpointStore(IPartitionedState state, ReplyCache replies, int checkpointInterval, int kept)
    {
        _state = state;
        _replies = replies;
        _interval = checkpointInterval;
        Tree = new PartitionTree(state);
        _records = new Record[kept];
        for (int i = 0; i < kept; i++) _records[i] = new Record();
    }

    /// <summary>The live partition tree.</summary>
    public PartitionTree Tree { get; }
    /// <summary>The partitioned state.</summary>
    public IPartitionedState State => _state;
    /// <summary>The reply cache.</summary>
    public ReplyCache Replies => _replies;
    /// <summary>Object id of the first partition (1 + G).</summary>
    public uint FirstPartitionObject => 1u + (uint)Tree.Groups;
    /// <summary>Objects of a checkpoint: meta, G leaf lists, P partitions.</summary>
    public uint ObjectCount => FirstPartitionObject + (uint)Tree.Partitions;

    private Record Slot(ulong sequence) => _records[(int)(sequence / (ulong)_interval % (ulong)_records.Length)];

    /// <summary>Takes the checkpoint at <paramref name="sequence"/>: writes its 32-byte digest and keeps its objects.</summary>
    public void Take(ulong sequence, Span<byte> digest32)
    {
        Tree.Refresh();
        var r = Slot(sequence);
        r.View?.Dispose();
        r.View = _state.Freeze();
        r.Sequence = sequence;
        if (r.Leaves.Length != Tree.Leaves.Length) r.Leaves = new byte[Tree.Leaves.Length];
        Tree.Leaves.CopyTo(r.Leaves);
        var ms = _metaStream;
        WriteMeta(ms, Tree.Partitions, Tree.GroupDigests);
        if (Tree.Partitions == 1)
        {
            _served.ResetWrittenCount();
            r.View.WritePartition(0, _served);
            ms.Write(_served.WrittenSpan);
            _servedObject = -1;
        }
        int len = (int)ms.Length;
        if (r.Meta.Length < len) r.Meta = new byte[Math.Max(len, 256)];
        ms.GetBuffer().AsSpan(0, len).CopyTo(r.Meta);
        r.MetaLength = len;
        if (_servedSeq == sequence) _servedObject = -1;
        Digests.Sha256(r.Meta.AsSpan(0, len), digest32);
    }

    private void WriteMeta(MemoryStream ms, int partitions, ReadOnlySpan<byte> groups)
    {
        ms.SetLength(0);
        Span<byte> head = stackalloc byte[MetaFixed];
        Magic.CopyTo(head);
        head[4] = 1;
        BinaryPrimitives.WriteInt32LittleEndian(head.Slice(5), partitions);
        ms.Write(head);                                    // reply length patched below
        _replies.Write(ms);
        int replyLen = (int)ms.Length - MetaFixed;
        BinaryPrimitives.WriteInt32LittleEndian(ms.GetBuffer().AsSpan(9), replyLen);
        ms.Write(groups);
    }

    /// <summary>True if the checkpoint at <paramref name="sequence"/> is kept.</summary>
    public bool Has(ulong sequence) { var r = Slot(sequence); return r.Sequence == sequence && r.View is not null; }

    /// <summary>
    /// The bytes of object <paramref name="obj"/> of the kept checkpoint at <paramref name="sequence"/> (valid until
    /// the next call); false if the checkpoint is not kept or the object does not exist. A partition is serialized
    /// once and served from a buffer while its chunks are asked for.
    /// </summary>
    public bool TryRead(ulong sequence, uint obj, out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        var r = Slot(sequence);
        if (r.Sequence != sequence || r.View is null || obj >= ObjectCount) return false;
        if (obj == 0) { bytes = r.Meta.AsSpan(0, r.MetaLength); return true; }
        if (obj < FirstPartitionObject)
        {
            int g = (int)obj - 1;
            bytes = r.Leaves.AsSpan(g * PartitionTree.Fanout * Digests.Size, Tree.LeavesIn(g) * Digests.Size);
            return true;
        }
        if (_servedSeq != sequence || _servedObject != obj)
        {
            _served.ResetWrittenCount();
            r.View.WritePartition((int)(obj - FirstPartitionObject), _served);
            _servedSeq = sequence; _servedObject = obj;
        }
        bytes = _served.WrittenSpan;
        return true;
    }

    /// <summary>Starts fetching the checkpoint at <paramref name="sequence"/> whose meta object was verified against its certified digest; null if the meta is malformed or of another shape.</summary>
    public CheckpointFetch? BeginFetch(ulong sequence, ReadOnlySpan<byte> meta, long maxBytes)
        => CheckpointFetch.TryCreate(this, sequence, meta, maxBytes);

    /// <summary>Parses a meta object: the reply-cache bytes and the group digests; false if malformed or not of P partitions.</summary>
    internal static bool TryParseMeta(ReadOnlySpan<byte> meta, int partitions, out int replyOffset, out int replyLength, out int groupsOffset)
    {
        replyOffset = MetaFixed; replyLength = 0; groupsOffset = 0;
        if (meta.Length < MetaFixed || !meta.StartsWith(Magic) || meta[4] != 1) return false;
        if (BinaryPrimitives.ReadInt32LittleEndian(meta.Slice(5)) != partitions) return false;
        replyLength = BinaryPrimitives.ReadInt32LittleEndian(meta.Slice(9));
        if (replyLength < 4 || replyLength > meta.Length - MetaFixed) return false;
        groupsOffset = MetaFixed + replyLength;
        int groups = PartitionTree.GroupCount(partitions) * Digests.Size;
        return partitions == 1 ? meta.Length - groupsOffset > groups : meta.Length - groupsOffset == groups;   // P = 1: the content follows
    }
}
