using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;

namespace FastBft.TrustedHw;

/// <summary>
/// Software USIG: the counter and the HMAC-SHA256 key live in the replica's own process.
/// Same interface and proof format as the device (Thesis §5.4.1; PROTOCOLS.md §2.4).
/// </summary>
/// <remarks>
/// <para><b>What it protects against:</b> equivocation caused by <i>bugs</i> in a replica whose process is
/// not under an attacker's control — the replica cannot accidentally certify two messages with one
/// counter, and receivers holding the key verify every UI.</para>
/// <para><b>What it does not protect against:</b> a compromised replica process. Such a process can read the
/// key from memory or from the key file, and then mint UIs for any id, epoch and counter — including
/// two different messages with the same counter (equivocation) and UIs in other replicas' names, because
/// the key is shared by all trusted instances. With the software fallback, MinBFT's 2f+1 bound rests on
/// the replica processes not being compromised. See docs/trusted-counter.md.</para>
/// <para>Thread safety: counters are taken with one <see cref="Interlocked.Add(ref ulong, ulong)"/> per call, so
/// concurrent callers receive disjoint, contiguous ranges and together exactly 1, 2, 3, … (no lock).</para>
/// </remarks>
public sealed class SoftwareUsig : IUsig
{
    private readonly UsigMac _mac;
    private ulong _lastCounter;

    /// <summary>Creates an instance with an in-memory key.</summary>
    /// <param name="id">Instance id (= replica id), an input of every proof.</param>
    /// <param name="key">Trusted key, 32..64 bytes; copied (and zeroed on <see cref="Dispose"/>).</param>
    /// <param name="epoch">Epoch of this instance; use a value larger than any earlier run's (see <see cref="DefaultEpoch"/>).</param>
    /// <param name="lastCounter">Counter value already used in this epoch (0 = none; the first UI gets lastCounter + 1).</param>
    /// <exception cref="ArgumentException">Bad key length.</exception>
    public SoftwareUsig(uint id, ReadOnlySpan<byte> key, ulong epoch, ulong lastCounter = 0)
    {
        _mac = new UsigMac(key);
        Id = id;
        Epoch = epoch;
        _lastCounter = lastCounter;
    }

    /// <summary>Creates an instance whose key is read from <paramref name="keyFile"/> (see <see cref="UsigKeyFile.Load"/>).</summary>
    /// <param name="id">Instance id (= replica id).</param>
    /// <param name="keyFile">Key file path; must not be readable by group or others on Unix.</param>
    /// <param name="epoch">Epoch, or null for <see cref="DefaultEpoch"/>.</param>
    /// <param name="allowInsecurePermissions">Warn instead of refusing a key file readable by group/others.</param>
    /// <param name="logger">Logger for warnings; may be null.</param>
    /// <exception cref="UsigKeyFileException">The key file is missing, malformed or too permissive.</exception>
    public static SoftwareUsig FromKeyFile(uint id, string keyFile, ulong? epoch = null, bool allowInsecurePermissions = false, ILogger? logger = null)
    {
        byte[] key = UsigKeyFile.Load(keyFile, allowInsecurePermissions, logger);
        try
        {
            return new SoftwareUsig(id, key, epoch ?? DefaultEpoch());
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>Default epoch for a software instance: the current Unix time in microseconds, so each restart starts
    /// a larger epoch unless the wall clock went backwards. A compromised process can pick any epoch anyway.</summary>
    public static ulong DefaultEpoch() => (ulong)((DateTime.UtcNow - DateTime.UnixEpoch).Ticks / 10);

    /// <inheritdoc />
    public uint Id { get; }

    /// <inheritdoc />
    public ulong Epoch { get; }

    /// <summary>The last counter value handed out (0 before the first UI).</summary>
    public ulong LastCounter => Volatile.Read(ref _lastCounter);

    /// <inheritdoc />
    public UniqueIdentifier CreateUI(ReadOnlySpan<byte> digest)
    {
        UsigProofLayout.CheckDigest(digest);
        ulong counter = Interlocked.Increment(ref _lastCounter);
        Span<byte> proof = stackalloc byte[UniqueIdentifier.ProofSize];
        _mac.Compute(Id, Epoch, counter, digest, proof);
        return new UniqueIdentifier(Epoch, counter, proof);
    }

    /// <inheritdoc />
    public int CreateUIs(ReadOnlySpan<byte> digests, Span<UniqueIdentifier> output)
    {
        int n = UsigBatch.Count(digests, output.Length);
        if (n == 0)
        {
            return 0;
        }

        // One atomic add reserves the whole range c..c+n-1 for this caller: consecutive, never shared.
        ulong first = Interlocked.Add(ref _lastCounter, (ulong)n) - (ulong)n + 1;
        Span<byte> proof = stackalloc byte[UniqueIdentifier.ProofSize];
        System.Security.Cryptography.IncrementalHash h = _mac.Rent();
        for (int i = 0; i < n; i++)
        {
            ReadOnlySpan<byte> digest = digests.Slice(i * UsigProofLayout.DigestSize, UsigProofLayout.DigestSize);
            ulong counter = first + (ulong)i;
            UsigMac.Compute(h, Id, Epoch, counter, digest, proof);
            output[i] = new UniqueIdentifier(Epoch, counter, proof);
        }

        _mac.Return(h);
        return n;
    }

    /// <inheritdoc />
    public bool VerifyUI(uint replicaId, ReadOnlySpan<byte> digest, in UniqueIdentifier ui)
    {
        UsigProofLayout.CheckDigest(digest);
        return ui.Counter != 0 && _mac.Verify(replicaId, ui.Epoch, ui.Counter, digest, ui.Proof);
    }

    /// <inheritdoc />
    /// <remarks>k HMAC-SHA256 computations with one rented context, constant-time compares, no allocation.</remarks>
    public int VerifyUIs(ReadOnlySpan<uint> replicaIds, ReadOnlySpan<byte> digests, ReadOnlySpan<UniqueIdentifier> uis, Span<bool> results)
    {
        int k = UsigBatch.CountVerify(replicaIds.Length, digests, uis.Length, results.Length);
        if (k == 0)
        {
            return 0;
        }

        Span<byte> expected = stackalloc byte[UniqueIdentifier.ProofSize];
        System.Security.Cryptography.IncrementalHash h = _mac.Rent();
        int valid = 0;
        try
        {
            for (int i = 0; i < k; i++)
            {
                ref readonly UniqueIdentifier ui = ref uis[i];
                bool ok = false;
                if (ui.Counter != 0)
                {
                    UsigMac.Compute(h, replicaIds[i], ui.Epoch, ui.Counter, digests.Slice(i * UsigProofLayout.DigestSize, UsigProofLayout.DigestSize), expected);
                    ok = CryptographicOperations.FixedTimeEquals(expected, ui.Proof);
                }

                results[i] = ok;
                valid += ok ? 1 : 0;
            }
        }
        catch
        {
            results[..k].Clear();
            throw;
        }
        finally
        {
            _mac.Return(h);
        }

        return valid;
    }

    /// <summary>Zeroes the key copy and releases the HMAC contexts.</summary>
    public void Dispose() => _mac.Dispose();
}

/// <summary>Argument checks shared by the batched paths.</summary>
internal static class UsigBatch
{
    public static int Count(ReadOnlySpan<byte> digests, int outputLength)
    {
        if (digests.Length % UsigProofLayout.DigestSize != 0)
        {
            throw new ArgumentException($"Batched digests must be N×{UsigProofLayout.DigestSize} bytes; got {digests.Length}.", nameof(digests));
        }

        int n = digests.Length / UsigProofLayout.DigestSize;
        if (outputLength < n)
        {
            throw new ArgumentException($"Output holds {outputLength} UIs but {n} digests were given.", "output");
        }

        return n;
    }

    /// <summary>Argument checks of <see cref="IUsig.VerifyUIs"/>: returns k.</summary>
    public static int CountVerify(int ids, ReadOnlySpan<byte> digests, int uis, int resultsLength)
    {
        if (digests.Length != uis * UsigProofLayout.DigestSize)
        {
            throw new ArgumentException($"Batched digests must be k×{UsigProofLayout.DigestSize} bytes for k = {uis} UIs; got {digests.Length}.", nameof(digests));
        }

        if (ids != uis)
        {
            throw new ArgumentException($"{uis} UIs need {uis} replica ids; got {ids}.", "replicaIds");
        }

        if (resultsLength < uis)
        {
            throw new ArgumentException($"Results hold {resultsLength} verdicts but {uis} UIs were given.", "results");
        }

        return uis;
    }
}

/// <summary>Loads the shared trusted USIG key from a file.</summary>
public static class UsigKeyFile
{
    /// <summary>
    /// Reads a key file: either 64 hexadecimal characters (optionally surrounded by whitespace) = a 32-byte key,
    /// or 32..64 raw bytes. On Unix the file must not be readable, writable or executable by group or others
    /// (mode 0600 or 0400); otherwise it is refused, or with <paramref name="allowInsecurePermissions"/> a warning is logged.
    /// </summary>
    /// <param name="path">Key file path.</param>
    /// <param name="allowInsecurePermissions">Log a warning instead of refusing a too-permissive file.</param>
    /// <param name="logger">Logger; may be null.</param>
    /// <returns>The key bytes (the caller should zero them after use).</returns>
    /// <exception cref="UsigKeyFileException">Missing, unreadable, malformed or too permissive.</exception>
    public static byte[] Load(string path, bool allowInsecurePermissions = false, ILogger? logger = null)
    {
        if (!File.Exists(path))
        {
            throw new UsigKeyFileException(path, "file not found (setting usig.key_file).");
        }

        if (!OperatingSystem.IsWindows())
        {
            UnixFileMode mode = File.GetUnixFileMode(path);
            const UnixFileMode groupOrOther =
                UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
                UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
            if ((mode & groupOrOther) != 0)
            {
                string text = $"mode {Convert.ToString((int)mode, 8).PadLeft(4, '0')} gives group/others access; run 'chmod 600 {path}'.";
                if (!allowInsecurePermissions)
                {
                    throw new UsigKeyFileException(path, text);
                }

                logger?.LogWarning("USIG key file {Path}: {Problem} Continuing because insecure permissions are allowed.", path, text);
            }
        }

        byte[] raw;
        try
        {
            raw = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsigKeyFileException(path, "cannot be read: " + e.Message, e);
        }

        try
        {
            string trimmed = Encoding.ASCII.GetString(raw).Trim();
            if (trimmed.Length == 2 * UsigProofLayout.MinKeySize && IsHex(trimmed))
            {
                return Convert.FromHexString(trimmed);
            }

            if (raw.Length < UsigProofLayout.MinKeySize || raw.Length > UsigProofLayout.MaxKeySize)
            {
                throw new UsigKeyFileException(path, $"expected 64 hex characters or {UsigProofLayout.MinKeySize}..{UsigProofLayout.MaxKeySize} raw bytes; found {raw.Length} bytes.");
            }

            return (byte[])raw.Clone();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(raw);
        }
    }

    private static bool IsHex(string s)
    {
        foreach (char c in s)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
