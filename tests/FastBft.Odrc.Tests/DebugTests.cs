using FastBft.Execution.Odrc;
using FastBft.Simulation.Odrc;
using FastBft.Workloads.Kv;

namespace FastBft.Odrc.Tests;

public sealed class DebugTests(ITestOutputHelper output)
{
    [Fact]
    public void One()
    {
        var s = new OdrcScenario(1, 6, PlacementStrategy.Locality, OdrcBehaviour.Crash, OdrcWorkloadKind.Mixed, false, 8873292195267703392);
        var r = new OdrcSimulator(s, () => new KvService(new MemoryKvStore()), KvSimWorkload.Instance) { Trace = m => { output.WriteLine(m); }, TraceReplica = 4 }.Run();
        output.WriteLine(r.ToString());
        Assert.True(r.Passed, r.ToString());
    }
}
