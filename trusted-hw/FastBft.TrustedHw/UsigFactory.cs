using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastBft.TrustedHw;

/// <summary>Which USIG implementation to use (config key <c>usig.impl</c>).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<UsigImpl>))]
public enum UsigImpl
{
    /// <summary><c>auto</c>: the device if <c>usig.device_path</c> is set and exists, otherwise the software fallback (with a warning),
    /// unless <c>usig.require_hardware</c> is true.</summary>
    [JsonStringEnumMemberName("auto")]
    Auto = 0,

    /// <summary><c>software</c>: <see cref="SoftwareUsig"/>.</summary>
    [JsonStringEnumMemberName("software")]
    Software = 1,

    /// <summary><c>device</c>: <see cref="FpgaUsig"/> on <c>usig.device_path</c>; no fallback.</summary>
    [JsonStringEnumMemberName("device")]
    Device = 2,

    /// <summary><c>device-model</c> (tests and benchmarks): the replica process hosts its own <see cref="UsigDeviceModel"/>
    /// with a window file in the directory <c>usig.device_path</c> and talks to it through <see cref="FpgaUsig"/>, exactly as to
    /// the card (<see cref="DeviceModelUsig"/>). It gives no protection (the model holds the key in the replica's memory) and
    /// its thread's CPU counts as the replica's; it exists to run the real driver path in whole cells.</summary>
    [JsonStringEnumMemberName("device-model")]
    DeviceModel = 3,
}

/// <summary>
/// The <c>usig</c> section of the cell configuration:
/// <c>usig: { impl: software|device|auto|device-model, device_path, key_file, require_hardware, timeout_ms }</c>.
/// Deserialisable with System.Text.Json (snake_case names as shown). See docs/trusted-counter.md.
/// </summary>
public sealed class UsigOptions
{
    /// <summary><c>usig.impl</c>: implementation choice (default auto).</summary>
    [JsonPropertyName("impl")]
    public UsigImpl Impl { get; set; } = UsigImpl.Auto;

    /// <summary><c>usig.device_path</c>: PCI address (<c>0000:03:00.0</c>) or path to a BAR0 resource/UIO/VFIO region file or the
    /// device model's window file. Null/empty: no device configured. With <c>impl: device-model</c>: an existing directory in
    /// which replica <i>i</i> creates <c>usig-r</c><i>i</i><c>.bar</c> (window) and <c>usig-r</c><i>i</i><c>.nv</c> (epoch storage).</summary>
    [JsonPropertyName("device_path")]
    public string? DevicePath { get; set; }

    /// <summary><c>usig.key_file</c>: trusted key for the software implementation and the device model (64 hex chars or 32..64 raw
    /// bytes, mode 0600). When absent, the caller may pass a derived key to <see cref="UsigFactory.Create"/> (the engine passes the
    /// cell's key derived from keys.master: test and single-operator cells only).</summary>
    [JsonPropertyName("key_file")]
    public string? KeyFile { get; set; }

    /// <summary><c>usig.require_hardware</c>: refuse to start without the device (default false).</summary>
    [JsonPropertyName("require_hardware")]
    public bool RequireHardware { get; set; }

    /// <summary><c>usig.timeout_ms</c>: device command timeout in milliseconds (default 1000, must be 1..600000).</summary>
    [JsonPropertyName("timeout_ms")]
    public int TimeoutMs { get; set; } = 1000;

    /// <summary><c>usig.allow_insecure_key_file</c>: warn instead of refusing a key file readable by group/others (default false).</summary>
    [JsonPropertyName("allow_insecure_key_file")]
    public bool AllowInsecureKeyFile { get; set; }
}

/// <summary>Creates the configured <see cref="IUsig"/> for a replica.</summary>
public static class UsigFactory
{
    /// <summary>
    /// Creates the USIG instance for <paramref name="replicaId"/>:
    /// <c>device</c> → <see cref="FpgaUsig.Open"/> (errors propagate); <c>software</c> → <see cref="SoftwareUsig.FromKeyFile"/>;
    /// <c>auto</c> → the device when <c>device_path</c> is set and exists, else the software fallback with a logged warning.
    /// With <c>require_hardware: true</c> the software path is never taken: start fails with <see cref="UsigConfigurationException"/>.
    /// </summary>
    /// <param name="options">The <c>usig</c> configuration section.</param>
    /// <param name="replicaId">This replica's id (the device's INSTANCE_ID must match).</param>
    /// <param name="logger">Logger for the fallback warning; may be null.</param>
    /// <param name="derivedKey">Trusted key (32..64 bytes) to use when <c>usig.key_file</c> is not set, for the software USIG and the
    /// device model: the engine passes <c>KeyStore.TryDeriveUsigKey</c>'s key of a derived-key cell (every holder of keys.master can
    /// forge UIs with it: test and single-operator cells only). Empty (default): <c>key_file</c> is required. Copied; the caller zeroes it.</param>
    /// <param name="epoch">Epoch of a software instance; null (default) = <see cref="SoftwareUsig.DefaultEpoch"/> (µs since 1970, so a
    /// restarted replica starts a larger epoch and never reuses a counter). Ignored by the device and the model (their epoch comes from
    /// non-volatile storage).</param>
    /// <exception cref="UsigConfigurationException">Contradictory or missing settings; the message names the key.</exception>
    /// <exception cref="UsigKeyFileException">Software key file problems.</exception>
    /// <exception cref="UsigDeviceException">Device problems (impl device, or auto with an existing device path).</exception>
    public static IUsig Create(UsigOptions options, uint replicaId, ILogger? logger = null, ReadOnlySpan<byte> derivedKey = default, ulong? epoch = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        logger ??= NullLogger.Instance;
        if (options.TimeoutMs <= 0 || options.TimeoutMs > 600_000)
        {
            throw new UsigConfigurationException("usig.timeout_ms", $"must be 1..600000 ms; got {options.TimeoutMs}.");
        }

        bool hasPath = !string.IsNullOrWhiteSpace(options.DevicePath);
        switch (options.Impl)
        {
            case UsigImpl.Device:
                if (!hasPath)
                {
                    throw new UsigConfigurationException("usig.device_path", "usig.impl is 'device' but no device_path is configured.");
                }

                return OpenDevice(options, replicaId, logger);

            case UsigImpl.Software:
                if (options.RequireHardware)
                {
                    throw new UsigConfigurationException("usig.require_hardware", "is true but usig.impl is 'software'; set impl to 'device' or 'auto', or require_hardware to false.");
                }

                return OpenSoftware(options, replicaId, logger, derivedKey, epoch);

            case UsigImpl.DeviceModel:
                if (options.RequireHardware)
                {
                    throw new UsigConfigurationException("usig.require_hardware", "is true but usig.impl is 'device-model' (a software model of the device); set impl to 'device' or 'auto', or require_hardware to false.");
                }

                if (!hasPath || !Directory.Exists(options.DevicePath))
                {
                    throw new UsigConfigurationException("usig.device_path", $"usig.impl is 'device-model' but device_path '{options.DevicePath}' is not an existing directory (the model's window and epoch files go there).");
                }

                return OpenModel(options, replicaId, logger, derivedKey);

            default:
                if (hasPath && File.Exists(FpgaUsig.ResolveDevicePath(options.DevicePath!)))
                {
                    return OpenDevice(options, replicaId, logger);
                }

                string why = hasPath
                    ? $"device '{FpgaUsig.ResolveDevicePath(options.DevicePath!)}' (usig.device_path) not found"
                    : "no usig.device_path configured";
                if (options.RequireHardware)
                {
                    throw new UsigConfigurationException("usig.require_hardware", $"is true but {why}; refusing to fall back to the software USIG.");
                }

                logger.LogWarning(
                    "USIG: {Why}; falling back to the SOFTWARE trusted counter. It stops equivocation bugs, not a compromised replica process " +
                    "(which can read the key and certify anything). Set usig.require_hardware: true to forbid this fallback.", why);
                return OpenSoftware(options, replicaId, logger, derivedKey, epoch);
        }
    }

    private static IUsig OpenDevice(UsigOptions options, uint replicaId, ILogger logger) =>
        FpgaUsig.Open(options.DevicePath!, new FpgaUsigOptions { TimeoutMs = options.TimeoutMs, ExpectedInstanceId = replicaId }, logger);

    private static IUsig OpenSoftware(UsigOptions options, uint replicaId, ILogger logger, ReadOnlySpan<byte> derivedKey, ulong? epoch)
    {
        if (string.IsNullOrWhiteSpace(options.KeyFile))
        {
            if (derivedKey.IsEmpty)
            {
                throw new UsigConfigurationException("usig.key_file", "the software USIG needs a key file (64 hex characters, mode 0600).");
            }

            return new SoftwareUsig(replicaId, derivedKey, epoch ?? SoftwareUsig.DefaultEpoch());
        }

        return SoftwareUsig.FromKeyFile(replicaId, options.KeyFile, epoch, options.AllowInsecureKeyFile, logger);
    }

    private static IUsig OpenModel(UsigOptions options, uint replicaId, ILogger logger, ReadOnlySpan<byte> derivedKey)
    {
        byte[] key;
        if (!string.IsNullOrWhiteSpace(options.KeyFile))
        {
            key = UsigKeyFile.Load(options.KeyFile, options.AllowInsecureKeyFile, logger);
        }
        else if (!derivedKey.IsEmpty)
        {
            key = derivedKey.ToArray();
        }
        else
        {
            throw new UsigConfigurationException("usig.key_file", "the device model needs the trusted key to provision: set usig.key_file.");
        }

        try
        {
            return DeviceModelUsig.Start(options.DevicePath!, replicaId, key, options.TimeoutMs, logger);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(key);
        }
    }
}
