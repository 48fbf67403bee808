using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace FastBft.Transport;

/// <summary>
/// Batched UDP receive for Linux: one <c>recvmmsg(2)</c> system call takes up to
/// <see cref="Capacity"/> datagrams with their source addresses, instead of one <c>recvfrom</c>
/// plus one <c>ioctl(FIONREAD)</c> per datagram. Buffers are pinned and reused (no allocation per
/// call). Used by <see cref="UdpLink"/> when available; <see cref="TryCreate"/> returns null where
/// the call does not exist (non-Linux), and the link keeps its portable path.
/// </summary>
internal sealed unsafe partial class LinuxBatchReceiver : IDisposable
{
    private const int MsgDontWait = 0x40;
    private const int MsgTrunc = 0x20;
    private const int Eagain = 11;
    private const int SockaddrSize = 28;   // room for sockaddr_in6; IPv4 uses 16

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec { public void* Base; public nuint Length; }

    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name; public uint NameLength; public IoVec* Iov; public nuint IovLength;
        public void* Control; public nuint ControlLength; public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MMsgHdr { public MsgHdr Header; public uint Length; }

    [LibraryImport("libc", EntryPoint = "recvmmsg", SetLastError = true)]
    private static partial int RecvMMsg(int fd, MMsgHdr* messages, uint count, int flags, void* timeout);

    private readonly int _slotSize;
    private readonly byte[] _data;          // Capacity × slotSize, pinned
    private readonly byte[] _names;         // Capacity × SockaddrSize, pinned
    private readonly MMsgHdr* _headers;
    private readonly IoVec* _iovs;
    private bool _disposed;

    /// <summary>Datagrams per system call.</summary>
    public int Capacity { get; }

    private LinuxBatchReceiver(int capacity, int slotSize)
    {
        Capacity = capacity;
        _slotSize = slotSize;
        _data = GC.AllocateUninitializedArray<byte>(capacity * slotSize, pinned: true);
        _names = GC.AllocateArray<byte>(capacity * SockaddrSize, pinned: true);
        _headers = (MMsgHdr*)NativeMemory.AllocZeroed((nuint)(capacity * sizeof(MMsgHdr)));
        _iovs = (IoVec*)NativeMemory.AllocZeroed((nuint)(capacity * sizeof(IoVec)));
        for (int i = 0; i < capacity; i++)
        {
            _iovs[i].Base = (byte*)Marshal.UnsafeAddrOfPinnedArrayElement(_data, i * slotSize);
            _iovs[i].Length = (nuint)slotSize;
        }
    }

    /// <summary>
    /// A receiver for <paramref name="capacity"/> datagrams of up to <paramref name="slotSize"/>
    /// bytes each (a longer datagram is reported truncated and dropped), or null if recvmmsg is not
    /// available on this platform.
    /// </summary>
    public static LinuxBatchReceiver? TryCreate(int capacity, int slotSize)
    {
        if (!OperatingSystem.IsLinux()) return null;
        return new LinuxBatchReceiver(capacity, slotSize);
    }

    /// <summary>Result of one batched receive.</summary>
    public enum Outcome { Received, WouldBlock, Unsupported, Error }

    /// <summary>
    /// Receives up to <see cref="Capacity"/> datagrams without blocking. On
    /// <see cref="Outcome.Received"/>, <paramref name="count"/> datagrams are available through
    /// <see cref="Datagram"/>, <see cref="IsTruncated"/> and <see cref="CopySource"/> until the next call.
    /// </summary>
    public Outcome Receive(Socket socket, out int count)
    {
        count = 0;
        int fd = (int)socket.SafeHandle.DangerousGetHandle();
        for (int i = 0; i < Capacity; i++)
        {
            ref var h = ref _headers[i].Header;
            h.Name = (byte*)Marshal.UnsafeAddrOfPinnedArrayElement(_names, i * SockaddrSize);
            h.NameLength = SockaddrSize;
            h.Iov = &_iovs[i];
            h.IovLength = 1;
            h.Control = null; h.ControlLength = 0; h.Flags = 0;
            _headers[i].Length = 0;
        }
        int n;
        try
        {
            n = RecvMMsg(fd, _headers, (uint)Capacity, MsgDontWait, null);
        }
        catch (EntryPointNotFoundException) { return Outcome.Unsupported; }
        catch (DllNotFoundException) { return Outcome.Unsupported; }
        if (n < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Eagain) return Outcome.WouldBlock;
            if (errno == 38 /* ENOSYS */) return Outcome.Unsupported;
            return Outcome.Error;
        }
        count = n;
        return Outcome.Received;
    }

    /// <summary>The i-th received datagram (lent until the next <see cref="Receive"/>).</summary>
    public ReadOnlySpan<byte> Datagram(int i) => new(_data, i * _slotSize, (int)Math.Min(_headers[i].Length, (uint)_slotSize));

    /// <summary>True if the i-th datagram was longer than the slot (MSG_TRUNC).</summary>
    public bool IsTruncated(int i) => (_headers[i].Header.Flags & MsgTrunc) != 0 || _headers[i].Length > (uint)_slotSize;

    /// <summary>Copies the i-th datagram's source address (native sockaddr bytes) into <paramref name="address"/>.</summary>
    public void CopySource(int i, SocketAddress address)
    {
        int len = (int)Math.Min(_headers[i].Header.NameLength, (uint)Math.Min(SockaddrSize, address.Buffer.Length));
        _names.AsSpan(i * SockaddrSize, len).CopyTo(address.Buffer.Span);
        address.Size = len;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        NativeMemory.Free(_headers);
        NativeMemory.Free(_iovs);
    }
}
