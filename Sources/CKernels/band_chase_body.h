// The body of band_chase.c's task, written once against six vector primitives and included once
// per instruction set. The includer defines BC_NAME(x) (suffixes the names), BC_ATTR (the target
// attribute, possibly empty) and the primitives, all `static inline`:
//   BC_NAME(dot)(x, y, n)           -> sum x[i] y[i]
//   BC_NAME(axpy)(a, x, y, n)       :  y += a x
//   BC_NAME(scal)(a, x, n)          :  x *= a
//   BC_NAME(axpy2)(a, x, b, y, c, n):  c += a x + b y
//   BC_NAME(symv)(n, c, ldc, v, w)  :  w = C v, C symmetric n x n given by its lower triangle
//   BC_NAME(gemv)(m, n, c, ldc, v, w):  w = C v, C m x n
// (No include guard: included twice on purpose.)

// LAPACK dlarfg: H (alpha; x) = (beta; 0) with H = I - tau (1; v)(1; v)^T; on return *alpha = beta,
// x = v. The common case takes the norm as sqrt of the plain sum of squares; where that sum could
// have lost range (tiny or huge entries) or beta is below LAPACK's safe minimum, LAPACK's own
// dlarfg (with its rescaling) runs instead.
BC_ATTR static inline void BC_NAME(larfg)(int64_t n, double *alpha, double *x, double *tau) {
    if (n <= 1) {
        *tau = 0;
        return;
    }
    const double safe = DBL_MIN / DBL_EPSILON;
    // ss == 0 may be underflow of a nonzero x: that case goes to LAPACK too (which returns tau = 0
    // for an exactly zero x).
    double ss = BC_NAME(dot)(x, x, n - 1);
    double beta = 0;
    int plain = isfinite(ss) && ss >= safe && isfinite(*alpha);
    if (plain) {
        beta = -copysign(hypot(*alpha, sqrt(ss)), *alpha);
        plain = fabs(beta) >= safe;
    }
    if (!plain) {
        int32_t nn = (int32_t)n, one = 1;
        dlarfg_(&nn, alpha, x, &one, tau);
        return;
    }
    *tau = (beta - *alpha) / beta;
    BC_NAME(scal)(1.0 / (*alpha - beta), x, n - 1);
    *alpha = beta;
}

// LAPACK dlarfy, lower: C = H C H for the symmetric n x n block C (lower triangle, leading
// dimension ldc), H = I - tau v v^T: w = C v, w += (-tau/2 (w.v)) v, C -= tau (v w^T + w v^T).
BC_ATTR static inline void BC_NAME(larfy)(int64_t n, const double *v, double tau, double *c, int64_t ldc, double *w) {
    if (tau == 0) return;
    BC_NAME(symv)(n, c, ldc, v, w);
    BC_NAME(axpy)(-0.5 * tau * BC_NAME(dot)(w, v, n), v, w, n);
    for (int64_t j = 0; j < n; j++) BC_NAME(axpy2)(-tau * w[j], v + j, -tau * v[j], w + j, c + j * ldc + j, n - j);
}

// LAPACK dlarfx 'Right': C = C H for the m x n block C, v of length n: w = C v, C -= tau w v^T.
BC_ATTR static inline void BC_NAME(larfx_right)(int64_t m, int64_t n, const double *v, double tau, double *c, int64_t ldc, double *w) {
    if (tau == 0) return;
    BC_NAME(gemv)(m, n, c, ldc, v, w);
    for (int64_t j = 0; j < n; j++) BC_NAME(axpy)(-tau * v[j], w, c + j * ldc, m);
}

// LAPACK dlarfx 'Left': C = H C for the m x n block C, v of length m: column by column,
// c_j -= tau (c_j . v) v.
BC_ATTR static inline void BC_NAME(larfx_left)(int64_t m, int64_t n, const double *v, double tau, double *c, int64_t ldc) {
    if (tau == 0) return;
    for (int64_t j = 0; j < n; j++) {
        double *cj = c + j * ldc;
        BC_NAME(axpy)(-tau * BC_NAME(dot)(cj, v, m), v, cj, m);
    }
}

// dsb2st_kernels, uplo = 'L', wantz = false, with its 1-based band indexing A(r, c).
BC_ATTR static void BC_NAME(task)(int32_t ttype, int64_t st, int64_t ed, int64_t sweep, int64_t n, int64_t nb,
                                  double *a, int64_t lda, double *v, double *tau, double *work) {
#define BC_A(r, c) a[((r) - 1) + ((c) - 1) * lda]
    const int64_t ld = lda - 1;  // the band seen as a dense matrix: (i, j) at i + j (lda - 1)
    const int64_t slot = ((sweep - 1) % 2) * n;
    const int64_t vpos = slot + st - 1;
    if (ttype == 1) {
        // Annihilate column st - 1 below its subdiagonal.
        const int64_t lm = ed - st + 1;
        v[vpos] = 1;
        for (int64_t i = 1; i < lm; i++) {
            v[vpos + i] = BC_A(2 + i, st - 1);
            BC_A(2 + i, st - 1) = 0;
        }
        BC_NAME(larfg)(lm, &BC_A(2, st - 1), v + vpos + 1, tau + vpos);
    }
    if (ttype == 1 || ttype == 3) {
        // Two-sided update of the diagonal block st...ed.
        BC_NAME(larfy)(ed - st + 1, v + vpos, tau[vpos], &BC_A(1, st), ld, work);
        return;
    }
    // ttype 2: the previous reflector from the right on the block below, a new reflector from its
    // first column, applied from the left to the rest of the block.
    const int64_t j1 = ed + 1, j2 = ed + nb < n ? ed + nb : n, ln = ed - st + 1, lm = j2 - j1 + 1;
    if (lm <= 0) return;
    BC_NAME(larfx_right)(lm, ln, v + vpos, tau[vpos], &BC_A(1 + nb, st), ld, work);
    const int64_t vpos2 = slot + j1 - 1;
    v[vpos2] = 1;
    for (int64_t i = 1; i < lm; i++) {
        v[vpos2 + i] = BC_A(1 + nb + i, st);
        BC_A(1 + nb + i, st) = 0;
    }
    BC_NAME(larfg)(lm, &BC_A(1 + nb, st), v + vpos2 + 1, tau + vpos2);
    BC_NAME(larfx_left)(lm, ln - 1, v + vpos2, tau[vpos2], &BC_A(nb, st + 1), ld);
#undef BC_A
}
