import DigitTensor

// Linear-probe features of the class-conditional GPTs (LlamaGen `Transformer`, Open-MAGVIT2's
// spatial blocks). Neither upstream probes its GPT; this follows DiGIT's recipe
// (model_linearprobe.py: one teacher-forced pass over [start token, 256 image tokens], every
// block's output mean-pooled over all positions) with the class slot as the start token.

/// How one block's per-position hidden states (B, 1 + T, C) become one feature vector.
public enum GPTProbePool: String, CaseIterable, Sendable {
    /// The average over all 1 + T positions (the class slot and every image token), as DiGIT pools
    /// its stage-1 GPT.
    case mean
    /// The last position: the input slot of image token T − 1, the only position whose causal
    /// attention has seen the whole image. (The class slot itself sees only the class embedding,
    /// so under causal attention it carries nothing about the image; there is no `cls` pooling.)
    case last
}

/// How each sequence of a (B, S, C) tensor becomes one row: one position, or the mean of a range
/// of positions summed in float64 (an exact reference for torch's float32 mean). Shared by the
/// probe poolers (DINOv2 and the GPTs).
enum SequencePooling {
    case row(Int)
    case mean(Range<Int>)

    /// (B, S, C) → (B·C) floats.
    func callAsFunction(_ h: Tensor) -> [Float] {
        let (b, s, c) = (h.dim(0), h.dim(1), h.dim(2))
        var out = [Float](repeating: 0, count: b * c)
        h.withUnsafeBufferPointer { p in
            for bi in 0..<b {
                let base = p.baseAddress! + bi * s * c
                switch self {
                case let .row(r):
                    for k in 0..<c { out[bi * c + k] = base[r * c + k] }
                case let .mean(rows):
                    var acc = [Double](repeating: 0, count: c)
                    for j in rows { for k in 0..<c { acc[k] += Double(base[j * c + k]) } }
                    for k in 0..<c { out[bi * c + k] = Float(acc[k] / Double(rows.count)) }
                }
            }
        }
        return out
    }
}

/// Block outputs pooled per layer, assembled as (B, layers.count, C) in the order of `layers`.
/// `run(depth, onLayer)` performs one pass through the first `depth` blocks.
func pooledBlockOutputs(
    layers: [Int], blockCount: Int, pool: GPTProbePool, run: (Int, @escaping (Int, Tensor) -> Void) -> Void
) -> Tensor {
    precondition(!layers.isEmpty && layers.allSatisfy { (0..<blockCount).contains($0) }, "GPT probe: layers \(layers) outside 0..<\(blockCount)")
    var pooled: [Int: [Float]] = [:]  // block → (B, C)
    var b = 0, c = 0
    run(layers.max()! + 1) { i, h in  // h: (B, S, C)
        guard layers.contains(i) else { return }
        (b, c) = (h.dim(0), h.dim(2))
        pooled[i] = (pool == .last ? SequencePooling.row(h.dim(1) - 1) : .mean(0..<h.dim(1)))(h)
    }
    return stackPooled(pooled, layers: layers, batch: b, width: c)
}

/// (B, layers.count, C) from per-block pooled rows (B·C each), in the order of `layers`.
func stackPooled(_ pooled: [Int: [Float]], layers: [Int], batch b: Int, width c: Int) -> Tensor {
    Tensor(shape: [b, layers.count, c]) { o in
        for bi in 0..<b {
            for (l, block) in layers.enumerated() {
                pooled[block]!.withUnsafeBufferPointer { src in
                    (o.baseAddress! + (bi * layers.count + l) * c).initialize(from: src.baseAddress! + bi * c, count: c)
                }
            }
        }
    }
}

extension LlamaGenGPT {
    /// Pooled outputs of the blocks `layers` (indices into `layers.0 …`, any order) of the
    /// teacher-forced pass over [class, tokens]: (B, layers.count, C). `classID` defaults to the
    /// null class (`numClasses`, the unconditional row used for CFG): images are probed without a label.
    public func probeFeatures(tokens: [[Int]], layers: [Int], pool: GPTProbePool, classID: Int? = nil) -> Tensor {
        let classes = [Int](repeating: classID ?? config.numClasses, count: tokens.count)
        return pooledBlockOutputs(layers: layers, blockCount: config.nLayer, pool: pool) { depth, onLayer in
            _ = hiddenStates(classes: classes, tokens: tokens, depth: depth, onLayer: onLayer)
        }
    }
}

extension OpenMAGVIT2AR {
    /// `(pre, post)` of full v2 LFQ indices: pre = the low `factorized_bits[0]` bits, post = the rest
    /// (the inverse of `decode_to_img`'s `pre + 2^b0 · post`).
    public func splitIndices(_ indices: [[Int]]) -> (pre: [[Int]], post: [[Int]]) {
        let b0 = config.factorizedBits[0], mask = (1 << b0) - 1
        return (indices.map { $0.map { $0 & mask } }, indices.map { $0.map { $0 >> b0 } })
    }

    /// Pooled outputs of the spatial blocks `layers` (`spatial_blocks.i`) of the teacher-forced pass
    /// over [class, emb(token_0) … emb(token_{T−1})] for full v2 indices: (B, layers.count, C).
    /// `classID` defaults to the null class (`class_num`).
    public func probeFeatures(indices: [[Int]], layers: [Int], pool: GPTProbePool, classID: Int? = nil) -> Tensor {
        let classes = [Int](repeating: classID ?? config.classNum, count: indices.count)
        let (pre, post) = splitIndices(indices)
        return pooledBlockOutputs(layers: layers, blockCount: config.spatialNLayer, pool: pool) { depth, onLayer in
            _ = hiddenStates(classes: classes, pre: pre, post: post, depth: depth, onLayer: onLayer)
        }
    }
}
