using FastBft.Config;
using FastBft.Service;
using FastBft.Workloads.Kv;

namespace FastBft.Workloads;

/// <summary>Creates the service a cell config names (<see cref="ServiceConfig"/>).</summary>
public static class ServiceFactory
{
    /// <summary>A new service instance for one replica (a RocksDB-backed KV service uses the directory of replica 0; prefer the overload with the replica id).</summary>
    /// <exception cref="ConfigException">unknown kind or bad workload.</exception>
    public static IReplicatedService Create(ServiceConfig config) => Create(config, 0);

    /// <summary>A new service instance for replica <paramref name="replicaId"/> (a RocksDB-backed KV service opens <c>service.path/replica-&lt;id&gt;</c>).</summary>
    /// <exception cref="ConfigException">unknown kind, bad workload, or the RocksDB directory cannot be opened.</exception>
    public static IReplicatedService Create(ServiceConfig config, uint replicaId)
    {
        var service = CreateCore(config, replicaId);
        if (config.ExecCostUs <= 0) return service;
        var kind = config.ExecCostKind switch
        {
            "cpu" => Odrc.ExecutionCostKind.Cpu,
            "wait" => Odrc.ExecutionCostKind.Wait,
            _ => throw new ConfigException($"invalid cell config: service.exec_cost_kind: '{config.ExecCostKind}' must be \"cpu\" or \"wait\""),
        };
        return Odrc.ExecutionCost.Wrap(service, config.ExecCostUs, kind);
    }

    private static IReplicatedService CreateCore(ServiceConfig config, uint replicaId)
    {
        switch (config.Kind)
        {
            case "noop":
                try { return new NoOpService(Workload.Parse(config.Workload)); }
                catch (FormatException e) { throw new ConfigException($"invalid cell config: service.workload: {e.Message}"); }
            case "counter":
                return new CounterService();
            case "kv":
                return new KvService(CreateStore(config, replicaId));
            case "coord":
                return new Coord.CoordService();
            default:
                throw new ConfigException($"invalid cell config: service.kind: '{config.Kind}' must be \"noop\", \"counter\", \"kv\" or \"coord\"");
        }
    }

    private static IKvStore CreateStore(ServiceConfig config, uint replicaId)
    {
        var durability = config.Durability switch
        {
            "none" => KvDurability.None,
            "process" => KvDurability.Process,
            "fsync" => KvDurability.Fsync,
            _ => throw new ConfigException($"invalid cell config: service.durability: '{config.Durability}' must be \"none\", \"process\" or \"fsync\""),
        };
        switch (config.Storage)
        {
            case "memory":
                if (durability != KvDurability.None) throw new ConfigException($"invalid cell config: service.durability: '{config.Durability}' needs storage \"rocksdb\"");
                return new MemoryKvStore(config.Partitions);
            case "rocksdb":
                if (string.IsNullOrWhiteSpace(config.Path)) throw new ConfigException("invalid cell config: service.path: storage \"rocksdb\" needs a directory");
                try { return new RocksDbKvStore(Path.Combine(config.Path, $"replica-{replicaId}"), durability, config.Partitions); }
                catch (IOException e) { throw new ConfigException($"invalid cell config: service.path: {e.Message}"); }
            default:
                throw new ConfigException($"invalid cell config: service.storage: '{config.Storage}' must be \"memory\" or \"rocksdb\"");
        }
    }
}
