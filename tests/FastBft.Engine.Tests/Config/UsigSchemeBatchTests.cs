using FastBft.Auth;
using FastBft.TrustedHw;

namespace FastBft.Engine.Tests.Config;

/// <summary>
/// <see cref="UsigCertificateScheme.VerifyBatch"/> (issue 12 item 5): k verdicts equal to k single <see cref="UsigCertificateScheme.Verify"/>
/// calls, from ONE <see cref="IUsig.VerifyUIs"/> call. (Kept next to the host plumbing tests this branch owns; it belongs with
/// the other scheme tests in Auth/.)
/// </summary>
public class UsigSchemeBatchTests
{
    private static readonly byte[] Key = Enumerable.Range(0x40, 32).Select(i => (byte)i).ToArray();

    private static (uint[] Senders, byte[] Headers, byte[] Digests, byte[] Trailers) Messages(int k)
    {
        using var s1 = new UsigCertificateScheme(new SoftwareUsig(1, Key, epoch: 3), ownsUsig: true);
        using var s2 = new UsigCertificateScheme(new SoftwareUsig(2, Key, epoch: 4), ownsUsig: true);
        var senders = new uint[k];
        var headers = new byte[k * Authenticator.HeaderSize];
        var digests = new byte[k * 32];
        var trailers = new byte[k * UsigCertificateScheme.Length];
        new Random(5).NextBytes(headers);
        new Random(6).NextBytes(digests);
        for (int i = 0; i < k; i++)
        {
            senders[i] = i % 2 == 0 ? 1u : 2u;
            (i % 2 == 0 ? s1 : s2).Seal(headers.AsSpan(i * Authenticator.HeaderSize, Authenticator.HeaderSize), digests.AsSpan(i * 32, 32), 0,
                trailers.AsSpan(i * UsigCertificateScheme.Length, UsigCertificateScheme.Length));
        }
        return (senders, headers, digests, trailers);
    }

    private static void Break(int k, uint[] senders, byte[] headers, byte[] digests, byte[] trailers)
    {
        int L = UsigCertificateScheme.Length;
        digests[(k / 2) * 32] ^= 1;                     // tampered message in the middle
        senders[1] = 0;                                  // claims another sender
        trailers[2 * L] = 1;                             // wrong trailer kind: malformed
        trailers.AsSpan(3 * L + 2 + 8, 8).Clear();       // counter 0
        trailers[4 * L + 2 + 16 + 5] ^= 0x10;            // forged proof
    }

    [Fact]
    public void BatchVerdictsEqualSingleVerdictsFromOneInstanceCall()
    {
        const int k = 12;
        var (senders, headers, digests, trailers) = Messages(k);
        Break(k, senders, headers, digests, trailers);
        var counting = new CountingUsig(new SoftwareUsig(0, Key, epoch: 9));
        using var scheme = new UsigCertificateScheme(counting, ownsUsig: true);
        var verdicts = new AuthVerdict[k];
        int accepted = scheme.VerifyBatch(senders, headers, digests, trailers, verdicts);
        Assert.Equal(1, counting.BatchCalls);
        Assert.Equal(0, counting.SingleCalls);
        Assert.Equal(k - 5, accepted);
        for (int i = 0; i < k; i++)
        {
            var single = scheme.Verify(senders[i], headers.AsSpan(i * Authenticator.HeaderSize, Authenticator.HeaderSize), digests.AsSpan(i * 32, 32),
                trailers.AsSpan(i * UsigCertificateScheme.Length, UsigCertificateScheme.Length));
            Assert.Equal(single.Status, verdicts[i].Status);
            Assert.Equal(single.Ui, verdicts[i].Ui);
        }
        Assert.Equal(AuthStatus.Malformed, verdicts[2].Status);
        Assert.Equal(AuthStatus.BadAuthenticator, verdicts[k / 2].Status);
        Assert.True(verdicts[0].HasUi);
        Assert.Equal(3ul, verdicts[0].Epoch);
        Assert.Equal(10, counting.LastBatchSize);   // the malformed and the counter-0 message never reach the instance
    }

    [Fact]
    public void AnInstanceFailureMakesItsEntriesUnavailableNotBad()
    {
        const int k = 6;
        var (senders, headers, digests, trailers) = Messages(k);
        trailers[2 * UsigCertificateScheme.Length] = 1;   // malformed: decided without the instance
        var counting = new CountingUsig(new SoftwareUsig(0, Key, epoch: 9)) { Fault = new UsigTimeoutException("VERIFY_RING", 0, 0, 0, 1) };
        using var scheme = new UsigCertificateScheme(counting, ownsUsig: true);
        var verdicts = new AuthVerdict[k];
        Assert.Equal(0, scheme.VerifyBatch(senders, headers, digests, trailers, verdicts));
        for (int i = 0; i < k; i++) Assert.Equal(i == 2 ? AuthStatus.Malformed : AuthStatus.Unavailable, verdicts[i].Status);

        scheme.Dispose();
        Assert.Equal(0, scheme.VerifyBatch(senders, headers, digests, trailers, verdicts));
        Assert.All(verdicts, v => Assert.Equal(AuthStatus.Unavailable, v.Status));
    }

    [Fact]
    public void MismatchedLengthsAreRejectedNamingTheArgument()
    {
        var (senders, headers, digests, trailers) = Messages(3);
        using var scheme = new UsigCertificateScheme(new SoftwareUsig(0, Key, epoch: 9), ownsUsig: true);
        var verdicts = new AuthVerdict[3];
        Assert.Equal("headers", Assert.Throws<ArgumentException>(() => scheme.VerifyBatch(senders, headers.AsSpan(1), digests, trailers, verdicts)).ParamName);
        Assert.Equal("authDigests", Assert.Throws<ArgumentException>(() => scheme.VerifyBatch(senders, headers, digests.AsSpan(32), trailers, verdicts)).ParamName);
        Assert.Equal("trailers", Assert.Throws<ArgumentException>(() => scheme.VerifyBatch(senders, headers, digests, trailers.AsSpan(1), verdicts)).ParamName);
        Assert.Equal("verdicts", Assert.Throws<ArgumentException>(() => scheme.VerifyBatch(senders, headers, digests, trailers, new AuthVerdict[2])).ParamName);
        Assert.Equal(0, scheme.VerifyBatch([], [], [], [], []));
    }

    private sealed class CountingUsig(IUsig inner) : IUsig
    {
        public int BatchCalls, SingleCalls, LastBatchSize;
        public Exception? Fault { get; init; }
        public uint Id => inner.Id;
        public ulong Epoch => inner.Epoch;
        public UniqueIdentifier CreateUI(ReadOnlySpan<byte> digest) => inner.CreateUI(digest);
        public int CreateUIs(ReadOnlySpan<byte> digests, Span<UniqueIdentifier> output) => inner.CreateUIs(digests, output);
        public bool VerifyUI(uint replicaId, ReadOnlySpan<byte> digest, in UniqueIdentifier ui) { SingleCalls++; return inner.VerifyUI(replicaId, digest, ui); }
        public int VerifyUIs(ReadOnlySpan<uint> replicaIds, ReadOnlySpan<byte> digests, ReadOnlySpan<UniqueIdentifier> uis, Span<bool> results)
        {
            BatchCalls++;
            LastBatchSize = uis.Length;
            if (Fault is not null) throw Fault;
            return inner.VerifyUIs(replicaIds, digests, uis, results);
        }
        public void Dispose() => inner.Dispose();
    }
}
