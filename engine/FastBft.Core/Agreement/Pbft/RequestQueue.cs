namespace FastBft.Agreement.Pbft;

/// <summary>
/// FIFO of client requests waiting at the primary for a batch. Entries are pooled: each keeps its
/// message buffer and is reused, so steady state allocates nothing.
/// </summary>
internal sealed class RequestQueue
{
    internal sealed class Entry
    {
        public uint Client;
        public ulong Rid;
        public byte[] Message = new byte[256];
        public int Length;
        public readonly byte[] Digest = new byte[32];
    }

    private Entry[] _ring = new Entry[256];
    private int _head, _count;

    public RequestQueue()
    {
        for (int i = 0; i < _ring.Length; i++) _ring[i] = new Entry();
    }

    public int Count => _count;

    public void Enqueue(uint client, ulong rid, ReadOnlySpan<byte> message, ReadOnlySpan<byte> digest)
    {
        if (_count == _ring.Length) Grow();
        var e = _ring[(_head + _count) % _ring.Length];
        if (e.Message.Length < message.Length) e.Message = new byte[Math.Max(message.Length, e.Message.Length * 2)];
        message.CopyTo(e.Message);
        e.Length = message.Length;
        e.Client = client;
        e.Rid = rid;
        digest.CopyTo(e.Digest);
        _count++;
    }

    public void Clear() { _head = 0; _count = 0; }

    public Entry Peek(int i) => _ring[(_head + i) % _ring.Length];

    public Entry Dequeue()
    {
        var e = _ring[_head];
        _head = (_head + 1) % _ring.Length;
        _count--;
        return e;   // valid until the entry is reused by a later Enqueue
    }

    private void Grow()
    {
        var bigger = new Entry[_ring.Length * 2];
        for (int i = 0; i < _count; i++) bigger[i] = _ring[(_head + i) % _ring.Length];
        for (int i = _count; i < bigger.Length; i++) bigger[i] = new Entry();
        _ring = bigger;
        _head = 0;
    }
}
