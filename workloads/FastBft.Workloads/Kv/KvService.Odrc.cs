using System.Buffers;
using FastBft.Service;

namespace FastBft.Workloads.Kv;

/// <summary>
/// The KV service's ODRC contract (docs/odrc.md §1; Thesis Fig. 6.2): a state object is one key. Object state =
/// presence[1] (0 absent, 1 present) ‖ value (the rest). Write knowledge (Thesis §6.6.1.2): SET, INCRBY, DEL, MSET and
/// CAS write their keys; GET, EXISTS and MGET write nothing; SET and MSET are write-only overwrites of their keys (the
/// key's value afterwards and the reply "OK" do not depend on the value before; docs/odrc.md §3a). Locality group (Thesis §6.7.1): the key up to its last ':'
/// (so "user:42:name" and "user:42:mail" are maintained together); a key without ':' is its own group.
/// </summary>
public sealed partial class KvService : IObjectStateService, FastBft.Execution.Odrc.IInPlaceRequestAnalyzer, FastBft.Execution.Odrc.IInPlaceWriteAnalyzer
{
    /// <summary>
    /// Write knowledge without allocation (docs/odrc.md §3a): GET, EXISTS, MGET read their keys; a well-formed SET or MSET
    /// overwrites them (<see cref="FastBft.Execution.Odrc.ObjectAccess.Overwrite"/>: the value afterwards and the reply "OK"
    /// do not depend on the value before); INCRBY, DEL and CAS read and write (their replies depend on the value before).
    /// False for a malformed operation. Every id of one operation gets the same kind.
    /// </summary>
    public bool AnalyzeAccess(ReadOnlySpan<byte> operation, Span<FastBft.Execution.Odrc.ObjectAccess> kinds)
    {
        if (operation.IsEmpty) return false;
        FastBft.Execution.Odrc.ObjectAccess kind;
        switch ((KvOpCode)operation[0])
        {
            case KvOpCode.Get or KvOpCode.Exists or KvOpCode.MGet: kind = FastBft.Execution.Odrc.ObjectAccess.Read; break;
            case KvOpCode.Set or KvOpCode.MSet:
                if (!IsWellFormed(operation)) return false;          // a malformed SET is answered with an error and writes nothing
                kind = FastBft.Execution.Odrc.ObjectAccess.Overwrite;
                break;
            case KvOpCode.IncrBy or KvOpCode.Del or KvOpCode.Cas: kind = FastBft.Execution.Odrc.ObjectAccess.ReadWrite; break;
            default: return false;
        }
        kinds.Fill(kind);
        return true;
    }

    /// <summary>
    /// The keys of <paramref name="operation"/> into a reused buffer (the allocation-free form of
    /// <see cref="AnalyzeRequest(ReadOnlySpan{byte}, List{byte[]})"/>, same rules as <see cref="KvCodec.TryGetKeys"/>).
    /// </summary>
    public bool AnalyzeRequest(ReadOnlySpan<byte> operation, FastBft.Execution.Odrc.ObjectIdBuffer objects)
    {
        int before = objects.Count;
        if (AnalyzeInPlace(operation, objects)) return true;
        objects.Truncate(before);
        return false;
    }

    private static bool AnalyzeInPlace(ReadOnlySpan<byte> operation, FastBft.Execution.Odrc.ObjectIdBuffer keys)
    {
        var r = new KvCodec.Reader(operation);
        if (!r.ReadByte(out byte op)) return false;
        ReadOnlySpan<byte> k;
        int n;
        switch ((KvOpCode)op)
        {
            case KvOpCode.Get:
                if (!r.ReadBytes(out k)) return false;
                keys.Add(k);
                break;
            case KvOpCode.Set:
                if (!r.ReadBytes(out k) || !r.ReadBytes(out _)) return false;
                keys.Add(k);
                break;
            case KvOpCode.IncrBy:
                if (!r.ReadBytes(out k) || !r.ReadVarint64(out _)) return false;
                keys.Add(k);
                break;
            case KvOpCode.Del or KvOpCode.Exists or KvOpCode.MGet:
                if (!r.ReadCount(out n)) return false;
                for (int i = 0; i < n; i++) { if (!r.ReadBytes(out k)) return false; keys.Add(k); }
                break;
            case KvOpCode.MSet:
                if (!r.ReadCount(out n)) return false;
                for (int i = 0; i < n; i++) { if (!r.ReadBytes(out k) || !r.ReadBytes(out _)) return false; keys.Add(k); }
                break;
            case KvOpCode.Cas:
                if (!r.ReadBytes(out k) || !r.ReadOptional(out _, out _) || !r.ReadOptional(out _, out _)) return false;
                keys.Add(k);
                break;
            default:
                return false;
        }
        return r.AtEnd;
    }

    /// <inheritdoc/>
    public void GetObjectState(ReadOnlySpan<byte> objectId, IBufferWriter<byte> state)
    {
        var value = _store.Get(objectId);
        if (value is null) { state.GetSpan(1)[0] = 0; state.Advance(1); return; }
        var dst = state.GetSpan(1 + value.Length);
        dst[0] = 1;
        value.CopyTo(dst.Slice(1));
        state.Advance(1 + value.Length);
    }

    /// <inheritdoc/>
    public void SetObjectState(ReadOnlySpan<byte> objectId, ReadOnlySpan<byte> state)
    {
        if (state.Length < 1 || state[0] > 1 || (state[0] == 0 && state.Length != 1)) throw new InvalidDataException("malformed KV object state");
        if (state[0] == 0) StoreDelete(objectId);          // through the partition digests (docs/state-transfer.md §4)
        else StorePut(objectId, state.Slice(1));
    }

    /// <inheritdoc/>
    public bool AnalyzeWrites(ReadOnlySpan<byte> operation, List<byte[]> written)
    {
        if (operation.IsEmpty) return false;
        switch ((KvOpCode)operation[0])
        {
            case KvOpCode.Get or KvOpCode.Exists or KvOpCode.MGet: return true;
            default: return KvCodec.TryGetKeys(operation, written);
        }
    }

    /// <inheritdoc/>
    public ReadOnlySpan<byte> LocalityGroup(ReadOnlySpan<byte> objectId)
    {
        int i = objectId.LastIndexOf((byte)':');
        return i <= 0 ? objectId : objectId.Slice(0, i);
    }
}
