/* Regression harness for refactors of melora.h: runs every public compute function (fast
   paths and naive references) on fixed pseudo-random inputs over shapes that reach every
   code path (r = 1, 4, 16, 33, 64; T not a multiple of 32; several chunks; E > 1; G > 1;
   every gradient subset, the NULL gradient struct included) and prints one line per
   output: the call, the output and the FNV-1a hash of its bytes. Outputs start from
   non-zero contents, so the add-into rule is part of what is hashed; status codes of the
   workspace and NULL checks are printed too.

   Save the output of a build of the code before a change and compare it with the same
   build after it: any difference in any line is a change in behaviour.
       gcc -std=c99 -O2 -fopenmp -I. tests/same_bits.c -lm -o same_bits && ./same_bits
       gcc -std=c99 -O2 -DMELORA_NO_VECTOR -I. tests/same_bits.c -lm -o same_bits_port
   Also valid C++ (g++ -x c++). Exit status 1 when a call that should succeed fails. */
#define MELORA_IMPLEMENTATION
#include "melora.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t sb_state;
static int sb_fail = 0;
static char sb_shape[96];

static uint32_t sb_next(void) {
    sb_state = sb_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(sb_state >> 40) & 0xFFFFFu; /* 20 bits */
}
/* kind 0: [-1,1)  1: [0.25,1.25) (a std parameter, never 0)  2: +-1 (signs); multiples of
   2^-19, exact in every build */
static void sb_fill(float *p, size_t cnt, int kind) {
    size_t i;
    for (i = 0; i < cnt; i++) {
        int32_t k = (int32_t)sb_next();
        if (kind == 0) p[i] = (float)(k - 0x80000) * (1.0f / 524288.0f);
        else if (kind == 1) p[i] = (float)((k >> 1) + 0x20000) * (1.0f / 524288.0f);
        else p[i] = (k & 1) ? -1.0f : 1.0f;
    }
}
static float *sb_new(size_t cnt, int kind) {
    float *p = (float *)malloc((cnt ? cnt : 1) * sizeof(float));
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    sb_fill(p, cnt, kind);
    return p;
}
static void sb_hash(const char *call, const char *name, const void *p, size_t bytes) {
    const unsigned char *b = (const unsigned char *)p;
    uint64_t h = 1469598103934665603ull;
    size_t i;
    for (i = 0; i < bytes; i++) h = (h ^ b[i]) * 1099511628211ull;
    printf("%s %s.%s %016llx\n", sb_shape, call, name, (unsigned long long)h);
}
static void sb_ok(melora_status st, const char *call) {
    if (st != MELORA_OK) {
        printf("%s %s FAILED %d\n", sb_shape, call, (int)st);
        sb_fail = 1;
    }
}
static void sb_status(melora_status st, const char *call) {
    printf("%s %s.status %d\n", sb_shape, call, (int)st);
}
static void *sb_work(melora_op op, melora_dims d, size_t *bytes) {
    void *w = NULL;
    sb_ok(melora_workspace_size(bytes, op, d), "workspace_size");
    sb_ok(melora_alloc(&w, *bytes), "alloc");
    return w;
}

/* Every buffer of one shape. Outputs are refilled (kind 0) before each call. */
typedef struct {
    melora_dims d;
    int E, G, K, ng;
    size_t Tn, Tm, Tr, rn, mr, rr;
    float *x, *A, *B, *dz, *GA, *EA, *sa, *sb, *M, *H, *EC, *CK;
    float *z, *u, *v, *dx, *dA, *dB, *dG, *dM, *dH, *As, *C;
} sb_bufs;

static void sb_reset(sb_bufs *b) {
    sb_state = 99991; /* the same starting outputs before every call */
    sb_fill(b->z, (size_t)b->K * b->Tm, 0);
    sb_fill(b->u, b->Tr, 0);
    sb_fill(b->v, b->Tr, 0);
    sb_fill(b->dx, b->Tn, 0);
    sb_fill(b->dA, b->rn, 0);
    sb_fill(b->dB, b->mr, 0);
    sb_fill(b->dG, b->rn, 0);
    sb_fill(b->dM, b->rr, 0);
    sb_fill(b->dH, b->rr, 0);
}

/* gradient subsets: bit 0 dx, bit 1 first gradient, bit 2 second, bit 3 third, bit 4
   fourth; bit 5 set: the grads struct pointer itself is NULL */
static const int sb_masks[] = {31, 30, 1, 3, 5, 9, 17, 32 | 1, 32 | 0, 2};
#define SB_NMASK ((int)(sizeof sb_masks / sizeof sb_masks[0]))
#define SB_IF(mask, bit, p) (((mask) >> (bit)) & 1 ? (p) : NULL)

static void sb_lora(sb_bufs *b, void *w, size_t wb, void *wbwd, size_t wbb, int naive) {
    melora_lora_saved sv = {b->x, b->u};
    melora_lora_params p = {b->A, b->B, 0.75f};
    melora_work wf = {w, wb}, wk = {wbwd, wbb};
    char call[64];
    int i;
    sb_reset(b);
    sb_ok(naive ? melora_lora_forward_naive(b->z, &sv, &p, b->d)
                : melora_lora_forward(b->z, &sv, wf, &p, b->d),
          naive ? "lora_fwd_naive" : "lora_fwd");
    sb_hash(naive ? "lora_fwd_naive" : "lora_fwd", "z", b->z, b->Tm * 4);
    sb_hash(naive ? "lora_fwd_naive" : "lora_fwd", "u", b->u, b->Tr * 4);
    for (i = 0; i < SB_NMASK; i++) {
        int k = sb_masks[i];
        melora_lora_grads g;
        melora_lora_saved sv2 = {b->x, b->u};
        sb_reset(b);
        g.dA = SB_IF(k, 1, b->dA);
        g.dB = SB_IF(k, 2, b->dB);
        sprintf(call, "lora_bwd%s/g%d", naive ? "_naive" : "", k);
        sb_ok(naive ? melora_lora_backward_naive(SB_IF(k, 0, b->dx), (k & 32) ? NULL : &g,
                                                 &sv2, b->dz, &p, b->d)
                    : melora_lora_backward(SB_IF(k, 0, b->dx), (k & 32) ? NULL : &g, &sv2, wk,
                                           b->dz, &p, b->d),
              call);
        sb_hash(call, "dx", b->dx, b->Tn * 4);
        sb_hash(call, "dA", b->dA, b->rn * 4);
        sb_hash(call, "dB", b->dB, b->mr * 4);
    }
}

static void sb_blob(sb_bufs *b, void *w, size_t wb, void *wbwd, size_t wbb) {
    melora_lora_saved sv = {b->x, b->u};
    melora_blob_params p = {b->A, b->GA, b->B, 0.625f};
    melora_work wf = {w, wb}, wk = {wbwd, wbb};
    char call[64];
    int i;
    sb_reset(b);
    sb_fill(b->As, b->rn, 0);
    sb_ok(melora_blob_sample(b->As, &p, b->EA, b->d.r, b->d.n), "blob_sample");
    sb_hash("blob_sample", "As", b->As, b->rn * 4);
    sb_fill(b->As, b->rn, 0);
    sb_ok(melora_blob_forward(b->z, &sv, b->As, wf, &p, b->EA, b->d), "blob_fwd");
    sb_hash("blob_fwd", "z", b->z, b->Tm * 4);
    sb_hash("blob_fwd", "u", b->u, b->Tr * 4);
    sb_hash("blob_fwd", "As", b->As, b->rn * 4);
    for (i = 0; i < SB_NMASK; i++) {
        int k = sb_masks[i];
        melora_blob_grads g;
        melora_blob_draw dr = {b->As, b->EA};
        sb_reset(b);
        g.dMA = SB_IF(k, 1, b->dA);
        g.dGA = SB_IF(k, 2, b->dG);
        g.dB = SB_IF(k, 3, b->dB);
        sprintf(call, "blob_bwd/g%d", k);
        sb_ok(melora_blob_backward(SB_IF(k, 0, b->dx), (k & 32) ? NULL : &g, &sv, wk, b->dz, &p,
                                   &dr, b->d),
              call);
        sb_hash(call, "dx", b->dx, b->Tn * 4);
        sb_hash(call, "dMA", b->dA, b->rn * 4);
        sb_hash(call, "dGA", b->dG, b->rn * 4);
        sb_hash(call, "dB", b->dB, b->mr * 4);
    }
}

static void sb_flipout(sb_bufs *b, void *w, size_t wb, void *wbwd, size_t wbb, int naive) {
    melora_lora_saved sv = {b->x, b->u};
    melora_blob_params p = {b->A, b->GA, b->B, 0.625f};
    melora_flipout_noise nz = {b->EA, b->sa, b->sb, b->G};
    melora_work wf = {w, wb}, wk = {wbwd, wbb};
    const char *fc = naive ? "flip_fwd_naive" : "flip_fwd";
    char call[64];
    int i;
    sb_reset(b);
    sb_ok(naive ? melora_blob_flipout_forward_naive(b->z, &sv, &p, &nz, b->d)
                : melora_blob_flipout_forward(b->z, &sv, wf, &p, &nz, b->d),
          fc);
    sb_hash(fc, "z", b->z, b->Tm * 4);
    sb_hash(fc, "u", b->u, b->Tr * 4);
    for (i = 0; i < SB_NMASK; i++) {
        int k = sb_masks[i];
        melora_blob_grads g;
        sb_reset(b);
        g.dMA = SB_IF(k, 1, b->dA);
        g.dGA = SB_IF(k, 2, b->dG);
        g.dB = SB_IF(k, 3, b->dB);
        sprintf(call, "flip_bwd%s/g%d", naive ? "_naive" : "", k);
        sb_ok(naive ? melora_blob_flipout_backward_naive(SB_IF(k, 0, b->dx),
                                                         (k & 32) ? NULL : &g, &sv, b->dz, &p,
                                                         &nz, b->d)
                    : melora_blob_flipout_backward(SB_IF(k, 0, b->dx), (k & 32) ? NULL : &g,
                                                   &sv, wk, b->dz, &p, &nz, b->d),
              call);
        sb_hash(call, "dx", b->dx, b->Tn * 4);
        sb_hash(call, "dMA", b->dA, b->rn * 4);
        sb_hash(call, "dGA", b->dG, b->rn * 4);
        sb_hash(call, "dB", b->dB, b->mr * 4);
    }
}

static void sb_melora(sb_bufs *b, void *w, size_t wb, void *wbwd, size_t wbb, int naive) {
    melora_melora_saved sv = {b->x, b->u, b->v};
    melora_melora_params p = {b->A, b->B, b->M, b->H, 0.5f};
    melora_melora_draw dr = {b->C, b->EC, b->E}, mean = {b->M, NULL, 1};
    melora_work wf = {w, wb}, wk = {wbwd, wbb};
    const char *fc = naive ? "me_fwd_naive" : "me_fwd";
    const char *mc = naive ? "me_fwd_mean_naive" : "me_fwd_mean";
    char call[64];
    int i;
    sb_reset(b);
    if (!naive) {
        sb_fill(b->C, (size_t)b->E * b->rr, 0);
        sb_ok(melora_melora_sample(b->C, &p, b->EC, b->E, b->d.r), "me_sample");
        sb_hash("me_sample", "C", b->C, (size_t)b->E * b->rr * 4);
    }
    sb_ok(naive ? melora_melora_forward_naive(b->z, &sv, &p, &mean, b->d)
                : melora_melora_forward(b->z, &sv, wf, &p, &mean, b->d),
          mc);
    sb_hash(mc, "z", b->z, b->Tm * 4);
    sb_hash(mc, "v", b->v, b->Tr * 4);
    sb_reset(b);
    sb_ok(naive ? melora_melora_forward_naive(b->z, &sv, &p, &dr, b->d)
                : melora_melora_forward(b->z, &sv, wf, &p, &dr, b->d),
          fc);
    sb_hash(fc, "z", b->z, b->Tm * 4);
    sb_hash(fc, "u", b->u, b->Tr * 4);
    sb_hash(fc, "v", b->v, b->Tr * 4);
    for (i = 0; i < SB_NMASK; i++) {
        int k = sb_masks[i];
        melora_melora_grads g;
        melora_melora_saved sv2 = {b->x, b->u, b->v};
        sb_reset(b);
        g.dA = SB_IF(k, 1, b->dA);
        g.dB = SB_IF(k, 2, b->dB);
        g.dM = SB_IF(k, 3, b->dM);
        g.dH = SB_IF(k, 4, b->dH);
        sprintf(call, "me_bwd%s/g%d", naive ? "_naive" : "", k);
        sb_ok(naive ? melora_melora_backward_naive(SB_IF(k, 0, b->dx), (k & 32) ? NULL : &g,
                                                   &sv2, b->dz, &p, &dr, b->d)
                    : melora_melora_backward(SB_IF(k, 0, b->dx), (k & 32) ? NULL : &g, &sv2,
                                             wk, b->dz, &p, &dr, b->d),
              call);
        sb_hash(call, "dx", b->dx, b->Tn * 4);
        sb_hash(call, "dA", b->dA, b->rn * 4);
        sb_hash(call, "dB", b->dB, b->mr * 4);
        sb_hash(call, "dM", b->dM, b->rr * 4);
        sb_hash(call, "dH", b->dH, b->rr * 4);
    }
}

static void sb_mc(sb_bufs *b, void *w, size_t wb) {
    melora_lora_saved sv = {b->x, b->u};
    melora_melora_params p = {b->A, b->B, b->M, b->H, 0.5f};
    melora_work wf = {w, wb};
    int K;
    for (K = 1; K <= b->K; K += b->K - 1) {
        char call[32];
        sprintf(call, "me_mc_fwd/K%d", K);
        sb_reset(b);
        sb_ok(melora_melora_mc_forward(b->z, &sv, wf, &p, b->CK, K, b->d), call);
        sb_hash(call, "z", b->z, (size_t)K * b->Tm * 4);
        sb_hash(call, "u", b->u, b->Tr * 4);
    }
}

static void sb_kls(sb_bufs *b, void *w, size_t wb) {
    melora_blob_params bp = {b->A, b->GA, b->B, 1.0f};
    melora_melora_params p = {b->A, b->B, b->M, b->H, 0.5f};
    melora_work wk = {w, wb};
    char call[64];
    int i;
    double kl;
    for (i = 0; i < SB_NMASK; i++) {
        int k = sb_masks[i];
        melora_blob_grads bg;
        melora_melora_grads g;
        sb_reset(b);
        bg.dMA = SB_IF(k, 1, b->dA);
        bg.dGA = SB_IF(k, 2, b->dG);
        bg.dB = b->dB;
        kl = 0.0;
        sprintf(call, "blob_kl/g%d", k);
        sb_ok(melora_blob_kl(&kl, (k & 32) ? NULL : &bg, &bp, 0.3f, 0.5f, b->d.r, b->d.n), call);
        sb_hash(call, "kl", &kl, sizeof kl);
        sb_hash(call, "dMA", b->dA, b->rn * 4);
        sb_hash(call, "dGA", b->dG, b->rn * 4);
        sb_hash(call, "dB", b->dB, b->mr * 4);
        sb_reset(b);
        g.dA = SB_IF(k, 1, b->dA);
        g.dB = b->dB;
        g.dM = SB_IF(k, 3, b->dM);
        g.dH = SB_IF(k, 4, b->dH);
        sprintf(call, "me_kl/g%d", k);
        sb_ok(melora_melora_kl(&kl, (k & 32) ? NULL : &g, wk, &p, 0.3f, 0.5f, b->d.r, b->d.n),
              call);
        sb_hash(call, "kl", &kl, sizeof kl);
        sb_hash(call, "dA", b->dA, b->rn * 4);
        sb_hash(call, "dB", b->dB, b->mr * 4);
        sb_hash(call, "dM", b->dM, b->rr * 4);
        sb_hash(call, "dH", b->dH, b->rr * 4);
        sb_reset(b);
        sprintf(call, "me_kl8/g%d", k);
        sb_ok(melora_melora_kl_prior_noise(&kl, (k & 32) ? NULL : &g, wk, &p, 0.2f, 0.375f,
                                           0.5f, b->d.r, b->d.n),
              call);
        sb_hash(call, "kl", &kl, sizeof kl);
        sb_hash(call, "dA", b->dA, b->rn * 4);
        sb_hash(call, "dM", b->dM, b->rr * 4);
        sb_hash(call, "dH", b->dH, b->rr * 4);
        sb_reset(b);
        g.dA = b->dA;
        sprintf(call, "me_klx/g%d", k);
        sb_ok(melora_melora_kl_exact(&kl, (k & 32) ? NULL : &g, &p, 0.3f, 0.5f, b->d.r), call);
        sb_hash(call, "kl", &kl, sizeof kl);
        sb_hash(call, "dA", b->dA, b->rn * 4);
        sb_hash(call, "dM", b->dM, b->rr * 4);
        sb_hash(call, "dH", b->dH, b->rr * 4);
    }
}

/* The preamble's order of checks: a short workspace and NULL structs. */
static void sb_errors(sb_bufs *b, void *w, size_t wb) {
    melora_lora_saved sv = {b->x, b->u};
    melora_lora_params p = {b->A, b->B, 0.75f};
    melora_melora_params mp = {b->A, b->B, b->M, b->H, 0.5f};
    melora_melora_saved msv = {b->x, b->u, b->v};
    melora_melora_draw dr = {b->C, b->EC, b->E};
    melora_work shortw = {w, wb - 1}, nullw = {NULL, wb};
    melora_dims bad = b->d;
    sb_reset(b);
    bad.r = 0;
    sb_status(melora_lora_forward(b->z, &sv, shortw, &p, b->d), "err/lora_fwd_short");
    sb_status(melora_lora_forward(b->z, NULL, shortw, &p, b->d), "err/lora_fwd_nullsv");
    sb_status(melora_lora_forward(b->z, &sv, nullw, &p, b->d), "err/lora_fwd_nullw");
    sb_status(melora_lora_forward(b->z, &sv, shortw, &p, bad), "err/lora_fwd_r0");
    sb_status(melora_lora_backward(b->dx, NULL, &sv, shortw, b->dz, &p, b->d),
              "err/lora_bwd_short");
    sb_status(melora_melora_forward(b->z, &msv, shortw, &mp, &dr, b->d), "err/me_fwd_short");
    sb_status(melora_melora_forward(b->z, &msv, shortw, &mp, NULL, b->d), "err/me_fwd_nulldr");
    sb_hash("err", "z", b->z, b->Tm * 4);
    sb_hash("err", "u", b->u, b->Tr * 4);
    sb_hash("err", "dx", b->dx, b->Tn * 4);
}

/* The order of the argument checks: every call with each of its pointers NULL in turn
   (fault 1.. np), alone and with a short workspace (bit 0 of `how`), a non-finite scale
   (bit 1) and a bad count (bit 2: G = 0, E not dividing T, K = 0, r = 0 for the KLs),
   and with an output that overlaps an input (bit 3). Prints the status of each. */
#define SB_N(i, lv) if (f == (i)) (lv) = NULL
static void sb_order(sb_bufs *b, void *w, size_t wbytes) {
    int f, how;
    char call[64];
    for (how = 0; how < 16; how++)
        for (f = 0; f <= 12; f++) {
            melora_dims d = b->d;
            melora_work wk = {w, (how & 1) ? 1 : wbytes};
            float s = (how & 2) ? (float)HUGE_VAL : 0.5f;
            float *z = b->z, *dx = b->dx, *dA = b->dA, *dB = b->dB, *dM = b->dM, *dH = b->dH;
            float *dG = b->dG, *As = b->As, *u = b->u, *v = b->v;
            int G = (how & 4) ? 0 : b->G, E = (how & 4) ? b->d.T + 1 : b->E;
            int K = (how & 4) ? 0 : 2, rk = (how & 4) ? 0 : b->d.r;
            double kl = 0.0;
            if (how & 8) { z = (float *)b->x; dx = (float *)b->dz; dA = (float *)b->A; }
            if (f == 11) wk.base = NULL;
            if (f == 12) wk.base = (char *)w + 4;
            {
                melora_lora_saved sv = {b->x, u};
                melora_lora_params p = {b->A, b->B, s};
                melora_lora_grads g = {dA, dB};
                const melora_lora_saved *svp = &sv;
                const melora_lora_params *pp = &p;
                SB_N(1, z); SB_N(2, svp); SB_N(3, pp); SB_N(4, sv.x); SB_N(5, sv.u);
                SB_N(6, p.A); SB_N(7, p.B);
                sprintf(call, "order/lora_fwd/f%d/h%d", f, how);
                sb_status(melora_lora_forward(z, svp, wk, pp, d), call);
                SB_N(1, dx); SB_N(8, g.dA); SB_N(9, g.dB);
                sprintf(call, "order/lora_bwd/f%d/h%d", f, how);
                sb_status(melora_lora_backward(dx, &g, svp, wk, f == 10 ? NULL : b->dz, pp, d),
                          call);
                if (f < 11) {
                    sprintf(call, "order/lora_fwd_naive/f%d/h%d", f, how);
                    sb_status(melora_lora_forward_naive(z, svp, pp, d), call);
                    sprintf(call, "order/lora_bwd_naive/f%d/h%d", f, how);
                    sb_status(melora_lora_backward_naive(dx, &g, svp, f == 10 ? NULL : b->dz,
                                                         pp, d), call);
                }
            }
            {
                melora_lora_saved sv = {b->x, u};
                melora_blob_params p = {b->A, b->GA, b->B, s};
                melora_blob_grads g = {dA, dG, dB};
                melora_blob_draw dr = {b->As, b->EA};
                melora_flipout_noise nz = {b->EA, b->sa, b->sb, G};
                const melora_lora_saved *svp = &sv;
                const melora_blob_params *pp = &p;
                const melora_blob_draw *drp = &dr;
                const melora_flipout_noise *nzp = &nz;
                const float *EA = b->EA;
                SB_N(1, z); SB_N(2, svp); SB_N(3, pp); SB_N(4, sv.x); SB_N(5, sv.u);
                SB_N(6, p.MA); SB_N(7, p.GA); SB_N(8, p.B); SB_N(9, EA); SB_N(10, As);
                if (how & 8) As = (float *)b->GA;
                sprintf(call, "order/blob_sample/f%d/h%d", f, how);
                sb_status(melora_blob_sample(As, pp, EA, rk, d.n), call);
                sprintf(call, "order/blob_fwd/f%d/h%d", f, how);
                sb_status(melora_blob_forward(z, svp, As, wk, pp, EA, d), call);
                SB_N(9, nz.EA); SB_N(10, nz.sa);
                sprintf(call, "order/flip_fwd/f%d/h%d", f, how);
                sb_status(melora_blob_flipout_forward(z, svp, wk, pp, nzp, d), call);
                if (f < 11) {
                    sprintf(call, "order/flip_fwd_naive/f%d/h%d", f, how);
                    sb_status(melora_blob_flipout_forward_naive(z, svp, pp, nzp, d), call);
                }
                SB_N(1, dx); SB_N(9, dr.As); SB_N(10, dr.EA); SB_N(4, g.dMA); SB_N(5, g.dGA);
                SB_N(6, drp); SB_N(7, nzp); SB_N(8, nz.sb);
                sprintf(call, "order/blob_bwd/f%d/h%d", f, how);
                sb_status(melora_blob_backward(dx, &g, svp, wk, b->dz, pp, drp, d), call);
                sprintf(call, "order/flip_bwd/f%d/h%d", f, how);
                sb_status(melora_blob_flipout_backward(dx, &g, svp, wk, f == 3 ? NULL : b->dz,
                                                       pp, nzp, d), call);
                if (f < 11) {
                    sprintf(call, "order/flip_bwd_naive/f%d/h%d", f, how);
                    sb_status(melora_blob_flipout_backward_naive(dx, &g, svp,
                                                                 f == 3 ? NULL : b->dz, pp,
                                                                 nzp, d), call);
                }
                p.MA = b->A;
                p.GA = b->GA;
                SB_N(6, p.MA); SB_N(7, p.GA);
                sprintf(call, "order/blob_kl/f%d/h%d", f, how);
                sb_status(melora_blob_kl(f == 1 ? NULL : &kl, &g, pp, (how & 2) ? 0.0f : 0.3f,
                                         0.5f, rk, d.n), call);
            }
            {
                melora_melora_saved sv = {b->x, u, v};
                melora_lora_saved lsv = {b->x, u};
                melora_melora_params p = {b->A, b->B, b->M, b->H, s};
                melora_melora_grads g = {dA, dB, dM, dH};
                melora_melora_draw dr = {b->C, b->EC, E};
                const melora_melora_saved *svp = &sv;
                const melora_melora_params *pp = &p;
                const melora_melora_draw *drp = &dr;
                const float *EC = b->EC, *CK = b->CK;
                float *C = b->C;
                SB_N(1, z); SB_N(2, svp); SB_N(3, pp); SB_N(4, sv.x); SB_N(5, sv.u);
                SB_N(6, sv.v); SB_N(7, p.A); SB_N(8, p.B); SB_N(9, dr.C); SB_N(10, drp);
                sprintf(call, "order/me_fwd/f%d/h%d", f, how);
                sb_status(melora_melora_forward(z, svp, wk, pp, drp, d), call);
                if (f < 11) {
                    sprintf(call, "order/me_fwd_naive/f%d/h%d", f, how);
                    sb_status(melora_melora_forward_naive(z, svp, pp, drp, d), call);
                }
                SB_N(5, lsv.u); SB_N(9, CK);
                sprintf(call, "order/me_mc/f%d/h%d", f, how);
                sb_status(melora_melora_mc_forward(z, f == 2 ? NULL : &lsv, wk, pp, CK, K, d),
                          call);
                SB_N(1, dx); SB_N(4, g.dH); SB_N(6, dr.EC); SB_N(7, p.H); SB_N(8, g.dM);
                SB_N(10, g.dA);
                sprintf(call, "order/me_bwd/f%d/h%d", f, how);
                sb_status(melora_melora_backward(dx, &g, svp, wk, b->dz, pp, drp, d), call);
                if (f < 11) {
                    sprintf(call, "order/me_bwd_naive/f%d/h%d", f, how);
                    sb_status(melora_melora_backward_naive(dx, &g, svp, b->dz, pp, drp, d),
                              call);
                }
                p.A = b->A; p.M = b->M; p.H = b->H;
                SB_N(5, p.A); SB_N(6, p.M); SB_N(7, p.H); SB_N(9, C); SB_N(10, EC);
                if (how & 8) C = (float *)b->M;
                sprintf(call, "order/me_sample/f%d/h%d", f, how);
                sb_status(melora_melora_sample(C, pp, EC, E, rk), call);
                sprintf(call, "order/me_kl/f%d/h%d", f, how);
                sb_status(melora_melora_kl(f == 1 ? NULL : &kl, &g, wk, pp,
                                           (how & 2) ? -1.0f : 0.3f, 0.5f, rk, d.n), call);
                sprintf(call, "order/me_kl8/f%d/h%d", f, how);
                sb_status(melora_melora_kl_prior_noise(f == 1 ? NULL : &kl, &g, wk, pp, 0.2f,
                                                       (how & 2) ? 1.0f : 0.375f, 0.5f, rk,
                                                       d.n), call);
                sprintf(call, "order/me_klx/f%d/h%d", f, how);
                sb_status(melora_melora_kl_exact(f == 1 ? NULL : &kl, &g, pp,
                                                 (how & 2) ? 0.0f : 0.3f, 0.5f, rk), call);
            }
        }
}
#undef SB_N

static void sb_noise(sb_bufs *b, uint64_t draw) {
    char call[48];
    size_t ng = (size_t)b->ng;
    uint64_t off = 0;
    sprintf(call, "noise/d%llu", (unsigned long long)draw);
    sb_ok(melora_draw_offset(&off, draw), "draw_offset");
    sb_hash(call, "offset", &off, sizeof off);
    sb_ok(melora_blob_noise(b->EA, 11, draw, b->d.r, b->d.n), "blob_noise");
    sb_hash(call, "blob_EA", b->EA, b->rn * 4);
    sb_ok(melora_blob_flipout_noise(b->EA, b->sa, b->sb, 11, draw, b->G, b->d), "flip_noise");
    sb_hash(call, "flip_EA", b->EA, b->rn * 4);
    sb_hash(call, "flip_sa", b->sa, ng * (size_t)b->d.n * 4);
    sb_hash(call, "flip_sb", b->sb, ng * (size_t)b->d.r * 4);
    sb_ok(melora_melora_noise(b->EC, 11, draw, b->E, b->d.r), "melora_noise");
    sb_hash(call, "me_EC", b->EC, (size_t)b->E * b->rr * 4);
}

static void sb_run(int T, int n, int m, int r, int E, int G) {
    sb_bufs b;
    void *wf, *wb, *wff, *wfb, *wmf, *wmb, *wmc, *wkl;
    size_t bf, bb, bff, bfb, bmf, bmb, bmc, bkl;
    melora_dims kd;
    memset(&b, 0, sizeof b);
    b.d.T = T; b.d.n = n; b.d.m = m; b.d.r = r;
    b.E = E; b.G = G; b.K = 3; b.ng = (T + G - 1) / G;
    b.Tn = (size_t)T * n; b.Tm = (size_t)T * m; b.Tr = (size_t)T * r;
    b.rn = (size_t)r * n; b.mr = (size_t)m * r; b.rr = (size_t)r * r;
    sprintf(sb_shape, "T%d/n%d/m%d/r%d/E%d/G%d", T, n, m, r, E, G);
    sb_state = 12345u + (uint64_t)T * 7u + (uint64_t)r;
    b.x = sb_new(b.Tn, 0); b.A = sb_new(b.rn, 0); b.B = sb_new(b.mr, 0); b.dz = sb_new(b.Tm, 0);
    b.GA = sb_new(b.rn, 1); b.EA = sb_new(b.rn, 0);
    b.sa = sb_new((size_t)b.ng * n, 2); b.sb = sb_new((size_t)b.ng * r, 2);
    b.M = sb_new(b.rr, 0); b.H = sb_new(b.rr, 1); b.EC = sb_new((size_t)E * b.rr, 0);
    b.CK = sb_new((size_t)b.K * b.rr, 0); b.C = sb_new((size_t)E * b.rr, 0);
    b.z = sb_new((size_t)b.K * b.Tm, 0); b.u = sb_new(b.Tr, 0); b.v = sb_new(b.Tr, 0);
    b.dx = sb_new(b.Tn, 0); b.dA = sb_new(b.rn, 0); b.dB = sb_new(b.mr, 0);
    b.dG = sb_new(b.rn, 0); b.dM = sb_new(b.rr, 0); b.dH = sb_new(b.rr, 0);
    b.As = sb_new(b.rn, 0);
    {
        melora_blob_params bp = {b.A, b.GA, b.B, 1.0f};
        melora_melora_params mp = {b.A, b.B, b.M, b.H, 1.0f};
        sb_ok(melora_melora_sample(b.C, &mp, b.EC, E, r), "me_sample");
        sb_ok(melora_blob_sample(b.As, &bp, b.EA, r, n), "blob_sample");
    }
    kd.T = 1; kd.n = n; kd.m = 1; kd.r = r;
    wf = sb_work(MELORA_OP_LORA_FORWARD, b.d, &bf);
    wb = sb_work(MELORA_OP_LORA_BACKWARD, b.d, &bb);
    wff = sb_work(MELORA_OP_FLIPOUT_FORWARD, b.d, &bff);
    wfb = sb_work(MELORA_OP_FLIPOUT_BACKWARD, b.d, &bfb);
    wmf = sb_work(MELORA_OP_MELORA_FORWARD, b.d, &bmf);
    wmb = sb_work(MELORA_OP_MELORA_BACKWARD, b.d, &bmb);
    wmc = sb_work(MELORA_OP_MELORA_MC_FORWARD, b.d, &bmc);
    wkl = sb_work(MELORA_OP_MELORA_KL, kd, &bkl);
    printf("%s workspace %zu %zu %zu %zu %zu %zu %zu %zu\n", sb_shape, bf, bb, bff, bfb, bmf,
           bmb, bmc, bkl);

    sb_lora(&b, wf, bf, wb, bb, 0);
    sb_lora(&b, wf, bf, wb, bb, 1);
    sb_blob(&b, wf, bf, wb, bb);
    sb_flipout(&b, wff, bff, wfb, bfb, 0);
    sb_flipout(&b, wff, bff, wfb, bfb, 1);
    sb_melora(&b, wmf, bmf, wmb, bmb, 0);
    sb_melora(&b, wmf, bmf, wmb, bmb, 1);
    sb_mc(&b, wmc, bmc);
    sb_kls(&b, wkl, bkl);
    sb_errors(&b, wf, bf);
    if (r != 1 || T != 1) { /* every shape but the one-token one: its buffers all touch */
        void *wall;
        size_t ball = bf;
        ball = bb > ball ? bb : ball; ball = bff > ball ? bff : ball;
        ball = bfb > ball ? bfb : ball; ball = bmf > ball ? bmf : ball;
        ball = bmb > ball ? bmb : ball; ball = bmc > ball ? bmc : ball;
        ball = bkl > ball ? bkl : ball;
        sb_ok(melora_alloc(&wall, ball), "alloc");
        sb_order(&b, wall, ball);
        melora_free(wall);
    }
    sb_noise(&b, 0);
    sb_noise(&b, 5);

    free(b.x); free(b.A); free(b.B); free(b.dz); free(b.GA); free(b.EA); free(b.sa);
    free(b.sb); free(b.M); free(b.H); free(b.EC); free(b.CK); free(b.C); free(b.z);
    free(b.u); free(b.v); free(b.dx); free(b.dA); free(b.dB); free(b.dG); free(b.dM);
    free(b.dH); free(b.As);
    melora_free(wf); melora_free(wb); melora_free(wff); melora_free(wfb);
    melora_free(wmf); melora_free(wmb); melora_free(wmc); melora_free(wkl);
}

int main(void) {
    /* T n m r E G: every rank class (dot form r < 16, transposed r >= 16, an odd rank past
       a vector, wide), T not a multiple of 32, a 512-column tile (m = 530), T past 8 chunks
       of several blocks, a partial last sign group, one token */
    static const int shapes[][6] = {
        {37, 45, 29, 1, 1, 1},   {70, 130, 530, 4, 5, 3}, {33, 17, 19, 16, 3, 4},
        {50, 40, 24, 33, 2, 7},  {33, 17, 19, 64, 3, 4},  {613, 24, 20, 5, 1, 9},
        {300, 20, 36, 20, 4, 1}, {1, 1, 1, 1, 1, 1},      {96, 64, 48, 4, 2, 32},
    };
    size_t i;
    for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        sb_run(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], shapes[i][4],
               shapes[i][5]);
    return sb_fail;
}
