using System.Buffers;

namespace FastBft.Service;

/// <summary>
/// The ODRC part of the service contract (Thesis §6.2.2, Fig. 6.2; PROTOCOLS.md §7.1): on top of
/// <see cref="IRequestAnalyzer.AnalyzeRequest"/> (a superset of the state objects a request touches), the state of one
/// state object can be read and replaced, so that a selector can bring an object it does not maintain up to date from
/// a verified object checkpoint (Thesis §6.3.4, §6.4.2, Fig. 6.6). A state object is named by the byte string the
/// analyzer returns (a KV key, a coordination-service path).
/// </summary>
/// <remarks>Called from one thread (the execution replica's); deterministic: equal object states serialize to equal bytes on every replica.</remarks>
public interface IObjectStateService : IRequestAnalyzer
{
    /// <summary>
    /// Writes the state of object <paramref name="objectId"/> to <paramref name="state"/> (Thesis Fig. 6.2 <c>GetObjectState</c>).
    /// An absent object has a well-defined state too (for example an empty encoding), so every object id has one.
    /// </summary>
    /// <param name="objectId">the object id (1 byte string as returned by the analyzer; any length, 0 allowed).</param>
    /// <param name="state">receives the serialized object state (empty on entry).</param>
    void GetObjectState(ReadOnlySpan<byte> objectId, IBufferWriter<byte> state);

    /// <summary>
    /// Replaces the state of object <paramref name="objectId"/> with <paramref name="state"/>, as written by
    /// <see cref="GetObjectState"/> on a replica whose object checkpoint f+1 replicas vouched for (Thesis Fig. 6.2 <c>SetObjectState</c>).
    /// Other objects are not changed.
    /// </summary>
    /// <exception cref="InvalidDataException">the state is malformed (only a faulty majority can make a verified state malformed).</exception>
    void SetObjectState(ReadOnlySpan<byte> objectId, ReadOnlySpan<byte> state);

    /// <summary>
    /// Optional write knowledge (Thesis §6.6.1.2): adds to <paramref name="written"/> the objects <paramref name="operation"/>
    /// may modify (a subset of what <see cref="IRequestAnalyzer.AnalyzeRequest"/> returns) and returns true; returns false
    /// when the service gives no write knowledge (every touched object then counts as written).
    /// </summary>
    bool AnalyzeWrites(ReadOnlySpan<byte> operation, List<byte[]> written) => false;

    /// <summary>
    /// The locality group of an object for the locality placement (Thesis §6.7.1: a file is placed with its parent
    /// directory): objects whose groups are equal are maintained by the same execution replicas. Default: the object itself.
    /// </summary>
    ReadOnlySpan<byte> LocalityGroup(ReadOnlySpan<byte> objectId) => objectId;
}
