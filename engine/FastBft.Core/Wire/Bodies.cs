using System.Buffers.Binary;

namespace FastBft.Wire;

/// <summary>Layouts of message bodies (docs/wire-format.md §2.3). Parsing is in place over spans.</summary>
public static class Bodies
{
    /// <summary>PRE-PREPARE body prefix: batch digest [32] ‖ count [2] ‖ flags [2] (0 except a ReMinBFT SWITCH-BACK batch, <see cref="SwitchBackFlag"/>).</summary>
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

    /// <summary>Bit 15 of a batch's flags: the ReMinBFT SWITCH-BACK batch (docs/reminbft.md §7); bits 0–7 name the next
    /// generation's leader, bits 8–14 are zero. Only the ReMinBFT family may carry it (the verifier rejects it elsewhere).</summary>
    public const ushort SwitchBackFlag = 0x8000;

    /// <summary>The flags field (bytes 34–35) of a validated PRE-PREPARE body: 0 for every ordinary batch.</summary>
    public static ushort BatchFlags(ReadOnlySpan<byte> prePrepareBody) => BinaryPrimitives.ReadUInt16LittleEndian(prePrepareBody.Slice(34));

    /// <summary>The flags of a SWITCH-BACK batch whose next generation is led by <paramref name="leader"/> (&lt; 256).</summary>
    public static ushort SwitchBackFlags(uint leader) => (ushort)(SwitchBackFlag | (leader & 0xFF));

    /// <summary>True if <paramref name="flags"/> is 0 or a well-formed SWITCH-BACK flag naming a leader below <paramref name="n"/>.</summary>
    public static bool ValidBatchFlags(ushort flags, int n) => flags == 0 || ((flags & 0x7F00) == 0 && (flags & SwitchBackFlag) != 0 && (flags & 0xFF) < n);

    /// <summary>
    /// D(batch) of a batch with <paramref name="flags"/>, from D₀ = SHA-256 of its request digests (<see cref="Digests.Batch"/>)
    /// in <paramref name="digest"/>: unchanged for flags 0, else SHA-256(D₀ ‖ flags[2]) — the digest that PREPAREs, COMMITs
    /// and NEW-VIEWs name covers the flag, so a NEW-VIEW re-proposes the flag with the batch (docs/reminbft.md §7.1 R-b).
    /// </summary>
    public static void ApplyFlagsToDigest(ushort flags, Span<byte> digest)
    {
        if (flags == 0) return;
        Span<byte> buf = stackalloc byte[Digests.Size + 2];
        digest.Slice(0, Digests.Size).CopyTo(buf);
        BinaryPrimitives.WriteUInt16LittleEndian(buf.Slice(Digests.Size), flags);
        Digests.Sha256(buf, digest);
    }

    /// <summary>Sets the flags of a batch body whose digest was written for flags 0, and updates its digest field.</summary>
    public static void SetBatchFlags(Span<byte> prePrepareBody, ushort flags)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(prePrepareBody.Slice(34), flags);
        ApplyFlagsToDigest(flags, prePrepareBody.Slice(0, Digests.Size));
    }
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
