using FastBft.Config;
using FastBft.Workloads;
using FastBft.Workloads.Kv;

namespace FastBft.Kv.Tests;

public sealed class KvConfigTests
{
    [Theory]
    [InlineData("kv", "disk", null, "none", "service.storage")]
    [InlineData("kv", "rocksdb", null, "none", "service.path")]
    [InlineData("kv", "memory", "/tmp/x", "none", "service.path")]
    [InlineData("kv", "memory", null, "fsync", "service.durability")]            // the memory store cannot persist
    [InlineData("kv", "memory", null, "process", "service.durability")]
    [InlineData("kv", "rocksdb", "/tmp/x", "always", "service.durability")]
    [InlineData("counter", "memory", null, "fsync", "service.durability")]
    [InlineData("noop", "rocksdb", "/tmp/x", "none", "service.path")]
    [InlineData("redis", "memory", null, "none", "service.kind")]
    public void BadServiceSectionsNameTheField(string kind, string storage, string? path, string durability, string field)
    {
        var s = new ServiceConfig { Kind = kind, Storage = storage, Path = path, Durability = durability };
        var e = Assert.Throws<ConfigException>(() => ServiceFactoryValidate(s));
        Assert.Contains(field, e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1000)]
    [InlineData(65536)]
    public void PartitionsMustBeAPowerOfTwoUpTo32768(int partitions)
    {
        var e = Assert.Throws<ConfigException>(() => ServiceFactoryValidate(new ServiceConfig { Kind = "kv", Partitions = partitions }));
        Assert.Contains("service.partitions", e.Message);
    }

    [Theory]
    [InlineData("process")]
    [InlineData("fsync")]
    public void DurableRocksDbIsAccepted(string durability)
        => ServiceFactoryValidate(new ServiceConfig { Kind = "kv", Storage = "rocksdb", Path = "/tmp/x", Durability = durability, Partitions = 1024 });

    private static void ServiceFactoryValidate(ServiceConfig s)
    {
        var c = new CellConfig { Keys = new KeysConfig { Master = new string('a', 64) }, Service = s };
        for (int i = 0; i < 4; i++) c.Replicas.Add(new ReplicaConfig { Id = i, Address = $"127.0.0.1:{7000 + i}" });
        c.Validate();
    }

    [Fact]
    public void FactoryCreatesBothStorages()
    {
        var dir = Path.Combine(Path.GetTempPath(), "fastbft-kv-cfg-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var mem = (KvService)ServiceFactory.Create(new ServiceConfig { Kind = "kv" }, 2);
            Assert.Equal("memory", mem.Store.Kind);
            using var rocks = (KvService)ServiceFactory.Create(new ServiceConfig { Kind = "kv", Storage = "rocksdb", Path = dir }, 2);
            Assert.Equal("rocksdb", rocks.Store.Kind);
            Assert.True(Directory.Exists(Path.Combine(dir, "replica-2")));
        }
        finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
    }
}
