/* The element limit where size_t is 32 bits (make portable runs the suite with -m32):
   a buffer may hold at most PTRDIFF_MAX/8 elements (its bytes, even as doubles, fit in
   ptrdiff_t), 2^28 - 1 there, and a product that wraps a 32-bit size_t to exactly 0
   (2^16 * 2^16, 2^16 * 2^8 * 2^8, 2^10 * 2^11 * 2^11) is rejected, not taken for 0.
   The expected statuses come from the rule in 64-bit arithmetic, so the same tests run
   in both builds. */
#include "util.h"
#include <limits.h>

static const uint64_t LIM = (uint64_t)PTRDIFF_MAX / 8;

/* Workspace queries (no memory): the limit itself, one past it, and shapes where each of
   the five (T,n) (T,m) (T,r) (r,n) (m,r) products is 2^32 (every buffer < 2^33); eq. 7's
   query depends on (r,n) alone. */
Test(size_limits, workspace_at_the_element_limit) {
    size_t bytes = 0;
    const int T = LIM < INT_MAX ? (int)LIM : INT_MAX, T1 = LIM < INT_MAX ? (int)(LIM + 1) : -1;
    cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_LORA_FORWARD, (melora_dims){T, 1, 1, 1, MELORA_FP32}), MELORA_OK);
    cr_assert(bytes > 0);
    if (LIM < INT_MAX) {
        bytes = 0;
        cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_LORA_FORWARD, (melora_dims){T1, 1, 1, 1, MELORA_FP32}), MELORA_ERR_OVERFLOW);
        cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_LORA_BACKWARD, (melora_dims){1, T1, 1, 1, MELORA_FP32}), MELORA_ERR_OVERFLOW);
        cr_assert_eq(bytes, 0, "a rejected query wrote %zu", bytes);
    }
    const int s16 = 1 << 16;
    const int shapes[5][4] = {{s16, s16, 1, 1}, {s16, 1, s16, 1}, {s16, 1, 1, s16},
                              {1, s16, 1, s16}, {1, 1, s16, s16}};
    const melora_status want = ((uint64_t)1 << 33) <= LIM ? MELORA_OK : MELORA_ERR_OVERFLOW;
    for (int i = 0; i < 5; i++)
        for (int op = 0; op < MELORA_OP_COUNT_; op++) {
            bytes = 0;
            const melora_dims d = {shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], MELORA_FP32};
            /* eq. 7's workspace is (r,n) doubles only: T and m are not read */
            const melora_status w = op != MELORA_OP_MELORA_KL ? want
                                    : (uint64_t)d.r * (uint64_t)d.n <= LIM ? MELORA_OK
                                                                         : MELORA_ERR_OVERFLOW;
            melora_status got = melora_workspace_size(&bytes, (melora_op)op, d);
            cr_assert_eq(got, w, "op %d, T n m r = %d %d %d %d: %s", op, shapes[i][0],
                         shapes[i][1], shapes[i][2], shapes[i][3], melora_status_string(got));
            cr_assert(w == MELORA_OK ? bytes > 0 : bytes == 0, "op %d: %zu bytes", op, bytes);
        }
}

/* Calls whose sizes wrap a 32-bit size_t, with tiny buffers: rejected, nothing written.
   With a 64-bit size_t these sizes are addressable (the calls would run over GiBs), so
   there the test is skipped; edge/size_products_at_the_limits wraps 2^64 instead. */
Test(size_limits, calls_that_wrap_a_32_bit_size_t) {
    if (((uint64_t)1 << 32) <= LIM)
        cr_skip_test("size_t has %u bits: 2^32 elements are addressable here",
                     (unsigned)(8 * sizeof(size_t)));
    static double storage[8][8];
    float (*buf)[16] = (float (*)[16])storage;
    unsigned char keep[sizeof storage];
    double kl = 1;
    void *p = &kl;
    memset(storage, 0x3c, sizeof storage);
    memcpy(keep, storage, sizeof storage);
    const int s8 = 1 << 8, s16 = 1 << 16;
    /* the workspace claims any size, so that the size checks are the ones that answer */
    const melora_work w = {buf[2], SIZE_MAX};
    const melora_lora_params lp = {buf[4], buf[5], 1};
    const melora_melora_params mp = {buf[4], buf[6], buf[1], buf[2], 1};
    const melora_blob_params bp = {buf[2], buf[3], NULL, 0};
    const melora_blob_grads bg = {buf[0], buf[1], NULL};
    cr_assert_eq(melora_lora_forward(buf[0], &(melora_lora_saved){buf[3], buf[1]}, w, &lp, (melora_dims){s16, s16, 1, 1, MELORA_FP32}), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_melora_sample(buf[0], &mp, buf[3], s16, s8), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_melora_mc_forward(buf[0], &(melora_lora_saved){buf[3], buf[1]}, w, &mp, buf[5], 1 << 10, (melora_dims){1 << 11, 1, 1 << 11, 1, MELORA_FP32}), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_blob_kl(&kl, &bg, &bp, 0.2f, 1, s16, s16), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_noise_normal(buf[0], 1, 0, (int64_t)1 << 32), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_noise_sign(buf[0], 1, 0, (int64_t)LIM + 1), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_alloc(&p, (size_t)PTRDIFF_MAX), MELORA_ERR_OVERFLOW);
    cr_assert(p == NULL);
    cr_assert(memcmp(keep, storage, sizeof storage) == 0 && kl == 1, "a rejected call wrote to its buffers");
}
