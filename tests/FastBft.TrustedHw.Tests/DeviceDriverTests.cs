using Microsoft.Extensions.Logging;

namespace FastBft.TrustedHw.Tests;

/// <summary>The FPGA driver against the device model, through the memory-mapped window only.</summary>
public class DeviceDriverTests
{
    private static readonly FpgaUsigOptions Patient = new() { TimeoutMs = 30_000 };

    [Fact]
    public void Open_reads_identity_epoch_and_counter()
    {
        using var f = new ModelFixture(instanceId: 2);
        Assert.Equal(2u, f.Driver.Id);
        Assert.Equal(1ul, f.Driver.Epoch);
        Assert.Equal(0ul, f.Driver.LastCounter);
        Assert.Equal(256, f.Driver.RingEntries);
        Assert.Equal(f.WindowPath, f.Driver.DevicePath);
    }

    [Fact]
    public void Singles_and_batches_larger_than_the_ring_get_consecutive_verifiable_counters()
    {
        using var f = new ModelFixture(instanceId: 1);
        using var sw = new SoftwareUsig(1, ModelFixture.Key, epoch: f.Model.Epoch);
        ulong expected = 1;
        var output = new UniqueIdentifier[600];
        foreach (int n in new[] { 1, 8, 64, 256, 257, 600, 0 })
        {
            byte[] digests = Digests.Make(n, salt: n);
            Assert.Equal(n, f.Driver.CreateUIs(digests, output));
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(expected++, output[i].Counter);
                Assert.True(sw.VerifyUI(1, digests.AsSpan(i * 32, 32), output[i]));
            }

            byte[] one = Digests.Make(1, salt: -n);
            UniqueIdentifier ui = f.Driver.CreateUI(one);
            Assert.Equal(expected++, ui.Counter);
            Assert.True(f.Driver.VerifyUI(1, one, ui)); // on-device verification
        }

        Assert.Equal(expected - 1, f.Driver.LastCounter);
        Assert.Equal(expected - 1, f.Model.Counter);
    }

    [Fact]
    public void Device_verify_rejects_changed_inputs_and_accepts_software_uis()
    {
        using var f = new ModelFixture(instanceId: 0);
        using var peer = new SoftwareUsig(3, ModelFixture.Key, epoch: 77);
        byte[] digest = Digests.Make(1);
        UniqueIdentifier ui = peer.CreateUI(digest);
        Assert.True(f.Driver.VerifyUI(3, digest, ui));
        Assert.False(f.Driver.VerifyUI(2, digest, ui));
        Assert.False(f.Driver.VerifyUI(3, digest, new UniqueIdentifier(ui.Epoch, ui.Counter + 1, ui.Proof)));
        byte[] other = Digests.Make(1, salt: 1);
        Assert.False(f.Driver.VerifyUI(3, other, ui));
        Assert.False(f.Driver.VerifyUI(3, digest, default));
        Assert.Equal(0ul, f.Driver.LastCounter); // verification does not consume counters
    }

    [Fact]
    public void Concurrent_callers_get_strictly_consecutive_counters_without_duplicates()
    {
        using var f = new ModelFixture();
        ConcurrencyCheck.Run(f.Driver, threads: 6, callsPerThread: 150);
    }

    [Fact]
    public void Bad_magic_is_a_typed_error_with_the_register_value()
    {
        using var f = new ModelFixture(options: new UsigDeviceModelOptions { Magic = 0xDEADBEEF }, open: false);
        var e = Assert.Throws<UsigBadMagicException>(() => FpgaUsig.Open(f.WindowPath));
        Assert.Equal(0xDEADBEEFu, e.Magic);
        Assert.Contains("MAGIC=0xDEADBEEF", e.Message);
        Assert.Contains("0x47495355", e.Message);
    }

    [Fact]
    public void Version_mismatch_is_a_typed_error_with_the_register_value()
    {
        using var f = new ModelFixture(options: new UsigDeviceModelOptions { Version = 0x0002_0003 }, open: false);
        var e = Assert.Throws<UsigVersionMismatchException>(() => FpgaUsig.Open(f.WindowPath));
        Assert.Contains("VERSION=0x00020003", e.Message);
        Assert.Contains("major 2", e.Message);
        // A newer minor of the same major is accepted.
        using var g = new ModelFixture(options: new UsigDeviceModelOptions { Version = 0x0001_0007 });
        Assert.Equal(1ul, g.Driver.CreateUI(Digests.Make(1)).Counter);
    }

    [Fact]
    public void Missing_small_or_foreign_windows_are_refused()
    {
        using var dir = new TempDir();
        Assert.Throws<FileNotFoundException>(() => FpgaUsig.Open(dir.File("absent")));
        string small = dir.File("small");
        File.WriteAllBytes(small, new byte[4096]);
        var e = Assert.Throws<UsigDeviceException>(() => FpgaUsig.Open(small));
        Assert.Contains("4096", e.Message);
        string zeros = dir.File("zeros");
        File.WriteAllBytes(zeros, new byte[UsigRegisters.WindowSize]);
        Assert.Equal(0u, Assert.Throws<UsigBadMagicException>(() => FpgaUsig.Open(zeros)).Magic);
    }

    [Fact]
    public void Wrong_instance_id_is_refused()
    {
        using var f = new ModelFixture(instanceId: 4, open: false);
        var e = Assert.Throws<UsigDeviceException>(() => FpgaUsig.Open(f.WindowPath, new FpgaUsigOptions { ExpectedInstanceId = 1 }));
        Assert.Contains("INSTANCE_ID=0x00000004", e.Message);
    }

    [Fact]
    public void Pci_addresses_map_to_sysfs_resource0()
    {
        Assert.Equal("/sys/bus/pci/devices/0000:03:00.0/resource0", FpgaUsig.ResolveDevicePath("0000:03:00.0"));
        Assert.Equal("/sys/bus/pci/devices/0000:af:00.1/resource0", FpgaUsig.ResolveDevicePath("AF:00.1"));
        Assert.Equal("/dev/uio0", FpgaUsig.ResolveDevicePath("/dev/uio0"));
    }

    // Fault tests use a 1 s timeout: far above what a healthy command needs even on a loaded machine (they take
    // microseconds; we saw at most ~0.2 s under heavy load), and the faults never complete on their own.
    private const int FaultTimeoutMs = 1000;

    [Fact]
    public void Stuck_busy_is_a_typed_error_and_the_driver_recovers_after_it_clears()
    {
        using var f = new ModelFixture(timeoutMs: FaultTimeoutMs);
        Assert.Equal(1ul, f.Driver.CreateUI(Digests.Make(1)).Counter);
        f.Model.Faults.StuckBusy = true;
        var output = new UniqueIdentifier[4];
        output.AsSpan().Fill(new UniqueIdentifier(9, 9, new byte[32]));
        var e = Assert.Throws<UsigStuckBusyException>(() => f.Driver.CreateUIs(Digests.Make(4), output));
        Assert.True((e.Status & UsigRegisters.StatusBusy) != 0);
        Assert.Contains("STATUS=0x0000000B", e.Message); // READY | BUSY | KEY_LOADED
        Assert.All(output, u => Assert.Equal(default, u)); // never an unchecked UI
        Assert.Throws<UsigStuckBusyException>(() => f.Driver.CreateUI(Digests.Make(1))); // still stuck: resync times out

        f.Model.Faults.StuckBusy = false; // the stuck command now completes (counters 2..5, lost)
        UniqueIdentifier next = f.Driver.CreateUI(Digests.Make(1, salt: 5));
        Assert.Equal(6ul, next.Counter);
        Assert.True(f.Driver.VerifyUI(0, Digests.Make(1, salt: 5), next));
        Assert.Contains(f.Logger.Entries, x => x.Level == LogLevel.Warning && x.Message.Contains("counters 2..5"));
    }

    [Fact]
    public void Slow_responses_within_the_timeout_only_slow_calls_down()
    {
        using var f = new ModelFixture(timeoutMs: 30_000);
        f.Model.Faults.ResponseDelay = TimeSpan.FromMilliseconds(20);
        var output = new UniqueIdentifier[8];
        Assert.Equal(1ul, f.Driver.CreateUI(Digests.Make(1)).Counter);
        f.Driver.CreateUIs(Digests.Make(8), output);
        Assert.Equal(Enumerable.Range(2, 8).Select(i => (ulong)i), output.Select(u => u.Counter));
        Assert.True(f.Driver.VerifyUI(0, Digests.Make(8).AsSpan(0, 32), output[0]));
    }

    [Fact]
    public void Slow_responses_beyond_the_timeout_are_a_typed_timeout_and_the_driver_resynchronises()
    {
        using var f = new ModelFixture(timeoutMs: FaultTimeoutMs);
        Assert.Equal(1ul, f.Driver.CreateUI(Digests.Make(1)).Counter);
        f.Model.Faults.ResponseDelay = TimeSpan.FromMinutes(10);
        var e = Assert.Throws<UsigTimeoutException>(() => f.Driver.CreateUI(Digests.Make(1)));
        Assert.Equal(0u, e.Status & UsigRegisters.StatusBusy); // BUSY clear: the device never picked it up in time
        Assert.Contains("DOORBELL=0x", e.Message);
        Assert.Contains("COMPLETION=0x", e.Message);

        f.Model.Faults.ResponseDelay = TimeSpan.Zero; // releases the queued command (it consumes counter 2)
        UniqueIdentifier next = f.Driver.CreateUI(Digests.Make(1));
        Assert.Equal(3ul, next.Counter); // counter 2 went to the timed-out command and is never handed out
        Assert.Contains(f.Logger.Entries, x => x.Level == LogLevel.Warning && x.Message.Contains("counters 2..2"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Counter_gap_is_a_typed_error_never_a_ui_and_latches(bool batch)
    {
        using var f = new ModelFixture();
        Assert.Equal(1ul, f.Driver.CreateUI(Digests.Make(1)).Counter);
        f.Model.Faults.WrongCounter = UsigWrongCounterMode.Skip;
        var output = new UniqueIdentifier[3];
        UsigCounterGapException e = batch
            ? Assert.Throws<UsigCounterGapException>(() => f.Driver.CreateUIs(Digests.Make(3), output))
            : Assert.Throws<UsigCounterGapException>(() => f.Driver.CreateUI(Digests.Make(1)));
        Assert.Equal(2ul, e.Expected);
        Assert.Equal(3ul, e.Actual);
        Assert.Contains("expected counter 2", e.Message);
        Assert.Contains("COUNTER register=0x", e.Message);
        Assert.All(output, u => Assert.Equal(default, u));
        f.Model.Faults.WrongCounter = UsigWrongCounterMode.None;
        var faulted = Assert.Throws<UsigDeviceFaultedException>(() => f.Driver.CreateUI(Digests.Make(1)));
        Assert.IsType<UsigCounterGapException>(faulted.InnerException);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Repeated_counter_is_a_typed_non_monotonic_error_never_a_ui(bool batch)
    {
        using var f = new ModelFixture();
        Assert.Equal(1ul, f.Driver.CreateUI(Digests.Make(1)).Counter);
        f.Model.Faults.WrongCounter = UsigWrongCounterMode.Repeat;
        var output = new UniqueIdentifier[2];
        UsigNonMonotonicCounterException e = batch
            ? Assert.Throws<UsigNonMonotonicCounterException>(() => f.Driver.CreateUIs(Digests.Make(2), output))
            : Assert.Throws<UsigNonMonotonicCounterException>(() => f.Driver.CreateUI(Digests.Make(1)));
        Assert.Equal(1ul, e.LastCounter);
        Assert.Equal(1ul, e.Actual);
        Assert.All(output, u => Assert.Equal(default, u));
        Assert.Throws<UsigDeviceFaultedException>(() => f.Driver.CreateUIs(Digests.Make(2), output));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Corrupted_proof_is_a_typed_error_never_a_ui(bool batch)
    {
        using var f = new ModelFixture();
        f.Model.Faults.CorruptProof = true;
        var output = new UniqueIdentifier[5];
        UsigProofInvalidException e = batch
            ? Assert.Throws<UsigProofInvalidException>(() => f.Driver.CreateUIs(Digests.Make(5), output))
            : Assert.Throws<UsigProofInvalidException>(() => f.Driver.CreateUI(Digests.Make(1)));
        Assert.Contains("CHECK mismatch", e.Message);
        Assert.Contains($"CHECK=0x{e.CheckRegister:X8}", e.Message);
        Assert.NotEqual(e.CheckRegister, e.CheckComputed);
        Assert.All(output, u => Assert.Equal(default, u));
        Assert.Throws<UsigDeviceFaultedException>(() => f.Driver.CreateUI(Digests.Make(1)));
    }

    [Fact]
    public void Power_cycle_between_calls_reports_the_new_epoch_once_then_continues_in_it()
    {
        using var f = new ModelFixture(instanceId: 1);
        Assert.Equal(1ul, f.Driver.CreateUI(Digests.Make(1)).Counter);
        f.Model.PowerCycle();
        var e = Assert.Throws<UsigEpochChangedException>(() => f.Driver.CreateUI(Digests.Make(1)));
        Assert.Equal(1ul, e.OldEpoch);
        Assert.Equal(2ul, e.NewEpoch);
        Assert.Contains("EPOCH was 0x0000000000000001", e.Message);
        Assert.Equal(2ul, f.Driver.Epoch);

        byte[] digest = Digests.Make(1, salt: 2);
        UniqueIdentifier ui = f.Driver.CreateUI(digest);
        Assert.Equal(2ul, ui.Epoch);
        Assert.Equal(1ul, ui.Counter); // nothing was certified in the new epoch before
        using var sw = new SoftwareUsig(1, ModelFixture.Key, epoch: 2);
        Assert.True(sw.VerifyUI(1, digest, ui));
    }

    [Fact]
    public void Power_cycle_racing_the_doorbell_is_caught_from_the_returned_epoch()
    {
        using var f = new ModelFixture();
        Assert.Equal(1ul, f.Driver.CreateUI(Digests.Make(1)).Counter);
        f.Model.Faults.PowerCycleBeforeNextCommand = true;
        var output = new UniqueIdentifier[4];
        var e = Assert.Throws<UsigEpochChangedException>(() => f.Driver.CreateUIs(Digests.Make(4), output));
        Assert.Equal(2ul, e.NewEpoch);
        Assert.All(output, u => Assert.Equal(default, u));
        UniqueIdentifier ui = f.Driver.CreateUI(Digests.Make(1));
        Assert.Equal(2ul, ui.Epoch);
        Assert.Equal(5ul, ui.Counter); // 1..4 of epoch 2 went to the call that reported the change
    }

    [Fact]
    public void Epoch_grows_across_model_restarts_from_non_volatile_storage()
    {
        using var dir = new TempDir();
        string path = dir.File("bar0");
        ulong first;
        using (var m = new UsigDeviceModel(path, ModelFixture.Key, 0))
        using (FpgaUsig d = FpgaUsig.Open(path, Patient))
        {
            first = d.Epoch;
            d.CreateUI(Digests.Make(1));
        }

        using (var m = new UsigDeviceModel(path, ModelFixture.Key, 0))
        using (FpgaUsig d = FpgaUsig.Open(path, Patient))
        {
            Assert.Equal(first + 1, d.Epoch);
            Assert.Equal(0ul, d.LastCounter);
            Assert.Equal(1ul, d.CreateUI(Digests.Make(1)).Counter);
        }
    }

    [Fact]
    public void A_second_driver_on_the_same_window_continues_the_sequence()
    {
        using var f = new ModelFixture();
        f.Driver.CreateUIs(Digests.Make(10), new UniqueIdentifier[10]);
        using FpgaUsig again = FpgaUsig.Open(f.WindowPath, Patient);
        Assert.Equal(10ul, again.LastCounter);
        Assert.Equal(11ul, again.CreateUI(Digests.Make(1)).Counter);
    }

    [Fact]
    public void Device_error_codes_are_reported_through_the_registers()
    {
        using var f = new ModelFixture(open: false);
        using (var raw = RegisterWindow.Open(f.WindowPath, UsigRegisters.WindowSize))
        {
            raw.Write32(UsigRegisters.Doorbell, (1u << 8) | 0x7F); // unknown opcode, tag 1
            Assert.True(SpinWait.SpinUntil(() => raw.Read32(UsigRegisters.Completion) >> 8 == 1, TimeSpan.FromSeconds(30)));
            Assert.Equal(UsigRegisters.ErrorBadOpcode, raw.Read32(UsigRegisters.Completion) & 0xFF);
            Assert.Equal(UsigRegisters.ErrorBadOpcode, raw.Read32(UsigRegisters.ErrorCode));
            Assert.NotEqual(0u, raw.Read32(UsigRegisters.Status) & UsigRegisters.StatusError);

            raw.Write32(UsigRegisters.RingStart, 0);
            raw.Write32(UsigRegisters.RingCount, 257); // more than the ring holds
            raw.Write32(UsigRegisters.Doorbell, (2u << 8) | UsigRegisters.OpRing);
            Assert.True(SpinWait.SpinUntil(() => raw.Read32(UsigRegisters.Completion) >> 8 == 2, TimeSpan.FromSeconds(30)));
            Assert.Equal(UsigRegisters.ErrorBadRingRange, raw.Read32(UsigRegisters.Completion) & 0xFF);
            Assert.Equal(0ul, raw.Read64(UsigRegisters.Counter));
        }

        // A driver opened afterwards clears the error and works; the tag sequence continues from DOORBELL.
        using FpgaUsig d = FpgaUsig.Open(f.WindowPath, Patient);
        Assert.Equal(1ul, d.CreateUI(Digests.Make(1)).Counter);
        Assert.Equal(1ul, f.Model.Counter);
    }
}
