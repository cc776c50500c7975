import DigitCheckpoint
import DigitImage
@testable import DigitModels
import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

@Suite("FID Inception-v3 (seeded weights vs pytorch-fid 0.3.0 / torch-fidelity 0.4.0)", .serialized)
struct InceptionTests {
    // MARK: Architecture

    @Test("requested keys and shapes equal pytorch-fid's state dict, in order")
    func manifest() throws {
        _ = InceptionFixture.network
        let manifest = try Fixtures.json("inception", "manifest.json") as! [String: Any]
        let entries = (manifest["pytorch_fid"] as! [String: Any])["entries"] as! [[String: Any]]
        let expected = entries.map { ($0["key"] as! String, $0["shape"] as! [Int]) }
        let requested = InceptionFixture.seededWeights.requested
        #expect(requested.count == 566)
        #expect(requested.map(\.key) == expected.map(\.0))
        #expect(requested.map(\.shape) == expected.map(\.1))
        #expect(InceptionFixture.network.parameterCount == 23_885_392)
    }

    @Test("strict loading: torch-fidelity's 472-entry file loads; missing and extra keys are errors")
    func strictLoading() throws {
        let entries = InceptionFixture.seededWeights.requested.filter { !$0.key.hasSuffix("num_batches_tracked") }
        #expect(entries.count == 472)
        func stateDict(_ list: [(key: String, shape: [Int])]) -> StateDict {
            var sd = StateDict(source: "test.pth")
            for e in list {
                let (key, shape) = e
                sd[key] = StoredTensor(dtype: .float32, shape: shape, load: {
                    Tensor(shape: shape, scalars: SeededWeights.values(key: key, shape: shape))
                })
            }
            return sd
        }
        // torch-fidelity's weights-inception-2015-12-05-6726825d.pth: no num_batches_tracked.
        let net = try InceptionV3(weights: Weights(stateDict: stateDict(entries)))
        #expect(net.parameterCount == 23_885_392)
        #expect(!net.isSeeded)

        let missing = entries.filter { $0.key != "Mixed_7c.branch_pool.bn.running_var" }
        #expect(throws: ModelLoadError.missingKey(key: "Mixed_7c.branch_pool.bn.running_var", expectedShape: [192], source: "test.pth")) {
            try InceptionV3(weights: Weights(stateDict: stateDict(missing)))
        }
        let extra = entries + [(key: "AuxLogits.fc.weight", shape: [1008, 768])]
        #expect(throws: ModelLoadError.unusedKeys(keys: ["AuxLogits.fc.weight"], source: "test.pth")) {
            try InceptionV3(weights: Weights(stateDict: stateDict(extra)))
        }
        var wrong = entries
        wrong[wrong.count - 1].shape = [1000]
        #expect(throws: ModelLoadError.shapeMismatch(key: "fc.bias", expected: [1008], actual: [1000], source: "test.pth")) {
            try InceptionV3(weights: Weights(stateDict: stateDict(wrong)))
        }
    }

    @Test("the separable 3×3 pools equal DigitTensor's max_pool2d / avg_pool2d(count_include_pad=False)")
    func pools() {
        var rng = TestRNG(seed: 5)
        for shape in [[1, 4, 17, 17], [1, 3, 147, 147], [2, 2, 8, 9]] {
            let x = rng.tensor(shape)
            // max: exact (max is order-independent).
            #expect(pool3x3(x, .max, stride: 2, padding: 0) == maxPool2d(x, kernel: (3, 3), stride: (2, 2)))
            #expect(pool3x3(x, .max, stride: 1, padding: 1) == maxPool2d(x, kernel: (3, 3), stride: (1, 1), padding: (1, 1)))
            // average: another float summation order of ≤ 9 terms in [-1, 1] → |Δ| ≤ 1e-6.
            let ours = pool3x3(x, .average, stride: 1, padding: 1)
            let ref = avgPool2d(x, kernel: (3, 3), stride: (1, 1), padding: (1, 1), countIncludePad: false)
            #expect(ours.shape == ref.shape)
            #expect(compare(ours.scalars, ref.scalars).maxAbsDiff <= 1e-6)
        }
    }

    // MARK: Input protocols (the resize fixtures of ../resize)

    @Test("pytorch-fid and torch-fidelity network inputs match the in-network resize fixtures")
    func protocolInputs() throws {
        let img = try InceptionFixture.image("astronaut_512x512")
        // pytorch-fid: 2·interpolate(x/255) − 1. resize/README: |Δ| ≤ 1e-6 on the [0,1] scale → 2e-6 after 2x−1.
        let torchRef = try Fixtures.npy("resize", "astronaut_512x512__torch_bilinear299_float.npy").doubles()
        let p = InceptionProtocol.pytorchFid.networkInput(img, index: 0)
        #expect(p.shape == [1, 3, 299, 299])
        #expect(worstRatio(p.scalars, torchRef.map { 2 * $0 - 1 }, atol: 2e-6, rtol: 0) <= 1)
        // torch-fidelity: (TF1 resize − 128)/128. resize/README: |Δ| ≤ 1e-4 on [0,255] → 1e-4/128.
        let tfRef = try Fixtures.npy("resize", "astronaut_512x512__tf1_bilinear299_float.npy").doubles()
        let t = InceptionProtocol.torchFidelity.networkInput(img, index: 0)
        #expect(worstRatio(t.scalars, tfRef.map { ($0 - 128) / 128 }, atol: 1e-4 / 128, rtol: 0) <= 1)
        #expect(InceptionProtocol.adm.networkInput(img, index: 0) == t)
        #expect(throws: InceptionError.self) { try InceptionProtocol(parsing: "pytorch_fid") }

        // clean-fid: Pillow float bicubic (HWC fixture), then (x − 128)/128.
        // resize/README: |Δ| ≤ 1e-3 on the [0,255] scale → 1e-3/128.
        let small = try InceptionFixture.image("motorcycle_box32")
        let cleanRef = try Fixtures.npy("resize", "motorcycle_box32__cleanfid_clean299_float.npy").doubles()
        var cleanCHW = [Double](repeating: 0, count: cleanRef.count)
        for i in 0..<(299 * 299) { for c in 0..<3 { cleanCHW[c * 299 * 299 + i] = (cleanRef[i * 3 + c] - 128) / 128 } }
        let cf = InceptionProtocol.cleanFid.networkInput(small, index: 0)
        #expect(worstRatio(cf.scalars, cleanCHW, atol: 1e-3 / 128, rtol: 0) <= 1)
        // The float-tensor entry point gives the same input from 0…255 floats.
        let floats = Tensor(shape: [1, 3, 32, 32]) { out in
            for c in 0..<3 { for i in 0..<1024 { out[c * 1024 + i] = Float(small.pixels[i * 3 + c]) } }
        }
        #expect(InceptionProtocol.cleanFid.networkInput(floats) == cf)
    }

    // MARK: Parity on the fixture photos
    // Tolerance (fixtures/inception/README.md): |Δ| ≤ 1e-4 + 1e-4·|expected| for pool3, the 64/192/768
    // means and the logits — ≈20× the float32-vs-float64 noise measured upstream (≤ 5.7e-6); a wrong
    // pad/pool/eps/branch order gives errors ≥ 1e-2.

    @Test("pytorch-fid protocol: features equal pfid_*.npy", arguments: ["coffee_400x600", "hubble_crop299", "motorcycle_box32"])
    func pytorchFid(image name: String) throws {
        try checkFeatures(name, .pytorchFid, [
            (.block64, "pfid_block0_64.npy"), (.block192, "pfid_block1_192.npy"), (.block768, "pfid_block2_768.npy"),
            (.pool3, "pfid_pool3.npy"), (.logits, "pfid_logits.npy"), (.logitsUnbiased, "pfid_logits_unbiased.npy"),
        ])
    }

    @Test("torch-fidelity protocol: features equal tfid_*.npy", arguments: ["chelsea_300x451", "rocket_crop256", "motorcycle_box32"])
    func torchFidelity(image name: String) throws {
        try checkFeatures(name, .torchFidelity, [
            (.block64, "tfid_64.npy"), (.block192, "tfid_192.npy"), (.block768, "tfid_768.npy"),
            (.pool3, "tfid_2048.npy"), (.logits, "tfid_logits.npy"), (.logitsUnbiased, "tfid_logits_unbiased.npy"),
        ])
    }

    /// Extracts every feature of `name` under `inputProtocol` and compares each with its fixture row.
    private func checkFeatures(_ name: String, _ inputProtocol: InceptionProtocol, _ files: [(InceptionFeature, String)]) throws {
        let out = try InceptionFixture.network.extract(
            InceptionFixture.image(name), protocol: inputProtocol, features: files.map(\.0))
        for (feature, file) in files {
            let expected = try InceptionFixture.row(file, name)
            let actual = out[feature]!.scalars
            let r = worstRatio(actual, expected, atol: 1e-4, rtol: 1e-4)
            #expect(r <= 1, "\(name) \(file): \(compare(actual, expected))")
            if ProcessInfo.processInfo.environment["DIGIT_BENCH_VERBOSE"] != nil {
                print("\(inputProtocol.rawValue) \(name) \(file): worst |Δ|/tol \(r) \(compare(actual, expected))")
            }
        }
    }

    @Test("astronaut: intermediate maps and pool3 equal pytorch-fid's")
    func intermediates() throws {
        let x = try InceptionProtocol.pytorchFid.networkInput(InceptionFixture.image("astronaut_512x512"), index: 0)
        let a = InceptionFixture.network.forward(
            x, features: [.pool3], taps: [.maxpool1, .Mixed_5d, .Mixed_6e, .Mixed_7c])
        // Intermediates: |Δ| ≤ 1e-4·max|expected| + 1e-4·|expected| (README: "same relative rule
        // against the largest |value| of the tensor").
        let maps: [(InceptionTap, String, Int)] = [
            (.maxpool1, "pfid_astronaut_512x512_maxpool1_every4ch.npy", 4),
            (.Mixed_5d, "pfid_astronaut_512x512_Mixed_5d_every4ch.npy", 4),
            (.Mixed_6e, "pfid_astronaut_512x512_Mixed_6e_every4ch.npy", 4),
            (.Mixed_7c, "pfid_astronaut_512x512_Mixed_7c.npy", 1),
        ]
        for (tap, file, step) in maps {
            let ref = try Fixtures.npy("inception", file)
            let t = a.taps[tap]!
            let (c, plane) = (t.dim(1), t.dim(2) * t.dim(3))
            #expect(ref.shape == [c / step, t.dim(2), t.dim(3)], "\(file) shape \(ref.shape) vs \(t.shape)")
            var picked: [Float] = []
            for ch in stride(from: 0, to: c, by: step) { picked += t.scalars[ch * plane..<(ch + 1) * plane] }
            let expected = ref.doubles()
            let scale = expected.map(abs).max()!
            let r = worstRatio(picked, expected, atol: 1e-4 * scale, rtol: 1e-4)
            #expect(r <= 1, "\(file): \(compare(picked, expected))")
            if ProcessInfo.processInfo.environment["DIGIT_BENCH_VERBOSE"] != nil {
                print("astronaut \(file): worst |Δ|/tol \(r) \(compare(picked, expected))")
            }
        }
        let pool3 = try InceptionFixture.row("pfid_pool3.npy", "astronaut_512x512")
        #expect(worstRatio(a.features[.pool3]!, pool3, atol: 1e-4, rtol: 1e-4) <= 1)
    }

    // MARK: Invariance and the sFID feature

    @Test("features do not depend on batching; sFID feature is Mixed_6d[:7] in NHWC order")
    func batchInvariance() throws {
        let one = try InceptionFixture.image("motorcycle_box32")
        // A second 32×32 image: the first one mirrored left-right.
        var mirrored = one.pixels
        for y in 0..<32 { for x in 0..<32 { for c in 0..<3 { mirrored[(y * 32 + x) * 3 + c] = one.pixels[(y * 32 + 31 - x) * 3 + c] } } }
        let two = ImageBatch(count: 1, height: 32, width: 32, pixels: mirrored)
        let both = ImageBatch(count: 2, height: 32, width: 32, pixels: one.pixels + mirrored)
        let net = InceptionFixture.network
        let features: [InceptionFeature] = [.pool3, .spatial]
        let joint = try net.extract(both, protocol: .adm, features: features)
        let a = try net.extract(one, protocol: .adm, features: features)
        let b = try net.extract(two, protocol: .adm, features: features)
        #expect(joint[.pool3]!.shape == [2, 2048])
        #expect(joint[.spatial]!.shape == [2, 2023])
        // Exact: an image's features are the same bits whatever group it runs in.
        #expect(joint[.pool3]!.scalars == a[.pool3]!.scalars + b[.pool3]!.scalars)
        #expect(joint[.spatial]!.scalars == a[.spatial]!.scalars + b[.spatial]!.scalars)
        // Four images: groups of ≥ 2 images share each sgemm (2 per worker on 2 threads), at
        // different slots than above; still the same bits as one image at a time.
        let four = ImageBatch(count: 4, height: 32, width: 32, pixels: one.pixels + mirrored + mirrored + one.pixels)
        let grouped = try net.extract(four, protocol: .adm, features: features)
        #expect(grouped[.pool3]!.scalars == a[.pool3]!.scalars + b[.pool3]!.scalars + b[.pool3]!.scalars + a[.pool3]!.scalars)
        #expect(grouped[.spatial]!.scalars == a[.spatial]!.scalars + b[.spatial]!.scalars + b[.spatial]!.scalars + a[.spatial]!.scalars)

        // The sFID feature against the Mixed_6d map captured by the same forward pass.
        let x = InceptionProtocol.adm.networkInput(one, index: 0)
        let act = net.forward(x, features: [.spatial], taps: [.Mixed_6d])
        let m = act.taps[.Mixed_6d]!
        #expect(m.shape == [1, 768, 17, 17])
        var nhwc: [Float] = []
        for pos in 0..<289 { for c in 0..<7 { nhwc.append(m.scalars[c * 289 + pos]) } }
        #expect(act.features[.spatial]! == nhwc)
        // forward() here used multi-threaded sgemm, extract() single-threaded: equal up to rounding
        // (1e-5 relative to the map's scale; a wrong channel or layout is off by O(1)).
        let scale = Double(nhwc.map(abs).max()!)
        #expect(worstRatio(act.features[.spatial]!, a[.spatial]!.scalars.map(Double.init), atol: 1e-5 * scale, rtol: 0) <= 1)
    }

    // MARK: Registry, weight files

    @Test("registry ids parse with a did-you-mean error")
    func registry() throws {
        #expect(try FeatureExtractorID.parse("inception-v3") == .inceptionV3)
        do {
            _ = try FeatureExtractorID.parse("inception_v3")
            Issue.record("expected an error")
        } catch let e as UnknownIDError {
            #expect(e.description.contains("did you mean 'inception-v3'"))
        }
        #expect(InceptionFeature(name: "2048") == .pool3)
        #expect(InceptionFeature(name: "logits_unbiased") == .logitsUnbiased)
    }
}
