/* Numerical edge cases, each with its documented behaviour (README, "Reliability"):
   zero / tiny / negative std parameters in the KLs, sigma <= 0, NaN propagating through
   every adapter instead of being dropped, zero H outside the KL, and size products at and
   beyond the address-space limit (including products that wrap size_t to 0). */
#include "util.h"
#include <float.h>
#include <limits.h>

#define NANF (0.0f / 0.0f)
#define INFF (1.0f / 0.0f)

static int all_eq(const float *a, float v, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &v, sizeof v) != 0) return 0;
    return 1;
}

/* A zero std (also -0), or a non-finite mean/std, makes every KL MELORA_ERR_VALUE with
   *kl and the gradients untouched; the library does not guard with an epsilon. */
Test(edge, kl_zero_or_nonfinite_std_is_value_error) {
    const int r = 3, n = 4;
    float *A = tu_fill(r * n, 1, 1), *M = tu_fill(r * r, 2, 1), *H = tu_fill(r * r, 3, 1);
    float *MA = tu_fill(r * n, 4, 1), *GA = tu_fill(r * n, 5, 1);
    float *g1 = tu_const(r * n, 5), *g2 = tu_const(r * n, 5), *g3 = tu_const(r * r, 5), *g4 = tu_const(r * r, 5);
    melora_work w = tu_work(MELORA_OP_MELORA_KL, (melora_dims){1, n, 1, r, MELORA_FP32});
    const melora_melora_grads mg = {g1, NULL, g3, g4}, mgx = {NULL, NULL, g3, g4};
    const melora_melora_params mp = {A, NULL, M, H, 0};
    const melora_blob_grads bg = {g1, g2, NULL};
    const melora_blob_params bp = {MA, GA, NULL, 0};
    const float bad[] = {0.0f, -0.0f, NANF, INFF, -INFF};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        double kl = 7.0;
        float keepH = H[4], keepG = GA[7], keepA = A[5], keepM = M[2], keepMA = MA[1];
        H[4] = bad[b];
        cr_assert_eq(melora_melora_kl(&kl, &mg, w, &mp, 0.2f, 1, r, n), MELORA_ERR_VALUE);
        cr_assert_eq(melora_melora_kl_prior_noise(&kl, &mg, w, &mp, 0.2f, 0.5f, 1, r, n), MELORA_ERR_VALUE);
        cr_assert_eq(melora_melora_kl_exact(&kl, &mgx, &mp, 0.2f, 1, r), MELORA_ERR_VALUE);
        H[4] = keepH;
        GA[7] = bad[b];
        cr_assert_eq(melora_blob_kl(&kl, &bg, &bp, 0.2f, 1, r, n), MELORA_ERR_VALUE);
        GA[7] = keepG;
        if (bad[b] != 0.0f) { /* non-finite means / A */
            MA[1] = bad[b];
            cr_assert_eq(melora_blob_kl(&kl, &bg, &bp, 0.2f, 1, r, n), MELORA_ERR_VALUE);
            MA[1] = keepMA;
            M[2] = bad[b];
            cr_assert_eq(melora_melora_kl_exact(&kl, &mgx, &mp, 0.2f, 1, r), MELORA_ERR_VALUE);
            cr_assert_eq(melora_melora_kl(&kl, &mg, w, &mp, 0.2f, 1, r, n), MELORA_ERR_VALUE);
            M[2] = keepM;
            A[5] = bad[b];
            cr_assert_eq(melora_melora_kl(&kl, &mg, w, &mp, 0.2f, 1, r, n), MELORA_ERR_VALUE);
            A[5] = keepA;
        }
        cr_assert_eq(kl, 7.0);
        cr_assert(all_eq(g1, 5, r * n) && all_eq(g2, 5, r * n) && all_eq(g3, 5, r * r) && all_eq(g4, 5, r * r),
                  "a gradient was written on MELORA_ERR_VALUE");
    }
    float *ps[] = {A, M, H, MA, GA, g1, g2, g3, g4};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
    melora_free(w.base);
}

/* Tiny stds are accepted: the value stays finite (computed in double); the gradient of
   -log(g^2) is -2/g, which leaves float range below g ~ 6e-39 and is then -Inf, the
   correctly rounded value, never a silently clipped one. The sign of a std parameter is
   irrelevant to the KL (Om = g^2) and flips its gradient. */
Test(edge, kl_tiny_and_negative_std) {
    const int r = 2, n = 3;
    float MA[6] = {0.1f, -0.2f, 0.3f, 0.0f, 0.5f, -0.6f};
    float GA[6] = {0.3f, 1e-20f, 0.2f, 0.4f, 0.5f, 0.6f}, GN[6];
    float d1[6] = {0}, d2[6] = {0}, m1[6] = {0}, m2[6] = {0};
    double k1, k2;
    for (int i = 0; i < 6; i++) GN[i] = -GA[i];
    cr_assert_eq(melora_blob_kl(&k1, &(melora_blob_grads){m1, d1, NULL}, &(melora_blob_params){MA, GA, NULL, 0}, 0.2f, 1, r, n), MELORA_OK);
    cr_assert_eq(melora_blob_kl(&k2, &(melora_blob_grads){m2, d2, NULL}, &(melora_blob_params){MA, GN, NULL, 0}, 0.2f, 1, r, n), MELORA_OK);
    cr_assert(isfinite(k1) && k1 == k2);
    for (int i = 0; i < 6; i++) {
        cr_assert(isfinite(d1[i]) && d1[i] == -d2[i] && m1[i] == m2[i], "entry %d", i);
    }
    cr_assert_float_eq(d1[1], -2.0f / 1e-20f, 1e14f); /* -2/g dominates */
    GA[1] = 1e-40f; /* denormal */
    memset(d1, 0, sizeof d1);
    cr_assert_eq(melora_blob_kl(&k1, &(melora_blob_grads){NULL, d1, NULL}, &(melora_blob_params){MA, GA, NULL, 0}, 0.2f, 1, r, n), MELORA_OK);
    cr_assert(isfinite(k1));
    cr_assert(isinf(d1[1]) && d1[1] < 0, "denormal std: gradient %g", d1[1]);
    cr_assert(isfinite(d1[0]) && isfinite(d1[2]));
}

/* sigma <= 0 (or non-finite) and eps outside [0,1) are MELORA_ERR_VALUE for every KL. */
Test(edge, sigma_nonpositive_is_value_error) {
    const int r = 2, n = 3;
    float *A = tu_fill(r * n, 1, 1), *M = tu_fill(r * r, 2, 1), *H = tu_fill(r * r, 3, 1);
    melora_work w = tu_work(MELORA_OP_MELORA_KL, (melora_dims){1, n, 1, r, MELORA_FP32});
    const melora_melora_params mp = {A, NULL, M, H, 0};
    const melora_blob_params bp = {A, A, NULL, 0};
    double kl = 3.0;
    const float sig[] = {0.0f, -0.0f, -1e-30f, -1.0f, NANF, INFF, -INFF};
    for (size_t i = 0; i < sizeof sig / sizeof sig[0]; i++) {
        cr_assert_eq(melora_blob_kl(&kl, NULL, &bp, sig[i], 1, r, n), MELORA_ERR_VALUE);
        cr_assert_eq(melora_melora_kl(&kl, NULL, w, &mp, sig[i], 1, r, n), MELORA_ERR_VALUE);
        cr_assert_eq(melora_melora_kl_prior_noise(&kl, NULL, w, &mp, sig[i], 0.5f, 1, r, n), MELORA_ERR_VALUE);
        cr_assert_eq(melora_melora_kl_exact(&kl, NULL, &mp, sig[i], 1, r), MELORA_ERR_VALUE);
    }
    const float eps_bad[] = {1.0f, 1.5f, -1e-30f, NANF, INFF};
    for (size_t i = 0; i < sizeof eps_bad / sizeof eps_bad[0]; i++)
        cr_assert_eq(melora_melora_kl_prior_noise(&kl, NULL, w, &mp, 0.2f, eps_bad[i], 1, r, n), MELORA_ERR_VALUE);
    cr_assert_eq(kl, 3.0);
    cr_assert_eq(melora_melora_kl_prior_noise(&kl, NULL, w, &mp, 0.2f, 0.99999994f, 1, r, n), MELORA_OK);
    cr_assert_eq(melora_melora_kl_prior_noise(&kl, NULL, w, &mp, 0.2f, 0.0f, 1, r, n), MELORA_OK);
    cr_assert(isfinite(kl));
    free(A); free(M); free(H); melora_free(w.base);
}

/* H = 0 (a deterministic C) is valid outside the KL: C = M exactly, and dH gets 0. */
Test(edge, zero_h_outside_kl) {
    const int T = 6, n = 5, m = 4, r = 3, E = 2;
    float *x = tu_fill(T * n, 1, 1), *A = tu_fill(r * n, 2, 1), *B = tu_fill(m * r, 3, 1), *dz = tu_fill(T * m, 4, 1);
    float *Mm = tu_fill(r * r, 5, 1), *H = tu_const(r * r, 0), *EC = tu_fill(E * r * r, 6, 1);
    float *C = tu_const(E * r * r, 9), *z = tu_const(T * m, 0), *u = tu_const(T * r, 0), *v = tu_const(T * r, 0);
    float *dH = tu_const(r * r, 0), *dM = tu_const(r * r, 0);
    const melora_dims d = {T, n, m, r, MELORA_FP32};
    melora_work w = tu_work(MELORA_OP_MELORA_BACKWARD, d);
    const melora_melora_params mp = {A, B, Mm, H, 2};
    const melora_melora_saved sv = {x, u, v};
    const melora_melora_draw dr = {C, EC, E};
    cr_assert_eq(melora_melora_sample(C, &mp, EC, E, r), MELORA_OK);
    for (int e = 0; e < E; e++) cr_assert(memcmp(C + e * r * r, Mm, r * r * sizeof(float)) == 0);
    cr_assert_eq(melora_melora_forward(z, &sv, w, &mp, &dr, d), MELORA_OK);
    cr_assert_eq(melora_melora_backward(NULL, &(melora_melora_grads){NULL, NULL, dM, dH}, &sv, w, dz, &mp, &dr, d), MELORA_OK);
    for (int i = 0; i < r * r; i++) cr_assert(dH[i] == 0.0f && isfinite(dM[i]));
    float *ps[] = {x, A, B, dz, Mm, H, EC, C, z, u, v, dH, dM};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
    melora_free(w.base);
}

/* NaN in one input entry propagates to exactly the outputs that depend on it (fast paths
   and naive references): x[t0][j0] = NaN makes row t0 of z and column j0 of the A-gradient
   NaN and all of dB/dM/dH NaN, while every other entry is bitwise what it is without the
   NaN and dx does not depend on x at all. */
enum { MT_LORA, MT_BLOB, MT_FLIP, MT_MELORA, MT_MELORA_E, MT_N };
typedef struct { float *z, *dx, *dA, *dB, *dG; } nan_out;

static void run_method(int meth, int naive, const float *x, nan_out *o) {
    const int T = 13, n = 21, m = 9, r = 3, G = 2, E = meth == MT_MELORA_E ? 13 : 1, ng = (T + G - 1) / G;
    float *A = tu_fill(r * n, 2, 1), *B = tu_fill(m * r, 3, 1), *GA = tu_fill(r * n, 4, 1), *EA = tu_fill(r * n, 5, 1);
    float *dz = tu_fill(T * m, 6, 1), *Mm = tu_fill(r * r, 7, 1), *H = tu_fill(r * r, 8, 1), *EC = tu_fill(E * r * r, 9, 1);
    float *sa = tu_signs(ng * n, 10), *sb = tu_signs(ng * r, 11), *C = tu_const(E * r * r, 0), *As = tu_const(r * n, 0);
    float *u = tu_const(T * r, 0), *v = tu_const(T * r, 0);
    const melora_dims dm = {T, n, m, r, MELORA_FP32};
    melora_work w = tu_work(MELORA_OP_FLIPOUT_BACKWARD, dm), w2 = tu_work(MELORA_OP_MELORA_BACKWARD, dm);
    o->z = tu_const(T * m, 0); o->dx = tu_const(T * n, 0); o->dA = tu_const(r * n, 0);
    o->dB = tu_const(m * r, 0); o->dG = tu_const(r * r > r * n ? r * r : r * n, 0);
    const melora_lora_saved sv = {x, u};
    const melora_melora_saved msv = {x, u, v};
    const melora_blob_params bp = {A, GA, B, 2};
    const melora_blob_grads bg = {o->dA, o->dG, o->dB};
    const melora_flipout_noise nz = {EA, sa, sb, G};
    const melora_melora_params mp = {A, B, Mm, H, 2};
    const melora_melora_grads mg = {o->dA, o->dB, o->dG, NULL};
    const melora_melora_draw dr = {C, EC, E};
    melora_status s1 = MELORA_OK, s2 = MELORA_OK;
    switch (meth) {
    case MT_LORA:
    case MT_BLOB: {
        const float *Au = A;
        if (meth == MT_BLOB) { cr_assert_eq(melora_blob_sample(As, &bp, EA, r, n), 0); Au = As; }
        const melora_lora_params lp = {Au, B, 2};
        const melora_lora_grads lg = {o->dA, o->dB};
        if (naive) {
            s1 = melora_lora_forward_naive(o->z, &sv, &lp, dm);
            s2 = melora_lora_backward_naive(o->dx, &lg, &sv, dz, &lp, dm);
        } else if (meth == MT_LORA) {
            s1 = melora_lora_forward(o->z, &sv, w, &lp, dm);
            s2 = melora_lora_backward(o->dx, &lg, &sv, w, dz, &lp, dm);
        } else {
            s1 = melora_blob_forward(o->z, &sv, As, w, &bp, EA, dm);
            s2 = melora_blob_backward(o->dx, &bg, &sv, w, dz, &bp, &(melora_blob_draw){As, EA}, dm);
        }
        break;
    }
    case MT_FLIP:
        if (naive) {
            s1 = melora_blob_flipout_forward_naive(o->z, &sv, &bp, &nz, dm);
            s2 = melora_blob_flipout_backward_naive(o->dx, &bg, &sv, dz, &bp, &nz, dm);
        } else {
            s1 = melora_blob_flipout_forward(o->z, &sv, w, &bp, &nz, dm);
            s2 = melora_blob_flipout_backward(o->dx, &bg, &sv, w, dz, &bp, &nz, dm);
        }
        break;
    default:
        cr_assert_eq(melora_melora_sample(C, &mp, EC, E, r), 0);
        if (naive) {
            s1 = melora_melora_forward_naive(o->z, &msv, &mp, &dr, dm);
            s2 = melora_melora_backward_naive(o->dx, &mg, &msv, dz, &mp, &dr, dm);
        } else {
            s1 = melora_melora_forward(o->z, &msv, w2, &mp, &dr, dm);
            s2 = melora_melora_backward(o->dx, &mg, &msv, w2, dz, &mp, &dr, dm);
        }
    }
    cr_assert(s1 == MELORA_OK && s2 == MELORA_OK, "method %d naive %d: %d %d", meth, naive, s1, s2);
    float *ps[] = {A, B, GA, EA, dz, Mm, H, EC, sa, sb, C, As, u, v};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
    melora_free(w.base); melora_free(w2.base);
}

Test(edge, nan_propagates_to_exactly_its_dependents) {
    const int T = 13, n = 21, m = 9, r = 3, t0 = 9, j0 = 17; /* row 9: the second block */
    for (int meth = 0; meth < MT_N; meth++)
        for (int naive = 0; naive < 2; naive++) {
            if (naive && meth == MT_BLOB) continue; /* = LoRA naive with A = As */
            float *x = tu_fill(T * n, 1, 1);
            nan_out c, d;
            run_method(meth, naive, x, &c);
            x[t0 * n + j0] = NANF;
            run_method(meth, naive, x, &d);
            for (int t = 0; t < T; t++)
                for (int i = 0; i < m; i++) {
                    float a = d.z[t * m + i];
                    if (t == t0) cr_assert(isnan(a), "method %d naive %d: z[%d][%d] = %g", meth, naive, t, i, a);
                    else cr_assert(memcmp(&a, &c.z[t * m + i], 4) == 0, "method %d: z[%d][%d] changed", meth, t, i);
                }
            cr_assert(memcmp(c.dx, d.dx, T * n * sizeof(float)) == 0, "method %d naive %d: dx changed", meth, naive);
            for (int k = 0; k < r; k++)
                for (int j = 0; j < n; j++) {
                    float a = d.dA[k * n + j];
                    if (j == j0) cr_assert(isnan(a), "method %d naive %d: dA[%d][%d] = %g", meth, naive, k, j, a);
                    else cr_assert(memcmp(&a, &c.dA[k * n + j], 4) == 0, "method %d naive %d: dA[%d][%d] changed", meth, naive, k, j);
                }
            for (int i = 0; i < m * r; i++) cr_assert(isnan(d.dB[i]), "method %d: dB[%d] = %g", meth, i, d.dB[i]);
            if (meth >= MT_MELORA)
                for (int i = 0; i < r * r; i++) cr_assert(isnan(d.dG[i]), "method %d: dM[%d] = %g", meth, i, d.dG[i]);
            if (meth == MT_BLOB || meth == MT_FLIP)
                for (int k = 0; k < r; k++) cr_assert(isnan(d.dG[k * n + j0]), "method %d: dGA column", meth);
            float *ps[] = {x, c.z, c.dx, c.dA, c.dB, c.dG, d.z, d.dx, d.dA, d.dB, d.dG};
            for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
        }
}

/* Denormal inputs take no special path: outputs are finite and match the naive reference. */
Test(edge, denormal_inputs) {
    const int T = 11, n = 40, m = 7, r = 2;
    float *x = tu_fill(T * n, 1, 1e-39), *A = tu_fill(r * n, 2, 1), *B = tu_fill(m * r, 3, 1);
    float *z1 = tu_const(T * m, 0), *z2 = tu_const(T * m, 0), *u1 = tu_const(T * r, 0), *u2 = tu_const(T * r, 0);
    const melora_dims d = {T, n, m, r, MELORA_FP32};
    const melora_lora_params lp = {A, B, 1e30f};
    melora_work w = tu_work(MELORA_OP_LORA_FORWARD, d);
    cr_assert_eq(melora_lora_forward(z1, &(melora_lora_saved){x, u1}, w, &lp, d), 0);
    cr_assert_eq(melora_lora_forward_naive(z2, &(melora_lora_saved){x, u2}, &lp, d), 0);
    for (int i = 0; i < T * m; i++) cr_assert(isfinite(z1[i]) && z1[i] != 0.0f, "z[%d] = %g", i, z1[i]);
    tu_close("z", z1, z2, T * m, 1e-9, 1e-3);
    float *ps[] = {x, A, B, z1, z2, u1, u2};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
    melora_free(w.base);
}

/* Indexing is size_t throughout: T*n beyond 2^31 (and beyond 2^32) is accepted when the
   buffers are addressable; products beyond PTRDIFF_MAX/8 elements are MELORA_ERR_OVERFLOW,
   including products that wrap size_t to exactly 0 (2^30 * 2^17 * 2^17 = 2^64). Calls
   expected to fail get tiny buffers: nothing may be touched. */
Test(edge, size_products_at_the_limits) {
    size_t bytes = 0;
    static double storage[8][8]; /* 8-byte aligned rows: a valid workspace pointer */
    float (*buf)[16] = (float (*)[16])storage;
    double kl = 1;
    memset(storage, 0x3c, sizeof storage);
    unsigned char keep[sizeof storage];
    memcpy(keep, storage, sizeof storage);
    /* accepted: T*n = 2^32 + 2^20 and 3*2^31 (beyond a 32-bit address space: rejected) */
    const melora_status big = sizeof(size_t) >= 8 ? MELORA_OK : MELORA_ERR_OVERFLOW;
    cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_LORA_FORWARD, (melora_dims){(1 << 20) + 1, 1 << 12, 8, 8, MELORA_FP32}), big);
    cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_FLIPOUT_BACKWARD, (melora_dims){3, INT_MAX, 4, 2, MELORA_FP32}), big);
    cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_MELORA_BACKWARD, (melora_dims){INT_MAX, 8, 8, 64, MELORA_FP32}), big);
    if (big == MELORA_OK)
        cr_assert(bytes >= (size_t)INT_MAX * 64 * sizeof(float), "dv (T,r) must fit: %zu", bytes);
    /* rejected: T*n = 2^62 > PTRDIFF_MAX/8 */
    cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_LORA_FORWARD, (melora_dims){INT_MAX, INT_MAX, 8, 8, MELORA_FP32}), MELORA_ERR_OVERFLOW);
    /* the workspace claims any size, so that the size checks are the ones that answer */
    const melora_work w = {buf[3], SIZE_MAX};
    const melora_lora_params lp = {buf[4], buf[5], 1};
    const melora_melora_params mp = {buf[5], buf[7], buf[1], buf[2], 1};
    cr_assert_eq(melora_lora_forward(buf[0], &(melora_lora_saved){buf[3], buf[1]}, (melora_work){buf[2], SIZE_MAX}, &lp,
                                     (melora_dims){INT_MAX, INT_MAX, 1, 1, MELORA_FP32}), MELORA_ERR_OVERFLOW);
    /* E*r*r = 2^64 wraps size_t to 0 */
    cr_assert_eq(melora_melora_sample(buf[0], &mp, buf[3], 1 << 30, 1 << 17), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_melora_forward(buf[0], &(melora_melora_saved){buf[4], buf[1], buf[2]}, w, &mp,
                                       &(melora_melora_draw){buf[6], NULL, 1 << 30}, (melora_dims){1 << 30, 1, 1, 1 << 17, MELORA_FP32}),
                 MELORA_ERR_OVERFLOW);
    /* K*T*m = 2^22 * 2^21 * 2^21 = 2^64 wraps to 0 */
    cr_assert_eq(melora_melora_mc_forward(buf[0], &(melora_lora_saved){buf[3], buf[1]}, (melora_work){buf[2], SIZE_MAX},
                                          &(melora_melora_params){buf[4], buf[6], NULL, NULL, 1}, buf[5], 1 << 22,
                                          (melora_dims){1 << 21, 1, 1 << 21, 1, MELORA_FP32}), MELORA_ERR_OVERFLOW);
    /* r*n = 2^62 */
    cr_assert_eq(melora_blob_kl(&kl, &(melora_blob_grads){buf[0], buf[1], NULL}, &(melora_blob_params){buf[2], buf[3], NULL, 0},
                                0.2f, 1, INT_MAX, INT_MAX), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_melora_kl_exact(&kl, &(melora_melora_grads){NULL, NULL, buf[0], buf[1]},
                                        &(melora_melora_params){NULL, NULL, buf[2], buf[3], 0}, 0.2f, 1, INT_MAX),
                 MELORA_ERR_OVERFLOW);
    /* counts: 2^62 elements, and an int64 parameter count that overflows */
    cr_assert_eq(melora_noise_normal(buf[0], 1, 0, (int64_t)1 << 62), MELORA_ERR_OVERFLOW);
    int64_t p = 0;
    cr_assert_eq(melora_count_params(&p, MELORA_METHOD_MELORA, 1, 1, (int64_t)1 << 32), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_count_params(&p, MELORA_METHOD_LORA, INT64_MAX / 2 + 1, INT64_MAX / 2 + 1, 1), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_count_params(&p, MELORA_METHOD_LORA, (int64_t)1 << 40, (int64_t)1 << 20, 8), MELORA_OK);
    cr_assert_eq(p, ((int64_t)1 << 43) + ((int64_t)1 << 23));
    cr_assert(memcmp(keep, storage, sizeof storage) == 0 && kl == 1, "a rejected call wrote to its buffers");
}
