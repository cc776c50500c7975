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
    precondition(weight.rank == 2 && x.dim(-1) == weight.dim(1), "linear: x \(x.shape), weight \(weight.shape)")
    let k = weight.dim(1), n = weight.dim(0), m = x.count / max(k, 1)
    var out = Tensor(zeros: Array(x.shape.dropLast()) + [n])
    out.withUnsafeMutableBufferPointer { pc in
        if let bias {
            precondition(bias.count == n, "linear: bias \(bias.shape) for \(n) outputs")
            bias.withUnsafeBufferPointer { pb in
                for r in 0..<m { (pc.baseAddress! + r * n).update(from: pb.baseAddress!, count: n) }
            }
        }
        x.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                Gemm.sgemm(transB: true, m: m, n: n, k: k, a: px.baseAddress!, lda: k, b: pw.baseAddress!, ldb: k,
                           beta: bias == nil ? 0 : 1, c: pc.baseAddress!, ldc: n)
            }
        }
    }
    return out
}
