using System.Buffers.Binary;
using FastBft.Agreement;
using FastBft.Agreement.Pbft;
using FastBft.Auth;
using FastBft.Engine.Tests.Support;
using FastBft.Wire;
using FastBft.Workloads;

namespace FastBft.Engine.Tests.Agreement.Pbft;

/// <summary>
/// Fuzzes the nested body parsers (issue 9, item 8). <see cref="MalformedInputTests"/> mutates whole
/// messages, so almost every mutation dies at the MAC check and the body parsers of VIEW-CHANGE,
/// NEW-VIEW, FETCH, STATE-DATA, BATCH, BATCH-FETCH, PRE-PREPARE and STATUS are barely reached (FETCH and
/// STATE-DATA not at all). Here a Byzantine replica mutates the <em>body</em> of a valid message (bit
/// flips; length/count fields set to 0, 1, max, huge, negative; truncation; extension) and re-authenticates
/// it with its own keys (MAC vector, and for VIEW-CHANGE / NEW-VIEW a fresh Ed25519 signature), so the
/// mutation reaches the parsers behind the authenticator. Every mutation goes through a standalone
/// verifier and core and into a running <see cref="LoopbackCell"/>: nothing may throw, a single message
/// may not make the receiver allocate more than a bound (whatever sizes it claims), and the cell must
/// still commit new requests afterwards. Deterministic (fixed seed per type).
/// </summary>
public class NestedParserFuzzTests
{
    private const int Seed = 20261130;
    private const int StandaloneIterations = 1500;
    private const int CellIterations = 200;
    /// <summary>Allocation bound for one mutated message (verifier + core), far below any claimed size.</summary>
    private const long StandaloneAllocationBound = 512 * 1024;
    /// <summary>Allocation bound for one mutated message and everything the cell does in reaction (queues, replies).</summary>
    private const long CellAllocationBound = 4 * 1024 * 1024;

    private sealed class NullOutput : IReplicaOutput
    {
        public void SendToReplica(uint replica, ReadOnlySpan<byte> message) { }
        public void SendToClient(uint client, ReadOnlySpan<byte> message) { }
    }

    /// <summary>A valid sample in <see cref="Sender"/>'s name, where it goes in the cell, and its body's length/count fields.</summary>
    private sealed record Sample(byte[] Message, uint Sender, uint[] CellReceivers, List<(int Offset, int Width)> Fields, bool ToCell = true);

    /// <summary>
    /// A cell in the state of ResourceAttackTests.R3: requests 1..5 executed by 0..2 (checkpoint 4 stable),
    /// replica 3 cut off meanwhile and now fetching checkpoint 4 from <paramref name="target"/>; its FETCHes
    /// are withheld while <paramref name="blockFetches"/> is set, so a forged STATE-DATA reaches OnStateData.
    /// </summary>
    private static LoopbackCell FetchingCell(out uint target, out ulong fetchSeq, Flag blockFetches)
    {
        var cell = new LoopbackCell();
        bool cut = true;
        uint t = uint.MaxValue; ulong s = 0;
        cell.Intercept = (from, to, m) =>
        {
            if (cut && from < cell.N && to == 3) return true;
            if (blockFetches.Value && from == 3 && LoopbackCell.Is(m, MessageType.Fetch))
            {
                if (t == uint.MaxValue) { t = to; s = LoopbackCell.Header(m).Sequence; }
                return true;
            }
            return false;
        };
        for (ulong rid = 1; rid <= 5; rid++) { cell.Submit(0, cell.BuildRequest(1000, rid, (long)rid)); cell.Run(); }
        cut = false;
        Assert.True(cell.TickUntil(() => t != uint.MaxValue, 30), "3 starts a fetch");
        target = t; fetchSeq = s;
        return cell;
    }

    private sealed class Flag(bool value) { public bool Value = value; }

    private static uint[] AllBut(LoopbackCell cell, uint sender) => Enumerable.Range(0, cell.N).Select(i => (uint)i).Where(i => i != sender).ToArray();

    /// <summary>Offsets of the count/length fields of a PRE-PREPARE or BATCH body, including those of the embedded REQUEST headers.</summary>
    private static List<(int, int)> BatchFields(byte[] message)
    {
        MessageHeader.TryParse(message, int.MaxValue, out var h);
        var body = MessageHeader.Body(message, h);
        var fields = new List<(int, int)> { (32, 2), (34, 2) };
        int off = Bodies.PrePrepareFixed;
        int count = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(32));
        for (int i = 0; i < count; i++)
        {
            int len = BinaryPrimitives.ReadInt32LittleEndian(body.Slice(off));
            fields.Add((off, 4));
            fields.Add((off + 4 + 24, 4));                 // embedded REQUEST: bodyLength
            fields.Add((off + 4 + 28, 2));                 // embedded REQUEST: authLength
            fields.Add((off + 4 + 16, 8));                 // embedded REQUEST: request id
            off += 4 + len;
        }
        return fields;
    }

    /// <summary>Offsets of the fields of a NEW-VIEW body, including each embedded VIEW-CHANGE's length, header lengths and counts.</summary>
    private static List<(int, int)> NewViewFields(byte[] message)
    {
        MessageHeader.TryParse(message, int.MaxValue, out var h);
        var body = MessageHeader.Body(message, h);
        var fields = new List<(int, int)> { (0, 2), (2, 2), (4, 4), (8, 8) };
        int count = BinaryPrimitives.ReadUInt16LittleEndian(body);
        int off = NewViewBody.Fixed;
        for (int i = 0; i < count; i++)
        {
            int len = BinaryPrimitives.ReadInt32LittleEndian(body.Slice(off));
            fields.Add((off, 4));
            int vc = off + 4;
            fields.Add((vc + 24, 4)); fields.Add((vc + 28, 2));                // embedded header: body and auth lengths
            fields.Add((vc + MessageHeader.Size + 8, 2)); fields.Add((vc + MessageHeader.Size + 10, 2)); fields.Add((vc + MessageHeader.Size + 12, 2)); // cCount, pCount, qCount
            off += 4 + len;
        }
        return fields;
    }

    private static readonly List<(int, int)> ViewChangeFields = [(0, 8), (8, 2), (10, 2), (12, 2), (14, 2)];

    private static List<Sample> Samples(MessageType type, LoopbackCell cell, uint stateTarget, ulong fetchSeq)
    {
        var digest = new byte[32]; digest[0] = 1;
        var byz = new Forge(cell, 2);
        switch (type)
        {
            case MessageType.ViewChange:
                return [new(byz.ViewChange(1, 5, 4, [(4, digest), (8, Forge.Zero32)], p: [(5, 0, digest)], q: [(5, 0, digest), (6, 0, Forge.Zero32)]), 2, AllBut(cell, 2), ViewChangeFields)];
            case MessageType.NewView:
            {
                // In the cell only what one Byzantine replica (2, the primary of view 2) can sign; standalone also a NEW-VIEW
                // embedding three replicas' VIEW-CHANGEs (signed with keys a single faulty replica would not have).
                var own = byz.NewView(2, 0, Forge.Zero32, [byz.ViewChange(2, 0, 0, [(0, Forge.Zero32)], p: [(1, 0, digest)])], [digest]);
                var full = byz.NewView(2, 0, Forge.Zero32,
                    [new Forge(cell, 0).ViewChange(2, 0, 0, [(0, Forge.Zero32)]), byz.ViewChange(2, 0, 0, [(0, Forge.Zero32)], q: [(1, 0, digest)]), new Forge(cell, 3).ViewChange(2, 0, 0, [(0, Forge.Zero32)])], [digest]);
                return [new(own, 2, AllBut(cell, 2), NewViewFields(own)), new(full, 2, AllBut(cell, 2), NewViewFields(full), ToCell: false)];
            }
            case MessageType.Fetch:
            {
                // Replica 3 (fetching, here also Byzantine) asks the others for chunks of checkpoint 4, which they hold.
                var b = new MessageBuilder(new Authenticator(3, cell.Keys), cell.N);
                BinaryPrimitives.WriteInt64LittleEndian(b.BeginVector(MessageType.Fetch, 0, fetchSeq, 8), 0);
                return [new(b.SealVector().ToArray(), 3, [0, 1, 2], [(0, 8), (0, 4), (4, 4)])];
            }
            case MessageType.StateData:
            {
                var from = new Forge(cell, stateTarget);
                return [new(from.StateData(0, fetchSeq, 300, 0, new byte[40]), stateTarget, [3], [(0, 4), (4, 4)])];
            }
            case MessageType.Batch:
            {
                var m = byz.Batch(0, 6, cell.BuildRequest(1001, 1, 7), cell.BuildRequest(1002, 1, 8));
                return [new(m, 2, AllBut(cell, 2), BatchFields(m))];
            }
            case MessageType.BatchFetch:
                return [new(byz.Digest32(MessageType.BatchFetch, 0, 5, digest), 2, AllBut(cell, 2), [])];
            case MessageType.PrePrepare:
            {
                // The primary of view 0 is the Byzantine one here.
                var m = new Forge(cell, 0).PrePrepare(0, 6, cell.BuildRequest(1001, 1, 7), cell.BuildRequest(1002, 1, 8));
                return [new(m, 0, [1, 2, 3], BatchFields(m))];
            }
            case MessageType.Status:
            {
                var b = new MessageBuilder(new Authenticator(2, cell.Keys), cell.N);
                var body = b.BeginVector(MessageType.Status, 0, 5, PbftBodies.StatusLength);
                BinaryPrimitives.WriteUInt64LittleEndian(body, 4);
                BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(8), 0);
                return [new(b.SealVector().ToArray(), 2, AllBut(cell, 2), [(0, 8), (8, 8), (0, 4), (8, 4)])];
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(type));
        }
    }

    private static long Interesting(Random rng, int width) => width switch
    {
        2 => rng.Next(7) switch { 0 => 0, 1 => 1, 2 => 2, 3 => 0xFFFF, 4 => 0x8000, 5 => 0x7FFF, _ => rng.Next(3, 64) },
        4 => rng.Next(9) switch { 0 => 0, 1 => 1, 2 => -1, 3 => int.MaxValue, 4 => int.MinValue, 5 => 1 << 30, 6 => 1 << 20, 7 => 32, _ => rng.Next(2, 4096) },
        _ => rng.Next(8) switch { 0 => 0, 1 => 1, 2 => -1, 3 => long.MaxValue, 4 => long.MinValue, 5 => 1L << 30, 6 => 1L << 40, _ => rng.Next(2, 1 << 16) },
    };

    private static void WriteField(Span<byte> body, int offset, int width, long value)
    {
        if (offset < 0 || offset + width > body.Length) return;
        switch (width)
        {
            case 2: BinaryPrimitives.WriteUInt16LittleEndian(body.Slice(offset), (ushort)value); break;
            case 4: BinaryPrimitives.WriteInt32LittleEndian(body.Slice(offset), (int)value); break;
            default: BinaryPrimitives.WriteInt64LittleEndian(body.Slice(offset), value); break;
        }
    }

    /// <summary>A mutated copy of <paramref name="body"/>.</summary>
    private static byte[] MutateBody(ReadOnlySpan<byte> body, List<(int Offset, int Width)> fields, Random rng)
    {
        int rounds = rng.Next(1, 3);
        byte[] cur = body.ToArray();
        for (int r = 0; r < rounds; r++)
        {
            switch (rng.Next(6))
            {
                case 0: // bit flips
                    if (cur.Length > 0) for (int k = rng.Next(1, 9); k > 0; k--) cur[rng.Next(cur.Length)] ^= (byte)(1 << rng.Next(8));
                    break;
                case 1: // a known length/count field set to 0, 1, max, huge or negative
                case 2:
                    if (fields.Count > 0) { var (o, w) = fields[rng.Next(fields.Count)]; WriteField(cur, o, w, Interesting(rng, w)); }
                    else if (cur.Length > 0) cur[rng.Next(cur.Length)] ^= 0xFF;
                    break;
                case 3: // any aligned 2/4/8-byte word set to an interesting value
                {
                    int w = 2 << rng.Next(3);
                    if (cur.Length >= w) { int o = rng.Next(cur.Length - w + 1) & ~(w - 1); WriteField(cur, o, w, Interesting(rng, w)); }
                    break;
                }
                case 4: // truncation
                    cur = cur.AsSpan(0, rng.Next(cur.Length + 1)).ToArray();
                    break;
                default: // extension
                {
                    var ext = new byte[cur.Length + rng.Next(1, 65)];
                    cur.CopyTo(ext, 0);
                    rng.NextBytes(ext.AsSpan(cur.Length));
                    cur = ext;
                    break;
                }
            }
        }
        return cur;
    }

    /// <summary>
    /// <paramref name="original"/>'s header (type, view, sequence) with <paramref name="body"/>, authenticated by
    /// <paramref name="sender"/>'s keys the way that type is authenticated: MAC vector over AuthBody(body), over the
    /// batch digest field for PRE-PREPARE, and a fresh Ed25519 signature first for VIEW-CHANGE / NEW-VIEW.
    /// </summary>
    private static byte[] Reseal(KeyStore keys, int n, uint sender, byte[] original, byte[] body)
    {
        MessageHeader.TryParse(original, int.MaxValue, out var h);
        var b = new MessageBuilder(new Authenticator(sender, keys), n, MessageHeader.Size + body.Length + 1024);
        body.CopyTo(b.BeginVector(h.Type, h.View, h.Sequence, body.Length));
        if (h.Type == MessageType.PrePrepare && body.Length >= 32) return b.SealVector(body.AsSpan(0, 32)).ToArray();
        if (h.Type is MessageType.ViewChange or MessageType.NewView && body.Length >= ReplicaSignatures.SignatureSize) return b.SealSignedVector().ToArray();
        return b.SealVector().ToArray();
    }

    /// <summary>Every correct replica executed (client, rid), or (having caught up by state transfer) executed past the sequence number where the others did.</summary>
    private static bool Committed(LoopbackCell cell, uint[] correct, uint client, ulong rid)
    {
        ulong seq = 0;
        foreach (var r in correct) foreach (var at in cell.ExecutedAt(r, client, rid)) seq = Math.Max(seq, at);
        if (seq == 0) return false;
        return correct.All(r => cell.ExecutedAt(r, client, rid).Count == 1 || cell.Replicas[r].LastExecuted >= seq);
    }

    [Theory]
    [InlineData(MessageType.ViewChange)]
    [InlineData(MessageType.NewView)]
    [InlineData(MessageType.Fetch)]
    [InlineData(MessageType.StateData)]
    [InlineData(MessageType.Batch)]
    [InlineData(MessageType.BatchFetch)]
    [InlineData(MessageType.PrePrepare)]
    [InlineData(MessageType.Status)]
    public void MutatedReauthenticatedBodiesAreHarmless(MessageType type)
    {
        var blockFetches = new Flag(true);
        var cell = FetchingCell(out uint stateTarget, out ulong fetchSeq, blockFetches);
        var samples = Samples(type, cell, stateTarget, fetchSeq);
        uint byzantine = samples[0].Sender;

        // The unmutated samples authenticate: the mutations below reach the body parsers, not just the MAC check.
        uint self = byzantine == 1 ? 2u : 1u;
        var verifier = new MessageVerifier(cell.Protocol.Schema, new Authenticator(self, cell.Keys), new VerifierLimits(cell.N, LoopbackCell.FirstClient, 1 << 22, 1 << 16, cell.Settings.BatchSize));
        var core = cell.Protocol.CreateReplica(cell.Settings, new Authenticator(self, cell.Keys), cell.Protocol.CreateExecution(cell.Settings, self, new CounterService()), new NullOutput());
        foreach (var s in samples)
            Assert.True(verifier.Verify(s.Message, out _) is ParseStatus.Ok, $"{type} sample does not verify");

        var rng = new Random(Seed + (int)type);
        int reachedParser = 0;
        // Standalone: verifier and core of one receiver, allocation measured per message.
        for (int i = 0; i < StandaloneIterations; i++)
        {
            var s = samples[i % samples.Count];
            MessageHeader.TryParse(s.Message, int.MaxValue, out var h);
            var m = Reseal(cell.Keys, cell.N, s.Sender, s.Message, MutateBody(MessageHeader.Body(s.Message, h), s.Fields, rng));
            long before = GC.GetAllocatedBytesForCurrentThread();
            var st = verifier.Verify(m, out var mh);
            if (st == ParseStatus.Ok) core.OnMessage(mh);
            core.EndOfBurst();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < StandaloneAllocationBound, $"{type} mutation {i} ({m.Length} B, verdict {st}): {allocated} B allocated");
            if (st is not ParseStatus.BadAuthenticator and not ParseStatus.BadSignature) reachedParser++;
        }
        Assert.True(reachedParser > StandaloneIterations / 2, $"only {reachedParser} of {StandaloneIterations} {type} mutations got past the authenticator");

        if (type == MessageType.StateData)
        {
            // The targeted claim: a 9-byte body saying the snapshot is 1 GiB, at the fetching replica.
            var huge = new Forge(cell, stateTarget).StateData(0, fetchSeq, 1 << 30, 0, [0x42]);
            Assert.Equal(MessageHeader.Size + 9, MessageHeader.Size + LoopbackCell.Header(huge).BodyLength);
            cell.Run();
            long bad = cell.Replicas[3].Stats.BadStateTransfers;
            long before = GC.GetAllocatedBytesForCurrentThread();
            cell.Inject(stateTarget, 3, huge);
            cell.Run();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < 256 * 1024, $"1 GiB claim: {allocated} B allocated");
            Assert.True(cell.Replicas[3].Stats.BadStateTransfers > bad, "the 1 GiB claim reached OnStateData");
        }

        // In the cell: the same kind of mutations, from the one Byzantine replica, into the running cores.
        var cellSamples = samples.Where(s => s.ToCell).ToList();
        for (int i = 0; i < CellIterations; i++)
        {
            var s = cellSamples[i % cellSamples.Count];
            MessageHeader.TryParse(s.Message, int.MaxValue, out var h);
            var m = Reseal(cell.Keys, cell.N, s.Sender, s.Message, MutateBody(MessageHeader.Body(s.Message, h), s.Fields, rng));
            cell.Run();
            long before = GC.GetAllocatedBytesForCurrentThread();
            foreach (var to in s.CellReceivers) cell.Inject(s.Sender, to, m);
            cell.Run();
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.True(allocated < CellAllocationBound, $"{type} cell mutation {i} ({m.Length} B): {allocated} B allocated");
            // Time passes (not for STATE-DATA: replica 3 would give up on the Byzantine source and ask another).
            if (i % 50 == 49 && type != MessageType.StateData) cell.Tick();
        }
        if (type == MessageType.StateData) Assert.True(cell.Replicas[3].Stats.BadStateTransfers > 1, "mutated STATE-DATA reached OnStateData");

        // Liveness: the cell still commits new requests at every correct replica (3 catches up by state transfer).
        blockFetches.Value = false;
        var correct = Enumerable.Range(0, cell.N).Select(i => (uint)i).Where(i => i != byzantine).ToArray();
        for (ulong rid = 1; rid <= 3; rid++)
        {
            var req = cell.BuildRequest(2000, rid, 100 + (long)rid);
            foreach (var r in correct) cell.Submit(r, req);
            ulong expected = rid;
            Assert.True(cell.TickUntil(() => Committed(cell, correct, 2000, expected), 600),
                $"{type}: request {rid} of a new client not executed at every correct replica after the fuzzing: " +
                string.Join(", ", correct.Select(r => $"{r}: last {cell.Replicas[r].LastExecuted} view {cell.Replicas[r].View}")));
        }
        cell.AssertAgreement(correct);
    }
}
