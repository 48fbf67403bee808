using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FastBft.Config;

/// <summary>
/// One cell's configuration, loaded from a JSON file (docs/configuration.md). Property names on
/// disk are snake_case. Call <see cref="Validate"/> (done by <see cref="Load"/>) before use: bad
/// values are rejected with a <see cref="ConfigException"/> naming the field.
/// </summary>
public sealed class CellConfig
{
    /// <summary>Protocol: "pbft", "repbft", "repbft-star", "minbft" or "reminbft" (<see cref="FastBft.Agreement.CellShape.Names"/>); only built protocols are accepted (today "pbft").</summary>
    public string Protocol { get; set; } = "pbft";
    /// <summary>Maximum number of faulty replicas f (≥ 1). n follows from the protocol (<see cref="Shape"/>): 3f+1 for PBFT/RePBFT, 2f+1 for MinBFT/ReMinBFT.</summary>
    public int F { get; set; } = 1;
    /// <summary>The replicas, ids 0..n-1 in order.</summary>
    public List<ReplicaConfig> Replicas { get; set; } = new();
    /// <summary>Key material.</summary>
    public KeysConfig Keys { get; set; } = new();
    /// <summary>Maximum requests per batch (one sequence number per batch; Thesis §2.1.2.2). 1..4096, default 64.</summary>
    public int BatchSize { get; set; } = 64;
    /// <summary>Batches the primary keeps in flight (pre-prepared, not yet executed) before it waits and lets the next batch fill. 1..window, default 4.</summary>
    public int MaxInflightBatches { get; set; } = 4;
    /// <summary>Checkpoint interval K in sequence numbers (PBFT-PR §4.3; 128 there). Default 128.</summary>
    public int CheckpointInterval { get; set; } = 128;
    /// <summary>Log window L in sequence numbers: accepted n satisfies h &lt; n ≤ h+L (PROTOCOLS.md G5). A multiple of K, ≥ 2K. Default 256.</summary>
    public int Window { get; set; } = 256;
    /// <summary>Largest message body accepted or sent, bytes. Default 8 MiB (a full batch of 64 maximal requests).</summary>
    public int MaxMessageBytes { get; set; } = 8 * 1024 * 1024;
    /// <summary>Largest client operation, bytes. Default 64 KiB.</summary>
    public int MaxRequestBytes { get; set; } = 64 * 1024;
    /// <summary>Largest checkpoint snapshot a replica accepts in a state transfer, bytes: a peer's claimed snapshot size above it is rejected, and the fetch buffer grows only with bytes received (docs/state-transfer.md). 64 KiB..1 GiB, default 256 MiB.</summary>
    public int MaxStateBytes { get; set; } = 256 << 20;
    /// <summary>First client id; clients use ids ≥ this (≥ n). Default 1000.</summary>
    public uint FirstClientId { get; set; } = 1000;
    /// <summary>Number of client ids the cell accepts: first_client_id .. first_client_id + max_clients - 1 (keys exist only for these, so a forged id cannot make a replica create MAC state). Default 4096.</summary>
    public int MaxClients { get; set; } = 4096;
    /// <summary>Timer settings.</summary>
    public TimeoutsConfig Timeouts { get; set; } = new();
    /// <summary>Protocol-switch settings; accepted for every protocol, used only by the switching protocols (repbft, repbft-star, reminbft).</summary>
    public SwitchingConfig Switching { get; set; } = new();
    /// <summary>The service every replica runs.</summary>
    public ServiceConfig Service { get; set; } = new();
    /// <summary>Metrics export (docs/observability.md); optional.</summary>
    public TelemetryConfig Telemetry { get; set; } = new();
    /// <summary>The execution stage under the agreement protocol (docs/odrc.md §3): sequential (default) or ODRC.</summary>
    public ExecutionConfig Execution { get; set; } = new();
    /// <summary>
    /// The trusted counter of each replica (<c>usig</c> section, <see cref="FastBft.TrustedHw.UsigOptions"/>; docs/configuration.md,
    /// docs/trusted-counter.md §4). Only for protocols whose <see cref="FastBft.Agreement.CellShape.UsesUsig"/> (minbft,
    /// reminbft); a <c>usig</c> section on any other protocol is rejected (it would be silently unused). Null (absent) for a
    /// USIG protocol means <c>impl: auto</c> with every other key at its default: the device when one is configured, else the
    /// software USIG on the key derived from keys.master, with a logged warning.
    /// </summary>
    public FastBft.TrustedHw.UsigOptions? Usig { get; set; }

    /// <summary>Number of replicas n.</summary>
    [JsonIgnore] public int N => Replicas.Count;
    /// <summary>Execution replicas E: n, plus the execution-only replicas of an extended ODRC cell (<c>execution.execution_only</c>; docs/odrc.md §2).</summary>
    [JsonIgnore] public int ExecutionReplicaCount => N + (Execution?.Mode == "odrc" ? Execution.ExecutionOnly.Count : 0);
    /// <summary>The protocol's quorum sizes for f; valid after <see cref="Validate"/>.</summary>
    [JsonIgnore] public FastBft.Agreement.QuorumPolicy Quorums => FastBft.Agreement.Protocols.Get(Shape.Protocol).Quorums(F);
    /// <summary>The cell's shape (protocol, f, n, roles); valid after <see cref="Validate"/>.</summary>
    [JsonIgnore] public FastBft.Agreement.CellShape Shape => new(FastBft.Agreement.CellShape.TryParse(Protocol, out var k) ? k : FastBft.Agreement.ProtocolKind.Pbft, F);

    /// <summary>JSON options used for cell files (snake_case, comments and trailing commas allowed).</summary>
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        WriteIndented = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>Loads and validates a cell file.</summary>
    /// <exception cref="ConfigException">the file is missing, not valid JSON, or a field is invalid (the message names it).</exception>
    public static CellConfig Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new ConfigException($"cannot read cell config '{path}': {e.Message}"); }
        return Parse(text, path);
    }

    /// <summary>Parses and validates cell JSON. <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="ConfigException">invalid JSON or field.</exception>
    public static CellConfig Parse(string json, string source = "cell config")
    {
        CellConfig? c;
        try { c = JsonSerializer.Deserialize<CellConfig>(json, JsonOptions); }
        catch (JsonException e) { throw new ConfigException($"{source}: invalid JSON at {e.Path ?? "$"} (line {e.LineNumber + 1}): {e.Message}"); }
        if (c is null) throw new ConfigException($"{source}: empty document");
        c.Validate();
        return c;
    }

    /// <summary>Serializes to JSON (snake_case).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Checks every field; throws on the first invalid one.</summary>
    /// <exception cref="ConfigException">a field is invalid; the message names it and the accepted range.</exception>
    public void Validate()
    {
        if (!FastBft.Agreement.CellShape.TryParse(Protocol ?? "", out var kind))
            Fail("protocol", $"'{Protocol}' is not a protocol (known: {string.Join(", ", FastBft.Agreement.CellShape.Names)})");
        if (!FastBft.Agreement.Protocols.IsBuilt(kind))
            Fail("protocol", $"'{Protocol}' is not built yet (built: {string.Join(", ", FastBft.Agreement.Protocols.Built)})");
        if (F < 1 || F > 20) Fail("f", $"{F} is out of range 1..20");
        var shape = new FastBft.Agreement.CellShape(kind, F);
        int n = shape.N;
        if (Replicas.Count != n) Fail("replicas", $"{Protocol} with f={F} needs exactly {(n == 3 * F + 1 ? "3f+1" : "2f+1")} = {n} replicas, found {Replicas.Count}");
        for (int i = 0; i < Replicas.Count; i++)
        {
            var r = Replicas[i] ?? throw new ConfigException($"replicas[{i}]: null entry");
            if (r.Id != i) Fail($"replicas[{i}].id", $"expected {i} (ids are 0..n-1 in order), found {r.Id}");
            if (!IPEndPoint.TryParse(r.Address ?? "", out var ep) || ep.Port == 0) Fail($"replicas[{i}].address", $"'{r.Address}' is not host:port with an IPv4 address and a non-zero port");
            if (r.Transport is not ("udp" or "dpdk")) Fail($"replicas[{i}].transport", $"'{r.Transport}' must be \"udp\" or \"dpdk\"");
        }
        Keys.Validate();
        if (BatchSize < 1 || BatchSize > 4096) Fail("batch_size", $"{BatchSize} is out of range 1..4096");
        if (CheckpointInterval < 1 || CheckpointInterval > 1 << 20) Fail("checkpoint_interval", $"{CheckpointInterval} is out of range 1..{1 << 20}");
        if (Window < 2 * CheckpointInterval || Window % CheckpointInterval != 0) Fail("window", $"{Window} must be a multiple of checkpoint_interval ({CheckpointInterval}) and at least twice it");
        if (Window > 1 << 16) Fail("window", $"{Window} exceeds 65536");
        if (MaxInflightBatches < 1 || MaxInflightBatches > Window) Fail("max_inflight_batches", $"{MaxInflightBatches} is out of range 1..window ({Window})");
        if (MaxRequestBytes < 0 || MaxRequestBytes > 16 << 20) Fail("max_request_bytes", $"{MaxRequestBytes} is out of range 0..16 MiB");
        if (MaxMessageBytes < 64 * 1024 || MaxMessageBytes > 64 << 20) Fail("max_message_bytes", $"{MaxMessageBytes} is out of range 64 KiB..64 MiB");
        long batchBytes = (long)BatchSize * (MaxRequestBytes + 200 + 16 * n);
        if (batchBytes > MaxMessageBytes) Fail("max_message_bytes", $"{MaxMessageBytes} cannot hold a full batch (batch_size × (max_request_bytes + overhead) = {batchBytes} bytes); raise it or lower batch_size/max_request_bytes");
        if (n <= 64 && CheckpointInterval >= 1 && Window >= CheckpointInterval && Window <= 1 << 16)
        {
            // L8: the largest VIEW-CHANGE and NEW-VIEW a correct replica builds must fit one message (docs/view-change.md).
            long trailer = 2 + 16L * n;
            long viewChange = 32 + FastBft.Agreement.Pbft.ViewChangeBody.MaxBodyLength(Window, CheckpointInterval, F) + trailer;
            long newView = 32 + (long)FastBft.Agreement.Pbft.NewViewBody.MaxBodyLength(n, Window, (int)viewChange) + trailer;
            if (newView > MaxMessageBytes) Fail("max_message_bytes", $"{MaxMessageBytes} cannot hold the largest NEW-VIEW of this cell ({newView} bytes: n = {n} VIEW-CHANGEs of up to {viewChange} bytes for window {Window}); raise it or lower window");
        }
        if (MaxStateBytes < 64 * 1024 || MaxStateBytes > 1 << 30) Fail("max_state_bytes", $"{MaxStateBytes} is out of range 64 KiB..1 GiB");
        if (FirstClientId < n) Fail("first_client_id", $"{FirstClientId} must be ≥ n ({n}) so client ids never equal replica ids");
        if (MaxClients < 1 || MaxClients > 1 << 20) Fail("max_clients", $"{MaxClients} is out of range 1..{1 << 20}");
        if ((ulong)FirstClientId + (ulong)MaxClients > uint.MaxValue) Fail("max_clients", "first_client_id + max_clients exceeds the 32-bit id space");
        Timeouts.Validate();
        (Switching ??= new SwitchingConfig()).Validate(n, Timeouts, kind);
        Service.Validate();
        (Execution ??= new ExecutionConfig()).Validate(Service, kind);
        (Telemetry ??= new TelemetryConfig()).Validate();
        ValidateUsig(Usig, shape);
    }

    /// <summary>
    /// The <c>usig</c> rules of <see cref="Validate"/> (public so they can be checked for a protocol that is not built yet):
    /// a section on a protocol without a trusted counter is rejected; for a USIG protocol the contradictions
    /// <see cref="FastBft.TrustedHw.UsigFactory.Create"/> would only find at start are rejected here, naming the key.
    /// What needs the replica's machine (key file permissions, the device answering) is checked at start.
    /// </summary>
    /// <param name="usig">the section, or null when absent.</param>
    /// <param name="shape">the cell's shape.</param>
    /// <exception cref="ConfigException">the message names the key (<c>usig</c>, <c>usig.impl</c>, <c>usig.device_path</c>, <c>usig.require_hardware</c>, <c>usig.timeout_ms</c>).</exception>
    public static void ValidateUsig(FastBft.TrustedHw.UsigOptions? usig, FastBft.Agreement.CellShape shape)
    {
        if (usig is null) return;
        if (!shape.UsesUsig)
            Fail("usig", $"protocol '{shape.Name}' has no trusted counter and would ignore this section; remove it (only {string.Join(", ", FastBft.Agreement.CellShape.Names.Where(n => FastBft.Agreement.CellShape.TryParse(n, out var k) && new FastBft.Agreement.CellShape(k, 1).UsesUsig))} use it)");
        if (!Enum.IsDefined(usig.Impl)) Fail("usig.impl", $"{(int)usig.Impl} must be auto, software, device or device-model");
        if (usig.TimeoutMs < 1 || usig.TimeoutMs > 600_000) Fail("usig.timeout_ms", $"{usig.TimeoutMs} is out of range 1..600000");
        bool hasPath = !string.IsNullOrWhiteSpace(usig.DevicePath);
        switch (usig.Impl)
        {
            case FastBft.TrustedHw.UsigImpl.Device when !hasPath:
                Fail("usig.device_path", "usig.impl is 'device' but no device_path is configured (a PCI address such as 0000:03:00.0 or a BAR0 region file)");
                break;
            case FastBft.TrustedHw.UsigImpl.Software when usig.RequireHardware:
                Fail("usig.require_hardware", "is true but usig.impl is 'software'; set impl to 'device' or 'auto', or require_hardware to false");
                break;
            case FastBft.TrustedHw.UsigImpl.DeviceModel when usig.RequireHardware:
                Fail("usig.require_hardware", "is true but usig.impl is 'device-model' (a software model of the device, tests and benchmarks only); set impl to 'device', or require_hardware to false");
                break;
            case FastBft.TrustedHw.UsigImpl.DeviceModel when !hasPath:
                Fail("usig.device_path", "usig.impl is 'device-model' but no device_path is configured (the directory for the model's window and epoch files)");
                break;
            case FastBft.TrustedHw.UsigImpl.Auto when usig.RequireHardware && !hasPath:
                Fail("usig.require_hardware", "is true but no usig.device_path is configured, so the replica could never find its device; set usig.device_path");
                break;
        }
    }

    /// <summary>The key store of this cell: session keys derived from keys.master (docs/authentication.md).</summary>
    public FastBft.Auth.KeyStore CreateKeyStore() => new(Keys.MasterBytes(), N, FirstClientId, MaxClients);

    /// <summary>True if <paramref name="id"/> is a client id of this cell.</summary>
    public bool IsClientId(uint id) => id >= FirstClientId && id - FirstClientId < (uint)MaxClients;

    internal static void Fail(string field, string why) => throw new ConfigException($"invalid cell config: {field}: {why}");
}

/// <summary>One replica of a cell.</summary>
public sealed class ReplicaConfig
{
    /// <summary>Replica id (0..n-1).</summary>
    public int Id { get; set; }
    /// <summary>IPv4 endpoint "a.b.c.d:port" the replica listens on.</summary>
    public string Address { get; set; } = "";
    /// <summary>"udp" (kernel sockets) or "dpdk" (kernel bypass).</summary>
    public string Transport { get; set; } = "udp";
    /// <summary>Transport-specific settings (e.g. the DPDK device and EAL arguments), passed through to the transport.</summary>
    public JsonElement? TransportOptions { get; set; }
}

/// <summary>Keys of the cell (docs/authentication.md).</summary>
public sealed class KeysConfig
{
    /// <summary>64 hex digits: the 32-byte master secret from which every session key is derived.</summary>
    public string Master { get; set; } = "";

    /// <summary>The master secret's bytes.</summary>
    public byte[] MasterBytes() => Convert.FromHexString(Master);

    internal void Validate()
    {
        if (Master is null || Master.Length != 64) CellConfig.Fail("keys.master", "must be 64 hex digits (a 32-byte secret)");
        try { Convert.FromHexString(Master!); } catch (FormatException) { CellConfig.Fail("keys.master", "is not hexadecimal"); }
    }
}

/// <summary>Timer settings, milliseconds.</summary>
public sealed class TimeoutsConfig
{
    /// <summary>Protocol tick: the replica's periodic timer granularity, ms. Default 10.</summary>
    public int TickMs { get; set; } = 10;
    /// <summary>A replica re-sends its own agreement/checkpoint messages for a slot stalled this long, ms (PBFT-PR §4.6.1). Default 100.</summary>
    public int RetransmitMs { get; set; } = 100;
    /// <summary>A client retransmits to all replicas after this long without f+1 matching replies, ms; doubles per retry up to 8×. Default 500.</summary>
    public int ClientRetransmitMs { get; set; } = 500;
    /// <summary>Switching protocols (repbft, repbft-star, reminbft) only: a client whose outstanding request has hit its
    /// retransmission timeout this many times sends a PANIC to every replica with that retransmission and with every later
    /// one (Thesis §5.3.2.1; docs/configuration.md). 1..16, default 2 (PANIC with the second retransmission: with the first, cells whose processes were still starting switched).</summary>
    public int ClientPanicRetransmissions { get; set; } = 2;

    internal void Validate()
    {
        if (TickMs < 1 || TickMs > 1000) CellConfig.Fail("timeouts.tick_ms", $"{TickMs} is out of range 1..1000");
        if (RetransmitMs < TickMs || RetransmitMs > 60_000) CellConfig.Fail("timeouts.retransmit_ms", $"{RetransmitMs} must be in tick_ms..60000");
        if (ClientRetransmitMs < 1 || ClientRetransmitMs > 60_000) CellConfig.Fail("timeouts.client_retransmit_ms", $"{ClientRetransmitMs} is out of range 1..60000");
        if (ClientPanicRetransmissions < 1 || ClientPanicRetransmissions > 16) CellConfig.Fail("timeouts.client_panic_retransmissions", $"{ClientPanicRetransmissions} is out of range 1..16");
    }
}

/// <summary>
/// Protocol-switch settings (Thesis §5.3.2–§5.3.3; docs/configuration.md). Accepted for every protocol; only the
/// switching protocols (repbft, repbft-star, reminbft) use them.
/// </summary>
public sealed class SwitchingConfig
{
    /// <summary>Largest accepted <see cref="SwitchTimeoutMs"/>, ms.</summary>
    public const int MaxSwitchTimeoutMs = 600_000;

    /// <summary>Transition-coordinator timeout, ms: how long an active replica waits for a valid SWITCH before it sends its
    /// abort history to the next coordinator; doubles per rotation (Thesis §5.3.2.5). tick_ms..600000; null (default) =
    /// 2 × timeouts.client_retransmit_ms (the view-change timeout). Use <see cref="EffectiveSwitchTimeoutMs"/>.</summary>
    public int? SwitchTimeoutMs { get; set; }
    /// <summary>PBFT (MinBFT) instances to run after a switch before returning to the resource-saving protocol at the next
    /// checkpoint (Thesis §5.3.3); 0 (default) = never return. ≥ 0. repbft and repbft-star switch back at the agreed
    /// checkpoint (docs/repbft.md §6); reminbft's MinBFT leader proposes a SWITCH-BACK batch at the first checkpoint at least this
    /// many instances into the phase (docs/reminbft.md §7); protocols that never switch (pbft, minbft) ignore it.</summary>
    public long SwitchBackAfter { get; set; }
    /// <summary>Replica id of the leader of the first generation (the active set is it and the next active−1 replicas).
    /// 0..n-1, default 0.</summary>
    public int FirstLeader { get; set; }

    /// <summary>The switch timeout in ms: <see cref="SwitchTimeoutMs"/>, or 2 × client_retransmit_ms of <paramref name="timeouts"/> when unset.</summary>
    public int EffectiveSwitchTimeoutMs(TimeoutsConfig timeouts) => SwitchTimeoutMs ?? 2 * timeouts.ClientRetransmitMs;

    internal void Validate(int n, TimeoutsConfig timeouts, FastBft.Agreement.ProtocolKind protocol)
    {
        if (SwitchTimeoutMs is int ms && (ms < timeouts.TickMs || ms > MaxSwitchTimeoutMs))
            CellConfig.Fail("switching.switch_timeout_ms", $"{ms} must be in tick_ms ({timeouts.TickMs})..{MaxSwitchTimeoutMs}");
        if (SwitchBackAfter < 0) CellConfig.Fail("switching.switch_back_after", $"{SwitchBackAfter} must be ≥ 0 (0 = never switch back)");
        if (FirstLeader < 0 || FirstLeader >= n) CellConfig.Fail("switching.first_leader", $"{FirstLeader} is not a replica id (0..n-1 = 0..{n - 1})");
    }
}

/// <summary>Where replicas export the "FastBft" meter (docs/observability.md). Command-line options of `fastbft replica` override it.</summary>
public sealed class TelemetryConfig
{
    /// <summary>OTLP endpoint URL (e.g. "http://127.0.0.1:4317" for gRPC, "http://127.0.0.1:4318/v1/metrics" for HTTP/protobuf); null: no OTLP export.</summary>
    public string? OtlpEndpoint { get; set; }
    /// <summary>"grpc" (default) or "http" (HTTP/protobuf).</summary>
    public string OtlpProtocol { get; set; } = "grpc";
    /// <summary>Export interval, ms. Default 10000.</summary>
    public int ExportIntervalMs { get; set; } = 10_000;

    internal void Validate()
    {
        if (OtlpEndpoint is not null && (!Uri.TryCreate(OtlpEndpoint, UriKind.Absolute, out var u) || (u.Scheme != "http" && u.Scheme != "https")))
            CellConfig.Fail("telemetry.otlp_endpoint", $"'{OtlpEndpoint}' is not an absolute http(s) URL");
        if (OtlpProtocol is not ("grpc" or "http")) CellConfig.Fail("telemetry.otlp_protocol", $"'{OtlpProtocol}' must be \"grpc\" or \"http\"");
        if (ExportIntervalMs < 100 || ExportIntervalMs > 3_600_000) CellConfig.Fail("telemetry.export_interval_ms", $"{ExportIntervalMs} is out of range 100..3600000");
    }
}

/// <summary>Which service the replicas run.</summary>
public sealed class ServiceConfig
{
    /// <summary>"noop" (micro-benchmark), "counter" (order-sensitive test service) or "kv" (the key-value store, docs/kv.md).</summary>
    public string Kind { get; set; } = "noop";
    /// <summary>For "noop": the workload "a/b" or "a/b/z" (request KiB / reply KiB / update KiB), e.g. "0/4".</summary>
    public string Workload { get; set; } = "0/0";
    /// <summary>For "kv": where the state lives, "memory" (default) or "rocksdb" (needs <see cref="Path"/>).</summary>
    public string Storage { get; set; } = "memory";
    /// <summary>For "kv" with storage "rocksdb": the directory under which each replica keeps its database (replica-&lt;id&gt;/).</summary>
    public string? Path { get; set; }
    /// <summary>
    /// For "kv": what survives a restart (docs/durability.md): "none" (the state starts empty at every start),
    /// "process" (each batch is one RocksDB write with the WAL, unsynced: survives a process kill, not a power loss) or
    /// "fsync" (the same, synced before the batch's replies leave). "process" and "fsync" need storage "rocksdb".
    /// </summary>
    public string Durability { get; set; } = "none";
    /// <summary>For "kv": partitions of the state for checkpoints and state transfer (docs/state-transfer.md §4), a power of two in 1..32768; default 4096 (2 KiB of digest state each). Every replica of a cell must use the same value; a durable database keeps it.</summary>
    public int Partitions { get; set; } = 4096;
    /// <summary>Cost added to every executed write, µs (0 = none), spent as <see cref="ExecCostKind"/>: an execution-heavy service, as the thesis' NFS case (docs/odrc.md §8).</summary>
    public int ExecCostUs { get; set; }
    /// <summary>How <see cref="ExecCostUs"/> is spent: "cpu" (busy work, the default) or "wait" (a blocking wait that leaves the CPU to others: a model of storage latency, docs/odrc.md §8).</summary>
    public string ExecCostKind { get; set; } = "cpu";

    internal void Validate()
    {
        if (Kind is not ("noop" or "counter" or "kv" or "coord")) CellConfig.Fail("service.kind", $"'{Kind}' must be \"noop\", \"counter\", \"kv\" or \"coord\"");
        if (ExecCostUs < 0 || ExecCostUs > 1_000_000) CellConfig.Fail("service.exec_cost_us", $"{ExecCostUs} is out of range 0..1000000");
        if (ExecCostKind is not ("cpu" or "wait")) CellConfig.Fail("service.exec_cost_kind", $"'{ExecCostKind}' must be \"cpu\" or \"wait\"");
        if (Storage is not ("memory" or "rocksdb")) CellConfig.Fail("service.storage", $"'{Storage}' must be \"memory\" or \"rocksdb\"");
        if (Durability is not ("none" or "process" or "fsync")) CellConfig.Fail("service.durability", $"'{Durability}' must be \"none\", \"process\" or \"fsync\" (docs/durability.md)");
        if (Durability is not "none" && (Kind != "kv" || Storage != "rocksdb")) CellConfig.Fail("service.durability", $"'{Durability}' needs service kind \"kv\" with storage \"rocksdb\" (the memory store cannot persist)");
        if (Partitions < 1 || Partitions > 32768 || (Partitions & (Partitions - 1)) != 0) CellConfig.Fail("service.partitions", $"{Partitions} must be a power of two in 1..32768");
        if (Kind != "kv" && (Storage != "memory" || Path is not null)) CellConfig.Fail(Path is not null ? "service.path" : "service.storage", $"only service kind \"kv\" has storage; remove it for kind '{Kind}'");
        if (Kind == "kv" && Storage == "rocksdb" && string.IsNullOrWhiteSpace(Path)) CellConfig.Fail("service.path", "storage \"rocksdb\" needs a directory (each replica uses <path>/replica-<id>)");
        if (Kind == "kv" && Storage == "memory" && Path is not null) CellConfig.Fail("service.path", "is only used with storage \"rocksdb\"; remove it or set storage to \"rocksdb\"");
    }
}

/// <summary>The execution stage of a cell (docs/odrc.md §3).</summary>
public sealed class ExecutionConfig
{
    /// <summary>"sequential" (every replica executes every request) or "odrc" (each request on the f+1 maintainers of its objects, Thesis ch. 6; PBFT or MinBFT cells with a service that has object state, e.g. kv; docs/odrc.md §4a).</summary>
    public string Mode { get; set; } = "sequential";
    /// <summary>ODRC object placement: "round-robin" or "locality" (objects of one locality group together).</summary>
    public string Placement { get; set; } = "round-robin";
    /// <summary>ODRC: an object is checkpointed every this many accesses (K, Thesis §6.3.4; with <see cref="WriteKnowledge"/>, writes). 1..4,096 (the reply hashes one OBJECT-CHECKPOINT carries).</summary>
    public int CheckpointAccesses { get; set; } = 100;
    /// <summary>ODRC: the selectors use the service's write knowledge (Thesis §6.6.1.2; docs/odrc.md §3a: checkpoint every K writes, replay only modifying requests, write-only overwrites). Cell-wide.</summary>
    public bool WriteKnowledge { get; set; }
    /// <summary>ODRC extended cell (Thesis §6.7.2.1, ODRC₆): addresses ("ip:port") of execution-only replicas, ids n, n+1, …; they
    /// take the order from f+1 matching ORDERED-BATCH messages of the agreement replicas (docs/odrc.md §4, G21). Empty: E = n.</summary>
    public List<string> ExecutionOnly { get; set; } = new();

    internal void Validate(ServiceConfig service, FastBft.Agreement.ProtocolKind protocol)
    {
        if (Mode is not ("sequential" or "odrc")) CellConfig.Fail("execution.mode", $"'{Mode}' must be \"sequential\" or \"odrc\"");
        if (Placement is not ("round-robin" or "locality")) CellConfig.Fail("execution.placement", $"'{Placement}' must be \"round-robin\" or \"locality\"");
        if (CheckpointAccesses < 1 || CheckpointAccesses > 4096) CellConfig.Fail("execution.checkpoint_accesses", $"{CheckpointAccesses} is out of range 1..4096");
        if (Mode == "odrc" && !FastBft.Execution.Odrc.OdrcProtocol.Supports(protocol, out var why))
            CellConfig.Fail("execution.mode", $"odrc runs under protocol \"pbft\" or \"minbft\" only, not '{FastBft.Agreement.CellShape.Names[(int)protocol]}': {why} (docs/odrc.md §4a)");
        if (ExecutionOnly.Count > 0 && Mode != "odrc") CellConfig.Fail("execution.execution_only", "execution-only replicas need mode \"odrc\"");
        if (ExecutionOnly.Count > 0 && protocol != FastBft.Agreement.ProtocolKind.Pbft)
            CellConfig.Fail("execution.execution_only", "extended ODRC cells (execution-only replicas fed by ORDERED-BATCH) are built for protocol \"pbft\" only (docs/odrc.md §4a)");
        for (int i = 0; i < ExecutionOnly.Count; i++)
            if (!System.Net.IPEndPoint.TryParse(ExecutionOnly[i] ?? "", out _)) CellConfig.Fail($"execution.execution_only[{i}]", $"'{ExecutionOnly[i]}' is not ip:port");
        if (Mode == "odrc" && service.Kind is not ("kv" or "coord")) CellConfig.Fail("execution.mode", $"odrc needs a service with object state (\"kv\" or \"coord\"), not '{service.Kind}'");
    }
}

/// <summary>Invalid configuration; the message names the field.</summary>
public sealed class ConfigException(string message) : Exception(message);
