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
    const melora_dims d = {T, n, m, r, MELORA_FP32};
    melora_work w = tu_work(MELORA_OP_FLIPOUT_BACKWARD, d), w2 = tu_work(MELORA_OP_MELORA_BACKWARD, d);
    melora_work w3 = tu_work(MELORA_OP_MELORA_MC_FORWARD, d);
    const melora_lora_saved sv = {.x = x, .u = u};
    const melora_melora_saved ms = {.x = x, .u = u, .v = v};
    const melora_lora_params lp = {.A = A, .B = B, .s = 2};
    const melora_blob_params bp = {.MA = A, .GA = GA, .B = B, .s = 2};
    const melora_melora_params mp = {.A = A, .B = B, .M = M, .H = H, .s = 2};
    const melora_melora_draw md = {.C = C, .EC = EC, .E = E};
    const melora_blob_draw bd = {.As = As, .EA = EA};
    const melora_flipout_noise nz = {.EA = EA, .sa = sa, .sb = sb, .G = G};
    const melora_melora_grads mg = {.dA = O->o[2], .dB = O->o[3], .dM = O->o[4], .dH = O->o[5]};
    const melora_blob_grads bg = {.dMA = O->o[8], .dGA = O->o[9], .dB = O->o[3]};
    const melora_lora_grads lg = {.dA = O->o[8], .dB = O->o[3]};
    const melora_melora_grads kg = {.dA = O->o[2], .dM = O->o[4], .dH = O->o[5]};
    cr_assert_eq(melora_melora_sample(C, &mp, EC, E, r), 0);
    cr_assert_eq(melora_melora_forward(O->o[0], &ms, w2, &mp, &md, d), 0);
    cr_assert_eq(melora_melora_backward(O->o[1], &mg, &ms, w2, dz, &mp, &md, d), 0);
    cr_assert_eq(melora_blob_flipout_forward(O->o[6], &sv, w, &bp, &nz, d), 0);
    cr_assert_eq(melora_blob_flipout_backward(O->o[7], &bg, &sv, w, dz, &bp, &nz, d), 0);
    cr_assert_eq(melora_blob_forward(O->o[6], &sv, As, w, &bp, EA, d), 0);
    cr_assert_eq(melora_blob_backward(O->o[7], &bg, &sv, w, dz, &bp, &bd, d), 0);
    cr_assert_eq(melora_lora_forward(O->o[6], &sv, w, &lp, d), 0);
    cr_assert_eq(melora_lora_backward(O->o[7], &lg, &sv, w, dz, &lp, d), 0);
    cr_assert_eq(melora_melora_mc_forward(O->o[10], &sv, w3, &mp, C, K, d), 0);
    cr_assert_eq(melora_noise_normal(O->o[11], 5, 3, 1 << 16), 0);
    double kl;
    cr_assert_eq(melora_melora_kl(&kl, &kg, w, &mp, 0.3f, 1, r, n), 0);
    float *ps[] = {x, A, B, GA, EA, dz, M, H, EC, sa, sb, C, As, u, v};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
    melora_free(w.base); melora_free(w2.base); melora_free(w3.base);
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
