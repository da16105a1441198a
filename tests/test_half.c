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
    cr_assert_eq(melora_convert(out, MELORA_FP32, out + 16, MELORA_BF16, 8), MELORA_OK);
}
