/* bf16 and fp16 activations: the scalar conversions against references built from the
   formats' definitions, melora_convert, every forward and backward (fast and naive) in
   MELORA_BF16 and MELORA_FP16 against a double-precision model fed the same (widened)
   inputs, fast against naive, thread-count independence, and the argument errors.

   The error bound of a half-precision output (z of a forward, dx of a backward). The
   library computes w^ = z0 + delta^ in float32 (z0 the old value widened exactly, delta^
   the adapter's float32 sums) and rounds once: z = round_h(w^). Let w = z0 + delta be
   the exact value (the model, in double, on the same widened inputs) and S the sum of the
   absolute values of every term (the model run on absolute values). A float32 sum of K
   terms, in any order, errs by at most gamma_K * sum|terms|, gamma_K = K 2^-24 (to first
   order; K < 1000 here), and a chain of products adds its sums' lengths, so
       |w^ - w| <= e_acc = gamma_K * S_delta + 2^-24 (|z0| + S_delta)
   (the last term: the float32 add of z0). Rounding to the half format errs by at most
   u_h |w^| in the normal range (u_h = 2^-8 bf16, 2^-11 fp16: half an ulp, relative) plus
   half the smallest subnormal (2^-25 fp16; bf16's is below any value here), so
       |z - w| <= u_h (|w| + e_acc) + e_acc + 2^-25 [fp16].
   round_exact(w) is within u_h |w| of w as well, so z and the correctly rounded result are
   at most one half ulp apart plus the accumulation term, the bound of the task; checking
   against w itself is the tighter form of it. float32 outputs (u, v, As and every
   gradient, accumulated into an initial g0) get only the accumulation term:
       |g - (g0 + grad)| <= gamma_K * S_grad + 2^-24 (|g0| + S_grad).
   K per output is the total length of the sums on its path (n, r, m, T; the method's
   extra products), see k_of(). Fast and naive results are each within their bound of
   the same w, so they differ by at most the sum of the two bounds. */
#include "util.h"
#include <float.h>
#include <limits.h>
#include <stdio.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__F16C__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define TH_F16C 1
#endif

/* ---------------------------------------------------------------- conversions -- */
/* The value of a bf16 pattern from its fields: 1 sign, 8 exponent (bias 127), 7 mantissa. */
static double ref_bf16(uint16_t h, int *nan) {
    int sg = h >> 15, e = (h >> 7) & 0xFF, mt = h & 0x7F;
    double v;
    *nan = e == 0xFF && mt != 0;
    if (e == 0xFF) v = mt ? NAN : INFINITY;
    else if (e == 0) v = ldexp((double)mt, -126 - 7);
    else v = ldexp((double)(128 + mt), e - 127 - 7);
    return sg ? -v : v;
}
/* binary16: 1 sign, 5 exponent (bias 15), 10 mantissa. */
static double ref_f16(uint16_t h, int *nan) {
    int sg = h >> 15, e = (h >> 10) & 0x1F, mt = h & 0x3FF;
    double v;
    *nan = e == 0x1F && mt != 0;
    if (e == 0x1F) v = mt ? NAN : INFINITY;
    else if (e == 0) v = ldexp((double)mt, -24);
    else v = ldexp((double)(1024 + mt), e - 25);
    return sg ? -v : v;
}
static uint32_t fbits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }
static float bitsf(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }

Test(half, widening_every_pattern) {
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        int nb, nf;
        double vb = ref_bf16(h, &nb), vf = ref_f16(h, &nf);
        float b = melora_bf16_to_f32(h), f = melora_f16_to_f32(h);
        if (nb) {
            cr_assert(b != b && (fbits(b) >> 16) == h, "bf16 %04x: NaN widened to %08x", h, fbits(b));
        } else {
            cr_assert((double)b == vb && !signbit(b) == !signbit(vb), "bf16 %04x: %.9g, want %.9g", h, b, vb);
        }
        if (nf) {
            /* a NaN stays a NaN of the same sign with its payload in the top mantissa bits */
            cr_assert(f != f && (fbits(f) >> 31) == (uint32_t)(h >> 15) && ((fbits(f) >> 13) & 0x3FF) == (h & 0x3FFu),
                      "fp16 %04x: NaN widened to %08x", h, fbits(f));
        } else {
            cr_assert((double)f == vf && !signbit(f) == !signbit(vf), "fp16 %04x: %.9g, want %.9g", h, f, vf);
        }
    }
}

/* Round-to-nearest-even of a finite float to a format of p significant bits, exponents
   emin..emax, in double (every step exact: x has 24 bits, q is a power of two). Returns
   the rounded value, +-inf past the largest finite one. */
static double ref_round(float f, int p, int emin, int emax) {
    double x = fabs((double)f), q, k, fl, y;
    int e;
    if (x == 0.0) return (double)f;
    (void)frexp(x, &e); /* x = m 2^e, m in [0.5, 1) */
    e -= 1;
    if (e < emin) e = emin;
    q = ldexp(1.0, e - (p - 1)); /* the spacing of the format at x */
    k = x / q;
    fl = floor(k);
    if (k - fl > 0.5 || (k - fl == 0.5 && fmod(fl, 2.0) != 0.0)) fl += 1.0;
    y = fl * q;
    if (y >= ldexp(1.0, emax + 1)) y = INFINITY;
    return f < 0 ? -y : y;
}
/* One float through both narrowings, against ref_round (and F16C's conversion). */
static void check_narrow(float f) {
    uint16_t b = melora_f32_to_bf16(f), h = melora_f32_to_f16(f);
    if (f != f) {
        cr_assert((b & 0x7F80) == 0x7F80 && (b & 0x7F) && (b >> 15) == fbits(f) >> 31, "bf16 of NaN %08x: %04x", fbits(f), b);
        cr_assert((h & 0x7C00) == 0x7C00 && (h & 0x3FF) && (h >> 15) == fbits(f) >> 31, "fp16 of NaN %08x: %04x", fbits(f), h);
    } else {
        double wb = ref_round(f, 8, -126, 127), wh = ref_round(f, 11, -14, 15);
        double gb = (double)melora_bf16_to_f32(b), gh = (double)melora_f16_to_f32(h);
        cr_assert(gb == wb && !signbit(gb) == !signbit(wb), "bf16 of %.9g (%08x): %.9g, want %.9g", f, fbits(f), gb, wb);
        cr_assert(gh == wh && !signbit(gh) == !signbit(wh), "fp16 of %.9g (%08x): %.9g, want %.9g", f, fbits(f), gh, wh);
    }
#ifdef TH_F16C
    {
        uint16_t c = (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT);
        cr_assert(c == h, "fp16 of %.9g (%08x): %04x, F16C %04x", f, fbits(f), h, c);
    }
#endif
}

Test(half, narrowing_strided_floats) {
    /* every 251st float pattern (about 17 million, every exponent and sign) */
    for (uint64_t i = 0; i < ((uint64_t)1 << 32); i += 251) check_narrow(bitsf((uint32_t)i));
}

Test(half, narrowing_boundaries) {
    /* around every value of each format: the value, the midpoint to the next one (a tie,
       exact in float) and the floats on either side of the value and of the tie; this
       covers ties to even and odd, the largest finite values and the overflow threshold,
       subnormals, the smallest subnormal's half, zero of either sign */
    for (uint32_t i = 0; i < 65536; i++) {
        const uint16_t hs[2] = {(uint16_t)i, (uint16_t)i};
        for (int fmt = 0; fmt < 2; fmt++) {
            float v = fmt ? melora_f16_to_f32(hs[fmt]) : melora_bf16_to_f32(hs[fmt]);
            float nx, mid;
            if (v != v || isinf(v)) continue;
            nx = fmt ? melora_f16_to_f32((uint16_t)(hs[fmt] + 1)) : melora_bf16_to_f32((uint16_t)(hs[fmt] + 1));
            check_narrow(v);
            check_narrow(nextafterf(v, INFINITY));
            check_narrow(nextafterf(v, -INFINITY));
            if (nx != nx) continue;
            /* the largest finite value's upper neighbour is infinity: its tie is with the
               value the format would have next, 2^(emax+1) */
            double hi = (double)nx;
            if (isinf(nx)) {
                float pv = fmt ? melora_f16_to_f32((uint16_t)(hs[fmt] - 1)) : melora_bf16_to_f32((uint16_t)(hs[fmt] - 1));
                hi = 2.0 * (double)v - (double)pv;
            }
            mid = (float)(((double)v + hi) / 2);
            cr_assert((double)mid == ((double)v + hi) / 2, "tie of %04x not exact in float", hs[fmt]);
            check_narrow(mid);
            check_narrow(nextafterf(mid, INFINITY));
            check_narrow(nextafterf(mid, -INFINITY));
        }
    }
    const float sp[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, bitsf(0x7F800001u), bitsf(0xFFBFFFFFu),
                        bitsf(0x7FC00000u), bitsf(0x7FFFFFFFu), FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN,
                        bitsf(1), bitsf(0x80000001u), 65504.0f, 65519.996f, 65520.0f, -65520.0f, 65536.0f,
                        5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f, 2.9802319e-8f, 6.1035156e-5f,
                        3.3895314e38f, 3.3961776e38f, 1.0f, 1.00390625f, 1.01171875f, 1.00048828125f,
                        1.00146484375f};
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) check_narrow(sp[i]);
    /* fixed points of the definition */
    cr_assert_eq(melora_f32_to_f16(65504.0f), 0x7BFF);
    cr_assert_eq(melora_f32_to_f16(65520.0f), 0x7C00);
    cr_assert_eq(melora_f32_to_f16(-0.0f), 0x8000);
    cr_assert_eq(melora_f32_to_bf16(-0.0f), 0x8000);
    cr_assert_eq(melora_f32_to_bf16(FLT_MAX), 0x7F80);
    cr_assert_eq(melora_f32_to_bf16(1.00390625f), 0x3F80); /* tie, even below */
    cr_assert_eq(melora_f32_to_bf16(1.01171875f), 0x3F82); /* tie, even above */
    cr_assert_eq(melora_f32_to_f16(2.9802322e-8f), 0x0000); /* half the smallest subnormal: even 0 */
}

/* ---------------------------------------------------------------- melora_convert -- */
static const float conv_vals[] = {0.0f, -0.0f, 1.0f, -1.5f, 3.14159265f, 65504.0f, 65520.0f, 1e-7f, -3e-5f,
                                  1e30f, FLT_MAX, FLT_MIN, INFINITY, -INFINITY, NAN, 1.00390625f, 0.1f,
                                  -2.5e-8f, 7.0e4f, 6.1e-5f};
#define NCV (sizeof conv_vals / sizeof conv_vals[0])
static uint32_t enc(float f, melora_dtype dt) {
    return dt == MELORA_FP32 ? fbits(f) : dt == MELORA_BF16 ? melora_f32_to_bf16(f) : melora_f32_to_f16(f);
}
static float dec(uint32_t v, melora_dtype dt) {
    return dt == MELORA_FP32 ? bitsf(v) : dt == MELORA_BF16 ? melora_bf16_to_f32((uint16_t)v) : melora_f16_to_f32((uint16_t)v);
}
static void store(void *buf, size_t i, uint32_t v, melora_dtype dt) {
    if (dt == MELORA_FP32) memcpy((char *)buf + 4 * i, &v, 4);
    else { uint16_t h = (uint16_t)v; memcpy((char *)buf + 2 * i, &h, 2); }
}
static uint32_t load(const void *buf, size_t i, melora_dtype dt) {
    if (dt == MELORA_FP32) { uint32_t v; memcpy(&v, (const char *)buf + 4 * i, 4); return v; }
    uint16_t h;
    memcpy(&h, (const char *)buf + 2 * i, 2);
    return h;
}

Test(half, convert_every_dtype_pair) {
    for (int di = 0; di < 3; di++)
        for (int dout = 0; dout < 3; dout++) {
            uint32_t in[NCV], out[NCV + 1];
            for (size_t i = 0; i < NCV; i++) store(in, i, enc(conv_vals[i], (melora_dtype)di), (melora_dtype)di);
            memset(out, 0x5C, sizeof out);
            cr_assert_eq(melora_convert(out, (melora_dtype)dout, in, (melora_dtype)di, (int64_t)NCV), MELORA_OK);
            for (size_t i = 0; i < NCV; i++) {
                /* the input's value, then the output format's rounding of it */
                float v = dec(load(in, i, (melora_dtype)di), (melora_dtype)di);
                uint32_t want = enc(v, (melora_dtype)dout), got = load(out, i, (melora_dtype)dout);
                cr_assert_eq(got, want, "%d -> %d [%zu] (%g): %x, want %x", di, dout, i, v, got, want);
            }
            /* nothing past count */
            size_t end = NCV * (dout == 0 ? 4 : 2);
            for (size_t b = end; b < sizeof out; b++) cr_assert_eq(((unsigned char *)out)[b], 0x5C);
        }
}

Test(half, convert_errors_write_nothing) {
    uint32_t inw[16], outw[16], snap[16];
    char *in = (char *)inw, *out = (char *)outw;
    for (int i = 0; i < 16; i++) inw[i] = 0x3F803F80u;
    memset(outw, 0x77, sizeof outw);
    memcpy(snap, outw, sizeof snap);
    struct { void *o; int od; const void *i; int id; int64_t c; melora_status want; } cs[] = {
        {NULL, MELORA_BF16, in, MELORA_FP32, 4, MELORA_ERR_NULL},
        {out, MELORA_BF16, NULL, MELORA_FP32, 4, MELORA_ERR_NULL},
        {out, 7, in, MELORA_FP32, 4, MELORA_ERR_ENUM},
        {out, -1, in, MELORA_FP32, 4, MELORA_ERR_ENUM},
        {out, MELORA_FP16, in, MELORA_DTYPE_COUNT_, 4, MELORA_ERR_ENUM},
        {out, MELORA_FP16, in, MELORA_BF16, -1, MELORA_ERR_SIZE},
        {out, MELORA_FP16, in, MELORA_BF16, INT64_MIN, MELORA_ERR_SIZE},
        {out, MELORA_FP16, in, MELORA_BF16, INT64_MAX, MELORA_ERR_OVERFLOW},
        {out + 1, MELORA_FP16, in, MELORA_BF16, 4, MELORA_ERR_ALIGNMENT},
        {out, MELORA_FP16, in + 1, MELORA_BF16, 4, MELORA_ERR_ALIGNMENT},
        {out + 2, MELORA_FP32, in, MELORA_BF16, 4, MELORA_ERR_ALIGNMENT},
        {out, MELORA_BF16, in + 2, MELORA_FP32, 4, MELORA_ERR_ALIGNMENT},
        {out, MELORA_BF16, out, MELORA_FP16, 4, MELORA_ERR_ALIAS},          /* in place */
        {out + 4, MELORA_FP32, out, MELORA_BF16, 4, MELORA_ERR_ALIAS},       /* partial overlap */
        {out, MELORA_FP32, out + 14, MELORA_FP16, 4, MELORA_ERR_ALIAS},      /* the end of out */
    };
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        melora_status st = melora_convert(cs[k].o, (melora_dtype)cs[k].od, cs[k].i, (melora_dtype)cs[k].id, cs[k].c);
        cr_assert_eq(st, cs[k].want, "case %zu: status %d, want %d", k, st, cs[k].want);
        cr_assert(memcmp(outw, snap, sizeof snap) == 0, "case %zu: written on error", k);
    }
    /* count 0 is valid and writes nothing; adjacent buffers are fine */
    cr_assert_eq(melora_convert(out, MELORA_BF16, in, MELORA_FP32, 0), MELORA_OK);
    cr_assert(memcmp(outw, snap, sizeof snap) == 0);
    cr_assert_eq(melora_convert(out, MELORA_FP32, out + 32, MELORA_BF16, 8), MELORA_OK);
}

/* ---------------------------------------------------------------- the adapters -- */
enum { HM_LORA, HM_BLOB, HM_FLIP, HM_MELORA, HM_MC };
static const char *const HM_NAME[] = {"lora", "blob", "flipout", "melora", "melora_mc"};
typedef struct {
    int method, naive;
    melora_dtype dt;
    int T, n, m, r, E, G, K;
    float s;
    float *A, *B, *MA, *GA, *EA, *As, *M, *H, *EC, *C, *sa, *sb, *Cmc;
    uint16_t *x, *z, *dz, *dx; /* activations in dt; z is (K,T,m) */
    float *u, *v;
    float *dA, *dB, *dMA, *dGA, *dM, *dH;
    melora_work w;
} hp;

static uint16_t *half_fill(size_t cnt, uint64_t seed, double scale, melora_dtype dt) {
    float *f = tu_fill(cnt, seed, scale);
    uint16_t *h = (uint16_t *)malloc(cnt * sizeof(uint16_t) + 2);
    cr_assert(h);
    cr_assert_eq(melora_convert(h, dt, f, MELORA_FP32, (int64_t)cnt), MELORA_OK);
    free(f);
    return h;
}
static double hw(const uint16_t *h, size_t i, melora_dtype dt) {
    return dt == MELORA_BF16 ? (double)melora_bf16_to_f32(h[i]) : (double)melora_f16_to_f32(h[i]);
}
static melora_op hp_op(int method, int fwd) {
    switch (method) {
    case HM_LORA: case HM_BLOB: return fwd ? MELORA_OP_LORA_FORWARD : MELORA_OP_LORA_BACKWARD;
    case HM_FLIP: return fwd ? MELORA_OP_FLIPOUT_FORWARD : MELORA_OP_FLIPOUT_BACKWARD;
    case HM_MELORA: return fwd ? MELORA_OP_MELORA_FORWARD : MELORA_OP_MELORA_BACKWARD;
    default: return MELORA_OP_MELORA_MC_FORWARD;
    }
}
static melora_dims hp_dims(const hp *P) {
    melora_dims d = {P->T, P->n, P->m, P->r, P->dt};
    return d;
}
/* Every input from a fixed seed (so the fast and naive runs of a case see the same ones),
   the gradients' initial values g0 non-zero (they are added to), u and v a sentinel. */
static void hp_init(hp *P, int method, int naive, melora_dtype dt, int T, int n, int m, int r, int E, int G,
                    int K) {
    size_t rn = (size_t)r * n, mr = (size_t)m * r, rr = (size_t)r * r;
    int ng = (T + G - 1) / G;
    memset(P, 0, sizeof *P);
    P->method = method; P->naive = naive; P->dt = dt;
    P->T = T; P->n = n; P->m = m; P->r = r; P->E = E; P->G = G; P->K = K;
    P->s = 0.75f;
    P->A = tu_fill(rn, 11, 1); P->B = tu_fill(mr, 12, 1); P->MA = tu_fill(rn, 13, 1);
    P->GA = tu_fill(rn, 14, 0.7); P->EA = tu_fill(rn, 15, 1.5); P->M = tu_fill(rr, 16, 1);
    P->H = tu_fill(rr, 17, 0.7); P->EC = tu_fill((size_t)E * rr, 18, 1.5);
    P->Cmc = tu_fill((size_t)K * rr, 19, 1); P->C = tu_const((size_t)E * rr, 0); P->As = tu_const(rn, 0);
    P->sa = tu_signs((size_t)ng * n, 20); P->sb = tu_signs((size_t)ng * r, 21);
    {
        melora_melora_params mp = {P->A, P->B, P->M, P->H, P->s};
        melora_blob_params bp = {P->MA, P->GA, P->B, P->s};
        cr_assert_eq(melora_melora_sample(P->C, &mp, P->EC, E, r), MELORA_OK);
        cr_assert_eq(melora_blob_sample(P->As, &bp, P->EA, r, n), MELORA_OK);
    }
    P->x = half_fill((size_t)T * n, 22, 1, dt); P->z = half_fill((size_t)K * T * m, 23, 2, dt);
    P->dz = half_fill((size_t)T * m, 24, 1, dt); P->dx = half_fill((size_t)T * n, 25, 2, dt);
    P->u = tu_const((size_t)T * r, 7); P->v = tu_const((size_t)T * r, 7);
    P->dA = tu_fill(rn, 26, 1); P->dB = tu_fill(mr, 27, 1); P->dMA = tu_fill(rn, 28, 1);
    P->dGA = tu_fill(rn, 29, 1); P->dM = tu_fill(rr, 30, 1); P->dH = tu_fill(rr, 31, 1);
    {
        size_t b1, b2;
        melora_dims d = hp_dims(P);
        cr_assert_eq(melora_workspace_size(&b1, hp_op(method, 1), d), MELORA_OK);
        cr_assert_eq(melora_workspace_size(&b2, hp_op(method, 0), d), MELORA_OK);
        P->w.bytes = b1 > b2 ? b1 : b2;
        cr_assert_eq(melora_alloc(&P->w.base, P->w.bytes), MELORA_OK);
        memset(P->w.base, 0xA5, P->w.bytes);
    }
}
static void hp_free(hp *P) {
    float *f[] = {P->A, P->B, P->MA, P->GA, P->EA, P->As, P->M, P->H, P->EC, P->C, P->sa, P->sb, P->Cmc,
                  P->u, P->v, P->dA, P->dB, P->dMA, P->dGA, P->dM, P->dH};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
    free(P->x); free(P->z); free(P->dz); free(P->dx);
    melora_free(P->w.base);
}

/* The call under test (x, z, dz, dx may be moved by the error tests). */
static melora_status hp_forward(hp *P, const void *x, void *z) {
    melora_dims d = hp_dims(P);
    melora_lora_saved sv = {x, P->u};
    melora_melora_saved ms = {x, P->u, P->v};
    melora_lora_params lp = {P->A, P->B, P->s};
    melora_blob_params bp = {P->MA, P->GA, P->B, P->s};
    melora_melora_params mp = {P->A, P->B, P->M, P->H, P->s};
    melora_flipout_noise nz = {P->EA, P->sa, P->sb, P->G};
    melora_melora_draw md = {P->C, P->EC, P->E};
    switch (P->method) {
    case HM_LORA: return P->naive ? melora_lora_forward_naive(z, &sv, &lp, d) : melora_lora_forward(z, &sv, P->w, &lp, d);
    case HM_BLOB: return melora_blob_forward(z, &sv, P->As, P->w, &bp, P->EA, d);
    case HM_FLIP:
        return P->naive ? melora_blob_flipout_forward_naive(z, &sv, &bp, &nz, d)
                        : melora_blob_flipout_forward(z, &sv, P->w, &bp, &nz, d);
    case HM_MELORA:
        return P->naive ? melora_melora_forward_naive(z, &ms, &mp, &md, d) : melora_melora_forward(z, &ms, P->w, &mp, &md, d);
    default: return melora_melora_mc_forward(z, &sv, P->w, &mp, P->Cmc, P->K, d);
    }
}
static melora_status hp_backward(hp *P, const void *x, void *dx, const void *dz) {
    melora_dims d = hp_dims(P);
    melora_lora_saved sv = {x, P->u};
    melora_melora_saved ms = {x, P->u, P->v};
    melora_lora_params lp = {P->A, P->B, P->s};
    melora_blob_params bp = {P->MA, P->GA, P->B, P->s};
    melora_melora_params mp = {P->A, P->B, P->M, P->H, P->s};
    melora_flipout_noise nz = {P->EA, P->sa, P->sb, P->G};
    melora_melora_draw md = {P->C, P->EC, P->E};
    melora_blob_draw bd = {P->As, P->EA};
    melora_lora_grads lg = {P->dA, P->dB};
    melora_blob_grads bg = {P->dMA, P->dGA, P->dB};
    melora_melora_grads mg = {P->dA, P->dB, P->dM, P->dH};
    switch (P->method) {
    case HM_LORA:
        return P->naive ? melora_lora_backward_naive(dx, &lg, &sv, dz, &lp, d)
                        : melora_lora_backward(dx, &lg, &sv, P->w, dz, &lp, d);
    case HM_BLOB: return melora_blob_backward(dx, &bg, &sv, P->w, dz, &bp, &bd, d);
    case HM_FLIP:
        return P->naive ? melora_blob_flipout_backward_naive(dx, &bg, &sv, dz, &bp, &nz, d)
                        : melora_blob_flipout_backward(dx, &bg, &sv, P->w, dz, &bp, &nz, d);
    case HM_MELORA:
        return P->naive ? melora_melora_backward_naive(dx, &mg, &ms, dz, &mp, &md, d)
                        : melora_melora_backward(dx, &mg, &ms, P->w, dz, &mp, &md, d);
    default: return MELORA_OK; /* the Monte-Carlo forward has no backward */
    }
}

/* The double-precision model, from the formulas of melora.h's comments (docs/DESIGN.md),
   on the inputs the library saw (half activations widened, float32 parameters; the
   backward reads the u and v the forward saved, as the library's does). ab != 0: every
   factor replaced by its absolute value, which gives each output's sum of |terms|. */
static double V(double a, int ab) { return ab ? fabs(a) : a; }
/* A (r,n) of the product x A^T: A, BLoB's MA + (GA*GA) EA, Flipout's MA */
static double a_eff(const hp *P, size_t i, int ab) {
    if (P->method == HM_BLOB)
        return ab ? fabs((double)P->MA[i]) + (double)P->GA[i] * P->GA[i] * fabs((double)P->EA[i])
                  : (double)P->MA[i] + (double)P->GA[i] * P->GA[i] * P->EA[i];
    return V(P->method == HM_FLIP ? P->MA[i] : P->A[i], ab);
}
static double noise_n(const hp *P, size_t i, int ab) { return V((double)P->GA[i] * P->GA[i] * P->EA[i], ab); }

/* u (T,r), v (T,r) (Me-LoRA; v of the last sample for the Monte-Carlo forward is not
   kept), z (K,T,m) the adapter's delta alone */
static void model_forward(const hp *P, int ab, double *u, double *v, double *z) {
    int T = P->T, n = P->n, m = P->m, r = P->r, K = P->method == HM_MC ? P->K : 1;
    double *vt = (double *)malloc((size_t)r * sizeof(double));
    for (int t = 0; t < T; t++) {
        int g = t / P->G, e = t / (T / P->E);
        for (int k = 0; k < r; k++) {
            double acc = 0.0;
            for (int j = 0; j < n; j++) {
                double xv = V(hw(P->x, (size_t)t * n + j, P->dt), ab);
                acc += xv * a_eff(P, (size_t)k * n + j, ab);
                if (P->method == HM_FLIP)
                    acc += xv * V(P->sa[(size_t)g * n + j], ab) * noise_n(P, (size_t)k * n + j, ab) *
                           V(P->sb[(size_t)g * r + k], ab);
            }
            u[(size_t)t * r + k] = acc;
        }
        for (int kk = 0; kk < K; kk++) {
            const float *C = P->method == HM_MC ? P->Cmc + (size_t)kk * r * r
                           : P->method == HM_MELORA ? P->C + (size_t)e * r * r : NULL;
            for (int i = 0; i < r; i++) {
                double acc = 0.0;
                if (!C) acc = u[(size_t)t * r + i];
                else
                    for (int k = 0; k < r; k++) acc += V(C[(size_t)i * r + k], ab) * u[(size_t)t * r + k];
                vt[i] = acc;
                if (P->method == HM_MELORA) v[(size_t)t * r + i] = acc;
            }
            for (int i = 0; i < m; i++) {
                double acc = 0.0;
                for (int k = 0; k < r; k++) acc += V(P->B[(size_t)i * r + k], ab) * vt[k];
                z[((size_t)kk * T + t) * m + i] = V(P->s, ab) * acc;
            }
        }
    }
    free(vt);
}

/* dB (m,r), dAe (r,n) the gradient of a_eff (LoRA/Me-LoRA dA, BLoB dAs, Flipout dMA), dN
   (r,n) Flipout's of N, dC (E,r,r) Me-LoRA's, dx (T,n) */
static void model_backward(const hp *P, int ab, double *dB, double *dAe, double *dN, double *dC, double *dx) {
    int T = P->T, n = P->n, m = P->m, r = P->r, E = P->E;
    size_t rn = (size_t)r * n;
    double *dv = (double *)calloc((size_t)T * r, sizeof(double)), *du = (double *)calloc((size_t)T * r, sizeof(double));
    const float *uB = P->method == HM_MELORA ? P->v : P->u;
    for (int t = 0; t < T; t++)
        for (int k = 0; k < r; k++) {
            double acc = 0.0;
            for (int i = 0; i < m; i++) acc += V(hw(P->dz, (size_t)t * m + i, P->dt), ab) * V(P->B[(size_t)i * r + k], ab);
            dv[(size_t)t * r + k] = V(P->s, ab) * acc;
        }
    for (int i = 0; i < m; i++)
        for (int k = 0; k < r; k++) {
            double acc = 0.0;
            for (int t = 0; t < T; t++) acc += V(hw(P->dz, (size_t)t * m + i, P->dt), ab) * V(uB[(size_t)t * r + k], ab);
            dB[(size_t)i * r + k] = V(P->s, ab) * acc;
        }
    if (P->method == HM_MELORA) {
        memset(dC, 0, (size_t)E * r * r * sizeof(double));
        for (int t = 0; t < T; t++) {
            int e = t / (T / E);
            const float *C = P->C + (size_t)e * r * r;
            for (int i = 0; i < r; i++)
                for (int k = 0; k < r; k++)
                    dC[((size_t)e * r + i) * r + k] += dv[(size_t)t * r + i] * V(P->u[(size_t)t * r + k], ab);
            for (int k = 0; k < r; k++) {
                double acc = 0.0;
                for (int i = 0; i < r; i++) acc += dv[(size_t)t * r + i] * V(C[(size_t)i * r + k], ab);
                du[(size_t)t * r + k] = acc;
            }
        }
    } else {
        memcpy(du, dv, (size_t)T * r * sizeof(double));
    }
    memset(dAe, 0, rn * sizeof(double));
    memset(dN, 0, rn * sizeof(double));
    for (int t = 0; t < T; t++) {
        int g = t / P->G;
        for (int j = 0; j < n; j++) {
            double xv = V(hw(P->x, (size_t)t * n + j, P->dt), ab), acc = 0.0;
            double sa = P->method == HM_FLIP ? V(P->sa[(size_t)g * n + j], ab) : 0.0;
            for (int k = 0; k < r; k++) {
                double d = du[(size_t)t * r + k];
                dAe[(size_t)k * n + j] += d * xv;
                acc += d * a_eff(P, (size_t)k * n + j, ab);
                if (P->method == HM_FLIP) {
                    double sb = V(P->sb[(size_t)g * r + k], ab);
                    dN[(size_t)k * n + j] += d * sb * xv * sa;
                    acc += d * sb * noise_n(P, (size_t)k * n + j, ab) * sa;
                }
            }
            dx[(size_t)t * n + j] = acc;
        }
    }
    free(dv);
    free(du);
}

/* The outputs of one run, widened, with their bounds (see the top of the file). */
typedef struct {
    int n;
    const char *name[8];
    double *got[8], *bnd[8];
    size_t cnt[8];
} hres;
static void hres_free(hres *R) {
    for (int i = 0; i < R->n; i++) { free(R->got[i]); free(R->bnd[i]); }
}
static double gam(int K) { return (double)K * ldexp(1.0, -24); }
/* A half output: got (cnt) in dt, z0 its values before the call, delta and adelta the
   model's exact delta and sum of |terms|. */
static void check_half_out(hres *R, const hp *P, const char *name, const uint16_t *got, const uint16_t *z0,
                           const double *delta, const double *adelta, size_t cnt, int K) {
    double uh = P->dt == MELORA_BF16 ? ldexp(1.0, -8) : ldexp(1.0, -11);
    double sub = P->dt == MELORA_BF16 ? ldexp(1.0, -134) : ldexp(1.0, -25);
    int i = R->n++;
    R->name[i] = name;
    R->cnt[i] = cnt;
    R->got[i] = (double *)malloc(cnt * sizeof(double));
    R->bnd[i] = (double *)malloc(cnt * sizeof(double));
    for (size_t j = 0; j < cnt; j++) {
        double z0j = hw(z0, j, P->dt), w = z0j + delta[j];
        double eacc = gam(K) * adelta[j] + ldexp(1.0, -24) * (fabs(z0j) + adelta[j]);
        double b = uh * (fabs(w) + eacc) + eacc + sub, g = hw(got, j, P->dt);
        R->got[i][j] = g;
        R->bnd[i][j] = b;
        cr_assert(fabs(g - w) <= b, "%s %s %s dtype %d T=%d n=%d m=%d r=%d E=%d G=%d: %s[%zu] = %.9g, exact %.9g "
                  "(z0 %.9g), bound %.3g", HM_NAME[P->method], P->naive ? "naive" : "fast", name, P->dt, P->T, P->n,
                  P->m, P->r, P->E, P->G, name, j, g, w, z0j, b);
    }
}
/* A float32 output: g0 its values before the call (NULL: written, not accumulated). */
static void check_f32_out(hres *R, const hp *P, const char *name, const float *got, const float *g0,
                          const double *grad, const double *agrad, size_t cnt, int K) {
    int i = R->n++;
    R->name[i] = name;
    R->cnt[i] = cnt;
    R->got[i] = (double *)malloc(cnt * sizeof(double));
    R->bnd[i] = (double *)malloc(cnt * sizeof(double));
    for (size_t j = 0; j < cnt; j++) {
        double a0 = g0 ? (double)g0[j] : 0.0, w = a0 + grad[j];
        double b = gam(K) * agrad[j] + ldexp(1.0, -24) * (fabs(a0) + agrad[j]) + 1e-300;
        R->got[i][j] = (double)got[j];
        R->bnd[i][j] = b;
        cr_assert(fabs((double)got[j] - w) <= b, "%s %s dtype %d T=%d n=%d m=%d r=%d E=%d G=%d: %s[%zu] = %.9g, "
                  "exact %.9g, bound %.3g", HM_NAME[P->method], P->naive ? "naive" : "fast", P->dt, P->T, P->n, P->m,
                  P->r, P->E, P->G, name, j, (double)got[j], w, b);
    }
}

/* One case: forward then backward, every output against the model. The sums' lengths:
   forward u: n (2n for Flipout), v: + r, z: + r, plus a few single roundings (As, N,
   the scale); backward dv: m, du: + r, then T (dA, dB, dN, dC) or r (dx, twice for
   Flipout), plus E for dM, dH. */
static void run_case(hres *R, int method, int naive, melora_dtype dt, int T, int n, int m, int r, int E, int G,
                     int K) {
    hp P;
    size_t tn = (size_t)T * n, tm = (size_t)T * m, tr = (size_t)T * r, rn = (size_t)r * n, rr = (size_t)r * r;
    int Kf = 2 * n + 2 * r + 8, Kb = m + T + 2 * r + E + 8;
    hp_init(&P, method, naive, dt, T, n, m, r, E, G, K);
    memset(R, 0, sizeof *R);
    {
        int KK = method == HM_MC ? K : 1;
        size_t nz = (size_t)KK * tm;
        uint16_t *z0 = (uint16_t *)malloc(nz * 2);
        double *u = malloc(tr * 8), *v = malloc(tr * 8), *z = malloc(nz * 8);
        double *au = malloc(tr * 8), *av = malloc(tr * 8), *az = malloc(nz * 8);
        memcpy(z0, P.z, nz * 2);
        melora_status st = hp_forward(&P, P.x, P.z);
        cr_assert_eq(st, MELORA_OK, "%s %s forward dtype %d: status %d", HM_NAME[method], naive ? "naive" : "fast", dt, st);
        model_forward(&P, 0, u, v, z);
        model_forward(&P, 1, au, av, az);
        check_half_out(R, &P, "z", P.z, z0, z, az, nz, Kf);
        check_f32_out(R, &P, "u", P.u, NULL, u, au, tr, Kf);
        if (method == HM_MELORA) check_f32_out(R, &P, "v", P.v, NULL, v, av, tr, Kf);
        if (method == HM_BLOB) { /* the sampled As */
            double *as = malloc(rn * 8), *aas = malloc(rn * 8);
            for (size_t i = 0; i < rn; i++) { as[i] = a_eff(&P, i, 0); aas[i] = a_eff(&P, i, 1); }
            check_f32_out(R, &P, "As", P.As, NULL, as, aas, rn, 4);
            free(as); free(aas);
        }
        free(z0); free(u); free(v); free(z); free(au); free(av); free(az);
    }
    if (method != HM_MC) {
        uint16_t *dx0 = (uint16_t *)malloc(tn * 2);
        float *g0[6];
        float *gs[6] = {P.dA, P.dB, P.dMA, P.dGA, P.dM, P.dH};
        size_t gc[6] = {rn, (size_t)m * r, rn, rn, rr, rr};
        double *dB[2], *dAe[2], *dN[2], *dC[2], *dx[2];
        memcpy(dx0, P.dx, tn * 2);
        for (int i = 0; i < 6; i++) g0[i] = tu_copy(gs[i], gc[i]);
        melora_status st = hp_backward(&P, P.x, P.dx, P.dz);
        cr_assert_eq(st, MELORA_OK, "%s %s backward dtype %d: status %d", HM_NAME[method], naive ? "naive" : "fast", dt, st);
        for (int ab = 0; ab < 2; ab++) {
            dB[ab] = malloc((size_t)m * r * 8); dAe[ab] = malloc(rn * 8); dN[ab] = malloc(rn * 8);
            dC[ab] = malloc((size_t)E * rr * 8); dx[ab] = malloc(tn * 8);
            model_backward(&P, ab, dB[ab], dAe[ab], dN[ab], dC[ab], dx[ab]);
        }
        check_half_out(R, &P, "dx", P.dx, dx0, dx[0], dx[1], tn, Kb);
        check_f32_out(R, &P, "dB", P.dB, g0[1], dB[0], dB[1], (size_t)m * r, Kb);
        if (method == HM_LORA || method == HM_MELORA) check_f32_out(R, &P, "dA", P.dA, g0[0], dAe[0], dAe[1], rn, Kb);
        if (method == HM_BLOB || method == HM_FLIP) {
            /* dMA = the gradient of A_eff; dGA = (dAs or dN) * EA * 2 GA */
            const double *src[2] = {method == HM_BLOB ? dAe[0] : dN[0], method == HM_BLOB ? dAe[1] : dN[1]};
            double *g = malloc(rn * 8), *ag = malloc(rn * 8);
            for (size_t i = 0; i < rn; i++) {
                g[i] = src[0][i] * P.EA[i] * 2.0 * P.GA[i];
                ag[i] = src[1][i] * fabs(2.0 * P.EA[i] * P.GA[i]);
            }
            check_f32_out(R, &P, "dMA", P.dMA, g0[2], dAe[0], dAe[1], rn, Kb);
            check_f32_out(R, &P, "dGA", P.dGA, g0[3], g, ag, rn, Kb);
            free(g); free(ag);
        }
        if (method == HM_MELORA) { /* dM = sum_e dC_e, dH = sum_e dC_e * EC_e * 2H */
            double *gm[2], *gh[2];
            for (int ab = 0; ab < 2; ab++) {
                gm[ab] = calloc(rr, 8); gh[ab] = calloc(rr, 8);
                for (int e = 0; e < E; e++)
                    for (size_t i = 0; i < rr; i++) {
                        double c = dC[ab][(size_t)e * rr + i];
                        gm[ab][i] += c;
                        gh[ab][i] += c * V(2.0 * P.EC[(size_t)e * rr + i] * P.H[i], ab);
                    }
            }
            check_f32_out(R, &P, "dM", P.dM, g0[4], gm[0], gm[1], rr, Kb);
            check_f32_out(R, &P, "dH", P.dH, g0[5], gh[0], gh[1], rr, Kb);
            for (int ab = 0; ab < 2; ab++) { free(gm[ab]); free(gh[ab]); }
        }
        /* the gradients a method does not have are untouched */
        if (method != HM_LORA && method != HM_MELORA) cr_assert(memcmp(P.dA, g0[0], rn * 4) == 0, "dA written");
        if (method == HM_LORA || method == HM_MELORA) cr_assert(memcmp(P.dMA, g0[2], rn * 4) == 0, "dMA written");
        if (method != HM_MELORA) cr_assert(memcmp(P.dM, g0[4], rr * 4) == 0, "dM written");
        for (int ab = 0; ab < 2; ab++) { free(dB[ab]); free(dAe[ab]); free(dN[ab]); free(dC[ab]); free(dx[ab]); }
        for (int i = 0; i < 6; i++) free(g0[i]);
        free(dx0);
    }
    hp_free(&P);
}

/* The shapes of every method: odd T, n, m; the ranks below and past the vector width and
   the packed kernels (16); Me-LoRA with E in {1, 3} (T = 39, a multiple of 3), Flipout
   with G in {1, 4}, the Monte-Carlo forward with K = 2. */
static const int RANKS[] = {1, 3, 8, 16, 33};
#define NRANK (int)(sizeof RANKS / sizeof RANKS[0])
typedef struct { int method, E, G, K; } hvar;
static const hvar VARS[] = {{HM_LORA, 1, 1, 1}, {HM_BLOB, 1, 1, 1}, {HM_FLIP, 1, 1, 1}, {HM_FLIP, 1, 4, 1},
                            {HM_MELORA, 1, 1, 1}, {HM_MELORA, 3, 1, 1}, {HM_MC, 1, 1, 2}};
#define NVAR (int)(sizeof VARS / sizeof VARS[0])
static int has_naive(int method) { return method != HM_BLOB && method != HM_MC; }

static void model_suite(int naive, int method) {
    for (int dt = MELORA_BF16; dt <= MELORA_FP16; dt++)
        for (int vi = 0; vi < NVAR; vi++) {
            const hvar *hv = &VARS[vi];
            if (hv->method != method) continue;
            for (int ri = 0; ri < NRANK; ri++) {
                hres R;
                run_case(&R, hv->method, naive, (melora_dtype)dt, hv->E == 3 ? 39 : 37, 45, 29, RANKS[ri], hv->E,
                         hv->G, hv->K);
                hres_free(&R);
            }
            { /* many rows: 8 chunks of several 32-row blocks, and the half slabs' seams */
                hres R;
                run_case(&R, hv->method, naive, (melora_dtype)dt, hv->E == 3 ? 402 : 403, 45, 300, 16, hv->E, hv->G,
                         hv->K);
                hres_free(&R);
            }
        }
}
Test(half, naive_lora_vs_model) { model_suite(1, HM_LORA); }
Test(half, naive_flipout_vs_model) { model_suite(1, HM_FLIP); }
Test(half, naive_melora_vs_model) { model_suite(1, HM_MELORA); }
Test(half, fast_lora_vs_model) { model_suite(0, HM_LORA); }
Test(half, fast_blob_vs_model) { model_suite(0, HM_BLOB); }
Test(half, fast_flipout_vs_model) { model_suite(0, HM_FLIP); }
Test(half, fast_melora_vs_model) { model_suite(0, HM_MELORA); }
Test(half, fast_melora_mc_vs_model) { model_suite(0, HM_MC); }

/* Fast and naive on the same inputs: each within its bound of the exact value, so within
   the sum of the two bounds of each other (checked element by element). */
Test(half, fast_vs_naive) {
    for (int dt = MELORA_BF16; dt <= MELORA_FP16; dt++)
        for (int vi = 0; vi < NVAR; vi++) {
            const hvar *hv = &VARS[vi];
            if (!has_naive(hv->method)) continue;
            for (int ri = 0; ri < NRANK; ri++) {
                hres F, N;
                int T = hv->E == 3 ? 39 : 37;
                run_case(&F, hv->method, 0, (melora_dtype)dt, T, 45, 29, RANKS[ri], hv->E, hv->G, hv->K);
                run_case(&N, hv->method, 1, (melora_dtype)dt, T, 45, 29, RANKS[ri], hv->E, hv->G, hv->K);
                cr_assert_eq(F.n, N.n);
                for (int o = 0; o < F.n; o++)
                    for (size_t j = 0; j < F.cnt[o]; j++)
                        cr_assert(fabs(F.got[o][j] - N.got[o][j]) <= F.bnd[o][j] + N.bnd[o][j],
                                  "%s dtype %d r=%d: %s[%zu] fast %.9g naive %.9g", HM_NAME[hv->method], dt,
                                  RANKS[ri], F.name[o], j, F.got[o][j], N.got[o][j]);
                hres_free(&F);
                hres_free(&N);
            }
        }
}

/* ---------------------------------------------------------------- threads -- */
/* bf16 outputs of every fast call are bitwise the same for 1, 2 and 3 threads (chunks
   are fixed by T; the rounding to bf16 is per element). T = 203 gives 8 chunks of
   several 32-row blocks. */
#ifdef _OPENMP
static void threaded_outputs(int method, int threads, uint16_t **z, uint16_t **dx, float **g) {
    hp P;
    const int T = 203, n = 45, m = 29, r = 16;
    int E = method == HM_MELORA ? 7 : 1, G = method == HM_FLIP ? 3 : 1, K = method == HM_MC ? 2 : 1;
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    hp_init(&P, method, 0, MELORA_BF16, T, n, m, r, E, G, K);
    cr_assert_eq(hp_forward(&P, P.x, P.z), MELORA_OK);
    cr_assert_eq(hp_backward(&P, P.x, P.dx, P.dz), MELORA_OK);
    *z = (uint16_t *)malloc((size_t)K * T * m * 2);
    memcpy(*z, P.z, (size_t)K * T * m * 2);
    *dx = (uint16_t *)malloc((size_t)T * n * 2);
    memcpy(*dx, P.dx, (size_t)T * n * 2);
    /* u, v, then every gradient */
    {
        size_t tr = (size_t)T * r, rn = (size_t)r * n, rr = (size_t)r * r, mr = (size_t)m * r, at = 0;
        *g = (float *)malloc((2 * tr + 3 * rn + mr + 2 * rr) * 4);
        const float *src[] = {P.u, P.v, P.dA, P.dB, P.dMA, P.dGA, P.dM, P.dH};
        size_t cnt[] = {tr, tr, rn, mr, rn, rn, rr, rr};
        for (int i = 0; i < 8; i++) { memcpy(*g + at, src[i], cnt[i] * 4); at += cnt[i]; }
    }
    hp_free(&P);
}
#endif
Test(half, bf16_bitwise_for_1_2_3_threads) {
#ifndef _OPENMP
    cr_skip_test("built without OpenMP: nothing to compare");
#else
    int keep = omp_get_max_threads();
    const int T = 203, n = 45, m = 29, r = 16;
    size_t ng = 2 * (size_t)T * r + 3 * (size_t)r * n + (size_t)m * r + 2 * (size_t)r * r;
    for (int method = HM_LORA; method <= HM_MC; method++) {
        uint16_t *z[3], *dx[3];
        float *g[3];
        size_t nz = (size_t)(method == HM_MC ? 2 : 1) * T * m;
        for (int t = 0; t < 3; t++) threaded_outputs(method, t + 1, &z[t], &dx[t], &g[t]);
        for (int t = 1; t < 3; t++) {
            cr_assert(memcmp(z[0], z[t], nz * 2) == 0, "%s: z, 1 vs %d threads", HM_NAME[method], t + 1);
            cr_assert(memcmp(dx[0], dx[t], (size_t)T * n * 2) == 0, "%s: dx, 1 vs %d threads", HM_NAME[method], t + 1);
            cr_assert(memcmp(g[0], g[t], ng * 4) == 0, "%s: u, v or a gradient, 1 vs %d threads", HM_NAME[method], t + 1);
        }
        for (int t = 0; t < 3; t++) { free(z[t]); free(dx[t]); free(g[t]); }
    }
    omp_set_num_threads(keep);
#endif
}

/* ---------------------------------------------------------------- errors -- */
/* Everything a call may write, copied before it: z, dx, u, v, As, the gradients and the
   workspace. */
typedef struct { unsigned char *p[12]; size_t n[12]; const void *src[12]; int k; } hsnap;
static void snap_add(hsnap *S, const void *p, size_t n) {
    S->src[S->k] = p;
    S->n[S->k] = n;
    S->p[S->k] = (unsigned char *)malloc(n);
    memcpy(S->p[S->k++], p, n);
}
static void hsnap_take(hsnap *S, const hp *P) {
    size_t T = (size_t)P->T, rn = (size_t)P->r * P->n, rr = (size_t)P->r * P->r;
    S->k = 0;
    snap_add(S, P->z, (size_t)P->K * T * P->m * 2);
    snap_add(S, P->dx, T * P->n * 2);
    snap_add(S, P->u, T * P->r * 4);
    snap_add(S, P->v, T * P->r * 4);
    snap_add(S, P->As, rn * 4);
    snap_add(S, P->dA, rn * 4);
    snap_add(S, P->dB, (size_t)P->m * P->r * 4);
    snap_add(S, P->dMA, rn * 4);
    snap_add(S, P->dGA, rn * 4);
    snap_add(S, P->dM, rr * 4);
    snap_add(S, P->dH, rr * 4);
    snap_add(S, P->w.base, P->w.bytes);
}
static void hsnap_check(hsnap *S, const char *what) {
    for (int i = 0; i < S->k; i++) {
        cr_assert(memcmp(S->p[i], S->src[i], S->n[i]) == 0, "%s: buffer %d written on error", what, i);
        free(S->p[i]);
    }
}

/* An unknown dtype is MELORA_ERR_ENUM, a half activation at an odd address
   MELORA_ERR_ALIGNMENT, in every fast and naive call, with nothing written. */
Test(half, bad_dtype_and_odd_address_write_nothing) {
    const int T = 9, n = 7, m = 5, r = 3;
    for (int vi = 0; vi < NVAR; vi++)
        for (int naive = 0; naive < 2; naive++)
            for (int fwd = 1; fwd >= 0; fwd--) {
                const hvar *hv = &VARS[vi];
                hp P;
                hsnap S;
                char what[96];
                if (naive && !has_naive(hv->method)) continue;
                if (!fwd && hv->method == HM_MC) continue;
                hp_init(&P, hv->method, naive, MELORA_BF16, hv->E == 3 ? 9 : T, n, m, r, hv->E, hv->G, hv->K);
                /* unknown dtypes: one past the last, 7, negative */
                const int bad[] = {MELORA_DTYPE_COUNT_, 7, -1};
                for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
                    snprintf(what, sizeof what, "%s %s %s dtype %d", HM_NAME[hv->method], naive ? "naive" : "fast",
                             fwd ? "forward" : "backward", bad[b]);
                    P.dt = (melora_dtype)bad[b];
                    hsnap_take(&S, &P);
                    melora_status st = fwd ? hp_forward(&P, P.x, P.z) : hp_backward(&P, P.x, P.dx, P.dz);
                    cr_assert_eq(st, MELORA_ERR_ENUM, "%s: status %d", what, st);
                    hsnap_check(&S, what);
                }
                /* each activation of the call one byte off (copies at an odd address) */
                for (int dt = MELORA_BF16; dt <= MELORA_FP16; dt++) {
                    size_t tn = (size_t)P.T * n * 2, tm = (size_t)P.K * P.T * m * 2;
                    unsigned char *xo = malloc(tn + 2), *zo = malloc(tm + 2), *dzo = malloc((size_t)P.T * m * 2 + 2),
                                  *dxo = malloc(tn + 2);
                    P.dt = (melora_dtype)dt;
                    memcpy(xo + 1, P.x, tn);
                    memcpy(zo + 1, P.z, tm);
                    memcpy(dzo + 1, P.dz, (size_t)P.T * m * 2);
                    memcpy(dxo + 1, P.dx, tn);
                    for (int which = 0; which < 2; which++) {
                        melora_status st;
                        snprintf(what, sizeof what, "%s %s %s dtype %d, %s odd", HM_NAME[hv->method],
                                 naive ? "naive" : "fast", fwd ? "forward" : "backward", dt,
                                 which == 0 ? "x" : fwd ? "z" : "dx/dz");
                        hsnap_take(&S, &P);
                        if (fwd) st = hp_forward(&P, which == 0 ? (void *)(xo + 1) : P.x, which == 1 ? (void *)(zo + 1) : P.z);
                        else if (which == 0) st = hp_backward(&P, xo + 1, P.dx, P.dz);
                        else {
                            st = hp_backward(&P, P.x, dxo + 1, P.dz);
                            cr_assert_eq(st, MELORA_ERR_ALIGNMENT, "%s (dx): status %d", what, st);
                            st = hp_backward(&P, P.x, P.dx, dzo + 1);
                        }
                        cr_assert_eq(st, MELORA_ERR_ALIGNMENT, "%s: status %d", what, st);
                        hsnap_check(&S, what);
                        /* the odd copies themselves are not written either */
                        cr_assert(memcmp(zo + 1, P.z, tm) == 0 && memcmp(dxo + 1, P.dx, tn) == 0, "%s: written", what);
                    }
                    free(xo); free(zo); free(dzo); free(dxo);
                }
                hp_free(&P);
            }
}

/* The workspace of a half-precision call is at least fp32's, and one byte short of it
   is MELORA_ERR_WORKSPACE with nothing written. */
Test(half, workspace_size_and_one_byte_short) {
    const int T = 37, n = 45, m = 29;
    for (int ri = 0; ri < NRANK; ri++)
        for (int op = 0; op < MELORA_OP_COUNT_; op++)
            for (int dt = MELORA_BF16; dt <= MELORA_FP16; dt++) {
                size_t b32, bh;
                melora_dims d32 = {T, n, m, RANKS[ri], MELORA_FP32}, dh = {T, n, m, RANKS[ri], (melora_dtype)dt};
                cr_assert_eq(melora_workspace_size(&b32, (melora_op)op, d32), MELORA_OK);
                cr_assert_eq(melora_workspace_size(&bh, (melora_op)op, dh), MELORA_OK);
                cr_assert(bh >= b32, "op %d dtype %d r=%d: %zu bytes, fp32 %zu", op, dt, RANKS[ri], bh, b32);
            }
    for (int vi = 0; vi < NVAR; vi++)
        for (int fwd = 1; fwd >= 0; fwd--)
            for (int dt = MELORA_BF16; dt <= MELORA_FP16; dt++) {
                const hvar *hv = &VARS[vi];
                hp P;
                hsnap S;
                size_t need;
                if (!fwd && hv->method == HM_MC) continue;
                hp_init(&P, hv->method, 0, (melora_dtype)dt, hv->E == 3 ? 39 : T, n, m, 8, hv->E, hv->G, hv->K);
                cr_assert_eq(melora_workspace_size(&need, hp_op(hv->method, fwd), hp_dims(&P)), MELORA_OK);
                P.w.bytes = need - 1;
                hsnap_take(&S, &P);
                melora_status st = fwd ? hp_forward(&P, P.x, P.z) : hp_backward(&P, P.x, P.dx, P.dz);
                cr_assert_eq(st, MELORA_ERR_WORKSPACE, "%s %s dtype %d: status %d", HM_NAME[hv->method],
                             fwd ? "forward" : "backward", dt, st);
                hsnap_check(&S, "one byte short");
                hp_free(&P);
            }
}
