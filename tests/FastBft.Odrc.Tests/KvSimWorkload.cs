using System.Buffers;
using System.Text;
using FastBft.Simulation;
using FastBft.Simulation.Odrc;
using FastBft.Workloads.Kv;

namespace FastBft.Odrc.Tests;

/// <summary>KV operations for the ODRC simulator: keys "g{i/3}:k{i}" (three objects per locality group).</summary>
public sealed class KvSimWorkload : IOdrcSimWorkload
{
    public static readonly KvSimWorkload Instance = new();

    public static byte[] Key(int i) => Encoding.ASCII.GetBytes($"g{i / 3}:k{i}");

    public byte[] Next(SimRandom rnd, OdrcWorkloadKind kind, int objects)
    {
        var w = new ArrayBufferWriter<byte>();
        int a = rnd.Int(objects);
        int roll = rnd.Int(100);
        byte[] value = Encoding.ASCII.GetBytes($"v{rnd.Int(1000)}");
        bool multi = kind switch { OdrcWorkloadKind.SingleObject => false, OdrcWorkloadKind.CrossBorderChains => roll < 75, _ => roll < 30 };
        if (!multi)
        {
            switch (rnd.Int(3))
            {
                case 0: KvCodec.Get(w, Key(a)); break;
                case 1: KvCodec.Set(w, Key(a), value); break;
                default: KvCodec.IncrBy(w, Key(1000 + a % 4), 1); break;
            }
            return w.WrittenSpan.ToArray();
        }
        if (kind == OdrcWorkloadKind.CrossBorderChains)
        {
            int b = (a + 1) % objects;
            KvCodec.MSet(w, [(Key(a), value), (Key(b), value)]);
            return w.WrittenSpan.ToArray();
        }
        int c = rnd.Int(objects), d = rnd.Int(objects);
        if (rnd.Int(2) == 0) KvCodec.MultiKey(w, KvOpCode.MGet, [Key(a), Key(c), Key(d)]);
        else KvCodec.MSet(w, [(Key(a), value), (Key(c), value)]);
        return w.WrittenSpan.ToArray();
    }
}
