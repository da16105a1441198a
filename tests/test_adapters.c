/* Forward and backward of every adapter, on small odd shapes:
   - forward output against the double model (tm_forward),
   - the fast path against the naive reference,
   - every gradient (with lambda * KL added where the method has one) against central
     finite differences of the double model. */
#include "model.h"

typedef struct { int T, n, m, r, E, G; } shape;
/* r = 1, n != m, odd T, T not a multiple of 16 or of the 8-row block, E > 1, G > 1;
   r = 17 and 33 run the transposed kernels (rank >= 16) with a partial last vector, and
   T = 34 and 33 span two 32-row blocks */
static const shape SHAPES[] = {
    {5, 7, 6, 3, 1, 1},  {1, 1, 1, 1, 1, 1},   {17, 33, 19, 1, 17, 2},
    {12, 16, 40, 5, 3, 5}, {9, 70, 3, 8, 3, 1}, {24, 21, 18, 6, 4, 7},
    {34, 20, 17, 17, 2, 3}, {33, 9, 18, 33, 3, 4},
};
#define NSHAPES (int)(sizeof SHAPES / sizeof SHAPES[0])

typedef struct {
    float *x, *A, *GA, *EA, *B, *M, *H, *EC, *C, *sa, *sb, *dz, *z0, *As;
} inputs;

static inputs make_inputs(const shape *S, uint64_t seed) {
    inputs in;
    size_t T = S->T, n = S->n, m = S->m, r = S->r, E = S->E;
    size_t ng = (T + S->G - 1) / S->G;
    in.x = tu_fill(T * n, seed + 1, 1.0);
    in.A = tu_fill(r * n, seed + 2, 0.5);
    in.GA = tu_fill(r * n, seed + 3, 0.6);
    for (size_t i = 0; i < r * n; i++) in.GA[i] += in.GA[i] < 0 ? -0.3f : 0.3f; /* |GA| >= .3 */
    in.EA = tu_fill(r * n, seed + 4, 1.5);
    in.B = tu_fill(m * r, seed + 5, 0.5);
    in.M = tu_fill(r * r, seed + 6, 0.8);
    in.H = tu_fill(r * r, seed + 7, 0.6);
    for (size_t i = 0; i < r * r; i++) in.H[i] += in.H[i] < 0 ? -0.3f : 0.3f;
    in.EC = tu_fill(E * r * r, seed + 8, 1.5);
    in.C = tu_const(E * r * r, 0.0f);
    in.sa = tu_signs(ng * n, seed + 9);
    in.sb = tu_signs(ng * r, seed + 10);
    in.dz = tu_fill(T * m, seed + 11, 1.0);
    in.z0 = tu_fill(T * m, seed + 12, 1.0);
    in.As = tu_const(r * n, 0.0f);
    return in;
}
static void free_inputs(inputs *in) {
    float *ps[] = {in->x, in->A, in->GA, in->EA, in->B, in->M, in->H, in->EC, in->C, in->sa,
                   in->sb, in->dz, in->z0, in->As};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
}

/* All gradients of one backward call, each starting from a given value. */
typedef struct { float *dx, *dA, *dGA, *dB, *dM, *dH; } grads;
static grads make_grads(const shape *S, float init) {
    grads g;
    g.dx = tu_const((size_t)S->T * S->n, init);
    g.dA = tu_const((size_t)S->r * S->n, init);
    g.dGA = tu_const((size_t)S->r * S->n, init);
    g.dB = tu_const((size_t)S->m * S->r, init);
    g.dM = tu_const((size_t)S->r * S->r, init);
    g.dH = tu_const((size_t)S->r * S->r, init);
    return g;
}
static void free_grads(grads *g) {
    free(g->dx); free(g->dA); free(g->dGA); free(g->dB); free(g->dM); free(g->dH);
}

static const float SCALE = 1.75f, SIGMA = 0.7f, LAMBDA = 0.3f;

/* Runs forward (fast or naive) then backward (fast or naive); returns z and u. */
static void run(int method, const shape *S, inputs *in, int naive, float *z, float *u,
                float *v, grads *g) {
    const melora_dims d = {S->T, S->n, S->m, S->r, MELORA_FP32};
    melora_work wf = {NULL, 0}, wb = {NULL, 0};
    const melora_lora_saved sv = {.x = in->x, .u = u};
    const melora_blob_params bp = {.MA = in->A, .GA = in->GA, .B = in->B, .s = SCALE};
    const melora_blob_grads bg = {.dMA = g->dA, .dGA = g->dGA, .dB = g->dB};
    if (!naive) {
        melora_op of = method == TM_FLIPOUT ? MELORA_OP_FLIPOUT_FORWARD
                     : method == TM_MELORA ? MELORA_OP_MELORA_FORWARD : MELORA_OP_LORA_FORWARD;
        melora_op ob = method == TM_FLIPOUT ? MELORA_OP_FLIPOUT_BACKWARD
                     : method == TM_MELORA ? MELORA_OP_MELORA_BACKWARD : MELORA_OP_LORA_BACKWARD;
        wf = tu_work(of, d);
        wb = tu_work(ob, d);
    }
    switch (method) {
    case TM_LORA: {
        const melora_lora_params p = {.A = in->A, .B = in->B, .s = SCALE};
        const melora_lora_grads lg = {.dA = g->dA, .dB = g->dB};
        if (naive) {
            cr_assert_eq(melora_lora_forward_naive(z, &sv, &p, d), 0);
            cr_assert_eq(melora_lora_backward_naive(g->dx, &lg, &sv, in->dz, &p, d), 0);
        } else {
            cr_assert_eq(melora_lora_forward(z, &sv, wf, &p, d), 0);
            cr_assert_eq(melora_lora_backward(g->dx, &lg, &sv, wb, in->dz, &p, d), 0);
        }
        break;
    }
    case TM_BLOB:
        if (naive) { /* reference: As sampled, LoRA naive, chain rule by hand */
            size_t rn = (size_t)S->r * S->n;
            float *dAs = tu_const(rn, 0.0f);
            const melora_lora_params p = {.A = in->As, .B = in->B, .s = SCALE};
            const melora_lora_grads lg = {.dA = dAs, .dB = g->dB};
            cr_assert_eq(melora_blob_sample(in->As, &bp, in->EA, S->r, S->n), 0);
            cr_assert_eq(melora_lora_forward_naive(z, &sv, &p, d), 0);
            cr_assert_eq(melora_lora_backward_naive(g->dx, &lg, &sv, in->dz, &p, d), 0);
            for (size_t i = 0; i < rn; i++) {
                g->dA[i] += dAs[i];
                g->dGA[i] += dAs[i] * in->EA[i] * 2.0f * in->GA[i];
            }
            free(dAs);
        } else {
            const melora_blob_draw dr = {.As = in->As, .EA = in->EA};
            cr_assert_eq(melora_blob_forward(z, &sv, in->As, wf, &bp, in->EA, d), 0);
            cr_assert_eq(melora_blob_backward(g->dx, &bg, &sv, wb, in->dz, &bp, &dr, d), 0);
        }
        break;
    case TM_FLIPOUT: {
        const melora_flipout_noise nz = {.EA = in->EA, .sa = in->sa, .sb = in->sb, .G = S->G};
        if (naive) {
            cr_assert_eq(melora_blob_flipout_forward_naive(z, &sv, &bp, &nz, d), 0);
            cr_assert_eq(melora_blob_flipout_backward_naive(g->dx, &bg, &sv, in->dz, &bp, &nz, d), 0);
        } else {
            cr_assert_eq(melora_blob_flipout_forward(z, &sv, wf, &bp, &nz, d), 0);
            cr_assert_eq(melora_blob_flipout_backward(g->dx, &bg, &sv, wb, in->dz, &bp, &nz, d), 0);
        }
        break;
    }
    case TM_MELORA: {
        const melora_melora_params p = {.A = in->A, .B = in->B, .M = in->M, .H = in->H, .s = SCALE};
        const melora_melora_saved ms = {.x = in->x, .u = u, .v = v};
        const melora_melora_grads mg = {.dA = g->dA, .dB = g->dB, .dM = g->dM, .dH = g->dH};
        const melora_melora_draw dr = {.C = in->C, .EC = in->EC, .E = S->E};
        cr_assert_eq(melora_melora_sample(in->C, &p, in->EC, S->E, S->r), 0);
        if (naive) {
            cr_assert_eq(melora_melora_forward_naive(z, &ms, &p, &dr, d), 0);
            cr_assert_eq(melora_melora_backward_naive(g->dx, &mg, &ms, in->dz, &p, &dr, d), 0);
        } else {
            cr_assert_eq(melora_melora_forward(z, &ms, wf, &p, &dr, d), 0);
            cr_assert_eq(melora_melora_backward(g->dx, &mg, &ms, wb, in->dz, &p, &dr, d), 0);
        }
        break;
    }
    }
    melora_free(wf.base);
    melora_free(wb.base);
}

static void check_method(int method, int kl_kind) {
    for (int si = 0; si < NSHAPES; si++) {
        shape S = SHAPES[si];
        if (method != TM_MELORA) S.E = 1;
        if (method != TM_FLIPOUT) S.G = 1;
        size_t T = S.T, n = S.n, m = S.m, r = S.r;
        inputs in = make_inputs(&S, 100 + (uint64_t)si * 17 + (uint64_t)method);
        float *z = tu_copy(in.z0, T * m), *zn = tu_copy(in.z0, T * m);
        float *u = tu_const(T * r, 0), *un = tu_const(T * r, 0);
        float *v = tu_const(T * r, 0), *vn = tu_const(T * r, 0);
        grads g = make_grads(&S, 0.0f), gn = make_grads(&S, 0.0f);
        run(method, &S, &in, 0, z, u, v, &g);
        run(method, &S, &in, 1, zn, un, vn, &gn);

        /* the double model, on the very same float inputs */
        tm_problem p;
        memset(&p, 0, sizeof p);
        p.method = method; p.T = S.T; p.n = S.n; p.m = S.m; p.r = S.r; p.E = S.E; p.G = S.G;
        p.s = SCALE;
        p.x = tm_dup(in.x, T * n); p.A = tm_dup(in.A, r * n); p.GA = tm_dup(in.GA, r * n);
        p.EA = tm_dup(in.EA, r * n); p.B = tm_dup(in.B, m * r); p.M = tm_dup(in.M, r * r);
        p.H = tm_dup(in.H, r * r); p.EC = tm_dup(in.EC, S.E * r * r);
        p.sa = tm_dup(in.sa, ((T + S.G - 1) / S.G) * n);
        p.sb = tm_dup(in.sb, ((T + S.G - 1) / S.G) * r);
        p.dz = tm_dup(in.dz, T * m);
        double *zm = (double *)malloc(T * m * sizeof(double));
        tm_forward(&p, zm);
        for (size_t i = 0; i < T * m; i++) zm[i] += in.z0[i];
        tu_close_d("z fast vs model", z, zm, T * m, 1e-5, 1e-4);
        tu_close_d("z naive vs model", zn, zm, T * m, 1e-5, 1e-4);
        tu_close("u fast vs naive", u, un, T * r, 1e-5, 1e-4);
        if (method == TM_MELORA) tu_close("v fast vs naive", v, vn, T * r, 1e-5, 1e-4);

        tu_close("dx fast vs naive", g.dx, gn.dx, T * n, 1e-5, 1e-4);
        tu_close("dA fast vs naive", g.dA, gn.dA, r * n, 1e-5, 1e-4);
        tu_close("dB fast vs naive", g.dB, gn.dB, m * r, 1e-5, 1e-4);
        if (method == TM_BLOB || method == TM_FLIPOUT)
            tu_close("dGA fast vs naive", g.dGA, gn.dGA, r * n, 1e-5, 1e-4);
        if (method == TM_MELORA) {
            tu_close("dM fast vs naive", g.dM, gn.dM, r * r, 1e-5, 1e-4);
            tu_close("dH fast vs naive", g.dH, gn.dH, r * r, 1e-5, 1e-4);
        }

        /* KL with weight lambda accumulates into the same gradients */
        p.kl = kl_kind; p.lambda = LAMBDA; p.sigma = SIGMA;
        if (kl_kind != TM_KL_NONE) {
            /* the whole gradient set of the step: a KL must leave dB (and, exact, dA) as
               the backward left them, which the finite differences below would catch */
            double kl = 0;
            melora_work wk = tu_work(MELORA_OP_MELORA_KL, (melora_dims){1, S.n, 1, S.r, MELORA_FP32});
            if (kl_kind == TM_KL_BLOB) {
                const melora_blob_params bp = {.MA = in.A, .GA = in.GA, .B = in.B, .s = SCALE};
                const melora_blob_grads bg = {.dMA = g.dA, .dGA = g.dGA, .dB = g.dB};
                cr_assert_eq(melora_blob_kl(&kl, &bg, &bp, SIGMA, LAMBDA, S.r, S.n), 0);
            } else {
                const melora_melora_params mp = {.A = in.A, .B = in.B, .M = in.M, .H = in.H, .s = SCALE};
                const melora_melora_grads mg = {.dA = g.dA, .dB = g.dB, .dM = g.dM, .dH = g.dH};
                if (kl_kind == TM_KL_EQ7)
                    cr_assert_eq(melora_melora_kl(&kl, &mg, wk, &mp, SIGMA, LAMBDA, S.r, S.n), 0);
                else
                    cr_assert_eq(melora_melora_kl_exact(&kl, &mg, &mp, SIGMA, LAMBDA, S.r), 0);
            }
            melora_free(wk.base);
        }
        tm_check_grad("dx vs FD", &p, p.x, g.dx, T * n);
        tm_check_grad("dA vs FD", &p, p.A, g.dA, r * n);
        tm_check_grad("dB vs FD", &p, p.B, g.dB, m * r);
        if (method == TM_BLOB || method == TM_FLIPOUT) tm_check_grad("dGA vs FD", &p, p.GA, g.dGA, r * n);
        if (method == TM_MELORA) {
            tm_check_grad("dM vs FD", &p, p.M, g.dM, r * r);
            tm_check_grad("dH vs FD", &p, p.H, g.dH, r * r);
        }
        double *ds[] = {p.x, p.A, p.GA, p.EA, p.B, p.M, p.H, p.EC, p.sa, p.sb, p.dz, zm};
        for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) free(ds[i]);
        free(z); free(zn); free(u); free(un); free(v); free(vn);
        free_grads(&g); free_grads(&gn);
        free_inputs(&in);
    }
}

Test(lora, forward_backward_vs_model_naive_fd) { check_method(TM_LORA, TM_KL_NONE); }
Test(blob, forward_backward_kl_vs_model_naive_fd) { check_method(TM_BLOB, TM_KL_BLOB); }
Test(blob, flipout_forward_backward_kl_vs_model_naive_fd) { check_method(TM_FLIPOUT, TM_KL_BLOB); }
Test(melora, forward_backward_eq7_vs_model_naive_fd) { check_method(TM_MELORA, TM_KL_EQ7); }
Test(melora, forward_backward_exact_kl_vs_model_naive_fd) { check_method(TM_MELORA, TM_KL_EXACT); }
Test(melora, forward_backward_no_kl_vs_model_naive_fd) { check_method(TM_MELORA, TM_KL_NONE); }
