using System.Buffers.Binary;
using FastBft.Auth;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Agreement.MinBft;

/// <summary>
/// Test hooks of the deterministic simulator's counter-order oracle (docs/simulation.md, "MinBFT"). Nothing here changes
/// what the core does: <see cref="CertifiedHandled"/> only observes, and <see cref="HandleIgnoringCounterOrderForTest"/>
/// is the planted bug the oracle's own test injects (never called outside tests).
/// </summary>
public sealed partial class MinBftReplica
{
    /// <summary>
    /// Test hook (null in production): called each time the core acts on a certified message of a peer — hands it to the
    /// agreement logic (<c>HandleInOrder</c>), including the retries of a parked message — with the sender, the type and
    /// the UI (epoch, counter) of the message. The simulator's counter-order oracle checks that for every sender the
    /// counters come as c, c (a parked retry) or c+1, never skipping one and never going back.
    /// </summary>
    public Action<uint, MessageType, ulong, ulong>? CertifiedHandled { get; set; }

    /// <summary>The one call in <c>HandleInOrder</c>: reports the UI of the message being acted on to <see cref="CertifiedHandled"/>.</summary>
    private void ObserveCertifiedHandled(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (CertifiedHandled is not { } hook) return;
        var trailer = MessageHeader.Authenticator(message, h);
        if (trailer.Length < Authenticator.TrailerHeaderSize + 16) return;
        var ui = trailer.Slice(Authenticator.TrailerHeaderSize);
        hook(h.Sender, h.Type, BinaryPrimitives.ReadUInt64LittleEndian(ui), BinaryPrimitives.ReadUInt64LittleEndian(ui.Slice(8)));
    }

    /// <summary>
    /// Installing a NEW-VIEW moves sender <paramref name="j"/>'s counter order past its VIEW-CHANGE (docs/minbft.md §5.5):
    /// when that VIEW-CHANGE is exactly the next counter expected, the core has acted on it — in the NEW-VIEW, in order —
    /// and reports it like a handled message. (A jump over counters never received is a gap the NEW-VIEW closes, and is
    /// not reported as in order.)
    /// </summary>
    private void ObserveInstalledViewChange(uint j, ulong epoch, ulong counter)
        => CertifiedHandled?.Invoke(j, MessageType.UiViewChange, epoch, counter);

    /// <summary>
    /// Test hook (null in production): called when installing a NEW-VIEW moves sender j's counter order to just past
    /// (epoch, counter), the UI of j's VIEW-CHANGE that the NEW-VIEW carries (docs/minbft.md §5.5) — the only way the core
    /// skips counters it never handled. The oracle then expects counter + 1 of that epoch next.
    /// </summary>
    public Action<uint, ulong, ulong>? CounterOrderJumped { get; set; }

    /// <summary>
    /// PLANTED BUG, tests only: acts on a verified certified message at once, bypassing the sender's counter order (what a
    /// core without its per-sender counter-order buffer would do). The simulator's counter-order oracle must report it.
    /// </summary>
    public void HandleIgnoringCounterOrderForTest(in VerifiedMessage m)
    {
        ref readonly var h = ref m.Header;
        if (h.Type is not (MessageType.UiPrepare or MessageType.UiCommit or MessageType.UiCheckpoint) || !m.HasUi || h.Sender >= (uint)_n || h.Sender == _id)
        {
            OnMessage(m);
            return;
        }
        if (h.Type == MessageType.UiCheckpoint) NoteCheckpointVote(h, m.Message);
        HandleInOrder(h, m.Message, m.RequestsAuthenticated);
    }
}
