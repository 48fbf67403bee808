using BenchmarkDotNet.Running;

// BenchmarkDotNet micro-benchmarks. Every public class with [Benchmark] methods in this assembly is
// picked up; run e.g. `dotnet run -c Release --project perf/FastBft.Benchmarks -- --filter '*Mac*'`.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
