using System.Diagnostics;
using System.Runtime.InteropServices;
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
    private readonly FastBft.Service.IReplicatedService _service;
    private readonly CancellationTokenSource _cts = new();
    private readonly Thread _thread;
    private Exception? _failure;

    public ThreadReplica(CellConfig config, uint id)
    {
        Id = id;
        _service = ServiceFactory.Create(config.Service, id);
        _host = new ReplicaHost(config, id, TransportFactory.ForReplica(config, id), _service);
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
    public void Dispose() { Kill(); _host.Dispose(); (_service as IDisposable)?.Dispose(); }
}

/// <summary>
/// A replica running as a child process (`fastbft replica --config F --id I`). Control channel: the
/// child prints "READY" on stdout, answers each "status" line on stdin with one JSON line, exits on
/// "stop" or when stdin closes — so a child never outlives the harness, even if the harness is killed.
/// </summary>
internal sealed partial class ProcessReplica : IReplicaHandle
{
    private readonly Process _process;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private TimeSpan _lastCpu;

    private ProcessReplica(uint id, Process process) { Id = id; _process = process; }

    public uint Id { get; }
    public bool IsAlive { get { try { return !_process.HasExited; } catch (InvalidOperationException) { return false; } } }
    public int ProcessId => _process.Id;
    /// <summary>True between <see cref="Pause"/> and <see cref="Resume"/> (SIGSTOP: it answers nothing).</summary>
    public bool Paused { get; private set; }
    /// <summary>True after a fault killed it (<see cref="SigKill"/>).</summary>
    public bool KilledByFault { get; private set; }
    /// <summary>True while its traffic is dropped (<see cref="IsolateAsync"/>).</summary>
    public bool Isolated { get; private set; }

    public static async Task<ProcessReplica> StartAsync(string configPath, uint id, TimeSpan readyTimeout, IEnumerable<string>? extraArgs = null)
    {
        var args = new List<string> { "replica", "--config", configPath, "--id", id.ToString() };
        if (extraArgs is not null) args.AddRange(extraArgs);
        var psi = SelfCommand.Start(args.ToArray());
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
        if (KilledByFault) return _lastCpu;
        try { _process.Refresh(); return _lastCpu = _process.TotalProcessorTime; }
        catch (InvalidOperationException) { return _lastCpu; }
    }

    /// <summary>Fault injection: SIGKILL (no clean shutdown). Its CPU time so far is kept for the report.</summary>
    public void SigKill()
    {
        CpuTime();
        KilledByFault = true;
        try { _process.Kill(); _process.WaitForExit(5000); } catch (InvalidOperationException) { }
        Paused = false;
    }

    /// <summary>Fault injection: SIGSTOP.</summary>
    /// <exception cref="InvalidOperationException">the signal could not be sent.</exception>
    public void Pause()
    {
        Signal(SigStop);
        Paused = true;
        // SIGSTOP takes effect asynchronously: wait (≤ 1 s) until /proc reports the process stopped ('T').
        var deadline = Environment.TickCount64 + 1000;
        while (Environment.TickCount64 < deadline && !IsStopped()) Thread.Sleep(1);
    }

    private bool IsStopped()
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{_process.Id}/stat");
            int close = stat.LastIndexOf(')');
            return close > 0 && close + 2 < stat.Length && stat[close + 2] is 'T' or 't';
        }
        catch (IOException) { return true; }
    }

    /// <summary>Fault injection: SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() { if (!Paused) return; Paused = false; Signal(SigCont); }

    /// <summary>Fault injection: drops (true) or restores (false) all the replica's traffic through its control channel.</summary>
    /// <exception cref="InvalidOperationException">the replica did not confirm.</exception>
    public async Task IsolateAsync(bool on, TimeSpan timeout)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            await _process.StandardInput.WriteLineAsync(on ? "isolate on" : "isolate off").ConfigureAwait(false);
            await _process.StandardInput.FlushAsync().ConfigureAwait(false);
            var line = await _process.StandardOutput.ReadLineAsync().WaitAsync(timeout).ConfigureAwait(false);
            if (line != (on ? "isolated on" : "isolated off")) throw new InvalidOperationException($"replica {Id} did not confirm isolation ({line ?? "<exited>"})");
            Isolated = on;
        }
        finally { _gate.Release(); }
    }

    private const int SigCont = 18, SigStop = 19;   // Linux (x86-64 and arm64)

    private void Signal(int signal)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("pause faults need Linux signals");
        if (kill(_process.Id, signal) != 0) throw new InvalidOperationException($"replica {Id}: kill({_process.Id}, {signal}) failed with errno {Marshal.GetLastPInvokeError()}");
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);

    public void Kill()
    {
        try
        {
            if (Paused) Resume();
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
