#pragma once
// One bulge-chasing task of the band -> tridiagonal reduction (the second stage of a two-stage
// symmetric tridiagonalisation), lower band storage, no eigenvectors. No model semantics live here.

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Task `ttype` (1, 2 or 3) of sweep `sweep` on rows/columns st...ed (1-based) of the symmetric
/// band matrix of order n and half-width nb, in the layout and with the reflector slots of LAPACK's
/// `dsb2st_kernels` for uplo = 'L', wantz = false: `a` is the band with leading dimension `lda`
/// (= 2 nb + 1; element (i, j), i >= j, 1-based, at a[(i - j) + (j - 1) lda]), `v` and `tau` hold
/// 2 n entries (one n-slot per sweep parity), `work` at least nb + 1 doubles.
///
/// The same Householder algebra as the LAPACK kernel (dlarfg, then dlarfy for the two-sided update
/// of a diagonal block, or dlarfx from the right, a new dlarfg, dlarfx from the left), written as
/// straight loops over the block (at most (nb + 1) x nb, in L1) instead of one OpenBLAS level-2
/// call per step. Vectorised for AVX-512 when the CPU has it; the portable path has the same loops
/// (the two may differ in the last bits: the vector path sums in lanes and fuses multiply-adds).
/// So results agree with LAPACK's kernel to rounding, not bit for bit.
void dbk_sb2st_task(int32_t ttype, int64_t st, int64_t ed, int64_t sweep, int64_t n, int64_t nb,
                    double *a, int64_t lda, double *v, double *tau, double *work);

/// The portable path of dbk_sb2st_task whatever the CPU (for tests).
void dbk_sb2st_task_portable(int32_t ttype, int64_t st, int64_t ed, int64_t sweep, int64_t n, int64_t nb,
                             double *a, int64_t lda, double *v, double *tau, double *work);

/// Stops OpenBLAS's worker threads (pthreads/OpenMP builds: `blas_thread_shutdown_`), which after a
/// multi-threaded call keep polling for work (sched_yield) for about 2^28 cycles (~0.1 s) and so
/// compete with threads of our own started right after. OpenBLAS restarts the pool by itself: in
/// openblas_set_num_threads (0.3.21, when the caller restores the thread count) or at its next
/// multi-threaded call. Returns 1, or 0 when the BLAS has no such function (nothing done).
/// Only call it while no other thread can be inside a multi-threaded OpenBLAS call.
int dbk_blas_park_threads(void);

/// 1 when dbk_sb2st_task uses the AVX-512 path, 0 for the portable one.
int dbk_sb2st_isa(void);

#ifdef __cplusplus
}
#endif
