/* bench/machine.h - this machine's limits, measured with the library's OpenMP threads,
   and the work model that turns them into a lower bound for one step:
     mlb_fma_gflops()                   the FMA rate (also callable alone)
     mlb_measure_machine(&mc, reps)     triad, read-only sum, FMA rate, LoRA's traffic
     mlb_work_model(&sh, method)        bytes and flops one forward + backward must move/run
     mlb_lower_bound(&w, &mc)           max(bytes / bw, flops / peak), seconds
   and LoRA's traffic without its arithmetic as a step (mlb__traffic_fwd/bwd), which
   bench/step.h times among the methods as MLB_TRAFFIC. */
#ifndef MELORA_BENCH_MACHINE_H
#define MELORA_BENCH_MACHINE_H

#include "mlb_base.h"
#include "methods.h"
#include "timing.h"

typedef struct {
    double triad_gbs, read_gbs, bw_gbs, peak_gflops;
    int threads;
    double lora_stream_gbs; /* a kernel with LoRA's traffic at T=1200, n=m=4096, no math */
} mlb_machine;

typedef struct { double bytes, flops; } mlb_work;

/* Sum of a row of len floats, 16-lane vectors and 4 accumulators (reads it once). */
static float mlb__row_sum(const float *p, long len) {
    mlb__v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, v;
    long j = 0;
    float t = 0.0f;
    int l;
    for (; j + 64 <= len; j += 64) {
        memcpy(&v, p + j, sizeof v); a0 += v;
        memcpy(&v, p + j + 16, sizeof v); a1 += v;
        memcpy(&v, p + j + 32, sizeof v); a2 += v;
        memcpy(&v, p + j + 48, sizeof v); a3 += v;
    }
    a0 += a1 + a2 + a3;
    for (l = 0; l < 16; l++) t += a0[l];
    for (; j < len; j++) t += p[j];
    return t;
}
/* LoRA's traffic: forward z_t += q * sum(x_t); backward dx_t += q * sum(dz_t) + q' x_t. */
static void mlb__traffic_fwd(float *z, const float *x, int T, int n, int m) {
    long t;
#pragma omp parallel for schedule(static)
    for (t = 0; t < (long)T; t++) {
        float g = 1e-6f * mlb__row_sum(x + (size_t)t * (size_t)n, n);
        float *zr = z + (size_t)t * (size_t)m;
        long j;
        for (j = 0; j < (long)m; j++) zr[j] += g;
    }
}
static void mlb__traffic_bwd(float *dx, const float *dz, const float *x, int T, int n, int m) {
    long t;
#pragma omp parallel for schedule(static)
    for (t = 0; t < (long)T; t++) {
        float g = 1e-6f * mlb__row_sum(dz + (size_t)t * (size_t)m, m);
        float *dr = dx + (size_t)t * (size_t)n;
        const float *xr = x + (size_t)t * (size_t)n;
        long j;
        for (j = 0; j < (long)n; j++) dr[j] += g + 1e-6f * xr[j];
    }
}

/* The same traffic with bf16 activations (half the bytes), as integer operations on the
   bit patterns so that only the bytes cost: a row of x or dz is read into a bit sum, and
   z += (sum >> 31), dx += (sum >> 31) + (x >> 15) on the 16-bit patterns. Every term is 0
   for the bench's positive fills (4096 patterns < 2^31), so z and dx keep the values the
   methods work on (no NaN or subnormal patterns appear), but the compiler cannot drop the
   reads or the stores. */
typedef uint32_t mlb__u16 __attribute__((vector_size(64)));
typedef uint16_t mlb__h16 __attribute__((vector_size(32)));
static uint16_t mlb__row_bits_bf16(const uint16_t *p, long len) {
    mlb__u16 a0 = {0}, a1 = {0};
    mlb__h16 h;
    long j = 0;
    uint32_t t = 0;
    int l;
    for (; j + 32 <= len; j += 32) {
        memcpy(&h, p + j, sizeof h); a0 += __builtin_convertvector(h, mlb__u16);
        memcpy(&h, p + j + 16, sizeof h); a1 += __builtin_convertvector(h, mlb__u16);
    }
    a0 += a1;
    for (l = 0; l < 16; l++) t += a0[l];
    for (; j < len; j++) t += p[j];
    return (uint16_t)(t >> 31);
}
static void mlb__traffic_fwd_bf16(uint16_t *z, const uint16_t *x, int T, int n, int m) {
    long t;
#pragma omp parallel for schedule(static)
    for (t = 0; t < (long)T; t++) {
        uint16_t g = mlb__row_bits_bf16(x + (size_t)t * (size_t)n, n);
        uint16_t *zr = z + (size_t)t * (size_t)m;
        long j;
        for (j = 0; j < (long)m; j++) zr[j] = (uint16_t)(zr[j] + g);
    }
}
static void mlb__traffic_bwd_bf16(uint16_t *dx, const uint16_t *dz, const uint16_t *x, int T,
                                  int n, int m) {
    long t;
#pragma omp parallel for schedule(static)
    for (t = 0; t < (long)T; t++) {
        uint16_t g = mlb__row_bits_bf16(dz + (size_t)t * (size_t)m, m);
        uint16_t *dr = dx + (size_t)t * (size_t)n;
        const uint16_t *xr = x + (size_t)t * (size_t)n;
        long j;
        for (j = 0; j < (long)n; j++) dr[j] = (uint16_t)(dr[j] + g + (xr[j] >> 15));
    }
}

/* The FMA rate, with the current OpenMP threads: 24 (AVX-512) or 12 independent chains per thread of the
   widest fused multiply-add the compiler targets (intrinsics, so that -std=c99's
   -ffp-contract=off cannot split them into a multiply and an add), held in registers.
   A well-tuned sgemm lands below it. GFLOP/s, 1 FMA = 2 flops. */
#if defined(__AVX512F__)
#include <immintrin.h>
typedef __m512 mlb__vf;
#define MLB__LANES 16
#define MLB__CHAINS 24 /* of 32 registers; 16-register ISAs take 12 (2 ports x 4 cycles = 8 in flight) */
#define MLB__FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define MLB__SET1(x) _mm512_set1_ps(x)
#define MLB__STORE(p, v) _mm512_storeu_ps(p, v)
#elif defined(__AVX__) && defined(__FMA__)
#include <immintrin.h>
typedef __m256 mlb__vf;
#define MLB__LANES 8
#define MLB__CHAINS 12
#define MLB__FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define MLB__SET1(x) _mm256_set1_ps(x)
#define MLB__STORE(p, v) _mm256_storeu_ps(p, v)
#else
typedef float mlb__vf __attribute__((vector_size(16)));
#define MLB__LANES 4
#define MLB__CHAINS 12
#define MLB__FMA(a, b, c) ((a) * (b) + (c))
#define MLB__SET1(x) ((mlb__vf){(x), (x), (x), (x)})
#define MLB__STORE(p, v) do { mlb__vf mlb__s = (v); memcpy((p), &mlb__s, sizeof mlb__s); } while (0)
#endif
MLB_API double mlb_fma_gflops(void) {
    const long IT = 2000000;
    int threads = mlb_threads();
    double t0 = mlb_now(), t;
    volatile float sink = 0;
    float total = 0;
#pragma omp parallel reduction(+ : total)
    {
        mlb__vf acc[MLB__CHAINS], mul = MLB__SET1(0.999999f), add = MLB__SET1(1e-7f);
        float lane[MLB__LANES];
        long it;
        int k;
        for (k = 0; k < MLB__CHAINS; k++) acc[k] = MLB__SET1((float)k * 1e-3f);
        for (it = 0; it < IT; it++) { /* spelled out: a loop over k keeps acc in memory */
#define MLB__C(k) acc[k] = MLB__FMA(acc[k], mul, add);
            MLB__C(0) MLB__C(1) MLB__C(2) MLB__C(3) MLB__C(4) MLB__C(5) MLB__C(6) MLB__C(7)
            MLB__C(8) MLB__C(9) MLB__C(10) MLB__C(11)
#if MLB__CHAINS > 12
            MLB__C(12) MLB__C(13) MLB__C(14) MLB__C(15) MLB__C(16) MLB__C(17) MLB__C(18)
            MLB__C(19) MLB__C(20) MLB__C(21) MLB__C(22) MLB__C(23)
#endif
#undef MLB__C
        }
        for (k = 1; k < MLB__CHAINS; k++) acc[0] = acc[0] + acc[k];
        MLB__STORE(lane, acc[0]); /* no address of acc is taken: it stays in registers */
        for (k = 0; k < MLB__LANES; k++) total += lane[k];
    }
    sink += total;
    (void)sink;
    t = mlb_now() - t0;
    return 2.0 * MLB__LANES * MLB__CHAINS * (double)IT * threads / t * 1e-9;
}


/* Each probe runs once and returns its seconds; mlb_measure_machine keeps the best of
   `reps` rounds of all four, interleaved as the methods are. */
/* STREAM-style triad a = b + q c over three arrays of N floats. */
static double mlb__probe_triad(float *a, const float *b, const float *cc, size_t N) {
    double t0 = mlb_now();
    long i;
#pragma omp parallel for schedule(static)
    for (i = 0; i < (long)N; i++) a[i] = b[i] + 0.5f * cc[i];
    return mlb_now() - t0;
}
/* Read-only sum over two arrays (b and cc), 16-lane vectors x 4 accumulators; the sum
   goes to *sink so that the reads cannot be dropped. */
static double mlb__probe_read(const float *b, const float *cc, size_t N, volatile float *sink) {
    double t0 = mlb_now();
    float total = 0;
#pragma omp parallel reduction(+ : total)
    {
        mlb__v16 s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};
        long nv = (long)(N / 16), j, lo, hi;
        int tid = 0, nt = 1;
#ifdef _OPENMP
        tid = omp_get_thread_num();
        nt = omp_get_num_threads();
#endif
        lo = nv * tid / nt;
        hi = nv * (tid + 1) / nt;
        {
            const mlb__v16 *pb = (const mlb__v16 *)(const void *)b;
            const mlb__v16 *pc = (const mlb__v16 *)(const void *)cc;
            for (j = lo; j + 1 < hi; j += 2) {
                s0 += pb[j]; s1 += pb[j + 1]; s2 += pc[j]; s3 += pc[j + 1];
            }
            for (; j < hi; j++) { s0 += pb[j]; s2 += pc[j]; }
        }
        s0 += s1 + s2 + s3;
        for (j = 0; j < 16; j++) total += s0[j];
    }
    *sink += total;
    return mlb_now() - t0;
}
/* LoRA's traffic without its arithmetic at T = 1200, n = m = 4096: forward z += q x,
   backward dx += q dz + q' x (x, z in a; dz, dx in b; 7 arrays of T n floats move). */
static double mlb__probe_lora_stream(float *a, float *b) {
    const long T = 1200, n = 4096;
    float *x = a, *z = a + ((size_t)5 << 20), *dz = b, *dx = b + ((size_t)5 << 20);
    double t0 = mlb_now();
    long row;
#pragma omp parallel for schedule(static)
    for (row = 0; row < T; row++) {
        long j;
        float *zr = z + row * n;
        const float *xr = x + row * n;
        for (j = 0; j < n; j++) zr[j] += 0.5f * xr[j];
    }
#pragma omp parallel for schedule(static)
    for (row = 0; row < T; row++) {
        long j;
        float *dr = dx + row * n;
        const float *gr = dz + row * n, *xr = x + row * n;
        for (j = 0; j < n; j++) dr[j] += 0.5f * gr[j] + 0.25f * xr[j];
    }
    return mlb_now() - t0;
}

MLB_API void mlb_measure_machine(mlb_machine *mc, int reps) {
    const size_t N = (size_t)16 << 20; /* 16 Mi floats = 64 MiB per array */
    float *a = (float *)malloc(N * sizeof(float)), *b = (float *)malloc(N * sizeof(float));
    float *cc = (float *)malloc(N * sizeof(float));
    double best_triad = 1e30, best_read = 1e30, best_fma = 1e30, best_lora = 1e30, t;
    volatile float sink = 0;
    int rep, threads = mlb_threads();
    long i;
    memset(mc, 0, sizeof *mc);
    mc->threads = threads;
    if (!a || !b || !cc) { free(a); free(b); free(cc); return; }
    if (reps < 1) reps = 1;
#pragma omp parallel for schedule(static)
    for (i = 0; i < (long)N; i++) { a[i] = 0; b[i] = 1.0f; cc[i] = 0.5f; }
    for (rep = 0; rep < reps + 1; rep++) { /* round 0 warms up */
        t = mlb__probe_triad(a, b, cc, N);
        if (rep > 0 && t < best_triad) best_triad = t;
        t = mlb__probe_read(b, cc, N, &sink);
        if (rep > 0 && t < best_read) best_read = t;
        t = mlb_fma_gflops();
        if (rep > 0 && (best_fma == 1e30 || t > best_fma)) best_fma = t;
        t = mlb__probe_lora_stream(a, b);
        if (rep > 0 && t < best_lora) best_lora = t;
    }
    (void)sink;
    mc->triad_gbs = 3.0 * (double)N * sizeof(float) / best_triad * 1e-9;
    mc->read_gbs = 2.0 * (double)N * sizeof(float) / best_read * 1e-9;
    mc->lora_stream_gbs = 7.0 * 1200 * 4096 * sizeof(float) / best_lora * 1e-9;
    mc->bw_gbs = mc->triad_gbs > mc->read_gbs ? mc->triad_gbs : mc->read_gbs;
    if (mc->lora_stream_gbs > mc->bw_gbs) mc->bw_gbs = mc->lora_stream_gbs;
    mc->peak_gflops = best_fma;
    free(a); free(b); free(cc);
}

/* Bytes that must cross memory and flops that must run for one forward + backward with
   the activations x, z, dz, dx of dtype dt (mlb_work_model: fp32). Large tensors: forward
   reads x and reads+writes z; backward reads dz and x and reads+writes dx (dx += ...):
   4 T n + 3 T m elements of dt. Parameters, gradients and per-chunk partials
   (O(r(n+m))) are float32 whatever dt, added once each way. Flipout also writes its sign
   matrix sa (T/G, n) in the draw and reads it in the forward and the backward: + 3 T n / G
   floats (the library takes signs as floats). Flops (1 multiply-add = 2): LoRA forward
   2Tr(n+m), backward 4Tr(n+m); Flipout's second product adds 2Tnr forward and 4Tnr
   backward; Me-LoRA adds 6 T r^2 (v = u C^T, dC, du = dv C); folded Me-LoRA adds
   6 r^2 n (A' = C A, dC = dA' A^T, C^T dA') and 6 r n floats (A', dA'). */
MLB_API mlb_work mlb_work_model_dt(const mlb_shape *sh, int method, melora_dtype dt) {
    double T = sh->T, n = sh->n, m = sh->m, r = sh->r, G = sh->G > 0 ? sh->G : 1;
    double fl = 4.0, floats, flops;
    double act = dt == MELORA_FP32 ? 1.0 : 0.5; /* x, z, dz, dx in float32 units */
    mlb_work w;
    floats = act * (4 * T * n + 3 * T * m) + 4 * r * (n + m) + 4 * T * r;
    flops = 6 * T * r * (n + m);
    if (method == MLB_BLOB) floats += 6 * r * n;
    if (method == MLB_FLIPOUT) {
        floats += 3 * (T / G) * n + 6 * r * n;
        flops += 6 * T * n * r;
    }
    if (method == MLB_MELORA_BATCH || method == MLB_MELORA_EXAMPLE) {
        floats += 2 * T * r;
        flops += 6 * T * r * r;
    }
    if (method == MLB_MELORA_FOLDED) {
        floats += 6 * r * n;
        flops += 6 * r * r * n;
    }
    if (method == MLB_TRAFFIC) {
        floats = act * (4 * T * n + 3 * T * m);
        flops = 0;
    }
    w.bytes = floats * fl;
    w.flops = flops;
    return w;
}
MLB_API mlb_work mlb_work_model(const mlb_shape *sh, int method) {
    return mlb_work_model_dt(sh, method, MELORA_FP32);
}

MLB_API double mlb_lower_bound(const mlb_work *w, const mlb_machine *mc) {
    double tb = w->bytes / (mc->bw_gbs * 1e9), tc = w->flops / (mc->peak_gflops * 1e9);
    return tb > tc ? tb : tc;
}


#endif /* MELORA_BENCH_MACHINE_H */
