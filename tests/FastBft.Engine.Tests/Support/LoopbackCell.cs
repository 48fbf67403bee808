using FastBft.Auth;
using FastBft.Protocol;
using FastBft.Protocol.Pbft;
using FastBft.Service;
using FastBft.Wire;
using FastBft.Workloads;

namespace FastBft.Engine.Tests.Support;

/// <summary>
/// A deterministic single-threaded cell for unit tests: n PBFT cores joined by FIFO queues, with the
/// production verifier on every receive. Clients are driven by hand (build REQUEST, read REPLY).
/// A drop predicate lets tests lose or cut messages.
/// </summary>
internal sealed class LoopbackCell
{
    public readonly int N, F;
    public readonly PbftReplica[] Replicas;
    public readonly MessageVerifier[] Verifiers;
    public readonly CounterService[] Services;
    public readonly KeyStore Keys;
    public readonly Queue<(uint From, uint To, byte[] Msg)> Wire = new();
    public readonly List<(uint Client, byte[] Msg)> ClientInbox = new();
    public Func<uint, uint, bool> Drop = (_, _) => false;
    public readonly HashSet<uint> Crashed = new();
    public const uint FirstClient = 1000;

    public LoopbackCell(int f = 1, int batch = 8, int k = 4, int window = 8, int commitQuorum = 0)
    {
        F = f; N = 3 * f + 1;
        var master = new byte[32]; for (int i = 0; i < 32; i++) master[i] = (byte)(i * 7 + 1);
        Keys = new KeyStore(master, N, FirstClient);
        Replicas = new PbftReplica[N]; Verifiers = new MessageVerifier[N]; Services = new CounterService[N];
        var settings = new PbftSettings { N = N, F = f, BatchSize = batch, CheckpointInterval = k, Window = window, MaxInflightBatches = 2, RetransmitTicks = 2, CommitQuorum = commitQuorum > 0 ? commitQuorum : 2 * f + 1, CheckpointQuorum = 2 * f + 1 };
        for (uint i = 0; i < N; i++)
        {
            Services[i] = new CounterService();
            Replicas[i] = new PbftReplica(settings, new Authenticator(i, Keys), Services[i], new Output(this, i));
            Verifiers[i] = new MessageVerifier(new Authenticator(i, Keys), N, FirstClient, 1 << 22, 1 << 16, batch);
        }
    }

    private sealed class Output(LoopbackCell cell, uint self) : IReplicaOutput
    {
        public void SendToReplica(uint replica, ReadOnlySpan<byte> message) => cell.Wire.Enqueue((self, replica, message.ToArray()));
        public void SendToClient(uint client, ReadOnlySpan<byte> message) => cell.Wire.Enqueue((self, client, message.ToArray()));
    }

    public byte[] BuildRequest(uint client, ulong rid, long value)
    {
        var b = new MessageBuilder(new Authenticator(client, Keys), N);
        var body = b.BeginVector(MessageType.Request, 0, rid, 8);
        BitConverter.TryWriteBytes(body, value);
        return b.SealVector().ToArray();
    }

    public void Submit(uint to, byte[] request) => Wire.Enqueue((uint.MaxValue, to, request));

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
            if (from != uint.MaxValue && Crashed.Contains(from)) continue;
            if (Drop(from, to)) continue;
            if (to >= N) { ClientInbox.Add((to, msg)); continue; }
            if (Crashed.Contains(to)) continue;
            if (Verifiers[to].Verify(msg, out var h) == ParseStatus.Ok)
                Replicas[to].OnMessage(h, msg, Verifiers[to].LastRequestDigest, Verifiers[to].LastRequestsAuthenticated);
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

    /// <summary>Replies verified by the client, grouped: (client, rid) → list of (replica, form, payload).</summary>
    public List<(uint Replica, byte Form, byte[] Payload, ulong Rid)> RepliesFor(uint client)
    {
        var v = new MessageVerifier(new Authenticator(client, Keys), N, FirstClient, 1 << 22, 1 << 16, 8);
        var list = new List<(uint, byte, byte[], ulong)>();
        foreach (var (c, msg) in ClientInbox)
        {
            if (c != client) continue;
            if (v.Verify(msg, out var h) != ParseStatus.Ok) continue;
            var body = MessageHeader.Body(msg, h);
            list.Add((h.Sender, body[4], body.Slice(Bodies.ReplyFixed).ToArray(), h.Sequence));
        }
        return list;
    }
}
