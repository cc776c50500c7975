/// NumPy's legacy `np.random.RandomState`, bit for bit, for the parts metrics use: MT19937
/// seeded by an integer, `permutation(n)` and `choice(n, size, replace=False)`.
///
/// Port of numpy/random/_mt19937.pyx (`_legacy_seeding`: `mt19937_seed`), numpy/random/src/
/// mt19937/mt19937.c (genrand), numpy/random/src/distributions/distributions.c
/// (`random_interval`) and numpy/random/mtrand.pyx (`RandomState.shuffle` → `_shuffle_raw`,
/// `permutation`, `choice` without replacement = `permutation(n)[:size]`). Verified against the
/// permutations stored in shared/fixtures/metrics (`isc_*_permutation_seed2020.npy`) and the KID
/// subset indices.
public struct NumpyRandomState: Sendable {
    private var mt = [UInt32](repeating: 0, count: 624)
    private var pos = 624

    /// `np.random.RandomState(seed)` (also what `np.random.seed(seed)` does to the global state).
    public init(seed: UInt32) {
        mt[0] = seed
        for i in 1..<624 {
            mt[i] = 1_812_433_253 &* (mt[i - 1] ^ (mt[i - 1] >> 30)) &+ UInt32(i)
        }
        pos = 624
    }

    private mutating func generate() {
        let upper: UInt32 = 0x8000_0000, lower: UInt32 = 0x7FFF_FFFF, matrixA: UInt32 = 0x9908_B0DF
        for i in 0..<624 {
            let y = (mt[i] & upper) | (mt[(i + 1) % 624] & lower)
            mt[i] = mt[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1) != 0 ? matrixA : 0)
        }
        pos = 0
    }

    /// The next 32-bit output (`genrand_int32`, tempered).
    public mutating func nextUInt32() -> UInt32 {
        if pos == 624 { generate() }
        var y = mt[pos]
        pos += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    /// The next 64-bit output as numpy's MT19937 bit generator forms it (two 32-bit draws, high first).
    public mutating func nextUInt64() -> UInt64 {
        let hi = UInt64(nextUInt32())
        return hi << 32 | UInt64(nextUInt32())
    }

    /// A uniform integer in `0...max` by masked rejection (numpy's legacy `random_interval`).
    public mutating func interval(_ max: UInt64) -> UInt64 {
        if max == 0 { return 0 }
        var mask = max
        mask |= mask >> 1; mask |= mask >> 2; mask |= mask >> 4
        mask |= mask >> 8; mask |= mask >> 16; mask |= mask >> 32
        if max <= 0xFFFF_FFFF {
            while true {
                let v = UInt64(nextUInt32()) & mask
                if v <= max { return v }
            }
        }
        while true {
            let v = nextUInt64() & mask
            if v <= max { return v }
        }
    }

    /// Shuffles in place as `RandomState.shuffle` does for a 1-D array (Fisher–Yates from the end).
    public mutating func shuffle<T>(_ a: inout [T]) {
        var i = a.count - 1
        while i >= 1 {
            let j = Int(interval(UInt64(i)))
            a.swapAt(i, j)
            i -= 1
        }
    }

    /// `RandomState.permutation(n)`.
    public mutating func permutation(_ n: Int) -> [Int] {
        var a = Array(0..<n)
        shuffle(&a)
        return a
    }

    /// `RandomState.choice(n, size, replace=False)` (legacy: the first `size` of `permutation(n)`).
    public mutating func choiceWithoutReplacement(_ n: Int, size: Int) -> [Int] {
        precondition(size <= n, "choice: size \(size) > population \(n)")
        return Array(permutation(n).prefix(size))
    }
}
