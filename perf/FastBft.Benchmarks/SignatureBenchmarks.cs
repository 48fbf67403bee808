using BenchmarkDotNet.Attributes;
using FastBft.Auth;
using FastBft.TrustedHw;

namespace FastBft.Benchmarks;

/// <summary>
/// Cost of authenticating one message's 64-byte input (header[32] ‖ authDigest[32]) with each
/// <see cref="IAuthScheme"/> (docs/authentication.md "Authentication schemes"): Ed25519 on BouncyCastle
/// (<see cref="Ed25519Scheme"/>) against Ed25519 on libsodium (<see cref="ReplicaSignatures"/>, same keys, same
/// signatures), and for scale the MAC vector (n = 4, SipHash-2-4-128) and the software USIG, both raw
/// (<see cref="IUsig.CreateUI"/>/<see cref="IUsig.VerifyUI"/> over a ready digest) and through
/// <see cref="UsigCertificateScheme"/> (adds the SHA-256 of the input).
/// Run: dotnet run -c Release --project perf/FastBft.Benchmarks -- --filter '*Signature*' --job short
/// </summary>
[MemoryDiagnoser]
public class SignatureBenchmarks
{
    private const int N = 4;
    private readonly byte[] _header = new byte[32];
    private readonly byte[] _digest = new byte[32];
    private readonly byte[] _input = new byte[64];
    private readonly byte[] _usigDigest = new byte[32];
    private KeyStore _keys = null!;
    private Ed25519Scheme _bcSigner = null!;
    private Ed25519Scheme _bcVerifier = null!;
    private byte[] _bcTrailer = null!;
    private byte[] _sodiumSig = null!;
    private MacVectorScheme _macSender = null!;
    private MacVectorScheme _macReceiver = null!;
    private byte[] _macTrailer = null!;
    private SoftwareUsig _usigSender = null!;
    private SoftwareUsig _usigReceiver = null!;
    private UsigCertificateScheme _usigSenderScheme = null!;
    private UsigCertificateScheme _usigReceiverScheme = null!;
    private UniqueIdentifier _ui;
    private byte[] _usigTrailer = null!;

    [GlobalSetup]
    public void Setup()
    {
        for (int i = 0; i < 32; i++) { _header[i] = (byte)(i * 5); _digest[i] = (byte)(255 - i); }
        _header.CopyTo(_input, 0);
        _digest.CopyTo(_input, 32);
        var master = new byte[32];
        for (int i = 0; i < 32; i++) master[i] = (byte)(i + 1);
        _keys = new KeyStore(master, N);

        _bcSigner = new Ed25519Scheme(1, _keys);
        _bcVerifier = new Ed25519Scheme(2, _keys);
        _bcTrailer = new byte[Ed25519Scheme.Length];
        _bcSigner.Seal(_header, _digest, 0, _bcTrailer);
        _sodiumSig = new byte[ReplicaSignatures.SignatureSize];
        _keys.Signatures.Sign(1, _input, _sodiumSig);

        _macSender = new MacVectorScheme(1, _keys);
        _macReceiver = new MacVectorScheme(2, _keys);
        _macTrailer = new byte[_macSender.TrailerLength];
        _macSender.Seal(_header, _digest, 0, _macTrailer);

        var usigKey = new byte[32];
        for (int i = 0; i < 32; i++) usigKey[i] = (byte)(0xA0 + i);
        _usigSender = new SoftwareUsig(1, usigKey, epoch: 1);
        _usigReceiver = new SoftwareUsig(2, usigKey, epoch: 1);
        _usigSenderScheme = new UsigCertificateScheme(_usigSender);
        _usigReceiverScheme = new UsigCertificateScheme(_usigReceiver);
        UsigCertificateScheme.CertifiedDigest(_header, _digest, _usigDigest);
        _ui = _usigSender.CreateUI(_usigDigest);
        _usigTrailer = new byte[UsigCertificateScheme.Length];
        _usigSenderScheme.Seal(_header, _digest, 0, _usigTrailer);
        if (!_bcVerifier.Verify(1, _header, _digest, _bcTrailer).IsOk || !_keys.Signatures.Verify(1, _input, _sodiumSig)
            || !_macReceiver.Verify(1, _header, _digest, _macTrailer).IsOk || !_usigReceiverScheme.Verify(1, _header, _digest, _usigTrailer).IsOk)
            throw new InvalidOperationException("benchmark setup: a sealed input does not verify");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _bcSigner.Dispose();
        _bcVerifier.Dispose();
        _macSender.Dispose();
        _macReceiver.Dispose();
        _usigSender.Dispose();
        _usigReceiver.Dispose();
    }

    [Benchmark(Baseline = true, Description = "Ed25519 sign, BouncyCastle (Ed25519Scheme.Seal)")]
    public void Ed25519BouncyCastleSign() => _bcSigner.Seal(_header, _digest, 0, _bcTrailer);

    [Benchmark(Description = "Ed25519 verify, BouncyCastle (Ed25519Scheme.Verify)")]
    public bool Ed25519BouncyCastleVerify() => _bcVerifier.Verify(1, _header, _digest, _bcTrailer).IsOk;

    [Benchmark(Description = "Ed25519 sign, libsodium (ReplicaSignatures.Sign)")]
    public void Ed25519LibsodiumSign() => _keys.Signatures.Sign(1, _input, _sodiumSig);

    [Benchmark(Description = "Ed25519 verify, libsodium (ReplicaSignatures.Verify)")]
    public bool Ed25519LibsodiumVerify() => _keys.Signatures.Verify(1, _input, _sodiumSig);

    [Benchmark(Description = "MAC vector n=4 seal, SipHash (MacVectorScheme.Seal)")]
    public void MacVectorSeal() => _macSender.Seal(_header, _digest, 0, _macTrailer);

    [Benchmark(Description = "MAC vector n=4 verify, SipHash (MacVectorScheme.Verify)")]
    public bool MacVectorVerify() => _macReceiver.Verify(1, _header, _digest, _macTrailer).IsOk;

    [Benchmark(Description = "USIG software CreateUI (raw)")]
    public ulong UsigCreateUI() => _usigSender.CreateUI(_usigDigest).Counter;

    [Benchmark(Description = "USIG software VerifyUI (raw)")]
    public bool UsigVerifyUI() => _usigReceiver.VerifyUI(1, _usigDigest, _ui);

    [Benchmark(Description = "USIG seal (UsigCertificateScheme.Seal)")]
    public void UsigSchemeSeal() => _usigSenderScheme.Seal(_header, _digest, 0, _usigTrailer);

    [Benchmark(Description = "USIG verify (UsigCertificateScheme.Verify)")]
    public bool UsigSchemeVerify() => _usigReceiverScheme.Verify(1, _header, _digest, _usigTrailer).IsOk;
}
