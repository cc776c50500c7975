import DigitImage
import DigitTensor
import Foundation

/// The value range a tokenizer's network takes images in and returns them in.
public enum PixelRange: String, Sendable, Codable {
    /// `[-1, 1]`: Open-MAGVIT2 (`u8 / 127.5 - 1`), LlamaGen and MAGE (`Normalize(0.5, 0.5)`).
    case minusOneToOne = "[-1,1]"
    /// `[0, 1]`: `ToTensor()` without normalisation.
    case zeroToOne = "[0,1]"

    public var bounds: ClosedRange<Float> {
        switch self {
        case .minusOneToOne: return -1...1
        case .zeroToOne: return 0...1
        }
    }
}

/// A batch of discrete token grids, row-major `(batch, height, width)`.
///
/// Token `t` of image `b` sits at `(t / width, t % width)`, as upstream flattens `h·w`.
public struct TokenGrid: Sendable, Equatable {
    public var batch: Int
    public var height: Int
    public var width: Int
    /// `batch * height * width` indices in `0 ..< codebookSize`.
    public var indices: [Int]

    public init(batch: Int, height: Int, width: Int, indices: [Int]) {
        precondition(indices.count == batch * height * width,
                     "TokenGrid: \(indices.count) indices for \(batch)x\(height)x\(width)")
        self.batch = batch
        self.height = height
        self.width = width
        self.indices = indices
    }

    /// The tokens of image `b`.
    public func tokens(of b: Int) -> ArraySlice<Int> {
        let n = height * width
        return indices[(b * n)..<((b + 1) * n)]
    }
}

/// What ``ImageTokenizer/encode(_:)`` returns.
public struct TokenizerEncoding: Sendable {
    /// The token indices.
    public var tokens: TokenGrid
    /// The continuous encoder output the quantizer receives, `(B, C, h, w)`.
    public var latent: Tensor
    /// The quantized code vectors the decoder receives, `(B, C, h, w)`.
    public var quantized: Tensor

    public init(tokens: TokenGrid, latent: Tensor, quantized: Tensor) {
        self.tokens = tokens
        self.latent = latent
        self.quantized = quantized
    }
}

/// An image tokenizer: images ↔ a grid of discrete tokens.
///
/// Images are `(B, 3, H, W)` float tensors in ``inputRange``. ``encode(_:)`` and ``decode(_:)``
/// are pure functions of their inputs and the loaded weights; they may be called from one thread
/// at a time (they use all cores inside). The reconstruction pipeline goes
/// `modelInput(batch) → encode → decode(tokens) → outputImages`, so any tokenizer that implements
/// these plugs into `reconstruct`, `tokenize` and `detokenize`.
public protocol ImageTokenizer: AnyObject, Sendable {
    /// The public registry id (`lfq-256`, `llamagen-vq16`, …).
    var id: String { get }
    /// The square image side the tokenizer was trained and is evaluated at.
    var inputResolution: Int { get }
    /// The value range of network inputs and outputs.
    var inputRange: PixelRange { get }
    /// Number of distinct token values.
    var codebookSize: Int { get }
    /// Image side / token-grid side.
    var downsampleFactor: Int { get }
    /// True when the weights are seeded stand-ins (`spec/seeded-weights.md`), not a real checkpoint.
    var usesSeededWeights: Bool { get }

    /// Converts 8-bit RGB images into network input exactly as the tokenizer's upstream
    /// evaluation does (NCHW float32 in ``inputRange``).
    func modelInput(_ images: ImageBatch) -> Tensor
    /// Encodes `(B, 3, H, W)` images into tokens (H and W multiples of ``downsampleFactor``).
    func encode(_ images: Tensor) throws -> TokenizerEncoding
    /// Decodes tokens into `(B, 3, h·f, w·f)` images in ``inputRange``, **not clamped**.
    func decode(_ tokens: TokenGrid) throws -> Tensor
}

extension ImageTokenizer {
    /// The token grid of an ``inputResolution`` image.
    public var gridSize: (height: Int, width: Int) {
        (inputResolution / downsampleFactor, inputResolution / downsampleFactor)
    }

    /// `log2(codebookSize)`: the information one token can carry.
    public var bitsPerToken: Double { log2(Double(codebookSize)) }

    /// Bits per pixel of the token representation: `bitsPerToken / downsampleFactor²`.
    public var bitsPerPixel: Double { bitsPerToken / Double(downsampleFactor * downsampleFactor) }

    /// Decoded images to 8-bit RGB the way upstream evaluation saves them (`custom_to_pil` in
    /// Open-MAGVIT2's `evaluation.py` and LlamaGen's sample saving): clamp to ``inputRange``, map to
    /// [0, 1], multiply by 255 and **truncate** (`astype(uint8)`), in float32.
    public func outputImages(_ decoded: Tensor) -> ImageBatch {
        precondition(decoded.rank == 4 && decoded.dim(1) == 3, "outputImages: expected (B, 3, H, W), got \(decoded.shape)")
        let (b, h, w) = (decoded.dim(0), decoded.dim(2), decoded.dim(3))
        let bounds = inputRange.bounds
        let (lo, span) = (bounds.lowerBound, bounds.upperBound - bounds.lowerBound)
        var pixels = [UInt8](repeating: 0, count: b * h * w * 3)
        decoded.withUnsafeBufferPointer { src in
            for bi in 0..<b {
                for c in 0..<3 {
                    let plane = src.baseAddress! + (bi * 3 + c) * h * w
                    for i in 0..<(h * w) {
                        let v = (min(max(plane[i], bounds.lowerBound), bounds.upperBound) - lo) / span
                        pixels[(bi * h * w + i) * 3 + c] = UInt8(255 * v)
                    }
                }
            }
        }
        return ImageBatch(count: b, height: h, width: w, pixels: pixels)
    }
}

/// Errors from tokenizer inputs.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    /// A token index outside `0 ..< codebookSize` (position is the flat row-major index).
    case tokenOutOfRange(position: Int, value: Int, codebookSize: Int)
    /// Images or codes of the wrong shape.
    case badInput(String)

    public var description: String {
        switch self {
        case let .tokenOutOfRange(position, value, size):
            return "token \(value) at position \(position) is outside the codebook (0..<\(size))"
        case let .badInput(message):
            return message
        }
    }
}

