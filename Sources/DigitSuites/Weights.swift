import DigitCheckpoint
import Foundation

/// One real weight file digit-bench knows: what it is, where it is published, and how to check it.
///
/// Checksums are only given where they are published (e.g. torch hub's sha256 prefix in a file
/// name); unknown ones stay nil and loading then relies on the strict key/shape check.
public struct WeightFile: Sendable, Equatable {
    /// Weights id (`lfq-256`, `llamagen-gpt-b-256`, `digit-km-8k`): the CLI and suite name.
    public var id: String
    /// File name under `$DIGIT_BENCH_HOME/weights/`.
    public var fileName: String
    public var summary: String
    /// Direct download URL; nil when the file can only be fetched by hand (Google Drive, HF
    /// folders whose file names are not published in the repository).
    public var url: String?
    /// The page that publishes the file.
    public var page: String
    public var sizeBytes: Int64?
    public var sha256: String?
    /// A published prefix of the sha256 (torch hub convention: `…-6726825d.pth`).
    public var sha256Prefix: String?
    /// Float parameters the file's model holds, from shared/fixtures/manifests (not the file size).
    public var parameters: Int?
    /// Registry ids (models, tokenizers, feature extractors) that load this file.
    public var usedBy: [String]
    /// Another weights id that can stand in for this one (either file is enough).
    public var alternative: String?
    public var note: String?

    public init(
        id: String, fileName: String, summary: String, url: String?, page: String, sizeBytes: Int64? = nil,
        sha256: String? = nil, sha256Prefix: String? = nil, parameters: Int? = nil, usedBy: [String],
        alternative: String? = nil, note: String? = nil
    ) {
        self.id = id
        self.fileName = fileName
        self.summary = summary
        self.url = url
        self.page = page
        self.sizeBytes = sizeBytes
        self.sha256 = sha256
        self.sha256Prefix = sha256Prefix
        self.parameters = parameters
        self.usedBy = usedBy
        self.alternative = alternative
        self.note = note
    }

    /// "sha256 abcd…" / "sha256 starts with 6726825d" / "sha256 not published".
    public var checksumDescription: String {
        if let s = sha256 { return "sha256 \(s)" }
        if let p = sha256Prefix { return "sha256 starts with \(p) (the hash in the file name)" }
        return "sha256 not published (loading checks every key and shape instead)"
    }

    /// True when `hex` satisfies what is known about the checksum (nil when nothing is known).
    public func checksumMatches(_ hex: String) -> Bool? {
        if let s = sha256 { return s.lowercased() == hex.lowercased() }
        if let p = sha256Prefix { return hex.lowercased().hasPrefix(p.lowercased()) }
        return nil
    }
}

/// Where weight files are looked for: `$DIGIT_BENCH_HOME/weights/<file>`, with
/// `DIGIT_BENCH_HOME` defaulting to `~/.cache/digit-bench`.
public struct WeightsHome: Sendable, Equatable {
    public var root: URL

    public init(root: URL) { self.root = root }

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let h = environment["DIGIT_BENCH_HOME"], !h.isEmpty {
            root = URL(fileURLWithPath: (h as NSString).expandingTildeInPath)
        } else {
            root = URL(fileURLWithPath: NSHomeDirectory()).appendingPathComponent(".cache/digit-bench")
        }
    }

    public var weightsDirectory: URL { root.appendingPathComponent("weights") }
    public func path(for file: WeightFile) -> URL { weightsDirectory.appendingPathComponent(file.fileName) }
}

/// The state of one weight file on disk.
public enum WeightStatus: Equatable, Sendable {
    case missing
    /// Present; size matches if known; the checksum was not computed (use `verify`).
    case present(bytes: Int64)
    /// Present, hashed, and matches what is known (`checked` false: nothing published to compare with).
    case verified(sha256: String, checked: Bool)
    case wrongChecksum(actual: String)
    case wrongSize(actual: Int64)

    public var isUsable: Bool {
        switch self {
        case .present, .verified: return true
        default: return false
        }
    }

    public var label: String {
        switch self {
        case .missing: return "missing"
        case let .present(b): return "present (\(WeightsRegistry.humanBytes(b)), not hashed)"
        case let .verified(s, checked): return checked ? "valid (sha256 \(s.prefix(12))…)" : "present (sha256 \(s.prefix(12))…, nothing published to check)"
        case let .wrongChecksum(a): return "INVALID: sha256 \(a.prefix(12))… does not match"
        case let .wrongSize(a): return "INVALID: \(a) bytes"
        }
    }
}

/// Every real weight file digit-bench can use.
public enum WeightsRegistry {
    static let hfLlamaGen = "https://huggingface.co/FoundationVision/LlamaGen/resolve/main/"
    static let llamaGenPage = "https://github.com/FoundationVision/LlamaGen (README, class-conditional models)"
    static let omv2Page = "https://github.com/TencentARC/SEED-Voken (docs/Open-MAGVIT2.md)"
    static let digitPage = "https://huggingface.co/DAMO-NLP-SG/DiGIT"
    static let digitNote = "the HF repository holds the K-Means files and DiGIT checkpoints; digit-bench does not know their exact paths there: download by hand and save under the name shown"

    public static let all: [WeightFile] = [
        // Feature extractors
        WeightFile(
            id: "inception-pytorch-fid", fileName: "pt_inception-2015-12-05-6726825d.pth",
            summary: "FID Inception-v3 (TF 2015-12-05 graph) converted by pytorch-fid",
            url: "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
            page: "https://github.com/mseitzer/pytorch-fid/releases/tag/fid_weights", sha256Prefix: "6726825d",
            parameters: 23_885_392, usedBy: ["inception-v3"], alternative: "inception-torch-fidelity",
            note: "used for every protocol (adm, pytorch-fid, torch-fidelity, clean-fid): same TF weights"),
        WeightFile(
            id: "inception-torch-fidelity", fileName: "weights-inception-2015-12-05-6726825d.pth",
            summary: "torch-fidelity's copy of the same Inception weights (plain dict, no num_batches_tracked)",
            url: "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
            page: "https://github.com/toshas/torch-fidelity/releases/tag/v0.2.0", parameters: 23_885_392,
            usedBy: ["inception-v3"], alternative: "inception-pytorch-fid", note: "alternative to inception-pytorch-fid; either file works"),
        WeightFile(
            id: "dinov2-vitb14-reg4", fileName: "dinov2_vitb14_reg4_pretrain.pth",
            summary: "DINOv2 ViT-B/14 with 4 registers (DiGIT base tokenizer encoder)",
            url: "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitb14/dinov2_vitb14_reg4_pretrain.pth",
            page: "https://github.com/facebookresearch/dinov2", parameters: 86_583_552,
            usedBy: ["dinov2-vitb14-reg4", "digit-base-8k"]),
        WeightFile(
            id: "dinov2-vitl14-reg4", fileName: "dinov2_vitl14_reg4_pretrain.pth",
            summary: "DINOv2 ViT-L/14 with 4 registers (DiGIT large tokenizer encoder)",
            url: "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_reg4_pretrain.pth",
            page: "https://github.com/facebookresearch/dinov2", parameters: 304_372_736,
            usedBy: ["dinov2-vitl14-reg4", "digit-large-16k"]),
        // DiGIT tokenizer centroids
        WeightFile(
            id: "digit-km-8k", fileName: "km_8k.npy", summary: "DiGIT K-Means centroids, 8192 x 768 float32 (base)",
            url: nil, page: digitPage, parameters: 8192 * 768, usedBy: ["digit-base-8k"],
            note: "upstream layout: data/ILSVRC2012/dinov2_base_short_224_l3/km_8k.npy; " + digitNote),
        WeightFile(
            id: "digit-km-16k", fileName: "km_16k.npy", summary: "DiGIT K-Means centroids, 16000 x 1024 float32 (large)",
            url: nil, page: digitPage, parameters: 16000 * 1024, usedBy: ["digit-large-16k"],
            note: "upstream layout: data/ILSVRC2012/dinov2_large_short_224_l3/km_16k.npy; " + digitNote),
        // MAGE VQGAN
        WeightFile(
            id: "mage-vqgan", fileName: "vqgan_jax_strongaug.ckpt",
            summary: "MAGE's VQGAN (1024 codes, 16x16), DiGIT's pixel tokenizer", url: nil,
            page: "https://drive.google.com/file/d/13S_unB87n6KKuuMdyMnyExW0G1kplTbP/view (linked from LTH14/mage and DAMO-NLP-SG/DiGIT READMEs)",
            parameters: 54_515_587, usedBy: ["mage-vqgan"],
            note: "Google Drive needs a browser confirmation: download by hand. DiGIT stage-2 checkpoints carry a copy as vqgan.*"),
        // Open-MAGVIT2 tokenizers
        WeightFile(
            id: "lfq-128", fileName: "imagenet_128_B.ckpt", summary: "Open-MAGVIT2 LFQ tokenizer v1, trained at 128 px (IN128_Base)",
            url: "https://huggingface.co/TencentARC/Open-MAGVIT2/resolve/main/imagenet_128_B.ckpt",
            page: "https://huggingface.co/TencentARC/Open-MAGVIT2", parameters: 63_571_093, usedBy: ["lfq-128"],
            note: "Lightning checkpoint; published metrics use the EMA copy (model_ema.*)"),
        WeightFile(
            id: "lfq-256", fileName: "imagenet_256_B.ckpt", summary: "Open-MAGVIT2 LFQ tokenizer v1, trained at 256 px (IN256_Base)",
            url: "https://huggingface.co/TencentARC/Open-MAGVIT2/resolve/main/imagenet_256_B.ckpt",
            page: "https://huggingface.co/TencentARC/Open-MAGVIT2", parameters: 65_490_709, usedBy: ["lfq-256"],
            note: "Lightning checkpoint; published metrics use the EMA copy (model_ema.*)"),
        WeightFile(
            id: "lfq-128-l", fileName: "imagenet_128_L.ckpt", summary: "Open-MAGVIT2 LFQ tokenizer v2, trained at 128 px (IN128_Large)",
            url: "https://huggingface.co/TencentARC/Open-MAGVIT2-Tokenizer-128-resolution/resolve/main/imagenet_128_L.ckpt",
            page: omv2Page, parameters: 112_021_653, usedBy: ["lfq-128-l"]),
        WeightFile(
            id: "lfq-256-l", fileName: "imagenet_256_L.ckpt", summary: "Open-MAGVIT2 LFQ tokenizer v2, trained at 256 px (IN256_Large)",
            url: "https://huggingface.co/TencentARC/Open-MAGVIT2-Tokenizer-256-resolution/resolve/main/imagenet_256_L.ckpt",
            page: omv2Page, parameters: 115_127_829, usedBy: ["lfq-256-l"]),
        // Open-MAGVIT2 AR
        WeightFile(
            id: "openmagvit2-ar-b", fileName: "AR_256_B.ckpt", summary: "Open-MAGVIT2 AR-B (343M), class-conditional 256 px",
            url: "https://huggingface.co/TencentARC/Open-MAGVIT2-AR-B-256-resolution/resolve/main/AR_256_B.ckpt",
            page: omv2Page, parameters: 343_570_432 + 115_127_829, usedBy: ["openmagvit2-ar-b"],
            note: "holds transformer.* and the tokenizer as first_stage_model.*"),
        WeightFile(
            id: "openmagvit2-ar-l", fileName: "AR_256_L.ckpt", summary: "Open-MAGVIT2 AR-L (804M), class-conditional 256 px",
            url: "https://huggingface.co/TencentARC/Open-MAGVIT2-AR-L-256-resolution/resolve/main/AR_256_L.ckpt",
            page: omv2Page, parameters: 804_362_240 + 115_127_829, usedBy: ["openmagvit2-ar-l"]),
        WeightFile(
            id: "openmagvit2-ar-xl", fileName: "AR_256_XL.ckpt", summary: "Open-MAGVIT2 AR-XL (1.5B), class-conditional 256 px",
            url: "https://huggingface.co/TencentARC/Open-MAGVIT2-AR-XL-256-resolution/resolve/main/AR_256_XL.ckpt",
            page: omv2Page, parameters: 1_486_679_040 + 115_127_829, usedBy: ["openmagvit2-ar-xl"]),
        // LlamaGen
        WeightFile(
            id: "llamagen-vq16", fileName: "vq_ds16_c2i.pt", summary: "LlamaGen VQ-16 tokenizer (16x downsampling, 16384 codes)",
            url: hfLlamaGen + "vq_ds16_c2i.pt", page: llamaGenPage, parameters: 71_948_939,
            usedBy: ["llamagen-vq16", "llamagen-gpt-b", "llamagen-gpt-l", "llamagen-gpt-xl", "llamagen-gpt-xxl", "llamagen-gpt-3b"]),
        WeightFile(
            id: "llamagen-vq8", fileName: "vq_ds8_c2i.pt", summary: "LlamaGen VQ-8 tokenizer (8x downsampling, 16384 codes)",
            url: hfLlamaGen + "vq_ds8_c2i.pt", page: llamaGenPage, parameters: 70_175_371, usedBy: ["llamagen-vq8"]),
        gpt("b-256", "c2i_B_256.pt", "GPT-B (111M), 16x16 tokens (256 px)", 110_888_448, "llamagen-gpt-b"),
        gpt("b-384", "c2i_B_384.pt", "GPT-B (111M), 24x24 tokens (384 px)", 110_888_448, "llamagen-gpt-b"),
        gpt("l-256", "c2i_L_256.pt", "GPT-L (343M), 16x16 tokens (256 px)", 342_910_976, "llamagen-gpt-l"),
        gpt("l-384", "c2i_L_384.pt", "GPT-L (343M), 24x24 tokens (384 px)", 342_910_976, "llamagen-gpt-l"),
        gpt("xl-384", "c2i_XL_384.pt", "GPT-XL (775M), 24x24 tokens (384 px)", 774_699_520, "llamagen-gpt-xl"),
        gpt("xxl-384", "c2i_XXL_384.pt", "GPT-XXL (1.4B, FSDP state dict), 24x24 tokens (384 px)", 1_410_972_672, "llamagen-gpt-xxl"),
        gpt("3b-384", "c2i_3B_384.pt", "GPT-3B (3.1B, FSDP state dict), 24x24 tokens (384 px)", 3_096_659_200, "llamagen-gpt-3b"),
        // DiGIT generators
        digit("base-stage1", "digit_base_8k_stage1.pt", "DiGIT base stage 1 (GPT on DiGIT tokens, 219M, unconditional)", "digit-base"),
        digit("base-stage2", "digit_base_8k_stage2.pt", "DiGIT base stage 2 (AR pixel decoder, MAGE VQGAN tokens)", "digit-base"),
        digit("large-stage1", "digit_large_16k_stage1.pt", "DiGIT large stage 1 (GPT on DiGIT tokens, 732M, unconditional)", "digit-large"),
        digit("large-stage2", "digit_large_16k_stage2.pt", "DiGIT large stage 2 (AR pixel decoder)", "digit-large"),
        digit("base-cls-stage1", "digit_base_8k_cls_stage1.pt", "DiGIT base stage 1, class-conditional", "digit-base-cls"),
        digit("large-cls-stage1", "digit_large_16k_cls_stage1.pt", "DiGIT large stage 1, class-conditional", "digit-large-cls"),
    ]

    static func gpt(_ suffix: String, _ file: String, _ what: String, _ params: Int, _ model: String) -> WeightFile {
        WeightFile(
            id: "llamagen-gpt-\(suffix)", fileName: file, summary: "LlamaGen class-conditional " + what,
            url: hfLlamaGen + file, page: llamaGenPage, parameters: params, usedBy: [model])
    }

    static func digit(_ suffix: String, _ file: String, _ what: String, _ model: String) -> WeightFile {
        WeightFile(
            id: "digit-\(suffix)", fileName: file, summary: what, url: nil, page: digitPage, usedBy: [model],
            note: "fairseq checkpoint (upstream: outputs/<exp>/checkpoints/checkpoint_last.pt); " + digitNote)
    }

    public static var ids: [String] { all.map(\.id) }

    public static func file(_ id: String) -> WeightFile? { all.first { $0.id == id } }

    /// The file for `id`, or an error with lm-eval's "did you mean" wording.
    public static func lookup(_ id: String) throws -> WeightFile {
        if let f = file(id) { return f }
        throw WeightsError.unknownID(id, message: Suggest.unknown(id, kind: .weights, available: ids))
    }

    /// Files a registry id loads (e.g. `digit-base` → stage 1, stage 2, VQGAN).
    public static func files(usedBy registryID: String) -> [WeightFile] { all.filter { $0.usedBy.contains(registryID) } }

    /// Checks a file on disk. Without `hash`, only presence and (if known) size are checked.
    public static func status(
        of file: WeightFile, home: WeightsHome, hash: Bool, progress: ((Int64) -> Void)? = nil
    ) throws -> WeightStatus {
        let path = home.path(for: file).path
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
            let size = (attrs[.size] as? NSNumber)?.int64Value
        else { return .missing }
        if let expected = file.sizeBytes, expected != size { return .wrongSize(actual: size) }
        guard hash else { return .present(bytes: size) }
        let hex = try SHA256.hex(ofFile: URL(fileURLWithPath: path), progress: progress)
        switch file.checksumMatches(hex) {
        case .some(false): return .wrongChecksum(actual: hex)
        case .some(true): return .verified(sha256: hex, checked: true)
        case .none: return .verified(sha256: hex, checked: false)
        }
    }

    /// The message for a missing file: which file, where it comes from, its checksum, where to put it.
    public static func missingMessage(for file: WeightFile, home: WeightsHome = WeightsHome()) -> String {
        let dest = home.path(for: file).path
        var s = "Missing weights: \(file.fileName) (\(file.id): \(file.summary)).\n"
        s += "  Looked for: \(dest)\n"
        if let url = file.url {
            s += "  Comes from: \(url)\n"
        } else {
            s += "  Comes from: \(file.page) (no direct download link; download it by hand)\n"
        }
        if let size = file.sizeBytes { s += "  Size: \(size) bytes\n" }
        s += "  Checksum: \(file.checksumDescription)\n"
        if file.url != nil {
            s += "  Fetch it with `digit-bench weights fetch \(file.id)`, or download it yourself to the path above.\n"
        } else {
            s += "  Save it as \(dest).\n"
        }
        if let note = file.note { s += "  Note: \(note)\n" }
        s += "  (Set DIGIT_BENCH_HOME to keep weights elsewhere, or pass --checkpoint FILE; `--weights seeded` runs without them.)"
        return s
    }

    /// The first file a registry id needs that is not on disk (nil when all are there); a file
    /// whose alternative is present counts as present.
    public static func firstMissing(for registryID: String, home: WeightsHome = WeightsHome()) -> WeightFile? {
        func usable(_ f: WeightFile) -> Bool { (try? status(of: f, home: home, hash: false))?.isUsable == true }
        return files(usedBy: registryID).first { f in
            !usable(f) && !(f.alternative.flatMap(file).map(usable) ?? false)
        }
    }

    public static func humanBytes(_ b: Int64) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var v = Double(b)
        var i = 0
        while v >= 1000, i < units.count - 1 {
            v /= 1000
            i += 1
        }
        return i == 0 ? "\(b) B" : String(format: "%.1f", v) + " " + units[i]
    }
}
