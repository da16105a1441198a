/* Regressions: bugs the fuzzer and the edge-case review found in melora.h, fixed. */
#include "util.h"
#include <limits.h>

/* 1. melora_blob_forward samples As (r*n floats) before the workspace layout is checked:
      with r*n <= PTRDIFF_MAX/8 but r*pad(n) beyond it, it writes r*n floats into As and
      only then returns MELORA_ERR_OVERFLOW (melora_lora_forward rejects the same sizes). */
Test(edge_regressions, blob_forward_checks_layout_before_sampling) {
    static double st[8][8];
    float (*b)[16] = (float (*)[16])st;
    size_t bytes;
    cr_assert_eq(melora_workspace_size(&bytes, MELORA_OP_LORA_FORWARD, (melora_dims){1, INT_MAX, 1, 1 << 29, MELORA_FP32}), MELORA_ERR_OVERFLOW);
    /* the workspace claims any size, so that the layout's check is the one that answers */
    const melora_blob_params bp = {b[5], b[6], b[0], 1};
    cr_assert_eq(melora_blob_forward(b[0], &(melora_lora_saved){b[4], b[1]}, b[2], (melora_work){b[3], SIZE_MAX}, &bp, b[7],
                                     (melora_dims){1, INT_MAX, 1, 1 << 29, MELORA_FP32}),
                 MELORA_ERR_OVERFLOW);
}

/* 2. melora_melora_kl (and _prior_noise) check (r,n) but not that M and H, (r,r), are
      addressable: r = 2^30, n = 1 reads M and H out of bounds instead of returning
      MELORA_ERR_OVERFLOW (melora_melora_kl_exact rejects the same r). */
Test(edge_regressions, melora_kl_checks_r_times_r) {
    static double st[8][8];
    float (*b)[16] = (float (*)[16])st;
    double kl = 0;
    for (int i = 0; i < 16; i++) b[6][i] = b[7][i] = 1.0f;
    const melora_melora_params mp = {b[5], NULL, b[6], b[7], 0};
    cr_assert_eq(melora_melora_kl_exact(&kl, NULL, &mp, 0.2f, 1, 1 << 30), MELORA_ERR_OVERFLOW);
    /* the workspace claims any size: (r,n) fits, so the (r,r) check must answer */
    cr_assert_eq(melora_melora_kl(&kl, NULL, (melora_work){b[0], SIZE_MAX}, &mp, 0.2f, 1, 1 << 30, 1), MELORA_ERR_OVERFLOW);
}

/* 3. melora_count_train_memory computes (T + G - 1) / G in int64: signed overflow (UB,
      UBSan: "signed integer overflow") for T near INT64_MAX with G >= 2. */
Test(edge_regressions, train_memory_groups_without_signed_overflow) {
    melora_train_memory mem;
    melora_module mod = {"q", 8, 8, 1};
    cr_assert_eq(melora_count_train_memory(&mem, MELORA_METHOD_BLOB_FLIPOUT, &mod, 1, &(melora_train_setup){1, INT64_MAX, 1, 2, 0}, MELORA_FP32),
                 MELORA_ERR_OVERFLOW);
}

/* 4. melora_count_train_memory writes params and grads into *out before its last overflow
      checks: on MELORA_ERR_OVERFLOW *out is partly written ("on error nothing is written"). */
Test(edge_regressions, train_memory_writes_nothing_on_overflow) {
    melora_train_memory mem, keep;
    melora_module mod = {"q", 1, 1, (int64_t)1 << 59}; /* LoRA: 2 params each -> 2^60 */
    memset(&mem, 0x77, sizeof mem);
    keep = mem;
    cr_assert_eq(melora_count_train_memory(&mem, MELORA_METHOD_LORA, &mod, 1, &(melora_train_setup){1, 1, 1, 1, 1}, MELORA_FP32),
                 MELORA_ERR_OVERFLOW); /* params*4 = 2^62 fits, adam = 2^63 does not */
    cr_assert(memcmp(&mem, &keep, sizeof mem) == 0, "*out written on error");
}
