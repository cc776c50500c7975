// Pillow's 8-bit two-pass resampling of RGB images: see dbi_resample8_rgb in include/image_codecs.h.
//
// The arithmetic is Pillow's (src/libImaging/Resample.c, ImagingResampleHorizontal_8bpc and
// ImagingResampleVertical_8bpc): int32 accumulators starting at 1 << (PRECISION_BITS - 1),
// fixed-point weights, clip8 after each pass. The SIMD kernels (chosen at run time: AVX-512BW for
// four rows of the horizontal pass at once, AVX2 for two rows and for the vertical pass, scalar
// otherwise and at the image's last rows) compute the same integer sums exactly (no value ever leaves
// int32, as in Pillow), so every variant gives the same bytes. The coefficients come from the caller
// (DigitImage's port of precompute_coeffs).
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
// Horizontal weights for vpmaddwd, exact: each 22-bit weight k splits as k = kh * 2^11 + kl with kl in
// [0, 2^11), both int16; sum(p * k) = (sum(p * kh) << 11) + sum(p * kl), every partial sum within
// int32. Per output and tap pair (2j, 2j+1): 8 int16 [kh0 kh1 kh0 kh1 kh0 kh1 0 0], then the same
// for kl (taps past the window weigh 0). Returns 0 if a weight is too large for the split (|w| >= 16,
// which normalised filter windows never reach); the caller then runs the scalar kernel.
#define SPLIT_BITS 11
static int h_split_weights(int16_t *table, int pairs, int out_w, const int32_t *bounds, const int32_t *kk,
                           int ksize) {
    for (int i = 0; i < out_w * ksize; i++)
        if ((kk[i] >> SPLIT_BITS) > INT16_MAX || (kk[i] >> SPLIT_BITS) < INT16_MIN) return 0;
    for (int xx = 0; xx < out_w; xx++) {
        int n = bounds[2 * xx + 1];
        const int32_t *k = kk + (size_t)xx * ksize;
        for (int j = 0; j < pairs; j++) {
            int16_t *hi = table + ((size_t)xx * pairs + j) * 16, *lo = hi + 8;
            int32_t k0 = 2 * j < n ? k[2 * j] : 0, k1 = 2 * j + 1 < n ? k[2 * j + 1] : 0;
            for (int c = 0; c < 3; c++) {
                hi[2 * c] = (int16_t)(k0 >> SPLIT_BITS);
                hi[2 * c + 1] = (int16_t)(k1 >> SPLIT_BITS);
                lo[2 * c] = (int16_t)(k0 & ((1 << SPLIT_BITS) - 1));
                lo[2 * c + 1] = (int16_t)(k1 & ((1 << SPLIT_BITS) - 1));
            }
            hi[6] = hi[7] = lo[6] = lo[7] = 0;
        }
    }
    return 1;
}

// Two rows at once (row r0 in the low 128 bits, r1 in the high), two taps per step: the 16 bytes at
// a tap pair's first pixel are shuffled to words [R0 R1 G0 G1 B0 B1 0 0] and multiplied-added with
// the split weights (an odd window's last pair weighs its second pixel 0). Reads up to 16 bytes from
// each pair's first pixel, i.e. up to 16 past the window's last pixel (the caller checks the margin).
__attribute__((target("avx2"))) static void h_rows2_avx2(const uint8_t *r0, const uint8_t *r1, uint8_t *o0,
                                                         uint8_t *o1, int out_w, const int32_t *bounds,
                                                         const int16_t *table, int pairs) {
    const __m256i half = _mm256_set1_epi32(HALF);
    const __m256i shuffle = _mm256_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1,
                                             0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1);
    for (int xx = 0; xx < out_w; xx++) {
        int xmin = bounds[2 * xx], np = (bounds[2 * xx + 1] + 1) / 2;
        const uint8_t *p0 = r0 + 3 * (size_t)xmin, *p1 = r1 + 3 * (size_t)xmin;
        const int16_t *w = table + (size_t)xx * pairs * 16;
        __m256i acc_hi = _mm256_setzero_si256(), acc_lo = _mm256_setzero_si256();
        for (int j = 0; j < np; j++, w += 16) {
            __m256i px = _mm256_loadu2_m128i((const __m128i *)(p1 + 6 * j), (const __m128i *)(p0 + 6 * j));
            px = _mm256_shuffle_epi8(px, shuffle);
            __m256i wh = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)w));
            __m256i wl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(w + 8)));
            acc_hi = _mm256_add_epi32(acc_hi, _mm256_madd_epi16(px, wh));
            acc_lo = _mm256_add_epi32(acc_lo, _mm256_madd_epi16(px, wl));
        }
        __m256i acc = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(acc_hi, SPLIT_BITS), acc_lo), half);
        // clip8(v) == clamp(v >> 22, 0, 255): arithmetic shift, then saturating packs.
        acc = _mm256_srai_epi32(acc, PRECISION_BITS);
        __m128i s16 = _mm_packs_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
        __m128i s8 = _mm_packus_epi16(s16, s16);
        uint32_t va = (uint32_t)_mm_cvtsi128_si32(s8), vb = (uint32_t)_mm_extract_epi32(s8, 1);
        memcpy(o0 + 3 * (size_t)xx, &va, 3);
        memcpy(o1 + 3 * (size_t)xx, &vb, 3);
    }
}

// Four rows at once (AVX-512BW): the AVX2 kernel's steps on four 128-bit lanes, one row each.
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void h_rows4_avx512(const uint8_t *const *r, uint8_t *const *o,
                                                                 int out_w, const int32_t *bounds,
                                                                 const int16_t *table, int pairs) {
    const __m512i half = _mm512_set1_epi32(HALF);
    const __m512i shuffle = _mm512_broadcast_i32x4(
        _mm_setr_epi8(0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1));
    const __m512i zero = _mm512_setzero_si512();
    for (int xx = 0; xx < out_w; xx++) {
        size_t off = 3 * (size_t)bounds[2 * xx];
        int np = (bounds[2 * xx + 1] + 1) / 2;
        const int16_t *w = table + (size_t)xx * pairs * 16;
        __m512i acc_hi = zero, acc_lo = zero;
        for (int j = 0; j < np; j++, w += 16, off += 6) {
            __m512i px = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(r[0] + off)));
            px = _mm512_inserti32x4(px, _mm_loadu_si128((const __m128i *)(r[1] + off)), 1);
            px = _mm512_inserti32x4(px, _mm_loadu_si128((const __m128i *)(r[2] + off)), 2);
            px = _mm512_inserti32x4(px, _mm_loadu_si128((const __m128i *)(r[3] + off)), 3);
            px = _mm512_shuffle_epi8(px, shuffle);
            __m512i wh = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)w));
            __m512i wl = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(w + 8)));
            acc_hi = _mm512_add_epi32(acc_hi, _mm512_madd_epi16(px, wh));
            acc_lo = _mm512_add_epi32(acc_lo, _mm512_madd_epi16(px, wl));
        }
        __m512i acc = _mm512_add_epi32(_mm512_add_epi32(_mm512_slli_epi32(acc_hi, SPLIT_BITS), acc_lo), half);
        acc = _mm512_max_epi32(_mm512_srai_epi32(acc, PRECISION_BITS), zero);
        __m128i s8 = _mm512_cvtusepi32_epi8(acc);  // clamp(v >> 22, 0, 255) == clip8(v)
        uint32_t v[4];
        _mm_storeu_si128((__m128i *)v, s8);
        for (int i = 0; i < 4; i++) memcpy(o[i] + 3 * (size_t)xx, &v[i], 3);
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

static int have_avx512(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") ? 1 : 0;
    }
    return cached;
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

static _Thread_local int16_t *weight_table = NULL;
static _Thread_local size_t weight_capacity = 0;

static int16_t *weight_table_get(size_t count) {
    if (count > weight_capacity) {
        free(weight_table);
        weight_capacity = 0;
        weight_table = (int16_t *)malloc(count * sizeof(int16_t));
        if (!weight_table) return NULL;
        weight_capacity = count;
    }
    return weight_table;
}

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
    int pairs = (ksize + 1) / 2;
    int16_t *table = have_avx2() && y1 - y0 >= 2 ? weight_table_get((size_t)out_w * pairs * 16) : NULL;
    if (table && h_split_weights(table, pairs, out_w, bounds, kk, ksize)) {
        // The kernel reads up to 16 bytes past a row's last pixel.
        const uint8_t *end = src + src_len;
        if (have_avx512()) {
            for (; y + 3 < y1; y += 4) {
                const uint8_t *r[4];
                uint8_t *o[4];
                for (int i = 0; i < 4; i++) {
                    r[i] = src + (size_t)(y + i) * src_stride;
                    o[i] = dst + (size_t)(y + i - y0) * dst_stride;
                }
                if ((size_t)(end - r[3]) < src_stride + 16) break;
                h_rows4_avx512(r, o, out_w, bounds, table, pairs);
            }
        }
        for (; y + 1 < y1; y += 2) {
            const uint8_t *r1 = src + (size_t)(y + 1) * src_stride;
            if ((size_t)(end - r1) < src_stride + 16) break;
            h_rows2_avx2(src + (size_t)y * src_stride, r1, dst + (size_t)(y - y0) * dst_stride,
                         dst + (size_t)(y + 1 - y0) * dst_stride, out_w, bounds, table, pairs);
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
