// Bulge-chasing task of the band -> tridiagonal reduction; see include/band_chase.h for the
// contract. The block a task touches is at most (nb + 1) x nb doubles (17 KB at nb = 32), so the
// work is a handful of short column loops in L1. LAPACK's dsb2st_kernels makes one OpenBLAS
// level-2 call per step (dsymv, dsyr2, dgemv, dger, dnrm2), whose vector accumulates in memory
// column after column; here that vector stays in registers and loop tails are masked. At n = 2048,
// kd = 32 a whole chase takes 0.073 s of CPU instead of 0.138–0.155 s (tools/frechet_profile.c).
#include "band_chase.h"
#include "kernels.h"

#include <float.h>
#include <math.h>

// LAPACK's reflector generator, used only where the plain sum of squares could under- or overflow.
extern void dlarfg_(const int32_t *n, double *alpha, double *x, const int32_t *incx, double *tau);

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// OpenBLAS's thread-pool shutdown (exported by its pthreads and OpenMP builds; weak so that
// another BLAS without it still links, and then parking does nothing). OpenBLAS 0.3.21 starts the
// pool again in openblas_set_num_threads (when the thread count is restored after the
// single-threaded section) or else at the next multi-threaded call.
extern int blas_thread_shutdown_(void) __attribute__((weak));

int dbk_blas_park_threads(void) {
    if (!blas_thread_shutdown_) return 0;
    blas_thread_shutdown_();
    return 1;
}

// MARK: - Portable primitives (plain loops)

#define BC_NAME(x) bc_portable_##x
#define BC_ATTR

static inline double bc_portable_dot(const double *x, const double *y, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i] * y[i];
    return s;
}

static inline void bc_portable_axpy(double a, const double *x, double *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static inline void bc_portable_scal(double a, double *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] *= a;
}

// Column j of the lower triangle adds C[j:, j] v[j] to w[j:] and C[j+1:, j] . v[j+1:] to w[j].
static inline void bc_portable_symv(int64_t n, const double *c, int64_t ldc, const double *v, double *w) {
    for (int64_t i = 0; i < n; i++) w[i] = 0;
    for (int64_t j = 0; j < n; j++) {
        const double *cj = c + j * ldc;
        double t = 0;
        for (int64_t i = j + 1; i < n; i++) {
            w[i] += v[j] * cj[i];
            t += cj[i] * v[i];
        }
        w[j] += cj[j] * v[j] + t;
    }
}

static inline void bc_portable_gemv(int64_t m, int64_t n, const double *c, int64_t ldc, const double *v, double *w) {
    for (int64_t i = 0; i < m; i++) w[i] = 0;
    for (int64_t j = 0; j < n; j++) bc_portable_axpy(v[j], c + j * ldc, w, m);
}

static inline void bc_portable_axpy2(double a, const double *x, double b, const double *y, double *c, int64_t n) {
    for (int64_t i = 0; i < n; i++) c[i] += a * x[i] + b * y[i];
}

#include "band_chase_body.h"
#undef BC_NAME
#undef BC_ATTR

#if defined(__x86_64__)
// MARK: - AVX-512 primitives (8 lanes, masked tails: no scalar remainder loops)

#define BC_NAME(x) bc_avx512_##x
#define BC_ATTR __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma")))

BC_ATTR static inline __mmask8 bc_tail(int64_t r) { return (__mmask8)((1u << r) - 1u); }

BC_ATTR static inline double bc_avx512_dot(const double *x, const double *y, int64_t n) {
    __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm512_fmadd_pd(_mm512_loadu_pd(x + i), _mm512_loadu_pd(y + i), acc0);
        acc1 = _mm512_fmadd_pd(_mm512_loadu_pd(x + i + 8), _mm512_loadu_pd(y + i + 8), acc1);
    }
    if (i + 8 <= n) {
        acc0 = _mm512_fmadd_pd(_mm512_loadu_pd(x + i), _mm512_loadu_pd(y + i), acc0);
        i += 8;
    }
    if (i < n) {
        __mmask8 m = bc_tail(n - i);
        acc1 = _mm512_fmadd_pd(_mm512_maskz_loadu_pd(m, x + i), _mm512_maskz_loadu_pd(m, y + i), acc1);
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
}

BC_ATTR static inline void bc_avx512_axpy(double a, const double *x, double *y, int64_t n) {
    __m512d av = _mm512_set1_pd(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm512_storeu_pd(y + i, _mm512_fmadd_pd(av, _mm512_loadu_pd(x + i), _mm512_loadu_pd(y + i)));
    if (i < n) {
        __mmask8 m = bc_tail(n - i);
        _mm512_mask_storeu_pd(y + i, m, _mm512_fmadd_pd(av, _mm512_maskz_loadu_pd(m, x + i), _mm512_maskz_loadu_pd(m, y + i)));
    }
}

BC_ATTR static inline void bc_avx512_scal(double a, double *x, int64_t n) {
    __m512d av = _mm512_set1_pd(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm512_storeu_pd(x + i, _mm512_mul_pd(av, _mm512_loadu_pd(x + i)));
    if (i < n) {
        __mmask8 m = bc_tail(n - i);
        _mm512_mask_storeu_pd(x + i, m, _mm512_mul_pd(av, _mm512_maskz_loadu_pd(m, x + i)));
    }
}

BC_ATTR static inline void bc_avx512_axpy2(double a, const double *x, double b, const double *y, double *c, int64_t n) {
    __m512d av = _mm512_set1_pd(a), bv = _mm512_set1_pd(b);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m512d t = _mm512_fmadd_pd(bv, _mm512_loadu_pd(y + i), _mm512_loadu_pd(c + i));
        _mm512_storeu_pd(c + i, _mm512_fmadd_pd(av, _mm512_loadu_pd(x + i), t));
    }
    if (i < n) {
        __mmask8 m = bc_tail(n - i);
        __m512d t = _mm512_fmadd_pd(bv, _mm512_maskz_loadu_pd(m, y + i), _mm512_maskz_loadu_pd(m, c + i));
        _mm512_mask_storeu_pd(c + i, m, _mm512_fmadd_pd(av, _mm512_maskz_loadu_pd(m, x + i), t));
    }
}

// Row mask of rows 0 ..< n (n <= 64) and its 8-row chunk q.
#define BC_ROWS(n) ((n) >= 64 ? ~0ull : (1ull << (n)) - 1)
#define BC_CHUNK(mask, q) ((__mmask8)((mask) >> (8 * (q))))

// w = C v for symmetric C (lower triangle). Up to 64 rows, w lives in eight registers (rows
// 8q…8q+7 in w_q) and each column is loaded once under a row mask; accumulating w in memory
// instead makes every column's load of w wait on the previous column's (overlapping, misaligned)
// store.
BC_ATTR static inline void bc_avx512_symv(int64_t n, const double *c, int64_t ldc, const double *v, double *w) {
    if (n > 64) {
        bc_portable_symv(n, c, ldc, v, w);
        return;
    }
    const uint64_t rows = BC_ROWS(n);
    __m512d v0 = _mm512_maskz_loadu_pd(BC_CHUNK(rows, 0), v), v1 = _mm512_maskz_loadu_pd(BC_CHUNK(rows, 1), v + 8);
    __m512d v2 = _mm512_maskz_loadu_pd(BC_CHUNK(rows, 2), v + 16), v3 = _mm512_maskz_loadu_pd(BC_CHUNK(rows, 3), v + 24);
    __m512d v4 = _mm512_maskz_loadu_pd(BC_CHUNK(rows, 4), v + 32), v5 = _mm512_maskz_loadu_pd(BC_CHUNK(rows, 5), v + 40);
    __m512d v6 = _mm512_maskz_loadu_pd(BC_CHUNK(rows, 6), v + 48), v7 = _mm512_maskz_loadu_pd(BC_CHUNK(rows, 7), v + 56);
    __m512d w0 = _mm512_setzero_pd(), w1 = w0, w2 = w0, w3 = w0, w4 = w0, w5 = w0, w6 = w0, w7 = w0;
    double diag[64];
    for (int64_t j = 0; j < n; j++) {
        const double *cj = c + j * ldc;
        const uint64_t below = rows & ~(j >= 63 ? ~0ull : (2ull << j) - 1);  // rows j+1 ..< n
        const __m512d vj = _mm512_set1_pd(v[j]);
        __m512d acc = _mm512_setzero_pd();
#define BC_SYMV_CHUNK(q)                                                       \
        if (BC_CHUNK(below, q)) {                                              \
            __m512d cc = _mm512_maskz_loadu_pd(BC_CHUNK(below, q), cj + 8 * q); \
            w##q = _mm512_fmadd_pd(vj, cc, w##q);                              \
            acc = _mm512_fmadd_pd(cc, v##q, acc);                              \
        }
        BC_SYMV_CHUNK(0)
        BC_SYMV_CHUNK(1)
        BC_SYMV_CHUNK(2)
        BC_SYMV_CHUNK(3)
        BC_SYMV_CHUNK(4)
        BC_SYMV_CHUNK(5)
        BC_SYMV_CHUNK(6)
        BC_SYMV_CHUNK(7)
#undef BC_SYMV_CHUNK
        diag[j] = cj[j] * v[j] + _mm512_reduce_add_pd(acc);
    }
    double full[64];
    _mm512_storeu_pd(full, w0);
    _mm512_storeu_pd(full + 8, w1);
    _mm512_storeu_pd(full + 16, w2);
    _mm512_storeu_pd(full + 24, w3);
    _mm512_storeu_pd(full + 32, w4);
    _mm512_storeu_pd(full + 40, w5);
    _mm512_storeu_pd(full + 48, w6);
    _mm512_storeu_pd(full + 56, w7);
    for (int64_t i = 0; i < n; i++) w[i] = full[i] + diag[i];
}

// w = C v for the m x n block C; up to 64 rows, w accumulates in eight registers.
BC_ATTR static inline void bc_avx512_gemv(int64_t m, int64_t n, const double *c, int64_t ldc, const double *v, double *w) {
    if (m > 64) {
        bc_portable_gemv(m, n, c, ldc, v, w);
        return;
    }
    const uint64_t rows = BC_ROWS(m);
    __m512d w0 = _mm512_setzero_pd(), w1 = w0, w2 = w0, w3 = w0, w4 = w0, w5 = w0, w6 = w0, w7 = w0;
    for (int64_t j = 0; j < n; j++) {
        const double *cj = c + j * ldc;
        const __m512d vj = _mm512_set1_pd(v[j]);
#define BC_GEMV_CHUNK(q) \
        if (BC_CHUNK(rows, q)) w##q = _mm512_fmadd_pd(vj, _mm512_maskz_loadu_pd(BC_CHUNK(rows, q), cj + 8 * q), w##q);
        BC_GEMV_CHUNK(0)
        BC_GEMV_CHUNK(1)
        BC_GEMV_CHUNK(2)
        BC_GEMV_CHUNK(3)
        BC_GEMV_CHUNK(4)
        BC_GEMV_CHUNK(5)
        BC_GEMV_CHUNK(6)
        BC_GEMV_CHUNK(7)
#undef BC_GEMV_CHUNK
    }
    _mm512_mask_storeu_pd(w, BC_CHUNK(rows, 0), w0);
    _mm512_mask_storeu_pd(w + 8, BC_CHUNK(rows, 1), w1);
    _mm512_mask_storeu_pd(w + 16, BC_CHUNK(rows, 2), w2);
    _mm512_mask_storeu_pd(w + 24, BC_CHUNK(rows, 3), w3);
    _mm512_mask_storeu_pd(w + 32, BC_CHUNK(rows, 4), w4);
    _mm512_mask_storeu_pd(w + 40, BC_CHUNK(rows, 5), w5);
    _mm512_mask_storeu_pd(w + 48, BC_CHUNK(rows, 6), w6);
    _mm512_mask_storeu_pd(w + 56, BC_CHUNK(rows, 7), w7);
}

#include "band_chase_body.h"
#undef BC_NAME
#undef BC_ATTR
#endif

void dbk_sb2st_task_portable(int32_t ttype, int64_t st, int64_t ed, int64_t sweep, int64_t n, int64_t nb,
                             double *a, int64_t lda, double *v, double *tau, double *work) {
    bc_portable_task(ttype, st, ed, sweep, n, nb, a, lda, v, tau, work);
}

#if defined(__x86_64__)

// The same CPU check as the other CKernels paths (kernels.c).
int dbk_sb2st_isa(void) { return dbk_linear_rowinv_isa(); }

void dbk_sb2st_task(int32_t ttype, int64_t st, int64_t ed, int64_t sweep, int64_t n, int64_t nb,
                    double *a, int64_t lda, double *v, double *tau, double *work) {
    if (dbk_sb2st_isa()) {
        bc_avx512_task(ttype, st, ed, sweep, n, nb, a, lda, v, tau, work);
    } else {
        bc_portable_task(ttype, st, ed, sweep, n, nb, a, lda, v, tau, work);
    }
}
#else
int dbk_sb2st_isa(void) { return 0; }

void dbk_sb2st_task(int32_t ttype, int64_t st, int64_t ed, int64_t sweep, int64_t n, int64_t nb,
                    double *a, int64_t lda, double *v, double *tau, double *work) {
    bc_portable_task(ttype, st, ed, sweep, n, nb, a, lda, v, tau, work);
}
#endif
