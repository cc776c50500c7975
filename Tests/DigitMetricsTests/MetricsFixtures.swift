import DigitCheckpoint
import DigitMetrics
import DigitNN
import DigitTensor
import Foundation
import _DigitTestSupport

/// Inputs and expected values of shared/fixtures/metrics (see its README.md).
enum MetricsFixtures {
    static let area = "metrics"

    /// `expected.json`, decoded once.
    static let expected: [String: Any] = {
        (try? Fixtures.json(area, "expected.json")) as? [String: Any] ?? [:]
    }()

    /// The value at `cases.<path...>` of expected.json.
    static func value(_ path: [String]) throws -> Any {
        var node: Any = expected["cases"] as Any
        for key in path {
            guard let dict = node as? [String: Any], let next = dict[key] else {
                throw FixtureError.missing("expected.json: cases.\(path.joined(separator: "."))")
            }
            node = next
        }
        return node
    }

    static func double(_ path: String...) throws -> Double {
        guard let d = (try value(path) as? NSNumber)?.doubleValue else {
            throw FixtureError.missing("expected.json: cases.\(path.joined(separator: ".")) is not a number")
        }
        return d
    }

    static func doubles(_ path: String...) throws -> [Double] {
        guard let a = try value(path) as? [NSNumber] else {
            throw FixtureError.missing("expected.json: cases.\(path.joined(separator: ".")) is not a list")
        }
        return a.map(\.doubleValue)
    }

    /// README `relu_features(zkey, wkey, bkey, n, d, k)`:
    /// `Float32(4 * max(0, Double(Z) @ Double(W)ᵀ + Double(b)))`, float64 math (dgemm).
    static func reluFeatures(_ zkey: String, _ wkey: String, _ bkey: String, n: Int, d: Int, k: Int) -> Tensor {
        let z = SeededWeights.values(key: zkey, shape: [n, k]).map(Double.init)
        let w = SeededWeights.values(key: wkey, shape: [d, k]).map(Double.init)
        let b = SeededWeights.values(key: bkey, shape: [d]).map(Double.init)
        var out = [Double](repeating: 0, count: n * d)
        for i in 0..<n { for j in 0..<d { out[i * d + j] = b[j] } }
        z.withUnsafeBufferPointer { pz in
            w.withUnsafeBufferPointer { pw in
                out.withUnsafeMutableBufferPointer { po in
                    Gemm.dgemm(transB: true, m: n, n: d, k: k, a: pz.baseAddress!, lda: k, b: pw.baseAddress!, ldb: k,
                               beta: 1, c: po.baseAddress!, ldc: d)
                }
            }
        }
        return Tensor(shape: [n, d], scalars: out.map { Float(4 * max(0, $0)) })
    }

    /// Feature set `set` of case `c` (`small`, `rankdef`, `big`); big's C uses A's w and bias.
    static func features(_ c: String, _ set: String) -> Tensor {
        let (n, d, k) = c == "small" ? (300, 64, 32) : c == "rankdef" ? (40, 128, 16) : (5000, 2048, 512)
        let mapSet = (c == "big" && set == "C") ? "A" : set
        return reluFeatures(
            "fixtures/metrics/\(c)/\(set)/z", "fixtures/metrics/\(c)/\(mapSet)/w", "fixtures/metrics/\(c)/\(mapSet)/bias", n: n, d: d, k: k)
    }

    static let cache = FeatureCache()

    /// Stored pytorch-fid statistics `fid_<c>_<set>_{mu,sigma}.npy` (small, rankdef).
    static func storedStatistics(_ c: String, _ set: String) throws -> GaussianStatistics {
        let mu = try Fixtures.npy(area, "fid_\(c)_\(set)_mu.npy").doubles()
        let sigma = try Fixtures.npy(area, "fid_\(c)_\(set)_sigma.npy").doubles()
        return try GaussianStatistics(mu: mu, sigma: sigma)
    }

    /// README `isc_logits(key, n)`: `20 * seeded (n, 1008)` in float32, `+8` at (i, i·7919 mod 1008).
    static func iscLogits(_ name: String, n: Int) -> Tensor {
        var l = SeededWeights.values(key: "fixtures/metrics/\(name)/logits", shape: [n, 1008]).map { Float(20) * $0 }
        for i in 0..<n { l[i * 1008 + (i * 7919) % 1008] += Float(8) }
        return Tensor(shape: [n, 1008], scalars: l)
    }

    /// `<case>_kid_<tfid|cleanfid>_subset_indices.npy` ([subsets, 2, size] uint16) as subsets.
    /// DigitCheckpoint's NPY has no uint16 dtype, so this test-only reader decodes the v1.0 file.
    static func kidSubsets(_ file: String) throws -> [KIDSubset] {
        let bytes = [UInt8](try Data(contentsOf: Fixtures.url(area, file)))
        let headerLen = Int(bytes[8]) | Int(bytes[9]) << 8
        let header = String(decoding: bytes[10..<(10 + headerLen)], as: UTF8.self)
        guard bytes[6] == 1, header.contains("'<u2'"), let open = header.range(of: "'shape': ("),
            let close = header[open.upperBound...].firstIndex(of: ")")
        else { throw FixtureError.missing("\(file): expected a v1.0 '<u2' .npy") }
        let shape = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        let (s, m) = (shape[0], shape[2])
        let base = 10 + headerLen
        let v = (0..<(s * 2 * m)).map { Int(bytes[base + 2 * $0]) | Int(bytes[base + 2 * $0 + 1]) << 8 }
        return (0..<s).map { i in KIDSubset(a: Array(v[(i * 2 * m)..<(i * 2 * m + m)]), b: Array(v[(i * 2 * m + m)..<(i * 2 * m + 2 * m)])) }
    }
}

/// Big (5000 × 2048) feature sets are built once per test process.
final class FeatureCache: @unchecked Sendable {
    private var sets: [String: Tensor] = [:]
    private let lock = NSLock()
    func features(_ c: String, _ set: String) -> Tensor {
        lock.lock()
        defer { lock.unlock() }
        if let t = sets["\(c)/\(set)"] { return t }
        let t = MetricsFixtures.features(c, set)
        sets["\(c)/\(set)"] = t
        return t
    }
}

func relErr(_ a: Double, _ b: Double) -> Double { abs(a - b) / max(abs(b), 1e-300) }
