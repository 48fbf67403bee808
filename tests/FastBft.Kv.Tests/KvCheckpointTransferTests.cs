using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using FastBft.Agreement;
using FastBft.Execution;
using FastBft.Execution.Checkpoints;
using FastBft.Service;
using FastBft.Wire;
using FastBft.Workloads.Kv;

namespace FastBft.Kv.Tests;

/// <summary>
/// Issue 13 item 2: partition-tree checkpoints of the KV service and state transfer of only the differing partitions
/// (docs/state-transfer.md), including a Byzantine peer that answers a fetch with lying lengths or forged content.
/// </summary>
public sealed class KvCheckpointTransferTests(StoreFixture stores) : IClassFixture<StoreFixture>
{
    private const int K = 4;

    private sealed class Wire : IStateTransferOutput
    {
        public readonly List<(uint To, ulong Seq, long Field)> Fetches = new();
        public readonly List<(uint To, ulong Seq, byte[] Body)> Data = new();
        public void SendFetch(uint replica, ulong sequence, long offset) => Fetches.Add((replica, sequence, offset));
        public void SendStateData(uint replica, ulong sequence, int total, int offset, ReadOnlySpan<byte> chunk)
        {
            var body = new byte[8 + chunk.Length];
            BinaryPrimitives.WriteInt32LittleEndian(body, total);
            BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(4), offset);
            chunk.CopyTo(body.AsSpan(8));
            Data.Add((replica, sequence, body));
        }
    }

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);
    private static ulong _rid;

    private static void Set(KvService svc, string k, string v)
        => svc.Execute(new RequestInfo(7, ++_rid, 1, 0), KvCodec.Encode(w => KvCodec.Set(w, B(k), B(v))), new ArrayBufferWriter<byte>(), null);

    private static string? Get(KvService svc, string k)
    {
        var reply = new ArrayBufferWriter<byte>();
        svc.Execute(new RequestInfo(7, ++_rid, 1, 0), KvCodec.Encode(w => KvCodec.Get(w, B(k))), reply, null);
        var s = Encoding.UTF8.GetString(reply.WrittenSpan);
        return s.StartsWith("$-1") ? null : s.Split("\r\n")[1];
    }

    private IKvStore Store(string kind, int partitions) => kind == "memory" ? new MemoryKvStore(partitions) : stores.Create("rocksdb", partitions);

    private static SequentialExecutionStage Stage(KvService svc, uint self) => new(svc, self, [0, 1, 2, 3], K, 3);

    /// <summary>Drives one fetch between <paramref name="client"/> and the servers until done (or a step limit); returns true if installed.</summary>
    private static bool Run(StateTransfer client, Wire clientWire, IReadOnlyDictionary<uint, (StateTransfer Server, Wire Wire)> servers, Func<uint, byte[], byte[]>? tamper = null, int steps = 100_000)
    {
        for (int i = 0; i < steps; i++)
        {
            if (clientWire.Fetches.Count == 0) { client.Tick(0); continue; }
            var (to, seq, field) = clientWire.Fetches[^1];
            clientWire.Fetches.Clear();
            var (server, wire) = servers[to];
            wire.Data.Clear();
            server.OnFetch(0, seq, field);
            if (wire.Data.Count == 0) { client.Tick(0); continue; }
            var body = wire.Data[^1].Body;
            if (tamper is not null) body = tamper(to, body);
            if (client.OnStateData(to, seq, body, 0)) return true;
        }
        return false;
    }

    [Theory]
    [InlineData("memory")]
    [InlineData("rocksdb")]
    public void ALaggingReplicaFetchesOnlyThePartitionsThatDiffer(string kind)
    {
        using var source = new KvService(Store(kind, 1024));
        using var target = new KvService(Store(kind, 1024));
        for (int i = 0; i < 5000; i++) { Set(source, $"key{i}", new string('v', 100)); Set(target, $"key{i}", new string('v', 100)); }
        for (int i = 0; i < 20; i++) Set(source, $"new{i}", "fresh");             // the lagging target missed these
        Set(source, "key17", "changed");

        var src = Stage(source, 1);
        var digest = new byte[32];
        src.TakeCheckpoint(8, digest);
        var dst = Stage(target, 0);
        var dstWire = new Wire();
        var counters = new ReplicaCounters();
        var client = new StateTransfer(0, 4, 2, 1, 64 << 20, dst, dstWire, counters);
        client.NoteCheckpoint(1, 8, digest, 0); client.NoteCheckpoint(2, 8, digest, 0);
        var servers = new Dictionary<uint, (StateTransfer, Wire)>();
        foreach (uint r in new uint[] { 1, 2, 3 }) { var w = new Wire(); servers[r] = (new StateTransfer(r, 4, 2, 1, 64 << 20, src, w, new ReplicaCounters()), w); }

        Assert.True(Run(client, dstWire, servers));

        var a = new byte[32]; var b = new byte[32];
        source.GetStateDigest(a); target.GetStateDigest(b);
        Assert.Equal(a, b);
        Assert.Equal("fresh", Get(target, "new3"));
        Assert.Equal("changed", Get(target, "key17"));
        Assert.Equal(new string('v', 100), Get(target, "key18"));
        var fetch = dst.LastInstall!;
        Assert.InRange(fetch.PartitionsFetched, 1, 21);                         // at most the partitions written
        long stateBytes = 5020L * 108;
        Assert.True(counters.StateBytesReceived < stateBytes / 10, $"{counters.StateBytesReceived} bytes received for a state of ~{stateBytes}");
        // The installed checkpoint is kept and has the certified digest: the target can serve it to others.
        Assert.True(dst.TryGetCheckpoint(8, out var meta));
        var d = new byte[32];
        Digests.Sha256(meta, d);
        Assert.Equal(digest, d);
    }

    [Fact]
    public void CheckpointCostFollowsWhatChanged()
    {
        using var svc = new KvService(new MemoryKvStore(1024));
        var stage = Stage(svc, 0);
        for (int i = 0; i < 20_000; i++) Set(svc, $"k{i}", "value");
        var d = new byte[32];
        stage.TakeCheckpoint(4, d);
        Assert.Equal(1024, stage.Checkpoints.Tree.LastRefreshed);      // the first checkpoint reads every partition
        Set(svc, "k5", "other"); Set(svc, "k6", "other");
        stage.TakeCheckpoint(8, d);
        Assert.InRange(stage.Checkpoints.Tree.LastRefreshed, 1, 2);    // then only the partitions written
        stage.TakeCheckpoint(12, d);
        Assert.Equal(0, stage.Checkpoints.Tree.LastRefreshed);
    }

    [Theory]
    [InlineData("memory")]
    [InlineData("rocksdb")]
    public void AFrozenCheckpointKeepsServingItsContentWhileTheStateMovesOn(string kind)
    {
        using var svc = new KvService(Store(kind, 16));
        for (int i = 0; i < 200; i++) Set(svc, $"k{i}", "old");
        var stage = Stage(svc, 0);
        var d4 = new byte[32];
        stage.TakeCheckpoint(4, d4);
        Assert.True(stage.TryReadCheckpointObject(4, 0, out var meta4));
        var metaCopy = meta4.ToArray();
        var before = new List<byte[]>();
        uint first = stage.Checkpoints.FirstPartitionObject;
        for (uint p = 0; p < 16; p++) { Assert.True(stage.TryReadCheckpointObject(4, first + p, out var c)); before.Add(c.ToArray()); }
        for (int i = 0; i < 200; i++) Set(svc, $"k{i}", "new!");        // same length: in-place overwrite in the memory store
        Set(svc, "extra", "x");
        var d8 = new byte[32];
        stage.TakeCheckpoint(8, d8);
        Assert.NotEqual(d4, d8);
        Assert.True(stage.TryReadCheckpointObject(4, 0, out var again));
        Assert.Equal(metaCopy, again.ToArray());
        for (uint p = 0; p < 16; p++)
        {
            Assert.True(stage.TryReadCheckpointObject(4, first + p, out var c));
            Assert.Equal(before[(int)p], c.ToArray());
            var digest = new byte[32];
            Assert.True(svc.TryComputePartitionDigest((int)p, c, digest));
        }
    }

    // ------------------------------------------------------------------ a Byzantine peer answers the fetch

    private (StateTransfer Client, Wire ClientWire, SequentialExecutionStage Dst, KvService Target, KvService Source, Dictionary<uint, (StateTransfer, Wire)> Servers, ReplicaCounters Counters, byte[] Digest) Setup()
    {
        var source = new KvService(new MemoryKvStore(64));
        var target = new KvService(new MemoryKvStore(64));
        for (int i = 0; i < 500; i++) { Set(source, $"key{i}", "v"); Set(target, $"key{i}", "v"); }
        for (int i = 0; i < 5; i++) Set(source, $"new{i}", "fresh");
        var src = Stage(source, 1);
        var digest = new byte[32];
        src.TakeCheckpoint(8, digest);
        var dst = Stage(target, 0);
        var wire = new Wire();
        var counters = new ReplicaCounters();
        var client = new StateTransfer(0, 4, 2, 1, 1 << 20, dst, wire, counters);
        var servers = new Dictionary<uint, (StateTransfer, Wire)>();
        foreach (uint r in new uint[] { 1, 2, 3 }) { var w = new Wire(); servers[r] = (new StateTransfer(r, 4, 2, 1, 1 << 20, src, w, new ReplicaCounters()), w); }
        // Replica 3's announcement completes the f+1 certificate; the first fetch goes to the next announced holder after it,
        // replica 1 (the tests make it the Byzantine one), and after a bad answer to replica 2.
        client.NoteCheckpoint(1, 8, digest, 0); client.NoteCheckpoint(3, 8, digest, 0); client.NoteCheckpoint(2, 8, digest, 0);
        return (client, wire, dst, target, source, servers, counters, digest);
    }

    private static void AssertConverged(KvService a, KvService b)
    {
        var x = new byte[32]; var y = new byte[32];
        a.GetStateDigest(x); b.GetStateDigest(y);
        Assert.Equal(x, y);
    }

    [Fact]
    public void AForgedPartitionIsRejectedAndFetchedFromAnotherReplica()
    {
        var s = Setup();
        uint firstPartition = s.Dst.Checkpoints.FirstPartitionObject;
        int forged = 0;
        // Replica 1 is Byzantine: every partition it serves has its last byte (inside the last value) flipped; lengths stay consistent.
        bool ok = Run(s.Client, s.ClientWire, s.Servers, (from, body) =>
        {
            if (from != 1 || s.Client.CurrentObject < firstPartition) return body;
            var copy = (byte[])body.Clone();
            int total = BinaryPrimitives.ReadInt32LittleEndian(copy), offset = BinaryPrimitives.ReadInt32LittleEndian(copy.AsSpan(4));
            if (offset + copy.Length - 8 == total && copy.Length > 8) { copy[^1] ^= 0x55; forged++; }
            return copy;
        });
        Assert.True(ok);
        Assert.True(forged > 0, "the Byzantine replica was asked");
        Assert.True(s.Counters.BadStateTransfers >= forged);
        AssertConverged(s.Source, s.Target);
    }

    [Fact]
    public void AForgedLeafListOrMetaIsRejected()
    {
        var s = Setup();
        int forged = 0;
        bool ok = Run(s.Client, s.ClientWire, s.Servers, (from, body) =>
        {
            if (from != 1 || s.Client.CurrentObject >= s.Dst.Checkpoints.FirstPartitionObject) return body;
            var copy = (byte[])body.Clone();
            copy[^1] ^= 1;                                   // a group's leaf digests or the meta, altered
            forged++;
            return copy;
        });
        Assert.True(ok);
        Assert.True(forged > 0);
        Assert.True(s.Counters.BadStateTransfers > 0);
        AssertConverged(s.Source, s.Target);
    }

    [Fact]
    public void LyingLengthFieldsAreRejectedWithoutAllocating()
    {
        var s = Setup();
        s.Client.Tick(0); s.Client.Tick(0);
        uint asked = s.ClientWire.Fetches[^1].To;
        // object 0 (meta): a 9-byte body claiming 2 GiB
        var huge = new byte[9];
        BinaryPrimitives.WriteInt32LittleEndian(huge, int.MaxValue);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.False(s.Client.OnStateData(asked, 8, huge, 0));
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 4096);
        Assert.Equal(1, s.Counters.BadStateTransfers);
        // an offset that skips ahead, a negative total, a chunk longer than the claimed total
        foreach (var (total, offset, len) in new[] { (100, 50, 10), (-5, 0, 1), (10, 0, 20) })
        {
            var body = new byte[8 + len];
            BinaryPrimitives.WriteInt32LittleEndian(body, total);
            BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(4), offset);
            Assert.False(s.Client.OnStateData(asked, 8, body, 0));
        }
        Assert.Equal(4, s.Counters.BadStateTransfers);
        // the fetch still completes from honest replicas
        s.ClientWire.Fetches.Clear();
        Assert.True(Run(s.Client, s.ClientWire, s.Servers));
        AssertConverged(s.Source, s.Target);
    }

    [Fact]
    public void ALeafListLongerThanItsGroupIsRejectedBeforeBuffering()
    {
        var s = Setup();
        bool lied = false;
        bool ok = Run(s.Client, s.ClientWire, s.Servers, (from, body) =>
        {
            uint obj = s.Client.CurrentObject;
            if (from != 1 || obj == 0 || obj >= s.Dst.Checkpoints.FirstPartitionObject) return body;
            var copy = (byte[])body.Clone();
            BinaryPrimitives.WriteInt32LittleEndian(copy, 1 << 24);     // claims 16 MiB for a list of 64 × 32 bytes
            lied = true;
            return copy;
        });
        Assert.True(ok);
        Assert.True(lied);
        Assert.True(s.Counters.BadStateTransfers > 0);
        AssertConverged(s.Source, s.Target);
    }

    [Fact]
    public void MalformedPartitionContentIsRejectedByTheService()
    {
        using var svc = new KvService(new MemoryKvStore(4));
        var d = new byte[32];
        // find two keys of partition 0
        var keys = Enumerable.Range(0, 100).Select(i => B($"k{i}")).Where(k => KvStateHash.PartitionOf(k, 4) == 0).Take(2).OrderBy(k => k, BytewiseComparer.Instance).ToList();
        var other = Enumerable.Range(0, 100).Select(i => B($"k{i}")).First(k => KvStateHash.PartitionOf(k, 4) == 1);
        byte[] Content(int count, params byte[][] ks)
        {
            var w = new ArrayBufferWriter<byte>();
            var head = w.GetSpan(4); BinaryPrimitives.WriteInt32LittleEndian(head, count); w.Advance(4);
            foreach (var k in ks) { KvCodec.WriteBytes(w, k); KvCodec.WriteBytes(w, B("v")); }
            return w.WrittenSpan.ToArray();
        }
        Assert.True(svc.TryComputePartitionDigest(0, Content(2, keys[0], keys[1]), d));
        Assert.False(svc.TryComputePartitionDigest(0, Content(2, keys[1], keys[0]), d));        // unordered
        Assert.False(svc.TryComputePartitionDigest(0, Content(2, keys[0], keys[0]), d));        // duplicate key
        Assert.False(svc.TryComputePartitionDigest(0, Content(1, other), d));                   // key of another partition
        Assert.False(svc.TryComputePartitionDigest(0, Content(int.MaxValue, keys[0]), d));      // lying count
        Assert.False(svc.TryComputePartitionDigest(0, Content(1, keys[0], keys[1]), d));        // trailing bytes
        Assert.False(svc.TryComputePartitionDigest(0, [1, 0], d));                              // truncated count
        var lying = Content(1, keys[0]);
        lying[4] = 0x7F;                                                                         // key length beyond the buffer
        Assert.False(svc.TryComputePartitionDigest(0, lying, d));
        Assert.False(svc.TryComputePartitionDigest(9, Content(0), d));                          // no such partition
        Assert.Throws<InvalidDataException>(() => svc.InstallPartitions([new(0, Content(2, keys[1], keys[0]))]));
    }

    [Fact]
    public void EqualContentsGiveEqualDigestsWhateverTheWriteOrder()
    {
        using var a = new KvService(new MemoryKvStore(8));
        using var b = new KvService(new MemoryKvStore(8));
        for (int i = 0; i < 100; i++) Set(a, $"k{i}", "x");
        for (int i = 99; i >= 0; i--) Set(b, $"k{i}", "y");
        for (int i = 0; i < 100; i++) Set(b, $"k{i}", "x");
        var da = new byte[32]; var db = new byte[32];
        for (int p = 0; p < 8; p++) { a.GetPartitionDigest(p, da); b.GetPartitionDigest(p, db); Assert.Equal(da, db); }
        Set(b, "k3", "z");
        int differ = 0;
        for (int p = 0; p < 8; p++) { a.GetPartitionDigest(p, da); b.GetPartitionDigest(p, db); if (!da.AsSpan().SequenceEqual(db)) differ++; }
        Assert.Equal(1, differ);
    }
}
