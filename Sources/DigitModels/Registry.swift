
// MARK: - Public ids

/// A registry of public ids: the raw value is the CLI value, suite field, cache-key part and
/// baseline row id.
public protocol RegistryID: RawRepresentable, CaseIterable, Sendable, Codable where RawValue == String {
    /// What the ids name, for error messages ("feature extractor").
    static var kind: String { get }
}

extension RegistryID {
    /// The id for `name`, or an error listing the valid ids with a "did you mean" suggestion.
    public static func parse(_ name: String) throws -> Self {
        if let id = Self(rawValue: name) { return id }
        throw UnknownIDError(kind: kind, given: name, valid: allCases.map(\.rawValue))
    }
}

/// An id that is not in its registry.
public struct UnknownIDError: Error, CustomStringConvertible, Equatable {
    public var kind: String
    public var given: String
    public var valid: [String]

    public var description: String {
        "unknown \(kind) '\(given)'\(didYouMean(given, valid)); valid: \(valid.joined(separator: ", "))"
    }
}

/// `" (did you mean 'x'?)"` for the closest candidate within a small edit distance, else "".
func didYouMean(_ given: String, _ candidates: [String]) -> String {
    let g = Array(given.lowercased())
    func distance(_ s: String) -> Int {
        let t = Array(s.lowercased())
        var row = Array(0...t.count)
        for i in 1...max(g.count, 1) where !g.isEmpty {
            var prev = row[0]
            row[0] = i
            for j in 1...max(t.count, 1) where !t.isEmpty {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (g[i - 1] == t[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return g.isEmpty ? t.count : row[t.count]
    }
    guard let best = candidates.min(by: { distance($0) < distance($1) }),
          distance(best) <= max(2, best.count / 3) else { return "" }
    return " (did you mean '\(best)'?)"
}

/// Feature extractors (`--extractor`).
public enum FeatureExtractorID: String, RegistryID {
    /// The FID Inception-v3 (pytorch-fid / torch-fidelity / ADM / clean-fid), see ``InceptionV3``.
    case inceptionV3 = "inception-v3"
    /// DINOv2 ViT-B/14 with 4 registers, see ``DINOv2FeatureExtractor``.
    case dinov2VitB14Reg4 = "dinov2-vitb14-reg4"
    /// DINOv2 ViT-L/14 with 4 registers, see ``DINOv2FeatureExtractor``.
    case dinov2VitL14Reg4 = "dinov2-vitl14-reg4"

    public static let kind = "feature extractor"
}
