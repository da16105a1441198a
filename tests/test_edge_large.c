/* A real forward pass over more than 2^31 elements: x is (T, n) with T*n = 2^31 + 2^15,
   mapped as untouched zero pages (no memory is committed), with nonzero rows only at the
   end, beyond element 2^31, where 32-bit indexing would wrap. The rows' outputs must be
   exact. Skipped, visibly, when the address space cannot be reserved. */
#include "util.h"
#include <sys/mman.h>

Test(edge_large, lora_forward_beyond_2_31_elements, .timeout = 300) {
    const int n = 1 << 15, T = (1 << 16) + 1, m = 3, r = 2;
    const size_t xn = (size_t)T * (size_t)n;
    cr_assert(xn > ((size_t)1 << 31));
    float *x = (float *)mmap(NULL, xn * sizeof(float), PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (x == MAP_FAILED) cr_skip_test("cannot reserve %zu bytes for x: not run", xn * sizeof(float));
    float *A = tu_const((size_t)r * n, 0), *B = tu_const((size_t)m * r, 0);
    float *z = tu_const((size_t)T * m, 0), *u = tu_const((size_t)T * r, -1);
    void *w = tu_work(MELORA_OP_LORA_FORWARD, T, n, m, r);
    A[0] = 1.0f;                 /* u[t][0] = x[t][0] */
    A[(size_t)n + n - 1] = 2.0f; /* u[t][1] = 2 x[t][n-1] */
    B[0] = 1.0f; B[1] = 10.0f; B[2] = -1.0f; B[5] = 3.0f;
    const int rows[] = {T - 1, T - 2, T - 9};
    for (int i = 0; i < 3; i++) {
        x[(size_t)rows[i] * n] = (float)(i + 1);
        x[(size_t)rows[i] * n + n - 1] = 0.5f * (float)(i + 1);
    }
    cr_assert_eq(melora_lora_forward(z, u, w, x, A, B, 2.0f, T, n, m, r), MELORA_OK);
    for (int i = 0; i < 3; i++) {
        const size_t t = (size_t)rows[i];
        float a = (float)(i + 1), b = 2.0f * 0.5f * (float)(i + 1);
        cr_assert(u[t * r] == a && u[t * r + 1] == b, "row %zu: u = %g %g", t, u[t * r], u[t * r + 1]);
        cr_assert(z[t * m] == 2.0f * (a + 10.0f * b) && z[t * m + 1] == -2.0f * a && z[t * m + 2] == 6.0f * b,
                  "row %zu: z = %g %g %g", t, z[t * m], z[t * m + 1], z[t * m + 2]);
    }
    for (size_t t = 0; t < (size_t)T - 9; t++) cr_assert(z[t * m] == 0 && u[t * r] == 0, "row %zu", t);
    munmap(x, xn * sizeof(float));
    free(A); free(B); free(z); free(u); melora_free(w);
}
