// The input side of the FID Inception: how each reference tool turns an 8-bit RGB image into the
// (1, 3, 299, 299) network input. This is where pytorch-fid, torch-fidelity/ADM and clean-fid
// differ (the network after the first conv is identical); their pool3 features differ by up to
// 1.4 % (fixtures/inception/README.md), so every report records which protocol produced a number.
//
// References: mseitzer/pytorch-fid src/pytorch_fid/inception.py @ b9c18118 (`InceptionV3.forward`,
// fed by `fid_score.py`'s `ToTensor()`); toshas/torch-fidelity feature_extractor_inceptionv3.py @ 028118e5
// and interpolate_compat_tensorflow.py @ 0e40ea8e; openai/guided-diffusion evaluations/evaluator.py
// (the ADM evaluator runs the TF graph, whose own ResizeBilinear/Sub/Mul this reproduces);
// GaParmar/clean-fid cleanfid/resize.py + features.py (mode "clean").

import DigitCheckpoint
import DigitImage
import DigitTensor
import Dispatch
import Foundation

/// A named recipe for turning images into FID Inception inputs.
public enum InceptionProtocol: String, CaseIterable, Codable, Sendable {
    /// The ADM TF evaluator (LlamaGen, VAR, DiT, Open-MAGVIT2 AR tables): uint8 → float 0…255,
    /// TF1 `resize_bilinear` to 299 (align_corners=False, no half-pixel offset), `(x − 128) / 128`.
    case adm
    /// torch-fidelity's 'inception-v3-compat' (DiGIT): the same arithmetic as `adm`.
    case torchFidelity = "torch-fidelity"
    /// pytorch-fid (`fid_score.py`, Open-MAGVIT2 rFID): `x / 255`, `F.interpolate(bilinear,
    /// align_corners=False)` to 299 (no antialias), `2x − 1`.
    case pytorchFid = "pytorch-fid"
    /// clean-fid mode "clean": per-channel Pillow BICUBIC in float mode to 299 (no requantisation),
    /// clip to 0…255, `(x − 128) / 128`.
    case cleanFid = "clean-fid"

    public var summary: String {
        switch self {
        case .adm, .torchFidelity: "uint8 -> float 0..255, TF1 bilinear to 299 (no half-pixel offset), (x-128)/128"
        case .pytorchFid: "x/255, torch bilinear (align_corners=False) to 299, 2x-1"
        case .cleanFid: "PIL bicubic in float mode to 299, clip 0..255, (x-128)/128"
        }
    }

    /// The network input (1, 3, side, side) for image `index` of `images`.
    public func networkInput(_ images: ImageBatch, index: Int, side: Int = 299) -> Tensor {
        precondition(index >= 0 && index < images.count, "image \(index) of \(images.count)")
        let (h, w) = (images.height, images.width)
        let plane = h * w
        if self == .cleanFid {
            // clean-fid resizes the uint8 image itself (each channel as a Pillow 'F' image).
            let hwc = Resample.cleanFIDResize(images.image(index), width: side, height: side, filter: .bicubic)
            return Tensor(shape: [1, 3, side, side]) { out in
                for c in 0..<3 { for i in 0..<(side * side) { out[c * side * side + i] = (hwc[i * 3 + c] - 128) / 128 } }
            }
        }
        // uint8 HWC → float CHW, scaled as the reference does before resizing.
        let divisor: Float? = self == .pytorchFid ? 255 : nil   // ToTensor(): img.float().div(255)
        let chw = images.pixels.withUnsafeBufferPointer { px in
            let src = px.baseAddress! + index * plane * 3
            return Tensor(shape: [1, 3, h, w]) { out in
                for c in 0..<3 {
                    let dst = out.baseAddress! + c * plane
                    if let divisor {
                        for i in 0..<plane { dst[i] = Float(src[i * 3 + c]) / divisor }
                    } else {
                        for i in 0..<plane { dst[i] = Float(src[i * 3 + c]) }
                    }
                }
            }
        }
        return networkInput(chw, side: side)
    }

    /// The network input for a float image (1, 3, H, W) already on this protocol's input scale:
    /// 0…1 for `pytorch-fid`, 0…255 for the others.
    public func networkInput(_ x: Tensor, side: Int = 299) -> Tensor {
        switch self {
        case .adm, .torchFidelity:
            let r = interpolateBilinearTF1(x, size: (side, side), alignCorners: false)
            return r.mapScalars { ($0 - 128) / 128 }
        case .pytorchFid:
            let r = interpolateBilinear(x, size: (side, side), alignCorners: false)
            return r.mapScalars { 2 * $0 - 1 }
        case .cleanFid:
            // Pillow 'F'-mode BICUBIC per channel, clip to 0…255 (clean-fid `make_resizer('PIL', False, 'bicubic')`).
            let (h, w) = (x.dim(2), x.dim(3))
            var out = [Float]()
            out.reserveCapacity(3 * side * side)
            for c in 0..<3 {
                let plane = Array(x.scalars[c * h * w..<(c + 1) * h * w])
                let r = Resample.resizeFloat(plane, width: w, height: h, toWidth: side, toHeight: side, filter: .bicubic)
                out += r.map { (min(max($0, 0), 255) - 128) / 128 }
            }
            return Tensor(shape: [1, 3, side, side], scalars: out)
        }
    }
}

/// Errors of the Inception feature extractor.
public enum InceptionError: Error, CustomStringConvertible, Equatable {
    case unknownFeature(String)
    case unknownProtocol(String)

    public var description: String {
        switch self {
        case let .unknownFeature(name):
            let valid = InceptionFeature.allCases.map(\.rawValue).joined(separator: ", ")
            return "unknown Inception feature '\(name)'\(didYouMean(name, InceptionFeature.allCases.map(\.rawValue))); valid: \(valid)"
        case let .unknownProtocol(name):
            let valid = InceptionProtocol.allCases.map(\.rawValue).joined(separator: ", ")
            return "unknown input protocol '\(name)'\(didYouMean(name, InceptionProtocol.allCases.map(\.rawValue))); valid: \(valid)"
        }
    }
}

extension InceptionProtocol {
    /// Parses a protocol name, with a "did you mean" error for unknown ones.
    public init(parsing name: String) throws {
        guard let p = InceptionProtocol(rawValue: name) else { throw InceptionError.unknownProtocol(name) }
        self = p
    }
}

extension Tensor {
    /// Elementwise `f` (same shape).
    fileprivate func mapScalars(_ f: (Float) -> Float) -> Tensor {
        Tensor(shape: shape, scalars: scalars.map(f))
    }
}

// MARK: - Extraction over batches

extension InceptionV3 {
    /// Features of every image in `images` under `inputProtocol`: one (N, D) tensor per requested
    /// feature, rows in image order.
    ///
    /// Images go through the network in groups of up to ``maxGroup`` (one sgemm per convolution
    /// block for the whole group, so weights are packed once per group rather than once per
    /// image — what makes the 17×17 and 8×8 layers efficient); ``Threads/count`` groups run at
    /// once, each with single-threaded sgemm. An image's features are the same bits whatever group
    /// it lands in, so rows do not depend on how a dataset is split into batches or shards.
    public func extract(
        _ images: ImageBatch, protocol inputProtocol: InceptionProtocol, features: [InceptionFeature]
    ) throws -> [InceptionFeature: Tensor] {
        let wanted = Set(features)
        let n = images.count
        var perImage = [[InceptionFeature: [Float]]](repeating: [:], count: n)
        let workers = min(Threads.count, n)
        // Enough groups for every worker, each at most maxGroup images.
        let group = max(1, min(Self.maxGroup, (n + workers - 1) / max(workers, 1)))
        let groups = (n + group - 1) / group
        let side = configuration.image_size
        Threads.withSingleThreadedBLAS {
            perImage.withUnsafeMutableBufferPointer { slots in
                let slots = slots
                parallelFor(workers) { worker in  // workers join the single-threaded BLAS section
                    for g in stride(from: worker, to: groups, by: workers) {
                        let range = (g * group)..<min(n, (g + 1) * group)
                        // (3, B, side, side): each image's (1, 3, side, side) input at its batch slot.
                        let plane = side * side
                        let x = Tensor(shape: [3, range.count, side, side]) { out in
                            for (slot, i) in range.enumerated() {
                                let input = inputProtocol.networkInput(images, index: i, side: side)
                                input.withUnsafeBufferPointer { p in
                                    for c in 0..<3 {
                                        (out.baseAddress! + (c * range.count + slot) * plane).update(from: p.baseAddress! + c * plane, count: plane)
                                    }
                                }
                            }
                        }
                        for (slot, act) in forwardGroup(x, features: wanted).enumerated() { slots[range.lowerBound + slot] = act.features }
                    }
                }
            }
        }
        var out: [InceptionFeature: Tensor] = [:]
        for f in wanted {
            var rows = [Float]()
            rows.reserveCapacity(n * f.dimension)
            for r in perImage { rows += r[f]! }
            out[f] = Tensor(shape: [n, f.dimension], scalars: rows)
        }
        return out
    }

    /// Largest group of images one worker runs through the network at once (memory per worker
    /// ≈ 25 MB per image at the stem).
    public static let maxGroup = 8
}

/// A FeatureExtractor view of the FID Inception with a fixed input protocol.
public struct InceptionFeatureExtractor: FeatureExtractor {
    public let network: InceptionV3
    public let inputProtocol: InceptionProtocol

    public init(network: InceptionV3, inputProtocol: InceptionProtocol) {
        self.network = network
        self.inputProtocol = inputProtocol
    }

    public var id: FeatureExtractorID { .inceptionV3 }
    public var isSeeded: Bool { network.isSeeded }
    public var provenance: String { "\(id.rawValue) (\(network.weightsDescription)), protocol \(inputProtocol.rawValue)" }
    public var availableFeatures: [FeatureSpec] {
        InceptionFeature.allCases.map { FeatureSpec(name: $0.rawValue, dimension: $0.dimension) }
    }

    public func extractFeatures(_ images: ImageBatch, names: [String]) throws -> [String: Tensor] {
        let features = try names.map { n -> InceptionFeature in
            guard let f = InceptionFeature(name: n) else { throw InceptionError.unknownFeature(n) }
            return f
        }
        let out = try network.extract(images, protocol: inputProtocol, features: features)
        return Dictionary(uniqueKeysWithValues: zip(names, features).map { ($0, out[$1]!) })
    }
}
