#pragma once
// Compute kernels for DigitTensor that need instruction-set control Swift does not give
// (AVX-512 selected at run time). No model semantics live here.

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// y[i, j] = sum_k x[i, k] * w[j, k] (+ bias[j]) for rows i in [0, m) and outputs j in [j0, j1):
/// torch Linear layout, W row-major (N, K) with leading dimension ldw.
///
/// Row-invariant: every y[i, j] is computed in one fixed order that depends only on K — 16 lane
/// accumulators, lane l taking k = l, l + 16, … in increasing k by fused multiply-add from +0,
/// missing lanes of the last block treated as 0 * 0, then the tree ((l, l+8), then +4, +2, +1),
/// then + bias[j]. So a row's result never depends on m, on the other rows, on [j0, j1) or on the
/// instruction set (the AVX-512 path and the portable fallback give identical bits).
void dbk_linear_rowinv(const float *x, int64_t ldx, const float *w, int64_t ldw, const float *bias,
                       float *y, int64_t ldy, int64_t m, int64_t k, int64_t j0, int64_t j1);

/// The portable path of dbk_linear_rowinv whatever the CPU (for tests: it must give the same bits).
void dbk_linear_rowinv_portable(const float *x, int64_t ldx, const float *w, int64_t ldw, const float *bias,
                                float *y, int64_t ldy, int64_t m, int64_t k, int64_t j0, int64_t j1);

/// 1 when the AVX-512 path is in use, 0 for the portable fallback.
int dbk_linear_rowinv_isa(void);

#ifdef __cplusplus
}
#endif
