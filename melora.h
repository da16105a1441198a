/* melora.h - v0.3.0 - adapter math for Bayesian low-rank adaptation: LoRA, BLoB, Me-LoRA

   Single-header C99 library (also valid C++). Do this:
       #define MELORA_IMPLEMENTATION
   before you include this file in *one* C or C++ file to create the implementation.
   Every other file just includes "melora.h". Build with -fopenmp to run the large
   loops on several threads (results are bitwise identical for any thread count). A
   process fork()ed after a threaded call runs them on one thread (POSIX: libgomp's pool
   does not survive fork, and would hang the child's first call).

   OPTIONS (define before including, in the implementation file)
       MELORA_STATIC           all functions static (private to one translation unit)
       MELORA_ASSERT(x)        internal invariant check (default: assert from <assert.h>)
       MELORA_MALLOC(bytes)    allocator used by melora_alloc() and four naive references
                               (below) (default: malloc); define both or neither
       MELORA_FREE(p)          matching free (default: free)
       MELORA_CHUNKS           least number of row chunks of a pass (default 8; a batch of
                               more than 8192 * MELORA_CHUNKS rows gets one chunk per 8192
                               rows). Gradients are reduced over chunks in chunk order, so
                               they depend on T and this number but never on the thread
                               count.
   The compute functions never allocate: callers pass buffers and a workspace whose size
   melora_workspace_size() reports (they use up to 60 KiB of stack for packed panels).
   Only melora_alloc() and the double-precision references melora_lora_backward_naive,
   melora_melora_backward_naive, melora_blob_flipout_forward_naive and
   melora_blob_flipout_backward_naive call MELORA_MALLOC; when it returns NULL they
   return MELORA_ERR_ALLOC, with nothing written and nothing leaked.

   KERNELS
       Each pass walks its rows once, in blocks of 32, and runs every rank-r product of the
       block through one GEMM-class register tile (explicit FMA intrinsics: AVX-512 6x4 or
       8x3 tiles of 16 lanes, AVX2 4x3 or 6x2 of 8, SSE/NEON of 4; portable loops under
       MELORA_NO_VECTOR or without GCC/Clang vectors). x A^T and dz (sB) run from a packed
       transposed copy once r >= 16 (compute-bound ranks), as lane-reduced dot products
       below (memory-bound ranks). The same bits come out whatever -std=, C or C++, compiler
       (gcc, clang) or thread count the caller builds with, for one target and one of
       vector/MELORA_NO_VECTOR: the FMAs are explicit and the implementation is compiled
       with contraction off (make bits checks it; the exceptions are listed where the
       pragmas are set: clang's explicit -ffp-contract=fast, -ffast-math, nvcc's device
       code). Reductions over T are blocked (see
       MELORA_CHUNKS), so their float error does not grow with the batch length.

   DTYPES
       The activations x, z, dz, dx are float32, bf16 or fp16 (melora_dims.dtype; half
       values as uint16_t bit patterns). Everything else is float32: parameters, gradients,
       noise, u, v and every accumulation; the KLs are double. A half output is the float32
       result rounded once, to nearest even: z = round(z + delta), dx = round(dx + ...).
       melora_convert() and melora_bf16_to_f32() etc. convert with the same rounding.

   SHAPES (row-major, contiguous; weights laid out as in PyTorch, [out][in])
       T tokens, n in-features, m out-features, r rank, s = alpha/r the LoRA scale,
       E examples (example e owns the T/E consecutive tokens e*T/E .. (e+1)*T/E-1),
       K Monte-Carlo samples, G tokens per Flipout sign group.
       x (T,n)  z (T,m)  dz (T,m)  dx (T,n)  u,v (T,r)
       A, MA, GA, EA, As (r,n)   B (m,r)   M, H (r,r)   C, EC (E,r,r)
   CALLS (v0.2; v0.3 added the dtype)
       Tensors are grouped by role in small structs: a method's parameters (_params), its
       gradients (_grads), what the forward saves for the backward (_saved), one draw of
       its noise (_draw, _noise); sizes and the activations' dtype in melora_dims, the
       workspace with its size in melora_work. No call has more than ten arguments:
           melora_melora_backward(dx, &g, &sv, work, dz, &p, &draw, d);
       v0.1 took the same call as 21 positional arguments, 13 of them float pointers.
   CONVENTIONS
       Outputs first, then saved activations and workspace, then const inputs, then sizes.
       Adapters ADD into z (z += delta) and backward passes ADD into gradients, so a base
       layer and several adapters compose; pass NULL for a gradient you do not want (or
       NULL for the whole _grads struct).
       Noise is an explicit input. The melora_rng_* functions map (seed, index) to numbers
       through Philox4x32-10, so any element can be regenerated on its own, on the CPU or
       (same functions, __host__ __device__) on the GPU. melora_draw_offset and the
       melora_*_noise functions own the convention of which indices a draw uses.
       No buffer a call writes (outputs, accumulated z and gradients, the workspace, *kl)
       may share a byte with any other buffer of the call, input or output, including
       partial overlaps; inputs may share memory with each other. No in-place use is
       allowed, not even element-wise ones (As == MA in melora_blob_sample): the compute
       functions report MELORA_ERR_ALIAS instead (ranges from the shapes; adjacent buffers,
       the end of one at the start of the next, are fine).
   ERRORS
       Every public function returns a melora_status: MELORA_OK (0) or a negative code,
       explained by melora_status_string(). Arguments are checked before any memory is
       touched; on error nothing is written. Overlaps are checked after the pointers,
       sizes and workspace alignment and size (the ranges need valid sizes), so
       MELORA_ERR_ALIAS comes after NULL, SIZE, OVERFLOW, DIVISIBILITY, ALIGNMENT and
       WORKSPACE errors.

   DESIGN: docs/DESIGN.md states every formula above with its gradients, the conventions
   in full and the reasons for them.

   LICENCE: MIT, see the end of this file.
*/
#ifndef MELORA_H
#define MELORA_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <math.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef MELORA_DEF
#ifdef MELORA_STATIC
/* a translation unit calls a few of the functions: the rest must not warn as unused */
#if defined(__GNUC__) || defined(__clang__)
#define MELORA_DEF static __attribute__((unused))
#else
#define MELORA_DEF static
#endif
#else
#define MELORA_DEF extern
#endif
#endif

/* Per-element functions shared by the CPU path and the CUDA kernels. */
#if defined(__CUDACC__)
#define MELORA_HD __host__ __device__
#else
#define MELORA_HD
#endif

#define MELORA_VERSION_MAJOR 0
#define MELORA_VERSION_MINOR 3
#define MELORA_VERSION_PATCH 0

typedef enum {
    MELORA_OK = 0,
    MELORA_ERR_NULL = -1,       /* a required pointer is NULL */
    MELORA_ERR_SIZE = -2,       /* a size is zero or negative */
    MELORA_ERR_OVERFLOW = -3,   /* a buffer size overflows size_t / ptrdiff_t */
    MELORA_ERR_DIVISIBILITY = -4, /* T is not a multiple of E */
    MELORA_ERR_VALUE = -5,      /* a scalar or a tensor entry is out of its domain */
    MELORA_ERR_ENUM = -6,       /* unknown method, op, dtype, model or module mask */
    MELORA_ERR_CAPACITY = -7,   /* an output list is too short */
    MELORA_ERR_ALIGNMENT = -8,  /* workspace not 8-byte aligned, or an activation not
                                   aligned to its element (4 bytes fp32, 2 bf16/fp16) */
    MELORA_ERR_ALLOC = -9,      /* allocation failed (melora_alloc, naive references, CUDA) */
    MELORA_ERR_CUDA = -10,      /* a CUDA runtime call failed */
    MELORA_ERR_CUBLAS = -11,    /* a cuBLAS call failed */
    MELORA_ERR_ALIAS = -12,     /* a written buffer overlaps another buffer of the call */
    MELORA_ERR_WORKSPACE = -13  /* the workspace is smaller than melora_workspace_size() */
} melora_status;

MELORA_DEF const char *melora_status_string(melora_status status);

/* The overlap check of every compute function, here rather than in the implementation
   because melora_cuda.cu applies it to device pointers (host code; they share one address
   space). One entry per buffer of a call: its first byte, its length from the shapes, and
   whether the call writes it (outputs, accumulated z and gradients, the workspace, *kl).
   MELORA_ERR_ALIAS when a written buffer shares a byte with any other; NULL entries are
   absent optional gradients. Called after the size checks, so every length fits in
   ptrdiff_t; the distance form never computes p + bytes, which may wrap for a buffer at
   the top of a 32-bit address space. O(nb^2) compares; a row pass's table has 23 entries,
   at most 15 of them non-NULL in one call. */
typedef struct {
    const void *p;
    size_t bytes;
    int written;
} melora__buf;
#define MELORA__NBUF(tab) ((int)(sizeof(tab) / sizeof((tab)[0])))
#define MELORA__FB(a, b) ((size_t)(a) * (size_t)(b) * sizeof(float))
static inline melora_status melora__check_alias(const melora__buf *b, int nb) {
    int i, j;
    for (i = 0; i < nb; i++) {
        uintptr_t pi = (uintptr_t)b[i].p;
        if (!b[i].p) continue;
        for (j = i + 1; j < nb; j++) {
            uintptr_t pj = (uintptr_t)b[j].p;
            if (!b[j].p || !(b[i].written || b[j].written)) continue;
            if (pi <= pj ? pj - pi < b[i].bytes : pi - pj < b[j].bytes)
                return MELORA_ERR_ALIAS;
        }
    }
    return MELORA_OK;
}

/* ------------------------------------------------------------------------------------
   Random numbers: Philox4x32-10 (Salmon et al. 2011) and the index -> number mapping.

   key = (seed low 32 bits, seed high 32 bits). Element k of a stream uses the Philox
   block b with counter (b low, b high, stream, 0), where stream is
       0 normal  : b = k/4; the 4 words give two Box-Muller pairs (words 0,1 and 2,3);
                   element k takes pair (k/2)%2 and its cosine (k even) or sine (k odd)
                   branch: u1 = (w0>>8 + 1) 2^-24 in (0,1], u2 = (w1>>8) 2^-24,
                   N = sqrt(-2 ln u1) cos|sin(2 pi u2)  (|N| <= 5.77 by construction)
       1 uniform : b = k/4, U = (word[k%4] >> 8) * 2^-24, in [0,1)
       2 sign    : b = k/128, bit k%32 of word[(k/32)%4]: 1 -> -1.0f, 0 -> +1.0f
   A tensor drawn at `offset` uses indices offset .. offset+count-1: give tensors drawn
   with the same seed disjoint index ranges.
   ------------------------------------------------------------------------------------ */
#define MELORA_STREAM_NORMAL 0u
#define MELORA_STREAM_UNIFORM 1u
#define MELORA_STREAM_SIGN 2u

static inline MELORA_HD uint32_t melora__mulhi32(uint32_t a, uint32_t b) {
    return (uint32_t)(((uint64_t)a * (uint64_t)b) >> 32);
}

/* out = Philox4x32-10(ctr, key): a pure function, checked on Random123's vectors. */
static inline MELORA_HD void melora_philox4x32_10(uint32_t out[4], const uint32_t ctr[4],
                                                  const uint32_t key[2]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    int round;
    for (round = 0; round < 10; round++) {
        uint32_t hi0 = melora__mulhi32(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
        uint32_t hi1 = melora__mulhi32(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

static inline MELORA_HD void melora__philox_block(uint32_t out[4], uint64_t seed,
                                                  uint64_t block, uint32_t stream) {
    uint32_t ctr[4], key[2];
    ctr[0] = (uint32_t)block; ctr[1] = (uint32_t)(block >> 32); ctr[2] = stream; ctr[3] = 0u;
    key[0] = (uint32_t)seed; key[1] = (uint32_t)(seed >> 32);
    melora_philox4x32_10(out, ctr, key);
}

/* One Box-Muller pair from two words: [0] cosine branch, [1] sine branch. */
static inline MELORA_HD void melora__box_muller(float out[2], uint32_t w0, uint32_t w1) {
    const float two_pi = 6.28318530717958647692f;
    float u1 = (float)((w0 >> 8) + 1u) * 5.9604644775390625e-8f; /* (0,1] */
    float u2 = (float)(w1 >> 8) * 5.9604644775390625e-8f;        /* [0,1) */
    float rad = sqrtf(-2.0f * logf(u1));
    out[0] = rad * cosf(two_pi * u2);
    out[1] = rad * sinf(two_pi * u2);
}

static inline MELORA_HD float melora_rng_normal(uint64_t seed, uint64_t k) {
    uint32_t w[4];
    float pair[2];
    unsigned p = (unsigned)((k >> 1) & 1u);
    melora__philox_block(w, seed, k >> 2, MELORA_STREAM_NORMAL);
    melora__box_muller(pair, w[2 * p], w[2 * p + 1]);
    return pair[k & 1u];
}

static inline MELORA_HD float melora_rng_uniform(uint64_t seed, uint64_t k) {
    uint32_t w[4];
    melora__philox_block(w, seed, k >> 2, MELORA_STREAM_UNIFORM);
    return (float)(w[k & 3u] >> 8) * 5.9604644775390625e-8f;
}

static inline MELORA_HD float melora_rng_sign(uint64_t seed, uint64_t k) {
    uint32_t w[4];
    melora__philox_block(w, seed, k >> 7, MELORA_STREAM_SIGN);
    return ((w[(k >> 5) & 3u] >> (k & 31u)) & 1u) ? -1.0f : 1.0f;
}

/* Per-element math shared with the CUDA kernels. */
/* Reparameterised sample: mean + (g*g) * eps  (BLoB's A, Me-LoRA's C), the add fused
   explicitly (one rounding after g*g), so that it is the same in every build that may
   inline it: C or C++, contracting or not, and CUDA device code. */
static inline MELORA_HD float melora_sample_elem(float mean, float g, float eps) {
    return fmaf(g * g, eps, mean);
}
/* Gradient of the std parameter g from the sample's gradient: d * eps * 2g. */
static inline MELORA_HD float melora_dstd_elem(float dsample, float g, float eps) {
    return dsample * eps * 2.0f * g;
}
/* The KL terms of a Gaussian N(mu, Om^2), Om = g*g, against the prior N(0, sigma^2), in
   double; ls = log sigma, s2 = sigma^2, w the KL's weight. Contraction is off for these
   (as in the implementation), so C and C++ hosts agree to the bit; nvcc's device code
   contracts (see KERNELS). */
#if defined(__clang__) && !defined(__CUDACC__) && __clang_major__ >= 11
#pragma float_control(push)
#pragma clang fp contract(off)
#elif defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__) && !defined(__INTEL_COMPILER)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif
/* One entry of the diagonal KL: log sigma - log Om + (Om^2 + mu^2) / (2 sigma^2) - 1/2. */
static inline MELORA_HD double melora__kl_term(double mu, double g, double ls, double s2) {
    double om = g * g;
    return ls - log(om) + (om * om + mu * mu) / (2.0 * s2) - 0.5;
}
/* Gradient of a quadratic term q^2 / (2 sigma^2)-type part through its linear factor:
   w q / s2. The diagonal KL's d/dmu (q = mu); eq. 7's dM (q = (P A^T)_ik) and dA
   (q = (M^T P + (Om^T S) sign A)_kj). */
static inline MELORA_HD double melora__kl_dmean(double w, double q, double s2) {
    return w * q / s2;
}
/* Gradient with respect to g of -log Om + (a part whose derivative in Om is q / s2):
   w (q / s2 - 1/Om) 2g. The diagonal KL's d/dg (q = Om); eq. 7's dH (q = (S |A|^T)_ik). */
static inline MELORA_HD double melora__kl_dstd(double w, double q, double g, double s2) {
    double om = g * g;
    return w * (q / s2 - 1.0 / om) * 2.0 * g;
}
#if defined(__clang__) && !defined(__CUDACC__) && __clang_major__ >= 11
#pragma float_control(pop)
#elif defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__) && !defined(__INTEL_COMPILER)
#pragma GCC pop_options
#endif
/* Finiteness from the exponent bits: -ffast-math and -ffinite-math-only let compilers fold
   v == v and v - v == 0 to true, and the argument checks must hold under any flags.
   memcpy is the well-defined type pun in C, C++ and CUDA device code. */
static inline MELORA_HD int melora__finite(float v) {
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return (b & 0x7F800000u) != 0x7F800000u;
}
static inline MELORA_HD int melora__finite_d(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return (b & 0x7FF0000000000000u) != 0x7FF0000000000000u;
}

/* Half precision: the bits of a bf16 or IEEE binary16 value in a uint16_t. Widening is
   exact; narrowing rounds to nearest, ties to even, overflows to infinity and keeps a
   NaN a (quiet) NaN, with integer arithmetic only, so that it is the same under any
   compiler flags (-ffast-math, flush-to-zero) on the host and in CUDA device code. */
static inline MELORA_HD float melora_bf16_to_f32(uint16_t h) {
    uint32_t b = (uint32_t)h << 16;
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}
static inline MELORA_HD uint16_t melora_f32_to_bf16(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    if ((b & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((b >> 16) | 0x0040u);
    b += 0x7FFFu + ((b >> 16) & 1u);
    return (uint16_t)(b >> 16);
}
static inline MELORA_HD float melora_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
    uint32_t b;
    float f;
    if (e == 0x1Fu) b = sign | 0x7F800000u | (mant << 13);
    else if (e != 0) b = sign | ((e + 112u) << 23) | (mant << 13);
    else if (mant == 0) b = sign;
    else { /* subnormal: mant 2^-24, normalised */
        int sh = 0;
        while (!(mant & 0x400u)) { mant <<= 1; sh++; }
        b = sign | ((uint32_t)(113 - sh) << 23) | ((mant & 0x3FFu) << 13);
    }
    memcpy(&f, &b, sizeof f);
    return f;
}
static inline MELORA_HD uint16_t melora_f32_to_f16(float f) {
    uint32_t b, a, sign, e, mant, sh, q, rem, half;
    memcpy(&b, &f, sizeof b);
    sign = (b >> 16) & 0x8000u;
    a = b & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return (uint16_t)(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
    if (a >= 0x477FF000u) return (uint16_t)(sign | 0x7C00u); /* >= 65520: infinity */
    if (a >= 0x38800000u) {                                  /* a normal half */
        a += 0xFFFu + ((a >> 13) & 1u);
        return (uint16_t)(sign | ((a - (112u << 23)) >> 13));
    }
    e = a >> 23; /* a subnormal half (or zero): units of 2^-24 */
    if (e < 102u) return (uint16_t)sign;
    mant = (a & 0x7FFFFFu) | 0x800000u;
    sh = 126u - e; /* 14 .. 24 */
    q = mant >> sh;
    rem = mant & ((1u << sh) - 1u);
    half = 1u << (sh - 1u);
    if (rem > half || (rem == half && (q & 1u))) q++;
    return (uint16_t)(sign | q);
}

/* ------------------------------------------------------------------------------------
   The shape of a call (v0.2). Tensors travel in small structs named after their role, so
   that a call reads like its equation and two swapped tensors do not compile or stand out:
       melora_dims d = {T, n, m, r, MELORA_FP32};
       melora_lora_params p = {.A = A, .B = B, .s = alpha / r};
       melora_lora_saved sv = {.x = x, .u = u};
       melora_lora_forward(z, &sv, work, &p, d);
   Every field is a row-major float32 tensor of the shape in its comment, but the
   activations (x here; z, dz, dx as arguments), which are in d.dtype: void pointers,
   2-byte aligned for bf16/fp16 (4 for float32), else MELORA_ERR_ALIGNMENT. A struct pointer
   marked "g" may be NULL (no parameter gradient); inside it, each gradient may be NULL.
   ------------------------------------------------------------------------------------ */
/* The element type of the activations x, z, dz, dx (parameters, gradients, noise, u, v,
   the KL and every accumulation are float32 in every dtype). bf16 and fp16 values are
   their IEEE bit patterns in uint16_t (melora_bf16_to_f32 and friends, below). */
typedef enum { MELORA_FP32 = 0, MELORA_BF16, MELORA_FP16, MELORA_DTYPE_COUNT_ } melora_dtype;

typedef struct {
    int T, n, m, r;     /* tokens, in-features, out-features, rank */
    melora_dtype dtype; /* of x, z, dz, dx; MELORA_FP32 (0) when left out */
} melora_dims;

/* Workspace: `base` 8-byte aligned (melora_alloc gives 64), `bytes` its size. A call
   whose workspace is smaller than melora_workspace_size() says returns
   MELORA_ERR_WORKSPACE with nothing written. */
typedef struct {
    void *base;
    size_t bytes;
} melora_work;

/* The size checks of every call, here rather than in the implementation because
   melora_cuda.cu makes the same ones (host code): the limits are derived once. */
#define MELORA__TRY(expr) do { melora_status melora__st = (expr); \
    if (melora__st != MELORA_OK) return melora__st; } while (0)
#define MELORA__REQUIRE(cond, st) do { if (!(cond)) return (st); } while (0)

/* Largest element count of any buffer: its bytes, even as doubles, fit in ptrdiff_t. */
#define MELORA__MAX_ELEMS ((size_t)PTRDIFF_MAX / sizeof(double))

static inline int melora__mulz(size_t *out, size_t a, size_t b) {
    if (a != 0 && b > MELORA__MAX_ELEMS / a) return 0;
    *out = a * b;
    return 1;
}
static inline melora_status melora__elems(size_t *out, size_t a, size_t b, size_t c) {
    size_t ab;
    if (!melora__mulz(&ab, a, b) || !melora__mulz(out, ab, c)) return MELORA_ERR_OVERFLOW;
    return MELORA_OK;
}

/* A known dtype, T, n, m, r positive and every (T,n) (T,m) (T,r) (r,n) (m,r) buffer
   addressable. */
static inline melora_status melora__check_dims(melora_dims d) {
    int T = d.T, n = d.n, m = d.m, r = d.r;
    size_t e;
    MELORA__REQUIRE((unsigned)d.dtype < (unsigned)MELORA_DTYPE_COUNT_, MELORA_ERR_ENUM);
    MELORA__REQUIRE(T > 0 && n > 0 && m > 0 && r > 0, MELORA_ERR_SIZE);
    MELORA__TRY(melora__elems(&e, (size_t)T, (size_t)n, 1));
    MELORA__TRY(melora__elems(&e, (size_t)T, (size_t)m, 1));
    MELORA__TRY(melora__elems(&e, (size_t)T, (size_t)r, 1));
    MELORA__TRY(melora__elems(&e, (size_t)r, (size_t)n, 1));
    MELORA__TRY(melora__elems(&e, (size_t)m, (size_t)r, 1));
    return MELORA_OK;
}
/* A noise tensor: present, non-empty, addressable. */
static inline melora_status melora__check_count(const float *out, int64_t count) {
    MELORA__REQUIRE(out != NULL, MELORA_ERR_NULL);
    MELORA__REQUIRE(count > 0, MELORA_ERR_SIZE);
    MELORA__REQUIRE((uint64_t)count <= (uint64_t)MELORA__MAX_ELEMS, MELORA_ERR_OVERFLOW);
    return MELORA_OK;
}

/* The activations x, z, dz, dx aligned to their elements (NULL ones are absent): a
   half-precision buffer at an odd address is MELORA_ERR_ALIGNMENT. */
static inline melora_status melora__check_act_align(const void *x, const void *z,
                                                    const void *dz, const void *dx,
                                                    melora_dtype dt) {
    uintptr_t a = dt == MELORA_FP32 ? 3u : 1u;
    MELORA__REQUIRE(!(((uintptr_t)x | (uintptr_t)z | (uintptr_t)dz | (uintptr_t)dx) & a),
                    MELORA_ERR_ALIGNMENT);
    return MELORA_OK;
}

/* What a forward keeps for its backward: written (u, v) by the forward, read by the
   backward. LoRA, BLoB, Flipout and the Monte-Carlo forward keep x and u. */
typedef struct {
    const void *x; /* (T,n) the layer's input, in d.dtype */
    float *u;      /* (T,r) x A^T */
} melora_lora_saved;
typedef struct {
    const void *x; /* (T,n) in d.dtype */
    float *u;      /* (T,r) x A^T */
    float *v;      /* (T,r) u C_e^T */
} melora_melora_saved;

typedef struct {
    const float *A; /* (r,n) */
    const float *B; /* (m,r) */
    float s;        /* alpha / r */
} melora_lora_params;
typedef struct {
    float *dA, *dB; /* (r,n), (m,r): += */
} melora_lora_grads;

typedef struct {
    const float *MA; /* (r,n) mean of A */
    const float *GA; /* (r,n) std of A is GA*GA */
    const float *B;  /* (m,r) */
    float s;
} melora_blob_params;
typedef struct {
    float *dMA, *dGA, *dB; /* (r,n), (r,n), (m,r): += */
} melora_blob_grads;
/* One draw of A: As = MA + (GA*GA) * EA, both (r,n). */
typedef struct {
    const float *As, *EA;
} melora_blob_draw;
/* Flipout's noise: EA (r,n) and per-group signs sa (ceil(T/G), n), sb (ceil(T/G), r). */
typedef struct {
    const float *EA, *sa, *sb;
    int G; /* tokens per sign group */
} melora_flipout_noise;

typedef struct {
    const float *A; /* (r,n) */
    const float *B; /* (m,r) */
    const float *M; /* (r,r) mean of C */
    const float *H; /* (r,r) std of C is H*H */
    float s;
} melora_melora_params;
typedef struct {
    float *dA, *dB, *dM, *dH; /* (r,n), (m,r), (r,r), (r,r): += */
} melora_melora_grads;
/* One draw of C: C_e = M + (H*H) * EC_e for the E examples of a batch, (E,r,r) each. The
   forward reads C (mean mode: C = M, E = 1; EC is not read); the backward reads C and EC. */
typedef struct {
    const float *C, *EC;
    int E;
} melora_melora_draw;

/* ------------------------------------------------------------------------------------
   Workspace
   ------------------------------------------------------------------------------------ */
typedef enum {
    MELORA_OP_LORA_FORWARD = 0,     /* also BLoB forward (A = As) */
    MELORA_OP_LORA_BACKWARD,        /* also BLoB backward */
    MELORA_OP_FLIPOUT_FORWARD,
    MELORA_OP_FLIPOUT_BACKWARD,
    MELORA_OP_MELORA_FORWARD,
    MELORA_OP_MELORA_BACKWARD,
    MELORA_OP_MELORA_MC_FORWARD,
    MELORA_OP_MELORA_KL,            /* eq. 7 and eq. 8 */
    MELORA_OP_COUNT_
} melora_op;

/* Bytes of workspace `op` needs for these sizes (an upper bound over which gradients are
   requested). No size depends on E, K or G; MELORA_OP_MELORA_KL reads only d.n and d.r. */
MELORA_DEF melora_status melora_workspace_size(size_t *bytes, melora_op op, melora_dims d);
/* out[i] = in[i] in another dtype, i < count: widening is exact, narrowing rounds to
   nearest even, as every half-precision output of the library does. in and out must not
   overlap (MELORA_ERR_ALIAS) and must be aligned to their elements (MELORA_ERR_ALIGNMENT);
   count 0 is valid and writes nothing. */
MELORA_DEF melora_status melora_convert(void *out, melora_dtype out_dtype, const void *in,
                                        melora_dtype in_dtype, int64_t count);
/* 64-byte aligned allocation through MELORA_MALLOC (for workspaces and tests; the compute
   functions never call it). *out is NULL on failure. */
MELORA_DEF melora_status melora_alloc(void **out, size_t bytes);
MELORA_DEF void melora_free(void *p);

/* ------------------------------------------------------------------------------------
   Noise: out[i] = melora_rng_*(seed, offset + i), i < count
   ------------------------------------------------------------------------------------ */
MELORA_DEF melora_status melora_noise_normal(float *out, uint64_t seed, uint64_t offset,
                                             int64_t count);
MELORA_DEF melora_status melora_noise_uniform(float *out, uint64_t seed, uint64_t offset,
                                              int64_t count);
MELORA_DEF melora_status melora_noise_sign(float *out, uint64_t seed, uint64_t offset,
                                           int64_t count);
/* The one owner of the noise-offset convention. Draw `draw` of a seed owns the indices
   [draw << 40, (draw + 1) << 40) of each stream (MELORA_DRAW_BITS = 40; draw < 2^24, else
   MELORA_ERR_VALUE), so two draws never share a number. Within a draw: BLoB's EA and
   Me-LoRA's EC start at the draw's first index of the normal stream; Flipout's sa starts
   at its first index of the sign stream and sb right after it, at + ceil(T/G) * n.
   Monte-Carlo sample k of draw d is draw d + k. */
#define MELORA_DRAW_BITS 40
MELORA_DEF melora_status melora_draw_offset(uint64_t *offset, uint64_t draw);
/* EA (r,n) of BLoB's draw `draw`. */
MELORA_DEF melora_status melora_blob_noise(float *EA, uint64_t seed, uint64_t draw, int r,
                                           int n);
/* Flipout's EA (r,n), sa (ceil(T/G), n) and sb (ceil(T/G), r) of draw `draw`. */
MELORA_DEF melora_status melora_blob_flipout_noise(float *EA, float *sa, float *sb,
                                                   uint64_t seed, uint64_t draw, int G,
                                                   melora_dims d);
/* EC (E,r,r) of Me-LoRA's draw `draw`. */
MELORA_DEF melora_status melora_melora_noise(float *EC, uint64_t seed, uint64_t draw, int E,
                                             int r);

/* The checks and index ranges of the three draw-noise calls, shared by them and by
   melora_cuda.cu's twins so that both answer every input alike and draw the same numbers:
   tensor i is out[i], count[i] numbers of stream[i] from index off[i]. */
typedef struct {
    float *out[3];
    uint64_t off[3];
    size_t count[3];
    uint32_t stream[3];
    int nt;
} melora__draw_plan;
enum { MELORA__DRAW_BLOB, MELORA__DRAW_FLIPOUT, MELORA__DRAW_MELORA };
/* A draw's tensors must fit its window, or they would reuse the next draw's numbers (a
   function: with a 32-bit size_t the test is always true, and compilers say so). */
static inline int melora__in_window(uint64_t count) {
    return count <= ((uint64_t)1 << MELORA_DRAW_BITS);
}
/* BLOB: EA = t[0] (d.r, d.n). MELORA: EC = t[0] (E, d.r, d.r). FLIPOUT: EA, sa, sb = t[0..2]
   for d and G. Fields a kind does not name are unread. */
static inline melora_status melora__plan_draw(melora__draw_plan *p, int kind,
                                              float *const t[3], uint64_t draw, int E, int G,
                                              melora_dims d) {
    uint64_t off;
    size_t na = 0, nb = 0, groups;
    p->nt = kind == MELORA__DRAW_FLIPOUT ? 3 : 1;
    p->out[0] = t[0];
    p->stream[0] = MELORA_STREAM_NORMAL;
    if (kind == MELORA__DRAW_FLIPOUT) {
        MELORA__REQUIRE(t[0] && t[1] && t[2], MELORA_ERR_NULL);
        MELORA__REQUIRE(G > 0, MELORA_ERR_SIZE);
        MELORA__TRY(melora__check_dims(d));
        groups = (size_t)(d.T - 1) / (size_t)G + 1u;
        MELORA__TRY(melora__elems(&p->count[0], (size_t)d.r, (size_t)d.n, 1));
        MELORA__TRY(melora__elems(&na, groups, (size_t)d.n, 1));
        MELORA__TRY(melora__elems(&nb, groups, (size_t)d.r, 1));
        MELORA__REQUIRE(melora__in_window((uint64_t)na + nb), MELORA_ERR_OVERFLOW);
    } else {
        MELORA__REQUIRE(t[0] != NULL, MELORA_ERR_NULL);
        if (kind == MELORA__DRAW_BLOB) {
            MELORA__REQUIRE(d.r > 0 && d.n > 0, MELORA_ERR_SIZE);
            MELORA__TRY(melora__elems(&p->count[0], (size_t)d.r, (size_t)d.n, 1));
        } else {
            MELORA__REQUIRE(E > 0 && d.r > 0, MELORA_ERR_SIZE);
            MELORA__TRY(melora__elems(&p->count[0], (size_t)E, (size_t)d.r, (size_t)d.r));
        }
    }
    MELORA__REQUIRE(melora__in_window(p->count[0]), MELORA_ERR_OVERFLOW);
    MELORA__TRY(melora_draw_offset(&off, draw));
    p->off[0] = off;
    if (kind == MELORA__DRAW_FLIPOUT) {
        melora__buf b[3];
        int i;
        p->out[1] = t[1];
        p->out[2] = t[2];
        p->off[1] = off;
        p->off[2] = off + na;
        p->count[1] = na;
        p->count[2] = nb;
        p->stream[1] = p->stream[2] = MELORA_STREAM_SIGN;
        for (i = 0; i < 3; i++) {
            b[i].p = t[i];
            b[i].bytes = p->count[i] * sizeof(float);
            b[i].written = 1;
        }
        MELORA__TRY(melora__check_alias(b, MELORA__NBUF(b)));
    }
    return MELORA_OK;
}

/* ------------------------------------------------------------------------------------
   LoRA:  u = x A^T (saved);  z += s u B^T
   ------------------------------------------------------------------------------------ */
MELORA_DEF melora_status melora_lora_forward(void *z, const melora_lora_saved *sv,
                                             melora_work work, const melora_lora_params *p,
                                             melora_dims d);
/* dB += s dz^T u;  du = s dz B;  dA += du^T x;  dx += du A */
MELORA_DEF melora_status melora_lora_backward(void *dx, const melora_lora_grads *g,
                                              const melora_lora_saved *sv, melora_work work,
                                              const void *dz, const melora_lora_params *p,
                                              melora_dims d);

/* ------------------------------------------------------------------------------------
   BLoB:  As = MA + (GA*GA) * EA;  then LoRA with A = As
   ------------------------------------------------------------------------------------ */
MELORA_DEF melora_status melora_blob_sample(float *As, const melora_blob_params *p,
                                            const float *EA, int r, int n);
/* Samples As (r,n, kept for backward) and runs the LoRA forward with it. */
MELORA_DEF melora_status melora_blob_forward(void *z, const melora_lora_saved *sv, float *As,
                                             melora_work work, const melora_blob_params *p,
                                             const float *EA, melora_dims d);
/* LoRA backward with A = dr->As, then dMA += dAs;  dGA += dAs * EA * 2 GA (p->MA unread) */
MELORA_DEF melora_status melora_blob_backward(void *dx, const melora_blob_grads *g,
                                              const melora_lora_saved *sv, melora_work work,
                                              const void *dz, const melora_blob_params *p,
                                              const melora_blob_draw *dr, melora_dims d);
/* Flipout: token t is in group g = t/G. With N = (GA*GA) * EA, the noise of A:
   u_t = x_t MA^T + ((x_t * sa_g) N^T) * sb_g;  z += s u B^T */
MELORA_DEF melora_status melora_blob_flipout_forward(void *z, const melora_lora_saved *sv,
                                                     melora_work work,
                                                     const melora_blob_params *p,
                                                     const melora_flipout_noise *nz,
                                                     melora_dims d);
MELORA_DEF melora_status melora_blob_flipout_backward(void *dx, const melora_blob_grads *g,
                                                      const melora_lora_saved *sv,
                                                      melora_work work, const void *dz,
                                                      const melora_blob_params *p,
                                                      const melora_flipout_noise *nz,
                                                      melora_dims d);
/* KL of N(MA, (GA*GA)^2) against N(0, sigma_p^2), entrywise over (r,n):
   sum log sigma_p - log Om + (Om^2 + MA^2)/(2 sigma_p^2) - 1/2, Om = GA*GA.
   *kl gets the value (double); g->dMA, g->dGA get += weight * gradient (the KL does not
   depend on B: g->dB is not touched). Any Om == 0 (or non-finite input) gives
   MELORA_ERR_VALUE: the KL is infinite. */
MELORA_DEF melora_status melora_blob_kl(double *kl, const melora_blob_grads *g,
                                        const melora_blob_params *p, float sigma_p,
                                        float weight, int r, int n);

/* ------------------------------------------------------------------------------------
   Me-LoRA:  C_e = M + (H*H) * EC_e;  u = x A^T;  v_t = C_e u_t  (v = u C^T);  z += s v B^T
   E = 1: one C per batch.  E > 1: example e (tokens e*T/E ..) uses C_e.
   Mean mode (inference): melora_melora_forward with the draw {.C = M, .E = 1}.
   ------------------------------------------------------------------------------------ */
MELORA_DEF melora_status melora_melora_sample(float *C, const melora_melora_params *p,
                                              const float *EC, int E, int r);
MELORA_DEF melora_status melora_melora_forward(void *z, const melora_melora_saved *sv,
                                               melora_work work,
                                               const melora_melora_params *p,
                                               const melora_melora_draw *dr, melora_dims d);
/* dB += s dz^T v; dv = s dz B; dC_e = dv_e^T u_e; du = dv C; dA += du^T x; dx += du A;
   dM += sum_e dC_e;  dH += sum_e dC_e * EC_e * 2H */
MELORA_DEF melora_status melora_melora_backward(void *dx, const melora_melora_grads *g,
                                                const melora_melora_saved *sv,
                                                melora_work work, const void *dz,
                                                const melora_melora_params *p,
                                                const melora_melora_draw *dr, melora_dims d);
/* Monte-Carlo inference: u = x A^T once, then for k < K: z_k += s (u C_k^T) B^T.
   z is (K,T,m), C is (K,r,r). Average the class probabilities over k, not the logits. */
MELORA_DEF melora_status melora_melora_mc_forward(void *z, const melora_lora_saved *sv,
                                                  melora_work work,
                                                  const melora_melora_params *p,
                                                  const float *C, int K, melora_dims d);
/* Paper eq. 7 with P = M A and S = Om |A| (Om = H*H, matrix products, (r,n)):
   KL = (|P|_F^2 + |S|_F^2) / (2 sigma^2) - sum_ij log Om_ij
   g->dA, g->dM, g->dH get += weight * gradient (g->dB is not touched); *kl the value.
   Om == 0, a non-finite entry of A, M or H, or a KL past double's range gives
   MELORA_ERR_VALUE, found before anything (workspace included) is written. Note: a
   regulariser, not the KL of q(C A) (docs/DESIGN.md, section 9). */
MELORA_DEF melora_status melora_melora_kl(double *kl, const melora_melora_grads *g,
                                          melora_work work, const melora_melora_params *p,
                                          float sigma, float weight, int r, int n);
/* Paper eq. 8: eq. 7 with sigma = sigma_p + eps, eps in [0,1) drawn by the caller, e.g.
   eps = melora_rng_uniform(seed, step). */
MELORA_DEF melora_status melora_melora_kl_prior_noise(double *kl, const melora_melora_grads *g,
                                                      melora_work work,
                                                      const melora_melora_params *p,
                                                      float sigma_p, float eps, float weight,
                                                      int r, int n);
/* Exact KL of q(C) = N(M, Om^2) against N(0, sigma^2), entrywise over (r,r); reads p->M
   and p->H only, writes g->dM and g->dH only. */
MELORA_DEF melora_status melora_melora_kl_exact(double *kl, const melora_melora_grads *g,
                                                const melora_melora_params *p, float sigma,
                                                float weight, int r);

/* ------------------------------------------------------------------------------------
   Naive references: plain loops, double accumulation, one thread, no workspace.
   The same calls without `work`; the tests compare them with the fast paths.
   ------------------------------------------------------------------------------------ */
MELORA_DEF melora_status melora_lora_forward_naive(void *z, const melora_lora_saved *sv,
                                                   const melora_lora_params *p,
                                                   melora_dims d);
MELORA_DEF melora_status melora_lora_backward_naive(void *dx, const melora_lora_grads *g,
                                                    const melora_lora_saved *sv,
                                                    const void *dz,
                                                    const melora_lora_params *p,
                                                    melora_dims d);
MELORA_DEF melora_status melora_blob_flipout_forward_naive(void *z,
                                                           const melora_lora_saved *sv,
                                                           const melora_blob_params *p,
                                                           const melora_flipout_noise *nz,
                                                           melora_dims d);
MELORA_DEF melora_status melora_blob_flipout_backward_naive(void *dx,
                                                            const melora_blob_grads *g,
                                                            const melora_lora_saved *sv,
                                                            const void *dz,
                                                            const melora_blob_params *p,
                                                            const melora_flipout_noise *nz,
                                                            melora_dims d);
MELORA_DEF melora_status melora_melora_forward_naive(void *z, const melora_melora_saved *sv,
                                                     const melora_melora_params *p,
                                                     const melora_melora_draw *dr,
                                                     melora_dims d);
MELORA_DEF melora_status melora_melora_backward_naive(void *dx, const melora_melora_grads *g,
                                                      const melora_melora_saved *sv,
                                                      const void *dz,
                                                      const melora_melora_params *p,
                                                      const melora_melora_draw *dr,
                                                      melora_dims d);

/* ------------------------------------------------------------------------------------
   Counting: the single source of the parameter and memory numbers in README/paper_repro.
   ------------------------------------------------------------------------------------ */
typedef enum {
    MELORA_METHOD_LORA = 0,
    MELORA_METHOD_BLOB,          /* one draw of A per batch */
    MELORA_METHOD_BLOB_FLIPOUT,  /* BLoB with Flipout signs per token */
    MELORA_METHOD_MELORA,        /* Me-LoRA; E examples with their own C */
    MELORA_METHOD_COUNT_
} melora_method;

/* One kind of adapted weight: `count` weights of shape m x n (e.g. q_proj in 32 layers). */
typedef struct {
    const char *name;
    int64_t m, n, count;
} melora_module;

/* Preset models. Llama-3-8B and Mistral-7B have the same linear-layer shapes, and so do
   Llama-2-70B and Llama-3-70B: their adapter counts agree (their vocabularies do not). */
typedef enum {
    MELORA_LLAMA2_7B = 0, MELORA_LLAMA2_13B, MELORA_LLAMA2_70B, MELORA_LLAMA3_8B,
    MELORA_LLAMA3_70B, MELORA_MISTRAL_7B, MELORA_GPT3_175B, MELORA_MODEL_COUNT_
} melora_model;

/* Published shape of a preset (the models' config.json; GPT-3: Brown et al. 2020, Table
   2.1). Attention: q is d -> heads*head_dim, k and v are d -> kv_heads*head_dim (grouped-
   query attention when kv_heads < heads, so k and v are not d x d), o is heads*head_dim ->
   d. MLP: gated (gate and up d -> intermediate, down back) or, for GPT-3, up (fc1) and
   down (fc2) only. */
typedef struct {
    const char *name;
    int64_t hidden, layers, heads, kv_heads, head_dim, intermediate, vocab;
    int64_t positions;   /* learned position embeddings (0: rotary) */
    int gated_mlp;       /* 1: gate, up, down; 0: up, down */
    int biases;          /* linear layers carry biases, norms are LayerNorm (weight, bias) */
    int tied_embeddings; /* the output head is the embedding matrix */
} melora_model_info;

enum {
    MELORA_MOD_Q = 1, MELORA_MOD_K = 2, MELORA_MOD_V = 4, MELORA_MOD_O = 8,
    MELORA_MOD_GATE = 16, MELORA_MOD_UP = 32, MELORA_MOD_DOWN = 64,
    MELORA_MOD_QV = 1 | 4, MELORA_MOD_ALL = 127
};

/* Bytes held for training, per part. Every tensor is counted in one dtype. */
typedef struct {
    int64_t params;      /* trainable parameters */
    int64_t grads;       /* their gradients */
    int64_t adam;        /* AdamW first and second moments */
    int64_t activations; /* saved for backward: u (T,r); Me-LoRA also v (T,r) */
    int64_t noise;       /* stored noise: BLoB EA (r,n), Flipout signs, Me-LoRA EC (E,r,r);
                            0 when regenerated from the counter */
    int64_t total;
} melora_train_memory;

/* Trainable parameters of one m x n weight at rank r:
   LoRA r(n+m); BLoB 2rn + rm; Me-LoRA r(n+m) + 2r^2 */
MELORA_DEF melora_status melora_count_params(int64_t *params, melora_method method,
                                             int64_t m, int64_t n, int64_t r);
MELORA_DEF melora_status melora_count_model_params(int64_t *params, melora_method method,
                                                   const melora_module *mods, int nmods,
                                                   int64_t r);
MELORA_DEF melora_status melora_dtype_size(int64_t *bytes, melora_dtype dtype);
/* Fills mods with the adapted weights of `model` selected by `mask` (MELORA_MOD_*), one
   entry per kind, count = layers. Modules the model lacks (GPT-3's gate) are left out; a
   mask that selects none of the model's modules is MELORA_ERR_ENUM. */
MELORA_DEF melora_status melora_preset(melora_module *mods, int cap, int *nmods,
                                       melora_model model, unsigned mask);
MELORA_DEF melora_status melora_model_shape(melora_model_info *out, melora_model model);
/* Every parameter of the frozen model: token (and position) embeddings, the linear layers
   of every block (with biases where the model has them), the norms, the output head when
   it is not tied. */
MELORA_DEF melora_status melora_count_base_params(int64_t *params, melora_model model);
/* What a training step's memory depends on besides the modules and the method. */
typedef struct {
    int64_t r;             /* rank */
    int64_t T;             /* tokens per step */
    int64_t E;             /* Me-LoRA: examples with their own C (1: one C per batch) */
    int64_t G;             /* Flipout: tokens per sign group */
    int noise_regenerated; /* != 0: stored noise counts 0 (regenerated from the counter) */
} melora_train_setup;
/* Training memory of a step. Not counted: the drawn sample (BLoB's As, Me-LoRA's C),
   which a memory-lean trainer recomputes from the parameters and the noise
   (melora_blob_sample, melora_melora_sample) just before the backward pass; keeping it
   costs r*n (BLoB) or E*r*r (Me-LoRA) more. */
MELORA_DEF melora_status melora_count_train_memory(melora_train_memory *out,
                                                   melora_method method,
                                                   const melora_module *mods, int nmods,
                                                   const melora_train_setup *st,
                                                   melora_dtype dtype);
/* The same with two dtypes: state_dtype for the parameters, gradients, AdamW moments and
   the noise drawn in the parameters' shape (BLoB's EA, Me-LoRA's EC); act_dtype for the
   saved activations and Flipout's per-token signs (drawn in the input's dtype). Mixed
   precision with fp32 master weights: state MELORA_FP32, activations MELORA_BF16.
   melora_count_train_memory(..., dtype) is this with both dtypes equal. act_dtype models
   a trainer that keeps u, v and the signs in the activations' dtype (PyTorch autocast);
   melora's own calls keep them in float32 whatever d.dtype is (only x, z, dz, dx, which
   the base layer owns and which are not counted here, are half), so their footprint is
   act_dtype = MELORA_FP32. */
MELORA_DEF melora_status melora_count_train_memory_mixed(melora_train_memory *out,
                                                         melora_method method,
                                                         const melora_module *mods, int nmods,
                                                         const melora_train_setup *st,
                                                         melora_dtype state_dtype,
                                                         melora_dtype act_dtype);

#ifdef __cplusplus
}
#endif
#endif /* MELORA_H */

/* ==================================================================================== */
/*                                   IMPLEMENTATION                                     */
/* ==================================================================================== */
#ifdef MELORA_IMPLEMENTATION
#ifndef MELORA_IMPLEMENTATION_DONE
#define MELORA_IMPLEMENTATION_DONE

/* No a*b + c of the implementation is contracted into an FMA, whatever the caller's
   -std= or -ffp-contract: gcc -std=c99 does not contract while -std=gnu* and g++ do (and
   clang contracts within an expression), so C and C++ builds would otherwise differ in
   the last bits. The kernels' FMAs are explicit intrinsics, unaffected. GCC honours this
   even under -ffp-contract=fast; clang ignores it under an explicit -ffp-contract=fast
   (use fast-honor-pragmas), and -ffast-math reassociates sums in either: such builds,
   and nvcc's device code (--fmad=true), are not bitwise equal to the others. The
   pragmas are popped at the end of the implementation. */
#if defined(__clang__) && !defined(__CUDACC__) && __clang_major__ >= 11
#pragma float_control(push)
#pragma clang fp contract(off)
#define MELORA__CONTRACT_POP 1
#elif defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__) && !defined(__INTEL_COMPILER)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#define MELORA__CONTRACT_POP 2
#endif
/* g++ 12 at -O2 reports the AVX-512 intrinsics' own undefined pass-through operands
   (_mm512_undefined_epi32, a self-initialised variable in <avx512fintrin.h>) as
   -Wmaybe-uninitialized wherever the half conversions inline them; the operand is
   masked out by design, so the warning is off for the implementation (popped at its end). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__cplusplus)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#define MELORA__DIAG_POP 1
#endif

#include <stdlib.h>
#include <string.h>

#ifndef MELORA_ASSERT
#include <assert.h>
#define MELORA_ASSERT(x) assert(x)
#endif
#if defined(MELORA_MALLOC) && defined(MELORA_FREE)
#elif !defined(MELORA_MALLOC) && !defined(MELORA_FREE)
#define MELORA_MALLOC(bytes) malloc(bytes)
#define MELORA_FREE(p) free(p)
#else
#error "define both MELORA_MALLOC and MELORA_FREE, or neither"
#endif
#ifndef MELORA_CHUNKS
#define MELORA_CHUNKS 8
#endif

/* Every parallel loop is MELORA__PARALLEL_FOR. libgomp's thread pool does not survive
   fork(): a child whose parallel region reuses the parent's pool waits forever for threads
   it no longer has (Python multiprocessing, gunicorn --preload). So the first parallel
   call registers an atfork child handler, and in a child forked after it (and that
   child's own children) the loops run on the calling thread: the same bits, since no
   result depends on the thread count. */
#ifdef _OPENMP
#include <omp.h>
#define MELORA__OMP(x) _Pragma(#x)
#if defined(__unix__) || defined(__unix) || defined(__APPLE__)
#include <pthread.h>
static pthread_once_t melora__fork_once = PTHREAD_ONCE_INIT;
static volatile int melora__one_thread = 0;
static void melora__fork_child(void) { melora__one_thread = 1; }
static void melora__fork_register(void) {
    /* without the handler a forked child could hang: then stay on one thread */
    if (pthread_atfork(NULL, NULL, melora__fork_child) != 0) melora__one_thread = 1;
}
static int melora__threads_ok(void) {
    (void)pthread_once(&melora__fork_once, melora__fork_register);
    return !melora__one_thread;
}
#else
static int melora__threads_ok(void) { return 1; }
#endif
#define MELORA__PARALLEL_FOR \
    MELORA__OMP(omp parallel for schedule(static) if(melora__threads_ok()))
#else
#define MELORA__OMP(x)
#define MELORA__PARALLEL_FOR
#endif

#ifdef __cplusplus
#define MELORA__RESTRICT __restrict
#else
#define MELORA__RESTRICT restrict
#endif

#define MELORA__RB 32 /* rows per block: a block of x and dz stays in L2 between uses; the
                         gradient partials see one register-formed sum per block */
#define MELORA__LANES 16 /* padding of packed rank dimensions: a multiple of every width */
#define MELORA__SLAB 256 /* columns of a half z or dx row updated at a time (melora__acc_rows) */
#define MELORA__SLAB_LD (MELORA__SLAB + 16) /* its scratch stride: an odd count of lines */
/* u = x A^T and dv = dz (sB) run in the transposed form (from a packed A^T or sB, no lane
   sums, MR x NV tiles) once the rank fills a vector; below, the dot form keeps every lane
   busy. */
static int melora__use_t(int r) { return r >= MELORA__LANES; }

MELORA_DEF const char *melora_status_string(melora_status status) {
    switch (status) {
    case MELORA_OK: return "melora: ok";
    case MELORA_ERR_NULL: return "melora: a required pointer is NULL";
    case MELORA_ERR_SIZE: return "melora: a size is zero or negative";
    case MELORA_ERR_OVERFLOW: return "melora: a buffer size overflows the address space";
    case MELORA_ERR_DIVISIBILITY: return "melora: T is not a multiple of E";
    case MELORA_ERR_VALUE: return "melora: a value is out of its domain (sigma <= 0, eps outside [0,1), non-finite scale/weight, or a zero std so that the KL is infinite)";
    case MELORA_ERR_ENUM: return "melora: unknown method, op, dtype, model or module mask";
    case MELORA_ERR_CAPACITY: return "melora: output list too short";
    case MELORA_ERR_ALIGNMENT: return "melora: workspace not 8-byte aligned, or an activation not aligned to its element";
    case MELORA_ERR_ALLOC: return "melora: allocation failed";
    case MELORA_ERR_CUDA: return "melora: CUDA runtime error";
    case MELORA_ERR_CUBLAS: return "melora: cuBLAS error";
    case MELORA_ERR_ALIAS: return "melora: an output or the workspace overlaps another buffer of the call";
    case MELORA_ERR_WORKSPACE: return "melora: the workspace is smaller than melora_workspace_size() says";
    }
    return "melora: unknown status";
}

/* ---------------------------------------------------------------- argument checks -- */

/* ----------------------------------------------------------------------- workspace -- */
enum {
    MELORA__R_BTS, /* s B^T (r,ldm): both passes walk B along m */
    MELORA__R_AP,  /* A (or MA) copied with row stride ldn */
    MELORA__R_NOISE, /* Flipout: N = (GA*GA)*EA, the noise of A (r,n) */
    MELORA__R_PA,  /* per-chunk partials of dA (or dMA) (nc,r,n) */
    MELORA__R_PN,  /* Flipout: per-chunk partials of the gradient of N (nc,r,n) */
    MELORA__R_PB,  /* per-chunk partials of dB^T (nc,r,m) */
    MELORA__R_XA,  /* Flipout: x*sa for a block (nc,RB,n) */
    MELORA__R_TMP, /* Flipout: (du*sb) N for a block (nc,RB,n) */
    MELORA__R_S1,  /* per-chunk block scratch (nc,RB,r) */
    MELORA__R_S2,  /* second one (nc,RB,r) */
    MELORA__R_DV,  /* Me-LoRA: dv (T,r), kept for dC */
    MELORA__R_DC,  /* Me-LoRA: one block's dv^T u (r,r) */
    MELORA__R_DCD, /* Me-LoRA: dC_e and its sums into dM, dH (3,r,r) doubles */
    MELORA__R_WT,  /* r >= LANES: A^T (n,ldr) for the forward, s B (m,ldr) for the backward */
    MELORA__R_NT,  /* r >= LANES, Flipout forward: N^T (n,ldr) */
    MELORA__R_KLP, /* eq. 7: P = M A (r,n) doubles */
    MELORA__R_KLS, /* eq. 7: S = Om |A| (r,n) doubles */
    MELORA__R_HX,  /* bf16/fp16: a block of x widened to float32 (nc,RB,ldn) */
    MELORA__R_HZ,  /* bf16/fp16: a slab of z (nc,RB,SLAB_LD), or a block of dz (nc,RB,ldm) */
    MELORA__R_HDX, /* bf16/fp16 backward: a slab of dx (nc,RB,SLAB_LD) */
    MELORA__R_COUNT
};
typedef struct {
    size_t off[MELORA__R_COUNT];
    size_t total;
    size_t ldn, ldm; /* padded row strides of the (r,n) and (r,m) copies and partials */
    size_t ldr;      /* row stride of the packed (n,ldr) and (m,ldr) copies */
    int nc;          /* number of row chunks */
} melora__ws;

/* Row stride for a copy of rows of n floats: a multiple of 16 floats whose count of
   64-byte lines is odd, so that the rows of a tile fall in different L1 sets (rows
   4 KiB apart all map to one set and evict each other). */
static size_t melora__pad(int n) {
    size_t ld = ((size_t)n + 15u) & ~(size_t)15u;
    if (((ld / 16u) & 1u) == 0) ld += 16u;
    return ld;
}

/* Chunks of at most CHUNK_ROWS rows (at least MELORA_CHUNKS of them): a gradient over T
   rows is a chunk-order sum of chunk partials, each a sum of at most CHUNK_ROWS/RB block
   sums formed in registers, so no float running sum ever has more than a few hundred
   terms, whatever T (the partials cost nc (r,n+m) floats: < 1/64 of x and dz for r <= 128). */
#define MELORA__CHUNK_ROWS 8192
static int melora__nchunks(int T) {
    int64_t nb = ((int64_t)T + MELORA__RB - 1) / MELORA__RB;
    int64_t nc = ((int64_t)T + MELORA__CHUNK_ROWS - 1) / MELORA__CHUNK_ROWS;
    if (nc < MELORA_CHUNKS) nc = MELORA_CHUNKS;
    return (int)(nb < nc ? nb : nc);
}

static int melora__is_flipout(melora_op op) {
    return op == MELORA_OP_FLIPOUT_FORWARD || op == MELORA_OP_FLIPOUT_BACKWARD;
}
static int melora__is_forward(melora_op op) {
    return op == MELORA_OP_LORA_FORWARD || op == MELORA_OP_FLIPOUT_FORWARD ||
           op == MELORA_OP_MELORA_FORWARD || op == MELORA_OP_MELORA_MC_FORWARD;
}
static melora_status melora__layout(melora__ws *ws, melora_op op, melora_dims d) {
    size_t cnt[MELORA__R_COUNT], esz[MELORA__R_COUNT], rn, rm, nc, tr;
    int i, T, n, m, r;
    MELORA__REQUIRE((int)op >= 0 && op < MELORA_OP_COUNT_, MELORA_ERR_ENUM);
    if (op == MELORA_OP_MELORA_KL) { /* eq. 7 is over (r,n) only, in float32 */
        d.T = d.m = 1;
        d.dtype = MELORA_FP32;
    }
    MELORA__TRY(melora__check_dims(d));
    T = d.T; n = d.n; m = d.m; r = d.r;
    ws->nc = melora__nchunks(T);
    nc = (size_t)ws->nc;
    ws->ldn = melora__pad(n);
    ws->ldm = melora__pad(m);
    ws->ldr = ((size_t)r + MELORA__LANES - 1) & ~(size_t)(MELORA__LANES - 1);
    if (op == MELORA_OP_MELORA_KL) ws->ldn = (size_t)n;
    MELORA__TRY(melora__elems(&rn, (size_t)r, ws->ldn, 1));
    MELORA__TRY(melora__elems(&rm, (size_t)r, ws->ldm, 1));
    tr = (size_t)T * (size_t)r;
    for (i = 0; i < MELORA__R_COUNT; i++) { cnt[i] = 0; esz[i] = sizeof(float); }
    esz[MELORA__R_KLP] = esz[MELORA__R_KLS] = esz[MELORA__R_DCD] = sizeof(double);
    if (op != MELORA_OP_MELORA_KL) { cnt[MELORA__R_BTS] = rm; cnt[MELORA__R_AP] = rn; }
    switch (op) {
    case MELORA_OP_LORA_FORWARD:
    case MELORA_OP_MELORA_FORWARD:
        break;
    case MELORA_OP_MELORA_MC_FORWARD:
        cnt[MELORA__R_S1] = nc * MELORA__RB * (size_t)r;
        break;
    case MELORA_OP_LORA_BACKWARD:
    case MELORA_OP_MELORA_BACKWARD:
        MELORA__TRY(melora__elems(&cnt[MELORA__R_PA], nc, rn, 1));
        MELORA__TRY(melora__elems(&cnt[MELORA__R_PB], nc, rm, 1));
        cnt[MELORA__R_S1] = cnt[MELORA__R_S2] = nc * MELORA__RB * (size_t)r;
        if (op == MELORA_OP_MELORA_BACKWARD) {
            cnt[MELORA__R_DV] = tr;
            MELORA__TRY(melora__elems(&cnt[MELORA__R_DCD], 3, (size_t)r, (size_t)r));
            cnt[MELORA__R_DC] = cnt[MELORA__R_DCD] / 3;
        }
        break;
    case MELORA_OP_FLIPOUT_FORWARD:
        cnt[MELORA__R_NOISE] = rn;
        MELORA__TRY(melora__elems(&cnt[MELORA__R_XA], nc, MELORA__RB, ws->ldn));
        cnt[MELORA__R_S1] = nc * MELORA__RB * (size_t)r;
        break;
    case MELORA_OP_FLIPOUT_BACKWARD:
        cnt[MELORA__R_NOISE] = rn;
        MELORA__TRY(melora__elems(&cnt[MELORA__R_PA], nc, rn, 1));
        cnt[MELORA__R_PN] = cnt[MELORA__R_PA];
        MELORA__TRY(melora__elems(&cnt[MELORA__R_PB], nc, rm, 1));
        MELORA__TRY(melora__elems(&cnt[MELORA__R_XA], nc, MELORA__RB, ws->ldn));
        cnt[MELORA__R_TMP] = cnt[MELORA__R_XA];
        cnt[MELORA__R_S1] = cnt[MELORA__R_S2] = nc * MELORA__RB * (size_t)r;
        break;
    case MELORA_OP_MELORA_KL:
        cnt[MELORA__R_KLP] = cnt[MELORA__R_KLS] = rn;
        break;
    default:
        return MELORA_ERR_ENUM;
    }
    if (melora__use_t(r)) {
        size_t ldr = ws->ldr;
        switch (op) {
        case MELORA_OP_FLIPOUT_FORWARD:
            MELORA__TRY(melora__elems(&cnt[MELORA__R_NT], (size_t)n, ldr, 1));
            /* fall through */
        case MELORA_OP_LORA_FORWARD:
        case MELORA_OP_MELORA_FORWARD:
        case MELORA_OP_MELORA_MC_FORWARD:
            MELORA__TRY(melora__elems(&cnt[MELORA__R_WT], (size_t)n, ldr, 1));
            break;
        case MELORA_OP_LORA_BACKWARD:
        case MELORA_OP_MELORA_BACKWARD:
        case MELORA_OP_FLIPOUT_BACKWARD:
            MELORA__TRY(melora__elems(&cnt[MELORA__R_WT], (size_t)m, ldr, 1));
            break;
        default:
            break;
        }
    }
    /* Half activations run the float32 kernels on float32 copies of each block of rows
       (x, dz), and of slabs of SLAB columns of it (z, dx), rounded back once: per chunk,
       4 RB (ldn + SLAB_LD) bytes for a forward, 4 RB (ldn + ldm + SLAB_LD) for a
       backward (rounded up to 64 per region), none in float32 (whose layout is unchanged).
       Only nc slots are needed whatever the thread count (melora__half_slot). */
    if (d.dtype != MELORA_FP32 && op != MELORA_OP_MELORA_KL) {
        MELORA__TRY(melora__elems(&cnt[MELORA__R_HX], nc, MELORA__RB, ws->ldn));
        if (melora__is_forward(op)) {
            cnt[MELORA__R_HZ] = nc * MELORA__RB * MELORA__SLAB_LD;
        } else {
            MELORA__TRY(melora__elems(&cnt[MELORA__R_HZ], nc, MELORA__RB, ws->ldm));
            cnt[MELORA__R_HDX] = nc * MELORA__RB * MELORA__SLAB_LD;
        }
    }
    ws->total = 0;
    for (i = 0; i < MELORA__R_COUNT; i++) {
        size_t bytes = cnt[i] * esz[i]; /* cnt <= MAX_ELEMS: no overflow */
        bytes = (bytes + 63u) & ~(size_t)63u;
        ws->off[i] = ws->total;
        MELORA__REQUIRE(bytes <= (size_t)PTRDIFF_MAX - ws->total, MELORA_ERR_OVERFLOW);
        ws->total += bytes;
    }
    return MELORA_OK;
}

static float *melora__region(void *work, const melora__ws *ws, int region) {
    return (float *)(void *)((char *)work + ws->off[region]);
}
static melora_status melora__check_work(const void *work) {
    MELORA__REQUIRE(work != NULL, MELORA_ERR_NULL);
    MELORA__REQUIRE(((uintptr_t)work & 7u) == 0, MELORA_ERR_ALIGNMENT);
    return MELORA_OK;
}

/* Bytes of one activation element. */
static size_t melora__esize(melora_dtype dt) {
    return dt == MELORA_FP32 ? sizeof(float) : sizeof(uint16_t);
}
MELORA_DEF melora_status melora_alloc(void **out, size_t bytes) {
    void *raw;
    uintptr_t p;
    MELORA__REQUIRE(out != NULL, MELORA_ERR_NULL);
    *out = NULL;
    MELORA__REQUIRE(bytes > 0, MELORA_ERR_SIZE);
    MELORA__REQUIRE(bytes <= (size_t)PTRDIFF_MAX - 64 - sizeof(void *), MELORA_ERR_OVERFLOW);
    raw = MELORA_MALLOC(bytes + 64 + sizeof(void *));
    MELORA__REQUIRE(raw != NULL, MELORA_ERR_ALLOC);
    p = ((uintptr_t)raw + sizeof(void *) + 63u) & ~(uintptr_t)63u;
    ((void **)p)[-1] = raw;
    *out = (void *)p;
    return MELORA_OK;
}
MELORA_DEF void melora_free(void *p) {
    if (p) MELORA_FREE(((void **)p)[-1]);
}

/* --------------------------------------------------------------------------- noise -- */

/* Walks whole Philox blocks (4 normals or uniforms, 128 signs each) and keeps the
   elements inside [offset, offset+count); unsigned differences make index wrap-around
   at 2^64 consistent with melora_rng_*(seed, offset + i). */
static void melora__noise_blocks(float *out, uint64_t seed, uint64_t offset, int64_t count,
                                 uint32_t stream) {
    const unsigned per = stream == MELORA_STREAM_SIGN ? 128u : 4u;
    const unsigned shift = stream == MELORA_STREAM_SIGN ? 7u : 2u;
    uint64_t first = offset >> shift;
    int64_t nblk = (int64_t)(((offset & (per - 1u)) + (uint64_t)count + per - 1u) >> shift);
    int64_t b;
    MELORA__PARALLEL_FOR
    for (b = 0; b < nblk; b++) {
        uint64_t blk = (first + (uint64_t)b) & (UINT64_MAX >> shift); /* k wraps at 2^64 */
        uint32_t w[4];
        unsigned q;
        melora__philox_block(w, seed, blk, stream);
        if (stream == MELORA_STREAM_NORMAL) {
            float v[4];
            melora__box_muller(v, w[0], w[1]);
            melora__box_muller(v + 2, w[2], w[3]);
            for (q = 0; q < 4; q++) {
                uint64_t i = ((blk << 2) + q) - offset;
                if (i < (uint64_t)count) out[i] = v[q];
            }
        } else if (stream == MELORA_STREAM_UNIFORM) {
            for (q = 0; q < 4; q++) {
                uint64_t i = ((blk << 2) + q) - offset;
                if (i < (uint64_t)count) out[i] = (float)(w[q] >> 8) * 5.9604644775390625e-8f;
            }
        } else {
            uint64_t i0 = (blk << 7) - offset;
            if (i0 < (uint64_t)count && (uint64_t)count - i0 >= 128u) { /* whole block */
                float *o = out + i0;
                for (q = 0; q < 128; q++) /* branch-free: random bits defeat the predictor */
                    o[q] = 1.0f - 2.0f * (float)((w[q >> 5] >> (q & 31u)) & 1u);
            } else {
                for (q = 0; q < 128; q++) {
                    uint64_t i = ((blk << 7) + q) - offset;
                    if (i < (uint64_t)count)
                        out[i] = ((w[q >> 5] >> (q & 31u)) & 1u) ? -1.0f : 1.0f;
                }
            }
        }
    }
}

MELORA_DEF melora_status melora_noise_normal(float *out, uint64_t seed, uint64_t offset,
                                             int64_t count) {
    MELORA__TRY(melora__check_count(out, count));
    melora__noise_blocks(out, seed, offset, count, MELORA_STREAM_NORMAL);
    return MELORA_OK;
}

MELORA_DEF melora_status melora_noise_uniform(float *out, uint64_t seed, uint64_t offset,
                                              int64_t count) {
    MELORA__TRY(melora__check_count(out, count));
    melora__noise_blocks(out, seed, offset, count, MELORA_STREAM_UNIFORM);
    return MELORA_OK;
}

MELORA_DEF melora_status melora_noise_sign(float *out, uint64_t seed, uint64_t offset,
                                           int64_t count) {
    MELORA__TRY(melora__check_count(out, count));
    melora__noise_blocks(out, seed, offset, count, MELORA_STREAM_SIGN);
    return MELORA_OK;
}

/* ---------------------------------------------------------------- row primitives -- */
/* Every rank-r product is one of two register-blocked kernels over a block of rows:
     melora__gemm  C (+)= A B, A read with any two strides, B and C row-major. It serves
                   z += v (sB^T), dx += du A (K = r), the per-chunk gradient partials
                   P += coef^T Y (A read transposed, K = rows of the block) and, when the
                   rank fills a vector, u = x A^T from a transposed copy of A (K = n).
                   Each step of K loads NV vectors of B and broadcasts MR entries of A
                   into MR x NV fused multiply-adds held in registers (AVX-512 6x4 of 16
                   lanes, AVX2 4x3 of 8, SSE/NEON 4x3 of 4): compute-bound, not load-bound.
     melora__rows_dot  out = X W^T with the reduction along contiguous rows (DOT_R rows x
                   DOT_K ranks of accumulators, lanes summed in a fixed order): the rank-
                   below-a-vector form, where the adapter is memory-bound.
   Accumulators start at zero and are added to C once, so a sum over a block of rows or a
   KC slice of columns is formed in registers before it meets the running total (the
   error of a T-long reduction grows with the number of blocks, not of rows). Sums run in
   a fixed order, so a result never depends on the thread that computes it. FMAs are
   explicit intrinsics, so they do not depend on -std= or -ffp-contract. With GCC/Clang
   the vectors are GNU vector types; elsewhere, or with MELORA_NO_VECTOR, plain loops do
   the same products. Rows past the end of a tile repeat the last valid one and are never
   stored. */
#define MELORA__KC 128 /* K slice: a B panel of KC x NV vectors stays in L1 */
/* 32-bit x86 without SSE (gcc -m32's default i686 target) has no vector registers: GNU
   vectors there are emulated on the x87 stack and change the ABI (-Wpsabi), so it takes
   the portable loops. */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(MELORA_NO_VECTOR) && \
    !(defined(__i386__) && !defined(__SSE__))
#define MELORA__GNUVEC 1
/* The width follows the compiler's target flags (-march=native picks the widest), so a
   vector never crosses a function ABI it lacks. */
#if defined(__AVX512F__)
#include <immintrin.h>
#define MELORA__VW 16
#define MELORA__DOT_R 3
#define MELORA__DOT_K 8
#define MELORA__MR 6 /* tile shape 1: MR rows x NV vectors; shape 2: MR2 x NV2 */
#define MELORA__NV 4
#define MELORA__MR2 8
#define MELORA__NV2 3
#define MELORA__MRMAX 8
#elif defined(__AVX__)
#include <immintrin.h>
#define MELORA__VW 8
#define MELORA__DOT_R 2
#define MELORA__DOT_K 4
#define MELORA__MR 4
#define MELORA__NV 3
#define MELORA__MR2 6
#define MELORA__NV2 2
#define MELORA__MRMAX 6
#else
#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#elif defined(__SSE__)
#include <xmmintrin.h>
#endif
#define MELORA__VW 4
#define MELORA__DOT_R 2
#define MELORA__DOT_K 4
#define MELORA__MR 4
#define MELORA__NV 3
#define MELORA__MR2 6
#define MELORA__NV2 2
#define MELORA__MRMAX 6
#endif
#define MELORA__JC 512 /* columns per chunk: a tile's W slice (DOT_K x JC) stays in L1 */
#define MELORA__INLINE static inline __attribute__((always_inline))
typedef float melora__v16 __attribute__((vector_size(MELORA__VW * 4)));
MELORA__INLINE melora__v16 melora__ld(const float *p) {
    melora__v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}
MELORA__INLINE void melora__st(float *p, melora__v16 v) { memcpy(p, &v, sizeof v); }
/* fma(a, b, c) = a*b + c rounded once, and a scalar broadcast, per instruction set; the
   fallback splat goes through memory so that no scalar of excess precision (x87, -m32)
   ever meets a vector. */
#if defined(__AVX512F__)
#define MELORA__FMA(a, b, c) \
    ((melora__v16)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
MELORA__INLINE melora__v16 melora__splat(float c) { return (melora__v16)_mm512_set1_ps(c); }
#elif defined(__AVX__)
#if defined(__FMA__)
#define MELORA__FMA(a, b, c) \
    ((melora__v16)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
#endif
MELORA__INLINE melora__v16 melora__splat(float c) { return (melora__v16)_mm256_set1_ps(c); }
#elif defined(__aarch64__) && defined(__ARM_NEON)
#define MELORA__FMA(a, b, c) \
    ((melora__v16)vfmaq_f32((float32x4_t)(c), (float32x4_t)(a), (float32x4_t)(b)))
MELORA__INLINE melora__v16 melora__splat(float c) { return (melora__v16)vdupq_n_f32(c); }
#else
MELORA__INLINE melora__v16 melora__splat(float c) {
    float a[MELORA__VW];
    int l;
    for (l = 0; l < MELORA__VW; l++) a[l] = c;
    return melora__ld(a);
}
#endif
#ifndef MELORA__FMA /* no fused instruction on this target: multiply, then add */
#define MELORA__FMA(a, b, c) ((a) * (b) + (c))
#endif
MELORA__INLINE float melora__vsum(melora__v16 v) {
    float a[MELORA__VW];
    int w, l;
    memcpy(a, &v, sizeof a);
    for (w = MELORA__VW / 2; w >= 1; w /= 2)
        for (l = 0; l < w; l++) a[l] += a[l + w];
    return a[0];
}

/* Half activations read in their own dtype inside the dot form (x at the memory-bound
   ranks), where the instruction set widens a vector in registers: AVX-512, AVX2 for bf16,
   F16C for fp16. The lanes give the bits of the scalar melora_*_to_*, so the fused kernel
   matches widening to float32 first. melora__fuses(dt) says whether dt has such a path. */
#if defined(__AVX512F__)
#define MELORA__FUSE_BF16 1
#define MELORA__FUSE_F16 1
/* 16 lanes of melora_f32_to_bf16, as 32-bit integers */
MELORA__INLINE __m512i melora__bf16_lanes(__m512 f) {
    const __m512i abs = _mm512_set1_epi32(0x7FFFFFFF), inf = _mm512_set1_epi32(0x7F800000);
    __m512i b = _mm512_castps_si512(f), hi = _mm512_srli_epi32(b, 16);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(b, abs), inf);
    __m512i rb = _mm512_add_epi32(
        b, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), _mm512_and_si512(hi, _mm512_set1_epi32(1))));
    return _mm512_mask_blend_epi32(nan, _mm512_srli_epi32(rb, 16),
                                   _mm512_or_si512(hi, _mm512_set1_epi32(0x0040)));
}
MELORA__INLINE melora__v16 melora__ld_half(const uint16_t *p, melora_dtype dt) {
    __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)p);
    __m512i w = _mm512_cvtepu16_epi32(h);
    if (dt == MELORA_BF16) return (melora__v16)_mm512_slli_epi32(w, 16);
    { /* the instruction quiets a signalling NaN, the scalar function keeps it */
        __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(w, _mm512_set1_epi32(0x7FFF)),
                                                _mm512_set1_epi32(0x7C00));
        __m512i keep = _mm512_or_si512(
            _mm512_slli_epi32(_mm512_and_si512(w, _mm512_set1_epi32(0x8000)), 16),
            _mm512_or_si512(_mm512_set1_epi32(0x7F800000),
                            _mm512_slli_epi32(_mm512_and_si512(w, _mm512_set1_epi32(0x3FF)), 13)));
        return (melora__v16)_mm512_mask_blend_ps(nan, _mm512_cvtph_ps(h), _mm512_castsi512_ps(keep));
    }
}
MELORA__INLINE void melora__st_half(uint16_t *p, melora__v16 v, melora_dtype dt) {
    __m256i h = dt == MELORA_BF16 ? _mm512_cvtepi32_epi16(melora__bf16_lanes((__m512)v))
                                  : _mm512_cvtps_ph((__m512)v, _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_si256((__m256i *)(void *)p, h);
}
#elif defined(__AVX2__)
#define MELORA__FUSE_BF16 1
#if defined(__F16C__)
#define MELORA__FUSE_F16 1
#endif
/* 8 lanes of melora_f32_to_bf16, as 32-bit integers */
MELORA__INLINE __m256i melora__bf16_lanes(__m256 f) {
    const __m256i abs = _mm256_set1_epi32(0x7FFFFFFF), inf = _mm256_set1_epi32(0x7F800000);
    __m256i b = _mm256_castps_si256(f), hi = _mm256_srli_epi32(b, 16);
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(b, abs), inf); /* both >= 0 */
    __m256i rb = _mm256_add_epi32(
        b, _mm256_add_epi32(_mm256_set1_epi32(0x7FFF), _mm256_and_si256(hi, _mm256_set1_epi32(1))));
    return _mm256_blendv_epi8(_mm256_srli_epi32(rb, 16),
                              _mm256_or_si256(hi, _mm256_set1_epi32(0x0040)), nan);
}
MELORA__INLINE melora__v16 melora__ld_half(const uint16_t *p, melora_dtype dt) {
    __m128i h = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m256i w = _mm256_cvtepu16_epi32(h);
    if (dt == MELORA_BF16) return (melora__v16)_mm256_slli_epi32(w, 16);
#ifdef MELORA__FUSE_F16
    { /* the instruction quiets a signalling NaN, the scalar function keeps it */
        __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(w, _mm256_set1_epi32(0x7FFF)),
                                         _mm256_set1_epi32(0x7C00));
        __m256i keep = _mm256_or_si256(
            _mm256_slli_epi32(_mm256_and_si256(w, _mm256_set1_epi32(0x8000)), 16),
            _mm256_or_si256(_mm256_set1_epi32(0x7F800000),
                            _mm256_slli_epi32(_mm256_and_si256(w, _mm256_set1_epi32(0x3FF)), 13)));
        return (melora__v16)_mm256_blendv_ps(_mm256_cvtph_ps(h), _mm256_castsi256_ps(keep),
                                             _mm256_castsi256_ps(nan));
    }
#else
    return (melora__v16)_mm256_setzero_ps(); /* not reached: melora__fuses(FP16) is 0 */
#endif
}
#endif
#ifdef MELORA__FUSE_BF16
#define MELORA__FUSE 1
#ifndef MELORA__FUSE_F16
#define MELORA__FUSE_F16 0
#endif
static int melora__fuses(melora_dtype dt) {
    return dt == MELORA_BF16 || (dt == MELORA_FP16 && MELORA__FUSE_F16);
}
#endif
/* One element, or VW elements from p + i, of an activation in dt, widened (half vectors
   only where melora__fuses(dt)). */
MELORA__INLINE float melora__get1(const void *p, size_t i, melora_dtype dt) {
    if (dt == MELORA_FP32) return ((const float *)p)[i];
    if (dt == MELORA_BF16) return melora_bf16_to_f32(((const uint16_t *)p)[i]);
    return melora_f16_to_f32(((const uint16_t *)p)[i]);
}
MELORA__INLINE melora__v16 melora__ldv(const void *p, size_t i, melora_dtype dt) {
#ifdef MELORA__FUSE
    if (dt != MELORA_FP32) return melora__ld_half((const uint16_t *)p + i, dt);
#endif
    (void)dt;
    return melora__ld((const float *)p + i);
}

/* One register tile of C (rows i < mr <= mrc, nv <= NV vectors of columns) += A B over K
   steps, A packed k-major (ap[k*mrc + i]) so that the mrc broadcasts of a step come from
   one pointer; mrc and nv are constants at every call, so the tile lives in registers;
   lanes = valid lanes of the last vector (B rows readable to a full vector). */
MELORA__INLINE void melora__tile(float *MELORA__RESTRICT C, size_t ldc, int add,
                                 const float *MELORA__RESTRICT ap, size_t ais,
                                 const float *MELORA__RESTRICT B, size_t ldb, int mr, int K,
                                 int mrc, int nv, int lanes) {
    /* ais 0: A packed k-major, a(i,k) = ap[k*mrc + i]; else A as rows, a(i,k) =
       ap[min(i, mr-1)*ais + k] (a row-major A needs no transposition: x A^T) */
    melora__v16 acc[MELORA__MRMAX][MELORA__NV];
    const float *ar[MELORA__MRMAX];
    int i, v, k;
    for (i = 0; i < mrc; i++) {
        ar[i] = ap + (size_t)(i < mr ? i : mr - 1) * ais;
        for (v = 0; v < nv; v++) acc[i][v] = melora__splat(0.0f);
    }
    if (add) /* C's lines arrive while the products run */
        for (i = 0; i < mr; i++)
            for (v = 0; v < nv; v++) __builtin_prefetch(C + (size_t)i * ldc + v * MELORA__VW, 1);
    if (!ais) {
        for (k = 0; k < K; k++, ap += mrc, B += ldb) {
            melora__v16 b[MELORA__NV];
            for (v = 0; v < nv; v++) b[v] = melora__ld(B + v * MELORA__VW);
            for (i = 0; i < mrc; i++) {
                melora__v16 a = melora__splat(ap[i]);
                for (v = 0; v < nv; v++) acc[i][v] = MELORA__FMA(a, b[v], acc[i][v]);
            }
        }
    } else {
        for (k = 0; k < K; k++, B += ldb) {
            melora__v16 b[MELORA__NV];
            for (v = 0; v < nv; v++) b[v] = melora__ld(B + v * MELORA__VW);
            for (i = 0; i < mrc; i++) {
                melora__v16 a = melora__splat(ar[i][k]);
                for (v = 0; v < nv; v++) acc[i][v] = MELORA__FMA(a, b[v], acc[i][v]);
            }
        }
    }
    for (i = 0; i < mrc && i < mr; i++) {
        float *ci = C + (size_t)i * ldc;
        for (v = 0; v < nv; v++) {
            if (v == nv - 1 && lanes < MELORA__VW) {
                float o[MELORA__VW];
                int l;
                melora__st(o, acc[i][v]);
                for (l = 0; l < lanes; l++)
                    ci[v * MELORA__VW + l] = add ? ci[v * MELORA__VW + l] + o[l] : o[l];
            } else {
                melora__v16 o = acc[i][v];
                if (add) o += melora__ld(ci + v * MELORA__VW);
                melora__st(ci + v * MELORA__VW, o);
            }
        }
    }
}

/* Rows whose stride is a multiple of 1 KiB fall into a few L1 sets and evict each other
   (x and dz rows of 4096 floats all map to one set): such B panels are first copied to a
   contiguous buffer on the stack, as a GEMM packs its panels. An A read across rows
   (coef^T of the gradient partials) is packed as k-major panels of MR rows, up to IG rows
   at a time; a row-major A (x, coef) is read in place, its rows copied only when they
   alias. */
#define MELORA__ALIASED(ld) ((ld) % 256u == 0)
#define MELORA__IG 48 /* rows of A packed at once: a multiple of 6 and 8 */
#define MELORA__APAD (MELORA__KC + MELORA__LANES) /* copied A row: odd count of lines */
/* Issue cycles of one K step over all tiles of an M x nvec-vector product with mr x nv
   tiles: each tile does mr*w FMAs and mr + w loads (w its vectors), two of either per
   cycle; rows past M are computed and dropped. */
static long melora__cost(int M, int nvec, int mr, int nv) {
    long c = (long)(nvec / nv) * (mr * nv > mr + nv ? mr * nv : mr + nv);
    int w = nvec % nv;
    if (w) c += mr * w > mr + w ? mr * w : mr + w;
    return c * (long)((M + mr - 1) / mr);
}
/* dst[k][0 .. nvc vectors) = src[k*ldb ..], k < kc. nvc is a constant at each call, so
   each row is a few vector moves (a memcpy of a run-time length here becomes `rep movs`,
   whose start-up costs more than the row). */
MELORA__INLINE void melora__copy_panel(float *MELORA__RESTRICT dst,
                                       const float *MELORA__RESTRICT src, size_t ldb, int kc,
                                       int nvc) {
    int k, v;
    for (k = 0; k < kc; k++, dst += nvc * MELORA__VW, src += ldb)
        for (v = 0; v < nvc; v++) melora__st(dst + v * MELORA__VW, melora__ld(src + v * MELORA__VW));
}
/* ap[t][k*mr + i] = A[(i0+t*mr+i)*ars + (k0+k)*acs] for the rows i0 .. i0+mi-1 in panels
   of mr (rows past the end repeat the last one). */
static void melora__pack_a(float *MELORA__RESTRICT ap, const float *MELORA__RESTRICT A,
                           size_t ars, size_t acs, int mi, int kc, int mr) {
    int p, i, k;
    for (p = 0; p < mi; p += mr, ap += (size_t)kc * (size_t)mr)
        for (i = 0; i < mr; i++) {
            const float *a = A + (size_t)(p + i < mi ? p + i : mi - 1) * ars;
            if (acs == 1)
                for (k = 0; k < kc; k++) ap[(size_t)k * (size_t)mr + (size_t)i] = a[k];
            else
                for (k = 0; k < kc; k++)
                    ap[(size_t)k * (size_t)mr + (size_t)i] = a[(size_t)k * acs];
        }
}
/* C[i*ldc+j] (+)= sum_k A[i*ars+k*acs] B[k*ldb+j]   (i < M, j < N, k < K; add 0: C = AB).
   bpad: B rows are readable (zero-padded) to a multiple of VW columns, so a column tail
   runs as one masked vector tile; otherwise it runs as scalar loops. Of the two tile
   shapes, the one with fewer issue cycles by melora__cost runs (on AVX-512, 8x3 for
   blocks of 32 rows or ranks that are multiples of 8, 6x4 for 6, 12, 18 ... rows). */
static void melora__gemm(float *MELORA__RESTRICT C, size_t ldc, int add,
                         const float *MELORA__RESTRICT A, size_t ars, size_t acs,
                         const float *MELORA__RESTRICT B, size_t ldb, int M, int N, int K,
                         int bpad) {
    float abuf[MELORA__IG * MELORA__APAD], bbuf[MELORA__KC * MELORA__NV * MELORA__VW];
    int k0, g0, j0, i0, nfull = N / MELORA__VW, rem = N % MELORA__VW;
    int two = melora__cost(M, nfull, MELORA__MR2, MELORA__NV2) <
              melora__cost(M, nfull, MELORA__MR, MELORA__NV);
    int MR = two ? MELORA__MR2 : MELORA__MR, NV = two ? MELORA__NV2 : MELORA__NV;
    int pack_b = M > MR && MELORA__ALIASED(ldb);
    for (k0 = 0; k0 < K; k0 += MELORA__KC) {
        int kc = K - k0 < MELORA__KC ? K - k0 : MELORA__KC, addk = add || k0 > 0;
        const float *Bk = B + (size_t)k0 * ldb;
        for (g0 = 0; g0 < M; g0 += MELORA__IG) {
            int mg = M - g0 < MELORA__IG ? M - g0 : MELORA__IG;
            const float *ag = A + (size_t)g0 * ars + (size_t)k0 * acs;
            size_t ais = ars; /* rows of A read in place, or copied when they alias */
            if (acs != 1) {
                melora__pack_a(abuf, ag, ars, acs, mg, kc, MR);
                ag = abuf;
                ais = 0;
            } else if (MELORA__ALIASED(ars)) {
                int i;
                for (i = 0; i < mg; i++) /* a constant length is a few vector moves */
                    if (kc == MELORA__KC)
                        memcpy(abuf + (size_t)i * MELORA__APAD, ag + (size_t)i * ars,
                               MELORA__KC * sizeof(float));
                    else
                        memcpy(abuf + (size_t)i * MELORA__APAD, ag + (size_t)i * ars,
                               (size_t)kc * sizeof(float));
                ag = abuf;
                ais = MELORA__APAD;
            }
            for (j0 = 0; j0 < nfull; j0 += NV) {
                int nv = nfull - j0 < NV ? nfull - j0 : NV;
                const float *Bj = Bk + (size_t)j0 * MELORA__VW;
                size_t ldbj = ldb;
                if (pack_b) { /* kc rows of nv vectors, contiguous */
                    switch (nv) {
#if MELORA__NV >= 4
                    case 4: melora__copy_panel(bbuf, Bj, ldb, kc, 4); break;
#endif
                    case 3: melora__copy_panel(bbuf, Bj, ldb, kc, 3); break;
                    case 2: melora__copy_panel(bbuf, Bj, ldb, kc, 2); break;
                    default: melora__copy_panel(bbuf, Bj, ldb, kc, 1); break;
                    }
                    Bj = bbuf;
                    ldbj = (size_t)nv * MELORA__VW;
                }
                for (i0 = 0; i0 < mg; i0 += MR) {
                    int mr = mg - i0 < MR ? mg - i0 : MR;
                    float *Cij = C + (size_t)(g0 + i0) * ldc + (size_t)j0 * MELORA__VW;
                    const float *ap = ag + (size_t)i0 * (ais ? ais : (size_t)kc);
#define MELORA__T(mrc, nvc) \
    melora__tile(Cij, ldc, addk, ap, ais, Bj, ldbj, mr, kc, mrc, nvc, MELORA__VW)
                    switch (two * 8 + nv) { /* constant shapes: each tile lives in registers */
#if MELORA__NV >= 4
                    case 4: MELORA__T(MELORA__MR, 4); break;
#endif
                    case 3: MELORA__T(MELORA__MR, 3); break;
                    case 2: MELORA__T(MELORA__MR, 2); break;
                    case 1: MELORA__T(MELORA__MR, 1); break;
#if MELORA__NV2 >= 3
                    case 11: MELORA__T(MELORA__MR2, 3); break;
#endif
                    case 10: MELORA__T(MELORA__MR2, 2); break;
                    default: MELORA__T(MELORA__MR2, 1); break;
                    }
#undef MELORA__T
                }
            }
            if (rem && bpad) {
                const float *Bj = Bk + (size_t)nfull * MELORA__VW;
                for (i0 = 0; i0 < mg; i0 += MR) {
                    int mr = mg - i0 < MR ? mg - i0 : MR;
                    float *Ci = C + (size_t)(g0 + i0) * ldc + (size_t)nfull * MELORA__VW;
                    const float *ap = ag + (size_t)i0 * (ais ? ais : (size_t)kc);
                    if (two) melora__tile(Ci, ldc, addk, ap, ais, Bj, ldb, mr, kc, MELORA__MR2, 1, rem);
                    else melora__tile(Ci, ldc, addk, ap, ais, Bj, ldb, mr, kc, MELORA__MR, 1, rem);
                }
            } else if (rem) {
                int i, j, k;
                for (i = 0; i < mg; i++)
                    for (j = nfull * MELORA__VW; j < N; j++) {
                        const float *ap = ais ? ag + (size_t)i * ais
                                              : ag + (size_t)(i / MR * MR) * (size_t)kc + i % MR;
                        size_t aks = ais ? 1u : (size_t)MR;
                        float acc = 0.0f, *c = C + (size_t)(g0 + i) * ldc + j;
                        for (k = 0; k < kc; k++) acc += ap[(size_t)k * aks] * Bk[(size_t)k * ldb + j];
                        *c = addk ? *c + acc : acc;
                    }
            }
        }
    }
}

/* out[t*r+k] = sum_j X[t*ldx+j] W[k*ldw+j]   (t < nt <= RB, k < r, j < len)
   DOT_R rows x DOT_K ranks of accumulators; columns in chunks of JC so that the W slice
   is reused from L1 by every row tile; partial vectors wait in acc between chunks. */
MELORA__INLINE void melora__rows_dot_dt(float *MELORA__RESTRICT out,
                                        const void *MELORA__RESTRICT X, size_t ldx, int nt,
                                        const float *MELORA__RESTRICT W, size_t ldw, int r,
                                        int len, melora_dtype dt) {
    /* X holds nt rows of len in dt (stride ldx elements); dt is a constant at each call */
    melora__v16 acc[MELORA__RB][MELORA__DOT_K];
    float tail[MELORA__RB][MELORA__DOT_K];
    int t0, k0, j0, j, a, b;
    int jv = len - len % MELORA__VW;
    MELORA_ASSERT(nt <= MELORA__RB);
    if (jv == 0) { /* rows shorter than a vector (Me-LoRA's r x r mixing at small r) */
        for (a = 0; a < nt; a++)
            for (b = 0; b < r; b++) {
                float sum = 0.0f;
                for (j = 0; j < len; j++)
                    sum += melora__get1(X, (size_t)a * ldx + (size_t)j, dt) * W[(size_t)b * ldw + (size_t)j];
                out[(size_t)a * (size_t)r + (size_t)b] = sum;
            }
        return;
    }
    for (k0 = 0; k0 < r; k0 += MELORA__DOT_K) {
        const float *wr[MELORA__DOT_K];
        for (b = 0; b < MELORA__DOT_K; b++)
            wr[b] = W + (size_t)(k0 + b < r ? k0 + b : r - 1) * ldw;
        for (a = 0; a < nt; a++)
            for (b = 0; b < MELORA__DOT_K; b++) {
                acc[a][b] = melora__splat(0.0f);
                tail[a][b] = 0.0f;
            }
        for (j0 = 0; j0 < jv; j0 += MELORA__JC) {
            int j1 = j0 + MELORA__JC < jv ? j0 + MELORA__JC : jv;
            for (t0 = 0; t0 < nt; t0 += MELORA__DOT_R) {
                size_t xr[MELORA__DOT_R]; /* row offsets */
                melora__v16 c[MELORA__DOT_R][MELORA__DOT_K];
                for (a = 0; a < MELORA__DOT_R; a++) {
                    xr[a] = (size_t)(t0 + a < nt ? t0 + a : nt - 1) * ldx;
                    for (b = 0; b < MELORA__DOT_K; b++)
                        c[a][b] = acc[t0 + a < nt ? t0 + a : nt - 1][b];
                }
                for (j = j0; j < j1; j += MELORA__VW) {
                    melora__v16 xv[MELORA__DOT_R];
                    for (a = 0; a < MELORA__DOT_R; a++) xv[a] = melora__ldv(X, xr[a] + (size_t)j, dt);
                    for (b = 0; b < MELORA__DOT_K; b++) {
                        melora__v16 w = melora__ld(wr[b] + j);
                        for (a = 0; a < MELORA__DOT_R; a++) c[a][b] = MELORA__FMA(xv[a], w, c[a][b]);
                    }
                }
                for (a = 0; a < MELORA__DOT_R && t0 + a < nt; a++)
                    for (b = 0; b < MELORA__DOT_K; b++) acc[t0 + a][b] = c[a][b];
            }
        }
        for (j = jv; j < len; j++)
            for (a = 0; a < nt; a++)
                for (b = 0; b < MELORA__DOT_K; b++)
                    tail[a][b] += melora__get1(X, (size_t)a * ldx + (size_t)j, dt) * wr[b][j];
        for (a = 0; a < nt; a++)
            for (b = 0; b < MELORA__DOT_K && k0 + b < r; b++)
                out[(size_t)a * (size_t)r + (size_t)(k0 + b)] = melora__vsum(acc[a][b]) + tail[a][b];
    }
}
static void melora__rows_dot(float *MELORA__RESTRICT out, const float *MELORA__RESTRICT X,
                             size_t ldx, int nt, const float *MELORA__RESTRICT W, size_t ldw,
                             int r, int len) {
    melora__rows_dot_dt(out, X, ldx, nt, W, ldw, r, len, MELORA_FP32);
}
#ifdef MELORA__FUSE
/* melora__rows_dot of half rows X (dt with melora__fuses), widened in registers */
static void melora__rows_dot_half(float *MELORA__RESTRICT out, const void *MELORA__RESTRICT X,
                                  size_t ldx, int nt, const float *MELORA__RESTRICT W,
                                  size_t ldw, int r, int len, melora_dtype dt) {
    if (dt == MELORA_BF16) melora__rows_dot_dt(out, X, ldx, nt, W, ldw, r, len, MELORA_BF16);
    else melora__rows_dot_dt(out, X, ldx, nt, W, ldw, r, len, MELORA_FP16);
}
#endif
#else /* portable loops */
#define MELORA__VL 16
static float melora__hsum(const float *acc) {
    float s = 0.0f;
    int l;
    for (l = 0; l < MELORA__VL; l++) s += acc[l];
    return s;
}

/* C[i*ldc+j] (+)= sum_k A[i*ars+k*acs] B[k*ldb+j]   (i < M, j < N, k < K); the sum over a
   KC slice is formed first, then added, as in the vector kernel. bpad is unused. */
static void melora__gemm(float *MELORA__RESTRICT C, size_t ldc, int add,
                         const float *MELORA__RESTRICT A, size_t ars, size_t acs,
                         const float *MELORA__RESTRICT B, size_t ldb, int M, int N, int K,
                         int bpad) {
    int k0, i, j, k;
    float acc[MELORA__VL];
    (void)bpad;
    for (k0 = 0; k0 < K; k0 += MELORA__KC) {
        int k1 = K - k0 < MELORA__KC ? K : k0 + MELORA__KC, addk = add || k0 > 0;
        for (i = 0; i < M; i++)
            for (j = 0; j < N; j += MELORA__VL) {
                int l, w = N - j < MELORA__VL ? N - j : MELORA__VL;
                for (l = 0; l < w; l++) acc[l] = 0.0f;
                for (k = k0; k < k1; k++) {
                    float a = A[(size_t)i * ars + (size_t)k * acs];
                    const float *b = B + (size_t)k * ldb + j;
                    for (l = 0; l < w; l++) acc[l] += a * b[l];
                }
                for (l = 0; l < w; l++) {
                    float *c = C + (size_t)i * ldc + j + l;
                    *c = addk ? *c + acc[l] : acc[l];
                }
            }
    }
}

/* out[t*r+k] = sum_j X[t*ldx+j] W[k*ldw+j]   (t < nt, k < r, j < len)
   2 rows x 4 ranks of accumulators; rows/ranks past the end repeat the last one and
   are not stored. */
static void melora__rows_dot(float *MELORA__RESTRICT out, const float *MELORA__RESTRICT X,
                             size_t ldx, int nt, const float *MELORA__RESTRICT W, size_t ldw,
                             int r, int len) {
    int t0, k0, j, a, b, l;
    for (t0 = 0; t0 < nt; t0 += 2) {
        const float *xr[2];
        xr[0] = X + (size_t)t0 * ldx;
        xr[1] = t0 + 1 < nt ? xr[0] + ldx : xr[0];
        for (k0 = 0; k0 < r; k0 += 4) {
            const float *wr[4];
            float acc[2][4][MELORA__VL], tail[2][4];
            for (b = 0; b < 4; b++) wr[b] = W + (size_t)(k0 + b < r ? k0 + b : r - 1) * ldw;
            for (a = 0; a < 2; a++)
                for (b = 0; b < 4; b++) {
                    tail[a][b] = 0.0f;
                    for (l = 0; l < MELORA__VL; l++) acc[a][b][l] = 0.0f;
                }
            for (j = 0; j + MELORA__VL <= len; j += MELORA__VL)
                for (a = 0; a < 2; a++)
                    for (b = 0; b < 4; b++)
                        for (l = 0; l < MELORA__VL; l++)
                            acc[a][b][l] += xr[a][j + l] * wr[b][j + l];
            for (; j < len; j++)
                for (a = 0; a < 2; a++)
                    for (b = 0; b < 4; b++) tail[a][b] += xr[a][j] * wr[b][j];
            for (a = 0; a < 2 && t0 + a < nt; a++)
                for (b = 0; b < 4 && k0 + b < r; b++)
                    out[(size_t)(t0 + a) * (size_t)r + (size_t)(k0 + b)] =
                        melora__hsum(acc[a][b]) + tail[a][b];
        }
    }
}
#endif

/* ------------------------------------------------------ half <-> float32 arrays -- */
/* The vector conversions give the bits of the scalar melora_*_to_* (which match F16C on
   every input): bf16 is the upper half of a float32, narrowed with the same integer
   rounding lane by lane; fp16 is the F16C (or AVX-512) instruction, rounding to nearest
   even whatever MXCSR says. Each returns how many leading elements it converted, whole
   vectors only; the scalar functions do the rest. */
#if defined(MELORA__GNUVEC) && defined(__AVX512F__)
#define MELORA__CVT_W 16
static size_t melora__widen_vec(float *out, const uint16_t *in, melora_dtype dt, size_t count) {
    size_t i, nv = count - count % MELORA__CVT_W;
    for (i = 0; i < nv; i += MELORA__CVT_W) melora__st(out + i, melora__ld_half(in + i, dt));
    return nv;
}
static size_t melora__narrow_vec(uint16_t *out, const float *in, melora_dtype dt,
                                 size_t count) {
    size_t i, nv = count - count % MELORA__CVT_W;
    for (i = 0; i < nv; i += MELORA__CVT_W) melora__st_half(out + i, melora__ld(in + i), dt);
    return nv;
}
#elif defined(MELORA__GNUVEC) && (defined(__AVX2__) || defined(__F16C__))
#define MELORA__CVT_W 8
#if defined(__AVX2__)
#define MELORA__CVT_BF16 1
#endif
#if defined(__F16C__)
#define MELORA__CVT_F16 1
#endif
static size_t melora__widen_vec(float *out, const uint16_t *in, melora_dtype dt, size_t count) {
    size_t i, nv = count - count % MELORA__CVT_W;
#ifndef MELORA__CVT_BF16
    if (dt == MELORA_BF16) return 0;
#endif
#ifndef MELORA__CVT_F16
    if (dt == MELORA_FP16) return 0;
#endif
    for (i = 0; i < nv; i += MELORA__CVT_W) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
        __m256 f;
#if defined(MELORA__CVT_BF16) && defined(MELORA__CVT_F16)
        f = dt == MELORA_BF16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16))
                              : _mm256_cvtph_ps(h);
#elif defined(MELORA__CVT_BF16)
        f = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
#else
        f = _mm256_cvtph_ps(h);
#endif
        _mm256_storeu_ps(out + i, f);
#ifdef MELORA__CVT_F16
        /* the instruction quiets a signalling NaN, the scalar function keeps it */
        if (dt == MELORA_FP16 &&
            _mm_movemask_epi8(_mm_cmpgt_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7FFF)),
                                              _mm_set1_epi16(0x7C00)))) {
            int l;
            for (l = 0; l < MELORA__CVT_W; l++) out[i + l] = melora_f16_to_f32(in[i + l]);
        }
#endif
    }
    return nv;
}
static size_t melora__narrow_vec(uint16_t *out, const float *in, melora_dtype dt,
                                 size_t count) {
    size_t i, nv;
    if (dt == MELORA_BF16) {
#ifdef MELORA__CVT_BF16
        nv = count - count % 16u;
        for (i = 0; i < nv; i += 16) { /* packus interleaves 128-bit halves: permute back */
            __m256i q = _mm256_packus_epi32(melora__bf16_lanes(_mm256_loadu_ps(in + i)),
                                            melora__bf16_lanes(_mm256_loadu_ps(in + i + 8)));
            _mm256_storeu_si256((__m256i *)(void *)(out + i), _mm256_permute4x64_epi64(q, 0xD8));
        }
        return nv;
#else
        return 0;
#endif
    }
#ifdef MELORA__CVT_F16
    nv = count - count % MELORA__CVT_W;
    for (i = 0; i < nv; i += MELORA__CVT_W)
        _mm_storeu_si128((__m128i *)(void *)(out + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
    return nv;
#else
    (void)i; (void)nv; (void)out; (void)in; (void)count;
    return 0;
#endif
}
#else /* the scalar functions for every element */
static size_t melora__widen_vec(float *out, const uint16_t *in, melora_dtype dt, size_t count) {
    (void)out; (void)in; (void)dt; (void)count;
    return 0;
}
static size_t melora__narrow_vec(uint16_t *out, const float *in, melora_dtype dt,
                                 size_t count) {
    (void)out; (void)in; (void)dt; (void)count;
    return 0;
}
#endif

static void melora__to_f32(float *out, const void *in, melora_dtype dt, size_t count) {
    size_t i;
    const uint16_t *h = (const uint16_t *)in;
    if (dt == MELORA_FP32) { memcpy(out, in, count * sizeof(float)); return; }
    i = melora__widen_vec(out, h, dt, count);
    if (dt == MELORA_BF16) for (; i < count; i++) out[i] = melora_bf16_to_f32(h[i]);
    else for (; i < count; i++) out[i] = melora_f16_to_f32(h[i]);
}
static void melora__from_f32(void *out, melora_dtype dt, const float *in, size_t count) {
    size_t i;
    uint16_t *h = (uint16_t *)out;
    if (dt == MELORA_FP32) { memcpy(out, in, count * sizeof(float)); return; }
    i = melora__narrow_vec(h, in, dt, count);
    if (dt == MELORA_BF16) for (; i < count; i++) h[i] = melora_f32_to_bf16(in[i]);
    else for (; i < count; i++) h[i] = melora_f32_to_f16(in[i]);
}

MELORA_DEF melora_status melora_convert(void *out, melora_dtype out_dtype, const void *in,
                                        melora_dtype in_dtype, int64_t count) {
    /* out is (count) in out_dtype, in is (count) in in_dtype */
    size_t i, eo, ei;
    melora__buf b[2];
    MELORA__REQUIRE(out && in, MELORA_ERR_NULL);
    MELORA__REQUIRE((unsigned)out_dtype < (unsigned)MELORA_DTYPE_COUNT_ &&
                        (unsigned)in_dtype < (unsigned)MELORA_DTYPE_COUNT_,
                    MELORA_ERR_ENUM);
    MELORA__REQUIRE(count >= 0, MELORA_ERR_SIZE);
    MELORA__REQUIRE((uint64_t)count <= (uint64_t)MELORA__MAX_ELEMS, MELORA_ERR_OVERFLOW);
    eo = melora__esize(out_dtype);
    ei = melora__esize(in_dtype);
    MELORA__REQUIRE((uintptr_t)out % eo == 0 && (uintptr_t)in % ei == 0, MELORA_ERR_ALIGNMENT);
    b[0].p = out; b[0].bytes = (size_t)count * eo; b[0].written = 1;
    b[1].p = in; b[1].bytes = (size_t)count * ei; b[1].written = 0;
    MELORA__TRY(melora__check_alias(b, 2));
    if (in_dtype == MELORA_FP32) melora__from_f32(out, out_dtype, (const float *)in, (size_t)count);
    else if (out_dtype == MELORA_FP32) melora__to_f32((float *)out, in, in_dtype, (size_t)count);
    else
        for (i = 0; i < (size_t)count; i++) { /* half to half through float32 */
            float f;
            melora__to_f32(&f, (const uint16_t *)in + i, in_dtype, 1);
            melora__from_f32((uint16_t *)out + i, out_dtype, &f, 1);
        }
    return MELORA_OK;
}

/* The three products of the passes, in the vocabulary of the rows they touch. */
/* Y[t*ldy+i] += sum_k coef[t*r+k] W[k*ldw+i]   (t < nt, i < len) */
static void melora__rows_axpy(float *MELORA__RESTRICT Y, size_t ldy, int nt,
                              const float *MELORA__RESTRICT coef,
                              const float *MELORA__RESTRICT W, size_t ldw, int r, int len) {
    melora__gemm(Y, ldy, 1, coef, (size_t)r, 1, W, ldw, nt, len, r, 0);
}
#ifndef MELORA__FUSE /* no conversion in registers: the float32 scratch rows */
static int melora__fuses(melora_dtype dt) {
    (void)dt;
    return 0;
}
#endif
/* Whether an activation in dt at rank r goes through the fused kernels. */
static int melora__fused(melora_dtype dt, int r) {
    return dt != MELORA_FP32 && r < MELORA__LANES && melora__fuses(dt);
}
/* P[k*ldp+i] += sum_t coef[t*r+k] Y[t*ldy+i]   (k < r, t < nt, i < len) */
static void melora__outer_acc(float *MELORA__RESTRICT P, size_t ldp, int r,
                              const float *MELORA__RESTRICT coef,
                              const float *MELORA__RESTRICT Y, size_t ldy, int nt, int len) {
    melora__gemm(P, ldp, 1, coef, 1, (size_t)r, Y, ldy, r, len, nt, 0);
}
/* out[t*r+k] = sum_j X[t*ldx+j] W[k][j], W given either as (r, ld) rows (Wt NULL) or as
   its transpose Wt (len, ldt) with ldt >= r rounded up to LANES, zero-padded. */
static void melora__rows_w(float *MELORA__RESTRICT out, const float *MELORA__RESTRICT X,
                           size_t ldx, int nt, const float *MELORA__RESTRICT W, size_t ldw,
                           const float *MELORA__RESTRICT Wt, size_t ldt, int r, int len) {
    if (Wt) melora__gemm(out, (size_t)r, 0, X, ldx, 1, Wt, ldt, nt, r, len, 1);
    else melora__rows_dot(out, X, ldx, nt, W, ldw, r, len);
}

/* Me-LoRA's r x r mixing of the rows t0 .. t0+nt-1 of a block, e = t/per:
   trans 0: out_t = C_e in_t (out = in C_e^T);  trans 1: out_t = C_e^T in_t (out = in C_e).
   Each run of rows of one example goes through the row primitives (vectorised over r). */
static void melora__mix_rows(float *MELORA__RESTRICT out, const float *MELORA__RESTRICT in,
                             const float *MELORA__RESTRICT C, int64_t t0, int nt, int per,
                             int r, int trans) {
    int a = 0;
    while (a < nt) {
        int64_t e = (t0 + a) / per;
        int b = a + 1;
        const float *Ce;
        float *o = out + (size_t)a * (size_t)r;
        const float *i = in + (size_t)a * (size_t)r;
        while (b < nt && (t0 + b) / per == e) b++;
        Ce = C + (size_t)e * (size_t)r * (size_t)r;
        if (!trans) {
            melora__rows_dot(o, i, (size_t)r, b - a, Ce, (size_t)r, r, r);
        } else {
            memset(o, 0, (size_t)(b - a) * (size_t)r * sizeof(float));
            melora__rows_axpy(o, (size_t)r, b - a, i, Ce, (size_t)r, r, r);
        }
        a = b;
    }
}

/* Bts = s B^T: (m,r) -> (r,m) with row stride ldb. */
static void melora__scaled_bt(float *MELORA__RESTRICT Bts, size_t ldb,
                              const float *MELORA__RESTRICT B, float s, int m, int r) {
    int k;
    MELORA__PARALLEL_FOR
    for (k = 0; k < r; k++) {
        int i;
        for (i = 0; i < m; i++) Bts[(size_t)k * ldb + i] = s * B[(size_t)i * (size_t)r + k];
    }
}
/* Wt[j*ldt+k] = W[k*ldw+j] (k < r), zero for r <= k < ldt: (r,n) -> (n,ldt) */
static void melora__pack_t(float *MELORA__RESTRICT Wt, size_t ldt,
                           const float *MELORA__RESTRICT W, size_t ldw, int r, int n) {
    int j;
    MELORA__PARALLEL_FOR
    for (j = 0; j < n; j++) {
        size_t k;
        for (k = 0; k < ldt; k++)
            Wt[(size_t)j * ldt + k] = k < (size_t)r ? W[k * ldw + (size_t)j] : 0.0f;
    }
}
/* Bs[i*ldt+k] = s B[i*r+k] (k < r), zero for r <= k < ldt: (m,r) -> (m,ldt) */
static void melora__pack_sb(float *MELORA__RESTRICT Bs, size_t ldt,
                            const float *MELORA__RESTRICT B, float s, int m, int r) {
    int i;
    MELORA__PARALLEL_FOR
    for (i = 0; i < m; i++) {
        size_t k;
        for (k = 0; k < ldt; k++)
            Bs[(size_t)i * ldt + k] = k < (size_t)r ? s * B[(size_t)i * (size_t)r + k] : 0.0f;
    }
}
/* dst (r rows, stride ld) = src (r,n) */
static void melora__copy_rows(float *MELORA__RESTRICT dst, size_t ld,
                              const float *MELORA__RESTRICT src, int r, int n) {
    int k;
    for (k = 0; k < r; k++)
        memcpy(dst + (size_t)k * ld, src + (size_t)k * (size_t)n, (size_t)n * sizeof(float));
}

/* Rows of chunk c: blocks [c*nb/nc, (c+1)*nb/nc) of RB rows. */
static void melora__chunk_rows(int64_t *t_begin, int64_t *t_end, int c, int nc, int T) {
    int64_t nb = ((int64_t)T + MELORA__RB - 1) / MELORA__RB;
    int64_t b0 = (int64_t)c * nb / nc, b1 = (int64_t)(c + 1) * nb / nc;
    *t_begin = b0 * MELORA__RB;
    *t_end = b1 * MELORA__RB < T ? b1 * MELORA__RB : T;
}

/* g = sum_c parts[c][k][j] (chunks in order; parts are (nc, r, ld)), then
   dmean[k][j] += g and, with G, dstd[k][j] += g * EPS * 2G (the chain rule through a
   sample mean + (G*G)*EPS). */
static void melora__reduce_rows(float *dmean, float *dstd, const float *parts, int nc,
                                int r, int n, size_t ld, const float *G, const float *EPS) {
    int64_t q;
    size_t part = (size_t)r * ld;
    MELORA__PARALLEL_FOR
    for (q = 0; q < (int64_t)r * n; q++) {
        size_t k = (size_t)q / (size_t)n, j = (size_t)q % (size_t)n;
        float acc = 0.0f;
        int c;
        for (c = 0; c < nc; c++) acc += parts[(size_t)c * part + k * ld + j];
        if (dmean) dmean[q] += acc;
        if (dstd) dstd[q] += melora_dstd_elem(acc, G[q], EPS[q]);
    }
}
/* dB[i][k] += s * sum_c parts[c][k][i]   (parts are (nc, r, ldb)) */
static void melora__reduce_db(float *dB, const float *parts, int nc, float s, int m, int r,
                              size_t ldb) {
    int i;
    size_t part = (size_t)r * ldb;
    MELORA__PARALLEL_FOR
    for (i = 0; i < m; i++) {
        int k, c;
        for (k = 0; k < r; k++) {
            float acc = 0.0f;
            for (c = 0; c < nc; c++) acc += parts[(size_t)c * part + (size_t)k * ldb + (size_t)i];
            dB[(size_t)i * (size_t)r + k] += s * acc;
        }
    }
}

/* ------------------------------------------------------------------------ one pass -- */
/* Every tensor of a call over the rows of a batch, in the header's names, so that one
   setup checks any call and one skeleton runs any pass. A is the weight x is multiplied
   by: LoRA's and Me-LoRA's A, BLoB's As, Flipout's MA. E counts the matrices of C: the
   examples of a Me-LoRA draw, or the K samples of the Monte-Carlo forward. A NULL tensor
   is not part of the call (or an absent gradient). */
typedef struct {
    melora_op op; /* the pass; the naive references name theirs too */
    melora_dims d;
    float s;
    int G, E;
    const void *x, *dz;         /* rows read, in d.dtype */
    void *z, *dx;               /* rows written, in d.dtype */
    float *u, *v;               /* rows written (read by the backward passes) */
    const float *A, *B, *MA, *GA, *EA, *sa, *sb, *C, *H, *EC;
    float *As;                  /* BLoB's forward writes its sample */
    float *dA, *dGA, *dB, *dM, *dH; /* += ; dA is BLoB's and Flipout's dMA */
    /* fast paths: the workspace and its regions, placed by melora__prepare and filled by
       the skeleton. Bts = s B^T (r,ldm) and Ap = A (r,ldn) rows; At = A^T and Bs = s B
       (n or m, ldr) in the transposed form, else NULL; Flipout's N = (GA*GA)*EA and N^T;
       per-chunk gradient partials PA (of A), PN (of N), PB (of B^T), NULL when not
       asked; per-chunk block scratch S1, S2 (RB,r), XA, TMP (RB,ldn); Me-LoRA's dv; in
       bf16/fp16 the per-slot float32 copies of x (HX), z or dz (HZ) and dx (HDX), else
       NULL. */
    void *work;
    melora__ws ws;
    float *Bts, *Ap, *At, *Bs, *N, *Nt, *PA, *PN, *PB, *S1, *S2, *XA, *TMP, *DV;
    float *HX, *HZ, *HDX;
} melora__pass;

/* out: the rows the pass accumulates into, z (forward) or dx (backward, with dz). */
static melora__pass melora__pass_of(melora_op op, melora_dims d, float s, void *out,
                                    const void *dz) {
    melora__pass ps;
    memset(&ps, 0, sizeof ps);
    ps.op = op;
    ps.d = d;
    ps.s = s;
    ps.E = 1;
    if (melora__is_forward(op)) ps.z = out;
    else { ps.dx = out; ps.dz = dz; }
    return ps;
}

/* The tensors of each method's passes, fast and naive alike (g NULL in the forwards).
   *_PRESENT: the method's required tensors are all given. */
static melora__pass melora__lora_pass(melora_op op, void *out, const melora_lora_grads *g,
                                      const melora_lora_saved *sv, const void *dz,
                                      const melora_lora_params *p, melora_dims d) {
    melora__pass ps = melora__pass_of(op, d, p->s, out, dz);
    ps.u = sv->u; ps.x = sv->x; ps.A = p->A; ps.B = p->B;
    if (g) { ps.dA = g->dA; ps.dB = g->dB; }
    return ps;
}
#define MELORA__LORA_PRESENT(ps) ((ps).u && (ps).x && (ps).A && (ps).B)
/* Flipout: LoRA's tensors with A = MA, and the noise N = (GA*GA)*EA under the signs. */
static melora__pass melora__flipout_pass(melora_op op, void *out, const melora_blob_grads *g,
                                         const melora_lora_saved *sv, const void *dz,
                                         const melora_blob_params *p,
                                         const melora_flipout_noise *nz, melora_dims d) {
    melora__pass ps = melora__pass_of(op, d, p->s, out, dz);
    ps.u = sv->u; ps.x = sv->x; ps.A = p->MA; ps.GA = p->GA; ps.EA = nz->EA; ps.B = p->B;
    ps.sa = nz->sa; ps.sb = nz->sb; ps.G = nz->G;
    if (g) { ps.dA = g->dMA; ps.dGA = g->dGA; ps.dB = g->dB; }
    return ps;
}
#define MELORA__FLIPOUT_PRESENT(ps) (MELORA__LORA_PRESENT(ps) && (ps).GA && (ps).EA)
/* Me-LoRA: H and EC only in the backward, which alone reads them (for dH). */
static melora__pass melora__melora_pass(melora_op op, void *out,
                                        const melora_melora_grads *g,
                                        const melora_melora_saved *sv, const void *dz,
                                        const melora_melora_params *p,
                                        const melora_melora_draw *dr, melora_dims d) {
    melora__pass ps = melora__pass_of(op, d, p->s, out, dz);
    ps.u = sv->u; ps.v = sv->v; ps.x = sv->x; ps.A = p->A; ps.C = dr->C; ps.E = dr->E;
    ps.B = p->B;
    if (op == MELORA_OP_MELORA_BACKWARD) { ps.H = p->H; ps.EC = dr->EC; }
    if (g) { ps.dA = g->dA; ps.dB = g->dB; ps.dM = g->dM; ps.dH = g->dH; }
    return ps;
}
#define MELORA__MELORA_PRESENT(ps) (MELORA__LORA_PRESENT(ps) && (ps).v && (ps).C)

/* A workspace: base non-NULL and 8-byte aligned, sizes the layout accepts, and at least
   as many bytes as the layout (the first checks of every call that takes one). */
static melora_status melora__work_fits(melora__ws *ws, melora_work work, melora_op op,
                                       melora_dims d) {
    MELORA__TRY(melora__check_work(work.base));
    MELORA__TRY(melora__layout(ws, op, d));
    MELORA__REQUIRE(work.bytes >= ws->total, MELORA_ERR_WORKSPACE);
    return MELORA_OK;
}
/* E examples of C (E,r,r) that split T evenly. */
static melora_status melora__check_examples(int E, int r, int T) {
    size_t e;
    MELORA__REQUIRE(E > 0, MELORA_ERR_SIZE);
    MELORA__TRY(melora__elems(&e, (size_t)E, (size_t)r, (size_t)r));
    MELORA__REQUIRE(T % E == 0, MELORA_ERR_DIVISIBILITY);
    return MELORA_OK;
}

/* The overlap table of a pass: every tensor it names, with its length from the shapes. */
static melora_status melora__alias_pass(const melora__pass *ps) {
    melora_dims d = ps->d;
    int fwd = melora__is_forward(ps->op);
    size_t groups = ps->G > 0 ? (size_t)(d.T - 1) / (size_t)ps->G + 1u : 0;
    size_t nz = ps->op == MELORA_OP_MELORA_MC_FORWARD ? (size_t)ps->E : 1u;
    size_t rn = MELORA__FB(d.r, d.n), rr = MELORA__FB(d.r, d.r), mr = MELORA__FB(d.m, d.r);
    size_t tr = MELORA__FB(d.T, d.r), es = melora__esize(d.dtype);
    size_t tn = (size_t)d.T * (size_t)d.n * es, tm = (size_t)d.T * (size_t)d.m * es;
    melora__buf b[] = {
        {ps->z, tm * nz, 1}, {ps->dx, tn, 1},
        {ps->u, tr, fwd}, {ps->v, tr, fwd}, {ps->As, rn, 1}, {ps->dA, rn, 1},
        {ps->dGA, rn, 1}, {ps->dB, mr, 1}, {ps->dM, rr, 1}, {ps->dH, rr, 1},
        {ps->work, ps->ws.total, 1}, {ps->x, tn, 0},
        {ps->dz, tm, 0}, {ps->A, rn, 0}, {ps->MA, rn, 0}, {ps->GA, rn, 0},
        {ps->EA, rn, 0}, {ps->sa, MELORA__FB(groups, d.n), 0},
        {ps->sb, MELORA__FB(groups, d.r), 0}, {ps->B, mr, 0}, {ps->C, rr * (size_t)ps->E, 0},
        {ps->H, rr, 0}, {ps->EC, rr * (size_t)ps->E, 0}};
    return melora__check_alias(b, MELORA__NBUF(b));
}

/* The regions a fast pass uses (nothing is written here). */
static void melora__place(melora__pass *ps) {
    const melora__ws *ws = &ps->ws;
    int t = melora__use_t(ps->d.r), flip = melora__is_flipout(ps->op);
    void *w = ps->work;
    if (ps->d.dtype != MELORA_FP32) {
        ps->HX = melora__region(w, ws, MELORA__R_HX);
        ps->HZ = melora__region(w, ws, MELORA__R_HZ);
        ps->HDX = melora__is_forward(ps->op) ? NULL : melora__region(w, ws, MELORA__R_HDX);
    }
    ps->Bts = melora__region(w, ws, MELORA__R_BTS);
    ps->Ap = melora__region(w, ws, MELORA__R_AP);
    if (flip) {
        ps->N = melora__region(w, ws, MELORA__R_NOISE);
        ps->XA = melora__region(w, ws, MELORA__R_XA);
    }
    if (melora__is_forward(ps->op)) {
        ps->At = t ? melora__region(w, ws, MELORA__R_WT) : NULL;
        ps->Nt = t && flip ? melora__region(w, ws, MELORA__R_NT) : NULL;
        if (flip || ps->op == MELORA_OP_MELORA_MC_FORWARD)
            ps->S1 = melora__region(w, ws, MELORA__R_S1);
        return;
    }
    ps->Bs = t ? melora__region(w, ws, MELORA__R_WT) : NULL;
    ps->S1 = melora__region(w, ws, MELORA__R_S1);
    ps->S2 = melora__region(w, ws, MELORA__R_S2);
    ps->PA = ps->dA || (ps->dGA && !flip) ? melora__region(w, ws, MELORA__R_PA) : NULL;
    ps->PN = ps->dGA && flip ? melora__region(w, ws, MELORA__R_PN) : NULL;
    ps->PB = ps->dB ? melora__region(w, ws, MELORA__R_PB) : NULL;
    ps->TMP = flip ? melora__region(w, ws, MELORA__R_TMP) : NULL;
    ps->DV = ps->dM || ps->dH ? melora__region(w, ws, MELORA__R_DV) : NULL;
}

/* The one preamble of every pass, fast (work given) or naive, in the order the header
   states: the workspace, the call's required tensors (present: all non-NULL), the
   variant's own inputs, the sizes, the scale, the overlaps. */
static melora_status melora__prepare(melora__pass *ps, const melora_work *work, int present) {
    melora_dims d = ps->d;
    present = present && (melora__is_forward(ps->op) ? ps->z != NULL : ps->dz != NULL);
    if (work) {
        MELORA__TRY(melora__work_fits(&ps->ws, *work, ps->op, d));
        ps->work = work->base;
    }
    MELORA__REQUIRE(present, MELORA_ERR_NULL);
    if (melora__is_flipout(ps->op)) {
        MELORA__REQUIRE(ps->sa && ps->sb, MELORA_ERR_NULL);
        MELORA__REQUIRE(ps->G > 0, MELORA_ERR_SIZE);
    }
    if (ps->op == MELORA_OP_MELORA_BACKWARD) /* dH reads H and the noise EC */
        MELORA__REQUIRE(!ps->dH || (ps->H && ps->EC), MELORA_ERR_NULL);
    if (!work) MELORA__TRY(melora__check_dims(d));
    MELORA__TRY(melora__check_act_align(ps->x, ps->z, ps->dz, ps->dx, d.dtype));
    if (ps->op == MELORA_OP_MELORA_FORWARD || ps->op == MELORA_OP_MELORA_BACKWARD)
        MELORA__TRY(melora__check_examples(ps->E, d.r, d.T));
    if (ps->op == MELORA_OP_MELORA_MC_FORWARD) { /* z is (K,T,m), C (K,r,r) */
        size_t e;
        MELORA__REQUIRE(ps->E > 0, MELORA_ERR_SIZE);
        MELORA__TRY(melora__elems(&e, (size_t)ps->E, (size_t)d.T, (size_t)d.m));
        MELORA__TRY(melora__elems(&e, (size_t)ps->E, (size_t)d.r, (size_t)d.r));
    }
    MELORA__REQUIRE(melora__finite(ps->s), MELORA_ERR_VALUE);
    MELORA__TRY(melora__alias_pass(ps));
    if (work) melora__place(ps);
    return MELORA_OK;
}

/* Scratch row block of chunk c: RB rows of ld floats. */
static float *melora__scratch_rows(float *base, int c, size_t ld) {
    return base + (size_t)c * MELORA__RB * ld;
}

/* The half scratch slot of the thread running chunk c. The static schedule gives each
   thread one run of chunks (thread i < nc, or none), so a slot per thread is its own and
   stays in that core's cache from chunk to chunk, where a slot per chunk would sweep a
   region of nc blocks; which slot a block uses changes no result. */
static int melora__half_slot(int c, int nc) {
#ifdef _OPENMP
    int t = omp_get_thread_num();
    return t < nc ? t : c;
#else
    (void)c; (void)nc;
    return 0;
#endif
}

/* The rows t0 .. t0+nt-1 of a (T,len) activation in dt as float32 rows: in place in
   float32 (*ld = len), else widened into the chunk's scratch block hs (*ld = ldh). */
static const float *melora__get_rows(size_t *ld, const void *a, float *hs, size_t ldh,
                                     melora_dtype dt, int64_t t0, int nt, int len) {
    const uint16_t *h = (const uint16_t *)a + (size_t)t0 * (size_t)len;
    int t;
    if (dt == MELORA_FP32) {
        *ld = (size_t)len;
        return (const float *)a + (size_t)t0 * (size_t)len;
    }
    for (t = 0; t < nt; t++)
        melora__to_f32(hs + (size_t)t * ldh, h + (size_t)t * (size_t)len, dt, (size_t)len);
    *ld = ldh;
    return hs;
}
/* The rows t0 .. t0+nt-1 of a (T,len) activation y in dt (z or dx) += coef W (coef (nt,r),
   W (r,ldw)), then, with tmp, += tmp * sa (Flipout's noise term; tmp (nt,ldt), sa the
   group signs (ceil(T/G),len)). float32 rows are updated in place; half rows in slabs of
   SLAB columns, each widened into hs, updated and rounded once while it is in L1 (a whole
   block would go through L2 three times). Columns are independent: the slabs give the
   sums of one pass over the row. (Updating the half rows in registers instead, as
   u = x A^T reads x, measured slower at r = 8: the slab is already in L1.) */
static void melora__acc_rows(void *y, melora_dtype dt, float *hs, int64_t t0, int nt,
                             const float *coef, const float *W, size_t ldw, int r, int len,
                             const float *tmp, size_t ldt, const float *sa, int G) {
    int slab = dt == MELORA_FP32 ? len : MELORA__SLAB, j0, t, j;
    for (j0 = 0; j0 < len; j0 += slab) {
        int w = len - j0 < slab ? len - j0 : slab;
        uint16_t *h = (uint16_t *)y + (size_t)t0 * (size_t)len + (size_t)j0;
        size_t ld = MELORA__SLAB_LD;
        float *yb = hs;
        if (dt == MELORA_FP32) {
            yb = (float *)y + (size_t)t0 * (size_t)len;
            ld = (size_t)len;
        } else {
            for (t = 0; t < nt; t++)
                melora__to_f32(yb + (size_t)t * ld, h + (size_t)t * (size_t)len, dt, (size_t)w);
        }
        melora__rows_axpy(yb, ld, nt, coef, W + j0, ldw, r, w);
        if (tmp)
            for (t = 0; t < nt; t++) {
                const float *ar = sa + (size_t)((t0 + t) / G) * (size_t)len + (size_t)j0;
                const float *tr = tmp + (size_t)t * ldt + (size_t)j0;
                float *o = yb + (size_t)t * ld;
                for (j = 0; j < w; j++) o[j] += tr[j] * ar[j];
            }
        if (dt != MELORA_FP32)
            for (t = 0; t < nt; t++)
                melora__from_f32(h + (size_t)t * (size_t)len, dt, yb + (size_t)t * ld, (size_t)w);
    }
}

/* Rows of x times their group's signs: xa[t][j] = xb[t][j] * sa[(t0+t)/G][j], xb the
   float32 rows t0 .. t0+nt-1 of x (stride ldx). */
static void melora__sign_rows(float *xa, size_t ldxa, const float *xb, size_t ldx,
                              const float *sa, int64_t t0, int nt, int G, int n) {
    int t, j;
    for (t = 0; t < nt; t++) {
        const float *xr = xb + (size_t)t * ldx;
        const float *ar = sa + (size_t)((t0 + t) / G) * (size_t)n;
        float *o = xa + (size_t)t * ldxa;
        for (j = 0; j < n; j++) o[j] = xr[j] * ar[j];
    }
}
/* out[t][k] = in[t][k] * sb[(t0+t)/G][k] (add: out += that); rows of r. */
static void melora__sign_ranks(float *out, const float *in, const float *sb, int64_t t0,
                               int nt, int G, int r, int add) {
    int t, k;
    for (t = 0; t < nt; t++) {
        const float *br = sb + (size_t)((t0 + t) / G) * (size_t)r;
        float *o = out + (size_t)t * (size_t)r;
        const float *i = in + (size_t)t * (size_t)r;
        for (k = 0; k < r; k++) {
            if (add) o[k] += i[k] * br[k];
            else o[k] = i[k] * br[k];
        }
    }
}
/* Flipout's N = (GA*GA)*EA, rows with stride ld. */
static void melora__noise_rows(float *N, size_t ld, const float *GA, const float *EA, int r,
                               int n) {
    int k;
    MELORA__PARALLEL_FOR
    for (k = 0; k < r; k++) {
        int j;
        for (j = 0; j < n; j++)
            N[(size_t)k * ld + j] = melora_sample_elem(0.0f, GA[(size_t)k * (size_t)n + j],
                                                       EA[(size_t)k * (size_t)n + j]);
    }
}

/* ---------------------------------------------------------------- forward pass ---- */
/* u = x A^T (Flipout: + ((x*sa) N^T) * sb); then z += s v B^T with v = u (LoRA, BLoB,
   Flipout), v_t = C_e u_t (Me-LoRA), or, for each MC sample k, z_k += s (u C_k^T) B^T.
   One pass over x and z. */
static void melora__fwd_rows(const melora__pass *ps) {
    /* x is (T,n) and z (T,m) (MC: (E,T,m)) in d.dtype, u and v (T,r) float32 */
    int n = ps->d.n, m = ps->d.m, r = ps->d.r, c;
    melora_dtype dt = ps->d.dtype;
    size_t ldn = ps->ws.ldn, ldm = ps->ws.ldm, ldr = ps->ws.ldr;
    size_t zk = (size_t)ps->d.T * (size_t)m * melora__esize(dt); /* bytes per MC sample */
    /* transposed form: u for the whole chunk in one product, so that each slice of A^T is
       reused by all its rows (per block, A^T streams again every 32 rows); half rows are
       widened block by block, so they, and Flipout (u beside its noise term), form u per
       block */
    int chunk_u = ps->At && !ps->N && dt == MELORA_FP32;
    MELORA__PARALLEL_FOR
    for (c = 0; c < ps->ws.nc; c++) {
        float *sc = ps->S1 ? melora__scratch_rows(ps->S1, c, (size_t)r) : NULL;
        int hs = melora__half_slot(c, ps->ws.nc);
        float *hx = ps->HX ? melora__scratch_rows(ps->HX, hs, ldn) : NULL;
        float *hz = ps->HZ ? melora__scratch_rows(ps->HZ, hs, MELORA__SLAB_LD) : NULL;
        int64_t tb, te, t0;
        int k;
        melora__chunk_rows(&tb, &te, c, ps->ws.nc, ps->d.T);
        if (chunk_u)
            melora__gemm(ps->u + (size_t)tb * (size_t)r, (size_t)r, 0,
                         (const float *)ps->x + (size_t)tb * (size_t)n, (size_t)n, 1, ps->At,
                         ldr, (int)(te - tb), r, n, 1);
        for (t0 = tb; t0 < te; t0 += MELORA__RB) {
            int nt = (int)(te - t0 < MELORA__RB ? te - t0 : MELORA__RB);
            size_t ldx = 0;
            /* the dot form reads half x itself where it can */
            int fuse_x = !ps->N && !chunk_u && !ps->At && melora__fused(dt, r);
            const float *xb = fuse_x ? NULL : melora__get_rows(&ldx, ps->x, hx, ldn, dt, t0, nt, n);
            float *ub = ps->u + (size_t)t0 * (size_t)r;
            if (ps->N) { /* u += ((x*sa) N^T) * sb */
                float *xa = melora__scratch_rows(ps->XA, c, ldn);
                melora__sign_rows(xa, ldn, xb, ldx, ps->sa, t0, nt, ps->G, n);
                melora__rows_w(ub, xb, ldx, nt, ps->Ap, ldn, ps->At, ldr, r, n);
                melora__rows_w(sc, xa, ldn, nt, ps->N, ldn, ps->Nt, ldr, r, n);
                melora__sign_ranks(ub, sc, ps->sb, t0, nt, ps->G, r, 1);
#ifdef MELORA__FUSE /* else fuse_x is 0 */
            } else if (fuse_x) {
                melora__rows_dot_half(ub, (const uint16_t *)ps->x + (size_t)t0 * (size_t)n,
                                      (size_t)n, nt, ps->Ap, ldn, r, n, dt);
#endif
            } else if (!chunk_u) {
                melora__rows_w(ub, xb, ldx, nt, ps->Ap, ldn, ps->At, ldr, r, n);
            }
            if (ps->op == MELORA_OP_MELORA_MC_FORWARD) {
                size_t rr = (size_t)r * (size_t)r;
                for (k = 0; k < ps->E; k++) { /* sample k: z_k += s (u C_k^T) B^T */
                    melora__rows_dot(sc, ub, (size_t)r, nt, ps->C + (size_t)k * rr, (size_t)r,
                                     r, r);
                    melora__acc_rows((char *)ps->z + (size_t)k * zk, dt, hz, t0, nt, sc, ps->Bts,
                                     ldm, r, m, NULL, 0, NULL, 0);
                }
            } else if (ps->C) {
                float *vb = ps->v + (size_t)t0 * (size_t)r;
                melora__mix_rows(vb, ub, ps->C, t0, nt, ps->d.T / ps->E, r, 0);
                melora__acc_rows(ps->z, dt, hz, t0, nt, vb, ps->Bts, ldm, r, m, NULL, 0, NULL, 0);
            } else {
                melora__acc_rows(ps->z, dt, hz, t0, nt, ub, ps->Bts, ldm, r, m, NULL, 0, NULL, 0);
            }
        }
    }
}
static void melora__run_forward(melora__pass *ps) {
    int n = ps->d.n, m = ps->d.m, r = ps->d.r;
    melora__scaled_bt(ps->Bts, ps->ws.ldm, ps->B, ps->s, m, r);
    if (ps->At) melora__pack_t(ps->At, ps->ws.ldr, ps->A, (size_t)n, r, n);
    else melora__copy_rows(ps->Ap, ps->ws.ldn, ps->A, r, n); /* the dot form reads rows */
    if (ps->N) {
        melora__noise_rows(ps->N, ps->ws.ldn, ps->GA, ps->EA, r, n);
        if (ps->Nt) melora__pack_t(ps->Nt, ps->ws.ldr, ps->N, ps->ws.ldn, r, n);
    }
    melora__fwd_rows(ps);
}

/* --------------------------------------------------------------- backward pass ---- */
/* dv = s dz B; PB_c += uB^T dz (uB = v for Me-LoRA, else u); du = dv, or dv C_e
   (Me-LoRA); PA_c += du^T x; dx += du A. Flipout adds, with dn = du * sb: PN_c +=
   dn^T (x*sa) and dx += (dn N) * sa. Me-LoRA keeps dv (T,r) for dC. One pass over dz, x
   and dx; a block of dz and x is reused from cache. */
static void melora__bwd_rows(const melora__pass *ps) {
    /* x and dx are (T,n), dz (T,m) in d.dtype; u, v, dv (T,r) float32 */
    int n = ps->d.n, m = ps->d.m, r = ps->d.r, c;
    melora_dtype dt = ps->d.dtype;
    size_t ldn = ps->ws.ldn, ldm = ps->ws.ldm, rn = (size_t)r * ldn, rm = (size_t)r * ldm;
    const float *uB = ps->op == MELORA_OP_MELORA_BACKWARD ? ps->v : ps->u;
    MELORA__PARALLEL_FOR
    for (c = 0; c < ps->ws.nc; c++) {
        float *pa = ps->PA ? ps->PA + (size_t)c * rn : NULL;
        float *pn = ps->PN ? ps->PN + (size_t)c * rn : NULL;
        float *pb = ps->PB ? ps->PB + (size_t)c * rm : NULL;
        float *s1 = melora__scratch_rows(ps->S1, c, (size_t)r);
        float *s2 = melora__scratch_rows(ps->S2, c, (size_t)r);
        int hs = melora__half_slot(c, ps->ws.nc);
        float *hx = ps->HX ? melora__scratch_rows(ps->HX, hs, ldn) : NULL;
        float *hdz = ps->HZ ? melora__scratch_rows(ps->HZ, hs, ldm) : NULL;
        float *hdx = ps->HDX ? melora__scratch_rows(ps->HDX, hs, MELORA__SLAB_LD) : NULL;
        int64_t tb, te, t0;
        if (pa) memset(pa, 0, rn * sizeof(float));
        if (pn) memset(pn, 0, rn * sizeof(float));
        if (pb) memset(pb, 0, rm * sizeof(float));
        melora__chunk_rows(&tb, &te, c, ps->ws.nc, ps->d.T);
        for (t0 = tb; t0 < te; t0 += MELORA__RB) {
            int nt = (int)(te - t0 < MELORA__RB ? te - t0 : MELORA__RB);
            size_t lddz, ldx = 0;
            const float *dzb = melora__get_rows(&lddz, ps->dz, hdz, ldm, dt, t0, nt, m);
            const float *xb = pa || pn ? melora__get_rows(&ldx, ps->x, hx, ldn, dt, t0, nt, n)
                                       : NULL; /* x is read by the gradients alone */
            float *dvb = ps->DV ? ps->DV + (size_t)t0 * (size_t)r : s1, *dub = dvb, *dnb = s2;
            melora__rows_w(dvb, dzb, lddz, nt, ps->Bts, ldm, ps->Bs, ps->ws.ldr, r, m);
            if (pb)
                melora__outer_acc(pb, ldm, r, uB + (size_t)t0 * (size_t)r, dzb, lddz, nt, m);
            if (ps->C) {
                dub = s2;
                melora__mix_rows(dub, dvb, ps->C, t0, nt, ps->d.T / ps->E, r, 1);
            }
            if (ps->N) melora__sign_ranks(dnb, dub, ps->sb, t0, nt, ps->G, r, 0);
            if (pa) melora__outer_acc(pa, ldn, r, dub, xb, ldx, nt, n);
            if (pn) {
                float *xa = melora__scratch_rows(ps->XA, c, ldn);
                melora__sign_rows(xa, ldn, xb, ldx, ps->sa, t0, nt, ps->G, n);
                melora__outer_acc(pn, ldn, r, dnb, xa, ldn, nt, n);
            }
            if (ps->dx) { /* dx += du A, Flipout + (dn N) * sa; rounded once */
                float *tmp = ps->N ? melora__scratch_rows(ps->TMP, c, ldn) : NULL;
                if (tmp) {
                    memset(tmp, 0, (size_t)nt * ldn * sizeof(float));
                    melora__rows_axpy(tmp, ldn, nt, dnb, ps->N, ldn, r, n);
                }
                melora__acc_rows(ps->dx, dt, hdx, t0, nt, dub, ps->Ap, ldn, r, n, tmp, ldn,
                                 ps->sa, ps->G);
            }
        }
    }
}
/* dC_e = dv_e^T u_e, examples and their rows in order (O(T r^2), vectorised over r):
   each block of RB rows is summed in float registers, the blocks in double, so the error
   does not grow with T (a batch of 1M tokens is one long sum over t); then dM += sum_e
   dC_e, dH += sum_e dC_e * EC_e * 2H. */
static void melora__reduce_dc(const melora__pass *ps) {
    int r = ps->d.r, per = ps->d.T / ps->E, e;
    size_t rr = (size_t)r * (size_t)r;
    float *DC = melora__region(ps->work, &ps->ws, MELORA__R_DC);
    double *DCD = (double *)(void *)melora__region(ps->work, &ps->ws, MELORA__R_DCD);
    double *GM = DCD + rr, *GH = GM + rr;
    int64_t q;
    for (q = 0; q < (int64_t)(2 * rr); q++) GM[q] = 0.0;
    for (e = 0; e < ps->E; e++) {
        int64_t t0, t1 = (int64_t)(e + 1) * per;
        const float *ECe = ps->dH ? ps->EC + (size_t)e * rr : NULL;
        for (q = 0; q < (int64_t)rr; q++) DCD[q] = 0.0;
        for (t0 = (int64_t)e * per; t0 < t1; t0 += MELORA__RB) {
            int nt = (int)(t1 - t0 < MELORA__RB ? t1 - t0 : MELORA__RB);
            melora__gemm(DC, (size_t)r, 0, ps->DV + (size_t)t0 * (size_t)r, 1, (size_t)r,
                         ps->u + (size_t)t0 * (size_t)r, (size_t)r, r, r, nt, 0);
            for (q = 0; q < (int64_t)rr; q++) DCD[q] += (double)DC[q];
        }
        for (q = 0; q < (int64_t)rr; q++) {
            float dce = (float)DCD[q];
            GM[q] += (double)dce;
            if (ECe) GH[q] += (double)melora_dstd_elem(dce, ps->H[q], ECe[q]);
        }
    }
    for (q = 0; q < (int64_t)rr; q++) {
        if (ps->dM) ps->dM[q] += (float)GM[q];
        if (ps->dH) ps->dH[q] += (float)GH[q];
    }
}
static void melora__run_backward(melora__pass *ps) {
    int n = ps->d.n, m = ps->d.m, r = ps->d.r, nc = ps->ws.nc;
    int flip = melora__is_flipout(ps->op);
    size_t ldn = ps->ws.ldn;
    if (!ps->dx && !ps->dA && !ps->dGA && !ps->dB && !ps->dM && !ps->dH) return;
    melora__scaled_bt(ps->Bts, ps->ws.ldm, ps->B, ps->s, m, r);
    melora__copy_rows(ps->Ap, ldn, ps->A, r, n);
    if (ps->N) melora__noise_rows(ps->N, ldn, ps->GA, ps->EA, r, n);
    if (ps->Bs) melora__pack_sb(ps->Bs, ps->ws.ldr, ps->B, ps->s, m, r);
    melora__bwd_rows(ps);
    /* BLoB: dMA += dAs and dGA += dAs * EA * 2GA from one partial; Flipout: dGA from N's */
    if (ps->PA)
        melora__reduce_rows(ps->dA, flip ? NULL : ps->dGA, ps->PA, nc, r, n, ldn, ps->GA,
                            ps->EA);
    if (ps->PN)
        melora__reduce_rows(NULL, ps->dGA, ps->PN, nc, r, n, ldn, ps->GA, ps->EA);
    if (ps->PB) melora__reduce_db(ps->dB, ps->PB, nc, ps->s, m, r, ps->ws.ldm);
    if (ps->DV) melora__reduce_dc(ps);
}

/* ------------------------------------------------------------ workspace and noise -- */
MELORA_DEF melora_status melora_workspace_size(size_t *bytes, melora_op op, melora_dims d) {
    melora__ws ws;
    MELORA__REQUIRE(bytes != NULL, MELORA_ERR_NULL);
    MELORA__TRY(melora__layout(&ws, op, d));
    *bytes = ws.total;
    return MELORA_OK;
}

MELORA_DEF melora_status melora_draw_offset(uint64_t *offset, uint64_t draw) {
    MELORA__REQUIRE(offset != NULL, MELORA_ERR_NULL);
    MELORA__REQUIRE(draw < ((uint64_t)1 << (64 - MELORA_DRAW_BITS)), MELORA_ERR_VALUE);
    *offset = draw << MELORA_DRAW_BITS;
    return MELORA_OK;
}

/* A planned draw, tensor by tensor (each call's counts are checked by the plan). */
static melora_status melora__draw_run(const melora__draw_plan *p, uint64_t seed) {
    int i;
    for (i = 0; i < p->nt; i++) {
        MELORA__TRY(melora__check_count(p->out[i], (int64_t)p->count[i]));
        melora__noise_blocks(p->out[i], seed, p->off[i], (int64_t)p->count[i], p->stream[i]);
    }
    return MELORA_OK;
}

MELORA_DEF melora_status melora_blob_noise(float *EA, uint64_t seed, uint64_t draw, int r,
                                           int n) {
    float *t[3] = {EA, NULL, NULL};
    melora_dims d = {0, n, 0, r, MELORA_FP32}; /* EA is (r,n) */
    melora__draw_plan p;
    MELORA__TRY(melora__plan_draw(&p, MELORA__DRAW_BLOB, t, draw, 0, 0, d));
    return melora__draw_run(&p, seed);
}

MELORA_DEF melora_status melora_blob_flipout_noise(float *EA, float *sa, float *sb,
                                                   uint64_t seed, uint64_t draw, int G,
                                                   melora_dims d) {
    float *t[3] = {EA, sa, sb}; /* (r,n), (ceil(T/G),n), (ceil(T/G),r) */
    melora__draw_plan p;
    MELORA__TRY(melora__plan_draw(&p, MELORA__DRAW_FLIPOUT, t, draw, 0, G, d));
    return melora__draw_run(&p, seed);
}

MELORA_DEF melora_status melora_melora_noise(float *EC, uint64_t seed, uint64_t draw, int E,
                                             int r) {
    float *t[3] = {EC, NULL, NULL};
    melora_dims d = {0, 0, 0, r, MELORA_FP32}; /* EC is (E,r,r) */
    melora__draw_plan p;
    MELORA__TRY(melora__plan_draw(&p, MELORA__DRAW_MELORA, t, draw, E, 0, d));
    return melora__draw_run(&p, seed);
}

/* A fast pass: its preamble, then its skeleton. */
static melora_status melora__forward(melora__pass *ps, melora_work work, int present) {
    MELORA__TRY(melora__prepare(ps, &work, present));
    melora__run_forward(ps);
    return MELORA_OK;
}
static melora_status melora__backward(melora__pass *ps, melora_work work, int present) {
    MELORA__TRY(melora__prepare(ps, &work, present));
    melora__run_backward(ps);
    return MELORA_OK;
}

/* --------------------------------------------------------------------------- LoRA -- */
MELORA_DEF melora_status melora_lora_forward(void *z, const melora_lora_saved *sv,
                                             melora_work work, const melora_lora_params *p,
                                             melora_dims d) {
    melora__pass ps;
    MELORA__REQUIRE(sv && p, MELORA_ERR_NULL);
    ps = melora__lora_pass(MELORA_OP_LORA_FORWARD, z, NULL, sv, NULL, p, d);
    return melora__forward(&ps, work, MELORA__LORA_PRESENT(ps));
}
MELORA_DEF melora_status melora_lora_backward(void *dx, const melora_lora_grads *g,
                                              const melora_lora_saved *sv, melora_work work,
                                              const void *dz, const melora_lora_params *p,
                                              melora_dims d) {
    melora__pass ps;
    MELORA__REQUIRE(sv && p, MELORA_ERR_NULL);
    ps = melora__lora_pass(MELORA_OP_LORA_BACKWARD, dx, g, sv, dz, p, d);
    return melora__backward(&ps, work, MELORA__LORA_PRESENT(ps));
}

/* --------------------------------------------------------------------------- BLoB -- */
static void melora__sample(float *out, const float *mean, const float *g, const float *eps,
                           size_t count) {
    int64_t i;
    MELORA__PARALLEL_FOR
    for (i = 0; i < (int64_t)count; i++)
        out[i] = melora_sample_elem(mean ? mean[i] : 0.0f, g[i], eps[i]);
}

MELORA_DEF melora_status melora_blob_sample(float *As, const melora_blob_params *p,
                                            const float *EA, int r, int n) {
    size_t cnt;
    MELORA__REQUIRE(p != NULL, MELORA_ERR_NULL);
    MELORA__REQUIRE(As && p->MA && p->GA && EA, MELORA_ERR_NULL);
    MELORA__REQUIRE(r > 0 && n > 0, MELORA_ERR_SIZE);
    MELORA__TRY(melora__elems(&cnt, (size_t)r, (size_t)n, 1));
    {
        melora__buf b[] = {{As, MELORA__FB(r, n), 1}, {p->MA, MELORA__FB(r, n), 0},
                           {p->GA, MELORA__FB(r, n), 0}, {EA, MELORA__FB(r, n), 0}};
        MELORA__TRY(melora__check_alias(b, MELORA__NBUF(b)));
    }
    melora__sample(As, p->MA, p->GA, EA, cnt);
    return MELORA_OK;
}
/* Every check of melora_lora_forward (with As, MA, GA and EA in the table) before As is
   written; then the LoRA forward with A = As. */
MELORA_DEF melora_status melora_blob_forward(void *z, const melora_lora_saved *sv, float *As,
                                             melora_work work, const melora_blob_params *p,
                                             const float *EA, melora_dims d) {
    melora__pass ps;
    MELORA__REQUIRE(sv && p, MELORA_ERR_NULL);
    ps = melora__pass_of(MELORA_OP_LORA_FORWARD, d, p->s, z, NULL);
    ps.u = sv->u; ps.As = As; ps.x = sv->x; ps.MA = p->MA; ps.GA = p->GA; ps.EA = EA;
    ps.B = p->B;
    MELORA__TRY(melora__prepare(&ps, &work, ps.u && As && ps.x && ps.MA && ps.GA && EA && ps.B));
    melora__sample(As, ps.MA, ps.GA, EA, (size_t)d.r * (size_t)d.n);
    ps.A = As;
    ps.MA = ps.GA = ps.EA = NULL; /* the pass itself is LoRA's */
    melora__run_forward(&ps);
    return MELORA_OK;
}
/* The LoRA backward with A = As; the one partial of dAs gives dMA and dGA (p->MA unread). */
MELORA_DEF melora_status melora_blob_backward(void *dx, const melora_blob_grads *g,
                                              const melora_lora_saved *sv, melora_work work,
                                              const void *dz, const melora_blob_params *p,
                                              const melora_blob_draw *dr, melora_dims d) {
    melora__pass ps;
    MELORA__REQUIRE(sv && p && dr, MELORA_ERR_NULL);
    ps = melora__pass_of(MELORA_OP_LORA_BACKWARD, d, p->s, dx, dz);
    ps.u = sv->u; ps.x = sv->x; ps.A = dr->As; ps.GA = p->GA; ps.EA = dr->EA; ps.B = p->B;
    if (g) { ps.dA = g->dMA; ps.dGA = g->dGA; ps.dB = g->dB; }
    return melora__backward(&ps, work, MELORA__LORA_PRESENT(ps) && ps.GA && ps.EA);
}

MELORA_DEF melora_status melora_blob_flipout_forward(void *z, const melora_lora_saved *sv,
                                                     melora_work work,
                                                     const melora_blob_params *p,
                                                     const melora_flipout_noise *nz,
                                                     melora_dims d) {
    melora__pass ps;
    MELORA__REQUIRE(sv && p && nz, MELORA_ERR_NULL);
    ps = melora__flipout_pass(MELORA_OP_FLIPOUT_FORWARD, z, NULL, sv, NULL, p, nz, d);
    return melora__forward(&ps, work, MELORA__FLIPOUT_PRESENT(ps));
}
MELORA_DEF melora_status melora_blob_flipout_backward(void *dx, const melora_blob_grads *g,
                                                      const melora_lora_saved *sv,
                                                      melora_work work, const void *dz,
                                                      const melora_blob_params *p,
                                                      const melora_flipout_noise *nz,
                                                      melora_dims d) {
    melora__pass ps;
    MELORA__REQUIRE(sv && p && nz, MELORA_ERR_NULL);
    ps = melora__flipout_pass(MELORA_OP_FLIPOUT_BACKWARD, dx, g, sv, dz, p, nz, d);
    return melora__backward(&ps, work, MELORA__FLIPOUT_PRESENT(ps));
}

/* ------------------------------------------------------------------------ Me-LoRA -- */
MELORA_DEF melora_status melora_melora_sample(float *C, const melora_melora_params *p,
                                              const float *EC, int E, int r) {
    size_t rr;
    int e;
    MELORA__REQUIRE(p != NULL, MELORA_ERR_NULL);
    MELORA__REQUIRE(C && p->M && p->H && EC, MELORA_ERR_NULL);
    MELORA__REQUIRE(E > 0 && r > 0, MELORA_ERR_SIZE);
    MELORA__TRY(melora__elems(&rr, (size_t)E, (size_t)r, (size_t)r)); /* C is (E,r,r) */
    rr = (size_t)r * (size_t)r;
    {
        melora__buf b[] = {{C, MELORA__FB(rr, E), 1}, {p->M, MELORA__FB(rr, 1), 0},
                           {p->H, MELORA__FB(rr, 1), 0}, {EC, MELORA__FB(rr, E), 0}};
        MELORA__TRY(melora__check_alias(b, MELORA__NBUF(b)));
    }
    for (e = 0; e < E; e++) {
        size_t i;
        for (i = 0; i < rr; i++)
            C[(size_t)e * rr + i] = melora_sample_elem(p->M[i], p->H[i], EC[(size_t)e * rr + i]);
    }
    return MELORA_OK;
}
MELORA_DEF melora_status melora_melora_forward(void *z, const melora_melora_saved *sv,
                                               melora_work work,
                                               const melora_melora_params *p,
                                               const melora_melora_draw *dr, melora_dims d) {
    melora__pass ps;
    MELORA__REQUIRE(sv && p && dr, MELORA_ERR_NULL);
    ps = melora__melora_pass(MELORA_OP_MELORA_FORWARD, z, NULL, sv, NULL, p, dr, d);
    return melora__forward(&ps, work, MELORA__MELORA_PRESENT(ps));
}
MELORA_DEF melora_status melora_melora_backward(void *dx, const melora_melora_grads *g,
                                                const melora_melora_saved *sv,
                                                melora_work work, const void *dz,
                                                const melora_melora_params *p,
                                                const melora_melora_draw *dr, melora_dims d) {
    melora__pass ps;
    MELORA__REQUIRE(sv && p && dr, MELORA_ERR_NULL);
    ps = melora__melora_pass(MELORA_OP_MELORA_BACKWARD, dx, g, sv, dz, p, dr, d);
    return melora__backward(&ps, work, MELORA__MELORA_PRESENT(ps));
}
MELORA_DEF melora_status melora_melora_mc_forward(void *z, const melora_lora_saved *sv,
                                                  melora_work work,
                                                  const melora_melora_params *p,
                                                  const float *C, int K, melora_dims d) {
    melora__pass ps;
    MELORA__REQUIRE(sv && p, MELORA_ERR_NULL);
    ps = melora__pass_of(MELORA_OP_MELORA_MC_FORWARD, d, p->s, z, NULL);
    ps.u = sv->u; ps.x = sv->x; ps.A = p->A; ps.C = C; ps.E = K; ps.B = p->B;
    return melora__forward(&ps, work, MELORA__LORA_PRESENT(ps) && C);
}

/* ---------------------------------------------------------------------------- KLs -- */
/* KL of N(mu, (g*g)^2) against N(0, sigma^2) over `count` entries, in double with a fixed
   summation order; gradients with respect to mu and g, times weight, added. */
static melora_status melora__diag_kl(double *kl, float *dmu, float *dg, const float *mu,
                                     const float *g, float sigma, float weight, size_t count) {
    double sum = 0.0, s2 = (double)sigma * (double)sigma, ls = log((double)sigma);
    size_t i;
    MELORA__REQUIRE(melora__finite(sigma) && sigma > 0.0f, MELORA_ERR_VALUE);
    MELORA__REQUIRE(melora__finite(weight), MELORA_ERR_VALUE);
    {
        melora__buf b[] = {{kl, sizeof(double), 1}, {dmu, count * sizeof(float), 1},
                           {dg, count * sizeof(float), 1}, {mu, count * sizeof(float), 0},
                           {g, count * sizeof(float), 0}};
        MELORA__TRY(melora__check_alias(b, MELORA__NBUF(b)));
    }
    for (i = 0; i < count; i++) {
        MELORA__REQUIRE(melora__finite(g[i]) && melora__finite(mu[i]), MELORA_ERR_VALUE);
        MELORA__REQUIRE((double)g[i] * (double)g[i] > 0.0, MELORA_ERR_VALUE);
        sum += melora__kl_term(mu[i], g[i], ls, s2);
    }
    for (i = 0; i < count; i++) {
        double gi = g[i];
        if (dmu) dmu[i] += (float)melora__kl_dmean(weight, mu[i], s2);
        if (dg) dg[i] += (float)melora__kl_dstd(weight, gi * gi, gi, s2);
    }
    *kl = sum;
    return MELORA_OK;
}

MELORA_DEF melora_status melora_blob_kl(double *kl, const melora_blob_grads *g,
                                        const melora_blob_params *p, float sigma_p,
                                        float weight, int r, int n) {
    /* MA, GA, dMA, dGA are (r,n) */
    size_t cnt;
    MELORA__REQUIRE(p != NULL, MELORA_ERR_NULL);
    MELORA__REQUIRE(kl && p->MA && p->GA, MELORA_ERR_NULL);
    MELORA__REQUIRE(r > 0 && n > 0, MELORA_ERR_SIZE);
    MELORA__TRY(melora__elems(&cnt, (size_t)r, (size_t)n, 1));
    return melora__diag_kl(kl, g ? g->dMA : NULL, g ? g->dGA : NULL, p->MA, p->GA, sigma_p,
                           weight, cnt);
}

MELORA_DEF melora_status melora_melora_kl_exact(double *kl, const melora_melora_grads *g,
                                                const melora_melora_params *p, float sigma,
                                                float weight, int r) {
    /* M, H, dM, dH are (r,r) */
    size_t cnt;
    MELORA__REQUIRE(p != NULL, MELORA_ERR_NULL);
    MELORA__REQUIRE(kl && p->M && p->H, MELORA_ERR_NULL);
    MELORA__REQUIRE(r > 0, MELORA_ERR_SIZE);
    MELORA__TRY(melora__elems(&cnt, (size_t)r, (size_t)r, 1));
    return melora__diag_kl(kl, g ? g->dM : NULL, g ? g->dH : NULL, p->M, p->H, sigma, weight,
                           cnt);
}

/* Paper eq. 7 (see the declaration); P = M A and S = Om |A| are (r,n) doubles in work. */
static melora_status melora__eq7(double *kl, const melora_melora_grads *g, melora_work work,
                                 const melora_melora_params *prm, float sigma, float weight,
                                 int r, int n) {
    melora__ws ws;
    melora_dims d;
    const float *A, *M, *H;
    float *dA, *dM, *dH;
    double *P, *S, s2, sp = 0.0, ss = 0.0, slog = 0.0, amax = 0.0, mmax = 0.0, omax = 0.0;
    size_t rr, i;
    int64_t ii;
    int presum;
    d.T = 1; d.n = n; d.m = 1; d.r = r; d.dtype = MELORA_FP32;
    MELORA__TRY(melora__work_fits(&ws, work, MELORA_OP_MELORA_KL, d));
    A = prm->A; M = prm->M; H = prm->H;
    dA = g ? g->dA : NULL; dM = g ? g->dM : NULL; dH = g ? g->dH : NULL;
    MELORA__REQUIRE(kl && A && M && H, MELORA_ERR_NULL);
    MELORA__REQUIRE(melora__finite(sigma) && sigma > 0.0f, MELORA_ERR_VALUE);
    MELORA__REQUIRE(melora__finite(weight), MELORA_ERR_VALUE);
    MELORA__TRY(melora__elems(&rr, (size_t)r, (size_t)r, 1)); /* M, H are (r,r) */
    {
        melora__buf b[] = {{kl, sizeof(double), 1}, {dA, MELORA__FB(r, n), 1},
                           {dM, MELORA__FB(r, r), 1}, {dH, MELORA__FB(r, r), 1},
                           {work.base, ws.total, 1}, {A, MELORA__FB(r, n), 0},
                           {M, MELORA__FB(r, r), 0}, {H, MELORA__FB(r, r), 0}};
        MELORA__TRY(melora__check_alias(b, MELORA__NBUF(b)));
    }
    for (i = 0; i < rr; i++) {
        double om = (double)H[i] * (double)H[i];
        MELORA__REQUIRE(melora__finite(M[i]) && melora__finite(H[i]), MELORA_ERR_VALUE);
        MELORA__REQUIRE(H[i] != 0.0f, MELORA_ERR_VALUE);
        slog += log(om);
        mmax = fabs((double)M[i]) > mmax ? fabs((double)M[i]) : mmax;
        omax = om > omax ? om : omax;
    }
    /* Every input is checked before P and S go into the workspace, so an error writes
       nothing. Finite inputs can still give a KL past double's range (|H| near 2^64 with a
       tiny sigma): when the a-priori bound below allows that, the sums are formed first
       without storing, in the order of the stored pass. */
    for (i = 0; i < (size_t)r * (size_t)n; i++) {
        MELORA__REQUIRE(melora__finite(A[i]), MELORA_ERR_VALUE);
        amax = fabs((double)A[i]) > amax ? fabs((double)A[i]) : amax;
    }
    s2 = (double)sigma * (double)sigma;
    {
        /* |P_ij| <= r mmax amax, |S_ij| <= r omax amax; twice the bound covers rounding */
        double cnt = (double)r * (double)r * (double)r * (double)n;
        double bp = mmax * amax, bs = omax * amax;
        double bound = 2.0 * cnt * (bp * bp + bs * bs) / (2.0 * s2);
        presum = !melora__finite_d(bound);
    }
    if (presum) {
        for (i = 0; i < (size_t)r * (size_t)n; i++) {
            size_t row = i / (size_t)n, j = i % (size_t)n, k;
            double p = 0.0, q = 0.0;
            for (k = 0; k < (size_t)r; k++) {
                double ak = A[k * (size_t)n + j];
                double hk = H[row * (size_t)r + k];
                p += (double)M[row * (size_t)r + k] * ak;
                q += hk * hk * fabs(ak);
            }
            sp += p * p;
            ss += q * q;
        }
        MELORA__REQUIRE(melora__finite_d((sp + ss) / (2.0 * s2)), MELORA_ERR_VALUE);
    }
    P = (double *)(void *)melora__region(work.base, &ws, MELORA__R_KLP);
    S = (double *)(void *)melora__region(work.base, &ws, MELORA__R_KLS);
    MELORA__PARALLEL_FOR
    for (ii = 0; ii < (int64_t)r; ii++) {
        int k, j;
        double *p = P + (size_t)ii * (size_t)n, *q = S + (size_t)ii * (size_t)n;
        for (j = 0; j < n; j++) p[j] = q[j] = 0.0;
        for (k = 0; k < r; k++) {
            double mk = M[(size_t)ii * (size_t)r + k];
            double ok = (double)H[(size_t)ii * (size_t)r + k] * H[(size_t)ii * (size_t)r + k];
            const float *ak = A + (size_t)k * (size_t)n;
            for (j = 0; j < n; j++) {
                p[j] += mk * ak[j];
                q[j] += ok * fabs((double)ak[j]);
            }
        }
    }
    if (!presum)
        for (i = 0; i < (size_t)r * (size_t)n; i++) {
            sp += P[i] * P[i];
            ss += S[i] * S[i];
        }
    *kl = (sp + ss) / (2.0 * s2) - slog;
    MELORA_ASSERT(melora__finite_d(*kl)); /* the bound above, or the pre-pass */
    if (dM || dH) {
        MELORA__PARALLEL_FOR
        for (ii = 0; ii < (int64_t)rr; ii++) {
            size_t row = (size_t)ii / (size_t)r, k = (size_t)ii % (size_t)r;
            const double *p = P + row * (size_t)n, *q = S + row * (size_t)n;
            const float *ak = A + k * (size_t)n;
            double gm = 0.0, go = 0.0, h = H[ii];
            int j;
            for (j = 0; j < n; j++) {
                gm += p[j] * ak[j];
                go += q[j] * fabs((double)ak[j]);
            }
            if (dM) dM[ii] += (float)melora__kl_dmean(weight, gm, s2);
            if (dH) dH[ii] += (float)melora__kl_dstd(weight, go, h, s2);
        }
    }
    if (dA) {
        MELORA__PARALLEL_FOR
        for (ii = 0; ii < (int64_t)n; ii++) {
            int k, row;
            for (k = 0; k < r; k++) {
                double g1 = 0.0, g2 = 0.0, a = A[(size_t)k * (size_t)n + (size_t)ii];
                for (row = 0; row < r; row++) {
                    double h = H[(size_t)row * (size_t)r + k];
                    g1 += (double)M[(size_t)row * (size_t)r + k] * P[(size_t)row * (size_t)n + (size_t)ii];
                    g2 += h * h * S[(size_t)row * (size_t)n + (size_t)ii];
                }
                g2 *= (a > 0.0) ? 1.0 : (a < 0.0 ? -1.0 : 0.0);
                dA[(size_t)k * (size_t)n + (size_t)ii] +=
                    (float)melora__kl_dmean(weight, g1 + g2, s2);
            }
        }
    }
    return MELORA_OK;
}

MELORA_DEF melora_status melora_melora_kl(double *kl, const melora_melora_grads *g,
                                          melora_work work, const melora_melora_params *p,
                                          float sigma, float weight, int r, int n) {
    MELORA__REQUIRE(p != NULL, MELORA_ERR_NULL);
    return melora__eq7(kl, g, work, p, sigma, weight, r, n);
}
/* eq. 8: eq. 7 with sigma = sigma_p + eps */
MELORA_DEF melora_status melora_melora_kl_prior_noise(double *kl, const melora_melora_grads *g,
                                                      melora_work work,
                                                      const melora_melora_params *p,
                                                      float sigma_p, float eps, float weight,
                                                      int r, int n) {
    melora__ws ws;
    melora_dims d;
    d.T = 1; d.n = n; d.m = 1; d.r = r; d.dtype = MELORA_FP32;
    MELORA__REQUIRE(p != NULL, MELORA_ERR_NULL);
    MELORA__TRY(melora__work_fits(&ws, work, MELORA_OP_MELORA_KL, d));
    MELORA__REQUIRE(melora__finite(eps) && eps >= 0.0f && eps < 1.0f, MELORA_ERR_VALUE);
    MELORA__REQUIRE(melora__finite(sigma_p) && sigma_p > 0.0f, MELORA_ERR_VALUE);
    return melora__eq7(kl, g, work, p, sigma_p + eps, weight, r, n);
}

/* ---------------------------------------------------------------- naive references -- */
/* Straight loops in double, one per operation; the scratch they allocate is theirs (they
   are references). Each checks its call with the fast path's preamble (no workspace). */
static melora_status melora__alloc_d(double **p, size_t a, size_t b) {
    size_t cnt;
    MELORA__TRY(melora__elems(&cnt, a, b, 1));
    *p = (double *)MELORA_MALLOC(cnt * sizeof(double));
    MELORA__REQUIRE(*p != NULL, MELORA_ERR_ALLOC);
    return MELORA_OK;
}
/* Half-precision activations in the references: x, dz and the rows accumulated into (z
   or dx, as they are before the call) widened exactly to float32 copies; the float32
   reference runs on them (d = w.d), and melora__narrow rounds its z or dx once into the
   caller's buffer. */
typedef struct {
    float *x, *dz, *out;
    size_t nout;
    melora_dims d;
} melora__wide;
static void melora__wide_free(melora__wide *w) {
    MELORA_FREE(w->x);
    MELORA_FREE(w->dz);
    MELORA_FREE(w->out);
}
static float *melora__widen_copy(const void *in, melora_dtype dt, size_t count, int *fail) {
    float *c;
    if (!in || *fail) return NULL;
    c = (float *)MELORA_MALLOC(count * sizeof(float));
    if (!c) { *fail = 1; return NULL; }
    melora__to_f32(c, in, dt, count);
    return c;
}
static melora_status melora__widen(melora__wide *w, const melora__pass *ps) {
    melora_dims d = ps->d;
    size_t tn = (size_t)d.T * (size_t)d.n, tm = (size_t)d.T * (size_t)d.m;
    int fail = 0;
    int fwd = melora__is_forward(ps->op);
    w->d = d;
    w->d.dtype = MELORA_FP32;
    w->nout = fwd ? tm : tn;
    w->x = melora__widen_copy(ps->x, d.dtype, tn, &fail);
    w->dz = fwd ? NULL : melora__widen_copy(ps->dz, d.dtype, tm, &fail);
    w->out = melora__widen_copy(fwd ? ps->z : ps->dx, d.dtype, w->nout, &fail);
    if (fail) {
        melora__wide_free(w);
        return MELORA_ERR_ALLOC;
    }
    return MELORA_OK;
}
static melora_status melora__narrow(melora__wide *w, const melora__pass *ps, melora_status st) {
    void *out = melora__is_forward(ps->op) ? ps->z : ps->dx;
    if (st == MELORA_OK && out) melora__from_f32(out, ps->d.dtype, w->out, w->nout);
    melora__wide_free(w);
    return st;
}
/* Flipout's noise N = (GA*GA)*EA (r,n), in scratch of its own */
static melora_status melora__naive_noise(float **N, const float *GA, const float *EA, int r,
                                         int n) {
    size_t i, rn = (size_t)r * (size_t)n;
    *N = (float *)MELORA_MALLOC(rn * sizeof(float));
    MELORA__REQUIRE(*N != NULL, MELORA_ERR_ALLOC);
    for (i = 0; i < rn; i++) (*N)[i] = melora_sample_elem(0.0f, GA[i], EA[i]);
    return MELORA_OK;
}
/* sum_j a[j] b[j] in double, j in order */
static double melora__dot_d(const float *a, const float *b, int len) {
    double acc = 0.0;
    int j;
    for (j = 0; j < len; j++) acc += (double)a[j] * b[j];
    return acc;
}
/* u_t = x_t A^T: the first product of the naive LoRA and Me-LoRA forwards */
static void melora__naive_u(float *ut, const float *xt, const float *A, int n, int r) {
    int k;
    for (k = 0; k < r; k++) ut[k] = (float)melora__dot_d(xt, A + (size_t)k * (size_t)n, n);
}
/* z_t += s B v_t: one row of every naive forward */
static void melora__naive_out(float *zt, const float *B, float s, const float *vt, int m,
                              int r) {
    int i;
    for (i = 0; i < m; i++)
        zt[i] += (float)((double)s * melora__dot_d(B + (size_t)i * (size_t)r, vt, r));
}
/* dv = s dz B (T,r) in double: the first product of every naive backward */
static void melora__naive_dv(double *dv, const float *dz, const float *B, float s, int T,
                             int m, int r) {
    int t, i, k;
    for (t = 0; t < T; t++)
        for (k = 0; k < r; k++) {
            double acc = 0.0;
            for (i = 0; i < m; i++)
                acc += (double)dz[(size_t)t * (size_t)m + i] * B[(size_t)i * (size_t)r + k];
            dv[(size_t)t * (size_t)r + k] = (double)s * acc;
        }
}
/* dB += s dz^T uB (uB = u, or v for Me-LoRA) */
static void melora__naive_db(float *dB, const float *dz, const float *uB, float s, int T,
                             int m, int r) {
    int t, i, k;
    for (i = 0; i < m; i++)
        for (k = 0; k < r; k++) {
            double acc = 0.0;
            for (t = 0; t < T; t++)
                acc += (double)dz[(size_t)t * (size_t)m + i] * uB[(size_t)t * (size_t)r + k];
            dB[(size_t)i * (size_t)r + k] += (float)((double)s * acc);
        }
}
/* dA += du^T x and dx += du A, du (T,r) in double */
static void melora__naive_dadx(float *dA, float *dx, const double *du, const float *x,
                               const float *A, int T, int n, int r) {
    int t, j, k;
    if (dA)
        for (k = 0; k < r; k++)
            for (j = 0; j < n; j++) {
                double acc = 0.0;
                for (t = 0; t < T; t++)
                    acc += du[(size_t)t * (size_t)r + k] * (double)x[(size_t)t * (size_t)n + j];
                dA[(size_t)k * (size_t)n + j] += (float)acc;
            }
    if (dx)
        for (t = 0; t < T; t++)
            for (j = 0; j < n; j++) {
                double acc = 0.0;
                for (k = 0; k < r; k++)
                    acc += du[(size_t)t * (size_t)r + k] * A[(size_t)k * (size_t)n + j];
                dx[(size_t)t * (size_t)n + j] += (float)acc;
            }
}

/* u = x A^T;  z += s u B^T */
MELORA_DEF melora_status melora_lora_forward_naive(void *zv, const melora_lora_saved *sv,
                                                   const melora_lora_params *p,
                                                   melora_dims d) {
    float *z = (float *)zv;
    melora__pass ps;
    int t, n = d.n, r = d.r;
    MELORA__REQUIRE(sv && p, MELORA_ERR_NULL);
    ps = melora__lora_pass(MELORA_OP_LORA_FORWARD, z, NULL, sv, NULL, p, d);
    MELORA__TRY(melora__prepare(&ps, NULL, MELORA__LORA_PRESENT(ps)));
    if (d.dtype != MELORA_FP32) { /* the float32 reference on widened copies */
        melora__wide w;
        melora_lora_saved sw = *sv;
        MELORA__TRY(melora__widen(&w, &ps));
        sw.x = w.x;
        return melora__narrow(&w, &ps, melora_lora_forward_naive(w.out, &sw, p, w.d));
    }
    for (t = 0; t < d.T; t++) {
        float *ut = sv->u + (size_t)t * (size_t)r;
        melora__naive_u(ut, ((const float *)sv->x) + (size_t)t * (size_t)n, p->A, n, r);
        melora__naive_out(z + (size_t)t * (size_t)d.m, p->B, p->s, ut, d.m, r);
    }
    return MELORA_OK;
}

/* du = s dz B;  dB += s dz^T u;  dA += du^T x;  dx += du A */
MELORA_DEF melora_status melora_lora_backward_naive(void *dxv, const melora_lora_grads *g,
                                                    const melora_lora_saved *sv,
                                                    const void *dzv,
                                                    const melora_lora_params *p,
                                                    melora_dims d) {
    float *dx = (float *)dxv;
    const float *dz = (const float *)dzv;
    melora__pass ps;
    double *du;
    MELORA__REQUIRE(sv && p, MELORA_ERR_NULL);
    ps = melora__lora_pass(MELORA_OP_LORA_BACKWARD, dx, g, sv, dz, p, d);
    MELORA__TRY(melora__prepare(&ps, NULL, MELORA__LORA_PRESENT(ps)));
    if (d.dtype != MELORA_FP32) { /* the float32 reference on widened copies */
        melora__wide w;
        melora_lora_saved sw = *sv;
        MELORA__TRY(melora__widen(&w, &ps));
        sw.x = w.x;
        return melora__narrow(&w, &ps, melora_lora_backward_naive(w.out, g, &sw, w.dz, p, w.d));
    }
    MELORA__TRY(melora__alloc_d(&du, (size_t)d.T, (size_t)d.r));
    melora__naive_dv(du, dz, p->B, p->s, d.T, d.m, d.r);
    if (ps.dB) melora__naive_db(ps.dB, dz, sv->u, p->s, d.T, d.m, d.r);
    melora__naive_dadx(ps.dA, dx, du, ((const float *)sv->x), p->A, d.T, d.n, d.r);
    MELORA_FREE(du);
    return MELORA_OK;
}

/* N = (GA*GA)*EA;  u_t = x_t MA^T + ((x_t * sa_g) N^T) * sb_g;  z += s u B^T */
MELORA_DEF melora_status melora_blob_flipout_forward_naive(void *zv,
                                                           const melora_lora_saved *sv,
                                                           const melora_blob_params *p,
                                                           const melora_flipout_noise *nz,
                                                           melora_dims d) {
    float *z = (float *)zv;
    melora__pass ps;
    float *N;
    int t, k, j, n = d.n, r = d.r;
    MELORA__REQUIRE(sv && p && nz, MELORA_ERR_NULL);
    ps = melora__flipout_pass(MELORA_OP_FLIPOUT_FORWARD, z, NULL, sv, NULL, p, nz, d);
    MELORA__TRY(melora__prepare(&ps, NULL, MELORA__FLIPOUT_PRESENT(ps)));
    if (d.dtype != MELORA_FP32) { /* the float32 reference on widened copies */
        melora__wide w;
        melora_lora_saved sw = *sv;
        MELORA__TRY(melora__widen(&w, &ps));
        sw.x = w.x;
        return melora__narrow(&w, &ps, melora_blob_flipout_forward_naive(w.out, &sw, p, nz, w.d));
    }
    MELORA__TRY(melora__naive_noise(&N, p->GA, nz->EA, r, n));
    for (t = 0; t < d.T; t++) {
        const float *xt = ((const float *)sv->x) + (size_t)t * (size_t)n;
        const float *sat = nz->sa + (size_t)(t / nz->G) * (size_t)n;
        const float *sbt = nz->sb + (size_t)(t / nz->G) * (size_t)r;
        float *ut = sv->u + (size_t)t * (size_t)r;
        for (k = 0; k < r; k++) {
            double acc = melora__dot_d(xt, p->MA + (size_t)k * (size_t)n, n), noise = 0.0;
            const float *Nk = N + (size_t)k * (size_t)n;
            for (j = 0; j < n; j++) noise += (double)xt[j] * sat[j] * Nk[j];
            ut[k] = (float)(acc + noise * sbt[k]);
        }
        melora__naive_out(z + (size_t)t * (size_t)d.m, p->B, p->s, ut, d.m, r);
    }
    MELORA_FREE(N);
    return MELORA_OK;
}

/* du = s dz B;  dB += s dz^T u;  dMA += du^T x;  dN = (du*sb)^T (x*sa);
   dGA += dN * EA * 2GA;  dx += du MA + ((du*sb) N) * sa */
MELORA_DEF melora_status melora_blob_flipout_backward_naive(void *dxv,
                                                            const melora_blob_grads *g,
                                                            const melora_lora_saved *sv,
                                                            const void *dzv,
                                                            const melora_blob_params *p,
                                                            const melora_flipout_noise *nz,
                                                            melora_dims d) {
    float *dx = (float *)dxv;
    const float *dz = (const float *)dzv;
    melora__pass ps;
    float *N;
    double *du;
    int t, k, j, n = d.n, r = d.r, G;
    MELORA__REQUIRE(sv && p && nz, MELORA_ERR_NULL);
    ps = melora__flipout_pass(MELORA_OP_FLIPOUT_BACKWARD, dx, g, sv, dz, p, nz, d);
    MELORA__TRY(melora__prepare(&ps, NULL, MELORA__FLIPOUT_PRESENT(ps)));
    if (d.dtype != MELORA_FP32) { /* the float32 reference on widened copies */
        melora__wide w;
        melora_lora_saved sw = *sv;
        MELORA__TRY(melora__widen(&w, &ps));
        sw.x = w.x;
        return melora__narrow(&w, &ps, melora_blob_flipout_backward_naive(w.out, g, &sw, w.dz, p, nz, w.d));
    }
    MELORA__TRY(melora__naive_noise(&N, p->GA, nz->EA, r, n));
    if (melora__alloc_d(&du, (size_t)d.T, (size_t)r) != MELORA_OK) {
        MELORA_FREE(N);
        return MELORA_ERR_ALLOC;
    }
    G = nz->G;
    melora__naive_dv(du, dz, p->B, p->s, d.T, d.m, r);
    if (ps.dB) melora__naive_db(ps.dB, dz, sv->u, p->s, d.T, d.m, r);
    if (ps.dA || ps.dGA)
        for (k = 0; k < r; k++)
            for (j = 0; j < n; j++) {
                size_t q = (size_t)k * (size_t)n + j;
                double acc = 0.0, accn = 0.0;
                for (t = 0; t < d.T; t++) {
                    double dut = du[(size_t)t * (size_t)r + k];
                    double xv = ((const float *)sv->x)[(size_t)t * (size_t)n + j];
                    acc += dut * xv;
                    accn += dut * nz->sb[(size_t)(t / G) * (size_t)r + k] * xv *
                            nz->sa[(size_t)(t / G) * (size_t)n + j];
                }
                if (ps.dA) ps.dA[q] += (float)acc;
                if (ps.dGA) ps.dGA[q] += (float)(accn * nz->EA[q] * 2.0 * p->GA[q]);
            }
    if (dx)
        for (t = 0; t < d.T; t++)
            for (j = 0; j < n; j++) {
                double acc = 0.0;
                for (k = 0; k < r; k++) {
                    double dut = du[(size_t)t * (size_t)r + k];
                    size_t q = (size_t)k * (size_t)n + j;
                    acc += dut * p->MA[q];
                    acc += dut * nz->sb[(size_t)(t / G) * (size_t)r + k] * N[q] *
                           nz->sa[(size_t)(t / G) * (size_t)n + j];
                }
                dx[(size_t)t * (size_t)n + j] += (float)acc;
            }
    MELORA_FREE(du);
    MELORA_FREE(N);
    return MELORA_OK;
}

/* u = x A^T;  v_t = C_e u_t;  z += s v B^T */
MELORA_DEF melora_status melora_melora_forward_naive(void *zv, const melora_melora_saved *sv,
                                                     const melora_melora_params *p,
                                                     const melora_melora_draw *dr,
                                                     melora_dims d) {
    float *z = (float *)zv;
    melora__pass ps;
    int t, j, n = d.n, r = d.r;
    size_t rr = (size_t)r * (size_t)r;
    MELORA__REQUIRE(sv && p && dr, MELORA_ERR_NULL);
    ps = melora__melora_pass(MELORA_OP_MELORA_FORWARD, z, NULL, sv, NULL, p, dr, d);
    MELORA__TRY(melora__prepare(&ps, NULL, MELORA__MELORA_PRESENT(ps)));
    if (d.dtype != MELORA_FP32) { /* the float32 reference on widened copies */
        melora__wide w;
        melora_melora_saved sw = *sv;
        MELORA__TRY(melora__widen(&w, &ps));
        sw.x = w.x;
        return melora__narrow(&w, &ps, melora_melora_forward_naive(w.out, &sw, p, dr, w.d));
    }
    for (t = 0; t < d.T; t++) {
        const float *Ce = dr->C + (size_t)(t / (d.T / dr->E)) * rr;
        float *ut = sv->u + (size_t)t * (size_t)r, *vt = sv->v + (size_t)t * (size_t)r;
        melora__naive_u(ut, ((const float *)sv->x) + (size_t)t * (size_t)n, p->A, n, r);
        for (j = 0; j < r; j++) vt[j] = (float)melora__dot_d(Ce + (size_t)j * (size_t)r, ut, r);
        melora__naive_out(z + (size_t)t * (size_t)d.m, p->B, p->s, vt, d.m, r);
    }
    return MELORA_OK;
}

/* dv = s dz B;  dB += s dz^T v;  du_t = C_e^T dv_t;  dA += du^T x;  dx += du A;
   dC_e = dv_e^T u_e;  dM += sum_e dC_e;  dH += sum_e dC_e * EC_e * 2H */
MELORA_DEF melora_status melora_melora_backward_naive(void *dxv, const melora_melora_grads *g,
                                                      const melora_melora_saved *sv,
                                                      const void *dzv,
                                                      const melora_melora_params *p,
                                                      const melora_melora_draw *dr,
                                                      melora_dims d) {
    float *dx = (float *)dxv;
    const float *dz = (const float *)dzv;
    melora__pass ps;
    double *dv, *du;
    int t, j, k, e, r = d.r, per;
    size_t rr = (size_t)r * (size_t)r;
    MELORA__REQUIRE(sv && p && dr, MELORA_ERR_NULL);
    ps = melora__melora_pass(MELORA_OP_MELORA_BACKWARD, dx, g, sv, dz, p, dr, d);
    MELORA__TRY(melora__prepare(&ps, NULL, MELORA__MELORA_PRESENT(ps)));
    if (d.dtype != MELORA_FP32) { /* the float32 reference on widened copies */
        melora__wide w;
        melora_melora_saved sw = *sv;
        MELORA__TRY(melora__widen(&w, &ps));
        sw.x = w.x;
        return melora__narrow(&w, &ps, melora_melora_backward_naive(w.out, g, &sw, w.dz, p, dr, w.d));
    }
    MELORA__TRY(melora__alloc_d(&dv, (size_t)d.T, (size_t)r));
    if (melora__alloc_d(&du, (size_t)d.T, (size_t)r) != MELORA_OK) {
        MELORA_FREE(dv);
        return MELORA_ERR_ALLOC;
    }
    per = d.T / dr->E;
    melora__naive_dv(dv, dz, p->B, p->s, d.T, d.m, r);
    for (t = 0; t < d.T; t++) {
        const float *Ce = dr->C + (size_t)(t / per) * rr;
        for (k = 0; k < r; k++) {
            double acc = 0.0;
            for (j = 0; j < r; j++)
                acc += dv[(size_t)t * (size_t)r + j] * Ce[(size_t)j * (size_t)r + k];
            du[(size_t)t * (size_t)r + k] = acc;
        }
    }
    if (ps.dB) melora__naive_db(ps.dB, dz, sv->v, p->s, d.T, d.m, r);
    melora__naive_dadx(ps.dA, dx, du, ((const float *)sv->x), p->A, d.T, d.n, r);
    if (ps.dM || ps.dH)
        for (j = 0; j < r; j++)
            for (k = 0; k < r; k++) {
                size_t q = (size_t)j * (size_t)r + k;
                double gm = 0.0, gh = 0.0;
                for (e = 0; e < dr->E; e++) {
                    double dc = 0.0;
                    for (t = e * per; t < (e + 1) * per; t++)
                        dc += dv[(size_t)t * (size_t)r + j] * sv->u[(size_t)t * (size_t)r + k];
                    gm += dc;
                    if (ps.dH) gh += dc * dr->EC[(size_t)e * rr + q] * 2.0 * p->H[q];
                }
                if (ps.dM) ps.dM[q] += (float)gm;
                if (ps.dH) ps.dH[q] += (float)gh;
            }
    MELORA_FREE(dv);
    MELORA_FREE(du);
    return MELORA_OK;
}

/* ------------------------------------------------------------------------ counting -- */
static int melora__mul64(int64_t *out, int64_t a, int64_t b) {
    if (a < 0 || b < 0 || (a != 0 && b > INT64_MAX / a)) return 0;
    *out = a * b;
    return 1;
}
static int melora__add64(int64_t *acc, int64_t v) {
    if (v < 0 || *acc > INT64_MAX - v) return 0;
    *acc += v;
    return 1;
}

MELORA_DEF melora_status melora_count_params(int64_t *params, melora_method method,
                                             int64_t m, int64_t n, int64_t r) {
    int64_t rn = 0, rm = 0, rr = 0, total = 0; /* set by the && chain below before any use */
    MELORA__REQUIRE(params != NULL, MELORA_ERR_NULL);
    MELORA__REQUIRE((int)method >= 0 && method < MELORA_METHOD_COUNT_, MELORA_ERR_ENUM);
    MELORA__REQUIRE(m > 0 && n > 0 && r > 0, MELORA_ERR_SIZE);
    MELORA__REQUIRE(melora__mul64(&rn, r, n) && melora__mul64(&rm, r, m) &&
                        melora__mul64(&rr, r, r),
                    MELORA_ERR_OVERFLOW);
    MELORA__REQUIRE(melora__add64(&total, rn) && melora__add64(&total, rm), MELORA_ERR_OVERFLOW);
    if (method == MELORA_METHOD_BLOB || method == MELORA_METHOD_BLOB_FLIPOUT)
        MELORA__REQUIRE(melora__add64(&total, rn), MELORA_ERR_OVERFLOW);
    if (method == MELORA_METHOD_MELORA)
        MELORA__REQUIRE(melora__add64(&total, rr) && melora__add64(&total, rr),
                        MELORA_ERR_OVERFLOW);
    *params = total;
    return MELORA_OK;
}

static melora_status melora__check_mods(const melora_module *mods, int nmods) {
    int i;
    MELORA__REQUIRE(mods != NULL, MELORA_ERR_NULL);
    MELORA__REQUIRE(nmods > 0, MELORA_ERR_SIZE);
    for (i = 0; i < nmods; i++)
        MELORA__REQUIRE(mods[i].m > 0 && mods[i].n > 0 && mods[i].count > 0, MELORA_ERR_SIZE);
    return MELORA_OK;
}

MELORA_DEF melora_status melora_count_model_params(int64_t *params, melora_method method,
                                                   const melora_module *mods, int nmods,
                                                   int64_t r) {
    int64_t total = 0, one, all;
    int i;
    MELORA__REQUIRE(params != NULL, MELORA_ERR_NULL);
    MELORA__TRY(melora__check_mods(mods, nmods));
    for (i = 0; i < nmods; i++) {
        MELORA__TRY(melora_count_params(&one, method, mods[i].m, mods[i].n, r));
        MELORA__REQUIRE(melora__mul64(&all, one, mods[i].count) && melora__add64(&total, all),
                        MELORA_ERR_OVERFLOW);
    }
    *params = total;
    return MELORA_OK;
}

MELORA_DEF melora_status melora_dtype_size(int64_t *bytes, melora_dtype dtype) {
    MELORA__REQUIRE(bytes != NULL, MELORA_ERR_NULL);
    switch (dtype) {
    case MELORA_FP32: *bytes = 4; return MELORA_OK;
    case MELORA_BF16:
    case MELORA_FP16: *bytes = 2; return MELORA_OK;
    default: return MELORA_ERR_ENUM;
    }
}

/* The published shapes (config.json of each model; GPT-3 from its paper, Table 2.1). */
MELORA_DEF melora_status melora_model_shape(melora_model_info *out, melora_model model) {
    /*  name           hidden layers heads kv  hd   interm.  vocab  pos gated bias tied */
    static const melora_model_info t[MELORA_MODEL_COUNT_] = {
        {"Llama-2-7B",   4096, 32, 32, 32, 128, 11008, 32000, 0, 1, 0, 0},
        {"Llama-2-13B",  5120, 40, 40, 40, 128, 13824, 32000, 0, 1, 0, 0},
        {"Llama-2-70B",  8192, 80, 64, 8, 128, 28672, 32000, 0, 1, 0, 0},
        {"Llama-3-8B",   4096, 32, 32, 8, 128, 14336, 128256, 0, 1, 0, 0},
        {"Llama-3-70B",  8192, 80, 64, 8, 128, 28672, 128256, 0, 1, 0, 0},
        {"Mistral-7B",   4096, 32, 32, 8, 128, 14336, 32000, 0, 1, 0, 0},
        {"GPT-3 175B",  12288, 96, 96, 96, 128, 49152, 50257, 2048, 0, 1, 1},
    };
    MELORA__REQUIRE(out != NULL, MELORA_ERR_NULL);
    MELORA__REQUIRE((int)model >= 0 && model < MELORA_MODEL_COUNT_, MELORA_ERR_ENUM);
    *out = t[model];
    return MELORA_OK;
}

/* Shape of module kind i (0 q, 1 k, 2 v, 3 o, 4 gate, 5 up, 6 down); 0 if absent. */
static int melora__module_shape(const melora_model_info *s, int i, int64_t *m, int64_t *n) {
    int64_t d = s->hidden, q = s->heads * s->head_dim, kv = s->kv_heads * s->head_dim;
    int64_t ff = s->intermediate;
    switch (i) {
    case 0: *m = q; *n = d; return 1;
    case 1: case 2: *m = kv; *n = d; return 1;
    case 3: *m = d; *n = q; return 1;
    case 4: if (!s->gated_mlp) return 0; *m = ff; *n = d; return 1;
    case 5: *m = ff; *n = d; return 1;
    case 6: *m = d; *n = ff; return 1;
    default: return 0;
    }
}

MELORA_DEF melora_status melora_preset(melora_module *mods, int cap, int *nmods,
                                       melora_model model, unsigned mask) {
    static const char *names[7] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                   "gate_proj", "up_proj", "down_proj"};
    melora_model_info s;
    int64_t m, n;
    int i, cnt = 0, need = 0;
    MELORA__REQUIRE(mods && nmods, MELORA_ERR_NULL);
    MELORA__REQUIRE(mask != 0 && (mask & ~(unsigned)MELORA_MOD_ALL) == 0, MELORA_ERR_ENUM);
    MELORA__TRY(melora_model_shape(&s, model));
    for (i = 0; i < 7; i++) need += ((mask >> i) & 1u) && melora__module_shape(&s, i, &m, &n);
    MELORA__REQUIRE(need > 0, MELORA_ERR_ENUM);
    MELORA__REQUIRE(cap >= need, MELORA_ERR_CAPACITY);
    for (i = 0; i < 7; i++) {
        if (!((mask >> i) & 1u) || !melora__module_shape(&s, i, &m, &n)) continue;
        mods[cnt].name = s.gated_mlp || i < 4 ? names[i] : i == 5 ? "fc1" : "fc2";
        mods[cnt].m = m;
        mods[cnt].n = n;
        mods[cnt].count = s.layers;
        cnt++;
    }
    *nmods = cnt;
    return MELORA_OK;
}

MELORA_DEF melora_status melora_count_base_params(int64_t *params, melora_model model) {
    melora_model_info s;
    int64_t m, n, per = 0, total = 0;
    int i;
    MELORA__REQUIRE(params != NULL, MELORA_ERR_NULL);
    MELORA__TRY(melora_model_shape(&s, model));
    for (i = 0; i < 7; i++) {
        if (!melora__module_shape(&s, i, &m, &n)) continue;
        per += m * n + (s.biases ? m : 0);
    }
    per += (s.biases ? 4 : 2) * s.hidden;                 /* two norms per block */
    total = s.layers * per + (s.biases ? 2 : 1) * s.hidden /* final norm */
            + s.vocab * s.hidden * (s.tied_embeddings ? 1 : 2) + s.positions * s.hidden;
    *params = total; /* at most ~2^38 for these shapes: no overflow */
    return MELORA_OK;
}

MELORA_DEF melora_status melora_count_train_memory_mixed(melora_train_memory *out,
                                                         melora_method method,
                                                         const melora_module *mods, int nmods,
                                                         const melora_train_setup *st,
                                                         melora_dtype state_dtype,
                                                         melora_dtype act_dtype) {
    int64_t ssz, asz, params, act = 0, noise = 0, signs = 0, w, r, T, E, G;
    int i;
    melora_train_memory res;
    MELORA__REQUIRE(out && st, MELORA_ERR_NULL);
    r = st->r; T = st->T; E = st->E; G = st->G;
    MELORA__TRY(melora__check_mods(mods, nmods));
    MELORA__TRY(melora_dtype_size(&ssz, state_dtype));
    MELORA__TRY(melora_dtype_size(&asz, act_dtype));
    MELORA__REQUIRE(r > 0 && T > 0 && E > 0 && G > 0, MELORA_ERR_SIZE);
    MELORA__REQUIRE(method != MELORA_METHOD_MELORA || T % E == 0, MELORA_ERR_DIVISIBILITY);
    MELORA__TRY(melora_count_model_params(&params, method, mods, nmods, r));
    for (i = 0; i < nmods; i++) {
        int64_t per = 0, nz = 0, sg = 0, c = mods[i].count;
        MELORA__REQUIRE(melora__mul64(&per, T, r), MELORA_ERR_OVERFLOW);
        if (method == MELORA_METHOD_MELORA) MELORA__REQUIRE(melora__mul64(&per, per, 2), MELORA_ERR_OVERFLOW);
        if (method == MELORA_METHOD_BLOB || method == MELORA_METHOD_BLOB_FLIPOUT)
            MELORA__REQUIRE(melora__mul64(&nz, r, mods[i].n), MELORA_ERR_OVERFLOW);
        if (method == MELORA_METHOD_BLOB_FLIPOUT) {
            int64_t groups = (T - 1) / G + 1; /* ceil(T/G) without overflow */
            MELORA__REQUIRE(mods[i].n <= INT64_MAX - r && melora__mul64(&sg, groups, mods[i].n + r),
                            MELORA_ERR_OVERFLOW);
        }
        if (method == MELORA_METHOD_MELORA)
            MELORA__REQUIRE(melora__mul64(&nz, E, r) && melora__mul64(&nz, nz, r), MELORA_ERR_OVERFLOW);
        MELORA__REQUIRE(melora__mul64(&w, per, c) && melora__add64(&act, w), MELORA_ERR_OVERFLOW);
        MELORA__REQUIRE(melora__mul64(&w, nz, c) && melora__add64(&noise, w), MELORA_ERR_OVERFLOW);
        MELORA__REQUIRE(melora__mul64(&w, sg, c) && melora__add64(&signs, w), MELORA_ERR_OVERFLOW);
    }
    if (st->noise_regenerated) noise = signs = 0;
    MELORA__REQUIRE(melora__mul64(&res.params, params, ssz) &&
                        melora__mul64(&act, act, asz) && melora__mul64(&noise, noise, ssz) &&
                        melora__mul64(&signs, signs, asz) && melora__add64(&noise, signs),
                    MELORA_ERR_OVERFLOW);
    res.grads = res.params;
    MELORA__REQUIRE(melora__mul64(&res.adam, res.params, 2), MELORA_ERR_OVERFLOW);
    res.activations = act;
    res.noise = noise;
    res.total = 0;
    MELORA__REQUIRE(melora__add64(&res.total, res.params) &&
                        melora__add64(&res.total, res.grads) &&
                        melora__add64(&res.total, res.adam) &&
                        melora__add64(&res.total, act) && melora__add64(&res.total, noise),
                    MELORA_ERR_OVERFLOW);
    *out = res; /* nothing is written on error */
    return MELORA_OK;
}

MELORA_DEF melora_status melora_count_train_memory(melora_train_memory *out,
                                                   melora_method method,
                                                   const melora_module *mods, int nmods,
                                                   const melora_train_setup *st,
                                                   melora_dtype dtype) {
    return melora_count_train_memory_mixed(out, method, mods, nmods, st, dtype, dtype);
}

#if defined(MELORA__CONTRACT_POP) && MELORA__CONTRACT_POP == 1
#pragma float_control(pop)
#elif defined(MELORA__CONTRACT_POP) && MELORA__CONTRACT_POP == 2
#pragma GCC pop_options
#endif
#ifdef MELORA__DIAG_POP
#pragma GCC diagnostic pop
#endif
#endif /* MELORA_IMPLEMENTATION_DONE */
#endif /* MELORA_IMPLEMENTATION */

/*
------------------------------------------------------------------------------
MIT License

Copyright (c) 2026 the melora authors

Permission is hereby granted, free of charge, to any person obtaining a copy of
this software and associated documentation files (the "Software"), to deal in
the Software without restriction, including without limitation the rights to
use, copy, modify, merge, publish, distribute, sublicense, and/or sell copies
of the Software, and to permit persons to whom the Software is furnished to do
so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
------------------------------------------------------------------------------
*/
