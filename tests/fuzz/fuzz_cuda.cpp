/* libFuzzer harness over the entry points of melora_cuda.h, run through the CPU emulator
   (tests/cudacpu): melora_cuda.cu is compiled by tests/cudacpu/cudacpu-cc with clang++ and
   the sanitizers, melora.h's implementation (tests/melora_impl.c) is linked beside it.

   An input decodes as in fuzz_api.c (fuzz_input.h: sizes, large mode, scalars, NULL
   pointers, a workspace misaligned by 4 bytes, buffer contents), plus a NULL cuBLAS
   handle now and then and, from the misalignment byte, a workspace one byte short of
   its size query. The calls take their pointers in one flat convention, packed into
   the v0.2 structs by the wrappers below (the host's too: melora.h's calls on host
   copies). The oracle is fuzz_api.c's, for device memory:
     - the statuses a call may return follow from the documented contract (NULL, sizes,
       overflow, T % E, bad scalars, alignment: work and kl 8-byte, status 4-byte aligned;
       a NULL handle where cuBLAS is needed; MELORA_ERR_WORKSPACE for a short workspace);
       the workspace is sized by melora_cuda_workspace_size (the references:
       melora_cuda_workspace_size_naive; the diagonal KLs: MELORA_CUDA_DIAG_KL_BYTES);
     - an argument error returns one of them and writes nothing: every device buffer, the
       workspace, *kl and *status are compared with their contents before the call;
     - a valid call returns MELORA_OK with melora_cuda_last_error() empty, never modifies
       a const input, and when the inputs are finite and moderate every output agrees
       with melora.h's (the same call on host copies) within 1e-4 of the output's largest
       magnitude plus 1e-5 of the element's sum of |terms| (the host call once more on
       absolute values; not for the KLs, which are not multilinear); the KLs report on the device the status the host path returns, NaN and
       no gradient on MELORA_ERR_VALUE, otherwise the host's value within 1e-3 relative;
     - noise equals melora_rng_*(seed, offset + i) bit for bit, and a draw's noise
       (blob, Flipout, Me-LoRA) melora_rng_* at melora_draw_offset's offsets;
     - melora_cuda_workspace_size and _naive: the status of the contract, nothing
       written on error.
   The emulator runs a CUDA thread as a fiber, so valid calls get smaller buffers than in
   fuzz_api.c (2^15 floats). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include "melora_cuda.h"
#include "fuzz_input.h"

#define FAIL(...) do { fprintf(stderr, "fuzz_cuda: " __VA_ARGS__); fputc('\n', stderr); abort(); } while (0)
#define CHECK(c, ...) do { if (!(c)) FAIL(__VA_ARGS__); } while (0)

#define CAP_ELEMS ((uint64_t)1 << 15) /* largest buffer a valid call gets */
#define CAP_WORK ((size_t)1 << 22)
#define SMALL 64                      /* buffers of calls expected to fail */
#define CAP_MADDS 4.0e6               /* see too_slow */

/* Every call in one convention: its pointers in p[] (the order of the kinds below), int
   sizes in d[], float scalars in f[], and wb, the bytes the workspace is given. The CUDA
   calls (g_) take the handle as well; the host calls (h_) are melora.h's, without the
   device status and, for the _naive references, without the workspace. Both pack p[]
   into the v0.2 structs here. */
typedef melora_status (*cu_fn)(void **p, const int *d, const float *f, size_t wb, cublasHandle_t h);
typedef melora_status (*host_fn)(void **p, const int *d, const float *f, size_t wb);
#define F(x) ((float *)(x))
#define D(x) ((double *)(x))
#define I(x) ((int *)(x))
#define S0 cudaStream_t(0)
#define DIMS4(o) mkdims(d[o], d[o + 1], d[o + 2], d[o + 3])
/* The activations' dtype every mkdims gets, as the int a C caller may store (any value:
   3.. and negatives must be MELORA_ERR_ENUM): the decoded one for the CUDA calls and
   their size queries, 0 for the host's, which run in float32 on widened copies. */
static int g_dtype;
static melora_dims mkdims(int T, int n, int m, int r) {
    melora_dims x = {T, n, m, r, MELORA_FP32};
    memcpy(&x.dtype, &g_dtype, sizeof g_dtype);
    return x;
}
static melora_work wk(void *p, size_t b) { melora_work w = {p, b}; return w; }

/* LoRA: z u w x A B | dx dA dB w dz u x A B */
static melora_status g_lora_f(void **p, const int *d, const float *f, size_t wb, cublasHandle_t h) {
    melora_lora_saved sv = {F(p[3]), F(p[1])}; melora_lora_params lp = {F(p[4]), F(p[5]), f[0]};
    return melora_cuda_lora_forward(F(p[0]), &sv, wk(p[2], wb), &lp, DIMS4(0), h, S0); }
static melora_status g_lora_fn(void **p, const int *d, const float *f, size_t wb, cublasHandle_t h) {
    melora_lora_saved sv = {F(p[3]), F(p[1])}; melora_lora_params lp = {F(p[4]), F(p[5]), f[0]};
    return melora_cuda_lora_forward_naive(F(p[0]), &sv, wk(p[2], wb), &lp, DIMS4(0), h, S0); }
static melora_status h_lora_f(void **p, const int *d, const float *f, size_t wb) {
    melora_lora_saved sv = {F(p[3]), F(p[1])}; melora_lora_params lp = {F(p[4]), F(p[5]), f[0]};
    return melora_lora_forward(F(p[0]), &sv, wk(p[2], wb), &lp, DIMS4(0)); }
static melora_status h_lora_fn(void **p, const int *d, const float *f, size_t) { /* z u x A B */
    melora_lora_saved sv = {F(p[2]), F(p[1])}; melora_lora_params lp = {F(p[3]), F(p[4]), f[0]};
    return melora_lora_forward_naive(F(p[0]), &sv, &lp, DIMS4(0)); }
static melora_status g_lora_b(void **p, const int *d, const float *f, size_t wb, cublasHandle_t h) {
    melora_lora_grads g = {F(p[1]), F(p[2])}; melora_lora_saved sv = {F(p[6]), F(p[5])};
    melora_lora_params lp = {F(p[7]), F(p[8]), f[0]};
    return melora_cuda_lora_backward(F(p[0]), &g, &sv, wk(p[3], wb), F(p[4]), &lp, DIMS4(0), h, S0); }
static melora_status g_lora_bn(void **p, const int *d, const float *f, size_t wb, cublasHandle_t h) {
    melora_lora_grads g = {F(p[1]), F(p[2])}; melora_lora_saved sv = {F(p[6]), F(p[5])};
    melora_lora_params lp = {F(p[7]), F(p[8]), f[0]};
    return melora_cuda_lora_backward_naive(F(p[0]), &g, &sv, wk(p[3], wb), F(p[4]), &lp, DIMS4(0), h, S0); }
static melora_status h_lora_b(void **p, const int *d, const float *f, size_t wb) {
    melora_lora_grads g = {F(p[1]), F(p[2])}; melora_lora_saved sv = {F(p[6]), F(p[5])};
    melora_lora_params lp = {F(p[7]), F(p[8]), f[0]};
    return melora_lora_backward(F(p[0]), &g, &sv, wk(p[3], wb), F(p[4]), &lp, DIMS4(0)); }
static melora_status h_lora_bn(void **p, const int *d, const float *f, size_t) { /* dx dA dB dz u x A B */
    melora_lora_grads g = {F(p[1]), F(p[2])}; melora_lora_saved sv = {F(p[5]), F(p[4])};
    melora_lora_params lp = {F(p[6]), F(p[7]), f[0]};
    return melora_lora_backward_naive(F(p[0]), &g, &sv, F(p[3]), &lp, DIMS4(0)); }

/* BLoB: As MA GA EA | z u As w x MA GA EA B | dx dMA dGA dB w dz u x As GA EA B */
static melora_status g_blob_s(void **p, const int *d, const float *, size_t, cublasHandle_t) {
    melora_blob_params bp = {F(p[1]), F(p[2]), nullptr, 0};
    return melora_cuda_blob_sample(F(p[0]), &bp, F(p[3]), d[0], d[1], S0); }
static melora_status h_blob_s(void **p, const int *d, const float *, size_t) {
    melora_blob_params bp = {F(p[1]), F(p[2]), nullptr, 0};
    return melora_blob_sample(F(p[0]), &bp, F(p[3]), d[0], d[1]); }
static melora_status g_blob_f(void **p, const int *d, const float *f, size_t wb, cublasHandle_t h) {
    melora_lora_saved sv = {F(p[4]), F(p[1])}; melora_blob_params bp = {F(p[5]), F(p[6]), F(p[8]), f[0]};
    return melora_cuda_blob_forward(F(p[0]), &sv, F(p[2]), wk(p[3], wb), &bp, F(p[7]), DIMS4(0), h, S0); }
static melora_status h_blob_f(void **p, const int *d, const float *f, size_t wb) {
    melora_lora_saved sv = {F(p[4]), F(p[1])}; melora_blob_params bp = {F(p[5]), F(p[6]), F(p[8]), f[0]};
    return melora_blob_forward(F(p[0]), &sv, F(p[2]), wk(p[3], wb), &bp, F(p[7]), DIMS4(0)); }
static melora_status g_blob_b(void **p, const int *d, const float *f, size_t wb, cublasHandle_t h) {
    melora_blob_grads g = {F(p[1]), F(p[2]), F(p[3])}; melora_lora_saved sv = {F(p[7]), F(p[6])};
    melora_blob_params bp = {nullptr, F(p[9]), F(p[11]), f[0]}; melora_blob_draw dr = {F(p[8]), F(p[10])};
    return melora_cuda_blob_backward(F(p[0]), &g, &sv, wk(p[4], wb), F(p[5]), &bp, &dr, DIMS4(0), h, S0); }
static melora_status h_blob_b(void **p, const int *d, const float *f, size_t wb) {
    melora_blob_grads g = {F(p[1]), F(p[2]), F(p[3])}; melora_lora_saved sv = {F(p[7]), F(p[6])};
    melora_blob_params bp = {nullptr, F(p[9]), F(p[11]), f[0]}; melora_blob_draw dr = {F(p[8]), F(p[10])};
    return melora_blob_backward(F(p[0]), &g, &sv, wk(p[4], wb), F(p[5]), &bp, &dr, DIMS4(0)); }

/* Flipout (d: G T n m r): z u w x MA GA EA sa sb B | dx dMA dGA dB w dz u x MA GA EA sa sb B */
static melora_status g_flip_f(void **p, const int *d, const float *f, size_t wb, cublasHandle_t h) {
    melora_lora_saved sv = {F(p[3]), F(p[1])}; melora_blob_params bp = {F(p[4]), F(p[5]), F(p[9]), f[0]};
    melora_flipout_noise nz = {F(p[6]), F(p[7]), F(p[8]), d[0]};
    return melora_cuda_blob_flipout_forward(F(p[0]), &sv, wk(p[2], wb), &bp, &nz, DIMS4(1), h, S0); }
static melora_status g_flip_fn(void **p, const int *d, const float *f, size_t wb, cublasHandle_t h) {
    melora_lora_saved sv = {F(p[3]), F(p[1])}; melora_blob_params bp = {F(p[4]), F(p[5]), F(p[9]), f[0]};
    melora_flipout_noise nz = {F(p[6]), F(p[7]), F(p[8]), d[0]};
    return melora_cuda_blob_flipout_forward_naive(F(p[0]), &sv, wk(p[2], wb), &bp, &nz, DIMS4(1), h, S0); }
static melora_status h_flip_f(void **p, const int *d, const float *f, size_t wb) {
    melora_lora_saved sv = {F(p[3]), F(p[1])}; melora_blob_params bp = {F(p[4]), F(p[5]), F(p[9]), f[0]};
    melora_flipout_noise nz = {F(p[6]), F(p[7]), F(p[8]), d[0]};
    return melora_blob_flipout_forward(F(p[0]), &sv, wk(p[2], wb), &bp, &nz, DIMS4(1)); }
static melora_status h_flip_fn(void **p, const int *d, const float *f, size_t) { /* z u x MA GA EA sa sb B */
    melora_lora_saved sv = {F(p[2]), F(p[1])}; melora_blob_params bp = {F(p[3]), F(p[4]), F(p[8]), f[0]};
    melora_flipout_noise nz = {F(p[5]), F(p[6]), F(p[7]), d[0]};
    return melora_blob_flipout_forward_naive(F(p[0]), &sv, &bp, &nz, DIMS4(1)); }
static melora_status g_flip_b(void **p, const int *d, const float *f, size_t wb, cublasHandle_t h) {
    melora_blob_grads g = {F(p[1]), F(p[2]), F(p[3])}; melora_lora_saved sv = {F(p[7]), F(p[6])};
    melora_blob_params bp = {F(p[8]), F(p[9]), F(p[13]), f[0]}; melora_flipout_noise nz = {F(p[10]), F(p[11]), F(p[12]), d[0]};
    return melora_cuda_blob_flipout_backward(F(p[0]), &g, &sv, wk(p[4], wb), F(p[5]), &bp, &nz, DIMS4(1), h, S0); }
static melora_status g_flip_bn(void **p, const int *d, const float *f, size_t wb, cublasHandle_t h) {
    melora_blob_grads g = {F(p[1]), F(p[2]), F(p[3])}; melora_lora_saved sv = {F(p[7]), F(p[6])};
    melora_blob_params bp = {F(p[8]), F(p[9]), F(p[13]), f[0]}; melora_flipout_noise nz = {F(p[10]), F(p[11]), F(p[12]), d[0]};
    return melora_cuda_blob_flipout_backward_naive(F(p[0]), &g, &sv, wk(p[4], wb), F(p[5]), &bp, &nz, DIMS4(1), h, S0); }
static melora_status h_flip_b(void **p, const int *d, const float *f, size_t wb) {
    melora_blob_grads g = {F(p[1]), F(p[2]), F(p[3])}; melora_lora_saved sv = {F(p[7]), F(p[6])};
    melora_blob_params bp = {F(p[8]), F(p[9]), F(p[13]), f[0]}; melora_flipout_noise nz = {F(p[10]), F(p[11]), F(p[12]), d[0]};
    return melora_blob_flipout_backward(F(p[0]), &g, &sv, wk(p[4], wb), F(p[5]), &bp, &nz, DIMS4(1)); }
static melora_status h_flip_bn(void **p, const int *d, const float *f, size_t) { /* dx dMA dGA dB dz u x MA GA EA sa sb B */
    melora_blob_grads g = {F(p[1]), F(p[2]), F(p[3])}; melora_lora_saved sv = {F(p[6]), F(p[5])};
    melora_blob_params bp = {F(p[7]), F(p[8]), F(p[12]), f[0]}; melora_flipout_noise nz = {F(p[9]), F(p[10]), F(p[11]), d[0]};
    return melora_blob_flipout_backward_naive(F(p[0]), &g, &sv, F(p[4]), &bp, &nz, DIMS4(1)); }

/* The diagonal KLs (d: r n | r): kl S dMA dGA w MA GA | kl S dM dH w M H; the host's
   without S and w */
static melora_status g_blob_kl(void **p, const int *d, const float *f, size_t wb, cublasHandle_t) {
    melora_blob_grads g = {F(p[2]), F(p[3]), nullptr}; melora_blob_params bp = {F(p[5]), F(p[6]), nullptr, 0};
    return melora_cuda_blob_kl(D(p[0]), I(p[1]), &g, wk(p[4], wb), &bp, f[0], f[1], d[0], d[1], S0); }
static melora_status h_blob_kl(void **p, const int *d, const float *f, size_t) {
    melora_blob_grads g = {F(p[1]), F(p[2]), nullptr}; melora_blob_params bp = {F(p[3]), F(p[4]), nullptr, 0};
    return melora_blob_kl(D(p[0]), &g, &bp, f[0], f[1], d[0], d[1]); }
static melora_status g_me_klx(void **p, const int *d, const float *f, size_t wb, cublasHandle_t) {
    melora_melora_grads g = {nullptr, nullptr, F(p[2]), F(p[3])}; melora_melora_params mp = {nullptr, nullptr, F(p[5]), F(p[6]), 0};
    return melora_cuda_melora_kl_exact(D(p[0]), I(p[1]), &g, wk(p[4], wb), &mp, f[0], f[1], d[0], S0); }
static melora_status h_me_klx(void **p, const int *d, const float *f, size_t) {
    melora_melora_grads g = {nullptr, nullptr, F(p[1]), F(p[2])}; melora_melora_params mp = {nullptr, nullptr, F(p[3]), F(p[4]), 0};
    return melora_melora_kl_exact(D(p[0]), &g, &mp, f[0], f[1], d[0]); }

/* Me-LoRA (d: E T n m r, K T n m r): C M H EC | z u v w x A C B |
   dx dA dB dM dH w dz u v x A C B H EC | z u w x A C B */
static melora_status g_me_s(void **p, const int *d, const float *, size_t, cublasHandle_t) {
    melora_melora_params mp = {nullptr, nullptr, F(p[1]), F(p[2]), 0};
    return melora_cuda_melora_sample(F(p[0]), &mp, F(p[3]), d[0], d[1], S0); }
static melora_status h_me_s(void **p, const int *d, const float *, size_t) {
    melora_melora_params mp = {nullptr, nullptr, F(p[1]), F(p[2]), 0};
    return melora_melora_sample(F(p[0]), &mp, F(p[3]), d[0], d[1]); }
static melora_status g_me_f(void **p, const int *d, const float *f, size_t wb, cublasHandle_t h) {
    melora_melora_saved sv = {F(p[4]), F(p[1]), F(p[2])}; melora_melora_params mp = {F(p[5]), F(p[7]), nullptr, nullptr, f[0]};
    melora_melora_draw dr = {F(p[6]), nullptr, d[0]};
    return melora_cuda_melora_forward(F(p[0]), &sv, wk(p[3], wb), &mp, &dr, DIMS4(1), h, S0); }
static melora_status g_me_fn(void **p, const int *d, const float *f, size_t wb, cublasHandle_t h) {
    melora_melora_saved sv = {F(p[4]), F(p[1]), F(p[2])}; melora_melora_params mp = {F(p[5]), F(p[7]), nullptr, nullptr, f[0]};
    melora_melora_draw dr = {F(p[6]), nullptr, d[0]};
    return melora_cuda_melora_forward_naive(F(p[0]), &sv, wk(p[3], wb), &mp, &dr, DIMS4(1), h, S0); }
static melora_status h_me_f(void **p, const int *d, const float *f, size_t wb) {
    melora_melora_saved sv = {F(p[4]), F(p[1]), F(p[2])}; melora_melora_params mp = {F(p[5]), F(p[7]), nullptr, nullptr, f[0]};
    melora_melora_draw dr = {F(p[6]), nullptr, d[0]};
    return melora_melora_forward(F(p[0]), &sv, wk(p[3], wb), &mp, &dr, DIMS4(1)); }
static melora_status h_me_fn(void **p, const int *d, const float *f, size_t) { /* z u v x A C B */
    melora_melora_saved sv = {F(p[3]), F(p[1]), F(p[2])}; melora_melora_params mp = {F(p[4]), F(p[6]), nullptr, nullptr, f[0]};
    melora_melora_draw dr = {F(p[5]), nullptr, d[0]};
    return melora_melora_forward_naive(F(p[0]), &sv, &mp, &dr, DIMS4(1)); }
static melora_status g_me_b(void **p, const int *d, const float *f, size_t wb, cublasHandle_t h) {
    melora_melora_grads g = {F(p[1]), F(p[2]), F(p[3]), F(p[4])}; melora_melora_saved sv = {F(p[9]), F(p[7]), F(p[8])};
    melora_melora_params mp = {F(p[10]), F(p[12]), nullptr, F(p[13]), f[0]}; melora_melora_draw dr = {F(p[11]), F(p[14]), d[0]};
    return melora_cuda_melora_backward(F(p[0]), &g, &sv, wk(p[5], wb), F(p[6]), &mp, &dr, DIMS4(1), h, S0); }
static melora_status g_me_bn(void **p, const int *d, const float *f, size_t wb, cublasHandle_t h) {
    melora_melora_grads g = {F(p[1]), F(p[2]), F(p[3]), F(p[4])}; melora_melora_saved sv = {F(p[9]), F(p[7]), F(p[8])};
    melora_melora_params mp = {F(p[10]), F(p[12]), nullptr, F(p[13]), f[0]}; melora_melora_draw dr = {F(p[11]), F(p[14]), d[0]};
    return melora_cuda_melora_backward_naive(F(p[0]), &g, &sv, wk(p[5], wb), F(p[6]), &mp, &dr, DIMS4(1), h, S0); }
static melora_status h_me_b(void **p, const int *d, const float *f, size_t wb) {
    melora_melora_grads g = {F(p[1]), F(p[2]), F(p[3]), F(p[4])}; melora_melora_saved sv = {F(p[9]), F(p[7]), F(p[8])};
    melora_melora_params mp = {F(p[10]), F(p[12]), nullptr, F(p[13]), f[0]}; melora_melora_draw dr = {F(p[11]), F(p[14]), d[0]};
    return melora_melora_backward(F(p[0]), &g, &sv, wk(p[5], wb), F(p[6]), &mp, &dr, DIMS4(1)); }
static melora_status h_me_bn(void **p, const int *d, const float *f, size_t) { /* dx dA dB dM dH dz u v x A C B H EC */
    melora_melora_grads g = {F(p[1]), F(p[2]), F(p[3]), F(p[4])}; melora_melora_saved sv = {F(p[8]), F(p[6]), F(p[7])};
    melora_melora_params mp = {F(p[9]), F(p[11]), nullptr, F(p[12]), f[0]}; melora_melora_draw dr = {F(p[10]), F(p[13]), d[0]};
    return melora_melora_backward_naive(F(p[0]), &g, &sv, F(p[5]), &mp, &dr, DIMS4(1)); }
static melora_status g_me_mc(void **p, const int *d, const float *f, size_t wb, cublasHandle_t h) {
    melora_lora_saved sv = {F(p[3]), F(p[1])}; melora_melora_params mp = {F(p[4]), F(p[6]), nullptr, nullptr, f[0]};
    return melora_cuda_melora_mc_forward(F(p[0]), &sv, wk(p[2], wb), &mp, F(p[5]), d[0], DIMS4(1), h, S0); }
static melora_status h_me_mc(void **p, const int *d, const float *f, size_t wb) {
    melora_lora_saved sv = {F(p[3]), F(p[1])}; melora_melora_params mp = {F(p[4]), F(p[6]), nullptr, nullptr, f[0]};
    return melora_melora_mc_forward(F(p[0]), &sv, wk(p[2], wb), &mp, F(p[5]), d[0], DIMS4(1)); }

/* eq. 7/8 (d: r n): kl S dA dM dH w A M H; the host's without S */
static melora_status g_me_kl(void **p, const int *d, const float *f, size_t wb, cublasHandle_t) {
    melora_melora_grads g = {F(p[2]), nullptr, F(p[3]), F(p[4])}; melora_melora_params mp = {F(p[6]), nullptr, F(p[7]), F(p[8]), 0};
    return melora_cuda_melora_kl(D(p[0]), I(p[1]), &g, wk(p[5], wb), &mp, f[0], f[1], d[0], d[1], S0); }
static melora_status g_me_kln(void **p, const int *d, const float *f, size_t wb, cublasHandle_t) {
    melora_melora_grads g = {F(p[2]), nullptr, F(p[3]), F(p[4])}; melora_melora_params mp = {F(p[6]), nullptr, F(p[7]), F(p[8]), 0};
    return melora_cuda_melora_kl_naive(D(p[0]), I(p[1]), &g, wk(p[5], wb), &mp, f[0], f[1], d[0], d[1], S0); }
static melora_status g_me_kl8(void **p, const int *d, const float *f, size_t wb, cublasHandle_t) {
    melora_melora_grads g = {F(p[2]), nullptr, F(p[3]), F(p[4])}; melora_melora_params mp = {F(p[6]), nullptr, F(p[7]), F(p[8]), 0};
    return melora_cuda_melora_kl_prior_noise(D(p[0]), I(p[1]), &g, wk(p[5], wb), &mp, f[0], f[1], f[2], d[0], d[1], S0); }
static melora_status h_me_kl(void **p, const int *d, const float *f, size_t wb) {
    melora_melora_grads g = {F(p[1]), nullptr, F(p[2]), F(p[3])}; melora_melora_params mp = {F(p[5]), nullptr, F(p[6]), F(p[7]), 0};
    return melora_melora_kl(D(p[0]), &g, wk(p[4], wb), &mp, f[0], f[1], d[0], d[1]); }
static melora_status h_me_kl8(void **p, const int *d, const float *f, size_t wb) {
    melora_melora_grads g = {F(p[1]), nullptr, F(p[2]), F(p[3])}; melora_melora_params mp = {F(p[5]), nullptr, F(p[6]), F(p[7]), 0};
    return melora_melora_kl_prior_noise(D(p[0]), &g, wk(p[4], wb), &mp, f[0], f[1], f[2], d[0], d[1]); }

/* Kinds as in fuzz_api.c (o required output, O optional output, w workspace, i input,
   g std input, h input required with dH, k double *kl) plus S, the KL's device status.
   The host call takes the same pointers without S, and without w where cpu_op is -1. */
struct cspec {
    const char *name, *dims, *kinds;
    const char *shape[16];
    const char *scal;
    int op;     /* CUDA workspace op (-1 none) */
    int cpu_op; /* host workspace op (-1: the host call has no workspace) */
    int kl;     /* 1 diagonal KL, 2 eq. 7/8 */
    int dh;     /* index of dH, -1 */
    int handle; /* 0 no handle, 1 required, 2 may be NULL (naive) */
    cu_fn cu;
    host_fn cpu;
};
#define LF MELORA_OP_LORA_FORWARD
#define LB MELORA_OP_LORA_BACKWARD
#define FF MELORA_OP_FLIPOUT_FORWARD
#define FB MELORA_OP_FLIPOUT_BACKWARD
#define MF MELORA_OP_MELORA_FORWARD
#define MB MELORA_OP_MELORA_BACKWARD
#define MC MELORA_OP_MELORA_MC_FORWARD
#define KL MELORA_OP_MELORA_KL
static const cspec SPECS[] = {
    {"lora_forward", "Tnmr", "oowiii", {"Tm", "Tr", "", "Tn", "rn", "mr"}, "s", LF, LF, 0, -1, 1, g_lora_f, h_lora_f},
    {"lora_backward", "Tnmr", "OOOwiiiii", {"Tn", "rn", "mr", "", "Tm", "Tr", "Tn", "rn", "mr"}, "s", LB, LB, 0, -1, 1, g_lora_b, h_lora_b},
    {"blob_sample", "rn", "oiii", {"rn", "rn", "rn", "rn"}, "", -1, -1, 0, -1, 0, g_blob_s, h_blob_s},
    {"blob_forward", "Tnmr", "ooowiiiii", {"Tm", "Tr", "rn", "", "Tn", "rn", "rn", "rn", "mr"}, "s", LF, LF, 0, -1, 1, g_blob_f, h_blob_f},
    {"blob_backward", "Tnmr", "OOOOwiiiiiii", {"Tn", "rn", "rn", "mr", "", "Tm", "Tr", "Tn", "rn", "rn", "rn", "mr"}, "s", LB, LB, 0, -1, 1, g_blob_b, h_blob_b},
    {"flipout_forward", "GTnmr", "oowiiiiiii", {"Tm", "Tr", "", "Tn", "rn", "rn", "rn", "gn", "gr", "mr"}, "s", FF, FF, 0, -1, 1, g_flip_f, h_flip_f},
    {"flipout_backward", "GTnmr", "OOOOwiiiiiiiii", {"Tn", "rn", "rn", "mr", "", "Tm", "Tr", "Tn", "rn", "rn", "rn", "gn", "gr", "mr"}, "s", FB, FB, 0, -1, 1, g_flip_b, h_flip_b},
    {"blob_kl", "rn", "kSOOwig", {"1", "1", "rn", "rn", "", "rn", "rn"}, "pw", KL, -1, 1, -1, 0, g_blob_kl, h_blob_kl},
    {"melora_sample", "Er", "oiii", {"Err", "rr", "rr", "Err"}, "", -1, -1, 0, -1, 0, g_me_s, h_me_s},
    {"melora_forward", "ETnmr", "ooowiiii", {"Tm", "Tr", "Tr", "", "Tn", "rn", "Err", "mr"}, "s", MF, MF, 0, -1, 1, g_me_f, h_me_f},
    {"melora_backward", "ETnmr", "OOOOOwiiiiiiihh", {"Tn", "rn", "mr", "rr", "rr", "", "Tm", "Tr", "Tr", "Tn", "rn", "Err", "mr", "rr", "Err"}, "s", MB, MB, 0, 4, 1, g_me_b, h_me_b},
    {"melora_mc_forward", "KTnmr", "oowiiii", {"KTm", "Tr", "", "Tn", "rn", "Krr", "mr"}, "s", MC, MC, 0, -1, 1, g_me_mc, h_me_mc},
    {"melora_kl", "rn", "kSOOOwiig", {"1", "1", "rn", "rr", "rr", "", "rn", "rr", "rr"}, "pw", KL, KL, 2, -1, 0, g_me_kl, h_me_kl},
    {"melora_kl_prior_noise", "rn", "kSOOOwiig", {"1", "1", "rn", "rr", "rr", "", "rn", "rr", "rr"}, "pew", KL, KL, 2, -1, 0, g_me_kl8, h_me_kl8},
    {"melora_kl_exact", "r", "kSOOwig", {"1", "1", "rr", "rr", "", "rr", "rr"}, "pw", KL, -1, 1, -1, 0, g_me_klx, h_me_klx},
    {"melora_kl_naive", "rn", "kSOOOwiig", {"1", "1", "rn", "rr", "rr", "", "rn", "rr", "rr"}, "pw", KL, KL, 2, -1, 0, g_me_kln, h_me_kl},
    {"lora_forward_naive", "Tnmr", "oowiii", {"Tm", "Tr", "", "Tn", "rn", "mr"}, "s", LF, -1, 0, -1, 2, g_lora_fn, h_lora_fn},
    {"lora_backward_naive", "Tnmr", "OOOwiiiii", {"Tn", "rn", "mr", "", "Tm", "Tr", "Tn", "rn", "mr"}, "s", LB, -1, 0, -1, 2, g_lora_bn, h_lora_bn},
    {"flipout_forward_naive", "GTnmr", "oowiiiiiii", {"Tm", "Tr", "", "Tn", "rn", "rn", "rn", "gn", "gr", "mr"}, "s", FF, -1, 0, -1, 2, g_flip_fn, h_flip_fn},
    {"flipout_backward_naive", "GTnmr", "OOOOwiiiiiiiii", {"Tn", "rn", "rn", "mr", "", "Tm", "Tr", "Tn", "rn", "rn", "rn", "gn", "gr", "mr"}, "s", FB, -1, 0, -1, 2, g_flip_bn, h_flip_bn},
    {"melora_forward_naive", "ETnmr", "ooowiiii", {"Tm", "Tr", "Tr", "", "Tn", "rn", "Err", "mr"}, "s", MF, -1, 0, -1, 2, g_me_fn, h_me_fn},
    {"melora_backward_naive", "ETnmr", "OOOOOwiiiiiiihh", {"Tn", "rn", "mr", "rr", "rr", "", "Tm", "Tr", "Tr", "Tn", "rn", "Err", "mr", "rr", "Err"}, "s", MB, -1, 0, 4, 2, g_me_bn, h_me_bn},
};
#define NSPEC (int)(sizeof SPECS / sizeof SPECS[0])

static cublasHandle_t the_handle;

static void *dmalloc(size_t bytes) {
    void *p = nullptr;
    CHECK(cudaMalloc(&p, bytes) == cudaSuccess && p, "cudaMalloc(%zu)", bytes);
    return p;
}
static void up(void *d, const void *h, size_t bytes) { CHECK(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice) == cudaSuccess, "upload"); }
static void down(void *h, const void *d, size_t bytes) { CHECK(cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost) == cudaSuccess, "download"); }

/* the workspace of op for dimensions d (the KLs: T = m = 1, n = r when there is no n);
   cuda: 0 the host's (float32), 1 the tuned CUDA calls', 2 the CUDA references' (in dtype
   dt) */
static melora_status ws_size(size_t *bytes, int op, const char *dims, const int *d, int cuda, int dt = 0) {
    g_dtype = cuda ? dt : 0;
    int kl = op == KL, r = (int)dim_of('r', dims, d);
    int n = strchr(dims, 'n') ? (int)dim_of('n', dims, d) : r;
    int T = kl ? 1 : (int)dim_of('T', dims, d), m = kl ? 1 : (int)dim_of('m', dims, d);
    melora_dims dd = mkdims(T, n, m, r);
    g_dtype = 0;
    return cuda == 2 ? melora_cuda_workspace_size_naive(bytes, (melora_op)op, dd)
         : cuda ? melora_cuda_workspace_size(bytes, (melora_op)op, dd)
                : melora_workspace_size(bytes, (melora_op)op, dd);
}

/* a buffer's elements as floats: float32 bytes, or halves of dtype dt widened */
static std::vector<float> as_floats(const std::vector<unsigned char> &b, int dt) {
    std::vector<float> v(b.size() / (dt ? 2 : 4));
    if (dt) CHECK(melora_convert(v.data(), MELORA_FP32, b.data(), (melora_dtype)dt, (int64_t)v.size()) == MELORA_OK, "convert");
    else memcpy(v.data(), b.data(), v.size() * sizeof(float));
    return v;
}
/* one unit in the last place of a half of magnitude v (bf16 8 significant bits, fp16 11
   down to its subnormals); past the format's range, its largest spacing */
static double half_ulp(double v, int dt) {
    int e;
    if (!(v > 0.0)) return dt == MELORA_FP16 ? ldexp(1.0, -24) : ldexp(1.0, -133);
    frexp(v, &e);
    if (dt == MELORA_FP16) e = e < -13 ? -13 : e > 16 ? 16 : e;
    return ldexp(1.0, e - (dt == MELORA_FP16 ? 11 : 8));
}

static int fuzz_compute(rd *in, const cspec *sp) {
    int np = (int)strlen(sp->kinds), nd = (int)strlen(sp->dims), ns = (int)strlen(sp->scal);
    int d[8], i, work_i = -1, misalign, short_work, bounded = 1, fix, null_handle;
    const int naive = strstr(sp->name, "_naive") != nullptr;
    float f[3] = {0, 0, 0};
    unsigned allowed = 0, nullmask;
    uint64_t cnt[16];
    size_t bytes[16], wbytes = 0;
    void *dp[16], *dbase[16];
    std::vector<std::vector<unsigned char>> host(np), after(np);
    int content_err = 0;
    melora_status st;
    CHECK(np < 16 && sp->shape[np - 1] && !sp->shape[np], "%s: table has %d kinds", sp->name, np);

    for (i = 0; i < nd; i++) d[i] = dsize(in);
    fix = u8(in);
    if ((fix & 1) && strchr(sp->dims, 'E') && strchr(sp->dims, 'T')) {
        int e = (int)(strchr(sp->dims, 'E') - sp->dims), t = (int)(strchr(sp->dims, 'T') - sp->dims);
        if (d[e] > 0 && d[e] <= 48) d[t] = d[e] * (1 + (fix >> 1) % 4);
    }
    if (fix >= LARGE_FIX) large(in, sp->dims, d);
    for (i = 0; i < ns; i++) f[i] = dscal(in);
    nullmask = u8(in) < 40 ? (1u << (u8(in) % np)) : 0u;
    if (u8(in) < 20) nullmask |= 1u << (u8(in) % np);
    {   /* one byte: a workspace misaligned by 4 bytes, or one byte short of its size */
        uint8_t wmode = u8(in);
        misalign = wmode < 12;
        short_work = wmode >= 12 && wmode < 24;
    }
    null_handle = sp->handle && u8(in) < 12;
    /* the activations' dtype (passes only: their dims have T): fp32 mostly, bf16, fp16, or
       an unknown value; a half one now and then 1 byte off its alignment */
    int dt = 0, act_mis = -1, nact = 0;
    int is_act[16] = {0};
    if (strchr(sp->dims, 'T')) {
        uint8_t b = u8(in);
        dt = b < 128 ? 0 : b < 184 ? 1 : b < 240 ? 2 : b < 248 ? 3 + b % 5 : -1 - b % 3;
        for (i = 0; i < np; i++) { /* x, z, dz, dx: every (T,n), (T,m), (K,T,m) tensor */
            const char *sh = sp->shape[i];
            char k = sp->kinds[i];
            is_act[i] = (k == 'o' || k == 'O' || k == 'i') &&
                        (!strcmp(sh, "Tn") || !strcmp(sh, "Tm") || !strcmp(sh, "KTm"));
            nact += is_act[i];
        }
        uint8_t mb = u8(in);
        if ((dt == 1 || dt == 2) && mb < 24 && nact) act_mis = mb % nact; /* the act_mis-th */
    }
    const int half = dt == 1 || dt == 2, esz = half ? 2 : 4;
    if (dt < 0 || dt > 2) allowed |= BIT(MELORA_ERR_ENUM);

    for (i = 0; i < np; i++) {
        char k = sp->kinds[i];
        if (k == 'w') work_i = i;
        if (!((nullmask >> i) & 1u)) continue;
        if (k == 'o' || k == 'w' || k == 'i' || k == 'g' || k == 'k' || k == 'S') allowed |= BIT(MELORA_ERR_NULL);
        if (k == 'h' && !((nullmask >> sp->dh) & 1u)) allowed |= BIT(MELORA_ERR_NULL);
    }
    if (null_handle && sp->handle == 1) allowed |= BIT(MELORA_ERR_NULL);
    allowed |= size_statuses(cnt, sp->shape, sp->kinds, np, sp->dims, d, nd);
    /* the sizes are checked against the host layout as well (melora_workspace_size); the
       diagonal KLs have a fixed scratch and no host workspace */
    if (sp->kl == 1) {
        wbytes = MELORA_CUDA_DIAG_KL_BYTES;
    } else if (sp->op >= 0 && positive("r", sp->dims, d) && positive(strchr(sp->dims, 'n') ? "n" : "r", sp->dims, d) &&
               (sp->op == KL || positive("Tm", sp->dims, d))) {
        size_t hb;
        melora_status ws = ws_size(&wbytes, sp->op, sp->dims, d, naive ? 2 : 1, dt);
        if (ws != MELORA_OK) {
            CHECK(ws == MELORA_ERR_OVERFLOW || (ws == MELORA_ERR_ENUM && (dt < 0 || dt > 2)),
                  "%s: cuda workspace_size gave %d", sp->name, ws);
            allowed |= BIT(ws);
            wbytes = 0;
        }
        ws = ws_size(&hb, sp->op, sp->dims, d, 0);
        if (ws != MELORA_OK) allowed |= BIT(MELORA_ERR_OVERFLOW);
    }
    if (work_i >= 0 && misalign && !((nullmask >> work_i) & 1u)) allowed |= BIT(MELORA_ERR_ALIGNMENT);
    int mis_i = -1; /* the argument index of the misaligned activation */
    for (i = 0, nact = 0; i < np && act_mis >= 0; i++)
        if (is_act[i] && nact++ == act_mis) mis_i = i;
    if (mis_i >= 0 && !((nullmask >> mis_i) & 1u)) allowed |= BIT(MELORA_ERR_ALIGNMENT);
    /* a workspace one byte short of the size query (known only for sizes it accepts) */
    short_work = short_work && work_i >= 0 && wbytes > 0 && !((nullmask >> work_i) & 1u);
    if (short_work) allowed |= BIT(MELORA_ERR_WORKSPACE);
    allowed |= scalar_statuses(&bounded, sp->scal, f, ns);
    if (!allowed && too_large(cnt, np, CAP_ELEMS, wbytes, CAP_WORK, sp->dims, d, CAP_MADDS))
        return 0;

    /* host contents, then device copies (exact sizes for valid calls, SMALL otherwise) */
    for (i = 0; i < np; i++) {
        char k = sp->kinds[i];
        size_t n = allowed ? SMALL : (size_t)cnt[i];
        if (k == 'w') {
            bytes[i] = allowed ? SMALL * 4 : (wbytes ? wbytes : 64);
            host[i].assign(bytes[i] + 8, 0xA5);
        } else if (k == 'k') {
            double v = 12345.0;
            bytes[i] = sizeof v;
            host[i].resize(bytes[i]);
            memcpy(host[i].data(), &v, sizeof v);
        } else if (k == 'S') {
            int v = 77;
            bytes[i] = sizeof v;
            host[i].resize(bytes[i]);
            memcpy(host[i].data(), &v, sizeof v);
        } else {
            std::vector<float> hf(n);
            float *h = hf.data();
            fill(in, h, n);
            bytes[i] = n * (is_act[i] ? esz : sizeof(float)) + (i == mis_i ? 1 : 0);
            host[i].assign(bytes[i], 0x5A);
            if (is_act[i] && half) { /* the values as the dtype holds them */
                std::vector<uint16_t> hb(n); /* aligned: melora_convert checks it */
                CHECK(melora_convert(hb.data(), (melora_dtype)dt, h, MELORA_FP32, (int64_t)n) == MELORA_OK, "convert");
                CHECK(melora_convert(h, MELORA_FP32, hb.data(), (melora_dtype)dt, (int64_t)n) == MELORA_OK, "convert");
                memcpy(host[i].data() + (i == mis_i ? 1 : 0), hb.data(), n * 2);
            } else {
                memcpy(host[i].data() + (i == mis_i ? 1 : 0), h, n * sizeof(float));
            }
            for (size_t j = 0; j < n; j++) {
                float v = h[j];
                if (!is_fin(v) || fabsf(v) > 1e3f) bounded = 0;
                if (k == 'g' && v != 0.0f && fabsf(v) < 1e-15f) bounded = 0;
                if (sp->kl && (k == 'g' || (k == 'i' && (sp->kl == 2 || i == np - 2))))
                    if (!is_fin(v) || (k == 'g' && v == 0.0f)) content_err = 1;
            }
        }
        size_t total = host[i].size();
        dbase[i] = dmalloc(total);
        up(dbase[i], host[i].data(), total);
        dp[i] = (char *)dbase[i] + (k == 'w' && misalign ? 4 : 0) + (i == mis_i ? 1 : 0);
        if ((nullmask >> i) & 1u) dp[i] = nullptr;
    }

    if (getenv("FUZZ_DEBUG")) {
        fprintf(stderr, "cuda %s(", sp->name);
        for (i = 0; i < nd; i++) fprintf(stderr, "%c=%d ", sp->dims[i], d[i]);
        for (i = 0; i < ns; i++) fprintf(stderr, "%c=%g ", sp->scal[i], f[i]);
        fprintf(stderr, "null=0x%x handle=%d misalign=%d dtype=%d act_misaligned=%d) allowed=0x%x bounded=%d\n", nullmask,
                !null_handle, misalign, dt, mis_i, allowed, bounded);
    }
    /* the workspace's size as the call is told it: the query's (or the buffer's, where the
       query rejects the sizes), one byte less when short */
    size_t wdecl = work_i < 0 ? 0 : wbytes ? wbytes - (short_work ? 1 : 0) : bytes[work_i];
    g_dtype = dt;
    st = sp->cu(dp, d, f, wdecl, null_handle ? nullptr : the_handle);
    g_dtype = 0;
    CHECK(cudaDeviceSynchronize() == cudaSuccess && cudaGetLastError() == cudaSuccess,
          "%s: CUDA error after the call: %s", sp->name, melora_cuda_last_error());
    if (allowed) CHECK(st != MELORA_OK && (allowed & BIT(st)), "%s: status %d, allowed mask 0x%x", sp->name, st, allowed);
    else CHECK(st == MELORA_OK, "%s: status %d for a valid call (%s)", sp->name, st, melora_cuda_last_error());
    CHECK(st == MELORA_ERR_CUDA || st == MELORA_ERR_CUBLAS || melora_cuda_last_error()[0] == '\0',
          "%s: status %d with last_error \"%s\"", sp->name, st, melora_cuda_last_error());

    for (i = 0; i < np; i++) {
        after[i].resize(host[i].size());
        down(after[i].data(), dbase[i], host[i].size());
    }
    int dev_status = MELORA_OK;
    double dev_kl = 0.0;
    for (i = 0; i < np; i++) {
        if (sp->kinds[i] == 'S') memcpy(&dev_status, after[i].data(), sizeof dev_status);
        if (sp->kinds[i] == 'k') memcpy(&dev_kl, after[i].data(), sizeof dev_kl);
    }
    for (i = 0; i < np; i++) {
        char k = sp->kinds[i];
        int same = memcmp(after[i].data(), host[i].data(), host[i].size()) == 0;
        if (st != MELORA_OK) CHECK(same, "%s: argument %d (%c) written on error %d", sp->name, i, k, st);
        else if (k == 'i' || k == 'g' || k == 'h') CHECK(same, "%s: const argument %d written", sp->name, i);
        else if (sp->kl && dev_status != MELORA_OK && (k == 'o' || k == 'O') && dp[i])
            CHECK(same, "%s: gradient %d written with device status %d", sp->name, i, dev_status);
    }

    if (st == MELORA_OK) {
        /* the same call on the host */
        void *hp[16];
        int nh = 0, kl_at = -1;
        double hkl = 0.0;
        void *hwork = nullptr;
        size_t hbytes = 0;
        std::vector<std::vector<float>> hout(np);
        for (i = 0; i < np; i++) {
            char k = sp->kinds[i];
            if (k == 'S') continue;
            if (k == 'w') {
                if (sp->cpu_op < 0) continue;
                CHECK(ws_size(&hbytes, sp->cpu_op, sp->dims, d, 0) == MELORA_OK, "%s: host workspace", sp->name);
                CHECK(melora_alloc(&hwork, hbytes) == MELORA_OK, "host workspace alloc");
                hp[nh++] = hwork;
            } else if (k == 'k') {
                kl_at = nh;
                hp[nh++] = &hkl;
            } else {
                hout[i] = as_floats(host[i], is_act[i] && half ? dt : 0);
                hp[nh++] = dp[i] ? hout[i].data() : nullptr;
            }
        }
        (void)kl_at;
        melora_status hs = sp->cpu(hp, d, f, hbytes);
        /* half: z or dx rounded once, as the dtype holds it (the host ran in float32) */
        for (i = 0; i < np && half && hs == MELORA_OK; i++)
            if (is_act[i] && (sp->kinds[i] == 'o' || sp->kinds[i] == 'O') && dp[i]) {
                std::vector<unsigned char> hb(hout[i].size() * 2);
                CHECK(melora_convert(hb.data(), (melora_dtype)dt, hout[i].data(), MELORA_FP32, (int64_t)hout[i].size()) == MELORA_OK, "convert");
                hout[i] = as_floats(hb, dt);
            }
        /* The compared outputs of the non-KL calls are multilinear in the inputs, s and
           the initial outputs, or increasing in |G| (BLoB's sigma = G^2): the same host
           call on absolute values gives each element's sum of |terms|, a bound on the
           rounding of a sum that cancels. */
        std::vector<std::vector<float>> habs(np);
        if (!sp->kl && hs == MELORA_OK) {
            void *ha[16];
            float fa[3] = {0.0f, 0.0f, 0.0f};
            int na = 0;
            for (i = 0; i < ns && i < 3; i++) fa[i] = fabsf(f[i]);
            for (i = 0; i < np; i++) {
                char k = sp->kinds[i];
                if (k == 'S') continue;
                if (k == 'w') {
                    if (sp->cpu_op >= 0) ha[na++] = hwork;
                    continue;
                }
                habs[i] = as_floats(host[i], is_act[i] && half ? dt : 0);
                for (size_t j = 0; j < habs[i].size(); j++) habs[i][j] = fabsf(habs[i][j]);
                ha[na++] = dp[i] ? habs[i].data() : nullptr;
            }
            CHECK(sp->cpu(ha, d, fa, hbytes) == MELORA_OK, "%s: host status on the absolute values", sp->name);
        }
        melora_free(hwork);
        if (sp->kl) {
            CHECK(dev_status == (int)hs || (!bounded && !content_err), "%s: device status %d, host %d", sp->name, dev_status, hs);
            if (dev_status != MELORA_OK) CHECK(dev_kl != dev_kl, "%s: KL %g with device status %d", sp->name, dev_kl, dev_status);
        } else {
            CHECK(hs == MELORA_OK, "%s: host status %d for a valid call", sp->name, hs);
        }
        if (bounded && hs == MELORA_OK && dev_status == MELORA_OK) {
            if (sp->kl)
                CHECK(fabs(dev_kl - hkl) <= 1e-3 * fabs(hkl) + 1e-6, "%s: KL %.9g, host %.9g", sp->name, dev_kl, hkl);
            for (i = 0; i < np; i++) {
                char k = sp->kinds[i];
                if ((k != 'o' && k != 'O') || !dp[i]) continue;
                const std::vector<float> gv = as_floats(after[i], is_act[i] && half ? dt : 0);
                const float *g = gv.data(), *h = hout[i].data();
                size_t j, n = hout[i].size();
                /* half: both round float(z_old) + delta once, with deltas within the float32
                   tolerance, so they may sit one half ulp apart */
                const int hdt = is_act[i] && half ? dt : 0;
                double scale = 0.0;
                const float *t = habs[i].empty() ? nullptr : habs[i].data();
                for (j = 0; j < n; j++) scale = fmax(scale, fabs((double)h[j]));
                auto tol = [&](size_t e) {
                    return 1e-4 * scale + (t ? 1e-5 * (double)t[e] : 0.0) + 1e-30 +
                           (hdt ? half_ulp(fmax(fabs((double)g[e]), fabs((double)h[e])), hdt) : 0.0);
                };
                if (getenv("FUZZ_DEBUG")) {
                    double worst = 0.0;
                    for (j = 0; j < n; j++) worst = fmax(worst, fabs((double)g[j] - (double)h[j]) / tol(j));
                    fprintf(stderr, "worst %s %d: %g of the tolerance\n", sp->name, i, worst);
                }
                for (j = 0; j < n; j++)
                    CHECK(fabs((double)g[j] - (double)h[j]) <= tol(j) ||
                              (hdt && (g[j] == h[j] || /* the same infinity, or either side of fp16's overflow */
                                       (hdt == MELORA_FP16 && fabs((double)g[j]) >= 65504.0 &&
                                        fabs((double)h[j]) >= 65504.0 && (g[j] > 0) == (h[j] > 0)))),
                          "%s: output %d[%zu] = %.9g on the device, %.9g on the host (scale %g, sum of |terms| %g)",
                          sp->name, i, j, g[j], h[j], scale, t ? (double)t[j] : 0.0);
            }
        }
    }
    for (i = 0; i < np; i++) CHECK(cudaFree(dbase[i]) == cudaSuccess, "cudaFree");
    return 0;
}

/* A draw's noise (melora_cuda_blob_noise, _blob_flipout_noise, _melora_noise): the
   statuses of the contract (NULL, sizes, a buffer or a draw's tensors past 2^40 numbers,
   a draw past 2^24) with nothing written; otherwise melora_rng_normal / _sign at the
   offsets melora_draw_offset gives, sb right after sa, bit for bit. */
static int fuzz_draw_noise(rd *in, int kind) {
    static const char *const DIMS[3] = {"rn", "GTnmr", "Er"};
    static const char *const OUT[3][3] = {{"rn"}, {"rn", "gn", "gr"}, {"Err"}};
    /* the buffers melora.h asks to be addressable besides the outputs */
    static const char *const CHK[5] = {"Tn", "Tm", "Tr", "mr", nullptr};
    const char *dims = DIMS[kind];
    const int nd = (int)strlen(dims), no = kind == 1 ? 3 : 1;
    int d[5], i, nul = u8(in) < 10;
    for (i = 0; i < nd; i++) d[i] = dsize(in);
    uint64_t seed = u64(in), draw;
    {
        uint8_t b = u8(in);
        draw = b < 200 ? b : b < 240 ? ((uint64_t)1 << 24) - 1 + (b & 1) : u64(in);
    }
    unsigned allowed = 0;
    uint64_t cnt[3] = {0, 0, 0};
    const uint64_t window = (uint64_t)1 << MELORA_DRAW_BITS;
    for (i = 0; i < nd; i++)
        if (d[i] <= 0) allowed |= BIT(MELORA_ERR_SIZE);
    if (nul) allowed |= BIT(MELORA_ERR_NULL);
    for (i = 0; i < no; i++)
        if (positive(OUT[kind][i], dims, d)) {
            cnt[i] = elems(OUT[kind][i], dims, d);
            if (cnt[i] == UINT64_MAX) allowed |= BIT(MELORA_ERR_OVERFLOW);
        }
    if (kind == 1)
        for (i = 0; CHK[i]; i++)
            if (positive(CHK[i], dims, d) && elems(CHK[i], dims, d) == UINT64_MAX) allowed |= BIT(MELORA_ERR_OVERFLOW);
    if (cnt[0] != UINT64_MAX && cnt[0] > window) allowed |= BIT(MELORA_ERR_OVERFLOW);
    if (kind == 1 && cnt[1] != UINT64_MAX && cnt[2] != UINT64_MAX && cnt[1] + cnt[2] > window)
        allowed |= BIT(MELORA_ERR_OVERFLOW);
    if (draw >= ((uint64_t)1 << (64 - MELORA_DRAW_BITS))) allowed |= BIT(MELORA_ERR_VALUE);
    if (!allowed && cnt[0] + cnt[1] + cnt[2] > CAP_ELEMS) return 0;
    float *dv[3] = {nullptr, nullptr, nullptr};
    std::vector<float> h[3], back[3];
    for (i = 0; i < no; i++) {
        size_t n = allowed ? SMALL : (size_t)cnt[i];
        h[i].assign(n, -7.0f);
        back[i].resize(n);
        dv[i] = (float *)dmalloc(n * sizeof(float));
        up(dv[i], h[i].data(), n * sizeof(float));
    }
    float *o0 = nul ? nullptr : dv[0];
    melora_status st = kind == 0 ? melora_cuda_blob_noise(o0, seed, draw, d[0], d[1], S0)
                     : kind == 1 ? melora_cuda_blob_flipout_noise(o0, dv[1], dv[2], seed, draw, d[0], mkdims(d[1], d[2], d[3], d[4]), S0)
                                 : melora_cuda_melora_noise(o0, seed, draw, d[0], d[1], S0);
    CHECK(cudaDeviceSynchronize() == cudaSuccess, "draw noise %d: CUDA error", kind);
    for (i = 0; i < no; i++) down(back[i].data(), dv[i], back[i].size() * sizeof(float));
    if (allowed) {
        CHECK(st != MELORA_OK && (allowed & BIT(st)), "draw noise %d: status %d, allowed 0x%x", kind, st, allowed);
        for (i = 0; i < no; i++)
            CHECK(memcmp(back[i].data(), h[i].data(), h[i].size() * sizeof(float)) == 0, "draw noise %d: written on error", kind);
    } else {
        uint64_t off = 0;
        CHECK(st == MELORA_OK && melora_cuda_last_error()[0] == '\0', "draw noise %d: status %d", kind, st);
        CHECK(melora_draw_offset(&off, draw) == MELORA_OK, "melora_draw_offset");
        for (i = 0; i < no; i++) {
            uint64_t start = off + (i == 2 ? cnt[1] : 0); /* sb right after sa */
            for (size_t j = 0; j < back[i].size(); j++) {
                float want = i == 0 ? melora_rng_normal(seed, start + j) : melora_rng_sign(seed, start + j);
                CHECK(memcmp(&back[i][j], &want, 4) == 0, "draw noise %d: tensor %d element %zu differs from melora_rng", kind, i, j);
            }
        }
    }
    for (i = 0; i < no; i++) CHECK(cudaFree(dv[i]) == cudaSuccess, "cudaFree");
    return 0;
}

static int fuzz_noise(rd *in) {
    int pick = u8(in), which = pick % 3, nul;
    if (pick % 6 >= 3) return fuzz_draw_noise(in, which);
    nul = u8(in) < 10;
    uint64_t seed = u64(in), offset = u8(in) < 128 ? u64(in) : UINT64_MAX - u8(in);
    int64_t count = dsize64(in);
    unsigned allowed = 0;
    if (nul) allowed |= BIT(MELORA_ERR_NULL);
    if (count <= 0) allowed |= BIT(MELORA_ERR_SIZE);
    else if ((uint64_t)count > MAX_ELEMS) allowed |= BIT(MELORA_ERR_OVERFLOW);
    if (!allowed && (uint64_t)count > CAP_ELEMS) return 0;
    size_t n = allowed ? SMALL : (size_t)count;
    std::vector<float> h(n, -7.0f), back(n);
    float *dv = (float *)dmalloc(n * sizeof(float));
    up(dv, h.data(), n * sizeof(float));
    melora_status st = which == 0 ? melora_cuda_noise_normal(nul ? nullptr : dv, seed, offset, count, S0)
                     : which == 1 ? melora_cuda_noise_uniform(nul ? nullptr : dv, seed, offset, count, S0)
                                  : melora_cuda_noise_sign(nul ? nullptr : dv, seed, offset, count, S0);
    CHECK(cudaDeviceSynchronize() == cudaSuccess, "noise: CUDA error");
    down(back.data(), dv, n * sizeof(float));
    if (allowed) {
        CHECK(st != MELORA_OK && (allowed & BIT(st)), "noise: status %d, allowed 0x%x", st, allowed);
        CHECK(memcmp(back.data(), h.data(), n * sizeof(float)) == 0, "noise: written on error");
    } else {
        CHECK(st == MELORA_OK && melora_cuda_last_error()[0] == '\0', "noise: status %d", st);
        for (size_t i = 0; i < n; i++) {
            uint64_t k = offset + i;
            float want = which == 0 ? melora_rng_normal(seed, k)
                       : which == 1 ? melora_rng_uniform(seed, k) : melora_rng_sign(seed, k);
            CHECK(memcmp(&back[i], &want, 4) == 0, "noise %d: element %zu differs from melora_rng", which, i);
        }
    }
    CHECK(cudaFree(dv) == cudaSuccess, "cudaFree");
    return 0;
}

static int fuzz_workspace(rd *in) {
    int op = (int)(int8_t)u8(in) % 12, d[4], i, sizes_ok = 1, nb = u8(in), nul = nb < 10;
    int naive = nb >> 7; /* the references' query */
    size_t bytes = 77;
    double big = 0.0;
    for (i = 0; i < 4; i++) d[i] = dsize(in);
    for (i = 0; i < 4; i++) { /* eq. 7's workspace reads only n and r */
        if (op == MELORA_OP_MELORA_KL && (i == 0 || i == 2)) continue;
        sizes_ok &= d[i] > 0;
        big = fmax(big, (double)d[i]);
    }
    uint8_t db = u8(in); /* the dtype: fp32 mostly, bf16, fp16, an unknown value */
    g_dtype = db < 128 ? 0 : db < 176 ? 1 : db < 224 ? 2 : db < 240 ? 3 + db % 4 : -1;
    const int bad_dt = g_dtype < 0 || g_dtype > 2;
    melora_dims dd = mkdims(d[0], d[1], d[2], d[3]);
    g_dtype = 0;
    melora_status st = (naive ? melora_cuda_workspace_size_naive : melora_cuda_workspace_size)(nul ? nullptr : &bytes, (melora_op)op, dd);
    if (bad_dt && !nul && sizes_ok && op >= 0 && op < MELORA_OP_COUNT_ && op != MELORA_OP_MELORA_KL)
        CHECK(st == MELORA_ERR_ENUM, "cuda workspace_size dtype: %d", st);
    else if (bad_dt && !nul) CHECK(st != MELORA_OK || op == MELORA_OP_MELORA_KL, "cuda workspace_size dtype: %d", st);
    else if (nul) CHECK(st == MELORA_ERR_NULL, "cuda workspace_size NULL: %d", st);
    else if (!sizes_ok) CHECK(st == MELORA_ERR_SIZE || (st == MELORA_ERR_ENUM && (op < 0 || op >= MELORA_OP_COUNT_)), "cuda workspace_size sizes: %d", st);
    else if (op < 0 || op >= MELORA_OP_COUNT_) CHECK(st == MELORA_ERR_ENUM, "cuda workspace_size op %d: %d", op, st);
    else if (big <= 48.0) CHECK(st == MELORA_OK, "cuda workspace_size: %d for sizes %d %d %d %d", st, d[0], d[1], d[2], d[3]);
    else CHECK(st == MELORA_OK || st == MELORA_ERR_OVERFLOW, "cuda workspace_size: %d", st);
    if (st != MELORA_OK) CHECK(bytes == 77, "cuda workspace_size: written on error");
    else CHECK(bytes > 0 && bytes % 8 == 0, "cuda workspace_size: %zu bytes", bytes);
    return 0;
}

/* melora_cuda_convert against melora_convert: the statuses of the contract, nothing
   written on error, and the host's bits for any contents (NaNs and subnormals included). */
static int fuzz_convert(rd *in) {
    uint8_t b0 = u8(in), b1 = u8(in), mode = u8(in);
    int ov = b0 < 240 ? b0 % 3 : 3 + b0 % 4, iv = b1 < 240 ? b1 % 3 : -1 - b1 % 2;
    int64_t count = dsize64(in);
    unsigned allowed = 0;
    const int nul = mode < 12, mis = mode >= 12 && mode < 24, alias = mode >= 24 && mode < 36;
    if (nul) allowed |= BIT(MELORA_ERR_NULL);
    if (ov < 0 || ov > 2 || iv < 0 || iv > 2) allowed |= BIT(MELORA_ERR_ENUM);
    if (count < 0) allowed |= BIT(MELORA_ERR_SIZE);
    else if ((uint64_t)count > MAX_ELEMS) allowed |= BIT(MELORA_ERR_OVERFLOW);
    if (mis) allowed |= BIT(MELORA_ERR_ALIGNMENT);
    if (alias && count != 0) allowed |= BIT(MELORA_ERR_ALIAS);
    if (!allowed && (uint64_t)count > CAP_ELEMS) return 0;
    size_t n = allowed ? SMALL : (size_t)count, eo = ov == 0 || ov > 2 ? 4 : 2, ei = iv == 0 || iv < 0 ? 4 : 2;
    std::vector<unsigned char> hi(n * ei + 8), ho(n * eo + 8, 0x5A), back(ho.size());
    uint64_t stt = u16(in) + 1;
    for (auto &c : hi) c = (unsigned char)((stt = stt * 6364136223846793005ull + 1442695040888963407ull) >> 56);
    unsigned char *di = (unsigned char *)dmalloc(hi.size()), *dout = (unsigned char *)dmalloc(ho.size());
    up(di, hi.data(), hi.size());
    up(dout, ho.data(), ho.size());
    void *po = dout + (mis && (mode & 1) ? 1 : 0);
    const void *pi = alias ? (const void *)dout : (const void *)(di + (mis && !(mode & 1) ? 1 : 0));
    if (nul && (mode & 1)) po = nullptr;
    if (nul && !(mode & 1)) pi = nullptr;
    /* casts, not variables: a load of an out-of-range enum is what UBSan flags */
    melora_status st = melora_cuda_convert(po, (melora_dtype)ov, pi, (melora_dtype)iv, count, S0);
    CHECK(cudaDeviceSynchronize() == cudaSuccess, "convert: CUDA error");
    down(back.data(), dout, back.size());
    if (allowed) {
        CHECK(st != MELORA_OK && (allowed & BIT(st)), "convert %d <- %d: status %d, allowed 0x%x", ov, iv, st, allowed);
        CHECK(memcmp(back.data(), ho.data(), ho.size()) == 0, "convert: written on error");
    } else {
        CHECK(st == MELORA_OK && melora_cuda_last_error()[0] == '\0', "convert %d <- %d: status %d", ov, iv, st);
        std::vector<unsigned char> want = ho;
        CHECK(melora_convert(want.data(), (melora_dtype)ov, hi.data(), (melora_dtype)iv, count) == MELORA_OK, "host convert");
        CHECK(memcmp(back.data(), want.data(), want.size()) == 0, "convert %d <- %d: not the host's bits", ov, iv);
    }
    CHECK(cudaFree(di) == cudaSuccess && cudaFree(dout) == cudaSuccess, "cudaFree");
    return 0;
}

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv);
extern "C" int LLVMFuzzerInitialize(int *, char ***) {
    setenv("CUDACPU_THREADS", "1", 0); /* blocks in order: reproducible runs */
    CHECK(cublasCreate(&the_handle) == CUBLAS_STATUS_SUCCESS, "cublasCreate");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rd in;
    in.p = data;
    in.n = size;
    in.i = 0;
    unsigned sel = u8(&in);
    if (sel < 224) return fuzz_compute(&in, &SPECS[sel % NSPEC]);
    if (sel < 232) return fuzz_convert(&in);
    return sel & 1 ? fuzz_noise(&in) : fuzz_workspace(&in);
}
