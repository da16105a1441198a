/* cudacpu stand-in for cublas_v2.h: a small cuBLAS subset mapped to plain
 * column-major reference code.  GEMMs accumulate in float32 like the GPU's (fused
 * multiply-adds in blocks of CUDACPU_GEMM_KB along k, the block sums added in order), so
 * float32 rounding is not hidden from the tests; the level-1/2 routines accumulate in
 * double.  Test builds only. */
#ifndef CUDACPU_CUBLAS_V2_H
#define CUDACPU_CUBLAS_V2_H

#include "cuda_runtime.h"
#include <cmath>
#include <set>
#include <vector>

/* the k-block of the float32 GEMM accumulation (see the top of this file) */
#ifndef CUDACPU_GEMM_KB
#define CUDACPU_GEMM_KB 32
#endif

#define CUBLAS_VER_MAJOR 13
#define CUBLAS_VER_MINOR 0
#define CUBLAS_VER_PATCH 0
#define CUBLAS_VERSION (CUBLAS_VER_MAJOR * 10000 + CUBLAS_VER_MINOR * 100 + CUBLAS_VER_PATCH)

typedef enum {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_ARCH_MISMATCH = 8,
  CUBLAS_STATUS_MAPPING_ERROR = 11,
  CUBLAS_STATUS_EXECUTION_FAILED = 13,
  CUBLAS_STATUS_INTERNAL_ERROR = 14,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
  CUBLAS_STATUS_LICENSE_ERROR = 16
} cublasStatus_t;
typedef enum {
  CUBLAS_OP_N = 0,
  CUBLAS_OP_T = 1,
  CUBLAS_OP_C = 2,
  CUBLAS_OP_HERMITAN = 2,
  CUBLAS_OP_CONJG = 3
} cublasOperation_t;
typedef enum { CUBLAS_POINTER_MODE_HOST = 0, CUBLAS_POINTER_MODE_DEVICE = 1 } cublasPointerMode_t;
typedef enum {
  CUBLAS_DEFAULT_MATH = 0,
  CUBLAS_TENSOR_OP_MATH = 1,
  CUBLAS_PEDANTIC_MATH = 2,
  CUBLAS_TF32_TENSOR_OP_MATH = 3,
  CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16
} cublasMath_t;
typedef enum { CUBLAS_ATOMICS_NOT_ALLOWED = 0, CUBLAS_ATOMICS_ALLOWED = 1 } cublasAtomicsMode_t;

struct cublasContext {
  cudaStream_t stream;
  cublasMath_t math;
  cublasPointerMode_t pmode;
  cublasAtomicsMode_t atomics;
};
typedef struct cublasContext *cublasHandle_t;

namespace cudacpu {
namespace blas {
struct Handles {
  std::mutex m;
  std::set<cublasHandle_t> live;
};
inline Handles &handles() {
  static Handles h;
  return h;
}
inline bool valid(cublasHandle_t h) {
  std::lock_guard<std::mutex> g(handles().m);
  return h && handles().live.count(h);
}
inline bool op_ok(cublasOperation_t o) {
  return o == CUBLAS_OP_N || o == CUBLAS_OP_T || o == CUBLAS_OP_C;
}
inline int imax1(int a) { return a > 1 ? a : 1; }
inline cublasStatus_t invalid(const char *fn, const char *what) {
  cudacpu::detail::report("%s: invalid argument: %s", fn, what);
  return CUBLAS_STATUS_INVALID_VALUE;
}
/* the whole column-major extent of a rows x cols matrix must be device memory */
inline bool dev_matrix(const void *p, int rows, int cols, long long ld, size_t elt) {
  if (rows <= 0 || cols <= 0) return true;
  if (cudacpu::detail::allow_host_ptrs()) return p != nullptr;
  size_t n = ((size_t)(cols - 1) * (size_t)ld + (size_t)rows) * elt;
  return p && cudacpu::detail::mem_kind(p, n) != 0;
}
inline cublasStatus_t bad_ptr(const char *fn, const char *what, const void *p) {
  cudacpu::detail::report("%s: %s (%p) is not device memory or its extent (from the "
                          "dimensions and leading dimension) runs past the allocation",
                          fn, what, p);
  return CUBLAS_STATUS_EXECUTION_FAILED;
}
inline float tf32(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) {
    u += 0xfffu + ((u >> 13) & 1u);
    u &= 0xffffe000u;
  }
  std::memcpy(&x, &u, 4);
  return x;
}
inline float scalar(cublasHandle_t, const float *p) { return *p; }

inline cublasStatus_t gemm_check(const char *fn, cublasHandle_t h, cublasOperation_t ta,
                                 cublasOperation_t tb, int m, int n, int k, const float *alpha,
                                 const float *beta, int lda, int ldb, int ldc) {
  if (!valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!op_ok(ta)) return invalid(fn, "transa");
  if (!op_ok(tb)) return invalid(fn, "transb");
  if (m < 0) return invalid(fn, "m < 0");
  if (n < 0) return invalid(fn, "n < 0");
  if (k < 0) return invalid(fn, "k < 0");
  if (lda < imax1(ta == CUBLAS_OP_N ? m : k)) return invalid(fn, "lda too small");
  if (ldb < imax1(tb == CUBLAS_OP_N ? k : n)) return invalid(fn, "ldb too small");
  if (ldc < imax1(m)) return invalid(fn, "ldc < max(1, m)");
  if (!alpha || !beta) return invalid(fn, "alpha or beta is NULL");
  return CUBLAS_STATUS_SUCCESS;
}

/* C = alpha op(A) op(B) + beta C, column-major, one matrix */
inline cublasStatus_t gemm1(const char *fn, cublasHandle_t h, cublasOperation_t ta,
                            cublasOperation_t tb, int m, int n, int k, float alpha,
                            const float *A, int lda, const float *B, int ldb, float beta,
                            float *C, int ldc) {
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  bool useAB = k > 0 && alpha != 0.0f;
  if (useAB && !dev_matrix(A, ta == CUBLAS_OP_N ? m : k, ta == CUBLAS_OP_N ? k : m, lda, 4))
    return bad_ptr(fn, "A", A);
  if (useAB && !dev_matrix(B, tb == CUBLAS_OP_N ? k : n, tb == CUBLAS_OP_N ? n : k, ldb, 4))
    return bad_ptr(fn, "B", B);
  if (!dev_matrix(C, m, n, ldc, 4)) return bad_ptr(fn, "C", C);
  bool t32 = (h->math & 0xf) == CUBLAS_TF32_TENSOR_OP_MATH;
  std::vector<float> a, b;
  if (useAB) {
    a.resize((size_t)m * k); /* row i of op(A), contiguous */
    b.resize((size_t)n * k); /* column j of op(B), contiguous */
    for (int i = 0; i < m; ++i)
      for (int l = 0; l < k; ++l) {
        float v = ta == CUBLAS_OP_N ? A[i + (size_t)l * lda] : A[l + (size_t)i * lda];
        a[(size_t)i * k + l] = t32 ? tf32(v) : v;
      }
    for (int j = 0; j < n; ++j)
      for (int l = 0; l < k; ++l) {
        float v = tb == CUBLAS_OP_N ? B[l + (size_t)j * ldb] : B[j + (size_t)l * ldb];
        b[(size_t)j * k + l] = t32 ? tf32(v) : v;
      }
  }
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      float acc = 0.0f;
      if (useAB) {
        const float *ar = &a[(size_t)i * k], *bc = &b[(size_t)j * k];
        for (int l0 = 0; l0 < k; l0 += CUDACPU_GEMM_KB) {
          int l1 = l0 + CUDACPU_GEMM_KB < k ? l0 + CUDACPU_GEMM_KB : k;
          float blk = 0.0f;
          for (int l = l0; l < l1; ++l) blk = std::fma(ar[l], bc[l], blk);
          acc += blk;
        }
      }
      float &c = C[i + (size_t)j * ldc];
      /* beta == 0: C is not read */
      c = beta != 0.0f ? std::fma(alpha, acc, beta * c) : alpha * acc;
    }
  return CUBLAS_STATUS_SUCCESS;
}
} // namespace blas
} // namespace cudacpu

inline cublasStatus_t cublasCreate(cublasHandle_t *h) { CUDACPU_BLAS_COUNTED("cublasCreate");
  if (!h) return CUBLAS_STATUS_INVALID_VALUE;
  *h = new cublasContext{nullptr, CUBLAS_DEFAULT_MATH, CUBLAS_POINTER_MODE_HOST,
                         CUBLAS_ATOMICS_NOT_ALLOWED};
  std::lock_guard<std::mutex> g(cudacpu::blas::handles().m);
  cudacpu::blas::handles().live.insert(*h);
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasDestroy(cublasHandle_t h) { CUDACPU_BLAS_COUNTED("cublasDestroy");
  {
    std::lock_guard<std::mutex> g(cudacpu::blas::handles().m);
    if (!h || !cudacpu::blas::handles().live.erase(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  }
  delete h;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasGetVersion(cublasHandle_t h, int *v) { CUDACPU_BLAS_COUNTED("cublasGetVersion");
  if (!cudacpu::blas::valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!v) return CUBLAS_STATUS_INVALID_VALUE;
  *v = CUBLAS_VERSION;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) { CUDACPU_BLAS_COUNTED("cublasSetStream");
  if (!cudacpu::blas::valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!cudacpu::detail::stream_valid(s)) return CUBLAS_STATUS_INVALID_VALUE;
  h->stream = s;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasGetStream(cublasHandle_t h, cudaStream_t *s) { CUDACPU_BLAS_COUNTED("cublasGetStream");
  if (!cudacpu::blas::valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!s) return CUBLAS_STATUS_INVALID_VALUE;
  *s = h->stream;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) { CUDACPU_BLAS_COUNTED("cublasSetMathMode");
  if (!cudacpu::blas::valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  unsigned base = (unsigned)m & 0xfu;
  if (base > CUBLAS_TF32_TENSOR_OP_MATH || ((unsigned)m & ~0x1fu)) return CUBLAS_STATUS_INVALID_VALUE;
  h->math = m;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasGetMathMode(cublasHandle_t h, cublasMath_t *m) { CUDACPU_BLAS_COUNTED("cublasGetMathMode");
  if (!cudacpu::blas::valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!m) return CUBLAS_STATUS_INVALID_VALUE;
  *m = h->math;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetPointerMode(cublasHandle_t h, cublasPointerMode_t p) { CUDACPU_BLAS_COUNTED("cublasSetPointerMode");
  if (!cudacpu::blas::valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (p != CUBLAS_POINTER_MODE_HOST && p != CUBLAS_POINTER_MODE_DEVICE)
    return CUBLAS_STATUS_INVALID_VALUE;
  h->pmode = p;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasGetPointerMode(cublasHandle_t h, cublasPointerMode_t *p) { CUDACPU_BLAS_COUNTED("cublasGetPointerMode");
  if (!cudacpu::blas::valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!p) return CUBLAS_STATUS_INVALID_VALUE;
  *p = h->pmode;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetAtomicsMode(cublasHandle_t h, cublasAtomicsMode_t a) { CUDACPU_BLAS_COUNTED("cublasSetAtomicsMode");
  if (!cudacpu::blas::valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->atomics = a;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetWorkspace(cublasHandle_t h, void *, size_t) { CUDACPU_BLAS_COUNTED("cublasSetWorkspace");
  return cudacpu::blas::valid(h) ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}
inline const char *cublasGetStatusName(cublasStatus_t s) {
  switch (s) {
  case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
  case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
  case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
  case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
  case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
  case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
  case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
  case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
  case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
inline const char *cublasGetStatusString(cublasStatus_t s) {
  switch (s) {
  case CUBLAS_STATUS_SUCCESS: return "success";
  case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
  case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
  case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
  case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
  case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
  case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
  case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
  case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
  case CUBLAS_STATUS_LICENSE_ERROR: return "error detected trying to check the license";
  }
  return "unknown error";
}

inline cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                                  int m, int n, int k, const float *alpha, const float *A, int lda,
                                  const float *B, int ldb, const float *beta, float *C, int ldc) { CUDACPU_BLAS_COUNTED("cublasSgemm");
  cublasStatus_t s = cudacpu::blas::gemm_check("cublasSgemm", h, ta, tb, m, n, k, alpha, beta,
                                               lda, ldb, ldc);
  if (s != CUBLAS_STATUS_SUCCESS) return s;
  return cudacpu::blas::gemm1("cublasSgemm", h, ta, tb, m, n, k, *alpha, A, lda, B, ldb, *beta, C,
                              ldc);
}
inline cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta,
                                                cublasOperation_t tb, int m, int n, int k,
                                                const float *alpha, const float *A, int lda,
                                                long long strideA, const float *B, int ldb,
                                                long long strideB, const float *beta, float *C,
                                                int ldc, long long strideC, int batchCount) { CUDACPU_BLAS_COUNTED("cublasSgemmStridedBatched");
  const char *fn = "cublasSgemmStridedBatched";
  cublasStatus_t s = cudacpu::blas::gemm_check(fn, h, ta, tb, m, n, k, alpha, beta, lda, ldb, ldc);
  if (s != CUBLAS_STATUS_SUCCESS) return s;
  if (batchCount < 0) return cudacpu::blas::invalid(fn, "batchCount < 0");
  float al = *alpha, be = *beta;
  for (int b = 0; b < batchCount; ++b) {
    s = cudacpu::blas::gemm1(fn, h, ta, tb, m, n, k, al, A + b * strideA, lda, B + b * strideB,
                             ldb, be, C + b * strideC, ldc);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
  }
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSgemmBatched(cublasHandle_t h, cublasOperation_t ta,
                                         cublasOperation_t tb, int m, int n, int k,
                                         const float *alpha, const float *const Aarray[], int lda,
                                         const float *const Barray[], int ldb, const float *beta,
                                         float *const Carray[], int ldc, int batchCount) { CUDACPU_BLAS_COUNTED("cublasSgemmBatched");
  const char *fn = "cublasSgemmBatched";
  cublasStatus_t s = cudacpu::blas::gemm_check(fn, h, ta, tb, m, n, k, alpha, beta, lda, ldb, ldc);
  if (s != CUBLAS_STATUS_SUCCESS) return s;
  if (batchCount < 0) return cudacpu::blas::invalid(fn, "batchCount < 0");
  if (batchCount == 0) return CUBLAS_STATUS_SUCCESS;
  size_t pb = sizeof(void *) * (size_t)batchCount;
  if (!cudacpu::detail::allow_host_ptrs() &&
      (!cudacpu::detail::mem_kind(Aarray, pb) || !cudacpu::detail::mem_kind(Barray, pb) ||
       !cudacpu::detail::mem_kind(Carray, pb)))
    return cudacpu::blas::bad_ptr(fn, "pointer array", Aarray);
  float al = *alpha, be = *beta;
  for (int b = 0; b < batchCount; ++b) {
    s = cudacpu::blas::gemm1(fn, h, ta, tb, m, n, k, al, Aarray[b], lda, Barray[b], ldb, be,
                             Carray[b], ldc);
    if (s != CUBLAS_STATUS_SUCCESS) return s;
  }
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSgemv(cublasHandle_t h, cublasOperation_t t, int m, int n,
                                  const float *alpha, const float *A, int lda, const float *x,
                                  int incx, const float *beta, float *y, int incy) { CUDACPU_BLAS_COUNTED("cublasSgemv");
  const char *fn = "cublasSgemv";
  if (!cudacpu::blas::valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!cudacpu::blas::op_ok(t)) return cudacpu::blas::invalid(fn, "trans");
  if (m < 0 || n < 0) return cudacpu::blas::invalid(fn, "m or n < 0");
  if (lda < cudacpu::blas::imax1(m)) return cudacpu::blas::invalid(fn, "lda < max(1, m)");
  if (incx == 0 || incy == 0) return cudacpu::blas::invalid(fn, "incx or incy == 0");
  if (!alpha || !beta) return cudacpu::blas::invalid(fn, "alpha or beta is NULL");
  if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
  int lx = t == CUBLAS_OP_N ? n : m, ly = t == CUBLAS_OP_N ? m : n;
  if (!cudacpu::blas::dev_matrix(A, m, n, lda, 4)) return cudacpu::blas::bad_ptr(fn, "A", A);
  auto ext = [](int len, int inc) { return (size_t)(len - 1) * (size_t)(inc < 0 ? -inc : inc) + 1; };
  if (!cudacpu::blas::dev_matrix(x, (int)ext(lx, incx), 1, 1, 4)) return cudacpu::blas::bad_ptr(fn, "x", x);
  if (!cudacpu::blas::dev_matrix(y, (int)ext(ly, incy), 1, 1, 4)) return cudacpu::blas::bad_ptr(fn, "y", y);
  float al = *alpha, be = *beta;
  long long x0 = incx > 0 ? 0 : (long long)(lx - 1) * -incx;
  long long y0 = incy > 0 ? 0 : (long long)(ly - 1) * -incy;
  for (int i = 0; i < ly; ++i) {
    double acc = 0.0;
    for (int l = 0; l < lx; ++l) {
      float a = t == CUBLAS_OP_N ? A[i + (size_t)l * lda] : A[l + (size_t)i * lda];
      acc += (double)a * x[x0 + (long long)l * incx];
    }
    float &yy = y[y0 + (long long)i * incy];
    double r = (double)al * acc;
    if (be != 0.0f) r += (double)be * yy;
    yy = (float)r;
  }
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSaxpy(cublasHandle_t h, int n, const float *alpha, const float *x,
                                  int incx, float *y, int incy) { CUDACPU_BLAS_COUNTED("cublasSaxpy");
  if (!cudacpu::blas::valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!alpha) return cudacpu::blas::invalid("cublasSaxpy", "alpha is NULL");
  if (n <= 0) return CUBLAS_STATUS_SUCCESS;
  long long x0 = incx >= 0 ? 0 : (long long)(n - 1) * -incx;
  long long y0 = incy >= 0 ? 0 : (long long)(n - 1) * -incy;
  float a = *alpha;
  for (int i = 0; i < n; ++i) y[y0 + (long long)i * incy] += a * x[x0 + (long long)i * incx];
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSscal(cublasHandle_t h, int n, const float *alpha, float *x, int incx) { CUDACPU_BLAS_COUNTED("cublasSscal");
  if (!cudacpu::blas::valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!alpha) return cudacpu::blas::invalid("cublasSscal", "alpha is NULL");
  if (n <= 0 || incx <= 0) return CUBLAS_STATUS_SUCCESS;
  float a = *alpha;
  for (int i = 0; i < n; ++i) x[(long long)i * incx] *= a;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSdot(cublasHandle_t h, int n, const float *x, int incx, const float *y,
                                 int incy, float *result) { CUDACPU_BLAS_COUNTED("cublasSdot");
  if (!cudacpu::blas::valid(h)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (!result) return cudacpu::blas::invalid("cublasSdot", "result is NULL");
  double acc = 0.0;
  if (n > 0) {
    long long x0 = incx >= 0 ? 0 : (long long)(n - 1) * -incx;
    long long y0 = incy >= 0 ? 0 : (long long)(n - 1) * -incy;
    for (int i = 0; i < n; ++i)
      acc += (double)x[x0 + (long long)i * incx] * y[y0 + (long long)i * incy];
  }
  *result = (float)acc;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetMatrix(int rows, int cols, int elt, const void *A, int lda, void *B,
                                      int ldb) { CUDACPU_BLAS_COUNTED("cublasSetMatrix");
  if (rows < 0 || cols < 0 || elt <= 0 || lda < cudacpu::blas::imax1(rows) ||
      ldb < cudacpu::blas::imax1(rows))
    return CUBLAS_STATUS_INVALID_VALUE;
  for (int j = 0; j < cols; ++j)
    std::memmove(static_cast<char *>(B) + (size_t)j * ldb * elt,
                 static_cast<const char *>(A) + (size_t)j * lda * elt, (size_t)rows * elt);
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasGetMatrix(int rows, int cols, int elt, const void *A, int lda, void *B,
                                      int ldb) { CUDACPU_BLAS_COUNTED("cublasGetMatrix");
  return cublasSetMatrix(rows, cols, elt, A, lda, B, ldb);
}
inline cublasStatus_t cublasSetVector(int n, int elt, const void *x, int incx, void *y, int incy) { CUDACPU_BLAS_COUNTED("cublasSetVector");
  if (n < 0 || elt <= 0 || incx <= 0 || incy <= 0) return CUBLAS_STATUS_INVALID_VALUE;
  for (int i = 0; i < n; ++i)
    std::memmove(static_cast<char *>(y) + (size_t)i * incy * elt,
                 static_cast<const char *>(x) + (size_t)i * incx * elt, (size_t)elt);
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasGetVector(int n, int elt, const void *x, int incx, void *y, int incy) { CUDACPU_BLAS_COUNTED("cublasGetVector");
  return cublasSetVector(n, elt, x, incx, y, incy);
}

#endif
