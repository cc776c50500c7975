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
            let n = norm.vectorized(h)                                   // (B, T, D)
            pooled[i] = (pool == .cls ? SequencePooling.row(0) : .mean(skip..<n.dim(1)))(n)
        }
        return stackPooled(pooled, layers: layers, batch: x.dim(0), width: d)
    }
}
