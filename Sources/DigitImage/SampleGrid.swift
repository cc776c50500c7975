import Foundation

/// Tiles images into one picture for reports, optionally with a text label under each tile.
public enum SampleGrid {
    /// Lays `images` out row by row, `columns` per row (default: the ceiling of sqrt(n)).
    /// Tiles of different sizes are centred in cells of the largest size. Labels are drawn with a
    /// built-in 5x7 font (upper-case ASCII, digits and common punctuation), scaled with the tile size.
    public static func make(_ images: [RGBImage], columns: Int? = nil, labels: [String]? = nil, padding: Int = 2,
                            background: (UInt8, UInt8, UInt8) = (255, 255, 255)) -> RGBImage {
        precondition(labels == nil || labels!.count == images.count, "SampleGrid: \(labels!.count) labels for \(images.count) images")
        guard !images.isEmpty else { return RGBImage(width: 1, height: 1, pixels: [background.0, background.1, background.2]) }
        let cols = max(1, columns ?? Int(Double(images.count).squareRoot().rounded(.up)))
        let rows = (images.count + cols - 1) / cols
        let cellW = images.map(\.width).max()!, cellH = images.map(\.height).max()!
        let scale = max(1, cellW / 96)
        let labelH = labels == nil ? 0 : (BitmapFont.height + 2) * scale + 2
        let width = cols * cellW + (cols + 1) * padding
        let height = rows * (cellH + labelH) + (rows + 1) * padding
        var px = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) { px[3 * i] = background.0; px[3 * i + 1] = background.1; px[3 * i + 2] = background.2 }
        var grid = RGBImage(width: width, height: height, pixels: px)
        for (n, img) in images.enumerated() {
            let cx = padding + (n % cols) * (cellW + padding)
            let cy = padding + (n / cols) * (cellH + labelH + padding)
            let ox = cx + (cellW - img.width) / 2, oy = cy + (cellH - img.height) / 2
            for y in 0..<img.height {
                let d = ((oy + y) * width + ox) * 3, s = y * img.width * 3
                grid.pixels.replaceSubrange(d..<(d + img.width * 3), with: img.pixels[s..<(s + img.width * 3)])
            }
            if let text = labels?[n] {
                let luminance = (Int(background.0) * 299 + Int(background.1) * 587 + Int(background.2) * 114) / 1000
                let ink: UInt8 = luminance > 127 ? 0 : 255
                BitmapFont.draw(text, into: &grid, x: cx + 1, y: cy + cellH + 2, scale: scale, maxWidth: cellW - 2, color: (ink, ink, ink))
            }
        }
        return grid
    }
}

/// A 5x7 bitmap font (one cell is 6 pixels wide with spacing).
enum BitmapFont {
    static let width = 5, height = 7

    static func draw(_ text: String, into image: inout RGBImage, x: Int, y: Int, scale: Int, maxWidth: Int, color: (UInt8, UInt8, UInt8)) {
        var penX = x
        for ch in text.uppercased() {
            guard penX + width * scale <= x + maxWidth else { break }
            let rows = glyphs[ch] ?? glyphs["?"]!
            for (gy, row) in rows.enumerated() {
                for (gx, bit) in row.enumerated() where bit == "#" {
                    for sy in 0..<scale {
                        for sx in 0..<scale {
                            let px = penX + gx * scale + sx, py = y + gy * scale + sy
                            guard px >= 0, py >= 0, px < image.width, py < image.height else { continue }
                            let o = (py * image.width + px) * 3
                            image.pixels[o] = color.0; image.pixels[o + 1] = color.1; image.pixels[o + 2] = color.2
                        }
                    }
                }
            }
            penX += (width + 1) * scale
        }
    }

    static let glyphs: [Character: [String]] = {
        let table: [(Character, String)] = [
            (" ", ".....|.....|.....|.....|.....|.....|....."),
            ("0", ".###.|#...#|#..##|#.#.#|##..#|#...#|.###."), ("1", "..#..|.##..|..#..|..#..|..#..|..#..|.###."),
            ("2", ".###.|#...#|....#|...#.|..#..|.#...|#####"), ("3", "####.|....#|....#|.###.|....#|....#|####."),
            ("4", "...#.|..##.|.#.#.|#..#.|#####|...#.|...#."), ("5", "#####|#....|####.|....#|....#|#...#|.###."),
            ("6", ".###.|#....|#....|####.|#...#|#...#|.###."), ("7", "#####|....#|...#.|..#..|.#...|.#...|.#..."),
            ("8", ".###.|#...#|#...#|.###.|#...#|#...#|.###."), ("9", ".###.|#...#|#...#|.####|....#|....#|.###."),
            ("A", ".###.|#...#|#...#|#####|#...#|#...#|#...#"), ("B", "####.|#...#|#...#|####.|#...#|#...#|####."),
            ("C", ".###.|#...#|#....|#....|#....|#...#|.###."), ("D", "####.|#...#|#...#|#...#|#...#|#...#|####."),
            ("E", "#####|#....|#....|####.|#....|#....|#####"), ("F", "#####|#....|#....|####.|#....|#....|#...."),
            ("G", ".###.|#...#|#....|#.###|#...#|#...#|.####"), ("H", "#...#|#...#|#...#|#####|#...#|#...#|#...#"),
            ("I", ".###.|..#..|..#..|..#..|..#..|..#..|.###."), ("J", "..###|...#.|...#.|...#.|...#.|#..#.|.##.."),
            ("K", "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#"), ("L", "#....|#....|#....|#....|#....|#....|#####"),
            ("M", "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#"), ("N", "#...#|#...#|##..#|#.#.#|#..##|#...#|#...#"),
            ("O", ".###.|#...#|#...#|#...#|#...#|#...#|.###."), ("P", "####.|#...#|#...#|####.|#....|#....|#...."),
            ("Q", ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#"), ("R", "####.|#...#|#...#|####.|#.#..|#..#.|#...#"),
            ("S", ".####|#....|#....|.###.|....#|....#|####."), ("T", "#####|..#..|..#..|..#..|..#..|..#..|..#.."),
            ("U", "#...#|#...#|#...#|#...#|#...#|#...#|.###."), ("V", "#...#|#...#|#...#|#...#|#...#|.#.#.|..#.."),
            ("W", "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#."), ("X", "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#"),
            ("Y", "#...#|#...#|.#.#.|..#..|..#..|..#..|..#.."), ("Z", "#####|....#|...#.|..#..|.#...|#....|#####"),
            ("-", ".....|.....|.....|#####|.....|.....|....."), (".", ".....|.....|.....|.....|.....|.##..|.##.."),
            (",", ".....|.....|.....|.....|.##..|..#..|.#..."), (":", ".....|.##..|.##..|.....|.##..|.##..|....."),
            ("_", ".....|.....|.....|.....|.....|.....|#####"), ("/", "....#|....#|...#.|..#..|.#...|#....|#...."),
            ("(", "...#.|..#..|.#...|.#...|.#...|..#..|...#."), (")", ".#...|..#..|...#.|...#.|...#.|..#..|.#..."),
            ("=", ".....|.....|#####|.....|#####|.....|....."), ("+", ".....|..#..|..#..|#####|..#..|..#..|....."),
            ("#", ".#.#.|.#.#.|#####|.#.#.|#####|.#.#.|.#.#."), ("%", "##...|##..#|...#.|..#..|.#...|#..##|...##"),
            ("?", ".###.|#...#|....#|...#.|..#..|.....|..#.."), ("'", "..#..|..#..|.#...|.....|.....|.....|....."),
        ]
        var d: [Character: [String]] = [:]
        for (c, s) in table { d[c] = s.split(separator: "|").map(String.init) }
        return d
    }()
}
