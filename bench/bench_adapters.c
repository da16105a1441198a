/* Forward + backward time of each adapter at the paper's training shape, methods
   interleaved in one process (this machine's runs differ by +-10% between processes),
   median / min / max of REPS repetitions after a warm-up, and each method's median as a
   ratio to LoRA's from the same run. Each step includes drawing its noise from the
   counter RNG, as a training step would. */
#define MELORA_IMPLEMENTATION
#include "melora.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define REPS 9
#define WARM 2
enum { LORA, BLOB, FLIPOUT, MELORA_B, MELORA_E, NMETH };
static const char *NAMES[NMETH] = {"LoRA", "BLoB", "BLoB+Flipout", "Me-LoRA (C/batch)",
                                   "Me-LoRA (C/example, E=4)"};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
static float *buf(size_t n, float v) {
    void *p = NULL;
    if (melora_alloc(&p, n * sizeof(float)) != MELORA_OK) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (size_t i = 0; i < n; i++) ((float *)p)[i] = v;
    return (float *)p;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
#define CHECK(x) do { melora_status st_ = (x); if (st_ != MELORA_OK) { \
    fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, melora_status_string(st_)); exit(1); } } while (0)

typedef struct {
    int T, n, m, r, E, G;
    float *x, *z, *dz, *dx, *u, *v, *A, *B, *GA, *EA, *As, *M, *H, *EC, *C, *sa, *sb;
    float *dA, *dGA, *dB, *dM, *dH;
    void *work;
    uint64_t step;
} ctx;

static void step(ctx *c, int meth, double *tf, double *tb) {
    int T = c->T, n = c->n, m = c->m, r = c->r, E = c->E, G = c->G;
    uint64_t seed = 2024, off = c->step++ * (uint64_t)1 << 40;
    double t0 = now(), t1;
    switch (meth) {
    case LORA:
        CHECK(melora_lora_forward(c->z, c->u, c->work, c->x, c->A, c->B, 2, T, n, m, r));
        t1 = now();
        CHECK(melora_lora_backward(c->dx, c->dA, c->dB, c->work, c->dz, c->u, c->x, c->A, c->B, 2, T, n, m, r));
        break;
    case BLOB:
        CHECK(melora_noise_normal(c->EA, seed, off, (int64_t)r * n));
        CHECK(melora_blob_forward(c->z, c->u, c->As, c->work, c->x, c->A, c->GA, c->EA, c->B, 2, T, n, m, r));
        t1 = now();
        CHECK(melora_blob_backward(c->dx, c->dA, c->dGA, c->dB, c->work, c->dz, c->u, c->x, c->As, c->GA, c->EA, c->B, 2, T, n, m, r));
        break;
    case FLIPOUT: {
        int64_t ng = (T + G - 1) / G;
        CHECK(melora_noise_normal(c->EA, seed, off, (int64_t)r * n));
        CHECK(melora_noise_sign(c->sa, seed, off, ng * n));
        CHECK(melora_noise_sign(c->sb, seed, off + (uint64_t)ng * n, ng * r));
        CHECK(melora_blob_flipout_forward(c->z, c->u, c->work, c->x, c->A, c->GA, c->EA, c->sa, c->sb, c->B, 2, G, T, n, m, r));
        t1 = now();
        CHECK(melora_blob_flipout_backward(c->dx, c->dA, c->dGA, c->dB, c->work, c->dz, c->u, c->x, c->A, c->GA, c->EA, c->sa, c->sb, c->B, 2, G, T, n, m, r));
        break;
    }
    default: {
        int e = meth == MELORA_E ? E : 1;
        CHECK(melora_noise_normal(c->EC, seed, off, (int64_t)e * r * r));
        CHECK(melora_melora_sample(c->C, c->M, c->H, c->EC, e, r));
        CHECK(melora_melora_forward(c->z, c->u, c->v, c->work, c->x, c->A, c->C, c->B, 2, e, T, n, m, r));
        t1 = now();
        CHECK(melora_melora_backward(c->dx, c->dA, c->dB, c->dM, c->dH, c->work, c->dz, c->u, c->v, c->x, c->A, c->C, c->B, c->H, c->EC, 2, e, T, n, m, r));
        break;
    }
    }
    *tf = t1 - t0;
    *tb = now() - t1;
}

static void run_shape(int T, int n, int m, int r) {
    ctx c;
    memset(&c, 0, sizeof c);
    c.T = T; c.n = n; c.m = m; c.r = r; c.E = 4; c.G = 1;
    size_t ws = 0, w1;
    for (int op = 0; op < MELORA_OP_MELORA_KL; op++) {
        CHECK(melora_workspace_size(&w1, (melora_op)op, T, n, m, r));
        if (w1 > ws) ws = w1;
    }
    CHECK(melora_alloc(&c.work, ws));
    c.x = buf((size_t)T * n, 0.01f); c.z = buf((size_t)T * m, 0); c.dz = buf((size_t)T * m, 0.01f);
    c.dx = buf((size_t)T * n, 0); c.u = buf((size_t)T * r, 0); c.v = buf((size_t)T * r, 0);
    c.A = buf((size_t)r * n, 0.01f); c.B = buf((size_t)m * r, 0.01f); c.GA = buf((size_t)r * n, 0.04f);
    c.EA = buf((size_t)r * n, 0); c.As = buf((size_t)r * n, 0); c.M = buf((size_t)r * r, 0.1f);
    c.H = buf((size_t)r * r, 0.1f); c.EC = buf((size_t)c.E * r * r, 0); c.C = buf((size_t)c.E * r * r, 0);
    c.sa = buf((size_t)T * n, 0); c.sb = buf((size_t)T * r, 0);
    c.dA = buf((size_t)r * n, 0); c.dGA = buf((size_t)r * n, 0); c.dB = buf((size_t)m * r, 0);
    c.dM = buf((size_t)r * r, 0); c.dH = buf((size_t)r * r, 0);
    double tf[NMETH][REPS], tb[NMETH][REPS], tt[NMETH][REPS];
    for (int rep = -WARM; rep < REPS; rep++)
        for (int meth = 0; meth < NMETH; meth++) {
            double f, b;
            step(&c, meth, &f, &b);
            if (rep >= 0) { tf[meth][rep] = f; tb[meth][rep] = b; tt[meth][rep] = f + b; }
        }
    printf("\nT=%d n=%d m=%d r=%d  (median of %d, ms; ratio = median / LoRA median)\n", T, n, m, r, REPS);
    printf("| method | fwd | bwd | fwd+bwd | min | max | ratio |\n|---|---:|---:|---:|---:|---:|---:|\n");
    double base = 0;
    for (int meth = 0; meth < NMETH; meth++) {
        qsort(tf[meth], REPS, sizeof(double), cmp);
        qsort(tb[meth], REPS, sizeof(double), cmp);
        qsort(tt[meth], REPS, sizeof(double), cmp);
        double med = tt[meth][REPS / 2];
        if (meth == LORA) base = med;
        printf("| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.3f |\n", NAMES[meth], 1e3 * tf[meth][REPS / 2],
               1e3 * tb[meth][REPS / 2], 1e3 * med, 1e3 * tt[meth][0], 1e3 * tt[meth][REPS - 1], med / base);
    }
    float *ps[] = {c.x, c.z, c.dz, c.dx, c.u, c.v, c.A, c.B, c.GA, c.EA, c.As, c.M, c.H, c.EC, c.C,
                   c.sa, c.sb, c.dA, c.dGA, c.dB, c.dM, c.dH};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) melora_free(ps[i]);
    melora_free(c.work);
}

int main(int argc, char **argv) {
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("melora adapter benchmark: %d thread(s), MELORA_CHUNKS=%d\n", threads, MELORA_CHUNKS);
    if (argc > 1 && strcmp(argv[1], "--quick") == 0) { run_shape(1200, 4096, 4096, 8); return 0; }
    if (argc == 6 && strcmp(argv[1], "--shape") == 0) {
        run_shape(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
        return 0;
    }
    run_shape(1200, 4096, 4096, 8);
    run_shape(1200, 4096, 4096, 64);
    run_shape(1200, 5120, 5120, 8);
    run_shape(1200, 4096, 11008, 8);
    return 0;
}
