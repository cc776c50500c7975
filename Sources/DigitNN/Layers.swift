import DigitTensor

// Layers whose parameters load by upstream key. Each mirrors one `torch.nn` module: it requests
// exactly the tensors that module's `state_dict()` holds, under the same names, with the same
// shapes, and its `callAsFunction` is the module's `forward`.

/// `torch.nn.Conv2d`: requests `weight` (O, I/groups, kH, kW) and, with `bias`, `bias` (O).
public struct Conv2d: Sendable {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: (Int, Int)
    public let padding: Padding2d
    public let dilation: (Int, Int)
    public let groups: Int
    /// The algorithm (``Conv2dAlgorithm/im2col`` unless the model opts this layer into Winograd).
    public var algorithm = Conv2dAlgorithm.im2col
    /// The Winograd-domain weight, computed on the first Winograd call.
    let winogradCache = Conv2dWinogradCache()

    public init(
        _ w: WeightScope, inChannels: Int, outChannels: Int, kernel: (Int, Int), stride: (Int, Int) = (1, 1),
        padding: Padding2d = .zero, dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true
    ) throws {
        guard groups > 0, inChannels % groups == 0, outChannels % groups == 0 else {
            throw ModelLoadError.invalidConfiguration(
                "\(w.prefix): groups \(groups) must divide in \(inChannels) and out \(outChannels) channels")
        }
        weight = try w.tensor("weight", shape: [outChannels, inChannels / groups, kernel.0, kernel.1])
        self.bias = bias ? try w.tensor("bias", shape: [outChannels]) : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    /// Square kernel, integer stride and symmetric padding: `nn.Conv2d(in, out, k, stride=s, padding=p)`.
    public init(
        _ w: WeightScope, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
        dilation: Int = 1, groups: Int = 1, bias: Bool = true
    ) throws {
        try self.init(
            w, inChannels: inChannels, outChannels: outChannels, kernel: (kernel, kernel), stride: (stride, stride),
            padding: .symmetric(padding, padding), dilation: (dilation, dilation), groups: groups, bias: bias)
    }

    /// A layer from tensors its model has already requested (models whose checkpoints need their
    /// own key lookup, e.g. LFQ's EMA copies): square kernel, integer stride, symmetric padding.
    public init(weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0) {
        precondition(weight.rank == 4, "Conv2d: weight \(weight.shape) is not (O, I, kH, kW)")
        self.weight = weight
        self.bias = bias
        self.stride = (stride, stride)
        self.padding = .symmetric(padding, padding)
        dilation = (1, 1)
        groups = 1
    }

    /// This layer with `algorithm` (e.g. `.winograd(tile: 4, minOutputPixels: 1024)`).
    public func using(_ algorithm: Conv2dAlgorithm) -> Conv2d {
        var c = self
        c.algorithm = algorithm
        return c
    }

    /// (N, I, H, W) → (N, O, outH, outW)
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if x.rank == 4, winogradApplies(kernel: (weight.dim(2), weight.dim(3)), stride: stride, dilation: dilation, groups: groups),
           let tile = algorithm.winogradTile(
               outputPixels: (x.dim(2) + padding.top + padding.bottom - 2) * (x.dim(3) + padding.left + padding.right - 2)) {
            let u = winogradCache.weights(for: weight, tile: WinogradTile(tile))
            return conv2dWinograd(x, weights: u, bias: bias, padding: padding)
        }
        return conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// `torch.nn.Linear`: requests `weight` (out, in) and, with `bias`, `bias` (out).
public struct Linear: Sendable {
    public let weight: Tensor
    public let bias: Tensor?

    public init(_ w: WeightScope, in inFeatures: Int, out outFeatures: Int, bias: Bool = true) throws {
        weight = try w.tensor("weight", shape: [outFeatures, inFeatures])
        self.bias = bias ? try w.tensor("bias", shape: [outFeatures]) : nil
    }

    /// (…, in) → (…, out)
    public func callAsFunction(_ x: Tensor) -> Tensor { linear(x, weight: weight, bias: bias) }
}

/// `torch.nn.BatchNorm2d` in eval mode: requests `weight`, `bias`, `running_mean`, `running_var`
/// (C) and acknowledges `num_batches_tracked`; folded into a per-channel scale and shift at load.
public struct BatchNorm2d: Sendable {
    public let scale: [Float]
    public let shift: [Float]
    public let eps: Float

    public init(_ w: WeightScope, channels: Int, eps: Float = 1e-5, affine: Bool = true) throws {
        let weight = affine ? try w.tensor("weight", shape: [channels]) : nil
        let bias = affine ? try w.tensor("bias", shape: [channels]) : nil
        let mean = try w.tensor("running_mean", shape: [channels])
        let variance = try w.tensor("running_var", shape: [channels])
        w.acknowledge("num_batches_tracked")
        (scale, shift) = batchNormScaleShift(mean: mean, variance: variance, weight: weight, bias: bias, eps: eps)
        self.eps = eps
    }

    /// (N, C, …) → (N, C, …)
    public func callAsFunction(_ x: Tensor) -> Tensor { channelAffine(x, scale: scale, shift: shift) }
}

/// `torch.nn.GroupNorm`: with `affine`, requests `weight` and `bias` (C).
public struct GroupNorm: Sendable {
    public let groups: Int
    public let weight: Tensor?
    public let bias: Tensor?
    public let eps: Float

    public init(_ w: WeightScope, groups: Int, channels: Int, eps: Float = 1e-5, affine: Bool = true) throws {
        guard groups > 0, channels % groups == 0 else {
            throw ModelLoadError.invalidConfiguration("\(w.prefix): \(groups) groups do not divide \(channels) channels")
        }
        self.groups = groups
        weight = affine ? try w.tensor("weight", shape: [channels]) : nil
        bias = affine ? try w.tensor("bias", shape: [channels]) : nil
        self.eps = eps
    }

    /// (N, C, …) → (N, C, …)
    public func callAsFunction(_ x: Tensor) -> Tensor { groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps) }
}

/// `torch.nn.LayerNorm((dim,))`: with `affine` (`elementwise_affine`), requests `weight` and
/// `bias` (dim); `bias: false` for `LayerNorm(bias=False)`.
public struct LayerNorm: Sendable {
    public let weight: Tensor?
    public let bias: Tensor?
    public let eps: Float

    public init(_ w: WeightScope, dim: Int, eps: Float = 1e-5, affine: Bool = true, bias: Bool = true) throws {
        weight = affine ? try w.tensor("weight", shape: [dim]) : nil
        self.bias = affine && bias ? try w.tensor("bias", shape: [dim]) : nil
        self.eps = eps
    }

    /// (…, dim) → (…, dim)
    public func callAsFunction(_ x: Tensor) -> Tensor { layerNorm(x, weight: weight, bias: bias, eps: eps) }
}

/// LlamaGen's `RMSNorm(dim, eps)`: requests `weight` (dim).
public struct RMSNorm: Sendable {
    public let weight: Tensor
    public let eps: Float

    public init(_ w: WeightScope, dim: Int, eps: Float = 1e-5) throws {
        weight = try w.tensor("weight", shape: [dim])
        self.eps = eps
    }

    /// (…, dim) → (…, dim)
    public func callAsFunction(_ x: Tensor) -> Tensor { rmsNorm(x, weight: weight, eps: eps) }
}

/// `torch.nn.Embedding(count, dim)`: requests `weight` (count, dim).
public struct Embedding: Sendable {
    public let weight: Tensor

    public init(_ w: WeightScope, count: Int, dim: Int) throws {
        weight = try w.tensor("weight", shape: [count, dim])
    }

    /// Rows for `indices`, shaped `shape + [dim]` (default `[indices.count, dim]`).
    public func callAsFunction(_ indices: [Int], shape: [Int]? = nil) -> Tensor {
        embedding(weight, indices: indices, shape: shape)
    }
}
