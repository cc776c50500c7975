import DigitTensor

// Linear-probe features of DINOv2 (facebookresearch/dinov2 dinov2/eval/linear.py): the final
// `norm` applied to a block's tokens (`get_intermediate_layers(x, n, norm=True)`), then either the
// class token or the average of the patch tokens (registers are never pooled).

/// How one block's tokens become one feature vector.
public enum DINOv2Pool: String, CaseIterable, Sendable {
    /// `norm(tokens)[:, 0]`: the class token (dinov2's linear eval, `use_avgpool=False`).
    case cls
    /// The mean of `norm(tokens)[:, 1 + R:]` over the patches (dinov2's `avgpool` half).
    case mean
}

extension DINOv2 {
    /// Pooled features of the blocks `layers` (indices in `0..<depth`, any order), from one pass
    /// through the blocks up to the deepest one asked for. (B, 3, H, W) → (B, layers.count, D)
    public func probeFeatures(_ x: Tensor, layers: [Int], pool: DINOv2Pool) -> Tensor {
        precondition(!layers.isEmpty && layers.allSatisfy { (0..<depth).contains($0) }, "DINOv2: layers \(layers) outside 0..<\(depth)")
        let d = embedDim, skip = prefixTokens
        var pooled: [Int: [Float]] = [:]                                 // block → (B, D)
        var h = prepareTokens(x)                                         // (B, 1 + R + N, D)
        for i in 0...layers.max()! {
            blocks[i].forward(&h)
            guard layers.contains(i) else { continue }
            let n = norm.vectorized(h)                                            // (B, T, D)
            let (b, t) = (n.dim(0), n.dim(1))
            var out = [Float](repeating: 0, count: b * d)
            n.withUnsafeBufferPointer { p in
                for bi in 0..<b {
                    let base = p.baseAddress! + bi * t * d
                    switch pool {
                    case .cls:
                        for c in 0..<d { out[bi * d + c] = base[c] }
                    case .mean:
                        // float64 sum over the patches, as an exact reference for torch's float32 mean.
                        var acc = [Double](repeating: 0, count: d)
                        for j in skip..<t { for c in 0..<d { acc[c] += Double(base[j * d + c]) } }
                        for c in 0..<d { out[bi * d + c] = Float(acc[c] / Double(t - skip)) }
                    }
                }
            }
            pooled[i] = out
        }
        let b = x.dim(0)
        return Tensor(shape: [b, layers.count, d]) { o in
            for bi in 0..<b {
                for (l, block) in layers.enumerated() {
                    let src = pooled[block]!
                    for c in 0..<d { (o.baseAddress! + (bi * layers.count + l) * d + c).initialize(to: src[bi * d + c]) }
                }
            }
        }
    }
}
