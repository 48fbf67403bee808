using System.Diagnostics;
using System.Text.Json;
using FastBft.Config;
using FastBft.Replica;
using FastBft.Workloads;

namespace FastBft.Perf.Cell;

/// <summary>A running replica the harness controls: a child process or an in-process thread.</summary>
internal interface IReplicaHandle : IDisposable
{
    uint Id { get; }
    Task<ReplicaStatus> StatusAsync(TimeSpan timeout);
    /// <summary>CPU time consumed by the replica so far (process: its total; thread: the thread's).</summary>
    TimeSpan CpuTime();
    bool IsAlive { get; }
    void Kill();
}

/// <summary>A replica running as a thread of this process (`--in-process`).</summary>
internal sealed class ThreadReplica : IReplicaHandle
{
    private readonly ReplicaHost _host;
    private readonly CancellationTokenSource _cts = new();
    private readonly Thread _thread;
    private Exception? _failure;

    public ThreadReplica(CellConfig config, uint id)
    {
        Id = id;
        _host = new ReplicaHost(config, id, TransportFactory.ForReplica(config, id), ServiceFactory.Create(config.Service));
        _thread = new Thread(() => { try { _host.Run(_cts.Token); } catch (Exception e) { _failure = e; } }) { IsBackground = true, Name = $"replica-{id}" };
        _thread.Start();
    }

    public uint Id { get; }
    public bool IsAlive => _thread.IsAlive;
    public async Task<ReplicaStatus> StatusAsync(TimeSpan timeout)
    {
        if (!_thread.IsAlive) throw new InvalidOperationException($"replica {Id} stopped: {_failure?.Message ?? "killed"}");
        return await _host.QueryStatusAsync().WaitAsync(timeout);
    }
    public TimeSpan CpuTime() => TimeSpan.Zero;
    public void Kill() { _cts.Cancel(); _thread.Join(TimeSpan.FromSeconds(5)); }
    public void Dispose() { Kill(); _host.Dispose(); }
}

/// <summary>
/// A replica running as a child process (`fastbft replica --config F --id I`). Control channel: the
/// child prints "READY" on stdout, answers each "status" line on stdin with one JSON line, exits on
/// "stop" or when stdin closes — so a child never outlives the harness, even if the harness is killed.
/// </summary>
internal sealed class ProcessReplica : IReplicaHandle
{
    private readonly Process _process;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private ProcessReplica(uint id, Process process) { Id = id; _process = process; }

    public uint Id { get; }
    public bool IsAlive { get { try { return !_process.HasExited; } catch (InvalidOperationException) { return false; } } }
    public int ProcessId => _process.Id;

    public static async Task<ProcessReplica> StartAsync(string configPath, uint id, TimeSpan readyTimeout)
    {
        var psi = SelfCommand.Start("replica", "--config", configPath, "--id", id.ToString());
        psi.RedirectStandardInput = true;
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = false;
        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start replica process");
        ChildProcesses.Track(p);
        var handle = new ProcessReplica(id, p);
        var line = await p.StandardOutput.ReadLineAsync().WaitAsync(readyTimeout).ConfigureAwait(false);
        if (line != "READY")
        {
            handle.Kill();
            throw new InvalidOperationException($"replica {id} did not start (first output: {line ?? "<exited>"})");
        }
        return handle;
    }

    public async Task<ReplicaStatus> StatusAsync(TimeSpan timeout)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            await _process.StandardInput.WriteLineAsync("status").ConfigureAwait(false);
            await _process.StandardInput.FlushAsync().ConfigureAwait(false);
            var line = await _process.StandardOutput.ReadLineAsync().WaitAsync(timeout).ConfigureAwait(false)
                       ?? throw new InvalidOperationException($"replica {Id} exited");
            return JsonSerializer.Deserialize(line, HarnessJson.Default.ReplicaStatus) ?? throw new InvalidOperationException($"replica {Id}: bad status line");
        }
        finally { _gate.Release(); }
    }

    public TimeSpan CpuTime()
    {
        try { _process.Refresh(); return _process.TotalProcessorTime; }
        catch (InvalidOperationException) { return TimeSpan.Zero; }
    }

    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                try { _process.StandardInput.WriteLine("stop"); _process.StandardInput.Flush(); } catch (IOException) { }
                if (!_process.WaitForExit(2000)) _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException) { }
    }

    public void Dispose() { Kill(); _process.Dispose(); }
}
