using System.Buffers.Binary;

namespace FastBft.Transport.Tests;

public class FuzzTests(ITestOutputHelper output)
{
    private sealed class CheckingHandler(int maxMessage) : IMessageHandler
    {
        public long Count;
        public void OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message)
        {
            if (message.Length < 1 || message.Length > maxMessage) throw new InvalidOperationException($"delivered length {message.Length}");
            Count++;
        }
    }

    [Fact]
    public void Mutated_frames_never_throw_and_are_counted()
    {
        int seed = Environment.GetEnvironmentVariable("FASTBFT_FUZZ_SEED") is { } s ? int.Parse(s) : Environment.TickCount;
        output.WriteLine($"seed {seed} (rerun with FASTBFT_FUZZ_SEED={seed})");
        try
        {
            Run(seed, 100_000);
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"fuzz failed with seed {seed} (rerun with FASTBFT_FUZZ_SEED={seed}): {e}");
        }
    }

    private static void Run(int seed, int iterations)
    {
        const int maxMessage = 20_000;
        var rng = new Random(seed);
        var clock = new FakeClock();
        var link = new FakeLink(1000);
        using var t = new DatagramTransport(link, new DatagramTransportOptions
        {
            MaxMessageSize = maxMessage,
            MaxReassemblyBytes = 100_000,
            MaxReassemblies = 16,
            MaxReassembliesPerSource = 4,
            MaxLearnedNodes = 64,
            ReassemblyTimeoutMs = 100,
            ClockMs = clock.Now,
        });
        var handler = new CheckingHandler(maxMessage);

        // Valid seed frames: bundles and the fragments of a few messages.
        var seeds = new List<byte[]>();
        var tx = new FakeLink(1000);
        using (var sender = new DatagramTransport(tx, new DatagramTransportOptions { MaxMessageSize = maxMessage, StaticPeers = new Dictionary<uint, int> { [0] = 1, [1] = 2 } }))
        {
            for (int i = 0; i < 20; i++)
            {
                int entries = rng.Next(1, 6);
                for (int e = 0; e < entries; e++) sender.Send((uint)rng.Next(2), (uint)(1000 + rng.Next(100)), new byte[rng.Next(1, 150)]);
                sender.Flush();
            }
            for (int i = 0; i < 10; i++) { sender.Send(0, 1000, new byte[rng.Next(1000, maxMessage + 1)]); sender.Flush(); }
        }
        foreach (var (_, d) in tx.Sent) seeds.Add(d);

        var buf = new byte[2000]; // seeds ≤ 1000 B plus at most 3 extensions of < 40 B
        for (int i = 0; i < iterations; i++)
        {
            byte[] src = seeds[rng.Next(seeds.Count)];
            int len = src.Length;
            src.CopyTo(buf, 0);
            int mutations = rng.Next(0, 4);
            for (int m = 0; m < mutations; m++)
            {
                switch (rng.Next(7))
                {
                    case 0: buf[rng.Next(len)] ^= (byte)(1 << rng.Next(8)); break;          // bit flip
                    case 1: len = rng.Next(0, len + 1); break;                               // truncate
                    case 2: { int add = rng.Next(1, 40); rng.NextBytes(buf.AsSpan(len, add)); len += add; break; } // extend
                    case 3: if (len >= 4) BinaryPrimitives.WriteInt32LittleEndian(buf.AsSpan(rng.Next(len - 3)), Interesting(rng)); break;
                    case 4: if (len >= 2) BinaryPrimitives.WriteUInt16LittleEndian(buf.AsSpan(rng.Next(len - 1)), (ushort)Interesting(rng)); break;
                    case 5: buf[rng.Next(len > 0 ? len : 1)] = (byte)rng.Next(256); break;
                    default: clock.Ms += rng.Next(0, 60); break;                              // time passes
                }
                if (len == 0) break;
            }
            t.ProcessDatagram(rng.Next(4), buf.AsSpan(0, len), handler);
            if (t.PartialMessageBytes > 100_000 || t.PartialMessageCount > 16) throw new InvalidOperationException("reassembly bound exceeded");
        }
        if (t.Stats.MalformedDropped == 0) throw new InvalidOperationException("no frame counted as malformed");
        if (t.Stats.MessagesReceived == 0 || handler.Count != t.Stats.MessagesReceived) throw new InvalidOperationException("delivery counters inconsistent");
        if (t.LearnedNodeCount > 64) throw new InvalidOperationException("learned table bound exceeded");
    }

    private static int Interesting(Random rng) => rng.Next(10) switch
    {
        0 => 0,
        1 => -1,
        2 => int.MaxValue,
        3 => int.MinValue,
        4 => 1,
        5 => 20_000,
        6 => 20_001,
        7 => 65_535,
        8 => 968,
        _ => rng.Next(),
    };
}
