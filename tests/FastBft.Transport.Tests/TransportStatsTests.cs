using System.Reflection;

namespace FastBft.Transport.Tests;

/// <summary>
/// The counters are written by the transport's thread and read by metrics and harness threads (issue 9,
/// item 8): they must be exposed as properties that read with acquire semantics, not as public fields
/// that any thread reads (and another assembly writes) without synchronisation.
/// </summary>
public class TransportStatsTests
{
    [Fact]
    public void Counters_are_read_only_properties_not_public_fields()
    {
        Assert.Empty(typeof(TransportStats).GetFields(BindingFlags.Public | BindingFlags.Instance));
        var counters = typeof(TransportStats).GetProperties(BindingFlags.Public | BindingFlags.Instance);
        Assert.Equal(12, counters.Length);
        Assert.All(counters, p => Assert.False(p.CanWrite, $"{p.Name} is writable"));
        Assert.All(counters, p => Assert.NotNull(typeof(TransportStats).GetMethod("Add" + p.Name)));
    }

    [Fact]
    public void Add_methods_update_the_matching_counter()
    {
        var s = new TransportStats();
        foreach (var p in typeof(TransportStats).GetProperties())
        {
            typeof(TransportStats).GetMethod("Add" + p.Name)!.Invoke(s, [3L]);
            Assert.Equal(3L, p.GetValue(s));
        }
        s.AddMessagesSent();
        Assert.Equal(4, s.MessagesSent);
    }

    [Fact]
    public void A_reader_thread_sees_monotonic_progress_of_the_single_writer()
    {
        var s = new TransportStats();
        const long total = 2_000_000;
        long seen = 0, regressions = 0;
        var reader = new Thread(() =>
        {
            long last = 0;
            while (true)
            {
                long v = s.BytesSent;          // a property read: never hoisted out of the loop
                if (v < last) regressions++;
                last = v;
                if (v >= total) break;
            }
            seen = last;
        });
        reader.Start();
        for (long i = 0; i < total; i++) s.AddBytesSent();
        Assert.True(reader.Join(TimeSpan.FromSeconds(30)), "the reader never saw the final value");
        Assert.Equal(total, seen);
        Assert.Equal(0, regressions);
    }
}
