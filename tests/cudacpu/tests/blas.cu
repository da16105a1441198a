/* cuBLAS usage for the cudacpu tests.  Plain CUDA + cuBLAS: compiled
 * through cudacpu-cc for the tests and with nvcc -arch=sm_80 -c as a check. */
#include "kernels.h"
#include <cublas_v2.h>
#include <cmath>

#define CKB(call)                                                    \
  do {                                                               \
    cublasStatus_t s_ = (call);                                      \
    if (s_ != CUBLAS_STATUS_SUCCESS) { st = (int)s_; goto out; }     \
  } while (0)
#define CKC(call)                                                    \
  do {                                                               \
    if ((call) != cudaSuccess) { st = -1; goto out; }                \
  } while (0)

static size_t extent(int op, int rows_n, int cols_n, int ld) {
  /* elements of a column-major matrix that is rows_n x cols_n when op == N */
  int cols = op == 0 ? cols_n : rows_n;
  return (size_t)ld * (size_t)(cols > 0 ? cols : 1);
}

int run_cublas_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc, int tf32) {
  int st = 0;
  cublasHandle_t h = nullptr;
  float *dA = nullptr, *dB = nullptr, *dC = nullptr;
  size_t na = extent(ta, m, k, lda), nb = extent(tb, k, n, ldb), nc = (size_t)ldc * n;
  cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  CKB(cublasCreate(&h));
  if (tf32) CKB(cublasSetMathMode(h, CUBLAS_TF32_TENSOR_OP_MATH));
  CKC(cudaMalloc(&dA, na * sizeof(float)));
  CKC(cudaMalloc(&dB, nb * sizeof(float)));
  CKC(cudaMalloc(&dC, nc * sizeof(float)));
  CKC(cudaMemcpy(dA, A, na * sizeof(float), cudaMemcpyHostToDevice));
  CKC(cudaMemcpy(dB, B, nb * sizeof(float), cudaMemcpyHostToDevice));
  CKC(cudaMemcpy(dC, C, nc * sizeof(float), cudaMemcpyHostToDevice));
  CKB(cublasSgemm(h, oa, ob, m, n, k, &alpha, dA, lda, dB, ldb, &beta, dC, ldc));
  CKC(cudaMemcpy(C, dC, nc * sizeof(float), cudaMemcpyDeviceToHost));
out:
  cudaFree(dA);
  cudaFree(dB);
  cudaFree(dC);
  if (h) cublasDestroy(h);
  return st;
}

int run_cublas_sgemm_strided(int m, int n, int k, const float *A, const float *B, float *C,
                             int batch) {
  int st = 0;
  cublasHandle_t h = nullptr;
  cudaStream_t s = nullptr, got = nullptr;
  float *dA = nullptr, *dB = nullptr, *dC = nullptr;
  const float one = 1.0f, zero = 0.0f;
  size_t sa = (size_t)m * k, sb = (size_t)k * n, sc = (size_t)m * n;
  CKB(cublasCreate(&h));
  CKC(cudaStreamCreate(&s));
  CKB(cublasSetStream(h, s));
  CKB(cublasGetStream(h, &got));
  if (got != s) { st = -2; goto out; }
  CKC(cudaMalloc(&dA, sa * batch * sizeof(float)));
  CKC(cudaMalloc(&dB, sb * batch * sizeof(float)));
  CKC(cudaMalloc(&dC, sc * batch * sizeof(float)));
  CKC(cudaMemcpy(dA, A, sa * batch * sizeof(float), cudaMemcpyHostToDevice));
  CKC(cudaMemcpy(dB, B, sb * batch * sizeof(float), cudaMemcpyHostToDevice));
  CKB(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dA, m, (long long)sa,
                                dB, k, (long long)sb, &zero, dC, m, (long long)sc, batch));
  CKC(cudaStreamSynchronize(s));
  CKC(cudaMemcpy(C, dC, sc * batch * sizeof(float), cudaMemcpyDeviceToHost));
out:
  cudaFree(dA);
  cudaFree(dB);
  cudaFree(dC);
  if (h) cublasDestroy(h);
  if (s) cudaStreamDestroy(s);
  return st;
}

int cublas_sgemm_status(int ta, int tb, int m, int n, int k, int lda, int ldb, int ldc) {
  int st = 0;
  cublasHandle_t h = nullptr;
  float *d = nullptr;
  const float one = 1.0f;
  CKB(cublasCreate(&h));
  CKC(cudaMalloc(&d, 1 << 16));
  st = (int)cublasSgemm(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n,
                        k, &one, d, lda, d, ldb, &one, d, ldc);
out:
  cudaFree(d);
  if (h) cublasDestroy(h);
  return st;
}

int cublas_handle_checks(void) {
  cublasHandle_t h;
  cublasMath_t mm;
  if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) return 1;
  if (cublasSetMathMode(h, CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS) return 2;
  if (cublasGetMathMode(h, &mm) != CUBLAS_STATUS_SUCCESS || mm != CUBLAS_DEFAULT_MATH) return 3;
  if (cublasDestroy(h) != CUBLAS_STATUS_SUCCESS) return 4;
  if (cublasGetStatusString(CUBLAS_STATUS_INVALID_VALUE) == nullptr) return 5;
  return 0;
}
