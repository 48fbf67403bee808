using System.Buffers;
using FastBft.Wire;

namespace FastBft.Service;

/// <summary>
/// The default <see cref="IPartitionedState"/> of a service that has no partitions of its own (the no-op and counter
/// services): the whole state is one partition whose content is <see cref="IReplicatedService.WriteSnapshot"/> and
/// whose digest is SHA-256 of that content. Each checkpoint therefore still serializes the whole state — fine for
/// states of a few kilobytes; a large service implements <see cref="IPartitionedState"/> itself (KvService does).
/// </summary>
public sealed class WholeStatePartition(IReplicatedService service) : IPartitionedState
{
    private readonly MemoryStream _buffer = new();

    /// <summary>The adapted service.</summary>
    public IReplicatedService Service => service;

    /// <inheritdoc/>
    public int PartitionCount => 1;

    /// <inheritdoc/>
    public void GetPartitionDigest(int partition, Span<byte> digest32)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(partition, 0);
        Serialize();
        Digests.Sha256(_buffer.GetBuffer().AsSpan(0, (int)_buffer.Length), digest32);
    }

    /// <inheritdoc/>
    public void TakeChangedPartitions(List<int> changed) => changed.Add(0);     // no change tracking: always re-hashed

    /// <inheritdoc/>
    public IPartitionView Freeze()
    {
        Serialize();
        var view = _free.Count > 0 ? _free.Pop() : new View(this);
        view.Set(_buffer.GetBuffer().AsSpan(0, (int)_buffer.Length));
        return view;
    }

    private readonly Stack<View> _free = new();     // views reused once their checkpoint leaves the window (no steady-state allocation)

    /// <inheritdoc/>
    public bool TryComputePartitionDigest(int partition, ReadOnlySpan<byte> content, Span<byte> digest32)
    {
        if (partition != 0) return false;
        Digests.Sha256(content, digest32);
        return true;
    }

    /// <inheritdoc/>
    public void InstallPartitions(IReadOnlyList<KeyValuePair<int, byte[]>> partitions)
    {
        foreach (var (p, content) in partitions)
        {
            if (p != 0) throw new InvalidDataException($"partition {p} of a one-partition state");
            using var s = new MemoryStream(content, writable: false);
            service.RestoreSnapshot(s);
        }
    }

    private void Serialize()
    {
        _buffer.SetLength(0);
        service.WriteSnapshot(_buffer);
    }

    private sealed class View(WholeStatePartition owner) : IPartitionView
    {
        private byte[] _content = new byte[256];
        private int _length;
        private bool _free;

        public void Set(ReadOnlySpan<byte> content)
        {
            if (_content.Length < content.Length) _content = new byte[Math.Max(content.Length, _content.Length * 2)];
            content.CopyTo(_content);
            _length = content.Length;
            _free = false;
        }

        public void WritePartition(int partition, IBufferWriter<byte> destination)
        {
            ArgumentOutOfRangeException.ThrowIfNotEqual(partition, 0);
            destination.Write(_content.AsSpan(0, _length));
        }

        public void Dispose()
        {
            if (_free) return;
            _free = true;
            owner._free.Push(this);
        }
    }
}
