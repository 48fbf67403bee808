using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastBft.TrustedHw;

/// <summary>Options of <see cref="FpgaUsig"/>.</summary>
public sealed class FpgaUsigOptions
{
    /// <summary>Command timeout in milliseconds (config key <c>usig.timeout_ms</c>, default 1000), counted after the spin phase.</summary>
    public int TimeoutMs { get; init; } = 1000;

    /// <summary>Completion polls with a short pause (Thread.SpinWait(1), ~35 ns here) before backing off to Thread.Yield
    /// (default 256 ≈ 10 µs). Keep it short on machines with few cores: a long spin can starve the device model (or any
    /// co-scheduled thread) of the CPU it needs to answer; we measured ~0.7 ms per call with 20 000 polls on a loaded 2-core box.</summary>
    public int SpinIterations { get; init; } = 256;

    /// <summary>After the spin phase, poll with Thread.Yield for this many microseconds before polling with Thread.Sleep(1)
    /// (default 2000 µs: longer than the 1 ms a sleeping device model needs to wake, so the two never convoy).</summary>
    public int YieldMicroseconds { get; init; } = 2000;

    /// <summary>If set, the device's INSTANCE_ID must equal this (the configured replica id).</summary>
    public uint? ExpectedInstanceId { get; init; }
}

/// <summary>
/// Driver for the USIG FPGA (a PCIe function; Thesis §5.5.1 used the CASH FPGA). Maps the device's BAR0 register
/// window — <c>/sys/bus/pci/devices/&lt;BDF&gt;/resource0</c>, a UIO/VFIO region file, or the
/// <see cref="UsigDeviceModel"/>'s file — with <see cref="System.IO.MemoryMappedFiles.MemoryMappedFile"/> and speaks the
/// command protocol of docs/trusted-counter-registers.md. There is no other path to the device.
/// </summary>
/// <remarks>
/// <para><b>Batching:</b> <see cref="CreateUIs"/> writes up to ring-size (256) descriptors and rings the doorbell once;
/// per-call costs (fence, doorbell, completion handshake, EPOCH pre-check) are paid once per 256 UIs.</para>
/// <para><b>Checks:</b> every UI read back is checked before it is returned: CRC-32C CHECK over
/// (epoch, counter, the digest the driver wrote, proof), proof not all-zero/all-ones, epoch equal to the known epoch,
/// counter exactly last + 1. A failure throws a typed <see cref="UsigDeviceException"/>; the output is cleared.
/// Integrity failures (gap, non-monotonic, invalid proof) latch the driver faulted (the trusted device broke its
/// contract and is treated as crashed). Timeouts and stuck-busy do not latch: the next call waits for the
/// outstanding command and resynchronises from the COUNTER register (counters certified by the timed-out command
/// are lost and logged). A power-cycle throws <see cref="UsigEpochChangedException"/> once and adopts the new epoch.</para>
/// <para><b>Concurrency:</b> the device executes one command at a time, so calls serialise on one lock held per
/// call (per batch, not per UI); that lock is also what makes counter assignment atomic for concurrent callers.</para>
/// <para><b>Threat model:</b> the key and the counter stay inside the device. A compromised replica process can have
/// anything certified, in any order, and withhold UIs (receivers then block on the gap), but it cannot obtain two UIs
/// with one (epoch, counter), certify in another instance's name, read the key, or move the counter or epoch back.
/// See docs/trusted-counter.md §3.</para>
/// </remarks>
public sealed class FpgaUsig : IUsig
{
    private static readonly Regex BdfPattern = new(@"^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$", RegexOptions.CultureInvariant);

    private readonly RegisterWindow _w;
    private readonly Lock _gate = new();
    private readonly ILogger _logger;
    private readonly int _ringEntries;
    private readonly bool _verifyRing;
    private readonly long _timeoutTicks;
    private readonly int _timeoutMs;
    private readonly int _spin;
    private readonly long _yieldTicks;
    private ulong _epoch;
    private ulong _last;
    private uint _tag;
    private bool _inDoubt;
    private Exception? _faulted;
    private bool _disposed;

    private FpgaUsig(RegisterWindow window, FpgaUsigOptions options, ILogger logger)
    {
        _w = window;
        _logger = logger;
        _timeoutMs = options.TimeoutMs;
        _timeoutTicks = (long)(options.TimeoutMs * (Stopwatch.Frequency / 1000.0));
        _spin = options.SpinIterations;
        _yieldTicks = (long)(options.YieldMicroseconds * (Stopwatch.Frequency / 1_000_000.0));

        uint magic = _w.Read32(UsigRegisters.Magic);
        if (magic != UsigRegisters.MagicValue)
        {
            throw new UsigBadMagicException(magic, _w.Path);
        }

        uint version = _w.Read32(UsigRegisters.Version);
        if (version >> 16 != UsigRegisters.SupportedMajorVersion)
        {
            throw new UsigVersionMismatchException(version, _w.Path);
        }

        uint caps = _w.Read32(UsigRegisters.Caps);
        int ringLog2 = (int)(caps & 0xFF);
        if ((caps & UsigRegisters.CapsRing) == 0 || (caps & UsigRegisters.CapsVerify) == 0 || ringLog2 > 12 ||
            UsigRegisters.RingBase + (1L << ringLog2) * UsigRegisters.DescriptorSize > _w.Length)
        {
            throw new UsigDeviceException($"USIG device at '{_w.Path}': CAPS=0x{caps:X8} lacks RING/VERIFY or declares a ring that does not fit the {_w.Length}-byte window.");
        }

        _ringEntries = 1 << ringLog2;
        _verifyRing = (caps & UsigRegisters.CapsVerifyRing) != 0;

        uint status = WaitStatus(UsigRegisters.StatusReady, UsigRegisters.StatusReady, "waiting for STATUS.READY at open");
        if ((status & UsigRegisters.StatusKeyLoaded) == 0)
        {
            throw new UsigDeviceException($"USIG device at '{_w.Path}': STATUS=0x{status:X8}: KEY_LOADED clear, the trusted key is not provisioned.");
        }

        WaitStatus(UsigRegisters.StatusBusy, 0, "waiting for STATUS.BUSY to clear at open");
        Id = _w.Read32(UsigRegisters.InstanceId);
        if (options.ExpectedInstanceId is uint expected && expected != Id)
        {
            throw new UsigDeviceException($"USIG device at '{_w.Path}': INSTANCE_ID=0x{Id:X8} ({Id}) but this replica is {expected}; wrong device for this replica.");
        }

        // Continue the device's tag sequence so a stale COMPLETION can never match our first command.
        _tag = _w.Read32(UsigRegisters.Doorbell) >> 8;
        uint completion = _w.Read32(UsigRegisters.Completion);
        if (completion >> 8 != _tag)
        {
            _inDoubt = true; // a previous user left a command outstanding; resynchronise before the first command
        }

        _epoch = _w.Read64(UsigRegisters.Epoch);
        _last = _w.Read64(UsigRegisters.Counter);
        if ((status & UsigRegisters.StatusError) != 0)
        {
            _w.Write32(UsigRegisters.Control, UsigRegisters.ControlClearError);
        }
    }

    /// <summary>Maps the device window and checks identity, version, capabilities and readiness.</summary>
    /// <param name="devicePath">A PCI address (<c>0000:03:00.0</c>, mapped via sysfs <c>resource0</c>), or a path to a
    /// resource/UIO/VFIO region file or to the device model's window file (config <c>usig.device_path</c>).</param>
    /// <param name="options">Options; null for defaults.</param>
    /// <param name="logger">Logger; null for none.</param>
    /// <exception cref="FileNotFoundException">The path does not exist.</exception>
    /// <exception cref="UsigBadMagicException">MAGIC is wrong.</exception>
    /// <exception cref="UsigVersionMismatchException">Unsupported major version.</exception>
    /// <exception cref="UsigStuckBusyException">BUSY did not clear within the timeout.</exception>
    /// <exception cref="UsigTimeoutException">READY did not come up within the timeout.</exception>
    /// <exception cref="UsigDeviceException">Window too small, capabilities missing, key not provisioned, or wrong instance id.</exception>
    public static FpgaUsig Open(string devicePath, FpgaUsigOptions? options = null, ILogger? logger = null)
    {
        string path = ResolveDevicePath(devicePath);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"USIG device window '{path}' does not exist (setting usig.device_path = '{devicePath}').", path);
        }

        RegisterWindow window = RegisterWindow.Open(path, UsigRegisters.WindowSize);
        try
        {
            return new FpgaUsig(window, options ?? new FpgaUsigOptions(), logger ?? NullLogger.Instance);
        }
        catch
        {
            window.Dispose();
            throw;
        }
    }

    /// <summary>Turns a PCI address (<c>DDDD:BB:DD.F</c> or <c>BB:DD.F</c>) into <c>/sys/bus/pci/devices/&lt;BDF&gt;/resource0</c>;
    /// returns any other string unchanged.</summary>
    public static string ResolveDevicePath(string configured)
    {
        if (BdfPattern.IsMatch(configured))
        {
            string bdf = configured.Length == 7 ? "0000:" + configured : configured;
            return $"/sys/bus/pci/devices/{bdf.ToLowerInvariant()}/resource0";
        }

        return configured;
    }

    /// <inheritdoc />
    public uint Id { get; }

    /// <inheritdoc />
    public ulong Epoch => Volatile.Read(ref _epoch);

    /// <summary>The last counter value this driver handed out or resynchronised to.</summary>
    public ulong LastCounter => Volatile.Read(ref _last);

    /// <summary>Number of descriptors one doorbell can carry (from CAPS).</summary>
    public int RingEntries => _ringEntries;

    /// <summary>True if the device advertises CAPS.VERIFY_RING (version 1.1): <see cref="VerifyUIs"/> then issues one
    /// OP_VERIFY_RING per up to <see cref="RingEntries"/> UIs; otherwise one OP_VERIFY per UI.</summary>
    public bool BatchVerify => _verifyRing;

    /// <summary>Path of the mapped window.</summary>
    public string DevicePath => _w.Path;

    /// <inheritdoc />
    public UniqueIdentifier CreateUI(ReadOnlySpan<byte> digest)
    {
        UsigProofLayout.CheckDigest(digest);
        Span<byte> proof = stackalloc byte[UniqueIdentifier.ProofSize];
        lock (_gate)
        {
            Prepare();
            digest.CopyTo(_w.Block(UsigRegisters.DigestIn, UsigProofLayout.DigestSize));
            uint result = Issue(UsigRegisters.OpCertify, "CERTIFY");
            if (result != UsigRegisters.ResultOk)
            {
                throw DeviceError(result);
            }

            ulong epoch = _w.Read64(UsigRegisters.OutEpoch);
            ulong counter = _w.Read64(UsigRegisters.OutCounter);
            _w.Block(UsigRegisters.OutProof, UniqueIdentifier.ProofSize).CopyTo(proof);
            uint check = _w.Read32(UsigRegisters.OutCheck);
            CheckUi(epoch, counter, digest, proof, check);
            return new UniqueIdentifier(epoch, counter, proof);
        }
    }

    /// <inheritdoc />
    public int CreateUIs(ReadOnlySpan<byte> digests, Span<UniqueIdentifier> output)
    {
        int n = UsigBatch.Count(digests, output.Length);
        if (n == 0)
        {
            return 0;
        }

        Span<byte> proof = stackalloc byte[UniqueIdentifier.ProofSize];
        lock (_gate)
        {
            try
            {
                Prepare();
                int done = 0;
                while (done < n)
                {
                    int k = Math.Min(n - done, _ringEntries);
                    for (int j = 0; j < k; j++)
                    {
                        int d = UsigRegisters.RingBase + (j * UsigRegisters.DescriptorSize);
                        digests.Slice((done + j) * UsigProofLayout.DigestSize, UsigProofLayout.DigestSize)
                            .CopyTo(_w.Block(d + UsigRegisters.DescDigest, UsigProofLayout.DigestSize));
                        _w.Block(d + UsigRegisters.DescStatus, 4).Clear();
                    }

                    _w.Write32(UsigRegisters.RingStart, 0);
                    _w.Write32(UsigRegisters.RingCount, (uint)k);
                    uint result = Issue(UsigRegisters.OpRing, "RING");
                    if (result != UsigRegisters.ResultOk)
                    {
                        throw DeviceError(result);
                    }

                    for (int j = 0; j < k; j++)
                    {
                        int d = UsigRegisters.RingBase + (j * UsigRegisters.DescriptorSize);
                        uint descStatus = _w.Read32(d + UsigRegisters.DescStatus);
                        ulong epoch = _w.Read64(d + UsigRegisters.DescEpoch);
                        ulong counter = _w.Read64(d + UsigRegisters.DescCounter);
                        if (descStatus != UsigRegisters.DescDone)
                        {
                            throw Latch(new UsigDeviceException(
                                $"USIG device completed RING (COMPLETION=0x{_w.Read32(UsigRegisters.Completion):X8}) but descriptor {j} has STATUS=0x{descStatus:X8} (expected 0x{UsigRegisters.DescDone:X8}) COUNTER=0x{counter:X16}."));
                        }

                        _w.Block(d + UsigRegisters.DescProof, UniqueIdentifier.ProofSize).CopyTo(proof);
                        uint check = _w.Read32(d + UsigRegisters.DescCheck);
                        ReadOnlySpan<byte> digest = digests.Slice((done + j) * UsigProofLayout.DigestSize, UsigProofLayout.DigestSize);
                        CheckUi(epoch, counter, digest, proof, check);
                        output[done + j] = new UniqueIdentifier(epoch, counter, proof);
                    }

                    done += k;
                }

                return n;
            }
            catch
            {
                output[..n].Clear(); // never leave an unchecked UI behind
                throw;
            }
        }
    }

    /// <inheritdoc />
    /// <remarks>Runs on the device (OP_VERIFY): the host never holds the trusted key.</remarks>
    public bool VerifyUI(uint replicaId, ReadOnlySpan<byte> digest, in UniqueIdentifier ui)
    {
        UsigProofLayout.CheckDigest(digest);
        if (ui.Counter == 0)
        {
            return false;
        }

        lock (_gate)
        {
            Prepare();
            digest.CopyTo(_w.Block(UsigRegisters.DigestIn, UsigProofLayout.DigestSize));
            _w.Write32(UsigRegisters.VerifyId, replicaId);
            _w.Write64(UsigRegisters.VerifyEpoch, ui.Epoch);
            _w.Write64(UsigRegisters.VerifyCounter, ui.Counter);
            ui.Proof.CopyTo(_w.Block(UsigRegisters.VerifyProof, UniqueIdentifier.ProofSize));
            uint result = Issue(UsigRegisters.OpVerify, "VERIFY");
            return result switch
            {
                UsigRegisters.ResultOk => true,
                UsigRegisters.ResultVerifyFailed => false,
                _ => throw DeviceError(result),
            };
        }
    }

    /// <inheritdoc />
    /// <remarks>
    /// <para>With CAPS.VERIFY_RING: one OP_VERIFY_RING doorbell per up to <see cref="RingEntries"/> UIs, all under one lock
    /// hold (docs/trusted-counter-registers.md §4.2); runs on the device, the host never holds the key. Without it: one
    /// OP_VERIFY per UI.</para>
    /// <para>Before each doorbell the driver runs its usual pre-checks (resynchronise after a timeout, EPOCH); after each
    /// completion it re-reads EPOCH, so a power-cycle during the batch throws <see cref="UsigEpochChangedException"/> once.
    /// Every descriptor must come back with STATUS = DONE and RESULT 0 or 1, else the driver latches faulted. A UI with
    /// counter 0 is always false. On any exception the first k verdicts are cleared to false.</para>
    /// </remarks>
    public int VerifyUIs(ReadOnlySpan<uint> replicaIds, ReadOnlySpan<byte> digests, ReadOnlySpan<UniqueIdentifier> uis, Span<bool> results)
    {
        int k = UsigBatch.CountVerify(replicaIds.Length, digests, uis.Length, results.Length);
        if (k == 0)
        {
            return 0;
        }

        lock (_gate)
        {
            try
            {
                return _verifyRing ? VerifyRing(replicaIds, digests, uis, results, k) : VerifyEach(replicaIds, digests, uis, results, k);
            }
            catch
            {
                results[..k].Clear(); // never leave an unchecked verdict behind
                throw;
            }
        }
    }

    private int VerifyEach(ReadOnlySpan<uint> replicaIds, ReadOnlySpan<byte> digests, ReadOnlySpan<UniqueIdentifier> uis, Span<bool> results, int k)
    {
        int valid = 0;
        for (int i = 0; i < k; i++)
        {
            bool ok = VerifyUI(replicaIds[i], digests.Slice(i * UsigProofLayout.DigestSize, UsigProofLayout.DigestSize), uis[i]);
            results[i] = ok;
            valid += ok ? 1 : 0;
        }

        return valid;
    }

    private int VerifyRing(ReadOnlySpan<uint> replicaIds, ReadOnlySpan<byte> digests, ReadOnlySpan<UniqueIdentifier> uis, Span<bool> results, int k)
    {
        int valid = 0;
        int done = 0;
        while (done < k)
        {
            Prepare();
            int m = Math.Min(k - done, _ringEntries);
            for (int j = 0; j < m; j++)
            {
                int d = UsigRegisters.RingBase + (j * UsigRegisters.DescriptorSize);
                ref readonly UniqueIdentifier ui = ref uis[done + j];
                digests.Slice((done + j) * UsigProofLayout.DigestSize, UsigProofLayout.DigestSize)
                    .CopyTo(_w.Block(d + UsigRegisters.DescDigest, UsigProofLayout.DigestSize));
                _w.Write64(d + UsigRegisters.DescEpoch, ui.Epoch);
                _w.Write64(d + UsigRegisters.DescCounter, ui.Counter);
                ui.Proof.CopyTo(_w.Block(d + UsigRegisters.DescProof, UniqueIdentifier.ProofSize));
                _w.Write32(d + UsigRegisters.DescVerifyId, replicaIds[done + j]);
                _w.Write32(d + UsigRegisters.DescVerifyResult, 0xFFFFFFFFu); // not a verdict until the device writes one
                _w.Write32(d + UsigRegisters.DescStatus, 0);
            }

            _w.Write32(UsigRegisters.RingStart, 0);
            _w.Write32(UsigRegisters.RingCount, (uint)m);
            uint result = Issue(UsigRegisters.OpVerifyRing, "VERIFY_RING");
            if (result != UsigRegisters.ResultOk)
            {
                throw DeviceError(result);
            }

            ulong epoch = _w.Read64(UsigRegisters.Epoch);
            if (epoch != _epoch)
            {
                AdoptEpoch(epoch); // throws: the device power-cycled during the batch
            }

            for (int j = 0; j < m; j++)
            {
                int d = UsigRegisters.RingBase + (j * UsigRegisters.DescriptorSize);
                uint descStatus = _w.Read32(d + UsigRegisters.DescStatus);
                uint verdict = _w.Read32(d + UsigRegisters.DescVerifyResult);
                if (descStatus != UsigRegisters.DescDone || verdict > UsigRegisters.ResultVerifyFailed)
                {
                    throw Latch(new UsigDeviceException(
                        $"USIG device completed VERIFY_RING (COMPLETION=0x{_w.Read32(UsigRegisters.Completion):X8}) but descriptor {j} has STATUS=0x{descStatus:X8} (expected 0x{UsigRegisters.DescDone:X8}) RESULT=0x{verdict:X8} (expected 0 or 1)."));
                }

                bool ok = verdict == UsigRegisters.ResultOk && uis[done + j].Counter != 0;
                results[done + j] = ok;
                valid += ok ? 1 : 0;
            }

            done += m;
        }

        return valid;
    }

    /// <summary>Unmaps the window. Does not touch the device.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                _disposed = true;
                _w.Dispose();
            }
        }
    }

    // ---- command machinery (all under _gate) ----

    private void Prepare()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_faulted is not null)
        {
            throw new UsigDeviceFaultedException(_faulted);
        }

        if (_inDoubt)
        {
            Resync();
        }

        ulong epoch = _w.Read64(UsigRegisters.Epoch);
        if (epoch != _epoch)
        {
            AdoptEpoch(epoch);
        }
    }

    /// <summary>Rings the doorbell for <paramref name="opcode"/> and polls COMPLETION: bounded spin, then yield, then
    /// sleep, until the timeout. Returns the result byte.</summary>
    private uint Issue(uint opcode, string what)
    {
        uint tag = (_tag + 1) & 0xFFFFFF;
        if (tag == 0)
        {
            tag = 1;
        }

        _tag = tag;
        // Full fence (wmb): the inputs written with plain stores are globally visible before the doorbell.
        Interlocked.MemoryBarrier();
        _w.Write32(UsigRegisters.Doorbell, (tag << 8) | opcode);

        int spin = _spin;
        long start = 0;
        for (int i = 0; ; i++)
        {
            uint completion = _w.Read32(UsigRegisters.Completion); // acquire: outputs read afterwards are complete
            if (completion >> 8 == tag)
            {
                return completion & 0xFF;
            }

            if (i < spin)
            {
                Thread.SpinWait(1);
                continue;
            }

            long now = Stopwatch.GetTimestamp();
            if (start == 0)
            {
                start = now;
            }
            else if (now - start > _timeoutTicks)
            {
                _inDoubt = true;
                throw TimeoutError(what + $" tag 0x{tag:X6}");
            }

            if (now - start < _yieldTicks)
            {
                Thread.Yield();
            }
            else
            {
                Thread.Sleep(1);
            }
        }
    }

    /// <summary>After a timeout: wait for the outstanding command (or a power-cycle), then take the device's COUNTER
    /// as the last used value. Counters certified by the lost command are never handed out.</summary>
    private void Resync()
    {
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            uint completion = _w.Read32(UsigRegisters.Completion);
            uint doorbell = _w.Read32(UsigRegisters.Doorbell);
            if (completion >> 8 == doorbell >> 8 || _w.Read64(UsigRegisters.Epoch) != _epoch)
            {
                break;
            }

            if (Stopwatch.GetTimestamp() - start > _timeoutTicks)
            {
                throw TimeoutError("resynchronising after an earlier timeout: the outstanding command has not completed");
            }

            Thread.Sleep(1);
        }

        _tag = _w.Read32(UsigRegisters.Doorbell) >> 8;
        uint status = _w.Read32(UsigRegisters.Status);
        if ((status & UsigRegisters.StatusError) != 0)
        {
            _w.Write32(UsigRegisters.Control, UsigRegisters.ControlClearError);
        }

        _inDoubt = false;
        ulong epoch = _w.Read64(UsigRegisters.Epoch);
        if (epoch != _epoch)
        {
            AdoptEpoch(epoch);
        }

        ulong counter = _w.Read64(UsigRegisters.Counter);
        if (counter < _last)
        {
            throw Latch(new UsigNonMonotonicCounterException("COUNTER register on resync", _epoch, _last, epoch, counter, counter));
        }

        if (counter > _last)
        {
            _logger.LogWarning(
                "USIG device {Path}: counters {From}..{To} of epoch {Epoch} were certified by a command that timed out and are lost; receivers will see a gap.",
                _w.Path, _last + 1, counter, _epoch);
        }

        Volatile.Write(ref _last, counter);
    }

    /// <summary>Adopts a new epoch (power-cycle) and throws <see cref="UsigEpochChangedException"/>; an older epoch latches faulted.</summary>
    private void AdoptEpoch(ulong newEpoch)
    {
        ulong old = _epoch;
        ulong counter = _w.Read64(UsigRegisters.Counter);
        if (newEpoch < old)
        {
            throw Latch(new UsigNonMonotonicCounterException("epoch", old, _last, newEpoch, counter, counter));
        }

        Volatile.Write(ref _epoch, newEpoch);
        Volatile.Write(ref _last, counter);
        _logger.LogWarning("USIG device {Path}: epoch changed from {Old} to {New} (power-cycle); the replica must announce the new epoch.", _w.Path, old, newEpoch);
        throw new UsigEpochChangedException(old, newEpoch, counter);
    }

    private void CheckUi(ulong epoch, ulong counter, ReadOnlySpan<byte> digest, ReadOnlySpan<byte> proof, uint check)
    {
        uint computed = UsigIntegrity.Check(epoch, counter, digest, proof);
        if (computed != check)
        {
            throw Latch(new UsigProofInvalidException("CHECK mismatch", epoch, counter, check, computed, Convert.ToHexStringLower(proof)));
        }

        if (IsDegenerate(proof))
        {
            throw Latch(new UsigProofInvalidException("all-zero or all-ones proof", epoch, counter, check, computed, Convert.ToHexStringLower(proof)));
        }

        if (epoch != _epoch)
        {
            if (epoch < _epoch)
            {
                throw Latch(new UsigNonMonotonicCounterException("epoch", _epoch, _last, epoch, counter, _w.Read64(UsigRegisters.Counter)));
            }

            AdoptEpoch(epoch);
        }

        ulong expected = _last + 1;
        if (counter != expected)
        {
            ulong reg = _w.Read64(UsigRegisters.Counter);
            if (counter <= _last)
            {
                throw Latch(new UsigNonMonotonicCounterException("counter", _epoch, _last, epoch, counter, reg));
            }

            throw Latch(new UsigCounterGapException(_epoch, expected, counter, reg));
        }

        Volatile.Write(ref _last, counter);
    }

    private static bool IsDegenerate(ReadOnlySpan<byte> proof) =>
        !proof.ContainsAnyExcept((byte)0) || !proof.ContainsAnyExcept((byte)0xFF);

    private UsigDeviceException DeviceError(uint result)
    {
        uint code = _w.Read32(UsigRegisters.ErrorCode);
        uint status = _w.Read32(UsigRegisters.Status);
        uint completion = _w.Read32(UsigRegisters.Completion);
        _w.Write32(UsigRegisters.Control, UsigRegisters.ControlClearError);
        _inDoubt = true; // resynchronise the counter before the next command
        return new UsigDeviceErrorException(code != 0 ? code : result, status, completion);
    }

    private UsigDeviceException TimeoutError(string what)
    {
        uint status = _w.Read32(UsigRegisters.Status);
        uint doorbell = _w.Read32(UsigRegisters.Doorbell);
        uint completion = _w.Read32(UsigRegisters.Completion);
        return (status & UsigRegisters.StatusBusy) != 0
            ? new UsigStuckBusyException(what, status, doorbell, completion, _timeoutMs)
            : new UsigTimeoutException(what, status, doorbell, completion, _timeoutMs);
    }

    private uint WaitStatus(uint mask, uint value, string what)
    {
        long start = Stopwatch.GetTimestamp();
        while (true)
        {
            uint status = _w.Read32(UsigRegisters.Status);
            if ((status & mask) == value)
            {
                return status;
            }

            if (Stopwatch.GetTimestamp() - start > _timeoutTicks)
            {
                throw TimeoutError(what);
            }

            Thread.Sleep(1);
        }
    }

    private UsigDeviceException Latch(UsigDeviceException e)
    {
        _faulted ??= e;
        _logger.LogError("USIG device {Path} faulted: {Message}", _w.Path, e.Message);
        return e;
    }
}
