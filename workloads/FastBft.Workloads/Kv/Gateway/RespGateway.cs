using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace FastBft.Workloads.Kv.Gateway;

/// <summary>
/// A Redis-protocol (RESP2) TCP endpoint in front of a FastBft KV cell (docs/kv.md §6). Each connection has a reader
/// (System.IO.Pipelines) that parses commands and dispatches every one at once — pipelined commands are in flight
/// together — and a writer that sends the replies strictly in command order. A command waits for an earlier
/// in-flight command of the same connection only if they share a key, so a pipeline keeps Redis's per-key order
/// (SET k then GET k returns the new value). At most <see cref="MaxPipelinePerConnection"/> commands of one connection
/// are pending; then its reader waits. Unknown commands get a RESP error; a malformed stream gets "-ERR Protocol error"
/// and that connection alone is closed.
/// </summary>
public sealed class RespGateway : IAsyncDisposable
{
    private readonly IKvInvoker _invoker;
    private readonly int _maxOperationBytes;
    private readonly RespLimits _limits;
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private Task? _accept;
    private readonly HashSet<Task> _connections = new();
    private long _commands, _protocolErrors, _connectionsAccepted;

    /// <summary>Largest number of commands of one connection dispatched but not yet answered.</summary>
    public int MaxPipelinePerConnection { get; init; } = 1024;

    /// <summary>Creates a gateway on <paramref name="listen"/> (port 0: any free port, see <see cref="LocalEndPoint"/> after <see cref="Start"/>).</summary>
    /// <param name="listen">address to listen on.</param>
    /// <param name="invoker">executes the KV operations.</param>
    /// <param name="maxOperationBytes">largest operation the cell accepts (max_request_bytes); larger commands get an error reply.</param>
    /// <param name="limits">RESP parser limits (<see cref="RespLimits.Default"/> when null).</param>
    public RespGateway(IPEndPoint listen, IKvInvoker invoker, int maxOperationBytes, RespLimits? limits = null)
    {
        _invoker = invoker;
        _maxOperationBytes = maxOperationBytes;
        _limits = limits ?? RespLimits.Default;
        _listener = new TcpListener(listen);
    }

    /// <summary>The bound endpoint (valid after <see cref="Start"/>).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_listener.LocalEndpoint;
    /// <summary>Commands parsed so far.</summary>
    public long Commands => Interlocked.Read(ref _commands);
    /// <summary>Connections closed for a malformed stream.</summary>
    public long ProtocolErrors => Interlocked.Read(ref _protocolErrors);
    /// <summary>Connections accepted.</summary>
    public long ConnectionsAccepted => Interlocked.Read(ref _connectionsAccepted);

    /// <summary>Binds and starts accepting connections.</summary>
    /// <exception cref="SocketException">the address cannot be bound.</exception>
    public void Start()
    {
        _listener.Start(512);
        _accept = AcceptLoop();
    }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try { socket = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { continue; }
            Interlocked.Increment(ref _connectionsAccepted);
            socket.NoDelay = true;
            var t = Task.Run(() => ServeAsync(socket));
            lock (_connections) _connections.Add(t);
            _ = t.ContinueWith(done => { lock (_connections) _connections.Remove(done); }, TaskScheduler.Default);
        }
    }

    private readonly record struct Pending(byte[]? Ready, Task<byte[]>? Reply, bool Close);

    private async Task ServeAsync(Socket socket)
    {
        using var _ = socket;
        var stream = new NetworkStream(socket, ownsSocket: false);
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024));
        var writer = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024));
        var queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(MaxPipelinePerConnection) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
        using var connectionStop = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        var writing = WriteLoop(queue.Reader, writer, connectionStop);
        try { await ReadLoop(reader, queue.Writer, connectionStop.Token).ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or ChannelClosedException) { }
        finally { queue.Writer.TryComplete(); }
        try { await writing.ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
        await reader.CompleteAsync().ConfigureAwait(false);
        try { await writer.CompleteAsync().ConfigureAwait(false); } catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { }
        try { socket.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
    }

    private async Task ReadLoop(PipeReader reader, ChannelWriter<Pending> queue, CancellationToken ct)
    {
        // Last in-flight command per key of this connection (per-key order inside a pipeline).
        var lastByKey = new Dictionary<byte[], Task<byte[]>>(ByteArrayComparer.Instance);
        var keys = new List<byte[]>();
        while (true)
        {
            var read = await reader.ReadAsync(ct).ConfigureAwait(false);
            var buffer = read.Buffer;
            while (true)
            {
                var status = RespParser.TryParse(buffer, _limits, out var args, out var consumed, out var error);
                if (status == RespParseStatus.Incomplete) break;
                if (status == RespParseStatus.Malformed)
                {
                    Interlocked.Increment(ref _protocolErrors);
                    await queue.WriteAsync(new Pending(Translation.Error($"ERR Protocol error: {error}").LocalReply, null, true), ct).ConfigureAwait(false);
                    reader.AdvanceTo(buffer.End);
                    return;
                }
                buffer = buffer.Slice(consumed);
                if (args.Count == 0) continue;
                Interlocked.Increment(ref _commands);
                var t = RedisCommands.Translate(args, _maxOperationBytes);
                switch (t.Action)
                {
                    case CommandAction.Local:
                        await queue.WriteAsync(new Pending(t.LocalReply, null, false), ct).ConfigureAwait(false);
                        break;
                    case CommandAction.LocalThenClose:
                        await queue.WriteAsync(new Pending(t.LocalReply, null, true), ct).ConfigureAwait(false);
                        reader.AdvanceTo(buffer.End);
                        return;
                    default:
                        await queue.WriteAsync(new Pending(null, Dispatch(t.Operation, lastByKey, keys), false), ct).ConfigureAwait(false);
                        break;
                }
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (read.IsCompleted)
            {
                if (!buffer.IsEmpty) Interlocked.Increment(ref _protocolErrors);
                return;
            }
        }
    }

    private Task<byte[]> Dispatch(byte[] operation, Dictionary<byte[], Task<byte[]>> lastByKey, List<byte[]> keys)
    {
        keys.Clear();
        KvCodec.TryGetKeys(operation, keys);
        List<Task>? waitFor = null;
        foreach (var k in keys)
            if (lastByKey.TryGetValue(k, out var prior) && !prior.IsCompleted) (waitFor ??= new()).Add(prior);
        var task = waitFor is null ? Invoke(operation) : InvokeAfter(waitFor, operation);
        if (lastByKey.Count > 4096)
            foreach (var (k, v) in lastByKey) if (v.IsCompleted) lastByKey.Remove(k);
        foreach (var k in keys) lastByKey[k] = task;
        return task;
    }

    private async Task<byte[]> InvokeAfter(List<Task> prior, byte[] operation)
    {
        try { await Task.WhenAll(prior).ConfigureAwait(false); } catch (Exception) { /* the earlier command's error is its own reply */ }
        return await Invoke(operation).ConfigureAwait(false);
    }

    private async Task<byte[]> Invoke(byte[] operation)
    {
        try { return await _invoker.InvokeAsync(operation).ConfigureAwait(false); }
        catch (Exception e) when (e is OperationCanceledException or InvalidOperationException or ArgumentException or ChannelClosedException)
        {
            return Translation.Error($"ERR request failed: {e.Message}").LocalReply;
        }
    }

    private static async Task WriteLoop(ChannelReader<Pending> queue, PipeWriter writer, CancellationTokenSource connection)
    {
        try
        {
            while (await queue.WaitToReadAsync().ConfigureAwait(false))
            {
                while (queue.TryRead(out var p))
                {
                    var bytes = p.Ready ?? await p.Reply!.ConfigureAwait(false);
                    writer.Write(bytes);
                    if (p.Close) { await writer.FlushAsync().ConfigureAwait(false); connection.Cancel(); return; }
                    // Flush when nothing else is ready, so a pipeline's replies leave in few segments.
                    if (!queue.TryPeek(out var next) || (next.Ready is null && !next.Reply!.IsCompleted))
                    {
                        var flushed = await writer.FlushAsync().ConfigureAwait(false);
                        if (flushed.IsCanceled || flushed.IsCompleted) { connection.Cancel(); return; }
                    }
                }
            }
            await writer.FlushAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            connection.Cancel();
        }
    }

    /// <summary>Stops accepting, closes every connection and waits for them.</summary>
    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        if (_accept is not null) await _accept.ConfigureAwait(false);
        Task[] open;
        lock (_connections) open = _connections.ToArray();
        try { await Task.WhenAll(open).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); } catch (TimeoutException) { }
        _stop.Dispose();
    }

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();
        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(byte[] obj) { var h = new HashCode(); h.AddBytes(obj); return h.ToHashCode(); }
    }
}
