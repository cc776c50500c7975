import DigitCheckpoint
import DigitMetrics
import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

/// `DIGIT_BENCH_TRIDIAGONAL=dsterf` (an A/B switch) turns the two-stage path's quadrature off.
private let dsterfForced = ProcessInfo.processInfo.environment["DIGIT_BENCH_TRIDIAGONAL"] == "dsterf"

@Suite("Gaussian statistics and Fréchet distance (shared/fixtures/metrics)")
struct FrechetDistanceTests {
    // Regenerated features vs the stored float32 features: README says a float64 matmul in
    // another order can flip a last bit, so 1e-6 absolute (features are ≤ 9).
    @Test("regenerated features match the stored ones", arguments: ["small", "rankdef"])
    func features(c: String) throws {
        for set in ["A", "B"] {
            let ours = MetricsFixtures.features(c, set)
            let stored = try Fixtures.npy("metrics", "fid_\(c)_\(set)_features.npy")
            let cmp = compare(ours.scalars, stored.floats())
            #expect(cmp.maxAbsDiff <= 1e-6, "\(c)/\(set): \(cmp)")
        }
    }

    // Our float64 statistics vs pytorch-fid's (np.mean, np.cov on the same float32 features).
    // Uncentred float64 sums vs numpy's centred cov differ at ~1e-16 · (|mean|/std)² · scale:
    // 1e-12 absolute on values ≤ ~1.
    @Test("mean and covariance match pytorch-fid's np.mean / np.cov", arguments: ["small", "rankdef"])
    func statistics(c: String) throws {
        for set in ["A", "B"] {
            let ours = try GaussianStatistics(features: MetricsFixtures.features(c, set))
            let ref = try MetricsFixtures.storedStatistics(c, set)
            let muCmp = compare(ours.mu, ref.mu), sigmaCmp = compare(ours.sigma, ref.sigma)
            #expect(muCmp.maxAbsDiff <= 1e-12, "\(c)/\(set) mu: \(muCmp)")
            #expect(sigmaCmp.maxAbsDiff <= 1e-12, "\(c)/\(set) sigma: \(sigmaCmp)")
        }
    }

    // Fréchet distance from the stored float64 (mu, sigma): README suggests rel 1e-8 on full-rank
    // cases and rel 1e-6 on rankdef (upstreams agree to 1.3e-15 / 2.4e-9 among themselves).
    @Test("Fréchet distance from stored statistics matches pytorch-fid, clean-fid, torch-fidelity",
          arguments: [("small", "fid_small", 1e-8), ("rankdef", "fid_rankdef", 1e-6)])
    func frechetFromStoredStatistics(c: String, key: String, tol: Double) throws {
        let a = try MetricsFixtures.storedStatistics(c, "A"), b = try MetricsFixtures.storedStatistics(c, "B")
        let fd = try FrechetDistance.compute(a, b)
        for ref in ["pytorch_fid.calculate_frechet_distance", "cleanfid.frechet_distance", "torch_fidelity.fid_statistics_to_metric"] {
            let expected = try MetricsFixtures.double(key, "frechet_distance_on_pfid_stats", ref, "fid")
            #expect(relErr(fd.value, expected) <= tol, "\(c) vs \(ref): ours \(fd.value), expected \(expected)")
        }
        #expect(fd.value.isFinite)
        if c == "rankdef" {
            // sigma has rank 39 < d = 128: Cholesky refuses, the eigen form zeroes the null space
            // and says so.
            #expect(fd.method.id == "eigen", "\(fd.method)")
            #expect(fd.sigma1EigenvaluesZeroed >= 128 - 39 - 1, "\(fd.notes)")
            #expect(!fd.notes.isEmpty)
        } else {
            #expect(fd.method == .cholesky, "\(fd.method)")
            #expect(fd.notes.isEmpty, "\(fd.notes)")
            // The eigen path on the same (full-rank) input: the two forms agree to rounding.
            let eigen = try FrechetDistance.compute(a, b, forceEigen: true)
            #expect(eigen.method.id == "eigen")
            #expect(relErr(fd.value, eigen.value) <= 1e-10, "cholesky \(fd.value), eigen \(eigen.value)")
        }
    }

    // End to end from regenerated features with float64 accumulation: README suggests rel 1e-8.
    // torch-fidelity end to end uses float32 means (np.mean of float32) and a float32 mean term:
    // our float32 emulation sums in another order, measured within 1e-8 relative; bound 1e-7.
    @Test("FID end to end from regenerated features (pytorch-fid and torch-fidelity protocols)",
          arguments: [("small", "fid_small", 1e-8), ("rankdef", "fid_rankdef", 1e-6)])
    func endToEnd(c: String, key: String, tol: Double) throws {
        let fa = MetricsFixtures.features(c, "A"), fb = MetricsFixtures.features(c, "B")
        let pfid = FIDMetric(reference: try FIDMetric.statistics(fb, protocol: .pytorchFID))
        let v = try pfid.evaluate(fa)[MetricKey.fid]!
        let expected = try MetricsFixtures.double(key, "frechet_distance_on_pfid_stats", "pytorch_fid.calculate_frechet_distance", "fid")
        #expect(relErr(v, expected) <= tol, "pytorch-fid: ours \(v), expected \(expected)")

        let tfid = FIDMetric(reference: try FIDMetric.statistics(fb, protocol: .torchFidelity), protocol: .torchFidelity)
        let vt = try tfid.evaluate(fa)[MetricKey.fid]!
        let expectedT = try MetricsFixtures.double(key, "torch_fidelity_end_to_end", "fid")
        #expect(relErr(vt, expectedT) <= max(tol, 1e-7), "torch-fidelity end to end: ours \(vt), expected \(expectedT)")
    }

    // 5000 × 2048: mu and diag(sigma) against the stored float64 arrays (1e-12 absolute on values
    // ≤ 0.4) and sigma's trace/sum/Frobenius (rel 1e-10), then FID A/B and A/C at rel 1e-8.
    @Test("big (5000 × 2048): statistics and FID A/B, A/C match pytorch-fid")
    func big() throws {
        var stats: [String: GaussianStatistics] = [:]
        for set in ["A", "B", "C"] {
            let s = try GaussianStatistics(features: MetricsFixtures.cache.features("big", set))
            let mu = try Fixtures.npy("metrics", "fid_big_\(set)_mu.npy").doubles()
            let diag = try Fixtures.npy("metrics", "fid_big_\(set)_sigma_diag.npy").doubles()
            #expect(compare(s.mu, mu).maxAbsDiff <= 1e-12, "\(set) mu: \(compare(s.mu, mu))")
            let ourDiag = (0..<2048).map { s.sigma[$0 * 2048 + $0] }
            #expect(compare(ourDiag, diag).maxAbsDiff <= 1e-12, "\(set) diag: \(compare(ourDiag, diag))")
            let trace = ourDiag.reduce(0, +), sum = s.sigma.reduce(0, +), fro = s.sigma.map { $0 * $0 }.reduce(0, +).squareRoot()
            #expect(relErr(trace, try MetricsFixtures.double("fid_big", "sigma", set, "trace")) <= 1e-10)
            #expect(relErr(sum, try MetricsFixtures.double("fid_big", "sigma", set, "sum")) <= 1e-10)
            #expect(relErr(fro, try MetricsFixtures.double("fid_big", "sigma", set, "frobenius")) <= 1e-10)
            stats[set] = s
        }
        // Both paths: the Cholesky one (taken: 5000 samples, full rank) and the eigen one forced.
        for (other, key) in [("B", "fid_AB"), ("C", "fid_AC")] {
            let fd = try FrechetDistance.compute(stats["A"]!, stats[other]!)
            let expected = try MetricsFixtures.double("fid_big", key, "pytorch_fid.calculate_frechet_distance", "fid")
            #expect(fd.method == .choleskyTwoStage(bandwidth: FrechetPath.defaultBandwidth), "\(fd.method)")
            if !dsterfForced {
                #expect(fd.sqrtTraceQuadratureNodes == 488, "Σ√λ by quadrature (the tridiagonal matrix is positive definite)")
            }
            #expect(relErr(fd.value, expected) <= 1e-8, "A/\(other): ours \(fd.value), expected \(expected), \(fd.notes)")
            if other == "C" {
                let eigen = try FrechetDistance.compute(stats["A"]!, stats[other]!, forceEigen: true)
                #expect(relErr(eigen.value, expected) <= 1e-8, "A/C eigen: \(eigen.value), expected \(expected)")
            } else {
                // The one-stage path (dsygst + dsyevd) on the same input: the same similarity
                // transform, so agreement to rounding (measured ~1e-15 relative on the trace term).
                let one = try FrechetDistance.compute(stats["A"]!, stats[other]!, path: .cholesky)
                #expect(one.method == .cholesky)
                #expect(relErr(one.value, expected) <= 1e-8, "A/B one-stage: \(one.value), expected \(expected)")
                #expect(relErr(one.traceSqrtProduct, fd.traceSqrtProduct) <= 1e-12, "trace terms: one-stage \(one.traceSqrtProduct), two-stage \(fd.traceSqrtProduct)")
            }
        }
    }

    // The two-stage path at every band width a small case allows (kd = 1 is already tridiagonal;
    // kd = d − 1 is one bulge-chasing sweep per column), forced at d = 64: the same similarity as
    // the one-stage path, so the trace terms agree to rounding (bound 1e-12 relative; measured
    // ≤ 1e-15), and the FID matches the three upstreams at the fixture tolerance (1e-8).
    @Test("two-stage tridiagonalisation matches the one-stage path and the fixture at every band width")
    func twoStageBandwidths() throws {
        let a = try MetricsFixtures.storedStatistics("small", "A"), b = try MetricsFixtures.storedStatistics("small", "B")
        let one = try FrechetDistance.compute(a, b, path: .cholesky)
        #expect(one.method == .cholesky)
        let expected = try MetricsFixtures.double("fid_small", "frechet_distance_on_pfid_stats", "pytorch_fid.calculate_frechet_distance", "fid")
        for kd in [1, 2, 3, 8, 16, 31, 32, 63, 100] {
            let two = try FrechetDistance.compute(a, b, path: .choleskyTwoStage(bandwidth: kd))
            #expect(two.method == .choleskyTwoStage(bandwidth: min(kd, 63)), "\(two.method)")
            #expect(relErr(two.traceSqrtProduct, one.traceSqrtProduct) <= 1e-12, "kd \(kd): \(two.traceSqrtProduct) vs \(one.traceSqrtProduct)")
            #expect(relErr(two.value, expected) <= 1e-8, "kd \(kd): \(two.value) vs \(expected)")
            #expect(two.productEigenvaluesClamped == one.productEigenvaluesClamped)
        }
    }

    // Invariance: splitting the rows into shards at block boundaries and merging gives the same
    // bits as one pass; any batch sizes fed to one accumulator give the same bits.
    @Test("shard merging and batch size give bit-identical statistics")
    func shardInvariance() throws {
        let f = MetricsFixtures.features("small", "A")  // 300 × 64
        let d = 64
        func acc(_ rows: Range<Int>, batch: Int) -> GaussianAccumulator {
            var a = GaussianAccumulator(dimension: d, blockRows: 50)
            var r = rows.lowerBound
            while r < rows.upperBound {
                let e = min(rows.upperBound, r + batch)
                a.add(Tensor(shape: [e - r, d], scalars: Array(f.scalars[(r * d)..<(e * d)])))
                r = e
            }
            return a
        }
        let whole = try acc(0..<300, batch: 300).statistics()
        let batched = try acc(0..<300, batch: 7).statistics()
        #expect(whole == batched)
        for cuts in [[100], [50, 150, 250], [150, 200]] {
            let bounds = [0] + cuts + [300]
            var merged = acc(bounds[0]..<bounds[1], batch: 13)
            for i in 1..<(bounds.count - 1) { try merged.merge(acc(bounds[i]..<bounds[i + 1], batch: 13)) }
            let s = try merged.statistics()
            #expect(s.mu == whole.mu && s.sigma == whole.sigma, "shards at \(cuts): \(compare(s.sigma, whole.sigma))")
            #expect(s.count == 300)
        }
        // A split inside a block is still correct to rounding.
        var odd = acc(0..<123, batch: 300)
        try odd.merge(acc(123..<300, batch: 300))
        #expect(compare(try odd.statistics().sigma, whole.sigma).maxAbsDiff <= 1e-14)
    }

    @Test("identical inputs give FID ≈ 0; bad inputs are errors")
    func identicalAndBad() throws {
        for c in ["small", "rankdef"] {
            let a = try MetricsFixtures.storedStatistics(c, "A")
            let fd = try FrechetDistance.compute(a, a)
            // tr Σ ≈ 20–40 here; both forms cancel to ~1e-13 · tr (rankdef: the ~1e-16
            // null-space eigenvalues contribute ~1e-7 in sqrt), far below any FID digit.
            #expect(abs(fd.value) <= 1e-6 * fd.trace1, "\(c): FID(A, A) = \(fd.value) (\(fd.method))")
            #expect(fd.value.isFinite)
        }
        let a = try GaussianStatistics(mu: [0, 0], sigma: [1, 0, 0, 1])
        let b = try GaussianStatistics(mu: [0, 0, 0], sigma: [Double](repeating: 0, count: 9))
        #expect(throws: MetricsError.self) { try FrechetDistance.compute(a, b) }
        let nan = try GaussianStatistics(mu: [.nan, 0], sigma: [1, 0, 0, 1])
        #expect(throws: MetricsError.self) { try FrechetDistance.compute(a, nan) }
        #expect(throws: MetricsError.self) { try GaussianStatistics(mu: [0, 0], sigma: [1]) }
        // The finiteness check runs in chunks of 2^18 values on several threads: a single bad value
        // at either end of a chunk, or at the very end, is still found (d² = 1 060 900, 4+ chunks).
        let d = 1030
        var eye = [Double](repeating: 0, count: d * d)
        for i in 0..<d { eye[i * d + i] = 1 }
        let good = try GaussianStatistics(mu: [Double](repeating: 0, count: d), sigma: eye)
        #expect(try abs(FrechetDistance.compute(good, good).value) < 1e-9)
        for (index, bad) in [(0, Double.nan), ((1 << 18) - 1, .infinity), (1 << 18, -.infinity), (3 << 18, .nan), (d * d - 1, .nan)] {
            var sigma = eye
            sigma[index] = bad
            let s = try GaussianStatistics(mu: [Double](repeating: 0, count: d), sigma: sigma)
            #expect(throws: MetricsError.self, "\(bad) at \(index)") { try FrechetDistance.compute(good, s) }
        }
        var one = GaussianAccumulator(dimension: 2)
        one.add(Tensor(shape: [1, 2], scalars: [1, 2]))
        #expect(throws: MetricsError.notEnoughSamples(what: "covariance", needed: 2, actual: 1)) { try one.statistics() }
    }

    // Closed form: N(0, diag(s)) vs N(m, diag(t)) has FID = |m|² + Σ (√s − √t)².
    @Test("diagonal Gaussians match the closed form")
    func closedForm() throws {
        let s: [Double] = [1, 4, 0.25, 0], t: [Double] = [9, 1, 0.25, 2]
        func diag(_ v: [Double]) -> [Double] { (0..<16).map { $0 % 5 == 0 ? v[$0 / 5] : 0 } }
        let gs = try GaussianStatistics(mu: [0, 0, 0, 0], sigma: diag(s)), gt = try GaussianStatistics(mu: [1, 2, 0, 0], sigma: diag(t))
        let expected = 5 + zip(s, t).map { ($0.squareRoot() - $1.squareRoot()) * ($0.squareRoot() - $1.squareRoot()) }.reduce(0, +)
        // Σ1 = diag(s) is singular (dpotrf fails: eigen path); Σ1 = diag(t) is positive definite
        // and Σ2 = diag(s) singular (Cholesky path, a zero product eigenvalue).
        let fd = try FrechetDistance.compute(gs, gt)
        #expect(abs(fd.value - expected) <= 1e-12, "\(fd.value) vs \(expected)")
        #expect(fd.method == .eigen(reason: "sigma1 is not positive definite (dpotrf: leading minor 4 of 4)"), "\(fd.method)")
        let swapped = try FrechetDistance.compute(gt, gs)
        #expect(abs(swapped.value - expected) <= 1e-12, "\(swapped.value) vs \(expected)")
        #expect(swapped.method == .cholesky, "\(swapped.method)")

        // The two-stage path (d = 300): Σ√λ by quadrature while Lᵀ Σ2 L is positive definite; with
        // zero variances in Σ2 its tridiagonal matrix has zero eigenvalues (exactly: a diagonal
        // matrix stays diagonal), so the eigenvalues come from dsterf instead. Closed form both times.
        let d = 300
        let v1 = (0..<d).map { 0.5 + Double($0 % 7) }, v2 = (0..<d).map { Double($0 % 5) * 0.75 + 0.1 }
        var v2z = v2
        for i in stride(from: 0, to: d, by: 11) { v2z[i] = 0 }
        for (second, nodes) in [(v2, dsterfForced ? 0 : 488), (v2z, 0)] {
            func big(_ v: [Double]) throws -> GaussianStatistics {
                var sigma = [Double](repeating: 0, count: d * d)
                for i in 0..<d { sigma[i * d + i] = v[i] }
                return try GaussianStatistics(mu: [Double](repeating: 0, count: d), sigma: sigma)
            }
            let fd = try FrechetDistance.compute(big(v1), big(second))
            let want = zip(v1, second).map { ($0.squareRoot() - $1.squareRoot()) * ($0.squareRoot() - $1.squareRoot()) }.reduce(0, +)
            #expect(fd.method == .choleskyTwoStage(bandwidth: FrechetPath.defaultBandwidth), "\(fd.method)")
            #expect(fd.sqrtTraceQuadratureNodes == nodes, "\(fd.sqrtTraceQuadratureNodes) nodes")
            #expect(fd.notes.contains { $0.contains("dsterf") } == (nodes == 0), "\(fd.notes)")
            if second == v2z, !dsterfForced {
                #expect(fd.sqrtTraceByEigenvalues == "the tridiagonal matrix is not positive definite")
            }
            #expect(abs(fd.value - want) <= 1e-10 * fd.trace1, "\(fd.value) vs \(want)")
        }
        // A zero variance at index 200 of Σ1: the blocked Cholesky (128-column blocks) reports the
        // leading minor counted from the whole matrix, as dpotrf does, and the eigen path runs.
        var v1z = v1
        v1z[200] = 0
        var sigma = [Double](repeating: 0, count: d * d)
        for i in 0..<d { sigma[i * d + i] = v1z[i] }
        let z = try GaussianStatistics(mu: [Double](repeating: 0, count: d), sigma: sigma)
        var sigma2 = [Double](repeating: 0, count: d * d)
        for i in 0..<d { sigma2[i * d + i] = v2[i] }
        let fz = try FrechetDistance.compute(z, GaussianStatistics(mu: [Double](repeating: 0, count: d), sigma: sigma2))
        #expect(fz.method == .eigen(reason: "sigma1 is not positive definite (dpotrf: leading minor 201 of 300)"), "\(fz.method)")
        let wantZ = zip(v1z, v2).map { ($0.squareRoot() - $1.squareRoot()) * ($0.squareRoot() - $1.squareRoot()) }.reduce(0, +)
        #expect(abs(fz.value - wantZ) <= 1e-10 * fz.trace1, "\(fz.value) vs \(wantZ)")
    }
}
