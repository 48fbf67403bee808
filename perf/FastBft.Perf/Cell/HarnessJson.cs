using System.Text.Json.Serialization;
using FastBft.Replica;

namespace FastBft.Perf.Cell;

/// <summary>Source-generated JSON for the harness's own documents (status lines, results).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = false)]
[JsonSerializable(typeof(ReplicaStatus))]
[JsonSerializable(typeof(RunResult))]
[JsonSerializable(typeof(CompareResult))]
internal partial class HarnessJson : JsonSerializerContext;
