import DigitTensor
import Foundation

/// Which reference a KID reproduces (they differ in how subsets are drawn and what is returned).
public enum KIDProtocol: String, CaseIterable, Codable, Sendable {
    /// torch-fidelity 0.4.0 `kid_features_to_metric`: `rng = np.random.RandomState(seed)`; per
    /// subset A's `rng.choice(nA, size, replace=False)` then B's; mean and population std of the
    /// per-subset unbiased MMD².
    case torchFidelity = "torch-fidelity"
    /// clean-fid 0.1.35 `kernel_distance` after `np.random.seed(seed)`: subset size
    /// `min(nA, nB, max_subset_size)`, B's draw first, then A's; mean only (std reported as 0).
    case cleanFID = "clean-fid"
}

/// The precision the kernel matrices are computed in.
public enum KernelPrecision: String, CaseIterable, Codable, Sendable {
    /// The references' float32 arithmetic, as they run on float32 features: Gram matrices
    /// rounded to float32 (computed by dgemm and rounded once), kernel `powf(γ·g + coef0, degree)` in float32, and the float32 sums in numpy's
    /// order for the protocol (row sums pairwise, column sums row by row, totals pairwise), the
    /// final divisions in float64 (numpy 1.x promotes `float32 scalar / int` to float64).
    /// Remaining difference: numpy's sgemm rounding of some Gram entries (none on the fixtures).
    case float32
    /// Gram matrices by dgemm from float64 copies of the features; agrees with the reference
    /// run on float64 features to ~1e-15.
    case float64
}

/// The rows of A and of B that one KID subset uses.
public struct KIDSubset: Sendable, Equatable {
    public var a: [Int]
    public var b: [Int]
    public init(a: [Int], b: [Int]) {
        self.a = a
        self.b = b
    }
}

/// Kernel Inception Distance with the polynomial kernel `k(x, y) = (γ x·y + coef0)^degree`.
public struct KernelInceptionDistance: Sendable, Equatable {
    public var mean: Double
    public var std: Double
    /// Unbiased MMD² of each subset, in order.
    public var perSubset: [Double]

    /// The subsets the reference draws (bit-exact numpy `RandomState`).
    public static func subsets(
        protocol proto: KIDProtocol, countA: Int, countB: Int, subsets: Int = 100, subsetSize: Int = 1000, seed: UInt32 = 2020
    ) throws -> [KIDSubset] {
        var rng = NumpyRandomState(seed: seed)
        switch proto {
        case .torchFidelity:
            guard countA >= subsetSize, countB >= subsetSize else {
                throw MetricsError.notEnoughSamples(what: "KID subsets of \(subsetSize)", needed: subsetSize, actual: min(countA, countB))
            }
            return (0..<subsets).map { _ in
                let a = rng.choiceWithoutReplacement(countA, size: subsetSize)
                let b = rng.choiceWithoutReplacement(countB, size: subsetSize)
                return KIDSubset(a: a, b: b)
            }
        case .cleanFID:
            let m = min(countA, countB, subsetSize)
            return (0..<subsets).map { _ in
                let b = rng.choiceWithoutReplacement(countB, size: m)
                let a = rng.choiceWithoutReplacement(countA, size: m)
                return KIDSubset(a: a, b: b)
            }
        }
    }

    /// KID of (nA, d) features `a` against (nB, d) features `b` over explicit subsets.
    ///
    /// Per subset: Gram matrices X Xᵀ, Y Yᵀ, X Yᵀ by one gemm each (m·m·d multiply-adds; memory
    /// 3m² + 2md values, independent of nA and nB), kernel values and sums in float64, unbiased
    /// MMD² = (Σ_{i≠j} k(xi,xj) + Σ_{i≠j} k(yi,yj)) / (m(m-1)) − 2 Σ k(xi,yj) / m².
    ///
    /// - Parameter gamma: nil means 1/d (torch-fidelity's default; clean-fid divides by d).
    /// - Parameter reduction: whose float32 summation order `.float32` reproduces (the float64
    ///   path is the same for both up to ~1e-16).
    public static func compute(
        _ a: Tensor, _ b: Tensor, subsets: [KIDSubset], degree: Int = 3, gamma: Double? = nil, coef0: Double = 1,
        precision: KernelPrecision = .float64, reduction: KIDProtocol = .torchFidelity
    ) throws -> KernelInceptionDistance {
        guard a.rank == 2, b.rank == 2, a.dim(1) == b.dim(1) else {
            throw MetricsError.shapeMismatch(what: "KID features B", expected: [b.rank == 2 ? b.dim(0) : -1, a.dim(-1)], actual: b.shape)
        }
        let d = a.dim(1)
        let g = gamma ?? 1 / Double(d)
        var values: [Double] = []
        for s in subsets {
            let m = s.a.count
            guard m >= 2, s.b.count == m else {
                throw MetricsError.invalidArgument(name: "KID subset", value: "\(s.a.count)/\(s.b.count) rows", reason: "A and B subsets need the same size ≥ 2")
            }
            guard s.a.allSatisfy({ $0 >= 0 && $0 < a.dim(0) }), s.b.allSatisfy({ $0 >= 0 && $0 < b.dim(0) }) else {
                throw MetricsError.invalidArgument(name: "KID subset", value: "indices", reason: "out of range for \(a.dim(0)) / \(b.dim(0)) rows")
            }
            let x = gather(a, s.a), y = gather(b, s.b)
            if precision == .float32 {
                values.append(float32MMD2(x, y, m: m, d: d, gamma: Float(g), coef0: Float(coef0), degree: Float(degree), reduction: reduction))
                continue
            }
            let kxx = kernelSum(gram(x, x, m: m, d: d, precision), m: m, gamma: g, coef0: coef0, degree: degree, offDiagonal: true)
            let kyy = kernelSum(gram(y, y, m: m, d: d, precision), m: m, gamma: g, coef0: coef0, degree: degree, offDiagonal: true)
            let kxy = kernelSum(gram(x, y, m: m, d: d, precision), m: m, gamma: g, coef0: coef0, degree: degree, offDiagonal: false)
            let mm = Double(m)
            values.append((kxx + kyy) / (mm * (mm - 1)) - 2 * kxy / (mm * mm))
        }
        let mean = values.reduce(0, +) / Double(max(1, values.count))
        let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(1, values.count))
        return KernelInceptionDistance(mean: mean, std: variance.squareRoot(), perSubset: values)
    }

    private static func gather(_ t: Tensor, _ rows: [Int]) -> [Float] {
        let d = t.dim(1)
        var out = [Float](repeating: 0, count: rows.count * d)
        t.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (i, r) in rows.enumerated() {
                    (dst.baseAddress! + i * d).update(from: src.baseAddress! + r * d, count: d)
                }
            }
        }
        return out
    }

    /// Unbiased MMD² with the references' float32 kernel and numpy float32 sums.
    private static func float32MMD2(
        _ x: [Float], _ y: [Float], m: Int, d: Int, gamma: Float, coef0: Float, degree: Float, reduction: KIDProtocol
    ) -> Double {
        func kernel(_ p: [Float], _ q: [Float]) -> [Float] {
            // The Gram matrix correctly rounded to float32 (dgemm, then one rounding): numpy's
            // sgemm result for these inputs up to its own accumulation order, and independent of
            // ours. A one-ulp change of a kernel entry moves a float32 total of ~1e4 by ~1e-3,
            // i.e. MMD² by ~1e-7 at m = 100, so the exact rounding matters here.
            let g = gram(p, q, m: m, d: d, .float64)
            return g.map { Foundation.pow(Float($0) * gamma + coef0, degree) }
        }
        let kxx = kernel(x, x), kyy = kernel(y, y), kxy = kernel(x, y)
        let mm = Double(m)
        switch reduction {
        case .torchFidelity:
            // Kt_XX_sums = K_XX.sum(axis=1) - diag; Kt_XX_sum = Kt_XX_sums.sum(); K_XY.sum(axis=0).sum().
            func offDiagonalTotal(_ k: [Float]) -> Float {
                let rows: [Float] = k.withUnsafeBufferPointer { pk in
                    (0..<m).map { i in numpyPairwiseSum(UnsafeBufferPointer(rebasing: pk[(i * m)..<((i + 1) * m)])) - pk[i * m + i] }
                }
                return numpyPairwiseSum(rows)
            }
            var columns = [Float](repeating: 0, count: m)
            for i in 0..<m { for j in 0..<m { columns[j] += kxy[i * m + j] } }
            let txx = offDiagonalTotal(kxx), tyy = offDiagonalTotal(kyy), txy = numpyPairwiseSum(columns)
            return Double(txx + tyy) / (mm * (mm - 1)) - 2 * Double(txy) / (mm * mm)
        case .cleanFID:
            // a = K_XX + K_YY; (a.sum() - diag(a).sum()) / (m-1) - b.sum()*2/m, later / m.
            let a = zip(kxx, kyy).map { $0 + $1 }
            let diag = (0..<m).map { a[$0 * m + $0] }
            let t = Double(numpyPairwiseSum(a) - numpyPairwiseSum(diag)) / (mm - 1) - Double(numpyPairwiseSum(kxy)) * 2 / mm
            return t / mm
        }
    }

    /// X Yᵀ (m, m) as float64, computed in `precision`.
    private static func gram(_ x: [Float], _ y: [Float], m: Int, d: Int, _ precision: KernelPrecision) -> [Double] {
        switch precision {
        case .float32:
            var c = [Float](repeating: 0, count: m * m)
            x.withUnsafeBufferPointer { px in
                y.withUnsafeBufferPointer { py in
                    c.withUnsafeMutableBufferPointer { pc in
                        Gemm.sgemm(transB: true, m: m, n: m, k: d, a: px.baseAddress!, lda: d, b: py.baseAddress!, ldb: d, c: pc.baseAddress!, ldc: m)
                    }
                }
            }
            return c.map(Double.init)
        case .float64:
            let xd = x.map(Double.init), yd = y.map(Double.init)
            var c = [Double](repeating: 0, count: m * m)
            xd.withUnsafeBufferPointer { px in
                yd.withUnsafeBufferPointer { py in
                    c.withUnsafeMutableBufferPointer { pc in
                        Gemm.dgemm(transB: true, m: m, n: m, k: d, a: px.baseAddress!, lda: d, b: py.baseAddress!, ldb: d, c: pc.baseAddress!, ldc: m)
                    }
                }
            }
            return c
        }
    }

    /// Σ over (i, j) (i ≠ j when `offDiagonal`) of (γ G_ij + coef0)^degree, in float64.
    private static func kernelSum(_ gram: [Double], m: Int, gamma: Double, coef0: Double, degree: Int, offDiagonal: Bool) -> Double {
        var rowSums = [Double](repeating: 0, count: m)
        gram.withUnsafeBufferPointer { pg in
            rowSums.withUnsafeMutableBufferPointer { pr in
                let (pg, pr) = (pg.baseAddress!, pr.baseAddress!)
                parallelFor(m, grain: 64) { i in
                    var s = 0.0
                    for j in 0..<m where !(offDiagonal && i == j) {
                        let base = gamma * pg[i * m + j] + coef0
                        var k = 1.0
                        for _ in 0..<degree { k *= base }
                        s += k
                    }
                    pr[i] = s
                }
            }
        }
        return rowSums.reduce(0, +)
    }
}

/// KID as a ``Metric``: the two feature sets are its statistics (it needs the samples).
public struct KIDMetric: Metric {
    public static let id = MetricID.kid
    public var reference: Tensor
    public var kidProtocol: KIDProtocol
    public var subsets: Int
    public var subsetSize: Int
    public var precision: KernelPrecision
    public var seed: UInt32

    public init(reference: Tensor, protocol proto: KIDProtocol = .torchFidelity, subsets: Int = 100, subsetSize: Int = 1000,
                precision: KernelPrecision = .float32, seed: UInt32 = 2020) {
        self.reference = reference
        self.kidProtocol = proto
        self.subsets = subsets
        self.subsetSize = subsetSize
        self.precision = precision
        self.seed = seed
    }

    public func statistics(_ input: Tensor) throws -> Tensor { input }

    public func value(_ features: Tensor) throws -> MetricResult {
        let s = try KernelInceptionDistance.subsets(
            protocol: kidProtocol, countA: features.dim(0), countB: reference.dim(0), subsets: subsets, subsetSize: subsetSize, seed: seed)
        let kid = try KernelInceptionDistance.compute(features, reference, subsets: s, precision: precision, reduction: kidProtocol)
        return MetricResult(
            id: .kid, protocolName: kidProtocol.rawValue,
            values: [MetricKey.kidMean: kid.mean, MetricKey.kidStd: kidProtocol == .cleanFID ? 0 : kid.std])
    }
}
