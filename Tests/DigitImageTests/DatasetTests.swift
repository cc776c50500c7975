import DigitImage
import Foundation
import Testing
import _DigitTestSupport

struct DatasetTests {
    /// A temporary ImageFolder tree: classes b_cls and a_cls (deliberately created out of order),
    /// a nested file, a corrupt file and a non-image file.
    static func makeTree() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("digit-image-\(UUID().uuidString)")
        func put(_ rel: String, _ value: UInt8) throws {
            let u = root.appendingPathComponent(rel)
            try FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
            let img = RGBImage(width: 4 + Int(value % 3), height: 3, pixels: [UInt8](repeating: value, count: (4 + Int(value % 3)) * 9))
            try ImageCodec.encodePNG(img).write(to: u)
        }
        try put("b_cls/z.png", 1)
        try put("b_cls/sub/y.png", 2)
        try put("a_cls/x.PNG", 3)
        try put("a_cls/w.png", 4)
        try Data("not an image".utf8).write(to: root.appendingPathComponent("a_cls/broken.jpg"))
        try Data("notes".utf8).write(to: root.appendingPathComponent("a_cls/readme.txt"))
        return root
    }

    @Test("Folder and ImageFolder listings: sorted order, class index = sorted directory order")
    func listings() throws {
        let root = try Self.makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = try ImageFolderDataset(root: root)
        #expect(folder.files == ["a_cls/broken.jpg", "a_cls/w.png", "a_cls/x.PNG", "b_cls/sub/y.png", "b_cls/z.png"])
        let tree = try ImageFolderTreeDataset(root: root)
        #expect(tree.classNames == ["a_cls", "b_cls"])
        #expect(tree.labels == [0, 0, 0, 1, 1])
        #expect(try tree.load(1).pixels.first == 4)
    }

    @Test("on-error: fail throws the first bad file with its path; skip records it and keeps the rest")
    func onError() throws {
        let root = try Self.makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let ds = try ImageFolderTreeDataset(root: root)
        do {
            try DatasetLoader(dataset: ds, batchSize: 2).forEachBatch { _ in }
            Issue.record("fail policy did not throw")
        } catch let e as ImageError {
            #expect(e.path?.hasSuffix("a_cls/broken.jpg") == true)
        }
        var seen: [Int] = []
        let skipped = try DatasetLoader(dataset: ds, recipe: .pilResize(width: 2, height: 2, filter: .bicubic), batchSize: 2, onError: .skip)
            .forEachBatch { b in
                seen += b.indices
                #expect(b.images.allSatisfy { $0.width == 2 && $0.height == 2 })
            }
        #expect(seen == [1, 2, 3, 4])
        #expect(skipped.map(\.id) == ["a_cls/broken.jpg"])
    }

    @Test("Batch size and sharding do not change the items or their pixels")
    func invariance() throws {
        var rng = TestRNG(seed: 11)
        let images = (0..<23).map { _ in RGBImage(width: 40, height: 30, pixels: (0..<3600).map { _ in UInt8(rng.int(256)) }) }
        let ds = InMemoryDataset(images: images)
        func collect(_ loader: DatasetLoader) throws -> [RGBImage] {
            var out: [RGBImage] = []
            try loader.forEachBatch { out += $0.images }
            return out
        }
        let recipe = Recipe.centerCropArr(size: 16)
        let reference = images.map(recipe.apply)
        #expect(try collect(DatasetLoader(dataset: ds, recipe: recipe, batchSize: 1)) == reference)
        #expect(try collect(DatasetLoader(dataset: ds, recipe: recipe, batchSize: 7)) == reference)
        var sharded: [RGBImage] = []
        for i in 0..<4 { sharded += try collect(DatasetLoader(dataset: ds, recipe: recipe, batchSize: 5, shard: Shard(index: i, count: 4))) }
        #expect(sharded == reference)
    }

    @Test("Text file lists: relative paths, optional labels, comments; malformed lines are errors")
    func fileList() throws {
        let root = try Self.makeTree()
        defer { try? FileManager.default.removeItem(at: root) }
        let list = root.appendingPathComponent("val.txt")
        try "# comment\nb_cls/z.png 7\n\na_cls/w.png 2\n".write(to: list, atomically: true, encoding: .utf8)
        let ds = try FileListDataset(listFile: list)
        #expect(ds.paths == ["b_cls/z.png", "a_cls/w.png"])
        #expect(ds.labels == [7, 2])
        #expect(try ds.load(0).pixels.first == 1)
        try "a b c\n".write(to: list, atomically: true, encoding: .utf8)
        #expect(throws: ImageError.self) { try FileListDataset(listFile: list) }
    }

    @Test("Recipes parse and print back; unknown ones list the valid forms")
    func recipes() throws {
        for s in ["adm-256", "torchvision-256", "torchvision-bilinear-224", "pil-lanczos:64x48", "reduce:2", "reduce:3x2", "none"] {
            #expect(try Recipe(parsing: s).description == s)
        }
        #expect(try Recipe(parsing: "pil-bicubic:299x299") == .pilResize(width: 299, height: 299, filter: .bicubic))
        #expect(throws: ImageError.self) { try Recipe(parsing: "adm-0") }
        #expect(throws: ImageError.self) { try Recipe(parsing: "pil-nearest:3x3") }
        #expect(throws: ImageError.self) { try Shard(parsing: "4/4") }
    }

    @Test("torchvision Resize + CenterCrop: short side to N, long side truncated, round-half-even crop offsets")
    func torchvisionGeometry() throws {
        var rng = TestRNG(seed: 3)
        let img = RGBImage(width: 451, height: 300, pixels: (0..<(451 * 300 * 3)).map { _ in UInt8(rng.int(256)) })
        let r = Preprocess.torchvisionResize(img, size: 256, filter: .bicubic)
        #expect(r.width == 384 && r.height == 256)  // int(256 * 451 / 300) = int(384.85) = 384
        #expect(r == Resample.resize(img, width: 384, height: 256, filter: .bicubic))
        let c = Preprocess.torchvisionResizeCenterCrop(img, size: 256)
        #expect(c == r.cropped(left: 64, top: 0, width: 256, height: 256))  // round(128 / 1) = 64
        // Odd margins: (5 - 2) / 2 = 1.5 rounds to 2, (7 - 2) / 2 = 2.5 rounds to 2 (half to even).
        let small = RGBImage(width: 7, height: 5, pixels: (0..<105).map { UInt8($0) })
        #expect(Preprocess.torchvisionCenterCrop(small, width: 2, height: 2) == small.cropped(left: 2, top: 2, width: 2, height: 2))
    }

    @Test("Sample grid places tiles and draws labels inside the label strip")
    func grid() throws {
        let red = RGBImage(width: 8, height: 8, pixels: [UInt8](repeating: 0, count: 192).enumerated().map { $0.offset % 3 == 0 ? 255 : 0 })
        let g = SampleGrid.make([red, red, red], columns: 2, labels: ["A1", "B", "C"], padding: 2)
        let labelH = (7 + 2) + 2
        #expect(g.width == 2 * 8 + 3 * 2 && g.height == 2 * (8 + labelH) + 3 * 2)
        let o = (2 * g.width + 2) * 3
        #expect(Array(g.pixels[o..<(o + 3)]) == [255, 0, 0])
        // Some ink (black) appears in the first label strip, and none above the tiles.
        let strip = (2 + 8 + 2)..<(2 + 8 + labelH)
        let ink = strip.contains { y in (0..<g.width).contains { x in g.pixels[(y * g.width + x) * 3 + 1] == 0 && g.pixels[(y * g.width + x) * 3] == 0 } }
        #expect(ink)
        #expect(try ImageCodec.decode(ImageCodec.encodePNG(g)) == g)
    }
}
