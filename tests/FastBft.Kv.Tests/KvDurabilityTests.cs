using System.Buffers;
using System.Text;
using FastBft.Execution;
using FastBft.Service;
using FastBft.Workloads.Kv;

namespace FastBft.Kv.Tests;

/// <summary>Issue 13 item 3 in one process: what a durable RocksDB store persists per batch and finds again when reopened (docs/durability.md).</summary>
public sealed class KvDurabilityTests(StoreFixture stores) : IClassFixture<StoreFixture>
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private static void Set(KvService svc, ulong rid, string k, string v)
        => svc.Execute(new RequestInfo(9, rid, 1, 0), KvCodec.Encode(w => KvCodec.Set(w, B(k), B(v))), new ArrayBufferWriter<byte>(), null);

    private static byte[][] Digests(KvService svc)
    {
        var all = new byte[svc.PartitionCount][];
        for (int p = 0; p < all.Length; p++) { all[p] = new byte[32]; svc.GetPartitionDigest(p, all[p]); }
        return all;
    }

    [Theory]
    [InlineData(KvDurability.Process)]
    [InlineData(KvDurability.Fsync)]
    public void AReopenedStoreHasTheCommittedBatchesTheirSequenceNumberAndReplyEntries(KvDurability durability)
    {
        string dir = stores.NewDirectory();
        byte[][] before;
        var entries = new ArrayBufferWriter<byte>();
        var e = new ReplyEntry(9);
        using (var svc = new KvService(new RocksDbKvStore(dir, durability, 64)))
        {
            Assert.True(svc.PersistsBatches);
            for (int i = 0; i < 1000; i++) Set(svc, (ulong)i + 1, $"k{i}", $"v{i}");
            e.StoreFull(1000, 7, "+OK\r\n"u8);
            ReplyCache.WriteEntry(e, entries);
            svc.CommitBatch(7, entries.WrittenSpan, 1);
            Set(svc, 2000, "uncommitted", "lost");                 // a batch cut short by the kill: not persisted
            before = Digests(svc);
        }
        using (var svc = new KvService(new RocksDbKvStore(dir, durability, 64)))
        {
            Assert.Equal(7UL, svc.RecoveredSequence);
            var replies = new ReplyCache();
            replies.Read(svc.RecoveredReplies.Span);
            Assert.Equal(1000UL, replies.LastExecutedRid(9));
            var after = Digests(svc);
            int differ = Enumerable.Range(0, 64).Count(p => !before[p].AsSpan().SequenceEqual(after[p]));
            Assert.Equal(1, differ);                                // only the partition of the uncommitted key
            var stage = new SequentialExecutionStage(svc, 0, [0, 1, 2, 3], 4, 3);
            Assert.Equal(7UL, stage.RecoveredSequence);
            Assert.Equal(1000UL, stage.Replies.LastExecutedRid(9));
        }
    }

    [Fact]
    public void DurabilityNoneStartsEmpty()
    {
        string dir = stores.NewDirectory();
        using (var svc = new KvService(new RocksDbKvStore(dir, KvDurability.None, 64))) { Set(svc, 1, "a", "b"); Assert.False(svc.PersistsBatches); }
        using (var svc = new KvService(new RocksDbKvStore(dir, KvDurability.None, 64)))
        {
            Assert.Equal(0UL, svc.RecoveredSequence);
            Assert.Null(svc.Store.Get(B("a")));
        }
    }
}
