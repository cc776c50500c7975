import Foundation

/// Errors of DigitImage. Every case names the file (or item) it concerns and the reason.
public enum ImageError: Error, CustomStringConvertible, Equatable {
    /// A file could not be read from disk.
    case unreadable(path: String, reason: String)
    /// The bytes are not a format DigitImage decodes (PNG, JPEG).
    case unsupportedFormat(path: String, reason: String)
    /// libpng / libjpeg rejected the data (corrupt, truncated, too large).
    case corrupt(path: String, format: String, reason: String)
    /// Encoding failed.
    case encodeFailed(format: String, reason: String)
    /// A caller asked for something impossible (empty size, bad recipe, bad shard).
    case invalidArgument(String)
    /// A dataset could not be listed or an item of it is malformed.
    case dataset(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): cannot read: \(reason)"
        case let .unsupportedFormat(path, reason): return "\(path): unsupported image format: \(reason)"
        case let .corrupt(path, format, reason): return "\(path): corrupt \(format): \(reason)"
        case let .encodeFailed(format, reason): return "\(format) encoding failed: \(reason)"
        case let .invalidArgument(message): return message
        case let .dataset(path, reason): return "\(path): \(reason)"
        }
    }

    /// The file the error concerns, if any.
    public var path: String? {
        switch self {
        case let .unreadable(p, _), let .unsupportedFormat(p, _), let .corrupt(p, _, _), let .dataset(p, _): return p
        case .encodeFailed, .invalidArgument: return nil
        }
    }
}
