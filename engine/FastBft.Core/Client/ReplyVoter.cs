using FastBft.Agreement;
using FastBft.Wire;

namespace FastBft.Client;

/// <summary>
/// The sans-I/O voting state machine of a BFT client (Thesis §2.1.1.4; PBFT-PR §4.2): for the one
/// outstanding request id it collects verified REPLY messages, one vote per replica, and accepts a
/// full result once f+1 distinct replicas sent matching replies (full result or its SHA-256), at
/// least one of them the full result. Used by <c>BftClient</c> and by the deterministic
/// simulator's clients. Allocation-free once its buffers have grown to the largest result.
/// </summary>
public sealed class ReplyVoter
{
    private readonly int _f;
    private byte[] _result = new byte[64];
    private int _resultLength;
    private readonly byte[][] _fullReplies;
    private readonly int[] _fullLengths;
    private readonly MatchingVotes _votes;     // result digest per replica (its latest reply counts)
    private ulong _fullMask;

    /// <summary>Creates a voter for a cell of <paramref name="n"/> replicas tolerating <paramref name="f"/> faults.</summary>
    public ReplyVoter(int n, int f)
    {
        _f = f;
        _fullReplies = new byte[n][];
        for (int i = 0; i < n; i++) _fullReplies[i] = new byte[64];
        _fullLengths = new int[n];
        _votes = new MatchingVotes(n);
    }

    /// <summary>Request id being voted on.</summary>
    public ulong RequestId { get; private set; }
    /// <summary>True while a request is outstanding (between <see cref="Start"/> and acceptance).</summary>
    public bool Outstanding { get; private set; }
    /// <summary>View of the reply that completed the vote.</summary>
    public ulong View { get; private set; }
    /// <summary>The accepted result (valid until the next <see cref="Start"/>).</summary>
    public ReadOnlyMemory<byte> Result => new(_result, 0, _resultLength);

    /// <summary>Starts voting on request <paramref name="rid"/>; earlier votes are forgotten.</summary>
    public void Start(ulong rid)
    {
        RequestId = rid;
        _votes.Clear(); _fullMask = 0;
        Outstanding = true;
    }

    /// <summary>Stops voting without a result (e.g. shutdown).</summary>
    public void Cancel() => Outstanding = false;

    /// <summary>
    /// Records a REPLY that <see cref="FastBft.Verification.MessageVerifier"/> accepted for this client. Returns true exactly
    /// when this reply completes the vote (then <see cref="Result"/> and <see cref="View"/> are set).
    /// </summary>
    public bool OnReply(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (!Outstanding || h.Sequence != RequestId) return false;
        var body = MessageHeader.Body(message, h);
        int r = (int)h.Sender;
        if (r >= _fullReplies.Length) return false;
        ulong bit = 1UL << r;
        Span<byte> vote = stackalloc byte[Digests.Size];
        var payload = body.Slice(Bodies.ReplyFixed);
        if (body[4] == Bodies.ReplyFull)
        {
            Digests.Sha256(payload, vote);
            if (_fullReplies[r].Length < payload.Length) _fullReplies[r] = new byte[Math.Max(payload.Length, _fullReplies[r].Length * 2)];
            payload.CopyTo(_fullReplies[r]);
            _fullLengths[r] = payload.Length;
            _fullMask |= bit;
        }
        else
        {
            payload.CopyTo(vote);
            _fullMask &= ~bit;
        }
        _votes.Replace((uint)r, vote);
        return TryComplete(h.View);
    }

    /// <summary>
    /// True when f+1 replicas sent matching replies but none of them the full result — the designated
    /// replier is slow, faulty or gone. The client then retransmits at once (replicas answer a
    /// retransmission of an executed request with the full cached reply) instead of waiting a whole
    /// retransmission timeout.
    /// </summary>
    public bool MatchingDigestsWithoutFullResult()
    {
        // a matching full reply would have completed the vote already
        return Outstanding && _votes.Count >= _f + 1 && _votes.TryFindQuorum(_f + 1, out _);
    }

    private bool TryComplete(ulong view)
    {
        ulong full = _fullMask;
        while (full != 0)
        {
            int i = System.Numerics.BitOperations.TrailingZeroCount(full);
            full &= full - 1;
            if (_votes.CountMatching(_votes.VoteOf((uint)i)) >= _f + 1)
            {
                int len = _fullLengths[i];
                if (_result.Length < len) _result = new byte[Math.Max(len, _result.Length * 2)];
                _fullReplies[i].AsSpan(0, len).CopyTo(_result);
                _resultLength = len;
                View = view;
                Outstanding = false;
                return true;
            }
        }
        return false;
    }
}
