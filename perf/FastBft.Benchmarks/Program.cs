using BenchmarkDotNet.Running;

// BenchmarkDotNet micro-benchmarks. Every public class with [Benchmark] methods in this assembly is
// picked up; run e.g. `dotnet run -c Release --project perf/FastBft.Benchmarks -- --filter '*Mac*'`.
// `--profile-pipeline N [workload]` runs PipelineBenchmarks.Round N times without BenchmarkDotNet, for `perf record`
// (DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0) of the engine's request path.
if (args.Length >= 2 && args[0] == "--profile-pipeline")
{
    var b = new FastBft.Benchmarks.PipelineBenchmarks { Workload = args.Length > 2 ? args[2] : "0/0" };
    b.Setup();
    var sw = System.Diagnostics.Stopwatch.StartNew();
    long rounds = long.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture);
    for (long i = 0; i < rounds; i++) b.Round();
    System.Console.WriteLine($"{sw.Elapsed.TotalMilliseconds * 1000 / (rounds * 8):0.000} µs/request over {rounds * 8} requests");
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
