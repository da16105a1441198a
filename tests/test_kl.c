/* The three KLs: values against independent formulas, gradients against finite
   differences, eq. 8 against eq. 7, KL_C against a Monte-Carlo estimate; and the sample
   statistics of C and As. */
#include "model.h"

/* eq. 7 alone through the model (all adapter terms zero: dz = 0). */
static tm_problem kl_problem(int r, int n, double *A, double *M, double *H, double sigma,
                             int kind) {
    tm_problem p;
    memset(&p, 0, sizeof p);
    p.method = TM_MELORA; p.T = 1; p.n = n; p.m = 1; p.r = r; p.E = 1; p.s = 1;
    p.x = (double *)calloc((size_t)n, sizeof(double));
    p.B = (double *)calloc((size_t)r, sizeof(double));
    p.EC = (double *)calloc((size_t)r * r, sizeof(double));
    p.dz = (double *)calloc(1, sizeof(double));
    p.A = A; p.M = M; p.H = H; p.kl = kind; p.lambda = 1.0; p.sigma = sigma;
    return p;
}
static void free_kl_problem(tm_problem *p) { free(p->x); free(p->B); free(p->EC); free(p->dz); }
/* eq. 7's workspace depends on r and n alone */
static melora_dims kl_dims(int r, int n) { melora_dims d = {1, n, 1, r, MELORA_FP32}; return d; }

Test(kl, eq7_value_and_gradients) {
    const int shapes[][2] = {{1, 1}, {3, 7}, {5, 33}, {8, 20}};
    for (int s = 0; s < 4; s++) {
        int r = shapes[s][0], n = shapes[s][1];
        float *A = tu_fill((size_t)r * n, 31 + s, 1.0), *M = tu_fill((size_t)r * r, 32 + s, 1.0);
        float *H = tu_fill((size_t)r * r, 33 + s, 1.0);
        for (int i = 0; i < r * r; i++) H[i] += H[i] < 0 ? -0.2f : 0.2f;
        float *dA = tu_fill((size_t)r * n, 34, 1.0), *dM = tu_fill((size_t)r * r, 35, 1.0);
        float *dH = tu_fill((size_t)r * r, 36, 1.0);
        float *dA0 = tu_copy(dA, (size_t)r * n), *dM0 = tu_copy(dM, (size_t)r * r),
              *dH0 = tu_copy(dH, (size_t)r * r);
        melora_work w = tu_work(MELORA_OP_MELORA_KL, kl_dims(r, n));
        double kl = 0;
        const float sigma = 0.45f, weight = 1.5f;
        const melora_melora_params p7 = {.A = A, .M = M, .H = H};
        const melora_melora_grads g7 = {.dA = dA, .dM = dM, .dH = dH};
        cr_assert_eq(melora_melora_kl(&kl, &g7, w, &p7, sigma, weight, r, n), MELORA_OK);
        double *Ad = tm_dup(A, (size_t)r * n), *Md = tm_dup(M, (size_t)r * r), *Hd = tm_dup(H, (size_t)r * r);
        tm_problem p = kl_problem(r, n, Ad, Md, Hd, sigma, TM_KL_EQ7);
        double want = tm_loss(&p);
        cr_assert(fabs(kl - want) <= 1e-9 * (1 + fabs(want)), "kl %.12g want %.12g", kl, want);
        for (int i = 0; i < r * n; i++) dA[i] = (dA[i] - dA0[i]) / weight;
        for (int i = 0; i < r * r; i++) { dM[i] = (dM[i] - dM0[i]) / weight; dH[i] = (dH[i] - dH0[i]) / weight; }
        tm_check_grad("eq7 dA", &p, Ad, dA, (size_t)r * n);
        tm_check_grad("eq7 dM", &p, Md, dM, (size_t)r * r);
        tm_check_grad("eq7 dH", &p, Hd, dH, (size_t)r * r);
        free_kl_problem(&p);
        free(Ad); free(Md); free(Hd); free(A); free(M); free(H);
        free(dA); free(dM); free(dH); free(dA0); free(dM0); free(dH0);
        melora_free(w.base);
    }
}

Test(kl, eq8_is_eq7_with_shifted_sigma) {
    const int r = 4, n = 9;
    float *A = tu_fill(r * n, 1, 1.0), *M = tu_fill(r * r, 2, 1.0), *H = tu_fill(r * r, 3, 1.0);
    float *g7[3], *g8[3];
    melora_work w = tu_work(MELORA_OP_MELORA_KL, kl_dims(r, n));
    const melora_melora_params p = {.A = A, .M = M, .H = H};
    const float eps_list[] = {0.0f, 0.37f, melora_rng_uniform(2024, 5)};
    for (int e = 0; e < 3; e++) {
        double k7, k8;
        g7[0] = tu_const(r * n, 0); g7[1] = tu_const(r * r, 0); g7[2] = tu_const(r * r, 0);
        g8[0] = tu_const(r * n, 0); g8[1] = tu_const(r * r, 0); g8[2] = tu_const(r * r, 0);
        const melora_melora_grads d7 = {.dA = g7[0], .dM = g7[1], .dH = g7[2]};
        const melora_melora_grads d8 = {.dA = g8[0], .dM = g8[1], .dH = g8[2]};
        cr_assert_eq(melora_melora_kl(&k7, &d7, w, &p, 0.2f + eps_list[e], 1, r, n), 0);
        cr_assert_eq(melora_melora_kl_prior_noise(&k8, &d8, w, &p, 0.2f, eps_list[e], 1, r, n), 0);
        cr_assert_eq(k7, k8);
        cr_assert(memcmp(g7[0], g8[0], r * n * sizeof(float)) == 0);
        cr_assert(memcmp(g7[1], g8[1], r * r * sizeof(float)) == 0);
        cr_assert(memcmp(g7[2], g8[2], r * r * sizeof(float)) == 0);
        for (int i = 0; i < 3; i++) { free(g7[i]); free(g8[i]); }
    }
    /* a larger sigma weakens the data terms: the value must change with eps */
    double a, b;
    cr_assert_eq(melora_melora_kl_prior_noise(&a, NULL, w, &p, 0.2f, 0.0f, 1, r, n), 0);
    cr_assert_eq(melora_melora_kl_prior_noise(&b, NULL, w, &p, 0.2f, 0.5f, 1, r, n), 0);
    cr_assert(b < a);
    free(A); free(M); free(H); melora_free(w.base);
}

/* KL_C = E_q[log q(C) - log p(C)]: a Monte-Carlo mean over N draws, within 5 standard
   errors. Draws come from the library's own normal stream. */
Test(kl, exact_kl_matches_monte_carlo) {
    const int r = 3, N = 200000;
    float *M = tu_fill(r * r, 5, 0.5), *H = tu_fill(r * r, 6, 0.6);
    for (int i = 0; i < r * r; i++) H[i] += H[i] < 0 ? -0.4f : 0.4f;
    const float sigma = 0.8f;
    double kl;
    const melora_melora_params p = {.M = M, .H = H};
    cr_assert_eq(melora_melora_kl_exact(&kl, NULL, &p, sigma, 1, r), 0);
    float *eps = tu_const((size_t)N * r * r, 0), *C = tu_const((size_t)N * r * r, 0);
    cr_assert_eq(melora_noise_normal(eps, 77, 0, (int64_t)N * r * r), 0);
    cr_assert_eq(melora_melora_sample(C, &p, eps, N, r), 0);
    double s1 = 0, s2 = 0;
    for (int d = 0; d < N; d++) {
        double l = 0;
        for (int i = 0; i < r * r; i++) {
            double om = (double)H[i] * H[i], c = C[(size_t)d * r * r + i];
            double lq = -log(om) - 0.5 * (c - M[i]) * (c - M[i]) / (om * om);
            double lp = -log(sigma) - 0.5 * c * c / ((double)sigma * sigma);
            l += lq - lp;
        }
        s1 += l; s2 += l * l;
    }
    double mean = s1 / N, se = sqrt((s2 / N - mean * mean) / N);
    cr_assert(fabs(mean - kl) < 5 * se, "MC %g +- %g vs closed form %g", mean, se, kl);
    /* the same closed form, by hand */
    double want = 0;
    for (int i = 0; i < r * r; i++) {
        double om = (double)H[i] * H[i];
        want += log(sigma) - log(om) + (om * om + (double)M[i] * M[i]) / (2.0 * sigma * sigma) - 0.5;
    }
    cr_assert(fabs(kl - want) < 1e-12 * (1 + fabs(want)));
    free(M); free(H); free(eps); free(C);
}

/* A zero std makes the KL infinite: an error, and nothing written. */
Test(kl, zero_std_is_an_error) {
    const int r = 2, n = 3;
    float *A = tu_fill(r * n, 1, 1), *M = tu_fill(r * r, 2, 1), *H = tu_fill(r * r, 3, 1);
    float *g = tu_const(r * n, 5.0f), *gm = tu_const(r * r, 5.0f), *gh = tu_const(r * r, 5.0f);
    melora_work w = tu_work(MELORA_OP_MELORA_KL, kl_dims(r, n));
    double kl = 123.0;
    H[3] = 0.0f;
    const melora_melora_params mp = {.A = A, .M = M, .H = H};
    const melora_melora_grads mg = {.dA = g, .dM = gm, .dH = gh};
    const melora_melora_grads mgx = {.dM = gm, .dH = gh};
    cr_assert_eq(melora_melora_kl(&kl, &mg, w, &mp, 0.2f, 1, r, n), MELORA_ERR_VALUE);
    cr_assert_eq(melora_melora_kl_exact(&kl, &mgx, &mp, 0.2f, 1, r), MELORA_ERR_VALUE);
    float *GA = tu_fill(r * n, 4, 1);
    GA[5] = 0.0f;
    float *g2 = tu_const(r * n, 5.0f); /* dMA, dGA apart: an overlap is MELORA_ERR_ALIAS */
    const melora_blob_params bp = {.MA = A, .GA = GA};
    const melora_blob_grads bg = {.dMA = g, .dGA = g2};
    cr_assert_eq(melora_blob_kl(&kl, &bg, &bp, 0.2f, 1, r, n), MELORA_ERR_VALUE);
    cr_assert_eq(kl, 123.0);
    for (int i = 0; i < r * n; i++) cr_assert(g[i] == 5.0f && g2[i] == 5.0f);
    for (int i = 0; i < r * r; i++) cr_assert(gm[i] == 5.0f && gh[i] == 5.0f);
    free(A); free(M); free(H); free(g); free(g2); free(gm); free(gh); free(GA); melora_free(w.base);
}

/* Many draws of C (Me-LoRA) and As (BLoB): entrywise mean and variance within 5 sigma. */
Test(sampling, moments_of_c_and_as) {
    const int r = 4, N = 40000;
    float *M = tu_fill(r * r, 8, 1.0), *H = tu_fill(r * r, 9, 0.8);
    float *eps = tu_const((size_t)N * r * r, 0), *C = tu_const((size_t)N * r * r, 0);
    cr_assert_eq(melora_noise_normal(eps, 1234, 999, (int64_t)N * r * r), 0);
    const melora_melora_params mp = {.M = M, .H = H};
    cr_assert_eq(melora_melora_sample(C, &mp, eps, N, r), 0);
    for (int i = 0; i < r * r; i++) {
        double s1 = 0, s2 = 0, om = (double)H[i] * H[i];
        for (int d = 0; d < N; d++) s1 += C[(size_t)d * r * r + i];
        double mean = s1 / N;
        for (int d = 0; d < N; d++) {
            double c = C[(size_t)d * r * r + i] - M[i];
            s2 += c * c;
        }
        double var = s2 / N, v = om * om;
        cr_assert(fabs(mean - M[i]) <= 5 * om / sqrt(N) + 1e-7, "C mean[%d] %g vs %g", i, mean, M[i]);
        cr_assert(fabs(var - v) <= 5 * v * sqrt(2.0 / N) + 1e-12, "C var[%d] %g vs %g", i, var, v);
    }
    /* BLoB: As over N draws of EA, all of shape (2,3) */
    const int rn = 6;
    float *MA = tu_fill(rn, 10, 1.0), *GA = tu_fill(rn, 11, 0.7), *As = tu_const(rn, 0);
    const melora_blob_params bp = {.MA = MA, .GA = GA};
    double s1[6] = {0}, s2[6] = {0};
    for (int d = 0; d < N; d++) {
        float ea[6];
        cr_assert_eq(melora_noise_normal(ea, 55, (uint64_t)d * rn, rn), 0);
        cr_assert_eq(melora_blob_sample(As, &bp, ea, 2, 3), 0);
        for (int i = 0; i < rn; i++) {
            s1[i] += As[i];
            s2[i] += ((double)As[i] - MA[i]) * ((double)As[i] - MA[i]);
        }
    }
    for (int i = 0; i < rn; i++) {
        double om = (double)GA[i] * GA[i], v = om * om;
        cr_assert(fabs(s1[i] / N - MA[i]) <= 5 * om / sqrt(N) + 1e-7, "As mean[%d]", i);
        cr_assert(fabs(s2[i] / N - v) <= 5 * v * sqrt(2.0 / N) + 1e-12, "As var[%d]", i);
    }
    free(M); free(H); free(eps); free(C); free(MA); free(GA); free(As);
}

/* eq. 7/8 with a non-finite entry in A, M or H (or finite entries whose KL leaves
   double's range): MELORA_ERR_VALUE, and the gradients, *kl and the whole workspace are
   byte for byte what they were, P and S included. */
static void eq7_rejects_untouched(float *A, float *M, float *H, float sigma, int r, int n,
                                  const char *what) {
    size_t bytes = 0;
    cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_MELORA_KL, kl_dims(r, n)), MELORA_OK);
    melora_work work = tu_work(MELORA_OP_MELORA_KL, kl_dims(r, n));
    unsigned char *w = (unsigned char *)work.base;
    unsigned char *w0 = (unsigned char *)malloc(bytes);
    float *dA = tu_fill((size_t)r * n, 41, 1.0), *dM = tu_fill((size_t)r * r, 42, 1.0);
    float *dH = tu_fill((size_t)r * r, 43, 1.0);
    float *dA0 = tu_copy(dA, (size_t)r * n), *dM0 = tu_copy(dM, (size_t)r * r),
          *dH0 = tu_copy(dH, (size_t)r * r);
    const melora_melora_params p = {.A = A, .M = M, .H = H};
    const melora_melora_grads g = {.dA = dA, .dM = dM, .dH = dH};
    cr_assert(w0);
    for (int f = 0; f < 2; f++) {
        double kl = -3.25;
        for (size_t i = 0; i < bytes; i++) w[i] = (unsigned char)(i * 131u + 7u);
        memcpy(w0, w, bytes);
        melora_status st =
            f == 0 ? melora_melora_kl(&kl, &g, work, &p, sigma, 0.5f, r, n)
                   : melora_melora_kl_prior_noise(&kl, &g, work, &p, sigma, 0.0f, 0.5f, r, n);
        cr_assert_eq(st, MELORA_ERR_VALUE, "%s (%s)", what, f ? "eq. 8" : "eq. 7");
        cr_assert_eq(kl, -3.25, "%s: *kl written", what);
        cr_assert(memcmp(w, w0, bytes) == 0, "%s: workspace written on error", what);
        cr_assert(memcmp(dA, dA0, (size_t)r * n * sizeof(float)) == 0, "%s: dA written", what);
        cr_assert(memcmp(dM, dM0, (size_t)r * r * sizeof(float)) == 0, "%s: dM written", what);
        cr_assert(memcmp(dH, dH0, (size_t)r * r * sizeof(float)) == 0, "%s: dH written", what);
    }
    melora_free(work.base); free(w0); free(dA); free(dM); free(dH); free(dA0); free(dM0); free(dH0);
}

Test(kl, eq7_bad_entry_writes_nothing) {
    const int shapes[][2] = {{3, 5}, {17, 40}};
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (int s = 0; s < 2; s++) {
        int r = shapes[s][0], n = shapes[s][1];
        float *A = tu_fill((size_t)r * n, 51, 1.0), *M = tu_fill((size_t)r * r, 52, 1.0);
        float *H = tu_fill((size_t)r * r, 53, 1.0);
        for (int i = 0; i < r * r; i++) H[i] += H[i] < 0 ? -0.2f : 0.2f;
        for (int b = 0; b < 3; b++) {
            size_t ia = (size_t)r * n - 2, im = (size_t)r + 1, ih = (size_t)r * r - 1;
            float ka = A[ia], km = M[im], kh = H[ih];
            A[ia] = bad[b];
            eq7_rejects_untouched(A, M, H, 0.3f, r, n, "bad A");
            A[ia] = ka;
            M[im] = bad[b];
            eq7_rejects_untouched(A, M, H, 0.3f, r, n, "bad M");
            M[im] = km;
            H[ih] = bad[b];
            eq7_rejects_untouched(A, M, H, 0.3f, r, n, "bad H");
            H[ih] = kh;
        }
        free(A); free(M); free(H);
    }
}

/* Finite entries can still give a KL past double's range: |A| = |H| = 1e38 and sigma =
   1e-40 make each S entry 3e114 and (sum S^2) / (2 sigma^2) about 5e309. That is an error
   too, found before the workspace is written. With one huge std meeting only tiny entries
   of A, the a-priori bound overflows but the KL does not: the value comes out, equal to
   the sums formed here in double. */
Test(kl, eq7_out_of_range_value) {
    const int r = 3, n = 4;
    float *A = tu_const((size_t)r * n, 1e38f), *M = tu_const((size_t)r * r, 1.0f);
    float *H = tu_const((size_t)r * r, 1e38f);
    eq7_rejects_untouched(A, M, H, 1e-40f, r, n, "KL past double's range");
    free(A); free(M); free(H);

    A = tu_fill((size_t)r * n, 61, 1.0); M = tu_fill((size_t)r * r, 62, 1.0);
    H = tu_fill((size_t)r * r, 63, 1.0);
    for (int i = 0; i < r * r; i++) H[i] += H[i] < 0 ? -0.2f : 0.2f;
    for (int j = 0; j < n; j++) A[j] = 1e-30f * (float)(j + 1); /* row 0 of A: tiny */
    for (int i = 0; i < r; i++) H[i * r] = 1e38f;                /* column 0 of H: huge */
    A[n + 1] = 1e38f;                                            /* and one huge entry */
    const float sigma = 1e-44f; /* a denormal: the bound passes 1e300 */
    double sp = 0, ss = 0, slog = 0;
    for (int i = 0; i < r; i++)
        for (int j = 0; j < n; j++) {
            double p = 0, q = 0;
            for (int k = 0; k < r; k++) {
                double om = (double)H[i * r + k] * H[i * r + k];
                p += (double)M[i * r + k] * A[k * n + j];
                q += om * fabs((double)A[k * n + j]);
            }
            sp += p * p;
            ss += q * q;
        }
    for (int i = 0; i < r * r; i++) slog += log((double)H[i] * H[i]);
    double want = (sp + ss) / (2.0 * (double)sigma * sigma) - slog;
    cr_assert(isfinite(want) && want > 1e150, "the case must be finite and large: %g", want);
    melora_work w = tu_work(MELORA_OP_MELORA_KL, kl_dims(r, n));
    double kl = 0;
    const melora_melora_params p = {.A = A, .M = M, .H = H};
    cr_assert_eq(melora_melora_kl(&kl, NULL, w, &p, sigma, 1, r, n), MELORA_OK);
    cr_assert(fabs(kl - want) <= 1e-12 * fabs(want), "kl %.17g want %.17g", kl, want);
    melora_free(w.base); free(A); free(M); free(H);
}
