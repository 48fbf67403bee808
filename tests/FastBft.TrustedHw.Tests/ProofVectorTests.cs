using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace FastBft.TrustedHw.Tests;

/// <summary>Test vectors for the proof layout, the UI encoding and the CHECK value, computed independently of the library.</summary>
public class ProofVectorTests
{
    private static readonly byte[] Key0To31 = ModelFixture.MakeKey(0x00);

    /// <summary>Plain reference formula, written from the documentation, not from the library code.</summary>
    private static byte[] ReferenceProof(byte[] key, uint id, ulong epoch, ulong counter, byte[] digest)
    {
        byte[] input = new byte[52];
        BinaryPrimitives.WriteUInt32LittleEndian(input.AsSpan(0), id);
        BinaryPrimitives.WriteUInt64LittleEndian(input.AsSpan(4), epoch);
        BinaryPrimitives.WriteUInt64LittleEndian(input.AsSpan(12), counter);
        digest.CopyTo(input, 20);
        return HMACSHA256.HashData(key, input);
    }

    [Fact]
    public void Software_proof_matches_hard_coded_vector()
    {
        // Computed outside .NET: Python hmac.new(bytes(range(32)), struct.pack('<IQQ', 3, 7, 42) + sha256(b'abc'), sha256)
        byte[] digest = SHA256.HashData(Encoding.ASCII.GetBytes("abc"));
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Convert.ToHexStringLower(digest));
        using var usig = new SoftwareUsig(3, Key0To31, epoch: 7, lastCounter: 41);
        UniqueIdentifier ui = usig.CreateUI(digest);
        Assert.Equal(7ul, ui.Epoch);
        Assert.Equal(42ul, ui.Counter);
        Assert.Equal("e050e86cd2aabc3a8b337a6fa3772e5ba4e9375f5a133007cd0afe3797b5a330", Convert.ToHexStringLower(ui.Proof));
    }

    [Theory]
    [InlineData(0u, 1ul, 1ul)]
    [InlineData(2u, 99ul, 12345ul)]
    [InlineData(uint.MaxValue, ulong.MaxValue - 1, ulong.MaxValue - 1)]
    public void Software_proof_matches_reference_formula(uint id, ulong epoch, ulong lastCounter)
    {
        byte[] digests = Digests.Make(3, salt: (int)id);
        using var usig = new SoftwareUsig(id, Key0To31, epoch, lastCounter - 1);
        var output = new UniqueIdentifier[3];
        Assert.Equal(1, usig.CreateUIs(digests.AsSpan(0, 32), output));
        Assert.Equal(lastCounter, output[0].Counter);
        Assert.Equal(ReferenceProof(Key0To31, id, epoch, lastCounter, digests[..32]), output[0].Proof.ToArray());
    }

    [Fact]
    public void Device_model_proof_matches_hard_coded_vector_and_software()
    {
        // Python: hmac.new(bytes(0xA0+i for i in range(32)), struct.pack('<IQQ', 0, 1, 1) + bytes(32), sha256)
        using var f = new ModelFixture();
        byte[] zero = new byte[32];
        UniqueIdentifier ui = f.Driver.CreateUI(zero);
        Assert.Equal(1ul, ui.Epoch);
        Assert.Equal(1ul, ui.Counter);
        Assert.Equal("27a10987f08fc8b12483795e218b56c4a5875947f000bddc40fa62104097df16", Convert.ToHexStringLower(ui.Proof));
        using var sw = new SoftwareUsig(0, ModelFixture.Key, epoch: 1);
        Assert.Equal(sw.CreateUI(zero), ui);
    }

    [Fact]
    public void Device_model_batch_proofs_match_reference_formula()
    {
        using var f = new ModelFixture(instanceId: 5);
        byte[] digests = Digests.Make(10);
        var output = new UniqueIdentifier[10];
        f.Driver.CreateUIs(digests, output);
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal((ulong)(i + 1), output[i].Counter);
            Assert.Equal(ReferenceProof(ModelFixture.Key, 5, f.Model.Epoch, (ulong)(i + 1), digests[(i * 32)..((i + 1) * 32)]), output[i].Proof.ToArray());
        }
    }

    [Fact]
    public void UI_encoding_is_48_bytes_little_endian_and_round_trips()
    {
        byte[] proof = Enumerable.Range(0, 32).Select(i => (byte)(0xF0 ^ i)).ToArray();
        var ui = new UniqueIdentifier(0x0102030405060708, 0x1112131415161718, proof);
        byte[] wire = new byte[UniqueIdentifier.EncodedSize];
        ui.WriteTo(wire);
        Assert.Equal(48, UniqueIdentifier.EncodedSize);
        Assert.Equal("0807060504030201" + "1817161514131211" + Convert.ToHexStringLower(proof), Convert.ToHexStringLower(wire));
        UniqueIdentifier back = UniqueIdentifier.ReadFrom(wire);
        Assert.Equal(ui, back);
        Assert.True(ui == back);
        Assert.Throws<ArgumentException>(() => new UniqueIdentifier(1, 1, new byte[31]));
        Assert.Throws<ArgumentException>(() => UniqueIdentifier.ReadFrom(new byte[47]));
    }

    /// <summary>Bitwise CRC-32C (reflected polynomial 0x82F63B78), the textbook definition.</summary>
    private static uint ReferenceCrc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78 : crc >> 1;
            }
        }

        return crc ^ 0xFFFFFFFF;
    }

    [Fact]
    public void Check_value_is_crc32c_of_the_80_byte_block()
    {
        Assert.Equal(0xE3069283u, ReferenceCrc32C(Encoding.ASCII.GetBytes("123456789"))); // the published check value
        byte[] digest = Digests.Make(1);
        byte[] proof = Digests.Make(1, salt: 9);
        byte[] block = new byte[80];
        BinaryPrimitives.WriteUInt64LittleEndian(block, 77);
        BinaryPrimitives.WriteUInt64LittleEndian(block.AsSpan(8), 0xDEADBEEFCAFE);
        digest.CopyTo(block, 16);
        proof.CopyTo(block, 48);
        Assert.Equal(ReferenceCrc32C(block), UsigIntegrity.Check(77, 0xDEADBEEFCAFE, digest, proof));
    }
}
