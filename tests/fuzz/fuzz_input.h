/* The input reader, the value families and the shape arithmetic shared by the fuzz
   harnesses (fuzz_api.c over melora.h, fuzz_cuda.cpp over melora_cuda.h), so both decode
   an input the same way. C and C++; include after melora.h. */
#ifndef MELORA_FUZZ_INPUT_H
#define MELORA_FUZZ_INPUT_H
#include <float.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------ input reader -- */
typedef struct { const uint8_t *p; size_t n, i; } rd;
static uint8_t u8(rd *r) { return r->i < r->n ? r->p[r->i++] : 0; }
static uint16_t u16(rd *r) { uint16_t a = u8(r); return (uint16_t)(a | (uint16_t)u8(r) << 8); }
static uint32_t u32(rd *r) { uint32_t a = u16(r); return a | (uint32_t)u16(r) << 16; }
static uint64_t u64(rd *r) { uint64_t a = u32(r); return a | (uint64_t)u32(r) << 32; }

static const int SPECIAL_I[16] = {0, -1, -7, INT_MIN, INT_MAX, INT_MAX - 1, 1 << 29, 1 << 30,
                                  1 << 16, 1 << 17, 46341, 65537, 3, 64, 1 << 21, 1 << 22};
/* 1..48 for most bytes, else 0, negative or an extreme */
static int dsize(rd *r) {
    uint8_t b = u8(r);
    if (b < 224) return 1 + b % 48;
    return SPECIAL_I[b & 15];
}
static const int64_t SPECIAL_L[8] = {0, -1, INT64_MIN, INT64_MAX, (int64_t)1 << 62,
                                     (int64_t)(PTRDIFF_MAX / 8), (int64_t)(PTRDIFF_MAX / 8) + 1,
                                     (int64_t)1 << 40};
static int64_t dsize64(rd *r) {
    uint8_t b = u8(r);
    if (b < 200) return 1 + b % 300;
    if (b < 240) return SPECIAL_L[b & 7];
    return (int64_t)u64(r);
}
#define NAN_F __builtin_nanf("")
#define INF_F __builtin_inff()
static const float SPECIAL_F[32] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 2.0f, 1e-3f, 1e3f,
                                    1e30f, -1e30f, FLT_MAX, -FLT_MAX, 1e-40f, -1e-45f, FLT_MIN,
                                    NAN_F, INF_F, -INF_F, 0.2f, 0.99999994f, 1e-20f, -1e3f,
                                    1e-30f, 5.0f, 1e-15f, 3.0f, -2.0f, 0.1f, 1e-8f, 7.0f, 1e10f,
                                    0.25f};
static float bits_f(uint32_t w) { float f; memcpy(&f, &w, 4); return f; }
static float dscal(rd *r) {
    uint8_t b = u8(r);
    if (b < 128) return (float)(b % 64) / 8.0f - 3.0f; /* -3 .. 4.875 in steps of 1/8 */
    if (b < 224) return SPECIAL_F[b & 31];
    return bits_f(u32(r));
}

/* Buffer contents: the mode byte picks a family; values come from a small LCG seeded by
   the input, or straight from the input's bytes. */
static float lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*s >> 11) / 4503599627370496.0 - 1.0); /* [-1,1) */
}
static void fill(rd *r, float *p, size_t cnt) {
    uint8_t mode = u8(r);
    uint64_t st = u16(r) + 1;
    size_t i;
    switch (mode % 8) {
    case 0: case 1: for (i = 0; i < cnt; i++) p[i] = lcg(&st); break;
    case 2: for (i = 0; i < cnt; i++) p[i] = 1e3f * lcg(&st); break;
    case 3: for (i = 0; i < cnt; i++) p[i] = 0.0f; break;
    case 4: for (i = 0; i < cnt; i++) p[i] = bits_f(u32(r)); break; /* any bit pattern */
    default: { /* ordinary values with specials planted at chosen places */
        int k, nk = 1 + u8(r) % 4;
        for (i = 0; i < cnt; i++) p[i] = lcg(&st);
        for (k = 0; k < nk; k++) {
            size_t at = u16(r) % cnt;
            p[at] = SPECIAL_F[u8(r) & 31];
        }
    }
    }
}
static int is_fin(float v) { return v == v && v - v == 0.0f; }

#define MAX_ELEMS ((uint64_t)PTRDIFF_MAX / 8u) /* largest buffer, in elements */
#define BIT(st) (1u << (unsigned)(-(st)))

/* The large mode (1 call in 16): the ordinary sizes of the dimensions a mask byte picks
   grow, T by 12 (up to 576 rows, 2304 when made a multiple of E: several RB = 32-row
   blocks in each of the 8 or more chunks; multiples of E stay multiples), n and m by 16
   (up to 768, a third of them past the JC = 512-column slice of the dot kernels), r by 11/4 (up to 132: the transposed kernels from r = 16 on and
   ranks past any packing width). E, G and K stay as they are; 0, negative and extreme
   sizes too. Calls whose buffers exceed CAP_ELEMS are still skipped. */
#define LARGE_FIX 0xF0
static void large(rd *in, const char *dims, int *d) {
    unsigned mask = u8(in);
    int i;
    for (i = 0; dims[i]; i++) {
        if (!((mask >> i) & 1u) || d[i] <= 0 || d[i] > 4 * 48) continue;
        if (dims[i] == 'T') d[i] *= 12;
        else if (dims[i] == 'n' || dims[i] == 'm') d[i] *= 16;
        else if (dims[i] == 'r') d[i] = d[i] * 11 / 4;
    }
}

static int64_t dim_of(char c, const char *dims, const int *d) {
    const char *q;
    if (c == '1') return 1;
    if (c == 'g') { /* ceil(T/G) */
        int64_t T = dim_of('T', dims, d), G = dim_of('G', dims, d);
        return (T + G - 1) / G; /* T, G > 0 here */
    }
    q = strchr(dims, c);
    return q ? d[q - dims] : 1;
}
/* every dimension of a shape is > 0 (g needs T and G) */
static int positive(const char *shape, const char *dims, const int *d) {
    for (; *shape; shape++) {
        if (*shape == 'g') {
            if (dim_of('T', dims, d) <= 0 || dim_of('G', dims, d) <= 0) return 0;
        } else if (dim_of(*shape, dims, d) <= 0) return 0;
    }
    return 1;
}
/* elements of a shape; UINT64_MAX when above MAX_ELEMS (sizes are positive here) */
static uint64_t elems(const char *shape, const char *dims, const int *d) {
    unsigned __int128 e = 1;
    for (; *shape; shape++) {
        e *= (unsigned __int128)dim_of(*shape, dims, d);
        if (e > MAX_ELEMS) return UINT64_MAX;
    }
    return (uint64_t)e;
}

/* A valid call whose multiply-adds, about T r (n + m + E K r), exceed cap is skipped
   (each harness sets its own), so that a large-mode call stays well under a second with
   the sanitizers. */
static int too_slow(const char *dims, const int *d, double cap) {
    double T = (double)dim_of('T', dims, d), r = (double)dim_of('r', dims, d);
    double n = (double)dim_of('n', dims, d), m = (double)dim_of('m', dims, d);
    double E = (double)dim_of('E', dims, d), K = (double)dim_of('K', dims, d);
    return T * r * (n + m + E * K * r) > cap;
}

/* The statuses a call's sizes allow, the same for the CPU and the CUDA entry points: SIZE
   for a size <= 0; OVERFLOW for a buffer past MAX_ELEMS among the positive sizes (the
   checks may run in any order, so it is allowed even when another size is <= 0);
   DIVISIBILITY for T % E != 0. cnt[i] gets each buffer's element count (0 for the
   workspace, 'w', and for shapes with a size <= 0). */
static unsigned size_statuses(uint64_t *cnt, const char *const *shape, const char *kinds,
                              int np, const char *dims, const int *d, int nd) {
    unsigned allowed = 0;
    int i;
    for (i = 0; i < nd; i++)
        if (d[i] <= 0) allowed |= BIT(MELORA_ERR_SIZE);
    for (i = 0; i < np; i++) {
        cnt[i] = 0;
        if (kinds[i] == 'w' || !positive(shape[i], dims, d)) continue;
        cnt[i] = elems(shape[i], dims, d);
        if (cnt[i] == UINT64_MAX) allowed |= BIT(MELORA_ERR_OVERFLOW);
    }
    if (strchr(dims, 'E') && strchr(dims, 'T') && positive("TE", dims, d) &&
        dim_of('T', dims, d) % dim_of('E', dims, d) != 0)
        allowed |= BIT(MELORA_ERR_DIVISIBILITY);
    return allowed;
}

/* VALUE when a scalar is out of its domain ('s' scale and 'w' weight: finite; 'p' sigma:
   finite and > 0; 'e' epsilon: in [0, 1)); *bounded is cleared when a scalar is outside
   the range where finite outputs are promised. */
static unsigned scalar_statuses(int *bounded, const char *kinds, const float *f, int ns) {
    unsigned allowed = 0;
    int i;
    for (i = 0; i < ns; i++) {
        float v = f[i];
        int bad = 0;
        switch (kinds[i]) {
        case 's': case 'w': bad = !is_fin(v); *bounded &= fabsf(v) <= 1e3f; break;
        case 'p': bad = !is_fin(v) || v <= 0.0f; *bounded &= v >= 1e-3f && v <= 1e3f; break;
        case 'e': bad = !is_fin(v) || v < 0.0f || v >= 1.0f; break;
        }
        if (bad) allowed |= BIT(MELORA_ERR_VALUE);
    }
    return allowed;
}

/* The bytes after a call's buffer contents (read last, so that inputs written before the
   sized workspace decode as they did: past an input's end every byte is 0, which means
   the workspace melora_workspace_size says and every struct pointer given).
   work_claim: the size the call is told its workspace has, from what the size query says
   (need; 0 when it cannot say): that, more, or less (one byte less, none, half, any).
   struct_nulls: the struct pointers passed as NULL (bit i: the call's i-th), of ns. */
static inline size_t work_claim(rd *r, size_t need, size_t fallback) {
    uint8_t b = u8(r);
    if (!need) return fallback;
    if (b >= 216 && b < 232) return need + 8 * (1 + (size_t)u8(r));
    if (b < 232) return need;
    switch (b % 4) {
    case 0: return need - 1;
    case 1: return 0;
    case 2: return need / 2;
    default: return u32(r) % need;
    }
}
static inline unsigned struct_nulls(rd *r, int ns) {
    uint8_t b = u8(r);
    return b >= 240 && ns > 0 ? 1u << (b % ns) : 0u;
}

/* A valid call is skipped when its buffers are too large to allocate or it is too slow. */
static int too_large(const uint64_t *cnt, int np, uint64_t cap_elems, size_t wbytes,
                     size_t cap_work, const char *dims, const int *d, double cap_madds) {
    int i;
    for (i = 0; i < np; i++)
        if (cnt[i] > cap_elems) return 1;
    return wbytes > cap_work || too_slow(dims, d, cap_madds);
}

#endif
