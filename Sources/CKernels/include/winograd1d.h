#pragma once
// Transforms of the 1-D Winograd convolution (Sources/DigitTensor/Winograd1D.swift): a small
// matrix applied to rows of floats, tile by tile. AVX2 + FMA when the CPU has it (chosen at run
// time), else a portable loop with the same fused multiply-adds in the same order (same bits).

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// For every tile t < tiles and row r < rows:
///   dst[t·dst_tile + r·dst_row + i] = Σ_{k < cols} mat[r·cols + k] · src[t·src_tile + k·src_row + i],  i < n,
/// fused multiply-adds in increasing k from +0 (zero coefficients included: the sum is the same).
/// cols ≤ 16. dst must not overlap src.
void dbk_w1d_apply(const float *mat, int64_t rows, int64_t cols,
                   const float *src, int64_t src_row, int64_t src_tile,
                   float *dst, int64_t dst_row, int64_t dst_tile, int64_t tiles, int64_t n);

/// The portable path of dbk_w1d_apply whatever the CPU (for tests).
void dbk_w1d_apply_portable(const float *mat, int64_t rows, int64_t cols,
                            const float *src, int64_t src_row, int64_t src_tile,
                            float *dst, int64_t dst_row, int64_t dst_tile, int64_t tiles, int64_t n);

/// 1 when the AVX2 + FMA path is in use.
int dbk_w1d_isa(void);

#ifdef __cplusplus
}
#endif
