// TEMPORARY stand-in until the auth branch lands (same public API). Replaced on merge.
using System.Security.Cryptography;
namespace FastBft.Auth;
public enum MacAlgorithm { Default, HmacSha256 }
public sealed class KeyStore
{
    private readonly byte[] _master; public int ReplicaCount { get; }
    public KeyStore(ReadOnlySpan<byte> masterSecret, int replicaCount) { _master = masterSecret.ToArray(); ReplicaCount = replicaCount; }
    internal byte[] Key(uint from, uint to)
    {
        bool fromClient = from >= ReplicaCount, toClient = to >= ReplicaCount;
        string label = fromClient ? $"c{from}-{to}" : toClient ? $"c{to}-{from}" : $"r{from}-{to}";
        return HKDF.DeriveKey(HashAlgorithmName.SHA256, _master, 32, null, System.Text.Encoding.ASCII.GetBytes(label));
    }
}
public sealed class Authenticator
{
    public const int TagSize = 16; public const int SingleLength = 2 + TagSize;
    public static int VectorLength(int replicaCount) => 2 + TagSize * replicaCount;
    private readonly KeyStore _keys; private readonly Dictionary<(uint, uint), HMACSHA256> _macs = new();
    public Authenticator(uint selfId, KeyStore keys, MacAlgorithm algorithm = MacAlgorithm.Default) { SelfId = selfId; _keys = keys; }
    public uint SelfId { get; }
    private HMACSHA256 Mac(uint from, uint to) { if (!_macs.TryGetValue((from, to), out var m)) _macs[(from, to)] = m = new HMACSHA256(_keys.Key(from, to)); return m; }
    private void Tag(uint from, uint to, ReadOnlySpan<byte> h, ReadOnlySpan<byte> d, Span<byte> tag)
    { Span<byte> input = stackalloc byte[64]; h.Slice(0, 32).CopyTo(input); d.Slice(0, 32).CopyTo(input.Slice(32)); Span<byte> o = stackalloc byte[32]; Mac(from, to).TryComputeHash(input, o, out _); o.Slice(0, TagSize).CopyTo(tag); }
    public void WriteVector(ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, Span<byte> trailer)
    { int n = _keys.ReplicaCount; trailer[0] = 1; trailer[1] = (byte)n; for (uint i = 0; i < n; i++) { var t = trailer.Slice(2 + (int)i * TagSize, TagSize); if (i == SelfId) t.Clear(); else Tag(SelfId, i, header32, authDigest32, t); } }
    public void WriteSingle(uint receiver, ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, Span<byte> trailer)
    { trailer[0] = 2; trailer[1] = 1; Tag(SelfId, receiver, header32, authDigest32, trailer.Slice(2, TagSize)); }
    public bool VerifyVector(uint sender, ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, ReadOnlySpan<byte> trailer)
    { int n = _keys.ReplicaCount; if (trailer.Length != VectorLength(n) || trailer[0] != 1 || trailer[1] != n || SelfId >= n || sender == SelfId) return false; Span<byte> t = stackalloc byte[TagSize]; Tag(sender, SelfId, header32, authDigest32, t); return CryptographicOperations.FixedTimeEquals(t, trailer.Slice(2 + (int)SelfId * TagSize, TagSize)); }
    public bool VerifySingle(uint sender, ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, ReadOnlySpan<byte> trailer)
    { if (trailer.Length != SingleLength || trailer[0] != 2 || trailer[1] != 1 || sender == SelfId) return false; Span<byte> t = stackalloc byte[TagSize]; Tag(sender, SelfId, header32, authDigest32, t); return CryptographicOperations.FixedTimeEquals(t, trailer.Slice(2, TagSize)); }
}
