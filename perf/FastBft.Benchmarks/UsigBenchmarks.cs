using BenchmarkDotNet.Attributes;
using FastBft.TrustedHw;

namespace FastBft.Benchmarks;

/// <summary>
/// USIG certification cost per UI for the software implementation and the FPGA driver against the device model
/// (the same paths as <c>fastbft usig-bench</c>). Each method reports time per UI (OperationsPerInvoke = batch size).
/// Run: <c>dotnet run -c Release --project perf/FastBft.Benchmarks -- --filter '*UsigBenchmarks*'</c>.
/// </summary>
[MemoryDiagnoser]
public class UsigBenchmarks
{
    private IUsig _usig = null!;
    private UsigDeviceModel? _model;
    private string? _window;
    private byte[] _digests = null!;
    private UniqueIdentifier[] _output = null!;
    private UniqueIdentifier _sample;
    private UniqueIdentifier[] _signed = null!;
    private uint[] _ids = null!;
    private bool[] _results = null!;

    /// <summary>Implementation under test: <c>software</c> or <c>device-model</c>.</summary>
    [Params("software", "device-model")]
    public string Impl { get; set; } = "software";

    [GlobalSetup]
    public void Setup()
    {
        byte[] key = new byte[32];
        for (int i = 0; i < key.Length; i++)
        {
            key[i] = (byte)(0xA0 + i);
        }

        if (Impl == "software")
        {
            _usig = new SoftwareUsig(0, key, epoch: 1);
        }
        else
        {
            string dir = Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
            _window = Path.Combine(dir, $"fastbft-usig-bdn-{Environment.ProcessId}.bar");
            _model = new UsigDeviceModel(_window, key, 0, new UsigDeviceModelOptions { NonVolatilePath = _window + ".nv" });
            _usig = FpgaUsig.Open(_window);
        }

        _digests = new byte[64 * UsigProofLayout.DigestSize];
        new Random(42).NextBytes(_digests);
        _output = new UniqueIdentifier[64];
        _sample = _usig.CreateUI(_digests.AsSpan(0, 32));
        _signed = new UniqueIdentifier[64];
        using (var peer = new SoftwareUsig(1, key, epoch: 7))
        {
            peer.CreateUIs(_digests, _signed);
        }

        _ids = Enumerable.Repeat(1u, 64).ToArray();
        _results = new bool[64];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _usig.Dispose();
        _model?.Dispose();
        if (_window is not null)
        {
            File.Delete(_window + ".nv");
        }
    }

    /// <summary>One UI per call (CreateUI: one doorbell per UI on the device).</summary>
    [Benchmark(OperationsPerInvoke = 1)]
    public ulong Batch1() => _usig.CreateUI(_digests.AsSpan(0, 32)).Counter;

    /// <summary>8 UIs per call (one doorbell).</summary>
    [Benchmark(OperationsPerInvoke = 8)]
    public int Batch8() => _usig.CreateUIs(_digests.AsSpan(0, 8 * 32), _output);

    /// <summary>64 UIs per call (one doorbell).</summary>
    [Benchmark(OperationsPerInvoke = 64)]
    public int Batch64() => _usig.CreateUIs(_digests, _output);

    /// <summary>Verification of one UI (in software, or on the device through OP_VERIFY).</summary>
    [Benchmark]
    public bool Verify() => _usig.VerifyUI(0, _digests.AsSpan(0, 32), _sample);

    /// <summary>16 UIs verified per call (VerifyUIs: one OP_VERIFY_RING doorbell on the device); time per UI.</summary>
    [Benchmark(OperationsPerInvoke = 16)]
    public int VerifyBatch16() => _usig.VerifyUIs(_ids.AsSpan(0, 16), _digests.AsSpan(0, 16 * 32), _signed.AsSpan(0, 16), _results);

    /// <summary>64 UIs verified per call (one doorbell); time per UI.</summary>
    [Benchmark(OperationsPerInvoke = 64)]
    public int VerifyBatch64() => _usig.VerifyUIs(_ids, _digests, _signed, _results);
}
