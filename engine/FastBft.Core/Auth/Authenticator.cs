using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace FastBft.Auth;

/// <summary>Kind byte of an authenticator trailer (docs/wire-format.md §2.2).</summary>
public enum AuthenticatorKind : byte
{
    /// <summary>Replica vector: n entries, entry i is the MAC for replica i (the sending replica's own entry is zero).</summary>
    ReplicaVector = 1,
    /// <summary>Single MAC for the one addressed node.</summary>
    SingleMac = 2,
    /// <summary>Ed25519 signature of the sending replica (<see cref="Ed25519Scheme"/>): count 1, one 64-byte signature; convinces third parties.</summary>
    Ed25519Signature = 3,
    /// <summary>USIG certificate (<see cref="UsigCertificateScheme"/>): count 1, one 48-byte unique identifier (epoch, counter, proof).</summary>
    UsigCertificate = 4,
}

/// <summary>
/// Writes and checks MAC authenticators (PBFT-PR §4.1; trailer format docs/wire-format.md §2.2) for
/// one local node id. The MAC input is always <c>header[40] ‖ authDigest[32]</c> (72 bytes; header v2,
/// PROTOCOLS.md G2); a tag is the first <see cref="TagSize"/> bytes of the primitive's output under
/// the key shared with the peer (<see cref="KeyStore.TryGetKey"/>).
/// <para>
/// Trailer = <c>kind[1] ‖ count[1] ‖ tag[16] × count</c>. A replica vector (kind 1) has n entries,
/// entry i for replica i; a single MAC (kind 2) has one.
/// </para>
/// <para>
/// <b>Not thread-safe</b>: one instance per thread (the parallel authentication stage gives each
/// worker its own instance over a shared <see cref="KeyStore"/>). Per-peer MAC state is created
/// on first contact with a peer (one allocation per peer and direction) and reused; after that,
/// every Write/Verify call allocates nothing and takes no lock.
/// </para>
/// Verification never throws on bad input: it returns false. Replay is not detected here: the
/// protocol rejects stale views, sequence numbers and request ids.
/// </summary>
public sealed class Authenticator : IDisposable
{
    /// <summary>Bytes per MAC entry (tag).</summary>
    public const int TagSize = 16;
    /// <summary>Bytes of the kind and count fields that start every trailer.</summary>
    public const int TrailerHeaderSize = 2;
    /// <summary>Trailer bytes of a single MAC (kind 2): 2 + 16 = 18.</summary>
    public const int SingleLength = TrailerHeaderSize + TagSize;
    /// <summary>Bytes of the message header covered by the MAC.</summary>
    public const int HeaderSize = FastBft.Wire.MessageHeader.Size;
    /// <summary>Bytes of the authDigest covered by the MAC (SHA-256 of the body, or the batch digest).</summary>
    public const int DigestSize = 32;

    private readonly KeyStore _keys;
    private readonly MacAlgorithm _algorithm;
    private readonly int _n;
    private readonly bool _selfIsReplica;
    private readonly MacFunction?[] _toReplica;   // [i]: key self→i (replica self) or k(self,i) (client self)
    private readonly MacFunction?[] _fromReplica; // [i]: key i→self (replica self); same objects as _toReplica for a client self
    private readonly Dictionary<uint, MacFunction> _clients = new(); // replica self: k(c,self), both directions
    private bool _disposed;

    /// <summary>Trailer bytes of a replica vector for <paramref name="replicaCount"/> replicas: 2 + 16·n.</summary>
    /// <exception cref="ArgumentOutOfRangeException">n outside 1..<see cref="KeyStore.MaxReplicas"/>.</exception>
    public static int VectorLength(int replicaCount)
    {
        if (replicaCount < 1 || replicaCount > KeyStore.MaxReplicas)
            throw new ArgumentOutOfRangeException(nameof(replicaCount), replicaCount, $"replica count must be 1..{KeyStore.MaxReplicas}");
        return TrailerHeaderSize + TagSize * replicaCount;
    }

    /// <summary>Creates the authenticator of node <paramref name="selfId"/>.</summary>
    /// <param name="selfId">This node's id: a replica id (&lt; n) or a client id (≥ n).</param>
    /// <param name="keys">The cell's keys; shared, not copied.</param>
    /// <param name="algorithm">MAC primitive; every node of the cell must use the same one.</param>
    /// <exception cref="ArgumentNullException"><paramref name="keys"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Unknown <paramref name="algorithm"/>.</exception>
    /// <exception cref="PlatformNotSupportedException">The primitive needs libsodium (Debian <c>libsodium23</c>) and it cannot be loaded.</exception>
    public Authenticator(uint selfId, KeyStore keys, MacAlgorithm algorithm = MacAlgorithm.Default)
    {
        ArgumentNullException.ThrowIfNull(keys);
        _algorithm = MacFunction.Resolve(algorithm);
        MacFunction.EnsureSupported(_algorithm);
        SelfId = selfId;
        _keys = keys;
        _n = keys.ReplicaCount;
        _selfIsReplica = keys.IsReplica(selfId);
        _toReplica = new MacFunction?[_n];
        _fromReplica = _selfIsReplica ? new MacFunction?[_n] : _toReplica;
    }

    /// <summary>This node's id.</summary>
    public uint SelfId { get; }

    /// <summary>The concrete primitive in use (<see cref="MacAlgorithm.Default"/> resolved).</summary>
    public MacAlgorithm Algorithm => _algorithm;

    /// <summary>The replica count n of the key store.</summary>
    public int ReplicaCount => _n;

    /// <summary>The cell's replica signature keys (Ed25519; VIEW-CHANGE and NEW-VIEW).</summary>
    public ReplicaSignatures Signatures => _keys.Signatures;

    /// <summary>
    /// Writes a replica-vector trailer (kind 1, PBFT-PR §4.1 authenticator) into the first
    /// <see cref="VectorLength"/>(n) bytes of <paramref name="trailer"/>: entry i is the MAC under
    /// k(self→i) (k(self,i) for a client self); a replica's own entry is 16 zero bytes.
    /// </summary>
    /// <param name="header32">The 40-byte message header (with authLength already set).</param>
    /// <param name="authDigest32">The 32-byte authDigest (docs/wire-format.md §2.2).</param>
    /// <param name="trailer">Destination, at least 2 + 16·n bytes.</param>
    /// <exception cref="ArgumentException">Wrong input sizes or a short destination.</exception>
    /// <exception cref="KeyNotFoundException">The key store has no key for some replica (explicit keys only).</exception>
    /// <exception cref="ObjectDisposedException">The authenticator was disposed.</exception>
    public void WriteVector(ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, Span<byte> trailer)
    {
        int length = TrailerHeaderSize + TagSize * _n;
        if (trailer.Length < length) ThrowShortTrailer(length);
        Span<byte> input = stackalloc byte[MacFunction.InputSize];
        BuildInput(header32, authDigest32, input);
        trailer[0] = (byte)AuthenticatorKind.ReplicaVector;
        trailer[1] = (byte)_n;
        for (int i = 0; i < _n; i++)
        {
            Span<byte> entry = trailer.Slice(TrailerHeaderSize + i * TagSize, TagSize);
            if (_selfIsReplica && (uint)i == SelfId)
                entry.Clear();
            else
                (SendMac((uint)i) ?? ThrowNoKey((uint)i)).Compute(input, entry);
        }
    }

    /// <summary>
    /// Writes a single-MAC trailer (kind 2) for <paramref name="receiver"/> into the first
    /// <see cref="SingleLength"/> (18) bytes of <paramref name="trailer"/>.
    /// </summary>
    /// <param name="receiver">The addressed node (e.g. the client of a REPLY).</param>
    /// <param name="header32">The 40-byte message header.</param>
    /// <param name="authDigest32">The 32-byte authDigest.</param>
    /// <param name="trailer">Destination, at least 18 bytes.</param>
    /// <exception cref="ArgumentException">Wrong input sizes or a short destination.</exception>
    /// <exception cref="KeyNotFoundException">No key is shared with <paramref name="receiver"/> (itself, client to client, unknown client, missing explicit key).</exception>
    /// <exception cref="ObjectDisposedException">The authenticator was disposed.</exception>
    public void WriteSingle(uint receiver, ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, Span<byte> trailer)
    {
        if (trailer.Length < SingleLength) ThrowShortTrailer(SingleLength);
        Span<byte> input = stackalloc byte[MacFunction.InputSize];
        BuildInput(header32, authDigest32, input);
        MacFunction mac = SendMac(receiver) ?? ThrowNoKey(receiver);
        trailer[0] = (byte)AuthenticatorKind.SingleMac;
        trailer[1] = 1;
        mac.Compute(input, trailer.Slice(TrailerHeaderSize, TagSize));
    }

    /// <summary>
    /// Checks a replica-vector trailer from <paramref name="sender"/>: kind 1, count n, length exactly
    /// 2 + 16·n, the sending replica's own entry zero, and entry[<see cref="SelfId"/>] equal (constant
    /// time) to the MAC under the key shared with the sender. A replica verifying a client REQUEST
    /// embedded in a PRE-PREPARE calls this with sender = the client id.
    /// Never throws; allocates nothing once the sender's state exists.
    /// </summary>
    /// <returns>True to accept; false to reject (also for wrong sizes, a client self, an unknown sender or a disposed instance).</returns>
    public bool VerifyVector(uint sender, ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, ReadOnlySpan<byte> trailer)
    {
        if (_disposed || !_selfIsReplica || sender == SelfId) return false;
        if (header32.Length != HeaderSize || authDigest32.Length != DigestSize) return false;
        if (trailer.Length != TrailerHeaderSize + TagSize * _n) return false;
        if (trailer[0] != (byte)AuthenticatorKind.ReplicaVector || trailer[1] != (byte)_n) return false;
        if (sender < (uint)_n && trailer.Slice(TrailerHeaderSize + (int)sender * TagSize, TagSize).IndexOfAnyExcept((byte)0) >= 0)
            return false;
        MacFunction? mac = ReceiveMac(sender);
        if (mac is null) return false;
        return Check(mac, header32, authDigest32, trailer.Slice(TrailerHeaderSize + (int)SelfId * TagSize, TagSize));
    }

    /// <summary>
    /// Checks a single-MAC trailer from <paramref name="sender"/>: kind 2, count 1, length exactly 18,
    /// and the tag equal (constant time) to the MAC under the key shared with the sender.
    /// Never throws; allocates nothing once the sender's state exists.
    /// </summary>
    /// <returns>True to accept; false to reject.</returns>
    public bool VerifySingle(uint sender, ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, ReadOnlySpan<byte> trailer)
    {
        if (_disposed || sender == SelfId) return false;
        if (header32.Length != HeaderSize || authDigest32.Length != DigestSize) return false;
        if (trailer.Length != SingleLength) return false;
        if (trailer[0] != (byte)AuthenticatorKind.SingleMac || trailer[1] != 1) return false;
        MacFunction? mac = ReceiveMac(sender);
        if (mac is null) return false;
        return Check(mac, header32, authDigest32, trailer.Slice(TrailerHeaderSize, TagSize));
    }

    /// <summary>Releases every per-peer MAC state (native contexts, key copies). Later calls: Write throws, Verify returns false.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        for (int i = 0; i < _n; i++)
        {
            _toReplica[i]?.Dispose();
            if (!ReferenceEquals(_fromReplica, _toReplica)) _fromReplica[i]?.Dispose();
        }
        foreach (MacFunction mac in _clients.Values) mac.Dispose();
        _clients.Clear();
    }

    private static bool Check(MacFunction mac, ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, ReadOnlySpan<byte> entry)
    {
        Span<byte> input = stackalloc byte[MacFunction.InputSize];
        header32.CopyTo(input);
        authDigest32.CopyTo(input.Slice(HeaderSize));
        Span<byte> expected = stackalloc byte[TagSize];
        mac.Compute(input, expected);
        return CryptographicOperations.FixedTimeEquals(expected, entry);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void BuildInput(ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, Span<byte> input)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (header32.Length != HeaderSize) ThrowSize(nameof(header32), HeaderSize);
        if (authDigest32.Length != DigestSize) ThrowSize(nameof(authDigest32), DigestSize);
        header32.CopyTo(input);
        authDigest32.CopyTo(input.Slice(HeaderSize));
    }

    /// <summary>MAC state for messages from self to <paramref name="peer"/>; null when no key exists.</summary>
    private MacFunction? SendMac(uint peer)
    {
        if (peer < (uint)_n)
            return _toReplica[peer] ?? CreateReplicaMac(_toReplica, peer, SelfId, peer);
        return _selfIsReplica ? ClientMac(peer) : null;
    }

    /// <summary>MAC state for messages from <paramref name="peer"/> to self; null when no key exists.</summary>
    private MacFunction? ReceiveMac(uint peer)
    {
        if (peer < (uint)_n)
            return _fromReplica[peer] ?? CreateReplicaMac(_fromReplica, peer, peer, SelfId);
        return _selfIsReplica ? ClientMac(peer) : null;
    }

    private MacFunction? ClientMac(uint client)
    {
        if (_clients.TryGetValue(client, out MacFunction? mac)) return mac;
        mac = CreateMac(client, SelfId);
        if (mac is not null) _clients.Add(client, mac);
        return mac;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private MacFunction? CreateReplicaMac(MacFunction?[] table, uint index, uint from, uint to)
    {
        MacFunction? mac = CreateMac(from, to);
        table[index] = mac;
        return mac;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private MacFunction? CreateMac(uint from, uint to)
    {
        if (_disposed) return null;
        Span<byte> key = stackalloc byte[KeyStore.KeySize];
        try
        {
            return _keys.TryGetKey(from, to, key) ? MacFunction.Create(_algorithm, key) : null;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    [DoesNotReturn]
    private static void ThrowShortTrailer(int needed) =>
        throw new ArgumentException($"trailer destination must be at least {needed} bytes", "trailer");

    [DoesNotReturn]
    private static void ThrowSize(string name, int size) =>
        throw new ArgumentException($"{name} must be exactly {size} bytes", name);

    [DoesNotReturn]
    private MacFunction ThrowNoKey(uint peer) =>
        throw new KeyNotFoundException($"node {SelfId} shares no authentication key with node {peer}");
}
