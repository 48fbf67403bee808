using System.Buffers.Binary;

namespace FastBft.Transport.Tests;

public class FrameCodecTests
{
    [Fact]
    public void Bundle_round_trip()
    {
        var buf = new byte[1000];
        FrameCodec.WriteFrameHeader(buf, FrameKind.Bundle);
        int pos = FrameCodec.FrameHeaderSize;
        pos += FrameCodec.WriteBundleEntry(buf.AsSpan(pos), 1000, 0, new byte[] { 1, 2, 3 });
        pos += FrameCodec.WriteBundleEntry(buf.AsSpan(pos), 1001, 2, new byte[] { 9 });
        ReadOnlySpan<byte> d = buf.AsSpan(0, pos);

        Assert.Equal(new byte[] { 0x7F, 0xFB, 1, 1, 0, 0, 0, 0 }, d.Slice(0, 8).ToArray());
        Assert.Equal(2, FrameCodec.ValidateBundle(d, 100));
        int p = FrameCodec.FrameHeaderSize;
        Assert.True(FrameCodec.NextValidatedEntry(d, ref p, out uint s, out uint dst, out ReadOnlySpan<byte> m));
        Assert.Equal((1000u, 0u), (s, dst));
        Assert.Equal(new byte[] { 1, 2, 3 }, m.ToArray());
        Assert.True(FrameCodec.NextValidatedEntry(d, ref p, out s, out dst, out m));
        Assert.Equal((1001u, 2u), (s, dst));
        Assert.Equal(new byte[] { 9 }, m.ToArray());
        Assert.False(FrameCodec.NextValidatedEntry(d, ref p, out _, out _, out _));
    }

    [Fact]
    public void Bundle_validation_rejects_malformed()
    {
        var buf = new byte[100];
        FrameCodec.WriteFrameHeader(buf, FrameKind.Bundle);
        int len = FrameCodec.FrameHeaderSize + FrameCodec.WriteBundleEntry(buf.AsSpan(8), 1, 2, new byte[] { 5, 6 });
        Assert.Equal(1, FrameCodec.ValidateBundle(buf.AsSpan(0, len), 100));

        Assert.Equal(0, FrameCodec.ValidateBundle(buf.AsSpan(0, 8), 100));            // no entry
        Assert.Equal(0, FrameCodec.ValidateBundle(buf.AsSpan(0, len - 1), 100));      // truncated message
        Assert.Equal(0, FrameCodec.ValidateBundle(buf.AsSpan(0, len + 3), 100));      // truncated entry header
        Assert.Equal(0, FrameCodec.ValidateBundle(buf.AsSpan(0, len), 1));            // over max message size

        byte[] c = (byte[])buf.Clone();
        BinaryPrimitives.WriteInt32LittleEndian(c.AsSpan(16), 0);                    // zero length
        Assert.Equal(0, FrameCodec.ValidateBundle(c.AsSpan(0, len), 100));
        c = (byte[])buf.Clone(); c[0] ^= 1;                                           // magic
        Assert.Equal(0, FrameCodec.ValidateBundle(c.AsSpan(0, len), 100));
        c = (byte[])buf.Clone(); c[2] = 2;                                            // version
        Assert.Equal(0, FrameCodec.ValidateBundle(c.AsSpan(0, len), 100));
        c = (byte[])buf.Clone(); c[3] = 3;                                            // kind
        Assert.Equal(FrameKind.Invalid, FrameCodec.ReadFrameHeader(c));
        c = (byte[])buf.Clone(); c[5] = 1;                                            // reserved
        Assert.Equal(0, FrameCodec.ValidateBundle(c.AsSpan(0, len), 100));
    }

    [Fact]
    public void Fragment_round_trip()
    {
        var buf = new byte[200];
        byte[] payload = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
        int n = FrameCodec.WriteFragment(buf, 7, 8, 42, 25, 1, 3, 10, payload);
        Assert.Equal(FrameCodec.FragmentOverhead + 10, n);
        Assert.True(FrameCodec.TryReadFragment(buf.AsSpan(0, n), 100, out FragmentHeader h, out ReadOnlySpan<byte> p));
        Assert.Equal((7u, 8u, 42u, 25, 1, 3, 10, 10), (h.Sender, h.Destination, h.MessageId, h.TotalLength, h.Index, h.Count, h.Offset, h.FragmentSize));
        Assert.Equal(payload, p.ToArray());

        // Last fragment: 5 bytes at offset 20 of 25; fragment size derived from the offset.
        n = FrameCodec.WriteFragment(buf, 7, 8, 42, 25, 2, 3, 20, payload.AsSpan(0, 5));
        Assert.True(FrameCodec.TryReadFragment(buf.AsSpan(0, n), 100, out h, out p));
        Assert.Equal(10, h.FragmentSize);
        Assert.Equal(5, p.Length);
    }

    [Theory]
    [InlineData(25, 0, 1, 0, 10)]    // count < 2
    [InlineData(25, 3, 3, 30, 10)]   // index ≥ count
    [InlineData(25, 1, 3, 11, 10)]   // offset ≠ index × size (overlap)
    [InlineData(25, 1, 3, 20, 10)]   // overrun of a middle fragment
    [InlineData(25, 2, 3, 20, 10)]   // last fragment overruns total
    [InlineData(25, 2, 3, 20, 4)]    // last fragment ends short of total
    [InlineData(35, 0, 3, 0, 10)]    // total disagrees with count × size
    [InlineData(200, 0, 20, 0, 10)]  // total > max message size
    [InlineData(2, 0, 3, 0, 1)]      // total < count
    [InlineData(25, 2, 3, 21, 4)]    // last offset not a multiple
    public void Fragment_validation_rejects(int total, int index, int count, int offset, int payloadLength)
    {
        var buf = new byte[200];
        int n = FrameCodec.WriteFragment(buf, 1, 2, 3, total, index, count, offset, new byte[payloadLength]);
        Assert.False(FrameCodec.TryReadFragment(buf.AsSpan(0, n), 100, out _, out _));
    }

    [Fact]
    public void Fragment_without_payload_is_rejected()
    {
        var buf = new byte[200];
        int n = FrameCodec.WriteFragment(buf, 1, 2, 3, 25, 0, 3, 0, ReadOnlySpan<byte>.Empty);
        Assert.False(FrameCodec.TryReadFragment(buf.AsSpan(0, n), 100, out _, out _));
    }
}
