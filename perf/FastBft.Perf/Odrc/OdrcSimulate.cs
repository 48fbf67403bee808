using System.Diagnostics;
using System.Globalization;
using FastBft.Service;
using FastBft.Simulation.Odrc;
using FastBft.Workloads.Coord;
using FastBft.Workloads.Kv;

namespace FastBft.Perf.Odrc;

/// <summary>
/// `fastbft simulate --execution odrc [--service kv|coord] [--scenarios N | --ci] [--seed S] [--parallel N]`: the ODRC
/// fault matrix (<see cref="OdrcMatrix"/>; --ci: exactly the tests' scenarios) in the ODRC simulator (docs/odrc.md §6).
/// Prints failures with their seeds, the share of cross-border requests and of forced executions, and exits 0 only if
/// every invariant held.
/// </summary>
public static class OdrcSimulate
{
    /// <summary>Seeds per point of the CI matrix (the tests' <c>OdrcMatrixTests.SeedsPerPoint</c>).</summary>
    public const int CiSeedsPerPoint = 6;

    /// <summary>A simulator for <paramref name="s"/> over the named service ("kv" or "coord").</summary>
    public static OdrcSimulator Create(OdrcScenario s, string service) => service == "coord"
        ? new OdrcSimulator(s, static () => new CoordService(), CoordSimWorkload.Instance)
        : new OdrcSimulator(s, static () => new KvService(new MemoryKvStore()), KvSimWorkload.Instance);

    /// <summary>Runs the matrix; returns the process exit code.</summary>
    public static int Run(string service, int scenarios, bool ci, ulong seed, int parallel, TextWriter output, bool writeKnowledge = false)
    {
        if (service is not ("kv" or "coord")) { Console.Error.WriteLine($"fastbft simulate: --service {service}: ODRC runs kv or coord"); return 2; }
        int points = OdrcMatrix.Scenarios(1).Count();
        int seeds = ci ? CiSeedsPerPoint : Math.Max(1, (scenarios + points - 1) / points);
        var list = OdrcMatrix.Scenarios(seeds, ci ? 0 : seed, writeKnowledge).ToList();
        var results = new OdrcSimResult[list.Count];
        var watch = Stopwatch.StartNew();
        Parallel.For(0, list.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, parallel) }, i => results[i] = Create(list[i], service).Run());
        var ci0 = CultureInfo.InvariantCulture;
        int failed = 0;
        foreach (var r in results)
            if (!r.Passed) { failed++; output.WriteLine($"FAIL {r}"); }
        long inserted = results.Sum(r => r.Stats.Inserted), cross = results.Sum(r => r.Stats.CrossBorder), forced = results.Sum(r => r.Stats.Forced);
        long executed = results.Sum(r => r.Stats.Executed), adopted = results.Sum(r => r.Stats.Adopted), replayed = results.Sum(r => r.Stats.Replayed), skipped = results.Sum(r => r.Stats.Skipped);
        foreach (var placement in new[] { FastBft.Execution.Odrc.PlacementStrategy.RoundRobin, FastBft.Execution.Odrc.PlacementStrategy.Locality })
        {
            var sel = results.Where(r => r.Scenario.Placement == placement).ToList();
            long ins = sel.Sum(r => r.Stats.Inserted), cb = sel.Sum(r => r.Stats.CrossBorder);
            output.WriteLine(string.Create(ci0, $"{placement}: {sel.Count} scenarios, cross-border {(ins == 0 ? 0 : 100.0 * cb / ins):0.0}% of ordered requests (correct replicas' selectors)"));
        }
        long omitted = results.Sum(r => r.Stats.ReadsOmitted), overwrites = results.Sum(r => r.Stats.Overwrites), dropped = results.Sum(r => r.Stats.OverwriteDropped), checkpoints = results.Sum(r => r.Stats.StableCheckpoints);
        long countedOmitted = results.Sum(r => r.Stats.CountedOverwritesOmitted), adjustments = results.Sum(r => r.Stats.CounterAdjustments);
        output.WriteLine(string.Create(ci0, $"odrc {service}{(writeKnowledge ? " with write knowledge" : "")}: {list.Count} scenarios ({seeds} seeds × {points} points), {failed} failed, {watch.Elapsed.TotalSeconds:0.0} s"));
        output.WriteLine(string.Create(ci0, $"  a correct replica executed {(inserted == 0 ? 0 : 100.0 * executed / inserted):0.0}% of the ordered requests (ideal without faults: (f+1)/E); forced {forced} ({(executed == 0 ? 0 : 100.0 * forced / executed):0.00}% of executions); replayed {replayed}; skipped {skipped}; groups adopted {adopted}; cross-border {cross}/{inserted}"));
        output.WriteLine(string.Create(ci0, $"  write knowledge: reads omitted from updates {omitted}; overwrites without update {overwrites} (stored requests dropped {dropped}); counted overwrites (W4) left out {countedOmitted} before {adjustments} adjusted executions; stable object checkpoints {checkpoints}"));
        var st = results.Where(r => r.Scenario.Behaviour == FastBft.Simulation.Odrc.OdrcBehaviour.StateTransfer).ToList();
        output.WriteLine(string.Create(ci0, $"  whole-replica state transfer (docs/odrc.md §9): {st.Count} scenarios, snapshots installed {st.Sum(r => r.Restores)}, refused {st.Sum(r => r.RestoresRefused)} (in {st.Count(r => r.RestoresRefused > 0)} scenarios)"));
        output.WriteLine(string.Create(ci0, $"    between bases (§9 S6/S7): replayed exactly on the pending objects {st.Sum(r => r.BetweenBasesReplayed)}, reads not replayed {st.Sum(r => r.BetweenBasesReadsSkipped)}; objects unresolved at install {st.Sum(r => r.UnresolvedAtRestore)} (in {st.Count(r => r.UnresolvedAtRestore > 0)} scenarios), resolved by stable checkpoints {st.Sum(r => r.UnresolvedResolved)}, still unresolved at the end {st.Sum(r => r.UnresolvedAtEnd)} (in {st.Count(r => r.UnresolvedAtEnd > 0)} scenarios); requests skipped on unresolved objects {st.Sum(r => r.UnresolvedSkipped)}"));
        return failed == 0 ? 0 : 1;
    }
}
