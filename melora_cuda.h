/* melora_cuda.h - v0.3.0 - the CUDA path of melora.h (C ABI)

   Declarations of melora_cuda.cu: every operation of melora.h on device pointers.
   Link melora_cuda.cu (nvcc) with one C or C++ file that defines MELORA_IMPLEMENTATION
   before including melora.h (the CUDA entry points use its argument checks), and with
   -lcublas -lcudart.

   THE CALLS (v0.2)
       melora_cuda_<name> takes exactly the arguments of melora_<name>, in the same order
       and in the same structs (melora_dims, melora_work, the params / grads / saved /
       draw / noise structs), then `cublasHandle_t handle` where the call runs cuBLAS and
       `cudaStream_t stream` last. The structs are host structs whose tensor fields are
       device pointers; melora_work's base is device memory and its bytes its size. The
       differences from melora.h:
         - the KLs take `int *status` (device) right after `double *kl`;
         - melora_cuda_blob_kl and melora_cuda_melora_kl_exact take a melora_work after
           the grads pointer (device scratch for the reductions), of at least
           MELORA_CUDA_DIAG_KL_BYTES;
         - the workspace of an op comes from melora_cuda_workspace_size (the _naive
           references: melora_cuda_workspace_size_naive), not melora_workspace_size;
         - the _naive references take the arguments of the tuned calls, work and handle
           included (the handle may be NULL), where melora.h's take no workspace.
       A workspace smaller than its size query says gives MELORA_ERR_WORKSPACE with
       nothing enqueued; grads pointers may be NULL, the other struct pointers may not.

   CONVENTIONS (as melora.h, plus)
       All tensors, gradients, workspaces and the KL outputs are device pointers. Work is
       enqueued on `stream` and every function returns without waiting: none synchronises
       the stream, the device or the host, so a whole training step (noise, sampling,
       forward, backward, KL) can be captured in a CUDA graph.
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
       the host can see (NULL, sizes, sigma, weight, alignment, a short workspace, and
       MELORA_ERR_ALIAS for a written buffer -- kl and status included -- that overlaps
       another buffer of the call, compared as device addresses by melora.h's check) are
       returned at once.
       No hidden allocation. Every CUDA and cuBLAS status is checked: MELORA_ERR_CUDA /
       MELORA_ERR_CUBLAS on failure, and melora_cuda_last_error() names the call. An
       error left pending by an earlier CUDA call of the caller's is returned as
       MELORA_ERR_CUDA by the next entry point and named as such, not blamed on it.
       A runtime or cuBLAS failure in the middle of a call (after the checks) cannot be
       undone: outputs the work already enqueued has updated stay updated, so treat them
       as undefined. The failure is reported once (the call clears the runtime's last
       error it raised) and the handle's stream and pointer mode are put back all the
       same; tests/cuda fails every such call of every entry point in turn.
       Sizes: any T, n, m, r that melora.h accepts (kernels loop past the grid limits).
       Activations: x, z, dz, dx in d.dtype (MELORA_FP32, MELORA_BF16 or MELORA_FP16, as
       melora.h), every other tensor float32. With a half dtype the call widens x, dz and
       z (or dx) into float32 copies in its workspace, runs the float32 pass on them and
       rounds z (dx) back once (round to nearest even): z_new = round(float(z_old) +
       delta), delta summed in float32; the Monte-Carlo forward does so one sample of z
       at a time. So the workspace query of a half dtype is larger by those copies (its
       float32 sizes are unchanged). A dtype melora.h does not know is MELORA_ERR_ENUM, a
       half activation not 2-byte aligned (a float32 one not 4-byte aligned)
       MELORA_ERR_ALIGNMENT, both with nothing enqueued.
       Noise: melora_cuda_noise_* write melora_rng_*(seed, offset + i), the very same
       Philox functions as the CPU path, so samples agree with the host's; the per-method
       noise functions take a draw and place it with melora_draw_offset, as melora.h does.
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

/* Bytes of device workspace the entry points of `op` need (an upper bound over which
   gradients are requested): melora_cuda_workspace_size for the tuned calls,
   melora_cuda_workspace_size_naive for the _naive references (their GEMM-and-temporary
   path reserves different buffers). Each layout holds only what its path uses.
   MELORA_OP_MELORA_KL is eq. 7/8 and reads only d.n and d.r. */
melora_status melora_cuda_workspace_size(size_t *bytes, melora_op op, melora_dims d);
melora_status melora_cuda_workspace_size_naive(size_t *bytes, melora_op op, melora_dims d);
/* melora_convert on device memory: out[i] = in[i] in out_dtype, i < count, widening
   exactly and narrowing to nearest even with melora.h's scalar conversions (the same bits
   as the host's: fp32 to fp32 is a device-to-device copy, a half dtype to itself goes
   through float32 as on the host, which quiets a signalling NaN). The checks and
   their order are melora_convert's (NULL, dtypes, count, alignment, overlap), with nothing
   enqueued on an error; count 0 enqueues nothing. */
melora_status melora_cuda_convert(void *out, melora_dtype out_dtype, const void *in,
                                  melora_dtype in_dtype, int64_t count, cudaStream_t stream);
/* The diagonal KLs (blob_kl, melora_kl_exact) use a fixed scratch, whatever r and n. */
#define MELORA_CUDA_DIAG_KL_BYTES 768

melora_status melora_cuda_noise_normal(float *out, uint64_t seed, uint64_t offset,
                                       int64_t count, cudaStream_t stream);
melora_status melora_cuda_noise_uniform(float *out, uint64_t seed, uint64_t offset,
                                        int64_t count, cudaStream_t stream);
melora_status melora_cuda_noise_sign(float *out, uint64_t seed, uint64_t offset,
                                     int64_t count, cudaStream_t stream);
/* A draw's noise at melora.h's offsets (melora_draw_offset): the same numbers as
   melora_blob_noise, melora_blob_flipout_noise and melora_melora_noise. */
melora_status melora_cuda_blob_noise(float *EA, uint64_t seed, uint64_t draw, int r, int n,
                                     cudaStream_t stream);
melora_status melora_cuda_blob_flipout_noise(float *EA, float *sa, float *sb, uint64_t seed,
                                             uint64_t draw, int G, melora_dims d,
                                             cudaStream_t stream);
melora_status melora_cuda_melora_noise(float *EC, uint64_t seed, uint64_t draw, int E, int r,
                                       cudaStream_t stream);

/* LoRA */
melora_status melora_cuda_lora_forward(void *z, const melora_lora_saved *sv, melora_work work,
                                       const melora_lora_params *p, melora_dims d,
                                       cublasHandle_t handle, cudaStream_t stream);
melora_status melora_cuda_lora_backward(void *dx, const melora_lora_grads *g,
                                        const melora_lora_saved *sv, melora_work work,
                                        const void *dz, const melora_lora_params *p,
                                        melora_dims d, cublasHandle_t handle,
                                        cudaStream_t stream);

/* BLoB */
melora_status melora_cuda_blob_sample(float *As, const melora_blob_params *p, const float *EA,
                                      int r, int n, cudaStream_t stream);
melora_status melora_cuda_blob_forward(void *z, const melora_lora_saved *sv, float *As,
                                       melora_work work, const melora_blob_params *p,
                                       const float *EA, melora_dims d, cublasHandle_t handle,
                                       cudaStream_t stream);
melora_status melora_cuda_blob_backward(void *dx, const melora_blob_grads *g,
                                        const melora_lora_saved *sv, melora_work work,
                                        const void *dz, const melora_blob_params *p,
                                        const melora_blob_draw *dr, melora_dims d,
                                        cublasHandle_t handle, cudaStream_t stream);
melora_status melora_cuda_blob_flipout_forward(void *z, const melora_lora_saved *sv,
                                               melora_work work, const melora_blob_params *p,
                                               const melora_flipout_noise *nz, melora_dims d,
                                               cublasHandle_t handle, cudaStream_t stream);
melora_status melora_cuda_blob_flipout_backward(void *dx, const melora_blob_grads *g,
                                                const melora_lora_saved *sv, melora_work work,
                                                const void *dz, const melora_blob_params *p,
                                                const melora_flipout_noise *nz, melora_dims d,
                                                cublasHandle_t handle, cudaStream_t stream);
/* The KLs: value in *kl and status in *status, both device memory (see CONVENTIONS). */
melora_status melora_cuda_blob_kl(double *kl, int *status, const melora_blob_grads *g,
                                  melora_work work, const melora_blob_params *p, float sigma_p,
                                  float weight, int r, int n, cudaStream_t stream);

/* Me-LoRA */
melora_status melora_cuda_melora_sample(float *C, const melora_melora_params *p,
                                        const float *EC, int E, int r, cudaStream_t stream);
melora_status melora_cuda_melora_forward(void *z, const melora_melora_saved *sv,
                                         melora_work work, const melora_melora_params *p,
                                         const melora_melora_draw *dr, melora_dims d,
                                         cublasHandle_t handle, cudaStream_t stream);
melora_status melora_cuda_melora_backward(void *dx, const melora_melora_grads *g,
                                          const melora_melora_saved *sv, melora_work work,
                                          const void *dz, const melora_melora_params *p,
                                          const melora_melora_draw *dr, melora_dims d,
                                          cublasHandle_t handle, cudaStream_t stream);
melora_status melora_cuda_melora_mc_forward(void *z, const melora_lora_saved *sv,
                                            melora_work work, const melora_melora_params *p,
                                            const float *C, int K, melora_dims d,
                                            cublasHandle_t handle, cudaStream_t stream);
melora_status melora_cuda_melora_kl(double *kl, int *status, const melora_melora_grads *g,
                                    melora_work work, const melora_melora_params *p,
                                    float sigma, float weight, int r, int n,
                                    cudaStream_t stream);
melora_status melora_cuda_melora_kl_prior_noise(double *kl, int *status,
                                                const melora_melora_grads *g,
                                                melora_work work,
                                                const melora_melora_params *p, float sigma_p,
                                                float eps, float weight, int r, int n,
                                                cudaStream_t stream);
melora_status melora_cuda_melora_kl_exact(double *kl, int *status,
                                          const melora_melora_grads *g, melora_work work,
                                          const melora_melora_params *p, float sigma,
                                          float weight, int r, cudaStream_t stream);

/* References: the same calls as the tuned ones, without cuBLAS or the fused kernels
   (handle may be NULL); work sized by melora_cuda_workspace_size_naive. */
melora_status melora_cuda_lora_forward_naive(void *z, const melora_lora_saved *sv,
                                             melora_work work, const melora_lora_params *p,
                                             melora_dims d, cublasHandle_t handle,
                                             cudaStream_t stream);
melora_status melora_cuda_lora_backward_naive(void *dx, const melora_lora_grads *g,
                                              const melora_lora_saved *sv, melora_work work,
                                              const void *dz, const melora_lora_params *p,
                                              melora_dims d, cublasHandle_t handle,
                                              cudaStream_t stream);
melora_status melora_cuda_blob_flipout_forward_naive(void *z, const melora_lora_saved *sv,
                                                     melora_work work,
                                                     const melora_blob_params *p,
                                                     const melora_flipout_noise *nz,
                                                     melora_dims d, cublasHandle_t handle,
                                                     cudaStream_t stream);
melora_status melora_cuda_blob_flipout_backward_naive(void *dx, const melora_blob_grads *g,
                                                      const melora_lora_saved *sv,
                                                      melora_work work, const void *dz,
                                                      const melora_blob_params *p,
                                                      const melora_flipout_noise *nz,
                                                      melora_dims d, cublasHandle_t handle,
                                                      cudaStream_t stream);
melora_status melora_cuda_melora_forward_naive(void *z, const melora_melora_saved *sv,
                                               melora_work work,
                                               const melora_melora_params *p,
                                               const melora_melora_draw *dr, melora_dims d,
                                               cublasHandle_t handle, cudaStream_t stream);
melora_status melora_cuda_melora_backward_naive(void *dx, const melora_melora_grads *g,
                                                const melora_melora_saved *sv,
                                                melora_work work, const void *dz,
                                                const melora_melora_params *p,
                                                const melora_melora_draw *dr, melora_dims d,
                                                cublasHandle_t handle, cudaStream_t stream);
melora_status melora_cuda_melora_kl_naive(double *kl, int *status,
                                          const melora_melora_grads *g, melora_work work,
                                          const melora_melora_params *p, float sigma,
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
