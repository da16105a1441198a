// melora_cuda.cu - the CUDA path of melora.h (declared in melora_cuda.h).
//
// The plain products go to cuBLAS; fused kernels take the place of GEMMs where fusing
// saves a pass over a (T,n) or (T,m) tensor (k_shrink: Me-LoRA's shrink with C, Flipout's
// two products and their signs; k_expand: Flipout's dx; k_dzpass: dv and dB from one read
// of dz; k_xpass: Flipout's dMA and dN from one read of x); a few small kernels do the
// per-element work (noise, sampling, the chain rule through a sample, Me-LoRA's r x r
// mixing, the KL terms). Per-element math comes from
// melora.h's __host__ __device__ functions, so the GPU computes what the CPU computes.
// Launch sizes, so that any size melora.h accepts runs: the element-wise kernels (k_noise,
// k_sample, k_chain, k_signs, k_rowmix, k_expand, k_finish, k_xfinish, the KL terms and
// gradients, k_gemm_naive) are grid-stride loops on at most MELORA__CU_MAXBLOCKS blocks;
// k_shrink strides over its 4-row tiles past MELORA__GRID_X_MAX blocks. The others are
// not grid-stride in x: k_dzpass and k_xpass put one block column on each 128-column
// (256-column) slice (gridDim.x = ceil(cols/128), within the 2^31-1 limit for any int
// size) and loop over row tiles past gridDim.y (65535); k_mcexpand strides over its 4-row
// tiles past MELORA__GRID_X_MAX and over the samples past gridDim.y; k_dc_part and k_eq7_mh_part put one block column
// on each of at most 256 (64) row (column) chunks and loop over the r x r outputs past
// gridDim.y; k_reduce has a fixed grid of MELORA__CU_NB blocks that stride over the
// terms; k_kl_final and k_reduce_naive are one thread.
// Every sum has a fixed order. No entry point synchronises: the KLs leave their value and
// status in device memory.
//
// The model: bytes and flops per kernel, and the time they imply at the paper's shape
// T = 1200, n = m = 4096 on an H100 SXM (3.35 TB/s HBM, 67 TFLOP/s FP32 without tensor
// cores; an H200 has the same FP32 rate and 4.8 TB/s). A (T,n) float tensor is 19.7 MB.
// Each time is max(bytes / 3.35 TB/s, flops / 67 TFLOP/s); a launch costs ~2-4 us more
// when the stream is not kept full (a CUDA graph hides most of it). Nothing here has been
// timed on a GPU yet: `make gpu-check` measures every line of this table (bench/results/
// gpu.md) and is the test of it.
//
//   kernel (op)                     bytes moved (model)                 flops       r=8     r=64
//   cuBLAS u = x A^T (LoRA, BLoB)   T n + r n + T r floats              2 T n r     5.9 us  9.4 us*
//   cuBLAS z += s u B^T             2 T m + m r + T r                   2 T m r     11.8    12.0
//   k_shrink (Me-LoRA u, v; r<=24)  T n + T r, W from L2 (T/4) r n      2 T n r     5.9     (cuBLAS)
//   k_shrink (Flipout u, N fused) 2 T n (x, sa) + 3 r n + T r         4 T n r     11.7    18.8*
//   k_dzpass (dv, dB; r <= 20)      T m + (m/128) T r + (T/64) m r      4 T m r     7.0     (cuBLAS)
//   k_finish (dv [+ Flipout du2]; dB) (m/128+1) T r; (T/64+2) m r       small       0.4;0.8 -
//   cuBLAS dv, dB (r > 20)          2 T m + ...                         4 T m r     -       18.8*
//   cuBLAS dA += du^T x             T n + T r + 2 r n                   2 T n r     5.9     9.4*
//   cuBLAS dx += du A               2 T n + T r + r n                   2 T n r     11.7    11.7
//   k_xpass (Flipout dMA, dN)   2 T n + 2 (T/64) r n                4 T n r     13.2    23.7
//   k_xfinish (its partials -> dMA, dGA)  2 (T/64) r n + 6 r n          small       1.6     12
//   k_expand (Flipout dx)           3 T n (dx read + write, sa) + 2 r n 4 T n r     17.6    18.8*
//   k_mcexpand (Me-LoRA MC), per k  2 T m + r^2, B from L2 (T/4) m r    2 T m r     11.7    11.7
//   k_dc_part + finish (Me-LoRA)    2 T r + 2 nch r^2 (nch <= 256)      2 T r^2     launch  launch
//   k_rowmix, k_sample, k_chain,    O(T r + E r^2 + r n)                small       launch  launch
//   k_signs, k_noise, KL kernels
//   (* compute-bound in FP32 at that r.)
//   k_widen, k_narrow (bf16, fp16)  6 bytes per element copied          -           see below
//
// Half dtypes (bf16, fp16 activations): the passes above run on float32 copies, so a call
// adds k_widen of x (T n), of dz (T m) and of z or dx, and k_narrow of z or dx: at the
// paper's shape (T n = T m = 4.9 M elements) 29.5 MB per tensor converted, ~8.8 us each at
// 3.35 TB/s; the LoRA forward then moves ~59 + 88 = 147 MB where a pass reading bf16 directly
// would move ~30 MB. Fusing the conversions into k_shrink, k_dzpass, k_xpass, k_expand and
// k_mcexpand (typed loads there, cuBLAS only on float32 operands) is the follow-up.
//
// So at r = 8 the LoRA forward should take ~18 us and the backward ~26 us (44 us together;
// 59 MB and 87 MB of traffic); at r = 64 ~21 us and ~40 us, FP32-compute-bound (TF32
// would bring it back to the 59 + 98 MB bandwidth floor, ~47 us). The fused kernels are
// used where the model says they move fewer bytes than the GEMMs they replace: k_dzpass
// reads dz once where two GEMMs read it twice, but its partials grow as 0.19 r T m bytes
// and pass the 4 T m bytes of the second read at r ~ 21 (hence MELORA__DZ_MAXR = 20);
// k_shrink saves no pass for Me-LoRA (u is small) and its FMA rate trails cuBLAS's at
// large r (hence MELORA__FUSE_MAXR = 24). Flipout's fusions save whole (T,n) passes (x*sa written and
// read twice) and are kept at every r.
//
// Launches per pass (tuned path, every gradient asked for): LoRA forward 2 (GEMMs); LoRA
// backward 5 at r <= 20 (k_dzpass, 2 k_finish, 2 GEMMs), 4 GEMMs above; Me-LoRA forward 2
// at r <= 24 (k_shrink, GEMM), 3 above; Me-LoRA backward 8 (the dz pass's 3, k_rowmix, 2
// GEMMs, k_dc_part, k_dc_finish); the Monte-Carlo forward 2 for any K (k_shrink or a GEMM,
// then k_mcexpand for every sample; the loop it replaced launched 1 + 2K); Flipout forward
// 2, backward 7 (k_sample, the dz pass's 3, k_xpass, k_xfinish, k_expand). Each launch is
// ~2-4 us of gaps when not graph-captured: more than a kernel's own time below ~10 MB.
// Waves at the paper's shape (132 SMs of an H100 SXM; resident blocks per SM from ptxas's
// sm_90 register counts at 256 threads): k_dzpass's 608 blocks (32 x 19; ~104 registers,
// two resident) are 2.3 waves (256 columns per block gave 304, 1.15 waves); k_shrink's 300
// 4-row tiles (~124 registers, two resident) 1.14; k_mcexpand's 300 K blocks (~38
// registers, six resident) 0.38 K.

#include "melora_cuda.h"
#include <stdio.h>
#include <string.h>

#define MELORA__CU_THREADS 256
#define MELORA__CU_MAXBLOCKS 4096
// The largest r at which the fused k_shrink (Me-LoRA's u and v; MELORA__FUSE_MAXR) and
// k_dzpass (dv and dB; MELORA__DZ_MAXR) are used: above them k_shrink's FMA rate trails
// cuBLAS's, and k_dzpass's partials, written and read once, 8 r T m (1/128 + 1/64) =
// 0.19 r T m bytes, pass the 4 T m bytes of a second read of dz (at r ~ 21), by the model
// at the top of this file. Flipout keeps its fused kernels at every r (they save whole
// passes over (T,n) tensors: k_shrink, k_xpass, k_expand).
#define MELORA__FUSE_MAXR 24
#define MELORA__DZ_MAXR 20
#define MELORA__CU_NB 64 // blocks of the KL reductions: fixed, so sums have a fixed order

static thread_local char melora__cu_err[192];

extern "C" const char *melora_cuda_last_error(void) { return melora__cu_err; }

// A failed runtime call also leaves its error as the thread's last error: it is taken
// here, once reported, so that the caller's next call does not report it again as pending.
#define MELORA__CU(call)                                                                    \
    do {                                                                                    \
        cudaError_t e_ = (call);                                                            \
        if (e_ != cudaSuccess) {                                                            \
            (void)cudaGetLastError();                                                       \
            snprintf(melora__cu_err, sizeof melora__cu_err, "%s: %s", #call,                \
                     cudaGetErrorString(e_));                                               \
            return MELORA_ERR_CUDA;                                                         \
        }                                                                                   \
    } while (0)
#define MELORA__BLAS(call)                                                                  \
    do {                                                                                    \
        cublasStatus_t e_ = (call);                                                         \
        if (e_ != CUBLAS_STATUS_SUCCESS) {                                                  \
            snprintf(melora__cu_err, sizeof melora__cu_err, "%s: %s", #call,                \
                     cublasGetStatusString(e_));                                            \
            return MELORA_ERR_CUBLAS;                                                       \
        }                                                                                   \
    } while (0)
#define MELORA__LAUNCHED() MELORA__CU(cudaGetLastError())
// After every launch: its status, and (profile builds) a mark for the timing table.
#define MELORA__LAUNCHED_P(st, name, bytes)                                                 \
    do {                                                                                    \
        MELORA__LAUNCHED();                                                                 \
        MELORA__PROF_MARK(st, name, bytes);                                                 \
    } while (0)
#define MELORA__F4(count) (4.0 * (double)(count)) // bytes of `count` floats

// Profile builds (-DMELORA_CUDA_PROFILE, bench/bench_cuda.cpp only): an event is recorded on
// the stream after every launch, with the kernel's name and the bytes it must move at
// least (the model of the comments below); melora_cuda_profile_stop() returns the time
// between each mark and the previous one (the first against the event of
// melora_cuda_profile_start), so launch gaps count towards the kernel that follows them.
// Library builds have none of it.
#ifdef MELORA_CUDA_PROFILE
#define MELORA__PROF_CAP 256
static struct {
    int on, count;
    cudaEvent_t ev[MELORA__PROF_CAP + 1];
    const char *name[MELORA__PROF_CAP];
    double bytes[MELORA__PROF_CAP];
} melora__prof;
static void melora__prof_mark(cudaStream_t st, const char *name, double bytes) {
    if (!melora__prof.on || melora__prof.count >= MELORA__PROF_CAP) return;
    int i = melora__prof.count++;
    melora__prof.name[i] = name;
    melora__prof.bytes[i] = bytes;
    cudaEventRecord(melora__prof.ev[i + 1], st);
}
#define MELORA__PROF_MARK(st, name, bytes) melora__prof_mark(st, name, bytes)
extern "C" melora_status melora_cuda_profile_start(cudaStream_t st) {
    if (!melora__prof.ev[0])
        for (int i = 0; i <= MELORA__PROF_CAP; i++) MELORA__CU(cudaEventCreate(&melora__prof.ev[i]));
    melora__prof.count = 0;
    melora__prof.on = 1;
    MELORA__CU(cudaEventRecord(melora__prof.ev[0], st));
    return MELORA_OK;
}
extern "C" int melora_cuda_profile_stop(const char **name, double *bytes, float *ms, int cap) {
    melora__prof.on = 0;
    int n = melora__prof.count < cap ? melora__prof.count : cap;
    if (n > 0 && cudaEventSynchronize(melora__prof.ev[n]) != cudaSuccess) return -1;
    for (int i = 0; i < n; i++) {
        name[i] = melora__prof.name[i];
        bytes[i] = melora__prof.bytes[i];
        if (cudaEventElapsedTime(&ms[i], melora__prof.ev[i], melora__prof.ev[i + 1]) != cudaSuccess)
            return -1;
    }
    return n;
}
#else
#define MELORA__PROF_MARK(st, name, bytes) ((void)0)
#endif

// Every entry point clears melora_cuda_last_error() and, once its arguments are checked and
// before its first launch, takes over an error left pending by an earlier CUDA call of the
// caller's: it is returned as MELORA_ERR_CUDA and named as earlier, rather than blamed on
// this call's first launch (cudaGetLastError after a launch would return it).
static melora_status melora__entry(void) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        snprintf(melora__cu_err, sizeof melora__cu_err,
                 "an error pending from before this call: %s", cudaGetErrorString(e));
        return MELORA_ERR_CUDA;
    }
    return MELORA_OK;
}

static unsigned melora__blocks(size_t count) {
    size_t b = (count + MELORA__CU_THREADS - 1) / MELORA__CU_THREADS;
    if (b < 1) b = 1;
    return (unsigned)(b < MELORA__CU_MAXBLOCKS ? b : MELORA__CU_MAXBLOCKS);
}
// Threads per block of the kernels that put a thread on each of `cols` columns (k_shrink,
// k_dzpass, k_xpass): 256, or fewer whole warps when there are fewer columns (a narrower
// block still covers every column with ncs = 1 slice).
static unsigned melora__tpb(int cols) {
    return cols >= MELORA__CU_THREADS ? MELORA__CU_THREADS : (unsigned)((cols + 31) / 32 * 32);
}

// ------------------------------------------------------------------------------ kernels --
// Each comment gives the bytes one call moves; at ~3 TB/s on an H100 a kernel that moves
// B bytes should take about B / 3e12 s once B is well above a few MB.

// out[i] = melora_rng_<kind>(seed, offset + i). Writes 4 bytes per element; compute-bound
// (one Philox block per element).
__global__ void melora__k_noise(float *out, uint64_t seed, uint64_t offset, size_t count,
                                int kind) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        uint64_t k = offset + (uint64_t)i;
        out[i] = kind == 0 ? melora_rng_normal(seed, k)
               : kind == 1 ? melora_rng_uniform(seed, k) : melora_rng_sign(seed, k);
    }
}

// Half-precision activations (bf16: half 0, fp16: 1) to and from float32 copies, element
// for element as melora.h's scalar conversions (exact widening; one round to nearest even
// on the way back). VEC (both pointers 16-byte aligned): 8 halves per 128-bit load or
// store, the tail past count / 8 * 8 element by element; 6 bytes per element either way.
template <bool VEC>
__global__ void melora__k_widen(float *out, const uint16_t *in, size_t count, int fp16) {
    size_t start = 0, stride = (size_t)gridDim.x * blockDim.x;
    size_t i0 = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (VEC) {
        size_t n8 = count / 8;
        for (size_t i = i0; i < n8; i += stride) {
            uint4 w = ((const uint4 *)in)[i];
            unsigned p[4] = {w.x, w.y, w.z, w.w};
            float f[8];
#pragma unroll
            for (int k = 0; k < 8; k++) {
                uint16_t h = (uint16_t)(p[k / 2] >> (16 * (k % 2))); // little-endian halves
                f[k] = fp16 ? melora_f16_to_f32(h) : melora_bf16_to_f32(h);
            }
            ((float4 *)out)[2 * i] = make_float4(f[0], f[1], f[2], f[3]);
            ((float4 *)out)[2 * i + 1] = make_float4(f[4], f[5], f[6], f[7]);
        }
        start = n8 * 8;
    }
    for (size_t i = start + i0; i < count; i += stride)
        out[i] = fp16 ? melora_f16_to_f32(in[i]) : melora_bf16_to_f32(in[i]);
}
template <bool VEC>
__global__ void melora__k_narrow(uint16_t *out, const float *in, size_t count, int fp16) {
    size_t start = 0, stride = (size_t)gridDim.x * blockDim.x;
    size_t i0 = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (VEC) {
        size_t n8 = count / 8;
        for (size_t i = i0; i < n8; i += stride) {
            float4 a = ((const float4 *)in)[2 * i], b = ((const float4 *)in)[2 * i + 1];
            float f[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};
            unsigned p[4] = {0u, 0u, 0u, 0u};
#pragma unroll
            for (int k = 0; k < 8; k++) {
                uint16_t h = fp16 ? melora_f32_to_f16(f[k]) : melora_f32_to_bf16(f[k]);
                p[k / 2] |= (unsigned)h << (16 * (k % 2));
            }
            ((uint4 *)out)[i] = make_uint4(p[0], p[1], p[2], p[3]);
        }
        start = n8 * 8;
    }
    for (size_t i = start + i0; i < count; i += stride)
        out[i] = fp16 ? melora_f32_to_f16(in[i]) : melora_f32_to_bf16(in[i]);
}

// out = mean + (g*g)*eps (mean nullptr: 0). 16 bytes per element.
// `period` > 0: mean and g repeat every `period` elements (Me-LoRA's E samples of one
// (M, H) in one launch); 0: they have `count` elements.
__global__ void melora__k_sample(float *out, const float *mean, const float *g,
                                 const float *eps, size_t count, size_t period) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t k = period ? i % period : i;
        out[i] = melora_sample_elem(mean ? mean[k] : 0.0f, g[k], eps[i]);
    }
}

// Chain rule through a sample mean + (G*G)*EPS: dmean += d, dstd += d*EPS*2G.
// 28 bytes per element.
__global__ void melora__k_chain(float *dmean, float *dstd, const float *d, const float *G,
                                const float *EPS, size_t count) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        if (dmean) dmean[i] += d[i];
        if (dstd) dstd[i] += melora_dstd_elem(d[i], G[i], EPS[i]);
    }
}

// out[t][j] (= or +=) in[t][j] * sgn[t/G][j]: Flipout's sign rows. 12-16 bytes/element.
__global__ void melora__k_signs(float *out, const float *in, const float *sgn, int T, int cols,
                                int G, int accumulate) {
    size_t count = (size_t)T * (size_t)cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t t = i / (size_t)cols, j = i % (size_t)cols;
        float v = in[i] * sgn[(t / (size_t)G) * (size_t)cols + j];
        out[i] = accumulate ? out[i] + v : v;
    }
}

// Me-LoRA's r x r mixing per row: out_t = C_e in_t (trans 0) or C_e^T in_t (trans 1),
// e = t / per. Reads T*r + E*r*r floats, writes T*r: small next to the GEMMs.
__global__ void melora__k_rowmix(float *out, const float *in, const float *C, int T, int r,
                                 int per, int trans) {
    size_t count = (size_t)T * (size_t)r;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t t = i / (size_t)r, j = i % (size_t)r;
        const float *Ce = C + (t / (size_t)per) * (size_t)r * (size_t)r;
        const float *row = in + t * (size_t)r;
        float acc = 0.0f;
        for (int k = 0; k < r; k++)
            acc += (trans ? Ce[(size_t)k * r + j] : Ce[j * (size_t)r + k]) * row[k];
        out[i] = acc;
    }
}

// dC_e = dv_e^T u_e; dM += sum_e dC_e; dH += sum_e dC_e*EC_e*2H. The naive reference: one
// thread per (j,k), rows in order. Reads dv and u (T*r each) r times from cache.
__global__ void melora__k_dc(float *dM, float *dH, const float *dv, const float *u,
                             const float *H, const float *EC, int T, int r, int E) {
    size_t rr = (size_t)r * (size_t)r;
    int per = T / E;
    for (size_t q = blockIdx.x * (size_t)blockDim.x + threadIdx.x; q < rr;
         q += (size_t)gridDim.x * blockDim.x) {
        size_t j = q / (size_t)r, k = q % (size_t)r;
        float gm = 0.0f, gh = 0.0f;
        for (int e = 0; e < E; e++) {
            float dc = 0.0f;
            for (int t = e * per; t < (e + 1) * per; t++)
                dc += dv[(size_t)t * r + j] * u[(size_t)t * r + k];
            gm += dc;
            if (dH) gh += melora_dstd_elem(dc, H[q], EC[(size_t)e * rr + q]);
        }
        if (dM) dM[q] += gm;
        if (dH) dH[q] += gh;
    }
}
// The tuned dM, dH: the rows are cut into nch <= 256 chunks of `rows` rows (any chunk may
// span examples, since dH = 2H * sum_t (dv_t u_t^T) * EC_e(t) is linear in each row's
// term); grid (chunk, entry groups), a thread per (chunk, entry) sums its chunk's rows in
// order into pm (for dM) and ph (for dH, before the 2H); melora__k_dc_finish adds the
// chunks in order: deterministic, and a sum over T in two levels of ~sqrt(T) terms rather
// than one of T. Reads dv and u (T*r each) about r times from L1/L2; the partials are
// 2 nch r^2 floats (8 KB at T = 1200, r = 8).
__global__ void melora__k_dc_part(float *pm, float *ph, const float *dv, const float *u,
                                  const float *EC, int T, int r, int per, int rows) {
    size_t rr = (size_t)r * (size_t)r;
    int c = (int)blockIdx.x, t0 = c * rows, t1 = t0 + rows < T ? t0 + rows : T;
    for (size_t q = blockIdx.y * (size_t)blockDim.x + threadIdx.x; q < rr;
         q += (size_t)gridDim.y * blockDim.x) {
        size_t j = q / (size_t)r, k = q % (size_t)r;
        float am = 0.0f, ah = 0.0f;
        for (int t = t0; t < t1; t++) {
            float p = dv[(size_t)t * r + j] * u[(size_t)t * r + k];
            am += p;
            if (ph) ah += p * EC[(size_t)(t / per) * rr + q];
        }
        if (pm) pm[(size_t)c * rr + q] = am;
        if (ph) ph[(size_t)c * rr + q] = ah;
    }
}
__global__ void melora__k_dc_finish(float *dM, float *dH, const float *pm, const float *ph,
                                    const float *H, int nch, int r) {
    size_t rr = (size_t)r * (size_t)r;
    for (size_t q = blockIdx.x * (size_t)blockDim.x + threadIdx.x; q < rr;
         q += (size_t)gridDim.x * blockDim.x) {
        float sm = 0.0f, sh = 0.0f;
        for (int c = 0; c < nch; c++) {
            if (dM) sm += pm[(size_t)c * rr + q];
            if (dH) sh += ph[(size_t)c * rr + q];
        }
        if (dM) dM[q] += sm;
        if (dH) dH[q] += melora_dstd_elem(sh, H[q], 1.0f);
    }
}

// Sums v[0..7] over the 32 lanes of a warp in 9 shuffles rather than 8 x 5: three
// exchange-halving steps (each lane keeps half its values and adds its partner's copy of
// them) leave lane L with index q(L) = 4 b4 + 2 b3 + b2 (b_i: bit i of L) summed over the
// 8 lanes that agree on those bits, and two xor steps add the remaining 4. Every lane gets
// the full sum of index melora__sum8_q(lane), in a fixed order (deterministic); all 32
// lanes must take part.
__device__ __forceinline__ int melora__sum8_q(int lane) {
    return ((lane >> 4) & 1) * 4 + ((lane >> 3) & 1) * 2 + ((lane >> 2) & 1);
}
__device__ __forceinline__ float melora__warp_sum8(float *v, int lane) {
    const unsigned all = 0xffffffffu;
    bool hi = (lane & 16) != 0;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float send = hi ? v[i] : v[i + 4], keep = hi ? v[i + 4] : v[i];
        v[i] = keep + __shfl_xor_sync(all, send, 16);
    }
    hi = (lane & 8) != 0;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        float send = hi ? v[i] : v[i + 2], keep = hi ? v[i + 2] : v[i];
        v[i] = keep + __shfl_xor_sync(all, send, 8);
    }
    hi = (lane & 4) != 0;
    float send = hi ? v[0] : v[1], keep = hi ? v[1] : v[0];
    float acc = keep + __shfl_xor_sync(all, send, 4);
    acc += __shfl_xor_sync(all, acc, 2);
    acc += __shfl_xor_sync(all, acc, 1);
    return acc;
}

// The fused shrink: u_t = x_t W^T (+ sb_g * ((x_t * sa_g) W2^T), Flipout) and, with C,
// v_t = C_e u_t. A block owns a tile of SH_RT = 4 rows (grid-stride over tiles) and walks
// the columns once per group of RK = 8 ranks, accumulating all 4 x 8 products in
// registers, so each W element loaded serves 4 rows (W is re-read from L2 T/4 times, not
// T). VEC (n % 4 == 0 and x, W 16-byte aligned, no Flipout): 128-bit loads, 4 of x and 8 of
// W in flight per thread per step; otherwise 32-bit loads. The per-thread sums are reduced
// in a fixed order: melora__warp_sum8 per row and product (9 shuffles), then the warps in
// order. Model: reads x once, T*n*4 bytes (19.7 MB at T = 1200, n = 4096: 6.6 us at
// 3 TB/s), plus (T/4)*r*n*4 bytes of W from L2; 2*T*n*r flops (Flipout: twice).
#define MELORA__RK 8
#define MELORA__SH_RT 4
template <bool VEC>
__global__ void melora__k_shrink(float *u, float *v, const float *x, const float *W,
                                 const float *W2, const float *EA2, const float *sa,
                                 const float *sb, int G, const float *C, int per, int T, int n,
                                 int r) {
    __shared__ float red[MELORA__CU_THREADS / 32][MELORA__SH_RT][2 * MELORA__RK];
    int lane = (int)(threadIdx.x & 31u), warp = (int)(threadIdx.x >> 5), nw = (int)(blockDim.x >> 5);
    int ntile = (T + MELORA__SH_RT - 1) / MELORA__SH_RT;
    for (int tile = (int)blockIdx.x; tile < ntile; tile += (int)gridDim.x) {
        int t0 = tile * MELORA__SH_RT, nr = T - t0 < MELORA__SH_RT ? T - t0 : MELORA__SH_RT;
        for (int k0 = 0; k0 < r; k0 += MELORA__RK) {
            int nq = r - k0 < MELORA__RK ? r - k0 : MELORA__RK;
            float a1[MELORA__SH_RT][MELORA__RK], a2[MELORA__SH_RT][MELORA__RK];
            for (int i = 0; i < MELORA__SH_RT; i++)
                for (int q = 0; q < MELORA__RK; q++) a1[i][q] = a2[i][q] = 0.0f;
            const float *w1 = W + (size_t)k0 * (size_t)n;
            const float *w2 = W2 ? W2 + (size_t)k0 * (size_t)n : nullptr;
            const float *e2 = W2 ? EA2 + (size_t)k0 * (size_t)n : nullptr; // with W2 always
            if (VEC) {
                const float4 *x4 = (const float4 *)(x + (size_t)t0 * (size_t)n);
                const float4 *w4 = (const float4 *)w1;
                int n4 = n / 4;
                for (int j = (int)threadIdx.x; j < n4; j += (int)blockDim.x) {
                    float4 wv[MELORA__RK], xv[MELORA__SH_RT];
#pragma unroll
                    for (int q = 0; q < MELORA__RK; q++)
                        wv[q] = q < nq ? w4[(size_t)q * (size_t)n4 + (size_t)j] : make_float4(0, 0, 0, 0);
#pragma unroll
                    for (int i = 0; i < MELORA__SH_RT; i++)
                        xv[i] = i < nr ? x4[(size_t)i * (size_t)n4 + (size_t)j] : make_float4(0, 0, 0, 0);
#pragma unroll
                    for (int i = 0; i < MELORA__SH_RT; i++)
#pragma unroll
                        for (int q = 0; q < MELORA__RK; q++)
                            a1[i][q] += xv[i].x * wv[q].x + xv[i].y * wv[q].y + xv[i].z * wv[q].z +
                                        xv[i].w * wv[q].w;
                }
            } else {
                for (int j = (int)threadIdx.x; j < n; j += (int)blockDim.x) {
                    float wv[MELORA__RK], wv2[MELORA__RK];
#pragma unroll
                    for (int q = 0; q < MELORA__RK; q++) {
                        wv[q] = q < nq ? w1[(size_t)q * (size_t)n + (size_t)j] : 0.0f;
                        size_t o = (size_t)q * (size_t)n + (size_t)j;
                        wv2[q] = !w2 || q >= nq ? 0.0f // Flipout's N = (GA*GA)*EA, sampled here
                                                : melora_sample_elem(0.0f, w2[o], e2[o]);
                    }
#pragma unroll
                    for (int i = 0; i < MELORA__SH_RT; i++) { // constant indices: registers
                        int t = t0 + i;
                        float xv = i < nr ? x[(size_t)t * (size_t)n + (size_t)j] : 0.0f;
                        float xs = w2 && i < nr ? xv * sa[(size_t)(t / G) * (size_t)n + (size_t)j] : 0.0f;
#pragma unroll
                        for (int q = 0; q < MELORA__RK; q++) {
                            a1[i][q] += xv * wv[q];
                            a2[i][q] += xs * wv2[q];
                        }
                    }
                }
            }
#pragma unroll
            for (int i = 0; i < MELORA__SH_RT; i++) {
                float s1 = melora__warp_sum8(a1[i], lane);
                float s2 = W2 ? melora__warp_sum8(a2[i], lane) : 0.0f;
                if ((lane & 3) == 0) {
                    int q = melora__sum8_q(lane);
                    red[warp][i][q] = s1;
                    red[warp][i][MELORA__RK + q] = s2;
                }
            }
            __syncthreads();
            if ((int)threadIdx.x < MELORA__SH_RT * MELORA__RK) {
                int i = (int)threadIdx.x / MELORA__RK, q = (int)threadIdx.x % MELORA__RK;
                if (i < nr && q < nq) {
                    int t = t0 + i, k = k0 + q;
                    float s1 = 0.0f, s2 = 0.0f;
                    for (int w = 0; w < nw; w++) s1 += red[w][i][q], s2 += red[w][i][MELORA__RK + q];
                    u[(size_t)t * (size_t)r + (size_t)k] =
                        W2 ? s1 + s2 * sb[(size_t)(t / G) * (size_t)r + (size_t)k] : s1;
                }
            }
            __syncthreads(); // red is reused, and u must be complete before the mixing
        }
        if (C) // v_t = C_e u_t for the tile's rows
            for (int o = (int)threadIdx.x; o < nr * r; o += (int)blockDim.x) {
                int t = t0 + o / r, j = o % r;
                const float *Ce = C + (size_t)(t / per) * (size_t)r * (size_t)r;
                const float *ut = u + (size_t)t * (size_t)r;
                float acc = 0.0f;
                for (int k = 0; k < r; k++) acc += Ce[(size_t)j * (size_t)r + (size_t)k] * ut[k];
                v[(size_t)t * (size_t)r + (size_t)j] = acc;
            }
    }
}

// The fused expand (Flipout): dx_t += du_t W + sa_g * (du2_t W2), one read-modify-write of
// dx: 8*T*n bytes (39 MB at the 7B shape, ~13 us at 3 TB/s) where a GEMM into a temporary
// plus a sign pass would move three times that.
__global__ void melora__k_expand(float *dx, const float *du, const float *W, const float *du2,
                                 const float *W2, const float *sa, int G, int T, int n, int r) {
    size_t count = (size_t)T * (size_t)n;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t t = i / (size_t)n, j = i % (size_t)n;
        const float *dr = du + t * (size_t)r;
        const float *d2 = du2 + t * (size_t)r;
        float a1 = 0.0f, a2 = 0.0f;
        for (int k = 0; k < r; k++) a1 += dr[k] * W[(size_t)k * (size_t)n + j];
        for (int k = 0; k < r; k++) a2 += d2[k] * W2[(size_t)k * (size_t)n + j];
        dx[i] += a1 + a2 * sa[(t / (size_t)G) * (size_t)n + j];
    }
}

// The fused dz pass of every backward: dv = s dz B and dB += s dz^T uB from one read of dz.
// A block (256 threads) owns a tile of DZ_RT = 64 rows x DZ_COLS = 128 columns: 32 column
// groups of 4 columns (a lane each) times 8 row groups (a warp each) that take the tile's
// rows in turn. Per row a thread loads its 4 columns (one 128-bit load when VEC: m % 4 == 0
// and dz 16-byte aligned), adds their share of dB in registers (4 x 8), and sums their
// share of dv over its 4 columns, then over the warp (melora__warp_sum8: 9 shuffles per
// 512 bytes of dz); the 8 row groups' dB are added in order in shared memory after the
// tile (two barriers per tile). Both leave per-tile partials that melora__k_finish sums in
// tile order: deterministic, and the same bits whatever gridDim.y (tiles past it are looped
// over in the same per-tile order). 128 columns, not 256, so that the paper's shape has
// two waves: grid (m/128) x (T/64) = 32 x 19 = 608 blocks at T = 1200, m = 4096, 2.3 waves
// of 264 (132 SMs x 2 resident blocks: the register file holds two of these 256-thread
// blocks); 256 columns gave 304 blocks, 1.15 waves. Model: reads dz once, T*m*4 bytes
// (19.7 MB at the 7B shape, 5.9 us at 3.35 TB/s), where two GEMMs read it twice; writes
// (m/128)*T*r + (T/64)*m*r floats of partials (1.2 + 2.5 MB there, read again by
// k_finish); 4*T*m*r flops.
#define MELORA__DZ_RT 64
#define MELORA__DZ_RG 8
#define MELORA__DZ_COLS (4 * (MELORA__CU_THREADS / MELORA__DZ_RG)) // 128
template <bool VEC>
__global__ void __launch_bounds__(MELORA__CU_THREADS)
    melora__k_dzpass(float *dvp, float *dbp, const float *dz, const float *B, const float *uB,
                     int T, int m, int r) {
    __shared__ float red[MELORA__DZ_RT][MELORA__RK];                                  // 2 KB
    __shared__ float dbs[MELORA__DZ_RG][MELORA__DZ_COLS][MELORA__RK];                 // 32 KB
    static_assert(MELORA__CU_THREADS / MELORA__DZ_RG == 32, "a row group is one warp");
    int lane = (int)(threadIdx.x & 31u), tx = lane, rg = (int)(threadIdx.x >> 5);
    int col0 = (int)blockIdx.x * MELORA__DZ_COLS + 4 * tx;
    int nrt = (T + MELORA__DZ_RT - 1) / MELORA__DZ_RT;
    for (int tile = (int)blockIdx.y; tile < nrt; tile += (int)gridDim.y) { // any T
        int t0 = tile * MELORA__DZ_RT;
        int t1 = t0 + MELORA__DZ_RT < T ? t0 + MELORA__DZ_RT : T;
        for (int k0 = 0; k0 < r; k0 += MELORA__RK) {
            int nq = r - k0 < MELORA__RK ? r - k0 : MELORA__RK;
            float db[4][MELORA__RK], bc[4][MELORA__RK];
            for (int c = 0; c < 4; c++)
                for (int q = 0; q < MELORA__RK; q++) {
                    db[c][q] = 0.0f;
                    bc[c][q] = col0 + c < m && q < nq
                                   ? B[(size_t)(col0 + c) * (size_t)r + (size_t)(k0 + q)] : 0.0f;
                }
            for (int t = t0 + rg; t < t1; t += MELORA__DZ_RG) {
                const float *row = dz + (size_t)t * (size_t)m;
                float g[4];
                if (VEC && col0 + 3 < m) {
                    float4 g4 = *(const float4 *)(row + col0);
                    g[0] = g4.x, g[1] = g4.y, g[2] = g4.z, g[3] = g4.w;
                } else
                    for (int c = 0; c < 4; c++) g[c] = col0 + c < m ? row[col0 + c] : 0.0f;
                const float *ut = uB + (size_t)t * (size_t)r + (size_t)k0;
                float p[MELORA__RK];
#pragma unroll
                for (int q = 0; q < MELORA__RK; q++) {
                    float uq = q < nq ? ut[q] : 0.0f;
                    p[q] = 0.0f;
#pragma unroll
                    for (int c = 0; c < 4; c++) {
                        db[c][q] += g[c] * uq;
                        p[q] += g[c] * bc[c][q];
                    }
                }
                float sum = melora__warp_sum8(p, lane);
                if ((lane & 3) == 0) red[t - t0][melora__sum8_q(lane)] = sum;
            }
            for (int c = 0; c < 4; c++)
                for (int q = 0; q < MELORA__RK; q++) dbs[rg][4 * tx + c][q] = db[c][q];
            __syncthreads();
            for (int o = (int)threadIdx.x; o < (t1 - t0) * MELORA__RK; o += (int)blockDim.x) {
                int tr = o / MELORA__RK, q = o % MELORA__RK;
                if (q < nq)
                    dvp[((size_t)blockIdx.x * (size_t)T + (size_t)(t0 + tr)) * (size_t)r +
                        (size_t)(k0 + q)] = red[tr][q];
            }
            if (dbp)
                for (int o = (int)threadIdx.x; o < MELORA__DZ_COLS * MELORA__RK; o += (int)blockDim.x) {
                    int cl = o / MELORA__RK, q = o % MELORA__RK, col = (int)blockIdx.x * MELORA__DZ_COLS + cl;
                    if (col >= m || q >= nq) continue;
                    float acc = 0.0f;
                    for (int g2 = 0; g2 < MELORA__DZ_RG; g2++) acc += dbs[g2][cl][q];
                    dbp[((size_t)tile * (size_t)m + (size_t)col) * (size_t)r + (size_t)(k0 + q)] = acc;
                }
            __syncthreads(); // red and dbs are reused
        }
    }
}
// Flipout's weight gradients from one read of x: per tile of DZ_RT rows x 256 columns, a
// thread per column j adds du[t][k] x[t][j] (for dMA) and du2[t][k] x[t][j] sa[t/G][j]
// (for dN) over the tile's rows into per-tile partials (nrt, r, n), summed in tile
// order by melora__k_finish. Reads x once (19.7 MB at the 7B shape) where GEMMs would read
// x, write x*sa and read it again (59 MB); the partials add 2 (T/64) r n floats.
__global__ void melora__k_xpass(float *pa, float *pb, const float *x, const float *sa, int G,
                                const float *du, const float *du2, int T, int n, int r) {
    int j = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (j >= n) return; // no barriers or warp operations below
    int nrt = (T + MELORA__DZ_RT - 1) / MELORA__DZ_RT;
    for (int tile = (int)blockIdx.y; tile < nrt; tile += (int)gridDim.y) { // any T
        int t0 = tile * MELORA__DZ_RT;
        int t1 = t0 + MELORA__DZ_RT < T ? t0 + MELORA__DZ_RT : T;
        for (int k0 = 0; k0 < r; k0 += MELORA__RK) {
            float a[MELORA__RK], b[MELORA__RK];
            for (int q = 0; q < MELORA__RK; q++) a[q] = b[q] = 0.0f;
            for (int t = t0; t < t1; t++) {
                float xv = x[(size_t)t * (size_t)n + (size_t)j];
                float xs = pb ? xv * sa[(size_t)(t / G) * (size_t)n + (size_t)j] : 0.0f;
                for (int q = 0; q < MELORA__RK && k0 + q < r; q++) {
                    a[q] += du[(size_t)t * (size_t)r + (size_t)(k0 + q)] * xv;
                    if (pb) b[q] += du2[(size_t)t * (size_t)r + (size_t)(k0 + q)] * xs;
                }
            }
            for (int q = 0; q < MELORA__RK && k0 + q < r; q++) {
                size_t o = ((size_t)tile * (size_t)r + (size_t)(k0 + q)) * (size_t)n + (size_t)j;
                if (pa) pa[o] = a[q];
                if (pb) pb[o] = b[q];
            }
        }
    }
}

// Me-LoRA's Monte-Carlo forward, every sample in one launch: z_k,t += s B (C_k u_t), k < K.
// A block owns SH_RT = 4 rows of one sample (row tiles grid-stride in x past
// MELORA__GRID_X_MAX, samples in y past gridDim.y): it forms v = C_k u_t for its rows in
// shared memory, MC_RC ranks at a time, then a thread per column j adds s sum_q B[j][q]
// v[i][q] to the 4 rows of z, so each B element loaded serves 4 rows (B is re-read from L2
// K T/4 times). One read-modify-write of z per rank chunk: one for r <= MC_RC. Where the
// loop of K (k_rowmix, GEMM) pairs it replaces needed v_k in a (T,r) workspace, this one
// needs none. Model: 2 K T m floats of z (39 MB per sample at T = 1200, m = 4096: 11.7 us at
// 3.35 TB/s), 2 K T m r + 2 K T r^2 flops.
#define MELORA__MC_RC 256
__global__ void melora__k_mcexpand(float *z, const float *u, const float *C, const float *B,
                                   float s, int K, int T, int m, int r) {
    __shared__ float vs[MELORA__SH_RT][MELORA__MC_RC]; // 4 KB
    int ntile = (T + MELORA__SH_RT - 1) / MELORA__SH_RT;
    for (int k = (int)blockIdx.y; k < K; k += (int)gridDim.y) {
        const float *Ck = C + (size_t)k * (size_t)r * (size_t)r;
        float *zk = z + (size_t)k * (size_t)T * (size_t)m;
        for (int tile = (int)blockIdx.x; tile < ntile; tile += (int)gridDim.x) {
            int t0 = tile * MELORA__SH_RT, nr = T - t0 < MELORA__SH_RT ? T - t0 : MELORA__SH_RT;
            for (int q0 = 0; q0 < r; q0 += MELORA__MC_RC) {
                int nq = r - q0 < MELORA__MC_RC ? r - q0 : MELORA__MC_RC;
                for (int o = (int)threadIdx.x; o < MELORA__SH_RT * nq; o += (int)blockDim.x) {
                    int i = o / nq, q = o % nq;
                    float acc = 0.0f; // rows past T: zeros, never stored
                    if (i < nr) {
                        const float *cq = Ck + (size_t)(q0 + q) * (size_t)r;
                        const float *ut = u + (size_t)(t0 + i) * (size_t)r;
                        for (int p = 0; p < r; p++) acc += cq[p] * ut[p];
                    }
                    vs[i][q] = acc;
                }
                __syncthreads();
                for (int j = (int)threadIdx.x; j < m; j += (int)blockDim.x) {
                    const float *bj = B + (size_t)j * (size_t)r + (size_t)q0;
                    float a[MELORA__SH_RT];
#pragma unroll
                    for (int i = 0; i < MELORA__SH_RT; i++) a[i] = 0.0f;
                    for (int q = 0; q < nq; q++) {
                        float b = bj[q];
#pragma unroll
                        for (int i = 0; i < MELORA__SH_RT; i++) a[i] += b * vs[i][q];
                    }
                    for (int i = 0; i < nr; i++) zk[(size_t)(t0 + i) * (size_t)m + (size_t)j] += s * a[i];
                }
                __syncthreads(); // vs is reused
            }
        }
    }
}

// out[i] (= or +=) s * sum_p parts[p*count + i], parts in order.
// With out2 (Flipout's du2 = du * sb, fused here): out2[t][k] = out[t][k] * sgn[t/G][k] for
// out (T, cols) -- count = T * cols.
__global__ void melora__k_finish(float *out, const float *parts, int np, size_t count, float s,
                                 int accumulate, float *out2, const float *sgn, int G, int cols) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        float acc = 0.0f;
        for (int p = 0; p < np; p++) acc += parts[(size_t)p * count + i];
        float v = accumulate ? out[i] + s * acc : s * acc;
        out[i] = v;
        if (out2) {
            size_t t = i / (size_t)cols, k = i % (size_t)cols;
            out2[i] = v * sgn[(t / (size_t)G) * (size_t)cols + k];
        }
    }
}
// Flipout's weight gradients from k_xpass's partials, in tile order: dMA += sum pa;
// dGA += dN * EA * 2 GA with dN = sum pb (the chain rule through N = GA^2 EA).
// Reads (nrt + 4) r n floats at most.
__global__ void melora__k_xfinish(float *dMA, float *dGA, const float *pa, const float *pb,
                                  const float *GA, const float *EA, int nrt, size_t count) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        float a = 0.0f, b = 0.0f;
        for (int p = 0; p < nrt; p++) {
            if (dMA) a += pa[(size_t)p * count + i];
            if (dGA) b += pb[(size_t)p * count + i];
        }
        if (dMA) dMA[i] += a;
        if (dGA) dGA[i] += melora_dstd_elem(b, GA[i], EA[i]);
    }
}

// Column-major C = alpha op(A) op(B) + beta C (beta 0: C not read), one thread per output:
// the reference that stands in for cublasSgemm in the _naive entry points.
__global__ void melora__k_gemm_naive(int ta, int tb, int M, int N, int K, float alpha,
                                     const float *A, int lda, const float *B, int ldb,
                                     float beta, float *C, int ldc) {
    size_t count = (size_t)M * (size_t)N;
    for (size_t q = blockIdx.x * (size_t)blockDim.x + threadIdx.x; q < count;
         q += (size_t)gridDim.x * blockDim.x) {
        size_t i = q % (size_t)M, j = q / (size_t)M;
        float acc = 0.0f;
        for (int l = 0; l < K; l++) {
            float a = ta ? A[(size_t)l + i * (size_t)lda] : A[i + (size_t)l * (size_t)lda];
            float b = tb ? B[j + (size_t)l * (size_t)ldb] : B[(size_t)l + j * (size_t)ldb];
            acc += a * b;
        }
        float *c = C + i + j * (size_t)ldc;
        *c = beta == 0.0f ? alpha * acc : alpha * acc + beta * *c;
    }
}

// Reductions for the KLs, in double. mode 0: sum of d[i]^2 (d double); mode 1: sum of
// log(f1[i]^2) (f1 = H), flagging zero or non-finite entries; mode 2: the diagonal-Gaussian
// KL terms log sigma - log Om + (Om^2 + mu^2)/(2 sigma^2) - 1/2 with mu = f1, Om = f2^2.
// Each block writes one partial (tree in shared memory); a fixed grid makes the order fixed.
__device__ double melora__term(int mode, const double *d, const float *f1, const float *f2,
                               double sigma, size_t i, int *bad) {
    if (mode == 0) return d[i] * d[i];
    float h = mode == 1 ? f1[i] : f2[i];
    double om = (double)h * (double)h;
    if (!(om > 0.0) || !melora__finite(h) || (mode == 2 && !melora__finite(f1[i]))) {
        *bad = 1;
        return 0.0;
    }
    if (mode == 1) return log(om);
    return melora__kl_term(f1[i], h, log(sigma), sigma * sigma);
}
// gate (eq. 7; NULL elsewhere): the status of the inputs' check, nothing written unless OK;
// bad may be NULL where the inputs were checked before.
__global__ void melora__k_reduce(double *partial, int *bad, const int *gate, int mode,
                                 const double *d, const float *f1, const float *f2,
                                 double sigma, size_t count) {
    __shared__ double sh[MELORA__CU_THREADS];
    double acc = 0.0;
    int flag = 0;
    if (gate && *gate != (int)MELORA_OK) return; // the same value in every thread
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x)
        acc += melora__term(mode, d, f1, f2, sigma, i, &flag);
    if (flag && bad) atomicOr(bad, 1);
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned w = blockDim.x / 2; w > 0; w /= 2) {
        if (threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = sh[0];
}
// The KL's value and its status, on the device: out[slot] = the partials of each slot
// summed in order; eq. 7 (eq7 != 0): kl = (sp + ss) / (2 s2) - slog from slots 0, 1, 2;
// otherwise kl = slot 0. *status = MELORA_ERR_VALUE (and *kl = NaN) when a term was flagged
// or a sum is not finite, else MELORA_OK: the gradient kernels that follow read it and write
// nothing on an error. eq. 7 checks its inputs first (melora__k_eq7_check): *status holds
// that check's verdict, which an error keeps, and bad is NULL. Launched as one thread:
// 3 x MELORA__CU_NB doubles.
__global__ void melora__k_kl_final(double *kl, int *status, const double *partial, int nb,
                                   const int *bad, int eq7, double s2) {
    double v[3] = {0.0, 0.0, 0.0};
    if (eq7 && *status != (int)MELORA_OK) {
        *kl = nan("");
        return;
    }
    for (int q = 0; q < (eq7 ? 3 : 1); q++)
        for (int b = 0; b < nb; b++) v[q] += partial[q * nb + b];
    double k = eq7 ? (v[0] + v[1]) / (2.0 * s2) - v[2] : v[0];
    int ok = !(bad && *bad) && melora__finite_d(k); // k is finite only if its sums are
    *status = ok ? (int)MELORA_OK : (int)MELORA_ERR_VALUE;
    *kl = ok ? k : nan("");
}
// The naive reduction: one thread, every term in index order, written as the slot's first
// partial (the others zero) so melora__k_kl_final serves both paths.
__global__ void melora__k_reduce_naive(double *partial, int nb, int *bad, const int *gate,
                                       int mode, const double *d, const float *f1,
                                       const float *f2, double sigma, size_t count) {
    double s = 0.0; // launched as one thread
    int flag = 0;
    if (gate && *gate != (int)MELORA_OK) return;
    for (size_t i = 0; i < count; i++) s += melora__term(mode, d, f1, f2, sigma, i, &flag);
    if (flag && bad) *bad = 1;
    partial[0] = s;
    for (int b = 1; b < nb; b++) partial[b] = 0.0;
}

// Diagonal-Gaussian KL gradients: dmu += w mu/s2; dg += w (Om/s2 - 1/Om) 2g.
__global__ void melora__k_diag_grad(float *dmu, float *dg, const int *status, const float *mu,
                                    const float *g, double s2, double w, size_t count) {
    if (*status != (int)MELORA_OK) return;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        double gi = g[i];
        if (dmu) dmu[i] += (float)melora__kl_dmean(w, mu[i], s2);
        if (dg) dg[i] += (float)melora__kl_dstd(w, gi * gi, gi, s2);
    }
}

// eq. 7's first pass: *status (zeroed before) becomes MELORA_ERR_VALUE when an entry of A
// or M is not finite or one of H is zero or not finite. Every later kernel of the call
// reads it, so such inputs write nothing but status and kl (NaN): not even the workspace.
__global__ void melora__k_eq7_check(int *status, const float *A, const float *M,
                                    const float *H, size_t rn, size_t rr) {
    for (size_t q = blockIdx.x * (size_t)blockDim.x + threadIdx.x; q < rn + rr;
         q += (size_t)gridDim.x * blockDim.x) {
        int ok = q < rn ? melora__finite(A[q])
                        : melora__finite(M[q - rn]) && melora__finite(H[q - rn]) &&
                              H[q - rn] != 0.0f;
        if (!ok) *status = (int)MELORA_ERR_VALUE; // every writer writes the same value
    }
}
// eq. 7: P = M A and S = Om |A| (r,n) in double, one thread per entry (r^2 n work).
__global__ void melora__k_ps(double *P, double *S, const float *M, const float *H,
                             const float *A, const int *status, int r, int n) {
    size_t count = (size_t)r * (size_t)n;
    if (*status != (int)MELORA_OK) return;
    for (size_t q = blockIdx.x * (size_t)blockDim.x + threadIdx.x; q < count;
         q += (size_t)gridDim.x * blockDim.x) {
        size_t i = q / (size_t)n, j = q % (size_t)n;
        double p = 0.0, s = 0.0;
        for (int k = 0; k < r; k++) {
            double a = A[(size_t)k * n + j], h = H[i * (size_t)r + k];
            p += (double)M[i * (size_t)r + k] * a;
            s += h * h * fabs(a);
        }
        P[q] = p;
        S[q] = s;
    }
}
// eq. 7 gradients of M and H: dM += w (P/s2) A^T; dH += w ((S/s2)|A|^T - 1/Om) 2H. The
// naive reference: one thread per (i,k), serial over n.
__global__ void melora__k_eq7_mh(float *dM, float *dH, const double *P, const double *S,
                                 const float *A, const float *H, const int *status, double s2,
                                 double w, int r, int n) {
    if (*status != (int)MELORA_OK) return;
    size_t rr = (size_t)r * (size_t)r;
    for (size_t q = blockIdx.x * (size_t)blockDim.x + threadIdx.x; q < rr;
         q += (size_t)gridDim.x * blockDim.x) {
        size_t i = q / (size_t)r, k = q % (size_t)r;
        double gm = 0.0, go = 0.0, h = H[q];
        for (int j = 0; j < n; j++) {
            double a = A[k * (size_t)n + j];
            gm += P[i * (size_t)n + j] * a;
            go += S[i * (size_t)n + j] * fabs(a);
        }
        if (dM) dM[q] += (float)melora__kl_dmean(w, gm, s2);
        if (dH) dH[q] += (float)melora__kl_dstd(w, go, h, s2);
    }
}
// The tuned one: the n columns in ncn <= 64 chunks of `cols`; grid (chunk, entry groups),
// a thread per (chunk, entry) sums its chunk in double into gmp, gop; k_eq7_mh_finish adds
// the chunks in order (deterministic) and applies the formula. 2 r^2 n flops, reads P and
// S (r,n doubles) and A; the partials are 2 ncn r^2 doubles.
__global__ void melora__k_eq7_mh_part(double *gmp, double *gop, const double *P,
                                      const double *S, const float *A, const int *status,
                                      int r, int n, int cols) {
    size_t rr = (size_t)r * (size_t)r;
    if (*status != (int)MELORA_OK) return;
    int c = (int)blockIdx.x, j0 = c * cols, j1 = j0 + cols < n ? j0 + cols : n;
    for (size_t q = blockIdx.y * (size_t)blockDim.x + threadIdx.x; q < rr;
         q += (size_t)gridDim.y * blockDim.x) {
        size_t i = q / (size_t)r, k = q % (size_t)r;
        const double *pi = P + i * (size_t)n, *si = S + i * (size_t)n;
        const float *ak = A + k * (size_t)n;
        double gm = 0.0, go = 0.0;
        for (int j = j0; j < j1; j++) {
            double a = ak[j];
            gm += pi[j] * a;
            go += si[j] * fabs(a);
        }
        gmp[(size_t)c * rr + q] = gm;
        gop[(size_t)c * rr + q] = go;
    }
}
__global__ void melora__k_eq7_mh_finish(float *dM, float *dH, const double *gmp,
                                        const double *gop, const float *H, const int *status,
                                        double s2, double w, int ncn, int r) {
    if (*status != (int)MELORA_OK) return;
    size_t rr = (size_t)r * (size_t)r;
    for (size_t q = blockIdx.x * (size_t)blockDim.x + threadIdx.x; q < rr;
         q += (size_t)gridDim.x * blockDim.x) {
        double gm = 0.0, go = 0.0, h = H[q];
        for (int c = 0; c < ncn; c++) gm += gmp[(size_t)c * rr + q], go += gop[(size_t)c * rr + q];
        if (dM) dM[q] += (float)melora__kl_dmean(w, gm, s2);
        if (dH) dH[q] += (float)melora__kl_dstd(w, go, h, s2);
    }
}
// eq. 7 gradient of A: dA += w (M^T P + sign(A) * (Om^T S)) / s2.
__global__ void melora__k_eq7_a(float *dA, const double *P, const double *S, const float *M,
                                const float *H, const float *A, const int *status, double s2,
                                double w, int r, int n) {
    if (*status != (int)MELORA_OK) return;
    size_t count = (size_t)r * (size_t)n;
    for (size_t q = blockIdx.x * (size_t)blockDim.x + threadIdx.x; q < count;
         q += (size_t)gridDim.x * blockDim.x) {
        size_t k = q / (size_t)n, j = q % (size_t)n;
        double g1 = 0.0, g2 = 0.0, a = A[q];
        for (int i = 0; i < r; i++) {
            double h = H[(size_t)i * r + k];
            g1 += (double)M[(size_t)i * r + k] * P[(size_t)i * n + j];
            g2 += h * h * S[(size_t)i * n + j];
        }
        g2 *= a > 0.0 ? 1.0 : (a < 0.0 ? -1.0 : 0.0);
        dA[q] += (float)melora__kl_dmean(w, g1 + g2, s2);
    }
}

// ------------------------------------------------------------------------ host helpers --
// The caller's cuBLAS handle is bound to `st` (and to host pointer mode, for the alpha and
// beta below) at the first GEMM of a call, and its own stream and pointer mode are put back
// when the call ends: done() at each entry point's last return (its status reports a
// failure to restore), the destructor on every earlier error return. cublasSetStream is
// skipped when the handle is already on `st`, because cuBLAS resets the handle's
// workspace (cublasSetWorkspace) whenever its stream is set.
struct melora__cctx {
    cublasHandle_t h = nullptr;
    cudaStream_t st = nullptr;
    int naive = 0, bound = 0, set_stream = 0, set_mode = 0;
    cudaStream_t old_st = nullptr;
    cublasPointerMode_t old_mode = CUBLAS_POINTER_MODE_HOST;
    melora__cctx() {}
    melora__cctx(const melora__cctx &) = delete;
    melora__cctx &operator=(const melora__cctx &) = delete;
    ~melora__cctx() { (void)release(); }
    melora_status bind() {
        if (bound || naive) return MELORA_OK;
        MELORA__BLAS(cublasGetStream(h, &old_st));
        MELORA__BLAS(cublasGetPointerMode(h, &old_mode));
        bound = 1;
        if (old_st != st) {
            MELORA__BLAS(cublasSetStream(h, st));
            set_stream = 1;
        }
        if (old_mode != CUBLAS_POINTER_MODE_HOST) {
            MELORA__BLAS(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
            set_mode = 1;
        }
        return MELORA_OK;
    }
    // The stream is put back even when putting back the pointer mode failed; the first
    // failure is the one reported.
    melora_status release() {
        if (!bound) return MELORA_OK;
        bound = 0;
        melora_status rm = MELORA_OK, rs = MELORA_OK;
        if (set_mode) {
            set_mode = 0;
            rm = restore_mode();
        }
        if (set_stream) {
            set_stream = 0;
            rs = restore_stream();
        }
        return rm != MELORA_OK ? rm : rs;
    }
    melora_status restore_mode() {
        MELORA__BLAS(cublasSetPointerMode(h, old_mode));
        return MELORA_OK;
    }
    melora_status restore_stream() {
        MELORA__BLAS(cublasSetStream(h, old_st));
        return MELORA_OK;
    }
    melora_status done(melora_status st_) {
        melora_status rs = release();
        return st_ != MELORA_OK ? st_ : rs;
    }
};

// Row-major <-> cuBLAS: a row-major (R,C) matrix is the column-major (C,R) matrix, its
// transpose, with leading dimension C. So the row-major product Y = X W (Y (M,N)) is the
// column-major Y^T = W^T X^T: call gemm with the operands swapped, sizes (N, M, K), and
// each operand's row length as its leading dimension. Every call below is written that
// way, with the row-major product it computes in its comment.
static melora_status melora__gemm(melora__cctx *c, int ta, int tb, int M, int N, int K,
                                  float alpha, const float *A, int lda, const float *B,
                                  int ldb, float beta, float *C, int ldc) {
    if (c->naive) {
        melora__k_gemm_naive<<<melora__blocks((size_t)M * N), MELORA__CU_THREADS, 0, c->st>>>(
            ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        MELORA__LAUNCHED_P(c->st, "k_gemm_naive", 0);
        return MELORA_OK;
    }
    MELORA__TRY(c->bind());
    MELORA__BLAS(cublasSgemm(c->h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                             M, N, K, &alpha, A, lda, B, ldb, &beta, C, ldc));
    MELORA__PROF_MARK(c->st, "cublasSgemm",
                      MELORA__F4((size_t)M * K + (size_t)K * N + (size_t)M * N * (beta != 0.0f ? 2 : 1)));
    return MELORA_OK;
}

// Device workspace: regions of 256-byte-aligned floats (or doubles) per op.
enum {
    MELORA__R_UN,     // Flipout forward, naive: (x*sa) N^T before the signs sb (T,r)
    MELORA__R_DU,     // du (T,r)
    MELORA__R_DV,     // Me-LoRA: dv (T,r)
    MELORA__R_DUS,    // Flipout: du*sb (T,r)
    MELORA__R_DAS,    // BLoB: the gradient of As (r,n)
    MELORA__R_NOISE,  // Flipout: N = (GA*GA)*EA (r,n)
    MELORA__R_XA,     // Flipout, naive: x*sa (T,n)
    MELORA__R_TMP,    // Flipout backward, naive: (du*sb) N (T,n)
    MELORA__R_DN,     // Flipout backward, naive: the gradient of N (r,n)
    MELORA__R_PV,     // the dz pass's partials of dv (ncs,T,r)
    MELORA__R_PB,     // the dz pass's partials of dB (nrt,m,r)
    MELORA__R_PA,     // k_xpass's partials of dMA (nrt,r,n)
    MELORA__R_PN,     // k_xpass's partials of the gradient of N (nrt,r,n)
    MELORA__R_PMH,    // k_dc_part's partials of dM and dH (2,nch,r,r)
    MELORA__R_KLP,    // eq. 7: P = M A (r,n) doubles
    MELORA__R_KLS,    // eq. 7: S = Om |A| (r,n) doubles
    MELORA__R_KLPMH,  // k_eq7_mh_part's partials of dM and dH (2,ncn,r,r) doubles
    MELORA__R_KLPART, // the KL reductions' partials (3,NB) doubles
    MELORA__R_KLBAD,  // the KLs' flag of a bad term (int)
    MELORA__R_HX,     // half dtypes: x widened to float32 (T,n)
    MELORA__R_HZ,     // half dtypes: z (T,m; the Monte-Carlo forward: one sample's) or dx (T,n) in float32
    MELORA__R_HDZ,    // half dtypes: dz widened (T,m)
    MELORA__R_COUNT
};
// k_dc_part's rows per chunk (at most 256 chunks) and k_eq7_mh_part's columns per chunk
// (at most 64 chunks)
// (in 64 bits: T or n near INT_MAX must not overflow; every result fits an int)
static int melora__dc_rows(int T) { int64_t c = ((int64_t)T + 255) / 256; return c > 32 ? (int)c : 32; }
static int melora__dc_nch(int T) { return (int)(((int64_t)T + melora__dc_rows(T) - 1) / melora__dc_rows(T)); }
static int melora__eq_cols(int n) { int64_t c = ((int64_t)n + 63) / 64; return c > 64 ? (int)c : 64; }
static int melora__eq_ncn(int n) { return (int)(((int64_t)n + melora__eq_cols(n) - 1) / melora__eq_cols(n)); }
static size_t melora__ncs(int m) { return ((size_t)m + MELORA__CU_THREADS - 1) / MELORA__CU_THREADS; }
static size_t melora__dz_ncs(int m) { return ((size_t)m + MELORA__DZ_COLS - 1) / MELORA__DZ_COLS; }
static size_t melora__nrt(int T) { return ((size_t)T + MELORA__DZ_RT - 1) / MELORA__DZ_RT; }
// grid y for a count of row tiles: the kernels loop over the tiles past gridDim.y (65535)
// (MELORA__GRID_Y_MAX and MELORA__GRID_X_MAX below the hardware's limits only in the
// emulator's sanitizer build, so that the loops past the grid run in the tests.)
#ifndef MELORA__GRID_Y_MAX
#define MELORA__GRID_Y_MAX 65535u
#endif
#ifndef MELORA__GRID_X_MAX
#define MELORA__GRID_X_MAX 32768u
#endif
static unsigned melora__gy(size_t tiles) {
    return (unsigned)(tiles < MELORA__GRID_Y_MAX ? tiles : MELORA__GRID_Y_MAX);
}
typedef struct {
    size_t off[MELORA__R_COUNT];
    size_t total;
} melora__cws;

// The regions of `op` on one path (naive: the _naive references' GEMMs and temporaries;
// otherwise the tuned kernels), each present only where that path uses it.
static melora_status melora__cuda_layout(melora__cws *ws, melora_op op, melora_dims d,
                                         int naive) {
    size_t cpu_bytes, cnt[MELORA__R_COUNT], esz[MELORA__R_COUNT];
    if (op == MELORA_OP_MELORA_KL) { d.T = d.m = 1; d.dtype = MELORA_FP32; } // eq. 7 has no T or m
    const int T = d.T, n = d.n, m = d.m, r = d.r;
    // the CPU query validates sizes and overflow of every (T,n) (r,n) ... buffer
    MELORA__TRY(melora_workspace_size(&cpu_bytes, op, d));
    size_t tr = (size_t)T * r, rn = (size_t)r * n, tn = (size_t)T * n;
    const size_t lim = MELORA__MAX_ELEMS;
    for (int i = 0; i < MELORA__R_COUNT; i++) cnt[i] = 0, esz[i] = sizeof(float);
    esz[MELORA__R_KLP] = esz[MELORA__R_KLS] = esz[MELORA__R_KLPMH] = esz[MELORA__R_KLPART] = sizeof(double);
    esz[MELORA__R_KLBAD] = sizeof(int);
    switch (op) {
    case MELORA_OP_LORA_FORWARD:
    case MELORA_OP_MELORA_FORWARD:
    case MELORA_OP_MELORA_MC_FORWARD: break; // k_mcexpand forms each v_k in shared memory
    case MELORA_OP_LORA_BACKWARD: cnt[MELORA__R_DU] = tr; cnt[MELORA__R_DAS] = rn; break; // dAs: BLoB's
    case MELORA_OP_MELORA_BACKWARD:
        cnt[MELORA__R_DU] = cnt[MELORA__R_DV] = tr;
        if (naive) break; // k_dc sums in registers
        MELORA__REQUIRE((size_t)r <= lim / (512 * (size_t)r), MELORA_ERR_OVERFLOW);
        cnt[MELORA__R_PMH] = 2 * (size_t)melora__dc_nch(T) * r * r; // k_dc_part's pm, ph
        break;
    case MELORA_OP_FLIPOUT_FORWARD: // the tuned k_shrink forms N and x*sa in registers
        if (naive) cnt[MELORA__R_NOISE] = rn, cnt[MELORA__R_XA] = tn, cnt[MELORA__R_UN] = tr;
        break;
    case MELORA_OP_FLIPOUT_BACKWARD:
        cnt[MELORA__R_NOISE] = rn; cnt[MELORA__R_DU] = cnt[MELORA__R_DUS] = tr;
        if (naive) { // dN, x*sa and (du2 N) as GEMM operands
            cnt[MELORA__R_DN] = rn; cnt[MELORA__R_XA] = cnt[MELORA__R_TMP] = tn;
        } else { // melora__k_xpass's partials
            MELORA__REQUIRE(melora__nrt(T) <= lim / rn, MELORA_ERR_OVERFLOW);
            cnt[MELORA__R_PA] = cnt[MELORA__R_PN] = melora__nrt(T) * rn;
        }
        break;
    case MELORA_OP_MELORA_KL:
        MELORA__REQUIRE((size_t)r <= lim / (size_t)r, MELORA_ERR_OVERFLOW); // M, H (r,r)
        cnt[MELORA__R_KLP] = cnt[MELORA__R_KLS] = rn; cnt[MELORA__R_KLPART] = 3 * MELORA__CU_NB; cnt[MELORA__R_KLBAD] = 1;
        if (naive) break; // k_eq7_mh sums in registers
        MELORA__REQUIRE((size_t)r <= lim / (128 * (size_t)r), MELORA_ERR_OVERFLOW);
        cnt[MELORA__R_KLPMH] = 2 * (size_t)melora__eq_ncn(n) * r * r; // k_eq7_mh_part's partials
        break;
    default: return MELORA_ERR_ENUM;
    }
    if (d.dtype != MELORA_FP32) { // the float32 copies every kernel and GEMM then reads
        const int fwd = op == MELORA_OP_LORA_FORWARD || op == MELORA_OP_FLIPOUT_FORWARD ||
                        op == MELORA_OP_MELORA_FORWARD || op == MELORA_OP_MELORA_MC_FORWARD;
        size_t tm = (size_t)T * m;
        cnt[MELORA__R_HX] = tn;
        cnt[MELORA__R_HZ] = fwd ? tm : tn;
        cnt[MELORA__R_HDZ] = fwd ? 0 : tm;
    }
    if ((op == MELORA_OP_LORA_BACKWARD || op == MELORA_OP_MELORA_BACKWARD ||
         op == MELORA_OP_FLIPOUT_BACKWARD) && !naive && r <= MELORA__DZ_MAXR) {
        // the fused dz pass's partials (above MELORA__DZ_MAXR two GEMMs need none)
        size_t mr = (size_t)m * r;
        MELORA__REQUIRE(melora__dz_ncs(m) <= lim / tr && melora__nrt(T) <= lim / mr, MELORA_ERR_OVERFLOW);
        cnt[MELORA__R_PV] = melora__dz_ncs(m) * tr;
        cnt[MELORA__R_PB] = melora__nrt(T) * mr;
    }
    ws->total = 0;
    for (int i = 0; i < MELORA__R_COUNT; i++) {
        size_t b = (cnt[i] * esz[i] + 255u) & ~(size_t)255u; // counts validated above
        MELORA__REQUIRE(b <= SIZE_MAX - ws->total, MELORA_ERR_OVERFLOW); // 32-bit size_t
        ws->off[i] = ws->total;
        ws->total += b;
    }
    if (ws->total == 0) ws->total = 256; // every op takes a (possibly unused) workspace
    return MELORA_OK;
}
// The diagonal KLs: one slot of partials and the flag, for any r and n.
static void melora__diag_layout(melora__cws *ws) {
    for (int i = 0; i < MELORA__R_COUNT; i++) ws->off[i] = 0;
    ws->off[MELORA__R_KLBAD] = ((size_t)MELORA__CU_NB * sizeof(double) + 255u) & ~(size_t)255u;
    ws->total = ws->off[MELORA__R_KLBAD] + 256;
}
static_assert((((size_t)MELORA__CU_NB * sizeof(double) + 255u) & ~(size_t)255u) + 256 ==
                  MELORA_CUDA_DIAG_KL_BYTES,
              "MELORA_CUDA_DIAG_KL_BYTES is the diagonal KLs' scratch");

// opv: the op as the int a C caller may have passed (any value; in C++ loading an
// out-of-range enum is UB, so the entry points copy its bytes before anything reads it)
static melora_status melora__ws_query(size_t *bytes, int opv, melora_dims d, int naive) {
    melora__cu_err[0] = '\0';
    melora__cws ws;
    MELORA__REQUIRE(bytes != nullptr, MELORA_ERR_NULL);
    MELORA__REQUIRE(opv >= 0 && opv < (int)MELORA_OP_COUNT_, MELORA_ERR_ENUM);
    MELORA__TRY(melora__cuda_layout(&ws, (melora_op)opv, d, naive));
    *bytes = ws.total;
    return MELORA_OK;
}
static int melora__op_int(const melora_op *op) {
    int opv;
    static_assert(sizeof opv == sizeof *op, "melora_op is an int");
    memcpy(&opv, op, sizeof opv);
    return opv;
}
extern "C" melora_status melora_cuda_workspace_size(size_t *bytes, melora_op op,
                                                    melora_dims d) {
    return melora__ws_query(bytes, melora__op_int(&op), d, 0);
}
extern "C" melora_status melora_cuda_workspace_size_naive(size_t *bytes, melora_op op,
                                                          melora_dims d) {
    return melora__ws_query(bytes, melora__op_int(&op), d, 1);
}

template <typename P> static P *melora__reg(void *work, const melora__cws *ws, int region) {
    return (P *)((char *)work + ws->off[region]);
}

// buf: the entry point's buffers for melora.h's overlap check, the workspace last (its
// length is filled in here, from the layout).
static melora_status melora__setup(melora__cws *ws, melora__cctx *c, melora_work work,
                                   melora_op op, melora_dims d, float s, cublasHandle_t h,
                                   cudaStream_t st, int naive, melora__buf *buf, int nbuf) {
    // the last of an entry point's checks: then melora__entry
    MELORA__REQUIRE(work.base != nullptr, MELORA_ERR_NULL);
    MELORA__REQUIRE(naive || h != nullptr, MELORA_ERR_NULL);
    MELORA__REQUIRE(((uintptr_t)work.base & 7u) == 0, MELORA_ERR_ALIGNMENT);
    MELORA__TRY(melora__cuda_layout(ws, op, d, naive));
    MELORA__REQUIRE(work.bytes >= ws->total, MELORA_ERR_WORKSPACE);
    MELORA__REQUIRE(melora__finite(s), MELORA_ERR_VALUE);
    buf[nbuf - 1].bytes = ws->total;
    MELORA__TRY(melora__check_alias(buf, nbuf));
    c->h = h;
    c->st = st;
    c->naive = naive;
    return melora__entry();
}
// E samples of C (E,r,r) (as melora.h's checks: sizes first, r * r is then in range).
static melora_status melora__check_samples(int E, int r) {
    MELORA__REQUIRE(E > 0, MELORA_ERR_SIZE);
    MELORA__REQUIRE((size_t)E <= MELORA__MAX_ELEMS / ((size_t)r * r), MELORA_ERR_OVERFLOW);
    return MELORA_OK;
}
// E examples of C (E,r,r) that split T evenly.
static melora_status melora__check_examples(int E, int r, int T) {
    MELORA__TRY(melora__check_samples(E, r));
    MELORA__REQUIRE(T % E == 0, MELORA_ERR_DIVISIBILITY);
    return MELORA_OK;
}

static bool melora__aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }
// Bytes of one activation element (melora.h's melora__esize is in its implementation).
static size_t melora__esize(melora_dtype dt) { return dt == MELORA_FP32 ? 4u : 2u; }
// A known dtype, read as the int a C caller may have stored (loading an out-of-range enum
// is UB in C++; see melora__op_int): MELORA_ERR_ENUM before anything reads d->dtype.
static melora_status melora__dtype_ok(const melora_dims *d) {
    int v;
    static_assert(sizeof v == sizeof d->dtype, "melora_dtype is an int");
    memcpy(&v, &d->dtype, sizeof v);
    MELORA__REQUIRE(v >= 0 && v < (int)MELORA_DTYPE_COUNT_, MELORA_ERR_ENUM);
    return MELORA_OK;
}

// One call's tensors in melora.h's names (its melora__pass), so that one preamble checks
// every pass. A is the weight x is multiplied by (LoRA's and Me-LoRA's A, BLoB's As in the
// backward, Flipout's MA); BLoB's forward reads MA and writes its sample As. E counts the
// matrices of C: Me-LoRA's examples, or the K samples of the Monte-Carlo forward. NULL:
// not part of the call, or an absent gradient. op is the layout's (BLoB: LoRA's).
struct melora__cpass {
    melora_op op = MELORA_OP_LORA_FORWARD;
    melora_dims d = {0, 0, 0, 0, MELORA_FP32};
    float s = 0.0f;
    int G = 0, E = 1;
    const void *x = nullptr, *dz = nullptr; // the caller's activations, in d.dtype
    void *z = nullptr, *dx = nullptr;
    // what the bodies read and write: the activations themselves (fp32), or their float32
    // copies in the workspace (half dtypes; melora__run widens and narrows them)
    const float *xf = nullptr, *dzf = nullptr;
    float *zf = nullptr, *dxf = nullptr;
    float *u = nullptr, *v = nullptr;
    const float *A = nullptr, *B = nullptr, *MA = nullptr, *GA = nullptr, *EA = nullptr;
    const float *sa = nullptr, *sb = nullptr, *C = nullptr, *H = nullptr, *EC = nullptr;
    float *As = nullptr;
    float *dA = nullptr, *dGA = nullptr, *dB = nullptr, *dM = nullptr, *dH = nullptr;
};
static int melora__is_forward(melora_op op) {
    return op == MELORA_OP_LORA_FORWARD || op == MELORA_OP_FLIPOUT_FORWARD ||
           op == MELORA_OP_MELORA_FORWARD || op == MELORA_OP_MELORA_MC_FORWARD;
}
// The required tensors of each method's passes (with z, or dz, checked by melora__begin).
#define MELORA__LORA_PRESENT(ps) ((ps).u && (ps).x && (ps).A && (ps).B)
#define MELORA__BLOB_SAMPLE_PRESENT(ps) \
    ((ps).u && (ps).x && (ps).B && (ps).As && (ps).MA && (ps).GA && (ps).EA)
#define MELORA__FLIPOUT_PRESENT(ps) \
    (MELORA__LORA_PRESENT(ps) && (ps).GA && (ps).EA && (ps).sa && (ps).sb)
#define MELORA__MELORA_PRESENT(ps) (MELORA__LORA_PRESENT(ps) && (ps).v && (ps).C)
// The one preamble of every pass: the call's required tensors (present: all non-NULL), the
// variant's own checks, then the overlap table of every tensor the pass names and
// melora__setup (the workspace last in the table).
static melora_status melora__begin(melora__cws *ws, melora__cctx *c, const melora__cpass *ps,
                                   int present, melora_work w, cublasHandle_t h,
                                   cudaStream_t st, int naive) {
    const melora_dims d = ps->d;
    const int T = d.T, n = d.n, m = d.m, r = d.r;
    size_t chk, ng = 0; // ng: rows of sa, sb
    const int fwd = melora__is_forward(ps->op);
    MELORA__REQUIRE(present && (fwd ? ps->z : ps->dz), MELORA_ERR_NULL);
    MELORA__TRY(melora__dtype_ok(&ps->d));
    MELORA__TRY(melora__check_act_align(ps->x, ps->z, ps->dz, ps->dx, d.dtype));
    switch (ps->op) {
    case MELORA_OP_FLIPOUT_FORWARD:
    case MELORA_OP_FLIPOUT_BACKWARD:
        MELORA__REQUIRE(ps->G > 0, MELORA_ERR_SIZE);
        ng = T > 0 ? ((size_t)T - 1u) / (size_t)ps->G + 1u : 0;
        break;
    case MELORA_OP_MELORA_BACKWARD: // dH reads H and the noise EC
        MELORA__REQUIRE(!ps->dH || (ps->H && ps->EC), MELORA_ERR_NULL);
        [[fallthrough]];
    case MELORA_OP_MELORA_FORWARD: // sizes first: melora__check_examples divides by r * r
        MELORA__TRY(melora_workspace_size(&chk, ps->op, d));
        MELORA__TRY(melora__check_examples(ps->E, r, T));
        break;
    case MELORA_OP_MELORA_MC_FORWARD: // z is (K,T,m), C (K,r,r)
        MELORA__TRY(melora_workspace_size(&chk, ps->op, d));
        MELORA__TRY(melora__check_samples(ps->E, r));
        MELORA__REQUIRE((size_t)ps->E <= MELORA__MAX_ELEMS / ((size_t)T * m), MELORA_ERR_OVERFLOW);
        break;
    default: break;
    }
    const size_t nz = ps->op == MELORA_OP_MELORA_MC_FORWARD ? (size_t)ps->E : 1u;
    const size_t rn = MELORA__FB(r, n), rr = MELORA__FB(r, r), mr = MELORA__FB(m, r);
    const size_t tr = MELORA__FB(T, r), es = melora__esize(d.dtype);
    const size_t tn = (size_t)T * (size_t)n * es, tm = (size_t)T * (size_t)m * es; // activations
    melora__buf b[] = {
        {ps->z, tm * nz, 1}, {ps->dx, tn, 1}, {ps->u, tr, fwd}, {ps->v, tr, fwd},
        {ps->As, rn, 1}, {ps->dA, rn, 1}, {ps->dGA, rn, 1}, {ps->dB, mr, 1},
        {ps->dM, rr, 1}, {ps->dH, rr, 1}, {ps->x, tn, 0}, {ps->dz, tm, 0}, {ps->A, rn, 0},
        {ps->MA, rn, 0}, {ps->GA, rn, 0}, {ps->EA, rn, 0}, {ps->sa, MELORA__FB(ng, n), 0},
        {ps->sb, MELORA__FB(ng, r), 0}, {ps->B, mr, 0}, {ps->C, rr * (size_t)ps->E, 0},
        {ps->H, rr, 0}, {ps->EC, rr * (size_t)ps->E, 0}, {w.base, 0, 1}};
    return melora__setup(ws, c, w, ps->op, d, ps->s, h, st, naive, b, MELORA__NBUF(b));
}
// count activations of dtype dt (half) to and from float32 (out 16-byte aligned or not):
// 128-bit loads and stores where both pointers allow them.
static melora_status melora__widen(cudaStream_t st, float *out, const void *in, melora_dtype dt,
                                   size_t count) {
    const uint16_t *h = (const uint16_t *)in;
    const int fp16 = dt == MELORA_FP16;
    if (melora__aligned16(out) && melora__aligned16(in))
        melora__k_widen<true><<<melora__blocks(count / 8 + 1), MELORA__CU_THREADS, 0, st>>>(out, h, count, fp16);
    else
        melora__k_widen<false><<<melora__blocks(count), MELORA__CU_THREADS, 0, st>>>(out, h, count, fp16);
    MELORA__LAUNCHED_P(st, "k_widen", 6.0 * (double)count);
    return MELORA_OK;
}
static melora_status melora__narrow(cudaStream_t st, void *out, melora_dtype dt, const float *in,
                                    size_t count) {
    uint16_t *h = (uint16_t *)out;
    const int fp16 = dt == MELORA_FP16;
    if (melora__aligned16(out) && melora__aligned16(in))
        melora__k_narrow<true><<<melora__blocks(count / 8 + 1), MELORA__CU_THREADS, 0, st>>>(h, in, count, fp16);
    else
        melora__k_narrow<false><<<melora__blocks(count), MELORA__CU_THREADS, 0, st>>>(h, in, count, fp16);
    MELORA__LAUNCHED_P(st, "k_narrow", 6.0 * (double)count);
    return MELORA_OK;
}

// The one skeleton of every pass: the preamble, the pass's body on the context it set up,
// then the caller's cuBLAS state put back (done).
typedef melora_status (*melora__body)(melora__cctx *c, const melora__cws *ws, void *work,
                                      const melora__cpass *ps);
// Half dtypes: x, dz and z (or dx) are widened into the workspace first, the body runs in
// float32 on those copies, and z (dx) is rounded back once at the end, so z_new =
// round(float(z_old) + delta) with delta summed in float32, as melora.h's references do.
// (The Monte-Carlo forward's z is K slices: its body widens and narrows them one at a
// time, since the workspace query knows no K.)
static melora_status melora__run(const melora__cpass *ps, int present, melora_work w,
                                 cublasHandle_t h, cudaStream_t st, int naive,
                                 melora__body body) {
    melora__cws ws;
    melora__cctx c;
    MELORA__TRY(melora__begin(&ws, &c, ps, present, w, h, st, naive));
    const melora_dims d = ps->d;
    melora__cpass wide = *ps;
    if (d.dtype == MELORA_FP32) {
        wide.xf = (const float *)ps->x, wide.dzf = (const float *)ps->dz;
        wide.zf = (float *)ps->z, wide.dxf = (float *)ps->dx;
        return c.done(body(&c, &ws, w.base, &wide));
    }
    const size_t tn = (size_t)d.T * d.n, tm = (size_t)d.T * d.m;
    const int mc = ps->op == MELORA_OP_MELORA_MC_FORWARD;
    float *hx = melora__reg<float>(w.base, &ws, MELORA__R_HX);
    float *hz = melora__reg<float>(w.base, &ws, MELORA__R_HZ);
    float *hdz = melora__reg<float>(w.base, &ws, MELORA__R_HDZ);
    MELORA__TRY(melora__widen(st, hx, ps->x, d.dtype, tn));
    wide.xf = hx;
    if (ps->dz) {
        MELORA__TRY(melora__widen(st, hdz, ps->dz, d.dtype, tm));
        wide.dzf = hdz;
    }
    if (ps->z && !mc) {
        MELORA__TRY(melora__widen(st, hz, ps->z, d.dtype, tm));
        wide.zf = hz;
    }
    if (ps->dx) {
        MELORA__TRY(melora__widen(st, hz, ps->dx, d.dtype, tn));
        wide.dxf = hz;
    }
    MELORA__TRY(c.done(body(&c, &ws, w.base, &wide)));
    if (ps->z && !mc) MELORA__TRY(melora__narrow(st, ps->z, d.dtype, hz, tm));
    if (ps->dx) MELORA__TRY(melora__narrow(st, ps->dx, d.dtype, hz, tn));
    return MELORA_OK;
}

// The shrink kernel for these operands: 128-bit loads when n % 4 == 0, x and W are 16-byte
// aligned and there is no Flipout; one block per tile of 4 rows (grid-stride past MELORA__GRID_X_MAX).
static melora_status melora__shrink(cudaStream_t st, float *u, float *v, const float *x,
                                    const float *W, const float *W2, const float *EA2,
                                    const float *sa, const float *sb, int G, const float *C,
                                    int per, int T, int n, int r, double bytes) {
    size_t tiles = ((size_t)T + MELORA__SH_RT - 1) / MELORA__SH_RT;
    unsigned grid = (unsigned)(tiles < MELORA__GRID_X_MAX ? tiles : MELORA__GRID_X_MAX);
    if (!W2 && n % 4 == 0 && melora__aligned16(x) && melora__aligned16(W))
        melora__k_shrink<true><<<grid, melora__tpb((n + 3) / 4), 0, st>>>(u, v, x, W, W2, EA2, sa, sb,
                                                                        G, C, per, T, n, r);
    else
        melora__k_shrink<false><<<grid, melora__tpb(n), 0, st>>>(u, v, x, W, W2, EA2, sa, sb, G, C,
                                                                per, T, n, r);
    MELORA__LAUNCHED_P(st, "k_shrink", bytes);
    (void)bytes;
    return MELORA_OK;
}

// ---------------------------------------------------------------------------- noise --
static melora_status melora__noise(float *out, uint64_t seed, uint64_t offset, int64_t count,
                                   int kind, cudaStream_t st) {
    MELORA__TRY(melora__check_count(out, count));
    MELORA__TRY(melora__entry());
    melora__k_noise<<<melora__blocks((size_t)count), MELORA__CU_THREADS, 0, st>>>(
        out, seed, offset, (size_t)count, kind);
    MELORA__LAUNCHED_P(st, "k_noise", MELORA__F4(count));
    return MELORA_OK;
}
extern "C" melora_status melora_cuda_noise_normal(float *out, uint64_t seed, uint64_t offset,
                                                  int64_t count, cudaStream_t stream) {
    melora__cu_err[0] = '\0';
    return melora__noise(out, seed, offset, count, 0, stream);
}
extern "C" melora_status melora_cuda_noise_uniform(float *out, uint64_t seed, uint64_t offset,
                                                   int64_t count, cudaStream_t stream) {
    melora__cu_err[0] = '\0';
    return melora__noise(out, seed, offset, count, 1, stream);
}
extern "C" melora_status melora_cuda_noise_sign(float *out, uint64_t seed, uint64_t offset,
                                                int64_t count, cudaStream_t stream) {
    melora__cu_err[0] = '\0';
    return melora__noise(out, seed, offset, count, 2, stream);
}

// ------------------------------------------------------------------------ conversion --
// A half dtype to a half dtype through float32, as melora_convert does (exact widening, one
// rounding; between the same dtype that quiets a signalling NaN, so it is not a copy).
// 4 bytes per element.
__global__ void melora__k_convert16(uint16_t *out, const uint16_t *in, size_t count, int in_fp16,
                                    int out_fp16) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < count;
         i += (size_t)gridDim.x * blockDim.x) {
        float f = in_fp16 ? melora_f16_to_f32(in[i]) : melora_bf16_to_f32(in[i]);
        out[i] = out_fp16 ? melora_f32_to_f16(f) : melora_f32_to_bf16(f);
    }
}
extern "C" melora_status melora_cuda_convert(void *out, melora_dtype out_dtype, const void *in,
                                             melora_dtype in_dtype, int64_t count,
                                             cudaStream_t st) {
    // out is (count) in out_dtype, in is (count) in in_dtype
    int ov, iv;
    melora__cu_err[0] = '\0';
    memcpy(&ov, &out_dtype, sizeof ov); // any int a C caller stored (see melora__dtype_ok)
    memcpy(&iv, &in_dtype, sizeof iv);
    MELORA__REQUIRE(out && in, MELORA_ERR_NULL);
    MELORA__REQUIRE(ov >= 0 && ov < (int)MELORA_DTYPE_COUNT_ && iv >= 0 && iv < (int)MELORA_DTYPE_COUNT_,
                    MELORA_ERR_ENUM);
    MELORA__REQUIRE(count >= 0, MELORA_ERR_SIZE);
    MELORA__REQUIRE((uint64_t)count <= (uint64_t)MELORA__MAX_ELEMS, MELORA_ERR_OVERFLOW);
    const melora_dtype odt = (melora_dtype)ov, idt = (melora_dtype)iv;
    const size_t eo = melora__esize(odt), ei = melora__esize(idt), cnt = (size_t)count;
    MELORA__REQUIRE((uintptr_t)out % eo == 0 && (uintptr_t)in % ei == 0, MELORA_ERR_ALIGNMENT);
    melora__buf b[] = {{out, cnt * eo, 1}, {in, cnt * ei, 0}};
    MELORA__TRY(melora__check_alias(b, MELORA__NBUF(b)));
    MELORA__TRY(melora__entry());
    if (cnt == 0) return MELORA_OK;
    if (odt == MELORA_FP32 && idt == MELORA_FP32) {
        MELORA__CU(cudaMemcpyAsync(out, in, cnt * eo, cudaMemcpyDeviceToDevice, st));
        MELORA__PROF_MARK(st, "cudaMemcpyAsync", 2.0 * (double)(cnt * eo));
    } else if (idt == MELORA_FP32) {
        MELORA__TRY(melora__narrow(st, out, odt, (const float *)in, cnt));
    } else if (odt == MELORA_FP32) {
        MELORA__TRY(melora__widen(st, (float *)out, in, idt, cnt));
    } else {
        melora__k_convert16<<<melora__blocks(cnt), MELORA__CU_THREADS, 0, st>>>(
            (uint16_t *)out, (const uint16_t *)in, cnt, idt == MELORA_FP16, odt == MELORA_FP16);
        MELORA__LAUNCHED_P(st, "k_convert16", 4.0 * (double)cnt);
    }
    return MELORA_OK;
}

// A draw's tensors at melora.h's offsets, checked as melora.h checks them (its plan).
static_assert(MELORA_STREAM_NORMAL == 0 && MELORA_STREAM_SIGN == 2, "kind = stream");
static melora_status melora__draw_run(const melora__draw_plan *p, uint64_t seed,
                                      cudaStream_t st) {
    for (int i = 0; i < p->nt; i++)
        MELORA__TRY(melora__noise(p->out[i], seed, p->off[i], (int64_t)p->count[i],
                                   (int)p->stream[i], st));
    return MELORA_OK;
}
extern "C" melora_status melora_cuda_blob_noise(float *EA, uint64_t seed, uint64_t draw, int r,
                                                int n, cudaStream_t stream) {
    melora__cu_err[0] = '\0';
    float *t[3] = {EA, nullptr, nullptr};
    melora_dims d = {0, n, 0, r, MELORA_FP32}; // EA is (r,n)
    melora__draw_plan p;
    MELORA__TRY(melora__plan_draw(&p, MELORA__DRAW_BLOB, t, draw, 0, 0, d));
    return melora__draw_run(&p, seed, stream);
}
extern "C" melora_status melora_cuda_blob_flipout_noise(float *EA, float *sa, float *sb,
                                                        uint64_t seed, uint64_t draw, int G,
                                                        melora_dims d, cudaStream_t stream) {
    melora__cu_err[0] = '\0';
    float *t[3] = {EA, sa, sb}; // (r,n), (ceil(T/G),n), (ceil(T/G),r)
    melora__draw_plan p;
    MELORA__TRY(melora__plan_draw(&p, MELORA__DRAW_FLIPOUT, t, draw, 0, G, d));
    return melora__draw_run(&p, seed, stream);
}
extern "C" melora_status melora_cuda_melora_noise(float *EC, uint64_t seed, uint64_t draw, int E,
                                                  int r, cudaStream_t stream) {
    melora__cu_err[0] = '\0';
    float *t[3] = {EC, nullptr, nullptr};
    melora_dims d = {0, 0, 0, r, MELORA_FP32}; // EC is (E,r,r)
    melora__draw_plan p;
    MELORA__TRY(melora__plan_draw(&p, MELORA__DRAW_MELORA, t, draw, E, 0, d));
    return melora__draw_run(&p, seed, stream);
}

// ----------------------------------------------------------------------------- LoRA --
// u = x A^T (row-major (T,r) = (T,n)(n,r)); z += s u B^T ((T,m) = (T,r)(r,m)).
static melora_status melora__forward(melora__cctx *c, float *z, float *u, float *v,
                                     const float *x, const float *A, const float *C, int E,
                                     const float *B, float s, int T, int n, int m, int r) {
    const float *mixed = u;
    if (C && !c->naive && r <= MELORA__FUSE_MAXR) { // Me-LoRA: u = x A^T, v = C u in one pass
        MELORA__TRY(melora__shrink(c->st, u, v, x, A, nullptr, nullptr, nullptr, nullptr, 1, C, T / E, T, n, r,
                                    MELORA__F4((size_t)T * n + (size_t)r * n + 2 * (size_t)T * r + (size_t)E * r * r)));
        // row-major z (T,m) += s v (T,r) B^T (see below)
        return melora__gemm(c, 1, 0, m, T, r, s, B, r, v, r, 1.0f, z, m);
    }
    // row-major u (T,r) = x (T,n) A^T: column-major u^T (r,T) = A (r,n)... as op_T of the
    // column-major view of A, times x^T
    MELORA__TRY(melora__gemm(c, 1, 0, r, T, n, 1.0f, A, n, x, n, 0.0f, u, r));
    if (C) {
        melora__k_rowmix<<<melora__blocks((size_t)T * r), MELORA__CU_THREADS, 0, c->st>>>(
            v, u, C, T, r, T / E, 0);
        MELORA__LAUNCHED_P(c->st, "k_rowmix", MELORA__F4(2 * (size_t)T * r + (size_t)E * r * r));
        mixed = v;
    }
    // row-major z (T,m) += s v (T,r) B^T: column-major z^T (m,T) += s B (m,r) v^T (r,T)
    return melora__gemm(c, 1, 0, m, T, r, s, B, r, mixed, r, 1.0f, z, m);
}

// dv = s dz B and dB += s dz^T uB: the fused pass (partials dvp, dbp from the workspace), or
// two GEMMs on the naive path.
// With dv2 (Flipout): also dv2 = dv * sgn[t/G], fused into the finish of the fused pass.
static melora_status melora__dz(melora__cctx *c, float *dv, float *dB, float *dvp,
                                float *dbp, const float *dz, const float *B, const float *uB,
                                float s, int T, int m, int r, float *dv2 = nullptr,
                                const float *sgn = nullptr, int G = 1) {
    if (!c->naive && r <= MELORA__DZ_MAXR) { // above it, two cuBLAS GEMMs move fewer bytes
        dim3 grid((unsigned)melora__dz_ncs(m), melora__gy(melora__nrt(T)));
        if (m % 4 == 0 && melora__aligned16(dz))
            melora__k_dzpass<true><<<grid, MELORA__CU_THREADS, 0, c->st>>>(dvp, dB ? dbp : nullptr,
                                                                          dz, B, uB, T, m, r);
        else
            melora__k_dzpass<false><<<grid, MELORA__CU_THREADS, 0, c->st>>>(dvp, dB ? dbp : nullptr,
                                                                           dz, B, uB, T, m, r);
        MELORA__LAUNCHED_P(c->st, "k_dzpass", MELORA__F4((size_t)T * m + (size_t)m * r + (size_t)T * r + melora__dz_ncs(m) * T * r + (dB ? melora__nrt(T) * m * r : 0)));
        size_t tr = (size_t)T * r, mr = (size_t)m * r;
        melora__k_finish<<<melora__blocks(tr), MELORA__CU_THREADS, 0, c->st>>>(
            dv, dvp, (int)melora__dz_ncs(m), tr, s, 0, dv2, sgn, G, r);
        MELORA__LAUNCHED_P(c->st, "k_finish", MELORA__F4((melora__dz_ncs(m) + (dv2 ? 3 : 1)) * tr));
        if (dB) {
            melora__k_finish<<<melora__blocks(mr), MELORA__CU_THREADS, 0, c->st>>>(
                dB, dbp, (int)melora__nrt(T), mr, s, 1, nullptr, nullptr, 1, r);
            MELORA__LAUNCHED_P(c->st, "k_finish", MELORA__F4((melora__nrt(T) + 2) * mr));
        }
        return MELORA_OK;
    }
    // row-major dv (T,r) = s dz (T,m) B (m,r): column-major dv^T = s B^T dz^T
    MELORA__TRY(melora__gemm(c, 0, 0, r, T, m, s, B, r, dz, m, 0.0f, dv, r));
    // row-major dB (m,r) += s dz^T (m,T) uB (T,r): column-major dB^T = s uB^T dz
    if (dB) MELORA__TRY(melora__gemm(c, 0, 1, r, m, T, s, uB, r, dz, m, 1.0f, dB, r));
    if (dv2) {
        melora__k_signs<<<melora__blocks((size_t)T * r), MELORA__CU_THREADS, 0, c->st>>>(
            dv2, dv, sgn, T, r, G, 0);
        MELORA__LAUNCHED_P(c->st, "k_signs", MELORA__F4(3 * (size_t)T * r));
    }
    return MELORA_OK;
}

// dv = s dz B; dB += s dz^T uB; du = dv (C nullptr) or dv C_e; dA += du^T x (or into dAs with
// beta 0); dx += du A.
static melora_status melora__backward(melora__cctx *c, const melora__cws *ws, void *work,
                                      float *dx, float *dA, float betaA, float *dB, float *dv,
                                      float *du, const float *dz, const float *uB, const float *x,
                                      const float *A, const float *C, int E, const float *B, float s,
                                      int T, int n, int m, int r) {
    MELORA__TRY(melora__dz(c, dv, dB, melora__reg<float>(work, ws, MELORA__R_PV),
                            melora__reg<float>(work, ws, MELORA__R_PB), dz, B, uB, s, T, m, r));
    const float *dub = dv;
    if (C) {
        melora__k_rowmix<<<melora__blocks((size_t)T * r), MELORA__CU_THREADS, 0, c->st>>>(
            du, dv, C, T, r, T / E, 1);
        MELORA__LAUNCHED_P(c->st, "k_rowmix", MELORA__F4(2 * (size_t)T * r + (size_t)E * r * r));
        dub = du;
    }
    // row-major dA (r,n) += du^T (r,T) x (T,n): column-major dA^T = x^T du
    if (dA) MELORA__TRY(melora__gemm(c, 0, 1, n, r, T, 1.0f, x, n, dub, r, betaA, dA, n));
    // row-major dx (T,n) += du (T,r) A (r,n): column-major dx^T = A^T du^T
    if (dx) MELORA__TRY(melora__gemm(c, 0, 0, n, T, r, 1.0f, A, n, dub, r, 1.0f, dx, n));
    return MELORA_OK;
}

static melora_status melora__lora_forward(melora__cctx *c, const melora__cws *, void *,
                                          const melora__cpass *ps) {
    const melora_dims d = ps->d;
    return melora__forward(c, ps->zf, ps->u, nullptr, ps->xf, ps->A, nullptr, 1, ps->B,
                           ps->s, d.T, d.n, d.m, d.r);
}
static melora_status melora__lora_backward(melora__cctx *c, const melora__cws *ws, void *work,
                                           const melora__cpass *ps) {
    const melora_dims d = ps->d;
    if (!ps->dxf && !ps->dA && !ps->dB) return MELORA_OK;
    return melora__backward(c, ws, work, ps->dxf, ps->dA, 1.0f, ps->dB,
                            melora__reg<float>(work, ws, MELORA__R_DU), nullptr, ps->dzf,
                            ps->u, ps->xf, ps->A, nullptr, 1, ps->B, ps->s, d.T, d.n, d.m,
                            d.r);
}

// ----------------------------------------------------------------------------- BLoB --
static melora_status melora__blob_sample(float *As, const float *MA, const float *GA,
                                         const float *EA, int r, int n, cudaStream_t st) {
    // MA, GA, EA, As are (r,n)
    MELORA__REQUIRE(As && MA && GA && EA, MELORA_ERR_NULL);
    MELORA__REQUIRE(r > 0 && n > 0, MELORA_ERR_SIZE);
    MELORA__REQUIRE((size_t)r <= MELORA__MAX_ELEMS / (size_t)n, MELORA_ERR_OVERFLOW);
    melora__buf b[] = {{As, MELORA__FB(r, n), 1}, {MA, MELORA__FB(r, n), 0},
                       {GA, MELORA__FB(r, n), 0}, {EA, MELORA__FB(r, n), 0}};
    MELORA__TRY(melora__check_alias(b, MELORA__NBUF(b)));
    MELORA__TRY(melora__entry());
    size_t cnt = (size_t)r * n;
    melora__k_sample<<<melora__blocks(cnt), MELORA__CU_THREADS, 0, st>>>(As, MA, GA, EA, cnt, 0);
    MELORA__LAUNCHED_P(st, "k_sample", MELORA__F4(4 * cnt));
    return MELORA_OK;
}

static melora_status melora__blob_forward(melora__cctx *c, const melora__cws *, void *,
                                          const melora__cpass *ps) {
    const cudaStream_t st = c->st;
    const melora_dims d = ps->d;
    MELORA__TRY(melora__blob_sample(ps->As, ps->MA, ps->GA, ps->EA, d.r, d.n, st));
    return melora__forward(c, ps->zf, ps->u, nullptr, ps->xf, ps->As, nullptr, 1, ps->B,
                           ps->s, d.T, d.n, d.m, d.r);
}

static melora_status melora__blob_backward(melora__cctx *c, const melora__cws *ws, void *work,
                                           const melora__cpass *ps) {
    const cudaStream_t st = c->st;
    const melora_dims d = ps->d;
    // du (T,r) and dAs (r,n) in work; A is As
    if (!ps->dxf && !ps->dA && !ps->dGA && !ps->dB) return MELORA_OK;
    float *dAs = (ps->dA || ps->dGA) ? melora__reg<float>(work, ws, MELORA__R_DAS) : nullptr;
    MELORA__TRY(melora__backward(c, ws, work, ps->dxf, dAs, 0.0f, ps->dB,
                                 melora__reg<float>(work, ws, MELORA__R_DU), nullptr, ps->dzf,
                                 ps->u, ps->xf, ps->A, nullptr, 1, ps->B, ps->s, d.T, d.n, d.m,
                                 d.r));
    if (dAs) {
        size_t cnt = (size_t)d.r * d.n;
        melora__k_chain<<<melora__blocks(cnt), MELORA__CU_THREADS, 0, st>>>(ps->dA, ps->dGA, dAs,
                                                                           ps->GA, ps->EA, cnt);
        MELORA__LAUNCHED_P(st, "k_chain", MELORA__F4(6 * cnt));
    }
    return MELORA_OK;
}

// Flipout: u = x MA^T + ((x*sa) N^T)*sb with N = (GA*GA)*EA; A is MA.
// The tuned u: both products, N and the signs in one pass over x.
static melora_status melora__flipout_u_fast(const melora__cpass *ps, cudaStream_t st) {
    const int G = ps->G, T = ps->d.T, n = ps->d.n, r = ps->d.r;
    size_t rn = (size_t)r * n, tn = (size_t)T * n, tr = (size_t)T * r;
    return melora__shrink(st, ps->u, nullptr, ps->xf, ps->A, ps->GA, ps->EA, ps->sa, ps->sb, G,
                          nullptr, 1, T, n, r,
                          MELORA__F4(tn + (((size_t)T + (size_t)G - 1) / (size_t)G) * n + 3 * rn + 2 * tr));
}
// The naive u: N, xa = x*sa and un = xa N^T in work, two GEMMs, then u += un*sb.
static melora_status melora__flipout_u_naive(melora__cctx *c, const melora__cpass *ps,
                                             const melora__cws *ws, void *work) {
    const int G = ps->G, T = ps->d.T, n = ps->d.n, r = ps->d.r;
    const cudaStream_t st = c->st;
    float *N = melora__reg<float>(work, ws, MELORA__R_NOISE), *xa = melora__reg<float>(work, ws, MELORA__R_XA);
    float *un = melora__reg<float>(work, ws, MELORA__R_UN);
    size_t rn = (size_t)r * n, tn = (size_t)T * n, tr = (size_t)T * r;
    melora__k_sample<<<melora__blocks(rn), MELORA__CU_THREADS, 0, st>>>(N, nullptr, ps->GA, ps->EA, rn, 0);
    MELORA__LAUNCHED_P(st, "k_sample", MELORA__F4(3 * rn));
    melora__k_signs<<<melora__blocks(tn), MELORA__CU_THREADS, 0, st>>>(xa, ps->xf, ps->sa, T, n, G, 0);
    MELORA__LAUNCHED_P(st, "k_signs", 0);
    // row-major u (T,r) = x MA^T and un = xa N^T (see melora__forward)
    MELORA__TRY(melora__gemm(c, 1, 0, r, T, n, 1.0f, ps->A, n, ps->xf, n, 0.0f, ps->u, r));
    MELORA__TRY(melora__gemm(c, 1, 0, r, T, n, 1.0f, N, n, xa, n, 0.0f, un, r));
    melora__k_signs<<<melora__blocks(tr), MELORA__CU_THREADS, 0, st>>>(ps->u, un, ps->sb, T, r, G, 1);
    MELORA__LAUNCHED_P(st, "k_signs", 0);
    return MELORA_OK;
}
static melora_status melora__flipout_forward(melora__cctx *c, const melora__cws *ws, void *work,
                                             const melora__cpass *ps) {
    const cudaStream_t st = c->st;
    const int naive = c->naive;
    const melora_dims d = ps->d;
    MELORA__TRY(naive ? melora__flipout_u_naive(c, ps, ws, work) : melora__flipout_u_fast(ps, st));
    return melora__gemm(c, 1, 0, d.m, d.T, d.r, ps->s, ps->B, d.r, ps->u, d.r, 1.0f,
                        ps->zf, d.m);
}

// The tuned parameter and input gradients from du and du2 = du*sb: dMA and dN from one read
// of x (k_xpass's partials, summed by k_xfinish into dMA and dGA), dx += du MA + (du2 N)*sa
// in one read-modify-write of dx (k_expand).
static melora_status melora__flipout_grads_fast(const melora__cpass *ps, const melora__cws *ws,
                                                void *work, const float *N, const float *du,
                                                const float *du2, cudaStream_t st) {
    const int G = ps->G, T = ps->d.T, n = ps->d.n, r = ps->d.r;
    float *dMA = ps->dA, *dGA = ps->dGA;
    size_t rn = (size_t)r * n, tn = (size_t)T * n;
    if (dMA || dGA) {
        float *pa = dMA ? melora__reg<float>(work, ws, MELORA__R_PA) : nullptr;
        float *pb = dGA ? melora__reg<float>(work, ws, MELORA__R_PN) : nullptr;
        int nrt = (int)melora__nrt(T);
        dim3 grid((unsigned)melora__ncs(n), melora__gy((size_t)nrt));
        melora__k_xpass<<<grid, melora__tpb(n), 0, st>>>(pa, pb, ps->xf, ps->sa, G, du, du2, T, n, r);
        MELORA__LAUNCHED_P(st, "k_xpass", MELORA__F4(tn + (pb ? (((size_t)T + (size_t)G - 1) / (size_t)G) * n : 0) + 2 * (size_t)T * r + (size_t)nrt * rn * ((pa ? 1 : 0) + (pb ? 1 : 0))));
        // dMA += sum pa; dGA += (sum pb) EA 2 GA: one pass over the partials
        melora__k_xfinish<<<melora__blocks(rn), MELORA__CU_THREADS, 0, st>>>(dMA, dGA, pa, pb, ps->GA,
                                                                            ps->EA, nrt, rn);
        MELORA__LAUNCHED_P(st, "k_xfinish", MELORA__F4((size_t)nrt * rn * ((pa ? 1 : 0) + (pb ? 1 : 0)) + (pa ? 2 : 0) * rn + (pb ? 4 : 0) * rn));
    }
    if (ps->dxf) {
        melora__k_expand<<<melora__blocks(tn), MELORA__CU_THREADS, 0, st>>>(ps->dxf, du, ps->A, du2, N,
                                                                          ps->sa, G, T, n, r);
        MELORA__LAUNCHED_P(st, "k_expand", MELORA__F4(2 * tn + (((size_t)T + (size_t)G - 1) / (size_t)G) * n + 2 * rn + 2 * (size_t)T * r));
    }
    return MELORA_OK;
}
// The naive ones: GEMMs through xa = x*sa, dN and tmp = du2 N in work.
static melora_status melora__flipout_grads_naive(melora__cctx *c, const melora__cpass *ps,
                                                 const melora__cws *ws, void *work,
                                                 const float *N, const float *du,
                                                 const float *du2) {
    const int G = ps->G, T = ps->d.T, n = ps->d.n, r = ps->d.r;
    const cudaStream_t st = c->st;
    const float *x = ps->xf, *MA = ps->A, *sa = ps->sa;
    float *dx = ps->dxf, *dMA = ps->dA, *dGA = ps->dGA;
    float *dN = melora__reg<float>(work, ws, MELORA__R_DN), *xa = melora__reg<float>(work, ws, MELORA__R_XA);
    float *tmp = melora__reg<float>(work, ws, MELORA__R_TMP);
    size_t rn = (size_t)r * n, tn = (size_t)T * n;
    // row-major dMA (r,n) += du^T x
    if (dMA) MELORA__TRY(melora__gemm(c, 0, 1, n, r, T, 1.0f, x, n, du, r, 1.0f, dMA, n));
    if (dGA) {
        melora__k_signs<<<melora__blocks(tn), MELORA__CU_THREADS, 0, st>>>(xa, x, sa, T, n, G, 0);
        MELORA__LAUNCHED_P(st, "k_signs", 0);
        // row-major dN (r,n) = du2^T xa
        MELORA__TRY(melora__gemm(c, 0, 1, n, r, T, 1.0f, xa, n, du2, r, 0.0f, dN, n));
        melora__k_chain<<<melora__blocks(rn), MELORA__CU_THREADS, 0, st>>>(nullptr, dGA, dN, ps->GA,
                                                                          ps->EA, rn);
        MELORA__LAUNCHED_P(st, "k_chain", 0);
    }
    if (dx) {
        // row-major dx (T,n) += du MA; tmp (T,n) = du2 N; dx += tmp*sa
        MELORA__TRY(melora__gemm(c, 0, 0, n, T, r, 1.0f, MA, n, du, r, 1.0f, dx, n));
        MELORA__TRY(melora__gemm(c, 0, 0, n, T, r, 1.0f, N, n, du2, r, 0.0f, tmp, n));
        melora__k_signs<<<melora__blocks(tn), MELORA__CU_THREADS, 0, st>>>(dx, tmp, sa, T, n, G, 1);
        MELORA__LAUNCHED_P(st, "k_signs", 0);
    }
    return MELORA_OK;
}
// du = s dz B; du2 = du*sb; dB += s dz^T u; then dMA += du^T x, dN = du2^T (x*sa) -> dGA and
// dx += du MA + (du2 N)*sa on the pass's path. N (r,n), du, du2 (T,r) in work.
static melora_status melora__flipout_backward(melora__cctx *c, const melora__cws *ws, void *work,
                                              const melora__cpass *ps) {
    const cudaStream_t st = c->st;
    const int naive = c->naive;
    const melora_dims d = ps->d;
    if (!ps->dxf && !ps->dA && !ps->dGA && !ps->dB) return MELORA_OK;
    float *N = melora__reg<float>(work, ws, MELORA__R_NOISE);
    float *du = melora__reg<float>(work, ws, MELORA__R_DU), *du2 = melora__reg<float>(work, ws, MELORA__R_DUS);
    size_t rn = (size_t)d.r * d.n;
    melora__k_sample<<<melora__blocks(rn), MELORA__CU_THREADS, 0, st>>>(N, nullptr, ps->GA, ps->EA, rn, 0);
    MELORA__LAUNCHED_P(st, "k_sample", MELORA__F4(3 * rn));
    MELORA__TRY(melora__dz(c, du, ps->dB, melora__reg<float>(work, ws, MELORA__R_PV),
                           melora__reg<float>(work, ws, MELORA__R_PB), ps->dzf, ps->B, ps->u, ps->s,
                           d.T, d.m, d.r, du2, ps->sb, ps->G));
    MELORA__TRY(naive ? melora__flipout_grads_naive(c, ps, ws, work, N, du, du2)
                      : melora__flipout_grads_fast(ps, ws, work, N, du, du2, st));
    return MELORA_OK;
}

// ------------------------------------------------------------------------------- KLs --
// No host synchronisation: the value and its status are written to the caller's device
// memory (kl, status) by melora__k_kl_final, and the gradient kernels that follow check the
// status on the device, so a zero standard deviation writes no gradient. What the host can
// check (sizes, pointers, sigma, weight) is still returned at once.

// Adds the reduction of `count` terms of `mode` to the partials of `slot`.
// gate: NULL, or a device status that must be MELORA_OK for anything to be written (then
// the inputs were checked and no term is flagged: bad is not written).
static melora_status melora__sum_terms(const melora__cws *ws, void *work, int slot, int mode,
                                       const double *d, const float *f1, const float *f2,
                                       double sigma, size_t count, cudaStream_t st, int naive,
                                       const int *gate) {
    double *part = melora__reg<double>(work, ws, MELORA__R_KLPART) + slot * MELORA__CU_NB;
    int *bad = gate ? nullptr : melora__reg<int>(work, ws, MELORA__R_KLBAD);
    if (naive)
        melora__k_reduce_naive<<<1, 1, 0, st>>>(part, MELORA__CU_NB, bad, gate, mode, d, f1, f2,
                                                sigma, count);
    else
        melora__k_reduce<<<MELORA__CU_NB, MELORA__CU_THREADS, 0, st>>>(part, bad, gate, mode, d,
                                                                      f1, f2, sigma, count);
    MELORA__LAUNCHED_P(st, naive ? "k_reduce_naive" : "k_reduce", 0);
    return MELORA_OK;
}
static melora_status melora__kl_args(double *kl, int *status, void *work) {
    MELORA__REQUIRE(kl && status && work, MELORA_ERR_NULL);
    MELORA__REQUIRE(((uintptr_t)work & 7u) == 0 && ((uintptr_t)kl & 7u) == 0 &&
                     ((uintptr_t)status & 3u) == 0,
                 MELORA_ERR_ALIGNMENT);
    return MELORA_OK;
}

static melora_status melora__diag_kl(double *kl, int *status, float *dmu, float *dg,
                                     melora_work w, const float *mu, const float *g,
                                     float sigma, float weight, int r, int n, cudaStream_t st) {
    melora__cws ws;
    size_t cnt;
    void *work = w.base;
    MELORA__REQUIRE(mu && g, MELORA_ERR_NULL);
    MELORA__TRY(melora__kl_args(kl, status, work));
    MELORA__TRY(melora__elems(&cnt, (size_t)r, (size_t)n, 1));
    melora__diag_layout(&ws);
    MELORA__REQUIRE(w.bytes >= MELORA_CUDA_DIAG_KL_BYTES, MELORA_ERR_WORKSPACE);
    MELORA__REQUIRE(melora__finite(sigma) && sigma > 0.0f && melora__finite(weight), MELORA_ERR_VALUE);
    melora__buf b[] = {{kl, sizeof(double), 1}, {status, sizeof(int), 1}, {dmu, MELORA__FB(r, n), 1},
                       {dg, MELORA__FB(r, n), 1}, {work, ws.total, 1}, {mu, MELORA__FB(r, n), 0},
                       {g, MELORA__FB(r, n), 0}};
    MELORA__TRY(melora__check_alias(b, MELORA__NBUF(b)));
    MELORA__TRY(melora__entry());
    int *bad = melora__reg<int>(work, &ws, MELORA__R_KLBAD);
    MELORA__CU(cudaMemsetAsync(bad, 0, sizeof(int), st));
    MELORA__TRY(melora__sum_terms(&ws, work, 0, 2, nullptr, mu, g, sigma, cnt, st, 0, nullptr));
    melora__k_kl_final<<<1, 1, 0, st>>>(kl, status, melora__reg<double>(work, &ws, MELORA__R_KLPART),
                                        MELORA__CU_NB, bad, 0, 1.0);
    MELORA__LAUNCHED_P(st, "k_kl_final", 0);
    if (dmu || dg) {
        double s2 = (double)sigma * sigma;
        melora__k_diag_grad<<<melora__blocks(cnt), MELORA__CU_THREADS, 0, st>>>(
            dmu, dg, status, mu, g, s2, weight, cnt);
        MELORA__LAUNCHED_P(st, "k_diag_grad", 0);
    }
    return MELORA_OK;
}
static melora_status melora__blob_kl(double *kl, int *status, float *dMA, float *dGA,
                                     melora_work work, const float *MA, const float *GA,
                                     float sigma_p, float weight, int r, int n,
                                     cudaStream_t st) {
    // MA GA dMA dGA are (r,n)
    MELORA__REQUIRE(r > 0 && n > 0, MELORA_ERR_SIZE);
    return melora__diag_kl(kl, status, dMA, dGA, work, MA, GA, sigma_p, weight, r, n, st);
}
static melora_status melora__melora_kl_exact(double *kl, int *status, float *dM, float *dH,
                                             melora_work work, const float *M, const float *H,
                                             float sigma, float weight, int r,
                                             cudaStream_t st) {
    // M H dM dH are (r,r)
    MELORA__REQUIRE(r > 0, MELORA_ERR_SIZE);
    return melora__diag_kl(kl, status, dM, dH, work, M, H, sigma, weight, r, r, st);
}

static melora_status melora__melora_kl(double *kl, int *status, float *dA, float *dM, float *dH,
                                       melora_work w, const float *A, const float *M, const float *H,
                                       float sigma, float weight, int r, int n, cudaStream_t st,
                                       int naive) {
    // A (r,n), M H (r,r); P = M A and S = Om|A| (r,n) doubles in work
    melora__cws ws;
    void *work = w.base;
    const melora_dims dd = {1, n, 1, r, MELORA_FP32};
    MELORA__REQUIRE(A && M && H, MELORA_ERR_NULL);
    MELORA__TRY(melora__kl_args(kl, status, work));
    MELORA__REQUIRE(r > 0 && n > 0, MELORA_ERR_SIZE);
    MELORA__TRY(melora__cuda_layout(&ws, MELORA_OP_MELORA_KL, dd, naive));
    MELORA__REQUIRE(w.bytes >= ws.total, MELORA_ERR_WORKSPACE);
    MELORA__REQUIRE(melora__finite(sigma) && sigma > 0.0f && melora__finite(weight), MELORA_ERR_VALUE);
    melora__buf b[] = {{kl, sizeof(double), 1}, {status, sizeof(int), 1}, {dA, MELORA__FB(r, n), 1},
                       {dM, MELORA__FB(r, r), 1}, {dH, MELORA__FB(r, r), 1}, {work, ws.total, 1},
                       {A, MELORA__FB(r, n), 0}, {M, MELORA__FB(r, r), 0}, {H, MELORA__FB(r, r), 0}};
    MELORA__TRY(melora__check_alias(b, MELORA__NBUF(b)));
    MELORA__TRY(melora__entry());
    double *P = melora__reg<double>(work, &ws, MELORA__R_KLP), *S = melora__reg<double>(work, &ws, MELORA__R_KLS);
    size_t rn = (size_t)r * n, rr = (size_t)r * r;
    double s2 = (double)sigma * sigma;
    // the inputs first; the status gates every later kernel. A KL that overflows double
    // from finite inputs is found only from the sums: then P, S and the partials are
    // written (scratch), and still no gradient.
    MELORA__CU(cudaMemsetAsync(status, 0, sizeof(int), st));
    melora__k_eq7_check<<<melora__blocks(rn + rr), MELORA__CU_THREADS, 0, st>>>(status, A, M, H,
                                                                               rn, rr);
    MELORA__LAUNCHED_P(st, "k_eq7_check", 0);
    MELORA__TRY(melora__sum_terms(&ws, work, 2, 1, nullptr, H, nullptr, 0, rr, st, naive, status));
    melora__k_ps<<<melora__blocks(rn), MELORA__CU_THREADS, 0, st>>>(P, S, M, H, A, status, r, n);
    MELORA__LAUNCHED_P(st, "k_ps", 0);
    MELORA__TRY(melora__sum_terms(&ws, work, 0, 0, P, nullptr, nullptr, 0, rn, st, naive, status));
    MELORA__TRY(melora__sum_terms(&ws, work, 1, 0, S, nullptr, nullptr, 0, rn, st, naive, status));
    melora__k_kl_final<<<1, 1, 0, st>>>(kl, status, melora__reg<double>(work, &ws, MELORA__R_KLPART),
                                        MELORA__CU_NB, nullptr, 1, s2);
    MELORA__LAUNCHED_P(st, "k_kl_final", 0);
    if ((dM || dH) && naive) {
        melora__k_eq7_mh<<<melora__blocks(rr), MELORA__CU_THREADS, 0, st>>>(
            dM, dH, P, S, A, H, status, s2, weight, r, n);
        MELORA__LAUNCHED_P(st, "k_eq7_mh", 0);
    } else if (dM || dH) {
        double *gmp = melora__reg<double>(work, &ws, MELORA__R_KLPMH);
        int ncn = melora__eq_ncn(n);
        double *gop = gmp + (size_t)ncn * rr;
        dim3 grid((unsigned)ncn, melora__gy((rr + MELORA__CU_THREADS - 1) / MELORA__CU_THREADS));
        melora__k_eq7_mh_part<<<grid, MELORA__CU_THREADS, 0, st>>>(gmp, gop, P, S, A, status,
                                                                   r, n, melora__eq_cols(n));
        MELORA__LAUNCHED_P(st, "k_eq7_mh_part", 0);
        melora__k_eq7_mh_finish<<<melora__blocks(rr), MELORA__CU_THREADS, 0, st>>>(
            dM, dH, gmp, gop, H, status, s2, weight, ncn, r);
        MELORA__LAUNCHED_P(st, "k_eq7_mh_finish", 0);
    }
    if (dA) {
        melora__k_eq7_a<<<melora__blocks(rn), MELORA__CU_THREADS, 0, st>>>(
            dA, P, S, M, H, A, status, s2, weight, r, n);
        MELORA__LAUNCHED_P(st, "k_eq7_a", 0);
    }
    return MELORA_OK;
}
static melora_status melora__melora_kl_prior_noise(double *kl, int *status, float *dA,
                                                   float *dM, float *dH, melora_work work,
                                                   const float *A, const float *M,
                                                   const float *H, float sigma_p, float eps,
                                                   float weight, int r, int n,
                                                   cudaStream_t st) {
    MELORA__REQUIRE(melora__finite(eps) && eps >= 0.0f && eps < 1.0f, MELORA_ERR_VALUE);
    MELORA__REQUIRE(melora__finite(sigma_p) && sigma_p > 0.0f, MELORA_ERR_VALUE);
    return melora__melora_kl(kl, status, dA, dM, dH, work, A, M, H, sigma_p + eps, weight, r, n, st, 0);
}

// -------------------------------------------------------------------------- Me-LoRA --
static melora_status melora__melora_sample(float *C, const float *M, const float *H,
                                           const float *EC, int E, int r, cudaStream_t st) {
    // M H (r,r); EC C (E,r,r): C_e = M + (H*H)*EC_e
    MELORA__REQUIRE(C && M && H && EC, MELORA_ERR_NULL);
    MELORA__REQUIRE(r > 0, MELORA_ERR_SIZE);
    MELORA__TRY(melora__check_samples(E, r));
    melora__buf b[] = {{C, MELORA__FB(E, r) * (size_t)r, 1}, {M, MELORA__FB(r, r), 0},
                       {H, MELORA__FB(r, r), 0}, {EC, MELORA__FB(E, r) * (size_t)r, 0}};
    MELORA__TRY(melora__check_alias(b, MELORA__NBUF(b)));
    MELORA__TRY(melora__entry());
    size_t rr = (size_t)r * r, cnt = (size_t)E * rr; // all E samples in one launch
    melora__k_sample<<<melora__blocks(cnt), MELORA__CU_THREADS, 0, st>>>(C, M, H, EC, cnt, rr);
    MELORA__LAUNCHED_P(st, "k_sample", MELORA__F4(2 * cnt + 2 * rr));
    return MELORA_OK;
}

static melora_status melora__melora_forward(melora__cctx *c, const melora__cws *, void *,
                                            const melora__cpass *ps) {
    const melora_dims d = ps->d;
    return melora__forward(c, ps->zf, ps->u, ps->v, ps->xf, ps->A, ps->C, ps->E, ps->B,
                           ps->s, d.T, d.n, d.m, d.r);
}
static melora_status melora__melora_backward(melora__cctx *c, const melora__cws *ws, void *work,
                                             const melora__cpass *ps) {
    const cudaStream_t st = c->st;
    const int naive = c->naive;
    const melora_dims d = ps->d;
    const int E = ps->E, T = d.T, r = d.r;
    float *dM = ps->dM, *dH = ps->dH;
    // dv du (T,r) in work
    if (!ps->dxf && !ps->dA && !ps->dB && !dM && !dH) return MELORA_OK;
    float *dv = melora__reg<float>(work, ws, MELORA__R_DV), *du = melora__reg<float>(work, ws, MELORA__R_DU);
    MELORA__TRY(melora__backward(c, ws, work, ps->dxf, ps->dA, 1.0f, ps->dB, dv, du, ps->dzf,
                                 ps->v, ps->xf, ps->A, ps->C, E, ps->B, ps->s, T, d.n, d.m, r));
    if ((dM || dH) && naive) {
        melora__k_dc<<<melora__blocks((size_t)r * r), MELORA__CU_THREADS, 0, st>>>(
            dM, dH, dv, ps->u, ps->H, ps->EC, T, r, E);
        MELORA__LAUNCHED_P(st, "k_dc", 0);
    } else if (dM || dH) {
        size_t rr = (size_t)r * r;
        int nch = melora__dc_nch(T);
        float *pm = melora__reg<float>(work, ws, MELORA__R_PMH), *ph = pm + (size_t)nch * rr;
        dim3 grid((unsigned)nch, melora__gy((rr + MELORA__CU_THREADS - 1) / MELORA__CU_THREADS));
        melora__k_dc_part<<<grid, MELORA__CU_THREADS, 0, st>>>(dM ? pm : nullptr, dH ? ph : nullptr,
                                                               dv, ps->u, ps->EC, T, r, T / E,
                                                               melora__dc_rows(T));
        MELORA__LAUNCHED_P(st, "k_dc_part", MELORA__F4(2 * (size_t)T * r + 2 * (size_t)nch * rr + (dH ? (size_t)E * rr : 0)));
        melora__k_dc_finish<<<melora__blocks(rr), MELORA__CU_THREADS, 0, st>>>(dM, dH, pm, ph, ps->H, nch, r);
        MELORA__LAUNCHED_P(st, "k_dc_finish", MELORA__F4((2 * (size_t)nch + 3) * rr));
    }
    return MELORA_OK;
}

static melora_status melora__melora_mc_forward(melora__cctx *c, const melora__cws *ws, void *work,
                                               const melora__cpass *ps) {
    const cudaStream_t st = c->st;
    const melora_dims d = ps->d;
    const int K = ps->E, T = d.T, n = d.n, m = d.m, r = d.r;
    const float *x = ps->xf, *A = ps->A, *C = ps->C, *B = ps->B;
    float *z = ps->zf, *u = ps->u;
    const float s = ps->s;
    // u = x A^T once for every sample: k_shrink up to MELORA__FUSE_MAXR, else cuBLAS (row-major
    // u (T,r) = x (T,n) A^T: column-major u^T (r,T) = op_T(A as (n,r)) x^T (n,T))
    if (r <= MELORA__FUSE_MAXR)
        MELORA__TRY(melora__shrink(st, u, nullptr, x, A, nullptr, nullptr, nullptr, nullptr, 1, nullptr, 1, T,
                                    n, r, MELORA__F4((size_t)T * n + (size_t)r * n + (size_t)T * r)));
    else
        MELORA__TRY(melora__gemm(c, 1, 0, r, T, n, 1.0f, A, n, x, n, 0.0f, u, r));
    // z_k += s (C_k u) B^T for every sample k: one launch (the samples share u and B)
    size_t tiles = ((size_t)T + MELORA__SH_RT - 1) / MELORA__SH_RT, tm = (size_t)T * m;
    if (d.dtype == MELORA_FP32) {
        dim3 grid((unsigned)(tiles < MELORA__GRID_X_MAX ? tiles : MELORA__GRID_X_MAX), melora__gy((size_t)K));
        melora__k_mcexpand<<<grid, melora__tpb(m), 0, st>>>(z, u, C, B, s, K, T, m, r);
        MELORA__LAUNCHED_P(st, "k_mcexpand", MELORA__F4(2 * (size_t)K * T * m + (size_t)T * r + (size_t)K * r * r + (size_t)m * r));
        return MELORA_OK;
    }
    // half z (K,T,m): each sample through the (T,m) float32 region, rounded once (3 launches
    // per sample where float32 takes one for all)
    float *zs = melora__reg<float>(work, ws, MELORA__R_HZ);
    dim3 grid((unsigned)(tiles < MELORA__GRID_X_MAX ? tiles : MELORA__GRID_X_MAX), 1);
    for (int k = 0; k < K; k++) {
        void *zk = (char *)ps->z + (size_t)k * tm * melora__esize(d.dtype);
        MELORA__TRY(melora__widen(st, zs, zk, d.dtype, tm));
        melora__k_mcexpand<<<grid, melora__tpb(m), 0, st>>>(zs, u, C + (size_t)k * r * r, B, s, 1, T, m, r);
        MELORA__LAUNCHED_P(st, "k_mcexpand", MELORA__F4(2 * tm + (size_t)T * r + (size_t)r * r + (size_t)m * r));
        MELORA__TRY(melora__narrow(st, zk, d.dtype, zs, tm));
    }
    return MELORA_OK;
}

// ------------------------------------------------------------------- entry points --
// The v0.2 calls: each unpacks its structs (host memory holding device pointers) and runs
// the pass above; an absent grads struct is a struct of NULL gradients, as in melora.h.
#define MELORA__G(g, f) ((g) ? (g)->f : nullptr)
#define MELORA__ENTER(cond)                                                                 \
    do {                                                                                    \
        melora__cu_err[0] = '\0';                                                           \
        MELORA__REQUIRE(cond, MELORA_ERR_NULL);                                                \
    } while (0)

// The passes' tensors from the v0.2 structs: out is z (forward) or dx (backward, with dz).
static melora__cpass melora__cpass_of(melora_op op, melora_dims d, float s, void *out,
                                      const void *dz) {
    melora__cpass ps;
    ps.op = op;
    ps.d = d;
    ps.s = s;
    if (melora__is_forward(op)) ps.z = out;
    else ps.dx = out, ps.dz = dz;
    return ps;
}
static melora__cpass melora__lora_cpass(melora_op op, void *out, const melora_lora_grads *g,
                                        const melora_lora_saved *sv, const void *dz,
                                        const melora_lora_params *p, melora_dims d) {
    melora__cpass ps = melora__cpass_of(op, d, p->s, out, dz);
    ps.u = sv->u; ps.x = sv->x; ps.A = p->A; ps.B = p->B;
    if (g) ps.dA = g->dA, ps.dB = g->dB;
    return ps;
}
extern "C" melora_status melora_cuda_lora_forward(void *z, const melora_lora_saved *sv,
                                                  melora_work work, const melora_lora_params *p,
                                                  melora_dims d, cublasHandle_t h,
                                                  cudaStream_t st) {
    MELORA__ENTER(sv && p);
    melora__cpass ps = melora__lora_cpass(MELORA_OP_LORA_FORWARD, z, nullptr, sv, nullptr, p, d);
    return melora__run(&ps, MELORA__LORA_PRESENT(ps), work, h, st, 0, melora__lora_forward);
}
extern "C" melora_status melora_cuda_lora_forward_naive(void *z, const melora_lora_saved *sv,
                                                        melora_work work,
                                                        const melora_lora_params *p,
                                                        melora_dims d, cublasHandle_t h,
                                                        cudaStream_t st) {
    MELORA__ENTER(sv && p);
    melora__cpass ps = melora__lora_cpass(MELORA_OP_LORA_FORWARD, z, nullptr, sv, nullptr, p, d);
    return melora__run(&ps, MELORA__LORA_PRESENT(ps), work, h, st, 1, melora__lora_forward);
}
extern "C" melora_status melora_cuda_lora_backward(void *dx, const melora_lora_grads *g,
                                                   const melora_lora_saved *sv,
                                                   melora_work work, const void *dz,
                                                   const melora_lora_params *p, melora_dims d,
                                                   cublasHandle_t h, cudaStream_t st) {
    MELORA__ENTER(sv && p);
    melora__cpass ps = melora__lora_cpass(MELORA_OP_LORA_BACKWARD, dx, g, sv, dz, p, d);
    return melora__run(&ps, MELORA__LORA_PRESENT(ps), work, h, st, 0, melora__lora_backward);
}
extern "C" melora_status melora_cuda_lora_backward_naive(void *dx, const melora_lora_grads *g,
                                                         const melora_lora_saved *sv,
                                                         melora_work work, const void *dz,
                                                         const melora_lora_params *p,
                                                         melora_dims d, cublasHandle_t h,
                                                         cudaStream_t st) {
    MELORA__ENTER(sv && p);
    melora__cpass ps = melora__lora_cpass(MELORA_OP_LORA_BACKWARD, dx, g, sv, dz, p, d);
    return melora__run(&ps, MELORA__LORA_PRESENT(ps), work, h, st, 1, melora__lora_backward);
}

extern "C" melora_status melora_cuda_blob_sample(float *As, const melora_blob_params *p,
                                                 const float *EA, int r, int n,
                                                 cudaStream_t st) {
    MELORA__ENTER(p);
    return melora__blob_sample(As, p->MA, p->GA, EA, r, n, st);
}
// BLoB's passes are LoRA's layouts: the forward reads MA and writes As, the backward reads As.
extern "C" melora_status melora_cuda_blob_forward(void *z, const melora_lora_saved *sv,
                                                  float *As, melora_work work,
                                                  const melora_blob_params *p, const float *EA,
                                                  melora_dims d, cublasHandle_t h,
                                                  cudaStream_t st) {
    MELORA__ENTER(sv && p);
    melora__cpass ps = melora__cpass_of(MELORA_OP_LORA_FORWARD, d, p->s, z, nullptr);
    ps.u = sv->u; ps.x = sv->x; ps.As = As; ps.MA = p->MA; ps.GA = p->GA; ps.EA = EA; ps.B = p->B;
    return melora__run(&ps, MELORA__BLOB_SAMPLE_PRESENT(ps), work, h, st, 0, melora__blob_forward);
}
extern "C" melora_status melora_cuda_blob_backward(void *dx, const melora_blob_grads *g,
                                                   const melora_lora_saved *sv,
                                                   melora_work work, const void *dz,
                                                   const melora_blob_params *p,
                                                   const melora_blob_draw *dr, melora_dims d,
                                                   cublasHandle_t h, cudaStream_t st) {
    MELORA__ENTER(sv && p && dr);
    melora__cpass ps = melora__cpass_of(MELORA_OP_LORA_BACKWARD, d, p->s, dx, dz);
    ps.u = sv->u; ps.x = sv->x; ps.A = dr->As; ps.GA = p->GA; ps.EA = dr->EA; ps.B = p->B;
    if (g) ps.dA = g->dMA, ps.dGA = g->dGA, ps.dB = g->dB;
    return melora__run(&ps, MELORA__LORA_PRESENT(ps) && ps.GA && ps.EA,
                       work, h, st, 0, melora__blob_backward);
}
static melora__cpass melora__flipout_cpass(melora_op op, void *out, const melora_blob_grads *g,
                                           const melora_lora_saved *sv, const void *dz,
                                           const melora_blob_params *p,
                                           const melora_flipout_noise *nz, melora_dims d) {
    melora__cpass ps = melora__cpass_of(op, d, p->s, out, dz);
    ps.u = sv->u; ps.x = sv->x; ps.A = p->MA; ps.GA = p->GA; ps.EA = nz->EA; ps.B = p->B;
    ps.sa = nz->sa; ps.sb = nz->sb; ps.G = nz->G;
    if (g) ps.dA = g->dMA, ps.dGA = g->dGA, ps.dB = g->dB;
    return ps;
}
static melora_status melora__flipout_forward_call(void *z, const melora_lora_saved *sv,
                                                  melora_work work, const melora_blob_params *p,
                                                  const melora_flipout_noise *nz, melora_dims d,
                                                  cublasHandle_t h, cudaStream_t st, int naive) {
    MELORA__ENTER(sv && p && nz);
    melora__cpass ps =
        melora__flipout_cpass(MELORA_OP_FLIPOUT_FORWARD, z, nullptr, sv, nullptr, p, nz, d);
    return melora__run(&ps, MELORA__FLIPOUT_PRESENT(ps),
                       work, h, st, naive, melora__flipout_forward);
}
static melora_status melora__flipout_backward_call(void *dx, const melora_blob_grads *g,
                                                   const melora_lora_saved *sv,
                                                   melora_work work, const void *dz,
                                                   const melora_blob_params *p,
                                                   const melora_flipout_noise *nz,
                                                   melora_dims d, cublasHandle_t h,
                                                   cudaStream_t st, int naive) {
    MELORA__ENTER(sv && p && nz);
    melora__cpass ps = melora__flipout_cpass(MELORA_OP_FLIPOUT_BACKWARD, dx, g, sv, dz, p, nz, d);
    return melora__run(&ps, MELORA__FLIPOUT_PRESENT(ps),
                       work, h, st, naive, melora__flipout_backward);
}
extern "C" melora_status melora_cuda_blob_flipout_forward(void *z, const melora_lora_saved *sv,
                                                          melora_work work,
                                                          const melora_blob_params *p,
                                                          const melora_flipout_noise *nz,
                                                          melora_dims d, cublasHandle_t h,
                                                          cudaStream_t st) {
    return melora__flipout_forward_call(z, sv, work, p, nz, d, h, st, 0);
}
extern "C" melora_status melora_cuda_blob_flipout_forward_naive(
    void *z, const melora_lora_saved *sv, melora_work work, const melora_blob_params *p,
    const melora_flipout_noise *nz, melora_dims d, cublasHandle_t h, cudaStream_t st) {
    return melora__flipout_forward_call(z, sv, work, p, nz, d, h, st, 1);
}
extern "C" melora_status melora_cuda_blob_flipout_backward(
    void *dx, const melora_blob_grads *g, const melora_lora_saved *sv, melora_work work,
    const void *dz, const melora_blob_params *p, const melora_flipout_noise *nz,
    melora_dims d, cublasHandle_t h, cudaStream_t st) {
    return melora__flipout_backward_call(dx, g, sv, work, dz, p, nz, d, h, st, 0);
}
extern "C" melora_status melora_cuda_blob_flipout_backward_naive(
    void *dx, const melora_blob_grads *g, const melora_lora_saved *sv, melora_work work,
    const void *dz, const melora_blob_params *p, const melora_flipout_noise *nz,
    melora_dims d, cublasHandle_t h, cudaStream_t st) {
    return melora__flipout_backward_call(dx, g, sv, work, dz, p, nz, d, h, st, 1);
}
extern "C" melora_status melora_cuda_blob_kl(double *kl, int *status, const melora_blob_grads *g,
                                             melora_work work, const melora_blob_params *p,
                                             float sigma_p, float weight, int r, int n,
                                             cudaStream_t st) {
    MELORA__ENTER(p);
    return melora__blob_kl(kl, status, MELORA__G(g, dMA), MELORA__G(g, dGA), work, p->MA, p->GA,
                           sigma_p, weight, r, n, st);
}

extern "C" melora_status melora_cuda_melora_sample(float *C, const melora_melora_params *p,
                                                   const float *EC, int E, int r,
                                                   cudaStream_t st) {
    MELORA__ENTER(p);
    return melora__melora_sample(C, p->M, p->H, EC, E, r, st);
}
// Me-LoRA: H and EC only in the backward, which alone reads them (for dH).
static melora__cpass melora__melora_cpass(melora_op op, void *out,
                                          const melora_melora_grads *g,
                                          const melora_melora_saved *sv, const void *dz,
                                          const melora_melora_params *p,
                                          const melora_melora_draw *dr, melora_dims d) {
    melora__cpass ps = melora__cpass_of(op, d, p->s, out, dz);
    ps.u = sv->u; ps.v = sv->v; ps.x = sv->x; ps.A = p->A; ps.C = dr->C; ps.E = dr->E;
    ps.B = p->B;
    if (op == MELORA_OP_MELORA_BACKWARD) ps.H = p->H, ps.EC = dr->EC;
    if (g) ps.dA = g->dA, ps.dB = g->dB, ps.dM = g->dM, ps.dH = g->dH;
    return ps;
}
extern "C" melora_status melora_cuda_melora_forward(void *z, const melora_melora_saved *sv,
                                                    melora_work work,
                                                    const melora_melora_params *p,
                                                    const melora_melora_draw *dr, melora_dims d,
                                                    cublasHandle_t h, cudaStream_t st) {
    MELORA__ENTER(sv && p && dr);
    melora__cpass ps =
        melora__melora_cpass(MELORA_OP_MELORA_FORWARD, z, nullptr, sv, nullptr, p, dr, d);
    return melora__run(&ps, MELORA__MELORA_PRESENT(ps), work, h, st, 0, melora__melora_forward);
}
extern "C" melora_status melora_cuda_melora_forward_naive(void *z,
                                                          const melora_melora_saved *sv,
                                                          melora_work work,
                                                          const melora_melora_params *p,
                                                          const melora_melora_draw *dr,
                                                          melora_dims d, cublasHandle_t h,
                                                          cudaStream_t st) {
    MELORA__ENTER(sv && p && dr);
    melora__cpass ps =
        melora__melora_cpass(MELORA_OP_MELORA_FORWARD, z, nullptr, sv, nullptr, p, dr, d);
    return melora__run(&ps, MELORA__MELORA_PRESENT(ps), work, h, st, 1, melora__melora_forward);
}
static melora_status melora__melora_backward_call(void *dx, const melora_melora_grads *g,
                                                  const melora_melora_saved *sv,
                                                  melora_work work, const void *dz,
                                                  const melora_melora_params *p,
                                                  const melora_melora_draw *dr, melora_dims d,
                                                  cublasHandle_t h, cudaStream_t st,
                                                  int naive) {
    MELORA__ENTER(sv && p && dr);
    melora__cpass ps = melora__melora_cpass(MELORA_OP_MELORA_BACKWARD, dx, g, sv, dz, p, dr, d);
    return melora__run(&ps, MELORA__MELORA_PRESENT(ps),
                       work, h, st, naive, melora__melora_backward);
}
extern "C" melora_status melora_cuda_melora_backward(void *dx, const melora_melora_grads *g,
                                                     const melora_melora_saved *sv,
                                                     melora_work work, const void *dz,
                                                     const melora_melora_params *p,
                                                     const melora_melora_draw *dr,
                                                     melora_dims d, cublasHandle_t h,
                                                     cudaStream_t st) {
    return melora__melora_backward_call(dx, g, sv, work, dz, p, dr, d, h, st, 0);
}
extern "C" melora_status melora_cuda_melora_backward_naive(
    void *dx, const melora_melora_grads *g, const melora_melora_saved *sv, melora_work work,
    const void *dz, const melora_melora_params *p, const melora_melora_draw *dr,
    melora_dims d, cublasHandle_t h, cudaStream_t st) {
    return melora__melora_backward_call(dx, g, sv, work, dz, p, dr, d, h, st, 1);
}
extern "C" melora_status melora_cuda_melora_mc_forward(void *z, const melora_lora_saved *sv,
                                                       melora_work work,
                                                       const melora_melora_params *p,
                                                       const float *C, int K, melora_dims d,
                                                       cublasHandle_t h, cudaStream_t st) {
    MELORA__ENTER(sv && p);
    melora__cpass ps = melora__cpass_of(MELORA_OP_MELORA_MC_FORWARD, d, p->s, z, nullptr);
    ps.u = sv->u; ps.x = sv->x; ps.A = p->A; ps.C = C; ps.E = K; ps.B = p->B;
    return melora__run(&ps, MELORA__LORA_PRESENT(ps) && ps.C,
                       work, h, st, 0, melora__melora_mc_forward);
}
extern "C" melora_status melora_cuda_melora_kl(double *kl, int *status,
                                               const melora_melora_grads *g, melora_work work,
                                               const melora_melora_params *p, float sigma,
                                               float weight, int r, int n, cudaStream_t st) {
    MELORA__ENTER(p);
    return melora__melora_kl(kl, status, MELORA__G(g, dA), MELORA__G(g, dM), MELORA__G(g, dH), work,
                             p->A, p->M, p->H, sigma, weight, r, n, st, 0);
}
extern "C" melora_status melora_cuda_melora_kl_naive(double *kl, int *status,
                                                     const melora_melora_grads *g,
                                                     melora_work work,
                                                     const melora_melora_params *p,
                                                     float sigma, float weight, int r, int n,
                                                     cudaStream_t st) {
    MELORA__ENTER(p);
    return melora__melora_kl(kl, status, MELORA__G(g, dA), MELORA__G(g, dM), MELORA__G(g, dH), work,
                             p->A, p->M, p->H, sigma, weight, r, n, st, 1);
}
extern "C" melora_status melora_cuda_melora_kl_prior_noise(double *kl, int *status,
                                                           const melora_melora_grads *g,
                                                           melora_work work,
                                                           const melora_melora_params *p,
                                                           float sigma_p, float eps,
                                                           float weight, int r, int n,
                                                           cudaStream_t st) {
    MELORA__ENTER(p);
    return melora__melora_kl_prior_noise(kl, status, MELORA__G(g, dA), MELORA__G(g, dM),
                                         MELORA__G(g, dH), work, p->A, p->M, p->H, sigma_p, eps,
                                         weight, r, n, st);
}
extern "C" melora_status melora_cuda_melora_kl_exact(double *kl, int *status,
                                                     const melora_melora_grads *g,
                                                     melora_work work,
                                                     const melora_melora_params *p,
                                                     float sigma, float weight, int r,
                                                     cudaStream_t st) {
    MELORA__ENTER(p);
    return melora__melora_kl_exact(kl, status, MELORA__G(g, dM), MELORA__G(g, dH), work, p->M,
                                   p->H, sigma, weight, r, st);
}
