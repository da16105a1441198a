/* What the v0.2 call shape promises beyond the formulas: a NULL gradient struct is a
   struct of NULL gradients, BLoB's backward does without MA, Me-LoRA's mean mode is LoRA
   with A folded to M A, and a KL writes only the gradients its value depends on. */
#include "util.h"

/* r = 5 runs the dot kernels, r = 18 the transposed ones; T = 36 spans two row blocks */
typedef struct { int T, n, m, r, E, G; } shape;
static const shape API_SHAPES[] = {{13, 21, 17, 5, 1, 3}, {36, 40, 19, 18, 3, 4}};
#define API_NSHAPES (int)(sizeof API_SHAPES / sizeof API_SHAPES[0])

static void same_bits(const char *what, const float *a, const float *b, size_t cnt) {
    for (size_t i = 0; i < cnt; i++)
        cr_assert(memcmp(&a[i], &b[i], sizeof(float)) == 0, "%s[%zu]: %.9g vs %.9g", what, i,
                  a[i], b[i]);
}
static int all_finite(const float *a, size_t cnt) {
    for (size_t i = 0; i < cnt; i++)
        if (!isfinite(a[i])) return 0;
    return 1;
}
static void same_double(const char *what, double a, double b) {
    cr_assert(memcmp(&a, &b, sizeof a) == 0, "%s: %.17g vs %.17g", what, a, b);
}

typedef struct {
    float *x, *A, *GA, *EA, *As, *B, *M, *H, *EC, *C, *sa, *sb, *dz, *u, *v, *dx0;
} api_inputs;

static api_inputs api_make(const shape *S, uint64_t seed) {
    api_inputs in;
    size_t T = S->T, n = S->n, m = S->m, r = S->r, E = S->E;
    size_t ng = (T + S->G - 1) / S->G;
    in.x = tu_fill(T * n, seed + 1, 1.0);
    in.A = tu_fill(r * n, seed + 2, 0.5);
    in.GA = tu_fill(r * n, seed + 3, 0.6);
    for (size_t i = 0; i < r * n; i++) in.GA[i] += in.GA[i] < 0 ? -0.3f : 0.3f;
    in.EA = tu_fill(r * n, seed + 4, 1.5);
    in.As = tu_const(r * n, 0.0f);
    in.B = tu_fill(m * r, seed + 5, 0.5);
    in.M = tu_fill(r * r, seed + 6, 0.8);
    in.H = tu_fill(r * r, seed + 7, 0.6);
    for (size_t i = 0; i < r * r; i++) in.H[i] += in.H[i] < 0 ? -0.3f : 0.3f;
    in.EC = tu_fill(E * r * r, seed + 8, 1.5);
    in.C = tu_const(E * r * r, 0.0f);
    in.sa = tu_signs(ng * n, seed + 9);
    in.sb = tu_signs(ng * r, seed + 10);
    in.dz = tu_fill(T * m, seed + 11, 1.0);
    in.u = tu_const(T * r, 0.0f);
    in.v = tu_const(T * r, 0.0f);
    in.dx0 = tu_fill(T * n, seed + 12, 1.0); /* dx accumulates: start away from zero */
    return in;
}
static void api_free(api_inputs *in) {
    float *ps[] = {in->x, in->A, in->GA, in->EA, in->As, in->B, in->M, in->H, in->EC, in->C,
                   in->sa, in->sb, in->dz, in->u, in->v, in->dx0};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) free(ps[i]);
}

/* dx of one backward, given its gradient struct (or NULL); fast and naive paths */
enum { BW_LORA, BW_LORA_NAIVE, BW_BLOB, BW_FLIP, BW_FLIP_NAIVE, BW_MELORA, BW_MELORA_NAIVE, BW_COUNT };
static const char *const BW_NAMES[BW_COUNT] = {"lora", "lora naive", "blob", "flipout",
                                               "flipout naive", "melora", "melora naive"};

static float *backward_dx(int kind, const shape *S, api_inputs *in, int null_struct) {
    const melora_dims d = {S->T, S->n, S->m, S->r, MELORA_FP32};
    const melora_lora_saved sv = {.x = in->x, .u = in->u};
    const melora_melora_saved ms = {.x = in->x, .u = in->u, .v = in->v};
    const melora_lora_params lp = {.A = in->A, .B = in->B, .s = 1.25f};
    const melora_blob_params bp = {.MA = in->A, .GA = in->GA, .B = in->B, .s = 1.25f};
    const melora_melora_params mp = {.A = in->A, .B = in->B, .M = in->M, .H = in->H, .s = 1.25f};
    const melora_blob_draw bd = {.As = in->As, .EA = in->EA};
    const melora_flipout_noise nz = {.EA = in->EA, .sa = in->sa, .sb = in->sb, .G = S->G};
    const melora_melora_draw md = {.C = in->C, .EC = in->EC, .E = S->E};
    const melora_lora_grads lg0 = {.dA = NULL, .dB = NULL};
    const melora_blob_grads bg0 = {.dMA = NULL, .dGA = NULL, .dB = NULL};
    const melora_melora_grads mg0 = {.dA = NULL, .dB = NULL, .dM = NULL, .dH = NULL};
    const melora_lora_grads *lg = null_struct ? NULL : &lg0;
    const melora_blob_grads *bg = null_struct ? NULL : &bg0;
    const melora_melora_grads *mg = null_struct ? NULL : &mg0;
    float *dx = tu_copy(in->dx0, (size_t)S->T * S->n);
    melora_op op = kind == BW_FLIP ? MELORA_OP_FLIPOUT_BACKWARD
                 : kind == BW_MELORA ? MELORA_OP_MELORA_BACKWARD : MELORA_OP_LORA_BACKWARD;
    melora_work w = tu_work(op, d);
    melora_status st = MELORA_ERR_ENUM;
    switch (kind) {
    case BW_LORA: st = melora_lora_backward(dx, lg, &sv, w, in->dz, &lp, d); break;
    case BW_LORA_NAIVE: st = melora_lora_backward_naive(dx, lg, &sv, in->dz, &lp, d); break;
    case BW_BLOB: st = melora_blob_backward(dx, bg, &sv, w, in->dz, &bp, &bd, d); break;
    case BW_FLIP: st = melora_blob_flipout_backward(dx, bg, &sv, w, in->dz, &bp, &nz, d); break;
    case BW_FLIP_NAIVE: st = melora_blob_flipout_backward_naive(dx, bg, &sv, in->dz, &bp, &nz, d); break;
    case BW_MELORA: st = melora_melora_backward(dx, mg, &ms, w, in->dz, &mp, &md, d); break;
    case BW_MELORA_NAIVE: st = melora_melora_backward_naive(dx, mg, &ms, in->dz, &mp, &md, d); break;
    }
    cr_assert_eq(st, MELORA_OK, "%s backward: %s", BW_NAMES[kind], melora_status_string(st));
    melora_free(w.base);
    return dx;
}

/* The saved u (and v) that the backward reads: from the naive forwards, in double. */
static void api_forward(const shape *S, api_inputs *in, int melora) {
    const melora_dims d = {S->T, S->n, S->m, S->r, MELORA_FP32};
    float *z = tu_const((size_t)S->T * S->m, 0.0f);
    if (melora) {
        const melora_melora_params mp = {.A = in->A, .B = in->B, .M = in->M, .H = in->H, .s = 1.25f};
        const melora_melora_saved ms = {.x = in->x, .u = in->u, .v = in->v};
        const melora_melora_draw md = {.C = in->C, .EC = in->EC, .E = S->E};
        cr_assert_eq(melora_melora_sample(in->C, &mp, in->EC, S->E, S->r), 0);
        cr_assert_eq(melora_melora_forward_naive(z, &ms, &mp, &md, d), 0);
    } else {
        const melora_blob_params bp = {.MA = in->A, .GA = in->GA, .B = in->B, .s = 1.25f};
        const melora_lora_saved sv = {.x = in->x, .u = in->u};
        const melora_lora_params lp = {.A = in->A, .B = in->B, .s = 1.25f};
        cr_assert_eq(melora_blob_sample(in->As, &bp, in->EA, S->r, S->n), 0);
        cr_assert_eq(melora_lora_forward_naive(z, &sv, &lp, d), 0);
    }
    free(z);
}

/* g == NULL and g = {NULL, ...} are one request: the same dx, bit for bit, on every
   backward; and that dx is the backward's (fast against naive), not an untouched buffer. */
Test(api, null_grads_pointer_is_null_fields_backward) {
    for (int si = 0; si < API_NSHAPES; si++) {
        const shape *S = &API_SHAPES[si];
        size_t Tn = (size_t)S->T * S->n;
        for (int kind = 0; kind < BW_COUNT; kind++) {
            api_inputs in = api_make(S, 300 + (uint64_t)si * 31 + (uint64_t)kind);
            api_forward(S, &in, kind == BW_MELORA || kind == BW_MELORA_NAIVE);
            float *a = backward_dx(kind, S, &in, 1), *b = backward_dx(kind, S, &in, 0);
            same_bits(BW_NAMES[kind], a, b, Tn);
            /* the pairs fast/naive: dx moved, and the two paths agree */
            int partner = kind == BW_LORA ? BW_LORA_NAIVE : kind == BW_FLIP ? BW_FLIP_NAIVE
                        : kind == BW_MELORA ? BW_MELORA_NAIVE : -1;
            if (partner >= 0) {
                float *c = backward_dx(partner, S, &in, 1);
                tu_close(BW_NAMES[kind], a, c, Tn, 1e-5, 1e-4);
                free(c);
            }
            size_t moved = 0;
            for (size_t i = 0; i < Tn; i++) moved += a[i] != in.dx0[i];
            cr_assert(moved > Tn / 2, "%s: dx barely written (%zu of %zu)", BW_NAMES[kind], moved, Tn);
            free(a); free(b);
            api_free(&in);
        }
    }
}

/* The same for the KLs: *kl bit for bit, with g == NULL and with a struct of NULLs. */
Test(api, null_grads_pointer_is_null_fields_kl) {
    const int r = 6, n = 11;
    const melora_dims dk = {1, n, 1, r, MELORA_FP32};
    float *A = tu_fill((size_t)r * n, 71, 1.0), *GA = tu_fill((size_t)r * n, 72, 0.7);
    float *M = tu_fill((size_t)r * r, 73, 1.0), *H = tu_fill((size_t)r * r, 74, 0.6);
    for (int i = 0; i < r * n; i++) GA[i] += GA[i] < 0 ? -0.2f : 0.2f;
    for (int i = 0; i < r * r; i++) H[i] += H[i] < 0 ? -0.2f : 0.2f;
    const melora_blob_params bp = {.MA = A, .GA = GA};
    const melora_melora_params mp = {.A = A, .M = M, .H = H};
    const melora_blob_grads bg0 = {.dMA = NULL, .dGA = NULL, .dB = NULL};
    const melora_melora_grads mg0 = {.dA = NULL, .dB = NULL, .dM = NULL, .dH = NULL};
    melora_work w = tu_work(MELORA_OP_MELORA_KL, dk);
    double a = 0, b = 1;
    cr_assert_eq(melora_blob_kl(&a, NULL, &bp, 0.4f, 0.5f, r, n), 0);
    cr_assert_eq(melora_blob_kl(&b, &bg0, &bp, 0.4f, 0.5f, r, n), 0);
    same_double("blob_kl", a, b);
    cr_assert(a != 0 && isfinite(a));
    b = 1;
    cr_assert_eq(melora_melora_kl(&a, NULL, w, &mp, 0.4f, 0.5f, r, n), 0);
    cr_assert_eq(melora_melora_kl(&b, &mg0, w, &mp, 0.4f, 0.5f, r, n), 0);
    same_double("melora_kl", a, b);
    cr_assert(a != 0 && isfinite(a));
    b = 1;
    cr_assert_eq(melora_melora_kl_prior_noise(&a, NULL, w, &mp, 0.2f, 0.3f, 0.5f, r, n), 0);
    cr_assert_eq(melora_melora_kl_prior_noise(&b, &mg0, w, &mp, 0.2f, 0.3f, 0.5f, r, n), 0);
    same_double("melora_kl_prior_noise", a, b);
    cr_assert(a != 0 && isfinite(a));
    b = 1;
    cr_assert_eq(melora_melora_kl_exact(&a, NULL, &mp, 0.4f, 0.5f, r), 0);
    cr_assert_eq(melora_melora_kl_exact(&b, &mg0, &mp, 0.4f, 0.5f, r), 0);
    same_double("melora_kl_exact", a, b);
    cr_assert(a != 0 && isfinite(a));
    free(A); free(GA); free(M); free(H); melora_free(w.base);
}

/* BLoB's backward runs from the draw (As, EA) and GA: MA may be NULL, or garbage, and
   every output is the same bit for bit as with the real MA. */
Test(api, blob_backward_does_not_read_ma) {
    for (int si = 0; si < API_NSHAPES; si++) {
        const shape *S = &API_SHAPES[si];
        const melora_dims d = {S->T, S->n, S->m, S->r, MELORA_FP32};
        size_t Tn = (size_t)S->T * S->n, rn = (size_t)S->r * S->n, mr = (size_t)S->m * S->r;
        api_inputs in = api_make(S, 500 + (uint64_t)si);
        api_forward(S, &in, 0);
        float *nan_ma = tu_const(rn, NAN);
        const float *mas[3] = {in.A, NULL, nan_ma};
        float *out[3][4];
        melora_work w = tu_work(MELORA_OP_LORA_BACKWARD, d);
        const melora_lora_saved sv = {.x = in.x, .u = in.u};
        const melora_blob_draw bd = {.As = in.As, .EA = in.EA};
        for (int k = 0; k < 3; k++) {
            const melora_blob_params bp = {.MA = mas[k], .GA = in.GA, .B = in.B, .s = 0.75f};
            out[k][0] = tu_copy(in.dx0, Tn);
            out[k][1] = tu_const(rn, 0.5f);
            out[k][2] = tu_const(rn, -0.5f);
            out[k][3] = tu_const(mr, 0.25f);
            const melora_blob_grads bg = {.dMA = out[k][1], .dGA = out[k][2], .dB = out[k][3]};
            cr_assert_eq(melora_blob_backward(out[k][0], &bg, &sv, w, in.dz, &bp, &bd, d),
                         MELORA_OK, "MA %s", k == 1 ? "NULL" : k == 2 ? "NaN" : "real");
        }
        const size_t cnt[4] = {Tn, rn, rn, mr};
        const char *names[4] = {"dx", "dMA", "dGA", "dB"};
        for (int j = 0; j < 4; j++) {
            same_bits(names[j], out[1][j], out[0][j], cnt[j]);
            same_bits(names[j], out[2][j], out[0][j], cnt[j]);
            cr_assert(tu_maxabs(out[0][j], cnt[j]) > 0 && all_finite(out[0][j], cnt[j]), "%s", names[j]);
        }
        /* and dMA is the LoRA gradient of As, dGA its chain rule (naive, by hand) */
        float *dAs = tu_const(rn, 0.0f), *dx = tu_copy(in.dx0, Tn);
        const melora_lora_params lp = {.A = in.As, .B = in.B, .s = 0.75f};
        const melora_lora_grads lg = {.dA = dAs, .dB = NULL};
        cr_assert_eq(melora_lora_backward_naive(dx, &lg, &sv, in.dz, &lp, d), 0);
        float *want_ma = tu_const(rn, 0.5f), *want_ga = tu_const(rn, -0.5f);
        for (size_t i = 0; i < rn; i++) {
            want_ma[i] += dAs[i];
            want_ga[i] += dAs[i] * in.EA[i] * 2.0f * in.GA[i];
        }
        tu_close("dx", out[1][0], dx, Tn, 1e-5, 1e-4);
        tu_close("dMA", out[1][1], want_ma, rn, 1e-5, 1e-4);
        tu_close("dGA", out[1][2], want_ga, rn, 1e-5, 1e-4);
        free(dAs); free(dx); free(want_ma); free(want_ga);
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 4; j++) free(out[k][j]);
        free(nan_ma);
        melora_free(w.base);
        api_free(&in);
    }
}

/* Mean mode, the draw {.C = M, .E = 1} with no EC: z += s ((x A^T) M^T) B^T, which is
   the LoRA forward with A replaced by P = M A. The reference forms P and z in double. */
Test(api, melora_mean_mode_is_lora_with_m_a) {
    const int shapes[][4] = {{13, 21, 17, 5}, {37, 40, 19, 18}}; /* T n m r */
    for (int si = 0; si < 2; si++) {
        const int T = shapes[si][0], n = shapes[si][1], m = shapes[si][2], r = shapes[si][3];
        const melora_dims d = {T, n, m, r, MELORA_FP32};
        const float s = 1.5f;
        float *x = tu_fill((size_t)T * n, 81 + si, 1.0), *A = tu_fill((size_t)r * n, 82 + si, 0.5);
        float *B = tu_fill((size_t)m * r, 83 + si, 0.5), *M = tu_fill((size_t)r * r, 84 + si, 0.8);
        float *H = tu_fill((size_t)r * r, 85 + si, 0.6), *z0 = tu_fill((size_t)T * m, 86 + si, 1.0);
        double *P = (double *)calloc((size_t)r * n, sizeof(double));
        double *zw = (double *)calloc((size_t)T * m, sizeof(double));
        double *uw = (double *)calloc((size_t)T * r, sizeof(double));
        double *vw = (double *)calloc((size_t)T * r, sizeof(double));
        cr_assert(P && zw && uw && vw);
        for (int i = 0; i < r; i++)
            for (int j = 0; j < n; j++)
                for (int k = 0; k < r; k++) P[i * n + j] += (double)M[i * r + k] * A[k * n + j];
        for (int t = 0; t < T; t++) {
            for (int k = 0; k < r; k++) {
                double pu = 0, au = 0;
                for (int j = 0; j < n; j++) {
                    pu += P[k * n + j] * x[t * n + j];
                    au += (double)A[k * n + j] * x[t * n + j];
                }
                vw[t * r + k] = pu; /* v = u M^T = x (M A)^T */
                uw[t * r + k] = au;
            }
            for (int i = 0; i < m; i++) {
                double acc = 0;
                for (int k = 0; k < r; k++) acc += (double)B[i * r + k] * vw[t * r + k];
                zw[t * m + i] = z0[t * m + i] + s * acc;
            }
        }
        const melora_melora_params mp = {.A = A, .B = B, .M = M, .H = H, .s = s};
        const melora_melora_draw mean = {.C = M, .EC = NULL, .E = 1};
        melora_work w = tu_work(MELORA_OP_MELORA_FORWARD, d);
        for (int naive = 0; naive < 2; naive++) {
            float *z = tu_copy(z0, (size_t)T * m), *u = tu_const((size_t)T * r, 0);
            float *v = tu_const((size_t)T * r, 0);
            const melora_melora_saved ms = {.x = x, .u = u, .v = v};
            melora_status st = naive ? melora_melora_forward_naive(z, &ms, &mp, &mean, d)
                                     : melora_melora_forward(z, &ms, w, &mp, &mean, d);
            cr_assert_eq(st, MELORA_OK, "%s: %s", naive ? "naive" : "fast", melora_status_string(st));
            tu_close_d(naive ? "z naive" : "z fast", z, zw, (size_t)T * m, 1e-5, 1e-4);
            tu_close_d(naive ? "u naive" : "u fast", u, uw, (size_t)T * r, 1e-5, 1e-4);
            tu_close_d(naive ? "v naive" : "v fast", v, vw, (size_t)T * r, 1e-5, 1e-4);
            free(z); free(u); free(v);
        }
        /* the LoRA forward itself, fed P rounded to float, lands on the same z */
        float *Pf = tu_const((size_t)r * n, 0), *z = tu_copy(z0, (size_t)T * m);
        float *u = tu_const((size_t)T * r, 0);
        for (int i = 0; i < r * n; i++) Pf[i] = (float)P[i];
        const melora_lora_params folded = {.A = Pf, .B = B, .s = s};
        const melora_lora_saved sv = {.x = x, .u = u};
        melora_work wl = tu_work(MELORA_OP_LORA_FORWARD, d);
        cr_assert_eq(melora_lora_forward(z, &sv, wl, &folded, d), MELORA_OK);
        tu_close_d("z lora(M A)", z, zw, (size_t)T * m, 1e-5, 1e-4);
        free(Pf); free(z); free(u); melora_free(wl.base);
        free(x); free(A); free(B); free(M); free(H); free(z0);
        free(P); free(zw); free(uw); free(vw);
        melora_free(w.base);
    }
}

/* The KLs write only the gradients their value depends on: kl_exact (a function of M, H)
   leaves dA and dB, blob_kl and eq. 7 leave dB, byte for byte; the gradients they do
   write are weight * the closed forms d/dmu = mu / sigma^2, d/dg = -2/g + 2 g^3 / sigma^2
   (om = g^2) for the two entrywise KLs. */
static float *sentinel(size_t cnt) {
    float *p = (float *)malloc(cnt * sizeof(float));
    cr_assert(p);
    for (size_t i = 0; i < cnt; i++) {
        uint32_t b = 0x7FC0A000u + (uint32_t)i; /* NaNs with a payload: any write shows */
        memcpy(&p[i], &b, sizeof b);
    }
    return p;
}
static void untouched(const char *what, const float *p, size_t cnt) {
    for (size_t i = 0; i < cnt; i++) {
        uint32_t b;
        memcpy(&b, &p[i], sizeof b);
        cr_assert_eq(b, 0x7FC0A000u + (uint32_t)i, "%s[%zu] written", what, i);
    }
}
static void entrywise_grads(const char *what, const float *dmu, const float *dg,
                            const float *mu, const float *g, size_t cnt, double sigma,
                            double weight, float init_mu, float init_g) {
    double *wmu = (double *)malloc(cnt * sizeof(double)), *wg = (double *)malloc(cnt * sizeof(double));
    cr_assert(wmu && wg);
    for (size_t i = 0; i < cnt; i++) {
        double gi = g[i];
        wmu[i] = init_mu + weight * (double)mu[i] / (sigma * sigma);
        wg[i] = init_g + weight * (-2.0 / gi + 2.0 * gi * gi * gi / (sigma * sigma));
    }
    tu_close_d(what, dmu, wmu, cnt, 1e-5, 1e-5);
    tu_close_d(what, dg, wg, cnt, 1e-5, 1e-5);
    free(wmu); free(wg);
}

Test(api, kls_write_only_their_gradients) {
    const int r = 5, n = 9, m = 7;
    const float sigma = 0.6f, weight = 0.75f;
    const size_t rn = (size_t)r * n, rr = (size_t)r * r, mr = (size_t)m * r;
    float *A = tu_fill(rn, 91, 1.0), *GA = tu_fill(rn, 92, 0.7), *B = tu_fill(mr, 93, 1.0);
    float *M = tu_fill(rr, 94, 1.0), *H = tu_fill(rr, 95, 0.6);
    for (size_t i = 0; i < rn; i++) GA[i] += GA[i] < 0 ? -0.2f : 0.2f;
    for (size_t i = 0; i < rr; i++) H[i] += H[i] < 0 ? -0.2f : 0.2f;
    double kl = 0;

    /* kl_exact: dM, dH written, dA and dB untouched */
    float *dA = sentinel(rn), *dB = sentinel(mr), *dM = tu_const(rr, 0.5f), *dH = tu_const(rr, -1.0f);
    const melora_melora_params mp = {.A = A, .B = B, .M = M, .H = H, .s = 2.0f};
    const melora_melora_grads mg = {.dA = dA, .dB = dB, .dM = dM, .dH = dH};
    cr_assert_eq(melora_melora_kl_exact(&kl, &mg, &mp, sigma, weight, r), MELORA_OK);
    untouched("kl_exact dA", dA, rn);
    untouched("kl_exact dB", dB, mr);
    entrywise_grads("kl_exact dM/dH", dM, dH, M, H, rr, sigma, weight, 0.5f, -1.0f);

    /* eq. 7 and eq. 8: dA, dM, dH written (finite), dB untouched */
    melora_work w = tu_work(MELORA_OP_MELORA_KL, (melora_dims){1, n, 1, r, MELORA_FP32});
    for (int f = 0; f < 2; f++) {
        float *dA7 = tu_const(rn, 0.0f), *dM7 = tu_const(rr, 0.0f), *dH7 = tu_const(rr, 0.0f);
        const melora_melora_grads g7 = {.dA = dA7, .dB = dB, .dM = dM7, .dH = dH7};
        melora_status st = f == 0 ? melora_melora_kl(&kl, &g7, w, &mp, sigma, weight, r, n)
                                  : melora_melora_kl_prior_noise(&kl, &g7, w, &mp, 0.2f, 0.4f, weight, r, n);
        cr_assert_eq(st, MELORA_OK);
        untouched(f ? "eq. 8 dB" : "eq. 7 dB", dB, mr);
        cr_assert(tu_maxabs(dA7, rn) > 0 && tu_maxabs(dM7, rr) > 0 && tu_maxabs(dH7, rr) > 0);
        cr_assert(all_finite(dA7, rn) && all_finite(dM7, rr) && all_finite(dH7, rr));
        free(dA7); free(dM7); free(dH7);
    }

    /* blob_kl: dMA, dGA written, dB untouched */
    float *dMA = tu_const(rn, 0.25f), *dGA = tu_const(rn, 0.125f);
    const melora_blob_params bp = {.MA = A, .GA = GA, .B = B, .s = 2.0f};
    const melora_blob_grads bg = {.dMA = dMA, .dGA = dGA, .dB = dB};
    cr_assert_eq(melora_blob_kl(&kl, &bg, &bp, sigma, weight, r, n), MELORA_OK);
    untouched("blob_kl dB", dB, mr);
    entrywise_grads("blob_kl dMA/dGA", dMA, dGA, A, GA, rn, sigma, weight, 0.25f, 0.125f);

    free(A); free(GA); free(B); free(M); free(H); free(dA); free(dB); free(dM); free(dH);
    free(dMA); free(dGA); melora_free(w.base);
}

/* Eq. 7's workspace is (r,n)-shaped: its size query reads n and r only (as documented, and
   as melora_cuda_workspace_size does), so T and m may be anything, even 0. The bytes are
   checked against the layout's closed form: P and S, r*n doubles each, 64-byte rounded. */
Test(api, kl_workspace_reads_n_and_r_only) {
    const melora_dims ds[] = {{1, 7, 1, 3, MELORA_FP32}, {0, 7, 0, 3, MELORA_FP32}, {-5, 7, 9, 3, MELORA_FP32}, {100000, 7, 12, 3, MELORA_FP32}};
    for (int i = 0; i < 4; i++) {
        size_t bytes = 0;
        cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_MELORA_KL, ds[i]), MELORA_OK,
                     "dims %d", i);
        cr_assert_eq(bytes, 2 * (((size_t)3 * 7 * sizeof(double) + 63) / 64 * 64), "dims %d", i);
    }
    size_t bytes = 77;
    cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_MELORA_KL, (melora_dims){1, 0, 1, 3, MELORA_FP32}),
                 MELORA_ERR_SIZE);
    cr_assert_eq(bytes, 77);
}
