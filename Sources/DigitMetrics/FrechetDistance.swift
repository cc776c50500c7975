import DigitTensor

/// How the mean term of a Fréchet distance is formed, i.e. which reference the number reproduces.
///
/// All references compute the same trace term from float64 covariances; they differ in the
/// precision of the means:
/// - `pytorch-fid`, `clean-fid`: float64 mu, `diff.dot(diff)` in float64.
/// - `torch-fidelity`, `adm`: mu is `np.mean` of float32 features (float32), so `mu1 - mu2` and
///   `diff.dot(diff)` are float32 operations.
public enum FrechetProtocol: String, CaseIterable, Codable, Sendable {
    case pytorchFID = "pytorch-fid"
    case cleanFID = "clean-fid"
    case torchFidelity = "torch-fidelity"
    case adm

    /// Whether the mean term is computed in float32 from float32 means.
    public var float32Means: Bool { self == .torchFidelity || self == .adm }
}

/// A Fréchet distance with the diagnostics of how it was obtained.
public struct FrechetDistance: Sendable, Equatable {
    /// `|mu1 - mu2|² + tr(Σ1) + tr(Σ2) - 2 tr(sqrt(Σ1 Σ2))`.
    public var value: Double
    /// `|mu1 - mu2|²`.
    public var meanTerm: Double
    public var trace1: Double
    public var trace2: Double
    /// `tr(sqrt(Σ1^½ Σ2 Σ1^½))` = `tr(sqrt(Σ1 Σ2))`.
    public var traceSqrtProduct: Double
    /// Eigenvalues of Σ1 at or below the rank tolerance (`d · ε · λmax`), set to 0. Nonzero for
    /// rank-deficient covariances (fewer samples than dimensions).
    public var sigma1EigenvaluesZeroed: Int
    /// The smallest eigenvalue of Σ1 before clamping.
    public var sigma1MinEigenvalue: Double
    /// Negative eigenvalues of Σ1^½ Σ2 Σ1^½ (rounding noise of a PSD matrix) set to 0.
    public var productEigenvaluesClamped: Int
    /// The most negative eigenvalue of the product before clamping (0 if none).
    public var productMinEigenvalue: Double
    /// The diagonal offset added to both covariances (pytorch-fid's `eps` fallback), if any.
    public var offset: Double

    /// Human-readable notes for run records ("3 eigenvalues of sigma1 ≤ 1e-13 set to 0").
    public var notes: [String] {
        var n: [String] = []
        if sigma1EigenvaluesZeroed > 0 {
            n.append("sigma1 is rank-deficient: \(sigma1EigenvaluesZeroed) eigenvalues ≤ the rank tolerance set to 0 (min \(sigma1MinEigenvalue))")
        }
        if productEigenvaluesClamped > 0 {
            n.append("\(productEigenvaluesClamped) negative eigenvalues of sigma1^1/2 sigma2 sigma1^1/2 set to 0 (min \(productMinEigenvalue))")
        }
        if offset != 0 { n.append("added \(offset) to the diagonal of both covariances") }
        return n
    }

    /// The Fréchet distance between N(mu1, Σ1) and N(mu2, Σ2).
    ///
    /// The trace of the matrix square root uses the symmetric-eigen form: with Σ1 = V Λ Vᵀ,
    /// `tr(sqrt(Σ1 Σ2)) = Σ sqrt(eig(Λ^½ Vᵀ Σ2 V Λ^½))` (a matrix similar to Σ1^½ Σ2 Σ1^½), two
    /// `dsyevd` calls (vectors once, values once) and two `dgemm`s in float64. Unlike scipy's
    /// `sqrtm(Σ1·Σ2)` (Schur form of a non-symmetric product) it cannot produce complex or
    /// non-finite values: eigenvalues of Σ1 below `d·ε·λmax` and negative eigenvalues of the
    /// product are set to 0 and counted.
    ///
    /// - Parameters:
    ///   - protocol: how the mean term is formed (see ``FrechetProtocol``).
    ///   - offset: added to both diagonals first (pytorch-fid adds `eps = 1e-6` only when scipy's
    ///     sqrtm is not finite; the eigen form never needs it, so the default is 0).
    public static func compute(
        _ a: GaussianStatistics, _ b: GaussianStatistics, protocol proto: FrechetProtocol = .pytorchFID, offset: Double = 0
    ) throws -> FrechetDistance {
        let d = a.dimension
        guard b.dimension == d else { throw MetricsError.shapeMismatch(what: "Fréchet distance: second mu", expected: [d], actual: [b.dimension]) }
        for (name, v) in [("mu1", a.mu), ("sigma1", a.sigma), ("mu2", b.mu), ("sigma2", b.sigma)] where !v.allSatisfy(\.isFinite) {
            throw MetricsError.invalidArgument(name: name, value: "non-finite", reason: "statistics contain NaN or infinity")
        }
        // Mean term.
        var meanTerm = 0.0
        if proto.float32Means {
            var acc: Float = 0
            for i in 0..<d {
                let diff = Float(a.mu[i]) - Float(b.mu[i])
                acc += diff * diff
            }
            meanTerm = Double(acc)
        } else {
            for i in 0..<d {
                let diff = a.mu[i] - b.mu[i]
                meanTerm += diff * diff
            }
        }
        var s1 = a.sigma, s2 = b.sigma
        if offset != 0 {
            for i in 0..<d {
                s1[i * d + i] += offset
                s2[i * d + i] += offset
            }
        }
        var trace1 = 0.0, trace2 = 0.0
        for i in 0..<d {
            trace1 += s1[i * d + i]
            trace2 += s2[i * d + i]
        }
        // Σ1 = V Λ Vᵀ; `vt` holds Vᵀ row-major (row i = eigenvector i).
        let (lambda, vtOpt) = try SymmetricEigen.decompose(s1, n: d, vectors: true)
        let vt = vtOpt!
        let lmax = lambda.last ?? 0
        let tol = Double(d) * Double.ulpOfOne * max(lmax, 0)
        var zeroed = 0
        let rootLambda = lambda.map { l -> Double in
            if l <= tol { zeroed += 1; return 0 }
            return l.squareRoot()
        }
        // B = Vᵀ Σ2 V, then M = Λ^½ B Λ^½.
        var t = [Double](repeating: 0, count: d * d)
        var m = [Double](repeating: 0, count: d * d)
        vt.withUnsafeBufferPointer { pv in
            s2.withUnsafeBufferPointer { ps in
                t.withUnsafeMutableBufferPointer { pt in
                    Gemm.dgemm(m: d, n: d, k: d, a: pv.baseAddress!, lda: d, b: ps.baseAddress!, ldb: d, c: pt.baseAddress!, ldc: d)
                }
            }
            t.withUnsafeBufferPointer { pt in
                m.withUnsafeMutableBufferPointer { pm in
                    Gemm.dgemm(transB: true, m: d, n: d, k: d, a: pt.baseAddress!, lda: d, b: pv.baseAddress!, ldb: d, c: pm.baseAddress!, ldc: d)
                }
            }
        }
        m.withUnsafeMutableBufferPointer { pm in
            let pm = pm.baseAddress!
            parallelFor(d, grain: 32) { i in
                let ri = rootLambda[i]
                for j in 0..<d { pm[i * d + j] *= ri * rootLambda[j] }
            }
        }
        let (mu, _) = try SymmetricEigen.decompose(m, n: d, vectors: false)
        var clamped = 0
        var minProduct = 0.0
        var traceSqrt = 0.0
        for v in mu {
            if v < 0 {
                clamped += 1
                minProduct = min(minProduct, v)
            } else {
                traceSqrt += v.squareRoot()
            }
        }
        let value = meanTerm + trace1 + trace2 - 2 * traceSqrt
        return FrechetDistance(
            value: value, meanTerm: meanTerm, trace1: trace1, trace2: trace2, traceSqrtProduct: traceSqrt,
            sigma1EigenvaluesZeroed: zeroed, sigma1MinEigenvalue: lambda.first ?? 0,
            productEigenvaluesClamped: clamped, productMinEigenvalue: minProduct, offset: offset)
    }
}

/// FID as a ``Metric``: features → ``GaussianStatistics`` → Fréchet distance against reference
/// statistics.
public struct FIDMetric: Metric {
    public static let id = MetricID.fid
    public var reference: GaussianStatistics
    public var frechetProtocol: FrechetProtocol

    public init(reference: GaussianStatistics, protocol proto: FrechetProtocol = .pytorchFID) {
        self.reference = reference
        self.frechetProtocol = proto
    }

    public func statistics(_ input: Tensor) throws -> GaussianStatistics {
        try Self.statistics(input, protocol: frechetProtocol)
    }

    /// The statistics `proto` computes from (n, d) features: float64 mean and covariance, the mean
    /// replaced by numpy's float32 `np.mean` for torch-fidelity and ADM.
    public static func statistics(_ features: Tensor, protocol proto: FrechetProtocol) throws -> GaussianStatistics {
        var acc = GaussianAccumulator(dimension: features.dim(1))
        acc.add(features)
        var stats = try acc.statistics()
        if proto.float32Means { stats.mu = acc.float32Mean.map(Double.init) }
        return stats
    }

    public func value(_ statistics: GaussianStatistics) throws -> MetricResult {
        let fd = try FrechetDistance.compute(statistics, reference, protocol: frechetProtocol)
        return MetricResult(id: .fid, protocolName: frechetProtocol.rawValue, values: [MetricKey.fid: fd.value], notes: fd.notes)
    }
}
