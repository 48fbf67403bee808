using System.Buffers.Binary;
using System.Security.Cryptography;

namespace FastBft.TrustedHw;

/// <summary>
/// The fixed input layout of a USIG proof, shared by <see cref="SoftwareUsig"/> and the device
/// (and its model): <c>proof = HMAC-SHA256(trusted key, id u32 LE ‖ epoch u64 LE ‖ counter u64 LE ‖ digest[32])</c>,
/// a 52-byte MAC input. Seed: Thesis §5.4.1 ("a hash-based message authentication code over m, id_MCS, c"),
/// PROTOCOLS.md §2.4; the epoch is FastBft's addition so counters may restart after a power-up.
/// </summary>
public static class UsigProofLayout
{
    /// <summary>Size in bytes of the message digest a UI certifies (32: SHA-256 of the message).</summary>
    public const int DigestSize = 32;

    /// <summary>Size in bytes of the MAC input: 4 (id) + 8 (epoch) + 8 (counter) + 32 (digest) = 52.</summary>
    public const int MacInputSize = 4 + 8 + 8 + DigestSize;

    /// <summary>Minimum trusted-key length in bytes (32).</summary>
    public const int MinKeySize = 32;

    /// <summary>Maximum trusted-key length in bytes (64, the SHA-256 block size; longer keys would be hashed by HMAC).</summary>
    public const int MaxKeySize = 64;

    /// <summary>Writes the 52-byte MAC input <c>id ‖ epoch ‖ counter ‖ digest</c> (integers little-endian).</summary>
    /// <param name="destination">At least <see cref="MacInputSize"/> bytes.</param>
    /// <param name="instanceId">Id of the certifying USIG instance (= replica id).</param>
    /// <param name="epoch">Epoch of the instance.</param>
    /// <param name="counter">Counter value.</param>
    /// <param name="digest">Exactly <see cref="DigestSize"/> bytes.</param>
    /// <exception cref="ArgumentException">Wrong span lengths.</exception>
    public static void WriteMacInput(Span<byte> destination, uint instanceId, ulong epoch, ulong counter, ReadOnlySpan<byte> digest)
    {
        if (destination.Length < MacInputSize)
        {
            throw new ArgumentException($"Need {MacInputSize} bytes; got {destination.Length}.", nameof(destination));
        }

        CheckDigest(digest);
        BinaryPrimitives.WriteUInt32LittleEndian(destination, instanceId);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[4..], epoch);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[12..], counter);
        digest.CopyTo(destination[20..]);
    }

    /// <summary>Throws unless <paramref name="digest"/> is exactly 32 bytes.</summary>
    /// <exception cref="ArgumentException">The digest is not 32 bytes.</exception>
    internal static void CheckDigest(ReadOnlySpan<byte> digest)
    {
        if (digest.Length != DigestSize)
        {
            throw new ArgumentException($"A USIG digest is exactly {DigestSize} bytes (SHA-256); got {digest.Length}.", nameof(digest));
        }
    }

    /// <summary>Throws unless the key length is within [32, 64] bytes.</summary>
    /// <exception cref="ArgumentException">Bad key length.</exception>
    internal static void CheckKey(ReadOnlySpan<byte> key)
    {
        if (key.Length < MinKeySize || key.Length > MaxKeySize)
        {
            throw new ArgumentException($"The trusted USIG key must be {MinKeySize}..{MaxKeySize} bytes; got {key.Length}.", nameof(key));
        }
    }
}

/// <summary>
/// HMAC-SHA256 contexts keyed once with the trusted key and reused (GetHashAndReset keeps the key
/// schedule), so computing a proof costs no allocation and no re-keying. A tiny lock-free pool makes it
/// safe for concurrent callers: each call rents a context with an interlocked exchange.
/// </summary>
internal sealed class UsigMac : IDisposable
{
    private readonly byte[] _key;
    private readonly IncrementalHash?[] _pool;

    public UsigMac(ReadOnlySpan<byte> key, int poolSize = 16)
    {
        UsigProofLayout.CheckKey(key);
        _key = key.ToArray();
        _pool = new IncrementalHash?[poolSize];
    }

    /// <summary>Computes the 32-byte proof for (id, epoch, counter, digest) into <paramref name="proof"/>.</summary>
    public void Compute(uint instanceId, ulong epoch, ulong counter, ReadOnlySpan<byte> digest, Span<byte> proof)
    {
        IncrementalHash h = Rent();
        Compute(h, instanceId, epoch, counter, digest, proof);
        Return(h);
    }

    /// <summary>Computes a proof with a context the caller rented (batches rent once per call, not per UI).</summary>
    public static void Compute(IncrementalHash h, uint instanceId, ulong epoch, ulong counter, ReadOnlySpan<byte> digest, Span<byte> proof)
    {
        Span<byte> input = stackalloc byte[UsigProofLayout.MacInputSize];
        UsigProofLayout.WriteMacInput(input, instanceId, epoch, counter, digest);
        h.AppendData(input);
        h.GetHashAndReset(proof);
    }

    /// <summary>Recomputes the proof and compares it in constant time.</summary>
    public bool Verify(uint instanceId, ulong epoch, ulong counter, ReadOnlySpan<byte> digest, ReadOnlySpan<byte> proof)
    {
        if (proof.Length != UniqueIdentifier.ProofSize)
        {
            return false;
        }

        Span<byte> expected = stackalloc byte[UniqueIdentifier.ProofSize];
        Compute(instanceId, epoch, counter, digest, expected);
        return CryptographicOperations.FixedTimeEquals(expected, proof);
    }

    public IncrementalHash Rent()
    {
        IncrementalHash?[] pool = _pool;
        for (int i = 0; i < pool.Length; i++)
        {
            IncrementalHash? h = Interlocked.Exchange(ref pool[i], null);
            if (h is not null)
            {
                return h;
            }
        }

        return IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key);
    }

    public void Return(IncrementalHash h)
    {
        IncrementalHash?[] pool = _pool;
        for (int i = 0; i < pool.Length; i++)
        {
            if (Interlocked.CompareExchange(ref pool[i], h, null) is null)
            {
                return;
            }
        }

        h.Dispose();
    }

    public void Dispose()
    {
        for (int i = 0; i < _pool.Length; i++)
        {
            Interlocked.Exchange(ref _pool[i], null)?.Dispose();
        }

        CryptographicOperations.ZeroMemory(_key);
    }
}
