namespace FastBft.Agreement.MinBft;

/// <summary>
/// The last <see cref="Capacity"/> certified COMMITs one sender's counter order handled here, as sent (header, body, USIG
/// trailer; about 170 bytes each), so that a replica that lost one can get it relayed (UI-FETCH for another replica's
/// messages, docs/minbft.md §2): a crashed or faulty sender does not re-send it, and without it the asker's counter order
/// for that sender waits for good — before a NEW-VIEW of that sender, too. The buffers are reused (no allocation per
/// COMMIT once the ring is full). Relaying cannot forge or reorder anything: the asker checks the UI like any certified message.
/// </summary>
internal sealed class RecentCommits(int capacity)
{
    private readonly byte[]?[] _messages = new byte[]?[capacity];
    private readonly int[] _lengths = new int[capacity];
    private readonly ulong[] _epochs = new ulong[capacity], _counters = new ulong[capacity];   // the UIs, so a lookup parses one message only
    private int _next;

    /// <summary>Entries kept (the oldest is overwritten).</summary>
    public int Capacity => _messages.Length;

    /// <summary>Keeps a copy of <paramref name="message"/>, overwriting the oldest entry.</summary>
    public void Add(ReadOnlySpan<byte> message)
    {
        ref var slot = ref _messages[_next];
        if (slot is null || slot.Length < message.Length) slot = new byte[message.Length];
        message.CopyTo(slot);
        _lengths[_next] = message.Length;
        CertifiedOutbox.ReadUi(message, out _epochs[_next], out _counters[_next]);
        _next = (_next + 1) % _messages.Length;
    }

    /// <summary>The kept COMMIT certified by <paramref name="of"/> with UI (<paramref name="epoch"/> or any epoch when 0, <paramref name="counter"/>).</summary>
    public bool TryFind(uint of, ulong epoch, ulong counter, out ReadOnlySpan<byte> message)
    {
        for (int i = 0; i < _messages.Length; i++)
        {
            if (_messages[i] is not { } m || _counters[i] != counter || (epoch != 0 && _epochs[i] != epoch)) continue;
            var span = m.AsSpan(0, _lengths[i]);
            if (MinBftReplica.IsCertifiedBy(span, of, epoch, counter)) { message = span; return true; }
        }
        message = default;
        return false;
    }
}
