namespace FastBft.TrustedHw;

/// <summary>Outcome of offering a certified message to a <see cref="CounterOrderBuffer{TMessage}"/>.</summary>
public enum CounterOrderStatus
{
    /// <summary>The message carries the next expected counter; take it with <see cref="CounterOrderBuffer{TMessage}.TryTakeNext"/>.</summary>
    InOrder = 0,

    /// <summary>The message is ahead of the next expected counter and waits in the buffer: a gap precedes it
    /// (counters <see cref="CounterOrderResult.ExpectedCounter"/> .. counter − 1 are not all present). Ask for retransmission.</summary>
    BufferedAfterGap = 1,

    /// <summary>Counter below the next expected one, or the same counter is already buffered: dropped.</summary>
    Duplicate = 2,

    /// <summary>Epoch older than the sender's current epoch: dropped.</summary>
    StaleEpoch = 3,

    /// <summary>Epoch newer than the sender's current epoch: the sender's USIG restarted. Not accepted and not buffered;
    /// the protocol decides (checkpoint / view change) and then calls <see cref="CounterOrderBuffer{TMessage}.AcceptEpoch"/>.</summary>
    NewEpoch = 4,

    /// <summary>The counter is at least <c>capacity</c> ahead of the next expected one: the bounded buffer cannot hold it; dropped and counted.</summary>
    Overflow = 5,

    /// <summary>The sender is not registered (see <see cref="CounterOrderBuffer{TMessage}.Register"/>): dropped.</summary>
    UnknownSender = 6,

    /// <summary>The proof does not verify (reported by <see cref="UsigVerifier{TMessage}"/> only): dropped.</summary>
    InvalidProof = 7,
}

/// <summary>Result of <see cref="CounterOrderBuffer{TMessage}.Offer"/>: the status and the sender's state after the call.</summary>
/// <param name="Status">What happened to the message.</param>
/// <param name="ExpectedEpoch">The sender's accepted epoch.</param>
/// <param name="ExpectedCounter">The next counter expected from the sender (the start of a gap when buffered after one).</param>
public readonly record struct CounterOrderResult(CounterOrderStatus Status, ulong ExpectedEpoch, ulong ExpectedCounter)
{
    /// <summary>True when the message was stored (in order or after a gap).</summary>
    public bool Stored => Status is CounterOrderStatus.InOrder or CounterOrderStatus.BufferedAfterGap;
}

/// <summary>Snapshot of one sender's ordering state.</summary>
/// <param name="Epoch">Accepted epoch.</param>
/// <param name="ExpectedCounter">Next expected counter.</param>
/// <param name="Buffered">Messages waiting (including one at the expected counter not yet taken).</param>
/// <param name="HighestBufferedCounter">Highest buffered counter, 0 if none.</param>
/// <param name="ObservedNewEpoch">Highest newer epoch seen and not yet accepted, 0 if none.</param>
/// <param name="Overflows">Messages dropped because the buffer was full.</param>
/// <param name="Duplicates">Messages dropped as duplicates or old.</param>
public readonly record struct CounterOrderSenderState(
    ulong Epoch, ulong ExpectedCounter, int Buffered, ulong HighestBufferedCounter, ulong ObservedNewEpoch, long Overflows, long Duplicates);

/// <summary>
/// Receiver side of USIG counter order (Thesis §2.2.1, §5.4.1; PROTOCOLS.md §2.5): per remote replica, the next expected
/// (epoch, counter); messages ahead wait in a bounded per-sender buffer; duplicates and old messages are dropped;
/// gaps are reported; a new epoch is reported and only accepted through <see cref="AcceptEpoch"/>.
/// Generic over the message handle so MinBFT/ReMinBFT can keep whatever they parse into.
/// </summary>
/// <remarks>Not thread-safe: owned by the single-threaded protocol core. Allocation-free after construction
/// (each sender has a ring of <c>capacity</c> slots indexed by counter modulo capacity).
/// This class does not check proofs; use <see cref="UsigVerifier{TMessage}"/> or verify before <see cref="Offer"/>.</remarks>
/// <typeparam name="TMessage">The message handle stored while a message waits.</typeparam>
public sealed class CounterOrderBuffer<TMessage>
{
    private readonly Sender?[] _senders;
    private readonly int _capacity;

    /// <summary>Creates the buffer.</summary>
    /// <param name="maxSenders">Sender ids must be in [0, maxSenders).</param>
    /// <param name="capacityPerSender">Bound on how far ahead of the expected counter a message may be and still wait
    /// (messages at expected + capacity or beyond are reported as <see cref="CounterOrderStatus.Overflow"/>). ≥ 1.</param>
    /// <exception cref="ArgumentOutOfRangeException">Non-positive arguments.</exception>
    public CounterOrderBuffer(int maxSenders, int capacityPerSender)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxSenders);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacityPerSender);
        _senders = new Sender?[maxSenders];
        _capacity = capacityPerSender;
    }

    /// <summary>Per-sender capacity.</summary>
    public int CapacityPerSender => _capacity;

    /// <summary>Registers a sender with the (epoch, next counter) distributed at start-up (CloudFIT §2.3 via PROTOCOLS.md §2.4).</summary>
    /// <param name="senderId">Sender id, &lt; maxSenders.</param>
    /// <param name="epoch">The sender's current epoch.</param>
    /// <param name="nextCounter">The first counter to accept (≥ 1; usually 1).</param>
    /// <exception cref="ArgumentOutOfRangeException">Id out of range or nextCounter = 0.</exception>
    /// <exception cref="InvalidOperationException">The sender is already registered (use <see cref="AcceptEpoch"/>).</exception>
    public void Register(uint senderId, ulong epoch, ulong nextCounter = 1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(senderId, (uint)_senders.Length);
        ArgumentOutOfRangeException.ThrowIfZero(nextCounter);
        if (_senders[senderId] is not null)
        {
            throw new InvalidOperationException($"Sender {senderId} is already registered; change its epoch with AcceptEpoch.");
        }

        _senders[senderId] = new Sender(_capacity) { Epoch = epoch, Expected = nextCounter };
    }

    /// <summary>Classifies a UI without storing anything (lets a verifier skip proof checks for messages that would be dropped).</summary>
    /// <param name="senderId">Sender id.</param>
    /// <param name="ui">The message's UI.</param>
    /// <returns>The status <see cref="Offer"/> would return, except that an occupied slot is reported as Duplicate here too.</returns>
    public CounterOrderResult Classify(uint senderId, in UniqueIdentifier ui)
    {
        Sender? s = senderId < (uint)_senders.Length ? _senders[senderId] : null;
        if (s is null)
        {
            return new CounterOrderResult(CounterOrderStatus.UnknownSender, 0, 0);
        }

        return new CounterOrderResult(ClassifyCore(s, ui), s.Epoch, s.Expected);
    }

    /// <summary>Offers a certified message whose proof has already been verified.</summary>
    /// <param name="senderId">Sender id.</param>
    /// <param name="ui">The message's UI.</param>
    /// <param name="message">The handle to store.</param>
    /// <returns>The status and the sender's expected (epoch, counter).</returns>
    public CounterOrderResult Offer(uint senderId, in UniqueIdentifier ui, TMessage message)
    {
        Sender? s = senderId < (uint)_senders.Length ? _senders[senderId] : null;
        if (s is null)
        {
            return new CounterOrderResult(CounterOrderStatus.UnknownSender, 0, 0);
        }

        CounterOrderStatus status = ClassifyCore(s, ui);
        switch (status)
        {
            case CounterOrderStatus.InOrder:
            case CounterOrderStatus.BufferedAfterGap:
                int slot = (int)(ui.Counter % (ulong)_capacity);
                s.Messages[slot] = message;
                s.Counters[slot] = ui.Counter;
                s.Count++;
                if (ui.Counter > s.Highest)
                {
                    s.Highest = ui.Counter;
                }

                break;
            case CounterOrderStatus.NewEpoch:
                if (ui.Epoch > s.ObservedNewEpoch)
                {
                    s.ObservedNewEpoch = ui.Epoch;
                }

                break;
            case CounterOrderStatus.Overflow:
                s.Overflows++;
                break;
            case CounterOrderStatus.Duplicate:
            case CounterOrderStatus.StaleEpoch:
                s.Duplicates++;
                break;
        }

        return new CounterOrderResult(status, s.Epoch, s.Expected);
    }

    /// <summary>Takes the message with the next expected counter if it is present, and advances the expected counter.
    /// Call in a loop after an <see cref="CounterOrderStatus.InOrder"/> offer to drain everything that became contiguous.</summary>
    /// <param name="senderId">Sender id.</param>
    /// <param name="message">The message, or default.</param>
    /// <param name="counter">Its counter, or 0.</param>
    /// <returns>True when a message was taken.</returns>
    public bool TryTakeNext(uint senderId, out TMessage message, out ulong counter)
    {
        Sender? s = senderId < (uint)_senders.Length ? _senders[senderId] : null;
        if (s is not null && s.Count > 0)
        {
            int slot = (int)(s.Expected % (ulong)_capacity);
            if (s.Counters[slot] == s.Expected)
            {
                message = s.Messages[slot];
                counter = s.Expected;
                s.Messages[slot] = default!;
                s.Counters[slot] = 0;
                s.Count--;
                s.Expected++;
                if (s.Count == 0)
                {
                    s.Highest = 0;
                }

                return true;
            }
        }

        message = default!;
        counter = 0;
        return false;
    }

    /// <summary>
    /// The protocol-defined path for a sender's new epoch (MinBFT checkpoints / view changes): switches the sender to
    /// <paramref name="newEpoch"/> starting at <paramref name="nextCounter"/> and drops everything buffered for the old epoch.
    /// </summary>
    /// <param name="senderId">Sender id.</param>
    /// <param name="newEpoch">Must be greater than the sender's current epoch.</param>
    /// <param name="nextCounter">First counter to accept in the new epoch (≥ 1), as established by the protocol.</param>
    /// <returns>The number of buffered messages dropped.</returns>
    /// <exception cref="InvalidOperationException">Unknown sender.</exception>
    /// <exception cref="ArgumentOutOfRangeException">newEpoch not greater than the current epoch, or nextCounter = 0.</exception>
    public int AcceptEpoch(uint senderId, ulong newEpoch, ulong nextCounter)
    {
        Sender s = (senderId < (uint)_senders.Length ? _senders[senderId] : null)
            ?? throw new InvalidOperationException($"Sender {senderId} is not registered.");
        if (newEpoch <= s.Epoch)
        {
            throw new ArgumentOutOfRangeException(nameof(newEpoch), $"New epoch {newEpoch} must be greater than sender {senderId}'s epoch {s.Epoch}.");
        }

        ArgumentOutOfRangeException.ThrowIfZero(nextCounter);
        int dropped = s.Count;
        Array.Clear(s.Messages);
        Array.Clear(s.Counters);
        s.Count = 0;
        s.Highest = 0;
        s.Epoch = newEpoch;
        s.Expected = nextCounter;
        if (s.ObservedNewEpoch <= newEpoch)
        {
            s.ObservedNewEpoch = 0;
        }

        return dropped;
    }

    /// <summary>Snapshot of a sender's state (for retransmission requests, metrics and tests).</summary>
    /// <exception cref="InvalidOperationException">Unknown sender.</exception>
    public CounterOrderSenderState GetState(uint senderId)
    {
        Sender s = (senderId < (uint)_senders.Length ? _senders[senderId] : null)
            ?? throw new InvalidOperationException($"Sender {senderId} is not registered.");
        return new CounterOrderSenderState(s.Epoch, s.Expected, s.Count, s.Highest, s.ObservedNewEpoch, s.Overflows, s.Duplicates);
    }

    private CounterOrderStatus ClassifyCore(Sender s, in UniqueIdentifier ui)
    {
        if (ui.Epoch < s.Epoch)
        {
            return CounterOrderStatus.StaleEpoch;
        }

        if (ui.Epoch > s.Epoch)
        {
            return CounterOrderStatus.NewEpoch;
        }

        if (ui.Counter < s.Expected)
        {
            return CounterOrderStatus.Duplicate;
        }

        ulong ahead = ui.Counter - s.Expected;
        if (ahead >= (ulong)_capacity)
        {
            return CounterOrderStatus.Overflow;
        }

        if (s.Counters[(int)(ui.Counter % (ulong)_capacity)] == ui.Counter)
        {
            return CounterOrderStatus.Duplicate;
        }

        return ahead == 0 ? CounterOrderStatus.InOrder : CounterOrderStatus.BufferedAfterGap;
    }

    private sealed class Sender(int capacity)
    {
        public readonly TMessage[] Messages = new TMessage[capacity];
        public readonly ulong[] Counters = new ulong[capacity];
        public ulong Epoch;
        public ulong Expected;
        public int Count;
        public ulong Highest;
        public ulong ObservedNewEpoch;
        public long Overflows;
        public long Duplicates;
    }
}

/// <summary>
/// Receiver pipeline for certified messages: cheap ordering checks first, then the proof check through an
/// <see cref="IUsig"/> (on the device, or in software), then <see cref="CounterOrderBuffer{TMessage}.Offer"/>.
/// A new epoch is only reported for UIs whose proof verifies, so a forged UI cannot fake a restart report.
/// Seed: Thesis §5.4.1 (checkCertificate; "process in counter order, wait on a gap"); PROTOCOLS.md §2.5.
/// </summary>
/// <typeparam name="TMessage">The message handle.</typeparam>
public sealed class UsigVerifier<TMessage>
{
    private readonly IUsig _usig;

    /// <summary>Creates the verifier.</summary>
    /// <param name="usig">The local USIG instance used to check proofs.</param>
    /// <param name="buffer">The ordering buffer (owned by the protocol core).</param>
    public UsigVerifier(IUsig usig, CounterOrderBuffer<TMessage> buffer)
    {
        _usig = usig ?? throw new ArgumentNullException(nameof(usig));
        Buffer = buffer ?? throw new ArgumentNullException(nameof(buffer));
    }

    /// <summary>The ordering buffer; drain it with <see cref="CounterOrderBuffer{TMessage}.TryTakeNext"/>.</summary>
    public CounterOrderBuffer<TMessage> Buffer { get; }

    /// <summary>Checks and offers a certified message.</summary>
    /// <param name="senderId">Sender (= certifying instance id).</param>
    /// <param name="digest">32-byte digest of the message.</param>
    /// <param name="ui">The message's UI.</param>
    /// <param name="message">Handle to buffer.</param>
    /// <returns>The status; <see cref="CounterOrderStatus.InvalidProof"/> when the proof fails.</returns>
    /// <exception cref="ArgumentException">Digest not 32 bytes.</exception>
    /// <exception cref="UsigException">The local USIG failed while verifying.</exception>
    public CounterOrderResult Receive(uint senderId, ReadOnlySpan<byte> digest, in UniqueIdentifier ui, TMessage message)
    {
        CounterOrderResult pre = Buffer.Classify(senderId, ui);
        switch (pre.Status)
        {
            case CounterOrderStatus.UnknownSender:
            case CounterOrderStatus.Duplicate:
            case CounterOrderStatus.StaleEpoch:
            case CounterOrderStatus.Overflow:
                return Buffer.Offer(senderId, ui, message); // counts the drop; nothing stored
        }

        if (!_usig.VerifyUI(senderId, digest, ui))
        {
            return new CounterOrderResult(CounterOrderStatus.InvalidProof, pre.ExpectedEpoch, pre.ExpectedCounter);
        }

        return Buffer.Offer(senderId, ui, message);
    }
}
