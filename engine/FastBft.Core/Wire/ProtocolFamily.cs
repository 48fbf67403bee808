namespace FastBft.Wire;

/// <summary>
/// Protocol family of a message, carried in byte 30 of the header (docs/wire-format.md §1). Families
/// share one wire format but not message types: each supplies its own message schema. Values are
/// stable on the wire; 0 is invalid.
/// </summary>
public enum ProtocolFamily : byte
{
    /// <summary>Invalid / unset.</summary>
    None = 0,
    /// <summary>PBFT (PBFT-PR; n = 3f+1).</summary>
    Pbft = 1,
    /// <summary>RePBFT and RePBFT* (Thesis §5.3; n = 3f+1, f passive) — not built yet.</summary>
    RePbft = 2,
    /// <summary>MinBFT (Thesis §2.2.1; n = 2f+1, USIG) — not built yet.</summary>
    MinBft = 3,
    /// <summary>ReMinBFT (Thesis §5.4; n = 2f+1, f passive, USIG) — not built yet.</summary>
    ReMinBft = 4,
    /// <summary>Highest value this version of the engine parses.</summary>
    Highest = ReMinBft,
}
