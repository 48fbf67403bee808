using System.Runtime.InteropServices;
using System.Text;

namespace FastBft.Transport.Dpdk;

/// <summary>
/// The process-wide DPDK environment (EAL). EAL can be initialised once per process; every
/// <see cref="DpdkLink"/> in the process shares it.
/// </summary>
public static unsafe class DpdkEnvironment
{
    /// <summary>The fix printed when the native shim or DPDK is missing.</summary>
    public const string InstallHint = "install libdpdk-dev dpdk, or run .ci/install-dpdk.sh (then rebuild so libfastbft_dpdk.so is copied next to the assembly)";

    private static readonly Lock Gate = new();
    private static string[]? _args;

    /// <summary>True once EAL is initialised in this process.</summary>
    public static bool IsInitialized => _args is not null;

    /// <summary>The EAL arguments in use (argv[0] excluded), or null.</summary>
    public static IReadOnlyList<string>? Arguments => _args;

    /// <summary>
    /// Checks that libfastbft_dpdk.so and the DPDK libraries load, without initialising EAL.
    /// Returns null when they do, else the reason (with the fix).
    /// </summary>
    public static string? ProbeNativeLibrary()
    {
        try
        {
            int abi = Native.AbiVersionOf();
            return abi == Native.AbiVersion ? null : $"libfastbft_dpdk.so has ABI {abi}, expected {Native.AbiVersion}: rebuild native/ (.ci/install-dpdk.sh)";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            return $"DPDK is not available ({e.GetType().Name}: {e.Message.Split('\n')[0]}): {InstallHint}";
        }
    }

    /// <summary>
    /// Initialises EAL with <paramref name="ealArgs"/> (argv[0] is added) unless it already is; then the
    /// arguments of the first call stay in force. Restores the calling thread's CPU affinity afterwards.
    /// </summary>
    /// <exception cref="DpdkException">DPDK missing (<see cref="DpdkFailure.NotInstalled"/>), lacking
    /// permission (<see cref="DpdkFailure.Permission"/>) or another EAL failure; the message names the fix.</exception>
    public static void EnsureInitialized(IReadOnlyList<string> ealArgs)
    {
        lock (Gate)
        {
            if (_args is not null) return;
            if (ProbeNativeLibrary() is { } missing) throw new DpdkException(DpdkFailure.NotInstalled, missing);
            var argv = new List<string> { "fastbft" };
            argv.AddRange(ealArgs);
            int n = argv.Count;
            var ptrs = (byte**)NativeMemory.AllocZeroed((nuint)(n + 1), (nuint)sizeof(nint));
            const int errLen = 512;
            byte* err = stackalloc byte[errLen];
            err[0] = 0;
            int rc;
            try
            {
                for (int i = 0; i < n; i++) ptrs[i] = (byte*)Marshal.StringToCoTaskMemUTF8(argv[i]);
                rc = Native.EalInit(n, ptrs, 1, err, errLen);
            }
            finally
            {
                // The shim copied argv into memory it keeps; ours can go.
                for (int i = 0; i < n; i++) Marshal.FreeCoTaskMem((nint)ptrs[i]);
                NativeMemory.Free(ptrs);
            }
            if (rc < 0)
            {
                string detail = Marshal.PtrToStringUTF8((nint)err) ?? "";
                string args = string.Join(' ', ealArgs);
                int errno = -rc;
                if (errno is 1 or 13) // EPERM, EACCES
                    throw new DpdkException(DpdkFailure.Permission,
                        $"DPDK EAL init lacks permission ({detail}; args: {args}). Fix: run as root or with CAP_NET_ADMIN/CAP_NET_RAW/CAP_IPC_LOCK; " +
                        "with --no-huge and net_memif it runs unprivileged when XDG_RUNTIME_DIR (or /var/run/dpdk) is writable.", rc);
                string hint = errno switch
                {
                    114 => "EAL was already initialised in this process",
                    12 => "not enough memory: lower -m or add hugepages",
                    _ when detail.Contains("lock", StringComparison.OrdinalIgnoreCase) =>
                        "the --file-prefix is in use by a running process: use a unique --file-prefix",
                    _ => "check the EAL arguments (DPDK's log above names the bad one); e.g. --no-huge -m 256 --no-pci --file-prefix=<unique>",
                };
                throw new DpdkException(DpdkFailure.EalInit, $"DPDK EAL init failed: {detail}; args: {args}. Fix: {hint}.", rc);
            }
            _args = ealArgs.ToArray();
        }
    }

    /// <summary>Releases EAL resources (rte_eal_cleanup). EAL cannot be initialised again in this process.
    /// Close every link first.</summary>
    public static void Cleanup()
    {
        lock (Gate)
        {
            if (_args is null) return;
            Native.EalCleanup();
        }
    }

    internal static string ReadCString(byte* p, int max)
    {
        int len = 0;
        while (len < max && p[len] != 0) len++;
        return Encoding.UTF8.GetString(p, len);
    }
}
