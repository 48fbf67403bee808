using System.Buffers.Binary;

namespace FastBft.Execution;

/// <summary>
/// The update content of one batch (Thesis §5.2.2, §5.3.1.2; PROTOCOLS.md G6): what an executing replica sends
/// a passive one so that it reaches the same state and reply cache without executing —
/// count[4] ‖ count × (client[4] ‖ rid[8] ‖ replyLength[4] ‖ reply ‖ updateLength[4] ‖ update), little-endian.
/// Replies and updates are compared as a whole (the SHA-256 of the content), so they must hold no replica-specific data.
/// </summary>
public static class UpdateContent
{
    /// <summary>Fixed bytes per entry besides the reply and the update.</summary>
    public const int EntryFixed = 20;

    /// <summary>True if <paramref name="content"/> is exactly count well-formed entries (no trailing bytes, no length beyond the content). Never throws.</summary>
    public static bool IsWellFormed(ReadOnlySpan<byte> content)
    {
        if (content.Length < 4) return false;
        int count = BinaryPrimitives.ReadInt32LittleEndian(content);
        if (count < 0) return false;
        var rest = content.Slice(4);
        for (int i = 0; i < count; i++)
        {
            if (rest.Length < EntryFixed) return false;
            int replyLength = BinaryPrimitives.ReadInt32LittleEndian(rest.Slice(12));
            if (replyLength < 0 || replyLength > rest.Length - EntryFixed) return false;
            int updateLength = BinaryPrimitives.ReadInt32LittleEndian(rest.Slice(16 + replyLength));
            if (updateLength < 0 || updateLength > rest.Length - EntryFixed - replyLength) return false;
            rest = rest.Slice(EntryFixed + replyLength + updateLength);
        }
        return rest.Length == 0;
    }

    /// <summary>Reads the entries of well-formed content (check <see cref="IsWellFormed"/> first).</summary>
    public ref struct Reader
    {
        private ReadOnlySpan<byte> _rest;
        private int _remaining;

        /// <summary>Starts reading <paramref name="content"/>.</summary>
        public Reader(ReadOnlySpan<byte> content)
        {
            _remaining = BinaryPrimitives.ReadInt32LittleEndian(content);
            _rest = content.Slice(4);
        }

        /// <summary>The next entry; false at the end.</summary>
        public bool Next(out uint client, out ulong rid, out ReadOnlySpan<byte> reply, out ReadOnlySpan<byte> update)
        {
            if (_remaining <= 0) { client = 0; rid = 0; reply = default; update = default; return false; }
            client = BinaryPrimitives.ReadUInt32LittleEndian(_rest);
            rid = BinaryPrimitives.ReadUInt64LittleEndian(_rest.Slice(4));
            int rl = BinaryPrimitives.ReadInt32LittleEndian(_rest.Slice(12));
            reply = _rest.Slice(16, rl);
            int ul = BinaryPrimitives.ReadInt32LittleEndian(_rest.Slice(16 + rl));
            update = _rest.Slice(20 + rl, ul);
            _rest = _rest.Slice(EntryFixed + rl + ul);
            _remaining--;
            return true;
        }
    }
}
