/// One 8-bit RGB image, rows top to bottom, pixels interleaved (HWC) — what Pillow's
/// `np.asarray(img.convert('RGB'))` holds.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// `height * width * 3` bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                     "RGBImage: \(pixels.count) bytes for \(width)x\(height)x3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A black image.
    public init(width: Int, height: Int) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: 0, count: width * height * 3))
    }

    /// `img.crop((left, top, left + width, top + height))` for a box inside the image.
    public func cropped(left: Int, top: Int, width w: Int, height h: Int) -> RGBImage {
        precondition(left >= 0 && top >= 0 && w >= 0 && h >= 0 && left + w <= width && top + h <= height,
                     "crop (\(left), \(top), \(w)x\(h)) outside \(width)x\(height)")
        var out = [UInt8](repeating: 0, count: w * h * 3)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<h {
                    let s = ((top + y) * width + left) * 3
                    let d = y * w * 3
                    for i in 0..<(w * 3) { dst[d + i] = src[s + i] }
                }
            }
        }
        return RGBImage(width: w, height: h, pixels: out)
    }
}

extension ImageBatch {
    /// Stacks same-sized images into a batch.
    public init(images: [RGBImage]) {
        let h = images.first?.height ?? 0
        let w = images.first?.width ?? 0
        var pixels = [UInt8]()
        pixels.reserveCapacity(images.count * h * w * 3)
        for im in images {
            precondition(im.width == w && im.height == h, "ImageBatch: mixed sizes \(im.width)x\(im.height) vs \(w)x\(h)")
            pixels += im.pixels
        }
        self.init(count: images.count, height: h, width: w, pixels: pixels)
    }

    /// Image `i` of the batch.
    public func image(_ i: Int) -> RGBImage {
        let n = height * width * 3
        return RGBImage(width: width, height: height, pixels: Array(pixels[(i * n)..<((i + 1) * n)]))
    }
}
