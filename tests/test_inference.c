/* Monte-Carlo inference shares u = x A^T over K samples; mean mode is C = M. */
#include "util.h"

/* r = 18 runs the transposed kernel for x A^T, T = 37 two 32-row blocks */
static const int MC_SHAPES[][5] = {{13, 21, 17, 5, 4}, {37, 40, 19, 18, 3}};
Test(inference, mc_forward_equals_k_separate_forwards) {
  for (int sh = 0; sh < 2; sh++) {
    const int T = MC_SHAPES[sh][0], n = MC_SHAPES[sh][1], m = MC_SHAPES[sh][2];
    const int r = MC_SHAPES[sh][3], K = MC_SHAPES[sh][4];
    float *x = tu_fill(T * n, 1, 1), *A = tu_fill(r * n, 2, 1), *B = tu_fill(m * r, 3, 1);
    float *C = tu_fill(K * r * r, 4, 1), *z0 = tu_fill((size_t)K * T * m, 5, 1);
    float *z = tu_copy(z0, (size_t)K * T * m), *u = tu_const(T * r, 0);
    void *w = tu_work(MELORA_OP_MELORA_MC_FORWARD, T, n, m, r);
    cr_assert_eq(melora_melora_mc_forward(z, u, w, x, A, C, B, 0.5f, K, T, n, m, r), MELORA_OK);
    for (int k = 0; k < K; k++) {
        float *zk = tu_copy(z0 + (size_t)k * T * m, T * m), *uk = tu_const(T * r, 0), *vk = tu_const(T * r, 0);
        cr_assert_eq(melora_melora_forward_naive(zk, uk, vk, x, A, C + k * r * r, B, 0.5f, 1, T, n, m, r), 0);
        tu_close("mc z_k", z + (size_t)k * T * m, zk, T * m, 1e-5, 1e-4);
        tu_close("mc u", u, uk, T * r, 1e-5, 1e-4);
        free(zk); free(uk); free(vk);
    }
    free(x); free(A); free(B); free(C); free(z0); free(z); free(u); melora_free(w);
  }
}

/* Mean mode: forward with C = M equals LoRA with A folded to M A (W = B M A). */
Test(inference, mean_mode_is_lora_with_folded_a) {
    const int T = 10, n = 19, m = 8, r = 3;
    float *x = tu_fill(T * n, 1, 1), *A = tu_fill(r * n, 2, 1), *B = tu_fill(m * r, 3, 1);
    float *M = tu_fill(r * r, 4, 1), *MA = tu_const(r * n, 0);
    for (int i = 0; i < r; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int k = 0; k < r; k++) acc += (double)M[i * r + k] * A[k * n + j];
            MA[i * n + j] = (float)acc;
        }
    float *z1 = tu_const(T * m, 0), *z2 = tu_const(T * m, 0), *u = tu_const(T * r, 0), *v = tu_const(T * r, 0);
    void *w = tu_work(MELORA_OP_MELORA_FORWARD, T, n, m, r);
    cr_assert_eq(melora_melora_forward(z1, u, v, w, x, A, M, B, 2.0f, 1, T, n, m, r), 0);
    cr_assert_eq(melora_lora_forward_naive(z2, u, x, MA, B, 2.0f, T, n, m, r), 0);
    tu_close("mean mode", z1, z2, T * m, 1e-4, 1e-4);
    free(x); free(A); free(B); free(M); free(MA); free(z1); free(z2); free(u); free(v); melora_free(w);
}

/* Backward adds into what the gradients held, and NULL skips a gradient without changing
   the others. */
Test(backward, accumulates_and_null_skips) {
    const int T = 11, n = 14, m = 9, r = 3, E = 1;
    float *x = tu_fill(T * n, 1, 1), *A = tu_fill(r * n, 2, 1), *B = tu_fill(m * r, 3, 1);
    float *M = tu_fill(r * r, 4, 1), *H = tu_fill(r * r, 5, 1), *EC = tu_fill(r * r, 6, 1);
    float *C = tu_const(r * r, 0), *dz = tu_fill(T * m, 7, 1);
    float *z = tu_const(T * m, 0), *u = tu_const(T * r, 0), *v = tu_const(T * r, 0);
    void *wf = tu_work(MELORA_OP_MELORA_FORWARD, T, n, m, r), *wb = tu_work(MELORA_OP_MELORA_BACKWARD, T, n, m, r);
    cr_assert_eq(melora_melora_sample(C, M, H, EC, E, r), 0);
    cr_assert_eq(melora_melora_forward(z, u, v, wf, x, A, C, B, 1, E, T, n, m, r), 0);
    size_t sz[5] = {(size_t)T * n, (size_t)r * n, (size_t)m * r, (size_t)r * r, (size_t)r * r};
    float *g0[5], *g1[5];
    for (int i = 0; i < 5; i++) { g0[i] = tu_const(sz[i], 0); g1[i] = tu_fill(sz[i], 20 + i, 1); }
    float *init[5];
    for (int i = 0; i < 5; i++) init[i] = tu_copy(g1[i], sz[i]);
    cr_assert_eq(melora_melora_backward(g0[0], g0[1], g0[2], g0[3], g0[4], wb, dz, u, v, x, A, C, B, H, EC, 1, E, T, n, m, r), 0);
    cr_assert_eq(melora_melora_backward(g1[0], g1[1], g1[2], g1[3], g1[4], wb, dz, u, v, x, A, C, B, H, EC, 1, E, T, n, m, r), 0);
    for (int i = 0; i < 5; i++) {
        for (size_t j = 0; j < sz[i]; j++) init[i][j] += g0[i][j];
        tu_close("accumulated", g1[i], init[i], sz[i], 1e-5, 1e-5);
    }
    /* each gradient alone equals the same gradient of the full call, bit for bit */
    for (int skip = 0; skip < 5; skip++) {
        float *g[5];
        for (int i = 0; i < 5; i++) g[i] = i == skip ? tu_const(sz[i], 0) : NULL;
        cr_assert_eq(melora_melora_backward(g[0], g[1], g[2], g[3], g[4], wb, dz, u, v, x, A, C, B, H, EC, 1, E, T, n, m, r), 0);
        cr_assert(memcmp(g[skip], g0[skip], sz[skip] * sizeof(float)) == 0, "gradient %d alone", skip);
        free(g[skip]);
    }
    for (int i = 0; i < 5; i++) { free(g0[i]); free(g1[i]); free(init[i]); }
    free(x); free(A); free(B); free(M); free(H); free(EC); free(C); free(dz); free(z); free(u); free(v);
    melora_free(wf); melora_free(wb);
}
