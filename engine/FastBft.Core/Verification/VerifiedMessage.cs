using System.Diagnostics.CodeAnalysis;
using FastBft.Wire;

namespace FastBft.Verification;

/// <summary>
/// One received message as the verifier accepted it (DESIGN.md "Verifier → core"): the parsed header,
/// the whole message (header ‖ body ‖ authenticator), and what authentication established. Everything
/// the core learns from verification travels in this value — the verifier keeps no per-message state a
/// core could read later, so verification can run on other threads than the core.
/// </summary>
/// <remarks>Valid only while the received buffer is (the duration of the core's OnMessage call).</remarks>
public readonly ref struct VerifiedMessage
{
    private readonly Digest32 _requestDigest;

    /// <summary>The parsed, validated header.</summary>
    public readonly MessageHeader Header;
    /// <summary>The whole message: header ‖ body ‖ authenticator trailer.</summary>
    public readonly ReadOnlySpan<byte> Message;
    /// <summary>
    /// For a message that embeds client requests (PBFT PRE-PREPARE, BATCH): true if every embedded
    /// request's MAC entry for this receiver verified; false if only the structure and batch digest did
    /// (a core accepts such a batch only where a quorum certificate vouches for it; docs/view-change.md).
    /// True for every other type.
    /// </summary>
    public readonly bool RequestsAuthenticated;
    /// <summary>True when an Ed25519 signature carried by the message (and any embedded in it) verified.</summary>
    public readonly bool SignatureVerified;
    /// <summary>True when the message carried a USIG certificate that verified; then <see cref="UiEpoch"/> and <see cref="UiCounter"/> hold its UI.</summary>
    public readonly bool HasUi;
    /// <summary>Epoch of the verified UI (PROTOCOLS.md §2.4), if <see cref="HasUi"/>.</summary>
    public readonly ulong UiEpoch;
    /// <summary>Counter value of the verified UI, if <see cref="HasUi"/>; certified messages are handled in counter order (§2.5).</summary>
    public readonly ulong UiCounter;

    /// <summary>Creates the value (the verifier does; tests may too).</summary>
    public VerifiedMessage(scoped in MessageHeader header, ReadOnlySpan<byte> message, scoped in AuthFacts facts)
    {
        Header = header;
        Message = message;
        _requestDigest = facts.RequestDigest;
        RequestsAuthenticated = facts.RequestsAuthenticated;
        SignatureVerified = facts.SignatureVerified;
        HasUi = facts.HasUi;
        UiEpoch = facts.UiEpoch;
        UiCounter = facts.UiCounter;
    }

    /// <summary>The body slice.</summary>
    public ReadOnlySpan<byte> Body => Message.Slice(MessageHeader.Size, Header.BodyLength);

    /// <summary>For a REQUEST: its request digest D(req) = SHA-256(header ‖ AuthBody(body)) (32 bytes); zero otherwise.</summary>
    [UnscopedRef]
    public ReadOnlySpan<byte> RequestDigest => _requestDigest;
}

/// <summary>
/// What verification established about one message; filled by the generic driver and the schema's
/// body rules during one Verify call and copied into the <see cref="VerifiedMessage"/>.
/// </summary>
public struct AuthFacts
{
    /// <summary>D(req) of a REQUEST.</summary>
    public Digest32 RequestDigest;
    /// <summary>See <see cref="VerifiedMessage.RequestsAuthenticated"/>.</summary>
    public bool RequestsAuthenticated;
    /// <summary>See <see cref="VerifiedMessage.SignatureVerified"/>.</summary>
    public bool SignatureVerified;
    /// <summary>See <see cref="VerifiedMessage.HasUi"/>.</summary>
    public bool HasUi;
    /// <summary>See <see cref="VerifiedMessage.UiEpoch"/>.</summary>
    public ulong UiEpoch;
    /// <summary>See <see cref="VerifiedMessage.UiCounter"/>.</summary>
    public ulong UiCounter;
    /// <summary>The digest the authenticator covers (with the header): AuthBody(body) unless a body rule sets another (PRE-PREPARE: the batch digest).</summary>
    public Digest32 AuthDigest;
    /// <summary>True when a body rule set <see cref="AuthDigest"/>.</summary>
    public bool AuthDigestSet;
}
