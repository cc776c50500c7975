#pragma once
// Shifted traces of a symmetric positive definite tridiagonal matrix, for tr sqrt(T) by quadrature
// (DigitMetrics' TridiagonalTrace). No model semantics live here.

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when every pivot of T = L D Lᵀ is positive (T positive definite), else 0. `d` holds the n
/// diagonal entries, `e2` the n − 1 squared off-diagonal entries.
int dbk_tridiag_positive_definite(int64_t n, const double *d, const double *e2);

/// out[l] = tr(T (T + s[l] I)⁻¹) = Σ_i λ_i / (λ_i + s[l]) for the eight shifts s[0..8) > 0 and T
/// positive definite (`dbk_tridiag_positive_definite`). Each trace is Σ_k [T (T + sI)⁻¹]_kk with
/// the diagonal of the inverse from twisted factorisations (pivots D⁺ top-down and D⁻ bottom-up,
/// γ_k = d_k + s − e_{k−1}²/D⁺_{k−1} − e_k²/D⁻_{k+1}): the entry is 1 − s/γ_k while s/γ_k ≤ 1/2,
/// else (γ_k − s)/γ_k with γ_k − s formed without adding and subtracting s (it still cancels when
/// T is nearly singular, λmin ≲ ε ‖T‖; entries are then clamped to [0, 1], their exact range); the
/// sum over k is compensated (Kahan). `scratch` holds 8 n doubles. The eight lanes are independent
/// (vectorised with AVX-512 when the CPU has it, with the same bits as the portable loop).
void dbk_tridiag_shifted_traces8(int64_t n, const double *d, const double *e2, const double *s,
                                 double *scratch, double *out);

/// The portable loop of dbk_tridiag_shifted_traces8 whatever the CPU (for tests).
void dbk_tridiag_shifted_traces8_portable(int64_t n, const double *d, const double *e2, const double *s,
                                          double *scratch, double *out);

/// 1 when dbk_tridiag_shifted_traces8 uses the AVX-512 path, 0 for the portable one.
int dbk_tridiag_isa(void);

#ifdef __cplusplus
}
#endif
