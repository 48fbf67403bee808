using BenchmarkDotNet.Attributes;
using FastBft.Transport;

namespace FastBft.Benchmarks;

/// <summary>Transport frame codec: bundle encode/validate/decode and fragment encode/decode.</summary>
[MemoryDiagnoser]
public class TransportCodecBenchmarks
{
    private readonly byte[] _datagram = new byte[65000];
    private readonly byte[] _message = new byte[200];
    private readonly byte[] _fragmentPayload = new byte[64968];
    private readonly byte[] _fragment = new byte[65000];
    private int _bundleLength;
    private int _fragmentLength;

    /// <summary>Messages per bundle.</summary>
    [Params(1, 32)]
    public int Entries { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _bundleLength = EncodeBundle();
        _fragmentLength = FrameCodec.WriteFragment(_fragment, 1000, 0, 7, 4 * 1024 * 1024, 3, 65, 3 * 64968, _fragmentPayload);
    }

    /// <summary>Writes a bundle of <see cref="Entries"/> 200-byte messages.</summary>
    [Benchmark]
    public int EncodeBundle()
    {
        Span<byte> d = _datagram;
        FrameCodec.WriteFrameHeader(d, FrameKind.Bundle);
        int pos = FrameCodec.FrameHeaderSize;
        for (int i = 0; i < Entries; i++) pos += FrameCodec.WriteBundleEntry(d.Slice(pos), 1000u + (uint)i, 0, _message);
        return pos;
    }

    /// <summary>Validates and walks a bundle of <see cref="Entries"/> messages.</summary>
    [Benchmark]
    public int DecodeBundle()
    {
        ReadOnlySpan<byte> d = _datagram.AsSpan(0, _bundleLength);
        if (FrameCodec.ValidateBundle(d, 4 * 1024 * 1024) == 0) return -1;
        int pos = FrameCodec.FrameHeaderSize, sum = 0;
        while (FrameCodec.NextValidatedEntry(d, ref pos, out uint s, out _, out ReadOnlySpan<byte> m)) sum += m.Length + (int)s;
        return sum;
    }

    /// <summary>Parses and validates one full-size fragment header.</summary>
    [Benchmark]
    public int DecodeFragment() =>
        FrameCodec.TryReadFragment(_fragment.AsSpan(0, _fragmentLength), 4 * 1024 * 1024, out FragmentHeader h, out ReadOnlySpan<byte> p) ? h.Index + p.Length : -1;
}

/// <summary>
/// DatagramTransport over a link that discards datagrams: the cost of Send+Flush (bundling) and of the
/// receive path (ProcessDatagram through a recorded bundle), without syscalls.
/// </summary>
[MemoryDiagnoser]
public class TransportPathBenchmarks
{
    private sealed class NullLink : IDatagramLink
    {
        public byte[] Last = new byte[65000];
        public int LastLength;
        public int MaxDatagramSize => 65000;
        public TransportStats Stats { get; } = new();
        public void SendDatagram(int peer, ReadOnlySpan<byte> datagram) { datagram.CopyTo(Last); LastLength = datagram.Length; }
        public void FlushDatagrams() { }
        public int ReceiveDatagrams(IDatagramSink sink, int timeoutMs) { sink.OnDatagram(1, Last.AsSpan(0, LastLength)); return 1; }
        public void Dispose() { }
    }

    private sealed class NullHandler : IMessageHandler
    {
        public long Count;
        public void OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message) => Count++;
    }

    private DatagramTransport _transport = null!;
    private readonly byte[] _message = new byte[200];
    private readonly NullHandler _handler = new();

    [GlobalSetup]
    public void Setup()
    {
        var peers = new Dictionary<uint, int>();
        for (uint c = 0; c < 32; c++) peers[1000 + c] = 1;
        _transport = new DatagramTransport(new NullLink(), new DatagramTransportOptions { StaticPeers = peers });
        Send32AndFlush(); // leaves one 32-message bundle in the link for Poll32
    }

    [GlobalCleanup]
    public void Cleanup() => _transport.Dispose();

    /// <summary>32 replies of 200 B to 32 client ids of one endpoint, one Flush (one datagram).</summary>
    [Benchmark(OperationsPerInvoke = 32)]
    public void Send32AndFlush()
    {
        for (uint c = 0; c < 32; c++) _transport.Send(1000 + c, 0, _message);
        _transport.Flush();
    }

    /// <summary>Receive path of the last datagram (32 messages) through validation and routing.</summary>
    [Benchmark(OperationsPerInvoke = 32)]
    public int Poll32() => _transport.Poll(_handler, 0);
}
