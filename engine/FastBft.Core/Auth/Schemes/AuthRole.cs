namespace FastBft.Auth;

/// <summary>
/// The role of the node an <see cref="IAuthScheme"/> acts for (after hyperledger-labs/minbft
/// <c>api.AuthenticationRole</c>). Replica ids are <c>0..n-1</c>; every id ≥ n is a client id
/// (docs/wire-format.md §1).
/// </summary>
public enum AuthRole : byte
{
    /// <summary>A replica (id &lt; n).</summary>
    Replica = 1,
    /// <summary>A client (id ≥ n).</summary>
    Client = 2,
}
