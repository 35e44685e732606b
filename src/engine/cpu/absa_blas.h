/* absa_blas.h — thin typed wrappers over CBLAS (OpenBLAS) so generic kernels can write
 * ABSA_FN(absa_gemm)(...) for float and double. Row-major everywhere. */
#ifndef ABSA_BLAS_H
#define ABSA_BLAS_H
#include <cblas.h>

/* C[MxN] = alpha * op(A) op(B) + beta * C, row-major, lda/ldb/ldc as in CBLAS. */
static inline void absa_gemm_f32(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                                 int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
}
static inline void absa_gemm_f64(int ta, int tb, int M, int N, int K, double alpha, const double *A,
                                 int lda, const double *B, int ldb, double beta, double *C, int ldc)
{
    cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
}
static inline void absa_axpy_f32(int n, float a, const float *x, float *y) { cblas_saxpy(n, a, x, 1, y, 1); }
static inline void absa_axpy_f64(int n, double a, const double *x, double *y) { cblas_daxpy(n, a, x, 1, y, 1); }
#endif
