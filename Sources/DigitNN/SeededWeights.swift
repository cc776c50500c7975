/// Deterministic parameter values regenerated from a state-dict key alone.
///
/// Implements `shared/spec/seeded-weights.md`: FNV-1a-64 of the key seeds a SplitMix64-style
/// counter stream; each value is `lo + (hi - lo) * u` in Double, rounded once to Float32, with
/// `[lo, hi)` chosen from the key's suffix and the tensor's rank. Both digit-bench and the
/// fixture generators use it, so a port run on seeded weights can be compared with upstream.
public enum SeededWeights {
    /// FNV-1a, 64-bit, over the UTF-8 bytes of `key`.
    @inlinable
    public static func fnv1a64(_ key: String) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in key.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01B3
        }
        return h
    }

    /// The `[lo, hi)` range the spec assigns to `key` with `shape`.
    public static func range(key: String, shape: [Int]) -> (lo: Double, hi: Double) {
        if key.hasSuffix("running_var") { return (0.5, 1.5) }
        if key.hasSuffix("running_mean") { return (-0.1, 0.1) }
        if key.hasSuffix("bias") { return (-0.05, 0.05) }
        if shape.count <= 1 { return (0.9, 1.1) }
        let n = shape.reduce(1, *)
        let fanIn = Double(n / shape[0])
        let a = (6.0 / fanIn).squareRoot()
        return (-a, a)
    }

    /// All values of the tensor `key` with `shape`, row-major.
    public static func values(key: String, shape: [Int]) -> [Float] {
        let n = shape.reduce(1, *)
        let seed = fnv1a64(key)
        let (lo, hi) = range(key: key, shape: shape)
        let span = hi - lo
        return [Float](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n {
                var z = seed &+ UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z = z ^ (z >> 31)
                let u = Double(z >> 11) * 0x1p-53
                buf[i] = Float(lo + span * u)
            }
            count = n
        }
    }
}
