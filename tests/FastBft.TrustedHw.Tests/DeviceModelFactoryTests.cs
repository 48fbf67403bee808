using System.Text.Json;

namespace FastBft.TrustedHw.Tests;

/// <summary><c>usig.impl: device-model</c> and the derived-key software path of <see cref="UsigFactory.Create"/> (issue 12 host plumbing).</summary>
public class DeviceModelFactoryTests
{
    [Fact]
    public void Device_model_runs_the_driver_on_a_model_in_the_directory_and_a_restart_starts_a_larger_epoch()
    {
        using var dir = new TempDir();
        var options = new UsigOptions { Impl = UsigImpl.DeviceModel, DevicePath = dir.Path, TimeoutMs = 30_000 };
        byte[] digest = Digests.Make(1);
        UniqueIdentifier first;
        using (IUsig usig = UsigFactory.Create(options, replicaId: 2, derivedKey: ModelFixture.Key))
        {
            var hosted = Assert.IsType<DeviceModelUsig>(usig);
            Assert.Equal(2u, usig.Id);
            Assert.True(File.Exists(dir.File(DeviceModelUsig.WindowFileName(2))));
            first = usig.CreateUI(digest);
            Assert.Equal((1ul, 1ul), (first.Epoch, first.Counter));
            Assert.Equal(1, hosted.Model.CommandsExecuted);
        }

        Assert.False(File.Exists(dir.File(DeviceModelUsig.WindowFileName(2))), "the window goes with the process");
        using (IUsig again = UsigFactory.Create(options, replicaId: 2, derivedKey: ModelFixture.Key))
        {
            UniqueIdentifier second = again.CreateUI(digest);
            Assert.Equal((2ul, 1ul), (second.Epoch, second.Counter)); // a new power-up: larger epoch, counters never reused
            Assert.True(again.VerifyUI(2, digest, first));
        }

        using var software = new SoftwareUsig(0, ModelFixture.Key, epoch: 1);
        Assert.True(software.VerifyUI(2, digest, first)); // same key, same proof format
    }

    [Fact]
    public void Device_model_settings_are_checked_naming_the_key()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<UsigConfigurationException>(() =>
            UsigFactory.Create(new UsigOptions { Impl = UsigImpl.DeviceModel, DevicePath = dir.File("absent") }, 0, derivedKey: ModelFixture.Key));
        Assert.Equal("usig.device_path", e.Setting);
        Assert.Contains("absent", e.Message);
        e = Assert.Throws<UsigConfigurationException>(() =>
            UsigFactory.Create(new UsigOptions { Impl = UsigImpl.DeviceModel, DevicePath = dir.Path, RequireHardware = true }, 0, derivedKey: ModelFixture.Key));
        Assert.Equal("usig.require_hardware", e.Setting);
        e = Assert.Throws<UsigConfigurationException>(() => UsigFactory.Create(new UsigOptions { Impl = UsigImpl.DeviceModel, DevicePath = dir.Path }, 0));
        Assert.Equal("usig.key_file", e.Setting);
    }

    [Fact]
    public void Software_without_a_key_file_uses_the_derived_key_and_a_fresh_epoch()
    {
        ulong before = SoftwareUsig.DefaultEpoch();
        using IUsig usig = UsigFactory.Create(new UsigOptions { Impl = UsigImpl.Software }, 1, derivedKey: ModelFixture.Key);
        var sw = Assert.IsType<SoftwareUsig>(usig);
        Assert.True(sw.Epoch >= before, "the epoch is the start time in µs: a restarted replica starts a larger one");
        byte[] digest = Digests.Make(1);
        using var peer = new SoftwareUsig(0, ModelFixture.Key, epoch: 3);
        Assert.True(peer.VerifyUI(1, digest, usig.CreateUI(digest)));

        var e = Assert.Throws<UsigConfigurationException>(() => UsigFactory.Create(new UsigOptions { Impl = UsigImpl.Software }, 1));
        Assert.Equal("usig.key_file", e.Setting);
        using IUsig pinned = UsigFactory.Create(new UsigOptions { Impl = UsigImpl.Software }, 1, derivedKey: ModelFixture.Key, epoch: 77);
        Assert.Equal(77ul, pinned.Epoch);
    }

    [Fact]
    public void Device_model_is_a_config_value()
    {
        var o = JsonSerializer.Deserialize<UsigOptions>("""{"impl":"device-model","device_path":"/dev/shm/x"}""")!;
        Assert.Equal(UsigImpl.DeviceModel, o.Impl);
        Assert.Contains("\"device-model\"", JsonSerializer.Serialize(o));
    }
}

/// <summary><see cref="MeteredUsig"/> forwards unchanged and counts.</summary>
public class MeteredUsigTests
{
    [Fact]
    public void Forwards_every_call_and_counts_uis_calls_and_time()
    {
        using var inner = new SoftwareUsig(1, ModelFixture.Key, epoch: 5);
        var metered = new MeteredUsig(inner);
        Assert.Equal((1u, 5ul), (metered.Id, metered.Epoch));
        byte[] digests = Digests.Make(4);
        var uis = new UniqueIdentifier[4];
        Assert.Equal(1ul, metered.CreateUI(digests.AsSpan(0, 32)).Counter);
        Assert.Equal(4, metered.CreateUIs(digests, uis));
        Assert.Equal(2ul, uis[0].Counter);                      // the inner sequence continues
        Assert.True(metered.VerifyUI(1, digests.AsSpan(0, 32), uis[0]));
        var results = new bool[4];
        Assert.Equal(4, metered.VerifyUIs([1, 1, 1, 1], digests, uis, results));
        Assert.Throws<ArgumentException>(() => metered.CreateUI(new byte[5]));
        Assert.Equal(5, metered.Certified);
        Assert.Equal(5, metered.Verified);
        Assert.Equal(5, metered.Calls);                         // the failed call is timed and counted as a call
        Assert.True(metered.Busy > TimeSpan.Zero);
        Assert.Same(inner, metered.Inner);
    }
}
