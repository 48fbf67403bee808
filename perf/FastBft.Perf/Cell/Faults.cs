using System.Globalization;
using FastBft.Config;

namespace FastBft.Perf.Cell;

/// <summary>Kinds of fault the harness injects into replica processes.</summary>
internal enum FaultKind
{
    /// <summary>SIGKILL the replica process.</summary>
    Kill,
    /// <summary>SIGSTOP for D seconds, then SIGCONT.</summary>
    Pause,
    /// <summary>Start a killed replica again (empty state; it catches up by state transfer).</summary>
    Restart,
    /// <summary>Drop all its traffic (both directions) for D seconds through its control channel.</summary>
    Isolate,
}

/// <summary>
/// One `--fault kind:R@T[+D]`: <see cref="Kind"/> on replica <see cref="Replica"/> (null: the primary
/// of the view at T; for restart: the replica an earlier kill:primary took down) <see cref="AtSeconds"/>
/// after the start of the measured window, lasting <see cref="DurationSeconds"/> (pause, isolate).
/// </summary>
internal sealed record FaultSpec(FaultKind Kind, uint? Replica, double AtSeconds, double DurationSeconds, string Text)
{
    /// <summary>Syntax reminder used in error messages.</summary>
    public const string Syntax = "kill:R@T, pause:R@T+D, restart:R@T or isolate:R@T+D (R = replica id or 'primary', T and D in seconds)";

    /// <summary>"primary" or the replica id.</summary>
    public string TargetText => Replica is { } r ? r.ToString(CultureInfo.InvariantCulture) : "primary";

    /// <summary>Parses one --fault value.</summary>
    /// <exception cref="ConfigException">malformed; the message names --fault and the value.</exception>
    public static FaultSpec Parse(string text)
    {
        string s = text.Trim();
        ConfigException Bad(string why) => new($"--fault '{text}': {why}; expected {Syntax}");
        int colon = s.IndexOf(':');
        if (colon <= 0) throw Bad("missing 'kind:'");
        FaultKind kind = s[..colon].ToLowerInvariant() switch
        {
            "kill" => FaultKind.Kill,
            "pause" => FaultKind.Pause,
            "restart" => FaultKind.Restart,
            "isolate" => FaultKind.Isolate,
            var k => throw Bad($"unknown kind '{k}'"),
        };
        string rest = s[(colon + 1)..];
        int at = rest.IndexOf('@');
        if (at <= 0) throw Bad("missing replica and '@T'");
        string target = rest[..at];
        uint? replica;
        if (target.Equals("primary", StringComparison.OrdinalIgnoreCase)) replica = null;
        else if (uint.TryParse(target, NumberStyles.None, CultureInfo.InvariantCulture, out var id)) replica = id;
        else throw Bad($"replica '{target}' is neither an id nor 'primary'");
        string time = rest[(at + 1)..];
        int plus = time.IndexOf('+');
        string tText = plus < 0 ? time : time[..plus];
        if (!double.TryParse(tText, NumberStyles.Float, CultureInfo.InvariantCulture, out double t) || t < 0 || !double.IsFinite(t))
            throw Bad($"time '{tText}' is not a non-negative number of seconds");
        double d = 0;
        if (plus >= 0)
        {
            string dText = time[(plus + 1)..];
            if (!double.TryParse(dText, NumberStyles.Float, CultureInfo.InvariantCulture, out d) || d <= 0 || !double.IsFinite(d))
                throw Bad($"duration '{dText}' is not a positive number of seconds");
        }
        if (kind is FaultKind.Pause or FaultKind.Isolate && plus < 0) throw Bad($"{kind.ToString().ToLowerInvariant()} needs a duration (+D)");
        if (kind is FaultKind.Kill or FaultKind.Restart && plus >= 0) throw Bad($"{kind.ToString().ToLowerInvariant()} takes no duration");
        return new FaultSpec(kind, replica, t, d, s);
    }

    /// <summary>Parses and checks a run's faults against the cell and the measured duration; returns them in time order.</summary>
    /// <exception cref="ConfigException">a fault is malformed, names no replica of the cell, falls outside the run, or restarts a replica not killed before.</exception>
    public static List<FaultSpec> ParseAll(IReadOnlyList<string> texts, int n, double durationSeconds, bool inProcess)
    {
        var list = new List<FaultSpec>();
        foreach (var t in texts) list.Add(Parse(t));
        if (list.Count > 0 && inProcess) throw new ConfigException("--fault needs replica processes; drop --in-process");
        list.Sort((a, b) => a.AtSeconds.CompareTo(b.AtSeconds));
        var killed = new HashSet<uint>();
        bool primaryKilled = false;
        foreach (var f in list)
        {
            if (f.Replica is { } r && r >= n) throw new ConfigException($"--fault '{f.Text}': replica {r} is not in the cell (0..{n - 1})");
            if (f.AtSeconds >= durationSeconds) throw new ConfigException($"--fault '{f.Text}': at {f.AtSeconds} s is not inside the measured --duration ({durationSeconds} s)");
            switch (f.Kind)
            {
                case FaultKind.Kill when f.Replica is { } k: killed.Add(k); break;
                case FaultKind.Kill: primaryKilled = true; break;
                case FaultKind.Restart when f.Replica is { } k:
                    if (!killed.Remove(k)) throw new ConfigException($"--fault '{f.Text}': replica {k} is not killed by an earlier --fault kill:{k}@T");
                    break;
                case FaultKind.Restart:
                    if (!primaryKilled) throw new ConfigException($"--fault '{f.Text}': restart:primary needs an earlier kill:primary@T");
                    primaryKilled = false;
                    break;
            }
        }
        return list;
    }
}

/// <summary>What happened to one injected fault (JSON: faults[]).</summary>
internal sealed record FaultResult
{
    public string Kind { get; init; } = "";
    /// <summary>The replica the fault hit (primary resolved at injection).</summary>
    public uint Replica { get; init; }
    /// <summary>The option as given.</summary>
    public string Spec { get; init; } = "";
    /// <summary>Injection time, s after the start of the measured window.</summary>
    public double AtS { get; init; }
    public double DurationS { get; init; }
    /// <summary>Fault → completion of the first request issued after it, ms (−1: none completed).</summary>
    public double RecoveryMs { get; init; }
    /// <summary>Longest client latency of a request completed between this fault and the next one, ms.</summary>
    public double MaxLatencyMs { get; init; }
    /// <summary>Highest stable checkpoint of the responsive replicas when the fault was injected.</summary>
    public ulong CheckpointAtFault { get; init; }
    /// <summary>pause/isolate: highest stable checkpoint of the other replicas just before the fault ended; else = checkpoint_at_fault.</summary>
    public ulong CheckpointAtEnd { get; init; }
    /// <summary>View of the cell when the fault was injected (most replicas' view).</summary>
    public ulong ViewAtFault { get; init; }
    /// <summary>Requests/s per 100 ms from 1 s before to 2 s after the fault (first entry: bucket of at_s − 1).</summary>
    public double[] ThroughputAroundRps { get; init; } = [];
}
