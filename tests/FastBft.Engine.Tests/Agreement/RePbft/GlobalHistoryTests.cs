using FastBft.Agreement;
using FastBft.Agreement.Pbft;
using FastBft.Agreement.RePbft;
using FastBft.Auth;
using FastBft.Wire;

namespace FastBft.Engine.Tests.Agreement.RePbft;

/// <summary>H1/H2 (Thesis §5.3.2.3, Fig. 5.4; docs/repbft.md §4–§5.3) over hand-built abort histories with real Ed25519 endorsements, f = 1: leader 0, followers 1 and 2, passive 3.</summary>
public sealed class GlobalHistoryTests
{
    private static readonly CellShape Shape = new(ProtocolKind.RePbft, 1);
    private static readonly KeyStore Keys = new(Enumerable.Range(0, 32).Select(i => (byte)(i * 5 + 3)).ToArray(), 4, 1000);
    private static readonly ReplicaSignatures Sig = new Authenticator(0, Keys).Signatures;
    private const ulong Gen = 0, View = 0;

    private static byte[] D(int v) => System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(v));

    /// <summary>Replica <paramref name="sender"/>'s endorsement of (seq, digest); <paramref name="forged"/>: a garbage signature (a faulty replica naming a correct one).</summary>
    private static Endorsement Endorse(uint sender, ulong seq, byte[] digest, bool forged = false)
    {
        var type = sender == 0 ? MessageType.EndorsedPrePrepare : MessageType.EndorsedPrepare;
        var header = new byte[MessageHeader.Size];
        new MessageHeader(type, sender, View, seq, 96, 8 * 4 + 4, ProtocolFamily.RePbft, Gen).Write(header);
        var sig = new byte[64];
        if (forged) sig[0] = 1;
        else new Authenticator(sender, Keys).Signatures.Sign(sender, header.Concat(digest).ToArray(), sig);
        return new Endorsement(header, sig);
    }

    private static HistorySlot Proof(ulong seq, byte[] digest, params (uint Sender, bool Forged)[] endorsers)
        => new(seq, digest, endorsers.Select(e => Endorse(e.Sender, seq, digest, e.Forged)).ToList());

    private static AbortHistory History(uint sender, params HistorySlot[] slots) => new()
    {
        Sender = sender, Target = 1, AbortedGeneration = Gen, AbortedView = View, CheckpointSeq = 0, CheckpointDigest = new byte[32],
        Certificate = new(), Slots = slots.ToList(), Message = [],
    };

    private static readonly (uint, bool)[] All = [(0, false), (1, false), (2, false)];

    [Fact]
    public void H1TakesTheProvenValueAndH2FillsGapsWithTheNullRequest()
    {
        // Fig. 5.4 in small: slot 1 proven, slot 2 no proof, slot 3 proven by the other history only.
        var a = History(1, Proof(1, D(1), All));
        var b = History(2, Proof(1, D(1), All), Proof(3, D(3), All));
        var g = GlobalHistory.Decide([a, b], Shape, 2, 256, Sig);
        Assert.Equal(0UL, g.CheckpointSeq);
        Assert.Equal(3, g.Slots.Count);
        Assert.Equal(D(1), g.Slots[0]);
        Assert.Equal(ViewChangeDecision.NullDigest, g.Slots[1]);
        Assert.Equal(D(3), g.Slots[2]);
    }

    [Fact]
    public void AProofNeedsFPlusOneGenuineEndorsementsFromDistinctActiveSenders()
    {
        Assert.True(GlobalHistory.IsValidProof(Proof(5, D(5), (0, false), (1, false)), Gen, View, Shape, 2, Sig));
        Assert.False(GlobalHistory.IsValidProof(Proof(5, D(5), (0, false), (1, true), (2, true)), Gen, View, Shape, 2, Sig));   // forged signatures
        Assert.False(GlobalHistory.IsValidProof(Proof(5, D(5), (1, false), (1, false)), Gen, View, Shape, 2, Sig));             // one sender twice
        Assert.False(GlobalHistory.IsValidProof(Proof(5, D(5), (3, false), (1, false)), Gen, View, Shape, 2, Sig));             // the passive replica endorses nothing
        var wrongSeq = Proof(5, D(5), All);
        Assert.False(GlobalHistory.IsValidProof(wrongSeq with { Seq = 6 }, Gen, View, Shape, 2, Sig));                              // headers name s = 5
        Assert.False(GlobalHistory.IsValidProof(Proof(5, D(5), All), Gen + 1, View, Shape, 2, Sig));                               // another generation
    }

    [Fact]
    public void AFaultyReplicasHistoryCannotDisplaceACommittedRequest()
    {
        // o = D(7) committed at 7: every active replica endorsed it; correct replica 1's history holds its proof.
        // Faulty replica 2 endorses o' = D(8) itself and forges the others' endorsements for it.
        var correct = History(1, Proof(7, D(7), All));
        var faulty = History(2, Proof(7, D(8), (0, true), (1, true), (2, false)));
        var g = GlobalHistory.Decide([correct, faulty], Shape, proofThreshold: 2, 256, Sig);
        Assert.Equal(D(7), g.Slots[6]);
        Assert.Equal(0, g.ConflictingSlots);

        // The planted bug: a proof with a single genuine endorsement counts — H2 then turns the committed slot into ⊥.
        var broken = GlobalHistory.Decide([correct, faulty], Shape, proofThreshold: 1, 256, Sig);
        Assert.Equal(ViewChangeDecision.NullDigest, broken.Slots[6]);
        Assert.Equal(1, broken.ConflictingSlots);
    }

    [Fact]
    public void AReplicaRecomputingTheDecisionRejectsAnyDifference()
    {
        var a = History(1, Proof(1, D(1), All), Proof(2, D(2), All));
        var b = History(2, Proof(1, D(1), All));
        var g = GlobalHistory.Decide([a, b], Shape, 2, 256, Sig);
        Assert.True(g.SameAs(0, new byte[32], [D(1), D(2)]));
        Assert.False(g.SameAs(0, new byte[32], [D(1), ViewChangeDecision.NullDigest]));   // a coordinator dropping a proven slot
        Assert.False(g.SameAs(0, new byte[32], [D(1)]));                                  // or cutting the history short
        Assert.False(g.SameAs(0, new byte[32], [D(1), D(9)]));                             // or changing a value
    }

    [Fact]
    public void AHistoryFromAPassiveReplicaOrWithoutAValidCertificateDoesNotCount()
    {
        Assert.True(GlobalHistory.IsValid(History(1), Shape, Gen, View, Sig));
        Assert.False(GlobalHistory.IsValid(History(3), Shape, Gen, View, Sig));                                   // passive
        Assert.False(GlobalHistory.IsValid(History(1), Shape, Gen + 1, View, Sig));                              // about another generation
        var claimed = new AbortHistory
        {
            Sender = 1, Target = 1, AbortedGeneration = Gen, AbortedView = View, CheckpointSeq = 128, CheckpointDigest = D(128),
            Certificate = new(), Slots = new(), Message = [],
        };
        Assert.False(GlobalHistory.IsValid(claimed, Shape, Gen, View, Sig));                                      // a checkpoint without its n signatures
    }
}
