using FastBft.Execution;

namespace FastBft.Engine.Tests.Execution;

public class ReplyCacheTests
{
    [Fact]
    public void KeepsTheLastReplyPerClient()
    {
        var c = new ReplyCache();
        Assert.Equal(0UL, c.LastExecutedRid(7));
        c.Get(7).StoreFull(1, 10, [1, 2, 3]);
        c.Get(7).StoreFull(2, 11, [4]);
        Assert.Equal(2UL, c.LastExecutedRid(7));
        Assert.Equal(new byte[] { 4 }, c.Get(7).Reply.ToArray());
        Assert.Equal(System.Security.Cryptography.SHA256.HashData(new byte[] { 4 }), c.Get(7).Digest.ToArray());
    }

    [Fact]
    public void DigestOnlyEntriesHaveNoFullReply()
    {
        var c = new ReplyCache();
        var d = new byte[32]; d[5] = 9;
        c.Get(3).StoreDigest(4, 20, d);
        Assert.True(c.Get(3).DigestOnly);
        Assert.True(c.Get(3).Reply.IsEmpty);
        Assert.Equal(d, c.Get(3).Digest.ToArray());
    }

    [Fact]
    public void SnapshotRoundTripsInClientOrderAndLeavesOutClientsWithoutExecution()
    {
        var a = new ReplyCache();
        a.Get(9).StoreFull(3, 30, [9, 9]);
        a.Get(2).StoreDigest(1, 5, new byte[32]);
        a.Get(5);                                          // a client whose request was only received (L5)
        var ms = new MemoryStream();
        a.Write(ms);
        var b = new ReplyCache();
        Assert.Equal((int)ms.Length, b.Read(ms.ToArray()));
        Assert.Equal(2, b.Count);
        Assert.Equal(3UL, b.LastExecutedRid(9));
        Assert.Equal(new byte[] { 9, 9 }, b.Get(9).Reply.ToArray());
        Assert.True(b.Get(2).DigestOnly);
        var again = new MemoryStream();
        b.Write(again);
        Assert.Equal(ms.ToArray(), again.ToArray());       // deterministic: equal caches, equal bytes
    }

    [Theory]
    [InlineData(new byte[] { 1, 0, 0 })]                                  // truncated count
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0x7F })]                   // count far above the bytes
    [InlineData(new byte[] { 1, 0, 0, 0, 1 })]                            // truncated entry
    public void MalformedSnapshotsAreRejected(byte[] bytes)
        => Assert.Throws<InvalidDataException>(() => new ReplyCache().Read(bytes));

    [Fact]
    public void AnOverlongReplyLengthIsRejected()
    {
        var a = new ReplyCache();
        a.Get(1).StoreFull(1, 1, [1, 2, 3, 4]);
        var ms = new MemoryStream(); a.Write(ms);
        var bytes = ms.ToArray();
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4 + 21), int.MaxValue);
        Assert.Throws<InvalidDataException>(() => new ReplyCache().Read(bytes));
    }
}
