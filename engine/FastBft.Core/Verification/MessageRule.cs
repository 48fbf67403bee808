using FastBft.Auth;
using FastBft.Wire;

namespace FastBft.Verification;

/// <summary>Who may send a message type (checked against the header's sender id before any cryptography).</summary>
public enum SenderRole : byte
{
    /// <summary>A client id of the cell; only replicas receive it.</summary>
    Client,
    /// <summary>Any replica other than the receiver; only replicas receive it.</summary>
    Replica,
    /// <summary>The leader of the header's view (view mod n), other than the receiver; only replicas receive it.</summary>
    ViewLeader,
    /// <summary>A replica; only clients receive it (REPLY).</summary>
    ReplicaToClient,
}

/// <summary>
/// The rule for one message type of a protocol family's schema: sender role, body length bounds,
/// trailer kind, and an optional body rule for what lengths alone cannot check.
/// </summary>
/// <param name="Type">the message type.</param>
/// <param name="Sender">who may send it.</param>
/// <param name="Trailer">the trailer kind that authenticates it (MAC vector, single MAC, Ed25519 signature, USIG certificate; docs/authentication.md §9).</param>
/// <param name="MinBody">smallest body, bytes.</param>
/// <param name="MaxBody">largest body, bytes (<see cref="int.MaxValue"/>: the cell's max_message_bytes; a REQUEST is additionally bounded by max_request_bytes).</param>
/// <param name="Body">the body rule, or null when the length bounds suffice.</param>
public sealed record MessageRule(MessageType Type, SenderRole Sender, AuthenticatorKind Trailer, int MinBody, int MaxBody, BodyRule? Body = null)
{
    /// <summary>A rule whose body has exactly <paramref name="length"/> bytes.</summary>
    public static MessageRule Fixed(MessageType type, SenderRole sender, int length, BodyRule? body = null)
        => new(type, sender, AuthenticatorKind.ReplicaVector, length, length, body);
}

/// <summary>
/// Checks what a body's length cannot (counts, nested messages, embedded signatures, digests). A body
/// rule is stateless: everything it needs comes through the <see cref="VerifierContext"/>, everything
/// it establishes goes into <see cref="AuthFacts"/>. It runs before the trailer is checked only when it
/// must compute the authenticated digest (<see cref="AuthFacts.AuthDigest"/>); it must never throw and
/// never allocate in proportion to a length field a peer claims.
/// </summary>
public abstract class BodyRule
{
    /// <summary>Checks <paramref name="body"/> of <paramref name="message"/>; <see cref="ParseStatus.Ok"/> or the reason to drop it.</summary>
    public abstract ParseStatus Check(in MessageHeader header, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts);

    /// <summary>True if the rule must run before the trailer check (it sets <see cref="AuthFacts.AuthDigest"/>); otherwise it runs after the trailer verified, so unauthenticated input never reaches expensive checks.</summary>
    public virtual bool RunsBeforeAuthentication => false;
}

/// <summary>
/// A protocol family's message schema (issue 9 item 4): for each message type the family accepts, its
/// <see cref="MessageRule"/>. The generic <see cref="MessageVerifier"/> drives it; the wire format knows
/// no protocol.
/// </summary>
public interface IMessageSchema
{
    /// <summary>The family whose messages this schema accepts (header byte 30).</summary>
    ProtocolFamily Family { get; }

    /// <summary>The rule for <paramref name="type"/>, or null if the family does not use the type.</summary>
    MessageRule? Rule(MessageType type);
}

/// <summary>A schema built from a list of rules (one per type).</summary>
public class TableSchema : IMessageSchema
{
    private readonly MessageRule?[] _rules = new MessageRule?[256];

    /// <summary>Creates the schema of <paramref name="family"/> from <paramref name="rules"/>.</summary>
    /// <exception cref="ArgumentException">two rules for one type.</exception>
    public TableSchema(ProtocolFamily family, IEnumerable<MessageRule> rules)
    {
        Family = family;
        foreach (var r in rules)
        {
            if (_rules[(int)r.Type] is not null) throw new ArgumentException($"two rules for {r.Type}", nameof(rules));
            _rules[(int)r.Type] = r;
        }
    }

    /// <inheritdoc/>
    public ProtocolFamily Family { get; }

    /// <inheritdoc/>
    public MessageRule? Rule(MessageType type) => _rules[(int)type];
}
