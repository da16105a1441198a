/* melora_cuda.h - v0.1.0 - the CUDA path of melora.h (C ABI)

   Declarations of melora_cuda.cu: every operation of melora.h on device pointers.
   Link melora_cuda.cu (nvcc) with one C or C++ file that defines MELORA_IMPLEMENTATION
   before including melora.h (the CUDA entry points use its argument checks), and with
   -lcublas -lcudart.

   CONVENTIONS (as melora.h, plus)
       All tensors, gradients, workspaces and the KL outputs are device pointers. The
       cublasHandle_t and cudaStream_t come last. Work is enqueued on `stream` and every
       function returns without waiting: none synchronises the stream, the device or the
       host, so a whole training step (noise, sampling, forward, backward, KL) can be
       captured in a CUDA graph.
       The handle: cuBLAS runs on `stream` in host pointer mode for the call, and the
       handle's own stream and pointer mode are put back before the function returns.
       (cuBLAS resets a handle's workspace whenever its stream is set; a caller who set
       one with cublasSetWorkspace keeps it by binding the handle to `stream` beforehand,
       since the stream is then not set.)
       The KL functions write the value to `kl` (one device double) and its status to
       `status` (one device int): MELORA_OK, or MELORA_ERR_VALUE when a standard deviation
       is zero or not finite or the value is not finite -- then *kl is NaN and no gradient
       is written (the gradient kernels read the status on the device). eq. 7/8 check A,
       M and H in a first kernel that gates the others, so a non-finite entry or zero std
       writes nothing else, not even the workspace; only a KL that overflows double from
       finite inputs is found after the sums (scratch written, still no gradient). Errors
       the host can see (NULL, sizes, sigma, weight, alignment, and MELORA_ERR_ALIAS for a
       written buffer -- kl and status included -- that overlaps another buffer of the
       call, compared as device addresses by melora.h's check) are returned at once.
       No hidden allocation: melora_cuda_workspace_size() says how many bytes of device
       workspace an op needs. Every CUDA and cuBLAS status is checked: MELORA_ERR_CUDA /
       MELORA_ERR_CUBLAS on failure, and melora_cuda_last_error() names the call. An
       error left pending by an earlier CUDA call of the caller's is returned as
       MELORA_ERR_CUDA by the next entry point and named as such, not blamed on it.
       Sizes: any T, n, m, r that melora.h accepts (kernels loop past the grid limits).
       Noise: melora_cuda_noise_* write melora_rng_*(seed, offset + i), the very same
       Philox functions as the CPU path, so samples agree with the host's.
       `_naive` entry points run the same math with one-thread-per-output kernels in place
       of cuBLAS and the block reductions: references for the tests.
*/
#ifndef MELORA_CUDA_H
#define MELORA_CUDA_H

#include "melora.h"
#include <cuda_runtime.h>
#include <cublas_v2.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The CUDA/cuBLAS call that failed in this thread's last entry point, e.g.
   "cudaMemsetAsync(...): out of memory"; "" when that call returned no CUDA/cuBLAS error
   (each entry point clears it). */
const char *melora_cuda_last_error(void);

melora_status melora_cuda_workspace_size(size_t *bytes, melora_op op, int T, int n, int m,
                                         int r);

melora_status melora_cuda_noise_normal(float *out, uint64_t seed, uint64_t offset,
                                       int64_t count, cudaStream_t stream);
melora_status melora_cuda_noise_uniform(float *out, uint64_t seed, uint64_t offset,
                                        int64_t count, cudaStream_t stream);
melora_status melora_cuda_noise_sign(float *out, uint64_t seed, uint64_t offset,
                                     int64_t count, cudaStream_t stream);

/* LoRA */
melora_status melora_cuda_lora_forward(float *z, float *u, void *work, const float *x,
                                       const float *A, const float *B, float s, int T, int n,
                                       int m, int r, cublasHandle_t handle,
                                       cudaStream_t stream);
melora_status melora_cuda_lora_backward(float *dx, float *dA, float *dB, void *work,
                                        const float *dz, const float *u, const float *x,
                                        const float *A, const float *B, float s, int T, int n,
                                        int m, int r, cublasHandle_t handle,
                                        cudaStream_t stream);

/* BLoB */
melora_status melora_cuda_blob_sample(float *As, const float *MA, const float *GA,
                                      const float *EA, int r, int n, cudaStream_t stream);
melora_status melora_cuda_blob_forward(float *z, float *u, float *As, void *work,
                                       const float *x, const float *MA, const float *GA,
                                       const float *EA, const float *B, float s, int T, int n,
                                       int m, int r, cublasHandle_t handle,
                                       cudaStream_t stream);
melora_status melora_cuda_blob_backward(float *dx, float *dMA, float *dGA, float *dB,
                                        void *work, const float *dz, const float *u,
                                        const float *x, const float *As, const float *GA,
                                        const float *EA, const float *B, float s, int T,
                                        int n, int m, int r, cublasHandle_t handle,
                                        cudaStream_t stream);
melora_status melora_cuda_blob_flipout_forward(float *z, float *u, void *work,
                                               const float *x, const float *MA,
                                               const float *GA, const float *EA,
                                               const float *sa, const float *sb,
                                               const float *B, float s, int G, int T, int n,
                                               int m, int r, cublasHandle_t handle,
                                               cudaStream_t stream);
melora_status melora_cuda_blob_flipout_backward(float *dx, float *dMA, float *dGA, float *dB,
                                                void *work, const float *dz, const float *u,
                                                const float *x, const float *MA,
                                                const float *GA, const float *EA,
                                                const float *sa, const float *sb,
                                                const float *B, float s, int G, int T, int n,
                                                int m, int r, cublasHandle_t handle,
                                                cudaStream_t stream);
/* The KLs: value in *kl and status in *status, both device memory (see CONVENTIONS). */
melora_status melora_cuda_blob_kl(double *kl, int *status, float *dMA, float *dGA,
                                  void *work, const float *MA, const float *GA,
                                  float sigma_p, float weight, int r, int n,
                                  cudaStream_t stream);

/* Me-LoRA */
melora_status melora_cuda_melora_sample(float *C, const float *M, const float *H,
                                        const float *EC, int E, int r, cudaStream_t stream);
melora_status melora_cuda_melora_forward(float *z, float *u, float *v, void *work,
                                         const float *x, const float *A, const float *C,
                                         const float *B, float s, int E, int T, int n, int m,
                                         int r, cublasHandle_t handle, cudaStream_t stream);
melora_status melora_cuda_melora_backward(float *dx, float *dA, float *dB, float *dM,
                                          float *dH, void *work, const float *dz,
                                          const float *u, const float *v, const float *x,
                                          const float *A, const float *C, const float *B,
                                          const float *H, const float *EC, float s, int E,
                                          int T, int n, int m, int r, cublasHandle_t handle,
                                          cudaStream_t stream);
melora_status melora_cuda_melora_mc_forward(float *z, float *u, void *work, const float *x,
                                            const float *A, const float *C, const float *B,
                                            float s, int K, int T, int n, int m, int r,
                                            cublasHandle_t handle, cudaStream_t stream);
melora_status melora_cuda_melora_kl(double *kl, int *status, float *dA, float *dM,
                                    float *dH, void *work, const float *A, const float *M,
                                    const float *H, float sigma, float weight, int r, int n,
                                    cudaStream_t stream);
melora_status melora_cuda_melora_kl_prior_noise(double *kl, int *status, float *dA,
                                                float *dM, float *dH, void *work,
                                                const float *A, const float *M,
                                                const float *H, float sigma_p, float eps,
                                                float weight, int r, int n,
                                                cudaStream_t stream);
melora_status melora_cuda_melora_kl_exact(double *kl, int *status, float *dM, float *dH,
                                          void *work, const float *M, const float *H,
                                          float sigma, float weight, int r,
                                          cudaStream_t stream);

/* References: the same operations without cuBLAS (handle may be NULL). */
melora_status melora_cuda_lora_forward_naive(float *z, float *u, void *work, const float *x,
                                             const float *A, const float *B, float s, int T,
                                             int n, int m, int r, cublasHandle_t handle,
                                             cudaStream_t stream);
melora_status melora_cuda_lora_backward_naive(float *dx, float *dA, float *dB, void *work,
                                              const float *dz, const float *u, const float *x,
                                              const float *A, const float *B, float s, int T,
                                              int n, int m, int r, cublasHandle_t handle,
                                              cudaStream_t stream);
melora_status melora_cuda_melora_forward_naive(float *z, float *u, float *v, void *work,
                                               const float *x, const float *A, const float *C,
                                               const float *B, float s, int E, int T, int n,
                                               int m, int r, cublasHandle_t handle,
                                               cudaStream_t stream);
melora_status melora_cuda_melora_backward_naive(
    float *dx, float *dA, float *dB, float *dM, float *dH, void *work, const float *dz,
    const float *u, const float *v, const float *x, const float *A, const float *C,
    const float *B, const float *H, const float *EC, float s, int E, int T, int n, int m,
    int r, cublasHandle_t handle, cudaStream_t stream);
melora_status melora_cuda_blob_flipout_forward_naive(
    float *z, float *u, void *work, const float *x, const float *MA, const float *GA,
    const float *EA, const float *sa, const float *sb, const float *B, float s, int G, int T,
    int n, int m, int r, cublasHandle_t handle, cudaStream_t stream);
melora_status melora_cuda_blob_flipout_backward_naive(
    float *dx, float *dMA, float *dGA, float *dB, void *work, const float *dz, const float *u,
    const float *x, const float *MA, const float *GA, const float *EA, const float *sa,
    const float *sb, const float *B, float s, int G, int T, int n, int m, int r,
    cublasHandle_t handle, cudaStream_t stream);
melora_status melora_cuda_melora_kl_naive(double *kl, int *status, float *dA, float *dM,
                                          float *dH, void *work, const float *A,
                                          const float *M, const float *H, float sigma,
                                          float weight, int r, int n, cudaStream_t stream);

#ifdef MELORA_CUDA_PROFILE
/* Profile builds of melora_cuda.cu only (bench/bench_cuda.cpp): start marks `stream`;
   every launch after it records an event; stop waits for the last one and returns how many
   launches it fills in (at most cap; -1 on a CUDA error): each one's kernel name, the bytes
   its model says it moves, and the milliseconds since the previous mark. */
melora_status melora_cuda_profile_start(cudaStream_t stream);
int melora_cuda_profile_stop(const char **name, double *bytes, float *ms, int cap);
#endif

#ifdef __cplusplus
}
#endif
#endif /* MELORA_CUDA_H */
