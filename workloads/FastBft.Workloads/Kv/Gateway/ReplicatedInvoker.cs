using System.Threading.Channels;
using FastBft.Client;
using FastBft.Config;

namespace FastBft.Workloads.Kv.Gateway;

/// <summary>Sends one KV operation to wherever it is executed and returns its reply (RESP bytes).</summary>
public interface IKvInvoker
{
    /// <summary>Executes <paramref name="operation"/>; the task completes with the reply (a new array).</summary>
    /// <exception cref="OperationCanceledException">the invoker is shutting down.</exception>
    Task<byte[]> InvokeAsync(byte[] operation);
}

/// <summary>
/// The gateway's link to the cell: a pool of BFT client ids (<see cref="BftClient"/>, one outstanding request each) on
/// one <see cref="ClientEndpoint"/>. Each operation waits for a free slot, runs on it, and returns the slot; so up to
/// <see cref="Slots"/> operations (from any connection) are in flight together.
/// </summary>
public sealed class ReplicatedInvoker : IKvInvoker, IDisposable
{
    private readonly ClientEndpoint _endpoint;
    private readonly Channel<BftClient> _free;

    /// <summary>Creates <paramref name="slots"/> clients with ids first_client_id + <paramref name="idOffset"/> … on <paramref name="endpoint"/> (owned) and starts it.</summary>
    /// <param name="endpoint">an endpoint not yet started.</param>
    /// <param name="slots">client ids (in-flight request slots), 1..max_clients − idOffset.</param>
    /// <param name="idOffset">offset of the first id into the cell's client id range (several gateways of one cell need disjoint ranges).</param>
    /// <param name="firstRequestId">request ids start after this (must exceed any id these client ids used before, e.g. by an earlier gateway run; the replicas ignore older ids). Null: the current time in 100 ns ticks.</param>
    /// <exception cref="ConfigException">the ids do not fit the cell's client id range.</exception>
    public ReplicatedInvoker(ClientEndpoint endpoint, int slots, int idOffset = 0, ulong? firstRequestId = null)
    {
        var c = endpoint.Config;
        if (slots < 1 || idOffset < 0 || (long)idOffset + slots > c.MaxClients)
            throw new ConfigException($"--slots {slots} with --client-id-offset {idOffset} does not fit the cell's {c.MaxClients} client ids (max_clients)");
        _endpoint = endpoint;
        _free = Channel.CreateUnbounded<BftClient>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });
        ulong rid = firstRequestId ?? (ulong)DateTime.UtcNow.Ticks;
        for (int i = 0; i < slots; i++) _free.Writer.TryWrite(endpoint.CreateClient(c.FirstClientId + (uint)(idOffset + i), rid));
        Slots = slots;
        endpoint.Start();
    }

    /// <summary>Number of client ids (in-flight slots).</summary>
    public int Slots { get; }
    /// <summary>The cell's largest operation, bytes.</summary>
    public int MaxOperationBytes => _endpoint.Config.MaxRequestBytes;

    /// <summary>When true, a completed operation's continuation (the gateway's reply write) leaves the client I/O thread for the thread pool, so socket writes do not delay the I/O thread's UDP work. Default false: measured here (2 shared cores) it did not help, see docs/kv.md.</summary>
    public bool HopOffIoThread { get; init; }

    /// <inheritdoc/>
    public async Task<byte[]> InvokeAsync(byte[] operation)
    {
        var client = await _free.Reader.ReadAsync().ConfigureAwait(false);
        byte[] reply;
        try
        {
            var result = await client.InvokeAsync(operation).ConfigureAwait(false);
            reply = result.ToArray();
        }
        finally { _free.Writer.TryWrite(client); }
        if (HopOffIoThread) await Task.Yield();
        return reply;
    }

    /// <summary>Stops the endpoint (outstanding operations fail).</summary>
    public void Dispose() { _free.Writer.TryComplete(); _endpoint.Dispose(); }
}
