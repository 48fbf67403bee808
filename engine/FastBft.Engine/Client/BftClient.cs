using System.Buffers.Binary;
using System.Threading.Tasks.Sources;
using FastBft.Auth;
using FastBft.Config;
using FastBft.Wire;

namespace FastBft.Client;

/// <summary>
/// One BFT client identity (client id): at most one outstanding request (Thesis §2.1.2.1).
/// <see cref="InvokeAsync"/> completes once f+1 replicas sent matching replies, at least one of them
/// the full result (Thesis §2.1.1.4 "hash optimization"); on timeout the request is retransmitted to
/// all replicas (PBFT-PR §4.2) with exponential back-off (PBFT-PR §4.6.1).
/// Created by <see cref="ClientEndpoint.CreateClient"/>; its I/O happens on the endpoint's thread.
/// </summary>
public sealed class BftClient : IValueTaskSource<ReadOnlyMemory<byte>>
{
    private readonly ClientEndpoint _endpoint;
    private readonly MessageBuilder _builder;
    private readonly int _n, _f;
    private ManualResetValueTaskSourceCore<ReadOnlyMemory<byte>> _source;
    private byte[] _request = new byte[256];
    private int _requestLength;
    private byte[] _result = new byte[64];
    private readonly byte[][] _fullReplies;
    private readonly int[] _fullLengths;
    private readonly byte[] _voteDigests;
    private ulong _voteMask, _fullMask;
    private ulong _rid;
    private volatile bool _outstanding;
    private int _retries;

    internal readonly MessageVerifier Verifier;
    internal long DeadlineTicks;

    internal BftClient(ClientEndpoint endpoint, uint clientId, KeyStore keys, CellConfig config, ulong firstRequestId)
    {
        _endpoint = endpoint;
        Id = clientId;
        _n = config.N;
        _f = config.F;
        _builder = new MessageBuilder(new Authenticator(clientId, keys), _n, 1024);
        Verifier = new MessageVerifier(new Authenticator(clientId, keys), _n, config.FirstClientId, config.MaxMessageBytes, config.MaxRequestBytes, config.BatchSize);
        _fullReplies = new byte[_n][];
        for (int i = 0; i < _n; i++) _fullReplies[i] = new byte[64];
        _fullLengths = new int[_n];
        _voteDigests = new byte[_n * 32];
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
        _voteMask = 0; _fullMask = 0; _retries = 0;
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
        return 1 << Math.Min(_retries, 3);
    }

    /// <summary>A verified REPLY for this client (I/O thread).</summary>
    internal void OnReply(in MessageHeader h, ReadOnlySpan<byte> message)
    {
        if (!_outstanding || h.Sequence != _rid) return;
        var body = MessageHeader.Body(message, h);
        int r = (int)h.Sender;
        ulong bit = 1UL << r;
        var vote = _voteDigests.AsSpan(r * 32, 32);
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
        }
        _voteMask |= bit;
        TryComplete(h.View);
    }

    private void TryComplete(ulong view)
    {
        // Accept a full result whose digest is matched by f+1 distinct replicas (Thesis §2.1.1.4).
        ulong full = _fullMask;
        while (full != 0)
        {
            int i = System.Numerics.BitOperations.TrailingZeroCount(full);
            full &= full - 1;
            var d = _voteDigests.AsSpan(i * 32, 32);
            int matching = 0;
            ulong m = _voteMask;
            while (m != 0)
            {
                int j = System.Numerics.BitOperations.TrailingZeroCount(m);
                m &= m - 1;
                if (_voteDigests.AsSpan(j * 32, 32).SequenceEqual(d)) matching++;
            }
            if (matching >= _f + 1)
            {
                int len = _fullLengths[i];
                if (_result.Length < len) _result = new byte[Math.Max(len, _result.Length * 2)];
                _fullReplies[i].AsSpan(0, len).CopyTo(_result);
                View = view;
                Completed++;
                _outstanding = false;
                _source.SetResult(new ReadOnlyMemory<byte>(_result, 0, len));
                return;
            }
        }
    }

    /// <summary>Fails the outstanding request (endpoint shutting down).</summary>
    internal void Fail(Exception e)
    {
        if (!_outstanding) return;
        _outstanding = false;
        _source.SetException(e);
    }

    ReadOnlyMemory<byte> IValueTaskSource<ReadOnlyMemory<byte>>.GetResult(short token) => _source.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<ReadOnlyMemory<byte>>.GetStatus(short token) => _source.GetStatus(token);
    void IValueTaskSource<ReadOnlyMemory<byte>>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _source.OnCompleted(continuation, state, token, flags);
}
