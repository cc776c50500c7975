// Winograd F(m×m, 3×3) transforms with AVX-512 and AVX2+FMA paths; see include/winograd.h. The
// transform bodies are written once (winograd_body.h) over a few vector primitives defined here per
// instruction set. Vectorised over the tiles of a tile row (16 or 8 per step, masked at the end);
// the stride-m tile columns are (de)interleaved with two-source permutes.
#include "winograd.h"

#include <stddef.h>

// The Swift transforms multiply and add separately: never contract into fused multiply-adds.
#pragma clang fp contract(off)

#if defined(__x86_64__)
#include <immintrin.h>

#define WG_INLINE static inline __attribute__((always_inline))

// MARK: - AVX-512: 16 lanes

#define WG_ATTR __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma")))
#define WGV __m512
#define WG_VW 16
#define WG_F(name) wg512_##name

WG_ATTR WG_INLINE __mmask16 wg512_mask(int lo, int hi) {
    return (__mmask16)((((uint32_t)1 << hi) - 1) & ~(((uint32_t)1 << lo) - 1));
}
// Lanes [lo, hi) of p (0 ≤ lo < hi ≤ 16); other lanes 0, never read (masked loads do not fault).
WG_ATTR WG_INLINE __m512 wg512_loadr(const float *p, int lo, int hi) {
    if (lo == 0 && hi == 16) return _mm512_loadu_ps(p);
    return _mm512_maskz_loadu_ps(wg512_mask(lo, hi), p);
}
WG_ATTR WG_INLINE void wg512_storen(float *p, int n, __m512 v) {
    if (n == 16) _mm512_storeu_ps(p, v);
    else _mm512_mask_storeu_ps(p, wg512_mask(0, n), v);
}
WG_ATTR WG_INLINE __m512 wg512_add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
WG_ATTR WG_INLINE __m512 wg512_sub(__m512 a, __m512 b) { return _mm512_sub_ps(a, b); }
WG_ATTR WG_INLINE __m512 wg512_mul(__m512 a, __m512 b) { return _mm512_mul_ps(a, b); }
WG_ATTR WG_INLINE __m512 wg512_max(__m512 a, __m512 b) { return _mm512_max_ps(a, b); }
WG_ATTR WG_INLINE __m512 wg512_set1(float a) { return _mm512_set1_ps(a); }
WG_ATTR WG_INLINE __m512 wg512_zero(void) { return _mm512_setzero_ps(); }
// (a, b) = 32 consecutive floats → even and odd ones.
WG_ATTR WG_INLINE void wg512_deint2(__m512 a, __m512 b, __m512 *e, __m512 *o) {
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    *e = _mm512_permutex2var_ps(a, ie, b);
    *o = _mm512_permutex2var_ps(a, io, b);
}
// The inverse: lo = p0[0], p1[0], …, p0[7], p1[7]; hi = the same from lane 8.
WG_ATTR WG_INLINE void wg512_int2(__m512 p0, __m512 p1, __m512 *lo, __m512 *hi) {
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    *lo = _mm512_permutex2var_ps(p0, il, p1);
    *hi = _mm512_permutex2var_ps(p0, ih, p1);
}
// v[1 …], then e[lane].
WG_ATTR WG_INLINE __m512 wg512_shift1(__m512 v, __m512 e, int lane) {
    __m512 b = _mm512_permutexvar_ps(_mm512_set1_epi32(lane), e);
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(b), _mm512_castps_si512(v), 1));
}

#include "winograd_body.h"

#undef WG_ATTR
#undef WGV
#undef WG_VW
#undef WG_F

// MARK: - AVX2 + FMA: 8 lanes

#define WG_ATTR __attribute__((target("avx2,fma")))
#define WGV __m256
#define WG_VW 8
#define WG_F(name) wg256_##name

WG_ATTR WG_INLINE __m256i wg256_mask(int lo, int hi) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_si256(_mm256_cmpgt_epi32(iota, _mm256_set1_epi32(lo - 1)),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), iota));
}
WG_ATTR WG_INLINE __m256 wg256_loadr(const float *p, int lo, int hi) {
    if (lo == 0 && hi == 8) return _mm256_loadu_ps(p);
    return _mm256_maskload_ps(p, wg256_mask(lo, hi));
}
WG_ATTR WG_INLINE void wg256_storen(float *p, int n, __m256 v) {
    if (n == 8) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, wg256_mask(0, n), v);
}
WG_ATTR WG_INLINE __m256 wg256_add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
WG_ATTR WG_INLINE __m256 wg256_sub(__m256 a, __m256 b) { return _mm256_sub_ps(a, b); }
WG_ATTR WG_INLINE __m256 wg256_mul(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
WG_ATTR WG_INLINE __m256 wg256_max(__m256 a, __m256 b) { return _mm256_max_ps(a, b); }
WG_ATTR WG_INLINE __m256 wg256_set1(float a) { return _mm256_set1_ps(a); }
WG_ATTR WG_INLINE __m256 wg256_zero(void) { return _mm256_setzero_ps(); }
WG_ATTR WG_INLINE void wg256_deint2(__m256 a, __m256 b, __m256 *e, __m256 *o) {
    // In-lane shuffles give a0 a2 b0 b2 | a4 a6 b4 b6; the 64-bit permute puts the halves in order.
    __m256 se = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), so = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    *e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(se), _MM_SHUFFLE(3, 1, 2, 0)));
    *o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(so), _MM_SHUFFLE(3, 1, 2, 0)));
}
WG_ATTR WG_INLINE void wg256_int2(__m256 p0, __m256 p1, __m256 *lo, __m256 *hi) {
    __m256 ul = _mm256_unpacklo_ps(p0, p1), uh = _mm256_unpackhi_ps(p0, p1);
    *lo = _mm256_permute2f128_ps(ul, uh, 0x20);
    *hi = _mm256_permute2f128_ps(ul, uh, 0x31);
}
WG_ATTR WG_INLINE __m256 wg256_shift1(__m256 v, __m256 e, int lane) {
    __m256 s = _mm256_permutevar8x32_ps(v, _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 7));
    __m256 b = _mm256_permutevar8x32_ps(e, _mm256_set1_epi32(lane));
    return _mm256_blend_ps(s, b, 0x80);
}

#include "winograd_body.h"

static int wg_isa_cached = -1;

int dbk_winograd_isa(void) {
    if (wg_isa_cached < 0) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw"))
            wg_isa_cached = 2;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            wg_isa_cached = 1;
        else
            wg_isa_cached = 0;
    }
    return wg_isa_cached;
}

int dbk_winograd_input(int isa, int m, const float *x, int64_t imageStride, int64_t channelStride, int64_t h,
                       int64_t w, int64_t padTop, int64_t padLeft, int64_t tilesH, int64_t tilesW, int64_t g0,
                       int64_t g1, int64_t c0, int64_t c1, int64_t cTotal, float *v) {
    if (isa <= 0 || isa > dbk_winograd_isa() || (m != 2 && m != 4)) return 0;
    if (isa == 2) {
        if (m == 4) wg512_input_rows4(x, imageStride, channelStride, h, w, padTop, padLeft, tilesH, tilesW, g0, g1, c0, c1, cTotal, v);
        else wg512_input_rows2(x, imageStride, channelStride, h, w, padTop, padLeft, tilesH, tilesW, g0, g1, c0, c1, cTotal, v);
    } else {
        if (m == 4) wg256_input_rows4(x, imageStride, channelStride, h, w, padTop, padLeft, tilesH, tilesW, g0, g1, c0, c1, cTotal, v);
        else wg256_input_rows2(x, imageStride, channelStride, h, w, padTop, padLeft, tilesH, tilesW, g0, g1, c0, c1, cTotal, v);
    }
    return 1;
}

int dbk_winograd_output(int isa, int m, const float *mm, int64_t oTotal, int64_t tilesH, int64_t tilesW,
                        int64_t g0, int64_t g1, int64_t o0, int64_t o1, float *out, int64_t imageStride,
                        int64_t channelStride, int64_t oh, int64_t ow, const float *bias, const float *scale,
                        const float *shift) {
    if (isa <= 0 || isa > dbk_winograd_isa() || (m != 2 && m != 4)) return 0;
    if (isa == 2) {
        if (m == 4) wg512_output_rows4(mm, oTotal, tilesH, tilesW, g0, g1, o0, o1, out, imageStride, channelStride, oh, ow, bias, scale, shift);
        else wg512_output_rows2(mm, oTotal, tilesH, tilesW, g0, g1, o0, o1, out, imageStride, channelStride, oh, ow, bias, scale, shift);
    } else {
        if (m == 4) wg256_output_rows4(mm, oTotal, tilesH, tilesW, g0, g1, o0, o1, out, imageStride, channelStride, oh, ow, bias, scale, shift);
        else wg256_output_rows2(mm, oTotal, tilesH, tilesW, g0, g1, o0, o1, out, imageStride, channelStride, oh, ow, bias, scale, shift);
    }
    return 1;
}

#else  // not x86-64: the Swift transforms

int dbk_winograd_isa(void) { return 0; }

int dbk_winograd_input(int isa, int m, const float *x, int64_t imageStride, int64_t channelStride, int64_t h,
                       int64_t w, int64_t padTop, int64_t padLeft, int64_t tilesH, int64_t tilesW, int64_t g0,
                       int64_t g1, int64_t c0, int64_t c1, int64_t cTotal, float *v) {
    return 0;
}

int dbk_winograd_output(int isa, int m, const float *mm, int64_t oTotal, int64_t tilesH, int64_t tilesW,
                        int64_t g0, int64_t g1, int64_t o0, int64_t o1, float *out, int64_t imageStride,
                        int64_t channelStride, int64_t oh, int64_t ow, const float *bias, const float *scale,
                        const float *shift) {
    return 0;
}

#endif
