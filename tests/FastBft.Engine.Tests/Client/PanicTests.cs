using FastBft.Auth;
using FastBft.Client;
using FastBft.Config;
using FastBft.Hosting;
using FastBft.Transport;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Client;

/// <summary>
/// Clients of a switching protocol send PANIC when their result stalls (Thesis §5.3.2.1; PROTOCOLS.md §5.5.1, G9): after
/// timeouts.client_panic_retransmissions retransmission timeouts, one PANIC to every replica with that retransmission and
/// each later one. PANIC = header (Panic, sender = client id, view 0, sequence = request id, the cell's family,
/// generation 0) ‖ D(req) of the stalled REQUEST ‖ MAC vector for all n replicas. The replicas here are a fake transport
/// that records what the client endpoint sends and never replies.
/// </summary>
public class PanicTests
{
    private const uint ClientId = 1000;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    /// <summary>A cell config built in code: repbft and friends are not built yet, so it is not validated (Validate rejects them).</summary>
    private static CellConfig Cell(string protocol, int panicAfter)
    {
        var c = new CellConfig
        {
            Protocol = protocol, F = 1,
            Keys = new KeysConfig { Master = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" },
            Timeouts = new TimeoutsConfig { TickMs = 1, RetransmitMs = 5, ClientRetransmitMs = 5, ClientPanicRetransmissions = panicAfter },
        };
        for (int i = 0; i < c.Shape.N; i++) c.Replicas.Add(new ReplicaConfig { Id = i, Address = $"127.0.0.1:{7000 + i}" });
        return c;
    }

    /// <summary>The endpoint through its test seam: the clients' reply verifier does not need the protocol built (no reply ever arrives here).</summary>
    private static ClientEndpoint Endpoint(CellConfig c, ITransport t)
        => new(c, t, (cfg, auth) => new MessageVerifier(Protocols.Get(ProtocolKind.Pbft).Schema, auth, ProtocolRegistry.Limits(cfg)));

    private static byte[] Operation() => Enumerable.Range(0, 100).Select(i => (byte)(i * 3 + 1)).ToArray();   // > 32 bytes: AuthBody hashes it

    [Theory]
    [InlineData("repbft", 1)]
    [InlineData("repbft", 3)]
    [InlineData("repbft-star", 2)]
    [InlineData("reminbft", 1)]
    public async Task AStalledRequestPanicsToEveryReplicaAfterTheConfiguredRetransmissions(string protocol, int panicAfter)
    {
        var config = Cell(protocol, panicAfter);
        int n = config.N;
        var wire = new RecordingTransport();
        var endpoint = Endpoint(config, wire);
        var client = endpoint.CreateClient(ClientId, firstRequestId: 41);
        endpoint.Start();
        var pending = client.InvokeAsync(Operation()).AsTask();
        // Two PANIC rounds, so the repetition with a later retransmission is covered too.
        Assert.True(wire.WaitUntil(m => Enumerable.Range(0, n).All(r => m.Count(x => x.To == r && Type(x.Msg) == MessageType.Panic) >= 2), Patience), "no second PANIC reached every replica");
        endpoint.Dispose();
        await Assert.ThrowsAsync<OperationCanceledException>(() => pending);

        var sent = wire.Snapshot();
        Assert.Equal(42ul, client.RequestId);
        Assert.True(client.Panics >= 2);
        Assert.Equal(client.Retransmissions - (panicAfter - 1), client.Panics);      // from the panicAfter-th retransmission on, every one
        var keys = config.CreateKeyStore();
        for (uint r = 0; r < n; r++)
        {
            var toR = sent.Where(x => x.To == r).ToList();
            Assert.All(toR, x => Assert.Equal(ClientId, x.From));
            int first = toR.FindIndex(x => Type(x.Msg) == MessageType.Panic);
            // The first REQUEST went to every replica, then panicAfter retransmissions; the PANIC rides with the last of them.
            Assert.Equal(1 + panicAfter, toR.Take(first).Count(x => Type(x.Msg) == MessageType.Request));
            Assert.Equal(MessageType.Request, Type(toR[first - 1].Msg));
            Assert.Equal(client.Panics, toR.Count(x => Type(x.Msg) == MessageType.Panic));
            Assert.Equal(client.Retransmissions + 1, toR.Count(x => Type(x.Msg) == MessageType.Request));

            var request = toR[first - 1].Msg;
            var panic = toR[first].Msg;
            Assert.Equal(ParseStatus.Ok, MessageHeader.TryParse(request, int.MaxValue, out var rh));
            Assert.Equal(ParseStatus.Ok, MessageHeader.TryParse(panic, int.MaxValue, out var h));
            Assert.Equal(MessageType.Panic, h.Type);
            Assert.Equal(ClientId, h.Sender);
            Assert.Equal(0ul, h.View);
            Assert.Equal(42ul, h.Sequence);
            Assert.Equal(rh.Sequence, h.Sequence);
            Assert.Equal(config.Shape.Family, h.Family);
            Assert.Equal(protocol == "reminbft" ? ProtocolFamily.ReMinBft : ProtocolFamily.RePbft, h.Family);
            Assert.Equal(0ul, h.Generation);
            Assert.Equal(Digests.Size, h.BodyLength);
            Assert.Equal(Authenticator.VectorLength(n), h.AuthLength);

            // Body = D(req) = SHA-256(REQUEST header ‖ AuthBody(REQUEST body)), as the replicas' RequestRule computes it.
            var requestAuthBody = new byte[Digests.Size];
            Digests.AuthBody(MessageHeader.Body(request, rh), requestAuthBody);
            var dReq = new byte[Digests.Size];
            Digests.Request(request.AsSpan(0, MessageHeader.Size), requestAuthBody, dReq);
            Assert.Equal(dReq, MessageHeader.Body(panic, h).ToArray());

            // The MAC vector verifies at replica r over header ‖ AuthBody(body); so does every forwarded copy at every replica.
            using var auth = new Authenticator(r, keys);
            Assert.True(VerifiesAt(auth, panic));
            var forged = (byte[])panic.Clone();
            forged[MessageHeader.Size] ^= 1;
            Assert.False(VerifiesAt(auth, forged));

            // Later PANICs for the same request are the same message (replicas deduplicate by (client, rid)).
            Assert.All(toR.Where(x => Type(x.Msg) == MessageType.Panic), x => Assert.Equal(panic, x.Msg));
        }
    }

    [Fact]
    public async Task APbftClientNeverPanics()
    {
        var config = Cell("pbft", panicAfter: 1);
        config.Validate();                                                   // pbft is built: the production constructor
        var wire = new RecordingTransport();
        var endpoint = new ClientEndpoint(config, wire);
        var client = endpoint.CreateClient(ClientId);
        endpoint.Start();
        var pending = client.InvokeAsync(Operation()).AsTask();
        Assert.True(wire.WaitUntil(m => m.Count(x => x.To == 0 && Type(x.Msg) == MessageType.Request) >= 5, Patience), "the client did not retransmit");
        endpoint.Dispose();
        await Assert.ThrowsAsync<OperationCanceledException>(() => pending);

        Assert.True(client.Retransmissions >= 4);
        Assert.Equal(0, client.Panics);
        Assert.DoesNotContain(wire.Snapshot(), x => Type(x.Msg) != MessageType.Request);
    }

    [Theory]
    [InlineData(ProtocolKind.Pbft, false)]
    [InlineData(ProtocolKind.MinBft, false)]
    [InlineData(ProtocolKind.RePbft, true)]
    [InlineData(ProtocolKind.RePbftStar, true)]
    [InlineData(ProtocolKind.ReMinBft, true)]
    public void OnlyTheSwitchingProtocolsPanic(ProtocolKind kind, bool switches) => Assert.Equal(switches, BftClient.Switches(kind));

    private static MessageType Type(byte[] m) => (MessageType)m[3];

    private static bool VerifiesAt(Authenticator replica, byte[] message)
    {
        if (MessageHeader.TryParse(message, int.MaxValue, out var h) != ParseStatus.Ok) return false;
        var authBody = new byte[Digests.Size];
        Digests.AuthBody(MessageHeader.Body(message, h), authBody);
        return replica.VerifyVector(h.Sender, message.AsSpan(0, MessageHeader.Size), authBody, MessageHeader.Authenticator(message, h));
    }

    /// <summary>The fake replicas: records every message the client endpoint sends (copied, in order) and never delivers anything.</summary>
    private sealed class RecordingTransport : ITransport
    {
        private readonly List<(uint To, uint From, byte[] Msg)> _sent = new();

        public int MaxMessageSize => 1 << 20;
        public TransportStats Stats { get; } = new();

        public void Send(uint destination, uint sender, ReadOnlySpan<byte> message)
        {
            lock (_sent) { _sent.Add((destination, sender, message.ToArray())); Monitor.PulseAll(_sent); }
        }

        public void Flush() { }
        public int Poll(IMessageHandler handler, int timeoutMs) { if (timeoutMs > 0) Thread.Sleep(1); return 0; }
        public bool ConfirmRoute(uint node, ulong freshness) => false;
        public void Dispose() { }

        public List<(uint To, uint From, byte[] Msg)> Snapshot() { lock (_sent) return _sent.ToList(); }

        public bool WaitUntil(Func<List<(uint To, uint From, byte[] Msg)>, bool> done, TimeSpan timeout)
        {
            var end = DateTime.UtcNow + timeout;
            lock (_sent)
            {
                while (!done(_sent))
                {
                    var left = end - DateTime.UtcNow;
                    if (left <= TimeSpan.Zero) return false;
                    Monitor.Wait(_sent, left);
                }
                return true;
            }
        }
    }
}
