using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.Engine.Tests.Support;
using FastBft.Agreement;
using FastBft.Agreement.Pbft;
using FastBft.Wire;
using FastBft.Workloads;

namespace FastBft.Engine.Tests.Agreement.Pbft;

/// <summary>
/// Randomized malformed input: ≥ 100,000 mutated versions of valid messages of every type are fed
/// to replica 1's authentication stage and core. No exception may escape, every mutation must be
/// rejected, and the replica's state must not change. Mutations touch only bytes the receiver checks
/// (the MAC entries meant for other receivers are, by design, not checked by this one).
/// </summary>
public class MalformedInputTests(ITestOutputHelper output)
{
    private sealed class Recorder : IReplicaOutput
    {
        public int Sent;
        public void SendToReplica(uint replica, ReadOnlySpan<byte> message) => Sent++;
        public void SendToClient(uint client, ReadOnlySpan<byte> message) => Sent++;
    }

    private const uint Self = 1;

    private static List<(int Start, int Length)> IgnoredRanges(byte[] m)
    {
        var ranges = new List<(int, int)>();
        void AddTrailer(int trailerStart, int authLength)
        {
            int count = (authLength - 2) / 16;
            for (int i = 0; i < count; i++) if (i != Self) ranges.Add((trailerStart + 2 + 16 * i, 16));
        }
        MessageHeader.TryParse(m, int.MaxValue, out var h);
        if (h.Type != MessageType.Reply) AddTrailer(MessageHeader.Size + h.BodyLength, h.AuthLength);
        if (h.Type is MessageType.PrePrepare or MessageType.Batch)
        {
            int off = MessageHeader.Size + Bodies.PrePrepareFixed;
            int count = BinaryPrimitives.ReadUInt16LittleEndian(m.AsSpan(MessageHeader.Size + 32));
            for (int i = 0; i < count; i++)
            {
                int len = BinaryPrimitives.ReadInt32LittleEndian(m.AsSpan(off));
                var req = m.AsSpan(off + 4, len);
                MessageHeader.TryParse(req, int.MaxValue, out var rh);
                AddTrailer(off + 4 + MessageHeader.Size + rh.BodyLength, rh.AuthLength);
                off += 4 + len;
            }
        }
        return ranges;
    }

    private static (ulong, ulong, ulong, ulong, int, long, long, string) Snapshot(PbftReplica r, CounterService s)
    {
        var d = new byte[32]; r.GetStateDigest(d);
        return (r.View, r.LowWatermark, r.LastExecuted, r.LastAssigned, r.PendingRequests, r.Stats.Executed, s.Executed, Convert.ToHexString(d));
    }

    [Fact]
    public void HundredThousandMutatedMessagesAreRejectedWithoutStateChange()
    {
        var f = new MessageFactory();
        var service = new CounterService();
        var recorder = new Recorder();
        var protocol = Protocols.Get(ProtocolKind.Pbft);
        var parameters = new ReplicaParameters { F = 1, BatchSize = 16, CheckpointInterval = 4, Window = 8 };
        var replica = (PbftReplica)protocol.CreateReplica(parameters, new Authenticator(Self, f.Keys), protocol.CreateExecution(parameters, Self, service), recorder);
        var verifier = f.Verifier(Self);
        var digest = new byte[32]; digest[0] = 1;
        var samples = new[]
        {
            f.Request(1000, 1, new byte[] { 1, 0, 0, 0, 0, 0, 0, 0 }),
            f.PrePrepare(0, 0, 1, f.Request(1000, 1, new byte[8]), f.Request(1001, 1, new byte[300])),
            f.Digest32(MessageType.Prepare, 2, 0, 1, digest),
            f.Digest32(MessageType.Commit, 3, 0, 1, digest),
            f.Digest32(MessageType.Checkpoint, 2, 0, 4, digest),
            f.Status(0, 0, 3, 0),
            // View change: a signed VIEW-CHANGE, a NEW-VIEW of view 2 by its primary 2 embedding three signed
            // VIEW-CHANGEs, and the BATCH-FETCH / BATCH pair (issue 8: every length field of these is a claim).
            new Forge(f.Keys, 2, 4).ViewChange(1, 0, 0, [(0, Forge.Zero32)], q: [(1, 0, digest)]),
            new Forge(f.Keys, 2, 4).NewView(2, 0, Forge.Zero32,
                [new Forge(f.Keys, 0, 4).ViewChange(2, 0, 0, [(0, Forge.Zero32)]), new Forge(f.Keys, 2, 4).ViewChange(2, 0, 0, [(0, Forge.Zero32)]), new Forge(f.Keys, 3, 4).ViewChange(2, 0, 0, [(0, Forge.Zero32)])], []),
            f.Digest32(MessageType.BatchFetch, 2, 2, 1, digest),
            new Forge(f.Keys, 2, 4).Batch(2, 1, f.Request(1000, 2, new byte[8])),
        };
        var ignored = samples.Select(IgnoredRanges).ToArray();
        int seed = Environment.GetEnvironmentVariable("FASTBFT_FUZZ_SEED") is { } e ? int.Parse(e) : 20261121;
        output.WriteLine($"seed {seed} (set FASTBFT_FUZZ_SEED to replay)");
        var rng = new Random(seed);
        var before = Snapshot(replica, service);
        int accepted = 0, unauthenticated = 0, total = 100_000;
        var buffer = new byte[1 << 16];
        for (int i = 0; i < total; i++)
        {
            int which = rng.Next(samples.Length);
            var src = samples[which];
            int len = Mutate(src, ignored[which], buffer, rng);
            var m = buffer.AsSpan(0, len);
            if (m.SequenceEqual(src)) { i--; continue; }
            if (verifier.Verify(m, out var v) == ParseStatus.Ok)
            {
                var h = v.Header;
                // A PRE-PREPARE whose only fault is a client MAC entry for this replica is well-formed and the
                // primary's; it is passed on marked unauthenticated, and the core must neither vote on it nor execute it.
                if (h.Type is MessageType.PrePrepare or MessageType.Batch && !v.RequestsAuthenticated) unauthenticated++;
                else accepted++;
                replica.OnMessage(v);
            }
            replica.EndOfBurst();
        }
        Assert.Equal(0, accepted);
        Assert.Equal(before, Snapshot(replica, service));
        Assert.Equal(0, recorder.Sent);
        Assert.Equal(total - unauthenticated, verifier.DroppedTotal);
        output.WriteLine($"{unauthenticated} PRE-PREPAREs with a mutated client MAC passed on as unauthenticated");
        output.WriteLine("drops by reason: " + string.Join(", ", Enum.GetValues<ParseStatus>().Where(s => verifier.Drops[(int)s] > 0).Select(s => $"{s}={verifier.Drops[(int)s]}")));

        // The unmutated samples are accepted and do change the replica's state: the check above is meaningful.
        foreach (var s in samples)
        {
            Assert.Equal(ParseStatus.Ok, verifier.Verify(s, out var v));
            replica.OnMessage(v);
        }
        Assert.NotEqual(before, Snapshot(replica, service));
        Assert.True(recorder.Sent > 0);
    }

    private static int Mutate(byte[] src, List<(int Start, int Length)> ignored, byte[] dst, Random rng)
    {
        bool Ignored(int pos) { foreach (var (s, l) in ignored) if (pos >= s && pos < s + l) return true; return false; }
        int Pick() { while (true) { int p = rng.Next(src.Length); if (!Ignored(p)) return p; } }
        src.CopyTo(dst, 0);
        switch (rng.Next(7))
        {
            case 0: { int p = Pick(); dst[p] ^= (byte)(1 << rng.Next(8)); return src.Length; }                 // one bit
            case 1: { for (int k = rng.Next(2, 9); k > 0; k--) { int p = Pick(); dst[p] ^= (byte)rng.Next(1, 256); } return src.Length; }
            case 2: { int p = rng.Next(MessageHeader.Size); dst[p] ^= (byte)rng.Next(1, 256); return src.Length; }             // header field
            case 3: return rng.Next(src.Length);                                                               // truncated
            case 4: { int extra = rng.Next(1, 65); rng.NextBytes(dst.AsSpan(src.Length, extra)); return src.Length + extra; } // trailing bytes
            case 5: { int len = rng.Next(0, 512); rng.NextBytes(dst.AsSpan(0, len)); if (len >= 2) { dst[0] = 0x42; dst[1] = 0xFB; } return len; } // garbage with magic
            default:
            {
                // A length field lies: body or auth length changed, total unchanged or changed.
                int field = rng.Next(2) == 0 ? 24 : 28;
                int delta = rng.Next(-40, 41);
                if (delta == 0) delta = 1;
                if (field == 24) BinaryPrimitives.WriteInt32LittleEndian(dst.AsSpan(24), BinaryPrimitives.ReadInt32LittleEndian(dst.AsSpan(24)) + delta);
                else BinaryPrimitives.WriteUInt16LittleEndian(dst.AsSpan(28), (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(dst.AsSpan(28)) + delta));
                return src.Length;
            }
        }
    }
}
