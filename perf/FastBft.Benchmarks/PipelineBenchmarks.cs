using BenchmarkDotNet.Attributes;
using FastBft.Agreement;
using FastBft.Auth;
using FastBft.Verification;
using FastBft.Wire;
using FastBft.Workloads;

namespace FastBft.Benchmarks;

/// <summary>
/// Engine CPU per request without the transport and the OS: a 4-replica PBFT cell (f = 1) whose
/// messages travel through an in-memory ring; one operation = one round in which 8 clients each
/// submit one request (workload <see cref="Workload"/>) and the cell orders, executes and replies to all of them
/// (verification + core + execution stage + reply building of all four replicas, and the clients'
/// request building). Divide by 8 for time per request. Allocation must stay 0 B.
/// Run: dotnet run -c Release --project perf/FastBft.Benchmarks -- --filter '*PipelineBenchmarks*' --job short
/// </summary>
[MemoryDiagnoser]
public class PipelineBenchmarks
{
    private const int Clients = 8;
    private Ring _ring = null!;
    private IReplicaCore[] _replicas = null!;
    private MessageVerifier[] _verifiers = null!;
    private MessageBuilder[] _builders = null!;
    private byte[] _op = [];

    /// <summary>Workload a/b (request KiB / reply KiB): 0/0 and 4/0.</summary>
    [Params("0/0", "4/0")]
    public string Workload { get; set; } = "0/0";
    private ulong _rid;

    private sealed class Ring : IReplicaOutput
    {
        private readonly byte[][] _slots = Enumerable.Range(0, 1024).Select(_ => new byte[64 * 1024]).ToArray();
        private readonly int[] _len = new int[1024];
        private readonly uint[] _to = new uint[1024];
        private int _head, _count;
        public void SendToReplica(uint replica, ReadOnlySpan<byte> message)
        {
            int i = (_head + _count) % _slots.Length;
            message.CopyTo(_slots[i]); _len[i] = message.Length; _to[i] = replica; _count++;
        }
        public void SendToClient(uint client, ReadOnlySpan<byte> message) { }
        public bool TryTake(out uint to, out ReadOnlySpan<byte> msg)
        {
            if (_count == 0) { to = 0; msg = default; return false; }
            to = _to[_head]; msg = _slots[_head].AsSpan(0, _len[_head]);
            _head = (_head + 1) % _slots.Length; _count--;
            return true;
        }
    }

    [GlobalSetup]
    public void Setup()
    {
        var master = new byte[32]; for (int i = 0; i < 32; i++) master[i] = (byte)(i * 13 + 5);
        var keys = new KeyStore(master, 4, 1000);
        var protocol = Protocols.Get(ProtocolKind.Pbft);
        var p = new ReplicaParameters { F = 1, BatchSize = 8, CheckpointInterval = 16, Window = 64, MaxInflightBatches = 2 };
        _ring = new Ring();
        _replicas = new IReplicaCore[4];
        _verifiers = new MessageVerifier[4];
        for (uint i = 0; i < 4; i++)
        {
            _replicas[i] = protocol.CreateReplica(p, new Authenticator(i, keys), protocol.CreateExecution(p, i, new NoOpService(FastBft.Workloads.Workload.Parse(Workload))), _ring);
            _verifiers[i] = new MessageVerifier(protocol.Schema, new Authenticator(i, keys), new VerifierLimits(4, 1000, 1 << 22, 1 << 16, 8));
        }
        _op = new byte[FastBft.Workloads.Workload.Parse(Workload).RequestBytes];
        _builders = Enumerable.Range(0, Clients).Select(c => new MessageBuilder(new Authenticator(1000 + (uint)c, keys), 4)).ToArray();
        for (int i = 0; i < 500; i++) Round();
    }

    /// <summary>One round: 8 requests ordered, executed and answered by all four replicas.</summary>
    [Benchmark(OperationsPerInvoke = Clients)]
    public void Round()
    {
        _rid++;
        for (int c = 0; c < Clients; c++)
        {
            _op.CopyTo(_builders[c].BeginVector(MessageType.Request, 0, _rid, _op.Length));
            var msg = _builders[c].SealVector();
            if (_verifiers[0].Verify(msg, out var v) == ParseStatus.Ok) _replicas[0].OnMessage(v);
        }
        while (true)
        {
            _replicas[0].EndOfBurst();
            if (!_ring.TryTake(out var to, out var m)) break;
            do
            {
                if (_verifiers[to].Verify(m, out var v) == ParseStatus.Ok) _replicas[to].OnMessage(v);
            } while (_ring.TryTake(out to, out m));
        }
    }
}
