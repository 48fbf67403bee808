using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;

namespace FastBft.TrustedHw;

/// <summary>
/// A memory-mapped register window (BAR0 of the device, or the model's backing file), with volatile
/// 32/64-bit accessors. Volatile.Read has acquire and Volatile.Write release semantics; callers add
/// <see cref="Interlocked.MemoryBarrier"/> where a full fence is required (before a doorbell write).
/// Used by the driver and, through its own separate mapping of the same file, by the device model.
/// </summary>
internal sealed unsafe class RegisterWindow : IDisposable
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private byte* _base;

    private RegisterWindow(MemoryMappedFile file, MemoryMappedViewAccessor view, long length, string path)
    {
        _file = file;
        _view = view;
        Length = length;
        Path = path;
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + _view.PointerOffset;
    }

    public long Length { get; }

    public string Path { get; }

    /// <summary>Maps an existing file (sysfs resource0, UIO/VFIO region, or the model's file) read/write.</summary>
    /// <param name="path">Path of the file to map.</param>
    /// <param name="minLength">Minimum window length; if the file reports a smaller size (character devices report 0), this length is mapped.</param>
    public static RegisterWindow Open(string path, long minLength)
    {
        var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        long length = fs.Length;
        bool regular = length > 0;
        if (regular && length < minLength)
        {
            fs.Dispose();
            throw new UsigDeviceException($"USIG device at '{path}': window is {length} bytes, the register map needs {minLength} (0x{minLength:X}).");
        }

        long mapLength = regular ? length : minLength;
        MemoryMappedFile mmf;
        try
        {
            mmf = MemoryMappedFile.CreateFromFile(fs, null, regular ? 0 : mapLength, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
        }
        catch
        {
            fs.Dispose();
            throw;
        }

        MemoryMappedViewAccessor view = mmf.CreateViewAccessor(0, mapLength, MemoryMappedFileAccess.ReadWrite);
        return new RegisterWindow(mmf, view, mapLength, path);
    }

    /// <summary>Creates (or truncates) a regular file of <paramref name="length"/> zero bytes and maps it.</summary>
    public static RegisterWindow Create(string path, long length)
    {
        var fs = new FileStream(path, FileMode.Create, FileAccess.ReadWrite, FileShare.ReadWrite);
        fs.SetLength(length);
        MemoryMappedFile mmf = MemoryMappedFile.CreateFromFile(fs, null, length, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
        MemoryMappedViewAccessor view = mmf.CreateViewAccessor(0, length, MemoryMappedFileAccess.ReadWrite);
        return new RegisterWindow(mmf, view, length, path);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Read32(int offset) => Volatile.Read(ref Unsafe.AsRef<uint>(_base + offset));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Read64(int offset) => Volatile.Read(ref Unsafe.AsRef<ulong>(_base + offset));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write32(int offset, uint value) => Volatile.Write(ref Unsafe.AsRef<uint>(_base + offset), value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write64(int offset, ulong value) => Volatile.Write(ref Unsafe.AsRef<ulong>(_base + offset), value);

    /// <summary>A span over a block of the window (plain, non-volatile accesses; order them with the volatile
    /// register accesses / fences around them).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<byte> Block(int offset, int length) => new(_base + offset, length);

    public void Dispose()
    {
        if (_base != null)
        {
            _base = null;
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
        }

        _view.Dispose();
        _file.Dispose();
    }
}
