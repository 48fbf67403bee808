using System.Buffers.Binary;
using System.Security.Cryptography;
using FastBft.Auth;
using FastBft.Wire;

namespace FastBft.Verification;

/// <summary>Checks one Ed25519 signature: (signer replica, signed bytes, 64-byte signature) → valid. Never throws.</summary>
public delegate bool SignatureCheck(uint signer, ReadOnlySpan<byte> signed, ReadOnlySpan<byte> signature);

/// <summary>Size limits a verifier enforces (from the cell configuration).</summary>
/// <param name="ReplicaCount">n.</param>
/// <param name="FirstClientId">lowest client id; ids below it that are ≥ n are rejected.</param>
/// <param name="MaxMessageBody">largest body accepted, bytes.</param>
/// <param name="MaxRequestBody">largest client operation accepted, bytes.</param>
/// <param name="MaxBatch">largest number of requests in one batch.</param>
public readonly record struct VerifierLimits(int ReplicaCount, uint FirstClientId, int MaxMessageBody, int MaxRequestBody, int MaxBatch);

/// <summary>
/// The resources body rules use during one Verify call: this node's authenticator, the cell's limits,
/// reusable scratch buffers and the cache of verified signatures. Owned by one
/// <see cref="MessageVerifier"/> (one per verifying thread); carries no result from one message to the next
/// (results go into <see cref="AuthFacts"/>).
/// </summary>
public sealed class VerifierContext
{
    private uint[] _batchClients = new uint[64];
    private byte[] _batchDigests = new byte[64 * Digests.Size];
    // A small ring of SHA-256(signer ‖ signed bytes ‖ signature) that verified: a retransmitted VIEW-CHANGE and the
    // copies embedded in a NEW-VIEW cost one hash instead of one Ed25519 verification each.
    private readonly byte[] _verifiedSignatures = new byte[SignatureCacheEntries * Digests.Size];
    private int _verifiedNext;
    private IncrementalHash? _signatureKeyHash;
    private const int SignatureCacheEntries = 64;

    /// <summary>Creates the context of node <paramref name="auth"/>.SelfId.</summary>
    public VerifierContext(Authenticator auth, VerifierLimits limits)
    {
        Auth = auth;
        Limits = limits;
        SelfIsReplica = auth.SelfId < (uint)limits.ReplicaCount;
        SignatureChecker = VerifySignature;
        _schemes[(int)AuthenticatorKind.ReplicaVector] = new MacVectorScheme(auth);
        _schemes[(int)AuthenticatorKind.SingleMac] = new SingleMacScheme(auth);
    }

    private readonly IAuthScheme?[] _schemes = new IAuthScheme?[8];

    /// <summary>
    /// Adds the scheme that checks trailers of <paramref name="scheme"/>.Kind (an Ed25519 scheme for
    /// RePBFT's CHECKPOINT/HISTORY, a USIG scheme for MinBFT's certified messages). The MAC schemes over
    /// <see cref="Auth"/> are present from the start.
    /// </summary>
    /// <exception cref="ArgumentException">the scheme is for another node.</exception>
    public void AddScheme(IAuthScheme scheme)
    {
        if (scheme.SelfId != Auth.SelfId) throw new ArgumentException($"scheme of node {scheme.SelfId} added to the verifier of node {Auth.SelfId}", nameof(scheme));
        _schemes[(int)scheme.Kind] = scheme;
    }

    /// <summary>The scheme for trailer <paramref name="kind"/>, or null if the verifier has none (messages with such a rule are dropped).</summary>
    public IAuthScheme? Scheme(AuthenticatorKind kind) => (int)kind < _schemes.Length ? _schemes[(int)kind] : null;

    /// <summary><see cref="VerifySignature"/> as a delegate (created once) for parsers of nested signed messages.</summary>
    public SignatureCheck SignatureChecker { get; }

    /// <summary>This node's MAC authenticator.</summary>
    public Authenticator Auth { get; }
    /// <summary>The cell's limits.</summary>
    public VerifierLimits Limits { get; }
    /// <summary>n.</summary>
    public int N => Limits.ReplicaCount;
    /// <summary>This node's id.</summary>
    public uint SelfId => Auth.SelfId;
    /// <summary>True if this node is a replica (not a client).</summary>
    public bool SelfIsReplica { get; }

    /// <summary>True if <paramref name="id"/> is a replica id.</summary>
    public bool IsReplica(uint id) => id < (uint)Limits.ReplicaCount;
    /// <summary>True if <paramref name="id"/> is in the client id range.</summary>
    public bool IsClient(uint id) => id >= Limits.FirstClientId;

    /// <summary>Scratch for the client ids of one batch (grows to the largest batch; not per message).</summary>
    public Span<uint> BatchClients(int count)
    {
        if (_batchClients.Length < count) _batchClients = new uint[Math.Max(count, _batchClients.Length * 2)];
        return _batchClients.AsSpan(0, count);
    }

    /// <summary>Scratch for the request digests of one batch.</summary>
    public Span<byte> BatchDigests(int count)
    {
        if (_batchDigests.Length < count * Digests.Size) _batchDigests = new byte[count * Digests.Size];
        return _batchDigests.AsSpan(0, count * Digests.Size);
    }

    /// <summary>
    /// Checks an Ed25519 signature of replica <paramref name="signer"/> over <paramref name="signed"/>
    /// (docs/view-change.md), remembering the last 64 that verified so a retransmitted or embedded copy
    /// costs one SHA-256 instead of one signature check. Never throws.
    /// </summary>
    public bool VerifySignature(uint signer, ReadOnlySpan<byte> signed, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != ReplicaSignatures.SignatureSize) return false;
        Span<byte> key = stackalloc byte[Digests.Size];
        Span<byte> id = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(id, signer);
        var h = _signatureKeyHash ??= IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(id); h.AppendData(signed); h.AppendData(signature);
        h.GetHashAndReset(key);
        for (int i = 0; i < SignatureCacheEntries; i++)
            if (_verifiedSignatures.AsSpan(i * Digests.Size, Digests.Size).SequenceEqual(key)) return true;
        if (!Auth.Signatures.Verify(signer, signed, signature)) return false;
        key.CopyTo(_verifiedSignatures.AsSpan(_verifiedNext * Digests.Size, Digests.Size));
        _verifiedNext = (_verifiedNext + 1) % SignatureCacheEntries;
        return true;
    }
}
