using System.Buffers;
using System.Text;
using FastBft.Agreement;
using FastBft.Agreement.Pbft;
using FastBft.Auth;
using FastBft.Client;
using FastBft.Execution;
using FastBft.Service;
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
        private readonly ReplicaParameters _p = new() { F = 1, BatchSize = 8, CheckpointInterval = 4, Window = 8, MaxInflightBatches = 2, RetransmitTicks = 2, ViewChangeTicks = 1000 };

        /// <summary>Replica → the forger its served checkpoint objects go through (a Byzantine state-transfer source).</summary>
        public readonly Dictionary<uint, Func<byte[], byte[]>> Forgers = new();
        public readonly List<(uint From, MessageType Type)> Sent = new();

        public Cell(Dictionary<uint, Func<byte[], byte[]>>? forgers = null)
        {
            if (forgers is not null) Forgers = forgers;
            for (uint i = 0; i < N; i++)
            {
                Verifiers[i] = new MessageVerifier(Protocol.Schema, new Authenticator(i, Keys), new VerifierLimits(N, 1000, 8 << 20, 1 << 16, 8));
                Restart(i);
            }
        }

        /// <summary>Replaces replica <paramref name="i"/> by a fresh core over a fresh stage and an empty store (a restart without durable state).</summary>
        public void Restart(uint i)
        {
            Services[i] = new KvService(new MemoryKvStore());
            var stage = (OdrcExecutionStage)Protocol.CreateExecution(_p, i, Services[i]);
            IExecutionStage exec = stage;
            if (Forgers.TryGetValue(i, out var forge)) exec = new ForgingStage(stage, forge);
            Cores[i] = Protocol.CreateReplica(_p, new Authenticator(i, Keys), exec, new Out(this, i));
        }

        private sealed class Out(Cell cell, uint from) : IReplicaOutput
        {
            public void SendToReplica(uint replica, ReadOnlySpan<byte> message)
            {
                if (cell.Silent == from) return;
                if (MessageHeader.TryParse(message, int.MaxValue, out var h) == ParseStatus.Ok && h.Type == MessageType.StateData) cell.Sent.Add((from, h.Type));
                cell.Net.Enqueue((replica, message.ToArray()));
            }
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

    /// <summary>A Byzantine replica's stage: executes correctly, but every checkpoint object it serves goes through a forger.</summary>
    private sealed class ForgingStage(OdrcExecutionStage inner, Func<byte[], byte[]> forge) : IExecutionStage, IOdrcStage
    {
        public OdrcExecutionStage Inner => inner;
        private byte[] _served = [];
        public ReplyCache Replies => inner.Replies;
        public bool Executes => inner.Executes;
        public void Committed(ulong sequence, ReadOnlySpan<byte> batchBody, IExecutionSink sink) => inner.Committed(sequence, batchBody, sink);
        public void TakeCheckpoint(ulong sequence, Span<byte> digest32) => inner.TakeCheckpoint(sequence, digest32);
        public bool TryGetCheckpoint(ulong sequence, out ReadOnlySpan<byte> snapshot) => TryReadCheckpointObject(sequence, 0, out snapshot);
        public bool TryReadCheckpointObject(ulong sequence, uint obj, out ReadOnlySpan<byte> bytes)
        {
            bytes = default;
            if (obj != 0 || !inner.TryGetCheckpoint(sequence, out var real)) return false;
            _served = forge(real.ToArray());
            bytes = _served;
            return true;
        }
        public bool TryInstallCheckpoint(ulong sequence, ReadOnlySpan<byte> snapshot) => inner.TryInstallCheckpoint(sequence, snapshot);
        public void GetStateDigest(Span<byte> digest32) => inner.GetStateDigest(digest32);
        public void Attach(IOdrcCore core, IExecutionSink sink) => inner.Attach(core, sink);
        public void OnOdrcMessage(in MessageHeader header, ReadOnlySpan<byte> body) => inner.OnOdrcMessage(header, body);
        public void OnTick() => inner.OnTick();
        public bool OnStalledRequest(uint client, ulong rid) => inner.OnStalledRequest(client, rid);
    }

    private sealed class Client(Cell cell, uint id)
    {
        private readonly MessageBuilder _b = new(new Authenticator(id, cell.Keys), Cell.N);
        private readonly MessageVerifier _v = new(cell.Protocol.Schema, new Authenticator(id, cell.Keys), new VerifierLimits(Cell.N, 1000, 8 << 20, 1 << 16, 8));
        private readonly ReplyVoter _voter = new(Cell.N, 1);
        private ulong _rid;
        public ulong Rid => _rid;
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

    private static OdrcExecutionStage Stage(Cell cell, int i) => ((PbftReplica)cell.Cores[i]).Execution switch
    {
        ForgingStage f => f.Inner,
        var e => (OdrcExecutionStage)e,
    };

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

    // ------------------------------------------------------------------ whole-replica state transfer (docs/odrc.md §9)

    private static readonly string[] Keys = Enumerable.Range(0, 12).Select(i => $"k{i}").ToArray();

    /// <summary>The sequential reference: the same operations, in the order the client issued them (one client, one outstanding request).</summary>
    private sealed class Reference
    {
        private readonly KvService _kv = new(new MemoryKvStore());
        private ulong _rid;
        public byte[] Execute(byte[] op)
        {
            var w = new ArrayBufferWriter<byte>();
            _kv.Execute(new RequestInfo(1000, ++_rid, _rid, 0), op, w, null);
            return w.WrittenSpan.ToArray();
        }
        public byte[] State(string key) { var w = new ArrayBufferWriter<byte>(); _kv.GetObjectState(Encoding.ASCII.GetBytes(key), w); return w.WrittenSpan.ToArray(); }
    }

    private static byte[] State(KvService kv, string key) { var w = new ArrayBufferWriter<byte>(); kv.GetObjectState(Encoding.ASCII.GetBytes(key), w); return w.WrittenSpan.ToArray(); }

    /// <summary>
    /// Replica 3 is cut off (or crashes) while the others order 48 more requests — 12 agreement checkpoints with a window of 8:
    /// they garbage-collect far past it — then comes back (or restarts empty). It must catch up by state transfer of the ODRC
    /// agreement checkpoint and then execute requests on the objects it maintains with the reference's replies, its copies
    /// equal to the reference's.
    /// </summary>
    private static (Cell Cell, Client Client, Reference Ref) LagAndRejoin(bool restart, Dictionary<uint, Func<byte[], byte[]>>? forgers = null)
    {
        var cell = new Cell(forgers);
        var c = new Client(cell, 1000);
        var reference = new Reference();
        void Do(byte[] op) => Assert.Equal(Encoding.ASCII.GetString(reference.Execute(op)), Encoding.ASCII.GetString(Call(cell, c, op)));
        for (int i = 0; i < 26; i++) Do(Set(Keys[i % 12], $"a{i}"));        // 2–3 accesses per key: no object checkpoint yet (K = 4)
        for (int i = 0; i < 8; i++) Do(Set(Keys[i % 2], $"h{i}"));           // k0, k1: checkpointed before the cut
        cell.Silent = 3;
        for (int i = 0; i < 48; i++) Do(i % 3 == 2 ? Get(Keys[i % 12]) : Set(Keys[(i * 5) % 12], $"b{i}"));
        var before = (PbftReplica)cell.Cores[3];
        Assert.True(((PbftReplica)cell.Cores[0]).LowWatermark > before.LastExecuted + 8, "the others garbage-collected past replica 3");
        if (restart) cell.Restart(3);
        cell.Silent = null;
        for (int i = 0; i < 24; i++)
        {
            Do(i % 2 == 0 ? Set(Keys[(i * 7) % 12], $"c{i}") : Get(Keys[(i * 7) % 12]));
            cell.Tick(); cell.Tick();                                          // time passes: a stalled replica fetches (2 × RetransmitTicks)
        }
        var r3 = (PbftReplica)cell.Cores[3];
        Assert.True(r3.StateTransfers >= 1, $"replica 3 caught up by state transfer (executed {r3.LastExecuted}, others {((PbftReplica)cell.Cores[0]).LastExecuted}, bad {r3.Stats.BadStateTransfers}, refused {Stage(cell, 3).InstallsRefused})");
        Assert.True(Stage(cell, 3).Installs >= 1);
        Assert.Equal(0, Stage(cell, 3).InstallsRefused);
        return (cell, c, reference);
    }

    /// <summary>After the catch-up: every object replica 3 maintains is read and written through it; it executes them (no forcing) with the reference's replies and ends with the reference's copies.</summary>
    private static void AssertParticipates(Cell cell, Client c, Reference reference)
    {
        var stage = Stage(cell, 3);
        var maintained = Keys.Where(k => stage.Selector.Maintains(Encoding.ASCII.GetBytes(k))).ToArray();
        Assert.NotEmpty(maintained);
        foreach (var key in maintained)
            foreach (var op in new[] { Get(key), Set(key, "z" + key), Get(key) })
            {
                long executedBefore = stage.Selector.Stats.Executed;
                var expected = reference.Execute(op);
                Assert.Equal(Encoding.ASCII.GetString(expected), Encoding.ASCII.GetString(Call(cell, c, op)));
                // replica 3 may still be a few batches behind in agreement: let time pass until its order reaches the others'
                for (int t = 0; t < 100 && (stage.Selector.LastOrdinal < Stage(cell, 0).Selector.LastOrdinal || stage.Selector.SelectedCount > 0); t++) cell.Tick();
                Assert.True(stage.Selector.Stats.Executed > executedBefore, $"replica 3 executed the request on its object {key}: r3 exec {((PbftReplica)cell.Cores[3]).LastExecuted} low {((PbftReplica)cell.Cores[3]).LowWatermark} r0 exec {((PbftReplica)cell.Cores[0]).LastExecuted} low {((PbftReplica)cell.Cores[0]).LowWatermark} stale [{stage.Selector.DescribeStale()}] held {stage.Selector.DescribeHeld(Encoding.ASCII.GetBytes(key))} selected {stage.Selector.SelectedCount} stored {stage.Selector.StoredCount} restores {stage.Selector.Restores} ordinal {stage.Selector.LastOrdinal} r0 {Stage(cell, 0).Selector.DescribeHeld(Encoding.ASCII.GetBytes(key))} r1 {Stage(cell, 1).Selector.DescribeHeld(Encoding.ASCII.GetBytes(key))} r2 {Stage(cell, 2).Selector.DescribeHeld(Encoding.ASCII.GetBytes(key))}");
                var entry = stage.Replies.Get(1000);
                Assert.Equal(c.Rid, entry.LastExecutedRid);
                Assert.False(entry.DigestOnly);
                Assert.Equal(Encoding.ASCII.GetString(expected), Encoding.ASCII.GetString(entry.Reply));   // replica 3's own execution = the reference
            }
        foreach (var key in maintained)
        {
            Assert.Equal(reference.State(key), State(cell.Services[3], key));
            Assert.True(stage.Selector.LocalVersion(Encoding.ASCII.GetBytes(key)).Current);
        }
        // replica 3's own agreement checkpoints after the catch-up are byte-identical to the others' (the digest covers only agreed state)
        var r0 = (PbftReplica)cell.Cores[0];
        for (int t = 0; t < 20 && ((PbftReplica)cell.Cores[3]).LastExecuted < r0.LastExecuted; t++) cell.Tick();
        int compared = 0;
        for (ulong seq = r0.LastExecuted; seq > r0.LastExecuted - Math.Min(r0.LastExecuted, 8UL); seq--)
            if (Stage(cell, 3).TryGetCheckpoint(seq, out var mine) && Stage(cell, 0).TryGetCheckpoint(seq, out var theirs))
            {
                Assert.True(mine.SequenceEqual(theirs), $"snapshot at {seq} differs");
                compared++;
            }
        Assert.True(compared > 0, "a checkpoint taken by replica 3 after the catch-up");
        // the cell's order digests agree again
        var digests = Enumerable.Range(0, Cell.N).Select(i => { var d = new byte[32]; Stage(cell, i).GetStateDigest(d); return Convert.ToHexString(d); }).Distinct().Count();
        Assert.Equal(1, digests);
    }

    [Fact]
    public void APartitionedReplicaPastTheWindowCatchesUpByStateTransferAndExecutesItsObjectsAgain()
    {
        var (cell, c, reference) = LagAndRejoin(restart: false);
        AssertParticipates(cell, c, reference);
    }

    [Fact]
    public void ARestartedReplicaWithEmptyStateCatchesUpByStateTransfer()
    {
        var (cell, c, reference) = LagAndRejoin(restart: true);
        AssertParticipates(cell, c, reference);
        Assert.True(Stage(cell, 3).Selector.RestoredStatesVerified > 0, "its base states came from f+1 identical answers");
    }

    public static IEnumerable<object[]> Forgeries() =>
    [
        ["wrong content"], ["truncated"], ["lying object count"], ["lying request length"], ["empty tail claimed"],
    ];

    /// <summary>Offsets of the object count and the request count in a snapshot (docs/odrc.md §9 layout).</summary>
    private static (int Objects, int Requests) Sections(byte[] b)
    {
        int p = OdrcExecutionStage.SnapshotHeaderBytes + 8;
        p += 4 + 20 * BitConverter.ToInt32(b, p);
        int objects = p;
        int count = BitConverter.ToInt32(b, p);
        p += 4;
        for (int i = 0; i < count; i++) p += 36 + BitConverter.ToInt32(b, p);
        return (objects, p);
    }

    private static byte[] Forge(string kind, byte[] real)
    {
        var b = (byte[])real.Clone();
        var (objects, requests) = Sections(b);
        switch (kind)
        {
            case "wrong content": b[^1] ^= 0x5a; return b;                       // a byte of the last tail request's operation
            case "truncated": return b.AsSpan(0, b.Length / 2).ToArray();
            case "lying object count": BitConverter.GetBytes(int.MaxValue).CopyTo(b, objects); return b;
            case "lying request length":                                       // the first tail request's opLength
                Assert.True(BitConverter.ToInt32(b, requests) > 0, "the tail is not empty");
                BitConverter.GetBytes(int.MaxValue - 7).CopyTo(b, requests + 4 + 32); return b;
            default: BitConverter.GetBytes(0).CopyTo(b, requests); return b;    // "empty tail claimed": the entries stay behind it
        }
    }

    [Theory]
    [MemberData(nameof(Forgeries))]
    public void AForgedOdrcSnapshotIsRejectedAndTheFetchProceedsFromACorrectReplica(string kind)
    {
        var forgers = new Dictionary<uint, Func<byte[], byte[]>> { [0] = real => Forge(kind, real), [1] = real => Forge(kind, real) };
        // f = 1: replicas 0 and 1 cannot both be faulty; 1 forges, 0's forgery is only to make sure a forged copy is asked first
        forgers.Remove(0);
        var (cell, c, reference) = LagAndRejoin(restart: true, forgers);
        var r3 = (PbftReplica)cell.Cores[3];
        Assert.True(cell.Sent.Any(s => s.From == 1), "the forging replica served state");
        Assert.True(r3.Stats.BadStateTransfers > 0, "the forged snapshot was rejected");
        AssertParticipates(cell, c, reference);
    }

    [Fact]
    public void AMalformedSnapshotIsRefusedWithoutChangingTheStage()
    {
        var (cell, _, _) = LagAndRejoin(restart: false);
        var stage = Stage(cell, 0);
        var r0 = (PbftReplica)cell.Cores[0];
        ulong seq = r0.LowWatermark;
        Assert.True(stage.TryGetCheckpoint(seq, out var snap));
        var real = snap.ToArray();
        var fresh = new OdrcExecutionStage(new KvService(new MemoryKvStore()), 2, stage.Selector.Placement, new SelectorOptions { CheckpointAccesses = 4 }, 4, 3);
        foreach (var kind in new[] { "truncated", "lying object count", "lying request length", "empty tail claimed" })
        {
            Assert.False(fresh.TryInstallCheckpoint(seq, Forge(kind, real)), kind);
            Assert.Equal(0UL, fresh.Selector.LastOrdinal);
        }
        Assert.False(fresh.TryInstallCheckpoint(seq + 4, real));               // another sequence number
        Assert.True(fresh.TryInstallCheckpoint(seq, real));
        Assert.True(fresh.Selector.LastOrdinal > 0 && fresh.Selector.LastOrdinal <= stage.Selector.LastOrdinal);
        var d1 = new byte[32]; var d2 = new byte[32];
        fresh.TakeCheckpoint(seq, d1);                                        // re-taken at once: the same bytes as the certified one
        System.Security.Cryptography.SHA256.HashData(real, d2);
        Assert.Equal(Convert.ToHexString(d2), Convert.ToHexString(d1));
    }

    /// <summary>
    /// What was the limit S5 (docs/odrc.md §9): an MSET over every key (as the KV load phase issues), then a hot key
    /// checkpointed past it while the other keys stay below K, and replica 3 restarts empty. The MSET is in the open tail (it is
    /// the cold keys' only access) but already in the hot key's base. It overwrites the hot key without reading it, so it is
    /// replayed for the cold keys only (S6, E1): the restarted replica now installs the snapshot, and then executes requests on
    /// every object it maintains with the sequential reference's replies, its copies equal to the reference's (before: every
    /// snapshot refused, replica 3 stayed at ordinal 0).
    /// </summary>
    [Fact]
    public void ARestartedReplicaCatchesUpWithAMultiObjectOverwriteBetweenBases_S6()
    {
        var cell = new Cell();
        var c = new Client(cell, 1000);
        var reference = new Reference();
        void Do(byte[] op) => Assert.Equal(Encoding.ASCII.GetString(reference.Execute(op)), Encoding.ASCII.GetString(Call(cell, c, op)));
        var w = new ArrayBufferWriter<byte>();
        KvCodec.MSet(w, Keys.Select(k => (Encoding.ASCII.GetBytes(k), Encoding.ASCII.GetBytes("m"))).ToList());
        Do(w.WrittenSpan.ToArray());
        cell.Silent = 3;
        for (int i = 0; i < 48; i++) Do(Set(Keys[0], $"h{i}"));
        cell.Restart(3);
        cell.Silent = null;
        for (int i = 0; i < 24; i++) { Do(i % 2 == 0 ? Set(Keys[0], $"c{i}") : Get(Keys[1])); cell.Tick(); cell.Tick(); }
        var stage = Stage(cell, 3);
        Assert.True(stage.Installs >= 1, $"installed (refused {stage.InstallsRefused})");
        Assert.Equal(0, stage.InstallsRefused);
        Assert.True(stage.Selector.BetweenBasesReplayed > 0, "the MSET was replayed for the cold keys only");
        Assert.Equal(0, stage.Selector.UnresolvedAtRestore);
        Assert.True(stage.Selector.LastOrdinal > 0);
        AssertParticipates(cell, c, reference);
    }

    /// <summary>
    /// S7 over PBFT cores: a DEL over every key reads and writes them all, so with a hot key checkpointed past it the cold keys
    /// cannot be rebuilt from their bases: the restarted replica installs the snapshot with them unresolved. Clients keep
    /// getting the reference's replies (the others force and adopt where replica 3 is silent); replica 3 never executes a
    /// request on an unresolved key; once a key's next object checkpoint is stable (f+1 matching) replica 3 jumps to it and
    /// from then on executes that key's requests itself with the reference's replies, its copy equal to the reference's.
    /// </summary>
    [Fact]
    public void ARestartedReplicaWithANonReplayableRequestBetweenBasesResolvesItsObjectsByStableCheckpoints_S7()
    {
        var cell = new Cell();
        var c = new Client(cell, 1000);
        var reference = new Reference();
        void Do(byte[] op) => Assert.Equal(Encoding.ASCII.GetString(reference.Execute(op)), Encoding.ASCII.GetString(Call(cell, c, op)));
        foreach (var k in Keys) Do(Set(k, "a"));
        var w = new ArrayBufferWriter<byte>();
        KvCodec.MultiKey(w, KvOpCode.Del, Keys.Select(k => Encoding.ASCII.GetBytes(k)).ToList());
        Do(w.WrittenSpan.ToArray());
        cell.Silent = 3;
        for (int i = 0; i < 48; i++) Do(Set(Keys[0], $"h{i}"));
        cell.Restart(3);
        cell.Silent = null;
        for (int i = 0; i < 24; i++) { Do(i % 2 == 0 ? Set(Keys[0], $"c{i}") : Get(Keys[0])); cell.Tick(); cell.Tick(); }
        var stage = Stage(cell, 3);
        Assert.True(stage.Installs >= 1, $"installed (refused {stage.InstallsRefused})");
        Assert.Equal(0, stage.InstallsRefused);
        Assert.True(stage.Selector.UnresolvedAtRestore > 0, "the cold keys are unresolved");
        var cold = Keys.Skip(1).Where(k => stage.Selector.Maintains(Encoding.ASCII.GetBytes(k))).ToArray();
        Assert.NotEmpty(cold);
        Assert.All(cold, k => Assert.True(stage.Selector.IsUnresolved(Encoding.ASCII.GetBytes(k)), k));
        long executedBefore = stage.Selector.Stats.Executed;
        // the cold keys are used: the clients get the reference's replies while replica 3 is silent on them, until checkpoints resolve them
        for (int round = 0; round < 3; round++)
            foreach (var k in cold) { Do(Set(k, $"r{round}{k}")); Do(Get(k)); }
        Assert.True(stage.Selector.Stats.UnresolvedSkipped > 0, "replica 3 skipped requests on unresolved keys");
        Assert.True(stage.Selector.Stats.UnresolvedResolved > 0, "stable object checkpoints resolved keys");
        var resolved = cold.Where(k => !stage.Selector.IsUnresolved(Encoding.ASCII.GetBytes(k))).ToArray();
        Assert.NotEmpty(resolved);
        foreach (var k in resolved)
        {
            foreach (var op in new[] { Set(k, "z" + k), Get(k) })
            {
                long before = stage.Selector.Stats.Executed;
                var expected = reference.Execute(op);
                Assert.Equal(Encoding.ASCII.GetString(expected), Encoding.ASCII.GetString(Call(cell, c, op)));
                for (int t = 0; t < 100 && (stage.Selector.LastOrdinal < Stage(cell, 0).Selector.LastOrdinal || stage.Selector.SelectedCount > 0); t++) cell.Tick();
                Assert.True(stage.Selector.Stats.Executed > before, $"replica 3 executed the request on resolved key {k}");
                var entry = stage.Replies.Get(1000);
                Assert.Equal(c.Rid, entry.LastExecutedRid);
                Assert.False(entry.DigestOnly);
                Assert.Equal(Encoding.ASCII.GetString(expected), Encoding.ASCII.GetString(entry.Reply));
            }
            Assert.Equal(reference.State(k), State(cell.Services[3], k));
            Assert.True(stage.Selector.LocalVersion(Encoding.ASCII.GetBytes(k)).Current);
        }
        Assert.True(stage.Selector.Stats.Executed > executedBefore);
        // the agreed state is unaffected by what is unresolved here: replica 3's later snapshots equal replica 0's byte for byte
        var r0 = (PbftReplica)cell.Cores[0];
        for (int t = 0; t < 20 && ((PbftReplica)cell.Cores[3]).LastExecuted < r0.LastExecuted; t++) cell.Tick();
        int compared = 0;
        for (ulong seq = r0.LastExecuted; seq > r0.LastExecuted - Math.Min(r0.LastExecuted, 8UL); seq--)
            if (stage.TryGetCheckpoint(seq, out var mine) && Stage(cell, 0).TryGetCheckpoint(seq, out var theirs))
            {
                Assert.True(mine.SequenceEqual(theirs), $"snapshot at {seq} differs");
                compared++;
            }
        Assert.True(compared > 0, "a checkpoint taken by replica 3 after the catch-up");
    }
}
