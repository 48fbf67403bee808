using System.Buffers;
using System.Text;
using FastBft.Agreement;
using FastBft.Agreement.Pbft;
using FastBft.Auth;
using FastBft.Client;
using FastBft.Execution.Odrc;
using FastBft.Verification;
using FastBft.Wire;
using FastBft.Workloads.Kv;

namespace FastBft.Odrc.Tests;

/// <summary>
/// PBFT cores with the ODRC execution stage, end to end in memory (real MAC vectors, verifiers, schema and reply voting;
/// messages delivered in FIFO order, deterministically): each request executes on f+1 replicas, clients accept it, a
/// silent replica's clients recover through stalled-result notices (retransmissions) and suspect-and-adopt.
/// </summary>
public sealed class PbftOdrcCellTests
{
    private sealed class Cell : IReplicaOutput
    {
        public const int N = 4;
        public readonly KeyStore Keys = new(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray(), N);
        public readonly OdrcProtocol Protocol = new(PbftProtocol.Instance, PlacementStrategy.RoundRobin, new SelectorOptions { CheckpointAccesses = 4 });
        public readonly IReplicaCore[] Cores = new IReplicaCore[N];
        public readonly MessageVerifier[] Verifiers = new MessageVerifier[N];
        public readonly KvService[] Services = new KvService[N];
        public readonly Queue<(uint To, byte[] Msg)> Net = new();
        public readonly Dictionary<uint, List<byte[]>> ToClients = new();
        public uint? Silent;
        private uint _current;

        public Cell()
        {
            var p = new ReplicaParameters { F = 1, BatchSize = 8, CheckpointInterval = 4, Window = 8, MaxInflightBatches = 2, RetransmitTicks = 2, ViewChangeTicks = 1000 };
            for (uint i = 0; i < N; i++)
            {
                Services[i] = new KvService(new MemoryKvStore());
                Verifiers[i] = new MessageVerifier(Protocol.Schema, new Authenticator(i, Keys), new VerifierLimits(N, 1000, 8 << 20, 1 << 16, 8));
                Cores[i] = Protocol.CreateReplica(p, new Authenticator(i, Keys), Protocol.CreateExecution(p, i, Services[i]), new Out(this, i));
            }
        }

        private sealed class Out(Cell cell, uint from) : IReplicaOutput
        {
            public void SendToReplica(uint replica, ReadOnlySpan<byte> message) { if (cell.Silent != from) cell.Net.Enqueue((replica, message.ToArray())); }
            public void SendToClient(uint client, ReadOnlySpan<byte> message)
            {
                if (cell.Silent == from) return;
                if (!cell.ToClients.TryGetValue(client, out var l)) cell.ToClients[client] = l = new();
                l.Add(message.ToArray());
            }
        }

        public void SendToReplica(uint replica, ReadOnlySpan<byte> message) => Net.Enqueue((replica, message.ToArray()));
        public void SendToClient(uint client, ReadOnlySpan<byte> message) { }

        public void Deliver(uint to, byte[] msg)
        {
            if (Silent == to) return;
            if (Verifiers[to].Verify(msg, out var v) != ParseStatus.Ok) return;
            _current = to;
            Cores[to].OnMessage(v);
        }

        public void Pump(int maxMessages = 200_000)
        {
            for (int i = 0; i < maxMessages && Net.Count > 0; i++)
            {
                var (to, msg) = Net.Dequeue();
                Deliver(to, msg);
                if (Net.Count == 0) foreach (var c in Cores) c.EndOfBurst();
            }
        }

        public void Tick() { for (uint i = 0; i < N; i++) if (Silent != i) Cores[i].OnTick(); Pump(); }
    }

    private sealed class Client(Cell cell, uint id)
    {
        private readonly MessageBuilder _b = new(new Authenticator(id, cell.Keys), Cell.N);
        private readonly MessageVerifier _v = new(cell.Protocol.Schema, new Authenticator(id, cell.Keys), new VerifierLimits(Cell.N, 1000, 8 << 20, 1 << 16, 8));
        private readonly ReplyVoter _voter = new(Cell.N, 1);
        private ulong _rid;
        private byte[] _request = [];
        public int Retransmissions;

        public void Send(byte[] op)
        {
            _rid++;
            op.CopyTo(_b.BeginVector(MessageType.Request, 0, _rid, op.Length));
            _request = _b.SealVector().ToArray();
            _voter.Start(_rid);
            cell.Net.Enqueue((0, _request));                              // to the primary first
        }

        public void Retransmit()
        {
            Retransmissions++;
            for (uint r = 0; r < Cell.N; r++) cell.Net.Enqueue((r, _request));   // the stalled-result notice (Thesis §6.4.3)
        }

        public byte[]? Poll()
        {
            if (!cell.ToClients.TryGetValue(id, out var l)) return null;
            foreach (var m in l)
            {
                if (_v.Verify(m, out var vm) != ParseStatus.Ok) continue;
                if (_voter.Outstanding && vm.Header.Sequence == _rid && _voter.OnReply(vm.Header, m)) { l.Clear(); return _voter.Result.ToArray(); }
            }
            l.Clear();
            return _voter.Outstanding ? null : _voter.Result.ToArray();
        }
    }

    private static byte[] Set(string k, string v) { var w = new ArrayBufferWriter<byte>(); KvCodec.Set(w, Encoding.ASCII.GetBytes(k), Encoding.ASCII.GetBytes(v)); return w.WrittenSpan.ToArray(); }
    private static byte[] Get(string k) { var w = new ArrayBufferWriter<byte>(); KvCodec.Get(w, Encoding.ASCII.GetBytes(k)); return w.WrittenSpan.ToArray(); }

    private static byte[] Call(Cell cell, Client c, byte[] op)
    {
        c.Send(op);
        for (int round = 0; round < 200; round++)
        {
            cell.Pump();
            var r = c.Poll();
            if (r is not null) return r;
            cell.Tick();
            if (round % 10 == 9) c.Retransmit();
        }
        throw new Xunit.Sdk.XunitException("request did not complete");
    }

    private static OdrcExecutionStage Stage(Cell cell, int i) => (OdrcExecutionStage)((PbftReplica)cell.Cores[i]).Execution;

    [Fact]
    public void EachRequestExecutesOnFPlus1ReplicasAndClientsAcceptIt()
    {
        var cell = new Cell();
        var c = new Client(cell, 1000);
        for (int i = 0; i < 40; i++)
        {
            Assert.Equal("+OK\r\n", Encoding.ASCII.GetString(Call(cell, c, Set($"k{i % 7}", $"v{i}"))));
        }
        var got = Encoding.ASCII.GetString(Call(cell, c, Get("k3")));
        Assert.Equal("$3\r\nv38\r\n", got);
        long executed = Enumerable.Range(0, Cell.N).Sum(i => Stage(cell, i).Selector.Stats.Executed);
        long ordered = Stage(cell, 0).Selector.Stats.Inserted;
        Assert.Equal(41, ordered);
        Assert.Equal(2 * ordered, executed);                                   // f+1 executions, no forcing without faults
        Assert.Equal(0, c.Retransmissions);
        Assert.True(Enumerable.Range(0, Cell.N).Sum(i => Stage(cell, i).Selector.Stats.StableCheckpoints) > 0);
    }

    [Fact]
    public void ASilentExecutionReplicaDelaysOnlyUntilTheOthersForceAndAdopt_643_6614()
    {
        var cell = new Cell();
        var c = new Client(cell, 1000);
        for (int i = 0; i < 8; i++) Call(cell, c, Set($"k{i}", "a"));
        cell.Silent = 3;                                                       // a backup: PBFT still orders with 3
        for (int i = 0; i < 8; i++) Assert.Equal("+OK\r\n", Encoding.ASCII.GetString(Call(cell, c, Set($"k{i}", "b"))));
        for (int i = 0; i < 8; i++) Assert.Equal("$1\r\nb\r\n", Encoding.ASCII.GetString(Call(cell, c, Get($"k{i}"))));
        long forced = Enumerable.Range(0, 3).Sum(i => Stage(cell, i).Selector.Stats.Forced);
        long adopted = Enumerable.Range(0, 3).Sum(i => Stage(cell, i).Selector.Stats.Adopted);
        Assert.True(forced > 0 && adopted > 0, $"forced {forced} adopted {adopted}");
        Assert.True(c.Retransmissions <= 4, $"{c.Retransmissions} retransmissions: adoption should end the stalls");
    }
}
