using FastBft.Auth;
using System.Buffers.Binary;
using FastBft.Wire;

namespace FastBft.Verification;

/// <summary>
/// Body rules every protocol family shares: client REQUESTs, REPLYs, and batches of embedded requests
/// (docs/wire-format.md §2.3).
/// </summary>
public static class CommonRules
{
    /// <summary>REQUEST: request id ≥ 1 (0 means "none executed" in the reply cache); computes D(req).</summary>
    public static readonly BodyRule Request = new RequestRule();
    /// <summary>REPLY: addressed to this client, form full or digest.</summary>
    public static readonly BodyRule Reply = new ReplyRule();
    /// <summary>A batch whose authenticator covers its batch digest (PBFT PRE-PREPARE).</summary>
    public static readonly BodyRule BatchAuthenticatedByDigest = new RequestBatchRule(authenticateByBatchDigest: true);
    /// <summary>A batch whose authenticator covers AuthBody(body) (PBFT BATCH).</summary>
    public static readonly BodyRule Batch = new RequestBatchRule(authenticateByBatchDigest: false);
    /// <summary>
    /// A batch followed by a 64-byte endorsement (RePBFT PRE-PREPARE, docs/repbft.md §3): the authenticator covers
    /// SHA-256(batch digest ‖ endorsement), so the endorsement cannot be altered in flight without the MAC failing,
    /// and the batch is still hashed only once.
    /// </summary>
    public static readonly BodyRule EndorsedBatch = new RequestBatchRule(authenticateByBatchDigest: true, trailer: EndorsementSize);

    /// <summary>
    /// A body whose last 64 bytes are the sender's Ed25519 signature of header[40] ‖ the rest of the body (docs/wire-format.md
    /// "Signed messages"): what a third party must be able to check (RePBFT's CHECKPOINT, HISTORY; ReMinBFT's CHECKPOINT).
    /// The rule's minimum body length must include the 64 bytes. Runs after the MAC check.
    /// </summary>
    public static readonly BodyRule SignedBody = new SignedBodyRule();

    /// <summary>
    /// True if <paramref name="message"/> (header ‖ body of <paramref name="bodyLength"/> bytes ‖ any trailer) carries
    /// <paramref name="signer"/>'s valid Ed25519 signature in its body's last 64 bytes (<see cref="SignedBody"/>'s layout),
    /// checked with <paramref name="check"/> — also for signed messages embedded in another (an abort history).
    /// </summary>
    public static bool SignatureValid(SignatureCheck check, uint signer, ReadOnlySpan<byte> message, int bodyLength)
    {
        if (bodyLength < ReplicaSignatures.SignatureSize || MessageHeader.Size + bodyLength > message.Length) return false;
        int signed = MessageHeader.Size + bodyLength - ReplicaSignatures.SignatureSize;
        return check(signer, message.Slice(0, signed), message.Slice(signed, ReplicaSignatures.SignatureSize));
    }

    private sealed class SignedBodyRule : BodyRule
    {
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
        {
            if (body.Length < ReplicaSignatures.SignatureSize) return ParseStatus.BadLength;
            if (!SignatureValid(context.SignatureChecker, h.Sender, message, body.Length)) return ParseStatus.BadSignature;
            facts.SignatureVerified = true;
            return ParseStatus.Ok;
        }
    }

    /// <summary>Bytes of an endorsement (an Ed25519 signature) that follows an endorsed body.</summary>
    public const int EndorsementSize = 64;

    /// <summary>The authenticated digest of an endorsed batch: SHA-256(batchDigest[32] ‖ endorsement[64]) into <paramref name="destination"/> (32 bytes).</summary>
    public static void EndorsedBatchAuthDigest(ReadOnlySpan<byte> batchDigest, ReadOnlySpan<byte> endorsement, Span<byte> destination)
    {
        Span<byte> buf = stackalloc byte[Digests.Size + EndorsementSize];
        batchDigest.Slice(0, Digests.Size).CopyTo(buf);
        endorsement.Slice(0, EndorsementSize).CopyTo(buf.Slice(Digests.Size));
        Digests.Sha256(buf, destination);
    }

    /// <summary>The REQUEST rule for a cell (client → replicas).</summary>
    public static MessageRule RequestMessage() => new(MessageType.Request, SenderRole.Client, AuthenticatorKind.ReplicaVector, 0, int.MaxValue, Request);
    /// <summary>The REPLY rule (replica → client).</summary>
    public static MessageRule ReplyMessage() => new(MessageType.Reply, SenderRole.ReplicaToClient, AuthenticatorKind.SingleMac, Bodies.ReplyFixed, int.MaxValue, Reply);

    private sealed class RequestRule : BodyRule
    {
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
        {
            if (h.Sequence == 0) return ParseStatus.BadField;
            // The driver already computed AuthBody(body) for the MAC check: D(req) reuses it (the body is hashed once).
            Digests.Request(message.Slice(0, MessageHeader.Size), facts.AuthDigest, facts.RequestDigest);
            return ParseStatus.Ok;
        }
    }

    private sealed class ReplyRule : BodyRule
    {
        public override bool RunsBeforeAuthentication => true;   // cheap field checks first: a misaddressed reply costs no MAC
        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(body) != context.SelfId) return ParseStatus.BadField;
            byte form = body[4];
            if (body[5] != 0 || body[6] != 0 || body[7] != 0) return ParseStatus.BadField;
            if (form == Bodies.ReplyDigest) return h.BodyLength == Bodies.ReplyFixed + Digests.Size ? ParseStatus.Ok : ParseStatus.BadLength;
            return form == Bodies.ReplyFull ? ParseStatus.Ok : ParseStatus.BadField;
        }
    }

    /// <summary>
    /// Validates a batch body: count in 0..maxBatch (0 = the null request), every entry a well-formed
    /// REQUEST with a request id ≥ 1 from a client, no two requests from one client (PROTOCOLS.md G1), no
    /// trailing bytes, and the batch digest field equal to SHA-256 of the request digests. Whether every
    /// client MAC entry for this node verified is reported in <see cref="AuthFacts.RequestsAuthenticated"/>,
    /// not as a failure: a batch that a prepared certificate vouches for must be usable even if a faulty
    /// client authenticated it for some replicas only.
    /// </summary>
    private sealed class RequestBatchRule(bool authenticateByBatchDigest, int trailer = 0) : BodyRule
    {
        public override bool RunsBeforeAuthentication => authenticateByBatchDigest;

        public override ParseStatus Check(in MessageHeader h, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
        {
            facts.RequestsAuthenticated = false;
            if (body.Length < Bodies.PrePrepareFixed + trailer) return ParseStatus.Truncated;
            var endorsement = body.Slice(body.Length - trailer);
            body = body.Slice(0, body.Length - trailer);
            int count = BinaryPrimitives.ReadUInt16LittleEndian(body.Slice(32));
            if (count > context.Limits.MaxBatch) return ParseStatus.BadField;
            ushort flags = Bodies.BatchFlags(body);
            if (flags != 0 && (h.Family != ProtocolFamily.ReMinBft || h.Type != MessageType.UiPrepare || !Bodies.ValidBatchFlags(flags, context.Limits.ReplicaCount))) return ParseStatus.BadField;
            var clients = context.BatchClients(count);
            var digests = context.BatchDigests(count);
            Span<byte> bodyDigest = stackalloc byte[Digests.Size];
            var rest = body.Slice(Bodies.PrePrepareFixed);
            bool authenticated = true;
            for (int i = 0; i < count; i++)
            {
                if (rest.Length < Bodies.BatchEntryPrefix) return ParseStatus.Truncated;
                int len = BinaryPrimitives.ReadInt32LittleEndian(rest);
                if (len < MessageHeader.Size || len > rest.Length - Bodies.BatchEntryPrefix) return ParseStatus.Truncated;
                var req = rest.Slice(Bodies.BatchEntryPrefix, len);
                rest = rest.Slice(Bodies.BatchEntryPrefix + len);
                var st = MessageHeader.TryParse(req, context.Limits.MaxRequestBody, out var rh);
                if (st != ParseStatus.Ok) return st;
                if (rh.Type != MessageType.Request || !context.IsClient(rh.Sender)) return ParseStatus.BadSender;
                if (rh.Family != h.Family) return ParseStatus.WrongProtocol;
                for (int j = 0; j < i; j++) if (clients[j] == rh.Sender) return ParseStatus.BadField;
                clients[i] = rh.Sender;
                if (rh.Sequence == 0) return ParseStatus.BadField;
                var rhdr = req.Slice(0, MessageHeader.Size);
                Digests.AuthBody(MessageHeader.Body(req, rh), bodyDigest);
                if (!context.Auth.VerifyVector(rh.Sender, rhdr, bodyDigest, MessageHeader.Authenticator(req, rh))) authenticated = false;
                Digests.Request(rhdr, bodyDigest, digests.Slice(i * Digests.Size, Digests.Size));
            }
            if (rest.Length != 0) return ParseStatus.BadLength;
            Span<byte> batchDigest = stackalloc byte[Digests.Size];
            Digests.Batch(digests, batchDigest);
            Bodies.ApplyFlagsToDigest(flags, batchDigest);
            if (!batchDigest.SequenceEqual(Bodies.BatchDigest(body))) return ParseStatus.BadDigest;
            facts.RequestsAuthenticated = authenticated;
            if (authenticateByBatchDigest)
            {
                if (trailer == 0) batchDigest.CopyTo(facts.AuthDigest);
                else EndorsedBatchAuthDigest(batchDigest, endorsement, facts.AuthDigest);
                facts.AuthDigestSet = true;
            }
            return ParseStatus.Ok;
        }
    }
}
