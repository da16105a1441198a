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
    const melora_dims d = {T, n, m, r, MELORA_FP32};
    const melora_melora_params p = {.A = A, .B = B, .s = 0.5f};
    const melora_lora_saved sv = {.x = x, .u = u};
    melora_work w = tu_work(MELORA_OP_MELORA_MC_FORWARD, d);
    cr_assert_eq(melora_melora_mc_forward(z, &sv, w, &p, C, K, d), MELORA_OK);
    for (int k = 0; k < K; k++) {
        float *zk = tu_copy(z0 + (size_t)k * T * m, T * m), *uk = tu_const(T * r, 0), *vk = tu_const(T * r, 0);
        const melora_melora_saved sk = {.x = x, .u = uk, .v = vk};
        const melora_melora_draw dk = {.C = C + k * r * r, .E = 1};
        cr_assert_eq(melora_melora_forward_naive(zk, &sk, &p, &dk, d), 0);
        tu_close("mc z_k", z + (size_t)k * T * m, zk, T * m, 1e-5, 1e-4);
        tu_close("mc u", u, uk, T * r, 1e-5, 1e-4);
        free(zk); free(uk); free(vk);
    }
    free(x); free(A); free(B); free(C); free(z0); free(z); free(u); melora_free(w.base);
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
    const melora_dims d = {T, n, m, r, MELORA_FP32};
    const melora_melora_params p = {.A = A, .B = B, .M = M, .s = 2.0f};
    const melora_melora_saved ms = {.x = x, .u = u, .v = v};
    const melora_melora_draw mean = {.C = M, .E = 1};
    const melora_lora_params folded = {.A = MA, .B = B, .s = 2.0f};
    const melora_lora_saved sv = {.x = x, .u = u};
    melora_work w = tu_work(MELORA_OP_MELORA_FORWARD, d);
    cr_assert_eq(melora_melora_forward(z1, &ms, w, &p, &mean, d), 0);
    cr_assert_eq(melora_lora_forward_naive(z2, &sv, &folded, d), 0);
    tu_close("mean mode", z1, z2, T * m, 1e-4, 1e-4);
    free(x); free(A); free(B); free(M); free(MA); free(z1); free(z2); free(u); free(v); melora_free(w.base);
}

/* Backward adds into what the gradients held, and NULL skips a gradient without changing
   the others. */
Test(backward, accumulates_and_null_skips) {
    const int T = 11, n = 14, m = 9, r = 3, E = 1;
    float *x = tu_fill(T * n, 1, 1), *A = tu_fill(r * n, 2, 1), *B = tu_fill(m * r, 3, 1);
    float *M = tu_fill(r * r, 4, 1), *H = tu_fill(r * r, 5, 1), *EC = tu_fill(r * r, 6, 1);
    float *C = tu_const(r * r, 0), *dz = tu_fill(T * m, 7, 1);
    float *z = tu_const(T * m, 0), *u = tu_const(T * r, 0), *v = tu_const(T * r, 0);
    const melora_dims d = {T, n, m, r, MELORA_FP32};
    const melora_melora_params p = {.A = A, .B = B, .M = M, .H = H, .s = 1};
    const melora_melora_saved ms = {.x = x, .u = u, .v = v};
    const melora_melora_draw dr = {.C = C, .EC = EC, .E = E};
    melora_work wf = tu_work(MELORA_OP_MELORA_FORWARD, d), wb = tu_work(MELORA_OP_MELORA_BACKWARD, d);
    cr_assert_eq(melora_melora_sample(C, &p, EC, E, r), 0);
    cr_assert_eq(melora_melora_forward(z, &ms, wf, &p, &dr, d), 0);
    size_t sz[5] = {(size_t)T * n, (size_t)r * n, (size_t)m * r, (size_t)r * r, (size_t)r * r};
    float *g0[5], *g1[5];
    for (int i = 0; i < 5; i++) { g0[i] = tu_const(sz[i], 0); g1[i] = tu_fill(sz[i], 20 + i, 1); }
    float *init[5];
    for (int i = 0; i < 5; i++) init[i] = tu_copy(g1[i], sz[i]);
    const melora_melora_grads mg0 = {.dA = g0[1], .dB = g0[2], .dM = g0[3], .dH = g0[4]};
    const melora_melora_grads mg1 = {.dA = g1[1], .dB = g1[2], .dM = g1[3], .dH = g1[4]};
    cr_assert_eq(melora_melora_backward(g0[0], &mg0, &ms, wb, dz, &p, &dr, d), 0);
    cr_assert_eq(melora_melora_backward(g1[0], &mg1, &ms, wb, dz, &p, &dr, d), 0);
    for (int i = 0; i < 5; i++) {
        for (size_t j = 0; j < sz[i]; j++) init[i][j] += g0[i][j];
        tu_close("accumulated", g1[i], init[i], sz[i], 1e-5, 1e-5);
    }
    /* each gradient alone equals the same gradient of the full call, bit for bit */
    for (int skip = 0; skip < 5; skip++) {
        float *g[5];
        for (int i = 0; i < 5; i++) g[i] = i == skip ? tu_const(sz[i], 0) : NULL;
        const melora_melora_grads mg = {.dA = g[1], .dB = g[2], .dM = g[3], .dH = g[4]};
        cr_assert_eq(melora_melora_backward(g[0], &mg, &ms, wb, dz, &p, &dr, d), 0);
        cr_assert(memcmp(g[skip], g0[skip], sz[skip] * sizeof(float)) == 0, "gradient %d alone", skip);
        free(g[skip]);
    }
    for (int i = 0; i < 5; i++) { free(g0[i]); free(g1[i]); free(init[i]); }
    free(x); free(A); free(B); free(M); free(H); free(EC); free(C); free(dz); free(z); free(u); free(v);
    melora_free(wf.base); melora_free(wb.base);
}
