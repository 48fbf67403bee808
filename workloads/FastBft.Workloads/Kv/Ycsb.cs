using System.Buffers;
using System.Text;

namespace FastBft.Workloads.Kv;

/// <summary>A YCSB core workload mix (Cooper et al., SoCC 2010; YCSB's workloads/workload{a,b,c,f}).</summary>
/// <param name="Name">"ycsb-a", "ycsb-b", "ycsb-c" or "ycsb-f".</param>
/// <param name="ReadProportion">share of reads (GET).</param>
/// <param name="UpdateProportion">share of updates (SET of a whole record).</param>
/// <param name="ReadModifyWriteProportion">share of read-modify-writes (GET, then CAS of the value read).</param>
public sealed record YcsbMix(string Name, double ReadProportion, double UpdateProportion, double ReadModifyWriteProportion)
{
    /// <summary>The mixes by name.</summary>
    public static readonly IReadOnlyList<YcsbMix> All =
    [
        new("ycsb-a", 0.5, 0.5, 0), new("ycsb-b", 0.95, 0.05, 0), new("ycsb-c", 1.0, 0, 0), new("ycsb-f", 0.5, 0, 0.5),
    ];

    /// <summary>The mix named <paramref name="name"/>.</summary>
    /// <exception cref="FormatException">not one of ycsb-a, ycsb-b, ycsb-c, ycsb-f.</exception>
    public static YcsbMix Parse(string name) => All.FirstOrDefault(m => m.Name == name?.Trim().ToLowerInvariant())
        ?? throw new FormatException($"'{name}' is not a YCSB workload (ycsb-a 50/50 read/update, ycsb-b 95/5, ycsb-c read only, ycsb-f 50/50 read/read-modify-write)");

    /// <summary>True if <paramref name="name"/> names a YCSB mix.</summary>
    public static bool IsYcsb(string name) => All.Any(m => m.Name == name?.Trim().ToLowerInvariant());
}

/// <summary>
/// YCSB's scrambled zipfian key chooser (YCSB ZipfianGenerator / ScrambledZipfianGenerator, Gray et al. SIGMOD 1994):
/// item ranks follow a zipfian distribution with constant 0.99, and ranks are scattered over the key space by an FNV-1a
/// hash so the popular keys are not neighbours. Deterministic for a seed.
/// </summary>
public sealed class ScrambledZipfian
{
    private readonly long _items;
    private readonly double _theta, _zetan, _alpha, _eta, _half;
    private readonly Random _rng;

    /// <summary>A chooser over [0, <paramref name="items"/>) with zipfian constant <paramref name="theta"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">items below 1 or theta not in (0, 1).</exception>
    public ScrambledZipfian(long items, int seed, double theta = 0.99) : this(items, seed, theta, Zeta(items, theta)) { }

    /// <summary>As above with ζ(items, θ) precomputed (<see cref="Zeta"/>; it costs O(items)).</summary>
    public ScrambledZipfian(long items, int seed, double theta, double zetan)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(items, 1);
        if (theta is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(theta));
        _items = items; _theta = theta; _zetan = zetan;
        double zeta2 = Zeta(Math.Min(2, items), theta);
        _alpha = 1.0 / (1.0 - theta);
        _eta = (1 - Math.Pow(2.0 / items, 1 - theta)) / (1 - zeta2 / zetan);
        _half = 1 + Math.Pow(0.5, theta);
        _rng = new Random(seed);
    }

    /// <summary>ζ(n, θ) = Σ_{i=1..n} 1/i^θ.</summary>
    public static double Zeta(long n, double theta)
    {
        double sum = 0;
        for (long i = 1; i <= n; i++) sum += 1 / Math.Pow(i, theta);
        return sum;
    }

    /// <summary>Next item in [0, items).</summary>
    public long Next()
    {
        double u = _rng.NextDouble();
        double uz = u * _zetan;
        long rank = uz < 1 ? 0 : uz < _half ? 1 : (long)(_items * Math.Pow(_eta * u - _eta + 1, _alpha));
        if (rank >= _items) rank = _items - 1;
        return (long)(Fnv1a((ulong)rank) % (ulong)_items);
    }

    private static ulong Fnv1a(ulong v)
    {
        ulong h = 0xCBF29CE484222325;
        for (int i = 0; i < 8; i++) { h ^= v & 0xFF; h *= 0x100000001B3; v >>= 8; }
        return h;
    }

    /// <summary>A uniformly random double in [0, 1) from this chooser's generator (operation choice).</summary>
    public double NextDouble() => _rng.NextDouble();
}

/// <summary>
/// One closed-loop client's YCSB operation stream over the KV encoding: keys "user&lt;i&gt;" for i in [0, records), values of
/// a fixed size. <see cref="Next"/> returns the next operation (valid until the following call); a read-modify-write is
/// two operations: GET k, then — with the reply the load generator passes to <see cref="OnReply"/> — CAS k (value read →
/// new value). Not thread-safe (one per client). Steady state allocates only inside a read-modify-write's reply copy.
/// </summary>
public sealed class YcsbClient
{
    private readonly YcsbMix _mix;
    private readonly ScrambledZipfian _keys;
    private readonly ArrayBufferWriter<byte> _op = new(256);
    private readonly byte[] _value;
    private readonly byte[] _key = new byte[24];
    private int _keyLength;
    private long _counter;
    private bool _rmwPending;
    private byte[]? _rmwRead;

    /// <summary>Creates the stream of client <paramref name="clientIndex"/>.</summary>
    /// <param name="mix">the workload mix.</param>
    /// <param name="records">record count (keys user0 … user&lt;records−1&gt;).</param>
    /// <param name="valueBytes">value size, bytes (≥ 8).</param>
    /// <param name="clientIndex">seeds the key and operation choice.</param>
    /// <param name="zetan">ζ(records, 0.99) (<see cref="ScrambledZipfian.Zeta"/>), computed once for all clients.</param>
    public YcsbClient(YcsbMix mix, long records, int valueBytes, int clientIndex, double zetan)
    {
        _mix = mix;
        _keys = new ScrambledZipfian(records, 1_000_003 * (clientIndex + 1), 0.99, zetan);
        _value = new byte[Math.Max(8, valueBytes)];
        new Random(clientIndex).NextBytes(_value);
        for (int i = 0; i < _value.Length; i++) _value[i] = (byte)('a' + _value[i] % 26);
    }

    /// <summary>Operations issued (a read-modify-write counts two).</summary>
    public long Issued { get; private set; }

    /// <summary>The key of record <paramref name="i"/> ("user" + decimal i).</summary>
    public static byte[] Key(long i) => Encoding.ASCII.GetBytes("user" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>The next operation (valid until the next call).</summary>
    public ReadOnlySpan<byte> Next()
    {
        _op.ResetWrittenCount();
        Issued++;
        if (_rmwPending)
        {
            _rmwPending = false;
            NextValue();
            KvCodec.Cas(_op, _key.AsSpan(0, _keyLength), _rmwRead, _value);
            _rmwRead = null;
            return _op.WrittenSpan;
        }
        ChooseKey();
        double p = _keys.NextDouble();
        if (p < _mix.ReadProportion) KvCodec.Get(_op, _key.AsSpan(0, _keyLength));
        else if (p < _mix.ReadProportion + _mix.UpdateProportion) { NextValue(); KvCodec.Set(_op, _key.AsSpan(0, _keyLength), _value); }
        else { KvCodec.Get(_op, _key.AsSpan(0, _keyLength)); _rmwPending = true; }
        return _op.WrittenSpan;
    }

    /// <summary>The reply of the last operation (only a read-modify-write's GET needs it: the value read becomes the CAS's expected value).</summary>
    public void OnReply(ReadOnlySpan<byte> reply)
    {
        if (!_rmwPending) return;
        // A bulk reply "$len\r\nvalue\r\n"; nil ("$-1") leaves the expected value absent.
        if (reply.Length > 0 && reply[0] == (byte)'$' && reply.IndexOf((byte)'\n') is int nl and > 0 && reply.Length >= nl + 3 && reply[1] != (byte)'-')
            _rmwRead = reply.Slice(nl + 1, reply.Length - nl - 3).ToArray();
        else _rmwRead = null;
    }

    /// <summary>True while a read-modify-write waits for its reply to <see cref="OnReply"/>.</summary>
    public bool NeedsReply => _rmwPending;

    private void ChooseKey()
    {
        long k = _keys.Next();
        "user"u8.CopyTo(_key);
        System.Buffers.Text.Utf8Formatter.TryFormat(k, _key.AsSpan(4), out int n);
        _keyLength = 4 + n;
    }

    private void NextValue()
    {
        _counter++;
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(_value, _counter);
        for (int i = 0; i < 8; i++) _value[i] = (byte)('a' + _value[i] % 26);
    }

    /// <summary>
    /// The load phase's operations: MSETs of all <paramref name="records"/> records with <paramref name="valueBytes"/>-byte
    /// values, each MSET at most <paramref name="maxOperationBytes"/> bytes (and at most 256 records).
    /// </summary>
    public static IEnumerable<byte[]> LoadOperations(long records, int valueBytes, int maxOperationBytes)
    {
        var value = new byte[Math.Max(8, valueBytes)];
        Array.Fill(value, (byte)'x');
        var pairs = new List<(byte[], byte[])>();
        long size = 8;
        for (long i = 0; i < records; i++)
        {
            var key = Key(i);
            long entry = key.Length + value.Length + 10;
            if (pairs.Count > 0 && (size + entry > maxOperationBytes || pairs.Count >= 256))
            {
                yield return KvCodec.Encode(w => KvCodec.MSet(w, pairs));
                pairs.Clear(); size = 8;
            }
            pairs.Add((key, value));
            size += entry;
        }
        if (pairs.Count > 0) yield return KvCodec.Encode(w => KvCodec.MSet(w, pairs));
    }
}
