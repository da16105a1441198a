/* Two translation units of one program (FLAGS_TU = 1, 2), each with its own private copy
   of the library (MELORA_STATIC), each calling only a few of its functions: built with
   -Wall -Wextra -pedantic -Werror by tests/flags.mk, so unused-function warnings or
   clashing symbols fail the build. Linking them fails if any symbol is not private; the program checks both copies compute the same. */
#include "melora.h"
#include <stdio.h>

float flags_tu2_forward(void);

static float forward_here(void) {
    /* z += s B (A x): x = (1, 2), A = (3, 4), B = (5), s = 0.5 -> z = 0.5 * 5 * 11 = 27.5 */
    const float x[2] = {1.0f, 2.0f}, A[2] = {3.0f, 4.0f}, B[1] = {5.0f};
    float z[1] = {0.0f}, u[1];
    /* built as C++11 too: named structs in field order, no compound literals */
    const melora_lora_saved sv = {x, u};
    const melora_lora_params p = {A, B, 0.5f};
    const melora_dims d = {1, 2, 1, 1, MELORA_FP32}; /* T n m r */
    if (melora_lora_forward_naive(z, &sv, &p, d) != MELORA_OK) return -1.0f;
    return z[0];
}

#if FLAGS_TU == 1
int main(void) {
    float a = forward_here(), b = flags_tu2_forward();
    if (a != 27.5f || b != 27.5f) {
        printf("MELORA_STATIC copies disagree: %g %g (want 27.5)\n", a, b);
        return 1;
    }
    return 0;
}
#else
float flags_tu2_forward(void) { return forward_here(); }
#endif
