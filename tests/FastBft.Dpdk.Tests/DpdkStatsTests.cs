using System.Reflection;
using FastBft.Transport.Dpdk;

namespace FastBft.Dpdk.Tests;

/// <summary>
/// <see cref="DpdkStats"/> is written by the link's I/O thread and read by other threads (issue 9, item 8):
/// read-only properties with acquire reads, no public fields. Needs no DPDK.
/// </summary>
public class DpdkStatsTests
{
    [Fact]
    public void Counters_are_read_only_properties_not_public_fields()
    {
        Assert.Empty(typeof(DpdkStats).GetFields(BindingFlags.Public | BindingFlags.Instance));
        var counters = typeof(DpdkStats).GetProperties(BindingFlags.Public | BindingFlags.Instance);
        Assert.True(counters.Length >= 26);
        Assert.All(counters, p => Assert.False(p.CanWrite, $"{p.Name} is writable"));
    }

    [Fact]
    public void Drops_are_counted_per_reason_and_summed_and_listed()
    {
        var s = new DpdkStats();
        s.CountDrop(FrameVerdict.BadUdpChecksum);
        s.CountDrop(FrameVerdict.BadUdpChecksum);
        s.CountDrop(FrameVerdict.WrongEthertype);
        s.Add(DpdkStats.Counter.RxFrames, 5);
        Assert.Equal(2, s.RxBadUdpChecksum);
        Assert.Equal(1, s.RxWrongEthertype);
        Assert.Equal(3, s.RxDropped);
        Assert.Equal(5, s.RxFrames);
        Assert.Equal("RxFrames=5 RxWrongEthertype=1 RxBadUdpChecksum=2", s.ToString());
    }
}
