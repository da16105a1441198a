/* Outputs and gradients are bitwise identical for 1, 2 and 3 threads: row chunks are
   fixed by T, not by the thread count, and partials are reduced in chunk order. */
#include "util.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#ifdef _OPENMP
enum { NOUT = 12 };
typedef struct { float *o[NOUT]; size_t n[NOUT]; } outs;

static void run_all(outs *O, int threads) {
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    const int T = 203, n = 130, m = 77, r = 8, E = 7, G = 3, K = 3;
    float *x = tu_fill(T * n, 1, 1), *A = tu_fill(r * n, 2, 1), *B = tu_fill(m * r, 3, 1);
    float *GA = tu_fill(r * n, 4, 1), *EA = tu_fill(r * n, 5, 1), *dz = tu_fill(T * m, 6, 1);
    float *M = tu_fill(r * r, 7, 1), *H = tu_fill(r * r, 8, 1), *EC = tu_fill(E * r * r, 9, 1);
    int ng = (T + G - 1) / G;
    float *sa = tu_signs((size_t)ng * n, 10), *sb = tu_signs((size_t)ng * r, 11);
    float *C = tu_const(E * r * r, 0), *As = tu_const(r * n, 0), *u = tu_const(T * r, 0), *v = tu_const(T * r, 0);
    size_t sz[NOUT] = {(size_t)T * m, (size_t)T * n, (size_t)r * n, (size_t)m * r, (size_t)r * r, (size_t)r * r,
                       (size_t)T * m, (size_t)T * n, (size_t)r * n, (size_t)r * n, (size_t)K * T * m, 1 << 16};
    for (int i = 0; i < NOUT; i++) { O->n[i] = sz[i]; O->o[i] = tu_const(sz[i], 0); }
    void *w = tu_work(MELORA_OP_FLIPOUT_BACKWARD, T, n, m, r), *w2 = tu_work(MELORA_OP_MELORA_BACKWARD, T, n, m, r);
    void *w3 = tu_work(MELORA_OP_MELORA_MC_FORWARD, T, n, m, r);
    cr_assert_eq(melora_melora_sample(C, M, H, EC, E, r), 0);
    cr_assert_eq(melora_melora_forward(O->o[0], u, v, w2, x, A, C, B, 2, E, T, n, m, r), 0);
    cr_assert_eq(melora_melora_backward(O->o[1], O->o[2], O->o[3], O->o[4], O->o[5], w2, dz, u, v, x, A, C, B, H, EC, 2, E, T, n, m, r), 0);
    cr_assert_eq(melora_blob_flipout_forward(O->o[6], u, w, x, A, GA, EA, sa, sb, B, 2, G, T, n, m, r), 0);
    cr_assert_eq(melora_blob_flipout_backward(O->o[7], O->o[8], O->o[9], O->o[3], w, dz, u, x, A, GA, EA, sa, sb, B, 2, G, T, n, m, r), 0);
    cr_assert_eq(melora_blob_forward(O->o[6], u, As, w, x, A, GA, EA, B, 2, T, n, m, r), 0);
    cr_assert_eq(melora_blob_backward(O->o[7], O->o[8], O->o[9], O->o[3], w, dz, u, x, As, GA, EA, B, 2, T, n, m, r), 0);
    cr_assert_eq(melora_lora_forward(O->o[6], u, w, x, A, B, 2, T, n, m, r), 0);
    cr_assert_eq(melora_lora_backward(O->o[7], O->o[8], O->o[3], w, dz, u, x, A, B, 2, T, n, m, r), 0);
    cr_assert_eq(melora_melora_mc_forward(O->o[10], u, w3, x, A, C, B, 2, K, T, n, m, r), 0);
    cr_assert_eq(melora_noise_normal(O->o[11], 5, 3, 1 << 16), 0);
    double kl;
    cr_assert_eq(melora_melora_kl(&kl, O->o[2], O->o[4], O->o[5], w, A, M, H, 0.3f, 1, r, n), 0);
    float *ps[] = {x, A, B, GA, EA, dz, M, H, EC, sa, sb, C, As, u, v};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
    melora_free(w); melora_free(w2); melora_free(w3);
}

#endif

Test(threads, bitwise_identical_for_1_2_3_threads) {
#ifndef _OPENMP
    cr_skip_test("built without OpenMP: nothing to compare");
#else
    outs a, b, c;
    int keep = omp_get_max_threads();
    run_all(&a, 1);
    run_all(&b, 2);
    run_all(&c, 3);
    omp_set_num_threads(keep);
    for (int i = 0; i < NOUT; i++) {
        cr_assert(memcmp(a.o[i], b.o[i], a.n[i] * sizeof(float)) == 0, "output %d: 1 vs 2 threads", i);
        cr_assert(memcmp(a.o[i], c.o[i], a.n[i] * sizeof(float)) == 0, "output %d: 1 vs 3 threads", i);
        cr_assert(tu_maxabs(a.o[i], a.n[i]) > 0, "output %d never written", i);
        free(a.o[i]); free(b.o[i]); free(c.o[i]);
    }
#endif
}
