using System.Runtime.CompilerServices;

namespace FastBft.Verification;

/// <summary>A 32-byte digest held by value (an inline array): lets a <see cref="VerifiedMessage"/> carry D(req) without pointing into verifier state.</summary>
[InlineArray(Size)]
public struct Digest32
{
    /// <summary>Bytes in a digest.</summary>
    public const int Size = 32;
    private byte _e0;
}
