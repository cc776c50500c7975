import DigitCheckpoint
import DigitModels
import Foundation

extension InceptionV3 {
    /// Finds, verifies and loads the real FID Inception weights — never seeded ones.
    ///
    /// Uses pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (its SHA-256 must start with
    /// `6726825d`, the torch hub name suffix) or torch-fidelity's `weights-inception-2015-12-05-6726825d.pth`
    /// (same tensors without num_batches_tracked; no published checksum, so only the strict
    /// key/shape check applies), looked for at `explicit` (`--checkpoint`), in
    /// `$DIGIT_BENCH_CHECKPOINTS/`, then in `home` (`$DIGIT_BENCH_HOME/weights/`). Without either
    /// file, throws ``WeightsError/missing(id:message:)`` naming pytorch-fid's file, its URL and
    /// where to put it.
    ///
    /// - Parameter read: the checkpoint reader producing the state dict (DigitCheckpoint's loader).
    public static func loadReal(
        checkpoint explicit: String? = nil, home: WeightsHome = WeightsHome(),
        read: (URL) throws -> StateDict = { try Checkpoint.load($0).stateDict }
    ) throws -> InceptionV3 {
        let primary = try WeightsRegistry.lookup("inception-pytorch-fid")
        let secondary = try WeightsRegistry.lookup("inception-torch-fidelity")
        let fm = FileManager.default
        let (url, file) = try { () throws -> (URL, WeightFile) in
            if let explicit {
                guard fm.fileExists(atPath: explicit) else { throw WeightsError.unreadable(path: explicit) }
                let u = URL(fileURLWithPath: explicit)
                return (u, u.lastPathComponent == secondary.fileName ? secondary : primary)
            }
            let checkpoints = ProcessInfo.processInfo.environment["DIGIT_BENCH_CHECKPOINTS"].map { URL(fileURLWithPath: $0) }
            for f in [primary, secondary] {
                for u in [checkpoints?.appendingPathComponent(f.fileName), home.path(for: f)].compactMap({ $0 })
                where fm.fileExists(atPath: u.path) { return (u, f) }
            }
            throw WeightsError.missing(id: primary.id, message: WeightsRegistry.missingMessage(for: primary, home: home))
        }()
        let hex = try SHA256.hex(ofFile: url)
        if file.checksumMatches(hex) == false {
            throw WeightsError.checksumMismatch(file: url.path, expected: file.sha256 ?? file.sha256Prefix ?? "?", actual: hex)
        }
        let description = "\(url.path) (\(file.id), sha256 \(hex.prefix(16))…, \(file.checksumMatches(hex) == true ? "verified" : "no published checksum"))"
        return try InceptionV3(weights: Weights(stateDict: read(url)), description: description, sha256: hex)
    }
}
