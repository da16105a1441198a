/* A minimal stand-in for Criterion's <criterion/criterion.h>, for builds Criterion has no
   package for (Debian has no libcriterion-dev:i386, so the -m32 suite links this).
   It implements exactly what tests/ uses: Test(suite, name, .init, .fini, .timeout,
   .disabled), cr_assert, cr_assert_eq/neq/float_eq/str_eq, cr_assert_fail (all fatal,
   with an optional printf-style message) and cr_skip_test. Tests register themselves from constructors;
   tests/crit32/crit32.c holds main, which runs each test in a forked child as Criterion
   does (so a test sees a fresh process, e.g. an OpenMP runtime that has not started) and
   exits nonzero when any test fails. */
#ifndef CRIT32_CRITERION_H
#define CRIT32_CRITERION_H

#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cr32_test {
    const char *suite, *name;
    void (*fn)(void);
    void (*init)(void);
    void (*fini)(void);
    double timeout; /* seconds, 0: none */
    int disabled;
    const char *description;
    int sentinel_;
    struct cr32_test *next;
};

void cr32_register(struct cr32_test *t);
/* Both take the message's format first; the trailing "" the macros append is an unused
   extra argument (allowed by C for printf-style functions), so a message stays optional. */
__attribute__((noreturn)) void cr32_fail(const char *file, int line, const char *what,
                                         const char *fmt, ...);
__attribute__((noreturn)) void cr32_skip(const char *fmt, ...);

#define CR32_CAT_(a, b) a##b
#define CR32_CAT(a, b) CR32_CAT_(a, b)

/* Test(suite, name, options...): the options are designated initialisers of cr32_test. */
#define Test(...) CR32_TEST_(__VA_ARGS__, .sentinel_ = 0)
#define CR32_TEST_(S, N, ...)                                                          \
    static void CR32_CAT(cr32_fn_##S##_, N)(void);                                     \
    static struct cr32_test CR32_CAT(cr32_desc_##S##_, N) = {                          \
        .suite = #S, .name = #N, .fn = CR32_CAT(cr32_fn_##S##_, N), __VA_ARGS__};      \
    __attribute__((constructor)) static void CR32_CAT(cr32_reg_##S##_, N)(void) {      \
        cr32_register(&CR32_CAT(cr32_desc_##S##_, N));                                 \
    }                                                                                  \
    static void CR32_CAT(cr32_fn_##S##_, N)(void)

#define cr_assert(...) CR32_ASSERT_(__VA_ARGS__, "")
#define CR32_ASSERT_(cond, ...) \
    do { if (!(cond)) cr32_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); } while (0)
#define cr_assert_eq(...) CR32_EQ_(__VA_ARGS__, "")
#define CR32_EQ_(a, b, ...) \
    do { if (!((a) == (b))) cr32_fail(__FILE__, __LINE__, #a " == " #b, __VA_ARGS__); } while (0)
#define cr_assert_neq(...) CR32_NEQ_(__VA_ARGS__, "")
#define CR32_NEQ_(a, b, ...) \
    do { if (!((a) != (b))) cr32_fail(__FILE__, __LINE__, #a " != " #b, __VA_ARGS__); } while (0)
/* Criterion's definition: passes when both differences are within eps (so NaN fails). */
#define cr_assert_float_eq(...) CR32_FEQ_(__VA_ARGS__, "")
#define CR32_FEQ_(a, b, eps, ...)                                                       \
    do { if (!((b) - (a) <= (eps) && (a) - (b) <= (eps)))                               \
            cr32_fail(__FILE__, __LINE__, #a " == " #b " within " #eps, __VA_ARGS__); } while (0)
#define cr_assert_str_eq(...) CR32_SEQ_(__VA_ARGS__, "")
#define CR32_SEQ_(a, b, ...) \
    do { if (strcmp((a), (b)) != 0) cr32_fail(__FILE__, __LINE__, #a " == " #b, __VA_ARGS__); } while (0)
#define cr_assert_fail(...) cr32_fail(__FILE__, __LINE__, "cr_assert_fail", "" __VA_ARGS__)
#define cr_skip_test(...) cr32_skip("" __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
