using System.Buffers;
using System.Security.Cryptography;
using FastBft.TrustedHw;
using FastBft.Wire;

namespace FastBft.Auth;

/// <summary>
/// Kind 4, USIG certificate (MinBFT/ReMinBFT; Thesis §5.4.1, PROTOCOLS.md §2.4) behind <see cref="IAuthScheme"/>,
/// over an <see cref="IUsig"/> (software or device).
/// <para><b>Certified digest</b> = SHA-256(<c>header[40] ‖ authDigest[32]</c>) (32 bytes), i.e. the USIG proof
/// binds (instance id = sender, epoch, counter, SHA-256(header ‖ authDigest)) (<see cref="UsigProofLayout"/>).
/// <see cref="CertifiedDigest"/> computes it.</para>
/// <para>Trailer (50 bytes): <c>kind 4 ‖ count 1 ‖ UI[48]</c>, the UI in <see cref="UniqueIdentifier.WriteTo"/>'s
/// encoding <c>epoch u64 LE ‖ counter u64 LE ‖ proof[32]</c>.</para>
/// <para>Verify checks the proof only and returns the verified UI in the <see cref="AuthVerdict"/>; counter order
/// (c₂ = c₁ + 1 per sender and epoch) is the caller's job (<see cref="CounterOrderBuffer{TMessage}"/>). Every
/// exception from the USIG instance (<see cref="UsigException"/>, <see cref="ArgumentException"/>, anything from a
/// device) becomes <see cref="AuthStatus.Unavailable"/>. Every holder of a trusted instance can check a UI, so
/// <see cref="IsTransferable"/> is true.</para>
/// <para>Seal takes one counter value per call; <see cref="SealBatch"/> certifies k messages with one
/// <see cref="IUsig.CreateUIs"/> call. Thread-safe as far as the <see cref="IUsig"/> is (implementations are);
/// steady state allocates nothing (the batch scratch comes from <see cref="ArrayPool{T}.Shared"/>).</para>
/// </summary>
public sealed class UsigCertificateScheme : IAuthScheme
{
    /// <summary>Trailer length in bytes: 2 + 48 = 50.</summary>
    public const int Length = Authenticator.TrailerHeaderSize + UniqueIdentifier.EncodedSize;

    /// <summary>Size of the certified digest in bytes (SHA-256).</summary>
    public const int DigestSize = 32;

    private readonly IUsig _usig;
    private readonly bool _ownsUsig;
    private volatile bool _disposed;

    /// <summary>Certifies with, and verifies through, <paramref name="usig"/> (the local replica's trusted instance).</summary>
    /// <param name="usig">The local instance; its <see cref="IUsig.Id"/> is <see cref="SelfId"/>.</param>
    /// <param name="ownsUsig">True to dispose <paramref name="usig"/> with this scheme.</param>
    /// <exception cref="ArgumentNullException"><paramref name="usig"/> is null.</exception>
    public UsigCertificateScheme(IUsig usig, bool ownsUsig = false)
    {
        ArgumentNullException.ThrowIfNull(usig);
        _usig = usig;
        _ownsUsig = ownsUsig;
        SelfId = usig.Id;
    }

    /// <inheritdoc />
    public AuthenticatorKind Kind => AuthenticatorKind.UsigCertificate;

    /// <summary>The USIG instance id (= the local replica id).</summary>
    public uint SelfId { get; }

    /// <summary>Always <see cref="AuthRole.Replica"/>: only replicas hold USIG instances.</summary>
    public AuthRole Role => AuthRole.Replica;

    /// <inheritdoc />
    public bool IsTransferable => true;

    /// <summary>Always <see cref="Length"/> = 50 bytes.</summary>
    public int TrailerLength => Length;

    /// <summary>Writes the certified digest SHA-256(<paramref name="header32"/> ‖ <paramref name="authDigest32"/>) into <paramref name="digest32"/>.</summary>
    /// <exception cref="ArgumentException">Header or digest not 32 bytes, or a destination shorter than 32 bytes.</exception>
    public static void CertifiedDigest(ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, Span<byte> digest32)
    {
        CheckInputs(header32, authDigest32);
        if (digest32.Length < DigestSize) throw new ArgumentException($"digest destination must be at least {DigestSize} bytes", nameof(digest32));
        Span<byte> input = stackalloc byte[Authenticator.HeaderSize + Authenticator.DigestSize];
        header32.CopyTo(input);
        authDigest32.CopyTo(input.Slice(Authenticator.HeaderSize));
        Digests.Sha256(input, digest32);
    }

    /// <summary>Certifies SHA-256(header32 ‖ authDigest32) with the next counter (<see cref="IUsig.CreateUI"/>) and writes
    /// <c>4 ‖ 1 ‖ UI[48]</c>; <paramref name="receiver"/> is ignored.</summary>
    /// <exception cref="ArgumentException">Header or digest not 32 bytes, or a destination shorter than 50 bytes.</exception>
    /// <exception cref="UsigException">The instance failed; the first 50 bytes of <paramref name="trailer"/> are cleared and the
    /// counter value may be lost (a gap receivers treat like a missing message, see <see cref="IUsig"/>).</exception>
    /// <exception cref="ObjectDisposedException">The scheme was disposed.</exception>
    public void Seal(ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, uint receiver, Span<byte> trailer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (trailer.Length < Length) throw new ArgumentException($"trailer destination must be at least {Length} bytes", nameof(trailer));
        Span<byte> digest = stackalloc byte[DigestSize];
        CertifiedDigest(header32, authDigest32, digest);
        UniqueIdentifier ui;
        try
        {
            ui = _usig.CreateUI(digest);
        }
        catch
        {
            trailer.Slice(0, Length).Clear();
            throw;
        }
        Write(ui, trailer);
    }

    /// <summary>
    /// Certifies k messages with <b>one</b> <see cref="IUsig.CreateUIs"/> call (consecutive counters c … c+k−1, in
    /// input order) and writes k trailers back to back.
    /// </summary>
    /// <param name="headers">k × 40 bytes (<see cref="Authenticator.HeaderSize"/>), header i at offset 40·i.</param>
    /// <param name="authDigests">k × 32 bytes, the authDigest of message i at offset 32·i.</param>
    /// <param name="trailers">At least k × 50 bytes; trailer i at offset 50·i.</param>
    /// <returns>k. k = 0 does nothing and does not call the instance.</returns>
    /// <exception cref="ArgumentException">The header length is not a multiple of 40, the digests are not k × 32 bytes, or <paramref name="trailers"/> is too short.</exception>
    /// <exception cref="UsigException">The instance failed; the first k × 50 bytes of <paramref name="trailers"/> are cleared.</exception>
    /// <exception cref="ObjectDisposedException">The scheme was disposed.</exception>
    public int SealBatch(ReadOnlySpan<byte> headers, ReadOnlySpan<byte> authDigests, Span<byte> trailers)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (headers.Length % Authenticator.HeaderSize != 0) throw new ArgumentException($"headers must be k × {Authenticator.HeaderSize} bytes", nameof(headers));
        int k = headers.Length / Authenticator.HeaderSize;
        if (authDigests.Length != k * Authenticator.DigestSize) throw new ArgumentException($"authDigests must be k × {Authenticator.DigestSize} bytes, one per header", nameof(authDigests));
        if (trailers.Length < k * Length) throw new ArgumentException($"trailers destination must be at least {k} × {Length} bytes", nameof(trailers));
        if (k == 0) return 0;
        byte[] digests = ArrayPool<byte>.Shared.Rent(k * DigestSize);
        UniqueIdentifier[] uis = ArrayPool<UniqueIdentifier>.Shared.Rent(k);
        try
        {
            for (int i = 0; i < k; i++)
                CertifiedDigest(headers.Slice(i * Authenticator.HeaderSize, Authenticator.HeaderSize),
                    authDigests.Slice(i * Authenticator.DigestSize, Authenticator.DigestSize),
                    digests.AsSpan(i * DigestSize, DigestSize));
            try
            {
                _usig.CreateUIs(digests.AsSpan(0, k * DigestSize), uis.AsSpan(0, k));
            }
            catch
            {
                trailers.Slice(0, k * Length).Clear();
                throw;
            }
            for (int i = 0; i < k; i++)
                Write(uis[i], trailers.Slice(i * Length, Length));
            return k;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(digests);
            ArrayPool<UniqueIdentifier>.Shared.Return(uis);
        }
    }

    /// <summary>Checks the UI's proof for (sender, SHA-256(header32 ‖ authDigest32)) through <see cref="IUsig.VerifyUI"/>.
    /// Ok carries the verified UI (<see cref="AuthVerdict.Ui"/>); counter 0 is never valid; any exception from the
    /// instance gives <see cref="AuthStatus.Unavailable"/>. Never throws.</summary>
    public AuthVerdict Verify(uint sender, ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32, ReadOnlySpan<byte> trailer)
    {
        if (_disposed) return AuthVerdict.Unavailable;
        if (header32.Length != Authenticator.HeaderSize || authDigest32.Length != Authenticator.DigestSize
            || trailer.Length != Length
            || trailer[0] != (byte)AuthenticatorKind.UsigCertificate || trailer[1] != 1)
            return AuthVerdict.Malformed;
        try
        {
            UniqueIdentifier ui = UniqueIdentifier.ReadFrom(trailer.Slice(Authenticator.TrailerHeaderSize));
            if (ui.Counter == 0) return AuthVerdict.BadAuthenticator;
            Span<byte> digest = stackalloc byte[DigestSize];
            CertifiedDigest(header32, authDigest32, digest);
            return _usig.VerifyUI(sender, digest, ui) ? AuthVerdict.Certified(ui) : AuthVerdict.BadAuthenticator;
        }
        catch (Exception)
        {
            return AuthVerdict.Unavailable; // device fault, timeout, disposed instance, or a contract breach of the IUsig
        }
    }

    /// <summary>
    /// <see cref="Verify"/> for k received messages with <b>one</b> <see cref="IUsig.VerifyUIs"/> call (one device command
    /// per up to 256 UIs where the device supports OP_VERIFY_RING): <paramref name="verdicts"/>[i] equals
    /// <c>Verify(senders[i], header i, authDigest i, trailer i)</c>. Issue 12 item 5: a receiver checks a whole batch's
    /// certified messages (e.g. the COMMITs that arrived in one transport burst) at once.
    /// </summary>
    /// <param name="senders">k sender ids (message i's header sender).</param>
    /// <param name="headers">k × 40 bytes (<see cref="Authenticator.HeaderSize"/>), header i at offset 40·i.</param>
    /// <param name="authDigests">k × 32 bytes, the authDigest of message i at offset 32·i.</param>
    /// <param name="trailers">k × 50 bytes (<see cref="Length"/>), trailer i at offset 50·i.</param>
    /// <param name="verdicts">At least k entries; entries [0, k) receive the verdicts.</param>
    /// <returns>The number of accepted certificates (verdicts with <see cref="AuthVerdict.IsOk"/>).</returns>
    /// <remarks>A trailer of the wrong shape gives Malformed and a UI with counter 0 gives BadAuthenticator without reaching
    /// the instance; the rest go to the instance together. Any exception from the instance (device timeout, power-cycle,
    /// fault) makes every entry that went to it <see cref="AuthStatus.Unavailable"/>; a disposed scheme gives Unavailable
    /// for all. Never throws for bad message contents. Scratch comes from <see cref="ArrayPool{T}.Shared"/>: no steady-state allocation.</remarks>
    /// <exception cref="ArgumentException">The lengths do not describe the same k messages, or <paramref name="verdicts"/> is shorter than k.</exception>
    public int VerifyBatch(ReadOnlySpan<uint> senders, ReadOnlySpan<byte> headers, ReadOnlySpan<byte> authDigests, ReadOnlySpan<byte> trailers, Span<AuthVerdict> verdicts)
    {
        int k = senders.Length;
        if (headers.Length != k * Authenticator.HeaderSize) throw new ArgumentException($"headers must be k × {Authenticator.HeaderSize} bytes for k = {k} senders", nameof(headers));
        if (authDigests.Length != k * Authenticator.DigestSize) throw new ArgumentException($"authDigests must be k × {Authenticator.DigestSize} bytes for k = {k} senders", nameof(authDigests));
        if (trailers.Length != k * Length) throw new ArgumentException($"trailers must be k × {Length} bytes for k = {k} senders", nameof(trailers));
        if (verdicts.Length < k) throw new ArgumentException($"verdicts hold {verdicts.Length} entries but {k} messages were given", nameof(verdicts));
        if (k == 0) return 0;
        if (_disposed)
        {
            verdicts.Slice(0, k).Fill(AuthVerdict.Unavailable);
            return 0;
        }

        uint[] ids = ArrayPool<uint>.Shared.Rent(k);
        int[] index = ArrayPool<int>.Shared.Rent(k);
        byte[] digests = ArrayPool<byte>.Shared.Rent(k * DigestSize);
        UniqueIdentifier[] uis = ArrayPool<UniqueIdentifier>.Shared.Rent(k);
        bool[] ok = ArrayPool<bool>.Shared.Rent(k);
        try
        {
            int m = 0; // messages that go to the instance
            for (int i = 0; i < k; i++)
            {
                ReadOnlySpan<byte> trailer = trailers.Slice(i * Length, Length);
                if (trailer[0] != (byte)AuthenticatorKind.UsigCertificate || trailer[1] != 1) { verdicts[i] = AuthVerdict.Malformed; continue; }
                UniqueIdentifier ui = UniqueIdentifier.ReadFrom(trailer.Slice(Authenticator.TrailerHeaderSize));
                if (ui.Counter == 0) { verdicts[i] = AuthVerdict.BadAuthenticator; continue; }
                CertifiedDigest(headers.Slice(i * Authenticator.HeaderSize, Authenticator.HeaderSize),
                    authDigests.Slice(i * Authenticator.DigestSize, Authenticator.DigestSize), digests.AsSpan(m * DigestSize, DigestSize));
                ids[m] = senders[i];
                uis[m] = ui;
                index[m] = i;
                m++;
            }

            if (m == 0) return 0;
            try
            {
                _usig.VerifyUIs(ids.AsSpan(0, m), digests.AsSpan(0, m * DigestSize), uis.AsSpan(0, m), ok.AsSpan(0, m));
            }
            catch (Exception)
            {
                for (int j = 0; j < m; j++) verdicts[index[j]] = AuthVerdict.Unavailable;
                return 0;
            }

            int accepted = 0;
            for (int j = 0; j < m; j++)
            {
                verdicts[index[j]] = ok[j] ? AuthVerdict.Certified(uis[j]) : AuthVerdict.BadAuthenticator;
                accepted += ok[j] ? 1 : 0;
            }

            return accepted;
        }
        finally
        {
            ArrayPool<uint>.Shared.Return(ids);
            ArrayPool<int>.Shared.Return(index);
            ArrayPool<byte>.Shared.Return(digests);
            ArrayPool<UniqueIdentifier>.Shared.Return(uis);
            ArrayPool<bool>.Shared.Return(ok);
        }
    }

    /// <summary>Disposes the USIG instance if this scheme owns it. Later: Seal throws, Verify returns Unavailable.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_ownsUsig) _usig.Dispose();
    }

    private static void Write(in UniqueIdentifier ui, Span<byte> trailer)
    {
        trailer[0] = (byte)AuthenticatorKind.UsigCertificate;
        trailer[1] = 1;
        ui.WriteTo(trailer.Slice(Authenticator.TrailerHeaderSize));
    }

    private static void CheckInputs(ReadOnlySpan<byte> header32, ReadOnlySpan<byte> authDigest32)
    {
        if (header32.Length != Authenticator.HeaderSize) throw new ArgumentException($"header32 must be exactly {Authenticator.HeaderSize} bytes", nameof(header32));
        if (authDigest32.Length != Authenticator.DigestSize) throw new ArgumentException("authDigest32 must be exactly 32 bytes", nameof(authDigest32));
    }
}
