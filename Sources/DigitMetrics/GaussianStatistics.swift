import DigitTensor

/// Mean and covariance of a feature set, as pytorch-fid stores them (`mu`, `sigma`, float64).
public struct GaussianStatistics: Sendable, Equatable {
    /// Feature dimension d.
    public var dimension: Int
    /// (d) mean, float64.
    public var mu: [Double]
    /// (d, d) covariance with divisor n - 1 (`np.cov(act, rowvar=False)`), row-major, symmetric.
    public var sigma: [Double]
    /// Number of samples, when known (pytorch-fid's `.npz` does not store it).
    public var count: Int?

    public init(mu: [Double], sigma: [Double], count: Int? = nil) throws {
        let d = mu.count
        guard sigma.count == d * d else {
            throw MetricsError.shapeMismatch(what: "sigma for mu of \(d) values", expected: [d, d], actual: [sigma.count])
        }
        dimension = d
        self.mu = mu
        self.sigma = sigma
        self.count = count
    }

    /// The statistics of a whole (n, d) float32 feature matrix, accumulated in float64
    /// (same as one ``GaussianAccumulator`` fed all rows).
    public init(features: Tensor) throws {
        precondition(features.rank == 2, "features must be (n, d), got \(features.shape)")
        var acc = GaussianAccumulator(dimension: features.dim(1))
        acc.add(features)
        self = try acc.statistics()
    }
}

/// Streaming, shard-mergeable Gaussian statistics in float64: count, Σx and the upper triangle
/// of Σxxᵀ (Gemm.dsyrkUpperAtA), from which ``statistics()`` derives mean and covariance.
///
/// ## What "exactly mergeable" means here
/// Floating-point addition is not associative, so "shard A + shard B" equals "all rows in one
/// run" only if the same additions happen. The accumulator therefore works in **blocks** of
/// `blockRows` rows aligned to the first row it is given: each full block is reduced on its own
/// (Σx by a sequential row loop, Σxxᵀ by one `dsyrk` from zero), so a block's partial sums are
/// a deterministic function of its rows. Block partials are added into the running totals with
/// a compensated (TwoSum, double-double) addition, and ``merge(_:)`` adds another accumulator's
/// totals the same way. Consequences:
/// - Shards whose boundaries are multiples of `blockRows` (e.g. `--shard i/N` over a count that
///   is a multiple of `blockRows·N`, or any split at block boundaries) produce the *same block
///   partials* as the unsharded run. Their double-double totals agree to ~2⁻¹⁰⁶ relative, so the
///   final float64 sums (hi + lo, rounded once) are bit-identical unless the exact sum lies within
///   that distance of a rounding boundary. The tests check bit-identity on the fixtures.
/// - A split inside a block still gives a correct result (same rows, same sums up to rounding,
///   ~1e-16 relative), just not necessarily the same bits.
/// - Row order within a block matters at the last-bit level (BLAS summation order); block order
///   does not (beyond the double-double residual).
///
/// Memory: 2·d² doubles for the totals, d² for one block's product and `blockRows`·d for the
/// block buffer (for d = 2048 and 1024 rows: 112 MiB), constant in the number of samples.
public struct GaussianAccumulator: Sendable {
    public static let defaultBlockRows = 1024

    public let dimension: Int
    public let blockRows: Int
    /// Rows added so far.
    public private(set) var count: Int = 0

    // Double-double totals: value = hi + lo.
    private var sumHi: [Double]
    private var sumLo: [Double]
    private var outerHi: [Double]  // (d, d), upper triangle (j >= i) used
    private var outerLo: [Double]
    // Float32 sequential column sums: np.mean(float32 features, axis=0) as torch-fidelity and the
    // ADM evaluator compute it (numpy reduces axis 0 of a C-ordered array row after row).
    private var sum32: [Float]
    // The current, incomplete block (pendingRows x d, float64).
    private var pending: [Double]
    private var pendingRows: Int = 0

    public init(dimension: Int, blockRows: Int = GaussianAccumulator.defaultBlockRows) {
        precondition(dimension > 0 && blockRows > 0, "GaussianAccumulator(dimension: \(dimension), blockRows: \(blockRows))")
        self.dimension = dimension
        self.blockRows = blockRows
        sumHi = [Double](repeating: 0, count: dimension)
        sumLo = sumHi
        outerHi = [Double](repeating: 0, count: dimension * dimension)
        outerLo = outerHi
        sum32 = [Float](repeating: 0, count: dimension)
        pending = [Double](repeating: 0, count: blockRows * dimension)
    }

    /// Adds the rows of an (n, d) float32 matrix.
    public mutating func add(_ features: Tensor) {
        precondition(features.rank == 2 && features.dim(1) == dimension, "features \(features.shape), accumulator d = \(dimension)")
        features.withUnsafeBufferPointer { add(rows: $0) }
    }

    /// Adds row-major float32 rows of `dimension` values each.
    public mutating func add(rows: UnsafeBufferPointer<Float>) {
        let d = dimension
        precondition(rows.count % d == 0, "\(rows.count) values are not whole rows of \(d)")
        let n = rows.count / d
        var r = 0
        while r < n {
            let take = min(blockRows - pendingRows, n - r)
            pending.withUnsafeMutableBufferPointer { pb in
                sum32.withUnsafeMutableBufferPointer { s32 in
                    for i in 0..<take {
                        let src = rows.baseAddress! + (r + i) * d
                        let dst = pb.baseAddress! + (pendingRows + i) * d
                        for j in 0..<d {
                            dst[j] = Double(src[j])
                            s32[j] += src[j]
                        }
                    }
                }
            }
            pendingRows += take
            count += take
            r += take
            if pendingRows == blockRows { flushBlock() }
        }
    }

    /// Reduces the pending rows to block partials and adds them to the totals.
    private mutating func flushBlock() {
        let d = dimension, k = pendingRows
        guard k > 0 else { return }
        var blockSum = [Double](repeating: 0, count: d)
        var blockOuter = [Double](repeating: 0, count: d * d)
        pending.withUnsafeBufferPointer { pb in
            for i in 0..<k {
                let row = pb.baseAddress! + i * d
                for j in 0..<d { blockSum[j] += row[j] }
            }
            blockOuter.withUnsafeMutableBufferPointer { po in
                Gemm.dsyrkUpperAtA(n: d, k: k, a: pb.baseAddress!, lda: d, beta: 0, c: po.baseAddress!, ldc: d)
            }
        }
        Self.addCompensated(hi: &sumHi, lo: &sumLo, addHi: blockSum, addLo: nil, upperOf: nil)
        Self.addCompensated(hi: &outerHi, lo: &outerLo, addHi: blockOuter, addLo: nil, upperOf: d)
        pendingRows = 0
    }

    /// `(hi, lo) += (addHi, addLo)` element-wise with TwoSum; only the upper triangle when `upperOf` is d.
    private static func addCompensated(hi: inout [Double], lo: inout [Double], addHi: [Double], addLo: [Double]?, upperOf d: Int?) {
        let rows = d ?? 1
        let width = d ?? hi.count
        let extra = addLo ?? []
        hi.withUnsafeMutableBufferPointer { h in
            lo.withUnsafeMutableBufferPointer { l in
                addHi.withUnsafeBufferPointer { ah in
                    extra.withUnsafeBufferPointer { al in
                        let (h, l, ah) = (h.baseAddress!, l.baseAddress!, ah.baseAddress!)
                        let al = al.isEmpty ? nil : al.baseAddress
                        parallelFor(rows, grain: 16) { i in
                            let start = d == nil ? 0 : i * width + i
                            let end = (i + 1) * width
                            for j in start..<end {
                                let a = h[j], b = ah[j]
                                let s = a + b
                                let bb = s - a
                                let e = (a - (s - bb)) + (b - bb)
                                h[j] = s
                                l[j] += e + (al?[j] ?? 0)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds another accumulator's rows (as if they came after this one's).
    ///
    /// When `other` has not completed a block yet (all its rows are pending), its rows are added
    /// as if they had been fed to this accumulator directly, so the result is bit-identical to one
    /// run over both row sets. Otherwise both pending blocks are flushed first, so for
    /// bit-identity with an unsharded run every shard but the last must end on a block boundary.
    public mutating func merge(_ other: GaussianAccumulator) throws {
        guard other.dimension == dimension else {
            throw MetricsError.shapeMismatch(what: "merging Gaussian statistics", expected: [dimension], actual: [other.dimension])
        }
        if other.count == other.pendingRows {
            let rows = other.pending[0..<(other.pendingRows * dimension)].map { Float($0) }  // exact: they were Float
            rows.withUnsafeBufferPointer { add(rows: $0) }
            return
        }
        var other = other
        flushBlock()
        other.flushBlock()
        Self.addCompensated(hi: &sumHi, lo: &sumLo, addHi: other.sumHi, addLo: other.sumLo, upperOf: nil)
        Self.addCompensated(hi: &outerHi, lo: &outerLo, addHi: other.outerHi, addLo: other.outerLo, upperOf: dimension)
        for j in 0..<dimension { sum32[j] += other.sum32[j] }
        count += other.count
    }

    /// The complete state, for writing shard statistics to disk and merging them later exactly.
    public struct State: Sendable, Equatable {
        public var dimension: Int
        public var blockRows: Int
        public var count: Int
        /// Σx as a double-double (hi, lo), over completed blocks.
        public var sumHi: [Double], sumLo: [Double]
        /// Σxxᵀ as a double-double (d, d), upper triangle meaningful, over completed blocks.
        public var outerHi: [Double], outerLo: [Double]
        /// float32 sequential column sums over all rows.
        public var sum32: [Float]
        /// The rows of the incomplete block (pendingRows x d), as the float32 values they came from.
        public var pendingRows: [Float]

        public init(dimension: Int, blockRows: Int, count: Int, sumHi: [Double], sumLo: [Double], outerHi: [Double],
                    outerLo: [Double], sum32: [Float], pendingRows: [Float]) {
            self.dimension = dimension
            self.blockRows = blockRows
            self.count = count
            self.sumHi = sumHi
            self.sumLo = sumLo
            self.outerHi = outerHi
            self.outerLo = outerLo
            self.sum32 = sum32
            self.pendingRows = pendingRows
        }
    }

    public var state: State {
        State(dimension: dimension, blockRows: blockRows, count: count, sumHi: sumHi, sumLo: sumLo, outerHi: outerHi,
              outerLo: outerLo, sum32: sum32, pendingRows: pending[0..<(pendingRows * dimension)].map { Float($0) })
    }

    /// Restores an accumulator from ``state``; throws if the arrays do not fit together.
    public init(state s: State) throws {
        let d = s.dimension
        guard d > 0, s.blockRows > 0 else {
            throw MetricsError.invalidArgument(name: "accumulator state", value: "d = \(d), blockRows = \(s.blockRows)", reason: "must be positive")
        }
        for (name, n, want) in [("sum_hi", s.sumHi.count, d), ("sum_lo", s.sumLo.count, d), ("outer_hi", s.outerHi.count, d * d),
                                ("outer_lo", s.outerLo.count, d * d), ("sum32", s.sum32.count, d)] where n != want {
            throw MetricsError.shapeMismatch(what: "accumulator state \(name)", expected: [want], actual: [n])
        }
        let pendingCount = s.pendingRows.count / d
        guard s.pendingRows.count % d == 0, pendingCount < s.blockRows, pendingCount <= s.count,
              (s.count - pendingCount) % s.blockRows == 0 else {
            throw MetricsError.invalidArgument(
                name: "accumulator state", value: "\(s.pendingRows.count) pending values, count \(s.count), block \(s.blockRows)",
                reason: "pending rows must be the incomplete last block")
        }
        self.init(dimension: d, blockRows: s.blockRows)
        count = s.count
        sumHi = s.sumHi
        sumLo = s.sumLo
        outerHi = s.outerHi
        outerLo = s.outerLo
        sum32 = s.sum32
        for (i, v) in s.pendingRows.enumerated() { pending[i] = Double(v) }
        pendingRows = pendingCount
    }

    /// Σx (float64), including pending rows.
    public var sum: [Double] {
        var a = self
        a.flushBlock()
        return zip(a.sumHi, a.sumLo).map { $0 + $1 }
    }

    /// Mean and covariance (divisor n - 1, as `np.cov`) in float64.
    ///
    /// Covariance is `(Σxxᵀ - Σx Σxᵀ / n) / (n - 1)` from the float64 sums; against numpy's
    /// centred `np.cov` this differs at the 1e-16 relative level scaled by (|mean|/std)² of a feature.
    public func statistics() throws -> GaussianStatistics {
        guard count >= 2 else { throw MetricsError.notEnoughSamples(what: "covariance", needed: 2, actual: count) }
        var a = self
        a.flushBlock()
        let d = dimension, n = Double(count)
        let s = zip(a.sumHi, a.sumLo).map { $0 + $1 }
        let mu = s.map { $0 / n }
        var sigma = [Double](repeating: 0, count: d * d)
        sigma.withUnsafeMutableBufferPointer { out in
            let o = out.baseAddress!
            a.outerHi.withUnsafeBufferPointer { hi in
                a.outerLo.withUnsafeBufferPointer { lo in
                    let (hi, lo) = (hi.baseAddress!, lo.baseAddress!)
                    parallelFor(d, grain: 16) { i in
                        for j in i..<d {
                            let v = ((hi[i * d + j] + lo[i * d + j]) - s[i] * s[j] / n) / (n - 1)
                            o[i * d + j] = v
                            o[j * d + i] = v
                        }
                    }
                }
            }
        }
        return try GaussianStatistics(mu: mu, sigma: sigma, count: count)
    }

    /// The mean as torch-fidelity and the ADM evaluator compute it: `np.mean` of float32 features
    /// (a float32 row-by-row sum divided by n in float32). Shard merges add float32 shard sums, so
    /// this one is not bit-identical across shardings (it moves FID by ~1e-9 relative).
    public var float32Mean: [Float] {
        let n = Float(count)
        return sum32.map { $0 / n }
    }
}
