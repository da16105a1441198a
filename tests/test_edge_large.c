/* A real forward pass over more than 2^31 elements: x is (T, n) with T*n = 2^31 + 2^15,
   mapped as untouched zero pages (no memory is committed), with nonzero rows only at the
   end, beyond element 2^31, where 32-bit indexing would wrap. The rows' outputs must be
   exact. Skipped, visibly, when the address space cannot be reserved. */
#include "util.h"
#include <sys/mman.h>

Test(edge_large, lora_forward_beyond_2_31_elements, .timeout = 300) {
    const int n = 1 << 15, T = (1 << 16) + 1, m = 3, r = 2;
    const size_t xn = (size_t)T * (size_t)n;
    cr_assert(xn > ((size_t)1 << 31));
    if (xn > SIZE_MAX / sizeof(float))
        cr_skip_test("x needs %.1f GiB, beyond a %u-bit address space: not run",
                     (double)xn * sizeof(float) / (1 << 30), (unsigned)(8 * sizeof(void *)));
    float *x = (float *)mmap(NULL, xn * sizeof(float), PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (x == MAP_FAILED) cr_skip_test("cannot reserve %zu bytes for x: not run", xn * sizeof(float));
    float *A = tu_const((size_t)r * n, 0), *B = tu_const((size_t)m * r, 0);
    float *z = tu_const((size_t)T * m, 0), *u = tu_const((size_t)T * r, -1);
    const melora_dims d = {T, n, m, r, MELORA_FP32};
    melora_work w = tu_work(MELORA_OP_LORA_FORWARD, d);
    A[0] = 1.0f;                 /* u[t][0] = x[t][0] */
    A[(size_t)n + n - 1] = 2.0f; /* u[t][1] = 2 x[t][n-1] */
    B[0] = 1.0f; B[1] = 10.0f; B[2] = -1.0f; B[5] = 3.0f;
    const int rows[] = {T - 1, T - 2, T - 9};
    for (int i = 0; i < 3; i++) {
        x[(size_t)rows[i] * n] = (float)(i + 1);
        x[(size_t)rows[i] * n + n - 1] = 0.5f * (float)(i + 1);
    }
    cr_assert_eq(melora_lora_forward(z, &(melora_lora_saved){x, u}, w, &(melora_lora_params){A, B, 2.0f}, d), MELORA_OK);
    for (int i = 0; i < 3; i++) {
        const size_t t = (size_t)rows[i];
        float a = (float)(i + 1), b = 2.0f * 0.5f * (float)(i + 1);
        cr_assert(u[t * r] == a && u[t * r + 1] == b, "row %zu: u = %g %g", t, u[t * r], u[t * r + 1]);
        cr_assert(z[t * m] == 2.0f * (a + 10.0f * b) && z[t * m + 1] == -2.0f * a && z[t * m + 2] == 6.0f * b,
                  "row %zu: z = %g %g %g", t, z[t * m], z[t * m + 1], z[t * m + 2]);
    }
    for (size_t t = 0; t < (size_t)T - 9; t++) cr_assert(z[t * m] == 0 && u[t * r] == 0, "row %zu", t);
    munmap(x, xn * sizeof(float));
    free(A); free(B); free(z); free(u); melora_free(w.base);
}

/* Reductions over long batches: every gradient that sums over T (LoRA's dA and dB,
   Me-LoRA's dM and dH with one C per batch and per example) against a double-precision
   sum, at T = 262,144 (8 sequences of 32k tokens). The relative error max|err|/max|ref|
   must stay at the level of a short batch (float32 with blocked sums: a few 1e-7); a
   float running sum over all rows reaches 1e-5 here. */
static double tl_rel(const float *a, const double *ref, size_t cnt) {
    double e = 0.0, mx = 0.0;
    for (size_t i = 0; i < cnt; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (d > e) e = d;
        if (fabs(ref[i]) > mx) mx = fabs(ref[i]);
    }
    return e / mx;
}
Test(edge_large, long_batch_reductions_stay_accurate, .timeout = 300) {
    const int T = 262144, n = 16, m = 16, r = 8;
    const float s = 2.0f;
    float *x = tu_fill((size_t)T * n, 71, 1.0), *dz = tu_fill((size_t)T * m, 72, 1.0);
    float *A = tu_fill((size_t)r * n, 73, 0.3), *B = tu_fill((size_t)m * r, 74, 0.3);
    float *u = tu_fill((size_t)T * r, 75, 1.0); /* a saved activation: any values do */
    float *H = tu_fill((size_t)r * r, 76, 0.2);
    float *dx = tu_const((size_t)T * n, 0), *dA = tu_const((size_t)r * n, 0);
    float *dB = tu_const((size_t)m * r, 0), *dM = tu_const((size_t)r * r, 0);
    float *dH = tu_const((size_t)r * r, 0);
    double *du = (double *)calloc((size_t)T * r, sizeof(double));
    double *rA = (double *)calloc((size_t)r * n, sizeof(double));
    double *rB = (double *)calloc((size_t)m * r, sizeof(double));
    double *rC = (double *)calloc((size_t)4 * r * r, sizeof(double));
    cr_assert(du && rA && rB && rC);
    /* du = s dz B; dA = du^T x; dB = s dz^T u; dC_e = du_e^T u_e (C = I, so v = u) */
    for (size_t t = 0; t < (size_t)T; t++)
        for (int k = 0; k < r; k++) {
            double acc = 0.0;
            for (int i = 0; i < m; i++) acc += (double)dz[t * m + i] * B[(size_t)i * r + k];
            du[t * r + k] = s * acc;
        }
    for (size_t t = 0; t < (size_t)T; t++)
        for (int k = 0; k < r; k++) {
            for (int j = 0; j < n; j++) rA[(size_t)k * n + j] += du[t * r + k] * x[t * n + j];
            for (int i = 0; i < m; i++) rB[(size_t)i * r + k] += s * (double)dz[t * m + i] * u[t * r + k];
        }
    const melora_dims d = {T, n, m, r, MELORA_FP32};
    melora_work w = tu_work(MELORA_OP_LORA_BACKWARD, d);
    cr_assert_eq(melora_lora_backward(dx, &(melora_lora_grads){dA, dB}, &(melora_lora_saved){x, u}, w, dz,
                                      &(melora_lora_params){A, B, s}, d), MELORA_OK);
    double eA = tl_rel(dA, rA, (size_t)r * n), eB = tl_rel(dB, rB, (size_t)m * r);
    cr_assert(eA < 1e-6 && eB < 1e-6, "LoRA at T = %d: dA %.3g dB %.3g relative", T, eA, eB);
    melora_free(w.base);
    for (int E = 1; E <= 4; E *= 4) {
        const int per = T / E;
        float *C = tu_const((size_t)E * r * r, 0), *EC = tu_fill((size_t)E * r * r, 77, 1.0);
        double *rM = rC, *rH = rC + (size_t)r * r;
        for (size_t q = 0; q < (size_t)2 * r * r; q++) rC[q] = 0.0;
        for (int e = 0; e < E; e++) {
            for (int k = 0; k < r; k++) C[(size_t)e * r * r + (size_t)k * r + k] = 1.0f;
            double *dce = rC + (size_t)2 * r * r;
            for (size_t q = 0; q < (size_t)r * r; q++) dce[q] = 0.0;
            for (size_t t = (size_t)e * per; t < (size_t)(e + 1) * per; t++)
                for (int a = 0; a < r; a++)
                    for (int b = 0; b < r; b++) dce[a * r + b] += du[t * r + a] * u[t * r + b];
            for (size_t q = 0; q < (size_t)r * r; q++) {
                rM[q] += dce[q];
                rH[q] += dce[q] * EC[(size_t)e * r * r + q] * 2.0 * H[q];
            }
        }
        memset(dM, 0, (size_t)r * r * sizeof(float));
        memset(dH, 0, (size_t)r * r * sizeof(float));
        w = tu_work(MELORA_OP_MELORA_BACKWARD, d);
        cr_assert_eq(melora_melora_backward(dx, &(melora_melora_grads){NULL, NULL, dM, dH},
                                            &(melora_melora_saved){x, u, u}, w, dz,
                                            &(melora_melora_params){A, B, NULL, H, s},
                                            &(melora_melora_draw){C, EC, E}, d), MELORA_OK);
        double eM = tl_rel(dM, rM, (size_t)r * r), eH = tl_rel(dH, rH, (size_t)r * r);
        cr_assert(eM < 1e-6 && eH < 1e-6, "Me-LoRA E = %d at T = %d: dM %.3g dH %.3g relative",
                  E, T, eM, eH);
        melora_free(w.base);
        free(C); free(EC);
    }
    free(x); free(dz); free(A); free(B); free(u); free(H); free(dx); free(dA); free(dB);
    free(dM); free(dH); free(du); free(rA); free(rB); free(rC);
}
