using System.Text.Json;
using FastBft.Auth;
using FastBft.Config;
using FastBft.Execution;
using FastBft.Replica;
using FastBft.Service;
using FastBft.Transport;
using FastBft.TrustedHw;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Config;

/// <summary>
/// Issue 12 host plumbing: the <c>usig</c> section of the cell config, and the replica host creating ONE USIG certificate
/// scheme for a USIG protocol, handing that same instance to its verifier and its core, and none for PBFT.
/// The MinBFT core is not built on this branch, so a stub protocol definition with the MinBFT shape stands in for it.
/// </summary>
public class UsigHostTests
{
    private const string Master = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    private static string PbftJson(string extra = "") => $$"""
    {
      "f": 1,
      "replicas": [
        { "id": 0, "address": "127.0.0.1:7000" }, { "id": 1, "address": "127.0.0.1:7001" },
        { "id": 2, "address": "127.0.0.1:7002" }, { "id": 3, "address": "127.0.0.1:7003" }
      ],
      "keys": { "master": "{{Master}}" }{{extra}}
    }
    """;

    /// <summary>A 3-replica cell of a USIG protocol (default MinBFT) that is not run through <see cref="CellConfig.Validate"/>.</summary>
    private static CellConfig MinBftCell(UsigOptions? usig, string protocol = "minbft")
    {
        var c = new CellConfig { Protocol = protocol, F = 1, Keys = new KeysConfig { Master = Master }, Usig = usig };
        for (int i = 0; i < 3; i++) c.Replicas.Add(new ReplicaConfig { Id = i, Address = $"127.0.0.1:{7100 + i}" });
        return c;
    }

    private static readonly CellShape MinBft = new(ProtocolKind.MinBft, 1);

    [Fact]
    public void APbftCellWithoutAUsigSectionRoundTripsWithoutOne()
    {
        var c = CellConfig.Parse(PbftJson());
        Assert.Null(c.Usig);
        Assert.Null(CellConfig.Parse(c.ToJson()).Usig);
    }

    [Fact]
    public void AUsigSectionOnAProtocolWithoutATrustedCounterIsRejectedNamingIt()
    {
        var e = Assert.Throws<ConfigException>(() => CellConfig.Parse(PbftJson(""", "usig": { "impl": "software" }""")));
        Assert.Contains("usig:", e.Message);
        Assert.Contains("'pbft'", e.Message);
        Assert.Contains("minbft, reminbft", e.Message);
    }

    [Fact]
    public void TheUsigSectionParsesWithSnakeCaseKeysAndTheDeviceModelImpl()
    {
        var c = JsonSerializer.Deserialize<CellConfig>(
            """{ "protocol": "minbft", "usig": { "impl": "device-model", "device_path": "/dev/shm/x", "timeout_ms": 250, "require_hardware": false } }""",
            CellConfig.JsonOptions)!;
        Assert.Equal(UsigImpl.DeviceModel, c.Usig!.Impl);
        Assert.Equal("/dev/shm/x", c.Usig.DevicePath);
        Assert.Equal(250, c.Usig.TimeoutMs);
        CellConfig.ValidateUsig(c.Usig, MinBft);
        Assert.Contains("\"device-model\"", c.ToJson());
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<CellConfig>("""{ "usig": { "impl": "fpga" } }""", CellConfig.JsonOptions));
    }

    public static TheoryData<UsigOptions, string> BadUsigSections => new()
    {
        { new UsigOptions { Impl = UsigImpl.Device }, "usig.device_path" },
        { new UsigOptions { Impl = UsigImpl.DeviceModel }, "usig.device_path" },
        { new UsigOptions { Impl = UsigImpl.Software, RequireHardware = true }, "usig.require_hardware" },
        { new UsigOptions { Impl = UsigImpl.DeviceModel, DevicePath = "/tmp", RequireHardware = true }, "usig.require_hardware" },
        { new UsigOptions { Impl = UsigImpl.Auto, RequireHardware = true }, "usig.require_hardware" },
        { new UsigOptions { TimeoutMs = 0 }, "usig.timeout_ms" },
        { new UsigOptions { TimeoutMs = 600_001 }, "usig.timeout_ms" },
        { new UsigOptions { Impl = (UsigImpl)9 }, "usig.impl" },
    };

    [Theory]
    [MemberData(nameof(BadUsigSections))]
    public void ContradictoryUsigSettingsOfAUsigProtocolAreRejectedNamingTheKey(UsigOptions usig, string key)
    {
        var e = Assert.Throws<ConfigException>(() => CellConfig.ValidateUsig(usig, MinBft));
        Assert.Contains(key + ":", e.Message);
    }

    [Fact]
    public void SensibleUsigSectionsOfAUsigProtocolPass()
    {
        CellConfig.ValidateUsig(null, MinBft);
        CellConfig.ValidateUsig(new UsigOptions(), MinBft);
        CellConfig.ValidateUsig(new UsigOptions { Impl = UsigImpl.Software }, MinBft);
        CellConfig.ValidateUsig(new UsigOptions { Impl = UsigImpl.Device, DevicePath = "0000:03:00.0", RequireHardware = true }, MinBft);
        CellConfig.ValidateUsig(new UsigOptions { DevicePath = "0000:03:00.0", RequireHardware = true }, new CellShape(ProtocolKind.ReMinBft, 2));
    }

    [Fact]
    public void APbftHostCreatesNoUsig()
    {
        var c = CellConfig.Parse(PbftJson());
        using var host = new ReplicaHost(c, 1, new NullTransport(), new FastBft.Workloads.NoOpService(FastBft.Workloads.Workload.Parse("0/0")));
        Assert.Null(host.UsigScheme);
        var status = host.SnapshotStatus();
        Assert.Equal((0L, 0L, 0L), (status.UsigBusyUs, status.UsigCertified, status.UsigVerified));
        Assert.Null(FastBft.Hosting.ProtocolRegistry.CreateUsigScheme(Protocols.Get(ProtocolKind.Pbft), c, 1, c.CreateKeyStore()));
        Assert.Equal(ProtocolKind.Pbft, host.Core.Shape.Protocol);
    }

    [Fact]
    public void AReMinBftHostGivesItsCoreAUsigScheme()
    {
        using var host = new ReplicaHost(MinBftCell(new UsigOptions { Impl = UsigImpl.Software }, "reminbft"), 2, new NullTransport(), new FastBft.Workloads.NoOpService(FastBft.Workloads.Workload.Parse("0/0")));
        Assert.NotNull(host.UsigScheme);
        Assert.Equal(ProtocolKind.ReMinBft, host.Core.Shape.Protocol);
        Assert.Equal((3, 2), (host.Core.Shape.N, host.Core.Shape.Active));
    }

    [Fact]
    public void AMinBftHostGivesItsCoreAUsigSchemeAndPbftsDoesNot()
    {
        using var host = new ReplicaHost(MinBftCell(new UsigOptions { Impl = UsigImpl.Software }), 0, new NullTransport(), new FastBft.Workloads.NoOpService(FastBft.Workloads.Workload.Parse("0/0")));
        Assert.NotNull(host.UsigScheme);
        Assert.Equal(ProtocolKind.MinBft, host.Core.Shape.Protocol);
        Assert.Equal(3, host.Core.Shape.N);
    }

    [Theory]
    [InlineData(UsigImpl.Software)]
    [InlineData(UsigImpl.DeviceModel)]
    public void AUsigHostHandsOneSchemeToVerifierAndCoreAndDisposesIt(UsigImpl impl)
    {
        string dir = Directory.CreateTempSubdirectory("fastbft-usig-host-").FullName;
        try
        {
            var usig = new UsigOptions { Impl = impl, DevicePath = impl == UsigImpl.DeviceModel ? dir : null, TimeoutMs = 30_000 };
            var c = MinBftCell(usig);
            CellConfig.ValidateUsig(c.Usig, c.Shape);
            var def = new StubUsigProtocol();
            var host = new ReplicaHost(c, 0, new NullTransport(), new FastBft.Workloads.NoOpService(FastBft.Workloads.Workload.Parse("0/0")), null, def);
            var scheme = host.UsigScheme;
            Assert.NotNull(scheme);
            Assert.Equal(0u, scheme!.SelfId);
            Assert.Same(scheme, def.CoreScheme);                    // the core got the host's scheme

            // A COMMIT certified by replica 1's trusted counter (same derived key) reaches the core through the verifier,
            // whose context holds the very same scheme instance.
            Span<byte> key = stackalloc byte[32];
            Assert.True(c.CreateKeyStore().TryDeriveUsigKey(key));
            using var sender = new UsigCertificateScheme(new SoftwareUsig(1, key, epoch: 7), ownsUsig: true);
            var b = new MessageBuilder(new Authenticator(1, c.CreateKeyStore()), c.N) { Family = ProtocolFamily.MinBft };
            new byte[32].CopyTo(b.Begin(MessageType.Commit, 0, 1, 32, sender));
            byte[] commit = b.Seal(sender).ToArray();
            host.OnMessage(1, 0, commit);
            Assert.Same(scheme, def.Rule.SeenScheme);               // the verifier checked it with the host's scheme
            var core = def.Core!;
            Assert.Equal(1, core.Received);
            Assert.Equal((7ul, 1ul), core.LastUi);

            commit[MessageHeader.Size] ^= 1;                         // tampered body: the USIG proof no longer matches
            host.OnMessage(1, 0, commit);
            Assert.Equal(1, core.Received);
            Assert.Equal(1, host.Verifier.DroppedFor(ParseStatus.BadAuthenticator));

            var status = host.SnapshotStatus();                       // the harness's "time in the USIG" comes from here
            Assert.Equal(2, status.UsigVerified);                      // both COMMITs went to the USIG, the tampered one too
            Assert.Equal(0, status.UsigCertified);
            Assert.True(status.UsigBusyUs >= 0);

            if (impl == UsigImpl.DeviceModel) Assert.True(File.Exists(Path.Combine(dir, DeviceModelUsig.WindowFileName(0))));
            host.Dispose();
            Assert.Throws<ObjectDisposedException>(() => scheme.Seal(new byte[Authenticator.HeaderSize], new byte[32], 0, new byte[UsigCertificateScheme.Length]));
            if (impl == UsigImpl.DeviceModel) Assert.False(File.Exists(Path.Combine(dir, DeviceModelUsig.WindowFileName(0))), "the hosted device model stopped with the host");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData(UsigImpl.Software)]
    [InlineData(UsigImpl.DeviceModel)]
    public void ARestartedReplicaCertifiesInALargerEpochSoNoCounterIsReused(UsigImpl impl)
    {
        string dir = Directory.CreateTempSubdirectory("fastbft-usig-restart-").FullName;
        try
        {
            var c = MinBftCell(new UsigOptions { Impl = impl, DevicePath = impl == UsigImpl.DeviceModel ? dir : null, TimeoutMs = 30_000 });
            UniqueIdentifier Certify()
            {
                using var host = new ReplicaHost(c, 2, new NullTransport(), new FastBft.Workloads.NoOpService(FastBft.Workloads.Workload.Parse("0/0")), null, new StubUsigProtocol());
                var trailer = new byte[UsigCertificateScheme.Length];
                host.UsigScheme!.Seal(new byte[Authenticator.HeaderSize], new byte[32], 0, trailer);
                return UniqueIdentifier.ReadFrom(trailer.AsSpan(2));
            }
            var first = Certify();
            var second = Certify();   // the same replica started again
            Assert.Equal(1ul, first.Counter);
            Assert.Equal(1ul, second.Counter);
            Assert.True(second.Epoch > first.Epoch, $"restart must start a larger epoch ({first.Epoch} → {second.Epoch})");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData(UsigImpl.Device, false, "usig.device_path")]        // the device is not there
    [InlineData(UsigImpl.Auto, true, "usig.require_hardware")]      // no device and no software fallback allowed
    public void AUsigThatCannotStartIsAConfigErrorNamingTheKey(UsigImpl impl, bool requireHardware, string key)
    {
        var c = MinBftCell(new UsigOptions { Impl = impl, DevicePath = "/nonexistent/bar0", RequireHardware = requireHardware });
        CellConfig.ValidateUsig(c.Usig, c.Shape);   // consistent on paper; only the replica's machine can tell
        var e = Assert.Throws<ConfigException>(() => new ReplicaHost(c, 0, new NullTransport(), new FastBft.Workloads.NoOpService(FastBft.Workloads.Workload.Parse("0/0")), null, new StubUsigProtocol()));
        Assert.Contains(key, e.Message);
        Assert.Contains("/nonexistent/bar0", e.Message);
        Assert.Contains("replica 0", e.Message);
    }

    /// <summary>A protocol definition with the MinBFT shape whose schema accepts a USIG-certified COMMIT and whose core records what it gets.</summary>
    private sealed class StubUsigProtocol : IProtocolDefinition
    {
        public CaptureRule Rule { get; } = new();
        public UsigCertificateScheme? CoreScheme { get; private set; }
        public StubCore? Core { get; private set; }
        public ProtocolKind Kind => ProtocolKind.MinBft;
        public IMessageSchema Schema => new TableSchema(ProtocolFamily.MinBft, [new MessageRule(MessageType.Commit, SenderRole.Replica, AuthenticatorKind.UsigCertificate, 32, 32, Rule)]);
        public bool ReplacesFaultyLeader => false;
        public CellShape Shape(int f) => new(ProtocolKind.MinBft, f);
        public QuorumPolicy Quorums(int f) => Protocols.Get(ProtocolKind.Pbft).Quorums(f);
        public IExecutionStage CreateExecution(ReplicaParameters parameters, uint self, IReplicatedService service) => Protocols.Get(ProtocolKind.Pbft).CreateExecution(parameters, self, service);
        public IReplicaCore CreateReplica(ReplicaParameters parameters, Authenticator auth, IExecutionStage execution, IReplicaOutput output, QuorumPolicy? quorums = null, UsigCertificateScheme? usig = null)
        {
            if (usig is null) throw new ArgumentException("a USIG protocol needs its certificate scheme", nameof(usig));
            CoreScheme = usig;
            return Core = new StubCore(auth.SelfId, Shape(parameters.F), execution);
        }
    }

    private sealed class CaptureRule : BodyRule
    {
        public IAuthScheme? SeenScheme { get; private set; }
        public override ParseStatus Check(in MessageHeader header, ReadOnlySpan<byte> message, ReadOnlySpan<byte> body, VerifierContext context, ref AuthFacts facts)
        {
            SeenScheme = context.Scheme(AuthenticatorKind.UsigCertificate);
            return ParseStatus.Ok;
        }
    }

    private sealed class StubCore(uint id, CellShape shape, IExecutionStage execution) : IReplicaCore
    {
        public int Received { get; private set; }
        public (ulong Epoch, ulong Counter) LastUi { get; private set; }
        public uint Id => id;
        public CellShape Shape => shape;
        public ulong View => 0;
        public uint Leader => 0;
        public ulong Generation => 0;
        public bool InViewChange => false;
        public ulong LastExecuted => 0;
        public ulong LowWatermark => 0;
        public ReplicaCounters Counters { get; } = new();
        public IExecutionStage Execution => execution;
        public void OnMessage(in VerifiedMessage message) { Received++; LastUi = (message.UiEpoch, message.UiCounter); }
        public void OnTick() { }
        public void EndOfBurst() { }
        public void GetStateDigest(Span<byte> digest32) => digest32.Clear();
        public bool TryGetLoggedDigest(ulong seq, Span<byte> digest32) => false;
        public bool IsPreparedOrDone(ulong seq, ReadOnlySpan<byte> digest32) => false;
        public string DescribeState() => "stub";
    }

    private sealed class NullTransport : ITransport
    {
        public int MaxMessageSize => 1 << 20;
        public TransportStats Stats { get; } = new();
        public void Send(uint destination, uint sender, ReadOnlySpan<byte> message) { }
        public void Flush() { }
        public int Poll(IMessageHandler handler, int timeoutMs) => 0;
        public bool ConfirmRoute(uint node, ulong freshness) => false;
        public void Dispose() { }
    }
}
