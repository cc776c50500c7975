import Foundation

/// The preprocessing pipelines reference implementations feed their networks, reproduced to the pixel.
public enum Preprocess {
    /// openai/guided-diffusion `guided_diffusion/image_datasets.py` `center_crop_arr` @ 22e0df8
    /// (LlamaGen `dataset/augmentation.py` has the same steps): BOX-halve while the short side is at
    /// least `2*size`, BICUBIC to `round(side * size / short)` (Python 3 round: half to even), then a
    /// floor-centred `size x size` crop.
    public static func centerCropArr(_ image: RGBImage, size: Int) -> RGBImage {
        precondition(size > 0, "center_crop_arr size must be positive")
        var img = image
        while min(img.width, img.height) >= 2 * size {
            img = Resample.resize(img, width: img.width / 2, height: img.height / 2, filter: .box)
        }
        let scale = Double(size) / Double(min(img.width, img.height))
        let w = Int((Double(img.width) * scale).rounded(.toNearestOrEven))
        let h = Int((Double(img.height) * scale).rounded(.toNearestOrEven))
        // The crop fused into the resize: only the kept pixels are computed (same bytes).
        return Resample.resizeCropped(img, width: w, height: h, filter: .bicubic,
                                      left: (w - size) / 2, top: (h - size) / 2, cropWidth: size, cropHeight: size)
    }

    /// torchvision 0.14 `Resize(size, interpolation)` on a PIL image: the short side becomes `size`, the
    /// long side `int(size * long / short)` (truncated), through Pillow's `resize`.
    public static func torchvisionResize(_ image: RGBImage, size: Int, filter: ResampleFilter = .bilinear) -> RGBImage {
        let (nw, nh) = torchvisionResizedSize(image, size: size)
        return Resample.resize(image, width: nw, height: nh, filter: filter)
    }

    static func torchvisionResizedSize(_ image: RGBImage, size: Int) -> (width: Int, height: Int) {
        precondition(size > 0, "Resize size must be positive")
        let w = image.width, h = image.height
        let (short, long) = w <= h ? (w, h) : (h, w)
        let newLong = Int(Double(size * long) / Double(short))
        return w <= h ? (size, newLong) : (newLong, size)
    }

    /// `CenterCrop`'s offsets (Python round, half to even).
    static func torchvisionCropOffsets(width: Int, height: Int, cropWidth cw: Int, cropHeight ch: Int) -> (left: Int, top: Int) {
        (Int((Double(width - cw) / 2.0).rounded(.toNearestOrEven)), Int((Double(height - ch) / 2.0).rounded(.toNearestOrEven)))
    }

    /// torchvision `CenterCrop(size)` on a PIL image: offsets `int(round((H - size) / 2.0))` (Python
    /// round, half to even); images smaller than `size` are zero-padded as torchvision does
    /// (padding `[(size-W)//2, (size-H)//2, (size-W+1)//2, (size-H+1)//2]`).
    public static func torchvisionCenterCrop(_ image: RGBImage, width cw: Int, height ch: Int) -> RGBImage {
        var img = image
        if cw > img.width || ch > img.height {
            let padL = cw > img.width ? (cw - img.width) / 2 : 0
            let padT = ch > img.height ? (ch - img.height) / 2 : 0
            let padR = cw > img.width ? (cw - img.width + 1) / 2 : 0
            let padB = ch > img.height ? (ch - img.height + 1) / 2 : 0
            var padded = RGBImage(width: img.width + padL + padR, height: img.height + padT + padB)
            for y in 0..<img.height {
                let s = y * img.width * 3
                let d = ((y + padT) * padded.width + padL) * 3
                padded.pixels.replaceSubrange(d..<(d + img.width * 3), with: img.pixels[s..<(s + img.width * 3)])
            }
            img = padded
            if img.width == cw && img.height == ch { return img }
        }
        let (left, top) = torchvisionCropOffsets(width: img.width, height: img.height, cropWidth: cw, cropHeight: ch)
        return img.cropped(left: left, top: top, width: cw, height: ch)
    }

    /// `Resize(size, interpolation) + CenterCrop(size)` (DiGIT / MAGE validation preprocessing uses bicubic).
    /// The crop is fused into the resize (only the kept pixels are computed; same bytes).
    public static func torchvisionResizeCenterCrop(_ image: RGBImage, size: Int, filter: ResampleFilter = .bicubic) -> RGBImage {
        let (nw, nh) = torchvisionResizedSize(image, size: size)
        if nw < size || nh < size || (nw == image.width && nh == image.height) {
            return torchvisionCenterCrop(torchvisionResize(image, size: size, filter: filter), width: size, height: size)
        }
        let (left, top) = torchvisionCropOffsets(width: nw, height: nh, cropWidth: size, cropHeight: size)
        return Resample.resizeCropped(image, width: nw, height: nh, filter: filter, left: left, top: top, cropWidth: size, cropHeight: size)
    }
}

/// A named preprocessing recipe, the `--recipe` of `digit-bench prepare`.
///
/// `adm-N` (ADM/LlamaGen `center_crop_arr`), `torchvision-N` (Resize(N, bicubic) + CenterCrop(N)),
/// `torchvision-bilinear-N`, `pil-<filter>:WxH` (plain `Image.resize`), `reduce:F` / `reduce:FXxFY`,
/// `none` (decode only).
public enum Recipe: Sendable, Equatable, CustomStringConvertible {
    case none
    case centerCropArr(size: Int)
    case torchvision(size: Int, filter: ResampleFilter)
    case pilResize(width: Int, height: Int, filter: ResampleFilter)
    case reduce(x: Int, y: Int)

    public static let examples = ["adm-256", "torchvision-256", "torchvision-bilinear-224", "pil-bicubic:299x299", "reduce:2", "none"]

    public init(parsing text: String) throws {
        let t = text.lowercased()
        func positive(_ s: Substring) -> Int? { Int(s).flatMap { $0 > 0 ? $0 : nil } }
        func size(_ s: Substring) -> (Int, Int)? {
            let p = s.split(separator: "x")
            guard p.count == 2, let a = positive(p[0]), let b = positive(p[1]) else { return nil }
            return (a, b)
        }
        if t == "none" { self = .none; return }
        if t.hasPrefix("adm-"), let n = positive(t.dropFirst(4)) { self = .centerCropArr(size: n); return }
        if t.hasPrefix("torchvision-") {
            let rest = t.dropFirst("torchvision-".count)
            let parts = rest.split(separator: "-")
            if parts.count == 1, let n = positive(parts[0]) { self = .torchvision(size: n, filter: .bicubic); return }
            if parts.count == 2, let f = ResampleFilter(name: String(parts[0])), let n = positive(parts[1]) {
                self = .torchvision(size: n, filter: f); return
            }
        }
        if t.hasPrefix("pil-") {
            let parts = t.dropFirst(4).split(separator: ":")
            if parts.count == 2, let f = ResampleFilter(name: String(parts[0])), let (w, h) = size(parts[1]) {
                self = .pilResize(width: w, height: h, filter: f); return
            }
        }
        if t.hasPrefix("reduce:") {
            let arg = t.dropFirst(7)
            if let n = positive(arg) { self = .reduce(x: n, y: n); return }
            if let (x, y) = size(arg) { self = .reduce(x: x, y: y); return }
        }
        throw ImageError.invalidArgument("unknown recipe '\(text)'; valid forms: \(Recipe.examples.joined(separator: ", ")) (filters: \(ResampleFilter.allCases.map(\.rawValue).joined(separator: ", ")))")
    }

    public var description: String {
        switch self {
        case .none: return "none"
        case let .centerCropArr(n): return "adm-\(n)"
        case let .torchvision(n, f): return f == .bicubic ? "torchvision-\(n)" : "torchvision-\(f.rawValue)-\(n)"
        case let .pilResize(w, h, f): return "pil-\(f.rawValue):\(w)x\(h)"
        case let .reduce(x, y): return x == y ? "reduce:\(x)" : "reduce:\(x)x\(y)"
        }
    }

    /// The output size if it does not depend on the input.
    public var fixedSize: (width: Int, height: Int)? {
        switch self {
        case .none, .reduce: return nil
        case let .centerCropArr(n), let .torchvision(n, _): return (n, n)
        case let .pilResize(w, h, _): return (w, h)
        }
    }

    public func apply(_ image: RGBImage) -> RGBImage {
        switch self {
        case .none: return image
        case let .centerCropArr(n): return Preprocess.centerCropArr(image, size: n)
        case let .torchvision(n, f): return Preprocess.torchvisionResizeCenterCrop(image, size: n, filter: f)
        case let .pilResize(w, h, f): return Resample.resize(image, width: w, height: h, filter: f)
        case let .reduce(x, y): return Resample.reduce(image, xFactor: x, yFactor: y)
        }
    }
}
