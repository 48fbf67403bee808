using System.Buffers.Binary;
using System.Diagnostics;

namespace FastBft.TrustedHw;

/// <summary>How the model's counter misbehaves when <see cref="UsigDeviceFaults.WrongCounter"/> is set.</summary>
public enum UsigWrongCounterMode
{
    /// <summary>Correct counter (c + 1).</summary>
    None = 0,

    /// <summary>Skips one value (c + 2): the driver must report <see cref="UsigCounterGapException"/>.</summary>
    Skip = 1,

    /// <summary>Reuses the last value (c): the driver must report <see cref="UsigNonMonotonicCounterException"/>.</summary>
    Repeat = 2,
}

/// <summary>
/// Fault hooks of <see cref="UsigDeviceModel"/>. Each takes effect when the model picks up its next command;
/// all are sticky until cleared except <see cref="PowerCycleBeforeNextCommand"/>, which is one-shot.
/// Thread-safe: set from any thread.
/// </summary>
public sealed class UsigDeviceFaults
{
    private volatile bool _stuckBusy;
    private volatile int _wrongCounter;
    private volatile bool _corruptProof;
    private long _responseDelayTicks;
    private volatile bool _powerCycleBeforeNext;
    private int _skipCommands;

    /// <summary>Stuck busy: the model sets STATUS.BUSY on the next command and does not finish it until this is cleared
    /// (then it completes normally). The driver reports <see cref="UsigStuckBusyException"/>.</summary>
    public bool StuckBusy { get => _stuckBusy; set => _stuckBusy = value; }

    /// <summary>Wrong counter: gaps or repeated values (see <see cref="UsigWrongCounterMode"/>).</summary>
    public UsigWrongCounterMode WrongCounter { get => (UsigWrongCounterMode)_wrongCounter; set => _wrongCounter = (int)value; }

    /// <summary>Corrupted proof: the model flips bit 0 of every proof after computing its CHECK value
    /// (a fault between HMAC engine and host). The driver reports <see cref="UsigProofInvalidException"/>.</summary>
    public bool CorruptProof { get => _corruptProof; set => _corruptProof = value; }

    /// <summary>Slow responses: the model waits this long before picking up each command (BUSY stays clear meanwhile).
    /// Shorter than the driver timeout: calls just get slower. Longer: the driver reports <see cref="UsigTimeoutException"/>.
    /// Clearing (or shortening) the delay releases a command that is waiting.</summary>
    public TimeSpan ResponseDelay
    {
        get => TimeSpan.FromTicks(Volatile.Read(ref _responseDelayTicks));
        set => Volatile.Write(ref _responseDelayTicks, value.Ticks);
    }

    /// <summary>One-shot: power-cycle the device (new epoch, counter 0) just after it picks up the next command and
    /// then run that command in the new epoch — the race in which a power-cycle lands between the driver's EPOCH check
    /// and its doorbell. The driver reports <see cref="UsigEpochChangedException"/> from the returned UI's epoch.</summary>
    public bool PowerCycleBeforeNextCommand { get => _powerCycleBeforeNext; set => _powerCycleBeforeNext = value; }

    /// <summary>Delays the command-level hooks (<see cref="ResponseDelay"/>, <see cref="StuckBusy"/>,
    /// <see cref="PowerCycleBeforeNextCommand"/>) until this many further commands have executed normally (default 0:
    /// they apply to the next command). Lets a test hit the second doorbell of a batch larger than the ring
    /// ("mid-batch"). <see cref="WrongCounter"/> and <see cref="CorruptProof"/> are not delayed.</summary>
    public int SkipCommands { get => Volatile.Read(ref _skipCommands); set => Volatile.Write(ref _skipCommands, Math.Max(0, value)); }

    /// <summary>Model thread: true if the command-level hooks apply to the command being picked up (counts one skipped command otherwise).</summary>
    internal bool TakeArmed()
    {
        int skip = Volatile.Read(ref _skipCommands);
        if (skip <= 0)
        {
            return true;
        }

        Interlocked.Decrement(ref _skipCommands);
        return false;
    }

    internal bool TakePowerCycleRequest()
    {
        if (!_powerCycleBeforeNext)
        {
            return false;
        }

        _powerCycleBeforeNext = false;
        return true;
    }
}

/// <summary>Options of <see cref="UsigDeviceModel"/>.</summary>
public sealed class UsigDeviceModelOptions
{
    /// <summary>Value the model exposes in MAGIC (default 0x47495355); change it to test the driver's bad-magic path.</summary>
    public uint Magic { get; init; } = UsigRegisters.MagicValue;

    /// <summary>Value the model exposes in VERSION (default 0x00010000); change the major to test version mismatch.</summary>
    public uint Version { get; init; } = UsigRegisters.VersionValue;

    /// <summary>Epoch of the first power-up when no non-volatile file exists yet (default 1).</summary>
    public ulong InitialEpoch { get; init; } = 1;

    /// <summary>File emulating the device's non-volatile epoch storage (8 bytes, u64 LE). Null: window path + ".nv".
    /// Each power-up reads it, adds 1, and writes it back, so epochs grow across model restarts.</summary>
    public string? NonVolatilePath { get; init; }

    /// <summary>Advertise and execute OP_VERIFY_RING (CAPS bit 10, VERSION 1.1; default true). False models a 1.0 device:
    /// the driver then verifies a batch with one OP_VERIFY per UI.</summary>
    public bool VerifyRing { get; init; } = true;

    /// <summary>Delete the window file (not the non-volatile file) on dispose (default true).</summary>
    public bool DeleteWindowOnDispose { get; init; } = true;

    /// <summary>Idle polling, phase 1: poll the doorbell with a short pause (Thread.SpinWait(1)) for this long after the
    /// last command (default 10 µs).</summary>
    public TimeSpan IdleSpin { get; init; } = TimeSpan.FromMicroseconds(10);

    /// <summary>Idle polling, phase 2: poll with Thread.Yield until this long after the last command (default 5 ms). It must
    /// exceed the driver's sleep granularity (1 ms), or driver and model can fall into a convoy in which each finds the
    /// other asleep on every call.</summary>
    public TimeSpan IdleYield { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Idle polling, phase 3: sleep between polls once the spin and yield phases are over (default 1 ms).</summary>
    public TimeSpan IdleSleep { get; init; } = TimeSpan.FromMilliseconds(1);
}

/// <summary>
/// Register-accurate model of the USIG device: a background thread that implements the device logic behind the
/// register map of docs/trusted-counter-registers.md in a memory-mapped file (put it under /dev/shm or /tmp).
/// The driver (<see cref="FpgaUsig"/>) maps the same file through its own mapping exactly as it maps a real BAR0,
/// so no test shortcut exists inside the driver. The trusted key, counter and epoch live only inside this object
/// (the register window never exposes the key). Seed: Thesis §5.4.1/§5.5.1 (the CASH FPGA the prototype used).
/// </summary>
public sealed class UsigDeviceModel : IDisposable
{
    private readonly RegisterWindow _window;
    private readonly UsigMac _mac;
    private readonly System.Security.Cryptography.IncrementalHash _hmac; // the model's "HMAC engine", model thread only
    private readonly UsigDeviceModelOptions _options;
    private readonly string _nvPath;
    private readonly Lock _stateLock = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly Thread _thread;
    private readonly uint _instanceId;
    private readonly int _ringEntries;
    private volatile bool _stop;
    private ulong _epoch;
    private ulong _counter;
    private uint _lastDoorbell;
    private long _commands;
    private long _busyTicks;

    /// <summary>Creates the window file, powers the model up (new epoch) and starts its thread.</summary>
    /// <param name="windowPath">Path of the window file to create (64 KiB); overwritten if it exists.</param>
    /// <param name="key">Trusted key provisioned into the device, 32..64 bytes; copied.</param>
    /// <param name="instanceId">Instance id provisioned with the key (exposed in INSTANCE_ID).</param>
    /// <param name="options">Options; null for defaults.</param>
    /// <exception cref="ArgumentException">Bad key length.</exception>
    /// <exception cref="IOException">The window file cannot be created.</exception>
    public UsigDeviceModel(string windowPath, ReadOnlySpan<byte> key, uint instanceId, UsigDeviceModelOptions? options = null)
    {
        _options = options ?? new UsigDeviceModelOptions();
        _mac = new UsigMac(key, poolSize: 1);
        _hmac = _mac.Rent();
        _instanceId = instanceId;
        _ringEntries = 1 << UsigRegisters.RingLog2;
        _nvPath = _options.NonVolatilePath ?? windowPath + ".nv";
        WindowPath = windowPath;
        _window = RegisterWindow.Create(windowPath, UsigRegisters.WindowSize);
        PowerUp(clearWindow: true);
        Faults = new UsigDeviceFaults();
        _thread = new Thread(Run) { IsBackground = true, Name = "usig-device-model" };
        _thread.Start();
    }

    /// <summary>Path of the window file the driver should open.</summary>
    public string WindowPath { get; }

    /// <summary>Fault hooks.</summary>
    public UsigDeviceFaults Faults { get; }

    /// <summary>Current epoch (model-internal view).</summary>
    public ulong Epoch => Volatile.Read(ref _epoch);

    /// <summary>Last assigned counter (model-internal view).</summary>
    public ulong Counter => Volatile.Read(ref _counter);

    /// <summary>Number of commands the model has executed.</summary>
    public long CommandsExecuted => Interlocked.Read(ref _commands);

    /// <summary>Total time the model spent executing commands (from picking up a doorbell to writing COMPLETION,
    /// excluding injected <see cref="UsigDeviceFaults.ResponseDelay"/>). Benchmarks subtract it from wall-clock time to
    /// separate the driver's cost from the model's software HMAC engine, which is far slower than a hardware one.</summary>
    public TimeSpan BusyTime => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _busyTicks));

    /// <summary>Power-cycles the device between commands: new epoch from non-volatile storage, counter 0, all
    /// registers back to their reset values. Waits for a command in progress to finish first (also one held by
    /// <see cref="UsigDeviceFaults.StuckBusy"/> or <see cref="UsigDeviceFaults.ResponseDelay"/>); a doorbell rung but not yet
    /// picked up is lost, as on a real reset.</summary>
    public void PowerCycle()
    {
        lock (_stateLock)
        {
            PowerUp(clearWindow: true);
            _lastDoorbell = 0;
        }
    }

    private void PowerUp(bool clearWindow)
    {
        ulong epoch = _options.InitialEpoch;
        if (File.Exists(_nvPath))
        {
            byte[] nv = File.ReadAllBytes(_nvPath);
            if (nv.Length >= 8)
            {
                epoch = BinaryPrimitives.ReadUInt64LittleEndian(nv) + 1;
            }
        }

        byte[] store = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(store, epoch);
        File.WriteAllBytes(_nvPath, store);

        _epoch = epoch;
        _counter = 0;
        RegisterWindow w = _window;
        w.Write32(UsigRegisters.Magic, 0);
        if (clearWindow)
        {
            w.Block(0, UsigRegisters.WindowSize).Clear();
        }

        w.Write32(UsigRegisters.Version, _options.Version);
        w.Write32(UsigRegisters.Caps, (uint)UsigRegisters.RingLog2 | UsigRegisters.CapsVerify | UsigRegisters.CapsRing |
            (_options.VerifyRing ? UsigRegisters.CapsVerifyRing : 0));
        w.Write32(UsigRegisters.InstanceId, _instanceId);
        w.Write64(UsigRegisters.Epoch, _epoch);
        w.Write64(UsigRegisters.Counter, 0);
        w.Write32(UsigRegisters.Status, UsigRegisters.StatusReady | UsigRegisters.StatusKeyLoaded);
        Interlocked.MemoryBarrier();
        w.Write32(UsigRegisters.Magic, _options.Magic); // last: a mapper sees MAGIC only once the map is initialised
    }

    private void Run()
    {
        RegisterWindow w = _window;
        long spinTicks = (long)(_options.IdleSpin.TotalSeconds * Stopwatch.Frequency);
        long yieldTicks = (long)(_options.IdleYield.TotalSeconds * Stopwatch.Frequency);
        long idleSince = Stopwatch.GetTimestamp();
        int polls = 0;
        while (!_stop)
        {
            uint doorbell = w.Read32(UsigRegisters.Doorbell);
            if (doorbell != _lastDoorbell)
            {
                lock (_stateLock)
                {
                    // Re-read under the lock: a PowerCycle may have reset the window meanwhile.
                    doorbell = w.Read32(UsigRegisters.Doorbell);
                    if (doorbell != _lastDoorbell)
                    {
                        _lastDoorbell = doorbell;
                        Execute(doorbell);
                    }
                }

                idleSince = Stopwatch.GetTimestamp();
                polls = 0;
                continue;
            }

            if (w.Read32(UsigRegisters.Control) != 0)
            {
                lock (_stateLock)
                {
                    HandleControl();
                }
            }

            // Read the clock every 16th poll only while spinning, every poll afterwards.
            long idle = (++polls & 15) == 0 || polls > 4096 ? Stopwatch.GetTimestamp() - idleSince : 0;
            if (idle < spinTicks)
            {
                Thread.SpinWait(1);
            }
            else if (idle < yieldTicks)
            {
                Thread.Yield();
            }
            else
            {
                _wake.Wait(_options.IdleSleep);
            }
        }
    }

    private void HandleControl()
    {
        RegisterWindow w = _window;
        uint control = w.Read32(UsigRegisters.Control);
        if ((control & UsigRegisters.ControlClearError) != 0)
        {
            w.Write32(UsigRegisters.ErrorCode, 0);
            w.Write32(UsigRegisters.Status, w.Read32(UsigRegisters.Status) & ~UsigRegisters.StatusError);
        }

        w.Write32(UsigRegisters.Control, 0);
    }

    private void Execute(uint doorbell)
    {
        RegisterWindow w = _window;
        // Slow device: the command sits in the queue with BUSY clear. The hook is re-read every millisecond so that
        // clearing it releases a waiting command at once.
        bool armed = Faults.TakeArmed();
        long queued = Stopwatch.GetTimestamp();
        while (armed && !_stop && Stopwatch.GetElapsedTime(queued) < Faults.ResponseDelay)
        {
            WaitInterruptible(TimeSpan.FromMilliseconds(1));
        }

        long started = Stopwatch.GetTimestamp();
        w.Write32(UsigRegisters.Status, w.Read32(UsigRegisters.Status) | UsigRegisters.StatusBusy);
        while (armed && Faults.StuckBusy && !_stop)
        {
            WaitInterruptible(TimeSpan.FromMilliseconds(1));
        }

        if (_stop)
        {
            return;
        }

        if (armed && Faults.TakePowerCycleRequest())
        {
            // The race this hook models: the device rebooted after the driver's EPOCH check but before the driver
            // wrote its inputs and rang the doorbell, so the inputs and the doorbell reach the fresh device.
            PowerUp(clearWindow: false);
            w.Write32(UsigRegisters.Status, w.Read32(UsigRegisters.Status) | UsigRegisters.StatusBusy);
        }

        uint opcode = doorbell & 0xFF;
        uint result = opcode switch
        {
            UsigRegisters.OpCertify => Certify(),
            UsigRegisters.OpVerify => Verify(),
            UsigRegisters.OpRing => Ring(),
            UsigRegisters.OpVerifyRing when _options.VerifyRing => VerifyRing(),
            _ => UsigRegisters.ErrorBadOpcode,
        };

        uint status = w.Read32(UsigRegisters.Status) & ~UsigRegisters.StatusBusy;
        if (result >= UsigRegisters.ErrorBadOpcode)
        {
            w.Write32(UsigRegisters.ErrorCode, result);
            status |= UsigRegisters.StatusError;
        }

        w.Write64(UsigRegisters.Counter, _counter);
        w.Write32(UsigRegisters.Status, status);
        Interlocked.Increment(ref _commands);
        Interlocked.Add(ref _busyTicks, Stopwatch.GetTimestamp() - started);
        // Release: every output above is visible before the completion word.
        w.Write32(UsigRegisters.Completion, (doorbell & 0xFFFFFF00u) | result);
    }

    private void WaitInterruptible(TimeSpan delay) => _wake.Wait(delay);

    private bool TryNextCounter(out ulong counter)
    {
        switch (Faults.WrongCounter)
        {
            case UsigWrongCounterMode.Skip:
                _counter += 2;
                break;
            case UsigWrongCounterMode.Repeat:
                break;
            default:
                if (_counter == ulong.MaxValue)
                {
                    counter = 0;
                    return false;
                }

                _counter++;
                break;
        }

        counter = _counter;
        return true;
    }

    private void Produce(ReadOnlySpan<byte> digest, Span<byte> epochOut, Span<byte> counterOut, Span<byte> proofOut, Span<byte> checkOut, ulong counter)
    {
        UsigMac.Compute(_hmac, _instanceId, _epoch, counter, digest, proofOut);
        BinaryPrimitives.WriteUInt64LittleEndian(epochOut, _epoch);
        BinaryPrimitives.WriteUInt64LittleEndian(counterOut, counter);
        uint check = UsigIntegrity.Check(_epoch, counter, digest, proofOut);
        if (Faults.CorruptProof)
        {
            proofOut[0] ^= 1;
        }

        BinaryPrimitives.WriteUInt32LittleEndian(checkOut, check);
    }

    private uint Certify()
    {
        RegisterWindow w = _window;
        if (!TryNextCounter(out ulong counter))
        {
            return UsigRegisters.ErrorCounterExhausted;
        }

        Produce(
            w.Block(UsigRegisters.DigestIn, 32),
            w.Block(UsigRegisters.OutEpoch, 8),
            w.Block(UsigRegisters.OutCounter, 8),
            w.Block(UsigRegisters.OutProof, 32),
            w.Block(UsigRegisters.OutCheck, 4),
            counter);
        return UsigRegisters.ResultOk;
    }

    private uint Verify()
    {
        RegisterWindow w = _window;
        ulong counter = w.Read64(UsigRegisters.VerifyCounter);
        if (counter == 0)
        {
            return UsigRegisters.ResultVerifyFailed;
        }

        Span<byte> expected = stackalloc byte[UniqueIdentifier.ProofSize];
        UsigMac.Compute(_hmac, w.Read32(UsigRegisters.VerifyId), w.Read64(UsigRegisters.VerifyEpoch), counter, w.Block(UsigRegisters.DigestIn, 32), expected);
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(expected, w.Block(UsigRegisters.VerifyProof, 32))
            ? UsigRegisters.ResultOk
            : UsigRegisters.ResultVerifyFailed;
    }

    private uint Ring()
    {
        RegisterWindow w = _window;
        uint start = w.Read32(UsigRegisters.RingStart);
        uint count = w.Read32(UsigRegisters.RingCount);
        if (start >= (uint)_ringEntries || count == 0 || count > (uint)_ringEntries)
        {
            return UsigRegisters.ErrorBadRingRange;
        }

        int mask = _ringEntries - 1;
        for (uint i = 0; i < count; i++)
        {
            int d = UsigRegisters.RingBase + (int)((start + i) & (uint)mask) * UsigRegisters.DescriptorSize;
            if (!TryNextCounter(out ulong counter))
            {
                w.Write32(d + UsigRegisters.DescStatus, UsigRegisters.ErrorCounterExhausted);
                return UsigRegisters.ErrorCounterExhausted;
            }

            Produce(
                w.Block(d + UsigRegisters.DescDigest, 32),
                w.Block(d + UsigRegisters.DescEpoch, 8),
                w.Block(d + UsigRegisters.DescCounter, 8),
                w.Block(d + UsigRegisters.DescProof, 32),
                w.Block(d + UsigRegisters.DescCheck, 4),
                counter);
            w.Write32(d + UsigRegisters.DescStatus, UsigRegisters.DescDone);
        }

        return UsigRegisters.ResultOk;
    }

    private uint VerifyRing()
    {
        RegisterWindow w = _window;
        uint start = w.Read32(UsigRegisters.RingStart);
        uint count = w.Read32(UsigRegisters.RingCount);
        if (start >= (uint)_ringEntries || count == 0 || count > (uint)_ringEntries)
        {
            return UsigRegisters.ErrorBadRingRange;
        }

        int mask = _ringEntries - 1;
        Span<byte> expected = stackalloc byte[UniqueIdentifier.ProofSize];
        for (uint i = 0; i < count; i++)
        {
            int d = UsigRegisters.RingBase + (int)((start + i) & (uint)mask) * UsigRegisters.DescriptorSize;
            ulong counter = w.Read64(d + UsigRegisters.DescCounter);
            bool ok = false;
            if (counter != 0)
            {
                UsigMac.Compute(_hmac, w.Read32(d + UsigRegisters.DescVerifyId), w.Read64(d + UsigRegisters.DescEpoch), counter,
                    w.Block(d + UsigRegisters.DescDigest, 32), expected);
                ok = System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(expected, w.Block(d + UsigRegisters.DescProof, 32));
            }

            w.Write32(d + UsigRegisters.DescVerifyResult, ok ? UsigRegisters.ResultOk : UsigRegisters.ResultVerifyFailed);
            w.Write32(d + UsigRegisters.DescStatus, UsigRegisters.DescDone);
        }

        return UsigRegisters.ResultOk;
    }

    /// <summary>Stops the model thread, unmaps and (by default) deletes the window file.</summary>
    public void Dispose()
    {
        if (_stop)
        {
            return;
        }

        _stop = true;
        _wake.Set();
        _thread.Join();
        _window.Dispose();
        _hmac.Dispose();
        _mac.Dispose();
        _wake.Dispose();
        if (_options.DeleteWindowOnDispose)
        {
            try
            {
                File.Delete(WindowPath);
            }
            catch (IOException)
            {
                // best effort
            }
        }
    }
}
