/* Bad input for every compute function: each required pointer NULL, each size 0 and
   negative, sizes whose buffers overflow, T % E != 0, bad scalars, a misaligned workspace,
   a workspace smaller than melora_workspace_size() says, each required struct pointer
   NULL. Each must return its documented code and leave every buffer untouched. The calls
   go through tests/api_calls.h: p[] in the order of the tensors, d[] the sizes, f[] the
   scalars; it puts them in each call's structs. */
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
    {"draw_offset", 1, 1, 0, {0}, {0}, -1, 0, 0, {0}, {{0}}, 0, -1, c_draw_off},
    {"blob_noise", 1, 1, 2, {2, 3}, {IM, IM}, -1, 0, 0, {0}, {{0}}, 0, -1, c_blob_nz},
    {"flipout_noise", 3, 7, 5, {3, 4, 3, 5, 2}, {3, IM, IM, 5, 2}, -1, 1, 0, {0}, {{0}}, 0, -1, c_flip_nz},
    {"melora_noise", 1, 1, 2, {2, 2}, {2, IM}, -1, 0, 0, {0}, {{0}}, 0, -1, c_me_nz},
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
/* The call with its workspace sized wbytes and the struct pointers of `nulls` NULL. */
static melora_status run(const api *a, void **p, const int *d, const float *f, size_t wbytes,
                         unsigned nulls) {
    api_args x = {p, d, f, NULL, wbytes, nulls};
    return a->call(&x);
}
#define WB (BUF * sizeof(float)) /* a whole buffer as the workspace */
static void expect_w(const api *a, void **p, const int *d, const float *f, size_t wbytes,
                     unsigned nulls, melora_status want, const char *what) {
    melora_status got = run(a, p, d, f, wbytes, nulls);
    cr_assert_eq(got, want, "%s (%s): got %d (%s), want %d", a->name, what, got,
                 melora_status_string(got), want);
    untouched(a->name, what);
}
static void expect(const api *a, void **p, const int *d, const float *f, melora_status want,
                   const char *what) {
    expect_w(a, p, d, f, WB, 0, want, what);
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
            expect_w(a, p, d, f, WB - 8, 0, MELORA_ERR_ALIGNMENT, "misaligned workspace");
            p[a->work] = bufs[a->work];
        }
        /* and the valid call succeeds (so the cases above failed for their stated reason) */
        cr_assert_eq(run(a, p, d, f, WB, 0), MELORA_OK, "%s: valid call failed", a->name);
        for (int i = 0; i < NP; i++) memcpy(snap[i], bufs[i], BUF * sizeof(float));
    }
}

/* A sized workspace: every call that takes one rejects one byte less than
   melora_workspace_size() says (and none, and half), with every buffer, the workspace
   included, bytewise unchanged; exactly the size it says runs. */
Test(errors, short_workspace_is_rejected, .init = setup, .fini = teardown) {
    int checked = 0;
    for (int ai = 0; ai < NAPI; ai++) {
        const api *a = &APIS[ai];
        const api_call *c = api_of(a->call);
        void *p[NP];
        size_t need = 0;
        cr_assert(c, "%s: not in api_table()", a->name);
        cr_assert_eq(a->work >= 0, c->op >= 0, "%s: workspace slot and op disagree", a->name);
        if (a->work < 0) continue;
        cr_assert_eq(c->slots[a->work], 'w', "%s: slot %d is not the workspace", a->name, a->work);
        for (int i = 0; i < NP; i++) p[i] = bufs[i];
        cr_assert_eq(api_work_bytes(&need, c, a->valid), MELORA_OK);
        cr_assert(need > 0 && need <= WB, "%s: %zu bytes of workspace", a->name, need);
        expect_w(a, p, a->valid, a->fvalid, need - 1, 0, MELORA_ERR_WORKSPACE, "one byte short");
        expect_w(a, p, a->valid, a->fvalid, need / 2, 0, MELORA_ERR_WORKSPACE, "half");
        expect_w(a, p, a->valid, a->fvalid, 0, 0, MELORA_ERR_WORKSPACE, "none");
        cr_assert_eq(run(a, p, a->valid, a->fvalid, need, 0), MELORA_OK, "%s: the size it says", a->name);
        for (int i = 0; i < NP; i++) memcpy(snap[i], bufs[i], BUF * sizeof(float));
        checked++;
    }
    cr_assert_eq(checked, 11, "%d calls take a workspace", checked);
}

/* Struct pointers: a required one (params, saved, draw, noise) NULL is MELORA_ERR_NULL
   with nothing written; the gradients' NULL is a struct of NULL gradients: the call
   leaves every buffer bitwise as the same call with each gradient field NULL does. */
static unsigned char *state_of(void) {
    unsigned char *s = (unsigned char *)malloc((size_t)NP * BUF * sizeof(float));
    cr_assert(s);
    for (int i = 0; i < NP; i++) memcpy(s + (size_t)i * BUF * sizeof(float), bufs[i], BUF * sizeof(float));
    return s;
}
static void state_set(const unsigned char *s) {
    for (int i = 0; i < NP; i++) memcpy(bufs[i], s + (size_t)i * BUF * sizeof(float), BUF * sizeof(float));
}
Test(errors, null_struct_pointers, .init = setup, .fini = teardown) {
    int required = 0, grads = 0;
    for (int ai = 0; ai < NAPI; ai++) {
        const api *a = &APIS[ai];
        const api_call *c = api_of(a->call);
        void *p[NP];
        char what[64];
        cr_assert(c, "%s: not in api_table()", a->name);
        cr_assert_eq((int)strlen(c->slots), a->np, "%s: %zu slots for %d pointers", a->name, strlen(c->slots), a->np);
        for (int i = 0; i < NP; i++) p[i] = bufs[i];
        for (int k = 0; c->structs[k]; k++) {
            if (c->structs[k] == 'r') {
                snprintf(what, sizeof what, "struct pointer %d NULL", k);
                expect_w(a, p, a->valid, a->fvalid, WB, 1u << k, MELORA_ERR_NULL, what);
                required++;
                continue;
            }
            unsigned char *start = state_of(), *with_null;
            int fields = 0;
            cr_assert_eq(run(a, p, a->valid, a->fvalid, WB, 1u << k), MELORA_OK, "%s: gradients NULL", a->name);
            with_null = state_of();
            state_set(start);
            for (int i = 0; i < a->np; i++)
                if (c->slots[i] == '0' + k) { p[i] = NULL; fields++; }
            cr_assert(fields >= 2, "%s: %d gradient fields", a->name, fields);
            cr_assert_eq(run(a, p, a->valid, a->fvalid, WB, 0), MELORA_OK, "%s: each gradient NULL", a->name);
            for (int i = 0; i < NP; i++)
                cr_assert(memcmp(bufs[i], with_null + (size_t)i * BUF * sizeof(float), BUF * sizeof(float)) == 0,
                          "%s: buffer %d differs between NULL gradients and gradients of NULLs", a->name, i);
            for (int i = 0; i < NP; i++) p[i] = bufs[i];
            free(start);
            free(with_null);
            for (int i = 0; i < NP; i++) memcpy(snap[i], bufs[i], BUF * sizeof(float));
            grads++;
        }
    }
    cr_assert(required == 45 && grads == 11, "%d required struct pointers, %d gradient structs", required, grads);
}

/* The noise functions: counts too large to address are an overflow. */
Test(errors, noise_counts, .init = setup, .fini = teardown) {
    cr_assert_eq(melora_noise_normal(bufs[0], 1, 0, INT64_MAX), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_noise_sign(bufs[0], 1, 0, -1), MELORA_ERR_SIZE);
    cr_assert_eq(melora_noise_uniform(bufs[0], 1, 0, (int64_t)1 << 62), MELORA_ERR_OVERFLOW);
    untouched("noise", "counts");
}

/* T*n beyond 2^31 is accepted when it is addressable (workspace query: no memory); with a
   32-bit size_t it is not. */
Test(errors, large_sizes_accepted_when_addressable) {
    size_t bytes = 0;
    if (sizeof(size_t) < 8) {
        cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_LORA_BACKWARD, (melora_dims){1 << 20, 1 << 14, 64, 8, MELORA_FP32}), MELORA_ERR_OVERFLOW);
        cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_MELORA_BACKWARD, (melora_dims){INT_MAX, 4096, 4096, 8, MELORA_FP32}), MELORA_ERR_OVERFLOW);
        cr_assert_eq(bytes, 0);
        return;
    }
    cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_LORA_BACKWARD, (melora_dims){1 << 20, 1 << 14, 64, 8, MELORA_FP32}), MELORA_OK);
    cr_assert(bytes > 0);
    cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_MELORA_BACKWARD, (melora_dims){INT_MAX, 4096, 4096, 8, MELORA_FP32}), MELORA_OK);
    cr_assert(bytes >= (size_t)INT_MAX * 8 * sizeof(float)); /* dv is (T,r) */
    cr_assert_eq(melora_workspace_size(&bytes, (melora_op)99, (melora_dims){4, 4, 4, 4, MELORA_FP32}), MELORA_ERR_ENUM);
}

Test(errors, status_strings) {
    for (int s = 0; s >= MELORA_ERR_WORKSPACE; s--) {
        const char *str = melora_status_string((melora_status)s);
        cr_assert(str && strncmp(str, "melora: ", 8) == 0);
        cr_assert(strstr(str, "unknown status") == NULL, "status %d has no message", s);
    }
    cr_assert(strstr(melora_status_string((melora_status)-99), "unknown") != NULL);
}

/* ---- overlapping buffers ------------------------------------------------------------
   Every compute function at the valid sizes above, its buffers in an arena of separate
   regions: each written buffer (output, accumulated z or gradient, workspace, *kl) made to
   share bytes with every other buffer of the call (same start; its last element on the
   other's first; its first on the other's last) must give MELORA_ERR_ALIAS and leave the
   whole arena as it was; placed just before or just after the other (adjacent, disjoint)
   it must be accepted. Roles: o float output, k the double *kl, w workspace, i input; the
   lengths (floats) are the documented shapes at those sizes, written out by hand. */
typedef struct {
    const char *name;
    const char *roles;
    int len[16];
    int op;      /* workspace op, -1 if none */
    int wsd[4];  /* T, n, m, r of its size query */
} alias_case;

/* T=4 n=3 m=5 r=2 E=2 G=3 (2 groups) K=2: x 12, z/dz 20, u/v 8, A 6, B 10, C (E|K,r,r) 8,
   M/H 4, sa 6, sb 4, mc z 40; the noise functions at r=2 n=3 (EA 6), G=3 T=4 (sa 6, sb 4),
   E=2 r=2 (EC 8), the streams' count 7; workspace_size's *bytes and draw_offset's *offset
   as 'k' (8 bytes). A call of one buffer has no pair: its entry checks the call runs. */
static const alias_case ALIAS_CASES[] = {
    {"lora_forward", "oowiii", {20, 8, 0, 12, 6, 10}, MELORA_OP_LORA_FORWARD, {4, 3, 5, 2}},
    {"lora_backward", "ooowiiiii", {12, 6, 10, 0, 20, 8, 12, 6, 10}, MELORA_OP_LORA_BACKWARD, {4, 3, 5, 2}},
    {"blob_sample", "oiii", {6, 6, 6, 6}, -1, {0}},
    {"blob_forward", "ooowiiiii", {20, 8, 6, 0, 12, 6, 6, 6, 10}, MELORA_OP_LORA_FORWARD, {4, 3, 5, 2}},
    {"blob_backward", "oooowiiiiiii", {12, 6, 6, 10, 0, 20, 8, 12, 6, 6, 6, 10}, MELORA_OP_LORA_BACKWARD, {4, 3, 5, 2}},
    {"flipout_forward", "oowiiiiiii", {20, 8, 0, 12, 6, 6, 6, 6, 4, 10}, MELORA_OP_FLIPOUT_FORWARD, {4, 3, 5, 2}},
    {"flipout_backward", "oooowiiiiiiiii", {12, 6, 6, 10, 0, 20, 8, 12, 6, 6, 6, 6, 4, 10}, MELORA_OP_FLIPOUT_BACKWARD, {4, 3, 5, 2}},
    {"blob_kl", "kooii", {0, 6, 6, 6, 6}, -1, {0}},
    {"melora_sample", "oiii", {8, 4, 4, 8}, -1, {0}},
    {"melora_forward", "ooowiiii", {20, 8, 8, 0, 12, 6, 8, 10}, MELORA_OP_MELORA_FORWARD, {4, 3, 5, 2}},
    {"melora_backward", "ooooowiiiiiiiii", {12, 6, 10, 4, 4, 0, 20, 8, 8, 12, 6, 8, 10, 4, 8}, MELORA_OP_MELORA_BACKWARD, {4, 3, 5, 2}},
    {"melora_mc_forward", "oowiiii", {40, 8, 0, 12, 6, 8, 10}, MELORA_OP_MELORA_MC_FORWARD, {4, 3, 5, 2}},
    {"melora_kl", "kooowiii", {0, 6, 4, 4, 0, 6, 4, 4}, MELORA_OP_MELORA_KL, {1, 3, 1, 2}},
    {"melora_kl_prior_noise", "kooowiii", {0, 6, 4, 4, 0, 6, 4, 4}, MELORA_OP_MELORA_KL, {1, 3, 1, 2}},
    {"melora_kl_exact", "kooii", {0, 4, 4, 4, 4}, -1, {0}},
    {"lora_forward_naive", "ooiii", {20, 8, 12, 6, 10}, -1, {0}},
    {"lora_backward_naive", "oooiiiii", {12, 6, 10, 20, 8, 12, 6, 10}, -1, {0}},
    {"flipout_forward_naive", "ooiiiiiii", {20, 8, 12, 6, 6, 6, 6, 4, 10}, -1, {0}},
    {"flipout_backward_naive", "ooooiiiiiiiii", {12, 6, 6, 10, 20, 8, 12, 6, 6, 6, 6, 4, 10}, -1, {0}},
    {"melora_forward_naive", "oooiiii", {20, 8, 8, 12, 6, 8, 10}, -1, {0}},
    {"melora_backward_naive", "oooooiiiiiiiii", {12, 6, 10, 4, 4, 20, 8, 8, 12, 6, 8, 10, 4, 8}, -1, {0}},
    {"noise_normal", "o", {7}, -1, {0}},
    {"noise_uniform", "o", {7}, -1, {0}},
    {"noise_sign", "o", {7}, -1, {0}},
    {"workspace_size", "k", {0}, -1, {0}},
    {"draw_offset", "k", {0}, -1, {0}},
    {"blob_noise", "o", {6}, -1, {0}},
    {"flipout_noise", "ooo", {6, 6, 4}, -1, {0}},
    {"melora_noise", "o", {8}, -1, {0}},
};
#define NALIAS (int)(sizeof ALIAS_CASES / sizeof ALIAS_CASES[0])

#define REGION (64 * 1024) /* bytes per buffer region; a buffer starts REGION/4 in */
static unsigned char *arena, *arena_snap;
/* Every case starts from these values: accepted calls add into the arena (and write
   doubles read back as floats by the next case), so values carried over from earlier cases
   reach Inf after a few, earlier or later depending on the last bits of the arithmetic
   (x87 -m32 builds hit it before melora_kl_exact). */
static void arena_fill(void) {
    uint64_t st = 77;
    for (size_t i = 0; i < (size_t)NP * REGION / sizeof(float); i++)
        ((float *)(void *)arena)[i] = 0.5f + 0.4f * (float)tu_rand(&st); /* > 0: std entries */
    memcpy(arena_snap, arena, (size_t)NP * REGION);
}
static void arena_setup(void) {
    arena = (unsigned char *)malloc((size_t)NP * REGION);
    arena_snap = (unsigned char *)malloc((size_t)NP * REGION);
    cr_assert(arena && arena_snap);
    arena_fill();
}
static void arena_teardown(void) { free(arena); free(arena_snap); }
static void *slot(int i) { return arena + (size_t)i * REGION + REGION / 4; }
static void arena_untouched(const char *name, const char *what, int o, int j) {
    size_t k;
    for (k = 0; k < (size_t)NP * REGION; k++)
        if (arena[k] != arena_snap[k]) break;
    cr_assert(k == (size_t)NP * REGION, "%s (%s, buffer %d with %d): byte %zu written", name,
              what, o, j, k);
}
static const api *api_named(const char *name) {
    for (int i = 0; i < NAPI; i++)
        if (strcmp(APIS[i].name, name) == 0) return &APIS[i];
    cr_assert_fail("no api %s", name);
    return NULL;
}
static size_t case_bytes(const alias_case *c, int i) {
    size_t ws = 0;
    if (c->roles[i] == 'k') return sizeof(double);
    if (c->roles[i] != 'w') return (size_t)c->len[i] * sizeof(float);
    cr_assert_eq(melora_workspace_size(&ws, (melora_op)c->op, (melora_dims){c->wsd[0], c->wsd[1], c->wsd[2], c->wsd[3], MELORA_FP32}), MELORA_OK);
    cr_assert(ws % 8 == 0 && ws + 64 < REGION / 4, "%s: workspace of %zu bytes", c->name, ws);
    return ws;
}

Test(errors, every_function_rejects_overlaps, .init = arena_setup, .fini = arena_teardown) {
    int rejected = 0, accepted = 0;
    for (int ai = 0; ai < NAPI; ai++) { /* every function of the bad-input table has a case */
        int found = 0;
        for (int ci = 0; ci < NALIAS; ci++) found += strcmp(ALIAS_CASES[ci].name, APIS[ai].name) == 0;
        cr_assert_eq(found, 1, "%s: %d overlap cases", APIS[ai].name, found);
    }
    for (int ci = 0; ci < NALIAS; ci++) {
        const alias_case *c = &ALIAS_CASES[ci];
        const api *a = api_named(c->name);
        int np = (int)strlen(c->roles);
        size_t bytes[16], wb = 0;
        void *p[NP];
        cr_assert_eq(np, a->np, "%s: roles for %d pointers, the function has %d", c->name, np,
                     a->np);
        for (int i = 0; i < NP; i++) p[i] = slot(i);
        for (int i = 0; i < np; i++) {
            bytes[i] = case_bytes(c, i);
            if (c->roles[i] == 'w') wb = bytes[i];
        }
        arena_fill();
        /* the disjoint layout is valid (so every rejection below is the overlap's) */
        cr_assert_eq(run(a, p, a->valid, a->fvalid, wb, 0), MELORA_OK, "%s: disjoint call", c->name);
        memcpy(arena_snap, arena, (size_t)NP * REGION);
        for (int o = 0; o < np; o++) {
            size_t unit = c->roles[o] == 'o' ? sizeof(float) : 8; /* keeps o aligned */
            if (c->roles[o] == 'i') continue;
            for (int j = 0; j < np; j++) {
                unsigned char *pj = (unsigned char *)slot(j);
                unsigned char *at[3];
                const char *how[3] = {"same start", "last element on the other's first",
                                      "first element on the other's last"};
                if (j == o) continue;
                at[0] = pj;
                at[1] = pj + unit - bytes[o];
                at[2] = pj + ((bytes[j] - 1) & ~(unit - 1));
                for (int h = 0; h < 3; h++) {
                    melora_status got;
                    p[o] = at[h];
                    got = run(a, p, a->valid, a->fvalid, wb, 0);
                    cr_assert_eq(got, MELORA_ERR_ALIAS, "%s: buffer %d (%c) %s of buffer %d (%c): got %d (%s)",
                                 c->name, o, c->roles[o], how[h], j, c->roles[j], got,
                                 melora_status_string(got));
                    arena_untouched(c->name, how[h], o, j);
                    rejected++;
                }
                /* adjacent: just before the other, and just after it (rounded up to o's
                   alignment); both disjoint, so accepted */
                at[0] = pj - bytes[o];
                at[1] = pj + ((bytes[j] + unit - 1) & ~(unit - 1));
                for (int h = 0; h < 2; h++) {
                    melora_status got;
                    p[o] = at[h];
                    got = run(a, p, a->valid, a->fvalid, wb, 0);
                    cr_assert_eq(got, MELORA_OK, "%s: buffer %d adjacent %s buffer %d: got %d (%s)",
                                 c->name, o, h ? "after" : "before", j, got,
                                 melora_status_string(got));
                    memcpy(arena_snap, arena, (size_t)NP * REGION);
                    accepted++;
                }
                p[o] = slot(o);
            }
        }
    }
    cr_assert(rejected > 1000 && accepted > 600, "%d rejected, %d accepted", rejected, accepted);
}

/* The overlaps of issue 14, called directly: u == x at r == n (same shape, so only the
   pointers tell), v == u, the workspace inside z and inside dx, dA == A in the naive
   reference (where it used to change dx). */
Test(errors, overlaps_of_the_issue, .init = arena_setup, .fini = arena_teardown) {
    enum { T = 4, n = 3, m = 5, r = 3, E = 2 };
    float *x = (float *)slot(0), *A = (float *)slot(1), *B = (float *)slot(2);
    float *z = (float *)slot(3), *u = (float *)slot(4), *v = (float *)slot(5);
    float *C = (float *)slot(6), *dz = (float *)slot(7), *dx = (float *)slot(8);
    float *dA = (float *)slot(9), *dB = (float *)slot(10), *work = (float *)slot(11);
    size_t ws = 0;
    cr_assert_eq(melora_workspace_size(&ws, MELORA_OP_MELORA_BACKWARD, (melora_dims){T, n, m, r, MELORA_FP32}), MELORA_OK);
    cr_assert(ws < REGION / 2);
    const melora_dims d = {T, n, m, r, MELORA_FP32};
    const melora_work w = {work, ws};
    const melora_lora_params lp = {A, B, 1};
    const melora_melora_params mp = {A, B, NULL, NULL, 1};
    const melora_melora_draw dr = {C, NULL, E};
    const melora_lora_grads g = {dA, dB}, gA = {A, dB}; /* gA: dA on A */
    cr_assert_eq(melora_lora_forward(z, &(melora_lora_saved){x, x}, w, &lp, d), MELORA_ERR_ALIAS);
    cr_assert_eq(melora_lora_forward_naive(z, &(melora_lora_saved){x, x}, &lp, d), MELORA_ERR_ALIAS);
    cr_assert_eq(melora_melora_forward(z, &(melora_melora_saved){x, x, v}, w, &mp, &dr, d), MELORA_ERR_ALIAS);
    cr_assert_eq(melora_melora_forward_naive(z, &(melora_melora_saved){x, x, v}, &mp, &dr, d), MELORA_ERR_ALIAS);
    cr_assert_eq(melora_melora_mc_forward(z, &(melora_lora_saved){x, x}, w, &mp, C, 2, d), MELORA_ERR_ALIAS);
    cr_assert_eq(melora_melora_forward(z, &(melora_melora_saved){x, u, u}, w, &mp, &dr, d), MELORA_ERR_ALIAS);
    cr_assert_eq(melora_melora_forward_naive(z, &(melora_melora_saved){x, u, u}, &mp, &dr, d), MELORA_ERR_ALIAS);
    /* the workspace starting at z's last row, and inside dx */
    cr_assert_eq(melora_lora_forward(z, &(melora_lora_saved){x, u}, (melora_work){z + (T - 1) * m - 1, ws}, &lp, d),
                 MELORA_ERR_ALIAS);
    cr_assert_eq(melora_lora_backward(dx, &g, &(melora_lora_saved){x, u}, (melora_work){dx + 2, ws}, dz, &lp, d),
                 MELORA_ERR_ALIAS);
    cr_assert_eq(melora_lora_backward_naive(dx, &gA, &(melora_lora_saved){x, u}, dz, &lp, d), MELORA_ERR_ALIAS);
    cr_assert_eq(melora_lora_backward(dx, &gA, &(melora_lora_saved){x, u}, w, dz, &lp, d), MELORA_ERR_ALIAS);
    arena_untouched("issue cases", "direct calls", -1, -1);
    /* and the same calls without the overlaps run */
    cr_assert_eq(melora_lora_forward(z, &(melora_lora_saved){x, u}, w, &lp, d), MELORA_OK);
    cr_assert_eq(melora_melora_forward(z, &(melora_melora_saved){x, u, v}, w, &mp, &dr, d), MELORA_OK);
    cr_assert_eq(melora_lora_backward(dx, &g, &(melora_lora_saved){x, u}, w, dz, &lp, d), MELORA_OK);
    cr_assert_eq(melora_lora_backward_naive(dx, &g, &(melora_lora_saved){x, u}, dz, &lp, d), MELORA_OK);
}
