import DigitTensor
import Synchronization

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

/// How the trace term `tr(sqrt(Σ1 Σ2))` of a Fréchet distance was computed.
public enum FrechetMethod: Sendable, Equatable, CustomStringConvertible {
    /// Σ1 = L Lᵀ (`dpotrf`), eigenvalues of Lᵀ Σ2 L (`dsygst` + `dsyevd`, values only). Taken
    /// when Σ1 is numerically positive definite and d is below
    /// ``FrechetPath/twoStageMinimumDimension`` (or when asked for).
    case cholesky
    /// Σ1 = L Lᵀ (blocked `dpotrf`), Lᵀ Σ2 L by `dtrmm`s, then two-stage tridiagonalisation: a band
    /// of half-width `bandwidth` (``BandReduction``, `dsytrd_sy2sb`'s algorithm), bulge chasing
    /// (CKernels' task kernel); of the
    /// tridiagonal matrix, Σ sqrt(λ) by quadrature over shifted LDLᵀ traces when it is positive
    /// definite (``FrechetDistance/sqrtTraceQuadratureNodes``), else its eigenvalues by `dsterf`
    /// (``FrechetDistance/sqrtTraceByEigenvalues`` says why).
    /// The same similarity as ``cholesky`` with the work in level-3 BLAS; the default for positive
    /// definite Σ1 at d ≥ 256.
    case choleskyTwoStage(bandwidth: Int)
    /// Σ1 = V Λ Vᵀ (`dsyevd` with vectors), eigenvalues of Λ^½ Vᵀ Σ2 V Λ^½, with eigenvalues of Σ1
    /// below the rank tolerance set to 0. Taken when Σ1 is singular or not positive definite
    /// (`reason` says why), e.g. for fewer samples than dimensions.
    case eigen(reason: String)

    public var description: String {
        switch self {
        case .cholesky: return "cholesky (dpotrf + dsygst + dsyevd values only)"
        case .choleskyTwoStage(let kd):
            return "cholesky-2stage (blocked dpotrf + dtrmm congruence + band reduction kd=\(kd) + bulge chasing + Σ√λ by quadrature, or dsterf)"
        case .eigen(let reason): return "eigen (dsyevd with vectors; \(reason))"
        }
    }

    /// Short id for run records: `cholesky`, `cholesky-2stage` or `eigen`.
    public var id: String {
        switch self {
        case .cholesky: return "cholesky"
        case .choleskyTwoStage: return "cholesky-2stage"
        case .eigen: return "eigen"
        }
    }
}

/// Which path ``FrechetDistance/compute(_:_:protocol:offset:path:forceEigen:)`` should take for the
/// trace term. Whatever is asked, a Σ1 that is not numerically positive definite takes the eigen
/// form (and ``FrechetDistance/method`` says so).
public enum FrechetPath: Sendable, Equatable {
    /// ``FrechetMethod/choleskyTwoStage(bandwidth:)`` with ``defaultBandwidth`` for d ≥
    /// ``twoStageMinimumDimension``, ``FrechetMethod/cholesky`` below.
    case automatic
    /// The one-stage Cholesky path (`dsygst` + `dsyevd`).
    case cholesky
    /// The two-stage Cholesky path with this band half-width (clamped to d − 1).
    case choleskyTwoStage(bandwidth: Int)
    /// The eigen form even when Σ1 is positive definite (cross-checks).
    case eigen

    /// Band half-width of the two-stage path, measured at d = 2048 (docs/frechet-perf.md): with the
    /// fast bulge-chasing kernel, 48 beats 32 (a cheaper band reduction outweighs the longer chase).
    public static let defaultBandwidth = 48
    /// Below this dimension the one-stage path is used (both take milliseconds there).
    public static let twoStageMinimumDimension = 256
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
    /// Which path computed ``traceSqrtProduct``.
    public var method: FrechetMethod
    /// Eigenvalues of Σ1 at or below the rank tolerance (`d · ε · λmax`), set to 0 (eigen path
    /// only). Nonzero for rank-deficient covariances (fewer samples than dimensions).
    public var sigma1EigenvaluesZeroed: Int
    /// The smallest eigenvalue of Σ1 before clamping (eigen path); on the Cholesky path the
    /// smallest squared pivot of its factor, an upper bound on it.
    public var sigma1MinEigenvalue: Double
    /// Negative eigenvalues of Σ1^½ Σ2 Σ1^½ (rounding noise of a PSD matrix) set to 0.
    public var productEigenvaluesClamped: Int
    /// The most negative eigenvalue of the product before clamping (0 if none).
    public var productMinEigenvalue: Double
    /// On the two-stage path: the quadrature nodes that gave Σ sqrt(λ) of the (positive definite)
    /// tridiagonal matrix; 0 when its eigenvalues came from `dsterf` (or another path ran).
    public var sqrtTraceQuadratureNodes: Int
    /// On the two-stage path, why Σ sqrt(λ) came from `dsterf` eigenvalues instead ("the tridiagonal
    /// matrix is not positive definite", or the A/B switch); empty otherwise.
    public var sqrtTraceByEigenvalues: String
    /// The diagonal offset added to both covariances (pytorch-fid's `eps` fallback), if any.
    public var offset: Double

    /// Human-readable notes for run records ("3 eigenvalues of sigma1 ≤ 1e-13 set to 0"). Empty on
    /// the Cholesky path with no clamping; a fallback to the eigen path, or from the quadrature to
    /// `dsterf`, is always noted.
    public var notes: [String] {
        var n: [String] = []
        if case .eigen(let reason) = method { n.append("trace term by the eigen form: \(reason)") }
        if !sqrtTraceByEigenvalues.isEmpty {
            n.append("Σ sqrt(λ) from dsterf eigenvalues instead of the quadrature: \(sqrtTraceByEigenvalues)")
        }
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
    /// `tr(sqrt(Σ1 Σ2))` is the sum of the square roots of the eigenvalues of Σ1 Σ2, which are real
    /// and non-negative for PSD covariances. Float64 paths (``FrechetMethod``):
    /// - **Cholesky** (Σ1 positive definite): Σ1 = L Lᵀ, `Σ sqrt(eig(Lᵀ Σ2 L))` — at d ≥ 256
    ///   blocked `dpotrf`, Lᵀ Σ2 L by `dtrmm`s, two-stage tridiagonalisation (``BandReduction``,
    ///   bulge chasing), then Σ sqrt(λ) of the tridiagonal matrix by quadrature when it is positive
    ///   definite, else its eigenvalues by `dsterf` (``FrechetMethod/choleskyTwoStage(bandwidth:)``);
    ///   below, `dpotrf`, `dsygst`, `dsyevd` without vectors (~2.7 d³ flops).
    /// - **eigen** (fallback when `dpotrf` fails or a squared pivot is ≤ `√ε · max diag(Σ1)`):
    ///   Σ1 = V Λ Vᵀ, `Σ sqrt(eig(Λ^½ Vᵀ Σ2 V Λ^½))` — two `dsyevd` calls and two `dgemm`s;
    ///   eigenvalues of Σ1 below `d·ε·λmax` are set to 0 and counted.
    /// Both are similarity transforms of Σ1 Σ2 (Σ1^½ Σ2 Σ1^½). Unlike scipy's `sqrtm(Σ1·Σ2)` (Schur
    /// form of a non-symmetric product) neither can produce complex or non-finite values;
    /// negative product eigenvalues (rounding noise) are set to 0 and counted.
    ///
    /// - Parameters:
    ///   - protocol: how the mean term is formed (see ``FrechetProtocol``).
    ///   - offset: added to both diagonals first (pytorch-fid adds `eps = 1e-6` only when scipy's
    ///     sqrtm is not finite; these forms never need it, so the default is 0).
    ///   - path: which form to use when Σ1 is positive definite (default: two-stage at d ≥ 256).
    ///   - forceEigen: use the eigen path even when Σ1 is positive definite (same as `path: .eigen`).
    public static func compute(
        _ a: GaussianStatistics, _ b: GaussianStatistics, protocol proto: FrechetProtocol = .pytorchFID, offset: Double = 0,
        path: FrechetPath = .automatic, forceEigen: Bool = false
    ) throws -> FrechetDistance {
        let d = a.dimension
        guard b.dimension == d else { throw MetricsError.shapeMismatch(what: "Fréchet distance: second mu", expected: [d], actual: [b.dimension]) }
        try FrechetStages.time("checks") {
            for (name, v) in [("mu1", a.mu), ("sigma1", a.sigma), ("mu2", b.mu), ("sigma2", b.sigma)] where !allFinite(v) {
                throw MetricsError.invalidArgument(name: name, value: "non-finite", reason: "statistics contain NaN or infinity")
            }
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
        var trace1 = 0.0, trace2 = 0.0, maxDiag1 = 0.0
        for i in 0..<d {
            trace1 += s1[i * d + i]
            trace2 += s2[i * d + i]
            maxDiag1 = max(maxDiag1, s1[i * d + i])
        }
        var trace = TraceSqrt(value: 0, method: .cholesky, zeroed: 0, sigma1Min: 0, clamped: 0, productMin: 0)
        var reason = "forced"
        var quadratureNodes = 0
        var quadratureDeclined = ""
        let bandwidth: Int?
        switch path {
        case .automatic: bandwidth = d >= FrechetPath.twoStageMinimumDimension ? FrechetPath.defaultBandwidth : nil
        case .choleskyTwoStage(let kd): bandwidth = max(1, min(kd, d - 1))
        case .cholesky, .eigen: bandwidth = nil
        }
        if !forceEigen && path != .eigen {
            // √ε relative to the largest variance: far above rounding noise (d·ε), so a numerically
            // rank-deficient Σ1 never takes this path; well-conditioned ones always do.
            let tolerance = Double.ulpOfOne.squareRoot() * maxDiag1
            switch try SymmetricEigen.productEigenvalues(
                s1, s2, n: d, pivotTolerance: tolerance, twoStageBandwidth: d > 1 ? bandwidth : nil, sqrtTraceSuffices: true)
            {
            case .success(let r):
                switch r.outcome {
                case .sqrtTrace(let value, let nodes):
                    trace.value = value
                    quadratureNodes = nodes
                case .eigenvalues(let w, let declined):
                    trace = sumOfRoots(w)
                    quadratureDeclined = declined ?? ""
                }
                trace.sigma1Min = r.minPivotSquared
                if let kd = bandwidth, d > 1 { trace.method = .choleskyTwoStage(bandwidth: kd) }
            case .failure(let refusal):
                switch refusal.reason {
                case .notPositiveDefinite(let k):
                    reason = "sigma1 is not positive definite (dpotrf: leading minor \(k) of \(d))"
                case .smallPivot(let p):
                    reason = "sigma1 is numerically singular (smallest Cholesky pivot² \(p) ≤ √ε · max variance)"
                }
                trace = try eigenTraceSqrt(s1, s2, d: d, reason: reason)
            }
        } else {
            trace = try eigenTraceSqrt(s1, s2, d: d, reason: reason)
        }
        let value = meanTerm + trace1 + trace2 - 2 * trace.value
        return FrechetDistance(
            value: value, meanTerm: meanTerm, trace1: trace1, trace2: trace2, traceSqrtProduct: trace.value,
            method: trace.method, sigma1EigenvaluesZeroed: trace.zeroed, sigma1MinEigenvalue: trace.sigma1Min,
            productEigenvaluesClamped: trace.clamped, productMinEigenvalue: trace.productMin,
            sqrtTraceQuadratureNodes: quadratureNodes, sqrtTraceByEigenvalues: quadratureDeclined, offset: offset)
    }

    /// Whether every value is finite, in one 8-lane pass (x · 0 is 0 for finite x and NaN for ±∞
    /// and NaN) per thread; the covariances are 4 M values each at d = 2048.
    static func allFinite(_ v: [Double]) -> Bool {
        v.withUnsafeBufferPointer { p in
            guard let base = p.baseAddress else { return true }
            let chunk = 1 << 18
            let parts = (p.count + chunk - 1) / chunk
            let bad = Atomic<Bool>(false)
            parallelFor(parts, grain: 4) { c in
                let lo = c * chunk, hi = min(p.count, lo + chunk)
                let raw = UnsafeRawPointer(base)
                var acc = SIMD8<Double>(repeating: 0)
                var i = lo
                while i + 8 <= hi {
                    acc += raw.loadUnaligned(fromByteOffset: i * 8, as: SIMD8<Double>.self) * 0
                    i += 8
                }
                var tail = 0.0
                while i < hi { tail += base[i] * 0; i += 1 }
                if (acc.sum() + tail) != 0 { bad.store(true, ordering: .relaxed) }
            }
            return !bad.load(ordering: .relaxed)
        }
    }

    private struct TraceSqrt {
        var value: Double
        var method: FrechetMethod
        var zeroed: Int
        var sigma1Min: Double
        var clamped: Int
        var productMin: Double
    }

    /// `Σ sqrt(max(0, μ))` over the product's eigenvalues, counting the negative ones.
    private static func sumOfRoots(_ mu: [Double]) -> TraceSqrt {
        var r = TraceSqrt(value: 0, method: .cholesky, zeroed: 0, sigma1Min: 0, clamped: 0, productMin: 0)
        for v in mu {
            if v < 0 {
                r.clamped += 1
                r.productMin = min(r.productMin, v)
            } else {
                r.value += v.squareRoot()
            }
        }
        return r
    }

    /// The eigen path: Σ1 = V Λ Vᵀ, M = Λ^½ (Vᵀ Σ2 V) Λ^½, `Σ sqrt(eig(M))`.
    private static func eigenTraceSqrt(_ s1: [Double], _ s2: [Double], d: Int, reason: String) throws -> TraceSqrt {
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
        t = []
        m.withUnsafeMutableBufferPointer { pm in
            let pm = pm.baseAddress!
            parallelFor(d, grain: 32) { i in
                let ri = rootLambda[i]
                for j in 0..<d { pm[i * d + j] *= ri * rootLambda[j] }
            }
        }
        let (mu, _) = try SymmetricEigen.decompose(m, n: d, vectors: false)
        var r = sumOfRoots(mu)
        r.method = .eigen(reason: reason)
        r.zeroed = zeroed
        r.sigma1Min = lambda.first ?? 0
        return r
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
