import DigitCheckpoint
import DigitNN
import DigitTensor
import Testing
import _DigitTestSupport

@Suite("layers load by upstream key")
struct LayerTests {
    @Test("Conv2d and Linear built from a StateDict compute the op with the same tensors")
    func convLinearFromStateDict() throws {
        var rng = TestRNG(seed: 21)
        let cw = rng.tensor([6, 2, 3, 3]), cb = rng.tensor([6]), lw = rng.tensor([5, 7]), lb = rng.tensor([5])
        var sd = StateDict(source: "tiny.pth")
        sd["features.0.weight"] = StoredTensor(cw)
        sd["features.0.bias"] = StoredTensor(cb)
        sd["head.weight"] = StoredTensor(lw)
        sd["head.bias"] = StoredTensor(lb)
        let w = Weights(stateDict: sd)
        let conv = try Conv2d(w.root.scope("features").scope(0), inChannels: 4, outChannels: 6, kernel: 3, stride: 2, padding: 1, groups: 2)
        let fc = try Linear(w.root.scope("head"), in: 7, out: 5)
        try w.finish()
        let x = rng.tensor([2, 4, 9, 8]), t = rng.tensor([3, 7])
        // Same tensors, same op: bit-identical.
        #expect(conv(x) == conv2d(x, weight: cw, bias: cb, stride: 2, padding: 1, groups: 2))
        #expect(fc(t) == linear(t, weight: lw, bias: lb))
    }

    @Test("keys and shapes are requested exactly as upstream names them")
    func keyNames() throws {
        let w = Weights.seeded()
        let s = w.root.scope("Mixed_5b").scope("branch1x1")
        _ = try Conv2d(s.scope("conv"), inChannels: 192, outChannels: 64, kernel: 1, bias: false)
        _ = try BatchNorm2d(s.scope("bn"), channels: 64, eps: 0.001)
        _ = try GroupNorm(w.root.scope("encoder.norm_out"), groups: 32, channels: 128, eps: 1e-6)
        _ = try LayerNorm(w.root.scope("blocks").scope(3).scope("norm1"), dim: 384, eps: 1e-6)
        _ = try RMSNorm(w.root.scope("layers.0.attention_norm"), dim: 768)
        _ = try Embedding(w.root.scope("tok_embeddings"), count: 16384, dim: 768)
        _ = try Linear(w.root.scope("output"), in: 768, out: 16384, bias: false)
        let got = w.requested.map { "\($0.key) \($0.shape)" }
        #expect(got == [
            "Mixed_5b.branch1x1.conv.weight [64, 192, 1, 1]",
            "Mixed_5b.branch1x1.bn.weight [64]", "Mixed_5b.branch1x1.bn.bias [64]",
            "Mixed_5b.branch1x1.bn.running_mean [64]", "Mixed_5b.branch1x1.bn.running_var [64]",
            "Mixed_5b.branch1x1.bn.num_batches_tracked []",
            "encoder.norm_out.weight [128]", "encoder.norm_out.bias [128]",
            "blocks.3.norm1.weight [384]", "blocks.3.norm1.bias [384]",
            "layers.0.attention_norm.weight [768]",
            "tok_embeddings.weight [16384, 768]",
            "output.weight [16384, 768]",
        ])
    }

    @Test("BatchNorm2d accepts num_batches_tracked and equals the eval-mode op")
    func batchNorm() throws {
        var rng = TestRNG(seed: 4)
        let m = rng.tensor([3], -0.1, 0.1), v = rng.tensor([3], 0.5, 1.5), g = rng.tensor([3]), b = rng.tensor([3])
        var sd = StateDict(source: "bn.pth")
        sd["bn.weight"] = StoredTensor(g)
        sd["bn.bias"] = StoredTensor(b)
        sd["bn.running_mean"] = StoredTensor(m)
        sd["bn.running_var"] = StoredTensor(v)
        sd["bn.num_batches_tracked"] = StoredTensor(Tensor(zeros: []))
        let w = Weights(stateDict: sd)
        let bn = try BatchNorm2d(w.root.scope("bn"), channels: 3, eps: 1e-3)
        try w.finish()  // no unused keys
        let x = rng.tensor([2, 3, 4, 4])
        #expect(bn(x) == batchNorm2dEval(x, mean: m, variance: v, weight: g, bias: b, eps: 1e-3))
    }

    @Test("a wrong shape names the key and both shapes")
    func wrongShape() {
        var sd = StateDict(source: "bad.pth")
        sd["conv.weight"] = StoredTensor(Tensor(zeros: [8, 3, 3, 3]))
        let w = Weights(stateDict: sd)
        #expect(throws: ModelLoadError.shapeMismatch(key: "conv.weight", expected: [8, 4, 3, 3], actual: [8, 3, 3, 3], source: "bad.pth")) {
            _ = try Conv2d(w.root.scope("conv"), inChannels: 4, outChannels: 8, kernel: 3, bias: false)
        }
    }
}
