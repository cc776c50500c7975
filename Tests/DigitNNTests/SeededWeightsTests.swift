import DigitCheckpoint
import DigitTensor
import DigitNN
import Testing
import _DigitTestSupport

@Suite("Seeded weights (shared/spec/seeded-weights.md)")
struct SeededWeightsTests {
    // Check values are the spec's table, produced by shared/tools/seeded_weights.py.
    @Test("check values from the spec table", arguments: [
        ("Conv2d_1a_3x3.conv.weight", [32, 3, 3, 3], [-0.151984423, 0.121422492, -0.304633617, 0.348810256] as [Float]),
        ("Conv2d_1a_3x3.bn.running_var", [32], [1.12580955, 0.63593787, 1.3735801, 1.00934887]),
        ("a", [1], [0.97434622]),
    ])
    func checkValues(key: String, shape: [Int], first: [Float]) {
        let v = SeededWeights.values(key: key, shape: shape)
        #expect(v.count == shape.reduce(1, *))
        for (i, e) in first.enumerated() {
            // The spec prints 9 significant digits; Float32 has ~7.2, so 1 ulp-level agreement.
            #expect(abs(v[i] - e) <= 1e-7 * max(1, abs(e)), "\(key)[\(i)] = \(v[i]), spec says \(e)")
        }
    }

    @Test("missing, mis-shaped and unused keys are errors naming the key")
    func strictLoading() throws {
        var sd = StateDict(source: "test.pth")
        sd["fc.weight"] = StoredTensor(Tensor(zeros: [4, 3]))
        sd["fc.extra"] = StoredTensor(Tensor(zeros: [1]))
        let w = Weights(stateDict: sd)
        #expect(throws: ModelLoadError.shapeMismatch(key: "fc.weight", expected: [4, 2], actual: [4, 3], source: "test.pth")) {
            _ = try w.root.scope("fc").tensor("weight", shape: [4, 2])
        }
        #expect(throws: ModelLoadError.missingKey(key: "fc.bias", expectedShape: [4], source: "test.pth")) {
            _ = try w.root.scope("fc").tensor("bias", shape: [4])
        }
        #expect(throws: ModelLoadError.unusedKeys(keys: ["fc.extra"], source: "test.pth")) { try w.finish() }
    }
}
