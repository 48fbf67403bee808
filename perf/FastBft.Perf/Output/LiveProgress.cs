using System.Globalization;
using Spectre.Console;

namespace FastBft.Perf.Output;

/// <summary>
/// Progress of a measured window. On a terminal: a Spectre.Console progress bar (elapsed of the
/// window, current requests/s in its description) with event lines (faults) written above it. When
/// stdout is redirected or the writer is not stdout: one plain line per second and per event.
/// Thread-safe: the fault injector reports events from another task.
/// </summary>
internal sealed class LiveProgress : IAsyncDisposable
{
    private readonly TextWriter _out;
    private readonly bool _quiet;
    private readonly IAnsiConsole? _console;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<ProgressTask> _task = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task? _render;
    private readonly object _gate = new();

    /// <summary>Starts progress for a window of <paramref name="seconds"/> s written to <paramref name="output"/>.</summary>
    public LiveProgress(TextWriter output, double seconds, bool quiet)
    {
        _out = output;
        _quiet = quiet;
        if (quiet || !Tables.Interactive || !ReferenceEquals(output, Console.Out)) return;
        _console = Tables.ConsoleFor(output);
        _render = _console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                _task.SetResult(ctx.AddTask("measuring", maxValue: seconds));
                await _done.Task;
            });
    }

    /// <summary>One second of the window ended with <paramref name="rps"/> requests completed in it.</summary>
    public void Second(int second, long rps)
    {
        if (_quiet) return;
        if (_console is null) { lock (_gate) _out.WriteLine($"  [{second,3}s] {rps,9:N0} req/s"); return; }
        var t = _task.Task.Result;
        t.Value = second;
        t.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture, $"[{second,3}s] {rps,9:N0} req/s"));
    }

    /// <summary>An event (e.g. a fault injected), printed as its own line.</summary>
    public void Event(string line)
    {
        if (_quiet) return;
        if (_console is null) { lock (_gate) _out.WriteLine(line); return; }
        lock (_gate) _console.MarkupLine($"[orangered1]{Markup.Escape(line)}[/]");
    }

    /// <summary>Ends the bar (full) and waits for the last render.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_render is null || _done.Task.IsCompleted) return;
        if (_task.Task.IsCompleted) { var t = _task.Task.Result; t.Value = t.MaxValue; t.StopTask(); }
        _done.TrySetResult();
        await _render;
    }
}
