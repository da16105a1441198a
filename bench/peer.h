/* bench/peer.h - the peer a user would otherwise pick: LoRA's forward + backward composed
   from six cblas_sgemm calls (OpenBLAS), timed in the same process and interleaved with
   melora_lora_forward/backward at the same thread count, for a sweep of ranks.

   Included by bench_adapters.c when the Makefile found OpenBLAS (MLB_HAVE_OPENBLAS). The
   Makefile links OpenBLAS's OpenMP build when it exists, so that the library and the peer
   draw on one pool of libgomp threads (two pools that spin-wait would each slow the
   other); both then run with OMP_PROC_BIND as set for the bench.

   OpenBLAS 0.3.21's DYNAMIC_ARCH does not know recent Xeons and silently falls back to
   its Prescott (SSE3) kernels there (sgemm 7x slower): bench.mk sets OPENBLAS_CORETYPE
   (SkylakeX on AVX-512, Haswell on AVX2) unless it is set already, and the section prints
   the core in use, with a warning when peer_better_core() finds a better one. */
#ifndef MELORA_BENCH_PEER_H
#define MELORA_BENCH_PEER_H
#include <cblas.h> /* OpenBLAS's: it declares openblas_get_corename() and friends */

/* A core OpenBLAS may pick on an x86-64 CPU that lacks the CPU's vector units. */
static int peer_core_is_old(const char *core) {
    static const char *old[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem",
                                "Atom", "Katmai", "Northwood", "Banias", "Sandybridge"};
    size_t i;
    for (i = 0; i < sizeof old / sizeof old[0]; i++)
        if (!strcmp(core, old[i])) return 1;
    return 0;
}
/* The core OpenBLAS should run on this CPU when it picked an old one, else NULL. (The
   choice is made when the library loads, so `make bench` sets OPENBLAS_CORETYPE before
   the program starts; run by hand, the program says so in its output.) */
static const char *peer_better_core(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (!peer_core_is_old(openblas_get_corename())) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "SkylakeX";
    if (__builtin_cpu_supports("avx2")) return "Haswell";
#endif
    return NULL;
}

typedef struct {
    float *x, *z, *dz, *dx, *u, *du, *A, *B, *dA, *dB;
    melora_work work;
} peer_bufs;

static float *peer_alloc(size_t count, uint64_t seed) {
    float *p = (float *)malloc(count * sizeof(float));
    uint64_t st = seed * 2654435761u + 1;
    size_t i;
    if (!p) { fprintf(stderr, "peer: out of memory\n"); exit(1); }
    for (i = 0; i < count; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)((double)(st >> 40) / 16777216.0 - 0.5);
    }
    return p;
}
static void peer_init(peer_bufs *b, int T, int n, int m, int r) {
    const melora_dims d = {T, n, m, r, MELORA_FP32};
    size_t w1 = 0, w2 = 0;
    b->x = peer_alloc((size_t)T * n, 1); b->dz = peer_alloc((size_t)T * m, 2);
    b->z = peer_alloc((size_t)T * m, 3); b->dx = peer_alloc((size_t)T * n, 4);
    b->u = peer_alloc((size_t)T * r, 5); b->du = peer_alloc((size_t)T * r, 6);
    b->A = peer_alloc((size_t)r * n, 7); b->B = peer_alloc((size_t)m * r, 8);
    b->dA = peer_alloc((size_t)r * n, 9); b->dB = peer_alloc((size_t)m * r, 10);
    CHECK(melora_workspace_size(&w1, MELORA_OP_LORA_FORWARD, d));
    CHECK(melora_workspace_size(&w2, MELORA_OP_LORA_BACKWARD, d));
    b->work.bytes = w1 > w2 ? w1 : w2;
    CHECK(melora_alloc(&b->work.base, b->work.bytes));
}
static void peer_free(peer_bufs *b) {
    free(b->x); free(b->dz); free(b->z); free(b->dx); free(b->u); free(b->du);
    free(b->A); free(b->B); free(b->dA); free(b->dB);
    melora_free(b->work.base);
}
static void peer_melora(peer_bufs *b, float s, int T, int n, int m, int r, double *tf) {
    const melora_dims d = {T, n, m, r, MELORA_FP32};
    const melora_lora_params p = {b->A, b->B, s};
    const melora_lora_saved sv = {b->x, b->u};
    const melora_lora_grads g = {b->dA, b->dB};
    double t0 = mlb_now();
    CHECK(melora_lora_forward(b->z, &sv, b->work, &p, d));
    *tf = mlb_now() - t0;
    CHECK(melora_lora_backward(b->dx, &g, &sv, b->work, b->dz, &p, d));
}
/* The same step as PEFT's LoRA layer runs it under autograd, one sgemm per product
   (row-major throughout: x (T,n), A (r,n), B (m,r)). */
static void peer_blas(peer_bufs *b, float s, int T, int n, int m, int r, double *tf) {
    double t0 = mlb_now();
    /* forward: u = x A^T; z += s u B^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, r, n, 1.0f, b->x, n, b->A, n,
                0.0f, b->u, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, m, r, s, b->u, r, b->B, r, 1.0f,
                b->z, m);
    *tf = mlb_now() - t0;
    /* backward: du = s dz B; dB += s dz^T u; dA += du^T x; dx += du A */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, r, m, s, b->dz, m, b->B, r,
                0.0f, b->du, r);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, r, T, s, b->dz, m, b->u, r, 1.0f,
                b->dB, r);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, n, T, 1.0f, b->du, r, b->x, n,
                1.0f, b->dA, n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, n, r, 1.0f, b->du, r, b->A, n,
                1.0f, b->dx, n);
}

/* Both compute the same step: from equal starting z, dx, dA, dB one step of each must
   agree to float rounding (max |difference| / max |value| per output). */
static double peer_agree(int T, int n, int m, int r) {
    peer_bufs a, b;
    const float s = 16.0f / (float)r;
    double tf, worst = 0;
    float *pa[4], *pb[4];
    size_t cnt[4] = {(size_t)T * m, (size_t)T * n, (size_t)r * n, (size_t)m * r};
    int k;
    peer_init(&a, T, n, m, r);
    peer_init(&b, T, n, m, r);
    peer_melora(&a, s, T, n, m, r, &tf);
    peer_blas(&b, s, T, n, m, r, &tf);
    pa[0] = a.z; pa[1] = a.dx; pa[2] = a.dA; pa[3] = a.dB;
    pb[0] = b.z; pb[1] = b.dx; pb[2] = b.dA; pb[3] = b.dB;
    for (k = 0; k < 4; k++) {
        double e = 0, mx = 0;
        size_t i;
        for (i = 0; i < cnt[k]; i++) {
            double d = fabs((double)pa[k][i] - (double)pb[k][i]);
            if (d > e) e = d;
            if (fabs((double)pb[k][i]) > mx) mx = fabs((double)pb[k][i]);
        }
        if (e / mx > worst) worst = e / mx;
    }
    peer_free(&a);
    peer_free(&b);
    return worst;
}

typedef struct {
    int r, threads;
    double mel, blas, ratio_paired, ratio_min; /* seconds (medians), ratios */
    double flops, peak;                        /* of the step; FMA flop/s at these threads */
} peer_row;

/* Interleaved rounds: melora then OpenBLAS in even rounds, the other order in odd ones,
   so that neither always runs on a cache the other warmed. */
static void peer_time(peer_row *row, int T, int n, int m, int r, int threads, int reps) {
    peer_bufs b;
    double tm[MLB_MAX_REPS], tb[MLB_MAX_REPS], q[MLB_MAX_REPS], tf;
    const float s = 16.0f / (float)r;
    mlb_shape sh;
    int rep;
    sh.T = T; sh.n = n; sh.m = m; sh.r = r; sh.E = 1; sh.G = 1; sh.alpha = 16.0f;
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    openblas_set_num_threads(threads);
    peer_init(&b, T, n, m, r);
    for (rep = -2; rep < reps; rep++) {
        double t0, t1, t2;
        if (rep & 1) {
            t0 = mlb_now(); peer_blas(&b, s, T, n, m, r, &tf);
            t1 = mlb_now(); peer_melora(&b, s, T, n, m, r, &tf);
            t2 = mlb_now();
            if (rep >= 0) { tb[rep] = t1 - t0; tm[rep] = t2 - t1; }
        } else {
            t0 = mlb_now(); peer_melora(&b, s, T, n, m, r, &tf);
            t1 = mlb_now(); peer_blas(&b, s, T, n, m, r, &tf);
            t2 = mlb_now();
            if (rep >= 0) { tm[rep] = t1 - t0; tb[rep] = t2 - t1; }
        }
    }
    peer_free(&b);
    for (rep = 0; rep < reps; rep++) q[rep] = tm[rep] / tb[rep];
    row->r = r;
    row->threads = threads;
    row->mel = mlb_stats(tm, reps).med;
    row->blas = mlb_stats(tb, reps).med;
    row->ratio_paired = mlb_stats(q, reps).med;
    row->ratio_min = mlb_stats(tm, reps).min / mlb_stats(tb, reps).min;
    row->flops = mlb_work_model(&sh, MLB_LORA).flops;
    row->peak = 0; /* the caller's measurement at this thread count */
}

#endif
