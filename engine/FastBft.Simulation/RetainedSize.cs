using System.Collections.Concurrent;
using System.Reflection;
using FastBft.Auth;
using FastBft.Agreement;
using FastBft.Service;

namespace FastBft.Simulation;

/// <summary>
/// Estimates the memory a protocol core retains by walking its object graph (the resource oracle,
/// issue 8 R1–R3): arrays count their payload, objects a header plus 8 bytes per field. The service,
/// the output and the authenticator are not the core's and are not walked. Deterministic: the same
/// object graph gives the same estimate.
/// </summary>
public static class RetainedSize
{
    private static readonly ConcurrentDictionary<Type, FieldInfo[]> Fields = new();

    /// <summary>Estimated bytes reachable from <paramref name="root"/>; stops counting once above <paramref name="cap"/>.</summary>
    public static long Estimate(object root, long cap)
    {
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<object>();
        stack.Push(root);
        seen.Add(root);
        long total = 0;
        while (stack.Count > 0 && total <= cap)
        {
            var o = stack.Pop();
            var t = o.GetType();
            if (o is string s) { total += 20 + 2L * s.Length; continue; }
            if (o is Array a)
            {
                var et = t.GetElementType()!;
                if (et.IsPrimitive || et.IsEnum) { total += 24 + Buffer.ByteLength(a); continue; }
                total += 24 + 8L * a.Length;
                foreach (var e in a) if (e is not null) Visit(e, et.IsValueType, seen, stack, ref total);
                continue;
            }
            total += 24;
            foreach (var f in FieldsOf(t))
            {
                total += 8;
                var v = f.GetValue(o);
                if (v is not null) Visit(v, f.FieldType.IsValueType, seen, stack, ref total);
            }
        }
        return total;
    }

    private static void Visit(object v, bool inline, HashSet<object> seen, Stack<object> stack, ref long total)
    {
        if (v is IReplicatedService or IReplicaOutput or Authenticator or Type or Delegate or Pointer) return;
        var t = v.GetType();
        if (t.IsPrimitive || t.IsEnum) return;
        if (inline)
        {
            // A struct stored inline (e.g. a dictionary entry): walk its reference fields.
            foreach (var f in FieldsOf(t))
            {
                var x = f.GetValue(v);
                if (x is not null && !f.FieldType.IsPrimitive) Visit(x, f.FieldType.IsValueType, seen, stack, ref total);
            }
            return;
        }
        if (seen.Add(v)) stack.Push(v);
    }

    private static FieldInfo[] FieldsOf(Type t) => Fields.GetOrAdd(t, static t =>
    {
        var list = new List<FieldInfo>();
        for (var x = t; x is not null && x != typeof(object); x = x.BaseType)
            list.AddRange(x.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly));
        return list.ToArray();
    });
}
