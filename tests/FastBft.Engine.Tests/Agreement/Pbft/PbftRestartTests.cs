using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using FastBft.Auth;
using FastBft.Agreement;
using FastBft.Agreement.Pbft;
using FastBft.Engine.Tests.Support;
using FastBft.Execution;
using FastBft.Service;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.Pbft;

/// <summary>
/// The agreement log on disk (docs/durability.md §4; PBFT-PR §4.4): replicas whose service persists every batch and whose
/// PBFT core persists its log (<see cref="MemoryAgreementLog"/>) are all "killed" at arbitrary moments — batches in flight,
/// replicas at different executed sequence numbers, messages lost — and restarted from what they persisted. Deterministic
/// (seeded, single-threaded <see cref="LoopbackCell"/>).
/// </summary>
public sealed class PbftRestartTests
{
    /// <summary>What a replica finds on its disk after a kill: the state of its last persisted batch, the reply cache entries, the agreement log.</summary>
    private sealed class Disk
    {
        public ulong Seq;
        public long Count;
        public byte[] Chain = new byte[32];
        public readonly SortedDictionary<uint, byte[]> Replies = new();
        public MemoryAgreementLog Log = new();
    }

    /// <summary>
    /// A service whose state is a hash chain over the requests it executed (so equal digests mean equal histories), persisting
    /// each batch to a <see cref="Disk"/> (<see cref="IDurableState"/>) and keeping the agreement log there.
    /// </summary>
    private sealed class ChainService : IReplicatedService, IDurableState, IAgreementLogProvider
    {
        private readonly Disk _disk;
        private readonly List<RequestInfo> _executions;
        private long _count;
        private byte[] _chain;
        private readonly byte[] _recoveredReplies;

        public ChainService(Disk disk, List<RequestInfo> executions, bool powerLoss = false)
        {
            _disk = disk; _executions = executions;
            _count = disk.Count; _chain = (byte[])disk.Chain.Clone();
            var ms = new MemoryStream();
            ms.Write(BitConverter.GetBytes(disk.Replies.Count));
            foreach (var e in disk.Replies.Values) ms.Write(e);
            _recoveredReplies = ms.ToArray();
            disk.Log = disk.Log.Reopen(powerLoss);        // what the restarted process finds: committed (power loss: synced) records
        }

        public void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update)
        {
            _executions.Add(request);
            Span<byte> buf = stackalloc byte[32 + 12];
            _chain.CopyTo(buf);
            BinaryPrimitives.WriteUInt32LittleEndian(buf.Slice(32), request.ClientId);
            BinaryPrimitives.WriteUInt64LittleEndian(buf.Slice(36), request.RequestId);
            using (var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256)) { h.AppendData(buf); h.AppendData(operation); _chain = h.GetHashAndReset(); }
            _count++;
            reply.Write(_chain.AsSpan(0, 8));
        }
        public void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update) => throw new NotSupportedException();
        public void GetStateDigest(Span<byte> digest32) => _chain.CopyTo(digest32);
        public void WriteSnapshot(Stream destination) { destination.Write(BitConverter.GetBytes(_count)); destination.Write(_chain); }
        public void RestoreSnapshot(Stream source)
        {
            var b = new byte[40];
            source.ReadExactly(b);
            _count = BitConverter.ToInt64(b); _chain = b.AsSpan(8).ToArray();
        }

        public bool PersistsBatches => true;
        public void CommitBatch(ulong sequence, ReadOnlySpan<byte> replyEntries, int entryCount)
        {
            _disk.Log.Sync();                           // fsync mode: the batch write syncs the shared WAL, log records before it included
            _disk.Seq = sequence; _disk.Count = _count; _disk.Chain = (byte[])_chain.Clone();
            while (!replyEntries.IsEmpty)
            {
                int len = ReplyCache.EntrySize(replyEntries);
                _disk.Replies[BinaryPrimitives.ReadUInt32LittleEndian(replyEntries)] = replyEntries.Slice(0, len).ToArray();
                replyEntries = replyEntries.Slice(len);
            }
        }
        public ulong RecoveredSequence => _disk.Seq;
        public ReadOnlyMemory<byte> RecoveredReplies => _recoveredReplies;
        public void CommitInstall(ulong sequence, ReadOnlySpan<byte> replyCache)
        {
            _disk.Replies.Clear();
            var rest = replyCache.Slice(4);
            while (!rest.IsEmpty)
            {
                int len = ReplyCache.EntrySize(rest);
                _disk.Replies[BinaryPrimitives.ReadUInt32LittleEndian(rest)] = rest.Slice(0, len).ToArray();
                rest = rest.Slice(len);
            }
            _disk.Seq = sequence; _disk.Count = _count; _disk.Chain = (byte[])_chain.Clone();
            _disk.Log.Sync();
        }
        public IAgreementLog? AgreementLog => _disk.Log;
    }

    private sealed class WireOutput(LoopbackCell cell, uint self) : IReplicaOutput
    {
        public void SendToReplica(uint replica, ReadOnlySpan<byte> message) => cell.Wire.Enqueue((self, replica, message.ToArray()));
        public void SendToClient(uint client, ReadOnlySpan<byte> message) => cell.Wire.Enqueue((self, client, message.ToArray()));
    }

    /// <summary>A <see cref="LoopbackCell"/> whose cores are durable PBFT cores over <see cref="ChainService"/>s; <see cref="Restart"/> replaces a core by one built from its disk.</summary>
    private sealed class RestartCell
    {
        public readonly LoopbackCell Cell;
        public readonly Disk[] Disks;
        /// <param name="fsync">the logs group their syncs per burst (fsync mode) and a kill is a power loss: unsynced records are lost.</param>
        /// <param name="k">checkpoint interval K.</param>
        /// <param name="window">log window L.</param>
        /// <param name="batch">requests per batch.</param>
        public RestartCell(bool fsync = false, int k = 4, int window = 8, int batch = 4)
        {
            Cell = new LoopbackCell(f: 1, batch: batch, k: k, window: window, viewChangeTicks: 30);
            Fsync = fsync;
            Disks = new Disk[Cell.N];
            for (uint i = 0; i < Cell.N; i++) { Disks[i] = new Disk { Log = new MemoryAgreementLog { GroupsSyncs = fsync } }; Restart(i); }
        }

        public readonly bool Fsync;

        public PbftReplica Core(uint i) => (PbftReplica)Cell.Replicas[i];

        /// <summary>Replica <paramref name="i"/> killed and started again: a new service and core from its disk; in-flight messages to it are lost.</summary>
        public void Restart(uint i)
        {
            var service = new ChainService(Disks[i], Cell.Executions[i], powerLoss: Fsync);
            var exec = Cell.Protocol.CreateExecution(Cell.Settings, i, service);
            Cell.Replicas[i] = Cell.Protocol.CreateReplica(Cell.Settings, new Authenticator(i, Cell.Keys), exec, new WireOutput(Cell, i));
        }

        /// <summary>Kills every replica at once (every message in flight is lost) and restarts them all from their disks.</summary>
        public void RestartAll()
        {
            Cell.Wire.Clear();
            for (uint i = 0; i < Cell.N; i++) Restart(i);
        }

        /// <summary>OnTick of every live replica, without delivering (the caller delivers).</summary>
        public void TickOnly() { foreach (var r in Cell.Replicas) if (!Cell.Crashed.Contains(r.Id)) r.OnTick(); }
    }

    /// <summary>A client's result is accepted once f+1 distinct replicas replied to (client, rid) — every replica here is correct, so replies match.</summary>
    private static bool Accepted(LoopbackCell cell, uint client, ulong rid)
        => cell.RepliesFor(client).Where(r => r.Rid == rid).Select(r => r.Replica).Distinct().Count() >= cell.F + 1;

    private static void AssertNoSequenceExecutedTwice(LoopbackCell cell, uint replica)
    {
        var dup = cell.Executions[replica].GroupBy(e => (e.Sequence, e.Index)).FirstOrDefault(g => g.Count() > 1);
        Assert.True(dup is null, $"replica {replica} executed ({dup?.Key}) twice");
    }

    /// <summary>
    /// Seeded: four clients, six requests each, messages dropped at random (10 %, and 40 % of those to replica 3, so the
    /// replicas fall apart in what they prepared, committed and executed); after a random number of deliveries every
    /// replica is killed at once and restarted from its disk. Then: every request accepted before the kill is in the
    /// final history, no replica executed a sequence number twice, the replicas agree at every sequence number, all
    /// four reach the same last executed number and state digest, and every client's remaining requests complete.
    /// </summary>
    [Theory]
    [MemberData(nameof(Seeds))]
    public void ReplicasKilledAtAnyMomentConvergeAndKeepEveryAcceptedRequest(int seed, bool fsync)
    {
        var rc = new RestartCell(fsync);
        var cell = rc.Cell;
        var rng = new Random(seed);
        const int clients = 4, perClient = 6;
        var rid = new ulong[clients];
        var requests = new Dictionary<(uint, ulong), byte[]>();
        byte[] Req(uint c, ulong r) => requests.TryGetValue((c, r), out var m) ? m : requests[(c, r)] = cell.BuildRequest(c, r, (long)(c * 100 + r));
        void SubmitAll(uint c) { for (uint i = 0; i < cell.N; i++) cell.Submit(i, Req(c, rid[c - LoopbackCell.FirstClient])); }
        void AdvanceClients()
        {
            for (int c = 0; c < clients; c++)
            {
                uint id = LoopbackCell.FirstClient + (uint)c;
                if (rid[c] <= perClient && Accepted(cell, id, rid[c])) { rid[c]++; if (rid[c] <= perClient) SubmitAll(id); }
            }
        }
        for (int c = 0; c < clients; c++) { rid[c] = 1; SubmitAll(LoopbackCell.FirstClient + (uint)c); }
        cell.Drop = (from, to) => rng.NextDouble() < (to == 3 ? 0.4 : 0.1);
        int crashAt = rng.Next(30, 900), delivered = 0, iterations = 0;
        while (delivered < crashAt)
        {
            delivered += cell.Run(maxSteps: 1 + rng.Next(8));
            AdvanceClients();
            if (++iterations % 6 == 0) rc.TickOnly();
            if (iterations % 30 == 0) for (int c = 0; c < clients; c++) if (rid[c] <= perClient) SubmitAll(LoopbackCell.FirstClient + (uint)c);   // client retransmission
            if (iterations > 20_000) break;
        }
        var acceptedBefore = new List<(uint, ulong)>();
        for (int c = 0; c < clients; c++) for (ulong r = 1; r <= perClient; r++) if (Accepted(cell, LoopbackCell.FirstClient + (uint)c, r)) acceptedBefore.Add((LoopbackCell.FirstClient + (uint)c, r));
        var executedBefore = rc.Disks.Select(d => d.Seq).ToArray();

        rc.RestartAll();
        cell.Drop = (_, _) => false;
        for (uint i = 0; i < cell.N; i++) Assert.Equal(executedBefore[i], rc.Core(i).LastExecuted);   // each continues from its own last batch
        bool done = false;
        // Traffic goes on after the clients finished (a fifth client, one request per 5 ticks): a replica restarted below
        // the others' stable checkpoint catches up at the next checkpoint (docs/durability.md §4.4: the checkpoints' frozen
        // views die with the processes, so nobody can serve the old one).
        uint extra = LoopbackCell.FirstClient + clients;
        ulong extraRid = 0;
        for (int t = 0; t < 4000 && !done; t++)
        {
            cell.Tick();
            AdvanceClients();
            if (t % 10 == 9) for (int c = 0; c < clients; c++) if (rid[c] <= perClient) SubmitAll(LoopbackCell.FirstClient + (uint)c);
            if (t % 5 == 4 && (extraRid == 0 || Accepted(cell, extra, extraRid))) { extraRid++; for (uint i = 0; i < cell.N; i++) cell.Submit(i, cell.BuildRequest(extra, extraRid, 1)); }
            done = rid.All(r => r > perClient) && (extraRid == 0 || Accepted(cell, extra, extraRid))
                && Enumerable.Range(0, cell.N).All(i => rc.Core((uint)i).LastExecuted == rc.Core(0).LastExecuted && cell.StateDigest((uint)i) == cell.StateDigest(0));
        }
        string where = $"seed {seed}: killed after {delivered} deliveries at executed [{string.Join(",", executedBefore)}]; now " +
            string.Join("; ", Enumerable.Range(0, cell.N).Select(i => $"R{i} {rc.Core((uint)i).DescribeState()}")) + $"; clients at [{string.Join(",", rid)}]";
        Assert.True(done, "did not converge: " + where);
        cell.AssertAgreement(0, 1, 2, 3);
        for (uint i = 0; i < cell.N; i++) AssertNoSequenceExecutedTwice(cell, i);
        foreach (var (c, r) in acceptedBefore)
        {
            Assert.True(Enumerable.Range(0, cell.N).Any(i => cell.ExecutedAt((uint)i, c, r).Count > 0), $"accepted {c}/{r} executed nowhere ({where})");
            for (uint i = 0; i < cell.N; i++)
                Assert.True(rc.Core(i).Execution.Replies.LastExecutedRid(c) >= r, $"replica {i} lost accepted {c}/{r} ({where})");
        }
    }

    /// <summary>
    /// Attack on the recovery (docs/durability.md §4.1): a batch (request A at n = 1) is committed and executed at correct
    /// replica 0 only, prepared at all; every replica is killed and restarted; replica 3 is Byzantine from then on and
    /// "recovers" a forged log — its VIEW-CHANGE claims, at n = 1, either a prepared certificate for another batch (Y) or
    /// nothing at all, a prepared batch (X) at n = 2 that no correct replica ever saw, and a checkpoint at 4 nobody took.
    /// The primary 0 is cut off, so the backups must change view and the new primary decides with the forged message among
    /// its VIEW-CHANGEs. Correct replicas must neither adopt X or Y nor skip A: every correct replica ends with A at n = 1
    /// (replica 0 without executing it again), X and Y executed nowhere, one state digest, and a new request completes.
    /// </summary>
    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public void AByzantineReplicasForgedRecoveredLogCannotReplaceOrDropACommittedBatch(bool claimsConflicting, bool fsync)
    {
        var rc = new RestartCell(fsync);
        var cell = rc.Cell;
        var a = cell.BuildRequest(LoopbackCell.FirstClient, 1, 7);
        var dA = Forge.BatchDigest(a);
        cell.Intercept = (_, to, msg) => LoopbackCell.Is(msg, MessageType.Commit) && to != 0;   // only replica 0 commits
        for (uint i = 0; i < cell.N; i++) cell.Submit(i, a);
        cell.Run();
        cell.Intercept = null;
        Assert.Equal(1UL, rc.Core(0).LastExecuted);
        for (uint i = 1; i < cell.N; i++) { Assert.Equal(0UL, rc.Core(i).LastExecuted); Assert.True(rc.Core(i).IsPreparedOrDone(1, dA)); }

        rc.RestartAll();
        cell.Crashed.Add(3);                                   // replica 3 is Byzantine from now on: the test speaks for it
        var byz = new Forge(cell, 3);
        var x = cell.BuildRequest(LoopbackCell.FirstClient + 1, 1, 8);
        var y = cell.BuildRequest(LoopbackCell.FirstClient + 2, 1, 9);
        var dX = Forge.BatchDigest(x);
        var dY = Forge.BatchDigest(y);
        var junk = SHA256.HashData("no such checkpoint"u8);
        (ulong, ulong, byte[])[] p = claimsConflicting ? [(1, 0, dY), (2, 0, dX)] : [(2, 0, dX)];
        var vc = byz.ViewChange(1, 4, 0, [(0, Forge.Zero32), (4, junk)], p: p, q: p);
        cell.InjectAll(3, vc, 0, 1, 2);

        var newViews = new List<NewViewBody>();
        cell.Observe = (_, _, msg) =>
        {
            if (!LoopbackCell.Is(msg, MessageType.NewView)) return;
            var h = LoopbackCell.Header(msg);
            if (NewViewBody.TryParse(h, MessageHeader.Body(msg, h), cell.N, int.MaxValue, null) is { } nv) newViews.Add(nv);
        };
        var b = cell.BuildRequest(LoopbackCell.FirstClient, 2, 5);
        cell.Drop = (from, to) => from == 0 || to == 0;        // the primary of view 0 is cut off: the backups change view
        for (uint i = 0; i < cell.N; i++) cell.Submit(i, b);
        Assert.True(cell.TickUntil(() => rc.Core(1).InViewChange && rc.Core(2).InViewChange, 2000), "no view change");
        cell.Drop = (_, _) => false;
        Assert.True(cell.TickUntil(() => Accepted(cell, LoopbackCell.FirstClient, 2)
            && Enumerable.Range(0, 3).All(i => rc.Core((uint)i).LastExecuted == rc.Core(0).LastExecuted && cell.StateDigest((uint)i) == cell.StateDigest(0)), 4000),
            "did not converge: " + string.Join("; ", Enumerable.Range(0, 3).Select(i => $"R{i} {rc.Core((uint)i).DescribeState()}")));
        for (uint i = 0; i < 3; i++)
        {
            Assert.Equal([1UL], cell.ExecutedAt(i, LoopbackCell.FirstClient, 1));     // A at n = 1 everywhere, once
            Assert.Empty(cell.ExecutedAt(i, LoopbackCell.FirstClient + 1, 1));       // the never-prepared X nowhere
            Assert.Empty(cell.ExecutedAt(i, LoopbackCell.FirstClient + 2, 1));       // the forged Y nowhere
            AssertNoSequenceExecutedTwice(cell, i);
            Assert.True(rc.Core(i).View >= 1);
        }
        cell.AssertAgreement(0, 1, 2);
        // The forged VIEW-CHANGE was among those the NEW-VIEW was decided from: A at n = 1, the null request at n = 2.
        var used = newViews.First(nv => nv.ViewChanges.Any(v => v.Sender == 3));
        Assert.Equal(0UL, used.H);
        Assert.Equal(dA, used.Chosen[0]);
        if (used.Chosen.Count > 1) Assert.Equal(ViewChangeDecision.NullDigest, used.Chosen[1]);
    }

    /// <summary>60 seeds with process kills (every committed record survives), 60 with power loss under fsync's group commit (only synced records survive).</summary>
    public static IEnumerable<object[]> Seeds() => Enumerable.Range(1, 60).SelectMany(s => new[] { new object[] { s, false }, new object[] { s, true } });
}
