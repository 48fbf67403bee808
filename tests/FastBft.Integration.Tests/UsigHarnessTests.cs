using System.Text.Json;
using FastBft.Auth;
using FastBft.Config;
using FastBft.Perf.Cell;
using FastBft.Tests.Shared;
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

    [Fact]
    public void Usig_bench_reports_batched_verification_and_the_cells_need()
    {
        var json = Path.Combine(Path.GetTempPath(), $"fastbft-usig-bench-{Guid.NewGuid():N}.json");
        try
        {
            var (exit, output) = HarnessProcess.Run(null, "usig-bench", "--impl", "software,device-model", "--op", "certify,verify", "--batch", "1,4",
                "--duration", "0.05", "--trials", "1", "--cell-rps", "50000", "--cell-batch", "10", "--json", json);
            Assert.True(exit == 0, $"exit {exit}: {output}");
            Assert.Contains("MinBFT f=1 at 50,000 req/s, batches of 10: 5,000 instances/s; cell: 15,000 certifications/s + 30,000 verifications/s", output);
            Assert.Contains("device-model, unbatched calls", output);
            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var rows = doc.RootElement.GetProperty("results").EnumerateArray().Select(r => (r.GetProperty("impl").GetString(), r.GetProperty("op").GetString(), r.GetProperty("batch").GetInt32())).ToList();
            foreach (var impl in new[] { "software", "device-model" })
                foreach (var op in new[] { "certify", "verify" })
                    foreach (var batch in new[] { 1, 4 })
                        Assert.Contains((impl, op, batch), rows);
        }
        finally { File.Delete(json); }

        var (bad, text) = HarnessProcess.Run(null, "usig-bench", "--op", "sign");
        Assert.Equal(2, bad);
        Assert.Contains("--op", text);
    }

    /// <summary>Only the MinBFT shape (what ProtocolRegistry.CreateUsigScheme reads); no core.</summary>
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
