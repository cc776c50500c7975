import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand.Bench {
    /// Times the L-BFGS logistic-regression probe at one fixed C, on the features
    /// tools/bench_probe_sklearn.py writes (and times scikit-learn on), or on seeded synthetic ones.
    struct Probe: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time the L-BFGS linear probe (one C) against scikit-learn's LogisticRegression.",
            discussion: """
                `python3 tools/bench_probe_sklearn.py --n 50000 --dim 1024 --classes 1000 --out DIR` writes \
                DIR/X.npy and DIR/y.npy and times scikit-learn; then \
                `digit-bench bench probe --features DIR/X.npy --labels DIR/y.npy --sklearn-seconds S` times \
                this implementation on the same features with the same C, max_iter and tol (give \
                --sklearn-stopping the scikit-learn version it printed: before 1.4 its tol applies to the \
                summed loss, n times stricter). Without \
                --features, seeded synthetic features (class means + Gaussian noise) of --n x --dim with \
                --classes classes are generated. Target (issue #11): 50k x 1024, 1000 classes in < 2 min.
                """)

        @Option(help: "Features .npy (N, D) from tools/bench_probe_sklearn.py.") var features: String?
        @Option(help: "Labels .npy (N).") var labels: String?
        @Option(help: "Synthetic rows.") var n: Int = 50_000
        @Option(help: "Synthetic feature dimension.") var dim: Int = 1024
        @Option(help: "Synthetic classes.") var classes: Int = 1000
        @Option(name: .customLong("c"), help: "C (scikit-learn semantics).") var c: Double = 0.1
        @Option(help: "max_iter.") var maxIter: Int = 100
        @Option(help: "tol (max|g|).") var tol: Double = 1e-4
        @Option(help: "float32 or float64.") var precision: String = "float32"
        @Option(help: "Stopping tests of scikit-learn 1.4 (≥ 1.4, default) or 1.3 (≤ 1.3: tol on the summed loss); use the version tools/bench_probe_sklearn.py printed.")
        var sklearnStopping: String = "1.4"
        @Option(help: "Seconds scikit-learn took on the same features (for the ratio).") var sklearnSeconds: Double?

        func run() throws {
            let x: FeatureMatrix, y: [Int32]
            if let features, let labels {
                let set = try ProbeFeatures(featuresNPY: URL(fileURLWithPath: features), labelsNPY: URL(fileURLWithPath: labels))
                x = set.layer(0)
                y = set.labels
            } else {
                (x, y) = Self.synthetic(n: n, dim: dim, classes: classes)
            }
            let k = Int(y.max()!) + 1
            guard let p = LogisticRegression.Precision(rawValue: precision) else { throw ValidationError("--precision float32|float64") }
            let c0 = clock(), t0 = Date()
            guard let stopping = LogisticRegression.SklearnStopping(scikitLearnVersion: sklearnStopping) else {
                throw ValidationError("--sklearn-stopping: a scikit-learn version such as 1.4 or 1.3.2")
            }
            let fit = try Self.fit(x, labels: y, classes: k, c: c, maxIter: maxIter, tol: tol, precision: p, stopping: stopping)
            let wall = Date().timeIntervalSince(t0), cpu = Double(clock() - c0) / Double(CLOCKS_PER_SEC)
            let acc = fit.head.evaluate(x, labels: y)
            print("machine: \(Threads.blasDescription)")
            print("features \(x.rows) x \(x.columns), \(k) classes, C = \(c), max_iter \(maxIter), tol \(tol), \(precision), "
                  + "stopping tests of scikit-learn \(stopping == .v1_4 ? "≥ 1.4" : "≤ 1.3")")
            print(fit.notes.last ?? "")
            print(String(format: "fit (standardise + L-BFGS): wall %.2f s, CPU %.2f s; train top-1 %.2f %%", wall, cpu, acc.top1))
            if let s = sklearnSeconds {
                print(String(format: "scikit-learn (tools/bench_probe_sklearn.py): %.2f s wall -> speed-up %.2fx", s, s / wall))
            }
        }

        /// One L-BFGS fit at a single C (standardise + fit), the timed call of this bench and of `bench peers`.
        static func fit(_ x: FeatureMatrix, labels y: [Int32], classes k: Int, c: Double, maxIter: Int, tol: Double,
                        precision: LogisticRegression.Precision = .float32,
                        stopping: LogisticRegression.SklearnStopping = .v1_4) throws -> (head: LinearHead, notes: [String]) {
            var options = LogisticRegression.Options()
            options.c = c
            options.lbfgs.maxIterations = maxIter
            options.lbfgs.gradientTolerance = tol
            options.precision = precision
            options.stopping = stopping
            return try LogisticRegression.fitSelectingC(x, labels: y, classes: k, options: options) {
                FileHandle.standardError.write(Data("bench probe: \($0)\n".utf8))
            }
        }

        /// Class means ~ N(0, 1), rows = 0.5 * mean + N(0, 1), seeded (MT19937 + Box–Muller); float32.
        static func synthetic(n: Int, dim: Int, classes: Int) -> (FeatureMatrix, [Int32]) {
            var rng = NumpyRandomState(seed: 0)
            func normal() -> Float { Float(rng.boxMullerNormal()) }
            let means = (0..<(classes * dim)).map { _ in normal() }
            var values = [Float](repeating: 0, count: n * dim)
            var labels = [Int32](repeating: 0, count: n)
            for i in 0..<n {
                let yi = i % classes
                labels[i] = Int32(yi)
                for j in 0..<dim { values[i * dim + j] = 0.5 * means[yi * dim + j] + normal() }
            }
            return (FeatureMatrix(rows: n, columns: dim, values: values), labels)
        }
    }
}
