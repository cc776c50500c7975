import DigitTensor
import Foundation

/// Float or Double: the precision of the feature matrix and the BLAS products of a probe.
public protocol ProbeScalar: BinaryFloatingPoint, Sendable {
    /// Row-major `C = alpha op(A) op(B) + beta C` (``Gemm/sgemm`` or ``Gemm/dgemm``).
    static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Self>, lda: Int,
        b: UnsafePointer<Self>, ldb: Int, beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    static func exponential(_ x: Self) -> Self
}

extension Float: ProbeScalar {
    @inlinable public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        Gemm.sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
    @inlinable public static func exponential(_ x: Float) -> Float { expf(x) }
}

extension Double: ProbeScalar {
    @inlinable public static func gemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Double>, lda: Int,
        b: UnsafePointer<Double>, ldb: Int, beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        Gemm.dgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }
    @inlinable public static func exponential(_ x: Double) -> Double { exp(x) }
}

/// Linear logits and their softmax cross-entropy gradient, shared by both classifiers.
enum SoftmaxCrossEntropy {
    /// `logits = bias + x Wᵀ` for x (rows, d), W (classes, d), all of type S; one BLAS call.
    static func logits<S: ProbeScalar>(
        x: UnsafePointer<S>, rows: Int, d: Int, weight: UnsafePointer<S>, bias: UnsafePointer<S>, classes: Int,
        into z: UnsafeMutablePointer<S>
    ) {
        for i in 0..<rows { (z + i * classes).update(from: bias, count: classes) }
        S.gemm(transA: false, transB: true, m: rows, n: classes, k: d, a: x, lda: d, b: weight, ldb: d,
               beta: 1, c: z, ldc: classes)
    }

    /// Replaces each row of logits by `scale · (softmax − onehot(label))` and writes the row's
    /// negative log-likelihood (float64: max + log Σ exp accumulated in float64) into `loss`.
    static func residual<S: ProbeScalar>(
        z: UnsafeMutablePointer<S>, rows: Int, classes: Int, labels: UnsafePointer<Int32>, scale: Double,
        loss: UnsafeMutablePointer<Double>
    ) {
        parallelFor(rows, grain: 16) { i in
            let row = z + i * classes
            let y = Int(labels[i])
            let zy = Double(row[y])
            var m = row[0]
            for j in 1..<classes where row[j] > m { m = row[j] }
            var sum = 0.0
            for j in 0..<classes {
                let e = S.exponential(row[j] - m)
                row[j] = e
                sum += Double(e)
            }
            loss[i] = Double(m) + log(sum) - zy
            let inv = scale / sum
            for j in 0..<classes { row[j] = S(Double(row[j]) * inv) }
            row[y] -= S(scale)
        }
    }

    /// One pass over `rows` rows of x (rows, d): writes per-row losses, gradW = Rᵀ x and gradB = Rᵀ 1
    /// with R = scale · (softmax(x Wᵀ + b) − onehot); `z` (≥ rows·classes) and `ones` (≥ rows) are scratch.
    static func pass<S: ProbeScalar>(
        x: [S], rows: Int, d: Int, weight: [S], bias: [S], classes: Int, labels: [Int32], scale: Double,
        z: inout [S], ones: [S], loss: inout [Double], gradW: inout [S], gradB: inout [S]
    ) {
        x.withUnsafeBufferPointer { px in
            z.withUnsafeMutableBufferPointer { pz in
                weight.withUnsafeBufferPointer { pw in
                    bias.withUnsafeBufferPointer { pb in
                        logits(x: px.baseAddress!, rows: rows, d: d, weight: pw.baseAddress!, bias: pb.baseAddress!,
                               classes: classes, into: pz.baseAddress!)
                    }
                }
                labels.withUnsafeBufferPointer { py in
                    loss.withUnsafeMutableBufferPointer { pl in
                        residual(z: pz.baseAddress!, rows: rows, classes: classes, labels: py.baseAddress!, scale: scale,
                                 loss: pl.baseAddress!)
                    }
                }
                ones.withUnsafeBufferPointer { po in
                    gradW.withUnsafeMutableBufferPointer { pgw in
                        gradB.withUnsafeMutableBufferPointer { pgb in
                            gradients(residual: pz.baseAddress!, x: px.baseAddress!, rows: rows, d: d, classes: classes,
                                      ones: po.baseAddress!, gradW: pgw.baseAddress!, gradB: pgb.baseAddress!)
                        }
                    }
                }
            }
        }
    }

    /// gradW (classes, d) = Rᵀ x, gradB (classes) = Rᵀ 1 (two BLAS calls).
    static func gradients<S: ProbeScalar>(
        residual r: UnsafePointer<S>, x: UnsafePointer<S>, rows: Int, d: Int, classes: Int, ones: UnsafePointer<S>,
        gradW: UnsafeMutablePointer<S>, gradB: UnsafeMutablePointer<S>
    ) {
        S.gemm(transA: true, transB: false, m: classes, n: d, k: rows, a: r, lda: classes, b: x, ldb: d,
               beta: 0, c: gradW, ldc: d)
        S.gemm(transA: true, transB: false, m: classes, n: 1, k: rows, a: r, lda: classes, b: ones, ldb: 1,
               beta: 0, c: gradB, ldc: 1)
    }
}

/// Multinomial logistic regression fitted exactly as scikit-learn's
/// `LogisticRegression(solver="lbfgs", C=C)` does (scikit-learn ≥ 1.1, `_logistic_regression_path`):
///
///     minimise  (1/n) Σᵢ −log softmax(W xᵢ + b)_{yᵢ}  +  (1 / (2 C n)) ‖W‖²_F
///
/// over W (classes, d) and b (classes), b not penalised, starting from zero, with ``LBFGS`` and
/// scikit-learn's stopping rules (`tol` on max|∇|, `max_iter`, L-BFGS-B's relative-reduction test)
/// at the objective scale of the chosen ``SklearnStopping`` version. This is C·Σ logloss + ½‖W‖²
/// divided by C·n, so it has the same minimiser as the textbook form.
///
/// The data term is one pass of two BLAS products per evaluation (`x Wᵀ` and `Rᵀ x`); with
/// ``Precision/float32`` the features and those products are float32 (sgemm) while parameters,
/// losses, gradients and the L-BFGS state stay float64.
public enum LogisticRegression {
    public enum Precision: String, Sendable, CaseIterable { case float32, float64 }

    /// Which scikit-learn's call of scipy's L-BFGS-B the stopping tests reproduce. The objective
    /// minimised and reported is always the mean form above, and the iterates do not depend on the
    /// choice (``LBFGS``); only where the fit stops does, because `tol` bounds max|∇| of the function
    /// L-BFGS-B is given, and scikit-learn changed that function's scale in 1.4 (PR #26721).
    public enum SklearnStopping: String, Sendable, CaseIterable, Codable {
        /// scikit-learn ≥ 1.4 (checked in 1.9.1, `_logistic_regression_path`): L-BFGS-B minimises
        /// the mean form, `l2_reg_strength = 1/(C·n)`, with `gtol = tol`, `ftol = 64·eps`, `maxls = 50`.
        case v1_4 = "1.4"
        /// scikit-learn ≤ 1.3 (checked in 1.3.2): L-BFGS-B minimises Σ logloss + ½ (1/C) ‖W‖²
        /// (`l2_reg_strength = 1/C`, unit sample weights) = n × the mean form, with `gtol = tol` and
        /// scipy's defaults `ftol = factr·eps = 1e7 · 2.22e-16 = 2.22e-9`, `maxls = 20`: at the same
        /// `tol` the gradient test is n times stricter, and the relative-reduction test (whose
        /// denominator max(|f_k|, |f_{k+1}|, 1) is no longer 1 at this scale) usually stops first.
        case v1_3 = "1.3"

        /// The convention of a scikit-learn version string ("1.3.2", "1.4", "1.9.1"); nil if unparsable.
        public init?(scikitLearnVersion version: String) {
            let parts = version.split(separator: ".").prefix(2).map { Int($0.prefix { $0.isNumber }) }
            guard parts.count == 2, let major = parts[0], let minor = parts[1] else { return nil }
            self = (major, minor) < (1, 4) ? .v1_3 : .v1_4
        }

        /// The full L-BFGS options for a fit on `rows` rows: `base`'s `tol`, `max_iter` and memory,
        /// this version's objective scale, `ftol` and `maxls`.
        public func lbfgsOptions(_ base: LBFGS.Options, rows: Int) -> LBFGS.Options {
            var o = base
            switch self {
            case .v1_4:
                o.objectiveScale = 1
                o.functionTolerance = 64 * Double.ulpOfOne
                o.maxLineSearchEvaluations = 50
            case .v1_3:
                o.objectiveScale = Double(rows)
                o.functionTolerance = 1e7 * Double.ulpOfOne
                o.maxLineSearchEvaluations = 20
            }
            return o
        }
    }

    public struct Options: Sendable {
        /// Fixed C (scikit-learn semantics); nil chooses it from `cGrid` on a held-out split.
        public var c: Double? = nil
        /// Candidates for C, fitted in increasing order, each warm-started from the previous one.
        public var cGrid: [Double] = [0.001, 0.01, 0.1, 1, 10]
        /// Fraction of each class's training rows held out to choose C (stratified, seeded).
        public var heldOutFraction = 0.1
        /// Seed of the held-out split (numpy RandomState MT19937, one shuffle per class in class order).
        public var seed: UInt32 = 0
        public var lbfgs: LBFGS.Options = {
            var o = LBFGS.Options()
            o.maxIterations = 100  // scikit-learn's max_iter
            o.gradientTolerance = 1e-4  // scikit-learn's tol
            return o
        }()
        public var precision: Precision = .float32
        /// The scikit-learn version whose stopping tests (objective scale, ftol, maxls) `lbfgs` runs
        /// with; overrides `lbfgs.objectiveScale`, `functionTolerance` and `maxLineSearchEvaluations`.
        public var stopping: SklearnStopping = .v1_4
        public init() {}
    }

    /// The objective on fixed standardised data: parameters θ = [W (classes·d, row-major), b (classes)].
    public final class Objective<S: ProbeScalar> {
        public let rows: Int, d: Int, classes: Int
        let x: [S]
        let labels: [Int32]
        public var c: Double
        private var w: [S], b: [S], z: [S], gw: [S], gb: [S], ones: [S], loss: [Double]

        public init(x: [S], rows: Int, d: Int, labels: [Int32], classes: Int, c: Double) {
            precondition(x.count == rows * d && labels.count == rows, "objective shapes")
            self.rows = rows; self.d = d; self.classes = classes
            self.x = x; self.labels = labels; self.c = c
            w = [S](repeating: 0, count: classes * d)
            b = [S](repeating: 0, count: classes)
            z = [S](repeating: 0, count: rows * classes)
            gw = w; gb = b
            ones = [S](repeating: 1, count: rows)
            loss = [Double](repeating: 0, count: rows)
        }

        public var parameterCount: Int { classes * d + classes }

        /// f(θ) and ∇f(θ).
        public func evaluate(_ theta: [Double], _ grad: inout [Double]) -> Double {
            let kd = classes * d
            for i in 0..<kd { w[i] = S(theta[i]) }
            for j in 0..<classes { b[j] = S(theta[kd + j]) }
            SoftmaxCrossEntropy.pass(x: x, rows: rows, d: d, weight: w, bias: b, classes: classes, labels: labels,
                                     scale: 1 / Double(rows), z: &z, ones: ones, loss: &loss, gradW: &gw, gradB: &gb)
            let lambda = 1 / (c * Double(rows))
            var data = 0.0
            for v in loss { data += v }  // sequential: deterministic
            var penalty = 0.0
            for i in 0..<kd {
                penalty += theta[i] * theta[i]
                grad[i] = Double(gw[i]) + lambda * theta[i]
            }
            for j in 0..<classes { grad[kd + j] = Double(gb[j]) }
            return data / Double(rows) + 0.5 * lambda * penalty
        }
    }

    /// Minimises the objective for one C from `start` (zero when nil).
    public static func fit<S: ProbeScalar>(
        _ objective: Objective<S>, start: [Double]? = nil, options: LBFGS.Options,
        progress: (Int, Double, Double) -> Void = { _, _, _ in }
    ) -> LBFGS.Result {
        LBFGS.minimize(
            x0: start ?? [Double](repeating: 0, count: objective.parameterCount), options: options,
            objective: objective.evaluate, progress: progress)
    }

    /// The head of a parameter vector θ.
    static func head(_ theta: [Double], classes: Int, d: Int, standardizer: FeatureStandardizer) -> LinearHead {
        LinearHead(classes: classes, dimension: d, weight: Array(theta[0..<(classes * d)]),
                   bias: Array(theta[(classes * d)...]), standardizer: standardizer)
    }

    /// Stratified held-out split: within each class (in class order) the row indices are shuffled by
    /// one numpy `RandomState(seed)` and the first round(fraction · count) (at least 1 when the class
    /// has ≥ 2 rows) are held out. Returns sorted index lists.
    public static func heldOutSplit(labels: [Int32], classes: Int, fraction: Double, seed: UInt32) -> (fit: [Int], heldOut: [Int]) {
        var byClass = [[Int]](repeating: [], count: classes)
        for (i, y) in labels.enumerated() { byClass[Int(y)].append(i) }
        var rng = NumpyRandomState(seed: seed)
        var fit: [Int] = [], held: [Int] = []
        for var rows in byClass {
            rng.shuffle(&rows)
            let h = rows.count >= 2 ? min(rows.count - 1, max(1, Int((fraction * Double(rows.count)).rounded()))) : 0
            held += rows[0..<h]
            fit += rows[h...]
        }
        return (fit.sorted(), held.sorted())
    }

    /// Standardises `x` (fitted on all of it), chooses C on a held-out split unless `options.c` is
    /// set, and refits on all rows with the chosen C (warm-started from the held-out fit).
    public static func fitSelectingC(
        _ x: FeatureMatrix, labels: [Int32], classes: Int, options: Options, progress: @escaping (String) -> Void = { _ in }
    ) throws -> (head: LinearHead, notes: [String]) {
        switch options.precision {
        case .float32: return try fitSelectingC(x, labels: labels, classes: classes, options: options, as: Float.self, progress: progress)
        case .float64: return try fitSelectingC(x, labels: labels, classes: classes, options: options, as: Double.self, progress: progress)
        }
    }

    static func fitSelectingC<S: ProbeScalar>(
        _ x: FeatureMatrix, labels: [Int32], classes: Int, options: Options, as _: S.Type, progress: @escaping (String) -> Void
    ) throws -> (head: LinearHead, notes: [String]) {
        guard x.rows == labels.count else {
            throw MetricsError.shapeMismatch(what: "labels for features", expected: [x.rows], actual: [labels.count])
        }
        for c in (options.c.map { [$0] } ?? options.cGrid) where !(c > 0 && c.isFinite) {
            throw MetricsError.invalidArgument(name: "C", value: "\(c)", reason: "must be positive")
        }
        let d = x.columns
        let standardizer = FeatureStandardizer(fitting: x)
        var notes: [String] = ["standardised (train mean / population std)", "precision \(options.precision.rawValue)",
                               "stopping tests of scikit-learn \(options.stopping == .v1_4 ? "≥ 1.4" : "≤ 1.3") (tol \(options.lbfgs.gradientTolerance))"]
        func describe(_ r: LBFGS.Result) -> String {
            String(format: "%d iterations, %d evaluations, f = %.10g, max|g| = %.3g, stop: ",
                   r.iterations, r.evaluations, r.f, r.gradientMaxAbs) + r.stop.rawValue
        }
        func iterationProgress(_ what: String) -> (Int, Double, Double) -> Void {
            { it, f, g in if it % 10 == 0 { progress("\(what) " + String(format: "iteration %d: f = %.8g, max|g| = %.3g", it, f, g)) } }
        }
        var chosenC: Double
        var start: [Double]? = nil
        if let c = options.c {
            chosenC = c
        } else {
            let split = heldOutSplit(labels: labels, classes: classes, fraction: options.heldOutFraction, seed: options.seed)
            guard !split.heldOut.isEmpty, !split.fit.isEmpty else {
                throw MetricsError.notEnoughSamples(what: "held-out split for choosing C", needed: 2 * classes, actual: x.rows)
            }
            let fitRows = x.rows(split.fit), heldRows = x.rows(split.heldOut)
            let heldLabels = split.heldOut.map { labels[$0] }
            let objective = Objective<S>(
                x: standardizer.apply(fitRows), rows: fitRows.rows, d: d, labels: split.fit.map { labels[$0] },
                classes: classes, c: 1)
            var best: (c: Double, top1: Double, theta: [Double])? = nil
            var theta: [Double]? = nil
            for c in options.cGrid.sorted() {
                objective.c = c
                let r = fit(objective, start: theta, options: options.stopping.lbfgsOptions(options.lbfgs, rows: objective.rows),
                            progress: iterationProgress("C=\(c)"))
                theta = r.x
                let top1 = head(r.x, classes: classes, d: d, standardizer: standardizer).evaluate(heldRows, labels: heldLabels).top1
                progress(String(format: "C = %g: held-out top-1 %.2f %% (", c, top1) + describe(r) + ")")
                notes.append(String(format: "C = %g: held-out top-1 %.3f %%", c, top1))
                if best == nil || top1 > best!.top1 { best = (c, top1, r.x) }  // ties: the smaller C
            }
            chosenC = best!.c
            start = best!.theta
            notes.append("C chosen on a stratified \(Int(options.heldOutFraction * 100)) % held-out split of train (seed \(options.seed)), "
                         + "\(split.fit.count) fit / \(split.heldOut.count) held-out rows; refit on all \(x.rows) rows")
        }
        let objective = Objective<S>(x: standardizer.apply(x), rows: x.rows, d: d, labels: labels, classes: classes, c: chosenC)
        let r = fit(objective, start: start, options: options.stopping.lbfgsOptions(options.lbfgs, rows: objective.rows),
                    progress: iterationProgress("fit C=\(chosenC)"))
        progress("C = \(chosenC): " + describe(r))
        notes.append(String(format: "C = %g: ", chosenC) + describe(r))
        return (head(r.x, classes: classes, d: d, standardizer: standardizer), notes)
    }
}
