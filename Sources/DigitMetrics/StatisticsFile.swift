import DigitCheckpoint
import DigitTensor

/// The arrays of a statistics or reference-batch `.npz`, by name, and their meaning.
///
/// - pytorch-fid (`fid_score.py --save-stats`): `mu` (d) and `sigma` (d, d), float64.
/// - ADM reference batches (openai/guided-diffusion `evaluations/`, e.g.
///   `VIRTUAL_imagenet256_labeled.npz`): `mu`, `sigma` (pool3) and `mu_s`, `sigma_s` (the sFID
///   spatial feature), plus `arr_0` with the raw uint8 images (N, H, W, 3).
///
/// These functions convert to and from `[String: NPYArray]`; reading and writing the zip
/// container is the `.npz` reader/writer's job in DigitCheckpoint.
public enum StatisticsArrays {
    /// The pytorch-fid arrays (`mu`, `sigma`, float64) of `stats`.
    public static func pytorchFID(_ stats: GaussianStatistics) -> [String: NPYArray] {
        let d = stats.dimension
        return [
            "mu": NPYArray(float64: stats.mu, shape: [d]),
            "sigma": NPYArray(float64: stats.sigma, shape: [d, d]),
        ]
    }

    /// Reads `mu`/`sigma` (or `mu_s`/`sigma_s` with `keySuffix: "_s"`) from the arrays of a
    /// statistics file. float32 arrays are widened to float64 (ADM's `mu` may be float32).
    public static func gaussian(from arrays: [String: NPYArray], keySuffix: String = "", path: String) throws -> GaussianStatistics {
        let muKey = "mu" + keySuffix, sigmaKey = "sigma" + keySuffix
        guard let mu = arrays[muKey] else {
            throw MetricsError.badStatisticsFile(path: path, key: muKey, reason: "missing (keys: \(arrays.keys.sorted().joined(separator: ", ")))")
        }
        guard let sigma = arrays[sigmaKey] else {
            throw MetricsError.badStatisticsFile(path: path, key: sigmaKey, reason: "missing (keys: \(arrays.keys.sorted().joined(separator: ", ")))")
        }
        for (k, a) in [(muKey, mu), (sigmaKey, sigma)] where !(a.dtype == .float64 || a.dtype == .float32) {
            throw MetricsError.badStatisticsFile(path: path, key: k, reason: "dtype \(a.dtype), expected float64 or float32")
        }
        guard mu.shape.count == 1 else {
            throw MetricsError.badStatisticsFile(path: path, key: muKey, reason: "shape \(mu.shape), expected (d)")
        }
        let d = mu.shape[0]
        guard sigma.shape == [d, d] else {
            throw MetricsError.badStatisticsFile(path: path, key: sigmaKey, reason: "shape \(sigma.shape), expected [\(d), \(d)] for mu of \(d)")
        }
        return try GaussianStatistics(mu: mu.doubles(), sigma: sigma.doubles())
    }

    /// The raw images of an ADM reference/sample batch (`arr_0`, uint8 (N, H, W, 3)), if present.
    public static func admImages(from arrays: [String: NPYArray], path: String) throws -> NPYArray? {
        guard let a = arrays["arr_0"] else { return nil }
        guard a.dtype == .uint8, a.shape.count == 4, a.shape[3] == 3 else {
            throw MetricsError.badStatisticsFile(path: path, key: "arr_0", reason: "\(a.dtype) \(a.shape), expected uint8 (N, H, W, 3)")
        }
        return a
    }
}
