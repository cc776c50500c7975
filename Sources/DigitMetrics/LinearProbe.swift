import DigitCheckpoint
import DigitTensor
import Foundation

// Linear probing of frozen features: the data types, the feature-source protocol a model-based
// extractor plugs into, standardisation, top-k evaluation and the per-layer runner. The two
// classifiers live in LinearProbeLogistic.swift (L-BFGS) and LinearProbeSGD.swift (upstream SGD).

/// Labelled features of one split, one (n, d) matrix per layer: `values` is (n, layers, d)
/// row-major, float32 — the layout of a features `.npy` of shape (N, L, D); (N, D) is one layer.
public struct ProbeFeatures: Sendable {
    public let count: Int
    public let layers: Int
    public let dimension: Int
    /// (count, layers, dimension) row-major.
    public var values: [Float]
    /// (count) class indices in `0..<classes`.
    public var labels: [Int32]

    public init(count: Int, layers: Int, dimension: Int, values: [Float], labels: [Int32]) throws {
        guard values.count == count * layers * dimension else {
            throw MetricsError.shapeMismatch(what: "probe features", expected: [count, layers, dimension], actual: [values.count])
        }
        guard labels.count == count else {
            throw MetricsError.shapeMismatch(what: "probe labels for \(count) feature rows", expected: [count], actual: [labels.count])
        }
        if let bad = labels.first(where: { $0 < 0 }) {
            throw MetricsError.invalidArgument(name: "label", value: "\(bad)", reason: "class indices must be >= 0")
        }
        self.count = count
        self.layers = layers
        self.dimension = dimension
        self.values = values
        self.labels = labels
    }

    /// Number of classes implied by the labels (max + 1).
    public var classCount: Int { Int(labels.max() ?? -1) + 1 }

    /// The (count, dimension) matrix of one layer.
    public func layer(_ l: Int) -> FeatureMatrix {
        precondition(l >= 0 && l < layers, "layer \(l) of \(layers)")
        if layers == 1 { return FeatureMatrix(rows: count, columns: dimension, values: values) }
        var out = [Float](repeating: 0, count: count * dimension)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count {
                    (dst.baseAddress! + i * dimension).update(from: src.baseAddress! + (i * layers + l) * dimension, count: dimension)
                }
            }
        }
        return FeatureMatrix(rows: count, columns: dimension, values: out)
    }

    /// Reads features (N, D) or (N, L, D) of any float/int dtype and labels (N) of any integer dtype.
    public init(featuresNPY: URL, labelsNPY: URL) throws {
        let x = try NPY.read(contentsOf: featuresNPY)
        let y = try NPY.read(contentsOf: labelsNPY)
        guard x.shape.count == 2 || x.shape.count == 3 else {
            throw MetricsError.invalidArgument(
                name: featuresNPY.path, value: "shape \(x.shape)", reason: "features must be (N, D) or (N, L, D)")
        }
        guard y.shape.count == 1, !y.dtype.isFloatingPoint else {
            throw MetricsError.invalidArgument(
                name: labelsNPY.path, value: "\(y.dtype) \(y.shape)", reason: "labels must be a 1-D integer array")
        }
        let layers = x.shape.count == 3 ? x.shape[1] : 1
        try self.init(count: x.shape[0], layers: layers, dimension: x.shape.last!, values: x.floats(),
                      labels: y.int64s().map { Int32(clamping: $0) })
    }
}

/// A dense (rows, columns) float32 matrix, row-major.
public struct FeatureMatrix: Sendable {
    public let rows: Int
    public let columns: Int
    public var values: [Float]

    public init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "FeatureMatrix(\(rows), \(columns)) with \(values.count) values")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    /// The rows at `indices`, in that order.
    public func rows(_ indices: [Int]) -> FeatureMatrix {
        var out = [Float](repeating: 0, count: indices.count * columns)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (r, i) in indices.enumerated() {
                    (dst.baseAddress! + r * columns).update(from: src.baseAddress! + i * columns, count: columns)
                }
            }
        }
        return FeatureMatrix(rows: indices.count, columns: columns, values: out)
    }
}

/// The two splits a probe needs. Model-based extraction (e.g. DiGIT's stage-1 GPT inner states,
/// mean-pooled) conforms to this protocol; ``NPYProbeFeatureSource`` reads precomputed arrays.
public protocol ProbeFeatureSource {
    /// One line for the output, saying where the features come from.
    var description: String { get }
    /// Names of the layers, in the order of the features' layer axis (e.g. `inner_states[3]`).
    func layerNames(count: Int) -> [String]
    /// The train and val features; `progress` receives one-line status messages.
    func load(progress: (String) -> Void) throws -> (train: ProbeFeatures, val: ProbeFeatures)
}

/// Precomputed features and labels in `.npy` files.
public struct NPYProbeFeatureSource: ProbeFeatureSource {
    public var trainFeatures: URL, trainLabels: URL, valFeatures: URL, valLabels: URL

    public init(trainFeatures: URL, trainLabels: URL, valFeatures: URL, valLabels: URL) {
        self.trainFeatures = trainFeatures
        self.trainLabels = trainLabels
        self.valFeatures = valFeatures
        self.valLabels = valLabels
    }

    public var description: String {
        "precomputed features \(trainFeatures.lastPathComponent) / \(valFeatures.lastPathComponent)"
    }

    public func layerNames(count: Int) -> [String] { (0..<count).map { "layer \($0)" } }

    public func load(progress: (String) -> Void) throws -> (train: ProbeFeatures, val: ProbeFeatures) {
        progress("reading \(trainFeatures.path)")
        let train = try ProbeFeatures(featuresNPY: trainFeatures, labelsNPY: trainLabels)
        progress("reading \(valFeatures.path)")
        let val = try ProbeFeatures(featuresNPY: valFeatures, labelsNPY: valLabels)
        guard train.layers == val.layers, train.dimension == val.dimension else {
            throw MetricsError.shapeMismatch(
                what: "val features against train features (layers, dim)",
                expected: [train.layers, train.dimension], actual: [val.layers, val.dimension])
        }
        return (train, val)
    }
}

/// Per-column standardisation as scikit-learn's `StandardScaler` does it: mean and population
/// standard deviation (ddof 0) of the training rows, in float64; a column whose standard deviation
/// is zero (or below 10·eps of its mean's scale) gets scale 1.
public struct FeatureStandardizer: Sendable {
    public var mean: [Double]
    public var scale: [Double]

    public init(fitting x: FeatureMatrix) {
        let n = x.rows, d = x.columns
        var mean = [Double](repeating: 0, count: d)
        var m2 = [Double](repeating: 0, count: d)
        x.values.withUnsafeBufferPointer { p in
            for i in 0..<n {
                let row = p.baseAddress! + i * d
                for j in 0..<d { mean[j] += Double(row[j]) }
            }
            for j in 0..<d { mean[j] /= Double(max(n, 1)) }
            for i in 0..<n {
                let row = p.baseAddress! + i * d
                for j in 0..<d {
                    let c = Double(row[j]) - mean[j]
                    m2[j] += c * c
                }
            }
        }
        self.mean = mean
        // sklearn's _handle_zeros_in_scale: scales < 10·eps·max(1, |mean|)-ish become 1.
        self.scale = zip(m2, mean).map { m2, mu in
            let s = (m2 / Double(max(n, 1))).squareRoot()
            return s < 10 * Double.ulpOfOne * max(1, abs(mu)) ? 1 : s
        }
    }

    /// `(x - mean) / scale`, rounded to `S`.
    public func apply<S: ProbeScalar>(_ x: FeatureMatrix, as _: S.Type = S.self) -> [S] {
        let d = x.columns
        precondition(d == mean.count, "standardizer for \(mean.count) columns applied to \(d)")
        var out = [S](repeating: 0, count: x.rows * d)
        x.values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let s = src.baseAddress!, o = dst.baseAddress!
                parallelFor(x.rows, grain: 256) { i in
                    for j in 0..<d { o[i * d + j] = S((Double(s[i * d + j]) - mean[j]) / scale[j]) }
                }
            }
        }
        return out
    }
}

/// Top-k accuracy of class scores, ties broken toward the lower class index (the order of a
/// stable descending sort). `scores` is (n, classes) row-major.
public func topKAccuracy<S: BinaryFloatingPoint>(scores: UnsafeBufferPointer<S>, classes: Int, labels: [Int32], k: Int) -> Double {
    let n = labels.count
    precondition(scores.count == n * classes, "scores for \(n) rows of \(classes) classes")
    var correct = 0
    for i in 0..<n {
        let row = scores.baseAddress! + i * classes
        let y = Int(labels[i])
        guard y < classes else { continue }  // a class the classifier never saw is never predicted
        let sy = row[y]
        var above = 0  // classes ranked before y
        for j in 0..<classes where row[j] > sy || (row[j] == sy && j < y) { above += 1 }
        if above < k { correct += 1 }
    }
    return n == 0 ? 0 : 100 * Double(correct) / Double(n)
}

/// A trained linear head `scores = standardize(x) Wᵀ + b`.
public struct LinearHead: Sendable {
    public let classes: Int
    public let dimension: Int
    /// (classes, dimension) as `nn.Linear.weight` stores it, float64.
    public var weight: [Double]
    /// (classes).
    public var bias: [Double]
    /// Applied to features before the head (nil: raw features).
    public var standardizer: FeatureStandardizer?

    public init(classes: Int, dimension: Int, weight: [Double], bias: [Double], standardizer: FeatureStandardizer?) {
        precondition(weight.count == classes * dimension && bias.count == classes, "LinearHead shapes")
        self.classes = classes
        self.dimension = dimension
        self.weight = weight
        self.bias = bias
        self.standardizer = standardizer
    }

    /// (rows, classes) scores in float32 (sgemm).
    public func scores(_ x: FeatureMatrix) -> [Float] {
        precondition(x.columns == dimension, "head of dim \(dimension) on features of dim \(x.columns)")
        let input: [Float] = standardizer.map { $0.apply(x, as: Float.self) } ?? x.values
        let w = weight.map(Float.init)
        var out = [Float](repeating: 0, count: x.rows * classes)
        out.withUnsafeMutableBufferPointer { o in
            for i in 0..<x.rows { for c in 0..<classes { o[i * classes + c] = Float(bias[c]) } }
            input.withUnsafeBufferPointer { a in
                w.withUnsafeBufferPointer { b in
                    Gemm.sgemm(transB: true, m: x.rows, n: classes, k: dimension, a: a.baseAddress!, lda: dimension,
                               b: b.baseAddress!, ldb: dimension, beta: 1, c: o.baseAddress!, ldc: classes)
                }
            }
        }
        return out
    }

    /// Top-1 and top-5 accuracy (percent) on labelled features.
    public func evaluate(_ x: FeatureMatrix, labels: [Int32]) -> (top1: Double, top5: Double) {
        let s = scores(x)
        return s.withUnsafeBufferPointer { p in
            (topKAccuracy(scores: p, classes: classes, labels: labels, k: 1),
             topKAccuracy(scores: p, classes: classes, labels: labels, k: 5))
        }
    }
}

/// Which classifier a probe trains.
public enum ProbeClassifier: String, CaseIterable, Sendable, Codable {
    /// Multinomial logistic regression on standardised features, L-BFGS, C chosen on a held-out split.
    case lbfgs
    /// The upstream recipe: one linear head, SGD with momentum and a cosine schedule.
    case sgd

    public static func parse(_ text: String) throws -> ProbeClassifier {
        if let c = ProbeClassifier(rawValue: text) { return c }
        throw MetricsError.unknownID(kind: "classifier", id: text, valid: allCases.map(\.rawValue))
    }
}

/// The result for one layer.
public struct ProbeLayerResult: Sendable, Codable, Equatable {
    public var layer: Int
    public var name: String
    public var top1: Double
    public var top5: Double
    /// Classifier details: the chosen C and held-out accuracies, iterations, final loss.
    public var notes: [String]
}

/// All layers and the best one.
public struct ProbeResult: Sendable, Codable, Equatable {
    public var classifier: ProbeClassifier
    public var layers: [ProbeLayerResult]
    /// Index into `layers` of the best layer: highest val top-1, ties to the earlier layer. This is
    /// how DiGIT reports its number (the best layer's val top-1, chosen on val itself).
    public var best: Int
    public var notes: [String]

    public static func bestIndex(_ layers: [ProbeLayerResult]) -> Int {
        var best = 0
        for (i, r) in layers.enumerated() where r.top1 > layers[best].top1 { best = i }
        return best
    }
}

/// Trains one classifier per selected layer of `train` and evaluates it on `val`.
public enum LinearProbe {
    public struct Options: Sendable {
        public var classifier: ProbeClassifier = .lbfgs
        public var logistic = LogisticRegression.Options()
        public var sgd = SGDHead.Options()
        /// Standardise features for the SGD head (the L-BFGS classifier always standardises;
        /// upstream's SGD head sees raw features).
        public var standardizeSGD = false
        public init() {}
    }

    public static func run(
        train: ProbeFeatures, val: ProbeFeatures, layers selected: [Int]? = nil, layerNames: [String]? = nil,
        options: Options, progress: @escaping (String) -> Void = { _ in }
    ) throws -> ProbeResult {
        guard train.layers == val.layers, train.dimension == val.dimension else {
            throw MetricsError.shapeMismatch(
                what: "val features against train features (layers, dim)",
                expected: [train.layers, train.dimension], actual: [val.layers, val.dimension])
        }
        let classes = train.classCount
        guard classes >= 2 else { throw MetricsError.notEnoughSamples(what: "probe classes", needed: 2, actual: classes) }
        let layers = selected ?? Array(0..<train.layers)
        for l in layers where l < 0 || l >= train.layers {
            throw MetricsError.invalidArgument(name: "layer", value: "\(l)", reason: "features have \(train.layers) layers")
        }
        var results: [ProbeLayerResult] = []
        for (position, l) in layers.enumerated() {
            let name = layerNames?[l] ?? "layer \(l)"
            let say: (String) -> Void = { progress("[\(position + 1)/\(layers.count) \(name)] \($0)") }
            let xTrain = train.layer(l), xVal = val.layer(l)
            let head: LinearHead, notes: [String]
            switch options.classifier {
            case .lbfgs:
                let fit = try LogisticRegression.fitSelectingC(
                    xTrain, labels: train.labels, classes: classes, options: options.logistic, progress: say)
                head = fit.head
                notes = fit.notes
            case .sgd:
                let fit = try SGDHead.train(
                    xTrain, labels: train.labels, classes: classes, standardize: options.standardizeSGD,
                    options: options.sgd, progress: say)
                head = fit.head
                notes = fit.notes
            }
            let (top1, top5) = head.evaluate(xVal, labels: val.labels)
            say(String(format: "val top-1 %.2f %%, top-5 %.2f %%", top1, top5))
            results.append(ProbeLayerResult(layer: l, name: name, top1: top1, top5: top5, notes: notes))
        }
        return ProbeResult(
            classifier: options.classifier, layers: results, best: ProbeResult.bestIndex(results),
            notes: ["best layer = highest val top-1 (ties: earlier layer), as DiGIT reports it"])
    }
}
