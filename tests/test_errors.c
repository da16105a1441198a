/* Bad input for every compute function: each required pointer NULL, each size 0 and
   negative, sizes whose buffers overflow, T % E != 0, bad scalars, a misaligned workspace.
   Each must return its documented code and leave every buffer untouched. */
#include "util.h"
#include "api_calls.h"
#include <limits.h>
#include <stdio.h>

#define NP 20      /* pointer slots */
#define BUF 4096   /* floats per buffer: enough for the small valid sizes below */

typedef struct {
    const char *name;
    int np;             /* pointer arguments, in order */
    unsigned required;  /* bit i: pointer i may not be NULL */
    int nd;             /* int sizes */
    int valid[8];       /* a valid set of sizes */
    int over[8];        /* sizes whose buffers overflow */
    int ediv;           /* index of E in d (-1 if none); T is assumed to be d[tidx] */
    int tidx;
    int nf;             /* float scalars */
    float fvalid[3];
    float fbad[3][3];   /* up to three bad scalar sets -> MELORA_ERR_VALUE */
    int nbad;
    int work;           /* index of the workspace pointer, -1 if none */
    call_fn call;
} api;

static melora_status c_noise_n(void **p, const int *d, const float *f) { (void)f; return melora_noise_normal(F(p[0]), 1, 0, d[0]); }
static melora_status c_noise_u(void **p, const int *d, const float *f) { (void)f; return melora_noise_uniform(F(p[0]), 1, 0, d[0]); }
static melora_status c_noise_s(void **p, const int *d, const float *f) { (void)f; return melora_noise_sign(F(p[0]), 1, 0, d[0]); }
static melora_status c_ws(void **p, const int *d, const float *f) { (void)f; return melora_workspace_size((size_t *)p[0], MELORA_OP_FLIPOUT_BACKWARD, d[0], d[1], d[2], d[3]); }

#define IM INT_MAX
#define NAN_ (0.0f / 0.0f)
/* valid sizes: T=4 n=3 m=5 r=2 (E=2, G=3, K=2) */
static const api APIS[] = {
    {"lora_forward", 6, 0x3B, 4, {4, 3, 5, 2}, {IM, IM, 5, 2}, -1, 0, 1, {1}, {{NAN_}}, 1, 2, c_lora_f},
    {"lora_backward", 9, 0x1F8, 4, {4, 3, 5, 2}, {4, IM, 5, IM}, -1, 0, 1, {1}, {{1.0f / 0.0f}}, 1, 3, c_lora_b},
    {"blob_sample", 4, 0xF, 2, {2, 3}, {IM, IM}, -1, 0, 0, {0}, {{0}}, 0, -1, c_blob_s},
    {"blob_forward", 9, 0x1F7, 4, {4, 3, 5, 2}, {4, 3, IM, IM}, -1, 0, 1, {1}, {{NAN_}}, 1, 3, c_blob_f},
    {"blob_backward", 12, 0xFE0, 4, {4, 3, 5, 2}, {IM, 3, IM, 2}, -1, 0, 1, {1}, {{NAN_}}, 1, 4, c_blob_b},
    {"flipout_forward", 10, 0x3FB, 5, {3, 4, 3, 5, 2}, {3, IM, IM, 5, 2}, -1, 1, 1, {1}, {{NAN_}}, 1, 2, c_flip_f},
    {"flipout_backward", 14, 0x3FE0, 5, {3, 4, 3, 5, 2}, {3, 4, IM, 5, IM}, -1, 1, 1, {1}, {{NAN_}}, 1, 4, c_flip_b},
    {"blob_kl", 5, 0x19, 2, {2, 3}, {IM, IM}, -1, 0, 2, {0.2f, 1}, {{0, 1}, {-1, 1}, {0.2f, NAN_}}, 3, -1, c_blob_kl},
    {"melora_sample", 4, 0xF, 2, {2, 2}, {2, IM}, -1, 0, 0, {0}, {{0}}, 0, -1, c_me_s},
    {"melora_forward", 8, 0xFF, 5, {2, 4, 3, 5, 2}, {2, IM, IM, 5, 2}, 0, 1, 1, {1}, {{NAN_}}, 1, 3, c_me_f},
    {"melora_backward", 15, 0x1FE0, 5, {2, 4, 3, 5, 2}, {2, 4, 3, 5, IM}, 0, 1, 1, {1}, {{NAN_}}, 1, 5, c_me_b},
    {"melora_mc_forward", 7, 0x7F, 5, {2, 4, 3, 5, 2}, {IM, IM, 3, IM, 2}, -1, 1, 1, {1}, {{NAN_}}, 1, 2, c_me_mc},
    {"melora_kl", 8, 0xF1, 2, {2, 3}, {IM, IM}, -1, 0, 2, {0.2f, 1}, {{0, 1}, {-0.5f, 1}, {0.2f, NAN_}}, 3, 4, c_me_kl},
    {"melora_kl_prior_noise", 8, 0xF1, 2, {2, 3}, {IM, IM}, -1, 0, 3, {0.2f, 0.5f, 1}, {{0.2f, 1.0f, 1}, {0.2f, -0.1f, 1}, {0, 0.5f, 1}}, 3, 4, c_me_kl8},
    {"melora_kl_exact", 5, 0x19, 1, {2}, {IM}, -1, 0, 2, {0.2f, 1}, {{0, 1}, {NAN_, 1}, {0.2f, 1.0f / 0.0f}}, 3, -1, c_me_klx},
    {"lora_forward_naive", 5, 0x1F, 4, {4, 3, 5, 2}, {IM, IM, 5, 2}, -1, 0, 1, {1}, {{NAN_}}, 1, -1, c_lora_fn},
    {"lora_backward_naive", 8, 0xF8, 4, {4, 3, 5, 2}, {4, IM, 5, IM}, -1, 0, 1, {1}, {{NAN_}}, 1, -1, c_lora_bn},
    {"flipout_forward_naive", 9, 0x1FF, 5, {3, 4, 3, 5, 2}, {3, IM, IM, 5, 2}, -1, 1, 1, {1}, {{NAN_}}, 1, -1, c_flip_fn},
    {"flipout_backward_naive", 13, 0x1FF0, 5, {3, 4, 3, 5, 2}, {3, 4, IM, 5, IM}, -1, 1, 1, {1}, {{NAN_}}, 1, -1, c_flip_bn},
    {"melora_forward_naive", 7, 0x7F, 5, {2, 4, 3, 5, 2}, {2, IM, IM, 5, 2}, 0, 1, 1, {1}, {{NAN_}}, 1, -1, c_me_fn},
    {"melora_backward_naive", 14, 0xFE0, 5, {2, 4, 3, 5, 2}, {2, 4, 3, 5, IM}, 0, 1, 1, {1}, {{NAN_}}, 1, -1, c_me_bn},
    {"noise_normal", 1, 1, 1, {7}, {0}, -1, 0, 0, {0}, {{0}}, 0, -1, c_noise_n},
    {"noise_uniform", 1, 1, 1, {7}, {0}, -1, 0, 0, {0}, {{0}}, 0, -1, c_noise_u},
    {"noise_sign", 1, 1, 1, {7}, {0}, -1, 0, 0, {0}, {{0}}, 0, -1, c_noise_s},
    {"workspace_size", 1, 1, 4, {4, 3, 5, 2}, {IM, IM, 5, 2}, -1, 0, 0, {0}, {{0}}, 0, -1, c_ws},
};
#define NAPI (int)(sizeof APIS / sizeof APIS[0])

static float *bufs[NP];
static float *snap[NP];
static void setup(void) {
    for (int i = 0; i < NP; i++) {
        void *w = NULL;
        cr_assert_eq(melora_alloc(&w, BUF * sizeof(float)), 0);
        bufs[i] = (float *)w;
        uint64_t st = 1000 + i;
        for (int j = 0; j < BUF; j++) bufs[i][j] = 0.5f + 0.4f * (float)tu_rand(&st); /* > 0 */
        snap[i] = tu_copy(bufs[i], BUF);
    }
}
static void teardown(void) {
    for (int i = 0; i < NP; i++) { melora_free(bufs[i]); free(snap[i]); }
}
static void untouched(const char *name, const char *what) {
    for (int i = 0; i < NP; i++)
        cr_assert(memcmp(bufs[i], snap[i], BUF * sizeof(float)) == 0,
                  "%s (%s): buffer %d was written", name, what, i);
}
static void expect(const api *a, void **p, const int *d, const float *f, melora_status want,
                   const char *what) {
    melora_status got = a->call(p, d, f);
    cr_assert_eq(got, want, "%s (%s): got %d (%s), want %d", a->name, what, got,
                 melora_status_string(got), want);
    untouched(a->name, what);
}

Test(errors, every_function_rejects_bad_input, .init = setup, .fini = teardown) {
    for (int ai = 0; ai < NAPI; ai++) {
        const api *a = &APIS[ai];
        void *p[NP];
        int d[8];
        float f[3];
        char what[64];
        for (int i = 0; i < NP; i++) p[i] = bufs[i];
        memcpy(d, a->valid, sizeof d);
        memcpy(f, a->fvalid, sizeof f);
        /* NULL in each required slot */
        for (int i = 0; i < a->np; i++) {
            if (!((a->required >> i) & 1)) continue;
            p[i] = NULL;
            snprintf(what, sizeof what, "pointer %d NULL", i);
            expect(a, p, d, f, MELORA_ERR_NULL, what);
            p[i] = bufs[i];
        }
        /* zero and negative sizes */
        for (int i = 0; i < a->nd; i++) {
            int keep = d[i];
            d[i] = 0;
            snprintf(what, sizeof what, "size %d zero", i);
            expect(a, p, d, f, MELORA_ERR_SIZE, what);
            d[i] = -3;
            snprintf(what, sizeof what, "size %d negative", i);
            expect(a, p, d, f, MELORA_ERR_SIZE, what);
            d[i] = INT_MIN;
            expect(a, p, d, f, MELORA_ERR_SIZE, "INT_MIN");
            d[i] = keep;
        }
        /* overflowing products, rejected before anything is touched */
        if (a->over[0]) {
            expect(a, p, a->over, f, MELORA_ERR_OVERFLOW, "overflow");
        }
        /* T not a multiple of E */
        if (a->ediv >= 0) {
            int dd[8];
            memcpy(dd, d, sizeof dd);
            dd[a->tidx] = 5;
            expect(a, p, dd, f, MELORA_ERR_DIVISIBILITY, "T % E");
        }
        for (int b = 0; b < a->nbad; b++) expect(a, p, d, a->fbad[b], MELORA_ERR_VALUE, "scalar");
        if (a->work >= 0) {
            p[a->work] = (char *)bufs[a->work] + 4;
            expect(a, p, d, f, MELORA_ERR_ALIGNMENT, "misaligned workspace");
            p[a->work] = bufs[a->work];
        }
        /* and the valid call succeeds (so the cases above failed for their stated reason) */
        cr_assert_eq(a->call(p, d, f), MELORA_OK, "%s: valid call failed", a->name);
        for (int i = 0; i < NP; i++) memcpy(snap[i], bufs[i], BUF * sizeof(float));
    }
}

/* The noise functions: counts too large to address are an overflow. */
Test(errors, noise_counts, .init = setup, .fini = teardown) {
    cr_assert_eq(melora_noise_normal(bufs[0], 1, 0, INT64_MAX), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_noise_sign(bufs[0], 1, 0, -1), MELORA_ERR_SIZE);
    cr_assert_eq(melora_noise_uniform(bufs[0], 1, 0, (int64_t)1 << 62), MELORA_ERR_OVERFLOW);
    untouched("noise", "counts");
}

/* T*n beyond 2^31 is accepted when it is addressable (workspace query: no memory). */
Test(errors, large_sizes_accepted_when_addressable) {
    size_t bytes = 0;
    cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_LORA_BACKWARD, 1 << 20, 1 << 14, 64, 8), MELORA_OK);
    cr_assert(bytes > 0);
    cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_MELORA_BACKWARD, INT_MAX, 4096, 4096, 8), MELORA_OK);
    cr_assert(bytes >= (size_t)INT_MAX * 8 * sizeof(float)); /* dv is (T,r) */
    cr_assert_eq(melora_workspace_size(&bytes, (melora_op)99, 4, 4, 4, 4), MELORA_ERR_ENUM);
}

Test(errors, status_strings) {
    for (int s = 0; s >= -11; s--) {
        const char *str = melora_status_string((melora_status)s);
        cr_assert(str && strncmp(str, "melora: ", 8) == 0);
        cr_assert(strstr(str, "unknown status") == NULL, "status %d has no message", s);
    }
    cr_assert(strstr(melora_status_string((melora_status)-99), "unknown") != NULL);
}
