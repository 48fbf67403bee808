using FastBft.Auth;
using FastBft.Wire;

namespace FastBft.Verification;

/// <summary>
/// The authentication stage (DESIGN.md "Data flow", step 2) as a generic driver over a protocol
/// family's <see cref="IMessageSchema"/>: parses a received message in place, checks the family, the
/// type's rule (sender role, body bounds), runs the body rule, and checks this node's authenticator
/// entry. Everything that fails is reported as a <see cref="ParseStatus"/> and counted in
/// <see cref="Drops"/>; nothing throws. What authentication established leaves in the
/// <see cref="VerifiedMessage"/>; the verifier holds no protocol state and no per-message result.
/// Not thread-safe (its <see cref="Authenticator"/> and scratch buffers are per thread); run one per
/// verifying thread.
/// </summary>
public sealed class MessageVerifier
{
    private readonly IMessageSchema _schema;
    private readonly MessageRule?[] _rules = new MessageRule?[256];   // the schema's rules by type, looked up once
    private readonly VerifierContext _context;
    private readonly long[] _drops = new long[32];

    /// <summary>Creates a verifier for node <paramref name="auth"/>.SelfId of a cell running <paramref name="schema"/>'s family.</summary>
    /// <param name="schema">the protocol family's message schema.</param>
    /// <param name="auth">this node's MAC authenticator (the MAC-vector and single-MAC schemes are built over it).</param>
    /// <param name="limits">the cell's size limits.</param>
    /// <param name="schemes">further authentication schemes the schema's rules name (Ed25519, USIG certificate).</param>
    public MessageVerifier(IMessageSchema schema, Authenticator auth, VerifierLimits limits, params IAuthScheme[] schemes)
    {
        _schema = schema;
        _context = new VerifierContext(auth, limits);
        foreach (var s in schemes) _context.AddScheme(s);
        for (int t = 0; t < _rules.Length; t++) _rules[t] = schema.Rule((MessageType)t);
    }

    /// <summary>The schema this verifier drives.</summary>
    public IMessageSchema Schema => _schema;

    /// <summary>The cell's size limits this verifier enforces.</summary>
    public VerifierLimits Limits => _context.Limits;

    /// <summary>Drop counters indexed by <see cref="ParseStatus"/> (written by the verifying thread; read others with <see cref="DroppedFor"/>).</summary>
    public ReadOnlySpan<long> Drops => _drops;

    /// <summary>Messages dropped for <paramref name="reason"/> (safe to call from any thread).</summary>
    public long DroppedFor(ParseStatus reason) => Volatile.Read(ref _drops[(int)reason]);

    /// <summary>Total messages dropped (safe to call from any thread).</summary>
    public long DroppedTotal { get { long s = 0; for (int i = 0; i < _drops.Length; i++) s += Volatile.Read(ref _drops[i]); return s; } }

    /// <summary>
    /// Verifies <paramref name="message"/> as received by this node. On <see cref="ParseStatus.Ok"/>,
    /// <paramref name="verified"/> holds the header, the message and what authentication established;
    /// the message is authentic for this receiver.
    /// </summary>
    public ParseStatus Verify(ReadOnlySpan<byte> message, out VerifiedMessage verified)
    {
        var facts = default(AuthFacts);
        facts.RequestsAuthenticated = true;
        var status = VerifyCore(message, out var header, ref facts);
        if (status != ParseStatus.Ok)
        {
            Volatile.Write(ref _drops[(int)status], _drops[(int)status] + 1);
            verified = default;
            return status;
        }
        verified = new VerifiedMessage(header, message, facts);
        return ParseStatus.Ok;
    }

    /// <summary>
    /// <see cref="Verify"/> for tools and tests that need only the header: the same checks, counted the
    /// same way; what authentication established beyond the header is discarded.
    /// </summary>
    public ParseStatus VerifyHeader(ReadOnlySpan<byte> message, out MessageHeader header)
    {
        var status = Verify(message, out var verified);
        header = verified.Header;
        return status;
    }

    private ParseStatus VerifyCore(ReadOnlySpan<byte> message, out MessageHeader header, ref AuthFacts facts)
    {
        var st = MessageHeader.TryParse(message, _context.Limits.MaxMessageBody, out header);
        if (st != ParseStatus.Ok) return st;
        if (header.Family != _schema.Family) return ParseStatus.WrongProtocol;
        var rule = _rules[(int)header.Type];
        if (rule is null) return ParseStatus.UnknownType;
        st = CheckSender(rule.Sender, header);
        if (st != ParseStatus.Ok) return st;
        int max = rule.Sender == SenderRole.Client ? Math.Min(rule.MaxBody, _context.Limits.MaxRequestBody) : rule.MaxBody;
        if (header.BodyLength > max) return rule.MinBody == rule.MaxBody ? ParseStatus.BadLength : ParseStatus.Oversized;
        if (header.BodyLength < rule.MinBody) return rule.MinBody == rule.MaxBody ? ParseStatus.BadLength : ParseStatus.Truncated;
        var body = MessageHeader.Body(message, header);
        var bodyRule = rule.Body;
        if (bodyRule is not null && bodyRule.RunsBeforeAuthentication)
        {
            st = bodyRule.Check(header, message, body, _context, ref facts);
            if (st != ParseStatus.Ok) return st;
        }
        if (!facts.AuthDigestSet) Digests.AuthBody(body, facts.AuthDigest);
        var hdr = message.Slice(0, MessageHeader.Size);
        var trailer = MessageHeader.Authenticator(message, header);
        var scheme = _context.Scheme(rule.Trailer);
        if (scheme is null) return ParseStatus.BadAuthenticator;
        var verdict = scheme.Verify(header.Sender, hdr, facts.AuthDigest, trailer);
        if (verdict.Status == AuthStatus.Unavailable) return ParseStatus.Unavailable;     // USIG device fault: the message may come again
        if (!verdict.IsOk) return ParseStatus.BadAuthenticator;
        if (verdict.HasUi) { facts.HasUi = true; facts.UiEpoch = verdict.Epoch; facts.UiCounter = verdict.Counter; }
        if (bodyRule is not null && !bodyRule.RunsBeforeAuthentication)
            return bodyRule.Check(header, message, body, _context, ref facts);
        return ParseStatus.Ok;
    }

    private ParseStatus CheckSender(SenderRole role, in MessageHeader h)
    {
        var c = _context;
        switch (role)
        {
            case SenderRole.Client:
                return c.SelfIsReplica && c.IsClient(h.Sender) ? ParseStatus.Ok : ParseStatus.BadSender;
            case SenderRole.ReplicaToClient:
                return !c.SelfIsReplica && c.IsReplica(h.Sender) ? ParseStatus.Ok : ParseStatus.BadSender;
            case SenderRole.ViewLeader:
                if (h.Sender != (uint)(h.View % (ulong)c.N)) return ParseStatus.BadSender;
                goto case SenderRole.Replica;
            case SenderRole.Replica:
                return c.SelfIsReplica && c.IsReplica(h.Sender) && h.Sender != c.SelfId ? ParseStatus.Ok : ParseStatus.BadSender;
            default:
                return ParseStatus.BadSender;
        }
    }
}
