using System.Security.Cryptography;
using Microsoft.Extensions.Logging;

namespace FastBft.TrustedHw.Tests;

/// <summary>Logger that records formatted messages.</summary>
internal sealed class RecordingLogger : ILogger
{
    private readonly List<(LogLevel Level, string Message)> _entries = new();

    public IReadOnlyList<(LogLevel Level, string Message)> Entries
    {
        get { lock (_entries) { return _entries.ToArray(); } }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_entries)
        {
            _entries.Add((logLevel, formatter(state, exception)));
        }
    }
}

/// <summary>A temporary directory (under /dev/shm when present) deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        string root = Directory.Exists("/dev/shm") ? "/dev/shm" : System.IO.Path.GetTempPath();
        Path = System.IO.Path.Combine(root, "fastbft-usig-test-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A device model plus an open driver on it, in a private temp dir.</summary>
internal sealed class ModelFixture : IDisposable
{
    public static readonly byte[] Key = MakeKey(0xA0);

    private readonly TempDir _dir = new();

    public ModelFixture(uint instanceId = 0, int timeoutMs = 5000, UsigDeviceModelOptions? options = null, bool open = true)
    {
        WindowPath = _dir.File("bar0");
        Model = new UsigDeviceModel(WindowPath, Key, instanceId, options);
        if (open)
        {
            Driver = FpgaUsig.Open(WindowPath, new FpgaUsigOptions { TimeoutMs = timeoutMs, SpinIterations = 2000 }, Logger);
        }
    }

    public string WindowPath { get; }

    public UsigDeviceModel Model { get; }

    public FpgaUsig Driver { get; } = null!;

    public RecordingLogger Logger { get; } = new();

    public TempDir Dir => _dir;

    public static byte[] MakeKey(int start)
    {
        byte[] key = new byte[32];
        for (int i = 0; i < key.Length; i++)
        {
            key[i] = (byte)(start + i);
        }

        return key;
    }

    public void Dispose()
    {
        Driver?.Dispose();
        Model.Dispose();
        _dir.Dispose();
    }
}

internal static class FileModes
{
    public static void Set(string path, UnixFileMode mode)
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, mode);
        }
    }
}

internal static class Digests
{
    /// <summary>Deterministic distinct digests: digest i = SHA-256(i as 4 bytes LE).</summary>
    public static byte[] Make(int count, int salt = 0)
    {
        byte[] all = new byte[count * 32];
        Span<byte> input = stackalloc byte[8];
        for (int i = 0; i < count; i++)
        {
            BitConverter.TryWriteBytes(input, i);
            BitConverter.TryWriteBytes(input[4..], salt);
            SHA256.HashData(input, all.AsSpan(i * 32, 32));
        }

        return all;
    }
}
