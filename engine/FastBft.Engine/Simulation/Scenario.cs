using System.Globalization;

namespace FastBft.Simulation;

/// <summary>Which node is Byzantine in a scenario.</summary>
public enum FaultyRole
{
    /// <summary>All nodes correct.</summary>
    None,
    /// <summary>The primary of view 0.</summary>
    Leader,
    /// <summary>One backup.</summary>
    Follower,
    /// <summary>One client.</summary>
    Client,
}

/// <summary>Byzantine behaviours, applied as strategies to the faulty node's outgoing messages and inputs.</summary>
public enum Behaviour
{
    /// <summary>Correct.</summary>
    None,
    /// <summary>Stops receiving and sending.</summary>
    Crash,
    /// <summary>Sends nothing to f+1 of its peer replicas.</summary>
    Mute,
    /// <summary>Every outgoing message is delayed by an extra 25 ms of virtual time.</summary>
    Slow,
    /// <summary>Corrupts the result (or result digest) of every REPLY, correctly re-authenticated.</summary>
    WrongReply,
    /// <summary>Sends CHECKPOINTs with a wrong state digest, correctly re-authenticated.</summary>
    WrongCheckpoint,
    /// <summary>Corrupts the MAC entries for f+1 of its peers (and its replies' MACs).</summary>
    InvalidMac,
    /// <summary>Re-sends random old messages of its own to random replicas.</summary>
    Replay,
    /// <summary>Leader equivocation by the Twins technique: two instances share the identity, each talks to half the backups and sees different requests.</summary>
    Equivocate,
    /// <summary>A backup that sends COMMIT as soon as it PREPAREs (before it is prepared).</summary>
    EagerCommit,
    /// <summary>A client that sends two different operations under one request id to different replicas.</summary>
    ConflictingClient,
}

/// <summary>When the behaviour starts.</summary>
public enum FaultTiming
{
    /// <summary>From the start.</summary>
    Early,
    /// <summary>When the PRE-PREPARE of sequence number 3 is first delivered (a batch in agreement).</summary>
    MidBatch,
    /// <summary>When a correct replica first executes the first checkpoint sequence number K.</summary>
    CheckpointBoundary,
    /// <summary>When a correct replica first enters a view above 0 (or, if none has by mid-run, then).</summary>
    ViewChange,
}

/// <summary>Network condition until the heal time (after it the network is clean).</summary>
public enum NetworkCondition
{
    /// <summary>Delays 1–3 ms, nothing lost.</summary>
    Clean,
    /// <summary>Delays 1–10 ms (reordering), 10% loss, 5% duplication.</summary>
    Lossy,
    /// <summary>Replicas split into two groups, neither a quorum, for a while; then heals.</summary>
    PartitionHeal,
    /// <summary>One correct replica is cut off from everything for the first 300 ms (long enough to fall more than the window behind), then rejoins by state transfer.</summary>
    IsolateOne,
}

/// <summary>
/// One simulated scenario: a point of the fault matrix plus a seed. Its <see cref="Name"/> and
/// <see cref="Seed"/> reproduce it exactly (<see cref="ReplayCommand"/>).
/// </summary>
/// <param name="Protocol">protocol core name ("pbft").</param>
/// <param name="F">f (n = 3f+1).</param>
/// <param name="Role">faulty role.</param>
/// <param name="Behaviour">the faulty node's behaviour.</param>
/// <param name="Timing">when the behaviour starts.</param>
/// <param name="Network">network condition.</param>
/// <param name="Seed">PRNG seed.</param>
public sealed record Scenario(string Protocol, int F, FaultyRole Role, Behaviour Behaviour, FaultTiming Timing, NetworkCondition Network, ulong Seed)
{
    /// <summary>Planted-bug knob: COMMIT quorum override (0 = correct 2f+1).</summary>
    public int CommitQuorum { get; init; }

    /// <summary>"f1/leader/crash/early/clean".</summary>
    public string Name => string.Create(CultureInfo.InvariantCulture,
        $"f{F}/{Role.ToString().ToLowerInvariant()}/{Behaviour.ToString().ToLowerInvariant()}/{Timing.ToString().ToLowerInvariant()}/{Network.ToString().ToLowerInvariant()}");

    /// <summary>One-line command that replays this scenario.</summary>
    public string ReplayCommand => string.Create(CultureInfo.InvariantCulture,
        $"fastbft simulate --protocol {Protocol} --f {F} --seed {Seed} --scenario {Name}{(CommitQuorum > 0 ? $" --commit-quorum {CommitQuorum}" : "")}");

    /// <inheritdoc/>
    public override string ToString() => $"{Name} seed {Seed}";

    /// <summary>Parses a <see cref="Name"/> back into a scenario.</summary>
    /// <exception cref="FormatException">not of the form f1/role/behaviour/timing/network.</exception>
    public static Scenario Parse(string protocol, string name, ulong seed)
    {
        var p = name.Split('/');
        if (p.Length != 5 || p[0].Length < 2 || p[0][0] != 'f' || !int.TryParse(p[0].AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out int f))
            throw new FormatException($"scenario '{name}' is not f<F>/<role>/<behaviour>/<timing>/<network>");
        return new Scenario(protocol, f, ParseEnum<FaultyRole>(p[1]), ParseEnum<Behaviour>(p[2]), ParseEnum<FaultTiming>(p[3]), ParseEnum<NetworkCondition>(p[4]), seed);
    }

    private static T ParseEnum<T>(string s) where T : struct, Enum
        => Enum.TryParse<T>(s, ignoreCase: true, out var v) ? v : throw new FormatException($"'{s}' is not a {typeof(T).Name} ({string.Join(", ", Enum.GetNames<T>())})");
}

/// <summary>The combinatorial fault matrix (issue 3 §6): f × role × behaviour × timing × network × seeds.</summary>
public static class ScenarioMatrix
{
    /// <summary>Behaviours that apply to a faulty role.</summary>
    public static IReadOnlyList<Behaviour> BehavioursFor(FaultyRole role) => role switch
    {
        FaultyRole.None => [Behaviour.None],
        FaultyRole.Client => [Behaviour.ConflictingClient],
        FaultyRole.Leader => [Behaviour.Crash, Behaviour.Mute, Behaviour.Slow, Behaviour.WrongReply, Behaviour.WrongCheckpoint, Behaviour.InvalidMac, Behaviour.Replay, Behaviour.Equivocate],
        _ => [Behaviour.Crash, Behaviour.Mute, Behaviour.Slow, Behaviour.WrongReply, Behaviour.WrongCheckpoint, Behaviour.InvalidMac, Behaviour.Replay, Behaviour.EagerCommit],
    };

    /// <summary>
    /// The cross product. Scenarios without a faulty node have only the <see cref="FaultTiming.Early"/>
    /// timing (timing is meaningless there), so every generated scenario is distinct. Seeds are derived
    /// from <paramref name="baseSeed"/>, the scenario name and the seed index.
    /// </summary>
    public static IEnumerable<Scenario> Generate(string protocol, IEnumerable<int> fs, int seedsPerCase, ulong baseSeed = 1)
    {
        foreach (int f in fs)
        foreach (var role in Enum.GetValues<FaultyRole>())
        foreach (var behaviour in BehavioursFor(role))
        foreach (var timing in Enum.GetValues<FaultTiming>())
        {
            if (role == FaultyRole.None && timing != FaultTiming.Early) continue;
            foreach (var network in Enum.GetValues<NetworkCondition>())
            {
                var template = new Scenario(protocol, f, role, behaviour, timing, network, 0);
                ulong nameHash = 0;
                foreach (char c in template.Name) nameHash = SimRandom.Mix(nameHash ^ c);
                for (int s = 0; s < seedsPerCase; s++)
                    yield return template with { Seed = SimRandom.Mix(baseSeed ^ nameHash ^ ((ulong)s * 0x9E3779B97F4A7C15UL)) % 1_000_000_007UL };
            }
        }
    }
}
