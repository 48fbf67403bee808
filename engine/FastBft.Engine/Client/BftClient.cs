using System.Buffers.Binary;
using System.Threading.Tasks.Sources;
using FastBft.Auth;
using FastBft.Config;
using FastBft.Verification;
using FastBft.Wire;

namespace FastBft.Client;

/// <summary>
/// One BFT client identity (client id): at most one outstanding request (Thesis §2.1.2.1).
/// <see cref="InvokeAsync"/> completes once f+1 replicas sent matching replies, at least one of them
/// the full result (Thesis §2.1.1.4 "hash optimization"); on timeout the request is retransmitted to
/// all replicas (PBFT-PR §4.2) with exponential back-off (PBFT-PR §4.6.1). In a cell whose protocol switches
/// (repbft, repbft-star, reminbft) a request that has hit its retransmission timeout
/// timeouts.client_panic_retransmissions times also sends a PANIC to every replica with that retransmission and
/// with every later one (Thesis §5.3.2.1; PROTOCOLS.md §5.5.1, G9).
/// Created by <see cref="ClientEndpoint.CreateClient"/>; its I/O happens on the endpoint's thread.
/// </summary>
public sealed class BftClient : IValueTaskSource<ReadOnlyMemory<byte>>
{
    private readonly ClientEndpoint _endpoint;
    private readonly MessageBuilder _builder;
    private readonly int _n, _f;
    private ManualResetValueTaskSourceCore<ReadOnlyMemory<byte>> _source;
    private byte[] _request = new byte[256];
    private int _requestLength, _operationLength;
    private readonly ReplyVoter _voter;
    private ulong _rid;
    private volatile bool _outstanding;
    private int _retries;
    private readonly bool _switches;
    private readonly int _panicAfter;
    private int _stalls;                 // full retransmission timeouts of the current request (not expedited retransmissions)
    private bool _expeditePending;       // the current deadline is an expedited one (OnReply shortened it)
    private byte[]? _panic;              // PANIC for request _panicRid, built on the first stall that needs one
    private int _panicLength;
    private ulong _panicRid;

    internal readonly MessageVerifier Verifier;
    /// <summary>Extended ODRC cells: verifies REPLYs of the execution-only replicas (ids n..E-1); null otherwise.</summary>
    internal MessageVerifier? ExecutionVerifier;
    internal long DeadlineTicks;
    internal long SentTicks;
    private bool _expedited;

    internal BftClient(ClientEndpoint endpoint, uint clientId, KeyStore keys, CellConfig config, ulong firstRequestId, MessageVerifier verifier)
    {
        _endpoint = endpoint;
        Id = clientId;
        _n = config.N;
        _f = config.F;
        _builder = new MessageBuilder(new Authenticator(clientId, keys), _n, 1024) { Family = config.Shape.Family };
        Verifier = verifier;
        _switches = Switches(config.Shape.Protocol);
        _panicAfter = config.Timeouts.ClientPanicRetransmissions;
        _voter = new ReplyVoter(config.ExecutionReplicaCount, _f);   // E voters: an extended ODRC cell's execution-only replicas reply too
        _rid = firstRequestId;
        _source.RunContinuationsAsynchronously = false;
    }

    /// <summary>Client id (≥ the cell's first_client_id).</summary>
    public uint Id { get; }
    /// <summary>Request id of the current or last request.</summary>
    public ulong RequestId => _rid;
    /// <summary>View learned from the last accepted reply; the primary is View mod n.</summary>
    public ulong View { get; private set; }
    /// <summary>Requests completed.</summary>
    public long Completed { get; private set; }
    /// <summary>Retransmissions sent.</summary>
    public long Retransmissions { get; private set; }
    /// <summary>PANICs sent (switching protocols only): one per retransmission that carried a PANIC to every replica.</summary>
    public long Panics { get; private set; }

    /// <summary>True if clients of <paramref name="protocol"/> send PANIC when their result stalls: the protocols that switch
    /// to a fallback protocol (RePBFT, RePBFT*, ReMinBFT; Thesis §5.3.2.1, §5.4.3).</summary>
    public static bool Switches(FastBft.Agreement.ProtocolKind protocol)
        => protocol is FastBft.Agreement.ProtocolKind.RePbft or FastBft.Agreement.ProtocolKind.RePbftStar or FastBft.Agreement.ProtocolKind.ReMinBft;

    /// <summary>
    /// Submits <paramref name="operation"/> (copied) and completes with the agreed result. The returned
    /// memory is owned by this client and valid until its next <see cref="InvokeAsync"/>; copy it to keep it.
    /// Continuations run on the endpoint's I/O thread (keep them short or hop threads).
    /// </summary>
    /// <exception cref="InvalidOperationException">a request of this client is still outstanding.</exception>
    /// <exception cref="ArgumentException">operation larger than max_request_bytes.</exception>
    public ValueTask<ReadOnlyMemory<byte>> InvokeAsync(ReadOnlySpan<byte> operation)
    {
        if (_outstanding) throw new InvalidOperationException($"client {Id} already has request {_rid} outstanding (one outstanding request per client id)");
        if (operation.Length > _endpoint.Config.MaxRequestBytes) throw new ArgumentException($"operation of {operation.Length} bytes exceeds max_request_bytes ({_endpoint.Config.MaxRequestBytes})", nameof(operation));
        _rid++;
        var body = _builder.BeginVector(MessageType.Request, 0, _rid, operation.Length);
        operation.CopyTo(body);
        var msg = _builder.SealVector();
        if (_request.Length < msg.Length) _request = new byte[Math.Max(msg.Length, _request.Length * 2)];
        msg.CopyTo(_request);
        _requestLength = msg.Length;
        _operationLength = operation.Length;
        _voter.Start(_rid); _retries = 0; _stalls = 0; _expedited = false; _expeditePending = false;
        _source.Reset();
        _outstanding = true;
        _endpoint.Submit(this);
        return new ValueTask<ReadOnlyMemory<byte>>(this, _source.Version);
    }

    internal bool Outstanding => _outstanding;
    internal ReadOnlySpan<byte> RequestMessage => _request.AsSpan(0, _requestLength);
    internal uint Primary => (uint)(View % (ulong)_n);

    /// <summary>Called on the I/O thread when the retransmission deadline passed: returns the next timeout multiplier.</summary>
    internal int OnTimeout()
    {
        Retransmissions++;
        _retries++;
        // An expedited deadline (f+1 matching digests, the full result missing) is not the retransmission timeout:
        // the reply caches answer the retransmission, so it does not count towards a PANIC.
        if (_expeditePending) _expeditePending = false;
        else _stalls++;
        return 1 << Math.Min(_retries, 3);
    }

    /// <summary>
    /// Called on the I/O thread after <see cref="OnTimeout"/>: the PANIC to send to every replica with this
    /// retransmission, or an empty span (protocol does not switch, or fewer than client_panic_retransmissions
    /// timeouts so far). Built once per request (no allocation after the first PANIC of this client).
    /// PANIC: header (Panic, sender = client id, view 0, sequence = request id t, the cell's family, generation 0),
    /// body = D(req) of the outstanding REQUEST (32 bytes, PROTOCOLS.md G1), MAC vector for all n replicas (G9).
    /// </summary>
    internal ReadOnlySpan<byte> PanicOnTimeout()
    {
        if (!_switches || !_outstanding || _stalls < _panicAfter) return default;
        if (_panic is null || _panicRid != _rid)
        {
            var request = _request.AsSpan(0, _requestLength);
            Span<byte> authBody = stackalloc byte[Digests.Size];
            Digests.AuthBody(request.Slice(MessageHeader.Size, _operationLength), authBody);
            var body = _builder.BeginVector(MessageType.Panic, 0, _rid, Digests.Size);
            Digests.Request(request.Slice(0, MessageHeader.Size), authBody, body);
            var msg = _builder.SealVector();
            _panic ??= new byte[msg.Length];
            msg.CopyTo(_panic);
            _panicLength = msg.Length;
            _panicRid = _rid;
        }
        Panics++;
        return _panic.AsSpan(0, _panicLength);
    }

    /// <summary>A verified REPLY for this client (I/O thread).</summary>
    internal void OnReply(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (!_outstanding || h.Sequence != _rid) return;
        if (!_voter.OnReply(h, message))
        {
            // f+1 matching digests but no full result: the designated replier is missing. Retransmit after a short
            // grace (its full reply may still be in flight) instead of a whole timeout (issue 10's silent-replica stall).
            if (!_expedited && _voter.MatchingDigestsWithoutFullResult())
            {
                _expedited = true;
                long now = Environment.TickCount64;
                long grace = Math.Clamp(2 * (now - SentTicks), 2, _endpoint.FullReplyGraceMs);
                if (now + grace < DeadlineTicks) { DeadlineTicks = now + grace; _expeditePending = true; }
            }
            return;
        }
        // Accepted: a full result whose digest is matched by f+1 distinct replicas (Thesis §2.1.1.4).
        View = _voter.View;
        Completed++;
        _outstanding = false;
        _source.SetResult(_voter.Result);
    }

    /// <summary>Fails the outstanding request (endpoint shutting down).</summary>
    internal void Fail(Exception e)
    {
        if (!_outstanding) return;
        _outstanding = false;
        _voter.Cancel();
        _source.SetException(e);
    }

    ReadOnlyMemory<byte> IValueTaskSource<ReadOnlyMemory<byte>>.GetResult(short token) => _source.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<ReadOnlyMemory<byte>>.GetStatus(short token) => _source.GetStatus(token);
    void IValueTaskSource<ReadOnlyMemory<byte>>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _source.OnCompleted(continuation, state, token, flags);
}
