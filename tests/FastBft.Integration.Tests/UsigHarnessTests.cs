using System.Text.Json;
using FastBft.Auth;
using FastBft.Config;
using FastBft.Perf.Cell;
using FastBft.TrustedHw;

namespace FastBft.Integration.Tests;

/// <summary>
/// `fastbft run --usig software|device-model` up to the core (the MinBFT core is not on this branch): the cell config the
/// harness writes for a USIG protocol, read back as a replica process reads it, starts one independent trusted counter per
/// replica — for device-model one model per replica in the per-cell directory, reached through the FPGA driver — and the
/// replicas verify each other's UIs. Protocols without a trusted counter get no usig section.
/// </summary>
public class UsigHarnessTests
{
    private static CellConfig MinBftCell()
    {
        var c = new CellConfig { Protocol = "minbft", F = 1, Keys = new KeysConfig { Master = Convert.ToHexString(new byte[32]) } };
        for (int i = 0; i < 3; i++) c.Replicas.Add(new ReplicaConfig { Id = i, Address = $"127.0.0.1:{7200 + i}" });
        return c;
    }

    [Fact]
    public void A_protocol_without_a_trusted_counter_gets_no_usig_section()
    {
        var c = CellDefinition.Create(1, "0/0");
        Assert.Null(CellRunner.ConfigureUsig(c, "device-model", Path.GetTempPath()));
        Assert.Null(c.Usig);
        c.Validate();
    }

    [Fact]
    public void An_unknown_usig_option_is_rejected_naming_it()
    {
        var e = Assert.Throws<ConfigException>(() => new CellRunner(new RunOptions { Usig = "fpga" }, TextWriter.Null).Validate());
        Assert.Contains("--usig", e.Message);
        Assert.Contains("device-model", e.Message);
    }

    [Theory]
    [InlineData("software")]
    [InlineData("device-model")]
    public void Every_replica_of_the_written_cell_starts_its_own_usig_and_verifies_the_others(string usig)
    {
        var cellDir = Directory.CreateTempSubdirectory("fastbft-usig-harness-");
        var written = MinBftCell();
        string? modelDir = CellRunner.ConfigureUsig(written, usig, cellDir.FullName);
        var schemes = new List<UsigCertificateScheme>();
        try
        {
            Assert.Equal(usig == "device-model", modelDir is not null);
            CellConfig.ValidateUsig(written.Usig, written.Shape);
            // What a replica process reads (`fastbft replica --config cell.json`).
            var cell = JsonSerializer.Deserialize<CellConfig>(written.ToJson(), CellConfig.JsonOptions)!;
            Assert.Equal(usig == "device-model" ? UsigImpl.DeviceModel : UsigImpl.Software, cell.Usig!.Impl);
            var keys = cell.CreateKeyStore();
            var def = new MinBftShapeOnly();
            for (uint id = 0; id < cell.N; id++)
                schemes.Add(FastBft.Hosting.ProtocolRegistry.CreateUsigScheme(def, cell, id, keys)!);
            if (modelDir is not null)
            {
                Assert.StartsWith(Directory.Exists("/dev/shm") ? "/dev/shm/" : cellDir.FullName, modelDir);
                for (uint id = 0; id < cell.N; id++) Assert.True(File.Exists(Path.Combine(modelDir, DeviceModelUsig.WindowFileName(id))));
            }

            var header = new byte[Authenticator.HeaderSize];
            var digest = new byte[32];
            for (int sender = 0; sender < schemes.Count; sender++)
            {
                var trailer = new byte[UsigCertificateScheme.Length];
                header[0] = (byte)sender;
                schemes[sender].Seal(header, digest, 0, trailer);
                for (int receiver = 0; receiver < schemes.Count; receiver++)
                {
                    if (receiver == sender) continue;
                    var verdict = schemes[receiver].Verify((uint)sender, header, digest, trailer);
                    Assert.True(verdict.IsOk, $"replica {receiver} accepts replica {sender}'s UI");
                    Assert.Equal(1ul, verdict.Counter);
                    Assert.False(schemes[receiver].Verify((uint)((sender + 1) % 3), header, digest, trailer).IsOk, "a UI does not pass in another replica's name");
                }
            }
        }
        finally
        {
            foreach (var s in schemes) s.Dispose();
            cellDir.Delete(recursive: true);
            if (modelDir is not null) Directory.Delete(modelDir, recursive: true);
        }
    }

    /// <summary>Only the MinBFT shape (what <see cref="FastBft.Hosting.ProtocolRegistry.CreateUsigScheme"/> reads); no core.</summary>
    private sealed class MinBftShapeOnly : IProtocolDefinition
    {
        public ProtocolKind Kind => ProtocolKind.MinBft;
        public IMessageSchema Schema => throw new NotSupportedException();
        public bool ReplacesFaultyLeader => true;
        public CellShape Shape(int f) => new(ProtocolKind.MinBft, f);
        public QuorumPolicy Quorums(int f) => throw new NotSupportedException();
        public FastBft.Execution.IExecutionStage CreateExecution(ReplicaParameters parameters, uint self, FastBft.Service.IReplicatedService service) => throw new NotSupportedException();
        public IReplicaCore CreateReplica(ReplicaParameters parameters, Authenticator auth, FastBft.Execution.IExecutionStage execution, IReplicaOutput output, QuorumPolicy? quorums = null, UsigCertificateScheme? usig = null) => throw new NotSupportedException();
    }
}
