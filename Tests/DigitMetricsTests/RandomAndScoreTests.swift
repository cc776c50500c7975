import DigitCheckpoint
import DigitMetrics
import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

@Suite("numpy RandomState, Inception Score, KID, precision/recall (shared/fixtures/metrics)")
struct RandomAndScoreTests {
    // Bit-exact: the permutations numpy's RandomState(2020) produced, stored by the generator.
    @Test("RandomState(2020).permutation(N) matches numpy", arguments: [("isc_n5000", 5000), ("isc_n1237", 1237)])
    func permutation(name: String, n: Int) throws {
        var rng = NumpyRandomState(seed: 2020)
        let ours = rng.permutation(n)
        let stored = try Fixtures.npy("metrics", "\(name)_permutation_seed2020.npy").int64s().map(Int.init)
        #expect(ours == stored)
    }

    // Known MT19937 outputs: numpy's RandomState(5489).randint(0, 2**32) sequence starts with
    // the reference genrand_int32 values 3499211612, 581869302, 3890346734 (mt19937ar.c, seed 5489).
    @Test("MT19937 reference outputs")
    func mt19937() {
        var rng = NumpyRandomState(seed: 5489)
        #expect([rng.nextUInt32(), rng.nextUInt32(), rng.nextUInt32()] == [3_499_211_612, 581_869_302, 3_890_346_734])
    }

    // Bit-exact: subset indices torch-fidelity and clean-fid used (A's/B's draw order differs).
    @Test("KID subset indices match torch-fidelity and clean-fid",
          arguments: [("small", 300, 20, 100), ("big", 5000, 100, 1000)])
    func kidIndices(c: String, n: Int, subsets: Int, size: Int) throws {
        let tf = try KernelInceptionDistance.subsets(protocol: .torchFidelity, countA: n, countB: n, subsets: subsets, subsetSize: size)
        #expect(tf == (try MetricsFixtures.kidSubsets("\(c)_kid_tfid_subset_indices.npy")))
        let cf = try KernelInceptionDistance.subsets(protocol: .cleanFID, countA: n, countB: n, subsets: subsets, subsetSize: size)
        #expect(cf == (try MetricsFixtures.kidSubsets("\(c)_kid_cleanfid_subset_indices.npy")))
    }

    // IS: logits are bit-exact and upstream is float64 throughout → README suggests rel 1e-9.
    @Test("Inception Score (torch-fidelity rule) matches, shuffled and not", arguments: [("isc_n5000", 5000), ("isc_n1237", 1237)])
    func inceptionScore(name: String, n: Int) throws {
        let logits = MetricsFixtures.iscLogits(name, n: n)
        let first = try MetricsFixtures.doubles(name, "logits", "first")
        // Logits are exact float32; expected.json's decimal digits parse to the same float32.
        #expect(Array(logits.scalars.prefix(4)) == first.map { Float($0) })
        #expect(relErr(logits.scalars.reduce(0.0) { $0 + Double($1) }, try MetricsFixtures.double(name, "logits", "sum")) <= 1e-12)
        for (shuffle, key) in [(true, "shuffle_true"), (false, "shuffle_false")] {
            let s = try InceptionScore.torchFidelity(logits: logits, splits: 10, shuffle: shuffle, seed: 2020)
            let mean = try MetricsFixtures.double(name, key, "inception_score_mean")
            let std = try MetricsFixtures.double(name, key, "inception_score_std")
            let per = try MetricsFixtures.doubles(name, key, "per_split")
            #expect(relErr(s.mean, mean) <= 1e-9, "\(name) \(key) mean \(s.mean) vs \(mean)")
            #expect(relErr(s.std, std) <= 1e-9, "\(name) \(key) std \(s.std) vs \(std)")
            #expect(zip(s.perSplit, per).allSatisfy { relErr($0, $1) <= 1e-9 }, "\(s.perSplit) vs \(per)")
        }
    }

    // ADM rule: tools/metrics_reference.py (adm_is) runs the evaluator's numpy steps on a numpy
    // float32 softmax (TensorFlow's softmax is not available); float32 arithmetic in a different
    // order → rel 1e-5.
    @Test("Inception Score (ADM rule) matches the evaluator's numpy steps",
          arguments: [("isc_n5000", 5000, 55.063144683837891), ("isc_n1237", 1237, 52.455112457275391)])
    func admInceptionScore(name: String, n: Int, expected: Double) throws {
        let s = try InceptionScore.adm(logits: MetricsFixtures.iscLogits(name, n: n))
        #expect(relErr(s.mean, expected) <= 1e-5, "ours \(s.mean), numpy \(expected)")
    }

    // KID float64 vs upstream on float64 features: README abs 1e-10 (per subset and mean).
    // float32 (the references' float32 kernel and numpy sums, emulated) vs upstream float32: at
    // m = 100 one float32 ulp of a kernel total (~2.4e4) is 3.9e-7 of MMD², and a Gram entry that
    // numpy's sgemm rounds the other way flips one: measured 16 of 20 subsets bit-identical, the
    // others off by exactly that ulp → abs 5e-7 here (big, m = 1000: abs 1e-8 as the README says).
    @Test("KID small (20 × 100) matches torch-fidelity and clean-fid, float64 and float32")
    func kidSmall() throws {
        let a = MetricsFixtures.features("small", "A"), b = MetricsFixtures.features("small", "B")
        let subsets = try MetricsFixtures.kidSubsets("small_kid_tfid_subset_indices.npy")
        for (precision, key, tol) in [(KernelPrecision.float64, "features_float64", 1e-10), (.float32, "features_float32", 5e-7)] {
            let kid = try KernelInceptionDistance.compute(a, b, subsets: subsets, precision: precision)
            let per = try MetricsFixtures.doubles("fid_small", "kid", key, "per_subset_mmd2")
            #expect(zip(kid.perSubset, per).allSatisfy { abs($0 - $1) <= tol }, "\(key): \(zip(kid.perSubset, per).map { $0 - $1 })")
            #expect(zip(kid.perSubset, per).filter { abs($0 - $1) <= 1e-12 }.count >= (precision == .float64 ? 20 : 15))
            #expect(abs(kid.mean - (try MetricsFixtures.double("fid_small", "kid", key, "mean"))) <= tol)
            #expect(abs(kid.std - (try MetricsFixtures.double("fid_small", "kid", key, "std"))) <= tol)
            let clean = try KernelInceptionDistance.compute(
                a, b, subsets: try MetricsFixtures.kidSubsets("small_kid_cleanfid_subset_indices.npy"), precision: precision, reduction: .cleanFID)
            let cleanExpected = try MetricsFixtures.double("fid_small", "kid", "cleanfid.kernel_distance", key)
            #expect(abs(clean.mean - cleanExpected) <= tol, "clean-fid \(key): \(clean.mean) vs \(cleanExpected)")
        }
        // Metric wrapper: draws the same subsets itself.
        let r = try KIDMetric(reference: b, subsets: 20, subsetSize: 100, precision: .float64).evaluate(a)
        #expect(abs(r[MetricKey.kidMean]! - (try MetricsFixtures.double("fid_small", "kid", "features_float64", "mean"))) <= 1e-10)
    }

    // Big: the first subsets only (each is 3 gemms of 1000 × 1000 × 2048), same tolerances.
    @Test("KID big A/B and A/C: first subsets match torch-fidelity per subset")
    func kidBig() throws {
        let a = MetricsFixtures.cache.features("big", "A")
        let subsets = Array(try MetricsFixtures.kidSubsets("big_kid_tfid_subset_indices.npy").prefix(2))
        for (other, key) in [("B", "kid_AB"), ("C", "kid_AC")] {
            let b = MetricsFixtures.cache.features("big", other)
            for (precision, fkey, tol) in [(KernelPrecision.float64, "features_float64", 1e-10), (.float32, "features_float32", 1e-8)] {
                let kid = try KernelInceptionDistance.compute(a, b, subsets: subsets, precision: precision)
                let per = Array(try MetricsFixtures.doubles("fid_big", key, fkey, "per_subset_mmd2").prefix(subsets.count))
                #expect(zip(kid.perSubset, per).allSatisfy { abs($0 - $1) <= tol }, "\(key) \(fkey): \(kid.perSubset) vs \(per)")
            }
        }
    }

    // Radii: float32 distances in another summation order than torch.cdist → rel 1e-5; counts
    // exact (README: ±1 sample allowed for a float32 tie; none here).
    @Test("precision/recall small A/B: radii and counts match torch-fidelity")
    func prSmall() throws {
        let a = MetricsFixtures.features("small", "A"), b = MetricsFixtures.features("small", "B")
        let pr = try PrecisionRecall.compute(generated: a, real: b, k: 3, rowBlock: 64, columnChunk: 100)
        let radii = try Fixtures.npy("metrics", "small_prc_radii_k3_float32.npy").floats()
        let ra = compare(pr.radiiGenerated, radii[0..<300]), rb = compare(pr.radiiReal, radii[300..<600])
        #expect(ra.maxRelToScale <= 1e-5 && rb.maxRelToScale <= 1e-5, "\(ra) \(rb)")
        #expect(pr.precisionCount == 49 && pr.recallCount == 64)
        // Float32 fractions (49/300, 64/300) printed as doubles; JSON decoding may move the last digit.
        #expect(relErr(pr.precision, try MetricsFixtures.double("fid_small", "prc", "features_float32", "precision")) <= 1e-15)
        #expect(relErr(pr.recall, try MetricsFixtures.double("fid_small", "prc", "features_float32", "recall")) <= 1e-15)
        #expect(abs(pr.fScore - (try MetricsFixtures.double("fid_small", "prc", "features_float32", "f_score"))) <= 1e-12)
        // Blocking does not change anything.
        let other = try PrecisionRecall.compute(generated: a, real: b, k: 3, rowBlock: 1024, columnChunk: 4096)
        #expect(other == pr)
    }

    @Test("precision/recall big: A/B counts 0/0, A/C 2381/2436, radii match")
    func prBig() throws {
        let a = MetricsFixtures.cache.features("big", "A")
        let radii = try Fixtures.npy("metrics", "big_AB_prc_radii_k3_float32.npy").floats()
        let ab = try PrecisionRecall.compute(generated: a, real: MetricsFixtures.cache.features("big", "B"))
        #expect(compare(ab.radiiGenerated, radii[0..<5000]).maxRelToScale <= 1e-5)
        #expect(compare(ab.radiiReal, radii[5000..<10000]).maxRelToScale <= 1e-5)
        #expect(ab.precisionCount == 0 && ab.recallCount == 0)
        let ac = try PrecisionRecall.compute(generated: a, real: MetricsFixtures.cache.features("big", "C"))
        #expect(abs(ac.precisionCount - 2381) <= 1 && abs(ac.recallCount - 2436) <= 1, "\(ac.precisionCount) \(ac.recallCount)")
    }
}
