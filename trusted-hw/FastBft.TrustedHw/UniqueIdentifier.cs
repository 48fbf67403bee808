using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace FastBft.TrustedHw;

/// <summary>Inline 32-byte storage for a USIG proof (keeps <see cref="UniqueIdentifier"/> allocation-free).</summary>
[InlineArray(UniqueIdentifier.ProofSize)]
internal struct UsigProofBytes
{
    private byte _element0;
}

/// <summary>
/// A USIG unique identifier UI = (epoch, counter, proof): the certificate a trusted
/// message-certification instance attaches to one message digest.
/// Seed: Thesis §5.4.1 and Fig. 5.6 (certificate ⟨id_MCS, c, proof⟩); PROTOCOLS.md §2.4.
/// </summary>
/// <remarks>
/// <para>Sizes: <see cref="Epoch"/> 8 bytes, <see cref="Counter"/> 8 bytes, <see cref="Proof"/>
/// exactly <see cref="ProofSize"/> = 32 bytes (HMAC-SHA256). The wire encoding written by
/// <see cref="WriteTo"/> is <see cref="EncodedSize"/> = 48 bytes:
/// <c>epoch u64 LE ‖ counter u64 LE ‖ proof[32]</c>. The certifying instance's id is not part of
/// the UI; it is the sender id the message already carries and is an input of the proof
/// (see <see cref="UsigProofLayout"/>).</para>
/// <para>Counters start at 1 in every epoch; 0 never appears in a valid UI. Consecutive UIs of one
/// instance in one epoch satisfy c₂ = c₁ + 1 (Thesis §5.4.1).</para>
/// <para><c>default(UniqueIdentifier)</c> (epoch 0, counter 0, zero proof) is never a valid UI.</para>
/// </remarks>
public readonly struct UniqueIdentifier : IEquatable<UniqueIdentifier>
{
    /// <summary>Size of <see cref="Proof"/> in bytes (32: HMAC-SHA256 output).</summary>
    public const int ProofSize = 32;

    /// <summary>Size of the wire encoding in bytes: 8 (epoch) + 8 (counter) + 32 (proof) = 48.</summary>
    public const int EncodedSize = 8 + 8 + ProofSize;

    private readonly UsigProofBytes _proof;

    /// <summary>Creates a UI from its parts.</summary>
    /// <param name="epoch">Epoch of the certifying instance (changes on power-up / restart).</param>
    /// <param name="counter">Counter value (≥ 1 for a valid UI).</param>
    /// <param name="proof">Exactly 32 bytes of proof; copied.</param>
    /// <exception cref="ArgumentException"><paramref name="proof"/> is not 32 bytes long.</exception>
    public UniqueIdentifier(ulong epoch, ulong counter, ReadOnlySpan<byte> proof)
    {
        if (proof.Length != ProofSize)
        {
            throw new ArgumentException($"A USIG proof is exactly {ProofSize} bytes; got {proof.Length}.", nameof(proof));
        }

        Epoch = epoch;
        Counter = counter;
        proof.CopyTo(_proof);
    }

    /// <summary>Epoch of the certifying instance (8 bytes). A new epoch starts at every power-up of a device
    /// or every start of a software instance; counters restart at 1 in it.</summary>
    public ulong Epoch { get; }

    /// <summary>Counter value assigned to the certified digest (8 bytes, ≥ 1).</summary>
    public ulong Counter { get; }

    /// <summary>The 32-byte proof: HMAC-SHA256 under the trusted key over the layout in <see cref="UsigProofLayout"/>.</summary>
    [UnscopedRef]
    public ReadOnlySpan<byte> Proof => _proof;

    /// <summary>Writes the 48-byte wire encoding <c>epoch u64 LE ‖ counter u64 LE ‖ proof[32]</c>.</summary>
    /// <param name="destination">At least <see cref="EncodedSize"/> bytes.</param>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is shorter than 48 bytes.</exception>
    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < EncodedSize)
        {
            throw new ArgumentException($"Need {EncodedSize} bytes for a UI; got {destination.Length}.", nameof(destination));
        }

        BinaryPrimitives.WriteUInt64LittleEndian(destination, Epoch);
        BinaryPrimitives.WriteUInt64LittleEndian(destination[8..], Counter);
        ((ReadOnlySpan<byte>)_proof).CopyTo(destination[16..]);
    }

    /// <summary>Parses the 48-byte wire encoding written by <see cref="WriteTo"/>. Does not verify the proof.</summary>
    /// <param name="source">At least <see cref="EncodedSize"/> bytes; only the first 48 are read.</param>
    /// <exception cref="ArgumentException"><paramref name="source"/> is shorter than 48 bytes.</exception>
    public static UniqueIdentifier ReadFrom(ReadOnlySpan<byte> source)
    {
        if (source.Length < EncodedSize)
        {
            throw new ArgumentException($"Need {EncodedSize} bytes for a UI; got {source.Length}.", nameof(source));
        }

        return new UniqueIdentifier(
            BinaryPrimitives.ReadUInt64LittleEndian(source),
            BinaryPrimitives.ReadUInt64LittleEndian(source[8..]),
            source.Slice(16, ProofSize));
    }

    /// <inheritdoc />
    public bool Equals(UniqueIdentifier other) =>
        Epoch == other.Epoch && Counter == other.Counter &&
        ((ReadOnlySpan<byte>)_proof).SequenceEqual(other._proof);

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is UniqueIdentifier other && Equals(other);

    /// <inheritdoc />
    public override int GetHashCode() =>
        HashCode.Combine(Epoch, Counter, BinaryPrimitives.ReadInt64LittleEndian(_proof));

    /// <summary>Equality of all three parts.</summary>
    public static bool operator ==(UniqueIdentifier left, UniqueIdentifier right) => left.Equals(right);

    /// <summary>Inequality of any part.</summary>
    public static bool operator !=(UniqueIdentifier left, UniqueIdentifier right) => !left.Equals(right);

    /// <summary>Short form <c>UI(e=…, c=…, proof=xxxxxxxx…)</c> for logs.</summary>
    public override string ToString() =>
        $"UI(e={Epoch}, c={Counter}, proof={Convert.ToHexStringLower(((ReadOnlySpan<byte>)_proof)[..4])}…)";
}
