using BenchmarkDotNet.Attributes;
using FastBft.Agreement;
using FastBft.Auth;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Benchmarks;

/// <summary>
/// The authentication stage per message kind: a PREPARE (32-byte body, MAC vector), a client REQUEST
/// (empty operation: MAC check + D(req)) and a PRE-PREPARE of 8 requests (8 client MACs, 8 D(req), the
/// batch digest and the primary's MAC), as replica 1 of a 4-replica PBFT cell receives them.
/// Run: dotnet run -c Release --project perf/FastBft.Benchmarks -- --filter '*VerifierBenchmarks*' --job short
/// </summary>
[MemoryDiagnoser]
public class VerifierBenchmarks
{
    private MessageVerifier _v = null!;
    private byte[] _prepare = null!, _request = null!, _prePrepare = null!;

    [GlobalSetup]
    public void Setup()
    {
        var master = new byte[32]; for (int i = 0; i < 32; i++) master[i] = (byte)(i * 13 + 5);
        var keys = new KeyStore(master, 4, 1000);
        _v = new MessageVerifier(Protocols.Get(ProtocolKind.Pbft).Schema, new Authenticator(1, keys), new VerifierLimits(4, 1000, 1 << 22, 1 << 16, 8));
        var b = new MessageBuilder(new Authenticator(2, keys), 4);
        new byte[32].CopyTo(b.BeginVector(MessageType.Prepare, 0, 1, 32));
        _prepare = b.SealVector().ToArray();
        var requests = new byte[8][];
        for (uint c = 0; c < 8; c++)
        {
            var cb = new MessageBuilder(new Authenticator(1000 + c, keys), 4);
            cb.BeginVector(MessageType.Request, 0, 1, 0);
            requests[c] = cb.SealVector().ToArray();
        }
        _request = requests[0];
        var digests = new byte[8 * 32];
        Span<byte> bd = stackalloc byte[32];
        for (int i = 0; i < 8; i++)
        {
            MessageHeader.TryParse(requests[i], int.MaxValue, out var h);
            Digests.AuthBody(MessageHeader.Body(requests[i], h), bd);
            Digests.Request(requests[i].AsSpan(0, MessageHeader.Size), bd, digests.AsSpan(i * 32, 32));
        }
        int len = Bodies.PrePrepareFixed + requests.Sum(r => 4 + r.Length);
        var pb = new MessageBuilder(new Authenticator(0, keys), 4);
        var body = pb.BeginVector(MessageType.PrePrepare, 0, 1, len);
        Digests.Batch(digests, body.Slice(0, 32));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(32), 8);
        int off = Bodies.PrePrepareFixed;
        foreach (var r in requests) { System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(body.Slice(off), r.Length); r.CopyTo(body.Slice(off + 4)); off += 4 + r.Length; }
        _prePrepare = pb.SealVector(body.Slice(0, 32).ToArray()).ToArray();
        if (_v.Verify(_prepare, out _) != ParseStatus.Ok || _v.Verify(_request, out _) != ParseStatus.Ok || _v.Verify(_prePrepare, out _) != ParseStatus.Ok)
            throw new InvalidOperationException("setup messages do not verify");
    }

    /// <summary>PREPARE.</summary>
    [Benchmark] public ParseStatus Prepare() => _v.Verify(_prepare, out _);
    /// <summary>REQUEST.</summary>
    [Benchmark] public ParseStatus Request() => _v.Verify(_request, out _);
    /// <summary>PRE-PREPARE with 8 requests.</summary>
    [Benchmark] public ParseStatus PrePrepare8() => _v.Verify(_prePrepare, out _);
}
