using System.Diagnostics;

namespace FastBft.Transport.Tests;

/// <summary>Records delivered messages (allocates; not for allocation tests).</summary>
internal sealed class Collector : IMessageHandler
{
    public readonly List<(uint Sender, uint Destination, byte[] Message)> Messages = new();
    /// <summary>When set, every message is treated as authenticated and fresh: its sender's route is confirmed.</summary>
    public ITransport? ConfirmOn;
    private ulong _fresh;

    public void OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message)
    {
        ConfirmOn?.ConfirmRoute(sender, ++_fresh);
        Messages.Add((sender, destination, message.ToArray()));
    }
}

/// <summary>Counts delivered messages without allocating.</summary>
internal sealed class Counter : IMessageHandler
{
    public long Count;
    public long Bytes;
    public uint LastSender;
    /// <summary>When set, every message is treated as authenticated and fresh: its sender's route is confirmed.</summary>
    public ITransport? ConfirmOn;

    public void OnMessage(uint sender, uint destination, ReadOnlySpan<byte> message)
    {
        ConfirmOn?.ConfirmRoute(sender, (ulong)Count + 1);
        Count++;
        Bytes += message.Length;
        LastSender = sender;
    }
}

/// <summary>An in-memory link: records sent datagrams; delivers queued ones.</summary>
internal sealed class FakeLink(int maxDatagramSize = 1000) : IDatagramLink
{
    public readonly List<(int Peer, byte[] Data)> Sent = new();
    public readonly Queue<(int Peer, byte[] Data)> Inbox = new();
    public int Flushes;

    public int MaxDatagramSize { get; } = maxDatagramSize;
    public TransportStats Stats { get; } = new();

    public void SendDatagram(int peer, ReadOnlySpan<byte> datagram)
    {
        Sent.Add((peer, datagram.ToArray()));
        Stats.AddDatagramsSent();
        Stats.AddBytesSent(datagram.Length);
    }

    public void FlushDatagrams() => Flushes++;

    public int ReceiveDatagrams(IDatagramSink sink, int timeoutMs)
    {
        int n = 0;
        while (Inbox.TryDequeue(out var d))
        {
            Stats.AddDatagramsReceived();
            sink.OnDatagram(d.Peer, d.Data);
            n++;
        }
        return n;
    }

    public void Dispose()
    {
    }
}

internal sealed class FakeClock
{
    public long Ms = 1_000_000;
    public long Now() => Ms;
}

internal static class Wait
{
    /// <summary>Polls until <paramref name="done"/> or a generous deadline; returns whether done.</summary>
    public static bool Until(Func<bool> done, Action poll, int deadlineMs = 10_000)
    {
        var sw = Stopwatch.StartNew();
        while (!done())
        {
            if (sw.ElapsedMilliseconds > deadlineMs) return false;
            poll();
        }
        return true;
    }

    public static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }
}
