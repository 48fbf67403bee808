namespace FastBft.TrustedHw.Tests;

/// <summary>
/// <see cref="IUsig.VerifyUIs"/> (issue 12 item 5): a batch's verdicts equal the single-UI verdicts, a forged UI in the
/// middle of a batch is caught alone, and a device timeout or power-cycle during a batch clears every verdict.
/// </summary>
public class BatchVerifyTests
{
    /// <summary>k UIs from peers 1 and 2 (alternating), with a few broken ones: returns ids, digests, UIs and the
    /// indices that must be invalid.</summary>
    private static (uint[] Ids, byte[] Digests, UniqueIdentifier[] Uis, HashSet<int> Bad) Mixed(int k)
    {
        using var p1 = new SoftwareUsig(1, ModelFixture.Key, epoch: 41);
        using var p2 = new SoftwareUsig(2, ModelFixture.Key, epoch: 42);
        byte[] digests = Digests.Make(k, salt: 7);
        var ids = new uint[k];
        var uis = new UniqueIdentifier[k];
        for (int i = 0; i < k; i++)
        {
            ids[i] = i % 2 == 0 ? 1u : 2u;
            uis[i] = (i % 2 == 0 ? p1 : p2).CreateUI(digests.AsSpan(i * 32, 32));
        }

        var bad = new HashSet<int>();
        void Break(int i, Action a) { if (i < k) { a(); bad.Add(i); } }
        Break(k / 2, () => uis[k / 2] = Forge(uis[k / 2]));                       // flipped proof bit, in the middle
        Break(3, () => ids[3] = 0);                                                 // claims another sender
        Break(5, () => uis[5] = new UniqueIdentifier(uis[5].Epoch, uis[5].Counter + 1, uis[5].Proof)); // other counter
        Break(6, () => digests[6 * 32] ^= 0x80);                                    // other message
        Break(9, () => uis[9] = default);                                           // counter 0
        return (ids, digests, uis, bad);
    }

    private static UniqueIdentifier Forge(UniqueIdentifier ui)
    {
        byte[] proof = ui.Proof.ToArray();
        proof[17] ^= 1;
        return new UniqueIdentifier(ui.Epoch, ui.Counter, proof);
    }

    /// <returns>The number of UIs with a non-zero counter (the single path sends only those to a device).</returns>
    private static int AssertBatchEqualsSingles(IUsig usig, int k)
    {
        var (ids, digests, uis, bad) = Mixed(k);
        var results = new bool[k + 3];
        Array.Fill(results, true);
        int valid = usig.VerifyUIs(ids, digests, uis, results.AsSpan(0, k));
        for (int i = 0; i < k; i++)
        {
            bool single = usig.VerifyUI(ids[i], digests.AsSpan(i * 32, 32), uis[i]);
            Assert.Equal(single, results[i]);
            Assert.Equal(!bad.Contains(i), results[i]);
        }

        Assert.Equal(k - bad.Count, valid);
        Assert.True(results[k] && results[k + 1] && results[k + 2], "entries past k are not touched");
        return uis.Count(u => u.Counter != 0);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(16)]
    [InlineData(64)]
    public void Software_batch_verdicts_equal_single_verdicts(int k)
    {
        using var usig = new SoftwareUsig(0, ModelFixture.Key, epoch: 5);
        AssertBatchEqualsSingles(usig, k);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(16)]
    [InlineData(256)]
    [InlineData(300)] // two VERIFY_RING doorbells
    public void Device_batch_verdicts_equal_single_verdicts(int k)
    {
        using var f = new ModelFixture();
        Assert.True(f.Driver.BatchVerify);
        long before = f.Model.CommandsExecuted;
        int sent = AssertBatchEqualsSingles(f.Driver, k);
        // The batch took ceil(k / 256) commands; the single checks one each (a counter-0 UI is refused without a command).
        Assert.Equal(((k + 255) / 256) + sent, f.Model.CommandsExecuted - before);
        Assert.Equal(0ul, f.Driver.LastCounter); // verification consumes no counter
    }

    [Fact]
    public void A_device_without_verify_ring_verifies_a_batch_one_command_per_ui()
    {
        using var f = new ModelFixture(options: new UsigDeviceModelOptions { VerifyRing = false });
        Assert.False(f.Driver.BatchVerify);
        long before = f.Model.CommandsExecuted;
        var (ids, digests, uis, bad) = Mixed(12);
        var results = new bool[12];
        Assert.Equal(12 - bad.Count, f.Driver.VerifyUIs(ids, digests, uis, results));
        Assert.Equal(uis.Count(u => u.Counter != 0), f.Model.CommandsExecuted - before); // one OP_VERIFY per UI (counter 0 needs none)
        for (int i = 0; i < 12; i++) Assert.Equal(!bad.Contains(i), results[i]);
    }

    [Fact]
    public void The_default_interface_implementation_matches_the_single_path()
    {
        using var inner = new SoftwareUsig(0, ModelFixture.Key, epoch: 5);
        AssertBatchEqualsSingles(new SinglesOnly(inner), 16);
    }

    [Fact]
    public void A_forged_ui_in_the_middle_of_a_batch_is_caught_alone()
    {
        using var f = new ModelFixture();
        using var peer = new SoftwareUsig(2, ModelFixture.Key, epoch: 3);
        byte[] digests = Digests.Make(16);
        var uis = new UniqueIdentifier[16];
        peer.CreateUIs(digests, uis);
        uis[8] = Forge(uis[8]);
        var ids = Enumerable.Repeat(2u, 16).ToArray();
        foreach (IUsig verifier in new IUsig[] { f.Driver, peer })
        {
            var results = new bool[16];
            Assert.Equal(15, verifier.VerifyUIs(ids, digests, uis, results));
            Assert.False(results[8]);
            Assert.Equal(15, results.Count(r => r));
        }
    }

    [Fact]
    public void Bad_arguments_are_rejected_naming_them()
    {
        using var usig = new SoftwareUsig(0, ModelFixture.Key, epoch: 5);
        var uis = new UniqueIdentifier[2];
        Assert.Contains("digests", Assert.Throws<ArgumentException>(() => usig.VerifyUIs(new uint[2], new byte[63], uis, new bool[2])).Message);
        Assert.Contains("replica ids", Assert.Throws<ArgumentException>(() => usig.VerifyUIs(new uint[1], new byte[64], uis, new bool[2])).Message);
        Assert.Contains("Results hold 1", Assert.Throws<ArgumentException>(() => usig.VerifyUIs(new uint[2], new byte[64], uis, new bool[1])).Message);
        Assert.Equal(0, usig.VerifyUIs([], [], [], []));
    }

    [Fact]
    public void A_device_timeout_in_the_second_doorbell_of_a_batch_clears_every_verdict_and_the_driver_recovers()
    {
        using var f = new ModelFixture(timeoutMs: 1000);
        var (ids, digests, uis, bad) = Mixed(300);
        var results = new bool[300];
        Array.Fill(results, true);
        f.Model.Faults.SkipCommands = 1; // the first VERIFY_RING (256 UIs) runs, the second is held
        f.Model.Faults.ResponseDelay = TimeSpan.FromMinutes(10);
        Assert.Throws<UsigTimeoutException>(() => f.Driver.VerifyUIs(ids, digests, uis, results));
        Assert.All(results, r => Assert.False(r));

        f.Model.Faults.ResponseDelay = TimeSpan.Zero; // releases the held command
        Assert.Equal(300 - bad.Count, f.Driver.VerifyUIs(ids, digests, uis, results));
        Assert.Equal(1ul, f.Driver.CreateUI(Digests.Make(1)).Counter); // no counter was consumed by verification
    }

    [Fact]
    public void A_power_cycle_in_the_second_doorbell_of_a_batch_clears_every_verdict_and_reports_the_epoch_once()
    {
        using var f = new ModelFixture();
        var (ids, digests, uis, bad) = Mixed(300);
        var results = new bool[300];
        Array.Fill(results, true);
        f.Model.Faults.SkipCommands = 1;
        f.Model.Faults.PowerCycleBeforeNextCommand = true;
        var e = Assert.Throws<UsigEpochChangedException>(() => f.Driver.VerifyUIs(ids, digests, uis, results));
        Assert.Equal(1ul, e.OldEpoch);
        Assert.Equal(2ul, e.NewEpoch);
        Assert.All(results, r => Assert.False(r));
        Assert.Equal(2ul, f.Driver.Epoch);

        Assert.Equal(300 - bad.Count, f.Driver.VerifyUIs(ids, digests, uis, results));
        for (int i = 0; i < 300; i++) Assert.Equal(!bad.Contains(i), results[i]);
    }

    [Fact]
    public void A_power_cycle_between_calls_is_reported_before_the_batch_runs()
    {
        using var f = new ModelFixture();
        var (ids, digests, uis, _) = Mixed(8);
        var results = new bool[8];
        Array.Fill(results, true);
        f.Model.PowerCycle();
        Assert.Throws<UsigEpochChangedException>(() => f.Driver.VerifyUIs(ids, digests, uis, results));
        Assert.All(results, r => Assert.False(r));
    }

    [Fact]
    public void Software_batch_verification_does_not_allocate()
    {
        using var usig = new SoftwareUsig(0, ModelFixture.Key, epoch: 5);
        var (ids, digests, uis, _) = Mixed(64);
        var results = new bool[64];
        usig.VerifyUIs(ids, digests, uis, results); // warm the HMAC context pool and the JIT
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) usig.VerifyUIs(ids, digests, uis, results);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    /// <summary>An <see cref="IUsig"/> that implements only the single-UI members (uses the interface's default VerifyUIs).</summary>
    private sealed class SinglesOnly(IUsig inner) : IUsig
    {
        public uint Id => inner.Id;
        public ulong Epoch => inner.Epoch;
        public UniqueIdentifier CreateUI(ReadOnlySpan<byte> digest) => inner.CreateUI(digest);
        public int CreateUIs(ReadOnlySpan<byte> digests, Span<UniqueIdentifier> output) => inner.CreateUIs(digests, output);
        public bool VerifyUI(uint replicaId, ReadOnlySpan<byte> digest, in UniqueIdentifier ui) => inner.VerifyUI(replicaId, digest, ui);
        public void Dispose() { }
    }
}
