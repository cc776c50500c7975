import CKernels
import COpenBLAS

/// The only callers of CBLAS in digit-bench. Row-major throughout.
public enum Gemm {
    /// `C = alpha * op(A) * op(B) + beta * C` in float32 (reference: `cblas_sgemm`, row-major).
    ///
    /// - Parameters:
    ///   - transA: use Aᵀ; A is stored as (k, m) with leading dimension `lda` when true, else (m, k).
    ///   - transB: use Bᵀ; B is stored as (n, k) when true, else (k, n).
    @inlinable
    public static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        Threads.blasCall {
            cblas_sgemm(
                CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
    }

    /// `y = alpha * op(A) x + beta * y` in float32 (reference: `cblas_sgemv`, row-major); A is
    /// (m, n) with leading dimension `lda`, `op(A) = Aᵀ` when `transA`. For one-row products
    /// (`linear` of a single token) this streams the weight once, where OpenBLAS 0.3.21's sgemm
    /// with m = 1 packs it first and runs about 3× slower.
    @inlinable
    public static func sgemv(
        transA: Bool = false, m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        Threads.blasCall {
            cblas_sgemv(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
        }
    }

    /// `y[i, j] = Σ_k x[i, k] · w[j, k] (+ bias[j])` for `i < m`, `j < n` (torch Linear layout, `w`
    /// row-major (n, k)), row-invariant: every output is summed in one fixed order that depends only
    /// on `k` (16 fused-multiply-add lanes over k, then a fixed tree; see CKernels/kernels.h), so a
    /// row's result is bit-identical whatever `m`, the other rows or the thread count. Streams each
    /// weight row once for all `m` rows (memory-bound at small m, no packing); the outputs are split
    /// over ``Threads/count`` threads. Not BLAS: may run anywhere, including `parallelFor` bodies
    /// (it then runs on the calling thread).
    public static func linearRowInvariant(
        m: Int, n: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, w: UnsafePointer<Float>, ldw: Int,
        bias: UnsafePointer<Float>? = nil, y: UnsafeMutablePointer<Float>, ldy: Int
    ) {
        if m <= 0 || n <= 0 { return }
        // Split the outputs in multiples of 8 rows of w; below ~64 kFLOP one thread is faster.
        let chunks = Threads.inSingleThreadedSection || m * n * k < 1 << 16 ? 1 : min(Threads.count, max(1, n / 64))
        if chunks == 1 {
            dbk_linear_rowinv(x, Int64(ldx), w, Int64(ldw), bias, y, Int64(ldy), Int64(m), Int64(k), 0, Int64(n))
            return
        }
        let blocks = (n + 7) / 8
        parallelFor(chunks) { c in
            let j0 = min(n, blocks * c / chunks * 8), j1 = min(n, blocks * (c + 1) / chunks * 8)
            dbk_linear_rowinv(x, Int64(ldx), w, Int64(ldw), bias, y, Int64(ldy), Int64(m), Int64(k), Int64(j0), Int64(j1))
        }
    }

    /// Whether ``linearRowInvariant`` runs its AVX-512 path (else the portable one, same bits).
    public static var rowInvariantUsesAVX512: Bool { dbk_linear_rowinv_isa() != 0 }

    /// `C = alpha * op(A) * op(B) + beta * C` in float64 (reference: `cblas_dgemm`, row-major).
    @inlinable
    public static func dgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Double = 1, a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        Threads.blasCall {
            cblas_dgemm(
                CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        }
    }

    /// Upper triangle of `C = alpha * Aᵀ A + beta * C` for A stored (k, n) row-major, float64
    /// (reference: `cblas_dsyrk`). Used to accumulate sums of outer products of feature rows.
    @inlinable
    public static func dsyrkUpperAtA(
        n: Int, k: Int, alpha: Double = 1, a: UnsafePointer<Double>, lda: Int, beta: Double = 1,
        c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        Threads.blasCall {
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(k), alpha, a, Int32(lda), beta, c, Int32(ldc))
        }
    }
}

/// Matrix product of the last two dimensions, `(…, m, k) x (k, n) -> (…, m, n)`
/// (reference: `torch.matmul` with a 2-D right operand).
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    precondition(a.rank >= 2 && b.rank == 2 && a.dim(-1) == b.dim(0), "matmul shapes \(a.shape) x \(b.shape)")
    let k = a.dim(-1), n = b.dim(1), m = a.count / k
    var out = Tensor(zeros: Array(a.shape.dropLast()) + [n])
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            out.withUnsafeMutableBufferPointer { pc in
                Gemm.sgemm(m: m, n: n, k: k, a: pa.baseAddress!, lda: k, b: pb.baseAddress!, ldb: n,
                           c: pc.baseAddress!, ldc: n)
            }
        }
    }
    return out
}

/// `x Wᵀ + b` over the last dimension (reference: `torch.nn.functional.linear`).
///
/// - Parameters:
///   - x: (…, in)
///   - weight: (out, in), as stored by `nn.Linear`
///   - bias: (out) or nil
/// - Returns: (…, out)
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    linear(x, weight: weight, bias: bias, rowInvariant: false)
}

/// ``linear(_:weight:bias:)`` with ``Gemm/linearRowInvariant(m:n:k:x:ldx:w:ldw:bias:y:ldy:)`` when
/// `rowInvariant`: each row's result is then bit-identical whatever the other rows (the batch).
/// Autoregressive decoding uses it so that samples do not depend on the batch they share.
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, rowInvariant: Bool) -> Tensor {
    precondition(weight.rank == 2 && x.dim(-1) == weight.dim(1), "linear: x \(x.shape), weight \(weight.shape)")
    let k = weight.dim(1), n = weight.dim(0), m = x.count / max(k, 1)
    if rowInvariant {
        precondition(bias.map { $0.count == n } ?? true, "linear: bias for \(n) outputs")
        return Tensor(shape: Array(x.shape.dropLast()) + [n], unsafeUninitialized: { pc in
            guard let y = pc.baseAddress else { return }
            x.withUnsafeBufferPointer { px in
                weight.withUnsafeBufferPointer { pw in
                    func run(_ pb: UnsafePointer<Float>?) {
                        Gemm.linearRowInvariant(m: m, n: n, k: k, x: px.baseAddress!, ldx: k, w: pw.baseAddress!, ldw: k,
                                                bias: pb, y: y, ldy: n)
                    }
                    if let bias { bias.withUnsafeBufferPointer { run($0.baseAddress) } } else { run(nil) }
                }
            }
        })
    }
    precondition(bias.map { $0.count == n } ?? true, "linear: bias for \(n) outputs")
    if m == 0 || n == 0 || k == 0 {
        return bias.map { b in Tensor(zeros: Array(x.shape.dropLast()) + [n]) + b } ?? Tensor(zeros: Array(x.shape.dropLast()) + [n])
    }
    // C starts as the bias rows (beta 1) or is overwritten (beta 0: OpenBLAS stores zeros first), so
    // the output needs no zero fill.
    return Tensor(shape: Array(x.shape.dropLast()) + [n], unsafeUninitialized: { pc in
        let c = pc.baseAddress!
        if let bias {
            bias.withUnsafeBufferPointer { pb in
                for r in 0..<m { (c + r * n).initialize(from: pb.baseAddress!, count: n) }
            }
        }
        x.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                Gemm.sgemm(transB: true, m: m, n: n, k: k, a: px.baseAddress!, lda: k, b: pw.baseAddress!, ldb: k,
                           beta: bias == nil ? 0 : 1, c: c, ldc: n)
            }
        }
    })
}
