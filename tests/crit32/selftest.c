/* The crit32 runner's own check (make portable): one test of each outcome. The runner must
   print "Tested: 5 | Passing: 1 | Failing: 3 | Skipped: 1" and exit 1. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <signal.h>
#include <unistd.h>

static int ready;
static void setup(void) { ready = 42; }

Test(self, pass_with_init, .init = setup) {
    cr_assert(ready == 42, ".init ran: %d", ready);
    cr_assert_eq(1 + 1, 2);
    cr_assert_neq(1, 2, "message %s", "ok");
    cr_assert_float_eq(0.1 + 0.2, 0.3, 1e-12);
    cr_assert_str_eq("ab", "ab");
}
Test(self, fail) { cr_assert_float_eq(1.0, 1.5, 0.25, "%g apart", 0.5); }
Test(self, crash) { raise(SIGSEGV); }
Test(self, timeout, .timeout = 0.5) { sleep(10); }
Test(self, skip) { cr_skip_test("skipped on purpose (%d)", 1); }
