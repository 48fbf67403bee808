using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace FastBft.TrustedHw.Tests;

public class FactoryTests
{
    private static string WriteKey(TempDir dir)
    {
        string path = dir.File("usig.key");
        File.WriteAllText(path, Convert.ToHexString(ModelFixture.Key));
        FileModes.Set(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    [Fact]
    public void Auto_without_a_device_falls_back_to_software_with_a_warning()
    {
        using var dir = new TempDir();
        var logger = new RecordingLogger();
        using IUsig usig = UsigFactory.Create(new UsigOptions { KeyFile = WriteKey(dir) }, replicaId: 2, logger);
        Assert.IsType<SoftwareUsig>(usig);
        Assert.Equal(2u, usig.Id);
        Assert.Contains(logger.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("SOFTWARE") && e.Message.Contains("usig.require_hardware"));

        logger = new RecordingLogger();
        using IUsig again = UsigFactory.Create(new UsigOptions { KeyFile = WriteKey(dir), DevicePath = dir.File("no-such-bar0") }, 2, logger);
        Assert.IsType<SoftwareUsig>(again);
        Assert.Contains(logger.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("no-such-bar0"));
    }

    [Fact]
    public void Require_hardware_without_a_device_fails_naming_the_setting()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<UsigConfigurationException>(() =>
            UsigFactory.Create(new UsigOptions { KeyFile = WriteKey(dir), RequireHardware = true, DevicePath = dir.File("absent") }, 0));
        Assert.Equal("usig.require_hardware", e.Setting);
        Assert.Contains("usig.require_hardware", e.Message);
        Assert.Contains("absent", e.Message);

        var e2 = Assert.Throws<UsigConfigurationException>(() =>
            UsigFactory.Create(new UsigOptions { Impl = UsigImpl.Software, KeyFile = WriteKey(dir), RequireHardware = true }, 0));
        Assert.Equal("usig.require_hardware", e2.Setting);
    }

    [Fact]
    public void Auto_and_device_pick_the_device_when_present()
    {
        using var f = new ModelFixture(instanceId: 1, open: false);
        var logger = new RecordingLogger();
        using (IUsig usig = UsigFactory.Create(new UsigOptions { DevicePath = f.WindowPath, RequireHardware = true, TimeoutMs = 30_000 }, 1, logger))
        {
            Assert.IsType<FpgaUsig>(usig);
            Assert.Equal(1ul, usig.CreateUI(Digests.Make(1)).Counter);
        }

        Assert.DoesNotContain(logger.Entries, e => e.Level >= LogLevel.Warning);
        using (IUsig usig = UsigFactory.Create(new UsigOptions { Impl = UsigImpl.Device, DevicePath = f.WindowPath, TimeoutMs = 30_000 }, 1))
        {
            Assert.Equal(2ul, usig.CreateUI(Digests.Make(1)).Counter);
        }

        Assert.Throws<UsigDeviceException>(() => UsigFactory.Create(new UsigOptions { Impl = UsigImpl.Device, DevicePath = f.WindowPath }, 0));
    }

    [Fact]
    public void Missing_settings_are_named()
    {
        Assert.Equal("usig.device_path", Assert.Throws<UsigConfigurationException>(() => UsigFactory.Create(new UsigOptions { Impl = UsigImpl.Device }, 0)).Setting);
        Assert.Equal("usig.key_file", Assert.Throws<UsigConfigurationException>(() => UsigFactory.Create(new UsigOptions { Impl = UsigImpl.Software }, 0)).Setting);
        Assert.Equal("usig.timeout_ms", Assert.Throws<UsigConfigurationException>(() => UsigFactory.Create(new UsigOptions { TimeoutMs = 0 }, 0)).Setting);
    }

    [Fact]
    public void Options_bind_from_the_documented_json_keys()
    {
        const string json = """{ "impl": "device", "device_path": "0000:03:00.0", "key_file": "/etc/fastbft/usig.key", "require_hardware": true, "timeout_ms": 250 }""";
        UsigOptions o = JsonSerializer.Deserialize<UsigOptions>(json)!;
        Assert.Equal(UsigImpl.Device, o.Impl);
        Assert.Equal("0000:03:00.0", o.DevicePath);
        Assert.Equal("/etc/fastbft/usig.key", o.KeyFile);
        Assert.True(o.RequireHardware);
        Assert.Equal(250, o.TimeoutMs);
        Assert.Equal(UsigImpl.Software, JsonSerializer.Deserialize<UsigOptions>("""{"impl":"software"}""")!.Impl);
        Assert.Equal(UsigImpl.Auto, JsonSerializer.Deserialize<UsigOptions>("{}")!.Impl);
    }
}
