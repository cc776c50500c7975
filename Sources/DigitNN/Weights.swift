import DigitCheckpoint
import DigitTensor
import Foundation

/// Errors from building a model's parameters. Each names the full upstream key.
public enum ModelLoadError: Error, CustomStringConvertible, Equatable {
    case missingKey(key: String, expectedShape: [Int], source: String)
    case shapeMismatch(key: String, expected: [Int], actual: [Int], source: String)
    case unusedKeys(keys: [String], source: String)
    case invalidConfiguration(String)

    public var description: String {
        switch self {
        case let .missingKey(key, shape, source):
            return "\(source): missing key '\(key)' (expected shape \(shape)); is this the right checkpoint for the model?"
        case let .shapeMismatch(key, expected, actual, source):
            return "\(source): key '\(key)' has shape \(actual), the model expects \(expected)"
        case let .unusedKeys(keys, source):
            let shown = keys.prefix(8).map { "'\($0)'" }.joined(separator: ", ")
            return "\(source): \(keys.count) unexpected key(s) the model does not use: \(shown)\(keys.count > 8 ? ", …" : "")"
        case let .invalidConfiguration(message):
            return "invalid model configuration: \(message)"
        }
    }
}

/// Where a model's parameters come from while it is being built: a checkpoint's ``StateDict``
/// (strict: every key must exist with the right shape, and ``finish()`` rejects unused keys) or
/// the seeded values of ``SeededWeights`` (for tests and dry runs).
///
/// Layers ask for their tensors by full upstream key and expected shape. Every request is
/// recorded, so tests can compare the requested key/shape list against upstream manifests.
public final class Weights: @unchecked Sendable {
    public enum Origin: Sendable {
        case stateDict(StateDict)
        case seeded
    }

    public let origin: Origin
    /// Human-readable name of the source (file path or "seeded weights").
    public let sourceName: String
    /// Every key requested so far, in request order, with its expected shape.
    public private(set) var requested: [(key: String, shape: [Int])] = []
    private var used: Set<String> = []
    private let lock = NSLock()

    /// Parameters from a checkpoint's state dict.
    public init(stateDict: StateDict) {
        origin = .stateDict(stateDict)
        sourceName = stateDict.source ?? "state dict"
    }

    /// Seeded parameters (`shared/spec/seeded-weights.md`). Outputs made with them are not real
    /// model outputs, and every command that uses them says so.
    public static func seeded() -> Weights { Weights() }

    private init() {
        origin = .seeded
        sourceName = "seeded weights"
    }

    public var isSeeded: Bool { if case .seeded = origin { true } else { false } }

    /// The tensor stored under `key`, which must have `shape`.
    public func tensor(_ key: String, shape: [Int]) throws -> Tensor {
        lock.withLock {
            requested.append((key, shape))
            used.insert(key)
        }
        switch origin {
        case .seeded:
            return Tensor(shape: shape, scalars: SeededWeights.values(key: key, shape: shape))
        case let .stateDict(sd):
            guard let entry = sd[key] else {
                throw ModelLoadError.missingKey(key: key, expectedShape: shape, source: sourceName)
            }
            guard entry.shape == shape else {
                throw ModelLoadError.shapeMismatch(key: key, expected: shape, actual: entry.shape, source: sourceName)
            }
            return try entry.load()
        }
    }

    /// Marks an integer buffer (e.g. BatchNorm's `num_batches_tracked`) as known but unused.
    /// Seeded weights record it too, so manifests can be compared in full.
    public func acknowledge(_ key: String, shape: [Int] = []) {
        lock.withLock {
            requested.append((key, shape))
            used.insert(key)
        }
    }

    /// Throws ``ModelLoadError/unusedKeys(keys:source:)`` if the checkpoint has keys no layer
    /// asked for. Call once the model is built.
    public func finish() throws {
        guard case let .stateDict(sd) = origin else { return }
        let unused = sd.keys.filter { !used.contains($0) }
        if !unused.isEmpty { throw ModelLoadError.unusedKeys(keys: unused, source: sourceName) }
    }

    /// A view that prefixes every key with `prefix` + ".".
    public func scope(_ prefix: String) -> WeightScope { WeightScope(weights: self, prefix: prefix) }
    /// The root scope (no prefix).
    public var root: WeightScope { WeightScope(weights: self, prefix: "") }
}

/// A key prefix inside ``Weights``: `scope("Mixed_5b").scope("branch1x1")` requests
/// `Mixed_5b.branch1x1.conv.weight` for `tensor("conv.weight", …)`.
public struct WeightScope: Sendable {
    public let weights: Weights
    public let prefix: String

    public init(weights: Weights, prefix: String) {
        self.weights = weights
        self.prefix = prefix
    }

    /// The full key for a name inside this scope.
    public func key(_ name: String) -> String { prefix.isEmpty ? name : "\(prefix).\(name)" }

    /// A nested scope.
    public func scope(_ name: String) -> WeightScope { WeightScope(weights: weights, prefix: key(name)) }
    public func scope(_ index: Int) -> WeightScope { scope(String(index)) }

    /// The tensor `prefix.name` with the expected `shape`.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        try weights.tensor(key(name), shape: shape)
    }

    /// Acknowledges an integer buffer `prefix.name` that the forward pass does not need.
    public func acknowledge(_ name: String, shape: [Int] = []) { weights.acknowledge(key(name), shape: shape) }
}
