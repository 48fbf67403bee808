using Microsoft.Extensions.Logging;

namespace FastBft.TrustedHw.Tests;

public class SoftwareUsigTests
{
    private static readonly byte[] Key = ModelFixture.MakeKey(0x10);

    [Fact]
    public void Counters_are_consecutive_across_singles_and_batches()
    {
        using var usig = new SoftwareUsig(1, Key, epoch: 5);
        ulong expected = 1;
        var output = new UniqueIdentifier[64];
        foreach (int n in new[] { 1, 8, 0, 64, 3 })
        {
            byte[] digests = Digests.Make(n, salt: n);
            Assert.Equal(n, usig.CreateUIs(digests, output));
            for (int i = 0; i < n; i++)
            {
                Assert.Equal(expected++, output[i].Counter);
                Assert.Equal(5ul, output[i].Epoch);
                Assert.True(usig.VerifyUI(1, digests.AsSpan(i * 32, 32), output[i]));
            }

            UniqueIdentifier single = usig.CreateUI(Digests.Make(1));
            Assert.Equal(expected++, single.Counter);
        }

        Assert.Equal(expected - 1, usig.LastCounter);
    }

    [Fact]
    public void Verify_rejects_any_changed_input()
    {
        using var usig = new SoftwareUsig(2, Key, epoch: 9);
        byte[] digest = Digests.Make(1);
        UniqueIdentifier ui = usig.CreateUI(digest);
        Assert.True(usig.VerifyUI(2, digest, ui));
        Assert.False(usig.VerifyUI(3, digest, ui)); // other instance id
        byte[] other = (byte[])digest.Clone();
        other[31] ^= 0x80;
        Assert.False(usig.VerifyUI(2, other, ui));
        Assert.False(usig.VerifyUI(2, digest, new UniqueIdentifier(ui.Epoch, ui.Counter + 1, ui.Proof)));
        Assert.False(usig.VerifyUI(2, digest, new UniqueIdentifier(ui.Epoch + 1, ui.Counter, ui.Proof)));
        byte[] proof = ui.Proof.ToArray();
        proof[0] ^= 1;
        Assert.False(usig.VerifyUI(2, digest, new UniqueIdentifier(ui.Epoch, ui.Counter, proof)));
        Assert.False(usig.VerifyUI(2, digest, default));
        using var otherKey = new SoftwareUsig(2, ModelFixture.MakeKey(0x11), epoch: 9);
        Assert.False(otherKey.VerifyUI(2, digest, ui));
    }

    [Fact]
    public void Arguments_are_checked()
    {
        using var usig = new SoftwareUsig(0, Key, epoch: 1);
        Assert.Throws<ArgumentException>(() => usig.CreateUI(new byte[31]));
        Assert.Throws<ArgumentException>(() => usig.CreateUIs(new byte[33], new UniqueIdentifier[2]));
        Assert.Throws<ArgumentException>(() => usig.CreateUIs(new byte[64], new UniqueIdentifier[1]));
        Assert.Throws<ArgumentException>(() => usig.VerifyUI(0, new byte[16], default));
        Assert.Throws<ArgumentException>(() => new SoftwareUsig(0, new byte[31], 1));
        Assert.Throws<ArgumentException>(() => new SoftwareUsig(0, new byte[65], 1));
        Assert.Equal(0ul, usig.LastCounter); // failed calls consumed no counter
    }

    [Fact]
    public void Concurrent_callers_get_strictly_consecutive_counters_without_duplicates()
    {
        using var usig = new SoftwareUsig(4, Key, epoch: 3);
        ConcurrencyCheck.Run(usig, threads: 8, callsPerThread: 400);
    }

    [Fact]
    public void Key_file_with_mode_0600_loads_hex_and_raw_keys()
    {
        using var dir = new TempDir();
        string hex = dir.File("key.hex");
        File.WriteAllText(hex, Convert.ToHexString(Key) + "\n");
        FileModes.Set(hex, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        Assert.Equal(Key, UsigKeyFile.Load(hex));

        string raw = dir.File("key.bin");
        File.WriteAllBytes(raw, Key);
        FileModes.Set(raw, UnixFileMode.UserRead);
        Assert.Equal(Key, UsigKeyFile.Load(raw));

        using var a = SoftwareUsig.FromKeyFile(7, hex, epoch: 1);
        using var b = new SoftwareUsig(7, Key, epoch: 1);
        byte[] digest = Digests.Make(1);
        Assert.Equal(b.CreateUI(digest), a.CreateUI(digest));
    }

    [Fact]
    public void Key_file_readable_by_others_is_refused_or_warned_about()
    {
        using var dir = new TempDir();
        string path = dir.File("key.hex");
        File.WriteAllText(path, Convert.ToHexString(Key));
        FileModes.Set(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var e = Assert.Throws<UsigKeyFileException>(() => UsigKeyFile.Load(path));
        Assert.Contains("0644", e.Message);
        Assert.Contains("chmod 600", e.Message);

        var logger = new RecordingLogger();
        Assert.Equal(Key, UsigKeyFile.Load(path, allowInsecurePermissions: true, logger));
        Assert.Contains(logger.Entries, x => x.Level == LogLevel.Warning && x.Message.Contains("chmod 600"));
    }

    [Fact]
    public void Key_file_missing_or_malformed_is_refused()
    {
        using var dir = new TempDir();
        Assert.Throws<UsigKeyFileException>(() => UsigKeyFile.Load(dir.File("absent")));
        string shortFile = dir.File("short");
        File.WriteAllBytes(shortFile, new byte[16]);
        FileModes.Set(shortFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var e = Assert.Throws<UsigKeyFileException>(() => UsigKeyFile.Load(shortFile));
        Assert.Contains("16 bytes", e.Message);
    }
}

/// <summary>Many threads certify concurrently through one instance; the union must be exactly 1..N, each call's range contiguous.</summary>
internal static class ConcurrencyCheck
{
    public static void Run(IUsig usig, int threads, int callsPerThread)
    {
        var perThread = new List<UniqueIdentifier>[threads];
        var batchesOk = new bool[threads];
        using var start = new Barrier(threads);
        var workers = new Thread[threads];
        for (int t = 0; t < threads; t++)
        {
            int me = t;
            perThread[me] = new List<UniqueIdentifier>();
            workers[t] = new Thread(() =>
            {
                var rng = new Random(me);
                var output = new UniqueIdentifier[16];
                bool ok = true;
                start.SignalAndWait();
                for (int c = 0; c < callsPerThread; c++)
                {
                    int n = rng.Next(0, 3) == 0 ? 1 : rng.Next(2, 17);
                    byte[] digests = Digests.Make(n, salt: (me * 100000) + c);
                    if (n == 1)
                    {
                        perThread[me].Add(usig.CreateUI(digests));
                    }
                    else
                    {
                        usig.CreateUIs(digests, output);
                        for (int i = 0; i < n; i++)
                        {
                            ok &= output[i].Counter == output[0].Counter + (ulong)i; // one call = one contiguous range
                            perThread[me].Add(output[i]);
                        }
                    }
                }

                batchesOk[me] = ok;
            });
            workers[t].Start();
        }

        foreach (Thread w in workers)
        {
            Assert.True(w.Join(TimeSpan.FromSeconds(60)), "worker did not finish (failure guard)");
        }

        Assert.All(batchesOk, Assert.True);
        var all = perThread.SelectMany(x => x).Select(u => u.Counter).ToList();
        all.Sort();
        for (int i = 0; i < all.Count; i++)
        {
            Assert.Equal((ulong)(i + 1), all[i]);
        }

        foreach (List<UniqueIdentifier> list in perThread)
        {
            for (int i = 1; i < list.Count; i++)
            {
                Assert.True(list[i].Counter > list[i - 1].Counter, "a thread saw its counters go backwards");
            }
        }

        Assert.All(perThread.SelectMany(x => x), u => Assert.Equal(usig.Epoch, u.Epoch));
    }
}
