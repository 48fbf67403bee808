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
}

/// <summary>
/// The <c>usig</c> section of the cell configuration:
/// <c>usig: { impl: software|device|auto, device_path, key_file, require_hardware, timeout_ms }</c>.
/// Deserialisable with System.Text.Json (snake_case names as shown). See docs/trusted-counter.md.
/// </summary>
public sealed class UsigOptions
{
    /// <summary><c>usig.impl</c>: implementation choice (default auto).</summary>
    [JsonPropertyName("impl")]
    public UsigImpl Impl { get; set; } = UsigImpl.Auto;

    /// <summary><c>usig.device_path</c>: PCI address (<c>0000:03:00.0</c>) or path to a BAR0 resource/UIO/VFIO region file or the
    /// device model's window file. Null/empty: no device configured.</summary>
    [JsonPropertyName("device_path")]
    public string? DevicePath { get; set; }

    /// <summary><c>usig.key_file</c>: trusted key for the software implementation (64 hex chars or 32..64 raw bytes, mode 0600).</summary>
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
    /// <exception cref="UsigConfigurationException">Contradictory or missing settings; the message names the key.</exception>
    /// <exception cref="UsigKeyFileException">Software key file problems.</exception>
    /// <exception cref="UsigDeviceException">Device problems (impl device, or auto with an existing device path).</exception>
    public static IUsig Create(UsigOptions options, uint replicaId, ILogger? logger = null)
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

                return OpenSoftware(options, replicaId, logger);

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
                return OpenSoftware(options, replicaId, logger);
        }
    }

    private static IUsig OpenDevice(UsigOptions options, uint replicaId, ILogger logger) =>
        FpgaUsig.Open(options.DevicePath!, new FpgaUsigOptions { TimeoutMs = options.TimeoutMs, ExpectedInstanceId = replicaId }, logger);

    private static IUsig OpenSoftware(UsigOptions options, uint replicaId, ILogger logger)
    {
        if (string.IsNullOrWhiteSpace(options.KeyFile))
        {
            throw new UsigConfigurationException("usig.key_file", "the software USIG needs a key file (64 hex characters, mode 0600).");
        }

        return SoftwareUsig.FromKeyFile(replicaId, options.KeyFile, epoch: null, options.AllowInsecureKeyFile, logger);
    }
}
