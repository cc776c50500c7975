import DigitTensor
import Foundation

/// The upstream linear-probe recipe as a head trainer on fixed features.
///
/// DAMO-NLP-SG/DiGIT @ cd6d8ca, `config/stage1/dino_base_linearprobe_sgd.yaml` with
/// `scripts/train_stage1_linearprobe.sh` and `fairseq_user/image_generation_stage1/{model_linearprobe,sgd_hydra}.py`:
/// one `nn.Linear(1024, 1000)` per layer (weight ~ N(0, 0.01²), bias 0) on `inner_states[n].mean(0)`,
/// cross-entropy averaged over the batch (label smoothing 0), `torch.optim.SGD(lr=0.4, momentum=0.9,
/// weight_decay=0)` with the lr used as given (no batch-size scaling; 4 GPUs × 256 = 1024 per update),
/// fairseq's `cosine` schedule with no warmup and min_lr 0 over `max_update` = 100 000 updates:
/// lr_t = 0.4 · ½ (1 + cos(π t / T)) for update t = 0 … T−1.
///
/// Differences, by necessity: the images were augmented (RandomResizedCrop + flip) each epoch
/// upstream; cached features cannot be, so every epoch sees the same feature of each image.
/// Batches here are consecutive slices of a seeded permutation per epoch (numpy `RandomState`), the
/// last batch of an epoch may be smaller, and the arithmetic is float32 (upstream: fp16 mixed precision).
public enum SGDHead {
    public struct Options: Sendable {
        public var learningRate = 0.4
        public var momentum = 0.9
        public var weightDecay = 0.0
        public var batchSize = 1024
        /// Number of updates (upstream `max_update`).
        public var steps = 100_000
        public var initStd = 0.01
        public var seed: UInt32 = 0
        public init() {}
    }

    /// fairseq `cosine` (warmup 0, min_lr 0, period = steps): the lr of update `t` (0-based).
    public static func learningRate(step t: Int, options: Options) -> Double {
        options.learningRate * 0.5 * (1 + cos(Double.pi * Double(t) / Double(options.steps)))
    }

    public static func train(
        _ x: FeatureMatrix, labels: [Int32], classes: Int, standardize: Bool, options: Options,
        progress: (String) -> Void = { _ in }
    ) throws -> (head: LinearHead, notes: [String]) {
        guard x.rows == labels.count else {
            throw MetricsError.shapeMismatch(what: "labels for features", expected: [x.rows], actual: [labels.count])
        }
        guard options.steps > 0, options.batchSize > 0, x.rows > 0 else {
            throw MetricsError.invalidArgument(name: "steps/batch size", value: "\(options.steps)/\(options.batchSize)", reason: "must be positive")
        }
        let n = x.rows, d = x.columns, k = classes
        let standardizer = standardize ? FeatureStandardizer(fitting: x) : nil
        let features: [Float] = standardizer.map { $0.apply(x, as: Float.self) } ?? x.values
        var rng = NumpyRandomState(seed: options.seed)
        // weight ~ N(0, initStd²) (Box–Muller on the MT19937 stream), bias 0.
        var weight = [Float](repeating: 0, count: k * d)
        for i in 0..<weight.count { weight[i] = Float(rng.boxMullerNormal() * options.initStd) }
        var bias = [Float](repeating: 0, count: k)
        var momentumW = [Float](repeating: 0, count: k * d), momentumB = [Float](repeating: 0, count: k)
        let maxBatch = min(options.batchSize, n)
        var batch = [Float](repeating: 0, count: maxBatch * d)
        var batchLabels = [Int32](repeating: 0, count: maxBatch)
        var z = [Float](repeating: 0, count: maxBatch * k)
        var loss = [Double](repeating: 0, count: maxBatch)
        var gradW = [Float](repeating: 0, count: k * d), gradB = [Float](repeating: 0, count: k)
        let ones = [Float](repeating: 1, count: maxBatch)
        var order = rng.permutation(n)
        var cursor = 0, epoch = 0
        var runningLoss = 0.0, runningCount = 0
        let mu = Float(options.momentum), wd = Float(options.weightDecay)
        let start = Date()
        for step in 0..<options.steps {
            if cursor >= n {
                order = rng.permutation(n)
                cursor = 0
                epoch += 1
            }
            let rows = min(options.batchSize, n - cursor)
            features.withUnsafeBufferPointer { src in
                batch.withUnsafeMutableBufferPointer { dst in
                    for r in 0..<rows {
                        let row = order[cursor + r]
                        (dst.baseAddress! + r * d).update(from: src.baseAddress! + row * d, count: d)
                        batchLabels[r] = labels[row]
                    }
                }
            }
            cursor += rows
            SoftmaxCrossEntropy.pass(x: batch, rows: rows, d: d, weight: weight, bias: bias, classes: k, labels: batchLabels,
                                     scale: 1 / Double(rows), z: &z, ones: ones, loss: &loss, gradW: &gradW, gradB: &gradB)
            for r in 0..<rows { runningLoss += loss[r] }
            runningCount += rows
            // torch.optim.SGD: g += wd·p; buf = μ·buf + g (buf = g on the first step); p -= lr·buf.
            let lr = Float(learningRate(step: step, options: options))
            let first = step == 0
            func update(_ p: inout [Float], _ g: [Float], _ buf: inout [Float], decay: Float) {
                p.withUnsafeMutableBufferPointer { pp in
                    g.withUnsafeBufferPointer { pg in
                        buf.withUnsafeMutableBufferPointer { pbuf in
                            for j in 0..<pp.count {
                                let gj = pg[j] + decay * pp[j]
                                pbuf[j] = first ? gj : mu * pbuf[j] + gj
                                pp[j] -= lr * pbuf[j]
                            }
                        }
                    }
                }
            }
            update(&weight, gradW, &momentumW, decay: wd)
            update(&bias, gradB, &momentumB, decay: wd)
            if (step + 1) % 500 == 0 || step + 1 == options.steps {
                let elapsed = Date().timeIntervalSince(start)
                let eta = elapsed / Double(step + 1) * Double(options.steps - step - 1)
                progress(String(format: "step %d/%d (epoch %d): lr %.4g, mean train loss %.4f, %.0f s, ETA %.0f s",
                                step + 1, options.steps, epoch, Double(lr), runningLoss / Double(max(runningCount, 1)), elapsed, eta))
                runningLoss = 0
                runningCount = 0
            }
        }
        let notes = [
            String(format: "SGD lr %g (cosine to 0), momentum %g, weight decay %g, batch %d, %d steps (%.2f epochs of %d rows), seed %u",
                   options.learningRate, options.momentum, options.weightDecay, options.batchSize, options.steps,
                   Double(options.steps) / Double((n + options.batchSize - 1) / options.batchSize), n, options.seed),
            standardize ? "standardised (train mean / population std)" : "raw features (as upstream)",
            "no augmentation: features are fixed (upstream re-augments images every epoch)",
        ]
        let head = LinearHead(classes: k, dimension: d, weight: weight.map(Double.init), bias: bias.map(Double.init),
                              standardizer: standardizer)
        return (head, notes)
    }
}

extension NumpyRandomState {
    /// A standard normal draw by Box–Muller from two 53-bit uniforms (one value per call; not numpy's
    /// `standard_normal` stream).
    public mutating func boxMullerNormal() -> Double {
        let u1 = (Double(nextUInt64() >> 11) + 1) / 9007199254740992.0  // (0, 1]
        let u2 = Double(nextUInt64() >> 11) / 9007199254740992.0  // [0, 1)
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
