// Pillow's 8-bit two-pass resampling of RGB images: see dbi_resample8_rgb in include/image_codecs.h.
//
// The arithmetic is Pillow's (src/libImaging/Resample.c, ImagingResampleHorizontal_8bpc and
// ImagingResampleVertical_8bpc): int32 accumulators starting at 1 << (PRECISION_BITS - 1),
// fixed-point weights, clip8 after each pass. The AVX2 kernels compute the same sums lane by lane
// (32-bit multiplies and adds; no value ever leaves int32, as in Pillow), so every variant gives the
// same bytes. The coefficients come from the caller (DigitImage's port of precompute_coeffs).
#include "image_codecs.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DBI_X86 1
#endif

#define PRECISION_BITS 22
#define HALF (1 << (PRECISION_BITS - 1))

static inline uint8_t clip8(int32_t v) {
    if (v >= (1 << (PRECISION_BITS + 8))) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

// MARK: - Horizontal pass: one row of 3-byte pixels, out_w outputs

static void h_row_scalar(const uint8_t *row, uint8_t *out, int out_w, const int32_t *bounds, const int32_t *kk,
                         int ksize) {
    for (int xx = 0; xx < out_w; xx++) {
        int xmin = bounds[2 * xx], n = bounds[2 * xx + 1];
        const int32_t *k = kk + (size_t)xx * ksize;
        const uint8_t *p = row + 3 * (size_t)xmin;
        int32_t s0 = HALF, s1 = HALF, s2 = HALF;
        for (int x = 0; x < n; x++) {
            s0 += (int32_t)p[3 * x] * k[x];
            s1 += (int32_t)p[3 * x + 1] * k[x];
            s2 += (int32_t)p[3 * x + 2] * k[x];
        }
        out[3 * xx] = clip8(s0);
        out[3 * xx + 1] = clip8(s1);
        out[3 * xx + 2] = clip8(s2);
    }
}

// MARK: - Vertical pass: out[i] = clip8(sum_t k[t] * rows[t][i]) over len bytes

static void v_row_scalar(const uint8_t *first, size_t stride, int n, const int32_t *k, uint8_t *out, size_t from,
                         size_t len) {
    for (size_t i = from; i < len; i++) {
        int32_t s = HALF;
        for (int t = 0; t < n; t++) s += (int32_t)first[(size_t)t * stride + i] * k[t];
        out[i] = clip8(s);
    }
}

#if DBI_X86
// Two rows at once: lanes 0-3 hold a pixel of r0 (R, G, B and the next byte, ignored), lanes 4-7
// the same pixel of r1. Reads 4 bytes per pixel: the caller guarantees one readable byte past each row.
__attribute__((target("avx2"))) static void h_rows2_avx2(const uint8_t *r0, const uint8_t *r1, uint8_t *o0,
                                                         uint8_t *o1, int out_w, const int32_t *bounds,
                                                         const int32_t *kk, int ksize) {
    const __m256i half = _mm256_set1_epi32(HALF);
    for (int xx = 0; xx < out_w; xx++) {
        int xmin = bounds[2 * xx], n = bounds[2 * xx + 1];
        const int32_t *k = kk + (size_t)xx * ksize;
        const uint8_t *p0 = r0 + 3 * (size_t)xmin, *p1 = r1 + 3 * (size_t)xmin;
        __m256i acc = half;
        for (int x = 0; x < n; x++) {
            int32_t a, b;
            memcpy(&a, p0 + 3 * x, 4);
            memcpy(&b, p1 + 3 * x, 4);
            __m256i px = _mm256_cvtepu8_epi32(_mm_set_epi32(0, 0, b, a));
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(px, _mm256_set1_epi32(k[x])));
        }
        // clip8(v) == clamp(v >> 22, 0, 255): arithmetic shift, then saturating packs.
        acc = _mm256_srai_epi32(acc, PRECISION_BITS);
        __m128i s16 = _mm_packs_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        __m128i s8 = _mm_packus_epi16(s16, s16);
        uint32_t va = (uint32_t)_mm_cvtsi128_si32(s8), vb = (uint32_t)_mm_extract_epi32(s8, 1);
        memcpy(o0 + 3 * (size_t)xx, &va, 3);
        memcpy(o1 + 3 * (size_t)xx, &vb, 3);
    }
}

__attribute__((target("avx2"))) static void v_row_avx2(const uint8_t *first, size_t stride, int n, const int32_t *k,
                                                       uint8_t *out, size_t len) {
    const __m256i half = _mm256_set1_epi32(HALF);
    size_t i = 0;
    for (; i + 32 <= len; i += 32) {
        __m256i a0 = half, a1 = half, a2 = half, a3 = half;
        const uint8_t *p = first + i;
        for (int t = 0; t < n; t++, p += stride) {
            __m256i w = _mm256_set1_epi32(k[t]);
            __m128i b0 = _mm_loadu_si128((const __m128i *)p);
            __m128i b1 = _mm_loadu_si128((const __m128i *)(p + 16));
            a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(b0), w));
            a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(b0, 8)), w));
            a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(b1), w));
            a3 = _mm256_add_epi32(a3, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(b1, 8)), w));
        }
        a0 = _mm256_srai_epi32(a0, PRECISION_BITS);
        a1 = _mm256_srai_epi32(a1, PRECISION_BITS);
        a2 = _mm256_srai_epi32(a2, PRECISION_BITS);
        a3 = _mm256_srai_epi32(a3, PRECISION_BITS);
        __m128i s0 = _mm_packs_epi32(_mm256_castsi256_si128(a0), _mm256_extracti128_si256(a0, 1));
        __m128i s1 = _mm_packs_epi32(_mm256_castsi256_si128(a1), _mm256_extracti128_si256(a1, 1));
        __m128i s2 = _mm_packs_epi32(_mm256_castsi256_si128(a2), _mm256_extracti128_si256(a2, 1));
        __m128i s3 = _mm_packs_epi32(_mm256_castsi256_si128(a3), _mm256_extracti128_si256(a3, 1));
        _mm_storeu_si128((__m128i *)(out + i), _mm_packus_epi16(s0, s1));
        _mm_storeu_si128((__m128i *)(out + i + 16), _mm_packus_epi16(s2, s3));
    }
    v_row_scalar(first, stride, n, k, out, i, len);
}

static int have_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return cached;
}
#endif

// MARK: - Scratch

// The intermediate image of one call. Kept per thread between calls (no allocation, no page faults
// per image) unless it is large.
#define SCRATCH_KEEP_LIMIT ((size_t)16 << 20)
static _Thread_local uint8_t *scratch_buffer = NULL;
static _Thread_local size_t scratch_capacity = 0;

static uint8_t *scratch_get(size_t size, int *owned) {
    *owned = 0;
    if (size > SCRATCH_KEEP_LIMIT) {
        *owned = 1;
        return (uint8_t *)malloc(size);
    }
    if (size > scratch_capacity) {
        free(scratch_buffer);
        scratch_capacity = 0;
        scratch_buffer = (uint8_t *)malloc(size);
        if (!scratch_buffer) return NULL;
        scratch_capacity = size;
    }
    return scratch_buffer;
}

// MARK: - Passes

// Horizontal pass over src rows [y0, y1) into dst rows 0..., each out_w * 3 bytes (dst_stride apart).
static void horizontal_pass(const uint8_t *src, size_t src_len, size_t src_stride, int y0, int y1, uint8_t *dst,
                            size_t dst_stride, int out_w, const int32_t *bounds, const int32_t *kk, int ksize) {
    int y = y0;
#if DBI_X86
    if (have_avx2()) {
        // The AVX2 kernel reads one byte past the last pixel of each row it touches.
        const uint8_t *end = src + src_len;
        for (; y + 1 < y1; y += 2) {
            const uint8_t *r1 = src + (size_t)(y + 1) * src_stride;
            if (r1 + src_stride + 1 > end) break;
            h_rows2_avx2(src + (size_t)y * src_stride, r1, dst + (size_t)(y - y0) * dst_stride,
                         dst + (size_t)(y + 1 - y0) * dst_stride, out_w, bounds, kk, ksize);
        }
    }
#endif
    for (; y < y1; y++)
        h_row_scalar(src + (size_t)y * src_stride, dst + (size_t)(y - y0) * dst_stride, out_w, bounds, kk, ksize);
    (void)src_len;
}

static void vertical_pass(const uint8_t *src, size_t src_stride, int row_base, size_t len, uint8_t *dst, int out_h,
                          const int32_t *bounds, const int32_t *kk, int ksize) {
    for (int yy = 0; yy < out_h; yy++) {
        const uint8_t *first = src + (size_t)(bounds[2 * yy] - row_base) * src_stride;
        int n = bounds[2 * yy + 1];
        const int32_t *k = kk + (size_t)yy * ksize;
        uint8_t *out = dst + (size_t)yy * len;
#if DBI_X86
        if (have_avx2()) {
            v_row_avx2(first, src_stride, n, k, out, len);
            continue;
        }
#endif
        v_row_scalar(first, src_stride, n, k, out, 0, len);
    }
}

int dbi_resample8_rgb(const uint8_t *src, size_t src_len, int32_t in_w, int32_t in_h, const int32_t *h_bounds,
                      const int32_t *h_kk, int32_t h_ksize, int32_t col0, int32_t out_w, const int32_t *v_bounds,
                      const int32_t *v_kk, int32_t v_ksize, int32_t row0, int32_t out_h, uint8_t *dst) {
    if (out_w <= 0 || out_h <= 0) return 0;
    size_t in_stride = (size_t)in_w * 3, out_len = (size_t)out_w * 3;
    // Input rows the output window needs.
    int y0 = row0, y1 = row0 + out_h;
    if (v_bounds) {
        y0 = in_h;
        y1 = 0;
        for (int yy = 0; yy < out_h; yy++) {
            int lo = v_bounds[2 * yy], hi = lo + v_bounds[2 * yy + 1];
            if (v_bounds[2 * yy + 1] <= 0) continue;
            if (lo < y0) y0 = lo;
            if (hi > y1) y1 = hi;
        }
        if (y1 <= y0) y0 = y1 = 0;
    }
    if (!h_bounds && !v_bounds) {
        for (int y = 0; y < out_h; y++)
            memcpy(dst + (size_t)y * out_len, src + (size_t)(row0 + y) * in_stride + 3 * (size_t)col0, out_len);
        return 0;
    }
    if (h_bounds && !v_bounds) {
        horizontal_pass(src, src_len, in_stride, y0, y1, dst, out_len, out_w, h_bounds, h_kk, h_ksize);
        return 0;
    }
    if (!h_bounds) {
        vertical_pass(src + 3 * (size_t)col0, in_stride, 0, out_len, dst, out_h, v_bounds, v_kk, v_ksize);
        return 0;
    }
    int owned = 0;
    uint8_t *mid = scratch_get(out_len * (size_t)(y1 - y0) + 1, &owned);
    if (!mid) return 1;
    horizontal_pass(src, src_len, in_stride, y0, y1, mid, out_len, out_w, h_bounds, h_kk, h_ksize);
    vertical_pass(mid, out_len, y0, out_len, dst, out_h, v_bounds, v_kk, v_ksize);
    if (owned) free(mid);
    return 0;
}
