// Element-wise kernels of transformer blocks (erf-GELU, softmax, LayerNorm); see include/kernels.h.
// Each has an AVX-512 path (selected at run time, as dbk_linear_rowinv) and a portable scalar path
// with the same formulas.
#include "kernels.h"

#include <math.h>
#include <stddef.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define DBK_X86 1
#endif

// erf: |x| <= DBK_ERF_SPLIT: x + x * P(x^2) (P's constant term is 2/sqrt(pi) - 1, so the leading x
// is added exactly); above: 1 - exp(-x^2) * R(t), t = (|x| - mid) / half mapping [split, 4] to
// [-1, 1]. Least-squares fits toward minimax in float64 (tools/fit_erf.py): relative error of P
// 4e-10, absolute error of exp(-x^2) R 1.6e-10.
#define DBK_ERF_SPLIT 0.921875f
#define DBK_ERF_CLAMP 4.0f
#define DBK_ERF_MID 2.4609375f
#define DBK_ERF_INV_HALF (1.0f / 1.5390625f)
static const float dbk_erf_p[7] = {1.283791666e-01f, -3.761263374e-01f, 1.128369558e-01f, -2.685940182e-02f,
                                   5.201039236e-03f, -8.142769305e-04f, 8.370334608e-05f};
static const float dbk_erf_r[11] = {2.137490263e-01f, -1.174813701e-01f, 6.135167661e-02f, -3.058225927e-02f,
                                    1.471120504e-02f, -6.983814335e-03f, 2.432239576e-03f, -1.642701834e-03f,
                                    1.246211753e-03f, 9.118679475e-04f, 6.410649544e-04f};

// Cephes expf: n = floor(x log2 e + 1/2), r = x - n ln 2 (two-part ln 2), exp(r) by a degree-7
// polynomial, times 2^n. Inputs clamped to [-87.3, 88.4].
#define DBK_EXP_HI 88.3762626647949f
#define DBK_EXP_LO -87.3365447504019f
#define DBK_LOG2E 1.44269504088896341f
#define DBK_LN2_HI 0.693359375f
#define DBK_LN2_LO -2.12194440e-4f
static const float dbk_exp_p[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                   4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

// MARK: - Portable

static float dbk_exp_scalar(float x) {
    x = fminf(fmaxf(x, DBK_EXP_LO), DBK_EXP_HI);
    float n = floorf(fmaf(x, DBK_LOG2E, 0.5f));
    float r = fmaf(n, -DBK_LN2_HI, x);
    r = fmaf(n, -DBK_LN2_LO, r);
    float y = dbk_exp_p[0];
    for (int i = 1; i < 6; i++) y = fmaf(y, r, dbk_exp_p[i]);
    y = fmaf(y, r * r, r + 1.0f);
    return ldexpf(y, (int)n);
}

static float dbk_erf_scalar(float x) {
    float ax = fminf(fabsf(x), DBK_ERF_CLAMP), z = ax * ax, y;
    if (ax <= DBK_ERF_SPLIT) {
        float p = dbk_erf_p[6];
        for (int i = 5; i >= 0; i--) p = fmaf(p, z, dbk_erf_p[i]);
        y = fmaf(ax, p, ax);
    } else {
        float t = (ax - DBK_ERF_MID) * DBK_ERF_INV_HALF, r = dbk_erf_r[10];
        for (int i = 9; i >= 0; i--) r = fmaf(r, t, dbk_erf_r[i]);
        y = 1.0f - dbk_exp_scalar(-z) * r;
    }
    return copysignf(y, x);
}

static void dbk_softmax_row_scalar(float *s, int64_t n) {
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) m = fmaxf(m, s[i]);
    float sum = 0;
    for (int64_t i = 0; i < n; i++) {
        s[i] = dbk_exp_scalar(s[i] - m);
        sum += s[i];
    }
    float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++) s[i] *= inv;
}

static void dbk_layer_norm_row_scalar(const float *x, float *y, int64_t d, const float *w, const float *b, float eps) {
    float sum = 0;
    for (int64_t i = 0; i < d; i++) sum += x[i];
    float mean = sum / (float)d, ss = 0;
    for (int64_t i = 0; i < d; i++) ss += (x[i] - mean) * (x[i] - mean);
    float inv = 1.0f / sqrtf(ss / (float)d + eps);
    for (int64_t i = 0; i < d; i++) {
        float v = (x[i] - mean) * inv;
        if (w) v *= w[i];
        if (b) v += b[i];
        y[i] = v;
    }
}

#ifdef DBK_X86
// MARK: - AVX-512

#define DBK_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,fma")))
#define DBK_INLINE static inline __attribute__((always_inline))

DBK_AVX512 DBK_INLINE __m512 dbk_exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(DBK_EXP_LO)), _mm512_set1_ps(DBK_EXP_HI));
    __m512 n = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(DBK_LOG2E), _mm512_set1_ps(0.5f)),
                                    _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(DBK_LN2_HI), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(DBK_LN2_LO), r);
    __m512 y = _mm512_set1_ps(dbk_exp_p[0]);
    for (int i = 1; i < 6; i++) y = _mm512_fmadd_ps(y, r, _mm512_set1_ps(dbk_exp_p[i]));
    y = _mm512_fmadd_ps(y, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(y, n);
}

DBK_AVX512 DBK_INLINE __m512 dbk_erf16(__m512 x) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    __m512 ax = _mm512_min_ps(_mm512_andnot_ps(sign, x), _mm512_set1_ps(DBK_ERF_CLAMP));
    __m512 z = _mm512_mul_ps(ax, ax);
    __m512 p = _mm512_set1_ps(dbk_erf_p[6]);
    for (int i = 5; i >= 0; i--) p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(dbk_erf_p[i]));
    __m512 small = _mm512_fmadd_ps(ax, p, ax);
    __m512 t = _mm512_mul_ps(_mm512_sub_ps(ax, _mm512_set1_ps(DBK_ERF_MID)), _mm512_set1_ps(DBK_ERF_INV_HALF));
    __m512 r = _mm512_set1_ps(dbk_erf_r[10]);
    for (int i = 9; i >= 0; i--) r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(dbk_erf_r[i]));
    __m512 big = _mm512_fnmadd_ps(dbk_exp16(_mm512_sub_ps(_mm512_setzero_ps(), z)), r, _mm512_set1_ps(1.0f));
    __mmask16 isSmall = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(DBK_ERF_SPLIT), _CMP_LE_OQ);
    __m512 y = _mm512_mask_blend_ps(isSmall, big, small);
    return _mm512_or_ps(y, _mm512_and_ps(sign, x));
}

DBK_AVX512 static void dbk_erf_avx512(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, dbk_erf16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, dbk_erf16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

DBK_AVX512 DBK_INLINE __m512 dbk_gelu16(__m512 x) {
    __m512 e = dbk_erf16(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752440f)));
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), _mm512_add_ps(e, _mm512_set1_ps(1.0f)));
}

DBK_AVX512 static void dbk_gelu_avx512(float *x, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, dbk_gelu16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(x + i, m, dbk_gelu16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

DBK_AVX512 static void dbk_softmax_row_avx512(float *s, int64_t n) {
    int64_t full = n & ~(int64_t)15;
    __mmask16 tail = (__mmask16)((1u << (n - full)) - 1);
    __m512 mv = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < full; i += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(s + i));
    if (tail) mv = _mm512_max_ps(mv, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), tail, s + full));
    __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mv));
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < full; i += 16) {
        __m512 e = dbk_exp16(_mm512_sub_ps(_mm512_loadu_ps(s + i), m));
        _mm512_storeu_ps(s + i, e);
        acc = _mm512_add_ps(acc, e);
    }
    if (tail) {
        __m512 e = dbk_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, s + full), m));
        _mm512_mask_storeu_ps(s + full, tail, e);
        acc = _mm512_mask_add_ps(acc, tail, acc, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(acc));
    for (int64_t i = 0; i < full; i += 16) _mm512_storeu_ps(s + i, _mm512_mul_ps(_mm512_loadu_ps(s + i), inv));
    if (tail) _mm512_mask_storeu_ps(s + full, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, s + full), inv));
}

DBK_AVX512 static void dbk_layer_norm_row_avx512(const float *x, float *y, int64_t d, const float *w, const float *b,
                                                 float eps) {
    int64_t full = d & ~(int64_t)15;
    __mmask16 tail = (__mmask16)((1u << (d - full)) - 1);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < full; i += 16) acc = _mm512_add_ps(acc, _mm512_loadu_ps(x + i));
    if (tail) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(tail, x + full));
    float mean = _mm512_reduce_add_ps(acc) / (float)d;
    __m512 mv = _mm512_set1_ps(mean);
    acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < full; i += 16) {
        __m512 c = _mm512_sub_ps(_mm512_loadu_ps(x + i), mv);
        acc = _mm512_fmadd_ps(c, c, acc);
    }
    if (tail) {
        __m512 c = _mm512_maskz_sub_ps(tail, _mm512_maskz_loadu_ps(tail, x + full), mv);
        acc = _mm512_fmadd_ps(c, c, acc);
    }
    __m512 inv = _mm512_set1_ps(1.0f / sqrtf(_mm512_reduce_add_ps(acc) / (float)d + eps));
    for (int64_t i = 0; i < d; i += 16) {
        __mmask16 k = i < full ? (__mmask16)0xFFFF : tail;
        __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), mv), inv);
        if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(k, w + i));
        if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, b + i));
        _mm512_mask_storeu_ps(y + i, k, v);
    }
}
#endif


// MARK: - Entry points

int dbk_transformer_isa(void) { return dbk_linear_rowinv_isa(); }

void dbk_erf_portable(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = dbk_erf_scalar(x[i]);
}

void dbk_erf(const float *x, float *y, int64_t n) {
#ifdef DBK_X86
    if (dbk_transformer_isa()) {
        dbk_erf_avx512(x, y, n);
        return;
    }
#endif
    dbk_erf_portable(x, y, n);
}

void dbk_gelu_erf(float *x, int64_t n) {
#ifdef DBK_X86
    if (dbk_transformer_isa()) {
        dbk_gelu_avx512(x, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) x[i] = x[i] * 0.5f * (1.0f + dbk_erf_scalar(x[i] * 0.70710678118654752440f));
}

void dbk_softmax_rows(float *s, int64_t rows, int64_t cols, int64_t ld) {
    if (cols <= 0) return;
#ifdef DBK_X86
    if (dbk_transformer_isa()) {
        for (int64_t r = 0; r < rows; r++) dbk_softmax_row_avx512(s + r * ld, cols);
        return;
    }
#endif
    for (int64_t r = 0; r < rows; r++) dbk_softmax_row_scalar(s + r * ld, cols);
}

void dbk_layer_norm_rows(const float *x, float *y, int64_t rows, int64_t d, const float *w, const float *b, float eps) {
    if (d <= 0) return;
#ifdef DBK_X86
    if (dbk_transformer_isa()) {
        for (int64_t r = 0; r < rows; r++) dbk_layer_norm_row_avx512(x + r * d, y + r * d, d, w, b, eps);
        return;
    }
#endif
    for (int64_t r = 0; r < rows; r++) dbk_layer_norm_row_scalar(x + r * d, y + r * d, d, w, b, eps);
}

// MARK: - Attention of one head (AVX-512 only; callers fall back to sgemm without it)

#ifdef DBK_X86
// Rows [i0, i0 + MB) of s = scale * q kᵀ for the 32 keys whose transposed panel kt (hd x 32) is
// given; q rows have stride ldq, s rows stride lds.
DBK_AVX512 DBK_INLINE void dbk_qk_tile(const float *q, int64_t ldq, const float *kt, int64_t hd, float scale,
                                       float *s, int64_t lds, int MB) {
    __m512 acc[6][2];
    for (int i = 0; i < MB; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int64_t e = 0; e < hd; e++) {
        __m512 k0 = _mm512_loadu_ps(kt + e * 32), k1 = _mm512_loadu_ps(kt + e * 32 + 16);
        for (int i = 0; i < MB; i++) {
            __m512 qv = _mm512_set1_ps(q[i * ldq + e]);
            acc[i][0] = _mm512_fmadd_ps(qv, k0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(qv, k1, acc[i][1]);
        }
    }
    __m512 sv = _mm512_set1_ps(scale);
    for (int i = 0; i < MB; i++) {
        _mm512_storeu_ps(s + i * lds, _mm512_mul_ps(acc[i][0], sv));
        _mm512_storeu_ps(s + i * lds + 16, _mm512_mul_ps(acc[i][1], sv));
    }
}

// Rows [0, MB) of out = p v for hd = 64: p rows stride ldp over t keys, v rows stride ldv.
DBK_AVX512 DBK_INLINE void dbk_pv_tile64(const float *p, int64_t ldp, const float *v, int64_t ldv, int64_t t,
                                         float *o, int64_t ldo, int MB) {
    __m512 acc[6][4];
    for (int i = 0; i < MB; i++)
        for (int c = 0; c < 4; c++) acc[i][c] = _mm512_setzero_ps();
    for (int64_t j = 0; j < t; j++) {
        const float *vj = v + j * ldv;
        __m512 v0 = _mm512_loadu_ps(vj), v1 = _mm512_loadu_ps(vj + 16), v2 = _mm512_loadu_ps(vj + 32),
               v3 = _mm512_loadu_ps(vj + 48);
        for (int i = 0; i < MB; i++) {
            __m512 pv = _mm512_set1_ps(p[i * ldp + j]);
            acc[i][0] = _mm512_fmadd_ps(pv, v0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(pv, v1, acc[i][1]);
            acc[i][2] = _mm512_fmadd_ps(pv, v2, acc[i][2]);
            acc[i][3] = _mm512_fmadd_ps(pv, v3, acc[i][3]);
        }
    }
    for (int i = 0; i < MB; i++)
        for (int c = 0; c < 4; c++) _mm512_storeu_ps(o + i * ldo + 16 * c, acc[i][c]);
}

#define DBK_ATTN_FN(MB)                                                                                        \
    DBK_AVX512 __attribute__((noinline)) static void dbk_qk_##MB(const float *q, int64_t ldq, const float *kt,  \
                                                                 int64_t hd, float scale, float *s, int64_t lds) { \
        dbk_qk_tile(q, ldq, kt, hd, scale, s, lds, MB);                                                       \
    }                                                                                                          \
    DBK_AVX512 __attribute__((noinline)) static void dbk_pv_##MB(const float *p, int64_t ldp, const float *v,  \
                                                                 int64_t ldv, int64_t t, float *o, int64_t ldo) { \
        dbk_pv_tile64(p, ldp, v, ldv, t, o, ldo, MB);                                                         \
    }
DBK_ATTN_FN(1)
DBK_ATTN_FN(2)
DBK_ATTN_FN(3)
DBK_ATTN_FN(4)
DBK_ATTN_FN(5)
DBK_ATTN_FN(6)
typedef void (*dbk_qk_fn)(const float *, int64_t, const float *, int64_t, float, float *, int64_t);
typedef void (*dbk_pv_fn)(const float *, int64_t, const float *, int64_t, int64_t, float *, int64_t);
static const dbk_qk_fn dbk_qk_tiles[7] = {0, dbk_qk_1, dbk_qk_2, dbk_qk_3, dbk_qk_4, dbk_qk_5, dbk_qk_6};
static const dbk_pv_fn dbk_pv_tiles[7] = {0, dbk_pv_1, dbk_pv_2, dbk_pv_3, dbk_pv_4, dbk_pv_5, dbk_pv_6};

static uint64_t dbk_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

DBK_AVX512 static void dbk_attention_head_avx512(const float *q, const float *k, const float *v, int64_t ld, int64_t t,
                                                 int64_t hd, float scale, float *out, int64_t ldo, float *work,
                                                 uint64_t *phase_ns) {
    uint64_t t0 = phase_ns ? dbk_now_ns() : 0, t1 = 0, t2 = 0;
    int64_t tp = (t + 31) & ~(int64_t)31;
    float *s = work, *kt = work + t * tp;   // scores (t x tp), one transposed key panel (hd x 32)
    for (int64_t j0 = 0; j0 < tp; j0 += 32) {
        // kt[e][jj] = k[j0 + jj][e], zero beyond t.
        for (int64_t jj = 0; jj < 32; jj++) {
            int64_t j = j0 + jj;
            for (int64_t e = 0; e < hd; e++) kt[e * 32 + jj] = j < t ? k[j * ld + e] : 0.0f;
        }
        for (int64_t i = 0; i < t; i += 6) {
            int mb = t - i < 6 ? (int)(t - i) : 6;
            dbk_qk_tiles[mb](q + i * ld, ld, kt, hd, scale, s + i * tp + j0, tp);
        }
    }
    if (phase_ns) t1 = dbk_now_ns();
    dbk_softmax_rows(s, t, t, tp);
    if (phase_ns) t2 = dbk_now_ns();
    for (int64_t i = 0; i < t; i += 6) {
        int mb = t - i < 6 ? (int)(t - i) : 6;
        dbk_pv_tiles[mb](s + i * tp, tp, v, ld, t, out + i * ldo, ldo);
    }
    if (phase_ns) {
        uint64_t t3 = dbk_now_ns();
        phase_ns[0] += t1 - t0;
        phase_ns[1] += t2 - t1;
        phase_ns[2] += t3 - t2;
    }
}
#endif

int64_t dbk_attention_head_work(int64_t t, int64_t hd) {
    int64_t tp = (t + 31) & ~(int64_t)31;
    return t * tp + hd * 32;
}

int dbk_attention_head(const float *q, const float *k, const float *v, int64_t ld, int64_t t, int64_t hd, float scale,
                       float *out, int64_t ldo, float *work, uint64_t *phase_ns) {
#ifdef DBK_X86
    if (hd == 64 && dbk_transformer_isa()) {
        dbk_attention_head_avx512(q, k, v, ld, t, hd, scale, out, ldo, work, phase_ns);
        return 1;
    }
#endif
    return 0;
}
