import DigitTensor
import Testing
import _DigitTestSupport

@Suite("data movement")
struct ShapeTests {
    @Test("permuted matches index arithmetic", arguments: [[0, 2, 3, 1], [3, 2, 1, 0], [1, 0, 2, 3], [0, 1, 2, 3], [2, 0, 3, 1]])
    func permute(dims: [Int]) {
        let shape = [2, 3, 4, 5]
        var rng = TestRNG(seed: 5)
        let x = rng.tensor(shape)
        let y = x.permuted(dims)
        #expect(y.shape == dims.map { shape[$0] })
        var ref: [Float] = []
        let os = y.shape
        for flat in 0..<x.count {
            var idx = [Int](repeating: 0, count: 4), r = flat
            for i in stride(from: 3, through: 0, by: -1) { idx[i] = r % os[i]; r /= os[i] }
            var src = [Int](repeating: 0, count: 4)
            for i in 0..<4 { src[dims[i]] = idx[i] }
            ref.append(x.scalars[((src[0] * 3 + src[1]) * 4 + src[2]) * 5 + src[3]])
        }
        #expect(y.scalars == ref)
        #expect(x.transposed(1, 2) == x.permuted([0, 2, 1, 3]))
    }

    @Test("concat and slice are inverse")
    func concatSlice() {
        var rng = TestRNG(seed: 6)
        let a = rng.tensor([2, 3, 4]), b = rng.tensor([2, 5, 4]), c = rng.tensor([2, 1, 4])
        let y = concat([a, b, c], axis: 1)
        #expect(y.shape == [2, 9, 4])
        #expect(y.slice(axis: 1, 0..<3) == a)
        #expect(y.slice(axis: 1, 3..<8) == b)
        #expect(y.slice(axis: -2, 8..<9) == c)
        #expect(y.scalars[(1 * 9 + 4) * 4 + 2] == b.scalars[(1 * 5 + 1) * 4 + 2])
        let z = concat([a, a], axis: 0)
        #expect(z.shape == [4, 3, 4] && Array(z.scalars[24...]) == a.scalars)
        #expect(y.select(axis: 0, 1).shape == [9, 4])
    }

    @Test("embedding gathers rows")
    func gather() {
        let table = Tensor(shape: [4, 2], scalars: [0, 1, 10, 11, 20, 21, 30, 31])
        let e = embedding(table, indices: [3, 0, 3, 2], shape: [2, 2])
        #expect(e.shape == [2, 2, 2])
        #expect(e.scalars == [30, 31, 0, 1, 30, 31, 20, 21])
    }

    @Test("pixelShuffle and depthToSpace (DCR) follow their index formulas; unshuffles invert them")
    func shuffles() {
        var rng = TestRNG(seed: 8)
        let (n, c, h, w, r) = (2, 3, 4, 5, 2)
        let x = rng.tensor([n, c * r * r, h, w])
        let ps = pixelShuffle(x, upscale: r), ds = depthToSpace(x, block: r)
        #expect(ps.shape == [n, c, h * r, w * r] && ds.shape == ps.shape)
        for ni in 0..<n {
            for ch in 0..<c {
                for yy in 0..<h {
                    for xx in 0..<w {
                        for i in 0..<r {
                            for j in 0..<r {
                                let out = ((ni * c + ch) * h * r + yy * r + i) * w * r + xx * r + j
                                let inPS = ((ni * c * r * r + ch * r * r + i * r + j) * h + yy) * w + xx
                                let inDS = ((ni * c * r * r + (2 * i + j) * c + ch) * h + yy) * w + xx
                                #expect(ps.scalars[out] == x.scalars[inPS])
                                #expect(ds.scalars[out] == x.scalars[inDS])
                            }
                        }
                    }
                }
            }
        }
        #expect(pixelUnshuffle(ps, downscale: r) == x)
        #expect(spaceToDepth(ds, block: r) == x)
    }
}
