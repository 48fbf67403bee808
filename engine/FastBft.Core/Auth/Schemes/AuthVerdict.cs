using FastBft.TrustedHw;

namespace FastBft.Auth;

/// <summary>
/// Result of <see cref="IAuthScheme.Verify"/>: a <see cref="AuthStatus"/> and, for an accepted USIG
/// certificate (<see cref="AuthenticatorKind.UsigCertificate"/>), the verified
/// <see cref="UniqueIdentifier"/> so the caller can enforce counter order (PROTOCOLS.md §2.5,
/// <see cref="CounterOrderBuffer{TMessage}"/>). A value type of 56 bytes (status + 48-byte UI inline):
/// returning it allocates nothing. <c>default(AuthVerdict)</c> is not accepted (<see cref="IsOk"/> false).
/// </summary>
public readonly struct AuthVerdict
{
    private readonly UniqueIdentifier _ui;

    private AuthVerdict(AuthStatus status, in UniqueIdentifier ui)
    {
        Status = status;
        _ui = ui;
    }

    /// <summary>Accepted, no certificate (MAC and signature schemes).</summary>
    public static AuthVerdict Ok => new(AuthStatus.Ok, default);

    /// <summary>Rejected: the authenticator does not match.</summary>
    public static AuthVerdict BadAuthenticator => new(AuthStatus.BadAuthenticator, default);

    /// <summary>Rejected: the trailer does not have the scheme's shape.</summary>
    public static AuthVerdict Malformed => new(AuthStatus.Malformed, default);

    /// <summary>Undecided: local failure (USIG device fault or timeout, disposed scheme).</summary>
    public static AuthVerdict Unavailable => new(AuthStatus.Unavailable, default);

    /// <summary>Accepted USIG certificate carrying the verified <paramref name="ui"/>.</summary>
    public static AuthVerdict Certified(in UniqueIdentifier ui) => new(AuthStatus.Ok, ui);

    /// <summary>The outcome.</summary>
    public AuthStatus Status { get; }

    /// <summary>True only for <see cref="AuthStatus.Ok"/>.</summary>
    public bool IsOk => Status == AuthStatus.Ok;

    /// <summary>True when <see cref="Ui"/> holds a verified unique identifier (an accepted USIG certificate; its counter is ≥ 1).</summary>
    public bool HasUi => Status == AuthStatus.Ok && _ui.Counter != 0;

    /// <summary>The verified UI of an accepted USIG certificate; <c>default</c> (epoch 0, counter 0) otherwise.</summary>
    public UniqueIdentifier Ui => _ui;

    /// <summary>Epoch of <see cref="Ui"/> (0 without one).</summary>
    public ulong Epoch => _ui.Epoch;

    /// <summary>Counter of <see cref="Ui"/> (≥ 1 when <see cref="HasUi"/>, else 0).</summary>
    public ulong Counter => _ui.Counter;

    /// <summary>E.g. <c>Ok</c>, <c>Ok UI(e=1, c=7, proof=…)</c>, <c>Malformed</c>.</summary>
    public override string ToString() => HasUi ? $"{Status} {_ui}" : Status.ToString();
}
