import DigitCheckpoint
import DigitModels
import DigitNN
import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

/// faiss's k-means against faiss-cpu 1.7.4 itself. Every expected number below was printed by
/// `tools/kmeans_vs_faiss.py` (faiss.Kmeans, OMP_NUM_THREADS=1), or is a file DiGIT's own script wrote.
@Suite("K-Means (faiss algorithm)")
struct KMeansTests {
    @Test("std::mt19937 and faiss rand_perm")
    func randomNumbers() {
        // std::mt19937 with the default seed 5489: the first output and the 10000th (C++ standard).
        var mt = MersenneTwister(seed: 5489)
        #expect(mt.next() == 3_499_211_612)
        for _ in 0..<9998 { _ = mt.next() }
        #expect(mt.next() == 4_123_659_995)
        // The 16 initial centroids faiss picks for 512 points (seed 1234 + 1): the rows that
        // faiss.Kmeans(768, 16, niter=0) returned on fixtures/dinov2/vitb_feat_l3.npy.
        #expect(Array(MersenneTwister.permutation(512, seed: 1235).prefix(16))
                == [203, 228, 254, 201, 323, 448, 349, 456, 265, 52, 174, 24, 166, 44, 361, 434])
    }

    /// Final assignment of every point to its nearest final centroid: sorted cluster sizes.
    func finalCounts(_ x: [Float], _ r: KMeansResult) -> [Int] {
        let ids = r.centroids.withUnsafeBufferPointer { c in
            x.withUnsafeBufferPointer { NearestCentroidSearch(centroids: c, k: r.k, d: r.d).assign($0.baseAddress!, count: x.count / r.d).indices }
        }
        var counts = [Int](repeating: 0, count: r.k)
        for i in ids { counts[Int(i)] += 1 }
        return counts.sorted()
    }

    @Test("DiGIT's genuine K=16 codebook is reproduced from the same features")
    func genuine() throws {
        let x = try Fixtures.npy("dinov2", "vitb_feat_l3.npy").floats()     // (2·256, 768)
        let r = try KMeans.train(x, dimension: 768, k: 16, parameters: KMeansParameters(niter: 20))
        // tools/kmeans_vs_faiss.py case "genuine": objective per iteration (first 3, last).
        let faissObjective = [66008.3203125, 41013.875, 39926.66796875]
        for (ours, ref) in zip(r.iterations.map(\.objective), faissObjective) {
            #expect(abs(ours - ref) <= 0.01 * ref, "objective \(ours) vs faiss \(ref)")  // tolerance: 1% (issue 8)
        }
        #expect(abs(r.iterations.last!.objective - 38723.00390625) <= 0.01 * 38723.0)
        #expect(finalCounts(x, r) == [6, 9, 13, 14, 17, 17, 22, 30, 32, 33, 44, 48, 48, 50, 54, 75])
        // km_16_genuine.npy is byte for byte what DiGIT's cluster_kmeans.py wrote (faiss 1.7.4). Same
        // init and the same assignments, so only float32 summation order separates the centroids:
        // atol 1e-5 on |values| ≤ ~1.5 (the means of ≥ 6 features of |v| ≤ 4.3).
        let genuine = try Fixtures.npy("digit_tokenizer", "km_16_genuine.npy")
        #expect(genuine.shape == [16, 768])
        let cmp = compare(r.centroids, genuine.floats())
        #expect(cmp.maxAbsDiff < 1e-5, "\(cmp)")
    }

    @Test("subsampling to k · max_points_per_centroid")
    func subsample() throws {
        let x = SeededWeights.values(key: "kmeans.test.points", shape: [6000, 32])
        let r = try KMeans.train(x, dimension: 32, k: 20, parameters: KMeansParameters(niter: 10, maxPointsPerCentroid: 100))
        #expect(r.trainingPoints == 2000)
        // tools/kmeans_vs_faiss.py case "subsample".
        let faiss = [5051.01708984375, 3500.6953125, 3454.4326171875, 3429.703125, 3416.827880859375,
                     3408.998779296875, 3404.15625, 3400.6689453125, 3396.967529296875, 3393.00341796875]
        #expect(r.iterations.count == faiss.count)
        for (ours, ref) in zip(r.iterations.map(\.objective), faiss) {
            #expect(abs(ours - ref) <= 0.01 * ref, "objective \(ours) vs faiss \(ref)")  // 1%
        }
        #expect(finalCounts(x, r).filter { $0 > 0 }.count == 20)
    }

    @Test("empty clusters are split as faiss splits them")
    func split() throws {
        let base = SeededWeights.values(key: "kmeans.test.base", shape: [40, 8])
        var x: [Float] = []
        for i in 0..<1000 { x += base[((7 * i) % 40 * 8)..<((7 * i) % 40 * 8 + 8)] }
        let r = try KMeans.train(x, dimension: 8, k: 64, parameters: KMeansParameters(niter: 8))
        #expect(r.iterations.allSatisfy { $0.splits > 0 })
        // tools/kmeans_vs_faiss.py case "split": 113.92, 56.93, 23.81, then ~7e-4 (float noise of
        // points sitting on their centroids, so compared with an absolute bound).
        let faiss = [113.92222595214844, 56.930397033691406, 23.809024810791016]
        for (ours, ref) in zip(r.iterations.map(\.objective), faiss) {
            #expect(abs(ours - ref) <= 0.01 * ref, "objective \(ours) vs faiss \(ref)")  // 1%
        }
        #expect(r.iterations.dropFirst(3).allSatisfy { $0.objective < 0.01 })
        let counts = finalCounts(x, r)
        #expect(counts.filter { $0 > 0 }.count == 40)   // faiss: 40 non-empty clusters of 25
        #expect(counts.filter { $0 > 0 }.allSatisfy { $0 == 25 })
    }

    @Test("bad input throws")
    func badInput() {
        #expect(throws: KMeansError.tooFewPoints(points: 3, k: 4)) {
            try KMeans.train([Float](repeating: 0, count: 6), dimension: 2, k: 4)
        }
        #expect(throws: KMeansError.self) { try KMeans.train([1, 2, 3], dimension: 2, k: 1) }
    }
}
