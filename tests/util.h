/* Helpers shared by the tests: deterministic inputs, buffers, comparisons, and an
   independent double-precision model of every adapter for finite differences. */
#ifndef MELORA_TEST_UTIL_H
#define MELORA_TEST_UTIL_H
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "melora.h"

/* Inputs from a tiny LCG, independent of the library's generator. */
static inline double tu_rand(uint64_t *st) {
    *st = *st * 6364136223846793005ull + 1442695040888963407ull;
    return ((double)(*st >> 11) / 9007199254740992.0) * 2.0 - 1.0; /* [-1,1) */
}
static inline float *tu_fill(size_t cnt, uint64_t seed, double scale) {
    float *p = (float *)malloc(cnt * sizeof(float));
    uint64_t st = seed * 2654435761u + 1;
    cr_assert(p);
    for (size_t i = 0; i < cnt; i++) p[i] = (float)(scale * tu_rand(&st));
    return p;
}
static inline float *tu_const(size_t cnt, float v) {
    float *p = (float *)malloc(cnt * sizeof(float));
    cr_assert(p);
    for (size_t i = 0; i < cnt; i++) p[i] = v;
    return p;
}
static inline float *tu_copy(const float *a, size_t cnt) {
    float *p = (float *)malloc(cnt * sizeof(float));
    cr_assert(p);
    memcpy(p, a, cnt * sizeof(float));
    return p;
}
/* +-1 signs from the LCG */
static inline float *tu_signs(size_t cnt, uint64_t seed) {
    float *p = tu_fill(cnt, seed, 1.0);
    for (size_t i = 0; i < cnt; i++) p[i] = p[i] < 0 ? -1.0f : 1.0f;
    return p;
}
static inline melora_work tu_work(melora_op op, melora_dims d) {
    melora_work w = {NULL, 0};
    cr_assert_eq(melora_workspace_size(&w.bytes, op, d), MELORA_OK);
    cr_assert_eq(melora_alloc(&w.base, w.bytes), MELORA_OK);
    memset(w.base, 0xA5, w.bytes); /* stale contents must not matter */
    return w;
}

/* |a-b| <= atol + rtol*|b| elementwise, reporting the first failure with its index. */
static inline void tu_close(const char *what, const float *a, const float *b, size_t cnt,
                            double atol, double rtol) {
    for (size_t i = 0; i < cnt; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        cr_assert(d <= atol + rtol * fabs((double)b[i]),
                  "%s[%zu]: got %.9g expected %.9g (diff %.3g)", what, i, a[i], b[i], d);
    }
}
static inline void tu_close_d(const char *what, const float *a, const double *b, size_t cnt,
                              double atol, double rtol) {
    for (size_t i = 0; i < cnt; i++) {
        double d = fabs((double)a[i] - b[i]);
        cr_assert(d <= atol + rtol * fabs(b[i]), "%s[%zu]: got %.9g expected %.9g (diff %.3g)",
                  what, i, a[i], b[i], d);
    }
}
static inline double tu_maxabs(const float *a, size_t cnt) {
    double m = 0;
    for (size_t i = 0; i < cnt; i++) m = fmax(m, fabs((double)a[i]));
    return m;
}
#endif
