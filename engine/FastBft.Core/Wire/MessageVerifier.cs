using System.Buffers.Binary;
using FastBft.Auth;

namespace FastBft.Wire;

/// <summary>
/// The authentication stage (DESIGN.md "Data flow", step 2): parses a received message in place,
/// enforces size limits and the sender's role for its type, recomputes digests and checks this
/// node's MAC entry. Everything that fails is reported as a <see cref="ParseStatus"/> and counted in
/// <see cref="Drops"/>; nothing throws. Holds no protocol state, so it cannot change replica state.
/// Not thread-safe (its <see cref="Authenticator"/> is per thread); run one per verifying thread.
/// </summary>
public sealed class MessageVerifier
{
    private readonly Authenticator _auth;
    private readonly int _n;
    private readonly uint _firstClientId;
    private readonly int _maxBody;
    private readonly int _maxRequest;
    private readonly int _maxBatch;
    private readonly bool _selfIsReplica;
    private uint[] _batchClients = new uint[64];
    private byte[] _batchDigests = new byte[64 * Digests.Size];
    private readonly byte[] _lastRequestDigest = new byte[Digests.Size];
    private readonly Auth.ReplicaSignatures _signatures;
    private readonly Agreement.Pbft.NewViewBody.SignatureCheck _signatureCheck;

    /// <summary>After a REQUEST verified Ok: its request digest D(req) (32 bytes), valid until the next Verify.</summary>
    public ReadOnlySpan<byte> LastRequestDigest => _lastRequestDigest;

    /// <summary>
    /// After a PRE-PREPARE or BATCH verified Ok: true if every embedded client REQUEST's MAC entry for
    /// this node verified, false if only the batch structure and digest did (the core accepts such a
    /// batch only where a quorum certificate vouches for its digest; docs/view-change.md). Valid until
    /// the next Verify.
    /// </summary>
    public bool LastRequestsAuthenticated { get; private set; }

    /// <summary>Drop counters indexed by <see cref="ParseStatus"/>.</summary>
    public readonly long[] Drops = new long[16];

    /// <summary>Creates a verifier for node <paramref name="auth"/>.SelfId.</summary>
    /// <param name="auth">this node's authenticator.</param>
    /// <param name="replicaCount">n.</param>
    /// <param name="firstClientId">lowest client id; ids below it that are ≥ n are rejected.</param>
    /// <param name="maxMessageBody">largest body accepted, bytes.</param>
    /// <param name="maxRequestBody">largest client operation accepted, bytes.</param>
    /// <param name="maxBatch">largest number of requests in a PRE-PREPARE.</param>
    public MessageVerifier(Authenticator auth, int replicaCount, uint firstClientId, int maxMessageBody, int maxRequestBody, int maxBatch)
    {
        _auth = auth; _n = replicaCount; _firstClientId = firstClientId;
        _maxBody = maxMessageBody; _maxRequest = maxRequestBody; _maxBatch = maxBatch;
        _selfIsReplica = auth.SelfId < (uint)replicaCount;
        _signatures = auth.Signatures;
        _signatureCheck = VerifySignature;
    }

    // A small ring of SHA-256(signer ‖ signed bytes ‖ signature) that verified: a retransmitted VIEW-CHANGE and the
    // copies embedded in a NEW-VIEW cost one hash instead of one Ed25519 verification each.
    private readonly byte[] _verifiedSignatures = new byte[SignatureCacheEntries * Digests.Size];
    private int _verifiedNext;
    private System.Security.Cryptography.IncrementalHash? _signatureKeyHash;   // reused (the verifier is per thread)
    private const int SignatureCacheEntries = 64;

    private bool VerifySignature(uint signer, ReadOnlySpan<byte> signed, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != Auth.ReplicaSignatures.SignatureSize) return false;
        Span<byte> key = stackalloc byte[Digests.Size];
        Span<byte> id = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(id, signer);
        var h = _signatureKeyHash ??= System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        h.AppendData(id); h.AppendData(signed); h.AppendData(signature);
        h.GetHashAndReset(key);
        for (int i = 0; i < SignatureCacheEntries; i++)
            if (_verifiedSignatures.AsSpan(i * Digests.Size, Digests.Size).SequenceEqual(key)) return true;
        if (!_signatures.Verify(signer, signed, signature)) return false;
        key.CopyTo(_verifiedSignatures.AsSpan(_verifiedNext * Digests.Size, Digests.Size));
        _verifiedNext = (_verifiedNext + 1) % SignatureCacheEntries;
        return true;
    }

    /// <summary>Total messages dropped.</summary>
    public long DroppedTotal { get { long s = 0; foreach (var d in Drops) s += d; return s; } }

    private bool IsReplica(uint id) => id < (uint)_n;
    private bool IsClient(uint id) => id >= _firstClientId;

    /// <summary>
    /// Verifies <paramref name="message"/> as received by this node. On <see cref="ParseStatus.Ok"/>
    /// the header is returned and the message is authentic for this receiver; its embedded requests
    /// (PRE-PREPARE) are authentic too.
    /// </summary>
    public ParseStatus Verify(ReadOnlySpan<byte> message, out MessageHeader header)
    {
        var status = VerifyCore(message, out header);
        if (status != ParseStatus.Ok) Drops[(int)status]++;
        return status;
    }

    private ParseStatus VerifyCore(ReadOnlySpan<byte> message, out MessageHeader header)
    {
        var st = MessageHeader.TryParse(message, _maxBody, out header);
        if (st != ParseStatus.Ok) return st;
        var hdr = message.Slice(0, MessageHeader.Size);
        var body = MessageHeader.Body(message, header);
        var trailer = MessageHeader.Authenticator(message, header);
        Span<byte> digest = stackalloc byte[Digests.Size];
        switch (header.Type)
        {
            case MessageType.Request:
                if (!_selfIsReplica) return ParseStatus.BadSender;
                if (!IsClient(header.Sender)) return ParseStatus.BadSender;
                if (header.BodyLength > _maxRequest) return ParseStatus.Oversized;
                if (header.Sequence == 0) return ParseStatus.BadField;        // request ids start at 1 (0 = "none executed" in the reply cache)
                Digests.AuthBody(body, digest);
                if (!_auth.VerifyVector(header.Sender, hdr, digest, trailer)) return ParseStatus.BadAuthenticator;
                Digests.Request(hdr, digest, _lastRequestDigest);
                return ParseStatus.Ok;

            case MessageType.Reply:
                if (_selfIsReplica) return ParseStatus.BadSender;
                if (!IsReplica(header.Sender)) return ParseStatus.BadSender;
                if (header.BodyLength < Bodies.ReplyFixed) return ParseStatus.Truncated;
                if (BinaryPrimitives.ReadUInt32LittleEndian(body) != _auth.SelfId) return ParseStatus.BadField;
                byte form = body[4];
                if (body[5] != 0 || body[6] != 0 || body[7] != 0) return ParseStatus.BadField;
                if (form == Bodies.ReplyDigest) { if (header.BodyLength != Bodies.ReplyFixed + Digests.Size) return ParseStatus.BadLength; }
                else if (form != Bodies.ReplyFull) return ParseStatus.BadField;
                Digests.AuthBody(body, digest);
                return _auth.VerifySingle(header.Sender, hdr, digest, trailer) ? ParseStatus.Ok : ParseStatus.BadAuthenticator;

            case MessageType.PrePrepare:
                if (!_selfIsReplica || !IsReplica(header.Sender) || header.Sender == _auth.SelfId) return ParseStatus.BadSender;
                st = VerifyBatch(body);
                if (st != ParseStatus.Ok) return st;
                return _auth.VerifyVector(header.Sender, hdr, Bodies.BatchDigest(body), trailer) ? ParseStatus.Ok : ParseStatus.BadAuthenticator;

            case MessageType.Batch:
                if (!_selfIsReplica || !IsReplica(header.Sender) || header.Sender == _auth.SelfId) return ParseStatus.BadSender;
                st = VerifyBatch(body);
                if (st != ParseStatus.Ok) return st;
                Digests.AuthBody(body, digest);
                return _auth.VerifyVector(header.Sender, hdr, digest, trailer) ? ParseStatus.Ok : ParseStatus.BadAuthenticator;

            case MessageType.BatchFetch:
                if (!_selfIsReplica || !IsReplica(header.Sender) || header.Sender == _auth.SelfId) return ParseStatus.BadSender;
                if (header.BodyLength != Digests.Size) return ParseStatus.BadLength;
                Digests.AuthBody(body, digest);
                return _auth.VerifyVector(header.Sender, hdr, digest, trailer) ? ParseStatus.Ok : ParseStatus.BadAuthenticator;

            case MessageType.Prepare:
            case MessageType.Commit:
            case MessageType.Checkpoint:
                if (!_selfIsReplica || !IsReplica(header.Sender) || header.Sender == _auth.SelfId) return ParseStatus.BadSender;
                if (header.BodyLength != Digests.Size) return ParseStatus.BadLength;
                Digests.AuthBody(body, digest);
                return _auth.VerifyVector(header.Sender, hdr, digest, trailer) ? ParseStatus.Ok : ParseStatus.BadAuthenticator;

            case MessageType.Status:
                if (!_selfIsReplica || !IsReplica(header.Sender) || header.Sender == _auth.SelfId) return ParseStatus.BadSender;
                if (header.BodyLength != Bodies.StatusLength) return ParseStatus.BadLength;
                if ((BinaryPrimitives.ReadUInt64LittleEndian(body.Slice(8)) & ~Bodies.StatusKnownFlags) != 0) return ParseStatus.BadField;
                Digests.AuthBody(body, digest);
                return _auth.VerifyVector(header.Sender, hdr, digest, trailer) ? ParseStatus.Ok : ParseStatus.BadAuthenticator;

            case MessageType.ViewChange:
                // Received directly, a VIEW-CHANGE is authentic by its MAC. Its Ed25519 signature is what lets the new
                // primary embed it in a NEW-VIEW; the primary checks it when it first uses it (PbftReplica.TryNewView),
                // every backup checks it inside the NEW-VIEW — so a flood of VIEW-CHANGEs costs one MAC each here.
                if (!_selfIsReplica || !IsReplica(header.Sender) || header.Sender == _auth.SelfId) return ParseStatus.BadSender;
                if (!Agreement.Pbft.ViewChangeBody.IsWellFormed(header.View, body)) return ParseStatus.BadField;
                Digests.AuthBody(body, digest);
                return _auth.VerifyVector(header.Sender, hdr, digest, trailer) ? ParseStatus.Ok : ParseStatus.BadAuthenticator;

            case MessageType.NewView:
                // The primary's MAC entry for us (a cheap filter; a forwarded copy keeps the primary's vector), then
                // the primary's signature and every embedded VIEW-CHANGE's: any replica may forward it.
                if (!_selfIsReplica || !IsReplica(header.Sender) || header.Sender == _auth.SelfId) return ParseStatus.BadSender;
                if (header.Sender != (uint)(header.View % (ulong)_n)) return ParseStatus.BadSender;
                if (header.BodyLength < Agreement.Pbft.NewViewBody.Fixed + Auth.ReplicaSignatures.SignatureSize) return ParseStatus.Truncated;
                Digests.AuthBody(body, digest);
                if (!_auth.VerifyVector(header.Sender, hdr, digest, trailer)) return ParseStatus.BadAuthenticator;
                if (!VerifySignature(header.Sender, message.Slice(0, Agreement.Pbft.NewViewBody.SignedLength(header)), body.Slice(body.Length - Auth.ReplicaSignatures.SignatureSize)))
                    return ParseStatus.BadSignature;
                return Agreement.Pbft.NewViewBody.TryParse(header, body, _n, _maxBody, _signatureCheck) is null ? ParseStatus.BadField : ParseStatus.Ok;

            case MessageType.Fetch:
            case MessageType.StateData:
                if (!_selfIsReplica || !IsReplica(header.Sender) || header.Sender == _auth.SelfId) return ParseStatus.BadSender;
                if (header.Type == MessageType.Fetch ? header.BodyLength != 8 : header.BodyLength < 8) return ParseStatus.BadLength;
                Digests.AuthBody(body, digest);
                return _auth.VerifyVector(header.Sender, hdr, digest, trailer) ? ParseStatus.Ok : ParseStatus.BadAuthenticator;

            default:
                // Types reserved for the view-change / state-transfer work are not accepted yet.
                return ParseStatus.UnknownType;
        }
    }

    /// <summary>
    /// Validates a PRE-PREPARE (or BATCH) body: count in 0..maxBatch (0 = the null request), every entry
    /// a well-formed REQUEST with a request id ≥ 1 from a client, no two requests from one client
    /// (PROTOCOLS.md G1), no trailing bytes, and the batch digest field equal to SHA-256 of the
    /// request digests. Whether every client MAC entry for this node verified is reported in
    /// <see cref="LastRequestsAuthenticated"/>, not as a failure: a batch that a prepared certificate
    /// vouches for must be usable even if a faulty client authenticated it for some replicas only.
    /// </summary>
    private ParseStatus VerifyBatch(ReadOnlySpan<byte> body)
    {
        if (body.Length < Bodies.PrePrepareFixed) return ParseStatus.Truncated;
        int count = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(32));
        if (count > _maxBatch) return ParseStatus.BadField;              // count 0: a null request (view change)
        if (body[34] != 0 || body[35] != 0) return ParseStatus.BadField;
        if (_batchClients.Length < count) _batchClients = new uint[Math.Max(count, _batchClients.Length * 2)];
        if (_batchDigests.Length < count * Digests.Size) _batchDigests = new byte[count * Digests.Size];
        Span<byte> digests = _batchDigests.AsSpan(0, count * Digests.Size);
        Span<byte> bodyDigest = stackalloc byte[Digests.Size];
        var rest = body.Slice(Bodies.PrePrepareFixed);
        bool authenticated = true;
        LastRequestsAuthenticated = false;
        for (int i = 0; i < count; i++)
        {
            if (rest.Length < Bodies.BatchEntryPrefix) return ParseStatus.Truncated;
            int len = BinaryPrimitives.ReadInt32LittleEndian(rest);
            if (len < MessageHeader.Size || len > rest.Length - Bodies.BatchEntryPrefix) return ParseStatus.Truncated;
            var req = rest.Slice(Bodies.BatchEntryPrefix, len);
            rest = rest.Slice(Bodies.BatchEntryPrefix + len);
            var st = MessageHeader.TryParse(req, _maxRequest, out var rh);
            if (st != ParseStatus.Ok) return st;
            if (rh.Type != MessageType.Request || !IsClient(rh.Sender)) return ParseStatus.BadSender;
            for (int j = 0; j < i; j++) if (_batchClients[j] == rh.Sender) return ParseStatus.BadField;
            _batchClients[i] = rh.Sender;
            if (rh.Sequence == 0) return ParseStatus.BadField;
            var rhdr = req.Slice(0, MessageHeader.Size);
            Digests.AuthBody(MessageHeader.Body(req, rh), bodyDigest);
            if (!_auth.VerifyVector(rh.Sender, rhdr, bodyDigest, MessageHeader.Authenticator(req, rh))) authenticated = false;
            Digests.Request(rhdr, bodyDigest, digests.Slice(i * Digests.Size, Digests.Size));
        }
        if (rest.Length != 0) return ParseStatus.BadLength;
        Span<byte> batchDigest = stackalloc byte[Digests.Size];
        Digests.Batch(digests, batchDigest);
        if (!batchDigest.SequenceEqual(Bodies.BatchDigest(body))) return ParseStatus.BadDigest;
        LastRequestsAuthenticated = authenticated;
        return ParseStatus.Ok;
    }
}
