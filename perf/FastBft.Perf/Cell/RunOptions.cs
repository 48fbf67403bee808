namespace FastBft.Perf.Cell;

/// <summary>Options of one `fastbft run` (see README / docs/harness.md).</summary>
internal sealed record RunOptions
{
    public string Protocol { get; init; } = "pbft";
    public int F { get; init; } = 1;
    public string Workload { get; init; } = "0/0";
    /// <summary>--service: "noop" (micro-benchmark, --workload a/b[/z]) or "kv" (the KV store, --workload ycsb-a|b|c|f).</summary>
    public string Service { get; init; } = "noop";
    /// <summary>--records: KV records loaded before the measured window (keys user0…).</summary>
    public long Records { get; init; } = 10_000;
    /// <summary>--value-bytes: KV record value size, bytes.</summary>
    public int ValueBytes { get; init; } = 100;
    /// <summary>--storage: KV storage, "memory" or "rocksdb" (a directory in the cell's temporary directory).</summary>
    public string Storage { get; init; } = "memory";
    public int Clients { get; init; } = 32;
    public double DurationSeconds { get; init; } = 10;
    public double WarmupSeconds { get; init; } = 1;
    public bool InProcess { get; init; }
    public string Transport { get; init; } = "udp";
    /// <summary>DPDK poll mode: busy, adaptive or interrupt.</summary>
    public string Poll { get; init; } = "adaptive";
    /// <summary>DPDK adaptive polling: µs to spin on empty polls before sleeping.</summary>
    public int SpinUs { get; init; } = DefaultSpinUs;
    /// <summary>DPDK adaptive polling: longest back-off sleep, µs.</summary>
    public int MaxSleepUs { get; init; } = 200;
    /// <summary>DPDK cells: nodes sleep on doorbells their peers ring (false: timer back-off only).</summary>
    public bool Doorbells { get; init; } = true;
    /// <summary>Harness default spin (µs): short, because replica processes share the cores.</summary>
    public const int DefaultSpinUs = 0;
    public int BatchSize { get; init; } = 64;
    public string? JsonPath { get; init; }
    public bool Quiet { get; init; }
    /// <summary>--fault values (docs/harness.md "Faults").</summary>
    public IReadOnlyList<string> Faults { get; init; } = [];
    /// <summary>--plot: PNG file for throughput over time and the latency spectrum.</summary>
    public string? PlotPath { get; init; }
    /// <summary>--client-retransmit-ms: cell timeouts.client_retransmit_ms (the view-change timeout is twice it); null = config default.</summary>
    public int? ClientRetransmitMs { get; init; }
    /// <summary>--checkpoint-interval K; null = config default (128).</summary>
    public int? CheckpointInterval { get; init; }
    /// <summary>Batches the leader keeps in flight (cell config max_inflight_batches); null = the config default.</summary>
    public int? MaxInflight { get; init; }
    /// <summary>Switching protocols: instances after a switch before switching back (cell config switching.switch_back_after); null = the config default (0 = never).</summary>
    public long? SwitchBackAfter { get; init; }
    /// <summary>--usig: the trusted counter of a USIG protocol's replicas (minbft, reminbft): "software" (default; the key derived
    /// from the cell's master secret) or "device-model" (each replica process hosts a UsigDeviceModel in a per-cell /dev/shm
    /// directory and reaches it through the FpgaUsig driver). Ignored by protocols without a trusted counter.</summary>
    public string Usig { get; init; } = "software";
    /// <summary>Logs and metrics of the harness and its replicas.</summary>
    public Output.ObservabilityOptions.Settings Observability { get; init; } = Output.ObservabilityOptions.Settings.Default;

    /// <summary>--execution: "sequential" (every replica executes everything) or "odrc" (docs/odrc.md).</summary>
    public string Execution { get; init; } = "sequential";
    /// <summary>--exec-replicas: execution replicas of an ODRC cell; real processes support only n (the cell's replicas).</summary>
    public int? ExecReplicas { get; init; }
    /// <summary>--placement: ODRC object placement, "round-robin" or "locality".</summary>
    public string Placement { get; init; } = "round-robin";
    /// <summary>--exec-cost-us: µs added to every executed write (service.exec_cost_us), spent as <see cref="ExecCostKind"/>.</summary>
    public int ExecCostUs { get; init; }
    /// <summary>--exec-cost-kind: "cpu" (spin) or "wait" (blocking wait, a model of storage latency) for --exec-cost-us (service.exec_cost_kind).</summary>
    public string ExecCostKind { get; init; } = "cpu";
    /// <summary>--checkpoint-accesses: ODRC object checkpoint interval K in accesses; null = config default (100).</summary>
    public int? CheckpointAccesses { get; init; }
    /// <summary>--write-knowledge: ODRC selectors use the service's write knowledge (execution.write_knowledge; docs/odrc.md §3a).</summary>
    public bool WriteKnowledge { get; init; }

    /// <summary>Short label for compare tables.</summary>
    public string Label { get; init; } = "";
}

/// <summary>Result of one run; serialized with snake_case keys.</summary>
internal sealed record RunResult
{
    public string Protocol { get; init; } = "";
    public int F { get; init; }
    public string Workload { get; init; } = "";
    public int Clients { get; init; }
    public double DurationS { get; init; }
    public double ThroughputRps { get; init; }
    public double LatencyP50Ms { get; init; }
    public double LatencyP90Ms { get; init; }
    public double LatencyP99Ms { get; init; }
    public double LatencyP999Ms { get; init; }
    /// <summary>Longest client latency in the measured window, ms.</summary>
    public double LatencyMaxMs { get; init; }
    public double LatencyMeanMs { get; init; }
    public double CpuUsPerRequest { get; init; }
    public double BytesPerRequest { get; init; }
    public bool ReplicasConsistent { get; init; }
    public double AvgBatchSize { get; init; }
    public double DatagramsPerRequest { get; init; }
    public long RequestsCompleted { get; init; }
    /// <summary>Clients whose last request had not completed 20 s after the load stopped (0 in a live cell).</summary>
    public int RequestsUnfinished { get; init; }
    public long ClientRetransmissions { get; init; }
    /// <summary>Retransmissions that carried a PANIC to every replica (switching protocols only).</summary>
    public long ClientPanics { get; init; }
    public string Transport { get; init; } = "udp";
    /// <summary>The replicas' trusted counter ("software", "device-model"), or "none" for a protocol without one.</summary>
    public string Usig { get; init; } = "none";
    /// <summary>USIG protocols: µs the replicas spent inside their USIGs in the measured window ÷ requests completed (all replicas together); 0 otherwise.</summary>
    public double UsigUsPerRequest { get; init; }
    /// <summary>USIG protocols: that time ÷ the replica processes' CPU time in the window (time in the USIG includes waiting
    /// for the device, so it is a share of the replicas' work, not of a CPU); -1 when CPU is not measured (--in-process); 0 otherwise.</summary>
    public double UsigShare { get; init; }
    /// <summary>USIG protocols: UIs certified and verified by all replicas in the window, per request.</summary>
    public double UsigUisPerRequest { get; init; }
    public bool InProcess { get; init; }
    public ulong LastExecuted { get; init; }
    public string[] StateDigests { get; init; } = [];
    /// <summary>Ids of the replicas alive at the end (the consistency check covers exactly these).</summary>
    public uint[] ReplicasAlive { get; init; } = [];
    /// <summary>Most replicas' view at the start of the measured window.</summary>
    public ulong ViewStart { get; init; }
    /// <summary>Most replicas' view at the end (of those alive).</summary>
    public ulong ViewEnd { get; init; }
    /// <summary>Views installed during the run (view_end − view_start).</summary>
    public ulong ViewChanges { get; init; }
    /// <summary>State transfers completed by the replicas alive at the end.</summary>
    public long StateTransfers { get; init; }
    /// <summary>Completed requests/s per 100 ms bucket of the measured window.</summary>
    [System.Text.Json.Serialization.JsonPropertyName("throughput_100ms_rps")]
    public double[] Throughput100MsRps { get; init; } = [];
    /// <summary>Bytes the client I/O thread allocated per completed request (transport, voting, load generator), NaN → -1 if unmeasured.</summary>
    public double ClientAllocatedBytesPerRequest { get; init; }
    public List<FaultResult> Faults { get; init; } = [];
    /// <summary>"sequential" or "odrc".</summary>
    public string Execution { get; init; } = "sequential";
    /// <summary>ODRC: share of ordered requests that were cross-border (their objects have more than one maintainer set), replica 0's selector over the whole run; -1 without ODRC.</summary>
    public double OdrcCrossBorderShare { get; init; } = -1;
    /// <summary>ODRC: forced executions (all replicas) per ordered request, over the whole run; -1 without ODRC.</summary>
    public double OdrcForcedPerRequest { get; init; } = -1;
    /// <summary>ODRC: executions (all replicas: selected, replayed, forced) per ordered request, over the whole run (f+1 without faults and cross-border requests); -1 without ODRC.</summary>
    public double OdrcExecutionsPerRequest { get; init; } = -1;
    /// <summary>Final status of every replica alive at the end (view, sequence, counters, transport errors).</summary>
    public FastBft.Replica.ReplicaStatus[] Replicas { get; init; } = [];
}

internal sealed record CompareEntry(string Name, double ThroughputRps, double CpuUsPerRequest, double LatencyP50Ms, double LatencyP99Ms, double ThroughputMinRps = 0, double ThroughputMaxRps = 0)
{
    /// <summary>ODRC: median share of cross-border requests (replica 0's selector); -1 without ODRC.</summary>
    public double OdrcCrossBorderShare { get; init; } = -1;
    /// <summary>ODRC: median executions per ordered request over all execution replicas; -1 without ODRC.</summary>
    public double OdrcExecutionsPerRequest { get; init; } = -1;
}
internal sealed record CompareRatio(string Name, double Throughput, double CpuUsPerRequest);
internal sealed record CompareResult(List<CompareEntry> Configs, List<CompareRatio> Ratios);
