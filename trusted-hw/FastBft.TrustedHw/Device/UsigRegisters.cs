namespace FastBft.TrustedHw;

/// <summary>
/// Register map of the USIG device's BAR0 window, version 1.0. The authoritative description (access,
/// reset values, bit fields, command protocol) is docs/trusted-counter-registers.md; this class holds the
/// constants shared by the driver (<see cref="FpgaUsig"/>) and the device model (<see cref="UsigDeviceModel"/>).
/// All registers are little-endian; 64-bit registers are 8-byte aligned. Offsets are in bytes from BAR0.
/// </summary>
public static class UsigRegisters
{
    /// <summary>Size of the BAR0 window in bytes (64 KiB).</summary>
    public const int WindowSize = 0x10000;

    /// <summary>MAGIC, u32 RO, reset 0x47495355 (ASCII "USIG" in memory order).</summary>
    public const int Magic = 0x000;

    /// <summary>VERSION, u32 RO: major [31:16], minor [15:0]; reset 0x00010000.</summary>
    public const int Version = 0x004;

    /// <summary>CAPS, u32 RO: [7:0] log2(ring entries); bit 8 VERIFY supported; bit 9 RING supported; bit 10 VERIFY_RING supported (1.1).</summary>
    public const int Caps = 0x008;

    /// <summary>INSTANCE_ID, u32 RO: USIG instance id provisioned with the key (= replica id).</summary>
    public const int InstanceId = 0x00C;

    /// <summary>EPOCH, u64 RO: epoch number, incremented at every power-up from non-volatile storage.</summary>
    public const int Epoch = 0x010;

    /// <summary>COUNTER, u64 RO: last counter value assigned in this epoch; 0 after power-up.</summary>
    public const int Counter = 0x018;

    /// <summary>STATUS, u32 RO: see the Status* bit constants.</summary>
    public const int Status = 0x020;

    /// <summary>ERROR_CODE, u32 RO: last error code (see Error* constants), 0 = none. Cleared by CONTROL.CLEAR_ERROR.</summary>
    public const int ErrorCode = 0x024;

    /// <summary>CONTROL, u32 WO (write-1 bits): bit 0 CLEAR_ERROR.</summary>
    public const int Control = 0x028;

    /// <summary>DOORBELL, u32 RW: host writes (tag [31:8] | opcode [7:0]); a write of a new value starts a command.</summary>
    public const int Doorbell = 0x040;

    /// <summary>COMPLETION, u32 RO: device writes (tag [31:8] | result [7:0]) of the last finished command, after all outputs.</summary>
    public const int Completion = 0x044;

    /// <summary>RING_START, u32 RW: index of the first descriptor an OP_RING command processes.</summary>
    public const int RingStart = 0x048;

    /// <summary>RING_COUNT, u32 RW: number of descriptors an OP_RING command processes (1..ring entries; wraps modulo entries).</summary>
    public const int RingCount = 0x04C;

    /// <summary>DIGEST_IN, 32 bytes WO: digest for OP_CERTIFY and OP_VERIFY.</summary>
    public const int DigestIn = 0x100;

    /// <summary>VERIFY_ID, u32 WO: instance id claimed by the UI to verify.</summary>
    public const int VerifyId = 0x120;

    /// <summary>VERIFY_EPOCH, u64 WO.</summary>
    public const int VerifyEpoch = 0x128;

    /// <summary>VERIFY_COUNTER, u64 WO.</summary>
    public const int VerifyCounter = 0x130;

    /// <summary>VERIFY_PROOF, 32 bytes WO.</summary>
    public const int VerifyProof = 0x140;

    /// <summary>OUT_EPOCH, u64 RO: epoch of the UI made by the last OP_CERTIFY.</summary>
    public const int OutEpoch = 0x180;

    /// <summary>OUT_COUNTER, u64 RO.</summary>
    public const int OutCounter = 0x188;

    /// <summary>OUT_PROOF, 32 bytes RO.</summary>
    public const int OutProof = 0x190;

    /// <summary>OUT_CHECK, u32 RO: CRC-32C over OUT_EPOCH ‖ OUT_COUNTER ‖ DIGEST_IN ‖ OUT_PROOF (see <see cref="UsigIntegrity"/>).</summary>
    public const int OutCheck = 0x1B0;

    /// <summary>Start of the on-window descriptor ring.</summary>
    public const int RingBase = 0x1000;

    /// <summary>Size of one ring descriptor in bytes (128).</summary>
    public const int DescriptorSize = 0x80;

    /// <summary>Descriptor field: DIGEST, 32 bytes, host → device.</summary>
    public const int DescDigest = 0x00;

    /// <summary>Descriptor field: EPOCH, u64, device → host.</summary>
    public const int DescEpoch = 0x20;

    /// <summary>Descriptor field: COUNTER, u64, device → host.</summary>
    public const int DescCounter = 0x28;

    /// <summary>Descriptor field: PROOF, 32 bytes, device → host.</summary>
    public const int DescProof = 0x30;

    /// <summary>Descriptor field: CHECK, u32, device → host: CRC-32C over EPOCH ‖ COUNTER ‖ DIGEST ‖ PROOF.</summary>
    public const int DescCheck = 0x50;

    /// <summary>Descriptor field: STATUS, u32: host writes 0 (pending), device writes <see cref="DescDone"/> or an error code.</summary>
    public const int DescStatus = 0x54;

    /// <summary>Verify descriptor field (OP_VERIFY_RING, version 1.1): VERIFY_ID, u32, host → device: the instance id the UI
    /// claims. Same offset as <see cref="DescCheck"/> of a certify descriptor; a descriptor is read by one command at a time.</summary>
    public const int DescVerifyId = 0x50;

    /// <summary>Verify descriptor field (OP_VERIFY_RING): RESULT, u32, device → host: <see cref="ResultOk"/> (0) = proof valid,
    /// <see cref="ResultVerifyFailed"/> (1) = invalid. Meaningful only once the descriptor's STATUS is <see cref="DescDone"/>.
    /// The UI to check sits in the EPOCH, COUNTER and PROOF fields (host → device for this opcode).</summary>
    public const int DescVerifyResult = 0x58;

    /// <summary>Descriptor STATUS value for a completed descriptor.</summary>
    public const uint DescDone = 1;

    /// <summary>Value of MAGIC.</summary>
    public const uint MagicValue = 0x47495355;

    /// <summary>Major version this driver speaks.</summary>
    public const uint SupportedMajorVersion = 1;

    /// <summary>VERSION value of the model (1.1: 1.0 plus OP_VERIFY_RING).</summary>
    public const uint VersionValue = (SupportedMajorVersion << 16) | 1;

    /// <summary>log2 of the ring size the model exposes (8 → 256 descriptors, 32 KiB).</summary>
    public const int RingLog2 = 8;

    /// <summary>CAPS bit: OP_VERIFY supported.</summary>
    public const uint CapsVerify = 1u << 8;

    /// <summary>CAPS bit: OP_RING supported.</summary>
    public const uint CapsRing = 1u << 9;

    /// <summary>CAPS bit (version 1.1): OP_VERIFY_RING supported. Without it the driver verifies a batch with one OP_VERIFY per UI.</summary>
    public const uint CapsVerifyRing = 1u << 10;

    /// <summary>STATUS bit 0 READY: the device finished power-up and accepts commands.</summary>
    public const uint StatusReady = 1u << 0;

    /// <summary>STATUS bit 1 BUSY: a command is executing.</summary>
    public const uint StatusBusy = 1u << 1;

    /// <summary>STATUS bit 2 ERROR: ERROR_CODE holds an error.</summary>
    public const uint StatusError = 1u << 2;

    /// <summary>STATUS bit 3 KEY_LOADED: the trusted key is provisioned.</summary>
    public const uint StatusKeyLoaded = 1u << 3;

    /// <summary>CONTROL bit 0 CLEAR_ERROR.</summary>
    public const uint ControlClearError = 1u << 0;

    /// <summary>Opcode: certify DIGEST_IN into OUT_*.</summary>
    public const uint OpCertify = 1;

    /// <summary>Opcode: verify DIGEST_IN and VERIFY_*; result byte 0 = valid, 1 = invalid.</summary>
    public const uint OpVerify = 2;

    /// <summary>Opcode: certify descriptors RING_START .. RING_START+RING_COUNT−1 (mod entries).</summary>
    public const uint OpRing = 3;

    /// <summary>Opcode (version 1.1): verify descriptors RING_START .. RING_START+RING_COUNT−1 (mod entries), each holding
    /// DIGEST, EPOCH, COUNTER, PROOF and VERIFY_ID; the device writes RESULT and STATUS = DONE per descriptor. Consumes no counter.</summary>
    public const uint OpVerifyRing = 4;

    /// <summary>Result byte: success (or VERIFY: proof valid).</summary>
    public const uint ResultOk = 0;

    /// <summary>Result byte of OP_VERIFY: proof invalid.</summary>
    public const uint ResultVerifyFailed = 1;

    /// <summary>Error code: unknown opcode.</summary>
    public const uint ErrorBadOpcode = 0x10;

    /// <summary>Error code: RING_START ≥ entries, or RING_COUNT = 0 or &gt; entries.</summary>
    public const uint ErrorBadRingRange = 0x11;

    /// <summary>Error code: no key provisioned.</summary>
    public const uint ErrorNoKey = 0x12;

    /// <summary>Error code: counter would overflow 2^64 − 1.</summary>
    public const uint ErrorCounterExhausted = 0x13;

    /// <summary>Human-readable name of an error code.</summary>
    public static string DescribeError(uint code) => code switch
    {
        0 => "none",
        ErrorBadOpcode => "BAD_OPCODE",
        ErrorBadRingRange => "BAD_RING_RANGE",
        ErrorNoKey => "NO_KEY",
        ErrorCounterExhausted => "COUNTER_EXHAUSTED",
        _ => "unknown",
    };
}

/// <summary>
/// The CHECK value attached to every device output: CRC-32C (Castagnoli, the SSE4.2 <c>crc32</c> instruction),
/// initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF, over the 80-byte block
/// epoch u64 LE ‖ counter u64 LE ‖ digest[32] ‖ proof[32], fed as ten little-endian u64 words.
/// It lets the driver detect outputs corrupted between the HMAC engine and the host (and a UI made for a
/// different digest than the host wrote). It is not a MAC.
/// </summary>
public static class UsigIntegrity
{
    /// <summary>Computes the CHECK value.</summary>
    /// <param name="epoch">UI epoch.</param>
    /// <param name="counter">UI counter.</param>
    /// <param name="digest">32 bytes.</param>
    /// <param name="proof">32 bytes.</param>
    public static uint Check(ulong epoch, ulong counter, ReadOnlySpan<byte> digest, ReadOnlySpan<byte> proof)
    {
        uint crc = 0xFFFFFFFFu;
        crc = System.Numerics.BitOperations.Crc32C(crc, epoch);
        crc = System.Numerics.BitOperations.Crc32C(crc, counter);
        for (int i = 0; i < 32; i += 8)
        {
            crc = System.Numerics.BitOperations.Crc32C(crc, System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(digest[i..]));
        }

        for (int i = 0; i < 32; i += 8)
        {
            crc = System.Numerics.BitOperations.Crc32C(crc, System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(proof[i..]));
        }

        return crc ^ 0xFFFFFFFFu;
    }
}
