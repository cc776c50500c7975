// See include/winograd1d.h for the contract.
#include "winograd1d.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define W1D_X86 1
#endif

void dbk_w1d_apply_portable(const float *mat, int64_t rows, int64_t cols,
                            const float *src, int64_t src_row, int64_t src_tile,
                            float *dst, int64_t dst_row, int64_t dst_tile, int64_t tiles, int64_t n) {
    for (int64_t t = 0; t < tiles; t++) {
        const float *s = src + t * src_tile;
        float *d = dst + t * dst_tile;
        for (int64_t r = 0; r < rows; r++) {
            const float *c = mat + r * cols;
            float *out = d + r * dst_row;
            for (int64_t i = 0; i < n; i++) {
                float acc = 0.0f;
                for (int64_t k = 0; k < cols; k++) acc = fmaf(c[k], s[k * src_row + i], acc);
                out[i] = acc;
            }
        }
    }
}

#ifdef W1D_X86
#define W1D_AVX2 __attribute__((target("avx2,fma")))
#define W1D_INLINE static inline __attribute__((always_inline))

// Eight lanes at column i of one tile; COLS is a compile-time constant at every call.
W1D_AVX2 W1D_INLINE void w1d_block(const float *mat, int64_t rows, const float *s, int64_t src_row,
                                  float *d, int64_t dst_row, int64_t i, const int COLS) {
    __m256 v[16];
    for (int k = 0; k < COLS; k++) v[k] = _mm256_loadu_ps(s + k * src_row + i);
    for (int64_t r = 0; r < rows; r++) {
        const float *c = mat + r * COLS;
        __m256 acc = _mm256_setzero_ps();
        for (int k = 0; k < COLS; k++) acc = _mm256_fmadd_ps(_mm256_set1_ps(c[k]), v[k], acc);
        _mm256_storeu_ps(d + r * dst_row + i, acc);
    }
}

W1D_AVX2 W1D_INLINE void w1d_apply_avx2(const float *mat, int64_t rows, const float *src, int64_t src_row,
                                       int64_t src_tile, float *dst, int64_t dst_row, int64_t dst_tile,
                                       int64_t tiles, int64_t n, const int COLS) {
    for (int64_t t = 0; t < tiles; t++) {
        const float *s = src + t * src_tile;
        float *d = dst + t * dst_tile;
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) w1d_block(mat, rows, s, src_row, d, dst_row, i, COLS);
        // The last partial block overlaps the previous one: lanes are independent, so the
        // recomputed lanes get the same values.
        if (i < n) w1d_block(mat, rows, s, src_row, d, dst_row, n - 8, COLS);
    }
}

#define W1D_CASE(C) case C: w1d_apply_avx2(mat, rows, src, src_row, src_tile, dst, dst_row, dst_tile, tiles, n, C); return 1;

W1D_AVX2 static int w1d_dispatch_avx2(const float *mat, int64_t rows, int64_t cols, const float *src, int64_t src_row,
                                      int64_t src_tile, float *dst, int64_t dst_row, int64_t dst_tile, int64_t tiles,
                                      int64_t n) {
    switch (cols) {
        W1D_CASE(4) W1D_CASE(6) W1D_CASE(8) W1D_CASE(9) W1D_CASE(10) W1D_CASE(12)
        default: return 0;
    }
}

static int w1d_has_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return cached;
}
#endif

int dbk_w1d_isa(void) {
#ifdef W1D_X86
    return w1d_has_avx2();
#else
    return 0;
#endif
}

void dbk_w1d_apply(const float *mat, int64_t rows, int64_t cols,
                   const float *src, int64_t src_row, int64_t src_tile,
                   float *dst, int64_t dst_row, int64_t dst_tile, int64_t tiles, int64_t n) {
#ifdef W1D_X86
    if (n >= 8 && w1d_has_avx2() &&
        w1d_dispatch_avx2(mat, rows, cols, src, src_row, src_tile, dst, dst_row, dst_tile, tiles, n)) return;
#endif
    dbk_w1d_apply_portable(mat, rows, cols, src, src_row, src_tile, dst, dst_row, dst_tile, tiles, n);
}
