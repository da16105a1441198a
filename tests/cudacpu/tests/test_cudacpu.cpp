/* Criterion tests of the cudacpu emulator: every test kernel is compared
 * with a CPU computation. */
#include <criterion/criterion.h>
#include <cuda_runtime.h>
#include <cublas_v2.h>
#include "kernels.h"
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#define CUDA_OK(call)                                                              \
  do {                                                                             \
    cudaError_t e_ = (call);                                                       \
    cr_assert_eq(e_, cudaSuccess, "%s -> %s", #call, cudaGetErrorName(e_));        \
  } while (0)

static unsigned rng_state = 12345u;
static int irand(int lo, int hi) { /* inclusive */
  rng_state = rng_state * 1664525u + 1013904223u;
  return lo + (int)((rng_state >> 8) % (unsigned)(hi - lo + 1));
}

TestSuite(cudacpu, .timeout = 120);

Test(cudacpu, device_count) {
  int n = 0;
  CUDA_OK(cudaGetDeviceCount(&n));
  cr_assert_eq(n, 1);
  cudaDeviceProp p;
  CUDA_OK(cudaGetDeviceProperties(&p, 0));
  cr_assert_eq(p.warpSize, 32);
  cr_assert_eq(p.maxThreadsPerBlock, 1024);
  cr_assert_eq(cudaSetDevice(1), cudaErrorInvalidDevice);
  int minGrid = 0, bs = 0, nb = 0;
  void (*k)(int *) = nullptr;
  CUDA_OK(cudaOccupancyMaxPotentialBlockSize(&minGrid, &bs, k, 0, 300));
  cr_assert(bs > 0 && bs <= 300 && bs % 32 == 0 && minGrid > 0);
  CUDA_OK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&nb, k, 256, 0));
  cr_assert_eq(nb, 8);
  cr_assert_str_eq(cudaGetErrorString(cudaSuccess), "no error");
  cr_assert_str_eq(cudaGetErrorName(cudaErrorInvalidValue), "cudaErrorInvalidValue");
}

Test(cudacpu, grid_stride_saxpy) {
  const int n = 10007;
  std::vector<float> x(n), y(n), ref(n);
  for (int i = 0; i < n; ++i) {
    x[i] = (float)irand(-100, 100);
    y[i] = ref[i] = (float)irand(-100, 100);
    ref[i] = std::fma(3.0f, x[i], ref[i]);
  }
  CUDA_OK(run_saxpy(n, 3.0f, x.data(), y.data(), 7, 96)); /* grid*block << n */
  for (int i = 0; i < n; ++i) cr_assert_eq(y[i], ref[i], "i=%d", i);
}

Test(cudacpu, shared_tree_reduction) {
  const int n = 100003;
  std::vector<float> x(n);
  double ref = 0.0;
  for (int i = 0; i < n; ++i) ref += (x[i] = (float)irand(-8, 8));
  float sum = NAN;
  CUDA_OK(run_tree_sum(n, x.data(), 37, &sum));
  cr_assert_eq((double)sum, ref);
}

static void check_warp_ops(int block) {
  const int n = 4 * block;
  const int nw = n / 32, grid = n / block;
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = (float)irand(-20, 20);
  std::vector<float> down(nw), xr(n), scan(n), bc(n), seg8(n), bsum(grid);
  std::vector<unsigned> ballot(nw);
  std::vector<int> anyall(nw), red(nw), cnt(grid);
  WarpOut o{down.data(), xr.data(), scan.data(), bc.data(), seg8.data(), bsum.data(),
            ballot.data(), anyall.data(), red.data(), cnt.data()};
  CUDA_OK(run_warp_ops(n, block, x.data(), o));
  for (int w = 0; w < nw; ++w) {
    float s = 0.0f, run = 0.0f;
    unsigned b = 0;
    int any = 0, all = 1;
    for (int l = 0; l < 32; ++l) {
      float v = x[w * 32 + l];
      s += v;
      run += v;
      if (v > 0) b |= 1u << l;
      any |= v < 0;
      all &= v > -100;
      cr_assert_eq(scan[w * 32 + l], run, "scan w=%d l=%d", w, l);
      cr_assert_eq(bc[w * 32 + l], x[w * 32 + 3], "shfl w=%d l=%d", w, l);
      float g = 0.0f;
      for (int q = 0; q < 8; ++q) g += x[w * 32 + (l & ~7) + q];
      cr_assert_eq(seg8[w * 32 + l], g, "width-8 xor w=%d l=%d", w, l);
    }
    cr_assert_eq(down[w], s, "shfl_down w=%d", w);
    for (int l = 0; l < 32; ++l) cr_assert_eq(xr[w * 32 + l], s, "shfl_xor w=%d l=%d", w, l);
    cr_assert_eq(ballot[w], b, "ballot w=%d", w);
    cr_assert_eq(anyall[w], any | (all << 1), "any/all w=%d", w);
    cr_assert_eq(red[w], (int)s, "reduce_add w=%d", w);
  }
  for (int bl = 0; bl < grid; ++bl) {
    float s = 0.0f;
    int c = 0;
    for (int i = bl * block; i < (bl + 1) * block; ++i) {
      s += x[i];
      c += x[i] > 0;
    }
    cr_assert_eq(bsum[bl], s, "warp-0 block sum b=%d", bl);
    cr_assert_eq(cnt[bl], c, "__syncthreads_count b=%d", bl);
  }
}
Test(cudacpu, warp_shuffles_ballot_256) { check_warp_ops(256); }
Test(cudacpu, warp_shuffles_ballot_96) { check_warp_ops(96); }
Test(cudacpu, warp_shuffles_ballot_1024) { check_warp_ops(1024); }
Test(cudacpu, warp_shuffles_reversed) {
  setenv("CUDACPU_REVERSE", "1", 1);
  check_warp_ops(128);
}

Test(cudacpu, dynamic_smem_histogram) {
  const int n = 50000, nbins = 97;
  std::vector<unsigned> v(n), hist(nbins), ref(nbins, 0);
  for (int i = 0; i < n; ++i) {
    v[i] = (unsigned)irand(0, 1 << 20);
    ref[v[i] % nbins]++;
  }
  CUDA_OK(run_histogram(n, v.data(), nbins, hist.data(), 13, 128));
  for (int b = 0; b < nbins; ++b) cr_assert_eq(hist[b], ref[b], "bin %d", b);
}

Test(cudacpu, tiled_sgemm) {
  const int M = 45, N = 37, K = 51;
  std::vector<float> A(M * K), B(K * N), C(M * N);
  for (auto &a : A) a = (float)irand(-9, 9) / 4.0f;
  for (auto &b : B) b = (float)irand(-9, 9) / 4.0f;
  CUDA_OK(run_tiled_sgemm(M, N, K, A.data(), B.data(), C.data()));
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double r = 0.0;
      for (int k = 0; k < K; ++k) r += (double)A[i * K + k] * B[k * N + j];
      cr_assert_float_eq(C[i * N + j], r, 1e-4, "C[%d,%d]", i, j);
    }
}

/* ---- cuBLAS ------------------------------------------------------------ */
static void naive_gemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc) {
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      double acc = 0.0;
      for (int l = 0; l < k; ++l) {
        float a = ta ? A[l + i * lda] : A[i + l * lda];
        float b = tb ? B[j + l * ldb] : B[l + j * ldb];
        acc += (double)a * b;
      }
      C[i + j * ldc] = (float)(alpha * acc + (beta != 0.0f ? beta * C[i + j * ldc] : 0.0));
    }
}
Test(cudacpu, cublas_sgemm_all_transposes) {
  const int m = 13, n = 11, k = 17;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      int lda = (ta ? k : m) + 3, ldb = (tb ? n : k) + 1, ldc = m + 2;
      std::vector<float> A(lda * (ta ? m : k)), B(ldb * (tb ? k : n)), C(ldc * n), R;
      for (auto &a : A) a = (float)irand(-5, 5) * 0.5f;
      for (auto &b : B) b = (float)irand(-5, 5) * 0.25f;
      for (auto &c : C) c = (float)irand(-5, 5);
      R = C;
      cr_assert_eq(run_cublas_sgemm(ta, tb, m, n, k, 1.5f, A.data(), lda, B.data(), ldb, -0.5f,
                                    C.data(), ldc, 0),
                   0);
      naive_gemm(ta, tb, m, n, k, 1.5f, A.data(), lda, B.data(), ldb, -0.5f, R.data(), ldc);
      for (size_t i = 0; i < C.size(); ++i) cr_assert_eq(C[i], R[i], "ta=%d tb=%d i=%zu", ta, tb, i);
    }
}
Test(cudacpu, cublas_beta_zero_ignores_nan) {
  const int m = 4, n = 3, k = 2;
  std::vector<float> A(m * k, 1.0f), B(k * n, 2.0f), C(m * n, NAN);
  cr_assert_eq(run_cublas_sgemm(0, 0, m, n, k, 1.0f, A.data(), m, B.data(), k, 0.0f, C.data(), m, 0), 0);
  for (float c : C) cr_assert_eq(c, 4.0f);
}
Test(cudacpu, cublas_tf32_rounds_inputs) {
  float a = 1.0f + 1.0f / 4096.0f, b = 1.0f, c = 0.0f; /* 2^-12 is below TF32 precision */
  cr_assert_eq(run_cublas_sgemm(0, 0, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1, 1), 0);
  cr_assert_eq(c, 1.0f);
  cr_assert_eq(run_cublas_sgemm(0, 0, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1, 0), 0);
  cr_assert_eq(c, a);
}
/* float32 accumulation, as on the GPU: four 2^-25 added to 1 one at a time are each lost
   (a double accumulator would give 1 + 2^-23, a float away from 1) */
Test(cudacpu, cublas_accumulates_in_float32) {
  const int k = 5;
  float a[k] = {1.0f, 0x1p-25f, 0x1p-25f, 0x1p-25f, 0x1p-25f}, b[k] = {1, 1, 1, 1, 1}, c = 0.0f;
  cr_assert_eq(run_cublas_sgemm(0, 0, 1, 1, k, 1.0f, a, 1, b, k, 0.0f, &c, 1, 0), 0);
  cr_assert_eq(c, 1.0f);
  cr_assert_neq((float)(1.0 + 4 * 0x1p-25), 1.0f);
}
Test(cudacpu, cublas_strided_batched) {
  const int m = 5, n = 4, k = 3, batch = 3;
  std::vector<float> A(m * k * batch), B(k * n * batch), C(m * n * batch), R(m * n * batch, 0.0f);
  for (auto &a : A) a = (float)irand(-5, 5);
  for (auto &b : B) b = (float)irand(-5, 5);
  cr_assert_eq(run_cublas_sgemm_strided(m, n, k, A.data(), B.data(), C.data(), batch), 0);
  for (int b = 0; b < batch; ++b)
    naive_gemm(0, 0, m, n, k, 1.0f, &A[b * m * k], m, &B[b * k * n], k, 0.0f, &R[b * m * n], m);
  for (size_t i = 0; i < C.size(); ++i) cr_assert_eq(C[i], R[i], "i=%zu", i);
}
Test(cudacpu, cublas_argument_checks) {
  cr_assert_eq(cublas_sgemm_status(0, 0, 4, 4, 4, 4, 4, 4), CUBLAS_STATUS_SUCCESS);
  cr_assert_eq(cublas_sgemm_status(0, 0, 4, 4, 4, 3, 4, 4), CUBLAS_STATUS_INVALID_VALUE); /* lda < m */
  cr_assert_eq(cublas_sgemm_status(1, 0, 8, 4, 4, 4, 4, 8), CUBLAS_STATUS_SUCCESS);       /* lda >= k */
  cr_assert_eq(cublas_sgemm_status(1, 0, 8, 4, 5, 4, 5, 8), CUBLAS_STATUS_INVALID_VALUE); /* lda < k */
  cr_assert_eq(cublas_sgemm_status(0, 0, 4, 4, 6, 4, 5, 4), CUBLAS_STATUS_INVALID_VALUE); /* ldb < k */
  cr_assert_eq(cublas_sgemm_status(0, 1, 4, 6, 4, 4, 5, 4), CUBLAS_STATUS_INVALID_VALUE); /* ldb < n */
  cr_assert_eq(cublas_sgemm_status(0, 0, 4, 4, 4, 4, 4, 3), CUBLAS_STATUS_INVALID_VALUE); /* ldc < m */
  cr_assert_eq(cublas_sgemm_status(0, 0, -1, 4, 4, 4, 4, 4), CUBLAS_STATUS_INVALID_VALUE);
  cr_assert_eq(cublas_sgemm_status(0, 0, 0, 0, 0, 1, 1, 1), CUBLAS_STATUS_SUCCESS);      /* empty */
  cr_assert_eq(cublas_sgemm_status(0, 0, 0, 4, 4, 0, 4, 1), CUBLAS_STATUS_INVALID_VALUE); /* lda < 1 */
  /* extent past the 64 KiB buffer: reported, not silently read */
  cr_assert_eq(cublas_sgemm_status(0, 0, 200, 200, 200, 200, 200, 200),
               CUBLAS_STATUS_EXECUTION_FAILED);
  cr_assert_eq(cublas_handle_checks(), 0);
  cr_assert_eq(cublasSgemm(nullptr, CUBLAS_OP_N, CUBLAS_OP_N, 1, 1, 1, nullptr, nullptr, 1,
                           nullptr, 1, nullptr, nullptr, 1),
               CUBLAS_STATUS_NOT_INITIALIZED);
}

/* ---- scheduling: missing barrier, deadlocks ------------------------------ */
static void shift(bool barrier, std::vector<float> &out, std::vector<float> &in) {
  const int n = 256;
  in.resize(n);
  out.assign(n, -1.0f);
  for (int i = 0; i < n; ++i) in[i] = (float)(i * 3 + 1);
  CUDA_OK(run_shift(n, in.data(), out.data(), barrier));
}
static int shift_errors(const std::vector<float> &out, const std::vector<float> &in) {
  int bad = out[0] != 0.0f;
  for (size_t i = 1; i < in.size(); ++i) bad += out[i] != in[i - 1];
  return bad;
}
Test(cudacpu, missing_barrier_forward_order_hides_it) {
  std::vector<float> in, out;
  shift(false, out, in);
  cr_assert_eq(shift_errors(out, in), 0);
}
Test(cudacpu, missing_barrier_reverse_order_exposes_it) {
  setenv("CUDACPU_REVERSE", "1", 1);
  std::vector<float> in, out;
  shift(false, out, in);
  cr_assert_gt(shift_errors(out, in), 200, "the missing __syncthreads went unnoticed");
  shift(true, out, in);
  cr_assert_eq(shift_errors(out, in), 0, "with the barrier the result must be right");
}
Test(cudacpu, missing_barrier_random_order_exposes_it) {
  setenv("CUDACPU_SHUFFLE", "7", 1);
  std::vector<float> in, out;
  shift(false, out, in);
  cr_assert_gt(shift_errors(out, in), 50, "the missing __syncthreads went unnoticed");
  shift(true, out, in);
  cr_assert_eq(shift_errors(out, in), 0, "with the barrier the result must be right");
}
Test(cudacpu, warp_shuffles_random_order) {
  setenv("CUDACPU_SHUFFLE", "12345", 1);
  check_warp_ops(160);
}
Test(cudacpu, deadlock_partial_barrier) {
  cr_assert_eq(run_deadlock(0), cudaErrorLaunchFailure);
  /* the error is sticky, as after a device fault */
  void *p = nullptr;
  cr_assert_eq(cudaMalloc(&p, 16), cudaErrorLaunchFailure);
  cr_assert_eq(cudaGetLastError(), cudaErrorLaunchFailure);
  CUDA_OK(cudaDeviceReset());
  CUDA_OK(cudaMalloc(&p, 16));
  CUDA_OK(cudaFree(p));
}
Test(cudacpu, deadlock_shuffle_waits_for_barrier) {
  cr_assert_eq(run_deadlock(1), cudaErrorLaunchFailure);
}
Test(cudacpu, deadlock_mismatched_warp_ops) {
  cr_assert_eq(run_deadlock(2), cudaErrorLaunchFailure);
}
Test(cudacpu, warp_mask_without_own_lane) {
  cr_assert_eq(run_deadlock(3), cudaErrorLaunchFailure);
}
Test(cudacpu, trap) { cr_assert_eq(run_trap(), cudaErrorLaunchFailure); }

/* ---- launch configuration and API behaviour ---------------------------- */
Test(cudacpu, launch_config_errors) {
  CUDA_OK(run_launch_config(1, 1, 1, 1024, 1, 1, 0));
  cr_assert_eq(run_launch_config(1, 1, 1, 1025, 1, 1, 0), cudaErrorInvalidConfiguration);
  cr_assert_eq(run_launch_config(1, 1, 1, 32, 32, 2, 0), cudaErrorInvalidConfiguration);
  cr_assert_eq(run_launch_config(1, 1, 1, 1, 1, 65, 0), cudaErrorInvalidConfiguration);
  cr_assert_eq(run_launch_config(0, 1, 1, 32, 1, 1, 0), cudaErrorInvalidConfiguration);
  cr_assert_eq(run_launch_config(1, 0, 1, 32, 1, 1, 0), cudaErrorInvalidConfiguration);
  cr_assert_eq(run_launch_config(1, 65536, 1, 32, 1, 1, 0), cudaErrorInvalidConfiguration);
  CUDA_OK(run_launch_config(1, 1, 1, 32, 1, 1, 48 * 1024));
  cr_assert_eq(run_launch_config(1, 1, 1, 32, 1, 1, 48 * 1024 + 1), cudaErrorInvalidValue);
  /* launch errors are not sticky */
  CUDA_OK(run_launch_config(3, 2, 2, 8, 4, 2, 0));
}
Test(cudacpu, dynamic_smem_optin) {
  int ok = 0;
  cr_assert_eq(run_big_smem(100 * 1024, false, &ok), cudaErrorInvalidValue);
  CUDA_OK(run_big_smem(100 * 1024, true, &ok));
  cr_assert_eq(ok, 1);
}
Test(cudacpu, host_pointer_kernel_argument) {
  float host[4] = {1, 2, 3, 4};
  cr_assert_eq(run_host_pointer_arg(host), cudaErrorInvalidValue);
  setenv("CUDACPU_ALLOW_HOST_PTRS", "1", 1);
  CUDA_OK(run_host_pointer_arg(host));
  cr_assert_eq(host[3], 8.0f);
}
Test(cudacpu, index_2d_and_lanes) {
  const unsigned gx = 3, gy = 2, bx = 10, by = 7; /* 70 threads: partial third warp */
  const unsigned nb = bx * by, n = gx * gy * nb;
  std::vector<int> id(n), lane0(n);
  CUDA_OK(run_index2d(gx, gy, bx, by, id.data(), lane0.data()));
  for (unsigned byi = 0; byi < gy; ++byi)
    for (unsigned bxi = 0; bxi < gx; ++bxi)
      for (unsigned ty = 0; ty < by; ++ty)
        for (unsigned tx = 0; tx < bx; ++tx) {
          unsigned tib = ty * bx + tx, g = (byi * gx + bxi) * nb + tib;
          cr_assert_eq(id[g], (int)(((byi * 1000 + bxi) * 100 + ty) * 100 + tx));
          cr_assert_eq(lane0[g], (int)((byi * gx + bxi) * nb + (tib & ~31u)), "g=%u", g);
        }
}
Test(cudacpu, intrinsics) {
  float f[14];
  int i[12];
  unsigned u[6];
  CUDA_OK(run_intrinsics(f, i, u, 14, 12, 6));
  cr_assert_float_eq(f[0], std::sin(0.5f), 1e-7);
  cr_assert_float_eq(f[1], std::cos(0.5f), 1e-7);
  cr_assert_eq(f[2], 0.5f);
  cr_assert_eq(f[3], 3.0f);
  cr_assert_eq(f[4], -1.0f);
  cr_assert_eq(f[5], 3.0f);
  cr_assert_float_eq(f[6], 2.7182818f, 1e-6);
  cr_assert_float_eq(f[7], 0.6931472f, 1e-6);
  cr_assert_float_eq(f[8], 1.4142135f, 1e-6);
  cr_assert_eq(f[9], 1.0f);
  cr_assert_eq(f[10], 1.0f);
  cr_assert_eq(f[11], 10.0f);
  cr_assert_eq(f[12], 7.0f);
  cr_assert_eq(f[13], 1.0f);
  int ei[12] = {2, 4, -2, -2, -3, 3, 2147483647, 8, 31, 4, 0x3f800000, 1};
  for (int k = 0; k < 12; ++k) cr_assert_eq(i[k], ei[k], "int intrinsic %d", k);
  unsigned eu[6] = {0xfffffffeu, 0x80000000u, 0x44556677u, 0x3u, 10u, 1616u};
  for (int k = 0; k < 6; ++k) cr_assert_eq(u[k], eu[k], "unsigned intrinsic %d: 0x%x", k, u[k]);
}
Test(cudacpu, template_kernel_stream_launch) {
  const int n = 300;
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i) x[i] = (float)i;
  CUDA_OK(run_template_launch(n, x.data()));
  for (int i = 0; i < n; ++i) cr_assert_eq(x[i], 3.0f * i + 0.5f);
}
Test(cudacpu, constant_and_device_symbols) {
  float out[40];
  CUDA_OK(run_symbols(40, out));
  for (int i = 0; i < 40; ++i) cr_assert_eq(out[i], (float)(i % 4 + 1) * i + 0.25f * (i % 8));
}
Test(cudacpu, global_atomics_many_blocks) {
  const int blocks = 300, block = 128, n = blocks * block;
  unsigned long long count = 0;
  int maxv = 0;
  float fsum = 0.0f;
  unsigned inc = 0;
  CUDA_OK(run_global_atomics(blocks, block, &count, &maxv, &fsum, &inc));
  int ref = 0;
  for (int g = 0; g < n; ++g) ref = std::max(ref, (g * 7919) % 100003);
  cr_assert_eq(count, (unsigned long long)n);
  cr_assert_eq(maxv, ref);
  cr_assert_eq(fsum, (float)n);
  cr_assert_eq(inc, (unsigned)(n % 10));
}
Test(cudacpu, uninitialised_shared_memory_is_poisoned) {
  unsigned out[128];
  CUDA_OK(run_uninit_shared(out));
  for (int i = 0; i < 128; ++i) cr_assert_eq(out[i], 0xffffffffu, "i=%d", i);
}
Test(cudacpu, launch_kernel_api) {
  float x[50];
  for (int i = 0; i < 50; ++i) x[i] = (float)i;
  CUDA_OK(run_launch_kernel_api(50, x));
  for (int i = 0; i < 50; ++i) cr_assert_eq(x[i], 2.0f * i);
}
Test(cudacpu, memcpy_checks) {
  float *d = nullptr, h[8] = {0};
  CUDA_OK(cudaMalloc(&d, 8 * sizeof(float)));
  CUDA_OK(cudaMemcpy(d, h, sizeof h, cudaMemcpyHostToDevice));
  cr_assert_eq(cudaMemcpy(h, d, sizeof h, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  cr_assert_eq(cudaGetLastError(), cudaErrorInvalidValue);
  cr_assert_eq(cudaGetLastError(), cudaSuccess);
  cr_assert_eq(cudaMemcpy(d + 1, h, sizeof h, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  cr_assert_eq(cudaPeekAtLastError(), cudaErrorInvalidValue);
  cr_assert_eq(cudaPeekAtLastError(), cudaErrorInvalidValue);
  cr_assert_eq(cudaMemset(d, 0, 9 * sizeof(float)), cudaErrorInvalidValue);
  cr_assert_eq(cudaMemcpy(d, d, 1, (cudaMemcpyKind)7), cudaErrorInvalidMemcpyDirection);
  cudaStream_t s;
  CUDA_OK(cudaStreamCreate(&s));
  CUDA_OK(cudaMemsetAsync(d, 0, sizeof h, s));
  CUDA_OK(cudaMemcpyAsync(h, d, sizeof h, cudaMemcpyDeviceToHost, s));
  CUDA_OK(cudaStreamSynchronize(s));
  CUDA_OK(cudaStreamDestroy(s));
  cr_assert_eq(cudaStreamSynchronize(s), cudaErrorInvalidResourceHandle);
  CUDA_OK(cudaFree(d));
  float *hp = static_cast<float *>(std::malloc(sizeof h));
  cr_assert_eq(cudaFree(hp), cudaErrorInvalidValue); /* not from cudaMalloc */
  std::free(hp);
  cudaGetLastError();
}
Test(cudacpu, launch_spellings) { cr_assert_eq(run_launch_forms(), 18); }

/* cuda_fp16.h / cuda_bf16.h: the emulator's conversions (rounding in double) against
   melora.h's (integer bit arithmetic), two independent implementations. Widening: every
   half. Narrowing: every float whose upper 16 bits are anything and whose lower 16 are one
   of the patterns that decide a rounding (ties at bit 15 for bf16, bit 12 and below for
   normal fp16, the rest for fp16 subnormals above them) or pseudo-random ones;
   CUDACPU_EXHAUSTIVE=1 runs all 2^32 floats. NaNs agree as NaNs (the toolkit gives the
   canonical 0x7FFF, melora.h keeps the payload). */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include "../../../melora.h"

static bool same_float(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return x == y;
}
static bool is_nan16(uint16_t h, bool bf) { return bf ? (h & 0x7FFF) > 0x7F80 : (h & 0x7FFF) > 0x7C00; }
Test(half, widen_every_half) {
  for (uint32_t h = 0; h < 65536; h++) {
    float a = __half2float(__ushort_as_half((unsigned short)h)), b = melora_f16_to_f32((uint16_t)h);
    cr_assert(same_float(a, b), "fp16 %#x: %a vs %a", h, a, b);
    a = __bfloat162float(__ushort_as_bfloat16((unsigned short)h));
    b = melora_bf16_to_f32((uint16_t)h);
    cr_assert(same_float(a, b), "bf16 %#x: %a vs %a", h, a, b);
  }
}
/* 0 when the emulator's narrowing of the float with these bits agrees with melora.h's (for
   both formats, and the _rn spellings with the plain ones), else which check failed */
static int narrow_one(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  uint16_t a = __half_as_ushort(__float2half_rn(f)), b = melora_f32_to_f16(f);
  if (std::isnan(f) ? !(a == 0x7FFF && is_nan16(b, false)) : a != b) return 1;
  a = __bfloat16_as_ushort(__float2bfloat16_rn(f));
  b = melora_f32_to_bf16(f);
  if (std::isnan(f) ? !(a == 0x7FFF && is_nan16(b, true)) : a != b) return 2;
  if (__half_as_ushort(__float2half(f)) != __half_as_ushort(__float2half_rn(f))) return 3;
  if (__bfloat16_as_ushort(__float2bfloat16(f)) != __bfloat16_as_ushort(__float2bfloat16_rn(f))) return 4;
  return 0;
}
static void narrow_check(uint32_t bits) {
  int e = narrow_one(bits);
  float f;
  std::memcpy(&f, &bits, 4);
  cr_assert(e == 0, "check %d fails for %a (bits %#x): fp16 %#x vs melora.h %#x, bf16 %#x vs %#x", e, f,
            bits, __half_as_ushort(__float2half_rn(f)), melora_f32_to_f16(f),
            __bfloat16_as_ushort(__float2bfloat16_rn(f)), melora_f32_to_bf16(f));
}
Test(half, narrow_against_melora) {
  const char *ex = std::getenv("CUDACPU_EXHAUSTIVE");
  if (ex && ex[0] == '1') { /* the assertion only on a failure: ~10x faster */
    for (uint64_t b = 0; b < (1ull << 32); b++)
      if (narrow_one((uint32_t)b)) narrow_check((uint32_t)b);
    return;
  }
  std::vector<uint32_t> lo = {0x0000, 0x0001, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x2000, 0x3000,
                              0x7FFF, 0x8000, 0x8001, 0xBFFF, 0xC000, 0xEFFF, 0xF000, 0xFFFF};
  uint32_t st = 12345;
  for (int i = 0; i < 16; i++) lo.push_back((st = st * 1103515245u + 12345u) >> 16);
  for (uint32_t hi = 0; hi < 65536; hi++)
    for (uint32_t l : lo) narrow_check(hi << 16 | l);
}
Test(half, round_trip_and_raw) {
  for (uint32_t h = 0; h < 65536; h++) { /* every non-NaN half survives widening and narrowing */
    if (!is_nan16((uint16_t)h, false))
      cr_assert_eq(__half_as_ushort(__float2half_rn(__half2float(__ushort_as_half((unsigned short)h)))), h);
    if (!is_nan16((uint16_t)h, true))
      cr_assert_eq(__bfloat16_as_ushort(__float2bfloat16_rn(__bfloat162float(__ushort_as_bfloat16((unsigned short)h)))), h);
  }
  __half_raw r;
  r.x = 0x3C00; /* 1.0 */
  __half one = r;
  cr_assert_eq(__half2float(one), 1.0f);
  __nv_bfloat16_raw br = __float2bfloat16_rn(-2.0f);
  cr_assert_eq(br.x, 0xC000);
  cr_assert_eq(__half_as_ushort(__float2half_rn(65520.0f)), 0x7C00);  /* the tie above 65504 */
  cr_assert_eq(__half_as_ushort(__float2half_rn(65519.996f)), 0x7BFF);
  cr_assert_eq(__half_as_ushort(__float2half_rn(ldexpf(1.0f, -25))), 0x0000); /* tie to even 0 */
  cr_assert_eq(__half_as_ushort(__float2half_rn(ldexpf(3.0f, -25))), 0x0002); /* tie to even 2 */
}

/* Failure injection (cudacpu::fail_call): run_saxpy makes 9 counted calls (2 cudaMalloc,
 * 2 cudaMemcpy, the launch, cudaDeviceSynchronize, cudaMemcpy, 2 cudaFree; cudaGetLastError
 * is not counted). Failing each in turn returns the chosen error from that call, which
 * failed_call names; the error is reported once and is not sticky (the next run is right);
 * an injected launch failure runs nothing. */
Test(cudacpu, fail_call_each_counted_call) {
  const int n = 300;
  std::vector<float> x(n), y0(n), ref(n);
  for (int i = 0; i < n; ++i) {
    x[i] = (float)irand(-100, 100);
    y0[i] = (float)irand(-100, 100);
    ref[i] = std::fma(2.0f, x[i], y0[i]);
  }
  std::vector<float> y = y0;
  cudacpu::fail_call(-1);
  CUDA_OK(run_saxpy(n, 2.0f, x.data(), y.data(), 2, 64));
  cr_assert_eq(cudacpu::counted_calls(), 9);
  int kind = -1;
  cr_assert_null(cudacpu::failed_call(&kind));
  cr_assert_eq(kind, cudacpu::FAULT_NONE);
  const char *names[9] = {"cudaMalloc", "cudaMalloc", "cudaMemcpy", "cudaMemcpy", "saxpy_kernel",
                          "cudaDeviceSynchronize", "cudaMemcpy", "cudaFree", "cudaFree"};
  for (long k = 0; k < 9; ++k) {
    y = y0;
    const cudaError_t e = k % 2 ? cudaErrorInvalidValue : cudaErrorMemoryAllocation;
    cudacpu::fail_call(k, e);
    cr_assert_eq(run_saxpy(n, 2.0f, x.data(), y.data(), 2, 64), e, "call %ld", k);
    const char *hit = cudacpu::failed_call(&kind);
    cr_assert(hit && std::strcmp(hit, names[k]) == 0, "call %ld: %s", k, hit ? hit : "(none)");
    cr_assert_eq(kind, k == 4 ? cudacpu::FAULT_LAUNCH : cudacpu::FAULT_RUNTIME, "call %ld", k);
    if (k <= 4) /* y not copied back, or the kernel did not run */
      for (int i = 0; i < n; ++i) cr_assert_eq(y[i], y0[i], "call %ld: i=%d", k, i);
    /* reported once, then gone: a following run succeeds with the right numbers */
    cr_assert_eq(cudaGetLastError(), k == 4 ? cudaSuccess : e, "call %ld", k); /* finish() took the launch's */
    cr_assert_eq(cudaGetLastError(), cudaSuccess);
    y = y0;
    CUDA_OK(run_saxpy(n, 2.0f, x.data(), y.data(), 2, 64));
    for (int i = 0; i < n; ++i) cr_assert_eq(y[i], ref[i], "after call %ld: i=%d", k, i);
    cr_assert_eq(cudacpu::failed_call(), hit, "call %ld: the hit is kept until the next fail_call", k);
    cr_assert_eq(cudacpu::counted_calls(), k + 1 + 9, "call %ld: counting goes on", k); /* up to the failure, then a whole run */
  }
  cudacpu::fail_call(9); /* past the last counted call: nothing fails */
  y = y0;
  CUDA_OK(run_saxpy(n, 2.0f, x.data(), y.data(), 2, 64));
  cr_assert_null(cudacpu::failed_call());
  cr_assert_eq(cudacpu::counted_calls(), 9);
  cudaDeviceReset(); /* the buffers the failed runs left */
}

/* Nested calls count once (cudaMemsetAsync -> cudaMemset); an injected launch failure
 * is seen by cudaPeekAtLastError too; cuBLAS calls return the chosen status. */
Test(cudacpu, fail_call_nested_and_cublas) {
  float *d = nullptr;
  CUDA_OK(cudaMalloc(&d, 16 * sizeof(float)));
  cudacpu::fail_call(-1);
  CUDA_OK(cudaMemsetAsync(d, 0, 16 * sizeof(float), 0));
  cr_assert_eq(cudacpu::counted_calls(), 1);
  cudacpu::fail_call(0, cudaErrorLaunchOutOfResources);
  cr_assert_eq(run_launch_config(1, 1, 1, 32, 1, 1, 0), cudaErrorLaunchOutOfResources);
  int kind = -1;
  cr_assert_not_null(cudacpu::failed_call(&kind));
  cr_assert_eq(kind, cudacpu::FAULT_LAUNCH);
  cr_assert_eq(cudaPeekAtLastError(), cudaSuccess); /* taken by the wrapper's cudaGetLastError */
  cublasHandle_t h = nullptr;
  cr_assert_eq(cublasCreate(&h), CUBLAS_STATUS_SUCCESS);
  float *A = nullptr, *C = nullptr;
  CUDA_OK(cudaMalloc(&A, 4 * sizeof(float)));
  CUDA_OK(cudaMalloc(&C, 4 * sizeof(float)));
  const float one[4] = {1, 2, 3, 4}, alpha = 1, beta = 0;
  CUDA_OK(cudaMemcpy(A, one, sizeof one, cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemset(C, 0, 4 * sizeof(float)));
  cudacpu::fail_call(1, cudaErrorUnknown, CUBLAS_STATUS_INTERNAL_ERROR);
  cr_assert_eq(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST), CUBLAS_STATUS_SUCCESS);
  cr_assert_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &alpha, A, 2, A, 2, &beta, C, 2),
               CUBLAS_STATUS_INTERNAL_ERROR);
  const char *hit = cudacpu::failed_call(&kind);
  cr_assert(hit && std::strcmp(hit, "cublasSgemm") == 0);
  cr_assert_eq(kind, cudacpu::FAULT_BLAS);
  cr_assert_eq(cudaGetLastError(), cudaSuccess); /* a cuBLAS status is not a runtime error */
  float c[4] = {-1, -1, -1, -1};
  CUDA_OK(cudaMemcpy(c, C, sizeof c, cudaMemcpyDeviceToHost));
  for (float v : c) cr_assert_eq(v, 0.0f); /* the failed GEMM wrote nothing */
  cr_assert_eq(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 2, 2, 2, &alpha, A, 2, A, 2, &beta, C, 2),
               CUBLAS_STATUS_SUCCESS);
  CUDA_OK(cudaMemcpy(c, C, sizeof c, cudaMemcpyDeviceToHost));
  const float want[4] = {7, 10, 15, 22}; /* [1 3; 2 4]^2, column-major */
  for (int i = 0; i < 4; ++i) cr_assert_eq(c[i], want[i], "c[%d]", i);
  cr_assert_eq(cudacpu::counted_calls(), 5); /* SetPointerMode, Sgemm, cudaMemcpy, Sgemm, cudaMemcpy */
  cublasDestroy(h);
  cudaFree(A);
  cudaFree(C);
  cudaFree(d);
}
