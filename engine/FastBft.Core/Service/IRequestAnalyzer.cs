namespace FastBft.Service;

/// <summary>
/// Optional contract of a service whose requests touch identifiable state objects (keys): the selective-execution
/// (ODRC) stage asks it which objects an ordered request reads or writes before deciding who executes it
/// (Thesis §6; DESIGN.md "Execution"). Services that do not implement it are treated as touching the whole state.
/// </summary>
public interface IRequestAnalyzer
{
    /// <summary>
    /// Adds the state objects (keys, as byte strings) <paramref name="operation"/> reads or writes to
    /// <paramref name="objects"/>, in the order the operation names them (duplicates kept). Pure: no state is read or changed.
    /// Returns false, adding nothing, if the operation is malformed (its execution then only produces an error reply and
    /// touches no object).
    /// </summary>
    /// <param name="operation">the client operation, as passed to <see cref="IReplicatedService.Execute"/>.</param>
    /// <param name="objects">receives one entry per object named (each a new array).</param>
    bool AnalyzeRequest(ReadOnlySpan<byte> operation, List<byte[]> objects);
}
