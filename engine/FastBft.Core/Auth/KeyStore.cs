using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;

namespace FastBft.Auth;

/// <summary>
/// The symmetric session keys of one cell (PBFT-PR §4.1): a directional key <c>k(i→j)</c> for every
/// ordered pair of distinct replicas, and one key <c>k(c,r)</c> per client–replica pair, used in both
/// directions. Replica ids are <c>0..n-1</c>; every id ≥ n is a client id.
/// <para>
/// Two sources of keys: (1) <b>derived</b> from a 32-byte master secret with HKDF-SHA-256
/// (RFC 5869; the exact derivation is in docs/authentication.md §2), computed on demand, so any
/// number of pairs costs no memory here; (2) <b>explicit</b> per-pair keys, e.g. loaded from key files,
/// so that each node holds only its own keys. In derived mode every holder of the master secret can
/// compute every key: use it for tests, simulation and single-operator deployments only.
/// </para>
/// Immutable after construction and safe to share between threads and <see cref="Authenticator"/>s.
/// </summary>
public sealed class KeyStore
{
    /// <summary>Size in bytes of every session key.</summary>
    public const int KeySize = 32;
    /// <summary>Size in bytes of the master secret (64 hex digits in the cell configuration).</summary>
    public const int MasterSecretSize = 32;
    /// <summary>Largest replica count: the authenticator trailer's entry count is one byte (docs/wire-format.md §2.2).</summary>
    public const int MaxReplicas = 255;
    /// <summary>Default first client id of a cell (docs/wire-format.md §1).</summary>
    public const uint DefaultFirstClientId = 1000;
    /// <summary>Default number of client ids (from the first client id on) that have derived keys.</summary>
    public const int DefaultClientCount = 4096;

    /// <summary>HKDF-Extract salt (ASCII).</summary>
    internal static ReadOnlySpan<byte> ExtractSalt => "FastBft-v1 session keys"u8;
    /// <summary>HKDF-Expand info prefix for replica-to-replica keys; followed by u32le(i) ‖ u32le(j).</summary>
    internal static ReadOnlySpan<byte> ReplicaLabel => "FastBft-v1 k(i->j)"u8;
    /// <summary>HKDF-Expand info prefix for client–replica keys; followed by u32le(c) ‖ u32le(r).</summary>
    internal static ReadOnlySpan<byte> ClientLabel => "FastBft-v1 k(c,r)"u8;

    private readonly byte[]? _prk;                                // derived mode: HKDF pseudo-random key
    private readonly uint _firstClientId;                        // derived mode
    private readonly uint _clientCount;                          // derived mode
    private readonly Dictionary<ulong, byte[]>? _replicaKeys;    // explicit mode: (from << 32 | to)
    private readonly Dictionary<ulong, byte[]>? _clientKeys;     // explicit mode: (client << 32 | replica)

    /// <summary>
    /// Derives all keys from a master secret with HKDF-SHA-256 (docs/authentication.md §2).
    /// </summary>
    /// <param name="masterSecret">Exactly <see cref="MasterSecretSize"/> (32) bytes of secret, uniformly random.</param>
    /// <param name="replicaCount">n, 1..<see cref="MaxReplicas"/>.</param>
    /// <param name="firstClientId">Lowest client id with a key; must be ≥ n.</param>
    /// <param name="clientCount">Number of consecutive client ids, from <paramref name="firstClientId"/>, that
    /// have keys (≥ 0). Bounds the per-client MAC state a replica can be made to create.</param>
    /// <exception cref="ArgumentException">The secret is not 32 bytes.</exception>
    /// <exception cref="ArgumentOutOfRangeException">n, the first client id or the client count is out of range.</exception>
    public KeyStore(ReadOnlySpan<byte> masterSecret, int replicaCount, uint firstClientId = DefaultFirstClientId, int clientCount = DefaultClientCount)
    {
        if (masterSecret.Length != MasterSecretSize)
            throw new ArgumentException($"master secret must be {MasterSecretSize} bytes, got {masterSecret.Length}", nameof(masterSecret));
        CheckReplicaCount(replicaCount);
        if (firstClientId < (uint)replicaCount)
            throw new ArgumentOutOfRangeException(nameof(firstClientId), firstClientId, "client ids must be >= the replica count n");
        if (clientCount < 0 || (ulong)firstClientId + (ulong)clientCount > (ulong)uint.MaxValue + 1)
            throw new ArgumentOutOfRangeException(nameof(clientCount), clientCount, "client id range must be non-negative and fit in uint");
        ReplicaCount = replicaCount;
        _firstClientId = firstClientId;
        _clientCount = (uint)clientCount;
        _prk = new byte[32];
        HKDF.Extract(HashAlgorithmName.SHA256, masterSecret, ExtractSalt, _prk);
        Signatures = ReplicaSignatures.Derive(_prk, replicaCount);
    }

    /// <summary>
    /// Uses explicit per-pair keys (for example loaded from key files). A node needs only the keys of
    /// the pairs it is part of; a missing key makes <see cref="TryGetKey"/> return false, so
    /// verification of that sender fails and sending to that receiver throws.
    /// </summary>
    /// <param name="replicaCount">n, 1..<see cref="MaxReplicas"/>.</param>
    /// <param name="replicaKeys">k(From→To) for replica pairs: From, To &lt; n, From ≠ To; each key <see cref="KeySize"/> (32) bytes. Copied.</param>
    /// <param name="clientKeys">k(Client, Replica): Client ≥ n, Replica &lt; n; each key 32 bytes. Copied.</param>
    /// <param name="signingSeeds">Ed25519 private seeds (32 bytes) of the replicas this node signs for — normally only its own; null for none (a replica without one cannot take part in a view change).</param>
    /// <param name="signingPublicKeys">Ed25519 public keys (32 bytes) of the replicas; null for none (then VIEW-CHANGE/NEW-VIEW of that replica never verify).</param>
    /// <exception cref="ArgumentNullException">A dictionary or a key is null.</exception>
    /// <exception cref="ArgumentException">A pair has ids out of range or a key is not 32 bytes.</exception>
    /// <exception cref="ArgumentOutOfRangeException">n is out of range.</exception>
    public KeyStore(int replicaCount,
        IReadOnlyDictionary<(uint From, uint To), byte[]> replicaKeys,
        IReadOnlyDictionary<(uint Client, uint Replica), byte[]> clientKeys,
        IReadOnlyDictionary<uint, byte[]>? signingSeeds = null,
        IReadOnlyDictionary<uint, byte[]>? signingPublicKeys = null)
    {
        ArgumentNullException.ThrowIfNull(replicaKeys);
        ArgumentNullException.ThrowIfNull(clientKeys);
        CheckReplicaCount(replicaCount);
        ReplicaCount = replicaCount;
        _replicaKeys = new Dictionary<ulong, byte[]>(replicaKeys.Count);
        foreach (var (pair, key) in replicaKeys)
        {
            if (pair.From >= (uint)replicaCount || pair.To >= (uint)replicaCount || pair.From == pair.To)
                throw new ArgumentException($"replica key ({pair.From}->{pair.To}): both ids must be distinct replicas < {replicaCount}", nameof(replicaKeys));
            _replicaKeys[Pack(pair.From, pair.To)] = CheckedCopy(key, nameof(replicaKeys));
        }
        _clientKeys = new Dictionary<ulong, byte[]>(clientKeys.Count);
        foreach (var (pair, key) in clientKeys)
        {
            if (pair.Client < (uint)replicaCount || pair.Replica >= (uint)replicaCount)
                throw new ArgumentException($"client key ({pair.Client},{pair.Replica}): client id must be >= {replicaCount}, replica id < {replicaCount}", nameof(clientKeys));
            _clientKeys[Pack(pair.Client, pair.Replica)] = CheckedCopy(key, nameof(clientKeys));
        }
        Signatures = ReplicaSignatures.Explicit(replicaCount, signingSeeds, signingPublicKeys);
    }

    /// <summary>The replicas' Ed25519 signing keys (VIEW-CHANGE, NEW-VIEW; docs/authentication.md).</summary>
    public ReplicaSignatures Signatures { get; }

    /// <summary>HKDF-Expand info of the derived USIG trusted key.</summary>
    internal static ReadOnlySpan<byte> UsigLabel => "FastBft-v1 usig trusted key"u8;

    /// <summary>
    /// Derived mode only: the 32-byte trusted key that every <see cref="FastBft.TrustedHw.SoftwareUsig"/> of this cell
    /// shares (HKDF-Expand(PRK, "FastBft-v1 usig trusted key")), for tests, the simulator and single-operator cells whose
    /// software USIGs have no key file. A real trusted key lives only inside the USIG instances (docs/trusted-counter.md);
    /// every holder of the master secret can forge UIs with this one.
    /// </summary>
    /// <param name="key32">receives the key; at least 32 bytes.</param>
    /// <returns>false for an explicit-key store (no master secret), leaving <paramref name="key32"/> untouched.</returns>
    /// <exception cref="ArgumentException"><paramref name="key32"/> shorter than 32 bytes.</exception>
    public bool TryDeriveUsigKey(Span<byte> key32)
    {
        if (key32.Length < KeySize) throw new ArgumentException($"the USIG key destination must be at least {KeySize} bytes", nameof(key32));
        if (_prk is null) return false;
        HKDF.Expand(HashAlgorithmName.SHA256, _prk, key32.Slice(0, KeySize), UsigLabel);
        return true;
    }

    /// <summary>
    /// Derives all keys from a master secret given as 64 hexadecimal digits (the cell configuration's form).
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="masterSecretHex"/> is null.</exception>
    /// <exception cref="ArgumentException">The text is not exactly 64 hex digits.</exception>
    /// <exception cref="ArgumentOutOfRangeException">See the derived-mode constructor.</exception>
    public static KeyStore FromMasterSecretHex(string masterSecretHex, int replicaCount, uint firstClientId = DefaultFirstClientId, int clientCount = DefaultClientCount)
    {
        ArgumentNullException.ThrowIfNull(masterSecretHex);
        if (masterSecretHex.Length != 2 * MasterSecretSize)
            throw new ArgumentException($"master secret must be {2 * MasterSecretSize} hex digits, got {masterSecretHex.Length} characters", nameof(masterSecretHex));
        Span<byte> secret = stackalloc byte[MasterSecretSize];
        try
        {
            for (int i = 0; i < MasterSecretSize; i++)
            {
                if (!byte.TryParse(masterSecretHex.AsSpan(2 * i, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out secret[i]))
                    throw new ArgumentException($"master secret has a non-hex digit near position {2 * i}", nameof(masterSecretHex));
            }
            return new KeyStore(secret, replicaCount, firstClientId, clientCount);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    }

    /// <summary>The number of replicas n; replica ids are 0..n-1.</summary>
    public int ReplicaCount { get; }

    /// <summary>True when keys are derived from a master secret, false when they were given explicitly.</summary>
    public bool IsDerived => _prk is not null;

    /// <summary>True when <paramref name="id"/> is a replica id (&lt; n); every other id is a client id.</summary>
    public bool IsReplica(uint id) => id < (uint)ReplicaCount;

    /// <summary>
    /// Writes the 32-byte key that <paramref name="from"/> uses to authenticate messages to
    /// <paramref name="to"/>: <c>k(from→to)</c> for two replicas, <c>k(c,r)</c> when one of them is a
    /// client (the same in both directions). Never throws on ids; allocates nothing.
    /// </summary>
    /// <param name="from">Sender id.</param>
    /// <param name="to">Receiver id.</param>
    /// <param name="key">Destination, at least <see cref="KeySize"/> (32) bytes.</param>
    /// <returns>False (and <paramref name="key"/> untouched) when no key exists: equal ids, two clients,
    /// a client id outside the configured range, or a pair missing from the explicit keys.</returns>
    /// <exception cref="ArgumentException"><paramref name="key"/> shorter than 32 bytes.</exception>
    public bool TryGetKey(uint from, uint to, Span<byte> key)
    {
        if (key.Length < KeySize)
            throw new ArgumentException($"key destination must be at least {KeySize} bytes", nameof(key));
        bool fromReplica = IsReplica(from), toReplica = IsReplica(to);
        if (fromReplica && toReplica)
        {
            if (from == to) return false;
            return Lookup(ReplicaLabel, _replicaKeys, from, to, key);
        }
        if (fromReplica == toReplica) return false; // two clients
        uint client = fromReplica ? to : from, replica = fromReplica ? from : to;
        if (_prk is not null && client - _firstClientId >= _clientCount) return false; // also catches client < first (wraps)
        return Lookup(ClientLabel, _clientKeys, client, replica, key);
    }

    private bool Lookup(ReadOnlySpan<byte> label, Dictionary<ulong, byte[]>? table, uint a, uint b, Span<byte> key)
    {
        if (_prk is not null)
        {
            Span<byte> info = stackalloc byte[32];
            label.CopyTo(info);
            BinaryPrimitives.WriteUInt32LittleEndian(info.Slice(label.Length), a);
            BinaryPrimitives.WriteUInt32LittleEndian(info.Slice(label.Length + 4), b);
            HKDF.Expand(HashAlgorithmName.SHA256, _prk, key.Slice(0, KeySize), info.Slice(0, label.Length + 8));
            return true;
        }
        if (table!.TryGetValue(Pack(a, b), out byte[]? k))
        {
            k.CopyTo(key);
            return true;
        }
        return false;
    }

    private static ulong Pack(uint a, uint b) => ((ulong)a << 32) | b;

    private static void CheckReplicaCount(int replicaCount)
    {
        if (replicaCount < 1 || replicaCount > MaxReplicas)
            throw new ArgumentOutOfRangeException(nameof(replicaCount), replicaCount, $"replica count must be 1..{MaxReplicas}");
    }

    private static byte[] CheckedCopy(byte[] key, string paramName)
    {
        if (key is null) throw new ArgumentNullException(paramName, "a key is null");
        if (key.Length != KeySize) throw new ArgumentException($"every key must be {KeySize} bytes, got {key.Length}", paramName);
        return (byte[])key.Clone();
    }
}
