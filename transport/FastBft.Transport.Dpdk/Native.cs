using System.Runtime.InteropServices;

namespace FastBft.Transport.Dpdk;

/// <summary>P/Invoke bindings of native/fastbft_dpdk.h (libfastbft_dpdk.so).</summary>
internal static unsafe partial class Native
{
    public const string Lib = "fastbft_dpdk";
    public const int AbiVersion = 2;

    public const uint RxIpCksumGood = 0x0001, RxIpCksumBad = 0x0002, RxL4CksumGood = 0x0004, RxL4CksumBad = 0x0008, RxMultiSeg = 0x0010;
    public const uint CapTxIpv4Cksum = 0x0001, CapTxUdpCksum = 0x0002, CapRxIpv4Cksum = 0x0004, CapRxUdpCksum = 0x0008, CapRxIntr = 0x0010;
    public const uint TxCksumOffload = 0x0001;

    [StructLayout(LayoutKind.Sequential)]
    public struct PortConf
    {
        public uint NbMbufs;
        public uint DataRoom;
        public ushort RxDesc;
        public ushort TxDesc;
        public ushort Mtu;
        public ushort WantRxIntr;
        public ushort WantOffload;
        public ushort Promiscuous;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PortInfo
    {
        public ushort PortId;
        public fixed byte Mac[6];
        public uint Caps;
        public uint MaxRxPktLen;
        public uint TxCapacity;
        public fixed byte Driver[32];
    }

    [LibraryImport(Lib, EntryPoint = "fbd_abi_version")]
    public static partial int AbiVersionOf();

    [LibraryImport(Lib, EntryPoint = "fbd_eal_init")]
    public static partial int EalInit(int argc, byte** argv, int restoreAffinity, byte* err, int errlen);

    [LibraryImport(Lib, EntryPoint = "fbd_eal_cleanup")]
    public static partial int EalCleanup();

    [LibraryImport(Lib, EntryPoint = "fbd_thread_register")]
    public static partial int ThreadRegister();

    [LibraryImport(Lib, EntryPoint = "fbd_pin_thread")]
    public static partial int PinThread(int cpu);

    [LibraryImport(Lib, EntryPoint = "fbd_port_open")]
    public static partial int PortOpen(byte* device, PortConf* conf, PortInfo* info, byte* err, int errlen);

    [LibraryImport(Lib, EntryPoint = "fbd_port_close")]
    public static partial int PortClose(ushort port);

    [LibraryImport(Lib, EntryPoint = "fbd_rx_burst")]
    public static partial int RxBurst(ushort port, nint* mbufs, byte** data, uint* lenflags, int n, int timeoutMs);

    [LibraryImport(Lib, EntryPoint = "fbd_free_bulk")]
    public static partial void FreeBulk(nint* mbufs, int n);

    [LibraryImport(Lib, EntryPoint = "fbd_tx_alloc")]
    public static partial int TxAlloc(ushort port, nint* mbufs, byte** data, int n);

    [LibraryImport(Lib, EntryPoint = "fbd_tx_send")]
    public static partial int TxSend(ushort port, nint* mbufs, ushort* lens, int n, uint flags);

    [LibraryImport(Lib, EntryPoint = "fbd_link")]
    public static partial int Link(ushort port, int* up, uint* speedMbps);

    [LibraryImport(Lib, EntryPoint = "fbd_stats")]
    public static partial int Stats(ushort port, ulong* counters);

    [LibraryImport(Lib, EntryPoint = "fbd_strerror")]
    public static partial byte* StrError(int err);

    [StructLayout(LayoutKind.Sequential)]
    public struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    /// <summary>libc nanosleep, for sub-millisecond back-off (Thread.Sleep has 1 ms granularity).</summary>
    [LibraryImport("libc", EntryPoint = "nanosleep")]
    public static partial int NanoSleep(TimeSpec* req, TimeSpec* rem);

    [LibraryImport(Lib, EntryPoint = "fbd_futex_wait")]
    public static partial int FutexWait(int* word, int expected, long timeoutUs);

    [LibraryImport(Lib, EntryPoint = "fbd_futex_wake")]
    public static partial int FutexWake(int* word);

    public static string ErrorText(int rc)
    {
        try
        {
            return Marshal.PtrToStringUTF8((nint)StrError(rc)) ?? $"error {rc}";
        }
        catch (Exception)
        {
            return $"error {rc}";
        }
    }
}
