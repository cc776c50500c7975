// Port of DAMO-NLP-SG/DiGIT fairseq_user/image_generation_stage1/model.py @ cd6d8ca3
// (`STTransformerLanguageModel.build_centroids`, `__init__` centroid_norm, `prepare_semantic`), with the
// input pipelines of fairseq_user/dataset.py (`ImageDataset` 'val'/'noaug', linear probe) and
// preprocess/data_handler.py (`ManifestDataset`, the K-means feature dump).
//
// DiGIT's discriminative tokenizer has no decoder: a DINOv2 hidden state per 14×14 patch, assigned
// to the nearest K-means centroid by squared L2.

import DigitCheckpoint
import DigitImage
import DigitNN
import DigitTensor
import Foundation

/// DiGIT's tokenizers (`--tokenizer`).
public enum DiGITTokenizerID: String, CaseIterable, Sendable, Codable {
    case base8k = "digit-base-8k"
    case large16k = "digit-large-16k"

    public var encoder: DINOv2Model { self == .base8k ? .vitb14reg4 : .vitl14reg4 }
    /// The published centroid file (`km_8k.npy`: 8192 × 768; `km_16k.npy`: 16000 × 1024).
    public var centroidFile: String { self == .base8k ? "km_8k.npy" : "km_16k.npy" }
    /// Clusters in the published centroid file (the file's own shape is authoritative).
    public var nominalCodebookSize: Int { self == .base8k ? 8192 : 16000 }
}

/// The three ways DiGIT feeds images to its tokenizer (fixture `input_paths`).
public enum DiGITInputPath: String, CaseIterable, Sendable, Codable {
    /// Resize(256, bicubic) + CenterCrop(256) + ToTensor, normalise, then bicubic ×224/256 (torch,
    /// no antialias) inside `prepare_semantic`: stage-1/2 training and tokenisation.
    case gen256
    /// Resize(224, bicubic) + CenterCrop(224): the K-means feature dump.
    case dump224
    /// Resize(256, bicubic) + CenterCrop(224): linear-probe validation.
    case lp224

    /// (resize side, crop side) of the Pillow stage.
    var resizeCrop: (Int, Int) {
        switch self {
        case .gen256: return (256, 256)
        case .dump224: return (224, 224)
        case .lp224: return (256, 224)
        }
    }
}

/// A K-means codebook: centroids (K, D) as in `km_8k.npy`, with their squared norms.
public struct DiGITCentroids: Sendable {
    public let k: Int
    public let d: Int
    /// (K, D) row-major.
    public let values: [Float]
    /// `centroid_norm`: ‖c‖² (K), float32.
    public let norms: [Float]

    public init(values: [Float], k: Int, d: Int, norms: [Float]? = nil) {
        precondition(values.count == k * d, "DiGITCentroids: \(values.count) values for \(k)x\(d)")
        self.k = k
        self.d = d
        self.values = values
        self.norms = norms ?? values.withUnsafeBufferPointer { NearestCentroidSearch.rowNorms($0.baseAddress!, rows: k, d: d) }
    }

    /// A `.npy` as DiGIT's `cluster_kmeans.py` writes it: float32 (K, D), C order.
    public init(npy url: URL) throws {
        let a = try NPY.read(contentsOf: url)
        guard a.shape.count == 2, a.shape[0] > 0, a.shape[1] > 0 else {
            throw ModelLoadError.shapeMismatch(key: "centroids", expected: [-1, -1], actual: a.shape, source: url.path)
        }
        self.init(values: a.floats(), k: a.shape[0], d: a.shape[1])
    }

    /// From a DiGIT checkpoint's `centroids` (D, K) and `centroid_norm` (1, K).
    public init(transposed centroids: Tensor, norms: Tensor, source: String) throws {
        guard centroids.rank == 2 else {
            throw ModelLoadError.shapeMismatch(key: "centroids", expected: [-1, -1], actual: centroids.shape, source: source)
        }
        let (d, k) = (centroids.dim(0), centroids.dim(1))
        guard norms.shape == [1, k] else {
            throw ModelLoadError.shapeMismatch(key: "centroid_norm", expected: [1, k], actual: norms.shape, source: source)
        }
        self.init(values: centroids.transposed(0, 1).scalars, k: k, d: d, norms: norms.scalars)
    }

    /// Seeded stand-ins: `seeded_tensor('kmeans.centroids', [K, D])` (fixtures `digit_tokenizer/`).
    public static func seeded(k: Int, d: Int) -> DiGITCentroids {
        DiGITCentroids(values: SeededWeights.values(key: "kmeans.centroids", shape: [k, d]), k: k, d: d)
    }

    /// Nearest centroid (squared L2, lowest index on ties) of each row of `features` (…, D).
    public func assign(_ features: Tensor) -> (indices: [Int], distances: [Float]) {
        precondition(features.dim(-1) == d, "centroids have D = \(d), features \(features.shape)")
        let (idx, dist) = values.withUnsafeBufferPointer { c in
            features.withUnsafeBufferPointer { f in
                NearestCentroidSearch(centroids: c, k: k, d: d, norms: norms).assign(f.baseAddress!, count: features.count / d)
            }
        }
        return (idx.map(Int.init), dist)
    }
}

/// DiGIT's tokenizer: DINOv2 `get_intermediate_layers(x, 3)[0]` (final norm of block L−3, patch
/// tokens) → nearest K-means centroid. Encode only: there is no decoder.
///
/// Token ids here are cluster indices `k ∈ 0..<K`; DiGIT's stage-1 GPT sees `k + 5` (fairseq
/// specials) and stage 2 `k + 1034`.
public final class DiGITTokenizer: Sendable {
    public let id: DiGITTokenizerID?
    public let encoder: DINOv2
    public let centroids: DiGITCentroids
    /// `pretrained_enc_config.layer` (config/stage1/dino_base.yaml): the n of get_intermediate_layers.
    public let lastBlocks: Int

    public init(id: DiGITTokenizerID?, encoder: DINOv2, centroids: DiGITCentroids, lastBlocks: Int = 3) throws {
        guard centroids.d == encoder.embedDim else {
            throw ModelLoadError.invalidConfiguration("centroids have D = \(centroids.d), the encoder \(encoder.embedDim)")
        }
        guard (1...encoder.depth).contains(lastBlocks) else {
            throw ModelLoadError.invalidConfiguration("layer \(lastBlocks) outside 1...\(encoder.depth)")
        }
        self.id = id
        self.encoder = encoder
        self.centroids = centroids
        self.lastBlocks = lastBlocks
    }

    /// The released DINOv2 checkpoint (flat state dict) and a `km_*.npy` centroid file.
    public static func load(_ id: DiGITTokenizerID, encoderCheckpoint: URL, centroids: URL) throws -> DiGITTokenizer {
        let (sd, _) = try Checkpoint.load(encoderCheckpoint)
        let encoder = try DINOv2(id.encoder, weights: Weights(stateDict: sd))
        return try DiGITTokenizer(id: id, encoder: encoder, centroids: DiGITCentroids(npy: centroids))
    }

    /// A DiGIT stage-1/2 fairseq checkpoint (`checkpoint_last.pt`): its `model` dict (or the top
    /// level when there is none, e.g. a converted file) holds `pretrained_encoder.*`, `centroids`
    /// (D, K) and `centroid_norm` (1, K).
    public static func load(digitCheckpoint url: URL) throws -> DiGITTokenizer {
        let ckpt = try Checkpoint.open(url)
        let hasModel = Checkpoint.children(ckpt.root).contains { $0.0 == "model" }
        return try DiGITTokenizer(digitStateDict: ckpt.stateDict(select: hasModel ? "model" : nil))
    }

    /// From a DiGIT model state dict: the encoder from `pretrained_encoder.*` (strict; ViT-B or ViT-L
    /// by the width of `pos_embed`), the codebook from `centroids` and the stored `centroid_norm`.
    /// Other keys (the GPT `decoder.*`, stage 2's `vqgan.*`) are not the tokenizer's and are ignored.
    public convenience init(digitStateDict all: StateDict) throws {
        let source = all.source ?? "DiGIT checkpoint"
        let enc = all.selecting(prefix: "pretrained_encoder.")
        guard let pos = enc["pos_embed"] else {
            throw ModelLoadError.missingKey(key: "pretrained_encoder.pos_embed", expectedShape: [1, 1370, -1], source: source)
        }
        let id: DiGITTokenizerID = pos.shape.last == 1024 ? .large16k : .base8k
        for key in ["centroids", "centroid_norm"] where all[key] == nil {
            let d = id.encoder.configuration.embedDim
            throw ModelLoadError.missingKey(key: key, expectedShape: key == "centroids" ? [d, -1] : [1, -1], source: source)
        }
        let encoder = try DINOv2(id.encoder, weights: Weights(stateDict: enc))
        let c = try DiGITCentroids(transposed: all.tensor("centroids"), norms: all.tensor("centroid_norm"), source: source)
        try self.init(id: id, encoder: encoder, centroids: c)
    }

    /// Seeded encoder and seeded `kmeans.centroids` (K, D), as the fixtures use.
    public static func seeded(_ id: DiGITTokenizerID, codebookSize: Int? = nil) throws -> DiGITTokenizer {
        let encoder = try DINOv2(id.encoder, weights: .seeded())
        let c = DiGITCentroids.seeded(k: codebookSize ?? id.nominalCodebookSize, d: encoder.embedDim)
        return try DiGITTokenizer(id: id, encoder: encoder, centroids: c)
    }

    public var codebookSize: Int { centroids.k }
    public var patchSize: Int { encoder.configuration.patchSize }
    public var usesSeededWeights: Bool { encoder.isSeeded }

    // MARK: Input

    /// The Pillow stage of `path`: torchvision `Resize(side, BICUBIC)` + `CenterCrop(crop)`.
    public static func crop(_ image: RGBImage, path: DiGITInputPath) -> RGBImage {
        let (side, crop) = path.resizeCrop
        let resized = Preprocess.torchvisionResize(image, size: side, filter: .bicubic)
        return Preprocess.torchvisionCenterCrop(resized, width: crop, height: crop)
    }

    /// What the ViT sees: normalised, and for 256-px input bicubic-resampled by 224/256 as
    /// `prepare_semantic` does (`F.interpolate(scale_factor=224/256, mode='bicubic')` on the
    /// normalised tensor). Images must already be cropped (``crop(_:path:)``): 256 or 224 square.
    /// → (B, 3, 224, 224)
    public static func encoderInput(croppedImages images: ImageBatch) -> Tensor {
        encoderInput(normalized: DINOv2Input.normalized(images))
    }

    /// ``encoderInput(croppedImages:)`` after the normalisation: 256-px input is resampled
    /// bicubic ×224/256, 224-px input passes. (B, 3, S, S) → (B, 3, 224, 224)
    public static func encoderInput(normalized x: Tensor) -> Tensor {
        let (h, w) = (x.dim(2), x.dim(3))
        guard w == 256 else {
            precondition(w == 224 && h == 224, "DiGIT expects 256 or 224 px input, got \(w)x\(h)")
            return x
        }
        let s = 224.0 / 256.0, out = Int((256 * s).rounded(.down))
        return interpolateBicubic(x, size: (Int((Double(h) * s).rounded(.down)), out), scaleFactors: (s, s))
    }

    // MARK: Encoding

    /// DiGIT's feature: `norm(block L − 3)[:, 5:]`. (B, 3, 224, 224) → (B, 256, D)
    public func features(_ encoderInput: Tensor) -> Tensor {
        encoder.intermediatePatchFeatures(encoderInput, lastBlocks: lastBlocks)
    }

    /// Cluster ids per image, row-major over the patch grid. (B, 3, H, W) → B × (H/14·W/14)
    public func encode(encoderInput x: Tensor) -> [[Int]] {
        let f = features(x)                                             // (B, N, D)
        let (b, n) = (f.dim(0), f.dim(1))
        let ids = centroids.assign(f).indices
        return (0..<b).map { Array(ids[($0 * n)..<(($0 + 1) * n)]) }
    }

    /// Tokens, DINOv2 features and their centroids as a ``TokenizerEncoding``: tokens (B, √N, √N)
    /// row-major, `latent` the features (B, D, √N, √N), `quantized` the nearest centroids'.
    /// (B, 3, 224, 224) encoder input → encoding
    public func encoding(encoderInput x: Tensor) -> TokenizerEncoding {
        let f = features(x)                                                 // (B, N, D)
        let (b, n, d) = (f.dim(0), f.dim(1), f.dim(2))
        let side = Int(Double(n).squareRoot())
        precondition(side * side == n, "DiGIT: \(n) patches do not form a square grid")
        let (indices, _) = centroids.assign(f)
        let latent = f.reshaped([b, side, side, d]).permuted([0, 3, 1, 2])  // (B, D, side, side)
        let quantized = Tensor(shape: [b, side, side, d]) { out in
            centroids.values.withUnsafeBufferPointer { c in
                for (r, k) in indices.enumerated() { (out.baseAddress! + r * d).initialize(from: c.baseAddress! + k * d, count: d) }
            }
        }.permuted([0, 3, 1, 2])
        return TokenizerEncoding(tokens: TokenGrid(batch: b, height: side, width: side, indices: indices), latent: latent, quantized: quantized)
    }

    /// ``encoding(encoderInput:)`` of images of any size through `path` (one batch).
    public func encoding(images: [RGBImage], path: DiGITInputPath = .gen256) -> TokenizerEncoding {
        encoding(encoderInput: Self.encoderInput(croppedImages: ImageBatch(images: images.map { Self.crop($0, path: path) })))
    }

    /// Images of any size → cluster ids (B × 256), through `path` (default: DiGIT's generation
    /// path). Images are processed in batches of `batchSize`.
    public func encode(images: [RGBImage], path: DiGITInputPath = .gen256, batchSize: Int = 8) -> [[Int]] {
        var out: [[Int]] = []
        var start = 0
        while start < images.count {
            let chunk = images[start..<min(start + batchSize, images.count)].map { Self.crop($0, path: path) }
            out += encode(encoderInput: Self.encoderInput(croppedImages: ImageBatch(images: chunk)))
            start += batchSize
        }
        return out
    }
}
