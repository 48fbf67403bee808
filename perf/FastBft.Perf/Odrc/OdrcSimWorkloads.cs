using System.Buffers;
using System.Text;
using FastBft.Simulation;
using FastBft.Simulation.Odrc;
using FastBft.Workloads.Coord;
using FastBft.Workloads.Kv;

namespace FastBft.Perf.Odrc;

/// <summary>KV operations for the ODRC simulator (docs/odrc.md §6): keys "g{i/3}:k{i}" (three objects per locality group); cross-border chains are MSETs of neighbours (k, k+1).</summary>
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

/// <summary>
/// Coordination-service operations for the ODRC simulator: top-level nodes "/a{i}" and their children "/a{i}/n{j}";
/// creates and deletes touch node and parent (cross-border under round-robin), sequential creates touch the parent only.
/// </summary>
public sealed class CoordSimWorkload : IOdrcSimWorkload
{
    public static readonly CoordSimWorkload Instance = new();

    public byte[] Next(SimRandom rnd, OdrcWorkloadKind kind, int objects)
    {
        int groups = Math.Max(2, objects / 3);
        string top = $"/a{rnd.Int(groups)}";
        string child = $"{top}/n{rnd.Int(4)}";
        byte[] data = Encoding.ASCII.GetBytes($"d{rnd.Int(100)}");
        int roll = rnd.Int(100);
        int structural = kind switch { OdrcWorkloadKind.SingleObject => 10, OdrcWorkloadKind.CrossBorderChains => 60, _ => 30 };
        if (roll < structural)
        {
            return rnd.Int(5) switch
            {
                0 => CoordCodec.Create(top, data),
                1 => CoordCodec.Create(child, data),
                2 => CoordCodec.Delete(child, rnd.Int(3) == 0 ? rnd.Int(3) : -1),
                3 => CoordCodec.Create($"{top}/q", data, sequential: true),
                _ => CoordCodec.Delete(top),
            };
        }
        return rnd.Int(5) switch
        {
            0 => CoordCodec.SetData(rnd.Int(2) == 0 ? top : child, data, rnd.Int(3) == 0 ? rnd.Int(3) : -1),
            1 => CoordCodec.GetData(rnd.Int(2) == 0 ? top : child),
            2 => CoordCodec.Exists(child),
            3 => CoordCodec.GetChildren(top),
            _ => CoordCodec.SetData(child, data),
        };
    }
}
