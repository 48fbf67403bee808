namespace FastBft.TrustedHw;

/// <summary>
/// A USIG instance: the trusted message-certification service of one replica
/// (Thesis §5.4.1, Fig. 5.6 createCertificate/checkCertificate; PROTOCOLS.md §2.4).
/// </summary>
/// <remarks>
/// <para><b>Guarantees</b> (for a correct instance; see docs/trusted-counter.md for what each
/// implementation guarantees against a compromised replica process):</para>
/// <list type="bullet">
/// <item>Every UI returned by <see cref="CreateUI"/>/<see cref="CreateUIs"/> carries the current
/// <see cref="Epoch"/> and the next counter value: within an epoch the counters handed out are
/// 1, 2, 3, … with no value reused and none skipped, across batches and across concurrent callers
/// (each call receives one contiguous range; the interleaving of concurrent calls is unspecified).</item>
/// <item>The proof binds (<see cref="Id"/>, epoch, counter, digest) under a key only trusted instances hold.</item>
/// <item>The counter is never reset while the instance runs; a restart/power-up starts a new, larger epoch.</item>
/// </list>
/// <para>Implementations are thread-safe. A certified counter value that is lost because a call threw
/// (device timeout, power-cycle) leaves a gap receivers cannot fill; the protocol handles it like a
/// missing message (retransmission fails, a view change or checkpoint moves the receivers on).</para>
/// </remarks>
public interface IUsig : IDisposable
{
    /// <summary>Id of this instance (= the replica id it belongs to); an input of every proof it creates.</summary>
    uint Id { get; }

    /// <summary>Current epoch of this instance. Changes only when the underlying counter restarts
    /// (device power-up, software restart); then <see cref="UsigEpochChangedException"/> is thrown once by the device driver.</summary>
    ulong Epoch { get; }

    /// <summary>Certifies one 32-byte digest with the next counter value.</summary>
    /// <param name="digest">Exactly 32 bytes (SHA-256 of the message).</param>
    /// <returns>The UI (epoch, counter, 32-byte proof).</returns>
    /// <exception cref="ArgumentException">The digest is not 32 bytes.</exception>
    /// <exception cref="UsigException">The instance failed (device errors are <see cref="UsigDeviceException"/> subclasses).</exception>
    UniqueIdentifier CreateUI(ReadOnlySpan<byte> digest);

    /// <summary>Certifies N digests in one call with consecutive counters c, c+1, …, c+N−1
    /// (one doorbell per up to ring-size digests on the device).</summary>
    /// <param name="digests">N×32 bytes, digest i at offset 32·i. N = 0 is allowed and does nothing.</param>
    /// <param name="output">At least N entries; entries [0, N) receive the UIs in digest order. On an exception
    /// the first N entries are cleared to <c>default</c>, never left holding an unchecked UI.</param>
    /// <returns>N, the number of UIs written.</returns>
    /// <exception cref="ArgumentException">The digests length is not a multiple of 32, or <paramref name="output"/> is too short.</exception>
    /// <exception cref="UsigException">The instance failed.</exception>
    int CreateUIs(ReadOnlySpan<byte> digests, Span<UniqueIdentifier> output);

    /// <summary>Checks that <paramref name="ui"/> is a valid certificate by instance <paramref name="replicaId"/> for
    /// <paramref name="digest"/>. Checks the proof only; counter order is the job of <see cref="CounterOrderBuffer{TMessage}"/>.</summary>
    /// <param name="replicaId">Id of the instance that claims to have created the UI (the sender).</param>
    /// <param name="digest">Exactly 32 bytes.</param>
    /// <param name="ui">The UI received with the message.</param>
    /// <returns>True when the proof matches.</returns>
    /// <exception cref="ArgumentException">The digest is not 32 bytes.</exception>
    /// <exception cref="UsigException">The instance failed (device).</exception>
    bool VerifyUI(uint replicaId, ReadOnlySpan<byte> digest, in UniqueIdentifier ui);

    /// <summary>
    /// Checks k UIs in one call (issue 12 item 5: a receiver verifies a whole batch's certified messages at once):
    /// <c>results[i]</c> = <see cref="VerifyUI"/>(<paramref name="replicaIds"/>[i], digest i, <paramref name="uis"/>[i]).
    /// Proofs only; counter order stays the job of <see cref="CounterOrderBuffer{TMessage}"/>.
    /// </summary>
    /// <remarks>
    /// <para>The device driver issues one OP_VERIFY_RING command per up to ring-size (256) UIs when the device
    /// advertises CAPS.VERIFY_RING (docs/trusted-counter-registers.md §4.2), one OP_VERIFY per UI otherwise; the
    /// software instance computes k HMACs with one rented context and no allocation. This default implementation
    /// (for other implementations) calls <see cref="VerifyUI"/> k times.</para>
    /// <para>A UI with counter 0 is invalid without being sent anywhere. The entries are independent: a forged UI
    /// in the middle of a batch makes only its own entry false.</para>
    /// </remarks>
    /// <param name="replicaIds">k ids: the instance each UI claims to come from (the sender of message i).</param>
    /// <param name="digests">k×32 bytes, digest i at offset 32·i.</param>
    /// <param name="uis">The k UIs received.</param>
    /// <param name="results">At least k entries; entries [0, k) receive the verdicts. On an exception the first k
    /// entries are cleared to false, never left holding an unchecked verdict.</param>
    /// <returns>The number of valid UIs (entries set to true).</returns>
    /// <exception cref="ArgumentException"><paramref name="digests"/> is not k×32 bytes, <paramref name="replicaIds"/>
    /// does not hold k ids, or <paramref name="results"/> is shorter than k.</exception>
    /// <exception cref="UsigException">The instance failed (device timeout, power-cycle, fault).</exception>
    int VerifyUIs(ReadOnlySpan<uint> replicaIds, ReadOnlySpan<byte> digests, ReadOnlySpan<UniqueIdentifier> uis, Span<bool> results)
    {
        int k = UsigBatch.CountVerify(replicaIds.Length, digests, uis.Length, results.Length);
        int valid = 0;
        try
        {
            for (int i = 0; i < k; i++)
            {
                bool ok = VerifyUI(replicaIds[i], digests.Slice(i * UsigProofLayout.DigestSize, UsigProofLayout.DigestSize), uis[i]);
                results[i] = ok;
                valid += ok ? 1 : 0;
            }
        }
        catch
        {
            results[..k].Clear();
            throw;
        }

        return valid;
    }
}
