using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using FastBft.Perf.Odrc;
using FastBft.Service;
using FastBft.Simulation.Odrc;
using FastBft.Workloads.Coord;

namespace FastBft.Odrc.Tests;

/// <summary>The coordination service (docs/odrc.md §7): ZooKeeper-like semantics, its ODRC objects, and its ODRC matrix.</summary>
public sealed class CoordServiceTests
{
    private readonly CoordService _s = new();
    private ulong _rid;

    private byte[] Run(byte[] op)
    {
        var w = new ArrayBufferWriter<byte>();
        _s.Execute(new RequestInfo(1000, ++_rid, _rid, 0), op, w, null);
        return w.WrittenSpan.ToArray();
    }

    private static CoordStatus Status(byte[] reply) => (CoordStatus)reply[0];

    [Fact]
    public void CreateNeedsTheParentAndRejectsDuplicates()
    {
        Assert.Equal(CoordStatus.NoNode, Status(Run(CoordCodec.Create("/a/b", "x"u8))));
        Assert.Equal(CoordStatus.Ok, Status(Run(CoordCodec.Create("/a", "x"u8))));
        Assert.Equal(CoordStatus.NodeExists, Status(Run(CoordCodec.Create("/a", "y"u8))));
        var r = Run(CoordCodec.Create("/a/b", "x"u8));
        Assert.Equal("/a/b", Encoding.UTF8.GetString(r.AsSpan(1)));
    }

    [Fact]
    public void SequentialCreatesNumberChildrenPerParent()
    {
        Run(CoordCodec.Create("/q", []));
        var a = Run(CoordCodec.Create("/q/item", "1"u8, sequential: true));
        var b = Run(CoordCodec.Create("/q/item", "2"u8, sequential: true));
        Assert.Equal("/q/item#0000000000", Encoding.UTF8.GetString(a.AsSpan(1)));
        Assert.Equal("/q/item#0000000001", Encoding.UTF8.GetString(b.AsSpan(1)));
        Assert.Equal(CoordStatus.BadArguments, Status(Run(CoordCodec.Create("/q/x#0000000009", []))));   // names the service chooses
        var children = Run(CoordCodec.GetChildren("/q"));
        Assert.Equal(2, BinaryPrimitives.ReadInt32LittleEndian(children.AsSpan(1)));
    }

    [Fact]
    public void ConditionalUpdatesCheckTheVersion()
    {
        Run(CoordCodec.Create("/c", "0"u8));
        Assert.Equal(CoordStatus.BadVersion, Status(Run(CoordCodec.SetData("/c", "1"u8, 5))));
        var ok = Run(CoordCodec.SetData("/c", "1"u8, 0));
        Assert.Equal(1L, BinaryPrimitives.ReadInt64LittleEndian(ok.AsSpan(1)));
        Assert.Equal(CoordStatus.BadVersion, Status(Run(CoordCodec.Delete("/c", 0))));
        var get = Run(CoordCodec.GetData("/c"));
        Assert.Equal("1", Encoding.UTF8.GetString(get.AsSpan(9)));
        Assert.Equal(CoordStatus.Ok, Status(Run(CoordCodec.Delete("/c", 1))));
        Assert.Equal(CoordStatus.NoNode, Status(Run(CoordCodec.Exists("/c"))));
    }

    [Fact]
    public void DeleteOfANodeWithChildrenIsRefused()
    {
        Run(CoordCodec.Create("/p", []));
        Run(CoordCodec.Create("/p/c", []));
        Assert.Equal(CoordStatus.NotEmpty, Status(Run(CoordCodec.Delete("/p"))));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a")]
    [InlineData("/a/")]
    [InlineData("/a//b")]
    [InlineData("/a/../b")]
    [InlineData("/a#12")]
    public void MalformedPathsAreRejected(string path)
    {
        Assert.Equal(CoordStatus.BadArguments, Status(Run(CoordCodec.GetData(path))));
        Assert.False(_s.AnalyzeRequest(CoordCodec.GetData(path), new List<byte[]>()));
    }

    [Fact]
    public void LyingLengthFieldsAreRejected()
    {
        var op = CoordCodec.SetData("/a", "xyz"u8);
        BinaryPrimitives.WriteInt32LittleEndian(op.AsSpan(1 + 4 + 2), 1000);      // data length beyond the operation
        Assert.Equal(CoordStatus.BadArguments, Status(Run(op)));
        var op2 = CoordCodec.GetData("/a");
        BinaryPrimitives.WriteInt32LittleEndian(op2.AsSpan(1), int.MaxValue);
        Assert.Equal(CoordStatus.BadArguments, Status(Run(op2)));
    }

    [Fact]
    public void ObjectsAreNodesAndCreateAndDeleteTouchTheParent_681()
    {
        static List<string> Objects(byte[] op) { var l = new List<byte[]>(); new CoordService().AnalyzeRequest(op, l); return l.Select(Encoding.UTF8.GetString).ToList(); }
        Assert.Equal(["/a/b", "/a"], Objects(CoordCodec.Create("/a/b", [])));
        Assert.Equal(["/a/b", "/a"], Objects(CoordCodec.Delete("/a/b")));
        Assert.Equal(["/a/b"], Objects(CoordCodec.SetData("/a/b", [])));
        Assert.Equal(["/a"], Objects(CoordCodec.Create("/a/q", [], sequential: true)));      // a sequential node lives in its parent's object
        Assert.Equal(["/a"], Objects(CoordCodec.GetData("/a/q#0000000003")));
        Assert.Equal(["/a"], Objects(CoordCodec.Delete("/a/q#0000000003")));
    }

    [Fact]
    public void ObjectStateMovesOneNodeAndItsSequentialChildren()
    {
        Run(CoordCodec.Create("/a", "A"u8));
        Run(CoordCodec.Create("/a/s", "S"u8, sequential: true));
        Run(CoordCodec.Create("/a/n", "N"u8));
        var other = new CoordService();
        foreach (var id in new[] { "/", "/a", "/a/n" })
        {
            var w = new ArrayBufferWriter<byte>();
            _s.GetObjectState(Encoding.UTF8.GetBytes(id), w);
            other.SetObjectState(Encoding.UTF8.GetBytes(id), w.WrittenSpan);
        }
        Span<byte> d1 = stackalloc byte[32], d2 = stackalloc byte[32];
        _s.GetStateDigest(d1);
        other.GetStateDigest(d2);
        Assert.True(d1.SequenceEqual(d2));
        Assert.Throws<InvalidDataException>(() => other.SetObjectState("/a"u8, [1, 2, 3]));
    }

    [Fact]
    public void TheCoordinationServiceRunsTheOdrcMatrix()
    {
        var failures = OdrcMatrix.Scenarios(1, baseSeed: 77).Select(s => OdrcSimulate.Create(s, "coord").Run()).Where(r => !r.Passed).Select(r => r.ToString()).ToList();
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
