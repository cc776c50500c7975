import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    /// `digit-bench kmeans`: faiss's k-means on a feature file, writing DiGIT's centroid `.npy`.
    struct KMeansCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kmeans",
            abstract: "Cluster features with faiss's k-means and write the centroid .npy DiGIT reads.",
            discussion: """
                The algorithm is faiss.Kmeans(d, K, niter) as DiGIT's preprocess/cluster_kmeans.py calls it \
                (faiss 1.7.4): subsample to K x max-points-per-centroid rows with the seeded permutation, \
                initialise with K distinct random rows (seed + 1), run Lloyd iterations with sgemm \
                distances, and split empty clusters as faiss does. The output is float32 (K, D), C order \
                (DiGIT's km_8k.npy layout; DiGIT's tokenizer transposes it to (D, K) at load).

                Example: digit-bench kmeans feats.npy -k 8192 -o km_8k.npy
                """)

        @Argument(help: "Features: a float (N, D) .npy (e.g. from `digit-bench dino-features`).")
        var features: String

        @Option(name: .short, help: "Number of clusters K.")
        var k: Int

        @Option(help: "Lloyd iterations (faiss/DiGIT: 20).")
        var niter = 20

        @Option(help: "Random seed (faiss default 1234).")
        var seed: Int64 = 1234

        @Option(help: "Subsample to K x this many rows when there are more (faiss default 256).")
        var maxPointsPerCentroid = 256

        @Option(name: .shortAndLong, help: "Output .npy (float32 (K, D)), written atomically.")
        var output: String

        func validate() throws {
            guard k > 0 else { throw ValidationError("-k must be positive") }
            guard niter >= 0 else { throw ValidationError("--niter must be >= 0") }
            guard maxPointsPerCentroid > 0 else { throw ValidationError("--max-points-per-centroid must be positive") }
        }

        func run() throws {
            let url = URL(fileURLWithPath: features)
            let ckpt = try Checkpoint.open(url)
            guard case let .tensor(stored) = ckpt.root, stored.shape.count == 2 else {
                throw ValidationError("\(features): expected one (N, D) array in a .npy file")
            }
            let (n, d) = (stored.shape[0], stored.shape[1])
            let x = try stored.load()
            var params = KMeansParameters(niter: niter, seed: seed, maxPointsPerCentroid: maxPointsPerCentroid)
            params.minPointsPerCentroid = 39
            progressLine("k-means: \(n) points of dimension \(d) -> \(k) clusters, \(niter) iterations, seed \(seed), \(Threads.count) threads")
            let start = Date()
            let result = try x.withUnsafeBufferPointer { p in
                try KMeans.train(p, count: n, dimension: d, k: k, parameters: params) { it in
                    progressLine(String(format: "  iteration %3d  objective %.6g  nsplit %d  %.2f s", it.iteration, it.objective, it.splits, it.seconds))
                }
            }
            for note in result.notes { progressLine(note) }
            try NPY.write(NPYArray(float32: result.centroids, shape: [k, d]), to: URL(fileURLWithPath: output))
            let nonEmpty = result.lastCounts.filter { $0 > 0 }.count
            print("wrote \(output): float32 (\(k), \(d)); \(result.trainingPoints) training points, "
                + "\(nonEmpty) non-empty clusters in the last assignment, "
                + String(format: "final objective %.6g, %.1f s", result.iterations.last?.objective ?? .nan, Date().timeIntervalSince(start)))
        }
    }
}

/// A progress line on stderr.
fileprivate func progressLine(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
