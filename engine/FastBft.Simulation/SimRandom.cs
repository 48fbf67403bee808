namespace FastBft.Simulation;

/// <summary>
/// The simulator's seeded pseudo-random generator (xorshift64*): small, fast and — unlike
/// <see cref="System.Random"/> — guaranteed to produce the same sequence on every runtime version.
/// </summary>
public sealed class SimRandom
{
    private ulong _s;

    /// <summary>Creates a generator from <paramref name="seed"/> (any value, 0 included).</summary>
    public SimRandom(ulong seed)
    {
        _s = Mix(seed) | 1;
    }

    /// <summary>SplitMix64 finaliser: spreads a seed or a hash over 64 bits.</summary>
    public static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Next 64 random bits.</summary>
    public ulong Next()
    {
        _s ^= _s >> 12; _s ^= _s << 25; _s ^= _s >> 27;
        return _s * 2685821657736338717UL;
    }

    /// <summary>Uniform integer in [0, <paramref name="maxExclusive"/>).</summary>
    public int Int(int maxExclusive) => maxExclusive <= 1 ? 0 : (int)(Next() % (ulong)maxExclusive);

    /// <summary>Uniform integer in [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public long Range(long min, long max) => min + (long)(Next() % (ulong)(max - min + 1));

    /// <summary>True with probability <paramref name="p"/>.</summary>
    public bool Chance(double p) => p > 0 && (Next() >> 11) * (1.0 / (1UL << 53)) < p;
}

/// <summary>A chained 64-bit XXH3 hash for the event trace and batch fingerprints (deterministic across processes and runs, unlike HashCode).</summary>
public struct TraceHash
{
    private ulong _h;

    /// <summary>Current value.</summary>
    public readonly ulong Value => _h == 0 ? 0xcbf29ce484222325UL : _h;

    /// <summary>Adds bytes: XXH3-64 of <paramref name="data"/> seeded with the hash so far (System.IO.Hashing; the
    /// simulator hashes every delivered message, so a byte-at-a-time hash was a tenth of its time).</summary>
    public void Add(ReadOnlySpan<byte> data)
    {
        ulong h = System.IO.Hashing.XxHash3.HashToUInt64(data, unchecked((long)Value));
        _h = h == 0 ? 1 : h;
    }

    /// <summary>Adds a 64-bit value.</summary>
    public void Add(ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        Add(b);
    }
}
