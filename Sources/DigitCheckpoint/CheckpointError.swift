/// Errors from reading checkpoints and array files. Each names the file and what was wrong.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file could not be opened or read.
    case unreadable(path: String, reason: String)
    /// The bytes do not form a valid file of the expected format.
    case malformed(path: String, offset: Int?, reason: String)
    /// The format or a feature of it is valid but not supported.
    case unsupported(path: String, reason: String)
    /// A pickle referenced a callable that digit-bench refuses to execute.
    case forbiddenGlobal(path: String, global: String, opcodeOffset: Int)
    /// A state-dict key that was asked for is not present.
    case missingKey(key: String, path: String?, hint: String?)

    public var description: String {
        switch self {
        case let .unreadable(path, reason):
            return "\(path): cannot read: \(reason)"
        case let .malformed(path, offset, reason):
            return "\(path): malformed\(offset.map { " at byte \($0)" } ?? ""): \(reason)"
        case let .unsupported(path, reason):
            return "\(path): unsupported: \(reason)"
        case let .forbiddenGlobal(path, global, offset):
            return "\(path): refused: the pickle calls \(global) (opcode at byte \(offset)); digit-bench never executes code from a checkpoint"
        case let .missingKey(key, path, hint):
            return "\(path.map { "\($0): " } ?? "")missing key '\(key)'\(hint.map { " (\($0))" } ?? "")"
        }
    }
}
