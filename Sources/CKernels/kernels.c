// See include/kernels.h for the contract. Blocking (how many rows of x and W a micro-kernel
// handles at once) only changes speed: each output keeps its own accumulators and its own order.
#include "kernels.h"

#include <math.h>
#include <stddef.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define DBK_X86 1
#endif

// MARK: - Portable reference order (also the fallback)

static float dbk_dot_portable(const float *x, const float *w, int64_t k) {
    float acc[16] = {0};
    for (int64_t k0 = 0; k0 < k; k0 += 16) {
        for (int l = 0; l < 16; l++) {
            int64_t kk = k0 + l;
            float a = kk < k ? x[kk] : 0.0f, b = kk < k ? w[kk] : 0.0f;
            acc[l] = fmaf(a, b, acc[l]);
        }
    }
    float r8[8], r4[4], r2[2];
    for (int l = 0; l < 8; l++) r8[l] = acc[l] + acc[l + 8];
    for (int l = 0; l < 4; l++) r4[l] = r8[l] + r8[l + 4];
    for (int l = 0; l < 2; l++) r2[l] = r4[l] + r4[l + 2];
    return r2[0] + r2[1];
}

void dbk_linear_rowinv_portable(const float *x, int64_t ldx, const float *w, int64_t ldw, const float *bias,
                                float *y, int64_t ldy, int64_t m, int64_t k, int64_t j0, int64_t j1) {
    if (m <= 0 || j1 <= j0) return;
    for (int64_t j = j0; j < j1; j++) {
        for (int64_t i = 0; i < m; i++) {
            float s = dbk_dot_portable(x + i * ldx, w + j * ldw, k);
            y[i * ldy + j] = bias ? s + bias[j] : s;
        }
    }
}

#ifdef DBK_X86
// MARK: - AVX-512

#define DBK_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma")))
#define DBK_INLINE static inline __attribute__((always_inline))

// The same tree as dbk_dot_portable: (l, l+8), (l, l+4), (l, l+2), (0, 1).
DBK_AVX512 DBK_INLINE float dbk_hsum(__m512 a) {
    __m256 r8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m128 r4 = _mm_add_ps(_mm256_castps256_ps128(r8), _mm256_extractf128_ps(r8, 1));
    __m128 r2 = _mm_add_ps(r4, _mm_movehl_ps(r4, r4));
    __m128 r1 = _mm_add_ss(r2, _mm_shuffle_ps(r2, r2, 1));
    return _mm_cvtss_f32(r1);
}

// MB rows of x times NB rows of W over all of K; MB, NB are compile-time constants at every call.
DBK_AVX512 DBK_INLINE void dbk_tile(const float *x, int64_t ldx, const float *w, int64_t ldw, const float *bias,
                                    float *y, int64_t ldy, int64_t k, int MB, int NB) {
    __m512 acc[6][8];
    for (int i = 0; i < MB; i++)
        for (int j = 0; j < NB; j++) acc[i][j] = _mm512_setzero_ps();
    int64_t k0 = 0;
    for (; k0 + 16 <= k; k0 += 16) {
        __m512 wv[8];
        for (int j = 0; j < NB; j++) wv[j] = _mm512_loadu_ps(w + j * ldw + k0);
        for (int i = 0; i < MB; i++) {
            __m512 xv = _mm512_loadu_ps(x + i * ldx + k0);
            for (int j = 0; j < NB; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    if (k0 < k) {
        __mmask16 mask = (__mmask16)((1u << (k - k0)) - 1);
        __m512 wv[8];
        for (int j = 0; j < NB; j++) wv[j] = _mm512_maskz_loadu_ps(mask, w + j * ldw + k0);
        for (int i = 0; i < MB; i++) {
            __m512 xv = _mm512_maskz_loadu_ps(mask, x + i * ldx + k0);
            for (int j = 0; j < NB; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < MB; i++)
        for (int j = 0; j < NB; j++) {
            float s = dbk_hsum(acc[i][j]);
            y[i * ldy + j] = bias ? s + bias[j] : s;
        }
}

#define DBK_TILE_FN(MB, NB)                                                                                    \
    DBK_AVX512 __attribute__((noinline)) static void dbk_tile_##MB##x##NB(                                    \
        const float *x, int64_t ldx, const float *w, int64_t ldw, const float *bias, float *y, int64_t ldy,   \
        int64_t k) {                                                                                           \
        dbk_tile(x, ldx, w, ldw, bias, y, ldy, k, MB, NB);                                                     \
    }
DBK_TILE_FN(1, 8)
DBK_TILE_FN(2, 8)
DBK_TILE_FN(1, 4)
DBK_TILE_FN(2, 4)
DBK_TILE_FN(3, 4)
DBK_TILE_FN(4, 4)
DBK_TILE_FN(5, 4)
DBK_TILE_FN(6, 4)
DBK_TILE_FN(1, 1)
DBK_TILE_FN(2, 1)
DBK_TILE_FN(3, 1)
DBK_TILE_FN(4, 1)
DBK_TILE_FN(5, 1)
DBK_TILE_FN(6, 1)

typedef void (*dbk_tile_fn)(const float *, int64_t, const float *, int64_t, const float *, float *, int64_t, int64_t);
static const dbk_tile_fn dbk_tiles4[7] = {0, dbk_tile_1x4, dbk_tile_2x4, dbk_tile_3x4, dbk_tile_4x4, dbk_tile_5x4, dbk_tile_6x4};
static const dbk_tile_fn dbk_tiles1[7] = {0, dbk_tile_1x1, dbk_tile_2x1, dbk_tile_3x1, dbk_tile_4x1, dbk_tile_5x1, dbk_tile_6x1};

DBK_AVX512 static void dbk_linear_avx512(const float *x, int64_t ldx, const float *w, int64_t ldw, const float *bias,
                                         float *y, int64_t ldy, int64_t m, int64_t k, int64_t j0, int64_t j1) {
    int64_t j = j0;
    if (m <= 2) {
        // Memory-bound: eight W rows in flight per pass.
        for (; j + 8 <= j1; j += 8) {
            const float *bj = bias ? bias + j : NULL;
            if (m == 1) dbk_tile_1x8(x, ldx, w + j * ldw, ldw, bj, y + j, ldy, k);
            else dbk_tile_2x8(x, ldx, w + j * ldw, ldw, bj, y + j, ldy, k);
        }
    }
    for (; j + 4 <= j1; j += 4) {
        // The W tile (4 rows) stays in L1 while every block of up to 6 rows of x passes over it.
        for (int64_t i = 0; i < m; i += 6) {
            int64_t mb = m - i < 6 ? m - i : 6;
            dbk_tiles4[mb](x + i * ldx, ldx, w + j * ldw, ldw, bias ? bias + j : NULL, y + i * ldy + j, ldy, k);
        }
    }
    for (; j < j1; j++) {
        for (int64_t i = 0; i < m; i += 6) {
            int64_t mb = m - i < 6 ? m - i : 6;
            dbk_tiles1[mb](x + i * ldx, ldx, w + j * ldw, ldw, bias ? bias + j : NULL, y + i * ldy + j, ldy, k);
        }
    }
}

static int dbk_has_avx512(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
    }
    return cached;
}
#endif

int dbk_linear_rowinv_isa(void) {
#ifdef DBK_X86
    return dbk_has_avx512();
#else
    return 0;
#endif
}

void dbk_linear_rowinv(const float *x, int64_t ldx, const float *w, int64_t ldw, const float *bias,
                       float *y, int64_t ldy, int64_t m, int64_t k, int64_t j0, int64_t j1) {
    if (m <= 0 || j1 <= j0) return;
#ifdef DBK_X86
    if (dbk_has_avx512()) {
        dbk_linear_avx512(x, ldx, w, ldw, bias, y, ldy, m, k, j0, j1);
        return;
    }
#endif
    dbk_linear_rowinv_portable(x, ldx, w, ldw, bias, y, ldy, m, k, j0, j1);
}
