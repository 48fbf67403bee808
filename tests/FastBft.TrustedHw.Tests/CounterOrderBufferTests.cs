namespace FastBft.TrustedHw.Tests;

public class CounterOrderBufferTests
{
    private static UniqueIdentifier Ui(ulong epoch, ulong counter) => new(epoch, counter, new byte[32]);

    private static List<string> Drain(CounterOrderBuffer<string> b, uint sender)
    {
        var got = new List<string>();
        while (b.TryTakeNext(sender, out string m, out _))
        {
            got.Add(m);
        }

        return got;
    }

    [Fact]
    public void In_order_messages_are_delivered_immediately()
    {
        var b = new CounterOrderBuffer<string>(maxSenders: 3, capacityPerSender: 8);
        b.Register(1, epoch: 5, nextCounter: 1);
        for (ulong c = 1; c <= 20; c++)
        {
            CounterOrderResult r = b.Offer(1, Ui(5, c), $"m{c}");
            Assert.Equal(CounterOrderStatus.InOrder, r.Status);
            Assert.True(r.Stored);
            Assert.True(b.TryTakeNext(1, out string m, out ulong counter));
            Assert.Equal($"m{c}", m);
            Assert.Equal(c, counter);
        }

        Assert.Equal(21ul, b.GetState(1).ExpectedCounter);
    }

    [Fact]
    public void Messages_after_a_gap_wait_and_are_released_in_counter_order()
    {
        var b = new CounterOrderBuffer<string>(3, 8);
        b.Register(0, 1);
        CounterOrderResult r = b.Offer(0, Ui(1, 3), "m3");
        Assert.Equal(CounterOrderStatus.BufferedAfterGap, r.Status);
        Assert.Equal(1ul, r.ExpectedCounter); // the gap starts at 1
        Assert.Equal(CounterOrderStatus.BufferedAfterGap, b.Offer(0, Ui(1, 2), "m2").Status);
        Assert.Empty(Drain(b, 0)); // blocked on the gap
        Assert.Equal(new CounterOrderSenderState(1, 1, 2, 3, 0, 0, 0), b.GetState(0));
        Assert.Equal(CounterOrderStatus.InOrder, b.Offer(0, Ui(1, 1), "m1").Status);
        Assert.Equal(new[] { "m1", "m2", "m3" }, Drain(b, 0));
        Assert.Equal(4ul, b.GetState(0).ExpectedCounter);
        Assert.Equal(0, b.GetState(0).Buffered);
    }

    [Fact]
    public void Duplicates_and_old_messages_are_dropped_and_counted()
    {
        var b = new CounterOrderBuffer<string>(3, 8);
        b.Register(2, 1);
        b.Offer(2, Ui(1, 1), "m1");
        Drain(b, 2);
        Assert.Equal(CounterOrderStatus.Duplicate, b.Offer(2, Ui(1, 1), "again").Status); // already delivered
        Assert.Equal(CounterOrderStatus.BufferedAfterGap, b.Offer(2, Ui(1, 4), "m4").Status);
        Assert.Equal(CounterOrderStatus.Duplicate, b.Offer(2, Ui(1, 4), "m4'").Status); // already waiting
        Assert.Equal(CounterOrderStatus.Duplicate, b.Offer(2, Ui(1, 0), "zero").Status);
        Assert.Equal(3, b.GetState(2).Duplicates);
        b.Offer(2, Ui(1, 2), "m2");
        b.Offer(2, Ui(1, 3), "m3");
        Assert.Equal(new[] { "m2", "m3", "m4" }, Drain(b, 2)); // the first m4 won
    }

    [Fact]
    public void Buffer_is_bounded_and_overflow_is_reported()
    {
        var b = new CounterOrderBuffer<string>(1, capacityPerSender: 4);
        b.Register(0, 1);
        Assert.Equal(CounterOrderStatus.BufferedAfterGap, b.Offer(0, Ui(1, 4), "m4").Status); // expected + 3: fits
        CounterOrderResult r = b.Offer(0, Ui(1, 5), "m5"); // expected + 4: beyond the bound
        Assert.Equal(CounterOrderStatus.Overflow, r.Status);
        Assert.False(r.Stored);
        Assert.Equal(1, b.GetState(0).Overflows);
        Assert.Equal(1, b.GetState(0).Buffered);
        for (ulong c = 1; c <= 3; c++)
        {
            b.Offer(0, Ui(1, c), $"m{c}");
        }

        Assert.Equal(new[] { "m1", "m2", "m3", "m4" }, Drain(b, 0));
        Assert.Equal(CounterOrderStatus.InOrder, b.Offer(0, Ui(1, 5), "m5").Status); // fits now
    }

    [Fact]
    public void A_new_epoch_is_reported_not_accepted_until_the_protocol_accepts_it()
    {
        var b = new CounterOrderBuffer<string>(2, 8);
        b.Register(1, epoch: 3);
        b.Offer(1, Ui(3, 1), "m1");
        b.Offer(1, Ui(3, 3), "m3"); // waits for 2
        CounterOrderResult r = b.Offer(1, Ui(4, 1), "n1");
        Assert.Equal(CounterOrderStatus.NewEpoch, r.Status);
        Assert.False(r.Stored);
        Assert.Equal(3ul, r.ExpectedEpoch);
        Assert.Equal(4ul, b.GetState(1).ObservedNewEpoch);
        Assert.Equal(new[] { "m1" }, Drain(b, 1)); // still processing epoch 3 only
        Assert.Equal(CounterOrderStatus.NewEpoch, b.Offer(1, Ui(4, 2), "n2").Status);

        Assert.Throws<ArgumentOutOfRangeException>(() => b.AcceptEpoch(1, newEpoch: 3, nextCounter: 1));
        Assert.Equal(1, b.AcceptEpoch(1, newEpoch: 4, nextCounter: 2)); // protocol says: continue at 2; m3 of epoch 3 dropped
        Assert.Equal(0ul, b.GetState(1).ObservedNewEpoch);
        Assert.Equal(CounterOrderStatus.StaleEpoch, b.Offer(1, Ui(3, 2), "m2").Status);
        Assert.Equal(CounterOrderStatus.Duplicate, b.Offer(1, Ui(4, 1), "n1").Status);
        Assert.Equal(CounterOrderStatus.InOrder, b.Offer(1, Ui(4, 2), "n2").Status);
        Assert.Equal(new[] { "n2" }, Drain(b, 1));
    }

    [Fact]
    public void Unknown_senders_and_bad_registration_are_rejected()
    {
        var b = new CounterOrderBuffer<string>(2, 8);
        Assert.Equal(CounterOrderStatus.UnknownSender, b.Offer(0, Ui(1, 1), "x").Status);
        Assert.Equal(CounterOrderStatus.UnknownSender, b.Offer(9, Ui(1, 1), "x").Status);
        Assert.False(b.TryTakeNext(9, out _, out _));
        Assert.Throws<ArgumentOutOfRangeException>(() => b.Register(2, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => b.Register(0, 1, nextCounter: 0));
        b.Register(0, 1);
        Assert.Throws<InvalidOperationException>(() => b.Register(0, 2));
        Assert.Throws<InvalidOperationException>(() => b.AcceptEpoch(1, 2, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CounterOrderBuffer<string>(0, 1));
    }

    [Fact]
    public void Any_arrival_order_with_duplicates_is_delivered_exactly_once_in_counter_order()
    {
        for (int seed = 0; seed < 50; seed++)
        {
            var rng = new Random(seed);
            const int n = 64;
            var arrivals = new List<ulong>();
            for (ulong c = 1; c <= n; c++)
            {
                arrivals.Add(c);
                if (rng.Next(4) == 0)
                {
                    arrivals.Add(c); // duplicate
                }
            }

            Shuffle(arrivals, rng);
            var b = new CounterOrderBuffer<ulong>(1, capacityPerSender: n);
            b.Register(0, 7);
            var delivered = new List<ulong>();
            foreach (ulong c in arrivals)
            {
                b.Offer(0, Ui(7, c), c);
                while (b.TryTakeNext(0, out ulong m, out ulong counter))
                {
                    Assert.Equal(m, counter);
                    delivered.Add(m);
                }
            }

            Assert.Equal(Enumerable.Range(1, n).Select(i => (ulong)i), delivered);
        }
    }

    [Fact]
    public void Two_receivers_see_a_faulty_senders_messages_in_the_same_order_or_block()
    {
        // Equivocation attempt: a sender certifies m(1) for one receiver and withholds it from the other.
        using var sender = new SoftwareUsig(0, ModelFixture.Key, epoch: 1);
        byte[] d = Digests.Make(3);
        var uis = new UniqueIdentifier[3];
        sender.CreateUIs(d, uis);
        using var local = new SoftwareUsig(1, ModelFixture.Key, epoch: 1);
        var a = new UsigVerifier<int>(local, new CounterOrderBuffer<int>(2, 8));
        var b = new UsigVerifier<int>(local, new CounterOrderBuffer<int>(2, 8));
        a.Buffer.Register(0, 1);
        b.Buffer.Register(0, 1);
        for (int i = 0; i < 3; i++)
        {
            a.Receive(0, d.AsSpan(i * 32, 32), uis[i], i);
        }

        for (int i = 1; i < 3; i++)
        {
            Assert.Equal(CounterOrderStatus.BufferedAfterGap, b.Receive(0, d.AsSpan(i * 32, 32), uis[i], i).Status);
        }

        Assert.True(a.Buffer.TryTakeNext(0, out int first, out _));
        Assert.Equal(0, first);
        Assert.False(b.Buffer.TryTakeNext(0, out _, out _)); // b blocks instead of diverging
    }

    [Fact]
    public void Verifier_checks_proofs_and_does_not_report_forged_epochs()
    {
        using var sender = new SoftwareUsig(2, ModelFixture.Key, epoch: 10);
        using var local = new SoftwareUsig(0, ModelFixture.Key, epoch: 1);
        var v = new UsigVerifier<string>(local, new CounterOrderBuffer<string>(4, 16));
        v.Buffer.Register(2, epoch: 10);
        byte[] d = Digests.Make(1);
        UniqueIdentifier ui = sender.CreateUI(d);

        Assert.Equal(CounterOrderStatus.InvalidProof, v.Receive(2, Digests.Make(1, salt: 1), ui, "forged digest").Status);
        Assert.Equal(CounterOrderStatus.InvalidProof, v.Receive(2, d, new UniqueIdentifier(11, 1, ui.Proof), "forged epoch").Status);
        Assert.Equal(0ul, v.Buffer.GetState(2).ObservedNewEpoch);
        Assert.Equal(CounterOrderStatus.InOrder, v.Receive(2, d, ui, "ok").Status);
        Assert.Equal(CounterOrderStatus.Duplicate, v.Receive(2, d, ui, "replay").Status);

        using var restarted = new SoftwareUsig(2, ModelFixture.Key, epoch: 11);
        byte[] d2 = Digests.Make(1, salt: 2);
        Assert.Equal(CounterOrderStatus.NewEpoch, v.Receive(2, d2, restarted.CreateUI(d2), "new epoch").Status);
        Assert.Equal(11ul, v.Buffer.GetState(2).ObservedNewEpoch);
    }

    private static void Shuffle<T>(List<T> list, Random rng)
    {
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }
}
