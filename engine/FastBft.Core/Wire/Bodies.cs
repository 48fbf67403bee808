using System.Buffers.Binary;

namespace FastBft.Wire;

/// <summary>Layouts of message bodies (docs/wire-format.md §2.3). Parsing is in place over spans.</summary>
public static class Bodies
{
    /// <summary>PRE-PREPARE body prefix: batch digest [32] ‖ count [2] ‖ 0 [2].</summary>
    public const int PrePrepareFixed = 36;
    /// <summary>Per-request entry prefix inside a PRE-PREPARE: length [4].</summary>
    public const int BatchEntryPrefix = 4;
    /// <summary>REPLY body prefix: client id [4] ‖ form [1] ‖ 0 [3].</summary>
    public const int ReplyFixed = 8;
    /// <summary>REPLY form: full result.</summary>
    public const byte ReplyFull = 0;
    /// <summary>REPLY form: SHA-256 of the result.</summary>
    public const byte ReplyDigest = 1;

    /// <summary>Number of requests in a PRE-PREPARE body (caller has validated the body).</summary>
    public static int BatchCount(ReadOnlySpan<byte> prePrepareBody) => BinaryPrimitives.ReadUInt16LittleEndian(prePrepareBody.Slice(32));

    /// <summary>The batch digest field of a PRE-PREPARE body.</summary>
    public static ReadOnlySpan<byte> BatchDigest(ReadOnlySpan<byte> prePrepareBody) => prePrepareBody.Slice(0, 32);
}

/// <summary>
/// Iterates the embedded REQUEST messages of a validated PRE-PREPARE body. A ref struct enumerator:
/// no allocation.
/// </summary>
public ref struct BatchReader
{
    private ReadOnlySpan<byte> _rest;
    private int _remaining;

    /// <summary>Starts reading <paramref name="prePrepareBody"/> (already validated by the verifier).</summary>
    public BatchReader(ReadOnlySpan<byte> prePrepareBody)
    {
        _remaining = Bodies.BatchCount(prePrepareBody);
        _rest = prePrepareBody.Slice(Bodies.PrePrepareFixed);
    }

    /// <summary>Next embedded REQUEST message (header ‖ body ‖ authenticator); false at the end.</summary>
    public bool Next(out ReadOnlySpan<byte> request)
    {
        if (_remaining == 0 || _rest.Length < Bodies.BatchEntryPrefix) { request = default; return false; }
        int len = BinaryPrimitives.ReadInt32LittleEndian(_rest);
        request = _rest.Slice(Bodies.BatchEntryPrefix, len);
        _rest = _rest.Slice(Bodies.BatchEntryPrefix + len);
        _remaining--;
        return true;
    }
}
