import DigitModels
import DigitReports
import Foundation

/// The public ids of everything a suite, the CLI or a baseline row can name, in one place.
///
/// The model registries (issues 5–11) will define these as enums whose raw values are the ids;
/// until they land, the lists below are the source of truth, and `PublicIDs` is the one place to
/// point at the real registries later (`Tokenizers.allCases.map(\.rawValue)`, …).
public enum PublicIDs {
    public static let featureExtractors = FeatureExtractorID.allCases.map(\.rawValue)

    public static let tokenizers = [
        "lfq-128", "lfq-256", "lfq-128-l", "lfq-256-l", "llamagen-vq16", "llamagen-vq8", "mage-vqgan",
        "digit-base-8k", "digit-large-16k",
    ]

    /// `jpeg-qN` (N in 1...100) is a tokenizer id too: JPEG at quality N as a classical reference row.
    public static let jpegPattern = "jpeg-q<1-100>"

    public static let generators = [
        "llamagen-gpt-b", "llamagen-gpt-l", "llamagen-gpt-xl", "llamagen-gpt-xxl", "llamagen-gpt-3b",
        "openmagvit2-ar-b", "openmagvit2-ar-l", "openmagvit2-ar-xl",
        "digit-base", "digit-large", "digit-base-cls", "digit-large-cls",
    ]

    public static let tasks = ["reconstruct", "generate", "linear-probe"]

    /// Evaluation protocols, each a named option of the metric code (see docs/reports.md).
    public static let protocols: [(id: String, summary: String)] = [
        ("adm", "ADM TensorFlow evaluator: uint8 → TF1 bilinear 299 → (x−128)/128; LlamaGen, VAR, DiT, Open-MAGVIT2 AR"),
        ("pytorch-fid", "pytorch-fid: x/255 → torch bilinear 299 (align_corners=False) → 2x−1; Open-MAGVIT2 rFID"),
        ("torch-fidelity", "torch-fidelity: uint8 → TF1 bilinear 299 → (x−128)/128, IS with 10 splits; DiGIT, MAGE"),
        ("clean-fid", "clean-fid: PIL bicubic in float → (x−128)/128"),
        ("openmagvit2-2024", "Open-MAGVIT2's 2024 PSNR: averaged over batches of 4"),
        ("linear-probe-sgd", "DiGIT's linear-probe recipe: SGD lr 0.4, momentum 0.9, cosine, batch 1024"),
        ("linear-probe-lbfgs", "multinomial logistic regression (L-BFGS) on standardised features"),
        ("codebook", "codebook statistics over the evaluated images (usage, perplexity, entropy)"),
    ]
    public static var protocolIDs: [String] { protocols.map(\.id) }

    /// Named datasets a suite row can evaluate on (paths are resolved by the runner).
    public static let datasets = ["imagenet-val", "imagenet-train", "bundled"]

    /// Named preprocessing recipes.
    public static let preprocessings = [
        "center-crop-arr",  // guided-diffusion center_crop_arr (BOX halving + BICUBIC, centre crop): LlamaGen, Open-MAGVIT2, ADM
        "resize-center-crop",  // torchvision Resize(short side, bicubic) + CenterCrop: DiGIT/MAGE prepare_imgnet_val
        "none",
    ]

    public static var metrics: [String] { MetricNames.all }

    public static func isJPEG(_ id: String) -> Bool {
        guard id.hasPrefix("jpeg-q"), let q = Int(id.dropFirst(6)) else { return false }
        return (1...100).contains(q) && id == "jpeg-q\(q)"
    }

    public static func isTokenizer(_ id: String) -> Bool { tokenizers.contains(id) || isJPEG(id) }
}

/// Metric names are DigitReports' `MetricKind` names.
enum MetricNames {
    static var all: [String] { MetricKind.all.map(\.name) }
}

/// What kind of thing an id names, for error messages ("Unknown tokenizer 'lfq256'").
public enum IDKind: String, Sendable {
    case featureExtractor = "feature extractor"
    case tokenizer
    case generator = "model"
    case modelOrExtractor = "model or feature extractor"
    case task
    case evaluationProtocol = "protocol"
    case metric
    case dataset
    case preprocessing
    case weights = "weights id"
    case baselineRow = "baseline row"
    case key
}

/// "Did you mean" suggestions in lm-evaluation-harness's wording.
public enum Suggest {
    /// `Unknown tokenizer 'lfq256'. Did you mean: lfq-256? Available: lfq-128, lfq-256, …`
    public static func unknown(_ id: String, kind: IDKind, available: [String], extra: [String] = []) -> String {
        var msg = "Unknown \(kind.rawValue) '\(id)'."
        let close = closest(id, in: available)
        if !close.isEmpty { msg += " Did you mean: \(close.joined(separator: ", "))?" }
        msg += " Available: \((available + extra).joined(separator: ", "))"
        return msg
    }

    /// Up to three candidates within a small edit distance, nearest first. Case, `-` and `_`
    /// are ignored when comparing, so `LFQ_256` and `lfq256` both find `lfq-256`.
    public static func closest(_ id: String, in candidates: [String], limit: Int = 3) -> [String] {
        func norm(_ s: String) -> [Character] { Array(s.lowercased().filter { $0 != "-" && $0 != "_" }) }
        let q = norm(id)
        let maxEdits = max(2, q.count / 3)
        let scored = candidates.filter { $0 != id }.map { c in
            (c, distance(q, norm(c)), distance(Array(id.lowercased()), Array(c.lowercased())))
        }
        let close = scored.filter { $0.1 <= maxEdits }.sorted { ($0.1, $0.2, $0.0) < ($1.1, $1.2, $1.0) }
        // A match up to case and separators is the answer; otherwise offer the nearest few.
        if close.first?.1 == 0 { return close.filter { $0.1 == 0 }.map(\.0) }
        return close.prefix(limit).map(\.0)
    }

    /// Levenshtein distance.
    public static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        var cur = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            cur[0] = i
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[b.count]
    }
}
