namespace FastBft.TrustedHw;

/// <summary>Base class of every error raised by the trusted-counter layer.</summary>
public class UsigException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    public UsigException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    public UsigException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>Bad or contradictory <c>usig</c> configuration; the message names the setting (e.g. <c>usig.require_hardware</c>).</summary>
public sealed class UsigConfigurationException : UsigException
{
    /// <summary>Creates the exception; <paramref name="setting"/> is the configuration key at fault.</summary>
    public UsigConfigurationException(string setting, string message, Exception? inner = null)
        : base($"{setting}: {message}", inner) => Setting = setting;

    /// <summary>The configuration key at fault, e.g. <c>usig.key_file</c>.</summary>
    public string Setting { get; }
}

/// <summary>The key file is missing, unreadable, malformed or readable by group/others.</summary>
public sealed class UsigKeyFileException : UsigException
{
    /// <summary>Creates the exception.</summary>
    public UsigKeyFileException(string path, string message, Exception? inner = null)
        : base($"USIG key file '{path}': {message}", inner) => Path = path;

    /// <summary>Path of the key file.</summary>
    public string Path { get; }
}

/// <summary>Base class of errors reported by, or detected in, a USIG device (real FPGA or the model).
/// Messages always include the relevant register values in hex. Documented in docs/trusted-counter-registers.md §6.</summary>
public class UsigDeviceException : UsigException
{
    /// <summary>Creates the exception.</summary>
    public UsigDeviceException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>The MAGIC register (offset 0x000) does not hold 0x47495355 ("USIG"): wrong file, wrong BAR, or the device is absent.</summary>
public sealed class UsigBadMagicException : UsigDeviceException
{
    /// <summary>Creates the exception for the magic value read.</summary>
    public UsigBadMagicException(uint magic, string path)
        : base($"USIG device at '{path}': MAGIC=0x{magic:X8}, expected 0x{UsigRegisters.MagicValue:X8} (\"USIG\"). Wrong device path or BAR?") => Magic = magic;

    /// <summary>Value read from MAGIC.</summary>
    public uint Magic { get; }
}

/// <summary>The VERSION register's major version (bits 31:16) is not the one this driver speaks.</summary>
public sealed class UsigVersionMismatchException : UsigDeviceException
{
    /// <summary>Creates the exception for the version value read.</summary>
    public UsigVersionMismatchException(uint version, string path)
        : base($"USIG device at '{path}': VERSION=0x{version:X8} (major {version >> 16}, minor {version & 0xFFFF}); this driver supports major {UsigRegisters.SupportedMajorVersion}.") => Version = version;

    /// <summary>Value read from VERSION.</summary>
    public uint Version { get; }
}

/// <summary>STATUS.BUSY stayed set for longer than the timeout.</summary>
public sealed class UsigStuckBusyException : UsigDeviceException
{
    /// <summary>Creates the exception with the register snapshot.</summary>
    public UsigStuckBusyException(string detail, uint status, uint doorbell, uint completion, int timeoutMs)
        : base($"USIG device stuck busy ({detail}): STATUS=0x{status:X8} (BUSY set) DOORBELL=0x{doorbell:X8} COMPLETION=0x{completion:X8} after {timeoutMs} ms.")
    {
        Status = status;
        Doorbell = doorbell;
        Completion = completion;
    }

    /// <summary>STATUS register value.</summary>
    public uint Status { get; }

    /// <summary>DOORBELL register value (last command word written).</summary>
    public uint Doorbell { get; }

    /// <summary>COMPLETION register value (last command word completed).</summary>
    public uint Completion { get; }
}

/// <summary>The device did not complete a command within the timeout while BUSY was clear (it never picked the command up).</summary>
public sealed class UsigTimeoutException : UsigDeviceException
{
    /// <summary>Creates the exception with the register snapshot.</summary>
    public UsigTimeoutException(string detail, uint status, uint doorbell, uint completion, int timeoutMs)
        : base($"USIG device timeout ({detail}): no completion after {timeoutMs} ms; STATUS=0x{status:X8} DOORBELL=0x{doorbell:X8} COMPLETION=0x{completion:X8}.")
    {
        Status = status;
        Doorbell = doorbell;
        Completion = completion;
    }

    /// <summary>STATUS register value.</summary>
    public uint Status { get; }

    /// <summary>DOORBELL register value.</summary>
    public uint Doorbell { get; }

    /// <summary>COMPLETION register value.</summary>
    public uint Completion { get; }
}

/// <summary>The device returned a counter larger than last+1: values were skipped. The UI is not returned; the driver latches faulted.</summary>
public sealed class UsigCounterGapException : UsigDeviceException
{
    /// <summary>Creates the exception.</summary>
    public UsigCounterGapException(ulong epoch, ulong expected, ulong actual, ulong counterRegister)
        : base($"USIG device counter gap: epoch {epoch} expected counter {expected} (0x{expected:X16}), device returned {actual} (0x{actual:X16}); COUNTER register=0x{counterRegister:X16}.")
    {
        Expected = expected;
        Actual = actual;
    }

    /// <summary>The counter the driver expected (last + 1).</summary>
    public ulong Expected { get; }

    /// <summary>The counter the device returned.</summary>
    public ulong Actual { get; }
}

/// <summary>The device returned a counter ≤ the last one (reuse or rollback), or an epoch lower than the current one.
/// The UI is not returned; the driver latches faulted.</summary>
public sealed class UsigNonMonotonicCounterException : UsigDeviceException
{
    /// <summary>Creates the exception.</summary>
    public UsigNonMonotonicCounterException(string what, ulong epoch, ulong last, ulong actualEpoch, ulong actual, ulong counterRegister)
        : base($"USIG device non-monotonic {what}: last UI (epoch {epoch}, counter {last}) then device returned (epoch {actualEpoch}, counter {actual}); COUNTER register=0x{counterRegister:X16}.")
    {
        LastCounter = last;
        Actual = actual;
    }

    /// <summary>The last counter the driver handed out.</summary>
    public ulong LastCounter { get; }

    /// <summary>The counter the device returned.</summary>
    public ulong Actual { get; }
}

/// <summary>A returned proof failed the integrity check (CRC-32C CHECK field mismatch, or an all-zero / all-ones proof).
/// The UI is not returned; the driver latches faulted.</summary>
public sealed class UsigProofInvalidException : UsigDeviceException
{
    /// <summary>Creates the exception.</summary>
    public UsigProofInvalidException(string detail, ulong epoch, ulong counter, uint checkRegister, uint checkComputed, string proofHex)
        : base($"USIG device proof invalid ({detail}): epoch {epoch} counter {counter} CHECK=0x{checkRegister:X8} computed=0x{checkComputed:X8} proof={proofHex}.")
    {
        CheckRegister = checkRegister;
        CheckComputed = checkComputed;
    }

    /// <summary>CHECK value read from the device.</summary>
    public uint CheckRegister { get; }

    /// <summary>CHECK value the driver computed over what it read.</summary>
    public uint CheckComputed { get; }
}

/// <summary>The device's epoch changed (power-cycle). Thrown once; the UI(s) of that call are not returned, the driver
/// adopts the new epoch and later calls succeed in it. The replica must announce the new epoch to the others through
/// the protocol (receivers only accept it via <see cref="CounterOrderBuffer{TMessage}.AcceptEpoch"/>).</summary>
public sealed class UsigEpochChangedException : UsigDeviceException
{
    /// <summary>Creates the exception.</summary>
    public UsigEpochChangedException(ulong oldEpoch, ulong newEpoch, ulong counterRegister)
        : base($"USIG device epoch changed (power-cycle?): EPOCH was 0x{oldEpoch:X16} ({oldEpoch}), now 0x{newEpoch:X16} ({newEpoch}); COUNTER register=0x{counterRegister:X16}.")
    {
        OldEpoch = oldEpoch;
        NewEpoch = newEpoch;
    }

    /// <summary>Epoch before the change.</summary>
    public ulong OldEpoch { get; }

    /// <summary>Epoch after the change.</summary>
    public ulong NewEpoch { get; }
}

/// <summary>The device reported an error code in COMPLETION/ERROR_CODE (see docs/trusted-counter-registers.md §6).</summary>
public sealed class UsigDeviceErrorException : UsigDeviceException
{
    /// <summary>Creates the exception.</summary>
    public UsigDeviceErrorException(uint errorCode, uint status, uint completion)
        : base($"USIG device error: ERROR_CODE=0x{errorCode:X8} ({UsigRegisters.DescribeError(errorCode)}) STATUS=0x{status:X8} COMPLETION=0x{completion:X8}.") => ErrorCode = errorCode;

    /// <summary>ERROR_CODE register value.</summary>
    public uint ErrorCode { get; }
}

/// <summary>The driver latched faulted after an integrity violation (gap, non-monotonic counter, invalid proof):
/// the device broke the trusted-component assumption and is treated as crashed. <see cref="Exception.InnerException"/> is the first error.</summary>
public sealed class UsigDeviceFaultedException : UsigDeviceException
{
    /// <summary>Creates the exception wrapping the first error.</summary>
    public UsigDeviceFaultedException(Exception first)
        : base($"USIG device driver is faulted since: {first.Message} Reopen the device after servicing it.", first) { }
}
