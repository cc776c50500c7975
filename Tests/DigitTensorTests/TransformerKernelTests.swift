import CKernels
import DigitTensor
import Foundation
import Testing
import _DigitTestSupport

/// The vectorised transformer kernels (Sources/CKernels/transformer.c) against float64 references.
@Suite("transformer kernels: erf, GELU, softmax, LayerNorm, packed attention")
struct TransformerKernelTests {
    /// Units in the last place of the float32 value nearest `ref`.
    func ulps(_ y: Float, _ ref: Double) -> Double {
        abs(Double(y) - ref) / Double(Float(ref).magnitude.ulp)
    }

    @Test("erf within 1.5 ulp of the float64 erf on a dense sweep of [-6, 6] and tiny arguments (vector and portable paths)")
    func erfSweep() {
        var xs: [Float] = stride(from: -6.0, through: 6.0, by: 1.0 / 4096).map { Float($0) }
        let split: Float = 0.921875
        xs += [0, -0, 1e-30, -1e-30, 1e-10, 3e-5, split, split.nextUp, split.nextDown, 3.9, 4, 4.5, 20, -20, .infinity, -.infinity] as [Float]
        var rng = TestRNG(seed: 11)
        xs += (0..<20_000).map { _ in rng.uniform(-4.5, 4.5) }
        for portable in [false, true] {
            var ys = [Float](repeating: .nan, count: xs.count)
            ys.withUnsafeMutableBufferPointer { y in
                if portable { dbk_erf_portable(xs, y.baseAddress!, Int64(xs.count)) } else { dbk_erf(xs, y.baseAddress!, Int64(xs.count)) }
            }
            var worst = 0.0, at: Float = 0
            for (x, y) in zip(xs, ys) {
                let u = ulps(y, Foundation.erf(Double(x)))
                if !(u <= worst) { worst = u; at = x }
            }
            // tools/fit_erf.py predicts ~1.15 ulp for the formula in float32 arithmetic.
            #expect(worst <= 1.5, "\(portable ? "portable" : "vector") erf: \(worst) ulp at \(at)")
            var negZero: Float = 1
            let mz: [Float] = [-0.0]
            if portable { dbk_erf_portable(mz, &negZero, 1) } else { dbk_erf(mz, &negZero, 1) }
            #expect(negZero == 0 && negZero.sign == .minus)
        }
    }

    @Test("geluInPlace matches the float64 exact GELU (and gelu())")
    func gelu() {
        var rng = TestRNG(seed: 5)
        let x = rng.tensor([3, 1027], -9, 9)   // odd length: the masked tail runs too
        var y = x
        geluInPlace(&y)
        let ref = x.scalars.map { v -> Double in let d = Double(v); return 0.5 * d * (1 + Foundation.erf(d / 2.0.squareRoot())) }
        // Same bound as gelu()'s own test (2e-6 for |x| <= 8: float32 rounding of x/sqrt 2 and of the product).
        #expect(compare(y.scalars, ref).maxAbsDiff <= 2e-6, "\(compare(y.scalars, ref))")
        #expect(compare(y.scalars, DigitTensor.gelu(x).scalars).maxAbsDiff <= 2e-6)
    }

    @Test("softmax rows match the float64 softmax")
    func softmaxRows() {
        var rng = TestRNG(seed: 7)
        for cols in [1, 16, 261, 1000] {
            var x = rng.tensor([5, cols], -30, 30).scalars
            let ref = (0..<5).flatMap { r -> [Double] in
                let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
                let m = row.max()!, z = row.map { Foundation.exp($0 - m) }.reduce(0, +)
                return row.map { Foundation.exp($0 - m) / z }
            }
            x.withUnsafeMutableBufferPointer { dbk_softmax_rows($0.baseAddress!, 5, Int64(cols), Int64(cols)) }
            // Probabilities <= 1: exp ~2 ulp, the float sum ~1e-7 relative.
            #expect(compare(x, ref).maxAbsDiff <= 3e-7, "cols \(cols): \(compare(x, ref))")
        }
    }

    @Test("layerNormVectorized matches the Double-statistics layerNorm")
    func layerNorm() {
        var rng = TestRNG(seed: 9)
        for d in [768, 1000] {
            let x = rng.tensor([37, d], -4, 6), w = rng.tensor([d], 0.5, 1.5), b = rng.tensor([d], -1, 1)
            let ours = layerNormVectorized(x, weight: w, bias: b, eps: 1e-6)
            let ref = DigitTensor.layerNorm(x, weight: w, bias: b, eps: 1e-6)
            // |values| <= ~4: float32 statistics in 16 lanes are ~1e-7 relative from Double ones.
            #expect(compare(ours.scalars, ref.scalars).maxAbsDiff <= 2e-6, "d \(d): \(compare(ours.scalars, ref.scalars))")
        }
    }

    @Test("packedSelfAttention equals split heads + float64 attention + merged heads",
          arguments: [(3, 37, 4, 64), (1, 261, 1, 64), (2, 20, 3, 32)])
    func packedAttention(_ shape: (Int, Int, Int, Int)) {
        // (3, 37, 4, 64): heads in parallel, fused AVX-512 kernel with row and key tails;
        // (1, 261, 1, 64): one head (DINOv2's token count); (2, 20, 3, 32): the sgemm path (hd ≠ 64).
        let (b, t, nh, hd) = shape
        var rng = TestRNG(seed: 13)
        let d = nh * hd
        let packed = rng.tensor([b, t, 3 * d], -1, 1)
        // reshape(B, T, 3, NH, hd).permute(2, 0, 3, 1, 4)
        let parts = packed.reshaped([b, t, 3, nh, hd]).permuted([2, 0, 3, 1, 4])
        let (q, k, v) = (parts.select(axis: 0, 0), parts.select(axis: 0, 1), parts.select(axis: 0, 2))
        let ref = naiveAttention(q, k, v, causal: false, mask: nil)                   // (B, NH, T, hd)
        let merged = Tensor(shape: [b, nh, t, hd], scalars: ref.map { Float($0) }).permuted([0, 2, 1, 3])  // (B, T, NH, hd)
        let ours = Tensor(shape: [b, t, d], unsafeUninitialized: { out in
            packed.withUnsafeBufferPointer { p in
                packedSelfAttention(qkv: p.baseAddress!, batch: b, tokens: t, heads: nh, headDim: hd,
                                    scale: 1 / Float(hd).squareRoot(), out: out.baseAddress!)
            }
        })
        // Inputs in [-1, 1]: float32 products and softmax, ~1e-6.
        #expect(compare(ours.scalars, merged.scalars).maxAbsDiff <= 2e-6, "\(shape): \(compare(ours.scalars, merged.scalars))")
    }
}
