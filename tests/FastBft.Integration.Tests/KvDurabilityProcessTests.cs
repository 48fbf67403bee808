using System.Diagnostics;
using System.Text;
using System.Text.Json;
using FastBft.Client;
using FastBft.Config;
using FastBft.Perf.Cell;
using FastBft.Replica;
using FastBft.Transport;
using FastBft.Workloads.Kv;
using FastBft.Workloads.Kv.Gateway;

namespace FastBft.Integration.Tests;

/// <summary>
/// Issue 13 item 3 over real processes (docs/durability.md): four `fastbft replica` processes of a KV cell on RocksDB
/// with durability process or fsync, SIGKILLed and started again. (a) Every write the client saw acknowledged reads
/// back after all four were killed at once; (b) a replica killed alone and restarted catches up from its own disk,
/// fetching only the partitions that changed. Key count: FASTBFT_DURABILITY_KEYS (default 3,000).
/// Measured by hand with 100,000 keys: docs/durability.md §5.
/// </summary>
public sealed class KvDurabilityProcessTests(ITestOutputHelper output)
{
    private static int Keys => int.TryParse(Environment.GetEnvironmentVariable("FASTBFT_DURABILITY_KEYS"), out int n) && n > 0 ? n : 3000;
    /// <summary>Partitions of test (b): FASTBFT_DURABILITY_PARTITIONS (default 1,024; a large state needs more, docs/durability.md).</summary>
    private static int PartitionsB => int.TryParse(Environment.GetEnvironmentVariable("FASTBFT_DURABILITY_PARTITIONS"), out int n) && n > 0 ? n : 1024;

    private sealed class Replica(Process process)
    {
        public Process Process { get; } = process;
        public ReplicaStatus Status()
        {
            Process.StandardInput.WriteLine("status");
            Process.StandardInput.Flush();
            var line = Process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(20)).GetAwaiter().GetResult();
            Assert.NotNull(line);
            return JsonSerializer.Deserialize(line!, HarnessJson.Default.ReplicaStatus)!;
        }
    }

    private static Replica Start(string configPath, int id)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "fastbft.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { dll, "replica", "--config", configPath, "--id", id.ToString() }) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.ErrorDataReceived += (_, _) => { };
        p.BeginErrorReadLine();
        var line = p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)).GetAwaiter().GetResult();
        Assert.True(line is not null && line.StartsWith("READY", StringComparison.Ordinal), $"replica {id} did not start: {line ?? "<exited>"}");
        return new Replica(p);
    }

    private static void Kill(Replica r) { try { r.Process.Kill(); r.Process.WaitForExit(10_000); } catch (InvalidOperationException) { } r.Process.Dispose(); }

    private static void Stop(Replica r)
    {
        try { r.Process.StandardInput.Close(); if (!r.Process.WaitForExit(5000)) r.Process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        r.Process.Dispose();
    }

    private static bool WaitAll(IEnumerable<Task> tasks, TimeSpan limit) => Task.WhenAll(tasks).Wait(limit);

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);
    private static string Value(int i, int round) => $"value-{round}-{i}-" + new string('x', 80);

    /// <summary>SETs keys [from, to) with up to <paramref name="inFlight"/> in flight; returns when every one was acknowledged (+OK).</summary>
    private static void Write(CellConfig cell, int from, int to, int round, int inFlight = 64)
    {
        using var invoker = new ReplicatedInvoker(new ClientEndpoint(cell, TransportFactory.ForClient(cell)), inFlight);
        var tasks = new List<Task<byte[]>>();
        for (int i = from; i < to; i++)
        {
            int k = i;
            tasks.Add(invoker.InvokeAsync(KvCodec.Encode(w => KvCodec.Set(w, B($"key:{k}"), B(Value(k, round))))));
        }
        Assert.True(Task.WhenAll(tasks).Wait(TimeSpan.FromMinutes(10)), "writes not acknowledged in 10 minutes");
        Assert.All(tasks, t => Assert.Equal("+OK\r\n", Encoding.UTF8.GetString(t.Result)));
    }

    /// <summary>GETs keys [from, to) and returns how many did not hold the value of <paramref name="round"/>.</summary>
    private static int CountMissing(CellConfig cell, int from, int to, int round)
    {
        using var invoker = new ReplicatedInvoker(new ClientEndpoint(cell, TransportFactory.ForClient(cell)), 64);
        var tasks = new List<(int Key, Task<byte[]> Reply)>();
        for (int i = from; i < to; i++) tasks.Add((i, invoker.InvokeAsync(KvCodec.Encode(w => KvCodec.Get(w, B($"key:{i}"))))));
        Assert.True(Task.WhenAll(tasks.Select(t => t.Reply)).Wait(TimeSpan.FromMinutes(10)), "reads not answered in 10 minutes");
        int missing = 0;
        foreach (var (k, t) in tasks)
        {
            string v = Value(k, round);
            if (Encoding.UTF8.GetString(t.Result) != $"${v.Length}\r\n{v}\r\n") missing++;
        }
        return missing;
    }

    private static (CellConfig Cell, string ConfigPath, DirectoryInfo Dir) Cell(string durability, int partitions = 4096, int checkpointInterval = 32)
    {
        var cell = CellDefinition.Create(1, "0/0", serviceKind: "kv");
        var dir = Directory.CreateTempSubdirectory("fastbft-durable-");
        cell.Service.Storage = "rocksdb";
        cell.Service.Path = Path.Combine(dir.FullName, "db");
        cell.Service.Durability = durability;
        cell.Service.Partitions = partitions;
        cell.CheckpointInterval = checkpointInterval;
        cell.Window = 2 * checkpointInterval;
        var configPath = Path.Combine(dir.FullName, "cell.json");
        File.WriteAllText(configPath, cell.ToJson());
        return (CellConfig.Load(configPath), configPath, dir);
    }

    /// <summary>Waits until every replica reports the same last executed sequence number and state digest (the cell is quiescent).</summary>
    private static List<ReplicaStatus> AwaitAgreement(IReadOnlyList<Replica> replicas)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var st = replicas.Select(r => r.Status()).ToList();
            if (st.All(s => s.LastExecuted == st[0].LastExecuted && s.StateDigest == st[0].StateDigest)) return st;
            if (sw.Elapsed > TimeSpan.FromMinutes(2)) Assert.Fail("replicas did not converge: " + string.Join(", ", st.Select(s => $"R{s.Id} executed {s.LastExecuted} digest {s.StateDigest[..8]}")));
            Thread.Sleep(200);
        }
    }

    [Theory]
    [InlineData("fsync")]
    [InlineData("process")]
    public void EveryAcknowledgedWriteSurvivesKillingAllFourReplicas(string durability)
    {
        var (cell, configPath, dir) = Cell(durability);
        var replicas = new List<Replica>();
        try
        {
            for (int i = 0; i < 4; i++) replicas.Add(Start(configPath, i));
            var sw = Stopwatch.StartNew();
            Write(cell, 0, Keys, round: 1);
            output.WriteLine($"{durability}: {Keys} SETs acknowledged in {sw.Elapsed.TotalSeconds:F1} s");
            var before = AwaitAgreement(replicas);
            foreach (var r in replicas) Kill(r);                 // SIGKILL, all four
            replicas.Clear();
            for (int i = 0; i < 4; i++) replicas.Add(Start(configPath, i));
            var after = replicas.Select(r => r.Status()).ToList();
            Assert.All(after, s => Assert.Equal(before[0].StateDigest, s.StateDigest));   // each replica restarted from its own disk
            Assert.Equal(0, CountMissing(cell, 0, Keys, round: 1));
            Write(cell, 0, 100, round: 2);                     // and the restarted cell goes on
            Assert.Equal(0, CountMissing(cell, 0, 100, round: 2));
        }
        finally
        {
            foreach (var r in replicas) Stop(r);
            try { dir.Delete(true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// Issue 13 item 3(b) in earnest (docs/durability.md §4): SETs with 64 in flight, and SIGKILL of all four replicas while
    /// they are in flight — <paramref name="staggered"/>: at different moments (replica 3, then 2, then 1, then the primary
    /// 0, 150 ms apart, writes going on), else one right after the other. No waiting for a common prefix: the replicas
    /// stop at different executed sequence numbers, with batches prepared or committed at some and not at others. After
    /// the restart every write acknowledged before the kill reads back, the client's outstanding writes complete (the
    /// restarted cell orders or answers their retransmissions), all four reach one state digest, and new writes are accepted.
    /// </summary>
    [Theory]
    [InlineData("process", false)]
    [InlineData("fsync", false)]
    [InlineData("process", true)]
    [InlineData("fsync", true)]
    public void KillingAllFourWhileWritesAreInFlightLosesNoAcknowledgedWrite(string durability, bool staggered)
    {
        int keys = Math.Max(600, Keys / 2);
        var (cell, configPath, dir) = Cell(durability, partitions: 1024, checkpointInterval: 16);
        var replicas = new List<Replica>();
        try
        {
            for (int i = 0; i < 4; i++) replicas.Add(Start(configPath, i));
            var sw = Stopwatch.StartNew();
            using var invoker = new ReplicatedInvoker(new ClientEndpoint(cell, TransportFactory.ForClient(cell)), 64);
            var tasks = new List<Task<byte[]>>();
            for (int i = 0; i < keys; i++)
            {
                int k = i;
                tasks.Add(invoker.InvokeAsync(KvCodec.Encode(w => KvCodec.Set(w, B($"key:{k}"), B(Value(k, 1))))));
            }
            // Kill once a third is acknowledged: most of the rest are queued at the client or in flight in the cell.
            while (tasks.Count(t => t.IsCompleted) < keys / 3)
            {
                Assert.True(sw.Elapsed < TimeSpan.FromMinutes(5), "writes not acknowledged");
                Thread.Sleep(5);
            }
            var order = new[] { 3, 2, 1, 0 };
            foreach (int r in order)
            {
                Kill(replicas[r]);
                if (staggered) Thread.Sleep(150);
            }
            var acked = Enumerable.Range(0, keys).Where(i => tasks[i].IsCompletedSuccessfully).ToList();
            output.WriteLine($"{durability}{(staggered ? " staggered" : "")}: killed all four with {acked.Count} of {keys} writes acknowledged");
            replicas.Clear();
            for (int i = 0; i < 4; i++) replicas.Add(Start(configPath, i));
            var restarted = replicas.Select(r => r.Status()).ToList();
            output.WriteLine("restarted at: " + string.Join(", ", restarted.Select(s => $"R{s.Id} executed {s.LastExecuted} view {s.View}")));
            Assert.True(WaitAll(tasks, TimeSpan.FromMinutes(5)), "outstanding writes not completed after the restart");
            Assert.All(tasks, t => Assert.Equal("+OK\r\n", Encoding.UTF8.GetString(t.Result)));
            // The restarted cell accepts new writes. Two in flight: ≥ 25 batches, more than K = 16, so the cell reaches a new
            // checkpoint — a replica restarted below the others' stable checkpoint catches up there (docs/durability.md §4.4).
            Write(cell, 0, 50, round: 2, inFlight: 2);
            var st = AwaitAgreement(replicas);
            output.WriteLine($"converged: executed {st[0].LastExecuted}, view {st[0].View}, digest {st[0].StateDigest[..16]}; {sw.Elapsed.TotalSeconds:F1} s; " +
                string.Join(", ", st.Select(s => $"R{s.Id} transfers {s.StateTransfers} view changes {s.ViewChanges}")));
            Assert.Equal(0, CountMissing(cell, 50, keys, round: 1));   // every write (all were acknowledged in the end)
            Assert.Equal(0, CountMissing(cell, 0, 50, round: 2));
            Assert.All(acked.Where(k => k >= 50), k => Assert.True(tasks[k].IsCompletedSuccessfully));
        }
        finally
        {
            foreach (var r in replicas) Stop(r);
            try { dir.Delete(true); } catch (IOException) { }
        }
    }

    /// <summary>
    /// A replica killed alone restarts from its own disk and its own agreement log (docs/durability.md §4–§5): (1) killed
    /// while the others write 1 % more keys, it continues from its own last executed batch — the batches it missed are
    /// still in the others' logs, so it executes them itself and fetches no state; (2) killed while the others run more
    /// batches than the window holds (their stable checkpoint passes its log), it fetches that checkpoint's partitions
    /// that differ from its own disk state — a small fraction of the state.
    /// </summary>
    [Fact]
    public void AKilledReplicaRestartsFromItsDiskAndFetchesOnlyWhatChanged()
    {
        var (cell, configPath, dir) = Cell("process", partitions: PartitionsB, checkpointInterval: 8);
        var replicas = new List<Replica>();
        try
        {
            for (int i = 0; i < 4; i++) replicas.Add(Start(configPath, i));
            Write(cell, 0, Keys, round: 1);
            var agreed = AwaitAgreement(replicas);
            long stateBytes = (long)Keys * (8 + Value(0, 1).Length);

            // (1) a short absence: catch up from the others' logs.
            Kill(replicas[3]);
            int more = Math.Max(20, Keys / 100);               // 1 % more keys while it is down
            Write(cell, 0, more, round: 2);
            replicas[3] = Start(configPath, 3);
            var restarted = replicas[3].Status();
            Assert.Equal(agreed[3].StateDigest, restarted.StateDigest);   // it restarted from its own disk
            Assert.Equal(agreed[3].LastExecuted, restarted.LastExecuted); // and continues from its own last batch
            Write(cell, more, 2 * more, round: 2);
            var st = AwaitAgreement(replicas);
            output.WriteLine($"(1) killed at executed {agreed[3].LastExecuted}, the others went on to {st[0].LastExecuted - 0}: restarted replica executed {st[3].ExecutedBatches} batches itself, state transfers {st[3].StateTransfers}, {st[3].StateBytesReceived} state bytes received (state ≈ {stateBytes} bytes)");
            Assert.True(st[3].StateBytesReceived < stateBytes / 2, $"{st[3].StateBytesReceived} bytes fetched for a state of {stateBytes}");

            // (2) a long absence: more batches than the window (2K = 16) while it is down → state transfer of what differs.
            Kill(replicas[3]);
            Write(cell, 0, 200, round: 3, inFlight: 2);        // about 100 batches
            replicas[3] = Start(configPath, 3);
            Write(cell, 200, 250, round: 3);                   // traffic after the restart brings checkpoints
            st = AwaitAgreement(replicas);
            long received = st[3].StateBytesReceived;
            output.WriteLine(string.Join("; ", st.Select(x => $"R{x.Id}: executed {x.LastExecuted} stable {x.StableCheckpoint} requests {x.RequestsExecuted} batches {x.ExecutedBatches}")));
            output.WriteLine($"(2) restarted replica: state transfers {st[3].StateTransfers}, objects {st[3].StateObjectsReceived}, fetches {st[3].FetchesSent}, rejected {st[3].BadStateTransfers}, {received} bytes received for a state of about {stateBytes} bytes ({100.0 * received / stateBytes:F1} %)");
            Assert.True(st[3].StateTransfers >= 1);
            Assert.True(received < stateBytes / 2, $"{received} bytes fetched for a state of {stateBytes}");
            Assert.Equal(0, CountMissing(cell, 2 * more, Keys, round: 1) - Math.Max(0, 250 - 2 * more));
            Assert.Equal(0, CountMissing(cell, 0, 250, round: 3));
        }
        finally
        {
            foreach (var r in replicas) Stop(r);
            try { dir.Delete(true); } catch (IOException) { }
        }
    }
}
