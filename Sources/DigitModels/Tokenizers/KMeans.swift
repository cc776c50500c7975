// Port of facebookresearch/faiss faiss/Clustering.cpp + faiss/utils/random.cpp @ v1.7.4 (the faiss-cpu
// 1.7.4 that DiGIT's preprocess/cluster_kmeans.py runs as `faiss.Kmeans(d, K, niter=20)`), and the
// squared-L2 nearest-centroid search of faiss `exhaustive_L2sqr_blas` / DiGIT `prepare_semantic`.

import DigitTensor
import Foundation

// MARK: - Random numbers as faiss draws them

/// The 32-bit Mersenne Twister (`std::mt19937`), seeded as `std::mt19937(uint32 seed)`.
public struct MersenneTwister: Sendable {
    private var state = [UInt32](repeating: 0, count: 624)
    private var index = 624

    public init(seed: UInt32) {
        state[0] = seed
        for i in 1..<624 { state[i] = 1_812_433_253 &* (state[i - 1] ^ (state[i - 1] >> 30)) &+ UInt32(i) }
    }

    public mutating func next() -> UInt32 {
        if index >= 624 {
            for k in 0..<624 {
                let y = (state[k] & 0x8000_0000) | (state[(k + 1) % 624] & 0x7FFF_FFFF)
                state[k] = state[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1) != 0 ? 0x9908_B0DF : 0)
            }
            index = 0
        }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// faiss `RandomGenerator::rand_int(max)`: `mt() % max`.
    public mutating func int(below max: Int) -> Int { Int(UInt64(next()) % UInt64(max)) }

    /// faiss `RandomGenerator::rand_float()`: `mt() / float(mt.max())` in float32.
    public mutating func float() -> Float { Float(next()) / Float(UInt32.max) }

    /// faiss `rand_perm(perm, n, seed)`: identity, then Fisher–Yates from the front with
    /// `i2 = i + rand_int(n − i)` and a generator seeded with `(uint32)seed`.
    public static func permutation(_ n: Int, seed: Int64) -> [Int] {
        var perm = Array(0..<n)
        var rng = MersenneTwister(seed: UInt32(truncatingIfNeeded: seed))
        var i = 0
        while i + 1 < n {
            perm.swapAt(i, i + rng.int(below: n - i))
            i += 1
        }
        return perm
    }
}

// MARK: - Nearest centroid

/// Squared-L2 nearest-centroid search through sgemm: `‖x‖² − 2 x·c + ‖c‖²` (DiGIT's
/// `prepare_semantic` order), argmin with the lowest index winning ties.
public struct NearestCentroidSearch: @unchecked Sendable {
    /// (K, D) row-major.
    public let centroids: UnsafeBufferPointer<Float>
    /// ‖c‖² per centroid (K).
    public let norms: [Float]
    public let k: Int
    public let d: Int

    /// Squared norms of the rows of a (rows, d) matrix, in float32 like `(c ** 2).sum(…)`.
    public static func rowNorms(_ x: UnsafePointer<Float>, rows: Int, d: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: rows) { buf, count in
            parallelFor(rows, grain: 256) { r in
                let row = x + r * d
                var s: Float = 0
                for j in 0..<d { s += row[j] * row[j] }
                buf[r] = s
            }
            count = rows
        }
    }

    public init(centroids: UnsafeBufferPointer<Float>, k: Int, d: Int, norms: [Float]? = nil) {
        precondition(centroids.count == k * d, "NearestCentroidSearch: \(centroids.count) values for \(k)x\(d)")
        self.centroids = centroids
        self.k = k
        self.d = d
        self.norms = norms ?? Self.rowNorms(centroids.baseAddress!, rows: k, d: d)
    }

    /// For each of `n` points (n, D): the nearest centroid and its squared distance (clamped at 0,
    /// as faiss does). Distances are computed in blocks of rows so the score matrix stays ~32 MB.
    public func assign(_ x: UnsafePointer<Float>, count n: Int) -> (indices: [Int32], distances: [Float]) {
        var indices = [Int32](repeating: 0, count: n)
        var distances = [Float](repeating: 0, count: n)
        if n == 0 { return (indices, distances) }
        let xNorms = Self.rowNorms(x, rows: n, d: d)
        let block = max(16, min(4096, (8 << 20) / max(k, 1)))
        var scores = [Float](repeating: 0, count: min(block, n) * k)
        scores.withUnsafeMutableBufferPointer { ps in
            indices.withUnsafeMutableBufferPointer { pi in
                distances.withUnsafeMutableBufferPointer { pd in
                    let sc = ps.baseAddress!, oi = pi.baseAddress!, od = pd.baseAddress!
                    norms.withUnsafeBufferPointer { pn in
                        let cn = pn.baseAddress!
                        var start = 0
                        while start < n {
                            let rows = min(block, n - start)
                            // scores = x_block · Cᵀ  (rows, K)
                            Gemm.sgemm(transB: true, m: rows, n: k, k: d, a: x + start * d, lda: d,
                                       b: centroids.baseAddress!, ldb: d, c: sc, ldc: k)
                            parallelFor(rows, grain: max(1, 16_384 / max(k, 1))) { r in
                                let row = sc + r * k, xn = xNorms[start + r]
                                var best = Float.infinity, bestJ = 0
                                for j in 0..<k {
                                    let dist = xn - 2 * row[j] + cn[j]
                                    if dist < best { best = dist; bestJ = j }
                                }
                                oi[start + r] = Int32(bestJ)
                                od[start + r] = max(best, 0)
                            }
                            start += rows
                        }
                    }
                }
            }
        }
        return (indices, distances)
    }
}

// MARK: - K-Means

/// `faiss::ClusteringParameters` as `faiss.Kmeans(d, k, niter=…)` sets them (L2, no redo, not
/// spherical).
public struct KMeansParameters: Sendable, Equatable, Codable {
    public var niter: Int = 20
    public var seed: Int64 = 1234
    /// Training sets larger than `k · maxPointsPerCentroid` are subsampled (faiss default 256).
    public var maxPointsPerCentroid: Int = 256
    /// Below `k · minPointsPerCentroid` points faiss warns (default 39).
    public var minPointsPerCentroid: Int = 39

    public init(niter: Int = 20, seed: Int64 = 1234, maxPointsPerCentroid: Int = 256) {
        self.niter = niter
        self.seed = seed
        self.maxPointsPerCentroid = maxPointsPerCentroid
    }
}

/// One Lloyd iteration's statistics (`faiss::ClusteringIterationStats`).
public struct KMeansIteration: Sendable, Equatable {
    public var iteration: Int
    /// Sum of squared distances of the training points to the centroids **before** this
    /// iteration's update (what faiss reports as `obj`).
    public var objective: Double
    /// Empty clusters re-seeded by splitting after the update.
    public var splits: Int
    public var seconds: Double
}

/// What ``KMeans/train(_:count:dimension:k:parameters:progress:)`` returns.
public struct KMeansResult: Sendable {
    public var k: Int
    public var d: Int
    /// (K, D) row-major float32: the layout of DiGIT's `km_8k.npy`.
    public var centroids: [Float]
    public var iterations: [KMeansIteration]
    /// Points actually clustered (after subsampling).
    public var trainingPoints: Int
    /// Points per cluster in the last assignment (before the last update).
    public var lastCounts: [Int]
    /// Warnings faiss would print (too few points per centroid, subsampling).
    public var notes: [String]
}

public enum KMeansError: Error, CustomStringConvertible, Equatable {
    case tooFewPoints(points: Int, k: Int)
    case badShape(String)

    public var description: String {
        switch self {
        case let .tooFewPoints(n, k):
            return "k-means: \(n) training points for \(k) clusters; faiss needs at least as many points as clusters"
        case let .badShape(s):
            return "k-means: \(s)"
        }
    }
}

/// faiss's k-means (`Clustering::train` with an `IndexFlatL2`): subsample to
/// `k · max_points_per_centroid` with `rand_perm(seed)`, initialise with the first `k` points of
/// `rand_perm(seed + 1)`, then `niter` Lloyd iterations — assign (sgemm distances), objective,
/// centroid means (float32 sums in point order, times `1 / count`), split empty clusters.
public enum KMeans {
    public static func train(
        _ x: UnsafeBufferPointer<Float>, count n: Int, dimension d: Int, k: Int,
        parameters p: KMeansParameters = KMeansParameters(), progress: ((KMeansIteration) -> Void)? = nil
    ) throws -> KMeansResult {
        guard d > 0, k > 0, x.count == n * d else {
            throw KMeansError.badShape("\(x.count) values for \(n) points of dimension \(d), k = \(k)")
        }
        guard n >= k else { throw KMeansError.tooFewPoints(points: n, k: k) }
        var notes: [String] = []
        // Subsample (faiss subsample_training_set: perm = rand_perm(nx, seed), first k·maxppc rows).
        var subsample: [Float] = []
        var nx = n
        if n > k * p.maxPointsPerCentroid {
            let perm = MersenneTwister.permutation(n, seed: p.seed)
            nx = k * p.maxPointsPerCentroid
            subsample = [Float](repeating: 0, count: nx * d)
            subsample.withUnsafeMutableBufferPointer { dst in
                parallelFor(nx, grain: 256) { i in
                    (dst.baseAddress! + i * d).update(from: x.baseAddress! + perm[i] * d, count: d)
                }
            }
            notes.append("Sampling a subset of \(nx) / \(n) for training")
        } else if n < k * p.minPointsPerCentroid {
            notes.append("WARNING clustering \(n) points to \(k) centroids: please provide at least \(k * p.minPointsPerCentroid) training points")
        }
        let work = subsample.isEmpty ? UnsafeBufferPointer(rebasing: x[0..<(n * d)]) : nil
        return subsample.withUnsafeBufferPointer { sub in
            let data = (work ?? sub).baseAddress!
            var result = lloyd(data, count: nx, d: d, k: k, parameters: p, progress: progress)
            result.notes = notes
            return result
        }
    }

    /// Convenience over an array of `n · d` values.
    public static func train(
        _ x: [Float], dimension d: Int, k: Int, parameters p: KMeansParameters = KMeansParameters(),
        progress: ((KMeansIteration) -> Void)? = nil
    ) throws -> KMeansResult {
        guard d > 0, x.count % d == 0 else { throw KMeansError.badShape("\(x.count) values are not rows of \(d)") }
        return try x.withUnsafeBufferPointer {
            try train($0, count: x.count / d, dimension: d, k: k, parameters: p, progress: progress)
        }
    }

    static func lloyd(
        _ x: UnsafePointer<Float>, count nx: Int, d: Int, k: Int, parameters p: KMeansParameters,
        progress: ((KMeansIteration) -> Void)?
    ) -> KMeansResult {
        var centroids = [Float](repeating: 0, count: k * d)
        if nx == k {
            centroids.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: x, count: k * d) }
            return KMeansResult(k: k, d: d, centroids: centroids, iterations: [], trainingPoints: nx, lastCounts: Array(repeating: 1, count: k), notes: [])
        }
        // Initialise from random distinct points (nredo = 1: seed + 1 + 0·15486557).
        let perm = MersenneTwister.permutation(nx, seed: p.seed + 1)
        centroids.withUnsafeMutableBufferPointer { c in
            for i in 0..<k { (c.baseAddress! + i * d).update(from: x + perm[i] * d, count: d) }
        }
        var iterations: [KMeansIteration] = []
        var counts = [Float](repeating: 0, count: k)
        for it in 0..<p.niter {
            let t0 = Date()
            let (assign, dis) = centroids.withUnsafeBufferPointer {
                NearestCentroidSearch(centroids: $0, k: k, d: d).assign(x, count: nx)
            }
            var objective = 0.0
            for v in dis { objective += Double(v) }
            computeCentroids(x, count: nx, d: d, k: k, assign: assign, centroids: &centroids, counts: &counts)
            let splits = splitClusters(d: d, k: k, n: nx, counts: &counts, centroids: &centroids)
            let stats = KMeansIteration(iteration: it, objective: objective, splits: splits, seconds: Date().timeIntervalSince(t0))
            iterations.append(stats)
            progress?(stats)
        }
        let lastCounts = counts.map { Int($0) }
        return KMeansResult(k: k, d: d, centroids: centroids, iterations: iterations, trainingPoints: nx, lastCounts: lastCounts, notes: [])
    }

    /// faiss `compute_centroids`: each thread owns a range of centroids and scans all points in
    /// order, summing in float32; non-empty centroids are multiplied by `1 / count`.
    static func computeCentroids(
        _ x: UnsafePointer<Float>, count nx: Int, d: Int, k: Int, assign: [Int32],
        centroids: inout [Float], counts: inout [Float]
    ) {
        let parts = max(1, min(Threads.count, k))
        centroids.withUnsafeMutableBufferPointer { pc in
            counts.withUnsafeMutableBufferPointer { ph in
                assign.withUnsafeBufferPointer { pa in
                    let c = pc.baseAddress!, h = ph.baseAddress!, a = pa.baseAddress!
                    parallelFor(parts) { part in
                        let lo = k * part / parts, hi = k * (part + 1) / parts
                        (c + lo * d).update(repeating: 0, count: (hi - lo) * d)
                        (h + lo).update(repeating: 0, count: hi - lo)
                        for i in 0..<nx {
                            let ci = Int(a[i])
                            guard ci >= lo && ci < hi else { continue }
                            h[ci] += 1
                            let dst = c + ci * d, src = x + i * d
                            for j in 0..<d { dst[j] += src[j] }
                        }
                        for ci in lo..<hi where h[ci] != 0 {
                            let norm = 1 / h[ci]
                            let dst = c + ci * d
                            for j in 0..<d { dst[j] *= norm }
                        }
                    }
                }
            }
        }
    }

    /// faiss `split_clusters`: each empty cluster takes a copy of a cluster picked with probability
    /// `(count − 1) / (n − k)` (walking clusters cyclically, `RandomGenerator(1234)`), and the two
    /// are pushed apart by a relative ±1/1024 on alternating coordinates; the count is halved.
    static func splitClusters(d: Int, k: Int, n: Int, counts h: inout [Float], centroids: inout [Float]) -> Int {
        var nsplit = 0
        var rng = MersenneTwister(seed: 1234)
        let eps: Float = 1 / 1024
        for ci in 0..<k where h[ci] == 0 {
            var cj = 0
            while true {
                let p = Float((Double(h[cj]) - 1.0) / Double(Float(n - k)))
                let r = rng.float()
                if r < p { break }
                cj = (cj + 1) % k
            }
            centroids.withUnsafeMutableBufferPointer { c in
                let a = c.baseAddress! + ci * d, b = c.baseAddress! + cj * d
                a.update(from: b, count: d)
                for j in 0..<d {
                    if j % 2 == 0 {
                        a[j] *= 1 + eps
                        b[j] *= 1 - eps
                    } else {
                        a[j] *= 1 - eps
                        b[j] *= 1 + eps
                    }
                }
            }
            h[ci] = h[cj] / 2
            h[cj] -= h[ci]
            nsplit += 1
        }
        return nsplit
    }
}
