using FastBft.Wire;

namespace FastBft.Agreement.ReMinBft;

/// <summary>
/// One instance's update content (Thesis §5.4.2 "Execution Stage"; <see cref="FastBft.Execution.UpdateContent"/> layout): at an
/// active replica the content it executed (kept for re-sends within the window), at a passive replica the full content it
/// received and every active replica's UPDATE digest. Buffers grow once and are reused (ring of 2L slots).
/// </summary>
internal sealed class UpdateSlot
{
    public ulong Seq;
    private byte[] _content = new byte[256];
    private int _length;
    public readonly byte[] ContentDigest = new byte[Digests.Size];
    public bool HasContent;
    /// <summary>Per active sender the digest of its latest UPDATE for <see cref="Seq"/>.</summary>
    public readonly MatchingVotes Votes;

    public UpdateSlot(int n) => Votes = new MatchingVotes(n);

    public ReadOnlySpan<byte> Content => _content.AsSpan(0, _length);

    public void Reset(ulong seq)
    {
        Seq = seq;
        HasContent = false;
        _length = 0;
        Votes.Clear();
    }

    /// <summary>Stores <paramref name="content"/> and its SHA-256.</summary>
    public void StoreContent(ReadOnlySpan<byte> content)
    {
        Span<byte> d = stackalloc byte[Digests.Size];
        Digests.Sha256(content, d);
        StoreContent(content, d);
    }

    /// <summary>Stores <paramref name="content"/> whose SHA-256 the caller computed.</summary>
    public void StoreContent(ReadOnlySpan<byte> content, ReadOnlySpan<byte> digest)
    {
        if (_content.Length < content.Length) _content = new byte[Math.Max(content.Length, 2 * _content.Length)];
        content.CopyTo(_content);
        _length = content.Length;
        digest.CopyTo(ContentDigest);
        HasContent = true;
    }
}
