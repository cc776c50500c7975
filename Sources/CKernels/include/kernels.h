#pragma once
// Compute kernels for DigitTensor that need instruction-set control Swift does not give
// (AVX-512 selected at run time). No model semantics live here.

#include <stdint.h>

#include "winograd.h"  // Winograd F(m×m, 3×3) transforms (winograd.c)

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


// MARK: - Transformer element-wise kernels (transformer.c)
//
// AVX-512 when the CPU has it, else a portable scalar path with the same formulas (the two may
// differ in the last bit: the vector path contracts to fused multiply-adds).

/// erf of n floats: |x| <= 0.921875: x + x * P(x^2); above: 1 - exp(-x^2) * R(|x|), |x| clamped to 4
/// (float erf is 1 there), odd. Coefficients fitted by tools/fit_erf.py; max error ~1.2 ulp
/// against the float64 erf (Tests/DigitTensorTests). NaN in gives an unspecified finite value.
void dbk_erf(const float *x, float *y, int64_t n);

/// The portable path of dbk_erf whatever the CPU (for tests).
void dbk_erf_portable(const float *x, float *y, int64_t n);

/// In place: x = x * 0.5 * (1 + erf(x / sqrt 2)) (torch.nn.functional.gelu, approximate='none').
void dbk_gelu_erf(float *x, int64_t n);

/// In place over `rows` rows of `cols` floats (row stride ld): softmax with the row maximum
/// subtracted, exp by the Cephes expf polynomial, float sums in 16 lanes.
void dbk_softmax_rows(float *s, int64_t rows, int64_t cols, int64_t ld);

/// y[r] = (x[r] - mean) / sqrt(var + eps) * w + b for `rows` rows of d floats (contiguous), biased
/// variance, mean and variance as two float passes in 16 lanes; w, b may be NULL.
void dbk_layer_norm_rows(const float *x, float *y, int64_t rows, int64_t d, const float *w, const float *b, float eps);

/// Floats of scratch dbk_attention_head needs for t tokens.
int64_t dbk_attention_head_work(int64_t t, int64_t hd);

/// One attention head: out = softmax(scale * q kᵀ) v, q, k, v rows of hd floats with stride ld
/// (as in a packed qkv projection), out rows with stride ldo; `work` holds
/// dbk_attention_head_work(t, hd) floats. Register-blocked AVX-512 micro-kernels (6 query rows x 32
/// keys, then 6 rows x 64 outputs), softmax as dbk_softmax_rows. Only for hd = 64 on AVX-512: returns
/// 0 (nothing written) otherwise, and the caller uses sgemm. With `phase_ns` non-NULL (profiling),
/// adds the nanoseconds of q·kᵀ, softmax and p·v to phase_ns[0], [1], [2].
int dbk_attention_head(const float *q, const float *k, const float *v, int64_t ld, int64_t t, int64_t hd, float scale,
                       float *out, int64_t ldo, float *work, uint64_t *phase_ns);

/// 1 when the AVX-512 paths of these kernels are in use.
int dbk_transformer_isa(void);


// MARK: - Direct convolution (conv_direct.c)

/// 3×3, stride 2, no padding, then y = max(s · scale[o] + shift[o], 0) (multiply, then add): the FID
/// Inception's Conv2d_1a (3 input channels). Input plane (image, ci) at x + image · imageStride +
/// ci · channelStride (h × w), weight (o, c, 3, 3); output plane (image, oc) at out + image ·
/// outImageStride + oc · outChannelStride, ((h − 3) / 2 + 1) × ((w − 3) / 2 + 1). Computes rows
/// [r0, r1) of the image-major list of all images' output rows. Each output is one fused
/// multiply-add chain from 0 over (ci, ky, kx) in order, so it does not depend on the batch or the
/// rows asked for. AVX-512 only: returns 0 (nothing written) on other CPUs.
int dbk_conv3x3s2_bnrelu(const float *x, int64_t c, int64_t imageStride, int64_t channelStride, int64_t h, int64_t w,
                         const float *weight, int64_t o, const float *scale, const float *shift, float *out,
                         int64_t outImageStride, int64_t outChannelStride, int64_t r0, int64_t r1);

#ifdef __cplusplus
}
#endif
