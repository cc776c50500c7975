@testable import DigitBenchCLI
import DigitBench
import Foundation
import Testing
import _DigitTestSupport

/// `linear-probe --model digit-base` on a tiny ImageFolder with seeded weights: the cached features
/// are the stage-1 GPT's mean-pooled inner states 0…15 of the images' DiGIT tokens on the lp224 path
/// (both pieces are checked against upstream fixtures in DigitModelsTests), and a second run reuses
/// the cache.
@Suite(.serialized) struct LinearProbeModelTests {
    /// train/{a,b} and val/{a,b}, one fixture photo each: class 0 = a, 1 = b.
    static func makeTree(_ root: URL) throws {
        let layout = [("train/a", "astronaut_512x512"), ("train/b", "coffee_400x600"), ("val/a", "chelsea_300x451"), ("val/b", "rocket_crop256")]
        for (dir, image) in layout {
            let d = root.appendingPathComponent(dir)
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: Fixtures.url("inception", "images/\(image).png"), to: d.appendingPathComponent("\(image).png"))
        }
    }

    /// A temporary train/val tree (``makeTree``), a cache directory and a JSON output for one test.
    struct ProbeTree {
        let root: URL
        var cache: URL { root.appendingPathComponent("cache") }
        var out: URL { root.appendingPathComponent("probe.json") }

        init(_ tag: String) throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("\(tag)-\(UUID().uuidString)")
            try LinearProbeModelTests.makeTree(root)
        }

        func remove() { try? FileManager.default.removeItem(at: root) }

        /// `linear-probe` + `args` on this tree, with its cache, C = 1 and JSON output.
        func command(_ args: [String]) throws -> DigitBenchCommand.LinearProbeCommand {
            let all = ["linear-probe"] + args + ["--train", root.appendingPathComponent("train").path, "--val", root.appendingPathComponent("val").path,
                                                 "--cache", cache.path, "--c", "1", "-o", out.path]
            return try #require(try DigitBenchCommand.parseAsRoot(all) as? DigitBenchCommand.LinearProbeCommand)
        }

        /// Every cached `features.npy` (one per split).
        func cachedFeatures() throws -> [NPYArray] {
            let entries = try FileManager.default.subpathsOfDirectory(atPath: cache.path).filter { $0.hasSuffix("/features.npy") }
            return try entries.map { try NPY.read(contentsOf: cache.appendingPathComponent($0)) }
        }

        /// The layer names of the JSON result.
        func layerNames() throws -> [String] {
            let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any])
            return try #require(json["layers"] as? [[String: Any]]).compactMap { $0["name"] as? String }
        }
    }

    @Test func digitBaseFeaturesAreTheStage1InnerStatesAndAreCached() throws {
        let tree = try ProbeTree("probe")
        defer { tree.remove() }
        let (cache, out) = (tree.cache, tree.out)
        let args = ["--model", "digit-base", "--weights", "seeded"]
        var cmd = try tree.command(args)
        try cmd.run()

        // One FeatureCache entry per split (plus the digest memo); train is the one whose labels are [0, 1]
        // with two images — both splits have that shape, so tell them apart by their features below.
        let listing = { try FileManager.default.subpathsOfDirectory(atPath: cache.path).sorted() }
        let files = try listing()
        let entries = files.filter { $0.hasSuffix("/features.npy") }
        #expect(entries.count == 2, "\(files)")
        let arrays = try entries.map { try NPY.read(contentsOf: cache.appendingPathComponent($0)) }
        for (e, a) in zip(entries, arrays) {
            #expect(a.shape == [2, 16, 1024])
            let labels = try NPY.read(contentsOf: cache.appendingPathComponent(e.replacingOccurrences(of: "features.npy", with: "labels.npy")))
            #expect(labels.int64s() == [0, 1])
        }
        let tokenizer = try DiGITTokenizer.seeded(.base8k)
        let gpt = try DiGITStage1(.seeded(), configuration: DiGITStage1.configurationDefaults)
        let images = try ["astronaut_512x512", "coffee_400x600"].map { try ImageCodec.decode(contentsOf: Fixtures.url("inception", "images/\($0).png")) }
        let f = try gpt.linearProbeFeatures(clusterIDs: tokenizer.encode(images: images, path: .lp224))  // (2, 17, 1024)
        var expected: [Float] = []
        for r in 0..<2 { expected += f.scalars[(r * 17 * 1024)..<((r * 17 + 16) * 1024)] }
        // The same computation, bit for bit, in one of the two entries (the other holds val).
        #expect(arrays.filter { $0.floats() == expected }.count == 1)

        let first = try Data(contentsOf: out)
        var again = try tree.command(args)
        try again.run()  // reads the cache: no new files, same result
        #expect(try listing() == files)
        let a = try #require(try JSONSerialization.jsonObject(with: first) as? [String: Any])
        let b = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as? [String: Any])
        let layersA = try #require(a["layers"] as? [[String: Any]])
        let layersB = try #require(b["layers"] as? [[String: Any]])
        #expect(layersA.count == 16)
        let top1A: [Double] = layersA.compactMap { $0["top1"] as? Double }
        let top1B: [Double] = layersB.compactMap { $0["top1"] as? Double }
        #expect(top1A.count == 16 && top1A == top1B)
    }

    /// `--model dinov2-vitb14-reg4 --layers -1,9 --pool mean` on seeded weights: the cached features
    /// are DINOv2's pooled blocks of the Resize 256 + CenterCrop 224 crops (the pooling is checked
    /// against upstream tokens in DINOv2ProbeTests), and the table names the blocks.
    @Test func dinov2FeaturesArePooledBlocks() throws {
        let tree = try ProbeTree("probe-dino")
        defer { tree.remove() }
        var cmd = try tree.command(["--model", "dinov2-vitb14-reg4", "--weights", "seeded", "--layers", "-1,9", "--pool", "mean"])
        try cmd.run()
        let arrays = try tree.cachedFeatures()
        #expect(arrays.map(\.shape) == [[2, 2, 768], [2, 2, 768]])

        let net = try DINOv2(.vitb14reg4, weights: .seeded(), interpolation: .hub)
        let images = try ["chelsea_300x451", "rocket_crop256"].map {
            DiGITTokenizer.crop(try ImageCodec.decode(contentsOf: Fixtures.url("inception", "images/\($0).png")), path: .lp224)
        }
        let expected = net.probeFeatures(DINOv2Input.normalized(ImageBatch(images: images)), layers: [11, 9], pool: .mean).scalars
        #expect(arrays.filter { $0.floats() == expected }.count == 1)  // val's entry, the same computation bit for bit
        #expect(try tree.layerNames() == ["block[11]", "block[9]"])
    }

    /// `--model llamagen-gpt-b --layers -1,3 --image-size 128` (default `--pool mean`; 128 px keeps the
    /// test fast: 8×8 tokens) on seeded weights: the cached features are GPT-B's pooled block outputs
    /// for the VQ-16 tokens of the center_crop_arr 128 crops
    /// under the null class (the pooled states are checked against upstream logits and a torch port in
    /// GPTProbeTests), and `--pool cls` is refused for GPTs.
    @Test func llamaGenFeaturesArePooledBlockOutputs() throws {
        let tree = try ProbeTree("probe-llamagen")
        defer { tree.remove() }
        let base = ["--model", "llamagen-gpt-b", "--weights", "seeded", "--layers", "-1,3", "--image-size", "128"]
        var refused = try tree.command(base + ["--pool", "cls"])
        #expect(throws: (any Error).self) { try refused.run() }
        var cmd = try tree.command(base)
        try cmd.run()
        let arrays = try tree.cachedFeatures()
        #expect(arrays.map(\.shape) == [[2, 2, 768], [2, 2, 768]])

        let generator = try LlamaGenGenerator(id: .llamagenGPTB, imageSize: 128, gptWeights: .seeded(), vqWeights: .seeded())
        let images = try ["chelsea_300x451", "rocket_crop256"].map {
            Recipe.centerCropArr(size: 128).apply(try ImageCodec.decode(contentsOf: Fixtures.url("inception", "images/\($0).png")))
        }
        let grid = try generator.vq.encode(generator.vq.modelInput(ImageBatch(images: images))).tokens
        let tokens = (0..<2).map { Array(grid.tokens(of: $0)) }
        #expect(tokens.allSatisfy { $0.count == 64 })
        let expected = generator.gpt.probeFeatures(tokens: tokens, layers: [11, 3], pool: .mean).scalars
        #expect(arrays.filter { $0.floats() == expected }.count == 1)  // val's entry, the same computation bit for bit
        #expect(try tree.layerNames() == ["layers[11]", "layers[3]"])
    }
}
