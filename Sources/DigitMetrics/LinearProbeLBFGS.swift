import Foundation

/// Limited-memory BFGS with a line search that enforces the strong Wolfe conditions, the method
/// scikit-learn's `solver="lbfgs"` runs through `scipy.optimize.minimize(method="L-BFGS-B")`
/// (without bounds). Written from Nocedal & Wright, *Numerical Optimization* (2nd ed.):
/// Algorithm 7.4 (two-loop recursion, H₀ = (sᵀy / yᵀy) I), Algorithms 3.5/3.6 (bracketing and
/// zoom with safeguarded cubic interpolation, eq. 3.59).
///
/// Parameters that mirror scipy/scikit-learn: memory 10 (`maxcor`), at most 50 evaluations per line
/// search (`maxls`, scikit-learn ≥ 1.4's value; scipy's default is 20), sufficient decrease c₁ = 10⁻³
/// and curvature c₂ = 0.9 (L-BFGS-B's `ftol`/`gtol` of `dcsrch`), first step 1/‖g‖₂ then 1, and the
/// stopping tests of L-BFGS-B's `mainlb`, in its order, after every iteration (the first also at x₀):
/// max|gᵢ| ≤ `gradientTolerance` (`pgtol`, scikit-learn's `tol`), then the relative reduction
/// (f_k − f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) ≤ `functionTolerance` (`factr`·eps: scipy's default
/// 2.22e-9, scikit-learn ≥ 1.4 passes 64·eps), or `maxIterations`. Both tests are applied to
/// `objectiveScale`·f and its gradient: the iterates of L-BFGS with this line search do not depend on
/// the scale of f (the direction, the Wolfe conditions, the first trial point x − g/‖g‖ and the
/// curvature-skip test are all invariant), only where it stops does, so minimising f and testing
/// s·f stops exactly where minimising s·f would. A curvature pair with sᵀy ≤ eps·(−gᵀs) is skipped;
/// a failed line search clears the memory and retries once along −g, as L-BFGS-B does.
///
/// Deterministic: all reductions are sequential loops in float64.
public enum LBFGS {
    public struct Options: Sendable {
        public var memory = 10
        public var maxIterations = 100
        public var gradientTolerance = 1e-4
        public var functionTolerance = 64 * Double.ulpOfOne
        public var maxLineSearchEvaluations = 50
        /// The stopping tests see `objectiveScale`·f (see the type's comment); 1 = f itself.
        public var objectiveScale = 1.0
        public var c1 = 1e-3
        public var c2 = 0.9
        public init() {}
    }

    public enum Stop: String, Sendable, Codable {
        case gradient = "max|g| <= tolerance"
        case function = "relative reduction of f <= tolerance"
        case iterations = "iteration limit reached"
        case lineSearch = "line search failed (precision limit)"
    }

    public struct Result: Sendable {
        public var x: [Double]
        public var f: Double
        public var gradientMaxAbs: Double
        public var iterations: Int
        public var evaluations: Int
        public var stop: Stop
    }

    /// `objective(x, &g)` returns f(x) and writes ∇f(x) into `g` (same length as x).
    /// `progress(iteration, f, max|g|)` is called after each iteration.
    public static func minimize(
        x0: [Double], options: Options = Options(),
        objective: ([Double], inout [Double]) -> Double,
        progress: (Int, Double, Double) -> Void = { _, _, _ in }
    ) -> Result {
        let p = x0.count
        var x = x0
        var g = [Double](repeating: 0, count: p)
        var f = objective(x, &g)
        var evaluations = 1
        var sHist: [[Double]] = [], yHist: [[Double]] = [], rhoHist: [Double] = []
        var d = [Double](repeating: 0, count: p)
        var iteration = 0
        var stop = Stop.iterations
        var search = LineSearch(p: p, options: options)

        let scale = options.objectiveScale
        precondition(scale > 0 && scale.isFinite, "objectiveScale must be positive")
        if scale * maxAbs(g) <= options.gradientTolerance {
            return Result(x: x, f: f, gradientMaxAbs: maxAbs(g), iterations: 0, evaluations: 1, stop: .gradient)
        }
        while iteration < options.maxIterations {
            // Search direction d = -H g (two-loop recursion).
            twoLoop(g: g, s: sHist, y: yHist, rho: rhoHist, into: &d)
            var slope = dot(g, d)
            if !(slope < 0) {  // not a descent direction (numerical trouble): restart along -g
                sHist.removeAll(); yHist.removeAll(); rhoHist.removeAll()
                for i in 0..<p { d[i] = -g[i] }
                slope = dot(g, d)
            }
            let firstStep = sHist.isEmpty && iteration == 0 ? 1 / norm2(d) : 1
            var outcome = search.run(x: x, f: f, slope: slope, d: d, step: firstStep, objective: objective)
            evaluations += outcome.evaluations
            if !outcome.ok && !sHist.isEmpty {
                // L-BFGS-B: drop the memory and retry along the steepest descent direction.
                sHist.removeAll(); yHist.removeAll(); rhoHist.removeAll()
                for i in 0..<p { d[i] = -g[i] }
                slope = dot(g, d)
                outcome = search.run(x: x, f: f, slope: slope, d: d, step: 1 / norm2(d), objective: objective)
                evaluations += outcome.evaluations
            }
            guard outcome.ok else {
                stop = .lineSearch
                break
            }
            iteration += 1
            // Curvature pair.
            var s = [Double](repeating: 0, count: p), y = s
            for i in 0..<p {
                s[i] = outcome.step * d[i]
                y[i] = search.gBest[i] - g[i]
            }
            let sy = dot(s, y)
            if sy > Double.ulpOfOne * (-slope * outcome.step) {
                if sHist.count == options.memory {
                    sHist.removeFirst(); yHist.removeFirst(); rhoHist.removeFirst()
                }
                sHist.append(s); yHist.append(y); rhoHist.append(1 / sy)
            }
            let fOld = f
            f = outcome.f
            for i in 0..<p { x[i] += outcome.step * d[i] }
            swap(&g, &search.gBest)
            let gMax = maxAbs(g)
            progress(iteration, f, gMax)
            if scale * gMax <= options.gradientTolerance { stop = .gradient; break }
            if scale * (fOld - f) <= options.functionTolerance * max(scale * abs(fOld), scale * abs(f), 1) { stop = .function; break }
        }
        return Result(x: x, f: f, gradientMaxAbs: maxAbs(g), iterations: iteration, evaluations: evaluations, stop: stop)
    }

    // MARK: - Two-loop recursion

    static func twoLoop(g: [Double], s: [[Double]], y: [[Double]], rho: [Double], into d: inout [Double]) {
        let m = s.count
        for i in 0..<g.count { d[i] = g[i] }
        var alpha = [Double](repeating: 0, count: m)
        for j in stride(from: m - 1, through: 0, by: -1) {
            alpha[j] = rho[j] * dot(s[j], d)
            axpy(-alpha[j], y[j], &d)
        }
        if m > 0 {
            let gamma = dot(s[m - 1], y[m - 1]) / dot(y[m - 1], y[m - 1])
            for i in 0..<d.count { d[i] *= gamma }
        }
        for j in 0..<m {
            let beta = rho[j] * dot(y[j], d)
            axpy(alpha[j] - beta, s[j], &d)
        }
        for i in 0..<d.count { d[i] = -d[i] }
    }

    // MARK: - Strong Wolfe line search

    /// Bracketing + zoom (Nocedal & Wright Algorithms 3.5 and 3.6), φ(α) = f(x + α d).
    struct LineSearch {
        let options: Options
        var xTrial: [Double]
        var gTrial: [Double]
        /// The gradient at the accepted (or best sufficient-decrease) point.
        var gBest: [Double]

        init(p: Int, options: Options) {
            self.options = options
            xTrial = [Double](repeating: 0, count: p)
            gTrial = xTrial
            gBest = xTrial
        }

        struct Outcome { var ok: Bool; var step: Double; var f: Double; var evaluations: Int }

        private struct Point { var step: Double; var f: Double; var slope: Double }

        mutating func run(
            x: [Double], f f0: Double, slope slope0: Double, d: [Double], step initial: Double,
            objective: ([Double], inout [Double]) -> Double
        ) -> Outcome {
            let c1 = options.c1, c2 = options.c2
            var evaluations = 0
            // The best point with sufficient decrease so far (its gradient is kept in gBest).
            var best: Point?
            func evaluate(_ step: Double) -> Point {
                for i in 0..<x.count { xTrial[i] = x[i] + step * d[i] }
                let f = objective(xTrial, &gTrial)
                evaluations += 1
                let pt = Point(step: step, f: f.isFinite ? f : .infinity, slope: dot(gTrial, d))
                if pt.f <= f0 + c1 * step * slope0, pt.f < (best?.f ?? f0) {
                    best = pt
                    swap(&gBest, &gTrial)
                }
                return pt
            }
            func accept(_ pt: Point) -> Outcome {
                // `evaluate` keeps the gradient of the best sufficient-decrease point; an accepted point
                // always is that point (it satisfies sufficient decrease and has the lowest f seen among
                // those, or the zoom would have moved `hi` to it).
                if best?.step != pt.step { return fail() }
                return Outcome(ok: true, step: pt.step, f: pt.f, evaluations: evaluations)
            }
            func fail() -> Outcome {
                if let b = best, b.f < f0 { return Outcome(ok: true, step: b.step, f: b.f, evaluations: evaluations) }
                return Outcome(ok: false, step: 0, f: f0, evaluations: evaluations)
            }
            func strongWolfe(_ pt: Point) -> Bool {
                pt.f <= f0 + c1 * pt.step * slope0 && abs(pt.slope) <= -c2 * slope0
            }

            var previous = Point(step: 0, f: f0, slope: slope0)
            var step = initial
            var lo: Point, hi: Point
            // Bracketing phase.
            while true {
                let pt = evaluate(step)
                if pt.f > f0 + c1 * step * slope0 || (evaluations > 1 && pt.f >= previous.f) {
                    lo = previous; hi = pt
                    break
                }
                if strongWolfe(pt) { return accept(pt) }
                if pt.slope >= 0 {
                    lo = pt; hi = previous
                    break
                }
                if evaluations >= options.maxLineSearchEvaluations { return fail() }
                // Extrapolate: the cubic's minimiser, kept within [1.1, 5] times the current step gap.
                let gap = pt.step - previous.step
                let cubic = Self.cubicMinimizer(previous, pt)
                let lower = pt.step + 0.1 * gap, upper = pt.step + 4 * gap
                step = cubic.map { min(max($0, lower), upper) } ?? upper
                previous = pt
            }
            // Zoom phase: lo satisfies sufficient decrease and has the lowest f of the bracket ends.
            while evaluations < options.maxLineSearchEvaluations {
                let width = abs(hi.step - lo.step)
                if width <= Double.ulpOfOne * max(lo.step, hi.step) { break }
                let a = min(lo.step, hi.step), b = max(lo.step, hi.step)
                var trial = Self.cubicMinimizer(lo, hi) ?? (a + b) / 2
                if !(trial > a + 0.1 * width && trial < b - 0.1 * width) { trial = (a + b) / 2 }
                let pt = evaluate(trial)
                if pt.f > f0 + c1 * trial * slope0 || pt.f >= lo.f {
                    hi = pt
                } else {
                    if abs(pt.slope) <= -c2 * slope0 { return accept(pt) }
                    if pt.slope * (hi.step - lo.step) >= 0 { hi = lo }
                    lo = pt
                }
            }
            return fail()
        }

        /// Minimiser of the cubic interpolating φ and φ' at two points (N&W eq. 3.59), or nil.
        private static func cubicMinimizer(_ p: Point, _ q: Point) -> Double? {
            let d1 = p.slope + q.slope - 3 * (p.f - q.f) / (p.step - q.step)
            let disc = d1 * d1 - p.slope * q.slope
            guard disc >= 0, p.step != q.step else { return nil }
            let d2 = (q.step > p.step ? 1.0 : -1.0) * disc.squareRoot()
            let denom = q.slope - p.slope + 2 * d2
            guard denom != 0 else { return nil }
            let t = q.step - (q.step - p.step) * (q.slope + d2 - d1) / denom
            return t.isFinite ? t : nil
        }
    }

    // MARK: - Vector helpers (sequential float64: deterministic)

    @inline(__always) static func dot(_ a: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in for i in 0..<pa.count { s += pa[i] * pb[i] } } }
        return s
    }

    @inline(__always) static func axpy(_ alpha: Double, _ x: [Double], _ y: inout [Double]) {
        x.withUnsafeBufferPointer { px in y.withUnsafeMutableBufferPointer { py in for i in 0..<px.count { py[i] += alpha * px[i] } } }
    }

    static func norm2(_ a: [Double]) -> Double { dot(a, a).squareRoot() }
    static func maxAbs(_ a: [Double]) -> Double { a.reduce(0) { max($0, abs($1)) } }
}
