/* Host wrappers around the emulator's test kernels (kernels.cu, blas.cu).
 * Each wrapper copies host data to the device, launches, copies back and
 * returns the first CUDA error (or cudaSuccess).  kernels.cu and blas.cu are
 * plain CUDA: they also compile with nvcc -arch=sm_80 -c. */
#ifndef CUDACPU_TEST_KERNELS_H
#define CUDACPU_TEST_KERNELS_H
#include <cuda_runtime.h>

cudaError_t run_saxpy(int n, float a, const float *x, float *y, int grid, int block);
cudaError_t run_tree_sum(int n, const float *x, int grid, float *sum);
/* per element of x (nwarps*32 elements, block of `block` threads):
 * down[w] = warp sum by __shfl_down_sync (lane 0), xr[i] = warp sum by
 * __shfl_xor_sync (every lane), scan[i] = inclusive warp scan by
 * __shfl_up_sync, bc[i] = x of lane 3 of the warp by __shfl_sync,
 * ballot[w] = __ballot_sync(x > 0), seg8[i] = sum over the lane's group of
 * 8 (xor with width 8), blocksum[b] = block sum where only warp 0 reduces,
 * anyall[w] = any(x<0) | all(x>-100)<<1, red[w] = __reduce_add_sync of int(x),
 * cnt[b] = __syncthreads_count(x > 0). */
struct WarpOut {
  float *down, *xr, *scan, *bc, *seg8, *blocksum;
  unsigned *ballot;
  int *anyall, *red, *cnt;
};
cudaError_t run_warp_ops(int n, int block, const float *x, WarpOut out);
cudaError_t run_histogram(int n, const unsigned *v, int nbins, unsigned *hist, int grid, int block);
cudaError_t run_tiled_sgemm(int M, int N, int K, const float *A, const float *B, float *C);
/* out[t] = in[t-1] (0 for t == 0) through shared memory, with or without the
 * barrier between the write and the read; one block of n threads. */
cudaError_t run_shift(int n, const float *in, float *out, bool with_barrier);
/* deadlock cases: 0 = barrier reached by half the block, the rest exited;
 * 1 = warp shuffle waiting for a lane that sits at __syncthreads;
 * 2 = lanes of one warp in different warp operations;
 * 3 = mask that does not contain the calling lane */
cudaError_t run_deadlock(int which);
cudaError_t run_launch_config(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                              unsigned bz, size_t smem);
/* fills `bytes` of dynamic shared memory and checks it; optionally opts in
 * to more than 48 KiB first; *ok is set to 1 if the kernel saw its data */
cudaError_t run_big_smem(size_t bytes, bool optin, int *ok);
cudaError_t run_host_pointer_arg(float *host);
/* 2-D grid of 2-D blocks (bx x by threads): id[linear thread] and the value
 * broadcast from lane 0 of each warp */
cudaError_t run_index2d(unsigned gx, unsigned gy, unsigned bx, unsigned by, int *id, int *lane0);
cudaError_t run_intrinsics(float *f, int *i, unsigned *u, int nf, int ni, int nu);
cudaError_t run_template_launch(int n, float *x);
cudaError_t run_symbols(int n, float *out);
cudaError_t run_global_atomics(int blocks, int block, unsigned long long *count, int *maxv,
                               float *fsum, unsigned *inc);
cudaError_t run_uninit_shared(unsigned *out);
cudaError_t run_launch_kernel_api(int n, float *x);
cudaError_t run_trap(void);
/* launch_forms.cu: returns the counter (18 expected) */
int run_launch_forms(void);

/* blas.cu: column-major C = alpha op(A) op(B) + beta C through cuBLAS */
int run_cublas_sgemm(int ta, int tb, int m, int n, int k, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc, int tf32);
int run_cublas_sgemm_strided(int m, int n, int k, const float *A, const float *B, float *C,
                             int batch);
/* the cublasSgemm status for the given dimensions with valid device buffers */
int cublas_sgemm_status(int ta, int tb, int m, int n, int k, int lda, int ldb, int ldc);
int cublas_handle_checks(void);
#endif
