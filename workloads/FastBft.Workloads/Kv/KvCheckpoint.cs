using System.Buffers;
using System.Security.Cryptography;

namespace FastBft.Workloads.Kv;

/// <summary>
/// The one home of the KV service's state digest and snapshot (docs/kv.md §5). Whole-state for now: the snapshot is
/// every (key, value) in bytewise key order, and the digest is SHA-256 of exactly those snapshot bytes, so both cost
/// O(state). A later partition tree (issue 13 item 2) replaces this class, not the service.
/// Snapshot format: magic "FBKV" ‖ version 1 ‖ entries ‖ 0x00, entry = 0x01 ‖ varint keyLength ‖ key ‖ varint valueLength ‖ value.
/// </summary>
public static class KvCheckpoint
{
    private static ReadOnlySpan<byte> Magic => "FBKV\x01"u8;
    /// <summary>Largest key accepted from a snapshot, bytes (16 MiB, the largest possible request).</summary>
    public const int MaxKeyBytes = 16 << 20;
    /// <summary>Largest value accepted from a snapshot, bytes (16 MiB).</summary>
    public const int MaxValueBytes = 16 << 20;

    /// <summary>Writes the snapshot of <paramref name="store"/> to <paramref name="destination"/>.</summary>
    public static void Write(IKvStore store, Stream destination)
    {
        var buf = new ArrayBufferWriter<byte>(4096);
        buf.Write(Magic);
        foreach (var (k, v) in store.ReadAllOrdered())
        {
            buf.GetSpan(1)[0] = 1; buf.Advance(1);
            KvCodec.WriteBytes(buf, k);
            KvCodec.WriteBytes(buf, v);
            if (buf.WrittenCount >= 64 * 1024) { destination.Write(buf.WrittenSpan); buf.ResetWrittenCount(); }
        }
        buf.GetSpan(1)[0] = 0; buf.Advance(1);
        destination.Write(buf.WrittenSpan);
    }

    /// <summary>Writes SHA-256 of the snapshot bytes of <paramref name="store"/> to <paramref name="digest32"/> (32 bytes).</summary>
    public static void Digest(IKvStore store, Span<byte> digest32)
    {
        using var hashing = new HashingStream();
        Write(store, hashing);
        hashing.Finish(digest32);
    }

    /// <summary>
    /// Replaces the contents of <paramref name="store"/> with the snapshot in <paramref name="source"/>. The snapshot is
    /// parsed and checked completely before the store is touched, so a malformed one leaves the store unchanged.
    /// </summary>
    /// <exception cref="InvalidDataException">bad magic or version, truncated, a length beyond the limits, keys not in strictly increasing order, or bytes after the end marker.</exception>
    public static void Restore(IKvStore store, Stream source)
    {
        var entries = new List<KeyValuePair<byte[], byte[]>>();
        Span<byte> head = stackalloc byte[5];
        ReadExact(source, head);
        if (!head.SequenceEqual(Magic)) throw new InvalidDataException("KV snapshot: bad magic or version (expected \"FBKV\" 1)");
        byte[]? previous = null;
        while (true)
        {
            int tag = source.ReadByte();
            if (tag == 0) break;
            if (tag != 1) throw new InvalidDataException(tag < 0 ? "KV snapshot: truncated (no end marker)" : $"KV snapshot: bad entry tag {tag}");
            var key = ReadBytes(source, MaxKeyBytes, "key");
            var value = ReadBytes(source, MaxValueBytes, "value");
            if (previous is not null && BytewiseComparer.Instance.Compare(previous, key) >= 0) throw new InvalidDataException("KV snapshot: keys are not in strictly increasing order");
            entries.Add(new(key, value));
            previous = key;
        }
        if (source.ReadByte() >= 0) throw new InvalidDataException("KV snapshot: bytes after the end marker");
        store.Clear();
        foreach (var (k, v) in entries) store.Put(k, v);
    }

    private static void ReadExact(Stream s, Span<byte> dst)
    {
        try { s.ReadExactly(dst); }
        catch (EndOfStreamException e) { throw new InvalidDataException("KV snapshot: truncated", e); }
    }

    private static byte[] ReadBytes(Stream s, int max, string what)
    {
        uint len = 0;
        for (int shift = 0; ; shift += 7)
        {
            int b = s.ReadByte();
            if (b < 0) throw new InvalidDataException($"KV snapshot: truncated {what} length");
            if (shift == 28 && b > 0x0F) throw new InvalidDataException($"KV snapshot: {what} length overflows");
            len |= (uint)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) break;
        }
        if (len > (uint)max) throw new InvalidDataException($"KV snapshot: {what} of {len} bytes exceeds {max}");
        var data = new byte[len];
        ReadExact(s, data);
        return data;
    }

    private sealed class HashingStream : Stream
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        public void Finish(Span<byte> digest32) => _hash.GetHashAndReset(digest32);
        public override void Write(ReadOnlySpan<byte> buffer) => _hash.AppendData(buffer);
        public override void Write(byte[] buffer, int offset, int count) => _hash.AppendData(buffer, offset, count);
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        protected override void Dispose(bool disposing) { if (disposing) _hash.Dispose(); base.Dispose(disposing); }
    }
}
