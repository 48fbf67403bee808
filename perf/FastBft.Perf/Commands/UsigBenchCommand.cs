using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using FastBft.TrustedHw;

namespace FastBft.Perf.Commands;

/// <summary>
/// <c>fastbft usig-bench --impl software|device-model --op certify,verify --batch 1,8,64 [--duration 3] [--cell-rps 100000 --cell-batch 16] [--json u.json]</c>:
/// UIs per second and ns per UI for each USIG implementation, operation and batch size (issues 4 and 12).
/// certify: batch 1 calls <see cref="IUsig.CreateUI"/>, larger batches <see cref="IUsig.CreateUIs"/> (one doorbell per batch on the device).
/// verify: batch 1 calls <see cref="IUsig.VerifyUI"/>, larger batches <see cref="IUsig.VerifyUIs"/> (one OP_VERIFY_RING doorbell per batch).
/// The device model runs in this process on its own thread and is reached only through its memory-mapped window.
/// Finally it prints what a MinBFT cell with f = 1 needs from each replica's USIG at --cell-rps requests/s in batches of
/// --cell-batch (per instance 1 PREPARE + 2 COMMITs certified, each checked by the two other replicas; PROTOCOLS.md §4) next to the
/// measured batch-1 rates, i.e. without batching any USIG call.
/// </summary>
internal static class UsigBenchCommand
{
    public static Command Create()
    {
        var impl = new Option<string>("--impl")
        {
            Description = "Implementations, comma-separated: software, device-model.",
            DefaultValueFactory = _ => "software,device-model",
        };
        var batch = new Option<string>("--batch")
        {
            Description = "Batch sizes, comma-separated (digests certified per call).",
            DefaultValueFactory = _ => "1,8,64",
        };
        var duration = new Option<double>("--duration")
        {
            Description = "Measured seconds per (impl, batch), after a warm-up of a quarter of it (at most 1 s).",
            DefaultValueFactory = _ => 3.0,
        };
        var trials = new Option<int>("--trials")
        {
            Description = "Split each measurement into this many equal trials and report the median trial (the spread is printed).",
            DefaultValueFactory = _ => 5,
        };
        var driverSpin = new Option<int>("--driver-spin")
        {
            Description = "Device model only: driver completion polls before yielding (FpgaUsigOptions.SpinIterations).",
            DefaultValueFactory = _ => new FpgaUsigOptions().SpinIterations,
        };
        var modelSpin = new Option<double>("--model-spin-us")
        {
            Description = "Device model only: microseconds the model spins on the doorbell after a command before yielding (UsigDeviceModelOptions.IdleSpin).",
            DefaultValueFactory = _ => new UsigDeviceModelOptions().IdleSpin.TotalMicroseconds,
        };
        var json = new Option<string?>("--json")
        {
            Description = "Write {\"results\": [{\"impl\", \"op\", \"batch\", \"uis_per_s\", \"ns_per_ui\"}]} to this file.",
        };
        var ops = new Option<string>("--op")
        {
            Description = "Operations, comma-separated: certify (CreateUI/CreateUIs), verify (VerifyUI/VerifyUIs).",
            DefaultValueFactory = _ => "certify,verify",
        };
        var cellRps = new Option<double>("--cell-rps")
        {
            Description = "Requests/s of the MinBFT cell (f = 1) whose USIG load is compared with the measured rates.",
            DefaultValueFactory = _ => 100_000,
        };
        var cellBatch = new Option<int>("--cell-batch")
        {
            Description = "Requests per agreement instance (batch) of that cell.",
            DefaultValueFactory = _ => 16,
        };

        var command = new Command("usig-bench", "Measure trusted-counter (USIG) certification throughput per implementation and batch size.");
        command.Options.Add(impl);
        command.Options.Add(batch);
        command.Options.Add(duration);
        command.Options.Add(trials);
        command.Options.Add(driverSpin);
        command.Options.Add(modelSpin);
        command.Options.Add(json);
        command.Options.Add(ops);
        command.Options.Add(cellRps);
        command.Options.Add(cellBatch);
        command.SetAction(parseResult =>
        {
            string[] opList = parseResult.GetValue(ops)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (string o in opList)
            {
                if (o != "certify" && o != "verify")
                {
                    Console.Error.WriteLine($"usig-bench: --op: '{o}' is not one of certify, verify.");
                    return 2;
                }
            }

            double needRps = parseResult.GetValue(cellRps);
            int needBatch = parseResult.GetValue(cellBatch);
            if (needRps <= 0 || needBatch < 1)
            {
                Console.Error.WriteLine("usig-bench: --cell-rps must be positive and --cell-batch at least 1.");
                return 2;
            }

            string[] impls = parseResult.GetValue(impl)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            string[] batchText = parseResult.GetValue(batch)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            double seconds = parseResult.GetValue(duration);
            string? jsonPath = parseResult.GetValue(json);
            int trialCount = parseResult.GetValue(trials);
            var tuning = new Tuning(parseResult.GetValue(driverSpin), parseResult.GetValue(modelSpin));
            if (tuning.DriverSpin < 0 || tuning.ModelSpinMicroseconds < 0)
            {
                Console.Error.WriteLine("usig-bench: --driver-spin and --model-spin-us must not be negative.");
                return 2;
            }

            if (trialCount < 1 || trialCount > 1000)
            {
                Console.Error.WriteLine("usig-bench: --trials must be 1..1000.");
                return 2;
            }

            var batches = new List<int>();
            foreach (string b in batchText)
            {
                if (!int.TryParse(b, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) || n < 1 || n > 4096)
                {
                    Console.Error.WriteLine($"usig-bench: --batch: '{b}' is not an integer in 1..4096.");
                    return 2;
                }

                batches.Add(n);
            }

            foreach (string i in impls)
            {
                if (i != "software" && i != "device-model")
                {
                    Console.Error.WriteLine($"usig-bench: --impl: '{i}' is not one of software, device-model.");
                    return 2;
                }
            }

            if (seconds <= 0)
            {
                Console.Error.WriteLine("usig-bench: --duration must be positive.");
                return 2;
            }

            var results = new List<Result>();
            string load = File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a";
            Console.WriteLine($"usig-bench: {Environment.ProcessorCount} CPUs, load average {load}; {trialCount} trials of {seconds / trialCount:F2} s each, median reported; device model polling: driver spin {tuning.DriverSpin} polls, model spin {tuning.ModelSpinMicroseconds} µs");
            var table = FastBft.Perf.Output.Tables.Create("<impl", "<op", "batch", "UIs/s", "ns/UI", "min", "max", "model ns/UI", "driver ns/UI", "calls");
            foreach (string i in impls)
            {
                foreach (string op in opList)
                foreach (int b in batches)
                {
                    Result r = Run(i, op, b, seconds, trialCount, tuning);
                    results.Add(r);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {r.Impl} {r.Op} batch {r.Batch}: {r.NsPerUi:F1} ns/UI"));
                    string device = r.DeviceNsPerUi is double dev ? dev.ToString("F1", CultureInfo.InvariantCulture) : "-";
                    string driver = r.DriverNsPerUi is double drv ? drv.ToString("F1", CultureInfo.InvariantCulture) : "-";
                    FastBft.Perf.Output.Tables.Row(table, r.Impl, r.Op, r.Batch.ToString(CultureInfo.InvariantCulture), r.UisPerSecond.ToString("N0", CultureInfo.InvariantCulture),
                        r.NsPerUi.ToString("F1", CultureInfo.InvariantCulture), r.MinNsPerUi.ToString("F1", CultureInfo.InvariantCulture), r.MaxNsPerUi.ToString("F1", CultureInfo.InvariantCulture),
                        device, driver, r.Calls.ToString("N0", CultureInfo.InvariantCulture));
                }
            }
            FastBft.Perf.Output.Tables.Write(Console.Out, table);

            foreach (string i in impls)
            foreach (string op in opList)
            {
                Result? one = results.Find(r => r.Impl == i && r.Op == op && r.Batch == 1);
                Result? big = results.FindLast(r => r.Impl == i && r.Op == op && r.Batch > 1);
                if (one is not null && big is not null)
                {
                    string driverRatio = one.DriverNsPerUi is double d1 && big.DriverNsPerUi is double dn
                        ? $"; driver ns/UI (wall minus model busy time) batch 1 / batch {big.Batch} = {d1 / dn:F1}x"
                        : string.Empty;
                    Console.WriteLine($"{i} {op}: wall ns/UI batch 1 / batch {big.Batch} = {one.NsPerUi / big.NsPerUi:F1}x{driverRatio}");
                }
            }

            PrintCellNeed(results, impls, needRps, needBatch);

            if (jsonPath is not null)
            {
                using FileStream fs = File.Create(jsonPath);
                using var writer = new Utf8JsonWriter(fs, new JsonWriterOptions { Indented = true });
                writer.WriteStartObject();
                writer.WriteStartArray("results");
                foreach (Result r in results)
                {
                    writer.WriteStartObject();
                    writer.WriteString("impl", r.Impl);
                    writer.WriteString("op", r.Op);
                    writer.WriteNumber("batch", r.Batch);
                    writer.WriteNumber("uis_per_s", Math.Round(r.UisPerSecond, 1));
                    writer.WriteNumber("ns_per_ui", Math.Round(r.NsPerUi, 2));
                    if (r.DriverNsPerUi is double drv && r.DeviceNsPerUi is double dev)
                    {
                        writer.WriteNumber("model_ns_per_ui", Math.Round(dev, 2));
                        writer.WriteNumber("driver_ns_per_ui", Math.Round(drv, 2));
                    }

                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
                writer.WriteEndObject();
            }

            return 0;
        });
        return command;
    }

    /// <summary>One measurement. NsPerUi is wall-clock; for the device model, DeviceNsPerUi is the model's busy time per UI
    /// (its software HMAC engine) and DriverNsPerUi = NsPerUi − DeviceNsPerUi (driver, doorbell and polling handshake).</summary>
    private sealed record Result(string Impl, string Op, int Batch, double UisPerSecond, double NsPerUi, double MinNsPerUi, double MaxNsPerUi, double? DeviceNsPerUi, double? DriverNsPerUi, long Calls);

    /// <summary>Trial values (ns per UI) through the harness's one percentile path (HdrHistogram, 0.01 ns units).</summary>
    private static FastBft.Perf.Measure.LatencySummary Summarize(double[] nsValues)
    {
        var h = FastBft.Perf.Measure.LatencyHistograms.NewHistogram(1_000_000_000_000);
        foreach (var v in nsValues) FastBft.Perf.Measure.LatencyHistograms.RecordClamped(h, (long)Math.Round(v * 100));
        return FastBft.Perf.Measure.LatencySummary.From(h, divisor: 100, digits: 2);
    }

    private static double Median(double[] values) => Summarize(values).P50;

    private sealed record Tuning(int DriverSpin, double ModelSpinMicroseconds);

    /// <summary>
    /// The USIG load of a MinBFT cell with f = 1 (n = 3) at <paramref name="rps"/> requests/s in batches of <paramref name="batch"/>:
    /// per agreement instance the leader certifies 1 PREPARE and each of the 2 followers 1 COMMIT (3 certifications per instance in
    /// the cell, Thesis §5.5.2.1), and every certified message is checked by the 2 other replicas (6 verifications). Per replica
    /// that is at most 1 certification and 2 verifications per instance, i.e. 3 device operations. Compared with the measured
    /// batch-1 rates (one device command per operation, nothing batched) of each implementation.
    /// </summary>
    private static void PrintCellNeed(List<Result> results, string[] impls, double rps, int batch)
    {
        var ci = CultureInfo.InvariantCulture;
        double instances = rps / batch;
        Console.WriteLine(string.Create(ci,
            $"MinBFT f=1 at {rps:N0} req/s, batches of {batch}: {instances:N0} instances/s; cell: {3 * instances:N0} certifications/s + {6 * instances:N0} verifications/s; per replica USIG: ≤ {instances:N0} certifications/s + {2 * instances:N0} verifications/s"));
        foreach (string i in impls)
        {
            Result? certify = results.Find(r => r.Impl == i && r.Op == "certify" && r.Batch == 1);
            Result? verify = results.Find(r => r.Impl == i && r.Op == "verify" && r.Batch == 1);
            if (certify is null || verify is null)
            {
                continue;
            }

            // Busy fraction of one replica's USIG if each operation is one call: instances × (1 certify + 2 verify) × time per call.
            double busy = instances * ((certify.NsPerUi + (2 * verify.NsPerUi)) / 1e9);
            Console.WriteLine(string.Create(ci,
                $"  {i}, unbatched calls ({certify.NsPerUi / 1000:F1} µs per certify, {verify.NsPerUi / 1000:F1} µs per verify): one replica's USIG busy {busy * 100:F1}% of the time; headroom {1 / busy:F1}x"));
            foreach (int b in results.Where(r => r.Impl == i && r.Batch > 1).Select(r => r.Batch).Distinct())
            {
                Result? cb = results.Find(r => r.Impl == i && r.Op == "certify" && r.Batch == b);
                Result? vb = results.Find(r => r.Impl == i && r.Op == "verify" && r.Batch == b);
                if (cb is null || vb is null)
                {
                    continue;
                }

                double busyB = instances * ((cb.NsPerUi + (2 * vb.NsPerUi)) / 1e9);
                Console.WriteLine(string.Create(ci,
                    $"  {i}, calls of {b} UIs ({cb.NsPerUi / 1000:F2} µs per certified UI, {vb.NsPerUi / 1000:F2} µs per verified UI): busy {busyB * 100:F1}%; headroom {1 / busyB:F1}x"));
            }
        }
    }

    private static Result Run(string impl, string op, int batch, double seconds, int trialCount, Tuning tuning)
    {
        byte[] key = new byte[32];
        for (int i = 0; i < key.Length; i++)
        {
            key[i] = (byte)(0xA0 + i);
        }

        string? window = null;
        UsigDeviceModel? model = null;
        IUsig usig;
        if (impl == "software")
        {
            usig = new SoftwareUsig(0, key, epoch: 1);
        }
        else
        {
            string dir = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
            window = Path.Combine(dir, $"fastbft-usig-bench-{Environment.ProcessId}.bar");
            model = new UsigDeviceModel(window, key, 0, new UsigDeviceModelOptions
            {
                NonVolatilePath = window + ".nv",
                IdleSpin = TimeSpan.FromMicroseconds(tuning.ModelSpinMicroseconds),
            });
            usig = FpgaUsig.Open(window, new FpgaUsigOptions { SpinIterations = tuning.DriverSpin });
        }

        try
        {
            byte[] digests = new byte[batch * UsigProofLayout.DigestSize];
            new Random(42).NextBytes(digests);
            var output = new UniqueIdentifier[batch];
            var work = new Work(op == "verify", digests, output, new uint[batch], new bool[batch]);
            if (work.Verify)
            {
                // UIs of replica 1 (same key) for the verifier to check; all valid.
                using var peer = new SoftwareUsig(1, key, epoch: 7);
                peer.CreateUIs(digests, output);
                Array.Fill(work.Ids, 1u);
            }

            Measure(usig, work, batch, Math.Min(1.0, seconds / 4)); // warm-up (JIT tiers, caches)
            var nsPerUi = new double[trialCount];
            var deviceNs = new double[trialCount];
            var driverNs = new double[trialCount];
            long totalCalls = 0;
            for (int t = 0; t < trialCount; t++)
            {
                double busyBefore = model?.BusyTime.TotalSeconds ?? 0;
                (long calls, double elapsed) = Measure(usig, work, batch, seconds / trialCount);
                double busy = (model?.BusyTime.TotalSeconds ?? 0) - busyBefore;
                double uis = (double)calls * batch;
                nsPerUi[t] = elapsed * 1e9 / uis;
                deviceNs[t] = busy * 1e9 / uis;
                driverNs[t] = (elapsed - busy) * 1e9 / uis;
                totalCalls += calls;
            }

            var summary = Summarize(nsPerUi);
            double median = summary.P50;
            double min = nsPerUi.Min();
            return model is null
                ? new Result(impl, op, batch, 1e9 / median, median, min, nsPerUi.Max(), null, null, totalCalls)
                : new Result(impl, op, batch, 1e9 / median, median, min, nsPerUi.Max(), Median(deviceNs), Median(driverNs), totalCalls);
        }
        finally
        {
            usig.Dispose();
            model?.Dispose();
            if (window is not null)
            {
                File.Delete(window + ".nv");
            }
        }
    }

    /// <summary>What one measured call works on: certify writes <see cref="Output"/>; verify checks it (valid UIs of replica 1).</summary>
    private sealed record Work(bool Verify, byte[] Digests, UniqueIdentifier[] Output, uint[] Ids, bool[] Results);

    private static (long Calls, double Seconds) Measure(IUsig usig, Work work, int batch, double seconds)
    {
        long budget = (long)(seconds * Stopwatch.Frequency);
        long start = Stopwatch.GetTimestamp();
        long end = start + budget;
        long calls = 0;
        long now;
        byte[] digests = work.Digests;
        UniqueIdentifier[] output = work.Output;
        do
        {
            // 16 calls between clock reads keep the timing overhead off the measured path.
            for (int k = 0; k < 16; k++)
            {
                if (work.Verify)
                {
                    bool ok = batch == 1
                        ? usig.VerifyUI(1, digests, output[0])
                        : usig.VerifyUIs(work.Ids, digests, output, work.Results) == batch;
                    if (!ok)
                    {
                        throw new InvalidOperationException("usig-bench: a valid UI failed verification");
                    }
                }
                else if (batch == 1)
                {
                    output[0] = usig.CreateUI(digests);
                }
                else
                {
                    usig.CreateUIs(digests, output);
                }
            }

            calls += 16;
            now = Stopwatch.GetTimestamp();
        }
        while (now < end);

        return (calls, (double)(now - start) / Stopwatch.Frequency);
    }
}
