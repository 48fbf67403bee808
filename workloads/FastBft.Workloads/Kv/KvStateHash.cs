using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using K4os.Hash.xxHash;

namespace FastBft.Workloads.Kv;

/// <summary>
/// Partition digests of the KV state (docs/state-transfer.md §4). A key belongs to partition
/// <c>XXH64(key, seed 0) mod P</c> (P a power of two; K4os.Hash.xxHash — not cryptographic, and it need not be: it
/// only spreads keys, a forged partition is caught by the digest). Each partition keeps an LtHash16 multiset hash
/// (Bellare–Micciancio's additive hashing over a lattice, as in Lewi et al., "Securing Update Propagation with
/// Homomorphic Hashing", 2019): 1,024 lanes of 16 bits (2 KiB), the lane-wise sum mod 2^16 of
/// BLAKE3-XOF(varint(|key|) ‖ key ‖ value, 2,048 bytes) over the partition's pairs. A write subtracts the old pair's
/// element and adds the new one: O(1) per write whatever the state size. The partition digest is
/// SHA-256("FBKP" ‖ p[4, LE] ‖ lanes). A plain sum of 256-bit hashes (AdHash with a 256-bit modulus) would be cheaper
/// but is forgeable with Wagner's generalized-birthday attack; LtHash16 at these parameters is the published
/// 200-bit-security instance. Memory: 2 KiB per partition.
/// </summary>
public sealed class KvStateHash
{
    /// <summary>Lanes of 16 bits per partition.</summary>
    public const int Lanes = 1024;
    /// <summary>Bytes of one partition's hash (2 KiB).</summary>
    public const int StateBytes = Lanes * 2;

    private readonly ushort[] _lanes;
    private readonly bool[] _changed;
    private readonly List<int> _changedList = new();
    private readonly byte[] _element = new byte[StateBytes];
    private readonly byte[] _prefix = new byte[5];

    /// <summary>Creates the hashes of an empty state of <paramref name="partitions"/> partitions.</summary>
    /// <exception cref="ArgumentException">not a power of two in 1..65,536.</exception>
    public KvStateHash(int partitions)
    {
        if (partitions < 1 || partitions > 65536 || (partitions & (partitions - 1)) != 0) throw new ArgumentException($"partition count {partitions} must be a power of two in 1..65536", nameof(partitions));
        Partitions = partitions;
        _lanes = new ushort[partitions * Lanes];
        _changed = new bool[partitions];
        MarkAllChanged();
    }

    /// <summary>Partitions P.</summary>
    public int Partitions { get; }

    /// <summary>The partition of <paramref name="key"/> among <paramref name="partitions"/> (a power of two).</summary>
    public static int PartitionOf(ReadOnlySpan<byte> key, int partitions) => (int)(XXH64.DigestOf(key) & (ulong)(partitions - 1));

    /// <summary>The partition of <paramref name="key"/>.</summary>
    public int PartitionOf(ReadOnlySpan<byte> key) => PartitionOf(key, Partitions);

    /// <summary>Writes the 2,048-byte element of the pair (key, value) into <paramref name="element"/>.</summary>
    public static void Element(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, Span<byte> element, Span<byte> prefixScratch5)
    {
        int n = 0;
        uint len = (uint)key.Length;
        while (len >= 0x80) { prefixScratch5[n++] = (byte)(len | 0x80); len >>= 7; }
        prefixScratch5[n++] = (byte)len;
        using var h = Blake3.Hasher.New();
        h.Update(prefixScratch5.Slice(0, n));
        h.Update(key);
        h.Update(value);
        h.Finalize(element.Slice(0, StateBytes));
    }

    private Blake3.Hasher _hasher = Blake3.Hasher.New();     // reused (Reset): no allocation per write

    /// <summary>Adds (sign +1) or removes (−1) the pair from the partition's hash.</summary>
    public void Apply(int partition, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, bool add)
    {
        int n = 0;
        uint len = (uint)key.Length;
        while (len >= 0x80) { _prefix[n++] = (byte)(len | 0x80); len >>= 7; }
        _prefix[n++] = (byte)len;
        _hasher.Reset();
        _hasher.Update(_prefix.AsSpan(0, n));
        _hasher.Update(key);
        _hasher.Update(value);
        _hasher.Finalize(_element.AsSpan());
        var acc = _lanes.AsSpan(partition * Lanes, Lanes);
        Combine(acc, MemoryMarshal.Cast<byte, ushort>(_element.AsSpan()), add);
        if (!_changed[partition]) { _changed[partition] = true; _changedList.Add(partition); }
    }

    /// <summary>acc ± x lane-wise mod 2^16 (lanes little-endian).</summary>
    public static void Combine(Span<ushort> acc, ReadOnlySpan<ushort> x, bool add)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("LtHash lanes are little-endian");
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var va = MemoryMarshal.Cast<ushort, Vector<ushort>>(acc);
            var vx = MemoryMarshal.Cast<ushort, Vector<ushort>>(x);
            for (int k = 0; k < va.Length; k++) va[k] = add ? va[k] + vx[k] : va[k] - vx[k];
            i = va.Length * Vector<ushort>.Count;
        }
        for (; i < acc.Length; i++) acc[i] = add ? (ushort)(acc[i] + x[i]) : (ushort)(acc[i] - x[i]);
    }

    /// <summary>Writes the digest of partition <paramref name="partition"/>.</summary>
    public void Digest(int partition, Span<byte> digest32) => Digest(_sha, partition, _lanes.AsSpan(partition * Lanes, Lanes), digest32);

    private readonly System.Security.Cryptography.IncrementalHash _sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);

    /// <summary>SHA-256("FBKP" ‖ p ‖ lanes).</summary>
    public static void Digest(int partition, ReadOnlySpan<ushort> lanes, Span<byte> digest32)
    {
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        Digest(sha, partition, lanes, digest32);
    }

    private static void Digest(System.Security.Cryptography.IncrementalHash sha, int partition, ReadOnlySpan<ushort> lanes, Span<byte> digest32)
    {
        Span<byte> head = stackalloc byte[8];
        "FBKP"u8.CopyTo(head);
        BinaryPrimitives.WriteInt32LittleEndian(head.Slice(4), partition);
        sha.AppendData(head);
        sha.AppendData(MemoryMarshal.AsBytes(lanes));
        sha.GetHashAndReset(digest32);
    }

    /// <summary>Adds the partitions changed since the last call to <paramref name="into"/> and forgets them.</summary>
    public void TakeChanged(List<int> into)
    {
        foreach (int p in _changedList) { into.Add(p); _changed[p] = false; }
        _changedList.Clear();
    }

    /// <summary>Marks every partition changed (after a restore or an open).</summary>
    public void MarkAllChanged()
    {
        _changedList.Clear();
        for (int p = 0; p < Partitions; p++) { _changed[p] = true; _changedList.Add(p); }
    }

    /// <summary>Resets partition <paramref name="partition"/> to the empty hash.</summary>
    public void Clear(int partition)
    {
        _lanes.AsSpan(partition * Lanes, Lanes).Clear();
        if (!_changed[partition]) { _changed[partition] = true; _changedList.Add(partition); }
    }

    /// <summary>Resets every partition.</summary>
    public void ClearAll() { Array.Clear(_lanes); MarkAllChanged(); }

    /// <summary>Digest of the whole state: SHA-256 of the P partition digests (O(P)).</summary>
    public void StateDigest(Span<byte> digest32)
    {
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        Span<byte> d = stackalloc byte[32];
        for (int p = 0; p < Partitions; p++) { Digest(p, d); sha.AppendData(d); }
        sha.GetHashAndReset(digest32);
    }
}
