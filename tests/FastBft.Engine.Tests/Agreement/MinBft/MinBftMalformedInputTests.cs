using System.Buffers.Binary;
using FastBft.Agreement.MinBft;
using FastBft.Auth;
using FastBft.Engine.Tests.Support;
using FastBft.TrustedHw;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.MinBft;

/// <summary>
/// Input from the network never crashes or stalls a MinBFT replica: mutated copies of every message type the cell
/// produced, and garbage that a Byzantine replica certifies with its own USIG (valid UIs, in counter order).
/// </summary>
public sealed class MinBftMalformedInputTests
{
    private static byte[] Mutate(byte[] msg, Random rng)
    {
        var m = (byte[])msg.Clone();
        switch (rng.Next(5))
        {
            case 0: for (int k = 0; k < 1 + rng.Next(4); k++) m[rng.Next(m.Length)] ^= (byte)(1 + rng.Next(255)); break;
            case 1: m = m.AsSpan(0, rng.Next(m.Length)).ToArray(); break;
            case 2: m = m.Concat(new byte[1 + rng.Next(64)]).ToArray(); break;
            case 3: if (m.Length > 28) BinaryPrimitives.WriteInt32LittleEndian(m.AsSpan(24), rng.Next(-5, 1 << 24)); break;   // body length field
            default: if (m.Length > MessageHeader.Size + 40) m[MessageHeader.Size + rng.Next(40)] ^= 0xFF; break;              // counts, digests, UI fields
        }
        return m;
    }

    /// <summary>A certified message of the Byzantine replica 2 with a body derived from <paramref name="template"/> and bytes changed; its UI is valid and next in its counter order.</summary>
    private static byte[] ByzantineCertified(IUsig usig, byte[] template, Random rng)
    {
        MessageHeader.TryParse(template, int.MaxValue, out var h);
        var body = MessageHeader.Body(template, h).ToArray();
        if (body.Length > 0) for (int k = 0; k < 1 + rng.Next(3); k++) body[rng.Next(body.Length)] = (byte)rng.Next(256);
        var type = rng.Next(4) switch { 0 => MessageType.UiCheckpoint, 1 => MessageType.UiCommit, _ => h.Type };
        if (type == MessageType.UiCheckpoint && body.Length != MinBftBodies.CheckpointLength(3)) Array.Resize(ref body, MinBftBodies.CheckpointLength(3));
        if (type == MessageType.UiCommit && body.Length != MinBftBodies.CommitLength) Array.Resize(ref body, MinBftBodies.CommitLength);
        ulong view = rng.Next(8) == 0 ? (ulong)rng.Next(1, 4) : 0;               // now and then a later view: parked, never a crash
        ulong seq = (ulong)rng.Next(0, 40);
        return MinBftTestKit.Certified(usig, type, view, seq, body);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void MutatedAndByzantineCertifiedMessagesNeitherCrashNorStallTheCell(int seed)
    {
        var cell = MinBftTestKit.Cell(k: 4, window: 8);
        var captured = new List<(uint To, byte[] Msg)>();
        cell.Observe = (from, to, msg) => { if (to < cell.N && captured.Count < 2000) captured.Add((to, msg)); };
        const uint c = LoopbackCell.FirstClient;
        ulong rid = 0;
        for (int i = 0; i < 10; i++) { cell.Submit(0, cell.BuildRequest(c, ++rid, i)); cell.Run(); }
        cell.Drop = (from, to) => to == 2;                                     // replica 2 misses some: UI-FETCH, FETCH, STATE-DATA
        for (int i = 0; i < 30; i++) { cell.Submit(0, cell.BuildRequest(c, ++rid, i)); cell.Run(); }
        cell.Drop = (_, _) => false;
        for (int i = 0; i < 4; i++) { cell.Submit(0, cell.BuildRequest(c, ++rid, i)); cell.Run(); cell.Tick(5); }
        cell.Tick(30);
        var types = captured.Select(m => (MessageType)m.Msg[3]).ToHashSet();
        foreach (var t in new[] { MessageType.UiPrepare, MessageType.UiCommit, MessageType.UiCheckpoint, MessageType.UiFetch, MessageType.Request })
            Assert.Contains(t, types);
        cell.Observe = null;

        // From here replica 2 is Byzantine: the test holds a USIG instance in its name that continues its counter.
        cell.Crashed.Add(2);
        var own = cell.MinBft(2);
        using var usig = cell.UsigFor(2, lastCounter: (ulong)own.Stats.CertifiedSent);
        var certifiedTemplates = captured.Where(m => m.Msg[3] is (byte)MessageType.UiPrepare or (byte)MessageType.UiCommit or (byte)MessageType.UiCheckpoint).Select(m => m.Msg).ToList();
        var rng = new Random(seed);
        var byzantineMac = new MessageBuilder(new Authenticator(2, cell.Keys), cell.N) { Family = ProtocolFamily.MinBft };
        for (int i = 0; i < 2000; i++)
        {
            int kind = rng.Next(4);
            if (kind == 0)
            {
                var m = ByzantineCertified(usig, certifiedTemplates[rng.Next(certifiedTemplates.Count)], rng);
                foreach (uint to in new uint[] { 0, 1 })
                    if (cell.Verifiers[to].Verify(m, out var v) == ParseStatus.Ok) cell.Replicas[to].OnMessage(v);
                continue;
            }
            if (kind == 1)
            {
                var body = byzantineMac.BeginVector(MessageType.UiFetch, (ulong)rng.Next(3), 0, MinBftBodies.UiFetchLength);
                BinaryPrimitives.WriteUInt64LittleEndian(body, rng.Next(2) == 0 ? 1UL : (ulong)rng.NextInt64());
                BinaryPrimitives.WriteUInt64LittleEndian(body.Slice(8), (ulong)rng.NextInt64(1, long.MaxValue));
                var m = byzantineMac.SealVector().ToArray();
                uint to = (uint)rng.Next(2);
                if (cell.Verifiers[to].Verify(m, out var v) == ParseStatus.Ok) cell.Replicas[to].OnMessage(v);
                continue;
            }
            var (dest, msg) = captured[rng.Next(captured.Count)];
            if (dest == 2) continue;
            var mutated = Mutate(msg, rng);
            if (cell.Verifiers[dest].Verify(mutated, out var vm) == ParseStatus.Ok) cell.Replicas[dest].OnMessage(vm);   // must not throw
        }
        cell.Run();
        cell.Wire.Clear();
        var next = cell.BuildRequest(c, ++rid, 7);
        bool done = false;
        for (int t = 0; t < 100 && !done; t++)
        {
            if (t % 5 == 0) { for (uint r = 0; r < 2; r++) cell.Submit(r, next); cell.Run(); }
            cell.Tick();
            done = cell.RepliesFor(c).Count(x => x.Rid == rid) >= cell.F + 1;
        }
        Assert.True(done, string.Join(" | ", cell.Replicas.Select(r => r.DescribeState())));
        cell.AssertAgreement(0, 1);
        Assert.True(cell.Verifiers[0].DroppedTotal > 0);
    }

    [Fact]
    public void BodyRulesRejectMalformedFieldsBeforeTheCore()
    {
        var cell = MinBftTestKit.Cell();
        using var usig1 = cell.UsigFor(1, lastCounter: 10);
        using var usig0 = cell.UsigFor(0, lastCounter: 10);
        var v = cell.Verifiers[2];
        // COMMIT whose leader UI has counter 0 (never valid).
        var commit = MinBftTestKit.Certified(usig1, MessageType.UiCommit, 0, 1, new byte[MinBftBodies.CommitLength]);
        Assert.Equal(ParseStatus.BadField, v.Verify(commit, out _));
        // COMMIT of the wrong length.
        Assert.NotEqual(ParseStatus.Ok, v.Verify(MinBftTestKit.Certified(usig1, MessageType.UiCommit, 0, 1, new byte[MinBftBodies.CommitLength - 1]), out _));
        // CHECKPOINT of the wrong length.
        Assert.NotEqual(ParseStatus.Ok, v.Verify(MinBftTestKit.Certified(usig1, MessageType.UiCheckpoint, 0, 4, new byte[33]), out _));
        // PREPARE whose batch count exceeds the configured maximum, and one whose batch digest is wrong.
        var batch = MinBftTestKit.Batch(cell.BuildRequest(1000, 1, 1));
        var tooMany = (byte[])batch.Clone(); BinaryPrimitives.WriteUInt16LittleEndian(tooMany.AsSpan(32), 60000);
        Assert.Equal(ParseStatus.BadField, v.Verify(MinBftTestKit.Prepare(usig0, 0, 1, tooMany), out _));
        var badDigest = (byte[])batch.Clone(); badDigest[0] ^= 1;
        Assert.Equal(ParseStatus.BadDigest, v.Verify(MinBftTestKit.Prepare(usig0, 0, 1, badDigest), out _));
        // A batch entry whose length runs past the body.
        var longEntry = (byte[])batch.Clone(); BinaryPrimitives.WriteInt32LittleEndian(longEntry.AsSpan(Bodies.PrePrepareFixed), int.MaxValue);
        Assert.Equal(ParseStatus.Truncated, v.Verify(MinBftTestKit.Prepare(usig0, 0, 1, longEntry), out _));
        // UI-FETCH for counter 0.
        var b = new MessageBuilder(new Authenticator(1, cell.Keys), cell.N) { Family = ProtocolFamily.MinBft };
        b.BeginVector(MessageType.UiFetch, 0, 0, MinBftBodies.UiFetchLength).Clear();
        Assert.Equal(ParseStatus.BadField, v.Verify(b.SealVector().ToArray(), out _));
        // A certified type sealed with a MAC vector instead of a UI.
        b.BeginVector(MessageType.UiCheckpoint, 0, 4, MinBftBodies.CheckpointLength(3)).Clear();
        Assert.NotEqual(ParseStatus.Ok, v.Verify(b.SealVector().ToArray(), out _));
        // Nothing reached the core: the cell still works.
        cell.Submit(0, cell.BuildRequest(1000, 1, 1)); cell.Run();
        Assert.All(cell.Replicas, r => Assert.Equal(1UL, r.LastExecuted));
    }
}
