using System.Buffers;
using System.Text;
using FastBft.Agreement;
using FastBft.Agreement.MinBft;
using FastBft.Agreement.Pbft;
using FastBft.Auth;
using FastBft.Client;
using FastBft.Execution.Odrc;
using FastBft.Service;
using FastBft.TrustedHw;
using FastBft.Verification;
using FastBft.Wire;
using FastBft.Workloads.Kv;

namespace FastBft.Odrc.Tests;

/// <summary>
/// MinBFT cores (n = 2f+1 = 3, software USIGs) with the ODRC execution stage, end to end in memory (real MAC vectors and
/// UIs, verifiers, schema and reply voting; FIFO delivery, deterministic) — the MinBFT counterpart of
/// <see cref="PbftOdrcCellTests"/> (docs/odrc.md §4a). Every reply is compared with a sequential reference KV store that
/// executes the same operations in the same order (one request in flight in the whole cell, so issue order = agreement order).
/// </summary>
public sealed class MinBftOdrcCellTests
{
    private const int N = 3, F = 1;

    private sealed class Cell : IDisposable
    {
        public readonly KeyStore Keys = new(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray(), N);
        public readonly OdrcProtocol Protocol = new(MinBftProtocol.Instance, PlacementStrategy.RoundRobin, new SelectorOptions { CheckpointAccesses = 4 });
        public readonly IReplicaCore[] Cores = new IReplicaCore[N];
        public readonly MessageVerifier[] Verifiers = new MessageVerifier[N];
        public readonly KvService[] Services = new KvService[N];
        private readonly UsigCertificateScheme[] _usigs = new UsigCertificateScheme[N];
        public readonly Queue<(uint To, byte[] Msg)> Net = new();
        public readonly Dictionary<uint, List<byte[]>> ToClients = new();
        public uint? Silent;

        public Cell(int viewChangeTicks = 1000)
        {
            var p = new ReplicaParameters { F = F, BatchSize = 8, CheckpointInterval = 4, Window = 8, MaxInflightBatches = 2, RetransmitTicks = 2, ViewChangeTicks = viewChangeTicks };
            Span<byte> key = stackalloc byte[KeyStore.KeySize];
            Assert.True(Keys.TryDeriveUsigKey(key));
            for (uint i = 0; i < N; i++)
            {
                _usigs[i] = new UsigCertificateScheme(new SoftwareUsig(i, key, epoch: 1), ownsUsig: true);
                Services[i] = new KvService(new MemoryKvStore());
                Verifiers[i] = new MessageVerifier(Protocol.Schema, new Authenticator(i, Keys), new VerifierLimits(N, 1000, 8 << 20, 1 << 16, 8), _usigs[i]);
                Cores[i] = Protocol.CreateReplica(p, new Authenticator(i, Keys), Protocol.CreateExecution(p, i, Services[i]), new Out(this, i), usig: _usigs[i]);
            }
        }

        public void Dispose() { foreach (var u in _usigs) u.Dispose(); }

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

        private void Deliver(uint to, byte[] msg)
        {
            if (Silent == to) return;
            if (Verifiers[to].Verify(msg, out var v) != ParseStatus.Ok) return;
            Cores[to].OnMessage(v);
        }

        public void Pump(int maxMessages = 200_000)
        {
            for (int i = 0; i < maxMessages && Net.Count > 0; i++)
            {
                var (to, msg) = Net.Dequeue();
                Deliver(to, msg);
                if (Net.Count == 0) for (uint r = 0; r < N; r++) if (Silent != r) Cores[r].EndOfBurst();
            }
        }

        public void Tick() { for (uint i = 0; i < N; i++) if (Silent != i) Cores[i].OnTick(); Pump(); }

        public OdrcExecutionStage Stage(int i) => (OdrcExecutionStage)Cores[i].Execution;
        public MinBftReplica Core(int i) => (MinBftReplica)Cores[i];
    }

    private sealed class Client(Cell cell, uint id)
    {
        private readonly MessageBuilder _b = new(new Authenticator(id, cell.Keys), N) { Family = ProtocolFamily.MinBft };
        private readonly MessageVerifier _v = new(cell.Protocol.Schema, new Authenticator(id, cell.Keys), new VerifierLimits(N, 1000, 8 << 20, 1 << 16, 8));
        private readonly ReplyVoter _voter = new(N, F);
        private ulong _rid;
        private uint _leader;
        private byte[] _request = [];
        public uint Id => id;
        public ulong Rid => _rid;
        public int Retransmissions;

        public void Send(byte[] op)
        {
            _rid++;
            op.CopyTo(_b.BeginVector(MessageType.Request, 0, _rid, op.Length));
            _request = _b.SealVector().ToArray();
            _voter.Start(_rid);
            cell.Net.Enqueue((_leader, _request));                        // to the leader of the last view a reply showed
        }

        public void Retransmit()
        {
            Retransmissions++;
            for (uint r = 0; r < N; r++) cell.Net.Enqueue((r, _request));   // the stalled-result notice (Thesis §6.4.3)
        }

        public byte[]? Poll()
        {
            if (!cell.ToClients.TryGetValue(id, out var l)) return null;
            foreach (var m in l)
            {
                if (_v.Verify(m, out var vm) != ParseStatus.Ok) continue;
                if (_voter.Outstanding && vm.Header.Sequence == _rid && _voter.OnReply(vm.Header, m))
                {
                    _leader = (uint)(vm.Header.View % N);
                    l.Clear();
                    return _voter.Result.ToArray();
                }
            }
            l.Clear();
            return _voter.Outstanding ? null : _voter.Result.ToArray();
        }
    }

    /// <summary>The sequential reference: one KV store executing every operation once, in agreement order.</summary>
    private sealed class Reference
    {
        private readonly KvService _kv = new(new MemoryKvStore());
        private ulong _seq;
        public byte[] Execute(uint client, ulong rid, byte[] op)
        {
            var w = new ArrayBufferWriter<byte>();
            _kv.Execute(new RequestInfo(client, rid, ++_seq, 0), op, w, null);
            return w.WrittenSpan.ToArray();
        }
    }

    private static byte[] B(string s) => Encoding.ASCII.GetBytes(s);
    private static byte[] Set(string k, string v) { var w = new ArrayBufferWriter<byte>(); KvCodec.Set(w, B(k), B(v)); return w.WrittenSpan.ToArray(); }
    private static byte[] Get(string k) { var w = new ArrayBufferWriter<byte>(); KvCodec.Get(w, B(k)); return w.WrittenSpan.ToArray(); }
    private static byte[] Incr(string k, long d) { var w = new ArrayBufferWriter<byte>(); KvCodec.IncrBy(w, B(k), d); return w.WrittenSpan.ToArray(); }
    private static byte[] MGet(params string[] ks) { var w = new ArrayBufferWriter<byte>(); KvCodec.MultiKey(w, KvOpCode.MGet, ks.Select(B).ToArray()); return w.WrittenSpan.ToArray(); }
    private static byte[] MSet(params (string K, string V)[] kvs) { var w = new ArrayBufferWriter<byte>(); KvCodec.MSet(w, kvs.Select(p => (B(p.K), B(p.V))).ToArray()); return w.WrittenSpan.ToArray(); }

    /// <summary>Runs one request to completion (retransmitting every 10 rounds) and checks its reply against the reference.</summary>
    private static byte[] Call(Cell cell, Client c, Reference reference, byte[] op, int rounds = 400)
    {
        c.Send(op);
        var expected = reference.Execute(c.Id, c.Rid, op);
        for (int round = 0; round < rounds; round++)
        {
            cell.Pump();
            var r = c.Poll();
            if (r is not null)
            {
                Assert.Equal(Encoding.ASCII.GetString(expected), Encoding.ASCII.GetString(r));
                return r;
            }
            cell.Tick();
            if (round % 10 == 9) c.Retransmit();
        }
        throw new Xunit.Sdk.XunitException($"request {c.Id}:{c.Rid} did not complete");
    }

    /// <summary>Object x's maintainers (bit mask over replicas 0..n-1) as every selector computes them.</summary>
    private static ulong Maintainers(Cell cell, string key) => cell.Stage(0).Selector.Placement.Maintainers(B(key), B(key));

    private static bool HasKey(KvService kv, string key)
    {
        var w = new ArrayBufferWriter<byte>();
        ((IObjectStateService)kv).GetObjectState(B(key), w);
        return w.WrittenCount > 0 && w.WrittenSpan[0] == 1;
    }

    [Fact]
    public void PlacementOverTwoFPlusOneGivesEveryObjectFPlus1DistinctMaintainers()
    {
        for (int f = 1; f <= 4; f++)
        {
            var placement = new ObjectPlacement(2 * f + 1, f, PlacementStrategy.RoundRobin);
            var perReplica = new int[2 * f + 1];
            for (int k = 0; k < 3000; k++)
            {
                var id = B($"user{k}");
                ulong m = placement.Maintainers(id, id);
                Assert.Equal(f + 1, System.Numerics.BitOperations.PopCount(m));
                Assert.Equal(0UL, m >> (2 * f + 1));
                for (int r = 0; r < perReplica.Length; r++) if ((m & (1UL << r)) != 0) perReplica[r]++;
            }
            // each replica maintains ≈ (f+1)/(2f+1) of the objects (⅔ at f = 1)
            foreach (int count in perReplica) Assert.InRange(count, 3000 * (f + 1) / (2 * f + 1) * 8 / 10, 3000 * (f + 1) / (2 * f + 1) * 12 / 10);
        }
    }

    [Fact]
    public void SingleObjectRequestsExecuteOnTheirFPlus1MaintainersOnly()
    {
        using var cell = new Cell();
        var reference = new Reference();
        var clients = new[] { new Client(cell, 1000), new Client(cell, 1001), new Client(cell, 1002) };
        const int Keys = 12;
        for (int i = 0; i < 4 * Keys; i++) Call(cell, clients[i % 3], reference, Set($"k{i % Keys}", $"v{i}"));   // K = 4 accesses per object: one object checkpoint each
        long ordered = cell.Stage(0).Selector.Stats.Inserted;
        Assert.Equal(4 * Keys, ordered);
        for (int r = 0; r < N; r++)
        {
            int maintained = 0;
            for (int k = 0; k < Keys; k++)
            {
                bool maintains = ObjectPlacement.Contains(Maintainers(cell, $"k{k}"), (uint)r);
                if (maintains) maintained++;
                Assert.Equal(maintains, HasKey(cell.Services[r], $"k{k}"));   // a non-maintainer never executed a write on it
            }
            Assert.Equal(4L * maintained, cell.Stage(r).Selector.Stats.Executed);
            Assert.Equal(0L, cell.Stage(r).Selector.Stats.Forced);
        }
        Assert.Equal((F + 1) * ordered, Enumerable.Range(0, N).Sum(r => cell.Stage(r).Selector.Stats.Executed));
        Assert.All(clients, c => Assert.Equal(0, c.Retransmissions));
        Assert.True(Enumerable.Range(0, N).Sum(r => cell.Stage(r).Selector.Stats.StableCheckpoints) > 0);
    }

    [Fact]
    public void CrossBorderRequestsMatchTheSequentialReference()
    {
        using var cell = new Cell();
        var reference = new Reference();
        var a = new Client(cell, 1000);
        var b = new Client(cell, 1001);
        // two keys with different maintainer sets, so an MSET/MGET over both is cross-border on some replica
        string k1 = "k0", k2 = Enumerable.Range(1, 50).Select(i => $"k{i}").First(k => Maintainers(cell, k) != Maintainers(cell, "k0"));
        for (int i = 0; i < 20; i++)
        {
            Call(cell, a, reference, Incr(k1, i));
            Call(cell, b, reference, Set(k2, $"x{i}"));
            if (i % 3 == 0) Call(cell, a, reference, MSet((k1, $"m{i}"), (k2, $"n{i}")));
            if (i % 4 == 1) Call(cell, b, reference, MGet(k1, k2, "absent"));
            if (i % 5 == 2) Call(cell, a, reference, Incr(k1, 1));
        }
        Call(cell, b, reference, MGet(k2, k1));
        Assert.True(cell.Stage(0).Selector.Stats.CrossBorder > 0);
        Assert.True(Enumerable.Range(0, N).Sum(r => cell.Stage(r).Selector.Stats.Updates) > 0, "a cross-border request brought unmaintained objects up to date");
        Assert.Equal(0, a.Retransmissions + b.Retransmissions);
    }

    [Fact]
    public void AMuteExecutionReplicaLeadsToForcedExecutionAndClientsComplete_643()
    {
        using var cell = new Cell();
        var reference = new Reference();
        var c = new Client(cell, 1000);
        for (int i = 0; i < 9; i++) Call(cell, c, reference, Set($"k{i}", "a"));
        cell.Silent = 2;                                                       // a follower: MinBFT still commits with f+1 = 2
        for (int i = 0; i < 9; i++) Call(cell, c, reference, Set($"k{i}", "b"));
        for (int i = 0; i < 9; i++) Call(cell, c, reference, Get($"k{i}"));
        Call(cell, c, reference, MGet("k0", "k1", "k2", "k3", "k4"));
        long forced = cell.Stage(0).Selector.Stats.Forced + cell.Stage(1).Selector.Stats.Forced;
        long adopted = cell.Stage(0).Selector.Stats.Adopted + cell.Stage(1).Selector.Stats.Adopted;
        Assert.True(forced > 0 && adopted > 0, $"forced {forced} adopted {adopted}");
        Assert.True(c.Retransmissions <= 4, $"{c.Retransmissions} retransmissions: adoption should end the stalls");
        Assert.Equal(0UL, cell.Core(0).View);                                 // no view change: the leader is correct
    }

    [Fact]
    public void AViewChangeWithTheLeaderMuteKeepsRepliesCorrect()
    {
        using var cell = new Cell(viewChangeTicks: 8);
        var reference = new Reference();
        var a = new Client(cell, 1000);
        var b = new Client(cell, 1001);
        for (int i = 0; i < 8; i++) Call(cell, i % 2 == 0 ? a : b, reference, Set($"k{i}", $"a{i}"));
        cell.Silent = 0;                                                       // the leader of view 0 (and a maintainer of ⅔ of the objects)
        for (int i = 0; i < 8; i++) Call(cell, i % 2 == 0 ? a : b, reference, Incr($"n{i % 3}", i), rounds: 1500);
        for (int i = 0; i < 8; i++) Call(cell, i % 2 == 0 ? a : b, reference, Get($"k{i}"));
        Call(cell, a, reference, MSet(("k1", "z1"), ("k2", "z2"), ("k5", "z5")));
        Call(cell, b, reference, MGet("k1", "k2", "k5", "n0", "n1", "n2"));
        Assert.True(cell.Core(1).View > 0 && cell.Core(1).View == cell.Core(2).View, $"views {cell.Core(1).View} {cell.Core(2).View}");
        Assert.True(cell.Stage(1).Selector.Stats.Forced + cell.Stage(2).Selector.Stats.Forced > 0);
        Assert.Equal(cell.Stage(1).Selector.Stats.Inserted, cell.Stage(2).Selector.Stats.Inserted);
    }

    [Fact]
    public void ReMinBftAndRePbftCannotHostOdrc()
    {
        foreach (var kind in new[] { ProtocolKind.RePbft, ProtocolKind.RePbftStar, ProtocolKind.ReMinBft })
        {
            Assert.False(OdrcProtocol.Supports(kind, out var why));
            Assert.Contains("passive replicas", why);
            Assert.Contains("state updates", why);
        }
        Assert.True(OdrcProtocol.Supports(ProtocolKind.MinBft, out _));
        Assert.True(OdrcProtocol.Supports(ProtocolKind.Pbft, out _));
        var e = Assert.Throws<NotSupportedException>(() => new OdrcProtocol(FastBft.Agreement.ReMinBft.ReMinBftProtocol.Instance, PlacementStrategy.RoundRobin));
        Assert.Contains("passive replicas", e.Message);
    }
}
