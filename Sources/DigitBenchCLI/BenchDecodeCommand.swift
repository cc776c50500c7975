import ArgumentParser
import DigitBench
import Foundation

extension DigitBenchCommand {
    struct BenchDecode: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "decode",
            abstract: "Images/s of decode + ADM center_crop_arr(N) over a folder, one thread and all threads.",
            discussion: """
                Compare with Pillow doing the same in one process on this machine:
                  python3 tools/bench_pillow_decode.py DIR --size 256
                (pip install pillow numpy). --synthesize N writes N ImageNet-sized (500x375, quality 90) \
                JPEGs into DIR first, made from the PNG/JPEG images of --from.
                """)

        @Argument(help: "Directory of images (recursive).")
        var directory: String

        @Option(help: "center_crop_arr output size.")
        var size = 256

        @Option(help: "Time at most this many images.")
        var limit = 500

        @Option(help: "Write this many synthetic 500x375 JPEGs into DIRECTORY first.")
        var synthesize: Int?

        @Option(help: "Source images for --synthesize.")
        var from: String?

        func run() throws {
            if let n = synthesize {
                guard let from else { throw ValidationError("--synthesize needs --from DIR of source images") }
                try Self.synthesize(count: n, from: from, into: directory)
            }
            let full = try ImageFolderDataset(root: URL(fileURLWithPath: directory))
            let ds = LimitedDataset(base: full, limit: min(limit, full.count))
            guard ds.count > 0 else { throw ValidationError("no images in \(directory)") }
            let recipe = Recipe.centerCropArr(size: size)
            // Warm the page cache so both runs read from memory.
            for i in 0..<ds.count { _ = try? Data(contentsOf: full.root.appendingPathComponent(full.files[i])) }

            var t0 = Date()
            var checksum = 0
            for i in 0..<ds.count { checksum &+= Int(recipe.apply(try ds.load(i)).pixels[0]) }
            let single = Double(ds.count) / Date().timeIntervalSince(t0)

            t0 = Date()
            var parallelChecksum = 0
            try DatasetLoader(dataset: ds, recipe: recipe, batchSize: 64).forEachBatch { b in
                for im in b.images { parallelChecksum &+= Int(im.pixels[0]) }
            }
            guard parallelChecksum == checksum else { throw ValidationError("parallel run differs from the single-thread run") }
            let parallel = Double(ds.count) / Date().timeIntervalSince(t0)
            print("images          \(ds.count) from \(directory)")
            print("pipeline        decode (libjpeg-turbo islow / libpng) + center_crop_arr(\(size))")
            print(String(format: "1 thread        %.1f images/s", single))
            print(String(format: "%d threads       %.1f images/s", Threads.count, parallel))
            print("checksum        \(checksum) (sum of each output's first byte; Pillow's script prints the same)")
            print("compare         python3 tools/bench_pillow_decode.py \(directory) --size \(size) --limit \(limit)")
        }

        static func synthesize(count: Int, from: String, into dir: String) throws {
            let sources = try ImageFolderDataset(root: URL(fileURLWithPath: from))
            guard sources.count > 0 else { throw ValidationError("no source images in \(from)") }
            let out = URL(fileURLWithPath: dir)
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            let imgs = try (0..<sources.count).map { try sources.load($0) }
            for n in 0..<count {
                let src = imgs[n % imgs.count]
                // Upscale to 560x420 and take a shifted 500x375 window so files differ.
                let big = Resample.resize(src, width: 560, height: 420, filter: .bicubic)
                let crop = big.cropped(left: (n * 7) % 60, top: (n * 5) % 45, width: 500, height: 375)
                let name = String(format: "synthetic_%05d.jpg", n)
                try ImageCodec.writeAtomically(ImageCodec.encodeJPEG(crop, quality: 90, subsampling: 2), to: out.appendingPathComponent(name))
            }
        }
    }
}
