/// A batch of 8-bit RGB images of one size, NHWC (the layout of ADM `.npz` batches and PIL arrays).
public struct ImageBatch: Sendable, Equatable {
    public var count: Int
    public var height: Int
    public var width: Int
    /// `count * height * width * 3` bytes, row-major NHWC, RGB.
    public var pixels: [UInt8]

    public init(count: Int, height: Int, width: Int, pixels: [UInt8]) {
        precondition(pixels.count == count * height * width * 3, "ImageBatch: \(pixels.count) bytes for \(count)x\(height)x\(width)x3")
        self.count = count
        self.height = height
        self.width = width
        self.pixels = pixels
    }
}
