import DigitTensor

/// Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN manifolds, as
/// torch-fidelity 0.4.0 `prc_features_to_metric` and the ADM evaluator's `ManifoldEstimator`
/// compute them.
///
/// The radius of a sample is its Euclidean distance to the (k+1)-th smallest entry of its row of
/// the within-set distance matrix (itself included, so the k-th nearest other sample). A sample
/// is covered by a set when its distance to some member is `<=` that member's radius.
/// precision = fraction of generated samples covered by the real set; recall = fraction of real
/// samples covered by the generated set; f_score = 2pr / max(1e-5, p + r).
///
/// Distances are computed in float32 as torch.cdist does for large inputs
/// (‖x‖² + ‖y‖² − 2 x·y, clamped at 0, square root), the cross term by sgemm over row blocks ×
/// column chunks, so memory is `rowBlock × columnChunk` floats whatever the set sizes.
public struct PrecisionRecall: Sendable, Equatable {
    public var precision: Double
    public var recall: Double
    public var fScore: Double
    /// Generated samples covered by the real manifold.
    public var precisionCount: Int
    /// Real samples covered by the generated manifold.
    public var recallCount: Int
    /// k-NN radii of the generated (A) and real (B) samples.
    public var radiiGenerated: [Float]
    public var radiiReal: [Float]

    /// Precision and recall of `generated` (nA, d) against `real` (nB, d).
    public static func compute(generated: Tensor, real: Tensor, k: Int = 3, rowBlock: Int = 1024, columnChunk: Int = 4096) throws -> PrecisionRecall {
        guard generated.rank == 2, real.rank == 2, generated.dim(1) == real.dim(1) else {
            throw MetricsError.shapeMismatch(what: "precision/recall real features", expected: [-1, generated.dim(-1)], actual: real.shape)
        }
        guard generated.dim(0) > k, real.dim(0) > k else {
            throw MetricsError.notEnoughSamples(what: "k-NN radii with k = \(k)", needed: k + 1, actual: min(generated.dim(0), real.dim(0)))
        }
        let geometry = Geometry(rowBlock: rowBlock, columnChunk: columnChunk)
        let ra = geometry.radii(generated, k: k)
        let rb = geometry.radii(real, k: k)
        let p = geometry.coveredCount(generated, by: real, radii: rb)
        let r = geometry.coveredCount(real, by: generated, radii: ra)
        // torch-fidelity returns the fractions through float32 (`.float().mean().item()`).
        let precision = Double(Float(p) / Float(generated.dim(0)))
        let recall = Double(Float(r) / Float(real.dim(0)))
        let f = 2 * precision * recall / max(1e-5, precision + recall)
        return PrecisionRecall(
            precision: precision, recall: recall, fScore: f, precisionCount: p, recallCount: r, radiiGenerated: ra, radiiReal: rb)
    }

    /// Blocked pairwise distances.
    struct Geometry {
        var rowBlock: Int
        var columnChunk: Int

        static func squaredNorms(_ t: Tensor) -> [Float] {
            let d = t.dim(1)
            return t.withUnsafeBufferPointer { p in
                (0..<t.dim(0)).map { i in
                    var s = 0.0
                    for j in 0..<d { let v = Double(p[i * d + j]); s += v * v }
                    return Float(s)
                }
            }
        }

        /// Calls `body(rowStart, rows, colStart, cols, distances)` for every tile of the (nx, ny)
        /// distance matrix, `distances` being (rows, cols) row-major Euclidean distances.
        func forEachTile(_ x: Tensor, _ y: Tensor, _ body: (Int, Int, Int, Int, UnsafeMutablePointer<Float>) -> Void) {
            let d = x.dim(1), nx = x.dim(0), ny = y.dim(0)
            let nxs = Self.squaredNorms(x), nys = Self.squaredNorms(y)
            var tile = [Float](repeating: 0, count: min(rowBlock, nx) * min(columnChunk, ny))
            x.withUnsafeBufferPointer { px in
                y.withUnsafeBufferPointer { py in
                    tile.withUnsafeMutableBufferPointer { pt in
                        let pt = pt.baseAddress!
                        for r0 in stride(from: 0, to: nx, by: rowBlock) {
                            let rows = min(rowBlock, nx - r0)
                            for c0 in stride(from: 0, to: ny, by: columnChunk) {
                                let cols = min(columnChunk, ny - c0)
                                Gemm.sgemm(transB: true, m: rows, n: cols, k: d, alpha: -2, a: px.baseAddress! + r0 * d, lda: d,
                                           b: py.baseAddress! + c0 * d, ldb: d, c: pt, ldc: cols)
                                parallelFor(rows, grain: 16) { i in
                                    let ni = nxs[r0 + i]
                                    let row = pt + i * cols
                                    for j in 0..<cols { row[j] = (max(0, (ni + nys[c0 + j]) + row[j])).squareRoot() }
                                }
                                body(r0, rows, c0, cols, pt)
                            }
                        }
                    }
                }
            }
        }

        /// Distance of each row of `x` to its (k+1)-th smallest within-set distance (self included).
        func radii(_ x: Tensor, k: Int) -> [Float] {
            let n = x.dim(0), keep = k + 1
            var best = [Float](repeating: .infinity, count: n * keep)  // ascending per row
            best.withUnsafeMutableBufferPointer { pb in
                let pb = pb.baseAddress!
                forEachTile(x, x) { r0, rows, _, cols, dist in
                    parallelFor(rows, grain: 16) { i in
                        let b = pb + (r0 + i) * keep
                        let row = dist + i * cols
                        for j in 0..<cols {
                            let v = row[j]
                            if v < b[keep - 1] {
                                var p = keep - 1
                                while p > 0 && b[p - 1] > v { b[p] = b[p - 1]; p -= 1 }
                                b[p] = v
                            }
                        }
                    }
                }
            }
            return (0..<n).map { best[$0 * keep + k] }
        }

        /// How many rows of `query` lie within `<=` radius of some row of `manifold`.
        func coveredCount(_ query: Tensor, by manifold: Tensor, radii: [Float]) -> Int {
            var covered = [Bool](repeating: false, count: query.dim(0))
            covered.withUnsafeMutableBufferPointer { pc in
                let pc = pc.baseAddress!
                radii.withUnsafeBufferPointer { pr in
                    let pr = pr.baseAddress!
                    forEachTile(query, manifold) { r0, rows, c0, cols, dist in
                        parallelFor(rows, grain: 16) { i in
                            if pc[r0 + i] { return }
                            let row = dist + i * cols
                            for j in 0..<cols where row[j] <= pr[c0 + j] {
                                pc[r0 + i] = true
                                return
                            }
                        }
                    }
                }
            }
            return covered.filter { $0 }.count
        }
    }
}

/// Precision/recall as a ``Metric`` (input: generated features; reference: real features).
public struct PrecisionRecallMetric: Metric {
    public static let id = MetricID.precisionRecall
    public var reference: Tensor
    public var k: Int
    public init(reference: Tensor, k: Int = 3) {
        self.reference = reference
        self.k = k
    }
    public func statistics(_ input: Tensor) throws -> Tensor { input }
    public func value(_ generated: Tensor) throws -> MetricResult {
        let pr = try PrecisionRecall.compute(generated: generated, real: reference, k: k)
        return MetricResult(
            id: .precisionRecall, protocolName: "torch-fidelity",
            values: [MetricKey.precision: pr.precision, MetricKey.recall: pr.recall, MetricKey.fScore: pr.fScore])
    }
}
