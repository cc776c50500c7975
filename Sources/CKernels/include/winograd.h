#pragma once
// Winograd F(m×m, 3×3) input and output transforms (m = 2 or 4, α = m + 2) on the layouts of
// Sources/DigitTensor/Winograd.swift, with AVX-512 and AVX2+FMA paths chosen at run time. The
// Swift transforms stay the portable fallback (these functions return 0 when they have no path).
//
// Same formulas, same order of float operations as Winograd.swift's `inputTransform` /
// `outputTransform` (no contraction into fused multiply-adds), with the same padding zeros: the
// results are bit-identical to the Swift path on every path (tested).
//
// Tile rows: row g of a task is tile row g % tilesH of image g / tilesH; a task covers rows
// [g0, g1) and has t = (g1 − g0) · tilesW tiles, tile (g, tx) at column i = (g − g0) · tilesW + tx.

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Best transform path of this CPU: 2 = AVX-512 (F, DQ, VL, BW), 1 = AVX2 + FMA, 0 = none.
int dbk_winograd_isa(void);

/// V = Bᵀ d B of channels [c0, c1) and tile rows [g0, g1) into V (α², C, T): element (e, ch, i) at
/// v[(e · cTotal + ch) · t + i]. Input plane (image, ch) at x + image · imageStride + ch · channelStride,
/// h × w floats row-major; tile (ty, tx) reads rows m·ty − padTop …, columns m·tx − padLeft … (zero
/// outside the plane). `isa` as dbk_winograd_isa; returns 0 (nothing written) when that path is not
/// available on this CPU, 1 when done.
int dbk_winograd_input(int isa, int m, const float *x, int64_t imageStride, int64_t channelStride, int64_t h,
                       int64_t w, int64_t padTop, int64_t padLeft, int64_t tilesH, int64_t tilesW, int64_t g0,
                       int64_t g1, int64_t c0, int64_t c1, int64_t cTotal, float *v);

/// Y = Aᵀ M A (+ bias[o]) of output channels [o0, o1) and tile rows [g0, g1) from M (α², O, T)
/// (element (e, o, i) at mm[(e · oTotal + o) · t + i]) into the output planes (image, o) at
/// out + image · imageStride + o · channelStride (oh × ow, row-major; tiles clipped at the edges).
/// bias may be NULL. With scale and shift non-NULL, each output becomes max(y · scale[o] + shift[o], 0)
/// (multiply, then add). Returns 0 when the `isa` path is not available, 1 when done.
int dbk_winograd_output(int isa, int m, const float *mm, int64_t oTotal, int64_t tilesH, int64_t tilesW,
                        int64_t g0, int64_t g1, int64_t o0, int64_t o1, float *out, int64_t imageStride,
                        int64_t channelStride, int64_t oh, int64_t ow, const float *bias, const float *scale,
                        const float *shift);

#ifdef __cplusplus
}
#endif
