// OpenBLAS: CBLAS plus the few Fortran LAPACK symbols digit-bench calls.
// Debian's libopenblas exports the Fortran symbols (dsyevd_, dgesdd_, …) but ships no lapacke.h,
// so their prototypes are declared here. All arguments are pointers (Fortran calling convention);
// hidden string-length arguments are appended as size_t, as gfortran passes them.
#pragma once
#include <stddef.h>
#include <cblas.h>

// Symmetric eigendecomposition (divide and conquer), double precision.
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
             double *w, double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_len, size_t uplo_len);
// Symmetric eigendecomposition, single precision.
void ssyevd_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda,
             float *w, float *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_len, size_t uplo_len);
// Singular value decomposition (divide and conquer), double precision.
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda, double *s,
             double *u, const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork,
             int *iwork, int *info, size_t jobz_len);
// Real Schur decomposition (general matrix), double precision.
void dgees_(const char *jobvs, const char *sort, int (*select)(const double *, const double *),
            const int *n, double *a, const int *lda, int *sdim, double *wr, double *wi, double *vs,
            const int *ldvs, double *work, const int *lwork, int *bwork, int *info,
            size_t jobvs_len, size_t sort_len);
// Cholesky factorisation and solve, double precision.
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info, size_t uplo_len);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda,
             double *b, const int *ldb, int *info, size_t uplo_len);
// Reduction of the symmetric-definite generalized eigenproblem to standard form (itype 2/3 with
// uplo "L": A := Lᵀ A L for the dpotrf factor B = L Lᵀ), double precision.
void dsygst_(const int *itype, const char *uplo, const int *n, double *a, const int *lda,
             const double *b, const int *ldb, int *info, size_t uplo_len);
// Two-stage tridiagonalisation pieces, double precision: full symmetric -> band of half-width kd
// (level 3), one bulge-chasing task on the band (the kernel dsytrd_sb2st schedules; LOGICAL wantz
// as int), and the eigenvalues of a symmetric tridiagonal matrix (Pal-Walker-Kahan QL/QR).
void dsytrd_sy2sb_(const char *uplo, const int *n, const int *kd, double *a, const int *lda, double *ab,
                   const int *ldab, double *tau, double *work, const int *lwork, int *info, size_t uplo_len);
// QR factorisations for digit-bench's own band reduction: blocked (with T by dlarft) and
// recursive (V and the block reflector's T in one level-3 call; needs m >= n).
void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau, double *work, const int *lwork,
             int *info);
void dlarft_(const char *direct, const char *storev, const int *n, const int *k, double *v, const int *ldv,
             const double *tau, double *t, const int *ldt, size_t direct_len, size_t storev_len);
void dgeqrt3_(const int *m, const int *n, double *a, const int *lda, double *t, const int *ldt, int *info);
void dsb2st_kernels_(const char *uplo, const int *wantz, const int *ttype, const int *st, const int *ed,
                     const int *sweep, const int *n, const int *nb, const int *ib, double *a, const int *lda,
                     double *v, double *tau, const int *ldvt, double *work, size_t uplo_len);
void dsterf_(const int *n, double *d, double *e, int *info);
// General linear solve, double precision.
void dgesv_(const int *n, const int *nrhs, double *a, const int *lda, int *ipiv, double *b,
            const int *ldb, int *info);

// openblas_set_num_threads, openblas_get_num_threads, openblas_get_config and
// openblas_get_corename come from cblas.h.
