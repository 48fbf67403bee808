using System.Diagnostics;

namespace FastBft.TrustedHw;

/// <summary>
/// Wraps an <see cref="IUsig"/> and accounts the time callers spend inside it (issue 12: "the share of time spent in the
/// USIG"). Every member forwards to the inner instance unchanged — batched calls stay batched — and adds the call's
/// wall-clock duration (two <see cref="Stopwatch.GetTimestamp"/> reads, ~20–40 ns per call in total) and its UI count to
/// thread-safe totals. Failed calls are timed too; their UIs are not counted.
/// </summary>
/// <remarks>For the device this is the replica thread's time in the driver: writing inputs, the doorbell, and polling for
/// the completion (spin, yield or sleep), so it measures what the replica loses to the USIG, not CPU burnt by a device.
/// Disposing it disposes the inner instance.</remarks>
public sealed class MeteredUsig : IUsig
{
    private readonly IUsig _inner;
    private long _ticks;
    private long _calls;
    private long _certified;
    private long _verified;

    /// <summary>Meters <paramref name="inner"/> (owned: disposed with this).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="inner"/> is null.</exception>
    public MeteredUsig(IUsig inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
    }

    /// <summary>The metered instance.</summary>
    public IUsig Inner => _inner;

    /// <summary>Total wall-clock time callers spent in the instance (all threads together).</summary>
    public TimeSpan Busy => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _ticks));

    /// <summary>Calls made (certify and verify, single and batched).</summary>
    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>UIs handed out by successful certify calls.</summary>
    public long Certified => Interlocked.Read(ref _certified);

    /// <summary>UIs checked by successful verify calls (valid or not).</summary>
    public long Verified => Interlocked.Read(ref _verified);

    /// <inheritdoc />
    public uint Id => _inner.Id;

    /// <inheritdoc />
    public ulong Epoch => _inner.Epoch;

    /// <inheritdoc />
    public UniqueIdentifier CreateUI(ReadOnlySpan<byte> digest)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            UniqueIdentifier ui = _inner.CreateUI(digest);
            Interlocked.Increment(ref _certified);
            return ui;
        }
        finally
        {
            Account(start);
        }
    }

    /// <inheritdoc />
    public int CreateUIs(ReadOnlySpan<byte> digests, Span<UniqueIdentifier> output)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            int n = _inner.CreateUIs(digests, output);
            Interlocked.Add(ref _certified, n);
            return n;
        }
        finally
        {
            Account(start);
        }
    }

    /// <inheritdoc />
    public bool VerifyUI(uint replicaId, ReadOnlySpan<byte> digest, in UniqueIdentifier ui)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            bool ok = _inner.VerifyUI(replicaId, digest, ui);
            Interlocked.Increment(ref _verified);
            return ok;
        }
        finally
        {
            Account(start);
        }
    }

    /// <inheritdoc />
    public int VerifyUIs(ReadOnlySpan<uint> replicaIds, ReadOnlySpan<byte> digests, ReadOnlySpan<UniqueIdentifier> uis, Span<bool> results)
    {
        long start = Stopwatch.GetTimestamp();
        try
        {
            int valid = _inner.VerifyUIs(replicaIds, digests, uis, results);
            Interlocked.Add(ref _verified, uis.Length);
            return valid;
        }
        finally
        {
            Account(start);
        }
    }

    /// <summary>Disposes the inner instance.</summary>
    public void Dispose() => _inner.Dispose();

    private void Account(long start)
    {
        Interlocked.Add(ref _ticks, Stopwatch.GetTimestamp() - start);
        Interlocked.Increment(ref _calls);
    }
}
