using System.Buffers;
using System.Text;
using FastBft.Workloads.Kv.Gateway;

namespace FastBft.Kv.Tests;

public sealed class RespParserTests
{
    private static readonly RespLimits Limits = new(MaxArguments: 16, MaxBulkBytes: 1000, MaxInlineBytes: 200, MaxCommandBytes: 4000);

    private static (RespParseStatus Status, List<string> Args, long Consumed) Parse(byte[] input, RespLimits? limits = null)
    {
        var seq = new ReadOnlySequence<byte>(input);
        var st = RespParser.TryParse(seq, limits ?? Limits, out var args, out var consumed, out _);
        return (st, args.Select(a => Encoding.ASCII.GetString(a)).ToList(), seq.Slice(0, consumed).Length);
    }

    [Fact]
    public void ParsesArraysOfBulkStrings()
    {
        var input = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n"u8.ToArray();
        var (st, args, consumed) = Parse(input);
        Assert.Equal(RespParseStatus.Command, st);
        Assert.Equal(new[] { "SET", "k", "" }, args);
        Assert.Equal(input.Length - 14, consumed);
    }

    [Fact]
    public void ParsesInlineCommands()
    {
        var (st, args, _) = Parse("  GET   key \r\n"u8.ToArray());
        Assert.Equal(RespParseStatus.Command, st);
        Assert.Equal(new[] { "GET", "key" }, args);
        Assert.Equal(RespParseStatus.Command, Parse("\r\n"u8.ToArray()).Status);
    }

    [Fact]
    public void EveryPrefixOfAValidCommandIsIncomplete()
    {
        var input = "*3\r\n$3\r\nSET\r\n$5\r\nhello\r\n$11\r\nhello world\r\n"u8.ToArray();
        for (int i = 0; i < input.Length; i++)
            Assert.Equal(RespParseStatus.Incomplete, Parse(input[..i]).Status);
        Assert.Equal(RespParseStatus.Command, Parse(input).Status);
    }

    [Fact]
    public void ACommandSplitAcrossSegmentsParses()
    {
        var input = "*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n"u8.ToArray();
        for (int cut = 1; cut < input.Length; cut++)
        {
            var seq = Segments.Create(input[..cut], input[cut..]);
            Assert.Equal(RespParseStatus.Command, RespParser.TryParse(seq, Limits, out var args, out _, out _));
            Assert.Equal("0123456789", Encoding.ASCII.GetString(args[1]));
        }
    }

    [Theory]
    [InlineData("*x\r\n")]
    [InlineData("*-5\r\n")]
    [InlineData("*17\r\n")]                                  // above MaxArguments
    [InlineData("*1\r\n$1001\r\n")]                          // above MaxBulkBytes: rejected before the bytes arrive
    [InlineData("*1\r\n$-1\r\n")]
    [InlineData("*1\r\n$1x\r\na\r\n")]
    [InlineData("*1\r\n+OK\r\n")]
    [InlineData("*1\r\n$1\r\nab\r\n")]                       // bulk not terminated by CRLF
    [InlineData("*1\n$1\r\na\r\n")]                          // length line without CR
    [InlineData("*99999999999999999999999\r\n")]
    [InlineData("*1\r\n$\r\n")]
    [InlineData("*1\r\n$ 1\r\n")]
    [InlineData("*5\r\n$1000\r\n")]                          // fine so far...
    public void MalformedOrOversizedInputIsRejected(string text)
    {
        var (st, _, _) = Parse(Encoding.ASCII.GetBytes(text));
        if (text == "*5\r\n$1000\r\n") { Assert.Equal(RespParseStatus.Incomplete, st); return; }
        Assert.Equal(RespParseStatus.Malformed, st);
    }

    [Fact]
    public void CommandSizeAndLineLengthAreBounded()
    {
        var sb = new StringBuilder("*5\r\n");
        for (int i = 0; i < 5; i++) sb.Append("$1000\r\n").Append('x', 1000).Append("\r\n");
        Assert.Equal(RespParseStatus.Malformed, Parse(Encoding.ASCII.GetBytes(sb.ToString())).Status);   // 5000 > MaxCommandBytes
        Assert.Equal(RespParseStatus.Malformed, Parse(Encoding.ASCII.GetBytes(new string('a', 300))).Status);   // inline line without end
        Assert.Equal(RespParseStatus.Malformed, Parse(Encoding.ASCII.GetBytes("*" + new string('1', 40))).Status);   // length line without end
    }

    [Fact]
    public void RandomAndMutatedInputNeverThrowsAndAlwaysProgresses()
    {
        var rng = new Random(1234);
        var valid = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nPING\r\n"u8.ToArray();
        byte[] alphabet = "*$:+-\r\n0123456789 -aZ"u8.ToArray();
        for (int iter = 0; iter < 50_000; iter++)
        {
            byte[] input;
            switch (iter % 3)
            {
                case 0: input = new byte[rng.Next(0, 64)]; rng.NextBytes(input); break;
                case 1: input = new byte[rng.Next(0, 64)]; for (int i = 0; i < input.Length; i++) input[i] = alphabet[rng.Next(alphabet.Length)]; break;
                default:
                    input = (byte[])valid.Clone();
                    for (int m = rng.Next(1, 4); m > 0; m--) input[rng.Next(input.Length)] = alphabet[rng.Next(alphabet.Length)];
                    input = input[..rng.Next(input.Length + 1)];
                    break;
            }
            // Parse like the gateway: repeatedly, until incomplete or malformed; each command must consume bytes.
            var seq = new ReadOnlySequence<byte>(input);
            int guard = 0;
            while (true)
            {
                var st = RespParser.TryParse(seq, Limits, out var args, out var consumed, out var error);
                if (st == RespParseStatus.Malformed) { Assert.NotNull(error); break; }
                if (st == RespParseStatus.Incomplete) break;
                var rest = seq.Slice(consumed);
                Assert.True(rest.Length < seq.Length, "a parsed command consumed nothing");
                Assert.True(args.Count <= Limits.MaxArguments);
                seq = rest;
                Assert.True(++guard < 1000);
            }
        }
    }

    private sealed class Segments : ReadOnlySequenceSegment<byte>
    {
        private Segments(byte[] data, long start) { Memory = data; RunningIndex = start; }
        public static ReadOnlySequence<byte> Create(byte[] a, byte[] b)
        {
            var first = new Segments(a, 0);
            var second = new Segments(b, a.Length);
            first.Next = second;
            return new ReadOnlySequence<byte>(first, 0, second, b.Length);
        }
    }
}
