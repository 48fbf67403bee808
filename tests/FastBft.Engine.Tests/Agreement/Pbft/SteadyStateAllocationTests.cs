using FastBft.Auth;
using FastBft.Engine.Tests.Support;
using FastBft.Agreement;
using FastBft.Agreement.Pbft;
using FastBft.Wire;
using FastBft.Workloads;

namespace FastBft.Engine.Tests.Agreement.Pbft;

/// <summary>
/// Bytes allocated per request on the request path — authentication (build + verify MACs and
/// digests) and the protocol core of all four replicas, execution included — in steady state.
/// Messages travel through a preallocated ring so the harness itself allocates nothing.
/// (The transport's own steady-state allocation is covered by the transport tests.)
/// </summary>
public class SteadyStateAllocationTests(ITestOutputHelper output)
{
    private sealed class Ring : IReplicaOutput
    {
        private readonly byte[][] _slots;
        private readonly int[] _len;
        private readonly uint[] _to;
        private int _head, _count;
        private readonly uint _self;
        public long ToClients;
        public Ring(int capacity, uint self, Ring? shared = null)
        {
            _self = self;
            _slots = shared?._slots ?? Enumerable.Range(0, capacity).Select(_ => new byte[48 * 1024]).ToArray();
            _len = shared?._len ?? new int[capacity];
            _to = shared?._to ?? new uint[capacity];
        }
        public void SendToReplica(uint replica, ReadOnlySpan<byte> message)
        {
            int i = (_head + _count) % _slots.Length;
            message.CopyTo(_slots[i]); _len[i] = message.Length; _to[i] = replica; _count++;
            if (_count > _slots.Length) throw new InvalidOperationException("ring overflow");
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
    [InlineData("0/0", ProtocolKind.Pbft)]
    [InlineData("0/4", ProtocolKind.Pbft)]
    [InlineData("4/0", ProtocolKind.Pbft)]
    [InlineData("0/0", ProtocolKind.RePbft)]      // endorsements, UPDATEs to the passive replica, signed all-n checkpoints
    [InlineData("4/0", ProtocolKind.RePbft)]
    [InlineData("0/4", ProtocolKind.RePbftStar)]
    public void RequestPathAllocatesNothingInSteadyState(string workload, ProtocolKind kind)
    {
        var f = new MessageFactory();
        var w = Workload.Parse(workload);
        var ring = new Ring(1024, 0);
        var protocol = Protocols.Get(kind);
        var parameters = new ReplicaParameters { F = 1, BatchSize = 8, CheckpointInterval = 16, Window = 64, MaxInflightBatches = 2 };
        var replicas = new IReplicaCore[4];
        var verifiers = new MessageVerifier[4];
        for (uint i = 0; i < 4; i++)
        {
            replicas[i] = protocol.CreateReplica(parameters, new Authenticator(i, f.Keys), protocol.CreateExecution(parameters, i, new NoOpService(w)), ring);
            verifiers[i] = new MessageVerifier(protocol.Schema, new Authenticator(i, f.Keys), new VerifierLimits(4, MessageFactory.FirstClient, 1 << 22, 1 << 16, 8));
        }
        const int clients = 8;
        var builders = Enumerable.Range(0, clients).Select(c => f.Builder(MessageFactory.FirstClient + (uint)c)).ToArray();
        foreach (var b in builders) b.Family = protocol.Shape(1).Family;
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
                replicas[0].EndOfBurst();
                if (!ring.TryTake(out var to, out var m)) break;
                do
                {
                    if (verifiers[to].Verify(m, out var v) == ParseStatus.Ok) replicas[to].OnMessage(v);
                } while (ring.TryTake(out to, out m));
            }
        }

        for (int i = 0; i < 300; i++) Round();      // warm-up: buffers reach their steady sizes, JIT tiers settle
        const int rounds = 1000;
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < rounds; i++) Round();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long requests = rounds * clients;
        output.WriteLine($"{kind} {workload}: {allocated} bytes allocated for {requests} requests = {(double)allocated / requests:0.###} B/request; replies sent {ring.ToClients}");
        Assert.All(replicas, r => Assert.Equal((ulong)((300 + rounds) * clients / 8), r.LastExecuted));
        Assert.Equal(0, allocated);
    }
}
