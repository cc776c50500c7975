// Shifted traces of an SPD tridiagonal matrix; see include/tridiag_trace.h for the contract.
// Eight shifts per call, one per vector lane: the recurrences are serial in k (a division each),
// so the lanes are what keeps the divider busy. No contraction into fused multiply-adds (there is
// no product to fuse, and this keeps the vector and portable paths bit-identical).
#include "tridiag_trace.h"
#include "kernels.h"

#pragma clang fp contract(off)

int dbk_tridiag_positive_definite(int64_t n, const double *d, const double *e2) {
    if (n <= 0) return 1;
    double p = d[0];
    if (!(p > 0)) return 0;
    for (int64_t k = 1; k < n; k++) {
        p = d[k] - e2[k - 1] / p;
        if (!(p > 0)) return 0;
    }
    return 1;
}

#define TT_LANES 8

#define TT_BODY                                                                                    \
    double dp[TT_LANES];                                                                           \
    for (int l = 0; l < TT_LANES; l++) {                                                           \
        scratch[l] = 0;                                                                            \
        dp[l] = d[0] + s[l];                                                                       \
    }                                                                                              \
    for (int64_t k = 1; k < n; k++) {                                                              \
        double *pk = scratch + k * TT_LANES;                                                       \
        const double b2 = e2[k - 1], dk = d[k];                                                    \
        for (int l = 0; l < TT_LANES; l++) {                                                       \
            const double q = b2 / dp[l];                                                           \
            pk[l] = q;                                                                             \
            dp[l] = (dk + s[l]) - q;                                                               \
        }                                                                                          \
    }                                                                                              \
    double dm[TT_LANES], acc[TT_LANES], comp[TT_LANES];                                            \
    for (int l = 0; l < TT_LANES; l++) {                                                           \
        dm[l] = 1;                                                                                 \
        acc[l] = 0;                                                                                \
        comp[l] = 0;                                                                               \
    }                                                                                              \
    for (int64_t k = n - 1; k >= 0; k--) {                                                         \
        const double *pk = scratch + k * TT_LANES;                                                 \
        const double dk = d[k], b2 = k < n - 1 ? e2[k] : 0;                                        \
        for (int l = 0; l < TT_LANES; l++) {                                                       \
            const double q = b2 / dm[l];                                                           \
            const double schur = (dk - pk[l]) - q;                                                 \
            const double gamma = schur + s[l];                                                     \
            const double r = s[l] / gamma;                                                         \
            double term = r <= 0.5 ? 1.0 - r : schur / gamma;                                      \
            /* In exact arithmetic 0 <= term < 1; rounding on a nearly singular T can leave it  */ \
            /* outside (or NaN after a zero pivot): clamp, as dsterf's negatives are clamped.   */ \
            term = (r > 0 && term >= 0) ? (term <= 1 ? term : 1) : 0;                              \
            const double y = term - comp[l];                                                       \
            const double t = acc[l] + y;                                                           \
            comp[l] = (t - acc[l]) - y;                                                            \
            acc[l] = t;                                                                            \
            dm[l] = (dk + s[l]) - q;                                                               \
        }                                                                                          \
    }                                                                                              \
    for (int l = 0; l < TT_LANES; l++) out[l] = acc[l];

// An empty matrix: all traces 0.
static int tt_empty(int64_t n, double *out) {
    if (n > 0) return 0;
    for (int l = 0; l < TT_LANES; l++) out[l] = 0;
    return 1;
}

static void tt_portable(int64_t n, const double *d, const double *e2, const double *s, double *scratch,
                        double *out) {
    TT_BODY
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512dq,avx512vl"))) static void tt_avx512(
    int64_t n, const double *d, const double *e2, const double *s, double *scratch, double *out) {
    TT_BODY
}
#endif

void dbk_tridiag_shifted_traces8_portable(int64_t n, const double *d, const double *e2, const double *s,
                                          double *scratch, double *out) {
    if (tt_empty(n, out)) return;
    tt_portable(n, d, e2, s, scratch, out);
}

int dbk_tridiag_isa(void) {
#if defined(__x86_64__)
    return __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
    return 0;
#endif
}

void dbk_tridiag_shifted_traces8(int64_t n, const double *d, const double *e2, const double *s,
                                 double *scratch, double *out) {
    if (tt_empty(n, out)) return;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) {
        tt_avx512(n, d, e2, s, scratch, out);
        return;
    }
#endif
    tt_portable(n, d, e2, s, scratch, out);
}
