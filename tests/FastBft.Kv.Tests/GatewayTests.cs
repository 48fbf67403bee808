using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using FastBft.Service;
using FastBft.Workloads.Kv;
using FastBft.Workloads.Kv.Gateway;

namespace FastBft.Kv.Tests;

/// <summary>Executes operations on a local KV service in a random order of concurrently submitted operations (like a cell would order requests of different client ids).</summary>
internal sealed class LocalInvoker : IKvInvoker
{
    private readonly KvService _service = new(new MemoryKvStore());
    private readonly object _lock = new();
    private long _rid;
    public async Task<byte[]> InvokeAsync(byte[] operation)
    {
        await Task.Delay(Random.Shared.Next(0, 3));
        lock (_lock)
        {
            var reply = new ArrayBufferWriter<byte>();
            _service.Execute(new RequestInfo(1000, (ulong)++_rid, (ulong)_rid, 0), operation, reply, null);
            return reply.WrittenSpan.ToArray();
        }
    }
}

public sealed class GatewayTests
{
    private static async Task<(RespGateway Gateway, Socket Client)> StartAsync(RespLimits? limits = null)
    {
        var g = new RespGateway(new IPEndPoint(IPAddress.Loopback, 0), new LocalInvoker(), 64 * 1024, limits);
        g.Start();
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(g.LocalEndPoint, TestContext.Current.CancellationToken);
        return (g, s);
    }

    private static async Task<string> ReadUntilAsync(Socket s, int expectedBytes)
    {
        var buf = new byte[1 << 16];
        var sb = new MemoryStream();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (sb.Length < expectedBytes)
        {
            int n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token);
            if (n == 0) break;
            sb.Write(buf, 0, n);
        }
        return Encoding.ASCII.GetString(sb.ToArray());
    }

    private static async Task<string> ReadToEndAsync(Socket s)
    {
        var buf = new byte[1 << 16];
        var sb = new MemoryStream();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        int n;
        while ((n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token)) > 0) sb.Write(buf, 0, n);
        return Encoding.ASCII.GetString(sb.ToArray());
    }

    [Fact]
    public async Task PipelinedCommandsAnswerInOrderWithPerKeyOrder()
    {
        var (g, s) = await StartAsync();
        await using var _ = g;
        using var __ = s;
        var sb = new StringBuilder();
        var expected = new StringBuilder();
        for (int i = 0; i < 200; i++)
        {
            sb.Append($"*3\r\n$3\r\nSET\r\n$2\r\nk{i % 3}\r\n${i.ToString().Length}\r\n{i}\r\n*2\r\n$3\r\nGET\r\n$2\r\nk{i % 3}\r\n");
            expected.Append($"+OK\r\n${i.ToString().Length}\r\n{i}\r\n");
            sb.Append("PING\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n");
            expected.Append($"+PONG\r\n:{i + 1}\r\n");
        }
        await s.SendAsync(Encoding.ASCII.GetBytes(sb.ToString()));
        Assert.Equal(expected.ToString(), await ReadUntilAsync(s, expected.Length));
    }

    [Fact]
    public async Task ConnectCommandsAndUnknownCommandsAreAnswered()
    {
        var (g, s) = await StartAsync();
        await using var _ = g;
        using var __ = s;
        const string input = "*2\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n*2\r\n$7\r\nCOMMAND\r\n$4\r\nDOCS\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*1\r\n$5\r\nHELLO\r\n*1\r\n$6\r\nNOSUCH\r\n*1\r\n$3\r\nGET\r\n*3\r\n$3\r\nCAS\r\n$1\r\nx\r\n$1\r\ny\r\n*4\r\n$3\r\nCAS\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n*1\r\n$4\r\nQUIT\r\n";
        await s.SendAsync(Encoding.ASCII.GetBytes(input));
        var reply = await ReadToEndAsync(s);
        var lines = reply.Split("\r\n");
        Assert.Equal("*0", lines[0]);
        Assert.Equal("*0", lines[1]);
        Assert.Equal("+OK", lines[2]);
        Assert.Equal("$2", lines[3]); Assert.Equal("hi", lines[4]);
        Assert.StartsWith("-NOPROTO", lines[5]);
        Assert.StartsWith("-ERR unknown command 'NOSUCH'", lines[6]);
        Assert.StartsWith("-ERR wrong number of arguments for 'get'", lines[7]);
        Assert.StartsWith("-ERR wrong number of arguments for 'cas'", lines[8]);
        Assert.Equal(":0", lines[9]);
        Assert.Equal("+OK", lines[10]);          // QUIT, then the connection closes
    }

    [Theory]
    [InlineData("*1\r\n$99999999\r\n")]             // claims far beyond the limit
    [InlineData("*abc\r\n")]
    [InlineData("*2\r\n$3\r\nGET\r\n:1\r\n")]
    public async Task AMalformedStreamClosesOnlyThatConnection(string bad)
    {
        var (g, s) = await StartAsync(RespLimits.Default with { MaxBulkBytes = 1024 });
        await using var _ = g;
        using var __ = s;
        using var other = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await other.ConnectAsync(g.LocalEndPoint, TestContext.Current.CancellationToken);
        await s.SendAsync(Encoding.ASCII.GetBytes("*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n" + bad));
        var reply = await ReadToEndAsync(s);                  // returns because the gateway closes it
        Assert.StartsWith("+OK\r\n-ERR Protocol error", reply);
        await other.SendAsync("*2\r\n$3\r\nGET\r\n$1\r\na\r\n"u8.ToArray());
        Assert.Equal("$1\r\n1\r\n", await ReadUntilAsync(other, 7));
        Assert.Equal(1, g.ProtocolErrors);
    }

    [Fact]
    public async Task RandomGarbageNeverHangsTheGateway()
    {
        var g = new RespGateway(new IPEndPoint(IPAddress.Loopback, 0), new LocalInvoker(), 64 * 1024, RespLimits.Default with { MaxBulkBytes = 4096, MaxInlineBytes = 4096 });
        g.Start();
        await using var _ = g;
        var rng = new Random(99);
        for (int i = 0; i < 30; i++)
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await s.ConnectAsync(g.LocalEndPoint, TestContext.Current.CancellationToken);
            var junk = new byte[rng.Next(1, 2000)];
            rng.NextBytes(junk);
            junk[0] = (byte)"*$+x"[rng.Next(4)];
            await s.SendAsync(junk);
            s.Shutdown(SocketShutdown.Send);
            await ReadToEndAsync(s);                          // the gateway answers what it can and closes
        }
        using var ok = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await ok.ConnectAsync(g.LocalEndPoint, TestContext.Current.CancellationToken);
        await ok.SendAsync("PING\r\n"u8.ToArray());
        Assert.Equal("+PONG\r\n", await ReadUntilAsync(ok, 7));
    }
}
