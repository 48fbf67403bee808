using Microsoft.Extensions.Logging;

namespace FastBft.TrustedHw;

/// <summary>
/// <c>usig.impl: device-model</c>: a <see cref="UsigDeviceModel"/> hosted by the replica process itself, reached only through
/// <see cref="FpgaUsig"/> on the model's memory-mapped window — the same driver path as the card (docs/trusted-counter.md §4).
/// Replica <i>i</i> uses the files <c>usig-r</c><i>i</i><c>.bar</c> (the 64 KiB register window) and <c>usig-r</c><i>i</i><c>.nv</c>
/// (the model's non-volatile epoch, 8 bytes) in one directory. The window is re-created at every start, the epoch file is
/// kept: a restarted replica process powers its "device" up again with epoch + 1, as a real card would after a host reboot.
/// </summary>
/// <remarks>
/// <para><b>Why in the replica process:</b> a device belongs to one replica's machine; hosting the model next to the
/// replica keeps that one-to-one mapping without another process to start, kill and restart with it (a killed replica
/// "loses power" with its device; <c>fastbft run --fault restart</c> then sees a new epoch). The model thread polls the
/// doorbell (spin 10 µs, yield 5 ms, then 1 ms sleeps) and computes proofs with software HMAC-SHA256, so its CPU time counts
/// in the replica's CPU per request — an overstatement of a hardware device's host cost; its timing is the model's, not a
/// measured card's.</para>
/// <para><b>Protection:</b> none beyond the software USIG: the model holds the key in the replica's memory. For tests
/// and benchmarks only.</para>
/// <para>Thread-safe (as <see cref="FpgaUsig"/>). <see cref="Dispose"/> unmaps the driver, stops the model and deletes the
/// window file (not the epoch file).</para>
/// </remarks>
public sealed class DeviceModelUsig : IUsig
{
    private readonly UsigDeviceModel _model;
    private readonly FpgaUsig _driver;

    private DeviceModelUsig(UsigDeviceModel model, FpgaUsig driver)
    {
        _model = model;
        _driver = driver;
    }

    /// <summary>Window file name of replica <paramref name="replicaId"/> inside the model directory.</summary>
    public static string WindowFileName(uint replicaId) => $"usig-r{replicaId}.bar";

    /// <summary>Powers up replica <paramref name="replicaId"/>'s model in <paramref name="directory"/> and opens the driver on it.</summary>
    /// <param name="directory">Existing directory for the window and epoch files (tmpfs such as /dev/shm preferred).</param>
    /// <param name="replicaId">Replica id = the model's INSTANCE_ID.</param>
    /// <param name="key">Trusted key to provision, 32..64 bytes; copied.</param>
    /// <param name="timeoutMs">Driver command timeout, ms (usig.timeout_ms).</param>
    /// <param name="logger">Driver logger; may be null.</param>
    /// <exception cref="ArgumentException">Bad key length.</exception>
    /// <exception cref="IOException">The window file cannot be created.</exception>
    /// <exception cref="UsigDeviceException">The driver refused the model (should not happen).</exception>
    public static DeviceModelUsig Start(string directory, uint replicaId, ReadOnlySpan<byte> key, int timeoutMs = 1000, ILogger? logger = null)
    {
        string window = Path.Combine(directory, WindowFileName(replicaId));
        var model = new UsigDeviceModel(window, key, replicaId, new UsigDeviceModelOptions { NonVolatilePath = Path.Combine(directory, $"usig-r{replicaId}.nv") });
        try
        {
            var driver = FpgaUsig.Open(window, new FpgaUsigOptions { TimeoutMs = timeoutMs, ExpectedInstanceId = replicaId }, logger);
            return new DeviceModelUsig(model, driver);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>The hosted model (fault hooks, command count, busy time).</summary>
    public UsigDeviceModel Model => _model;

    /// <summary>The driver on the model's window.</summary>
    public FpgaUsig Driver => _driver;

    /// <inheritdoc />
    public uint Id => _driver.Id;

    /// <inheritdoc />
    public ulong Epoch => _driver.Epoch;

    /// <inheritdoc />
    public UniqueIdentifier CreateUI(ReadOnlySpan<byte> digest) => _driver.CreateUI(digest);

    /// <inheritdoc />
    public int CreateUIs(ReadOnlySpan<byte> digests, Span<UniqueIdentifier> output) => _driver.CreateUIs(digests, output);

    /// <inheritdoc />
    public bool VerifyUI(uint replicaId, ReadOnlySpan<byte> digest, in UniqueIdentifier ui) => _driver.VerifyUI(replicaId, digest, ui);

    /// <inheritdoc />
    public int VerifyUIs(ReadOnlySpan<uint> replicaIds, ReadOnlySpan<byte> digests, ReadOnlySpan<UniqueIdentifier> uis, Span<bool> results) =>
        _driver.VerifyUIs(replicaIds, digests, uis, results);

    /// <summary>Closes the driver, stops the model thread and deletes the window file (the epoch file stays).</summary>
    public void Dispose()
    {
        _driver.Dispose();
        _model.Dispose();
    }
}
