using FastBft.Agreement;
using FastBft.Auth;
using FastBft.TrustedHw;
using FastBft.Wire;
using FastBft.Workloads;

namespace FastBft.Engine.Tests.Agreement.MinBft;

/// <summary>
/// Bytes allocated per request on MinBFT's request path — MACs, USIG certification (one SealBatch per burst) and
/// verification, counter order, the core of all three replicas, execution, checkpoints — in steady state. Messages
/// travel through a preallocated ring so the harness allocates nothing.
/// </summary>
public sealed class MinBftSteadyStateAllocationTests(ITestOutputHelper output)
{
    private sealed class Ring(int capacity) : IReplicaOutput
    {
        private readonly byte[][] _slots = Enumerable.Range(0, capacity).Select(_ => new byte[48 * 1024]).ToArray();
        private readonly int[] _len = new int[capacity];
        private readonly uint[] _to = new uint[capacity];
        private int _head, _count;
        public long ToClients;
        public void SendToReplica(uint replica, ReadOnlySpan<byte> message)
        {
            if (_count == _slots.Length) throw new InvalidOperationException("ring overflow");
            int i = (_head + _count) % _slots.Length;
            message.CopyTo(_slots[i]); _len[i] = message.Length; _to[i] = replica; _count++;
        }
        public void SendToClient(uint client, ReadOnlySpan<byte> message) => ToClients++;
        public bool TryTake(out uint to, out ReadOnlySpan<byte> msg)
        {
            if (_count == 0) { to = 0; msg = default; return false; }
            to = _to[_head]; msg = _slots[_head].AsSpan(0, _len[_head]);
            _head = (_head + 1) % _slots.Length; _count--;
            return true;
        }
    }

    [Theory]
    [InlineData("0/0", ProtocolKind.MinBft)]
    [InlineData("4/0", ProtocolKind.MinBft)]
    [InlineData("0/4", ProtocolKind.MinBft)]
    [InlineData("0/0", ProtocolKind.ReMinBft)]
    [InlineData("4/0/1", ProtocolKind.ReMinBft)]
    [InlineData("0/4", ProtocolKind.ReMinBft)]
    public void RequestPathAllocatesNothingInSteadyState(string workload, ProtocolKind kind)
    {
        const int n = 3;
        const uint firstClient = 1000;
        var master = new byte[32]; for (int i = 0; i < 32; i++) master[i] = (byte)(i * 11 + 3);
        var keys = new KeyStore(master, n, firstClient);
        var usigKey = new byte[32];
        Assert.True(keys.TryDeriveUsigKey(usigKey));
        var w = Workload.Parse(workload);
        var ring = new Ring(1024);
        var protocol = Protocols.Get(kind);   // ReMinBFT: the passive replica's UPDATE and CHECKPOINT paths included
        var parameters = new ReplicaParameters { F = 1, BatchSize = 8, CheckpointInterval = 16, Window = 64, MaxInflightBatches = 2 };
        var replicas = new IReplicaCore[n];
        var verifiers = new MessageVerifier[n];
        for (uint i = 0; i < n; i++)
        {
            var usig = new UsigCertificateScheme(new SoftwareUsig(i, usigKey, epoch: 1), ownsUsig: true);
            replicas[i] = protocol.CreateReplica(parameters, new Authenticator(i, keys), protocol.CreateExecution(parameters, i, new NoOpService(w)), ring, usig: usig);
            verifiers[i] = new MessageVerifier(protocol.Schema, new Authenticator(i, keys), new VerifierLimits(n, firstClient, 1 << 22, 1 << 16, 8), usig);
        }
        const int clients = 8;
        var builders = Enumerable.Range(0, clients).Select(c => new MessageBuilder(new Authenticator(firstClient + (uint)c, keys), n) { Family = protocol.Shape(1).Family }).ToArray();
        var op = new byte[w.RequestBytes];
        ulong rid = 0;

        void Round()
        {
            rid++;
            for (int c = 0; c < clients; c++)
            {
                var body = builders[c].BeginVector(MessageType.Request, 0, rid, op.Length);
                op.CopyTo(body);
                var msg = builders[c].SealVector();
                if (verifiers[0].Verify(msg, out var v) == ParseStatus.Ok) replicas[0].OnMessage(v);
            }
            while (true)
            {
                foreach (var r in replicas) r.EndOfBurst();
                if (!ring.TryTake(out var to, out var m)) break;
                do
                {
                    if (verifiers[to].Verify(m, out var v) == ParseStatus.Ok) replicas[to].OnMessage(v);
                } while (ring.TryTake(out to, out m));
            }
        }

        // Warm-up: buffers reach their steady sizes and JIT tiers settle. The sent log is a ring of two windows' counters
        // whose entries grow on first use by a PREPARE; a slot first used by a CHECKPOINT grows a lap later.
        const int warmup = 800;
        for (int i = 0; i < warmup; i++) Round();
        const int rounds = 1000;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < rounds; i++) Round();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long requests = rounds * clients;
        output.WriteLine($"{kind} {workload}: {allocated} bytes allocated for {requests} requests = {(double)allocated / requests:0.###} B/request; replies sent {ring.ToClients}");
        Assert.All(replicas, r => Assert.Equal((ulong)((warmup + rounds) * clients / 8), r.LastExecuted));
        Assert.Equal(0, allocated);
    }
}
