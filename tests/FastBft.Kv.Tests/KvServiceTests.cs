using System.Buffers;
using System.Text;
using FastBft.Service;
using FastBft.Workloads.Kv;

namespace FastBft.Kv.Tests;

/// <summary>Both storages, created fresh per test.</summary>
public sealed class StoreFixture : IDisposable
{
    private readonly List<string> _dirs = new();
    public IKvStore Create(string kind, int partitions = KvService.DefaultPartitions, KvDurability durability = KvDurability.None)
    {
        if (kind == "memory") return new MemoryKvStore(partitions);
        return new RocksDbKvStore(NewDirectory(), durability, partitions);
    }
    public string NewDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "fastbft-kv-test-" + Guid.NewGuid().ToString("N"));
        _dirs.Add(dir);
        return dir;
    }
    public void Dispose() { foreach (var d in _dirs) try { Directory.Delete(d, true); } catch (IOException) { } }
}

public sealed class KvServiceTests(StoreFixture stores) : IClassFixture<StoreFixture>
{
    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);
    private static string S(ReadOnlySpan<byte> b) => Encoding.UTF8.GetString(b);
    private long _rid;

    private string Exec(KvService svc, byte[] op, ArrayBufferWriter<byte>? update = null)
    {
        var reply = new ArrayBufferWriter<byte>();
        svc.Execute(new RequestInfo(1000, (ulong)++_rid, (ulong)_rid, 0), op, reply, update);
        return S(reply.WrittenSpan);
    }

    private static byte[] Get(string k) => KvCodec.Encode(w => KvCodec.Get(w, B(k)));
    private static byte[] Set(string k, string v) => KvCodec.Encode(w => KvCodec.Set(w, B(k), B(v)));
    private static byte[] Multi(KvOpCode op, params string[] keys) => KvCodec.Encode(w => KvCodec.MultiKey(w, op, keys.Select(B).ToList()));
    private static byte[] MSet(params (string, string)[] pairs) => KvCodec.Encode(w => KvCodec.MSet(w, pairs.Select(p => (B(p.Item1), B(p.Item2))).ToList()));
    private static byte[] Incr(string k, long d = 1) => KvCodec.Encode(w => KvCodec.IncrBy(w, B(k), d));
    private static byte[] Cas(string k, string? expected, string? next) => KvCodec.Encode(w => KvCodec.Cas(w, B(k), expected is null ? null : B(expected), next is null ? null : B(next)));

    [Theory, InlineData("memory"), InlineData("rocksdb")]
    public void GetSetDelExists(string storage)
    {
        using var svc = new KvService(stores.Create(storage));
        Assert.Equal("$-1\r\n", Exec(svc, Get("a")));
        Assert.Equal("+OK\r\n", Exec(svc, Set("a", "hello")));
        Assert.Equal("$5\r\nhello\r\n", Exec(svc, Get("a")));
        Assert.Equal("+OK\r\n", Exec(svc, Set("a", "")));
        Assert.Equal("$0\r\n\r\n", Exec(svc, Get("a")));
        Assert.Equal(":2\r\n", Exec(svc, Multi(KvOpCode.Exists, "a", "b", "a")));
        Assert.Equal(":1\r\n", Exec(svc, Multi(KvOpCode.Del, "a", "b", "a")));
        Assert.Equal(":0\r\n", Exec(svc, Multi(KvOpCode.Exists, "a")));
    }

    [Theory, InlineData("memory"), InlineData("rocksdb")]
    public void IncrFollowsRedisRules(string storage)
    {
        using var svc = new KvService(stores.Create(storage));
        Assert.Equal(":1\r\n", Exec(svc, Incr("n")));
        Assert.Equal(":-9\r\n", Exec(svc, Incr("n", -10)));
        Assert.Equal("$2\r\n-9\r\n", Exec(svc, Get("n")));
        Exec(svc, Set("s", "abc"));
        Assert.StartsWith("-ERR value is not an integer", Exec(svc, Incr("s")));
        foreach (var bad in new[] { "007", "+1", " 1", "1 ", "", "-0", "99999999999999999999" })
        {
            Exec(svc, Set("x", bad));
            Assert.StartsWith("-ERR value is not an integer", Exec(svc, Incr("x")));
            Assert.Equal($"${bad.Length}\r\n{bad}\r\n", Exec(svc, Get("x")));     // unchanged
        }
        Exec(svc, Set("m", long.MaxValue.ToString()));
        Assert.StartsWith("-ERR increment or decrement would overflow", Exec(svc, Incr("m")));
        Assert.Equal($":{long.MinValue}\r\n", Exec(svc, Incr("neg", long.MinValue)));
        Assert.Equal(9, svc.Errors);
    }

    [Theory, InlineData("memory"), InlineData("rocksdb")]
    public void MGetMSet(string storage)
    {
        using var svc = new KvService(stores.Create(storage));
        Assert.Equal("+OK\r\n", Exec(svc, MSet(("a", "1"), ("b", "22"), ("a", "3"))));
        Assert.Equal("*3\r\n$1\r\n3\r\n$-1\r\n$2\r\n22\r\n", Exec(svc, Multi(KvOpCode.MGet, "a", "zz", "b")));
    }

    [Fact]
    public void MGetAboveTheReplyLimitIsAnError()
    {
        using var svc = new KvService(new MemoryKvStore(), maxReplyBytes: 100);
        Exec(svc, Set("a", new string('x', 60)));
        Assert.StartsWith("*2", Exec(svc, Multi(KvOpCode.MGet, "a", "b")));
        Assert.Equal("-ERR reply too large\r\n", Exec(svc, Multi(KvOpCode.MGet, "a", "a")));
    }

    [Theory, InlineData("memory"), InlineData("rocksdb")]
    public void CompareAndSet(string storage)
    {
        using var svc = new KvService(stores.Create(storage));
        Assert.Equal(":0\r\n", Exec(svc, Cas("k", "v0", "v1")));       // absent, expected a value
        Assert.Equal(":1\r\n", Exec(svc, Cas("k", null, "v1")));       // absent as expected
        Assert.Equal(":0\r\n", Exec(svc, Cas("k", null, "v2")));
        Assert.Equal(":0\r\n", Exec(svc, Cas("k", "v0", "v2")));
        Assert.Equal("$2\r\nv1\r\n", Exec(svc, Get("k")));
        Assert.Equal(":1\r\n", Exec(svc, Cas("k", "v1", "v2")));
        Assert.Equal("$2\r\nv2\r\n", Exec(svc, Get("k")));
        Assert.Equal(":1\r\n", Exec(svc, Cas("k", "v2", null)));       // delete
        Assert.Equal("$-1\r\n", Exec(svc, Get("k")));
    }

    public static TheoryData<byte[]> MalformedOperations() => new()
    {
        Array.Empty<byte>(), new byte[] { 0 }, new byte[] { 99, 1, 1 }, new byte[] { 1 }, new byte[] { 1, 5, 1 },
        new byte[] { 1, 1, (byte)'a', 0 },                     // trailing byte
        new byte[] { 2, 1, (byte)'a' },                        // SET without value
        new byte[] { 3, 0 },                                   // DEL of zero keys
        new byte[] { 6, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F },        // count overflows
        new byte[] { 7, 1, 1, (byte)'a' },                     // MSET pair without value
        new byte[] { 8, 1, (byte)'a', 2 },                     // CAS with a bad flag
        new byte[] { 5, 1, (byte)'a', 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F },   // delta overflows
    };

    [Theory, MemberData(nameof(MalformedOperations))]
    public void MalformedOperationsGetAnErrorAndChangeNothing(byte[] op)
    {
        using var svc = new KvService(new MemoryKvStore());
        Exec(svc, Set("a", "1"));
        Span<byte> before = stackalloc byte[32];
        Span<byte> after = stackalloc byte[32];
        svc.GetStateDigest(before);
        var update = new ArrayBufferWriter<byte>();
        Assert.Equal("-ERR malformed KV operation\r\n", Exec(svc, op, update));
        Assert.Equal(0, update.WrittenCount);
        svc.GetStateDigest(after);
        Assert.True(before.SequenceEqual(after));
        Assert.False(svc.AnalyzeRequest(op, new List<byte[]>()));
    }

    [Fact]
    public void RandomBytesNeverThrow()
    {
        using var svc = new KvService(new MemoryKvStore());
        var rng = new Random(7);
        for (int i = 0; i < 20_000; i++)
        {
            var op = new byte[rng.Next(0, 24)];
            rng.NextBytes(op);
            if (op.Length > 0) op[0] = (byte)rng.Next(0, 10);
            var reply = Exec(svc, op);
            Assert.True(reply.Length > 0 && reply[0] is '+' or '-' or ':' or '$' or '*');
        }
    }

    [Fact]
    public void AnalyzeRequestNamesTheKeysInOrder()
    {
        var keys = new List<byte[]>();
        var svc = new KvService(new MemoryKvStore());
        Assert.True(svc.AnalyzeRequest(MSet(("a", "1"), ("b", "2"), ("a", "3")), keys));
        Assert.Equal(new[] { "a", "b", "a" }, keys.Select(k => S(k)));
        keys.Clear();
        Assert.True(svc.AnalyzeRequest(Cas("c", null, "x"), keys));
        Assert.True(svc.AnalyzeRequest(Incr("d"), keys));
        Assert.True(svc.AnalyzeRequest(Multi(KvOpCode.MGet, "e", "f"), keys));
        Assert.Equal(new[] { "c", "d", "e", "f" }, keys.Select(k => S(k)));
    }

    private static List<byte[]> RandomOps(int seed, int count)
    {
        var rng = new Random(seed);
        var ops = new List<byte[]>();
        string K() => "k" + rng.Next(0, 50);
        string V() => new string((char)('a' + rng.Next(26)), rng.Next(0, 20));
        for (int i = 0; i < count; i++)
        {
            ops.Add(rng.Next(9) switch
            {
                0 => Get(K()), 1 => Set(K(), V()), 2 => Multi(KvOpCode.Del, K(), K()), 3 => Multi(KvOpCode.Exists, K()),
                4 => Incr(K(), rng.Next(-5, 5)), 5 => Multi(KvOpCode.MGet, K(), K(), K()), 6 => MSet((K(), V()), (K(), V())),
                7 => Cas(K(), rng.Next(2) == 0 ? null : V(), rng.Next(4) == 0 ? null : V()),
                _ => Set(K(), rng.Next(100).ToString()),
            });
        }
        return ops;
    }

    [Fact]
    public void ExecutionIsDeterministicAcrossStoragesAndUpdatesReachTheSameState()
    {
        var ops = RandomOps(42, 3000);
        using var mem = new KvService(stores.Create("memory"));
        using var rocks = new KvService(stores.Create("rocksdb"));
        using var passive = new KvService(stores.Create("memory"));
        for (int i = 0; i < ops.Count; i++)
        {
            var u = new ArrayBufferWriter<byte>();
            var r1 = Exec(mem, ops[i], u);
            var r2 = Exec(rocks, ops[i]);
            Assert.Equal(r1, r2);
            passive.ApplyUpdate(new RequestInfo(1000, (ulong)i + 1, (ulong)i + 1, 0), u.WrittenSpan);
        }
        Span<byte> d1 = stackalloc byte[32];
        Span<byte> d2 = stackalloc byte[32];
        Span<byte> d3 = stackalloc byte[32];
        mem.GetStateDigest(d1); rocks.GetStateDigest(d2); passive.GetStateDigest(d3);
        Assert.True(d1.SequenceEqual(d2));
        Assert.True(d1.SequenceEqual(d3));
        var empty = new KvService(new MemoryKvStore());
        Span<byte> d0 = stackalloc byte[32];
        empty.GetStateDigest(d0);
        Assert.False(d0.SequenceEqual(d1));
    }

    [Fact]
    public void ReadOnlyRequestsWriteAnEmptyUpdate()
    {
        using var svc = new KvService(new MemoryKvStore());
        foreach (var op in new[] { Get("a"), Multi(KvOpCode.Exists, "a"), Multi(KvOpCode.MGet, "a"), Multi(KvOpCode.Del, "a"), Cas("a", "x", "y") })
        {
            var u = new ArrayBufferWriter<byte>();
            Exec(svc, op, u);
            Assert.Equal(0, u.WrittenCount);
        }
    }

    [Theory, InlineData("memory", "rocksdb"), InlineData("rocksdb", "memory"), InlineData("rocksdb", "rocksdb")]
    public void SnapshotRoundTrip(string from, string to)
    {
        using var a = new KvService(stores.Create(from));
        foreach (var op in RandomOps(5, 500)) Exec(a, op);
        Exec(a, Set("bin\0\xff", "\0\r\n"));
        var ms = new MemoryStream();
        a.WriteSnapshot(ms);
        using var b = new KvService(stores.Create(to));
        Exec(b, Set("stale", "x"));
        ms.Position = 0;
        b.RestoreSnapshot(ms);
        Span<byte> da = stackalloc byte[32];
        Span<byte> db = stackalloc byte[32];
        a.GetStateDigest(da); b.GetStateDigest(db);
        Assert.True(da.SequenceEqual(db));
        Assert.Equal("$-1\r\n", Exec(b, Get("stale")));
        var ms2 = new MemoryStream();
        b.WriteSnapshot(ms2);
        Assert.Equal(ms.ToArray(), ms2.ToArray());
    }

    [Fact]
    public void MalformedSnapshotsAreRejectedAndLeaveTheStateAlone()
    {
        using var a = new KvService(new MemoryKvStore());
        Exec(a, Set("x", "1")); Exec(a, Set("y", "2"));
        var ms = new MemoryStream();
        a.WriteSnapshot(ms);
        var good = ms.ToArray();
        using var b = new KvService(new MemoryKvStore());
        Exec(b, Set("keep", "me"));
        List<byte[]> bad =
        [
            Array.Empty<byte>(), good[..4], good[..^1], [.. good, 0], [.. good[..5], 7],
            [.. "FBKV\x01"u8.ToArray(), 1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F],
            [.. "FBKV\x01"u8.ToArray(), 1, 1, (byte)'b', 0, 1, 1, (byte)'a', 0, 0],    // not ordered
        ];
        foreach (var s in bad) Assert.Throws<InvalidDataException>(() => b.RestoreSnapshot(new MemoryStream(s)));
        Assert.Equal("$2\r\nme\r\n", Exec(b, Get("keep")));
    }

    [Fact]
    public void MalformedUpdatesThrowInvalidData()
    {
        using var svc = new KvService(new MemoryKvStore());
        foreach (var u in new byte[][] { [1], [1, 0, 0, 0], [1, 0, 0, 0, 2, 0], [0, 0, 0, 0], [2, 0, 0, 0, 1, 1, (byte)'a', 0] })
            Assert.Throws<InvalidDataException>(() => svc.ApplyUpdate(new RequestInfo(1000, 1, 1, 0), u));
        Assert.Equal(0, ((MemoryKvStore)svc.Store).Count);
    }
}
