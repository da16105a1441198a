/* MELORA_MALLOC is called by exactly the functions the header names (melora_alloc and four
   naive references); each of those returns MELORA_ERR_ALLOC when any one of its
   allocations fails, with every buffer untouched and nothing leaked, and every other
   compute function succeeds with an allocator that always fails. This translation unit
   holds its own private (MELORA_STATIC) copy of the library built over a counting
   allocator, beside the shared implementation of tests/melora_impl.c. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long ta_calls, ta_live, ta_fail_at; /* ta_fail_at: the call that fails, 1-based; 0 none, -1 all */
static void *ta_malloc(size_t bytes) {
    ta_calls++;
    if (ta_fail_at < 0 || ta_calls == ta_fail_at) return NULL;
    ta_live++;
    return malloc(bytes);
}
static void ta_free(void *p) {
    if (p) ta_live--;
    free(p);
}
#define MELORA_STATIC
#define MELORA_IMPLEMENTATION
#define MELORA_MALLOC(bytes) ta_malloc(bytes)
#define MELORA_FREE(p) ta_free(p)
#include "melora.h"
#include "api_calls.h"

#define NP 20
#define BUF 4096 /* floats per buffer: the test_errors.c sizes below fit, workspace included */

typedef struct {
    const char *name;
    call_fn call;
    int d[5];
    float f[3];
} call;

/* valid sizes as in test_errors.c: T=4 n=3 m=5 r=2 (E=2, G=3) */
static const call ALLOCATING[] = {
    {"lora_backward_naive", c_lora_bn, {4, 3, 5, 2}, {1}},
    {"melora_backward_naive", c_me_bn, {2, 4, 3, 5, 2}, {1}},
    {"flipout_forward_naive", c_flip_fn, {3, 4, 3, 5, 2}, {1}},
    {"flipout_backward_naive", c_flip_bn, {3, 4, 3, 5, 2}, {1}},
};
static const call NON_ALLOCATING[] = {
    {"lora_forward", c_lora_f, {4, 3, 5, 2}, {1}},
    {"lora_backward", c_lora_b, {4, 3, 5, 2}, {1}},
    {"blob_sample", c_blob_s, {2, 3}, {0}},
    {"blob_forward", c_blob_f, {4, 3, 5, 2}, {1}},
    {"blob_backward", c_blob_b, {4, 3, 5, 2}, {1}},
    {"flipout_forward", c_flip_f, {3, 4, 3, 5, 2}, {1}},
    {"flipout_backward", c_flip_b, {3, 4, 3, 5, 2}, {1}},
    {"blob_kl", c_blob_kl, {2, 3}, {0.2f, 1}},
    {"melora_sample", c_me_s, {2, 2}, {0}},
    {"melora_forward", c_me_f, {2, 4, 3, 5, 2}, {1}},
    {"melora_backward", c_me_b, {2, 4, 3, 5, 2}, {1}},
    {"melora_mc_forward", c_me_mc, {2, 4, 3, 5, 2}, {1}},
    {"melora_kl", c_me_kl, {2, 3}, {0.2f, 1}},
    {"melora_kl_prior_noise", c_me_kl8, {2, 3}, {0.2f, 0.5f, 1}},
    {"melora_kl_exact", c_me_klx, {2}, {0.2f, 1}},
    {"lora_forward_naive", c_lora_fn, {4, 3, 5, 2}, {1}},
    {"melora_forward_naive", c_me_fn, {2, 4, 3, 5, 2}, {1}},
    {"blob_noise", c_blob_nz, {2, 3}, {0}},
    {"blob_flipout_noise", c_flip_nz, {3, 4, 3, 5, 2}, {0}},
    {"melora_noise", c_me_nz, {2, 2}, {0}},
};

static float *bufs[NP], *snap[NP];
static void fill(void) {
    uint32_t st = 12345u;
    for (int i = 0; i < NP; i++)
        for (int j = 0; j < BUF; j++) {
            st = st * 1664525u + 1013904223u;
            bufs[i][j] = 0.5f + 0.4f * (float)(st >> 8) / 16777216.0f; /* > 0: valid stds */
        }
    for (int i = 0; i < NP; i++) memcpy(snap[i], bufs[i], BUF * sizeof(float));
}
static void setup(void) {
    for (int i = 0; i < NP; i++) {
        bufs[i] = (float *)malloc(BUF * sizeof(float)); /* glibc: 16-byte aligned */
        snap[i] = (float *)malloc(BUF * sizeof(float));
        cr_assert(bufs[i] && snap[i] && ((uintptr_t)bufs[i] & 7u) == 0);
    }
    fill();
}
static void teardown(void) {
    for (int i = 0; i < NP; i++) { free(bufs[i]); free(snap[i]); }
}
static melora_status run(const call *c, long fail_at) {
    void *p[NP];
    for (int i = 0; i < NP; i++) p[i] = bufs[i];
    ta_calls = ta_live = 0;
    ta_fail_at = fail_at;
    {
        api_args a = {p, c->d, c->f, NULL, BUF * sizeof(float), 0};
        return c->call(&a);
    }
}

Test(alloc, naive_references_report_each_failed_allocation, .init = setup, .fini = teardown) {
    for (size_t ci = 0; ci < sizeof ALLOCATING / sizeof ALLOCATING[0]; ci++) {
        const call *c = &ALLOCATING[ci];
        long n;
        cr_assert_eq(run(c, 0), MELORA_OK, "%s: call with a working allocator", c->name);
        n = ta_calls;
        cr_assert(n > 0, "%s: documented as allocating but made no allocation", c->name);
        cr_assert_eq(ta_live, 0, "%s leaks %ld blocks", c->name, ta_live);
        for (long k = 1; k <= n; k++) {
            fill();
            cr_assert_eq(run(c, k), MELORA_ERR_ALLOC, "%s: allocation %ld of %ld failed", c->name, k, n);
            cr_assert_eq(ta_live, 0, "%s: allocation %ld failed: %ld blocks leaked", c->name, k, ta_live);
            for (int i = 0; i < NP; i++)
                cr_assert(memcmp(bufs[i], snap[i], BUF * sizeof(float)) == 0,
                          "%s: allocation %ld failed, buffer %d written", c->name, k, i);
        }
    }
}

Test(alloc, other_compute_functions_never_allocate, .init = setup, .fini = teardown) {
    for (size_t ci = 0; ci < sizeof NON_ALLOCATING / sizeof NON_ALLOCATING[0]; ci++) {
        const call *c = &NON_ALLOCATING[ci];
        melora_status st = run(c, -1);
        cr_assert_eq(st, MELORA_OK, "%s with a failing allocator: %s", c->name, melora_status_string(st));
        cr_assert_eq(ta_calls, 0, "%s called MELORA_MALLOC %ld times", c->name, ta_calls);
    }
}

Test(alloc, melora_alloc_failure) {
    void *w = &w;
    ta_calls = ta_live = 0;
    ta_fail_at = -1;
    cr_assert_eq(melora_alloc(&w, 64), MELORA_ERR_ALLOC);
    cr_assert(w == NULL && ta_calls == 1 && ta_live == 0);
    ta_fail_at = 0;
    cr_assert_eq(melora_alloc(&w, 64), MELORA_OK);
    cr_assert(w != NULL && ((uintptr_t)w & 63u) == 0 && ta_live == 1);
    melora_free(w);
    cr_assert_eq(ta_live, 0);
}
