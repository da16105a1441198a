/* One line per output of every compute function (fast paths, naive references, KLs,
   noise) on a few shapes: its name and the FNV-1a hash of its bytes. tests/bits.mk builds
   this file with several compilers and language modes and requires identical lines: the
   header gives the same bits from C and C++ builds, with or without FMA contraction by
   default. Inputs are integers times a power of two, so the inputs themselves are exact
   in every build. */
#define MELORA_IMPLEMENTATION
#include "melora.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t bits_state;
static float *bits_buf(size_t cnt, int kind) { /* 0: [-1,1)  1: [0.25,1.25)  2: +-1 */
    float *p = (float *)malloc(cnt * sizeof(float));
    size_t i;
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    for (i = 0; i < cnt; i++) {
        int32_t k;
        bits_state = bits_state * 6364136223846793005ull + 1442695040888963407ull;
        k = (int32_t)((bits_state >> 40) & 0xFFFFFu); /* 20 bits */
        if (kind == 0) p[i] = (float)(k - 0x80000) * (1.0f / 524288.0f);
        else if (kind == 1) p[i] = (float)((k >> 1) + 0x20000) * (1.0f / 524288.0f);
        else p[i] = (k & 1) ? -1.0f : 1.0f;
    }
    return p;
}
static float *bits_zero(size_t cnt) {
    float *p = (float *)calloc(cnt, sizeof(float));
    if (!p) { fprintf(stderr, "out of memory\n"); exit(2); }
    return p;
}
static void bits_hash(const char *shape, const char *name, const void *p, size_t bytes) {
    const unsigned char *b = (const unsigned char *)p;
    uint64_t h = 1469598103934665603ull;
    size_t i;
    for (i = 0; i < bytes; i++) h = (h ^ b[i]) * 1099511628211ull;
    printf("%s %-22s %016llx\n", shape, name, (unsigned long long)h);
}
static int bits_fail = 0;
static void bits_ok(melora_status st, const char *what) {
    if (st != MELORA_OK) {
        fprintf(stderr, "%s: %s\n", what, melora_status_string(st));
        bits_fail = 1;
    }
}
#define BITS_F(name, p, cnt) bits_hash(sh, name, p, (size_t)(cnt) * sizeof(float))
#define BITS_D(name, v) bits_hash(sh, name, &(v), sizeof(double))

/* C++ builds too (no compound literals, no designated initialisers before C++20): every
   struct of a call is named and initialised in field order. */
static melora_work bits_work(melora_op op, melora_dims d) {
    melora_work w = {NULL, 0};
    bits_ok(melora_workspace_size(&w.bytes, op, d), "workspace_size");
    bits_ok(melora_alloc(&w.base, w.bytes), "alloc");
    return w;
}

static void bits_shape(int T, int n, int m, int r, int E, int G) {
    char sh[64];
    int ng = (T + G - 1) / G, K = 2;
    size_t Tn = (size_t)T * n, Tm = (size_t)T * m, Tr = (size_t)T * r, rn = (size_t)r * n,
           mr = (size_t)m * r, rr = (size_t)r * r;
    float *x = bits_buf(Tn, 0), *A = bits_buf(rn, 0), *B = bits_buf(mr, 0), *dz = bits_buf(Tm, 0);
    float *GA = bits_buf(rn, 1), *EA = bits_buf(rn, 0), *sa = bits_buf((size_t)ng * n, 2);
    float *sb = bits_buf((size_t)ng * r, 2), *M = bits_buf(rr, 0), *H = bits_buf(rr, 1);
    float *EC = bits_buf((size_t)E * rr, 0), *CK = bits_buf((size_t)K * rr, 0);
    float *z = bits_zero((size_t)K * Tm), *u = bits_zero(Tr), *v = bits_zero(Tr);
    float *dx = bits_zero(Tn), *dA = bits_zero(rn), *dB = bits_zero(mr), *dG = bits_zero(rn);
    float *dM = bits_zero(rr), *dH = bits_zero(rr), *As = bits_zero(rn), *C = bits_zero((size_t)E * rr);
    const float s = 0.75f;
    const melora_dims d = {T, n, m, r, MELORA_FP32}, dk = {1, n, 1, r};
    melora_work w = bits_work(MELORA_OP_FLIPOUT_BACKWARD, d);
    melora_work w2 = bits_work(MELORA_OP_MELORA_BACKWARD, d);
    melora_work w3 = bits_work(MELORA_OP_MELORA_MC_FORWARD, d);
    melora_work wk = bits_work(MELORA_OP_MELORA_KL, dk);
    const melora_lora_saved sv = {x, u};
    const melora_melora_saved ms = {x, u, v};
    const melora_lora_params lp = {A, B, s};
    const melora_lora_grads lg = {dA, dB};
    const melora_blob_params bp = {A, GA, B, s};
    const melora_blob_grads bg = {dA, dG, dB};
    const melora_blob_draw bd = {As, EA};
    const melora_flipout_noise nz = {EA, sa, sb, G};
    const melora_melora_params mp = {A, B, M, H, s};
    const melora_melora_grads mg = {dA, dB, dM, dH};
    const melora_melora_draw md = {C, EC, E};
    double kl;
    sprintf(sh, "T%d/n%d/m%d/r%d/E%d/G%d", T, n, m, r, E, G);
#define BITS_CLEAR() do { memset(z, 0, (size_t)K * Tm * sizeof(float)); memset(dx, 0, Tn * sizeof(float)); \
        memset(dA, 0, rn * sizeof(float)); memset(dB, 0, mr * sizeof(float)); memset(dG, 0, rn * sizeof(float)); \
        memset(dM, 0, rr * sizeof(float)); memset(dH, 0, rr * sizeof(float)); } while (0)
    BITS_CLEAR();
    bits_ok(melora_lora_forward(z, &sv, w, &lp, d), "lora_forward");
    BITS_F("lora_fwd.z", z, Tm); BITS_F("lora_fwd.u", u, Tr);
    bits_ok(melora_lora_backward(dx, &lg, &sv, w, dz, &lp, d), "lora_backward");
    BITS_F("lora_bwd.dx", dx, Tn); BITS_F("lora_bwd.dA", dA, rn); BITS_F("lora_bwd.dB", dB, mr);
    BITS_CLEAR();
    bits_ok(melora_lora_forward_naive(z, &sv, &lp, d), "lora_forward_naive");
    BITS_F("lora_fwd_naive.z", z, Tm); BITS_F("lora_fwd_naive.u", u, Tr);
    bits_ok(melora_lora_backward_naive(dx, &lg, &sv, dz, &lp, d), "lora_backward_naive");
    BITS_F("lora_bwd_naive.dx", dx, Tn); BITS_F("lora_bwd_naive.dA", dA, rn); BITS_F("lora_bwd_naive.dB", dB, mr);

    BITS_CLEAR();
    bits_ok(melora_blob_sample(As, &bp, EA, r, n), "blob_sample");
    BITS_F("blob_sample.As", As, rn);
    bits_ok(melora_blob_forward(z, &sv, As, w, &bp, EA, d), "blob_forward");
    BITS_F("blob_fwd.z", z, Tm); BITS_F("blob_fwd.u", u, Tr); BITS_F("blob_fwd.As", As, rn);
    bits_ok(melora_blob_backward(dx, &bg, &sv, w, dz, &bp, &bd, d), "blob_backward");
    BITS_F("blob_bwd.dx", dx, Tn); BITS_F("blob_bwd.dMA", dA, rn); BITS_F("blob_bwd.dGA", dG, rn);
    BITS_F("blob_bwd.dB", dB, mr);

    BITS_CLEAR();
    bits_ok(melora_blob_flipout_forward(z, &sv, w, &bp, &nz, d), "flipout_forward");
    BITS_F("flip_fwd.z", z, Tm); BITS_F("flip_fwd.u", u, Tr);
    bits_ok(melora_blob_flipout_backward(dx, &bg, &sv, w, dz, &bp, &nz, d), "flipout_backward");
    BITS_F("flip_bwd.dx", dx, Tn); BITS_F("flip_bwd.dMA", dA, rn); BITS_F("flip_bwd.dGA", dG, rn);
    BITS_F("flip_bwd.dB", dB, mr);
    BITS_CLEAR();
    bits_ok(melora_blob_flipout_forward_naive(z, &sv, &bp, &nz, d), "flipout_forward_naive");
    BITS_F("flip_fwd_naive.z", z, Tm); BITS_F("flip_fwd_naive.u", u, Tr);
    bits_ok(melora_blob_flipout_backward_naive(dx, &bg, &sv, dz, &bp, &nz, d), "flipout_backward_naive");
    BITS_F("flip_bwd_naive.dx", dx, Tn); BITS_F("flip_bwd_naive.dMA", dA, rn);
    BITS_F("flip_bwd_naive.dGA", dG, rn); BITS_F("flip_bwd_naive.dB", dB, mr);

    BITS_CLEAR();
    bits_ok(melora_melora_sample(C, &mp, EC, E, r), "melora_sample");
    BITS_F("me_sample.C", C, (size_t)E * rr);
    bits_ok(melora_melora_forward(z, &ms, w2, &mp, &md, d), "melora_forward");
    BITS_F("me_fwd.z", z, Tm); BITS_F("me_fwd.u", u, Tr); BITS_F("me_fwd.v", v, Tr);
    bits_ok(melora_melora_backward(dx, &mg, &ms, w2, dz, &mp, &md, d), "melora_backward");
    BITS_F("me_bwd.dx", dx, Tn); BITS_F("me_bwd.dA", dA, rn); BITS_F("me_bwd.dB", dB, mr);
    BITS_F("me_bwd.dM", dM, rr); BITS_F("me_bwd.dH", dH, rr);
    BITS_CLEAR();
    bits_ok(melora_melora_forward_naive(z, &ms, &mp, &md, d), "melora_forward_naive");
    BITS_F("me_fwd_naive.z", z, Tm); BITS_F("me_fwd_naive.u", u, Tr); BITS_F("me_fwd_naive.v", v, Tr);
    bits_ok(melora_melora_backward_naive(dx, &mg, &ms, dz, &mp, &md, d), "melora_backward_naive");
    BITS_F("me_bwd_naive.dx", dx, Tn); BITS_F("me_bwd_naive.dA", dA, rn); BITS_F("me_bwd_naive.dB", dB, mr);
    BITS_F("me_bwd_naive.dM", dM, rr); BITS_F("me_bwd_naive.dH", dH, rr);
    BITS_CLEAR();
    bits_ok(melora_melora_mc_forward(z, &sv, w3, &mp, CK, K, d), "melora_mc_forward");
    BITS_F("me_mc_fwd.z", z, (size_t)K * Tm); BITS_F("me_mc_fwd.u", u, Tr);

    BITS_CLEAR();
    bits_ok(melora_blob_kl(&kl, &bg, &bp, 0.3f, 0.5f, r, n), "blob_kl");
    BITS_D("blob_kl.kl", kl); BITS_F("blob_kl.dMA", dA, rn); BITS_F("blob_kl.dGA", dG, rn);
    BITS_CLEAR();
    bits_ok(melora_melora_kl(&kl, &mg, wk, &mp, 0.3f, 0.5f, r, n), "melora_kl");
    BITS_D("me_kl.kl", kl); BITS_F("me_kl.dA", dA, rn); BITS_F("me_kl.dM", dM, rr); BITS_F("me_kl.dH", dH, rr);
    BITS_CLEAR();
    bits_ok(melora_melora_kl_prior_noise(&kl, &mg, wk, &mp, 0.2f, 0.375f, 0.5f, r, n), "melora_kl_prior_noise");
    BITS_D("me_kl8.kl", kl); BITS_F("me_kl8.dA", dA, rn); BITS_F("me_kl8.dM", dM, rr); BITS_F("me_kl8.dH", dH, rr);
    BITS_CLEAR();
    bits_ok(melora_melora_kl_exact(&kl, &mg, &mp, 0.3f, 0.5f, r), "melora_kl_exact");
    BITS_D("me_klx.kl", kl); BITS_F("me_klx.dM", dM, rr); BITS_F("me_klx.dH", dH, rr);

    /* the noise of draw 3 of seed 9 in this shape */
    bits_ok(melora_blob_noise(EA, 9, 3, r, n), "blob_noise");
    BITS_F("blob_noise.EA", EA, rn);
    bits_ok(melora_blob_flipout_noise(EA, sa, sb, 9, 3, G, d), "blob_flipout_noise");
    BITS_F("flip_noise.EA", EA, rn); BITS_F("flip_noise.sa", sa, (size_t)ng * n);
    BITS_F("flip_noise.sb", sb, (size_t)ng * r);
    bits_ok(melora_melora_noise(EC, 9, 3, E, r), "melora_noise");
    BITS_F("me_noise.EC", EC, (size_t)E * rr);
    {
        float *pp[] = {x, A, B, dz, GA, EA, sa, sb, M, H, EC, CK, z, u, v, dx, dA, dB, dG, dM, dH, As, C};
        size_t i;
        for (i = 0; i < sizeof pp / sizeof pp[0]; i++) free(pp[i]);
    }
    melora_free(w.base); melora_free(w2.base); melora_free(w3.base); melora_free(wk.base);
}

int main(void) {
    const int shapes[][6] = {/* T n m r E G: dot kernels; transposed, 512-column tile; wide rank */
                             {37, 45, 29, 5, 1, 1}, {70, 130, 530, 20, 5, 3}, {33, 17, 19, 64, 3, 4}};
    char sh[8] = "noise";
    float *o = bits_zero(3001);
    size_t i;
    bits_state = 12345;
    for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        bits_shape(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], shapes[i][4], shapes[i][5]);
    bits_ok(melora_noise_normal(o, 7, 5, 3001), "noise_normal");
    BITS_F("normal", o, 3001);
    bits_ok(melora_noise_uniform(o, 7, 5, 3001), "noise_uniform");
    BITS_F("uniform", o, 3001);
    bits_ok(melora_noise_sign(o, 7, 5, 3001), "noise_sign");
    BITS_F("sign", o, 3001);
    free(o);
    return bits_fail;
}
