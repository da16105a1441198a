/* Parameter and memory counts. Expected values are the closed forms of the parameter counts (README, "The math"),
   evaluated by hand here, and the paper's Table 1 where it is exact. */
#include "util.h"

static int64_t model_params(melora_model model, unsigned mask, melora_method method, int64_t r) {
    melora_module mods[7];
    int nm = 0;
    int64_t p = -1;
    cr_assert_eq(melora_preset(mods, 7, &nm, model, mask), MELORA_OK);
    cr_assert_eq(melora_count_model_params(&p, method, mods, nm, r), MELORA_OK);
    return p;
}

Test(counting, per_weight_closed_forms) {
    int64_t p;
    cr_assert_eq(melora_count_params(&p, MELORA_METHOD_LORA, 11008, 4096, 8), 0);
    cr_assert_eq(p, 8 * (4096 + 11008));
    cr_assert_eq(melora_count_params(&p, MELORA_METHOD_BLOB, 11008, 4096, 8), 0);
    cr_assert_eq(p, 2 * 8 * 4096 + 8 * 11008);
    cr_assert_eq(melora_count_params(&p, MELORA_METHOD_BLOB_FLIPOUT, 11008, 4096, 8), 0);
    cr_assert_eq(p, 2 * 8 * 4096 + 8 * 11008);
    cr_assert_eq(melora_count_params(&p, MELORA_METHOD_MELORA, 11008, 4096, 8), 0);
    cr_assert_eq(p, 8 * (4096 + 11008) + 2 * 64);
}

/* Llama2 q,v of every layer (the paper's Table 1 setting). */
Test(counting, llama2_qv_table1) {
    cr_assert_eq(model_params(MELORA_LLAMA2_7B, MELORA_MOD_QV, MELORA_METHOD_LORA, 8), 4194304);
    cr_assert_eq(model_params(MELORA_LLAMA2_7B, MELORA_MOD_QV, MELORA_METHOD_BLOB, 8), 6291456);
    cr_assert_eq(model_params(MELORA_LLAMA2_7B, MELORA_MOD_QV, MELORA_METHOD_MELORA, 8), 4202496);
    /* paper: 34.08M (7B, r=64) and 53.08M (13B, r=64) for Me-LoRA */
    cr_assert_eq(model_params(MELORA_LLAMA2_7B, MELORA_MOD_QV, MELORA_METHOD_MELORA, 64), 34078720);
    cr_assert_eq(model_params(MELORA_LLAMA2_13B, MELORA_MOD_QV, MELORA_METHOD_MELORA, 64), 53084160);
    /* 13B BLoB r=64: 80 * 3 * 64 * 5120 (the paper prints 78.97M) */
    cr_assert_eq(model_params(MELORA_LLAMA2_13B, MELORA_MOD_QV, MELORA_METHOD_BLOB, 64), 78643200);
    cr_assert_eq(model_params(MELORA_LLAMA2_13B, MELORA_MOD_QV, MELORA_METHOD_LORA, 8), 80 * 8 * 10240);
    int64_t b;
    cr_assert_eq(melora_dtype_size(&b, MELORA_FP32), 0); cr_assert_eq(b, 4);
    cr_assert_eq(melora_dtype_size(&b, MELORA_BF16), 0); cr_assert_eq(b, 2);
    cr_assert_eq(melora_dtype_size(&b, MELORA_FP16), 0); cr_assert_eq(b, 2);
}

/* Every linear layer of Llama2-7B at r=8: 19,988,480 LoRA parameters, PEFT's well-known
   figure; q,k,v,o and the MLP separately. */
Test(counting, llama2_all_modules) {
    cr_assert_eq(model_params(MELORA_LLAMA2_7B, MELORA_MOD_ALL, MELORA_METHOD_LORA, 8), 19988480);
    cr_assert_eq(model_params(MELORA_LLAMA2_7B, MELORA_MOD_Q | MELORA_MOD_K | MELORA_MOD_V | MELORA_MOD_O,
                              MELORA_METHOD_LORA, 8), 32 * 4 * 8 * 8192);
    cr_assert_eq(model_params(MELORA_LLAMA2_13B, MELORA_MOD_GATE | MELORA_MOD_UP | MELORA_MOD_DOWN,
                              MELORA_METHOD_MELORA, 16), 40 * 3 * (16 * (5120 + 13824) + 2 * 256));
    melora_module mods[7];
    int nm;
    cr_assert_eq(melora_preset(mods, 7, &nm, MELORA_LLAMA2_13B, MELORA_MOD_DOWN), 0);
    cr_assert_eq(nm, 1);
    cr_assert_str_eq(mods[0].name, "down_proj");
    cr_assert(mods[0].m == 5120 && mods[0].n == 13824 && mods[0].count == 40);
    cr_assert_eq(melora_preset(mods, 1, &nm, MELORA_LLAMA2_7B, MELORA_MOD_QV), MELORA_ERR_CAPACITY);
}

/* One 4096x4096 weight, T = 1200, r = 8, worked by hand. */
Test(counting, training_memory) {
    melora_module one = {"w", 4096, 4096, 1};
    melora_train_memory mem;
    cr_assert_eq(melora_count_train_memory(&mem, MELORA_METHOD_LORA, &one, 1, &(melora_train_setup){8, 1200, 1, 1, 0}, MELORA_FP32), 0);
    cr_assert_eq(mem.params, 65536 * 4);
    cr_assert_eq(mem.grads, 65536 * 4);
    cr_assert_eq(mem.adam, 2 * 65536 * 4);
    cr_assert_eq(mem.activations, 1200 * 8 * 4);
    cr_assert_eq(mem.noise, 0);
    cr_assert_eq(mem.total, 4 * 65536 * 4 + 1200 * 8 * 4);
    cr_assert_eq(melora_count_train_memory(&mem, MELORA_METHOD_BLOB, &one, 1, &(melora_train_setup){8, 1200, 1, 1, 0}, MELORA_FP32), 0);
    cr_assert_eq(mem.params, 98304 * 4);
    cr_assert_eq(mem.noise, 8 * 4096 * 4);
    cr_assert_eq(melora_count_train_memory(&mem, MELORA_METHOD_BLOB, &one, 1, &(melora_train_setup){8, 1200, 1, 1, 1}, MELORA_FP32), 0);
    cr_assert_eq(mem.noise, 0);
    cr_assert_eq(melora_count_train_memory(&mem, MELORA_METHOD_BLOB_FLIPOUT, &one, 1, &(melora_train_setup){8, 1200, 1, 1, 0}, MELORA_BF16), 0);
    cr_assert_eq(mem.noise, (8 * 4096 + 1200 * (4096 + 8)) * 2);
    cr_assert_eq(mem.params, 98304 * 2);
    cr_assert_eq(melora_count_train_memory(&mem, MELORA_METHOD_MELORA, &one, 1, &(melora_train_setup){8, 1200, 4, 1, 0}, MELORA_FP32), 0);
    cr_assert_eq(mem.params, (65536 + 128) * 4);
    cr_assert_eq(mem.activations, 2 * 1200 * 8 * 4);
    cr_assert_eq(mem.noise, 4 * 64 * 4);
    cr_assert_eq(mem.total, 4 * (65536 + 128) * 4 + 2 * 1200 * 8 * 4 + 4 * 64 * 4);
    cr_assert_eq(melora_count_train_memory(&mem, MELORA_METHOD_MELORA, &one, 1, &(melora_train_setup){8, 1200, 7, 1, 0}, MELORA_FP32),
                 MELORA_ERR_DIVISIBILITY);
}

Test(counting, bad_arguments) {
    int64_t p = 99;
    melora_module one = {"w", 4096, 4096, 1}, bad = {"w", 0, 4096, 1};
    melora_train_memory mem;
    cr_assert_eq(melora_count_params(NULL, MELORA_METHOD_LORA, 1, 1, 1), MELORA_ERR_NULL);
    cr_assert_eq(melora_count_params(&p, (melora_method)17, 1, 1, 1), MELORA_ERR_ENUM);
    cr_assert_eq(melora_count_params(&p, MELORA_METHOD_LORA, 0, 1, 1), MELORA_ERR_SIZE);
    cr_assert_eq(melora_count_params(&p, MELORA_METHOD_LORA, 1, -1, 1), MELORA_ERR_SIZE);
    cr_assert_eq(melora_count_params(&p, MELORA_METHOD_LORA, INT64_MAX / 2, 1, 4), MELORA_ERR_OVERFLOW);
    cr_assert_eq(melora_count_params(&p, MELORA_METHOD_MELORA, 1, 1, INT64_MAX / 2), MELORA_ERR_OVERFLOW);
    cr_assert_eq(p, 99);
    cr_assert_eq(melora_count_model_params(&p, MELORA_METHOD_LORA, NULL, 1, 8), MELORA_ERR_NULL);
    cr_assert_eq(melora_count_model_params(&p, MELORA_METHOD_LORA, &one, 0, 8), MELORA_ERR_SIZE);
    cr_assert_eq(melora_count_model_params(&p, MELORA_METHOD_LORA, &bad, 1, 8), MELORA_ERR_SIZE);
    one.count = INT64_MAX / 1000;
    cr_assert_eq(melora_count_model_params(&p, MELORA_METHOD_LORA, &one, 1, 8), MELORA_ERR_OVERFLOW);
    cr_assert_eq(p, 99);
    one.count = 1;
    cr_assert_eq(melora_dtype_size(&p, (melora_dtype)9), MELORA_ERR_ENUM);
    melora_module mods[7];
    int nm = -5;
    cr_assert_eq(melora_preset(mods, 7, &nm, MELORA_MODEL_COUNT_, MELORA_MOD_QV), MELORA_ERR_ENUM);
    cr_assert_eq(melora_preset(mods, 7, &nm, MELORA_LLAMA2_7B, 0), MELORA_ERR_ENUM);
    cr_assert_eq(melora_preset(mods, 7, &nm, MELORA_LLAMA2_7B, 128), MELORA_ERR_ENUM);
    cr_assert_eq(melora_preset(NULL, 7, &nm, MELORA_LLAMA2_7B, 1), MELORA_ERR_NULL);
    cr_assert_eq(nm, -5);
    cr_assert_eq(melora_count_train_memory(NULL, MELORA_METHOD_LORA, &one, 1, &(melora_train_setup){8, 10, 1, 1, 0}, MELORA_FP32), MELORA_ERR_NULL);
    cr_assert_eq(melora_count_train_memory(&mem, MELORA_METHOD_LORA, &one, 1, &(melora_train_setup){0, 10, 1, 1, 0}, MELORA_FP32), MELORA_ERR_SIZE);
    cr_assert_eq(melora_count_train_memory(&mem, MELORA_METHOD_LORA, &one, 1, &(melora_train_setup){8, -10, 1, 1, 0}, MELORA_FP32), MELORA_ERR_SIZE);
    cr_assert_eq(melora_count_train_memory(&mem, MELORA_METHOD_LORA, &one, 1, &(melora_train_setup){8, 10, 1, 0, 0}, MELORA_FP32), MELORA_ERR_SIZE);
    cr_assert_eq(melora_count_train_memory(&mem, MELORA_METHOD_LORA, &one, 1, &(melora_train_setup){8, 10, 1, 1, 0}, (melora_dtype)7), MELORA_ERR_ENUM);
    cr_assert_eq(melora_count_train_memory(&mem, MELORA_METHOD_LORA, &one, 1, &(melora_train_setup){8, INT64_MAX / 4, 1, 1, 0}, MELORA_FP32), MELORA_ERR_OVERFLOW);
}

/* The step's sizes travel in one struct: a missing one is an error, not a zero. */
Test(counting, train_memory_needs_its_setup) {
    melora_module one = {"w", 64, 32, 1};
    melora_train_memory mem;
    memset(&mem, 0x5a, sizeof mem);
    cr_assert_eq(melora_count_train_memory(&mem, MELORA_METHOD_LORA, &one, 1, NULL, MELORA_FP32),
                 MELORA_ERR_NULL);
    cr_assert_eq(melora_count_train_memory_mixed(&mem, MELORA_METHOD_LORA, &one, 1, NULL,
                                                 MELORA_FP32, MELORA_BF16),
                 MELORA_ERR_NULL);
    for (size_t i = 0; i < sizeof mem; i++) cr_assert_eq(((unsigned char *)&mem)[i], 0x5a);
}
