using System.Runtime.InteropServices;
using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using FastBft.Auth;
using FastBft.Crypto;

namespace FastBft.Benchmarks;

/// <summary>
/// Cost of one 16-byte MAC tag over the 64-byte authenticator input (header[32] ‖ authDigest[32])
/// for every candidate primitive (docs/authentication.md §5). Each benchmark computes one tag with a
/// key set up beforehand (the per-peer state an <see cref="Authenticator"/> keeps), except the
/// one-shot BCL HMAC, which re-keys every call as the baseline did.
/// Run: dotnet run -c Release --project perf/FastBft.Benchmarks -- --filter '*MacBenchmarks*' --job short
/// </summary>
[MemoryDiagnoser]
public unsafe class MacBenchmarks
{
    private readonly byte[] _key = new byte[32];
    private readonly byte[] _input = new byte[64];
    private readonly byte[] _out = new byte[64];
    private HMACSHA256 _hmac = null!;
    private IncrementalHash _incremental = null!;
    private byte* _sodiumHmacState;      // keyed crypto_auth_hmacsha256_state (inner + outer SHA-256 after the key block)
    private byte* _sodiumHmacScratch;
    private int _sodiumHmacStateBytes;
    private byte* _blakeState;           // keyed crypto_generichash_state (key block buffered)
    private byte* _blakeScratch;
    private int _blakeStateBytes;
    private byte* _pinnedKey;

    [GlobalSetup]
    public void Setup()
    {
        for (int i = 0; i < _key.Length; i++) _key[i] = (byte)(0xA0 + i);
        for (int i = 0; i < _input.Length; i++) _input[i] = (byte)i;
        _hmac = new HMACSHA256(_key);
        _incremental = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key);
        Sodium.EnsureAvailable();
        _pinnedKey = (byte*)NativeMemory.AlignedAlloc(32, 64);
        new ReadOnlySpan<byte>(_key).CopyTo(new Span<byte>(_pinnedKey, 32));
        _sodiumHmacStateBytes = (int)Sodium.crypto_auth_hmacsha256_statebytes();
        _sodiumHmacState = (byte*)NativeMemory.AlignedAlloc((nuint)_sodiumHmacStateBytes, 64);
        _sodiumHmacScratch = (byte*)NativeMemory.AlignedAlloc((nuint)_sodiumHmacStateBytes, 64);
        Sodium.crypto_auth_hmacsha256_init(_sodiumHmacState, _pinnedKey, 32);
        _blakeStateBytes = (int)Sodium.crypto_generichash_statebytes();
        _blakeState = (byte*)NativeMemory.AlignedAlloc((nuint)_blakeStateBytes, 64);
        _blakeScratch = (byte*)NativeMemory.AlignedAlloc((nuint)_blakeStateBytes, 64);
        Sodium.crypto_generichash_init(_blakeState, _pinnedKey, 32, 16);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _hmac.Dispose();
        _incremental.Dispose();
        NativeMemory.AlignedFree(_pinnedKey);
        NativeMemory.AlignedFree(_sodiumHmacState);
        NativeMemory.AlignedFree(_sodiumHmacScratch);
        NativeMemory.AlignedFree(_blakeState);
        NativeMemory.AlignedFree(_blakeScratch);
    }

    [Benchmark(Description = "BCL HMACSHA256.HashData one-shot (re-keys)")]
    public int BclHmacOneShot() => HMACSHA256.HashData(_key, _input, _out);

    [Benchmark(Baseline = true, Description = "BCL HMACSHA256 reused instance")]
    public bool BclHmacReused() => _hmac.TryComputeHash(_input, _out, out _);

    [Benchmark(Description = "BCL IncrementalHash.CreateHMAC reused")]
    public bool BclIncrementalHmac()
    {
        _incremental.AppendData(_input);
        return _incremental.TryGetHashAndReset(_out, out _);
    }

    [Benchmark(Description = "libsodium HMAC-SHA256, precomputed ipad/opad state")]
    public int SodiumHmacSha256Precomputed()
    {
        Sodium.CopyState(_sodiumHmacScratch, _sodiumHmacState, _sodiumHmacStateBytes);
        fixed (byte* i = _input)
        fixed (byte* o = _out)
        {
            Sodium.crypto_auth_hmacsha256_update(_sodiumHmacScratch, i, 64);
            return Sodium.crypto_auth_hmacsha256_final(_sodiumHmacScratch, o);
        }
    }

    [Benchmark(Description = "libsodium HMAC-SHA512/256 one-shot")]
    public int SodiumHmacSha512256()
    {
        fixed (byte* i = _input)
        fixed (byte* o = _out)
            return Sodium.crypto_auth_hmacsha512256(o, i, 64, _pinnedKey);
    }

    [Benchmark(Description = "libsodium keyed BLAKE2b-128 one-shot")]
    public int SodiumBlake2b()
    {
        fixed (byte* i = _input)
        fixed (byte* o = _out)
            return Sodium.crypto_generichash(o, 16, i, 64, _pinnedKey, 32);
    }

    [Benchmark(Description = "libsodium keyed BLAKE2b-128, copied keyed state")]
    public int SodiumBlake2bPrecomputed()
    {
        Sodium.CopyState(_blakeScratch, _blakeState, _blakeStateBytes);
        fixed (byte* i = _input)
        fixed (byte* o = _out)
        {
            Sodium.crypto_generichash_update(_blakeScratch, i, 64);
            return Sodium.crypto_generichash_final(_blakeScratch, o, 16);
        }
    }

    [Benchmark(Description = "libsodium SipHash-2-4-128")]
    public int SodiumSipHash128()
    {
        fixed (byte* i = _input)
        fixed (byte* o = _out)
            return Sodium.crypto_shorthash_siphashx24(o, i, 64, _pinnedKey);
    }
}

/// <summary>
/// End-to-end <see cref="Authenticator"/> costs per shipped primitive for a 4-replica cell: writing a
/// full 4-entry replica vector (3 MACs + zero own entry), verifying one vector entry, and a single MAC
/// write and verify. Per-peer state is warmed in setup, so these are steady-state costs.
/// </summary>
[MemoryDiagnoser]
public class AuthenticatorBenchmarks
{
    private readonly byte[] _header = new byte[32];
    private readonly byte[] _digest = new byte[32];
    private readonly byte[] _vector = new byte[Authenticator.VectorLength(4)];
    private readonly byte[] _vectorForReplica1 = new byte[Authenticator.VectorLength(4)];
    private readonly byte[] _single = new byte[Authenticator.SingleLength];
    private readonly byte[] _singleForClient = new byte[Authenticator.SingleLength];
    private Authenticator _replica0 = null!;
    private Authenticator _replica1 = null!;
    private Authenticator _client = null!;

    [Params(MacAlgorithm.HmacSha256, MacAlgorithm.Blake2b128, MacAlgorithm.SipHash128)]
    public MacAlgorithm Algorithm { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        byte[] master = new byte[32];
        for (int i = 0; i < 32; i++) { master[i] = (byte)i; _header[i] = (byte)(i * 3); _digest[i] = (byte)(i * 7); }
        var keys = new KeyStore(master, 4);
        _replica0 = new Authenticator(0, keys, Algorithm);
        _replica1 = new Authenticator(1, keys, Algorithm);
        _client = new Authenticator(1000, keys, Algorithm);
        _replica0.WriteVector(_header, _digest, _vectorForReplica1);
        _replica1.WriteSingle(1000, _header, _digest, _singleForClient);
        if (!_replica1.VerifyVector(0, _header, _digest, _vectorForReplica1) || !_client.VerifySingle(1, _header, _digest, _singleForClient))
            throw new InvalidOperationException("authenticator round trip failed in setup");
    }

    [GlobalCleanup]
    public void Cleanup() { _replica0.Dispose(); _replica1.Dispose(); _client.Dispose(); }

    [Benchmark(Description = "WriteVector, n=4 (3 MACs)")]
    public void WriteVector4() => _replica0.WriteVector(_header, _digest, _vector);

    [Benchmark(Description = "VerifyVector, n=4 (1 MAC)")]
    public bool VerifyVector4() => _replica1.VerifyVector(0, _header, _digest, _vectorForReplica1);

    [Benchmark(Description = "WriteSingle (replica to client)")]
    public void WriteSingle() => _replica1.WriteSingle(1000, _header, _digest, _single);

    [Benchmark(Description = "VerifySingle (client)")]
    public bool VerifySingle() => _client.VerifySingle(1, _header, _digest, _singleForClient);
}
