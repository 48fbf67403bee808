using FastBft.Config;
using FastBft.Service;

namespace FastBft.Workloads;

/// <summary>Creates the service a cell config names (<see cref="ServiceConfig"/>).</summary>
public static class ServiceFactory
{
    /// <summary>A new service instance for one replica.</summary>
    /// <exception cref="ConfigException">unknown kind or bad workload.</exception>
    public static IReplicatedService Create(ServiceConfig config)
    {
        switch (config.Kind)
        {
            case "noop":
                try { return new NoOpService(Workload.Parse(config.Workload)); }
                catch (FormatException e) { throw new ConfigException($"invalid cell config: service.workload: {e.Message}"); }
            case "counter":
                return new CounterService();
            default:
                throw new ConfigException($"invalid cell config: service.kind: '{config.Kind}' must be \"noop\" or \"counter\"");
        }
    }
}
