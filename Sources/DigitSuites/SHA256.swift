import DigitCheckpoint
import Foundation

/// File and `Data` conveniences over DigitCheckpoint's ``SHA256`` (one implementation of the hash).
extension SHA256 {
    public mutating func update(_ data: Data) {
        data.withUnsafeBytes { update($0) }
    }

    /// sha256 of bytes, as hex.
    public static func hex(_ data: Data) -> String {
        var s = SHA256()
        s.update(data)
        return s.finalizeHex()
    }

    /// sha256 of a file, read in 4 MiB chunks (constant memory whatever the file size).
    /// `progress` is called with the bytes hashed so far.
    public static func hex(ofFile url: URL, progress: ((Int64) -> Void)? = nil) throws -> String {
        guard let fh = FileHandle(forReadingAtPath: url.path) else {
            throw WeightsError.unreadable(path: url.path)
        }
        defer { try? fh.close() }
        var s = SHA256()
        var done: Int64 = 0
        while true {
            let chunk = fh.readData(ofLength: 4 << 20)
            if chunk.isEmpty { break }
            s.update(chunk)
            done += Int64(chunk.count)
            progress?(done)
        }
        return s.finalizeHex()
    }
}
