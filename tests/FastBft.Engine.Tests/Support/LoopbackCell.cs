using System.Buffers;
using FastBft.Auth;
using FastBft.Agreement;
using FastBft.Agreement.Pbft;
using FastBft.Service;
using FastBft.Wire;
using FastBft.Workloads;

namespace FastBft.Engine.Tests.Support;

/// <summary>
/// A deterministic single-threaded cell for unit tests: n PBFT cores joined by FIFO queues, with the
/// production verifier on every receive. Clients are driven by hand (build REQUEST, read REPLY).
/// A drop predicate lets tests lose or cut messages; <see cref="Intercept"/> sees every message (with
/// its bytes) and may drop it; <see cref="Observe"/> sees every message before any drop (also those to
/// crashed replicas, so a test playing a Byzantine replica reads what it receives). A crashed
/// replica's core neither sends nor receives; messages a test forges in its name go through
/// <see cref="Inject"/>. Every execution is logged per replica in <see cref="Executions"/>.
/// </summary>
internal sealed class LoopbackCell
{
    public readonly int N, F;
    public readonly IReplicaCore[] Replicas;
    public readonly MessageVerifier[] Verifiers;
    public readonly CounterService[] Services;
    public readonly List<RequestInfo>[] Executions;
    public readonly KeyStore Keys;
    public readonly ReplicaParameters Settings;
    public readonly IProtocolDefinition Protocol;
    public readonly Queue<(uint From, uint To, byte[] Msg)> Wire = new();
    public readonly List<(uint Client, byte[] Msg)> ClientInbox = new();
    public Func<uint, uint, bool> Drop = (_, _) => false;
    /// <summary>Per message (from, to, bytes): true drops it. Null: none.</summary>
    public Func<uint, uint, byte[], bool>? Intercept;
    /// <summary>Called for every dequeued message before drops and crash checks.</summary>
    public Action<uint, uint, byte[]>? Observe;
    public readonly HashSet<uint> Crashed = new();
    /// <summary>Per replica its USIG certificate scheme (a <see cref="FastBft.TrustedHw.SoftwareUsig"/> over the key store's derived USIG key, epoch 1) when the protocol uses one (<see cref="CellShape.UsesUsig"/>); null otherwise.</summary>
    public readonly UsigCertificateScheme?[] Usigs;
    /// <summary>The shared trusted USIG key (tests forge certified messages with <see cref="UsigFor"/>); empty when the protocol uses none.</summary>
    public readonly byte[] UsigKey = [];
    private readonly HashSet<byte[]> _forged = new(ReferenceEqualityComparer.Instance);
    public const uint FirstClient = 1000;

    public LoopbackCell(int f = 1, int batch = 8, int k = 4, int window = 8, int commitQuorum = 0, int viewChangeTicks = 40, int maxRequestBody = 1 << 16,
        ProtocolKind protocol = ProtocolKind.Pbft, Func<ReplicaParameters, ReplicaParameters>? settings = null, QuorumPolicy? quorumPolicy = null)
    {
        Protocol = Protocols.Get(protocol);
        F = f; N = Protocol.Shape(f).N;
        var master = new byte[32]; for (int i = 0; i < 32; i++) master[i] = (byte)(i * 7 + 1);
        Keys = new KeyStore(master, N, FirstClient);
        Usigs = new UsigCertificateScheme?[N];
        if (Protocol.Shape(f).UsesUsig)
        {
            UsigKey = new byte[32];
            if (!Keys.TryDeriveUsigKey(UsigKey)) throw new InvalidOperationException("the key store derives no USIG key");
        }
        Replicas = new IReplicaCore[N]; Verifiers = new MessageVerifier[N]; Services = new CounterService[N]; Executions = new List<RequestInfo>[N];
        Settings = new ReplicaParameters { F = f, BatchSize = batch, CheckpointInterval = k, Window = window, MaxInflightBatches = 2, RetransmitTicks = 2, ViewChangeTicks = viewChangeTicks };
        if (settings is not null) Settings = settings(Settings);
        var quorums = quorumPolicy ?? (commitQuorum > 0 ? Protocol.Quorums(f).With(commit: commitQuorum) : null);   // a planted bug is an injected policy
        for (uint i = 0; i < N; i++)
        {
            Services[i] = new CounterService();
            Executions[i] = new List<RequestInfo>();
            var execution = Protocol.CreateExecution(Settings, i, new RecordingService(Services[i], Executions[i]));
            if (UsigKey.Length > 0) Usigs[i] = new UsigCertificateScheme(UsigFor(i), ownsUsig: true);
            Replicas[i] = Protocol.CreateReplica(Settings, new Authenticator(i, Keys), execution, new Output(this, i), quorums, Usigs[i]);
            Verifiers[i] = Usigs[i] is { } usig
                ? new MessageVerifier(Protocol.Schema, new Authenticator(i, Keys), new VerifierLimits(N, FirstClient, 1 << 22, maxRequestBody, batch), usig)
                : new MessageVerifier(Protocol.Schema, new Authenticator(i, Keys), new VerifierLimits(N, FirstClient, 1 << 22, maxRequestBody, batch));
        }
    }

    /// <summary>A fresh software USIG instance of replica <paramref name="id"/> over the cell's trusted key (a test playing a Byzantine replica certifies with it; <paramref name="lastCounter"/> = counters already used).</summary>
    public FastBft.TrustedHw.SoftwareUsig UsigFor(uint id, ulong epoch = 1, ulong lastCounter = 0) => new(id, UsigKey, epoch, lastCounter);

    private sealed class Output(LoopbackCell cell, uint self) : IReplicaOutput
    {
        public void SendToReplica(uint replica, ReadOnlySpan<byte> message) => cell.Wire.Enqueue((self, replica, message.ToArray()));
        public void SendToClient(uint client, ReadOnlySpan<byte> message) => cell.Wire.Enqueue((self, client, message.ToArray()));
    }

    /// <summary>Logs every executed request (client, rid, seq, index), then runs the counter.</summary>
    private sealed class RecordingService(CounterService inner, List<RequestInfo> log) : IReplicatedService
    {
        public void Execute(in RequestInfo request, ReadOnlySpan<byte> operation, IBufferWriter<byte> reply, IBufferWriter<byte>? update)
        {
            log.Add(request);
            inner.Execute(request, operation, reply, update);
        }
        public void ApplyUpdate(in RequestInfo request, ReadOnlySpan<byte> update) => inner.ApplyUpdate(request, update);
        public void GetStateDigest(Span<byte> digest32) => inner.GetStateDigest(digest32);
        public void WriteSnapshot(Stream destination) => inner.WriteSnapshot(destination);
        public void RestoreSnapshot(Stream source) => inner.RestoreSnapshot(source);
    }

    public byte[] BuildRequest(uint client, ulong rid, long value)
    {
        var b = new MessageBuilder(new Authenticator(client, Keys), N) { Family = Protocol.Shape(F).Family };
        var body = b.BeginVector(MessageType.Request, 0, rid, 8);
        BitConverter.TryWriteBytes(body, value);
        return b.SealVector().ToArray();
    }

    /// <summary>A REQUEST with an arbitrary operation (the counter ignores operations that are not 8 bytes).</summary>
    public byte[] BuildRequest(uint client, ulong rid, ReadOnlySpan<byte> operation)
    {
        var b = new MessageBuilder(new Authenticator(client, Keys), N, 1024 + operation.Length) { Family = Protocol.Shape(F).Family };
        operation.CopyTo(b.BeginVector(MessageType.Request, 0, rid, operation.Length));
        return b.SealVector().ToArray();
    }

    /// <summary>A client's PANIC about <paramref name="request"/> (RePBFT, Thesis §5.3.2.1): body D(req), MAC vector for all replicas.</summary>
    public byte[] BuildPanic(uint client, byte[] request)
    {
        MessageHeader.TryParse(request, int.MaxValue, out var h);
        Span<byte> bodyDigest = stackalloc byte[32];
        Digests.AuthBody(MessageHeader.Body(request, h), bodyDigest);
        var b = new MessageBuilder(new Authenticator(client, Keys), N) { Family = Protocol.Shape(F).Family };
        var body = b.BeginVector(MessageType.Panic, 0, h.Sequence, 32);
        Digests.Request(request.AsSpan(0, MessageHeader.Size), bodyDigest, body);
        return b.SealVector().ToArray();
    }

    public void Submit(uint to, byte[] request) => Wire.Enqueue((uint.MaxValue, to, request));

    /// <summary>Queues a message a test forged in replica <paramref name="from"/>'s name (delivered even if that replica's core is crashed).</summary>
    public void Inject(uint from, uint to, byte[] message)
    {
        message = (byte[])message.Clone();            // one forged-marker per delivery
        _forged.Add(message);
        Wire.Enqueue((from, to, message));
    }

    /// <summary>Injects <paramref name="message"/> from <paramref name="from"/> to every other replica (or to <paramref name="to"/> only).</summary>
    public void InjectAll(uint from, byte[] message, params uint[] to)
    {
        if (to.Length == 0) to = Enumerable.Range(0, N).Select(i => (uint)i).Where(i => i != from).ToArray();
        foreach (var r in to) Inject(from, r, message);
    }

    /// <summary>Delivers queued messages until quiet (then ends bursts), up to a step bound.</summary>
    public int Run(int maxSteps = 1_000_000)
    {
        int steps = 0;
        while (steps < maxSteps)
        {
            if (Wire.Count == 0)
            {
                foreach (var r in Replicas) if (!Crashed.Contains(r.Id)) r.EndOfBurst();
                if (Wire.Count == 0) break;
            }
            var (from, to, msg) = Wire.Dequeue();
            steps++;
            Observe?.Invoke(from, to, msg);
            bool forged = _forged.Remove(msg);
            if (from != uint.MaxValue && !forged && Crashed.Contains(from)) continue;
            if (Drop(from, to)) continue;
            if (Intercept is not null && Intercept(from, to, msg)) continue;
            if (to >= N) { ClientInbox.Add((to, msg)); continue; }
            if (Crashed.Contains(to)) continue;
            if (Verifiers[to].Verify(msg, out var verified) == ParseStatus.Ok)
                Replicas[to].OnMessage(verified);
        }
        return steps;
    }

    public void Tick(int times = 1)
    {
        for (int t = 0; t < times; t++)
        {
            foreach (var r in Replicas) if (!Crashed.Contains(r.Id)) r.OnTick();
            Run();
        }
    }

    /// <summary>Ticks until <paramref name="done"/> holds (checked after every tick); false if it did not within <paramref name="maxTicks"/>.</summary>
    public bool TickUntil(Func<bool> done, int maxTicks)
    {
        for (int t = 0; t < maxTicks; t++)
        {
            if (done()) return true;
            Tick();
        }
        return done();
    }

    /// <summary>Replies verified by the client, grouped: (client, rid) → list of (replica, form, payload).</summary>
    public List<(uint Replica, byte Form, byte[] Payload, ulong Rid)> RepliesFor(uint client)
    {
        var v = new MessageVerifier(Protocol.Schema, new Authenticator(client, Keys), new VerifierLimits(N, FirstClient, 1 << 22, 1 << 16, 8));
        var list = new List<(uint, byte, byte[], ulong)>();
        foreach (var (c, msg) in ClientInbox)
        {
            if (c != client) continue;
            if (v.VerifyHeader(msg, out var h) != ParseStatus.Ok) continue;
            var body = MessageHeader.Body(msg, h);
            list.Add((h.Sender, body[4], body.Slice(Bodies.ReplyFixed).ToArray(), h.Sequence));
        }
        return list;
    }

    /// <summary>The sequence numbers at which <paramref name="replica"/> executed (client, rid).</summary>
    public List<ulong> ExecutedAt(uint replica, uint client, ulong rid)
        => Executions[replica].Where(e => e.ClientId == client && e.RequestId == rid).Select(e => e.Sequence).ToList();

    /// <summary>Safety: no two of <paramref name="correct"/> executed different requests at one sequence number (compared where both executed it).</summary>
    public void AssertAgreement(params uint[] correct)
    {
        var bySeq = new Dictionary<uint, Dictionary<ulong, string>>();
        foreach (var r in correct)
            bySeq[r] = Executions[r].GroupBy(e => e.Sequence).ToDictionary(g => g.Key, g => string.Join(",", g.OrderBy(e => e.Index).Select(e => $"{e.ClientId}/{e.RequestId}")));
        foreach (var a in correct)
            foreach (var b in correct)
            {
                if (a >= b) continue;
                foreach (var (seq, reqs) in bySeq[a])
                    if (bySeq[b].TryGetValue(seq, out var other))
                        Assert.True(reqs == other, $"replicas {a} and {b} executed different requests at seq {seq}: [{reqs}] vs [{other}]");
            }
    }

    /// <summary>Hex of a replica's service state digest.</summary>
    public string StateDigest(uint replica)
    {
        var d = new byte[32];
        Replicas[replica].GetStateDigest(d);
        return Convert.ToHexString(d);
    }

    /// <summary>Header of a message on the wire (type, sender, view, sequence).</summary>
    public static MessageHeader Header(byte[] msg)
    {
        MessageHeader.TryParse(msg, int.MaxValue, out var h);
        return h;
    }

    public static bool Is(byte[] msg, MessageType type) => msg.Length >= MessageHeader.Size && msg[3] == (byte)type;
}
