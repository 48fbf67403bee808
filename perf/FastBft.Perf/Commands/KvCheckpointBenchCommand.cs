using System.Buffers;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using FastBft.Execution;
using FastBft.Service;
using FastBft.Workloads.Kv;

namespace FastBft.Perf.Commands;

/// <summary>
/// <c>fastbft kv-checkpoint-bench [--storage rocksdb|memory] [--sizes-mb 10,100,1000] [--value-bytes 1000] [--writes 2000]
/// [--partitions 4096] [--rounds 5] [--whole] [--path DIR] [--json f.json]</c> (issue 13 item 2): grows one replica's KV state
/// to each size in turn and, at each size, times the execution stage's checkpoint (<see cref="SequentialExecutionStage.TakeCheckpoint"/>:
/// refresh the partition tree, freeze the state, write the meta object) after <c>--writes</c> SETs of random existing keys
/// (what changed since the previous checkpoint). With <c>--whole</c> it also times what a checkpoint cost before the
/// partition tree: serialize the whole state and SHA-256 it (<see cref="KvCheckpoint.Digest"/>). In-process, one thread,
/// no network: it measures the checkpoint itself, not a cell.
/// </summary>
internal static class KvCheckpointBenchCommand
{
    public static Command Create()
    {
        var storage = new Option<string>("--storage") { Description = "rocksdb or memory.", DefaultValueFactory = _ => "rocksdb" };
        var sizes = new Option<string>("--sizes-mb") { Description = "State sizes (MB of keys + values), comma-separated, increasing.", DefaultValueFactory = _ => "10,100,1000" };
        var valueBytes = new Option<int>("--value-bytes") { Description = "Bytes per value.", DefaultValueFactory = _ => 1000 };
        var writes = new Option<int>("--writes") { Description = "SETs of random existing keys before each checkpoint.", DefaultValueFactory = _ => 2000 };
        var partitions = new Option<int>("--partitions") { Description = "Partitions P (power of two).", DefaultValueFactory = _ => KvService.DefaultPartitions };
        var rounds = new Option<int>("--rounds") { Description = "Checkpoints timed per size (the median is reported).", DefaultValueFactory = _ => 5 };
        var whole = new Option<bool>("--whole") { Description = "Also time a whole-state serialization + SHA-256 (the checkpoint before the partition tree)." };
        var path = new Option<string?>("--path") { Description = "RocksDB directory (default: a new temporary directory, deleted at the end)." };
        var json = new Option<string?>("--json") { Description = "Write {\"results\": [{\"storage\", \"state_mb\", \"keys\", \"checkpoint_ms\", \"partitions_refreshed\", \"set_us\", \"whole_ms\"}]}." };
        var cmd = new Command("kv-checkpoint-bench", "Time KV checkpoints (partition tree) as the state grows.");
        foreach (var o in new Option[] { storage, sizes, valueBytes, writes, partitions, rounds, whole, path, json }) cmd.Options.Add(o);
        cmd.SetAction(p => Run(p.GetValue(storage)!, p.GetValue(sizes)!, p.GetValue(valueBytes), p.GetValue(writes), p.GetValue(partitions), p.GetValue(rounds), p.GetValue(whole), p.GetValue(path), p.GetValue(json)));
        return cmd;
    }

    private sealed record Result(string Storage, double StateMb, long Keys, double CheckpointMs, double CheckpointMaxMs, int PartitionsRefreshed, double SetUs, double? WholeMs);

    private static int Run(string storage, string sizesText, int valueBytes, int writes, int partitions, int rounds, bool whole, string? path, string? jsonPath)
    {
        var sizes = sizesText.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        string? dir = null;
        IKvStore store;
        if (storage == "memory") store = new MemoryKvStore(partitions);
        else if (storage == "rocksdb")
        {
            dir = path ?? Path.Combine(Path.GetTempPath(), $"fastbft-ckpt-bench-{Guid.NewGuid():N}");
            store = new RocksDbKvStore(dir, KvDurability.None, partitions);
        }
        else { Console.Error.WriteLine("--storage must be rocksdb or memory"); return 2; }
        var results = new List<Result>();
        try
        {
            using var svc = new KvService(store);
            var stage = new SequentialExecutionStage(svc, 0, [0, 1, 2, 3], 128, 3);
            var reply = new ArrayBufferWriter<byte>(256);
            var op = new ArrayBufferWriter<byte>(64 * 1024);
            var value = new byte[valueBytes];
            var rng = new Random(13);
            long keys = 0;
            ulong rid = 0, seq = 0;
            Span<byte> digest = stackalloc byte[32];
            int keyBytes = Encoding.ASCII.GetByteCount("key:0000000000");
            Console.WriteLine($"storage {storage}, P = {partitions}, {valueBytes}-byte values, {writes} SETs of random keys before each checkpoint, median of {rounds}");
            Console.WriteLine($"{"state MB",9} {"keys",10} {"checkpoint ms",14} {"max ms",8} {"partitions",11} {"SET µs",8} {"whole ms",9}");
            foreach (double mb in sizes)
            {
                long target = (long)(mb * 1_000_000 / (keyBytes + valueBytes));
                var load = Stopwatch.StartNew();
                while (keys < target)
                {
                    int n = (int)Math.Min(100, target - keys);
                    var pairs = new List<(byte[], byte[])>(n);
                    for (int i = 0; i < n; i++) { rng.NextBytes(value); pairs.Add((Key(keys + i), (byte[])value.Clone())); }
                    op.ResetWrittenCount();
                    KvCodec.MSet(op, pairs);
                    reply.ResetWrittenCount();
                    svc.Execute(new RequestInfo(1, ++rid, 1, 0), op.WrittenSpan, reply, null);
                    keys += n;
                }
                stage.TakeCheckpoint(seq += 128, digest);       // absorbs the load
                var times = new List<double>();
                var refreshed = new List<int>();
                double setUs = 0;
                for (int r = 0; r < rounds; r++)
                {
                    var sw = Stopwatch.StartNew();
                    for (int w = 0; w < writes; w++)
                    {
                        rng.NextBytes(value);
                        op.ResetWrittenCount();
                        KvCodec.Set(op, Key(rng.NextInt64(keys)), value);
                        reply.ResetWrittenCount();
                        svc.Execute(new RequestInfo(1, ++rid, 1, 0), op.WrittenSpan, reply, null);
                    }
                    setUs += sw.Elapsed.TotalMicroseconds / writes;
                    sw.Restart();
                    stage.TakeCheckpoint(seq += 128, digest);
                    times.Add(sw.Elapsed.TotalMilliseconds);
                    refreshed.Add(stage.Checkpoints.Tree.LastRefreshed);
                }
                times.Sort();
                double? wholeMs = null;
                if (whole)
                {
                    var sw = Stopwatch.StartNew();
                    KvCheckpoint.Digest(store, digest);
                    wholeMs = sw.Elapsed.TotalMilliseconds;
                }
                double stateMb = keys * (double)(keyBytes + valueBytes) / 1_000_000;
                var res = new Result(storage, Math.Round(stateMb, 1), keys, Math.Round(times[times.Count / 2], 3), Math.Round(times[^1], 3), refreshed.Max(), Math.Round(setUs / rounds, 2), wholeMs is null ? null : Math.Round(wholeMs.Value, 1));
                results.Add(res);
                Console.WriteLine($"{res.StateMb,9:F1} {keys,10} {res.CheckpointMs,14:F3} {res.CheckpointMaxMs,8:F3} {res.PartitionsRefreshed,11} {res.SetUs,8:F2} {(wholeMs is null ? "-" : res.WholeMs!.Value.ToString("F1", CultureInfo.InvariantCulture)),9}   (load {load.Elapsed.TotalSeconds:F0} s)");
            }
        }
        finally
        {
            store.Dispose();
            if (dir is not null && path is null) try { Directory.Delete(dir, true); } catch (IOException) { }
        }
        if (jsonPath is not null)
        {
            var doc = new { results = results.Select(r => new { storage = r.Storage, state_mb = r.StateMb, keys = r.Keys, checkpoint_ms = r.CheckpointMs, checkpoint_max_ms = r.CheckpointMaxMs, partitions_refreshed = r.PartitionsRefreshed, set_us = r.SetUs, whole_ms = r.WholeMs }) };
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }));
        }
        return 0;
    }

    private static byte[] Key(long i) => Encoding.ASCII.GetBytes($"key:{i:D10}");
}
