// Port of mseitzer/pytorch-fid src/pytorch_fid/inception.py @ b9c18118 (release 0.3.0:
// `fid_inception_v3()` = torchvision 0.14 `Inception3(num_classes=1008, aux_logits=False)` with
// FIDInceptionA/C/E_1/E_2), which is the same network, key for key, as
// toshas/torch-fidelity torch_fidelity/feature_extractor_inceptionv3.py @ 028118e5 ('inception-v3-compat').
// Input resizing/normalisation (the part where the two differ) lives in InceptionInput.swift.

import DigitTensor
import Foundation

/// The FID Inception-v3 (the TF `inception-2015-12-05` graph as ported by pytorch-fid).
///
/// Parameters load by their upstream keys (`Mixed_5b.branch1x1.conv.weight`, …): 94 BasicConv2d
/// units (conv without bias + BatchNorm eps 1e-3) and `fc` (1008 × 2048 + bias); 472 float tensors.
/// The FID-specific blocks differ from torchvision's Inception3: the pool branch of Mixed_5b–5d,
/// 6b–6e and 7b is `avg_pool2d(3, 1, 1, count_include_pad=False)`, and Mixed_7c's is
/// `max_pool2d(3, 1, 1)`.
///
/// Activations are laid out (C, B, H, W) — channel-major with the images of a group inside — so
/// that every convolution of a group of B images is one sgemm per block of output rows (1×1 convs
/// read the activation directly as the (C, B·H·W) operand). An output element's dot product is the
/// same sum in the same order whatever B and wherever the image sits in the group, so features do
/// not depend on how images are grouped (tested bit for bit).
public struct InceptionV3: Sendable {
    /// torchvision `Inception3` constructor arguments as pytorch-fid calls them.
    public struct Configuration: Codable, Sendable, Equatable {
        public var num_classes = 1008
        public var aux_logits = false
        public var transform_input = false
        /// BatchNorm2d eps of every BasicConv2d.
        public var bn_eps: Float = 0.001
        /// The side the input protocols resize to.
        public var image_size = 299
        public init() {}
    }

    public let configuration: Configuration
    /// Where the parameters came from ("seeded weights" or a file path and checksum note).
    public let weightsDescription: String
    public let isSeeded: Bool
    /// The checkpoint file's SHA-256 (hex) when the weights came from a verified file, else nil.
    public let weightsSHA256: String?

    let Conv2d_1a_3x3: BasicConv2d
    let Conv2d_2a_3x3: BasicConv2d
    let Conv2d_2b_3x3: BasicConv2d
    let Conv2d_3b_1x1: BasicConv2d
    let Conv2d_4a_3x3: BasicConv2d
    let Mixed_5b: InceptionA
    let Mixed_5c: InceptionA
    let Mixed_5d: InceptionA
    let Mixed_6a: InceptionB
    let Mixed_6b: InceptionC
    let Mixed_6c: InceptionC
    let Mixed_6d: InceptionC
    let Mixed_6e: InceptionC
    let Mixed_7a: InceptionD
    let Mixed_7b: InceptionE
    let Mixed_7c: InceptionE
    /// fc.weight (1008, 2048) and fc.bias (1008).
    let fcWeight: Tensor
    let fcBias: Tensor

    /// Builds the network, requesting every parameter from `weights` in upstream state-dict order,
    /// and rejects checkpoints with keys the network does not use.
    public init(weights: Weights, configuration: Configuration = Configuration(), description: String? = nil,
                sha256: String? = nil) throws {
        self.configuration = configuration
        isSeeded = weights.isSeeded
        weightsDescription = description ?? weights.sourceName
        weightsSHA256 = sha256
        let r = weights.root
        let eps = configuration.bn_eps
        Conv2d_1a_3x3 = try BasicConv2d(r.scope("Conv2d_1a_3x3"), 3, 32, kernel: (3, 3), stride: 2, eps: eps)
        Conv2d_2a_3x3 = try BasicConv2d(r.scope("Conv2d_2a_3x3"), 32, 32, kernel: (3, 3), eps: eps)
        Conv2d_2b_3x3 = try BasicConv2d(r.scope("Conv2d_2b_3x3"), 32, 64, kernel: (3, 3), padding: (1, 1), eps: eps)
        Conv2d_3b_1x1 = try BasicConv2d(r.scope("Conv2d_3b_1x1"), 64, 80, kernel: (1, 1), eps: eps)
        Conv2d_4a_3x3 = try BasicConv2d(r.scope("Conv2d_4a_3x3"), 80, 192, kernel: (3, 3), eps: eps)
        Mixed_5b = try InceptionA(r.scope("Mixed_5b"), inChannels: 192, poolFeatures: 32, eps: eps)
        Mixed_5c = try InceptionA(r.scope("Mixed_5c"), inChannels: 256, poolFeatures: 64, eps: eps)
        Mixed_5d = try InceptionA(r.scope("Mixed_5d"), inChannels: 288, poolFeatures: 64, eps: eps)
        Mixed_6a = try InceptionB(r.scope("Mixed_6a"), inChannels: 288, eps: eps)
        Mixed_6b = try InceptionC(r.scope("Mixed_6b"), inChannels: 768, channels7x7: 128, eps: eps)
        Mixed_6c = try InceptionC(r.scope("Mixed_6c"), inChannels: 768, channels7x7: 160, eps: eps)
        Mixed_6d = try InceptionC(r.scope("Mixed_6d"), inChannels: 768, channels7x7: 160, eps: eps)
        Mixed_6e = try InceptionC(r.scope("Mixed_6e"), inChannels: 768, channels7x7: 192, eps: eps)
        Mixed_7a = try InceptionD(r.scope("Mixed_7a"), inChannels: 768, eps: eps)
        Mixed_7b = try InceptionE(r.scope("Mixed_7b"), inChannels: 1280, pool: .average, eps: eps)
        Mixed_7c = try InceptionE(r.scope("Mixed_7c"), inChannels: 2048, pool: .max, eps: eps)
        fcWeight = try r.tensor("fc.weight", shape: [configuration.num_classes, 2048])
        fcBias = try r.tensor("fc.bias", shape: [configuration.num_classes])
        try weights.finish()
    }

    /// Runs the network on one normalised image `x` (1, 3, H, W) — normally 299×299, the output of
    /// ``InceptionProtocol/networkInput(_:)`` — and returns the requested features (and full
    /// activation maps for `taps`). Stops after the last layer anything asks for, as upstream does.
    public func forward(_ input: Tensor, features: Set<InceptionFeature>, taps: Set<InceptionTap> = []) -> InceptionActivations {
        precondition(input.rank == 4 && input.dim(0) == 1 && input.dim(1) == 3, "InceptionV3.forward: input \(input.shape), expected (1, 3, H, W)")
        // (1, 3, H, W) and (3, 1, H, W) are the same memory.
        return forwardGroup(input.reshaped([3, 1, input.dim(2), input.dim(3)]), features: features, taps: taps)[0]
    }

    /// Runs the network on a group of B normalised images laid out (3, B, H, W) and returns each
    /// image's features (and (1, C, H, W) maps for `taps`).
    public func forwardGroup(_ input: Tensor, features: Set<InceptionFeature>, taps: Set<InceptionTap> = []) -> [InceptionActivations] {
        precondition(input.rank == 4 && input.dim(0) == 3, "InceptionV3.forwardGroup: input \(input.shape), expected (3, B, H, W)")
        let batch = input.dim(1)
        var out = [InceptionActivations](repeating: InceptionActivations(), count: batch)
        let last = (features.map(\.tap) + Array(taps)).max() ?? .maxpool1
        /// Records `x` at `tap`; true when nothing later is needed.
        func reached(_ tap: InceptionTap, _ x: Tensor) -> Bool {
            if taps.contains(tap) { for b in 0..<batch { out[b].taps[tap] = imageMap(x, b) } }
            return tap >= last
        }
        func means(_ feature: InceptionFeature, _ x: Tensor) {
            guard features.contains(feature) else { return }
            let m = channelMeans(x)
            for b in 0..<batch { out[b].features[feature] = m[b] }
        }

        var x = input                                   // (3, B, 299, 299)
        x = Conv2d_1a_3x3(x)                            // (32, B, 149, 149)
        x = Conv2d_2a_3x3(x)                            // (32, B, 147, 147)
        x = Conv2d_2b_3x3(x)                            // (64, B, 147, 147)
        x = pool3x3(x, .max, stride: 2, padding: 0)   // (64, B, 73, 73)
        means(.block64, x)
        if reached(.maxpool1, x) { return out }

        x = Conv2d_3b_1x1(x)                            // (80, B, 73, 73)
        x = Conv2d_4a_3x3(x)                            // (192, B, 71, 71)
        x = pool3x3(x, .max, stride: 2, padding: 0)   // (192, B, 35, 35)
        means(.block192, x)
        if reached(.maxpool2, x) { return out }

        x = Mixed_5b(x)                                 // (256, B, 35, 35)
        if reached(.Mixed_5b, x) { return out }
        x = Mixed_5c(x)                                 // (288, B, 35, 35)
        if reached(.Mixed_5c, x) { return out }
        x = Mixed_5d(x)                                 // (288, B, 35, 35)
        if reached(.Mixed_5d, x) { return out }
        x = Mixed_6a(x)                                 // (768, B, 17, 17)
        if reached(.Mixed_6a, x) { return out }
        x = Mixed_6b(x)                                 // (768, B, 17, 17)
        if reached(.Mixed_6b, x) { return out }
        x = Mixed_6c(x)                                 // (768, B, 17, 17)
        if reached(.Mixed_6c, x) { return out }
        x = Mixed_6d(x)                                 // (768, B, 17, 17)
        // sFID (ADM evaluator `mixed_6/conv:0`): Mixed_6d.branch1x1 after ReLU = channels 0..<192
        // of the concatenation; the first 7 channels, flattened NHWC → 17·17·7 = 2023 values.
        if features.contains(.spatial) { for b in 0..<batch { out[b].features[.spatial] = spatialFeature(x, image: b, channels: 7) } }
        if reached(.Mixed_6d, x) { return out }
        x = Mixed_6e(x)                                 // (768, B, 17, 17)
        means(.block768, x)
        if reached(.Mixed_6e, x) { return out }

        x = Mixed_7a(x)                                 // (1280, B, 8, 8)
        if reached(.Mixed_7a, x) { return out }
        x = Mixed_7b(x)                                 // (2048, B, 8, 8)
        if reached(.Mixed_7b, x) { return out }
        x = Mixed_7c(x)                                 // (2048, B, 8, 8)
        if reached(.Mixed_7c, x) { return out }

        let pooled = channelMeans(x)                    // adaptive_avg_pool2d → B × (2048)
        for b in 0..<batch {
            let pool3 = Tensor(shape: [1, 2048], scalars: pooled[b])
            out[b].features[.pool3] = pool3.scalars
            if features.contains(.logitsUnbiased) || features.contains(.logits) {
                // One row at a time, so the logits do not depend on the group size either.
                let unbiased = linear(pool3, weight: fcWeight)              // pool3 @ fc.weightᵀ → (1, 1008)
                out[b].features[.logitsUnbiased] = unbiased.scalars
                // torch-fidelity: logits = logits_unbiased + fc.bias (pytorch-fid's fc(pool3) agrees to 1 ulp).
                out[b].features[.logits] = zip(unbiased.scalars, fcBias.scalars).map { $0 + $1 }
            }
            if taps.contains(.pool3) { out[b].taps[.pool3] = pool3 }
            out[b].features = out[b].features.filter { features.contains($0.key) }
        }
        return out
    }

    /// Every BasicConv2d in state-dict order.
    var units: [BasicConv2d] {
        [Conv2d_1a_3x3, Conv2d_2a_3x3, Conv2d_2b_3x3, Conv2d_3b_1x1, Conv2d_4a_3x3]
            + Mixed_5b.units + Mixed_5c.units + Mixed_5d.units + Mixed_6a.units + Mixed_6b.units
            + Mixed_6c.units + Mixed_6d.units + Mixed_6e.units + Mixed_7a.units + Mixed_7b.units + Mixed_7c.units
    }

    /// Total float parameters (23,885,392 for the FID Inception).
    public var parameterCount: Int {
        units.reduce(0) { $0 + $1.weight.count + 4 * $1.outChannels } + fcWeight.count + fcBias.count
    }

    /// Floating-point operations (2 per multiply-add) of the convolutions and fc for one
    /// `side`×`side` input: the sgemm work a forward pass cannot avoid (pools/BN/resize excluded).
    public func gemmFlops(side: Int = 299) -> Double {
        // Spatial size entering each unit, following the forward pass.
        var total = 0.0
        func conv(_ u: BasicConv2d, _ h: Int, _ w: Int) -> (Int, Int) {
            let (oh, ow) = u.outputSize(h, w)
            total += 2 * Double(u.outChannels * u.inChannels * u.kernelH * u.kernelW * oh * ow)
            return (oh, ow)
        }
        func pool2(_ h: Int, _ w: Int) -> (Int, Int) { ((h - 3) / 2 + 1, (w - 3) / 2 + 1) }
        var (h, w) = conv(Conv2d_1a_3x3, side, side)
        (h, w) = conv(Conv2d_2a_3x3, h, w)
        (h, w) = conv(Conv2d_2b_3x3, h, w)
        (h, w) = pool2(h, w)
        (h, w) = conv(Conv2d_3b_1x1, h, w)
        (h, w) = conv(Conv2d_4a_3x3, h, w)
        (h, w) = pool2(h, w)
        // Inside the mixed blocks every unit sees the block's input size except the stride-2 units
        // (whose inputs are still the block's size) — so all units of a block use the block's size.
        for block in [Mixed_5b.units, Mixed_5c.units, Mixed_5d.units, Mixed_6a.units] { for u in block { _ = conv(u, h, w) } }
        (h, w) = pool2(h, w)
        for block in [Mixed_6b.units, Mixed_6c.units, Mixed_6d.units, Mixed_6e.units, Mixed_7a.units] { for u in block { _ = conv(u, h, w) } }
        (h, w) = pool2(h, w)
        for block in [Mixed_7b.units, Mixed_7c.units] { for u in block { _ = conv(u, h, w) } }
        return total + 2 * Double(fcWeight.count)
    }
}

extension InceptionV3 {
    /// The units computed by Winograd F(m×m, 3×3), with their tile m: the 3×3 stride-1 units where
    /// it measured faster than im2col (`digit-bench bench inception --profile`, docs/conv-perf.md),
    /// with CKernels' AVX-512 transforms. F(4×4) for the stem's Conv2d_2a/2b/4a (32→32, 32→64 at
    /// 147×147, 80→192 at 71×71) and the 35×35 branch3x3dbl_2/_3 convs (64→96, 96→96), where it is
    /// 20–45 % faster than F(2×2); its larger rounding leaves the fixtures' features at ≤ 2 % of
    /// their tolerance (InceptionTests, the same as with im2col). F(2×2) (rounding within a few ulps
    /// of im2col's) for Mixed_7b/7c.branch3x3dbl_2 (448→384 at 8×8), where F(4×4) is no faster.
    static let winogradUnits: [String: Int] = [
        "Conv2d_2a_3x3": 4, "Conv2d_2b_3x3": 4, "Conv2d_4a_3x3": 4,
        "Mixed_5b.branch3x3dbl_2": 4, "Mixed_5b.branch3x3dbl_3": 4,
        "Mixed_5c.branch3x3dbl_2": 4, "Mixed_5c.branch3x3dbl_3": 4,
        "Mixed_5d.branch3x3dbl_2": 4, "Mixed_5d.branch3x3dbl_3": 4,
        "Mixed_6a.branch3x3dbl_2": 4,
        "Mixed_7b.branch3x3dbl_2": 2, "Mixed_7c.branch3x3dbl_2": 2,
    ]

    /// The 1×r / r×1 units computed by 1-D Winograd F(m, r), with their m (``conv2dWinograd1D``).
    /// Chosen by `digit-bench bench inception --profile` (docs/conv-perf.md): every 1-D Winograd
    /// tile is faster than im2col on all of these units, and the fastest is F(6, 7) for the 7-tap
    /// convs (≈ 2× less time than im2col) and F(4, 3) for the 8×8 3-tap convs (≈ 1.5×). F(6, 7)
    /// rounds more (pool3 |Δ| vs the fixtures 2.8e-5 instead of 5.7e-6, sFID 6.4e-6 of its scale),
    /// so the units that feed the sFID feature (Mixed_6d.branch1x1 reads Mixed_6c's output:
    /// Mixed_6b, 6c) use F(4, 7), whose error is not measurable above im2col's; Mixed_6d, 6e and
    /// 7a use F(6, 7).
    static let winograd1DUnits: [String: Int] = {
        var units: [String: Int] = [:]
        let c = ["branch7x7_2", "branch7x7_3", "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5"]
        for block in ["Mixed_6b", "Mixed_6c"] { for u in c { units["\(block).\(u)"] = 4 } }
        for block in ["Mixed_6d", "Mixed_6e"] { for u in c { units["\(block).\(u)"] = 6 } }
        units["Mixed_7a.branch7x7x3_2"] = 6
        units["Mixed_7a.branch7x7x3_3"] = 6
        for block in ["Mixed_7b", "Mixed_7c"] {
            for u in ["branch3x3_2a", "branch3x3_2b", "branch3x3dbl_3a", "branch3x3dbl_3b"] { units["\(block).\(u)"] = 4 }
        }
        // k×k stride-1 convs along H, k·C deep: the 5×5 convs F(4, 5). The 3×3 stride-1 units are
        // all in `winogradUnits`: with CKernels' SIMD transforms 2-D F(4×4) measured faster than the
        // best 1-D F(m, 3) on each of them in one profile run (docs/conv-perf.md, ms per image of one
        // core: Conv2d_2b 8.30 vs 11.53, Conv2d_4a 6.56 vs 9.69, 35×35 units 0.58–1.14 vs 0.99–1.76;
        // Conv2d_2a level, 4.37 vs 4.20).
        for block in ["Mixed_5b", "Mixed_5c", "Mixed_5d"] { units["\(block).branch5x5_2"] = 4 }
        precondition(units.keys.allSatisfy { winogradUnits[$0] == nil }, "a unit is in both Winograd tables")
        return units
    }()

    /// `DIGIT_BENCH_WINOGRAD1D=m7,m3,m5,mk3` makes every 1×7 / 7×1 unit use F(m7, 7), every
    /// 1×3 / 3×1 unit F(m3, 3), every 5×5 unit F(m5, 5) and every 3×3 stride-1 unit F(mk3, 3) along H
    /// (0 or missing = im2col / the 2-D algorithm), `im2col` none (for A/B runs in one binary);
    /// `DIGIT_BENCH_CONV=im2col` also turns them off.
    nonisolated(unsafe) static var winograd1DOverride: [Int]? = {
        if Conv2dAlgorithm.override == .im2col { return [] }
        guard let v = ProcessInfo.processInfo.environment["DIGIT_BENCH_WINOGRAD1D"] else { return nil }
        return v == "im2col" ? [] : v.split(separator: ",").map { Int($0) ?? 0 }
    }()

    /// The 1-D Winograd tile m of a unit with a stride-1 `kernel` along ``BasicConv2d/winograd1DAxis``, or nil.
    static func winograd1DTile(unit: String, kernel: (Int, Int)) -> Int? {
        guard let o = winograd1DOverride else { return winograd1DUnits[unit] }
        let slot: Int, r: Int
        switch kernel {
        case (1, 7), (7, 1): (slot, r) = (0, 7)
        case (1, 3), (3, 1): (slot, r) = (1, 3)
        case (5, 5): (slot, r) = (2, 5)
        case (3, 3): (slot, r) = (3, 3)
        default: return nil
        }
        guard slot < o.count, Winograd1DTile.supported.contains(where: { $0 == (o[slot], r) }) else { return nil }
        return o[slot]
    }

    /// The Winograd tile of a 3×3 stride-1 unit, or nil for im2col.
    static func winogradTile(unit: String) -> Int? { winogradUnits[unit] }
}

/// Features the FID Inception provides (torch-fidelity's names where it has them).
public enum InceptionFeature: String, CaseIterable, Codable, Sendable, Hashable {
    /// Spatial mean after the first max pool (torch-fidelity '64', pytorch-fid block 0).
    case block64 = "64"
    /// Spatial mean after the second max pool ('192', block 1).
    case block192 = "192"
    /// Spatial mean of Mixed_6e ('768', block 2).
    case block768 = "768"
    /// The 2048-d pool3 feature used by FID/KID/precision-recall (torch-fidelity '2048', block 3).
    case pool3 = "pool3"
    /// `pool3 @ fc.weightᵀ` without bias: the logits Inception Score uses (torch-fidelity default, ADM).
    case logitsUnbiased = "logits_unbiased"
    /// `pool3 @ fc.weightᵀ + fc.bias` (torchvision `Inception3.forward`).
    case logits = "logits"
    /// sFID's spatial feature: Mixed_6d.branch1x1 (TF `mixed_6/conv`) first 7 channels, NHWC, 2023 values.
    case spatial = "sfid"

    public var dimension: Int {
        switch self {
        case .block64: 64
        case .block192: 192
        case .block768: 768
        case .pool3: 2048
        case .logitsUnbiased, .logits: 1008
        case .spatial: 17 * 17 * 7
        }
    }

    /// The last layer this feature needs.
    var tap: InceptionTap {
        switch self {
        case .block64: .maxpool1
        case .block192: .maxpool2
        case .spatial: .Mixed_6d
        case .block768: .Mixed_6e
        case .pool3, .logitsUnbiased, .logits: .pool3
        }
    }

    /// Accepts the raw names and the aliases `2048` (torch-fidelity) and `pool_3` (ADM).
    public init?(name: String) {
        switch name {
        case "2048", "pool_3": self = .pool3
        case "spatial", "mixed_6/conv": self = .spatial
        default: self.init(rawValue: name)
        }
    }
}

/// Full activation maps that can be captured for debugging, in network order.
public enum InceptionTap: String, CaseIterable, Codable, Sendable, Comparable {
    case maxpool1, maxpool2
    case Mixed_5b, Mixed_5c, Mixed_5d, Mixed_6a, Mixed_6b, Mixed_6c, Mixed_6d, Mixed_6e, Mixed_7a, Mixed_7b, Mixed_7c
    case pool3

    private var order: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: Self, b: Self) -> Bool { a.order < b.order }
}

/// What one forward pass produced: per-feature rows and captured maps (1, C, H, W).
public struct InceptionActivations: Sendable {
    public var features: [InceptionFeature: [Float]] = [:]
    public var taps: [InceptionTap: Tensor] = [:]
}

/// (C, B, H, W) → for each image, its C spatial means (`adaptive_avg_pool2d(x, 1)`).
private func channelMeans(_ x: Tensor) -> [[Float]] {
    let (c, batch) = (x.dim(0), x.dim(1))
    let m = adaptiveAvgPool2d(x, outH: 1, outW: 1).scalars   // (c, b) order
    return (0..<batch).map { b in (0..<c).map { m[$0 * batch + b] } }
}

/// (C, B, H, W) → image `b`'s map as (1, C, H, W).
private func imageMap(_ x: Tensor, _ b: Int) -> Tensor {
    let (c, batch, h, w) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3))
    let plane = h * w
    return x.withUnsafeBufferPointer { p in
        Tensor(shape: [1, c, h, w]) { out in
            for ch in 0..<c { (out.baseAddress! + ch * plane).update(from: p.baseAddress! + (ch * batch + b) * plane, count: plane) }
        }
    }
}

/// (C, B, H, W) → image `b`'s first `channels` channels in NHWC order, flattened (ADM's `spatial[..., :7]`).
private func spatialFeature(_ x: Tensor, image b: Int, channels: Int) -> [Float] {
    let batch = x.dim(1), plane = x.dim(2) * x.dim(3)
    return x.withUnsafeBufferPointer { p in
        var out = [Float](repeating: 0, count: plane * channels)
        for pos in 0..<plane { for ch in 0..<channels { out[pos * channels + ch] = p[(ch * batch + b) * plane + pos] } }
        return out
    }
}

// MARK: - BasicConv2d (conv → BatchNorm → ReLU, fused)

/// torchvision's `BasicConv2d`: `Conv2d(bias=False)` → `BatchNorm2d(eps=0.001)` in eval mode → ReLU.
///
/// Executed as im2col + one sgemm per block of output rows of a group of images, with BatchNorm applied as torch's CPU inference kernel
/// does (`alpha = weight / sqrt(var + eps)`, `beta = bias - mean * alpha`, `y = x * alpha + beta`)
/// fused with the ReLU into a single pass over the output.
struct BasicConv2d: Sendable {
    let inChannels: Int
    let outChannels: Int
    let kernelH: Int, kernelW: Int
    let stride: Int
    let padH: Int, padW: Int
    /// conv.weight (out, in, kh, kw) row-major = (out, in·kh·kw), the sgemm A operand.
    let weight: [Float]
    let alpha: [Float]
    let beta: [Float]
    /// im2col, or Winograd for this 3×3 stride-1 unit (``InceptionV3/winogradTile``).
    var algorithm = Conv2dAlgorithm.im2col
    /// Conv2d_1a (3×3 stride 2, ≤ 4 input channels) by ``DirectConv3x3Stride2`` when the CPU has it
    /// (false: im2col, for the profile's comparison; `DIGIT_BENCH_CONV=im2col` also turns it off).
    var direct = true
    /// The Winograd-domain weight, computed on the first Winograd call.
    let winogradCache = Conv2dWinogradCache()
    /// 1-D Winograd F(m, r) tile m for this 1×r / r×1 unit (``InceptionV3/winograd1DUnits``), nil for im2col.
    var winograd1D: Int?
    /// Its Winograd-domain weight, computed on the first call.
    let winograd1DCache = Winograd1DCache()
    let name: String

    init(_ s: WeightScope, _ cin: Int, _ cout: Int, kernel: (Int, Int), stride: Int = 1,
         padding: (Int, Int) = (0, 0), eps: Float) throws {
        name = s.prefix
        inChannels = cin
        outChannels = cout
        (kernelH, kernelW) = kernel
        self.stride = stride
        (padH, padW) = padding
        weight = try s.tensor("conv.weight", shape: [cout, cin, kernel.0, kernel.1]).scalars
        let gamma = try s.tensor("bn.weight", shape: [cout]).scalars
        let shift = try s.tensor("bn.bias", shape: [cout]).scalars
        let mean = try s.tensor("bn.running_mean", shape: [cout]).scalars
        let variance = try s.tensor("bn.running_var", shape: [cout]).scalars
        s.acknowledge("bn.num_batches_tracked")
        let a = (0..<cout).map { gamma[$0] * (1 / (variance[$0] + eps).squareRoot()) }
        alpha = a
        beta = (0..<cout).map { shift[$0] - mean[$0] * a[$0] }
        if kernel == (3, 3) && stride == 1, let tile = InceptionV3.winogradTile(unit: name) {
            algorithm = .winograd(tile: tile, minOutputPixels: 0)
        }
        if winograd1DAxis != nil { winograd1D = InceptionV3.winograd1DTile(unit: name, kernel: kernel) }
    }

    /// The Winograd axis of ``conv2dWinograd1D`` for this stride-1 unit: along the taps of a 1×r
    /// (`.width`) or r×1 (`.height`) kernel, along H for a k×k kernel (its k columns become k·C of
    /// sgemm depth); nil for stride 2.
    var winograd1DAxis: Winograd1DAxis? {
        guard stride == 1 else { return nil }
        if kernelH == 1 && kernelW > 1 { return .width }
        if kernelH > 1 && (kernelW == 1 || kernelW == kernelH) { return .height }
        return nil
    }

    func outputSize(_ h: Int, _ w: Int) -> (Int, Int) {
        ((h + 2 * padH - kernelH) / stride + 1, (w + 2 * padW - kernelW) / stride + 1)
    }

    /// (in, B, H, W) → (out, B, OH, OW).
    func callAsFunction(_ x: Tensor) -> Tensor {
        let (oh, ow) = outputSize(x.dim(2), x.dim(3))
        return Tensor(shape: [outChannels, x.dim(1), oh, ow]) { out in write(x, into: out.baseAddress!) }
    }

    /// Writes the (out, B, OH, OW) result for the group `x` (in, B, H, W) at `out`.
    func write(_ x: Tensor, into out: UnsafeMutablePointer<Float>) {
        precondition(x.rank == 4 && x.dim(0) == inChannels, "BasicConv2d: input \(x.shape), expected (\(inChannels), B, H, W)")
        let (batch, h, w) = (x.dim(1), x.dim(2), x.dim(3))
        let (oh, ow) = outputSize(h, w)
        let n = batch * oh * ow, k = inChannels * kernelH * kernelW
        if let m = winograd1D, let axis = winograd1DAxis {
            // Winograd F(m, r) along the taps over the group's tile lines, BatchNorm + ReLU in the output transform.
            let (r, ka) = axis == .width ? (kernelW, kernelH) : (kernelH, kernelW)
            let tile = Winograd1DTile(m: m, r: r)
            let u = winograd1DCache.weights(tile: tile) {
                Winograd1DWeights(weight, outChannels: outChannels, inChannels: inChannels, acrossTaps: ka, axis: axis, tile: tile)
            }
            x.withUnsafeBufferPointer { px in
                conv2dWinograd1D(
                    px.baseAddress!, batch: batch, height: h, width: w, layout: .cnhw(batch: batch, height: h, width: w),
                    axis: axis, weights: u, padding: axis == .width ? padW : padH, acrossPadding: axis == .width ? padH : padW,
                    epilogue: .scaleShiftReLU(scale: alpha, shift: beta),
                    into: out, layout: .cnhw(batch: batch, height: oh, width: ow), onCallingThread: Threads.inSingleThreadedSection)
            }
            return
        }
        if kernelH == 3 && kernelW == 3 && stride == 1, let tile = algorithm.winogradTile(outputPixels: oh * ow) {
            // Winograd F(m×m, 3×3) over the group's tiles, BatchNorm + ReLU in the output transform.
            // Tasks span images only for the 8×8 units (16 F(2×2) tiles per image; their sgemms are
            // large, M·N·K ≥ 2.7e6, and compute each column as for any N, as im2col's below). With
            // more tiles per image, tasks stay within an image so that its sgemms are the same in any
            // group: spanning made the 35×35 units' results depend on the group (for these small
            // sgemms, M·N·K < 1e6, OpenBLAS 0.3.21's per-column sums depended on N).
            let u = winogradCache.weights(
                for: Tensor(shape: [outChannels, inChannels, 3, 3], scalars: weight), tile: WinogradTile(tile))
            let tilesPerImage = ((oh + tile - 1) / tile) * ((ow + tile - 1) / tile)
            x.withUnsafeBufferPointer { px in
                conv2dWinograd(
                    px.baseAddress!, batch: batch, height: h, width: w, layout: .cnhw(batch: batch, height: h, width: w),
                    weights: u, padding: .symmetric(padH, padW), epilogue: .scaleShiftReLU(scale: alpha, shift: beta),
                    into: out, layout: .cnhw(batch: batch, height: oh, width: ow),
                    tasksSpanImages: tilesPerImage < 64, onCallingThread: Threads.inSingleThreadedSection)
            }
            return
        }
        if direct && kernelH == 3 && kernelW == 3 && stride == 2 && padH == 0 && padW == 0 && inChannels <= 4
            && DirectConv3x3Stride2.isAvailable && Conv2dAlgorithm.override != .im2col {
            // Conv2d_1a (3 input channels): a direct AVX-512 kernel (K = 27 is too short for sgemm).
            x.withUnsafeBufferPointer { px in
                weight.withUnsafeBufferPointer { pw in
                    alpha.withUnsafeBufferPointer { pa in
                        beta.withUnsafeBufferPointer { pb in
                            DirectConv3x3Stride2.run(
                                px.baseAddress!, batch: batch, channels: inChannels, height: h, width: w,
                                layout: .cnhw(batch: batch, height: h, width: w), weight: pw.baseAddress!, outChannels: outChannels,
                                scale: pa.baseAddress!, shift: pb.baseAddress!, into: out,
                                layout: .cnhw(batch: batch, height: oh, width: ow), onCallingThread: Threads.inSingleThreadedSection)
                        }
                    }
                }
            }
            return
        }
        x.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                if kernelH == 1 && kernelW == 1 && stride == 1 && padH == 0 && padW == 0 {
                    // 1×1 convolution: the input is already the (in, B·H·W) operand.
                    Gemm.sgemm(m: outChannels, n: n, k: k, a: pw.baseAddress!, lda: k, b: px.baseAddress!, ldb: n, c: out, ldc: n)
                    normalizeAndRectify(out, stride: n, columns: 0..<n)
                } else {
                    // im2col + sgemm over blocks of output rows (rows of all B images, image-major),
                    // so that the unfolded block stays in cache (the stem's full unfolding is 25 MB
                    // per image) while sgemm's N stays ≥ 256.
                    let totalRows = batch * oh
                    let rowsPerBlock = min(totalRows, max((256 + ow - 1) / ow, Self.columnBlockFloats / max(k * ow, 1)))
                    let columns = UnsafeMutablePointer<Float>.allocate(capacity: k * rowsPerBlock * ow)
                    defer { columns.deallocate() }
                    var oy0 = 0
                    while oy0 < totalRows {
                        let rows = min(rowsPerBlock, totalRows - oy0)
                        im2col(px.baseAddress!, batch: batch, h: h, w: w, oh: oh, rows: oy0..<(oy0 + rows), ow: ow, into: columns)
                        Gemm.sgemm(m: outChannels, n: rows * ow, k: k, a: pw.baseAddress!, lda: k, b: columns, ldb: rows * ow,
                                   c: out + oy0 * ow, ldc: n)
                        normalizeAndRectify(out, stride: n, columns: (oy0 * ow)..<((oy0 + rows) * ow))
                        oy0 += rows
                    }
                }
            }
        }
    }

    /// BatchNorm (eval) + ReLU in place on `columns` of every output channel (row `c` at `out + c·stride`).
    private func normalizeAndRectify(_ out: UnsafeMutablePointer<Float>, stride: Int, columns: Range<Int>) {
        alpha.withUnsafeBufferPointer { pa in
            beta.withUnsafeBufferPointer { pb in
                let (pa, pb) = (pa.baseAddress!, pb.baseAddress!)
                parallelFor(outChannels, grain: max(1, 16_384 / max(columns.count, 1))) { c in
                    let row = out + c * stride
                    let (a, b) = (pa[c], pb[c])
                    for i in columns { row[i] = max(row[i] * a + b, 0) }
                }
            }
        }
    }

    /// Floats of unfolded input per sgemm call (~1 MB: about a core's L2).
    static let columnBlockFloats = 1 << 18

    /// Unfolds output rows `rows` (indices into the B·OH rows of all images, image-major) of
    /// (in, B, H, W) into the (in·kh·kw, rows·OW) matrix of conv inputs, zero padding outside each image.
    private func im2col(_ src: UnsafePointer<Float>, batch: Int, h: Int, w: Int, oh: Int, rows: Range<Int>, ow: Int,
                        into dst: UnsafeMutablePointer<Float>) {
        let n = rows.count * ow
        let (kh, kw, s, ph, pw) = (kernelH, kernelW, stride, padH, padW)
        parallelFor(inChannels * kh, grain: 4) { ci in
            let (c, i) = (ci / kh, ci % kh)
            let channel = src + c * batch * h * w
            for j in 0..<kw {
                let row = dst + (ci * kw + j) * n
                // Output columns whose input column ox·s − pw + j lies inside [0, w).
                let oxLo = max(0, (pw - j + s - 1) / s)
                let oxHi = min(ow, (w - 1 + pw - j) / s + 1)
                for combined in rows {
                    let r = row + (combined - rows.lowerBound) * ow
                    let (b, oy) = (combined / oh, combined % oh)
                    let plane = channel + b * h * w
                    let iy = oy * s - ph + i
                    if iy < 0 || iy >= h || oxLo >= oxHi {
                        r.update(repeating: 0, count: ow)
                        continue
                    }
                    let line = plane + iy * w
                    if oxLo > 0 { r.update(repeating: 0, count: oxLo) }
                    if s == 1 {
                        r.advanced(by: oxLo).update(from: line + (oxLo - pw + j), count: oxHi - oxLo)
                    } else {
                        for ox in oxLo..<oxHi { r[ox] = line[ox * s - pw + j] }
                    }
                    if oxHi < ow { r.advanced(by: oxHi).update(repeating: 0, count: ow - oxHi) }
                }
            }
        }
    }
}

// MARK: - Concatenation of branch outputs

/// Builds a (C, B, H, W) block output by letting each branch write its channels in place, in
/// upstream's `torch.cat(outputs, 1)` order (no intermediate copies of the conv outputs).
private func concatenate(channels: Int, batch: Int, height: Int, width: Int, _ body: (inout BranchWriter) -> Void) -> Tensor {
    Tensor(shape: [channels, batch, height, width]) { out in
        var writer = BranchWriter(base: out.baseAddress!, plane: batch * height * width)
        body(&writer)
        precondition(writer.channel == channels, "Inception block wrote \(writer.channel) of \(channels) channels")
    }
}

private struct BranchWriter {
    let base: UnsafeMutablePointer<Float>
    let plane: Int
    var channel = 0

    /// Appends `unit(x)`.
    mutating func conv(_ unit: BasicConv2d, _ x: Tensor) {
        unit.write(x, into: base + channel * plane)
        channel += unit.outChannels
    }

    /// Appends a computed (C, B, H, W) tensor.
    mutating func copy(_ t: Tensor) {
        precondition(t.dim(1) * t.dim(2) * t.dim(3) == plane, "branch size \(t.shape)")
        t.withUnsafeBufferPointer { (base + channel * plane).update(from: $0.baseAddress!, count: t.count) }
        channel += t.dim(0)
    }
}

/// The pool branch of the FID blocks: TF-style average (border windows divide by the in-image count)
/// or, in Mixed_7c, the FID graph's max pool.
enum InceptionPool: Sendable {
    case average, max

    /// 3×3, stride 1, padding 1 (`avg_pool2d(count_include_pad=False)` / `max_pool2d`).
    func callAsFunction(_ x: Tensor) -> Tensor { pool3x3(x, self, stride: 1, padding: 1) }
}

/// 3×3 pooling for Inception's shapes, separable (a 3-tap pass along rows, then along columns).
///
/// Same results as DigitTensor's `maxPool2d` (exactly) and `avgPool2d(countIncludePad: false)`
/// (up to float summation order) for kernel 3, which is all Inception uses; about 4× faster than
/// the general windowed loops, which cost a quarter of a forward pass. Tested against both.
/// The interior of each row pass runs four outputs per SIMD step (stride 1 and 2); sums are taken
/// in window order and divided by the in-image count, so the bits do not depend on the vector path.
func pool3x3(_ x: Tensor, _ kind: InceptionPool, stride s: Int, padding p: Int) -> Tensor {
    switch kind {
    case .max: pool3x3(x, MaxPool3.self, stride: s, padding: p)
    case .average: pool3x3(x, SumPool3.self, stride: s, padding: p)
    }
}

/// The combining operation of a 3×3 pool (max, or the sum an average divides).
protocol Pool3Op {
    static var averages: Bool { get }
    static func combine(_ a: Float, _ b: Float) -> Float
    static func combine(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float>
}

enum MaxPool3: Pool3Op {
    static var averages: Bool { false }
    @inline(__always) static func combine(_ a: Float, _ b: Float) -> Float { Swift.max(a, b) }
    /// `Swift.max` lane by lane (`b >= a ? b : a`) as a compare and blend (`pointwiseMax` goes
    /// through `Float.maximum` one lane at a time).
    @inline(__always) static func combine(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> { a.replacing(with: b, where: b .>= a) }
}

enum SumPool3: Pool3Op {
    static var averages: Bool { true }
    @inline(__always) static func combine(_ a: Float, _ b: Float) -> Float { a + b }
    @inline(__always) static func combine(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> { a + b }
}

private func pool3x3<Op: Pool3Op>(_ x: Tensor, _: Op.Type, stride s: Int, padding p: Int) -> Tensor {
    let (n, c, h, w) = (x.dim(0), x.dim(1), x.dim(2), x.dim(3))
    let oh = (h + 2 * p - 3) / s + 1, ow = (w + 2 * p - 3) / s + 1
    // Window of output index o along an axis of length `len`: [lo, hi) clipped to the input.
    func window(_ o: Int, _ len: Int) -> (Int, Int) { (max(o * s - p, 0), min(o * s - p + 3, len)) }
    let cols = (0..<ow).map { window($0, w) }, rows = (0..<oh).map { window($0, h) }
    // Output columns [inLo, inHi) have their whole window inside the row; the rest are edges.
    let inLo = min((p + s - 1) / s, ow), inHi = max(min(ow, (w - 3 + p) / s + 1), inLo)
    let edges = Array(0..<inLo) + Array(inHi..<ow)
    // Average: the in-image count of each output's window (count_include_pad=False).
    let divisors: [Float] = Op.averages
        ? (0..<(oh * ow)).map { i in Float(rows[i / ow].1 - rows[i / ow].0) * Float(cols[i % ow].1 - cols[i % ow].0) } : []
    let planes = n * c
    let chunks = min(planes, max(1, Threads.count * 4))
    return Tensor(shape: [n, c, oh, ow]) { out in
        let po = out.baseAddress!
        x.withUnsafeBufferPointer { px in
            let pin = px.baseAddress!
            cols.withUnsafeBufferPointer { cols in
                rows.withUnsafeBufferPointer { rows in
                    divisors.withUnsafeBufferPointer { div in
                        parallelFor(chunks) { chunk in
                            let tmp = UnsafeMutablePointer<Float>.allocate(capacity: h * ow)   // (h, ow) after the row pass
                            defer { tmp.deallocate() }
                            for plane in (planes * chunk / chunks)..<(planes * (chunk + 1) / chunks) {
                                let src = pin + plane * h * w, dst = po + plane * oh * ow
                                // Row pass: edge columns by their clipped windows, the interior 3 taps at a time.
                                for y in 0..<h {
                                    let line = src + y * w, t = tmp + y * ow
                                    for ox in edges {
                                        let (lo, hi) = cols[ox]
                                        var v = line[lo]
                                        for i in (lo + 1)..<hi { v = Op.combine(v, line[i]) }
                                        t[ox] = v
                                    }
                                    guard inLo < inHi else { continue }
                                    let b = line + (inLo * s - p)   // window start of output inLo
                                    var ox = inLo
                                    let raw = UnsafeRawPointer(b)
                                    if s == 1 {
                                        while ox + 4 <= inHi {
                                            let k = ox - inLo
                                            let v0 = raw.loadUnaligned(fromByteOffset: 4 * k, as: SIMD4<Float>.self)
                                            let v1 = raw.loadUnaligned(fromByteOffset: 4 * (k + 1), as: SIMD4<Float>.self)
                                            let v2 = raw.loadUnaligned(fromByteOffset: 4 * (k + 2), as: SIMD4<Float>.self)
                                            UnsafeMutableRawPointer(t + ox).storeBytes(of: Op.combine(Op.combine(v0, v1), v2), as: SIMD4<Float>.self)
                                            ox += 4
                                        }
                                    } else if s == 2 {
                                        // Eight inputs 2k ..< 2k + 8 give taps 0 and 1 (even/odd), 2k + 2 ..< 2k + 10 tap 2;
                                        // the last of those must lie inside the row.
                                        while ox + 4 <= inHi && (ox - inLo) * 2 + 10 <= w - (inLo * s - p) {
                                            let k = 2 * (ox - inLo)
                                            let a = raw.loadUnaligned(fromByteOffset: 4 * k, as: SIMD8<Float>.self)
                                            let b2 = raw.loadUnaligned(fromByteOffset: 4 * (k + 2), as: SIMD8<Float>.self)
                                            UnsafeMutableRawPointer(t + ox).storeBytes(
                                                of: Op.combine(Op.combine(a.evenHalf, a.oddHalf), b2.evenHalf), as: SIMD4<Float>.self)
                                            ox += 4
                                        }
                                    }
                                    while ox < inHi {
                                        let q = line + (ox * s - p)
                                        t[ox] = Op.combine(Op.combine(q[0], q[1]), q[2])
                                        ox += 1
                                    }
                                }
                                // Column pass: rows lo, lo + 1, … combined in order (then divided).
                                for oy in 0..<oh {
                                    let (lo, hi) = rows[oy]
                                    let d = dst + oy * ow, t0 = tmp + lo * ow
                                    if hi - lo == 3 {
                                        let t1 = t0 + ow, t2 = t1 + ow
                                        for ox in 0..<ow { d[ox] = Op.combine(Op.combine(t0[ox], t1[ox]), t2[ox]) }
                                    } else {
                                        d.update(from: t0, count: ow)
                                        for y in (lo + 1)..<hi {
                                            let t = tmp + y * ow
                                            for ox in 0..<ow { d[ox] = Op.combine(d[ox], t[ox]) }
                                        }
                                    }
                                    if Op.averages {
                                        let dv = div.baseAddress! + oy * ow
                                        for ox in 0..<ow { d[ox] /= dv[ox] }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

// MARK: - Blocks

/// FIDInceptionA (Mixed_5b/5c/5d): [1x1, 5x5, 3x3dbl, pool] → 64 + 64 + 96 + pool_features.
struct InceptionA: Sendable {
    let branch1x1, branch5x5_1, branch5x5_2, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3, branch_pool: BasicConv2d

    init(_ s: WeightScope, inChannels c: Int, poolFeatures: Int, eps: Float) throws {
        branch1x1 = try BasicConv2d(s.scope("branch1x1"), c, 64, kernel: (1, 1), eps: eps)
        branch5x5_1 = try BasicConv2d(s.scope("branch5x5_1"), c, 48, kernel: (1, 1), eps: eps)
        branch5x5_2 = try BasicConv2d(s.scope("branch5x5_2"), 48, 64, kernel: (5, 5), padding: (2, 2), eps: eps)
        branch3x3dbl_1 = try BasicConv2d(s.scope("branch3x3dbl_1"), c, 64, kernel: (1, 1), eps: eps)
        branch3x3dbl_2 = try BasicConv2d(s.scope("branch3x3dbl_2"), 64, 96, kernel: (3, 3), padding: (1, 1), eps: eps)
        branch3x3dbl_3 = try BasicConv2d(s.scope("branch3x3dbl_3"), 96, 96, kernel: (3, 3), padding: (1, 1), eps: eps)
        branch_pool = try BasicConv2d(s.scope("branch_pool"), c, poolFeatures, kernel: (1, 1), eps: eps)
    }

    var units: [BasicConv2d] { [branch1x1, branch5x5_1, branch5x5_2, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3, branch_pool] }

    func callAsFunction(_ x: Tensor) -> Tensor {                     // (C, B, 35, 35)
        concatenate(channels: 224 + branch_pool.outChannels, batch: x.dim(1), height: x.dim(2), width: x.dim(3)) { out in
            out.conv(branch1x1, x)                                      // 64
            out.conv(branch5x5_2, branch5x5_1(x))                       // 64
            out.conv(branch3x3dbl_3, branch3x3dbl_2(branch3x3dbl_1(x))) // 96
            out.conv(branch_pool, InceptionPool.average(x))            // pool_features
        }
    }
}

/// InceptionB (Mixed_6a, torchvision's, unpatched): [3x3 s2, 3x3dbl s2, max pool s2] → 384 + 96 + C.
struct InceptionB: Sendable {
    let branch3x3, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3: BasicConv2d

    init(_ s: WeightScope, inChannels c: Int, eps: Float) throws {
        branch3x3 = try BasicConv2d(s.scope("branch3x3"), c, 384, kernel: (3, 3), stride: 2, eps: eps)
        branch3x3dbl_1 = try BasicConv2d(s.scope("branch3x3dbl_1"), c, 64, kernel: (1, 1), eps: eps)
        branch3x3dbl_2 = try BasicConv2d(s.scope("branch3x3dbl_2"), 64, 96, kernel: (3, 3), padding: (1, 1), eps: eps)
        branch3x3dbl_3 = try BasicConv2d(s.scope("branch3x3dbl_3"), 96, 96, kernel: (3, 3), stride: 2, eps: eps)
    }

    var units: [BasicConv2d] { [branch3x3, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3] }

    func callAsFunction(_ x: Tensor) -> Tensor {                     // (288, B, 35, 35)
        let (oh, ow) = branch3x3.outputSize(x.dim(2), x.dim(3))
        return concatenate(channels: 384 + 96 + x.dim(0), batch: x.dim(1), height: oh, width: ow) { out in
            out.conv(branch3x3, x)                                      // 384
            out.conv(branch3x3dbl_3, branch3x3dbl_2(branch3x3dbl_1(x))) // 96
            out.copy(pool3x3(x, .max, stride: 2, padding: 0))            // C
        }                                                               // (768, B, 17, 17)
    }
}

/// FIDInceptionC (Mixed_6b–6e): [1x1, 7x7, 7x7dbl, pool] → 4 × 192.
struct InceptionC: Sendable {
    let branch1x1: BasicConv2d
    let branch7x7_1, branch7x7_2, branch7x7_3: BasicConv2d
    let branch7x7dbl_1, branch7x7dbl_2, branch7x7dbl_3, branch7x7dbl_4, branch7x7dbl_5: BasicConv2d
    let branch_pool: BasicConv2d

    init(_ s: WeightScope, inChannels c: Int, channels7x7 c7: Int, eps: Float) throws {
        branch1x1 = try BasicConv2d(s.scope("branch1x1"), c, 192, kernel: (1, 1), eps: eps)
        branch7x7_1 = try BasicConv2d(s.scope("branch7x7_1"), c, c7, kernel: (1, 1), eps: eps)
        branch7x7_2 = try BasicConv2d(s.scope("branch7x7_2"), c7, c7, kernel: (1, 7), padding: (0, 3), eps: eps)
        branch7x7_3 = try BasicConv2d(s.scope("branch7x7_3"), c7, 192, kernel: (7, 1), padding: (3, 0), eps: eps)
        branch7x7dbl_1 = try BasicConv2d(s.scope("branch7x7dbl_1"), c, c7, kernel: (1, 1), eps: eps)
        branch7x7dbl_2 = try BasicConv2d(s.scope("branch7x7dbl_2"), c7, c7, kernel: (7, 1), padding: (3, 0), eps: eps)
        branch7x7dbl_3 = try BasicConv2d(s.scope("branch7x7dbl_3"), c7, c7, kernel: (1, 7), padding: (0, 3), eps: eps)
        branch7x7dbl_4 = try BasicConv2d(s.scope("branch7x7dbl_4"), c7, c7, kernel: (7, 1), padding: (3, 0), eps: eps)
        branch7x7dbl_5 = try BasicConv2d(s.scope("branch7x7dbl_5"), c7, 192, kernel: (1, 7), padding: (0, 3), eps: eps)
        branch_pool = try BasicConv2d(s.scope("branch_pool"), c, 192, kernel: (1, 1), eps: eps)
    }

    var units: [BasicConv2d] {
        [branch1x1, branch7x7_1, branch7x7_2, branch7x7_3, branch7x7dbl_1, branch7x7dbl_2, branch7x7dbl_3,
         branch7x7dbl_4, branch7x7dbl_5, branch_pool]
    }

    func callAsFunction(_ x: Tensor) -> Tensor {                     // (768, B, 17, 17)
        concatenate(channels: 4 * 192, batch: x.dim(1), height: x.dim(2), width: x.dim(3)) { out in
            out.conv(branch1x1, x)                                                  // 192
            out.conv(branch7x7_3, branch7x7_2(branch7x7_1(x)))                      // 192
            let d = branch7x7dbl_4(branch7x7dbl_3(branch7x7dbl_2(branch7x7dbl_1(x))))
            out.conv(branch7x7dbl_5, d)                                             // 192
            out.conv(branch_pool, InceptionPool.average(x))                        // 192
        }
    }
}

/// InceptionD (Mixed_7a, torchvision's): [3x3 s2, 7x7x3 s2, max pool s2] → 320 + 192 + C.
struct InceptionD: Sendable {
    let branch3x3_1, branch3x3_2: BasicConv2d
    let branch7x7x3_1, branch7x7x3_2, branch7x7x3_3, branch7x7x3_4: BasicConv2d

    init(_ s: WeightScope, inChannels c: Int, eps: Float) throws {
        branch3x3_1 = try BasicConv2d(s.scope("branch3x3_1"), c, 192, kernel: (1, 1), eps: eps)
        branch3x3_2 = try BasicConv2d(s.scope("branch3x3_2"), 192, 320, kernel: (3, 3), stride: 2, eps: eps)
        branch7x7x3_1 = try BasicConv2d(s.scope("branch7x7x3_1"), c, 192, kernel: (1, 1), eps: eps)
        branch7x7x3_2 = try BasicConv2d(s.scope("branch7x7x3_2"), 192, 192, kernel: (1, 7), padding: (0, 3), eps: eps)
        branch7x7x3_3 = try BasicConv2d(s.scope("branch7x7x3_3"), 192, 192, kernel: (7, 1), padding: (3, 0), eps: eps)
        branch7x7x3_4 = try BasicConv2d(s.scope("branch7x7x3_4"), 192, 192, kernel: (3, 3), stride: 2, eps: eps)
    }

    var units: [BasicConv2d] { [branch3x3_1, branch3x3_2, branch7x7x3_1, branch7x7x3_2, branch7x7x3_3, branch7x7x3_4] }

    func callAsFunction(_ x: Tensor) -> Tensor {                     // (768, B, 17, 17)
        let (oh, ow) = branch3x3_2.outputSize(x.dim(2), x.dim(3))
        return concatenate(channels: 320 + 192 + x.dim(0), batch: x.dim(1), height: oh, width: ow) { out in
            out.conv(branch3x3_2, branch3x3_1(x))                                            // 320
            out.conv(branch7x7x3_4, branch7x7x3_3(branch7x7x3_2(branch7x7x3_1(x))))          // 192
            out.copy(pool3x3(x, .max, stride: 2, padding: 0))                                  // C
        }                                                               // (1280, B, 8, 8)
    }
}

/// FIDInceptionE_1 (Mixed_7b, average pool) and FIDInceptionE_2 (Mixed_7c, max pool):
/// [1x1, 3x3_2a, 3x3_2b, 3x3dbl_3a, 3x3dbl_3b, pool] → 320 + 384·4 + 192 = 2048.
struct InceptionE: Sendable {
    let branch1x1: BasicConv2d
    let branch3x3_1, branch3x3_2a, branch3x3_2b: BasicConv2d
    let branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3a, branch3x3dbl_3b: BasicConv2d
    let branch_pool: BasicConv2d
    let pool: InceptionPool

    init(_ s: WeightScope, inChannels c: Int, pool: InceptionPool, eps: Float) throws {
        self.pool = pool
        branch1x1 = try BasicConv2d(s.scope("branch1x1"), c, 320, kernel: (1, 1), eps: eps)
        branch3x3_1 = try BasicConv2d(s.scope("branch3x3_1"), c, 384, kernel: (1, 1), eps: eps)
        branch3x3_2a = try BasicConv2d(s.scope("branch3x3_2a"), 384, 384, kernel: (1, 3), padding: (0, 1), eps: eps)
        branch3x3_2b = try BasicConv2d(s.scope("branch3x3_2b"), 384, 384, kernel: (3, 1), padding: (1, 0), eps: eps)
        branch3x3dbl_1 = try BasicConv2d(s.scope("branch3x3dbl_1"), c, 448, kernel: (1, 1), eps: eps)
        branch3x3dbl_2 = try BasicConv2d(s.scope("branch3x3dbl_2"), 448, 384, kernel: (3, 3), padding: (1, 1), eps: eps)
        branch3x3dbl_3a = try BasicConv2d(s.scope("branch3x3dbl_3a"), 384, 384, kernel: (1, 3), padding: (0, 1), eps: eps)
        branch3x3dbl_3b = try BasicConv2d(s.scope("branch3x3dbl_3b"), 384, 384, kernel: (3, 1), padding: (1, 0), eps: eps)
        branch_pool = try BasicConv2d(s.scope("branch_pool"), c, 192, kernel: (1, 1), eps: eps)
    }

    var units: [BasicConv2d] {
        [branch1x1, branch3x3_1, branch3x3_2a, branch3x3_2b, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3a,
         branch3x3dbl_3b, branch_pool]
    }

    func callAsFunction(_ x: Tensor) -> Tensor {                     // (1280|2048, B, 8, 8)
        concatenate(channels: 2048, batch: x.dim(1), height: x.dim(2), width: x.dim(3)) { out in
            out.conv(branch1x1, x)                                      // 320
            let b3 = branch3x3_1(x)
            out.conv(branch3x3_2a, b3)                                  // 384
            out.conv(branch3x3_2b, b3)                                  // 384
            let d = branch3x3dbl_2(branch3x3dbl_1(x))
            out.conv(branch3x3dbl_3a, d)                                // 384
            out.conv(branch3x3dbl_3b, d)                                // 384
            out.conv(branch_pool, pool(x))                              // 192
        }                                                               // (2048, B, 8, 8)
    }
}
