/* bench/harness.h - time and count the memory of the melora adapters with one code path.

   Used by bench/bench_adapters.c (`make bench`) and by anything else that wants the same
   figures (e.g. paper_repro/). Header-only; every function is static. Include it in the
   file that holds the melora implementation, BEFORE the implementation, and route the
   library's allocator through the counting allocator:

       #include "bench/harness.h"           // declares mlb_* (includes melora.h)
       #define MELORA_MALLOC(bytes) mlb_malloc(bytes)
       #define MELORA_FREE(p) mlb_free(p)
       #define MELORA_IMPLEMENTATION
       #include "melora.h"

   (Without the two defines timing works; the memory functions return MELORA_ERR_VALUE.)
   Compile with -fopenmp to time the threaded library; link -lm.

   METHODS (mlb_method): MLB_LORA, MLB_BLOB (one draw of A per batch), MLB_FLIPOUT (BLoB
   with Flipout signs per group of shape.G tokens), MLB_MELORA_BATCH (one C per batch),
   MLB_MELORA_EXAMPLE (one C per example, shape.E examples), MLB_MELORA_FOLDED (one C per
   batch computed as LoRA with A' = C A: melora_lora_forward/backward with A', then
   dC = dA' A^T, dA += C^T dA', dM += dC, dH += dC * EC * 2H; only v = x A'^T is saved; this
   is composed here from the public API, it is not a library function), and MLB_TRAFFIC, not
   an adapter: a kernel that moves exactly the large-tensor bytes of a LoRA step at the
   shape (forward reads x and updates z, backward reads dz and x and updates dx; row sums
   in 16-lane vectors stand in for the products, rows split over the threads as in the
   library), so that timed among the methods it gives the bandwidth limit of this shape
   under the same conditions. A step of each method draws its noise from the counter RNG
   (inside the forward time, as a training step would), runs the forward and then the
   backward with dz given.

   TIMING
       mlb_shape sh = {T, n, m, r, E, G, alpha};
       int meths[] = {MLB_LORA, MLB_MELORA_BATCH};
       mlb_result res[2];
       int st = mlb_time(res, &sh, meths, 2, warmup, reps);   // 0 or a melora_status
     runs `warmup` untimed rounds and `reps` timed rounds; a round runs every listed
     method once, in the listed order (interleaved, so slow drifts of a shared machine hit
     all methods alike). res[i].fwd / .bwd / .total hold the median, min and max over the
     reps in seconds (total = fwd + bwd of the same step); res[i].ratio is
     res[i].total.med / LoRA's total.med from the same run (LoRA is timed as well when it
     is not listed). reps <= MLB_MAX_REPS. Two more robust ratios on a shared machine:
     res[i].ratio_paired, the median over rounds of the round's total / LoRA's total, and
     res[i].ratio_min = total.min / LoRA's total.min.

   MEMORY (exact, counted by the allocator)
       mlb_memory mem;
       int st = mlb_measure_memory(&mem, &sh, MLB_MELORA_BATCH);
     allocates exactly the buffers one training step of the method needs (trainable
     parameters, gradients, AdamW moments, saved activations, the sample As or C, stored
     noise, library workspace, and the caller's x, z, dz, dx), each through melora_alloc
     and so through the counting allocator, runs one forward + backward, and reports the
     bytes per category (mem.bytes[MLB_CAT_*], payload bytes without melora_alloc's
     alignment slack), the allocator's raw peak during the step (mem.peak_raw) and the
     byte counts melora_count_train_memory gives for the same shape (mem.model, fp32,
     noise stored). Not for MLB_TRAFFIC (MELORA_ERR_ENUM).

   MACHINE LIMITS AND WORK MODEL
       mlb_machine mc;  mlb_measure_machine(&mc, reps);
     measures with the same OpenMP threads as the library: a STREAM-style triad
     a = b + q*c over 3 x 64 MiB arrays, a read-only sum over 2 of them (16-lane vectors,
     4 accumulators per thread), and the FMA rate of 24 (AVX-512) or 12 chains of the widest
     fused multiply-add (intrinsics) held in registers (mlb_fma_gflops(), also callable
     alone at the current thread count); each the best of `reps` repetitions.
     mc.triad_gbs, mc.read_gbs (GB/s = 1e9 B/s; the triad counts 3 arrays, no
     write-allocate), mc.lora_stream_gbs (a kernel that moves exactly the large-tensor bytes
     of a LoRA step at T = 1200, n = m = 4096: z += q x, then dx += q dz + q' x, rows split
     over the threads, 7 arrays of T*n floats), mc.bw_gbs = the largest of the three, and
     mc.peak_gflops (1 FMA = 2 flops).
       mlb_work w = mlb_work_model(&sh, method);
     w.bytes and w.flops of one forward + backward (the data that must cross memory and
     the multiply-adds that must run, see the function), and
       double lb = mlb_lower_bound(&w, &mc);   // max(bytes / bw, flops / peak), seconds

   ALSO
     mlb_method_name(m), mlb_method_key(m) (CSV identifiers), mlb_category_name(c);
     mlb_check_folded(&max_rel): MLB_MELORA_FOLDED against the library's Me-LoRA, 0 if ok;
     mlb_ctx_init(&c, &sh, mask, adam) / mlb_ctx_step(&c, method, &tf, &tb) /
     mlb_ctx_free(&c): the buffers and the step that mlb_time uses, for your own loops;
     mlb_malloc/mlb_free, mlb_set_category(cat), mlb_alloc_current(), mlb_alloc_peak(),
     mlb_alloc_reset_peak(): the counting allocator itself.

   API STABILITY: the names and fields above stay; new ones may be added.
*/
#ifndef MELORA_BENCH_HARNESS_H
#define MELORA_BENCH_HARNESS_H

#include "melora.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__)
#define MLB_UNUSED __attribute__((unused))
#else
#define MLB_UNUSED
#endif
#define MLB_API static MLB_UNUSED

#define MLB_MAX_REPS 64

typedef float mlb__v16 __attribute__((vector_size(64)));

typedef enum {
    MLB_LORA = 0,
    MLB_BLOB,
    MLB_FLIPOUT,
    MLB_MELORA_BATCH,
    MLB_MELORA_EXAMPLE,
    MLB_MELORA_FOLDED, /* one C per batch folded into A, composed from melora_lora_* */
    MLB_TRAFFIC,       /* not an adapter: LoRA's memory traffic without its arithmetic */
    MLB_NMETHODS
} mlb_method;

typedef struct {
    int T, n, m, r; /* tokens, in-features, out-features, rank */
    int E;          /* examples for MLB_MELORA_EXAMPLE (T % E == 0) */
    int G;          /* tokens per Flipout sign group (1 = per token) */
    float alpha;    /* LoRA alpha; s = alpha / r */
} mlb_shape;

typedef struct { double med, min, max; } mlb_stat;   /* seconds */
typedef struct {
    int method;
    int reps;
    mlb_stat fwd, bwd, total;
    double ratio; /* total.med / LoRA total.med, same run */
    double ratio_paired; /* median over rounds of total / LoRA total of the same round */
    double ratio_min;    /* total.min / LoRA total.min (interference only adds time) */
} mlb_result;

/* Memory categories. */
typedef enum {
    MLB_CAT_PARAMS = 0, /* trainable parameters */
    MLB_CAT_GRADS,      /* their gradients */
    MLB_CAT_ADAM,       /* AdamW first and second moments */
    MLB_CAT_ACT,        /* saved for backward: u (T,r); Me-LoRA also v (T,r) */
    MLB_CAT_SAMPLE,     /* the drawn weight kept for backward: BLoB As (r,n), Me-LoRA C (E,r,r) */
    MLB_CAT_NOISE,      /* stored noise: EA, Flipout signs, EC */
    MLB_CAT_WORK,       /* library workspace (melora_workspace_size) */
    MLB_CAT_IO,         /* the caller's x, z, dz, dx (the base layer's tensors) */
    MLB_CAT_OTHER,      /* anything else (library-internal MELORA_MALLOC calls) */
    MLB_NCAT
} mlb_category;

typedef struct {
    int64_t bytes[MLB_NCAT]; /* payload bytes per category */
    int64_t total;           /* sum of bytes[] */
    int64_t peak_raw;        /* allocator peak during setup + one step (raw malloc bytes) */
    int64_t nblocks;         /* blocks allocated */
    size_t work_fwd, work_bwd; /* melora_workspace_size of the forward and backward op */
    melora_train_memory model; /* melora_count_train_memory, same shape, fp32, stored noise */
} mlb_memory;

typedef struct {
    double triad_gbs, read_gbs, bw_gbs, peak_gflops;
    int threads;
    double lora_stream_gbs; /* a kernel with LoRA's traffic at T=1200, n=m=4096, no math */
} mlb_machine;

typedef struct { double bytes, flops; } mlb_work;

/* ------------------------------------------------------------------ names -------- */
MLB_API const char *mlb_method_name(int method) {
    static const char *names[MLB_NMETHODS] = {"LoRA", "BLoB", "BLoB+Flipout",
                                              "Me-LoRA (C/batch)", "Me-LoRA (C/example)",
                                              "Me-LoRA (C/batch, folded)",
                                              "LoRA's traffic, no math"};
    return method >= 0 && method < MLB_NMETHODS ? names[method] : "?";
}
/* Short identifiers for CSV columns. */
MLB_API const char *mlb_method_key(int method) {
    static const char *keys[MLB_NMETHODS] = {"lora", "blob", "flipout", "melora_batch",
                                             "melora_example", "melora_folded", "traffic"};
    return method >= 0 && method < MLB_NMETHODS ? keys[method] : "?";
}
MLB_API const char *mlb_category_name(int cat) {
    static const char *names[MLB_NCAT] = {"params", "grads", "adamw", "activations",
                                          "sample", "noise", "workspace", "io", "other"};
    return cat >= 0 && cat < MLB_NCAT ? names[cat] : "?";
}
MLB_API int mlb_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
MLB_API double mlb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------- counting allocator ------ */
/* Each block carries a 64-byte header: its size and category. */
typedef struct {
    int64_t cur, peak, cat_cur[MLB_NCAT], nblocks;
    int cat;
} mlb__alloc_state;
static mlb__alloc_state mlb__al = {0, 0, {0}, 0, MLB_CAT_OTHER};
#define MLB__HDR 64

MLB_API void *mlb_malloc(size_t bytes) {
    char *raw = (char *)malloc(bytes + MLB__HDR);
    if (!raw) return NULL;
    ((int64_t *)raw)[0] = (int64_t)bytes;
    ((int64_t *)raw)[1] = mlb__al.cat;
    mlb__al.cur += (int64_t)bytes;
    mlb__al.cat_cur[mlb__al.cat] += (int64_t)bytes;
    mlb__al.nblocks++;
    if (mlb__al.cur > mlb__al.peak) mlb__al.peak = mlb__al.cur;
    return raw + MLB__HDR;
}
MLB_API void mlb_free(void *p) {
    char *raw;
    if (!p) return;
    raw = (char *)p - MLB__HDR;
    mlb__al.cur -= ((int64_t *)raw)[0];
    mlb__al.cat_cur[((int64_t *)raw)[1]] -= ((int64_t *)raw)[0];
    free(raw);
}
/* Category that the next allocations are charged to; returns the previous one. */
MLB_API int mlb_set_category(int cat) {
    int old = mlb__al.cat;
    mlb__al.cat = cat >= 0 && cat < MLB_NCAT ? cat : MLB_CAT_OTHER;
    return old;
}
MLB_API int64_t mlb_alloc_current(void) { return mlb__al.cur; }
MLB_API int64_t mlb_alloc_peak(void) { return mlb__al.peak; }
MLB_API void mlb_alloc_reset_peak(void) { mlb__al.peak = mlb__al.cur; }

/* Raw bytes melora_alloc asks of MELORA_MALLOC beyond the payload, found by a probe;
   -1 when MELORA_MALLOC is not routed to mlb_malloc. */
MLB_API int64_t mlb_alloc_slack(void) {
    static int64_t slack = -2;
    if (slack == -2) {
        void *p = NULL;
        int64_t before = mlb__al.cur, after;
        slack = -1;
        if (melora_alloc(&p, 4096) == MELORA_OK) {
            after = mlb__al.cur;
            if (after > before) slack = after - before - 4096;
            melora_free(p);
        }
    }
    return slack;
}

/* ------------------------------------------------------------ step context ------- */
typedef struct {
    mlb_shape sh;
    float s;
    float *x, *z, *dz, *dx, *u, *v;
    float *A, *B, *GA, *EA, *As, *M, *H, *EC, *C, *sa, *sb; /* A doubles as BLoB's MA */
    float *dA, *dGA, *dB, *dM, *dH;
    float *adam;
    float *Af, *dAf; /* folded Me-LoRA: A' = C A and its gradient (r,n) */
    void *work;
    size_t work_bytes;
    int nbuf;
    void *bufs[40];
    int bufcat[40];
    uint64_t step;
} mlb_ctx;

static int mlb__buf(mlb_ctx *c, float **out, int cat, size_t count, float val) {
    void *p = NULL;
    size_t i;
    int old = mlb_set_category(cat);
    melora_status st = melora_alloc(&p, count * sizeof(float));
    mlb_set_category(old);
    if (st != MELORA_OK) return (int)st;
    for (i = 0; i < count; i++) ((float *)p)[i] = val;
    c->bufcat[c->nbuf] = cat;
    c->bufs[c->nbuf++] = p;
    *out = (float *)p;
    return 0;
}

MLB_API void mlb_ctx_free(mlb_ctx *c) {
    int i;
    for (i = 0; i < c->nbuf; i++) melora_free(c->bufs[i]);
    c->nbuf = 0;
}

/* Allocates what the methods in `mask` (bit 1<<method) need. adam != 0 also allocates
   AdamW moments (2 x the trainable parameters of the one method in mask). */
MLB_API int mlb_ctx_init(mlb_ctx *c, const mlb_shape *sh, unsigned mask, int adam) {
    size_t T = (size_t)sh->T, n = (size_t)sh->n, m = (size_t)sh->m, r = (size_t)sh->r;
    size_t E = (size_t)sh->E, G = (size_t)(sh->G > 0 ? sh->G : 1), ng, ws = 0, w1, ec = 0;
    size_t nparam = 0;
    int op, st = 0, lora = (mask & 1u << MLB_LORA) != 0;
    int blob = (mask & 1u << MLB_BLOB) != 0, flip = (mask & 1u << MLB_FLIPOUT) != 0;
    int melv = (mask & (1u << MLB_MELORA_BATCH | 1u << MLB_MELORA_EXAMPLE)) != 0;
    int fold = (mask & 1u << MLB_MELORA_FOLDED) != 0, mel = melv || fold;
    memset(c, 0, sizeof *c);
    c->sh = *sh;
    if (c->sh.G <= 0) c->sh.G = 1;
    if (sh->T <= 0 || sh->n <= 0 || sh->m <= 0 || sh->r <= 0) return (int)MELORA_ERR_SIZE;
    if ((mask & 1u << MLB_MELORA_EXAMPLE) && (sh->E <= 0 || sh->T % sh->E != 0))
        return (int)MELORA_ERR_DIVISIBILITY;
    c->s = sh->alpha / (float)sh->r;
    ng = (T + G - 1) / G;
    if (mask & (1u << MLB_MELORA_BATCH | 1u << MLB_MELORA_FOLDED)) ec = r * r;
    if (mask & 1u << MLB_MELORA_EXAMPLE) ec = E * r * r;
    for (op = 0; op < (int)MELORA_OP_MELORA_MC_FORWARD; op++) {
        int need = ((op == MELORA_OP_LORA_FORWARD || op == MELORA_OP_LORA_BACKWARD) &&
                    (lora || blob || fold)) ||
                   ((op == MELORA_OP_FLIPOUT_FORWARD || op == MELORA_OP_FLIPOUT_BACKWARD) &&
                    flip) ||
                   ((op == MELORA_OP_MELORA_FORWARD || op == MELORA_OP_MELORA_BACKWARD) && melv);
        if (!need) continue;
        st = (int)melora_workspace_size(&w1, (melora_op)op, sh->T, sh->n, sh->m, sh->r);
        if (st) return st;
        if (w1 > ws) ws = w1;
    }
#define MLB__B(field, cat, cnt, val) \
    do { if (!st) st = mlb__buf(c, &c->field, cat, cnt, val); } while (0)
    MLB__B(x, MLB_CAT_IO, T * n, 0.01f);
    MLB__B(z, MLB_CAT_IO, T * m, 0.0f);
    MLB__B(dz, MLB_CAT_IO, T * m, 0.01f);
    MLB__B(dx, MLB_CAT_IO, T * n, 0.0f);
    MLB__B(u, MLB_CAT_ACT, T * r, 0.0f);
    MLB__B(A, MLB_CAT_PARAMS, r * n, 0.01f);
    MLB__B(B, MLB_CAT_PARAMS, m * r, 0.01f);
    MLB__B(dA, MLB_CAT_GRADS, r * n, 0.0f);
    MLB__B(dB, MLB_CAT_GRADS, m * r, 0.0f);
    nparam = r * n + m * r;
    if (blob || flip) {
        MLB__B(GA, MLB_CAT_PARAMS, r * n, 0.04f);
        MLB__B(dGA, MLB_CAT_GRADS, r * n, 0.0f);
        MLB__B(EA, MLB_CAT_NOISE, r * n, 0.0f);
        nparam += r * n;
    }
    if (blob) MLB__B(As, MLB_CAT_SAMPLE, r * n, 0.0f);
    if (flip) {
        MLB__B(sa, MLB_CAT_NOISE, ng * n, 0.0f);
        MLB__B(sb, MLB_CAT_NOISE, ng * r, 0.0f);
    }
    if (melv) MLB__B(v, MLB_CAT_ACT, T * r, 0.0f);
    if (fold) {
        MLB__B(Af, MLB_CAT_SAMPLE, r * n, 0.0f);
        MLB__B(dAf, MLB_CAT_WORK, r * n, 0.0f);
    }
    if (mel) {
        MLB__B(M, MLB_CAT_PARAMS, r * r, 0.1f);
        MLB__B(H, MLB_CAT_PARAMS, r * r, 0.1f);
        MLB__B(dM, MLB_CAT_GRADS, r * r, 0.0f);
        MLB__B(dH, MLB_CAT_GRADS, r * r, 0.0f);
        MLB__B(EC, MLB_CAT_NOISE, ec, 0.0f);
        MLB__B(C, MLB_CAT_SAMPLE, ec, 0.0f);
        nparam += 2 * r * r;
    }
    if (adam) MLB__B(adam, MLB_CAT_ADAM, 2 * nparam, 0.0f);
#undef MLB__B
    if (!st) {
        int old = mlb_set_category(MLB_CAT_WORK);
        st = (int)melora_alloc(&c->work, ws > 0 ? ws : 64);
        mlb_set_category(old);
        if (!st) { c->bufcat[c->nbuf] = MLB_CAT_WORK; c->bufs[c->nbuf++] = c->work; }
    }
    c->work_bytes = ws;
    if (st) mlb_ctx_free(c);
    return st;
}

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

/* out[a][j] (+)= sum_b coef[a*sa + b*sb] in[b][j] for a, b < r, j < n: blocks of 64
   columns (threads) x 4 output rows, 16 vector accumulators; add != 0 accumulates. */
static void mlb__mix(float *out, const float *coef, int sa, int sb, const float *in, int r,
                     int n, int add) {
    long jb, nb = ((long)n + 63) / 64;
#pragma omp parallel for schedule(static)
    for (jb = 0; jb < nb; jb++) {
        long j0 = jb * 64, j;
        int a0, a, b, q;
        if (j0 + 64 <= (long)n) {
            for (a0 = 0; a0 < r; a0 += 4) {
                int na = r - a0 < 4 ? r - a0 : 4;
                mlb__v16 acc[4][4], v[4];
                for (a = 0; a < 4; a++)
                    for (q = 0; q < 4; q++) acc[a][q] = (mlb__v16){0};
                for (b = 0; b < r; b++) {
                    const float *ip = in + (size_t)b * (size_t)n + j0;
                    for (q = 0; q < 4; q++) memcpy(&v[q], ip + 16 * q, sizeof v[q]);
                    for (a = 0; a < na; a++) {
                        float c = coef[(size_t)(a0 + a) * (size_t)sa + (size_t)b * (size_t)sb];
                        for (q = 0; q < 4; q++) acc[a][q] += c * v[q];
                    }
                }
                for (a = 0; a < na; a++) {
                    float *op = out + (size_t)(a0 + a) * (size_t)n + j0;
                    for (q = 0; q < 4; q++) {
                        if (add) {
                            mlb__v16 o;
                            memcpy(&o, op + 16 * q, sizeof o);
                            acc[a][q] += o;
                        }
                        memcpy(op + 16 * q, &acc[a][q], sizeof acc[a][q]);
                    }
                }
            }
        } else {
            for (a = 0; a < r; a++)
                for (j = j0; j < (long)n; j++) {
                    float t = add ? out[(size_t)a * (size_t)n + (size_t)j] : 0.0f;
                    for (b = 0; b < r; b++)
                        t += coef[(size_t)a * (size_t)sa + (size_t)b * (size_t)sb] *
                             in[(size_t)b * (size_t)n + (size_t)j];
                    out[(size_t)a * (size_t)n + (size_t)j] = t;
                }
        }
    }
}
/* Af = C A: (r,r) x (r,n). */
static void mlb__fold(float *Af, const float *C, const float *A, int r, int n) {
    mlb__mix(Af, C, r, 1, A, r, n, 0);
}
/* From dAf = dL/dA': dC = dAf A^T (4 x 4 tiles of dot products in vectors), dA += C^T dAf,
   dM += dC, dH += dC * EC * 2H. */
static void mlb__unfold(float *dA, float *dM, float *dH, const float *dAf, const float *A,
                        const float *C, const float *H, const float *EC, int r, int n) {
    long tile, nt = (((long)r + 3) / 4) * (((long)r + 3) / 4);
#pragma omp parallel for schedule(static)
    for (tile = 0; tile < nt; tile++) {
        int k0 = (int)(tile / ((r + 3) / 4)) * 4, l0 = (int)(tile % ((r + 3) / 4)) * 4;
        int nk = r - k0 < 4 ? r - k0 : 4, nl = r - l0 < 4 ? r - l0 : 4, a, b, lane;
        mlb__v16 acc[4][4], g[4], w[4];
        float dc[4][4];
        long j = 0, jv = (long)n - (long)n % 16;
        const float *gr[4], *ar[4];
        for (a = 0; a < 4; a++) {
            gr[a] = dAf + (size_t)(k0 + (a < nk ? a : nk - 1)) * (size_t)n;
            ar[a] = A + (size_t)(l0 + (a < nl ? a : nl - 1)) * (size_t)n;
            for (b = 0; b < 4; b++) acc[a][b] = (mlb__v16){0};
        }
        for (; j < jv; j += 16) {
            for (a = 0; a < 4; a++) {
                memcpy(&g[a], gr[a] + j, sizeof g[a]);
                memcpy(&w[a], ar[a] + j, sizeof w[a]);
            }
            for (a = 0; a < 4; a++)
                for (b = 0; b < 4; b++) acc[a][b] += g[a] * w[b];
        }
        for (a = 0; a < nk; a++)
            for (b = 0; b < nl; b++) {
                float t = 0.0f;
                for (lane = 0; lane < 16; lane++) t += acc[a][b][lane];
                for (j = jv; j < (long)n; j++) t += gr[a][j] * ar[b][j];
                dc[a][b] = t;
            }
        for (a = 0; a < nk; a++)
            for (b = 0; b < nl; b++) {
                size_t q = (size_t)(k0 + a) * (size_t)r + (size_t)(l0 + b);
                dM[q] += dc[a][b];
                dH[q] += melora_dstd_elem(dc[a][b], H[q], EC[q]);
            }
    }
    mlb__mix(dA, C, 1, r, dAf, r, n, 1); /* dA[l] += sum_k C[k][l] dAf[k] */
}

/* One training step of `method`: noise draw + forward, then backward. Times in seconds. */
MLB_API int mlb_ctx_step(mlb_ctx *c, int method, double *tf, double *tb) {
    const int T = c->sh.T, n = c->sh.n, m = c->sh.m, r = c->sh.r, G = c->sh.G;
    const float s = c->s;
    const uint64_t seed = 2024, off = (c->step++) << 40;
    melora_status st = MELORA_OK;
    double t0 = mlb_now(), t1 = t0;
#define MLB__T(x) do { if (st == MELORA_OK) st = (x); } while (0)
    switch (method) {
    case MLB_LORA:
        MLB__T(melora_lora_forward(c->z, c->u, c->work, c->x, c->A, c->B, s, T, n, m, r));
        t1 = mlb_now();
        MLB__T(melora_lora_backward(c->dx, c->dA, c->dB, c->work, c->dz, c->u, c->x, c->A,
                                    c->B, s, T, n, m, r));
        break;
    case MLB_BLOB:
        MLB__T(melora_noise_normal(c->EA, seed, off, (int64_t)r * n));
        MLB__T(melora_blob_forward(c->z, c->u, c->As, c->work, c->x, c->A, c->GA, c->EA, c->B,
                                   s, T, n, m, r));
        t1 = mlb_now();
        MLB__T(melora_blob_backward(c->dx, c->dA, c->dGA, c->dB, c->work, c->dz, c->u, c->x,
                                    c->As, c->GA, c->EA, c->B, s, T, n, m, r));
        break;
    case MLB_FLIPOUT: {
        int64_t ng = ((int64_t)T + G - 1) / G;
        MLB__T(melora_noise_normal(c->EA, seed, off, (int64_t)r * n));
        MLB__T(melora_noise_sign(c->sa, seed, off, ng * n));
        MLB__T(melora_noise_sign(c->sb, seed, off + (uint64_t)(ng * n), ng * r));
        MLB__T(melora_blob_flipout_forward(c->z, c->u, c->work, c->x, c->A, c->GA, c->EA, c->sa,
                                           c->sb, c->B, s, G, T, n, m, r));
        t1 = mlb_now();
        MLB__T(melora_blob_flipout_backward(c->dx, c->dA, c->dGA, c->dB, c->work, c->dz, c->u,
                                            c->x, c->A, c->GA, c->EA, c->sa, c->sb, c->B, s, G,
                                            T, n, m, r));
        break;
    }
    case MLB_MELORA_BATCH:
    case MLB_MELORA_EXAMPLE: {
        int e = method == MLB_MELORA_EXAMPLE ? c->sh.E : 1;
        MLB__T(melora_noise_normal(c->EC, seed, off, (int64_t)e * r * r));
        MLB__T(melora_melora_sample(c->C, c->M, c->H, c->EC, e, r));
        MLB__T(melora_melora_forward(c->z, c->u, c->v, c->work, c->x, c->A, c->C, c->B, s, e,
                                     T, n, m, r));
        t1 = mlb_now();
        MLB__T(melora_melora_backward(c->dx, c->dA, c->dB, c->dM, c->dH, c->work, c->dz, c->u,
                                      c->v, c->x, c->A, c->C, c->B, c->H, c->EC, s, e, T, n,
                                      m, r));
        break;
    }
    case MLB_TRAFFIC:
        mlb__traffic_fwd(c->z, c->x, T, n, m);
        t1 = mlb_now();
        mlb__traffic_bwd(c->dx, c->dz, c->x, T, n, m);
        break;
    case MLB_MELORA_FOLDED:
        MLB__T(melora_noise_normal(c->EC, seed, off, (int64_t)r * r));
        MLB__T(melora_melora_sample(c->C, c->M, c->H, c->EC, 1, r));
        if (st == MELORA_OK) mlb__fold(c->Af, c->C, c->A, r, n);
        MLB__T(melora_lora_forward(c->z, c->u, c->work, c->x, c->Af, c->B, s, T, n, m, r));
        t1 = mlb_now();
        if (st == MELORA_OK) memset(c->dAf, 0, (size_t)r * (size_t)n * sizeof(float));
        MLB__T(melora_lora_backward(c->dx, c->dAf, c->dB, c->work, c->dz, c->u, c->x, c->Af,
                                    c->B, s, T, n, m, r));
        if (st == MELORA_OK)
            mlb__unfold(c->dA, c->dM, c->dH, c->dAf, c->A, c->C, c->H, c->EC, r, n);
        break;
    default:
        st = MELORA_ERR_ENUM;
    }
#undef MLB__T
    if (tf) *tf = t1 - t0;
    if (tb) *tb = mlb_now() - t1;
    return (int)st;
}

/* Checks MLB_MELORA_FOLDED against melora_melora_forward/backward (E = 1) on two small
   random shapes (one with whole 64-column blocks); *max_rel gets the largest
   |difference| / (max |library value| + 1e-30) over z, dx, dA, dB, dM, dH. Returns 0 when
   every one is below 1e-4. */
static int mlb__check_folded_at(double *max_rel, int T, int n, int m, int r);
MLB_API int mlb_check_folded(double *max_rel) {
    double e1 = 1e30, e2 = 1e30;
    int st = mlb__check_folded_at(&e1, 12, 40, 36, 4);
    if (!st) st = mlb__check_folded_at(&e2, 16, 136, 24, 6);
    *max_rel = e1 > e2 ? e1 : e2;
    return st;
}
static int mlb__check_folded_at(double *max_rel, int T, int n, int m, int r) {
    mlb_shape sh = {12, 40, 36, 4, 1, 1, 16.0f};
    mlb_ctx c;
    float *ref[6], *got[6];
    size_t cnt[6];
    int st, i, pass;
    double worst = 0;
    *max_rel = 1e30;
    sh.T = T; sh.n = n; sh.m = m; sh.r = r;
    st = mlb_ctx_init(&c, &sh, 1u << MLB_MELORA_BATCH | 1u << MLB_MELORA_FOLDED, 0);
    if (st) return st;
    cnt[0] = (size_t)T * m; cnt[1] = (size_t)T * n; cnt[2] = (size_t)r * n;
    cnt[3] = (size_t)m * r; cnt[4] = cnt[5] = (size_t)r * r;
    melora_noise_normal(c.x, 7, 0, (int64_t)cnt[1]);
    melora_noise_normal(c.dz, 7, 100000, (int64_t)cnt[0]);
    melora_noise_normal(c.A, 7, 200000, (int64_t)cnt[2]);
    melora_noise_normal(c.B, 7, 300000, (int64_t)cnt[3]);
    melora_noise_normal(c.M, 7, 400000, (int64_t)cnt[4]);
    melora_noise_normal(c.H, 7, 500000, (int64_t)cnt[4]);
    ref[0] = c.z; ref[1] = c.dx; ref[2] = c.dA; ref[3] = c.dB; ref[4] = c.dM; ref[5] = c.dH;
    for (pass = 0; pass < 2 && !st; pass++) {
        for (i = 0; i < 6; i++) memset(ref[i], 0, cnt[i] * sizeof(float));
        c.step = 0;
        st = mlb_ctx_step(&c, pass ? MLB_MELORA_FOLDED : MLB_MELORA_BATCH, NULL, NULL);
        for (i = 0; i < 6 && !st && pass == 0; i++) {
            got[i] = (float *)malloc(cnt[i] * sizeof(float));
            if (!got[i]) { st = (int)MELORA_ERR_ALLOC; break; }
            memcpy(got[i], ref[i], cnt[i] * sizeof(float));
        }
    }
    if (!st)
        for (i = 0; i < 6; i++) {
            double amax = 0, dmax = 0;
            size_t j;
            for (j = 0; j < cnt[i]; j++) {
                double a = fabs((double)got[i][j]), d = fabs((double)got[i][j] - ref[i][j]);
                if (a > amax) amax = a;
                if (d > dmax) dmax = d;
            }
            if (dmax / (amax + 1e-30) > worst) worst = dmax / (amax + 1e-30);
            free(got[i]);
        }
    mlb_ctx_free(&c);
    if (st) return st;
    *max_rel = worst;
    return worst < 1e-4 ? 0 : (int)MELORA_ERR_VALUE;
}

/* ----------------------------------------------------------------- timing ------- */
static int mlb__cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
MLB_API mlb_stat mlb_stats(const double *v, int k) {
    double t[MLB_MAX_REPS];
    mlb_stat st;
    int i;
    for (i = 0; i < k; i++) t[i] = v[i];
    qsort(t, (size_t)k, sizeof(double), mlb__cmp);
    st.min = t[0];
    st.max = t[k - 1];
    st.med = k % 2 ? t[k / 2] : 0.5 * (t[k / 2 - 1] + t[k / 2]);
    return st;
}

MLB_API int mlb_time(mlb_result *out, const mlb_shape *sh, const int *methods, int nmethods,
                     int warmup, int reps) {
    static double tf[MLB_NMETHODS + 1][MLB_MAX_REPS], tb[MLB_NMETHODS + 1][MLB_MAX_REPS],
        tt[MLB_NMETHODS + 1][MLB_MAX_REPS];
    int list[MLB_NMETHODS + 1], nl = 0, i, k, rep, st, have_lora = -1;
    unsigned mask = 0;
    mlb_ctx c;
    double base;
    if (!out || !sh || !methods) return (int)MELORA_ERR_NULL;
    if (nmethods <= 0 || nmethods > MLB_NMETHODS || reps <= 0 || reps > MLB_MAX_REPS ||
        warmup < 0)
        return (int)MELORA_ERR_SIZE;
    for (i = 0; i < nmethods; i++) {
        if (methods[i] < 0 || methods[i] >= MLB_NMETHODS) return (int)MELORA_ERR_ENUM;
        if (methods[i] == MLB_LORA) have_lora = i;
        list[nl++] = methods[i];
        mask |= 1u << methods[i];
    }
    if (have_lora < 0) { have_lora = nl; list[nl++] = MLB_LORA; mask |= 1u; }
    st = mlb_ctx_init(&c, sh, mask, 0);
    if (st) return st;
    for (rep = -warmup; rep < reps && !st; rep++)
        for (k = 0; k < nl && !st; k++) {
            double f, b;
            st = mlb_ctx_step(&c, list[k], &f, &b);
            if (rep >= 0) { tf[k][rep] = f; tb[k][rep] = b; tt[k][rep] = f + b; }
        }
    mlb_ctx_free(&c);
    if (st) return st;
    base = mlb_stats(tt[have_lora], reps).med;
    for (i = 0; i < nmethods; i++) {
        double q[MLB_MAX_REPS];
        for (rep = 0; rep < reps; rep++) q[rep] = tt[i][rep] / tt[have_lora][rep];
        out[i].ratio_paired = mlb_stats(q, reps).med;
        out[i].ratio_min = mlb_stats(tt[i], reps).min / mlb_stats(tt[have_lora], reps).min;
        out[i].method = list[i];
        out[i].reps = reps;
        out[i].fwd = mlb_stats(tf[i], reps);
        out[i].bwd = mlb_stats(tb[i], reps);
        out[i].total = mlb_stats(tt[i], reps);
        out[i].ratio = out[i].total.med / base;
    }
    return 0;
}

/* ----------------------------------------------------------------- memory ------- */
MLB_API int mlb_measure_memory(mlb_memory *mem, const mlb_shape *sh, int method) {
    int64_t slack = mlb_alloc_slack(), blocks0, cat0[MLB_NCAT], base;
    mlb_ctx c;
    melora_module mod;
    melora_method mm;
    melora_op of = MELORA_OP_LORA_FORWARD, ob = MELORA_OP_LORA_BACKWARD;
    int st, i;
    if (!mem || !sh) return (int)MELORA_ERR_NULL;
    memset(mem, 0, sizeof *mem);
    if (method < 0 || method >= MLB_NMETHODS || method == MLB_TRAFFIC) return (int)MELORA_ERR_ENUM;
    if (slack < 0) return (int)MELORA_ERR_VALUE; /* MELORA_MALLOC is not mlb_malloc */
    for (i = 0; i < MLB_NCAT; i++) cat0[i] = mlb__al.cat_cur[i];
    blocks0 = mlb__al.nblocks;
    base = mlb__al.cur;
    mlb_alloc_reset_peak();
    st = mlb_ctx_init(&c, sh, 1u << method, 1);
    if (st) return st;
    st = mlb_ctx_step(&c, method, NULL, NULL);
    for (i = 0; i < MLB_NCAT; i++) mem->bytes[i] = mlb__al.cat_cur[i] - cat0[i];
    /* the context's blocks came through melora_alloc: take its alignment slack off */
    for (i = 0; i < c.nbuf; i++) mem->bytes[c.bufcat[i]] -= slack;
    mem->nblocks = mlb__al.nblocks - blocks0;
    mem->peak_raw = mlb__al.peak - base;
    mlb_ctx_free(&c);
    if (st) return st;
    for (i = 0; i < MLB_NCAT; i++) mem->total += mem->bytes[i];
    if (method == MLB_FLIPOUT) of = MELORA_OP_FLIPOUT_FORWARD, ob = MELORA_OP_FLIPOUT_BACKWARD;
    if (method == MLB_MELORA_BATCH || method == MLB_MELORA_EXAMPLE)
        of = MELORA_OP_MELORA_FORWARD, ob = MELORA_OP_MELORA_BACKWARD;
    melora_workspace_size(&mem->work_fwd, of, sh->T, sh->n, sh->m, sh->r);
    melora_workspace_size(&mem->work_bwd, ob, sh->T, sh->n, sh->m, sh->r);
    mod.name = "bench";
    mod.m = sh->m;
    mod.n = sh->n;
    mod.count = 1;
    mm = method == MLB_LORA ? MELORA_METHOD_LORA
         : method == MLB_BLOB ? MELORA_METHOD_BLOB
         : method == MLB_FLIPOUT ? MELORA_METHOD_BLOB_FLIPOUT
                                 : MELORA_METHOD_MELORA;
    return (int)melora_count_train_memory(&mem->model, mm, &mod, 1, sh->r, sh->T,
                                          method == MLB_MELORA_EXAMPLE ? sh->E : 1,
                                          sh->G > 0 ? sh->G : 1, MELORA_FP32, 0);
}

/* --------------------------------------------------------- machine limits ------- */
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


MLB_API void mlb_measure_machine(mlb_machine *mc, int reps) {
    const size_t N = (size_t)16 << 20; /* 16 Mi floats = 64 MiB per array */
    float *a = (float *)malloc(N * sizeof(float)), *b = (float *)malloc(N * sizeof(float));
    float *cc = (float *)malloc(N * sizeof(float));
    double best_triad = 1e30, best_read = 1e30, best_fma = 1e30, best_lora = 1e30, t0, t;
    volatile float sink = 0;
    int rep, threads = mlb_threads();
    long i;
    memset(mc, 0, sizeof *mc);
    mc->threads = threads;
    if (!a || !b || !cc) { free(a); free(b); free(cc); return; }
    if (reps < 1) reps = 1;
#pragma omp parallel for schedule(static)
    for (i = 0; i < (long)N; i++) { a[i] = 0; b[i] = 1.0f; cc[i] = 0.5f; }
    for (rep = 0; rep < reps + 1; rep++) {
        /* triad */
        t0 = mlb_now();
#pragma omp parallel for schedule(static)
        for (i = 0; i < (long)N; i++) a[i] = b[i] + 0.5f * cc[i];
        t = mlb_now() - t0;
        if (rep > 0 && t < best_triad) best_triad = t;
        /* read-only sum over two arrays (b and cc), 16-lane vectors x 4 accumulators */
        t0 = mlb_now();
        {
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
            sink += total;
        }
        t = mlb_now() - t0;
        if (rep > 0 && t < best_read) best_read = t;
        t = mlb_fma_gflops();
        if (rep > 0 && (best_fma == 1e30 || t > best_fma)) best_fma = t;
        /* LoRA's traffic without its arithmetic: forward z += q x, backward dx += q dz + q' x */
        t0 = mlb_now();
        {
            const long T = 1200, n = 4096;
            float *x = a, *z = a + ((size_t)5 << 20), *dz = b, *dx = b + ((size_t)5 << 20);
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
        }
        t = mlb_now() - t0;
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

/* Bytes that must cross memory and flops that must run for one forward + backward,
   fp32. Large tensors: forward reads x and reads+writes z; backward reads dz and x and
   reads+writes dx (dx += ...): 4 T n + 3 T m floats. Parameters, gradients and
   per-chunk partials (O(r(n+m))) are added once each way. Flipout also writes its sign
   matrix sa (T/G, n) in the draw and reads it in the forward and the backward: + 3 T n / G
   floats (the library takes signs as floats). Flops (1 multiply-add = 2): LoRA forward
   2Tr(n+m), backward 4Tr(n+m); Flipout's second product adds 2Tnr forward and 4Tnr
   backward; Me-LoRA adds 6 T r^2 (v = u C^T, dC, du = dv C); folded Me-LoRA adds
   6 r^2 n (A' = C A, dC = dA' A^T, C^T dA') and 6 r n floats (A', dA'). */
MLB_API mlb_work mlb_work_model(const mlb_shape *sh, int method) {
    double T = sh->T, n = sh->n, m = sh->m, r = sh->r, G = sh->G > 0 ? sh->G : 1;
    double fl = 4.0, floats, flops;
    mlb_work w;
    floats = 4 * T * n + 3 * T * m + 4 * r * (n + m) + 4 * T * r;
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
        floats = 4 * T * n + 3 * T * m;
        flops = 0;
    }
    w.bytes = floats * fl;
    w.flops = flops;
    return w;
}

MLB_API double mlb_lower_bound(const mlb_work *w, const mlb_machine *mc) {
    double tb = w->bytes / (mc->bw_gbs * 1e9), tc = w->flops / (mc->peak_gflops * 1e9);
    return tb > tc ? tb : tc;
}

#endif /* MELORA_BENCH_HARNESS_H */
