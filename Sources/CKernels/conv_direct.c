// Direct 3×3 stride-2 convolution for few input channels (the FID Inception's Conv2d_1a: 3→32 at
// 299×299), with the folded BatchNorm + ReLU; see include/kernels.h. Im2col + sgemm runs this layer
// at ~15 GFLOP/s (K = 27 is too short for sgemm); here each output row is 16-column × 16-channel
// register tiles of fused multiply-adds over the 9·C taps.
#include "kernels.h"

#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define DC_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma")))

static inline __mmask16 dc_mask(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

// Splits row `src` (w floats) into its even columns (e, (w + 1) / 2 floats) and odd ones (o, w / 2).
DC_AVX512 static void dc_split(const float *src, int64_t w, float *e, float *o) {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    int64_t ne = (w + 1) / 2, no = w / 2;
    for (int64_t j = 0; j < ne; j += 16) {
        __m512 a = _mm512_maskz_loadu_ps(dc_mask(w - 2 * j), src + 2 * j);
        __m512 b = _mm512_maskz_loadu_ps(dc_mask(w - 2 * j - 16), src + 2 * j + 16);
        _mm512_mask_storeu_ps(e + j, dc_mask(ne - j), _mm512_permutex2var_ps(a, ie, b));
        if (no > j) _mm512_mask_storeu_ps(o + j, dc_mask(no - j), _mm512_permutex2var_ps(a, io, b));
    }
}

// 16 output columns (mask) × NC output channels from `og`, output row oy of one image.
DC_AVX512 static inline __attribute__((always_inline)) void dc_tile(
    const float *split, int64_t c, int64_t ne, int64_t ox0, __mmask16 mask, const float *weight, int64_t og, int NC,
    const float *scale, const float *shift, float *out, int64_t outChannelStride) {
    __m512 acc[16];
    for (int j = 0; j < NC; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t ci = 0; ci < c; ci++) {
        for (int ky = 0; ky < 3; ky++) {
            // Row ky of channel ci: even columns at split, odd ones after them (ne floats each).
            const float *e = split + (ci * 3 + ky) * 2 * ne, *o = e + ne;
            __m512 v0 = _mm512_maskz_loadu_ps(mask, e + ox0);
            __m512 v1 = _mm512_maskz_loadu_ps(mask, o + ox0);
            __m512 v2 = _mm512_maskz_loadu_ps(mask, e + ox0 + 1);
            const float *wk = weight + (og * c + ci) * 9 + ky * 3;
            for (int j = 0; j < NC; j++) {
                const float *wj = wk + j * c * 9;
                acc[j] = _mm512_fmadd_ps(v0, _mm512_set1_ps(wj[0]), acc[j]);
                acc[j] = _mm512_fmadd_ps(v1, _mm512_set1_ps(wj[1]), acc[j]);
                acc[j] = _mm512_fmadd_ps(v2, _mm512_set1_ps(wj[2]), acc[j]);
            }
        }
    }
    for (int j = 0; j < NC; j++) {
        // BatchNorm as torch's CPU kernel (multiply, then add), then ReLU.
        __m512 y = _mm512_add_ps(_mm512_mul_ps(acc[j], _mm512_set1_ps(scale[og + j])), _mm512_set1_ps(shift[og + j]));
        _mm512_mask_storeu_ps(out + (og + j) * outChannelStride + ox0, mask, _mm512_max_ps(y, _mm512_setzero_ps()));
    }
}

DC_AVX512 static void dc_rows(const float *x, int64_t c, int64_t imageStride, int64_t channelStride, int64_t h,
                              int64_t w, const float *weight, int64_t o, const float *scale, const float *shift,
                              float *out, int64_t outImageStride, int64_t outChannelStride, int64_t oh, int64_t ow,
                              int64_t r0, int64_t r1, float *split) {
    int64_t ne = (w + 1) / 2;
    (void)h;
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = r / oh, oy = r % oh;
        for (int64_t ci = 0; ci < c; ci++)
            for (int ky = 0; ky < 3; ky++) {
                float *e = split + (ci * 3 + ky) * 2 * ne;
                dc_split(x + b * imageStride + ci * channelStride + (2 * oy + ky) * w, w, e, e + ne);
            }
        float *orow = out + b * outImageStride + oy * ow;
        for (int64_t ox0 = 0; ox0 < ow; ox0 += 16) {
            __mmask16 mask = dc_mask(ow - ox0);
            int64_t og = 0;
            for (; og + 16 <= o; og += 16)
                dc_tile(split, c, ne, ox0, mask, weight, og, 16, scale, shift, orow, outChannelStride);
            for (; og + 4 <= o; og += 4)
                dc_tile(split, c, ne, ox0, mask, weight, og, 4, scale, shift, orow, outChannelStride);
            for (; og < o; og++)
                dc_tile(split, c, ne, ox0, mask, weight, og, 1, scale, shift, orow, outChannelStride);
        }
    }
}
#endif

int dbk_conv3x3s2_bnrelu(const float *x, int64_t c, int64_t imageStride, int64_t channelStride, int64_t h, int64_t w,
                         const float *weight, int64_t o, const float *scale, const float *shift, float *out,
                         int64_t outImageStride, int64_t outChannelStride, int64_t r0, int64_t r1) {
#if defined(__x86_64__)
    // dbk_linear_rowinv_isa: 1 when the CPU has AVX-512 F, DQ, VL and BW (kernels.c).
    if (!dbk_linear_rowinv_isa() || h < 3 || w < 3) return 0;
    if (r1 <= r0) return 1;
    int64_t oh = (h - 3) / 2 + 1, ow = (w - 3) / 2 + 1, ne = (w + 1) / 2;
    // Even and odd columns of the 3·C input rows of one output row (+16 floats: a full vector past the end).
    float *split = (float *)malloc(sizeof(float) * (size_t)(c * 3 * 2 * ne + 16));
    if (!split) return 0;
    dc_rows(x, c, imageStride, channelStride, h, w, weight, o, scale, shift, out, outImageStride, outChannelStride,
            oh, ow, r0, r1, split);
    free(split);
    return 1;
#else
    return 0;
#endif
}
